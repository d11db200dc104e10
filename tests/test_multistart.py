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
    assert np.all(th > lo) and np.all(th < hi)
    # each parameter spread around its prior centre by about its prior SD (bounds truncate some: not above it)
    sd = 1.0 / cal._prior_weights(names)
    spread = th.std(axis=0)
    assert np.all(spread <= 1.25 * sd) and np.median(spread / sd) > 0.5
    centre = cal._prior_theta(names)
    assert np.median(np.abs(th.mean(axis=0) - centre) / sd) < 0.3


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


def test_a_worse_start_cannot_win():
    """The choice is by the minimised objective: with the prior draws far off, the current set's end is kept."""
    p = load_parameters()
    _, rep = calibrate(p, start="current", restarts=1, **{**QUICK, "max_evaluations": 1})
    cur, draw = rep["starts"]
    assert cur["objective_minimised"] != draw["objective_minimised"]
    assert rep["start"] == ("current" if cur["objective_minimised"] < draw["objective_minimised"] else "prior draw 1")


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
    (dict(start="none,prior", restarts=1), "--start"),
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
