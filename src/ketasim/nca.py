"""Non-compartmental analysis (NCA) of simulated plasma levels, sampled as a PK study samples them.

A PK study does not see the whole curve: it draws blood at scheduled times after a dose and reports, per subject,
Cmax and Tmax (the highest sample and its time), AUC0-t (area to the last sample, linear-up/log-down trapezoids),
lambda_z (log-linear regression over the terminal samples), AUC0-inf = AUC0-t + C_last / lambda_z and
t1/2 = ln 2 / lambda_z; then geometric means and geometric CV % (Tmax: median and range), and for an interaction
study the geometric mean ratio with its 90 % CI. This module does exactly that on ketasim's concentrations:

* :func:`nca` — the per-subject NCA of concentrations ``c`` (subjects x samples) at times after the dose.
* :func:`arm_pk` — simulate an arm's patients at the sampling times after its first (or last) dose and run the
  NCA for each analyte (venous by default, arterial on request), optionally also on a 1-minute grid of the same
  patients ("model exact": what the sampling schedule misses).
* :func:`summary_rows`, :func:`ratio_rows`, :func:`format_summary` — population statistics (scipy/statsmodels).

Layer: after the engine (it runs arms), used by the trial, the application layer and the CLI.
Standard formulas: Gabrielsson & Weiner, *Pharmacokinetic and Pharmacodynamic Data Analysis* (5th ed., 2016);
the adjusted-R^2 rule for lambda_z as in Phoenix WinNonlin (the regression with the largest adjusted R^2 over the
last 3 or more samples after Cmax; among those within 1e-4 of it, the one with most samples); a DDI study's
geometric mean ratio with a 90 % CI (FDA guidance on clinical drug interaction studies, 2020).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from .errors import InputError
from .vocabulary import PK_MEASURES

#: analyte -> (venous column, arterial column). Metabolites and midazolam have one plasma concentration in the
#: model (no arterio-venous difference is modelled for them), so both samples read the same column.
ANALYTES = {
    "s-ketamine": ("cp_s_ketamine_ng_ml", "ca_s_ketamine_ng_ml"),
    "r-ketamine": ("cp_r_ketamine_ng_ml", "ca_r_ketamine_ng_ml"),
    "ketamine": ("cp_ketamine_ng_ml", "ca_ketamine_ng_ml"),
    "norketamine": ("cp_norketamine_ng_ml", "cp_norketamine_ng_ml"),
    "hnk": ("cp_hnk_ng_ml", "cp_hnk_ng_ml"),
    "midazolam": ("cp_midazolam_ng_ml", "cp_midazolam_ng_ml"),
}
SAMPLES = ("venous", "arterial")
DOSES = ("first", "last")
LAMBDA_Z_RULES = ("adjusted_r2", "last3")
#: Default sampling schedule after the dose (h): 5, 10, 15, 30, 45 min, 1, 1.5, 2, 3, 4, 6, 8, 12, 24 h (a
#: pre-dose sample at 0 is always added; with it, :attr:`PKSampling.infusion_end` adds the end of the analysed
#: dose's infusion, where the level peaks: 30 and 45 min alone read a 40-min infusion's Cmax 12 % low).
DEFAULT_SCHEDULE_H = (5 / 60, 10 / 60, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 24.0)
#: A sample this close to an infusion's end (h: one minute) counts as at its end.
END_TOLERANCE_H = 1 / 60
#: unit of each measure, and its per-subject column
UNITS = {"cmax": "ng/mL", "tmax": "h", "auc_0_t": "ng*h/mL", "auc_0_inf": "ng*h/mL", "t_half": "h"}
#: how the printed table names each measure
LABELS = {"cmax": "Cmax", "tmax": "Tmax", "auc_0_t": "AUC0-t", "auc_0_inf": "AUC0-inf", "t_half": "t1/2"}
COLUMNS = {"cmax": "cmax_ng_ml", "tmax": "tmax_h", "auc_0_t": "auc_0_t_ng_h_ml", "auc_0_inf": "auc_0_inf_ng_h_ml",
           "t_half": "t_half_h"}
#: measures compared between arms as geometric mean ratios (Tmax is not log-normal: reported, not compared)
RATIO_MEASURES = ("cmax", "auc_0_t", "auc_0_inf", "t_half")
#: step of the "model exact" grid (h) for the first EXACT_FINE_H after the dose, then 15 min to the last sample
#: and for 14 more days (AUC0-inf)
EXACT_STEP_H = 1 / 60
EXACT_FINE_H = 48.0
#: latest sampling time after the dose (h)
MAX_SAMPLING_H = 28 * 24.0
#: PK is analysed on at most this many patients per arm (the first ones: the same whatever the arm's size), so the
#: per-patient table stays ~100 MB whatever the population (a PK study has tens of subjects)
PK_MAX_PATIENTS = 100_000
#: ``--pk-json`` lists every patient's values up to this many patients per arm (else the summary only)
JSON_MAX_PATIENTS = 10_000


@dataclasses.dataclass(frozen=True)
class PKSampling:
    """How PK is sampled and analysed: times after the dose (h, > 0, increasing; a pre-dose sample at 0 is added),
    which dose (``first`` or ``last`` PK-relevant dose of each arm), the lambda_z rule, the analytes (None: those
    the arm's drugs produce), the sample (``venous`` as most studies, or ``arterial``) and whether to add the
    "model exact" values from a 1-minute grid.

    ``infusion_end``: also sample at the end of the analysed dose's infusion (where the level peaks) when no time
    is within a minute of it (:meth:`times_for`); None (the default) means True for the default schedule and False
    for times given, which are sampled as given."""

    times_h: tuple[float, ...] = DEFAULT_SCHEDULE_H
    dose: str = "first"
    lambda_z: str = "adjusted_r2"
    analytes: tuple[str, ...] | None = None
    sample: str = "venous"
    exact: bool = False
    infusion_end: bool | None = None

    def times_for(self, duration_h: float) -> tuple[float, ...]:
        """The sampling times after a dose given over ``duration_h`` (0: a bolus or an extravascular dose):
        :attr:`times_h`, with the infusion's end added when :attr:`infusion_end` and no time is within a minute
        of it."""
        d = float(duration_h)
        if (not self.adds_infusion_end or not d > 0 or d > self.times_h[-1]
                or any(abs(t - d) <= END_TOLERANCE_H for t in self.times_h)):
            return tuple(self.times_h)
        return tuple(sorted((*self.times_h, d)))

    @property
    def adds_infusion_end(self) -> bool:
        """:attr:`infusion_end` resolved: None is True for the default schedule and False for times given (resolved
        here, not stored, so that ``dataclasses.replace(s, times_h=...)`` re-derives it; review s40 R2-3)."""
        if self.infusion_end is not None:
            return bool(self.infusion_end)
        return tuple(float(x) for x in np.ravel(self.times_h)) == DEFAULT_SCHEDULE_H

    def __post_init__(self):
        if self.infusion_end is not None and not isinstance(self.infusion_end, (bool, np.bool_)):
            raise InputError(f"infusion_end: must be true or false, got {self.infusion_end!r}")
        try:
            t = np.asarray(self.times_h, float)
        except (TypeError, ValueError):
            t = np.asarray([])          # None or text: the one-line 'needs at least 2 sampling times' below
        if t.ndim != 1 or t.size == 0:
            raise InputError("pk_sampling.times: an NCA needs at least 2 sampling times after the dose, got none; "
                             "e.g. '10 min,30 min,1 h,4 h,24 h'")
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise InputError("pk_sampling.times: sampling times are after the dose (> 0)")
        if np.any(t == 0):
            # a study's schedule lists its pre-dose sample as 0: the bare "(> 0)" did not say it is taken anyway
            raise InputError("pk_sampling.times: the pre-dose sample (0) is added to every schedule; list only the "
                             "times after the dose (> 0)")
        if np.any(np.diff(t) <= 0):
            raise InputError("pk_sampling.times: sampling times must increase strictly")
        if t[-1] > MAX_SAMPLING_H:
            raise InputError(f"pk_sampling.times: the last sample is {t[-1]:g} h after the dose; at most "
                             f"{MAX_SAMPLING_H:g} h (28 days) is analysed")
        if self.dose not in DOSES:
            raise InputError(f"pk_sampling.dose: use first or last, got {self.dose!r}")
        if self.lambda_z not in LAMBDA_Z_RULES:
            raise InputError(f"pk_sampling.lambda_z: use {' or '.join(LAMBDA_Z_RULES)}, got {self.lambda_z!r}")
        if self.sample not in SAMPLES:
            raise InputError(f"sample: use venous or arterial, got {self.sample!r}")
        if self.analytes is not None:
            object.__setattr__(self, "analytes", tuple(analyte_name(a) for a in self.analytes))
        if t.size == 1:     # last: a wrong dose, rule or sample with one time names its own field
            from .units import fmt_hours

            # '--pk-times 1w' printed an NCA of the one sample (Cmax = that sample, Tmax = its time, no half-life)
            raise InputError(f"pk_sampling.times: an NCA needs at least 2 sampling times after the dose, got one "
                             f"({fmt_hours(float(t[0]))}); e.g. '10 min,30 min,1 h,4 h,24 h'")


def _unknown_analyte_hint(key: str) -> str:
    """Why a metabolite name a PK study writes is not an analyte: the model has one norketamine and one HNK, each S
    and R together (after esketamine all of it is the S form), and no dehydronorketamine."""
    flat = "".join(ch for ch in key if ch.isalnum())
    if "dehydro" in flat or flat == "dhnk":
        return " (dehydronorketamine is not modelled)"
    if "hydroxynorketamine" in flat or flat.endswith("hnk"):
        return (" (the model has one HNK, the S and R forms together; after esketamine all of it is S-derived: use "
                "hnk)")
    if "norketamine" in flat or flat in ("noresketamine", "norarketamine"):
        return (" (the model has one norketamine, S and R together; after esketamine all of it is S-norketamine: "
                "use norketamine)")
    return ""


def analyte_name(name, field: str = "analytes") -> str:
    """Canonical analyte name (``s_ketamine`` and ``S-ketamine`` are ``s-ketamine``, ``esketamine`` too); one line
    naming ``field`` if unknown (with a hint for an enantiomer of a metabolite: the model has one norketamine and
    one HNK)."""
    key = str(name).strip().lower().replace("_", "-")
    key = {"esketamine": "s-ketamine", "arketamine": "r-ketamine", "racemic-ketamine": "ketamine",
           "hydroxynorketamine": "hnk"}.get(key, key)
    if key not in ANALYTES:
        raise InputError(f"{field}: unknown analyte {str(name)[:40]!r}{_unknown_analyte_hint(key)}; use "
                         f"{', '.join(ANALYTES)}")
    return key


def sampling_from_mapping(pk_sampling=None, analytes=None, sample=None, field: str = "endpoints") -> PKSampling:
    """A :class:`PKSampling` from the scenario's ``endpoints`` keys: ``pk_sampling`` (a list of times, or
    ``{times, dose, lambda_z, exact}``), ``analytes`` and ``sample``. Errors are one line naming the field."""
    from .units import parse_time_h

    kw: dict = {}
    if pk_sampling is not None:
        spec = pk_sampling if isinstance(pk_sampling, dict) else {"times": pk_sampling}
        unknown = set(spec) - {"times", "dose", "lambda_z", "exact"}
        if unknown:
            raise InputError(f"{field}.pk_sampling.{sorted(unknown)[0]}: unknown field")
        if "times" in spec:
            if not isinstance(spec["times"], (list, tuple)) or not spec["times"]:
                raise InputError(f"{field}.pk_sampling.times: a non-empty list of times after the dose, e.g. "
                                 "[5 min, 30 min, 1 h, 2 h, 4 h, 8 h, 24 h]")
            if len(spec["times"]) > 200:
                raise InputError(f"{field}.pk_sampling.times: at most 200 sampling times")
            kw["times_h"] = tuple(parse_time_h(v, f"{field}.pk_sampling.times[{i}]") for i, v in enumerate(spec["times"]))
            kw["infusion_end"] = False          # the scenario's own times, as given
        for key in ("dose", "lambda_z"):
            if key in spec:
                kw[key] = str(spec[key])
        if "exact" in spec:
            if not isinstance(spec["exact"], bool):
                raise InputError(f"{field}.pk_sampling.exact: must be true or false")
            kw["exact"] = spec["exact"]
    if analytes is not None:
        if isinstance(analytes, str):
            analytes = [analytes]
        if not analytes:
            raise InputError(f"{field}.analytes: name at least one analyte ({', '.join(ANALYTES)})")
        kw["analytes"] = tuple(analytes)
    if sample is not None:
        kw["sample"] = str(sample)
    try:
        return PKSampling(**kw)
    except InputError as e:
        raise InputError(f"{field}.{e}") from None


# ---- the NCA of one set of profiles ---------------------------------------------------------------------------------
def _auc_segments(t: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(n, T-1) areas of each sampling interval: linear trapezoid where the level rises or stays (or a value is
    0), log trapezoid where it falls (``linear-up/log-down``)."""
    dt = np.diff(t)[None, :]
    c1, c2 = c[:, :-1], c[:, 1:]
    lin = 0.5 * (c1 + c2) * dt
    down = (c2 < c1) & (c2 > 0) & (c1 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = (c1 - c2) * dt / np.log(c1 / c2)
    return np.where(down, log, lin)


def _lambda_z(t: np.ndarray, c: np.ndarray, first: np.ndarray, rule: str):
    """Terminal rate constant (1/h) per subject by log-linear least squares (numpy ``polyfit``) over the last k >= 3
    samples starting after index ``first`` - 1 (after Cmax). Returns (lambda_z, points, adjusted R^2)."""
    n, T = c.shape
    with np.errstate(divide="ignore"):
        y = np.where(c > 0, np.log(np.where(c > 0, c, 1.0)), np.nan)
    best_adj = np.full(n, -np.inf)
    lam = np.full(n, np.nan)
    pts = np.zeros(n, int)
    adj_out = np.full(n, np.nan)
    ks = [3] if rule == "last3" else range(3, T + 1)
    fits = []
    for k in ks:
        if k > T:
            break
        x = t[T - k:]
        yk = y[:, T - k:]
        ok = np.isfinite(yk).all(axis=1) & (first <= T - k)
        yfit = np.where(ok[:, None], yk, 0.0)
        # ordinary least squares of log C on t (the same numbers as numpy.polyfit, ~20x faster for many subjects)
        xc = x - x.mean()
        yc = yfit - yfit.mean(axis=1, keepdims=True)
        # a row-wise sum, not the matrix product yc @ xc: BLAS blocks a product by the number of rows, so a
        # subject's slope could differ in the last bit with the batch it was computed in (chunk size)
        slope = (yc * xc[None, :]).sum(axis=1) / (xc @ xc)
        ss_tot = (yc ** 2).sum(axis=1)
        ss_res = ((yc - slope[:, None] * xc[None, :]) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, 1.0)
        adj = 1.0 - (1.0 - r2) * (k - 1) / (k - 2) if k > 2 else r2
        ok &= slope < 0
        fits.append((k, ok, -slope, adj))
        best_adj = np.where(ok, np.maximum(best_adj, adj), best_adj)
    for k, ok, lz, adj in fits:           # most points among fits within 1e-4 of the best adjusted R^2
        take = ok & (adj >= best_adj - 1e-4)
        lam = np.where(take, lz, lam)
        pts = np.where(take, k, pts)
        adj_out = np.where(take, adj, adj_out)
    return lam, pts, adj_out


def nca(t_h, c, *, bolus: bool = False, lambda_z: str = "adjusted_r2") -> dict:
    """Per-subject NCA. ``t_h``: (T,) sampling times after the dose (h), increasing, starting with the pre-dose
    sample at 0; ``c``: (n, T) concentrations (ng/mL). ``bolus``: an IV bolus, whose concentration at time 0 is
    back-extrapolated log-linearly from the first two samples (when they fall; else the first sample) for the
    AUC. Returns arrays over subjects: ``cmax_ng_ml``, ``tmax_h``, ``auc_0_t_ng_h_ml`` (to the last positive
    sample), ``lambda_z_per_h``, ``lambda_z_points``, ``lambda_z_adj_r2``, ``t_half_h``, ``auc_0_inf_ng_h_ml``,
    ``auc_extrapolated_pct``, ``t_last_h``; NaN where lambda_z cannot be estimated."""
    t = np.asarray(t_h, float)
    c = np.atleast_2d(np.asarray(c, float)).copy()
    if t.ndim != 1 or t.size < 2 or c.shape[1] != t.size:
        raise InputError("nca: times and concentrations must match, with a pre-dose sample and at least one more")
    if t[0] != 0 or np.any(np.diff(t) <= 0):
        raise InputError("nca: sampling times start at 0 (pre-dose) and increase strictly")
    if lambda_z not in LAMBDA_Z_RULES:
        raise InputError(f"lambda_z: use {' or '.join(LAMBDA_Z_RULES)}, got {lambda_z!r}")
    c = np.where(np.isfinite(c), np.maximum(c, 0.0), np.nan)
    post = c[:, 1:]
    imax = 1 + np.argmax(post, axis=1)                  # first time of the highest post-dose sample
    cmax = post.max(axis=1)
    tmax = t[imax]
    if bolus and t.size > 2:
        c1, c2 = c[:, 1], c[:, 2]
        fall = (c2 < c1) & (c2 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            c0 = np.where(fall, np.exp(np.log(c1) + (np.log(c1) - np.log(c2)) * t[1] / (t[2] - t[1])), c1)
        c[:, 0] = c0
    positive = c > 0
    last = np.where(positive.any(axis=1), t.size - 1 - np.argmax(positive[:, ::-1], axis=1), 0)
    seg = _auc_segments(t, c)
    seg = np.where(np.arange(1, t.size)[None, :] <= last[:, None], seg, 0.0)
    auc_t = seg.sum(axis=1)
    c_last = c[np.arange(c.shape[0]), last]
    # regression points: after Cmax (an IV bolus may include it: its profile falls from the start)
    first = imax if bolus else imax + 1
    lam, pts, adj = _lambda_z(t, c, first, lambda_z)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc_inf = auc_t + c_last / lam
        pct = 100.0 * (c_last / lam) / auc_inf
        t_half = math.log(2.0) / lam
    return {"cmax_ng_ml": cmax, "tmax_h": tmax, "auc_0_t_ng_h_ml": auc_t, "t_last_h": t[last],
            "lambda_z_per_h": lam, "lambda_z_points": pts, "lambda_z_adj_r2": adj, "t_half_h": t_half,
            "auc_0_inf_ng_h_ml": auc_inf, "auc_extrapolated_pct": pct}


# ---- simulated arms -------------------------------------------------------------------------------------------------
def pk_administrations(arm) -> list:
    """The doses NCA analyses: ketamine and midazolam administrations with an amount, in time order."""
    return [a for a in arm.administrations() if (a.drug.is_ketamine or a.drug.value == "midazolam") and a.amount > 0]


def arm_analytes(arm) -> tuple[str, ...]:
    """Analytes the arm's drugs produce (in the order of :data:`ANALYTES`)."""
    drugs = {a.drug.value for a in pk_administrations(arm)}
    out = []
    if drugs & {"racemic-ketamine", "esketamine"}:
        out.append("s-ketamine")
    if drugs & {"racemic-ketamine", "arketamine"}:
        out.append("r-ketamine")
    if drugs & {"racemic-ketamine"}:
        out.append("ketamine")
    if drugs & {"racemic-ketamine", "esketamine", "arketamine"}:
        out += ["norketamine", "hnk"]
    if "midazolam" in drugs:
        out.append("midazolam")
    return tuple(out)


def measured_analytes(arm, asked=None) -> list[str]:
    """Analytes a PK run of ``arm`` reports: those ``asked`` for (default: all it produces) that the arm produces.
    Asked for explicitly, total ketamine counts as produced whenever an enantiomer is (S + R whatever the product)."""
    produced = set(arm_analytes(arm))
    if "norketamine" in produced:
        produced.add("ketamine")
    return [a for a in (arm_analytes(arm) if asked is None else asked) if a in produced]


def dose_window(arm, which: str = "first"):
    """(administration, dose time h, end of the window h) of the analysed dose; the window of a first dose ends at
    the next PK-relevant dose (its samples would mix two doses), a last dose's never. None if the arm gives no
    drug with PK."""
    adms = pk_administrations(arm)
    if not adms:
        return None
    a = adms[0] if which == "first" else adms[-1]
    later = [b.start_h for b in adms if b.start_h > a.start_h + 1e-9]
    return a, a.start_h, (min(later) if later else math.inf)


def _doses_before(arm, cutoff_h: float):
    """The arm with only the administrations that start before ``cutoff_h`` (a dose at the last sample time is after
    it: that sample is the pre-dose trough). The scenario already validated (and warned about) every dose."""
    import warnings

    from .errors import DoseWarning

    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseWarning)
        for d in arm.doses:
            k = sum(1 for j in range(d.count) if d.at_h + j * d.every_h < cutoff_h - 1e-9)
            if k == d.count:
                lines.append(d)
            elif k > 0:
                lines.append(dataclasses.replace(d, count=k))
    return dataclasses.replace(arm, doses=tuple(lines)) if lines else arm


def _chunk_runs(arm, spec, params, times, *, patients=None, stream=None, n=None, chunk=2000, experiment=None,
                model=None, executor=None, occasion=None):
    """ArmRuns of the arm's patients at ``times``, chunk by chunk (patients given, or a per-patient stream as the
    trial samples them: identical whatever the chunking)."""
    from .engine import run_arm
    from .scale import ChunkTask, map_ordered, plan_chunks, run_chunk

    if patients is not None:
        for a, b in plan_chunks(patients.n, chunk):
            kw = {"experiment": experiment} if experiment is not None else {}
            yield a, b, run_arm(arm, spec, patients.take(slice(a, b)), times, params=params, on_failure="flag",
                                model=model, **kw)
        return
    pieces = plan_chunks(n, chunk)
    tasks = [ChunkTask(arm, spec, params, 0, a, b, stream, times, experiment, on_failure="flag", model=model,
                       occasion=occasion) for a, b in pieces]
    for (a, b), run in zip(pieces, map_ordered(run_chunk, tasks, executor)):
        yield a, b, run


def arm_pk(arm, spec, params, sampling: PKSampling = PKSampling(), *, patients=None, stream=None, n=None,
           chunk: int = 2000, experiment=None, model=None, executor=None, occasion: int | None = None) -> pd.DataFrame:
    """Per-patient NCA of one arm: one row per patient x analyte with the columns of :func:`nca` (+ ``exact_*``
    columns when ``sampling.exact``), ``arm``, ``subject``, ``analyte``, ``sample``, ``dose``, ``dose_time_h``.

    Patients: ``patients`` (a ``Patients``), or ``stream`` and ``n`` (the arm's per-patient random stream, as
    ``run_trial`` uses it); at most the first :data:`PK_MAX_PATIENTS`. ``occasion``: the crossover period whose
    inter-occasion effects the stream's patients get (``population.sample_patients``; None: none). The arm is simulated at the pre-dose time and the sampling times after the analysed
    dose (only those before the next dose for a first dose); empty if the arm gives no drug with PK."""
    if getattr(arm, "titration", None) is not None:
        raise InputError(f"arms.{arm.name}.titration: PK (NCA) is not computed for an arm with a titration rule "
                         "(patients get different doses); simulate a fixed dose for PK")
    win = dose_window(arm, sampling.dose)
    cols = ["arm", "subject", "analyte", "sample", "dose", "dose_time_h"]
    if patients is not None and patients.n > PK_MAX_PATIENTS:
        patients = patients.take(slice(0, PK_MAX_PATIENTS))
    if n is not None:
        n = min(n, PK_MAX_PATIENTS)
    if win is None:
        return pd.DataFrame(columns=cols)
    adm, t0, t_next = win
    rel = np.concatenate([[0.0], [s for s in sampling.times_for(adm.duration_h) if t0 + s <= t_next + 1e-9]])
    if rel.size < 2:
        raise InputError(f"pk_sampling.times: no sampling time falls between the {sampling.dose} dose of arm "
                         f"{arm.name} and its next dose ({t_next - t0:g} h later)")
    analytes = measured_analytes(arm, sampling.analytes)     # e.g. midazolam asked for in a ketamine arm: no rows
    bolus = adm.route.value == "iv-bolus"
    side = SAMPLES.index(sampling.sample)
    exact_rel = None
    if sampling.exact:
        fine = np.arange(0.0, min(rel[-1], EXACT_FINE_H) + 1e-9, EXACT_STEP_H)
        tail = np.arange(min(rel[-1], EXACT_FINE_H), rel[-1] + (14 * 24.0 if math.isinf(t_next) else 0.0) + 1e-9, 0.25)
        exact_rel = np.unique(np.round(np.concatenate([fine, rel, tail]), 9))
        exact_rel = exact_rel[t0 + exact_rel <= t_next + 1e-9]
    frames = []
    # later doses cannot change earlier levels: simulate only the doses given before the last sample (a first dose of
    # a 28-day series is simulated for its sampling day, not for 28 days)
    arm = _doses_before(arm, t0 + rel[-1])
    kw = dict(patients=patients, stream=stream, n=n, experiment=experiment, model=model, executor=executor,
              occasion=occasion)
    for a, b, run in _chunk_runs(arm, spec, params, t0 + rel, chunk=chunk, **kw):
        for an in analytes:
            res = nca(rel, run.output(ANALYTES[an][side]), bolus=bolus, lambda_z=sampling.lambda_z)
            frames.append(pd.DataFrame({"arm": arm.name, "subject": np.arange(a, b), "analyte": an,
                                        "sample": sampling.sample, "dose": sampling.dose, "dose_time_h": t0, **res}))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    if exact_rel is not None and len(df):
        # the same patients on a 1-minute grid (bounded memory: ~40 MB of trajectories per chunk)
        from .model import DEFAULT_MODEL

        per = exact_rel.size * len((model or DEFAULT_MODEL).output_names) * 8
        exact = []
        for a, b, run in _chunk_runs(arm, spec, params, t0 + exact_rel, chunk=max(1, min(chunk, int(40e6 // per))), **kw):
            for an in analytes:
                # the tail runs 14 days past the last sample: its last 3 points are in the terminal phase
                r = nca(exact_rel, run.output(ANALYTES[an][side]), bolus=bolus, lambda_z="last3")
                cc = run.output(ANALYTES[an][side])
                last = exact_rel <= rel[-1] + 1e-9
                seg = _auc_segments(exact_rel[last], np.maximum(cc[:, last], 0.0))
                e = {"exact_cmax_ng_ml": cc[:, 1:].max(axis=1), "exact_tmax_h": exact_rel[1 + np.argmax(cc[:, 1:], axis=1)],
                     "exact_auc_0_t_ng_h_ml": seg.sum(axis=1),
                     "exact_auc_0_inf_ng_h_ml": r["auc_0_inf_ng_h_ml"] if math.isinf(t_next) else np.nan}
                exact.append(pd.DataFrame({"subject": np.arange(a, b), "analyte": an, **e}))
        df = df.merge(pd.concat(exact, ignore_index=True), on=["subject", "analyte"], how="left")
    return df.sort_values(["analyte", "subject"], key=lambda s: s.map(list(ANALYTES).index) if s.name == "analyte"
                          else s, kind="stable").reset_index(drop=True)


# ---- population statistics ------------------------------------------------------------------------------------------
def geometric_summary(x) -> dict:
    """Geometric mean, geometric CV % (100 sqrt(exp(s^2) - 1), s the SD of the logs) and the 95 % CI of the
    geometric mean (t interval on the logs) of the positive finite values (scipy)."""
    from scipy import stats

    x = np.asarray(x, float)
    x = x[np.isfinite(x) & (x > 0)]
    out = {"n": int(x.size), "value": float("nan"), "cv_percent": float("nan"), "ci95": [float("nan")] * 2}
    if x.size == 0:
        return out
    out["value"] = float(stats.gmean(x))
    if x.size > 1:
        s = float(np.log(stats.gstd(x)))
        out["cv_percent"] = 100.0 * math.sqrt(math.expm1(s * s))
        lo, hi = stats.t.interval(0.95, x.size - 1, loc=np.mean(np.log(x)), scale=stats.sem(np.log(x)))
        out["ci95"] = [float(np.exp(lo)), float(np.exp(hi))] if s > 0 else [out["value"]] * 2
    return out


def median_summary(x) -> dict:
    """Median, range and the distribution-free 95 % CI of the median (scipy ``quantile_test``)."""
    from scipy import stats

    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    out = {"n": int(x.size), "value": float("nan"), "range": [float("nan")] * 2, "ci95": [float("nan")] * 2}
    if x.size == 0:
        return out
    out["value"] = float(np.median(x))
    out["range"] = [float(x.min()), float(x.max())]
    if x.size > 1:
        ci = stats.quantile_test(x, q=out["value"], p=0.5).confidence_interval(0.95)
        out["ci95"] = [float(ci.low), float(ci.high)]
    return out


def summary_rows(df: pd.DataFrame, measures=PK_MEASURES) -> list[dict]:
    """Trial endpoint rows of per-patient NCA values (one arm or several): per arm x analyte x measure, the
    geometric mean with geometric CV % and 95 % CI, or for Tmax the median with range and 95 % CI."""
    rows = []
    if not len(df):
        return rows
    for (arm, analyte), g in df.groupby(["arm", "analyte"], sort=False):
        for m in measures:
            s = median_summary(g[COLUMNS[m]]) if m == "tmax" else geometric_summary(g[COLUMNS[m]])
            row = {"arm": arm, "time_h": None, "scale": "pk", "measure": m, "analyte": analyte,
                   "sample": str(g["sample"].iloc[0]), "dose": str(g["dose"].iloc[0]),
                   "dose_time_h": float(g["dose_time_h"].iloc[0]), "unit": UNITS[m],
                   "statistic": "median" if m == "tmax" else "geometric mean", "value": s["value"],
                   "ci95": s["ci95"], "n_evaluable": s["n"]}
            if m == "tmax":
                row["range"] = s["range"]
            else:
                row["cv_percent"] = s["cv_percent"]
            rows.append(row)
    return rows


def geometric_mean_ratio(a, b, *, paired: bool, level: float = 0.90):
    """Geometric mean ratio a/b with its ``level`` CI and two-sided p of the log difference: paired t on the
    within-patient log ratios (a crossover: the same patients in both periods) or Welch's t on the logs
    (parallel groups; statsmodels). Non-positive or missing values are left out (pairwise when paired)."""
    from scipy import stats
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    a, b = np.asarray(a, float), np.asarray(b, float)
    nan = float("nan")
    if paired:
        ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
        d = np.log(a[ok]) - np.log(b[ok])
        if d.size < 2:
            return nan, [nan, nan], nan, int(d.size)
        m, se = float(np.mean(d)), float(stats.sem(d))
        if se == 0:
            return math.exp(m), [math.exp(m)] * 2, (0.0 if m != 0 else 1.0), int(d.size)
        lo, hi = stats.t.interval(level, d.size - 1, loc=m, scale=se)
        return math.exp(m), [math.exp(lo), math.exp(hi)], float(stats.ttest_1samp(d, 0.0).pvalue), int(d.size)
    la = np.log(a[np.isfinite(a) & (a > 0)])
    lb = np.log(b[np.isfinite(b) & (b > 0)])
    if la.size < 2 or lb.size < 2:
        return nan, [nan, nan], nan, int(min(la.size, lb.size))
    cm = CompareMeans(DescrStatsW(la), DescrStatsW(lb))
    lo, hi = cm.tconfint_diff(alpha=1 - level, usevar="unequal")
    p = float(stats.ttest_ind(la, lb, equal_var=False).pvalue)
    return math.exp(float(np.mean(la) - np.mean(lb))), [math.exp(lo), math.exp(hi)], p, int(min(la.size, lb.size))


def ratio_rows(test: pd.DataFrame, ref: pd.DataFrame, *, paired: bool, measures=PK_MEASURES) -> list[dict]:
    """Between-arm rows (test arm vs reference arm) for every analyte both have: geometric mean ratio of Cmax,
    AUC0-t, AUC0-inf and t1/2 with the 90 % CI of a DDI/bioequivalence study (and the 95 % CI, as every
    comparison row of the trial JSON has)."""
    rows = []
    if not len(test) or not len(ref):
        return rows
    for analyte in [a for a in ANALYTES if a in set(test["analyte"]) and a in set(ref["analyte"])]:
        ta = test[test["analyte"] == analyte].sort_values("subject")
        rb = ref[ref["analyte"] == analyte].sort_values("subject")
        pair = paired and np.array_equal(ta["subject"].to_numpy(), rb["subject"].to_numpy())
        for m in [m for m in measures if m in RATIO_MEASURES]:
            v, ci90, p, k = geometric_mean_ratio(ta[COLUMNS[m]].to_numpy(), rb[COLUMNS[m]].to_numpy(), paired=pair)
            _, ci95, _, _ = geometric_mean_ratio(ta[COLUMNS[m]].to_numpy(), rb[COLUMNS[m]].to_numpy(), paired=pair,
                                                 level=0.95)
            rows.append({"arm": str(ta["arm"].iloc[0]), "versus": str(rb["arm"].iloc[0]), "time_h": None,
                         "scale": "pk", "measure": f"{m}_ratio", "analyte": analyte,
                         "sample": str(ta["sample"].iloc[0]), "dose": str(ta["dose"].iloc[0]),
                         "statistic": "geometric mean ratio" + (" (paired)" if pair else ""), "value": v,
                         "ci90": ci90, "ci95": ci95, "p_value": p, "n_evaluable": k,
                         "test": "paired t on log ratios" if pair else "Welch t on logs"})
    return rows


def _fmt(v, digits=4) -> str:
    return "n/a" if v is None or not math.isfinite(float(v)) else f"{float(v):.{digits}g}"


def format_summary(df: pd.DataFrame, *, title: str = "") -> str:
    """The per-analyte NCA summary as printed by ``ketasim simulate --pk`` (one block per arm)."""
    lines = [title] if title else []
    if not len(df):
        return "\n".join(lines + ["  no drug with PK in this regimen"])
    for arm, g in df.groupby("arm", sort=False):
        n = g["subject"].nunique()
        lines.append(f"[{arm}] {g['dose'].iloc[0]} dose at {_fmt(g['dose_time_h'].iloc[0])} h, {g['sample'].iloc[0]} "
                     f"plasma, n={n}" + ("" if n > 1 else " (one patient: its values)")
                     + (f" (the first {PK_MAX_PATIENTS:,} patients)" if n >= PK_MAX_PATIENTS else ""))
        header = ("Cmax ng/mL", "Tmax h", "AUC0-t ng*h/mL", "AUC0-inf ng*h/mL", "t1/2 h")
        rows = []           # (label, cells); columns widen to their longest cell (a Tmax range overflowed 16)
        fewer = {}          # measure -> [(analyte, evaluable patients)] where some patients have no value
        for analyte, h in g.groupby("analyte", sort=False):
            cells = []
            for m in PK_MEASURES:
                if m == "tmax":
                    s = median_summary(h[COLUMNS[m]])
                    cells.append(f"{_fmt(s['value'], 3)} [{_fmt(s['range'][0], 3)}-{_fmt(s['range'][1], 3)}]"
                                 if n > 1 else _fmt(s["value"], 3))
                else:
                    s = geometric_summary(h[COLUMNS[m]])
                    cells.append(f"{_fmt(s['value'])} ({_fmt(s['cv_percent'], 3)}%)" if n > 1 else _fmt(s["value"]))
                if 0 < s["n"] < len(h):
                    fewer.setdefault(m, []).append(f"{analyte} {s['n']:,}")
            rows.append((analyte, cells))
            if "exact_cmax_ng_ml" in h:
                ex = [geometric_summary(h[c])["value"] for c in ("exact_cmax_ng_ml", "exact_auc_0_t_ng_h_ml",
                                                                 "exact_auc_0_inf_ng_h_ml")]
                rows.append(("  model exact", [_fmt(ex[0]), _fmt(median_summary(h["exact_tmax_h"])["value"], 3),
                                               _fmt(ex[1]), _fmt(ex[2])]))
        label_w = max([12, *(len(lab) for lab, _ in rows)])
        widths = [max([16, *(len(c[i]) for _, c in rows if i < len(c))]) for i in range(len(header))]
        lines.append((f"  {'analyte':{label_w}s}  " + "  ".join(f"{hd:{w}s}" for hd, w in zip(header, widths))).rstrip())
        for lab, cells in rows:
            lines.append((f"  {lab:{label_w}s}  " + "  ".join(f"{c:{w}s}" for c, w in zip(cells, widths))).rstrip())
        # a slow absorber without a terminal phase on the schedule has no lambda_z, so no AUC0-inf or t1/2 (as a
        # real NCA reports it): the header's n was the only count shown, so the table read as all n patients
        same = {}           # the counts -> the measures with them (AUC0-inf and t1/2 both need lambda_z)
        for m, which in fewer.items():
            same.setdefault(", ".join(which), []).append(LABELS.get(m, m))
        for which, labels in same.items():
            # AUC0-inf and t1/2 miss a patient without lambda_z; another measure only a non-positive or failed value
            why = ("no terminal phase on the schedule" if set(labels) <= {LABELS["auc_0_inf"], LABELS["t_half"]}
                   else "non-positive or missing values")
            lines.append(f"  {', '.join(labels)}: evaluable in fewer than the {n:,} patients ({which}; {why})")
        if "exact_cmax_ng_ml" in g:
            # its empty t1/2 and its AUC0-inf 'n/a' (a dose followed by another) beside the schedule's values had no
            # word of why
            why = ("; AUC0-inf only after a last dose (the grid stops at the next dose)"
                   if g["exact_auc_0_inf_ng_h_ml"].isna().all() else "")
            lines.append(f"  model exact: the same patients on a 1-minute grid (no t1/2 of its own){why}")
    # one patient per arm (the typical patient) has its own values, not a geometric mean and CV
    several = bool(len(df)) and int(df.groupby("arm", sort=False)["subject"].nunique().max()) > 1
    lines.append(("Cmax, AUC, t1/2: geometric mean (geometric CV %); Tmax: median [range]. " if several else "")
                 + "NCA on the sampling schedule: AUC linear-up/log-down; lambda_z by log-linear regression of the "
                   "terminal samples.")
    return "\n".join(lines)


__all__ = ["PKSampling", "nca", "arm_pk", "summary_rows", "ratio_rows", "geometric_mean_ratio", "format_summary",
           "sampling_from_mapping", "ANALYTES", "DEFAULT_SCHEDULE_H"]


def scenario_pk(scenario, params=None, sampling: PKSampling | None = None, *, n: int | None = None, seed=None,
                typical: bool = False, experiment=None, chunk: int = 2000, executor=None, model=None) -> pd.DataFrame:
    """Per-patient NCA of every arm of ``scenario`` for the patients ``ketasim.simulate`` would simulate with the
    same ``n``, ``seed`` and ``typical`` (so the numbers belong to the trajectories written beside them).
    ``sampling``: default the scenario's ``endpoints`` PK settings, else :class:`PKSampling` defaults."""
    from .parameters import load_parameters
    from .population import typical_patient
    from .scale import arm_stream

    from . import limits

    # the arguments as simulate() checks them, one line naming each ('5' as n was a ValueError from a format spec)
    limits.check_scenario_arg(scenario)
    n = None if n is None else limits.check_size(n, "n")
    seed = None if seed is None else limits.check_seed(seed, "seed")
    typical = limits.check_bool(typical, "typical")
    chunk = limits.check_int(chunk, "chunk", lo=1, hi=limits.MAX_PATIENTS)
    limits.check_stated_patient(scenario, n)
    limits.check_typical_size(typical, n)       # as simulate(): typical=True is one patient per arm
    params = params or load_parameters()
    if sampling is None:
        ep = getattr(scenario, "endpoints", None)
        sampling = (ep.pk if ep is not None and ep.pk is not None else None) or PKSampling()
    seed = scenario.seed if seed is None else seed
    n = scenario.population.size if n is None else n
    typical = typical or getattr(scenario, "patient", None) is not None
    experiment = experiment or scenario.experiment
    frames = []
    for k, arm in enumerate(scenario.arms):
        if typical:
            df = arm_pk(arm, scenario.population, params, sampling, patients=typical_patient(scenario.population, params),
                        experiment=experiment, model=model)
        else:
            df = arm_pk(arm, scenario.population, params, sampling, stream=arm_stream(seed, k), n=n, chunk=chunk,
                        experiment=experiment, model=model, executor=executor)
        frames.append(df)
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def pk_document(scenario, params, sampling: PKSampling, df: pd.DataFrame, *, seed=None, typical=False,
                model=None) -> dict:
    """The ``--pk-json`` document: provenance, the sampling, the summary rows and every patient's NCA values.
    ``model``: the model definition :func:`scenario_pk` ran (default: the package's), named in ``model``."""
    from .model import model_id
    from .result import ketasim_version, scenario_definition
    from .vocabulary import NOTICE

    return {"scenario": scenario.name, "ketasim_version": ketasim_version(), "parameter_set": params.version,
            "calibration_run": params.calibration_run, "seed": int(scenario.seed if seed is None else seed),
            "typical": bool(typical),
            # as a trajectory file's provenance: the model and what was simulated (a quick form's was only 'quick')
            "model": model_id(model),
            "definition": scenario_definition(getattr(scenario, "source", None)),
            "sampling": {"times_h": list(sampling.times_h), "infusion_end": sampling.adds_infusion_end,
                         "dose": sampling.dose, "lambda_z": sampling.lambda_z,
                         "sample": sampling.sample, "exact": sampling.exact,
                         "auc": "linear-up/log-down trapezoids to the last sample"},
            "summary": summary_rows(df) if len(df) else [],
            # every patient's values (small runs; large ones: the summary only)
            "patients": df.to_dict("records") if len(df) and df["subject"].max() < JSON_MAX_PATIENTS else [],
            "notice": NOTICE}
