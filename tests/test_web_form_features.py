"""The dashboard API's form features (no browser): several dose lines, infusion rates, comedications,
observed data, parameter overrides within their plausible range; and the trial bands' times near every dose."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("starlette")

from ketasim.web import api  # noqa: E402

LINE = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": 0.5, "dose_unit": "mg/kg/h", "duration_min": 60,
        "at": 2, "at_unit": "h", "count": 1, "every": "", "every_unit": "d"}


def _form(**changes):
    f = api.default_form()
    for k, v in changes.items():
        f[k] = v
    return f


def test_extra_dose_lines_and_rates_reach_the_scenario_and_errors_name_the_line():
    f = _form()
    f["regimens"][0]["lines"] = [dict(LINE)]
    b = api.build(f)
    doses = b.scenario.arms[0].doses
    assert len(doses) == 2 and doses[1].at_h == 2.0 and doses[1].amount == pytest.approx(0.5) and doses[1].per_kg
    assert b.mapping["arms"][b.scenario.arms[0].name][1]["dose"] == "0.5 mg/kg/h"
    f["regimens"][0]["lines"] = [dict(LINE, route="intranasal")]
    with pytest.raises(api.FormErrors) as ei:
        api.build(f)
    assert ei.value.errors[0]["field"] == "regimen.0.lines.0.dose"
    f["regimens"][0]["lines"] = [dict(LINE), dict(LINE, count=2, every="")]
    f["regimens"][0]["background_antidepressant"] = True
    with pytest.raises(api.FormErrors) as ei:
        api.build(f)
    assert ei.value.errors[0]["field"] == "regimen.0.lines.1.every"


def test_comedications_and_parameter_overrides():
    f = _form()
    f["patient"]["comedications"] = ["clarithromycin"]
    assert api.build(f).scenario.population.comedications == ("clarithromycin",)
    cat = {p["name"]: p for p in api.parameter_catalog()}
    # issue 7 PK: pk.racemic.* are gone (one disposition for S and R); the edit is now the S-ketamine clearance
    # (halving the arterial central volume moves the venous peak of a 40-min infusion by 2 % only)
    cl = cat["pk.s_ketamine.cl"]
    assert cl["min"] < cl["value"] < cl["max"] and "Otto_2021" in cl["source"]
    assert "Simons_2022" in cat["pk.ketamine.v2"]["source"]            # "same as pk.ketamine.v1" resolved
    assert not any(n.startswith("mw.") for n in cat)
    base = api.simulate_form(_form())
    half = api.simulate_form(_form(overrides={"pk.s_ketamine.cl": cl["value"] / 2}))
    assert half["key_numbers"][0]["peak_cp_ketamine_ng_ml"] > 1.2 * base["key_numbers"][0]["peak_cp_ketamine_ng_ml"]
    assert half["provenance"]["parameter_set"] != base["provenance"]["parameter_set"]
    assert half["provenance"]["overrides"] == {"pk.s_ketamine.cl": cl["value"] / 2}
    for bad, msg in (({"pk.s_ketamine.cl": 1000}, "outside the plausible range"), ({"nope": 1}, "no such parameter"),
                     ({"pk.s_ketamine.cl": "x"}, "not a number"), ({"mw.ketamine": 200}, "cannot be edited"),
                     ({"pk.s_ketamine.cl": cl["max"]}, "cannot run with these values")):   # CL > liver blood flow
        with pytest.raises(api.FormErrors) as ei:
            api.simulate_form(_form(overrides=bad))
        assert ei.value.errors[0]["field"] == "overrides" and msg in ei.value.errors[0]["message"], ei.value.errors


def test_observed_data_are_validated_and_overlaid():
    out = api.simulate_form(_form(observed={"csv": "time_h,score\n0,33\n24,20\n"}))
    obs = [t for t in out["figure"]["data"] if (t.get("meta") or {}).get("observed")]
    assert len(obs) == 1 and obs[0]["y"] == [33, 20]
    score_axes = next((t["xaxis"], t["yaxis"]) for t in out["figure"]["data"] if (t.get("meta") or {}).get("column") == "score")
    assert (obs[0]["xaxis"], obs[0]["yaxis"]) == score_axes
    for text, msg in (("t,score\n0,1\n", "time_h"), ("time_h,score,cadss\n0,1,2\n", "exactly one"),
                      ("time_h,score\n0,abc\n", "row 2"), ("time_h,score\n-1,3\n", ">= 0"),
                      ("time_h,score\n" + "1,1\n" * 6000, "more than"), ("x" * 300_000, "larger than")):
        with pytest.raises(api.FormErrors) as ei:
            api.simulate_form(_form(observed={"csv": text}))
        assert ei.value.errors[0]["field"] == "observed" and msg in ei.value.errors[0]["message"]


def test_phone_layout_has_one_figure_column():
    out = api.simulate_form(_form(columns=1))
    lay = out["figure"]["layout"]
    assert all(lay[k]["domain"] == [0.0, 1.0] for k in lay if k.startswith("xaxis"))
    assert lay["updatemenus"][0]["type"] == "dropdown"


def test_trial_bands_are_fine_near_every_dose():
    from ketasim.regimen import Dose
    from ketasim.trial import _band_times

    d = Dose.from_mapping({"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d", "count": 8})
    t = _band_times(28 * 24.0, d.administrations())
    assert np.all(np.isin(np.round([5 / 60, 10 / 60, 0.25], 9), np.round(t, 9)))    # no flat 0-15 min stretch
    for k in range(1, 8):
        s = k * 84.0
        near = t[(t >= s) & (t <= s + 5)]
        assert near.size >= 4 and np.any(np.abs(near - (s + 1 / 3)) < 1e-6)       # rise, ~Tmax peak, fall


def test_reports_say_discharge_criteria_met_throughout_not_after_0_min(tmp_path):
    from ketasim import scenario_from_dict, simulate
    from ketasim.report import simulation_report

    sc = scenario_from_dict({"name": "r", "arms": {"esk": [{"drug": "placebo", "route": "intranasal"}],
                                                   "ket": [{"drug": "ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                                            "duration": "40 min"}]},
                             "output": {"every": "1 h", "until": "2 d"}})
    res = simulate(sc, typical=True)
    ready = res.sessions().groupby("arm")["discharge_ready_h"].max()
    assert ready["esk"] == 0 and ready["ket"] > 0            # the premise: one arm never crosses the criteria
    text = simulation_report(res, res, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "criteria met throughout" in text
