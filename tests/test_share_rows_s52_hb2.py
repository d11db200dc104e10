"""Fifty-second session (HB2): an open-label follow-up's share followed (``followed_fraction``) is an observed rate row,
and the share rows (``randomized_fraction``, ``followed_fraction``) are summarised apart from the outcome rates.

The observed values below are made up for the tests (round numbers of a plausible size), not a published trial's."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest

from _support import one_error_line, run_cli

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}


def _follow_up(size=200, name="s52-hb2-fu"):
    """A small open-label follow-up: six infusions over 12 days vs one, responders at day 13 followed to day 60."""
    return {"name": name, "seed": 5, "population": {"size": size, "baseline": {"mean": 33, "sd": 5}},
            "arms": {"series": [dict(KET, every="2.333 d", count=6)], "one": [KET]},
            "design": {"type": "parallel", "control": "one", "follow_up_from": "13 d", "follow_up_every": "3.5 d",
                       "follow_up_until": "60 d", "relapse_consecutive": 2},
            "endpoints": {"times": ["24 h", "13 d"], "measures": ["response_rate", "relapse_rate",
                                                                  "time_to_relapse"]}}


SHARES = [{"arm": "series", "timepoint_h": "", "measure": "followed_fraction", "value": "60", "n": "40"},
          {"arm": "one", "timepoint_h": "312", "measure": "followed_fraction", "value": "30", "n": "40"}]
RATES = [{"arm": "series", "timepoint_h": "", "measure": "relapse_rate", "value": "70", "n": "24"},
         {"arm": "one", "timepoint_h": "24", "measure": "response_rate", "value": "40", "n": "40"}]


@pytest.fixture(scope="module")
def follow_up_trial():
    from ketasim.scenario import scenario_from_dict
    from ketasim.trial import run_trial

    return run_trial(scenario_from_dict(_follow_up()))


def _own(tr, arm, measure):
    return next(r for r in tr.endpoints if r["arm"] == arm and r["measure"] == measure)


def test_the_share_followed_is_compared_with_the_trials_own_row_of_each_arm(follow_up_trial):
    from ketasim.calibration import observed_interval
    from ketasim.observed import compare_observed, read_observed

    tr = follow_up_trial
    obs = read_observed(SHARES, tr.scenario)
    assert obs["arm"].tolist() == ["series", "one"] and obs["time_h"].tolist() == [312.0, 312.0]
    df = compare_observed(tr, obs)
    assert df["unit"].tolist() == ["percentage points"] * 2 and df["n"].tolist() == [40, 40]
    preds = []
    for r in df.to_dict("records"):
        own = _own(tr, r["arm"], "followed_fraction")
        assert r["predicted"] == own["value"] and r["time_h"] == own["time_h"]
        assert r["n_virtual"] == tr.outcomes[r["arm"]].n == 200     # the share's denominator: the arm's patients
        lo, hi, inside = observed_interval(r["observed"], r["predicted"], 40, 0.0, 0.0, rate=True, estimate_n=200)
        assert (r["pi_low"], r["pi_high"], r["inside"]) == (lo, hi, inside)
        preds.append(r["predicted"])
    assert preds[0] > preds[1] + 10        # a series leaves more responders to follow: the two rows are not alike


def test_share_rows_are_summarised_apart_from_the_outcome_rates(follow_up_trial):
    from ketasim.observed import (compare_observed, format_observed, format_summary, observed_block,
                                  observed_floors, observed_summary)

    tr = follow_up_trial
    both = compare_observed(tr, RATES + SHARES)
    rates = compare_observed(tr, RATES)
    s, s0 = observed_summary(both), observed_summary(rates)
    share = both["measure"] == "followed_fraction"
    assert s["rate_rows"] == 2 and s["share_rows"] == 2 and s["rows"] == 4
    assert s["mae_percentage_points"] == pytest.approx(np.mean(np.abs(both.loc[~share, "error"])))
    assert s["mae_share_percentage_points"] == pytest.approx(np.mean(np.abs(both.loc[share, "error"])))
    assert s["mae_percentage_points"] == s0["mae_percentage_points"]        # the shares change no outcome MAE
    assert s["inside"] == s0["inside"] + int(both.loc[share, "inside"].sum())
    # a file without share rows has the keys it had before, and no share keys
    assert "share_rows" not in s0 and "mae_share_percentage_points" not in s0
    assert set(s) - set(s0) == {"share_rows", "mae_share_percentage_points"}
    # nor are they in the floors an exact model would still miss by (those go beside the outcome rate MAE)
    f, f0 = observed_floors(both), observed_floors(rates)
    assert f["sampling_floor_percentage_points"] > 0 and f.keys() == f0.keys()
    assert all(f[k] == f0[k] or (math.isnan(f[k]) and math.isnan(f0[k])) for k in f)
    line = format_summary(s)
    assert re.search(r"MAE \d+\.\d percentage points over 2 rate row\(s\); \d+\.\d percentage points over 2 share "
                     r"row\(s\); ", line), line
    shares_only = format_summary(observed_summary(compare_observed(tr, SHARES)))
    assert shares_only.startswith("MAE ") and "over 2 share row(s)" in shares_only and "rate row" not in shares_only
    assert observed_block(both)["summary"]["share_rows"] == 2
    text = format_observed(both)
    assert "followed_fraction: % of the arm's patients followed in the open-label follow-up" in text
    assert "randomized_fraction:" not in text


def test_a_withdrawals_share_randomized_is_a_share_row_too():
    from ketasim.observed import compare_observed, observed_summary
    from ketasim.scenario import scenario_from_dict
    from ketasim.trial import run_trial

    line = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg"}
    sc = scenario_from_dict({
        "name": "s52-hb2-wd", "seed": 5, "population": {"size": 120},
        "design": {"type": "randomized_withdrawal", "induction_until": "4 week", "criterion": "stable_remission",
                   "continue": "esk", "withdraw": "pbo"},
        "arms": {"esk": [{**line, "every": "3.5 d", "count": 32}],
                 "pbo": [{**line, "every": "3.5 d", "count": 8},
                         {"drug": "placebo", "route": "intranasal", "at": "4 week", "every": "3.5 d", "count": 24}]},
        "endpoints": {"times": ["4 week", "16 week"], "measures": ["relapse_rate"], "remission_threshold": 12}})
    tr = run_trial(sc)
    rows = [{"arm": "esk", "timepoint_h": "", "measure": "relapse_rate", "value": "30", "n": "10"},
            {"arm": "pbo", "timepoint_h": "", "measure": "randomized_fraction", "value": "25", "n": "300"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # a study larger than the small virtual randomized group warns
        df = compare_observed(tr, rows)
    s = observed_summary(df)
    assert s["rate_rows"] == 1 and s["share_rows"] == 1
    assert s["mae_percentage_points"] == pytest.approx(abs(df["error"].iloc[0]))
    assert s["mae_share_percentage_points"] == pytest.approx(abs(df["error"].iloc[1]))


def test_the_command_line_compares_the_share_followed_as_the_trials_json_reports_it(capsys, tmp_path):
    import csv

    import yaml

    sc, f, js = tmp_path / "fu.yaml", tmp_path / "fu.csv", tmp_path / "fu.json"
    sc.write_text(yaml.safe_dump(_follow_up(size=150)), encoding="utf-8")
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["scenario", "arm", "timepoint_h", "measure", "value", "n"])
        w.writeheader()
        w.writerows({**r, "scenario": "s52-hb2-fu"} for r in RATES + SHARES)
    code, out, err = run_cli(capsys, "trial", sc, "--observed", f, "--json", js)
    assert code == 0, err
    doc = json.loads(js.read_text())
    own = {(arm, r["measure"], r["time_h"]): r["value"] for arm, a in doc["arms"].items() for r in a["endpoints"]}
    got = [r for r in doc["observed_comparison"]["rows"] if r["measure"] == "followed_fraction"]
    assert len(got) == 2
    for r in got:
        assert r["time_h"] == 312.0 and r["predicted"] == own[(r["arm"], "followed_fraction", 312.0)]
        assert "stratum" not in r and r["n"] == 40
    summary = doc["observed_comparison"]["summary"]
    assert summary["rate_rows"] == 2 and summary["share_rows"] == 2
    assert "over 2 rate row(s)" in out and "over 2 share row(s)" in out


@pytest.mark.parametrize("change, column, message", [
    ({"n": ""}, "n", r"followed_fraction needs n: the patients of this arm in the published trial \(the "
                     r"denominator of its share followed\)$"),
    ({"timepoint_h": "24"}, "timepoint_h", r"followed_fraction is the share followed from design.follow_up_from "
                                           r"\(312 h = 13 d\); leave timepoint_h empty or give 312$"),
    ({"value": "160"}, "value", r"160 is not a percentage \(0-100\)$"),
    ({"stratum": "stable remitters"}, "stratum", r"has no strata"),
    ({"spread": "5"}, "spread_kind", r"a spread is given: say whether it is an SD or an SE$"),
])
def test_bad_share_followed_cells_are_refused_in_one_line(change, column, message):
    from ketasim.errors import MAX_MESSAGE, InputError
    from ketasim.observed import read_observed
    from ketasim.scenario import scenario_from_dict

    with pytest.raises(InputError) as e:
        read_observed([{**SHARES[0], **change}], scenario_from_dict(_follow_up()))
    msg = str(e.value)
    assert "\n" not in msg and len(msg) <= MAX_MESSAGE and f"row 1, column {column}: " in msg
    assert re.search(message, msg), msg


@pytest.mark.parametrize("path", ["examples/observed/murrough2013.yaml", "examples/sustain1_like_withdrawal.yaml"])
def test_the_share_followed_of_a_trial_without_a_follow_up_is_refused(path):
    from ketasim.errors import InputError
    from ketasim.observed import read_observed
    from ketasim.scenario import load_scenario

    sc = load_scenario(ROOT / path)
    row = {"arm": sc.arms[0].name, "timepoint_h": "", "measure": "followed_fraction", "value": "50", "n": "40",
           **({"stratum": "stable remitters"} if "sustain1" in path else {})}
    with pytest.raises(InputError, match=rf"row 1, column measure: followed_fraction: scenario {sc.name} has no "
                                         r"open-label follow-up \(only a trial with design.follow_up_from has a share "
                                         r"followed\)$"):
        read_observed([row], sc)


def test_the_unknown_measure_line_of_a_follow_up_lists_the_share_followed_within_the_limit(capsys, tmp_path):
    from ketasim.errors import MAX_MESSAGE

    f = tmp_path / "open_label_series_published_results.csv"
    f.write_text("scenario,arm,timepoint_h,measure,value,n\nopen-label-series-follow-up,ketamine-6,,share_followed,"
                 "60,40\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "trial", ROOT / "examples" / "open_label_follow_up.yaml", "--observed", f)
    line = one_error_line(err)
    assert code == 2 and len(line) - len("error: ") <= MAX_MESSAGE and " ... " not in line
    assert "scenario open-label-series-follow-up's: response_rate, relapse_rate, followed_fraction (others" in line
