"""New-user pass of the fortieth session (helper H1): one regression test per fix."""

from __future__ import annotations

import re
import runpy

from _support import REPO, run_cli

DOCS = REPO / "docs"


def _summary_block(text: str) -> list[str]:
    """The link-by-link summary lines of one arm ('[arm]' to the discharge line)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("["))
    end = next(i for i, ln in enumerate(lines) if i > start and "discharge criteria" in ln)
    return lines[start:end + 1]


def test_one_patient_script_and_command_print_the_same_summary(capsys, monkeypatch, tmp_path):
    """docs/howto/one-patient.md says the command line and the Python script 'print the same summary'; the script's
    6-hourly grid after 4 h put the synaptic-protein peak at 10.0 h (command: 11.0 h), spines at 2.7 d (2.6 d) and
    ended at 670 h, so its MADRS line had no 28-d value."""
    code, cli_out, _ = run_cli(capsys, "simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose",
                               "0.5mg/kg", "--duration", "40 min", "--weight", "70", "--baseline", "32", "--typical",
                               "--csv", tmp_path / "one.csv")
    assert code == 0
    script = DOCS / "tutorials" / "one_patient.py"
    monkeypatch.setenv("KETASIM_TUTORIAL_OUT", str(tmp_path))
    monkeypatch.syspath_prepend(str(script.parent))
    runpy.run_path(str(script), run_name="__main__")
    py_out = capsys.readouterr().out
    assert _summary_block(py_out) == _summary_block(cli_out)
    assert "28.0 d" in "\n".join(_summary_block(py_out))
