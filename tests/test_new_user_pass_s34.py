"""Regression tests of the thirty-fourth session's new-user pass (H1): one per fixed finding."""

import json

import pytest

#: a record planning daily 0.5 mg/kg IV infusions for a week after a rating at 24 h (no SBP or CADSS reading)
DAILY_RECORD = "\n".join(
    ["ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX", "7,0,0,,,,,,32,madrs,80,45,M",
     "7,0.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,", "7,24,0,,,,,,20,madrs,,,"]
    + [f"7,{24 * k + 0.5},1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,," for k in range(1, 8)]
    + ["7,336,0,,,,,,,madrs,,,"]) + "\n"


def test_schedule_breaks_counts_sessions_doses_and_weeks():
    """The dose and schedule limits of a recorded plan, counted like the candidates' (which are built within them)."""
    from ketasim.personal import Limits, schedule_breaks
    from ketasim.record import read_record, record_from_csv_text

    rec = record_from_csv_text(DAILY_RECORD)
    assert schedule_breaks(rec, rec.planned_doses, Limits()) == {"ketamine_mg_per_kg_week": 3.5,
                                                                  "sessions_per_week": 7.0}
    # 7 sessions a week at 0.5 mg/kg: within a stated 7 a week and 3.5 mg/kg a week, outside routes=intranasal
    assert schedule_breaks(rec, rec.planned_doses, Limits(sessions_per_week=7, ketamine_mg_per_kg_week=3.5,
                                                          routes=("intranasal",))) == {"routes": ["iv-infusion"]}
    # the shipped example plans twice weekly then weekly at 0.5 mg/kg: within every default limit
    ex = read_record("examples/patient/patient_101.csv")
    assert ex.planned_doses and schedule_breaks(ex, ex.planned_doses, Limits()) == {}
    # a session's dose; nasal devices 5 min apart are one session (3 x 28 mg = 84 mg: within 84 mg a session)
    nasal = record_from_csv_text("ID,TIME,EVID,AMT,AMTU,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n1,0,0,,,,,30,madrs,70,40,F\n"
                                 + "".join(f"1,{t},1,28,mg,esketamine,intranasal,,,,,\n"
                                           for t in (1, 1 + 1 / 12, 1 + 2 / 12, 85, 85 + 1 / 12, 85 + 2 / 12)))
    assert schedule_breaks(nasal, nasal.planned_doses, Limits()) == {}
    assert schedule_breaks(nasal, nasal.planned_doses, Limits(esketamine_mg_session=56, sessions_per_week=1)) == \
        {"esketamine_mg_session": 84.0, "sessions_per_week": 2.0}


def test_a_recorded_plan_that_breaks_the_limits_says_which(tmp_path, capsys):
    """`ketasim plan RECORD` where the record plans daily infusions printed "recorded plan: p=..." with no note that
    it breaks sessions_per_week=2 (the candidates are built within the limits; the recorded plan was never checked).
    The text, the JSON (recorded_plan.breaks_limits, safe) and the plan table now say which limits it breaks."""
    from ketasim.cli import main
    from ketasim.plan_report import plan_table

    rec, js = tmp_path / "daily.csv", tmp_path / "plan.json"
    rec.write_text(DAILY_RECORD, encoding="utf-8")
    assert main(["plan", str(rec), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    res = json.loads(js.read_text())
    r = res["recorded_plan"]
    assert r["breaks_limits"]["sessions_per_week"] == 7 and r["breaks_limits"]["ketamine_mg_per_kg_week"] == 3.5
    assert r["safe"] is False
    cadss_over = r["safety"]["cadss_margin"] < 0
    assert ("cadss" in r["breaks_limits"]) == cadss_over
    line = next(ln for ln in out.splitlines() if ln.startswith("  the recorded plan breaks "))
    assert "ketamine_mg_per_kg_week=2 (3.5 mg/kg in 7 days), sessions_per_week=2 (7 sessions in 7 days)" in line
    table = plan_table(res)
    assert "sessions_per_week=2 (7 sessions in 7 days)" in table.iloc[-1]["outside the limits"]
    assert all(v == "–" for v in table.iloc[:-1]["outside the limits"])
