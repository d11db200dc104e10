"""Adverse events as trials count them: incidence per patient, background rates, persistent susceptibility."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim
from ketasim import adverse_events as ae
from ketasim.trial import run_trial


def _sessions(n_sessions: int, n: int = 400, seed: int = 3):
    sc = ketasim.scenario_from_dict({
        "name": "ae", "seed": seed, "population": {"size": n},
        "arms": {"esk": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d",
                          "count": n_sessions}]}})
    res = ketasim.simulate(sc, output_times_h=[0.0, 24.0])
    return res.runs[0].sessions


def test_incidence_saturates_over_many_sessions_with_a_persistent_susceptibility():
    p = ketasim.load_parameters()
    s8, s48 = _sessions(8), _sessions(48)
    for ev in ("nausea", "dissociation"):
        i8 = ae.expected_incidence(s8, ev, p).mean()
        i48 = ae.expected_incidence(s48, ev, p).mean()
        # what independent per-session draws would give after 48 sessions (the per-session rate of the 8-session run)
        per_session = 1 - (1 - i8) ** (1 / 8)
        independent = 1 - (1 - per_session) ** 48
        assert i8 < i48 < independent, (ev, i8, i48, independent)


def test_placebo_arms_have_background_incidence_and_drug_arms_more():
    sc = ketasim.scenario_from_dict({
        "name": "ae-trial", "seed": 5, "population": {"size": 3000},
        "arms": {"esketamine": [{"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "every": "3.5 d", "count": 8}],
                 "placebo": [{"drug": "placebo", "route": "intranasal", "every": "3.5 d", "count": 8}]},
        "endpoints": {"times": ["28 d"], "measures": list(ae.MEASURES)}})
    tr = run_trial(sc)
    t = tr.table().set_index(["arm", "measure"])["value"]
    for m in ae.MEASURES:
        assert 0.5 < t[("placebo", m)] < 30, m           # non-zero background (nocebo), not the drug's
        assert t[("esketamine", m)] > t[("placebo", m)], m


def test_sampled_incidence_matches_its_expectation():
    p = ketasim.load_parameters()
    s = _sessions(8, n=200)
    s = np.repeat(s, 50, axis=0)
    rng = np.random.default_rng(1)
    for ev in ae.EVENTS:
        sampled = ae.sample_incidence(s, ev, p, rng).mean()
        expected = ae.expected_incidence(s, ev, p).mean()
        assert sampled == pytest.approx(expected, abs=0.015), ev
