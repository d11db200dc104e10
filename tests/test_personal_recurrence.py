"""Personal forecasts and plans carry the recurrence risk (issue 7, maintenance).

The fit keeps eta_recurrence at 0 (``personal.NOT_FITTED``), so without more every posterior draw had the median
recurrence time (405 d for a treatment-resistant patient) and a long forecast showed one sharp episode in every
draw. Forecast and plan draws now take eta_recurrence from its prior (a seeded stream), given that no new episode
began before the last observation: T = t_last + Exp(h), h from pd.recurrence.*.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ketasim import personal as P
from ketasim.record import read_record

RECORD = Path(__file__).resolve().parents[1] / "examples" / "patient" / "patient_101.csv"
DAY = 24.0


@pytest.fixture(scope="module")
def fitted():
    rec = read_record(RECORD)
    pm = P.PatientModel(rec)
    return pm, P.fit_patient(pm, seed=0)


def test_recurrence_etas_are_the_prior_given_no_episode_before_the_last_observation(fitted):
    pm, _ = fitted
    h, t_last = pm.recurrence_hazard_per_h, pm.record.last_observation_h
    assert h == pytest.approx(-np.log(1 - 0.4645) / 8766.0, rel=1e-12)   # treatment-resistant: median 405 d
    eta = pm.recurrence_etas(20000, 5)
    assert np.array_equal(eta, pm.recurrence_etas(20000, 5))                # seeded: plans stay reproducible
    assert not np.array_equal(eta, pm.recurrence_etas(20000, 6))
    wait = pm.recurrence_times_h(eta) - t_last
    assert wait.min() > 0.0                                                # none before the last observation
    # memoryless: the wait beyond the last observation is exponential with the prior's hazard
    for q in (0.1, 0.5, 0.9):
        t = -np.log(1 - q) / h
        assert np.mean(wait <= t) == pytest.approx(q, abs=4 * np.sqrt(q * (1 - q) / eta.size))


def test_long_forecast_share_of_draws_with_an_episode_follows_the_closed_form(fitted):
    pm, fit = fitted
    h, t_last = pm.recurrence_hazard_per_h, pm.record.last_observation_h
    days = np.array([60.0, 180.0, 365.0, 540.0, 730.0])
    fc = P.forecast(fit, times_h=t_last + days * DAY, grid=False, seed=11)
    T = fc.recurrence_h
    assert T.shape == (fit.samples.shape[0],) and np.unique(T).size == T.size   # not one median time for all
    n = T.size
    for d in days:
        p = 1 - np.exp(-h * d * DAY)
        assert np.mean(T <= t_last + d * DAY) == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n) + 1e-9)
    # the episode is in the forecast's ratings: draws whose episode began 8+ weeks before a visit are back at their
    # own (fitted) baseline score there despite the record's regimen; draws without one are still below it
    # (measured at 365 d: -0.01 vs -3.6 points, 177 and 198 of 400 draws)
    base = fit.samples[:, pm.names.index("baseline")]
    for d in (365.0, 730.0):
        r = fc.ratings[:, np.searchsorted(fc.times_h, t_last + d * DAY)] - base
        relapsed, free = T <= t_last + (d - 56) * DAY, T > t_last + d * DAY
        assert relapsed.sum() > 0.6 * n * (1 - np.exp(-h * (d - 56) * DAY)) and free.sum() > 0.2 * n
        assert abs(np.mean(r[relapsed])) < 1.5
        assert np.mean(r[free]) < np.mean(r[relapsed]) - 2.0


def test_short_horizon_plans_are_essentially_unchanged(fitted, monkeypatch):
    """Weeks 3-6: the same plans in the same order, the same predicted medians within a point, and a
    probability that drops by no more than the share of draws whose new episode begins before the last visit."""
    pm, fit = fitted
    tg = P.parse_target("score<=15", pm.record.scale, window="3 week:6 week")
    new = P.plan(fit, target=tg, seed=2, n_samples=200)
    etas = pm.recurrence_etas(300, 2)[100:]            # the re-scoring draws' (the plan's second set of 200)
    last_visit = max(new["target"]["visits_h"])
    share = float(np.mean(pm.recurrence_times_h(etas) <= last_visit))
    assert 0.0 < share < 0.12                           # ~ 1 - exp(-h 6 weeks) = 6.9 %
    monkeypatch.setattr(P.PatientModel, "recurrence_etas", lambda self, n, seed: np.zeros(n))   # the median, as before
    old = P.plan(fit, target=tg, seed=2, n_samples=200)
    assert [p["label"] for p in new["plans"]] == [p["label"] for p in old["plans"]]
    for a, b in zip(old["plans"], new["plans"]):
        assert -0.01 <= a["p_target"] - b["p_target"] <= share + 0.01
        for pa, pb in zip(a["predicted"], b["predicted"]):
            assert abs(pa["median"] - pb["median"]) <= 1.0


def test_the_fit_places_no_episode_inside_a_long_record():
    """A record longer than the median recurrence time (405 d for a treatment-resistant patient) is fitted without
    a new episode inside its observed window: the fit's recurrence time is the median after the last observation."""
    from ketasim.record import record_from_rows
    from ketasim.solver import kernel as K

    rows = [{"TIME": 0.0, "EVID": 1, "AMT": 0.5, "AMTU": "mg/kg", "DUR": 40 / 60, "DRUG": "racemic-ketamine",
             "ROUTE": "iv-infusion", "WT": 70, "AGE": 45, "SEX": "F"}]
    rows += [{"TIME": float(t), "EVID": 0, "DVID": "madrs", "DV": 30} for t in (0.0, 24.0, 300 * 24.0, 500 * 24.0)]
    pm = P.PatientModel(record_from_rows(rows, source="long record"))
    h = pm.recurrence_hazard_per_h
    assert h > 0
    t_fit = float(pm.recurrence_times_h([pm.fit_eta_recurrence])[0])
    assert t_fit == pytest.approx(500 * 24.0 + np.log(2) / h, rel=1e-9)
    theta = np.atleast_2d(pm.prior_mean)
    out, _, _, _ = pm.run(theta, pm.record.past_doses, np.array([0.0, 24.0, 300 * 24.0, 500 * 24.0]))
    assert np.all(out[0, :, K.OUT_NAMES.index("episode")] == 0.0)
