"""Covariate effects (a forest plot): what one patient characteristic or comedication does to exposure, side effects
and relief, all else equal.

Each contrast simulates the same virtual patients twice, at a test and a reference level of one covariate (sex,
age, weight, BDNF genotype, CRP, or a comedication added to the population's), with every random effect and every
other covariate unchanged (common random numbers), as model-based forest plots of population-PK reports do. Exposure
(Cmax, AUC0-inf, ... by non-compartmental analysis on the scenario's PK sampling schedule, :mod:`ketasim.nca`) is
compared as the geometric mean ratio of the paired patients with its 90 % CI, the interval drug-interaction and
bioequivalence studies report, against the default no-effect bounds 0.80-1.25 (:data:`NO_EFFECT_BOUNDS`). Side
effects (session peaks) and relief (score measures at a time, the response and remission probabilities under the
rater's noise, :func:`ketasim.sensitivity.patient_endpoint_values`) are compared as the mean paired difference
(test - reference) with its 90 % CI. The intervals are those of the finite virtual population (Monte Carlo), not
of the model's parameters: they shrink with ``n`` and say whether the population is large enough to read the
effect, not how certain the effect is.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pandas as pd

from .errors import InputError, KetasimError, argument
from .parameters import ParameterSet, load_parameters

#: Covariates a contrast may change, with the unit of their levels.
COVARIATES = {"sex": "", "age": "y", "weight": "kg", "genotype": "", "crp": "mg/L", "comedication": "", "care": "",
              "resistant": ""}
#: Other ways users write them.
_ALIASES = {"age_years": "age", "weight_kg": "weight", "bdnf": "genotype", "crp_mg_l": "crp",
            "comedications": "comedication", "interaction": "comedication", "ddi": "comedication",
            "care_setting": "care", "setting": "care", "treatment_resistant": "resistant", "trd": "resistant"}
#: The contrasts run when none are given: the covariates of the model's PK and response, each at a level far enough
#: from the reference to show its size, and every known inhibitor and inducer.
DEFAULT_CONTRASTS = ("sex=female:male", "age=70:45", "weight=55:80", "weight=110:80", "genotype=met/met:val/val",
                     "crp=10:1", "comedication=clarithromycin", "comedication=itraconazole",
                     "comedication=ticlopidine", "comedication=grapefruit-juice", "comedication=rifampicin",
                     "comedication=st-johns-wort")
#: Endpoints compared when none are given: exposure of the first analyte and the arm's side effects and relief.
DEFAULT_ENDPOINTS = ("cmax", "auc_0_inf", "cadss_peak", "sbp_change_peak", "response_rate@24h")
#: PK measures compared as geometric mean ratios.
PK_ENDPOINTS = ("cmax", "auc_0_t", "auc_0_inf", "t_half")
#: Default no-effect bounds of a geometric mean ratio's 90 % CI: FDA, Clinical Drug Interaction Studies - Cytochrome
#: P450 Enzyme- and Transporter-Mediated Drug Interactions, guidance for industry (January 2020), section IV.D
#: ("80-125 %", https://www.fda.gov/media/134581/download).
NO_EFFECT_BOUNDS = (0.80, 1.25)
#: Analytes reported by default (the parent enantiomers, norketamine and, in a midazolam arm, midazolam; total
#: ketamine and HNK on request).
DEFAULT_ANALYTES = ("s-ketamine", "r-ketamine", "norketamine", "midazolam")
#: Level of the interval.
LEVEL = 0.90
#: Virtual patients per level when not given.
DEFAULT_SIZE = 500


@dataclasses.dataclass(frozen=True)
class Contrast:
    """One covariate at a test and a reference level. ``reference`` None for a comedication: none added."""

    covariate: str
    test: object
    reference: object

    @property
    def label(self) -> str:
        """'female vs male', 'age 70 vs 45 y', '+ rifampicin'."""
        if self.covariate == "comedication":
            return f"+ {self.test}"
        unit = COVARIATES[self.covariate]
        if self.covariate == "resistant":
            return f"treatment-resistant {self.test} vs {self.reference}"
        name = {"sex": "", "genotype": "BDNF ", "crp": "CRP ", "care": ""}.get(self.covariate, f"{self.covariate} ")
        return f"{name}{_level_text(self.test)} vs {_level_text(self.reference)}{' ' + unit if unit else ''}"


def _level_text(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _number(text: str, field: str, covariate: str, lo: float, hi: float, unit: str) -> float:
    try:
        v = float(text)
    except ValueError:
        # a level typed with its unit ('55kg', '120 lb', '2 mg/dL', '70 y') is converted, as the dashboard's boxes
        # read one; it was refused ('is not a number (kg)')
        from .units import parse_quantity

        try:
            # 'y' and 'yr' are years here (pint reads 'y' as a yocto- prefix, not a unit: '70 y' was refused)
            typed = re.sub(r"(?<=[0-9\s])(y|yr|yrs)$", "year", text.strip()) if unit == "y" else text.strip()
            v = float(parse_quantity(typed, {"y": "year"}.get(unit, unit), field))
        except (KetasimError, ValueError, TypeError, ArithmeticError):
            raise InputError(f"{field}: {covariate} level {text.strip()!r} is not a number ({unit})") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise InputError(f"{field}: {covariate} level must lie in {lo:g}-{hi:g} {unit}, got {text.strip()}")
    return v


def parse_contrast(text, spec, params: ParameterSet, field: str | None = None, arm=None,
                   typical: bool = False, allow_equal: bool = False) -> Contrast | None:
    """'sex=female:male', 'age=70' (reference: the population's mean), 'weight=55:80', 'genotype=met/met',
    'crp=10:1', 'comedication=rifampicin for 5 d' (reference: the population's comedications) -> :class:`Contrast`;
    a one-line InputError naming ``field`` otherwise. ``spec``: the population whose patients are compared;
    ``arm``: the arm analysed (a comedication it already takes, in the population or in the arm, is refused);
    ``typical``: one patient, whose age may be 12-100 years (a population's are drawn within 18-90);
    ``allow_equal``: a test level equal to the reference gives None (a sweep's level at the reference), not an
    error."""
    from .limits import AGE_RANGE
    from .patient import parse_sex
    from .population import AGE_MEAN_RANGE, GENOTYPES, WEIGHT_MEAN_RANGE, parse_comedication

    field = field or argument("covariates", "--covariate")

    if not isinstance(text, str) or "=" not in text:
        raise InputError(f"{field}: write a contrast as COVARIATE=TEST[:REFERENCE], e.g. 'age=70:45', "
                         f"'sex=female:male' or 'comedication=rifampicin' (covariates: {', '.join(COVARIATES)}), "
                         f"got {str(text)[:40]!r}")
    name, _, levels = text.partition("=")
    name = name.strip().lower().replace("-", "_")
    name = _ALIASES.get(name, name)
    if name not in COVARIATES:
        raise InputError(f"{field}: unknown covariate {name!r}; use one of {', '.join(COVARIATES)}")
    levels = levels.strip()
    if not levels:
        raise InputError(f"{field}: give {name}'s test level, e.g. '{name}={_example(name)}'")
    if name == "comedication":
        med, _, _ = parse_comedication(levels, field)
        own = tuple(getattr(arm, "comedications", None) or ())
        taken = {parse_comedication(c, field)[0] for c in (*spec.comedications, *own)}
        if med in taken:
            who = f"arm {arm.name}" if med in {parse_comedication(c, field)[0] for c in own} else "the population"
            raise InputError(f"{field}: {who} already takes {med}; its effect cannot be added again")
        # in ketasim's words (the known name and its durations as outputs write them, as a record's COMED):
        # 'Rifampicin' and 'rifampin', or 'for 5 days' and 'for 120 h', were labelled as typed and ran twice
        from .population import canonical_comedication

        return Contrast(name, canonical_comedication(levels, field), None)
    test, sep, ref = levels.partition(":")
    test, ref = test.strip(), ref.strip()
    if sep and not ref:
        raise InputError(f"{field}: give {name}'s reference level after ':' or leave out the ':'")
    if name == "sex":
        t = parse_sex(test, field)
        r = parse_sex(ref, field) if ref else ("male" if t == "female" else "female")
    elif name == "care":
        from .population import CARE_SETTINGS

        t, r = test.lower(), (ref.lower() if ref else spec.care_setting)
        for c in (t, r):
            if c not in CARE_SETTINGS:
                raise InputError(f"{field}: care level {c!r}; use one of {', '.join(CARE_SETTINGS)}")
    elif name == "resistant":
        words = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}
        t = words.get(test.lower())
        r = words.get(ref.lower()) if ref else ("yes" if spec.treatment_resistant else "no")
        if t is None or r is None:
            raise InputError(f"{field}: resistant level {(test if t is None else ref)!r}; use yes or no")
    elif name == "genotype":
        t, r = test.lower().replace(" ", ""), (ref.lower().replace(" ", "") if ref else (spec.genotype or "val/val"))
        for g in (t, r):
            if g not in GENOTYPES:
                raise InputError(f"{field}: genotype level {g!r}; use one of {', '.join(GENOTYPES)}")
    else:
        ages = AGE_MEAN_RANGE if typical else AGE_RANGE
        lo, hi = {"age": ages, "weight": WEIGHT_MEAN_RANGE, "crp": (0.0, 300.0)}[name]
        unit = COVARIATES[name]
        t = _number(test, field, name, lo, hi, unit)
        if ref:
            r = _number(ref, field, name, lo, hi, unit)
        else:
            r = {"age": spec.age_years.mean, "weight": spec.weight_kg.mean,
                 "crp": spec.crp_mg_l if spec.crp_mg_l is not None else params.get("pop.crp_median", "mg/L")}[name]
            r = float(r)
    if t == r:
        if allow_equal:
            return None
        raise InputError(f"{field}: {name}'s test and reference levels are both {_level_text(t)}: nothing to compare")
    return Contrast(name, t, r)


def _example(name: str) -> str:
    return {"sex": "female:male", "age": "70:45", "weight": "55:80", "genotype": "met/met:val/val", "crp": "10:1",
            "comedication": "rifampicin", "care": "inpatient:outpatient", "resistant": "no:yes"}[name]


def at_level(spec, patients, covariate: str, value, params: ParameterSet):
    """(population spec, patients) with ``covariate`` set to ``value`` for every patient (None: the reference of a
    comedication, the population as it is)."""
    from .population import genotype_factors

    n = patients.n
    if covariate == "comedication":
        return (spec if value is None else dataclasses.replace(spec, comedications=(*spec.comedications, value))), patients
    if covariate == "care":
        return dataclasses.replace(spec, care_setting=value), patients
    if covariate == "resistant":
        return dataclasses.replace(spec, treatment_resistant=value == "yes"), patients
    if covariate == "sex":
        field, column = "female", np.full(n, value == "female")
    elif covariate == "genotype":
        field, column = "genotype_factor", np.full(n, genotype_factors(params)[value])
    else:
        field, column = {"age": "age_years", "weight": "weight_kg", "crp": "crp_mg_l"}[covariate], np.full(n, float(value))
    return spec, dataclasses.replace(patients, **{field: column})


@dataclasses.dataclass
class CovariateResult:
    """The rows of a covariate analysis (:meth:`table`) with what produced them (``provenance``)."""

    rows: list
    provenance: dict

    def table(self) -> pd.DataFrame:
        """One row per contrast x endpoint (x analyte for PK): contrast, covariate, test, reference, endpoint,
        analyte, unit, statistic ('geometric mean ratio' or 'mean difference'), value, ci90_low, ci90_high,
        test_value, reference_value (the levels' geometric means or means), n."""
        return pd.DataFrame(self.rows, columns=["contrast", "covariate", "test", "reference", "endpoint", "analyte",
                                                "unit", "statistic", "value", "ci90_low", "ci90_high", "test_value",
                                                "reference_value", "n", "param90_low", "param90_high"])

    def to_csv(self, path):
        """The table as CSV with the provenance as ``<path>.provenance.json`` beside it (both complete or neither)."""
        from .result import _csv_with_provenance

        return _csv_with_provenance(path, self.table, {**self.provenance, "units": {
            "value": "ratio (PK) or the endpoint's unit (difference)", "ci90_low": "as value", "ci90_high": "as value",
            "test_value": "the level's geometric mean (PK) or mean, in the endpoint's unit (level_units)",
            "reference_value": "as test_value"}})

    def format_table(self) -> str:
        """The printed forest table: one line per contrast, one column per endpoint (PK of the first analyte)."""
        df = self.table()
        if not len(df):
            return "no covariate effects computed"
        first = self.provenance["analytes"][0] if self.provenance["analytes"] else None
        cols = [(e, first if e in PK_ENDPOINTS else "") for e in self.provenance["endpoints"]]
        cols = [c for c in cols if c[1] is not None]
        draws = bool(self.provenance.get("uncertainty"))
        heads = [column_title(e, a) for e, a in cols]
        width = max(len("contrast"), *(len(c) for c in df["contrast"].unique()))
        lines = [f"{'contrast':<{width}}  " + "  ".join(f"{h:>22}" for h in heads)]
        for contrast, g in df.groupby("contrast", sort=False):
            cells = []
            for e, a in cols:
                r = g[(g["endpoint"] == e) & (g["analyte"] == a)]
                cells.append(_cell(r.iloc[0], draws) if len(r) else "-")
            lines.append(f"{contrast:<{width}}  " + "  ".join(f"{c:>22}" for c in cells))
        p = self.provenance
        pk_n = p.get("pk_patients", p["n"])
        capped = f", PK of the first {pk_n:,} (NCA's limit)" if 0 < pk_n < p["n"] else ""
        who = ("The typical patient at each level (no random effects)." if p["typical"] else
               f"The same {p['n']:,} virtual patients at each level{capped}" + (
                   "." if draws else " ([ ]: Monte Carlo of the population, not parameter uncertainty)."))
        ci = "" if p["typical"] or draws else ", 90 % CI"
        lines.append(f"PK: geometric mean ratio test/reference (x){ci}; no-effect bounds {NO_EFFECT_BOUNDS[0]:.2f}-"
                     f"{NO_EFFECT_BOUNDS[1]:.2f}. Others: mean difference test - reference{ci}. {who}")
        if p.get("design_note"):
            lines.append(f"note: {p['design_note']}")
        if draws:
            from .limits import MIN_PER_ROW_DRAWS

            few = (f" With {p['uncertainty']} draws the 5th-95th percentiles are nearly the extremes and poorly "
                   f"known (use {MIN_PER_ROW_DRAWS} or more)." if p["uncertainty"] < MIN_PER_ROW_DRAWS else "")
            lo, hi, v = df["param90_low"], df["param90_high"], df["value"]
            moved = (hi - lo) > 1e-9 * np.maximum(1.0, v.abs())         # braces shown (as _cell)
            out = ("" if not (moved & ((v < lo) | (v > hi))).any() else
                   " A value outside its braces: the calibrated parameters' own value lies beyond the draws' "
                   "5th-95th percentiles (an effect that is steep or skewed in the parameters).")
            lines.append(f"{{ }}: 5th-95th percentile over {p['uncertainty']} draws of the calibrated parameters' "
                         "posterior, on the same patients (none shown where the draws do not move a value: the PK "
                         f"parameters are literature values).{out}{few}")
        # what produced the numbers, as trial's first line says it (the table named no seed or parameter set)
        exp = p.get("experiment") or {}
        lines.append(f"scenario {p['scenario']}, arm {p['arm']}, seed {p['seed']}, parameter set {p['parameter_set']}"
                     + (f", experiment {', '.join(f'{k}={_level_text(v)}' for k, v in exp.items())}" if exp else ""))
        return "\n".join(lines)


def column_title(endpoint: str, analyte: str) -> str:
    """A column or panel title: "s-ketamine Cmax", "SBP rise (mmHg)", "response 24 h (pp)"."""
    from .nca import LABELS
    from .units import fmt_hours

    if endpoint in PK_ENDPOINTS:
        return f"{analyte} {LABELS[endpoint]}"
    from .sensitivity import parse_endpoint

    e = parse_endpoint(endpoint)
    names = {"cadss_peak": "CADSS peak", "sbp_change_peak": "SBP rise (mmHg)", "dbp_change_peak": "DBP rise (mmHg)",
             "hr_change_peak": "HR rise (/min)", "sedation_peak": "sedation peak", "mean": "score",
             "mean_change": "score change", "response_rate": "response", "remission_rate": "remission"}
    unit = {"response_rate": " (pp)", "remission_rate": " (pp)"}.get(e.measure, "")
    return names[e.measure] + (f" {fmt_hours(e.time_h)}" if e.time_h is not None else "") + unit


def interval_keys(draws: bool) -> tuple[str, str]:
    """The columns of the interval a table or figure shows: with posterior draws their 5th-95th percentiles, else
    the population's 90 % CI."""
    return ("param90_low", "param90_high") if draws else ("ci90_low", "ci90_high")


def _cell(row, draws: bool = False) -> str:
    """'x1.29 [1.28, 1.30]' / '+3.3 [+2.8, +3.8]' (the population's 90 % CI); with posterior ``draws``, the
    parameters' 5th-95th percentiles in braces instead ('+3.3 {+1.4, +4.2}'), none where the draws do not move the
    value (PK: literature parameters)."""
    v = row["value"]
    lo, hi = (row[k] for k in interval_keys(draws))
    if not math.isfinite(v):
        return "n/a"
    shown = math.isfinite(lo) and math.isfinite(hi) and not (draws and hi - lo <= 1e-9 * max(1.0, abs(v)))
    left, right = ("{", "}") if draws else ("[", "]")
    if row["statistic"] == "geometric mean ratio":
        return f"x{v:.2f}" + (f" {left}{lo:.2f}, {hi:.2f}{right}" if shown else "")
    return _signed(v) + (f" {left}{_signed(lo)}, {_signed(hi)}{right}" if shown else "")


def _signed(x: float) -> str:
    """'+3.3', '-1.0'; a difference that rounds to zero is '+0.0' ('-0.0' read as a small decrease)."""
    text = f"{x:+.1f}"
    return "+0.0" if text == "-0.0" else text


def _paired_difference(a: np.ndarray, b: np.ndarray):
    """Mean of a - b over the patients with both finite, and its 90 % t interval (NaN with fewer than 2; the mean
    itself when every difference is the same)."""
    from .trial import mean_ci

    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    m, se, (lo, hi) = mean_ci(d, level=LEVEL)
    if d.size >= 2 and se == 0:
        return m, m, m
    return m, lo, hi


def _inherit_names(contrasts) -> tuple[tuple, tuple]:
    """A level without a name takes the previous contrast's covariate: 'weight=50', '70', '100' (as the command
    line's 'weight=50,70,100' arrives) reads as three weight contrasts against the population's mean, and
    'comedication=rifampicin,clarithromycin' as two comedications. Returns (texts, whether each continues a sweep:
    the level after a named one and every inherited one)."""
    out, swept, last = [], [], None
    for t in contrasts:
        inherited = isinstance(t, str) and "=" not in t and last is not None and bool(t.strip())
        if inherited:
            t = f"{last}={t.strip()}"
            swept[-1] = True        # the named level it continues (or an inherited one) is part of the sweep too
        if isinstance(t, str) and "=" in t:
            last = t.partition("=")[0].strip()
        out.append(t)
        swept.append(inherited)
    return tuple(out), tuple(swept)


def _split_endpoints(endpoints):
    from .sensitivity import parse_endpoint

    field = argument("endpoints", "--endpoint")
    pk, pd_ = [], []
    for e in endpoints:
        text = str(e).strip()
        head, at, when = text.lower().partition("@")        # any case ('CMAX'), as parse_endpoint reads the others
        if text.lower() in PK_ENDPOINTS:
            pk.append(text.lower())
        elif head.strip() == "tmax":       # 'tmax@24h' too: it was told to drop '@24h', then refused as tmax
            raise InputError(f"{field}: tmax is not compared as a ratio (not log-normal); use cmax, auc_0_t, "
                             "auc_0_inf or t_half")
        elif at and head.strip() in PK_ENDPOINTS:
            # 'cmax@24h' said "unknown measure 'cmax'; ...; PK: cmax, ..." (the list named it); shown as typed
            # ('CMAX@24H' was told to write 'cmax' without '@24h')
            typed_head, _, typed_when = text.partition("@")
            raise InputError(f"{field}: {typed_head.strip()} is a PK measure of the whole sampled profile, not a value "
                             f"at a time; write '{typed_head.strip()}' without '@{typed_when.strip()}' (the PK sampling "
                             "schedule is the scenario's endpoints.pk_sampling)")
        else:
            try:
                pd_.append(parse_endpoint(text))
            except InputError as err:
                msg = str(err).split(": ", 1)[-1]         # parse_endpoint names --endpoint or endpoint
                if "unknown measure" in msg:
                    msg = msg.rstrip(")") + f"; PK: {', '.join(PK_ENDPOINTS)})"
                raise InputError(f"{field}: {msg}") from None
    # a repeat ('cmax,cmax', 'response_rate@24h,response_rate@1d') is the same column: once (it printed twice)
    return list(dict.fromkeys(pk)), list({e.label: e for e in pd_}.values())


def run_covariates(scenario, *, contrasts=None, endpoints=None, analytes=None, arm: str | None = None,
                   n: int | None = None, seed: int | None = None, typical: bool = False,
                   params: ParameterSet | None = None, experiment=None, uncertainty: int = 0,
                   progress=None, anesthetic_check: bool = True) -> CovariateResult:
    """Covariate effects in one arm of ``scenario`` (default the first): each contrast (text as
    :func:`parse_contrast` reads it; default :data:`DEFAULT_CONTRASTS`) on each endpoint (PK measures of
    :data:`PK_ENDPOINTS` per analyte, session peaks, score measures at a time; default :data:`DEFAULT_ENDPOINTS`),
    for ``n`` virtual patients of the scenario's population (default :data:`DEFAULT_SIZE`) or its typical patient
    (``typical``, or a scenario with ``patient:``). ``uncertainty``: the number of draws of the calibrated
    parameters' posterior under which every row is recomputed on the same patients (its 5th-95th percentiles are
    ``param90_low`` / ``param90_high``; 0: none, NaN). ``progress``: called with the fraction done after each
    level's run (the command line's progress line under ``--uncertainty``). ``anesthetic_check``: the arm's doses
    adding up to the anesthetic range (none alone in it) warn once (``DoseWarning``; ``engine.cumulative_anesthetic_arms``
    on the arm's typical patient at the scenario's own levels), as ``simulate`` and ``run_trial`` warn; False leaves it
    out (a caller that checks itself)."""
    from . import limits
    from .nca import (COLUMNS, PK_MAX_PATIENTS, PKSampling, analyte_name, arm_pk, geometric_mean_ratio,
                      geometric_summary, measured_analytes)
    from .population import arm_spec, sample_patients, typical_patient
    from .scale import arm_stream
    from .sensitivity import patient_endpoint_values

    limits.check_scenario_arg(scenario)         # a path: "'str' object has no attribute 'arms'"
    # one text as the command line takes it ('sex=female,age=70', 'cmax'): it was read letter by letter ("got 's'")
    contrasts, endpoints, analytes = (x.split(",") if isinstance(x, str) else x
                                      for x in (contrasts, endpoints, analytes))
    for x, name, example in ((contrasts, "contrasts", "['age=70:45']"), (endpoints, "endpoints", "['cmax']"),
                             (analytes, "analytes", "['s-ketamine']")):
        # contrasts=5 / endpoints=5 stopped with TypeError: 'int' object is not iterable
        if x is not None and not isinstance(x, (list, tuple)):
            raise InputError(f"{name}: expected a list of text, e.g. {example}, got {type(x).__name__} "
                             f"{str(x)[:40]!r}")
    if params is not None and not isinstance(params, ParameterSet):    # AttributeError: 'str' ... 'get'
        raise InputError(f"params: expected a ParameterSet (ketasim.load_parameters()), got {type(params).__name__}")
    params = params or load_parameters()
    names_arm = [a.name for a in scenario.arms]
    if arm is not None and arm not in names_arm:
        raise InputError(f"{argument('arm', '--arm')}: no arm named {arm!r}; arms: {', '.join(names_arm)}")
    k = names_arm.index(arm) if arm else 0
    the_arm = scenario.arms[k]
    if getattr(the_arm, "titration", None) is not None:
        from .scenario import fixed_dose_arms_hint

        raise InputError(f"arms.{the_arm.name}.titration: covariate effects compare fixed doses; an arm whose "
                         "patients get different doses has no per-level exposure to compare"
                         + fixed_dose_arms_hint(scenario, arm is not None))
    stated = getattr(scenario, "patient", None) is not None
    # as simulate() words them ('--size: the typical patient is one patient (got 100)' named neither patient: nor
    # --typical, nor what to write for many patients)
    limits.check_stated_patient(scenario, n, argument("n", "--size"))
    typical = limits.check_bool(typical, "typical")
    anesthetic_check = limits.check_bool(anesthetic_check, "anesthetic_check")
    limits.check_typical_size(typical, n, argument("n", "--size"), flag=argument("typical=True", "--typical"))
    typical = typical or stated
    n = 1 if typical else limits.check_size(DEFAULT_SIZE if n is None else n, argument("n", "--size"))
    seed = scenario.seed if seed is None else limits.check_seed(seed, argument("seed", "--seed"))
    spec = arm_spec(scenario.population, the_arm)
    if contrasts is None:       # the default panel leaves out a comedication the arm or population already takes
        from .population import parse_comedication

        taken = {parse_comedication(c, "comedications")[0]
                 for c in (*spec.comedications, *(getattr(the_arm, "comedications", None) or ()))}
        texts = tuple(t for t in DEFAULT_CONTRASTS if t.partition("=")[2] not in taken or
                      not t.startswith("comedication="))
        swept = (False,) * len(texts)
    else:
        texts, swept = _inherit_names(contrasts)
    if not texts:
        raise InputError(f"{argument('covariates', '--covariate')}: give at least one contrast, e.g. 'age=70:45'")
    cs = []
    for t, in_sweep in zip(texts, swept):
        c = parse_contrast(t, spec, params, arm=the_arm, typical=typical, allow_equal=in_sweep)
        if c is not None:           # a sweep's level at the reference itself (weight=50,80,110 around 80): left out
            cs.append(c)
    if not cs:
        raise InputError(f"{argument('covariates', '--covariate')}: every level is the reference itself: nothing "
                         "to compare")
    if len({c.label for c in cs}) < len(cs):
        twice = next(c.label for c in cs if sum(d.label == c.label for d in cs) > 1)
        raise InputError(f"{argument('covariates', '--covariate')}: {twice!r} is given twice")
    pk_eps, pd_eps = _split_endpoints(DEFAULT_ENDPOINTS if endpoints is None else endpoints)
    if not pk_eps and not pd_eps:
        raise InputError(f"{argument('endpoints', '--endpoint')}: give at least one, e.g. cmax or response_rate@24h")
    produced = measured_analytes(the_arm)
    if analytes is None:
        ans = [a for a in DEFAULT_ANALYTES if a in produced]
    else:
        # once each: 's-ketamine,S-Ketamine' wrote every PK row twice per patient (and NumPy's precision warnings);
        # the names a scenario's endpoints.analytes accepts ('esketamine', 's_ketamine'; s50 H3: they were refused
        # here)
        ans = list(dict.fromkeys(analyte_name(a, argument('analytes', '--analyte')) for a in analytes))
        for a in ans:
            if a not in produced:
                raise InputError(f"{argument('analytes', '--analyte')}: arm {the_arm.name} produces no {a} (it "
                                 f"gives: {', '.join(produced) or 'no drug with PK'})")
    if pk_eps and not ans:
        if not pd_eps:          # 'no covariate effects computed', exit status 0 and empty files
            raise InputError(f"{argument('endpoints', '--endpoint')}: {', '.join(pk_eps)}: arm {the_arm.name} gives "
                             "no drug with PK (no exposure to compare); give a side effect or a score measure, e.g. "
                             "cadss_peak or response_rate@24h")
        pk_eps = []             # a placebo arm: no exposure to compare (the PD endpoints still run)
    # bounded work: every level runs the arm once for PK and once for the other endpoints
    levels = {(c.covariate, c.test) for c in cs} | {(c.covariate, c.reference) for c in cs}
    horizon = [0.0, *[e.time_h for e in pd_eps if e.time_h is not None]]
    one = limits.estimate_scenario_run(scenario, n, horizon, tables=False, arms=[the_arm])
    u_field = argument("uncertainty", "--uncertainty")
    uncertainty = limits.check_int(uncertainty, u_field, lo=0, hi=limits.MAX_UNCERTAINTY)
    if uncertainty:             # the trial's and qualify's rule: 2 to MAX_UNCERTAINTY draws (0: none)
        # (0: no parameter percentiles; covariates has no prediction intervals, which the trial's default said)
        uncertainty = limits.check_uncertainty_draws(uncertainty, u_field, none="no parameter percentiles")
    runs = 2 * len(levels) * (1 + uncertainty)
    limits.check_repeated(one, runs, argument("n", "--size"), what=f"{runs} runs of {n:,} patients",
                          fewer="fewer patients or contrasts", per_run=f"{n:,} patients per run")
    base = typical_patient(spec, params) if typical else sample_patients(spec, params, arm_stream(seed, k), n)
    ep = getattr(scenario, "endpoints", None)
    sampling = (ep.pk if ep is not None and ep.pk is not None else None) or PKSampling()
    sampling = dataclasses.replace(sampling, analytes=tuple(ans)) if ans else sampling
    exp = experiment or scenario.experiment

    if progress is not None and not callable(progress):
        raise InputError(f"progress: expected a function of the completed fraction, got {type(progress).__name__}")
    done, total = [0], len(levels) * (1 + uncertainty)      # level runs, for ``progress``

    def rows_at(pset):
        """Every row under the parameter set ``pset`` (the same patients)."""
        cache: dict = {}

        def values(covariate, value):
            key = (covariate, value)
            if key not in cache:
                s, p = at_level(spec, base, covariate, value, pset)
                pk = arm_pk(the_arm, s, pset, sampling, patients=p, experiment=exp) if pk_eps else None
                # patient_endpoint_values runs them in chunks of sensitivity.ENDPOINT_CHUNK, as a trial runs (one
                # kernel call of 2,000,000 patients kept Ctrl-C and SIGTERM waiting for over a minute); covariates'
                # own loop of the same size is gone (its chunks' decision draws started at 0 each: unused here, as a
                # titrated arm is refused, but not the shared rule)
                eff = (patient_endpoint_values(pset, scenario, pd_eps, arm_index=k, population=s, patients=p,
                                               experiment=exp) if pd_eps else {})
                cache[key] = (pk, eff)
                done[0] += 1
                if progress is not None:
                    progress(min(1.0, done[0] / total))
            return cache[key]

        rows = []
        for c in cs:
            pk_t, eff_t = values(c.covariate, c.test)
            pk_r, eff_r = values(c.covariate, c.reference)
            common = {"contrast": c.label, "covariate": c.covariate, "test": _level_text(c.test),
                      "reference": "none" if c.reference is None else _level_text(c.reference)}
            for m in pk_eps:
                for a in ans:
                    x = pk_t[pk_t["analyte"] == a].sort_values("subject")[COLUMNS[m]].to_numpy(float)
                    y = pk_r[pk_r["analyte"] == a].sort_values("subject")[COLUMNS[m]].to_numpy(float)
                    # one set of patients for the ratio and both levels' means (a t1/2 without a terminal phase is
                    # NaN at one level only): the ratio is then GM(test) / GM(reference) exactly
                    both = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
                    x, y = x[both], y[both]
                    if n == 1:
                        v = x[0] / y[0] if y.size and y[0] > 0 else float("nan")
                        ci, k_ok = [float("nan")] * 2, int(np.isfinite(v))
                    else:
                        v, ci, _, k_ok = geometric_mean_ratio(x, y, paired=True, level=LEVEL)
                    rows.append({**common, "endpoint": m, "analyte": a, "unit": "ratio",
                                 "statistic": "geometric mean ratio", "value": float(v), "ci90_low": float(ci[0]),
                                 "ci90_high": float(ci[1]), "test_value": geometric_summary(x)["value"],
                                 "reference_value": geometric_summary(y)["value"], "n": int(k_ok)})
            for e in pd_eps:
                x, y = eff_t[e.label], eff_r[e.label]
                v, lo, hi = _paired_difference(x, y)
                ok = np.isfinite(x) & np.isfinite(y)
                rows.append({**common, "endpoint": e.label, "analyte": "", "unit": _pd_unit(e, spec),
                             "statistic": "mean difference", "value": v, "ci90_low": lo, "ci90_high": hi,
                             "test_value": float(np.mean(x[ok])) if ok.any() else float("nan"),
                             "reference_value": float(np.mean(y[ok])) if ok.any() else float("nan"),
                             "n": int(ok.sum())})
        return rows

    rows = rows_at(params)
    if anesthetic_check:        # once, after the central run (as simulate and run_trial warn after theirs)
        from .engine import warn_cumulative_anesthetic

        warn_cumulative_anesthetic(scenario, params, experiment=exp, arms=[the_arm.name])
    for r in rows:
        r["param90_low"] = r["param90_high"] = float("nan")
    if uncertainty:
        from .calibration import sample_parameter_sets

        # the calibrated parameters' posterior (stored draws, else Laplace accepted by the literature directions):
        # each row's value under every draw, on the same patients; the 5th-95th percentiles
        psets = sample_parameter_sets(params, uncertainty, np.random.SeedSequence((seed, 1)))
        by_draw = np.array([[r["value"] for r in rows_at(p)] for p in psets])
        lo, hi = np.nanpercentile(by_draw, [5, 95], axis=0)
        for r, a, b in zip(rows, lo, hi):
            r["param90_low"], r["param90_high"] = float(a), float(b)
    prov = _provenance(scenario, params, the_arm, n, seed, typical, ans, pk_eps, pd_eps, sampling, exp, spec.scale)
    prov["uncertainty"] = int(uncertainty)
    # arm_pk computes the NCA of at most PK_MAX_PATIENTS: '--size 120000' said 'the same 120,000 virtual patients'
    # beside PK rows of 100,000
    prov["pk_patients"] = min(n, PK_MAX_PATIENTS) if pk_eps else 0
    from .sensitivity import EndpointSpec, design_note

    # as sensitivity: the arm runs as a parallel arm of all its patients; say what of the trial design is not applied
    notes = dict.fromkeys(design_note(scenario, e) for e in (pd_eps or [EndpointSpec("mean", None)]))
    prov["design_note"] = "; ".join(x for x in notes if x)
    if uncertainty:
        from .calibration import posterior_draws_source

        prov["posterior_draws"] = posterior_draws_source(params, uncertainty)
    return CovariateResult(rows, prov)


def _pd_unit(e, spec) -> str:
    """The unit of a difference of ``e`` (as the trial table names it: 'mmHg', 'percentage points', 'MADRS points')."""
    from .trial import measure_unit

    return measure_unit(e.measure + "_difference", spec.scale)


def _provenance(scenario, params, arm, n, seed, typical, analytes, pk_eps, pd_eps, sampling, experiment,
                scale=None) -> dict:
    from .model import model_id
    from .nca import UNITS
    from .result import ketasim_version, scenario_definition
    from .trial import measure_unit
    from .vocabulary import NOTICE

    return {"analysis": "covariate effects (the same virtual patients at a test and a reference level)",
            "scenario": scenario.name, "arm": arm.name, "n": int(n), "typical": bool(typical), "seed": int(seed),
            "ketasim_version": ketasim_version(), "parameter_set": params.version,
            "calibration_run": params.calibration_run, "model": model_id(),
            "definition": scenario_definition(getattr(scenario, "source", None)),
            "experiment": experiment.changed() if experiment is not None else {},
            "analytes": list(analytes), "endpoints": [*pk_eps, *[e.label for e in pd_eps]],
            # the unit of test_value and reference_value (a PK row's 'unit' is the ratio's; its levels were unitless)
            "level_units": {**{m: UNITS[m] for m in pk_eps},
                            **{e.label: measure_unit(e.measure, scale) for e in pd_eps}},
            "pk_sampling": {"times_h": _sampled_times(arm, sampling), "sample": sampling.sample, "dose": sampling.dose},
            "interval": f"{LEVEL:.0%} t interval of the paired patients (PK: on log ratios)",
            "no_effect_bounds": list(NO_EFFECT_BOUNDS), "notice": NOTICE}


def _sampled_times(arm, sampling) -> list:
    """The PK sampling times (h after the analysed dose) the NCA used: the schedule with the infusion's end."""
    from .nca import dose_window

    win = dose_window(arm, sampling.dose)
    return [float(t) for t in sampling.times_for(win[0].duration_h if win is not None else 0.0)]


def forest_figure(result: CovariateResult, analyte: str | None = None):
    """A matplotlib figure: one panel per endpoint, one row per contrast; ratios on a log axis with the no-effect
    band, differences around 0. ``analyte``: the PK panels' analyte (default the first)."""
    # a Figure of its own with an Agg canvas, not pyplot's: matplotlib.use("Agg") here switched a notebook's backend
    # (as plot_cascade and tornado_figure did), and pyplot kept every figure open
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    df = result.table()
    an = analyte or (result.provenance["analytes"][0] if result.provenance["analytes"] else None)
    eps = [e for e in result.provenance["endpoints"] if e not in PK_ENDPOINTS or an]
    contrasts = list(dict.fromkeys(df["contrast"]))
    fig = Figure(figsize=(2.6 * max(1, len(eps)) + 2.2, 0.42 * len(contrasts) + 1.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, max(1, len(eps)), sharey=True, squeeze=False)
    y = np.arange(len(contrasts))[::-1]
    for ax, e in zip(axes[0], eps):
        g = df[(df["endpoint"] == e) & (df["analyte"] == (an if e in PK_ENDPOINTS else ""))].set_index("contrast")
        g = g.reindex(contrasts)
        low, high = interval_keys(bool(result.provenance.get("uncertainty")))     # as the printed table
        v, lo, hi = g["value"].to_numpy(float), g[low].to_numpy(float), g[high].to_numpy(float)
        has_ci = np.isfinite(lo) & np.isfinite(hi)
        if e in PK_ENDPOINTS:
            ax.axvspan(*NO_EFFECT_BOUNDS, color="#e5e7eb", zorder=0)
            ax.axvline(1.0, color="#6b7280", lw=0.8)
            ax.set_xscale("log")
            ends = np.concatenate([v[np.isfinite(v)], lo[has_ci], hi[has_ci], NO_EFFECT_BOUNDS])
            ax.set_xlim(ends.min() / 1.08, ends.max() * 1.08)
            ticks = [t for t in (0.25, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
                     if ends.min() / 1.08 <= t <= ends.max() * 1.08]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FixedFormatter([f"{t:g}" for t in ticks]))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("ratio (log scale)")
        else:
            ax.axvline(0.0, color="#6b7280", lw=0.8)
            ax.set_xlabel(g["unit"].dropna().iloc[0] if g["unit"].notna().any() else "difference")
        # the interval drawn from its own ends, not as error bars around the value: the calibrated set's value can lie
        # outside its posterior draws' 5th-95th percentiles (a steep effect, few draws), and negative bars stopped
        # the figure with a traceback
        ax.hlines(y[has_ci], lo[has_ci], hi[has_ci], color="#1d4ed8", lw=1.2)
        ax.plot(np.concatenate([lo[has_ci], hi[has_ci]]), np.concatenate([y[has_ci], y[has_ci]]), "|",
                color="#1d4ed8", ms=6)
        ax.plot(v, y, "o", color="#1d4ed8", ms=4)
        ax.set_title(column_title(e, an or ""), fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0][0].set_yticks(y, contrasts, fontsize=8)
    p = result.provenance
    who = "the typical patient" if p["typical"] else f"the same {p['n']:,} virtual patients at each level"
    fig.suptitle(f"{p['scenario']} ({p['arm']}): covariate effects, {who}", fontsize=10)
    from .io import figure_provenance_line

    fig.text(0.01, 0.005, f"{p['notice']}  {figure_provenance_line(p)}", fontsize=6, color="#6b7280")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def write_forest(result: CovariateResult, path, analyte: str | None = None):
    """The forest figure to ``path`` (PNG, SVG or PDF by its suffix; atomic)."""
    from .io import atomic_path, figure_format, save_figure

    fmt = figure_format(path, argument("path", "--plot"))     # from Python: path (said --plot)
    fig = forest_figure(result, analyte)      # a Figure without pyplot: nothing to close
    with atomic_path(path) as tmp:      # a PNG carries the run's provenance in its metadata, as every figure
        save_figure(fig, tmp, fmt, 130, result.provenance)
    return path


__all__ = ["Contrast", "CovariateResult", "parse_contrast", "run_covariates", "forest_figure", "write_forest",
           "DEFAULT_CONTRASTS", "DEFAULT_ENDPOINTS", "NO_EFFECT_BOUNDS"]
