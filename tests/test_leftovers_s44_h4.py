"""Forty-fourth session, H4: the forty-third session's found-not-fixed items (/work/coord/s43/H1_log.md, H4_log.md,
H9_log.md, H11_log.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _support import benchmark_module, run_cli

ROOT = Path(__file__).resolve().parents[1]


# ---- 1. qualify --cv-json writes strict JSON -------------------------------------------------------------------------
def test_qualify_cv_json_is_strict_json_and_cv_per_trial_reads_its_nulls(monkeypatch, capsys, tmp_path):
    """A summary figure without rows of its kind (mae_mmhg of a run without mmHg rows) was written as NaN, which
    strict JSON readers refuse; it is null now, and benchmarks/cv_per_trial.py reads it back as NaN."""
    from ketasim import calibration

    nan = float("nan")

    def summary(rows):
        return {"rows": len(rows), "mae_points": 2.5, "mae_percentage_points": 9.0, "mae_sd_points": 1.5,
                "inside_interval": 0.9, "mae_mmhg": nan}

    cv = {"in_sample": [], "out_of_sample": [], "folds": [{"left_out": "x", "objective": 1.0,
                                                             "summary": {"mae_mmhg": nan, "mae_points": 3.0}}],
          "in_sample_fit": {"objective": __import__("numpy").float64(1.5)}}
    monkeypatch.setattr(calibration, "qualify", lambda *a, **k: ([], []))
    monkeypatch.setattr(calibration, "qualification_summary", summary)
    monkeypatch.setattr(calibration, "format_summary", lambda s: "summary")
    monkeypatch.setattr(calibration, "cross_validate_newton", lambda *a, **k: dict(cv))
    monkeypatch.setattr(calibration, "qualification_html", lambda *a, **k: None)
    out = tmp_path / "cv.json"
    code, stdout, err = run_cli(capsys, "qualify", "--cross-validate", "--cv-json", str(out), "--size", "50",
                                "--html", str(tmp_path / "q.html"))
    text = out.read_text()
    assert "NaN" not in text
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert doc["summary_out_of_sample"]["mae_mmhg"] is None and doc["folds"][0]["summary"]["mae_mmhg"] is None
    assert doc["summary_out_of_sample"]["mae_points"] == 2.5 and doc["in_sample_fit"]["objective"] == 1.5
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".*tmp"))
    loaded = benchmark_module("cv_per_trial")._load(str(out))
    assert math.isnan(loaded["summary_out_of_sample"]["mae_mmhg"])
    assert math.isnan(loaded["summary_in_sample"]["mae_mmhg"]) and math.isnan(loaded["folds"][0]["summary"]["mae_mmhg"])
    assert loaded["summary_in_sample"]["mae_points"] == 2.5
