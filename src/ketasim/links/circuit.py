"""Links 5–6 — disinhibition, glutamate surge and AMPA drive.

Glutamate target ``G* = (1 + g_dis * B_I) * (1 - B_E)``: blocking interneurons disinhibits pyramidal cells
(up at antidepressant doses); blocking pyramidal cells themselves wins at anesthetic doses (down) — an
inverted U. ``dG/dt = (G* - G) / tau_G``. AMPA drive ``A = max(0, G - 1) + w_HNK * Ce_HNK / (Ce_HNK + EC50)``
(a smooth max, mechanism.md §10.4: a glutamate fall does not reverse plasticity), set to zero by an AMPA blocker
(NBQX experiment). All relative to drug-free baseline (G = 1, A = 0).
"""

import math

from numba import njit


@njit(cache=True)
def glutamate_target(block_interneuron, block_pyramidal, g_dis):
    return (1.0 + g_dis * block_interneuron) * (1.0 - block_pyramidal)


@njit(cache=True)
def ampa_drive(glutamate, ce_hnk, w_hnk, ec50_hnk, ampa_block, eps):
    """AMPA activation above baseline (dimensionless, >= 0; 0 at baseline and when glutamate falls)."""
    x = glutamate - 1.0
    surge = 0.5 * (x + math.sqrt(x * x + eps * eps)) - 0.5 * eps   # smooth max(0, x), 0 at x = 0
    if surge < 0.0:
        surge = 0.0
    hnk = w_hnk * ce_hnk / (ce_hnk + ec50_hnk) if w_hnk != 0.0 else 0.0
    return (1.0 - ampa_block) * (surge + hnk)
