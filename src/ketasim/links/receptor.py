"""Link 4 — NMDA receptor block in two neuron pools.

``u_X = sum_j Ce_j / (Ki_j * m_X)``, ``B_X = u^h / (1 + u^h)`` for X = interneuron (m_I ~1.4, more sensitive)
and pyramidal (m_E ~8). Ki from Ebert 1997: S 0.30, R 1.4, S-NK 1.7, R-NK 13 µM. HNK has no NMDA action at
relevant concentrations (IC50 46 µM). Ce in µM (unbound); B dimensionless in [0, 1).
"""

from numba import njit


@njit(cache=True)
def occupancy_drive(ce_s, ce_r, ce_snk, ce_rnk, ki_s, ki_r, ki_snk, ki_rnk):
    """Sum of Ce_j/Ki_j (dimensionless), the competitive drive of all blockers."""
    return ce_s / ki_s + ce_r / ki_r + ce_snk / ki_snk + ce_rnk / ki_rnk


@njit(cache=True)
def nmda_block(drive, multiplier, hill):
    """Fraction of NMDA receptors blocked in a pool whose IC50 is ``multiplier`` x Ki."""
    u = drive / multiplier
    if hill != 1.0:
        u = u ** hill
    return u / (1.0 + u)


@njit(cache=True)
def s_equivalent(drive, ki_s):
    """S-ketamine-equivalent unbound concentration (µM) of a mixture: Ki_S * sum(Ce_j/Ki_j)."""
    return ki_s * drive
