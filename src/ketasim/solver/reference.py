"""An independent, tight-tolerance reference solution of one patient (for tests and the benchmark).

It integrates the *same model* in its original coordinates — compartment amounts (not modes), with
scipy's DOP853 at rtol 1e-11 between dosing events — so it checks the kernel's modal transform, the
exponential-integrator weights, event handling and the time grid. It shares only the link equations
(``ketasim.links``) and the prepared inputs (parameters, events) with the kernel.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ..links.circuit import ampa_drive, glutamate_target
from ..links.plasticity import il6_target, protein_target, spine_target
from ..links.receptor import nmda_block, occupancy_drive
from ..links.side_effects import emax_model, sedation
from ..links.signalling import anesthetic_drive, bdnf_target, mtorc1_target, trkb_activation
from ..links.symptoms import drug_relief, placebo_relief, symptom_target
from . import kernel as K


def reference_solve(prepared, i: int = 0, rtol: float = 1e-11, atol: float = 1e-13) -> np.ndarray:
    """Trajectories (n_out, N_OUT) of patient ``i`` of a :class:`ketasim.engine.PreparedArm`."""
    a = prepared
    m = a.model
    mc, pp, rates = a.mc, a.pp[i], a.rates
    nblk = [int(m.nmodes[b]) if a.active[b] else 0 for b in range(6)]
    offs = np.cumsum([0] + nblk)
    n_pk = int(offs[-1])
    i_dep, i_ce, i_pd = n_pk, n_pk + 10, n_pk + 16
    n_state = i_pd + K.N_PD
    vol, flow, cl = m.volumes[i], m.flows[i], m.cl[i]
    ka = m.ka
    s0 = pp[K.PP_S0]
    fu, fu_m = mc[K.MC_FU], mc[K.MC_FU_MDZ]
    conv = np.array([1000 / mc[K.MC_MW_K]] * 2 + [1000 / mc[K.MC_MW_NK]] * 2 + [1000 / mc[K.MC_MW_HNK], 1000 / mc[K.MC_MW_MDZ]])
    fus = np.array([fu] * 5 + [fu_m])
    ke0 = pp[K.PP_KE0]
    inf = np.zeros(3)
    ad_on = [0.0]

    def conc(y):
        c = np.zeros(6)
        for b in range(6):
            if nblk[b]:
                c[b] = y[offs[b]] / vol[b, 0]
        return c

    def rhs(t, y):
        dy = np.zeros_like(y)
        c = conc(y)
        dep = y[i_dep:i_dep + 10]
        fh_s, fh_r = pp[K.PP_FH_S], pp[K.PP_FH_R]
        inp = np.zeros(6)
        inp[0] = inf[0] + ka[0] * dep[0] + ka[4] * dep[4] + ka[6] * dep[6] + ka[8] * dep[8] + ka[2] * dep[2] * fh_s
        inp[1] = inf[1] + ka[1] * dep[1] + ka[5] * dep[5] + ka[7] * dep[7] + ka[9] * dep[9] + ka[3] * dep[3] * fh_r
        inp[2] = mc[K.MC_FM_NK] * (pp[K.PP_CL_S] * c[0] + ka[2] * dep[2] * (1 - fh_s))
        inp[3] = mc[K.MC_FM_NK] * (pp[K.PP_CL_R] * c[1] + ka[3] * dep[3] * (1 - fh_r))
        inp[4] = mc[K.MC_FM_HNK] * (pp[K.PP_CL_SNK] * c[2] + pp[K.PP_CL_RNK] * c[3])
        inp[5] = inf[2]
        for b in range(6):
            k = nblk[b]
            if not k:
                continue
            o = offs[b]
            d0 = inp[b] - cl[b] * c[b]
            for j in range(1, k):
                q, vj = flow[b, j - 1], vol[b, j]
                fl = q * (c[b] - y[o + j] / vj)
                d0 -= fl
                dy[o + j] = fl
            dy[o] = d0
        dy[i_dep:i_dep + 10] = -ka * dep
        ce = y[i_ce:i_ce + 6]
        dy[i_ce:i_ce + 6] = ke0 * (fus * conv * c - ce)
        st = y[i_pd:]
        drive = occupancy_drive(ce[0], ce[1], ce[2], ce[3], mc[K.MC_KI_S], mc[K.MC_KI_R], mc[K.MC_KI_SNK], mc[K.MC_KI_RNK])
        bi = nmda_block(drive, mc[K.MC_M_I], mc[K.MC_HILL])
        be = nmda_block(drive, mc[K.MC_M_E], mc[K.MC_HILL])
        ceq = ce[0] + ce[1] * mc[K.MC_KI_S] / mc[K.MC_KI_R]
        d = np.zeros(K.N_PD)
        d[0] = rates[K.R_GLUT] * (glutamate_target(bi, be, mc[K.MC_GDIS]) - st[0])
        d[11] = mc[K.MC_ANES_ON] * anesthetic_drive(be, mc[K.MC_ANES_B50], mc[K.MC_ANES_HILL]) - rates[K.R_ANES] * st[11]
        amp = ampa_drive(st[0], ce[4], mc[K.MC_W_HNK], mc[K.MC_EC50_HNK], mc[K.MC_AMPA_BLOCK], mc[K.MC_AMPA_EPS])
        gain = mc[K.MC_BDNF_GAIN] * pp[K.PP_BDNF_MULT]
        d[1] = rates[K.R_BDNF] * (bdnf_target(amp, be, gain, mc[K.MC_EEF2], st[11]) - st[1])
        tk = trkb_activation(st[1], mc[K.MC_TRKB_K], mc[K.MC_TRKB_N])
        d[2] = rates[K.R_MTOR] * (mtorc1_target(tk, mc[K.MC_MTOR_BLOCK]) - st[2])
        d[3] = rates[K.R_PROT] * (protein_target(st[2], mc[K.MC_PROT_GAIN]) - st[3])
        d[4] = rates[K.R_SPINE] * (spine_target(st[3], mc[K.MC_SPINE_GAIN], mc[K.MC_SPINE_BLOCK], s0) - st[4])
        d[5] = rates[K.R_IL6] * (il6_target(st[3], mc[K.MC_IL_EFF]) - st[5])
        cad = emax_model(ceq, 1.0, mc[K.MC_CADSS_EC50], mc[K.MC_CADSS_HILL])
        d[9] = mc[K.MC_TOL_GAIN] * cad - rates[K.R_TOL] * st[9]
        perceived = pp[K.PP_DISS_SENS] * cad / (1.0 + st[9]) + sedation(ceq, mc[K.MC_SED_EC50], ce[5], mc[K.MC_MDZ_EC50])
        d[6] = mc[K.MC_PERC_GAIN] * mc[K.MC_SESSION_X] * perceived - rates[K.R_EXPECT] * st[6]
        d[7] = rates[K.R_AD] * (ad_on[0] - st[7])
        d[10] = rates[K.R_NAUSEA] * (ceq - st[10])
        rd = min(drug_relief(st[2], st[3], st[4] / s0, mc[K.MC_W_M], mc[K.MC_W_P], mc[K.MC_W_S], pp[K.PP_EMAX]), 0.98)
        rp = placebo_relief(st[6], pp[K.PP_EMAX_PL])
        ra = mc[K.MC_AD_EMAX] * st[7]
        d[8] = rates[K.R_SYMPTOM] * (symptom_target(rd, rp, ra) - st[8])
        dy[i_pd:] = d
        return dy

    def outputs(y):
        # "modes" 0 and 1 carry the arterial (central) and the venous (sampled compartment) concentrations
        row = np.zeros(K.N_OUT)
        z = np.zeros((6, 2))
        z[:, 0] = conc(y)
        for blk in range(6):
            if nblk[blk]:
                jv = int(m.venous_index[blk])
                z[blk, 1] = y[offs[blk] + jv] / vol[blk, jv]
        art = np.zeros((6, 2))
        art[:, 0] = 1.0
        ven = np.zeros((6, 2))
        ven[:, 1] = 1.0
        K._write_outputs(row, z, art, ven, np.full(6, 2, np.int64), a.active, y[i_ce:i_ce + 6].copy(),
                         y[i_pd:].copy(), mc, pp, np.zeros(6))
        return row

    y = np.zeros(n_state)
    y[i_pd:] = [1.0, 1.0, 1.0, 1.0, s0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    times = a.output_times_h
    out = np.full((times.size, K.N_OUT), np.nan)
    starts = np.unique(np.concatenate([[0.0], a.ev_time]))
    ends = np.concatenate([starts[1:], [max(times[-1], starts[-1]) + 1.0]])  # past the last output
    wt = pp[K.PP_WT]
    for t, tb in zip(starts, ends):
        # events at t (applied before outputs at t: right-continuous, as in the kernel)
        for e in np.flatnonzero(np.isclose(a.ev_time, t, atol=1e-9)):
            kind, tg = a.ev_kind[e], a.ev_target[e]
            amount = a.ev_mg[e] + a.ev_mgkg[e] * wt
            if kind == K.EV_BOLUS:
                y[offs[tg]] += amount
            elif kind == K.EV_DEPOT:
                f = a.ev_frac[e] * pp[K.PP_FIIV]
                if tg == 2:
                    f *= pp[K.PP_FGUT_S]
                elif tg == 3:
                    f *= pp[K.PP_FGUT_R]
                y[i_dep + tg] += amount * min(f, 1.0)
            elif kind == K.EV_RATE:
                inf[K.RATE_SLOT[tg]] += amount
            elif kind == K.EV_SESSION:
                y[i_pd + 6] += mc[K.MC_SESSION_X]
            elif kind == K.EV_AD_START:
                ad_on[0] = 1.0
            elif kind == K.EV_GENERAL_ANESTHESIA:
                y[i_pd + 11] += mc[K.MC_GA_DEPTH]
        at_t = np.isclose(times, t, atol=1e-9)
        for j in np.flatnonzero(at_t):
            out[j] = outputs(y)
        if tb <= t + 1e-12:
            continue
        inside = (times > t + 1e-9) & (times < tb - 1e-9)
        t_eval = np.concatenate([times[inside], [tb]])
        sol = solve_ivp(rhs, (t, tb), y, method="DOP853", rtol=rtol, atol=atol, t_eval=t_eval)
        if not sol.success:
            raise RuntimeError(sol.message)
        for col, j in enumerate(np.flatnonzero(inside)):
            out[j] = outputs(sol.y[:, col])
        y = sol.y[:, -1].copy()
    return out
