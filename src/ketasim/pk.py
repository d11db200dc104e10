"""Link 2 — pharmacokinetics: S- and R-ketamine, norketamine, hydroxynorketamine, midazolam.

Each disposition block is a mammillary compartment model (a central compartment + peripheral compartments).
With volumes V and flows Q the amount equations are ``da/dt = K a + input``; the similarity transform
``V^-1/2 K V^1/2`` is symmetric, so every block has real eigenvalues ``lam`` and orthonormal eigenvectors U.
In modal coordinates ``z`` each mode obeys ``dz_m/dt = lam_m z_m + kappa_m * input(t)`` with
``kappa_m = U[0, m] / sqrt(V_central)``; the concentration of compartment j is ``sum_m U[j, m] / sqrt(V_j) z_m``
(mg/L). Blocks are joined feed-forward (parent -> norketamine -> HNK; depots -> central), so the solver can
treat every mode exactly (see ``ketasim.solver``).

**One molecule, one disposition.** S- and R-ketamine have the same disposition whatever the product they come
from (S-ketamine PK is the same alone or in the racemate, Geisslinger 1993; S and R share distribution,
Henthorn 2018): an ARTERIAL central compartment and the fast and slow tissue compartments of Simons 2022
(arterial sampling), a deep compartment for the slow terminal phase whose volume and flow are fitted to Simons'
first hours and Fanta 2021's Vss and terminal half-life (benchmarks/fit_pk_deep.py: Vss 262 L, so that it does not
drain the early peak), and an arm-VENOUS sampling compartment of small volume fed by arterial blood (the Henthorn
2018 / Kamp 2020 structure in its minimal form). A venous sample is that compartment's blood mixed with a
fraction draining the slowly equilibrating tissue (:func:`venous_read`; Kamp 2020 links venous samples to
peripheral compartments); the half-time and the fraction are fitted to venous anchors by
benchmarks/fit_pk_absorption.py. Drug enters and is eliminated in the arterial compartment; the effect site is driven
from it (ke0 values come from arterial data); plasma samples (``cp_*`` columns, most studies) are venous, read
through ``kappa_venous``. R differs from S only by its clearance (``pk.r_to_s_clearance_ratio``).

Inter-occasion variability (crossover trials): a period's own random effect on systemic clearance (where eta_cl
acts) and on the first-pass escape of swallowed doses (``iov.*``; :class:`ketasim.population.Patients`
``occasion_*``).

Covariates: weight (volumes ∝ WT, flows and clearances ∝ WT^0.75); sex (women +20 % systemic clearance,
Sigtermans 2009, without changing first-pass extraction); age (hepatic blood flow falls above 60).
Clearance is hepatic (well-stirred liver): ``CL = Qh CLint / (Qh + CLint)``, ``Fh = Qh / (Qh + CLint)``, and
the gut wall lets ``Fgut`` of an oral dose through. Comedications multiply CLint of liver and gut wall:
inhibitors by factors derived from ketamine's own oral data, inducers (rifampicin, St John's wort) by CYP3A
factors derived from midazolam IV vs oral probe data (liver and gut wall separately) combined with the
shares of CYP3A and CYP2B6 in ketamine's N-demethylation (:func:`induction_factors`).

**Norketamine yield.** Hepatic (and gut-wall) intrinsic clearance is two parallel pathways: N-demethylation to
norketamine (a fraction ``pk.fm_nk`` of CLint, by CYP2B6 and CYP3A4: Spravato label; Hijazi 2002) and the
rest (ring hydroxylation and other routes), which inducers' CYP3A/2B6 probe data do not address
and which is left uninduced. In a well-stirred organ each pathway takes its share of the extraction, so an
inducer raises the norketamine yield ``fm_nk' = fm_nk L_nk / (fm_nk L_nk + 1 - fm_nk)`` while it raises
norketamine's own clearance: both directions Noppers 2011 reports (Anesthesiology 114:1435, PMC3560924).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .parameters import ParameterSet
from .population import Patients
from .regimen import Drug

# block indices
S_KET, R_KET, S_NK, R_NK, HNK, MDZ = range(6)
N_BLOCKS = 6
#: most compartments (= modes) of any block; the kernel sizes its modal state with it
MAX_MODES = 5
BLOCK_NAMES = ("s_ketamine", "r_ketamine", "s_norketamine", "r_norketamine", "hnk", "midazolam")
#: compartment order of the parent (S-, R-ketamine) blocks
PARENT_COMPARTMENTS = ("arterial", "arm_venous", "fast", "slow", "deep")

# depot indices (absorption rate constants: typical_ka, each patient's in PKModel.ka)
DEPOTS = ("nasal_s", "nasal_r", "gut_s", "gut_r", "im_s", "im_r", "sc_s", "sc_r", "sl_s", "sl_r")
N_DEPOTS = len(DEPOTS)
#: the injection depots (IM and SC), named once so that a new one gets both properties: their absorption rate carries
#: the patient's eta_ka_injection, and their bioavailability no random effect (FIXED_F_DEPOTS: route.im.f / route.sc.f
#: for every patient; the kernel (through codegen), the reference solver and the SBML export read them here, not as
#: the numbers 4-7)
INJECTION_DEPOTS = tuple(DEPOTS.index(d) for d in ("im_s", "im_r", "sc_s", "sc_r"))
FIXED_F_DEPOTS = INJECTION_DEPOTS


def typical_ka(params: ParameterSet) -> np.ndarray:
    """(10,) the typical patient's absorption rate constant of each depot (``DEPOTS``), 1/h."""
    p = params
    return np.array([p.get("route.intranasal.ka", "1/h")] * 2 + [p.get("route.oral.ka", "1/h")] * 2
                    + [p.get("route.im.ka", "1/h")] * 2 + [p.get("route.sc.ka", "1/h")] * 2
                    + [p.get("route.sublingual.ka", "1/h")] * 2)


def ka_log_effects(params: ParameterSet, patients) -> np.ndarray:
    """(n, 10) each patient's log-scale effect on each depot's absorption rate (median-preserving: ka = typical x
    exp(effect)). The nasal depots carry iiv.ka_intranasal_cv x eta_ka_nasal; the gut depots (an oral dose, the
    swallowed part of a nasal or sublingual dose) iiv.ka_oral_cv x eta_ka_gut, one effect for S and R (one nose,
    one gut); the IM and SC depots iiv.ka_injection_cv x eta_ka_injection (one injection-site effect, a proxy drug's
    spread). Sublingual-mucosal absorption has no sourced variability and stays typical."""
    n = patients.n
    eff = np.zeros((n, N_DEPOTS))
    eff[:, 0:2] = (params.get("iiv.ka_intranasal_cv") * np.asarray(patients.eta_ka_nasal, float))[:, None]
    eff[:, 2:4] = (params.get("iiv.ka_oral_cv") * np.asarray(patients.eta_ka_gut, float))[:, None]
    eff[:, list(INJECTION_DEPOTS)] = (params.get("iiv.ka_injection_cv")
                                      * np.asarray(patients.eta_ka_injection, float))[:, None]
    return eff


@dataclasses.dataclass(frozen=True)
class PKModel:
    """Per-patient PK arrays (n patients) in internal units (h, L, mg)."""

    lam: np.ndarray          # (n, 6, MAX_MODES) eigenvalues, 1/h (<= 0)
    kappa: np.ndarray        # (n, 6, MAX_MODES) 1/L^0.5: input gain of each mode, and central (arterial)
                             # concentration = sum kappa*z (mg/L); drives elimination, metabolites, effect site
    kappa_venous: np.ndarray  # (n, 6, MAX_MODES): sampled (venous) concentration = sum kappa_venous*z (mg/L);
                             # equal to kappa for blocks without a venous compartment (metabolites, midazolam)
    nmodes: np.ndarray       # (6,) int
    venous_weights: np.ndarray  # (6, MAX_MODES): weight of each compartment's concentration in the venous
                             # sample (sum 1; central only for blocks without a venous read-out)
    cl: np.ndarray           # (n, 6) elimination clearance from the central compartment, L/h
    fh: np.ndarray           # (n, 2) hepatic escape fraction (S, R) for gut absorption
    fgut: np.ndarray         # (n, 2) gut-wall escape fraction (S, R)
    f_iiv: np.ndarray        # (n,) multiplicative bioavailability random effect (nasal and sublingual mucosal
    #                          parts; a swallowed dose's is in fh; IM and SC carry none)
    ka: np.ndarray           # (n, 10) depot absorption rate constants, 1/h (typical_ka x the patient's effects)
    ke0: np.ndarray          # (n,) 1/h
    volumes: np.ndarray      # (n, 6, MAX_MODES) L (central first; unused slots 1)
    flows: np.ndarray        # (n, 6, MAX_MODES - 1) L/h inter-compartmental clearances (unused 0)
    nk_brain_partition: float  # brain:plasma of norketamine relative to the parent (for the PD definition)
    fm_nk: np.ndarray        # (n,) fraction of parent clearance and first-pass extraction forming norketamine


def _mammillary(v: np.ndarray, cl: np.ndarray, q: np.ndarray, read=None):
    """Modal form of mammillary blocks. v: (n, k) volumes (central first); cl: (n,); q: (n, k-1).
    Returns (lam, kappa, kappa_read): eigenvalues, input/central gains, and the gains of the read-out
    ``sum_j read[j] * concentration_j`` (``read``: (k,) compartment weights; None = the central one)."""
    n, k = v.shape
    s = np.zeros((n, k, k))
    s[:, 0, 0] = -(cl + q.sum(axis=1)) / v[:, 0]
    for i in range(1, k):
        s[:, i, i] = -q[:, i - 1] / v[:, i]
        off = q[:, i - 1] / np.sqrt(v[:, 0] * v[:, i])
        s[:, 0, i] = off
        s[:, i, 0] = off
    lam, u = _eigh_2x2(s) if k == 2 else np.linalg.eigh(s)
    kappa = u[:, 0, :] / np.sqrt(v[:, :1])
    if read is None:
        return lam, kappa, kappa
    kappa_read = sum(w * u[:, j, :] / np.sqrt(v[:, j:j + 1]) for j, w in enumerate(read) if w != 0.0)
    return lam, kappa, kappa_read


def _eigh_2x2(s: np.ndarray):
    """``np.linalg.eigh`` of a stack of symmetric 2x2 matrices in closed form (Jacobi rotation; eigenvalues
    ascending, as eigh): ~5x cheaper than LAPACK on millions of tiny matrices (the metabolite and midazolam
    blocks). Eigenvector signs may differ from LAPACK's; the modal PK uses products of a mode's gains only."""
    a, b, d = s[:, 0, 0], s[:, 0, 1], s[:, 1, 1]
    mean, half = 0.5 * (a + d), 0.5 * (a - d)
    r = np.hypot(half, b)
    theta = 0.5 * np.arctan2(b, half)
    c, sn = np.cos(theta), np.sin(theta)
    lam = np.stack([mean - r, mean + r], axis=1)
    u = np.empty_like(s)
    u[:, 0, 0], u[:, 1, 0] = -sn, c          # eigenvector of the smaller eigenvalue
    u[:, 0, 1], u[:, 1, 1] = c, sn           # of the larger
    return lam, u


def _hepatic(cl_typical_70, qh_70):
    """Intrinsic clearance (L/h) that gives ``cl_typical_70`` in a well-stirred liver with flow ``qh_70``."""
    if cl_typical_70 >= qh_70:
        raise ValueError("typical clearance must be below hepatic blood flow")
    return qh_70 * cl_typical_70 / (qh_70 - cl_typical_70)


def _well_stirred(clint, qh):
    """Clearance (L/h) of a well-stirred liver with intrinsic clearance ``clint`` and flow ``qh`` (the inverse of
    :func:`_hepatic`)."""
    return qh * clint / (qh + clint)


def parent_disposition(p: ParameterSet):
    """Shared S/R disposition at 70 kg: volumes (L) and flows (L/h) in ``PARENT_COMPARTMENTS`` order.

    The deep volume is what ``pk.ketamine.vss`` leaves after the other compartments (a Vss fitted with the deep flow
    by benchmarks/fit_pk_deep.py to Simons' first hours and Fanta 2021's Vss and terminal half-life)."""
    v1, v2, v3 = (p.get(f"pk.ketamine.{k}", "L") for k in ("v1", "v2", "v3"))
    vven = p.get("pk.ketamine.v_venous", "L")
    vdeep = p.get("pk.ketamine.vss", "L") - (v1 + vven + v2 + v3)
    qven = math.log(2) * vven / p.get("pk.ketamine.venous_t_half", "h")
    q = np.array([qven, p.get("pk.ketamine.q2", "L/h"), p.get("pk.ketamine.q3", "L/h"), p.get("pk.ketamine.q_deep", "L/h")])
    return np.array([v1, vven, v2, v3, vdeep]), q


def venous_read(p: ParameterSet) -> np.ndarray:
    """Weights of the parent's compartments (``PARENT_COMPARTMENTS`` order) in an arm-venous sample: blood that
    passed the fast-exchanging arm-venous compartment, mixed with a fraction ``pk.ketamine.venous_slow_fraction``
    draining the slowly equilibrating tissue (muscle: the slow compartment). Kamp 2020's raw-data model links the
    venous samples to peripheral compartments through delay compartments; arterial sampling gives ~40 % smaller Vd
    and MRT than venous (Persson 2002). Every weight reads a compartment whose AUC equals the arterial AUC, so
    venous AUCs (bioavailability, mass balance) are unchanged."""
    w = p.get("pk.ketamine.venous_slow_fraction")
    read = np.zeros(len(PARENT_COMPARTMENTS))
    read[PARENT_COMPARTMENTS.index("arm_venous")] = 1.0 - w
    read[PARENT_COMPARTMENTS.index("slow")] += w
    return read


def oral_fractions(p: ParameterSet):
    """Typical (70 kg man) systemic clearances (L/h), hepatic escape Fh and gut-wall escape Fgut of S and R."""
    qh70 = p.get("pk.hepatic_blood_flow", "L/h")
    cl_s = p.get("pk.s_ketamine.cl", "L/h")
    cl = np.array([cl_s, cl_s * p.get("pk.r_to_s_clearance_ratio")])
    fh = 1.0 - cl / qh70
    foral = np.array([p.get("route.oral.f_s"), p.get("route.oral.f_r")])
    return cl, fh, np.minimum(1.0, foral / fh)


#: turnover (degradation) half-life of the enzyme pool behind an organ's factors: hepatic CYP3A4, gut-wall CYP3A,
#: hepatic CYP2B6
_TURNOVER_T_HALF = {"liver": "pk.induction_t_half_liver", "gut": "pk.induction_t_half_gut",
                    "cyp2b6": "pk.cyp2b6_t_half_liver"}


def _turnover_rate(p: ParameterSet, comedication: str, organ: str) -> float:
    """Turnover rate constant k (1/h) of the enzyme a mechanism-based inhibitor destroys in ``organ`` (liver or gut):
    hepatic CYP2B6 (``pk.cyp2b6_t_half_liver``) for an inhibitor of CYP2B6 (``ddi.*.cyp2b6_share`` given:
    ticlopidine), otherwise ``pk.induction_t_half_<organ>`` (CYP3A)."""
    cyp2b6 = organ == "liver" and f"ddi.{comedication}.cyp2b6_share" in p.literature
    return math.log(2) / p.get(_TURNOVER_T_HALF["cyp2b6" if cyp2b6 else organ], "h")


def induction_reached(p: ParameterSet, organ: str, hours: float | None, off_h: float | None = None) -> float:
    """Fraction of its steady-state induction an inducer has reached after ``hours`` of pretreatment (None: steady
    state, 1), and of that what is left ``off_h`` hours after it was stopped (None: still taken). Induction raises
    the synthesis of the enzyme; its amount approaches the new steady state with the enzyme's own degradation
    half-life (turnover model, ``1 - 2^(-t / t_half)``), and returns to baseline at the same rate once the inducer
    is gone (``x 2^(-t_off / t_half)``): ``pk.induction_t_half_liver`` (hepatic CYP3A4, Galetin 2006) or
    ``pk.induction_t_half_gut`` (enterocyte CYP3A, Greenblatt 2003); organ ``cyp2b6``: hepatic CYP2B6
    (``pk.cyp2b6_t_half_liver``, Ashraf 2018). The inducer's own accumulation and elimination (rifampicin t1/2
    2-5 h) are taken as immediate."""
    t_half = p.get(_TURNOVER_T_HALF[organ], "h")
    built = 1.0 if hours is None else 1.0 - 2.0 ** (-hours / t_half)
    return built if off_h is None else built * 2.0 ** (-off_h / t_half)


def _rescaled(factor: float, p: ParameterSet, organ: str, from_h: float | None, to_h: float | None,
              off_h: float | None = None) -> float:
    """An induction factor measured after ``from_h`` hours of pretreatment (inducer still taken), carried to
    ``to_h`` hours, ``off_h`` hours after stopping (None: still taken); the excess over 1 scales with
    :func:`induction_reached`."""
    return 1.0 + (factor - 1.0) * induction_reached(p, organ, to_h, off_h) / induction_reached(p, organ, from_h)


def _probe_h(p: ParameterSet, comedication: str, probe: str, optional: bool = False) -> float | None:
    """Pretreatment (h) of the study behind a comedication's factor (``ddi.*.<probe>_days``); ``optional``: None when
    not stated (an inhibitor's factor is then taken as steady state)."""
    key = f"ddi.{comedication}.{probe}_days"
    return None if optional and key not in p.literature else p.get(key, "h")


def cyp3a_factors_from_midazolam(p: ParameterSet, comedication: str, hours: float | None = None,
                                 off_h: float | None = None):
    """(liver, gut wall) CYP3A intrinsic-clearance factors of an inducer after ``hours`` of pretreatment (None:
    steady state) and ``off_h`` hours after stopping it (None: still taken), from midazolam probe data.

    IV midazolam AUC ratio r_iv gives the liver: CL' = CL / r_iv in the well-stirred liver (midazolam CL,
    the model's Qh) -> CLint' / CLint, after the IV study's pretreatment (``ddi.*.midazolam_iv_days``). Oral
    midazolam AUC ratio r_po = (Fg'/Fg)(Fh'/Fh) r_iv' gives the gut wall, with the liver carried to the oral
    study's pretreatment (``ddi.*.midazolam_oral_days``; r_iv' the IV ratio the liver would give then): Fg =
    F_oral / Fh, and Fg = 1 / (1 + g) with g ∝ gut CLint, so the gut factor is g'/g. Both are then carried to
    ``hours`` and ``off_h`` by the enzymes' turnover (:func:`induction_reached`)."""
    r_iv = p.get(f"ddi.{comedication}.midazolam_iv_auc_ratio")
    r_po = p.get(f"ddi.{comedication}.midazolam_oral_auc_ratio")
    t_iv, t_po = _probe_h(p, comedication, "midazolam_iv"), _probe_h(p, comedication, "midazolam_oral")
    liver_iv = _midazolam_liver_factor(p, r_iv)
    gut_po = _midazolam_gut_factor(p, _rescaled(liver_iv, p, "liver", t_iv, t_po), r_po)
    return _rescaled(liver_iv, p, "liver", t_iv, hours, off_h), _rescaled(gut_po, p, "gut", t_po, hours, off_h)


def _midazolam_liver_factor(p: ParameterSet, r_iv: float) -> float:
    """Hepatic CYP3A CLint factor that gives the IV midazolam AUC ratio ``r_iv`` (with / without) in the well-stirred
    liver (midazolam CL ``pk.midazolam.cl``, the model's Qh): CL' = CL / r_iv."""
    qh, cl = p.get("pk.hepatic_blood_flow", "L/h"), p.get("pk.midazolam.cl", "L/h")
    return _hepatic(cl / r_iv, qh) / _hepatic(cl, qh)


def _midazolam_gut_factor(p: ParameterSet, liver: float, r_po: float) -> float:
    """Gut-wall CYP3A CLint factor that gives the oral midazolam AUC ratio ``r_po`` with the hepatic factor ``liver``
    (r_po = (Fg'/Fg)(Fh'/Fh) r_iv'; Fg = F_oral / Fh, Fg = 1 / (1 + g) with g proportional to gut CLint)."""
    qh, cl = p.get("pk.hepatic_blood_flow", "L/h"), p.get("pk.midazolam.cl", "L/h")
    x = _hepatic(cl, qh)
    x_ind = x * liver
    r_iv = _well_stirred(x, qh) / _well_stirred(x_ind, qh)
    fh, fh_ind = qh / (qh + x), qh / (qh + x_ind)
    fg = p.get("pk.midazolam.f_oral") / fh
    fg_ind = fg * r_po / r_iv / (fh_ind / fh)
    return (1.0 / fg_ind - 1.0) / (1.0 / fg - 1.0)


def inhibitor_split_from_midazolam(p: ParameterSet, comedication: str) -> tuple[float, float, float, float]:
    """Steady-state (liver CLint, gut-wall CLint, hepatic CYP3A activity) factors of an inhibitor whose liver/gut
    split comes from a midazolam probe (``ddi.*.midazolam_iv_auc_ratio`` / ``_oral_auc_ratio``) and whose size comes
    from ketamine's own oral data (``ddi.*.oral_auc_ratio``), and the share s of ketamine's CLint it inhibits.

    The probe gives the fraction of CYP3A activity left in each organ after the probe study's pretreatment
    (``ddi.*.midazolam_days``), h (liver) and g (gut wall), the same algebra as for the inducers
    (:func:`cyp3a_factors_from_midazolam`); the onset of a mechanism-based inhibitor carries them to steady state
    (:func:`inactivation_steady`). Ketamine is inhibited on the share s of its intrinsic clearance that this enzyme
    carries, in both organs: liver 1 - s (1 - h), gut wall 1 - s (1 - g). s solves the oral S-ketamine AUC ratio R =
    (1 + g0) / (1 + g0 G) / L (well-stirred liver: oral AUC ∝ Fgut / CLint; g0 = 1 / Fgut - 1 of S-ketamine) with h
    and g at the ketamine study's pretreatment (``ddi.*.oral_auc_days``), a quadratic in s whose smaller root is
    taken. Midazolam keeps its own h."""
    return _split_on_probe(p, comedication, *_probe_activity_steady(p, comedication))


def _split_on_probe(p: ParameterSet, comedication: str, h_ss: float, g_ss: float) -> tuple[float, float, float, float]:
    """:func:`inhibitor_split_from_midazolam` given the probe's steady-state activities ``h_ss``, ``g_ss``
    (:func:`_probe_activity_steady`)."""
    at = _probe_h(p, comedication, "oral_auc", optional=True)
    h = 1.0 - (1.0 - h_ss) * inactivation_built(p, comedication, "liver", at, h_ss)
    g = 1.0 - (1.0 - g_ss) * inactivation_built(p, comedication, "gut", at, g_ss)
    r = p.get(f"ddi.{comedication}.oral_auc_ratio")
    g0 = 1.0 / float(oral_fractions(p)[2][0]) - 1.0
    a, b = 1.0 - h, 1.0 - g
    qa, qb, qc = a * b * g0, -(b * g0 + a * (1.0 + g0)), (1.0 + g0) * (1.0 - 1.0 / r)
    s = (-qb - math.sqrt(qb * qb - 4.0 * qa * qc)) / (2.0 * qa)
    if not 0.0 < s <= 1.0:
        raise ValueError(f"{comedication}: its midazolam probe cannot give the oral ketamine AUC ratio {r:g} "
                         f"(share {s:.3g} outside (0, 1])")
    return 1.0 - s * (1.0 - h_ss), 1.0 - s * (1.0 - g_ss), h_ss, s


def _probe_activity_steady(p: ParameterSet, comedication: str) -> tuple[float, float]:
    """Steady-state hepatic and gut-wall CYP3A activity left by an inhibitor with a midazolam probe: the probe's h and g
    after its pretreatment (``ddi.*.midazolam_days``), carried to steady state (:func:`inactivation_steady`)."""
    h = _midazolam_liver_factor(p, p.get(f"ddi.{comedication}.midazolam_iv_auc_ratio"))
    g = _midazolam_gut_factor(p, h, p.get(f"ddi.{comedication}.midazolam_oral_auc_ratio"))
    at = _probe_h(p, comedication, "midazolam", optional=True)
    return (inactivation_steady(p, comedication, "liver", h, at), inactivation_steady(p, comedication, "gut", g, at))


def inactivation_steady(p: ParameterSet, comedication: str, organ: str, left_obs: float, hours: float | None) -> float:
    """Enzyme activity a mechanism-based inhibitor leaves at steady state in ``organ`` when a study saw ``left_obs``
    after ``hours`` of pretreatment (None: the study was at steady state): the root of left_obs = 1 - (1 - x)
    :func:`inactivation_built` (hours, x) in (0, left_obs] (the stronger the steady state, the faster the onset, so
    the carrying is implicit), as the inducers' probe factors are carried from their studies (:func:`_rescaled`)."""
    if hours is None or left_obs >= 1.0:
        return left_obs
    from scipy.optimize import brentq

    def excess(x):
        return 1.0 - (1.0 - x) * inactivation_built(p, comedication, organ, hours, x) - left_obs

    if excess(left_obs) <= 0.0:            # already at steady state to machine precision
        return left_obs
    return brentq(excess, left_obs * 1e-6, left_obs, xtol=1e-15, rtol=4 * 2.220446049250313e-16)


def inactivation_left(p: ParameterSet, comedication: str, organ: str, off_h: float) -> float:
    """Fraction of a mechanism-based inhibitor's loss of enzyme activity still present ``off_h`` hours after it was
    stopped, in ``organ`` (liver or gut). The enzyme is resynthesised with its turnover rate k (:func:`_turnover_rate`:
    ``pk.induction_t_half_<organ>``, hepatic CYP2B6 ``pk.cyp2b6_t_half_liver``); while the inhibitor is still being eliminated (rate e = ln 2 /
    ``ddi.*.elimination_t_half``, if given) it keeps inactivating enzyme in proportion to its concentration, so the
    deficit D obeys dD/dt = k (D0 e^(-e t) - D): D / D0 = (k e^(-e t) - e e^(-k t)) / (k - e), the slower of the two
    setting the pace (linear in the inhibitor: concentrations below its inactivation constant). Without an
    elimination half-life the inhibitor is taken as gone at once: 2^(-t / t_half)."""
    k = _turnover_rate(p, comedication, organ)
    key = f"ddi.{comedication}.elimination_t_half"
    if key not in p.literature:
        return math.exp(-k * off_h)
    e = math.log(2) / p.get(key, "h")
    if abs(k - e) < 1e-9 * k:
        return (1.0 + k * off_h) * math.exp(-k * off_h)
    return (k * math.exp(-e * off_h) - e * math.exp(-k * off_h)) / (k - e)


def inactivation_built(p: ParameterSet, comedication: str, organ: str, hours: float | None, left_ss: float) -> float:
    """Fraction of its steady-state loss of enzyme activity (1 - ``left_ss``; ``left_ss`` the activity left at steady
    state, > 0) a mechanism-based inhibitor has caused in ``organ`` (liver or gut) after ``hours`` of being taken
    (None: steady state, 1).

    Mechanism-based inactivation (Mayhew 2000 Drug Metab Dispos 28:1031; Galetin 2006 Drug Metab Dispos 34:166, the
    source of the hepatic turnover): the active enzyme E (fraction of baseline) is made at rate k (k = ln 2 /
    ``pk.induction_t_half_<organ>``, its turnover) and lost by degradation and inactivation, dE/dt = k (1 - E) -
    lambda E, with lambda = kinact I / (KI + I). At steady state E = k / (k + lambda), so the in-vivo steady state
    (the probe study's ``left_ss``) gives lambda = k (1 / left_ss - 1) without in-vitro kinact / KI. With the
    inhibitor at its steady state from the first dose (clarithromycin t1/2 3-5 h) E falls as left_ss + (1 - left_ss)
    e^(-k t / left_ss): the deficit builds at rate k / left_ss, faster than turnover alone, and faster the stronger
    the inhibition (gut wall before liver). An inhibitor whose elimination is sourced (``ddi.*.elimination_t_half``,
    rate e: ticlopidine) accumulates as 1 - e^(-e t) and lambda with it (linear in the inhibitor, as for the
    recovery, :func:`inactivation_left`); E then comes from the integral of the same equation."""
    if hours is None or left_ss >= 1.0:
        return 1.0
    k = _turnover_rate(p, comedication, organ)
    lam = k * (1.0 / left_ss - 1.0)
    key = f"ddi.{comedication}.elimination_t_half"
    if key not in p.literature:
        return -math.expm1(-(k + lam) * hours)
    from scipy.integrate import quad

    e = math.log(2) / p.get(key, "h")

    def big_lambda(t):                    # integral of (k + lambda(u)) du from 0 to t
        return (k + lam) * t + lam * math.expm1(-e * t) / e

    end = big_lambda(hours)
    made, _ = quad(lambda u: math.exp(big_lambda(u) - end), 0.0, hours, epsabs=1e-13, epsrel=1e-11, limit=200)
    active = math.exp(-end) + k * made
    return (1.0 - active) / (1.0 - left_ss)


def _inhibited_share(p: ParameterSet, comedication: str) -> float:
    """Share s of ketamine's intrinsic clearance carried by the enzyme an inhibitor without a midazolam probe acts on
    (``ddi.*.cyp2b6_share``: ticlopidine, CYP2B6; not given: 1, the inhibitor acts on all of it). Its factors f
    (from ketamine's own oral data) leave the enzyme activity 1 - (1 - f) / s, which must stay above 0."""
    key = f"ddi.{comedication}.cyp2b6_share"
    if key not in p.literature:
        return 1.0
    share = p.get(key)
    f = p.get(f"ddi.{comedication}.clint_factor")
    if not 0.0 < share <= 1.0 or 1.0 - f >= share:
        raise ValueError(f"{key} must be in (1 - ddi.{comedication}.clint_factor, 1] = ({1.0 - f:.3g}, 1], got "
                         f"{share:g}")
    return share


def hepatic_cyp3a_part(p: ParameterSet, comedication: str) -> tuple[float, float] | None:
    """(hepatic CYP3A activity left h, S-ketamine liver CLint factor) of an inhibitor whose liver effect comes from an
    intravenous hepatic CYP3A probe (``ddi.*.hepatic_probe_iv_auc_ratio``: IV AUC with / without the inhibitor;
    grapefruit juice), or None when none is given.

    The probe ratio r is mapped to h through the model's midazolam liver (well-stirred, ``pk.midazolam.cl``, the
    model's Qh; :func:`_midazolam_liver_factor`), as the inducers' IV probes are, so the model's IV midazolam AUC
    ratio is r again. Ketamine is inhibited on the CYP3A share of its intrinsic clearance, the one the inducers use
    (``pk.demethylation_cyp3a_share`` x ``pk.fm_nk``): liver factor 1 - s (1 - h). Only for an inhibitor whose
    ketamine-derived factor (``ddi.*.clint_factor``) is 1, so that the two liver effects are not counted twice.
    The probe's ratio is read as the steady state of repeated intake; onset and recovery follow the comedication's
    (:func:`inhibitor_factors`: for grapefruit juice, mechanism-based with the hepatic CYP3A4 turnover, 76 % of it
    after 5 days), a time course no hepatic grapefruit study gives."""
    key = f"ddi.{comedication}.hepatic_probe_iv_auc_ratio"
    if key not in p.literature:
        return None
    r = p.get(key)
    if not r >= 1.0:
        raise ValueError(f"{key} must be >= 1 (an inhibitor's IV probe AUC ratio), got {r:g}")
    if p.get(f"ddi.{comedication}.clint_factor") != 1.0:
        raise ValueError(f"{key} needs ddi.{comedication}.clint_factor 1 (one liver effect), got "
                         f"{p.get(f'ddi.{comedication}.clint_factor'):g}")
    h = _midazolam_liver_factor(p, r)
    s3a = p.get("pk.demethylation_cyp3a_share") * p.get("pk.fm_nk")
    return h, 1.0 - s3a * (1.0 - h)


def inhibitor_factors(p: ParameterSet, comedication: str, off_h: float | None = None, hours: float | None = None):
    """(liver CLint, gut-wall CLint, midazolam CL) factors of an inhibitor while it is taken (``off_h`` None) or
    ``off_h`` hours after it was stopped, after ``hours`` of being taken (None: long enough for steady state).

    Factors: derived from ketamine's own oral data (``ddi.*.clint_factor``, times ``ddi.*.gut_factor`` in the gut
    wall if given; the liver's from an IV hepatic CYP3A probe instead where one is given, :func:`hepatic_cyp3a_part`:
    grapefruit juice, whose gut-wall factor stays its own), or with the liver/gut split of a midazolam probe
    (:func:`inhibitor_split_from_midazolam`); a
    mechanism-based inhibitor's are carried from its studies' pretreatment (``ddi.*.clint_days``,
    ``ddi.*.midazolam_days``, ``ddi.*.oral_auc_days``; not stated: the study is taken as steady state) to steady
    state by the onset below (:func:`inactivation_steady`).
    Onset: a mechanism-based inhibitor (``ddi.*.mechanism_based`` 1) destroys the enzyme it inhibits, so its loss of
    activity builds up at the rate k / (activity left at steady state) per organ (:func:`inactivation_built`; the
    activity left is the probe's h and g for clarithromycin, the IV probe's h in grapefruit juice's liver; for
    ticlopidine the CYP2B6 activity 1 - (1 - f) / s on
    its share s of ketamine's CLint, ``ddi.ticlopidine.cyp2b6_share``, with the hepatic CYP2B6 turnover
    ``pk.cyp2b6_t_half_liver``; otherwise the factor itself: an inhibitor acting on all of ketamine's CLint, the
    slowest onset the factor allows). A reversible inhibitor with an effect follows its own
    accumulation (``ddi.*.elimination_t_half``: 1 / factor - 1 ∝ its concentration, 1 - 2^(-t / t_el)).
    Recovery: once a mechanism-based inhibitor is gone (at once, unless its elimination half-life is given) activity
    returns as the enzyme is resynthesised: the lost fraction falls as 2^(-t_off / t_half) with the same turnover
    half-lives as induction (``pk.induction_t_half_liver`` 72 h, ``pk.induction_t_half_gut`` 23 h), slowed by the
    inhibitor's own elimination where it is sourced (``ddi.*.elimination_t_half``: ticlopidine;
    :func:`inactivation_left`). An inhibitor without an effect (factor 1) has nothing to build or recover; a
    reversible inhibitor with an effect recovers with its own elimination (1 / factor - 1 ∝ its concentration)."""
    if f"ddi.{comedication}.midazolam_iv_auc_ratio" in p.literature:
        h_ss, g_ss = _probe_activity_steady(p, comedication)              # CYP3A activity left, once
        liver, gut, mdz_liver, _ = _split_on_probe(p, comedication, h_ss, g_ss)
        left_ss = {"liver": h_ss, "gut": g_ss}
    else:
        liver = p.get(f"ddi.{comedication}.clint_factor")
        gut = liver * (p.get(f"ddi.{comedication}.gut_factor") if f"ddi.{comedication}.gut_factor" in p.literature
                       else 1.0)
        mdz_liver = None
        share = _inhibited_share(p, comedication)
        left_ss = {"liver": 1.0 - (1.0 - liver) / share, "gut": 1.0 - (1.0 - gut) / share}   # enzyme activity left
        if p.get(f"ddi.{comedication}.mechanism_based") == 1:      # carried from the study's pretreatment
            at = _probe_h(p, comedication, "clint", optional=True)
            left_ss = {organ: inactivation_steady(p, comedication, organ, e, at) for organ, e in left_ss.items()}
            liver, gut = (1.0 - share * (1.0 - left_ss[organ]) for organ in ("liver", "gut"))
        hepatic = hepatic_cyp3a_part(p, comedication)            # a liver effect of its own (grapefruit juice)
        if hepatic is not None:
            mdz_liver, liver = hepatic
            left_ss["liver"] = mdz_liver                             # hepatic CYP3A activity left
    if (off_h is not None or hours is not None) and p.get(f"ddi.{comedication}.mechanism_based") == 1:
        left = {organ: (inactivation_built(p, comedication, organ, hours, left_ss[organ])
                        * (1.0 if off_h is None else inactivation_left(p, comedication, organ, off_h)))
                for organ in ("liver", "gut")}
        liver, gut = 1.0 - (1.0 - liver) * left["liver"], 1.0 - (1.0 - gut) * left["gut"]
        mdz_liver = None if mdz_liver is None else 1.0 - (1.0 - mdz_liver) * left["liver"]
    elif (off_h is not None or hours is not None) and (liver != 1.0 or gut != 1.0):
        t_el = p.get(f"ddi.{comedication}.elimination_t_half", "h")
        left = ((1.0 if hours is None else -math.expm1(-math.log(2) * hours / t_el))
                * (1.0 if off_h is None else 2.0 ** (-off_h / t_el)))
        liver, gut = (1.0 / (1.0 + (1.0 / f - 1.0) * left) for f in (liver, gut))
    if mdz_liver is None:
        return liver, gut, liver
    qh, cl = p.get("pk.hepatic_blood_flow", "L/h"), p.get("pk.midazolam.cl", "L/h")
    return liver, gut, _well_stirred(_hepatic(cl, qh) * mdz_liver, qh) / cl


def midazolam_auc_ratios(p: ParameterSet, liver: float, gut: float) -> tuple[float, float]:
    """(IV, oral) midazolam AUC ratios (with / without) that CYP3A CLint factors ``liver`` and ``gut`` give a
    typical 70-kg adult: the forward direction of :func:`cyp3a_factors_from_midazolam` (well-stirred liver with
    the model's Qh, midazolam CL and oral availability, the gut-wall availability 1 / (1 + g) with g scaled by
    ``gut``). Used to check the time course of induction against midazolam studies."""
    qh = p.get("pk.hepatic_blood_flow", "L/h")
    cl = p.get("pk.midazolam.cl", "L/h")
    x = _hepatic(cl, qh)
    fh = qh / (qh + x)
    g = 1.0 / (p.get("pk.midazolam.f_oral") / fh) - 1.0
    x_ind = x * liver
    fh_ind = qh / (qh + x_ind)
    r_iv = cl / _well_stirred(x_ind, qh)
    r_fg = (1.0 + g) / (1.0 + g * gut)
    return r_iv, r_iv * r_fg * fh_ind / fh


def induction_factors(p: ParameterSet, comedication: str, hours: float | None = None, off_h: float | None = None):
    """(N-demethylation liver factor, N-demethylation gut-wall factor, midazolam CL factor) of an inducer with
    probe data after ``hours`` of pretreatment (None: steady state) and ``off_h`` hours after stopping it (None:
    still taken): CYP3A (midazolam-derived, liver and gut wall
    separately) and CYP2B6 factors weighted by their shares of ketamine's N-demethylation
    (``pk.demethylation_cyp3a_share`` / ``_cyp2b6_share``; the rest of the pathway unchanged). The gut wall is
    given the liver's CYP2B6 factor (assumption). The other pathways (fraction 1 - ``pk.fm_nk`` of CLint) are not
    induced (see :func:`comedication_factors`). Midazolam (CYP3A only) gets its own well-stirred clearance change
    (1 / the IV probe's AUC ratio after the probe's pretreatment). Every probe factor is carried from its study's
    pretreatment (``ddi.*_days``) to ``hours`` and ``off_h`` by the enzymes' turnover (:func:`induction_reached`;
    hepatic CYP3A4 ``pk.induction_t_half_liver``, CYP2B6 ``pk.cyp2b6_t_half_liver``)."""
    h3a, g3a = cyp3a_factors_from_midazolam(p, comedication, hours, off_h)
    f2b6 = _rescaled(p.get(f"ddi.{comedication}.cyp2b6_factor"), p, "cyp2b6", _probe_h(p, comedication, "cyp2b6"), hours,
                     off_h)
    s3a, s2b6 = p.get("pk.demethylation_cyp3a_share"), p.get("pk.demethylation_cyp2b6_share")
    liver = 1.0 + s3a * (h3a - 1.0) + s2b6 * (f2b6 - 1.0)
    gut = 1.0 + s3a * (g3a - 1.0) + s2b6 * (f2b6 - 1.0)
    qh, cl = p.get("pk.hepatic_blood_flow", "L/h"), p.get("pk.midazolam.cl", "L/h")
    x = _hepatic(cl, qh) * h3a
    return liver, gut, _well_stirred(x, qh) / cl


def comedication_factors(p: ParameterSet, comedications) -> tuple[float, float, float, float, float]:
    """Over the comedications: (liver CLint, gut-wall CLint, norketamine yield, norketamine CL, midazolam CL)
    factors. Hepatic and gut-wall CLint are N-demethylation (fraction ``pk.fm_nk``) + other pathways; inhibitors
    whose factors were derived from ketamine's own data scale both, inducers with probe data scale
    N-demethylation only. The yield factor is fm_nk'/fm_nk in the liver (the one yield the model uses for
    systemic and first-pass formation). An entry is a name or ``NAME for DURATION``
    (population.parse_comedication), optionally ``stopped DURATION ago``: the inducer's factors after that
    pretreatment (steady state without one) and that long after stopping; its norketamine-clearance factor is
    carried from its study's pretreatment (``ddi.*.nk_cl_days``) likewise. An inhibitor entry takes the same forms:
    its factors at steady state, after ``for DURATION`` of onset, and recovered since a stop
    (:func:`inhibitor_factors`)."""
    from .population import INDUCERS, parse_comedication

    fm = p.get("pk.fm_nk")
    nk_l, other_l, nk_g, other_g, nk_f, mdz_f = 1.0, 1.0, 1.0, 1.0, 1.0, 1.0
    for entry in comedications:
        c, hours, off_h = parse_comedication(entry, "comedications")
        if c in INDUCERS:                                         # inducer with CYP probe data
            liver, gut, mdz = induction_factors(p, c, hours, off_h)
            nk_l, nk_g = nk_l * liver, nk_g * gut
            nk_f *= _rescaled(p.get(f"ddi.{c}.nk_cl_factor"), p, "liver", _probe_h(p, c, "nk_cl"), hours, off_h)
        else:                                                     # inhibitor sized by ketamine's own data
            liver, gut, mdz = inhibitor_factors(p, c, off_h, hours)
            nk_l, other_l, nk_g, other_g = nk_l * liver, other_l * liver, nk_g * gut, other_g * gut
            nk_f *= p.get(f"ddi.{c}.nk_cl_factor")
        mdz_f *= mdz
    clint_f = fm * nk_l + (1.0 - fm) * other_l
    gut_f = fm * nk_g + (1.0 - fm) * other_g
    return clint_f, gut_f, nk_l / clint_f, nk_f, mdz_f


def build_pk(params: ParameterSet, patients: Patients, drugs: set[Drug], comedications: tuple[str, ...]) -> PKModel:
    """Per-patient PK of every block. ``drugs`` is accepted for interface stability: the disposition no longer
    depends on the product (one molecule, one disposition)."""
    p = params
    n = patients.n
    wt = patients.weight_kg / 70.0
    w075 = wt ** 0.75
    # between-subject variability (standard-normal eta_* x log-scale SD from parameters.csv):
    # eta_v = size of the distribution system: every tissue volume AND the intercompartmental clearances between
    # them (distribution rate constants Q/V unchanged), as the central-volume IIV of venous-sampled popPK models
    # acts on a short infusion's level; the arm-venous sampling compartment (a property of the arm) is not scaled.
    # eta_cl = SYSTEMIC clearance, applied after the well-stirred liver (not to CLint: at the extraction of ~0.6
    # a CLint factor moves CL by only ~40 % of it); first pass is left to the typical liver and eta_f.
    ev_v = np.exp(p.get("iiv.volume_cv") * patients.eta_v)
    ev_cl = np.exp(p.get("iiv.clearance_cv") * patients.eta_cl)
    # inter-occasion variability (a period of a crossover trial; Karlsson & Sheiner 1993): this occasion's own
    # effect on the same systemic clearances as eta_cl and on extravascular F, median-preserving (log-scale mean 0,
    # so geometric mean ratios between periods are unbiased). Only when the patients carry occasion effects: every
    # other run computes exactly what it did before.
    occasion = patients.has_occasion_effects
    if occasion:
        ev_cl = ev_cl * np.exp(p.get("iov.clearance_cv") * patients.occasion_cl)
    female_f = p.get("pk.female_clearance_factor")
    sex = np.where(patients.female, female_f, 1.0)
    qh70 = p.get("pk.hepatic_blood_flow", "L/h")
    qh = (qh70 + p.get("pk.age_hepatic_flow_slope", "L/h") * np.maximum(patients.age_years - 60.0, 0.0)) * w075
    qh = np.maximum(qh, 0.3 * qh70 * w075)
    clint_f, gut_f, yield_f, nk_f, mdz_f = comedication_factors(p, comedications)

    lam = np.zeros((n, N_BLOCKS, MAX_MODES))
    kap = np.zeros((n, N_BLOCKS, MAX_MODES))
    kap_v = np.zeros((n, N_BLOCKS, MAX_MODES))
    vols = np.ones((n, N_BLOCKS, MAX_MODES))
    flows = np.zeros((n, N_BLOCKS, MAX_MODES - 1))
    nmodes = np.zeros(N_BLOCKS, dtype=np.int64)
    venous_weights = np.zeros((N_BLOCKS, MAX_MODES))
    venous_weights[:, 0] = 1.0
    cl = np.zeros((n, N_BLOCKS))
    fh = np.zeros((n, 2))
    fgut = np.zeros((n, 2))

    def _block(b, v, c, q, read=None):
        k = v.shape[1]
        l_, k_, kr = _mammillary(v, c, q, read)
        lam[:, b, :k], kap[:, b, :k], kap_v[:, b, :k], nmodes[b], cl[:, b] = l_, k_, kr, k, c
        vols[:, b, :k], flows[:, b, : k - 1] = v, q
        if read is not None:
            venous_weights[b, :] = 0.0
            venous_weights[b, :k] = read

    # --- parent: one disposition for S and R, whatever the product -------------------------------------
    v70, q70 = parent_disposition(p)
    cl70, fh70, fgut70 = oral_fractions(p)
    read = venous_read(p)
    # eta_v scales the distribution system (tissue volumes and the flows between them), not the venous sample
    venous = PARENT_COMPARTMENTS.index("arm_venous")
    size = np.where(np.arange(len(v70)) == venous, 1.0, ev_v[:, None])                 # (n, 5) volumes
    qsize = np.where(np.arange(len(q70)) == venous - 1, 1.0, ev_v[:, None])            # (n, 4) flows
    for b in (S_KET, R_KET):
        x = _hepatic(cl70[b], qh70) * w075 * clint_f
        # women: +20 % systemic clearance (Sigtermans 2009) on top of the liver's; first pass unchanged, so an
        # oral dose gives women 1/1.2 of men's exposure (not a third, as scaling a high-extraction CLint would);
        # the random effect on clearance acts the same way
        cl_i = qh * x / (qh + x) * sex * ev_cl
        _block(b, v70[None, :] * wt[:, None] * size, cl_i, q70[None, :] * w075[:, None] * qsize, read)
        fh[:, b] = qh / (qh + x)
        g = (1.0 - fgut70[b]) / fgut70[b] * gut_f
        fgut[:, b] = 1.0 / (1.0 + g)
    if occasion:
        # this occasion's bioavailability effect acts on the first pass (gut-wall x liver escape of a swallowed dose,
        # where a CYP substrate's day-to-day variation in oral F arises), not on the absorbed fraction f_iiv, which the
        # kernel caps at 1 (a cap there would censor it); the escape stays <= 1 (mass balance of first-pass norketamine)
        f_occ = np.exp(p.get("iov.bioavailability_cv") * patients.occasion_f)
        fh = np.minimum(fh * f_occ[:, None], 1.0 / fgut)
    # the patient's random effect on bioavailability: for a swallowed dose (oral; the swallowed part of a nasal or
    # sublingual dose) on the first pass as well, capped where escape reaches 1 (first-pass norketamine's mass
    # balance); a cap on the gut depot's fraction (1 x f_iiv, as for the nasal and sublingual depots; IM and SC,
    # FIXED_F_DEPOTS, carry none) censored it above eta_f ~ +0.2, so 42 % of patients shared one oral F (thirty-third
    # session, H1)
    f_iiv = np.exp(p.get("iiv.bioavailability_cv") * patients.eta_f - 0.5 * p.get("iiv.bioavailability_cv") ** 2)
    fh = np.minimum(fh * f_iiv[:, None], 1.0 / fgut)

    # --- norketamine (S and R: one set), HNK, midazolam --------------------------------------------------
    nv = np.array([p.get("pk.norketamine.v", "L"), p.get("pk.norketamine.vp", "L")])
    for b, sexf in ((S_NK, sex), (R_NK, 1.0)):
        c = p.get("pk.norketamine.cl", "L/h") * w075 * sexf * nk_f * ev_cl
        _block(b, nv[None, :] * wt[:, None] * ev_v[:, None], c, np.full((n, 1), p.get("pk.norketamine.q", "L/h")) * w075[:, None])
    hv = np.array([p.get("pk.hnk.v1", "L"), p.get("pk.hnk.v2", "L")])
    hcl = p.get("pk.hnk.cl", "L/h") * w075
    _block(HNK, hv[None, :] * wt[:, None], hcl, (p.get("pk.hnk.q", "L/h") * w075)[:, None])

    vss = p.get("pk.midazolam.vss", "L")
    f1 = p.get("pk.midazolam.v1_fraction")
    mv = np.array([vss * f1, vss * (1 - f1)])
    mcl = p.get("pk.midazolam.cl", "L/h") * w075 * ev_cl * mdz_f
    _block(MDZ, mv[None, :] * wt[:, None] * ev_v[:, None], mcl, (p.get("pk.midazolam.q", "L/h") * w075)[:, None])

    ka = typical_ka(p)[None, :] * np.exp(ka_log_effects(p, patients))
    ke0 = math.log(2) / p.get("pk.t_half_ke0", "h") * np.exp(p.get("iiv.ke0_cv") * patients.eta_ke0)
    fm_nk = np.full(n, p.get("pk.fm_nk") * yield_f)
    return PKModel(lam, kap, kap_v, nmodes, venous_weights, cl, fh, fgut, f_iiv, ka, ke0, vols, flows,
                   p.get("pk.norketamine.brain_partition"), fm_nk)
