"""Link 7 — BDNF release, TrkB activation, mTORC1 (and the eEF2 route).

BDNF target ``1 + gain * f_geno * f_CRP * A * (1 + eef2 * B_E)``: release is gated by AMPA activity; the eEF2
route (Autry 2011) amplifies translation in proportion to the resting block of pyramidal NMDA receptors,
multiplying rather than adding so that anesthetic doses (A <= 0) trigger no plasticity.
TrkB ``T = BDNF^n / (BDNF^n + K^n)``, normalised to 1 at baseline. mTORC1 target ``1 + (1 - rapamycin)(T - 1)``.
"""

from numba import njit


@njit(cache=True)
def bdnf_target(ampa, block_pyramidal, gain, eef2_gain):
    return 1.0 + gain * ampa * (1.0 + eef2_gain * block_pyramidal)


@njit(cache=True)
def trkb_activation(bdnf, k, hill):
    """TrkB activation relative to baseline (1 at BDNF = 1)."""
    b = max(bdnf, 0.0)
    bn = b ** hill
    kn = k ** hill
    return (bn / (bn + kn)) * (1.0 + kn)


@njit(cache=True)
def mtorc1_target(trkb, mtor_block):
    return 1.0 + (1.0 - mtor_block) * (trkb - 1.0)
