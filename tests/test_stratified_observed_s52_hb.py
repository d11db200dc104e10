"""Fifty-second session (HB): observed files of a stratified randomized withdrawal (a ``stratum`` column, one file for
both strata) and the share randomized (``randomized_fraction``) as an observed rate row.

The observed values below are made up for the tests (round numbers of a plausible size), not a published trial's."""

from __future__ import annotations

import json
import math
import warnings

import pandas as pd
import pytest

from _support import one_error_line, run_cli

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
LINE = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg"}
STRATA = ("stable remitters", "stable responders without remission")


def _stratified(size=200, name="s52-hb-strat", criterion="stratified"):
    """A small SUSTAIN-1-like withdrawal: twice-weekly esketamine for 4 weeks, then stable remitters and stable
    responders without remission randomized to continue or switch to placebo (~40-50 per stratum of 200)."""
    return {"name": name, "seed": 5, "population": {"size": size},
            "design": {"type": "randomized_withdrawal", "induction_until": "4 week", "criterion": criterion,
                       "continue": "esk", "withdraw": "pbo"},
            "arms": {"esk": [{**LINE, "every": "3.5 d", "count": 32}],
                     "pbo": [{**LINE, "every": "3.5 d", "count": 8},
                             {"drug": "placebo", "route": "intranasal", "at": "4 week", "every": "3.5 d",
                              "count": 24}]},
            "endpoints": {"times": ["4 week", "16 week"], "measures": ["mean", "relapse_rate", "time_to_relapse"],
                          "remission_threshold": 12}}


def _rows(stratum_cells=STRATA):
    """Made-up rows of both strata: relapse rates, medians, hazard ratios, the share randomized and a mean."""
    rows = []
    for st in stratum_cells:
        rows += [{"arm": "esk", "stratum": st, "timepoint_h": "", "measure": "relapse_rate", "value": "30", "n": "45"},
                 {"arm": "pbo", "stratum": st, "timepoint_h": "", "measure": "relapse_rate", "value": "50", "n": "45"},
                 {"arm": "pbo", "stratum": st, "timepoint_h": "", "measure": "time_to_relapse", "value": "40",
                  "n": "45"},
                 {"arm": "esk", "stratum": st, "timepoint_h": "", "measure": "relapse_hazard_ratio", "value": "0.5",
                  "n": "45", "ci_low": "0.3", "ci_high": "0.85"},
                 {"arm": "pbo", "stratum": st, "timepoint_h": "", "measure": "randomized_fraction", "value": "22",
                  "n": "700"},
                 {"arm": "esk", "stratum": st, "timepoint_h": "672", "measure": "mean", "value": "9", "n": "45"}]
    return rows


@pytest.fixture(scope="module")
def stratified_trial():
    from ketasim.scenario import scenario_from_dict
    from ketasim.trial import run_trial

    return run_trial(scenario_from_dict(_stratified()))


def _trial_value(tr, group, measure, time_h=None):
    """The trial's own row value of a group ('esk [stable remitters]'), NaN for a median not reached."""
    for r in tr.endpoints:
        if r["arm"] == group and r["measure"] == measure and (time_h is None or r["time_h"] == time_h):
            return float("nan") if r["value"] is None else float(r["value"])
    raise AssertionError(f"no {measure} row of {group}")


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_each_stratums_row_is_compared_with_that_stratums_prediction(stratified_trial):
    from ketasim.observed import compare_observed, read_observed

    tr = stratified_trial
    obs = read_observed(_rows(), tr.scenario)
    assert obs["stratum"].tolist() == [s for s in STRATA for _ in range(6)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # a study larger than a small virtual stratum warns
        df = compare_observed(tr, obs)
    assert df["arm"].tolist()[:6] == ["esk [stable remitters]", "pbo [stable remitters]", "pbo [stable remitters]",
                                      "esk [stable remitters]", "esk [stable remitters]", "esk [stable remitters]"]
    by = {(r["stratum"], r["arm"], r["measure"]): r for r in df.to_dict("records")}
    hr = {c["stratum"]: c["value"] for c in tr.comparisons if c["measure"] == "relapse_hazard_ratio"}
    predicted = {}
    for st in STRATA:
        esk, pbo = f"esk [{st}]", f"pbo [{st}]"
        assert by[(st, esk, "relapse_rate")]["predicted"] == _trial_value(tr, esk, "relapse_rate")
        assert by[(st, pbo, "relapse_rate")]["predicted"] == _trial_value(tr, pbo, "relapse_rate")
        assert _same(by[(st, pbo, "time_to_relapse")]["predicted"], _trial_value(tr, pbo, "time_to_relapse"))
        assert by[(st, esk, "relapse_hazard_ratio")]["predicted"] == hr[st]
        assert by[(st, esk, "relapse_hazard_ratio")]["versus"] == pbo
        assert by[(st, esk, "randomized_fraction")]["predicted"] == _trial_value(tr, esk, "randomized_fraction")
        assert by[(st, esk, "mean")]["predicted"] == _trial_value(tr, esk, "mean", 672.0)
        predicted[st] = {k[2]: r["predicted"] for k, r in by.items() if k[0] == st and k[1] == esk}
    # the two strata's predictions differ, so a row compared with the other stratum's would fail above
    for m in ("relapse_rate", "relapse_hazard_ratio", "randomized_fraction", "mean"):
        assert predicted[STRATA[0]][m] != predicted[STRATA[1]][m], m


def test_the_share_randomized_is_a_rate_row_of_the_induction_entrants(stratified_trial):
    """Its Monte Carlo error comes from the patients who entered induction (the trial's denominator), not from the
    stratum's randomized patients, and its interval is a rate's of the row's n (the published denominator)."""
    from ketasim.calibration import observed_interval
    from ketasim.observed import compare_observed, observed_summary, read_observed

    tr = stratified_trial
    rows = [r for r in _rows() if r["measure"] == "randomized_fraction"]
    df = compare_observed(tr, read_observed(rows, tr.scenario))
    assert df["n_virtual"].tolist() == [200, 200] and df["n"].tolist() == [700, 700]
    assert df["time_h"].tolist() == [672.0, 672.0] and df["unit"].tolist() == ["percentage points"] * 2
    for r in df.to_dict("records"):
        lo, hi, inside = observed_interval(22.0, r["predicted"], 700, 0.0, 0.0, rate=True, estimate_n=200)
        assert (r["pi_low"], r["pi_high"], r["inside"]) == (lo, hi, inside)
        assert r["pi_high"] - r["pi_low"] < 20          # a rate of 700 with a virtual trial of 200: not the 40 of ~45
    s = observed_summary(df)            # shares are not outcome rates (s52 HB2): a summary of their own
    assert s["rate_rows"] == 0 and s["share_rows"] == 2 and s["score_rows"] == 0


def test_a_file_through_the_command_line_compares_both_strata_as_the_trials_json_reports_them(capsys, tmp_path):
    """End to end: the observed rows' predictions equal the same run's own rows in the trial JSON (same seed), and
    the printed table names each stratum's group."""
    import csv

    import yaml

    sc, f, js = tmp_path / "strat.yaml", tmp_path / "strat.csv", tmp_path / "t.json"
    sc.write_text(yaml.safe_dump(_stratified(size=120)), encoding="utf-8")
    # studies no larger than a virtual stratum's arm (~10-15 of 120 patients: a larger one warns, an error here)
    rows = [{**r, "scenario": "s52-hb-strat", "n": r["n"] if r["measure"] == "randomized_fraction" else "8"}
            for r in _rows()]
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["scenario", "arm", "stratum", "timepoint_h", "measure", "value", "n",
                                           "ci_low", "ci_high"])
        w.writeheader()
        w.writerows(rows)
    code, out, err = run_cli(capsys, "trial", sc, "--observed", f, "--json", js)
    assert code == 0, err
    doc = json.loads(js.read_text())
    block = doc["observed_comparison"]
    own = {(arm, r["measure"], r["time_h"]): r["value"] for arm, a in doc["arms"].items() for r in a["endpoints"]}
    comps = {(c["arm"], c["measure"]): c["value"] for c in doc["comparisons"]}
    for r in block["rows"]:
        assert r["stratum"] in STRATA and r["arm"].endswith(f" [{r['stratum']}]")
        if r["measure"] == "relapse_hazard_ratio":
            assert r["predicted"] == comps[(r["arm"], r["measure"])]
        else:
            key = (r["arm"], r["measure"], None if r["measure"] == "time_to_relapse" else
                   r["time_h"] if r["measure"] != "relapse_rate" else next(
                       t for (a, m, t) in own if a == r["arm"] and m == "relapse_rate"))
            assert r["predicted"] == own[key], r
    shares = {r["stratum"]: r["predicted"] for r in block["rows"] if r["measure"] == "randomized_fraction"}
    assert shares == {st: own[(f"esk [{st}]", "randomized_fraction", 672.0)] for st in STRATA}
    assert "esk [stable responders without remission]" in out and "randomized_fraction: % of the patients who " \
                                                                   "entered induction" in out
    # qualify --external reads the same folder's pair: both strata's rows, the shares apart from the rate rows
    folder = tmp_path / "ext"
    folder.mkdir()
    (folder / "strat.yaml").write_text(sc.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "strat.csv").write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    qjs = tmp_path / "q.json"
    html_path = tmp_path / "q.html"
    code, out, err = run_cli(capsys, "qualify", "--external", folder, "--size", 120, "--seed", 5, "--json", qjs,
                             "--report", html_path)
    assert code == 0, err
    # the HTML summary has the share rows' columns too (lead, s52: the text had them, the report did not)
    page = html_path.read_text(encoding="utf-8")
    assert "share MAE pp" in page and "Share rows (randomized_fraction, followed_fraction" in page
    q = json.loads(qjs.read_text())
    assert sorted({r["stratum"] for r in q["rows"]}) == sorted(STRATA) and len(q["rows"]) == 12
    assert q["summary"]["overall"]["rate_rows"] == 4 and q["summary"]["overall"]["hazard_ratio_rows"] == 2
    assert q["summary"]["overall"]["share_rows"] == 2
    assert "  share rows (randomized_fraction, followed_fraction; not in the rate columns or the floors):" in out
    assert __import__("re").search(r"\n    all trials: MAE \d+\.\d pp over 2 row\(s\)", out), out


def test_a_withdrawal_of_one_group_reads_files_with_and_without_the_column_alike():
    """A file without the column is compared as before (no stratum key in the JSON rows); a cell naming the one
    group the scenario randomizes is read and dropped, so the comparison is the same."""
    from ketasim.observed import compare_observed, observed_block, read_observed
    from ketasim.scenario import scenario_from_dict
    from ketasim.trial import run_trial

    tr = run_trial(scenario_from_dict(_stratified(size=120, criterion="stable_remission")))
    plain = [{k: v for k, v in r.items() if k != "stratum"} for r in _rows(("stable remitters",))]
    named = _rows(("Stable  Remitters",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = compare_observed(tr, plain), compare_observed(tr, named)
    assert a["arm"].tolist() == ["esk", "pbo", "pbo", "esk", "esk", "esk"]
    cols = ["arm", "predicted", "pi_low", "pi_high", "inside", "stratum"]
    assert a[cols].fillna(-1).equals(b[cols].fillna(-1)) and set(a["stratum"]) == {""}
    assert all("stratum" not in r for r in observed_block(a)["rows"])
    share = a[a["measure"] == "randomized_fraction"].iloc[0]
    assert share["predicted"] == _trial_value(tr, "esk", "randomized_fraction") and share["n_virtual"] == 120


@pytest.mark.parametrize("change, column, message", [
    ({"stratum": "remitters"}, "stratum", r"'remitters' is not a stratum of scenario s52-hb-strat; its strata "
                                          r"\(design.criterion stratified\): stable remitters; stable responders "
                                          r"without remission$"),
    ({"stratum": "stable remiters"}, "stratum", r"\(did you mean 'stable remitters'\?\)"),
    ({"stratum": ""}, "stratum", r"empty: scenario s52-hb-strat randomizes 2 strata analysed apart"),
    ({"arm": "esk [stable remitters]"}, "arm", r"write arm esk and, in a column stratum, stable remitters"),
    ({"measure": "randomized_fraction", "n": ""}, "n", r"randomized_fraction needs n: the patients who entered "
                                                       r"induction"),
    ({"measure": "randomized_fraction", "timepoint_h": "2688"}, "timepoint_h",
     r"the share randomized at design.induction_until \(672 h = 28 d\); leave timepoint_h empty or give 672$"),
    ({"measure": "randomized_fraction", "value": "0.22"}, None, None),          # a true 0.22 % is kept (one row)
    ({"measure": "randomized_fraction", "value": "122"}, "value", r"122 is not a percentage"),
])
def test_bad_stratum_and_share_cells_are_refused_in_one_line(change, column, message):
    from ketasim.errors import MAX_MESSAGE, InputError
    from ketasim.observed import read_observed
    from ketasim.scenario import scenario_from_dict

    sc = scenario_from_dict(_stratified())
    row = {"arm": "esk", "stratum": "stable remitters", "timepoint_h": "", "measure": "relapse_rate", "value": "30",
           "n": "45", **change}
    if column is None:
        assert read_observed([row], sc)["observed"].tolist() == [0.22]
        return
    with pytest.raises(InputError) as e:
        read_observed([row], sc)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) <= MAX_MESSAGE and f"row 1, column {column}: " in msg
    assert __import__("re").search(message, msg), msg


def test_a_stratum_where_there_is_none_and_a_second_row_of_one_stratum_are_refused():
    from ketasim.errors import InputError
    from ketasim.observed import read_observed
    from ketasim.scenario import load_scenario, scenario_from_dict

    parallel = load_scenario(ROOT / "examples" / "observed" / "murrough2013.yaml")
    row = {"arm": "ketamine", "stratum": "stable remitters", "timepoint_h": "24", "measure": "mean", "value": "20"}
    # a trial without a withdrawal or follow-up: a stratum cell was ignored before the column existed, and still is,
    # with one warning (review s52 L2); the row is the whole arm's
    from ketasim.errors import ObservedWarning

    with pytest.warns(ObservedWarning, match=r"column stratum ignored \(first at row 1, 'stable remitters'\): "
                                             r"scenario murrough2013 has no randomized withdrawal or follow-up"):
        got = read_observed([row, {**row, "timepoint_h": "168", "stratum": "TRD, overall"}], parallel)
    assert got["arm"].tolist() == ["ketamine"] * 2 and set(got.get("stratum", pd.Series([""]))) == {""}
    with pytest.raises(InputError, match=r"row 1, column measure: randomized_fraction: scenario murrough2013 "
                                         r"randomizes nobody after an induction"):
        read_observed([{**row, "stratum": "", "measure": "randomized_fraction", "timepoint_h": "", "n": "50"}],
                      parallel)
    with pytest.raises(InputError, match=r"row 1, column arm: 'ketamine \[x\]' is not an arm of scenario murrough2013 "
                                         r"\(write arm ketamine; the scenario has no strata\)"):
        read_observed([{**row, "arm": "ketamine [x]", "stratum": ""}], parallel)
    sc = scenario_from_dict(_stratified())
    two = _rows()[:1] * 2
    with pytest.raises(InputError, match=r"row 2, column measure: a second row for arm esk \[stable remitters\], "
                                         r"relapse_rate"):
        read_observed(two, sc)
    # the same arm and measure in the two strata is not a second row; either arm names the share randomized, the
    # continue arm's row being the trial's
    share = [r for r in _rows() if r["measure"] == "randomized_fraction"]
    got = read_observed(share, sc)                  # written on pbo, read as the continue arm's
    assert got["arm"].tolist() == ["esk", "esk"]
    # the second row names arm esk, the first pbo: the line does not name an arm the user did not write (review L3)
    with pytest.raises(InputError, match=r"row 2, column measure: randomized_fraction is one share per stratum "
                                         r"\(either arm may name it\): a second row for stable remitters$"):
        read_observed([share[0], {**share[0], "arm": "esk"}], sc)


def test_the_unknown_measure_line_names_the_share_randomized_in_a_withdrawal_within_the_limit(capsys, tmp_path):
    from ketasim.errors import MAX_MESSAGE

    f = tmp_path / "sustain1_like_published_results.csv"
    f.write_text("scenario,arm,stratum,timepoint_h,measure,value,n\nsustain1-like-withdrawal,esketamine+AD,stable "
                 "remitters,,share_randomised,25,700\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "trial", ROOT / "examples" / "sustain1_like_withdrawal.yaml", "--observed", f)
    line = one_error_line(err)
    assert code == 2 and len(line) - len("error: ") <= MAX_MESSAGE and " ... " not in line
    assert line.endswith("; randomized_fraction, % of induction randomized)"), line
