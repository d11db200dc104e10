"""New-user pass of the thirty-eighth session (helper H4): one regression test per fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _quick():
    from ketasim import quick_scenario

    return quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", output_every="1 h")


def test_simulate_typical_refuses_a_size_it_would_ignore():
    """`simulate(scenario, n=5, typical=True)` returned one typical patient per arm and dropped n without a word.
    Now it is refused in one line naming both arguments; n=1 (or no n) with typical=True still runs."""
    from ketasim import simulate
    from ketasim.errors import InputError

    sc = _quick()
    with pytest.raises(InputError) as e:
        simulate(sc, n=5, typical=True)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("n: typical=True simulates one typical patient per arm, not 5")
    assert simulate(sc, n=1, typical=True, output_times_h=[0.0, 1.0]).trajectories()["subject"].nunique() == 1


def test_scenario_pk_typical_refuses_a_size_it_would_ignore():
    from ketasim.errors import InputError
    from ketasim.nca import scenario_pk

    with pytest.raises(InputError, match=r"^n: typical=True simulates one typical patient per arm, not 3"):
        scenario_pk(_quick(), n=3, typical=True)


def test_cli_typical_with_size_names_both_options(capsys):
    from ketasim.cli import main

    assert main(["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5mg/kg",
                 "--typical", "--size", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --size: --typical simulates one typical patient per arm, not 5") and "\n" not in err


KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}


@pytest.mark.parametrize("where, field, expected", [
    (("population",), "size", "population.size: must be a whole number, not true/false"),
    (("population",), "female_fraction", "population.female_fraction: must be a number, not true/false"),
    (("population",), "open_label_from", "population.open_label_from: must be a time with its unit, e.g. '24 h', "
                                         "not true/false"),
    (("endpoints",), "remission_threshold", "endpoints.remission_threshold: must be a number, not true/false"),
    (("experiments",), "ampa_block", "experiments.ampa_block: must be a number, not true/false"),
    (("design",), "relapse_consecutive", "design.relapse_consecutive: must be a whole number, not true/false"),
    (("output",), "every", "output.every: must be a time with its unit, e.g. '24 h', not true/false"),
])
def test_yaml_booleans_are_not_read_as_one(where, field, expected):
    """`population: {size: yes}` ran one patient: pydantic's lax int/float read YAML's true (yes, on) as 1. Every
    number of the scenario (counts, fractions, scores, block levels) now refuses a boolean in one line naming the
    field; boolean fields (treatment_resistant, recurrence, design.iov ...) still take them."""
    from ketasim import scenario_from_dict
    from ketasim.errors import InputError

    data = {"name": "x", "arms": {"a": [KET]}}
    data.setdefault(where[0], {})[field] = True
    if where[0] == "design":
        data["design"]["type"] = "randomized_withdrawal"
    with pytest.raises(InputError) as e:
        scenario_from_dict(data)
    msg = str(e.value)
    assert msg.startswith(expected) and msg.endswith("(YAML reads yes/no and on/off as true/false too)")
    assert "\n" not in msg


def test_yaml_booleans_in_lists_of_times_and_dose_lines_name_the_item():
    from ketasim import scenario_from_dict
    from ketasim.errors import InputError

    with pytest.raises(InputError, match=r"^endpoints\.times\[1\]: must be a time with its unit, e.g\. '24 h', not "
                                         r"true/false"):
        scenario_from_dict({"name": "x", "arms": {"a": [KET]}, "endpoints": {"times": ["24 h", False]}})
    with pytest.raises(InputError, match=r"^arms\.a\[0\]\.every: expected a quantity with a unit \(e\.g\. '2 min' or "
                                         r"'2 h'\), not true/false"):
        scenario_from_dict({"name": "x", "arms": {"a": [{**KET, "every": True, "count": 2}]}})
    sc = scenario_from_dict({"name": "x", "arms": {"a": [KET]},
                             "population": {"size": 2, "treatment_resistant": False, "recurrence": False}})
    assert sc.population.size == 2 and not sc.population.treatment_resistant


@pytest.mark.parametrize("value", [True, False])
def test_yaml_booleans_in_a_dose_lines_count_and_a_titration_say_not_true_false(value):
    """`count: yes` on a dose line said "must be a whole number >= 1, got True" while every other number field
    says "not true/false" (3d5b83c); so did a titration's `line: yes` ("got True") and `sessions: [yes]` ("without
    quotes, got true"). Now the three say it as the others do, in one line naming the field."""
    from ketasim import scenario_from_dict
    from ketasim.errors import InputError
    from ketasim.regimen import Dose

    yaml_note = "not true/false (YAML reads yes/no and on/off as true/false too)"
    with pytest.raises(InputError) as e:
        scenario_from_dict({"name": "x", "arms": {"a": [{**KET, "every": "1 d", "count": value}]}})
    assert str(e.value) == f"arms.a[0].count: must be a whole number, {yaml_note}"
    with pytest.raises(InputError, match=r"^dose\.count: must be a whole number, not true/false"):
        Dose.from_mapping({**KET, "count": value})
    line = {**KET, "every": "3.5 d", "count": 4}
    tit = {"doses": ["0.5 mg/kg", "0.75 mg/kg"], "sessions": [2, 3], "increase_if": {"score_reduction_below": 0.5}}
    for key, bad, expected in (("line", value, "arms.k.titration.line: must be the index of a dose line, 0 to 0, "),
                               ("sessions", [2, value], "arms.k.titration.sessions[1]: a session number from 2 to 4 "
                                                        "is a whole number, ")):
        with pytest.raises(InputError) as e:
            scenario_from_dict({"name": "t", "arms": {"k": {"doses": [line], "titration": {**tit, key: bad}}}})
        assert str(e.value) == expected + yaml_note
    # whole numbers still read as before, 2.0 as 2
    assert scenario_from_dict({"name": "x", "arms": {"a": [{**KET, "every": "1 d", "count": 2.0}]}}).arms[0].doses[0].count == 2


def test_cli_population_size_yes_is_refused(tmp_path, capsys):
    from ketasim.cli import main

    path = tmp_path / "s.yaml"
    path.write_text("name: s\npopulation: {size: yes}\narms:\n  k: [{drug: racemic-ketamine, route: iv-infusion, "
                    "dose: 0.5 mg/kg, duration: 40 min}]\n", encoding="utf-8")
    assert main(["simulate", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: population.size: must be a whole number, not true/false")


@pytest.mark.parametrize("dose", ["50mg/m2", "50 mg/m^2", "50 mg/m²", "1.5 mg/m2/h", "50 mg m-2", "10 mg/sqm"])
def test_body_surface_area_doses_are_refused_saying_which_units_work(dose):
    """`--dose 50mg/m2` said "cannot read '50mg/m2' as a number followed by a unit" ('mg/m^2': "must be a mass";
    a rate per m2 without --duration: "add --duration"). Patients have no height, so a dose per body surface area
    is refused in one line naming the field and the units ketasim takes."""
    from ketasim import quick_scenario, scenario_from_dict
    from ketasim.errors import InputError

    with pytest.raises(InputError) as e:
        scenario_from_dict({"name": "x", "arms": {"a": [{**KET, "dose": dose}]}})
    msg = str(e.value)
    assert msg.startswith(f"arms.a[0].dose: dosing per body surface area ({dose!r}) is not supported") and "\n" not in msg
    assert "mg/kg" in msg and "mg/kg/h" in msg
    with pytest.raises(InputError, match=r"(^dose|\.dose): dosing per body surface area"):
        quick_scenario("racemic-ketamine", "iv-infusion", dose)       # no duration: a rate would ask for one


def test_cli_body_surface_area_dose_names_the_option(capsys):
    from ketasim.cli import main

    for dose in ("50mg/m2", "1.5 mg/m2/h"):
        assert main(["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", dose]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --dose: dosing per body surface area ({dose!r}) is not supported")
        assert err.count("\n") == 1


def test_body_surface_area_rate_and_record_unit_are_refused():
    from ketasim import scenario_from_dict
    from ketasim.errors import InputError
    from ketasim.record import record_from_rows

    with pytest.raises(InputError, match=r"^arms\.a\[0\]\.rate: dosing per body surface area \('1 mg/m2/h'\)"):
        scenario_from_dict({"name": "x", "arms": {"a": [{**{k: v for k, v in KET.items() if k != "dose"},
                                                         "rate": "1 mg/m2/h"}]}})
    with pytest.raises(InputError, match=r"column AMTU: dosing per body surface area 'mg/m2' is not supported; use mg "
                                         r"or mg/kg"):
        record_from_rows([{"ID": 1, "TIME": 0, "EVID": 1, "AMT": 50, "AMTU": "mg/m2", "DUR": 0.6667,
                           "DRUG": "racemic-ketamine", "ROUTE": "iv-infusion", "WT": 80, "AGE": 40, "SEX": "F"}])
    # units that only look alike still read as before
    assert scenario_from_dict({"name": "x", "arms": {"a": [{**KET, "dose": "0.5 mg/kg"}]}}).arms[0].doses[0].per_kg


def test_output_until_does_not_cut_a_parallel_trials_follow_up(tmp_path):
    """examples/open_label_follow_up.yaml without follow_up_until follows responders to the trial's end (28 d: visits
    13-27 d). `output: {until: 14 d}`, a trajectory-output setting, set scenario.horizon_h and cut the follow-up to
    visits at 13 and 16.5 d (relapse rate and time to relapse over 3.5 d instead of two weeks) and the percentile
    bands to 16 d. Every design now runs to its own end (as the withdrawal's visits since the 37th session)."""
    import yaml

    from ketasim import run_trial, scenario_from_dict
    from ketasim.trial import _trial_grid

    data = yaml.safe_load((Path(__file__).parents[1] / "examples" / "open_label_follow_up.yaml").read_text())
    del data["design"]["follow_up_until"]
    data["population"]["size"] = 40
    plain = scenario_from_dict(data)
    short = scenario_from_dict({**data, "output": {"every": "1 d", "until": "14 d"}})
    longer = scenario_from_dict({**data, "output": {"every": "1 d", "until": "40 d"}})
    t0, h0, _, f0, b0 = _trial_grid(plain)
    t1, h1, _, f1, b1 = _trial_grid(short)
    assert h0 == h1 == 28 * 24.0 and np.array_equal(f0["visits"], f1["visits"]) and f1["visits"][-1] == 27 * 24.0
    assert np.array_equal(t0, t1) and np.array_equal(b0, b1)
    assert _trial_grid(longer)[1] == 40 * 24.0        # a longer until still extends the trial, as before
    a, b = run_trial(plain).table(), run_trial(short).table()
    pd.testing.assert_frame_equal(a, b)
    assert {"relapse_rate", "time_to_relapse"} <= set(a["measure"])
