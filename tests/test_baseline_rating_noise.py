"""The hypothesis population.baseline_rating_noise (off by default; twenty-first session): the baseline rating carries
the rater's noise like every later rating (population.true_baseline): the reported baseline distribution is the
ratings'; the model's score is scaled by the true severity at entry; so a change from baseline carries two ratings' noise, the standard error of a difference score being sqrt(2)
x a rating's (Jacobson & Truax 1991 doi:10.1037/0022-006X.59.1.12)."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim
from ketasim.errors import InputError
from ketasim.population import PopulationSpec, Distribution, sample_patients, true_baseline

from _support import line, params

SALINE = line("placebo", "iv-infusion", duration="40 min")
PARAMS = params()
RATER = PARAMS.free_value("rating_noise_sd") * 60.0          # MADRS points


def _spec(noise=True, sd=6.0, size=20000):
    return PopulationSpec(size=size, baseline=Distribution(33.0, sd), baseline_rating_noise=noise)


def test_the_ratings_keep_the_reported_distribution_and_the_true_severity_is_narrower():
    p = sample_patients(_spec(), PARAMS, 3)
    assert p.baseline_rating.mean() == pytest.approx(33.0, abs=0.15)
    assert p.baseline_rating.std() == pytest.approx(6.0, rel=0.03)
    # true severity: N(mean, sd^2 - rater^2); the rating less it is the rater's noise, independent of the truth
    assert p.baseline.std() == pytest.approx(np.sqrt(36.0 - RATER ** 2), rel=0.04)
    err = p.baseline_rating - p.baseline
    assert err.std() == pytest.approx(RATER, rel=0.04)
    assert abs(np.corrcoef(err, p.baseline)[0, 1]) < 0.03
    # regression to the mean: patients rated high are less severe than their rating, on average
    high = p.baseline_rating > 40
    assert (p.baseline_rating[high] - p.baseline[high]).mean() > 2.0


def test_without_the_noise_or_for_a_stated_patient_the_true_severity_is_the_rating():
    off = sample_patients(_spec(noise=False, size=500), PARAMS, 3)
    assert np.array_equal(off.baseline, off.baseline_rating)
    on = sample_patients(_spec(size=500), PARAMS, 3)
    assert np.array_equal(on.baseline_rating, off.baseline_rating)      # the same ratings: only the truth moves
    stated = _spec(sd=0.0, size=5)
    assert np.array_equal(true_baseline(stated, PARAMS, np.full(5, 33.0), np.ones(5)), np.full(5, 33.0))
    # a rating SD at or below the rater's: every true severity at the mean (never a negative variance)
    narrow = _spec(sd=0.5 * RATER, size=5)
    assert np.allclose(true_baseline(narrow, PARAMS, np.array([30.0, 33.0, 36.0, 20.0, 45.0]), np.ones(5)), 33.0)


def _change_sd(noise: bool) -> float:
    """SD of (rating one minute after entry - baseline rating) in a saline arm: the model score and the fluctuation
    have barely moved, so what is left is the ratings' noise."""
    sc = ketasim.scenario_from_dict({
        "name": "noise", "seed": 11, "arms": {"saline": [SALINE]},
        "population": {"size": 6000, "baseline": {"mean": 33.0, "sd": 6.0}, "baseline_rating_noise": noise},
        "endpoints": {"times": ["1 min"], "measures": ["mean_change"]}})
    o = ketasim.run_trial(sc).outcomes["saline"]
    j = int(np.flatnonzero(o.times_h > 0)[0])
    return float(np.std(o.rating[:, j] - o.baseline))


def test_a_change_from_baseline_carries_two_ratings_noise():
    on, off = _change_sd(True), _change_sd(False)
    # rounding both ratings to integers adds 1/12 point^2 each
    assert on == pytest.approx(np.sqrt(2 * RATER ** 2 + 2 / 12), rel=0.05)
    assert off == pytest.approx(np.sqrt(RATER ** 2 + 2 / 12), rel=0.05)
    assert on / off == pytest.approx(np.sqrt(2), rel=0.06)


@pytest.mark.parametrize("rating_noise", [True, False])
def test_a_trial_without_rating_noise_counts_from_the_true_severity(rating_noise):
    """endpoints.rating_noise: false makes ratings the model's expected course: the baseline rating is then the true
    severity (SD sqrt(6^2 - rater^2) ~ 4.8 points), with it the reported rating (SD 6)."""
    sc = ketasim.scenario_from_dict({
        "name": "no noise", "seed": 11, "arms": {"saline": [SALINE]},
        "population": {"size": 4000, "baseline": {"mean": 33.0, "sd": 6.0}, "baseline_rating_noise": True},
        "endpoints": {"times": ["24 h"], "measures": ["mean"], "rating_noise": rating_noise}})
    sd = float(ketasim.run_trial(sc).outcomes["saline"].baseline.std())
    expected = 6.0 if rating_noise else np.sqrt(36.0 - RATER ** 2)
    assert sd == pytest.approx(np.sqrt(expected ** 2 + 1 / 12), rel=0.04)


def test_the_switch_is_checked_in_one_line():
    with pytest.raises(InputError) as e:
        ketasim.scenario_from_dict({"name": "x", "arms": {"saline": [SALINE]},
                                    "population": {"baseline_rating_noise": "sometimes"}})
    msg = str(e.value)
    assert "baseline_rating_noise" in msg and "\n" not in msg
