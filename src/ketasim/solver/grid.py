"""The shared time grid of an arm.

All patients of an arm share dosing times, so they share one grid. It hits every event time (dose starts,
infusion stops, lagged gut entries) and every output time exactly; after each dose-related event the
step restarts small (``h0``) and grows geometrically (``growth``) up to ``h_max``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit


@dataclasses.dataclass(frozen=True)
class GridOptions:
    """Step-size control (hours). Defaults reach <= 1e-4 relative error (see benchmarks/bench_engine.py).

    ``h_max`` 12 h (was 2 h, then 4 h): between doses the chain is smooth and steps are capped by the output
    times anyway. Against the DOP853 reference (10 regimens: every route, single and twice-weekly dosing; 3 sampled
    patients; output every 6 h and every 24 h) the worst error stays 1.15e-4 (cadss after IM, set by ``h0`` and
    ``growth``, unchanged); twice-weekly IV goes 2.6e-5 -> 3.1e-5 and twice-weekly esketamine 3.7e-5 -> 4.9e-5
    (24-h output), while a 28-day twice-weekly IV regimen with endpoints only needs 464 steps instead of 528
    (664 at 2 h). ``h0`` and ``growth`` decide accuracy (x1.25: 2.0e-4; x1.3: 5.3e-4; 1-min h0: 4.8e-4).
    """

    h0: float = 1.0 / 120.0
    growth: float = 1.2
    h_max: float = 12.0
    # Steps after an infusion stop restart at h0 * growth ** stop_skip (never above the step before the stop) instead
    # of h0. Off by default (0: the same grid as a reset): measured (issue 10, kernel pass 3) on twice-weekly IV 28 d,
    # skip 8 (2.15 min) cut 464 -> 400 steps (kernel CPU x0.86) with the worst error against the reference at the
    # 6-h outputs unchanged (~3e-5), but the per-session CADSS peak moved by 3.1e-3 of its range (1.4e-4 at skip 0;
    # 7.8e-4 already at skip 2) against a fine grid: the first minutes after the stop decide the CADSS peak.
    stop_skip: int = 0
    # Decay-tail bound (2026-12-01): after a dose-related event (or an infusion stop) a step is at most
    # ``tail_ratio`` x the time since that event, but not held below ``tail_min_h``. Why: between events the chain is
    # forced by the PK's decaying modes (steepened by its Hill links); at time s after the event a mode of rate lam
    # still carries exp(-lam s) of its weight, so the modes that matter have lam s <~ 5-7, and h <= 0.1 s keeps
    # lam h <~ 0.5-0.7 for every one of them: the fastest time constant still alive sets the step. The x1.2 growth
    # alone gives h ~ 0.2 s (lam h up to ~1.4), where the 3-node quadratic forcing's error (local ~ (lam h)^4),
    # integrated over the day-long tail by the slow states (proteins 24 h, spines 72 h, expectancy weeks) and
    # amplified by the steep in-response indicator (time in response, then a recurrence's onset), reached 2.5e-4
    # of the range against the DOP853 reference for a parameter set the calibration produced (cal7: time in
    # response in tests/test_negative_unblinding.py; a partial responder's onset in tests/test_recurrence.py) and
    # 6.8e-4 at a bound of the calibration (responder_fraction 0.05: the test's responder only touches the response
    # band, and the onset is ill-conditioned); with the bound 2.8e-5 and 8.0e-5. Measured on cal7: refining only the
    # steps within 2 h of the events changed nothing, steps 6-24 h after them carried ~2/3 of the error. The first
    # hours keep the x1.2 ramp from h0 (they set the CADSS peak, and a bound from s = 0 would cost x1.1 growth
    # throughout: +50-66 % steps); the floor tail_min_h makes the bound act from 2.5 h after the event (a floor of
    # 0.5 h left 1.2e-4 at that bound). Cost: +24 % grid steps for twice-weekly esketamine over 28 d (endpoints only),
    # +33 % for twice-weekly IV (benchmarks/bench_before_after.py for time); tail_ratio 0 restores the old grid.
    tail_ratio: float = 0.1
    tail_min_h: float = 0.25

    def __post_init__(self):
        if not (0 < self.h0 <= self.h_max) or self.growth < 1.0 or self.stop_skip < 0:
            raise ValueError("GridOptions: need 0 < h0 <= h_max, growth >= 1 and stop_skip >= 0")
        if not (self.tail_ratio >= 0.0 and self.tail_min_h > 0.0):
            raise ValueError("GridOptions: need tail_ratio >= 0 and tail_min_h > 0")


@dataclasses.dataclass(frozen=True)
class Grid:
    times: np.ndarray        # (N+1,) h
    step_uid: np.ndarray     # (N,) index into unique_steps
    unique_steps: np.ndarray  # (U,) h

    def index_of(self, t: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.times, t - 1e-9)
        return idx


def build_grid(reset_times, other_times, t_end: float, options: GridOptions = GridOptions(),
               stop_times=()) -> Grid:
    """Grid from 0 to ``t_end`` hitting ``reset_times`` (restart small steps), ``stop_times`` (infusion stops:
    restart at ``h0 * growth ** stop_skip``, unless also a reset) and ``other_times``."""
    reset = np.unique(np.round(np.asarray(list(reset_times), float), 9))
    other = np.unique(np.round(np.asarray(list(other_times), float), 9))
    stops = np.unique(np.round(np.asarray(list(stop_times), float), 9))
    must = np.unique(np.concatenate([[0.0, t_end], reset, other, stops]))
    must = must[(must >= 0) & (must <= t_end)]
    is_reset = np.isin(must, reset) | (must == 0.0)
    is_stop = np.isin(must, stops) & ~is_reset
    h_stop = min(float(options.h0) * float(options.growth) ** int(options.stop_skip), float(options.h_max))
    times = _walk(must, is_reset, is_stop, float(options.h0), float(options.growth), float(options.h_max), h_stop,
                  float(options.tail_ratio), float(options.tail_min_h))
    steps = np.diff(times)
    key = np.round(steps, 10)
    unique, uid = np.unique(key, return_inverse=True)
    return Grid(times, uid.astype(np.int64), unique)


@njit(cache=True)
def _walk(must, is_reset, is_stop, h0, growth, h_max, h_stop, tail_ratio, tail_min_h):
    """Grid times through the sorted ``must`` times (compiled: a 5-min output grid over 28 days has 8,000 steps,
    and this loop in Python took longer than integrating a patient). Steps grow x ``growth`` from the restart value
    up to ``h_max`` and stay within max(tail_min_h, tail_ratio x the time since the last reset or stop)."""
    times = [0.0]
    h = h0
    t = 0.0
    t_event = 0.0
    for k in range(1, must.shape[0]):
        target = must[k]
        while target - t > 1e-9:
            step = min(h, target - t)
            if tail_ratio > 0.0:
                step = min(step, max(tail_min_h, tail_ratio * (t - t_event)))
            if target - t - step < 0.25 * step:     # avoid a sliver step before the target
                step = target - t
            t = target if abs(target - (t + step)) < 1e-9 else t + step
            times.append(t)
            h = min(h * growth, h_max)
        if is_reset[k]:
            h = h0
            t_event = t
        elif is_stop[k]:
            h = min(h, h_stop)
            t_event = t
    return np.array(times)
