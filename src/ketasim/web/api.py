"""The dashboard's JSON API as plain functions (the HTTP layer in ``server.py`` only routes to these).

The page sends the form as it is: a patient, up to three regimens, optional virtual-experiment switches and
trial settings. These functions turn it into a scenario mapping (the YAML contract, docs/contracts.md), validate it
with the engine's own ``scenario_from_dict`` — so every message is the one the CLI prints — run the engine,
and format the result for the page. There is no model logic here.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tempfile
import threading
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..display import display_times, json_safe, trial_panels  # noqa: F401  (shared with reports)
from ..engine import BLOCKING_SWITCHES
from .. import errors as _errors
from ..errors import InputError, KetasimError, command_line
from ..units import is_fraction, unit_suffix
from ..vocabulary import DASHBOARD_TRIAL_MEASURES
from . import figures as F

#: One lock around every engine call: numba's parallel kernels must not be entered from two threads at once
#: with every threading layer (workqueue aborts), and the single-patient runs take milliseconds anyway.
ENGINE_LOCK = threading.RLock()
#: ``warnings.catch_warnings`` changes process-wide state: validation is serialised with its own lock.
_WARN_LOCK = threading.Lock()
#: Set by the server for each request: an Event set when the client goes away or the request times out;
#: work that has not reached the engine yet is then dropped, and a personal plan stops at its next engine run
#: (:func:`ketasim.errors.check_cancelled`; the variable and the exception are the errors module's).
CANCEL = _errors.CANCEL
Cancelled = _errors.Cancelled
check_cancelled = _errors.check_cancelled

MAX_REGIMENS = 3
MAX_TRIAL_SIZE = 20000
DEFAULT_ENDPOINT_TIMES = "2 h, 24 h, 7 d, 28 d"
TRIAL_MEASURES = DASHBOARD_TRIAL_MEASURES

#: The links of the at-a-glance chain: (column, label, unit/format, baseline kind).
#: baseline "zero": drug-free level 0; "one": relative to drug-free baseline 1; "score": the patient's baseline.
CHAIN = (
    ("cp_ketamine_ng_ml", "Plasma", "ng/mL", "zero"),
    ("ce_ketamine_ng_ml", "Brain", "ng/mL", "zero"),
    ("nmda_block_interneuron", "NMDA block", "%", "zero"),
    ("glutamate", "Glutamate", "x", "one"),
    ("ampa", "AMPA", "x", "one"),
    ("bdnf", "BDNF", "x", "one"),
    ("mtorc1", "mTORC1", "x", "one"),
    ("synaptic_proteins", "Syn. proteins", "x", "one"),
    ("spine_density", "Spines", "x", "one"),
    ("score", "Symptoms", "pts", "score"),
)
SIDE_CHAIN = (
    ("cadss", "Dissociation", "CADSS", "zero"),
    ("sbp_change_mmhg", "Systolic BP", "mmHg", "zero"),
    ("sedation", "Sedation", "index", "zero"),
)
#: Columns the page receives for the chain diagram and the key-number table.
_SERIES = tuple(c for c, *_ in CHAIN + SIDE_CHAIN) + ("cp_midazolam_ng_ml",)


class FormErrors(Exception):
    """The form cannot be simulated; ``errors`` are [{field, message}] with the engine's own messages."""

    def __init__(self, errors: list[dict], warnings_: list[dict] | None = None):
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors
        self.warnings = warnings_ or []


@lru_cache(maxsize=1)
def parameters():
    from ..parameters import load_parameters

    return load_parameters()


# ---- the options the page offers ----------------------------------------------------------------------------
def meta() -> dict:
    from .. import __version__
    from ..population import (CONDITIONS, DEFAULT_SCALE, GENOTYPES, KNOWN_COMEDICATIONS, SCALE_NAMES, SCALES,
                              default_treatment_resistant)
    from ..regimen import ALLOWED_ROUTES, Drug, Route
    from ..vocabulary import NOTICE
    from ..scenario import DEFAULT_BASELINE

    allowed = {d.value: sorted(r.value for r in ALLOWED_ROUTES.get(d, set(Route))) for d in Drug}
    p = parameters()
    return {
        "version": __version__, "parameter_set": p.version, "calibration_run": p.calibration_run, "notice": NOTICE,
        "drugs": [d.value for d in Drug], "routes": [r.value for r in Route], "allowed_routes": allowed,
        "needs_dose": {d.value: (d.is_ketamine or d is Drug.MIDAZOLAM) for d in Drug},
        "conditions": list(CONDITIONS), "default_scale": dict(DEFAULT_SCALE),
        # the treatment-resistant box a condition starts with (the engine's default when the key is left out)
        "default_treatment_resistant": {c: default_treatment_resistant(c) for c in CONDITIONS},
        # remission / default_baseline are null for a scale without a published value (population.SCALES)
        "scales": {k: {"max": v[0], "remission": v[1], "condition": v[2], "name": SCALE_NAMES[k],
                       "default_baseline": DEFAULT_BASELINE.get(k, (None,))[0]}
                   for k, v in SCALES.items()},
        "genotypes": list(GENOTYPES), "comedications": list(KNOWN_COMEDICATIONS),
        "max_regimens": MAX_REGIMENS, "max_trial_size": MAX_TRIAL_SIZE, "trial_measures": list(TRIAL_MEASURES),
        "default_endpoint_times": DEFAULT_ENDPOINT_TIMES, "arm_colors": list(F.ARM_COLORS),
        "chain": [{"column": c, "label": lab, "unit": u} for c, lab, u, _ in CHAIN],
        "side_chain": [{"column": c, "label": lab, "unit": u} for c, lab, u, _ in SIDE_CHAIN],
        "dose_units": list(DOSE_UNITS), "unit_choices": unit_choices(), "max_extra_lines": MAX_EXTRA_LINES,
        "parameters": json_safe(parameter_catalog()), "observed_columns": list(OBSERVED_COLUMNS),
        "power": {"sizes": DEFAULT_POWER_SIZES, "measure": DEFAULT_POWER_MEASURE,
                  "replicates": DEFAULT_POWER_REPLICATES, "max_replicates": MAX_POWER_REPLICATES,
                  "max_size": MAX_POWER_SIZE},
    }


# ---- form -> scenario mapping -----------------------------------------------------------------------------------
def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _trial_baseline_sd(scale: str | None, condition: str | None = None) -> float:
    """Between-patient SD of the baseline (scale points) for a dashboard trial: population.default_baseline_sd (the
    quick form's rule too)."""
    from ..population import default_baseline_sd

    return default_baseline_sd(scale, condition)


def _num(v):
    """A form value as a number when it reads as one; otherwise the text unchanged (so that the engine's
    validation reports it exactly as it would in a YAML file)."""
    if isinstance(v, bool) or _blank(v):
        return v
    if isinstance(v, (int, float)):
        x = v
    else:
        try:
            x = float(str(v).strip())
        except ValueError:
            return str(v).strip()
    if isinstance(x, float) and math.isfinite(x) and x.is_integer() and abs(x) < 1e15:
        return int(x)
    return x


def _text(v) -> str:
    return str(v).strip()


_TYPED = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$")


def _typed_unit(value) -> tuple[str, str]:
    """(the number, the unit typed after it) of a form box; the unit is '' when the box holds a number alone."""
    m = _TYPED.match(_text(value))
    return (m.group(1), m.group(2) or "") if m else (_text(value), "")


def _qty(value, unit: str) -> str:
    """A box's number with the unit beside it. A box that already carries that unit ('0.5 mg/kg' typed beside the
    mg/kg menu) is read once: it was '0.5 mg/kg mg/kg' (read as 5e-07 mg/kg) or '40 min min'. Another unit typed
    there is refused by :func:`unit_conflicts` and kept as typed here (not read with two units)."""
    number, typed = _typed_unit(value)
    if not typed:
        return f"{_text(value)} {unit}"
    return f"{number} {unit}" if typed.replace(" ", "") == unit.replace(" ", "") else _text(value)


def unit_conflicts(reg: dict) -> list[tuple[str, str]]:
    """(form field relative to ``regimen.N``, message) for each box of a regimen whose typed unit is not the unit
    beside it ('35 mg' beside the mg/kg menu, '1 h' in the duration in minutes)."""
    out = []
    for prefix, line in [("", reg)] + [(f"lines.{j}.", x) for j, x in enumerate(_extra_lines(reg))]:
        boxes = (("dose", _text(line.get("dose_unit") or "mg"), "the dose", "the unit chosen beside it"),
                 ("duration_min", "min", "the duration", "minutes"),
                 ("at", _text(line.get("at_unit") or "h"), "the start", "the unit beside it"),
                 ("every", _text(line.get("every_unit") or "d"), "the interval", "the unit chosen beside it"))
        for key, unit, what, beside in boxes:
            if _blank(line.get(key)) or not isinstance(line.get(key), str):
                continue
            typed = _typed_unit(line[key])[1]
            if typed and typed.replace(" ", "") != unit.replace(" ", ""):
                out.append((prefix + key, f"{what} {_text(line[key])[:40]!r} carries a unit ({typed[:20]}) other "
                                          f"than {beside} ({unit}); type the number alone"
                                          + (f", or choose {typed[:20]} there" if beside != "minutes" else
                                             " in minutes")))
    return out


#: Extra dose lines per regimen (beyond the first), e.g. a loading bolus before an infusion.
MAX_EXTRA_LINES = 4
#: Dose units the form offers: amounts, and infusion rates (dose = rate x duration, as TCI pumps state them).
DOSE_UNITS = ("mg/kg", "mg", "mg/kg/h", "mg/h")


def form_dose_units(drug, route) -> list[str]:
    """The units of :data:`DOSE_UNITS` a dose line of ``drug`` by ``route`` (Drug, Route) accepts, in the menu's order:
    the amounts ``regimen.dose_units`` accepts (intranasal esketamine: mg only) and, for an iv-infusion only, the
    same as rates (``regimen.takes_rate``: a rate by another route is refused)."""
    from ..regimen import dose_units, takes_rate

    amounts = dose_units(drug, route)
    return [u for u in DOSE_UNITS if u.removesuffix("/h") in amounts and (takes_rate(route) or not u.endswith("/h"))]


def unit_choices() -> dict:
    """{drug: {route: the dose units its line offers}} for every drug and the routes it may be given by (the page's
    unit menu follows the line's drug and route)."""
    from ..regimen import ALLOWED_ROUTES, Drug, Route

    return {d.value: {r.value: form_dose_units(d, r) for r in Route if r in ALLOWED_ROUTES.get(d, set(Route))}
            for d in Drug}


_LINE_FIELD = re.compile(r"^regimen\.([0-9])(?:\.lines\.([0-9]))?$")


def dose_unit_change(body: dict) -> dict:
    """A dose line whose drug or route the page has just changed, with its dose in a unit the line still accepts.

    ``body``: ``{"field": "regimen.N" or "regimen.N.lines.J", "line": {drug, route, dose, dose_unit, duration_min},
    "weight_kg": the patient's weight}``. Returns ``{field, units, dose, dose_unit, message}``: ``units`` the units
    the line offers now (:func:`form_dose_units`); a dose in a unit no longer accepted converted (a rate off an
    iv-infusion: rate x the line's duration; mg/kg where only mg is accepted: at the patient's weight; intranasal
    esketamine: the nearest labelled session dose in whole 28-mg devices, ``regimen.intranasal_esketamine_session_mg``)
    or, when it cannot be, cleared; ``message`` (None when nothing changed but the menu) one line naming the field,
    the page's note at the dose box. Every refusal is one line naming the field (FormErrors)."""
    from ..regimen import (Drug, Route, intranasal_esketamine_per_kg_refusal, intranasal_esketamine_session_mg,
                           parse_drug, parse_route)

    where = _text(body.get("field") or "")
    m = _LINE_FIELD.match(where)
    if not m or int(m.group(1)) >= MAX_REGIMENS or (m.group(2) is not None and int(m.group(2)) >= MAX_EXTRA_LINES):
        raise FormErrors([{"field": "general", "message": f"field: expected regimen.N or regimen.N.lines.J, got "
                                                          f"{where[:40]!r}"}])
    line = body.get("line")
    if not isinstance(line, dict):
        raise FormErrors([{"field": "general", "message": "line: expected {drug, route, dose, dose_unit}"}])
    errors = []
    try:
        drug = parse_drug(_text(line.get("drug", "")), f"{where}.drug")
    except KetasimError as e:
        errors.append({"field": f"{where}.drug", "message": str(e)})
    try:
        route = parse_route(_text(line.get("route", "")), f"{where}.route")
    except KetasimError as e:
        errors.append({"field": f"{where}.route", "message": str(e)})
    if errors:
        raise FormErrors(errors)
    slot = "ABC"[int(m.group(1))]
    label = f"regimen {slot} dose" if m.group(2) is None else f"regimen {slot}, dose line {int(m.group(2)) + 2}, dose"
    units = form_dose_units(drug, route)
    unit = _text(line.get("dose_unit") or "")
    value = line.get("dose")
    out = {"ok": True, "field": f"{where}.dose", "units": units, "dose": "" if value is None else value,
           "dose_unit": unit, "message": None}
    if unit in units:
        return out
    nasal_esk = drug is Drug.ESKETAMINE and route is Route.INTRANASAL
    target = "mg/kg" if unit.startswith("mg/kg") and "mg/kg" in units else "mg"
    out["dose_unit"] = target
    if _blank(value):
        return out
    advice = (intranasal_esketamine_per_kg_refusal() if nasal_esk and unit.startswith("mg/kg")
              else f"give it in {' or '.join(units)}")

    given = _qty(value, unit)[:50]          # as typed, before a conversion step rebinds the unit

    def cleared(reason: str) -> dict:
        out.update(dose="", message=f"{label}: {given} cleared ({reason}); {advice}")
        return out

    number, typed = _typed_unit(value)
    if typed and typed.replace(" ", "") != unit.replace(" ", ""):
        # the box carries its own unit ('56 mg' beside mg/kg): kept as typed (the page's unit check speaks)
        return out
    if unit not in DOSE_UNITS:
        return cleared(f"{unit[:20]!r} is not a dose unit")
    try:
        amount = float(number)
    except ValueError:
        amount = math.nan
    if not (math.isfinite(amount) and amount > 0):
        return cleared("not a dose > 0")
    said = f"{amount:g} {unit}"
    steps = []
    if unit.endswith("/h"):                 # a rate off an iv-infusion: the dose it gave (rate x duration)
        dur = _num(line.get("duration_min"))
        if isinstance(dur, bool) or not isinstance(dur, (int, float)) or not math.isfinite(dur) or dur <= 0:
            return cleared("a rate needs the infusion's duration to make a dose")
        amount, unit = amount * dur / 60, unit.removesuffix("/h")
        steps.append(f"over {dur:g} min is {amount:.4g} {unit}")
    if unit == "mg/kg" and target == "mg":  # mg only (intranasal esketamine): at the patient's weight
        from ..population import WEIGHT_MEAN_RANGE

        lo, hi = WEIGHT_MEAN_RANGE             # the patient's weight as the engine reads it
        w = _num(body.get("weight_kg"))
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not lo <= w <= hi:
            return cleared(f"the patient's weight is not a number of {lo:g}-{hi:g} kg")
        amount, unit = amount * w, "mg"
        steps.append(f"{'' if steps else 'is '}{amount:.4g} mg at the patient's {w:g} kg")
    if not math.isfinite(amount):
        return cleared("too large to convert")
    if nasal_esk:
        from ..regimen import INTRANASAL_ESKETAMINE_DEVICE_MG as dev, intranasal_esketamine_session_doses

        doses = intranasal_esketamine_session_doses()
        if amount < doses[0] - dev / 2:         # one device would be more than twice the dose asked for
            return cleared(f"{amount:.3g} mg is less than half of the fewest labelled dose, {doses[0]:g} mg")
        mg = intranasal_esketamine_session_mg(amount)
        n = round(mg / dev)
        bound = ", the label's most for a session" if amount > doses[-1] + dev / 2 else ""
        steps.append(f"intranasal esketamine is given in {dev:g}-mg devices, so {mg:g} mg ({n} device"
                     f"{'s' if n > 1 else ''}{bound})")
        amount = mg
    elif route is not Route.IV_INFUSION and steps:
        steps.append(f"by {route.value} a dose is an amount, not a rate")
    out["dose"] = _num(float(f"{amount:.6g}"))
    out["message"] = f"{label}: {said} {', '.join(steps[:-1])}{'; ' if len(steps) > 1 else ''}{steps[-1]}"
    return out


def _dose_line(reg: dict) -> dict:
    line: dict[str, Any] = {"drug": _text(reg.get("drug", "")), "route": _text(reg.get("route", ""))}
    if not _blank(reg.get("dose")):
        line["dose"] = _qty(reg["dose"], _text(reg.get("dose_unit") or "mg"))
    if line["route"] == "iv-infusion" and not _blank(reg.get("duration_min")):
        line["duration"] = _qty(reg["duration_min"], "min")
    line["at"] = _qty(reg["at"], _text(reg.get("at_unit") or "h")) if not _blank(reg.get("at")) else "0 h"
    count = _num(reg.get("count"))
    if not _blank(reg.get("every")) and not (count == 1 or _blank(count)):
        line["every"] = _qty(reg["every"], _text(reg.get("every_unit") or "d"))
    if not _blank(count) and count != 1:
        line["count"] = count
    return line


def _extra_lines(reg: dict) -> list[dict]:
    extra = reg.get("lines") or []
    if not isinstance(extra, list):
        raise FormErrors([{"field": "general", "message": "regimens[].lines: expected a list of dose lines"}])
    return [x for x in extra[:MAX_EXTRA_LINES] if isinstance(x, dict) and not x.get("removed")]


def line_fields(reg: dict) -> list[str]:
    """The form field (relative to ``regimen.N``) of each scenario line of a regimen, in order."""
    out = [""] + [f"lines.{j}" for j in range(len(_extra_lines(reg)))]
    if reg.get("background_antidepressant"):
        out.append("background_antidepressant")
    return out


def regimen_lines(reg: dict) -> list[dict]:
    """The scenario lines (``{drug, route, dose, duration, at, every, count}``) of one form regimen: its first
    line, any extra lines (``lines``), and the optional background antidepressant."""
    lines = [_dose_line(reg)] + [_dose_line(x) for x in _extra_lines(reg)]
    if reg.get("background_antidepressant"):
        lines.append({"drug": "oral-antidepressant", "route": "oral", "at": "0 d"})
    return lines


def _items(v) -> list:
    """A list typed in one text box ('28, 56, 84' or '2 3 4'), or a JSON list, as its items."""
    if isinstance(v, list):
        return [x for x in v if not _blank(x)]
    if _blank(v):
        return []
    return [x for x in str(v).replace(";", ",").replace(",", " ").split() if x]


_LEVEL = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s,;]*)\s*[,;]?")


def _levels(v) -> list:
    """The dose levels typed in one box, each with the unit typed after it if any: '28 mg, 56 mg, 84 mg' and
    '28mg 56mg 84mg' are three levels (split at spaces they were '28', 'mg', '56', ... : "cannot read 'mg mg'");
    text that is not numbers with units goes on as :func:`_items` splits it (the engine's message names it)."""
    if isinstance(v, str) and v.strip():
        pieces, pos = [], 0
        while pos < len(v):
            m = _LEVEL.match(v, pos)
            if not m or m.end() == pos:
                return _items(v)
            pieces.append(f"{m.group(1)}{' ' + m.group(2) if m.group(2) else ''}")
            pos = m.end()
        return pieces
    return _items(v)


def titration_mapping(reg: dict) -> dict | None:
    """The ``titration:`` rule of a form regimen (``regimens[].titration``: ``enabled``, ``doses`` — levels in the
    regimen's dose unit, lowest first, e.g. '28, 56, 84' —, ``sessions`` — the numbers of the first dose line's
    doses at which the dose may change, e.g. '2, 3, 4, 5' —, ``increase_below_pct`` — one level up when the
    patient's score reduction from baseline is below this many % —), or None when off. The titrated line is the
    regimen's first dose line (``line: 0``); the engine checks everything (regimen.titration_from_mapping)."""
    t = reg.get("titration")
    if not isinstance(t, dict) or not t.get("enabled"):
        return None
    unit = _text(reg.get("dose_unit") or "mg")
    out: dict[str, Any] = {"line": 0, "doses": [_qty(x, unit) for x in _levels(t.get("doses"))],
                           "sessions": [_num(x) for x in _items(t.get("sessions"))]}
    pct = _num(t.get("increase_below_pct"))
    if not _blank(pct):
        out["increase_if"] = {"score_reduction_below": (round(pct / 100, 10) if isinstance(pct, (int, float))
                                                        and not isinstance(pct, bool) else pct)}
    return out


def regimen_arm(reg: dict):
    """A form regimen as a scenario arm: its list of lines, or ``{doses: lines, titration: rule}`` with a rule."""
    lines = regimen_lines(reg)
    tit = titration_mapping(reg)
    return lines if tit is None else {"doses": lines, "titration": tit}


def patient_sex(patient: dict) -> str:
    """``patient["sex"]`` as 'female' or 'male' (blank: female, the default population's majority); F/M/female/male
    in any case as the record reads them, anything else one InputError line naming patient.sex ('F' and 'Female'
    were read as male)."""
    from ..patient import parse_sex

    return "female" if _blank(patient.get("sex")) else parse_sex(_text(patient["sex"]))


def population_mapping(patient: dict, trial: dict | None = None, *, sex: str | None = None) -> dict:
    """The ``population:`` section: one patient (all SDs zero), or a trial population around that patient.
    ``sex``: the patient's sex as ``patient_sex`` parsed it (``build`` parses it once, collecting its error with the
    other fields'); None parses ``patient["sex"]`` here.
    ``patient["recurrence"]`` false: ``recurrence: false`` (no new depressive episode on continued treatment).
    ``patient["re_response"]`` true: ``re_response: true`` (a hypothesis, off by default: active sessions after a new
    episode's onset relieve it again in part; needs recurrence). ``patient["recurrence_clock"]`` ``response`` or
    ``recovery``: ``recurrence_clock: response`` / ``recovery`` (hypotheses, off by default: the recurrence time
    counts time in response, or time since recovery, a remission sustained for 4 months)."""
    from ..population import DEFAULT_RECURRENCE_CLOCK

    # no condition: the one the scale reads, else depression (the population reader's rule); a contradiction of the
    # two is refused there in one line
    cond = None if _blank(patient.get("condition")) else _text(patient.get("condition"))
    scale = _text(patient.get("scale") or "") or None
    # passed on unchanged: the engine reads true/false and names the field for anything else (bool() turned the text
    # "false" into true). Absent or null: left out, so the engine applies population.default_treatment_resistant to
    # the condition it resolves (true for depression, false for PTSD, anxiety and suicidal ideation)
    tr = patient.get("treatment_resistant")
    pop: dict[str, Any] = {"size": 1, **({} if cond is None else {"condition": cond}),
                           **({} if tr is None else {"treatment_resistant": tr})}
    if scale:
        pop["scale"] = scale
    pop["baseline"] = {"mean": _num(patient.get("baseline")), "sd": 0}
    if _blank(patient.get("baseline")) and scale:
        # the page empties the baseline for a scale without a sourced default (IES-R, MSSI): the engine's
        # message says so and gives the scale's range ("expected a number, got an empty value" did not)
        from ..population import DEFAULT_BASELINE as _SOURCED, canonical_scale

        try:
            no_default = canonical_scale(scale) not in _SOURCED
        except KetasimError:
            no_default = False          # an unknown scale: the engine names patient.scale
        if no_default:
            del pop["baseline"]
    pop["weight_kg"] = {"mean": _num(patient.get("weight_kg")), "sd": 0}
    pop["age_years"] = {"mean": _num(patient.get("age_years")), "sd": 0}
    pop["female_fraction"] = 1.0 if (sex or patient_sex(patient)) == "female" else 0.0
    if not _blank(patient.get("genotype")):
        pop["genotype"] = _text(patient["genotype"])
    if not _blank(patient.get("crp_mg_l")):
        pop["crp_mg_l"] = _num(patient["crp_mg_l"])
    comed = [c for c in (patient.get("comedications") or []) if not _blank(c)]
    if comed:
        pop["comedications"] = [_text(c) for c in comed]
    rec = patient.get("recurrence", True)
    if rec is not True and rec is not None:
        # population.recurrence (issue 7): written only when off, as the CLI's --no-recurrence; anything but
        # true/false goes to the engine unchanged, which names the field (population.recurrence: must be true or false)
        pop["recurrence"] = rec
    rr = patient.get("re_response", False)
    if rr is not False and rr is not None:
        # population.re_response: written only when on (off by default); anything but true/false goes to the engine
        # unchanged, which names the field (population.re_response: must be true or false)
        pop["re_response"] = rr
    clock = patient.get("recurrence_clock")
    if not _blank(clock) and clock != DEFAULT_RECURRENCE_CLOCK:
        # population.recurrence_clock: written only when not the default; a bad value goes to the engine unchanged,
        # which names the field (population.recurrence_clock: use one of response, entry, recovery)
        pop["recurrence_clock"] = clock if not isinstance(clock, str) else _text(clock)
    if trial is not None:
        pop["size"] = _num(trial.get("size"))
        sd_base = _trial_baseline_sd(scale, cond)
        if "baseline" in pop:
            pop["baseline"]["sd"] = sd_base
        pop["weight_kg"]["sd"] = 15
        pop["age_years"]["sd"] = 12
        for key in ("min", "max"):           # an age inclusion range (truncated normal around the patient's age)
            if not _blank(trial.get(f"age_{key}")):
                pop["age_years"][key] = _num(trial[f"age_{key}"])
        pop["female_fraction"] = 0.55
        if not trial.get("fix_genotype_crp"):
            pop.pop("genotype", None)
            pop.pop("crp_mg_l", None)
    return pop


def trial_mean_age(pop: dict) -> str | None:
    """Bound a trial population's mean age (``pop``: :func:`population_mapping`'s, changed in place) to the range its
    ages are drawn in (``limits.AGE_RANGE``, 18-90 years) when the patient's own age lies outside it (one patient may
    be 12-100); the note the page shows at the trial's age field, else None. A patient of 95 could not run a virtual
    trial: it was refused at the patient's age with the population rule's line ('a population's ages are drawn within
    18-90 years, so its mean cannot be 95'), which named nothing the trial panel could change. An age that is no
    valid single patient's is left to the engine's message at the patient's field."""
    from ..limits import AGE_RANGE
    from ..population import AGE_MEAN_RANGE

    age = pop.get("age_years") or {}
    mean = age.get("mean")
    if isinstance(mean, bool) or not isinstance(mean, (int, float)) or not math.isfinite(mean):
        return None
    lo, hi = AGE_RANGE
    if lo <= mean <= hi or not AGE_MEAN_RANGE[0] <= mean <= AGE_MEAN_RANGE[1]:
        return None
    bound = hi if mean > hi else lo
    age["mean"] = _num(bound)
    return (f"population.age_years: a virtual trial draws its patients' ages within {lo:g}-{hi:g} years, so this "
            f"trial's mean age is {bound:g}, not the patient's {mean:g} (the single-patient simulation keeps "
            f"{mean:g})")


def _active_regimens(form: dict) -> list[tuple[int, dict]]:
    regs = form.get("regimens") or []
    if not isinstance(regs, list):
        raise FormErrors([{"field": "general", "message": "regimens: expected a list"}])
    return [(i, r) for i, r in enumerate(regs[:MAX_REGIMENS]) if isinstance(r, dict) and r.get("enabled", True)]


def _experiments(form: dict) -> dict | None:
    ex = form.get("experiments") or {}
    out = {k: (1.0 if ex.get(k) else 0.0) for k in BLOCKING_SWITCHES if ex.get(k)}
    return out or None


@dataclasses.dataclass(frozen=True)
class Built:
    scenario: Any                   # ketasim.scenario.Scenario
    mapping: dict                   # the scenario mapping (what the YAML file holds)
    slots: dict                     # arm name -> regimen slot (0, 1, 2) or "placebo"
    warnings: list
    params: Any = None              # the parameter set with the form's overrides (None: the default set)
    overrides: dict = dataclasses.field(default_factory=dict)
    columns: int = 2                # figure columns the page asked for (1 on a phone)


def _field_of(message: str, slots: dict, lines: dict | None = None) -> str:
    """The form field a one-line engine message points at (the message starts with the scenario path;
    arm names may themselves contain ': ' or dots, so they are matched first). ``lines``: arm name -> the
    form field of each of its scenario lines (:func:`line_fields`)."""
    import re

    for name in sorted(slots, key=len, reverse=True):
        prefix = f"arms.{name}"
        if message.startswith(prefix) and message[len(prefix):len(prefix) + 1] in ("[", ".", ":"):
            slot = slots[name]
            tail = message[len(prefix):].split(": ", 1)[0]
            if slot == "placebo":
                return "trial.placebo"
            if tail.startswith(".titration"):
                part = (tail.split(".")[2] if tail.count(".") >= 2 else "doses").split("[")[0]
                return f"regimen.{slot}.titration." + {"increase_if": "increase_below_pct",
                                                        "sessions": "sessions"}.get(part, "doses")
            m = re.match(r"\[(\d+)\]", tail)
            where = ((lines or {}).get(name) or ["", "background_antidepressant"])
            sub = where[int(m.group(1))] if m and int(m.group(1)) < len(where) else ""
            if sub == "background_antidepressant":
                return f"regimen.{slot}.background_antidepressant"
            key = tail.split(".", 1)[1] if "." in tail else "dose"
            key = {"duration": "duration_min", "rate": "dose"}.get(key, key)
            return f"regimen.{slot}.{sub + '.' if sub else ''}{key}"
    path = message.split(": ", 1)[0]
    if path in ("population.age_years.min", "population.age_years.max") or (
            path == "population.age_years.mean" and "inclusion range" in message):
        return "trial.age_range"            # only an inclusion range gives these (population.check_age)
    if path == "population.age_years.mean":
        return "patient.age_years"          # the patient's age itself (empty, not a number)
    if path.startswith("population."):
        key = path.split(".")[1].split("[")[0]
        return "trial.size" if key == "size" else f"patient.{key}"
    if path.startswith("endpoints.times"):
        return "trial.times"
    if path == "seed":
        return "trial.seed"
    if path.startswith("experiments."):
        return "experiments"
    if path.startswith("overrides"):
        return path if path.count(".") >= 1 else "overrides"
    if path.startswith("observed"):
        return "observed"
    return "general"


def _form_error(message: str, slots: dict, lines: dict | None = None) -> dict:
    """``{field, message}`` of a one-line engine message (:func:`_field_of`); a message about the patient card's field
    names that field, not the scenario path it became ('population.crp_mg_l: must lie in 0-300 mg/L' under the CRP
    box: the page has no 'population'; now 'patient.crp_mg_l: ...', as the field's own key)."""
    field = _field_of(message, slots, lines)
    path, sep, rest = message.partition(": ")
    if sep and field.startswith("patient.") and path.startswith("population."):
        message = f"{field}: {_one_value(rest)}"
    return {"field": field, "message": message}


_MEAN_SD = re.compile(r"mean must lie in (?P<range>.+?) and sd in (?:\[0, [^\]]+\]|0-[\d.e+]+)(?P<unit> [^,]+)?, "
                      r"got mean (?P<value>[^,]+), sd 0$")


def _one_value(rest: str) -> str:
    """The patient card's field is one patient's value, not a population's mean and SD: 'mean must lie in 20-250 kg
    and sd in 0-100 kg, got mean -70, sd 0' says 'must lie in 20-250 kg, got -70' (as a scenario's ``patient:``
    block says it; the page's patient is a population of one with SD 0)."""
    m = _MEAN_SD.match(rest)
    if m is None:
        return rest
    rng, unit = m["range"], m["unit"] or ""
    return f"must lie in {rng}{unit if rng.endswith((']', ')')) else ''}, got {m['value']}"


def _validate(mapping: dict, dose_weight_kg: float | None = None):
    """scenario_from_dict with warnings captured (returned as messages, as the CLI prints them). ``dose_weight_kg``:
    the one patient's weight (kg) its doses in mg are judged at (None: the 70-kg reference weight)."""
    from ..scenario import scenario_from_dict

    with _WARN_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sc = scenario_from_dict(mapping, dose_weight_kg=dose_weight_kg)
    return sc, [str(w.message) for w in caught]


# ---- request bodies: the shape of the form, checked before anything reads it -----------------------------------------
def _form_models():
    from typing import Annotated, Union

    from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StringConstraints

    Text = Annotated[str, StringConstraints(max_length=200)]
    Scalar = Union[StrictBool, StrictInt, StrictFloat, Text, None]

    class _M(BaseModel):
        # unknown keys are ignored (the page may grow), known keys are typed; numbers must be finite
        model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)

    class Patient(_M):
        weight_kg: Scalar = None
        age_years: Scalar = None
        sex: Scalar = None
        genotype: Scalar = None
        crp_mg_l: Scalar = None
        condition: Scalar = None
        scale: Scalar = None
        baseline: Scalar = None
        treatment_resistant: Scalar = None      # None: default_treatment_resistant(condition)
        recurrence: Scalar = True
        re_response: Scalar = False
        recurrence_clock: Scalar = None
        comedications: list[Union[Text, None]] | None = None

    class Titration(_M):
        enabled: Scalar = None
        doses: Union[Scalar, Annotated[list[Union[StrictInt, StrictFloat, Text]], Field(max_length=12)]] = None
        sessions: Union[Scalar, Annotated[list[Union[StrictInt, StrictFloat, Text]], Field(max_length=40)]] = None
        increase_below_pct: Scalar = None

    class Regimen(_M):
        enabled: Scalar = True
        name: Scalar = None
        drug: Scalar = None
        route: Scalar = None
        dose: Scalar = None
        dose_unit: Scalar = None
        duration_min: Scalar = None
        every: Scalar = None
        every_unit: Scalar = None
        count: Scalar = None
        background_antidepressant: Scalar = None
        titration: Titration | None = None

    class Trial(_M):
        size: Scalar = None
        seed: Scalar = None
        times: Scalar = None
        placebo_arm: Scalar = None
        fix_genotype_crp: Scalar = None
        age_min: Scalar = None
        age_max: Scalar = None

    class Power(_M):
        sizes: Union[Scalar, Annotated[list[Union[StrictInt, StrictFloat, Text]], Field(max_length=40)]] = None
        measure: Scalar = None
        time: Scalar = None
        test: Scalar = None
        alpha: Scalar = None
        target: Scalar = None
        dropout: Scalar = None
        replicates: Scalar = None

    class Experiments(_M):
        ampa_block: Scalar = None
        mtor_block: Scalar = None
        spine_block: Scalar = None

    class Form(_M):
        name: Scalar = None
        patient: Patient | None = None
        regimens: list[Regimen | None] | None = None
        experiments: Experiments | None = None
        trial: Trial | None = None
        power: Power | None = None
        view: StrictInt | None = None

    return Form


_FORM_MODEL = None


def check_form(form) -> None:
    """The request body's shape (types, lengths): FormErrors (422) naming the form field, never a 500."""
    global _FORM_MODEL
    from pydantic import ValidationError

    from ..limits import check_depth

    if not isinstance(form, dict):
        raise FormErrors([{"field": "general", "message": "request: expected a JSON object"}])
    try:
        check_depth(form, "request", max_depth=8, max_nodes=2000)
    except KetasimError as e:
        raise FormErrors([{"field": "general", "message": str(e)}]) from None
    regs = form.get("regimens")
    if isinstance(regs, list) and len(regs) > 10:
        raise FormErrors([{"field": "general", "message": f"regimens: at most 10 entries, got {len(regs)}"}])
    comed = (form.get("patient") or {}).get("comedications") if isinstance(form.get("patient"), dict) else None
    if isinstance(comed, list) and len(comed) > 20:
        raise FormErrors([{"field": "patient.comedications", "message": "patient.comedications: at most 20"}])
    if _FORM_MODEL is None:
        _FORM_MODEL = _form_models()
    try:
        _FORM_MODEL.model_validate(form)
    except ValidationError as e:
        errors = []
        for err in e.errors()[:10]:
            loc = [str(x) for x in err["loc"] if not str(x).startswith(("bool", "int", "float", "str", "list["))]
            loc = [x for x in loc if x not in ("constrained-str",)]
            if loc[:1] == ["regimens"] and len(loc) >= 4 and loc[2] == "titration":
                fieldname = "regimen." + ".".join(loc[1:4])
            elif loc[:1] == ["regimens"] and len(loc) >= 2:
                fieldname = "regimen." + ".".join(loc[1:3])
            elif loc[:1] in (["patient"], ["trial"], ["power"]) and len(loc) >= 2:
                fieldname = f"{loc[0]}.{loc[1]}"
            elif loc[:1] == ["experiments"]:
                fieldname = "experiments"
            elif loc[:1] == ["power"]:
                fieldname = "power.run"   # the whole section has the wrong type
            elif loc[:1] in (["patient"], ["trial"]):
                fieldname = loc[0]        # the whole section has the wrong type
            else:
                fieldname = "general"
            msg = f"{'.'.join(loc) or 'request'}: {err['msg']}"
            if not any(x["field"] == fieldname for x in errors):
                errors.append({"field": fieldname, "message": msg})
        raise FormErrors(errors) from None


def build(form: dict, *, trial: bool = False) -> Built:
    """Validate the form into a scenario; raise FormErrors listing every field in trouble (each with the
    message the CLI would print for the same scenario file)."""
    check_form(form)
    patient = form.get("patient") or {}
    tset = (form.get("trial") or {}) if trial else None
    regs = _active_regimens(form)
    errors: list[dict] = []
    names: dict = {}
    for slot, reg in regs:
        name = _text(reg.get("name") or "")
        if not name:
            errors.append({"field": f"regimen.{slot}.name", "message": "arms: every arm needs a name"})
        elif name in names:
            errors.append({"field": f"regimen.{slot}.name", "message": f"arms: two arms are named {name!r}"})
        else:
            names[name] = slot
    if not regs:
        errors.append({"field": "general", "message": "arms: at least one arm is required"})
    try:
        sex = patient_sex(patient)
    except InputError as e:
        errors.append({"field": "patient.sex", "message": str(e)})
        sex = "female"          # the population's other fields are still checked (every broken field at once)
    by_slot = dict(regs)
    for slot, reg in regs:
        errors += [{"field": f"regimen.{slot}.{key}", "message": msg} for key, msg in unit_conflicts(reg)]
    try:
        arms = {name: regimen_arm(by_slot[slot]) for name, slot in names.items()}
    except FormErrors as e:
        raise FormErrors(errors + e.errors) from None
    where = {name: line_fields(by_slot[slot]) for name, slot in names.items()}
    if tset is not None and tset.get("placebo_arm"):
        pname = "placebo"
        while pname in arms:
            pname += "'"
        arms[pname] = [{"drug": "placebo", "route": "iv-infusion", "duration": "40 min", "at": "0 h"}]
        names[pname] = "placebo"
    pop = population_mapping(patient, tset, sex=sex)
    warn: list[dict] = []
    note = trial_mean_age(pop) if tset is not None else None
    if note:
        warn.append({"field": "trial.age_range", "message": note})
    mapping: dict[str, Any] = {"name": _text(form.get("name") or "ketasim-dashboard"),
                               "seed": _num(tset.get("seed", 7)) if tset is not None else 0,
                               "population": pop, "arms": arms}
    if tset is not None:
        times = [t.strip() for t in str(tset.get("times") or DEFAULT_ENDPOINT_TIMES).split(",") if t.strip()]
        mapping["endpoints"] = {"times": times, "measures": list(TRIAL_MEASURES)}
    else:
        mapping["output"] = {"every": "5 min"}
    ex = _experiments(form)
    if ex:
        mapping["experiments"] = ex
    # 1. the population on its own (with a neutral arm), 2. each arm on its own: report every broken field.
    probe_arm = {"check": [{"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}]}
    pop_ok = True
    try:
        _validate({**{k: v for k, v in mapping.items() if k not in ("arms", "endpoints", "experiments")},
                   "arms": probe_arm})
    except KetasimError as e:
        pop_ok = False
        errors.append(_form_error(str(e), names, where))
    # the simulate page's one patient (size 1, weight SD 0): its doses in mg are judged at its weight (90 mg at 120 kg
    # is 0.75 mg/kg, not anesthetic as at 70 kg), as a record's are, by scenario_from_dict's content rule -- so the
    # page's scenario YAML is judged alike when read back (review s45 S1); a trial's population at the 70-kg reference
    params, overrides = None, {}
    try:
        params, overrides = parameters_with(form.get("overrides"))
    except FormErrors as e:
        errors += e.errors
    for name, lines in arms.items():
        base = {"name": "check", "population": pop if pop_ok else {"size": 1}, "arms": {name: lines}}
        try:
            _, w = _validate(base)
            warn += [_form_error(m, names, where) for m in w]
        except KetasimError as e:
            errors.append(_form_error(str(e), names, where))
    if errors:
        raise FormErrors(errors, warn)
    try:
        sc, _ = _validate(mapping)
    except KetasimError as e:
        raise FormErrors([_form_error(str(e), names, where)], warn) from None
    return Built(sc, mapping, names, warn, params, overrides)


# ---- parameter overrides, observed data, layout -------------------------------------------------------------------
#: Exploration range of a literature parameter around its value, by the confidence stated in parameters.csv
#: (a teaching range, not a claim): x/÷ 2 when stated by the source, 3 when derived, 5 when uncertain.
_RANGE_FACTOR = {"as stated": 2.0, "derived": 3.0, "uncertain": 5.0}
#: Parameters the dashboard does not offer (unit conversions and monitoring rules, not biology).
_NOT_EDITABLE = ("mw.", "monitoring.")
#: Nor 0/1 switches (pk.py compares ``== 1``): a range around 1 turned clarithromycin's mechanism-based inhibition off
#: for any edit but exactly 1, without a word.
_SWITCHES = (".mechanism_based",)
MAX_OBSERVED_BYTES = 200_000
MAX_OBSERVED_ROWS = 5000
#: Observed columns the page can overlay: CSV column -> (trajectory column, label).
OBSERVED_COLUMNS = {"score": ("score", "score"), "cp_ketamine_ng_ml": ("cp_ketamine_ng_ml", "plasma ketamine"),
                    "concentration_ng_ml": ("cp_ketamine_ng_ml", "plasma ketamine"),
                    "cadss": ("cadss", "CADSS"), "sbp_change_mmhg": ("sbp_change_mmhg", "SBP change")}


def _columns(form: dict) -> int:
    c = form.get("columns", 2) if isinstance(form, dict) else 2
    return 1 if c == 1 else 2


def plausible_range(name: str) -> tuple[float, float] | None:
    """The range an override of parameter ``name`` must lie in (its unit), or None when it cannot be edited.

    Calibrated (free) parameters: the calibration's bounds (``calibration.FITTED``). Literature parameters:
    value x/÷ a factor set by the stated confidence (``_RANGE_FACTOR``); fractions stay within [0, 1]."""
    p = parameters()
    if name in p.free:
        from ..calibration import FITTED

        if name not in FITTED:
            return None
        return float(FITTED[name][1]), float(FITTED[name][2])
    prm = p.literature.get(name)
    if (prm is None or name.startswith(_NOT_EDITABLE) or name.endswith(_SWITCHES) or not math.isfinite(prm.value)
            or prm.value <= 0):
        return None
    conf = prm.confidence.split(" (")[0].strip()
    f = _RANGE_FACTOR.get(conf, 2.0)
    lo, hi = prm.value / f, prm.value * f
    # a fraction (unit 'fraction' in parameters.csv: a share, probability, bioavailability, 0-1 level) stays within 1.
    # Other dimensionless values are not fractions whatever their size: every one below 1 was capped at 1, so a
    # log-SD (iiv.ka_intranasal_cv 0.565), a ratio or a Weibull shape could not be raised above 1
    if is_fraction(prm.unit):
        hi = min(hi, 1.0)
    return float(f"{lo:.4g}"), float(f"{hi:.4g}")


@lru_cache(maxsize=1)
def parameter_catalog() -> list[dict]:
    """Every parameter the page can edit: name, value, unit, source, confidence, note and plausible range."""
    p = parameters()
    out = []

    def source_of(prm, depth=0):   # "same as pk.ketamine.v1" -> that parameter's source
        src = prm.source.strip()
        if src.startswith("same as ") and depth < 5:
            ref = p.literature.get(src.removeprefix("same as ").split()[0].strip(" ,;"))
            if ref is not None:
                return source_of(ref, depth + 1)
        return src

    for kind, group in (("literature", p.literature), ("calibrated", p.free)):
        for name, prm in group.items():
            rng = plausible_range(name)
            if rng is None:
                continue
            out.append({"name": name, "value": prm.value, "unit": prm.unit, "source": source_of(prm),
                        "confidence": prm.confidence, "note": prm.note, "kind": kind, "min": rng[0], "max": rng[1]})
    return sorted(out, key=lambda r: r["name"])


def parameters_with(overrides) -> tuple[Any, dict]:
    """The default parameter set with the form's overrides ``{name: value}`` applied, after checking each
    against :func:`plausible_range`. Returns (ParameterSet or None when there are none, the overrides used)."""
    if _blank(overrides) or overrides == {}:
        return None, {}
    if not isinstance(overrides, dict):
        raise FormErrors([{"field": "overrides", "message": "overrides: expected {parameter name: value}"}])
    p = parameters()
    n_params = len(p.literature) + len(p.free)
    if len(overrides) > n_params:
        # every override is applied (the first 20 were, the rest dropped without a word, while the page sends every
        # edit made); more names than the set has parameters cannot all be parameters
        raise FormErrors([{"field": "overrides", "message": f"overrides: {len(overrides)} names, more than the "
                                                            f"parameter set has parameters ({n_params})"}])
    errs, lit, free, used = [], {}, {}, {}
    for name, raw in overrides.items():
        name = str(name)
        f = f"overrides.{name}"
        if name not in p.literature and name not in p.free:
            errs.append({"field": "overrides", "message": f"{f}: no such parameter (see `ketasim params`)"})
            continue
        rng = plausible_range(name)
        if rng is None:
            errs.append({"field": "overrides", "message": f"{f}: this parameter cannot be edited here"})
            continue
        v = _num(raw)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            errs.append({"field": "overrides", "message": f"{f}: {raw!r} is not a number"})
            continue
        unit = (p.free.get(name) or p.literature[name]).unit
        if not (rng[0] <= v <= rng[1]):
            u = unit_suffix(unit)     # not '1.2 fraction'
            why = " (a fraction: at most 1)" if is_fraction(unit) and v > 1 else ""
            errs.append({"field": "overrides", "message": f"{f}: {v:g}{u} is outside the plausible range "
                                                          f"{rng[0]:g}-{rng[1]:g}{u}{why}"})
            continue
        (free if name in p.free else lit)[name] = float(v)
        used[name] = float(v)
    if errs:
        raise FormErrors(errs)
    out = p.with_literature(lit) if lit else p
    if free:
        out = out.with_free(free, f"{p.free_version}+override", p.calibration_run)
    return out, used


def parse_observed(obs) -> dict | None:
    """Observed data uploaded by the page: ``{"csv": text}`` with a ``time_h`` column and one of
    ``OBSERVED_COLUMNS`` (score, cp_ketamine_ng_ml / concentration_ng_ml, cadss, sbp_change_mmhg).
    Returns {time_h, values, column, label} or None; raises FormErrors (field ``observed``) otherwise."""
    import io

    import pandas as pd

    if obs is None or obs == {} or (isinstance(obs, dict) and _blank(obs.get("csv"))):
        return None
    err = lambda m: FormErrors([{"field": "observed", "message": f"observed: {m}"}])  # noqa: E731
    if not isinstance(obs, dict) or not isinstance(obs.get("csv"), str):
        raise err("expected a CSV file as text")
    text = obs["csv"]
    if len(text.encode("utf-8", "ignore")) > MAX_OBSERVED_BYTES:
        from ..limits import fmt_bytes

        raise err(f"the file is larger than {fmt_bytes(MAX_OBSERVED_BYTES)}")
    try:
        df = pd.read_csv(io.StringIO(text), nrows=MAX_OBSERVED_ROWS + 1)
    except Exception as e:  # pandas raises several parser errors
        raise err(f"cannot read the CSV ({str(e).splitlines()[0][:120]})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "time_h" not in df.columns:
        sep = next((name for ch, name in ((";", "semicolons"), ("\t", "tabs")) if any(ch in c for c in df.columns)),
                   None)
        if sep:     # a spreadsheet's export (decimal commas): said only that 'time_h' was missing
            raise err(f"the file is separated by {sep}: it must be comma-separated (decimals with a point)")
        from ..units import to_hours_factor

        # 'time_d' or 'time_min' (another unit): say the conversion, as the record and observed files do
        other = next(((c, f) for c in df.columns if c.startswith("time") for f in [to_hours_factor(c)] if f), None)
        if other:
            raise err(f"a 'time_h' column (hours after the first dose) is required; {other[0]!r} is in other units: "
                      f"convert it to hours ({other[1]}) and name it time_h")
        raise err("a 'time_h' column (hours after the first dose) is required")
    cols = [c for c in df.columns if c in OBSERVED_COLUMNS]
    if len(cols) != 1:
        raise err(f"give exactly one value column, one of {', '.join(OBSERVED_COLUMNS)}")
    if len(df) > MAX_OBSERVED_ROWS:
        raise err(f"more than {MAX_OBSERVED_ROWS} rows")
    t = pd.to_numeric(df["time_h"], errors="coerce").to_numpy(float)
    y = pd.to_numeric(df[cols[0]], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(t) & np.isfinite(y))
    if bad.any():
        raise err(f"row {int(np.flatnonzero(bad)[0]) + 2}: time_h and {cols[0]} must be numbers")
    if len(t) == 0:
        raise err("no rows")
    if (t < 0).any():
        raise err("time_h must be >= 0")
    column, label = OBSERVED_COLUMNS[cols[0]]
    if column in ("cp_ketamine_ng_ml", "cadss") and (y < 0).any():
        # a negative concentration or CADSS rating was drawn without a word (a rating's range is checked with the
        # scenario's scale in simulate_form)
        k = int(np.flatnonzero(y < 0)[0])
        raise err(f"row {k + 2}: {cols[0]} {y[k]:g} is negative")
    return {"time_h": t, "values": y, "column": column, "label": label}


# ---- single-patient simulation ------------------------------------------------------------------------------------
def _simulate(scenario, times=None, params=None):
    from ..engine import simulate

    check_cancelled()
    with ENGINE_LOCK:
        check_cancelled()       # the request may have waited for the engine (e.g. behind a trial's chunk)
        if params is None:
            # anesthetic_check=False: simulate_form warns at the arm's dose field (cumulative_anesthetic_arms)
            return simulate(scenario, parameters(), typical=True, output_times_h=times, anesthetic_check=False)
        try:
            return simulate(scenario, params, typical=True, output_times_h=times, anesthetic_check=False)
        except (ValueError, ArithmeticError) as e:   # an override the model cannot run with (e.g. CL > liver flow)
            raise FormErrors([{"field": "overrides", "message": f"overrides: the model cannot run with these "
                                                                f"values ({e})"}]) from None


def _key_numbers(df, sessions, scale: str) -> list[dict]:
    """Per arm: peaks and scores at fixed times, read off the typical-patient trajectory."""
    rows = []
    for arm, g in df.groupby("arm", sort=False):
        t = g["time_h"].to_numpy()
        base = float(g["score"].iloc[0])
        row: dict[str, Any] = {"arm": arm, "baseline": base}
        for col in ("cp_ketamine_ng_ml", "nmda_block_interneuron", "glutamate", "bdnf", "mtorc1", "spine_density",
                    "cadss", "sbp_change_mmhg", "sedation"):
            row[f"peak_{col}"] = float(np.max(g[col].to_numpy()))
        for h in (24.0, 168.0, 672.0):
            row[f"score_{h:g}h"] = float(np.interp(h, t, g["score"].to_numpy())) if h <= t[-1] else None
        s = sessions[sessions["arm"] == arm] if sessions is not None and len(sessions) else None
        row["discharge_ready_h"] = float(s["discharge_ready_h"].max()) if s is not None and len(s) else None
        row["sessions"] = int(len(s)) if s is not None else 0
        rows.append(row)
    return rows


def _chain_ranges(df) -> dict:
    """For each chain link: the drug-free level and the largest excursion over all arms and times (the page
    colours each box by where the link stands between the two)."""
    out = {}
    for col, _, _, kind in CHAIN + SIDE_CHAIN:
        y = df[col].to_numpy(float)
        if kind == "one":
            base, lo, hi = 1.0, float(np.min(y)), float(np.max(y))
        elif kind == "score":
            base = float(df["score"].iloc[0])
            lo, hi = float(np.min(y)), float(np.max(y))
        else:
            base, lo, hi = 0.0, float(np.min(y)), float(np.max(y))
        out[col] = {"baseline": base, "min": lo, "max": hi, "kind": kind}
    return out


def simulate_form(form: dict) -> dict:
    """The /api/simulate answer: the cascade figure, the chain data, key numbers, the CLI's summary text."""
    from ..summary import cascade_summary

    t0 = time.perf_counter()
    b = build(form)
    sc = b.scenario
    times = display_times(sc)
    observed = parse_observed(form.get("observed"))
    if observed is not None and observed["column"] == "score":
        # a rating outside the scale (99 on MADRS, 0-60) was drawn without a word
        from ..population import SCALES

        smax = SCALES[sc.population.scale][0]
        out_of = np.flatnonzero((observed["values"] < 0) | (observed["values"] > smax))
        if out_of.size:
            k = int(out_of[0])
            raise FormErrors([{"field": "observed", "message": f"observed: row {k + 2}: score {observed['values'][k]:g} "
                                                               f"is outside the {sc.population.scale} scale (0-{smax:g})"}])
    res = _simulate(sc, times, b.params)
    t1 = time.perf_counter()
    df = res.trajectories()
    df.attrs = {}   # pandas deep-copies attrs on every column access; provenance travels separately here
    sessions = res.sessions()
    sessions.attrs = {}     # as df's: the page reads the units from the model, not the table
    arms = [a.name for a in sc.arms]
    colors = {a: F.ARM_COLORS[b.slots[a]] if isinstance(b.slots.get(a), int) else F.ARM_COLORS[3] for a in arms}
    view = form.get("view", 0)
    fig = F.cascade_figure(df, None, arms=arms, arm_colors=colors, horizon_h=float(times[-1]),
                           view=view if isinstance(view, int) else 0, shared_x="time_h",
                           columns=_columns(form), compact_menu=_columns(form) == 1, scale=sc.population.scale)
    if observed is not None:
        try:
            F.add_observed(fig, observed["time_h"], observed["values"], observed["column"], observed["label"])
        except KetasimError as e:
            raise FormErrors([{"field": "observed", "message": str(e)}]) from None
    chain = {a: {c: F.compact(g[c].to_numpy(), 4) for c in _SERIES} for a, g in df.groupby("arm", sort=False)}
    key_numbers = _key_numbers(df, sessions, sc.population.scale)
    paths = res.dose_paths()                 # titrated arms: the dose the typical patient ends on, and when
    for row in key_numbers:
        p = paths[paths["arm"] == row["arm"]]
        row["final_dose"] = None if not len(p) else str(p["dose"].iloc[-1])
        row["dose_path"] = None if not len(p) else " → ".join(dict.fromkeys(p["dose"].astype(str)))
    # doses that only add up to the anesthetic range warn at the arm's dose field, as the CLI warns of them
    from ..summary import cumulative_anesthetic_arms

    with ENGINE_LOCK:                       # it runs the typical patient on its own grid around the doses
        cumulative = cumulative_anesthetic_arms(sc, res.params)
    adds_up = [{"field": f"regimen.{b.slots[a]}.dose" if isinstance(b.slots.get(a), int) else "general",
                "message": msg} for a, msg in cumulative]
    out = {
        "ok": True, "arms": [{"name": a, "slot": b.slots[a], "color": colors[a]} for a in arms],
        "time_h": F.compact(times, 9), "chain": chain, "chain_ranges": json_safe(_chain_ranges(df)),
        "figure": fig, "key_numbers": json_safe(key_numbers),
        "scale": sc.population.scale, "summary": cascade_summary(df, sessions, sc.population.scale),
        "provenance": json_safe({**res.provenance, "overrides": b.overrides}), "warnings": [*b.warnings, *adds_up],
        "observed": None if observed is None else {"column": observed["column"], "n": len(observed["time_h"])},
        "timing_ms": {"engine": round((t1 - t0) * 1000, 1)},
    }
    out["timing_ms"]["total"] = round((time.perf_counter() - t0) * 1000, 1)
    return out


def patient_contrasts(spec, params) -> list[str]:
    """The dashboard's covariate contrasts around this patient (the reference is always the patient's own value):
    the other sex, 20 years older (younger from 70 on, or when older would pass 100), a quarter lighter and heavier
    (within 20-250 kg), the other extreme BDNF
    genotype, CRP across the 3-mg/L threshold, and each known inhibitor or inducer the patient does not take."""
    from ..population import KNOWN_COMEDICATIONS, parse_comedication

    female = spec.female_fraction >= 0.5
    age, weight = spec.age_years.mean, spec.weight_kg.mean
    own_crp = spec.crp_mg_l if spec.crp_mg_l is not None else params.get("pop.crp_median", "mg/L")
    genotype = spec.genotype or "val/val"
    from ..population import AGE_MEAN_RANGE, WEIGHT_MEAN_RANGE

    older = age + 20 <= AGE_MEAN_RANGE[1] and age < 70
    out = [f"sex={'male' if female else 'female'}:{'female' if female else 'male'}",
           f"age={age + 20 if older else max(AGE_MEAN_RANGE[0], age - 20):g}:{age:g}"]
    # a quarter lighter and heavier, within the weights a patient may have (one at a limit gets the other only)
    for w in (max(WEIGHT_MEAN_RANGE[0], weight * 0.75), min(WEIGHT_MEAN_RANGE[1], weight * 1.25)):
        if f"{w:.3g}" != f"{weight:g}":
            out.append(f"weight={w:.3g}:{weight:g}")
    out += [f"genotype={'val/val' if genotype == 'met/met' else 'met/met'}:{genotype}",
            f"crp={1 if own_crp >= 3 else 10:g}:{own_crp:g}"]
    taken = {parse_comedication(c, "patient.comedications")[0] for c in spec.comedications}
    out += [f"comedication={c}" for c in KNOWN_COMEDICATIONS if c not in taken]
    return out


#: What the dashboard's covariate panel compares (PK of the first analyte, the session peaks, relief at 24 h).
DASHBOARD_COVARIATE_ENDPOINTS = ("cmax", "auc_0_inf", "cadss_peak", "sbp_change_peak", "mean_change@24h")


def covariates_form(form: dict) -> dict:
    """The /api/covariates answer: the covariate effects (``ketasim.covariates``) on the form's first regimen for
    this patient (typical random effects), each contrast against the patient's own value: rows, a forest figure and
    the provenance; ``warnings``: the page's warnings about this patient and the analysed regimen (a dose far below
    any studied one, in the anesthetic range, or doses that only add up to it), shown in the card."""
    from ..covariates import column_title, run_covariates
    from ..population import arm_spec
    from ..summary import cumulative_anesthetic_arms

    t0 = time.perf_counter()
    b = build(form)
    sc = b.scenario
    params = b.params or parameters()
    arm = sc.arms[0]
    if getattr(arm, "titration", None) is not None:
        # the library's line named --arm and 'a fixed dose line', neither of which the page has
        others = [a.name for a in sc.arms[1:] if getattr(a, "titration", None) is None]
        raise FormErrors([{"field": "covariates.run", "message": (
            f"covariate effects compare fixed doses, and the first regimen ({arm.name}) has a titration rule: turn "
            "its titration off" + (f", or disable it to compare the next regimen ({others[0]})" if others else ""))}])
    contrasts = patient_contrasts(arm_spec(sc.population, arm), params)
    check_cancelled()
    with ENGINE_LOCK:
        check_cancelled()
        # anesthetic_check=False: the page's regimen warns on the simulate card, at the arm's dose field
        try:
            res = run_covariates(sc, contrasts=contrasts, endpoints=DASHBOARD_COVARIATE_ENDPOINTS, typical=True,
                                 params=params, anesthetic_check=False)
        except (ValueError, ArithmeticError) as e:
            if not b.overrides or isinstance(e, KetasimError):
                raise
            # an edit the model cannot run with (e.g. CL above liver blood flow), as the simulate card says it
            raise FormErrors([{"field": "overrides", "message": f"overrides: the model cannot run with these "
                                                                f"values ({e})"}]) from None
        # doses that only add up to the anesthetic range, as the simulate card warns of them (its dose field)
        adds_up = [msg for a, msg in cumulative_anesthetic_arms(sc, params) if a == arm.name]
    rows = json_safe(res.table().to_dict("records"))
    analyte = res.provenance["analytes"][0] if res.provenance["analytes"] else None
    # the card showed none of the page's warnings (a 0.5 mcg/kg dose, an anesthetic dose): those of the patient, the
    # page and the analysed regimen (not the other regimens', which the card does not run), in the card's own line
    slot = b.slots.get(arm.name)
    mine = [w["message"] for w in b.warnings
            if not (w.get("field", "").startswith("regimen.") and w["field"].split(".")[1] != str(slot))]
    card_warnings = [{"field": "covariates.run", "message": m} for m in dict.fromkeys([*mine, *adds_up])]
    return {"ok": True, "arm": arm.name, "analyte": analyte, "rows": rows,
            "endpoints": res.provenance["endpoints"],
            "titles": {e: column_title(e, analyte or "") for e in res.provenance["endpoints"]},
            "figure": F.forest_figure(rows, res.provenance["endpoints"], analyte=analyte),
            # the page's parameter edits (the rows use them: b.params), named as the power card and downloads do
            "provenance": json_safe(with_parameter_edits(res.provenance, b.overrides) if b.overrides
                                    else res.provenance), "warnings": card_warnings,
            "timing_ms": {"total": round((time.perf_counter() - t0) * 1000, 1)}}


# ---- trial power (the virtual trial's scenario, replicate trials drawn from simulated pools) -----------------------
#: The power card's defaults and the dashboard's bounds on its work (``ketasim power`` has none of these caps).
DEFAULT_POWER_SIZES = "10, 20, 40, 60, 80, 120"
DEFAULT_POWER_MEASURE = "response_rate"
DEFAULT_POWER_TIME_H = 24.0
DEFAULT_POWER_REPLICATES = 500
MAX_POWER_SIZE = 1000
MAX_POWER_SIZES = 12
MIN_POWER_REPLICATES, MAX_POWER_REPLICATES = 100, 5000
#: At most this many patient draws per arm over all replicate trials (replicates x the sum of the sizes; ~5 s of
#: ANCOVA for three comparisons).
MAX_POWER_DRAWS = 10_000_000
#: At most this many seconds (ketasim.limits' estimate) simulating the pools (the request's timeout is
#: server.POWER_TIMEOUT_S).
MAX_POWER_SECONDS = 60.0
#: Seconds the power run lets other requests use the engine between its chunks of patients.
POWER_YIELD_S = 0.01
#: run_power's argument named first in its messages -> the card's field.
_POWER_FIELDS = {"sizes": "power.sizes", "pool": "power.sizes", "endpoints": "power.time", "test": "power.test",
                 "replicates": "power.replicates", "alpha": "power.alpha", "target": "power.target",
                 "dropout": "power.dropout", "margin": "power.margin", "seed": "trial.seed",
                 "overrides": "overrides"}


def _power_error(message: str) -> dict:
    """{field, message} of a message of ``run_power``: its argument ('alpha: ...') is renamed as the card's field
    ('power.alpha: ...'); anything else (the scenario's arms, design, endpoints) is shown at the card's run line."""
    head, sep, tail = message.partition(": ")
    field = _POWER_FIELDS.get(head) if sep else None
    if field is None:
        hint = (" (tick the trial's placebo arm or enable a second regimen)" if head == "arms" and "two arms" in tail
                else "")
        return {"field": "power.run", "message": message + hint}
    return {"field": field, "message": f"{field}: {tail}" if field.startswith("power.") else message}


def power_settings(form: dict) -> tuple[dict, list[dict]]:
    """The power card's settings (``form["power"]``: sizes, measure, time, test, alpha, target, dropout, margin (the
    endpoint's unit; 0: none), replicates;
    a blank box: its default) as :func:`ketasim.power.run_power`'s arguments, and the errors of every box in
    trouble ({field: 'power.<box>', message naming it}). ``time_h`` None: the default time (24 h when the trial
    reports it, else its first endpoint time), resolved with the scenario."""
    from ..limits import check_int, check_real
    from ..power import MEASURES, TESTS
    from ..units import parse_time_h

    p = form.get("power") or {}
    if not isinstance(p, dict):
        return {}, [{"field": "power.run", "message": "power: expected the power card's settings"}]
    out: dict[str, Any] = {}
    errors: list[dict] = []

    def take(key, check, box=None):
        try:
            out[key] = check()
        except KetasimError as e:
            errors.append({"field": f"power.{box or key}", "message": str(e)})

    def sizes():
        items = _items(DEFAULT_POWER_SIZES if _blank(p.get("sizes")) else p.get("sizes"))
        if not items:
            raise InputError(f"power.sizes: give patients per arm, e.g. {DEFAULT_POWER_SIZES}")
        if len(items) > MAX_POWER_SIZES:
            raise InputError(f"power.sizes: at most {MAX_POWER_SIZES} sizes in the dashboard, got {len(items)}")
        return sorted({check_int(_num(x), "power.sizes", lo=2, hi=MAX_POWER_SIZE) for x in items})

    def measure():
        m = DEFAULT_POWER_MEASURE if _blank(p.get("measure")) else _text(p["measure"])
        if m not in MEASURES:
            raise InputError(f"power.measure: use one of {', '.join(MEASURES)}, got {m[:40]!r}")
        return m

    def time_h():
        if _blank(p.get("time")):
            return None
        t = parse_time_h(_num(p["time"]) if not isinstance(p["time"], str) else _text(p["time"]), "power.time")
        if t <= 0:
            raise InputError(f"power.time: the comparison needs a time after the first dose, e.g. 24 h; got "
                             f"{_text(p['time'])[:40]!r}")
        return t

    def test():
        t = "welch" if _blank(p.get("test")) else _text(p["test"]).lower()
        if t not in TESTS:
            raise InputError(f"power.test: use one of {', '.join(TESTS)}, got {t[:40]!r}")
        return t

    def number(key, default, *, whole=False):
        def check():
            v = _num(p.get(key))
            if _blank(v):
                return default
            if whole:
                return check_int(v, f"power.{key}", lo=MIN_POWER_REPLICATES, hi=MAX_POWER_REPLICATES)
            return check_real(v, f"power.{key}")
        return check

    take("sizes", sizes)
    take("measure", measure)
    take("time_h", time_h, "time")
    take("test", test)
    take("alpha", number("alpha", 0.05))
    take("target", number("target", 0.80))
    take("dropout", number("dropout", 0.0))
    take("margin", number("margin", 0.0))
    take("replicates", number("replicates", DEFAULT_POWER_REPLICATES, whole=True))
    if out.get("measure") not in (None, "mean_change"):
        # the test box applies to the change only (the page disables it for a rate but still sends its value):
        # a rate is always the z-test, whatever the box last held (review R3-1)
        out["test"] = "welch"
    if not errors:
        draws = out["replicates"] * sum(out["sizes"])
        if draws > MAX_POWER_DRAWS:
            errors.append({"field": "power.replicates", "message": (
                f"power.replicates: {out['replicates']:,} replicate trials of {sum(out['sizes']):,} patients per arm "
                f"over the sizes draw {draws:,} patients per arm, more than the dashboard's {MAX_POWER_DRAWS:,}; "
                "use fewer replicates or smaller sizes (or `ketasim power`)")})
    return out, errors


def _power_time(scenario) -> float:
    """The card's default time: 24 h when the trial reports it, else its first endpoint time after 0 h."""
    times = [float(t) for t in scenario.endpoints.times_h if t > 0]
    if not times or any(abs(t - DEFAULT_POWER_TIME_H) < 1e-9 for t in times):
        return DEFAULT_POWER_TIME_H
    return times[0]


def power_form(form: dict) -> dict:
    """The /api/power answer: the power of the dashboard's virtual trial (the scenario the trial card runs: its
    regimens against the comparator, the trial's population and seed, the page's parameter edits) by replicate
    trials (:func:`ketasim.power.run_power`) for the card's sizes, endpoint and test: rows, the smallest sizes
    reaching the target, the power curves and the provenance."""
    from ..power import curve_label, margin_words, pool_run_estimate, run_power
    from ..units import fmt_hours

    t0 = time.perf_counter()
    check_form(form)            # the request's shape first (a power section that is no mapping: one line)
    settings, errors = power_settings(form)
    try:
        b = build(form, trial=True)
    except FormErrors as e:
        raise FormErrors(e.errors + errors, e.warnings) from None
    if errors:
        raise FormErrors(errors, b.warnings)
    sc = b.scenario
    t_h = settings["time_h"] if settings["time_h"] is not None else _power_time(sc)
    endpoint = f"{settings['measure']}@{t_h:.12g}h"
    with command_line(False):       # run_power's messages name its arguments, renamed as the card's fields
        try:
            pool, est = pool_run_estimate(sc, sizes=settings["sizes"], endpoints=[endpoint])
        except KetasimError as e:
            raise FormErrors([_power_error(str(e))], b.warnings) from None
        if est.seconds > MAX_POWER_SECONDS:
            from ..limits import fmt_seconds

            last = max(t_h, *sc.endpoints.times_h)
            field = "power.time" if t_h == last and t_h not in sc.endpoints.times_h else "power.sizes"
            fix = ("an earlier time" if field == "power.time" else
                   "smaller sizes (a pool is 10x the largest size, at least 2,000)")
            raise FormErrors([{"field": field, "message": (
                f"{field}: pools of {pool:,} virtual patients per arm ({len(sc.arms)} arms) to {fmt_hours(last)} "
                f"would compute for ~{fmt_seconds(est.seconds)}, more than the dashboard's "
                f"{fmt_seconds(MAX_POWER_SECONDS)}; use {fix}, or `ketasim power`")}], b.warnings)

        def progress(frac: float) -> None:
            check_cancelled()
            if frac < 1.0:      # between chunks: let waiting interactive requests use the engine
                ENGINE_LOCK.release()
                try:
                    time.sleep(POWER_YIELD_S)
                finally:
                    ENGINE_LOCK.acquire()
                check_cancelled()

        check_cancelled()
        with ENGINE_LOCK:
            check_cancelled()
            try:
                res = run_power(sc, sizes=settings["sizes"], endpoints=[endpoint], test=settings["test"],
                                replicates=settings["replicates"], alpha=settings["alpha"],
                                target=settings["target"], dropout=settings["dropout"],
                                margin=settings["margin"] or None, params=b.params or parameters(),
                                progress=progress, chunk=max(20, min(500, math.ceil(pool / 10))))
            except KetasimError as e:
                if isinstance(e, Cancelled):
                    raise
                raise FormErrors([_power_error(str(e))], b.warnings) from None
            except (ValueError, ArithmeticError) as e:
                if b.params is None:
                    raise
                raise FormErrors([{"field": "overrides", "message": f"overrides: the model cannot run with these "
                                                                    f"values ({e})"}], b.warnings) from None
    rows = json_safe(res.table().to_dict("records"))
    need = {(r["arm"], r["versus"]): r["smallest_n_per_arm"] for r in res.sample_sizes().to_dict("records")}
    comparisons = []
    for (arm, versus), n in need.items():
        mine = [r for r in rows if r["arm"] == arm and r["versus"] == versus]
        comparisons.append({"arm": arm, "versus": versus, "label": curve_label(mine[0]), "effect": mine[0]["effect"],
                            "unit": mine[0]["unit"], "test": mine[0]["test"],
                            "smallest_n_per_arm": None if not math.isfinite(n) else int(n),
                            "rows": mine})
    prov = res.provenance
    # the margin's null hypothesis in words with the endpoint's unit (the notice said "worse by -2 or more" for a
    # superiority margin, and no unit)
    hyp = margin_words(settings["margin"] or 0.0, rows[0]["unit"]) if rows else ""
    return {"ok": True, "endpoint": endpoint, "margin_hypothesis": hyp, "time": fmt_hours(t_h),
            "measure": settings["measure"], "rows": rows, "comparisons": json_safe(comparisons),
            "figure": F.power_figure(rows, target=prov["target_power"], design=prov.get("design", "parallel")),
            "table": res.format_table(),
            "provenance": json_safe(with_parameter_edits(prov, b.overrides) if b.overrides else prov),
            "notice": prov["notice"], "warnings": b.warnings,
            "timing_ms": {"total": round((time.perf_counter() - t0) * 1000, 1)}}


def scenario_yaml(form: dict, *, trial: bool = False) -> str:
    """The scenario file (same format as the CLI reads) for the current form."""
    from ..scenario import scenario_to_yaml

    b = build(form, trial=trial)
    text = scenario_to_yaml(b.scenario)
    if b.overrides:
        # the page's parameter edits are not part of a scenario: the file said nothing of them, and running it
        # (`ketasim simulate FILE`) silently used the installed values instead
        p = parameters()
        lines = [f"#   {k} = {v:g} {(p.free.get(k) or p.literature[k]).unit} (installed: "
                 f"{(p.free.get(k) or p.literature[k]).value:g})" for k, v in b.overrides.items()]
        text = ("# Parameter edits made on the dashboard (not part of a scenario: ketasim runs this file with the "
                "installed\n# parameter set, so its results differ from the page's unless a set with these values "
                "is given with --parameters):\n" + "\n".join(lines) + f"\n# the page's parameter set: "
                f"{b.params.version}\n" + text)
    return text


def parameter_edits(overrides: dict) -> dict:
    """The page's parameter edits (``Built.overrides``) as the dashboard's downloads record them: ``{name: {value,
    installed, unit}}`` ({}: none). The parameter set's version hash alone changes with an edit but cannot say which
    parameter was edited, to what, or from what."""
    p = parameters()
    out = {}
    for name, value in overrides.items():
        prm = p.free.get(name) or p.literature[name]
        out[name] = {"value": float(value), "installed": float(prm.value), "unit": prm.unit}
    return out


def with_parameter_edits(doc: dict, overrides: dict) -> dict:
    """``doc`` (a provenance or trial document) with ``parameter_edits`` added after its parameter set's
    ``calibration_run`` (at the end when it has none)."""
    edits = parameter_edits(overrides)
    if "calibration_run" not in doc:
        return {**doc, "parameter_edits": edits}
    out = {}
    for k, v in doc.items():
        out[k] = v
        if k == "calibration_run":
            out["parameter_edits"] = edits
    return out


def results_csv(form: dict) -> str:
    """Trajectories of the typical patient per arm at the scenario's output times (every 5 min) — the file
    ``ketasim simulate SCENARIO.yaml --typical --csv OUT.csv`` writes for the downloaded scenario. Its provenance
    is beside it, as the CLI's is (:func:`results_provenance`), not inside it."""
    b = build(form)
    res = _simulate(b.scenario, None, b.params)
    with tempfile.TemporaryDirectory() as d:
        return res.to_csv(Path(d) / "results.csv").read_text(encoding="utf-8")


def results_provenance(form: dict) -> str:
    """The provenance of :func:`results_csv`: the JSON the CLI writes beside the CSV (``OUT.csv.provenance.json``,
    :meth:`ketasim.result.SimulationResult.file_metadata`: scenario, versions, parameter-set hash, seed, units, ...)
    plus ``parameter_edits`` (:func:`parameter_edits`), the page's edits, which a scenario file cannot carry."""
    import json

    b = build(form)
    meta = json.loads(json.dumps(_simulate(b.scenario, None, b.params).file_metadata()))    # as the file reads back
    return json.dumps(with_parameter_edits(meta, b.overrides), indent=2)


def simulation_report_html(form: dict) -> str:
    """A self-contained HTML report of the single-patient simulation of the form; its provenance names the page's
    parameter edits."""
    from ..report import simulation_report

    b = build(form)
    res = _simulate(b.scenario, display_times(b.scenario), b.params)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "report.html"
        simulation_report(res, res, p, parameter_edits=parameter_edits(b.overrides))
        return p.read_text(encoding="utf-8")


def trial_document(b: Built, tr) -> dict:
    """The trial results JSON the page downloads: the CLI's (``TrialResult.to_dict``) plus ``parameter_edits``."""
    return json_safe(with_parameter_edits(tr.to_dict(), b.overrides))


# ---- virtual trials ---------------------------------------------------------------------------------------------------
def build_trial(form: dict):
    """Validate a trial request: the scenario and the dashboard's size limit."""
    b = dataclasses.replace(build(form, trial=True), columns=_columns(form))
    size = b.scenario.population.size
    if size > MAX_TRIAL_SIZE:
        raise FormErrors([{"field": "trial.size", "message": f"population.size: the dashboard runs at most "
                                                              f"{MAX_TRIAL_SIZE} patients per arm; use `ketasim trial` for more"}])
    from ..trial import check_trial_size

    try:
        check_trial_size(b.scenario, None)      # at least 2 per arm: found here, not in the running job
    except InputError as e:
        raise FormErrors([{"field": "trial.size", "message": str(e)}]) from None
    return b


def run_trial_job(b: Built, progress) -> dict:
    """Run the trial of a validated request; returns everything the page and the report need."""
    from ..trial import run_trial

    size = b.scenario.population.size
    # chunks of at most 500 patients: the trial yields the engine between chunks (server.py), so interactive
    # requests wait at most one chunk (~0.2 s)
    chunk = max(20, min(500, math.ceil(size / 10)))
    from ..errors import InputError

    with ENGINE_LOCK:
        try:
            # anesthetic_check=False: the page's regimen warns on the simulate page, at the dose field (a warning
            # here would go to the server's log)
            tr = run_trial(b.scenario, b.params or parameters(), progress=progress, chunk=chunk,
                           anesthetic_check=False)
        except (ValueError, ArithmeticError) as e:
            if b.params is None or isinstance(e, KetasimError):
                raise
            raise InputError(f"overrides: the model cannot run with these values ({e})") from None
    return {"trial": tr}


def trial_view(b: Built, tr) -> dict:
    """The page's view of a finished trial: the JSON contract, the endpoint table, figures."""
    table = tr.table()
    arms = [a.name for a in b.scenario.arms]
    colors = {a: F.ARM_COLORS[b.slots[a]] if isinstance(b.slots.get(a), int) else F.ARM_COLORS[3] for a in arms}
    bands = tr.trajectory_summary()
    cols = b.columns
    fig = F.cascade_figure(None, bands, arms=arms, arm_colors=colors, panels=trial_panels(), view=0,
                           columns=cols, compact_menu=cols == 1, scale=b.scenario.population.scale)
    ep_fig = F.endpoint_figure(table, arms=arms, arm_colors=colors, columns=cols)
    rows = []
    for r in table.to_dict("records"):
        rows.append({**r, "time": "all sessions" if r["time_h"] is None or (isinstance(r["time_h"], float) and math.isnan(r["time_h"]))
                     else F.fmt_time_h(float(r["time_h"]))})
    return json_safe({"result": tr.to_dict(), "table": rows, "figure": fig, "endpoint_figure": ep_fig,
                      "arms": [{"name": a, "color": colors[a]} for a in arms],
                      # what a response and a remission are (the CLI's and the report's line)
                      "definitions": tr.definitions()})


def warm_up() -> float:
    """Compile (or load from numba's disk cache) the engine and run one typical patient and one tiny trial;
    returns the seconds it took."""
    t0 = time.perf_counter()
    form = default_form()
    simulate_form(form)
    try:
        import importlib

        importlib.import_module("ketasim.trial")
    except ImportError:  # pragma: no cover - trial module missing in this version
        pass
    return time.perf_counter() - t0


def default_form() -> dict:
    """The form the page starts with (also used to warm up the engine): the CLI's typical patient (the
    typical patient of the default population: 80 kg, 45 y, female as the majority sex, Val/Val, median CRP,
    MADRS baseline 33)."""
    from ..population import DEFAULT_RECURRENCE_CLOCK, PopulationSpec, default_treatment_resistant, typical_patient

    typ = typical_patient(PopulationSpec(), parameters())
    return {
        "patient": {"weight_kg": _num(float(typ.weight_kg[0])), "age_years": _num(float(typ.age_years[0])),
                    "sex": "female" if typ.female[0] else "male", "genotype": "val/val",
                    "crp_mg_l": _num(round(float(typ.crp_mg_l[0]), 6)), "condition": "depression", "scale": "madrs",
                    "baseline": _num(float(typ.baseline[0])),
                    "treatment_resistant": default_treatment_resistant("depression"), "recurrence": True,
                    "re_response": False, "recurrence_clock": DEFAULT_RECURRENCE_CLOCK,
                    "comedications": []},
        "regimens": [
            {"name": "ketamine 0.5 mg/kg IV", "enabled": True, "drug": "racemic-ketamine", "route": "iv-infusion",
             "dose": 0.5, "dose_unit": "mg/kg", "duration_min": 40, "every": "", "every_unit": "d", "count": 1},
        ],
    }


# ---- personal plans (issue 9): a record in, fit + forecast + ranked plans out ------------------------------------
def plan_example() -> dict:
    """The example record (CSV text) the plan page starts with."""
    from importlib.resources import files

    return {"csv": files("ketasim").joinpath("data/patient_example.csv").read_text(encoding="utf-8")}


def _plan_result(form: dict) -> dict:
    from ..personal import personal_plan
    from ..record import record_from_csv_text, record_from_yaml

    from ..errors import InputError

    text = form.get("record")
    if not isinstance(text, str) or not text.strip():
        raise InputError("record: paste or upload a patient record (CSV or YAML)")
    fmt = str(form.get("format") or "csv").lower()
    if fmt not in ("csv", "yaml", "yml"):       # 'json' or 'xlsx' was read as CSV
        raise InputError(f"format: use csv or yaml, got {fmt[:20]!r}")
    if fmt == "csv" and re.match(r"\s*(-\s*\{|-\s*[A-Za-z_]+\s*:|events\s*:)", text):
        # YAML rows ('- ID: 5' on its own line, which the page's own check misses) were read as CSV and told 'the
        # first line is not a header': the page has no format menu, so they are read as the YAML they are
        fmt = "yaml"
    alt = form.get("alternative") or None
    if alt is not None and not isinstance(alt, list):
        raise InputError("alternative: expected a list of dose lines")
    # a record of several patients: the page's patient_id field chooses one, as `ketasim plan --id` and
    # personal_plan(patient_id=) do (a second ID said "choose one with patient_id", a field the page did not have)
    pid = form.get("patient_id")
    pid = None if _blank(pid) else _text(pid).strip()
    with _WARN_LOCK, warnings.catch_warnings(record=True) as caught:     # a dose in the anesthetic range warns
        warnings.simplefilter("always")
        rec = (record_from_yaml if fmt in ("yaml", "yml") else record_from_csv_text)(text, source="record",
                                                                                     patient_id=pid)
        if alt is not None:
            # read here, its warnings with the record's (the plan's own reading warned in the server's log, not on
            # the page; `ketasim plan --alternative` shows them): the plan gets the doses
            from ..personal import _future_doses

            alt = list(_future_doses(rec, alt, "alternative"))
    record_warnings = [str(w.message) for w in caught]
    from ..summary import record_anesthetic_warnings

    with ENGINE_LOCK:       # doses that add up to the anesthetic range (the CLI's plan warns of them too)
        record_warnings += record_anesthetic_warnings(rec)
        if alt is not None:     # the alternative with the record's past doses, as `plan --alternative`
            from ..summary import alternative_anesthetic_warnings

            record_warnings += alternative_anesthetic_warnings(rec, alt)

    def opt(key):
        v = form.get(key)
        return None if _blank(v) else _text(v)

    prob = _num(form.get("probability"))
    if not _blank(prob) and not isinstance(prob, (int, float)):
        raise InputError(f"probability: {prob!r} is not a number")
    # the page's fields are 'target', 'window', ..., as personal_plan's arguments: its messages name them ('target:
    # ...'), not the command line's '--target' (errors.argument)
    with ENGINE_LOCK, command_line(False):
        # anesthetic_check=False: the alternative was checked above, its warning among the record's (not twice, and
        # not in the server's log)
        res = personal_plan(rec, target=opt("target"), limits=opt("limits"), window=opt("window"),
                            probability=0.8 if _blank(prob) else float(prob), alternative=alt,
                            anesthetic_check=False)
    if record_warnings:                 # shown on the page and in the report with the fit's own warnings
        res["fit"]["warnings"] = [*record_warnings, *res["fit"].get("warnings", [])]
    return json_safe(res)


def plan_form(form: dict) -> dict:
    """``/api/plan``: the plan JSON contract plus the figures the page draws."""
    from ..plan_report import plan_table, plans_figure, score_figure

    res = _plan_result(form)
    table = plan_table(res)
    return {"ok": True, "result": res, "figures": {"forecast": score_figure(res), "plans": plans_figure(res)},
            "plan_table": json_safe(table.to_dict(orient="records"))}


def plan_report_html(form: dict) -> str:
    from ..plan_report import plan_report

    res = _plan_result(form)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "plan.html"
        plan_report(res, p)
        return p.read_text(encoding="utf-8")
