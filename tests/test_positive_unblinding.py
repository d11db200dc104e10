"""The symmetric (active-side) unblinding update after a randomized withdrawal's re-randomization (maintenance).

A blinded session that brought the perceptible effect the participant had learnt, in the open-label induction, to be
the drug's raises the believed probability of active drug by the inverse of the likelihood ratio that lowers it after
a session without the effect: LR = (1 - a)/a, a = pd.expectancy.unblinding_accuracy (Sumner 2020), no new
parameter. Only where the learnt effect is known to be the drug's (an open-label phase before the blinded one): in a
fully blinded design sessions that all feel alike say nothing about the allocation (Shiroma 2020: six identical
ketamine infusions, allocation guessed at chance), so those designs are unchanged. The belief is not accumulated over
sessions (each renewal uses the posterior of the last session's evidence), so it is at most a and the renewal stays
below the open-label one.

"Today" below is the model before this change (negative side only; its session event is written out here).
"""

from __future__ import annotations


import numpy as np
import pytest

import ketasim
from ketasim import scenario_from_dict
from ketasim.engine import model_constants
from ketasim.model import DEFAULT_MODEL
from ketasim.solver import kernel as K
from ketasim.trial import run_trial

from _support import model_with_session_renewal, params, run_unblinding_arm, withdrawal_dict
from _support import (UNBLINDING_POP as POP, ESK_84 as ESK, PLACEBO_IN as PLA, KETAMINE_IV as KET, SALINE_IV as SAL,
                      MIDAZOLAM_IV as MDZ, ESK_INDUCTION as INDUCTION)

EXP = K.OUT_NAMES.index("expectancy")
SEV = K.OUT_NAMES.index("severity")
T_RAND = 28 * 24.0

#: the session event before this change: only a session that lacked the learnt effect moved the belief
TODAY_RENEWAL = ("piecewise(session_expectancy_blinded, clock >= blinded_from_h, session_expectancy)"
                 " * (1 - expectancy_feedback"
                 " + expectancy_feedback * min(1, max(0, 1 - treated_severity) / feedback_scale))"
                 " * belief_ratio(piecewise(prior_active_blinded, clock >= blinded_from_h, prior_active),"
                 " unblinding_lr, unblinding_shortfall(perception_total - perception_mark, learnt_perception),"
                 " design_gain)")

TODAY = model_with_session_renewal(TODAY_RENEWAL, "ketasim-negative-unblinding-only")


_withdrawal_dict = withdrawal_dict    # tests/_support.py: the shared randomized-withdrawal design


_run = run_unblinding_arm     # tests/_support.py: one arm's engine run (typical or 3 patients)


def _constants(sc, p=None):
    spec = sc.population
    return dict(zip(DEFAULT_MODEL.names("constants"),
                    model_constants(p or params(), ketasim.VirtualExperiment(), spec.expectancy, spec.perception,
                                    p_active=spec.p_active, p_blinded=spec.p_active_blinded,
                                    blinded_from_h=spec.blinded_from_h)))


def _s(p, g):
    """The design relation S(p) = 1 + g (p - 0.5)/0.5."""
    return 1.0 + g * (p - 0.5) / 0.5


def _posterior(prior, lr, evidence):
    return prior * lr ** evidence / (prior * lr ** evidence + 1.0 - prior)


def test_continued_sessions_that_feel_like_the_drug_raise_the_next_renewal():
    """Typical patient, continued esketamine after the re-randomization: bit for bit today's model through the first
    blinded renewal (its evidence is an open-label induction session: nothing about the new allocation); every later
    renewal is S(b) x (benefit feedback) with b the posterior of the blinded prior 1/2 after a session that brought
    (nearly) the learnt effect: b between the update by LR^-0.8 and a = 0.88, i.e. above today's S(0.5) = 1 and below
    the open-label S(1) = 1 + g. The score is never worse than today's and somewhere better."""
    sc = scenario_from_dict(_withdrawal_dict())
    assert (sc.population.p_active, sc.population.p_active_blinded) == (1.0, 0.5)
    times = np.arange(0.0, 70 * 24 + 1e-9, 3.0)
    new = _run(sc, times, typical=True).out[0]
    today = _run(sc, times, model=TODAY, typical=True).out[0]
    first = int(np.argmin(np.abs(times - T_RAND)))
    assert np.array_equal(new[: first + 1], today[: first + 1])
    mc = _constants(sc)
    g, fb, scale, lr = mc["design_gain"], mc["expectancy_feedback"], mc["feedback_scale"], mc["unblinding_lr"]
    assert mc["learnt_known_active"] == 1.0
    a = params().get("pd.expectancy.unblinding_accuracy")
    lo, hi = _s(_posterior(0.5, lr, -0.8), g), _s(a, g)
    assert hi == pytest.approx(_s(_posterior(0.5, lr, -1.0), g), rel=1e-12) and hi < 1.0 + g
    for d in (35.0, 42.0, 56.0, 63.0):
        i = int(np.argmin(np.abs(times - d * 24)))
        full = mc["session_expectancy_blinded"] * (1 - fb + fb * min(1.0, max(0.0, 1 - new[i, SEV]) / scale))
        assert lo * (1 - 1e-3) <= new[i, EXP] / full <= hi * (1 + 1e-3), d
        assert new[i, EXP] > 1.3 * today[i, EXP], d
    late = times > T_RAND + 7 * 24
    assert np.all(new[late, SEV] <= today[late, SEV]) and np.any(new[late, SEV] < today[late, SEV] - 0.01)


def test_withdrawn_arm_is_unchanged():
    """Placebo sessions never bring the learnt effect: the withdrawn arm is today's, bit for bit (typical patient and
    30 sampled patients)."""
    sc = scenario_from_dict(_withdrawal_dict(size=30))
    times = np.arange(0.0, 70 * 24 + 1e-9, 6.0)
    for typical in (True, False):
        new, today = _run(sc, times, typical=typical, arm=1), _run(sc, times, model=TODAY, typical=typical, arm=1)
        assert np.array_equal(new.out, today.out) and np.array_equal(new.sessions, today.sessions)


def test_designs_without_a_known_reference_are_unchanged():
    """Open label (also with placebo sessions after esketamine), single blinded sessions, blinded parallel series of
    esketamine, ketamine and midazolam (every session feels like the last one, but nothing says it is the drug), a
    crossover with carry-over and a randomized withdrawal whose prior is given (population.p_active 0.5: the
    induction was not open label): every output and session table bit for bit today's."""
    times = np.arange(0.0, 60 * 24 + 1e-9, 12.0)
    arms = {"c": [INDUCTION, dict(ESK, at="28 d", every="7 d", count=4)],
            "w": [INDUCTION, dict(PLA, at="28 d", every="7 d", count=4)]}
    cases = [
        scenario_from_dict({"name": "o", "population": {**POP, "size": 40}, "arms": {"w": arms["w"]}}),
        scenario_from_dict({"name": "o2", "population": {**POP, "size": 40}, "arms": {"c": arms["c"]}}),
        scenario_from_dict({"name": "s", "population": {**POP, "size": 40}, "arms": {"k": [KET], "s": [SAL]}}),
        scenario_from_dict({"name": "e", "population": {**POP, "size": 40},
                            "arms": {"k": [ESK], "p": [PLA]}}),
        scenario_from_dict({"name": "p", "population": {**POP, "size": 60, "p_active": 0.5}, "arms": arms}),
        scenario_from_dict({"name": "k", "population": {**POP, "size": 60},
                            "arms": {"k": [dict(KET, every="3.5 d", count=8)],
                                     "m": [dict(MDZ, every="3.5 d", count=8)]}}),
        scenario_from_dict({"name": "es", "population": {**POP, "size": 60},
                            "arms": {"k": [dict(ESK, every="3.5 d", count=16)],
                                     "p": [dict(PLA, every="3.5 d", count=16)]}}),
        scenario_from_dict(_withdrawal_dict(weeks=4, size=40, pop={"p_active": 0.5})),
    ]
    for sc in cases:
        for k in range(len(sc.arms)):
            new, today = _run(sc, times, arm=k), _run(sc, times, model=TODAY, arm=k)
            assert np.array_equal(new.out, today.out), (sc.name, sc.arms[k].name)
            assert np.array_equal(new.sessions, today.sessions), (sc.name, sc.arms[k].name)
    # a crossover (ketamine, then saline one week later) is blinded throughout: unchanged
    cross = scenario_from_dict({"name": "x", "population": {**POP, "size": 30},
                                "arms": {"ks": [KET, dict(SAL, at="7 d")], "sk": [SAL, dict(KET, at="7 d")]}})
    for k in range(2):
        new, today = _run(cross, times, arm=k), _run(cross, times, model=TODAY, arm=k)
        assert np.array_equal(new.out, today.out)


@pytest.mark.parametrize("accuracy", [0.88, 0.99])
def test_the_renewal_never_exceeds_the_open_label_one_and_does_not_accumulate(accuracy):
    """40 weekly continued sessions after the re-randomization (60 sampled patients): every renewal is at most the
    open-label renewal S(1) x (benefit feedback) and at most S(a) x feedback (the belief is the posterior of one
    session's evidence, at most a, not accumulated towards 1): after 40 sessions that felt like the drug the renewal
    is S(a) x feedback, not the open-label one."""
    p = params().with_literature({"pd.expectancy.unblinding_accuracy": accuracy})
    # without recurrence the output severity is the treated severity that the renewal's benefit feedback reads
    sc = scenario_from_dict(_withdrawal_dict(weeks=40, size=60, pop={"recurrence": False}))
    session_times = T_RAND + 7 * 24.0 * np.arange(40)
    times = np.unique(np.concatenate([np.arange(0.0, T_RAND + 41 * 7 * 24, 24.0), session_times]))
    res = _run(sc, times, p=p)
    mc = _constants(sc, p)
    g, fb, scale = mc["design_gain"], mc["expectancy_feedback"], mc["feedback_scale"]
    idx = np.searchsorted(times, session_times)
    ratios = []
    for j in idx[1:]:
        sev = res.out[:, j, SEV]
        feedback = 1 - fb + fb * np.minimum(1.0, np.maximum(0.0, 1 - sev) / scale)
        renewal = res.out[:, j, EXP]
        assert np.all(renewal <= mc["session_expectancy"] * feedback * (1 + 1e-9))          # open label: S(1)
        assert np.all(renewal <= _s(accuracy, g) * feedback * (1 + 1e-9))                   # one session's b <= a
        ratios.append(renewal / (mc["session_expectancy_blinded"] * feedback))
    ratios = np.array(ratios)
    # sessions keep bringing the learnt effect: the belief stays at the one-session posterior a (S(a)), it does not
    # build up towards 1 (S(1) = 1 + g: 1.99 at the shipped g; S(0.99) = 1.97, S(0.88) = 1.75)
    assert np.median(ratios[-1]) == pytest.approx(_s(accuracy, g), rel=1e-2)
    assert np.median(ratios[0]) > 1.3


def test_trial_continued_relapse_falls_withdrawn_unchanged():
    """Randomized withdrawal (1500 enrolled, stable remitters, weekly esketamine vs placebo spray for 24 weeks):
    continued relapse below today's, withdrawn relapse exactly today's."""
    sc = scenario_from_dict({**_withdrawal_dict(weeks=24),
                             "endpoints": {"times": ["28 d", "26 week"], "measures": ["mean", "relapse_rate"]}})

    def relapse(model):
        res = run_trial(sc, n=1500, model=model)
        return {r["arm"]: r["value"] for r in res.endpoints if r["measure"] == "relapse_rate"}

    new, today = relapse(None), relapse(TODAY)
    assert new["continue"] < today["continue"]
    assert new["withdraw"] == today["withdraw"]
    assert new["withdraw"] > new["continue"] + 10.0
