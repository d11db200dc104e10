"""Observed rows of a randomized withdrawal or an open-label follow-up widened by ``--uncertainty`` (fifty-second
session, HA; NOTES Known limits item 77 (b)).

A maintenance design's ``--uncertainty`` runs whole-trial draws (``trial.empirical_prediction_intervals``): each draw
is a new virtual trial, so the spread of a row's statistic over the draws holds that trial's own sampling error on top
of the parameter and between-trial spread. ``TrialResult.draw_variance`` keeps the spread net of it
(``trial.net_draw_variance``: the draws' variance minus their mean own sampling variance, at least 0), which the
observed rows add to their intervals as the other designs' rows add theirs; the time-to-relapse and hazard-ratio rows
on the log scale, as a log-normal factor on each bootstrap study."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import ketasim.trial as trial_module
from ketasim.observed import compare_observed, interval_scope, read_observed
from ketasim.trial import _draw_statistic, mean_ci, net_draw_variance, run_trial

sys.path.insert(0, str(Path(__file__).parent))
from test_maintenance_uncertainty import _follow_up  # noqa: E402

DRAWS = 20
SIZE = 100


def _observed_rows(tr):
    """An observed file of every relapse row the follow-up has: both arms' relapse rate and median, the ratio."""
    arms = [r["arm"] for r in tr.endpoints if r["measure"] == "relapse_rate"]
    hr = next(c for c in tr.comparisons if c["measure"] == "relapse_hazard_ratio")
    rows = [{"arm": a, "timepoint_h": "", "measure": m, "value": v, "n": "40"}
            for a in arms for m, v in (("relapse_rate", "60"), ("time_to_relapse", "10"))]
    rows.append({"arm": hr["arm"], "versus": hr["versus"], "timepoint_h": "", "measure": "relapse_hazard_ratio",
                 "value": "0.8", "n": "40"})
    return rows


def _compare(tr):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "fewer randomized patients than the study's n": not the point here
        return compare_observed(tr, read_observed(_observed_rows(tr), tr.scenario))


@pytest.fixture(scope="module")
def plain():
    return run_trial(_follow_up(size=SIZE))


def _spied_run(monkeypatch, **kw):
    """The follow-up with DRAWS whole-trial draws, and per row (the draws' statistics, their own sampling variances)
    as net_draw_variance received them."""
    seen = []

    def spy(x, w, c=None):
        seen.append((np.asarray(x, float), np.asarray(w, float)))
        return net_draw_variance(x, w, c)

    monkeypatch.setattr(trial_module, "net_draw_variance", spy)
    tr = run_trial(_follow_up(size=SIZE), uncertainty=DRAWS, draw_seed=4, **kw)
    return tr, seen


def _sums(tr, seen):
    """(raw, mean within, net) variance summed over the rows with at least 2 defined draws."""
    raw = within = net = 0.0
    for (x, w), v in zip(seen, tr.draw_variance.values()):
        ok = np.isfinite(x) & np.isfinite(w)
        if ok.sum() >= 2:
            raw, within, net = raw + np.var(x[ok], ddof=1), within + np.mean(w[ok]), net + v
    return raw, within, net


@pytest.fixture(scope="module")
def drawn():
    mp = pytest.MonkeyPatch()
    try:
        return _spied_run(mp)
    finally:
        mp.undo()


def test_draws_that_differ_widen_the_observed_relapse_rows(plain, drawn):
    tr, _ = drawn
    a, b = _compare(plain), _compare(tr)
    assert (a["draws_sd"] == 0.0).all()
    assert (b["draws_sd"] > 0.0).sum() >= 3, b[["arm", "measure", "draws_sd"]]
    # the central run and the bootstrap are the same: the draws only add
    assert b["predicted"].equals(a["predicted"]) and np.allclose(a["sampling_sd"], b["sampling_sd"], equal_nan=True)
    wa, wb = a["pi_high"] - a["pi_low"], b["pi_high"] - b["pi_low"]
    for j in range(len(a)):
        if math.isinf(wa[j]):                          # a median not reached: its upper bound stays not reached
            assert math.isinf(wb[j])
        elif b["draws_sd"][j] > 0.0:
            assert wb[j] > wa[j], (b.loc[j, "measure"], wa[j], wb[j])
        else:
            assert wb[j] == pytest.approx(wa[j])
    # the rate rows' draws_sd is the SD in percentage points, the median's and ratio's on the log scale
    rates = b[b["measure"] == "relapse_rate"]
    assert (rates["draws_sd"] > 1.0).all()
    assert (b.loc[b["measure"] != "relapse_rate", "draws_sd"] < 2.0).all()


def test_the_scope_line_says_the_draws_are_included(drawn):
    tr, _ = drawn
    scope = interval_scope(tr)
    assert f"the {DRAWS} whole-trial draws of --uncertainty: posterior parameter draws, between-trial " in scope
    assert "net of the draws' own sampling error" in scope and "on the log scale" in scope
    assert "NOT included here" not in scope and "Nothing is fitted." in scope
    df = _compare(tr)
    assert df.attrs["interval"].startswith(scope)
    assert "each study also moves by a log-normal factor" in df.attrs["interval"]


def test_identical_draws_leave_a_net_variance_near_0(monkeypatch, drawn):
    """Every draw the same parameters (the set itself, no trial effect): the draws differ only in their
    patients, so their spread is their own sampling error, and the net variance is ~0, not that spread (the raw
    variance over the draws; before the subtraction it was what a naive estimate would add). The draws' own
    sampling variances are the size of their spread (the estimator's premise), and with the posterior the net share
    is much larger (measured at the shipped set: 0.34 against 0.86 of the raw variance, summed over the rows; the own
    sampling variances 0.68 of the raw: 20 draws' variance is itself uncertain by ~30 %)."""
    import ketasim.calibration as calibration

    # every draw the set itself (a zero-width posterior would cost a direction check per draw)
    monkeypatch.setattr(calibration, "sample_parameter_sets", lambda params, k, seed: [params] * k)
    tr, seen = _spied_run(monkeypatch, between_trial=False)
    raw, within, net = _sums(tr, seen)
    assert 0.5 < within / raw < 2.0, (raw, within)
    assert net < 0.5 * raw, (raw, net)
    raw_p, _, net_p = _sums(*drawn)
    assert net_p > 0.5 * raw_p and net_p > 3.0 * net, (raw_p, net_p, net)


def test_the_estimator_on_synthetic_draws():
    """x_i = mu + between_i + own_i, own_i ~ N(0, w_i): the net variance recovers the between-draw variance, 0 when
    there is none (not mean(w)), and needs 2 defined draws."""
    rng = np.random.default_rng(1)
    k = 20000
    w = rng.uniform(0.5, 3.0, k)
    own = rng.normal(0.0, np.sqrt(w))
    v0, m = net_draw_variance(5.0 + own, w)
    assert m == k and v0 < 0.03
    v, _ = net_draw_variance(5.0 + rng.normal(0.0, 1.5, k) + own, w)
    assert v == pytest.approx(2.25, rel=0.05)
    x = np.array([1.0, np.inf, 3.0, np.nan])
    # since the fifty-third session a defined statistic without an own variance counts (with the others' mean own
    # variance: a median whose bootstrap mostly does not reach it); until then it was left out, giving (0.0, 1)
    assert net_draw_variance(x, np.array([0.1, 0.1, np.nan, 0.1])) == (pytest.approx(1.9), 2)
    assert net_draw_variance(x, np.array([np.nan, 0.1, np.nan, 0.1])) == (0.0, 2)     # no own variance at all
    assert net_draw_variance(x, np.array([0.1, 0.1, 0.1, 0.1])) == (pytest.approx(1.9), 2)


def test_synthetic_coverage_of_the_net_interval():
    """A new trial's statistic = mu + between + its sampling error (variance s2), the prediction exact and 40
    whole-trial draws each with its own sampling error (variance w): predicted +- 1.96 sqrt(s2 + V) holds ~95 % of
    new trials when V is the net variance, and over-covers with the raw variance of the draws (the old alternative)."""
    rng = np.random.default_rng(7)
    reps, k, b, w, s2 = 4000, 40, 1.0, 4.0, 2.0
    x = rng.normal(0.0, math.sqrt(b), (reps, k)) + rng.normal(0.0, math.sqrt(w), (reps, k))
    raw = np.var(x, axis=1, ddof=1)
    net = np.maximum(0.0, raw - w)
    new = rng.normal(0.0, math.sqrt(b), reps) + rng.normal(0.0, math.sqrt(s2), reps)
    cover = lambda v: float(np.mean(np.abs(new) <= 1.96 * np.sqrt(s2 + v)))     # noqa: E731
    assert 0.93 < cover(net) < 0.97
    assert cover(raw) > 0.985
    assert cover(np.zeros(reps)) < 0.91          # without the draws at all: under-covers


def test_a_draws_own_statistic_and_sampling_variance_per_row():
    nan = float("nan")
    z = float(stats.norm.ppf(0.975))
    hr = {"measure": "relapse_hazard_ratio", "value": 0.5, "ci95": [0.25, 1.0]}
    x, w = _draw_statistic(hr, 1, 100)
    assert x == pytest.approx(math.log(0.5)) and w == pytest.approx((math.log(4.0) / (2 * z)) ** 2)
    # a ratio of 0 or +inf (separated groups, no relapse in a group) has no log and no Wald variance (a censored
    # draw since the fifty-third session: trial._draw_censoring)
    sep = {"measure": "relapse_hazard_ratio", "value": nan, "ci95": [nan, nan],
           "note": "undefined: the relapse times separate the groups (monotone likelihood): the Cox estimate is 0"}
    assert all(math.isnan(v) for v in _draw_statistic(sep, 1, 100))
    # rates: binomial among the row's patients (unbiased, k - 1); a randomized share among the arm's size
    assert _draw_statistic({"measure": "relapse_rate", "value": 30.0}, 21, 100) == (30.0, pytest.approx(105.0))
    assert _draw_statistic({"measure": "randomized_fraction", "value": 30.0}, 0, 51)[1] == pytest.approx(42.0)
    assert all(math.isnan(v) for v in _draw_statistic({"measure": "relapse_rate", "value": 0.0}, 0, 51))
    # a mean: the squared standard error behind its Student-t CI
    y = np.random.default_rng(3).normal(20.0, 6.0, 30)
    m, se, ci = mean_ci(y)
    assert _draw_statistic({"measure": "mean", "value": m, "ci95": list(ci)}, 30, 30) == (m, pytest.approx(se * se))
    # a Kaplan-Meier median: the variance of its log over bootstrap resamples of the group
    rng = np.random.default_rng(5)
    t = np.ceil(rng.exponential(14.0, 60) / 7.0) * 7.0 * 24.0                    # weekly visits, h
    e = t <= 56 * 24.0
    t = np.minimum(t, 56 * 24.0)
    med = trial_module.km_median(t, e)[0] / 24.0
    x, w = _draw_statistic({"measure": "time_to_relapse", "value": med}, 60, 60, (t, e), np.random.default_rng(0))
    assert x == pytest.approx(math.log(med)) and 0.0 < w < 1.0
    # not reached in that draw: no log (it is +inf in the draw's pi95; a draw censored at the follow-up's end since
    # the fifty-third session: trial._draw_censoring)
    assert all(math.isnan(v) for v in _draw_statistic({"measure": "time_to_relapse", "value": nan}, 60, 60, (t, e),
                                                      np.random.default_rng(0)))


def test_draws_left_out_of_a_rows_variance_are_said(drawn):
    """A time-to-relapse or hazard-ratio row whose variance rests on fewer than all draws (an empty group, a ratio
    with no bound) or on censored draws (a median not reached, a ratio of 0 or +inf: fitted as censored since the
    fifty-third session, left out before) says so in its note; one that rests on all of them, none censored, says
    nothing. (Measured here: the single-infusion arm's median and the ratio rest on 17 of 20, the others being
    draws where nobody was followed in that arm, none censored; the series arm's median on 20. The censored case:
    tests/test_survival_draws_s53_ha.py.)"""
    tr, _ = drawn
    df = _compare(tr)
    surv = df[df["measure"] != "relapse_rate"]
    keys = [k for k in tr.draw_variance_draws if k[-1] == "relapse_hazard_ratio" or "time_to_relapse" in k]
    assert {tr.draw_variance_draws[k] < DRAWS for k in keys} == {True, False}     # both cases occur
    for _, r in surv.iterrows():
        key = next(k for k in tr.draw_variance_draws if r["arm"] in k and r["measure"] in k)
        used, censored = tr.draw_variance_draws[key], tr.draw_variance_censored.get(key, 0)
        assert (f"rests on {used} of {DRAWS} whole-trial draws" in r["note"]) == (used < DRAWS or censored > 0)
        assert (f"{censored} of them censored" in r["note"]) == (censored > 0)


# ---- a monotone Cox likelihood: the one-sided profile-likelihood bound (item 77 (b), second part) ----------------

def _phreg_loglike(ta, ea, tb, eb):
    """statsmodels' Efron partial log-likelihood of group a vs b (an independent implementation)."""
    from statsmodels.duration.hazard_regression import PHReg

    t = np.concatenate([ta, tb])
    e = np.concatenate([ea, eb]).astype(int)
    x = np.concatenate([np.ones(ta.size), np.zeros(tb.size)])[:, None]
    model = PHReg(t, x, status=e, ties="efron")
    return lambda beta: float(model.loglike(np.array([beta])))


def test_the_efron_log_likelihood_equals_statsmodels():
    from ketasim.trial import efron_log_likelihood, visit_grid_counts

    ta, ea = np.array([168.0, 336, 336, 504, 504, 504]), np.array([1, 1, 0, 1, 0, 0], bool)
    tb, eb = np.array([168.0, 168, 336, 336, 504]), np.array([1, 1, 1, 0, 1], bool)
    grid = np.unique(np.concatenate([ta, tb]))
    (d1, r1), (d0, r0) = (visit_grid_counts(np.arange(t.size)[None, :], np.searchsorted(grid, t), e, grid.size)
                          for t, e in ((ta, ea), (tb, eb)))
    ref = _phreg_loglike(ta, ea, tb, eb)
    for beta in (-3.0, -1.0, 0.0, 0.7, 4.0):
        assert efron_log_likelihood(beta, d1[0], r1[0], d0[0], r0[0]) == pytest.approx(ref(beta), abs=1e-10)


@pytest.mark.parametrize("separated", [True, False])
def test_a_monotone_likelihood_gets_a_one_sided_likelihood_ratio_bound(separated):
    """Separated groups (all five of group a relapse at week 1, none of group b's six then) give HR > lo; no relapse
    in group a gives HR < hi. At the bound statsmodels' own Efron log-likelihood lies 1.92 below its supremum (taken
    at |log HR| 25, where it has converged); more patients separated the same way push the bound further out."""
    from ketasim.trial import LR_DROP_95, _hazard_ratio_comparison, cox_hazard_ratio

    week = 168.0
    if separated:
        ta, ea = np.full(5, week), np.ones(5, bool)
        tb, eb = np.array([2, 2, 2, 3, 3, 3]) * week, np.array([1, 1, 1, 0, 0, 0], bool)
    else:
        ta, ea = np.tile([1.0, 2, 3], 4) * week, np.zeros(12, bool)
        tb, eb = np.tile([1.0, 2, 3], 4) * week, np.tile([True, True, False], 4)
    row = _hazard_ratio_comparison("a", "b", (ta, ea), (tb, eb), "madrs")
    assert math.isnan(row["value"]) and row["note"].endswith("infinite" if separated else "is 0")
    lo, hi = row["profile_bound95"]
    bound = lo if separated else hi
    assert (hi == math.inf and 1.0 < lo) if separated else (lo == 0.0 and hi < 1.0)
    ll = _phreg_loglike(ta, ea, tb, eb)
    sup = ll(25.0 if separated else -25.0)
    assert ll(math.log(bound)) - sup == pytest.approx(-LR_DROP_95, abs=1e-6)
    assert LR_DROP_95 == pytest.approx(1.9207, abs=1e-4)
    # twice the patients, the same pattern: a tighter bound
    more = _hazard_ratio_comparison("a", "b", (np.tile(ta, 2), np.tile(ea, 2)), (np.tile(tb, 2), np.tile(eb, 2)),
                                    "madrs")["profile_bound95"]
    assert (more[0] > lo) if separated else (more[1] < hi)
    # a finite estimate has its Wald CI and no bound
    ta2, ea2 = np.array([1, 1, 1, 1, 3]) * week, np.ones(5, bool)    # one of group a relapses after group b's
    tb2, eb2 = np.array([2, 2, 2, 3, 3, 3]) * week, np.array([1, 1, 1, 0, 0, 0], bool)
    assert "profile_bound95" not in _hazard_ratio_comparison("a", "b", (ta2, ea2), (tb2, eb2), "madrs")
    assert math.isfinite(cox_hazard_ratio(ta2, ea2, tb2, eb2)[0])


def test_the_bound_is_in_the_table_the_report_the_json_and_the_observed_note():
    import dataclasses

    from ketasim.report import _comparison_table
    from ketasim.trial import _hazard_ratio_comparison
    from ketasim.units import json_safe

    week = 168.0
    ta, ea = np.full(5, week), np.ones(5, bool)
    tb, eb = np.array([2, 2, 2, 3, 3, 3]) * week, np.array([1, 1, 1, 0, 0, 0], bool)
    row = _hazard_ratio_comparison("series", "one", (ta, ea), (tb, eb), "madrs")
    tr = run_trial(_follow_up(size=40))
    tr = dataclasses.replace(tr, comparisons=[c for c in tr.comparisons if c["measure"] != "relapse_hazard_ratio"]
                             + [row], relapse_times={"series": (ta, ea), "one": (tb, eb)})
    text = f"profile-likelihood 95% bound: HR > {row['profile_bound95'][0]:.3g}"
    assert text in tr.format_table()
    assert text in _comparison_table(tr).iloc[-1, 4]
    c = json_safe(tr.to_dict())["comparisons"][-1]
    assert c["profile_bound95"] == [pytest.approx(row["profile_bound95"][0]), None] and c["value"] is None
    rows = [{"arm": "series", "versus": "one", "timepoint_h": "", "measure": "relapse_hazard_ratio", "value": "3",
             "n": "5", "n_versus": "6"}]
    df = compare_observed(tr, read_observed(rows, tr.scenario))
    assert df["note"][0] == ("the model's hazard ratio is the relapse times separate the groups (monotone "
                             "likelihood): the Cox estimate is infinite; " + text)


def test_a_shifted_median_stays_within_the_follow_up(drawn):
    """A large draws' variance of log median: the shifted study medians beyond the virtual arm's longest follow-up
    are 'not reached' (a finite upper bound past the follow-up, 88 days after a 56-day follow-up, was printed), and
    none lies before its first visit."""
    import dataclasses

    from ketasim.trial import _row_key

    tr, _ = drawn
    key = next(_row_key(r) for r in tr.endpoints if r["measure"] == "time_to_relapse" and r["arm"] == "series")
    wide = dataclasses.replace(tr, draw_variance={**tr.draw_variance, key: 4.0})
    df = _compare(wide)
    row = df[(df["measure"] == "time_to_relapse") & (df["arm"] == "series")].iloc[0]
    t = np.asarray(tr.relapse_times["series"][0]) / 24.0
    assert row["pi_high"] == math.inf and row["pi_low"] == pytest.approx(t.min())
    assert row["draws_sd"] == pytest.approx(2.0)
