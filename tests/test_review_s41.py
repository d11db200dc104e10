"""Forty-first session: H4's found-not-fixed items the lead took."""

from __future__ import annotations

from _support import run_cli


def test_qualify_takes_report_like_every_other_command(capsys):
    """H4 (s41): every command writes its HTML page with --report, qualify only with --html; --report is an alias."""
    code, out, err = run_cli(capsys, "qualify", "--help")
    assert code == 0 and "--report" in out and "--html" in out
