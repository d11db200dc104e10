"""Prediction intervals for a NEW trial (issue 7): ``run_trial(..., uncertainty=N)`` / ``ketasim trial --uncertainty N``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ketasim import scenario_from_dict
from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.parameters import load_parameters
from ketasim.trial import run_trial

POP = {"size": 40, "condition": "depression", "treatment_resistant": True, "scale": "madrs",
       "baseline": {"mean": 33, "sd": 5}}
KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
SAL = {"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}
MEASURES = ["mean", "mean_change", "response_rate", "remission_rate", "cadss_peak", "nausea_rate"]


def _sc(design=None, **extra):
    d = {"name": "pi", "seed": 5, "population": dict(POP), "arms": {"ketamine": [KET], "saline": [SAL]},
         "endpoints": {"times": ["24 h", "7 d"], "measures": MEASURES}, **extra}
    if design:
        d["design"] = design
    return scenario_from_dict(d)


@pytest.fixture(scope="module")
def plain():
    return run_trial(_sc())


@pytest.fixture(scope="module")
def with_pi():
    return run_trial(_sc(), uncertainty=4, draw_seed=3)


def test_intervals_contain_prediction_and_are_wider_than_sampling_ci(plain, with_pi):
    """Every row's interval contains the prediction, and every row whose predicted value is not 0 has an interval
    wider than its sampling CI (was: at least 80 % of all rows). A rate predicted at exactly 0 (0 of 40) got [0, 0]
    until s31: no draw moves it, and the virtual trial's Monte Carlo term p (1 - p) / n vanished at p = 0, while the
    CI of 0 of 40 reaches 8.8 %; now Jeffreys' posterior of the count gives it a width and the interval contains
    the CI. Non-rate rows at 0 (no dissociation under saline: every patient 0) stay [0, 0]."""
    assert [r["value"] for r in with_pi.endpoints] == [r["value"] for r in plain.endpoints]   # same trial
    assert with_pi.comparisons == plain.comparisons                 # between-arm results unchanged
    not_zero = zero_rates = 0
    for r in with_pi.endpoints:
        lo, hi = r["pi95"]
        assert lo <= r["value"] <= hi, r
        if r["measure"].endswith("_rate"):
            assert 0.0 <= lo <= hi <= 100.0, r
        if r["measure"] == "mean_change":    # sampling error (twice) + parameter and trial-effect spread
            assert lo < r["ci95"][0] and hi > r["ci95"][1], r
        if r["value"] != 0.0:                # (mean changes are negative)
            not_zero += 1
            assert (hi - lo) > (r["ci95"][1] - r["ci95"][0]), r
        elif r["measure"].endswith("_rate"):
            zero_rates += 1
            assert hi > 0.0 and lo <= r["ci95"][0] and hi >= r["ci95"][1] > 0.0, r
    assert not_zero >= 0.75 * len(with_pi.endpoints)            # most rows are checked (15 of 20)
    assert zero_rates >= 1                                       # the case the Jeffreys term is for is here
    # the drug effect varies between draws: the active arm's 24 h response interval is far wider than its CI
    resp = next(r for r in with_pi.endpoints if r["arm"] == "ketamine" and r["measure"] == "response_rate"
                and r["time_h"] == 24.0)
    assert resp["pi95"][1] - resp["pi95"][0] > 1.3 * (resp["ci95"][1] - resp["ci95"][0])


def test_between_trial_widens_and_is_recorded(with_pi):
    # 30 draws: with fewer the sample covariance of parameter and trial-effect draws can hide the added variance
    # (with the 2026-11-30 evening parameter set, 12 draws gave 50.7 vs 52.1 points; 30: 53.3 vs 47.7; 60: 50.8 vs
    # 43.9)
    on = run_trial(_sc(), uncertainty=30, draw_seed=3)
    off = run_trial(_sc(), uncertainty=30, draw_seed=3, between_trial=False)
    u_on, u_off = on.uncertainty, off.uncertainty
    # some between-trial SD is non-zero (the drug's may be 0: DerSimonian-Laird over the two or three trials that
    # inform it, ketasim between-trial)
    assert u_on["between_trial"] and max(u_on["tau"].values()) > 0 and u_off["tau"] is None
    width = lambda tr: sum(r["pi95"][1] - r["pi95"][0] for r in tr.endpoints if r["measure"] == "mean_change")  # noqa: E731
    assert width(on) > width(off)


def test_deterministic_for_a_seed(with_pi):
    again = run_trial(_sc(), uncertainty=4, draw_seed=3)
    assert [r["pi95"] for r in again.endpoints] == [r["pi95"] for r in with_pi.endpoints]
    other = run_trial(_sc(), uncertainty=4, draw_seed=4)
    assert [r["pi95"] for r in other.endpoints] != [r["pi95"] for r in with_pi.endpoints]


def test_json_extends_the_contract(plain, with_pi):
    d, d0 = with_pi.to_dict(), plain.to_dict()
    assert "uncertainty" not in d0 and all("pi95" not in e for a in d0["arms"].values() for e in a["endpoints"])
    assert set(d) == set(d0) | {"uncertainty"}
    u = d["uncertainty"]
    assert u["parameter_draws"] == 4 and u["parameter_set"] == d["parameter_set"] and set(u["tau"]) == {"nonspecific", "drug"}
    for arm in d["arms"].values():
        for e in arm["endpoints"]:
            assert set(e) >= {"time_h", "scale", "measure", "value", "ci95", "pi95"} and len(e["pi95"]) == 2
    json.dumps(d, allow_nan=False)
    t = with_pi.table()
    assert {"ci_low", "ci_high", "pi_low", "pi_high"} <= set(t.columns)


def test_table_says_what_intervals_contain(with_pi, plain):
    text = with_pi.format_table()
    assert "95% prediction interval" in text and "NEW trial" in text and "4 posterior parameter draws" in text
    # where the draws came from: the shipped set stores 200 (`ketasim posterior-draws`)
    assert with_pi.to_dict()["uncertainty"]["draws_source"] == "picked from the 200 stored with the parameter set"
    assert "(picked from the 200 stored with the parameter set)" in text
    assert "between-trial heterogeneity" in text and "Between-arm comparisons: sampling error only" in text
    assert "95% prediction intervals:" not in plain.format_table() and "NEW trial" not in plain.format_table()


def test_bad_options_are_one_line_errors():
    for k in (-1, 1, 1001, 2.5):
        with pytest.raises(InputError, match="^uncertainty: "):        # the argument, not the CLI's --uncertainty
            run_trial(_sc(), uncertainty=k)
    p = dataclasses.replace(load_parameters(), posterior=None)
    with pytest.raises(InputError, match="ketasim calibrate"):
        run_trial(_sc(), params=p, uncertainty=3)
    # randomized withdrawal and open-label follow-up: tests/test_maintenance_uncertainty.py (whole-design draws)


def test_crossover_and_cli(tmp_path, capsys):
    tr = run_trial(_sc({"type": "crossover"}), uncertainty=3)
    assert all(r["pi95"][0] <= r["value"] <= r["pi95"][1] for r in tr.endpoints)
    import yaml

    sc = {"name": "cli-pi", "seed": 1, "population": {**POP, "size": 30}, "arms": {"ketamine": [KET], "saline": [SAL]},
          "endpoints": {"times": ["24 h"], "measures": ["mean_change", "response_rate"]}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sc))
    out = tmp_path / "t.json"
    html = tmp_path / "t.html"
    assert main(["trial", str(path), "--uncertainty", "3", "--json", str(out), "--report", str(html), "--no-progress"]) == 0
    assert "PI [" in html.read_text() and "NEW trial" in html.read_text()
    d = json.loads(out.read_text())
    assert d["uncertainty"]["parameter_draws"] == 3 and "pi95" in d["arms"]["saline"]["endpoints"][0]
    assert "95% prediction intervals" in capsys.readouterr().out
    assert main(["trial", str(path), "--uncertainty", "5000", "--no-progress"]) != 0
    assert "--uncertainty" in capsys.readouterr().err


def test_stored_taus_are_used_and_stale_ones_are_not(monkeypatch):
    from ketasim import calibration

    p = load_parameters()
    stored = {"tau": {"nonspecific": 0.2, "drug": 0.5}, "calibration_run": p.calibration_run}
    tau, src = calibration.trial_tau(dataclasses.replace(p, between_trial=stored))
    assert tau == {"nonspecific": 0.2, "drug": 0.5} and "stored" in src
    calls = []
    monkeypatch.setattr(calibration, "between_trial_tau",
                        lambda params, **kw: calls.append(kw) or {"tau": {"nonspecific": 0.1, "drug": 0.3}})
    notes = []
    stale = dataclasses.replace(p, between_trial={**stored, "calibration_run": "another run"})
    tau, src = calibration.trial_tau(stale, notes.append)
    assert tau == {"nonspecific": 0.1, "drug": 0.3} and calls and "estimated" in src and "ketasim between-trial" in notes[0]


def test_between_trial_command_stores_the_block(tmp_path, monkeypatch, capsys):
    from ketasim import calibration
    from ketasim.calibration import default_free_parameters_path

    path = tmp_path / "free.json"
    original = json.loads(Path(str(default_free_parameters_path())).read_text(encoding="utf-8"))
    original.pop("between_trial", None)
    path.write_text(json.dumps(original))
    monkeypatch.setattr(calibration, "between_trial_tau", lambda params, **kw: {
        "tau": {"nonspecific": 0.25, "drug": 0.75}, "method": "stub", "implied_placebo_response_logit_sd": float("nan"),
        "trials": [{"group": "g", "shift": {"nonspecific": 0.1, "drug": 0.0}, "se": {"nonspecific": 0.2, "drug": float("inf")},
                    "used": {"nonspecific": True, "drug": False}}]})
    assert main(["between-trial", str(path), "--size", "100"]) == 0
    d = json.loads(path.read_text())                     # strict JSON: the inf SE is null
    assert {k: v for k, v in d.items() if k != "between_trial"} == original
    bt = d["between_trial"]
    assert bt["tau"] == {"nonspecific": 0.25, "drug": 0.75} and bt["size"] == 100 and bt["trials"][0]["se"]["drug"] is None
    p = load_parameters(str(path))
    assert bt["calibration_run"] == p.calibration_run
    assert calibration.trial_tau(p) == ({"nonspecific": 0.25, "drug": 0.75}, "stored with the parameter set")
    assert main(["between-trial", str(tmp_path / "missing.json")]) != 0
    assert "no such parameter set file" in capsys.readouterr().err


def test_shipped_set_stores_its_taus():
    p = load_parameters()
    bt = p.between_trial
    assert bt and bt["calibration_run"] == p.calibration_run and all(v >= 0 for v in bt["tau"].values())
