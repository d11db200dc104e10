"""Link 3 — brain effect site: ``dCe/dt = ke0 * (fu * Cp - Ce)``.

Cp is total plasma concentration (µM); Ce is the unbound effect-site concentration (µM). ke0 from the
blood–effect-site equilibration half-time (pk.t_half_ke0, 6.1 min). The 6.5:1 total brain:plasma ratio in
rats is total tissue, so it is not used (mechanism.md §10.1).
"""

from numba import njit


@njit(cache=True)
def ng_ml_to_umol(c_ng_ml, mw_g_mol):
    """ng/mL -> µM."""
    return c_ng_ml / mw_g_mol


@njit(cache=True)
def mg_l_to_umol(c_mg_l, mw_g_mol):
    """mg/L -> µM (1 mg/L = 1000/MW µM)."""
    return c_mg_l * 1000.0 / mw_g_mol
