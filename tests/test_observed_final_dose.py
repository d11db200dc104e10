"""`trial --observed` for the share of a titrated arm's patients on each final dose (``final_dose_rate`` rows with a
``dose_level`` column; ketasim.observed), in the trial JSON, the report and ``qualify --external``; and the one-line
warning for arm names that differ only in letter case (ketasim.errors.ArmNameWarning)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketasim import load_scenario, run_trial
from ketasim.cli import main
from ketasim.errors import ArmNameWarning, InputError
from ketasim.observed import (compare_observed, dose_level_text, format_observed, observed_floors, observed_summary,
                              read_observed)
from ketasim.report import embedded_figures
from ketasim.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "transform2_flexible.yaml"
FLEX, PLACEBO = "esketamine-flexible+AD", "placebo+AD"
N = 40              # patients per virtual arm: small and fast


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SCENARIO)


@pytest.fixture(scope="module")
def trial(scenario):
    return run_trial(scenario, n=N, seed=3)


def _last_decision_h(scenario) -> float:
    arm = next(a for a in scenario.arms if a.name == FLEX)
    return float(arm.titration.session_times_h(arm)[-1])


def _dose_rows_of(tr) -> pd.DataFrame:
    t = tr.table()
    return t[t["measure"] == "final_dose_rate"]


def _observed_from(tr, *, n=None, time="") -> pd.DataFrame:
    """Observed rows taken from a trial's own final-dose rows and its day-28 mean changes."""
    t = tr.table()
    out = [{"arm": r["arm"], "timepoint_h": time, "measure": "final_dose_rate", "dose_level": r["dose_level"],
            "value": round(r["value"], 6), **({"n": n} if n else {})} for r in _dose_rows_of(tr).to_dict("records")]
    out += [{"arm": r["arm"], "timepoint_h": r["time_h"], "measure": "mean_change", "dose_level": "",
             "value": round(r["value"], 6), **({"n": n} if n else {})}
            for r in t[(t["measure"] == "mean_change") & (t["time_h"] == 672.0)].to_dict("records")]
    return pd.DataFrame(out)


def _one_line_error(scenario, rows: list[dict], columns=("arm", "timepoint_h", "measure", "dose_level", "value")):
    df = pd.DataFrame([dict(zip(columns, r)) for r in rows])
    with pytest.raises(InputError) as e:
        read_observed(df, scenario)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_final_dose_shares_from_the_model_itself_are_inside_with_zero_error(scenario, trial):
    obs = _observed_from(trial, n=N)
    assert set(obs.loc[obs["measure"] == "final_dose_rate", "dose_level"]) == {"56 mg", "84 mg"}
    df = compare_observed(trial, obs)
    assert len(df) == len(obs) == 4
    assert np.abs(df["error"]).max() < 1e-4
    assert df["inside"].all()
    dose = df[df["measure"] == "final_dose_rate"]
    assert (dose["unit"] == "percentage points").all()
    assert (dose["time_h"] == _last_decision_h(scenario)).all()      # empty time: the last decision session
    assert (dose["pi_low"] < dose["predicted"]).all() and (dose["predicted"] < dose["pi_high"]).all()
    assert (dose["pi_low"] >= 0).all() and (dose["pi_high"] <= 100).all()
    s = observed_summary(df)
    assert s["dose_rows"] == 2 and s["mae_dose_percentage_points"] < 1e-4
    assert s["rate_rows"] == 0 and s["mae_percentage_points"] is None       # dose shares are not outcome rates
    assert s["score_rows"] == 2
    assert np.isnan(observed_floors(df)["sampling_floor_percentage_points"])   # nor in the floors


def test_final_dose_interval_is_binomial_for_the_rows_n(trial):
    """A share of n patients: the interval narrows with a larger published trial, and a shifted share falls out."""
    obs = _observed_from(trial)
    dose = obs[obs["measure"] == "final_dose_rate"]
    small = compare_observed(trial, dose.assign(n=20))
    large = compare_observed(trial, dose.assign(n=2000))
    assert ((small["pi_high"] - small["pi_low"]) > (large["pi_high"] - large["pi_low"])).all()
    # sampling SD of a share of n patients: 100 sqrt(p (1 - p) / n)
    p = large["predicted"].to_numpy(float) / 100.0
    assert np.allclose(large["sampling_sd"], 100.0 * np.sqrt(p * (1 - p) / 2000))
    # the virtual trial's Monte Carlo error: Jeffreys' posterior SD of the count among the virtual arm's N
    a, b = p * N + 0.5, (1 - p) * N + 0.5
    assert np.allclose(large["mc_sd"], 100.0 * np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))
    far = dose.assign(n=2000, value=np.where(dose["value"] > 50, 100.0, 0.0))
    assert not compare_observed(trial, far)["inside"].any()


def test_dose_level_spellings_and_time(scenario, trial):
    t_last = _last_decision_h(scenario)
    share = float(_dose_rows_of(trial).set_index("dose_level").loc["84 mg", "value"])
    for text in ("84 mg", "84mg", "84 MG", " 84.0 Mg "):
        for time in ("", t_last):
            obs = read_observed(pd.DataFrame([{"arm": FLEX, "timepoint_h": time, "measure": "final_dose_rate",
                                               "dose_level": text, "value": 50}]), scenario)
            assert obs.loc[0, "dose_level"] == "84 mg" and obs.loc[0, "time_h"] == t_last
            assert compare_observed(trial, obs).loc[0, "predicted"] == pytest.approx(share)
    arm = next(a for a in scenario.arms if a.name == FLEX)
    assert dose_level_text("56mg", arm.titration) == "56 mg"
    assert dose_level_text("56 mg/kg", arm.titration) is None          # another unit
    assert dose_level_text("57 mg", arm.titration) is None


def test_per_kg_levels():
    sc = scenario_from_dict({
        "name": "iv-flex", "population": {"size": 10},
        "arms": {"ketamine-flex": {"doses": [{"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "at": "0 d",
                                              "duration": "40 min", "every": "3.5 d", "count": 4}],
                                   "titration": {"doses": ["0.5 mg/kg", "0.75 mg/kg"], "sessions": [2, 3],
                                                 "increase_if": {"score_reduction_below": 0.5}}}},
        "endpoints": {"times": ["14 d"], "measures": ["mean_change"]}})
    obs = read_observed([{"arm": "ketamine-flex", "timepoint_h": "", "measure": "final_dose_rate",
                          "dose_level": "0.750MG/KG", "value": 40}], sc)
    assert obs.loc[0, "dose_level"] == "0.75 mg/kg"
    msg = _one_line_error(sc, [("ketamine-flex", "", "final_dose_rate", "0.75 mg", 40)])
    assert "column dose_level" in msg and "0.5 mg/kg, 0.75 mg/kg" in msg


def test_bad_final_dose_rows_are_refused_in_one_line(scenario):
    t_last = _last_decision_h(scenario)
    msg = _one_line_error(scenario, [(FLEX, "", "final_dose_rate", "112 mg", 30)])
    assert "column dose_level" in msg and "'112 mg' is not a dose level" in msg and "56 mg, 84 mg" in msg
    msg = _one_line_error(scenario, [(FLEX, "", "final_dose_rate", "84", 30)])
    assert "column dose_level" in msg and "give the unit" in msg
    msg = _one_line_error(scenario, [(PLACEBO, "", "final_dose_rate", "84 mg", 30)])
    assert "column dose_level" in msg and f"arm {PLACEBO} has fixed doses" in msg and FLEX in msg
    msg = _one_line_error(scenario, [(FLEX, "", "final_dose_rate", "", 30)])
    assert "column dose_level" in msg and "needs the dose level" in msg and "56 mg, 84 mg" in msg
    msg = _one_line_error(scenario, [(FLEX, "", "final_dose_rate", 30)],
                          columns=("arm", "timepoint_h", "measure", "value"))
    assert "column dose_level" in msg and "add a dose_level column" in msg
    msg = _one_line_error(scenario, [(FLEX, "24", "final_dose_rate", "84 mg", 30)])
    assert "column timepoint_h" in msg and f"{t_last:g}" in msg
    msg = _one_line_error(scenario, [(FLEX, "672", "mean_change", "84 mg", -20)])
    assert "column dose_level" in msg and "final_dose_rate row only" in msg
    msg = _one_line_error(scenario, [(FLEX, "", "final_dose_rate", "84 mg", 30),
                                     (FLEX, str(t_last), "final_dose_rate", "84MG", 31)])
    assert "row 2" in msg and "a second row" in msg and "84 mg" in msg
    msg = _one_line_error(scenario, [(FLEX, "", "final_dose_rate", "84 mg", 130)])
    assert "column value" in msg and "percentage" in msg


def test_cli_table_json_and_report(tmp_path, scenario, capsys):
    csv = tmp_path / "obs.csv"
    csv.write_text("scenario,arm,timepoint_h,measure,dose_level,value,n\n"     # tied to the scenario: no warning
                   f"transform2-flexible,{FLEX},,final_dose_rate,56 mg,33,114\n"
                   f",{FLEX},{_last_decision_h(scenario):g},final_dose_rate,84MG,67,114\n"
                   f",{PLACEBO},672,mean_change,,-17.0,100\n", encoding="utf-8")
    out_json, out_html = tmp_path / "t.json", tmp_path / "t.html"
    assert main(["trial", str(SCENARIO), "--size", "30", "--observed", str(csv), "--json", str(out_json),
                 "--report", str(out_html)]) == 0
    printed = capsys.readouterr().out
    assert "final dose 56 mg" in printed and "final dose 84 mg" in printed and "final-dose row(s)" in printed
    block = json.loads(out_json.read_text())["observed_comparison"]
    rows = block["rows"]
    assert [r.get("dose_level") for r in rows] == ["56 mg", "84 mg", None]
    assert "dose_level" not in rows[2]                       # other rows are written as before
    doc = json.loads(out_json.read_text())
    shares = {r["dose_level"]: r["value"] for r in doc["arms"][FLEX]["endpoints"] if r["measure"] == "final_dose_rate"}
    assert [r["predicted"] for r in rows[:2]] == [shares["56 mg"], shares["84 mg"]]
    assert block["summary"]["dose_rows"] == 2 and block["summary"]["rate_rows"] == 0
    page = out_html.read_text()
    assert "patients on 84 mg at the end (%)" in page
    fig = embedded_figures(page)["observed"]
    assert f"{FLEX}, 84 mg" in fig["layout"]["xaxis"]["ticktext"]
    assert len(fig["data"][0]["y"]) == 2                     # the two levels, predicted with their intervals


def test_observed_file_without_final_dose_rows_is_unchanged(trial):
    """A comparison with no final-dose row has no dose keys in its summary and its JSON rows no dose_level."""
    from ketasim.observed import observed_block

    obs = _observed_from(trial, n=N)
    df = compare_observed(trial, obs[obs["measure"] == "mean_change"])
    block = observed_block(df)
    assert "dose_rows" not in block["summary"] and all("dose_level" not in r for r in block["rows"])
    assert "final dose" not in format_observed(df)


def test_qualify_external_compares_final_dose_rows(tmp_path):
    from ketasim.external import external_document, qualify_external

    shutil.copy(SCENARIO, tmp_path / "flex.yaml")
    (tmp_path / "flex.csv").write_text("arm,timepoint_h,measure,dose_level,value,n\n"
                                       f"{FLEX},,final_dose_rate,56 MG,33,114\n"
                                       f"{FLEX},,final_dose_rate,84 mg,67,114\n"
                                       f"{PLACEBO},672,mean_change,,-17.0,100\n", encoding="utf-8")
    q = qualify_external(tmp_path, size=30, seed=4)
    assert not q.failed
    assert list(q.rows["dose_level"]) == ["56 mg", "84 mg", ""]
    s = q.summary()["by_trial"]["flex"]
    assert s["dose_rows"] == 2 and s["rate_rows"] == 0 and s["score_rows"] == 1
    rows = external_document(q)["rows"]
    assert [r.get("dose_level") for r in rows] == ["56 mg", "84 mg", None]
    assert all(lo <= p <= hi for (lo, hi), p in ((r["pi95"], r["predicted"]) for r in rows))


# ---- arm names that differ only in letter case ----------------------------------------------------------------------

def _two_arms(a: str, b: str) -> dict:
    line = [{"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "at": "0 h", "duration": "40 min"}]
    return {"name": "case", "population": {"size": 10}, "arms": {a: line, b: [dict(line[0], dose="0.2 mg/kg")]},
            "endpoints": {"times": ["24 h"], "measures": ["mean_change"]}}


def test_arm_names_differing_only_in_case_warn_but_load():
    with pytest.warns(ArmNameWarning, match=r"'ketamine-flex' and 'Ketamine-Flex' differ only in letter case"):
        sc = scenario_from_dict(_two_arms("ketamine-flex", "Ketamine-Flex"))
    assert [a.name for a in sc.arms] == ["ketamine-flex", "Ketamine-Flex"]      # valid: two arms
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scenario_from_dict(_two_arms("ketamine-flex", "ketamine-fixed"))        # distinct names: no warning


def test_an_invalid_scenario_with_such_names_gives_only_its_error():
    data = _two_arms("ketamine-flex", "Ketamine-Flex")
    data["arms"]["Ketamine-Flex"][0]["duration"] = "0 min"
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # the warning would be raised here, before the error
        with pytest.raises(InputError, match="duration"):
            scenario_from_dict(data)


def test_cli_prints_the_warning_in_one_line(tmp_path, capsys):
    import yaml

    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(_two_arms("ketamine-flex", "Ketamine-Flex"), sort_keys=False), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("default", ArmNameWarning)        # shown, as outside pytest
        assert main(["trial", str(path), "--size", "10"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: arms: 'ketamine-flex' and 'Ketamine-Flex'")


def test_uncertainty_draws_widen_the_final_dose_interval(scenario, trial):
    """With --uncertainty the share's interval adds the draws' variance of that level's row (keyed by its level)."""
    wide = run_trial(scenario, n=N, seed=3, uncertainty=4)
    obs = _observed_from(trial, n=N)
    dose = obs[obs["measure"] == "final_dose_rate"]
    plain, drawn = compare_observed(trial, dose), compare_observed(wide, dose)
    assert (plain["draws_sd"] == 0).all() and (drawn["draws_sd"] > 0).all()
    assert np.allclose(plain["predicted"], drawn["predicted"])             # the same central trial
    assert ((drawn["pi_high"] - drawn["pi_low"]) >= (plain["pi_high"] - plain["pi_low"])).all()
