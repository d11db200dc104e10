"""The analytic rate of calibration and sensitivity counts the integer ratings a trial counts (fifteenth session).

A trial records the noisy score rounded to an integer and calls a patient a responder when that rating is at most
half the (integer) baseline (``trial._responders``). For an odd baseline the threshold is a half-integer (33 -> 16.5),
so the ratings that respond are those <= 16; the analytic formula once used threshold + 0.5 and counted 17 too.
"""

import numpy as np
import pytest

from ketasim import calibration, sensitivity
from ketasim.population import rating_at_or_below


def _monte_carlo(threshold, score, sigma, n=400_000, seed=5):
    z = np.random.default_rng(seed).standard_normal(n)
    return float(np.mean(np.rint(score + sigma * z) <= threshold))


@pytest.mark.parametrize("baseline, score", [(33, 16.2), (33, 17.4), (32, 15.8), (35, 20.0), (28, 11.0)])
def test_analytic_rate_matches_rounded_ratings(baseline, score):
    sigma = 3.6
    threshold = 0.5 * baseline
    mc = _monte_carlo(threshold, score, sigma)
    # Monte Carlo SE <= 0.0008 at n = 400,000: 0.003 is ~4 SE
    assert rating_at_or_below(threshold, score, sigma) == pytest.approx(mc, abs=0.003)


def test_odd_baseline_no_longer_counts_the_rating_above_half():
    """The old formula (threshold + 0.5) is ~0.05 too high here (a 1-point band at the density's peak), beyond the
    Monte Carlo tolerance above, so the test would catch its return."""
    from scipy.stats import norm

    sigma, score, threshold = 3.6, 16.5, 16.5
    old = norm.cdf((threshold + 0.5 - score) / sigma)
    mc = _monte_carlo(threshold, score, sigma)
    assert abs(old - mc) > 0.04
    assert rating_at_or_below(threshold, score, sigma) == pytest.approx(mc, abs=0.003)


def test_integer_threshold_from_float_arithmetic_is_kept():
    """A threshold that is an integer in exact arithmetic but arrives a hair below it ((1 - 0.3) x 90 =
    62.99999999999999: a 30 % reduction from 90) still counts ratings equal to it, in the analytic rate and in the
    trial's count."""
    from ketasim.scenario import Endpoints
    from ketasim.trial import _responders

    t = (1 - 0.3) * 90
    assert t < 63
    assert rating_at_or_below(t, 63.0, 3.6) == pytest.approx(rating_at_or_below(63, 63.0, 3.6))
    ep = Endpoints(times_h=(24.0,), response_reduction=0.3)
    assert _responders(np.array([63.0, 64.0]), np.array([90.0, 90.0]), ep).tolist() == [True, False]


def test_calibration_and_sensitivity_use_the_rule():
    assert calibration.rating_at_or_below is rating_at_or_below
    import inspect

    src = inspect.getsource(sensitivity)
    assert "rating_at_or_below(thr, score, sigma)" in src and "thr + 0.5" not in src
