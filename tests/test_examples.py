"""Every scenario shipped with ketasim (examples/ and the tutorial scenarios) loads and runs at a small size,
so none of them can rot."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ketasim import load_scenario, run_trial, simulate
from ketasim.errors import DoseWarning
from ketasim.display import json_safe as _finite

ROOT = Path(__file__).resolve().parents[1]
# examples/, the tutorial scenarios, and the calibration trials' scenarios wherever they live
SCENARIOS = sorted({*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("docs/tutorials/*.yaml"),
                    *ROOT.glob("src/ketasim/data/calibration/*.yaml")})


def test_there_are_examples():
    assert len(SCENARIOS) >= 5
    assert ROOT / "examples/design_example.yaml" in SCENARIOS


@pytest.mark.parametrize("path", SCENARIOS, ids=[str(p.relative_to(ROOT)) for p in SCENARIOS])
def test_example_runs(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseWarning)     # anesthetic-range examples warn by design
        sc = load_scenario(path)
        times = np.unique(np.concatenate([[0.0, 1.0, 24.0], sc.endpoints.times_h if sc.endpoints else []]))
        res = simulate(sc, n=4, output_times_h=times)
        traj = res.trajectories()
        assert list(dict.fromkeys(traj.arm)) == [a.name for a in sc.arms]
        assert len(traj) == 4 * times.size * len(sc.arms)
        assert np.isfinite(traj.score).all() and (traj.score >= 0).all()
        if sc.endpoints is not None:
            tr = run_trial(sc, n=24)
            doc = json.loads(json.dumps(_finite(tr.to_dict()), allow_nan=False))   # the JSON contract, strict
            # a stratified randomized withdrawal reports each arm per stratum: "ARM [stratum]"
            assert doc["scenario"] == sc.name and {a.split(" [")[0] for a in doc["arms"]} <= {a.name for a in sc.arms}
            assert all(r["measure"] for a in doc["arms"].values() for r in a["endpoints"])
