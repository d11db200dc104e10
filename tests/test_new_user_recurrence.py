"""Recurrence on continued treatment (population.recurrence, issue 7), as a new user meets it: a bad value says
'true or false' (it said pydantic's 'Input should be a valid boolean'); every file and report says whether it was
on; the quick form (and --events) can switch it off with --no-recurrence; the typical patient's new episode is
named in the printed summary and marked in the figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketasim.cli import main
from ketasim.scenario import quick_scenario

RECORD = Path(__file__).resolve().parents[1] / "examples" / "patient" / "patient_101.csv"
LONG = ["--drug", "esketamine", "--route", "intranasal", "--dose", "56mg", "--every", "7d", "--count", "60"]


def _scenario(tmp_path, value: str, size: int = 4) -> Path:
    p = tmp_path / f"s{abs(hash(value))}.yaml"
    p.write_text(f"name: maint\nseed: 3\npopulation:\n  size: {size}\n  recurrence: {value}\narms:\n  esk:\n"
                 "    - {drug: esketamine, route: intranasal, dose: 56 mg, at: 0 d, every: 7 d, count: 4}\n"
                 "endpoints:\n  times: [14 d]\n  measures: [mean]\n", encoding="utf-8")
    return p


@pytest.mark.parametrize("value, shown", [("maybe", "'maybe'"), ("1.5", "'1.5'"), ("null", "an empty value"),
                                          ("[true]", "'[True]'")])
def test_bad_value_is_one_line_true_or_false(tmp_path, capsys, value, shown):
    code = main(["trial", str(_scenario(tmp_path, value))])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: population.recurrence: must be true or false, got {shown}\n"


def test_other_booleans_of_the_contract_say_the_same(tmp_path, capsys):
    p = _scenario(tmp_path, "true")
    p.write_text(p.read_text().replace("recurrence: true", "treatment_resistant: perhaps"), encoding="utf-8")
    assert main(["trial", str(p)]) == 2
    assert capsys.readouterr().err == "error: population.treatment_resistant: must be true or false, got 'perhaps'\n"


def test_trial_json_csv_parquet_and_reports_say_whether_it_was_on(tmp_path, capsys):
    for value in ("true", "false"):
        sc = _scenario(tmp_path, value)
        j, rep = tmp_path / f"t_{value}.json", tmp_path / f"t_{value}.html"
        assert main(["trial", str(sc), "--json", str(j), "--report", str(rep)]) == 0
        assert json.loads(j.read_text())["recurrence"] is (value == "true")
        assert ("off (population.recurrence: false)" in rep.read_text()) is (value == "false")
        csv, pq, srep = tmp_path / f"s_{value}.csv", tmp_path / f"s_{value}.parquet", tmp_path / f"s_{value}.html"
        assert main(["simulate", str(sc), "--csv", str(csv), "--parquet", str(pq), "--report", str(srep)]) == 0
        prov = json.loads(Path(str(csv) + ".provenance.json").read_text())
        assert prov["recurrence"] is (value == "true")
        assert prov["units"]["episode"] == "fraction of a full new episode (0 = none)"
        import pyarrow.parquet as pqm

        meta = json.loads(pqm.read_schema(pq).metadata[b"ketasim"])
        assert meta["recurrence"] is (value == "true") and "episode" in meta["units"]
        assert "episode" in pd.read_csv(csv).columns
        assert "recurrence on continued treatment" in srep.read_text()
    capsys.readouterr()


def test_quick_form_no_recurrence(tmp_path, capsys):
    assert quick_scenario("esketamine", "intranasal", "56 mg").population.recurrence is True
    assert quick_scenario("esketamine", "intranasal", "56 mg", recurrence=False).population.recurrence is False
    on, off = tmp_path / "on.csv", tmp_path / "off.csv"
    assert main(["simulate", *LONG, "--size", "40", "--csv", str(on)]) == 0
    assert main(["simulate", *LONG, "--size", "40", "--no-recurrence", "--csv", str(off)]) == 0
    a, b = pd.read_csv(on), pd.read_csv(off)
    # 427 d: the patients who responded have had a new episode or are having one (T counts time in response:
    # measured 25 % of 40; 52 % of everyone with the constant hazard from entry)
    last = a["time_h"].max()
    assert a.loc[a["time_h"] == last, "episode"].mean() > 0.1
    assert (b["episode"] == 0).all()
    assert b.loc[b["time_h"] == last, "score"].mean() < a.loc[a["time_h"] == last, "score"].mean() - 3
    assert json.loads(Path(str(off) + ".provenance.json").read_text())["recurrence"] is False
    # --events too; with a scenario file it names the YAML field to write instead
    ev = tmp_path / "ev.csv"
    assert main(["simulate", "--events", str(RECORD), "--no-recurrence", "--csv", str(ev)]) == 0
    assert json.loads(Path(str(ev) + ".provenance.json").read_text())["recurrence"] is False
    capsys.readouterr()
    assert main(["simulate", str(_scenario(tmp_path, "true")), "--no-recurrence"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --no-recurrence: a quick-form option; with a scenario file "
                                                   "write 'recurrence: false' under 'population:'")
    assert main(["simulate", "--help"]) == 0
    assert "--no-recurrence" in capsys.readouterr().out


def test_typical_patients_new_episode_is_named_and_marked(tmp_path, capsys):
    """On the clock from entry (population.recurrence_clock: entry, the default) the typical patient's new episode
    begins at the median recurrence time, and simulate names and marks it; on the clock of time in response this typical
    patient never reaches response on weekly esketamine, so it has none and nothing is marked."""
    import dataclasses

    import yaml

    png = tmp_path / "c.png"
    data = quick_scenario("esketamine", "intranasal", "56 mg", every="7 d", count=60).source
    data["population"]["recurrence_clock"] = "response"
    sc_file = tmp_path / "response.yaml"
    sc_file.write_text(yaml.safe_dump(data))
    assert main(["simulate", str(sc_file), "--plot", str(png)]) == 0
    assert "new episode" not in capsys.readouterr().out
    data["population"]["recurrence_clock"] = "entry"
    sc_file = tmp_path / "entry.yaml"
    sc_file.write_text(yaml.safe_dump(data))
    assert main(["simulate", str(sc_file), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if "new episode on continued treatment" in s)
    day = float(line.split(" from ")[1].split(" d ")[0])
    assert 405.0 <= day <= 406.0            # the median recurrence time, ln 2 / h = 405.4 d (TRD)
    assert main(["simulate", *LONG, "--no-recurrence"]) == 0
    assert "new episode" not in capsys.readouterr().out
    from ketasim import simulate as run
    from ketasim.plotting import plot_cascade

    sc = quick_scenario("esketamine", "intranasal", "56 mg", every="7 d", count=60)
    sc = dataclasses.replace(sc, population=dataclasses.replace(sc.population, recurrence_clock="entry"))
    typ = run(sc, typical=True).trajectories()
    ax = next(a for a in plot_cascade(typ).axes if a.get_title().startswith("Symptom score"))
    assert "new episode" in ax.get_title()
    t_marked = [float(np.asarray(line_.get_xdata())[0]) for line_ in ax.lines if line_.get_linestyle() == ":"]
    assert len(t_marked) == 1 and 405.0 <= t_marked[0] <= 406.0


def test_a_stated_patient_can_switch_recurrence_off(tmp_path):
    """`patient:` scenarios (one stated patient) take `recurrence` like `population:` (was: always on)."""
    from ketasim.errors import InputError
    from ketasim.patient import Patient
    from ketasim.scenario import scenario_from_dict

    data = {"name": "p", "patient": {"weight_kg": 70, "recurrence": False},
            "arms": {"k": [{"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "duration": "40 min"}]}}
    assert scenario_from_dict(data).population.recurrence is False
    data["patient"]["recurrence"] = True
    assert scenario_from_dict(data).population.recurrence is True
    del data["patient"]["recurrence"]
    assert scenario_from_dict(data).population.recurrence is True          # default on, as a population
    assert Patient(recurrence=False).population_spec().recurrence is False
    with pytest.raises(InputError) as ei:
        Patient(recurrence="maybe")
    assert str(ei.value).startswith("patient.recurrence") and "\n" not in str(ei.value)
