"""Scenarios: the stable YAML contract of DESIGN.md, loaded into frozen objects.

Structure (types, unknown keys) is checked by pydantic; meaning (units, doses, schedules, ranges) by the
domain objects (``Dose``, ``PopulationSpec``, ``VirtualExperiment``). Every problem surfaces as one
``ScenarioFileError``/``InputError`` line that names the field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from .engine import VirtualExperiment, default_horizon_h
from .errors import InputError, ScenarioFileError
from .population import DEFAULT_BASELINE, DEFAULT_SCALE, SCALES, Distribution, PopulationSpec
from .regimen import Arm, arm_from_list, parse_drug, parse_route
from .units import parse_time_h

from .vocabulary import DEFAULT_MEASURES, KNOWN_MEASURES  # noqa: E402,F401  (defined once, for every layer)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Dist(_Strict):
    mean: float
    sd: float = 0.0


class _Population(_Strict):
    size: int = 1
    condition: str = "depression"
    treatment_resistant: bool = True
    scale: str | None = None
    baseline: _Dist | None = None
    weight_kg: _Dist = _Dist(mean=80.0, sd=15.0)
    age_years: _Dist = _Dist(mean=45.0, sd=12.0)
    female_fraction: float = 0.55
    comedications: list[str] = []
    genotype: str | None = None
    crp_mg_l: float | None = None
    expectancy: float = 1.0
    perception: float = 1.0
    general_anesthesia: bool = False
    p_active: float | None = None


class _Endpoints(_Strict):
    times: list[str | float]
    measures: list[str] = list(DEFAULT_MEASURES)
    remission_threshold: float | None = None
    response_reduction: float = 0.5
    rating_noise: bool = True


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


class _Scenario(_Strict):
    name: str
    seed: int = 0
    population: _Population = _Population()
    arms: dict[str, list[Any]]
    endpoints: _Endpoints | None = None
    output: _Output | list[str | float] | None = None
    experiments: _Experiments | None = None
    design: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Endpoints:
    times_h: tuple[float, ...]
    measures: tuple[str, ...] = DEFAULT_MEASURES
    remission_threshold: float | None = None
    response_reduction: float = 0.5
    rating_noise: bool = True


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

    @property
    def horizon_h(self) -> float:
        h = default_horizon_h(self.arms)
        if self.endpoints:
            h = max(h, max(self.endpoints.times_h))
        if self.output_until_h:
            h = self.output_until_h
        return h

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
                                          n_patients or self.population.size)
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
        return dataclasses.replace(self, **changes)


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "scenario"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    return f"{loc}: {msg}"


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
    condition: str = "depression"
    scale: str | None = None
    treatment_resistant: bool = True
    crp_mg_l: float | None = None
    genotype: str = "val/val"
    comedications: list[str] = []


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
        raise ScenarioFileError("patient." + _first_error(e)) from None
    patient = Patient(**{**m.model_dump(), "comedications": tuple(m.comedications)})
    rest = {k: v for k, v in data.items() if k != "patient"}
    rest["population"] = patient.population_mapping()
    sc = scenario_from_dict(rest)
    return dataclasses.replace(sc, patient=patient, source=data)


def scenario_from_dict(data: dict) -> Scenario:
    """Validate a scenario mapping (as read from YAML)."""
    if isinstance(data, dict) and data.get("patient") is not None:
        return _patient_scenario(data)
    if not isinstance(data, dict):
        raise ScenarioFileError("scenario: expected a mapping at the top level (name, population, arms, ...)")
    try:
        m = _Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioFileError(_first_error(e)) from None
    pop = m.population
    scale = pop.scale or DEFAULT_SCALE.get(pop.condition, "madrs")
    if scale not in SCALES:
        raise InputError(f"population.scale: unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    base = pop.baseline or _Dist(mean=DEFAULT_BASELINE[scale][0], sd=DEFAULT_BASELINE[scale][1])
    if not m.arms:
        raise InputError("arms: at least one arm is required")
    arms = tuple(arm_from_list(str(k), v) for k, v in m.arms.items())
    # what participants may expect: given, or (blinded, equal allocation) the share of arms giving ketamine;
    # a single-arm scenario is open label (1)
    if pop.p_active is not None:
        p_active = pop.p_active
    elif len(arms) == 1:
        p_active = 1.0
    else:
        p_active = sum(any(a.drug.is_ketamine for a in arm.administrations()) for arm in arms) / len(arms)
    spec = PopulationSpec(size=pop.size, condition=pop.condition, treatment_resistant=pop.treatment_resistant,
                          scale=scale, baseline=Distribution(base.mean, base.sd),
                          weight_kg=Distribution(pop.weight_kg.mean, pop.weight_kg.sd),
                          age_years=Distribution(pop.age_years.mean, pop.age_years.sd),
                          female_fraction=pop.female_fraction, comedications=tuple(pop.comedications),
                          genotype=pop.genotype, crp_mg_l=pop.crp_mg_l, expectancy=pop.expectancy,
                          perception=pop.perception, general_anesthesia=pop.general_anesthesia,
                          p_active=float(p_active))
    endpoints = None
    if m.endpoints is not None:
        ep = m.endpoints
        if not ep.times:
            raise InputError("endpoints.times: at least one time is required")
        for meas in ep.measures:
            if meas not in KNOWN_MEASURES:
                raise InputError(f"endpoints.measures: unknown measure {meas!r}; known: {', '.join(KNOWN_MEASURES)}")
        if not (0 < ep.response_reduction < 1):
            raise InputError("endpoints.response_reduction: must lie in (0, 1), e.g. 0.5 for a 50% reduction")
        endpoints = Endpoints(_times(ep.times, "endpoints.times"), tuple(ep.measures), ep.remission_threshold,
                              ep.response_reduction, ep.rating_noise)
    every = until = None
    out_list = None
    if isinstance(m.output, list):
        out_list = _times(m.output, "output")
    elif m.output is not None:
        if m.output.times is not None:
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
    n_rows = (len(out_list) if out_list else ((until or 28 * 24) / (every or 6.0))) * pop.size * len(arms)
    if n_rows > 5e8:
        raise InputError(f"output: {n_rows:.3g} rows would not fit in memory; output less often or fewer patients")
    exp = VirtualExperiment(**m.experiments.model_dump()) if m.experiments else VirtualExperiment()
    design = tuple(sorted((m.design or {}).items()))
    return Scenario(m.name, spec, arms, m.seed, endpoints, every, until, out_list, exp, design, source=data)


def load_scenario(path) -> Scenario:
    """Read a YAML scenario file."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise ScenarioFileError(f"{path}: no such scenario file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ScenarioFileError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    except UnicodeDecodeError:
        raise ScenarioFileError(f"{path}: not a text file") from None
    return scenario_from_dict(data)


def scenario_to_yaml(scenario: Scenario) -> str:
    import yaml

    if scenario.source is not None:
        return yaml.safe_dump(scenario.source, sort_keys=False)
    raise InputError("scenario: has no source mapping to write")


def quick_scenario(drug: str, route: str, dose: str | None = None, *, duration: str | None = None,
                   at: str | None = None, every: str | None = None, count: int = 1, name: str = "quick",
                   size: int = 1, condition: str = "depression", scale: str | None = None, weight_kg: float = 80.0,
                   baseline: float | None = None, seed: int = 0, output_every: str | None = None,
                   until: str | None = None, age_years: float | None = None, sex: str | None = None,
                   comedications=()) -> Scenario:
    """A one-arm scenario from command-line style arguments (the CLI's quick form).

    ``dose`` may be an infusion rate (``'0.5 mg/kg/h'``) with ``duration``: dose = rate x duration.
    ``sex`` ('female'/'male') fixes everyone's sex; ``comedications``: names as in ``population.comedications``.
    """
    from .regimen import is_rate_text

    parse_drug(drug)
    parse_route(route)
    line: dict[str, Any] = {"drug": drug, "route": route}
    if dose is not None:
        line["dose"] = dose
    if duration is not None:
        line["duration"] = duration
    elif is_rate_text(dose):
        raise InputError(f"--dose: {dose} is an infusion rate; add --duration (e.g. --duration '40 min') and "
                         "ketasim gives dose = rate x duration")
    elif parse_route(route).value == "iv-infusion":
        line["duration"] = "40 min"
    if at is not None:
        line["at"] = at
    if every is not None:
        line["every"] = every
    if count != 1:
        line["count"] = count
    pop: dict[str, Any] = {"size": size, "condition": condition, "weight_kg": {"mean": weight_kg, "sd": 15.0 if size > 1 else 0.0}}
    if scale:
        pop["scale"] = scale
    if baseline is not None:
        pop["baseline"] = {"mean": baseline, "sd": 5.0 if size > 1 else 0.0}
    if age_years is not None:
        pop["age_years"] = {"mean": age_years, "sd": 12.0 if size > 1 else 0.0}
    if sex is not None:
        if sex not in ("female", "male"):
            raise InputError(f"--sex: use female or male, got {sex!r}")
        pop["female_fraction"] = 1.0 if sex == "female" else 0.0
    if comedications:
        pop["comedications"] = list(comedications)
    data: dict[str, Any] = {"name": name, "seed": seed, "population": pop, "arms": {parse_drug(drug).value: [line]}}
    if output_every or until:
        data["output"] = {k: v for k, v in (("every", output_every), ("until", until)) if v}
    return scenario_from_dict(data)


__all__ = ["Scenario", "Endpoints", "load_scenario", "scenario_from_dict", "quick_scenario", "scenario_to_yaml"]


def patient_scenario(patient, arms, *, name: str = "patient", endpoints: dict | None = None, output=None,
                     seed: int = 0) -> Scenario:
    """A scenario for one stated :class:`ketasim.patient.Patient`. ``arms``: ``{name: [dose lines]}`` or one list of
    dose lines, each ``{drug, route, dose | rate, duration, at, every, count}`` as in the YAML."""
    import dataclasses

    if isinstance(arms, list):
        arms = {"regimen": arms}
    data = {"name": name, "seed": seed, "patient": dataclasses.asdict(patient), "arms": arms}
    data["patient"]["comedications"] = list(patient.comedications)
    if endpoints is not None:
        data["endpoints"] = endpoints
    if output is not None:
        data["output"] = output
    return scenario_from_dict(data)
