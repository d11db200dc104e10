"""Every calibration scenario states ``treatment_resistant`` (review s50 L-7): the fiftieth session made its default
depend on the condition, which moves no calibration row only as long as each calibration scenario states it."""

from __future__ import annotations

from importlib import resources

import yaml


def test_every_calibration_scenario_states_treatment_resistance():
    folder = resources.files("ketasim") / "data" / "calibration"
    files = [f for f in folder.iterdir() if f.name.endswith(".yaml")]
    assert len(files) >= 10
    silent = [f.name for f in files
              if "treatment_resistant" not in (yaml.safe_load(f.read_text(encoding="utf-8")).get("population") or {})]
    assert not silent, silent
