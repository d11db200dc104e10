"""New-user pass (2026-12-01, third session) of flexible dosing: what a user writes by mistake.

- `score_below: 0` (and `cadss_peak_below: 0`, `score_reduction_above: 1`, ...) can never hold (the comparisons are
  strict and these quantities are >= 0 or fractions): it was accepted and the rule silently never fired.
- `increase_sessions: ['2']` said "a session number from 2 to 6 ..., got '2'" (it reads as a contradiction).
- `age_years: 65-86` said "Input should be a valid dictionary or instance of _AgeDist" (an internal class name).
- The printed rows of a titrated arm with a long dose label (`0.75 mg/kg`) were shifted right of the other rows.
"""

from __future__ import annotations

import pytest

from ketasim.errors import InputError
from ketasim.scenario import scenario_from_dict
from ketasim.trial import run_trial

LINE = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min",
        "at": "0 d", "every": "3.5 d", "count": 4}


def scenario(titration=None, age=None):
    tit = {"doses": ["0.5 mg/kg", "0.75 mg/kg"], "sessions": [2, 3],
           "increase_if": {"score_reduction_below": 0.5}, **(titration or {})}
    pop = {"size": 6, "scale": "madrs", "age_years": age or {"mean": 72, "sd": 5, "min": 65, "max": 85}}
    return {"name": "t", "seed": 3, "population": pop, "arms": {"k": {"doses": [LINE], "titration": tit}},
            "endpoints": {"times": ["7 d"], "measures": ["mean_change"]}}


@pytest.mark.parametrize("key, crit, match", [
    ("increase_if", {"score_below": 0}, r"increase_if\.score_below: score is never below 0 \(it is >= 0\)"),
    ("increase_if", {"cadss_peak_below": 0}, r"increase_if\.cadss_peak_below: cadss_peak is never below 0"),
    ("decrease_if", {"discharge_ready_h_below": 0}, r"decrease_if\.discharge_ready_h_below: .* never below 0"),
    ("increase_if", {"score_reduction_above": 1}, r"increase_if\.score_reduction_above: score_reduction is never "
                                                  r"above 1"),
    ("decrease_if", {"nausea_probability_above": 1}, r"decrease_if\.nausea_probability_above: .*never above 1"),
])
def test_conditions_that_can_never_hold_are_refused(key, crit, match):
    tit = {key: crit}
    if key == "decrease_if":
        tit["increase_if"] = {"score_reduction_below": 0.5}
    with pytest.raises(InputError, match=r"^arms\.k\.titration\." + match):
        scenario_from_dict(scenario(tit))


def test_thresholds_just_inside_still_load():
    for crit in ({"score_below": 1}, {"score_reduction_above": 0.99}, {"cadss_peak_below": 0.5},
                 {"score_reduction_below": 0.0}):          # a worsening is a negative reduction: possible
        assert scenario_from_dict(scenario({"increase_if": crit})).arms[0].titration.increase


@pytest.mark.parametrize("value, match", [
    (["2"], r"increase_sessions\[0\]: a session number from 2 to 4 is a whole number without quotes, got the text '2'$"),
    ([True], r"increase_sessions\[0\]: a session number from 2 to 4 is a whole number, not true/false \(YAML reads "
             r"yes/no and on/off as true/false too\)$"),
])
def test_session_numbers_in_quotes_say_so(value, match):
    tit = {"increase_sessions": value, "sessions": None}
    data = scenario(tit)
    del data["arms"]["k"]["titration"]["sessions"]
    with pytest.raises(InputError, match=r"^arms\.k\.titration\." + match):
        scenario_from_dict(data)


def test_age_range_as_text_names_the_form_not_a_class():
    with pytest.raises(InputError) as e:
        scenario_from_dict(scenario(age="65-86"))
    msg = str(e.value)
    assert msg.startswith("population.age_years: expected a mapping of fields, e.g. {mean: 70, sd: 5, min: 65")
    assert "_AgeDist" not in msg and "'65-86'" in msg


def test_final_dose_rows_line_up_with_the_other_rows():
    tr = run_trial(scenario_from_dict(scenario()))
    lines = tr.format_table().splitlines()
    ref = next(ln for ln in lines if ln.strip().startswith("mean_change"))
    col = ref.index("[")                       # where the 95 % CI starts on an ordinary row
    final = [ln for ln in lines if ln.strip().startswith("final dose")]
    assert len(final) == 2 and any("0.75 mg/kg" in ln for ln in final)
    assert all(ln.index("[") == col for ln in final)


def test_report_shows_the_titration_rule_and_dose_paths(tmp_path):
    """The HTML report showed only the final-dose shares of a titrated arm; the rule and the dose paths were in the
    JSON only. Now a "Dose titration" section states the rule and the most frequent paths (from the JSON block)."""
    from ketasim.report import trial_report

    tr = run_trial(scenario_from_dict(scenario({"decide_on": "rating"})))
    block = tr.to_dict()["arms"]["k"]["titration"]
    page = trial_report(tr, tmp_path / "r.html").read_text()
    assert 'id="titration"' in page and "Dose titration" in page
    assert "Levels 0.5 mg/kg / 0.75 mg/kg, start 0.5 mg/kg" in page and "score_reduction &lt; 0.5" in page
    top = block["paths"][0]
    assert " → ".join(top["doses"]) in page and f"<td>{top['n']}</td>" in page
    fixed = scenario()
    fixed["arms"]["k"] = [LINE]
    page = trial_report(run_trial(scenario_from_dict(fixed)), tmp_path / "f.html").read_text()
    assert 'id="titration"' not in page


def test_decision_noise_sd_is_written_without_float_noise():
    """The JSON said 3.5999999999999996 points for the MADRS rater noise (0.06 x 60)."""
    import json

    doc = json.loads(json.dumps(run_trial(scenario_from_dict(scenario({"decide_on": "rating"}))).to_dict()))
    sd = doc["arms"]["k"]["titration"]["decision_rating_noise_sd"]
    assert sd > 0 and len(repr(sd).split(".")[-1]) <= 9       # at most 9 decimals, e.g. 3.6


def test_quick_form_age_range_beyond_the_model_names_the_bound(capsys):
    """`--age-range 65-200` said "mean must lie in 12-100 years and sd in 0-50 years" (the quick form's mean is the
    range's middle, 132.5, which the user never wrote); now it names the bound that is out of range."""
    from ketasim.cli import main

    code = main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "28mg", "--size", "5",
                 "--age-range", "65-200"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--age-range: must lie in 18-90 years (the ages the model samples), got 200" in err and "mean" not in err
