"""New-user pass (2026-12-01, third session): `ketasim trial --observed FILE.csv` with files as people make them.

Each bad file stops with ONE line naming the file (and row/column where there is one), exit 2, before the trial runs,
and says what to do: the separator (semicolons from a European spreadsheet), letter case of the header, an empty
file, a row with fewer cells, a workbook or UTF-16/latin-1 text instead of CSV UTF-8, an arm or measure with a typo
(did you mean), an n or a score value no trial can have. Before, most of these said only "no column 'arm'", and an
n of 1e300 or a MADRS change of 1e308 ran. An output path that is an input file is refused (it was overwritten).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ketasim import load_scenario
from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.observed import read_observed

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "observed" / "murrough2013.yaml"
GOOD = "arm,timepoint_h,measure,value,n\nketamine,24,mean_change,-16.5,47\n"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SCENARIO)


def _read(tmp_path, content, scenario, name="obs.csv"):
    f = tmp_path / name
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    return read_observed(f, scenario)


@pytest.mark.parametrize("content, match", [
    ("", r"^observed obs\.csv: the file is empty; its first line names the columns: arm, timepoint_h"),
    ("\n\n", r"the file is empty"),
    ("arm;timepoint_h;measure;value\nketamine;24;mean_change;-16,5\n",
     r"^observed obs\.csv: no column 'arm' .*separated by semicolons: the file must be comma-separated"),
    ("arm\ttimepoint_h\tmeasure\tvalue\nketamine\t24\tmean_change\t-16.5\n", r"separated by tabs"),
    ("Arm,Timepoint_h,Measure,Value\nketamine,24,mean_change,-16.5\n", r"found 'Arm': column names are lower case"),
    ("arm,timepoint_d,measure,value\nketamine,1,mean_change,-16.5\n",
     r"no column 'timepoint_h' .*found 'timepoint_d': .*convert the times \(x 24\)"),     # the column meant (s39)
    ("arm,timepoint_h,measure,value\nketamine,24\n",
     r"^observed obs\.csv row 1 \(line 2\), column measure: the row has 2 cell\(s\) where the header has 4"),
    ('arm,timepoint_h,measure,value\n"ketamine,24,mean_change,-16.5\n', r"unclosed quote"),
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)), r"this is an Excel workbook or other ZIP file, not a CSV"),
    (GOOD.encode("utf-16"), r"this is UTF-16 text, not a CSV file; save it as 'CSV UTF-8"),
    ("arm,timepoint_h,measure,value,notes\nketamine,24,mean_change,-16.5,\xe9tude\n".encode("latin-1"),
     r"not UTF-8 text \(byte 0xe9 at position \d+\); save it as 'CSV UTF-8"),
    ("arm,timepoint_h,measure,value\nKetamine,24,mean_change,-16.5\n",
     r"column arm: 'Ketamine' is not an arm of scenario murrough2013 \(did you mean 'ketamine'\?\)"),
    ("arm,timepoint_h,measure,value\nketamine,24,mean_chnage,-16.5\n", r"\(did you mean 'mean_change'\?\)"),
    ("arm,timepoint_h,measure,value\nesketamine-flex,24,mean_change,-16.5\n",
     r"column arm: 'esketamine-flex' is not an arm of scenario murrough2013; its arms"),     # no far-fetched guess
    ("arm,timepoint_h,measure,value\nketamine,336,final_dose_rate,60\n",
     # compared since final_dose_rate rows have a dose_level (test_observed_final_dose.py); this scenario has no
     # titrated arm, so the row is still refused in one line
     r"column measure: final_dose_rate is the share of a titrated arm's patients on each dose; arm ketamine has "
     r"fixed doses \(the scenario has no arm with a titration rule\)"),
    ("arm,timepoint_h,measure,value,n\nketamine,24,mean_change,-16.5,1e300\n",
     r"column n: 1e300 patients in one arm is more than the 2,000,000 supported"),
    ("arm,timepoint_h,measure,value\nketamine,24,mean_change,1e308\n",
     r"column value: 1e\+308 points: a change on the MADRS lies within -60 to \+60"),
    ("arm,timepoint_h,measure,value\nketamine,24,mean,75\n",
     r"column value: 75 is above the top of the MADRS \(60 points\)"),
    ("arm,timepoint_h,measure,value,notes\nketamine,24,mean_change,-16.5," + "x" * 200_000 + "\n",
     r"line \d+: a cell is longer than 131,072 characters"),
])
def test_bad_files_say_what_to_do_in_one_line(tmp_path, scenario, content, match):
    with pytest.raises(InputError, match=match) as e:
        _read(tmp_path, content, scenario)
    assert "\n" not in str(e.value)


def test_missing_file_and_folder_are_named(tmp_path, scenario):
    with pytest.raises(InputError, match=r"^observed nope\.csv: no such file \(.*nope\.csv\)$"):
        read_observed(tmp_path / "nope.csv", scenario)
    with pytest.raises(InputError, match=r"is a folder; give the CSV file$"):
        read_observed(tmp_path, scenario)


def test_files_as_spreadsheets_write_them_still_read(tmp_path, scenario):
    """A byte-order mark, Windows line endings, spaces around cells, a blank line and 'sd' in lower case are fine."""
    text = ("arm, timepoint_h ,measure,value,spread,spread_kind,n\r\n ketamine ,24,mean_change, -16.5 ,10,sd,47\r\n"
            "\r\nmidazolam,24,mean_change,-8.8,,none,25\r\n")
    df = _read(tmp_path, b"\xef\xbb\xbf" + text.encode(), scenario)
    assert list(df["arm"]) == ["ketamine", "midazolam"] and list(df["observed"]) == [-16.5, -8.8]
    assert list(df["spread_kind"]) == ["SD", "none"] and list(df["n"]) == [47, 25]


def _cli(capsys, *args):
    code = main(["trial", str(SCENARIO), "--no-progress", *map(str, args)])
    return code, capsys.readouterr().err


def test_cli_refuses_an_output_that_is_the_observed_file(tmp_path, capsys):
    obs = tmp_path / "obs.csv"
    obs.write_text(GOOD)
    report = tmp_path / "r.html"
    code, err = _cli(capsys, "--size", 5, "--observed", obs, "--json", obs, "--report", report)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "the same file as --observed" in err and "give another name" in err
    assert obs.read_text() == GOOD and not report.exists()


def test_cli_refuses_json_and_report_on_one_file_and_the_scenario_as_output(tmp_path, capsys):
    out = tmp_path / "x.json"
    code, err = _cli(capsys, "--size", 5, "--json", out, "--report", tmp_path / "." / "x.json")
    assert code == 2 and err.count("\n") == 1 and not out.exists()
    assert err.startswith("error: --report: ") and f"the same file as --json ({out})" in err       # s42: both options
    before = SCENARIO.read_bytes()
    code, err = _cli(capsys, "--size", 5, "--json", SCENARIO)
    assert code == 2 and "the same file as the scenario" in err and SCENARIO.read_bytes() == before


def test_simulate_and_plan_refuse_writing_over_their_input(tmp_path, capsys):
    sc = tmp_path / "s.yaml"
    sc.write_bytes(SCENARIO.read_bytes())
    assert main(["simulate", str(sc), "--csv", str(sc)]) == 2
    assert "the same file as the scenario" in capsys.readouterr().err and sc.read_bytes() == SCENARIO.read_bytes()
    rec = tmp_path / "p.csv"
    rec.write_bytes((ROOT / "examples" / "patient" / "patient_101.csv").read_bytes())
    assert main(["plan", str(rec), "--report", str(rec)]) == 2
    assert "the same file as the record" in capsys.readouterr().err
    assert rec.read_bytes() == (ROOT / "examples" / "patient" / "patient_101.csv").read_bytes()
