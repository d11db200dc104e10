"""Units at the boundary: parse user quantities once, then work on plain floats.

Internal unit system (used by every array in the engine):
time h, volume L, amount mg, flow L/h, plasma concentration ng/mL, effect-site concentration µM,
body weight kg.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np

from .errors import YAML_BOOLEANS, UnitError

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d{1,30}\.?\d{0,30}|\.\d{1,30})(?:[eE][-+]?\d{1,4})?)\s*(.*?)\s*$")
#: The unit grammar accepted before pint sees anything: names (letters, µ, %) joined by '/', '*', '·' or a
#: space, each with an optional small integer power ('^2', '**-1'). No digits elsewhere, no parentheses, no
#: arithmetic: pint evaluates unit text as an expression, so '56 mg * 10**10**10' would otherwise hang.
_NAME = r"[A-Za-zµμ%_]{1,20}(?:(?:\^|\*\*)-?[1-4])?"
_UNIT = re.compile(rf"^{_NAME}(?:\s*[/*·]\s*{_NAME}|\s+{_NAME})*$")


@lru_cache(maxsize=1)
def registry():
    """The shared pint registry (created lazily: pint costs ~0.2 s to import)."""
    import pint

    ureg = pint.UnitRegistry()
    ureg.define("percent = 0.01 = pct")
    ureg.define("fraction = 1")         # a share, probability or 0-1 level (DIMENSIONLESS_UNITS)
    return ureg


#: Spellings of a pure number. ``fraction`` (parameters.csv) is a dimensionless value that is a share, a probability,
#: a bioavailability or a 0-1 weight or level: the dashboard's override check and sensitivity's ranges keep it within
#: [0, 1] (:func:`is_fraction`); other dimensionless values (a log-SD, a ratio, a factor, a Weibull shape) may exceed 1.
#: Between these spellings a value converts by identity.
DIMENSIONLESS_UNITS = frozenset({"dimensionless", "1", "fraction"})


def unit_suffix(unit: str) -> str:
    """' L' to write after a value; nothing for a pure number ('0.7', not '0.7 fraction')."""
    return "" if unit in DIMENSIONLESS_UNITS else f" {unit}"


def is_fraction(unit: str) -> bool:
    """Whether a parameter's ``unit`` says its value is a fraction, bounded by [0, 1]."""
    return str(unit).strip() == "fraction"


#: a unit to the power -1 as journals write it: 'mg kg-1', 'mg·kg⁻¹·h⁻¹', 'mg kg^-1' -> 'mg/kg', 'mg/kg/h'
_NEGATIVE_POWER = re.compile(r"\s*[·⋅*]?\s*([A-Za-zµμ]+)\s*(?:\^\s*)?(?:[-−]\s*1(?![0-9.])|⁻¹)")


#: quotes a word processor puts around a pasted value ('“0.5 mg/kg”'); YAML and the shell remove straight ones
_TYPOGRAPHIC_QUOTES = "“”„‘’‚«»"


def slash_units(text: str) -> str:
    """'0.75 mg kg-1 h-1' -> '0.75 mg/kg/h': a unit to the power -1 written as a division."""
    return _NEGATIVE_POWER.sub(r"/\1", text)


def _split(text: str, field: str, examples: tuple[str, ...] = ("mg",)) -> tuple[float, str]:
    """``examples``: the units a missing-unit message suggests (('mg',) for a dose, ('min', 'h') for a time)."""
    if isinstance(text, bool):      # a time said 'e.g. 0.5 mg/kg'; YAML's yes/on are booleans too
        example = "'0.5 mg/kg'" if "mg" in examples else _suggest(2, examples)
        raise UnitError(f"{field}: expected a quantity with a unit (e.g. {example}), not true/false{YAML_BOOLEANS}")
    if isinstance(text, (int, float)):
        raise UnitError(f"{field}: the unit is missing in {text!r}; write it explicitly, e.g. {_suggest(text, examples)}")
    if not isinstance(text, str):
        raise UnitError(f"{field}: expected a quantity with a unit as text, got {type(text).__name__}")
    from .limits import MAX_MAGNITUDE, MAX_QUANTITY_CHARS

    if len(text) > MAX_QUANTITY_CHARS:
        raise UnitError(f"{field}: a quantity is at most {MAX_QUANTITY_CHARS} characters (number and unit), "
                        f"got {len(text):,}")
    text = text.strip().strip(_TYPOGRAPHIC_QUOTES)      # '“0.5 mg/kg”' pasted from a document
    if re.match(r"\s*[-+]?\d{1,3},\d{3}(?!\d)", text):   # '1,000 mg': a thousands separator, or a decimal comma?
        raise UnitError(f"{field}: cannot read {text!r}: write numbers without a thousands separator and decimals "
                        "with a point (e.g. '1000 mg' or '1.5 mg')")
    if re.match(r"\s*[-+]?\d+,\d", text):               # a decimal comma (as many locales write it)
        raise UnitError(f"{field}: cannot read {text!r}: write decimals with a point, e.g. "
                        f"{text.replace(',', '.', 1).strip()!r}")
    m = _NUMBER_UNIT.match(text)
    if not m:
        raise UnitError(f"{field}: cannot read {text!r} as a number followed by a unit")
    value, unit = float(m.group(1)), slash_units(m.group(2))
    if not unit:
        raise UnitError(f"{field}: the unit is missing in {text!r}; write it explicitly, e.g. {_suggest(text, examples)}")
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise UnitError(f"{field}: {m.group(1)} is not a plausible magnitude (at most {MAX_MAGNITUDE:g})")
    if not _UNIT.match(unit):
        raise UnitError(f"{field}: cannot read {text!r} as a number followed by a unit (a unit is a name like "
                        "'mg', 'mg/kg' or 'min'; no arithmetic)")
    return value, unit


def _suggest(text, examples: tuple[str, ...]) -> str:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = None
    if value is not None and value > 10 and "mg/kg" in examples and len(examples) > 1:
        # '56' (esketamine's 56 mg) was offered '56 mg/kg' first: a dose above 10 mg/kg is refused for every drug
        examples = tuple(u for u in examples if u != "mg/kg")
    return " or ".join(f"'{text} {u}'" for u in examples)


def convert(value: float, unit: str, target: str, field: str) -> float:
    """Convert ``value`` in ``unit`` to ``target``; a clear UnitError names ``field`` otherwise."""
    if unit in DIMENSIONLESS_UNITS and target in DIMENSIONLESS_UNITS:     # a fraction read as dimensionless
        return float(value)
    import pint

    ureg = registry()
    try:
        q = ureg.Quantity(value, unit.replace("µ", "u").replace("μ", "u"))
        return float(q.to(target).magnitude)
    except pint.errors.DimensionalityError:
        # a time written '40 m' said only "unit 'm' cannot be converted to 'hour'" (pint reads m as metres)
        hint = " ('m' is metres: write min for minutes)" if target == "hour" and unit.strip() == "m" else ""
        if target == "hour" and not hint and unit.strip() != unit.strip().lower():
            hint = " (times: min, h, d, week; lower case)"       # '24H' (henry), '7D' (debye), '1 Ms' (megaseconds)
        raise UnitError(f"{field}: unit {unit!r} cannot be converted to {target!r}{hint}") from None
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError, TypeError,
            ValueError, AssertionError):
        times = " (times: min, h, d, week)" if target == "hour" else ""      # '1 y', '1 mo'
        raise UnitError(f"{field}: unknown unit {unit!r}{times}") from None


def parse_quantity(text, target: str, field: str, examples: tuple[str, ...] = ("mg",)) -> float:
    """Parse ``'40 min'`` style text into a float in ``target`` units."""
    value, unit = _split(text, field, examples)
    return convert(value, unit, target, field)


def _protocol_day_hint(n: float, day: bool) -> str:
    """What a protocol's 'day N' / 'week N' is in time since the first dose. Protocols number the first dose's day
    (week) 1 or 0, so both readings are given and neither is picked; a reading that would be negative (day 0 when
    day 1 is the first dose's) is left out, as a negative time is refused."""
    if day:
        if n < 1:
            return f"day {n:g} is '{n:g} d' if day 0 is the day of the first dose"
        return f"day {n:g} is '{n - 1:g} d' if day 1 is the day of the first dose, '{n:g} d' if that day is day 0"
    if n < 1:
        return f"week {n:g} starts at '{n:g} week' if week 0 begins with the first dose"
    return (f"week {n:g} runs from '{n - 1:g} week' to '{n:g} week' if week 1 begins with the first dose, from "
            f"'{n:g} week' if that week is week 0")


def parse_time_h(text, field: str, examples: tuple[str, ...] = ("min", "h")) -> float:
    """A time or duration in hours. ``'40 min'``, ``'3.5 d'``, ``'2 h'``, ``'1 week'``; at most 10 years.
    ``examples``: the units a missing-unit message suggests (``('d',)`` for days of a comedication)."""
    from .limits import MAX_TIME_H

    if isinstance(text, str):
        m = re.match(r"^\s*(day|week|wk)\s*(\d+(?:\.\d+)?)\s*$", text, re.I)
        if m:       # a protocol's 'day 28': say what to write under either way of numbering the first dose's day
            n = float(m.group(2))
            raise UnitError(f"{field}: write the time since the start with its unit after the number, e.g. "
                            + _protocol_day_hint(n, m.group(1).lower() == "day")
                            + f" (got {text.strip()[:40]!r})")
        words = {"daily": "1 d", "once daily": "1 d", "every day": "1 d", "weekly": "7 d", "once weekly": "7 d",
                 "every week": "7 d", "twice weekly": "3.5 d", "twice a week": "3.5 d", "hourly": "1 h"}
        said = " ".join(text.strip().lower().split())
        if said in words:       # `--every weekly` said "cannot read 'weekly' as a number followed by a unit"
            raise UnitError(f"{field}: write the time as a number with its unit, e.g. '{words[said]}' for {said} (got "
                            f"{text.strip()!r})")
        # 'wk' / 'wks' as protocols abbreviate weeks, and 'w' ('1w:4w'; pint does not know them)
        text = re.sub(r"(?<=[\d\s])(?:wks?|w)\s*$", "week", text.strip())
    t = parse_quantity(text, "hour", field, examples=examples)
    if not math.isfinite(t) or abs(t) > MAX_TIME_H:
        raise UnitError(f"{field}: {text!r} is beyond the {MAX_TIME_H:g} h (10 years) ketasim simulates")
    return t


def fmt_hours(h, *, exact: bool = True) -> str:
    """A time in hours as every output writes it: minutes below 2 h, hours below 48 h, days from 48 h (no weeks: a
    trial's text table and its HTML report both say '7 d', '28 d'). None or NaN: '-'.

    ``exact`` (a stated time: an endpoint, a visit, a dose or schedule): 4 significant digits, and a whole number of
    minutes that is not a whole or half hour in minutes ('230 min', not '3.833 h'): '40 min', '3.5 h', '4.167 d'.
    Not exact (a reading on an output grid, e.g. a summary's peak time): whole minutes and one decimal of hours or
    days: '35 min', '15.7 h', '10.5 d'."""
    if h is None or not math.isfinite(h):
        return "-"
    if not exact and h >= 2 / 60:
        from .limits import fmt_seconds          # one rule for readings and durations (R6-2)

        return fmt_seconds(h * 3600.0)
    if h < 2:
        return f"{h * 60:.4g} min" if exact else f"{h * 60:.0f} min"
    if h < 48:
        if abs(h * 2 - round(h * 2)) > 1e-9 and abs(h * 60 - round(h * 60)) < 1e-6:
            return f"{h * 60:.0f} min"                    # 230 min, not 3.83333 h
        return f"{h:.4g} h"
    return f"{h / 24:.4g} d"


#: dose units as written in lower case (a dose in another case is refused, naming the lower-case form)
_DOSE_UNITS = frozenset({"mg", "g", "ug", "µg", "μg", "mg/kg", "ug/kg", "µg/kg", "μg/kg", "g/kg"})


#: a dose or rate per body surface area: '50 mg/m2', 'mg/m^2', 'mg/m²', 'mg/m**2', 'mg m-2', 'mg/sqm', 'mg/BSA'
_PER_AREA = re.compile(r"(?:/\s*(?:m\s*(?:2|\^\s*2|²|\*\*\s*2)|sq\.?\s*m|bsa)|(?<![a-z])m\s*(?:-\s*2|⁻²))(?![a-z0-9])",
                       re.I)


def refuse_per_area_dose(text, field: str) -> None:
    """A dose per body surface area (mg/m2) is refused in one line naming ``field`` and the units ketasim takes: its
    patients have a weight but no height, so there is no body surface area to multiply by (it said 'cannot read
    '50mg/m2' as a number followed by a unit', or 'must be a mass' for 'mg/m^2')."""
    if isinstance(text, str) and _PER_AREA.search(text):
        raise UnitError(f"{field}: dosing per body surface area ({text.strip()[:40]!r}) is not supported (patients "
                        "have a weight but no height); give the dose in mg, g or µg, per body weight in mg/kg, or an "
                        "infusion rate in mg/h or mg/kg/h with a duration")


_PER_KG = re.compile(r"\s*(?:/|\bper\b)\s*kg\b", re.IGNORECASE)


def per_kg_numerator(unit: str, field: str, text, example: str = "'0.5 mg/kg'") -> str | None:
    """The unit of a per-body-weight quantity without its one '/kg' ('mg/kg' -> 'mg', 'mg/kg/h' -> 'mg/h'), or None
    when the unit is not per kg. pint reads mg/kg as a pure number (1e-6), so a unit typed twice, 'mg/kg mg/kg' (a
    dose box's text with the unit menu's unit after it), converted to 5e-07 mg/kg and 'mg/kg kg/mg' to 5e+05: a
    second kg is refused."""
    if not _PER_KG.search(unit):
        return None
    rest = _PER_KG.sub("", unit, count=1)
    if re.search(r"kg|kilogram", rest, re.IGNORECASE):
        raise UnitError(f"{field}: cannot read {text!r}: the unit {unit!r} names kg more than once; write one mass per "
                        f"kg, e.g. {example}")
    return rest


def parse_dose(text, field: str, examples: tuple = ("mg/kg", "mg")) -> tuple[float, str]:
    """A dose: returns (value, kind) with kind ``'mg'`` (absolute, in mg) or ``'mg/kg'`` (per body weight).

    The unit is required: a bare number is refused because mg and mg/kg differ ~80-fold. A dose per body surface
    area (mg/m2) is refused (:func:`refuse_per_area_dose`). ``examples``: the units a missing-unit message suggests
    (``('mg',)`` where mg/kg would be refused next, e.g. intranasal esketamine).
    """
    refuse_per_area_dose(text, field)
    value, unit = _split(text, field, examples)
    compact = unit.replace(" ", "").lower()
    if compact in _DOSE_UNITS and unit.replace(" ", "") != compact:   # 'MG', 'mg/Kg': 'Mg' would be megagrams
        raise UnitError(f"{field}: write the unit {unit!r} in lower case, {compact!r} (units are case-sensitive: "
                        "'Mg' is a megagram)")
    if "/kg" in compact or "perkg" in compact:
        mass = per_kg_numerator(unit, field, text)
        if mass is not None:
            try:
                return convert(value, mass, "mg", field), "mg/kg"
            except UnitError:
                raise UnitError(f"{field}: dose unit {unit!r} must be a mass per body weight (mg/kg, µg/kg, g/kg)") \
                    from None
        return convert(value, unit, "mg/kg", field), "mg/kg"
    try:
        return convert(value, unit, "mg", field), "mg"
    except UnitError:
        raise UnitError(f"{field}: dose unit {unit!r} must be a mass (mg, g, µg) or a mass per body weight (mg/kg)") from None


def json_safe(x):
    """Replace NaN/inf by None, numpy scalars by Python ones (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


#: a time column's name ending in another unit than hours -> the factor that turns its values into hours
_TO_HOURS = {"d": "x 24", "day": "x 24", "days": "x 24", "min": "/ 60", "mins": "/ 60", "minutes": "/ 60",
             "w": "x 168", "wk": "x 168", "week": "x 168", "weeks": "x 168"}


def to_hours_factor(column: str) -> str | None:
    """'x 24', '/ 60' or 'x 168' when a time column's name ends in days, minutes or weeks ('timepoint_d', 'TIME_MIN',
    'TIME (days)'); None otherwise. Files whose time columns are in hours use it to say the conversion, not only the
    rename (a renamed 'timepoint_d' read day 1 as 1 h; review s39 R8-1)."""
    unit = re.search(r"(?:[\s_(\[.]|\b)(d|day|days|min|mins|minutes|w|wk|week|weeks)\)?\]?$",
                     str(column).strip().lower())
    return _TO_HOURS[unit.group(1)] if unit else None

