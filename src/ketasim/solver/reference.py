"""An independent, tight-tolerance reference solution of one patient (for tests and the benchmark).

It integrates the *same model* in its original coordinates — compartment amounts (not modes), with
scipy's DOP853 at rtol 1e-11 between dosing events — so it checks the kernel's modal transform, the
exponential-integrator weights, event handling and the time grid. Its PD right-hand side and its outputs
(side effects included) are plain Python generated here from the model definition (``ketasim.model``):
it shares the equations' text with the kernel, but no compiled code, no integrator and no output writer.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp

from ..model import expr as E
from ..model.codegen import EVENT_CODES
from ..pk import FIXED_F_DEPOTS

_CACHE = {}
_CE = ("ce_s", "ce_r", "ce_snk", "ce_rnk", "ce_hnk", "ce_mdz")
_CP = ("cp_s", "cp_r", "cp_snk", "cp_rnk", "cp_hnk", "cp_mdz")   # venous (sampled) plasma of each block
_CA = ("ca_s", "ca_r", "ca_snk", "ca_rnk", "ca_hnk", "ca_mdz")   # arterial (central) plasma


def _source(model) -> str:
    """Python source of ``pd_rhs(st, ce, mc, pp, rates, inp)`` and ``outputs(st, ce, cp, ca, mc, pp, inp)``."""
    kind = {}
    for k in ("constants", "patient", "inputs", "algebraics", "states"):
        for j, n in enumerate(model.names(k)):
            kind[n] = (k, j)
    rate_row = {r: 10 + j for r, j in model.rate_owner().items()}

    def name(n):
        if n in kind:
            k, j = kind[n]
            return {"constants": f"mc[{j}]", "patient": f"pp[{j}]", "inputs": f"inp[{j}]",
                    "algebraics": f"a_{n}", "states": f"st[{j}]"}[k]
        if n in rate_row:
            return f"rates[{rate_row[n]}]"
        if n in _CE:
            return f"ce[{_CE.index(n)}]"
        if n in _CP:
            return f"cp[{_CP.index(n)}]"
        if n in _CA:
            return f"ca[{_CA.index(n)}]"
        return n    # function arguments

    def py(text):
        return E.to_python(text, name, func_prefix="f_")

    lines = ["import math", ""]
    for f in model.functions:
        lines += [f"def f_{f.name}({', '.join(f.args)}):",
                  f"    return {E.to_python(f.expr, lambda s: s, func_prefix='f_')}", ""]
    algebraics = [f"    a_{a.name} = {py(a.expr)}" for a in model.algebraics]
    lines += ["def pd_rhs(st, ce, mc, pp, rates, inp):", *algebraics, "    return ["]
    for j, s in enumerate(model.states):
        if s.target is not None and s.rate_rising is not None:
            lines.append(f"        (rates[{rate_row[s.rate_rising]}] if ({py(s.target)}) > st[{j}] else rates[{10 + j}])"
                         f" * (({py(s.target)}) - st[{j}]),")
        elif s.target is not None:
            lines.append(f"        rates[{10 + j}] * (({py(s.target)}) - st[{j}]),")
        else:
            lines.append(f"        ({py(s.gain)}) * ({py(s.drive)}) - rates[{10 + j}] * st[{j}],")
    lines += ["    ]", "", "def outputs(st, ce, cp, ca, mc, pp, rates, inp):", *algebraics, "    return ["]
    lines += [f"        {py(o.expr)}," for o in model.outputs]
    lines += ["    ]", "", "def initial(mc, pp, rates):", "    return [" + ", ".join(py(s.init) for s in model.states) + "]",
              "", "def events(kind, st, inp, mc, pp, rates):"]
    for e in model.events:
        k, j = kind[e.target]
        tgt = f"st[{j}]" if k == "states" else f"inp[{j}]"
        lines.append(f"    if kind == {EVENT_CODES[e.on]}:")
        lines.append(f"        {tgt} = {tgt} + ({py(e.expr)})" if e.op == "+" else f"        {tgt} = {py(e.expr)}")
    lines.append("    return None")
    return "\n".join(lines) + "\n"


def _compiled(model):
    d = model.digest()
    if d not in _CACHE:
        ns = {"math": math}
        exec(compile(_source(model), f"<ketasim reference {model.name} {d}>", "exec"), ns)
        _CACHE[d] = ns
    return _CACHE[d]


def reference_solve(prepared, i: int = 0, rtol: float = 1e-11, atol: float = 1e-13) -> np.ndarray:
    """Trajectories (n_out, n_outputs) of patient ``i`` of a :class:`ketasim.engine.PreparedArm`."""
    a = prepared
    model = a.definition
    ns = _compiled(model)
    pd_rhs, outputs_of, apply_event = ns["pd_rhs"], ns["outputs"], ns["events"]
    m = a.model
    mc, pp, rates = list(a.mc), list(a.pp[i]), list(a.rates)
    C = {n: a.mc[j] for j, n in enumerate(model.names("constants"))}
    P = {n: a.pp[i, j] for j, n in enumerate(model.names("patient"))}
    nblk = [int(m.nmodes[b]) if a.active[b] else 0 for b in range(6)]
    offs = np.cumsum([0] + nblk)
    n_pk = int(offs[-1])
    n_pd = len(model.states)
    i_dep, i_ce, i_pd = n_pk, n_pk + 10, n_pk + 16
    n_state = i_pd + n_pd
    vol, flow, cl = m.volumes[i], m.flows[i], m.cl[i]
    wv = m.venous_weights
    ka = m.ka[i]
    fu, fu_m = C["fu"], C["fu_midazolam"]
    conv = np.array([1000 / C["mw_ketamine"]] * 2 + [1000 / C["mw_norketamine"]] * 2
                    + [1000 / C["mw_hnk"], 1000 / C["mw_midazolam"]])
    fus = np.array([fu] * 5 + [fu_m])
    ke0 = P["ke0"]
    fh_s, fh_r = P["fh_s"], P["fh_r"]
    inf = np.zeros(3)
    inp = [float(x.init) for x in model.inputs]
    rate_slot = (0, 1, -1, -1, -1, 2)

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
        inp_pk = np.zeros(6)
        inp_pk[0] = inf[0] + ka[0] * dep[0] + ka[4] * dep[4] + ka[6] * dep[6] + ka[8] * dep[8] + ka[2] * dep[2] * fh_s
        inp_pk[1] = inf[1] + ka[1] * dep[1] + ka[5] * dep[5] + ka[7] * dep[7] + ka[9] * dep[9] + ka[3] * dep[3] * fh_r
        inp_pk[2] = P["fm_nk"] * (P["cl_s"] * c[0] + ka[2] * dep[2] * (1 - fh_s))
        inp_pk[3] = P["fm_nk"] * (P["cl_r"] * c[1] + ka[3] * dep[3] * (1 - fh_r))
        inp_pk[4] = C["fm_hnk"] * (P["cl_snk"] * c[2] + P["cl_rnk"] * c[3])
        inp_pk[5] = inf[2]
        for b in range(6):
            k = nblk[b]
            if not k:
                continue
            o = offs[b]
            d0 = inp_pk[b] - cl[b] * c[b]
            for j in range(1, k):
                q, vj = flow[b, j - 1], vol[b, j]
                fl = q * (c[b] - y[o + j] / vj)
                d0 -= fl
                dy[o + j] = fl
            dy[o] = d0
        dy[i_dep:i_dep + 10] = -ka * dep
        ce = y[i_ce:i_ce + 6]
        dy[i_ce:i_ce + 6] = ke0 * (fus * conv * c - ce)
        dy[i_pd:] = pd_rhs(y[i_pd:], ce, mc, pp, rates, inp)
        return dy

    def outputs(y):
        # venous = the weighted compartments of the sample (pk.venous_weights; central without one), arterial = central
        cv = np.array([max(sum(wv[b, j] * y[offs[b] + j] / vol[b, j] for j in range(nblk[b]) if wv[b, j] != 0.0), 0.0)
                       if nblk[b] else 0.0 for b in range(6)])
        return outputs_of(y[i_pd:], y[i_ce:i_ce + 6], cv * 1000.0, conc(y) * 1000.0, mc, pp, rates, inp)  # ng/mL

    y = np.zeros(n_state)
    y[i_pd:] = ns["initial"](mc, pp, rates)
    times = a.output_times_h
    out = np.full((times.size, len(model.outputs)), np.nan)
    starts = np.unique(np.concatenate([[0.0], a.ev_time]))
    ends = np.concatenate([starts[1:], [max(times[-1], starts[-1]) + 1.0]])  # past the last output
    wt = P["weight_kg"]
    for t, tb in zip(starts, ends):
        # events at t (applied before outputs at t: right-continuous, as in the kernel)
        # absolute tolerance only: isclose's default rtol (1e-5) merges distinct events ~20 s apart after 3 weeks
        for e in np.flatnonzero(np.isclose(a.ev_time, t, rtol=0.0, atol=1e-9)):
            kind, tg = int(a.ev_kind[e]), int(a.ev_target[e])
            amount = a.ev_mg[e] + a.ev_mgkg[e] * wt
            if kind == EVENT_CODES["bolus"]:
                y[offs[tg]] += amount
            elif kind == EVENT_CODES["depot"]:
                # gut depots: the random effect on F is in the first pass (fh_s, fh_r), as in the kernel
                if tg == 2:
                    f = a.ev_frac[e] * P["fgut_s"]
                elif tg == 3:
                    f = a.ev_frac[e] * P["fgut_r"]
                elif tg in FIXED_F_DEPOTS:      # IM and SC: no random effect on F, as in the kernel
                    f = a.ev_frac[e]
                else:
                    f = a.ev_frac[e] * P["f_iiv"]
                y[i_dep + tg] += amount * min(f, 1.0)
            elif kind == EVENT_CODES["rate"]:
                inf[rate_slot[tg]] += amount
                if abs(inf[rate_slot[tg]]) < 1e-12:   # an infusion's stop cancels its start exactly
                    inf[rate_slot[tg]] = 0.0
            else:
                st = list(y[i_pd:])
                apply_event(kind, st, inp, mc, pp, rates)
                y[i_pd:] = st
        at_t = np.isclose(times, t, rtol=0.0, atol=1e-9)
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
