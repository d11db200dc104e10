"""Issue 7 (twenty-sixth session), a hypothesis off by default (population.fluctuation_scales_with_severity; its refit
CV is in NOTES.md): the fluctuation of true severity's stationary SD is partly a share of each patient's entry
severity, fluctuation_sd x ((1 - w) + w x e / r) (population.fluctuation_scale), so an arm's SD of change rises with
its baseline. Published antidepressant-trial arms' does, elasticity 0.61 (95 % CI 0.38-0.83) over 243 HAM-D17 arms
of Cipriani 2018's open data (twenty-fifth session); with everyone's fluctuation the same size in points the model's
rises with elasticity 0.21 (the strict xfail in tests/test_fluctuation.py). Checked here: the switch off changes
nothing; with it the virtual trial's ratings carry the stated per-patient SD, calibration integrates the same SD
analytically, and the elasticity lands in the published interval.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import ketasim
from ketasim import calibration as cal
from ketasim.population import SCALES, fluctuation_scale, rating_sd_at
from ketasim.trial import run_trial

from _support import switched_calibration_scenarios


@pytest.fixture(scope="module")
def params():
    return ketasim.load_parameters()


def _arm(p, switch: bool, baseline=23.0, size=1000, times=("7 d", "14 d", "28 d", "42 d", "56 d")):
    """The 8-week HAM-D17 arm of tests/test_fluctuation.py (a new oral antidepressant, baseline SD 4) with the
    switch set: its outcome (ratings, scores, baselines)."""
    sc = ketasim.scenario_from_dict({
        "name": "antidepressant arm", "seed": 5,
        "population": {"size": size, "condition": "depression", "scale": "hamd17",
                       "baseline": {"mean": baseline, "sd": 4}, "fluctuation_scales_with_severity": switch},
        "arms": {"antidepressant": [{"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}]},
        "endpoints": {"times": list(times), "measures": ["mean_change"]}})
    return sc, run_trial(sc, p).outcomes["antidepressant"]


def test_the_multiplier_is_one_when_off_and_follows_entry_severity_when_on(params):
    off = ketasim.scenario_from_dict({"name": "a", "population": {"scale": "hamd17"},
                                      "arms": {"a": [{"drug": "oral-antidepressant", "route": "oral"}]}})
    spec = off.population
    assert fluctuation_scale(spec, params, np.array([10.0, 30.0])) == 1.0
    on = dataclasses.replace(spec, fluctuation_scales_with_severity=True)
    w = params.get("pd.fluctuation.entry_share")
    r = params.get("pd.fluctuation.reference_entry_severity")
    assert 0.0 < w <= 1.0
    e = np.array([r * 52.0, 2 * r * 52.0, 0.0])
    assert np.allclose(fluctuation_scale(on, params, e), [1.0, 1.0 + w, 1.0 - w])
    # the rating's SD per patient: the rater's noise plus the fluctuation scaled by the multiplier
    m = fluctuation_scale(on, params, e)
    sd = rating_sd_at(params, 52.0, 672.0, m)
    rater = params.free_value("rating_noise_sd") * 52.0
    fl = math.sqrt(rating_sd_at(params, 52.0, 672.0) ** 2 - rater ** 2)
    assert np.allclose(sd, np.sqrt(rater ** 2 + (m * fl) ** 2))
    assert rating_sd_at(params, 52.0, np.array([0.0, 672.0]), m).shape == (3, 2)


def test_switched_off_the_trial_is_unchanged_and_on_it_differs(params):
    _, a = _arm(params, False, size=200)
    _, b = _arm(params, False, size=200)
    _, c = _arm(params, True, size=200)
    assert np.array_equal(a.rating, b.rating)
    assert np.array_equal(a.model_score, c.model_score)          # the model's expected course does not move
    assert not np.array_equal(a.rating[:, 1:], c.rating[:, 1:])


def test_the_trials_ratings_carry_each_patients_stated_sd(params):
    """Residuals (rating - score) at 8 weeks by baseline tertile against the analytic per-patient SD (rounding adds
    1/12 point^2; HAM-D17 ratings are far from the scale's bounds here). Tolerance: 3 sampling SEs of an SD."""
    sc, o = _arm(params, True, size=3000, times=("56 d",))
    spec = sc.population
    resid = o.rating[:, -1] - o.model_score[:, -1]
    # the true severity at entry: o.baseline is the rounded baseline rating, which is the true severity by default
    m = fluctuation_scale(spec, params, o.baseline)
    sigma = rating_sd_at(params, SCALES["hamd17"][0], 56 * 24.0, m)
    cut = np.quantile(o.baseline, [1 / 3, 2 / 3])
    groups = [o.baseline <= cut[0], o.baseline >= cut[1]]
    observed = [resid[g].std(ddof=1) for g in groups]
    stated = [math.sqrt(np.mean(sigma[g] ** 2) + 1 / 12) for g in groups]
    for obs, st, g in zip(observed, stated, groups):
        assert abs(obs - st) <= 3 * st / math.sqrt(2 * (g.sum() - 1))
    assert stated[1] > 1.1 * stated[0] and observed[1] > observed[0]     # severe patients fluctuate more


def test_an_arms_spread_rises_with_its_baseline_within_the_published_interval(params):
    """The strict xfail of tests/test_fluctuation.py with the switch: elasticity of the 8-week arm's SD of change
    between baselines 18 and 27 in Cipriani 2018's interval (0.38-0.83), and the arm at 23 still as wide as
    published arms (0.295-0.365 of baseline: tests/test_fluctuation.py)."""
    def sd8(b):
        _, o = _arm(params, True, baseline=b)
        return (o.rating[:, -1] - o.baseline).std(ddof=1)

    low, high = sd8(18.0), sd8(27.0)
    elasticity = math.log(high / low) / math.log(27.0 / 18.0)
    assert 0.38 <= elasticity <= 0.83
    _, o = _arm(params, True)
    assert 0.295 <= (o.rating[:, -1] - o.baseline).std(ddof=1) / o.baseline.mean() <= 0.365


@pytest.fixture
def switched_scenarios(tmp_path, monkeypatch):
    """A copy of the calibration scenarios with the switch on in TRANSFORM's."""
    return switched_calibration_scenarios(tmp_path, monkeypatch, "transform.yaml", "fluctuation_scales_with_severity")


def test_calibration_integrates_each_patients_rating_sd(params, switched_scenarios):
    """TRANSFORM-1's response row of its placebo + antidepressant arm at 4 weeks, and an SD-of-change row of the same
    arm: the prediction is the arm's spread plus the patients' mean rating variance, and the mean of the patients'
    normal CDFs with their own SDs."""
    rate_row = next(t for t in cal.build_targets()[0] if t.trial == "transform1_fedgchin2019"
                    and t.kind == "response" and t.model_arm == "placebo+AD")
    sd_row = dataclasses.replace(rate_row, kind="sd_change", threshold=0.0)
    sims = cal.simulate_calibration_arms(params, [sd_row, rate_row], 120, 3)
    s = sims[(cal.TRIALS[sd_row.trial][0], sd_row.model_arm)]
    assert np.ndim(s.fluct_scale) == 1 and s.fluct_scale.std() > 0
    j = int(np.argmin(np.abs(s.times - 672.0)))
    sigma = rating_sd_at(params, 60.0, 672.0, s.fluct_scale)
    change = s.score[:, j] - s.baseline
    assert cal.predict(sd_row, sims, params) == pytest.approx(math.sqrt(change.var() + np.mean(sigma ** 2)), rel=1e-9)
    from scipy.stats import norm

    thr = np.floor(0.5 * np.rint(s.baseline) + 1e-9) + 0.5
    assert cal.predict(rate_row, sims, params) == pytest.approx(100 * np.mean(norm.cdf((thr - s.score[:, j]) / sigma)),
                                                                rel=1e-9)
    # the same rows without the switch: one SD for everyone, and a different spread
    plain = {k: dataclasses.replace(v, fluct_scale=1.0) for k, v in sims.items()}
    assert cal.predict(sd_row, plain, params) != pytest.approx(cal.predict(sd_row, sims, params), rel=1e-6)


def test_a_bad_switch_value_is_one_line_naming_the_field():
    from ketasim.errors import InputError

    with pytest.raises(InputError, match=r"population.fluctuation_scales_with_severity: must be true or false"):
        ketasim.scenario_from_dict({"name": "n", "population": {"fluctuation_scales_with_severity": "sometimes"},
                                    "arms": {"a": [{"drug": "oral-antidepressant", "route": "oral"}]}})


def _titrated(switch: bool, size: int = 60):
    """An esketamine arm whose dose rises at sessions 2-4 on the recorded rating (tests/test_titration_protocols.py)."""
    esk = {"drug": "esketamine", "route": "intranasal", "dose": "28 mg", "at": "0 d", "every": "3.5 d", "count": 6}
    return ketasim.scenario_from_dict({
        "name": "titrated", "seed": 5,
        "population": {"size": size, "baseline": {"mean": 36, "sd": 5}, "fluctuation_scales_with_severity": switch},
        "arms": {"flex": {"doses": [esk, {"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}],
                          "titration": {"doses": ["28 mg", "56 mg", "84 mg"], "sessions": [2, 3, 4],
                                        "decide_on": "rating", "increase_if": {"score_reduction_below": 0.5}}}},
        "endpoints": {"times": ["7 d", "21 d"]}})


def test_a_titration_decides_on_each_patients_scaled_path_and_the_ratings_continue_it(params):
    from ketasim.engine import decision_fluctuation_draws

    sc = _titrated(True)
    arm = sc.arms[0]
    m = np.linspace(0.5, 1.5, 60)
    stream = np.random.SeedSequence(9)
    one = decision_fluctuation_draws(arm, stream, 0, 60, params, 60.0)
    scaled = decision_fluctuation_draws(arm, stream, 0, 60, params, 60.0, m)
    assert np.allclose(scaled.values, m[:, None] * one.values)
    a, b = ketasim.run_trial(sc, params), ketasim.run_trial(sc, params, chunk=7)
    assert np.array_equal(a.outcomes["flex"].rating, b.outcomes["flex"].rating)
    assert np.array_equal(a.outcomes["flex"].dose_levels, b.outcomes["flex"].dose_levels)
    off = ketasim.run_trial(_titrated(False), params).outcomes["flex"]
    assert not np.array_equal(off.rating, a.outcomes["flex"].rating)
