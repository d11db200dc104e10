"""Regression tests of the thirty-fifth session's review findings (H3): one per fixed finding."""

import pytest

from test_new_user_pass_s34 import DAILY_RECORD


def test_sessions_per_week_below_one_is_refused_in_one_line():
    """Sessions are counted in any 7 days, so every session counts 1 in its own week: sessions_per_week=0.5 (a user's
    "every 2 weeks") could never be met and left "no further sessions" without a word (R1-2)."""
    from ketasim.errors import InputError
    from ketasim.personal import Limits, parse_limits

    for make in (lambda: Limits(sessions_per_week=0.5), lambda: parse_limits("sessions_per_week=0.5")):
        with pytest.raises(InputError, match=r"^--limits sessions_per_week: .*at least 1 .*got 0\.5$"):
            make()
    assert Limits(sessions_per_week=1).sessions_per_week == 1.0


def test_no_candidate_within_the_limits_is_not_called_within_every_limit(tmp_path, capsys):
    """When the limits leave no candidate with a session, the recorded plan's line said "(the candidates are within
    every limit; ...)" while the only plan was "no further sessions" (R1-2)."""
    from ketasim.cli import main

    rec = tmp_path / "daily.csv"
    rec.write_text(DAILY_RECORD, encoding="utf-8")
    assert main(["plan", str(rec), "--limits", "ketamine_mg_per_kg_week=0.2,drugs=racemic-ketamine"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("  the recorded plan is outside the limits: "))
    assert "no candidate with a session is within them" in line
    assert "the candidates are within every limit" not in line
    # with the default limits candidates with sessions exist and the line says so
    assert main(["plan", str(rec)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines()
                if ln.startswith("  the recorded plan is outside the limits: "))
    assert "the candidates are within every limit" in line
