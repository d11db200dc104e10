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

import logging

from . import COMPILE_LOGGER
from .generated_kernel import (DIGEST, EV_AD_START, EV_BOLUS, EV_DEPOT, EV_GENERAL_ANESTHESIA,  # noqa: F401
                               EV_RATE, EV_SESSION, MC_NAMES, N_OUT, N_RATES, N_SUM, OUT_NAMES, PP_NAMES, RATE_SLOT,
                               STATE_NAMES, SUM_NAMES, run_arm, simulate_patient)


#: said once per kernel and process before a kernel is compiled (the first run in a new clone or after an upgrade:
#: ~100 s without a word, Known limits 76); never when numba's cache has it
COMPILE_MESSAGE = "compiling the model kernel once (~1-2 min); later runs start in seconds"
_compile_log = logging.getLogger(COMPILE_LOGGER)
_looked: set = set()        # kernels whose cache was looked at in this process


def kernel_for(model):
    """The kernel module (``run_arm``, names) of a model definition; the default model's is this package's. The
    first time in a process, when someone listens (``ketasim.compile`` at INFO: the command line), it says
    :data:`COMPILE_MESSAGE` if the kernel is about to be compiled (:func:`kernel_cache_cold`)."""
    from ..model.codegen import kernel_module

    mod = kernel_module(model)
    if id(mod) not in _looked and _compile_log.isEnabledFor(logging.INFO):
        _looked.add(id(mod))
        if kernel_cache_cold(mod.run_arm):
            _compile_log.info(COMPILE_MESSAGE)
    return mod


def kernel_cache_cold(kernel) -> bool:
    """Whether calling ``kernel`` (a numba dispatcher with ``cache=True``) compiles it: nothing compiled or loaded
    for it in this process, and numba's on-disk cache (``__pycache__`` beside the source, or ``NUMBA_CACHE_DIR``:
    numba's own locator) holds no entry for this source (its stamp: modification time and size), numba version and
    CPU. Cheap: reads the cache's small index file, compiles nothing. False when it cannot tell (not a caching
    dispatcher, e.g. under ``NUMBA_DISABLE_JIT``; an unreadable index; numba's internals moved), so that a warm run
    never says it compiles."""
    if getattr(kernel, "overloads", None):          # compiled or loaded in this process already
        return False
    load_index = getattr(getattr(getattr(kernel, "_cache", None), "_cache_file", None), "_load_index", None)
    if load_index is None:
        return False
    try:
        entries = load_index()          # {} when missing, of another numba version, or stale (source changed)
        magic = kernel.targetctx.codegen().magic_tuple()     # this machine: an index written on another CPU is cold
    except Exception:  # noqa: BLE001 - private numba API: when it moves, say nothing rather than fail a run
        return False
    return not any(isinstance(k, tuple) and len(k) > 1 and k[1] == magic for k in entries)
