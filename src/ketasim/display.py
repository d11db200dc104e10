"""Display helpers shared by the HTML reports (``ketasim.report``) and the dashboard API (``ketasim.web.api``),
below both so that neither imports the other for them."""

from __future__ import annotations

import numpy as np

from .units import json_safe  # noqa: F401  (its home is the lowest layer: result.py uses it too)
from .vocabulary import TRIAL_PANELS


def display_times(scenario) -> np.ndarray:
    """Output times for drawing: every 5 min for 6 h after each dose (15 min to 12 h), hourly to 2 days,
    then every 3 h to the horizon. Dense where the chain moves fast, light elsewhere."""
    horizon = float(scenario.horizon_h)
    starts = sorted({round(a.start_h, 6) for arm in scenario.arms for a in arm.administrations()
                     if a.drug.value != "oral-antidepressant"})
    fine, mid = (5 / 60, 0.25) if len(starts) <= 60 else (0.25, 1.0)
    parts = [np.arange(0.0, min(48.0, horizon) + 1e-9, 1.0), np.arange(48.0, horizon + 1e-9, 3.0), [horizon]]
    for s in starts[:400]:
        parts.append(s + np.arange(0.0, 6.0 + 1e-9, fine))
        parts.append(s + np.arange(6.0, 12.0 + 1e-9, mid))
    t = np.unique(np.round(np.concatenate([np.asarray(p, float) for p in parts]), 6))
    return t[(t >= 0) & (t <= horizon)]


def trial_panels():
    """Panels for population bands (the variables a trial summarises)."""
    return TRIAL_PANELS
