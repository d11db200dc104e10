"""Prediction intervals for a NEW trial (issue 7): between-trial heterogeneity and bounded rate intervals."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from ketasim import calibration as cal
from ketasim import load_parameters


def test_dersimonian_laird_recovers_a_known_between_trial_sd():
    rng = np.random.default_rng(7)
    k = 400
    se = rng.uniform(0.1, 0.4, k)
    shifts = rng.normal(0.0, 0.5, k) + rng.normal(0.0, se)          # true tau 0.5 plus each trial's own error
    assert cal.dersimonian_laird_tau(shifts, se) == pytest.approx(0.5, abs=0.06)
    # shifts that are pure noise (spread explained by their standard errors): tau ~ 0, never negative
    noise = [cal.dersimonian_laird_tau(np.random.default_rng(s).normal(0.0, se), se) for s in range(5)]
    assert all(0.0 <= t < 0.06 for t in noise)
    assert cal.dersimonian_laird_tau(np.full(10, 0.3), np.full(10, 0.2)) == 0.0
    # trials that do not inform the effect (infinite SE) do not count; fewer than two informative trials: 0
    assert cal.dersimonian_laird_tau([1.0, -1.0, 5.0], [0.1, np.inf, np.inf]) == 0.0


def test_trial_shift_recovers_a_planted_trial_effect():
    """A trial whose rows were produced by the model with its non-specific responsiveness shifted by +0.5 (log
    scale) is fitted by that shift, with no drug shift, and a small standard error."""
    p = load_parameters()
    targets = [t for t in cal.build_targets()[0] if t.trial == "daly2018_synapse"]
    planted = cal.predictions(cal.with_trial_effect(p, {"nonspecific": 0.5}), targets, 60, 4)
    synthetic = [dataclasses.replace(t, observed=float(v)) for t, v in zip(targets, planted)]
    s = cal.trial_shift(p, synthetic, 60, 4)
    assert s["shift"]["nonspecific"] == pytest.approx(0.5, abs=0.03)
    assert abs(s["shift"]["drug"]) < 0.1
    assert s["se"]["nonspecific"] < 0.2
    assert s["objective"][1] < 0.01 * s["objective"][0]


def test_rate_intervals_stay_within_0_and_100():
    for pred in (0.0, 0.3, 5.0, 50.0, 97.0, 100.0):
        for var in (0.0, 10.0, 400.0, 1e5):
            lo, hi, c_lo, c_hi = cal.rate_interval(pred, 19, var)
            assert 0.0 <= lo <= pred <= hi <= 100.0 and 0 <= c_lo <= c_hi <= 19
    # a spread that is rounding noise (a background rate no draw changes) gives the binomial interval
    assert cal.rate_interval(7.98, 222, 1e-25) == cal.rate_interval(7.98, 222, 0.0)
    assert cal.rate_interval(7.98, 222, 0.0)[:2] == pytest.approx((4.5045, 11.7117), abs=1e-3)
    # a larger spread of the true rate gives a wider interval
    assert np.diff(cal.rate_interval(30.0, 50, 400.0)[:2]) > np.diff(cal.rate_interval(30.0, 50, 0.0)[:2])
    rows, _ = cal.qualify(trials=["lii2023_masked"], size=100, seed=3, trial_tau={"nonspecific": 1.5, "drug": 1.5})
    rates = [r for r in rows if r["unit"] == "percentage points"]
    assert rates and all(0.0 <= r["lo"] <= r["predicted"] <= r["hi"] <= 100.0 for r in rates)


def test_a_rate_counted_at_zero_has_a_binomial_width():
    """A virtual arm with no event among its 72 patients (and no draw moving it): the normal approximation of its
    Monte Carlo error, p (1 - p) / n, is 0 there and gave the prediction interval [0, 0] (s31 new-user pass:
    Murrough 2013's midazolam remission at 7 d under `trial --uncertainty`, beside a CI of 0-5.1 %). Jeffreys'
    posterior of 0 of 72 gives the interval of a new trial of 72 up to 3 patients (4.17 %)."""
    mean, var = cal.virtual_rate_estimate(0.0, 72)
    assert mean == pytest.approx(100 * 0.5 / 73) and var == pytest.approx(1e4 * 0.5 * 72.5 / (73 ** 2 * 74))
    assert cal.rate_interval(0.0, 72, 0.0)[:2] == (0.0, 0.0)                      # what the old call gave
    lo, hi, c_lo, c_hi = cal.rate_interval(0.0, 72, 0.0, estimate_n=72)
    assert (lo, c_lo, c_hi) == (0.0, 0, 3) and hi == pytest.approx(100 * 3 / 72)
    lo, hi, _, c_hi = cal.rate_interval(100.0, 72, 0.0, estimate_n=72)              # the other bound
    assert hi == 100.0 and lo == pytest.approx(100 * 69 / 72)
    # away from the bounds Jeffreys' variance is the normal approximation's (to (m + 2) / m)
    assert cal.virtual_rate_estimate(40.0, 500)[1] == pytest.approx(40 * 60 / 500, rel=0.01)
    for pred in (0.0, 1.0, 50.0, 99.0, 100.0):                                     # still within [0, 100]
        lo, hi, _, _ = cal.rate_interval(pred, 30, 25.0, estimate_n=30)
        assert 0.0 <= lo <= pred <= hi <= 100.0 and hi > lo


def test_between_trial_heterogeneity_widens_arms_but_not_a_between_arm_difference():
    """The non-specific trial effect is shared by every arm of a trial: it widens each arm's interval but hardly
    the drug-placebo difference (only through the product form of the relief terms); a drug trial effect widens
    the difference."""
    def widths(tau):
        rows, _ = cal.qualify(trials=["daly2018_synapse"], size=100, seed=3, trial_tau=tau)
        assert all(r["between_trial"] for r in rows)
        return [(r["kind"], r["hi"] - r["lo"], r["hi_no_between_trial"] - r["lo_no_between_trial"]) for r in rows]

    nonspecific = widths({"nonspecific": 0.8, "drug": 0.0})
    for _kind, w_on, w_off in nonspecific:
        assert w_on >= w_off - 1e-9                                   # heterogeneity never narrows an interval
    arm = [w_on / w_off for kind, w_on, w_off in nonspecific if kind == "mean_change"]
    diff = [w_on / w_off for kind, w_on, w_off in nonspecific if kind == "diff_change"]
    assert diff and np.mean(arm) > 1.3 and max(diff) < 1.15
    drug = widths({"nonspecific": 0.0, "drug": 2.0})
    diff_drug = [w_on / w_off for kind, w_on, w_off in drug if kind == "diff_change"]
    assert np.mean(diff_drug) > np.mean(diff)


def test_without_heterogeneity_rows_carry_no_between_trial_interval():
    # (trial_tau beside between_trial=False is refused since the forty-third session: it went unused; without
    # parameter draws between_trial=False acts on nothing and is refused too)
    rows, _ = cal.qualify(trials=["berman2000"], size=60, seed=3, parameter_draws=2, between_trial=False)
    assert rows and not any(r["between_trial"] or "lo_no_between_trial" in r for r in rows)
    s = cal.qualification_summary(rows)
    assert "inside_interval_no_between_trial" not in s and s["mean_width_points"] > 0


def test_summary_states_the_error_that_sampling_alone_would_give():
    """qualification_summary: sqrt(2/pi) x the rows' sampling SDs, per unit, beside the MAE (an exact model's MAE)."""
    rows = [{"unit": "percentage points", "error": 10.0, "inside": True, "lo": 0, "hi": 1, "sampling_sd": 8.0},
            {"unit": "percentage points", "error": -4.0, "inside": True, "lo": 0, "hi": 1, "sampling_sd": 4.0},
            {"unit": "points", "error": 2.0, "inside": False, "lo": 0, "hi": 1, "sampling_sd": 1.5}]
    s = cal.qualification_summary(rows)
    assert s["sampling_floor_percentage_points"] == pytest.approx(math.sqrt(2 / math.pi) * 6.0)
    assert s["sampling_floor_points"] == pytest.approx(math.sqrt(2 / math.pi) * 1.5)
    assert "sampling alone" in cal.format_summary(s)
    old = cal.qualification_summary([{k: v for k, v in r.items() if k != "sampling_sd"} for r in rows])
    assert math.isnan(old["sampling_floor_points"]) and "sampling alone" not in cal.format_summary(old)


def test_summary_states_the_error_of_an_exact_population_model_on_a_new_trial():
    """Sampling SD combined with the literature's between-trial heterogeneity of placebo response on the row's scale:
    efficacy rates get 100 tau p (1 - p) at the predicted rate, means and changes HETEROGENEITY_POINTS, other rows
    (here an adverse-event rate) sampling only; the summary averages sqrt(2/pi) x the combined SD per unit."""
    c, tau = math.sqrt(2 / math.pi), cal.LITERATURE_PLACEBO_RESPONSE_LOGIT_TAU
    rows = [{"unit": "percentage points", "kind": "response", "predicted": 30.0, "error": 1.0, "inside": True, "lo": 0, "hi": 1,
             "sampling_sd": 8.0},
            {"unit": "percentage points", "kind": "ae:nausea", "predicted": 10.0, "error": 1.0, "inside": True, "lo": 0, "hi": 1,
             "sampling_sd": 3.0},
            {"unit": "points", "kind": "mean_change", "predicted": -9.0, "error": 1.0, "inside": True, "lo": 0, "hi": 1,
             "sampling_sd": 1.5}]
    s = cal.qualification_summary(rows)
    assert s["heterogeneity_floor_percentage_points"] == pytest.approx(c * (math.hypot(8.0, 100 * tau * 0.21) + 3.0) / 2)
    assert s["heterogeneity_floor_points"] == pytest.approx(c * math.hypot(1.5, cal.HETEROGENEITY_POINTS))
    assert s["heterogeneity_floor_percentage_points"] > s["sampling_floor_percentage_points"]
    assert "heterogeneity of placebo response" in cal.format_summary(s)
    # the points tau is the rate tau carried through a normal change of SD 9 at a 30 % rate (its derivation)
    from scipy.stats import norm
    z = norm.ppf(0.7)
    assert cal.HETEROGENEITY_POINTS == pytest.approx(tau * 9.0 * 0.21 / norm.pdf(z), rel=0.02)


def test_summary_states_the_error_the_intervals_imply():
    """A row with a 95 % interval of width w has a predictive SD ~ w / 3.92, so an honest model's expected |error| is
    sqrt(2/pi) x w / 3.92; the summary averages it per unit beside the observed MAE."""
    c = math.sqrt(2 / math.pi) / 3.92
    rows = [{"unit": "percentage points", "error": 10.0, "inside": True, "lo": 10.0, "hi": 50.0},
            {"unit": "percentage points", "error": -4.0, "inside": True, "lo": 0.0, "hi": 20.0},
            {"unit": "points", "error": 2.0, "inside": False, "lo": -12.0, "hi": -4.0}]
    s = cal.qualification_summary(rows)
    assert s["interval_implied_mae_percentage_points"] == pytest.approx(c * 30.0)
    assert s["interval_implied_mae_points"] == pytest.approx(c * 8.0)
    assert "intervals imply" in cal.format_summary(s)
    # a normal predictive distribution's 95 % interval reproduces E|error| = sqrt(2/pi) sd
    rng = np.random.default_rng(0)
    e = rng.normal(0.0, 5.0, 200_000)
    assert c * 2 * 1.959964 * 5.0 == pytest.approx(np.mean(np.abs(e)), rel=0.01)
