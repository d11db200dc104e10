"""benchmarks/cv_per_trial.py: the rate MAE that binomial sampling alone would give (the floor under the target)."""

from __future__ import annotations

import json
import math

import pytest

from _support import benchmark_module

from ketasim.calibration import build_targets


def _module():
    return benchmark_module("cv_per_trial")


def test_sampling_floor_is_the_expected_binomial_error_at_the_predicted_rate():
    targets = [t for t in build_targets()[0] if t.kind in ("response", "remission") and t.n > 0][:2]
    assert len(targets) == 2
    rows = [{"label": targets[0].label, "unit": "percentage points", "predicted": 50.0},
            {"label": targets[1].label, "unit": "percentage points", "predicted": 10.0},
            {"label": targets[1].label, "unit": "points", "predicted": -9.0}]        # not a rate: ignored
    floor, k = _module().sampling_floor(rows)
    expected = [math.sqrt(2 / math.pi) * 100 * math.sqrt(p * (1 - p) / t.n)
                for p, t in ((0.5, targets[0]), (0.1, targets[1]))]
    assert k == 2
    assert math.isclose(floor, sum(expected) / 2, rel_tol=1e-12)


def test_rate_excess_splits_the_mae_above_the_floor_by_trial():
    rows = [{"trial": "a", "label": "a1", "unit": "percentage points", "predicted": 40.0, "error": -10.0,
             "sampling_sd": 5.0},
            {"trial": "a", "label": "a2", "unit": "percentage points", "predicted": 40.0, "error": 4.0,
             "sampling_sd": 5.0},
            {"trial": "b", "label": "b1", "unit": "percentage points", "predicted": 20.0, "error": 2.0,
             "sampling_sd": 8.0},
            {"trial": "b", "label": "b2", "unit": "points", "predicted": -9.0, "error": 30.0}]   # not a rate
    tab = _module().rate_excess(rows)
    c = math.sqrt(2 / math.pi)
    assert tab["a"][0] == 2 and math.isclose(tab["a"][1], -3.0)
    assert math.isclose(tab["a"][2], (10 - 5 * c + 4 - 5 * c) / 3)
    assert math.isclose(tab["b"][2], (2 - 8 * c) / 3)          # below its floor: negative
    mae = (10 + 4 + 2) / 3
    floor = (5 + 5 + 8) * c / 3
    assert math.isclose(sum(v[2] for v in tab.values()), mae - floor)


def test_bound_hits_flags_values_at_either_end_of_the_fitted_range_only():
    from ketasim.calibration import FITTED
    mod = _module()
    _, lo, hi, centre = FITTED["symptom_t_half"]
    _, lo2, hi2, centre2 = FITTED["omega_response"]
    hits = mod.bound_hits({"symptom_t_half": lo * 1.001, "omega_response": hi2 * 0.999, "placebo_gain":
                           FITTED["placebo_gain"][3], "ae_nausea_gain": 1e-5})       # not in FITTED: skipped
    assert hits == [("symptom_t_half", lo * 1.001, "lower"), ("omega_response", hi2 * 0.999, "upper")]
    assert mod.bound_hits({"symptom_t_half": centre, "omega_response": centre2}) == []


def test_fold_drift_is_measured_in_prior_sds_on_the_fit_scale():
    from ketasim.calibration import PRIOR_SD, PRIOR_WEIGHT
    mod = _module()
    full = {"symptom_t_half": 0.5, "placebo_gain": 0.2, "emax_drug": 0.5}
    fold = {"symptom_t_half": 0.5 * math.e, "placebo_gain": 0.2, "emax_drug": 0.5}
    moves = mod.fold_drift(fold, full, top=2)
    assert moves[0][0] == "symptom_t_half"
    assert math.isclose(moves[0][1], 1.0 / PRIOR_SD["symptom_t_half"])    # log e = 1 on the log scale
    assert abs(moves[1][1]) == 0.0
    assert "placebo_gain" not in PRIOR_SD and math.isclose(
        mod.fold_drift({"placebo_gain": 0.2 * math.e}, {"placebo_gain": 0.2})[0][1], PRIOR_WEIGHT)


def test_signed_errors_keep_the_sign_per_kind_of_row():
    rows = [{"kind": "response", "predicted": 20.0, "observed": 30.0},
            {"kind": "remission", "predicted": 15.0, "observed": 10.0},
            {"kind": "mean_change", "predicted": -8.0, "observed": -10.0},
            {"kind": "sd_change", "predicted": 7.0, "observed": 9.0},
            {"kind": "mean", "predicted": 1.0, "observed": 100.0}]                 # none of the three groups
    e = _module().signed_errors(rows)
    assert e["rates"] == (2, -2.5)                        # (-10 + 5) / 2: predicted too low on average
    assert e["mean changes"] == (1, 2.0)                  # too little improvement
    assert e["SDs"] == (1, -2.0)                          # too narrow
    assert math.isnan(_module().signed_errors([])["rates"][1])


def test_control_arms_are_placebo_saline_or_midazolam_and_not_differences():
    mod = _module()
    for arm in ("placebo (period 1)", "saline", "midazolam", "AD+PBO women", "PBO+SOC", "placebo 3x/week"):
        assert mod.is_control(arm), arm
    for arm in ("ketamine", "ESK+AD women", "esketamine 28 mg minus placebo (period 1)", "esketamine+AD",
                "open-label ketamine 2x/week", "ESK minus PBO men"):
        assert not mod.is_control(arm), arm
    rows = [{"kind": "sd_change", "arm": "placebo", "observed": 12.0, "predicted": 8.0},
            {"kind": "sd_mean", "arm": "ketamine", "observed": 9.0, "predicted": 11.0},
            {"kind": "mean_change", "arm": "placebo", "observed": -5.0, "predicted": -4.0}]      # not an SD row
    d = mod.arm_dispersion(rows)
    assert d["control arms"] == (1, 12.0, 8.0) and d["drug arms"] == (1, 9.0, 11.0)


def test_rate_errors_are_split_by_arm_role_with_their_sign():
    """Control-arm and drug-arm response/remission rows apart: mean signed error and MAE (pp); other rows and
    difference rows do not count as control arms."""
    rows = [{"kind": "response", "arm": "placebo", "observed": 40.0, "predicted": 25.0},
            {"kind": "remission", "arm": "AD+PBO", "observed": 20.0, "predicted": 25.0},
            {"kind": "response", "arm": "ketamine", "observed": 50.0, "predicted": 56.0},
            {"kind": "response", "arm": "esketamine 28 mg minus placebo", "observed": 10.0, "predicted": 8.0},
            {"kind": "ae:nausea", "arm": "placebo", "observed": 9.0, "predicted": 1.0}]             # not efficacy
    d = _module().rate_errors_by_role(rows)
    assert d["control arms"] == (2, -5.0, 10.0)
    assert d["drug arms"] == (2, 2.0, 4.0)
    assert math.isnan(_module().rate_errors_by_role([])["drug arms"][1])


def test_target_headroom_is_what_the_efficacy_rows_must_reach_for_the_overall_target():
    """Two efficacy rows and two other rate rows: the overall MAE is 8 exactly when the efficacy rows' MAE is
    (8 x 4 - other errors) / 2; floors follow the stored sampling SDs (with heterogeneity: hypot with 100 x 0.34 x
    p(1 - p) at the predicted rate)."""
    out = [{"unit": "percentage points", "kind": "response", "predicted": 50.0, "error": -12.0, "sampling_sd": 10.0},
           {"unit": "percentage points", "kind": "remission", "predicted": 20.0, "error": 6.0, "sampling_sd": 5.0},
           {"unit": "percentage points", "kind": "ae:nausea", "predicted": 9.0, "error": 1.0, "sampling_sd": 2.0},
           {"unit": "percentage points", "kind": "sbp180", "predicted": 1.0, "error": -3.0, "sampling_sd": 0.5},
           {"unit": "points", "kind": "mean_change", "predicted": -9.0, "error": 5.0}]          # not a rate
    ins = [dict(out[0], error=4.0), dict(out[1], error=-2.0), dict(out[2], error=9.0)]
    h = _module().target_headroom(out, ins)
    assert (h["rows"], h["other_rows"]) == (2, 2)
    assert math.isclose(h["out_of_sample"], 9.0) and math.isclose(h["in_sample"], 3.0)
    assert math.isclose(h["other_out_of_sample"], 2.0)
    assert math.isclose(h["needed"], (8.0 * 4 - 4.0) / 2)
    k = math.sqrt(2 / math.pi)
    assert math.isclose(h["sampling_floor"], k * 7.5)
    het = [100 * 0.34 * 0.25, 100 * 0.34 * 0.16]
    assert math.isclose(h["heterogeneity_floor"], k * (math.hypot(10.0, het[0]) + math.hypot(5.0, het[1])) / 2)


def _cv_run(rate_mae, inside, trial_errors):
    """A minimal cross-validation file: a summary and one rate row per (trial, error)."""
    rows = [{"trial": t, "unit": "percentage points", "error": e, "inside": True} for t, e in trial_errors]
    return {"summary_out_of_sample": {"mae_points": 2.0, "mae_percentage_points": rate_mae, "mae_sd_points": 1.5,
                                      "inside_interval": inside},
            "out_of_sample": rows}


def test_exact_comparison_places_the_real_run_against_the_replicates_range():
    mod = _module()
    exact = [_cv_run(8.0, 0.90, [("a", 6.0), ("b", 2.0)]), _cv_run(9.0, 0.86, [("a", 10.0), ("b", -4.0)])]
    real = _cv_run(9.5, 0.88, [("a", -8.0), ("b", 12.0), ("c", 1.0)])
    cmp = mod.exact_comparison(real, exact)
    v, sp, place = cmp["overall"]["mae_percentage_points"]
    assert (v, sp["mean"], sp["min"], sp["max"], sp["n"]) == (9.5, 8.5, 8.0, 9.0, 2)
    assert math.isclose(sp["sd"], math.sqrt(0.5))
    assert place == "above (worse)"
    assert cmp["overall"]["inside_interval"][2] == "inside"            # 88 % within 86-90 %
    assert cmp["trials"]["a"]["pp"][2] == "inside"                     # |-8| within 6-10
    assert cmp["trials"]["b"]["pp"][2] == "above (worse)"              # 12 above 2-4
    c = cmp["trials"]["c"]["pp"]
    assert c[1]["n"] == 0 and c[2] == "-"                             # no replicate has trial c
    assert cmp["trials"]["a"]["points"][2] == "-"                     # no points rows at all
    low = mod.exact_comparison(_cv_run(7.0, 0.80, []), exact)["overall"]
    assert low["mae_percentage_points"][2] == "below (better)"
    assert low["inside_interval"][2] == "below (worse)"               # coverage: lower is worse


def test_cli_prints_the_exact_model_comparison(tmp_path, capsys):
    mod = _module()
    target = next(t for t in build_targets()[0] if t.kind == "response" and t.n > 0)
    row = {"row": 0, "trial": target.trial, "label": target.label, "kind": "response", "unit": "percentage points",
           "observed": 50.0, "predicted": 40.0, "error": -10.0, "inside": True, "sampling_sd": 5.0,
           "lo": 25.0, "hi": 55.0}
    run = {"summary_in_sample": {"mae_points": 1.0, "mae_percentage_points": 5.0, "mae_sd_points": 1.0,
                                 "inside_interval": 0.9},
           "summary_out_of_sample": {"mae_points": 2.0, "mae_percentage_points": 10.0, "mae_sd_points": 1.5,
                                     "inside_interval": 0.9},
           "in_sample": [dict(row, error=-5.0)], "out_of_sample": [row], "folds": [],
           "in_sample_fit": {"fitted": {}}}
    paths = []
    for name, rate in (("real", 10.0), ("exact1", 6.0), ("exact2", 7.0)):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(dict(run, summary_out_of_sample=dict(run["summary_out_of_sample"],
                                                                     mae_percentage_points=rate))))
        paths.append(str(p))
    mod.main([paths[0], "--exact", *paths[1:]])
    out = capsys.readouterr().out
    assert "against an exact model (2 replicate(s)" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("rates (pp)"))
    assert "6.0-7.0" in line and "above (worse)" in line


def test_a_missing_or_foreign_file_is_a_one_line_exit(tmp_path):
    mod = _module()
    with pytest.raises(SystemExit) as e:
        mod.main([str(tmp_path / "nope.json")])
    assert "nope.json: cannot read" in str(e.value) and "\n" not in str(e.value)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(SystemExit) as e:
        mod.main([str(other)])
    assert "other.json: not a cross-validation file" in str(e.value)


def test_gzip_files_read_as_plain_ones_and_the_kept_reference_runs_load(tmp_path, capsys):
    """A .json.gz (the reference runs kept in benchmarks/results/) reads like its plain JSON; a damaged one is a
    one-line exit; every kept file is a cross-validation run whose summary the script prints."""
    import gzip
    from pathlib import Path

    mod = _module()
    kept = sorted((Path(__file__).parent.parent / "benchmarks" / "results").glob("*.json.gz"))
    assert kept, "benchmarks/results/ holds the reference runs"
    plain = tmp_path / "run.json"
    with gzip.open(kept[0], "rt") as f:
        plain.write_text(f.read())
    assert mod._load(str(kept[0])) == mod._load(str(plain))
    for path in kept:
        mod.main([str(path)])
        assert f"{path}: in sample" in capsys.readouterr().out
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(gzip.compress(b"{\"summary_out_of_sample\": ")[:-4])
    with pytest.raises(SystemExit) as e:
        mod.main([str(broken)])
    assert "broken.json.gz: cannot read" in str(e.value) and "\n" not in str(e.value)
