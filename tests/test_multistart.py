"""Multi-start calibration (forty-sixth session): ``calibrate(start="prior,current", restarts=N)`` runs the optimiser
from several starts, each with the full budget, and keeps the end point with the lowest minimised objective; the
starts drawn from the prior are data-independent and reproducible."""
import numpy as np
import pytest

from ketasim import calibration as cal
from ketasim.calibration import calibrate, prior_start_draws
from ketasim.errors import InputError
from ketasim.parameters import load_parameters

NAMES = ["placebo_gain", "emax_drug"]
QUICK = dict(size=40, seed=5, max_evaluations=3, names=NAMES, log=lambda *_: None, laplace=False, ae_stage=False,
             directions=False)


def test_prior_starts_are_reproducible_inside_the_bounds_and_spread_as_the_prior():
    names = cal.default_fitted_names()
    a, b = prior_start_draws(names, 200, seed=7), prior_start_draws(names, 200, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], prior_start_draws(names, 1, seed=8)[0])
    lo, hi = cal._bounds(names)
    th = np.array(a)
    # resampled, not clipped: no draw sits on (just inside) a bound
    assert np.all(th > lo + 1e-5) and np.all(th < hi - 1e-5)
    sd, centre = 1.0 / cal._prior_weights(names), cal._prior_theta(names)
    assert np.all(th.std(axis=0) <= 1.25 * sd)
    # where the bounds lie beyond 3 prior SDs the draws keep the prior's shape (200 draws: SD within ~5 %)
    wide = ((centre - lo) > 3 * sd) & ((hi - centre) > 3 * sd)
    assert wide.sum() >= 2
    assert np.allclose(th.std(axis=0)[wide], sd[wide], rtol=0.2)
    assert np.allclose(th.mean(axis=0)[wide], centre[wide], atol=0.3 * float(sd[wide].max()))
    with pytest.raises(InputError, match="restarts"):
        prior_start_draws(names, -1, seed=7)


def test_multistart_keeps_the_lowest_end_point_and_each_start_runs_as_alone():
    p = load_parameters()
    multi, rep = calibrate(p, restarts=2, **QUICK)
    alone, rep_alone = calibrate(p, **QUICK)
    starts = rep["starts"]
    assert [s["start"] for s in starts] == ["current", "prior draw 1", "prior draw 2"]
    # a start's path does not depend on the others (the budget is per start)
    assert starts[0]["objective"] == rep_alone["objective"] and starts[0]["fitted"] == rep_alone["fitted"]
    assert all(s["evaluations"] == 3 for s in starts)
    best = min(starts, key=lambda s: s["objective_minimised"])
    assert rep["start"] == best["start"]
    assert {n: multi.free[n].value for n in NAMES} == pytest.approx(best["fitted"], rel=1e-12)
    assert len({round(s["objective_minimised"], 6) for s in starts}) == 3          # not vacuous: the ends differ
    assert "starts=current+2" in rep["calibration_run"] and "starts" not in rep_alone["calibration_run"]


def test_the_choice_is_by_the_minimised_objective_not_by_j(monkeypatch):
    """With a very narrow prior the prior centre's end point has the lowest minimised objective although the
    current (fitted) set's J is lower: the prior's term counts in the choice, as it does in the optimiser."""
    p = load_parameters()
    monkeypatch.setattr(cal, "_prior_weights", lambda names: np.full(len(names), 100.0))
    _, rep = calibrate(p, start="prior,current", **{**QUICK, "max_evaluations": 1})
    prior, current = rep["starts"]
    assert current["objective"] < prior["objective"]                      # J alone would keep the current set
    assert prior["objective_minimised"] < current["objective_minimised"]
    assert rep["start"] == "prior"


def test_a_failing_start_is_recorded_and_the_others_kept(monkeypatch):
    """A start whose evaluation fails (a corner of the bounds) is recorded with its error, the others' ends kept;
    when every start fails, the first error is raised as one start would raise it."""
    real = cal.predictions
    calls = [0]

    def first_call_fails(*a, **k):
        calls[0] += 1
        if calls[0] == 1:
            raise FloatingPointError("overflow in the first start")
        return real(*a, **k)

    monkeypatch.setattr(cal, "predictions", first_call_fails)
    p = load_parameters()
    new, rep = calibrate(p, restarts=1, **QUICK)
    assert rep["starts"][-1] == {"start": "current", "error": "overflow in the first start"}
    assert rep["start"] == "prior draw 1" and rep["starts"][0]["start"] == "prior draw 1"

    def always_fails(*a, **k):
        raise FloatingPointError("nowhere finite")

    monkeypatch.setattr(cal, "predictions", always_fails)
    with pytest.raises(FloatingPointError, match="nowhere finite"):
        calibrate(p, restarts=1, **QUICK)


def test_the_written_set_and_a_refit_keep_every_start(tmp_path):
    import json

    p = load_parameters()
    new, rep = calibrate(p, restarts=1, **QUICK)
    full = json.loads(cal.write_parameter_set(new, rep, tmp_path / "set.json").read_text())
    assert [s["start"] for s in full["provenance"]["starts"]] == ["current", "prior draw 1"]
    assert full["provenance"]["start"] == rep["start"]
    refit = json.loads(cal.write_refit(cal.default_free_parameters_path(), new, rep, tmp_path / "refit.json",
                                       "cmd").read_text())
    last = refit["provenance"]["refits"][-1]
    assert last["start"] == rep["start"] and [s["start"] for s in last["starts"]] == ["current", "prior draw 1"]
    assert last["starts"][0]["fitted"].keys() == set(NAMES)


@pytest.mark.parametrize("kw, match", [
    (dict(start="prior,prior"), "names a start twice"),
    (dict(start="prior,nowhere"), "--start"),
    (dict(start=","), "--start"),
    (dict(restarts=-1), "--restarts"),
    (dict(restarts=cal.MAX_RESTARTS + 1), "--restarts"),
    (dict(restarts=1.5), "--restarts"),
    (dict(start="prior,current", names="emax_drug"), "--names"),
    (dict(start="none"), "--start none: only with --restarts"),
    (dict(start="none", restarts=1, names="emax_drug"), "--names"),
    (dict(start="none,prior", restarts=1), "'none' stands alone"),
])
def test_bad_starts_are_one_line_errors_before_any_fitting(tmp_path, kw, match):
    from ketasim.app import calibrate_cli

    with pytest.raises(InputError, match=match) as err:
        calibrate_cli(out=tmp_path / "set.json", size=20, seed=5, max_evaluations=1, **kw)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "set.json").exists()


def test_the_python_api_refuses_bad_starts():
    with pytest.raises(ValueError, match="start"):
        calibrate(start="prior,prior", **QUICK)
    with pytest.raises(InputError, match="restarts"):
        calibrate(restarts=-2, **QUICK)
    with pytest.raises(ValueError, match="'none' only with restarts"):
        calibrate(start="none", **QUICK)


def test_the_prior_draws_alone_split_a_multistart_run():
    """``start="none"`` runs the draws alone: the same ends as the draws of a run that also has the other starts,
    so a multi-start run can be split over processes."""
    p = load_parameters()
    _, both = calibrate(p, restarts=1, **QUICK)
    _, alone = calibrate(p, start="none", restarts=1, **QUICK)
    assert [s["start"] for s in alone["starts"]] == ["prior draw 1"]
    assert alone["starts"][0] == both["starts"][1]
    assert "starts=none+1 best=prior-draw-1" in alone["calibration_run"]


def test_cross_validate_passes_its_restarts_to_every_fit(monkeypatch):
    class Seen(Exception):
        pass

    def fake(*a, **kw):
        raise Seen(kw)

    monkeypatch.setattr(cal, "calibrate", fake)
    fold = list(cal.scenario_groups())[0]
    with pytest.raises(Seen) as seen:
        cal.cross_validate(groups=[fold], in_sample=False, restarts=2, log=lambda *_: None)
    assert seen.value.args[0]["restarts"] == 2 and seen.value.args[0]["start"] == "prior"
    with pytest.raises(Seen) as seen:
        cal.cross_validate(groups=[fold], in_sample=False, log=lambda *_: None)
    assert "restarts" not in seen.value.args[0]          # a single start: calibrate called as before
