"""Scenarios: the stable YAML contract (docs/contracts.md), loaded into frozen objects.

Structure (types, unknown keys) is checked by pydantic; meaning (units, doses, schedules, ranges) by the
domain objects (``Dose``, ``PopulationSpec``, ``VirtualExperiment``). Every problem surfaces as one
``ScenarioFileError``/``InputError`` line that names the field.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from .engine import VirtualExperiment, default_horizon_h
from . import limits
from .errors import YAML_BOOLEANS, InputError, ScenarioFileError, argument
from .population import (CONDITIONS, DEFAULT_BASELINE, DEFAULT_RECURRENCE_CLOCK, DEFAULT_SCALE, SCALES,  # noqa: F401
                         Distribution, EntrySelection, PopulationSpec, arm_comedications, canonical_scale,
                         check_baseline, check_entry_selection, warn_unreachable_baseline,
                         check_comedications, check_scale_reads, canonical_condition, default_baseline,
                         remission_threshold)
from .regimen import Arm, arm_from_list, parse_drug, parse_route, titration_from_mapping
from .units import parse_time_h

from .vocabulary import DEFAULT_MEASURES, KNOWN_MEASURES, PK_MEASURES, RELAPSE_MEASURES, known_measures_text  # noqa: E402,F401  (defined once, for every layer)


def _bool_refused(ann) -> str | None:
    """What a field of type ``ann`` expects when a YAML boolean is given where it takes no boolean but a number
    (``size: yes`` was read as 1 by pydantic's lax int/float): 'a whole number', 'a number', 'a time with its unit
    ...'; None when the type admits a boolean (bool, Any) or is not a number (text, mappings: pydantic says so)."""
    import typing

    args = [a for a in (typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, types.UnionType)
                        else (ann,)) if a is not type(None)]
    args = [typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a for a in args]   # StrictBool
    if any(a is bool or a is Any for a in args):
        return None
    if int in args:
        return "a whole number"
    if float in args:
        return "a time with its unit, e.g. '24 h'" if str in args else "a number"
    return None


def _list_item_type(ann):
    """The item type of the ``list[...]`` member of ``ann`` (``list[str | float] | None``), else None."""
    import typing

    for a in (typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, types.UnionType) else (ann,)):
        if typing.get_origin(a) is list:
            return typing.get_args(a)[0] if typing.get_args(a) else None
    return None


class _Strict(BaseModel):
    # NaN and infinities are refused in every number of the contract (remission_threshold: NaN, 1e400 ...)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, v, info):
        # YAML's true/yes/on would otherwise be read as 1 (size: yes ran one patient; years, points, kg, fractions)
        ann = cls.model_fields[info.field_name].annotation
        if isinstance(v, bool):
            kind = _bool_refused(ann)
            if kind:
                raise PydanticCustomError("bool_for_number", "must be {kind}, not true/false" + YAML_BOOLEANS,
                                          {"kind": kind})
        elif isinstance(v, list) and (item := _list_item_type(ann)) is not None:
            kind = _bool_refused(item)
            i = next((i for i, x in enumerate(v) if isinstance(x, bool)), None)
            if kind and i is not None:
                raise PydanticCustomError("bool_for_number", "must be {kind}, not true/false" + YAML_BOOLEANS,
                                          {"kind": kind, "index": i})
        return v


class _Dist(_Strict):
    mean: float
    sd: float = 0.0


class _AgeDist(_Dist):
    """``population.age_years``: a normal distribution with an optional inclusion range (truncated normal)."""

    min: float | None = None
    max: float | None = None


#: end of a randomized withdrawal's shared induction when ``design.induction_until`` is not given
DEFAULT_INDUCTION_UNTIL = "4 week"


def _entry_selection(sel, arms, scale: str, base) -> EntrySelection | None:
    """The population's :class:`population.EntrySelection` from ``population.entry_selection`` (None when absent),
    checked against every arm's own baseline too (one-line errors naming the field), and refused with a titration
    that decides on ratings (its fluctuation at the decisions is drawn unselected)."""
    if sel is None:
        return None
    f = "population.entry_selection"
    interval_h = 0.0
    if sel.interval is not None:
        interval_h = parse_time_h(sel.interval, f"{f}.interval", ("h", "d"))
    if sel.at == "screening" and sel.interval is None:
        raise InputError(f"{f}.interval: at: screening needs the time from screening to baseline, e.g. '7 d'")
    out = EntrySelection(min=sel.min, at=sel.at, interval_h=float(interval_h))
    check_entry_selection(out, Distribution(base.mean, base.sd), scale, f)
    for a in arms:
        if a.baseline is not None:
            check_entry_selection(out, Distribution(*a.baseline), scale, f"{f} (arms.{a.name}.baseline)")
        tit = getattr(a, "titration", None)
        if tit is not None and tit.decide_on == "rating":
            raise InputError(f"{f}: not supported with a titration that decides on ratings (arms.{a.name}."
                             "titration.decide_on: rating); remove one of them")
    return out


class _EntrySelection(_Strict):
    """``population.entry_selection`` (a hypothesis, off when absent; fifty-third session): the trial's entry
    criterion, a design fact: patients were enrolled only if their rating was >= ``min`` (points on the scenario's
    scale) at ``at`` (baseline, the default, or screening ``interval`` before the baseline, e.g. '7 d')."""
    min: float
    at: str = "baseline"
    interval: str | None = None


class _Population(_Strict):
    size: int = 1
    condition: str | None = None     # default: the condition the scale reads (SCALES), else depression
    treatment_resistant: bool | None = None     # default: true for depression, false for the other conditions
    scale: str | None = None
    baseline: _Dist | None = None
    weight_kg: _Dist = _Dist(mean=80.0, sd=15.0)
    age_years: _AgeDist = _AgeDist(mean=45.0, sd=12.0)
    female_fraction: float = 0.55
    comedications: list[str] = []
    genotype: str | None = None
    crp_mg_l: float | None = None
    expectancy: float = 1.0
    care_setting: str = "outpatient"
    perception: float = 1.0
    general_anesthesia: bool = False
    p_active: float | None = None
    # from this time on (after trial entry) every arm is open label: participants know they receive ketamine (the
    # design prior of every later session is 1), e.g. an open-label phase after a blinded one (Singh 2016)
    open_label_from: str | float | None = None
    recurrence: bool = True          # a new episode can break through continued treatment (pd.recurrence.*)
    re_response: bool = False        # a hypothesis, off by default: a new episode is relieved again in part by active
                                     # sessions after its onset (needs recurrence)
    recurrence_clock: str = DEFAULT_RECURRENCE_CLOCK  # what T counts: entry (default) | response | recovery (hypotheses)
    antidepressant_spread: bool = False  # a hypothesis, off by default: a newly started antidepressant's relief is
                                         # spread by the patient's non-specific trait (ninth session)
    antidepressant_trd: bool = False     # a hypothesis, off by default: a treatment-resistant population gets
                                         # pd.antidepressant.trd_ratio x a first antidepressant's relief (twelfth)
    visit_contact: bool = False          # a hypothesis, off by default: each session adds a cumulative non-specific
                                         # benefit (free: visit_relief; Posternak & Zimmerman 2007; thirteenth)
    natural_course_spread: bool = False  # a hypothesis, off by default: each patient's natural course is its own
                                         # (free: omega_natural; some patients worsen; sixteenth)
    baseline_rating_noise: bool = False  # a hypothesis, off by default: the baseline rating carries the rater's
                                         # noise like every later rating (population.true_baseline; twenty-first)
    fluctuation_scales_with_severity: bool = False  # a hypothesis, off by default: the fluctuation of true
                                         # severity is partly a share of entry severity (twenty-sixth)
    fluctuation_scales_with_trial_severity: bool = False  # a hypothesis, off by default: the same, read at the
                                         # trial level: the arm's mean baseline sizes it for all (twenty-seventh)
    bdnf_release_pool: bool = True       # on by default (twenty-ninth; false: the earlier model): BDNF release
                                         # spends a releasable pool that refills over hours (the dose plateau)
    bp_reading_sd_scales: bool = True    # on by default since the forty-third session (a hypothesis of the
                                         # forty-second; false: the earlier model): a BP reading's SD grows with the
                                         # patient's age and pre-dose SBP (Schutte 2012)
    entry_selection: _EntrySelection | None = None  # a hypothesis, off when absent (fifty-third): the trial's entry
                                         # criterion {min, at, interval}; regression to the mean of the fluctuation
                                         # selected at entry (population.entry_fluctuation)


#: what a response's reduction may be counted from (``endpoints.response_from``)
RESPONSE_FROM = ("baseline", "screening")


class _Screening(_Strict):
    """The screening rating a trial counts response from (``endpoints.response_from: screening``): its mean and SD
    over the randomized patients (scale points) and its correlation with the baseline rating."""
    mean: float
    sd: float
    correlation: float


class _Endpoints(_Strict):
    times: list[str | float] | None = None
    measures: list[str] = list(DEFAULT_MEASURES)
    remission_threshold: float | None = None
    response_reduction: float = 0.5
    rating_noise: bool = True
    # what a response's reduction is counted from: the baseline (pre-dose) rating, or a screening visit before it
    response_from: str = "baseline"
    screening: _Screening | None = None
    # pharmacokinetic endpoints (ketasim.nca): sampling schedule after the dose, analytes, venous/arterial sample
    pk_sampling: list[str | float] | dict[str, Any] | None = None
    analytes: list[str] | str | None = None
    sample: str | None = None


class _Output(_Strict):
    every: str | None = None
    until: str | None = None
    times: list[str | float] | None = None


class _Experiments(_Strict):
    ampa_block: float = 0.0
    mtor_block: float = 0.0
    spine_block: float = 0.0
    hnk_weight: float | None = None
    psychotherapy: float = 0.0
    anesthetic_state: bool = False


class _BPLimit(_Strict):
    """``design.predose_bp_limit``: pressures with their unit ('140 mmHg'); parsed and range-checked in _design."""

    sbp: Any = None
    dbp: Any = None
    sbp_over_65: Any = None


class _Design(_Strict):
    """``design:`` (interpreted by ketasim.trial); every key typed so that wrong types fail here, by name."""

    type: Literal["parallel", "crossover", "randomized_withdrawal"] = "parallel"
    control: str | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _empty_type_is_parallel(cls, v):
        # ``type:`` written empty means its default, as every other design key does (scenario._design)
        return "parallel" if v is None else v
    continue_: str | None = Field(None, alias="continue")
    withdraw: str | None = None
    induction_until: str | None = None      # default DEFAULT_INDUCTION_UNTIL
    criterion: Literal["response", "remission", "stable_response", "stable_remission", "stratified"] | None = None
    relapse_score: float | None = None
    stable_visits: int | None = None
    stable_min: int | None = None
    stable_min_response: int | None = None
    relapse_consecutive: int | None = None
    # open-label follow-up of a parallel trial (no re-randomization): the patients meeting ``criterion`` at
    # ``follow_up_from`` are followed at visits every ``follow_up_every`` until ``follow_up_until``
    follow_up_from: str | None = None
    follow_up_every: str | None = None
    follow_up_until: str | None = None
    # crossover with carry-over: periods start this long apart (first dose to first dose) in one continuous
    # simulation per sequence (Latin-square rotations), so a short washout leaves the previous period's effect
    period_interval: str | None = None
    iov: StrictBool | None = None  # crossover: inter-occasion PK variability between periods (default true)
    # the trial's pre-dose blood-pressure rule: patients whose pre-dose SBP / DBP is above these limits are not
    # dosed (population.PredoseBPLimit, population.baseline_bp); off by default
    predose_bp_limit: _BPLimit | None = None


MAX_ARMS = 50
MAX_LINES_PER_ARM = 200
MAX_ADMINISTRATIONS_PER_ARM = 10_000


class _Scenario(_Strict):
    name: str = Field(max_length=200)
    seed: int = Field(0, ge=0, le=limits.MAX_SEED)
    population: _Population = _Population()
    arms: dict[str, Any]          # a list of dose lines, or {doses: [...], comedications: [...]}
    endpoints: _Endpoints | None = None
    output: _Output | list[str | float] | None = None
    experiments: _Experiments | None = None
    design: _Design | None = None


@dataclasses.dataclass(frozen=True)
class Endpoints:
    times_h: tuple[float, ...]
    measures: tuple[str, ...] = DEFAULT_MEASURES
    remission_threshold: float | None = None
    response_reduction: float = 0.5
    rating_noise: bool = True
    pk: Any = None                # a ketasim.nca.PKSampling when PK measures are asked for
    #: the screening rating response is counted from (``population.Screening``), or None: from the baseline rating
    screening: Any = None


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A validated scenario. Build with :func:`load_scenario`, :func:`scenario_from_dict` or :func:`quick_scenario`."""

    name: str
    population: PopulationSpec
    arms: tuple[Arm, ...]
    seed: int = 0
    endpoints: Endpoints | None = None
    output_every_h: float | None = None
    output_until_h: float | None = None
    output_list_h: tuple[float, ...] | None = None
    experiment: VirtualExperiment = VirtualExperiment()
    design: tuple = ()            # (key, value) pairs; interpreted by ketasim.trial
    source: dict | None = dataclasses.field(default=None, compare=False, repr=False)
    patient: Any = None           # a ketasim.patient.Patient when the scenario states one patient (``patient:``)
    #: the body weight (kg) at which the dose checks (anesthetic range, negligible, refusal; the cumulative check)
    #: judge a dose in mg: the stated weight of a scenario of one patient (``patient: {weight_kg: ...}``, the quick
    #: form's --weight at one patient, the dashboard's patient); None: the 70-kg reference weight (a population)
    dose_weight_kg: float | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def horizon_h(self) -> float:
        h = default_horizon_h(self.arms)
        if self.endpoints:
            h = max(h, max(self.endpoints.times_h))
        if self.output_until_h:
            h = self.output_until_h
        return h

    def n_output_times(self, n_patients: int | None = None) -> int:
        """How many output times :meth:`output_times_h` returns (a regular grid is counted without allocating)."""
        if self.output_list_h:
            return len(set(self.output_list_h))
        if self.output_every_h:
            until = self.output_until_h or self.horizon_h
            return int(np.floor(until / self.output_every_h + 1e-9)) + 1
        return len(self.output_times_h(n_patients))

    def output_times_h(self, n_patients: int | None = None) -> np.ndarray:
        """Output times (h) for trajectories: the ``output:`` section, else the default grid of
        :func:`ketasim.output_grid.default_output_times_h` (dose events, peak windows, endpoint times, and a
        background step sized to ``n_patients``, default the population's size)."""
        if self.output_list_h:
            return np.array(sorted(set(self.output_list_h)))
        if not self.output_every_h:
            from .output_grid import default_output_times_h

            ends = self.endpoints.times_h if self.endpoints else ()
            return default_output_times_h(self.arms, self.output_until_h or self.horizon_h, ends,
                                          self.population.size if n_patients is None else n_patients)
        every = self.output_every_h
        until = self.output_until_h or self.horizon_h
        n = int(np.floor(until / every + 1e-9))
        return np.round(np.arange(n + 1) * every, 10)

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise InputError(f"arms: no arm named {name!r}")

    def replace(self, **changes) -> "Scenario":
        """A copy with ``changes``. The source mapping (the scenario as read) no longer describes the copy, so it is
        dropped unless ``source=`` is passed: provenance ``definition`` is then null and :func:`scenario_to_yaml`
        refuses, rather than both describing another scenario (R5-2). Another ``population`` sets the weight its mg
        doses are judged at as :func:`scenario_from_dict` reads it (one patient with weight SD 0: its weight; else the
        70-kg reference weight), and when that changes, the arms' doses (and a titration's dose levels) are judged at
        it too and ``patient`` is dropped (it no longer describes the population): `dose_weight_kg` None beside Doses
        at 120 kg judged one dose two ways (review s45 S9). A dose refused at the new weight is refused here; of its
        warnings only those it did not give at the old weight (``Dose.at_weight``): 90 mg IV at 120 kg is not
        anesthetic and at the 70-kg reference weight it is, and said nothing (review s46 T3)."""
        if changes and "source" not in changes:
            changes["source"] = None
        if "population" in changes and "dose_weight_kg" not in changes:
            weight = stated_patient_weight(changes["population"])
            changes["dose_weight_kg"] = weight
            if weight != self.dose_weight_kg:
                changes.setdefault("patient", None)
                # the arms passed with it too (their Doses judged at their own weight; review s46 R-L4)
                arms = []               # a loop, not a generator: the warnings point at the caller of replace
                for a in changes.get("arms", self.arms):
                    arms.append(_arm_at_weight(a, weight))
                changes["arms"] = tuple(arms)
        return dataclasses.replace(self, **changes)


def _arm_at_weight(arm: Arm, weight_kg: float | None) -> Arm:
    """``arm`` with its doses judged at ``weight_kg`` (kg; None: the 70-kg reference weight; ``Dose.at_weight``: a
    warning only where the dose did not give it at its old weight), and its titration's other dose levels likewise
    (the Titration holds amounts, not Doses: its levels are given as the titrated line's new Dose, so it is kept)."""
    doses = []
    for d in arm.doses:             # stacklevel 4: the caller of Scenario.replace
        doses.append(d.at_weight(weight_kg, stacklevel=4))
    tit = arm.titration
    if tit is not None:
        import warnings

        from .errors import DoseWarning

        old = arm.doses[tit.line]
        for i, level in enumerate(tit.levels):
            if level == old.amount:         # the line's own dose: judged above
                continue
            with warnings.catch_warnings():     # warned (or not) at the old weight when the scenario was read
                warnings.simplefilter("ignore", DoseWarning)
                was = dataclasses.replace(old, amount=level, field=f"arms.{arm.name}.titration.doses[{i}]")
            was.at_weight(weight_kg, stacklevel=4)
    return dataclasses.replace(arm, doses=tuple(doses))


#: what a mapping-valued field looks like, for the message when something else was given
_MAPPING_EXAMPLES = {"_AgeDist": "{mean: 70, sd: 5, min: 65, max: 86} (years; min/max optional)",
                     "_Dist": "{mean: 30, sd: 5}",
                     "_BPLimit": "{sbp: 140 mmHg, dbp: 90 mmHg, sbp_over_65: 150 mmHg}",
                     "_Output": "{every: 15 min, until: 7 d} or a list of times [0 h, 40 min, 24 h]"}


#: keys whose value is a time with its unit ('7 d'): a bare number there is a missing unit
_TIME_KEYS = frozenset({"period_interval", "induction_until", "follow_up_from", "follow_up_every", "follow_up_until",
                        "every", "until", "interval"})

#: key-name suffixes that carry the unit (a number under them is plain: weight_kg: 70, not '70 kg')
_UNIT_SUFFIXES = (("_kg", "kg"), ("_years", "years"), ("_mg_l", "mg/L"))


def _sibling_keys(root, loc) -> list[str]:
    """The keys allowed beside the unknown key at ``loc`` (a pydantic error location) in model ``root``; [] when the
    location does not lead through models (a free-form mapping such as ``arms``)."""
    import typing

    model = root
    for part in loc[:-1]:
        if isinstance(part, str) and (part.startswith("_") or "[" in part):     # a union member's tag ('_Output')
            continue
        if not isinstance(part, str):
            return []
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        ann = field.annotation
        sub = [a for a in (typing.get_args(ann) or (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not sub:
            return []
        model = sub[0]
    keys = [f.alias or n for n, f in model.model_fields.items()]
    return keys + (["patient"] if model is _Scenario else [])


#: How a list field is written, for the one-line error when a single value is given instead of a list.
_LIST_EXAMPLES = {"times": "[24 h, 7 d]", "measures": "[mean_change, response_rate]", "comedications": "[clarithromycin]",
                  "pk_sampling": "[10 min, 1 h, 4 h]", "analytes": "[s-ketamine, norketamine]", "output": "[0 h, 40 min, 24 h]"}


def _close_key(key: str, keys) -> str | None:
    """The allowed key a misspelt one meant: a close spelling ('evry', 'endpoint'), or the one key it is the first
    word of ('age' for age_years, 'weight' for weight_kg); None when neither."""
    import difflib

    close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
    if close:
        return close[0]
    low = str(key).strip().lower()
    first = [k for k in keys if low and k.lower().startswith(low + "_")]
    return first[0] if len(first) == 1 else None


def _first_error(e: ValidationError, root=None) -> str:
    err = e.errors()[0]
    # drop pydantic's union-member tags (e.g. '_Output', 'list[union[str,float]]') from the location
    parts = [str(x)[:40] for x in err["loc"] if not (isinstance(x, str) and (x.startswith("_") or "[" in x or
                                                                               x in ("str", "float", "int", "bool")))]
    loc = ".".join(parts).replace("continue_", "continue") or "scenario"
    msg = err["msg"]
    if err["type"] == "model_type":       # pydantic names its own class ("instance of _AgeDist"): say what is expected
        cls = str(err.get("ctx", {}).get("class_name", ""))
        example = _MAPPING_EXAMPLES.get(cls, "")
        v = err.get("input")
        if cls in ("_Dist", "_AgeDist") and isinstance(v, (int, float)) and not isinstance(v, bool):
            # 'weight_kg: 80' meant every patient at 80: the example was {mean: 30, sd: 5} whatever the key
            example = f"{{mean: {v:g}, sd: 0}} for every patient at {v:g}, or {{mean: {v:g}, sd: ...}} for a spread"
        msg = (f"expected a mapping of fields{', e.g. ' + example if example else ''}, got "
               f"{str(v)[:40]!r}")
    elif err["type"] == "extra_forbidden":
        msg = "unknown field"
        if root is not None and err["loc"] and isinstance(err["loc"][-1], str):   # a misspelt key: say the right one
            keys = _sibling_keys(root, err["loc"])
            close = _close_key(err["loc"][-1], keys)
            if close:
                msg += f" (did you mean {close!r}?)"
            elif keys:
                # population has ~40 keys: the line was cut in the middle of the list; the first (the common ones)
                # are kept whole and the rest counted
                shown, rest = [], list(keys)
                while rest and len(", ".join(shown + rest[:1])) <= 240:
                    shown.append(rest.pop(0))
                msg += f"; allowed: {', '.join(shown)}" + (f" and {len(rest)} more (docs/contracts.md)" if rest else "")
    elif err["type"] == "literal_error":     # pydantic's "Input should be 'parallel', 'crossover' or ...": a typo
        import difflib

        allowed = [str(x).strip("'") for x in re.findall(r"'[^']*'", str(err.get("ctx", {}).get("expected", "")))]
        v = str(err.get("input"))[:40]
        close = difflib.get_close_matches(v, allowed, n=1, cutoff=0.6)
        msg = (f"unknown value {v!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
               + (f"; use {', '.join(allowed)}" if allowed else ""))
    elif err["type"] == "missing":
        msg = "required field is missing"
        # 'arm:' for 'arms:' said only "arms: required field is missing" (the misspelt key's own error came second)
        for other in e.errors()[1:]:
            if (other["type"] == "extra_forbidden" and tuple(other["loc"][:-1]) == tuple(err["loc"][:-1])
                    and isinstance(other["loc"][-1], str) and _close_key(other["loc"][-1], [str(err["loc"][-1])])):
                msg += f" (found {str(other['loc'][-1])[:40]!r}: did you mean {str(err['loc'][-1])!r}?)"
                break
    elif err["type"] in ("float_parsing", "float_type", "int_parsing", "int_type", "int_from_float"):
        # pydantic's "Input should be a valid number, unable to parse string as a number": say what is expected,
        # and that the unit is in the key's name ('70 kg' under weight_kg)
        v = err.get("input")
        unit = next((u for part in parts for suffix, u in _UNIT_SUFFIXES if str(part).endswith(suffix)), None)
        kind = "a whole number" if err["type"].startswith("int") else "a number"
        msg = (f"expected {kind}" + (f" (in {unit}: the unit is in the key's name)" if unit else "")
               + ", got " + ("an empty value" if v is None else repr(str(v)[:40])))
        pct = re.fullmatch(r"\s*(\d+\.?\d*)\s*%\s*", str(v)) if isinstance(v, str) else None
        if pct and parts and str(parts[-1]).endswith(("fraction", "p_active")):      # '55%' for female_fraction
            msg += f" (a fraction: {pct.group(1)} % is {float(pct.group(1)) / 100:g})"
    elif err["type"] == "bool_for_number":    # _Strict._no_bool_for_numbers; a list's item is named by its index
        if "index" in err.get("ctx", {}):
            loc += f"[{err['ctx']['index']}]"
    elif err["type"] == "string_type":       # pydantic's "Input should be a valid string"
        v = err.get("input")
        msg = "expected text, got " + ("an empty value" if v is None else repr(v) if not isinstance(v, (int, float))
                                        else "true/false" + YAML_BOOLEANS
                                        if isinstance(v, bool) else f"the number {v:g}")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and parts and parts[-1] in _TIME_KEYS:
            msg = f"the unit is missing in {v:g}; write the time with its unit, e.g. '{v:g} h' or '{v:g} d'"
        elif isinstance(v, bool) and parts and parts[-1] in _TIME_KEYS:   # as open_label_from (_no_bool_for_numbers)
            msg = "must be a time with its unit, e.g. '24 h', not true/false" + YAML_BOOLEANS
    elif err["type"] in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        # pydantic's "Input should be greater than or equal to 0": the bound and the value given
        ctx = err.get("ctx", {})
        op, bound = next(((o, ctx[k]) for k, o in (("ge", ">="), ("le", "<="), ("gt", ">"), ("lt", "<")) if k in ctx),
                         ("in range", ""))
        msg = f"must be {op} {bound}, got {str(err.get('input'))[:40]}"
    elif err["type"] == "list_type":         # pydantic's "Input should be a valid list" ('times: 24 h')
        v = err.get("input")
        example = _LIST_EXAMPLES.get(str(parts[-1]) if parts else "", "[a, b]")
        msg = (f"expected a list in square brackets, e.g. {example}, got "
               + ("an empty value" if v is None else repr(str(v)[:40])))
    elif err["type"] in ("bool_type", "bool_parsing"):   # pydantic's "Input should be a valid boolean, unable to ..."
        v = err.get("input")
        msg = "must be true or false, got " + ("an empty value" if v is None else repr(str(v)[:40]))
    return f"{loc}: {msg}"


def _screening(ep: _Endpoints, smax: float, design):
    """``endpoints.response_from`` / ``endpoints.screening`` -> a ``population.Screening`` (or None: response is
    counted from the baseline rating). Only a parallel trial without an open-label follow-up counts from a screening
    visit (the other designs' relapse and continuation analyses count from the baseline)."""
    from .population import Screening

    if ep.response_from not in RESPONSE_FROM:
        raise InputError(f"endpoints.response_from: use {' or '.join(RESPONSE_FROM)}, got {ep.response_from!r}")
    if ep.response_from == "baseline":
        if ep.screening is not None:
            raise InputError("endpoints.screening: only used with endpoints.response_from: screening")
        return None
    if ep.screening is None:
        raise InputError("endpoints.screening: response_from: screening needs the screening rating's "
                         "{mean: POINTS, sd: POINTS, correlation: R} (R: its correlation with the baseline rating)")
    kind = design.type if design is not None and design.type is not None else "parallel"
    if kind != "parallel" or (design is not None and design.follow_up_from is not None):
        raise InputError("endpoints.response_from: screening is supported for a parallel trial without an open-label "
                         f"follow-up (this one is a {kind.replace('_', ' ')}"
                         + (" with a follow-up" if kind == "parallel" else "") + ")")
    sc = ep.screening
    if not (0 <= sc.mean <= smax):
        raise InputError(f"endpoints.screening.mean: must lie in [0, {smax:g}] points, got {sc.mean:g}")
    if not (0 <= sc.sd <= smax / 2):
        raise InputError(f"endpoints.screening.sd: must lie in [0, {smax / 2:g}] points, got {sc.sd:g}")
    if not (-1 <= sc.correlation <= 1):
        raise InputError(f"endpoints.screening.correlation: must lie in [-1, 1], got {sc.correlation:g}")
    return Screening(float(sc.mean), float(sc.sd), float(sc.correlation))


def _times(values, field: str) -> tuple[float, ...]:
    out = []
    for i, v in enumerate(values):
        t = parse_time_h(v, f"{field}[{i}]")
        if t < 0:
            raise InputError(f"{field}[{i}]: must be >= 0")
        out.append(t)
    return tuple(out)


class _Patient(_Strict):
    weight_kg: float = 80.0
    age_years: float = 45.0
    sex: str = "female"
    baseline: float | None = None
    condition: str | None = None
    scale: str | None = None
    treatment_resistant: bool | None = None     # default: true for depression, false for the other conditions
    crp_mg_l: float | None = None
    genotype: str = "val/val"
    comedications: list[str] = []
    care_setting: str = "outpatient"
    recurrence: bool = True
    re_response: bool = False


def _patient_scenario(data: dict) -> Scenario:
    """A scenario with ``patient:`` (one stated patient, typical random effects) instead of ``population:``."""
    from .patient import Patient

    if data.get("population") is not None:
        raise ScenarioFileError("patient: give either patient (one stated patient) or population, not both")
    if not isinstance(data["patient"], dict):
        raise ScenarioFileError("patient: expected a mapping like {weight_kg: 70, age_years: 30, sex: male}")
    try:
        m = _Patient.model_validate(data["patient"])
    except ValidationError as e:
        raise ScenarioFileError("patient." + _first_error(e, _Patient)) from None
    patient = Patient(**{**m.model_dump(), "comedications": tuple(m.comedications)})
    rest = {k: v for k, v in data.items() if k != "patient"}
    rest["population"] = patient.population_mapping()
    # the patient's weight (stated or the default 80 kg, at which it is simulated) judges the doses in mg (90 mg is
    # 0.75 mg/kg at 120 kg, not anesthetic as at 70 kg): `patient: {}` as Patient() (review s45 S2)
    sc = scenario_from_dict(rest, dose_weight_kg=patient.weight_kg)
    return dataclasses.replace(sc, patient=patient, source=data)


def _warn_case_only_arm_names(names: list[str]) -> None:
    """One :class:`~ketasim.errors.ArmNameWarning` line (stderr in the CLI) per group of arm names equal but for
    letter case: valid (two arms), but easy to mix up."""
    import warnings

    from .errors import ArmNameWarning

    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.casefold(), []).append(name)
    for same in groups.values():
        if len(same) > 1:
            shown = " and ".join(repr(x[:40]) for x in same)
            warnings.warn(f"arms: {shown} differ only in letter case; they are {len(same)} different arms (rename one "
                          "if they are meant to be one arm)", ArmNameWarning, stacklevel=4)


def stated_patient_weight(population) -> float | None:
    """The body weight (kg) of the one stated patient a scenario's population describes: ``size`` 1 with
    ``weight_kg.sd`` 0 (what a ``patient:`` block, the quick form, the dashboard and a record's scenario write), else
    None (a population: mg doses judged at the 70-kg reference weight). The rule reads the file's content, so a
    scenario exported and read back is judged as the run it came from (review s45 S1/S2)."""
    if population is None:
        return None
    size = getattr(population, "size", None)
    w = getattr(population, "weight_kg", None)
    mean = getattr(w, "mean", None)
    from .population import WEIGHT_MEAN_RANGE

    # only a weight the population's check accepts: else that check names weight_kg (a 0.5-kg typo judged the dose
    # at 0.5 kg and refused it as a unit slip, and 8 kg for 80 warned of the anesthetic range first; review s45 T2)
    if size == 1 and getattr(w, "sd", None) == 0 and isinstance(mean, (int, float)) and not isinstance(mean, bool) \
            and math.isfinite(mean) and WEIGHT_MEAN_RANGE[0] <= mean <= WEIGHT_MEAN_RANGE[1]:
        return float(mean)
    return None


def scenario_from_dict(data: dict, *, dose_weight_kg: float | None = None,
                       weight_of: str = "the patient's weight") -> Scenario:
    """Validate a scenario mapping (as read from YAML). ``dose_weight_kg``: the body weight (kg) of the one patient the
    scenario is for, at which its doses in mg are judged (``Scenario.dose_weight_kg``); None: read from the content --
    a population of one patient with weight SD 0 (``population: {size: 1, weight_kg: {mean: W, sd: 0}}``, as a
    ``patient:`` block writes) is that patient, judged at W; any other population at the 70-kg reference weight.
    ``weight_of``: whose weight it is in the dose checks' messages ("the record's WT" for a record's scenario)."""
    if dose_weight_kg is not None:
        dose_weight_kg = limits.check_real(dose_weight_kg, "dose_weight_kg", lo=1e-9, unit="kg")
    if isinstance(data, dict) and data.get("patient") is not None:
        return _patient_scenario(data)
    if not isinstance(data, dict):
        raise ScenarioFileError("scenario: expected a mapping at the top level (name, population, arms, ...)")
    limits.check_depth(data)
    if isinstance(data.get("seed"), bool):
        raise ScenarioFileError(f"seed: must be a whole number, not true/false{YAML_BOOLEANS}")
    try:
        m = _Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioFileError(_first_error(e, _Scenario)) from None
    pop = m.population
    if dose_weight_kg is None:          # one patient of stated weight (size 1, weight SD 0): judged at its weight
        dose_weight_kg = stated_patient_weight(pop)
    # a scale names the condition it reads (caps5: PTSD, hama: anxiety, ssi: suicidal ideation): a scenario that
    # gives only the scale simulates that condition, not depression rated on another disorder's scale
    given_scale = canonical_scale(pop.scale) if pop.scale else None      # aliases: 'HAM-D24', 'IES-R', 'BSSI'
    condition = canonical_condition(pop.condition) or (SCALES[given_scale][2] if given_scale else "depression")
    scale = given_scale or DEFAULT_SCALE.get(condition, "madrs")
    if condition in CONDITIONS:           # an unknown condition gets its own line from PopulationSpec
        check_scale_reads(scale, condition, "population")
    if pop.baseline is None:
        bm, bsd = default_baseline(scale)       # one line when the scale has no sourced default baseline
        base = _Dist(mean=bm, sd=bsd)
    else:
        base = pop.baseline
    if not m.arms:
        raise InputError("arms: at least one arm is required")
    if len(m.arms) > MAX_ARMS:
        raise InputError(f"arms: {len(m.arms)} arms is more than the {MAX_ARMS} supported")
    arm_lines, arm_comeds, arm_bases, arm_titration = {}, {}, {}, {}
    for k, v in m.arms.items():
        if len(k) > 200:
            raise InputError(f"arms: an arm name is at most 200 characters, got {len(k):,}")
        v, arm_comeds[k], arm_bases[k], arm_titration[k] = _arm_mapping(str(k), v)
        if isinstance(v, list) and len(v) > MAX_LINES_PER_ARM:
            raise InputError(f"arms.{k}: {len(v)} dose lines is more than the {MAX_LINES_PER_ARM} supported")
        arm_lines[k] = v
    arms = []
    for k, v in arm_lines.items():
        arm = dataclasses.replace(arm_from_list(str(k), v, weight_kg=dose_weight_kg, weight_of=weight_of), comedications=arm_comeds[k],
                                  baseline=arm_bases[k])
        if arm_titration[k] is not None:        # a response-guided dose rule for one of the arm's lines
            arm = dataclasses.replace(arm, titration=titration_from_mapping(arm_titration[k], arm.doses,
                                                                             f"arms.{k}.titration"))
            _check_titration_criteria(arm.titration, scale, f"arms.{k}.titration")
        arms.append(arm)
    arms = tuple(arms)
    # the population's own list first: one inducer named twice there ('rifampicin', 'rifampin') was reported as
    # 'arms.NAME.comedications (with population.comedications)', naming an arm that has none
    check_comedications(pop.comedications, "population.comedications")
    for a in arms:          # an arm's comedications add to the population's: each inducer or inhibitor once in all
        arm_comedications(pop.comedications, a.comedications, a.name)
    # what participants may expect: given, or (blinded, equal allocation) the share of arms giving ketamine;
    # a single-arm scenario is open label (1)
    if pop.p_active is not None:
        p_active = pop.p_active
    elif len(arms) == 1:
        p_active = 1.0
    else:
        p_active = sum(any(a.drug.is_ketamine for a in arm.administrations()) for arm in arms) / len(arms)
    spec = PopulationSpec(size=pop.size, condition=condition, treatment_resistant=pop.treatment_resistant,
                          scale=scale, baseline=Distribution(base.mean, base.sd),
                          weight_kg=Distribution(pop.weight_kg.mean, pop.weight_kg.sd),
                          age_years=Distribution(pop.age_years.mean, pop.age_years.sd, pop.age_years.min,
                                                 pop.age_years.max),
                          female_fraction=pop.female_fraction, comedications=tuple(pop.comedications),
                          genotype=pop.genotype, crp_mg_l=pop.crp_mg_l, expectancy=pop.expectancy,
                          care_setting=pop.care_setting,
                          perception=pop.perception, general_anesthesia=pop.general_anesthesia,
                          p_active=float(p_active), recurrence=pop.recurrence,
                          re_response=pop.re_response, recurrence_clock=pop.recurrence_clock,
                          antidepressant_spread=pop.antidepressant_spread,
                          antidepressant_trd=pop.antidepressant_trd, visit_contact=pop.visit_contact,
                          natural_course_spread=pop.natural_course_spread,
                          baseline_rating_noise=pop.baseline_rating_noise,
                          fluctuation_scales_with_severity=pop.fluctuation_scales_with_severity,
                          fluctuation_scales_with_trial_severity=pop.fluctuation_scales_with_trial_severity,
                          bdnf_release_pool=pop.bdnf_release_pool,
                          bp_reading_sd_scales=pop.bp_reading_sd_scales,
                          entry_selection=_entry_selection(pop.entry_selection, arms, scale, base))
    if any(a.baseline is None for a in arms):   # an arm that samples the population's baseline
        warn_unreachable_baseline(spec.baseline, spec.scale, "population.baseline")
    for a in arms:
        if a.baseline is not None:      # an arm's own baseline obeys the population's rule for the scale
            check_baseline(Distribution(*a.baseline), spec.scale, f"arms.{a.name}.baseline")
            warn_unreachable_baseline(Distribution(*a.baseline), spec.scale, f"arms.{a.name}.baseline")
        total = sum(d.count for d in a.doses)
        if total > MAX_ADMINISTRATIONS_PER_ARM:
            raise InputError(f"arms.{a.name}: {total:,} doses is more than the {MAX_ADMINISTRATIONS_PER_ARM:,} supported")
        ends = [d.at_h + (d.count - 1) * d.every_h + d.duration_h for d in a.doses]
        last = max(ends)
        if last > limits.MAX_TIME_H:
            # named at the line (its every, or its at for a single dose): the dashboard showed it at the arm's dose
            i = ends.index(last)
            key = "every" if a.doses[i].count > 1 else "at"
            # in years too: '335833 h' alone did not say how far beyond 10 years a schedule ran
            raise InputError(f"arms.{a.name}[{i}].{key}: the last dose ends at {last:g} h ({last / 8766:.3g} "
                             "years), beyond the "
                             f"{limits.MAX_TIME_H:g} h (10 years) ketasim simulates; check 'at', 'every' and 'count'")
    endpoints = None
    if m.endpoints is not None:
        ep = m.endpoints
        if not ep.measures:         # an empty list silently meant the defaults
            raise InputError("endpoints.measures: the list is empty; name at least one measure (e.g. [mean, "
                             "response_rate]) or leave the field out for the defaults")
        for meas in ep.measures:
            if meas not in KNOWN_MEASURES:
                import difflib

                # the list of measures is long: with a suggestion it is left out (it was cut in the middle)
                close = difflib.get_close_matches(str(meas), KNOWN_MEASURES, n=1, cutoff=0.6)
                raise InputError(f"endpoints.measures: unknown measure {str(meas)[:40 if close else 24]!r}"
                                 + (f" (did you mean {close[0]!r}?)" if close else
                                    f"; known: {known_measures_text()}"))
        pk = None
        if any(meas in PK_MEASURES for meas in ep.measures) or ep.pk_sampling is not None or ep.analytes is not None \
                or ep.sample is not None:
            from .nca import sampling_from_mapping

            pk = sampling_from_mapping(ep.pk_sampling, ep.analytes, ep.sample)
        titrated = [a.name for a in arms if a.titration is not None]
        if pk is not None and titrated:
            raise InputError(f"endpoints.measures: PK measures are not computed for an arm with a titration rule "
                             f"(arms.{titrated[0]}: patients get different doses); simulate a fixed dose for PK")
        if ep.measures and all(meas in PK_MEASURES for meas in ep.measures):
            from .nca import measured_analytes

            if not any(measured_analytes(a, pk.analytes) for a in arms):   # a PK-only trial would have no rows at all
                raise InputError("endpoints.measures: PK measures need an arm with ketamine or midazolam"
                                 + ("; placebo and the oral antidepressant have no PK in the model"
                                    if pk.analytes is None else
                                    f" that produces one of endpoints.analytes ({', '.join(pk.analytes)})"))
        if ep.times is None and ep.measures and all(meas in PK_MEASURES for meas in ep.measures):
            ep.times = [f"{pk.times_h[-1]!r} h"]          # a PK-only trial: no rating times needed
        if not ep.times:
            raise InputError("endpoints.times: at least one time is required")
        if not (0 < ep.response_reduction < 1):
            raise InputError("endpoints.response_reduction: must lie in (0, 1), e.g. 0.5 for a 50% reduction")
        smax = SCALES[scale][0]
        if ep.remission_threshold is not None and not (0 <= ep.remission_threshold <= smax):
            raise InputError(f"endpoints.remission_threshold: must lie in [0, {smax:g}] for {scale}, "
                             f"got {ep.remission_threshold:g}")
        if "remission_rate" in ep.measures and ep.remission_threshold is None:
            remission_threshold(scale)          # a scale without a published threshold needs one stated
        if len(ep.times) > 1000:
            raise InputError(f"endpoints.times: {len(ep.times)} times is more than the 1000 supported")
        # a measure named twice ([mean, mean]) printed and wrote every row twice; duplicate times are merged too
        endpoints = Endpoints(_times(ep.times, "endpoints.times"), tuple(dict.fromkeys(ep.measures)),
                              ep.remission_threshold,
                              ep.response_reduction, ep.rating_noise, pk, _screening(ep, smax, m.design))
        if not ep.rating_noise:     # a titration deciding on ratings uses the endpoint ratings' noise model
            arms = tuple(a if a.titration is None else dataclasses.replace(
                a, titration=dataclasses.replace(a.titration, rater_noise=False)) for a in arms)
    every = until = None
    out_list = None
    if isinstance(m.output, list):
        out_list = _times(m.output, "output")
    elif m.output is not None:
        if m.output.times is not None:
            both = [k for k in ("every", "until") if getattr(m.output, k) is not None]
            if both:        # the times were used and every/until dropped without a word
                raise InputError(f"output: give either times or every/until, not both (times with "
                                 f"{' and '.join(both)})")
            out_list = _times(m.output.times, "output.times")
        if m.output.every is not None:
            every = parse_time_h(m.output.every, "output.every")
            if every <= 0:
                raise InputError("output.every: must be > 0")
        if m.output.until is not None:
            until = parse_time_h(m.output.until, "output.until")
            if until <= 0:
                raise InputError("output.until: must be > 0")
    if out_list is not None and not out_list:
        raise InputError("output.times: at least one time is required")
    # the size of the trajectory output is checked where it is produced (ketasim.scale.check_feasible): a trial
    # needs no trajectories, and simulate streams large populations to Parquet
    exp = VirtualExperiment(**m.experiments.model_dump()) if m.experiments else VirtualExperiment()
    design = _design(m.design, arms, scale)
    crit = dict(design).get("criterion")
    if crit not in (None, "response") and SCALES[scale][1] is None and (endpoints is None
                                                                       or endpoints.remission_threshold is None):
        raise InputError(f"design.criterion: {crit} needs a remission threshold and {scale} has no published one; "
                         f"state endpoints.remission_threshold (points, 0-{SCALES[scale][0]:g})")
    if m.design is not None and m.design.type == "randomized_withdrawal" and pop.p_active is None:
        # after the re-randomization sessions are blinded: participants may expect active drug with the share of arms
        # that continue ketamine (1/2 for continue vs withdraw), not the open-label 1 of the shared induction: it is
        # the prior of both arms' renewals and of the negative-unblinding update from then on
        t_rand = parse_time_h(m.design.induction_until or DEFAULT_INDUCTION_UNTIL, "design.induction_until")
        after = sum(any(a.drug.is_ketamine and a.start_h >= t_rand - 1e-9 for a in arm.administrations())
                    for arm in arms) / len(arms)
        spec = dataclasses.replace(spec, p_active_blinded=float(after), blinded_from_h=float(t_rand))
    if pop.open_label_from is not None:
        if m.design is not None and m.design.type == "randomized_withdrawal":
            raise InputError("population.open_label_from: a randomized withdrawal's blinding is set by its design "
                             "(design.induction_until); remove open_label_from")
        t_open = parse_time_h(pop.open_label_from, "population.open_label_from")
        if t_open <= 0:
            raise InputError("population.open_label_from: must be after the start (> 0 h); for an open-label trial "
                             "set population.p_active: 1")
        # the same switch of the design prior as a randomized withdrawal's re-randomization, to 1
        spec = dataclasses.replace(spec, p_active_blinded=1.0, blinded_from_h=float(t_open))
    follow_up = m.design is not None and m.design.follow_up_from is not None
    if endpoints is not None and (m.design is None or m.design.type != "randomized_withdrawal") and not follow_up:
        relapse = [meas for meas in endpoints.measures if meas in RELAPSE_MEASURES]
        if relapse:     # a parallel or crossover trial has no re-randomized responders: they would be dropped silently
            raise InputError(f"endpoints.measures: {relapse[0]} needs a randomized-withdrawal design "
                             "(design: {type: randomized_withdrawal, ...}) or an open-label follow-up of responders "
                             "(design: {follow_up_from: 14 d, ...}); otherwise follow the score with "
                             "mean, response_rate or remission_rate at later times")
    sc = Scenario(m.name, spec, arms, m.seed, endpoints, every, until, out_list, exp, design, source=data,
                  dose_weight_kg=dose_weight_kg)
    # memory and time from the real grid (horizon, events, output times), before anything is allocated. A
    # scenario may be run streamed (trials run in chunks) and with another size (--size, --pool, n=), so here only
    # what cannot work even for one patient is refused; simulate(), run_trial and run_power check the run with its
    # real size and output times. (The time of the file's whole population was checked here: `trial --size 100`
    # of a file of 2,000,000 patients was refused as "would compute for ~36 min".)
    limits.check_scenario_run(sc, 1, field="output" if (every or out_list) else "population.size", chunk_patients=1)
    _warn_case_only_arm_names([a.name for a in arms])      # valid: warned only once the scenario is accepted
    return sc


def _check_titration_criteria(tit, scale: str, field: str) -> None:
    """Criteria that can never hold are refused in one line: a ``score`` outside the scale's range (points on the
    population's scale), and ``increase_if`` (all must hold) with NAME_below at or under NAME_above of the same NAME."""
    smax = SCALES[scale][0]
    for key, crits in (("increase_if", tit.increase), ("decrease_if", tit.decrease)):
        for name, op, v in crits:
            if name == "score" and not (0 <= v <= smax):
                raise InputError(f"{field}.{key}.score_{op}: must lie in [0, {smax:g}] points on {scale} (the "
                                 f"population's scale), got {v:g}")
    bounds = {}
    for name, op, v in tit.increase:
        bounds.setdefault(name, {})[op] = v
    for name, b in bounds.items():
        if "below" in b and "above" in b and b["below"] <= b["above"]:
            raise InputError(f"{field}.increase_if.{name}_below: {b['below']:g} is not above {name}_above "
                             f"{b['above']:g}; all increase_if conditions must hold, so this rule never increases")


def _arm_mapping(name: str, value) -> tuple[Any, tuple[str, ...], tuple[float, float] | None, Any]:
    """An arm is a list of dose lines, or ``{doses: [...], comedications: [...], baseline: {mean, sd},
    titration: {...}}`` (comedications given in this arm only, added to the population's; the arm's own baseline
    score where the trial reports one per arm; a response-guided dose rule, ``regimen.titration_from_mapping``).
    Returns (dose lines, comedications, baseline or None, titration mapping or None)."""
    if not isinstance(value, dict):
        return value, (), None, None
    unknown = set(value) - {"doses", "comedications", "baseline", "titration"}
    if unknown:
        raise ScenarioFileError(f"arms.{name}.{str(sorted(unknown, key=str)[0])[:40]}: unknown field (an arm is a list "
                                "of dose lines or {doses: [...], comedications: [...], baseline: {mean, sd}, "
                                "titration: {...}})")
    if "doses" not in value:
        raise ScenarioFileError(f"arms.{name}.doses: required field is missing")
    comeds = value.get("comedications") or []
    if isinstance(comeds, str):
        comeds = [comeds]
    if not isinstance(comeds, list):
        raise InputError(f"arms.{name}.comedications: expected a list, e.g. [rifampicin]")
    check_comedications(comeds, f"arms.{name}.comedications")
    if "titration" in value and value["titration"] is None:
        raise InputError(f"arms.{name}.titration: expected a mapping like {{doses: [56 mg, 84 mg], sessions: [2, 3], "
                         "increase_if: {score_reduction_below: 0.5}}")
    return value["doses"], tuple(comeds), _arm_baseline(name, value.get("baseline")), value.get("titration")


def _arm_baseline(name: str, value) -> tuple[float, float] | None:
    """``arms.NAME.baseline``: {mean, sd} in scale points (sd defaults to 0); the range is checked with the
    population's rule (population.check_baseline) once the scale is known."""
    if value is None:
        return None
    f = f"arms.{name}.baseline"
    if not isinstance(value, dict) or set(value) - {"mean", "sd"} or "mean" not in value:
        raise InputError(f"{f}: expected {{mean: POINTS, sd: POINTS}}, e.g. {{mean: 29.9, sd: 7.0}}")
    return limits.check_real(value["mean"], f"{f}.mean"), limits.check_real(value.get("sd", 0.0), f"{f}.sd")


def _design(d: _Design | None, arms, scale: str) -> tuple:
    if d is None:
        return ()
    # a key written empty (``criterion:`` or ``criterion: null``) means its default, as if left out: the trial
    # reads defaults from missing keys, so an explicit None was refused there ("use one of ...") or passed as None
    given = {k: v for k, v in d.model_dump(by_alias=True, exclude_unset=True).items() if v is not None}
    names = [a.name for a in arms]
    if d.type == "crossover" and len(arms) < 2:
        raise InputError(f"design.type: a crossover gives every patient every arm, so it needs at least two arms; "
                         f"got {len(arms)} ({', '.join(names)})")
    for key in ("control", "continue", "withdraw"):
        if given.get(key) is not None and given[key] not in names:
            raise InputError(f"design.{key}: must name one of the arms ({', '.join(names)}), got {given[key]!r}")
    if d.induction_until is not None and parse_time_h(d.induction_until, "design.induction_until") <= 0:
        # '-1 week' was refused as 'population.blinded_from_h: must lie in [0, 1e6] h' (a field no file has), and
        # '0 week' randomized nobody (no one responds at the baseline visit): every row 'n/a'
        raise InputError(f"design.induction_until: must be after the start (> 0 h): patients are randomized at the "
                         f"end of the induction, got {d.induction_until!r}")
    if d.relapse_score is not None and not (0 <= d.relapse_score <= SCALES[scale][0]):
        raise InputError(f"design.relapse_score: must lie in [0, {SCALES[scale][0]:g}] for {scale}")
    follow = {k: given.get(k) for k in ("follow_up_from", "follow_up_every", "follow_up_until")}
    if any(v is not None for v in follow.values()):
        if d.type != "parallel":
            raise InputError(f"design.follow_up_from: an open-label follow-up belongs to a parallel trial, not a "
                             f"{d.type.replace('_', ' ')} (a randomized withdrawal has its own relapse analysis)")
        if follow["follow_up_from"] is None:
            key = next(k for k, v in follow.items() if v is not None)
            raise InputError(f"design.{key}: needs design.follow_up_from (when responders enter the follow-up)")
        if d.criterion not in (None, "response", "remission"):
            raise InputError("design.criterion: an open-label follow-up starts from response or remission")
        t0 = parse_time_h(d.follow_up_from, "design.follow_up_from")
        if t0 <= 0:
            raise InputError("design.follow_up_from: must be after the start (> 0 h)")
        if d.follow_up_every is not None and parse_time_h(d.follow_up_every, "design.follow_up_every") <= 0:
            raise InputError("design.follow_up_every: must be > 0")
        if d.follow_up_until is not None and parse_time_h(d.follow_up_until, "design.follow_up_until") <= t0:
            raise InputError("design.follow_up_until: must be later than design.follow_up_from")
    if d.period_interval is not None:
        if d.type != "crossover":
            raise InputError(f"design.period_interval: periods belong to a crossover, not a "
                             f"{d.type.replace('_', ' ')}")
        if parse_time_h(d.period_interval, "design.period_interval") <= 0:
            raise InputError("design.period_interval: must be > 0")
    if d.predose_bp_limit is not None:
        given["predose_bp_limit"] = _bp_limit(d.predose_bp_limit)
    if d.iov is not None and d.type != "crossover":
        raise InputError(f"design.iov: inter-occasion variability applies to the periods of a crossover; a "
                         f"{d.type.replace('_', ' ')} design has none (remove design.iov)")
    return tuple(sorted(given.items()))


#: plausible range (mmHg) of a pre-dose limit: beyond it a limit is a typo (14 for 140, 1400) or screens out
#: nearly everyone / no one
_BP_LIMIT_RANGE = {"sbp": (90.0, 250.0), "dbp": (50.0, 150.0), "sbp_over_65": (90.0, 250.0)}


def _bp_limit(v: _BPLimit) -> tuple:
    """``design.predose_bp_limit`` as sorted (name, mmHg) pairs; one line naming the field for a missing unit, a
    unit that is not a pressure, a value outside :data:`_BP_LIMIT_RANGE`, or no limit at all."""
    from .units import parse_quantity

    given = v.model_dump(exclude_none=True)
    if not given:
        raise InputError("design.predose_bp_limit: state at least one limit, e.g. {sbp: 140 mmHg, dbp: 90 mmHg, "
                         "sbp_over_65: 150 mmHg}")
    out = {}
    for key, text in given.items():
        field = f"design.predose_bp_limit.{key}"
        x = parse_quantity(text, "mmHg", field, examples=("mmHg",))
        lo, hi = _BP_LIMIT_RANGE[key]
        if not lo <= x <= hi:
            raise InputError(f"{field}: must lie in [{lo:g}, {hi:g}] mmHg, got {x:g} mmHg")
        out[key] = x
    return tuple(sorted(out.items()))


def _yaml_loader():
    """A SafeLoader that refuses duplicate keys, deep nesting and alias bombs (each with one line)."""
    import yaml

    class Loader(yaml.SafeLoader):
        _depth = 0

        def compose_node(self, parent, index):
            self._depth += 1
            try:
                if self._depth > limits.MAX_DEPTH:
                    mark = self.peek_event().start_mark
                    raise ScenarioFileError(f"line {mark.line + 1}: nested more than {limits.MAX_DEPTH} levels deep")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def compose_document(self):
            node = super().compose_document()
            _count_nodes(node)
            return node

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    dup = key in seen
                except TypeError:
                    raise ScenarioFileError(f"line {key_node.start_mark.line + 1}: a key must be text or a number") from None
                if dup:
                    raise ScenarioFileError(f"line {key_node.start_mark.line + 1}: duplicate key {str(key)[:40]!r} "
                                            "(YAML would silently keep the last one)")
                seen.add(key)
            return super().construct_mapping(node, deep)

    return Loader


def _count_nodes(root) -> None:
    """Nodes after alias expansion (aliases share nodes, so a small file can stand for billions of values)."""
    import yaml

    memo: dict[int, int] = {}
    order, stack = [], [root]
    while stack:          # iterative post-order over the (acyclic for safe YAML) node graph
        n = stack.pop()
        if id(n) in memo:
            continue
        memo[id(n)] = -1
        order.append(n)
        if isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            stack.extend(x for kv in n.value for x in kv)
    for n in reversed(order):
        if isinstance(n, yaml.SequenceNode):
            kids = n.value
        elif isinstance(n, yaml.MappingNode):
            kids = [x for kv in n.value for x in kv]
        else:
            kids = []
        memo[id(n)] = 1 + sum(max(memo.get(id(k), 1), 1) for k in kids)
        if memo[id(n)] > limits.MAX_NODES:
            raise ScenarioFileError(f"line {n.start_mark.line + 1}: more than {limits.MAX_NODES:,} values once "
                                    "aliases are expanded")


def read_scenario_text(path) -> str:
    """The text of a scenario file: a regular file of at most ``limits.MAX_SCENARIO_BYTES``, UTF-8."""
    import os
    import stat

    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise ScenarioFileError(f"{path}: no such scenario file") from None
    except OSError as e:
        raise ScenarioFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ScenarioFileError(f"{path}: is a directory, not a scenario file")
    if not stat.S_ISREG(st.st_mode):
        raise ScenarioFileError(f"{path}: not a regular file (a device, pipe or socket cannot be a scenario)")
    if st.st_size > limits.MAX_SCENARIO_BYTES:
        raise ScenarioFileError(f"{path}: {st.st_size:,} bytes is larger than the {limits.MAX_SCENARIO_BYTES:,} "
                                "bytes a scenario file may have")
    try:
        with open(p, "rb") as fh:
            raw = fh.read(limits.MAX_SCENARIO_BYTES + 1)
    except OSError as e:
        raise ScenarioFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(raw) > limits.MAX_SCENARIO_BYTES:
        raise ScenarioFileError(f"{path}: larger than the {limits.MAX_SCENARIO_BYTES:,} bytes a scenario file may have")
    from .io import decode_text

    return decode_text(raw, str(path), ScenarioFileError)


def parse_scenario_yaml(text: str, where: str = "scenario") -> Any:
    """YAML text -> plain data, refusing duplicate keys, deep nesting and alias bombs (one line each)."""
    import yaml

    if len(text) > limits.MAX_SCENARIO_BYTES:
        raise ScenarioFileError(f"{where}: larger than the {limits.MAX_SCENARIO_BYTES:,} bytes a scenario may have")
    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except ScenarioFileError as e:
        raise ScenarioFileError(f"{where}: {e}") from None
    except yaml.YAMLError as e:
        if isinstance(e, yaml.reader.ReaderError):      # a control character or bad encoding
            raise ScenarioFileError(f"{where}: not valid YAML (character {e.position}): special character "
                                    f"#x{e.character:04x} is not allowed" if isinstance(e.character, int) else
                                    f"{where}: not valid YAML (character {e.position}): {e.reason}") from None
        from .io import yaml_error_text

        raise ScenarioFileError(f"{where}: not valid YAML{yaml_error_text(e, text)}") from None
    except RecursionError:  # pragma: no cover - the depth limit comes first
        raise ScenarioFileError(f"{where}: nested too deeply") from None


def load_scenario(path) -> Scenario:
    """Read a YAML scenario file (a regular file of at most 1 MiB)."""
    if not isinstance(path, (str, Path)) or (isinstance(path, str) and not path.strip()):
        hint = ("; a mapping is read with scenario_from_dict(...)" if isinstance(path, dict) else
                "; a Scenario is already loaded: pass it on as it is" if isinstance(path, Scenario) else "")
        raise InputError(f"path: expected a scenario file path, got {type(path).__name__}{hint}")
    data = parse_scenario_yaml(read_scenario_text(path), str(path))
    if data is None:                    # an empty file, or only comments
        raise ScenarioFileError(f"{path}: the file is empty; a scenario is a mapping (name, population, arms, "
                                "endpoints; see examples/)")
    if not isinstance(data, dict):
        hint = ""
        if str(path).lower().endswith((".csv", ".txt")):
            hint = ("; a CSV is not a scenario: a patient record goes to `ketasim plan FILE` or `ketasim simulate "
                    "--events FILE`, a published trial's results to `ketasim trial SCENARIO --observed FILE`")
        raise ScenarioFileError(f"{path}: expected a mapping at the top level (name, population, arms, ...), got "
                                f"a {'list' if isinstance(data, list) else type(data).__name__}{hint}")
    if "name" not in data and ("ketasim_version" in data or {"fit", "plans"} <= set(data)):
        raise ScenarioFileError(f"{path}: this is a result file written by ketasim (trial, PK or plan JSON), not a "
                                "scenario; give the scenario YAML it was run from"
                                + (f" ('{data['scenario']}')" if isinstance(data.get("scenario"), str) else ""))
    return scenario_from_dict(data)


def fixed_dose_arms_hint(scenario, given: bool) -> str:
    """What to say after 'a titrated arm cannot be used here' (SBML export, covariate effects): the scenario's
    fixed-dose arms that ``--arm`` can choose ('; choose a fixed-dose arm with --arm (placebo+AD)'), else to write a
    fixed dose line. ``given``: the arm was named (else it was the default first arm, which the line says)."""
    fixed = [a.name for a in scenario.arms if getattr(a, "titration", None) is None]
    first = "" if given else " (the default: the first arm)"
    if fixed:
        return f"{first}; choose a fixed-dose arm with {argument('arm', '--arm')} ({', '.join(fixed)})"
    return f"{first}; write a fixed dose line"


def scenario_to_yaml(scenario: Scenario) -> str:
    import yaml

    if scenario.source is not None:
        return yaml.safe_dump(scenario.source, sort_keys=False)
    raise InputError("scenario: no YAML mapping to write: built in Python or changed by Scenario.replace after it was "
                     "read; build it with scenario_from_dict(mapping) to keep one")


#: YAML paths (and argument names) of the quick form -> the command-line options that set them.
_QUICK_FLAGS = (("population.age_years", "--age"), ("age_years", "--age"), ("population.weight_kg", "--weight"),
                ("weight_kg", "--weight"), ("population.baseline", "--baseline"), ("baseline", "--baseline"),
                ("population.scale", "--scale"), ("population.condition", "--condition"),
                ("population.size", "--size"), ("size", "--size"), ("population.female_fraction", "--sex"),
                ("population.comedications", "--comedication"), ("count", "--count"), ("seed", "--seed"),
                ("output.every", "--every"), ("output", "--size"), ("population.recurrence", "--no-recurrence"),
                ("population.re_response", "--re-response"), ("drug", "--drug"), ("route", "--route"))
_QUICK_LINE = {"drug": "--drug", "route": "--route", "dose": "--dose", "duration": "--duration", "every": "--every",
               "count": "--count", "at": "--at"}


#: the command line's quick-form options -> quick_scenario's arguments (what a message names from Python)
_QUICK_ARGS = {"--age": "age_years", "--weight": "weight_kg", "--comedication": "comedications",
               "--no-recurrence": "recurrence", "--re-response": "re_response", "--every/--count": "every/count",
               "--drug/--route/--dose": "drug/route/dose"}
#: YAML paths the quick form's Python arguments set that no option of the command line does
_QUICK_PATH_ARGS = (("output.every", "output_every"), ("output.until", "until"))


def quick_flag_message(message: str, python: bool = False) -> str:
    """A quick_scenario error as the command line's quick form shows it, naming the option the user typed instead
    of the YAML path or argument it became: 'population.age_years: must ...' -> '--age: must ...',
    'arms.esketamine[0].dose: ...' -> '--dose: ...'. ``python``: name quick_scenario's argument instead
    ('age_years: must ...', 'dose: ...'), as a call from Python gets it."""
    import re

    field, sep, rest = message.partition(": ")
    if not sep:
        return message

    def named(flag):
        return _QUICK_ARGS.get(flag, flag[2:].replace("-", "_")) if python else flag

    if python:
        for path, arg in _QUICK_PATH_ARGS:
            if field == path or field.startswith(path + "."):
                return f"{arg}: {rest}"
    for path, flag in _QUICK_FLAGS:
        if field == path or field.startswith(path + "."):
            return f"{named(flag)}: {rest}"
    if field.startswith("arms.") and ".comedications" in field:
        # 'rifampicin' and 'rifampin' (one inducer twice) is found where an arm's and the population's lists meet:
        # "arms.NAME.comedications (with population.comedications)" was shown as '--drug/--route/--dose'
        return f"{named('--comedication')}: {rest}"
    m = re.fullmatch(r"arms\.[^\[\]]+(?:\[0\])?(?:\.(\w+))?", field)
    if m:
        if m.group(1) in _QUICK_LINE:
            flag = _QUICK_LINE[m.group(1)]
        elif "dose ends" in rest or "doses is more" in rest:
            flag = "--every/--count"
        else:
            flag = "--drug/--route/--dose"
        return f"{named(flag)}: {rest}"
    return message


_F = TypeVar("_F", bound=Callable[..., Any])


def _quick_names(fn: _F) -> _F:
    """quick_scenario's errors name its arguments from Python ('dose: the unit is missing ...') and the quick form's
    options on the command line ('--dose: ...'), not the YAML paths they became ('arms.racemic-ketamine[0].dose')."""
    import functools

    from .errors import on_command_line

    @functools.wraps(fn)
    def named(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            raise type(e)(quick_flag_message(str(e), python=not on_command_line())) from None

    return cast(_F, named)         # the signature and types of quick_scenario (typed package)


@_quick_names
def quick_scenario(drug: str, route: str, dose: str | None = None, *, duration: str | None = None,
                   at: str | None = None, every: str | None = None, count: int | None = None, name: str = "quick",
                   size: int = 1, condition: str | None = None, scale: str | None = None,
                   weight_kg: float | None = None,
                   baseline: float | None = None, seed: int = 0, output_every: str | None = None,
                   until: str | None = None, age_years: float | None = None, sex: str | None = None,
                   comedications=(), age_range: str | None = None, recurrence: bool = True,
                   re_response: bool = False) -> Scenario:
    """A one-arm scenario from command-line style arguments (the CLI's quick form).

    ``dose`` may be an infusion rate (``'0.5 mg/kg/h'``) with ``duration``: dose = rate x duration.
    ``sex`` ('female'/'male') fixes everyone's sex; ``comedications``: names as in ``population.comedications``.
    ``age_range`` ('65-86'): an age inclusion range (truncated normal; mean ``age_years``, else the range's middle).
    ``recurrence=False`` (``--no-recurrence``): ``population.recurrence: false``, no new depressive episodes on
    continued treatment. ``re_response=True`` (``--re-response``): ``population.re_response: true``, the hypothesis
    (off by default) that active sessions after a new episode's onset relieve it again in part; needs recurrence.
    ``weight_kg`` (kg; None: 80): the patient's weight, at size 1 also the weight its dose in mg is judged at
    (anesthetic range, negligible, refusal; else the 70-kg reference weight, as for a population).
    """
    from .population import CONDITIONS, default_baseline_sd, scale_reads
    from .regimen import is_rate_text

    def arg(name, option=None):         # the argument's name from Python, the option's on the command line
        return argument(name, option or "--" + name.replace("_", "-"))

    size = limits.check_size(size, "size")
    weight_kg = limits.check_real(80.0 if weight_kg is None else weight_kg, "weight_kg", lo=20, hi=250, unit="kg")
    if every is not None and count is None:
        raise InputError(f"{arg('count')}: {arg('every')} {every} repeats the dose; give the number of doses, e.g. "
                         f"{argument('count=8', '--count 8')}")
    from .regimen import MAX_ADMINISTRATIONS

    # the quick form is one dose line, whose count the regimen allows up to MAX_ADMINISTRATIONS (2000): --count
    # 5000 said 'more than the 2000 supported' and --count 10001 'must lie in 1-10,000'
    count = limits.check_int(1 if count is None else count, "count", lo=1, hi=MAX_ADMINISTRATIONS)
    if baseline is not None:
        baseline = limits.check_real(baseline, "baseline")     # its range (0, scale max] is checked below
    if age_years is not None:
        age_years = limits.check_real(age_years, "age_years", lo=12, hi=100, unit="years")
    if condition is not None:
        condition = str(condition).strip().lower().replace("-", "_").replace(" ", "_")
        if condition not in CONDITIONS:
            from .population import unknown_condition

            raise InputError(unknown_condition(arg("condition"), condition))
    if scale:
        scale = canonical_scale(scale, arg("scale"))
        if condition is not None and not scale_reads(scale, condition):
            raise InputError(f"{arg('condition')}: {condition.replace('_', ' ')} contradicts {arg('scale')} {scale}, "
                             f"which rates "
                             f"{SCALES[scale][2].replace('_', ' ')}; drop one of them or pick a scale of the condition "
                             f"(e.g. {DEFAULT_SCALE[condition]})")
    if baseline is not None:
        smax = SCALES[scale or DEFAULT_SCALE[condition or "depression"]][0]
        if not 0 < baseline <= smax:
            raise InputError(f"{arg('baseline')}: must lie in (0, {smax:g}] points on "
                             f"{scale or DEFAULT_SCALE[condition or 'depression']}, got {baseline:g}")
    parse_drug(drug)
    parse_route(route)
    line: dict[str, Any] = {"drug": drug, "route": route}
    if dose is not None:
        line["dose"] = dose
    if duration is not None:
        line["duration"] = duration
    elif is_rate_text(dose):
        from .units import refuse_per_area_dose

        refuse_per_area_dose(dose, arg("dose"))        # mg/m2/h: a duration would not help
        example = argument("duration='40 min'", "--duration '40 min'")
        raise InputError(f"{arg('dose')}: {dose} is an infusion rate; add {arg('duration')} (e.g. {example}) and "
                         "ketasim gives dose = rate x duration")
    elif parse_route(route).value == "iv-infusion":
        line["duration"] = "40 min"
    if at is not None:
        line["at"] = at
    if every is not None:
        line["every"] = every
    if count != 1:
        line["count"] = count
    pop: dict[str, Any] = {"size": size, "weight_kg": {"mean": weight_kg, "sd": 15.0 if size > 1 else 0.0}}
    if condition is not None:           # else the scale's condition (population reader), or depression
        pop["condition"] = condition
    if scale:
        pop["scale"] = scale
    if baseline is not None:
        # the scale's own spread (population.default_baseline_sd, as a dashboard trial's): a fixed 5 points was 24 %
        # of a 0-21 scale's range (GAD-7, HADS), 8 % of MADRS's
        pop["baseline"] = {"mean": baseline, "sd": default_baseline_sd(scale, condition) if size > 1 else 0.0}
    if age_years is not None:
        pop["age_years"] = {"mean": age_years, "sd": 12.0 if size > 1 else 0.0}
    if age_range is not None:
        lo, hi = _age_range(age_range, arg("age_range"))
        pop["age_years"] = {"mean": (lo + hi) / 2 if age_years is None else age_years, "sd": 12.0 if size > 1 else 0.0,
                            "min": lo, "max": hi}
        try:
            from .population import Distribution, check_age

            check_age(Distribution(**pop["age_years"]), "<age>")
        except InputError as e:            # name the option (the argument), not the YAML path
            raise InputError(str(e).replace("<age>.mean", arg("age_years", "--age"))
                             .replace("<age>.min", arg("age_range")).replace("<age>.max", arg("age_range"))
                             .replace("<age>", arg("age_range"))) from None
    if sex is not None:
        from .patient import parse_sex

        sex = parse_sex(sex, arg("sex"))
        pop["female_fraction"] = 1.0 if sex == "female" else 0.0
    if comedications:
        pop["comedications"] = list(comedications)
    if recurrence is not True:           # stated only when off: the quick form's scenario is otherwise as before;
        pop["recurrence"] = recurrence   # anything but true/false is named by the population reader (was taken as on)
    if re_response is not False:         # stated only when on (off by default); validated by the population
        pop["re_response"] = re_response
    data: dict[str, Any] = {"name": name, "seed": seed, "population": pop, "arms": {parse_drug(drug).value: [line]}}
    if output_every or until:
        data["output"] = {k: v for k, v in (("every", output_every), ("until", until)) if v}
    # one patient (size 1, weight SD 0): its dose in mg is judged at its weight, stated or the default 80 kg (90 mg at
    # --weight 120 is 0.75 mg/kg) -- by scenario_from_dict's content rule, so the exported YAML is judged alike
    return scenario_from_dict(data)


def _age_range(text, field: str = "age_range") -> tuple[float, float]:
    """'65-86' (or '65\u201386', '65:86', '65 to 86') -> (65.0, 86.0); else a one-line error naming ``field``
    (``--age-range`` on the command line)."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:-|\u2013|\u2014|:|to)\s*(\d+(?:\.\d+)?)\s*(?:y|years?)?\s*",
                     str(text))         # '65-86', also with the en dash papers print ('65\u201386')
    if not m:
        raise InputError(f"{field}: write the inclusion range as MIN-MAX in years, e.g. 65-86, got {str(text)[:40]!r}")
    return float(m.group(1)), float(m.group(2))


__all__ = ["Scenario", "Endpoints", "load_scenario", "scenario_from_dict", "quick_scenario", "scenario_to_yaml"]


def patient_scenario(patient, arms, *, name: str = "patient", endpoints: dict | None = None, output=None,
                     seed: int = 0) -> Scenario:
    """A scenario for one stated :class:`ketasim.patient.Patient` (or a mapping of its fields, as a scenario file's
    ``patient:`` section). ``arms``: ``{name: [dose lines]}`` or one list of dose lines, each ``{drug, route, dose |
    rate, duration, at, every, count}`` as in the YAML (one dose line alone is a regimen of that line)."""
    import dataclasses
    from collections.abc import Mapping

    if isinstance(arms, Mapping) and isinstance(arms.get("drug"), str):
        arms = [arms]       # one dose line: it read as arms named drug, route, ... ("arms.drug: expected a list")
    if isinstance(arms, tuple):
        arms = list(arms)
    if isinstance(arms, list):
        arms = {"regimen": arms}
    if not isinstance(arms, Mapping):
        raise InputError(f"arms: expected a list of dose lines ({{drug, route, dose, ...}}) or {{name: [dose lines]}}, "
                         f"got {type(arms).__name__} {str(arms)[:40]!r}")
    from .patient import Patient

    if isinstance(patient, Mapping):        # the YAML's patient: section as a dict, checked as the file's
        data = {"name": name, "seed": seed, "patient": dict(patient), "arms": arms}
    elif isinstance(patient, Patient):
        data = {"name": name, "seed": seed, "patient": dataclasses.asdict(patient), "arms": arms}
        data["patient"]["comedications"] = list(patient.comedications)
    else:       # a str or None stopped with TypeError: asdict() should be called on dataclass instances
        raise InputError(f"patient: expected a ketasim.Patient (e.g. Patient(weight_kg=70, age_years=30)) or a "
                         f"mapping of its fields, got {type(patient).__name__} {str(patient)[:40]!r}")
    if endpoints is not None:
        data["endpoints"] = endpoints
    if output is not None:
        data["output"] = output
    return scenario_from_dict(data)
