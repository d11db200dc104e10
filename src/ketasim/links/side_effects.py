"""Link 11 — side effects, driven by the S-equivalent unbound effect-site concentration of the parent drug (µM):
``C = Ce_S + Ce_R * Ki_S / Ki_R`` (norketamine is left out: it peaks after the infusion while dissociation and
blood pressure resolve within ~1.5-2 h, and it opposes rather than adds to ketamine's acute effects; Sigtermans).

* Dissociation ``CADSS = CADSS_max * C^n / (C^n + EC50^n) / (1 + Tol)``; Tol builds with each session's
  dissociation and decays over weeks (Glue 2018: 20 -> 8.8 over 14 weekly doses).
* Blood pressure and heart rate ``E = Emax * C / (C + EC50)`` (no tolerance: Riva-Posse 2018).
* Sedation ``1 - (1 - s_ket)(1 - s_mdz)`` with Emax models for ketamine (Schüttler EEG) and midazolam.
* Nausea probability ``p = pmax * N^2 / (N^2 + N50^2)`` on a lagged emetic drive N.
"""

from numba import njit


@njit(cache=True)
def emax_model(c, emax, ec50, hill):
    if c <= 0.0:
        return 0.0
    if hill == 1.0:
        return emax * c / (c + ec50)
    if hill >= 3.0 and c < 1e-5 * ec50:   # (c/ec50)^hill < 1e-15: negligible, skip the pow call
        return 0.0
    ch = c ** hill
    return emax * ch / (ch + ec50 ** hill)


@njit(cache=True)
def sedation(c_ket, ec50_ket, c_mdz, ec50_mdz):
    s_k = c_ket / (c_ket + ec50_ket) if c_ket > 0 else 0.0
    s_m = c_mdz / (c_mdz + ec50_mdz) if c_mdz > 0 else 0.0
    return 1.0 - (1.0 - s_k) * (1.0 - s_m)


@njit(cache=True)
def nausea_probability(drive, pmax, n50):
    d = max(drive, 0.0)
    return pmax * d * d / (d * d + n50 * n50)
