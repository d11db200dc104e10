"""An open-label phase after a blinded one (``population.open_label_from``) and Singh 2016's open-label rows.

Singh 2016 (doi:10.1176/appi.ajp.2016.16010037): "Patients who discontinued double-blind treatment after at least 2
weeks for lack of efficacy could enter an optional 2-week open-label phase to receive ketamine with the same
frequency as in the double-blind phase". Before the seventeenth session its open-label rows were predicted by the
double-blind ketamine arms from day 0. Now they are the open-label phase of the patients of both double-blind arms
who did not respond by day 15, open label from then on (the design prior of every later session is 1), counted
from the open-label baseline.
"""

from __future__ import annotations

import numpy as np
import pytest

from ketasim import scenario_from_dict
from ketasim import calibration as cal
from ketasim.errors import InputError
from ketasim.parameters import load_parameters
from ketasim.trial import run_trial

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
PLA = {"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}


def _switch_scenario(open_label_from=None, size=120):
    pop = {"size": size, "condition": "depression", "scale": "madrs", "baseline": {"mean": 35, "sd": 5},
           "p_active": 0.5}
    if open_label_from is not None:
        pop["open_label_from"] = open_label_from
    return scenario_from_dict({
        "name": "switch", "seed": 4, "population": pop,
        "arms": {"placebo-then-ketamine": [{**PLA, "every": "3.5 d", "count": 4},
                                           {**KET, "at": "14 d", "every": "3.5 d", "count": 4}],
                 "ketamine": [{**KET, "every": "3.5 d", "count": 8}]},
        "endpoints": {"times": ["13 d", "18 d", "24 d"], "measures": ["mean_change"]}})


def _mean_change(result, arm, day):
    rows = [r for r in result.endpoints if r["arm"] == arm and r["measure"] == "mean_change"
            and abs(r["time_h"] - 24 * day) < 1e-6]
    assert len(rows) == 1
    return rows[0]["value"]


def test_open_label_from_switches_the_design_prior_only_from_its_time():
    """Identical up to the switch; afterwards the open-label sessions renew expectancy with the prior 1 instead of
    the blinded 1/2, so the open-label phase improves more (design_expectancy_gain > 0; Rutherford 2009: response
    larger in open-label and comparator trials than in placebo-controlled ones, doi:10.1159/000209348)."""
    blinded = run_trial(_switch_scenario(), params=load_parameters())
    opened = run_trial(_switch_scenario("14 d"), params=load_parameters())
    assert load_parameters().free_value("design_expectancy_gain") > 0
    for arm in ("placebo-then-ketamine", "ketamine"):
        assert _mean_change(opened, arm, 13) == pytest.approx(_mean_change(blinded, arm, 13), abs=1e-9)
        for day in (18, 24):
            assert _mean_change(opened, arm, day) < _mean_change(blinded, arm, day) - 0.2, (arm, day)


@pytest.mark.parametrize("value, field", [("0 h", "population.open_label_from"),
                                          ("soon", "population.open_label_from"),
                                          ("40 year", "population.open_label_from")])
def test_open_label_from_refuses_bad_times_naming_the_field(value, field):
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        _switch_scenario(value)


def test_open_label_from_is_refused_in_a_randomized_withdrawal():
    d = {"name": "w", "population": {"size": 4, "scale": "madrs", "open_label_from": "14 d"},
         "arms": {"c": [{**KET, "every": "7 d", "count": 8}], "w": [{**KET, "every": "7 d", "count": 4}]},
         "design": {"type": "randomized_withdrawal", "continue": "c", "withdraw": "w", "induction_until": "28 d"}}
    with pytest.raises(InputError, match=r"population\.open_label_from"):
        scenario_from_dict(d)


def test_singh_open_label_rows_are_the_nonresponders_open_label_phase():
    """The rows' prediction is the entry-weighted mean change from the day-15 score in the open-label file; placebo
    patients enter more often than ketamine patients (they respond less by day 15); the rows sit in Singh's
    cross-validation group (the open-label file is reached only through Singh's arm specs)."""
    p = load_parameters()
    targets = [t for t in cal.build_targets()[0] if t.trial == "singh2016_ajp"]
    ol = [t for t in targets if t.arm.startswith("open-label") and t.kind == "mean_change"]
    assert len(ol) == 2 and all("singh2016_open_label.yaml::" in t.model_arm for t in ol)
    sims = cal.simulate_calibration_arms(p, targets, 60, 3)
    for t in ol:
        freq = "2x" if "2x" in t.arm else "3x"
        num = den = 0.0
        entering = {}
        for a in ("placebo", "ketamine"):
            s = sims[("singh2016_open_label.yaml", f"{a}-{freq}-ol")]
            j0 = int(np.argmin(np.abs(s.times - 360.0)))
            j = int(np.argmin(np.abs(s.times - (360.0 + t.time_h))))
            # the day-15 rating that decides entry carries the rater's noise and the fluctuation since entry
            view, w = cal._open_label_view(s, 360.0, cal._rating_sd(p, t.trial, 360.0))
            entering[a] = w.mean()
            num += np.sum(w * (s.score[:, j] - s.score[:, j0]))
            den += np.sum(w)
        assert cal.predict(t, sims, p) == pytest.approx(num / den, rel=1e-12)
        assert entering["placebo"] > entering["ketamine"] + 0.1
        assert 0 < entering["ketamine"] < 1
    # the same virtual patients as the double-blind file up to the switch (same population and seed)
    db, olf = sims[("singh2016.yaml", "placebo-2x")], sims[("singh2016_open_label.yaml", "placebo-2x-ol")]
    j0 = int(np.argmin(np.abs(db.times - 360.0)))
    np.testing.assert_allclose(db.score[:, : j0 + 1], olf.score[:, : j0 + 1], rtol=1e-9)
    assert "singh2016_ajp" in cal.scenario_groups()["singh2016"]


def test_an_open_label_subgroup_without_parameters_is_refused():
    p = load_parameters()
    targets = [t for t in cal.build_targets()[0] if t.trial == "singh2016_ajp" and t.arm.startswith("open-label")]
    sims = cal.simulate_calibration_arms(p, targets, 8, 3)
    with pytest.raises(ValueError, match="open-label subgroup"):
        cal._select(sims, "singh2016.yaml", targets[0].model_arm)
