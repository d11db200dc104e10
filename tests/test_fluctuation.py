"""Within-patient fluctuation of true severity (issue 7, nineteenth session).

A rating is the model's expected course plus an Ornstein-Uhlenbeck fluctuation of true severity since trial entry
(stationary SD fluctuation_sd x the scale maximum, correlation time pd.fluctuation.correlation_time) plus the rater's
noise. Calibration uses its marginal analytically (``population.rating_sd_at``); a virtual trial samples its paths
(``population.fluctuation_paths``). These tests check the sampler against the closed form, its independence of the
output grid, and that a trial's ratings carry exactly the spread calibration assumes.
"""

import math

import numpy as np
import pytest

import ketasim
from ketasim.population import fluctuation_change_sd, fluctuation_paths, rating_sd_at
from ketasim.trial import run_trial

from _support import params


def _s_tau(p, smax=60.0):
    return p.free_value("fluctuation_sd") * smax, p.get("pd.fluctuation.correlation_time", "h")


def test_sampled_paths_have_the_closed_form_spread():
    p = params()
    t = np.array([0.0, 2.0, 24.0, 168.0, 336.0, 672.0, 10_000.0])     # the last: ~15 correlation times
    z = np.random.default_rng(3).standard_normal((200_000, t.size + 1))
    x = fluctuation_paths(p, 60.0, t, z)
    s, tau = _s_tau(p)
    assert s > 0.5, "the fluctuation is part of the shipped model"
    closed = np.sqrt(2 * s * s * (1 - np.exp(-t / tau)))
    np.testing.assert_allclose(fluctuation_change_sd(p, 60.0, t), closed, rtol=1e-12)
    # Monte Carlo: the SD of an SD estimate is SD / sqrt(2n) = 0.16 % at n = 200,000; 1 % is > 6 SE
    np.testing.assert_allclose(x[:, 1:].std(axis=0), closed[1:], rtol=0.01)
    assert np.all(x[:, 0] == 0.0)
    # far beyond the correlation time the change from entry has twice the stationary variance
    assert closed[-1] == pytest.approx(math.sqrt(2) * s, rel=1e-3)


def test_paths_do_not_depend_on_the_output_grid():
    """The joint law at two times is the same whether the sampler steps through other times or not."""
    p = params()
    s, tau = _s_tau(p)
    t1, t2 = 168.0, 672.0
    closed = s * s * (math.exp(-(t2 - t1) / tau) - math.exp(-t2 / tau) - math.exp(-t1 / tau) + 1.0)
    rng = np.random.default_rng(11)
    coarse = fluctuation_paths(p, 60.0, np.array([t1, t2]), rng.standard_normal((200_000, 3)))
    fine_t = np.array([24.0, t1, 336.0, 500.0, t2])
    fine = fluctuation_paths(p, 60.0, fine_t, rng.standard_normal((200_000, fine_t.size + 1)))[:, [1, 4]]
    for x in (coarse, fine):
        # covariance estimate SE ~ s^2 sqrt(2/n) ~ 0.3 % of s^2: 3 % is ~10 SE
        assert np.cov(x.T)[0, 1] == pytest.approx(closed, rel=0.03)


def test_sampler_refuses_unsorted_times_and_wrong_draws():
    p = params()
    with pytest.raises(ValueError, match="ascending"):
        fluctuation_paths(p, 60.0, np.array([24.0, 2.0]), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="columns"):
        fluctuation_paths(p, 60.0, np.array([2.0, 24.0]), np.zeros((3, 2)))


SALINE = {
    "name": "fluctuation check", "seed": 4,
    "population": {"size": 2500, "baseline": {"mean": 33, "sd": 5}},
    "arms": {"saline": [{"drug": "placebo", "route": "iv-infusion", "count": 1}]},
    "endpoints": {"times": ["24 h", "28 d"], "measures": ["mean_change"]},
}


def _trial(rating_noise=True):
    sc = ketasim.scenario_from_dict({**SALINE, "endpoints": {**SALINE["endpoints"], "rating_noise": rating_noise}})
    return run_trial(sc, params()).outcomes["saline"]


def test_trial_ratings_carry_the_spread_calibration_assumes():
    """rating - model score at each endpoint has the SD rating_sd_at gives (rater noise + fluctuation since entry),
    so an analytic calibration row and a virtual trial's count agree; it grows from day 1 to week 4."""
    p = params()
    o = _trial()
    sds = []
    for k, t in enumerate(o.times_h):
        if t == 0:
            continue
        resid = o.rating[:, k] - o.model_score[:, k]
        inside = (o.rating[:, k] > 0) & (o.rating[:, k] < 60)            # away from the scale's censoring
        expected = math.sqrt(rating_sd_at(p, 60.0, t) ** 2 + 1 / 12)      # + rounding to integers
        # SD estimate SE ~ 1.4 % at n = 2500: 6 % is ~4 SE
        assert resid[inside].std() == pytest.approx(expected, rel=0.06)
        sds.append(resid.std())
    assert sds[-1] > 1.2 * sds[0]


def test_no_rating_noise_means_no_fluctuation_either():
    o = _trial(rating_noise=False)
    np.testing.assert_array_equal(o.rating[:, 1:], np.clip(np.rint(o.model_score[:, 1:]), 0, 60))


def _antidepressant_arm_sd(p, size=1000, baseline=23.0):
    """SD of the change from baseline / the mean baseline, by week (0, 1, 2, 4, 6, 8), of the observed ratings of an
    8-week outpatient arm that starts a new oral antidepressant (HAM-D17 baseline 23, SD 4: Cipriani's placebo arms;
    the same virtual patients at another ``baseline``)."""
    sc = ketasim.scenario_from_dict({
        "name": "antidepressant arm", "seed": 5,
        "population": {"size": size, "condition": "depression", "scale": "hamd17",
                       "baseline": {"mean": baseline, "sd": 4}},
        "arms": {"antidepressant": [{"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}]},
        "endpoints": {"times": ["7 d", "14 d", "28 d", "42 d", "56 d"], "measures": ["mean_change"]}})
    o = run_trial(sc, p).outcomes["antidepressant"]
    return (o.rating - o.baseline[:, None]).std(axis=0, ddof=1) / o.baseline.mean()


def test_an_eight_week_antidepressant_arm_is_as_wide_as_published_arms():
    """The fluctuation is the main term that makes an arm's spread grow over weeks in the default model (every
    patient's natural course and new-antidepressant relief are the same share of baseline), so its size (fluctuation_sd) is set by the
    spread of antidepressant-trial arms at week 6-8: SD of change 0.33 of baseline, interquartile range of the arms
    0.31-0.35 (Cipriani 2018's open data doi:10.17632/83rthbp8ys.2: 71 placebo arms on HAM-D17, 8,147 patients,
    7.7 points on a baseline of 23.1; drug arms equally dispersed, Munkholm 2020 doi:10.1371/journal.pone.0237950).
    Band: that range widened by 2 sampling SEs of the ratio at 1000 patients (0.0074 each). The spread grows over
    the first weeks (one placebo arm's individual data, Goldstein 2004 PMID 15232330: 0.22 / 0.32 / 0.36 at weeks
    1 / 2 / 4). With the nineteenth session's 4 MADRS points the arm reached 0.287 at week 8."""
    sd = _antidepressant_arm_sd(params())
    assert 0.295 <= sd[-1] <= 0.365
    assert np.all(np.diff(sd) > 0)
    assert sd[1] < 0.7 * sd[-1]


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: the fluctuation of true severity has one size in scale points for every patient, so an arm's SD of change "
    "barely rises with its baseline (elasticity 0.21; published arms 0.61). Sized as a share of each patient's entry "
    "severity (0.188, the same 4.33 HAM-D17 points at baseline 23.1) the elasticity is ~0.7 and this passes, the "
    "in-sample J falls 450.6 -> 397.5 (TRANSFORM's 4-week SDs), but the refit cross-validation was worse out of "
    "sample (2.81 points / 9.3 pp / 85 % inside vs 2.66 / 9.1 / 89 %; Daly and Murrough worse), so it is not the "
    "default (NOTES.md, twenty-fifth session). population.fluctuation_scales_with_severity (off by default; share "
    "pd.fluctuation.entry_share 0.5) passes it too: tests/test_fluctuation_scales_with_severity.py; so does the "
    "trial-level reading population.fluctuation_scales_with_trial_severity (off by default, not better out of sample)"))
def test_an_arms_spread_rises_with_its_baseline_as_published_arms_do():
    """Across 243 HAM-D17 arms of antidepressant trials (Cipriani 2018's open data doi:10.17632/83rthbp8ys.2,
    change-score arms, weighted by n, CI clustered by trial; NOTES.md, twenty-fifth session) the SD of change rises
    with the arm's baseline: elasticity d log SD / d log baseline 0.61 (95 % CI 0.38-0.83; 0.65, 0.45-0.85, over all
    HAM-D and MADRS arms without trials that give every arm one SD), neither constant in points (0) nor proportional
    (1). The same 8-week arm at baselines 18 and 27 (the central 90 % of those arms' baselines; the same virtual
    patients, so the ratio is precise)."""
    p = params()
    low, high = (_antidepressant_arm_sd(p, baseline=b)[-1] * b for b in (18.0, 27.0))
    elasticity = math.log(high / low) / math.log(27.0 / 18.0)
    assert 0.38 <= elasticity <= 0.83

