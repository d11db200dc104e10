"""A statistician's pass on `ketasim power`'s margins, incidence endpoints, size search and multiplicity (forty-third
session, H9): each test failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest

from ketasim import power as pw


def _normal(n, seed, mean, sd):
    z = np.random.default_rng(seed).standard_normal(n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def test_normal_theory_welch_at_unequal_allocation_uses_welchs_standard_error():
    """At 2:1 with a more variable comparator (SD 12 vs 6), Welch's SE is sqrt(36/40 + 144/20) = 2.85 points: the
    closed form must be the t-test power of (d + M) / that SE, not of the pooled SD (which gave SE 2.32, too
    optimistic); exactly normal pools, so the replicates agree with it too."""
    from scipy import stats

    e = pw._Endpoint("mean_change", 24.0)
    pool = 100_000
    ya, yb = _normal(pool, 1, -12.0, 6.0), _normal(pool, 2, -6.0, 12.0)
    x = np.zeros(pool)
    for margin in (0.0, 2.0, -2.0):
        nt = pw._normal_theory_power((ya, x), (yb, x), "mean_change", "welch", 40, 0.05, 0.5, margin)
        se = np.sqrt(36.0 / 40 + 144.0 / 20)
        df = 40 + 20 - 2                     # TTestIndPower's degrees of freedom
        expected = stats.nct.sf(stats.t.isf(0.025, df), df, (6.0 + margin) / se)
        assert nt == pytest.approx(expected, abs=2e-3), margin
    # the replicates (Welch) agree with it within Monte Carlo error (they did not with the pooled SD: 0.72 vs 0.83)
    reps = 4000
    wins = pw._replicate_power({("a", e): (ya, x), ("b", e): (yb, x)}, [("a", "b")], [e], (40,),
                               {"mean_change": "welch"}, reps, 0.05, 0.0, False, 3, ratio=0.5)
    nt = pw._normal_theory_power((ya, x), (yb, x), "mean_change", "welch", 40, 0.05, 0.5, 0.0)
    assert abs(wins[("a", "b"), e, 40] / reps - nt) < 4 * np.sqrt(nt * (1 - nt) / reps) + 0.01
    # 1:1 is unchanged: the pooled SD
    from statsmodels.stats.power import TTestIndPower

    nt11 = pw._normal_theory_power((ya, x), (yb, x), "mean_change", "welch", 40, 0.05, 1.0, 0.0)
    assert nt11 == pytest.approx(TTestIndPower().power(6.0 / np.sqrt((36 + 144) / 2), nobs1=40, alpha=0.025,
                                                       alternative="larger"), abs=1e-9)
