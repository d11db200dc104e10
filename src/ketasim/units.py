"""Units at the boundary: parse user quantities once, then work on plain floats.

Internal unit system (used by every array in the engine):
time h, volume L, amount mg, flow L/h, plasma concentration ng/mL, effect-site concentration µM,
body weight kg.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .errors import UnitError

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


@lru_cache(maxsize=1)
def registry():
    """The shared pint registry (created lazily: pint costs ~0.2 s to import)."""
    import pint

    ureg = pint.UnitRegistry()
    ureg.define("percent = 0.01 = pct")
    return ureg


def _split(text: str, field: str) -> tuple[float, str]:
    if isinstance(text, bool):
        raise UnitError(f"{field}: expected a quantity with a unit (e.g. '0.5 mg/kg'), got {text!r}")
    if isinstance(text, (int, float)):
        raise UnitError(f"{field}: the unit is missing in {text!r}; write it explicitly, e.g. '{text} mg'")
    if not isinstance(text, str):
        raise UnitError(f"{field}: expected a quantity with a unit as text, got {type(text).__name__}")
    m = _NUMBER_UNIT.match(text)
    if not m:
        raise UnitError(f"{field}: cannot read {text!r} as a number followed by a unit")
    value, unit = float(m.group(1)), m.group(2)
    if not unit:
        raise UnitError(f"{field}: the unit is missing in {text!r}; write it explicitly, e.g. '{text} mg'")
    return value, unit


def convert(value: float, unit: str, target: str, field: str) -> float:
    """Convert ``value`` in ``unit`` to ``target``; a clear UnitError names ``field`` otherwise."""
    import pint

    ureg = registry()
    try:
        q = ureg.Quantity(value, unit.replace("µ", "u").replace("μ", "u"))
        return float(q.to(target).magnitude)
    except pint.errors.DimensionalityError:
        raise UnitError(f"{field}: unit {unit!r} cannot be converted to {target!r}") from None
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError, TypeError,
            ValueError, AssertionError):
        raise UnitError(f"{field}: unknown unit {unit!r}") from None


def parse_quantity(text, target: str, field: str) -> float:
    """Parse ``'40 min'`` style text into a float in ``target`` units."""
    value, unit = _split(text, field)
    return convert(value, unit, target, field)


def parse_time_h(text, field: str) -> float:
    """A time or duration in hours. ``'40 min'``, ``'3.5 d'``, ``'2 h'``, ``'1 week'``."""
    return parse_quantity(text, "hour", field)


def parse_dose(text, field: str) -> tuple[float, str]:
    """A dose: returns (value, kind) with kind ``'mg'`` (absolute, in mg) or ``'mg/kg'`` (per body weight).

    The unit is required: a bare number is refused because mg and mg/kg differ ~80-fold.
    """
    value, unit = _split(text, field)
    compact = unit.replace(" ", "").lower()
    if "/kg" in compact or "perkg" in compact:
        return convert(value, unit, "mg/kg", field), "mg/kg"
    try:
        return convert(value, unit, "mg", field), "mg"
    except UnitError:
        raise UnitError(f"{field}: dose unit {unit!r} must be a mass (mg, g, µg) or a mass per body weight (mg/kg)") from None
