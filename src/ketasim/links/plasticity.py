"""Link 8–9 — synaptic proteins, dendritic spines and inflammation (IL-6).

Proteins (PSD95/GluA1/synapsin) ``P* = 1 + beta_M (M - 1)``, half-life 2–3 d.
Spines ``S* = S0 (1 + (1 - spine_block) beta_P (P - 1))`` with the stressed set point
``S0 = 1 / (1 + stress_loss * stress)`` (chronic stress eliminates spines); half-life ~1 week, so a single
dose fades over one to two weeks unless repeated. Spine density is reported relative to S0.
IL-6 ``IL* = 1 / (1 + repeat_effect * (P - 1))``: repeated dosing lowers IL-6 (relative to baseline).
"""

from numba import njit


@njit(cache=True)
def protein_target(mtorc1, gain):
    return 1.0 + gain * (mtorc1 - 1.0)


@njit(cache=True)
def spine_target(proteins, gain, spine_block, s0):
    return s0 * (1.0 + (1.0 - spine_block) * gain * (proteins - 1.0))


@njit(cache=True)
def il6_target(proteins, repeat_effect):
    x = repeat_effect * (proteins - 1.0)
    if x < -0.9:
        x = -0.9
    return 1.0 / (1.0 + x)
