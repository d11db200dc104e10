"""Forty-fifth session, H10: fixes of the review's findings (/work/coord/s45/review.md)."""

from __future__ import annotations

import warnings
from pathlib import Path

from _support import run_cli

ROOT = Path(__file__).resolve().parents[1]

RECORD_HEAD = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"


def _record(tmp_path, name, wt, mg=60):
    """A record of WT ``wt`` kg: MADRS 30 at 0 h, one ``mg`` mg racemic ketamine push at 0.5 h, MADRS 20 at 24 h."""
    path = tmp_path / f"{name}.csv"
    path.write_text(RECORD_HEAD + f"1,0,0,,,,,,30,madrs,{wt},41,F\n1,0.5,1,{mg},mg,,racemic-ketamine,iv-bolus,,,,,\n"
                    "1,24,0,,,,,,20,madrs,,,\n")
    return path


def _read(path):
    from ketasim.record import read_record

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_record(path)


def _dose_warnings(fn, *args, **kwargs):
    """(fn's result, the messages of the DoseWarnings it gave)."""
    from ketasim.errors import DoseWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught if issubclass(w.category, DoseWarning)]


# ---- R1: a plan's alternative judged its mg doses at 70 kg, and had no cumulative check ---------------------------
def test_an_alternatives_mg_doses_are_judged_at_the_records_weight(tmp_path):
    """WT 120, 80 mg push (0.67 mg/kg): warned 'anesthetic' (1.14 mg/kg at 70 kg); WT 40, 50 mg push (1.25 mg/kg):
    said nothing (0.71 mg/kg at 70 kg). The record's own rows were judged at its WT (review R1)."""
    from ketasim.personal import _future_doses

    line = {"drug": "racemic-ketamine", "route": "iv-bolus", "at": "48 h"}
    heavy = _read(_record(tmp_path, "heavy", 120))
    _, said = _dose_warnings(_future_doses, heavy, [{**line, "dose": "80 mg"}], "alternative")
    assert said == []
    light = _read(_record(tmp_path, "light", 40))
    doses, said = _dose_warnings(_future_doses, light, [{**line, "dose": "50 mg"}], "alternative")
    assert len(said) == 1 and said[0].startswith("alternative[0].dose: 50 mg iv-bolus is in the anesthetic range "
                                                 "(1.25 mg/kg at the record's WT of 40 kg;"), said
    assert doses[0].weight_kg == 40


def test_an_alternatives_back_to_back_pushes_get_the_cumulative_warning(tmp_path):
    """WT 70, an alternative of two 0.9 mg/kg pushes 6 min apart (neither alone in the range): `plan --alternative`
    printed no anesthetic warning, while the same pushes as record rows warned (review R1)."""
    from ketasim.personal import _future_doses
    from ketasim.summary import alternative_anesthetic_warnings

    rec = _read(_record(tmp_path, "mid", 70))
    alt = _future_doses(rec, [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.9 mg/kg", "at": at}
                              for at in ("48 h", "48.1 h")], "alternative")
    said = alternative_anesthetic_warnings(rec, alt)
    assert len(said) == 1 and said[0].startswith(
        "alternative: together the alternative's doses with the record's past ones are in the anesthetic range"), said
    # one push alone adds nothing to the record's past 60 mg two days before
    assert alternative_anesthetic_warnings(rec, alt[:1]) == []


def test_plan_alternative_prints_the_cumulative_warning_naming_the_file(capsys, tmp_path):
    path = _record(tmp_path, "mid", 70)
    alt = tmp_path / "alt2.yaml"
    alt.write_text("- {drug: racemic-ketamine, route: iv-bolus, dose: 0.9 mg/kg, at: 48 h}\n"
                   "- {drug: racemic-ketamine, route: iv-bolus, dose: 0.9 mg/kg, at: 48.1 h}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, "plan", path, "--alternative", alt, "--json", tmp_path / "p.json")
    lines = [ln for ln in err.splitlines() if "anesthetic range" in ln]
    assert code == 0 and lines == [ln for ln in lines if ln.startswith(
        "warning: --alternative alt2.yaml: alternative: together the alternative's doses")] and len(lines) == 1, err
    import json

    fit_warnings = json.loads((tmp_path / "p.json").read_text())["fit"]["warnings"]
    assert sum("alternative: together" in w for w in fit_warnings) == 1
