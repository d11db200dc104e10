"""Forty-fourth session, H10: fixes of the review's findings (/work/coord/s44/H3_review.md)."""

from __future__ import annotations

import warnings

from _support import run_cli

RECORD_HEAD = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"


def _record(tmp_path, name, wt, doses):
    """A record of WT ``wt`` kg with racemic ketamine doses ``doses``: (time h, mg, route, duration h or '')."""
    path = tmp_path / f"{name}.csv"
    rows = [f"1,0,0,,,,,,30,madrs,{wt},41,F"]
    rows += [f"1,{t:.10g},1,{mg:g},mg,{dur},racemic-ketamine,{route},,,,," for t, mg, route, dur in doses]
    rows.append("1,24,0,,,,,,20,madrs,,,")
    path.write_text(RECORD_HEAD + "\n".join(rows) + "\n")
    return path


def _record_warnings(path):
    """(the warnings reading the record gave, record_anesthetic_warnings: what `plan` and the plan page say)."""
    from ketasim.errors import DoseWarning
    from ketasim.record import read_record
    from ketasim.summary import record_anesthetic_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = read_record(path)
    return [str(w.message) for w in caught if issubclass(w.category, DoseWarning)], record_anesthetic_warnings(rec)


# ---- R1-1: a heavy patient's two pushes, each anesthetic at 70 kg only, warned of nothing ---------------------------
def test_a_heavy_records_two_pushes_adding_up_warn_once(capsys, tmp_path):
    """WT 120, two 90 mg IV pushes 10 min apart: 0.75 mg/kg each at the record's WT (no row warns), 1.5 mg/kg
    together (the typical peak passes a 1 mg/kg push's). The cumulative check judged each push at 70 kg (1.29
    mg/kg: 'alone in the range'), skipped the record and nothing warned (review R1-1)."""
    path = _record(tmp_path, "heavy", 120, [(0.5, 90, "iv-bolus", ""), (0.5 + 10 / 60, 90, "iv-bolus", "")])
    rows, plan = _record_warnings(path)
    assert rows == []
    assert len(plan) == 1 and plan[0].startswith("heavy.csv: together the record's doses are in the anesthetic range")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, "simulate", "--events", str(path))
    lines = [ln for ln in err.splitlines() if "anesthetic range" in ln]
    assert code == 0 and len(lines) == 1 and "heavy.csv: together the record's doses" in lines[0], err
