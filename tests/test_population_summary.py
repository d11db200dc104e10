"""`ketasim simulate --size N` prints whose numbers the cascade lines are (the typical patient) and the population's
own session-monitoring peaks (mean, median, 90th percentile over patients), computed from the same trajectories the
run writes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from _support import run_cli

QUICK = ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg"]


def _numbers(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+", line.split(":", 1)[1])]


def test_a_population_run_labels_the_typical_patient_and_reports_the_population_peaks(capsys, tmp_path):
    csv = tmp_path / "traj.csv"
    code, out, _ = run_cli(capsys, *QUICK, "--size", 60, "--seed", 3, "--csv", csv)
    assert code == 0
    assert "typical patient (the population's mean covariates and median traits):" in out
    traj = pd.read_csv(csv)
    for label, col in (("dissociation (CADSS) peak", "cadss"), ("systolic BP rise peak", "sbp_change_mmhg")):
        line = next(ln for ln in out.splitlines() if f"60 patients, {label}:" in ln)
        peaks = traj.groupby("subject")[col].max().to_numpy()
        expected = [np.mean(peaks), np.median(peaks), np.quantile(peaks, 0.9)]
        assert np.allclose(_numbers(line), expected, atol=0.051), (line, expected)
    # the pressor and dissociative responses are skewed between patients: the mean a label reports lies above the
    # median, near which the typical patient sits
    sbp = traj.groupby("subject")["sbp_change_mmhg"].max()
    assert sbp.mean() > sbp.median()


def test_a_single_typical_patient_prints_no_population_lines(capsys):
    code, out, _ = run_cli(capsys, *QUICK, "--typical")
    assert code == 0
    assert "population (" not in out and "typical patient (" not in out
