"""The compiled engine: every virtual patient of an arm integrated along the arm's shared grid.

Each state obeys ``dx/dt = lam x + f(t)`` where ``f`` depends only on states *upstream* in the chain, so one
step visits the links in chain order and, for each, (1) evaluates its forcing at the start, middle and end
of the step from upstream values already advanced, and (2) advances it with the exact-exponential weights
of ``expint``. PK blocks are advanced in their modal coordinates (exact for infusions). Dosing events are
applied exactly at grid points. Patients run in parallel (numba ``prange``), with no Python per patient.

Array layouts (indices are module constants):

* ``mc``  — model constants shared by all patients (``MC_*``)
* ``pp``  — per-patient parameters, shape (n, NP) (``PP_*``)
* ``w_shared`` — weights of shared rates (``R_*``), shape (n_rates, n_unique_steps, 8)
* events — parallel arrays sorted by grid index: kind (``EV_*``), target, mg, mg/kg, fraction
* ``out`` — (n, n_out, N_OUT) trajectories (``O_*``); ``summ`` — (n, n_sessions, N_SUM) per-session peaks
"""

from __future__ import annotations


import numpy as np
from numba import njit, prange

from ..links.circuit import ampa_drive, glutamate_target
from ..links.plasticity import il6_target, protein_target, spine_target
from ..links.receptor import nmda_block, occupancy_drive
from ..links.side_effects import emax_model, nausea_probability, sedation
from ..links.signalling import anesthetic_drive, bdnf_target, mtorc1_target, trkb_activation
from ..links.symptoms import drug_relief, placebo_relief, symptom_target
from ..pk import MAX_MODES as NM
from .expint import step_weights

# ---- model constants (mc) --------------------------------------------------------------------------------
MC_NAMES = (
    "ki_s", "ki_r", "ki_snk", "ki_rnk", "m_interneuron", "m_pyramidal", "nmda_hill", "g_dis",
    "w_hnk", "ec50_hnk", "bdnf_gain", "eef2_gain", "trkb_k", "trkb_hill", "protein_gain", "spine_gain",
    "il6_effect", "w_protein", "w_spine", "cadss_max", "cadss_ec50", "cadss_hill", "tolerance_gain",
    "sbp_emax", "sbp_ec50", "dbp_emax", "hr_emax", "sedation_ec50", "midazolam_ec50", "nausea_pmax",
    "nausea_ec50", "fu", "fu_midazolam", "mw_ketamine", "mw_norketamine", "mw_hnk", "mw_midazolam",
    "fm_nk", "fm_hnk", "perception_gain", "antidepressant_emax", "anesthesia_umol", "ampa_block",
    "mtor_block", "spine_block", "session_expectancy", "monitor_cadss", "monitor_sedation", "monitor_sbp",
    "w_mtorc1", "anes_block50", "anes_hill", "ampa_eps", "anes_onset", "general_anesthesia_depth",
    "monitor_window_h",
)
(MC_KI_S, MC_KI_R, MC_KI_SNK, MC_KI_RNK, MC_M_I, MC_M_E, MC_HILL, MC_GDIS,
 MC_W_HNK, MC_EC50_HNK, MC_BDNF_GAIN, MC_EEF2, MC_TRKB_K, MC_TRKB_N, MC_PROT_GAIN, MC_SPINE_GAIN,
 MC_IL_EFF, MC_W_P, MC_W_S, MC_CADSS_MAX, MC_CADSS_EC50, MC_CADSS_HILL, MC_TOL_GAIN,
 MC_SBP_EMAX, MC_SBP_EC50, MC_DBP_EMAX, MC_HR_EMAX, MC_SED_EC50, MC_MDZ_EC50, MC_NAUSEA_PMAX,
 MC_NAUSEA_EC50, MC_FU, MC_FU_MDZ, MC_MW_K, MC_MW_NK, MC_MW_HNK, MC_MW_MDZ,
 MC_FM_NK, MC_FM_HNK, MC_PERC_GAIN, MC_AD_EMAX, MC_ANES, MC_AMPA_BLOCK,
 MC_MTOR_BLOCK, MC_SPINE_BLOCK, MC_SESSION_X, MC_MON_CADSS, MC_MON_SED, MC_MON_SBP,
 MC_W_M, MC_ANES_B50, MC_ANES_HILL, MC_AMPA_EPS, MC_ANES_ON, MC_GA_DEPTH,
 MC_MON_WINDOW) = range(len(MC_NAMES))

# ---- per-patient parameters (pp) -------------------------------------------------------------------------
PP_NAMES = ("weight_kg", "fh_s", "fh_r", "fgut_s", "fgut_r", "f_iiv", "cl_s", "cl_r", "cl_snk", "cl_rnk",
            "ke0", "bdnf_multiplier", "emax_drug", "emax_placebo", "spine_set_point", "bp_sensitivity",
            "dissociation_sensitivity")
(PP_WT, PP_FH_S, PP_FH_R, PP_FGUT_S, PP_FGUT_R, PP_FIIV, PP_CL_S, PP_CL_R, PP_CL_SNK, PP_CL_RNK,
 PP_KE0, PP_BDNF_MULT, PP_EMAX, PP_EMAX_PL, PP_S0, PP_BP_SENS, PP_DISS_SENS) = range(len(PP_NAMES))

# ---- shared rate constants (w_shared rows): 10 depots then the PD links --------------------------------
R_GLUT, R_BDNF, R_MTOR, R_PROT, R_SPINE, R_IL6, R_EXPECT, R_AD, R_SYMPTOM, R_TOL, R_NAUSEA, R_ANES = range(10, 22)
N_RATES = 22
N_PD = 12   # glutamate, bdnf, mtorc1, proteins, spines, il6, expectancy, antidepressant, severity, tolerance,
            # emetic drive, anesthetic state

# ---- events ----------------------------------------------------------------------------------------------
EV_BOLUS, EV_DEPOT, EV_RATE, EV_SESSION, EV_AD_START, EV_GENERAL_ANESTHESIA = range(6)
RATE_SLOT = (0, 1, -1, -1, -1, 2)      # block -> infusion slot (S, R, midazolam)

# ---- outputs ---------------------------------------------------------------------------------------------
OUT_NAMES = (
    "cp_s_ketamine_ng_ml", "cp_r_ketamine_ng_ml", "cp_ketamine_ng_ml", "cp_norketamine_ng_ml", "cp_hnk_ng_ml",
    "cp_midazolam_ng_ml", "ce_ketamine_ng_ml", "nmda_block_interneuron", "nmda_block_pyramidal", "glutamate",
    "ampa", "bdnf", "trkb", "mtorc1", "synaptic_proteins", "spine_density", "il6", "expectancy",
    "antidepressant_onset", "severity", "cadss", "sbp_change_mmhg", "dbp_change_mmhg", "hr_change_bpm",
    "sedation", "nausea_probability", "anesthesia", "anesthetic_state",
    "ca_s_ketamine_ng_ml", "ca_r_ketamine_ng_ml", "ca_ketamine_ng_ml",
)
N_OUT = len(OUT_NAMES)
SUM_NAMES = ("cadss_peak", "sbp_change_peak", "dbp_change_peak", "hr_change_peak", "sedation_peak",
             "nausea_probability", "discharge_ready_h")
N_SUM = len(SUM_NAMES)


@njit(cache=True, inline="always")
def _adv(x0, f0, fm, f1, w, r, u):
    """(x at mid-step, x at end of step) for forcing values f0, fm, f1 and the weights w[r, u, 0:8].
    (Scalar indexing on purpose: creating an array view per state and step costs more than the arithmetic.)"""
    return (w[r, u, 1] * x0 + w[r, u, 5] * f0 + w[r, u, 6] * fm + w[r, u, 7] * f1,
            w[r, u, 0] * x0 + w[r, u, 2] * f0 + w[r, u, 3] * fm + w[r, u, 4] * f1)


@njit(cache=True)
def _write_outputs(row, z, kappa_i, kappa_v_i, nmodes, active, ce, st, mc, pp_i, c):
    """Fill one output row from the state at a grid point (``c``: scratch array of 6).
    Plasma columns (cp_*) are the sampled, venous concentrations (``kappa_v_i``); ca_* are arterial
    (``kappa_i``, the central compartment that drives elimination and the effect site)."""
    ca_s = 0.0
    ca_r = 0.0
    for b in range(6):
        c[b] = 0.0
        if active[b]:
            s = 0.0
            a = 0.0
            for m in range(nmodes[b]):
                s += kappa_v_i[b, m] * z[b, m]
                a += kappa_i[b, m] * z[b, m]
            c[b] = max(s, 0.0) * 1000.0    # mg/L -> ng/mL (a modal sum: clip rounding below zero)
            if b == 0:
                ca_s = a * 1000.0
            elif b == 1:
                ca_r = a * 1000.0
    drive = occupancy_drive(ce[0], ce[1], ce[2], ce[3], mc[MC_KI_S], mc[MC_KI_R], mc[MC_KI_SNK], mc[MC_KI_RNK])
    bi = nmda_block(drive, mc[MC_M_I], mc[MC_HILL])
    be = nmda_block(drive, mc[MC_M_E], mc[MC_HILL])
    ceq = ce[0] + ce[1] * mc[MC_KI_S] / mc[MC_KI_R]    # parent drug only (side effects)
    glut, bdnf, mtor, prot, spine, il6, xexp, ad, sev, tol, naus, anes = st
    row[0] = c[0]
    row[1] = c[1]
    row[2] = c[0] + c[1]
    row[3] = c[2] + c[3]
    row[4] = c[4]
    row[5] = c[5]
    row[6] = (ce[0] + ce[1]) / mc[MC_FU] * mc[MC_MW_K]
    row[7] = bi
    row[8] = be
    row[9] = glut
    row[10] = 1.0 + ampa_drive(glut, ce[4], mc[MC_W_HNK], mc[MC_EC50_HNK], mc[MC_AMPA_BLOCK], mc[MC_AMPA_EPS])
    row[11] = bdnf
    row[12] = trkb_activation(bdnf, mc[MC_TRKB_K], mc[MC_TRKB_N])
    row[13] = mtor
    row[14] = prot
    row[15] = spine / pp_i[PP_S0]
    row[16] = il6
    row[17] = xexp
    row[18] = ad
    row[19] = sev
    bp = pp_i[PP_BP_SENS]
    row[20] = mc[MC_CADSS_MAX] * pp_i[PP_DISS_SENS] * emax_model(ceq, 1.0, mc[MC_CADSS_EC50], mc[MC_CADSS_HILL]) / (1.0 + tol)
    row[21] = bp * emax_model(ceq, mc[MC_SBP_EMAX], mc[MC_SBP_EC50], 1.0)
    row[22] = bp * emax_model(ceq, mc[MC_DBP_EMAX], mc[MC_SBP_EC50], 1.0)
    row[23] = bp * emax_model(ceq, mc[MC_HR_EMAX], mc[MC_SBP_EC50], 1.0)
    row[24] = sedation(ceq, mc[MC_SED_EC50], ce[5], mc[MC_MDZ_EC50])
    row[25] = nausea_probability(naus, mc[MC_NAUSEA_PMAX], mc[MC_NAUSEA_EC50])
    row[26] = 1.0 if (c[0] + c[1]) / mc[MC_MW_K] >= mc[MC_ANES] else 0.0
    row[27] = anes
    row[28] = ca_s
    row[29] = ca_r
    row[30] = ca_s + ca_r


@njit(cache=True)
def simulate_patient(i, times, step_uid, unique_steps, w_shared, rates, lam, kappa, kappa_venous, nmodes, active,
                     active_dep, ka,
                     pp, mc, ev_step, ev_kind, ev_target, ev_mg, ev_mgkg, ev_frac, out_idx, out, summ):
    """Integrate patient ``i``; write trajectories to ``out[i]`` and per-session peaks to ``summ[i]``."""
    n_u = unique_steps.shape[0]
    pp_i = pp[i]
    # per-patient weights: PK modes and effect-site equilibration
    wpk = np.empty((6 * NM, n_u, 8))          # row b*NM + m: mode m of PK block b
    for b in range(6):
        if active[b]:
            for m in range(nmodes[b]):
                for u in range(n_u):
                    step_weights(lam[i, b, m], unique_steps[u], wpk[b * NM + m, u])
    wke = np.empty((1, n_u, 8))
    for u in range(n_u):
        step_weights(-pp_i[PP_KE0], unique_steps[u], wke[0, u])

    z = np.zeros((6, NM))
    zn = np.zeros((6, NM, 3))
    dep = np.zeros(10)
    depn = np.zeros((10, 3))
    ce = np.zeros(6)
    cen = np.zeros((6, 3))
    cn = np.zeros((6, 3))
    cscratch = np.zeros(6)
    rate = np.zeros(3)
    ad_on = 0.0
    s0 = pp_i[PP_S0]
    # PD states: glutamate, bdnf, mtorc1, proteins, spines, il6, expectancy, antidepressant, severity,
    # tolerance, emetic drive
    st = np.array([1.0, 1.0, 1.0, 1.0, s0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    f_in = np.zeros((6, 3))
    extracted = np.zeros((2, 3))
    drive = np.zeros(3)
    be = np.zeros(3)
    tgt = np.zeros(3)
    aux = np.zeros(3)
    cad = np.zeros(3)
    ceq = np.zeros(3)
    node = np.zeros((N_PD, 3))
    margin = np.zeros(3)
    fh_s, fh_r = pp_i[PP_FH_S], pp_i[PP_FH_R]
    wt = pp_i[PP_WT]
    fm_nk, fm_hnk = mc[MC_FM_NK], mc[MC_FM_HNK]
    conv_k = 1000.0 / mc[MC_MW_K]
    conv_nk = 1000.0 / mc[MC_MW_NK]
    conv_hnk = 1000.0 / mc[MC_MW_HNK]
    conv_mdz = 1000.0 / mc[MC_MW_MDZ]
    ke0 = pp_i[PP_KE0]
    fu, fu_m = mc[MC_FU], mc[MC_FU_MDZ]
    n_steps = times.shape[0] - 1
    n_ev = ev_step.shape[0]
    n_out = out_idx.shape[0]
    n_sess = summ.shape[1]
    e = 0
    o = 0
    sess = -1
    sess_t0 = 0.0
    for n in range(n_steps + 1):
        # ---- events at this grid point (exact) -------------------------------------------------------
        while e < n_ev and ev_step[e] == n:
            kind = ev_kind[e]
            tg = ev_target[e]
            amount = ev_mg[e] + ev_mgkg[e] * wt
            if kind == EV_BOLUS:
                for m in range(nmodes[tg]):
                    z[tg, m] += kappa[i, tg, m] * amount
            elif kind == EV_DEPOT:
                if tg == 2:
                    f = ev_frac[e] * pp_i[PP_FGUT_S] * pp_i[PP_FIIV]
                elif tg == 3:
                    f = ev_frac[e] * pp_i[PP_FGUT_R] * pp_i[PP_FIIV]
                else:
                    f = ev_frac[e] * pp_i[PP_FIIV]
                dep[tg] += amount * min(f, 1.0)
            elif kind == EV_RATE:
                rate[RATE_SLOT[tg]] += amount
                if abs(rate[RATE_SLOT[tg]]) < 1e-12:
                    rate[RATE_SLOT[tg]] = 0.0
            elif kind == EV_SESSION:
                st[6] += mc[MC_SESSION_X]
                sess += 1
                sess_t0 = times[n]
            elif kind == EV_AD_START:
                ad_on = 1.0
            elif kind == EV_GENERAL_ANESTHESIA:
                st[11] += mc[MC_GA_DEPTH]
            e += 1
        while o < n_out and out_idx[o] == n:
            _write_outputs(out[i, o], z, kappa[i], kappa_venous[i], nmodes, active, ce, st, mc, pp_i, cscratch)
            o += 1
        if n == n_steps:
            break
        u = step_uid[n]
        h = times[n + 1] - times[n]

        # ---- depots: exact exponential decay -------------------------------------------------------------
        for d in range(10):
            if active_dep[d]:
                depn[d, 0] = dep[d]
                depn[d, 1] = dep[d] * w_shared[d, u, 1]
                depn[d, 2] = dep[d] * w_shared[d, u, 0]
        # ---- parent ketamine blocks: input into central (mg/h) ---------------------------------------------
        for k in range(3):
            f_in[0, k] = (rate[0] + ka[0] * depn[0, k] + ka[4] * depn[4, k] + ka[6] * depn[6, k]
                          + ka[8] * depn[8, k] + ka[2] * depn[2, k] * fh_s)
            f_in[1, k] = (rate[1] + ka[1] * depn[1, k] + ka[5] * depn[5, k] + ka[7] * depn[7, k]
                          + ka[9] * depn[9, k] + ka[3] * depn[3, k] * fh_r)
            extracted[0, k] = ka[2] * depn[2, k] * (1.0 - fh_s)     # first pass forms norketamine
            extracted[1, k] = ka[3] * depn[3, k] * (1.0 - fh_r)
            f_in[5, k] = rate[2]
        for b in (0, 1, 2, 3, 4, 5):
            if not active[b]:
                continue
            if b == 2 or b == 3:
                p = b - 2
                clp = pp_i[PP_CL_S] if p == 0 else pp_i[PP_CL_R]
                for k in range(3):
                    f_in[b, k] = fm_nk * (clp * cn[p, k] + extracted[p, k])
            elif b == 4:
                for k in range(3):
                    f_in[4, k] = fm_hnk * (pp_i[PP_CL_SNK] * cn[2, k] + pp_i[PP_CL_RNK] * cn[3, k])
            for k in range(3):
                cn[b, k] = 0.0
            for m in range(nmodes[b]):
                kap = kappa[i, b, m]
                zm, z1 = _adv(z[b, m], kap * f_in[b, 0], kap * f_in[b, 1], kap * f_in[b, 2], wpk, b * NM + m, u)
                zn[b, m, 0] = z[b, m]
                zn[b, m, 1] = zm
                zn[b, m, 2] = z1
                for k in range(3):
                    cn[b, k] += kap * zn[b, m, k]
        # ---- effect sites (unbound, µM) ------------------------------------------------------------------
        for j in range(6):
            if j == 0 or j == 1:
                conv = conv_k * fu
            elif j == 2 or j == 3:
                conv = conv_nk * fu
            elif j == 4:
                conv = conv_hnk * fu
            else:
                conv = conv_mdz * fu_m
            blk = j
            if active[blk]:
                cm, c1 = _adv(ce[j], ke0 * conv * cn[blk, 0], ke0 * conv * cn[blk, 1], ke0 * conv * cn[blk, 2], wke, 0, u)
                cen[j, 0] = ce[j]
                cen[j, 1] = cm
                cen[j, 2] = c1
            else:
                cen[j, 0] = 0.0
                cen[j, 1] = 0.0
                cen[j, 2] = 0.0
        # ---- NMDA block -> glutamate ---------------------------------------------------------------------
        for k in range(3):
            drive[k] = occupancy_drive(cen[0, k], cen[1, k], cen[2, k], cen[3, k],
                                       mc[MC_KI_S], mc[MC_KI_R], mc[MC_KI_SNK], mc[MC_KI_RNK])
            bi = nmda_block(drive[k], mc[MC_M_I], mc[MC_HILL])
            be[k] = nmda_block(drive[k], mc[MC_M_E], mc[MC_HILL])
            # side effects follow the parent drug (S-equivalent of S- and R-ketamine; norketamine excluded)
            ceq[k] = cen[0, k] + cen[1, k] * mc[MC_KI_S] / mc[MC_KI_R]
            tgt[k] = glutamate_target(bi, be[k], mc[MC_GDIS])
        _link(0, st, node, tgt, w_shared, rates, R_GLUT, u)
        for k in range(3):
            aux[k] = anesthetic_drive(be[k], mc[MC_ANES_B50], mc[MC_ANES_HILL])
        _link_raw(11, st, node, aux, mc[MC_ANES_ON], w_shared, R_ANES, u)
        # ---- AMPA -> BDNF -> TrkB/mTORC1 -> proteins -> spines, IL-6 -----------------------------------------
        gain = mc[MC_BDNF_GAIN] * pp_i[PP_BDNF_MULT]
        for k in range(3):
            a = ampa_drive(node[0, k], cen[4, k], mc[MC_W_HNK], mc[MC_EC50_HNK], mc[MC_AMPA_BLOCK], mc[MC_AMPA_EPS])
            tgt[k] = bdnf_target(a, be[k], gain, mc[MC_EEF2], node[11, k])
        _link(1, st, node, tgt, w_shared, rates, R_BDNF, u)
        for k in range(3):
            tgt[k] = mtorc1_target(trkb_activation(node[1, k], mc[MC_TRKB_K], mc[MC_TRKB_N]), mc[MC_MTOR_BLOCK])
        _link(2, st, node, tgt, w_shared, rates, R_MTOR, u)
        for k in range(3):
            tgt[k] = protein_target(node[2, k], mc[MC_PROT_GAIN])
        _link(3, st, node, tgt, w_shared, rates, R_PROT, u)
        for k in range(3):
            tgt[k] = spine_target(node[3, k], mc[MC_SPINE_GAIN], mc[MC_SPINE_BLOCK], s0)
            aux[k] = il6_target(node[3, k], mc[MC_IL_EFF])
        _link(4, st, node, tgt, w_shared, rates, R_SPINE, u)
        _link(5, st, node, aux, w_shared, rates, R_IL6, u)
        # ---- side-effect drives: tolerance, perception -> expectancy ---------------------------------------
        for k in range(3):
            cad[k] = emax_model(ceq[k], 1.0, mc[MC_CADSS_EC50], mc[MC_CADSS_HILL])
            tgt[k] = cad[k]
        _link_raw(9, st, node, tgt, mc[MC_TOL_GAIN], w_shared, R_TOL, u)
        for k in range(3):
            perceived = pp_i[PP_DISS_SENS] * cad[k] / (1.0 + node[9, k]) + sedation(ceq[k], mc[MC_SED_EC50], cen[5, k], mc[MC_MDZ_EC50])
            tgt[k] = perceived
        _link_raw(6, st, node, tgt, mc[MC_PERC_GAIN] * mc[MC_SESSION_X], w_shared, R_EXPECT, u)
        for k in range(3):
            tgt[k] = ad_on
        _link(7, st, node, tgt, w_shared, rates, R_AD, u)
        _link(10, st, node, ceq, w_shared, rates, R_NAUSEA, u)
        # ---- symptoms ------------------------------------------------------------------------------------
        for k in range(3):
            rd = min(drug_relief(node[2, k], node[3, k], node[4, k] / s0, mc[MC_W_M], mc[MC_W_P], mc[MC_W_S], pp_i[PP_EMAX]), 0.98)
            rp = placebo_relief(node[6, k], pp_i[PP_EMAX_PL])
            ra = mc[MC_AD_EMAX] * node[7, k]
            tgt[k] = symptom_target(rd, rp, ra)
        _link(8, st, node, tgt, w_shared, rates, R_SYMPTOM, u)

        # ---- per-session peaks and discharge readiness, within the monitoring window after a session -------
        if sess >= 0 and sess < n_sess and times[n] - sess_t0 < mc[MC_MON_WINDOW]:
            sm = summ[i, sess]
            for k in range(3):
                cadss = mc[MC_CADSS_MAX] * pp_i[PP_DISS_SENS] * cad[k] / (1.0 + node[9, k])
                sbp = pp_i[PP_BP_SENS] * emax_model(ceq[k], mc[MC_SBP_EMAX], mc[MC_SBP_EC50], 1.0)
                sed = sedation(ceq[k], mc[MC_SED_EC50], cen[5, k], mc[MC_MDZ_EC50])
                # > 0 while any discharge criterion is unmet (relative distance to its threshold)
                margin[k] = max(cadss / mc[MC_MON_CADSS] - 1.0, sed / mc[MC_MON_SED] - 1.0, sbp / mc[MC_MON_SBP] - 1.0)
                if k == 0:
                    continue
                dbp = pp_i[PP_BP_SENS] * emax_model(ceq[k], mc[MC_DBP_EMAX], mc[MC_SBP_EC50], 1.0)
                hr = pp_i[PP_BP_SENS] * emax_model(ceq[k], mc[MC_HR_EMAX], mc[MC_SBP_EC50], 1.0)
                pn = nausea_probability(node[10, k], mc[MC_NAUSEA_PMAX], mc[MC_NAUSEA_EC50])
                sm[0] = max(sm[0], cadss)
                sm[1] = max(sm[1], sbp)
                sm[2] = max(sm[2], dbp)
                sm[3] = max(sm[3], hr)
                sm[4] = max(sm[4], sed)
                sm[5] = max(sm[5], pn)
            # the last time the criteria were unmet: linear interpolation of the margin between nodes
            for k in range(3):
                if margin[k] > 0.0:
                    t_k = times[n] + 0.5 * h * k
                    if k < 2 and margin[k + 1] <= 0.0:
                        t_k += 0.5 * h * margin[k] / (margin[k] - margin[k + 1])
                    elif k == 2:
                        t_k = times[n] + h
                    sm[6] = max(sm[6], t_k - sess_t0)

        # ---- commit the end-of-step state ----------------------------------------------------------------
        for b in range(6):
            if active[b]:
                for m in range(nmodes[b]):
                    z[b, m] = zn[b, m, 2]
        for d in range(10):
            dep[d] = depn[d, 2]
        for j in range(6):
            ce[j] = cen[j, 2]
        for s in range(N_PD):
            st[s] = node[s, 2]


@njit(cache=True, inline="always")
def _link(s, st, node, target, w_shared, rates, r, u):
    """Advance PD state ``s`` with ``dx/dt = k (target - x)``; k = rates[r] (1/h)."""
    k = rates[r]
    xm, x1 = _adv(st[s], k * target[0], k * target[1], k * target[2], w_shared, r, u)
    node[s, 0] = st[s]
    node[s, 1] = xm
    node[s, 2] = x1


@njit(cache=True, inline="always")
def _link_raw(s, st, node, forcing, gain, w_shared, r, u):
    """Advance PD state ``s`` with ``dx/dt = -k x + gain * forcing``."""
    xm, x1 = _adv(st[s], gain * forcing[0], gain * forcing[1], gain * forcing[2], w_shared, r, u)
    node[s, 0] = st[s]
    node[s, 1] = xm
    node[s, 2] = x1




@njit(cache=True, parallel=True)
def run_arm(times, step_uid, unique_steps, w_shared, rates, lam, kappa, kappa_venous, nmodes, active, active_dep, ka,
            pp, mc, ev_step, ev_kind, ev_target, ev_mg, ev_mgkg, ev_frac, out_idx, out, summ):
    """All patients of an arm, in parallel. Results land in ``out`` and ``summ``."""
    for i in prange(pp.shape[0]):
        simulate_patient(i, times, step_uid, unique_steps, w_shared, rates, lam, kappa, kappa_venous, nmodes, active,
                         active_dep, ka, pp, mc, ev_step, ev_kind, ev_target, ev_mg, ev_mgkg, ev_frac, out_idx, out, summ)
