"""Global (SALib Morris / Sobol) and local (elasticity) sensitivity of a trial endpoint to model parameters.

Which parameters and how far they may move comes from the model's own data: literature parameters vary by
their ``confidence`` in ``parameters.csv`` (:data:`CONFIDENCE_RANGES`), free parameters within the plausible
bounds of the calibration (``calibration.FITTED``, sampled in their log/logit space). The endpoint is the
expected value over a fixed virtual population (common random numbers: the same patients for every sample),
with response and remission computed analytically from the rater-noise model as in the calibration, so the
output is a smooth, deterministic function of the parameters. Samples are independent, so they can run on
Dask (``executor``). Indices keep SALib's names: ``mu_star``, ``mu_star_conf``, ``sigma`` (Morris);
``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (Sobol).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import re

import numpy as np

from .errors import InputError, argument
from .parameters import ParameterSet, load_parameters
from .units import is_fraction

#: confidence (start of the column's text) -> ("factor", k): log-uniform on [v/k, v k]; ("relative", r):
#: uniform on [v (1-r), v (1+r)]; None: not varied (numerical choices).
CONFIDENCE_RANGES = (
    ("as stated (numerical choice)", None),
    ("as stated", ("relative", 0.10)),
    ("derived", ("relative", 0.25)),
    ("uncertain", ("factor", 2.0)),
    ("from memory", ("factor", 2.0)),
)
#: Parameters varied when none are named: the mechanism (pd.*) and the calibrated free parameters.
DEFAULT_PATTERNS = ("pd.*", "@free")
SCORE_MEASURES = ("mean", "mean_change", "response_rate", "remission_rate")
SESSION_MEASURES = {"cadss_peak": "cadss_peak", "sbp_change_peak": "sbp_change_peak",
                    "dbp_change_peak": "dbp_change_peak", "hr_change_peak": "hr_change_peak",
                    "sedation_peak": "sedation_peak"}


@dataclasses.dataclass(frozen=True)
class Factor:
    """One varied parameter: ``kind`` literature|free; sampled uniformly in ``space`` (linear|log|logit)
    between ``lo`` and ``hi`` (natural units, the parameter set's unit)."""

    name: str
    kind: str
    value: float
    lo: float
    hi: float
    space: str
    unit: str
    confidence: str

    def to_space(self, x):
        x = np.asarray(x, float)
        if self.space == "log":
            return np.log(x)
        if self.space == "logit":
            return np.log(x / (1 - x))
        return x

    def from_space(self, y):
        y = np.asarray(y, float)
        if self.space == "log":
            return np.exp(y)
        if self.space == "logit":
            return 1.0 / (1.0 + np.exp(-y))
        return y


def _literature_range(p):
    for prefix, rule in CONFIDENCE_RANGES:
        if p.confidence.startswith(prefix):
            break
    else:
        rule = ("relative", 0.25)
    if rule is None or p.value == 0:
        return None
    v = p.value
    if rule[0] == "factor":
        # log-uniform; a negative value (pd.natural_course.worst) takes the same factor on its magnitude, uniform,
        # since its log is NaN: NaN bounds made every evaluation NaN (a silent '-' row for every parameter)
        lo, hi, space = v / rule[1], v * rule[1], "log" if v > 0 else "linear"
    else:
        lo, hi, space = v * (1 - rule[1]), v * (1 + rule[1]), "linear"
    lo, hi = min(lo, hi), max(lo, hi)
    if is_fraction(p.unit) and 0 < v < 1:
        # a fraction (unit 'fraction' in parameters.csv) stays below 1; other dimensionless values below 1 (a log-SD,
        # a gain, a genotype factor) were capped too, so pd.crp.moderation 0.6 (x/÷ 2) was sampled only up to 0.8
        hi = min(hi, 0.5 * (1 + v))
    return lo, hi, space


def _is_file(text: str) -> bool:
    """Whether ``text`` names an existing file (a parameter set saved as 'cal', without an extension)."""
    from pathlib import Path

    try:
        return Path(text).is_file()
    except (OSError, ValueError):        # a name too long for the file system
        return False


#: the parent's volumes that pk.ketamine.vss must exceed (the deep volume is what Vss leaves: pk.parent_disposition)
_VSS_PARTS = ("pk.ketamine.v1", "pk.ketamine.v_venous", "pk.ketamine.v2", "pk.ketamine.v3")


def _keep_deep_volume(fs: list[Factor], params: ParameterSet) -> list[Factor]:
    """``fs`` with pk.ketamine.vss's lower bound raised so that the deep volume (Vss less v1, v_venous, v2 and v3,
    each at its highest sampled value) stays at least a tenth of its own: Vss's +-25 % went below the other volumes
    and the run failed in the solver ('Eigenvalues did not converge', `--parameters 'pk.*'`)."""
    k = next((i for i, f in enumerate(fs) if f.name == "pk.ketamine.vss"), None)
    if k is None:
        return fs
    f = fs[k]
    highest = {g.name: g.hi for g in fs if g.name in _VSS_PARTS}
    parts = sum(highest.get(n, params.get(n, "L")) for n in _VSS_PARTS)
    deep = f.value - sum(params.get(n, "L") for n in _VSS_PARTS)
    lo = parts + 0.1 * max(deep, 0.0)
    if lo <= f.lo:
        return fs
    lo = min(lo, f.value)       # (not reached with the stored set: there the others' highs leave room below it)
    return [*fs[:k], dataclasses.replace(f, lo=lo, confidence=f"{f.confidence}; lower bound raised to {lo:.4g} L "
                                                          "(the deep volume, Vss less v1, v_venous, v2 and v3 at "
                                                          "their highest, stays positive)"), *fs[k + 1:]]


def parameter_matches(name: str, patterns, free_names) -> bool:
    """Whether a parameter name is selected by ``patterns``: fnmatch patterns in any letter case ('pd.nmda.*',
    'PD.NMDA.*': the names are lower-case; a name without a wildcard is that name) and ``@free`` = every calibrated
    parameter (``free_names``). One rule for ``sensitivity --parameters`` and ``ketasim params`` with patterns."""
    return any((q.lower() == "@free" and name in free_names)
               or (q.lower() != "@free" and fnmatch.fnmatchcase(name.lower(), q.lower())) for q in patterns)


#: how :func:`not_varied` says a numerical choice (confidence "as stated (numerical choice)") is not varied
NUMERICAL_CHOICE = "a numerical choice (not a model assumption)"


def _pattern_list(patterns) -> list[str]:
    """``patterns`` as a list: a comma-separated string ('pd.*,@free') as run_sensitivity reads it, else each item
    (a string was iterated letter by letter, and its '*' matched every parameter)."""
    if isinstance(patterns, str):
        return [q.strip() for q in patterns.split(",") if q.strip()]
    return list(patterns)


def _is_numerical_choice(p) -> bool:
    return p.confidence.startswith(CONFIDENCE_RANGES[0][0])


def not_varied(params: ParameterSet, patterns=DEFAULT_PATTERNS) -> list[tuple[str, str]]:
    """The literature parameters matching ``patterns`` (a list, or a comma-separated string) that have no range to
    vary: (name, why), why :data:`NUMERICAL_CHOICE` for a numerical choice (by its confidence, whatever its value: no
    parameter set can make it vary) or '0 (as stated)' (a relative range around 0 has no width: pd.crp.moderation,
    off by default; a parameter set giving it a value varies it). :func:`factors` leaves them out; `sensitivity`
    names them (they were dropped in silence, and alone said "no parameter matches")."""
    out = []
    pats = [q for q in _pattern_list(patterns) if q != "@free"]
    for p in params.literature.values():
        if parameter_matches(p.name, pats, ()) and _literature_range(p) is None:
            out.append((p.name, NUMERICAL_CHOICE if _is_numerical_choice(p) else f"{p.value:g} ({p.confidence})"))
    return out


def _named(name: str, patterns) -> bool:
    """Whether ``name`` is named in ``patterns`` itself (not only matched by a wildcard such as the default 'pd.*')."""
    return any(q.lower() == name.lower() for q in _pattern_list(patterns))


def factors(params: ParameterSet, patterns=DEFAULT_PATTERNS) -> list[Factor]:
    """The parameters matching ``patterns`` (fnmatch; ``@free`` = every calibrated parameter) with ranges (those
    without one: :func:`not_varied`)."""
    from .calibration import FITTED

    out = []
    pats = _pattern_list(patterns)
    for p in params.literature.values():
        if parameter_matches(p.name, [q for q in pats if q != "@free"], ()):
            r = _literature_range(p)
            if r is not None:
                out.append(Factor(p.name, "literature", p.value, *r, p.unit, p.confidence))
    for name, (space, lo, hi, *_prior) in FITTED.items():
        if name in params.free and parameter_matches(name, pats, params.free):
            p = params.free[name]
            out.append(Factor(name, "free", p.value, lo, hi, space, p.unit, "calibrated (bounds of FITTED)"))
    out = _keep_deep_volume(out, params)
    fixed = not_varied(params, pats) if not out else []
    if fixed:
        # 'no parameter matches pd.crp.moderation' for a parameter `ketasim params` lists (0 since the 44th session)
        zero = [(n, why) for n, why in fixed if why != NUMERICAL_CHOICE]
        choice = [n for n, why in fixed if why == NUMERICAL_CHOICE]
        said = []
        if zero:
            what = "; ".join(f"{name} is {why}" for name, why in zero[:5]) + (
                f" (and {len(zero) - 5} more)" if len(zero) > 5 else "")
            said.append(f"{what}: no range to vary; to study {'it' if len(zero) == 1 else 'them'}, give "
                        f"{'it' if len(zero) == 1 else 'each'} a value in a parameter set "
                        f"({argument('params=load_parameters(FILE)', '--parameter-set FILE')})")
        if choice:      # a numerical choice is never varied: a parameter set cannot change that (review s45 S6)
            names = ", ".join(choice[:5]) + (f" (and {len(choice) - 5} more)" if len(choice) > 5 else "")
            said.append(f"{names} {'is' if len(choice) == 1 else 'are'} "
                        f"{NUMERICAL_CHOICE if len(choice) == 1 else 'numerical choices (not model assumptions)'}: "
                        "not varied")
        raise InputError(f"{argument('patterns', '--parameters')}: {'; '.join(said)}")
    if not out:
        files = [q for q in pats if q.lower().endswith((".json", ".yaml", ".yml")) or "/" in q or _is_file(q)]
        # 'trial/plan --parameters FILE' is a parameter set; here it selects names, and a file got only 'no
        # parameter matches out/cal.json'
        hint = (argument("; patterns are parameter names (fnmatch patterns, e.g. 'pd.nmda.*', '@free'), not a "
                         "parameter set file: give that as params=load_parameters(FILE)",
                         "; here --parameters selects parameter names (fnmatch patterns, e.g. 'pd.nmda.*,@free'), "
                         "not a parameter set file as in `ketasim trial --parameters`: give that as --parameter-set "
                         "FILE")
                if files else "")
        raise InputError(f"{argument('patterns', '--parameters')}: no parameter matches {', '.join(pats)} (see "
                         f"'ketasim params'){hint}")
    return out


# ---- endpoint --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class EndpointSpec:
    measure: str
    time_h: float | None

    @property
    def label(self) -> str:
        """'response_rate@24h', 'mean_change@7d', 'cadss_peak': the time as every output writes it
        (:func:`ketasim.units.fmt_hours`, without its space, as ``--endpoint`` is written; '@99d' printed '@2376h')
        when that reads back as the same time, else in hours ('mean_change@50h', not '@2.083d' = 49.992 h): a label
        copied into the next run's ``--endpoint`` asks for the same time."""
        from .units import fmt_hours, parse_time_h

        if self.time_h is None:
            return self.measure
        h = self.time_h
        for text in (fmt_hours(h).replace(" ", ""), f"{h:g}h", f"{h!r}h"):
            if abs(parse_time_h(text, "--endpoint") - h) <= 1e-9:
                break                             # the last (shortest round-trip repr) always reads back
        return f"{self.measure}@{text}"


def parse_endpoint(text: str) -> EndpointSpec:
    """'response_rate@24h', 'mean_change@7 d', 'cadss_peak' -> EndpointSpec; else one line naming ``endpoint``
    (``--endpoint`` on the command line)."""
    from .units import parse_time_h

    field = argument("endpoint", "--endpoint")
    # the measure in any case ('CADSS_PEAK', 'Mean_Change@24h' were refused), as the other choice options; messages
    # show it as typed. The time is read as every time is ('24H' is refused as in a scenario's times, --every, --at;
    # lower-cased, '1 Ms' (megaseconds) read as 1 ms)
    head, _, t = str(text).partition("@")
    typed = head.strip()
    m = typed.lower()
    if m in SCORE_MEASURES:
        if not t.strip():
            raise InputError(f"{field}: {m} needs a time, e.g. '{m}@24h'")
        t = re.sub(r"^([0-9.]+)\s*([a-z]+)$", r"\1 \2", t.strip())
        h = parse_time_h(t, field)
        if h < 0:        # it stopped later naming the wrong field ('output: times must be ... >= 0')
            raise InputError(f"{field}: the time must be >= 0 (the scenario starts at 0 h), got {t!r}")
        return EndpointSpec(m, h + 0.0)     # '-0 h' is 0 h ('mean_change@-0min' was its label)
    if m in SESSION_MEASURES:
        if t.strip():       # 'cadss_peak@24h' ran the analysis of the peak over all sessions, the time dropped
            raise InputError(f"{field}: {m} is the highest value over all sessions, not a value at a time; write "
                             f"'{m}' without '@{t.strip()}'")
        return EndpointSpec(m, None)
    raise InputError(f"{field}: unknown measure {typed!r}; use one of {', '.join([*SCORE_MEASURES, *SESSION_MEASURES])}"
                     " (score measures with @time, e.g. response_rate@24h)")


@dataclasses.dataclass(frozen=True)
class EvalTask:
    """One evaluation (picklable, for Dask): the endpoint for parameter values ``values`` (natural units)."""

    scenario: object
    params: ParameterSet
    names: tuple
    kinds: tuple
    values: tuple
    endpoint: EndpointSpec
    arm_index: int
    n: int
    seed: int
    experiment: object = None


def _with_values(params: ParameterSet, names, kinds, values) -> ParameterSet:
    lit = {n: v for n, k, v in zip(names, kinds, values) if k == "literature"}
    free = {n: v for n, k, v in zip(names, kinds, values) if k == "free"}
    p = params.with_literature(lit) if lit else params
    return p.with_free(free, p.free_version + "+sensitivity", p.calibration_run) if free else p


def design_note(scenario, endpoint: EndpointSpec) -> str:
    """What of the scenario's trial design the analysis does not apply ('' when nothing): the endpoint is the arm's
    regimen over all its virtual patients, as a parallel arm. A randomized-withdrawal scenario's 'mean@84d' of the
    withdraw arm was every patient's (29 points), not the randomized responders' the trial reports (24.8), silently."""
    design = dict(scenario.design or ())
    kind = design.get("type", "parallel")
    left = []
    if kind == "randomized_withdrawal":
        left.append("the randomized_withdrawal design (only the induction's responders are randomized)")
    if kind == "crossover" and design.get("period_interval") is not None:
        left.append("the crossover's periods in sequence (carry-over)")
    if design.get("predose_bp_limit") is not None:
        left.append("design.predose_bp_limit (patients above it screened out)")
    ep = scenario.endpoints
    if endpoint.measure == "response_rate" and ep is not None and getattr(ep, "screening", None) is not None:
        left.append("endpoints.response_from: screening (response is counted from the baseline rating)")
    if not left:
        return ""
    return ("the endpoint is the arm's regimen over all its virtual patients, as a parallel arm: "
            + "; ".join(left) + " not applied (`ketasim trial` applies it)")


#: patients per kernel call of :func:`patient_endpoint_values` (a trial's and a streamed run's chunk size): one call
#: of 2,000,000 patients held every patient's solution at once and kept Ctrl-C (and SIGTERM) waiting
ENDPOINT_CHUNK = 20_000


def patient_endpoint_values(params: ParameterSet, scenario, endpoints, *, arm_index: int = 0, n: int = 200,
                            seed: int = 1, experiment=None, patients=None, population=None) -> dict:
    """Each patient's expected value of every endpoint of ``endpoints`` (:class:`EndpointSpec`s) in one run of one
    arm: {endpoint label: (n,) array}, NaN for a patient whose solve failed. Score measures: the model score
    (``mean``, points), its change from the baseline rating (``mean_change``, points), the probability (%) that a
    rating responds or remits under the rater's noise and the fluctuation of severity (``response_rate``,
    ``remission_rate``); session measures: the patient's highest session peak. A scenario with ``patient:`` is that
    one patient with typical random effects, as ``simulate`` runs it (``n`` is not used).

    ``patients`` (a :class:`ketasim.population.Patients`): these patients instead of the arm's draw (e.g. the same
    patients with one covariate changed); ``population``: a population spec instead of the scenario's (e.g. with a
    comedication added). The patients are drawn and run in chunks of :data:`ENDPOINT_CHUNK` (each with its own
    patients' draws and decision draws, ``start=``): the values are those of one run, in bounded memory."""
    from .engine import decision_draws, run_arm
    from .population import (SCALES, arm_spec, fluctuation_scale, rating_at_or_below, rating_sd_at, sample_patients,
                             typical_patient)
    from .model import DEFAULT_MODEL

    arm = scenario.arms[arm_index]
    spec = arm_spec(scenario.population if population is None else population, arm)
    stream = np.random.SeedSequence(seed)
    stated = getattr(scenario, "patient", None) is not None
    if patients is None and stated:
        patients = typical_patient(spec, params)
    total = n if patients is None else patients.n
    times = np.unique([0.0, *[e.time_h for e in endpoints if e.time_h is not None]])
    ep = scenario.endpoints
    out = {endpoint.label: np.full(total, np.nan) for endpoint in endpoints}
    for a in range(0, total, ENDPOINT_CHUNK):
        m = min(ENDPOINT_CHUNK, total - a)
        if patients is None:        # patient i of the stream is the same however the draw is cut (start=)
            part = sample_patients(spec, params, stream, m, start=a)
        else:
            part = patients if m == total else patients.take(slice(a, a + m))
        drawn = decision_draws(arm, stream, a, part.n, params, spec.scale_max,
                               fluctuation_scale(spec, params, part.baseline))
        if stated:      # the typical patient's rule decides on the model's rating (engine.simulate's rule)
            drawn["decision_fluctuation"] = None
            if drawn["decision_rating_z"] is not None:
                drawn["decision_rating_z"] = np.zeros_like(drawn["decision_rating_z"])
        run = run_arm(arm, spec, part, times, params=params, experiment=experiment or scenario.experiment,
                      on_failure="flag", **drawn)
        ok = ~run.failed
        for endpoint in endpoints:
            values = out[endpoint.label][a:a + part.n]          # a view: filled in place
            if endpoint.measure in SESSION_MEASURES:
                if run.sessions.shape[1] == 0 or run.session_times_h.size == 0:
                    values[ok] = 0.0
                else:
                    col = DEFAULT_MODEL.summary_slot(SESSION_MEASURES[endpoint.measure])
                    values[ok] = run.sessions[ok, :, col].max(axis=1)
                continue
            t = endpoint.time_h
            j = int(np.searchsorted(times, t))
            score = run.output("severity")[ok, j] * part.baseline[ok]
            base = part.baseline_rating[ok]   # changes and response count from the baseline rating
            if endpoint.measure == "mean":
                values[ok] = score
            elif endpoint.measure == "mean_change":
                values[ok] = score - base
            else:
                # the rater's noise and the fluctuation since entry (per patient with fluctuation_scales_with_severity)
                sigma = rating_sd_at(params, SCALES[spec.scale][0], t,
                                     fluctuation_scale(spec, params, part.baseline[ok]))
                if endpoint.measure == "response_rate":
                    red = ep.response_reduction if ep is not None else 0.5
                    thr = (1 - red) * np.rint(base)
                else:
                    from .population import remission_threshold

                    thr = (ep.remission_threshold if ep is not None and ep.remission_threshold is not None
                           else remission_threshold(spec.scale))
                values[ok] = 100 * rating_at_or_below(thr, score, sigma)
    return out


def endpoint_value(params: ParameterSet, scenario, endpoint: EndpointSpec, *, arm_index: int = 0, n: int = 200,
                   seed: int = 1, experiment=None) -> float:
    """Expected endpoint of one arm over a fixed virtual population (smooth in the parameters): the mean over the
    patients of :func:`patient_endpoint_values` (those whose solve succeeded). A scenario with ``patient:`` is that
    one patient with typical random effects, as ``simulate`` runs it (``n`` is not used): its rates are the
    patient's probability under the rater's noise and the fluctuation of severity."""
    values = patient_endpoint_values(params, scenario, [endpoint], arm_index=arm_index, n=n, seed=seed,
                                     experiment=experiment)[endpoint.label]
    values = values[np.isfinite(values)]
    return float(np.mean(values))


def evaluate(task: EvalTask) -> float:
    p = _with_values(task.params, task.names, task.kinds, task.values)
    return endpoint_value(p, task.scenario, task.endpoint, arm_index=task.arm_index, n=task.n, seed=task.seed,
                          experiment=task.experiment)


# ---- analysis ------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class SensitivityResult:
    endpoint: str
    arm: str
    method: str
    nominal: float
    factors: list
    indices: dict            # SALib's output (name -> array over factors)
    elasticity: np.ndarray   # d ln y / d ln theta at the nominal point (nan when y = 0)
    local_slope: np.ndarray  # d y / d ln theta at the nominal point (endpoint units per e-fold)
    evaluations: int
    meta: dict
    unit: str = ""           # the endpoint's unit ('% of patients', 'MADRS points', 'CADSS points', ...)

    @property
    def main_index(self) -> str:
        return "mu_star" if self.method == "morris" else "ST"

    def ranking(self) -> list[dict]:
        rows = []
        for i, f in enumerate(self.factors):
            r = {"name": f.name, "kind": f.kind, "confidence": f.confidence, "unit": f.unit, "value": f.value,
                 "low": f.lo, "high": f.hi, "sampled_in": f.space}
            for k, v in self.indices.items():
                if k != "names":
                    r[k] = _num(v[i])
            r["elasticity"] = _num(self.elasticity[i])
            r["local_slope_per_log"] = _num(self.local_slope[i])
            rows.append(r)
        key = self.main_index
        rows.sort(key=lambda r: -(r.get(key) if r.get(key) is not None else -1.0))
        return rows

    def to_dict(self) -> dict:
        from .result import NOTICE

        return {**self.meta, "endpoint": self.endpoint, "arm": self.arm, "method": self.method,
                "nominal_value": _num(self.nominal), "unit": self.unit, "evaluations": self.evaluations,
                "index_names": [k for k in self.indices if k != "names"], "parameters": self.ranking(),
                "notice": NOTICE}

    def sobol_noise_note(self) -> str | None:
        """For Sobol: a line when an index is above 1 or S1 above ST (shares of a variance cannot be) by more than
        its ±95% covers: the estimator's sampling noise at too few base samples. The table said 'shares of the
        variance (0-1)' and printed ST 1.06, S1 1.31 without a word. Noise inside the intervals is not flagged: a
        parameter without influence has S1 and ST both scattering around 0 (S1 0.003, ST 0.002, ±0.01), and a note
        on every adequate run would stop being read."""
        if self.method != "sobol":
            return None

        def conf(r, k):
            return r.get(k + "_conf") or 0.0

        bad = [r["name"] for r in self.ranking()
               if any(r.get(k) is not None and r[k] > 1.0 + conf(r, k) for k in ("S1", "ST"))
               or (r.get("S1") is not None and r.get("ST") is not None
                   and r["S1"] - r["ST"] > max(conf(r, "S1"), conf(r, "ST")))]
        if not bad:
            return None
        return (f"an index above 1 or S1 above ST by more than the ±95% ({', '.join(bad[:5])}"
                f"{', ...' if len(bad) > 5 else ''}) is the Sobol estimator's sampling noise, not a share of the "
                f"variance: increase --samples (now {self.meta.get('samples')}) until the ±95% are small")

    def format_table(self, top: int = 20) -> str:
        key = self.main_index
        conf = key + "_conf"
        unit = f" {self.unit}" if self.unit else ""
        lines = [f"sensitivity of {self.endpoint} ({self.arm}) by {self.method}: nominal {self.nominal:.3g}{unit}, "
                 f"{self.evaluations} evaluations"]
        # SALib's elementary effect is the change over a step divided by the step's share of the parameter's range
        # (2/3 at 4 levels): a change per whole range, which can exceed the endpoint's own range (a response rate's
        # mu_star of 124 read as "124 % of patients")
        lines.append(("  mu_star, its ±95% and sigma in the endpoint's unit" + (f" ({self.unit})" if unit else "")
                      + " per the parameter's whole sampled range (so they can exceed the endpoint's own range)"
                      if self.method == "morris" else "  ST, its ±95% and S1: shares of the endpoint's variance (0-1)")
                     + "; elasticity: % change of the endpoint per % change of the parameter")
        second = "sigma" if self.method == "morris" else "S1"
        lines.append(f"  {'parameter':38s} {key:>9s} {'±95%':>8s} {second:>9s} {'elasticity':>10s}")
        ranked = self.ranking()
        for r in ranked[:top]:
            lines.append(f"  {r['name']:38s} {_fi(r.get(key)):>9s} {_fi(r.get(conf)):>8s} {_fi(r.get(second)):>9s} "
                         f"{_fi(r['elasticity']):>10s}")
        if len(ranked) > top:       # the rest were dropped without a word
            lines.append(f"  ... {_shown_note(top, len(ranked))}")
        note = self.sobol_noise_note()
        if note:
            lines.append(f"  note: {note}")
        if self.meta.get("design_note"):
            lines.append(f"  note: {self.meta['design_note']}")
        if self.meta.get("not_varied"):
            lines.append(f"  note: not varied (no range to vary): {', '.join(self.meta['not_varied'])}")
        m = self.meta          # what produced the numbers (the JSON and HTML had it; the printed table did not)
        if m.get("parameter_set"):
            lines.append(f"  scenario {m.get('scenario')}, seed {m.get('seed')}, {m.get('n_patients')} patient(s) per "
                         f"evaluation, parameter set {m['parameter_set']}")
        return "\n".join(lines)


def _shown_note(shown: int, total: int) -> str:
    """What a table or chart of the ``shown`` largest of ``total`` parameters says of the rest (text, HTML, chart:
    the text table, HTML table and tornado left the smaller ones out without a word)."""
    return f"the {shown} largest of {total} parameters (all in --json)"


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _f(x):
    return "-" if x is None else f"{x:.3g}"


def _fi(x):
    """An index or elasticity in a column: three significant digits with trailing zeros kept (0.9996 printed '1'
    among '11.1' and '0.639', as if exact)."""
    return "-" if x is None else f"{x:#.3g}".rstrip(".").replace(".e", "e")


def run_sensitivity(scenario, *, endpoint: str, method: str = "morris", params: ParameterSet | None = None,
                    patterns=DEFAULT_PATTERNS, arm: str | None = None, n_patients: int | None = None,
                    samples: int = 10, seed: int | None = None, experiment=None, executor=None, progress=None,
                    local: bool = True, anesthetic_check: bool = True) -> SensitivityResult:
    """Morris (``samples`` trajectories, 4 levels) or Sobol (``samples`` base samples, power of 2) analysis of
    ``endpoint`` in one arm (default the first), plus local elasticities (2 evaluations per parameter).
    ``n_patients``: virtual patients per evaluation (default 200); a scenario with ``patient:`` is that one patient
    with typical random effects (as ``simulate`` runs it), so ``n_patients`` other than 1 is an InputError.
    ``anesthetic_check``: the arm's doses adding up to the anesthetic range (none alone in it) warn once
    (``DoseWarning``; ``engine.cumulative_anesthetic_arms`` at ``params``, not at each sampled set), as ``simulate``
    and ``run_trial`` warn; False leaves it out."""
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    from . import limits
    from .scale import map_ordered

    # from Python: a file name, samples=2.5 or seed=-1 stopped in SALib or numpy without naming the argument
    limits.check_scenario_arg(scenario)
    if seed is not None:
        seed = limits.check_seed(seed, argument("seed", "--seed"))
    if isinstance(patterns, str):       # 'pd.nmda.*,@free' as the command line takes it (was read letter by letter)
        patterns = tuple(p.strip() for p in patterns.split(",") if p.strip())
    method = limits.check_choice(method, argument("method", "--method"), ("morris", "sobol"))
    anesthetic_check = limits.check_bool(anesthetic_check, "anesthetic_check")
    if params is not None and not isinstance(params, ParameterSet):   # AttributeError: 'str' ... 'literature'
        raise InputError(f"params: expected a ParameterSet (ketasim.load_parameters()), got {type(params).__name__}")
    if not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) for p in patterns):
        # patterns=5 stopped with TypeError: 'int' object is not iterable
        raise InputError(f"patterns: expected parameter patterns as text, e.g. ['pd.nmda.*', '@free'], got "
                         f"{type(patterns).__name__} {str(patterns)[:40]!r}")
    params = params or load_parameters()
    ep = parse_endpoint(endpoint)
    names_arm = [a.name for a in scenario.arms]
    if arm is not None and arm not in names_arm:
        raise InputError(f"{argument('arm', '--arm')}: no arm named {arm!r}; arms: {', '.join(names_arm)}")
    k = names_arm.index(arm) if arm else 0
    fs = factors(params, patterns)
    seed = scenario.seed if seed is None else seed
    field = argument("samples", "--samples")
    if isinstance(samples, bool) or not isinstance(samples, int):
        samples = limits.check_int(samples, field, lo=2, hi=limits.MAX_SENSITIVITY_EVALUATIONS)
    if samples < 2:
        raise InputError(f"{field}: must be >= 2")
    if method == "sobol" and samples & (samples - 1):
        raise InputError(f"{field}: Sobol needs a power of 2 (e.g. 64, 128), got {samples}")

    n_eval = samples * (len(fs) + (1 if method == "morris" else 2)) + 1 + (2 * len(fs) if local else 0)
    if n_eval > limits.MAX_SENSITIVITY_EVALUATIONS:     # checked before sampling: the matrix alone could be GBs
        raise InputError(f"{field}: {samples:,} {'trajectories' if method == 'morris' else 'base samples'} over "
                         f"{len(fs)} parameters are {n_eval:,} model evaluations, more than the "
                         f"{limits.MAX_SENSITIVITY_EVALUATIONS:,} supported; use fewer samples or fewer parameters "
                         f"({argument('patterns', '--parameters')})")
    if getattr(scenario, "patient", None) is not None:
        # 200 patients drawn around the stated one ran silently, and a rate read '% of patients'
        if n_patients not in (None, 1):
            raise InputError(limits.stated_patient_size_error(f"scenario {scenario.name!r}", n_patients,
                                                              argument("n_patients", "--size")))
        n_patients = 1
    # --size had no bound: --size 5000000 started ~1,100 evaluations of 5 million patients without a word
    size = argument("n_patients", "--size")
    n_patients = limits.check_size(200 if n_patients is None else n_patients, size)
    # one evaluation: the arm's run to the endpoint (the scenario-size rule of every command), repeated n_eval times
    one = limits.estimate_scenario_run(scenario, n_patients, [0.0, ep.time_h or 0.0], tables=False,
                                       arms=[scenario.arms[k]])
    limits.check_repeated(one, n_eval, size, what=f"{n_eval:,} evaluations of {n_patients:,} patients",
                          fewer=f"fewer patients ({size}), samples or parameters",
                          per_run=f"{n_patients:,} patients per evaluation")
    problem = {"num_vars": len(fs), "names": [f.name for f in fs],
               "bounds": [[float(f.to_space(f.lo)), float(f.to_space(f.hi))] for f in fs]}
    rng_seed = int(np.random.SeedSequence(seed).generate_state(1)[0] % (2 ** 31))
    if method == "morris":
        X = morris_sample.sample(problem, N=samples, num_levels=4, seed=rng_seed)
    else:
        X = sobol_sample.sample(problem, samples, calc_second_order=False, seed=rng_seed)
    names = tuple(f.name for f in fs)
    kinds = tuple(f.kind for f in fs)
    nominal = tuple(f.value for f in fs)

    def task(values):
        return EvalTask(scenario, params, names, kinds, tuple(float(v) for v in values), ep, k, n_patients, seed,
                        experiment)

    tasks = [task(nominal)]
    tasks += [task([f.from_space(x) for f, x in zip(fs, row)]) for row in X]
    if local:
        for i, f in enumerate(fs):
            for s in (1.01, 1 / 1.01):
                v = list(nominal)
                v[i] = f.value * s
                tasks.append(task(v))
    y = np.array(list(map_ordered(evaluate, tasks, executor, progress)))
    if anesthetic_check:        # once, after the evaluations (as simulate and run_trial warn after their run)
        from .engine import warn_cumulative_anesthetic

        warn_cumulative_anesthetic(scenario, params, experiment=experiment, arms=[names_arm[k]])
    y0, ys = y[0], y[1:1 + len(X)]
    if method == "morris":
        res = morris_analyze.analyze(problem, X, ys, conf_level=0.95, num_resamples=200, seed=rng_seed)
        keep = ("mu", "mu_star", "sigma", "mu_star_conf")
    else:
        res = sobol_analyze.analyze(problem, ys, calc_second_order=False, conf_level=0.95, seed=rng_seed)
        keep = ("S1", "S1_conf", "ST", "ST_conf")
    indices = {kk: np.asarray(res[kk], float) for kk in keep}
    elas = np.full(len(fs), np.nan)
    slope = np.full(len(fs), np.nan)
    if local:
        loc = y[1 + len(X):].reshape(len(fs), 2)
        slope = (loc[:, 0] - loc[:, 1]) / (2 * math.log(1.01))
        if y0 != 0:
            elas = slope / y0
    meta = {"scenario": scenario.name, "parameter_set": params.version, "calibration_run": params.calibration_run,
            # the endpoint's time in hours (null for a session measure): the label writes it as '7d', '40min'
            "endpoint_time_h": ep.time_h,
            "seed": int(seed), "n_patients": int(n_patients), "samples": int(samples),
            "ranges": "literature: confidence column (as stated +-10 %, derived +-25 %, uncertain or from memory "
                      "x/÷2, log-uniform); free: calibration bounds (FITTED) in log/logit space",
            "experiment": dataclasses.asdict(experiment or scenario.experiment),
            # the name trajectory provenance and the trial JSON use: the switches not at their default ({}: intact);
            # "experiment" (every switch) stays for files read by older code
            "experiments": (experiment or scenario.experiment).changed()}
    from .model import model_id
    from .result import ketasim_version, scenario_definition

    meta["ketasim_version"] = ketasim_version()
    # the model and the scenario as read, as a trial JSON and a trajectory file's provenance record them (the
    # sensitivity JSON named neither)
    meta["model"] = model_id()
    meta["definition"] = scenario_definition(getattr(scenario, "source", None))
    note = design_note(scenario, ep)
    if note:
        meta["design_note"] = note
    # matched, but without a range: named (they were left out in silence); a numerical choice only when named itself
    # (the default 'pd.*' listed every one on every run, though none ever had a range: review s45 S6)
    fixed = [(name, why) for name, why in not_varied(params, patterns)
             if why != NUMERICAL_CHOICE or _named(name, patterns)]
    if fixed:
        meta["not_varied"] = [f"{name} = {why}" if why != NUMERICAL_CHOICE else
                              f"{name} (a numerical choice, not a model assumption)" for name, why in fixed]
    from .trial import measure_unit

    unit = measure_unit(ep.measure, scenario.population.scale)
    if getattr(scenario, "patient", None) is not None and unit == "% of patients":
        unit = "% probability for the stated patient"
    return SensitivityResult(ep.label, names_arm[k], method, float(y0), fs, indices, elas, slope, len(tasks), meta,
                             unit=unit)


# ---- figures ---------------------------------------------------------------------------------------------------------
def index_interval(value, half_width) -> tuple:
    """The 95% interval of a Morris mu_star or a Sobol ST/S1 as ``(low, high)`` in the index's unit.

    SALib gives a symmetric half-width (1.96 x the SD of its bootstrap); both indices are non-negative (mu_star is
    a mean of absolute effects, ST and S1 shares of a variance), so the low end is cut at 0: a bar reaching below 0
    claimed values the index cannot take."""
    if value is None:
        return None, None
    half_width = half_width or 0.0
    return max(0.0, value - half_width), value + half_width


def tornado_figure(result: SensitivityResult, top: int = 15):
    """Horizontal bars of the main index (mu_star or ST) with 95% intervals (cut at 0, see
    :func:`index_interval`), largest on top (a matplotlib Figure; the report can embed it with
    :func:`tornado_png_base64`)."""
    from matplotlib.figure import Figure

    key = result.main_index
    drawable = [r for r in result.ranking() if r.get(key) is not None]      # a bar needs an index
    rows = drawable[:top][::-1]
    # a Figure of its own (no matplotlib.use("Agg"), which switched a notebook's backend; savefig needs none)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(8, 0.35 * max(len(rows), 3) + 1.4))
    FigureCanvasAgg(fig)        # its own Agg canvas (draw, get_renderer), whatever the session's backend
    ax = fig.subplots()
    vals = [r[key] for r in rows]
    intervals = [index_interval(r[key], r.get(key + "_conf")) for r in rows]
    # matplotlib wants distances from the bar's end; an estimate below 0 (Sobol noise) gets no lower whisker
    err = [[max(0.0, v - lo) for v, (lo, _) in zip(vals, intervals)],
           [hi - v for v, (_, hi) in zip(vals, intervals)]]
    colors = ["#1f77b4" if r["kind"] == "literature" else "#ff7f0e" for r in rows]
    ax.barh(range(len(rows)), vals, xerr=err, color=colors, capsize=3)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["name"] for r in rows], fontsize=8)
    unit = ((result.unit or "endpoint units") + " per parameter range") if key == "mu_star" else "fraction of variance"
    # two lines: on one the label ran past the figure's right edge and was clipped
    ax.set_xlabel(f"{key} ({unit})\nbars: 95% interval (SALib's bootstrap, cut at 0: {key} cannot be negative)",
                  fontsize=9)
    ax.set_title(f"{result.endpoint} ({result.arm}): {result.method}"
                 + (f", {_shown_note(len(rows), len(drawable))}" if len(drawable) > len(rows) else "")
                 + "\nblue literature (confidence range), orange calibrated (bounds)", fontsize=9)
    from .io import figure_provenance_line

    line = figure_provenance_line(result.meta)
    if line:                    # which run drew it (a tornado chart alone named no parameter set or model)
        fig.text(0.5, 0.005, line, ha="center", fontsize=6, color="0.4")
        fig.tight_layout(rect=(0, 0.04, 1, 1))
    else:
        fig.tight_layout()
    return fig


def tornado_png_base64(result: SensitivityResult, top: int = 15) -> str:
    import base64
    import io

    fig = tornado_figure(result, top)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode()


def write_tornado(result: SensitivityResult, path, top: int = 15):
    from .io import atomic_path, figure_format

    fmt = figure_format(path)
    fig = tornado_figure(result, top)
    from .io import save_figure

    with atomic_path(path) as tmp:      # complete or absent, like every other output
        save_figure(fig, tmp, fmt, 120, getattr(result, "meta", None))
    return path


def _interval_text(value, half_width) -> str:
    lo, hi = index_interval(value, half_width)
    return "-" if lo is None else f"{_f(lo)} - {_f(hi)}"


def _provenance_html(meta: dict) -> str:
    """The run's provenance as the JSON states it (the page said only the parameter set: not the scenario, seed,
    patients, samples, experiment, calibration run or version that made the numbers)."""
    import html

    ex = meta.get("experiments") or {}
    parts = [("scenario", meta.get("scenario")), ("seed", meta.get("seed")),
             ("virtual patients per evaluation", meta.get("n_patients")), ("samples", meta.get("samples")),
             ("experiment", ", ".join(f"{k}={v}" for k, v in ex.items()) if ex else "none (intact)"),
             ("calibration run", meta.get("calibration_run")), ("ketasim", meta.get("ketasim_version")),
             # the model digest, as the JSON, the trial and the qualification reports state it
             ("model", meta.get("model"))]
    return "Provenance: " + "; ".join(f"{k} {html.escape(str(v))}" for k, v in parts if v is not None) + "."


def write_html(result: SensitivityResult, path, top: int = 25):
    """A self-contained HTML page: the tornado chart (embedded PNG) and the ranked table with intervals."""
    import html

    from .io import atomic_write_text
    from .result import NOTICE

    key = result.main_index
    second = "sigma" if result.method == "morris" else "S1"
    rows = "".join(
        f"<tr><td>{html.escape(r['name'])}</td><td>{r['kind']}</td><td>{_fi(r.get(key))}</td>"
        f"<td>{_interval_text(r.get(key), r.get(key + '_conf'))}</td><td>{_fi(r.get(second))}</td>"
        f"<td>{_fi(r['elasticity'])}</td>"
        f"<td>{_f(r['low'])} - {_f(r['high'])} {html.escape(r['unit'])}</td></tr>"
        for r in result.ranking()[:top])
    n_all = len(result.ranking())
    note = _shown_note(top, n_all)
    notes = f"<p>{html.escape(note[:1].upper() + note[1:])}.</p>" if n_all > top else ""
    noise = result.sobol_noise_note()
    notes += f"<p><strong>Note:</strong> {html.escape(noise)}.</p>" if noise else ""
    if result.meta.get("design_note"):
        notes += f"<p><strong>Note:</strong> {html.escape(result.meta['design_note'])}.</p>"
    page = (f"<!doctype html><meta charset='utf-8'><title>Sensitivity: {html.escape(result.endpoint)}</title>"
            f"<h1>Sensitivity of {html.escape(result.endpoint)} ({html.escape(result.arm)}), {result.method}</h1>"
            f"<p>Nominal value {result.nominal:.4g}{' ' + html.escape(result.unit) if result.unit else ''}; "
            f"{result.evaluations} evaluations; parameter set "
            f"{html.escape(str(result.meta.get('parameter_set')))}; ranges: {html.escape(result.meta['ranges'])}.</p>"
            f"<p>{_provenance_html(result.meta)}</p>"
            f"<img alt='tornado chart' src='data:image/png;base64,{tornado_png_base64(result)}'>"
            f"<table border='1' cellpadding='3'><tr><th>parameter</th><th>kind</th><th>{key}</th><th>95% interval (cut at 0)</th>"
            f"<th>{second}</th><th>elasticity</th><th>range</th></tr>{rows}</table>{notes}"
            + (f"<p>{key} and {second}: {html.escape(result.unit or 'endpoint units')} per the parameter's whole "
               "sampled range (SALib's elementary effect: a step's change divided by the step's share of the range), "
               "so they can exceed the endpoint's own range.</p>" if key == "mu_star" else "")
            + f"<p><em>{NOTICE}</em></p>")
    atomic_write_text(path, page)           # complete or absent, like every other output
    return path
