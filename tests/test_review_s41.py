"""Forty-first session: H4's found-not-fixed items the lead took."""

from __future__ import annotations

from _support import run_cli


def test_qualify_takes_report_like_every_other_command(capsys):
    """H4 (s41): every command writes its HTML page with --report, qualify only with --html; --report is an alias."""
    code, out, err = run_cli(capsys, "qualify", "--help")
    assert code == 0 and "--report" in out and "--html" in out


def test_qualify_report_of_the_wrong_kind_names_both_option_spellings(capsys, tmp_path):
    """Review R8-2: `qualify --report q.json` said '--html: ...', an option the user did not type."""
    from _support import one_error_line

    code, out, err = run_cli(capsys, "qualify", "--report", tmp_path / "q.json")
    assert code != 0 and one_error_line(err).startswith("error: --html/--report: ")
