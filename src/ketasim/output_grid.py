"""The default output times of a scenario: fine near doses, coarse elsewhere, sized to the population.

Without an ``output:`` section a trajectory table holds, for every arm:

* every dose event (start of each dose, end of each infusion) and the scenario's endpoint times;
* a *peak window* after each dose start: every 5 min until the end of the infusion (or for the first hour of an
  absorption route, which covers Tmax of intranasal, IM, SC, sublingual and oral doses), then 15 and 30 min later
  and 1.5, 2, 3 and 4 h after the dose (the monitoring window);
* every window holds the same offsets from its dose's start: those of every window and any other output time
  (another arm's dose events, an endpoint time, the background grid) that falls inside a window are added to every
  dose start (:func:`_aligned_windows`), so that identical sessions are sampled alike and a peak read off the table
  has the same time in each (a 40-min endpoint or another arm's infusion end sampled the first intranasal session
  at 40 min, the later ones at 30 and 60 min only: the first peak read 40 min, the others 30);
* a background grid over the whole horizon whose step grows with the number of rows (patients x arms x times),
  so that a large population writes tens of MB, not hundreds: 1 h for up to ``ROW_BUDGET`` rows, else 6 h,
  12 h or 24 h; if even the coarsest grid is over budget the peak window is thinned to the dose events, the
  hour after an infusion, and 15 min, 30 min, 1 h and 2 h after an absorbed dose (the usual Tmax range).

The same grid is used for a population and for its typical patient (it depends only on the regimens, the
endpoints and the population size in the scenario), so ``--typical`` and population files line up.
Change it with ``output: {every: 15 min, until: 7 d}`` or ``output: [0 h, 40 min, 24 h]`` in the scenario.
"""

from __future__ import annotations

import numpy as np

#: Default budget of trajectory rows (all arms x patients x times); ~275 bytes a row in CSV -> ~80 MB.
ROW_BUDGET = 300_000
#: Background steps tried from fine to coarse (h).
BACKGROUND_STEPS_H = (1.0, 6.0, 12.0, 24.0)
_PEAK_OFFSETS_H = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)     # after the end of an infusion (or after the first hour)


def _window(a) -> tuple[float, float]:
    """(start, end) in h of an administration's peak window: the infusion (or the first hour of an absorbed dose)
    and the monitoring offsets after it."""
    head = a.duration_h if a.duration_h > 0 else 1.0
    return a.start_h, a.start_h + head + _PEAK_OFFSETS_H[-1]


def _aligned_windows(arms, times: np.ndarray) -> np.ndarray:
    """``times`` (sorted) plus, at every dose start, every offset (h) from its start that some output time has inside
    some dose's peak window (:func:`_window`): all windows then hold the same offsets. One pass: a point added this
    way can still fall at a new offset inside an overlapping window of another dose time. Doses whose windows
    overlap at many different phases (more points to add than twice the grid) keep ``times``: they are no identical
    sessions to align, and the grid must stay within its row budget."""
    windows = sorted({_window(a) for arm in arms for a in arm.administrations()})
    if not windows:
        return times
    offsets = set()
    for t0, t1 in windows:
        inside = times[np.searchsorted(times, t0 - 1e-9):np.searchsorted(times, t1 + 1e-9, side="right")]
        offsets.update(np.round(inside - t0, 9).tolist())
        if len(offsets) > times.size:
            return times
    offsets = np.array(sorted(offsets))
    added = [t0 + offsets[offsets <= t1 - t0 + 1e-9] for t0, t1 in windows]
    if sum(a.size for a in added) > 2 * times.size + 1000:
        return times
    return np.unique(np.round(np.concatenate([times, *added]), 9))


def _dose_times(arm, thin: bool) -> list[float]:
    out: list[float] = []
    for a in arm.administrations():
        t0, dur = a.start_h, a.duration_h
        out.append(t0)
        if dur > 0:
            out.append(t0 + dur)
        head = dur if dur > 0 else 1.0                          # infusion, or the absorption phase (Tmax)
        if thin:       # the end of the infusion (its peak) or the usual Tmax range of absorption routes
            out.extend(t0 + np.array((dur, dur + 1.0) if dur > 0 else (0.25, 0.5, 1.0, 2.0)))
            continue
        out.extend(t0 + np.arange(0.0, head + 1e-9, 5 / 60))
        out.extend(t0 + head + o for o in _PEAK_OFFSETS_H)
    return out


def default_output_times_h(arms, horizon_h: float, endpoint_times_h=(), n_patients: int = 1) -> np.ndarray:
    """Default output times (h) for ``arms`` over ``horizon_h`` for ``n_patients`` per arm (see module doc)."""
    n_arms = max(len(arms), 1)
    rows_per_time = max(int(n_patients), 1) * n_arms
    ends = [0.0, float(horizon_h), *map(float, endpoint_times_h)]
    best = None
    for thin in (False, True):
        dose = [t for arm in arms for t in _dose_times(arm, thin)]
        for step in BACKGROUND_STEPS_H:
            background = np.arange(0.0, horizon_h + 1e-9, step)
            t = np.concatenate([background, np.asarray(dose, float), ends])
            t = np.unique(np.round(t[(t >= 0) & (t <= horizon_h + 1e-9)], 9))
            t = _aligned_windows(arms, t)
            t = t[t <= horizon_h + 1e-9]
            best = t
            if t.size * rows_per_time <= ROW_BUDGET:
                return t
    return best


__all__ = ["default_output_times_h", "ROW_BUDGET", "BACKGROUND_STEPS_H"]
