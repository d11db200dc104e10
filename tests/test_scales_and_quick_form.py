"""Rating scales of published trials (HDRS-21/24, MADRS-SI, BSSI alias, MSSI, IES-R) and new-user fixes of the quick
form and the scenario reader (2026-12-01 helper): each test fails on the code before the change."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ketasim
from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.population import (CONDITIONS, DEFAULT_BASELINE, SCALE_NAMES, SCALES, canonical_scale, scale_reads)
from ketasim.scenario import quick_scenario, scenario_from_dict

ESK = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}
KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
MID = {"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg", "duration": "40 min"}


def one_line(capsys, code, *fragments, status=2):
    err = capsys.readouterr().err
    assert code == status and err.count("\n") == 1 and err.startswith("error: "), (code, err)
    for f in fragments:
        assert f in err, (f, err)
    assert "Traceback" not in err
    return err


# ---- the scale table ---------------------------------------------------------------------------------------------
def test_every_scale_has_a_range_a_condition_a_name_and_a_sane_default():
    new = {"hamd21": (63, "depression"), "hamd24": (75, "depression"), "madrs_si": (6, "suicidal_ideation"),
           "mssi": (54, "suicidal_ideation"), "iesr": (88, "ptsd")}
    for k, (smax, cond) in new.items():
        assert SCALES[k][0] == smax and SCALES[k][2] == cond, k
    for k, (smax, thr, cond) in SCALES.items():
        assert cond in CONDITIONS and k in SCALE_NAMES
        assert thr is None or 0 <= thr < smax
        if k in DEFAULT_BASELINE:
            m, sd = DEFAULT_BASELINE[k]
            assert 0 < m <= smax and 0 <= sd < smax
    # existing entries unchanged (the contract's five scales)
    assert SCALES["madrs"] == (60.0, 10.0, "depression") and SCALES["ssi"] == (38.0, 2.0, "suicidal_ideation")
    assert DEFAULT_BASELINE["caps5"] == (45.0, 10.0)
    assert SCALES["mssi"][1] is None                    # no published remission threshold: none invented


@pytest.mark.parametrize("typed, key", [("HAM-D24", "hamd24"), ("hdrs-21", "hamd21"), ("HDRS21", "hamd21"),
                                        ("MADRS-SI", "madrs_si"), ("IES-R", "iesr"), ("BSSI", "ssi"),
                                        ("Beck-SSI", "ssi"), ("CAPS-5", "caps5"), ("ham-a", "hama"), ("madrs", "madrs")])
def test_scale_aliases_name_the_canonical_scale(typed, key):
    assert canonical_scale(typed) == key
    sc = scenario_from_dict({"name": "s", "population": {"scale": typed, "baseline": {"mean": 3, "sd": 0}},
                             "arms": {"k": [ESK]}})
    assert sc.population.scale == key and sc.population.condition == SCALES[key][2]


@pytest.mark.parametrize("typed", ["caps", "ies", "hdrs", "bsi", "pcl"])   # phq9 is a scale since s51 (HA)
def test_other_instruments_are_not_silently_aliased(typed):
    with pytest.raises(InputError, match=r"^population\.scale: unknown scale"):
        scenario_from_dict({"name": "s", "population": {"scale": typed}, "arms": {"k": [ESK]}})


def test_a_scale_changes_the_range_not_the_dynamics():
    """score = relief x baseline: the same condition and baseline on two depression scales give the same score."""
    out = []
    for scale in ("madrs", "hamd24", "hamd21"):
        sc = scenario_from_dict({"name": "s", "population": {"scale": scale, "baseline": {"mean": 30, "sd": 0}},
                                 "arms": {"k": [KET]}})
        out.append(ketasim.simulate(sc, typical=True, output_times_h=np.array([0, 2, 24, 168.0]))
                   .trajectories()["score"].to_numpy())
    assert out[0][2] < 30 and np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])


def test_existing_scenarios_give_the_numbers_they_gave_before_the_new_scales():
    """Golden values from main 13b8052 (before this change), same seed and size. With population.recurrence off
    (issue 7: the recurrence of an episode on continued treatment, added later, moves feder2021's ketamine mean change
    at 14 d by 0.05 points, one of 40 patients; off, the model is the one these values came from, bit for bit), and
    with the CRP distribution these values came from (1.8 mg/L, GSD 2.6; Osimo 2019's replaced it later and moves
    feder2021's ketamine mean change by 0.1 points). With the parameter set these values came from
    (tests/data/free_parameters_golden.json, the shipped set until the eighth session of 2026-12-01): a regression
    check of the model code, which a new calibration must not move."""
    from pathlib import Path
    import dataclasses

    from ketasim.calibration import SCENARIOS
    from ketasim.parameters import load_parameters
    from ketasim.scenario import load_scenario
    from ketasim.trial import run_trial

    # thirty-seventh session: the deep compartment no longer drains the first hours (benchmarks/fit_pk_deep.py; the
    # effect site's peak +14-17 %, the side-effect EC50s re-anchored): only the drug arms move (feder2021 ketamine
    # -24.575 -> -24.2; canuso2018 ESK+SOC -23.6 -> -23.85, remission 52.5 -> 55.0: one patient of 40)
    want = {"feder2021.yaml": {"ketamine": [(336.0, "mean_change", -24.2), (336.0, "response_rate", 72.5)],
                               "midazolam": [(336.0, "mean_change", -17.775), (336.0, "response_rate", 60.0)]},
            # thirty-third session: the bioavailability effect of a swallowed dose moved to the first pass (it was
            # censored at eta_f ~ +0.2 by a cap on the gut depot): through the swallowed part of the nasal doses one
            # esketamine patient of 40 moves by one rating point and into remission (-23.575 -> -23.6, 50.0 -> 52.5)
            "canuso2018.yaml": {"ESK+SOC": [(4.0, "mean_change", -23.85), (4.0, "response_rate", 62.5),
                                            (4.0, "remission_rate", 55.0)],
                                "PBO+SOC": [(4.0, "mean_change", -18.525), (4.0, "response_rate", 52.5),
                                            (4.0, "remission_rate", 40.0)]}}
    for f, arms in want.items():
        sc = load_scenario(SCENARIOS / f)
        # without the releasable BDNF pool (on by default since the twenty-ninth session; the golden set has no pool)
        sc = dataclasses.replace(sc, population=dataclasses.replace(sc.population, recurrence=False,
                                                                    bdnf_release_pool=False))
        golden = str(Path(__file__).parent / "data" / "free_parameters_golden.json")
        # and without the absorption rates' between-patient variability (thirty-second session) or the sedation
        # EC50's (thirty-ninth: through the perceptible sedation's expectancy feder's ketamine arm moved -24.2 -> -24.25)
        # and with the CRP moderation of the drug effect these values came from (0.6; none since the forty-fourth)
        old_crp = load_parameters(golden).with_literature({"pop.crp_median": 1.8, "pop.crp_gsd": 2.6,
                                                           "iiv.ka_intranasal_cv": 0.0, "iiv.ka_oral_cv": 0.0,
                                                           "iiv.sedation_ec50_cv": 0.0, "pd.crp.moderation": 0.6})
        d = run_trial(sc, old_crp, n=40, seed=5).to_dict()
        for arm, rows in arms.items():
            got = [(e["time_h"], e["measure"], e["value"]) for e in d["arms"][arm]["endpoints"]
                   if e.get("time_h") is not None][:len(rows)]
            assert [g[:2] for g in got] == [r[:2] for r in rows], (f, arm)
            assert [g[2] for g in got] == pytest.approx([r[2] for r in rows], abs=1e-9), (f, arm)


# ---- IES-R, MADRS-SI, MSSI end to end ------------------------------------------------------------------------------
def iesr_trial(**endpoints):
    return scenario_from_dict({
        "name": "feder-like", "seed": 3,
        "population": {"size": 150, "scale": "IES-R", "baseline": {"mean": 50, "sd": 12}},
        "arms": {"ketamine": [KET], "midazolam": [MID]},
        "endpoints": {"times": ["24 h", "7 d"], "measures": ["mean", "remission_rate"], **endpoints}})


def test_an_iesr_trial_simulates_ptsd_within_0_88_and_applies_the_remission_threshold(tmp_path):
    from ketasim.trial import run_trial

    sc = iesr_trial()
    assert sc.population.scale == "iesr" and sc.population.condition == "ptsd"
    d = run_trial(sc).to_dict()
    rows = {(a, e["time_h"], e["measure"]): e["value"] for a, v in d["arms"].items() for e in v["endpoints"]}
    assert all(e["scale"] == "iesr" for v in d["arms"].values() for e in v["endpoints"])
    assert all(0 <= rows[(a, t, "mean")] <= 88 for a in ("ketamine", "midazolam") for t in (24.0, 168.0))
    assert rows[("ketamine", 24.0, "mean")] < 50            # relief from the baseline
    # the default threshold is the IES-R's (<= 32): the same as stating 32, more than stating 20
    same = run_trial(iesr_trial(remission_threshold=32)).to_dict()
    strict = run_trial(iesr_trial(remission_threshold=20)).to_dict()
    for a in ("ketamine", "midazolam"):
        r = rows[(a, 24.0, "remission_rate")]
        assert r == next(e["value"] for e in same["arms"][a]["endpoints"]
                         if e["measure"] == "remission_rate" and e["time_h"] == 24.0)
        assert r > next(e["value"] for e in strict["arms"][a]["endpoints"]
                        if e["measure"] == "remission_rate" and e["time_h"] == 24.0)
    # trajectories: every score on the scale
    traj = ketasim.simulate(scenario_from_dict({**sc.source, "population": {**sc.source["population"], "size": 60}}),
                            output_times_h=np.array([0, 4, 24, 72, 168.0])).trajectories()
    assert traj["score"].between(0, 88).all() and traj["score"].max() > 60


def test_madrs_si_has_a_sourced_default_baseline_and_stays_within_0_6():
    sc = scenario_from_dict({"name": "si", "population": {"size": 80, "scale": "madrs-si"}, "arms": {"k": [KET]}})
    assert sc.population.condition == "suicidal_ideation" and sc.population.baseline.mean == 4.2
    from ketasim.trial import run_trial

    d = run_trial(sc.replace(endpoints=scenario_from_dict({**sc.source, "endpoints": {"times": ["24 h"]}}).endpoints)
                  ).to_dict()
    vals = {e["measure"]: e["value"] for e in d["arms"]["k"]["endpoints"]}
    assert 0 <= vals["mean"] <= 6 and 0 <= vals["remission_rate"] <= 100


def test_mssi_needs_a_stated_baseline_and_remission_threshold():
    base = {"name": "m", "population": {"scale": "mssi"}, "arms": {"k": [KET]}}
    with pytest.raises(InputError, match=r"^population\.baseline: mssi has no default baseline"):
        scenario_from_dict(base)
    base["population"]["baseline"] = {"mean": 20, "sd": 5}
    with pytest.raises(InputError, match=r"^endpoints\.remission_threshold: mssi has no published remission"):
        scenario_from_dict({**base, "endpoints": {"times": ["24 h"]}})          # default measures include it
    ok = scenario_from_dict({**base, "endpoints": {"times": ["24 h"], "remission_threshold": 4}})
    assert ok.endpoints.remission_threshold == 4
    assert scenario_from_dict({**base, "endpoints": {"times": ["24 h"], "measures": ["mean"]}}).endpoints


def test_scale_reads_allows_depression_scales_in_suicidal_patients_only():
    assert scale_reads("madrs", "suicidal_ideation") and scale_reads("iesr", "ptsd")
    assert not scale_reads("madrs", "ptsd") and not scale_reads("iesr", "depression")


# ---- the quick form ------------------------------------------------------------------------------------------------
QUICK = ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg"]


def test_quick_form_condition_option(capsys):
    assert quick_scenario("esketamine", "intranasal", "56 mg", condition="ptsd").population.scale == "caps5"
    one_line(capsys, main(QUICK + ["--condition", "bogus"]), "--condition: unknown condition 'bogus'")
    one_line(capsys, main(QUICK + ["--condition", "ptsd", "--scale", "madrs"]), "--condition: ptsd contradicts --scale madrs")
    one_line(capsys, main(QUICK + ["--condition", "anxiety", "--scale", "IES-R", "--baseline", "40"]),
             "--condition", "contradicts --scale iesr")
    assert main(QUICK + ["--condition", "suicidal_ideation", "--scale", "madrs"]) == 0
    out = capsys.readouterr().out
    assert "MADRS from 33.0" in out
    assert main(QUICK + ["--condition", "ptsd"]) == 0 and "CAPS-5 from 45.0" in capsys.readouterr().out
    assert main(QUICK + ["--scale", "HAM-D24", "--baseline", "30"]) == 0 and "HAM-D24 from 30.0" in capsys.readouterr().out


@pytest.mark.parametrize("extra, flag", [(["--age", "7"], "--age:"), (["--weight", "10"], "--weight:"),
                                         (["--baseline", "90"], "--baseline:"), (["--scale", "iesr"], "--baseline:"),
                                         (["--scale", "hamd99"], "--scale:"), (["--count", "0", "--every", "1d"], "--count:"),
                                         (["--size", "0"], "--size:")])
def test_quick_form_errors_name_the_flag_not_the_yaml_path(capsys, extra, flag):
    err = one_line(capsys, main(QUICK + extra), flag)
    assert "population." not in err and "arms." not in err


def test_quick_form_dose_errors_name_the_dose_flag(capsys):
    err = one_line(capsys, main(QUICK[:-2] + ["--dose", "0.5"]), "--dose: the unit is missing")
    assert "arms." not in err
    err = one_line(capsys, main(QUICK[:-2] + ["--dose", "99mg/kg"]), "--dose:")


# ---- the scenario reader and the CLI -------------------------------------------------------------------------------
def test_an_empty_measures_list_is_refused_not_replaced_by_the_defaults():
    with pytest.raises(InputError, match=r"^endpoints\.measures: the list is empty"):
        scenario_from_dict({"name": "e", "arms": {"k": [KET]}, "endpoints": {"times": ["24 h"], "measures": []}})


def test_a_crossover_with_one_arm_is_refused(tmp_path, capsys):
    with pytest.raises(InputError, match=r"^design\.type: a crossover .* at least two arms; got 1"):
        scenario_from_dict({"name": "c", "arms": {"k": [KET]}, "design": {"type": "crossover"},
                            "endpoints": {"times": ["24 h"]}})
    f = tmp_path / "c.yaml"
    f.write_text("name: c\ndesign: {type: crossover}\nendpoints: {times: [24 h]}\narms:\n"
                 "  k: [{drug: ketamine, route: iv, dose: 0.5 mg/kg, duration: 40 min}]\n", encoding="utf-8")
    one_line(capsys, main(["trial", str(f)]), "design.type")
    two = scenario_from_dict({"name": "c", "arms": {"k": [KET], "m": [MID]}, "design": {"type": "crossover"},
                              "endpoints": {"times": ["24 h"]}})
    assert len(two.arms) == 2


@pytest.mark.parametrize("command", [["simulate", "{scen}", "--csv", "{out}"], ["trial", "{scen}", "--json", "{out}"],
                                     ["sensitivity", "{scen}", "--endpoint", "mean@24h", "--json", "{out}"]])
def test_a_missing_output_folder_is_an_input_error_exit_2_and_nothing_is_written(tmp_path, capsys, command):
    scen = tmp_path / "t.yaml"
    scen.write_text("name: t\npopulation: {size: 3}\nendpoints: {times: [24 h]}\narms:\n"
                    "  k: [{drug: ketamine, route: iv, dose: 0.5 mg/kg, duration: 40 min}]\n", encoding="utf-8")
    out = tmp_path / "nodir" / "x.out"
    code = main([a.format(scen=scen, out=out) for a in command])
    one_line(capsys, code, f"error: {command[-2]}: {out}: the folder", "does not exist")     # s42: the option too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.yaml"]


def test_a_failed_write_still_exits_1(tmp_path, monkeypatch, capsys):
    """Exit 1 stays for files that cannot be written once the run is done (disk full, permission)."""
    import errno

    from ketasim import io as kio

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    scen = tmp_path / "t.yaml"
    scen.write_text("name: t\npopulation: {size: 3}\nendpoints: {times: [24 h]}\narms:\n"
                    "  k: [{drug: ketamine, route: iv, dose: 0.5 mg/kg, duration: 40 min}]\n", encoding="utf-8")
    monkeypatch.setattr(kio.os, "replace", full)
    code = main(["trial", str(scen), "--json", str(tmp_path / "x.json")])
    one_line(capsys, code, "cannot write", status=1)
    assert not (tmp_path / "x.json").exists()


def test_web_meta_lists_the_new_scales_with_names_and_null_where_unsourced():
    from ketasim.web.api import meta

    m = json.loads(json.dumps(meta()))
    assert m["scales"]["iesr"]["name"] == "IES-R" and m["scales"]["iesr"]["max"] == 88
    assert m["scales"]["mssi"]["remission"] is None and m["scales"]["iesr"]["default_baseline"] is None
    assert m["scales"]["hamd21"]["default_baseline"] == 24.1         # sourced (forty-second session)
    assert m["scales"]["madrs"]["default_baseline"] == 33.0


@pytest.mark.parametrize("typed, key, smax, thr, cond", [("LSAS", "lsas", 144, 30, "anxiety"),
                                                        ("QIDS-SR16", "qids_sr16", 27, 5, "depression"),
                                                        ("BDI-II", "bdi2", 63, 13, "depression")])
def test_lsas_qids_and_bdi2_read_their_condition_need_a_baseline_and_apply_their_threshold(typed, key, smax, thr, cond):
    """Scales of anxiety / self-rated depression trials: range, condition and remission threshold from their
    sources (population.SCALES); a default baseline only where one was sourced (QIDS-SR16, BDI-II since the
    forty-second session, LSAS since the forty-third: tests/test_scale_baselines_s42.py, _s43_lsas.py)."""
    from ketasim.trial import run_trial

    assert SCALES[key] == (float(smax), float(thr), cond) and key in DEFAULT_BASELINE
    base = 0.6 * smax
    sc = scenario_from_dict({"name": "s", "seed": 2, "population": {"size": 300, "scale": typed,
                                                                  "baseline": {"mean": base, "sd": 0.1 * smax}},
                             "arms": {"k": [KET]}, "endpoints": {"times": ["24 h"], "measures": ["mean", "remission_rate"]}})
    assert sc.population.scale == key and sc.population.condition == cond
    d = run_trial(sc).to_dict()
    vals = {e["measure"]: e["value"] for e in d["arms"]["k"]["endpoints"]}
    assert 0 < vals["mean"] < base
    # the default threshold is the scale's: stating it gives the same rate, a stricter one a lower rate
    same = run_trial(sc.replace(endpoints=scenario_from_dict({**sc.source, "endpoints": {
        "times": ["24 h"], "measures": ["remission_rate"], "remission_threshold": thr}}).endpoints)).to_dict()
    strict = run_trial(sc.replace(endpoints=scenario_from_dict({**sc.source, "endpoints": {
        "times": ["24 h"], "measures": ["remission_rate"], "remission_threshold": 0.5 * thr}}).endpoints)).to_dict()
    rate = lambda dd: next(e["value"] for e in dd["arms"]["k"]["endpoints"] if e["measure"] == "remission_rate")  # noqa: E731
    assert rate(same) == vals["remission_rate"] and rate(strict) < vals["remission_rate"]
