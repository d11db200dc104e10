"""Calibration and qualification against reference/clinical_calibration.csv."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ketasim import load_parameters
from ketasim.calibration import (TRIALS, build_targets, calibrate, predictions, qualification_summary, qualify,
                                 read_rows, write_parameter_set)
from ketasim.parameters import load_parameters as _load


def test_targets_come_only_from_the_calibration_file():
    rows = read_rows()
    shared = read_rows("../shared/reference/clinical_calibration.csv") if __import__("os").path.exists(
        "../shared/reference/clinical_calibration.csv") else rows
    assert rows == shared                       # the packaged copy is unmodified
    targets, skipped = build_targets()
    assert len(targets) + len(skipped) == len(rows)   # every row is either a target or listed with a reason
    for t in targets:
        if t.kind not in ("nausea_diff", "cadss_gt4"):     # these combine two rows (difference, range)
            assert t.observed == pytest.approx(float(rows[t.row]["value"]))
        assert t.se > 0 and t.trial in TRIALS
    assert all(reason for *_, reason in skipped)


def test_every_calibration_trial_has_a_scenario_file():
    from ketasim.calibration import EXAMPLES

    for file, _, _ in TRIALS.values():
        assert (EXAMPLES / file).exists()


def test_small_calibration_is_deterministic_and_improves(tmp_path):
    p0 = load_parameters()
    names = ["placebo_emax", "emax_drug"]
    kw = dict(size=40, seed=5, max_evaluations=6, names=names, log=lambda *_: None)
    new1, rep1 = calibrate(p0, **kw)
    new2, rep2 = calibrate(p0, **kw)
    assert rep1["objective"] == rep2["objective"]
    assert {k: new1.free[k].value for k in names} == {k: new2.free[k].value for k in names}
    assert rep1["objective"] <= rep1["objective_start"] + 1e-9
    out = write_parameter_set(new1, rep1, tmp_path / "free.json")
    data = json.loads(out.read_text())
    assert data["calibration_run"] == new1.calibration_run
    assert "rows_used" in data["provenance"] and data["provenance"]["seed"] == 5
    assert data["parameters"]["placebo_emax"]["fitted"] is True
    assert data["parameters"]["cadss_max"]["fitted"] is False
    reloaded = _load(str(out))
    assert reloaded.free["emax_drug"].value == pytest.approx(new1.free["emax_drug"].value, rel=1e-5)


def test_default_parameter_set_names_its_calibration_run():
    p = load_parameters()
    assert p.calibration_run
    for prm in p.free.values():
        assert prm.unit and prm.source.startswith("calibration")


def test_qualification_report(tmp_path):
    rows, skipped = qualify(size=150, seed=3)
    s = qualification_summary(rows)
    assert s["rows"] == len(rows) > 100
    assert 0 <= s["inside_interval"] <= 1
    assert all(r["lo"] <= r["predicted"] <= r["hi"] for r in rows)
    preds = predictions(load_parameters(), build_targets()[0], size=150, seed=3)
    assert np.allclose(preds, [r["predicted"] for r in rows])
