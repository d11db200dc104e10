"""Link 1 — the regimen: drugs, routes, doses (with explicit units) and schedules.

A :class:`Dose` is one line of a scenario arm (``{drug, route, dose, duration, at, every, count}``);
it is validated when built and expands into :class:`Administration` records (one per given dose).
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from enum import Enum

import numpy as np

from .errors import YAML_BOOLEANS, InvalidRegimenError
from .units import fmt_hours, parse_dose, parse_time_h, refuse_per_area_dose


class Drug(str, Enum):
    RACEMIC_KETAMINE = "racemic-ketamine"
    ESKETAMINE = "esketamine"
    ARKETAMINE = "arketamine"
    PLACEBO = "placebo"
    MIDAZOLAM = "midazolam"
    ORAL_ANTIDEPRESSANT = "oral-antidepressant"

    @property
    def s_fraction(self) -> float:
        """Fraction of the dose that is S-ketamine (0 for non-ketamine drugs)."""
        return {"racemic-ketamine": 0.5, "esketamine": 1.0}.get(self.value, 0.0)

    @property
    def is_ketamine(self) -> bool:
        return self in (Drug.RACEMIC_KETAMINE, Drug.ESKETAMINE, Drug.ARKETAMINE)


class Route(str, Enum):
    IV_INFUSION = "iv-infusion"
    IV_BOLUS = "iv-bolus"
    IM = "im"
    SC = "sc"
    INTRANASAL = "intranasal"
    ORAL = "oral"
    SUBLINGUAL = "sublingual"


DRUG_ALIASES = {"ketamine": "racemic-ketamine", "racemic": "racemic-ketamine", "s-ketamine": "esketamine",
                "r-ketamine": "arketamine", "saline": "placebo", "antidepressant": "oral-antidepressant",
                # brand names as clinicians write them (Spravato: the esketamine nasal spray; Ketalar: the racemate)
                "spravato": "esketamine", "ketalar": "racemic-ketamine"}
ROUTE_ALIASES = {"iv": "iv-infusion", "infusion": "iv-infusion", "bolus": "iv-bolus", "in": "intranasal",
                 "nasal": "intranasal", "po": "oral", "sl": "sublingual", "subcutaneous": "sc",
                 "intramuscular": "im", "intravenous": "iv-infusion"}


def _did_you_mean(key: str, choices) -> str:
    """' (did you mean esketamine?)' for a near miss ('esketamin'), else ''."""
    import difflib

    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.8)
    return f" (did you mean {close[0]}?)" if close else ""

ALLOWED_ROUTES = {
    Drug.MIDAZOLAM: {Route.IV_INFUSION, Route.IV_BOLUS},
    Drug.ORAL_ANTIDEPRESSANT: {Route.ORAL},
}

#: Doses above these are refused outright (per body weight, and absolute).
ABSURD_MG_PER_KG = {"ketamine": 10.0, "midazolam": 1.0}
ABSURD_MG = {"ketamine": 1000.0, "midazolam": 50.0}
#: Systemically available ketamine dose at which anesthesia becomes likely (IV induction 1-2 mg/kg;
#: pk_parameters.csv 'General anaesthesia plasma level'): warn from here.
ANESTHETIC_MG_PER_KG = 1.0
MIDAZOLAM_SEDATIVE_MG_PER_KG = 0.1
#: Doses below these (mg/kg; a dose in mg at the reference weight) warn as far below any studied dose: the lowest
#: ketamine doses in depression trials are about 0.1 mg/kg (Fava 2018, Lai 2014: 0.1 mg/kg IV), midazolam
#: control doses 0.02-0.045 mg/kg; a tenth of those is most likely a unit slip ('0.5 mcg/kg' for '0.5 mg/kg')
NEGLIGIBLE_MG_PER_KG = {"ketamine": 0.01, "midazolam": 0.002}
#: Nominal systemic fraction used only for the anesthetic-range warning of oral, nasal and sublingual doses.
_NOMINAL_F = {Route.INTRANASAL: 0.5, Route.ORAL: 0.2, Route.SUBLINGUAL: 0.3}
#: The typical 70-kg patient's effect-site ketamine peak after an IM or SC dose, relative to the same dose as an IV
#: bolus (dimensionless; the quick form's patient, a woman: a man's ratios differ by < 2 %;
#: benchmarks/anesthetic_peak_table.py; re-checked against the model by tests/test_infusion_anesthetic_warning.py):
#: the anesthetic-range warning judges these doses by the level they reach, as it judges IV doses (IM 1 mg/kg: effect
#: site ~610 ng/mL at ~12 min, venous ~480, as Hirlinger & Dick 1984 Anaesthesist 33:272 PMID 6476334 report,
#: median 474 ng/mL at 15 min (abstract); a 1 mg/kg bolus ~940).
_ABSORBED_PARENTERAL_PEAK_RATIO = {Route.IM: 0.6442, Route.SC: 0.2777}
def anesthetic_potency(drug: Drug) -> float:
    """Anesthetic potency per mg relative to the racemate, for the anesthetic-range warning of parenteral doses (IV,
    IM, SC). One rule with the model's anesthesia flag (trajectory column ``anesthesia``), NMDA block and glutamate
    fall: each enantiomer counts by its NMDA affinity, R at w = Ki_S / Ki_R of S (pd.ki.*, Ebert 1997: 0.214), so
    esketamine is 2 / (1 + w) = 1.65 x and arketamine 2 w / (1 + w) = 0.35 x the racemate. w is read from the
    installed parameter set (:func:`ketasim.load_parameters`): this is a read-time check, before any run's set is
    known; the flag uses the run's own Ki, so a set with other pd.ki.* values (a sensitivity sweep, an edited set)
    flags by its Ki while this warning keeps the installed one. The concentration data at equal anesthetic effect
    bracket w: White PF, Ham J, Way WL, Trevor AJ, 'Pharmacology of ketamine isomers in surgical patients',
    Anesthesiology 1980;52:231-239 (year, volume and pages not confirmed against PubMed: the abstract read,
    https://scilit.com/publications/bb14927006e38ef6ebecc8f9fd70435c, shows none; 60 surgical patients, GC assay):
    plasma S 0.5, R 1.7 ug/mL at the end of equal anesthesia, S:R 3.4:1, w 0.29; Schuttler 1987 J Pharmacokinet
    Biopharm 15:241 doi:10.1007/BF01066320, EEG IC50 S 0.8, R 1.8 ug/mL with R's smaller Emax: w 0.23-0.44. Dose
    statements disagree under additivity (S twice the racemate, Himmelseher S, Pfenninger E, 'The clinical use of
    S-(+)-ketamine - a determination of its place' (review, German), Anasthesiol Intensivmed Notfallmed Schmerzther
    1998;33:764-770, doi:10.1055/s-2007-994851, PMID 9893910, and the esketamine label's IV induction 0.5-1 mg/kg vs
    1-2, implies w ~ 0; S three times R, Doenicke 1992 PMID 1332529, implies 1.5 x). Absorption
    routes keep the racemate's threshold: there the threshold on the systemic dose already stands far from a bolus's
    peak (labelled esketamine 84 mg intranasal peaks near 100 ng/mL)."""
    if drug not in (Drug.ESKETAMINE, Drug.ARKETAMINE):
        return 1.0
    from .parameters import load_parameters

    p = load_parameters()
    w = p.get("pd.ki.s_ketamine", "uM") / p.get("pd.ki.r_ketamine", "uM")
    return (2.0 if drug is Drug.ESKETAMINE else 2.0 * w) / (1.0 + w)


#: The anesthetic range starts at the typical effect-site peak of 1 mg/kg (the Ketalar label's lowest IV induction
#: dose, ANESTHETIC_MG_PER_KG) given as the label says, "slowly, over 60 seconds" (h).
ANESTHETIC_PUSH_H = 1.0 / 60.0
#: IV ketamine doses of one arm that start at most this long (h) after the previous one's end count together as one
#: infusion for the anesthetic-range warning (an infusion split into lines, boluses minutes apart): 5 min
BACK_TO_BACK_H = 5.0 / 60.0

#: The typical 70-kg patient's effect-site ketamine peak after an IV dose infused over T minutes, relative to the
#: same dose given as a bolus (dimensionless; the quick form's patient, a woman: a man's ratios differ by < 2 %):
#: (T in min, ratio) pairs tabulated from the model by benchmarks/anesthetic_peak_table.py
#: (tests/test_infusion_anesthetic_warning.py re-checks them, and the values in between, against the model). The
#: effect site, not venous plasma: it is what sedation and the anesthesia itself follow (its ke0 comes from arterial
#: data), and it lags a bolus's brief venous peak, so one level judges a bolus and an infusion alike. Only ratios
#: enter the warning.
_EFFECT_SITE_PEAK_RATIO = ((0.0, 1.0), (0.5, 0.9996), (1.0, 0.9986), (2.0, 0.9942), (3.0, 0.9866), (5.0, 0.9649),
                           (7.5, 0.9277), (10.0, 0.8853), (15.0, 0.7981), (20.0, 0.719), (30.0, 0.5942),
                           (40.0, 0.5052), (45.0, 0.4701), (60.0, 0.3897), (90.0, 0.2922), (120.0, 0.2355),
                           (180.0, 0.1725), (240.0, 0.1381), (360.0, 0.1002), (480.0, 0.0791), (720.0, 0.0555),
                           (1440.0, 0.0288))


def infusion_peak_factor(duration_h: float) -> float:
    """The typical effect-site ketamine peak of a constant-rate IV infusion over ``duration_h`` (hours), per unit
    dose, relative to the same dose given as a bolus (dimensionless; 1 at 0 h, falling with the duration):
    interpolated in log-log between the model's tabulated ratios (``_EFFECT_SITE_PEAK_RATIO``), linear below 1 min,
    and beyond 24 h as a level proportional to the rate (ratio x 24 h / T)."""
    t = max(float(duration_h), 0.0) * 60.0
    ts, rs = zip(*_EFFECT_SITE_PEAK_RATIO)
    if t <= ts[2]:                                     # up to 1 min: linear from the bolus
        return float(np.interp(t, ts[:3], rs[:3]))
    if t >= ts[-1]:
        return rs[-1] * ts[-1] / t
    return float(np.exp(np.interp(np.log(t), np.log(ts[2:]), np.log(rs[2:]))))


def push_equivalent(per_kg: float, duration_h: float) -> float:
    """The dose (mg/kg, as ``per_kg``) that, given as a push over 60 s (``ANESTHETIC_PUSH_H``), reaches the same
    typical effect-site peak as ``per_kg`` mg/kg infused over ``duration_h`` hours (0: a bolus): per_kg x
    :func:`infusion_peak_factor` (T) / :func:`infusion_peak_factor` (60 s). It grows with the dose and, at a given
    peak, does not depend on the duration."""
    return per_kg * infusion_peak_factor(duration_h) / infusion_peak_factor(ANESTHETIC_PUSH_H)


def infusion_in_anesthetic_range(per_kg: float, duration_h: float) -> bool:
    """The anesthetic-range rule of an IV dose of ``per_kg`` mg/kg (racemate-equivalent: parenteral esketamine and
    arketamine scaled by :func:`anesthetic_potency`) infused over ``duration_h`` hours (0: a bolus): its typical
    effect-site peak reaches that of 1 mg/kg pushed over 60 s (:func:`push_equivalent` >= 1 mg/kg; the Ketalar
    label's lowest IV induction dose, given as it says). In mg/kg: 1.00 as a bolus or over 1 min, 1.02 over 3 min,
    1.98 over 40 min, 2.12 over 45 min, 3.7 over 100 min, 7.2 over 4 h."""
    # 1e-9: the reference push itself (1 mg/kg over 60 s) is on the threshold, not below by rounding
    return push_equivalent(per_kg, duration_h) >= ANESTHETIC_MG_PER_KG * (1 - 1e-9)


def back_to_back_iv_runs(administrations,
                         weight_kg: float | None = None) -> list[tuple[float, float, float, int, bool]]:
    """Runs of two or more IV ketamine doses (bolus or infusion) given back to back, each starting at most
    :data:`BACK_TO_BACK_H` after the previous one's end: (start h, duration h from the first start to the last end,
    total mg/kg racemate-equivalent (a dose in mg at ``weight_kg``, kg: a record's WT; None: the 70-kg reference
    weight), number of doses, whether a dose in mg is among them) per run. Judged as one infusion by
    :func:`infusion_in_anesthetic_range`: 3 mg/kg over 60 min warns, so two back-to-back lines of 1.5 mg/kg over
    30 min warn too."""
    weight = REFERENCE_WEIGHT_KG if weight_kg is None else float(weight_kg)
    potency: dict = {}
    iv = sorted((a for a in administrations if a.drug.is_ketamine and a.amount > 0
                 and a.route in (Route.IV_BOLUS, Route.IV_INFUSION)), key=lambda a: a.start_h)
    runs: list[list] = []
    for a in iv:
        if a.drug not in potency:
            potency[a.drug] = anesthetic_potency(a.drug)
        per_kg = (a.amount if a.per_kg else a.amount / weight) * potency[a.drug]
        end = a.start_h + a.duration_h
        if runs and a.start_h <= runs[-1][1] + BACK_TO_BACK_H + 1e-9:
            r = runs[-1]
            r[1], r[2], r[3], r[4] = max(r[1], end), r[2] + per_kg, r[3] + 1, r[4] or not a.per_kg
        else:
            runs.append([a.start_h, end, per_kg, 1, not a.per_kg])
    return [(s0, e - s0, d, n, mg) for s0, e, d, n, mg in runs if n >= 2]


REFERENCE_WEIGHT_KG = 70.0
#: Parenteral routes (IV, IM, SC): dosed per body weight in practice, and where anesthetic_potency applies
PARENTERAL_ROUTES = frozenset({Route.IV_INFUSION, Route.IV_BOLUS, Route.IM, Route.SC})
MAX_ADMINISTRATIONS = 2000
#: Intranasal esketamine comes in devices of this many mg (route.intranasal.device_mg; SPRAVATO label: one device
#: 28 mg, a session 28, 56 or 84 mg): such a dose is given in mg. The model splits a nasal esketamine dose into devices
#: by its mg (engine._route_inputs), and a dose in mg/kg there at the 70-kg reference weight, not the patient's (NOTES
#: Known limits 27b), so a dose in mg/kg is refused when read (Dose)
INTRANASAL_ESKETAMINE_DEVICE_MG = 28.0
#: A session of intranasal esketamine is 1 to this many devices (SPRAVATO label: 28, 56 or 84 mg)
INTRANASAL_ESKETAMINE_MAX_DEVICES = 3


def dose_units(drug, route) -> tuple[str, ...]:
    """The dose units a dose of ``drug`` by ``route`` may be given in, in the order a missing-unit hint suggests
    them: mg only for intranasal esketamine (28-mg devices; mg/kg is refused), mg/kg or mg otherwise."""
    return ("mg",) if drug is Drug.ESKETAMINE and route is Route.INTRANASAL else ("mg/kg", "mg")


def takes_rate(route) -> bool:
    """Whether a dose by ``route`` may be written as an infusion rate (mg/kg/h, mg/h): only by iv-infusion (a rate
    elsewhere is refused when read, :meth:`Dose.from_mapping`; the dashboard's unit menu offers rates only there)."""
    return route is Route.IV_INFUSION


def intranasal_esketamine_session_doses() -> tuple[float, ...]:
    """The labelled session doses of intranasal esketamine in mg, whole devices: (28, 56, 84)."""
    dev = INTRANASAL_ESKETAMINE_DEVICE_MG
    return tuple(n * dev for n in range(1, INTRANASAL_ESKETAMINE_MAX_DEVICES + 1))


def intranasal_esketamine_session_mg(amount_mg: float) -> float:
    """The labelled session dose (:func:`intranasal_esketamine_session_doses`) nearest ``amount_mg``, halves up: a
    dose worked out in mg (e.g. from mg/kg at the patient's weight, as the dashboard converts one) in whole devices."""
    return min(intranasal_esketamine_session_doses(), key=lambda mg: (abs(mg - amount_mg), -mg))


def intranasal_esketamine_per_kg_refusal() -> str:
    """Why a dose of intranasal esketamine in mg/kg is refused (the message after its field's name)."""
    dev = INTRANASAL_ESKETAMINE_DEVICE_MG
    doses = [f"{mg:g}" for mg in intranasal_esketamine_session_doses()]
    return (f"intranasal esketamine is given in {dev:g}-mg devices; give the dose in mg ({', '.join(doses[:-1])} or "
            f"{doses[-1]}), not mg/kg")


#: a time (h) as a message writes it ('1 min', '40 min', '3.5 h'; was '0.0166667 h'): the outputs' rule
_fmt_h = fmt_hours


def parse_drug(text, field: str = "drug") -> Drug:
    key = str(text).strip().lower()
    key = DRUG_ALIASES.get(key, key)
    try:
        return Drug(key)
    except ValueError:
        known = ", ".join(d.value for d in Drug)
        hint = _did_you_mean(key, [*(d.value for d in Drug), *DRUG_ALIASES])
        raise InvalidRegimenError(f"{field}: unknown drug {text!r}{hint}; known drugs: {known}") from None


def parse_route(text, field: str = "route") -> Route:
    key = str(text).strip().lower()
    key = ROUTE_ALIASES.get(key, key)
    try:
        return Route(key)
    except ValueError:
        known = ", ".join(r.value for r in Route)
        hint = _did_you_mean(key, [*(r.value for r in Route), *ROUTE_ALIASES])
        raise InvalidRegimenError(f"{field}: unknown route {text!r}{hint}; known routes: {known}") from None


_RATE_SUFFIX = ("/h", "/hr", "/hour", "/min", "/minute", "/s", "/d", "/day")


def is_rate_text(text) -> bool:
    """Does ``text`` look like an infusion rate (``'0.5 mg/kg/h'``, ``'30 mg/h'``)?"""
    if not isinstance(text, str):
        return False
    from .units import slash_units

    compact = slash_units(text).replace(" ", "").lower()      # also 'mg kg-1 h-1', as journals write it
    return any(compact.endswith(s) for s in _RATE_SUFFIX)


def parse_rate(text, field: str) -> tuple[float, bool]:
    """An infusion rate as TCI pumps state it: returns (value in mg/kg/h or mg/h, per_kg)."""
    from .units import _split, convert, per_kg_numerator, refuse_per_area_dose

    refuse_per_area_dose(text, field)
    value, unit = _split(text, field)
    per_kg = "/kg" in unit.replace(" ", "").lower()
    # the per-kg rate converted as mg/h of its numerator: pint reads mg/kg as a pure number ('mg/kg mg/kg/h' gave
    # 5e-07 mg/kg/h)
    rest = per_kg_numerator(unit, field, text, "'0.75 mg/kg/h'") if per_kg else None
    try:
        return convert(value, rest if rest is not None else unit, "mg/h", field), per_kg
    except InvalidRegimenError:
        raise
    except Exception:
        raise InvalidRegimenError(f"{field}: {text!r} is not an infusion rate; write e.g. '0.5 mg/kg/h' or '30 mg/h'") from None


@dataclasses.dataclass(frozen=True)
class Administration:
    """One given dose: what enters the body, when and how."""

    drug: Drug
    route: Route
    amount: float          # mg, or mg/kg if per_kg
    per_kg: bool
    start_h: float
    duration_h: float      # 0 for non-infusions

    def amount_mg(self, weight_kg: float) -> float:
        return self.amount * weight_kg if self.per_kg else self.amount


@dataclasses.dataclass(frozen=True)
class Dose:
    """One regimen line, validated on construction. Use :meth:`from_mapping` for user input."""

    drug: Drug
    route: Route
    amount: float = 0.0            # mg or mg/kg
    per_kg: bool = False
    duration_h: float = 0.0
    at_h: float = 0.0
    every_h: float = 0.0
    count: int = 1
    field: str = "dose"            # where it came from, for messages
    #: the patient's body weight (kg) at which the dose checks (negligible, anesthetic, deep-sedation, refusal) judge
    #: a dose in mg: a record's WT (record.py); None: the 70-kg reference weight (a scenario's dose line does not know
    #: its patients). Not part of the dose's identity (equality, hash, repr).
    weight_kg: float | None = dataclasses.field(default=None, compare=False, repr=False)
    #: whose weight ``weight_kg`` is, as the checks' messages name it: "the record's WT" (a record's row or a plan's
    #: alternative), "the patient's weight" (a scenario's stated patient, the quick form's --weight at one patient)
    weight_of: str = dataclasses.field(default="the record's WT", compare=False, repr=False)

    def __post_init__(self):
        f = self.field
        if self.weight_kg is not None and not (isinstance(self.weight_kg, (int, float))
                                               and math.isfinite(self.weight_kg) and self.weight_kg > 0):
            raise InvalidRegimenError(f"{f}: weight_kg must be a body weight > 0 kg, got {self.weight_kg!r}")
        if not isinstance(self.drug, Drug) or not isinstance(self.route, Route):
            raise InvalidRegimenError(f"{f}: drug and route must be Drug and Route values")
        allowed = ALLOWED_ROUTES.get(self.drug)
        if allowed is not None and self.route not in allowed:
            ok = ", ".join(sorted(r.value for r in allowed))
            raise InvalidRegimenError(f"{f}.route: {self.drug.value} cannot be given by {self.route.value}; use {ok}")
        for name in ("amount", "duration_h", "at_h", "every_h"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise InvalidRegimenError(f"{f}.{name.removesuffix('_h')}: must be a finite number, got {v}")
        if self.at_h < 0:
            raise InvalidRegimenError(f"{f}.at: must be >= 0 h (time after the start of the study), got {self.at_h} h")
        needs_dose = self.drug.is_ketamine or self.drug is Drug.MIDAZOLAM
        if self.amount < 0:
            raise InvalidRegimenError(f"{f}.dose: must be positive, got {self.amount:g} {'mg/kg' if self.per_kg else 'mg'}")
        if needs_dose and self.amount == 0:
            example = ("56 mg" if self.route is Route.INTRANASAL else "0.045 mg/kg" if self.drug is Drug.MIDAZOLAM
                       else "0.5 mg/kg")
            article = "an" if self.drug.value[0] in "aeiou" else "a"
            raise InvalidRegimenError(f"{f}.dose: {article} {self.drug.value} dose is required and must be > 0 "
                                      f"(e.g. '{example}')")
        if self.per_kg and "mg/kg" not in dose_units(self.drug, self.route):
            # split into devices at 70 kg whatever the patient's weight (Known limits 27b): refused, not mis-dosed
            raise InvalidRegimenError(f"{f}.dose: {intranasal_esketamine_per_kg_refusal()}")
        if self.route is Route.IV_INFUSION:
            if self.duration_h <= 0 and self.drug is not Drug.PLACEBO:
                raise InvalidRegimenError(f"{f}.duration: an iv-infusion needs a duration > 0 (e.g. '40 min')")
            if self.duration_h > 24:
                raise InvalidRegimenError(f"{f}.duration: {self.duration_h:g} h is longer than 24 h; split it into several infusions")
        elif self.duration_h != 0:
            raise InvalidRegimenError(f"{f}.duration: only an iv-infusion has a duration (route is {self.route.value})")
        if isinstance(self.count, bool):    # count: yes (YAML) is not 1 dose
            raise InvalidRegimenError(f"{f}.count: must be a whole number, not true/false{YAML_BOOLEANS}")
        if not isinstance(self.count, int) or self.count < 1:
            raise InvalidRegimenError(f"{f}.count: must be a whole number >= 1, got {self.count!r}")
        if self.count > 1:
            if self.every_h <= 0:
                raise InvalidRegimenError(f"{f}.every: repeated doses (count {self.count}) need an interval > 0, e.g. '3.5 d'")
            if self.every_h < self.duration_h:
                raise InvalidRegimenError(
                    f"{f}.every: the schedule overlaps itself (every {_fmt_h(self.every_h)} is shorter than the "
                    f"{_fmt_h(self.duration_h)} infusion)")
        if self.count > MAX_ADMINISTRATIONS:
            raise InvalidRegimenError(f"{f}.count: {self.count} doses is more than the {MAX_ADMINISTRATIONS} supported")
        self._check_size()

    def _check_size(self, skip=frozenset(), stacklevel: int = 3) -> None:
        """Refuse a dose too large to be meant (a unit slip); warn (``DoseWarning``) of one far below any studied dose,
        in the anesthetic range, or (midazolam) a deep-sedation dose -- less the warnings named in ``skip`` (see
        :meth:`size_warning_kinds`; :meth:`at_weight`: those already given at the dose's earlier weight)."""
        if not (self.drug.is_ketamine or self.drug is Drug.MIDAZOLAM) or self.amount == 0:
            return
        f = self.field
        kind = "ketamine" if self.drug.is_ketamine else "midazolam"
        weight = self._check_weight()
        per_kg = self.amount if self.per_kg else self.amount / weight
        # the refusal is for unit slips: a dose written in mg/kg is judged by its per-kg value, and by the mg cap at
        # most at the 70-kg reference weight (at a lighter patient's own) -- at a heavy patient's weight a label dose
        # (IM 6.5 mg/kg at 160 kg: 1040 mg) is anesthetic (it warns), not a slip, and was refused as one (review s45
        # S7); a dose in mg by its mg and its per-kg value at the weight
        capped = self.per_kg and weight > REFERENCE_WEIGHT_KG
        absolute = self.amount * min(weight, REFERENCE_WEIGHT_KG) if self.per_kg else self.amount
        # a dose in mg at a heavy patient's stated weight: the mg cap grows with it, so the same dose is judged alike
        # in mg and in mg/kg (1040 mg IM at WT 160 was refused while 6.5 mg/kg was accepted; review s45 T1)
        mg_cap = ABSURD_MG[kind] * (1.0 if self.per_kg else max(weight, REFERENCE_WEIGHT_KG) / REFERENCE_WEIGHT_KG)
        unit = "mg/kg" if self.per_kg else "mg"
        # a dose in mg counts per kg at the reference weight (a dose line does not know the patient), or at a
        # record's WT (it does: '0.5 mg ... at the 70 kg reference weight' stood beside a record's WT 50)
        at = self.weight_phrase()
        if per_kg > ABSURD_MG_PER_KG[kind] or absolute > mg_cap:
            # say which limit it broke: '900 mg ... (limit 10 mg/kg or 1000 mg)' read as a refusal below both limits
            if self.per_kg and absolute > mg_cap and per_kg <= ABSURD_MG_PER_KG[kind]:
                why = f" ({absolute:.4g} mg at {f'the {REFERENCE_WEIGHT_KG:g} kg reference weight' if capped else at})"
            elif not self.per_kg and per_kg > ABSURD_MG_PER_KG[kind] and absolute <= mg_cap:
                why = f" ({per_kg:.3g} mg/kg at {at})"
            else:
                why = ""
            cap_text = f"{mg_cap:.4g} mg" + ("" if mg_cap == ABSURD_MG[kind] else f" at {at}")
            raise InvalidRegimenError(
                f"{f}.dose: {self.amount:g} {unit} of {self.drug.value}{why} is refused (limit "
                f"{ABSURD_MG_PER_KG[kind]:g} mg/kg or {cap_text}); check the unit")
        kinds = self.size_warning_kinds() - frozenset(skip)
        if "negligible" in kinds:
            from .errors import DoseWarning

            # '0.5 mcg/kg' for '0.5 mg/kg' simulated a dose 1000 x too small without a word (no output echoes it).
            # A dose in mg is compared per kg at the reference weight: say so, and name the likelier slip (mg written
            # for mg/kg); "0.5 mg ... below 0.01 mg/kg; check mg, not µg" read as a contradiction
            if self.per_kg:
                where, hint = "", "check the unit (mg, not µg)"
            else:
                where = f" ({per_kg:.3g} mg/kg at {at})"
                # mg written for mg/kg only where the drug is dosed per kg (nasal esketamine is dosed in mg)
                as_per_kg = (self.dosed_per_kg()
                             and NEGLIGIBLE_MG_PER_KG[kind] <= self.amount <= ABSURD_MG_PER_KG[kind])
                hint = (f"did you mean {self.amount:g} mg/kg?" if as_per_kg
                        else "check the unit (mg, not µg; mg/kg, not mg)" if self.dosed_per_kg()
                        else "check the unit")
            warnings.warn(f"{f}.dose: {self.amount:g} {unit} of {self.drug.value}{where} is far below any studied "
                          f"dose (below {NEGLIGIBLE_MG_PER_KG[kind]:g} mg/kg); {hint}", DoseWarning,
                          stacklevel=stacklevel)
        if "anesthetic" in kinds:
            from .errors import DoseWarning

            why = ""
            potency = anesthetic_potency(self.drug)
            if potency != 1.0 and self.route in PARENTERAL_ROUTES:
                why = f"{self.drug.value}: ~{potency:.3g} x the racemate's anesthetic potency; "
            # a dose in mg says the weight it was judged at: 80 mg is anesthetic at 70 kg and not at a WT of 120
            judged = "" if self.per_kg else f"{per_kg:.3g} mg/kg at {at}; "
            warnings.warn(f"{f}.dose: {self.amount:g} {unit} {self.route.value} is in the anesthetic range "
                          f"({judged}{why}expect sedation; that it blocks the antidepressant plasticity is a hypothesis, off by "
                          f"default: experiments.anesthetic_state)", DoseWarning, stacklevel=stacklevel)
        if "deep-sedation" in kinds:
            from .errors import DoseWarning

            warnings.warn(f"{f}.dose: {self.amount:g} {unit} midazolam is a deep-sedation dose", DoseWarning,
                          stacklevel=stacklevel)

    def size_warning_kinds(self) -> frozenset[str]:
        """The warnings the dose checks give this dose at its weight (``weight_kg``; None: the 70-kg reference
        weight): "negligible" (far below any studied dose), "anesthetic" (ketamine alone in the anesthetic range),
        "deep-sedation" (midazolam). A refused dose is not judged here (it raises when built)."""
        if not (self.drug.is_ketamine or self.drug is Drug.MIDAZOLAM) or self.amount == 0:
            return frozenset()
        kind = "ketamine" if self.drug.is_ketamine else "midazolam"
        per_kg = self.amount if self.per_kg else self.amount / self._check_weight()
        out = set()
        if per_kg < NEGLIGIBLE_MG_PER_KG[kind]:
            out.add("negligible")
        if kind == "ketamine" and self._anesthetic(per_kg):
            out.add("anesthetic")
        if kind == "midazolam" and per_kg >= MIDAZOLAM_SEDATIVE_MG_PER_KG:
            out.add("deep-sedation")
        return frozenset(out)

    def at_weight(self, weight_kg: float | None, *, stacklevel: int = 2) -> "Dose":
        """This dose judged at the body weight ``weight_kg`` (kg; None: the 70-kg reference weight)
        instead of its own: refused there as any dose line is; of the size checks' warnings only those this dose
        did not already give at its own weight (those came when it was read; one it earns at the new weight is given:
        90 mg IV at a patient's 120 kg is not anesthetic, at the 70-kg reference weight it is; review s46 T3).
        ``stacklevel``: of the warnings, counted as ``warnings.warn`` counts from this method (2: its caller; 3: its
        caller's caller)."""
        from .errors import DoseWarning

        before = self.size_warning_kinds()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DoseWarning)
            new = dataclasses.replace(self, weight_kg=weight_kg)
        new._check_size(skip=before, stacklevel=stacklevel + 1)
        return new

    def weight_phrase(self) -> str:
        """The weight a dose in mg is judged at, in the checks' words: 'the 70 kg reference weight', "the record's WT
        of 120 kg", "the patient's weight of 40 kg"."""
        if self.weight_kg is None:
            return f"the {REFERENCE_WEIGHT_KG:g} kg reference weight"
        return f"{self.weight_of} of {self.weight_kg:g} kg"

    def _check_weight(self) -> float:
        """The body weight (kg) the dose checks judge this dose at: the record's WT, else the reference weight."""
        return REFERENCE_WEIGHT_KG if self.weight_kg is None else float(self.weight_kg)

    def dosed_per_kg(self) -> bool:
        """Is this drug usually dosed per body weight by this route? Parenteral routes (IV, IM, SC), and oral
        racemic ketamine (0.5-1 mg/kg in trials); nasal, sublingual and oral esketamine/arketamine in mg."""
        return self.route in PARENTERAL_ROUTES or (self.route is Route.ORAL and self.drug is Drug.RACEMIC_KETAMINE)

    def in_anesthetic_range(self, weight_kg: float | None = None) -> bool:
        """Is this ketamine dose alone in the anesthetic range (the check that warns when it is read)? ``weight_kg``:
        the body weight (kg) a dose in mg is judged at instead of the dose's own (``Dose.weight_kg``, else the 70-kg
        reference weight): a record's WT, for the record's scenario, whose dose lines do not carry it."""
        if not self.drug.is_ketamine or self.amount == 0:
            return False
        weight = self._check_weight() if weight_kg is None else float(weight_kg)
        return self._anesthetic(self.amount if self.per_kg else self.amount / weight)

    def _anesthetic(self, per_kg: float) -> bool:
        """Is this dose in the anesthetic range? ``per_kg``: mg/kg (a dose in mg at the reference weight, or at the
        record's WT: ``weight_kg``). An IV dose
        (bolus or infusion) by the typical effect-site peak it reaches, from that of 1 mg/kg pushed over 60 s
        (:func:`infusion_in_anesthetic_range`; Ketalar label: induction 1-4.5 mg/kg IV): 1 mg/kg as a bolus, 1.98
        mg/kg over 40 min, 3.7 over 100 min; the subanesthetic 0.5-1 mg/kg over 40 min used in depression does not
        warn. IM and SC likewise (``_ABSORBED_PARENTERAL_PEAK_RATIO``: from 1.55 mg/kg IM, 3.6 mg/kg SC). Oral,
        nasal and sublingual doses by their nominal systemic fraction (``_NOMINAL_F``: the model's absorption from
        these routes rests on thin data, and oral norketamine adds to the sedation). Parenteral esketamine and
        arketamine count by their potency (anesthetic_potency)."""
        if self.route in PARENTERAL_ROUTES:
            per_kg = per_kg * anesthetic_potency(self.drug)
        if self.route in (Route.IV_INFUSION, Route.IV_BOLUS):
            return infusion_in_anesthetic_range(per_kg, self.duration_h if self.route is Route.IV_INFUSION else 0.0)
        if self.route in _ABSORBED_PARENTERAL_PEAK_RATIO:
            ratio = _ABSORBED_PARENTERAL_PEAK_RATIO[self.route] / infusion_peak_factor(ANESTHETIC_PUSH_H)
            return per_kg * ratio >= ANESTHETIC_MG_PER_KG * (1 - 1e-9)
        return per_kg * _NOMINAL_F[self.route] >= ANESTHETIC_MG_PER_KG

    # -- construction from user input ---------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: dict, field: str = "dose", *, weight_kg: float | None = None,
                     weight_of: str = "the record's WT") -> "Dose":
        """One dose line (the scenario contract's mapping) as a Dose, named ``field`` in messages. ``weight_kg``: the
        patient's body weight (kg) its checks judge a dose in mg at (``Dose.weight_kg``; None: the 70-kg reference
        weight), ``weight_of`` whose weight it is in their messages ("the record's WT", "the patient's weight")."""
        if not isinstance(data, dict):
            raise InvalidRegimenError(f"{field}: expected a mapping like {{drug: esketamine, route: intranasal, dose: 56 mg}}")
        known = {"drug", "route", "dose", "rate", "duration", "at", "every", "count"}
        extra = set(data) - known
        if extra:
            # 'dose: 0,5 mg/kg' inside { } is two YAML entries, dose: 0 and a key '5 mg/kg': say it was a decimal comma
            split = [(k, x) for x in extra for k in ("dose", "rate", "duration", "at", "every")
                     if isinstance(data.get(k), int) and not isinstance(data.get(k), bool)
                     and re.fullmatch(r"\d+\s*[^\s\d].*", str(x))]
            if split:
                k, x = split[0]
                raise InvalidRegimenError(f"{field}.{k}: a decimal comma? '{k}: {data[k]},{x}' inside {{ }} is read as "
                                          f"two entries ({k}: {data[k]} and a key '{x}'); write '{data[k]}.{x}'")
            raise InvalidRegimenError(f"{field}: unknown key(s) {', '.join(sorted(map(str, extra)))}"
                                      f"{_dose_key_hint(extra, known)}; allowed: {', '.join(sorted(known))}")
        if "drug" not in data:
            raise InvalidRegimenError(f"{field}.drug: missing")
        drug = parse_drug(data["drug"], f"{field}.drug")
        if "route" not in data:
            raise InvalidRegimenError(f"{field}.route: missing")
        route = parse_route(data["route"], f"{field}.route")
        amount, per_kg = 0.0, False
        for k in ("dose", "rate"):      # mg/m2: before a rate's 'add a duration' (it would not help)
            refuse_per_area_dose(data.get(k), f"{field}.{k}")
        duration = parse_time_h(data["duration"], f"{field}.duration") if data.get("duration") is not None else 0.0
        rate_key = "rate" if data.get("rate") is not None else ("dose" if is_rate_text(data.get("dose")) else None)
        if rate_key is not None:
            # an infusion rate (as TCI users write it): dose = rate x duration
            if rate_key == "rate" and data.get("dose") is not None:
                raise InvalidRegimenError(f"{field}: give either dose or rate, not both")
            rate, per_kg = parse_rate(data[rate_key], f"{field}.{rate_key}")
            if not takes_rate(route):
                raise InvalidRegimenError(f"{field}.{rate_key}: an infusion rate ({data[rate_key]}) needs route "
                                          f"iv-infusion, not {route.value}; give a dose instead (e.g. '56 mg')")
            if duration <= 0:
                raise InvalidRegimenError(f"{field}.duration: {data[rate_key]} is an infusion rate; add a duration "
                                          f"(e.g. duration: 40 min) and ketasim gives dose = rate x duration")
            if rate <= 0:
                raise InvalidRegimenError(f"{field}.{rate_key}: the rate must be > 0, got {data[rate_key]}")
            amount = rate * duration
        elif data.get("dose") is not None:
            # a missing unit suggests only the units this drug and route accept (intranasal esketamine: mg)
            amount, kind = parse_dose(data["dose"], f"{field}.dose", dose_units(drug, route))
            per_kg = kind == "mg/kg"
            if drug is Drug.ORAL_ANTIDEPRESSANT:
                # 'dose: 20 mg' (escitalopram 20 mg) was read and then ignored without a word
                import warnings

                from .errors import DoseWarning

                warnings.warn(f"{field}.dose: an oral antidepressant's dose is not modelled (a newly started "
                              "antidepressant at its usual dose gives the same relief whatever the amount: free "
                              f"antidepressant_emax, antidepressant_t_half); {str(data['dose'])[:40]!r} is ignored "
                              "(leave dose out)", DoseWarning, stacklevel=2)
            elif drug is Drug.PLACEBO and amount > 0:
                # 'placebo, intranasal, 56 mg' ran silently while the antidepressant's ignored dose warned: a placebo
                # acts through expectancy alone (a matched dose changes nothing); '0 mg' says so and stays silent
                import warnings

                from .errors import DoseWarning

                warnings.warn(f"{field}.dose: a placebo has no drug amount (it acts through expectancy alone, whatever "
                              f"active dose it matches); {str(data['dose'])[:40]!r} is ignored (leave dose out)",
                              DoseWarning, stacklevel=2)
        at = parse_time_h(data["at"], f"{field}.at") if data.get("at") is not None else 0.0
        every = parse_time_h(data["every"], f"{field}.every") if data.get("every") is not None else 0.0
        if data.get("every") is not None and data.get("count") is None:
            # without count a line is one dose, and 'every' would be ignored in silence
            raise InvalidRegimenError(f"{field}.count: 'every: {data['every']}' repeats the dose but count is missing; "
                                      "give the number of doses, e.g. count: 8")
        count = data.get("count", 1)
        if isinstance(count, float) and count.is_integer():
            count = int(count)
        if (drug.is_ketamine and route not in (Route.ORAL, Route.SUBLINGUAL) and isinstance(count, int)
                and 0 < every < SESSIONS_APART_WARN_H and 2 <= count <= MAX_ADMINISTRATIONS):
            # 'every: 1 h' (for 1 d or 3.5 d) ran 1000 nasal sessions an hour apart without a word. Judged by sessions
            # as the plan and a record group them (group_sessions: doses within 2 h of a session's start are one
            # session, e.g. a nasal session's 2-3 devices), and worded by them (review s40 R6-1: 9 boluses 15 min
            # apart were called '9 sessions')
            sessions = group_sessions([at + i * every for i in range(count)], start_h=float)
            gap = sessions[1][0] - sessions[0][0] if len(sessions) > 1 else math.inf
            if gap < SESSIONS_APART_WARN_H:
                import warnings

                from .errors import DoseWarning

                what = (f"doses {data['every']} apart ({count} of them) make {len(sessions)} sessions "
                        f"{_fmt_h(gap)} apart" if every < SESSION_GAP_H
                        else f"sessions {data['every']} apart ({count} of them)")
                warnings.warn(f"{field}.every: {route.value} {drug.value} {what}; clinical regimens space ketamine "
                              "sessions by days (e.g. 3.5 d): check the unit", DoseWarning, stacklevel=2)
        if drug is Drug.PLACEBO and route is Route.IV_INFUSION and duration == 0:
            duration = 40 / 60
        return cls(drug, route, amount, per_kg, duration, at, every, count, field, weight_kg=weight_kg,
                   weight_of=weight_of)

    def administrations(self) -> list[Administration]:
        return [Administration(self.drug, self.route, self.amount, self.per_kg, self.at_h + i * self.every_h,
                               self.duration_h) for i in range(self.count)]


#: Ketamine doses that start less than this apart (h) are one session (a nasal session's devices 5 min apart, a bolus
#: before its infusion): the plan's limits count sessions so (personal.schedule_breaks; its candidates have one dose a
#: session), and a record warns of sessions hours apart by the same rule (record: TIME written in days)
SESSION_GAP_H = 2.0
#: Sessions of ketamine (other than oral or sublingual, which may be taken several times a day) this close (h) warn:
#: no clinical regimen gives them hours apart (the record's rule, ``record.SESSIONS_APART_WARN_H``)
SESSIONS_APART_WARN_H = 12.0


def group_sessions(items, start_h=lambda a: a.start_h) -> list[list]:
    """Ketamine administrations (``Dose.administrations()``; or any items with ``start_h`` giving their start)
    grouped into sessions, in time order: one starting less than :data:`SESSION_GAP_H` after its session's first start
    belongs to it (a nasal session's 2-3 devices)."""
    sessions = []
    for a in sorted(items, key=start_h):
        if sessions and start_h(a) - start_h(sessions[-1][0]) < SESSION_GAP_H:
            sessions[-1].append(a)
        else:
            sessions.append([a])
    return sessions


#: Criteria a titration rule may test at a decision session, on the patient's own simulated state: the score just
#: before the session (``score``: points; ``score_reduction``: fraction of the patient's baseline, 0.5 = 50 %) and
#: the peaks of the previous session (the last one given at the current dose): every per-session summary of the model.
TITRATION_SCORE_CRITERIA = ("score", "score_reduction")
#: The rating used by a titration decision is taken this long before the session's dose (h): the visit's rating.
TITRATION_RATING_LEAD_H = 1.0 / 60.0
#: Most decision sessions of one titration rule (each may need a run of the patients that change dose).
MAX_TITRATION_SESSIONS = 24
#: What a titration's score criteria read (``arms.NAME.titration.decide_on``): the noise-free model score (default) or
#: the rating an investigator records (model score + the trial's rater noise, rounded, within the scale)
TITRATION_DECIDE_ON = ("model_score", "rating")


def titration_criteria() -> tuple[str, ...]:
    """Quantities a titration criterion may name (``NAME_below`` / ``NAME_above``)."""
    from .model import DEFAULT_MODEL

    return TITRATION_SCORE_CRITERIA + tuple(DEFAULT_MODEL.summary_names)


@dataclasses.dataclass(frozen=True)
class Titration:
    """A response-guided dose rule for one dose line of an arm (``arms.NAME.titration``).

    ``levels``: the allowed doses (mg, or mg/kg if ``per_kg``), lowest first; the line's own dose is the start
    level. At each decision session (``sessions``, 1-based numbers of the line's doses; the first is never one) a
    patient moves up one level when every ``increase`` criterion holds, down one level when any ``decrease``
    criterion holds (a decrease wins), else keeps the dose; the new dose is given from that session on. Criteria are
    ``(quantity, "below" | "above", value)`` read on the patient's own simulated state (:func:`titration_criteria`).

    ``increase_sessions`` / ``decrease_sessions``: the sessions at which the dose may go up / down (protocols differ,
    e.g. TRANSFORM-2 allowed decreases but no increases at day 15); None = every decision session (``sessions``, the
    union of both, is then the shorthand). ``decide_on``: ``"model_score"`` (the noise-free model score) or
    ``"rating"`` (the score an investigator records: the model score plus the trial's rater noise, rounded and
    bounded by the scale, as the endpoint ratings are; ``rater_noise`` False = ``endpoints.rating_noise: false``,
    a rounded score without noise). Side-effect criteria always read the model's per-session peaks.
    """

    line: int
    levels: tuple[float, ...]
    per_kg: bool
    start: int                       # index of the start level (the line's dose)
    sessions: tuple[int, ...]
    increase: tuple[tuple[str, str, float], ...] = ()
    decrease: tuple[tuple[str, str, float], ...] = ()
    increase_sessions: tuple[int, ...] | None = None      # None: every decision session
    decrease_sessions: tuple[int, ...] | None = None      # None: every decision session
    decide_on: str = "model_score"                         # or "rating" (TITRATION_DECIDE_ON)
    rater_noise: bool = True                               # rating decisions: with the trial's rater noise

    def increases_at(self, session: int) -> bool:
        """Whether the dose may go up at ``session`` (a 1-based number of the titrated line's doses)."""
        return bool(self.increase) and session in (self.sessions if self.increase_sessions is None
                                                   else self.increase_sessions)

    def decreases_at(self, session: int) -> bool:
        """Whether the dose may go down at ``session``."""
        return bool(self.decrease) and session in (self.sessions if self.decrease_sessions is None
                                                   else self.decrease_sessions)

    @property
    def separate_sessions(self) -> bool:
        """True when increases and decreases have their own decision sessions (not the ``sessions`` shorthand)."""
        return (self.increase_sessions is not None and tuple(self.increase_sessions) != tuple(self.sessions)) or \
            (self.decrease_sessions is not None and tuple(self.decrease_sessions) != tuple(self.sessions))

    def level_text(self, k: int) -> str:
        return f"{self.levels[k]:g} {'mg/kg' if self.per_kg else 'mg'}"

    def session_times_h(self, arm: "Arm") -> tuple[float, ...]:
        """Start times (h) of the decision sessions."""
        d = arm.doses[self.line]
        return tuple(d.at_h + (s - 1) * d.every_h for s in self.sessions)

    def rating_times_h(self, arm: "Arm") -> np.ndarray:
        """Times (h) of the ratings the decisions read: TITRATION_RATING_LEAD_H before each decision session."""
        return np.round(np.asarray(self.session_times_h(arm), float) - TITRATION_RATING_LEAD_H, 9)

    def path_arm(self, arm: "Arm", path) -> "Arm":
        """The fixed arm a patient with dose path ``path`` (level index from each decision session on, one per
        decision) receives: the titrated line cut into runs of equal dose. The levels were checked (and warned
        about) when the scenario was read, so no warning is repeated here."""
        d = arm.doses[self.line]
        level = [self.start] * d.count
        for s, k in zip(self.sessions, path):
            for j in range(s - 1, d.count):
                level[j] = int(k)
        runs, j0 = [], 0
        for j in range(1, d.count + 1):
            if j == d.count or level[j] != level[j0]:
                runs.append((j0, j - j0, level[j0]))
                j0 = j
        from .errors import DoseWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DoseWarning)
            lines = tuple(dataclasses.replace(d, amount=self.levels[k], at_h=d.at_h + j * d.every_h, count=c)
                          for j, c, k in runs)
        doses = arm.doses[:self.line] + lines + arm.doses[self.line + 1:]
        return dataclasses.replace(arm, doses=doses, titration=None)


#: criteria whose quantity is never negative (a score, a peak of a non-negative output, a probability, a time), so
#: ``NAME_below: 0`` can never hold (the comparisons are strict)
_NONNEGATIVE_CRITERIA = ("score", "cadss_peak", "sedation_peak", "nausea_probability", "discharge_ready_h")


def _criteria(value, field: str) -> tuple[tuple[str, str, float], ...]:
    if value is None:
        return ()
    known = titration_criteria()
    example = "{score_reduction_below: 0.5, cadss_peak_below: 40}"
    if not isinstance(value, dict) or not value:
        raise InvalidRegimenError(f"{field}: expected a mapping of criteria, e.g. {example}")
    out = []
    for key, v in value.items():
        k = str(key)
        name, _, op = k.rpartition("_")
        if op not in ("below", "above") or name not in known:
            raise InvalidRegimenError(f"{field}.{k[:40]}: unknown criterion; use NAME_below or NAME_above with NAME one "
                                      f"of {', '.join(known)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidRegimenError(f"{field}.{k}: expected a number, got {str(v)[:40]!r}")
        if name == "score_reduction" and not (0 <= v <= 1):
            raise InvalidRegimenError(f"{field}.{k}: a fraction of the baseline score in [0, 1], e.g. 0.5 for 50 %; "
                                      f"got {v:g}")
        if v < 0 and name in _NONNEGATIVE_CRITERIA:
            raise InvalidRegimenError(f"{field}.{k}: must be >= 0, got {v:g}")
        if op == "below" and v <= 0 and name in _NONNEGATIVE_CRITERIA:
            raise InvalidRegimenError(f"{field}.{k}: {name} is never below {v:g} (it is >= 0), so this condition can "
                                      "never hold; give a threshold above 0")
        if op == "above" and v >= 1 and name in ("score_reduction", "nausea_probability"):
            raise InvalidRegimenError(f"{field}.{k}: {name} is never above 1 (a fraction), so this condition can never "
                                      "hold; give a threshold below 1")
        out.append((name, op, float(v)))
    return tuple(out)


def titration_from_mapping(value, doses: tuple[Dose, ...], field: str) -> Titration:
    """``arms.NAME.titration`` -> :class:`Titration`, checked against the arm's dose lines (one-line errors naming
    the field; every dose level obeys the dose limits and warns in the anesthetic range like a dose line)."""
    from .units import parse_dose

    if not isinstance(value, dict):
        raise InvalidRegimenError(f"{field}: expected a mapping like {{doses: [56 mg, 84 mg], sessions: [2, 3], "
                                  "increase_if: {score_reduction_below: 0.5}}")
    allowed = {"line", "doses", "sessions", "increase_sessions", "decrease_sessions", "increase_if", "decrease_if",
               "decide_on"}
    extra = sorted(set(map(str, value)) - allowed)
    if extra:
        raise InvalidRegimenError(f"{field}.{extra[0][:40]}: unknown field; allowed: {', '.join(sorted(allowed))}")
    dosed = [i for i, d in enumerate(doses) if (d.drug.is_ketamine or d.drug is Drug.MIDAZOLAM) and d.amount > 0]
    line = value.get("line")
    if line is None:
        if len(dosed) != 1:
            raise InvalidRegimenError(f"{field}.line: the arm has {len(dosed)} ketamine/midazolam dose lines; say which "
                                      "one is titrated (line: 0 is the first dose line)")
        line = dosed[0]
    if isinstance(line, bool):
        raise InvalidRegimenError(f"{field}.line: must be the index of a dose line, 0 to {len(doses) - 1}, not "
                                  f"true/false{YAML_BOOLEANS}")
    if not isinstance(line, int) or not (0 <= line < len(doses)):
        raise InvalidRegimenError(f"{field}.line: must be the index of a dose line, 0 to {len(doses) - 1}, got {line!r}")
    if line not in dosed:
        raise InvalidRegimenError(f"{field}.line: dose line {line} gives no ketamine or midazolam dose to titrate")
    d = doses[line]
    if d.count < 2:
        raise InvalidRegimenError(f"{field}.line: dose line {line} gives one dose; a titration needs repeated sessions "
                                  "(every and count)")
    if d.every_h < 1.0:
        raise InvalidRegimenError(f"{field}.line: dose line {line} repeats every {d.every_h * 60:g} min; a titration "
                                  "decides between sessions at least 1 h apart")
    raw = value.get("doses")
    if not isinstance(raw, list) or len(raw) < 2:
        raise InvalidRegimenError(f"{field}.doses: expected at least two dose levels, lowest first, e.g. [56 mg, 84 mg]")
    levels = []
    for i, t in enumerate(raw):
        f = f"{field}.doses[{i}]"
        if is_rate_text(t):             # levels are doses; a rate needs the line's duration to become one
            hint = (f", e.g. {t} over {d.duration_h * 60:g} min is {parse_rate(t, f)[0] * d.duration_h:g} "
                    f"{'mg/kg' if d.per_kg else 'mg'}" if d.duration_h > 0 else "")
            raise InvalidRegimenError(f"{f}: {t} is an infusion rate; give each level as the dose per session "
                                      f"(rate x the line's duration){hint}")
        amount, kind = parse_dose(t, f, dose_units(d.drug, d.route))
        if (kind == "mg/kg") != d.per_kg:
            raise InvalidRegimenError(f"{f}: {t} is in {kind}, the titrated line's dose in "
                                      f"{'mg/kg' if d.per_kg else 'mg'}; use one unit")
        if amount <= 0:
            raise InvalidRegimenError(f"{f}: must be > 0, got {t}")
        if amount != d.amount:          # the dose limits (refused / anesthetic warning) apply to every level
            dataclasses.replace(d, amount=amount, field=f)
        if levels and amount <= levels[-1]:
            raise InvalidRegimenError(f"{f}: dose levels must increase, lowest first ({t} after "
                                      f"{levels[-1]:g} {kind})")
        levels.append(amount)
    match = [i for i, x in enumerate(levels) if math.isclose(x, d.amount, rel_tol=1e-9)]
    if not match:
        unit = "mg/kg" if d.per_kg else "mg"
        raise InvalidRegimenError(f"{field}.doses: the titrated line's dose ({d.amount:g} {unit}) is the start dose and "
                                  "must be one of the levels")
    inc = _criteria(value.get("increase_if"), f"{field}.increase_if")
    dec = _criteria(value.get("decrease_if"), f"{field}.decrease_if")
    if not inc and not dec:
        raise InvalidRegimenError(f"{field}.increase_if: a titration needs increase_if and/or decrease_if, e.g. "
                                  "increase_if: {score_reduction_below: 0.5, cadss_peak_below: 40}")
    separate = [k for k in ("increase_sessions", "decrease_sessions") if k in value]
    if "sessions" in value and separate:
        raise InvalidRegimenError(f"{field}.{separate[0]}: state either sessions (the dose may go up or down at each) "
                                  "or increase_sessions / decrease_sessions, not both")
    if separate:
        inc_s = _session_list(value.get("increase_sessions"), d, f"{field}.increase_sessions") \
            if "increase_sessions" in value else ()
        dec_s = _session_list(value.get("decrease_sessions"), d, f"{field}.decrease_sessions") \
            if "decrease_sessions" in value else ()
        for key, crit, given in (("increase", inc, inc_s), ("decrease", dec, dec_s)):
            if crit and not given:      # a rule with no session at which it may act never fires
                way = "go up" if key == "increase" else "go down"
                raise InvalidRegimenError(f"{field}.{key}_sessions: {key}_if is given but no session at which the "
                                          f"dose may {way}, e.g. {key}_sessions: [2, 3]")
            if given and not crit:
                raise InvalidRegimenError(f"{field}.{key}_if: {key}_sessions are given but no {key}_if criteria, "
                                          "so the dose never changes at them")
        sessions = sorted(set(inc_s) | set(dec_s))
        if len(sessions) > MAX_TITRATION_SESSIONS:
            raise InvalidRegimenError(f"{field}.increase_sessions: {len(sessions)} decision sessions is more than the "
                                      f"{MAX_TITRATION_SESSIONS} supported")
    else:
        sessions = _session_list(value.get("sessions"), d, f"{field}.sessions")
        inc_s = dec_s = None
    decide_on = value.get("decide_on", "model_score")
    if decide_on not in TITRATION_DECIDE_ON:
        raise InvalidRegimenError(f"{field}.decide_on: use {' or '.join(TITRATION_DECIDE_ON)} (what the score criteria "
                                  f"read), got {str(decide_on)[:40]!r}")
    tit = Titration(line, tuple(levels), d.per_kg, match[0], tuple(sessions), inc, dec,
                    None if inc_s is None else tuple(inc_s), None if dec_s is None else tuple(dec_s), decide_on)
    _check_reachable(tit, field)
    return tit


def _session_list(sessions, d: Dose, field: str) -> list[int]:
    """A list of decision session numbers (1-based numbers of the line's doses, from 2, increasing)."""
    if not isinstance(sessions, list) or not sessions:
        raise InvalidRegimenError(f"{field}: expected the session numbers (1 = the first dose) at which the "
                                  "dose may change, e.g. [2, 3, 4]")
    if len(sessions) > MAX_TITRATION_SESSIONS:
        raise InvalidRegimenError(f"{field}: {len(sessions)} decision sessions is more than the "
                                  f"{MAX_TITRATION_SESSIONS} supported")
    sessions = list(sessions)
    for i, s in enumerate(sessions):
        if isinstance(s, float) and s.is_integer():
            s = sessions[i] = int(s)
        if isinstance(s, bool):
            raise InvalidRegimenError(f"{field}[{i}]: a session number from 2 to {d.count} is a whole number, not "
                                      f"true/false{YAML_BOOLEANS}")
        if isinstance(s, str) or s is None:     # '2': not a session number, whatever it says
            what = f"the text {s[:40]!r}" if isinstance(s, str) else "nothing"
            raise InvalidRegimenError(f"{field}[{i}]: a session number from 2 to {d.count} is a whole number "
                                      f"without quotes, got {what}")
        if not isinstance(s, int) or not (2 <= s <= d.count):
            raise InvalidRegimenError(f"{field}[{i}]: a session number from 2 to {d.count} (the line gives "
                                      f"{d.count} doses; the first dose is the start dose), got {str(s)[:40]!r}")
        if i and s <= sessions[i - 1]:
            raise InvalidRegimenError(f"{field}[{i}]: session numbers must increase, got {s} after "
                                      f"{sessions[i - 1]}")
    return sessions


def _check_reachable(tit: Titration, field: str) -> None:
    """A rule that can never change the dose is refused: walk the levels a patient can be at through the decision
    sessions; an increase rule that never finds a level above, or a decrease rule that never finds one below, is an
    error (e.g. starting at the top dose with only increases, or decreases only before any increase)."""
    reachable, up, down = {tit.start}, False, False
    top = len(tit.levels) - 1
    for s in tit.sessions:
        new = set(reachable)
        if tit.increases_at(s) and any(k < top for k in reachable):
            up = True
            new |= {k + 1 for k in reachable if k < top}
        if tit.decreases_at(s) and any(k > 0 for k in reachable):
            down = True
            new |= {k - 1 for k in reachable if k > 0}
        reachable = new
    for key, crit, fired, where in (("increase", tit.increase, up, "above"), ("decrease", tit.decrease, down, "below")):
        if crit and not fired:
            sessions = "increase_sessions" if tit.increase_sessions is not None and key == "increase" else \
                "decrease_sessions" if tit.decrease_sessions is not None and key == "decrease" else "sessions"
            raise InvalidRegimenError(f"{field}.{sessions}: the {key}_if rule can never fire (at none of these "
                                      f"sessions can a patient be at a level with one {where} it)")


@dataclasses.dataclass(frozen=True)
class Arm:
    """A named treatment arm: a tuple of dose lines, and comedications given in this arm only (added to the
    population's; e.g. the 'with rifampicin' arm or period of an interaction study); ``baseline``: the arm's own
    baseline score (mean, SD; scale points) where a trial reports it per arm, else None (the population's);
    ``titration``: a response-guided dose rule for one of its lines (:class:`Titration`), else None (fixed doses;
    ``doses`` then hold the start dose of the titrated line)."""

    name: str
    doses: tuple[Dose, ...]
    comedications: tuple[str, ...] = ()
    baseline: tuple[float, float] | None = None
    titration: Titration | None = None

    def administrations(self) -> list[Administration]:
        out = [a for d in self.doses for a in d.administrations()]
        return sorted(out, key=lambda a: a.start_h)

    @property
    def last_time_h(self) -> float:
        adm = self.administrations()
        return max((a.start_h + a.duration_h for a in adm), default=0.0)


#: a dose line's keys as protocols and other tools name them (each was 'unknown key' with no pointer to the one meant)
_DOSE_KEY_SYNONYMS = {"dosage": "dose", "amount": "dose", "amt": "dose", "interval": "every", "frequency": "every",
                      "ii": "every", "tau": "every", "time": "at", "start": "at", "start_time": "at", "day": "at",
                      "repeat": "count", "repeats": "count", "n": "count", "times": "count", "doses": "count",
                      "number": "count", "addl": "count (addl + 1)", "dur": "duration", "infusion_time": "duration",
                      "medication": "drug", "compound": "drug"}


def _dose_key_hint(extra, known) -> str:
    """' (did you mean ...?)' for unknown dose-line keys that are a synonym, a letter-case variant or a near miss."""
    import difflib

    meant = []
    for k in sorted(map(str, extra)):
        low = k.strip().lower()
        m = low if low in known else _DOSE_KEY_SYNONYMS.get(low) or next(
            iter(difflib.get_close_matches(low, sorted(known), n=1, cutoff=0.8)), None)
        if m:
            meant.append(m if len(extra) == 1 else f"{m} for {k}")
    return f" (did you mean {', '.join(meant)}?)" if meant else ""


def arm_from_list(name: str, items, field: str | None = None, *, weight_kg: float | None = None,
                  weight_of: str = "the patient's weight") -> Arm:
    """An arm of dose lines (the scenario contract's list). ``weight_kg``: the one stated patient's body weight (kg)
    at which the dose checks judge a dose in mg (``Dose.weight_kg``; None: the 70-kg reference weight, for a
    population), named ``weight_of`` in their messages."""
    field = field or f"arms.{name}"
    if not isinstance(items, list) or not items:
        raise InvalidRegimenError(f"{field}: expected a non-empty list of doses")
    doses = tuple(Dose.from_mapping(it, f"{field}[{i}]", weight_kg=weight_kg, weight_of=weight_of)
                  for i, it in enumerate(items))
    _warn_coinciding_lines(doses, field)
    return Arm(name, doses)


def _warn_coinciding_lines(doses: tuple[Dose, ...], field: str) -> None:
    """One DoseWarning per pair of dose lines that give the same active drug by the same route at the same time: the
    doses add up in one session (a twice-weekly line with count 8 runs to 24.5 d, so a weekly line from 3 weeks gave
    56 + 84 mg of intranasal esketamine at 21 d without a word). A bolus with an infusion (a loading dose) is not
    warned about: the routes differ."""
    import warnings

    from .errors import DoseWarning

    first: dict = {}
    for i, d in enumerate(doses):
        if not (d.drug.is_ketamine or d.drug is Drug.MIDAZOLAM) or d.amount == 0:
            continue
        for a in d.administrations():
            first.setdefault((d.drug, d.route, round(a.start_h, 9)), []).append((i, d))
    clashes: dict = {}          # (line indices) -> [(time, drug, route, the lines' doses)], in time order
    for (drug, route, t), lines in sorted(first.items(), key=lambda kv: kv[0][2]):
        idx = tuple(sorted({i for i, _ in lines}))
        if len(idx) > 1:
            clashes.setdefault(idx, []).append((t, drug, route, [d for _, d in lines]))
    for idx, times in clashes.items():
        t, drug, route, ds = times[0]
        amounts = " + ".join(f"{d.amount:g} {'mg/kg' if d.per_kg else 'mg'}" for d in ds)
        more = f" (and at {len(times) - 1} later time{'s' if len(times) > 2 else ''})" if len(times) > 1 else ""
        lines = " and ".join(f"[{i}]" for i in idx)
        warnings.warn(f"{field}: lines {lines} {'both' if len(idx) == 2 else 'all'} give {route.value} {drug.value} "
                      f"at {_fmt_h(t)}{more}: {amounts} in one session; if one line should end before the other "
                      "starts, check their count and at", DoseWarning, stacklevel=3)


__all__ = ["Drug", "Route", "Dose", "Arm", "Titration", "titration_from_mapping", "Administration", "arm_from_list", "parse_drug", "parse_route",
           "parse_rate", "is_rate_text"]
