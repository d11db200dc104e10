"""A trial on a scale without a published remission threshold (MSSI) that does not measure remission_rate runs: the
scenario reader accepts it, so the trial must not ask for a threshold it never uses (the between-arm comparison and
the open-label follow-up computed one unconditionally and stopped with 'leave remission_rate out of
endpoints.measures' although it was left out). A criterion that needs remission still needs a stated threshold."""

from __future__ import annotations

import pytest

from ketasim.errors import InputError
from ketasim.scenario import scenario_from_dict
from ketasim.trial import run_trial

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
MID = {"drug": "midazolam", "route": "iv-infusion", "dose": "0.02 mg/kg", "duration": "40 min"}
POP = {"size": 20, "condition": "suicidal_ideation", "scale": "mssi", "baseline": {"mean": 20, "sd": 5}}


def test_two_arm_mssi_trial_without_remission_runs_and_reports_no_remission_comparison():
    sc = scenario_from_dict({"name": "m", "population": POP, "arms": {"ketamine": [KET], "midazolam": [MID]},
                             "endpoints": {"times": ["24 h"], "measures": ["mean_change", "response_rate"]}})
    d = run_trial(sc).to_dict()
    measures = {c["measure"] for c in d["comparisons"]}
    assert measures == {"mean_change_difference", "response_rate_difference"}


def test_one_arm_mssi_trial_measuring_only_the_mean_runs():
    sc = scenario_from_dict({"name": "m", "population": POP, "arms": {"ketamine": [KET]},
                             "endpoints": {"times": ["24 h"], "measures": ["mean"]}})
    rows = run_trial(sc).to_dict()["arms"]["ketamine"]["endpoints"]
    assert [r["measure"] for r in rows] == ["mean"]


def test_mssi_follow_up_of_responders_runs():
    sc = scenario_from_dict({"name": "m", "population": POP, "arms": {"ketamine": [{**KET, "every": "2 d", "count": 3}]},
                             "design": {"follow_up_from": "5 d", "follow_up_every": "7 d", "follow_up_until": "40 d"},
                             "endpoints": {"times": ["24 h"], "measures": ["response_rate", "relapse_rate"]}})
    rows = run_trial(sc).to_dict()["arms"]["ketamine"]["endpoints"]
    assert {"followed_fraction", "relapse_rate"} <= {r["measure"] for r in rows}


@pytest.mark.parametrize("design", [
    {"follow_up_from": "5 d", "criterion": "remission"},
    {"type": "randomized_withdrawal", "continue": "ketamine", "withdraw": "midazolam", "criterion": "stable_remission",
     "relapse_score": 30}])
def test_a_remission_criterion_on_mssi_needs_a_stated_threshold_before_anything_runs(design):
    data = {"name": "m", "population": POP, "arms": {"ketamine": [KET], "midazolam": [MID]}, "design": design,
            "endpoints": {"times": ["24 h"], "measures": ["response_rate"]}}
    with pytest.raises(InputError, match=r"^design\.criterion: .*endpoints\.remission_threshold"):
        scenario_from_dict(data)
    data["endpoints"]["remission_threshold"] = 8
    assert scenario_from_dict(data).design
