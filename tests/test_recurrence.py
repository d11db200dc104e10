"""Recurrence of a depressive episode on continued treatment (issue 7, maintenance).

Each patient has a recurrence time T counted in time spent in response (treated severity <= half of baseline,
smoothed: output response_time_h): Weibull with shape pd.recurrence.weibull_shape (Kanai 2003: the risk falls with
time since recovery) and P(T <= 12 months) = p12, the 12-month relapse probability of STAR*D remitters who continued
their treatment (pd.recurrence.*); H(T) = -ln(1 - Phi(eta_recurrence)). Once the time in response passes T a new
episode begins in clock time (two-stage onset, half of it at pd.recurrence.onset_t_half after the onset) and takes
the score back to the patient's baseline whatever the treatment. ``population.recurrence_clock: entry`` is the model
before: T exponential from trial entry. ``population.recurrence: false`` switches it off. With the
re-response hypothesis (``population.re_response: true``, off by default), active sessions after the onset relieve it
again in part (its effective size is episode / reconsolidation); off, reconsolidation stays exactly 1.
"""

from __future__ import annotations

import dataclasses
import math
import types

import numpy as np
import pytest
from scipy.stats import norm

import ketasim
from ketasim import scenario_from_dict
from ketasim.engine import prepare_arm, run_arm
from ketasim.errors import InputError
from ketasim.model import DEFAULT_MODEL
from ketasim.model import definition as D
from ketasim.population import PopulationSpec, sample_patients, typical_patient
from ketasim.solver import kernel as K
from ketasim.solver.reference import reference_solve
from ketasim.trial import run_trial

from _support import line, params, relative_error, scenario

HOURS_PER_YEAR = 8766.0
TRD = {"size": 400, "condition": "depression", "treatment_resistant": True, "scale": "madrs",
       "baseline": {"mean": 33, "sd": 5}}
KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
SAL = {"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}


def _hazard(trd: bool) -> float:
    """The constant hazard with the 12-month probability p12 (the clock from entry)."""
    p12 = params().get("pd.recurrence.p12_treatment_resistant" if trd else "pd.recurrence.p12")
    return -math.log(1.0 - p12) / HOURS_PER_YEAR


def _weibull_cdf(t_h, trd: bool = True) -> np.ndarray:
    """P(T <= t) of the Weibull recurrence time (time in response), computed here from the CSV's numbers."""
    p12 = params().get("pd.recurrence.p12_treatment_resistant" if trd else "pd.recurrence.p12")
    k = params().get("pd.recurrence.weibull_shape")
    return 1.0 - np.exp(math.log(1.0 - p12) * (np.asarray(t_h, float) / HOURS_PER_YEAR) ** k)


def _ctx(trd=True, recurrence=True, eta=(0.0,), clock="response"):
    spec = PopulationSpec(treatment_resistant=trd, recurrence=recurrence, recurrence_clock=clock)
    return types.SimpleNamespace(params=params(), spec=spec,
                                 patients=types.SimpleNamespace(eta_recurrence=np.asarray(eta, float), n=len(eta)))


def test_recurrence_time_keeps_star_d_12_month_probability_with_kanai_shape():
    """p12 0.335 (level 1) for a population that is not treatment resistant, the mean of levels 3-4 (0.429, 0.500)
    for a treatment-resistant one; on the default clock (time in response) T is Weibull with Kanai 2003's shape 0.52
    and P(T <= 1 year) = p12 exactly; the clock from entry keeps the constant hazard and its formula (median ln2 / h,
    405 d for a TRD patient); off = never."""
    p = params()
    assert p.get("pd.recurrence.p12") == 0.335
    assert p.get("pd.recurrence.p12_treatment_resistant") == pytest.approx((0.429 + 0.500) / 2)
    assert p.get("pd.recurrence.onset_t_half", "d") == 7.0
    assert p.get("pd.recurrence.weibull_shape") == 0.52
    assert p.get("pd.recurrence.response_threshold") == 0.5
    # Kanai 2003: well without a full relapse 79 / 70 / 58 % at 1 / 2 / 5 y -> least-squares slope of ln(-ln S)
    x, y = np.log([1.0, 2.0, 5.0]), np.log(-np.log([0.79, 0.70, 0.58]))
    assert np.polyfit(x, y, 1)[0] == pytest.approx(0.52, abs=0.005)
    for trd in (False, True):
        h = _hazard(trd)
        p12 = 1 - math.exp(-h * HOURS_PER_YEAR)
        eta = (0.0, -1.0, 1.0, 9.0, float(norm.isf(1 - p12)))
        t = D._recurrence_time(_ctx(trd, eta=eta))
        assert 0 < t[1] < t[0] < t[2] < t[3] and np.isfinite(t).all()    # Phi(9) rounds to 1: logsf stays finite
        assert t[4] == pytest.approx(HOURS_PER_YEAR, rel=1e-9)              # P(T <= 1 year) = p12
        assert _weibull_cdf(t[:3], trd) == pytest.approx(norm.cdf([0.0, -1.0, 1.0]), rel=1e-9)
        law = D.recurrence_law(_ctx(trd))
        assert (law.p12, law.shape) == (pytest.approx(p12, rel=1e-12), 0.52)
        # the clock from entry: the constant hazard, the old formula bit for bit
        te = D._recurrence_time(_ctx(trd, eta=eta, clock="entry"))
        assert np.array_equal(te, -norm.logsf(np.asarray(eta)) / h)
        assert te[0] == pytest.approx(math.log(2) / h, rel=1e-12)
        assert D.recurrence_hazard(_ctx(trd)) == pytest.approx(h, rel=1e-15)
    assert D._recurrence_time(_ctx(recurrence=False))[0] > 10 * HOURS_PER_YEAR
    # the typical TRD patient's median: 405 d from entry (constant hazard), 446 d of time in response (Weibull)
    assert math.log(2) / _hazard(True) / 24 == pytest.approx(405, abs=1)
    assert D._recurrence_time(_ctx(True))[0] / 24 == pytest.approx(446, abs=1)


def test_conditional_draw_is_the_law_given_survival():
    """RecurrenceLaw.eta_given_beyond (the personal forecast's draw of T given T > R, R the time in response at the
    last observation) gives the same distribution as drawing T from the law and keeping those beyond R (rejection),
    and for shape 1 it is the memoryless R + Exp(h)."""
    law = D.recurrence_law(_ctx(True))
    rng = np.random.default_rng(4)
    for r_h in (0.0, 24.0 * 30, 24.0 * 200):
        z = rng.standard_normal(40000)
        t_cond = law.time_h(law.eta_given_beyond(z, r_h))
        assert t_cond.min() >= r_h
        t_all = law.time_h(rng.standard_normal(400000))
        kept = t_all[t_all > r_h]
        for q in (0.1, 0.25, 0.5, 0.75, 0.9):      # quantiles of the two samples (each to ~1 %)
            assert np.quantile(t_cond, q) == pytest.approx(np.quantile(kept, q), rel=0.04)
    # falling hazard: conditioned on 200 d in response, 12 more months bring fewer recurrences than the first 12
    z = rng.standard_normal(40000)
    late = law.time_h(law.eta_given_beyond(z, 24.0 * 200))
    assert np.mean(late <= 24.0 * 200 + HOURS_PER_YEAR) < law.p12 - 0.1
    exp = D.RecurrenceLaw(law.p12, 1.0)
    wait = exp.time_h(exp.eta_given_beyond(z, 1000.0)) - 1000.0
    assert wait == pytest.approx(exp.time_h(z), rel=1e-6, abs=1e-6)        # memoryless


# values of main before eta_recurrence existed (seed 20261121, default population, patients 0-2)
BEFORE = {
    "weight_kg": [56.87382997931874, 80.11673225933735, 91.57356836550005],
    "age_years": [55.55650667520838, 60.766648373424616, 31.758610116804306],
    "genotype_factor": [0.5, 1.0, 0.75],
    "crp_mg_l": [6.170008843840628, 2.490668983264009, 1.7267335342242591],
    "baseline": [31.112610841312357, 37.89259887399968, 24.983023634682244],
    "eta_cl": [-0.6502462082163329, -1.3260377948478885, 2.0884552901550792],
    "eta_v": [0.2753425748876256, 1.6960972171278592, 0.5284458538110808],
    "eta_f": [0.6239303407889969, 0.9528529452354874, -0.2078489097685571],
    "eta_ke0": [1.3713880788046187, 1.5432962586050558, 1.1494969447232357],
    "eta_emax": [0.5109140052807648, -0.00936972180703962, 0.2340811938556682],
    "eta_placebo": [0.36313779095563226, 0.6034319071245795, 0.6905126646327279],
    "eta_bp": [-1.9905241730618464, 0.935661128540785, -1.1215478761736566],
    "eta_dissociation": [-0.8750577228697165, -0.1268161904211203, -1.3584579878974723],
    "eta_response": [0.24215699117792563, -0.6366680386197179, -1.638389271804854],
}


def test_existing_random_effects_of_a_seed_are_unchanged():
    pts = sample_patients(PopulationSpec(size=5), params(), 20261121)
    for name, values in BEFORE.items():
        if name == "crp_mg_l":       # same normal draws; the distribution changed (Osimo 2019: 1.8/2.6 -> 1.31/3.85)
            z = np.log(np.array(values) / 1.8) / np.log(2.6)
            values = (params().get("pop.crp_median", "mg/L") * np.exp(np.log(params().get("pop.crp_gsd")) * z)).tolist()
            assert getattr(pts, name)[:3] == pytest.approx(values, rel=1e-12), name
            continue
        assert getattr(pts, name)[:3].tolist() == values, name
    assert pts.female[:3].tolist() == [True, False, True]
    r = pts.eta_recurrence
    assert np.isfinite(r).all() and not any(np.array_equal(r, getattr(pts, f)) for f in BEFORE)
    big = sample_patients(PopulationSpec(size=20000), params(), 7).eta_recurrence
    assert abs(big.mean()) < 0.04 and abs(big.std() - 1) < 0.03      # standard normal


#: the model with every patient held in response from trial entry (time in response = time since entry)
HELD_IN_RESPONSE = DEFAULT_MODEL.replace("in_response", expr="1")


def test_share_with_an_episode_follows_the_weibull_law_in_response_and_the_early_months_carry_more():
    """A population held in response (the in-response indicator set to 1, so the recurrence clock runs from entry):
    the share of patients whose new episode has begun (episode > 0) by t follows P(T <= t) of the Weibull law, and by
    12 months it is p12 (Monte-Carlo tolerance: 4 binomial SD, +-0.036 at n = 3000). With Weibull shape 0.52 more of
    the first year's recurrences begin in its first three months (closed form 56 %) than with the constant hazard
    from entry (31 %), measured on the same patients."""
    n = 3000
    days = np.array([3.0, 30.0, 91.3125, 180.0, 365.25, 540.0])
    for trd in (True, False):
        shares = {}
        for clock in ("response", "entry"):
            sc = scenario_from_dict({"name": "r", "seed": 11, "population": {
                **TRD, "size": n, "treatment_resistant": trd, "recurrence_clock": clock}, "arms": {"a": [SAL]}})
            pts = sample_patients(sc.population, params(), 11)
            res = run_arm(sc.arms[0], sc.population, pts, days * 24, params=params(), model=HELD_IN_RESPONSE)
            ep = res.out[:, :, K.OUT_NAMES.index("episode")]
            assert ((ep >= 0) & (ep <= 1)).all()
            assert np.allclose(res.out[:, :, K.OUT_NAMES.index("response_time_h")], days * 24)
            shares[clock] = (ep > 0).mean(axis=0)
        p12 = params().get("pd.recurrence.p12_treatment_resistant" if trd else "pd.recurrence.p12")
        assert _weibull_cdf(HOURS_PER_YEAR, trd) == pytest.approx(p12)
        closed = {"response": _weibull_cdf(days * 24, trd), "entry": 1 - np.exp(-_hazard(trd) * days * 24)}
        for clock, cdf in closed.items():
            tol = 4 * np.sqrt(np.maximum(cdf * (1 - cdf), 1e-4) / n)
            assert np.all(np.abs(shares[clock] - cdf) <= tol), (trd, clock, shares[clock], cdf)
            assert shares[clock][4] == pytest.approx(p12, abs=4 * math.sqrt(p12 * (1 - p12) / n))
        early = {c: shares[c][2] / shares[c][4] for c in shares}            # first 3 months / first year
        assert early["response"] > early["entry"] + 0.15, early
        assert early["response"] == pytest.approx(_weibull_cdf(91.3125 * 24, trd) / p12, abs=0.05)


def test_no_episode_begins_before_a_patient_first_responds():
    """A TRD population on twice-weekly then weekly IV ketamine, and one on saline: a new episode begins only once
    the patient's time in response has passed T (so never before the first response); patients who never respond
    never have one, although some of them have a T that the clock from entry would have passed; on saline (few
    responders) far fewer patients have an episode than the clock from entry gave."""
    days = np.arange(0.0, 200.0 + 1e-9, 0.5)
    ind = dict(KET, every="3.5 d", count=8)
    arms = {"ket": [ind, dict(KET, at="28 d", every="7 d", count=25)], "sal": [dict(SAL, every="3.5 d", count=8)]}
    ramp = params().get("pd.recurrence.onset_ramp", "h")
    share = {}
    for clock in ("response", "entry"):
        sc = scenario_from_dict({"name": "n", "seed": 21, "population": {**TRD, "size": 300, "recurrence_clock": clock},
                                 "arms": arms})
        pts = sample_patients(sc.population, params(), 21)
        t_rec = D._recurrence_time(types.SimpleNamespace(params=params(), spec=sc.population, patients=pts))
        for arm in sc.arms:
            out = run_arm(arm, sc.population, pts, days * 24, params=params()).out
            ep = out[:, :, K.OUT_NAMES.index("episode")]
            share[clock, arm.name] = float((ep[:, -1] > 0).mean())
            if clock == "entry":
                continue
            rt = out[:, :, K.OUT_NAMES.index("response_time_h")]
            assert np.all(np.diff(rt, axis=1) >= 0) and np.all(rt <= days * 24 + 1e-6)   # a clock, never ahead
            assert not np.any((ep > 0) & (rt <= t_rec[:, None]))           # no episode before T in response ...
            assert not np.any((ep > 0) & (rt == 0.0))                       # ... so none before a first response
            never = rt[:, -1] == 0.0
            assert never.sum() >= 10 and np.all(ep[never] == 0.0)
            assert np.sum(never & (t_rec < days[-1] * 24)) >= 3   # their T would have passed on the clock from entry
            began = (rt[:, :-1] > t_rec[:, None] + ramp).any(axis=1)
            assert np.all(ep[began, -1] > 0)                                 # past T (and the ramp): it has begun
            if arm.name == "ket":
                assert began.sum() >= 20
    assert share["response", "sal"] < 0.5 * share["entry", "sal"], share


@pytest.mark.parametrize("re_response", [False, True])
def test_kernel_follows_the_onset_against_the_reference_solver(re_response):
    """A recurrence on the arm's coarse grid: the kernel against the DOP853 reference solution stays within the
    accuracy target (1e-4 relative) for every output (time in response included), whatever the place of the
    patient's T within a step: T counted in time in response (the smooth indicator and the onset ramp; measured
    worst 7.4e-5, set by severity; without recurrence synaptic proteins give 5.4e-5) for a responder and a patient
    with a smaller response, and once on the clock from entry (measured 1.8e-5 before; a one-stage onset's kink
    cost 2.2e-4); with and without the re-response hypothesis. The time in response of the typical patient (a partial
    responder: 16.5 h in response) is 0.003 h off (1.8e-4 of its range): it integrates the severity's own error."""
    p = params()
    sc = scenario([line("esketamine", "intranasal", "56 mg", every="3.5 d", count=8)])
    arm = sc.arms[0]
    times = np.unique(np.concatenate([np.arange(0.0, 42 * 24 + 1e-9, 6.0), [40 / 60, 2.0, 24.0]]))
    cases = [("response", t, e) for t in (1.0, 3.3, 10.125) for e in ((1.5, 0.0, 0.0), (0.5, -0.5, -0.3))]
    for clock, t_rec_d, (eta_emax, eta_response, eta_placebo) in cases + [("entry", 10.375, (0.0, 0.0, 0.0))]:
        pop = dataclasses.replace(sc.population, re_response=re_response, recurrence_clock=clock)
        law = D.recurrence_law(types.SimpleNamespace(spec=pop, params=p))
        eta = float(norm.isf(math.exp(-float(law.cumulative_hazard(t_rec_d * 24)))))
        pts = dataclasses.replace(typical_patient(pop, p), eta_recurrence=np.array([eta]),
                                  eta_emax=np.array([eta_emax]), eta_response=np.array([eta_response]),
                                  eta_placebo=np.array([eta_placebo]))
        got = run_arm(arm, pop, pts, times, params=p).out[0]
        ref = reference_solve(prepare_arm(arm, pop, pts, times, params=p), 0)
        for j, var in enumerate(K.OUT_NAMES):
            scale = np.max(np.abs(ref[:, j]))
            if scale > 0:
                # (time in response: judged as _support.relative_error says; the typical patient here, a partial
                # responder with 16.5 h in response, is 0.003 h off)
                assert relative_error(var, got[:, j], ref[:, j]) <= 1e-4, (clock, t_rec_d, var)
        e = got[:, K.OUT_NAMES.index("episode")]
        clock_h = got[:, K.OUT_NAMES.index("response_time_h")] if clock == "response" else times
        assert e[clock_h <= t_rec_d * 24].max() == 0.0 and e[-1] > 0.5
        sev = got[:, K.OUT_NAMES.index("severity")]
        assert sev[-1] > sev[clock_h <= t_rec_d * 24][-1] + 0.2       # the new episode breaks through the sessions


def test_kernel_follows_the_onset_at_a_bound_of_the_calibration():
    """The kernel against the DOP853 reference for a parameter set a calibration can produce: responder_fraction at
    its lower bound (0.05, calibration.FITTED), where the responder case above (eta_emax 1.5) falls in the
    non-responder class and only touches the response band, so its onset is ill-conditioned (a small error in the
    time in response moves it). Every output within 1e-4 (measured 1.5e-5; 1.19e-4 on the grid without the
    decay-tail step bound, GridOptions(tail_ratio=0): solver/grid.py)."""
    # on the parameter set this case was built for (the shipped set until the eighth session of 2026-12-01), so that
    # a new calibration does not move the onset out of the run
    from pathlib import Path

    from ketasim.parameters import load_parameters

    base = load_parameters(str(Path(__file__).parent / "data" / "free_parameters_golden.json"))
    p = base.with_free({"responder_fraction": 0.05}, base.free_version, "test: calibration bound")
    sc = scenario([line("esketamine", "intranasal", "56 mg", every="3.5 d", count=8)])
    times = np.unique(np.concatenate([np.arange(0.0, 42 * 24 + 1e-9, 6.0), [40 / 60, 2.0, 24.0]]))
    # the model that set was fitted for: without the releasable BDNF pool (on by default since the twenty-ninth session)
    pop = dataclasses.replace(sc.population, recurrence_clock="response", bdnf_release_pool=False)
    law = D.recurrence_law(types.SimpleNamespace(spec=pop, params=p))
    eta = float(norm.isf(math.exp(-float(law.cumulative_hazard(3.3 * 24)))))
    pts = dataclasses.replace(typical_patient(pop, p), eta_recurrence=np.array([eta]), eta_emax=np.array([1.5]))
    got = run_arm(sc.arms[0], pop, pts, times, params=p).out[0]
    ref = reference_solve(prepare_arm(sc.arms[0], pop, pts, times, params=p), 0)
    for j, var in enumerate(K.OUT_NAMES):
        if np.max(np.abs(ref[:, j])) > 0:
            assert relative_error(var, got[:, j], ref[:, j]) <= 1e-4, var
    assert got[-1, K.OUT_NAMES.index("episode")] > 0.5      # the onset happens within the run


def test_a_relapse_responds_again_to_continued_sessions_and_not_without_them():
    """Re-response (issue 7, maintenance): a new episode on continued weekly ketamine breaks through (the score
    returns towards baseline), then continued sessions relieve it again (consolidation after its onset); the same
    patient withdrawn to weekly saline, or with no sessions at all, stays at baseline. Clinically a relapse on
    maintenance esketamine/ketamine responds to renewed sessions (open-label re-induction of relapsed patients).
    A hypothesis, off by default (population.re_response: true here); off, the continued patient stays at baseline
    too (the last assertion)."""
    p = params()
    ind = dict(KET, every="3.5 d", count=8)
    # on the clock from entry, so that the episode begins at the same time in every arm (on the default clock the
    # withdrawn and stopped patients leave response and their T would not be reached): the comparison isolates
    # the re-response
    sc = scenario_from_dict({"name": "r", "seed": 1, "population": {**TRD, "size": 1, "re_response": True,
                                                                    "recurrence_clock": "entry"}, "arms": {
        "continue": [ind, dict(KET, at="28 d", every="7 d", count=30)],
        "withdraw": [ind, dict(SAL, at="28 d", every="7 d", count=30)],
        "stop": [ind]}})
    t_rec = 60 * 24.0
    eta = float(norm.isf(math.exp(-_hazard(True) * t_rec)))
    days = np.array([55.9, 62.9, 69.9, 76.9, 83.9, 97.9, 111.9, 139.9, 167.9, 195.9])
    for eta_emax in (0.0, 1.5):                     # the typical patient (drug non-responder class) and a responder
        pts = dataclasses.replace(typical_patient(sc.population, p), eta_recurrence=np.array([eta]),
                                  eta_emax=np.array([eta_emax]))
        sev = {arm.name: run_arm(arm, sc.population, pts, days * 24, params=p).out[0, :, K.OUT_NAMES.index("severity")]
               for arm in sc.arms}
        c, w, s = sev["continue"], sev["withdraw"], sev["stop"]
        assert w[-1] > 0.99 and s[-1] > 0.99                       # no re-response without active sessions
        k = int(np.argmax(c))
        # the breakthrough takes back more than half of the relief the patient had before the onset (c[0], day
        # 55.9; the onset is at day 60), then ... (ninth session, 2026-12-02: was a fixed 0.15 of baseline, sized on
        # sets where the typical patient had 0.23 of relief; the candidate set leaves him 0.20 (0.797 of baseline) and
        # its faster reconsolidation (consolidation_gain 2.0) turns the score back a week earlier: rise 0.124 = 61 %
        # of his relief, 0.208 = 62 % for the responder; the shipped set of 2026-12-01: 76 % / 77 %)
        assert c[k] - c[0] > 0.5 * (1.0 - c[0]) and 0 < k < len(days) - 3
        # ... relief regained, steadily. How much depends on the set: 0.13 of baseline by day 196 with the twenty-
        # fourth session's set (pool off), 0.019 with the twenty-ninth's (the releasable BDNF pool caps each weekly
        # session's plasticity drive and the fit halved consolidation_gain, 0.76 -> 0.42); 0.07 / 0.12 until then;
        # 0.008 with the forty-fourth session's set (consolidation_gain 0.19), 0.017 below the withdrawn patient's
        # (margins 0.005 / 0.01 since then, 0.01 / 0.02 before: the hypothesis is weak at this set, NOTES Known limits)
        assert c[-1] < c[k] - 0.005 and np.all(np.diff(c[k + 1:]) <= 1e-9)
        assert c[-1] < w[-1] - 0.01
        off = dataclasses.replace(sc.population, re_response=False)     # the default: no re-response
        assert run_arm(sc.arms[0], off, pts, days * 24, params=p).out[0, -1, K.OUT_NAMES.index("severity")] > 0.99


def _withdrawal(recurrence=True, n=2000):
    induction = dict(KET, every="3.5 d", count=8)
    cont = [induction, dict(KET, at="28 d", every="7 d", count=24)]
    stop = [induction, dict(SAL, at="28 d", every="7 d", count=24)]
    d = {"name": "w", "seed": 5, "population": {**TRD, "recurrence": recurrence},
         "arms": {"continue": cont, "withdraw": stop},
         "endpoints": {"times": ["28 d", "26 week"], "measures": ["mean", "relapse_rate"]},
         "design": {"type": "randomized_withdrawal", "induction_until": "28 d", "criterion": "stable_remission",
                    "relapse_score": 22, "continue": "continue", "withdraw": "withdraw"}}
    return run_trial(scenario_from_dict(d), n=n)


def test_stable_remitters_who_continue_now_relapse_but_less_than_withdrawn():
    on, off = _withdrawal(True), _withdrawal(False)
    rel_on = {r["arm"]: r["value"] for r in on.endpoints if r["measure"] == "relapse_rate"}
    rel_off = {r["arm"]: r["value"] for r in off.endpoints if r["measure"] == "relapse_rate"}
    # without recurrence continued treatment relapses only through the week-to-week fluctuation of severity (6.1 %
    # before it existed; 17 % with it, nineteenth session): no more than continued antidepressants do by 6 months
    # (19.6 %, Kato 2021 Mol Psychiatry PMC7815511; ~260 stable remitters per arm: binomial SE ~2.4 pp); recurrence
    # adds most
    assert rel_off["continue"] < 25.0
    assert rel_on["continue"] > rel_off["continue"] + 10.0
    assert rel_on["withdraw"] > rel_on["continue"]
    # withdrawn patients lose response, which stops the recurrence clock (time in response): recurrence adds little
    # there, and who is a stable remitter differs between the runs (~260 per arm: binomial SE ~1.8 pp at 91 %)
    assert rel_on["withdraw"] >= rel_off["withdraw"] - 4.0


def test_single_infusion_day_one_is_essentially_unchanged():
    def trial(rec):
        d = {"name": "s", "seed": 3, "population": {**TRD, "recurrence": rec}, "arms": {"ketamine": [KET]},
             "endpoints": {"times": ["2 h", "24 h"], "measures": ["mean", "response_rate"], "rating_noise": False}}
        return ketasim.simulate(scenario_from_dict(d), output_times_h=[2.0, 24.0])
    on, off = trial(True), trial(False)
    s = K.OUT_NAMES.index("score")
    diff = np.abs(on.runs[0].out[:, :, s] - off.runs[0].out[:, :, s])
    assert diff[:, 0].max() < 0.05 and diff.mean() < 0.01          # points (MADRS)
    # an episode can begin within the first day only for patients in response since the infusion, at most
    # P(T < 24 h in response) = 2.9 % (Weibull shape 0.52; 0.17 % with the constant hazard from entry), and it is
    # then only starting (two-stage onset): a fraction of a point at 24 h
    assert (diff[:, 1] > 0).mean() <= _weibull_cdf(24.0) and diff[:, 1].max() < 0.5


def test_switched_off_is_the_model_without_recurrence():
    """recurrence: false gives every output bit for bit what the model without the episode term gives (severity =
    the treated severity, as before; measured against main's kernel too: identical, and so is
    population.recurrence_clock: entry against main's default, with and without re-response). On, the outputs are
    the same until the patient's time in response passes T (on either clock)."""
    old = DEFAULT_MODEL.replace("severity", expr="treated_severity")
    lines = [dict(KET, every="3.5 d", count=8), {"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}]
    sc = scenario_from_dict({"name": "o", "seed": 9, "population": {**TRD, "size": 40, "recurrence": False},
                             "arms": {"a": lines}})
    times = np.arange(0.0, 120 * 24 + 1, 12.0)
    pts = sample_patients(sc.population, params(), 9)
    new = run_arm(sc.arms[0], sc.population, pts, times, params=params())
    ref = run_arm(sc.arms[0], sc.population, pts, times, params=params(), model=old)
    # the same equations in two compiled kernels: identical when the dynamic kernel comes from numba's cache, within
    # a few ulps when it is compiled afresh in the process (forty-ninth session: 278 of 337,400 values, max relative
    # 1.4e-15, in the mechanism chain's states; a fresh machine's /tmp has no cache). A model difference is >> 1e-12.
    np.testing.assert_allclose(new.out, ref.out, rtol=1e-12, atol=1e-12)
    assert np.array_equal(new.sessions, ref.sessions)
    assert new.out[:, :, K.OUT_NAMES.index("episode")].max() == 0.0
    # on: the same until a patient's recurrence time, then the episode
    for clock in ("response", "entry"):
        on_pop = dataclasses.replace(sc.population, recurrence=True, recurrence_clock=clock)
        on = run_arm(sc.arms[0], on_pop, pts, times, params=params())
        assert not np.array_equal(on.out, new.out)
        t_rec = D._recurrence_time(types.SimpleNamespace(params=params(), spec=on_pop, patients=pts))
        clock_h = new.out[:, :, K.OUT_NAMES.index("response_time_h")] if clock == "response" else times[None, :]
        before = clock_h <= t_rec[:, None]
        assert before.mean() > 0.5 and np.array_equal(on.out[before], new.out[before])


@pytest.mark.parametrize("bad", ["maybe", 2, [True]])
def test_bad_recurrence_value_is_one_line_naming_the_field(bad):
    with pytest.raises(InputError, match=r"^population\.recurrence") as e:
        scenario_from_dict({"name": "b", "population": {"size": 2, "recurrence": bad}, "arms": {"a": [KET]}})
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match=r"^population\.recurrence: must be true or false"):
        PopulationSpec(recurrence="yes")
