"""benchmarks/cv_merge.py: the parts of a refit CV run in separate processes merge into one record, a repeated or
missing fold is refused (no file written), and ``cross_validate(groups=[])`` runs no fold."""
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _row(trial, fold=None):
    """A row as qualify() writes it: the shipped CV's first, renamed."""
    with gzip.open(ROOT / "benchmarks" / "results" / "cv_refit_s43_crp0.json.gz", "rt") as f:
        r = dict(json.load(f)["out_of_sample"][0], trial=trial)
    r.pop("fold", None)
    if fold:
        r["fold"] = fold
    return r


def _parts():
    from ketasim import calibration as cal

    groups = list(cal.scenario_groups())
    half = len(groups) // 2
    a = {"out_of_sample": [_row(g, g) for g in groups[:half]],
         "folds": [{"left_out": g, "trials": [g], "objective": 1.0} for g in groups[:half]]}
    b = {"out_of_sample": [_row(g, g) for g in groups[half:]],
         "folds": [{"left_out": g, "trials": [g], "objective": 1.0} for g in groups[half:]]}
    ins = {"in_sample": [_row(g) for g in groups], "in_sample_fit": {"objective": 2.0, "fitted": {}}}
    return groups, a, b, ins


def test_parts_merge_and_a_repeated_or_missing_fold_is_refused():
    import cv_merge

    groups, a, b, ins = _parts()
    rec = cv_merge.merge([b, ins, a], "test")
    assert [f["left_out"] for f in rec["folds"]] == groups[len(groups) // 2:] + groups[:len(groups) // 2]
    assert len(rec["out_of_sample"]) == len(groups) and rec["in_sample_fit"]["objective"] == 2.0
    assert rec["settings"]["note"] == "test" and rec["summary_out_of_sample"]["rows"] == len(groups)
    with pytest.raises(ValueError, match="is in two parts"):
        cv_merge.merge([a, a, b, ins], "x")
    with pytest.raises(ValueError, match="folds missing"):
        cv_merge.merge([a, ins], "x")
    with pytest.raises(ValueError, match="in-sample fit missing"):
        cv_merge.merge([a, b], "x")
    assert cv_merge.merge([a], "x", partial=True)["in_sample_fit"] is None
    assert rec["settings"]["restarts"] == 0            # parts without settings: the single-start procedure


def test_parts_run_with_different_restarts_are_refused():
    """A multi-start part (cv_refit_folds.py --restarts=N writes its settings) merges only with parts of the same
    procedure, and the merged record says how many restarts (forty-sixth session review M2)."""
    import cv_merge
    from cv_refit_folds import SETTINGS

    groups, a, b, ins = _parts()
    multi = {**SETTINGS, "restarts": 2}
    a2, b2, ins2 = ({**p, "settings": multi} for p in (a, b, ins))
    assert cv_merge.merge([a2, b2, ins2], "m")["settings"]["restarts"] == 2
    with pytest.raises(ValueError, match="different settings .*restarts"):
        cv_merge.merge([a2, b, ins2], "m")
    with pytest.raises(ValueError, match="different settings .*restarts"):
        cv_merge.merge([a, b, ins2], "m")


def test_the_command_writes_gzip_or_says_one_line(tmp_path):
    _, a, b, ins = _parts()
    paths = []
    for name, part in (("a", a), ("b", b), ("i", ins)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(part))
    out = tmp_path / "cv.json.gz"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "cv_merge.py"), str(out)]
    bad = subprocess.run(cmd + [str(paths[0]), "--note", "n"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "folds missing" in bad.stderr and not out.exists()
    ok = subprocess.run(cmd + [str(p) for p in paths] + ["--note", "n"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(gzip.decompress(out.read_bytes()))["folds"]) == len(a["folds"]) + len(b["folds"])


def test_cross_validate_with_no_folds_runs_none():
    from ketasim import calibration as cal

    res = cal.cross_validate(groups=[], in_sample=False, log=lambda *a: None)
    assert res["folds"] == [] and res["out_of_sample"] == [] and res["in_sample"] == []
