"""Response-guided dosing as trial protocols state it: separate decision sessions for increases and decreases
(``increase_sessions`` / ``decrease_sessions``; TRANSFORM-2 allowed decreases but no increases at day 15) and
decisions on the rating an investigator records (``decide_on: rating``: model score + the trial's rater noise)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from ketasim import load_parameters, run_trial, simulate
from ketasim.errors import InputError
from ketasim.scenario import scenario_from_dict

ESK = {"drug": "esketamine", "route": "intranasal", "dose": "28 mg", "at": "0 d", "every": "3.5 d", "count": 6}
AD = {"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}


def _dict(titration: dict, size: int = 40, seed: int = 5, endpoints: dict | None = None) -> dict:
    d = {"name": "protocol", "seed": seed, "population": {"size": size, "baseline": {"mean": 36, "sd": 5}},
         "arms": {"flex": {"doses": [ESK, AD], "titration": {"doses": ["28 mg", "56 mg", "84 mg"], **titration}}},
         "output": {"times": ["1 d", "7 d", "14 d", "21 d"]}}
    if endpoints is not None:
        d["endpoints"] = endpoints
    return d


def _scenario(titration: dict, **kw):
    return scenario_from_dict(_dict(titration, **kw))


EVERYONE_UP = {"score_reduction_below": 1.0}      # a reduction below 100 %: holds for every patient
EVERYONE_DOWN = {"sbp_change_peak_above": -1000.0}  # a systolic change above -1000 mmHg: holds for every patient


def test_increases_fire_only_at_increase_sessions_and_decreases_only_at_decrease_sessions():
    rule = {"increase_if": EVERYONE_UP, "decrease_if": EVERYONE_DOWN}
    sep = simulate(_scenario({**rule, "increase_sessions": [2, 3], "decrease_sessions": [4]})).runs[0]
    # decision sessions are the union [2, 3, 4]: up, up (no decrease may act there), then down
    assert sep.dose_levels.shape[1] == 3
    assert (sep.dose_levels == np.array([1, 2, 1])).all()
    # the shorthand lets both act everywhere (a decrease wins): up at 2, down at 3, up at 4
    both = simulate(_scenario({**rule, "sessions": [2, 3, 4]})).runs[0]
    assert (both.dose_levels == np.array([1, 0, 1])).all()
    # stating both directions at the same sessions is the shorthand
    same = simulate(_scenario({**rule, "increase_sessions": [2, 3, 4], "decrease_sessions": [2, 3, 4]})).runs[0]
    assert np.array_equal(same.dose_levels, both.dose_levels)


def test_a_response_rule_moves_only_at_its_sessions_and_only_the_patients_it_names():
    late = simulate(_scenario({"increase_if": {"score_reduction_below": 0.5}, "increase_sessions": [3],
                               "decrease_if": {"cadss_peak_above": 1000.0}, "decrease_sessions": [4]})).runs[0]
    # session 4 is a decrease-only session whose criterion nobody meets: nobody moves there, not even the
    # patients still meeting the increase criterion
    assert np.array_equal(late.dose_levels[:, 1], late.dose_levels[:, 0])
    # at session 3 (the first decision) exactly the patients whose reduction at the rating before it is below
    # 50 % step up
    t3 = 7 * 24.0 - 1 / 60
    fixed = copy.deepcopy(_dict({"increase_if": EVERYONE_UP, "sessions": [2]}))
    fixed["arms"]["flex"] = [ESK, AD]
    fixed["output"] = {"times": [f"{t3!r} h"]}
    ref = simulate(scenario_from_dict(fixed)).runs[0]
    reduction = 1 - ref.output("score")[:, 0] / ref.patients.baseline
    moved = late.dose_levels[:, 0] == 1
    assert moved.any() and (~moved).any()
    assert np.array_equal(moved, reduction < 0.5)


def test_rated_decisions_differ_for_some_patients_but_not_without_rater_noise():
    rule = {"increase_if": {"score_above": 24.5}, "sessions": [2, 3, 4]}   # a half-point threshold: rounding alone
    model = simulate(_scenario(rule, size=200)).runs[0].dose_levels        # never moves a patient across it
    rated = simulate(_scenario({**rule, "decide_on": "rating"}, size=200)).runs[0].dose_levels
    changed = (model != rated).any(axis=1)
    assert 0 < changed.sum() < 200, changed.sum()
    quiet = simulate(_scenario({**rule, "decide_on": "rating"}, size=200,
                               endpoints={"times": ["7 d"], "rating_noise": False})).runs[0].dose_levels
    assert np.array_equal(quiet, model)


def test_rated_decisions_are_reproducible_per_seed_and_independent_of_chunking():
    rule = {"increase_if": {"score_reduction_below": 0.5}, "sessions": [2, 3, 4], "decide_on": "rating"}
    sc = _scenario(rule, size=60, endpoints={"times": ["7 d", "21 d"]})
    a = run_trial(sc)
    b = run_trial(sc)
    c = run_trial(sc, chunk=7)
    la = a.outcomes["flex"].dose_levels
    assert np.array_equal(la, b.outcomes["flex"].dose_levels)
    assert np.array_equal(la, c.outcomes["flex"].dose_levels)
    assert np.array_equal(a.outcomes["flex"].rating, c.outcomes["flex"].rating)
    # the simulate path draws the same patients and the same rater noise
    assert np.array_equal(la, simulate(sc).runs[0].dose_levels)
    other = run_trial(sc, seed=6).outcomes["flex"].dose_levels
    assert not np.array_equal(la, other)


def test_decision_ratings_noise_does_not_touch_the_endpoint_ratings():
    """The decision ratings' rater noise comes from the patients' own streams, not from the trial's rating generator:
    without the fluctuation of true severity (which the decision and endpoint ratings share, next test), patients
    whose path is the same under both rules get exactly the same endpoint ratings."""
    rule = {"increase_if": {"score_reduction_below": 0.5}, "sessions": [2, 3, 4]}
    ep = {"times": ["7 d", "21 d"]}
    p = load_parameters().with_free({"fluctuation_sd": 0.0}, "test", "test: no fluctuation")
    model = run_trial(_scenario(rule, size=120, endpoints=ep), params=p).outcomes["flex"]
    rated = run_trial(_scenario({**rule, "decide_on": "rating"}, size=120, endpoints=ep), params=p).outcomes["flex"]
    same = (model.dose_levels == rated.dose_levels).all(axis=1)
    assert same.any() and (~same).any()
    assert np.array_equal(model.rating[same], rated.rating[same])
    assert np.allclose(model.model_score[same], rated.model_score[same])


def test_decisions_and_endpoint_ratings_share_the_fluctuation_of_true_severity():
    """A patient who rates high at a decision because its true severity fluctuated up is still up at an endpoint
    rating a day later (correlation time 14 d): among patients escalated on a rating, the endpoint ratings sit above
    their model scores more than among the others. Independent draws (the sixteenth-to-nineteenth sessions' code)
    would give the two groups the same mean excess."""
    rule = {"increase_if": {"score_above": 20.5}, "sessions": [3], "decide_on": "rating"}   # session 3 at day 7
    o = run_trial(_scenario(rule, size=3000, endpoints={"times": ["7 d"]})).outcomes["flex"]
    k = int(np.flatnonzero(o.times_h == 7 * 24.0)[0])     # the endpoint rating, 1 min after the decision rating
    up = o.dose_levels[:, 0] > 0
    excess = o.rating[:, k] - o.model_score[:, k]
    assert 0.1 < up.mean() < 0.9
    diff = excess[up].mean() - excess[~up].mean()
    se = np.sqrt(excess[up].var() / up.sum() + excess[~up].var() / (~up).sum())
    assert diff > 4 * se, (diff, se)


def test_trial_json_states_the_sessions_and_decide_on_only_when_used():
    ep = {"times": ["7 d", "21 d"]}
    plain = run_trial(_scenario({"increase_if": EVERYONE_UP, "sessions": [2, 3]}, size=20, endpoints=ep))
    block = json.loads(json.dumps(plain.to_dict()))["arms"]["flex"]["titration"]
    assert "decide_on" not in block and "increase_sessions" not in block
    tr = run_trial(_scenario({"increase_if": EVERYONE_UP, "decrease_if": EVERYONE_DOWN, "increase_sessions": [2, 3],
                              "decrease_sessions": [4], "decide_on": "rating"}, size=20, endpoints=ep))
    block = json.loads(json.dumps(tr.to_dict()))["arms"]["flex"]["titration"]
    assert block["sessions"] == [2, 3, 4]
    assert block["increase_sessions"] == [2, 3] and block["decrease_sessions"] == [4]
    assert block["decide_on"] == "rating"
    assert block["decision_rating_noise_sd"] > 0 and "rater noise" in block["decided_on"]


@pytest.mark.parametrize("titration, field", [
    ({"increase_if": EVERYONE_UP, "increase_sessions": "2"}, "increase_sessions"),
    ({"increase_if": EVERYONE_UP, "increase_sessions": []}, "increase_sessions"),
    ({"increase_if": EVERYONE_UP, "increase_sessions": [1, 2]}, "increase_sessions[0]"),
    ({"increase_if": EVERYONE_UP, "increase_sessions": [2, 9]}, "increase_sessions[1]"),
    ({"increase_if": EVERYONE_UP, "increase_sessions": [2, True]}, "increase_sessions[1]"),
    ({"increase_if": EVERYONE_UP, "decrease_if": EVERYONE_DOWN, "increase_sessions": [2],
      "decrease_sessions": [3, 3]}, "decrease_sessions[1]"),
    ({"increase_if": EVERYONE_UP, "sessions": [2], "increase_sessions": [2]}, "increase_sessions"),
    ({"increase_if": EVERYONE_UP, "sessions": [2], "decrease_sessions": [3]}, "decrease_sessions"),
    ({"increase_if": EVERYONE_UP, "decrease_sessions": [3]}, "increase_sessions"),
    ({"increase_if": EVERYONE_UP, "increase_sessions": [2], "decrease_sessions": [3]}, "decrease_if"),
    # never fires: decreases only before any increase, from the lowest (start) dose
    ({"increase_if": EVERYONE_UP, "decrease_if": EVERYONE_DOWN, "increase_sessions": [3],
      "decrease_sessions": [2]}, "decrease_sessions"),
    ({"decrease_if": EVERYONE_DOWN, "sessions": [2, 3]}, "sessions"),
    ({"increase_if": EVERYONE_UP, "sessions": [2], "decide_on": "ratings"}, "decide_on"),
    ({"increase_if": EVERYONE_UP, "sessions": [2], "decide_on": 1}, "decide_on"),
])
def test_bad_protocol_input_is_one_line_naming_the_field(titration, field):
    with pytest.raises(InputError) as e:
        _scenario(titration)
    msg = str(e.value)
    assert msg.startswith(f"arms.flex.titration.{field}") and "\n" not in msg, msg


def test_increase_rule_from_the_top_dose_never_fires_and_is_refused():
    d = _dict({"increase_if": EVERYONE_UP, "sessions": [2, 3]})
    d["arms"]["flex"]["titration"]["doses"] = ["14 mg", "28 mg"]        # the line's 28 mg is the top level
    with pytest.raises(InputError, match=r"^arms\.flex\.titration\.sessions: the increase_if rule can never fire"):
        scenario_from_dict(d)


def test_sensitivity_runs_a_rating_rule_with_its_own_draws():
    from ketasim.parameters import load_parameters
    from ketasim.sensitivity import endpoint_value, parse_endpoint

    sc = _scenario({"increase_if": {"score_reduction_below": 0.5}, "sessions": [2, 3], "decide_on": "rating"})
    a = endpoint_value(load_parameters(), sc, parse_endpoint("mean_change@14 d"), n=20)
    assert np.isfinite(a) and a == endpoint_value(load_parameters(), sc, parse_endpoint("mean_change@14 d"), n=20)
