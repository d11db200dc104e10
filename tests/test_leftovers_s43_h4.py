"""Forty-third session, H4: the forty-second session's found-not-fixed items (NOTES, /work/coord/s42/H4_log.md,
H3_review.md R13-1)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import pytest
from _support import ADDS_UP, PUSHES, benchmark_module, dose_warnings

ROOT = Path(__file__).resolve().parents[1]


# ---- 1. R13-1: benchmarks/cv_refit_folds.py runs calibration.cross_validate's folds ----------------------------------
@dataclasses.dataclass(frozen=True)
class _Fit:
    tag: str
    posterior: object = None


def _fake_cv(monkeypatch, calls):
    """calibrate, _fold_tau and qualify replaced by cheap fakes that record how they are called (the fold loop's
    settings) and return values that depend on their input (so a wrong fit or tau would show in the rows)."""
    from ketasim import calibration as cal

    targets = ["target-a", "target-b"]

    def name(x):
        return x.tag if isinstance(x, _Fit) else ("params" if hasattr(x, "free") else x)

    def calibrate(params, exclude_trials=(), **kw):
        calls.append(("calibrate", name(params), tuple(exclude_trials),
                      tuple(sorted(((k, tuple(v) if isinstance(v, list) else v) for k, v in kw.items() if k != "log"),
                                   key=str))))
        tag = "fit-" + "+".join(exclude_trials)
        return _Fit(tag), {"posterior": {"of": tag}, "objective": 100.0 + len(exclude_trials), "rows_used": [1, 2],
                           "fitted": {"x": 1.0}}

    def fold_tau(fit, between_trial, draws, size, seed, exclude_trials=(), targets=None):
        calls.append(("tau", fit.tag, fit.posterior and fit.posterior["of"], between_trial, draws, size, seed,
                      tuple(exclude_trials), tuple(targets)))
        return {"tau": {"drug": 0.1 * len(exclude_trials)}, "implied_placebo_response_logit_sd": 0.2, "trials": []}

    def qualify(fit, **kw):
        calls.append(("qualify", fit.tag, tuple(sorted(((k, tuple(v) if isinstance(v, list) else
                                                       tuple(v.items()) if isinstance(v, dict) else v)
                                                      for k, v in kw.items()), key=str))))
        e = 1.0 + 0.5 * len(kw.get("trials") or ())
        return [{"trial": t, "unit": "points", "kind": "mean", "error": e, "predicted": 10.0, "observed": 10.0 - e,
                 "inside": True, "sampling_sd": 1.0, "lo": 8.0, "hi": 12.0} for t in kw.get("trials") or ["all"]], []

    monkeypatch.setattr(cal, "calibrate", calibrate)
    monkeypatch.setattr(cal, "_fold_tau", fold_tau)
    monkeypatch.setattr(cal, "qualify", qualify)
    monkeypatch.setattr(cal, "build_targets", lambda *a, **k: (list(targets), None))
    return cal


def _old_loop(groups, out_path):
    """benchmarks/cv_refit_folds.py as the forty-second session wrote it (its fold loop, verbatim but for the print)."""
    from ketasim import calibration as cal
    from ketasim.parameters import load_parameters

    params = load_parameters()
    all_groups = cal.scenario_groups()
    targets = cal.build_targets()[0]
    size, seed, max_ev, qual_size, qual_seed, draws = 200, 20261121, 150, 600, 11, 10
    kw = dict(size=size, seed=seed, max_evaluations=max_ev, start="prior", log=lambda *_: None,
              row_weights="random-effects", targets=targets)
    out_rows, folds = [], []
    for g in groups:
        tids = all_groups[g]
        t0 = time.perf_counter()
        fit, rep = cal.calibrate(params, exclude_trials=tids, laplace=True, **kw)
        if rep["posterior"]:
            fit = dataclasses.replace(fit, posterior=rep["posterior"])
        tau_g = cal._fold_tau(fit, True, draws, size, seed, exclude_trials=tids, targets=targets)
        rows, _ = cal.qualify(fit, size=qual_size, seed=qual_seed, trials=tids, parameter_draws=draws,
                              between_trial=True, trial_tau=tau_g and tau_g["tau"], targets=targets)
        for r in rows:
            r["fold"] = g
        out_rows += rows
        folds.append({"left_out": g, "trials": tids, "objective": rep["objective"],
                      "seconds": time.perf_counter() - t0,
                      "summary": cal.qualification_summary(rows) if rows else None})
    return {"out_of_sample": out_rows, "folds": folds}


def test_cv_refit_folds_script_runs_cross_validate_folds_as_its_old_loop_did(monkeypatch, tmp_path, capsys):
    from ketasim import calibration as cal

    groups = list(cal.scenario_groups())[:2]
    old_calls, new_calls = [], []
    _fake_cv(monkeypatch, old_calls)
    old = _old_loop(groups, tmp_path / "old.json")
    _fake_cv(monkeypatch, new_calls)
    script = benchmark_module("cv_refit_folds")
    out = tmp_path / "new.json"
    script.main([",".join(groups), str(out)])
    assert "done" in capsys.readouterr().out
    # the same fits, taus and predictions with the same settings, and no in-sample fit
    assert new_calls == old_calls and len(old_calls) == 3 * len(groups)
    assert not (tmp_path / "new.json.partial").exists()
    new = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert new["out_of_sample"] == json.loads(json.dumps(old["out_of_sample"]))
    assert [r["fold"] for r in new["out_of_sample"]] == [g for g in groups for _ in cal.scenario_groups()[g]]
    for f_new, f_old in zip(new["folds"], old["folds"], strict=True):
        for key in ("left_out", "trials", "objective"):
            assert f_new[key] == f_old[key], key
        assert f_new["seconds"] >= 0
        # the summary: the same figures, NaN (no row of that unit) written as null
        for key, v in f_old["summary"].items():
            if isinstance(v, float) and math.isnan(v):
                assert f_new["summary"][key] is None, key
            elif isinstance(v, dict):       # score_by_scale (review R3-8): {scale: {figure: value}}, NaN as null
                assert f_new["summary"][key] == {s: {k: None if isinstance(x, float) and math.isnan(x) else
                                                     pytest.approx(x) for k, x in d.items()} for s, d in v.items()}
            else:
                assert f_new["summary"][key] == pytest.approx(v), key
    assert f_new["summary"]["mae_mmhg"] is None          # no mmHg row in the fakes: a NaN before, null now


def test_cv_refit_folds_writes_the_partial_file_after_each_fold(monkeypatch, tmp_path):
    from ketasim import calibration as cal

    _fake_cv(monkeypatch, [])
    groups = list(cal.scenario_groups())[:3]
    seen = []
    real_qualify = cal.qualify

    def qualify(fit, **kw):       # before each fold's prediction: the partial file holds the folds before it
        p = tmp_path / "o.json.partial"
        seen.append(len(json.loads(p.read_text())["folds"]) if p.exists() else 0)
        return real_qualify(fit, **kw)

    monkeypatch.setattr(cal, "qualify", qualify)
    benchmark_module("cv_refit_folds").main([",".join(groups), str(tmp_path / "o.json")])
    assert seen == [0, 1, 2]


def test_cross_validate_in_sample_false_and_unknown_fold(monkeypatch):
    from ketasim import calibration as cal

    calls = []
    _fake_cv(monkeypatch, calls)
    g = next(iter(cal.scenario_groups()))
    res = cal.cross_validate(groups=[g], in_sample=False, log=lambda *a: None)
    assert res["in_sample"] == [] and res["in_sample_fit"] is None
    assert all(c[2] for c in calls if c[0] == "calibrate")            # every fit leaves a trial out
    calls.clear()
    res = cal.cross_validate(groups=[g], log=lambda *a: None)           # default: the in-sample fit as before
    assert [c[2] for c in calls if c[0] == "calibrate"][0] == ()
    assert res["in_sample"] and res["in_sample_fit"]["objective"] == 100.0
    with pytest.raises(ValueError, match=r"^groups: unknown fold 'nosuch' \(known: "):
        cal.cross_validate(groups=[g, "nosuch"], in_sample=False, log=lambda *a: None)


def test_cv_refit_folds_unknown_fold_is_one_line(monkeypatch):
    from ketasim import calibration as cal

    monkeypatch.setattr(cal, "calibrate", lambda *a, **k: pytest.fail("ran a fit"))
    with pytest.raises(SystemExit, match=r"^error: unknown fold in 'nosuch' \(known: "):
        benchmark_module("cv_refit_folds").main(["nosuch", "out.json"])


# ---- 2. the cumulative anesthetic check in covariates, sensitivity and the streamed run ------------------------------
_PUSHES, _ADDS_UP, _dose_warnings = PUSHES, ADDS_UP, dose_warnings     # tests/_support.py


def _covariates(**kw):
    from ketasim import scenario_from_dict
    from ketasim.covariates import run_covariates

    return run_covariates(scenario_from_dict(_PUSHES), contrasts=["weight=55:80"], endpoints=["cmax"], typical=True,
                          **kw)


def _sensitivity(**kw):
    from ketasim import scenario_from_dict
    from ketasim.sensitivity import run_sensitivity

    return run_sensitivity(scenario_from_dict(_PUSHES), endpoint="cadss_peak", patterns=("pk.ketamine.q2",),
                           n_patients=1, samples=2, local=False, **kw)


def _streamed(tmp_path, **kw):
    from ketasim import scenario_from_dict
    from ketasim.scale import simulate_streamed

    return simulate_streamed(scenario_from_dict(_PUSHES), n=2, csv=tmp_path / "t.csv", **kw)


@pytest.mark.parametrize("run", ["covariates", "sensitivity", "streamed"])
def test_covariates_sensitivity_and_streamed_runs_warn_once_from_python(run, tmp_path):
    from ketasim.errors import InputError

    call = {"covariates": _covariates, "sensitivity": _sensitivity,
            "streamed": lambda **kw: _streamed(tmp_path, **kw)}[run]
    _, caught = _dose_warnings(lambda: call())
    assert [str(w.message)[:len(_ADDS_UP)] for w in caught] == [_ADDS_UP]
    assert caught[0].filename == __file__                   # points at the caller's line (here: the lambdas above)
    _, none = _dose_warnings(lambda: call(anesthetic_check=False))
    assert none == []
    with pytest.raises(InputError, match="^anesthetic_check: expected True or False, got str 'no'"):
        call(anesthetic_check="no")


@pytest.mark.parametrize("run", ["covariates", "sensitivity"])
def test_one_arm_analyses_warn_only_of_their_arm(run):
    call = {"covariates": _covariates, "sensitivity": _sensitivity}[run]
    _, caught = _dose_warnings(lambda: call(arm="infusion"))
    assert caught == []


@pytest.mark.parametrize("command", [("covariates", "--typical", "--covariate", "weight=55:80", "--endpoint", "cmax"),
                                     ("sensitivity", "--endpoint", "cadss_peak", "--parameters", "pk.ketamine.q2",
                                      "--size", "1", "--samples", "2"),
                                     ("simulate", "--size", "2", "--chunk", "1")])
def test_the_commands_warn_once(capsys, tmp_path, command):
    import warnings

    import yaml
    from _support import run_cli

    path = tmp_path / "pushes.yaml"
    path.write_text(yaml.safe_dump(_PUSHES, sort_keys=False), encoding="utf-8")      # the first arm: pushes
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, command[0], path, *command[1:])
    assert code == 0, err
    assert err.count("anesthetic range") == 1, err
    assert f"warning: {_ADDS_UP}" in err


# ---- 3. calibration.qualify(between_trial=False) without draws, or beside trial_tau ------------------------------------
@pytest.mark.parametrize("kw,says", [
    (dict(between_trial=False), r"^between_trial=False: only with parameter_draws=N \(without draws the intervals "
                                r"carry no between-trial heterogeneity anyway\)$"),
    (dict(between_trial=False, trial_tau={"drug": 0.1}), r"^trial_tau: not with between_trial=False \(the trial "
                                                        r"effects' SDs would go unused\); leave out one of the two$"),
    (dict(between_trial=False, parameter_draws=5, trial_tau={"drug": 0.1}), r"^trial_tau: not with between_trial"),
])
def test_qualify_refuses_between_trial_false_where_it_would_be_ignored(monkeypatch, kw, says):
    """qualify(between_trial=False) without draws ran as qualify() (run_trial refuses the same), and trial_tau beside
    between_trial=False was dropped without a word; refused before anything runs."""
    from ketasim import calibration
    from ketasim.errors import InputError

    monkeypatch.setattr(calibration, "simulate_calibration_arms", lambda *a, **k: pytest.fail("ran before checking"))
    with pytest.raises(InputError, match=says):
        calibration.qualify(**kw)


def test_qualify_between_trial_false_with_draws_is_accepted_and_callers_pass_it_only_there(monkeypatch):
    from ketasim import calibration

    class Ran(Exception):
        pass

    def stop(*a, **k):
        raise Ran

    monkeypatch.setattr(calibration, "simulate_calibration_arms", stop)
    with pytest.raises(Ran):            # past the checks
        calibration.qualify(between_trial=False, parameter_draws=5)
    assert calibration._with_draws(False, 0) is True and calibration._with_draws(False, 10) is False
    assert calibration._with_draws(True, 0) is True


def test_qualify_command_no_between_trial_with_cross_validate_runs_the_in_sample_rows(monkeypatch, capsys):
    """`qualify --cross-validate --no-between-trial` (no --uncertainty) passes the in-sample rows no
    between_trial=False (their intervals have no draws) and the CV its False."""
    from _support import run_cli

    from ketasim import calibration

    seen = {}

    def qualify(params=None, **kw):
        seen["qualify"] = kw
        raise SystemExit(0)

    monkeypatch.setattr(calibration, "qualify", qualify)
    monkeypatch.setattr(calibration, "cross_validate_newton", lambda *a, **k: pytest.fail("not reached"))
    monkeypatch.setattr(calibration, "cross_validate", lambda *a, **k: pytest.fail("not reached"))
    with pytest.raises(SystemExit):
        run_cli(capsys, "qualify", "--cross-validate", "--no-between-trial", "--size", "50")
    assert seen["qualify"]["between_trial"] is True and seen["qualify"]["parameter_draws"] == 0


# ---- 4. sensitivity's evaluations in chunks (bounded memory) ----------------------------------------------------------
@pytest.mark.parametrize("example,endpoints", [
    ("design_example.yaml", ["mean_change@24h", "response_rate@24h", "cadss_peak"]),
    # a titrated arm deciding on the recorded rating: each chunk's rater-noise draws are its own patients'
    ("transform2_flexible.yaml", ["mean_change@28d", "response_rate@28d"]),
])
def test_patient_endpoint_values_in_chunks_equal_one_run(monkeypatch, example, endpoints):
    """`ketasim sensitivity --size 2000000` ran every evaluation as one kernel call of all patients (memory, and
    Ctrl-C waited); now in chunks of ENDPOINT_CHUNK patients, each drawn and run on its own: the same values."""
    import numpy as np

    from ketasim import load_scenario
    from ketasim import sensitivity as sens
    from ketasim.parameters import load_parameters

    sc = load_scenario(ROOT / "examples" / example)
    eps = [sens.parse_endpoint(e) for e in endpoints]
    p = load_parameters()
    whole = sens.patient_endpoint_values(p, sc, eps, n=11, seed=5)
    calls = []
    from ketasim import engine

    run_arm = engine.run_arm

    def counting(*a, **k):
        calls.append(a[2].n)
        return run_arm(*a, **k)

    monkeypatch.setattr(engine, "run_arm", counting)
    monkeypatch.setattr(sens, "ENDPOINT_CHUNK", 4)
    parts = sens.patient_endpoint_values(p, sc, eps, n=11, seed=5)
    assert calls == [4, 4, 3]                                           # three kernel runs of the arm
    for e in eps:
        np.testing.assert_array_equal(parts[e.label], whole[e.label])
        assert np.isfinite(whole[e.label]).all()


# ---- 5. choice options read case-insensitively (as power --test) ------------------------------------------------------
def test_sensitivity_method_is_read_case_insensitively():
    from ketasim import load_scenario
    from ketasim.errors import InputError
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario(ROOT / "examples" / "design_example.yaml")
    kw = dict(endpoint="cadss_peak", patterns=("pk.ketamine.q2",), n_patients=2, samples=2, local=False)
    upper, lower = run_sensitivity(sc, method=" Sobol", **kw), run_sensitivity(sc, method="sobol", **kw)
    assert upper.method == "sobol" and upper.to_dict() == lower.to_dict()
    with pytest.raises(InputError, match=r"^method: use morris or sobol, got 'fast'$"):
        run_sensitivity(sc, method="fast", **kw)
    with pytest.raises(InputError, match=r"^method: use morris or sobol, got 3$"):
        run_sensitivity(sc, method=3, **kw)


def test_sensitivity_command_takes_method_in_any_case(capsys):
    from _support import run_cli

    code, out, err = run_cli(capsys, "sensitivity", ROOT / "examples" / "design_example.yaml", "--endpoint",
                             "cadss_peak", "--parameters", "pk.ketamine.q2", "--size", "2", "--samples", "2",
                             "--method", "SOBOL")
    assert code == 0, err
    assert "ST" in out
    code, _, err = run_cli(capsys, "sensitivity", ROOT / "examples" / "design_example.yaml", "--endpoint",
                           "cadss_peak", "--method", "Fast")
    assert code == 2 and err.strip() == "error: --method: use morris or sobol, got 'Fast'"


@pytest.mark.parametrize("argv,key,value", [
    (["qualify", "--cross-validate", "--cv-method", "Refit", "--row-weights", "Sampling"], "cv_method", "refit"),
    (["qualify", "--cross-validate", "--cv-method", "refit", "--row-weights", " SAMPLING"], "row_weights", "sampling"),
])
def test_qualify_choices_in_any_case(monkeypatch, capsys, argv, key, value):
    from _support import run_cli

    from ketasim import app

    seen = {}

    def qualify_cli(**kw):
        seen.update(kw)
        raise SystemExit(0)

    monkeypatch.setattr(app, "qualify_cli", qualify_cli)
    with pytest.raises(SystemExit):
        run_cli(capsys, *argv)
    assert seen[key] == value


def test_calibrate_choices_in_any_case(monkeypatch, capsys, tmp_path):
    from _support import run_cli

    from ketasim import calibration

    seen = {}

    def calibrate(**kw):
        seen.update(kw)
        raise SystemExit(0)

    monkeypatch.setattr(calibration, "calibrate", calibrate)
    with pytest.raises(SystemExit):
        run_cli(capsys, "calibrate", "--start", "Prior", "--row-weights", "Random-Effects", "--out", tmp_path / "p.json")
    assert seen["start"] == "prior" and seen["row_weights"] == "random-effects"
    code, _, err = run_cli(capsys, "calibrate", "--start", "middle", "--out", tmp_path / "p.json")
    assert code == 2 and err.strip() == "error: --start: use 'current' or 'prior', got 'middle'"


# ---- 6. errors found while writing name the option ---------------------------------------------------------------------
def _full_disk(*a, **k):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("command,option,name", [
    (("simulate", "--typical"), "--csv", "t.csv"),
    (("simulate", "--typical"), "--plot", "t.png"),
    (("trial", "--size", "4"), "--json", "t.json"),
    (("trial", "--size", "4"), "--report", "t.html"),
])
def test_full_disk_names_the_option(monkeypatch, capsys, tmp_path, command, option, name):
    """'error: /tmp/t.json: cannot write (No space left on device)' named only the path; the up-front checks name
    the option ('--json: /tmp/dir: is a directory')."""
    from _support import run_cli

    from ketasim import io

    monkeypatch.setattr(io, "_fsync", _full_disk)
    out = tmp_path / name
    code, _, err = run_cli(capsys, command[0], ROOT / "examples" / "design_example.yaml", *command[1:], option, out)
    assert code == 1
    assert err.strip().splitlines() == [f"error: {option}: {out}: cannot write (No space left on device)"]
    assert list(tmp_path.iterdir()) == []


def test_full_disk_in_a_streamed_run_names_the_option_and_the_file(monkeypatch, capsys, tmp_path):
    """The streamed writer's OS error named its hidden temporary file ('.t.csv.1234.tmp: No space left ...')."""
    import pandas as pd
    from _support import run_cli

    monkeypatch.setattr(pd.DataFrame, "to_csv", _full_disk)
    out = tmp_path / "t.csv"
    code, _, err = run_cli(capsys, "simulate", ROOT / "examples" / "design_example.yaml", "--size", "4", "--chunk", "2",
                           "--csv", out)
    assert code == 1
    assert err.strip().splitlines()[-1] == f"error: --csv: {out}: cannot write (No space left on device)"
    assert list(tmp_path.iterdir()) == []


def test_write_errors_from_python_and_outside_a_command_name_the_path(monkeypatch, tmp_path):
    from ketasim import io
    from ketasim.errors import OutputError

    monkeypatch.setattr(io, "_fsync", _full_disk)
    with pytest.raises(OutputError, match=r"^/.*/x\.txt: cannot write \(No space left on device\)$"):
        io.atomic_write_text(tmp_path / "x.txt", "x")
    with io.output_fields():
        io.check_target(tmp_path / "y.csv", "--csv")
        assert io.field_of(tmp_path / "y.csv.provenance.json") == "--csv" and io.field_of(tmp_path / "y.c") is None
        with pytest.raises(OutputError, match=r"^--csv: /.*/y\.csv: cannot write"):
            io.atomic_write_text(tmp_path / "y.csv", "y")
    assert io.field_of(tmp_path / "y.csv") is None          # one command's options only


# ---- 7. qualify --external: score points per rating scale, not averaged across scales ---------------------------------
def _two_scale_folder(tmp_path):
    """examples/external's singh2016 (MADRS) and the same trial rated on the HAM-D17 (a copy with its scale)."""
    import shutil

    src = ROOT / "examples" / "external"
    folder = tmp_path / "ext"
    folder.mkdir()
    shutil.copy(src / "singh2016.yaml", folder / "singh2016.yaml")
    shutil.copy(src / "singh2016.csv", folder / "singh2016.csv")
    text = (src / "singh2016.yaml").read_text(encoding="utf-8")
    (folder / "hamd.yaml").write_text(text.replace("name: singh2016", "name: hamd").replace(
        "scale: madrs", "scale: hamd17").replace("baseline: {mean: 35, sd: 5}", "baseline: {mean: 24, sd: 4}"),
        encoding="utf-8")
    import pandas as pd

    obs = pd.read_csv(src / "singh2016.csv")
    obs["scenario"], obs["scale"], obs["trial_id"] = "hamd", "", "hamd_copy"
    obs["citation"] = obs["source_url"] = ""
    obs["value"] = obs["value"] * 0.6          # smaller changes on a smaller scale
    obs.to_csv(folder / "hamd.csv", index=False)
    return folder


def test_external_summary_reports_score_points_per_scale(tmp_path):
    import json as _json

    from ketasim.external import external_document, format_external, qualify_external
    from ketasim.units import json_safe

    q = qualify_external(_two_scale_folder(tmp_path), size=40)
    assert [t.problem for t in q.trials] == [None, None]
    s = q.summary()
    overall = s["overall"]
    assert set(overall["score_by_scale"]) == {"madrs", "hamd17"}
    assert overall["mae_points"] is None and overall["sampling_floor_points"] != overall["sampling_floor_points"]
    for scale, trial in (("madrs", "singh2016"), ("hamd17", "hamd")):
        one = s["by_trial"][trial]
        assert one["score_by_scale"][scale]["mae_points"] == pytest.approx(one["mae_points"])
        assert overall["score_by_scale"][scale]["mae_points"] == pytest.approx(one["mae_points"])
        assert overall["score_by_scale"][scale]["score_rows"] == one["score_rows"] > 0
    assert set(q.rows["rating_scale"]) == {"madrs", "hamd17"}
    text = format_external(q)
    assert "MAE pts per rating scale" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("all trials:"))
    assert "MADRS" in line and "HAM-D17" in line
    doc = _json.loads(_json.dumps(json_safe(external_document(q)), allow_nan=False))
    assert doc["summary"]["overall"]["mae_points"] is None and "hamd17" in doc["summary"]["overall"]["score_by_scale"]
    from ketasim.report import external_report

    page = external_report(q, tmp_path / "q.html").read_text(encoding="utf-8")
    assert "MAE pts per scale" in page and "HAM-D17" in page


def test_external_summary_of_one_scale_is_unchanged():
    import pandas as pd

    from ketasim.external import external_summary

    # (the columns compare_observed's table has, which observed_summary checks for since H1's fa41182)
    df = pd.DataFrame({"arm": ["a"] * 3, "time_h": [24.0] * 3, "pi_low": [-20.0, -20.0, 20.0],
                       "pi_high": [0.0, -13.0, 60.0],
                       "measure": ["mean_change", "mean_change", "response_rate"], "rating_scale": ["madrs"] * 3,
                       "unit": ["points", "points", "percentage points"], "error": [1.0, -3.0, 5.0],
                       "inside": [True, False, True], "predicted": [-10.0, -12.0, 40.0],
                       "sampling_sd": [2.0, 2.0, 8.0]})
    s = external_summary(df)
    assert s["mae_points"] == 2.0 and s["score_by_scale"]["madrs"]["mae_points"] == 2.0
    assert s["sampling_floor_points"] == pytest.approx(s["score_by_scale"]["madrs"]["sampling_floor_points"])


# ---- 8. the dashboard's covariate card and the page's parameter edits -------------------------------------------------
def test_covariates_card_uses_and_names_the_pages_parameter_edits():
    """The card's rows use the page's parameter edits (b.params); its provenance and hint named only the set's
    hash (the simulate card's answer carries the edits; the power card's names them as parameter_edits)."""
    pytest.importorskip("starlette")
    from ketasim.parameters import load_parameters
    from ketasim.web import api

    form = api.default_form()
    form["patient"]["sex"] = "male"
    base = api.covariates_form(form)
    assert "parameter_edits" not in base["provenance"]
    installed = load_parameters().literature["pk.female_clearance_factor"].value
    form["overrides"] = {"pk.female_clearance_factor": str(2 * installed)}
    edited = api.covariates_form(form)
    an = base["analyte"]

    def ratio(out):
        return next(r["value"] for r in out["rows"] if r["contrast"] == "female vs male"
                    and r["endpoint"] == "auc_0_inf" and r["analyte"] == an)

    # AUC ~ dose / CL: twice the female clearance factor about halves the female/male AUC ratio (0.83 -> 0.42)
    assert ratio(edited) == pytest.approx(ratio(base) / 2, rel=0.01)
    assert edited["provenance"]["parameter_edits"] == {
        "pk.female_clearance_factor": {"value": 2 * installed, "installed": installed, "unit": "dimensionless"}}
    assert edited["provenance"]["parameter_set"] != base["provenance"]["parameter_set"]
    js = (ROOT / "src" / "ketasim" / "web" / "static" / "app.js").read_text(encoding="utf-8")
    card = js[js.index("async function runCovariates"):js.index("/* ---------- trial power")]
    assert "body.provenance.parameter_edits" in card


def test_covariates_card_an_edit_the_model_cannot_run_is_a_field_message():
    pytest.importorskip("starlette")
    from ketasim.web import api

    cl = {p["name"]: p for p in api.parameter_catalog()}["pk.s_ketamine.cl"]
    form = api.default_form()
    form["overrides"] = {"pk.s_ketamine.cl": cl["max"]}         # CL above liver blood flow
    with pytest.raises(api.FormErrors) as ei:
        api.covariates_form(form)
    assert ei.value.errors[0]["field"] == "overrides" and "cannot run with these values" in ei.value.errors[0]["message"]


# ---- 9. an antidepressant written as a comedication ---------------------------------------------------------------------
_NOT_COMED = ("is an antidepressant, not a comedication (the comedications ketasim models change ketamine's "
              "metabolism: clarithromycin, itraconazole, ticlopidine, rifampicin, grapefruit-juice, st-johns-wort); "
              "one started with ketamine is a dose of drug oral-antidepressant, route oral; one taken at a stable dose "
              "has no modelled effect: leave it out")


@pytest.mark.parametrize("text,says", [
    ("fluoxetine", "comedications: 'fluoxetine' " + _NOT_COMED),
    ("Sertraline 50 mg", "comedications: 'Sertraline 50 mg' " + _NOT_COMED),
    ("SSRI", "comedications: 'SSRI' " + _NOT_COMED),
    ("fluoxetin", "comedications: 'fluoxetin' is fluoxetine, an antidepressant, not a comedication"),
    # not an antidepressant: as before (a spelling slip of a known one is pointed at it; another drug is not)
    ("ketoconazole", "comedications: unknown comedication 'ketoconazole'; known: clarithromycin"),
    ("clarithromycn", "comedications: unknown comedication 'clarithromycn' (did you mean clarithromycin?); known:"),
])
def test_an_antidepressant_as_a_comedication_says_it_is_a_dose(text, says):
    """A record's COMED 'fluoxetine' said 'unknown comedication' with no hint that ketasim models an antidepressant
    as a dose (drug oral-antidepressant) (H1, forty-second session)."""
    from ketasim.errors import InputError
    from ketasim.population import parse_comedication

    with pytest.raises(InputError) as e:
        parse_comedication(text, "comedications")
    assert str(e.value).startswith(says), str(e.value)


def test_a_records_fluoxetine_names_the_row(capsys, tmp_path):
    from _support import run_cli

    rec = tmp_path / "rec.csv"
    rec.write_text("ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX,COMED\n"
                   "1,0,1,56,mg,0,esketamine,intranasal,.,.,80,40,F,fluoxetine\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "simulate", "--events", rec)
    assert code == 2 and err.strip() == "error: rec.csv row 1, column COMED: 'fluoxetine' " + _NOT_COMED


def test_output_fields_off_remembers_nothing(tmp_path):
    from ketasim import io

    with io.output_fields(), io.output_fields(False):       # the dashboard under `ketasim serve`
        io.check_target(tmp_path / "y.csv", "--csv")
        assert io._OUTPUT_FIELDS.get() is None and io.field_of(tmp_path / "y.csv") is None
