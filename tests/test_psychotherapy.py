"""Psychotherapy during the plasticity window (a switchable hypothesis, DESIGN.md chain item 10) slows the LOSS of
new spines, not their formation: it must never make the first days worse (it did while it slowed the spines' whole
relaxation, formation included: a new-user pass found psychotherapy=1 raising MADRS on days 2-7) and it must leave
more spines, and no less relief, once they are being lost."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim

TIMES_H = [0.0, 4.0, 24.0, 48.0, 72.0, 120.0, 240.0, 336.0, 504.0]


def _run(psychotherapy: float):
    sc = ketasim.scenario_from_dict({
        "name": "psychotherapy", "seed": 3, "population": {"size": 40},
        "experiments": {"psychotherapy": psychotherapy},
        "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                               "duration": "40 min"}]}})
    tr = ketasim.simulate(sc, output_times_h=TIMES_H).trajectories()
    return tr.groupby("time_h")[["score", "spine_density"]].mean()


@pytest.fixture(scope="module")
def runs():
    return {p: _run(p) for p in (0.0, 1.0)}


def test_psychotherapy_leaves_the_first_days_unchanged(runs):
    early = [t for t in TIMES_H if t <= 120.0]
    np.testing.assert_allclose(runs[1.0].loc[early, "score"], runs[0.0].loc[early, "score"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(runs[1.0].loc[early, "spine_density"], runs[0.0].loc[early, "spine_density"],
                               rtol=0, atol=1e-12)


def test_psychotherapy_keeps_more_spines_and_relief_while_they_are_lost(runs):
    late = [240.0, 336.0, 504.0]
    assert (runs[1.0].loc[late, "spine_density"] > runs[0.0].loc[late, "spine_density"] + 1e-4).all()
    assert (runs[1.0].loc[late, "score"] < runs[0.0].loc[late, "score"]).all()
    assert (runs[1.0]["score"] <= runs[0.0]["score"] + 1e-9).all()
