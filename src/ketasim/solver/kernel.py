"""The compiled engine: every virtual patient of an arm integrated along the arm's shared grid.

The kernel is *generated* from the model definition (``ketasim.model.definition`` -> ``ketasim.model.codegen``
-> ``solver/generated_kernel.py``); this module re-exports the default model's kernel and its layout constants
and gives the kernel of any other model (``kernel_for``).

Each state obeys ``dx/dt = lam x + f(t)`` where ``f`` depends only on states *upstream* in the chain, so one
step visits the links in chain order and, for each, (1) evaluates its forcing at the start, middle and end
of the step from upstream values already advanced, and (2) advances it with the exact-exponential weights
of ``expint``. PK blocks are advanced in their modal coordinates (exact for infusions). Dosing events are
applied exactly at grid points. Patients run in parallel (numba ``prange``), with no Python per patient.

Array layouts (names in the model definition, in order):

* ``mc``  — model constants shared by all patients (``MC_NAMES``)
* ``pp``  — per-patient parameters, shape (n, len(PP_NAMES))
* ``rates`` / ``w_shared`` — 10 typical depot rates (layout only: each patient's depots absorb at its own ``ka``,
  (n, 10)) then one rate per state (``STATE_NAMES``), weights (n_rates, n_steps, 8)
* events — parallel arrays sorted by grid index: kind (``EV_*``), target, mg, mg/kg, fraction
* ``out`` — (n, n_out, N_OUT) trajectories (``OUT_NAMES``); ``summ`` — (n, n_sessions, N_SUM) (``SUM_NAMES``)
"""

from __future__ import annotations

from .generated_kernel import (DIGEST, EV_AD_START, EV_BOLUS, EV_DEPOT, EV_GENERAL_ANESTHESIA,  # noqa: F401
                               EV_RATE, EV_SESSION, MC_NAMES, N_OUT, N_RATES, N_SUM, OUT_NAMES, PP_NAMES, RATE_SLOT,
                               STATE_NAMES, SUM_NAMES, run_arm, simulate_patient)


def kernel_for(model):
    """The kernel module (``run_arm``, names) of a model definition; the default model's is this package's."""
    from ..model.codegen import kernel_module

    return kernel_module(model)
