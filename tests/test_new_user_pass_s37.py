"""Session 37 leftovers of the new-user passes (sensitivity --parameter-set, dashboard CSV provenance, record TIME as
a timedelta, the sensitivity run-time estimate, fraction units)."""

from __future__ import annotations

import json

import pytest


def _edited_set(tmp_path, name, value, file):
    from ketasim.calibration import default_free_parameters_path

    data = json.loads(default_free_parameters_path().read_text(encoding="utf-8"))
    data["parameters"][name]["value"] = value
    path = tmp_path / file
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_sensitivity_runs_around_a_parameter_set_file(tmp_path, capsys):
    # every other command takes a parameter set as --parameters FILE; sensitivity's --parameters selects names, so a
    # calibrated set could not be analysed without installing it. --parameter-set FILE loads it with the same loader.
    from ketasim.cli import main
    from ketasim.parameters import load_parameters

    half = _edited_set(tmp_path, "emax_drug", 0.3, "half.json")
    base = ["sensitivity", "examples/design_example.yaml", "--endpoint", "mean_change@24h", "--parameters",
            "pd.nmda.hill", "--samples", "2", "--size", "5", "--seed", "3", "--no-progress"]
    for name, extra in (("installed", []), ("half", ["--parameter-set", str(half)])):
        assert main([*base, "--json", str(tmp_path / f"out_{name}.json"), *extra]) == 0, capsys.readouterr().err
    capsys.readouterr()
    installed = json.loads((tmp_path / "out_installed.json").read_text())
    edited = json.loads((tmp_path / "out_half.json").read_text())
    assert installed["parameter_set"] == load_parameters().version
    assert edited["parameter_set"] == load_parameters(str(half)).version != installed["parameter_set"]
    assert edited["nominal_value"] != installed["nominal_value"]      # the file's emax_drug was used
    # the other commands' one-line errors, named by this option
    assert main([*base, "--parameter-set", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --parameter-set: {tmp_path / 'missing.json'}: no such file (a parameter set written by "
                   "`ketasim calibrate`)"]
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    assert main([*base, "--parameter-set", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --parameter-set: ") and "bad.json" in err[0]
    assert main([*base, "--parameter-set", str(_edited_set(tmp_path, "emax_drug", 1.5, "over.json"))]) == 2
    assert "parameters.emax_drug: must lie between 0 and 1" in capsys.readouterr().err
    # a file given to --parameters (names) points at the new option
    assert main([*base[:4], "--parameters", str(half), "--no-progress"]) == 2
    assert "give that as --parameter-set FILE" in capsys.readouterr().err


def test_sensitivity_help_and_howto_document_parameter_set(capsys):
    from pathlib import Path

    from ketasim.cli import main

    assert main(["sensitivity", "--help"]) == 0
    assert "--parameter-set" in capsys.readouterr().out
    assert "--parameter-set FILE" in Path("docs/howto/sensitivity.md").read_text(encoding="utf-8")


def _frame(time, dur=(2 / 3, None)):
    import pandas as pd

    return pd.DataFrame({"ID": [1, 1], "TIME": time, "EVID": [1, 0], "AMT": [0.5, None], "AMTU": ["mg/kg", None],
                         "DUR": list(dur), "DRUG": ["racemic-ketamine", None], "ROUTE": ["iv-infusion", None],
                         "DV": [None, 20], "DVID": [None, "madrs"], "WT": [80, None], "AGE": [40, None],
                         "SEX": ["F", None]})


def test_record_from_frame_reads_a_timedelta_time_column_as_hours():
    # a TIME column of pandas durations (pd.to_timedelta) was refused: "expected a number, got Timedelta(...)"
    import datetime

    import numpy as np
    import pandas as pd

    from ketasim.errors import InputError
    from ketasim.record import record_from_frame

    for time in (pd.to_timedelta(["0h", "1.5D"]), [pd.Timedelta(0), datetime.timedelta(hours=36)],
                 [np.timedelta64(0, "h"), np.timedelta64(36, "h")], [0.0, 36.0]):
        rec = record_from_frame(_frame(time))
        assert [o.time_h for o in rec.observations] == [36.0] and rec.doses[0].at_h == 0.0
    rec = record_from_frame(_frame([0.0, 36.0], dur=pd.to_timedelta(["40min", None])))
    assert rec.doses[0].duration_h == pytest.approx(2 / 3)
    # bad values keep their one-line errors
    for time, message in ((pd.to_timedelta(["0h", None]), "row 2, column TIME: a value is required here"),
                          (pd.to_timedelta(["0h", "-2h"]), "row 2, column TIME: -2 is outside 0-43800 h"),
                          ([0, pd.Timestamp("2026-01-01")], "row 2, column TIME: expected a number, got Timestamp"),
                          ([0, "abc"], "row 2, column TIME: expected a number, got 'abc'")):
        with pytest.raises(InputError) as e:
            record_from_frame(_frame(time))
        assert message in str(e.value) and "\n" not in str(e.value)


def test_run_estimate_counts_the_fixed_cost_of_each_arm_run():
    # the estimate counted only patients x solver steps: one evaluation of 5 patients came out at 0.18 ms against
    # ~7 ms measured (sampling the patients, PK set-up, the step-weights table), so a sensitivity run of small sizes
    # was estimated ~15-40x too fast. The fixed cost per arm run is now counted (tested as a term: no timing asserts).
    from ketasim import limits
    from ketasim.scenario import load_scenario

    one = limits.estimate_run(1, 2, 24.0)
    assert one.seconds >= limits.run_overhead_seconds(one.steps) >= 0.005
    assert limits.estimate_run(1, 2, 24.0, n_arms=3).seconds == pytest.approx(3 * one.seconds)
    # a few patients cost about as much as one; the patients' term still grows with their number
    assert limits.estimate_run(5, 2, 24.0).seconds < 1.1 * one.seconds
    assert limits.estimate_run(100_000, 2, 24.0).seconds > 100 * one.seconds
    sc = load_scenario("examples/design_example.yaml")
    est = limits.estimate_scenario_run(sc, 5, [0.0, 24.0], tables=False, arms=[sc.arms[0]])
    assert est.seconds > 0.005          # was 0.00018 s


def test_sensitivity_time_budget_counts_the_cost_of_each_evaluation(monkeypatch):
    # 7 evaluations of 5 patients (~50 ms on this machine) were estimated at ~1 ms and never refused by a budget
    # below their real cost
    from ketasim.errors import InputError
    from ketasim.scenario import load_scenario
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario("examples/design_example.yaml")
    monkeypatch.setenv("KETASIM_MAX_SECONDS", "0.02")
    with pytest.raises(InputError, match=r"^n_patients: 7 evaluations of 5 patients would compute for ~0\.07\d* s"):
        run_sensitivity(sc, endpoint="mean_change@24h", patterns=("pd.nmda.hill",), samples=2, n_patients=5)
