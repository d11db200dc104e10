"""The shared time grid of an arm.

All patients of an arm share dosing times, so they share one grid. It hits every event time (dose starts,
infusion stops, lagged gut entries) and every output time exactly; after each dose-related event the
step restarts small (``h0``) and grows geometrically (``growth``) up to ``h_max``.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class GridOptions:
    """Step-size control (hours). Defaults reach <= 1e-4 relative error (see benchmarks/bench_engine.py).

    ``h_max`` 4 h (was 2 h): between doses the chain is smooth. Over 11 regimens (every route, single and
    twice-weekly dosing; typical + 3 sampled patients; 6-h output) the worst error vs the reference solve stays
    1.19e-4 (anesthetic state after IM, unchanged); spines of twice-weekly dosing go 4.3e-5 -> 8.4e-5 (racemic
    IV) and 4.8e-5 -> 7.3e-5 (esketamine), while a 28-day twice-weekly regimen needs 528 steps instead of 664
    (x1.25 faster, benchmarks/bench_scale.py). ``h0`` and ``growth`` decide accuracy (x1.3: 5e-4; 1-min h0: 1.9e-4).
    """

    h0: float = 1.0 / 120.0
    growth: float = 1.2
    h_max: float = 4.0

    def __post_init__(self):
        if not (0 < self.h0 <= self.h_max) or self.growth < 1.0:
            raise ValueError("GridOptions: need 0 < h0 <= h_max and growth >= 1")


@dataclasses.dataclass(frozen=True)
class Grid:
    times: np.ndarray        # (N+1,) h
    step_uid: np.ndarray     # (N,) index into unique_steps
    unique_steps: np.ndarray  # (U,) h

    def index_of(self, t: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.times, t - 1e-9)
        return idx


def build_grid(reset_times, other_times, t_end: float, options: GridOptions = GridOptions()) -> Grid:
    """Grid from 0 to ``t_end`` hitting ``reset_times`` (restart small steps) and ``other_times``."""
    reset = np.unique(np.round(np.asarray(list(reset_times), float), 9))
    other = np.unique(np.round(np.asarray(list(other_times), float), 9))
    must = np.unique(np.concatenate([[0.0, t_end], reset, other]))
    must = must[(must >= 0) & (must <= t_end)]
    reset_set = set(reset.tolist()) | {0.0}
    times = [0.0]
    h = options.h0
    t = 0.0
    for target in must[1:]:
        while target - t > 1e-9:
            step = min(h, target - t)
            if target - t - step < 0.25 * step:     # avoid a sliver step before the target
                step = target - t
            t = target if abs(target - (t + step)) < 1e-9 else t + step
            times.append(t)
            h = min(h * options.growth, options.h_max)
        if target in reset_set:
            h = options.h0
    times = np.asarray(times)
    steps = np.diff(times)
    key = np.round(steps, 10)
    unique, uid = np.unique(key, return_inverse=True)
    return Grid(times, uid.astype(np.int64), unique)
