"""Patient records (NONMEM-style CSV, YAML, DataFrame): parsing, meaning, and one-line errors naming row and column."""

from __future__ import annotations

import pandas as pd
import pytest

from ketasim.cli import main
from ketasim.record import RecordError, read_record, record_from_frame, record_from_rows, record_from_yaml

EXAMPLE = "examples/patient/patient_101.csv"
HEAD = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"


def _csv(tmp_path, body: str, name="r.csv"):
    p = tmp_path / name
    p.write_text(HEAD + body)
    return p


def test_example_record_meaning():
    rec = read_record(EXAMPLE)
    assert rec.id == "101" and rec.scale == "madrs" and rec.female and rec.weight_kg == 82
    assert len(rec.doses) == 6 and rec.doses[0].per_kg and rec.doses[0].duration_h == pytest.approx(0.6667)
    assert rec.last_observation_h == 336
    # doses after the last observed value are the planned regimen; empty DVs are forecast points
    assert [d.at_h for d in rec.planned_doses] == [336.5, 504.5]
    assert [o.time_h for o in rec.forecast_points] == [504, 672, 840, 1008]
    assert {o.dvid for o in rec.observations} == {"madrs", "sbp_change_mmhg", "cadss"}
    assert rec.baseline_guess() == 40


def test_csv_yaml_and_frame_agree(tmp_path):
    rec = read_record(EXAMPLE)
    df = rec.to_frame()
    again = record_from_frame(df)
    key = lambda d: (d.drug, d.route, d.amount, d.per_kg, d.duration_h, d.at_h)  # noqa: E731
    assert [key(d) for d in again.doses] == [key(d) for d in rec.doses]
    assert [(o.time_h, o.dvid, o.value) for o in again.observations] == [(o.time_h, o.dvid, o.value) for o in rec.observations]
    assert [o.time_h for o in again.forecast_points] == [o.time_h for o in rec.forecast_points]
    yml = tmp_path / "r.yaml"
    yml.write_text("ID: 7\nWT: 70\nAGE: 50\nSEX: M\nevents:\n"
                   "  - {TIME: 0, EVID: 0, DV: 30, DVID: madrs}\n"
                   "  - {TIME: 1, EVID: 1, AMT: 56, AMTU: mg, DRUG: esketamine, ROUTE: intranasal}\n"
                   "  - {TIME: 24, EVID: 0, DV: 21, DVID: madrs}\n")
    r = read_record(yml)
    assert r.id == "7" and not r.female and r.doses[0].amount == 56 and not r.doses[0].per_kg
    assert [o.value for o in r.scores()] == [30, 21]


def test_no_observations_is_a_prior_record():
    r = record_from_rows([{"ID": 1, "TIME": 0, "EVID": 1, "AMT": 0.5, "AMTU": "mg/kg", "DUR": 0.6667,
                           "DRUG": "racemic-ketamine", "ROUTE": "iv-infusion", "WT": 80, "AGE": 40, "SEX": "F"}])
    assert r.observations == () and r.planned_doses == () and len(r.past_doses) == 1
    assert r.last_observation_h == 0


@pytest.mark.parametrize("body, where", [
    ("1,5,0,,,,,,30,madrs,80,40,F\n1,2,0,,,,,,25,madrs,,,\n", "row 2, column TIME"),
    ("1,0,1,0.5,,0.67,racemic-ketamine,iv-infusion,,,80,40,F\n", "row 1, column AMTU"),
    ("1,0,1,0.5,ml,0.67,racemic-ketamine,iv-infusion,,,80,40,F\n", "row 1, column AMTU"),
    ("1,0,0,,,,,,30,hamx,80,40,F\n", "row 1, column DVID"),
    ("1,0,0,,,,,,75,madrs,80,40,F\n", "row 1, column DV"),
    ("1,0,0,,,,,,30,madrs,80,40,F\n2,1,0,,,,,,30,madrs,80,40,F\n", "row 2, column ID"),
    ("1,0,1,0.5,mg/kg,,racemic-ketamine,iv-infusion,,,80,40,F\n", "row 1, column DUR"),
    ("1,0,1,0.5,mg/kg,0.67,coffee,iv-infusion,,,80,40,F\n", "row 1, column DRUG"),
    ("1,0,2,,,,,,30,madrs,80,40,F\n", "row 1, column EVID"),
    ("1,0,0,,,,,,30,madrs,80,40,X\n", "column SEX"),
    ("1,0,0,,,,,,30,madrs,,40,F\n", "column WT"),
    ("1,0,0,,,,,,30,madrs,80,40,F\n1,1,0,,,,,,30,madrs,90,40,F\n", "row 2, column WT"),
    ("1,0,0,,,,,,30,madrs,80,40,F\n1,1,0,,,,,,20,hamd17,,,\n", "row 2, column DVID"),
    ("1,0,1,50,mg/kg,0.67,racemic-ketamine,iv-infusion,,,80,40,F\n", "row 1, column AMT"),
    ("1,0,0,,,,,,abc,madrs,80,40,F\n", "row 1, column DV"),
])
def test_bad_records_name_row_and_column(tmp_path, body, where):
    with pytest.raises(RecordError) as e:
        read_record(_csv(tmp_path, body))
    msg = str(e.value)
    assert where in msg and "\n" not in msg


def test_unknown_column_and_several_ids(tmp_path):
    p = tmp_path / "u.csv"
    p.write_text("ID,TIME,EVID,DV,DVID,WT,AGE,SEX,CMT\n1,0,0,30,madrs,80,40,F,1\n")
    with pytest.raises(RecordError, match="column CMT: unknown column"):
        read_record(p)
    two = _csv(tmp_path, "1,0,0,,,,,,30,madrs,80,40,F\n2,1,0,,,,,,30,madrs,70,40,M\n")
    assert read_record(two, patient_id=2).weight_kg == 70
    with pytest.raises(RecordError, match="YAML"):
        record_from_yaml("events: [")


def test_cli_bad_record_is_one_line(tmp_path, capsys):
    p = _csv(tmp_path, "1,5,0,,,,,,30,madrs,80,40,F\n1,2,0,,,,,,25,madrs,,,\n")
    assert main(["plan", str(p), "--json", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: r.csv row 2, column TIME") and "\n" not in err


def test_simulate_events(tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert main(["simulate", "--events", EXAMPLE, "--csv", str(out)]) == 0
    df = pd.read_csv(out)
    assert df["time_h"].max() >= 504.5 and df["score"].iloc[0] == pytest.approx(40, abs=1e-6)
    assert "research and teaching tool" in capsys.readouterr().out
