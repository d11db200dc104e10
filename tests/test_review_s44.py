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


# ---- R1-2: back-to-back IV doses in mg were judged as one infusion at 70 kg -----------------------------------------
def test_a_records_back_to_back_mg_doses_are_judged_at_its_weight(tmp_path):
    """Two 30-min infusions back to back. WT 40, 2 x 60 mg: 1.5 mg/kg each (neither alone), 3 mg/kg over 60 min
    together, which the infusion rule puts in the anesthetic range; at 70 kg it was 1.71 mg/kg (not). WT 120,
    2 x 105 mg: 1.75 mg/kg over 60 min at its WT (not), 3 mg/kg at 70 kg (warned 'at the 70-kg reference weight')
    (review R1-2)."""
    from ketasim.regimen import REFERENCE_WEIGHT_KG, Drug, Route, back_to_back_iv_runs
    from ketasim.regimen import Administration as A

    light = _record(tmp_path, "light", 40, [(0.5, 60, "iv-infusion", 0.5), (1.0, 60, "iv-infusion", 0.5)])
    rows, plan = _record_warnings(light)
    assert rows == [] and len(plan) == 1, plan
    assert ("2 IV doses back to back from 30 min give 3 mg/kg over 60 min, mg doses at the record's WT of 40 kg, as "
            "one infusion in the anesthetic range") in plan[0], plan
    assert "reference weight" not in plan[0]
    heavy = _record(tmp_path, "heavy", 120, [(0.5, 105, "iv-infusion", 0.5), (1.0, 105, "iv-infusion", 0.5)])
    rows, plan = _record_warnings(heavy)
    assert rows == [] and not any("back to back" in m or "reference weight" in m for m in plan), plan
    # the function itself: a dose in mg per kg at the given weight, the reference weight without one
    adm = [A(Drug.RACEMIC_KETAMINE, Route.IV_INFUSION, 60.0, False, t, 0.5) for t in (0.5, 1.0)]
    assert back_to_back_iv_runs(adm)[0][2] == 120 / REFERENCE_WEIGHT_KG
    assert back_to_back_iv_runs(adm, 40.0) == [(0.5, 1.0, 3.0, 2, True)]
