"""Virtual clinical trials: designs, rating noise, endpoints with intervals, between-arm comparisons.

``run_trial(scenario)`` simulates every arm (in chunks, with an optional progress callback), turns model
scores into ratings (integer scores with a rater's noise), and computes the endpoints of the trial
JSON. Designs (``design:`` in the scenario):

* ``{type: parallel}`` (default) — independent virtual patients per arm; Welch t-test / two-proportion tests.
* ``{type: crossover}`` — every patient receives every arm (periods separated by a washout long enough for the
  model to return to baseline); paired comparisons. Each arm is a period (occasion) with its own inter-occasion
  effects on clearance and extravascular bioavailability (``iov.*`` in parameters.csv), so within-patient PK
  ratios vary as in a real crossover; ``{type: crossover, iov: false}`` gives every period identical PK.
  ``{type: crossover, period_interval: 7 d}``: the periods follow each other in one simulation per sequence
  (carry-over of what a period leaves; change from each period's baseline).
* ``{type: randomized_withdrawal, induction_until: 4 week, criterion: response|remission, relapse_score: 22,
  continue: ARM, withdraw: ARM}`` — everyone gets the open-label induction (the doses the two arms share
  before ``induction_until``); responders/remitters are re-randomized 1:1 to the two arms and relapse
  (rating >= ``relapse_score`` at a weekly visit) is followed: relapse rate and Kaplan–Meier time to relapse.
* ``predose_bp_limit: {sbp: 140 mmHg, dbp: 90 mmHg, sbp_over_65: 150 mmHg}`` (any design, off by default) — the
  phase 3 esketamine trials' pre-dose blood-pressure rule: patients above it are not dosed, i.e. screened out
  (their pre-dose pressure is drawn below the limits; ``population.baseline_bp``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from .adverse_events import MEASURES as AE_MEASURES
from .adverse_events import sample_incidence
from .engine import decision_fluctuation_draws, default_horizon_h, run_arm
from .model import DEFAULT_MODEL, model_id
from .errors import InputError, argument
from .limits import MAX_UNCERTAINTY, check_uncertainty_draws  # noqa: F401  (here since s41 in limits: qualify's too)
from .limits import MIN_PER_ROW_DRAWS  # fewest draws without a few-draws note (qualify uses it too)
from .parameters import ParameterSet, load_parameters
from .population import (SCALES, arm_spec, baseline_bp, bp_reading_sd_factor, fluctuation_conditional,  # noqa: F401
                         fluctuation_parameters, fluctuation_scale,
                         fluctuation_paths, entry_fluctuation, occasion_effects, predose_bp_limit, sample_patients,
                         screening_ratings, switch_provenance, SWITCH_PROVENANCE)  # (baseline_bp moved there; importable here)
from .result import NOTICE, ketasim_version, scenario_definition
from .scenario import DEFAULT_INDUCTION_UNTIL, Endpoints, Scenario
from .units import fmt_hours, parse_time_h
from .vocabulary import DEFAULT_MEASURES, PK_MEASURES, RELAPSE_MEASURES, SCORE_MEASURES, SIDE_EFFECT_MEASURES, TRIAL_BAND_VARIABLES  # noqa: F401

BAND_VARIABLES = TRIAL_BAND_VARIABLES
#: The endpoints of a trial whose scenario states none: 2 h, 24 h, 7 d and 28 d (docs/contracts.md)
DEFAULT_ENDPOINTS = Endpoints(times_h=(2.0, 24.0, 168.0, 672.0))
#: Slot of a per-session summary in ``ArmOutcome.sessions`` (last axis), by name.
SUMMARY_SLOT = DEFAULT_MODEL.summary_slot


@dataclasses.dataclass
class ArmOutcome:
    """Per-patient outcomes of one arm (arrays over patients)."""

    name: str
    times_h: np.ndarray
    baseline: np.ndarray          # observed baseline rating
    rating: np.ndarray            # (n, T) observed ratings (integers)
    model_score: np.ndarray       # (n, T) noise-free model score
    sessions: np.ndarray          # (n, S, N_SUM)
    bands: pd.DataFrame
    sbp0: np.ndarray
    dbp0: np.ndarray
    female: np.ndarray
    #: (n, decisions) dose level per patient at each decision session of the arm's titration rule (None: fixed doses)
    dose_levels: np.ndarray | None = None
    titration: object = None      # the arm's ketasim.regimen.Titration, or None
    decision_times_h: tuple = ()  # start times (h) of the decision sessions
    #: rater-noise SD (scale points) of the ratings a titration decides on (``decide_on: rating``; 0 otherwise)
    decision_noise_sd: float = 0.0
    #: each patient's screening rating when response is counted from screening (``endpoints.response_from``)
    screening: np.ndarray | None = None
    #: each patient's age (years; None for an outcome built without it)
    age_years: np.ndarray | None = None
    #: each patient's multipliers of a BP reading's SD, (n, 2) systolic and diastolic
    #: (population.bp_reading_sd_factor); None: everyone the parameters' SDs (population.bp_reading_sd_scales
    #: false)
    reading_sd_factor: np.ndarray | None = None

    def reading_sd(self, sd: float, a: int = 0, b: int | None = None, ndim: int = 2, systolic: bool = True):
        """A systolic (or diastolic) BP reading's SD (mmHg) for patients a:b: ``sd`` itself (a scalar: the default,
        and the same random numbers as before the hypothesis existed) or each patient's, shaped (b - a, 1, ...) to
        broadcast over ``ndim`` axes."""
        if self.reading_sd_factor is None:
            return sd
        f = self.reading_sd_factor[a:b, 0 if systolic else 1]
        return sd * f.reshape(f.shape + (1,) * (ndim - 1))

    @property
    def n(self) -> int:
        return int(self.baseline.size)

    @property
    def response_reference(self) -> np.ndarray:
        """The rating a response's reduction is counted from: the screening rating if the trial counts from
        screening, else the baseline rating."""
        return self.baseline if self.screening is None else self.screening


@dataclasses.dataclass
class TrialResult:
    scenario: Scenario
    params: ParameterSet
    seed: int
    design: str
    endpoints: list           # dict rows
    comparisons: list         # dict rows
    outcomes: dict            # name -> ArmOutcome
    pk: dict = dataclasses.field(default_factory=dict)   # arm -> per-patient NCA table (ketasim.nca), if asked for
    #: prediction intervals for a new trial (``run_trial(..., uncertainty=N)``): draws, taus, parameter set; None
    #: without (the JSON then has no ``uncertainty`` key and no ``pi95``: byte-identical to a run without it)
    uncertainty: dict | None = None
    #: with ``uncertainty``: the draws' variance of each endpoint row's statistic (its unit squared), keyed by
    #: :func:`_row_key`; what ``ketasim.observed`` widens a published trial's interval by. Not in the JSON.
    draw_variance: dict = dataclasses.field(default_factory=dict, repr=False)
    #: with a whole-design ``uncertainty`` (a randomized withdrawal or follow-up): how many draws each
    #: ``draw_variance`` entry rests on (the draws where the row's statistic and its own sampling variance are defined;
    #: :func:`net_draw_variance`). Not in the JSON.
    draw_variance_draws: dict = dataclasses.field(default_factory=dict, repr=False)
    #: with a whole-design ``uncertainty``: how many of those draws were censored (a median not reached, a hazard
    #: ratio of 0 or +inf beyond its profile bound; :func:`_draw_censoring`). Not in the JSON.
    draw_variance_censored: dict = dataclasses.field(default_factory=dict, repr=False)
    #: name and digest of the model definition the arms ran (``run_trial(model=...)``; default the package's model)
    model_id: str = ""
    #: virtual patients simulated per arm (``--size`` / ``n=`` or ``population.size``; a withdrawal's arms then report
    #: the randomized share of them as ``n``), as a trajectory file's provenance records it
    patients_per_arm: int | None = None
    #: per-patient relapse follow-up of a withdrawal's or follow-up's groups: {arm (with its stratum, as the rows name
    #: it): (time in h from randomization or follow_up_from to the confirming visit, else to the last visit; relapsed?)}
    #: as the relapse rows and comparisons count them (what ``ketasim.observed`` bootstraps). Not in the JSON.
    relapse_times: dict = dataclasses.field(default_factory=dict, repr=False)

    def definitions(self) -> str:
        """What a response, a remission and a relapse are in this trial's rows (one line; '' when it reports none):
        the table and the report gave the rates without saying (at least 50 % below baseline? MADRS at most 10?)."""
        from .population import scale_name

        measures = {r["measure"] for r in self.endpoints}
        ep = self.scenario.endpoints or DEFAULT_ENDPOINTS
        scale = self.scenario.population.scale
        name = scale_name(scale)
        parts = []
        if "response_rate" in measures:
            ref = "the screening rating" if ep.screening is not None else "baseline"
            parts.append(f"response: {name} at least {100 * ep.response_reduction:g} % below {ref}")
        thr = _remission_threshold(ep, scale, required=False) if "remission_rate" in measures else None
        if thr is not None:
            parts.append(f"remission: {name} <= {thr:g}")
        if measures & {"relapse_rate", "time_to_relapse"}:
            # the design's relapse rule as the run read it (_withdrawal_setup's, else _follow_up_setup's)
            _, _, withdrawal, follow, _ = _trial_grid(self.scenario, ep)
            rule = withdrawal or follow
            k = rule["confirm"]
            when = "a visit" if k == 1 else f"{k} consecutive visits"
            if rule["relapse"] is not None:
                parts.append(f"relapse: {name} >= {float(rule['relapse']):g} at {when}")
            else:
                parts.append(f"relapse: no longer a response at {when}")
        text = "; ".join(parts)
        return (text[0].upper() + text[1:] + ".") if parts else ""

    def comparison_methods(self) -> str:
        """How the comparisons were tested (one line; '' without any): paired in a crossover, independent groups
        otherwise; PK geometric mean ratios with their test. The output did not say, and a reader of a crossover's
        p-values could not tell."""
        kinds = {c["measure"] for c in self.comparisons}
        parts = []
        paired = self.design == "crossover"
        if "mean_change_difference" in kinds:
            parts.append("mean changes: " + ("paired t-test" if paired else "Welch t-test"))
        rates = [m for m in ("response", "remission") if f"{m}_rate_difference" in kinds]
        if rates:
            parts.append(" and ".join(rates) + " rates: " + (
                "Newcombe's interval for paired proportions, exact McNemar test" if paired
                else "Newcombe's hybrid score interval, two-proportion score test"))
        # PK ratios (NCA endpoints): the printed rows said '90% CI' and a p without the statistic or the test (the
        # JSON's 'test' had it)
        pk_tests = list(dict.fromkeys(c.get("test") for c in self.comparisons if "ci90" in c and c.get("test")))
        if pk_tests:
            parts.append("PK ratios: geometric mean ratio with its 90 % CI, " + " / ".join(pk_tests))
        if not parts:
            return ""
        return ("paired, the same patients in every arm; " if paired else "") + "; ".join(parts)

    def to_dict(self) -> dict:
        """The trial as ``trial --json`` writes it (docs/contracts.md, 'Trial output'): provenance, ``arms`` (each
        with ``n`` and its ``endpoints``: time_h, scale, measure, value, ci95, unit, and pi95 with uncertainty),
        ``comparisons`` and the notice."""
        arms = {}
        for name, o in self.outcomes.items():
            rows = [_with_unit({k: v for k, v in r.items() if k != "arm"}) for r in self.endpoints if r["arm"] == name]
            arms[name] = {"n": o.n, "endpoints": rows}
            if o.titration is not None and o.dose_levels is not None:     # an arm with a titration rule
                arms[name]["titration"] = titration_summary(o)
        return {"scenario": self.scenario.name, "ketasim_version": ketasim_version(),
                "parameter_set": self.params.version, "calibration_run": self.params.calibration_run,
                "seed": int(self.seed), "design": self.design,
                **({"patients_per_arm": int(self.patients_per_arm)} if self.patients_per_arm is not None else {}),
                "model": self.model_id or model_id(),
                # the scenario's virtual experiment (switches not at their default; {}: the intact mechanism)
                "experiments": self.scenario.experiment.changed(),
                # the recurrence model and every hypothesis switch (population.<name>), as a simulation's provenance
                # records them: a trial run with e.g. visit_contact on said nothing of it in its JSON or report
                **switch_provenance(self.scenario.population, SWITCH_PROVENANCE),
                "arms": arms, "comparisons": [_with_unit(dict(c)) for c in self.comparisons],
                **({"uncertainty": self.uncertainty} if self.uncertainty is not None else {}),
                # what was run: the scenario as read (its YAML mapping), as a trajectory file's provenance has it; the
                # JSON named the scenario but not its doses, arms or endpoints (null for a scenario built in Python)
                "definition": scenario_definition(getattr(self.scenario, "source", None)),
                "notice": NOTICE}

    def patient_ratings(self) -> pd.DataFrame:
        """One row per arm x patient x rating time of the trial (the 0-h baseline, the endpoint times, and in a follow-up
        or withdrawal design its visits, on which relapse is counted), the ratings the endpoints count (a tidy table
        for one's own statistics): ``arm``, ``subject`` (0-based within the arm), ``time_h``, ``endpoint`` (1 at an
        ``endpoints.times`` time: the rows the endpoint table counts), ``female`` (1/0), ``reference`` (the
        rating a response is counted from: the screening rating when the trial counts from screening, else the
        baseline), ``baseline``, ``rating`` (the rater's integer rating at that time), ``change`` (rating - baseline),
        ``model_score`` (the noise-free model score), ``response`` (1/0: a reduction from ``reference`` of at least
        ``endpoints.response_reduction``), ``remission`` (1/0: at or below the remission threshold; empty for a scale
        without one). A crossover with ``design.period_interval`` adds ``sequence`` and ``period`` (1-based; its
        ``time_h`` counts from the period's first dose). Ratings in points of the population's scale
        (:meth:`patient_rating_units`)."""
        pop = self.scenario.population
        ep = self.scenario.endpoints or DEFAULT_ENDPOINTS
        thr = _remission_threshold(ep, pop.scale, required=False)
        ep_times = np.asarray(ep.times_h, float)
        frames = []
        in_sequence = self._periods_in_sequence()
        names = [a.name for a in self.scenario.arms]
        for name, o in self.outcomes.items():
            times = np.asarray(o.times_h, float)
            n, t = o.n, times.size
            if not n or not t:
                continue
            rating = np.asarray(o.rating, float)
            ref = np.repeat(np.asarray(o.response_reference, float), t)
            at_endpoint = np.isclose(times[:, None], ep_times[None, :], rtol=0, atol=1e-9).any(axis=1)
            frames.append(pd.DataFrame({
                "arm": name, "subject": np.repeat(np.arange(n), t), "time_h": np.tile(times, n),
                "endpoint": np.tile(at_endpoint.astype(int), n),
                "female": np.repeat(np.asarray(o.female, int), t), "reference": ref,
                "baseline": np.repeat(np.asarray(o.baseline, float), t), "rating": rating.ravel(),
                "change": (rating - np.asarray(o.baseline, float)[:, None]).ravel(),
                "model_score": np.asarray(o.model_score, float).ravel(),
                "response": _responders(rating.ravel(), ref, ep).astype(int),
                "remission": (rating.ravel() <= thr).astype(int) if thr is not None else np.nan}))
            if in_sequence:
                # periods in sequence (design.period_interval): patient i is in sequence i mod k, which gives arm
                # (s + p) mod k in period p; time_h counts from that period's first dose. Nothing said which period
                # a row was, so period and carry-over effects could not be analysed
                k = len(names)
                seq = np.arange(n) % k
                frames[-1].insert(2, "sequence", np.repeat(seq + 1, t))
                frames[-1].insert(3, "period", np.repeat((names.index(name) - seq) % k + 1, t))
        cols = ["arm", "subject", *(("sequence", "period") if in_sequence else ()), "time_h", "endpoint", "female",
                "reference", "baseline", "rating", "change", "model_score", "response", "remission"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)

    def _periods_in_sequence(self) -> bool:
        """A crossover whose periods follow each other (``design.period_interval``): each arm is given in a period."""
        design = dict(self.scenario.design or ())
        return self.design == "crossover" and design.get("period_interval") is not None

    def patient_rating_units(self) -> dict:
        """Units of the :meth:`patient_ratings` columns."""
        points = measure_unit("mean", self.scenario.population.scale)
        units = {"time_h": "h", "endpoint": "1 = an endpoints.times time", "female": "1 = female",
                 "reference": points, "baseline": points, "rating": points, "change": points, "model_score": points,
                 "response": "1 = responder", "remission": "1 = remitter"}
        if self._periods_in_sequence():
            k = len(self.scenario.arms)
            units = {"sequence": f"1-{k}: subject i is in sequence i mod {k} + 1; sequence s gives the arms in "
                                 "scenario order starting from the s-th",
                     "period": f"1-{k}: the period in which this patient received this arm",
                     **units, "time_h": "h after the first dose of this arm's period",
                     "baseline": points + " (the rating just before this arm's period)"}
        return units

    def patient_ratings_to_csv(self, path):
        """Write :meth:`patient_ratings` as CSV; the trial's provenance, what a response and a remission are and the
        columns' units go to ``<path>.provenance.json`` beside it. Both files complete or neither replaced."""
        from .result import _csv_with_provenance

        meta = {k: v for k, v in self.to_dict().items() if k not in ("arms", "comparisons")}
        return _csv_with_provenance(path, self.patient_ratings, {**meta, "definitions": self.definitions(),
                                                                  "units": self.patient_rating_units()})

    def table(self) -> pd.DataFrame:
        """One row per arm x endpoint time x measure: ``arm, time_h, scale, measure, value, ci_low, ci_high``
        (95 % CI of this virtual trial), ``pi_low, pi_high`` (95 % prediction interval, with ``uncertainty``) and
        ``n``; PK rows add ``analyte`` and ``pk_dose``, final-dose rows ``dose_level``. Units as in :meth:`to_dict`
        (rates in % of patients, scores in points of the scale; ``trial.measure_unit(measure, scale)``)."""
        rows = []
        for r in self.endpoints:
            rows.append({"arm": r["arm"], "time_h": r["time_h"], "scale": r["scale"], "measure": r["measure"],
                         "value": r["value"], "ci_low": r["ci95"][0], "ci_high": r["ci95"][1],
                         **(dict(zip(("pi_low", "pi_high"), r.get("pi95", _NO_PI)))
                            if self.uncertainty is not None else {}),
                         "n": self.outcomes[r["arm"]].n, **({"analyte": r["analyte"], "pk_dose": r["dose"]} if "analyte" in r else {}),
                         **({"dose_level": r["dose_level"]} if "dose_level" in r else {})})
        return pd.DataFrame(rows)

    def comparison_table(self) -> pd.DataFrame:
        """One row per arm x comparator x time x measure: ``arm, versus, time_h, scale, measure`` (e.g.
        ``mean_change_difference``, ``response_rate_difference``), ``value``, ``ci95`` (a [low, high] pair) and
        ``p_value``; the unit of each row is in :meth:`to_dict` (``trial.measure_unit``)."""
        return pd.DataFrame(self.comparisons)

    def trajectory_summary(self) -> pd.DataFrame:
        """Percentile bands of each arm's trajectories (figures and the report): ``arm, time_h, variable`` and the
        5th, 50th and 95th percentiles (``p05``, ``median``, ``p95``), from the first patients of each arm (at most
        ``BAND_PATIENTS``)."""
        return pd.concat([o.bands for o in self.outcomes.values()], ignore_index=True)

    def design_note(self) -> str:
        """What the design does that the arms' table does not show ('' for a plain parallel trial): a randomized
        withdrawal's induction size (the arms' n are the randomized patients: 50 and 51 of 200, the induction's
        size was said nowhere), whether a crossover's periods carry over (with and without design.period_interval
        the table read alike, though the midazolam period's mean change moved 2 points). The table's first line and
        the report's header."""
        if self.design == "randomized_withdrawal" and self.patients_per_arm is not None:
            return f"{self.patients_per_arm} patients in the open-label induction, the arms' n are those randomized"
        if self.design == "crossover":
            interval = dict(self.scenario.design or ()).get("period_interval")
            k = len(self.scenario.arms)
            return (f"periods {interval} apart, {k} sequences (carry-over included; changes from each period's "
                    "baseline)" if interval is not None else
                    "every period from the drug-free state (complete washout, no carry-over)")
        return ""

    # -- short displays (terminal and Jupyter); the default dataclass repr printed every array (~100 KB) ----
    def _summary(self) -> dict:
        times = sorted({r["time_h"] for r in self.endpoints if r.get("time_h") is not None})
        return {"name": self.scenario.name, "design": self.design, "seed": int(self.seed),
                "arms": [(name, o.n) for name, o in self.outcomes.items()], "times_h": times,
                "measures": list(dict.fromkeys(r["measure"] for r in self.endpoints)),
                "comparisons": len(self.comparisons), "parameter_set": self.params.version}

    def __repr__(self) -> str:
        s = self._summary()
        arms = ", ".join(f"{a} (n={n})" for a, n in s["arms"])
        times = ", ".join(_fmt_t(t) for t in s["times_h"])
        return (f"<TrialResult {s['name']!r}: {s['design']} trial, {len(s['arms'])} arm(s): {arms}; times: {times}; "
                f"measures: {', '.join(s['measures'])}; {s['comparisons']} comparison(s); seed {s['seed']}; "
                f"parameter set {s['parameter_set']}>")

    def _repr_html_(self) -> str:
        import html

        s = self._summary()
        e = html.escape
        arms = "".join(f"<tr><td>{e(a)}</td><td>{n}</td></tr>" for a, n in s["arms"])
        return (f"<div><b>TrialResult</b> {e(s['name'])} ({e(s['design'])} trial)"
                f"<table><tr><th>arm</th><th>patients</th></tr>{arms}</table>"
                f"<p>times: {e(', '.join(_fmt_t(t) for t in s['times_h']))}; measures: {e(', '.join(s['measures']))}; "
                f"{s['comparisons']} comparison(s); seed {s['seed']}; parameter set {e(s['parameter_set'])}</p>"
                f"<p><code>table()</code>, <code>comparison_table()</code>, <code>format_table()</code>, "
                f"<code>to_dict()</code> give the numbers.</p><p><small>{e(NOTICE)}</small></p></div>")

    def format_table(self, notice: bool = True) -> str:
        """The endpoint table as ``ketasim trial`` prints it; ``notice=False`` leaves out the closing notice (the
        command prints it last, after a published trial's comparison and its 'wrote FILE' lines)."""
        t = self.table()
        lines = [f"{self.scenario.name}: {self.design} trial, seed {self.seed}, parameter set {self.params.version}"]
        note = self.design_note()
        if note:
            lines[0] += "; " + note
        rule = predose_bp_limit(self.scenario.design)
        if rule is not None:
            lines.append(f"pre-dose BP rule: {rule.describe()}; patients above it are not dosed (screened out)")
        pi = self.uncertainty is not None
        # the measure column fits the longest name ('blood_pressure_increased_rate' pushed its row's numbers 11
        # characters right of every other row's)
        mw = max([18] + [len(m) for m in (t["measure"] if len(t) else [])
                         if m not in ("final_dose_rate",)])
        if pi:
            lines.append(f"  {'':{mw}s} {'':>12s}  {'value':>8s}  {'95% CI':^18s}  {'95% prediction interval':^23s}")
        stratified, unfollowed = undefined_value_arms(self.endpoints)
        for arm, g in t.groupby("arm", sort=False):
            n_arm = self.outcomes[arm].n
            lines.append(f"\n[{arm}] n={n_arm}")
            for _, r in g.iterrows():
                when = ("all sessions" if r.time_h is None or (isinstance(r.time_h, float) and math.isnan(r.time_h))
                        else endpoint_time_label(r.time_h))
                if isinstance(r.get("analyte"), str):           # PK endpoints: printed below with CV % / range
                    continue
                if isinstance(r.get("dose_level"), str):        # share of patients at each final dose (titration)
                    label, start = "final dose " + r.dose_level, "from " + when    # aligned with the other rows
                    lines.append(f"  {label} {start:>{max(len(start), mw + 12 - len(label))}s}  {r.value:8.2f}  "
                                 f"[{r.ci_low:7.2f}, {r.ci_high:7.2f}]"
                                 + (f"  [{r.pi_low:7.2f}, {r.pi_high:7.2f}]" if pi and math.isfinite(r.pi_low) else "")
                                 + "  % of patients")
                    continue
                if r.measure == "time_to_relapse":              # a Kaplan-Meier median in days, not a session peak
                    lines.append(f"  {r.measure:{mw}s} {'KM median':>12s}  " + (
                        f"{r.value:8.2f}  [" + (f"{r.ci_low:7.2f}" if math.isfinite(r.ci_low) else "    n/a")
                        + ", " + (f"{r.ci_high:7.2f}] d" if math.isfinite(r.ci_high)
                                  else "not reached] d")   # beyond follow-up
                        if math.isfinite(r.value)
                        else no_value_text(n_arm, arm in stratified, arm in unfollowed)
                        if n_arm == 0 or arm in unfollowed
                        else "not reached (fewer than half relapsed)")
                        + (f"  PI [{r.pi_low:.2f}, " + (f"{r.pi_high:.2f}] d" if math.isfinite(r.pi_high)
                                                       else "not reached]")
                           if pi and math.isfinite(r.pi_low) else
                           "  PI: not reached in >= 97.5 % of the draws" if pi and r.pi_low == math.inf else ""))
                    continue
                if not math.isfinite(r.value):                 # e.g. a stratum nobody was randomized into
                    lines.append(f"  {r.measure:{mw}s} {when:>12s}  "
                                 + no_value_text(n_arm, arm in stratified, arm in unfollowed and r.measure in
                                                 RELAPSE_MEASURES))
                    continue
                unit = measure_unit(r.measure, r.scale)
                lines.append(f"  {r.measure:{mw}s} {when:>12s}  {r.value:8.2f}  {_ci_text(r.ci_low, r.ci_high)}"
                             + (f"  [{r.pi_low:7.2f}, {r.pi_high:7.2f}]" if pi and math.isfinite(r.pi_low) else "")
                             + (f"  {unit}" if unit else ""))
            pk = [r for r in self.endpoints if r["arm"] == arm and "analyte" in r]
            if pk:
                lines.append(f"  PK, {pk[0]['dose']} dose, {pk[0]['sample']} plasma: geometric mean (geometric CV %) "
                             "[95% CI]; Tmax median [range]")
            full = max((r.get("n_evaluable") or 0 for r in pk), default=0)
            for r in pk:
                label = f"{r['measure']} {r['analyte']} ({r['unit']})"
                # a slow absorber without a terminal phase has no AUC0-inf or t1/2 (the JSON's n_evaluable); the
                # table showed only the arm's n
                fewer = (f"  n={r['n_evaluable']:,} of {full:,}" if 0 < (r.get("n_evaluable") or 0) < full else "")
                if r["measure"] == "tmax":
                    lines.append(f"  {label:34s} {r['value']:9.4g}  [{r['range'][0]:.4g} - {r['range'][1]:.4g}]")
                else:
                    lines.append(f"  {label:34s} {r['value']:9.4g}  ({r['cv_percent']:.3g}%)  "
                                 f"[{r['ci95'][0]:.4g}, {r['ci95'][1]:.4g}]{fewer}")
        if self.comparisons:
            lines.append("\nbetween arms")
            # one column for the numbers: pairs of different lengths shifted them ('clarithromycin vs alone:' and
            # 'clarithromycin-stopped-2d vs alone:' rows of one table)
            pw = max(len(f"{c['arm']} vs {c['versus']}:") for c in self.comparisons)
            for c in self.comparisons:
                pair = f"{c['arm']} vs {c['versus']}:"
                if "ci90" in c:                               # a PK geometric mean ratio (90 % CI, as DDI studies)
                    full = max((d.get("n_evaluable") or 0 for d in self.comparisons
                                if "ci90" in d and (d["arm"], d["versus"]) == (c["arm"], c["versus"])), default=0)
                    k = c.get("n_evaluable") or 0
                    lines.append(f"  {pair:{pw}s} {c['measure'] + ' ' + c['analyte']:30s} "
                                 f"{c['value']:8.3f}  90% CI [{c['ci90'][0]:6.3f}, {c['ci90'][1]:6.3f}]  "
                                 f"{format_p(c['p_value'])}" + (f"  n={k:,} of {full:,}" if 0 < k < full else ""))
                    continue
                relapse = c["measure"] == "relapse_rate_difference"
                when = _fmt_t(c["time_h"]) if c["time_h"] is not None else (
                    "follow-up" if c["measure"] in RELAPSE_COMPARISONS else "all sessions")
                unit = measure_unit(c["measure"], c.get("scale"))
                if c["measure"] == "relapse_hazard_ratio":      # a ratio (no unit) with a Wald p; may be undefined
                    hr = c["value"] is not None and math.isfinite(c["value"])
                    lines.append(f"  {pair:{pw}s} {c['measure']:26s} {when:>8s}  "
                                 + (f"{c['value']:8.2f}  {_ci_text(*c['ci95'])}  Wald {format_p(c['p_value'])}"
                                    if hr else "     n/a  (" + c.get("note", "undefined") + profile_bound_text(c)
                                    + ")")
                                 + (f"  PI [{c['pi95'][0]:.2f}, " + (f"{c['pi95'][1]:.2f}]" if
                                                                     math.isfinite(c["pi95"][1]) else "n/a]")
                                    if "pi95" in c and math.isfinite(c["pi95"][0]) else ""))
                    continue
                lines.append(f"  {pair:{pw}s} {c['measure']:26s} {when:>8s}  {c['value']:8.2f}  "
                             f"[{c['ci95'][0]:7.2f}, {c['ci95'][1]:7.2f}]  "
                             + ("log-rank " if relapse else "") + format_p(c["p_value"])
                             + (f"  PI [{c['pi95'][0]:.2f}, {c['pi95'][1]:.2f}]"
                                if "pi95" in c and math.isfinite(c["pi95"][0]) else "")
                             + (f"  {unit}" if unit else ""))
            methods = self.comparison_methods()
            if methods:
                lines.append(f"  ({methods})")
            if any(c["measure"] == "relapse_rate_difference" for c in self.comparisons):
                lines.append(f"  ({RELAPSE_COMPARISON_NOTE})")
            if any(c["measure"] == "relapse_hazard_ratio" for c in self.comparisons):
                lines.append(f"  ({RELAPSE_HAZARD_RATIO_NOTE})")
        definitions = self.definitions()
        if definitions:
            lines.append("\n" + definitions)
        # with --uncertainty: no advice to add it; a PK-only trial: none could be added (it is refused)
        pk_only = reports_pk_only(self.scenario)
        lines.append("\n" + (CI_SCOPE_WITH_PI if pi else CI_SCOPE_PK if pk_only else CI_SCOPE))
        if pi:
            lines.append(pi_scope(self.uncertainty))
        if notice:
            lines.append(NOTICE)
        return "\n".join(lines)


_NO_PI = (float("nan"), float("nan"))     # PK rows: no prediction interval
#: what the two numbers of a relapse comparison come from: they are two tests and can disagree
RELAPSE_COMPARISON_NOTE = ("relapse_rate_difference: the difference of the relapse rates over the follow-up with "
                           "its 95% CI (Newcombe, of the proportions); its p is the log-rank test of the times to "
                           "relapse, a separate test")
#: what a relapse hazard ratio is (the table and the report say it under the comparisons)
RELAPSE_HAZARD_RATIO_NOTE = ("relapse_hazard_ratio: the hazard of relapse of the first arm over the second's, from a "
                             "Cox proportional-hazards model of the times to relapse (relapses tied at a visit by "
                             "Efron's method), 95% Wald CI and Wald p; below 1 when the first arm relapses less")
#: the between-arm comparisons of a relapse follow-up (over the whole follow-up: no time)
RELAPSE_COMPARISONS = ("relapse_rate_difference", "relapse_hazard_ratio")


#: What a virtual trial's confidence intervals contain (issue 7): they are this virtual trial's sampling error only
CI_SCOPE = ("95% CIs: sampling error of this virtual trial only (parameter uncertainty and between-trial "
            "heterogeneity NOT included; a real trial of this design varies more: `ketasim trial --uncertainty N` "
            "adds prediction intervals that include both).")
#: ... and of a trial that reports only PK endpoints, which get no prediction interval (no advice to add one)
CI_SCOPE_PK = ("95% CIs: sampling error of this virtual trial only (parameter uncertainty NOT included; PK endpoints "
               "get no prediction interval).")
CI_SCOPE_WITH_PI = ("95% CIs: sampling error of this virtual trial only (parameter uncertainty and between-trial "
                    "heterogeneity NOT included; the prediction intervals add them, as the next line says).")


def pi_scope(u: dict) -> str:
    """What the prediction intervals of a trial with ``uncertainty`` block ``u`` contain (one line)."""
    het = (", between-trial heterogeneity (a trial effect shared by all arms: "
           + ", ".join(f"{e} SD {v:.2f}" for e, v in u["tau"].items()) + f", {u['tau_source']})") \
        if u["between_trial"] and u.get("tau") else " (between-trial heterogeneity NOT included: --no-between-trial)"
    draws = f"{u['parameter_draws']} posterior parameter draws" + (f" ({u['draws_source']})" if u.get("draws_source")
                                                                    else "")
    if u.get("method") == WHOLE_DESIGN_METHOD:
        return (f"95% prediction intervals: the statistic a NEW trial of this design and size would observe: "
                f"{draws}{het}, each a whole new virtual trial (induction, "
                "selection, randomization/follow-up, relapse) of this size; interval = the draws' 2.5-97.5 % range "
                "(that trial's sampling error included)"
                # the help says "use >= 40": with 2 draws the "95 %" range is their min-max, and nothing said so
                + (f"; with {u['parameter_draws']} draws that range is about their minimum to maximum, not a 95 % "
                   "interval (use --uncertainty 40 or more)" if u["parameter_draws"] < MIN_WHOLE_DESIGN_DRAWS else "")
                + ". Between-arm differences too; p-values: sampling error only.")
    # `--uncertainty 3` gave intervals from the variance of 3 draws without a word (a whole-design trial's note
    # says so for its draws): an SD from k draws is itself uncertain, about +-1/sqrt(2(k-1)) of itself
    few = (f" With {u['parameter_draws']} draws the spread between draws is itself poorly known (use --uncertainty "
           f"{MIN_PER_ROW_DRAWS} or more)." if u["parameter_draws"] < MIN_PER_ROW_DRAWS else "")
    return (f"95% prediction intervals: the statistic a NEW trial of this design and size would observe: "
            f"{draws}{het}, that trial's sampling error and this virtual trial's Monte Carlo error. "
            "Between-arm comparisons: sampling error only." + few)


#: a stated time as the trial's outputs label it (the HTML report the same)
_fmt_t = fmt_hours


def endpoint_time_label(time_h: float) -> str:
    """An endpoint row's time as the trial's text table and HTML report label it: 'baseline' at 0 h (the rating
    at entry, e.g. a withdrawal's or a stratified table's baseline row; it read '0 min'), else :func:`fmt_hours`
    ('24 h', '7 d'). Text only: the JSON keeps ``time_h`` 0."""
    return "baseline" if float(time_h) == 0.0 else fmt_hours(float(time_h))


# ---- statistics (scipy / statsmodels; nothing hand-written) ----------------------------------------------------
def format_p(p) -> str:
    """A p-value as printed: ``p<0.001`` below 0.001, else three decimals (``p=0.042``); ``p=n/a`` if undefined."""
    if p is None or not math.isfinite(float(p)):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def mean_ci(x: np.ndarray, level: float = 0.95):
    """Mean, its standard error and the ``level`` (default 95 %) CI with Student's t quantile (n - 1 degrees of
    freedom), over the finite values."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    m = float(np.mean(x)) if x.size else float("nan")
    if x.size < 2:
        return m, float("nan"), (float("nan"), float("nan"))
    se = float(stats.sem(x))
    q = float(stats.t.ppf(0.5 + level / 2, x.size - 1))
    return m, se, (m - q * se, m + q * se)


def welch_ci(a: np.ndarray, b: np.ndarray):
    """Difference of means a - b, its SE and the 95% CI with the Welch-Satterthwaite t quantile."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    cm = CompareMeans(DescrStatsW(np.asarray(a, float)), DescrStatsW(np.asarray(b, float)))
    lo, hi = cm.tconfint_diff(alpha=0.05, usevar="unequal")
    return float(np.mean(a) - np.mean(b)), float(cm.std_meandiff_separatevar), (float(lo), float(hi))


def wilson_ci(k: int, n: int):
    """95% Wilson score interval for a proportion, in percent (statsmodels ``proportion_confint``)."""
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return (float("nan"), float("nan"))
    lo, hi = proportion_confint(int(k), int(n), alpha=0.05, method="wilson")
    return (100 * float(lo), 100 * float(hi))


def kaplan_meier(time: np.ndarray, event: np.ndarray):
    """KM curve (statsmodels ``SurvfuncRight``): (event times, survival, Greenwood's sum d / (n (n - d)) =
    (SE(S) / S)^2). ``time`` in h; ``event`` True for relapse, False censored."""
    from statsmodels.duration.survfunc import SurvfuncRight

    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    if not event.any():
        return np.zeros(0), np.zeros(0), np.zeros(0)
    sf = SurvfuncRight(time, event.astype(int))
    keep = sf.n_events > 0
    with np.errstate(divide="ignore", invalid="ignore"):     # Greenwood: (SE(S) / S)^2; inf once S reaches 0
        var = (sf.surv_prob_se[keep] / sf.surv_prob[keep]) ** 2
    return sf.surv_times[keep], sf.surv_prob[keep], var


def km_median(time, event):
    """Median time to event with a 95% CI (Brookmeyer–Crowley, complementary log-log transform; statsmodels
    ``SurvfuncRight.quantile_ci``); NaN where not reached. Where the visits are coarser than the CI (the survival
    jumps across 1/2 between two visits and no visit time is inside the CI), the CI is the visit interval that holds
    the median."""
    from statsmodels.duration.survfunc import SurvfuncRight

    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    if not event.any():
        return float("nan"), (float("nan"), float("nan"))
    sf = SurvfuncRight(time, event.astype(int))
    med = float(sf.quantile(0.5)) if np.any(sf.surv_prob <= 0.5) else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo, hi = sf.quantile_ci(0.5, alpha=0.05, method="cloglog")
    fin = (lambda v: float(v) if v is not None and np.isfinite(v) else float("nan"))
    lo, hi = fin(lo), fin(hi)
    if np.isfinite(med) and not np.isfinite(lo) and not np.isfinite(hi):
        # visits coarser than the sampling error (e.g. every 3.5 d, 192 patients all relapsing): S jumps across 1/2
        # between two visits and the test inversion rejects every visit time, so the CI is the visits' resolution:
        # from the last event time with S above 1/2 (the first event time if none) to the median
        above = sf.surv_times[sf.surv_prob > 0.5]
        lo, hi = float(above[-1]) if above.size else float(sf.surv_times[0]), med
    return med, (lo, hi)


def logrank_p(time_a, event_a, time_b, event_b) -> float:
    """Two-sided log-rank p-value with censoring (statsmodels ``survdiff``)."""
    from statsmodels.duration.survfunc import survdiff

    t = np.concatenate([time_a, time_b]).astype(float)
    e = np.concatenate([event_a, event_b]).astype(int)
    g = np.concatenate([np.zeros(len(time_a), int), np.ones(len(time_b), int)])
    if e.sum() == 0:
        return float("nan")
    try:
        return float(survdiff(t, e, g)[1])
    except np.linalg.LinAlgError:
        # zero variance of O - E: at every event time one group had nobody at risk or everyone at risk had the event
        # (e.g. every patient of both groups relapsing at the same visit), so the log-rank statistic is undefined
        return float("nan")


#: how a relapse hazard ratio's Cox model handles ties: relapses are counted at weekly visits, so many patients share
#: a time; Efron's approximation of the partial likelihood (statsmodels ``PHReg(ties="efron")``) is much closer to
#: the exact one than Breslow's, which biases a grouped-time hazard ratio towards 1
COX_TIES = "efron"
#: the largest absolute log hazard ratio reported (e^10 ~ 22,000): beyond it the partial likelihood is monotone (the groups'
#: relapse times separate them) and the estimate is 0 or infinite, not a number
MAX_COX_LOG_HR = 10.0
#: the last word of an undefined ratio's note ("... the Cox estimate is 0") and the limit it stands for: written by
#: :func:`cox_hazard_ratio`, read back by :func:`_draw_value`
_COX_LIMITS = {"0": 0.0, "infinite": math.inf}
#: the ``test`` of a ``relapse_hazard_ratio`` comparison row
COX_TEST = "Cox proportional hazards (Efron ties), Wald test"


def cox_hazard_ratio_rows(d1: np.ndarray, r1: np.ndarray, d0: np.ndarray, r0: np.ndarray,
                          iterations: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Cox hazard ratio (group 1 vs group 0, Efron's ties) per row of (k, v) relapse and at-risk counts of the two
    groups at common grid times: Newton's method on the partial likelihood of one binary covariate, with Efron's
    sums over the tied relapses of a time in closed form (digamma and trigamma:
    sum_{l<d} 1/(R - l D/d) = (d/D) [psi(q + 1) - psi(q - d + 1)], q = R d / D), so a row costs O(v) whatever the
    ties. Equals statsmodels ``PHReg(ties="efron")`` where that converges (the tests compare them); PHReg gives NaN
    when every patient of one group at risk at a time relapses then, where this still finds the maximum. Returns (HR,
    the observed information at the estimate, the variance of log HR being its inverse): HR 0 when group 1 had no
    relapse and group 0 had, +inf the other way round, NaN when nobody relapsed (information NaN in all three); 0 or
    +inf too when the absolute log HR passes :data:`MAX_COX_LOG_HR` (a monotone likelihood)."""
    from scipy.special import digamma, polygamma

    d1, r1, d0, r0 = (np.asarray(a, float) for a in (d1, r1, d0, r0))
    e1, e0 = d1.sum(axis=1), d0.sum(axis=1)
    out, information = np.full(d1.shape[0], np.nan), np.full(d1.shape[0], np.nan)
    out[(e1 == 0) & (e0 > 0)] = 0.0
    out[(e1 > 0) & (e0 == 0)] = np.inf
    ok = (e1 > 0) & (e0 > 0)
    if not ok.any():
        return out, information
    d1, r1, d0, r0 = d1[ok], r1[ok], d0[ok], r0[ok]
    d = d1 + d0
    ev = d > 0
    beta = np.zeros(d1.shape[0])
    with np.errstate(all="ignore"):
        for _ in range(iterations):
            w = np.exp(beta)[:, None]
            big_r1, big_d1 = r1 * w, d1 * w
            big_r, big_d = r0 + big_r1, np.where(ev, d0 + big_d1, 1.0)
            q = np.where(ev, big_r * d / big_d, 1.0)
            s1 = np.where(ev, d / big_d * (digamma(q + 1.0) - digamma(q - d + 1.0)), 0.0)
            s2 = np.where(ev, (d / big_d) ** 2 * (polygamma(1, q - d + 1.0) - polygamma(1, q + 1.0)), 0.0)
            c0 = big_d1 / big_d                 # A_l / B_l = c0 + c1 / B_l (A_l: the covariate's share of B_l)
            c1 = big_r1 - big_r * c0
            first = d * c0 + c1 * s1
            score = (d1 - first).sum(axis=1)
            info = (first - (d * c0 ** 2 + 2.0 * c0 * c1 * s1 + c1 ** 2 * s2)).sum(axis=1)
            step = np.clip(score / info, -2.0, 2.0)
            # held within MAX_COX_LOG_HR + 1: a monotone likelihood walks out for ever, and past ~37 1 + e^beta ==
            # e^beta made the step NaN, so a separated resample came out NaN instead of 0 or +inf (review s51 M2)
            new_beta = np.clip(beta + np.where(np.isfinite(step), step, 0.0), -_COX_BETA_CAP, _COX_BETA_CAP)
            moved, beta = new_beta - beta, new_beta
            if np.all(np.abs(moved) < 1e-10):
                break
    # beyond MAX_COX_LOG_HR the likelihood is monotone (the fit only walks out): the estimate is 0 or infinite
    out[ok] = np.where(beta > MAX_COX_LOG_HR, np.inf, np.where(beta < -MAX_COX_LOG_HR, 0.0, np.exp(beta)))
    information[ok] = info                  # at the last step's start: converged to 1e-10
    return out, information


#: where :func:`cox_hazard_ratio_rows` holds log HR (past :data:`MAX_COX_LOG_HR`, so a monotone likelihood still reads
#: as 0 or +inf, and small enough that e^beta + 1 is not e^beta)
_COX_BETA_CAP = MAX_COX_LOG_HR + 1.0


def visit_grid_counts(idx: np.ndarray, pos: np.ndarray, event: np.ndarray, v: int) -> tuple[np.ndarray, np.ndarray]:
    """(relapses, at risk) at each of ``v`` grid times per row of ``idx`` ((k, n) patient indices; ``pos`` each
    patient's grid index, ``event`` relapsed?): (k, v) arrays; at risk = the row's patients not yet relapsed or
    censored before that time (a patient censored at a time is at risk at it, as in statsmodels). The counts of
    :func:`cox_hazard_ratio_rows` and :func:`km_median_rows`; one row of all patients for a trial's own ratio."""
    k = idx.shape[0]
    flat = (np.arange(k)[:, None] * v + pos[idx]).ravel()
    removed = np.bincount(flat, minlength=k * v).reshape(k, v)
    d = np.bincount(flat, weights=event[idx].ravel().astype(float), minlength=k * v).reshape(k, v)
    return d, idx.shape[1] - (np.cumsum(removed, axis=1) - removed)


def km_median_rows(d: np.ndarray, at_risk: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Kaplan-Meier median per row of (k, v) relapse and at-risk counts at ``times``: the first time the survival is
    below 1/2, +inf when it never is (not reached). The same arithmetic as statsmodels ``SurvfuncRight`` (exp of the
    cumulated log(1 - d/n), floored at 1e-16), so it equals :func:`km_median` (NaN there is +inf here). Used by
    ``observed`` (its bootstrap) and by :func:`empirical_prediction_intervals` (a draw's own sampling variance)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(at_risk > 0, 1.0 - d / np.maximum(at_risk, 1).astype(np.float64), 1.0)
    tiny = f < 1e-16
    surv = np.exp(np.cumsum(np.log(np.where(tiny, 1e-16, f)), axis=1))
    surv[tiny] = 0.0
    below = surv < 0.5
    return np.where(below.any(axis=1), np.asarray(times, float)[np.argmax(below, axis=1)], np.inf)


def cox_hazard_ratio(time_a, event_a, time_b, event_b) -> tuple[float, list, float, str]:
    """Hazard ratio of relapse of group a versus group b from a Cox proportional-hazards model with the group as its
    one covariate, ties by :data:`COX_TIES` (Efron): (HR, its 95 % Wald CI exp(beta +- 1.96 SE), the two-sided Wald
    p, ''). Maximised by :func:`cox_hazard_ratio_rows` on the visit grid's counts, which equals statsmodels
    ``PHReg(ties="efron")`` where that converges (tested); PHReg itself raised LinAlgError (a small group relapsing
    completely at one visit), returned NaN, or diverged to a far, wrong estimate on valid small trials (review s51
    H1, M1), so it is not used. Undefined (NaN, [NaN, NaN], NaN, why in words) when a group is empty, nobody relapsed,
    one group had no relapse, or the relapse times separate the groups (the estimate is then 0 or infinite: the
    partial likelihood has no maximum; the words end "is 0" or "is infinite", which :func:`_draw_value` reads)."""
    nan = float("nan")
    ta, tb = np.asarray(time_a, float), np.asarray(time_b, float)
    ea, eb = np.asarray(event_a, bool), np.asarray(event_b, bool)
    if not ta.size or not tb.size:
        return nan, [nan, nan], nan, "an empty group"
    if not ea.any() and not eb.any():
        return nan, [nan, nan], nan, "nobody relapsed"
    if not ea.any() or not eb.any():
        return nan, [nan, nan], nan, ("no relapse in one group: the Cox estimate is "
                                      + ("0" if not ea.any() else "infinite"))
    grid = np.unique(np.concatenate([ta, tb]))
    counts = [c for tt, ee in ((ta, ea), (tb, eb))
              for c in visit_grid_counts(np.arange(tt.size)[None, :], np.searchsorted(grid, tt), ee, grid.size)]
    hr, info = cox_hazard_ratio_rows(*counts)
    hr, info = float(hr[0]), float(info[0])
    if hr == 0.0 or hr == math.inf:
        # monotone likelihood (e.g. every relapse of one group before the other group's first, or a group of one or
        # two): the partial likelihood rises without end
        return nan, [nan, nan], nan, ("the relapse times separate the groups (monotone likelihood): the Cox estimate "
                                      "is " + ("0" if hr == 0.0 else "infinite"))
    if not (math.isfinite(hr) and hr > 0 and math.isfinite(info) and info > 0):
        return nan, [nan, nan], nan, "the Cox fit did not converge"
    beta, se = math.log(hr), 1.0 / math.sqrt(info)
    half = 1.959963984540054 * se
    # a bound of a very wide interval (few relapses) may pass a float's range: 0 or +inf, not an OverflowError
    low, high = (math.exp(x) if abs(x) < 709.0 else (math.inf if x > 0 else 0.0) for x in (beta - half, beta + half))
    return hr, [low, high], float(2.0 * stats.norm.sf(abs(beta / se))), ""


# ---- simulation of arms -----------------------------------------------------------------------------------------
def _band_times(horizon: float, administrations=()) -> np.ndarray:
    """Times (h) of the population bands: fine through the first dose (every 5 min to 1 h), then daily, plus
    the rise, peak and fall of every later dose (start, end of infusion or ~Tmax, +1, +2, +4 h) so that
    repeated doses show their peaks (a handful of points per dose keeps memory at n x times)."""
    early = [0, 5 / 60, 10 / 60, 0.25, 20 / 60, 0.5, 40 / 60, 50 / 60, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 18]
    t = set(early) | set(np.arange(24.0, horizon + 1e-9, 24.0))
    seen = 0
    for a in sorted(administrations, key=lambda a: a.start_h):
        if a.drug.value == "oral-antidepressant" or a.start_h <= 0 or seen >= 60:
            continue
        seen += 1
        peak = a.duration_h if a.duration_h > 0 else (1.0 if a.route.value == "oral" else 1 / 3)
        t |= {a.start_h + o for o in (0.0, peak / 2, peak, peak + 1.0, peak + 2.0, peak + 4.0)}
    return np.array(sorted(round(x, 9) for x in t if 0 <= x <= horizon + 1e-9), float)


#: Percentile bands (figures) use the first patients of an arm only, so memory does not grow with the arm.
BAND_PATIENTS = 20_000
#: dtype of a large arm's (more than BAND_PATIENTS) per-session peaks, kept for the whole arm
LARGE_ARM_SESSION_DTYPE = np.float32
#: bytes of trajectories one chunk of an arm may hold (patients x output times x model outputs x 8)
BAND_CHUNK_BYTES = 40e6


def _simulate_outcome(name, arm, spec, patients, times, band_times, params, experiment, rng, noise_sd, smax,
                      progress, done, total, chunk, stream=None, executor=None, model=None, occasion=None,
                      bp_limit=None, screening=None):
    """Simulate one arm in chunks of patients (in this process or on Dask workers: ``executor``) and keep only
    the endpoint scores, per-session peaks and the band patients' trajectories (bounded memory). ``bp_limit``: the
    trial's pre-dose blood-pressure rule (``population.PredoseBPLimit``; None: none). ``screening``: the screening
    rating response is counted from (``population.Screening``; None: the baseline), drawn last from ``rng`` so that
    no other draw of the seed changes."""
    from .scale import ChunkTask, map_ordered, plan_chunks, run_chunk

    n = patients.n
    # The first BAND_PATIENTS patients run on the endpoint AND band times (their trajectories make the percentile
    # bands); the others, if any, on the endpoint times only (fewer grid points and outputs: ~1.7x faster for
    # 1,000,000 patients). A patient's numbers depend on its index only, never on chunking or workers, and the
    # first BAND_PATIENTS patients of a large arm get exactly the numbers of a small arm.
    large = n > BAND_PATIENTS
    nb = min(n, BAND_PATIENTS)
    dense_times = np.unique(np.concatenate([times, band_times]))
    out_score = np.empty((n, times.size))
    sess = None
    levels = None
    band_rows = []
    band_store = {v: [] for v in BAND_VARIABLES}
    n_out = len((model or DEFAULT_MODEL).output_names)

    def chunk_for(sample_times):
        # a chunk's trajectories (patients x times x outputs, float64) within BAND_CHUNK_BYTES: the band run's 85
        # times x 10,000 patients used to be a ~290 MB peak that did not grow with the arm
        return max(1, min(chunk, int(BAND_CHUNK_BYTES // (len(sample_times) * n_out * 8))))

    pieces = [(a, b, dense_times) for a, b in plan_chunks(nb, chunk_for(dense_times))]
    if large:
        pieces += [(nb + a, nb + b, times) for a, b in plan_chunks(n - nb, chunk_for(times))]
    if stream is None:      # patients given explicitly: ship them (no per-patient stream to resample from)
        tasks = [(arm, spec, patients.take(slice(a, b)), t, params, experiment, model) for a, b, t in pieces]
        fn = _run_given
    else:
        tasks = [ChunkTask(arm, spec, params, 0, a, b, stream, t, experiment, on_failure="flag", model=model,
                           occasion=occasion) for a, b, t in pieces]
        fn = run_chunk

    bidx = np.searchsorted(dense_times, band_times)

    def keep_bands(a, b, run):
        # float32 (7 digits: figure data): the band patients' trajectories are the arm's largest fixed memory
        band_store["score"].append((run.output("severity")[:, bidx] * patients.baseline[a:b][:, None])
                                   .astype(np.float32))
        for v in BAND_VARIABLES:
            if v != "score":
                band_store[v].append(run.output(v)[:, bidx].astype(np.float32))

    for (a, b, sample_times), run in zip(pieces, map_ordered(fn, tasks, executor)):
        out_score[a:b] = run.output("severity")[:, np.searchsorted(sample_times, times)] \
            * patients.baseline[a:b][:, None]
        if sess is None:      # large arms keep the per-session peaks in float32 (~7 significant digits): half the
            # arm's largest array (8 sessions x 7 peaks: 448 -> 224 MB per 1,000,000 patients); small arms (and
            # calibration's finite differences) keep float64
            sess = np.empty((n, *run.sessions.shape[1:]), dtype=LARGE_ARM_SESSION_DTYPE if large else float)
        sess[a:b] = run.sessions
        if run.dose_levels is not None:
            if levels is None:
                levels = np.empty((n, run.dose_levels.shape[1]), np.int8)
            levels[a:b] = run.dose_levels
        if a < nb:
            keep_bands(a, b, run)
        done[0] += b - a
        del run                   # before the next chunk is computed: one chunk's arrays in memory at a time
        if progress is not None:
            progress(done[0] / total)
    for v, parts in band_store.items():
        m = np.concatenate(parts)
        del parts[:]
        # np.nanpercentile along an axis loops over the columns in Python (~6 ms per variable and arm: most of a
        # 200-patient trial's CPU, and of every --uncertainty draw's); np.percentile is vectorised and gives the same
        # numbers when nothing is missing (a failed patient is NaN)
        q = (np.nanpercentile if np.isnan(m).any() else np.percentile)(m, [5, 50, 95], axis=0).astype(float)
        del m
        band_rows.append(pd.DataFrame({"arm": name, "time_h": band_times, "variable": v, "p05": q[0],
                                       "median": q[1], "p95": q[2]}))
    noise = rng.normal(0.0, noise_sd, out_score.shape) if noise_sd > 0 else 0.0
    # the fluctuation's draws come from a child stream of the arm's (spawning draws nothing from the arm's stream, so
    # no other draw of a seed moves, whatever else is drawn: a screening visit, a pre-dose BP rule)
    fluctuation_rng = rng.spawn(1)[0]
    sbp0, dbp0 = baseline_bp(params, patients.age_years, rng, limit=bp_limit)
    tit = getattr(arm, "titration", None)
    decision_sd = params.free_value("rating_noise_sd") * smax \
        if tit is not None and tit.decide_on == "rating" and tit.rater_noise else 0.0
    # the baseline rating: the true severity at entry plus the rater's noise (population.true_baseline); without
    # the rater's noise (endpoints.rating_noise: false) ratings are the model's expected course, from the true one
    rated = patients.baseline_rating if noise_sd > 0 else patients.baseline
    base_rating = np.rint(rated)
    screen = None if screening is None else screening_ratings(rated, spec.baseline, screening,
                                                               rng.standard_normal(n), smax)
    # the within-patient fluctuation of true severity since entry (population.fluctuation_paths); off with the
    # rater's noise (endpoints.rating_noise: false: ratings are then the model's expected course itself). An arm whose
    # titration decides on ratings drew each patient's fluctuation at those ratings from the patient's own stream
    # (engine.decision_fluctuation_draws): the endpoint ratings continue that path (the exact Gaussian conditional)
    fluctuation = 0.0
    if noise_sd > 0:
        # each patient's multiplier of the SD (1.0 unless population.fluctuation_scales_with_severity)
        fscale = fluctuation_scale(spec, params, patients.baseline)
        decided = decision_fluctuation_draws(arm, stream, 0, n, params, smax, fscale) if stream is not None else None
        if decided is None:
            # with a trial's entry criterion (population.entry_selection) the value at entry is drawn given it
            # from the same draws (population.entry_fluctuation); None: unselected, as before
            fluctuation = fluctuation_paths(params, smax, times, fluctuation_rng.standard_normal((n, times.size + 1)),
                                            fscale, entry_fluctuation(spec, params, patients, fscale))
        else:
            # a patient's path is its multiplier times a path of the common size: continue that path (the
            # Gaussian conditional is linear in the values it is given, and its noise scales with the SD)
            m = np.reshape(np.asarray(fscale, float), (-1, 1))
            fluctuation = m * fluctuation_conditional(*fluctuation_parameters(params, smax), times,
                                                      decided.times_h, decided.values / m, 0.0, fluctuation_rng)
    # a rating is the model score plus the fluctuation and the rater's noise, rounded and bounded by the scale: a
    # rater who would score below 0 records 0 (censoring, kept on purpose: rates P(rating <= threshold) are then
    # exactly the normal CDF that calibration uses analytically; truncating the noise would change that meaning)
    rating = np.clip(np.rint(out_score + fluctuation + noise), 0, smax)
    rating[:, times == 0] = base_rating[:, None]
    return ArmOutcome(name, times, base_rating, rating, out_score, sess, pd.concat(band_rows),
                      sbp0, dbp0, patients.female, levels, tit,
                      tit.session_times_h(arm) if tit is not None else (), float(decision_sd), screen,
                      patients.age_years, bp_reading_sd_factor(spec, params, patients.age_years, sbp0))


def _run_given(task):
    arm, spec, patients, times, params, experiment, model = task
    return run_arm(arm, spec, patients, times, params=params, experiment=experiment, on_failure="flag", model=model)


def _remission_threshold(ep: Endpoints, scale: str, required: bool = True) -> float | None:
    """The stated ``endpoints.remission_threshold``, else the scale's published one. A scale without one (mssi) and
    none stated: a one-line error when ``required``, else None (the remission comparison is then left out: the
    scenario reader lets such a trial measure anything but remission_rate)."""
    from .population import remission_threshold

    if ep.remission_threshold is not None:
        return ep.remission_threshold
    if not required and SCALES[scale][1] is None:
        return None
    return remission_threshold(scale)


def _with_unit(row: dict) -> dict:
    """A JSON endpoint or comparison row with the ``unit`` the printed table gives it (kept when the row states one,
    as PK rows and time_to_relapse do): side-effect rows said 6.28 with no word of mmHg or CADSS points."""
    if "unit" not in row:
        unit = measure_unit(str(row.get("measure", "")), row.get("scale"))
        if unit:
            row["unit"] = unit
    return row


def measure_unit(measure: str, scale: str | None) -> str:
    """The unit a trial endpoint or comparison is in, as the table prints it after the row: scale points for means
    and changes ('MADRS points'), '% of patients' for rates and fractions, 'percentage points' for a difference of
    rates, the model's unit for a session peak ('CADSS points', 'mmHg'); '' when the row says it already."""
    from .population import scale_name

    if measure.endswith("_difference"):
        unit = measure_unit(measure.removesuffix("_difference"), scale)
        return "percentage points" if unit == "% of patients" else unit
    if measure in ("mean", "mean_change", "sd", "sd_change"):
        return f"{scale_name(scale or 'score')} points"
    if measure.endswith(("_rate", "_fraction")):
        return "% of patients"
    if measure in MAX_RISE_MEASURES:
        return "mmHg"
    return next((s.unit for s in DEFAULT_MODEL.summaries if s.name == measure), "")


#: what an undefined number means, in words (the table, the HTML report; the JSON has null): no patient in an arm
#: or a stratum (a small stratified withdrawal), and a Kaplan-Meier median or bound beyond the follow-up
NO_PATIENTS = "n/a (no patients in this stratum)"
NO_PATIENTS_ARM = "n/a (no patients in this arm)"
NOT_REACHED = "not reached"
NO_PATIENTS_FOLLOWED = "n/a (no patients followed)"


def no_value_text(n: int, stratified: bool, unfollowed: bool = False) -> str:
    """Why a row of an arm (or stratum) of ``n`` patients has no value: none in it; none followed for relapse
    (``unfollowed``: an open-label follow-up that nobody entered); else 'n/a'."""
    if n == 0:
        return NO_PATIENTS if stratified else NO_PATIENTS_ARM
    return NO_PATIENTS_FOLLOWED if unfollowed else "n/a"


def unfollowed_arms(endpoints) -> set:
    """Arms whose relapse rate is undefined although they have patients: nobody entered their follow-up."""
    return {r["arm"] for r in endpoints if r["measure"] == "relapse_rate"
            and (r["value"] is None or not math.isfinite(r["value"]))}


def undefined_value_arms(endpoints) -> tuple[set, set]:
    """(stratified arms, unfollowed arms) of a trial's endpoint rows: what :func:`no_value_text` needs to say why a
    row has no value (the printed table and the HTML report)."""
    return {r["arm"] for r in endpoints if "stratum" in r}, unfollowed_arms(endpoints)


def _ci_text(low: float, high: float) -> str:
    """A printed 95 % CI; a stratum or arm of fewer than two patients has none (its SD is undefined), which the
    table says in words rather than as ``[nan, nan]``."""
    if math.isfinite(low) and math.isfinite(high):
        return f"[{low:7.2f}, {high:7.2f}]"
    if math.isfinite(low) and high == math.inf:         # a hazard ratio's Wald bound past a float's range
        return f"[{low:7.2f},     inf]"
    return "[no CI: too few patients]"


def _responders(rating: np.ndarray, baseline: np.ndarray, ep: Endpoints) -> np.ndarray:
    """Reduction from baseline by at least ``ep.response_reduction`` (50 % by default). The 1e-9 (points) keeps a
    threshold that is an integer in exact arithmetic but a hair below it in floating point ((1 - 0.3) x 90 =
    62.99999999999999) from dropping the rating equal to it (as ``population.rating_at_or_below`` does)."""
    return rating <= (1 - ep.response_reduction) * baseline + 1e-9


def _proportion_difference(pa: np.ndarray, pb: np.ndarray):
    """Difference of two proportions in percentage points: (value, 95% Newcombe hybrid-score CI, two-sided
    score test p), both from statsmodels (``confint_proportions_2indep``, ``test_proportions_2indep``)."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    import warnings

    k1, n1, k2, n2 = int(np.sum(pa)), int(pa.size), int(np.sum(pb)), int(pb.size)
    d = k1 / n1 - k2 / n2
    # statsmodels also computes the ratio and odds ratio internally: silence their divisions by zero
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff", alpha=0.05)
        if k1 + k2 in (0, n1 + n2):          # both arms all-or-none: no evidence of a difference
            p = 1.0
        else:
            p = float(test_proportions_2indep(k1, n1, k2, n2, method="score", compare="diff",
                                               correction=False).pvalue)   # = pooled z-test
    # one division of whole numbers: 100 * (0.48 - 0.19) printed 29.000000000000004 in the JSON
    return 100 * (k1 * n2 - k2 * n1) / (n1 * n2), [100 * float(lo), 100 * float(hi)], p


def _paired_proportion_difference(pa: np.ndarray, pb: np.ndarray):
    """Difference of two proportions measured on the SAME patients (a crossover's periods), in percentage points:
    (value, 95% CI by Newcombe's hybrid score method for paired data (Newcombe 1998, Stat Med 17:2635, method 10:
    the two Wilson intervals combined with the correlation phi of the 2x2 table; as Altman et al. 2000, Statistics
    with Confidence, p. 52), two-sided exact McNemar p (the binomial test of the discordant pairs)). The
    independent-samples interval and test ignore the pairing."""
    pa, pb = np.asarray(pa, bool), np.asarray(pb, bool)
    n = int(pa.size)
    a, b = int(np.sum(pa & pb)), int(np.sum(pa & ~pb))
    c, d = int(np.sum(~pa & pb)), int(np.sum(~pa & ~pb))
    p1, p2 = (a + b) / n, (a + c) / n
    (l1, u1), (l2, u2) = (np.array(wilson_ci(a + b, n)) / 100), (np.array(wilson_ci(a + c, n)) / 100)
    den = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c           # phi's numerator, less n/2 when positive (and 0 within n/2), as Newcombe's method
    cross = cross - n / 2 if cross > n / 2 else min(cross, 0)
    phi = cross / math.sqrt(den) if den > 0 else 0.0
    dl = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    du = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    diff = (b - c) / n
    p = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return 100 * (b - c) / n, [100 * max(diff - dl, -1.0), 100 * min(diff + du, 1.0)], p


def _score_endpoints(o: ArmOutcome, ep: Endpoints, scale: str, measures, rows):
    thr = _remission_threshold(ep, scale, required="remission_rate" in measures)
    for j, t in enumerate(o.times_h):
        r = o.rating[:, j]
        ch = r - o.baseline
        for m in measures:
            if m == "mean":
                v, se, ci = mean_ci(r)
            elif m == "mean_change":
                v, se, ci = mean_ci(ch)
            elif m == "response_rate":
                # no patient (a withdrawal nobody was randomized in): undefined, as a mean is (was ZeroDivisionError)
                k = int(np.sum(_responders(r, o.response_reference, ep)))
                v, ci = 100.0 * k / o.n if o.n else float("nan"), wilson_ci(k, o.n)
            elif m == "remission_rate":
                k = int(np.sum(r <= thr))
                v, ci = 100.0 * k / o.n if o.n else float("nan"), wilson_ci(k, o.n)
            else:
                continue
            rows.append({"arm": o.name, "time_h": float(t), "scale": scale, "measure": m, "value": float(v),
                         "ci95": [float(ci[0]), float(ci[1])]})


def reading_fractions(params: ParameterSet) -> np.ndarray:
    """The monitored post-dose readings of a session as fractions of its peak rise: one at the peak, then at half,
    a quarter, ... of it (``monitoring.readings_per_session`` of them)."""
    return 0.5 ** np.arange(int(params.get("monitoring.readings_per_session")))


def bp_readings(o: ArmOutcome, params: ParameterSet, rng):
    """Monitored post-dose blood pressure (mmHg): (n, sessions x readings) systolic and diastolic readings with a
    clinic reading's variability, at the peak rise and at half of it."""
    s = o.sessions
    n, ns = s.shape[0], s.shape[1]
    frac = reading_fractions(params)
    r = frac.size
    sd_s, sd_d = params.get("monitoring.sbp_reading_sd", "mmHg"), params.get("monitoring.dbp_reading_sd", "mmHg")
    rise_s = (s[:, :, SUMMARY_SLOT("sbp_change_peak")][:, :, None] * frac).reshape(n, ns * r)
    rise_d = (s[:, :, SUMMARY_SLOT("dbp_change_peak")][:, :, None] * frac).reshape(n, ns * r)
    post_s = o.sbp0[:, None] + rise_s + rng.normal(0, o.reading_sd(sd_s), rise_s.shape)
    post_d = o.dbp0[:, None] + rise_d + rng.normal(0, o.reading_sd(sd_d, systolic=False), rise_d.shape)
    return post_s, post_d


def _hypertension(o: ArmOutcome, params: ParameterSet, rng, chunk: int = 50_000) -> np.ndarray:
    """Any monitored reading >= 180/110 mmHg, per patient: the same readings (and random numbers, drawn in the same
    order) as :func:`bp_readings`, computed in chunks of patients so memory does not grow with the arm."""
    s = o.sessions
    n, ns = s.shape[0], s.shape[1]
    frac = reading_fractions(params)
    r = frac.size
    hyper = np.zeros(n, bool)
    for name, base, sd, limit in (("sbp_change_peak", o.sbp0, params.get("monitoring.sbp_reading_sd", "mmHg"), 180.0),
                                  ("dbp_change_peak", o.dbp0, params.get("monitoring.dbp_reading_sd", "mmHg"), 110.0)):
        col = SUMMARY_SLOT(name)
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            rise = (s[a:b, :, col][:, :, None] * frac).reshape(b - a, ns * r)
            post = base[a:b, None] + rise + rng.normal(0, o.reading_sd(sd, a, b, systolic=name == "sbp_change_peak"),
                                                       rise.shape)
            hyper[a:b] |= (post >= limit).any(axis=1)
    return hyper


#: measure -> (session-summary column of the rise's peak, SD parameter of a reading)
MAX_RISE_MEASURES = {"sbp_max_rise": ("sbp_change_peak", "monitoring.sbp_reading_sd"),
                     "dbp_max_rise": ("dbp_change_peak", "monitoring.dbp_reading_sd")}


def max_rise_session_means(o: ArmOutcome, params: ParameterSet, rng, measure: str, chunk: int = 50_000):
    """Blood pressure as trials report its rise: per session, each patient's largest monitored post-dose reading
    minus the session's pre-dose reading (mmHg), averaged over the patients. Returns (per-session means, per-session
    SDs over patients), each (sessions,). Every reading, the pre-dose one too, carries a clinic reading's variability
    (``monitoring.*_reading_sd``; the post-dose readings at the peak rise and at its fractions, as :func:`bp_readings`),
    so a placebo arm's mean maximum rise is above 0, as published placebo arms' are: Doherty 2020 (CNS Drugs 34:299,
    doi:10.1007/s40263-020-00699-4) reports "the largest mean maximum SBP/DBP increases from predose at any postdose
    timepoint across all intranasal dosing days". The patient's true pre-dose level cancels. Computed in chunks of
    patients (bounded memory); ``rng``: a stream of its own (see ``_side_endpoints``)."""
    col, sd_name = MAX_RISE_MEASURES[measure]
    systolic = measure == "sbp_max_rise"
    s = o.sessions
    n, ns = s.shape[0], s.shape[1]
    frac = reading_fractions(params)
    r = frac.size
    sd = params.get(sd_name, "mmHg")
    total, squares = np.zeros(ns), np.zeros(ns)
    slot = SUMMARY_SLOT(col)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        rise = s[a:b, :, slot][:, :, None] * frac + rng.normal(0, o.reading_sd(sd, a, b, 3, systolic), (b - a, ns, r))
        x = rise.max(axis=2) - rng.normal(0, o.reading_sd(sd, a, b, 2, systolic), (b - a, ns))
        total += x.sum(axis=0)
        squares += (x * x).sum(axis=0)
    mean = total / max(n, 1)
    var = (squares - n * mean * mean) / max(n - 1, 1)
    return mean, np.sqrt(np.maximum(var, 0.0))


def side_effect_values(o: ArmOutcome, rng, params: ParameterSet | None = None) -> dict:
    """Per-patient side-effect outcomes over all sessions (arrays), from the per-session peaks."""
    params = params or load_parameters()
    s = o.sessions
    idx = {k: SUMMARY_SLOT(k) for k in DEFAULT_MODEL.summary_names}
    has = s.shape[1] > 0
    peak = lambda k: s[:, :, idx[k]].max(axis=1).astype(float) if has else np.zeros(o.n)  # noqa: E731
    if has:
        hyper = _hypertension(o, params, rng)
    else:
        hyper = np.zeros(o.n, bool)
    return {
        "cadss_peak": peak("cadss_peak"),
        "sbp_change_peak": peak("sbp_change_peak"),
        "dbp_change_peak": peak("dbp_change_peak"),
        "hr_change_peak": peak("hr_change_peak"),
        "sedation_peak": peak("sedation_peak"),
        "hypertension": hyper,
        "discharge_2h": (s[:, :, idx["discharge_ready_h"]].max(axis=1) <= 2.0) if has else np.ones(o.n, bool),
        # incidence of each adverse event over the period (persistent susceptibility + background)
        **{ev: sample_incidence(s, ev, params, rng) for ev in AE_MEASURES.values()},
    }


def _side_endpoints(o: ArmOutcome, measures, rng, rows, scale, params):
    vals = side_effect_values(o, rng, params)
    rises = {}
    if any(m in MAX_RISE_MEASURES for m in measures) and o.sessions.shape[1] and o.n:
        # one stream of their own per arm (spawning draws no number from ``rng``, so the other side-effect rows of
        # this and later arms are the same without them), both measures in a fixed order from it: each is the same
        # whichever of them is asked for, in whatever order
        own = rng.spawn(1)[0]
        rises = {k: max_rise_session_means(o, params, own, k) for k in MAX_RISE_MEASURES}
    for m in measures:
        if m in ("cadss_peak", "sbp_change_peak", "dbp_change_peak", "hr_change_peak", "sedation_peak"):
            # a period's residue of another period's dose (crossover in sequence) left peaks of ~1e-18: the placebo
            # arm printed "cadss_peak 0.00 [-0.00, 0.00]"; numerical noise is 0, and a CI of peaks that are all >= 0
            # does not reach below 0
            x = np.asarray(vals[m], float)
            x = np.where(np.abs(x) < 1e-9, 0.0, x)
            v, se, ci = mean_ci(x)
            if x.size and np.all(x >= 0):
                ci = (max(float(ci[0]), 0.0), float(ci[1]))
        elif m in ("hypertension_rate", "discharge_2h_rate") or m in AE_MEASURES:
            x = vals[m.removesuffix("_rate")]
            k = int(x.sum())
            v, ci = 100.0 * k / o.n, wilson_ci(k, o.n)
        elif m in MAX_RISE_MEASURES:
            if o.sessions.shape[1] == 0 or o.n == 0:
                v, ci = float("nan"), (float("nan"), float("nan"))
            else:
                # the session with the largest mean maximum rise, its mean's t interval (Doherty 2020's statistic)
                means, sds = rises[m]
                j = int(np.argmax(means))
                v = float(means[j])
                half = float(stats.t.ppf(0.975, o.n - 1)) * sds[j] / math.sqrt(o.n) if o.n > 1 else float("nan")
                ci = (v - half, v + half)
        else:
            continue
        rows.append({"arm": o.name, "time_h": None, "scale": "side-effects", "measure": m, "value": float(v),
                     "ci95": [float(ci[0]), float(ci[1])]})


#: The between-arm comparison each score measure asks for (``mean`` and ``mean_change`` both: the change difference).
COMPARISON_OF = {"mean": "mean_change_difference", "mean_change": "mean_change_difference",
                 "response_rate": "response_rate_difference", "remission_rate": "remission_rate_difference"}


def _compare(a: ArmOutcome, b: ArmOutcome, ep: Endpoints, scale, paired: bool, out: list, measures=None):
    """Between-arm comparisons at every endpoint time, for the score measures asked for (``measures``; None: all)."""
    wanted = set(COMPARISON_OF.values()) if measures is None else {COMPARISON_OF[m] for m in measures
                                                                   if m in COMPARISON_OF}
    thr = _remission_threshold(ep, scale, required=False)     # None: no remission threshold, no remission comparison
    for j, t in enumerate(a.times_h):
        if t == 0 or not wanted:
            continue
        if "mean_change_difference" in wanted:
            ca, cb = a.rating[:, j] - a.baseline, b.rating[:, j] - b.baseline
            with warnings.catch_warnings():
                # a tiny trial whose changes are (nearly) identical: SciPy warns of catastrophic cancellation and the
                # p value is degenerate (nan for identical values); the row says so by its value, not by a warning
                warnings.filterwarnings("ignore", "Precision loss occurred in moment calculation", RuntimeWarning)
                if paired and ca.size == cb.size:
                    d = ca - cb
                    v, se, ci = mean_ci(d)
                    p = float(stats.ttest_1samp(d, 0.0).pvalue) if d.size > 1 else float("nan")
                else:
                    v, se, ci = welch_ci(ca, cb)
                    p = float(stats.ttest_ind(ca, cb, equal_var=False).pvalue)
            out.append({"arm": a.name, "versus": b.name, "time_h": float(t), "scale": scale,
                        "measure": "mean_change_difference", "value": v, "ci95": [ci[0], ci[1]], "p_value": p})
        rates = []
        if "response_rate_difference" in wanted:
            rates.append(("response_rate_difference", _responders(a.rating[:, j], a.response_reference, ep),
                          _responders(b.rating[:, j], b.response_reference, ep)))
        if "remission_rate_difference" in wanted and thr is not None:
            rates.append(("remission_rate_difference", a.rating[:, j] <= thr, b.rating[:, j] <= thr))
        for m, pa, pb in rates:
            v, ci, p = (_paired_proportion_difference(pa, pb) if paired and pa.size == pb.size
                        else _proportion_difference(pa, pb))
            out.append({"arm": a.name, "versus": b.name, "time_h": float(t), "scale": scale, "measure": m,
                        "value": v, "ci95": ci, "p_value": p})


def crossover_iov(design: dict, kind: str) -> bool:
    """Whether the periods of this trial get inter-occasion PK effects: a crossover, unless ``design.iov`` is false.
    ``design.iov`` in another design is refused (one line): only a crossover has occasions."""
    if "iov" not in design:
        return kind == "crossover"
    v = design["iov"]
    if not isinstance(v, (bool, np.bool_)):
        raise InputError(f"design.iov: must be true or false, got {v!r}")
    if kind != "crossover":
        raise InputError("design.iov: inter-occasion variability applies to the periods of a crossover; a "
                         f"{kind.replace('_', ' ')} design has none (remove design.iov)")
    return bool(v)


#: drugs of a comparator arm (beside a background oral antidepressant): an arm given only these is the control when
#: no arm's name says which (`design.control`, else a name with placebo/saline/midazolam/control)
COMPARATOR_DRUGS = frozenset({"placebo", "midazolam"})


def comparator_arms(scenario: Scenario) -> tuple[str, ...]:
    """Names of the arms whose doses are all placebo or midazolam (an oral antidepressant besides allowed)."""
    out = []
    for arm in scenario.arms:
        drugs = {a.drug for a in arm.administrations()} - {"oral-antidepressant"}
        if drugs and drugs <= COMPARATOR_DRUGS:
            out.append(arm.name)
    return tuple(out)


def _control_arm(names, design: dict, comparators=()) -> str:
    if design.get("control"):
        if design["control"] not in names:
            raise InputError(f"design.control: no arm named {design['control']!r}")
        return design["control"]
    for key in ("placebo", "saline", "midazolam", "control"):
        for n in names:
            if key in n.lower():
                return n
    # arms named e.g. 'k' and 'p': the comparisons read 'p vs k' (placebo minus ketamine) with the first arm as the
    # control; an arm given only placebo or midazolam is the control before the first arm
    for n in names:
        if n in comparators:
            return n
    return names[0]


# ---- entry point ---------------------------------------------------------------------------------------------------
def run_trial(scenario: Scenario, params: ParameterSet | None = None, *, n: int | None = None, seed=None,
              progress: Callable[[float], None] | None = None, chunk: int = 10000, executor=None,
              model=None, uncertainty: int = 0, between_trial: bool = True, draw_seed: int = 0,
              log: Callable[[str], None] | None = None, anesthetic_check: bool = True) -> TrialResult:
    """Run the virtual trial of ``scenario`` and compute its endpoints.

    ``uncertainty`` = N > 0 (2 to 1000): every endpoint row also gets ``pi95``, a 95 % prediction interval for the
    statistic a NEW trial of this design and size would observe (N posterior parameter draws (seed ``draw_seed``)
    x, when ``between_trial``, a trial effect per draw shared by all arms, + that trial's sampling error). Parallel
    and crossover trials: :func:`prediction_intervals` (per-row variance of the draws + analytic sampling error).
    Randomized-withdrawal trials and open-label follow-ups (``design.follow_up_from``), whose relapse rows have a
    random denominator: :func:`empirical_prediction_intervals` (each draw runs the whole design at full size; the
    interval is the draws' empirical 2.5-97.5 % range; comparisons get one too). ``log`` receives notes (e.g. that
    the between-trial SDs were estimated at run time because the parameter set does not store them).

    Arms run in chunks of ``chunk`` patients; ``executor`` (``ketasim.distributed.DaskExecutor``) runs the chunks
    on Dask workers. Patients come from per-patient random streams, so the result does not depend on either.
    ``model``: a variant model definition (``ketasim.model``; default: the package's model).
    ``anesthetic_check``: an arm whose doses add up to the anesthetic range (none alone in it) warns
    (``DoseWarning``) once the trial has run, as ``ketasim trial`` warns (``engine.cumulative_anesthetic_arms``: two
    typical runs); False leaves it out (the command line warns itself).
    """
    from . import limits
    from .engine import warn_cumulative_anesthetic

    n, seed, chunk = limits.check_trial_args(scenario, params, n=n, seed=seed, progress=progress, chunk=chunk)
    check_trial_size(scenario, n)
    anesthetic_check = limits.check_bool(anesthetic_check, "anesthetic_check")
    params = params or load_parameters()
    draws = None
    if executor is not None and not callable(getattr(executor, "map_ordered", None)):     # an AttributeError later
        raise InputError(f"executor: expected a ketasim.distributed.DaskExecutor (or None), got "
                         f"{type(executor).__name__}")
    between_trial, draw_seed = check_uncertainty_options(uncertainty, between_trial, draw_seed, log)
    if uncertainty:
        draws = _uncertainty_draws(scenario, params, uncertainty, between_trial, draw_seed, log, size=n)
    tr = _run_trial(scenario, params, n, seed, progress, chunk, executor, model)
    if anesthetic_check:            # after the trial's own checks (its budget) and run, before its intervals
        warn_cumulative_anesthetic(scenario, params)
    if draws is not None and draws["info"].get("method") == WHOLE_DESIGN_METHOD:
        empirical_prediction_intervals(tr, draws, n or scenario.population.size, chunk=chunk, executor=executor,
                                       model=model, log=log)
    elif draws is not None:
        prediction_intervals(tr, draws, chunk=chunk, executor=executor, model=model)
    return tr


def check_uncertainty_options(uncertainty, between_trial, draw_seed, log=None) -> tuple[bool, int]:
    """The prediction-interval options of :func:`run_trial` (and ``external.qualify_external``) beside
    ``uncertainty``, checked whether or not it is given; returns ``(between_trial, draw_seed)``. ``between_trial``
    True or False (``"no"`` was taken as true), ``draw_seed`` a seed (-1 stopped in numpy naming nothing), ``log`` a
    function (5 failed at its first note). ``between_trial=False`` or a ``draw_seed`` other than 0 without
    ``uncertainty`` is refused, as the command line refuses ``--no-between-trial`` without ``--uncertainty``: both
    were accepted and changed nothing. Messages name the Python argument, or the option on the command line."""
    from . import limits

    between_trial = limits.check_bool(between_trial, argument("between_trial", "--between-trial"))
    draw_seed = limits.check_seed(draw_seed, "draw_seed")
    if log is not None and not callable(log):
        raise InputError(f"log: expected a function of one line of text, got {type(log).__name__}")
    if not uncertainty:
        unc = argument("uncertainty=N", "--uncertainty N")
        if not between_trial:
            raise InputError(f"{argument('between_trial=False', '--no-between-trial')}: only with {unc} (without "
                             "posterior draws the intervals carry no between-trial heterogeneity anyway)")
        if draw_seed != 0:
            raise InputError(f"draw_seed: only with {unc} (it seeds the posterior draws; without them it changes "
                             "nothing)")
    return between_trial, draw_seed


def check_trial_size(scenario: Scenario, n: int | None, field: str | None = None) -> int:
    """The patients per arm of a virtual trial (``n``, else the scenario's population size): at least 2 (a mean's
    confidence interval needs two patients), and for a crossover whose periods follow each other
    (``design.period_interval``) at least one patient per sequence (one sequence per arm). One line naming ``field``
    (default ``n`` when given, else ``population.size``) otherwise; a scenario with ``patient:`` (one stated patient,
    typical random effects) is not a trial's population whatever ``n``."""
    if getattr(scenario, "patient", None) is not None:     # n would draw random effects the patient: does not have
        raise InputError("patient: a virtual trial needs a population (write population: with its size instead of "
                         "patient:); one stated patient: ketasim simulate")
    size = n or scenario.population.size
    design = dict(scenario.design)
    k = len(scenario.arms) if (design.get("type") == "crossover"
                               and design.get("period_interval") is not None) else 1
    need = max(2, k)
    if size >= need:
        return size
    if field is None:
        field = "n" if n else "population.size"
    why = (f"a crossover with design.period_interval gives each of its {k} sequences its own patients" if k >= 2
           else "a mean's confidence interval needs two patients")
    raise InputError(f"{field}: a virtual trial needs at least {need} patients per arm ({why}), got {size}; one "
                     "patient: ketasim simulate")


def _trial_grid(scenario: Scenario, ep: Endpoints | None = None):
    """The times a trial simulates: (endpoint times with the design's visits, horizon, withdrawal settings,
    follow-up settings, band times). One rule for the trial and its budget checks (a whole-design --uncertainty
    estimated its k trials on the population.size trajectory grid, not on these)."""
    design = dict(scenario.design)
    ep = ep or scenario.endpoints or DEFAULT_ENDPOINTS
    times = np.unique(np.concatenate([[0.0], np.asarray(ep.times_h, float)]))
    # the trial's own end, for every design (as the withdrawal's relapse visits): the last endpoint time or 14 d after
    # the last dose (at least 28 d). Not scenario.horizon_h alone: `output: {until: ...}` sets that, and a
    # trajectory-output setting cut a parallel trial's open-label follow-up (until: 14 d: visits at 13 and 16.5 d of
    # 13-27 d) and its percentile bands; a longer `until` still extends it, as before
    horizon = max(scenario.horizon_h, default_horizon_h(scenario.arms), times[-1])
    extra = {}
    if design.get("type", "parallel") == "randomized_withdrawal":
        extra = _withdrawal_setup(design, scenario, times[-1])
        times = np.unique(np.concatenate([times, extra["visits"]]))
        horizon = max(horizon, times[-1])
    follow = _follow_up_setup(design, horizon) if design.get("follow_up_from") is not None else None
    if follow is not None:
        times = np.unique(np.concatenate([times, follow["visits"]]))
        horizon = max(horizon, times[-1])
    band_times = _band_times(horizon, [adm for arm in scenario.arms for adm in arm.administrations()])
    return times, horizon, extra, follow, band_times


def _run_trial(scenario, params, n, seed, progress, chunk, executor, model, rows_only: bool = False,
               skip_pk: bool = False, arm_positions: tuple | None = None, size_field: str | None = None) -> TrialResult:
    """The trial itself; ``rows_only`` (a prediction-interval draw): endpoint rows only, no PK pass and no
    between-arm comparisons; ``skip_pk`` (a whole-design draw): everything but the PK pass. ``arm_positions``
    (a parallel trial run with some of a scenario's arms, :mod:`ketasim.power`): (each arm's index in the full
    scenario, the full scenario's number of arms), so that every arm keeps the random stream, hence the patients and
    ratings, it has in the full trial (streams are spawned by position). ``size_field``: how a refusal of ``n``
    names it (default ``n`` / ``--size``; the power's pools: ``pool`` / ``--pool``)."""
    from . import limits

    if model is not None and model.summary_names != DEFAULT_MODEL.summary_names:
        raise InputError(f"model {model.name}: a trial reads the default per-session summaries "
                         f"({', '.join(DEFAULT_MODEL.summary_names)}); keep them in the variant")
    seed = scenario.seed if seed is None else seed
    design = dict(scenario.design)
    kind = design.get("type", "parallel")
    if kind not in ("parallel", "crossover", "randomized_withdrawal"):
        raise InputError(f"design.type: unknown design {kind!r}; use parallel, crossover or randomized_withdrawal")
    spec = scenario.population
    ep = scenario.endpoints or DEFAULT_ENDPOINTS
    measures = ep.measures or DEFAULT_MEASURES
    scale = spec.scale
    smax = SCALES[scale][0]
    noise_sd = params.free_value("rating_noise_sd") * smax if ep.rating_noise else 0.0
    size = n or spec.size
    from .limits import check_population_age

    check_population_age(spec, size)          # a scenario of size 1 run with --size N
    root = np.random.SeedSequence(seed)
    positions, n_seeded = (tuple(range(len(scenario.arms))), len(scenario.arms)) if arm_positions is None else (
        tuple(arm_positions[0]), int(arm_positions[1]))
    arm_seeds = root.spawn(n_seeded + 1)
    times, horizon, extra, follow, band_times = _trial_grid(scenario, ep)
    limits.check_scenario_run(scenario, size, np.unique(np.concatenate([times, band_times])),
                              field=(size_field or argument("n", "--size")) if n is not None else "population.size",
                              chunk_patients=chunk, tables=False)
    total = size * len(scenario.arms)
    done = [0]
    outcomes = {}
    pk_frames = {}
    pk_measures = [] if rows_only or skip_pk else [m for m in measures if m in PK_MEASURES]
    if pk_measures and kind == "randomized_withdrawal":
        raise InputError("endpoints.measures: PK measures (cmax, auc_0_inf, ...) are reported by parallel and "
                         "crossover trials, not by a randomized withdrawal")
    side_asked = [m for m in measures if m in SIDE_EFFECT_MEASURES]
    if side_asked and kind == "randomized_withdrawal":
        # they were dropped without a word (the withdrawal analysis reports relapse and score rows only)
        raise InputError(f"endpoints.measures: {', '.join(side_asked)}: side-effect measures are reported by "
                         "parallel and crossover trials, not by a randomized withdrawal (its rows: relapse and scores); "
                         "run the induction as a parallel trial for them")
    shared = None
    iov = crossover_iov(design, kind)
    if kind in ("crossover", "randomized_withdrawal"):
        for arm in scenario.arms:
            if arm.baseline is not None:
                raise InputError(f"arms.{arm.name}.baseline: the arms of a {kind.replace('_', ' ')} trial share their "
                                 "patients; state the baseline once as population.baseline")
    interval = _carry_over_setup(design, scenario, times) if kind == "crossover" else None
    bp_limit = predose_bp_limit(design)
    for k, arm in enumerate(scenario.arms):
        # a randomized withdrawal's two arms are one group of patients until randomization: the same ratings (rater's
        # noise, fluctuation of true severity) and pre-dose blood pressure in both, so the patients selected on the
        # continue arm's randomization-visit rating have that rating in the withdraw arm too (each arm drew its own:
        # the withdraw arm's "responders" were ~65 % responders at the visit that selected them)
        # (a fresh copy of the first arm's seed sequence: spawning the fluctuation's child stream advances a sequence)
        rng = np.random.default_rng(arm_seeds[positions[k]] if kind != "randomized_withdrawal" else
                                    np.random.SeedSequence(arm_seeds[0].entropy, spawn_key=arm_seeds[0].spawn_key,
                                                           pool_size=arm_seeds[0].pool_size))
        stream = arm_seeds[-1] if kind in ("crossover", "randomized_withdrawal") else arm_seeds[positions[k]]
        aspec = arm_spec(spec, arm)                     # an arm may state its own baseline (parallel designs)
        # a crossover's arm k is period k + 1: the same patients with that occasion's own PK effects (IOV)
        occasion = k + 1 if iov else None
        if kind in ("crossover", "randomized_withdrawal"):
            if shared is None:
                shared = sample_patients(spec, params, stream, size)
            patients = shared if occasion is None else dataclasses.replace(
                shared, **occasion_effects(stream, occasion, 0, size))
        else:
            patients = sample_patients(aspec, params, stream, size)
        if interval is None:
            outcomes[arm.name] = _simulate_outcome(arm.name, arm, aspec, patients, times, band_times, params,
                                                   scenario.experiment, rng, noise_sd, smax, progress, done, total,
                                                   chunk, stream=stream, executor=executor, model=model,
                                                   occasion=occasion, bp_limit=bp_limit, screening=ep.screening)
        if pk_measures:      # a separate run of the same patients at the PK sampling times (only when asked for)
            from .nca import PKSampling, arm_pk

            pk_frames[arm.name] = arm_pk(arm, spec, params, ep.pk or PKSampling(), stream=stream, n=size,
                                         chunk=chunk, experiment=scenario.experiment, model=model, executor=executor,
                                         occasion=occasion)
    if interval is not None:        # periods in sequence, one continuous simulation per sequence (carry-over)
        outcomes = _carry_over_outcomes(scenario, spec, shared, times, band_times, interval, params, arm_seeds,
                                        noise_sd, smax, progress, done, size, chunk, executor, model)
    rows: list = []
    comps: list = []
    relapse_times: dict = {}
    se_rng = np.random.default_rng(root.spawn(1)[0])
    if kind == "randomized_withdrawal":
        rows, comps, outcomes = _withdrawal_analysis(design, extra, outcomes, ep, scale, measures, se_rng,
                                                     relapse=relapse_times)
    else:
        score_measures = [m for m in measures if m in SCORE_MEASURES]
        side = [m for m in measures if m in SIDE_EFFECT_MEASURES]
        ep_times = set(np.round(ep.times_h, 9))
        for o in outcomes.values():
            sel = np.array([round(t, 9) in ep_times for t in o.times_h])
            view = dataclasses.replace(o, times_h=o.times_h[sel], rating=o.rating[:, sel], model_score=o.model_score[:, sel])
            _score_endpoints(view, ep, scale, score_measures, rows)
            _side_endpoints(o, side, se_rng, rows, scale, params)
        if follow is not None:
            _follow_up_analysis(follow, outcomes, design, ep, scale, measures, rows, comps, rows_only,
                                comparator_arms(scenario), relapse=relapse_times)
        names = list(outcomes)
        if len(names) > 1 and not rows_only and not all(m in PK_MEASURES for m in measures):  # PK-only: no ratings
            ctrl = _control_arm(names, design, comparator_arms(scenario))
            for nme in names:
                if nme != ctrl:
                    a, b = outcomes[nme], outcomes[ctrl]
                    sel = np.array([round(t, 9) in ep_times for t in a.times_h])
                    _compare(dataclasses.replace(a, times_h=a.times_h[sel], rating=a.rating[:, sel]),
                             dataclasses.replace(b, times_h=b.times_h[sel], rating=b.rating[:, sel]),
                             ep, scale, kind == "crossover", comps, measures)
    if pk_measures:
        _pk_endpoints(pk_frames, pk_measures, design, kind, rows, comps, comparator_arms(scenario))
    for o in outcomes.values():
        rows += dose_rows(o)
    return TrialResult(scenario, params, int(seed), kind, rows, comps, outcomes, pk_frames, model_id=model_id(model),
                       patients_per_arm=int(size), relapse_times=relapse_times)


# ---- prediction intervals for a new trial (issue 7) -----------------------------------------------------------------
#: most patients per arm simulated for each draw of a trial's prediction interval: the draws reuse the trial's first
#: patients and random numbers (common random numbers), so their spread is the parameters' and trial effects', not
#: resampling noise; the new trial's own sampling error comes from the full trial's CIs
UNCERTAINTY_DRAW_PATIENTS = 200
#: ``uncertainty.method`` of a trial whose intervals come from whole-design draws (withdrawal, follow-up)
WHOLE_DESIGN_METHOD = "whole_design"
#: fewest whole-design draws whose empirical 2.5-97.5 % range covers ~95 % (the range of N exchangeable draws spans
#: ~(N - 1)/(N + 1) of the distribution: 39 draws' extremes are a 95 % prediction interval)
MIN_WHOLE_DESIGN_DRAWS = 40


def whole_design_draws(scenario: Scenario) -> bool:
    """Whether ``--uncertainty`` runs the whole design per draw (:func:`empirical_prediction_intervals`): a
    randomized withdrawal or an open-label follow-up, whose relapse rates have a random denominator (who
    responded/remitted and was randomized or followed)."""
    design = dict(scenario.design)
    return design.get("type", "parallel") == "randomized_withdrawal" or design.get("follow_up_from") is not None


def reports_pk_only(scenario: Scenario) -> bool:
    """Whether the trial reports PK endpoints only (``endpoints.measures`` all PK measures): rows no prediction
    interval can widen. The one rule for refusing ``--uncertainty`` on such a trial, for its text's CI note and for
    ``ketasim external`` (which runs such a trial without the option)."""
    measures = (scenario.endpoints.measures if scenario.endpoints else None) or DEFAULT_MEASURES
    return all(m in PK_MEASURES for m in measures)


def _uncertainty_draws(scenario: Scenario, params: ParameterSet, k, between_trial: bool, draw_seed, log,
                       size: int | None = None) -> dict:
    """Validated options and the draws' parameter sets: posterior draw i with trial effect i applied (the same
    effect for every arm of draw i). Checked before the trial runs, so a bad option fails at once; for a
    whole-design method (:func:`whole_design_draws`) also the compute budget of k full trials of ``size``
    patients per arm (``KETASIM_MAX_SECONDS``, :func:`ketasim.limits.time_budget`)."""
    from . import limits
    from .calibration import (TRIAL_EFFECTS, _trial_effect_draws, posterior_draws_source, sample_parameter_sets,
                              trial_tau, with_trial_effect)

    k = check_uncertainty_draws(k)
    field = argument("uncertainty", "--uncertainty")
    if reports_pk_only(scenario):
        measures = (scenario.endpoints.measures if scenario.endpoints else None) or DEFAULT_MEASURES
        # the draws ran and the text described prediction intervals that no row had
        raise InputError(f"{field}: this trial reports only PK endpoints (endpoints.measures: "
                         f"{', '.join(measures)}), which get no prediction interval; leave {field} out")
    kind = dict(scenario.design).get("type", "parallel")
    if kind not in ("parallel", "crossover", "randomized_withdrawal"):
        raise InputError(f"{field}: prediction intervals are not supported for a {kind} design "
                         "(parallel, crossover and randomized_withdrawal only)")
    whole = whole_design_draws(scenario)
    if whole:
        size = scenario.population.size if size is None else size
        # the grid each draw's trial runs on (endpoint times, visits, band times), as _run_trial checks it
        times, _, _, _, band_times = _trial_grid(scenario)
        est = limits.estimate_scenario_run(scenario, size, np.unique(np.concatenate([times, band_times])),
                                           tables=False)
        limits.check_repeated(est, k + 1, field, fewer="fewer draws or fewer patients",
                              what=f"{k} draws x the whole {kind.replace('_', ' ')} design ({size:,} patients per arm)")
    psets = sample_parameter_sets(params, k, draw_seed)     # one-line error if the set has no posterior
    draws_source = posterior_draws_source(params, k)
    tau, source = (trial_tau(params, log or (lambda *_: None)) if between_trial else (None, None))
    shifts = (_trial_effect_draws(["trial"], tau, k, (draw_seed, 7))["trial"] if between_trial
              else np.zeros((k, len(TRIAL_EFFECTS))))
    sets = [with_trial_effect(p, dict(zip(TRIAL_EFFECTS, sh))) for p, sh in zip(psets, shifts)]
    info = {"parameter_draws": k, "draw_seed": int(draw_seed), "between_trial": bool(between_trial), "tau": tau,
            "tau_source": source, "trial_effects": dict(TRIAL_EFFECTS),
            "parameter_set": params.version, "calibration_run": params.calibration_run,
            "posterior": (params.posterior or {}).get("method"), "draws_source": draws_source,
            **({"method": WHOLE_DESIGN_METHOD} if whole else {})}    # absent: the per-row method (files unchanged)
    return {"sets": sets, "info": info}


def _row_key(r: dict) -> tuple:
    return (r["arm"], r.get("stratum"), r["time_h"], r["scale"], r["measure"], r.get("dose_level"))


def prediction_intervals(tr: TrialResult, draws: dict, *, chunk: int = 10000, executor=None, model=None) -> None:
    """Add ``pi95`` to every non-PK endpoint row of ``tr`` and set ``tr.uncertainty``.

    Each draw's parameter set runs the trial again on the first ``min(n, UNCERTAINTY_DRAW_PATIENTS)`` patients of
    every arm with the trial's seed (common random numbers); V = the variance of a row's statistic over the draws
    (posterior parameter uncertainty and between-trial heterogeneity). Means, changes and side-effect peaks:
    value +- sqrt(2 h^2 + (1.96^2) V), h the half-width of the row's sampling CI: once for the sampling error of the
    new trial (same size) and once for this virtual trial's Monte Carlo error in the predicted value. Rates:
    :func:`ketasim.calibration.rate_interval` (beta-binomial count of a trial of the arm's n whose true rate has
    variance V + the virtual trial's Monte Carlo error of its count, Jeffreys' posterior of k of n patients so that
    a predicted 0 % still has a width; within [0, 100]; never narrower than the row's sampling CI).
    Between-arm comparisons are unchanged."""
    from .calibration import rate_interval

    sets = draws["sets"]
    m = min(min(o.n for o in tr.outcomes.values()), UNCERTAINTY_DRAW_PATIENTS)
    rows = [r for r in tr.endpoints if "analyte" not in r]
    index = {_row_key(r): j for j, r in enumerate(rows)}
    vals = np.full((len(sets), len(rows)), np.nan)
    for i, p in enumerate(sets):
        sub = _run_trial(tr.scenario, p, m, tr.seed, None, chunk, executor, model, rows_only=True)
        for r in sub.endpoints:
            j = index.get(_row_key(r))
            if j is not None:
                vals[i, j] = r["value"]
    with np.errstate(invalid="ignore"):
        var = np.nanvar(vals, axis=0, ddof=1) if len(sets) > 1 else np.zeros(len(rows))
    for j, r in enumerate(rows):
        v, n = float(r["value"]), tr.outcomes[r["arm"]].n
        vj = float(var[j]) if np.isfinite(var[j]) else 0.0
        tr.draw_variance[_row_key(r)] = vj
        if not math.isfinite(v):
            pi = [float("nan"), float("nan")]
        elif r["measure"].endswith("_rate"):
            # the true rate's variance: the draws' + this virtual trial's Monte Carlo error of its count (estimate_n)
            lo, hi, _, _ = rate_interval(v, n, vj, estimate_n=n)
            # never narrower than the row's own CI (Wilson), the Monte Carlo part alone: at 0 of n, Wilson's upper end
            # (3.84 / (n + 3.84)) lies above Jeffreys' quantiles
            pi = [float(min(lo, r["ci95"][0])), float(max(hi, r["ci95"][1]))]
        else:
            # sampling error of the new trial (h) and this virtual trial's Monte Carlo error of the prediction (h)
            half = (r["ci95"][1] - r["ci95"][0]) / 2.0
            h = math.sqrt(2.0 * half * half + 1.96 ** 2 * vj) if math.isfinite(half) else float("nan")
            pi = [v - h, v + h]
            if r["measure"] in ("mean", "cadss_peak", "sedation_peak"):     # not negative
                pi[0] = max(pi[0], 0.0)
        r["pi95"] = pi
    tr.uncertainty = {**draws["info"], "draw_patients_per_arm": int(m),
                      "contains": pi_scope(draws["info"]),
                      "comparisons": "between-arm differences and p-values: this virtual trial's sampling error only"}


def _comparison_key(c: dict) -> tuple:
    return (c["arm"], c["versus"], c.get("stratum"), c["time_h"], c["measure"])


def draw_trial_seed(seed: int, draw_seed: int, i: int) -> int:
    """Seed of whole-design draw ``i``: a new virtual trial (new patients, rater noise and randomization) derived
    from the trial's ``seed`` and ``draw_seed`` (reproducible; independent of the central run's streams)."""
    return int(np.random.SeedSequence([int(seed), int(draw_seed), int(i)]).generate_state(1, np.uint64)[0] >> 1)


def _empirical_interval(x: np.ndarray, central: float, level: float = 0.95) -> list[float]:
    """[lo, hi] = the empirical (1 - level)/2 and (1 + level)/2 quantiles (linear interpolation) of the draws ``x``
    (NaN = undefined in that draw, dropped; +inf = a median not reached within the follow-up), widened if needed to
    contain ``central`` (as :func:`ketasim.calibration.rate_interval` does); an infinite bound stays infinite
    (JSON null: "not reached"). [nan, nan] with fewer than 2 defined draws."""
    x = np.sort(x[~np.isnan(x)])
    if x.size < 2:
        return [float("nan"), float("nan")]
    a = (1.0 - level) / 2.0
    bounds = []
    for pos in (a * (x.size - 1), (1.0 - a) * (x.size - 1)):   # numpy's "linear" quantile, written out for +inf
        i = int(math.floor(pos))
        w = pos - i
        if w == 0.0:
            bounds.append(float(x[i]))
        elif np.isinf(x[i + 1]):                            # interpolating towards "not reached"
            bounds.append(math.inf)
        else:
            bounds.append(float(x[i] + (x[i + 1] - x[i]) * w))
    lo, hi = bounds
    if not math.isnan(central):
        lo, hi = min(lo, central), max(hi, central)
    return [lo, hi]


#: rows whose denominator is the whole enrolled arm (defined even when nobody qualifies)
_ARM_FRACTIONS = ("randomized_fraction", "followed_fraction")


def _draw_value(r: dict, group_n: int) -> float:
    """A draw's statistic for the empirical interval: a Kaplan-Meier median that is not reached (NaN with patients
    in the group) counts as +inf (longer than the follow-up); a row of an empty randomized group (nobody qualified
    in that draw: its relapse rate is written as 0) and any NaN are undefined (NaN: left out), but a hazard ratio
    whose estimate is 0 or infinite (its note says which) counts as 0 or +inf."""
    v = float(r["value"]) if r["value"] is not None else float("nan")
    if group_n == 0 and r["measure"] not in _ARM_FRACTIONS:
        return float("nan")
    if math.isnan(v) and r["measure"] == "time_to_relapse":
        return math.inf
    if math.isnan(v) and r["measure"] == "relapse_hazard_ratio":
        # no relapse in one group, or separated groups: the estimate is 0 or infinite, as the observed rows'
        # bootstrap counts it (left out, such draws biased the interval towards 1 when relapses are few: review s51 M3)
        return _COX_LIMITS.get(str(r.get("note", "")).rpartition("the Cox estimate is ")[2], v)
    return v


#: rows whose whole-design draws' variance is taken on the log scale (and folded into an observed row's bootstrap
#: interval on that scale, ``observed._compare_relapse``): a Kaplan-Meier median and a hazard ratio are positive and
#: skewed, and a parameter draw moves them by a factor; a ratio of 0 or +inf and a median not reached stay so
LOG_SCALE_MEASURES = ("time_to_relapse", "relapse_hazard_ratio")
#: bootstrap resamples of one whole-design draw's group behind its Kaplan-Meier median's own sampling variance
DRAW_MEDIAN_RESAMPLES = 200


def comparison_draw_key(c: dict) -> tuple:
    """The key of comparison row ``c`` in ``TrialResult.draw_variance`` (an endpoint row's is :func:`_row_key`)."""
    return ("comparison",) + _comparison_key(c)


def net_draw_variance(x, w, c=None) -> tuple[float, int]:
    """(V, m): the between-draw variance of a statistic net of each draw's own sampling error, over the m draws it
    rests on: the variance of the draws' statistics ``x`` (ddof 1) minus the mean of ``w`` (each draw's sampling
    variance of its statistic at its virtual size), floored at 0; (0, m) with m < 2. A whole-design draw is a new
    virtual trial, so its statistic's spread over the draws holds that trial's sampling error as well as the parameter
    and between-trial spread; E[var(x)] = V + E[w], so subtracting the mean w leaves V (what an observed row's
    interval adds to its own sampling error, as ``draw_variance`` of :func:`prediction_intervals`).

    Censored draws (``c``, fifty-third session): a draw whose ``x`` is +inf (-inf) and whose ``c`` is finite is
    right- (left-) censored at ``c``: its statistic lies beyond ``c`` (:func:`_draw_censoring`: a Kaplan-Meier median
    not reached, beyond the follow-up; a hazard ratio of +inf or 0, beyond its profile-likelihood bound). With any
    such draw the draws' variance is the censored-normal (Tobit) maximum-likelihood variance of the defined and
    censored draws (:func:`censored_normal_variance`, times m / (m - 1) as ddof 1), so the draws that leave the
    follow-up or separate the groups widen it instead of being left out (which biased it low exactly where they are
    common: small or late-relapsing groups). It needs 2 defined draws ((0, m) otherwise). The mean own variance is
    taken over the draws that have one (a censored draw has none: its own variance is assumed the defined draws'
    mean, which is likely too small for a late-relapsing draw, so V stays somewhat large there). A draw with a defined
    ``x`` and no own variance (a median whose bootstrap resamples mostly do not reach it) counts with that mean too.
    Without censored draws and with every defined draw's ``w`` defined this is the fifty-second session's estimator,
    to the last bit. Draws with an undefined ``x`` (NaN, or infinite without ``c``: an empty group, a ratio with no
    bound) are left out."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    c = np.full(x.shape, np.nan) if c is None else np.asarray(c, float)
    obs = np.isfinite(x)
    cens = np.isinf(x) & np.isfinite(c)
    own = w[(obs | cens) & np.isfinite(w)]
    m = int(obs.sum() + cens.sum())
    if int(obs.sum()) < 2 or not own.size:
        return 0.0, m
    if not cens.any():
        raw = float(np.var(x[obs], ddof=1))
    else:
        raw = censored_normal_variance(x[obs], c[cens & (x > 0)], c[cens & (x < 0)]) * m / (m - 1)
    return max(0.0, raw - float(np.mean(own))), m


def censored_normal_variance(x, right=(), left=()) -> float:
    """Maximum-likelihood variance of a normal sample of which ``x`` was observed and the rest is known only to lie
    above the points ``right`` or below the points ``left`` (a Tobit model: the log-likelihood sums log density of
    ``x`` and log survival or distribution function at the censoring points; scipy.optimize over the mean and log
    SD). Without censored points it is the plain ML (ddof 0) variance of ``x``. Needs 2 observed values; with every
    observed value equal it is still finite when a point is censored beyond them."""
    from scipy.optimize import minimize
    from scipy.special import log_ndtr

    x, right, left = (np.asarray(a, float) for a in (x, right, left))
    if not right.size and not left.size:
        return float(np.var(x))
    pts = np.concatenate([x, right, left])
    scale = max(float(np.std(pts)), float(np.std(x)), 1e-3)

    def nll(p):
        """minus the log-likelihood and its gradient in (mean, log SD); d log Phi(u) / du = phi(u) / Phi(u)"""
        mu, ls = p
        s = math.exp(ls)
        z = (x - mu) / s
        u = np.concatenate([(mu - right) / s, (left - mu) / s])       # log Phi(u): above right, below left
        lp = log_ndtr(u)
        h = np.exp(-0.5 * u * u - 0.5 * math.log(2.0 * math.pi) - lp)
        sign = np.concatenate([np.ones(right.size), -np.ones(left.size)])
        ll = -0.5 * float(z @ z) - x.size * ls + float(lp.sum())
        g_mu = (float(z.sum()) + float((h * sign).sum())) / s
        g_ls = float(z @ z) - x.size - float((h * u).sum())
        return -ll, np.array([-g_mu, -g_ls])

    best = minimize(nll, np.array([float(np.mean(x)), math.log(scale)]), jac=True, method="L-BFGS-B",
                    bounds=[(float(pts.min()) - 10.0 * scale, float(pts.max()) + 10.0 * scale),
                            (math.log(scale) - 12.0, math.log(scale) + 5.0)], options={"ftol": 1e-13, "gtol": 1e-9})
    return math.exp(2.0 * float(best.x[1]))


def _draw_statistic(r: dict, group_n: int, size: int, follow=None, rng=None) -> tuple[float, float]:
    """(x, w) of row ``r`` in one whole-design draw: its statistic on the scale its draws' variance is taken on
    (:data:`LOG_SCALE_MEASURES` on the log scale) and that draw's own sampling variance of it at the draw's size
    (NaN where undefined: an empty group, a median not reached, a hazard ratio of 0 or +inf; :func:`_draw_censoring`
    gives the last two as censored draws). Rates: binomial,
    p (100 - p) / (k - 1) percent^2 among the row's k patients (unbiased; the arm's ``size`` for a randomized or
    followed share); means and other rows: the squared standard error behind the row's Student-t CI; a hazard ratio:
    its Wald variance of log HR (the inverse Cox information, from its CI); a Kaplan-Meier median: the variance of
    its log over :data:`DRAW_MEDIAN_RESAMPLES` bootstrap resamples of the group's (time, relapsed?) ``follow`` with
    ``rng`` (NaN when fewer than half of them reach the median: it has no SE of its own)."""
    nan = float("nan")
    m = r["measure"]
    v = float(r["value"]) if r["value"] is not None else nan
    if not math.isfinite(v) or (group_n == 0 and m not in _ARM_FRACTIONS):
        return nan, nan
    if m == "relapse_hazard_ratio":
        lo, hi = (float(c) for c in r["ci95"])
        if not (v > 0.0 and lo > 0.0 and math.isfinite(hi)):
            return nan, nan
        return math.log(v), ((math.log(hi) - math.log(lo)) / (2.0 * float(stats.norm.ppf(0.975)))) ** 2
    if m == "time_to_relapse":
        if v <= 0.0 or follow is None:
            return nan, nan
        t, e = np.asarray(follow[0], float), np.asarray(follow[1], bool)
        grid = np.unique(t)
        idx = rng.integers(0, t.size, size=(DRAW_MEDIAN_RESAMPLES, t.size))
        med = km_median_rows(*visit_grid_counts(idx, np.searchsorted(grid, t), e, grid.size), grid / 24.0)
        med = med[np.isfinite(med) & (med > 0.0)]
        w = float(np.var(np.log(med), ddof=1)) if med.size >= DRAW_MEDIAN_RESAMPLES / 2 else nan
        return math.log(v), w
    if m.endswith("_rate") or m in _ARM_FRACTIONS:
        k = size if m in _ARM_FRACTIONS else group_n
        return v, v * (100.0 - v) / max(k - 1, 1)
    lo, hi = (float(c) for c in (r.get("ci95") or (nan, nan)))
    se = (hi - lo) / 2.0 / float(stats.t.ppf(0.975, max(group_n - 1, 1)))
    return v, se * se if math.isfinite(se) else nan


def _draw_censoring(r: dict, group_n: int, follow=None) -> tuple[float, float]:
    """(x, c) of a whole-design draw's row that :func:`_draw_statistic` leaves undefined but whose statistic is known
    to lie beyond a point (:func:`net_draw_variance` fits such draws as censored), else (NaN, NaN), on the log scale:

    * a Kaplan-Meier median not reached (fewer than half of a non-empty group relapsed): (+inf, log of the group's
      last follow-up time in days): its median lies beyond the follow-up (right-censored there, as a survival time
      is; the follow-up is the same fixed design time in every draw);
    * a hazard ratio whose Cox estimate is +inf or 0 (the relapse times separate the groups, or one group had no
      relapse) and that has a ``profile_bound95`` (:func:`cox_profile_bound`): (+inf, log lo) or (-inf, log hi):
      censored at its one-sided profile-likelihood 95 % bound, the least extreme ratio its data do not reject. The
      estimate itself is infinite, so any finite point is beyond it; the bound is the data's own statement of how far
      it at least lies, and a nearer point (e.g. the last finite draw) would claim less than they show, a farther one
      (e.g. the profile's 50 % point) more than a 2-patient group can. It depends on the draw's data (not a fixed
      censoring time), which the Tobit model does not assume: an approximation, chosen over leaving these draws out,
      which biased the variance low where separation is common (small groups, few relapses). A ratio with no bound
      (nobody relapsed, or the likelihood never falls 1.92 below its supremum) and an empty group stay left out."""
    nan = float("nan")
    m = r["measure"]
    if r["value"] is not None and math.isfinite(float(r["value"])):
        return nan, nan
    if m == "time_to_relapse" and group_n > 0 and follow is not None and np.size(follow[0]):
        last = float(np.max(follow[0])) / 24.0
        return (math.inf, math.log(last)) if last > 0.0 else (nan, nan)
    if m == "relapse_hazard_ratio":
        limit = _COX_LIMITS.get(str(r.get("note", "")).rpartition("the Cox estimate is ")[2])
        b = r.get("profile_bound95")
        if limit is not None and b:
            if limit == math.inf and b[0] is not None and b[0] > 0.0:
                return math.inf, math.log(float(b[0]))
            if limit == 0.0 and b[1] is not None and 0.0 < float(b[1]) < math.inf:
                return -math.inf, math.log(float(b[1]))
    return nan, nan


def empirical_prediction_intervals(tr: TrialResult, draws: dict, size: int, *, chunk: int = 10000, executor=None,
                                   model=None, log=None) -> None:
    """Add ``pi95`` to every non-PK endpoint row and every non-PK comparison of a randomized-withdrawal trial or an
    open-label follow-up, and set ``tr.uncertainty`` (``method: "whole_design"``).

    Not per-row analytic (unlike :func:`prediction_intervals`): who responds/remits and is randomized or followed
    is itself random, so a relapse rate's denominator, a Kaplan-Meier median's risk set and a relapse-rate
    difference have no closed-form sampling error to add to the draws' spread. Instead each draw i runs the WHOLE
    design (induction, the response/remission or stable-response selection, the 1:1 randomization, relapse
    counting, comparisons) as one new virtual trial of ``size`` patients per arm, with parameter set i (posterior
    draw x trial effect) and its own seed (:func:`draw_trial_seed`: new patients, rater noise, randomization). A
    row's interval is the empirical 2.5-97.5 % range of that statistic over the draws, so it combines parameter
    uncertainty, between-trial heterogeneity and the new trial's own sampling error in one distribution
    (:func:`_empirical_interval`; widened to contain the central value; a median not reached in a draw counts as
    longer than the follow-up). The point estimates (``value``, ``ci95``, p-values) are the central run's, unchanged.
    Cost: k full trials (~k x the central run's CPU time). The range of k draws covers ~(k - 1)/(k + 1) of the
    distribution and its ends are noisy: use k >= :data:`MIN_WHOLE_DESIGN_DRAWS` (``log`` says so otherwise).

    Also sets ``tr.draw_variance`` (what ``ketasim.observed`` widens a published trial's row by) for every endpoint
    row and every hazard-ratio comparison: the draws' variance of the row's statistic net of each draw's own
    sampling error (:func:`net_draw_variance` of :func:`_draw_statistic`; on the log scale for a median time to
    relapse and a hazard ratio, :data:`LOG_SCALE_MEASURES`), ``tr.draw_variance_draws`` (how many draws it rests
    on: draws where the row is undefined, an empty group or a ratio with no bound, are left out of it) and
    ``tr.draw_variance_censored`` (how many of them are censored: a median not reached, a ratio of 0 or +inf,
    :func:`_draw_censoring`; fitted as censored by :func:`net_draw_variance`)."""
    sets = draws["sets"]
    rows = [r for r in tr.endpoints if "analyte" not in r]
    comps = [c for c in tr.comparisons if "ci90" not in c]
    row_index = {_row_key(r): j for j, r in enumerate(rows)}
    comp_index = {_comparison_key(c): j for j, c in enumerate(comps)}
    vals = np.full((len(sets), len(rows) + len(comps)), np.nan)
    # each draw's statistic and its own sampling variance (_draw_statistic): the observed rows' draws' variance
    stat, within = np.full(vals.shape, np.nan), np.full(vals.shape, np.nan)
    censor = np.full(vals.shape, np.nan)        # where a draw's statistic is censored (_draw_censoring)
    draw_seed = draws["info"]["draw_seed"]
    if log is not None:
        log(f"ketasim: prediction intervals: {len(sets)} whole-trial draws of {size:,} patients per arm"
            + (f"; the 2.5-97.5 % range of fewer than {MIN_WHOLE_DESIGN_DRAWS} draws under-covers (use --uncertainty "
               f"{MIN_WHOLE_DESIGN_DRAWS} or more)" if len(sets) < MIN_WHOLE_DESIGN_DRAWS else ""))
    for i, p in enumerate(sets):
        sub = _run_trial(tr.scenario, p, size, draw_trial_seed(tr.seed, draw_seed, i), None, chunk, executor, model,
                         skip_pk=True)
        rng = np.random.default_rng([int(tr.seed), int(draw_seed), i, 1])     # the draw's median bootstraps
        for r in sub.endpoints:
            j = row_index.get(_row_key(r))
            if j is not None:
                group_n = int(r.get("n", sub.outcomes[r["arm"]].n))
                vals[i, j] = _draw_value(r, group_n)
                follow = sub.relapse_times.get(r["arm"])
                stat[i, j], within[i, j] = _draw_statistic(r, group_n, size, follow, rng)
                if math.isnan(stat[i, j]):
                    stat[i, j], censor[i, j] = _draw_censoring(r, group_n, follow)
        for c in sub.comparisons:
            j = comp_index.get(_comparison_key(c))
            if j is not None:
                vals[i, len(rows) + j] = _draw_value(c, 1)
                if c["measure"] == "relapse_hazard_ratio":     # the one comparison an observed file compares
                    stat[i, len(rows) + j], within[i, len(rows) + j] = _draw_statistic(c, 1, size)
                    if math.isnan(stat[i, len(rows) + j]):
                        stat[i, len(rows) + j], censor[i, len(rows) + j] = _draw_censoring(c, 1)
    for j, r in enumerate(rows + comps):        # the central run's value read as the draws' (not reached = +inf)
        central = _draw_value(r, int(r.get("n", tr.outcomes[r["arm"]].n)) if j < len(rows) else 1)
        r["pi95"] = _empirical_interval(vals[:, j], central)
        key = _row_key(r) if j < len(rows) else comparison_draw_key(r)
        tr.draw_variance[key], tr.draw_variance_draws[key] = net_draw_variance(stat[:, j], within[:, j],
                                                                               censor[:, j])
        tr.draw_variance_censored[key] = int((np.isinf(stat[:, j]) & np.isfinite(censor[:, j])).sum())
    defined = ~np.isnan(vals)
    tr.uncertainty = {**draws["info"], "draw_patients_per_arm": int(size),
                      "defined_draws_min": int(defined.sum(axis=0).min()) if vals.size else 0,
                      "contains": pi_scope(draws["info"]),
                      "comparisons": "between-arm differences: pi95 from the same whole-trial draws; p-values: "
                                     "this virtual trial's sampling error only"}


def _pk_endpoints(frames: dict, measures, design: dict, kind: str, rows: list, comps: list, comparators=()) -> None:
    """PK endpoint rows (geometric means, Tmax medians) of every arm and, against the control arm, geometric mean
    ratios with 90 % CIs (paired in a crossover: the same patients in every period), as a DDI study reports."""
    from .nca import ratio_rows, summary_rows

    for df in frames.values():
        rows += summary_rows(df, measures)
    names = list(frames)
    if len(names) > 1 and kind in ("parallel", "crossover"):
        ctrl = _control_arm(names, design, comparators)
        for nme in names:
            if nme != ctrl:
                comps += ratio_rows(frames[nme], frames[ctrl], paired=kind == "crossover", measures=measures)


# ---- crossover with carry-over (periods in sequence) -----------------------------------------------------------------
def _carry_over_setup(design: dict, scenario: Scenario, times: np.ndarray) -> float | None:
    """``design.period_interval`` (h) of a crossover whose periods follow each other in time, else None (periods
    simulated independently, as if the washout were complete). Refused in one line: an arm whose doses outlast the
    interval, an endpoint at or after the next period's start, arms with their own comedications or a titration
    rule, a background oral antidepressant (it would run on into the next period)."""
    from .regimen import Drug

    if design.get("period_interval") is None:
        return None
    interval = parse_time_h(design["period_interval"], "design.period_interval")
    for arm in scenario.arms:
        if arm.comedications:
            raise InputError(f"arms.{arm.name}.comedications: a crossover with design.period_interval simulates the "
                             "periods in one run per sequence, so a comedication cannot belong to one period; "
                             "leave period_interval out (independent periods) for an interaction study")
        if arm.titration is not None:
            raise InputError(f"arms.{arm.name}.titration: not supported with design.period_interval")
        if any(d.drug is Drug.ORAL_ANTIDEPRESSANT for d in arm.doses):
            raise InputError(f"arms.{arm.name}: a background oral antidepressant would continue into the next period; "
                             "give it as population-wide treatment or leave design.period_interval out")
        adm = arm.administrations()
        end = max((a.start_h + a.duration_h for a in adm), default=0.0)
        if end >= interval:
            raise InputError(f"design.period_interval: arm {arm.name}'s doses run until {end / 24:g} d, at or after "
                             f"the next period's start ({interval / 24:g} d)")
    if times[-1] >= interval:
        raise InputError(f"design.period_interval: the last endpoint ({times[-1] / 24:g} d) must come before the next "
                         f"period starts ({interval / 24:g} d after the previous one)")
    return interval


def _carry_over_outcomes(scenario, spec, patients, times, band_times, interval, params, arm_seeds, noise_sd, smax,
                         progress, done, total, chunk, executor, model) -> dict:
    """Per-arm outcomes of a crossover whose periods follow each other ``interval`` h apart.

    Patients are allocated to k sequences (patient i to sequence i mod k; Latin-square rotations: sequence s gives
    arm (s + p) mod k in period p). Each sequence is ONE continuous simulation of all its periods, so what an
    earlier period leaves (drug effect, expectancy, tolerance) carries over into the next. Each arm's outcome holds,
    per patient, the period in which the patient received it: times relative to that period's first dose, and the
    period's own baseline (the rating just before it: a crossover's change is from the period baseline). The
    percentile bands of an arm are those of the sequence that gives it first (no carry-over)."""
    import warnings

    from .engine import _arm_events
    from .errors import DoseWarning
    from .regimen import Arm

    arms = list(scenario.arms)
    k, n = len(arms), patients.n
    seq = np.arange(n) % k
    all_times = np.unique(np.concatenate([p * interval + times for p in range(k)]))
    parts = {a.name: {} for a in arms}
    for s in range(k):
        order = [(s + p) % k for p in range(k)]
        with warnings.catch_warnings():          # every level was checked (and warned about) when read
            warnings.simplefilter("ignore", DoseWarning)
            doses = tuple(dataclasses.replace(d, at_h=d.at_h + p * interval)
                          for p, a in enumerate(order) for d in arms[a].doses)
        seq_arm = Arm(f"sequence {s + 1}", doses)
        idx = np.flatnonzero(seq == s)
        rng = np.random.default_rng(arm_seeds[s])
        o = _simulate_outcome(seq_arm.name, seq_arm, spec, patients.take(idx), all_times, band_times, params,
                              scenario.experiment, rng, noise_sd, smax, progress, done, total, chunk,
                              executor=executor, model=model, bp_limit=predose_bp_limit(scenario.design))
        st = np.asarray(_arm_events(params, seq_arm, spec.general_anesthesia)[2], float)
        if st.size != o.sessions.shape[1]:
            raise RuntimeError(f"{seq_arm.name}: {st.size} session times for {o.sessions.shape[1]} session summaries")
        for p, a in enumerate(order):
            cols = np.searchsorted(all_times, p * interval + times)
            period_sessions = (st >= p * interval) & (st < (p + 1) * interval)
            rating = o.rating[:, cols]               # fancy indexing: copies; column 0 is the period's baseline
            parts[arms[a].name][s] = (idx, rating[:, 0], rating, o.model_score[:, cols], o.sessions[:, period_sessions],
                                      o.bands.assign(arm=arms[a].name) if p == 0 else None, o)
    out = {}
    for a in arms:
        pieces = parts[a.name]
        first = next(v for v in pieces.values())
        n_sess = first[4].shape[1]
        base, rating = np.empty(n), np.empty((n, times.size))
        score, sess = np.empty((n, times.size)), np.empty((n, n_sess, first[4].shape[2]))
        sbp0, dbp0, female, age = np.empty(n), np.empty(n), np.zeros(n, bool), np.empty(n)
        factor = None if first[6].reading_sd_factor is None else np.empty((n, 2))
        bands = None
        for idx, b, r, sc, ss, bd, o in pieces.values():
            base[idx], rating[idx], score[idx], sess[idx] = b, r, sc, ss
            sbp0[idx], dbp0[idx], female[idx], age[idx] = o.sbp0, o.dbp0, o.female, o.age_years
            if factor is not None:
                factor[idx] = o.reading_sd_factor
            bands = bd if bd is not None else bands
        out[a.name] = ArmOutcome(a.name, times, base, rating, score, sess, bands, sbp0, dbp0, female,
                                 age_years=age, reading_sd_factor=factor)
    return out


# ---- open-label follow-up of responders (no re-randomization) -------------------------------------------------------
def _follow_up_setup(design: dict, horizon_h: float) -> dict:
    """Validated follow-up settings of a parallel trial: patients meeting ``criterion`` (response by default, or
    remission) at ``follow_up_from`` are followed at visits every ``follow_up_every`` (default 7 d) until
    ``follow_up_until`` (default: the trial's horizon, :func:`_trial_grid`'s: not cut by ``output.until``). Relapse: a rating >= ``relapse_score`` if given, else LOSS
    OF RESPONSE (reduction from baseline below the response reduction, as open-label series define it: e.g.
    Murrough 2013, Biol Psychiatry 74:250, doi:10.1016/j.biopsych.2012.06.022, relapse = < 50 % improvement at two
    consecutive visits), confirmed at ``relapse_consecutive`` consecutive visits (default 1)."""
    t0 = parse_time_h(design["follow_up_from"], "design.follow_up_from")
    every = parse_time_h(design.get("follow_up_every") or "7 d", "design.follow_up_every")
    until = (parse_time_h(design["follow_up_until"], "design.follow_up_until") if design.get("follow_up_until")
             else max(horizon_h, t0 + every))
    if until < t0 + every:
        raise InputError(f"design.follow_up_until: the follow-up ends before its first visit "
                         f"({(t0 + every) / 24:g} d); give a later follow_up_until or a shorter follow_up_every")
    visits = np.arange(t0, until + 1e-9, every)
    if visits.size > 1000:
        raise InputError(f"design.follow_up_every: {visits.size} follow-up visits; at most 1000")
    confirm = design.get("relapse_consecutive", 1)
    if isinstance(confirm, bool) or not isinstance(confirm, int) or not 1 <= confirm <= 6:
        raise InputError(f"design.relapse_consecutive: must be a whole number from 1 to 6, got {confirm!r}")
    return {"t0": t0, "visits": visits, "criterion": design.get("criterion") or "response",
            "relapse": design.get("relapse_score"), "confirm": int(confirm)}


def _follow_up_analysis(follow, outcomes, design, ep, scale, measures, rows, comps, rows_only,
                        comparators=(), relapse: dict | None = None) -> None:
    """Rows per arm: ``followed_fraction`` (share meeting the criterion at follow_up_from), ``relapse_rate`` (share
    of them relapsing by the last visit) and ``time_to_relapse`` (Kaplan-Meier median in days, censored at the last
    visit); against the control arm the relapse-rate difference with a log-rank p. Patients are not re-randomized:
    the followed groups are whoever responded in each arm (as open-label series report them)."""
    thr = _remission_threshold(ep, scale, required=follow["criterion"] == "remission")
    t0 = follow["t0"]
    km = {}
    for name, o in outcomes.items():
        j0 = int(np.searchsorted(o.times_h, t0))
        base = o.baseline
        entry = (o.rating[:, j0] <= thr) if follow["criterion"] == "remission" else \
            _responders(o.rating[:, j0], base, ep)
        ids = np.flatnonzero(entry)
        sel = np.isin(o.times_h, follow["visits"]) & (o.times_h > t0)
        after, tv = o.rating[np.ix_(ids, np.flatnonzero(sel))], o.times_h[sel]
        if follow["relapse"] is not None:
            above = after >= follow["relapse"]
        else:                                        # loss of response
            above = ~_responders(after, base[ids, None], ep)
        t_ev, event = km[name] = _time_to_relapse(_confirmed(above, follow["confirm"]), tv, t0)
        if relapse is not None:
            relapse[name] = km[name]
        rows.append({"arm": name, "time_h": float(t0), "scale": scale, "measure": "followed_fraction",
                     "value": 100.0 * ids.size / max(o.n, 1), "ci95": list(wilson_ci(int(ids.size), o.n)),
                     "criterion": follow["criterion"]})
        if "relapse_rate" in measures:
            k = int(event.sum())
            rows.append({"arm": name, "time_h": float(tv[-1]) if tv.size else None, "scale": scale,
                         "measure": "relapse_rate", "value": 100.0 * k / ids.size if ids.size else float("nan"),
                         "ci95": list(wilson_ci(k, ids.size)) if ids.size else [float("nan")] * 2, "n": int(ids.size)})
        if "time_to_relapse" in measures:
            if ids.size:
                med, ci = km_median(t_ev, event)
                val, c = med / 24.0, [ci[0] / 24.0, ci[1] / 24.0]
            else:
                val, c = float("nan"), [float("nan")] * 2
            rows.append({"arm": name, "time_h": None, "scale": scale, "measure": "time_to_relapse", "value": val,
                         "ci95": c, "unit": "d (Kaplan-Meier median)", "n": int(ids.size)})
    names = list(outcomes)
    if rows_only or len(names) < 2:
        return
    ctrl = _control_arm(names, design, comparators)
    for nme in names:
        c = None if nme == ctrl else _relapse_comparison(
            nme, ctrl, km[nme], km[ctrl], scale, "log-rank (time to relapse among the followed patients)")
        if c is not None:
            comps.append(c)
            h = _hazard_ratio_comparison(nme, ctrl, km[nme], km[ctrl], scale)
            if h is not None:
                comps.append(h)


# ---- response-guided dosing (titration) -----------------------------------------------------------------------------
#: most dose paths listed in a titrated arm's ``titration.paths`` (the most frequent first)
MAX_LISTED_PATHS = 20


def dose_rows(o: ArmOutcome) -> list[dict]:
    """Endpoint rows of a titrated arm: the share of patients (%) at each final dose level, with Wilson 95 % CIs
    (``measure: final_dose_rate``, ``scale: dose``, ``dose_level`` e.g. "84 mg", ``time_h`` the last decision
    session, from which the final dose is given). No rows for an arm without a titration rule."""
    if o.titration is None or o.dose_levels is None or o.dose_levels.shape[1] == 0:
        return []
    final = o.dose_levels[:, -1]
    t_last = float(o.decision_times_h[-1]) if len(o.decision_times_h) else None
    rows = []
    for k in range(len(o.titration.levels)):
        c = int(np.sum(final == k))
        rows.append({"arm": o.name, "time_h": t_last, "scale": "dose", "measure": "final_dose_rate",
                     "dose_level": o.titration.level_text(k), "value": 100.0 * c / max(o.n, 1),
                     "ci95": [float(x) for x in wilson_ci(c, o.n)]})
    return rows


def titration_summary(o: ArmOutcome) -> dict:
    """The ``titration`` block of a titrated arm in the trial JSON: the rule, the share at each final dose and the
    most frequent dose paths (the dose from the first session and from each decision session)."""
    tit = o.titration
    n = max(o.n, 1)
    final = o.dose_levels[:, -1]
    paths, counts = np.unique(o.dose_levels, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:MAX_LISTED_PATHS]
    crit = lambda cs: {f"{name}_{op}": value for name, op, value in cs}     # noqa: E731
    block = {"doses": [tit.level_text(k) for k in range(len(tit.levels))], "start": tit.level_text(tit.start),
            "sessions": list(tit.sessions), "session_times_h": [float(t) for t in o.decision_times_h],
            "increase_if": crit(tit.increase), "decrease_if": crit(tit.decrease),
            "final_dose_percent": {tit.level_text(k): 100.0 * int(np.sum(final == k)) / n
                                   for k in range(len(tit.levels))},
            "paths": [{"doses": [tit.level_text(tit.start)] + [tit.level_text(int(k)) for k in paths[i]],
                       "n": int(counts[i]), "percent": 100.0 * int(counts[i]) / n} for i in order],
            "decided_on": "noise-free model score at the rating just before the decision session; side-effect "
                          "peaks of the previous session"}
    # extensions, stated only when used (a rule with one list of sessions deciding on the model score keeps its block)
    if tit.separate_sessions:
        block["increase_sessions"] = [s for s in tit.sessions if tit.increases_at(s)]
        block["decrease_sessions"] = [s for s in tit.sessions if tit.decreases_at(s)]
    if tit.decide_on == "rating":
        sd = o.decision_noise_sd
        block["decide_on"] = "rating"
        block["decision_rating_noise_sd"] = round(float(sd), 9)   # points: 0.06 x 60 is 3.6, not 3.5999999999999996
        block["decided_on"] = (f"the recorded rating just before the decision session (model score"
                               f"{' + the fluctuation of true severity' if sd > 0 else ''} + rater noise "
                               f"SD {sd:g} points, rounded, within the scale; reduction from the baseline rating); "
                               "side-effect peaks of the previous session")
    return block


# ---- randomized withdrawal -------------------------------------------------------------------------------------------
WITHDRAWAL_CRITERIA = ("response", "remission", "stable_response", "stable_remission", "stratified")
#: the groups each ``design.criterion`` randomizes, as the trial names them: with two (``stratified``) every row and
#: comparison carries its group in ``stratum`` and its arm is named "ARM [STRATUM]"; with one the rows carry none
#: (``ketasim.observed`` reads an observed file's ``stratum`` column against these)
WITHDRAWAL_STRATA = {"response": ("responders",), "remission": ("remitters",),
                     "stable_response": ("stable responders without remission",),
                     "stable_remission": ("stable remitters",),
                     "stratified": ("stable remitters", "stable responders without remission")}


def _withdrawal_setup(design: dict, scenario: Scenario, last_endpoint_h: float) -> dict:
    """Validated randomized-withdrawal settings.

    ``criterion``: ``response`` / ``remission`` at the randomization visit; ``stable_remission`` — remission at
    >= ``stable_min`` of the last ``stable_visits`` weekly visits (SUSTAIN-1: 3 of the last 4); ``stable_response``
    — response at the last ``stable_min_response`` visits without stable remission (the responder-without-remission
    stratum); ``stratified`` — both strata randomized and analysed separately. Relapse is a rating >=
    ``relapse_score`` confirmed at ``relapse_consecutive`` consecutive visits (default 2 for the stable criteria,
    as maintenance trials define it; 1 otherwise)."""
    names = [a.name for a in scenario.arms]
    for key in ("continue", "withdraw"):
        if design.get(key) not in names:
            raise InputError(f"design.{key}: must name one of the arms ({', '.join(names)})")
    if len(names) != 2:
        raise InputError("design: a randomized_withdrawal trial has exactly two arms (continue and withdraw)")
    if design.get("continue") == design.get("withdraw"):
        # both named one arm: the other arm was never analysed and the trial compared the arm with itself
        other = next(n for n in names if n != design.get("continue"))
        raise InputError(f"design.withdraw: names the same arm as design.continue ({design.get('continue')}); the "
                         f"withdraw arm is the other one ({other})")
    t_rand = parse_time_h(design.get("induction_until", DEFAULT_INDUCTION_UNTIL), "design.induction_until")
    crit = design.get("criterion", "response")
    if crit not in WITHDRAWAL_CRITERIA:
        raise InputError(f"design.criterion: use one of {', '.join(WITHDRAWAL_CRITERIA)}")
    stable = crit.startswith("stable") or crit == "stratified"

    def whole(key, default, lo, hi):
        v = design.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not (lo <= v <= hi):
            raise InputError(f"design.{key}: must be a whole number from {lo} to {hi}, got {v!r}")
        return int(v)

    n_stable = whole("stable_visits", 4, 1, 12)
    k_stable = whole("stable_min", 3 if n_stable >= 3 else n_stable, 1, n_stable)
    k_resp = whole("stable_min_response", min(2, n_stable), 1, n_stable)
    confirm = whole("relapse_consecutive", 2 if stable else 1, 1, 6)
    try:
        relapse = float(design.get("relapse_score", 22))
    except (TypeError, ValueError):
        raise InputError("design.relapse_score: must be a number") from None
    if not math.isfinite(relapse) or relapse <= 0:
        raise InputError("design.relapse_score: must be a positive number")
    # the trial's own end: the last endpoint time or 14 d after the last dose (at least 28 d). Not
    # scenario.horizon_h alone: `output: {until: ...}` sets that, and a trajectory-output setting cut the relapse
    # follow-up short (until: 22 d counted relapses at 14 and 21 d of an 8-week trial); a longer `until` still
    # extends it, as before
    dose_end = default_horizon_h(scenario.arms)
    horizon = max(scenario.horizon_h, dose_end, last_endpoint_h)
    visits = np.arange(t_rand, horizon + 1e-9, 168.0)
    if not np.any(visits > t_rand + 1e-9):
        # no visit could count a relapse: every arm reported 'n/a' (or, with a rate measure, ZeroDivisionError)
        if horizon == last_endpoint_h:
            why = "the last endpoint time"
        elif horizon == dose_end:
            why = ("a trial lasts at least 28 d" if dose_end == 28 * 24.0
                   else f"14 d after the last dose at {fmt_hours(dose_end - 14 * 24.0)}")
        else:
            why = "output.until"
        raise InputError(f"design.induction_until: randomization at {fmt_hours(t_rand)} leaves no weekly follow-up "
                         f"visit before the trial ends at {fmt_hours(horizon)} ({why}); give doses or endpoint times "
                         "after randomization, or randomize earlier")
    pre = t_rand - 168.0 * np.arange(n_stable)[::-1]     # weekly visits up to and including randomization
    pre = pre[pre >= 0]
    return {"t_rand": t_rand, "criterion": crit, "relapse": relapse, "visits": np.unique(np.concatenate([pre, visits])),
            "pre_visits": pre, "stable_min": k_stable, "stable_min_response": k_resp, "confirm": confirm}


def _strata(cont: ArmOutcome, extra: dict, ep: Endpoints, scale: str) -> dict[str, np.ndarray]:
    """Patients eligible for randomization, by stratum (boolean masks over patients)."""
    thr = _remission_threshold(ep, scale, required=extra["criterion"] != "response")
    pre = np.searchsorted(cont.times_h, extra["pre_visits"])
    r = cont.rating[:, pre]
    resp = _responders(r, cont.baseline[:, None], ep)
    remit = r <= (thr if thr is not None else -1.0)
    crit = extra["criterion"]
    names = WITHDRAWAL_STRATA[crit]
    if crit == "response":
        return {names[0]: resp[:, -1]}
    if crit == "remission":
        return {names[0]: remit[:, -1]}
    stable_remission = remit.sum(axis=1) >= min(extra["stable_min"], remit.shape[1])
    k = min(extra["stable_min_response"], resp.shape[1])
    stable_response = resp[:, -k:].all(axis=1) & ~stable_remission
    if crit == "stable_remission":
        return {names[0]: stable_remission}
    if crit == "stable_response":
        return {names[0]: stable_response}
    return dict(zip(names, (stable_remission, stable_response)))


def _confirmed_relapse(after: np.ndarray, relapse: float, k: int) -> np.ndarray:
    """(n, V) True at the visit where a relapse (>= ``relapse`` at ``k`` consecutive visits) is confirmed."""
    return _confirmed(after >= relapse, k)


def _time_to_relapse(rel: np.ndarray, tv: np.ndarray, t0: float) -> tuple[np.ndarray, np.ndarray]:
    """Per patient from the (n, V) confirmed-relapse flags at visit times ``tv``: (time from ``t0`` to the visit
    confirming the relapse, else to the last visit (censored); relapsed?)."""
    event = rel.any(axis=1)
    if not tv.size:
        return np.zeros(rel.shape[0]), event
    return np.where(event, tv[np.argmax(rel, axis=1)] - t0, tv[-1] - t0), event


def _relapse_comparison(arm: str, versus: str, km_a, km_b, scale: str, test: str, label=None) -> dict | None:
    """``relapse_rate_difference`` of two groups' (time, event) with a log-rank p (censored at the last visit);
    None when a group is empty."""
    (ta, ea), (tb, eb) = km_a, km_b
    if not ta.size or not tb.size:
        return None
    v, ci, _ = _proportion_difference(ea, eb)
    return {"arm": arm, "versus": versus, **(label or {}), "time_h": None, "scale": scale,
            "measure": "relapse_rate_difference", "value": v, "ci95": ci, "p_value": logrank_p(ta, ea, tb, eb),
            "test": test}


#: a likelihood-ratio 95 % bound lies where the log-likelihood falls this far below its maximum (or supremum):
#: chi-square(1)'s 95 % quantile / 2 = 1.92
LR_DROP_95 = 0.5 * float(stats.chi2.ppf(0.95, 1))
#: |log HR| within which :func:`cox_profile_bound` evaluates the partial likelihood (its supremum of a monotone
#: likelihood is approached to ~e^-200 there)
_PROFILE_BETA_LIMIT = 200.0


def efron_log_likelihood(beta: float, d1, r1, d0, r0) -> float:
    """Cox partial log-likelihood (Efron's ties) at log HR ``beta`` of group 1 vs group 0 from their relapse and
    at-risk counts at common grid times (1-D arrays): d1 beta - sum over times and l < d of log(R - l D / d), R the
    at-risk and D the relapsing groups' summed risk scores, each term as logaddexp(log a, beta + log b) with
    a = r0 - l d0 / d and b = r1 - l d1 / d (both >= 0), so it stays exact at an absolute beta in the hundreds, where a
    monotone likelihood reaches its supremum."""
    d1, r1, d0, r0 = (np.asarray(a, float) for a in (d1, r1, d0, r0))
    d = d1 + d0
    ev = d > 0
    d1, r1, d0, r0, d = d1[ev], r1[ev], d0[ev], r0[ev], d[ev]
    ll = float(beta * d1.sum())
    lvals = np.arange(int(d.max()) if d.size else 0)
    if not lvals.size:
        return ll
    frac = lvals[None, :] / d[:, None]
    keep = lvals[None, :] < d[:, None]
    with np.errstate(divide="ignore"):
        la, lb = np.log(np.maximum(r0[:, None] - frac * d0[:, None], 0.0)), \
            np.log(np.maximum(r1[:, None] - frac * d1[:, None], 0.0))
    return ll - float(np.logaddexp(la, beta + lb)[keep].sum())


def cox_profile_bound(time_a, event_a, time_b, event_b, infinite: bool) -> list[float] | None:
    """One-sided likelihood-ratio 95 % interval of a hazard ratio whose Cox estimate is 0 or infinite (``infinite``;
    a monotone partial likelihood: one group had no relapse, or the relapse times separate the groups,
    :func:`cox_hazard_ratio`), as [lo, +inf] or [0, hi]: the bound is where the partial log-likelihood
    (:func:`efron_log_likelihood`; with one covariate it is its own profile) falls :data:`LR_DROP_95` below its
    supremum on that side (approached within log HR +-:data:`_PROFILE_BETA_LIMIT`): the likelihood-ratio test's
    inversion, the ratios it does not reject at 5 %, which needs no finite maximum, unlike the Wald CI. None when a
    group is empty or nobody relapsed, or when the likelihood never falls that far (the data rule nothing out)."""
    from scipy.optimize import brentq, minimize_scalar

    ta, tb = np.asarray(time_a, float), np.asarray(time_b, float)
    ea, eb = np.asarray(event_a, bool), np.asarray(event_b, bool)
    if not ta.size or not tb.size or not (ea.any() or eb.any()):
        return None
    grid = np.unique(np.concatenate([ta, tb]))
    (d1, r1), (d0, r0) = (visit_grid_counts(np.arange(t.size)[None, :], np.searchsorted(grid, t), e, grid.size)
                          for t, e in ((ta, ea), (tb, eb)))
    counts = (d1[0], r1[0], d0[0], r0[0])
    lim = _PROFILE_BETA_LIMIT if infinite else -_PROFILE_BETA_LIMIT
    # the supremum on the estimate's side (at the far end, or a maximum just past MAX_COX_LOG_HR, which reads as
    # monotone too)
    best = minimize_scalar(lambda b: -efron_log_likelihood(b, *counts), bounds=sorted((0.0, lim)), method="bounded",
                           options={"xatol": 1e-6})
    sup, at = max((efron_log_likelihood(b, *counts), b) for b in (lim, float(best.x)))
    if efron_log_likelihood(-lim, *counts) > sup - LR_DROP_95:
        return None
    beta = brentq(lambda b: efron_log_likelihood(b, *counts) - (sup - LR_DROP_95), *sorted((-lim, at)), xtol=1e-10)
    return [math.exp(beta), math.inf] if infinite else [0.0, math.exp(beta)]


def profile_bound_text(c: dict) -> str:
    """'; profile-likelihood 95% bound: HR > 3.2' (or '< 0.31') for an undefined ratio row with a bound, else ''."""
    b = c.get("profile_bound95")
    if not b:
        return ""
    return "; profile-likelihood 95% bound: HR " + (f"> {b[0]:.3g}" if b[0] is not None and b[0] > 0 else
                                                     f"< {b[1]:.3g}")


def _hazard_ratio_comparison(arm: str, versus: str, km_a, km_b, scale: str, label=None) -> dict | None:
    """``relapse_hazard_ratio`` of group ``arm`` versus ``versus`` (their (time, event), censored at the last visit):
    :func:`cox_hazard_ratio`, < 1 when ``arm`` relapses less; None when a group is empty (as the rate difference).
    An undefined ratio (nobody relapsed, or one group had no relapse) has NaN value, CI and p and a ``note``; one whose
    estimate is 0 or infinite also ``profile_bound95`` (:func:`cox_profile_bound`: [lo, +inf] or [0, hi]) when the
    likelihood gives a bound."""
    (ta, ea), (tb, eb) = km_a, km_b
    if not ta.size or not tb.size:
        return None
    v, ci, p, why = cox_hazard_ratio(ta, ea, tb, eb)
    # 0 or infinite (a monotone likelihood): the one-sided likelihood-ratio bound the data still give
    limit = why.rpartition("the Cox estimate is ")[2]
    bound = cox_profile_bound(ta, ea, tb, eb, limit == "infinite") if limit in _COX_LIMITS else None
    return {"arm": arm, "versus": versus, **(label or {}), "time_h": None, "scale": scale,
            "measure": "relapse_hazard_ratio", "value": v, "ci95": ci, "p_value": p, "test": COX_TEST,
            **({"note": f"undefined: {why}"} if why else {}), **({"profile_bound95": bound} if bound else {})}


def _confirmed(above: np.ndarray, k: int) -> np.ndarray:
    """(n, V) True at the visit where ``above`` has held at ``k`` consecutive visits."""
    run = np.zeros(above.shape[0], int)
    out = np.zeros_like(above)
    for j in range(above.shape[1]):
        run = np.where(above[:, j], run + 1, 0)
        out[:, j] = run >= k
    return out


def _withdrawal_analysis(design, extra, outcomes, ep, scale, measures, rng, relapse: dict | None = None):
    cont, wd = outcomes[design["continue"]], outcomes[design["withdraw"]]
    t_rand = extra["t_rand"]
    strata = _strata(cont, extra, ep, scale)
    visit_sel = cont.times_h > t_rand
    rows, comps, new = [], [], {}
    for stratum, ok in strata.items():
        idx = np.flatnonzero(ok)
        rng.shuffle(idx)
        half = idx.size // 2
        groups = {cont.name: (cont, idx[:half]), wd.name: (wd, idx[half:])}
        label = {} if len(strata) == 1 else {"stratum": stratum}
        arm_of = {nm: nm if not label else f"{nm} [{stratum}]" for nm in groups}
        km = {}
        for name, (o, ids) in groups.items():
            sub = dataclasses.replace(o, name=arm_of[name], baseline=o.baseline[ids], rating=o.rating[ids],
                                      model_score=o.model_score[ids], sessions=o.sessions[ids], sbp0=o.sbp0[ids],
                                      dbp0=o.dbp0[ids], female=o.female[ids],
                                      age_years=None if o.age_years is None else o.age_years[ids],
                                      reading_sd_factor=None if o.reading_sd_factor is None
                                      else o.reading_sd_factor[ids],
                                      dose_levels=None if o.dose_levels is None else o.dose_levels[ids],
                                      screening=None if o.screening is None else o.screening[ids])
            new[arm_of[name]] = sub
            name = arm_of[name]
            after = sub.rating[:, visit_sel]
            tv = sub.times_h[visit_sel]
            t_ev, event = km[name] = _time_to_relapse(_confirmed_relapse(after, extra["relapse"], extra["confirm"]),
                                                      tv, t_rand)
            if relapse is not None:
                relapse[name] = km[name]
            k = int(event.sum())
            rows.append({"arm": name, **label, "time_h": float(tv[-1]) if tv.size else None, "scale": scale,
                         "measure": "relapse_rate", "value": 100.0 * k / sub.n if sub.n else float("nan"),
                         "ci95": list(wilson_ci(k, sub.n))})
            med, ci = km_median(t_ev, event)
            rows.append({"arm": name, **label, "time_h": None, "scale": scale, "measure": "time_to_relapse",
                         "value": med / 24.0, "ci95": [ci[0] / 24.0, ci[1] / 24.0], "unit": "d (Kaplan-Meier median)"})
            keep = np.isin(sub.times_h, ep.times_h) | (sub.times_h == 0)     # baseline and requested endpoints
            part = []
            _score_endpoints(dataclasses.replace(sub, times_h=sub.times_h[keep], rating=sub.rating[:, keep]),
                             ep, scale, [m for m in measures if m in SCORE_MEASURES], part)
            rows += [{**r, **label} for r in part]
        c = _relapse_comparison(arm_of[cont.name], arm_of[wd.name], km[arm_of[cont.name]], km[arm_of[wd.name]],
                                scale, "log-rank (time to relapse)", label)
        if c is not None:
            comps.append(c)
            h = _hazard_ratio_comparison(arm_of[cont.name], arm_of[wd.name], km[arm_of[cont.name]],
                                         km[arm_of[wd.name]], scale, label)
            if h is not None:
                comps.append(h)
        rows.insert(0, {"arm": arm_of[cont.name], **label, "time_h": float(t_rand), "scale": scale,
                        "measure": "randomized_fraction", "value": 100.0 * idx.size / cont.n,
                        "ci95": list(wilson_ci(int(idx.size), cont.n))})
    return rows, comps, new
