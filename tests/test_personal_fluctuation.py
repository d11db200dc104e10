"""The within-patient fluctuation of true severity in personal fits, forecasts and plans (issue 7, twentieth session).

A patient's ratings share the fluctuation (an Ornstein-Uhlenbeck process of true severity since entry,
``population.fluctuation_change_cov``), so they are correlated: the fit weighs them with their joint covariance,
and a forecast continues each posterior draw's fluctuation from what the record's ratings say of it (the Gaussian
conditional, ``population.fluctuation_conditional``). These tests check the conditional against a Monte Carlo of the
process, the fit's likelihood against the multivariate normal, and that synthetic patients' true future ratings
fall inside the forecast intervals as often as stated.
"""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from ketasim.personal import _ObservationModel, synthetic_record, validate
from ketasim.population import (fluctuation_change_cov, fluctuation_conditional, fluctuation_conditional_mean,
                                fluctuation_parameters, fluctuation_paths)

from _support import params



def test_covariance_matches_sampled_paths():
    t = np.array([24.0, 168.0, 400.0, 900.0])
    z = np.random.default_rng(5).standard_normal((200_000, t.size + 1))
    p = params()
    S, tau = fluctuation_parameters(p, 60.0)       # scale points, h
    x = fluctuation_paths(p, 60.0, t, z)
    # a Gaussian sample covariance entry has SE sqrt((var_i var_j + cov_ij^2) / n): within 5 SE
    expected = fluctuation_change_cov(S, tau, t, t)
    var = np.diag(expected)
    se = np.sqrt((np.outer(var, var) + expected ** 2) / x.shape[0])
    assert np.all(np.abs(np.cov(x.T) - expected) <= 5 * se)
    # a change at entry is exactly 0; before entry (t < 0) the law is the mirror image
    assert fluctuation_change_cov(S, tau, [0.0], [0.0, 50.0]).tolist() == [[0.0, 0.0]]
    np.testing.assert_allclose(fluctuation_change_cov(S, tau, [-100.0], [-100.0]),
                               fluctuation_change_cov(S, tau, [100.0], [100.0]), rtol=1e-14)


def test_conditional_is_the_regression_of_simulated_paths():
    """The conditional mean's weights and the conditional spread equal a least-squares regression of simulated
    future changes on simulated noisy past ratings' residuals (exact for a Gaussian process)."""
    p = params()
    S, tau = fluctuation_parameters(p, 60.0)       # scale points, h
    obs, fut = np.array([0.0, 84.0, 168.0, 336.0]), np.array([400.0, 672.0, 2000.0])
    t = np.concatenate([obs, fut])
    rng = np.random.default_rng(8)
    n, noise = 400_000, 2.5
    x = fluctuation_paths(p, 60.0, t, rng.standard_normal((n, t.size + 1)))
    r = x[:, :obs.size] + rng.normal(0.0, noise, (n, obs.size))
    y = x[:, obs.size:]
    coef, *_ = np.linalg.lstsq(r, y, rcond=None)                 # (obs, fut)
    weights = fluctuation_conditional_mean(S, tau, fut, obs, np.eye(obs.size), noise)
    np.testing.assert_allclose(weights, coef, atol=0.01)
    # the draws (Matheron's rule) have the conditional mean and the regression's residual covariance
    r0 = np.array([[2.0, -1.0, 3.0, 4.0]])
    draws = fluctuation_conditional(S, tau, fut, obs, np.repeat(r0, 100_000, axis=0), noise, rng)
    np.testing.assert_allclose(draws.mean(axis=0), (r0 @ coef)[0], atol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), np.cov((y - r @ coef).T), rtol=0.03, atol=0.05)
    # without the rater's noise the path itself is known: conditioning at an observed time returns it
    exact = fluctuation_conditional(S, tau, [168.0, 200.0], obs, np.array([[0.0, 1.0, -2.0, 3.0]]), 0.0, rng)
    assert exact[0, 0] == pytest.approx(-2.0, abs=1e-9)


def test_fit_likelihood_is_the_joint_gaussian_of_the_ratings():
    recs, truth, models = synthetic_record(1, seed=4)
    pm = models[0]
    assert pm.fluctuation[0] > 0.5
    om = _ObservationModel(pm)
    k = om.score_idx
    cov = om.score_chol @ om.score_chol.T
    th = np.vstack([truth[0], truth[0] + 0.3 * pm.prior_sd])
    pred = om.predictions(th)
    data = 0.5 * np.sum(om.residuals(th, pred)[:, k] ** 2, axis=1)      # the whitened rating residuals
    exact = [-multivariate_normal(pred[i, k], cov).logpdf(om.y[k]) for i in range(2)]
    assert data[1] - data[0] == pytest.approx(exact[1] - exact[0], rel=1e-9)


def test_forecast_continues_what_the_ratings_say():
    """A patient whose ratings ran above its model course: the forecast right after the last rating carries that
    excess, and it fades over the correlation time."""
    recs, truth, models = synthetic_record(1, seed=4)
    pm = models[0]
    om = _ObservationModel(pm)
    th = truth[:1]
    resid = om.y[om.score_idx] - om.predictions(th)[0, om.score_idx]
    last = pm.record.last_observation_h
    tau = pm.fluctuation[1]
    times = last + np.array([1.0, tau, 6 * tau])
    mean = fluctuation_conditional_mean(*pm.fluctuation, times, om.score_times, resid, pm.rating_sd)[0]
    # a +8-point excess on every rating (a large positive fluctuation): the mean follows it
    up = fluctuation_conditional_mean(*pm.fluctuation, times, om.score_times, resid + 8.0, pm.rating_sd)[0]
    shift = up - mean
    assert shift[0] > 3.0, "right after the last rating most of a shared excess is the fluctuation"
    # it fades over the correlation time, but not to 0: ratings above the entry rating also say that the patient
    # entered in a good moment (X(0) low), and a change since entry tends to -X(0) in the long run
    assert shift[0] > shift[1] > shift[2] > 0.0 and shift[2] < 0.7 * shift[0]


def test_forecast_intervals_cover_true_ratings_with_the_fluctuation():
    """Synthetic patients' ratings carry their own fluctuation: the forecast that models it covers their future
    ratings at close to the stated rate (randomised PIT, so integer ties do not flatter it), and better than one
    that ignores it. 12 patients x 4 weekly points: SE of a 90 % coverage ~ 4 % (correlated points: more)."""
    on = validate(12, seed=31, with_plans=False, n_samples=300, n_proposals=600)
    off = validate(12, seed=31, with_plans=False, n_samples=300, n_proposals=600, forecast_fluctuation=False)
    assert on["pit_coverage90"] >= 0.78
    assert on["pit_coverage90"] > off["pit_coverage90"]
    assert on["mae_individual"] < on["mae_population"]
