"""Forty-first session, H4: the found-not-fixed items of the fortieth session's new-user pass (/work/coord/s40/H1_log.md):
API errors naming CLI options, the order of a command's printed lines, the dashboard's trial of an old patient."""

from __future__ import annotations

from pathlib import Path

from _support import run_cli

from ketasim.vocabulary import NOTICE

ROOT = Path(__file__).resolve().parents[1]
PATIENT_101 = ROOT / "examples" / "patient" / "patient_101.csv"
QUICK = ("simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--size", "5", "--seed", "3")


def _order(stdout: str, first: str, then: str) -> bool:
    lines = stdout.splitlines()
    i = next(k for k, x in enumerate(lines) if x.startswith(first))
    j = next(k for k, x in enumerate(lines) if x.startswith(then))
    return i < j


# ---- the summary first, then 'wrote FILE', then the notice (as trial) --------------------------------------------------
def test_plan_prints_its_summary_before_the_files_it_wrote(capsys, tmp_path):
    out = tmp_path / "plan.json"
    code, stdout, _ = run_cli(capsys, "plan", PATIENT_101, "--json", out)
    assert code == 0 and out.exists()
    assert _order(stdout, "target: ", f"wrote {out}") and _order(stdout, f"wrote {out}", NOTICE)


def test_simulate_prints_its_summary_and_pk_before_the_files_it_wrote(capsys, tmp_path):
    csv, pk = tmp_path / "t.csv", tmp_path / "pk.json"
    code, stdout, _ = run_cli(capsys, *QUICK, "--csv", csv, "--pk-json", pk)
    assert code == 0 and csv.exists() and pk.exists()
    assert _order(stdout, "typical patient", f"wrote {csv}") and _order(stdout, "PK (", f"wrote {csv}")
    assert _order(stdout, f"wrote {csv}", f"wrote {pk}") and stdout.rstrip().endswith(NOTICE)


def test_a_streamed_simulate_prints_the_notice_last(capsys, tmp_path):
    # the streamed path printed the notice, then the PK summary after it
    csv, pk = tmp_path / "t.csv", tmp_path / "pk.json"
    code, stdout, _ = run_cli(capsys, *QUICK, "--chunk", "2", "--csv", csv, "--pk-json", pk)
    assert code == 0 and stdout.rstrip().endswith(NOTICE) and stdout.count(NOTICE) == 1
    assert _order(stdout, "PK (", f"wrote {csv}") and _order(stdout, f"wrote {csv}", f"wrote {pk}")
