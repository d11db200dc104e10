"""A published trial beside the virtual trial of the same design: predicted vs observed, nothing fitted.

``ketasim trial SCENARIO --observed FILE.csv`` (and in Python :func:`compare_observed`) puts each row of a
published trial's results, in the long format of the reference file ``clinical_calibration.csv`` (columns
:data:`REQUIRED_COLUMNS`, optionally :data:`OPTIONAL_COLUMNS`), beside the model's value of the same arm, measure
and time from the trial result, with the 95 % prediction interval of the statistic a trial of the ROW's ``n``
would observe. The interval reuses the qualification's code (``ketasim.calibration``): the sampling SD of the
statistic (:func:`~ketasim.calibration.statistic_sampling_sd`: patient SD / sqrt(n) for a mean) and the interval
itself (:func:`~ketasim.calibration.observed_interval`: normal for means, beta-binomial counts of n patients for
rates, :func:`~ketasim.calibration.rate_interval`). It carries

- the sampling error of a trial of the row's ``n`` (default: the virtual arm's size, flagged ``n_from``);
- this virtual trial's own Monte Carlo error in the predicted value (its 95 % CI, i.e. its arm size);
- with ``run_trial(..., uncertainty=N)`` (``--uncertainty N``) also the variance of the row's statistic over the
  N posterior parameter draws x between-trial trial effects (``TrialResult.draw_variance``, the same draws that
  give the trial's own ``pi95``; for a randomized withdrawal or a follow-up, whose draws are whole new trials, that
  variance net of the draws' own sampling error: ``trial.net_draw_variance``).

PK rows (a Cmax, Tmax, AUC or t1/2 of one ``analyte`` as a geometric mean, arithmetic mean or median, or a
geometric mean ratio ``versus`` the control arm) are compared with the trial's per-patient NCA (``TrialResult.pk``):
the same statistic over the virtual patients, with a two-stage bootstrap interval of the row's n patients
(between-patient sampling and the virtual trial's Monte Carlo error; :func:`_compare_pk`) and a fold error (predicted / observed), summarised as an AAFE
(:func:`pk_fold_summary`).

Relapse rows of a randomized withdrawal or an open-label follow-up: ``time_to_relapse`` (an arm's Kaplan-Meier
median in days, possibly 'not reached') and ``relapse_hazard_ratio`` (the trial's Cox comparison row) are compared
with the virtual patients' times to relapse (``TrialResult.relapse_times``), with the same two-stage bootstrap of
the row's n per arm, the statistics computed row-wise on the visit grid's counts (:func:`_compare_relapse`); their
published 95 % CI comes from the columns ``ci_low`` / ``ci_high``. A stratified withdrawal (``design.criterion:
stratified``) reports each stratum apart: its rows name theirs in a ``stratum`` column (as the trial's rows name it,
e.g. "stable remitters") and are compared with that stratum's rows (the trial's arm "ARM [STRATUM]"). The share of
the patients who entered induction that reached randomization (``randomized_fraction``, per stratum) and an
open-label follow-up's share of an arm's patients followed (``followed_fraction``) are rate rows whose ``n`` is the
published share's denominator; they are not outcomes, so the summary gives them apart (``share_rows``).

Nothing is fitted: the parameter set is the one the trial ran with. Every input error is one line naming the row
(1-based data row; the file line is one more) and the column, raised before the trial runs when the CLI reads the
file (:func:`read_observed`).
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .errors import InputError, KetasimError, ObservedWarning, argument
from .io import NOT_TEXT_SIGNATURES
from .units import fmt_hours, to_hours_factor
from .nca import ANALYTES, COLUMNS as NCA_COLUMNS, RATIO_MEASURES, UNITS as NCA_UNITS, analyte_name
from .vocabulary import PK_MEASURES, SCORE_MEASURES, SIDE_EFFECT_MEASURES

REQUIRED_COLUMNS = ("arm", "timepoint_h", "measure", "value")
#: kept as provenance in the output (``spread``/``spread_kind`` and ``n`` also give the observed value's own CI);
#: ``dose_level`` names the dose of a ``final_dose_rate`` row (e.g. "84 mg"); ``scenario`` the ``name:`` of the
#: scenario the file belongs to (one value for the whole file; another scenario's name is refused)
OPTIONAL_COLUMNS = ("scale", "spread", "spread_kind", "n", "trial_id", "citation", "source_url", "notes", "domain",
                    "dose_level", "scenario", "analyte", "statistic", "versus", "n_versus", "ci_low", "ci_high",
                    "stratum")
#: ``CV``: a coefficient of variation in % (PK rows only: the geometric CV of a geometric mean, the arithmetic CV of
#: a mean)
SPREAD_KINDS = ("SD", "SE", "CV", "none")
#: PK rows: a per-patient NCA measure of one analyte (:data:`ketasim.vocabulary.PK_MEASURES`) summarised over an arm,
#: or a between-arm geometric mean ratio named as the trial's comparison rows name it (f"{measure}_ratio")
PK_RATIO_MEASURES = tuple(f"{m}_ratio" for m in RATIO_MEASURES)
PK_OBSERVABLE_MEASURES = PK_MEASURES + PK_RATIO_MEASURES
#: the statistic of a PK row (column ``statistic``): geometric mean (default for Cmax, AUC, t1/2), arithmetic mean
#: ("mean": many papers report mean +/- SD), median (the default of Tmax and the only one for it); a ratio row is a
#: geometric mean ratio
PK_STATISTICS = ("geometric mean", "mean", "median")
RATIO_STATISTIC = "geometric mean ratio"
#: how a ``statistic`` cell may be written (letter case and spaces ignored) -> the statistic
_STATISTIC_ALIASES = {"geometricmean": "geometric mean", "gm": "geometric mean", "geomean": "geometric mean",
                      "mean": "mean", "arithmeticmean": "mean", "median": "median",
                      "geometricmeanratio": RATIO_STATISTIC, "gmr": RATIO_STATISTIC}
#: short names of the statistics in the printed table
STATISTIC_LABELS = {"geometric mean": "GM", "mean": "mean", "median": "median", RATIO_STATISTIC: "GMR"}
#: bootstrap resamples behind a PK row's prediction interval, and the most values drawn at once (memory: about 16
#: bytes each, so ~64 MB whatever n; the resamples are drawn in chunks of rows)
PK_BOOTSTRAP_RESAMPLES = 2000
PK_BOOTSTRAP_CHUNK_VALUES = 4_000_000
#: the most patients a PK row's n may give: a PK study is at most a few hundred volunteers or patients, and the
#: bootstrap's time grows with n (~10 s per row at 200,000; review s50 M-1)
PK_MAX_ROW_N = 10_000
#: what a PK row's interval holds (appended to :func:`interval_scope` when a comparison has PK rows)
PK_INTERVAL_NOTE = (f"PK rows: the 2.5-97.5 percentiles of the row's statistic over {PK_BOOTSTRAP_RESAMPLES} "
                    "bootstrap trials of n patients, each drawn from a resample of the virtual arm's patients (pairs "
                    "kept together in a crossover): between-patient sampling of n patients and this virtual trial's "
                    "Monte Carlo error (the PK parameters have no posterior; --uncertainty does not widen them).")
#: measures with no time: over all sessions (side effects) or over the whole follow-up (relapse)
TIMELESS_MEASURES = SIDE_EFFECT_MEASURES + ("relapse_rate",)
#: a withdrawal's or open-label follow-up's time-to-event rows: an arm's Kaplan-Meier median time to relapse (days;
#: "not reached" allowed) and the between-arm Cox hazard ratio of relapse (as the trial's comparison row names it);
#: their published 95 % CI goes in ``ci_low`` / ``ci_high`` (no spread)
SURVIVAL_MEASURES = ("time_to_relapse", "relapse_hazard_ratio")
#: how a published median that was not reached (or not estimable) may be written in ``value`` or ``ci_high`` (letter
#: case, spaces and punctuation ignored)
NOT_REACHED_WORDS = ("not reached", "NR", "not estimable", "NE", "not estimated")
_NOT_REACHED_KEYS = {"".join(ch for ch in w.lower() if ch.isalnum()) for w in NOT_REACHED_WORDS}
#: bootstrap resamples behind a time_to_relapse or relapse_hazard_ratio row's prediction interval: the rows' statistics
#: are computed row-wise on count tables of the visit grid (a vectorized Kaplan-Meier and Efron Cox fit, not one
#: statsmodels fit per resample: ~25 ms each, 2,000 would take ~50 s), so the PK rows' 2,000 cost well under a second
RELAPSE_BOOTSTRAP_RESAMPLES = 2000
#: what those rows' intervals hold (appended to :func:`interval_scope` when a comparison has them)
RELAPSE_INTERVAL_NOTE = (f"time_to_relapse and relapse_hazard_ratio rows: the 2.5-97.5 percentiles of the row's "
                         f"statistic over {RELAPSE_BOOTSTRAP_RESAMPLES} two-stage bootstrap trials of n patients per "
                         "arm drawn from a resample of the virtual arm's randomized or followed patients (their times "
                         "to relapse): the study's sampling and this virtual trial's Monte Carlo error; with "
                         "--uncertainty each study also moves by a log-normal factor of the draws' variance of the log "
                         "statistic; a median not reached counts as longer than the follow-up.")
#: the share (%) of a titrated arm's patients on each final dose level (one row per ``dose_level``), at the last
#: decision session: the trial JSON's ``final_dose_rate`` rows; reported for every titrated arm, whatever
#: ``endpoints.measures`` lists
DOSE_MEASURES = ("final_dose_rate",)
#: shares (%) of patients who went on to a later phase, reported whatever ``endpoints.measures`` lists; ``n``: the
#: published share's denominator (required). ``randomized_fraction``: a randomized withdrawal's share of the patients
#: who entered induction that were randomized (per stratum: e.g. stable remission at the end of optimisation), the
#: trial's row of the continue arm at ``design.induction_until`` (denominator: the patients who entered induction).
#: ``followed_fraction``: an open-label follow-up's share of an arm's patients who met the criterion at
#: ``design.follow_up_from`` and were followed, the trial's row of that arm at that time (denominator: the arm's
#: patients). Not outcomes: the summary gives them apart (``share_rows``, :func:`observed_summary`)
SHARE_MEASURES = ("randomized_fraction", "followed_fraction")
OBSERVABLE_MEASURES = SCORE_MEASURES + TIMELESS_MEASURES + DOSE_MEASURES + SHARE_MEASURES
#: unit of each observable measure's value and error
UNITS = {"mean": "points", "mean_change": "points", "cadss_peak": "CADSS points", "sbp_change_peak": "mmHg",
         "dbp_change_peak": "mmHg", "hr_change_peak": "beats/min", "sedation_peak": "index", "sbp_max_rise": "mmHg",
         "dbp_max_rise": "mmHg",
         **{m: "percentage points" for m in OBSERVABLE_MEASURES if m.endswith("_rate")},
         **{m: "percentage points" for m in SHARE_MEASURES},
         **NCA_UNITS, **{m: "ratio" for m in PK_RATIO_MEASURES}, "time_to_relapse": "days",
         "relapse_hazard_ratio": "hazard ratio"}
#: statistics that cannot be negative (the interval is bounded at 0)
NONNEGATIVE = ("mean", "cadss_peak", "sedation_peak")
N_FROM_FILE = "observed file"
N_FROM_ARM = "arm size of the virtual trial (no n in the observed file)"
#: ``compare_observed(..., default_n=...)`` (``qualify --external``: the virtual trial is larger than the published one)
N_FROM_SCENARIO = "arm size of the scenario (no n in the observed file)"
#: a parallel-design PK ratio row with ``n`` but no ``n_versus``: the control arm's patients taken as the row's n
N_VERSUS_FROM_N = "the row's n (no n_versus in the observed file)"
MAX_OBSERVED_ROWS = 10_000


class _Where:
    """Names a row and a column in a one-line error: 'FILE row 3 (line 4), column arm: ...' (the file line from the
    CSV reader: a quoted cell may span lines)."""

    def __init__(self, name: str, lines: dict):
        self.name, self.lines = name, lines

    def fail(self, i: int, column: str, message: str):
        raise InputError(f"{self.name} row {i}{self.lines.get(i, '')}, column {column}: {message}")


def _rows_of(source, label: str | None = None) -> tuple[str, list[str], list[dict]]:
    """(name for messages, columns, rows as dicts of strings) from a CSV path, a DataFrame or a list of dicts;
    ``label`` names a CSV in messages (default ``observed FILE``, on the command line ``--observed FILE``)."""
    if isinstance(source, pd.DataFrame):
        df = source.astype(object).where(source.notna(), "")
        return "observed table", [str(c) for c in df.columns], [{str(k): v for k, v in r.items()}
                                                                 for r in df.to_dict("records")]
    if isinstance(source, (list, tuple)):
        cols = list(dict.fromkeys(k for r in source for k in r))
        return "observed table", cols, [dict(r) for r in source]
    path = Path(str(source))
    name = label or f"{argument('observed', '--observed')} {path.name}"
    _check_readable(path, name)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = [c.strip() for c in (reader.fieldnames or [])]
            rows = []
            for r in reader:
                if len(rows) >= MAX_OBSERVED_ROWS:
                    raise InputError(f"{name}: more than {MAX_OBSERVED_ROWS} rows")
                row = {(k or "").strip(): v for k, v in r.items()}
                if None in r:
                    row[None] = r[None]
                row["\0line"] = reader.line_num
                rows.append(row)
    except UnicodeDecodeError as e:
        raise InputError(f"{name}: not UTF-8 text (byte {e.object[e.start]:#04x} at position {e.start}); save it as "
                         "'CSV UTF-8 (comma delimited)'") from None
    except csv.Error as e:
        if "field limit" in str(e):
            raise InputError(f"{name} line {reader.line_num}: a cell is longer than {csv.field_size_limit():,} "
                             "characters (an unclosed quote?)") from None
        raise InputError(f"{name} line {reader.line_num}: not a valid CSV row ({e})") from None
    except OSError as e:
        raise InputError(f"{name}: cannot read it ({e.strerror or e})") from None
    return name, cols, rows


#: first bytes of files that are not CSV text, with what they are (a spreadsheet saved as-is is a common slip)
_NOT_CSV = NOT_TEXT_SIGNATURES + ((b"\xff\xfe", "UTF-16 text"), (b"\xfe\xff", "UTF-16 text"))


def _check_readable(path: Path, name: str) -> None:
    """One line for a path that is not a readable CSV text file: missing, a folder, empty, a spreadsheet, UTF-16."""
    if not path.exists():
        raise InputError(f"{name}: no such file ({path})")
    if path.is_dir():
        raise InputError(f"{name}: is a folder; give the CSV file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as e:
        raise InputError(f"{name}: cannot read it ({e.strerror or e})") from None
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise InputError(f"{name}: the file is empty; its first line names the columns: "
                         f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})")
    for magic, what in _NOT_CSV:
        if head.startswith(magic):
            raise InputError(f"{name}: this is {what}, not a CSV file; save it as 'CSV UTF-8 (comma delimited)'")
    if b"\x00" in head:                 # a binary file, or /dev/zero: the CSV reader would read one endless line
        raise InputError(f"{name}: not a text file")


def _missing_column_hint(cols: list[str]) -> str:
    """Why a required column was not found, from the header that was read: another separator, other letter case."""
    header = ",".join(cols)
    for sep, what in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
        if sep in header and all(c not in cols for c in REQUIRED_COLUMNS):
            return f"; the header is separated by {what}: the file must be comma-separated (save as 'CSV UTF-8 " \
                   "(comma delimited)'; decimals with a point)"
    lower = {c.lower(): c for c in cols}
    cased = [lower[c] for c in REQUIRED_COLUMNS if c not in cols and c in lower]
    if cased:
        return f"; found {cased[0]!r}: column names are lower case"
    # 'timepoint' or 'time_h' for timepoint_h: the header shown below was cut after six names and hid it
    import difflib

    missing = next(c for c in REQUIRED_COLUMNS if c not in cols)
    others = [c for c in cols if c not in REQUIRED_COLUMNS]
    near = difflib.get_close_matches(missing, others, n=1, cutoff=0.8) or (
        [c for c in others if c.lower() in ("time", "time_h", "timepoint", "hours", "hour", "t")]
        if missing == "timepoint_h" else [])
    if near:
        found = near[0]
        if missing == "timepoint_h":
            # timepoint_d or timepoint_min renamed as told would read day 1 as 1 h (review s39 R8-1): say the unit
            factor = to_hours_factor(found)
            if factor:
                return (f"; found {found[:30]!r}: the time column is {missing!r} in hours: convert the times "
                        f"({factor}) and name the column {missing!r}")
            return f"; found {found[:30]!r}: name it {missing!r} (in hours)"
        return f"; found {found[:30]!r}: name it {missing!r}"
    shown = ", ".join(repr(c[:30]) for c in cols[:6]) + (", ..." if len(cols) > 6 else "")
    return f"; the header has: {shown}" if cols else ""


def _did_you_mean(text: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice (letter case and spaces/dashes ignored), else ''."""
    import difflib

    def norm(x):
        return "".join(ch for ch in str(x).lower() if ch.isalnum())

    by_norm = {norm(c): c for c in choices}
    if norm(text) in by_norm:
        return f" (did you mean {by_norm[norm(text)]!r}?)"
    close = difflib.get_close_matches(text, list(choices), n=1, cutoff=0.85)     # typos, not other names
    return f" (did you mean {close[0]!r}?)" if close else ""


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, list):         # DictReader puts surplus cells in a list under the key None
        return ",".join(map(str, v))
    return str(v).strip()


def _number(where: "_Where", i, column, text, hint: str = ""):
    try:
        x = float(text)
    except ValueError:
        if column == "timepoint_h":         # '24 h', '1 d': the column is a number of hours
            try:
                from .units import parse_time_h

                hint = f"; timepoint_h is a number of hours, without a unit: write {parse_time_h(text, column):.4g}"
            except (KetasimError, ValueError, TypeError, ArithmeticError):
                hint = "; timepoint_h is a number of hours"
        where.fail(i, column, f"{text[:40]!r} is not a number{hint}")
    if not math.isfinite(x):
        where.fail(i, column, f"{text[:40]!r} is not a finite number")
    return x


_DOSE_LEVEL = re.compile(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)(mg/kg|mg)")


def dose_level_text(text: str, titration) -> str | None:
    """The level text of ``titration`` (a :class:`ketasim.regimen.Titration`; e.g. "84 mg", as the trial JSON's
    ``dose_level``) that ``text`` names, else None. Spaces and letter case are ignored and the number is compared
    as a number: "84mg", "84 MG" and "84.0 mg" are "84 mg"; "0.75 mg/kg" needs the per-kg unit of a per-kg rule."""
    m = _DOSE_LEVEL.fullmatch("".join(str(text).split()).lower())
    if not m:
        return None
    amount, per_kg = float(m.group(1)), m.group(2) == "mg/kg"
    if per_kg != titration.per_kg:
        return None
    for k, level in enumerate(titration.levels):
        if math.isclose(amount, float(level), rel_tol=1e-9, abs_tol=1e-12):
            return titration.level_text(k)
    return None


def _final_dose(where: "_Where", i: int, r: dict, arm, cols: list[str], titrated: dict) -> tuple[str, float]:
    """(level text, time in h) of a ``final_dose_rate`` row of ``arm`` (a :class:`ketasim.regimen.Arm`): the arm
    must be titrated, ``dose_level`` one of its levels, ``timepoint_h`` empty or the last decision session's start
    (the final dose is given from then on; the comparison row carries that time either way)."""
    level = r.get("dose_level", "")
    if arm.titration is None:
        where.fail(i, "dose_level" if level else "measure",
                   f"final_dose_rate is the share of a titrated arm's patients on each dose; arm {arm.name} has fixed "
                   f"doses (" + (f"titrated arms: {', '.join(titrated)}" if titrated else
                                 "the scenario has no arm with a titration rule") + ")")
    tit = arm.titration
    levels = ", ".join(tit.level_text(k) for k in range(len(tit.levels)))
    if not level:
        where.fail(i, "dose_level", f"final_dose_rate needs the dose level, one of arm {arm.name}'s: {levels}"
                   + ("" if "dose_level" in cols else " (add a dose_level column)"))
    text = dose_level_text(level, tit)
    if text is None:
        unitless = re.fullmatch(r"[0-9]*\.?[0-9]+", level.strip()) is not None
        where.fail(i, "dose_level", f"{level[:40]!r} is not a dose level of arm {arm.name}"
                   + (" (give the unit)" if unitless else "") + f"; its levels: {levels}")
    t_last = float(tit.session_times_h(arm)[-1])
    t_text = r.get("timepoint_h", "")
    if t_text:
        t = _number(where, i, "timepoint_h", t_text)
        if abs(t - t_last) > 1e-6 * max(1.0, t_last):
            where.fail(i, "timepoint_h", f"final_dose_rate is the share on each dose from arm {arm.name}'s last "
                                           f"decision session on ({t_last:g} h = {fmt_hours(t_last)}); leave "
                                           f"timepoint_h empty or give {t_last:g}")
    return text, t_last


#: the longest ``domain`` an observed file may give (``ketasim.external`` prints it as a summary's row name)
MAX_DOMAIN_CHARS = 60


def _one_per_file(rows: list[dict], column: str, name: str, max_chars: int | None = None) -> str | None:
    """The value of an optional column that holds one value for the whole file (``scenario``: the ``name:`` of the
    scenario file it belongs to; ``domain``: the per-domain summary's name in ``ketasim.external``); cells may be
    left empty; None when no row gives one. Two different values, or one longer than ``max_chars``, is one line."""
    given = list(dict.fromkeys(_text(r.get(column)) for r in rows if _text(r.get(column))))
    if len(given) > 1:
        raise InputError(f"{name}, column {column}: one {column} per file, got "
                         + ", ".join(repr(g[:40]) for g in given[:3]))
    if given and max_chars is not None and len(given[0]) > max_chars:
        raise InputError(f"{name}, column {column}: at most {max_chars} characters, got {len(given[0])}")
    return given[0] if given else None


def untied_warning(name: str, scenario) -> str:
    """The warning of a file that names no scenario (``trial --observed``): nothing ties it to this one."""
    return (f"{name} names no scenario (no scenario column): nothing ties it to scenario {scenario.name!r}, so "
            "another trial's file with the same arm names and times would be compared as well; add a column "
            f"scenario with {scenario.name} (the scenario's name:)")


def analyte_label(analyte: str) -> str:
    """How the printed tables name an analyte: 'S-ketamine', 'R-ketamine', 'ketamine', 'norketamine', 'HNK'."""
    return {"s-ketamine": "S-ketamine", "r-ketamine": "R-ketamine", "hnk": "HNK"}.get(analyte, analyte)


def _pk_control(scenario) -> str | None:
    """The arm a PK ratio row's ``versus`` must name: the control arm the trial compares with (as
    ``ketasim.trial`` picks it: ``design.control``, else an arm named placebo/saline/midazolam/control, ...), or
    None when the design compares no arms (one arm, or a randomized withdrawal)."""
    from .trial import _control_arm, comparator_arms

    design = dict(scenario.design)
    if design.get("type", "parallel") not in ("parallel", "crossover") or len(scenario.arms) < 2:
        return None
    return _control_arm([a.name for a in scenario.arms], design, comparator_arms(scenario))


def _pk_fields(where: "_Where", i: int, r: dict, m: str, scenario, control: str | None) -> tuple[str, str, str]:
    """(analyte, statistic, versus) of a PK row (``m`` in :data:`PK_OBSERVABLE_MEASURES`), each error one line
    naming the row and the column: the analyte is required (``nca.analyte_name``: esketamine is s-ketamine) and
    must be one the scenario's ``endpoints.analytes`` lists when it lists them; the statistic defaults to the
    measure's (:data:`PK_STATISTICS`; Tmax: median only; a ratio: geometric mean ratio only); ``versus`` (ratio
    rows only) defaults to the trial's control arm and may name no other; ``timepoint_h`` is empty."""
    ep = scenario.endpoints
    ratio = m in PK_RATIO_MEASURES
    base = m.removesuffix("_ratio") if ratio else m
    if base not in ep.measures:
        where.fail(i, "measure", f"{m} (a PK {'ratio' if ratio else 'measure'}) needs {base} among scenario "
                                 f"{scenario.name}'s endpoints.measures ({', '.join(ep.measures)}); add it there "
                                 "(with endpoints.pk_sampling) to compare it")
    if r.get("timepoint_h", ""):
        where.fail(i, "timepoint_h", f"{m} is a PK {'ratio' if ratio else 'statistic'} of the analysed dose (no "
                                     "time); leave timepoint_h empty")
    if not r.get("analyte", ""):
        where.fail(i, "analyte", f"{m} needs the analyte ({', '.join(ANALYTES)}; esketamine is s-ketamine)")
    try:
        analyte = analyte_name(r["analyte"], "analyte")
    except InputError as e:
        where.fail(i, "analyte", str(e).removeprefix("analyte: "))
    listed = ep.pk.analytes if ep.pk is not None else None
    if listed and analyte not in listed:
        where.fail(i, "analyte", f"{analyte} is not among scenario {scenario.name}'s endpoints.analytes "
                                 f"({', '.join(listed)}); add it there to compare it")
    text = r.get("statistic", "")
    if text:
        statistic = _STATISTIC_ALIASES.get("".join(ch for ch in text.lower() if ch.isalnum()))
        if statistic is None:
            where.fail(i, "statistic", f"{text[:40]!r}: use " + (RATIO_STATISTIC if ratio else
                                                                 " | ".join(PK_STATISTICS)))
    else:
        statistic = RATIO_STATISTIC if ratio else "median" if m == "tmax" else "geometric mean"
    if ratio and statistic != RATIO_STATISTIC:
        where.fail(i, "statistic", f"{statistic}: a {m} row is a {RATIO_STATISTIC} (as the trial's comparison rows)")
    if not ratio and statistic == RATIO_STATISTIC:
        where.fail(i, "statistic", f"a {RATIO_STATISTIC} is a {base}_ratio row; {m} is one arm's "
                                   f"{' | '.join(PK_STATISTICS)}")
    if m == "tmax" and statistic != "median":
        where.fail(i, "statistic", f"{statistic}: tmax is compared as a median (a sampling time is not "
                                   "log-normal); give the median, statistic median")
    versus = r.get("versus", "")
    if not ratio:
        if versus:
            where.fail(i, "versus", f"{versus[:40]!r}: versus belongs to a ratio row (e.g. {base}_ratio) only; "
                                    f"leave it empty for {m}")
        return analyte, statistic, ""
    if control is None:
        where.fail(i, "measure", f"{m}: scenario {scenario.name} compares no arms (a ratio needs a parallel or "
                                 "crossover design with two arms or more)")
    if r["arm"] == control:
        where.fail(i, "arm", f"{control} is the control arm of scenario {scenario.name}: a {m} row is the ratio of "
                             f"another arm to it (arm: the test arm)")
    if versus and versus != control:
        where.fail(i, "versus", f"{versus[:40]!r}: the trial's ratios are versus its control arm {control} "
                                "(design.control); leave versus empty or give " + control)
    return analyte, statistic, control


def _check_pk_spread(where: "_Where", i: int, m: str, statistic: str, kind: str) -> None:
    """The spreads a PK row may give: a geometric mean its geometric CV % (CV); an arithmetic mean its SD, SE or CV
    %; a median or a ratio none (a range or a 90 % CI is not read: keep it in notes)."""
    if statistic == "geometric mean" and kind != "CV":
        where.fail(i, "spread_kind", f"{kind}: a geometric mean's spread is its geometric CV in % (spread_kind CV)")
    if statistic in ("median", RATIO_STATISTIC):
        where.fail(i, "spread_kind", f"{kind}: the spread of a {statistic} ({m}) is not read (a range or a CI); "
                                     "leave spread empty (none) and keep it in notes")


def _n_versus(where: "_Where", i: int, r: dict, m: str, scenario) -> float:
    """The ``n_versus`` cell of a row: the control arm's patients of a PK ratio row in a parallel design or of a
    ``relapse_hazard_ratio`` row (its bootstrap draws the control arm from them; without it the row's ``n``, said in
    the output), a whole number 1 to :data:`PK_MAX_ROW_N`; NaN when empty. Refused on any other row, and in a
    crossover (the ratio pairs the same n patients)."""
    text = r.get("n_versus", "")
    if not text:
        return float("nan")
    if m not in PK_RATIO_MEASURES and m != "relapse_hazard_ratio":
        where.fail(i, "n_versus", f"{text[:40]!r}: n_versus (the control arm's patients) belongs to a parallel-design "
                                  f"PK ratio row (e.g. cmax_ratio) or a relapse_hazard_ratio row only; leave it empty "
                                  f"for {m}")
    if dict(scenario.design).get("type") == "crossover":
        where.fail(i, "n_versus", f"{text[:40]!r}: scenario {scenario.name} is a crossover, whose ratio pairs the "
                                  "same n patients; leave n_versus empty")
    try:
        nv = float(text)
    except ValueError:
        nv = 0.0
    if not (math.isfinite(nv) and 1 <= nv <= PK_MAX_ROW_N and nv == int(nv)):
        where.fail(i, "n_versus", f"{text[:40]!r}: give the control arm's patients as a whole number from 1 to "
                                  f"{PK_MAX_ROW_N:,} (leave it empty to use the row's n)")
    return float(int(nv))


#: the most patients per arm a time_to_relapse or relapse_hazard_ratio row's n may give (a maintenance trial randomizes
#: at most a few hundred per arm; the bootstrap's memory and time grow with n)
MAX_RELAPSE_ROW_N = 10_000


def _not_reached(text) -> bool:
    """Whether a cell says a Kaplan-Meier median (or its upper bound) was not reached: :data:`NOT_REACHED_WORDS`."""
    return "".join(ch for ch in str(text).lower() if ch.isalnum()) in _NOT_REACHED_KEYS


def _survival_ci(where: "_Where", i: int, r: dict, m: str, v: float) -> tuple[float, float]:
    """(low, high) of a time_to_relapse or relapse_hazard_ratio row's published 95 % CI (``ci_low``, ``ci_high``;
    NaN, NaN when neither is given). Both or neither; numbers > 0 around the value; a median's upper bound (and, when
    the median itself was not reached, its lower bound) may be 'not reached' (+inf)."""
    lo_text, hi_text = r.get("ci_low", ""), r.get("ci_high", "")
    if not lo_text and not hi_text:
        return float("nan"), float("nan")
    if not lo_text or not hi_text:
        missing = "ci_low" if not lo_text else "ci_high"
        where.fail(i, missing, f"empty: give both ends of the published 95 % CI (ci_low and ci_high)"
                   + (" ('not reached' for an upper bound beyond the follow-up)" if m == "time_to_relapse" else ""))
    km = m == "time_to_relapse"

    def end(column, text, may_be_open):
        if km and _not_reached(text):
            if not may_be_open:
                where.fail(i, column, f"{text[:40]!r}: only the upper bound (or both bounds of a median not reached) "
                                      "may be 'not reached'")
            return math.inf
        # 'not reachd' said only "is not a number"
        x = _number(where, i, column, text, hint="; a bound beyond the follow-up is 'not reached'"
                    if km and may_be_open else "")
        if not x > 0:
            what = "median time to relapse" if km else "hazard ratio"
            where.fail(i, column, f"{x:g}: a {what}'s CI bound is > 0")
        return x

    lo = end("ci_low", lo_text, math.isnan(v))
    hi = end("ci_high", hi_text, True)
    if math.isnan(v) and math.isfinite(hi):
        where.fail(i, "ci_high", f"{hi:g}: the median was not reached, so its CI's upper bound is 'not reached' too")
    if lo > hi or (math.isfinite(v) and not lo <= v <= hi):
        shown = f"[{lo:g}, " + ("not reached" if hi == math.inf else f"{hi:g}") + "]"
        where.fail(i, "ci_low", f"the CI {shown} must hold the value {v:g} (ci_low <= value <= ci_high)"
                   if math.isfinite(v) else f"the CI {shown} is not an interval")
    return lo, hi


def hazard_ratio_arms(scenario) -> tuple[tuple[str, ...], str] | None:
    """((arms a relapse_hazard_ratio row may name), the arm they are compared with) as the trial's
    ``relapse_hazard_ratio`` comparison rows orient them: a randomized withdrawal's continue arm vs its withdraw arm;
    an open-label follow-up's every other arm vs its control arm (``ketasim.trial``'s choice); None for a design
    without a relapse follow-up of two arms."""
    from .trial import _control_arm, comparator_arms

    design = dict(scenario.design)
    names = [a.name for a in scenario.arms]
    if design.get("type", "parallel") == "randomized_withdrawal":
        return (design.get("continue"),), design.get("withdraw")
    if design.get("follow_up_from") is not None and len(names) >= 2:
        ctrl = _control_arm(names, design, comparator_arms(scenario))
        return tuple(n for n in names if n != ctrl), ctrl
    return None


def _hazard_ratio_versus(where: "_Where", i: int, r: dict, scenario) -> str:
    """The control arm of a relapse_hazard_ratio row (``versus``, default the trial's), each error one line: the
    design must follow two arms for relapse, ``arm`` must be the arm the trial's ratio puts first, ``versus`` empty or
    the other one."""
    pair = hazard_ratio_arms(scenario)
    if pair is None:
        where.fail(i, "measure", f"relapse_hazard_ratio: scenario {scenario.name} follows no two arms for relapse (a "
                                 "randomized withdrawal, or a trial with design.follow_up_from and two arms or more)")
    treated, control = pair
    if r["arm"] not in treated:
        role = ("the continue arm" if dict(scenario.design).get("type") == "randomized_withdrawal"
                else "an arm other than the control")
        where.fail(i, "arm", f"{r['arm'][:40]}: the trial's hazard ratio is {' or '.join(treated)} vs {control} (arm: "
                             f"{role}); a published ratio the other way round is 1 / HR, with 1 / its CI bounds "
                             "swapped")
    versus = r.get("versus", "")
    if versus and versus != control:
        where.fail(i, "versus", f"{versus[:40]!r}: the trial's hazard ratios are versus {control}; leave versus empty "
                                f"or give {control}")
    return control


def withdrawal_strata(scenario) -> tuple[str, ...]:
    """The groups a randomized withdrawal randomizes, as its trial's rows name them (``trial.WITHDRAWAL_STRATA``:
    two, "stable remitters" and "stable responders without remission", when ``design.criterion`` is stratified; one
    otherwise); () for any other design."""
    from .trial import WITHDRAWAL_STRATA

    design = dict(scenario.design)
    if design.get("type", "parallel") != "randomized_withdrawal":
        return ()
    return WITHDRAWAL_STRATA.get(design.get("criterion", "response"), ())


def trial_arm_name(arm: str, stratum: str) -> str:
    """How the trial's rows name ``arm``'s randomized group of ``stratum`` in a stratified withdrawal: "ARM
    [STRATUM]" (the trial JSON's arm keys); ``arm`` itself when ``stratum`` is ""."""
    return f"{arm} [{stratum}]" if stratum else arm


def _stratum_key(text) -> str:
    """A stratum as compared: letter case and runs of spaces ignored ('Stable  Remitters' is 'stable remitters')."""
    return " ".join(str(text).split()).casefold()


def _labelled_arm_hint(text: str, arms: list[str], strata: tuple[str, ...]) -> str:
    """' (write arm ARM and stratum STRATUM: ...)' for an arm cell written as the trial's tables name a stratum's group
    ('esketamine+AD [stable remitters]'), else ''."""
    m = re.fullmatch(r"(.+?)\s*\[(.+)\]", text.strip())
    if not m or m.group(1) not in arms:
        return ""
    if strata:
        return (f" (write arm {m.group(1)} and, in a column stratum, {m.group(2).strip()[:40]}: the trial's "
                "'ARM [STRATUM]' is two columns in an observed file)")
    return f" (write arm {m.group(1)}; the scenario has no strata)"


def _row_stratum(where: "_Where", i: int, r: dict, m: str, scenario, strata: tuple[str, ...], cols: list[str]) -> str:
    """The stratum of a row (column ``stratum``) as the trial's rows carry it: the canonical name when the scenario
    randomizes two strata (``design.criterion: stratified``; then every row but a PK or final_dose_rate row, which
    are rows of the whole arm, must name one), "" otherwise (a withdrawal of one group: a cell naming that group is
    read and dropped, so the row is compared as without it). Each error one line naming the row and the column."""
    text = r.get("stratum", "")
    whole_arm = m in PK_OBSERVABLE_MEASURES or m in DOSE_MEASURES
    names = "; ".join(strata)
    if not text:
        if len(strata) > 1 and not whole_arm:
            where.fail(i, "stratum", f"empty: scenario {scenario.name} randomizes {len(strata)} strata analysed apart "
                                     f"({names}); name the row's stratum"
                       + ("" if "stratum" in cols else " (add a column stratum)"))
        return ""
    if not strata:
        design = dict(scenario.design)
        if design.get("type", "parallel") != "randomized_withdrawal" and design.get("follow_up_from") is None:
            # before the fifty-second session other columns were ignored, so a file may carry a descriptive stratum
            # ('TRD, overall'); a trial without a randomized withdrawal has no strata to match it with (review L2)
            if not getattr(where, "stratum_ignored", False):
                where.stratum_ignored = True
                warnings.warn(f"{where.name}: column stratum ignored (first at row {i}, {text[:40]!r}): scenario "
                              f"{scenario.name} has no randomized withdrawal or follow-up, whose strata it names; every row is "
                              "compared with its whole arm", ObservedWarning, stacklevel=2)
            return ""
        where.fail(i, "stratum", f"{text[:40]!r}: scenario {scenario.name} has no strata (a randomized withdrawal's "
                                 "design.criterion makes them); leave stratum empty")
    if whole_arm:
        where.fail(i, "stratum", f"{text[:40]!r}: a {m} row is of the whole arm, not of a stratum; leave stratum "
                                 "empty")
    got = next((x for x in strata if _stratum_key(x) == _stratum_key(text)), None)
    if got is None:
        crit = dict(scenario.design).get("criterion", "response")
        where.fail(i, "stratum", f"{text[:40]!r} is not a stratum of scenario {scenario.name}"
                                 f"{_did_you_mean(text, strata)}; its strata (design.criterion {crit}): {names}")
    return got if len(strata) > 1 else ""


def _randomized_share(where: "_Where", i: int, r: dict, scenario) -> tuple[str, float]:
    """(arm, time in h) of a ``randomized_fraction`` row: the scenario must be a randomized withdrawal; the share is
    of the patients who entered induction, before the randomization, so either arm may be named and the row is the
    trial's row of the continue arm (``design.continue``); ``timepoint_h`` is empty or the randomization
    (``design.induction_until``), and the table's ``time_h`` is that time either way."""
    from .scenario import DEFAULT_INDUCTION_UNTIL
    from .units import parse_time_h

    design = dict(scenario.design)
    if design.get("type", "parallel") != "randomized_withdrawal":
        where.fail(i, "measure", f"randomized_fraction: scenario {scenario.name} randomizes nobody after an induction "
                                 "(only a randomized withdrawal has a share randomized)")
    t_rand = parse_time_h(design.get("induction_until", DEFAULT_INDUCTION_UNTIL), "design.induction_until")
    return str(design["continue"]), _share_time(where, i, r, t_rand, "randomized_fraction is the share randomized at "
                                                                     "design.induction_until")


def _followed_share(where: "_Where", i: int, r: dict, scenario) -> float:
    """The time in h of a ``followed_fraction`` row: the scenario must have an open-label follow-up
    (``design.follow_up_from``); the share is of the arm's patients, counted at ``follow_up_from``, so the row is the
    trial's row of its own arm; ``timepoint_h`` is empty or ``follow_up_from``, and the table's ``time_h`` is that
    time either way."""
    from .units import parse_time_h

    design = dict(scenario.design)
    if design.get("follow_up_from") is None:
        where.fail(i, "measure", f"followed_fraction: scenario {scenario.name} has no open-label follow-up (only a "
                                 "trial with design.follow_up_from has a share followed)")
    t0 = parse_time_h(design["follow_up_from"], "design.follow_up_from")
    return _share_time(where, i, r, t0, "followed_fraction is the share followed from design.follow_up_from")


def _share_time(where: "_Where", i: int, r: dict, t_design: float, what: str) -> float:
    """A share row's time (h): its ``timepoint_h`` is empty or the design's time ``t_design`` (``what`` says which,
    in the one-line refusal)."""
    t_text = r.get("timepoint_h", "")
    if t_text:
        t = _number(where, i, "timepoint_h", t_text)
        if abs(t - t_design) > 1e-6 * max(1.0, t_design):
            where.fail(i, "timepoint_h", f"{what} ({t_design:g} h = {fmt_hours(t_design)}); leave timepoint_h empty "
                                         f"or give {t_design:g}")
    return float(t_design)


def read_observed(source, scenario, *, label: str | None = None) -> pd.DataFrame:
    """Validate a published trial's results against ``scenario`` (a :class:`ketasim.scenario.Scenario`) and return
    them as a tidy table (one row per observed row): ``row`` (1-based), ``arm``, ``measure``, ``time_h`` (h; NaN for
    a measure with no time), ``observed`` (the measure's unit, :data:`UNITS`), ``n`` (patients in that arm of the
    published trial; NaN when absent: the virtual arm's size is used and ``n_from`` says so), ``n_from``, and the
    provenance columns of :data:`OPTIONAL_COLUMNS` (``spread`` a number or NaN, ``spread_kind`` SD | SE | none).

    ``source``: a CSV path, a pandas DataFrame or a list of dicts with the columns of :data:`REQUIRED_COLUMNS`
    (other columns, such as the reference file's ``population`` or ``dose``, are ignored). Every error is one line
    naming the row and the column (:class:`ketasim.errors.InputError`); ``label`` names a CSV file in those lines
    (default ``--observed FILE``). An optional ``domain`` column (one value for the whole file, at most
    :data:`MAX_DOMAIN_CHARS` characters) is kept for ``ketasim.external``. An optional ``scenario`` column names the
    scenario the file belongs to (its ``name:``, letter case ignored; one value for the whole file): another name is
    refused in one line naming both, before any row is read. Both columns' values fill the table's ``domain`` and
    ``scenario`` columns ("" when the file gives none). A file that names no scenario is read without a word here:
    the command line's ``trial --observed`` warns (:func:`untied_warning`, an ObservedWarning); an API caller can
    test the table's ``scenario`` column for "".

    ``final_dose_rate`` rows (the share of a titrated arm's patients on each final dose, in percent) name the level in
    a ``dose_level`` column ("84 mg", as the trial writes it; "84mg" and "84 MG" are read as "84 mg"); their
    ``timepoint_h`` is empty or the arm's last decision session (h), and the table's ``time_h`` is that session
    either way. ``dose_level`` is "" on every other row.

    ``time_to_relapse`` (days; ``value`` may be 'not reached', read as NaN) and ``relapse_hazard_ratio`` rows
    (``versus``: the trial's withdraw or control arm) need ``n`` and no time; their published 95 % CI is read from
    ``ci_low`` / ``ci_high`` (the table's columns of those names, NaN elsewhere; a median's bound 'not reached' is
    +inf), not from a spread.

    ``stratum`` (:func:`_row_stratum`): the stratum of a row of a stratified withdrawal (``design.criterion:
    stratified``), as the trial names it (:func:`withdrawal_strata`; every row but a PK or final_dose_rate row names
    one); "" on every other row and in every other scenario. ``randomized_fraction`` rows (a withdrawal's share of the
    patients who entered induction who were randomized, in percent; :func:`_randomized_share`) need ``n`` (the
    published share's denominator), may name either arm (the table's ``arm`` is the continue arm) and have ``time_h``
    the randomization. ``followed_fraction`` rows (an open-label follow-up's share of an arm's patients who were
    followed, in percent; :func:`_followed_share`) need ``n`` (the arm's patients, the share's denominator) and have
    ``time_h`` ``design.follow_up_from``.

    PK rows (``measure`` in :data:`PK_OBSERVABLE_MEASURES`; :func:`_pk_fields`) have an empty ``timepoint_h``
    (``time_h`` NaN), a value > 0 (ng/mL, ng*h/mL, h, or a ratio), and the table's ``analyte`` (canonical),
    ``statistic`` and ``versus`` (ratio rows: the control arm) columns, "" on every other row; ``n_versus`` (a
    parallel-design ratio row's control-arm patients, :func:`_n_versus`) is NaN on every other row."""
    from .limits import MAX_PATIENTS
    from .population import SCALES, canonical_scale

    where, cols, rows = _rows_of(source, label)
    where = _Where(where, {i: f" (line {r.pop(chr(0) + 'line')})" for i, r in enumerate(rows, start=1)
                           if chr(0) + "line" in r})
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise InputError(f"{where.name}: no column {missing[0]!r} (required: {', '.join(REQUIRED_COLUMNS)})"
                         + _missing_column_hint(cols))
    if not rows:
        raise InputError(f"{where.name}: no data rows")
    named = _one_per_file(rows, "scenario", where.name)
    domain = _one_per_file(rows, "domain", where.name, MAX_DOMAIN_CHARS)
    if named is not None and named.casefold() != str(scenario.name).strip().casefold():
        raise InputError(f"{where.name}, column scenario: the file belongs to scenario {named[:60]!r}, not to "
                         f"{scenario.name!r} (the scenario's name:); give this trial's observed file, or correct "
                         "its scenario column")
    ep = scenario.endpoints
    if ep is None:
        raise InputError(f"{where.name}: scenario {scenario.name} has no endpoints to compare with")
    design = dict(scenario.design)
    strata = withdrawal_strata(scenario)
    arms = [a.name for a in scenario.arms]
    arm_of = {a.name: a for a in scenario.arms}
    titrated = [a.name for a in scenario.arms if a.titration is not None]
    times = [float(t) for t in ep.times_h]
    times_text = ", ".join(f"{t:g}" for t in times)
    scale = scenario.population.scale
    control = _pk_control(scenario)
    out, seen = [], set()
    for i, raw in enumerate(rows, start=1):
        r = {k: _text(v) for k, v in raw.items()}
        if None in raw and _text(raw[None]):
            where.fail(i, "(extra)", f"more cells than columns: {_text(raw[None])[:40]!r}")
        short = [c for c in REQUIRED_COLUMNS if raw.get(c, "") is None]     # DictReader: a row with fewer cells
        if short:
            cells = sum(v is not None for k, v in raw.items() if k is not None)
            where.fail(i, short[0], f"the row has {cells} cell(s) where the header has {len(cols)} columns "
                                    "(a missing comma, or an unclosed quote?)")
        arm = r.get("arm", "")
        if arm not in arms:
            where.fail(i, "arm", f"{arm[:40]!r} is not an arm of scenario {scenario.name}"
                                   f"{_labelled_arm_hint(arm, arms, strata) or _did_you_mean(arm, arms)}; its arms: "
                                   f"{', '.join(arms)}")
        m = r.get("measure", "")
        pk = m in PK_OBSERVABLE_MEASURES
        surv = m in SURVIVAL_MEASURES
        analyte = statistic = versus = ""
        if pk:
            analyte, statistic, versus = _pk_fields(where, i, r, m, scenario, control)
        else:
            if m == "relapse_hazard_ratio":
                versus = _hazard_ratio_versus(where, i, r, scenario)
            for column in ("analyte", "statistic") + (() if m == "relapse_hazard_ratio" else ("versus",)):
                if r.get(column, ""):
                    where.fail(i, column, f"{r[column][:40]!r}: {column} belongs to a PK row (cmax, tmax, auc_0_t, "
                                          f"auc_0_inf, t_half or their _ratio) only; leave it empty for {m}")
        if not surv:
            for column in ("ci_low", "ci_high"):
                if r.get(column, ""):
                    where.fail(i, column, f"{r[column][:40]!r}: {column} (a published 95 % CI) belongs to a "
                                          "time_to_relapse or relapse_hazard_ratio row only; give this row's spread in "
                                          "spread and spread_kind")
        if m not in OBSERVABLE_MEASURES and not pk and not surv:
            # the scenario's own measures (a row must be one of them anyway): the list of all 21 was cut in the middle
            # by the one-line limit ('dissociation_rate, dizzine ... p_max_rise'), hiding some of them
            own = [x for x in OBSERVABLE_MEASURES + PK_MEASURES if x in ep.measures] + (
                ["followed_fraction"] if design.get("follow_up_from") is not None else [])   # reported always
            where.fail(i, "measure", f"{m[:40]!r} cannot be compared"
                                       f"{_did_you_mean(m, OBSERVABLE_MEASURES + SURVIVAL_MEASURES)}; scenario "
                                       f"{scenario.name}'s: {', '.join(own) or 'none'} (others, once in "
                                       "endpoints.measures: peaks, event rates, *_max_rise, relapse_rate, "
                                       "time_to_relapse; relapse_hazard_ratio if followed; final_dose_rate if "
                                       "titrated" + ("; randomized_fraction, % of induction randomized"
                                                     if strata else "") + ")")
        if (m not in ep.measures and m not in DOSE_MEASURES + SHARE_MEASURES and not pk
                and m != "relapse_hazard_ratio"):
            design = dict(scenario.design)
            if (m in ("relapse_rate", "time_to_relapse") and design.get("type", "parallel") != "randomized_withdrawal"
                    and design.get("follow_up_from") is None):
                # "add it there" sent the user to a scenario the loader then refuses (the measure needs a follow-up)
                where.fail(i, "measure", f"{m}: scenario {scenario.name} follows no patients for relapse (a "
                                         "randomized withdrawal, or a trial with design.follow_up_from)")
            where.fail(i, "measure", f"{m} is not among scenario {scenario.name}'s endpoints.measures "
                                       f"({', '.join(ep.measures)}); add it there to compare it")
        stratum = _row_stratum(where, i, r, m, scenario, strata, cols)
        level = ""
        if r.get("dose_level", "") and m not in DOSE_MEASURES:
            where.fail(i, "dose_level", f"{r['dose_level'][:40]!r}: a dose level belongs to a final_dose_rate row "
                                          f"only; leave it empty for {m}")
        t_text = r.get("timepoint_h", "")
        if m in DOSE_MEASURES:
            level, t = _final_dose(where, i, r, arm_of[arm], cols, titrated)
        elif pk:
            t = float("nan")            # _pk_fields refused a time
        elif m == "followed_fraction":
            t = _followed_share(where, i, r, scenario)
        elif m in SHARE_MEASURES:
            arm, t = _randomized_share(where, i, r, scenario)
        elif surv:
            if t_text:
                where.fail(i, "timepoint_h", f"{m} has no time (over the whole follow-up); leave timepoint_h empty")
            t = float("nan")
        elif m in TIMELESS_MEASURES:
            if t_text:
                where.fail(i, "timepoint_h", f"{m} has no time (" + ("over the whole follow-up"
                      if m == "relapse_rate" else "over all sessions") + "); leave timepoint_h empty")
            t = float("nan")
        else:
            if not t_text:
                where.fail(i, "timepoint_h", f"{m} needs a time: one of scenario {scenario.name}'s endpoint "
                                               f"times (h): {times_text}")
            t = _number(where, i, "timepoint_h", t_text)
            match = [x for x in times if abs(x - t) <= 1e-6 * max(1.0, abs(x))]
            if not match:
                where.fail(i, "timepoint_h", f"{t_text[:20]} h is not an endpoint time of scenario "
                                               f"{scenario.name}; its endpoint times (h): {times_text}")
            t = match[0]
        if m == "time_to_relapse" and _not_reached(r.get("value", "")):
            v = float("nan")            # a published median not reached within the follow-up (or not estimable)
        else:
            v = _number(where, i, "value", r.get("value", ""), hint="; a median not reached is 'not reached' (or NR)"
                        if m == "time_to_relapse" else "") if r.get("value", "") else \
                where.fail(i, "value", "empty: give the published value" + (
                    " (a median not reached: 'not reached')" if m == "time_to_relapse" else ""))
        if surv and not (v > 0 or math.isnan(v)):          # NaN: a median not reached
            what = "hazard ratio" if m == "relapse_hazard_ratio" else "median time to relapse (days)"
            where.fail(i, "value", f"{v:g}: a {what} is > 0")
        unit = UNITS[m]
        if unit == "percentage points" and not 0.0 <= v <= 100.0:
            where.fail(i, "value", f"{v:g} is not a percentage (0-100)")
        if m in NONNEGATIVE and v < 0:
            where.fail(i, "value", f"{v:g}: a {m} is not negative")
        if pk and not v > 0:
            where.fail(i, "value", f"{v:g}: a PK {'ratio' if versus else 'value'} is > 0 ({unit})")
        smax = SCALES[scale][0]
        from .population import scale_name      # 'MADRS', as the tables name it (the line said 'madrs')

        if m == "mean" and v > smax:
            where.fail(i, "value", f"{v:g} is above the top of the {scale_name(scale)} ({smax:g} points)")
        if m == "mean_change" and abs(v) > smax:
            where.fail(i, "value", f"{v:g} points: a change on the {scale_name(scale)} lies within -{smax:g} to "
                                   f"+{smax:g}")
        if r.get("scale") and m in SCORE_MEASURES + ("relapse_rate",) + SURVIVAL_MEASURES + SHARE_MEASURES:
            text = r["scale"].split("(")[0].strip()        # 'MADRS (response >=50%)' as the reference file has it
            try:
                given = canonical_scale(text, "scale")
            except InputError as e:         # 'pcl', 'hads': the scale's own line says which instrument is meant
                where.fail(i, "scale", str(e).split(": ", 1)[1])
            if given != scale:
                where.fail(i, "scale", f"{r['scale'][:40]!r} is not scenario {scenario.name}'s scale ({scale})")
        kind = r.get("spread_kind", "")
        kind = next((k for k in SPREAD_KINDS if k.lower() == kind.lower()), None) if kind else ""
        if kind is None:
            kinds = " | ".join(k for k in SPREAD_KINDS if pk or k != "CV")      # CV: a PK row's only
            where.fail(i, "spread_kind", f"{r['spread_kind'][:20]!r}: use one of {kinds}")
        if surv and (kind in ("SD", "SE", "CV") or r.get("spread", "")):
            where.fail(i, "spread" if r.get("spread", "") else "spread_kind",
                       f"{m}: give its published 95 % CI in ci_low and ci_high (a spread is not read for a "
                       f"{'hazard ratio' if m == 'relapse_hazard_ratio' else 'Kaplan-Meier median'}); leave spread "
                       "empty")
        ci_low, ci_high = _survival_ci(where, i, r, m, v) if surv else (float("nan"), float("nan"))
        if kind == "CV" and not pk:
            where.fail(i, "spread_kind", f"CV (a coefficient of variation in %) is a PK row's spread; {m} takes SD, "
                                         "SE or none")
        if pk and kind in ("SD", "SE", "CV"):
            _check_pk_spread(where, i, m, statistic, kind)
        spread = float("nan")
        if r.get("spread", ""):
            spread = _number(where, i, "spread", r["spread"])
            if spread < 0:
                where.fail(i, "spread", f"{spread:g} is negative")
            if kind in ("", "none"):
                where.fail(i, "spread_kind", "a spread is given: say whether it is an SD or an SE"
                                             + (" (or a CV in %)" if pk else ""))
        elif kind in ("SD", "SE", "CV"):
            where.fail(i, "spread", f"spread_kind is {kind} but no spread is given")
        n = float("nan")
        if r.get("n", ""):
            try:
                n = float(r["n"])
            except ValueError:
                n = 0.0
            if not (math.isfinite(n) and n >= 1 and n == int(n)):
                where.fail(i, "n", f"{r['n'][:40]!r}: give the patients in this arm as a whole number >= 1 "
                                     "(leave it empty to use the virtual arm's size)")
            if n > MAX_PATIENTS:
                where.fail(i, "n", f"{r['n'][:40]} patients in one arm is more than the {MAX_PATIENTS:,} supported")
            if pk and n > PK_MAX_ROW_N:
                where.fail(i, "n", f"{r['n'][:40]} patients: a PK row's n is at most {PK_MAX_ROW_N:,} (the patients "
                                   "whose levels the study's statistic summarises)")
        elif m == "followed_fraction":
            where.fail(i, "n", f"{m} needs n: the patients of this arm in the published trial (the denominator of "
                               "its share followed)")
        elif m in SHARE_MEASURES:
            where.fail(i, "n", f"{m} needs n: the patients who entered induction in the published trial (the "
                               "denominator of its share randomized)")
        elif m == "relapse_rate" or surv:
            # its denominator is who was randomized or followed, not the arm's size: no default would be honest
            what = {"relapse_rate": "a relapse rate", "time_to_relapse": "a median time to relapse",
                    "relapse_hazard_ratio": "a hazard ratio"}[m]
            whose = "each arm" if m == "relapse_hazard_ratio" else "this arm"
            where.fail(i, "n", f"{what} needs n: the patients of {whose} who were randomized (withdrawal) or followed "
                               "(open-label follow-up) in the published trial")
        if surv and n > MAX_RELAPSE_ROW_N:
            where.fail(i, "n", f"{r['n'][:40]} patients: a {m} row's n is at most {MAX_RELAPSE_ROW_N:,} (the "
                               "patients randomized or followed per arm)")
        n_versus = _n_versus(where, i, r, m, scenario)
        key = (arm, m, None if math.isnan(t) else t, level, analyte, statistic, r.get("trial_id", ""), stratum)
        if key in seen and m == "randomized_fraction":     # its arm is the continue arm whichever the row names
            where.fail(i, "measure", "randomized_fraction is one share per stratum (either arm may name it): a second "
                                     "row" + (f" for {stratum}" if stratum else ""))
        if key in seen:
            where.fail(i, "dose_level" if level else "measure",
                       f"a second row for arm {arm}" + (f" [{stratum}]" if stratum else "") + f", {m}"
                       + (f" {level}" if level else "")
                       + (f" of {analyte} ({statistic})" if pk else "")
                       + ("" if math.isnan(t) else f" at {t:g} h") + " (same trial_id)")
        seen.add(key)
        out.append({"row": i, "arm": arm, "measure": m, "time_h": t, "dose_level": level, "observed": v, "n": n if math.isnan(n) else int(n),
                    "n_from": N_FROM_FILE if not math.isnan(n) else N_FROM_ARM, "scale": r.get("scale", ""),
                    "spread": spread, "spread_kind": kind or "", "trial_id": r.get("trial_id", ""),
                    "citation": r.get("citation", ""), "source_url": r.get("source_url", ""),
                    "notes": r.get("notes", ""), "domain": domain or "", "scenario": named or "",
                    "analyte": analyte, "statistic": statistic, "versus": versus, "n_versus": n_versus,
                    "ci_low": ci_low, "ci_high": ci_high, "stratum": stratum})
    _check_fraction_rates(where, out)
    df = pd.DataFrame(out)
    df.attrs["source"] = where.name         # compare_observed's warnings name the file ('--observed FILE')
    return df


#: efficacy rates that no trial arm reports under 1 %: a value in (0, 1) of these is a fraction, not a percentage
_EFFICACY_RATES = ("response_rate", "remission_rate")


def _check_fraction_rates(where: _Where, rows: list[dict]) -> None:
    """Rates are percentages (0-100): a file whose rates are all at most 1 with response or remission rates in
    (0, 1) wrote fractions (0.64 for 64 %), which were compared as 0.64 % (an error of 39 points, 'outside'). Two or
    more such rows are refused; a single one warns (ObservedWarning) and is compared as written, since an arm of 125
    with one remitter is a true 0.8 % (R5-4)."""
    rates = [r for r in rows if UNITS.get(r["measure"]) == "percentage points" and r["measure"] not in DOSE_MEASURES]
    if not rates or any(r["observed"] > 1.0 for r in rates):
        return
    fracs = [r for r in rates if r["measure"] in _EFFICACY_RATES and 0.0 < r["observed"] < 1.0]
    if not fracs:
        return
    frac = fracs[0]
    what = (f"{frac['observed']:g} looks like a fraction: rates are percentages (0-100); write "
            f"{100 * frac['observed']:g} for {100 * frac['observed']:g} %")
    if len(fracs) >= 2:
        where.fail(frac["row"], "value", f"{what} ({len(fracs)} response/remission rates are between 0 and 1 and "
                                         f"none above 1)")
    warnings.warn(f"{where.name} row {frac['row']}{where.lines.get(frac['row'], '')}, column value: {what}; compared "
                  f"as {frac['observed']:g} % (a true rate under 1 % is kept)", ObservedWarning, stacklevel=3)


def _trial_row(tr, arm: str, measure: str, time_h: float, dose_level: str = "", stratum: str = ""):
    for r in tr.endpoints:
        if r["arm"] != arm or r["measure"] != measure or r.get("stratum", "") != stratum or "analyte" in r:
            continue
        if dose_level or "dose_level" in r:          # final_dose_rate: one row per level, at the last decision
            if r.get("dose_level") == dose_level:
                return r
            continue
        if measure in TIMELESS_MEASURES or (r["time_h"] is not None
                                            and abs(r["time_h"] - time_h) <= 1e-6 * max(1.0, abs(time_h))):
            return r
    return None


def _observed_ci(observed: float, n: int, spread: float, kind: str, rate: bool) -> tuple[float, float]:
    """95 % CI of the published value from its own spread (SD: SD / sqrt(n); SE), else for a rate the Wilson
    interval of its count in n patients; else none (NaN)."""
    from .trial import wilson_ci

    if kind == "SD" and math.isfinite(spread):
        h = 1.96 * spread / math.sqrt(max(n, 1))
    elif kind == "SE" and math.isfinite(spread):
        h = 1.96 * spread
    elif rate:
        return tuple(wilson_ci(round(observed / 100.0 * n), n))
    else:
        return float("nan"), float("nan")
    return observed - h, observed + h


def compare_observed(result, observed, *, default_n=None) -> pd.DataFrame:
    """Predicted vs observed for each row of ``observed`` (a table of :func:`read_observed`, or anything it reads:
    a CSV path, a DataFrame, a list of dicts), from ``result`` (a :class:`ketasim.trial.TrialResult`). Nothing is
    fitted. A tidy table, one row per observed row, with the observed row's columns and

    - ``predicted``: the trial's value of that arm, measure and time; ``error`` = predicted - observed (``unit``);
    - ``pi_low``, ``pi_high``: the 95 % prediction interval of the statistic in a trial of ``n`` patients (the
      row's, else ``default_n`` (patients per arm: an int or {arm: int}; ``n_from`` "arm size of the scenario"),
      else the virtual arm's: ``n_from``) and ``inside`` (bool). Means: predicted +- 1.96 sqrt(s^2 / n +
      MC^2 + V), s the virtual arm's patient SD (``predicted_patient_sd``, from its CI: SE x sqrt(arm size)), MC
      this virtual trial's standard error of the prediction, V the draws' variance (0 without ``uncertainty``).
      Rates: beta-binomial counts of n patients whose true rate has variance MC^2 + V, MC from Jeffreys' posterior
      of the virtual arm's count (:func:`ketasim.calibration.observed_interval`);
    - ``sampling_sd`` (s / sqrt(n), or 100 sqrt(p (1 - p) / n) for a rate), ``mc_sd``, ``draws_sd`` (sqrt V);
    - ``observed_ci_low``, ``observed_ci_high``: the published value's own 95 % CI from its spread (rates without
      one: Wilson from n).

    A ``final_dose_rate`` row is compared with the trial's row of the same arm and ``dose_level`` (its ``time_h``
    is the arm's last decision session) and has a rate's interval; ``dose_level`` is "" on other rows.

    A PK row (:data:`PK_OBSERVABLE_MEASURES`) is compared with the trial's per-patient NCA (:func:`_compare_pk`):
    ``predicted`` the row's statistic over the virtual arm's patients (the trial's own endpoint or comparison row),
    ``pi_low``/``pi_high`` the 2.5/97.5 percentiles of that statistic over :data:`PK_BOOTSTRAP_RESAMPLES` bootstrap
    trials of ``n`` patients, ``fold_error`` = predicted / observed (NaN on other rows), ``analyte``, ``statistic``
    and ``versus`` ("" on other rows); its unit is ng/mL, ng*h/mL, h or "ratio".

    A ``time_to_relapse`` or ``relapse_hazard_ratio`` row is compared by :func:`_compare_relapse` (unit "days" or
    "hazard ratio"; a ``note`` column, "" on other rows, says what is not reached or undefined).

    A row of a stratified withdrawal (``stratum`` not "") is compared with the trial's row of that stratum: its
    ``arm`` (and a hazard ratio's ``versus``) is the trial's group "ARM [STRATUM]" (:func:`trial_arm_name`) and its
    ``stratum`` the stratum ("" on other rows). A ``randomized_fraction`` row is a rate row whose Monte Carlo error
    comes from the virtual induction's size (``TrialResult.patients_per_arm``, :func:`_virtual_n`); a
    ``followed_fraction`` row one whose Monte Carlo error comes from the virtual arm's size.

    The interval's scope is in ``attrs["interval"]``; :func:`observed_summary` gives the summary."""
    from .calibration import observed_interval, statistic_sampling_sd, virtual_rate_estimate
    from .trial import TrialResult, _row_key

    if not isinstance(result, TrialResult):     # a SimulationResult or a path failed with an AttributeError
        raise InputError(f"result: expected a TrialResult (ketasim.run_trial(scenario)), got {type(result).__name__}")
    if not isinstance(observed, pd.DataFrame) or "n_from" not in observed.columns:
        observed = read_observed(observed, result.scenario)
    draws = result.uncertainty is not None
    out = []
    for rec in observed.to_dict("records"):
        arm, m, t = rec["arm"], rec["measure"], rec["time_h"]
        stratum = _rec_stratum(rec)
        if m in PK_OBSERVABLE_MEASURES:
            out.append({**_compare_pk(result, rec, default_n), "stratum": ""})
            continue
        if m in SURVIVAL_MEASURES:
            out.append(_compare_stratum_relapse(result, rec, stratum))
            continue
        level = rec.get("dose_level") or ""
        group = trial_arm_name(arm, stratum)        # a stratified withdrawal's rows: "ARM [STRATUM]"
        r = _trial_row(result, group, m, t, level, stratum)
        if r is None:
            raise InputError(f"observed row {rec['row']}, column measure: the trial has no {m} row for arm {group}"
                             + (f" at {level}" if level else "" if m in TIMELESS_MEASURES else f" at {t:g} h"))
        if level:
            t = float(r["time_h"])
        v = float(r["value"])
        n_virtual = _virtual_n(result, r, group)
        n_from = rec["n_from"]
        if n_from == N_FROM_FILE:
            n = int(rec["n"])
        elif default_n is not None:
            n = int(default_n[arm] if isinstance(default_n, dict) else default_n)
            n_from = N_FROM_SCENARIO
        else:
            n = int(result.outcomes[group].n)
        var_draws = float(result.draw_variance.get(_row_key(r), 0.0)) if draws else 0.0
        note = draws_note(result, _row_key(r), m) if draws else ""
        rate = UNITS[m] == "percentage points"
        patient_sd = float("nan")
        if not math.isfinite(v):
            lo = hi = mc = samp = float("nan")
            inside = False
        elif rate:
            mc = math.sqrt(virtual_rate_estimate(v, n_virtual)[1])     # Jeffreys: not 0 at a predicted 0 %
            samp = statistic_sampling_sd(m, v, 100.0 * math.sqrt(v / 100.0 * (1.0 - v / 100.0)), n)
            lo, hi, inside = observed_interval(rec["observed"], v, n, 0.0, var_draws, rate=True,
                                               estimate_n=n_virtual)
        else:
            half = (r["ci95"][1] - r["ci95"][0]) / 2.0
            mc = half / float(stats.t.ppf(0.975, max(n_virtual - 1, 1))) if math.isfinite(half) else 0.0
            patient_sd = mc * math.sqrt(n_virtual)
            samp = statistic_sampling_sd(m, v, patient_sd, n)
            lo, hi, inside = observed_interval(rec["observed"], v, n, samp * samp, var_draws + mc * mc, rate=False,
                                               nonnegative=m in NONNEGATIVE)
        if m == "mean_change" and not inside and rec["observed"] > 0 and lo <= -rec["observed"] <= hi:
            _warn_sign(observed.attrs.get("source", "observed"), rec, t, lo, hi)
        o_lo, o_hi = _observed_ci(rec["observed"], n, rec["spread"], rec["spread_kind"], rate)
        out.append({"row": rec["row"], "trial_id": rec["trial_id"], "arm": group, "stratum": stratum, "measure": m,
                    "time_h": t, "dose_level": level, "unit": UNITS[m], "observed": rec["observed"], "predicted": v,
                    "error": v - rec["observed"], "pi_low": float(lo), "pi_high": float(hi), "inside": bool(inside),
                    "n": n, "n_from": n_from, "n_virtual": n_virtual, "sampling_sd": float(samp),
                    "mc_sd": float(mc), "draws_sd": math.sqrt(var_draws), "predicted_patient_sd": patient_sd,
                    "observed_ci_low": float(o_lo), "observed_ci_high": float(o_hi),
                    **{k: rec[k] for k in ("scale", "spread", "spread_kind", "citation", "source_url", "notes")},
                    "analyte": "", "statistic": "", "versus": "", "fold_error": float("nan"),
                    **({"note": note} if note else {})})
    df = pd.DataFrame(out)
    # time_to_relapse / relapse_hazard_ratio rows: why a number is missing; any row of a withdrawal / follow-up:
    # what its draws' variance rests on (draws_note)
    if "note" in df.columns:
        df["note"] = df["note"].fillna("")
    pk = df["measure"].isin(PK_OBSERVABLE_MEASURES) if len(df) else pd.Series(dtype=bool)
    surv = df["measure"].isin(SURVIVAL_MEASURES) if len(df) else pd.Series(dtype=bool)
    if len(df) and pk.all():            # no row a posterior or the virtual trial's Monte Carlo error widens
        df.attrs["interval"] = PK_INTERVAL_NOTE + " Nothing is fitted."
    else:
        df.attrs["interval"] = (interval_scope(result) + (" " + PK_INTERVAL_NOTE if pk.any() else "")
                                + (" " + RELAPSE_INTERVAL_NOTE if surv.any() else ""))
    from .population import scale_name

    df.attrs["scale"] = scale_name(result.scenario.population.scale)    # the printed table's 'MADRS points'
    return df


#: words on the draws a whole-design row's variance leaves out, by measure (:func:`draws_note`)
_LEFT_OUT = {"time_to_relapse": "an empty group",
             "relapse_hazard_ratio": "an empty group, nobody relapsed, or a ratio of 0 or infinity whose likelihood "
                                     "gives no profile bound"}
_CENSORED = {"time_to_relapse": "a median not reached: beyond the follow-up",
             "relapse_hazard_ratio": "a ratio of 0 or infinity: beyond its profile-likelihood bound"}


def draws_note(result, key, measure: str) -> str:
    """An observed row's words on the whole-trial draws its variance rests on (a randomized withdrawal's or
    follow-up's ``--uncertainty``; ``TrialResult.draw_variance_draws`` and ``draw_variance_censored``), '' when it
    rests on all of them and none is censored: how many it rests on (the others' reason), how many of them are
    censored (a median not reached, a ratio of 0 or infinity: fitted as a censored normal, ``trial.net_draw_variance``)
    and, when it rests on fewer than :data:`~ketasim.limits.MIN_PER_ROW_DRAWS` of at least that many draws, that the
    variance between draws is poorly known (the scope line says so for every row when all the draws are fewer), or,
    with fewer than 2 defined draws, that none could be estimated (fifty-fourth session). Rate and mean rows as
    survival rows (fifty-third session; before, only the survival rows said it)."""
    from .limits import MIN_PER_ROW_DRAWS

    u = getattr(result, "uncertainty", None)
    used = result.draw_variance_draws.get(key) if u is not None else None
    if used is None:
        return ""
    total = int(u["parameter_draws"])
    censored = int(getattr(result, "draw_variance_censored", {}).get(key, 0))
    if used >= total and not censored:
        return ""
    out = f"the draws' variance rests on {used} of {total} whole-trial draws"
    if used < total:
        why = _LEFT_OUT.get(measure, "an empty group" if UNITS.get(measure) == "percentage points"
                            else "an empty group or one of a single patient")
        out += f" (the others: {why})"
    if censored:
        out += (f", {censored} of them censored ({_CENSORED.get(measure, 'beyond a bound')}; fitted as a censored "
                "normal)")
    if used - censored < 2:
        # trial.net_draw_variance needs 2 defined draws: the row's interval then adds no between-draw variance
        out += ("; fewer than 2 of them defined: no variance between draws could be estimated (none is added to the "
                "interval)")
    elif used < MIN_PER_ROW_DRAWS <= total:
        out += f"; fewer than {MIN_PER_ROW_DRAWS}: the variance between draws is poorly known"
    return out


def _rec_stratum(rec: dict) -> str:
    """The stratum of a row of :func:`read_observed`'s table ("" when none, or from a table without the column)."""
    x = rec.get("stratum")
    return x if isinstance(x, str) else ""


def _virtual_n(result, r: dict, group: str) -> int:
    """The virtual patients behind a trial row's rate or mean (its Monte Carlo error): the row's ``n`` when it has
    one; a ``randomized_fraction`` row's the patients who entered induction (``patients_per_arm``: the continue arm
    before the randomization, whose ``outcomes`` entry holds only those randomized); else the group's (a
    ``followed_fraction`` row's denominator: the arm's patients)."""
    if r.get("n"):
        return int(r["n"])
    if r["measure"] == "randomized_fraction" and getattr(result, "patients_per_arm", None):
        return int(result.patients_per_arm)
    return int(result.outcomes[group].n)


def _compare_stratum_relapse(result, rec: dict, stratum: str) -> dict:
    """:func:`_compare_relapse` of a row of one stratum of a stratified withdrawal: its arm and ``versus`` are the
    trial's groups of that stratum ("ARM [STRATUM]", as the trial's rows, comparisons and ``relapse_times`` name them),
    and the output row keeps those names and the stratum; a row without a stratum is compared as before."""
    if not stratum:
        return {**_compare_relapse(result, rec), "stratum": ""}
    versus = rec.get("versus") or ""
    group = {**rec, "arm": trial_arm_name(rec["arm"], stratum), "stratum": stratum,
             "versus": trial_arm_name(versus, stratum) if versus else ""}
    return {**_compare_relapse(result, group), "stratum": stratum}


def _pk_values(result, arm: str, analyte: str, measure: str, row: int) -> pd.DataFrame:
    """(subject, value) of ``arm``'s patients for one analyte and NCA measure from ``result.pk`` (one line when
    the trial has no PK of that arm or analyte)."""
    df = result.pk.get(arm) if isinstance(result.pk, dict) else None
    if df is None or not len(df):
        raise InputError(f"observed row {row}, column arm: the trial has no PK of arm {arm} (no drug with PK in it, "
                         "or no PK measure in endpoints.measures)")
    part = df[df["analyte"] == analyte]
    if not len(part):
        raise InputError(f"observed row {row}, column analyte: arm {arm} has no {analyte} in the trial; its "
                         f"analytes: {', '.join(dict.fromkeys(df['analyte']))}")
    part = part.sort_values("subject", kind="stable")
    return pd.DataFrame({"subject": part["subject"].to_numpy(),
                         "value": part[NCA_COLUMNS[measure]].to_numpy(float)})


def _row_rng(result, rec: dict) -> np.random.Generator:
    """The bootstrap's generator: seeded by the row (arm, measure, analyte, statistic, versus, n) and the trial's
    seed, so a comparison is reproducible and the same row gives the same interval in any file."""
    import zlib

    key = "|".join(str(rec.get(k, "")) for k in ("arm", "measure", "analyte", "statistic", "versus", "n"))
    nv = rec.get("n_versus")
    if nv is not None and nv == nv:         # given (not NaN): its own draws; a row without it keeps its old ones
        key += f"|{int(nv)}"
    return np.random.default_rng([zlib.crc32(key.encode("utf-8")), int(getattr(result, "seed", 0) or 0)])


def _bootstrap(rng: np.random.Generator, samples: list[np.ndarray], sizes: list[int],
               statistic, resamples: int = PK_BOOTSTRAP_RESAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """(study, virtual): :data:`PK_BOOTSTRAP_RESAMPLES` values each of ``statistic(*resamples)``. Two stages, so that
    the interval holds this virtual trial's own Monte Carlo error as well as the study's sampling (review s50 H-1: with
    one stage a 10-patient virtual arm gave nominal 95 % intervals that held 76 % of studies): each resample first
    draws ``samples[k].size`` values with replacement from ``samples[k]`` (a virtual arm as it might have come out:
    ``virtual`` is the statistic over these, whose SD is the prediction's Monte Carlo error), then ``sizes[k]`` values
    from that resample (a study of n: ``study``). ``samples``: arrays of per-patient values (a paired ratio passes
    one array of log ratios; a relapse row passes patient indices, which its statistic maps to times to relapse).
    Row-wise on (chunk, m + n) arrays; chunks keep each draw under :data:`PK_BOOTSTRAP_CHUNK_VALUES` values.
    ``resamples``: how many (default :data:`PK_BOOTSTRAP_RESAMPLES`)."""
    study, virtual = np.empty(resamples), np.empty(resamples)
    per_chunk = max(1, PK_BOOTSTRAP_CHUNK_VALUES // max(x.size + n for x, n in zip(samples, sizes)))
    for start in range(0, resamples, per_chunk):
        k = min(per_chunk, resamples - start)
        arms = [x[rng.integers(0, x.size, size=(k, x.size))] for x in samples]
        draws = [np.take_along_axis(a, rng.integers(0, a.shape[1], size=(k, n)), axis=1)
                 for a, n in zip(arms, sizes)]
        study[start:start + k] = statistic(*draws)
        virtual[start:start + k] = statistic(*arms)
    return study, virtual


def _pk_n(rec: dict, arm: str, default_n, evaluable: int) -> tuple[int, str]:
    """(n, n_from) of a PK row: the row's n, else ``default_n`` (an int or {arm: int}), else the virtual arm's
    evaluable patients."""
    if rec["n_from"] == N_FROM_FILE:
        return int(rec["n"]), N_FROM_FILE
    if default_n is not None:
        return int(default_n[arm] if isinstance(default_n, dict) else default_n), N_FROM_SCENARIO
    return int(evaluable), N_FROM_ARM


def _control_arm_n(rec: dict, versus: str, n: int, n_from: str, default_n, evaluable: int) -> tuple[int, str]:
    """(n, n_from) of a ratio row's control arm (a parallel PK ratio, a hazard ratio): the row's ``n_versus``; else the
    row's ``n`` when the file
    gives one (``N_VERSUS_FROM_N``: the output says so; review s50 L-2, both arms took the file's one n without a
    word); else as :func:`_pk_n` for the control arm (``default_n``, else its evaluable patients)."""
    nv = rec.get("n_versus")
    if nv is not None and nv == nv:
        return int(nv), N_FROM_FILE
    if n_from == N_FROM_FILE:
        return n, N_VERSUS_FROM_N
    return _pk_n(rec, versus, default_n, evaluable)


def _compare_pk(result, rec: dict, default_n) -> dict:
    """One PK row of :func:`compare_observed`. The prediction is the row's statistic over the virtual arm's
    evaluable patients of the analyte in ``result.pk`` (the trial's per-patient NCA): a geometric mean (positive
    values; the trial's endpoint row), an arithmetic mean, a median (the trial's Tmax row), or for a ratio row the
    geometric mean ratio versus the control arm, paired on the same subjects in a crossover (the trial's comparison
    row, ``nca.geometric_mean_ratio``). Its 95 % prediction interval is the 2.5 and 97.5 percentiles of the same
    statistic over :data:`PK_BOOTSTRAP_RESAMPLES` resamples of n patients from the virtual patients (n: the row's,
    else ``default_n``, else the virtual arm's evaluable patients; a parallel ratio draws n from the test arm and
    ``n_versus`` from the control arm (:func:`_control_arm_n`), a paired one n pairs), each from a resample of the virtual patients (:func:`_bootstrap`: the prediction's Monte Carlo
    error is in the interval), seeded by the row (:func:`_row_rng`). ``sampling_sd`` is the SD of the resampled
    studies' statistic, ``mc_sd`` that of the resampled virtual arms' (the prediction's Monte Carlo error),
    ``predicted_patient_sd`` the SD of the per-patient values (NaN for a ratio), ``draws_sd`` 0 (no posterior). A
    study larger than the virtual arm warns (ObservedWarning): its interval is then mostly Monte Carlo error."""
    from .nca import geometric_mean_ratio

    arm, m, analyte, statistic = rec["arm"], rec["measure"], rec["analyte"], rec["statistic"]
    ratio = m in PK_RATIO_MEASURES
    base = m.removesuffix("_ratio") if ratio else m
    rng = _row_rng(result, rec)
    nan = float("nan")
    patient_sd = nan
    n_ref, n_ref_from = None, ""            # a parallel ratio's control-arm n
    if ratio:
        versus = rec["versus"]
        test = _pk_values(result, arm, analyte, base, rec["row"])
        ref = _pk_values(result, versus, analyte, base, rec["row"])
        paired = (getattr(result, "design", "") == "crossover"
                  and np.array_equal(test["subject"].to_numpy(), ref["subject"].to_numpy()))
        a, b = test["value"].to_numpy(float), ref["value"].to_numpy(float)
        v = geometric_mean_ratio(a, b, paired=paired)[0]
        if paired:
            ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
            d = np.log(a[ok]) - np.log(b[ok])
            evaluable = int(d.size)
            n, n_from = _pk_n(rec, arm, default_n, evaluable)
            boot = (_bootstrap(rng, [d], [n], lambda x: np.exp(x.mean(axis=1))) if evaluable >= 2 else None)
        else:
            la, lb = (np.log(x[np.isfinite(x) & (x > 0)]) for x in (a, b))
            evaluable = int(min(la.size, lb.size))
            n, n_from = _pk_n(rec, arm, default_n, int(la.size))
            n_ref, n_ref_from = _control_arm_n(rec, versus, n, n_from, default_n, int(lb.size))
            boot = (_bootstrap(rng, [la, lb], [n, n_ref], lambda x, y: np.exp(x.mean(axis=1) - y.mean(axis=1)))
                    if evaluable >= 2 else None)
    else:
        x = _pk_values(result, arm, analyte, base, rec["row"])["value"].to_numpy(float)
        x = x[np.isfinite(x) & ((x > 0) if statistic == "geometric mean" else True)]
        evaluable = int(x.size)
        n, n_from = _pk_n(rec, arm, default_n, evaluable)
        # the statistic as a row-wise function of (resamples, patients) arrays: the prediction is it over one row
        values, of_rows = ((np.log(x), lambda y: np.exp(y.mean(axis=1))) if statistic == "geometric mean" else
                           (x, lambda y: y.mean(axis=1)) if statistic == "mean" else
                           (x, lambda y: np.median(y, axis=1)))
        v = float(of_rows(values[None, :])[0]) if x.size else nan
        boot = _bootstrap(rng, [values], [n], of_rows) if x.size >= 2 else None
        patient_sd = float(np.std(x, ddof=1)) if x.size >= 2 else nan
    if boot is None or not math.isfinite(v):
        lo = hi = samp = mc = nan
        inside = False
    else:
        boot, virtual = boot
        lo, hi = (float(q) for q in np.percentile(boot, [2.5, 97.5]))
        samp, mc = float(np.std(boot, ddof=1)), float(np.std(virtual, ddof=1))
        inside = lo <= rec["observed"] <= hi
        big = max(n, n_ref or 0)            # (a parallel ratio: the larger of its two arms' n)
        if big > evaluable:
            warnings.warn(f"observed row {rec['row']} ({m} {analyte}, arm {arm}): the virtual arm has {evaluable} "
                          f"evaluable patient(s), fewer than the study's {big}: its interval is mostly this virtual "
                          f"trial's Monte Carlo error; run with --size {big} or more", ObservedWarning, stacklevel=3)
    o_lo, o_hi = _pk_observed_ci(rec["observed"], n, rec["spread"], rec["spread_kind"], statistic)
    return {"row": rec["row"], "trial_id": rec["trial_id"], "arm": arm, "measure": m, "time_h": nan,
            "dose_level": "", "unit": UNITS[m], "observed": rec["observed"], "predicted": float(v),
            "error": float(v) - rec["observed"], "pi_low": lo, "pi_high": hi, "inside": bool(inside),
            "n": int(n), "n_from": n_from, "n_virtual": evaluable, "sampling_sd": samp, "mc_sd": mc,
            "draws_sd": 0.0, "predicted_patient_sd": patient_sd, "observed_ci_low": float(o_lo),
            "observed_ci_high": float(o_hi),
            **{k: rec[k] for k in ("scale", "spread", "spread_kind", "citation", "source_url", "notes")},
            "analyte": analyte, "statistic": statistic, "versus": rec["versus"],
            "fold_error": float(v) / rec["observed"], "n_versus": n_ref, "n_versus_from": n_ref_from}


def _relapse_follow_up(result, arm: str, row: int) -> tuple[np.ndarray, np.ndarray]:
    """(time to relapse in h, relapsed?) of ``arm``'s randomized or followed virtual patients
    (``TrialResult.relapse_times``), one line when the trial has none."""
    got = (getattr(result, "relapse_times", None) or {}).get(arm)
    if got is None:
        raise InputError(f"observed row {row}, column arm: the trial followed no patients of arm {arm} for relapse "
                         "(a randomized withdrawal or design.follow_up_from)")
    return np.asarray(got[0], float), np.asarray(got[1], bool)


def _percentile_interval(x: np.ndarray) -> tuple[float, float]:
    """2.5 and 97.5 percentiles (linear) of bootstrap values that may be +inf (a median not reached) or NaN
    (undefined: dropped); an infinite bound stays infinite (``trial._empirical_interval`` without widening)."""
    from .trial import _empirical_interval

    lo, hi = _empirical_interval(np.asarray(x, float), float("nan"))
    return float(lo), float(hi)


def _finite_sd(x: np.ndarray) -> float:
    """SD of the finite bootstrap values (a median not reached, a ratio of 0 or infinity left out); NaN under 2."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.std(x, ddof=1)) if x.size >= 2 else float("nan")


def _compare_relapse(result, rec: dict) -> dict:
    """One ``time_to_relapse`` or ``relapse_hazard_ratio`` row of :func:`compare_observed`.

    Prediction: the trial's own row: the arm's Kaplan-Meier median time to relapse (days) or the comparison's Cox
    hazard ratio (``trial.cox_hazard_ratio``: Efron ties) of ``arm`` vs ``versus``. Interval: the 2.5 and
    97.5 percentiles of the same statistic over :data:`RELAPSE_BOOTSTRAP_RESAMPLES` two-stage bootstrap studies
    (:func:`_bootstrap`, seeded by the row: each resamples the virtual arm's randomized or followed patients, then
    draws the row's n from that resample, per arm for a ratio), computed row-wise on count tables of the visit grid
    (``trial.km_median_rows``, ``trial.cox_hazard_ratio_rows``). A median not reached counts as longer than the follow-up
    (+inf: the upper bound is then 'not reached'); a resample's ratio is 0 or +inf when one group had no relapse or the
    groups separate, and left out only when nobody relapsed. With ``--uncertainty`` (whole-trial draws,
    ``trial.empirical_prediction_intervals``) each bootstrap study's statistic is also multiplied by exp(z), z normal
    with the draws' variance of the log statistic net of their own sampling error (``TrialResult.draw_variance``:
    parameter uncertainty and between-trial heterogeneity; a ratio of 0 or +inf and a median not reached stay so),
    and ``draws_sd`` is its SD (log scale; ``sampling_sd`` and ``mc_sd`` stay the bootstrap's, in the row's unit); a
    median so shifted stays within the follow-up's visits (below the virtual arm's first relapse or censoring time:
    that time; beyond the last visit: not reached, as a study of that follow-up would report it).
    ``inside``: the observed value within the interval; a published median 'not reached' is inside when the
    interval's upper bound is not reached. ``note`` says in words what is not reached or undefined."""
    from .trial import (_row_key, comparison_draw_key, cox_hazard_ratio_rows, km_median_rows, profile_bound_text,
                        visit_grid_counts)

    arm, m = rec["arm"], rec["measure"]
    nan = float("nan")
    rng = _row_rng(result, rec)
    n = int(rec["n"])
    obs = float(rec["observed"])
    notes = []
    if m == "time_to_relapse":
        row = next((r for r in result.endpoints if r["arm"] == arm and r["measure"] == m
                    and r.get("stratum", "") == rec.get("stratum", "")), None)
        if row is None:
            raise InputError(f"observed row {rec['row']}, column measure: the trial has no time_to_relapse row for arm "
                             f"{arm}")
        t, e = _relapse_follow_up(result, arm, rec["row"])
        v = float(row["value"]) if row["value"] is not None else nan
        grid = np.unique(t)
        pos = np.searchsorted(grid, t)
        days = grid / 24.0

        def statistic(ia):
            return km_median_rows(*visit_grid_counts(ia, pos, e, grid.size), days)

        samples, sizes, evaluable = [np.arange(t.size)], [n], int(t.size)
        if not math.isfinite(v):
            notes.append("the model's median is not reached (fewer than half of the virtual arm relapsed within the "
                         "follow-up)" if t.size else "no virtual patient was randomized or followed in this arm")
        if math.isnan(obs):
            notes.append("the published median was not reached")
        versus = ""
        n_ref, n_ref_from = nan, ""
    else:
        versus = rec["versus"]
        row = next((c for c in result.comparisons if c["measure"] == m and c["arm"] == arm
                    and c["versus"] == versus and c.get("stratum", "") == rec.get("stratum", "")), None)
        if row is None:
            raise InputError(f"observed row {rec['row']}, column measure: the trial has no relapse_hazard_ratio of "
                             f"{arm} vs {versus} (a group nobody was randomized or followed into)")
        ta, ea = _relapse_follow_up(result, arm, rec["row"])
        tb, eb = _relapse_follow_up(result, versus, rec["row"])
        v = float(row["value"]) if row["value"] is not None else nan
        grid = np.unique(np.concatenate([ta, tb]))
        pa, pb = np.searchsorted(grid, ta), np.searchsorted(grid, tb)

        def statistic(ia, ib):
            return cox_hazard_ratio_rows(*visit_grid_counts(ia, pa, ea, grid.size),
                                         *visit_grid_counts(ib, pb, eb, grid.size))[0]

        # the control arm's n: the row's n_versus, else its n (said in the output: published arms often differ,
        # e.g. 90 and 86)
        n_ref, n_ref_from = _control_arm_n(rec, versus, n, rec["n_from"], None, int(tb.size))
        samples, sizes, evaluable = [np.arange(ta.size), np.arange(tb.size)], [n, n_ref], int(min(ta.size, tb.size))
        if not math.isfinite(v):
            notes.append("the model's hazard ratio is " + row.get("note", "undefined").removeprefix("undefined: ")
                         + profile_bound_text(row))
        if n_ref > tb.size and tb.size >= 2:
            warnings.warn(f"observed row {rec['row']} ({m}, control arm {versus}): the virtual arm has {tb.size} "
                          f"randomized or followed patient(s), fewer than the study's {n_ref}: its interval is mostly "
                          "this virtual trial's Monte Carlo error; run with a larger --size", ObservedWarning,
                          stacklevel=3)
    boot = (_bootstrap(rng, samples, sizes, statistic, RELAPSE_BOOTSTRAP_RESAMPLES)
            if all(x.size >= 2 for x in samples) else None)
    # --uncertainty of a withdrawal / follow-up: the whole-trial draws' variance of log(statistic), net of their own
    # sampling error (trial.net_draw_variance), shifts each bootstrap study by a factor exp(N(0, V)) (0, +inf stay so)
    var_draws, used = 0.0, None
    if getattr(result, "uncertainty", None) is not None:
        key = comparison_draw_key(row) if m == "relapse_hazard_ratio" else _row_key(row)
        var_draws, used = float(result.draw_variance.get(key, 0.0)), result.draw_variance_draws.get(key)
    if used is not None:
        notes += [x for x in (draws_note(result, key, m),) if x]
    if boot is None:
        lo = hi = samp = mc = nan
        inside = False
    else:
        study, virtual = boot
        samp = _finite_sd(study)
        if var_draws > 0.0:
            with np.errstate(divide="ignore", over="ignore"):
                study = np.exp(np.log(study) + rng.normal(0.0, math.sqrt(var_draws), study.size))
            if m == "time_to_relapse":      # a study sees a median within its visits: beyond the last, not reached
                study = np.where(study > days[-1], np.inf, np.maximum(study, days[0]))
        lo, hi = _percentile_interval(study)
        mc = _finite_sd(virtual)
        inside = bool(hi == math.inf) if math.isnan(obs) else bool(lo <= obs <= hi)
        if n > evaluable:
            warnings.warn(f"observed row {rec['row']} ({m}, arm {arm}): the virtual arm has {evaluable} randomized or "
                          f"followed patient(s), fewer than the study's {n}: its interval is mostly this virtual "
                          "trial's Monte Carlo error; run with a larger --size", ObservedWarning, stacklevel=3)
    return {"row": rec["row"], "trial_id": rec["trial_id"], "arm": arm, "measure": m, "time_h": nan,
            "dose_level": "", "unit": UNITS[m], "observed": obs, "predicted": v, "error": v - obs,
            "pi_low": lo, "pi_high": hi, "inside": bool(inside), "n": n, "n_from": rec["n_from"],
            "n_virtual": evaluable, "sampling_sd": samp, "mc_sd": mc, "draws_sd": math.sqrt(var_draws),
            "predicted_patient_sd": nan,
            "observed_ci_low": float(rec.get("ci_low", nan)), "observed_ci_high": float(rec.get("ci_high", nan)),
            **{k: rec[k] for k in ("scale", "spread", "spread_kind", "citation", "source_url", "notes")},
            "analyte": "", "statistic": "", "versus": versus,
            "fold_error": v / obs if m == "relapse_hazard_ratio" else nan, "note": "; ".join(notes),
            "n_versus": n_ref, "n_versus_from": n_ref_from}


def _pk_observed_ci(observed: float, n: int, spread: float, kind: str, statistic: str) -> tuple[float, float]:
    """95 % CI of a published PK value from its own spread: a geometric mean with its geometric CV % (log SD
    s = sqrt(ln(1 + CV^2)): GM exp(+-1.96 s / sqrt(n))); an arithmetic mean with its SD (+-1.96 SD / sqrt(n)), SE
    (+-1.96 SE) or CV % (SD = CV x mean); else none (NaN)."""
    nan = float("nan")
    if not math.isfinite(spread) or kind not in ("SD", "SE", "CV"):
        return nan, nan
    if statistic == "geometric mean" and kind == "CV":
        h = 1.96 * math.sqrt(math.log1p((spread / 100.0) ** 2)) / math.sqrt(max(n, 1))
        return observed * math.exp(-h), observed * math.exp(h)
    if statistic == "mean":
        sd = spread * observed / 100.0 if kind == "CV" else spread
        h = 1.96 * (spread if kind == "SE" else sd / math.sqrt(max(n, 1)))
        return observed - h, observed + h
    return nan, nan


def _warn_sign(source: str, rec: dict, t: float, lo: float, hi: float) -> None:
    """A positive mean_change outside its interval whose negative is inside: a paper's '16.5 point decrease' written
    as 16.5 (the change is after minus before), compared as a worsening without a word (error -31, 'outside')."""
    v = rec["observed"]
    warnings.warn(f"{source} row {rec['row']}, column value: mean_change {v:g} ({rec['arm']}, {t:g} h) is outside "
                  f"its 95% prediction interval [{lo:.3g}, {hi:.3g}] and {-v:g} is inside: a change is the score "
                  f"after minus before (a decrease is negative); write {-v:g} if the paper reports a decrease of "
                  f"{v:g}", ObservedWarning, stacklevel=3)


def interval_scope(result) -> str:
    """What the observed rows' prediction intervals contain (one line)."""
    base = ("95% prediction intervals for a trial of each row's n: its sampling error and this virtual trial's "
            "Monte Carlo error")
    u = result.uncertainty
    if u is None:
        return base + ("; parameter uncertainty and between-trial heterogeneity NOT included (add --uncertainty N)."
                       " Nothing is fitted.")
    het = (", between-trial heterogeneity (" + ", ".join(f"{e} SD {v:.2f}" for e, v in u["tau"].items()) + ")"
           if u.get("between_trial") and u.get("tau") else " (between-trial heterogeneity NOT included)")
    from .limits import MIN_PER_ROW_DRAWS

    few = (f" With {u['parameter_draws']} draws the spread between draws is itself poorly known (use --uncertainty "
           f"{MIN_PER_ROW_DRAWS} or more)." if u["parameter_draws"] < MIN_PER_ROW_DRAWS else "")
    if u.get("method") == "whole_design":
        # a withdrawal / follow-up's draws run whole trials (trial.empirical_prediction_intervals): each draw's row
        # holds that new trial's own sampling error too, which the draws' variance is taken net of (fifty-second
        # session; until then these rows had draws_sd 0 and the line said the draws were NOT included)
        return base + (f", and the {u['parameter_draws']} whole-trial draws of --uncertainty: posterior parameter "
                       f"draws{het}, as each row's variance between the draws net of the draws' own sampling error "
                       "(their variance minus their mean sampling variance, at least 0; median time to relapse and "
                       "hazard ratio on the log scale, a draw's median not reached or ratio of 0 or infinity as "
                       "censored). Nothing is fitted." + few)
    return base + f", {u['parameter_draws']} posterior parameter draws{het}. Nothing is fitted." + few


def _check_comparison(df, function: str) -> None:
    """One line when ``df`` is not :func:`compare_observed`'s table (the observed rows of :func:`read_observed` or
    the TrialResult itself stopped with KeyError 'inside' or a TypeError)."""
    need = ("arm", "measure", "time_h", "predicted", "error", "pi_low", "pi_high", "inside", "unit")
    if not isinstance(df, pd.DataFrame) or not set(need) <= set(df.columns):
        what = ("the observed rows (read_observed), not their comparison" if isinstance(df, pd.DataFrame)
                else type(df).__name__)
        raise InputError(f"df: {function} expects the table of compare_observed(result, observed), got {what}")


def observed_summary(df: pd.DataFrame) -> dict:
    """Mean absolute error in points over the score rows (mean, mean_change), in percentage points over the rate
    rows, per unit over other rows, and the share of rows inside their interval. ``final_dose_rate`` rows (shares
    on each dose: not an outcome, and an arm's levels sum to 100 %) are not rate rows: when there are any, their MAE
    is ``mae_dose_percentage_points`` over ``dose_rows`` (keys present only then); they count in rows/inside. PK
    rows are summarised apart, by fold error (:func:`pk_fold_summary`: ``pk_rows``, ``pk_aafe``,
    ``pk_within_2fold``, present only when there are PK rows), and are not in ``mae_other``; they count in
    rows/inside. Share rows (:data:`SHARE_MEASURES`: ``randomized_fraction``, ``followed_fraction``; who went on to a
    later phase, not an outcome) are not rate rows either: when there are any, their MAE is
    ``mae_share_percentage_points`` over ``share_rows`` (keys present only then); they count in rows/inside, not in
    the floors (:func:`observed_floors`). ``relapse_hazard_ratio`` rows too: ``hazard_ratio_rows`` (all of them),
    ``hazard_ratio_aafe`` and ``hazard_ratio_within_2fold`` (over those with a finite fold), present only then.
    ``time_to_relapse`` rows are in ``mae_other["days"]`` (over the rows where both medians were reached)."""
    _check_comparison(df, "observed_summary")

    def mae(sel):
        e = df.loc[sel, "error"].to_numpy(float)
        e = e[np.isfinite(e)]
        return (float(np.mean(np.abs(e))) if e.size else None), int(e.size)

    s = {"rows": int(len(df)), "inside": int(df["inside"].sum()) if len(df) else 0}
    s["share_inside"] = s["inside"] / s["rows"] if s["rows"] else None
    s["mae_points"], s["score_rows"] = mae(df["measure"].isin(("mean", "mean_change")))
    dose = df["measure"].isin(DOSE_MEASURES)
    pk = df["measure"].isin(PK_OBSERVABLE_MEASURES)
    hr = df["measure"] == "relapse_hazard_ratio"
    share = df["measure"].isin(SHARE_MEASURES)
    s["mae_percentage_points"], s["rate_rows"] = mae((df["unit"] == "percentage points") & ~dose & ~share)
    other = df[~df["measure"].isin(("mean", "mean_change")) & (df["unit"] != "percentage points") & ~pk & ~hr]
    s["mae_other"] = {u: mae((df["unit"] == u) & ~pk & ~hr)[0] for u in dict.fromkeys(other["unit"])}
    if dose.any():
        s["mae_dose_percentage_points"], s["dose_rows"] = mae(dose)
    if share.any():
        s["mae_share_percentage_points"], s["share_rows"] = mae(share)
    if pk.any():
        s.update(pk_fold_summary(df.loc[pk, "predicted"], df.loc[pk, "observed"]))
    if hr.any():
        f = pk_fold_summary(df.loc[hr, "predicted"], df.loc[hr, "observed"])
        s.update({"hazard_ratio_rows": int(hr.sum()), "hazard_ratio_aafe": f["pk_aafe"],
                  "hazard_ratio_within_2fold": f["pk_within_2fold"]})
    return s


def pk_fold_summary(predicted, observed) -> dict:
    """``pk_rows``, ``pk_aafe`` (absolute average fold error, ``10 ** mean(abs(log10(predicted / observed)))``: 1
    is exact, 2 a factor of 2 on average either way; None without a finite fold) and ``pk_within_2fold`` (rows
    with 0.5 <= predicted / observed <= 2) of PK rows: their units differ between analytes and measures, so they
    are summarised by fold error, not by an absolute error."""
    fold = np.asarray(predicted, float) / np.asarray(observed, float)
    ok = np.isfinite(fold) & (fold > 0)
    logs = np.abs(np.log10(fold[ok]))
    return {"pk_rows": int(logs.size), "pk_aafe": float(10.0 ** np.mean(logs)) if logs.size else None,
            "pk_within_2fold": int(np.sum(ok & (fold >= 0.5) & (fold <= 2.0)))}


#: calibration's row kinds of the observed measures that carry between-trial heterogeneity (for the floors)
_FLOOR_KINDS = {"response_rate": "response", "remission_rate": "remission", "mean": "mean",
                "mean_change": "mean_change"}


def observed_floors(df: pd.DataFrame) -> dict:
    """What an EXACT model would still miss on these rows, as ``ketasim qualify`` reports it
    (:func:`ketasim.calibration.error_floors`): ``sampling_floor_points`` / ``_percentage_points``, the mean absolute
    error from the published trials' sampling alone (sqrt(2/pi) x each row's ``sampling_sd`` at its ``n``), and
    ``heterogeneity_floor_points`` / ``_percentage_points``, with the literature's between-trial heterogeneity of
    placebo response added to the efficacy rows (:func:`ketasim.calibration.heterogeneity_sd`). Score rows (mean,
    mean_change) in points, rate rows in percentage points (not the final-dose or share rows, which are not outcomes
    and are not in the rate MAE); NaN where there is no such row."""
    _check_comparison(df, "observed_floors")
    from .calibration import error_floors

    rows = [{"unit": r["unit"], "kind": _FLOOR_KINDS.get(r["measure"], r["measure"]),
             "predicted": float(r["predicted"]),
             "sampling_sd": float(r["sampling_sd"]) if math.isfinite(float(r["sampling_sd"])) else None}
            for r in df.to_dict("records")
            if r["measure"] in ("mean", "mean_change") or (r["unit"] == "percentage points"
                                                            and r["measure"] not in DOSE_MEASURES + SHARE_MEASURES)]
    return error_floors(rows)


def format_floors(s: dict) -> str:
    """One sentence on the floors of :func:`observed_floors` (empty when there are none)."""
    def pair(prefix):
        pts, pp = s.get(f"{prefix}_points", float("nan")), s.get(f"{prefix}_percentage_points", float("nan"))
        parts = ([f"{pts:.2f} points"] if pts == pts else []) + ([f"{pp:.1f} pp"] if pp == pp else [])
        return ", ".join(parts)
    samp, het = pair("sampling_floor"), pair("heterogeneity_floor")
    if not samp:
        return ""
    return (f"an exact model would still miss by {samp} (sampling of trials of the rows' n alone)"
            + (f", {het} with the published between-trial heterogeneity of placebo response" if het else ""))


def format_by_scale(s: dict) -> str:
    """'MADRS 2.10 points over 8 score row(s), CAPS-5 5.30 points over 4' for a summary whose score rows span several
    rating scales (empty otherwise)."""
    from .population import scale_name

    by = s.get("score_by_scale") or {}
    if len(by) < 2:
        return ""
    return ", ".join(f"{scale_name(k)} {'-' if v['mae_points'] is None else format(v['mae_points'], '.2f')} points "
                     f"over {v['score_rows']} score row(s)" for k, v in by.items())


def format_summary(s: dict) -> str:
    parts = []
    if s["score_rows"] and s["mae_points"] is None and s.get("score_by_scale"):      # several rating scales
        parts.append(format_by_scale(s))
    elif s["score_rows"]:
        parts.append(f"{s['mae_points']:.2f} points over {s['score_rows']} score row(s)")
    if s["rate_rows"]:
        parts.append(f"{s['mae_percentage_points']:.1f} percentage points over {s['rate_rows']} rate row(s)")
    if s.get("dose_rows"):
        parts.append(f"{s['mae_dose_percentage_points']:.1f} percentage points over {s['dose_rows']} final-dose "
                     "row(s)")
    if s.get("share_rows"):         # randomized_fraction, followed_fraction: not outcome rates
        parts.append(f"{s['mae_share_percentage_points']:.1f} percentage points over {s['share_rows']} share row(s)")
    # a time_to_relapse row's error printed "66.00 days" without saying of what
    parts += [f"{v:.1f} days over the median times to relapse" if u == "days" else f"{v:.2f} {u}"
              for u, v in s["mae_other"].items() if v is not None]
    share = f"{100 * s['share_inside']:.0f} %" if s["share_inside"] is not None else "-"
    # "MAE" heads the errors whichever kind comes first: a file of rates only (a withdrawal's relapse rates) printed
    # "6.1 percentage points over 2 rate row(s)" without saying what the number is (s50 H3)
    errors = ["MAE " + "; ".join(parts)] if parts else []
    pk = [format_pk_summary(s)] if s.get("pk_rows") else []
    hr = [format_hazard_ratio_summary(s)] if s.get("hazard_ratio_rows") else []
    return "; ".join(errors + pk + hr + [f"{s['inside']} of {s['rows']} inside their 95% interval ({share})"])


def format_hazard_ratio_summary(s: dict) -> str:
    """'hazard ratios: AAFE 1.25 over 2 row(s), 2 within 2-fold' of a summary with relapse_hazard_ratio rows (empty
    without)."""
    if not s.get("hazard_ratio_rows"):
        return ""
    aafe = "-" if s.get("hazard_ratio_aafe") is None else f"{s['hazard_ratio_aafe']:.2f}"
    return (f"hazard ratios: AAFE {aafe} over {s['hazard_ratio_rows']} row(s), {s['hazard_ratio_within_2fold']} "
            "within 2-fold")


def format_pk_summary(s: dict) -> str:
    """'PK: AAFE 1.31 over 6 row(s), 6 within 2-fold' of a summary with PK rows (empty without)."""
    if not s.get("pk_rows"):
        return ""
    aafe = "-" if s.get("pk_aafe") is None else f"{s['pk_aafe']:.2f}"
    return f"PK: AAFE {aafe} over {s['pk_rows']} row(s), {s['pk_within_2fold']} within 2-fold"


def pk_measure_label(r: dict) -> str:
    """A PK row's measure as the HTML report names it: 'Cmax S-ketamine (geometric mean)', 'AUC0-inf ratio
    S-ketamine vs alone (geometric mean ratio)'."""
    from .nca import LABELS

    m = str(r["measure"])
    base = m.removesuffix("_ratio")
    label = LABELS.get(base, base) + (" ratio" if m != base else "")
    versus = f" vs {r['versus']}" if r.get("versus") else ""
    return f"{label} {analyte_label(r['analyte'])}{versus} ({r['statistic']})"


def is_pk_row(r: dict) -> bool:
    """Whether a comparison row (a dict of :func:`compare_observed`'s table) is a PK row."""
    return r.get("measure") in PK_OBSERVABLE_MEASURES


def _measure_label(r: dict) -> str:
    """The measure as the printed table shows it: a final dose row names its level ("final dose 84 mg"); a PK row
    its analyte and statistic ("cmax S-ketamine GM", "auc_0_inf_ratio S-ketamine GMR")."""
    if is_pk_row(r):
        return f"{r['measure']} {analyte_label(r['analyte'])} {STATISTIC_LABELS.get(r['statistic'], r['statistic'])}"
    level = r.get("dose_level") or ""
    return f"final dose {level}" if level else str(r["measure"])


def _survival_number(x, measure: str) -> str:
    """A time_to_relapse or relapse_hazard_ratio number as the tables print it: a median (or bound) beyond the
    follow-up 'not reached', an undefined ratio 'n/a'."""
    x = float(x)
    if math.isfinite(x):
        return f"{x:.2f}"
    return "not reached" if measure == "time_to_relapse" and (x == math.inf or math.isnan(x)) else "n/a"


def format_observed(df: pd.DataFrame, source: str = "") -> str:
    """The printed table (after the trial's endpoint table)."""
    _check_comparison(df, "format_observed")
    labels = [_measure_label(r) for r in df.to_dict("records")]
    # 16 unless a label or an arm is longer: they were cut at 16 ('esketamine-flexi', 'hypertension_rat'), so two
    # arms that differ after 16 characters printed alike
    wide = max([16] + [len(x) for x in labels])
    arm_wide = max([16] + [len(str(a)) for a in df["arm"]]) if len(df) else 16
    # the unit of each row, as the report's table gives it (the printed table had none: a mean change, a rate in %
    # and a CADSS peak side by side)
    scale = df.attrs.get("scale")
    units = [f"{scale} points" if r["unit"] == "points" and scale else
             "% of patients" if r["unit"] == "percentage points" else
             # a PK row's fold error (predicted / observed) beside its unit; a ratio names its reference arm
             f"{r['unit']}" + (f" vs {r['versus']}" if r.get("versus") else "")
             + (f" (n {int(r['n_versus'])}{'*' if r['n_versus_from'] != N_FROM_FILE else ''})" if _has_n_versus(r)
                else "")
             + (f", fold {r['fold_error']:.2f}" if math.isfinite(r["fold_error"]) else "")
             if is_pk_row(r) or r["measure"] == "relapse_hazard_ratio" else r["unit"]
             for r in df.to_dict("records")]
    # the number columns are 9 wide unless a median reads 'not reached' (11 characters: it pushed its row's columns
    # 2 characters right of the header's)
    survival = df[df["measure"].isin(SURVIVAL_MEASURES)].to_dict("records") if len(df) else []
    num = max([9] + [len(_survival_number(r[c], r["measure"])) for r in survival
                     for c in ("observed", "predicted", "pi_low", "pi_high")])
    pi_wide = max(23, 2 * num + 4)      # '[low, high]' under its 23-character header
    lines = [f"\nobserved vs predicted{f' ({source})' if source else ''}: nothing fitted",
             f"  {'arm':{arm_wide}s} {'measure':{wide}s} {'time':>7s} {'n':>6s}  {'observed':>{num}s} "
             f"{'predicted':>{num}s} {'error':>8s}  {'95% prediction interval':^{pi_wide}s}  inside  unit"]
    for r, label, unit in zip(df.to_dict("records"), labels, units):
        when = "-" if not math.isfinite(r["time_h"]) else fmt_hours(r["time_h"])
        n = f"{r['n']}{'*' if r['n_from'] != N_FROM_FILE else ''}"
        if r["measure"] in SURVIVAL_MEASURES:     # a median may be 'not reached', a ratio undefined
            lines.append(f"  {str(r['arm']):{arm_wide}s} {label:{wide}s} {when:>7s} {n:>6s}  "
                         f"{_survival_number(r['observed'], r['measure']):>{num}s} "
                         f"{_survival_number(r['predicted'], r['measure']):>{num}s} "
                         f"{(format(r['error'], '+8.2f') if math.isfinite(r['error']) else '-'):>8s}  "
                         + (f"[{_survival_number(r['pi_low'], r['measure']):>{num}s}, "
                            f"{_survival_number(r['pi_high'], r['measure']):>{num}s}]").ljust(pi_wide)
                         + f"  {'yes' if r['inside'] else 'no ':6s}  "
                         f"{unit}" + (f"  ({r['note']})" if r.get("note") else ""))
            continue
        lines.append(f"  {str(r['arm']):{arm_wide}s} {label:{wide}s} {when:>7s} {n:>6s}  {r['observed']:{num}.2f} "
                     f"{r['predicted']:{num}.2f} {r['error']:+8.2f}  "
                     + f"[{r['pi_low']:{num}.2f}, {r['pi_high']:{num}.2f}]".ljust(pi_wide)
                     + f"  {'yes' if r['inside'] else 'no ':6s}  {unit}")
    if len(df) and df["measure"].isin(PK_OBSERVABLE_MEASURES).any():
        lines.append("  PK rows: GM geometric mean, GMR geometric mean ratio; fold = predicted / observed")
    if len(df) and (df["measure"] == "randomized_fraction").any():
        lines.append("  randomized_fraction: % of the patients who entered induction who were randomized (n: the "
                     "published share's denominator)")
    if len(df) and (df["measure"] == "followed_fraction").any():
        lines.append("  followed_fraction: % of the arm's patients followed in the open-label follow-up (n: the "
                     "published share's denominator)")
    if len(df) and df["measure"].isin(SURVIVAL_MEASURES).any():
        lines.append("  time_to_relapse: Kaplan-Meier median (days; 'not reached' beyond the follow-up); "
                     "relapse_hazard_ratio: Cox, arm vs versus, fold = predicted / observed")
    if (df["n_from"] == N_FROM_ARM).any():
        lines.append("  * no n in the observed file: the virtual arm's size is used")
    if (df["n_from"] == N_FROM_SCENARIO).any():
        lines.append("  * no n in the observed file: the scenario's arm size is used")
    if "n_versus_from" in df.columns and (df["n_versus_from"] == N_VERSUS_FROM_N).any():
        lines.append("  * vs ARM (n N*): no n_versus in the observed file: the control arm takes the row's n")
    lines.append("  " + format_summary(observed_summary(df)))
    lines.append("  " + df.attrs.get("interval", ""))
    return "\n".join(lines)


#: the columns of a comparison that only PK rows have in the JSON (``n_versus``, ``n_versus_from``: parallel ratio rows
#: only)
PK_ROW_KEYS = ("analyte", "statistic", "versus", "fold_error", "n_versus", "n_versus_from")


def _has_n_versus(r: dict) -> bool:
    """Whether a comparison row is a parallel-design ratio row with its control arm's n (``n_versus``)."""
    return isinstance(r.get("n_versus_from"), str) and bool(r["n_versus_from"])


def drop_empty_dose_level(row: dict) -> dict:
    """A JSON row has ``dose_level`` only when it is a final_dose_rate row, and ``analyte``, ``statistic``,
    ``fold_error`` only when it is a PK row (``versus`` only on a PK ratio row; ``n_versus`` and ``n_versus_from``
    only on a parallel-design one and on a ``relapse_hazard_ratio`` row), ``stratum`` only on a stratified
    withdrawal's row: other rows are written as before."""
    if not isinstance(row.get("dose_level"), str) or not row["dose_level"]:
        row.pop("dose_level", None)
    if not isinstance(row.get("note"), str) or not row["note"]:      # survival rows; a withdrawal's draws' words
        row.pop("note", None)
    if not isinstance(row.get("stratum"), str) or not row["stratum"]:    # a stratified withdrawal's rows only
        row.pop("stratum", None)
    if row.get("measure") == "relapse_hazard_ratio":                 # keeps versus, fold_error and n_versus
        for k in ("analyte", "statistic"):
            row.pop(k, None)
    elif not is_pk_row(row):
        for k in PK_ROW_KEYS:
            row.pop(k, None)
    elif not row.get("versus"):
        row.pop("versus", None)
    if row.get("measure") == "relapse_hazard_ratio" or is_pk_row(row):
        if _has_n_versus(row):
            row["n_versus"] = int(row["n_versus"])      # a float in a table whose other rows have none
        else:
            row.pop("n_versus", None)
            row.pop("n_versus_from", None)
    return row


def observed_block(df: pd.DataFrame, source: str = "") -> dict:
    """The ``observed_comparison`` block of the trial JSON (docs/contracts.md): rows, summary, interval scope.
    Numbers that do not exist are NaN here; the writer (``ketasim.display.json_safe``) makes them null."""
    _check_comparison(df, "observed_block")
    rows = []
    for r in df.to_dict("records"):
        r = dict(r)
        r["time_h"] = None if not math.isfinite(r["time_h"]) else r["time_h"]
        drop_empty_dose_level(r)
        r["pi95"] = [r.pop("pi_low"), r.pop("pi_high")]
        r["observed_ci95"] = [r.pop("observed_ci_low"), r.pop("observed_ci_high")]
        rows.append(r)
    return {"source": source, "fitted": False, "interval": df.attrs.get("interval", ""),
            "summary": observed_summary(df), "rows": rows}


__all__ = ["read_observed", "compare_observed", "observed_summary", "observed_floors", "observed_block",
           "format_observed", "pk_fold_summary"]
