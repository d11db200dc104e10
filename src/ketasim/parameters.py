"""The parameter set: the model as data.

``data/parameters.csv`` holds every literature parameter (value, unit, source, confidence);
``data/free_parameters.json`` holds the free parameters fitted by ``ketasim calibrate`` with the
calibration run that produced them. Both load into one frozen :class:`ParameterSet`; values are
converted once, with pint, to the unit the caller asks for.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from .errors import ParameterSetError
from .units import convert, is_fraction


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    value: float
    unit: str
    source: str
    confidence: str
    note: str = ""


def _rebuild_parameter_set(literature, free, free_version, calibration_run, posterior, between_trial):
    """The unpickled :class:`ParameterSet` (see its ``__reduce__``)."""
    return ParameterSet(MappingProxyType(literature), MappingProxyType(free), free_version, calibration_run,
                        posterior, between_trial)


@dataclasses.dataclass(frozen=True)
class ParameterSet:
    """Literature parameters plus calibrated free parameters, immutable."""

    literature: Mapping[str, Parameter]
    free: Mapping[str, Parameter]
    free_version: str
    calibration_run: str
    #: approximate posterior of the fitted free parameters (Laplace at the optimum), as written by
    #: ``ketasim calibrate``; None for a set without one
    posterior: Mapping | None = dataclasses.field(default=None, compare=False)
    #: between-trial SDs (tau) of the trial-level random effects estimated under this set (``ketasim between-trial``:
    #: {"tau": {effect: SD}, "method", "size", "seed", "calibration_run"}); None if not stored
    between_trial: Mapping | None = dataclasses.field(default=None, compare=False)

    def __reduce__(self):
        # a mappingproxy does not pickle: ship plain dicts and rebuild the read-only views on the other side (the
        # cross-validation's folds run in worker processes, ``qualify --cross-validate --jobs``)
        return (_rebuild_parameter_set, (dict(self.literature), dict(self.free), self.free_version,
                                         self.calibration_run, self.posterior, self.between_trial))

    @property
    def version(self) -> str:
        """Short content hash, so results can name exactly which parameters produced them."""
        h = hashlib.sha256()
        for p in sorted([*self.literature.values(), *self.free.values()], key=lambda p: p.name):
            # 'fraction' hashes as 'dimensionless': the two convert by identity, so a value relabelled a fraction
            # (thirty-seventh session, for the 0-1 bound of overrides and sensitivity ranges) is the same parameter
            # set, and results and the shipped posterior draws stamped with the version before the relabel still match
            unit = "dimensionless" if is_fraction(p.unit) else p.unit
            h.update(f"{p.name}={p.value!r}{unit};".encode())
        return f"{self.free_version}+{h.hexdigest()[:10]}"

    def get(self, name: str, unit: str = "dimensionless") -> float:
        """Value of a literature parameter converted to ``unit``."""
        try:
            p = self.literature[name]
        except KeyError:
            raise ParameterSetError(f"parameter set has no parameter {name!r}") from None
        return _converted(p.value, p.unit, unit, name)

    def free_value(self, name: str, unit: str = "dimensionless") -> float:
        try:
            p = self.free[name]
        except KeyError:
            raise ParameterSetError(f"parameter set has no free parameter {name!r}") from None
        return _converted(p.value, p.unit, unit, name)

    def with_free(self, values: Mapping[str, float], version: str, calibration_run: str) -> "ParameterSet":
        """A new set with some free parameters replaced (pure function: ``self`` is unchanged)."""
        free = dict(self.free)
        for k, v in values.items():
            if k not in free:
                raise ParameterSetError(f"unknown free parameter {k!r}")
            free[k] = dataclasses.replace(free[k], value=float(v))
        return ParameterSet(self.literature, MappingProxyType(free), version, calibration_run, self.posterior,
                            self.between_trial)

    def with_literature(self, values: Mapping[str, float]) -> "ParameterSet":
        """A new set with some literature values replaced (for sensitivity analysis). Each value is a finite number;
        a fraction (unit ``fraction``) lies in [0, 1], and a parameter whose shipped value is not negative cannot be
        made negative (a negative volume stopped in numpy's "Eigenvalues did not converge", None in a TypeError)."""
        lit = dict(self.literature)
        for k, v in values.items():
            if k not in lit:
                raise ParameterSetError(f"unknown parameter {k!r}")
            v = _finite_value(k, v, lit[k].unit)
            if is_fraction(lit[k].unit) and not 0.0 <= float(v) <= 1.0:
                raise ParameterSetError(f"{k}: a fraction must lie in [0, 1], got {float(v):g}")
            if float(v) < 0 <= lit[k].value:
                raise ParameterSetError(f"{k}: must be >= 0 (shipped value {lit[k].value:g} {lit[k].unit}), "
                                        f"got {float(v):g}")
            lit[k] = dataclasses.replace(lit[k], value=float(v), source=lit[k].source + " [overridden]")
        _check_swallowed_split(lit, values)
        return ParameterSet(MappingProxyType(lit), self.free, self.free_version, self.calibration_run, self.posterior,
                            self.between_trial)


#: total bioavailabilities of routes whose dose is partly swallowed: engine._route_inputs splits each into a mucosal
#: part fm = (F - F_oral) / (1 - F_oral) and a swallowed rest, with S's oral F
TOTAL_F_WITH_SWALLOWED_PART = ("route.sublingual.f", "route.intranasal.f_nasal_racemic")
_ORAL_F = "route.oral.f_s"


def _check_swallowed_split(lit: Mapping[str, Parameter], changed) -> None:
    """An override that makes the mucosal part of a partly swallowed route negative or undefined: one line naming the
    fields (a total F below the oral F gave a negative dose without a word, an oral F of 1 a ZeroDivisionError)."""
    if not ({_ORAL_F, *TOTAL_F_WITH_SWALLOWED_PART} & set(changed)) or _ORAL_F not in lit:
        return
    oral = lit[_ORAL_F].value
    if oral >= 1.0:
        raise ParameterSetError(f"{_ORAL_F}: must be below 1 (the swallowed part of {' and '.join(TOTAL_F_WITH_SWALLOWED_PART)} "
                                f"is split by it), got {oral:g}")
    for name in TOTAL_F_WITH_SWALLOWED_PART:
        if name in lit and lit[name].value < oral:
            raise ParameterSetError(f"{name}: a total bioavailability cannot be below the oral F of its swallowed part "
                                    f"({_ORAL_F} {oral:g}), got {lit[name].value:g}")


def _finite_value(name: str, v, unit: str) -> float:
    """``v`` as a float, or one line naming the parameter (None gave a TypeError, 'x' a ValueError, NaN ran)."""
    try:
        x = None if isinstance(v, (bool, str, bytes)) else float(v)
    except (TypeError, ValueError):
        x = None
    if x is None or not math.isfinite(x):
        raise ParameterSetError(f"{name}: expected a finite number ({unit}), got {v!r}"[:200])
    return x


@lru_cache(maxsize=4096)
def _converted(value: float, unit: str, target: str, name: str) -> float:
    if unit == target:
        return value
    return convert(value, unit, target, f"parameter {name}")


def _read_literature(path) -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    for row in csv.DictReader(lines):
        name = row["name"].strip()
        if name in out:
            raise ParameterSetError(f"parameter {name!r} is defined twice")
        if None in row:   # an unquoted comma in a source or note: the rest would be silently dropped
            raise ParameterSetError(f"parameter {name!r}: more than 6 fields (quote text that contains commas)")
        if not row.get("source", "").strip() or not row.get("unit", "").strip():
            raise ParameterSetError(f"parameter {name!r} lacks a unit or a source")
        out[name] = Parameter(name, float(row["value"]), row["unit"].strip(), row["source"].strip(),
                              row["confidence"].strip(), (row.get("note") or "").strip())
    return out


def _read_free(path) -> tuple[dict[str, Parameter], str, str]:
    free, version, run, _, _ = _read_free_with_posterior(path)
    return free, version, run


def _read_free_with_posterior(path):
    """(free parameters, version, calibration run, posterior, between-trial block) of a parameter JSON. A file that
    is not one (another JSON ketasim writes, not JSON at all, an entry without value or unit) is one line naming the
    file (ParameterSetError)."""
    name = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ParameterSetError(f"{name}: not a text file, so not a parameter set (JSON written by `ketasim "
                                "calibrate`)") from None
    except json.JSONDecodeError as e:
        raise ParameterSetError(f"{name}: not JSON ({e.msg} at line {e.lineno}), so not a parameter set (JSON written "
                                "by `ketasim calibrate`)") from None
    table = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        what = ""
        if isinstance(data, dict):
            what = ("; this is a trial result written by ketasim" if "arms" in data and "ketasim_version" in data
                    else "; this is a personal plan written by ketasim" if {"fit", "plans"} <= set(data)
                    else "; this is a sensitivity result written by ketasim" if "method" in data and "endpoint" in data
                    else "")
        raise ParameterSetError(f"{name}: not a parameter set written by `ketasim calibrate` (it has no "
                                f"'parameters' mapping{what})")
    run = data.get("calibration_run", "")
    free = {}
    for k, v in table.items():
        try:
            free[k] = Parameter(k, float(v["value"]), str(v["unit"]), f"calibration: {run}", "calibrated",
                                v.get("note", ""))
        except (TypeError, KeyError, ValueError):
            raise ParameterSetError(f"{name}: parameters.{k}: expected {{value: NUMBER, unit: TEXT, ...}}, got "
                                    f"{str(v)[:60]!r}") from None
        if not math.isfinite(free[k].value):      # NaN or inf: every patient's solution would be NaN
            raise ParameterSetError(f"{name}: parameters.{k}: the value must be a finite number, got "
                                    f"{v['value']!r}")
    return free, data.get("version", "unversioned"), run, data.get("posterior"), data.get("between_trial")


@lru_cache(maxsize=64)
def _data_path(name: str):
    return resources.files("ketasim") / "data" / name


def _file_stamp(path) -> tuple[int, ...]:
    """(inode, modification and change times ns, size) of a file: part of :func:`load_parameters`' cache key, so that
    a file edited or replaced in place (``install-parameters``, ``posterior-draws``, a hand edit) is read again in the
    same process. An atomic replacement (a new inode) is always seen; a same-size rewrite within one tick of a coarse
    file clock (FAT 2 s, HFS+ 1 s) is not: ``load_parameters.cache_clear()`` after such an edit."""
    try:
        st = os.stat(path)
    except (OSError, TypeError):        # a resource that is not a file on disk (e.g. inside a zip): path alone
        return (0,)
    return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size


def load_parameters(free_path: str | None = None) -> ParameterSet:
    """The default parameter set (or one with free parameters from ``free_path``). Cached per file and file version
    (path, modification time, size)."""
    if free_path is not None and not (isinstance(free_path, (str, os.PathLike)) and os.path.isfile(free_path)):
        raise ParameterSetError(f"free_path: {str(free_path)[:200]}: no such parameter file")
    fp = free_path or _data_path("free_parameters.json")
    return _load_parameters(free_path, _file_stamp(fp), _file_stamp(_data_path("parameters.csv")))


@lru_cache(maxsize=8)
def _load_parameters(free_path, free_stamp, literature_stamp) -> ParameterSet:
    lit = _read_literature(_data_path("parameters.csv"))
    fp = free_path or _data_path("free_parameters.json")
    free, version, run, posterior, between = _read_free_with_posterior(fp)
    return ParameterSet(MappingProxyType(lit), MappingProxyType(free), version, run, posterior, between)


load_parameters.cache_clear = _load_parameters.cache_clear     # callers that replace a file clear the cache
