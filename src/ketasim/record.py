"""A patient's record: doses, observations and covariates, one row per event (NONMEM style).

Accepted forms (all validated by the same code, so every error is one line naming the row and column):

* a CSV file, one row per event, columns (case-insensitive)::

      ID, TIME, EVID, AMT, AMTU, DUR, DRUG, ROUTE, DV, DVID, WT, AGE, SEX, CRP, GENOTYPE, COMED

  ``TIME`` hours from the start of the record; ``EVID`` 1 = dose, 0 = observation; ``AMT`` with ``AMTU``
  (``mg`` or ``mg/kg``; none for a placebo or the start of an ``oral-antidepressant``); ``DUR`` infusion duration in hours; ``DRUG``/``ROUTE`` ketasim's names;
  ``DV`` the observed value of ``DVID`` (:data:`DVIDS`); ``WT`` kg, ``AGE`` years, ``SEX`` ``F``/``M`` (or
  female/male); optional ``CRP`` mg/L, ``GENOTYPE`` (BDNF ``val/val``, ``val/met``, ``met/met``), ``COMED``
  (comedications separated by ``;``, ``+`` or ``,``). Covariates may be given on the first row only.
* a YAML file: either a list of such rows, or a mapping with ``events:`` (the rows) and any column as a
  top-level key that applies to every row (e.g. ``WT: 80``);
* a pandas DataFrame with the same columns (:func:`record_from_frame`); there ``TIME`` and ``DUR`` may also be
  durations (``timedelta64``, ``pd.Timedelta``), converted to hours.

Meaning: an observation row with an empty ``DV`` is a forecast point; dose rows after the last observed value
are the planned future regimen; a record with no observed values gives the population (prior) forecast for
this patient. Nothing is dropped silently: an unknown column, an unsorted time, a dose without unit, an
unknown DVID, a value outside its scale or a second patient ID stops with an error.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

import numpy as np

from .errors import InputError, KetasimError, argument
from .patient import SEX_SPELLINGS
from .population import GENOTYPES, SCALES, canonical_comedication, check_comedications
from .regimen import (Dose, Drug, Route, dose_units, group_sessions, intranasal_esketamine_per_kg_refusal,
                      parse_drug, parse_route)
from .units import _PER_AREA, to_hours_factor


class RecordError(InputError):
    """A patient record cannot be read (names the row and column)."""


COLUMNS = ("ID", "TIME", "EVID", "AMT", "AMTU", "DUR", "DRUG", "ROUTE", "DV", "DVID", "WT", "AGE", "SEX", "CRP",
           "GENOTYPE", "COMED")
COVARIATES = ("WT", "AGE", "SEX", "CRP", "GENOTYPE", "COMED")
#: Observable quantities: DVID -> (trajectory variable, lowest, highest, unit).
DVIDS = {
    **{s: ("score", 0.0, SCALES[s][0], f"{s} points") for s in SCALES},
    "cp_ketamine_ng_ml": ("cp_ketamine_ng_ml", 0.0, 1e5, "ng/mL"),
    "cp_s_ketamine_ng_ml": ("cp_s_ketamine_ng_ml", 0.0, 1e5, "ng/mL"),
    "sbp_change_mmhg": ("sbp_change_mmhg", -100.0, 150.0, "mmHg"),
    "cadss": ("cadss", 0.0, 92.0, "CADSS points"),
}
SCORE_DVIDS = tuple(SCALES)
MAX_ROWS = 20_000
#: A record file is read with bounded memory: at most this many bytes (20,000 rows of up to ~800 characters).
MAX_RECORD_BYTES = 16 << 20


@dataclasses.dataclass(frozen=True)
class Observation:
    time_h: float
    dvid: str
    value: float | None          # None: a forecast point
    row: int                     # 1-based data row of the record

    @property
    def variable(self) -> str:
        return DVIDS[self.dvid][0]


@dataclasses.dataclass(frozen=True)
class PatientRecord:
    """One patient's validated record. Times are hours on the record's own clock."""

    id: str
    weight_kg: float
    age_years: float
    female: bool
    doses: tuple[Dose, ...]
    observations: tuple[Observation, ...]        # observed values (DV given)
    forecast_points: tuple[Observation, ...]     # rows with an empty DV
    scale: str                                   # the rating scale of the record
    crp_mg_l: float | None = None
    genotype: str | None = None
    comedications: tuple[str, ...] = ()          # in ketasim's words (population.canonical_comedication)
    source: str = "record"
    comedications_as_written: tuple[str, ...] = ()   # the COMED entries as the record wrote them

    @property
    def condition(self) -> str:
        return SCALES[self.scale][2]

    @property
    def last_observation_h(self) -> float:
        """Time of the last observed value (0 when there is none)."""
        return max((o.time_h for o in self.observations), default=0.0)

    @property
    def past_doses(self) -> tuple[Dose, ...]:
        """Doses up to the last observed value (with no observation: those at time 0)."""
        t = self.last_observation_h
        return tuple(d for d in self.doses if d.at_h <= t)

    @property
    def planned_doses(self) -> tuple[Dose, ...]:
        """Doses after the last observed value (the planned future regimen)."""
        t = self.last_observation_h
        return tuple(d for d in self.doses if d.at_h > t)

    def scores(self) -> list[Observation]:
        return [o for o in self.observations if o.dvid == self.scale]

    def baseline_guess(self) -> float | None:
        """The first score observed before (or at) the first dose, if any."""
        t0 = min((d.at_h for d in self.doses), default=math.inf)
        first = [o.value for o in self.scores() if o.time_h <= t0]
        return first[0] if first else None

    def population_spec(self, baseline: tuple[float, float] | None = None):
        """A PopulationSpec of one patient with this record's covariates (random effects are sampled)."""
        from .population import Distribution, PopulationSpec, default_baseline

        b = baseline or default_baseline(self.scale, f"DV ({self.scale}): a score before the first dose")
        return PopulationSpec(size=1, condition=self.condition, scale=self.scale, baseline=Distribution(*b),
                              weight_kg=Distribution(self.weight_kg, 0.0), age_years=Distribution(self.age_years, 0.0),
                              female_fraction=1.0 if self.female else 0.0, comedications=self.comedications,
                              genotype=self.genotype, crp_mg_l=self.crp_mg_l)

    def to_scenario_dict(self, *, size: int = 1, name: str | None = None) -> dict:
        """The record as a scenario mapping (YAML contract): one arm with the record's doses."""
        from .population import default_baseline

        base = self.baseline_guess()
        b_mean, b_sd = (0.0, 0.0) if base is not None else default_baseline(
            self.scale, f"DV ({self.scale}): a score before the first dose")
        pop = {"size": size, "condition": self.condition, "scale": self.scale,
               "baseline": {"mean": float(base if base is not None else b_mean), "sd": 0.0 if base is not None else b_sd},
               "weight_kg": {"mean": self.weight_kg, "sd": 0.0}, "age_years": {"mean": self.age_years, "sd": 0.0},
               "female_fraction": 1.0 if self.female else 0.0, "comedications": list(self.comedications)}
        if self.genotype:
            pop["genotype"] = self.genotype
        if self.crp_mg_l is not None:
            pop["crp_mg_l"] = self.crp_mg_l
        if not self.doses:
            raise RecordError(f"{self.source}: the record has no dose rows (EVID 1) to simulate")
        lines = [dose_line(d) for d in self.doses]
        return {"name": name or f"patient {self.id}", "seed": 0, "population": pop, "arms": {"record": lines}}

    def to_scenario(self, data: dict | None = None, *, size: int = 1):
        """The record as a Scenario (``data``: its :meth:`to_scenario_dict`, perhaps changed; default that of
        ``size`` copies of the patient), its doses in mg judged at the record's WT as its rows were when read (a
        WT-240 record's 800 mg, 3.3 mg/kg, was refused at the 70-kg reference weight by `plan` and `simulate
        --events`: review s45 S8). The dose warnings are not repeated (they came when the record was read). The one
        way `plan`, `simulate --events` and the plan page rebuild a record's scenario."""
        import warnings

        from .errors import DoseWarning
        from .scenario import scenario_from_dict

        data = self.to_scenario_dict(size=size) if data is None else data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DoseWarning)
            return scenario_from_dict(data, dose_weight_kg=self.weight_kg, weight_of="the record's WT")

    def to_frame(self):
        """The record back as a NONMEM-style DataFrame (one row per event, sorted by time)."""
        import pandas as pd

        rows = []
        for d in self.doses:
            rows.append({"TIME": d.at_h, "EVID": 1, "AMT": d.amount, "AMTU": "mg/kg" if d.per_kg else "mg",
                         "DUR": d.duration_h if d.route is Route.IV_INFUSION else np.nan, "DRUG": d.drug.value,
                         "ROUTE": d.route.value, "DV": np.nan, "DVID": ""})
        for o in (*self.observations, *self.forecast_points):
            rows.append({"TIME": o.time_h, "EVID": 0, "AMT": np.nan, "AMTU": "", "DUR": np.nan, "DRUG": "",
                         "ROUTE": "", "DV": np.nan if o.value is None else o.value, "DVID": o.dvid})
        df = pd.DataFrame(rows).sort_values(["TIME", "EVID"], kind="stable").reset_index(drop=True)
        df.insert(0, "ID", self.id)
        df["WT"], df["AGE"], df["SEX"] = self.weight_kg, self.age_years, "F" if self.female else "M"
        df["CRP"] = np.nan if self.crp_mg_l is None else self.crp_mg_l
        df["GENOTYPE"] = self.genotype or ""
        df["COMED"] = ";".join(self.comedications)
        return df

    def replace(self, **changes) -> "PatientRecord":
        return dataclasses.replace(self, **changes)


def _fmt_h(h: float) -> str:
    return f"{h:.10g} h"


def dose_line(d: Dose, *, every_h: float | None = None, count: int | None = None) -> dict:
    """A dose as a scenario YAML line (``at`` on the record's clock)."""
    unit = "mg/kg" if d.per_kg else "mg"
    line = {"drug": d.drug.value, "route": d.route.value}
    if d.amount:
        line["dose"] = f"{d.amount:.6g} {unit}"
    if d.route is Route.IV_INFUSION:
        line["duration"] = f"{d.duration_h * 60:.6g} min"
    line["at"] = _fmt_h(d.at_h)
    every = d.every_h if every_h is None else every_h
    n = d.count if count is None else count
    if n > 1:
        line["every"] = _fmt_h(every)
        line["count"] = int(n)
    return line


# ---- parsing ------------------------------------------------------------------------------------------------
def _blank(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() in ("", ".", "NA", "nan", "NaN")


class _Row:
    def __init__(self, data: dict, index: int, source: str):
        self.d, self.i, self.src = data, index, source

    def err(self, col: str, msg: str) -> RecordError:
        return RecordError(f"{self.src} row {self.i}, column {col}: {msg}")

    def has(self, col: str) -> bool:
        return not _blank(self.d.get(col))

    def text(self, col: str) -> str:
        return str(self.d.get(col)).strip()

    def num(self, col: str, lo: float = -math.inf, hi: float = math.inf, unit: str = "") -> float:
        v = self.d.get(col)
        if _blank(v):
            raise self.err(col, "a value is required here")
        if isinstance(v, bool):
            raise self.err(col, f"expected a number, got {v!r}")
        try:
            x = float(str(v).strip()) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            raise self.err(col, f"expected a number, got {v!r}{_number_hint(col, v)}") from None
        if not math.isfinite(x):
            raise self.err(col, f"expected a finite number, got {v!r}")
        if not (lo <= x <= hi):
            if hi == math.inf:          # was "-0.5 is outside 0-inf"
                raise self.err(col, f"must be >= {lo:g}{' ' + unit if unit else ''}, got {x:g}")
            raise self.err(col, f"{x:g} is outside {lo:g}-{hi:g}{' ' + unit if unit else ''}")
        return x


#: the unit a column's bare number is in (a value typed with its unit, '40 min', '75 kg', is refused with it)
_COLUMN_UNITS = {"TIME": ("hour", "hours"), "DUR": ("hour", "hours"), "WT": ("kg", "kg"), "AGE": ("year", "years"),
                 "CRP": ("mg/L", "mg/L")}   # '2 mg/dL' (US labs) is 20 mg/L: CRP said only 'expected a number'


def _number_hint(col: str, v) -> str:
    """What to write instead of a value typed with its unit or a word ('40 min' in DUR, '0.5 mg/kg' in AMT, 'dose'
    in EVID): the record's columns are bare numbers in fixed units. '' when there is nothing to add."""
    if col == "EVID":
        return " (1 for a dose, 0 for an observation)"
    if col == "DV" and isinstance(v, str) and re.match(r"^\s*(<|BLQ|BLOQ|BQL|LLOQ|<LLOQ|ND|NQ|NA|N/A)\b|^\s*<",
                                                       v, re.IGNORECASE):
        # a lab's '<0.5' or 'BLQ' (below the limit of quantification) was only 'expected a number'
        return ("; a value below the assay's limit of quantification (or not done) is not read: leave the row out "
                "(an empty DV is a forecast point, not a missing value)")
    if col == "TIME" and (hasattr(v, "year") and hasattr(v, "month") or isinstance(v, str) and re.match(
            r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})", v)):
        # a clinic's record has dates and clock times: say how to turn them into the hours TIME is
        return ("; TIME is hours from the first row, not a date: convert it, e.g. in pandas (df.TIME - "
                "df.TIME.iloc[0]) / pd.Timedelta('1h')")
    if not isinstance(v, str):
        return ""
    if not re.match(r"^\s*[-+]?(\d+\.?\d*|\.\d+)", v):        # 'day 2', 'baseline'
        return f"; {col} is a number of {_COLUMN_UNITS[col][1]}" if col in _COLUMN_UNITS else ""
    if col == "AMT":
        return "; AMT is the number alone, its unit goes in AMTU (mg or mg/kg)"
    if col == "DV":
        return "; DV is the number alone, in the unit of its DVID"
    if col not in _COLUMN_UNITS:
        return ""
    target, unit = _COLUMN_UNITS[col]
    try:
        from .units import parse_quantity, parse_time_h

        x = parse_time_h(v, col) if target == "hour" else parse_quantity(v, target, col)
    except (KetasimError, ValueError, TypeError, ArithmeticError):
        return f"; {col} is a number of {unit}, without a unit"
    return f"; {col} is a number of {unit}, without a unit: write {x:.4g}"


#: What a NONMEM data set's other columns are written as here (a NONMEM user's MDV or ADDL got only "unknown
#: column"; ADDL/II dropped silently would lose doses, so they stay refused)
NONMEM_COLUMNS = {
    "MDV": "remove it: an observation row with an empty DV is a forecast point, one with a value is observed",
    "CMT": "remove it: ROUTE says where a dose goes, e.g. iv-infusion or intranasal, and DVID what was measured",
    "ADDL": "write each dose as its own row: ADDL/II repeats are not read",
    "II": "write each dose as its own row: ADDL/II repeats are not read",
    "SS": "steady-state doses are not read: write the doses that led to it as rows",
    "RATE": "give an infusion's duration in DUR, in hours, and the whole dose in AMT",
}


#: other names of the record's columns ('WEIGHT', 'DOSE', 'TIME_H', 'WT_KG'): said as 'use TIME (hours)'
_COLUMN_ALIASES = {"WEIGHT": "WT", "BW": "WT", "BODYWEIGHT": "WT", "DOSE": "AMT", "AMOUNT": "AMT", "UNIT": "AMTU",
                   "DURATION": "DUR", "GENDER": "SEX", "SUBJECT": "ID", "PATIENT": "ID", "VALUE": "DV", "SCORE": "DV",
                   "T": "TIME", "HOURS": "TIME"}
_COLUMN_MEANING = {"TIME": "hours from the first row", "WT": "kg", "AGE": "years", "DUR": "hours", "CRP": "mg/L",
                   "AMT": "its unit in AMTU", "DV": "the value of DVID"}


def _column_meant(name) -> str | None:
    """The record column an unknown one stands for: an alias ('WEIGHT', 'DOSE') or a known column with its unit
    appended ('TIME_H', 'WT_KG', 'AGE (years)')."""
    low = str(name).strip().upper()
    if low in _COLUMN_ALIASES:
        return _COLUMN_ALIASES[low]
    head = re.split(r"[\s_(\[.]", low, maxsplit=1)[0]
    if head != low and head in _COLUMN_ALIASES:         # 'weight_kg' (the scenario's name), 'dose_mg'
        return _COLUMN_ALIASES[head]
    return head if head != low and head in COLUMNS else None


def _unknown_column(where: str, name, what: str = "column") -> RecordError:
    hint = NONMEM_COLUMNS.get(str(name).strip().upper())
    meant = None if hint else _column_meant(name)
    if meant:
        unit = _COLUMN_MEANING.get(meant)
        hint = f"use {meant}" + (f" ({unit})" if unit else "")
        # TIME_D or DUR_MIN renamed as told would read days or minutes as hours (review s39 R8-1): say the factor
        factor = to_hours_factor(name) if meant in ("TIME", "DUR") else None
        if factor:
            hint += f": convert the values to hours ({factor})"
    return RecordError(f"{where}, {what} {name}: unknown column" + (f"; {hint}" if hint else "")
                       + f"; known columns: {', '.join(COLUMNS)}")


def _normalise_rows(rows: list, source: str) -> list[dict]:
    if not isinstance(rows, list) or not rows:
        raise RecordError(f"{source}: the record has no rows")
    if len(rows) > MAX_ROWS:
        raise RecordError(f"{source}: {len(rows)} rows is more than the {MAX_ROWS} supported")
    out = []
    for i, r in enumerate(rows, start=1):
        if not isinstance(r, dict):
            raise RecordError(f"{source} row {i}: expected a mapping of columns (ID, TIME, EVID, ...)")
        d = {}
        for k, v in r.items():
            key = str(k).strip().upper()
            if key not in COLUMNS:
                raise _unknown_column(f"{source} row {i}", k)
            d[key] = v
        out.append(d)
    return out


def record_from_rows(rows: list, *, source: str = "record", patient_id=None) -> PatientRecord:
    """Validate a list of row mappings (column -> value) into a :class:`PatientRecord`."""
    from .errors import InvalidRegimenError

    rows = _normalise_rows(rows, source)
    for col in ("TIME", "EVID"):
        if all(col not in r for r in rows):
            raise RecordError(f"{source}: column {col} is missing (required columns: ID, TIME, EVID)")
    R = [_Row(r, i, source) for i, r in enumerate(rows, start=1)]
    # one patient
    ids = [(row, row.text("ID") if row.has("ID") else None) for row in R]
    present = [i for _, i in ids if i is not None]
    if patient_id is not None:
        want = str(patient_id).strip()
        if want not in present:
            # named the ID only: which option chose it, and which IDs there are (the plan page has the field too)
            ids = list(dict.fromkeys(present))
            listed = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
            raise RecordError(f"{source}: no rows with ID {want} ({argument('patient_id', '--id')}); its IDs: "
                              f"{listed or 'none (no ID column)'}")
        R = [row for row, i in ids if i == want]
    else:
        first = present[0] if present else "1"
        for row, i in ids:
            if i is not None and i != first:
                raise row.err("ID", f"a second patient ID ({i}) after {first}; give one patient per record "
                                    f"(or choose one with {argument('patient_id', '--id')})")
    pid = str(patient_id).strip() if patient_id is not None else (present[0] if present else "1")
    # covariates: constant per patient; may be given on the first row only
    cov = {}
    for c in COVARIATES:
        for row in R:
            if row.has(c):
                v = row.text(c)
                if c in cov and cov[c][0] != v:
                    # numeric columns may differ only in formatting
                    try:
                        same = float(cov[c][0]) == float(v)
                    except ValueError:
                        same = False
                    if not same:
                        raise row.err(c, f"changes within the record ({cov[c][0]} in row {cov[c][1].i}, {v} here); "
                                         "ketasim uses one value per patient")
                else:
                    cov.setdefault(c, (v, row))
    for c in ("WT", "AGE", "SEX"):
        if c not in cov:
            raise RecordError(f"{source} row {R[0].i}, column {c}: the covariate is required (on the first row at least)")
    weight = cov["WT"][1].num("WT", 20, 250, "kg")
    age = cov["AGE"][1].num("AGE", 12, 100, "years")
    sex = SEX_SPELLINGS.get(str(cov["SEX"][0]).strip().lower())     # F/M or female/male, any case
    if sex is None:
        raise cov["SEX"][1].err("SEX", f"use F or M, got {cov['SEX'][0]!r}")
    crp = cov["CRP"][1].num("CRP", 0, 300, "mg/L") if "CRP" in cov else None
    genotype = None
    if "GENOTYPE" in cov:
        genotype = cov["GENOTYPE"][0].lower()
        if genotype not in GENOTYPES:
            raise cov["GENOTYPE"][1].err("GENOTYPE", f"unknown BDNF genotype {cov['GENOTYPE'][0]!r}; use {', '.join(GENOTYPES)}")
    comeds: tuple[str, ...] = ()
    written: tuple[str, ...] = ()
    if "COMED" in cov:
        # ';', '+' or ',' between entries (a quoted CSV cell 'clarithromycin, grapefruit juice', as --comedication
        # takes them, was one unknown comedication)
        written = tuple(c.strip() for c in re.split(r"[;+,]", cov["COMED"][0]) if c.strip() and c.strip().lower() != "none")
        # kept in ketasim's words ('grapefruit juice', 'rifampin for 5 days' stayed as typed in the plan's JSON and
        # text: 'grapefruit-juice', 'rifampicin for 5 d'), each inducer or inhibitor once, as a scenario's
        try:
            canon = [canonical_comedication(c.lower(), "COMED") for c in written]
            comeds = tuple(sorted(set(canon)))
            check_comedications(comeds, "COMED")
        except InputError as e:
            raise cov["COMED"][1].err("COMED", str(e).removeprefix("COMED: ")) from None
    # events
    doses, obs, fc = [], [], []
    last_t = -math.inf
    scale = None
    for row in R:
        t = row.num("TIME", 0, 24 * 365 * 5, "h")
        if t < last_t:
            raise row.err("TIME", f"times must not decrease ({t:g} h after {last_t:g} h); sort the rows by TIME")
        last_t = t
        evid = row.num("EVID")
        if evid not in (0.0, 1.0):
            raise row.err("EVID", f"use 1 for a dose or 0 for an observation, got {row.text('EVID')}")
        if evid == 1:
            for c in ("DV", "DVID"):
                if row.has(c):
                    raise row.err(c, "a dose row (EVID 1) cannot carry an observation")
            for c in ("DRUG", "ROUTE"):
                if not row.has(c):
                    raise row.err(c, "a dose row needs a value")
            try:
                drug = parse_drug(row.text("DRUG"), "DRUG")
                route = parse_route(row.text("ROUTE"), "ROUTE")
            except InvalidRegimenError as e:
                col = str(e).split(":", 1)[0]
                raise row.err(col, str(e).split(": ", 1)[1]) from None
            amount, per_kg = 0.0, False
            # an oral antidepressant's start needs no amount (the model starts the treatment; a scenario line has no
            # dose): the record asked for one with 'column AMT: a value is required here'
            if drug not in (Drug.PLACEBO, Drug.ORAL_ANTIDEPRESSANT) or row.has("AMT"):
                amount = row.num("AMT", 0, math.inf)
                accepted = dose_units(drug, route)
                units = " or ".join(sorted(accepted, key=len))      # 'mg or mg/kg'; intranasal esketamine: 'mg'
                if not row.has("AMTU"):
                    raise row.err("AMTU", f"the dose unit is missing; use {units}")
                u = row.text("AMTU").lower().replace(" ", "")
                if u not in ("mg", "mg/kg"):
                    per_area = _PER_AREA.search(u)      # mg/m2: say why, not only 'unknown'
                    raise row.err("AMTU", f"{'dosing per body surface area' if per_area else 'unknown dose unit'} "
                                          f"{row.text('AMTU')!r}{' is not supported' if per_area else ''}; use {units}")
                per_kg = u == "mg/kg"
                if per_kg and "mg/kg" not in accepted:
                    # the unit is what is wrong: AMTU (Dose's own refusal names the dose, AMT)
                    raise row.err("AMTU", intranasal_esketamine_per_kg_refusal())
                if drug in (Drug.PLACEBO, Drug.ORAL_ANTIDEPRESSANT) and amount > 0:
                    # a scenario's 'dose: 20 mg' of either warns that it is ignored; the record's AMT was silent
                    import warnings

                    from .errors import RecordWarning

                    why = ("an oral antidepressant's dose is not modelled (a newly started antidepressant at its "
                           "usual dose gives the same relief whatever the amount)" if drug is Drug.ORAL_ANTIDEPRESSANT
                           else "a placebo has no drug amount (it acts through expectancy alone)")
                    warnings.warn(f"{source} row {row.i}, column AMT: {why}; {amount:g} {u} is ignored (leave AMT "
                                  "empty)", RecordWarning, stacklevel=2)
            dur = 0.0
            if route is Route.IV_INFUSION:
                if not row.has("DUR") and drug is not Drug.PLACEBO:
                    raise row.err("DUR", "an iv-infusion needs its duration in hours (e.g. 0.6667 for 40 min)")
                if row.has("DUR") and row.num("DUR") > 24:
                    # DUR 40 (minutes typed into an hours column) said only "40 is outside 0-24 h"
                    x = row.num("DUR")
                    raise row.err("DUR", f"{x:g} is outside 0-24 h; DUR is in hours (if {x:g} min was meant, write "
                                         f"{x / 60:.4g})")
                dur = row.num("DUR", 0, 24, "h") if row.has("DUR") else 40 / 60
            elif row.has("DUR") and row.num("DUR") != 0:
                raise row.err("DUR", f"only an iv-infusion has a duration (route is {route.value})")
            def named(message: str) -> str:      # 'SOURCE row 2.dose: ...' -> 'SOURCE row 2, column AMT: ...'
                return (message.replace(".dose:", ", column AMT:").replace(".duration:", ", column DUR:")
                        .replace(".route:", ", column ROUTE:"))

            try:
                import warnings

                with warnings.catch_warnings(record=True) as caught:   # a dose in the anesthetic range warns,
                    warnings.simplefilter("always")                    # naming the row and column
                    # judged at the record's WT (a dose in mg was judged at the 70-kg reference weight)
                    doses.append(Dose(drug, route, amount, per_kg, dur, t, 0.0, 1, f"{source} row {row.i}",
                                      weight_kg=weight))
            except KetasimError as e:
                raise RecordError(named(str(e))) from None
            for w in caught:
                warnings.warn(named(str(w.message)), w.category, stacklevel=2)
        else:
            for c in ("AMT", "AMTU", "DRUG", "ROUTE"):
                if row.has(c):
                    raise row.err(c, "an observation row (EVID 0) cannot carry a dose")
            if not row.has("DVID"):
                raise row.err("DVID", f"an observation row needs DVID (one of {', '.join(DVIDS)})")
            dvid = row.text("DVID").lower()
            if dvid not in DVIDS:
                from .population import scale_lookup

                # a scale as users write it ('HAM-D17', 'HDRS-21', 'IES-R') is its DVID; 'HAM-D' (which version?)
                # says which ones there are, as population.scale does, instead of listing every DVID
                alias, note = scale_lookup(row.text("DVID"))
                if alias in DVIDS:
                    dvid = alias
                elif note:
                    raise row.err("DVID", f"unknown DVID {row.text('DVID')!r}: {note}")
                else:
                    raise row.err("DVID", f"unknown DVID {row.text('DVID')!r}; use one of {', '.join(DVIDS)}")
            if dvid in SCORE_DVIDS:
                if scale is not None and dvid != scale:
                    raise row.err("DVID", f"a second rating scale ({dvid}) after {scale}; one scale per record")
                scale = dvid
            value = None
            if row.has("DV"):
                _, lo, hi, unit = DVIDS[dvid]
                value = row.num("DV", lo, hi, unit)
            (obs if value is not None else fc).append(Observation(t, dvid, value, row.i))
    if scale is None:
        scale = "madrs"
    _warn_sessions_hours_apart(doses)
    return PatientRecord(pid, weight, age, sex == "female", tuple(doses), tuple(obs), tuple(fc), scale, crp, genotype,
                         comeds, source, written)


#: Sessions closer than this (h) are taken for TIME written in days (no clinical regimen gives ketamine sessions
#: hours apart)
SESSIONS_APART_WARN_H = 12.0


def _warn_sessions_hours_apart(doses) -> None:
    """Warn (RecordWarning) when two ketamine sessions start less than SESSIONS_APART_WARN_H apart: a record whose
    TIME was written in days (0, 3.5, 7, ...) was read as six infusions in 14 hours without a word (the plan then
    said only that the recorded plan broke the limits)."""
    import warnings

    from .errors import RecordWarning

    # the plan's session rule (regimen.group_sessions), over the rows' doses so that the warning names the row
    starts = [g[0] for g in group_sessions((d for d in doses if d.drug.is_ketamine), start_h=lambda d: d.at_h)]
    close = [(a, b) for a, b in zip(starts, starts[1:]) if b.at_h - a.at_h < SESSIONS_APART_WARN_H]
    if close:
        a, b = close[0]
        more = f"; {len(close) - 1} more session(s) as close" if len(close) > 1 else ""
        warnings.warn(f"{b.field}, column TIME: a ketamine session {b.at_h - a.at_h:g} h after the one at {a.at_h:g} h"
                      f"{more}; TIME is in hours from the start of the record: if days were meant, multiply by 24",
                      RecordWarning, stacklevel=3)


#: Columns in hours that a DataFrame may give as durations (pandas ``timedelta64`` / ``Timedelta``,
#: ``datetime.timedelta``, ``numpy.timedelta64``): converted to hours
_DURATION_COLUMNS = ("TIME", "DUR")


def _frame_value(col, v):
    """A DataFrame cell as the CSV reader would see it: a missing value (None, NaN, NaT) is blank, and a duration in
    TIME or DUR is its length in hours (``pd.Timedelta(hours=36)`` is 36); anything else is checked as before."""
    import datetime

    import pandas as pd

    if v is pd.NaT or (isinstance(v, np.timedelta64) and np.isnat(v)):
        return None
    if str(col).strip().upper() in _DURATION_COLUMNS:
        if isinstance(v, np.timedelta64):
            v = pd.Timedelta(v)
        if isinstance(v, datetime.timedelta):       # pd.Timedelta is one
            return v / datetime.timedelta(hours=1)
    return None if _blank(v) else v


def record_from_frame(df, *, source: str = "record", patient_id=None) -> PatientRecord:
    """A record from a pandas DataFrame with the CSV's columns. ``TIME`` (and ``DUR``) may be numbers of hours or
    durations (a ``timedelta64`` column, ``pd.Timedelta`` or ``datetime.timedelta`` values: converted to hours, e.g.
    ``pd.to_timedelta(df.TIME, unit="D")`` for a record kept in days); a missing value (NaN, None, NaT) is blank."""
    if not (hasattr(df, "to_dict") and hasattr(df, "columns")):
        # a list or dict stopped with AttributeError: 'list' object has no attribute 'to_dict'
        raise RecordError(f"{source}: expected a pandas DataFrame with the record's columns (ID, TIME, EVID, ...), "
                          f"got {type(df).__name__}; a list of row mappings is read by record_from_rows")
    rows = [{k: _frame_value(k, v) for k, v in r.items()} for r in df.to_dict(orient="records")]
    return record_from_rows(rows, source=source, patient_id=patient_id)


def read_record(path, *, patient_id=None) -> PatientRecord:
    """Read a record from a CSV (``.csv``/``.txt``) or YAML (``.yaml``/``.yml``) file."""
    from .io import read_text_input

    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        # None or a number stopped with TypeError: expected str, bytes or os.PathLike object
        raise RecordError(f"path: expected the record file's path (a .csv or .yaml file), got {type(path).__name__}"
                          f" {str(path)[:40]!r}")
    p = Path(path)
    if not p.exists():
        raise RecordError(f"{path}: no such file (a patient record: NONMEM-style CSV or YAML)")
    name = p.name
    yaml_file = p.suffix.lower() in (".yaml", ".yml")
    text = read_text_input(p, what="a patient record", max_bytes=MAX_RECORD_BYTES, name=name, error=RecordError,
                           save_as="UTF-8" if yaml_file else "UTF-8 (in Excel: 'CSV UTF-8 (comma delimited)')")
    if yaml_file or p.suffix.lower() == ".json":       # JSON is YAML
        return record_from_yaml(text, source=name, patient_id=patient_id)
    return record_from_csv_text(text, source=name, patient_id=patient_id)


def record_from_csv_text(text: str, *, source: str = "record", patient_id=None) -> PatientRecord:
    import csv
    import io

    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise RecordError(f"{source}: the file is empty")
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = [h.strip() for h in next(reader)]
    if len(header) == 1:                # a spreadsheet's export with another separator (as in --observed files)
        for sep, what in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            if sep in header[0]:
                raise RecordError(f"{source}: the header is separated by {what}: the file must be comma-separated "
                                  "(save as 'CSV UTF-8 (comma delimited)'; decimals with a point)")
    if not {"ID", "TIME", "EVID"} & {h.upper() for h in header}:   # a record without its header line
        raise RecordError(f"{source}: the first line is not a header (it reads {lines[0][:40]!r}); a record starts "
                          "with the column names, e.g. ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX")
    if len(set(h.upper() for h in header)) != len(header):
        raise RecordError(f"{source}: a column name appears twice in the header")
    for h in header:            # the header's fault, not row 1's ('row 1, column MDV: unknown column')
        if h.upper() not in COLUMNS:
            raise _unknown_column(f"{source} header", h)
    rows = []
    for i, vals in enumerate(reader, start=1):
        if len(vals) != len(header):
            raise RecordError(f"{source} row {i}: {len(vals)} values for {len(header)} columns")
        rows.append(dict(zip(header, vals)))
    if not rows:
        raise RecordError(f"{source}: the file has a header but no rows")
    return record_from_rows(rows, source=source, patient_id=patient_id)


def record_from_yaml(text: str, *, source: str = "record", patient_id=None) -> PatientRecord:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        from .io import yaml_error_text

        raise RecordError(f"{source}: not valid YAML{yaml_error_text(e, text)}") from None
    return record_from_mapping(data, source=source, patient_id=patient_id)


def record_from_mapping(data, *, source: str = "record", patient_id=None) -> PatientRecord:
    """A record from a list of rows, or ``{events: [...], <column>: value, ...}`` (columns shared by all rows)."""
    if isinstance(data, list):
        return record_from_rows(data, source=source, patient_id=patient_id)
    if not isinstance(data, dict) or "events" not in data:
        hint = ""
        if isinstance(data, dict) and ("ketasim_version" in data or {"fit", "plans"} <= set(data)):
            hint = "; this is a result file written by ketasim, not a patient record"
        elif isinstance(data, dict) and ("arms" in data or ({"population", "patient"} & set(data)
                                                            and not any(isinstance(v, list) for v in data.values()))):
            # a scenario has arms; {patient: {...}, rows: [...]} (a record with its rows misnamed) was called one
            hint = ("; this is a scenario (arms, population): run it with `ketasim simulate FILE` or `ketasim trial "
                    "FILE`")
        if isinstance(data, dict) and not hint:        # 'event:' or 'rows:' for 'events:'
            lists = [k for k, v in data.items() if isinstance(v, list)]
            if len(lists) == 1:
                hint = f"; found {str(lists[0])[:30]!r}, a list: name it 'events'"
        raise RecordError(f"{source}: expected a list of rows or a mapping with 'events' (a list of rows){hint}")
    shared = {k: v for k, v in data.items() if k != "events"}
    for k in shared:
        if str(k).strip().upper() not in COLUMNS:
            raise _unknown_column(source, k, "key")
    events = data["events"]
    if not isinstance(events, list):
        raise RecordError(f"{source}, key events: expected a list of rows")
    rows = [({**shared, **e} if isinstance(e, dict) else e) for e in events]
    return record_from_rows(rows, source=source, patient_id=patient_id)


def as_record(obj, *, patient_id=None) -> PatientRecord:
    """Anything accepted as a record: a PatientRecord, a path, a DataFrame, a list of rows or a mapping."""
    if isinstance(obj, PatientRecord):
        return obj
    if isinstance(obj, (str, Path)):
        return read_record(obj, patient_id=patient_id)
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
        return record_from_frame(obj, patient_id=patient_id)
    return record_from_mapping(obj, patient_id=patient_id)


__all__ = ["PatientRecord", "Observation", "RecordError", "read_record", "record_from_rows", "record_from_frame",
           "record_from_mapping", "record_from_yaml", "record_from_csv_text", "as_record", "dose_line", "DVIDS"]


def record_message(msg: str, name: str) -> str:
    """A cumulative-dose warning of a record's arm in the record's words (its file, this patient)."""
    return (msg.replace(RECORD_ARM_WARNING, f"{name}: together the record's doses", 1)
            .replace("arms.record: its dose is", f"{name}: the record's dose is", 1)
            .replace("the typical patient's", "this patient's (typical random effects)", 1))


#: How the cumulative check names a record's arm (``PatientRecord.to_scenario_dict``'s arm 'record')
RECORD_ARM_WARNING = "arms.record: together its doses"


def without_anesthetic_doses(scenario, weight_kg: float | None):
    """A record's scenario (``PatientRecord.to_scenario``) for the cumulative anesthetic check: each arm less its doses
    alone in the anesthetic range at ``weight_kg`` (kg: the record's WT; each warned when the record was read), an
    arm left with none dropped; None when no arm is left. The check leaves out an arm with a dose alone in the range
    (one warning is enough), so one anesthetic dose days earlier silenced the record's own later back-to-back pushes
    (review s45 T4), as the past did a plan's alternative (``alternative_anesthetic_warnings``, review s45 S3). An arm
    with a titration rule is kept whole (its rule names a line by its index; a record's arm has none)."""
    import dataclasses

    arms = []
    for arm in scenario.arms:
        if arm.titration is None:
            arm = dataclasses.replace(arm, doses=tuple(d for d in arm.doses if not d.in_anesthetic_range(weight_kg)))
        if arm.doses:
            arms.append(arm)
    if not arms:
        return None
    if len(arms) == len(scenario.arms) and all(a is b for a, b in zip(arms, scenario.arms)):
        return scenario
    return scenario.replace(arms=tuple(arms))


def record_anesthetic_warnings(record, params=None) -> list[str]:
    """A record's doses that add up to the anesthetic range (none alone in it), as ``simulate`` warns of an arm's:
    two 0.9 mg/kg pushes 6 min apart warned with `simulate --events` and not at all with `plan` or the plan page.
    A dose alone in the range (at the record's WT) warned when the record was read and is left out here, so that it
    does not silence the record's other doses (:func:`without_anesthetic_doses`). Messages name the record's file.
    [] without doses."""
    from .engine import cumulative_anesthetic_arms

    if not record.doses:
        return []
    # judged at the record's WT; each dose's own warning came when it was read
    sc = without_anesthetic_doses(record.to_scenario(), record.weight_kg)
    if sc is None:
        return []           # every dose alone in the range: each warned when the record was read
    name = Path(str(record.source)).name
    # judged at the record's WT, as its rows were (its dose lines alone are judged at the 70-kg reference weight)
    return [record_message(msg, name) for _, msg in cumulative_anesthetic_arms(sc, params,
                                                                               record_weight_kg=record.weight_kg)]


#: How :func:`alternative_anesthetic_warnings` names the doses it judges (the plan's alternative after the record's past)
ALTERNATIVE_ARM = "alternative"
#: How far back (h) before the alternative's first dose a past dose still counts with it: ketamine's effect-site level
#: falls with a half-life of a few hours, so a dose ending more than 12 h before adds little to the alternative's peak
ALTERNATIVE_REACH_H = 12.0


def alternative_anesthetic_warnings(record, alternative, params=None) -> list[str]:
    """A plan's ``alternative`` (Doses after the last observation, as ``personal._future_doses`` reads them) whose
    doses add up to the anesthetic range (none alone in it), alone or with the record's past doses that end at most
    :data:`ALTERNATIVE_REACH_H` before its first dose, judged as :func:`record_anesthetic_warnings` judges the record's
    own doses (mg doses at the record's WT, kg). Only what the alternative adds: past doses that reach the range
    without it are the record's warning; but a past dose that was anesthetic alone, or past doses that added up, days
    earlier no longer silence the alternative's own back-to-back pushes (review s45 S3). Messages begin
    'alternative: '. [] without an alternative."""
    from .engine import cumulative_anesthetic_arms

    alternative = tuple(alternative or ())
    if not alternative or any(d.in_anesthetic_range(record.weight_kg) for d in alternative):
        return []           # an alternative's dose alone in the range warned when it was read
    first = min(a.start_h for d in alternative for a in d.administrations())
    # the past doses within reach, less any alone in the range (it warned when the record was read)
    near = tuple(d for d in record.past_doses
                 if max(a.start_h + a.duration_h for a in d.administrations()) >= first - ALTERNATIVE_REACH_H
                 and not d.in_anesthetic_range(record.weight_kg))
    data = record.replace(doses=near + alternative).to_scenario_dict(size=1)
    data["arms"] = {ALTERNATIVE_ARM: [dose_line(d) for d in alternative]}
    if near:                # with the past within reach, and the past alone (so that only what the alternative adds)
        data["arms"]["with_past"] = [dose_line(d) for d in near + alternative]
        data["arms"]["past"] = [dose_line(d) for d in near]
    sc = record.to_scenario(data)       # judged at the record's WT; each dose's own warning came when it was read
    found = dict(cumulative_anesthetic_arms(sc, params, record_weight_kg=record.weight_kg))
    if ALTERNATIVE_ARM in found:
        arm, whose = ALTERNATIVE_ARM, "the alternative's doses"
    elif "with_past" in found and "past" not in found:
        arm, whose = "with_past", "the alternative's doses with the record's past ones"
    else:
        return []
    return [found[arm].replace(f"arms.{arm}: together its doses", f"{ALTERNATIVE_ARM}: together {whose}", 1)
            .replace(f"arms.{arm}: its dose is", f"{ALTERNATIVE_ARM}: its dose is", 1)
            .replace("the typical patient's", "this patient's (typical random effects)", 1)]
