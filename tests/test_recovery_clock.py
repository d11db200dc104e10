"""The recurrence clock from recovery (``population.recurrence_clock: recovery``; issue 7, maintenance).

Frank 1991 (Arch Gen Psychiatry 48:851, PMID 1929776) and Rush 2006 (ACNP task force, Neuropsychopharmacology
31:1841, doi:10.1038/sj.npp.1301131): a return of symptoms before recovery is a relapse of the index episode; a new
episode (recurrence) can begin only after recovery, a remission sustained for 4 months
(pd.recurrence.recovery_duration). On this clock the Weibull recurrence time T (Kanai 2003's shape, P(T <= 1 y) =
the STAR*D p12) counts time since recovery (output recovery_time_h, 0 before it). The run of remission is measured by
a memory of time out of remission (state remission_memory, time constant pd.recurrence.remission_memory): leaving
remission before recovery restarts the count.
"""

from __future__ import annotations

import dataclasses
import math
import types

import numpy as np
import pytest

from ketasim import scenario_from_dict
from ketasim.engine import run_arm
from ketasim.errors import InputError
from ketasim.model import DEFAULT_MODEL
from ketasim.model import definition as D
from ketasim.population import RECURRENCE_CLOCKS, PopulationSpec, sample_patients
from ketasim.solver import kernel as K

from _support import params

HOURS_PER_YEAR = 8766.0
TRD = {"size": 200, "condition": "depression", "treatment_resistant": True, "scale": "madrs",
       "baseline": {"mean": 33, "sd": 5}}
KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
SAL = {"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}
#: the recovery clock's own columns (0 on the other clocks and with recurrence off)
NEW = ("recovery_time_h",)


def _recovery_h() -> float:
    return params().get("pd.recurrence.recovery_duration", "h")


def _run(population, arm_lines, days, model=None, seed=21):
    sc = scenario_from_dict({"name": "r", "seed": seed, "population": population, "arms": {"a": arm_lines}})
    pts = sample_patients(sc.population, params(), seed)
    run = run_arm(sc.arms[0], sc.population, pts, np.asarray(days, float) * 24, params=params(), model=model)
    return sc, pts, run


def test_recovery_duration_is_rush_2006_four_months():
    p = params()
    assert p.get("pd.recurrence.recovery_duration", "d") == pytest.approx(4 * 365.25 / 12)
    assert p.get("pd.recurrence.remission_memory", "d") == 14.0
    assert "recovery" in RECURRENCE_CLOCKS
    law = D.recurrence_law(types.SimpleNamespace(params=p, spec=PopulationSpec(recurrence_clock="recovery",
                                                                               treatment_resistant=True)))
    assert (law.p12, law.shape) == (pytest.approx(0.4645), 0.52)         # STAR*D p12, Kanai's shape


def test_four_week_trial_on_the_recovery_clock_is_the_model_without_recurrence():
    """No patient can have sustained remission for 4 months inside a 4-week trial, so no new episode begins: every
    output (scores, rates' inputs, sessions) equals recurrence: false bit for bit, while the clock from entry does
    start episodes in the same trial."""
    lines = [dict(KET, every="3.5 d", count=8), {"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}]
    days = np.arange(0.0, 28.0 + 1e-9, 0.25)
    _, _, off = _run({**TRD, "recurrence": False}, lines, days)
    _, _, rec = _run({**TRD, "recurrence_clock": "recovery"}, lines, days)
    _, _, entry = _run({**TRD, "recurrence_clock": "entry"}, lines, days)
    keep = [j for j, n in enumerate(K.OUT_NAMES) if n not in NEW]
    assert np.array_equal(rec.out[:, :, keep], off.out[:, :, keep])
    assert np.array_equal(rec.sessions, off.sessions)
    assert rec.output("recovery_time_h").max() == 0.0 and rec.output("episode").max() == 0.0
    assert entry.output("episode")[:, -1].max() > 0.0                     # the entry clock has some in 4 weeks


def test_no_episode_before_recovery_and_the_clock_starts_only_after_four_months_of_remission():
    """IV ketamine twice weekly for 4 weeks then weekly, 320 days, TRD: the time since recovery never exceeds the
    time since entry minus the recovery duration (so it is 0 for the first 4 months), no output has an episode where
    the time since recovery is <= T, some patients recover and some of those have an episode, and patients who never
    recover have none (although the entry clock's T would have passed for some of them).

    600 patients (300 until the ninth session): the counts below need >= 20 recovered and >= 5 episodes among them;
    with the ninth session's candidate set 5-6 % recover by day 320 (17 of 300, 30 of 600; the set before: 37 of 300,
    76 of 600): fewer patients stay at or below 10 through every weekly trough (remission at a trough, day 56: 4.0 vs
    10.8 %), while the mean score at day 320 is nearly the same (21.2 vs 20.9)."""
    days = np.arange(0.0, 320.0 + 1e-9, 0.5)
    lines = [dict(KET, every="3.5 d", count=8), dict(KET, at="28 d", every="7 d", count=42)]
    sc, pts, run = _run({**TRD, "size": 600, "recurrence_clock": "recovery"}, lines, days)
    rt, ep = run.output("recovery_time_h"), run.output("episode")
    t_h = days * 24
    assert np.all(np.diff(rt, axis=1) >= 0)
    assert np.all(rt <= np.maximum(t_h - _recovery_h(), 0.0) + 1e-6)
    t_rec = D._recurrence_time(types.SimpleNamespace(params=params(), spec=sc.population, patients=pts))
    assert not np.any((ep > 0) & (rt <= t_rec[:, None]))
    recovered = rt[:, -1] > 0
    assert 20 <= recovered.sum() < pts.n and (ep[recovered, -1] > 0).sum() >= 5
    assert np.all(ep[~recovered] == 0.0)
    t_entry = D._recurrence_time(types.SimpleNamespace(
        params=params(), spec=dataclasses.replace(sc.population, recurrence_clock="entry"), patients=pts))
    assert np.sum(~recovered & (t_entry < t_h[-1])) >= 3
    # recovery needs remission: every recovered patient was at or below the MADRS remission threshold (10 points)
    # over the recovery duration before (scores: severity = treated severity before any episode); the run's first
    # days weigh little in the memory (exp(-t / 14 d)), so a patient may still cross the threshold in its first two
    # weeks (measured: up to 14.7 points; 2.3 % of a window's outputs more than 0.5 point above it with the ninth
    # session's set, 3.3 % with the eleventh's), i.e. at most in the share of the window those two weeks are; from
    # then at most 1 point above it (measured 10.54: inside the indicator's ramp, a third of a rating's SD)
    sev = run.output("severity") * pts.baseline[:, None]
    early_share = 14 * 24.0 / _recovery_h()
    for i in np.flatnonzero(recovered):
        k = np.argmax(rt[i] > 0)
        window = (t_h > t_h[k] - _recovery_h()) & (t_h <= t_h[k])
        assert np.mean(sev[i, window] > 10.0 + 0.5) <= early_share, i
        later = (t_h > t_h[k] - _recovery_h() + 14 * 24.0) & (t_h <= t_h[k])
        assert sev[i, later].max() <= 10.0 + 1.0, i


#: a patient in remission from trial entry (the memory of time out of remission only decays)
HELD_IN_REMISSION = DEFAULT_MODEL.replace("remission_memory", drive="0")


def test_sustained_remission_relapses_over_a_year_at_the_star_d_probability():
    """A population held in remission from entry recovers after the recovery duration (within a few days of ramps);
    from then the share with a new episode follows the Weibull law in time since recovery, and one year after
    recovery it is the STAR*D 12-month probability p12 (TRD 0.4645; tolerance 4 binomial SD, +-0.036 at n = 3000)."""
    n = 3000
    p12 = params().get("pd.recurrence.p12_treatment_resistant")
    d_rec = _recovery_h() / 24
    days = d_rec + np.array([-1.0, 5.0, 30.0, 91.3125, 365.25 + 3.0, 540.0])
    _, _, run = _run({**TRD, "size": n, "recurrence_clock": "recovery"}, [SAL], days, model=HELD_IN_REMISSION,
                     seed=11)
    rt, ep = run.output("recovery_time_h"), run.output("episode")
    assert np.ptp(rt, axis=0).max() < 1e-6                                 # the same clock for everyone
    c = rt[0]
    assert c[0] == 0.0 and 0.0 < (days[1] - d_rec) * 24 - c[1] < 4 * 24     # recovery within 4 d of the duration
    law = D.recurrence_law(types.SimpleNamespace(params=params(), spec=PopulationSpec(
        recurrence_clock="recovery", treatment_resistant=True)))
    cdf = 1.0 - np.exp(-law.cumulative_hazard(c))
    share = (ep > 0).mean(axis=0)
    tol = 4 * np.sqrt(np.maximum(cdf * (1 - cdf), 1e-4) / n)
    assert np.all(np.abs(share - cdf) <= tol), (share, cdf)
    one_year = int(np.argmin(np.abs(c - HOURS_PER_YEAR)))
    assert abs(c[one_year] - HOURS_PER_YEAR) < 4 * 24
    assert share[one_year] == pytest.approx(p12, abs=4 * math.sqrt(p12 * (1 - p12) / n) + 0.01)


def test_leaving_remission_before_recovery_restarts_the_count():
    """In remission from entry to day 100, out of it for 14 days, back from day 114: recovery is not at the
    recovery duration (122 d) but a full run later, less the part of the run a 14-day loss leaves
    (-14 d x ln(1 - e^-1) = 6.4 d): at ~114 + 121.75 - 6.4 = 229 d."""
    memory = DEFAULT_MODEL.replace(
        "remission_memory", drive="k_remission_memory * piecewise(1, clock > 2400 and clock <= 2736, 0)")
    days = np.array([100.0, 125.0, 200.0, 227.0, 233.0, 240.0])
    _, _, run = _run({**TRD, "size": 5, "recurrence_clock": "recovery"}, [SAL], days, model=memory)
    rt = run.output("recovery_time_h")[0]
    assert np.all(rt[:4] == 0.0)            # not at 122 d (no reset would recover there), nor before ~229 d
    assert rt[5] > 0.0


def test_other_clocks_do_not_run_the_recovery_states_and_recovery_needs_a_remission_threshold():
    lines = [dict(KET, every="3.5 d", count=8), dict(KET, at="28 d", every="7 d", count=30)]
    days = np.arange(0.0, 250.0 + 1e-9, 1.0)
    for clock in ("entry", "response"):
        _, _, run = _run({**TRD, "size": 30, "recurrence_clock": clock}, lines, days)
        assert run.output("recovery_time_h").max() == 0.0
    with pytest.raises(InputError, match=r"^population\.recurrence_clock: recovery needs the scale's remission "
                                         r"threshold, and mssi has none") as e:
        pop = {"size": 2, "condition": "suicidal_ideation", "scale": "mssi", "baseline": {"mean": 20, "sd": 3},
               "recurrence_clock": "recovery"}
        scenario_from_dict({"name": "m", "population": pop, "arms": {"a": [KET]}})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("bad", ["recovered", "Recovery ", 3])
def test_bad_clock_is_one_line_naming_the_field_and_listing_recovery(bad):
    listed = r": use one of response, entry, recovery, got" if isinstance(bad, str) else ""  # (3: a type error)
    with pytest.raises(InputError, match=r"^population\.recurrence_clock" + listed) as e:
        scenario_from_dict({"name": "b", "population": {"size": 2, "recurrence_clock": bad}, "arms": {"a": [KET]}})
    assert "\n" not in str(e.value)


def test_personal_forecast_conditions_each_draw_on_its_time_since_recovery():
    """Personal forecasts on the clock from recovery: each posterior draw's clock at the last observation is the
    engine's time since recovery then (0 for this 6-week record: nobody can have recovered, so T comes from its prior,
    unconditioned); a year of twice-weekly sessions after the record: no draw has an episode before its own
    recovery plus T, and draws that recover do relapse at about the law's rate over the time since recovery.

    4000 posterior draws (the default 400 until the ninth session): the rate check needs >= 20 draws that recover;
    with the ninth session's candidate set 1.0-1.4 % of this patient's draws recover within the year (4 of 400, 54 of
    4000; the set before: 32 of 400), although ~80 % are at or below 10 at the visits: recovery needs every
    between-session trough at or below it for 4 months. A draw's episode given its time since recovery depends only
    on its own recurrence eta, so repeated resampled draws still give independent episode indicators."""
    import ketasim.personal as P
    from ketasim.record import read_record

    from _support import REPO

    pm = P.PatientModel(read_record(REPO / "examples" / "patient" / "patient_101.csv"))
    pm.spec = dataclasses.replace(pm.spec, recurrence_clock="recovery")
    assert pm.recurrence_clock_column == "recovery_time_h" and not pm.counts_time_in_response
    fit = P.fit_patient(pm, seed=0, n_samples=4000)
    th, t_last = fit.samples, pm.record.last_observation_h
    r = pm.recurrence_clock_at_last(th)
    assert r.shape == (th.shape[0],) and np.all(r == 0.0)
    z = np.random.default_rng([3, P.RECURRENCE_STREAM]).standard_normal(th.shape[0])
    assert np.array_equal(pm.recurrence_etas(th.shape[0], 3, th), z)           # R = 0: the prior itself
    # a positive clock conditions as on the other Weibull clock: T > R
    eta = pm.recurrence_etas(th.shape[0], 3, clock_at_last=np.full(th.shape[0], 2000.0))
    assert np.all(pm.recurrence_times_h(eta) > 2000.0)
    days = np.array([60.0, 200.0, 365.0])
    continued = [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min",
                  "at": f"{t_last + 0.5} h", "every": "3.5 d", "count": 105}]
    fc = P.forecast(fit, continued, times_h=t_last + days * 24, grid=False, seed=11)
    assert np.all(fc.recurrence_clock_at_last_h == 0.0)
    eta = pm.recurrence_etas(th.shape[0], 11, clock_at_last=fc.recurrence_clock_at_last_h)
    assert np.array_equal(pm.recurrence_times_h(eta), fc.recurrence_h)
    out, _, _, _ = pm.run(th, fc.regimen, fc.times_h, eta_recurrence=eta)
    rt, ep = out[:, :, K.OUT_NAMES.index("recovery_time_h")], out[:, :, K.OUT_NAMES.index("episode")]
    assert not np.any((ep > 0) & (rt <= fc.recurrence_h[:, None]))
    assert rt[:, 0].max() == 0.0                  # 60 d after a 6-week record: < 4 months, nobody recovered
    recovered = rt[:, -1] > 0
    assert recovered.sum() >= 20, recovered.sum()
    law = pm.recurrence_law
    p = float(np.mean(1.0 - np.exp(-law.cumulative_hazard(rt[recovered, -1]))))
    m = recovered.sum()
    assert np.mean(ep[recovered, -1] > 0) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / m) + 0.02)
