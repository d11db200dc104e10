"""benchmarks/cv_per_trial.py: the rate MAE that binomial sampling alone would give (the floor under the target)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from ketasim.calibration import build_targets


def _module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "cv_per_trial.py"
    spec = importlib.util.spec_from_file_location("cv_per_trial", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
