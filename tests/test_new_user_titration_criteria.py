"""Titration criteria that can never hold are refused in one line naming the field (they were accepted and the rule
silently never fired): a score threshold outside the population's scale, and increase_if (all must hold) with
NAME_below at or under NAME_above."""

from __future__ import annotations

import pytest

from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.scenario import scenario_from_dict

LINE = {"drug": "esketamine", "route": "intranasal", "dose": "28 mg", "at": "0 d", "every": "3.5 d", "count": 4}


def scenario(increase_if, scale="madrs", baseline=None):
    pop = {"size": 10, "scale": scale}
    if baseline:
        pop["baseline"] = {"mean": baseline, "sd": 3}
    return {"name": "t", "population": pop,
            "arms": {"esk": {"doses": [LINE], "titration": {"doses": ["28 mg", "56 mg"], "sessions": [2, 3],
                                                           "increase_if": increase_if}}}}


@pytest.mark.parametrize("crit, scale, baseline, match", [
    ({"score_above": 100}, "madrs", None, r"^arms\.esk\.titration\.increase_if\.score_above: must lie in \[0, 60\]"),
    ({"score_above": 80}, "hamd24", 30, r"^arms\.esk\.titration\.increase_if\.score_above: must lie in \[0, 75\]"),
    ({"score_below": 10, "score_above": 20}, "madrs", None, r"^arms\.esk\.titration\.increase_if\.score_below: 10 is "
                                                            r"not above score_above 20"),
    ({"cadss_peak_below": 5, "cadss_peak_above": 5}, "madrs", None, r"^arms\.esk\.titration\.increase_if\.cadss_peak"),
])
def test_impossible_criteria_are_refused(crit, scale, baseline, match):
    with pytest.raises(InputError, match=match):
        scenario_from_dict(scenario(crit, scale, baseline))


def test_possible_criteria_still_load():
    assert scenario_from_dict(scenario({"score_above": 15, "score_below": 40}, "hamd24", 30)).arms[0].titration
    assert scenario_from_dict(scenario({"score_above": 60}))                  # the top of the scale is allowed


def test_cli_says_it_in_one_line_with_exit_2(tmp_path, capsys):
    import yaml

    f = tmp_path / "t.yaml"
    d = scenario({"score_above": 100})
    d["endpoints"] = {"times": ["7 d"], "measures": ["mean"]}
    f.write_text(yaml.safe_dump(d))
    out = tmp_path / "t.json"
    code = main(["trial", str(f), "--no-progress", "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "score_above" in err and "Traceback" not in err
    assert not out.exists()


def test_a_rate_as_a_titration_level_says_how_to_write_it():
    """A level written as an infusion rate (as the line may be) said "unit 'mg/kg/h' cannot be converted to 'mg/kg'";
    now the line says levels are doses per session and converts the example with the line's duration."""
    line = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.75 mg/kg/h", "duration": "40 min",
            "every": "2 d", "count": 4}
    data = {"name": "r", "population": {"size": 5},
            "arms": {"k": {"doses": [line], "titration": {"doses": ["0.75 mg/kg/h", "1.125 mg/kg/h"], "sessions": [2],
                                                        "increase_if": {"score_reduction_below": 0.5}}}}}
    with pytest.raises(InputError, match=r"^arms\.k\.titration\.doses\[0\]: 0\.75 mg/kg/h is an infusion rate; .*"
                                         r"over 40 min is 0\.5 mg/kg$"):
        scenario_from_dict(data)
    data["arms"]["k"]["titration"]["doses"] = ["0.5 mg/kg", "0.75 mg/kg"]
    assert scenario_from_dict(data).arms[0].titration.levels == (0.5, 0.75)


def test_true_false_are_not_numbers_or_yes_strings_booleans():
    """New-user pass (2026-12-01): `age_years.min: true` was read as 1 year and `design.iov: yes` as true."""
    from ketasim import scenario_from_dict
    from ketasim.errors import InputError

    ket = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
    with pytest.raises(InputError, match=r"^population\.age_years\.min: must be a number, not true/false"):
        scenario_from_dict({"name": "x", "population": {"age_years": {"mean": 70, "sd": 5, "min": True}},
                            "arms": {"a": [ket]}})
    for v in ("yes", "true", 1):
        with pytest.raises(InputError, match=r"^design\.iov: "):
            scenario_from_dict({"name": "x", "arms": {"a": [ket], "b": [ket]}, "design": {"type": "crossover", "iov": v}})
    assert scenario_from_dict({"name": "x", "arms": {"a": [ket], "b": [ket]},
                               "design": {"type": "crossover", "iov": False}}).design
