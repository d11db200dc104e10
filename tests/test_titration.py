"""Response-guided (flexible) dosing: ``arms.NAME.titration`` (TRANSFORM-2/-3 style: start low, step up at set
sessions in patients not yet responding who tolerate the dose)."""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest

from ketasim import run_trial, simulate
from ketasim.errors import DoseWarning, InputError
from ketasim.scenario import scenario_from_dict

ESK = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "at": "0 d", "every": "3.5 d", "count": 6}
AD = {"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}
BASE = {"name": "flex", "seed": 5, "population": {"size": 40, "baseline": {"mean": 36, "sd": 5}},
        "arms": {"flex": {"doses": [ESK, AD],
                          "titration": {"doses": ["56 mg", "84 mg"], "sessions": [2, 3],
                                        "increase_if": {"score_reduction_below": 0.5}}}},
        "output": {"times": ["1 d", "7 d", "14 d", "21 d"]}}


def _scenario(**titration):
    d = copy.deepcopy(BASE)
    d["arms"]["flex"]["titration"].update(titration)
    return scenario_from_dict(d)


def _fixed(lines):
    d = copy.deepcopy(BASE)
    d["arms"]["flex"] = lines
    return scenario_from_dict(d)


def test_share_at_high_dose_falls_when_the_response_threshold_is_lowered():
    share = {}
    for thr in (0.2, 0.5, 0.8):
        r = simulate(_scenario(increase_if={"score_reduction_below": thr})).runs[0]
        share[thr] = float((r.dose_levels[:, -1] == 1).mean())
    assert share[0.2] < share[0.5] < share[0.8], share
    assert 0 < share[0.5] < 1


def test_patients_follow_their_own_path_and_match_the_fixed_regimen_they_received():
    flex = simulate(_scenario(increase_if={"score_reduction_below": 0.5}))
    run = flex.runs[0]
    low = simulate(_fixed([ESK, AD])).runs[0]
    high = simulate(_fixed([{**ESK, "count": 1}, {**ESK, "dose": "84 mg", "at": "3.5 d", "count": 5}, AD])).runs[0]
    stayed = run.dose_levels[:, -1] == 0
    up_first = run.dose_levels[:, 0] == 1
    assert stayed.any() and up_first.any()
    score, lo, hi = run.output("score"), low.output("score"), high.output("score")
    # same patients (same seed and stream): a patient's trajectory is the fixed regimen of its own path (the rule's
    # rating times add grid points, so equal to ~1e-4 of the range, not bit for bit)
    assert np.abs(score[stayed] - lo[stayed]).max() < 1e-3
    assert np.abs(score[up_first] - hi[up_first]).max() < 1e-3
    # the ones who stepped up were those not yet responding at the rating before session 2
    assert np.abs(lo[up_first, 0] - hi[up_first, 0]).max() < 1e-3     # 24 h: before any decision
    assert np.all(np.diff(run.dose_levels.astype(int), axis=1) >= 0)   # only increases without decrease_if
    paths = flex.dose_paths()
    assert set(paths.columns) >= {"arm", "subject", "session", "start_h", "dose"}
    assert len(paths) == run.patients.n * 3 and set(paths.dose) <= {"56 mg", "84 mg"}


def test_tolerability_criterion_blocks_the_step_and_decrease_wins():
    none = simulate(_scenario(increase_if={"score_reduction_below": 1.0, "cadss_peak_below": 1e-6})).runs[0]
    assert (none.dose_levels == 0).all()           # all CADSS peaks exceed 1e-6 (below 0 is refused): none steps up
    everyone = simulate(_scenario(increase_if={"score_reduction_below": 1.0})).runs[0]
    assert (everyone.dose_levels == 1).all()
    down = simulate(_scenario(increase_if={"score_reduction_below": 1.0},
                              decrease_if={"cadss_peak_above": 0.0})).runs[0]
    # up at session 2 (nothing to decrease from at the start dose), then down again at session 3
    assert (down.dose_levels[:, 0] == 1).all() and (down.dose_levels[:, 1] == 0).all()


def test_trial_reports_final_dose_shares_without_changing_other_rows():
    d = copy.deepcopy(BASE)
    d["endpoints"] = {"times": ["7 d", "21 d"]}
    sc = scenario_from_dict(d)
    tr = run_trial(sc, n=60)
    doc = json.loads(json.dumps(tr.to_dict()))
    rows = [r for r in doc["arms"]["flex"]["endpoints"] if r["measure"] == "final_dose_rate"]
    assert [r["dose_level"] for r in rows] == ["56 mg", "84 mg"]
    assert abs(sum(r["value"] for r in rows) - 100.0) < 1e-9
    assert all(r["scale"] == "dose" and r["time_h"] == 168.0 for r in rows)  # session 3: 7 d
    block = doc["arms"]["flex"]["titration"]
    assert block["final_dose_percent"] == {r["dose_level"]: r["value"] for r in rows}
    assert sum(p["n"] for p in block["paths"]) == 60
    assert "final dose 84 mg" in tr.format_table()
    # a chunked run gives the same per-patient paths
    tr2 = run_trial(sc, n=60, chunk=7)
    assert np.array_equal(tr.outcomes["flex"].dose_levels, tr2.outcomes["flex"].dose_levels)
    # a fixed arm has no such rows and no titration block
    fixed = copy.deepcopy(d)
    fixed["arms"]["flex"] = [ESK, AD]
    doc = run_trial(scenario_from_dict(fixed), n=20).to_dict()
    assert "titration" not in doc["arms"]["flex"]
    assert not [r for r in doc["arms"]["flex"]["endpoints"] if r["measure"] == "final_dose_rate"]


@pytest.mark.parametrize("patch, field", [
    ({"doses": [56, "84 mg"]}, "titration.doses[0]"),
    ({"doses": ["84 mg", "56 mg"]}, "titration.doses[1]"),
    ({"doses": ["28 mg", "84 mg"]}, "titration.doses"),
    ({"doses": ["56 mg", "1 mg/kg"]}, "titration.doses[1]"),
    ({"doses": ["56 mg", "2000 mg"]}, "titration.doses[1]"),
    ({"sessions": [1, 2]}, "titration.sessions[0]"),
    ({"sessions": [2, 7]}, "titration.sessions[1]"),
    ({"sessions": [3, 2]}, "titration.sessions[1]"),
    ({"sessions": "2"}, "titration.sessions"),
    ({"increase_if": {"madrs_below": 3}}, "titration.increase_if.madrs_below"),
    ({"increase_if": {"score_reduction_below": 50}}, "titration.increase_if.score_reduction_below"),
    ({"increase_if": {"cadss_peak_below": "high"}}, "titration.increase_if.cadss_peak_below"),
    ({"increase_if": {}}, "titration.increase_if"),
    ({"step": 1}, "titration.step"),
    ({"line": 1}, "titration.line"),
])
def test_bad_titration_is_one_line_naming_the_field(patch, field):
    with pytest.raises(InputError) as e:
        _scenario(**patch)
    msg = str(e.value)
    assert msg.startswith(f"arms.flex.{field}") and "\n" not in msg, msg


def test_anesthetic_level_warns_and_pk_is_refused():
    with pytest.warns(DoseWarning, match=r"titration\.doses\[2\]"):
        _scenario(doses=["56 mg", "84 mg", "300 mg"])
    d = copy.deepcopy(BASE)
    d["endpoints"] = {"times": ["1 d"], "measures": ["mean", "cmax"]}
    with pytest.raises(InputError, match="endpoints.measures"):
        scenario_from_dict(d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _scenario()                    # a subanesthetic rule does not warn
