"""Response counted from a screening visit (``endpoints.response_from: screening``; eleventh session).

Some trials count response as a reduction from a screening rating taken days before the pre-dose baseline (Lii
2023: ">= 50 % reduction in MADRS scores from screening baseline", Extended Data Table 1 footnote, PMC10769130).
Each virtual patient then gets a screening rating drawn from the normal conditional on their baseline rating
(bivariate normal: the scenario's baseline distribution and the stated screening mean, SD and correlation).
"""

from __future__ import annotations

import numpy as np
import pytest

import ketasim
from ketasim.calibration import SCENARIOS, build_targets, predict, simulate_calibration_arms
from ketasim.errors import InputError
from ketasim.population import Distribution, Screening, screening_ratings
from ketasim.scenario import load_scenario

from _support import params

N = 600


def _trial_dict(screening=None, response_from=None, design=None):
    ep = {"times": ["24 h", "7 d"], "measures": ["mean", "mean_change", "response_rate", "remission_rate"]}
    if response_from is not None:
        ep["response_from"] = response_from
    if screening is not None:
        ep["screening"] = screening
    d = {"name": "screening check", "seed": 5,
         "population": {"size": N, "condition": "depression", "scale": "madrs", "baseline": {"mean": 30, "sd": 6}},
         "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                "duration": "40 min"}],
                  "placebo": [{"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}]},
         "endpoints": ep}
    if design is not None:
        d["design"] = design
    return d


def _table(**kw):
    tr = ketasim.run_trial(ketasim.scenario_from_dict(_trial_dict(**kw)), params())
    t = tr.table()
    return {(r.arm, r.time_h, r.measure): float(r.value) for r in t.itertuples()}


def test_screening_ratings_follow_the_bivariate_normal():
    rng = np.random.default_rng(1)
    base_dist = Distribution(30.0, 6.0)
    base = rng.normal(30.0, 6.0, 200_000)
    s = screening_ratings(base, base_dist, Screening(33.0, 7.0, 0.8), rng.standard_normal(base.size), 60.0)
    assert abs(s.mean() - 33.0) < 0.05
    assert abs(s.std() - 7.0) < 0.06                       # rounding adds 1/12 of a point^2: negligible
    assert abs(np.corrcoef(s, base)[0, 1] - 0.8) < 0.01
    assert np.all(s == np.rint(s)) and s.min() >= 0 and s.max() <= 60
    # a perfect correlation with the same distribution returns the (rounded) baseline itself
    same = screening_ratings(base[:100], base_dist, Screening(30.0, 6.0, 1.0), rng.standard_normal(100), 60.0)
    assert np.array_equal(same, np.clip(np.rint(base[:100]), 0, 60))


def test_counting_from_a_higher_screening_rating_raises_response_only():
    """A screening mean 5 points above the baseline makes a 50 % reduction easier: more responders in both arms;
    every other endpoint (means, changes, remission) is bit-identical (the screening draws come last)."""
    ref = _table()
    scr = _table(response_from="screening", screening={"mean": 35.0, "sd": 6.0, "correlation": 0.8})
    assert ref.keys() == scr.keys()
    for key, v in ref.items():
        if key[2] == "response_rate":
            assert scr[key] > v + 3.0, key
        else:
            assert scr[key] == v, key


def test_a_screening_visit_like_the_baseline_changes_response_little():
    """Screening distributed like the baseline and strongly correlated with it: response rates within a few points
    of those counted from the baseline (rounding and the conditional spread only)."""
    ref = _table()
    scr = _table(response_from="screening", screening={"mean": 30.0, "sd": 6.0, "correlation": 0.95})
    for key, v in ref.items():
        if key[2] == "response_rate":
            assert abs(scr[key] - v) < 6.0, key


@pytest.mark.parametrize("endpoints, field", [
    ({"response_from": "screening"}, "endpoints.screening"),
    ({"screening": {"mean": 30, "sd": 6, "correlation": 0.8}}, "endpoints.screening"),
    ({"response_from": "screen"}, "endpoints.response_from"),
    ({"response_from": "screening", "screening": {"mean": 70, "sd": 6, "correlation": 0.8}},
     "endpoints.screening.mean"),
    ({"response_from": "screening", "screening": {"mean": 30, "sd": -1, "correlation": 0.8}},
     "endpoints.screening.sd"),
    ({"response_from": "screening", "screening": {"mean": 30, "sd": 6, "correlation": 1.5}},
     "endpoints.screening.correlation"),
])
def test_bad_screening_input_is_refused_in_one_line_naming_the_field(endpoints, field):
    d = _trial_dict()
    d["endpoints"].update(endpoints)
    with pytest.raises(InputError) as e:
        ketasim.scenario_from_dict(d)
    msg = str(e.value)
    assert msg.startswith(field) and "\n" not in msg


@pytest.mark.parametrize("design", [{"type": "crossover"}, {"follow_up_from": "7 d"}])
def test_screening_only_for_a_parallel_trial_without_follow_up(design):
    with pytest.raises(InputError, match="^endpoints.response_from: screening is supported for a parallel trial"):
        ketasim.scenario_from_dict(_trial_dict(response_from="screening",
                                               screening={"mean": 30, "sd": 6, "correlation": 0.8}, design=design))


def test_lii_calibration_rows_count_response_from_screening():
    """The Lii 2023 scenario states its screening visit, and calibration's analytic response rates use it: each
    response row rises against the same patients counted from the baseline (the screening mean is 1.5 points above
    the day-0 mean); remission rows are unchanged."""
    sc = load_scenario(SCENARIOS / "lii2023.yaml")
    assert sc.endpoints.screening is not None
    targets = [t for t in build_targets()[0] if t.trial == "lii2023_masked" and t.kind in ("response", "remission")]
    assert len(targets) == 24
    sims = simulate_calibration_arms(params(), targets, 200, 3)
    p = params()
    counted = {t.label: predict(t, sims, p) for t in targets}
    for s in sims.values():
        s.screening = None                                   # the same patients counted from their baseline
    base = {t.label: predict(t, sims, p) for t in targets}
    for t in targets:
        if t.kind == "response":
            assert counted[t.label] > base[t.label], t.label
        else:
            assert counted[t.label] == base[t.label], t.label
