"""``treatment_resistant`` defaults by condition (fiftieth session): true for depression, false for PTSD, anxiety
and suicidal ideation. Until then it was true for every condition, so a PTSD, anxiety or SI scenario that left it out
got the treatment-resistant-depression placebo ratio, recurrence probability and spine-stress setting without a
word (H3's new-user pass: a midazolam arm's 24-h CAPS-5 change -5.8 against -8.0 with false)."""

from __future__ import annotations

import pytest

import ketasim
from ketasim.patient import Patient
from ketasim.population import PopulationSpec, default_treatment_resistant


@pytest.mark.parametrize("condition, expected", [("depression", True), ("ptsd", False), ("anxiety", False),
                                                 ("suicidal_ideation", False)])
def test_the_default_follows_the_condition(condition, expected):
    assert default_treatment_resistant(condition) is expected
    assert PopulationSpec(condition=condition).treatment_resistant is expected
    assert Patient(condition=condition).treatment_resistant is expected


def _scenario(extra: dict):
    return ketasim.scenario_from_dict({
        "name": "tr-default", "population": {"size": 40, **extra},
        "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                               "duration": "40 min"}]},
        "endpoints": {"times": ["24 h"], "measures": ["mean_change"]}})


@pytest.mark.parametrize("condition", ["ptsd", "anxiety", "suicidal_ideation"])
def test_a_non_depression_scenario_that_leaves_it_out_is_not_treatment_resistant(condition):
    sc = _scenario({"condition": condition})
    assert sc.population.treatment_resistant is False
    assert _scenario({"condition": condition, "treatment_resistant": True}).population.treatment_resistant is True


def test_depression_stays_treatment_resistant_by_default():
    assert _scenario({}).population.treatment_resistant is True
    assert _scenario({"condition": "depression", "treatment_resistant": False}).population.treatment_resistant is False


def test_the_scale_alone_sets_the_condition_and_so_the_default():
    """A scenario that gives only a PTSD scale simulates PTSD, so it is not treatment resistant either."""
    assert _scenario({"scale": "caps5"}).population.treatment_resistant is False


def test_the_default_changes_the_prediction_as_stating_false_does():
    """Leaving it out of a PTSD scenario gives exactly what stating false gives (and not what true gives)."""
    left_out = ketasim.run_trial(_scenario({"condition": "ptsd"}), seed=3)
    false = ketasim.run_trial(_scenario({"condition": "ptsd", "treatment_resistant": False}), seed=3)
    true = ketasim.run_trial(_scenario({"condition": "ptsd", "treatment_resistant": True}), seed=3)
    value = {name: [r["value"] for r in tr.endpoints if r["measure"] == "mean_change"][0]
             for name, tr in (("left out", left_out), ("false", false), ("true", true))}
    assert value["left out"] == value["false"]
    assert value["left out"] != value["true"]


def test_a_patient_file_states_the_resolved_value():
    assert Patient(condition="ptsd").population_mapping()["treatment_resistant"] is False
    assert Patient().population_mapping()["treatment_resistant"] is True
