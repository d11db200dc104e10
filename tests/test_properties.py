"""Issue 11: property-based tests (Hypothesis) over the scenario schema and the dashboard's request bodies.

Whatever the input: either a valid object whose invariants hold, or one KetasimError line; never another
exception, never silent nonsense. Bounded, derandomized examples so the default run stays fast and stable
(the >= 10,000-case fuzz run is benchmarks/robustness.py)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ketasim  # noqa: E402
from ketasim import limits  # noqa: E402
from ketasim.errors import KetasimError  # noqa: E402
from ketasim.scenario import parse_scenario_yaml  # noqa: E402
from ketasim.units import parse_dose, parse_time_h  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["0.5 mg/kg", "56 mg", "40 min", "3.5 d", "1e400 h", "1e18 h", "-1 h", "56 mg * 10**10**10",
                     "nan h", "1000 year", "0 h", "", " ", "ketamine", "iv", "x" * 200]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
time_text = st.one_of(st.builds(lambda v, u: f"{v:g} {u}", st.floats(-1e3, 1e6, allow_nan=False),
                                st.sampled_from(["h", "min", "d", "week", "s", "year", "mg", "zorks"])), junk)
dose_text = st.one_of(st.builds(lambda v, u: f"{v:g} {u}", st.floats(-5, 2000, allow_nan=False),
                                st.sampled_from(["mg", "mg/kg", "ug/kg", "g", "mL", "h"])), junk)
line = st.fixed_dictionaries(
    {"drug": st.one_of(st.sampled_from(["racemic-ketamine", "esketamine", "arketamine", "placebo", "midazolam",
                                        "oral-antidepressant", "ketamine"]), junk),
     "route": st.one_of(st.sampled_from(["iv-infusion", "iv-bolus", "intranasal", "oral", "im", "sc",
                                         "sublingual"]), junk)},
    optional={"dose": dose_text, "duration": time_text, "at": time_text, "every": time_text,
              "count": st.one_of(st.integers(-3, 3000), junk)})
population = st.fixed_dictionaries({}, optional={
    "size": st.one_of(st.integers(-5, 3_000_000), junk), "condition": st.one_of(st.sampled_from(
        ["depression", "anxiety", "ptsd", "suicidal_ideation"]), junk),
    "scale": st.one_of(st.sampled_from(["madrs", "hamd17", "hama", "caps5", "ssi"]), junk),
    "weight_kg": st.one_of(st.fixed_dictionaries({"mean": st.floats(-10, 400), "sd": st.floats(-1, 50)}), junk),
    "female_fraction": st.one_of(st.floats(), junk), "expectancy": st.one_of(st.floats(), junk),
    "crp_mg_l": st.one_of(st.floats(), junk), "comedications": st.one_of(st.lists(st.text(max_size=10), max_size=2), junk)})
scenario = st.fixed_dictionaries(
    {"name": st.one_of(st.text(max_size=20), junk),
     "arms": st.one_of(st.dictionaries(st.text(min_size=1, max_size=8), st.lists(line, min_size=1, max_size=3),
                                       min_size=1, max_size=3), junk)},
    optional={"seed": st.one_of(st.integers(-5, 2**70), junk), "population": st.one_of(population, junk),
              "endpoints": st.one_of(st.fixed_dictionaries({"times": st.lists(time_text, max_size=4)}, optional={
                  "remission_threshold": st.one_of(st.floats(), junk),
                  "response_reduction": st.one_of(st.floats(), junk)}), junk),
              "output": st.one_of(st.fixed_dictionaries({}, optional={"every": time_text, "until": time_text,
                                                                      "times": st.lists(time_text, max_size=4)}), junk),
              "design": st.one_of(st.fixed_dictionaries({}, optional={
                  "type": st.one_of(st.sampled_from(["parallel", "crossover", "randomized_withdrawal"]), junk),
                  "control": junk, "continue": junk, "withdraw": junk, "relapse_score": junk,
                  "criterion": junk, "induction_until": time_text}), junk),
              "experiments": st.one_of(st.fixed_dictionaries({}, optional={"ampa_block": junk, "mtor_block": junk}), junk)})

valid_line = st.one_of(
    st.builds(lambda d, dur, at: {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": f"{d:.3g} mg/kg",
                                  "duration": f"{dur:.3g} min", "at": f"{at:.4g} h"},
              st.floats(0.05, 1.5), st.floats(5, 120), st.floats(0, 500)),
    st.builds(lambda d, every, count: {"drug": "esketamine", "route": "intranasal", "dose": f"{d} mg",
                                       "every": f"{every:.3g} d", "count": count},
              st.sampled_from([28, 56, 84]), st.floats(1, 7), st.integers(1, 12)),
    st.builds(lambda d: {"drug": "racemic-ketamine", "route": "oral", "dose": f"{d:.3g} mg/kg"}, st.floats(0.1, 3)),
    st.just({"drug": "placebo", "route": "iv-infusion"}),
    st.just({"drug": "midazolam", "route": "iv-bolus", "dose": "0.02 mg/kg"}),
    st.just({"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}))
valid_scenario = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=20),
     "arms": st.dictionaries(st.text(min_size=1, max_size=8), st.lists(valid_line, min_size=1, max_size=2),
                             min_size=1, max_size=3)},
    optional={"seed": st.integers(0, 2**63 - 1),
              "population": st.fixed_dictionaries({}, optional={
                  "size": st.integers(1, 50), "condition": st.sampled_from(["depression", "anxiety", "ptsd"]),
                  "weight_kg": st.fixed_dictionaries({"mean": st.floats(40, 150), "sd": st.floats(0, 20)})}),
              "endpoints": st.fixed_dictionaries({"times": st.lists(st.sampled_from(["2 h", "24 h", "7 d", "28 d"]),
                                                                    min_size=1, max_size=4)}),
              "output": st.fixed_dictionaries({"every": st.sampled_from(["1 h", "6 h", "1 d"])})})


def _mutate(data: dict, where: int, value):
    """Replace one field (top level, population, or the first dose line) by ``value``."""
    import copy

    d = copy.deepcopy(data)
    arm = next(iter(d["arms"]))
    targets = [(d, "seed"), (d, "name"), (d.setdefault("population", {}), "size"),
               (d["population"], "female_fraction"), (d["arms"][arm][0], "dose"), (d["arms"][arm][0], "at"),
               (d["arms"][arm][0], "every"), (d["arms"][arm][0], "count"), (d["arms"][arm][0], "duration"),
               (d, "output"), (d, "endpoints"), (d, "design"), (d["arms"], arm)]
    obj, key = targets[where % len(targets)]
    obj[key] = value
    return d


mutated = st.builds(_mutate, valid_scenario, st.integers(0, 100), junk)
any_scenario = st.one_of(scenario, valid_scenario, mutated)


def _one_line(e: BaseException) -> None:
    msg = str(e)
    assert msg and "\n" not in msg and len(msg) < 600, msg


def _check_valid(sc) -> None:
    assert isinstance(sc, ketasim.Scenario)
    assert 0 < sc.horizon_h <= limits.MAX_TIME_H * 1.01 + 24 * 14
    assert sc.n_output_times() >= 1
    assert 0 <= sc.seed <= limits.MAX_SEED
    assert 1 <= sc.population.size <= limits.MAX_PATIENTS
    for arm in sc.arms:
        for a in arm.administrations():
            assert math.isfinite(a.amount) and a.amount >= 0 and 0 <= a.start_h <= limits.MAX_TIME_H
    if sc.endpoints:
        assert all(0 <= t <= limits.MAX_TIME_H for t in sc.endpoints.times_h)
        rt = sc.endpoints.remission_threshold
        assert rt is None or math.isfinite(rt)
    est = limits.check_scenario_run(sc)
    assert est.bytes <= limits.memory_budget()


def _read(data):
    """scenario_from_dict with its warnings recorded: a warning (an anesthetic-range dose, coinciding dose lines) is a
    valid outcome of reading a scenario, and must itself be one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sc = ketasim.scenario_from_dict(data)
    for w in caught:
        _one_line(w.message)
    return sc


@SETTINGS
@given(any_scenario)
def test_any_scenario_mapping_is_valid_or_one_line_error(data):
    try:
        sc = _read(data)
    except KetasimError as e:
        _one_line(e)
        return
    _check_valid(sc)


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.one_of(valid_scenario, mutated))
def test_valid_scenarios_simulate_to_finite_numbers(data):
    try:
        sc = _read(data)
    except KetasimError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ketasim.errors.DoseWarning)      # read above; the run may repeat it
        res = ketasim.simulate(sc, typical=True, output_times_h=[0.0, 24.0])
    for r in res.runs:
        assert np.isfinite(r.out).all()
        assert r.out.shape[1] == 2


@SETTINGS
@given(st.text(max_size=80))
def test_any_text_is_a_quantity_or_one_line_error(text):
    for fn in (lambda: parse_time_h(text, "t"), lambda: parse_dose(text, "d")):
        try:
            v = fn()
        except KetasimError as e:
            _one_line(e)
            continue
        value = v[0] if isinstance(v, tuple) else v
        assert math.isfinite(value)


@SETTINGS
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
                    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=4), c, max_size=3)),
                    max_leaves=40))
def test_any_yaml_is_data_or_one_line_error(value):
    import yaml

    text = yaml.safe_dump({"k": value})
    try:
        out = parse_scenario_yaml(text)
    except KetasimError as e:   # duplicate keys cannot arise from a dict; depth or size can
        _one_line(e)
        return
    assert out == {"k": value}


# ---- request bodies -------------------------------------------------------------------------------------------------
reg = st.fixed_dictionaries({}, optional={k: junk for k in ("enabled", "name", "drug", "route", "dose", "dose_unit",
                                                             "duration_min", "every", "every_unit", "count",
                                                             "background_antidepressant")})
form = st.fixed_dictionaries({}, optional={
    "patient": st.one_of(st.fixed_dictionaries({}, optional={k: junk for k in (
        "weight_kg", "age_years", "sex", "genotype", "crp_mg_l", "condition", "scale", "baseline",
        "treatment_resistant", "comedications")}), junk),
    "regimens": st.one_of(st.lists(st.one_of(reg, junk), max_size=4), junk),
    "experiments": st.one_of(st.fixed_dictionaries({}, optional={"ampa_block": junk}), junk),
    "trial": st.one_of(st.fixed_dictionaries({}, optional={k: junk for k in ("size", "seed", "times", "placebo_arm")}),
                       junk),
    "name": junk, "view": junk})


@SETTINGS
@given(form, st.booleans())
def test_any_request_body_builds_or_names_its_fields(body, as_trial):
    api = pytest.importorskip("ketasim.web.api")
    base = api.default_form()
    merged = {**base, **body}
    try:
        b = api.build_trial(merged) if as_trial else api.build(merged)
    except api.FormErrors as e:
        assert e.errors and all(set(x) == {"field", "message"} and "\n" not in x["message"] for x in e.errors)
        return
    except KetasimError as e:
        _one_line(e)
        return
    _check_valid(b.scenario)
