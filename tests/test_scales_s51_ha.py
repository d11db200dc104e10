"""PCL-5, GAD-7, HADS-A, HADS-D and PHQ-9 (fifty-first session, helper HA): the self-report scales of PTSD,
anxiety and depression trials (and of real-world ketamine clinics) that the model could not express. Each scale's
range, remission threshold and condition are in population.SCALES with their sources; none had a sourced default
baseline (GAD-7 and PHQ-9 have one since the fifty-second session), so a scenario on one states population.baseline and is
refused in one line otherwise. The DSM-IV PCL
(17-85), the HADS total and the PHQ-8/-2 and GAD-2 are not aliased: the one-line error names the field and says
which instrument is meant. Each test fails on the code before the change (the scales were unknown)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from test_scales_and_quick_form import one_line

import ketasim
from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.population import (DEFAULT_BASELINE, SCALE_NAMES, SCALES, canonical_scale, default_baseline,
                                rating_sd_at)
from ketasim.scenario import scenario_from_dict

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
MID = {"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg", "duration": "40 min"}
#: key -> (name, max, remission threshold "score <= thr", condition, a trial-entry baseline used here (mean, sd))
NEW = {"pcl5": ("PCL-5", 80, 30, "ptsd", (50, 12)),
       "gad7": ("GAD-7", 21, 4, "anxiety", (15, 3)),
       "hads_a": ("HADS-A", 21, 7, "anxiety", (14, 3)),
       "hads_d": ("HADS-D", 21, 7, "depression", (13, 3)),
       "phq9": ("PHQ-9", 27, 4, "depression", (18, 4))}
#: the new scales still without a sourced default baseline (GAD-7's and PHQ-9's were sourced in the fifty-second
#: session, HC: tests/test_scales_s52_hc.py; HADS-A's and HADS-D's in the fifty-third, HC: tests/test_scales_s53_hc.py)
UNSOURCED = sorted(k for k in NEW if k not in ("gad7", "phq9", "hads_a", "hads_d"))




def scenario_yaml(tmp_path, scale: str, baseline=None, size: int = 40, name: str = "s.yaml") -> str:
    pop = f"{{size: {size}, scale: {scale}" + (f", baseline: {{mean: {baseline[0]}, sd: {baseline[1]}}}}}"
                                               if baseline else "}")
    text = (f"name: {scale}-trial\nseed: 4\npopulation: {pop}\n"
            "endpoints: {times: [24 h, 7 d], measures: [mean, mean_change, remission_rate]}\n"
            "arms:\n  ketamine: [{drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min}]\n"
            "  midazolam: [{drug: midazolam, route: iv-infusion, dose: 0.045 mg/kg, duration: 40 min}]\n")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---- the scale table ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", UNSOURCED)
def test_each_new_scale_has_its_sourced_range_threshold_condition_and_no_invented_baseline(key):
    name, smax, thr, cond, _ = NEW[key]
    assert SCALES[key] == (float(smax), float(thr), cond)
    assert SCALE_NAMES[key] == name and canonical_scale(name) == key
    assert key not in DEFAULT_BASELINE                      # no entry table with a mean and SD was found: none invented
    with pytest.raises(InputError, match=rf"^population\.baseline: {key} has no default baseline with a published "
                                         rf"source; state the population's baseline score \(points, 0-{smax}\)$"):
        default_baseline(key)


def test_the_existing_scales_are_unchanged():
    assert SCALES["iesr"] == (88.0, 32.0, "ptsd") and SCALES["lsas"] == (144.0, 30.0, "anxiety")
    assert SCALES["qids_sr16"] == (27.0, 5.0, "depression") and SCALES["bdi2"] == (63.0, 13.0, "depression")
    assert DEFAULT_BASELINE["qids_sr16"] == (15.5, 4.8) and "iesr" not in DEFAULT_BASELINE


@pytest.mark.parametrize("typed, key", [("PCL-5", "pcl5"), ("pcl 5", "pcl5"), ("PCL_DSM5", "pcl5"),
                                        ("GAD-7", "gad7"), ("gad 7", "gad7"), ("HADS-A", "hads_a"),
                                        ("hads anxiety", "hads_a"), ("HADS-D", "hads_d"),
                                        ("HADS depression", "hads_d"), ("PHQ-9", "phq9"), ("phq_9", "phq9")])
def test_the_names_trials_write_resolve_to_the_scale_and_its_condition(typed, key):
    sc = scenario_from_dict({"name": "s", "population": {"scale": typed, "baseline": {"mean": 10, "sd": 2}},
                             "arms": {"k": [KET]}})
    assert sc.population.scale == key and sc.population.condition == NEW[key][3]


@pytest.mark.parametrize("typed, says", [
    ("pcl", "the DSM-IV PTSD Checklist (PCL-C, PCL-M, PCL-S: 17 items, 17-85) is another instrument"),
    ("PCL-C", "the PCL-5 (20 items, 0-80) is pcl5"), ("PCL-M", "17-85"),
    ("HADS", "the HADS has two subscales, hads_a (anxiety, 0-21) and hads_d (depression, 0-21); name the one rated"),
    ("PHQ-8", "the PHQ-9 is phq9"), ("phq", "the PHQ-9 is phq9"), ("GAD-2", "the GAD-7 is gad7"),
    ("gad", "the GAD-7 is gad7")])
def test_ambiguous_or_other_instruments_are_refused_in_one_line_naming_the_field(typed, says):
    with pytest.raises(InputError) as e:
        scenario_from_dict({"name": "s", "population": {"scale": typed, "baseline": {"mean": 10, "sd": 2}},
                            "arms": {"k": [KET]}})
    msg = str(e.value)
    assert msg.startswith(f"population.scale: unknown scale {typed!r}: ") and says in msg and "\n" not in msg


def test_an_ambiguous_scale_in_a_scenario_file_and_the_quick_form_is_one_line_naming_the_field(tmp_path, capsys):
    one_line(capsys, main(["trial", scenario_yaml(tmp_path, "HADS", (12, 3))]), "population.scale",
             "hads_a (anxiety, 0-21) and hads_d")
    err = one_line(capsys, main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg",
                                 "--size", "5", "--scale", "pcl", "--baseline", "50"]), "--scale", "pcl5")
    assert "population." not in err


def test_a_scenario_without_a_baseline_is_refused_in_one_line(tmp_path, capsys):
    for key in UNSOURCED:
        with pytest.raises(InputError, match=rf"^population\.baseline: {key} has no default baseline"):
            scenario_from_dict({"name": "s", "population": {"scale": key}, "arms": {"k": [KET]}})
    one_line(capsys, main(["trial", scenario_yaml(tmp_path, "PCL-5")]),
             "population.baseline: pcl5 has no default baseline with a published source", "(points, 0-80)")
    err = one_line(capsys, main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg",
                                 "--size", "5", "--scale", "PCL-5"]), "--baseline:")
    assert "population." not in err


def test_a_baseline_outside_the_scale_is_refused_in_one_line():
    with pytest.raises(InputError, match=r"^population\.baseline: .*21.*gad7"):
        scenario_from_dict({"name": "s", "population": {"scale": "gad7", "baseline": {"mean": 25, "sd": 2}},
                            "arms": {"k": [KET]}})


# ---- end to end through the CLI ----------------------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(NEW))
def test_each_scale_runs_a_trial_and_a_simulation_through_the_cli_within_its_range(key, tmp_path, capsys):
    name, smax, thr, cond, base = NEW[key]
    scen = scenario_yaml(tmp_path, name, base)
    out = tmp_path / "t.json"
    assert main(["trial", scen, "--json", str(out)]) == 0, capsys.readouterr().err
    d = json.loads(out.read_text())
    ends = [e for v in d["arms"].values() for e in v["endpoints"]]
    assert ends and all(e["scale"] == key for e in ends)
    rows = {(a, e["time_h"], e["measure"]): e["value"] for a, v in d["arms"].items() for e in v["endpoints"]}
    for a in ("ketamine", "midazolam"):
        for t in (24.0, 168.0):
            assert 0 <= rows[(a, t, "mean")] <= smax and 0 <= rows[(a, t, "remission_rate")] <= 100
    assert rows[("ketamine", 24.0, "mean")] < base[0]                      # relief from the stated baseline
    assert rows[("ketamine", 24.0, "mean_change")] < rows[("midazolam", 24.0, "mean_change")]
    csv = tmp_path / "traj.csv"
    assert main(["simulate", scen, "--csv", str(csv)]) == 0, capsys.readouterr().err
    traj = pd.read_csv(csv)
    assert traj["score"].between(0, smax).all()
    at0 = traj.loc[traj["time_h"] == 0.0, "score"]
    assert abs(at0.mean() - base[0]) < 2 * base[1]                         # patients start at the stated baseline


@pytest.mark.parametrize("key", ["pcl5", "phq9"])
def test_the_quick_form_names_the_scale_in_its_summary(key, capsys):
    name, smax, thr, cond, base = NEW[key]
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--size", "10",
                 "--scale", name, "--baseline", str(base[0])]) == 0
    assert f"{name} from {float(base[0]):.1f}" in capsys.readouterr().out


# ---- the remission threshold ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(NEW))
def test_remission_uses_the_scales_threshold(key):
    """The default threshold is the scale's: stating it gives the same rate, a stricter one a lower rate and a
    laxer one a higher rate (the rate counts ratings <= the threshold)."""
    from ketasim.trial import run_trial

    name, smax, thr, cond, (m, sd) = NEW[key]
    # a baseline just above the threshold, so that a good share of patients crosses it by 24 h
    src = {"name": "s", "seed": 2, "population": {"size": 300, "scale": key, "baseline": {"mean": thr + 0.35 * smax,
                                                                                       "sd": 0.08 * smax}},
           "arms": {"k": [KET]}, "endpoints": {"times": ["24 h"], "measures": ["remission_rate"]}}

    def rate(threshold=None):
        s = json.loads(json.dumps(src))
        if threshold is not None:
            s["endpoints"]["remission_threshold"] = threshold
        d = run_trial(scenario_from_dict(s)).to_dict()
        return next(e["value"] for e in d["arms"]["k"]["endpoints"] if e["measure"] == "remission_rate")

    default = rate()
    assert 0 < default < 100
    assert rate(thr) == default
    assert rate(thr - 2) < default < rate(thr + 3)


# ---- the dashboard, the record, rater noise ----------------------------------------------------------------------
def test_web_meta_lists_the_new_scales_with_null_default_baselines():
    from ketasim.web.api import meta

    m = json.loads(json.dumps(meta()))
    for key, (name, smax, thr, cond, _) in NEW.items():
        s = m["scales"][key]
        default = DEFAULT_BASELINE[key][0] if key in DEFAULT_BASELINE else None     # gad7's since s52
        assert (s["name"], s["max"], s["remission"], s["default_baseline"]) == (name, smax, thr, default), key
        assert (default is None) == (key in UNSOURCED)


def test_a_record_on_a_new_scale_is_read_but_plan_says_in_one_line_it_cannot_fit_it(tmp_path, capsys):
    from ketasim.record import record_from_csv_text

    header = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
    text = header + ("1,0,0,,,,,,50,pcl5,80,45,F\n1,0.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,\n"
                     "1,24.5,0,,,,,,30,pcl5,,,\n")            # phq9 (s52), hads_a and hads_d (s53) have sourced defaults
    assert record_from_csv_text(text, source="r.csv").scale == "pcl5"
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    one_line(capsys, main(["plan", str(path)]), "PCL-5 (pcl5)")


def test_rater_noise_is_the_same_fraction_of_every_range():
    """rating_noise_sd x max: 1.26 points on a 0-21 scale, 1.62 on the PHQ-9, 4.8 on the PCL-5 (and 0.36 on the
    0-6 MADRS-SI): the rater's SD is a fixed share of the range on every scale."""
    from ketasim.parameters import load_parameters

    params = load_parameters()
    frac = params.free_value("rating_noise_sd")
    for key in NEW:
        smax = SCALES[key][0]
        assert rating_sd_at(params, smax) == pytest.approx(frac * smax)
    assert rating_sd_at(params, 21.0) == pytest.approx(1.26) and rating_sd_at(params, 80.0) == pytest.approx(4.8)
    assert np.isclose(rating_sd_at(params, 27.0), 1.62)


@pytest.mark.parametrize("key", ["pcl5"])           # hads_a has a sourced default since s53
def test_the_dashboard_runs_a_stated_baseline_and_asks_for_one_when_it_is_empty(key):
    import copy

    from ketasim.web import api

    name, smax, thr, cond, base = NEW[key]
    form = copy.deepcopy(api.default_form())
    form["patient"].update(scale=key, baseline=base[0], condition=None)
    assert api.simulate_form(form)                                      # no FormErrors
    form["patient"].update(baseline=None)
    with pytest.raises(api.FormErrors) as e:
        api.simulate_form(form)
    (err,) = e.value.errors
    assert err["field"] == "patient.baseline" and f"{key} has no default baseline" in err["message"]
    assert f"points, 0-{smax}" in err["message"]


def test_a_plan_target_on_the_new_scales_reads_its_name_and_default_threshold():
    from ketasim.personal import parse_target

    assert parse_target(None, "phq9").threshold == 4 and parse_target(None, "pcl5").threshold == 30
    assert parse_target("PHQ-9<=9", "phq9").threshold == 9
    assert parse_target("HADS-A <= 7", "hads_a").threshold == 7
    with pytest.raises(InputError, match=r"^target: the record's scale is phq9, not gad-7"):
        parse_target("GAD-7<=4", "phq9")


@pytest.mark.parametrize("key, expected_sd", [("madrs", 5.0), ("lsas", 25.6), ("hads_a", 4.0), ("PHQ-9", 4.6),
                                              ("hads_d", 4.5), ("pcl5", 80 * 5 / 60), ("iesr", 88 * 5 / 60)])
def test_a_dashboard_trial_spreads_the_baseline_by_the_scale_s_range(key, expected_sd):
    """A dashboard trial's baseline SD is the scale's sourced default SD, else MADRS's share of the range (5 of 60
    points): a fixed 5 points was 24 % of a 0-21 scale's range (lead, fifty-first session)."""
    from ketasim.web.api import population_mapping

    pop = population_mapping({"scale": key, "baseline": 14, "weight_kg": 70, "age_years": 40}, {"size": 50})
    assert pop["baseline"]["sd"] == pytest.approx(expected_sd)


@pytest.mark.parametrize("condition, expected_sd", [("ptsd", 10.0), ("anxiety", 5.0), ("suicidal_ideation", 6.0),
                                                    (None, 5.0)])
def test_a_dashboard_trial_without_a_scale_spreads_by_the_condition_s_scale(condition, expected_sd):
    """Review s51 L7: without a scale the SD was MADRS's whatever the condition (CAPS-5's sourced SD is 10)."""
    from ketasim.population import DEFAULT_BASELINE, DEFAULT_SCALE
    from ketasim.web.api import population_mapping

    assert expected_sd == DEFAULT_BASELINE[DEFAULT_SCALE[condition or "depression"]][1]
    pop = population_mapping({"condition": condition, "baseline": 30, "weight_kg": 70, "age_years": 40},
                              {"size": 50})
    assert pop["baseline"]["sd"] == pytest.approx(expected_sd)
