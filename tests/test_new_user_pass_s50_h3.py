"""Session 50 new-user pass, helper H3 (the qualification's categories run as a user would: IV, intranasal,
suicidal ideation, older patients, anxiety, PTSD, withdrawal, PK with interactions, `qualify --external`)."""

from __future__ import annotations


def _summary(**over) -> dict:
    s = {"rows": 2, "inside": 2, "share_inside": 1.0, "score_rows": 0, "mae_points": None, "score_by_scale": {},
         "rate_rows": 0, "mae_percentage_points": None, "mae_other": {}}
    s.update(over)
    return s


def test_a_summary_of_rate_rows_only_says_the_number_is_a_mean_absolute_error():
    # a withdrawal's observed file (relapse rates only) printed "6.1 percentage points over 2 rate row(s); 2 of 2
    # inside ...": the "MAE" that heads a file with score rows was missing, so the number was unexplained
    from ketasim.observed import format_summary

    line = format_summary(_summary(rate_rows=2, mae_percentage_points=6.1))
    assert line.startswith("MAE 6.1 percentage points over 2 rate row(s); 2 of 2 inside"), line
    line = format_summary(_summary(mae_other={"CADSS points": 2.05}))
    assert line.startswith("MAE 2.05 CADSS points; "), line
    # with score rows first it reads as before, with one "MAE"
    line = format_summary(_summary(score_rows=2, mae_points=2.13, rate_rows=3, mae_percentage_points=23.5))
    assert line.startswith("MAE 2.13 points over 2 score row(s); 23.5 percentage points over 3 rate row(s); 2 of 2")
    assert line.count("MAE") == 1
    assert format_summary(_summary(rows=0, inside=0, share_inside=None)) == "0 of 0 inside their 95% interval (-)"

