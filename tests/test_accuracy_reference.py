"""The compiled kernel against the tight-tolerance reference solution (``ketasim.solver.reference``).

The reference integrates the same model in compartment amounts with DOP853 at rtol 1e-11, so it checks the
kernel's modal transform, exponential-integrator weights, event handling and time grid. The metric is the one
the benchmark uses: per output variable, max over output times of |got - ref| / max|ref|.
"""

from __future__ import annotations

import numpy as np
import pytest

from ketasim.engine import prepare_arm, run_arm
from ketasim.population import typical_patient
from ketasim.solver import kernel as K
from ketasim.solver.reference import reference_solve

from _support import line, params, relative_error, scenario

# DESIGN.md "Performance targets": <= 1e-4 relative error against a tight-tolerance reference solution.
ACCURACY = 1e-4

CASES = {
    "racemic-iv-infusion": [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")],
    "esketamine-intranasal-twice-weekly": [line("esketamine", "intranasal", "56 mg", every="3.5 d", count=8)],
    "racemic-oral": [line("racemic-ketamine", "oral", "50 mg")],
    "midazolam-iv-infusion": [line("midazolam", "iv-infusion", "0.045 mg/kg", duration="40 min")],
    # a fast depot (IM absorption) feeding the parent modes through the quadratic forcing. Typical patient: worst
    # 5.7e-5 (nausea), cadss 1.2e-5; sampled patients reach 4e-4 (cadss at 40 min: the effect site's quadratic
    # forcing during absorption; an exact depot input alone did not fix it, see NOTES)
    "racemic-intramuscular": [line("racemic-ketamine", "intramuscular", "0.5 mg/kg")],
}


def benchmark_times(last_dose_h: float) -> np.ndarray:
    """Every 6 h over 28 days (and 14 days past the last dose), plus 40 min, 2 h and 24 h."""
    until = max(28 * 24.0, last_dose_h + 14 * 24.0)
    return np.unique(np.concatenate([np.arange(0.0, until + 1e-9, 6.0), [40 / 60, 2.0, 24.0]]))


@pytest.fixture(scope="module", params=list(CASES))
def solved(request):
    sc = scenario(CASES[request.param])
    arm = sc.arms[0]
    times = benchmark_times(arm.last_time_h)
    pts = typical_patient(sc.population, params())
    run = run_arm(arm, sc.population, pts, times, params=params())
    ref = reference_solve(prepare_arm(arm, sc.population, pts, times, params=params()), 0)
    return request.param, run.out[0], ref


def test_kernel_matches_reference_solution(solved):
    name, got, ref = solved
    assert got.shape == ref.shape
    assert np.isfinite(ref).all() and np.isfinite(got).all()
    errors = {}
    for j, var in enumerate(K.OUT_NAMES):
        scale = np.max(np.abs(ref[:, j]))
        if scale == 0.0:
            # a variable the regimen does not touch (e.g. midazolam in a ketamine arm) must be exactly zero/flat
            assert np.max(np.abs(got[:, j])) == 0.0, f"{name}: {var} should be identically zero"
            continue
        errors[var] = relative_error(var, got[:, j], ref[:, j])      # (time in response: see _support)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= ACCURACY, f"{name}: {worst} relative error {errors[worst]:.2e}"


def test_reference_is_not_trivial(solved):
    """Guard against a vacuous comparison: the regimen really moves the chain in the reference."""
    name, _, ref = solved
    j = K.OUT_NAMES.index
    if name.startswith("midazolam"):
        assert ref[:, j("cp_midazolam_ng_ml")].max() > 1.0      # ng/mL: a sedative level was reached
        assert ref[:, j("sedation")].max() > 0.1
    else:
        assert ref[:, j("cp_ketamine_ng_ml")].max() > 1.0
        assert ref[:, j("synaptic_proteins")].max() > 1.01
        assert ref[:, j("severity")].min() < 0.99
