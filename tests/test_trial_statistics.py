"""Trial statistics come from scipy/statsmodels (issue 12): t intervals for means, Wilson/Newcombe intervals,
the score test, Kaplan-Meier with censoring and the log-rank test; p-values print as p<0.001."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ketasim.trial import format_p, kaplan_meier, km_median, logrank_p, mean_ci, wilson_ci, welch_ci, _proportion_difference


def test_mean_ci_uses_the_t_quantile():
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    m, se, (lo, hi) = mean_ci(x)
    ref = stats.t.interval(0.95, 4, loc=x.mean(), scale=stats.sem(x))
    assert (lo, hi) == pytest.approx(ref)
    assert hi - lo > 2 * 1.96 * se * 1.3           # t(4) = 2.78 vs z = 1.96: the normal interval was too narrow
    assert math.isnan(mean_ci(np.array([3.0]))[1])


def test_welch_interval_matches_the_welch_t_test():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 12), rng.normal(1, 3, 9)
    v, se, (lo, hi) = welch_ci(a, b)
    res = stats.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert v == pytest.approx(a.mean() - b.mean()) and (lo, hi) == pytest.approx((ci.low, ci.high))


def test_wilson_and_proportion_difference():
    assert wilson_ci(5, 10) == pytest.approx((23.66, 76.34), abs=0.01)      # textbook Wilson 23.7-76.3 %
    assert wilson_ci(0, 20)[0] == 0.0 and wilson_ci(0, 20)[1] > 10
    v, (lo, hi), p = _proportion_difference(np.r_[np.ones(30), np.zeros(70)].astype(bool),
                                            np.r_[np.ones(10), np.zeros(90)].astype(bool))
    assert v == pytest.approx(20.0) and lo < 20 < hi and 0 < p < 0.001
    z = 0.2 / math.sqrt(0.2 * 0.8 * (2 / 100))      # pooled score z
    assert p == pytest.approx(2 * stats.norm.sf(z), rel=1e-6)
    assert _proportion_difference(np.zeros(5, bool), np.zeros(7, bool))[2] == 1.0


def test_kaplan_meier_and_log_rank_respect_censoring():
    t = np.array([1.0, 2, 3, 4, 5, 6])
    e = np.array([True, True, False, True, True, False])
    u, s, var = kaplan_meier(t, e)
    assert np.allclose(s, [5 / 6, 4 / 6, 4 / 6 * 2 / 3, 4 / 6 * 2 / 3 * 1 / 2])
    n_risk, d = np.array([6, 5, 3, 2]), 1
    assert np.allclose(var, np.cumsum(d / (n_risk * (n_risk - d))))     # Greenwood's sum
    assert km_median(t, e)[0] == 4.0
    # censored patients are not events: treating everyone as an event (the old scipy call) gives another answer
    ta, ea = np.r_[2.0, 3, 4, np.full(9, 8.0)], np.r_[np.ones(3), np.zeros(9)].astype(bool)
    tb, eb = np.r_[1.0, 2, 2, 3, 4, 5, 6, 7, 7, 8, 8, 8], np.r_[np.ones(10), np.zeros(2)].astype(bool)
    p = logrank_p(ta, ea, tb, eb)
    p_all_events = logrank_p(ta, np.ones(12, bool), tb, np.ones(12, bool))   # = the old scipy call
    assert p_all_events == pytest.approx(stats.logrank(ta, tb).pvalue, rel=1e-6)
    assert 0 < p < 0.05 and p != pytest.approx(p_all_events, rel=0.1)


def test_log_rank_without_variance_is_undefined_not_an_error():
    """Every patient of both groups relapsing at the same visit leaves O - E without variance: the log-rank p-value
    is undefined (nan, printed p=n/a), not a LinAlgError (a tutorial's 20-patient withdrawal trial hit it)."""
    one = np.ones(2, bool)
    p = logrank_p(np.ones(2), one, np.ones(2), one)
    assert math.isnan(p) and format_p(p) == "p=n/a"


def test_p_values_print_as_p_less_than_0_001():
    assert format_p(0.0) == "p<0.001" and format_p(1e-12) == "p<0.001"
    assert format_p(0.0423) == "p=0.042" and format_p(float("nan")) == "p=n/a"
