"""`ketasim trial SCENARIO --observed FILE.csv`: a published trial's rows beside the virtual trial's prediction with
95 % prediction intervals for the row's n (ketasim.observed), nothing fitted."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketasim import load_scenario, run_trial
from ketasim.cli import main
from ketasim.errors import InputError, ObservedWarning
from ketasim.observed import compare_observed, format_observed, observed_summary, read_observed
from ketasim.report import embedded_figures

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "observed"
SCENARIO = EXAMPLE / "murrough2013.yaml"
N = 60          # patients per virtual arm: small and fast


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SCENARIO)


@pytest.fixture(scope="module")
def trial(scenario):
    return run_trial(scenario, n=N, seed=5)


def _rows_from(tr, *, n=None, shift=0.0, rate_shift=0.0) -> pd.DataFrame:
    """Observed rows taken from a trial's own endpoint table (score measures, every arm and time)."""
    t = tr.table()
    out = []
    for r in t.to_dict("records"):
        rate = r["measure"].endswith("_rate")
        v = r["value"] + (rate_shift if rate else shift)
        if rate:
            v = min(max(v, 0.0), 100.0)
        out.append({"arm": r["arm"], "timepoint_h": r["time_h"], "measure": r["measure"], "value": round(v, 4),
                    **({"n": n} if n is not None else {})})
    return pd.DataFrame(out)


def test_values_from_the_model_itself_are_inside_with_zero_error(trial):
    obs = _rows_from(trial, n=N)
    df = compare_observed(trial, obs)
    assert len(df) == len(obs) == 2 * 2 * 4          # arms x times x measures
    assert np.abs(df["error"]).max() < 1e-3
    assert df["inside"].all()
    assert (df["pi_low"] <= df["predicted"]).all() and (df["predicted"] <= df["pi_high"]).all()
    s = observed_summary(df)
    assert s["share_inside"] == 1.0 and s["mae_points"] < 1e-3 and s["mae_percentage_points"] < 1e-3


def test_an_independent_virtual_trial_of_the_same_size_is_mostly_inside(scenario, trial):
    """Another seed is another trial of the same design: its rows fall inside the intervals for a trial of its n
    (not all need to, but intervals much too narrow would put many outside)."""
    other = run_trial(scenario, n=N, seed=99)
    df = compare_observed(trial, _rows_from(other, n=N))
    assert df["inside"].mean() >= 0.75
    assert np.abs(df["error"]).max() > 0          # really another trial


def test_mean_interval_follows_the_rows_n(trial):
    """For a mean: half-width 1.96 sqrt(s^2 / n + MC^2), s the arm's patient SD from its CI; a larger published
    trial gives a narrower interval, and at the virtual arm's size it is sqrt(2) times the trial's CI (t vs z)."""
    from scipy import stats

    base = _rows_from(trial)
    base = base[base["measure"] == "mean_change"]
    small = compare_observed(trial, base.assign(n=20))
    large = compare_observed(trial, base.assign(n=2000))
    same = compare_observed(trial, base.assign(n=N))
    assert ((small["pi_high"] - small["pi_low"]) > (large["pi_high"] - large["pi_low"])).all()
    t = trial.table().set_index(["arm", "time_h", "measure"])
    q = stats.t.ppf(0.975, N - 1)
    for r in same.to_dict("records"):
        ci = t.loc[(r["arm"], r["time_h"], "mean_change")]
        half_ci = (ci["ci_high"] - ci["ci_low"]) / 2
        assert (r["pi_high"] - r["pi_low"]) / 2 == pytest.approx(math.sqrt(2) * half_ci * 1.96 / q, rel=1e-9)


def test_shifted_observations_fall_outside(trial):
    from ketasim.errors import ObservedWarning

    # a change shifted from about -7 to +8 (outside) whose negative is inside reads as a decrease written positive
    with pytest.warns(ObservedWarning, match="a change is the score after minus before"):
        df = compare_observed(trial, _rows_from(trial, n=N, shift=15.0, rate_shift=45.0))
    scores = df[df["unit"] == "points"]
    assert not scores["inside"].any()
    assert np.allclose(scores["error"], -15.0, atol=1e-3)
    rates = df[df["unit"] == "percentage points"]
    assert (~rates["inside"]).sum() >= len(rates) - 2     # a rate already near 100 % cannot move 45 points
    assert observed_summary(df)["share_inside"] < 0.2


def test_n_defaults_to_the_virtual_arm_size_and_says_so(trial):
    df = compare_observed(trial, _rows_from(trial).head(2))
    assert (df["n"] == N).all() and df["n_from"].str.contains("arm size").all()
    assert "no n in the observed file" in format_observed(df)


def test_uncertainty_widens_the_intervals(scenario):
    plain = run_trial(scenario, n=40, seed=5)
    wide = run_trial(scenario, n=40, seed=5, uncertainty=4)
    obs = _rows_from(plain, n=50)
    a, b = compare_observed(plain, obs), compare_observed(wide, obs)
    assert np.allclose(a["predicted"], b["predicted"])          # same trial, same prediction
    wa, wb = a["pi_high"] - a["pi_low"], b["pi_high"] - b["pi_low"]
    assert (wb >= wa - 1e-9).all() and (wb > wa + 1e-6).sum() >= len(a) // 2
    assert (b["draws_sd"] > 0).any() and (a["draws_sd"] == 0).all()
    assert "posterior parameter draws" in b.attrs["interval"] and "NOT included" in a.attrs["interval"]


def test_the_example_file_is_valid_for_the_example_scenario(scenario):
    obs = read_observed(EXAMPLE / "murrough2013_observed.csv", scenario)
    assert len(obs) == 4 and set(obs["arm"]) == {"ketamine", "midazolam"}
    assert (obs["n_from"] == "observed file").all() and obs["citation"].str.contains("PMID 23982301").all()
    assert "calibration" in (EXAMPLE / "README.md").read_text(encoding="utf-8")


# ---- the command line: JSON, report, bad input --------------------------------------------------------------------
def _write(path: Path, rows: list[dict], columns=None) -> Path:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


GOOD = [{"arm": "ketamine", "timepoint_h": "24", "measure": "mean_change", "value": "-16.5", "n": "47",
         "spread": "9", "spread_kind": "SD", "trial_id": "t1", "citation": "a paper", "notes": "as stated"},
        {"arm": "midazolam", "timepoint_h": "24", "measure": "response_rate", "value": "28", "n": "",
         "spread": "", "spread_kind": "none", "trial_id": "t1", "citation": "a paper", "notes": ""}]


def test_cli_json_block_and_report(tmp_path, capsys):
    obs = _write(tmp_path / "obs.csv", GOOD)
    js, rep, plain = tmp_path / "t.json", tmp_path / "t.html", tmp_path / "plain.json"
    with warnings.catch_warnings():
        warnings.simplefilter("always", ObservedWarning)        # printed by the CLI as a 'warning: ...' line
        assert main(["trial", str(SCENARIO), "--size", "30", "--observed", str(obs), "--json", str(js),
                     "--report", str(rep), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert err.count("warning: --observed obs.csv names no scenario (no scenario column)") == 1
    assert "observed vs predicted" in out and "inside" in out and "nothing fitted" in out
    doc = json.loads(js.read_text(encoding="utf-8"))            # strict JSON (no NaN)
    block = doc["observed_comparison"]
    assert block["fitted"] is False and block["source"] == "obs.csv" and len(block["rows"]) == 2
    r0, r1 = block["rows"]
    assert r0["n"] == 47 and r0["n_from"] == "observed file" and r1["n"] == 30 and "arm size" in r1["n_from"]
    assert r0["pi95"][0] < r0["predicted"] < r0["pi95"][1]
    assert r0["observed_ci95"] == pytest.approx([-16.5 - 1.96 * 9 / math.sqrt(47), -16.5 + 1.96 * 9 / math.sqrt(47)])
    assert r0["citation"] == "a paper" and r0["spread_kind"] == "SD"
    assert set(block["summary"]) >= {"rows", "inside", "share_inside", "mae_points", "mae_percentage_points"}
    assert block["summary"]["mae_points"] == pytest.approx(abs(r0["error"]))
    # an extension: the rest of the file is the trial JSON without --observed
    assert main(["trial", str(SCENARIO), "--size", "30", "--json", str(plain), "--no-progress"]) == 0
    doc.pop("observed_comparison")
    assert doc == json.loads(plain.read_text(encoding="utf-8"))
    html = rep.read_text(encoding="utf-8")
    assert "Observed vs predicted" in html and 'data-figure="observed"' in html
    # the figures are embedded packed (report.embedded_figures reads them back)
    figures = embedded_figures(html)
    assert any(t.get("name") == "observed (95% CI)" for f in figures.values() for t in f["data"])


def _bad(**change):
    rows = [dict(r) for r in GOOD]
    rows[1].update(change)
    return rows


BAD = {
    "arm": (_bad(arm="ketamin"), "column arm", "ketamine, midazolam"),
    "time not an endpoint": (_bad(timepoint_h="48"), "column timepoint_h", "24, 168"),
    "time missing": (_bad(timepoint_h=""), "column timepoint_h", "needs a time"),
    "time for a timeless measure": (_bad(measure="cadss_peak", value="20"), "column measure", "endpoints.measures"),
    "unknown measure": (_bad(measure="odds_ratio"), "column measure", "mean_change"),
    "PK measure": (_bad(measure="cmax"), "column measure", "PK"),
    "value not a number": (_bad(value="about 30"), "column value", "not a number"),
    "value empty": (_bad(value=""), "column value", "empty"),
    "rate above 100": (_bad(value="130"), "column value", "percentage"),
    "n not a count": (_bad(n="25 (per df)"), "column n", "whole number"),
    "n zero": (_bad(n="0"), "column n", "whole number"),
    "spread kind": (_bad(spread="3", spread_kind="IQR"), "column spread_kind", "SD | SE | none"),
    "spread without kind": (_bad(spread="3", spread_kind=""), "column spread_kind", "SD or an SE"),
    "kind without spread": (_bad(spread_kind="SE"), "column spread", "no spread"),
    "scale": (_bad(scale="HAM-D17"), "column scale", "madrs"),
    "duplicate": (_bad(arm="ketamine", measure="mean_change", value="-10"), "column measure", "second row"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_each_bad_input_is_one_line_naming_row_and_column_with_nothing_written(case, tmp_path, capsys):
    rows, column, hint = BAD[case]
    obs = _write(tmp_path / "obs.csv", rows)
    js, rep = tmp_path / "t.json", tmp_path / "t.html"
    rc = main(["trial", str(SCENARIO), "--size", "20", "--observed", str(obs), "--json", str(js), "--report", str(rep),
               "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 2
    err = cap.err.strip()
    assert err.count("\n") == 0 and err.startswith("error: --observed obs.csv row 2 (line 3)"), err
    assert column in err and hint in err, err
    assert cap.out == "" and not js.exists() and not rep.exists()         # validated before the run


@pytest.mark.parametrize("content, hint", [("arm,timepoint_h,measure\nketamine,24,mean\n", "no column 'value'"),
                                           ("arm,timepoint_h,measure,value\n", "no data rows")])
def test_file_level_errors_are_one_line(content, hint, tmp_path, capsys):
    obs = tmp_path / "obs.csv"
    obs.write_text(content, encoding="utf-8")
    js = tmp_path / "t.json"
    assert main(["trial", str(SCENARIO), "--size", "20", "--observed", str(obs), "--json", str(js)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and hint in err and not js.exists()


def test_timeless_measure_refuses_a_time(scenario):
    sc = scenario.replace(endpoints=scenario.endpoints.__class__(scenario.endpoints.times_h,
                                                                 ("mean_change", "cadss_peak")))
    with pytest.raises(InputError, match="row 1, column timepoint_h: cadss_peak has no time"):
        read_observed([{"arm": "ketamine", "timepoint_h": "24", "measure": "cadss_peak", "value": "20"}], sc)
    ok = read_observed([{"arm": "ketamine", "timepoint_h": "", "measure": "cadss_peak", "value": "20"}], sc)
    tr = run_trial(sc, n=30, seed=1)
    df = compare_observed(tr, ok)
    assert df.loc[0, "unit"] == "CADSS points" and df.loc[0, "pi_low"] >= 0.0


def test_a_relapse_rate_needs_its_own_n():
    """A relapse rate's denominator is who was followed (or randomized), not the arm's size: a row without ``n`` is
    refused in one line naming the row and the column; with ``n`` it is read (placeholder values, not data)."""
    sc = load_scenario(ROOT / "examples" / "open_label_follow_up.yaml")
    row = {"arm": "ketamine-6", "timepoint_h": "", "measure": "relapse_rate", "value": "50"}
    with pytest.raises(InputError, match=r"row 1, column n: a relapse rate needs n"):
        read_observed([row], sc)
    got = read_observed([dict(row, n="24")], sc)
    assert int(got["n"].iloc[0]) == 24 and got["measure"].iloc[0] == "relapse_rate"


def test_a_stratified_withdrawal_row_without_its_stratum_is_refused_before_the_trial_runs():
    """A stratified randomized withdrawal reports each stratum under its own arm name: a row that does not name its
    stratum is refused in one line when the file is read (placeholder values, not data); since s52 (HB) a row that
    names it is read (tests/test_stratified_observed_s52_hb.py)."""
    sc = load_scenario(ROOT / "examples" / "sustain1_like_withdrawal.yaml")
    row = {"arm": "esketamine+AD", "timepoint_h": "", "measure": "relapse_rate", "value": "30", "n": "90"}
    with pytest.raises(InputError, match=r"row 1, column stratum: empty: scenario sustain1-like-withdrawal randomizes "
                                         r"2 strata"):
        read_observed([row], sc)
    assert read_observed([{**row, "stratum": "stable remitters"}], sc)["stratum"].tolist() == ["stable remitters"]
