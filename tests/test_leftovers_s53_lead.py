"""Fifty-third session, lead: leftovers of the fifty-second session's closing review."""

import json

import pytest
import yaml

import ketasim

WITHDRAWAL = """
name: s53-null-keys
seed: 3
population: {size: 12, condition: depression, scale: madrs}
design:
  type: randomized_withdrawal
  continue: continue
  withdraw: withdraw
arms:
  continue:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, every: 3.5 d, count: 8}
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, at: 28 d, every: 7 d, count: 2}
  withdraw:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, every: 3.5 d, count: 8}
    - {drug: placebo, route: iv-infusion, duration: 40 min, at: 28 d, every: 7 d, count: 2}
endpoints:
  times: [28 d, 6 week]
  measures: [relapse_rate]
"""


@pytest.mark.parametrize("key", ["criterion", "relapse_score", "induction_until", "stable_visits",
                                 "relapse_consecutive", "control", "follow_up_every"])
def test_a_design_key_written_empty_means_its_default(key):
    """Review L10 (s52): ``design.criterion: null`` (or ``criterion:`` left empty) passed the scenario and was then
    refused by the trial ("use one of ..."); ``relapse_score: null`` said "must be a number", ``induction_until:``
    "expected a quantity ..., got NoneType". An empty key now means the default, as if it were left out."""
    data = yaml.safe_load(WITHDRAWAL)
    plain = ketasim.scenario_from_dict(data)
    data["design"][key] = None
    empty = ketasim.scenario_from_dict(data)
    assert empty.design == plain.design
    assert key not in dict(empty.design)


def test_a_withdrawal_with_an_empty_criterion_runs_as_the_default():
    from ketasim.trial import run_trial

    data = yaml.safe_load(WITHDRAWAL)
    data["design"].update(criterion=None, relapse_score=None)
    rows = run_trial(ketasim.scenario_from_dict(data)).endpoints
    plain = run_trial(ketasim.scenario_from_dict(yaml.safe_load(WITHDRAWAL))).endpoints
    assert json.dumps(rows) == json.dumps(plain)       # (NaN bounds compare equal as text)
    assert any(r.get("measure") == "relapse_rate" for r in rows)
