"""A randomized withdrawal's renewal after re-randomization follows the blinded prior, in both arms (maintenance).

After ``design.induction_until`` a randomized withdrawal is blinded 1:1: participants who continue the drug no longer
know they receive it, so each session renews expectancy with the design relation S(p) = 1 + g (p - 0.5)/0.5 at the
blinded prior p (the share of arms that continue ketamine, 1/2), not at the open-label 1 of the shared induction;
the negative-unblinding update (belief_ratio) stays on top. Direction: Rutherford 2014, J Clin Psychiatry 75:1040,
doi:10.4088/JCP.13m08797 (fluoxetine discontinuation trials: both the continued and the placebo arm worsened right
after randomization). No new free parameter: the size is the existing free design_expectancy_gain g.
"""

from __future__ import annotations


import numpy as np
import pytest

import ketasim
from ketasim import scenario_from_dict
from ketasim.engine import model_constants, prepare_arm, run_arm
from ketasim.model import DEFAULT_MODEL
from ketasim.population import typical_patient
from ketasim.solver import kernel as K
from ketasim.solver.reference import reference_solve
from ketasim.trial import run_trial

from _support import model_with_session_renewal, params, run_unblinding_arm, withdrawal_dict, relative_error
from _support import (UNBLINDING_POP as POP, ESK_84 as ESK, PLACEBO_IN as PLA, ESK_INDUCTION as INDUCTION)

EXP = K.OUT_NAMES.index("expectancy")
SEV = K.OUT_NAMES.index("severity")
T_RAND = 28 * 24.0

#: the session event before this change: the renewal keeps the prior of the induction (open label) throughout
OPEN_RENEWAL = ("session_expectancy * (1 - expectancy_feedback"
                " + expectancy_feedback * min(1, max(0, 1 - treated_severity) / feedback_scale))"
                " * belief_ratio(piecewise(prior_active_blinded, clock >= blinded_from_h, prior_active), unblinding_lr,"
                " unblinding_shortfall(perception_total - perception_mark, learnt_perception), design_gain)")


BEFORE = model_with_session_renewal(OPEN_RENEWAL, "ketasim-open-label-renewal-after-randomization")


_withdrawal_dict = withdrawal_dict    # tests/_support.py: the shared randomized-withdrawal design


_run = run_unblinding_arm     # tests/_support.py: one arm's engine run (typical or 3 patients)


def _constants(sc):
    spec = sc.population
    return dict(zip(DEFAULT_MODEL.names("constants"),
                    model_constants(params(), ketasim.VirtualExperiment(), spec.expectancy, spec.perception,
                                    p_active=spec.p_active, p_blinded=spec.p_active_blinded,
                                    blinded_from_h=spec.blinded_from_h)))


def test_continued_arm_renewal_after_randomization_is_the_blinded_one():
    """Typical patient, continued esketamine: identical to the open-label renewal up to the re-randomization; the
    first renewal after it is S(0.5)/S(1) = 1/(1 + g) of the one before this change (same state just before). Every
    later one is session_expectancy_blinded x (benefit feedback) x S(b)/S(0.5): each session feels like the drug
    learnt in the open-label induction, so the active-side update raises b above 1/2 but to at most a (exact values:
    tests/test_positive_unblinding.py): between the blinded prior's renewal and the open-label one."""
    sc = scenario_from_dict(_withdrawal_dict())
    assert (sc.population.p_active, sc.population.p_active_blinded) == (1.0, 0.5)
    times = np.arange(0.0, 70 * 24 + 1e-9, 3.0)
    new = _run(sc, times, typical=True).out[0]
    old = _run(sc, times, model=BEFORE, typical=True).out[0]
    first = int(np.argmin(np.abs(times - T_RAND)))
    assert np.array_equal(new[:first], old[:first])                       # the induction: bit for bit
    mc = _constants(sc)
    g = mc["design_gain"]
    assert mc["session_expectancy"] == pytest.approx(1.0 + g) and mc["session_expectancy_blinded"] == 1.0
    assert new[first, EXP] == pytest.approx(old[first, EXP] / (1.0 + g), rel=1e-9)
    assert new[first, EXP] < old[first, EXP]        # lowered (exactly 1/(1 + g) of it: the line above)
    fb, scale = mc["expectancy_feedback"], mc["feedback_scale"]
    a = params().get("pd.expectancy.unblinding_accuracy")
    for d in (35.0, 42.0, 56.0, 63.0):
        i = int(np.argmin(np.abs(times - d * 24)))
        blinded = mc["session_expectancy_blinded"] * (1 - fb + fb * min(1.0, max(0.0, 1 - new[i, SEV]) / scale))
        assert blinded < new[i, EXP] <= (1 + g * (a - 0.5) / 0.5) * blinded * (1 + 1e-9), d
        assert new[i, EXP] < old[i, EXP]
    late = times > T_RAND + 7 * 24
    assert np.all(new[late, SEV] >= old[late, SEV]) and np.any(new[late, SEV] > old[late, SEV] + 0.001)


def test_withdrawn_arm_renewal_is_the_blinded_one_with_the_unblinding_update():
    """Typical patient, switched to placebo: the first placebo renewal is S(0.5)/S(1) of before; the later ones
    S(posterior) x (benefit feedback) (the negative-unblinding update on the blinded renewal)."""
    sc = scenario_from_dict(_withdrawal_dict())
    times = np.arange(0.0, 70 * 24 + 1e-9, 3.0)
    new = _run(sc, times, typical=True, arm=1).out[0]
    old = _run(sc, times, model=BEFORE, typical=True, arm=1).out[0]
    first = int(np.argmin(np.abs(times - T_RAND)))
    assert np.array_equal(new[:first], old[:first])
    mc = _constants(sc)
    g, fb, scale = mc["design_gain"], mc["expectancy_feedback"], mc["feedback_scale"]
    assert new[first, EXP] == pytest.approx(old[first, EXP] / (1.0 + g), rel=1e-9)
    post = 0.5 * (0.12 / 0.88) / (0.5 * (0.12 / 0.88) + 0.5)
    for d in (42.0, 56.0):
        i = int(np.argmin(np.abs(times - d * 24)))
        full = (1 + g * (post - 0.5) / 0.5) * (1 - fb + fb * min(1.0, max(0.0, 1 - new[i, SEV]) / scale))
        assert new[i, EXP] == pytest.approx(full, rel=1e-3), d


def test_continued_relapse_does_not_fall_withdrawn_still_relapses_more():
    sc = scenario_from_dict({**_withdrawal_dict(weeks=24),
                             "endpoints": {"times": ["28 d", "26 week"], "measures": ["mean", "relapse_rate"]}})

    def relapse(model):
        res = run_trial(sc, n=1500, model=model)
        return {r["arm"]: r["value"] for r in res.endpoints if r["measure"] == "relapse_rate"}

    new, old = relapse(None), relapse(BEFORE)
    assert new["continue"] >= old["continue"]     # (+6 pp with the blinded prior alone; the active-side update,
    assert new["withdraw"] >= old["withdraw"]     # tests/test_positive_unblinding.py, takes most of it back)
    assert new["withdraw"] > new["continue"] + 10.0


def test_other_designs_are_bit_identical():
    """Open label, a blinded parallel trial with placebo after esketamine, and a randomized withdrawal whose prior is
    given (population.p_active: one prior throughout): every output as before this change, bit for bit."""
    times = np.arange(0.0, 60 * 24 + 1e-9, 12.0)
    arms = {"c": [INDUCTION, dict(ESK, at="28 d", every="7 d", count=4)],
            "w": [INDUCTION, dict(PLA, at="28 d", every="7 d", count=4)]}
    cases = [
        scenario_from_dict({"name": "o", "population": {**POP, "size": 40}, "arms": {"w": arms["w"]}}),
        scenario_from_dict({"name": "p", "population": {**POP, "size": 40, "p_active": 0.5}, "arms": arms}),
        scenario_from_dict(_withdrawal_dict(weeks=4, size=40, pop={"p_active": 0.5})),
    ]
    for sc in cases:
        assert sc.population.p_active_blinded is None
        for k in range(len(sc.arms)):
            new, old = _run(sc, times, arm=k), _run(sc, times, model=BEFORE, arm=k)
            assert np.array_equal(new.out, old.out), (sc.name, sc.arms[k].name)
            assert np.array_equal(new.sessions, old.sessions)


@pytest.mark.parametrize("arm", [0, 1])
def test_kernel_against_the_reference_solver_across_the_randomization(arm):
    """kernel vs DOP853 reference <= 1e-4 relative, every output, typical patient of each arm of a withdrawal."""
    p = params()
    sc = scenario_from_dict(_withdrawal_dict(weeks=3))
    times = np.unique(np.concatenate([np.arange(0.0, 45 * 24 + 1e-9, 6.0), [0.5, 2.0, 24.0]]))
    pts = typical_patient(sc.population, p)
    got = run_arm(sc.arms[arm], sc.population, pts, times, params=p).out[0]
    ref = reference_solve(prepare_arm(sc.arms[arm], sc.population, pts, times, params=p), 0)
    for j, var in enumerate(K.OUT_NAMES):
        scale = np.max(np.abs(ref[:, j]))
        if scale > 0:
            assert relative_error(var, got[:, j], ref[:, j]) <= 1e-4, var      # (time in response: see _support)
    old = run_arm(sc.arms[arm], sc.population, pts, times, params=p, model=BEFORE).out[0]
    assert np.all(got[times > T_RAND, EXP] < old[times > T_RAND, EXP])     # the change acts in this check
