"""Random-effects row weighting of the calibration (twelfth session, issue 7): each efficacy row weighed by its
sampling SE widened by the between-trial heterogeneity of its kind, as a random-effects meta-analysis weighs trials
(DerSimonian & Laird 1986, doi:10.1016/0197-2456(86)90046-2). J stays in sampling SEs."""

from __future__ import annotations

import math

import pytest

from ketasim import load_parameters
from ketasim.calibration import (HETEROGENEITY_POINTS, build_targets, calibrate, heterogeneity_sd, row_fit_se)


@pytest.fixture(scope="module")
def targets():
    return build_targets()[0]


def test_sampling_weights_are_the_rows_own_se(targets):
    assert all(row_fit_se(t) == t.se for t in targets)


def test_random_effects_widen_efficacy_rows_only(targets):
    for t in targets:
        se = row_fit_se(t, "random-effects")
        if t.kind in ("response", "remission", "response_window"):
            assert se == pytest.approx(math.hypot(t.se, heterogeneity_sd(t.kind, t.observed)))
            assert se > t.se
        elif t.kind in ("mean", "mean_change", "diff_change"):
            assert se == pytest.approx(math.hypot(t.se, HETEROGENEITY_POINTS))
        else:                           # spreads, side effects, adverse events: sampling error only
            assert se == t.se


def test_random_effects_shrink_large_trials_weight_more_than_small_ones(targets):
    """The point of the weighting: a precise row (large trial) loses more of its weight than an imprecise one."""
    rates = [t for t in targets if t.kind == "response"]
    precise, loose = min(rates, key=lambda t: t.se), max(rates, key=lambda t: t.se)
    kept = {id(t): (t.se / row_fit_se(t, "random-effects")) ** 2 for t in (precise, loose)}
    assert kept[id(precise)] < kept[id(loose)]


def test_unknown_weighting_is_refused():
    with pytest.raises(ValueError, match="row_weights"):
        row_fit_se(build_targets()[0][0], "fixed")
    with pytest.raises(ValueError, match="row_weights"):
        calibrate(load_parameters(), size=40, max_evaluations=1, row_weights="fixed", log=lambda *_: None)


def test_j_is_reported_in_sampling_ses_whatever_the_weighting():
    kw = dict(size=40, seed=5, max_evaluations=1, laplace=False, ae_stage=False, log=lambda *_: None,
              names=["placebo_gain"])
    samp_set, samp = calibrate(load_parameters(), row_weights="sampling", **kw)
    new, re = calibrate(load_parameters(), **kw)                # the default: random effects
    assert re["objective_start"] == pytest.approx(samp["objective_start"])
    assert re["objective_fitted"] < re["objective"]          # the widened SEs make the fitted sum smaller
    assert samp["objective_fitted"] == pytest.approx(samp["objective"])
    assert re["row_weights"] == "random-effects" and "row_weights" not in new.calibration_run    # the default
    assert "row_weights=sampling" in samp_set.calibration_run


@pytest.mark.parametrize("argv, says", [
    (["calibrate", "--row-weights", "fixed"], "error: --row-weights: use sampling or random-effects, got 'fixed'"),
    (["qualify", "--row-weights", "sampling"], "error: --row-weights: only with --cross-validate"),
    (["qualify", "--cross-validate", "--row-weights", "equal"], "error: --row-weights: use sampling or random-effects"),
])
def test_cli_refuses_a_weighting_it_cannot_use_in_one_line(argv, says, capsys, tmp_path):
    from ketasim.cli import main

    out = tmp_path / "p.json"
    code = main(argv + (["--out", str(out)] if argv[0] == "calibrate" else ["--html", str(tmp_path / "q.html")]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(says), err
    assert not out.exists() and not (tmp_path / "q.html").exists()
