"""Link 2 — pharmacokinetics: S- and R-ketamine, norketamine, hydroxynorketamine, midazolam.

Each disposition block is a mammillary compartment model (central + up to two peripheral compartments).
With volumes V and flows Q the amount equations are ``da/dt = K a + input``; the similarity transform
``V^-1/2 K V^1/2`` is symmetric, so every block has real eigenvalues ``lam`` and orthonormal eigenvectors U.
In modal coordinates ``z`` each mode obeys ``dz_m/dt = lam_m z_m + kappa_m * input(t)`` with
``kappa_m = U[0, m] / sqrt(V_central)`` and the central concentration is ``sum_m kappa_m z_m`` (mg/L).
Blocks are joined feed-forward (parent -> norketamine -> HNK; depots -> central), so the solver can treat
every mode exactly (see ``ketasim.solver``).

Covariates: weight (volumes ∝ WT, flows and clearances ∝ WT^0.75), sex (women +20% intrinsic clearance),
age (hepatic blood flow falls above 60). Clearance is hepatic (well-stirred liver):
``CL = Qh * CLint / (Qh + CLint)`` and ``Fh = Qh / (Qh + CLint)``; comedications multiply CLint (liver and gut
wall), so inhibition raises oral exposure much more than IV exposure, as observed.
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
MAX_MODES = 3
BLOCK_NAMES = ("s_ketamine", "r_ketamine", "s_norketamine", "r_norketamine", "hnk", "midazolam")

# depot indices (shared absorption rate constants)
DEPOTS = ("nasal_s", "nasal_r", "gut_s", "gut_r", "im_s", "im_r", "sc_s", "sc_r", "sl_s", "sl_r")
N_DEPOTS = len(DEPOTS)


@dataclasses.dataclass(frozen=True)
class PKModel:
    """Per-patient PK arrays (n patients) in internal units (h, L, mg)."""

    lam: np.ndarray          # (n, 6, 3) eigenvalues, 1/h (<= 0)
    kappa: np.ndarray        # (n, 6, 3) 1/L^0.5 ... central conc = sum kappa*z (mg/L)
    nmodes: np.ndarray       # (6,) int
    cl: np.ndarray           # (n, 6) elimination clearance from the central compartment, L/h
    fh: np.ndarray           # (n, 2) hepatic escape fraction (S, R) for gut absorption
    fgut: np.ndarray         # (n, 2) gut-wall escape fraction (S, R)
    f_iiv: np.ndarray        # (n,) multiplicative bioavailability random effect
    ka: np.ndarray           # (10,) depot absorption rate constants, 1/h
    ke0: np.ndarray          # (n,) 1/h
    volumes: np.ndarray      # (n, 6, 3) L (central first; unused slots 1)
    flows: np.ndarray        # (n, 6, 2) L/h inter-compartmental clearances (unused 0)
    s_product: str           # "racemic" or "esketamine": which published disposition set S-ketamine uses


def _mammillary(v: np.ndarray, cl: np.ndarray, q: np.ndarray):
    """Modal form of mammillary blocks. v: (n, k) volumes (central first); cl: (n,); q: (n, k-1)."""
    n, k = v.shape
    s = np.zeros((n, k, k))
    s[:, 0, 0] = -(cl + q.sum(axis=1)) / v[:, 0]
    for i in range(1, k):
        s[:, i, i] = -q[:, i - 1] / v[:, i]
        off = q[:, i - 1] / np.sqrt(v[:, 0] * v[:, i])
        s[:, 0, i] = off
        s[:, i, 0] = off
    lam, u = np.linalg.eigh(s)
    kappa = u[:, 0, :] / np.sqrt(v[:, :1])
    return lam, kappa


def _hepatic(cl_typical_70, qh_70):
    """Intrinsic clearance (L/h) that gives ``cl_typical_70`` in a well-stirred liver with flow ``qh_70``."""
    if cl_typical_70 >= qh_70:
        raise ValueError("typical clearance must be below hepatic blood flow")
    return qh_70 * cl_typical_70 / (qh_70 - cl_typical_70)


def build_pk(params: ParameterSet, patients: Patients, drugs: set[Drug], comedications: tuple[str, ...]) -> PKModel:
    p = params
    n = patients.n
    wt = patients.weight_kg / 70.0
    w075 = wt ** 0.75
    ev_v = np.exp(p.get("iiv.volume_cv") * patients.eta_v)
    ev_cl = np.exp(p.get("iiv.clearance_cv") * patients.eta_cl)
    sex = np.where(patients.female, p.get("pk.female_clearance_factor"), 1.0)
    qh70 = p.get("pk.hepatic_blood_flow", "L/h")
    qh = (qh70 + p.get("pk.age_hepatic_flow_slope", "L/h") * np.maximum(patients.age_years - 60.0, 0.0)) * w075
    qh = np.maximum(qh, 0.3 * qh70 * w075)

    clint_f, gut_f, nk_f = 1.0, 1.0, 1.0
    for c in comedications:
        clint_f *= p.get(f"ddi.{c}.clint_factor")
        gut_f *= p.get(f"ddi.{c}.gut_factor") if f"ddi.{c}.gut_factor" in p.literature else 1.0
        nk_f *= p.get(f"ddi.{c}.nk_cl_factor")

    # --- parent disposition: published sets are product specific -----------------------------------
    esk_only = Drug.ESKETAMINE in drugs and not ({Drug.RACEMIC_KETAMINE, Drug.ARKETAMINE} & drugs)
    v1r = p.get("pk.racemic.v1", "L/kg") * 70.0
    k10, k12, k21 = (p.get(f"pk.racemic.{k}", "1/h") for k in ("k10", "k12", "k21"))
    cl_rac = k10 * v1r
    ratio = p.get("pk.r_to_s_clearance_ratio")
    cl_s_rac, cl_r_rac = 2 * cl_rac / (1 + ratio), 2 * cl_rac * ratio / (1 + ratio)
    rac_v = np.array([v1r, v1r * k12 / k21, 1.0])
    rac_q = np.array([k12 * v1r, 0.0])
    if esk_only:
        s_v = np.array([p.get("pk.esketamine.vc", "L"), p.get("pk.esketamine.vp1", "L"), p.get("pk.esketamine.vp2", "L")])
        s_q = np.array([p.get("pk.esketamine.q1", "L/h"), p.get("pk.esketamine.q2", "L/h")])
        s_cl, s_foral = p.get("pk.esketamine.cl", "L/h"), p.get("route.oral.f_esketamine")
        nk_key = "nk_esketamine"
    else:
        s_v, s_q, s_cl, s_foral = rac_v, rac_q, cl_s_rac, p.get("route.oral.f_racemic")
        nk_key = "nk_racemic"
    r_foral = p.get("route.oral.f_racemic")

    lam = np.zeros((n, N_BLOCKS, MAX_MODES))
    kap = np.zeros((n, N_BLOCKS, MAX_MODES))
    vols = np.ones((n, N_BLOCKS, MAX_MODES))
    flows = np.zeros((n, N_BLOCKS, MAX_MODES - 1))

    def _block(b, v, c, q):
        k = v.shape[1]
        l_, k_ = _mammillary(v, c, q)
        lam[:, b, :k], kap[:, b, :k], nmodes[b], cl[:, b] = l_, k_, k, c
        vols[:, b, :k], flows[:, b, : k - 1] = v, q

    nmodes = np.zeros(N_BLOCKS, dtype=np.int64)
    cl = np.zeros((n, N_BLOCKS))
    fh = np.zeros((n, 2))
    fgut = np.zeros((n, 2))

    female_f = p.get("pk.female_clearance_factor")
    for b, (v, q, cl70, foral) in enumerate(((s_v, s_q, s_cl, s_foral), (rac_v, rac_q, cl_r_rac, r_foral))):
        k = 3 if q[1] > 0 else 2
        # women: +20 % systemic clearance (Sigtermans 2009), expressed through intrinsic clearance
        x70_sex = np.where(patients.female, _hepatic(min(female_f * cl70, 0.95 * qh70), qh70), _hepatic(cl70, qh70))
        x = x70_sex * w075 * ev_cl * clint_f
        cl_i = qh * x / (qh + x)
        _block(b, v[None, :k] * wt[:, None] * ev_v[:, None], cl_i, q[None, : k - 1] * w075[:, None])
        fh[:, b] = qh / (qh + x)
        fgut70 = min(1.0, foral / (1.0 - cl70 / qh70))
        g = (1.0 - fgut70) / fgut70 * clint_f * gut_f
        fgut[:, b] = 1.0 / (1.0 + g)

    # --- norketamine (S and R), HNK, midazolam ---------------------------------------------------------
    for b, key, sexf in ((S_NK, nk_key, sex), (R_NK, "nk_racemic", 1.0)):
        v = np.array([p.get(f"pk.{key}.v", "L"), p.get(f"pk.{key}.vp", "L")])
        c = p.get(f"pk.{key}.cl", "L/h") * w075 * sexf * nk_f * ev_cl
        _block(b, v[None, :] * wt[:, None] * ev_v[:, None], c, np.full((n, 1), p.get(f"pk.{key}.q", "L/h")) * w075[:, None])
    hv = np.array([p.get("pk.hnk.v1", "L"), p.get("pk.hnk.v2", "L")])
    hcl = p.get("pk.hnk.cl", "L/h") * w075
    _block(HNK, hv[None, :] * wt[:, None], hcl, (p.get("pk.hnk.q", "L/h") * w075)[:, None])

    vss = p.get("pk.midazolam.vss", "L")
    f1 = p.get("pk.midazolam.v1_fraction")
    mv = np.array([vss * f1, vss * (1 - f1)])
    mcl = p.get("pk.midazolam.cl", "L/h") * w075 * ev_cl * clint_f
    _block(MDZ, mv[None, :] * wt[:, None] * ev_v[:, None], mcl, (p.get("pk.midazolam.q", "L/h") * w075)[:, None])

    ka = np.array([p.get("route.intranasal.ka", "1/h")] * 2 + [p.get("route.oral.ka", "1/h")] * 2
                  + [p.get("route.im.ka", "1/h")] * 2 + [p.get("route.sc.ka", "1/h")] * 2
                  + [p.get("route.sublingual.ka", "1/h")] * 2)
    f_iiv = np.exp(p.get("iiv.bioavailability_cv") * patients.eta_f - 0.5 * p.get("iiv.bioavailability_cv") ** 2)
    ke0 = math.log(2) / p.get("pk.t_half_ke0", "h") * np.exp(p.get("iiv.ke0_cv") * patients.eta_ke0)
    return PKModel(lam, kap, nmodes, cl, fh, fgut, f_iiv, ka, ke0, vols, flows, "esketamine" if esk_only else "racemic")
