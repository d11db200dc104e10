"""SBML export of the typical patient of one arm: ``ketasim export SCENARIO --sbml OUT.xml [--arm NAME]``.

SBML Level 3 Version 2 (python-libsbml), generated from the same model definition as the kernel and the
reference solver (``ketasim.model``):

* the chain's functions become FunctionDefinitions, algebraics and outputs assignment rules, states rate rules
  (``dx/dt = k (target - x)`` or ``gain * drive - k x``) — ids equal the trajectory columns
  (``cp_s_ketamine_ng_ml``, ``glutamate``, ``spine_density``, ``score``, ``cadss``, ``sbp_change_mmhg`` ...);
* PK is written in compartment amounts (mg, as in the reference solver): mammillary blocks of the typical
  patient (volumes, flows, clearances; the parent's five compartments: arterial central, arm-venous sampling,
  fast, slow, deep), depots, norketamine/HNK formation and the effect sites; ``cp_*`` read the sampled
  (venous) concentration (``pk.venous_weights``: arm-venous and slow-tissue compartments for the parent), ``ca_*``
  the arterial central one, which drives elimination and the effect sites;
* the regimen is a list of SBML events (a bolus adds to the central amount or a depot; an infusion switches a
  zero-order rate on and off; a session adds expectancy); events at t = 0 are folded into initial values;
* parameters carry SBML units and, in their notes, their source (``data/parameters.csv``);
* ``bdnf_released`` is integrated as ``1 + bdnf_released`` (:data:`OFFSET_STATES`: at its rounding-level values
  near 0 libRoadRunner's default integrator stalled after an IV bolus), emptied depots rest at 1e-100 mg instead of
  0 (:data:`DEPOT_REST_MG`: their decay underflowed within days, and the default integrator failed), and two
  functions that switch on a concentration being > 0 are written with ``max(c, 0)``, with the same values
  (:data:`SBML_FORMS`; a variant definition that changes them keeps its own expression). :data:`SOLVER_NOTE`
  (in the file) recommends a vector absolute tolerance in libRoadRunner.

Not expressible in SBML (stated in the file's notes): per-session summaries (peaks within each monitoring
window, discharge readiness — they need a maximum over time and interpolation between solver nodes), and
population variability (one typical patient per file).

Time is in hours. All variables are SBML parameters with ``constant=false`` and rules (no species): the model is
a set of ODEs and assignments, which every SBML simulator supports.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from .errors import InputError, argument
from .model import expr as E
from .model.codegen import EVENT_CODES
from .model.core import PK_OUTPUT_SOURCE, PK_OUTPUTS
from .pk import FIXED_F_DEPOTS

# unit strings of the definition -> (SBML unit definition id, [(kind, exponent, scale, multiplier)])
_UNITS = {
    "h": ("hour", [("second", 1, 0, 3600.0)]),
    "1/h": ("per_hour", [("second", -1, 0, 3600.0)]),
    "uM": ("micromolar", [("mole", 1, -6, 1.0), ("litre", -1, 0, 1.0)]),
    "mmHg": ("mmHg", [("kilogram", 1, 0, 1.0), ("metre", -1, 0, 1.0), ("second", -2, 0, 1.0)]),
    "1/min": ("per_minute", [("second", -1, 0, 60.0)]),
    "g/mol": ("gram_per_mole", [("gram", 1, 0, 1.0), ("mole", -1, 0, 1.0)]),
    "kg": ("kilogram_", [("kilogram", 1, 0, 1.0)]),
    "L/h": ("litre_per_hour", [("litre", 1, 0, 1.0), ("second", -1, 0, 3600.0)]),
    "L": ("litre_", [("litre", 1, 0, 1.0)]),
    "mg": ("milligram", [("gram", 1, -3, 1.0)]),
    "mg/h": ("milligram_per_hour", [("gram", 1, -3, 1.0), ("second", -1, 0, 3600.0)]),
    "mg/L": ("milligram_per_litre", [("gram", 1, -3, 1.0), ("litre", -1, 0, 1.0)]),
    "ng/mL": ("nanogram_per_millilitre", [("gram", 1, -9, 1.0), ("litre", -1, -3, 1.0)]),
}
_MMHG_PA = 133.322387415
NOT_EXPRESSIBLE = ("Not expressible in SBML and therefore not in this file: the per-session summaries of "
                   "ketasim (peak CADSS, blood pressure, heart rate, sedation and nausea within each monitoring "
                   "window, and the time until discharge criteria are met: they need a running maximum over time "
                   "and interpolation between solver nodes), population variability (this file is the typical "
                   "patient), and trial logic (rater noise, endpoints).")

#: States the file integrates as 1 + x (a rate rule for ``x_plus_1``; ``x`` is an assignment rule ``x_plus_1 - 1``:
#: the same value to the rounding of 1, ~1e-15 absolute, against a pool of ~0.3). Why (measured with libRoadRunner
#: 2.10, thirty-second session): at every event, and at every switch of a piecewise condition in a rule
#: (libRoadRunner makes each one a root function of CVODE; a dose reaching the effect site switches several), it
#: re-initialises CVODE and multiplies a scalar absolute tolerance (its default, 1e-12) by each state's current
#: |value|. bdnf_released rests near 0 at values that rounding sets (its drive, bdnf_unlimited - 1, follows
#: glutamate's last bit at baseline, where the AMPA drive starts): ~1e-54 right after a dose, ~1e-27 weeks later, so
#: its absolute tolerance became ~1e-66 (~1e-39) while its rate kept moving by ~1e-17, and CVODE's default BDF method
#: stalled (CV_TOO_MUCH_WORK, steps of ~1e-16 h) after every IV bolus (and, with the stop right after the dose
#: avoided, still weeks later for 1 of 30 sampled patients: CV_CONV_FAILURE). Integrated as 1 + x its tolerance
#: stays 1e-12. (The model's own consolidation and perception_total start at 1 for a like reason.)
OFFSET_STATES = ("bdnf_released",)

#: The amount (mg) an absorption depot rests at instead of 0: ``d depot/dt = -ka (depot - rest)``, and the depot
#: delivers ``ka (depot - rest)`` (the same values: 1e-100 mg vanishes in the rounding of any dose). Why (measured
#: with libRoadRunner 2.10, thirty-second session): a depot emptying at ka ~1.6/h (IM) falls below 1e-300 mg within
#: days; whenever libRoadRunner then re-initialises CVODE (an event, a switch of a piecewise condition, or each
#: call of ``simulate(t0, t1)``) it multiplies the scalar absolute tolerance by the depot's value and the tolerance
#: underflows to a subnormal number: CV_TOO_MUCH_ACC or CV_ILL_INPUT (a single IM dose of 0.5 or 1 mg/kg failed at
#: the defaults; whether a run fails depended on when the next switch fell). At 1e-100 the tolerance is ~1e-112.
DEPOT_REST_MG = 1e-100

#: Model functions the file writes in another form with the same value for every argument: (the definition's
#: expression it replaces, the form; both in the definition's syntax, min/max written as SBML L3V2's min/max). Their
#: definitions switch (piecewise) on a concentration being > 0, where libRoadRunner (see OFFSET_STATES) stops right
#: after a dose (t = 2 + 2e-14 h for a bolus at 2 h) and re-initialises CVODE with the tolerances of states the dose
#: has barely reached (~1e-39): with OFFSET_STATES alone the runs complete, but CVODE first takes steps of ~1e-17 h
#: and prints ten "t + h = t" warnings at the bolus's time. max(c, 0) switches nothing. (hill >= 1 by the
#: calibration's bounds: 0 ** hill = 0; the skip of a negligible pow below 1e-5 ec50 is kept, value for value.)
#: A variant definition whose function is not the replaced expression is written with its own expression.
SBML_FORMS = {
    "emax_model": (
        "piecewise(0, c <= 0, piecewise(emax * c / (c + ec50), hill == 1,"
        " piecewise(0, hill >= 3 and c < 1e-05 * ec50, emax * c ** hill / (c ** hill + ec50 ** hill))))",
        "piecewise(emax * max(c, 0) / (max(c, 0) + ec50), hill == 1,"
        " piecewise(0, hill >= 3 and c < 1e-05 * ec50,"
        " emax * max(c, 0) ** hill / (max(c, 0) ** hill + ec50 ** hill)))"),
    "sedation_effect": (
        "1 - (1 - piecewise(c_ket / (c_ket + ec50_ket), c_ket > 0, 0))"
        " * (1 - piecewise(c_mdz / (c_mdz + ec50_mdz), c_mdz > 0, 0))",
        "1 - (1 - max(c_ket, 0) / (max(c_ket, 0) + ec50_ket)) * (1 - max(c_mdz, 0) / (max(c_mdz, 0) + ec50_mdz))"),
}

#: in the file's notes: what a libRoadRunner user should know (see OFFSET_STATES, DEPOT_REST_MG; both are what
#: tests/test_sbml_export.py runs for every route: the vector tolerance, the defaults, and the defaults day by day)
SOLVER_NOTE = ("Integrator: in libRoadRunner give the absolute tolerance as a vector (recommended for every run): "
               "rr.integrator.setValue('absolute_tolerance', [1e-12] * rr.model.getNumRateRules()). A scalar absolute "
               "tolerance (libRoadRunner's default, 1e-12) is multiplied by each state's current value whenever "
               "libRoadRunner re-initialises CVODE (at every event, every switch of a piecewise condition and every "
               "call of simulate), so a state that decays toward 0 gets an ever smaller tolerance, and CVODE fails "
               "(CV_TOO_MUCH_ACC, CV_CONV_FAILURE) once one falls below ~1e-300 (a midazolam effect site simulated "
               "day by day: after ~88 days). libRoadRunner's defaults (CVODE BDF, relative tolerance 1e-6, scalar "
               "absolute 1e-12) also integrate this file for 28 days, in one call or day by day, for IV boluses and "
               "infusions and IM, SC, oral, intranasal and sublingual doses, because two variables do not rest at 0: "
               "an emptied depot rests at pk_depot_rest (1e-100 mg; it would underflow within days), and "
               "bdnf_released, which rests at rounding-level values near 0, is integrated as bdnf_released_plus_1 "
               "(1 + bdnf_released).")


def _export_arm(scenario, arm: str | None):
    """The arm ``arm`` names (``--arm``; default: the first), or one line listing the scenario's arms."""
    arms = {x.name: x for x in scenario.arms}
    if arm is not None and arm not in arms:
        raise InputError(f"{argument('arm', '--arm')}: no arm named {arm!r}; the scenario has {', '.join(arms)}")
    target = arms[arm] if arm is not None else scenario.arms[0]
    if getattr(target, "titration", None) is not None:
        from .scenario import fixed_dose_arms_hint

        # the engine's line ('use a fixed dose line') did not say that another arm can be exported
        raise InputError(f"arms.{target.name}.titration: the SBML file holds one dose regimen, and a titrated arm's "
                         f"patients get different doses{fixed_dose_arms_hint(scenario, arm is not None)}")
    return target


def _libsbml():
    try:
        import libsbml
    except ImportError:   # pragma: no cover - a declared dependency
        raise InputError("export --sbml: python-libsbml is not installed (pip install python-libsbml)") from None
    return libsbml


def _base_unit(unit: str) -> str:
    """'ng/mL (effect site, plasma-equivalent total)' -> 'ng/mL'."""
    return unit.split(" (")[0].strip()


def _unit_id(unit: str) -> str:
    u = _base_unit(unit)
    return _UNITS[u][0] if u in _UNITS else "dimensionless"


def _check(rc, what):
    libsbml = _libsbml()
    if rc is not None and isinstance(rc, int) and rc != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise RuntimeError(f"libsbml: {what}: {libsbml.OperationReturnValue_toString(rc)}")


def _notes(text: str) -> str:
    from html import escape

    return f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{escape(text)}</p></body>'


def _math(formula: str):
    libsbml = _libsbml()
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise RuntimeError(f"libsbml cannot parse {formula!r}: {libsbml.getLastParseL3Error()}")
    return ast


def sbml_document(prepared, params, scenario_name: str = "", i: int = 0, patient_note: str = "") -> str:
    """SBML L3V2 text of patient ``i`` (the typical patient) of a :class:`ketasim.engine.PreparedArm`.
    ``patient_note``: who the patient is (covariates, comedications), added to the model's notes."""
    libsbml = _libsbml()
    a = prepared
    model = a.definition
    pk = a.model
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    m.setId("ketasim_" + "".join(ch if ch.isalnum() else "_" for ch in a.arm.name))
    which = "ketasim" if model.name == "ketasim" else f"ketasim {model.name}"     # not "ketasim ketasim model"
    m.setName(f"{which} model, typical patient of arm {a.arm.name!r} of scenario {scenario_name!r}")
    from .result import ketasim_version

    # the parameter set and package version (the file's numbers come from the set): it named only the model digest
    m.setNotes(_notes(f"Generated by ketasim {ketasim_version()} from its model definition (digest {model.digest()}) "
                      f"with parameter set {params.version} (calibration run: {params.calibration_run}). "
                      + (patient_note + " " if patient_note else "") + "Time in hours; "
                      "concentrations: plasma ng/mL (total), effect site uM (unbound). " + NOT_EXPRESSIBLE
                      + " " + SOLVER_NOTE + " ketasim is a research and teaching tool, not medical advice."))
    for uid, parts in [v for v in _UNITS.values()]:
        ud = m.createUnitDefinition()
        ud.setId(uid)
        for kind, exp, scale, mult in parts:
            u = ud.createUnit()
            u.setKind(getattr(libsbml, f"UNIT_KIND_{kind.upper()}"))
            u.setExponent(exp)
            u.setScale(scale)
            u.setMultiplier(_MMHG_PA if uid == "mmHg" and kind == "kilogram" else mult)
    m.setTimeUnits("hour")

    used = set()

    def param(pid, value, unit="dimensionless", constant=True, note=""):
        if pid in used:
            raise RuntimeError(f"SBML id {pid!r} used twice")
        used.add(pid)
        p = m.createParameter()
        _check(p.setId(pid), pid)
        p.setValue(float(value))
        p.setConstant(constant)
        p.setUnits(_unit_id(unit))
        if note or unit not in _UNITS and unit != "dimensionless":
            p.setNotes(_notes((note + (f" Unit: {unit}." if unit not in _UNITS and unit != "dimensionless" else "")).strip()))
        return p

    def rule_assign(pid, formula):
        r = m.createAssignmentRule()
        r.setVariable(pid)
        _check(r.setMath(_math(formula)), pid)

    def rule_rate(pid, formula):
        r = m.createRateRule()
        r.setVariable(pid)
        _check(r.setMath(_math(formula)), pid)

    def source_of(text: str) -> str:
        notes = []
        for tok in text.replace(",", " ").replace("(", " ").replace(")", " ").split():
            tok = tok.strip(":")
            for table in (params.literature, params.free):
                if tok in table:
                    q = table[tok]
                    notes.append(f"{tok} = {q.value:g} {q.unit}; source: {q.source}")
        return f"Derived from {text}. " + " | ".join(notes)

    # ---- functions -------------------------------------------------------------------------------------------
    for f in model.functions:
        fd = m.createFunctionDefinition()
        fd.setId(f.name)
        body = E.to_sbml(f.expr)
        replaced, form = SBML_FORMS.get(f.name, (None, None))
        if f.expr == replaced:      # a variant definition that redefines the function keeps its own expression
            body = E.to_sbml(form, native_minmax=True)
        _check(fd.setMath(_math(f"lambda({', '.join(f.args)}, {body})")), f.name)
        if f.doc:
            fd.setNotes(_notes(f.doc))

    # ---- constants, patient parameters, rates, inputs ---------------------------------------------------------
    for j, c in enumerate(model.constants):
        param(c.name, a.mc[j], c.unit, note=source_of(c.source) + (f" {c.doc}" if c.doc else ""))
    for j, q in enumerate(model.patient):
        param(q.name, a.pp[i, j], q.unit, note=f"Typical patient. {source_of(q.source)}")
    rate_value = {}
    for j, s in enumerate(model.states):
        rate_value.setdefault(s.rate, a.rates[10 + j])
    for r in model.rates:
        if r.name in rate_value:
            param(r.name, rate_value[r.name], r.unit, note=source_of(r.source))
    inputs = {x.name: float(x.init) for x in model.inputs}

    # ---- PK (compartment amounts, as in the reference solver) -------------------------------------------------
    blocks = ("s", "r", "snk", "rnk", "hnk", "mdz")
    nblk = [int(pk.nmodes[b]) if a.active[b] else 0 for b in range(6)]
    conv = {0: "mw_ketamine", 1: "mw_ketamine", 2: "mw_norketamine", 3: "mw_norketamine", 4: "mw_hnk",
            5: "mw_midazolam"}
    for d in range(10):
        param(f"pk_ka_{d}", pk.ka[i, d], "1/h", note="depot absorption rate constant (ketasim.pk)")
    if a.active_dep.any():
        param("pk_depot_rest", DEPOT_REST_MG, "mg", note="the value an empty depot rests at instead of 0 "
              "(export.DEPOT_REST_MG: an exponential decay to 0 underflows within days, and libRoadRunner's default "
              "integrator fails at the next event or switch)")
    for d in range(10):
        if a.active_dep[d]:
            param(f"pk_depot_{d}", DEPOT_REST_MG, "mg", constant=False,
                  note="depot amount (plus pk_depot_rest, 1e-100 mg: rests there, not at 0)")
            rule_rate(f"pk_depot_{d}", f"-pk_ka_{d} * (pk_depot_{d} - pk_depot_rest)")
    for k, slot in (("s", 0), ("r", 1), ("mdz", 2)):
        param(f"pk_infusion_{k}", 0.0, "mg/h", constant=False, note="zero-order infusion rate (switched by events)")
    dep = lambda d: f"(pk_depot_{d} - pk_depot_rest)" if a.active_dep[d] else "0"   # noqa: E731
    inp = {
        0: f"pk_infusion_s + pk_ka_0 * {dep(0)} + pk_ka_4 * {dep(4)} + pk_ka_6 * {dep(6)} + pk_ka_8 * {dep(8)}"
           f" + pk_ka_2 * {dep(2)} * fh_s",
        1: f"pk_infusion_r + pk_ka_1 * {dep(1)} + pk_ka_5 * {dep(5)} + pk_ka_7 * {dep(7)} + pk_ka_9 * {dep(9)}"
           f" + pk_ka_3 * {dep(3)} * fh_r",
        2: f"fm_nk * (cl_s * pk_c_s + pk_ka_2 * {dep(2)} * (1 - fh_s))",
        3: f"fm_nk * (cl_r * pk_c_r + pk_ka_3 * {dep(3)} * (1 - fh_r))",
        4: "fm_hnk * (cl_snk * pk_c_snk + cl_rnk * pk_c_rnk)",
        5: "pk_infusion_mdz",
    }
    for b, name in enumerate(blocks):
        if not nblk[b]:
            param(f"pk_c_{name}", 0.0, "mg/L", note="inactive in this arm")
            param(f"pk_cv_{name}", 0.0, "mg/L", note="inactive in this arm")
            param(f"ce_{name}", 0.0, "uM", note="inactive in this arm")
            continue
        vol, flow = pk.volumes[i, b], pk.flows[i, b]
        for j in range(nblk[b]):
            param(f"pk_v_{name}_{j}", vol[j], "L", note=f"volume of compartment {j} (0 = central), typical patient")
            param(f"pk_a_{name}_{j}", 0.0, "mg", constant=False, note=f"amount in compartment {j}")
        for j in range(1, nblk[b]):
            param(f"pk_q_{name}_{j}", flow[j - 1], "L/h", note="inter-compartmental clearance")
        param(f"pk_cl_{name}", pk.cl[i, b], "L/h", note="elimination clearance from the central compartment")
        param(f"pk_c_{name}", 0.0, "mg/L", constant=False, note="central (arterial) concentration")
        rule_assign(f"pk_c_{name}", f"pk_a_{name}_0 / pk_v_{name}_0")
        # the sampled (venous) concentration: weighted compartments (pk.venous_weights; central without a venous one)
        param(f"pk_cv_{name}", 0.0, "mg/L", constant=False, note="sampled (venous) plasma concentration")
        wv = pk.venous_weights[b]
        rule_assign(f"pk_cv_{name}", " + ".join(f"{float(wv[j])!r} * pk_a_{name}_{j} / pk_v_{name}_{j}"
                                                for j in range(nblk[b]) if wv[j] != 0.0))
        flows = [f"pk_q_{name}_{j} * (pk_c_{name} - pk_a_{name}_{j} / pk_v_{name}_{j})" for j in range(1, nblk[b])]
        rule_rate(f"pk_a_{name}_0", f"({inp[b]}) - pk_cl_{name} * pk_c_{name}" + "".join(f" - {x}" for x in flows))
        for j in range(1, nblk[b]):
            rule_rate(f"pk_a_{name}_{j}", flows[j - 1])
        fu = "fu_midazolam" if b == 5 else "fu"
        param(f"ce_{name}", 0.0, "uM", constant=False, note="unbound effect-site concentration")
        rule_rate(f"ce_{name}", f"ke0 * ({fu} * 1000 / {conv[b]} * pk_c_{name} - ce_{name})")
    for name, unit in PK_OUTPUTS.items():
        b, site = PK_OUTPUT_SOURCE[name]
        param(name, 0.0, unit, constant=False, note=f"total plasma concentration ({site})")
        rule_assign(name, f"pk_{'cv' if site == 'venous' else 'c'}_{blocks[b]} * 1000")

    # ---- the chain ---------------------------------------------------------------------------------------------
    for x in model.inputs:
        param(x.name, x.init, x.unit, constant=False, note=x.doc)
    for a_ in model.algebraics:
        param(a_.name, 0.0, a_.unit, constant=False, note=a_.doc)
        rule_assign(a_.name, E.to_sbml(a_.expr))
    for s in model.states:
        param(s.name, 0.0, s.unit, constant=False, note=s.doc)
        var, init = s.name, E.to_sbml(s.init)
        # integrated as 1 + x; x itself is read from it (not if an event sets x, as a variant definition could:
        # the event's expression is written for x, so x stays the integrated variable)
        if s.name in OFFSET_STATES and not any(me.target == s.name for me in model.events):
            var, init = f"{s.name}_plus_1", f"({init}) + 1"
            param(var, 1.0, s.unit, constant=False,
                  note=f"1 + {s.name}, integrated in its place (export.OFFSET_STATES)")
            rule_assign(s.name, f"{var} - 1")
        ia = m.createInitialAssignment()
        ia.setSymbol(var)
        _check(ia.setMath(_math(init)), s.name)
        if s.target is not None and s.rate_rising is not None:
            rule_rate(var, E.to_sbml(f"piecewise({s.rate_rising}, ({s.target}) > {s.name}, {s.rate})"
                                     f" * (({s.target}) - {s.name})"))
        elif s.target is not None:
            rule_rate(var, f"{s.rate} * (({E.to_sbml(s.target)}) - {s.name})")
        else:
            rule_rate(var, f"({E.to_sbml(s.gain)}) * ({E.to_sbml(s.drive)}) - {s.rate} * {s.name}")
    for o in model.outputs:
        if o.name in used:       # an output that is a model variable itself (same id)
            continue
        param(o.name, 0.0, o.unit, constant=False, note=o.doc)
        rule_assign(o.name, E.to_sbml(o.expr))

    # ---- the regimen as events (amounts are expressions of the patient's parameters: loops over patients work) -----
    for x in [f"pk_infusion_{k}" for k in ("s", "r", "mdz")] + [x.name for x in model.inputs]:
        rule_rate(x, "0")    # piecewise constant, switched by events (a rate rule makes simulators reset it)
    by_time = defaultdict(lambda: defaultdict(list))   # time -> variable -> [(op, SBML formula)]
    for e in range(a.ev_time.size):
        t, kind, tg = float(a.ev_time[e]), int(a.ev_kind[e]), int(a.ev_target[e])
        amount = f"({float(a.ev_mg[e])!r} + {float(a.ev_mgkg[e])!r} * weight_kg)"
        if kind == EVENT_CODES["bolus"]:
            by_time[t][f"pk_a_{blocks[tg]}_0"].append(("+", amount))
        elif kind == EVENT_CODES["depot"]:
            # gut depots: the random effect on F is in the first pass (fh_s, fh_r), as in ketasim's kernel; IM and
            # SC (pk.FIXED_F_DEPOTS) carry none
            f = f"{float(a.ev_frac[e])!r}" + (" * fgut_s" if tg == 2 else " * fgut_r" if tg == 3
                                               else "" if tg in FIXED_F_DEPOTS else " * f_iiv")
            by_time[t][f"pk_depot_{tg}"].append(("+", f"{amount} * piecewise({f}, {f} <= 1, 1)"))
        elif kind == EVENT_CODES["rate"]:
            by_time[t][f"pk_infusion_{('s', 'r', None, None, None, 'mdz')[tg]}"].append(("+", amount))
        else:
            on = {v: k for k, v in EVENT_CODES.items()}[kind]
            for me in model.events:
                if me.on == on:
                    by_time[t][me.target].append((me.op, E.to_sbml(me.expr)))
    n_ev = 0
    for t in sorted(by_time):
        changes = by_time[t]
        if t <= 0.0:     # fold t = 0 events into initial assignments (an event cannot fire at the initial time)
            for var, ops in changes.items():
                ia = m.getInitialAssignmentBySymbol(var)
                if ia is None:
                    ia = m.createInitialAssignment()
                    ia.setSymbol(var)
                    cur = repr(float(m.getParameter(var).getValue()))
                else:
                    cur = libsbml.formulaToL3String(ia.getMath())
                for op, f in ops:
                    f = re.sub(rf"\b{var}\b", f"({cur})", f)     # an effect that reads its own target (no cycle)
                    cur = f"({cur}) + ({f})" if op == "+" else f
                _check(ia.setMath(_math(cur)), var)
            continue
        n_ev += 1
        ev = m.createEvent()
        ev.setId(f"dose_event_{n_ev}")
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setInitialValue(False)
        trig.setPersistent(True)
        trig.setMath(_math(f"time >= {t!r}"))
        for var, ops in changes.items():
            cur = var
            for op, f in ops:
                cur = f"{cur} + ({f})" if op == "+" else f"({f})"
            ea = ev.createEventAssignment()
            ea.setVariable(var)
            _check(ea.setMath(_math(cur)), var)
        ev.setNotes(_notes(f"regimen at t = {t:g} h"))
    return libsbml.writeSBMLToString(doc)


def patient_values(prepared, i: int) -> dict:
    """SBML parameter values that differ between patients (patient parameters, PK blocks and absorption rates) of
    patient ``i``: set them on a simulator loaded with the exported file to simulate another virtual patient of the
    arm."""
    a, model = prepared, prepared.definition
    vals = {n: float(a.pp[i, j]) for j, n in enumerate(model.names("patient"))}
    pk = a.model
    vals.update({f"pk_ka_{d}": float(pk.ka[i, d]) for d in range(10)})     # each patient's (PKModel.ka is (n, 10))
    for b, name in enumerate(("s", "r", "snk", "rnk", "hnk", "mdz")):
        if a.active[b]:
            k = int(pk.nmodes[b])
            vals.update({f"pk_v_{name}_{j}": float(pk.volumes[i, b, j]) for j in range(k)})
            vals.update({f"pk_q_{name}_{j}": float(pk.flows[i, b, j - 1]) for j in range(1, k)})
            vals[f"pk_cl_{name}"] = float(pk.cl[i, b])
    return vals


def validate_sbml(text: str) -> list[str]:
    """libsbml consistency errors (severity error or fatal; all check categories, units included) of an SBML
    document; [] when valid. (Warnings remain: literal numbers carry no units in SBML L3 formulas.)"""
    libsbml = _libsbml()
    doc = libsbml.readSBMLFromString(text)
    doc.checkConsistency()
    errs = []
    for k in range(doc.getNumErrors()):
        e = doc.getError(k)
        if e.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            errs.append(f"{e.getErrorId()}: {e.getMessage().strip()}")
    return errs


def _patient_note(scenario, arm, pts) -> str:
    """'The patient: 75 kg, 30 years, female, baseline 33 MADRS points; comedications: clarithromycin (this arm).'
    The file's clearances and first-pass values carry the comedications' factors, and its doses the weight: two
    arms' files differed in cl_s with nothing in the file saying why."""
    from .population import scale_name

    pop = scenario.population
    parts = [f"{float(pts.weight_kg[0]):g} kg", f"{float(pts.age_years[0]):g} years",
             "female" if bool(pts.female[0]) else "male",
             f"baseline {float(pts.baseline[0]):g} {scale_name(pop.scale)} points"]
    if pts.crp_mg_l is not None:
        parts.append(f"CRP {float(pts.crp_mg_l[0]):.3g} mg/L")
    comeds = [f"{c} (population)" for c in (pop.comedications or ())]
    comeds += [f"{c} (this arm)" for c in (getattr(arm, "comedications", None) or ())]
    who = "the stated patient" if getattr(scenario, "patient", None) is not None else "the typical patient"
    return (f"Patient: {who}, " + ", ".join(parts) + "; comedications: " + (", ".join(map(str, comeds)) or "none")
            + ".")


def export_sbml(scenario, out_path, arm: str | None = None, params=None, horizon_h: float | None = None) -> Path:
    """Write the SBML of the typical patient of ``arm`` (default: the first arm) of ``scenario``."""
    from .engine import default_horizon_h, prepare_arm
    from .parameters import load_parameters
    from .population import typical_patient

    from .limits import check_scenario_arg

    check_scenario_arg(scenario)        # a path: "AttributeError: 'str' object has no attribute 'arms'"
    params = params or load_parameters()
    target = _export_arm(scenario, arm)
    pts = typical_patient(scenario.population, params)
    horizon = horizon_h or default_horizon_h(scenario.arms)
    prep = prepare_arm(target, scenario.population, pts, np.array([0.0, horizon]), params=params,
                       experiment=scenario.experiment)
    text = sbml_document(prep, params, scenario.name, patient_note=_patient_note(scenario, target, pts))
    errs = validate_sbml(text)
    if errs:   # pragma: no cover - a bug in the exporter, never the user's input
        raise RuntimeError("generated SBML is invalid: " + "; ".join(errs[:3]))
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out_path)
    return out_path
