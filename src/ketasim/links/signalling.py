"""Link 7 — BDNF release, TrkB activation, mTORC1 (and the eEF2 route).

BDNF target ``1 + gain * f_geno * f_CRP * A * (1 + eef2 * B_E) * exp(-X_anes)``: release is gated by AMPA
activity; the eEF2 route (Autry 2011) amplifies translation in proportion to the resting block of pyramidal NMDA
receptors, multiplying rather than adding so that anesthetic doses (A = 0) trigger no plasticity. ``X_anes`` is
the anesthetic state: it builds quickly while more than ~45 % of pyramidal NMDA receptors are blocked
(``dX/dt = g_on D(B_E) - k_off X``) and fades over hours, so plasticity stays off while concentrations fall back
through the antidepressant range after an anesthetic dose (Li 2010 inverted U). Therapeutic doses (B_E ~0.1)
leave it near 0.
TrkB ``T = BDNF^n / (BDNF^n + K^n)``, normalised to 1 at baseline. mTORC1 target ``1 + (1 - rapamycin)(T - 1)``.
"""

import math

from numba import njit


@njit(cache=True)
def bdnf_target(ampa, block_pyramidal, gain, eef2_gain, anesthetic_state):
    return 1.0 + gain * ampa * (1.0 + eef2_gain * block_pyramidal) * math.exp(-max(anesthetic_state, 0.0))


@njit(cache=True)
def anesthetic_drive(block_pyramidal, block50, hill):
    """Target of the anesthetic state (0-1) for a pyramidal NMDA block."""
    b = max(block_pyramidal, 0.0) / block50
    if b < 1e-3 and hill >= 6.0:     # below 1e-18: exactly negligible, skip the pow call
        return 0.0
    bh = b ** hill
    return bh / (1.0 + bh)


@njit(cache=True)
def trkb_activation(bdnf, k, hill):
    """TrkB activation relative to baseline (1 at BDNF = 1)."""
    b = max(bdnf, 0.0)
    if hill == 2.0:          # fast path for the default (no pow call)
        bn = b * b
        kn = k * k
    else:
        bn = b ** hill
        kn = k ** hill
    return (bn / (bn + kn)) * (1.0 + kn)


@njit(cache=True)
def mtorc1_target(trkb, mtor_block):
    return 1.0 + (1.0 - mtor_block) * (trkb - 1.0)
