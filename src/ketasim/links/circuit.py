"""Links 5–6 — disinhibition, glutamate surge and AMPA drive.

Glutamate target ``G* = (1 + g_dis * B_I) * (1 - B_E)``: blocking interneurons disinhibits pyramidal cells
(up at antidepressant doses); blocking pyramidal cells themselves wins at anesthetic doses (down) — an
inverted U. ``dG/dt = (G* - G) / tau_G``. AMPA drive ``A = (G - 1) + w_HNK * Ce_HNK / (Ce_HNK + EC50)``,
set to zero by an AMPA blocker (NBQX experiment). All relative to drug-free baseline (G = 1, A = 0).
"""

from numba import njit


@njit(cache=True)
def glutamate_target(block_interneuron, block_pyramidal, g_dis):
    return (1.0 + g_dis * block_interneuron) * (1.0 - block_pyramidal)


@njit(cache=True)
def ampa_drive(glutamate, ce_hnk, w_hnk, ec50_hnk, ampa_block):
    """AMPA activation above baseline (dimensionless; 0 at baseline, negative when glutamate falls)."""
    hnk = w_hnk * ce_hnk / (ce_hnk + ec50_hnk) if w_hnk != 0.0 else 0.0
    return (1.0 - ampa_block) * ((glutamate - 1.0) + hnk)
