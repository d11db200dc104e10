"""benchmarks/cv_refit_folds.py's options (forty-seventh session): ``--seed=N`` and ``--qual-seed=N`` run a replicate
of the refit CV's procedure with other seeds (the spread between replicates is the CV's own noise), recorded in the
part's settings so that cv_merge.py never merges replicates; bad values are one line naming the option."""

from __future__ import annotations

import json

import pytest

from _support import benchmark_module


def _capture(monkeypatch, script):
    seen = {}

    def cross_validate(params, groups, in_sample, on_fold=None, log=None, **kw):
        seen.update(kw, groups=groups)
        if on_fold is not None:
            on_fold([], [])
        return {"in_sample": [], "in_sample_fit": {}}
    monkeypatch.setattr(script.cal, "cross_validate", cross_validate)
    monkeypatch.setattr(script, "load_parameters", lambda: "params")
    return seen


def test_seed_options_reach_cross_validate_and_the_settings(monkeypatch, tmp_path, capsys):
    script = benchmark_module("cv_refit_folds")
    seen = _capture(monkeypatch, script)
    fold = next(iter(script.cal.scenario_groups()))
    out = tmp_path / "part.json"
    script.main([fold, str(out), "--seed=7", "--qual-seed=12"])
    assert seen["seed"] == 7 and seen["qual_seed"] == 12 and seen["restarts"] == 0
    assert seen["size"] == script.SETTINGS["size"] and seen["groups"] == [fold]
    settings = json.loads(out.read_text())["settings"]
    assert settings["seed"] == 7 and settings["qual_seed"] == 12
    # without the options: the procedure's own seeds, as every CV before
    seen.clear()
    script.main([fold, str(tmp_path / "default.json")])
    assert (seen["seed"], seen["qual_seed"]) == (script.SETTINGS["seed"], script.SETTINGS["qual_seed"])


@pytest.mark.parametrize("args, message", [
    (["--seed=x"], "error: --seed: expected a whole number, got 'x'"),
    (["--qual-seed=-1"], "error: --qual-seed: must lie in 0-4294967295, got -1"),
    (["--seed=1", "--seed=2"], "usage: cv_refit_folds.py"),
    (["--seed"], "usage: cv_refit_folds.py"),
    (["--restarts=99"], "error: --restarts: must lie in 0-"),
])
def test_bad_options_are_one_line(monkeypatch, tmp_path, args, message):
    script = benchmark_module("cv_refit_folds")
    _capture(monkeypatch, script)
    with pytest.raises(SystemExit) as e:
        script.main(["transform", str(tmp_path / "p.json"), *args])
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


# ---- the CLI's smallest --size (H1's new-user pass, forty-seventh session) ----------------------------------------
@pytest.mark.parametrize("command, size, message", [
    (["trial", "examples/design_example.yaml"], "0",
     "error: --size: a virtual trial needs at least 2 patients per arm, got 0; one patient: ketasim simulate"),
    (["trial", "examples/design_example.yaml"], "-3", "error: --size: must lie in 2-2,000,000, got -3"),
    (["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg"], "0",
     "error: --size: must lie in 1-2,000,000, got 0"),
])
def test_a_too_small_size_is_refused_once_with_the_commands_own_minimum(capsys, command, size, message):
    """`trial --size 0` said "must lie in 1-2,000,000" and then refused 1: the first refusal now gives the
    command's own smallest size (simulate's is 1). (`qualify --size 1` stays valid for the calibration rows.)"""
    from _support import one_error_line, run_cli

    code, out, err = run_cli(capsys, *command, "--size", size)
    assert code == 2 and out == ""
    assert one_error_line(err) == message


def test_merged_seed_replicate_records_its_seeds(tmp_path, monkeypatch):
    """cv_merge.py wrote the default seeds (qualify_seed 11) into a merged file whatever its parts were run with."""
    from _support import REPO

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))     # cv_merge imports cv_refit_folds as a sibling
    merge = benchmark_module("cv_merge").merge
    script = benchmark_module("cv_refit_folds")
    groups = list(script.cal.scenario_groups())
    settings = {**script.SETTINGS, "restarts": 0, "seed": 7, "qual_seed": 12}
    parts = [{"out_of_sample": [], "folds": [{"left_out": g}], "settings": settings} for g in groups]
    rec = merge(parts, "replicate", partial=True)
    assert rec["settings"]["seed"] == 7 and rec["settings"]["qualify_seed"] == 12
    default = merge([{**p, "settings": None} for p in parts], "default", partial=True)
    assert default["settings"]["seed"] == script.SETTINGS["seed"]
    assert default["settings"]["qualify_seed"] == script.SETTINGS["qual_seed"]
    with pytest.raises(ValueError, match="different settings"):
        merge([parts[0], {**parts[1], "settings": {**settings, "seed": 8}}], "mixed", partial=True)


def test_cv_per_trial_reads_a_replicate_without_its_in_sample_fit(capsys):
    """A seed replicate merged without its in-sample fit (cv_merge.py --partial) crashed cv_per_trial.py
    (summary_in_sample None); it now reports the out-of-sample figures and says the in-sample part was not run."""
    from _support import REPO

    path = REPO / "benchmarks" / "results" / "partial" / "cv_refit_s47_seed_replicate.json.gz"
    benchmark_module("cv_per_trial").main([str(path)])
    out = capsys.readouterr().out
    assert "in sample: not run; out of sample 2.83 pts / 8.8 pp" in out
    assert "in sample      not run" in out and "control arms  28 rows  - / -  |" in out
