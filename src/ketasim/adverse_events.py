"""Adverse events as trials count them: incidence per patient over a treatment period.

Trials report the share of patients with at least one event (dissociation, dizziness, nausea, vomiting, sedation,
increased blood pressure), including non-zero rates in placebo arms. The model gives each session's peak of the
relevant signal (``ArmRun.sessions``); an event's incidence over the period is

    P_i = 1 - (1 - b) * exp(-m_i * g * sum_s y_is)

with ``y_is`` the signal of session s (CADSS points, sedation index, -log(1 - nausea probability), SBP rise in
mmHg), ``g`` the event's gain (free parameter, fitted to the calibration file's AE rows), ``b`` the background
(nocebo) incidence over the period seen under placebo (free parameter, fitted to the placebo arms' rows) and
``m_i`` the patient's susceptibility, a Gamma(k, 1/k) trait with mean 1 that persists across sessions. With a
persistent trait, incidence over many sessions saturates (the susceptible patients have the event early; the
others rarely do), instead of accumulating as independent draws per session. Averaged over the trait,

    E[P] = 1 - (1 - b) * (1 + g * sum_s y_s / k) ** -k.
"""

from __future__ import annotations

import numpy as np

from .model import DEFAULT_MODEL
from .parameters import ParameterSet
from .vocabulary import ADVERSE_EVENTS, AE_MEASURES

#: event -> (session-summary column, how the signal is read, display name)
EVENTS = {
    "dissociation": ("cadss_peak", "level", "dissociation"),
    "dizziness": ("cadss_peak", "level", "dizziness"),
    "nausea": ("nausea_probability", "hazard", "nausea"),
    "vomiting": ("nausea_probability", "hazard", "vomiting"),
    "sedation": ("sedation_peak", "level", "sedation"),
    "blood_pressure_increased": ("sbp_change_peak", "level", "blood pressure increased"),
}
#: trial endpoint names (percent of patients with >= 1 event over the treatment period)
MEASURES = {f"{name}_rate": name for name in EVENTS}
assert tuple(EVENTS) == ADVERSE_EVENTS and tuple(MEASURES) == AE_MEASURES   # the vocabulary names them


def signal(sessions: np.ndarray, event: str, slot=DEFAULT_MODEL.summary_slot) -> np.ndarray:
    """Sum over sessions of the event's signal per patient: (n,). ``sessions``: (n, S, summaries); ``slot(name)``
    gives a summary's position on the last axis."""
    col, how, _ = EVENTS[event]
    if sessions.shape[1] == 0:
        return np.zeros(sessions.shape[0])
    y = np.maximum(sessions[:, :, slot(col)], 0.0)
    if how == "hazard":
        y = -np.log1p(-np.minimum(y, 1.0 - 1e-12))
    return y.sum(axis=1)


def _gain_background(params: ParameterSet, event: str):
    return params.free_value(f"ae_{event}_gain"), params.free_value(f"ae_{event}_background")


def expected_incidence(sessions: np.ndarray, event: str, params: ParameterSet,
                       slot=DEFAULT_MODEL.summary_slot) -> np.ndarray:
    """Per-patient probability (0-1) of at least one event, averaged over the susceptibility trait (smooth in the
    parameters: used by the calibration)."""
    g, b = _gain_background(params, event)
    k = params.get("ae.susceptibility_shape")
    return 1.0 - (1.0 - b) * (1.0 + g * signal(sessions, event, slot) / k) ** (-k)


def sample_incidence(sessions: np.ndarray, event: str, params: ParameterSet, rng,
                     slot=DEFAULT_MODEL.summary_slot) -> np.ndarray:
    """Whether each patient had at least one event (bool, (n,)), with a sampled susceptibility per patient."""
    g, b = _gain_background(params, event)
    k = params.get("ae.susceptibility_shape")
    n = sessions.shape[0]
    m = rng.gamma(k, 1.0 / k, n)
    p = 1.0 - (1.0 - b) * np.exp(-m * g * signal(sessions, event, slot))
    return rng.random(n) < p
