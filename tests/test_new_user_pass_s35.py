"""Session 35 new-user pass (a clinical pharmacologist / teacher trying ketasim from the README)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ketasim.engine import simulate
from ketasim.scale import simulate_streamed
from ketasim.scenario import scenario_from_dict

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min", "at": "0 h"}
MID = {"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg", "duration": "40 min", "at": "0 h"}
ESK = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "at": "0 d", "every": "3.5 d", "count": 8}


def _big_scenario():
    """A scenario whose stated size (2000 x 3 arms) thins the default output grid."""
    return scenario_from_dict({"name": "grid", "seed": 7, "population": {"size": 2000, "baseline": {"mean": 33, "sd": 5}},
                               "arms": {"ketamine": [KET], "midazolam": [MID], "esk": [ESK]},
                               "endpoints": {"times": ["24 h", "28 d"], "measures": ["mean"]}})


def _sized(sc, n):
    return sc.replace(population=dataclasses.replace(sc.population, size=n))


def test_simulate_n_sizes_the_default_grid_like_the_scenario_saying_size_n():
    # simulate(sc, n=3) sized its default output grid from population.size (2000): 92 times where a scenario of
    # size 3 gets 1085; the result must be the same as the scenario itself saying size 3
    sc = _big_scenario()
    a, b = simulate(sc, n=3), simulate(_sized(sc, 3))
    assert [r.output_times_h.size for r in a.runs] == [r.output_times_h.size for r in b.runs]
    assert a.runs[0].output_times_h.size > simulate(sc, n=3, output_times_h=sc.output_times_h(2000)).runs[0].output_times_h.size
    pd.testing.assert_frame_equal(a.trajectories(), b.trajectories())


def test_simulate_streamed_n_sizes_the_default_grid_like_the_scenario_saying_size_n(tmp_path):
    sc = _big_scenario()
    simulate_streamed(sc, n=2, csv=tmp_path / "a.csv")
    simulate_streamed(_sized(sc, 2), csv=tmp_path / "b.csv")
    ta = pd.read_csv(tmp_path / "a.csv", comment="#")
    tb = pd.read_csv(tmp_path / "b.csv", comment="#")
    assert len(ta) == len(tb)
    assert np.array_equal(ta["time_h"].to_numpy(), tb["time_h"].to_numpy())
