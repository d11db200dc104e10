"""Issue 7 item 6 (twenty-eighth session; on by default since the twenty-ninth, population.bdnf_release_pool; its refit
CVs are in NOTES.md): activity-dependent BDNF release spends a releasable pool. Release is the AMPA drive x exp(-C /
K), C the BDNF released since the pool was last full (state bdnf_released, refilled with pd.bdnf.pool_refill_t_half)
and K the pool (free: bdnf_pool_capacity), so the BDNF a surge releases is at most ~K whatever its duration. Without
it a longer glutamate surge (1.0 vs 0.5 mg/kg over 40 min: the surge's peak is flat, its duration grows) keeps adding
plasticity drive in proportion to its duration, and efficacy does not plateau between 0.5 and 1.0 mg/kg (mechanism.md
§7; a strict xfail in tests/test_mechanism.py until the twenty-ninth session). What is checked here: off, the pool's
size changes nothing; on, the released BDNF saturates in the surge's duration while low doses still release less; at
a pool that makes the plateau (the drug weights rescaled so that 0.5 mg/kg keeps the shipped 24-h effect), efficacy
still rises from 0.1 to 0.5 mg/kg; the pool refills between sessions; the trial JSON names the switch; the
calibration fits the pool only when a calibration scenario has it on (the default); a bad value is one line naming
the field.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import brentq

import ketasim
from ketasim import calibration as cal
from ketasim.errors import InputError

from _support import calibration_scenarios_with, line, typical_run

#: 1-min resolution for the first 12 h (the surge and BDNF), then hourly to day 3
TIMES = np.unique(np.round(np.concatenate([np.arange(0.0, 12.0, 1 / 60), np.arange(12.0, 72.0 + 1e-9, 1.0)]), 9))
SALINE = line("placebo", "iv-infusion")
WEIGHTS = ("weight_mtorc1", "weight_protein", "weight_spine")


def ketamine(dose: str) -> dict:
    return line("racemic-ketamine", "iv-infusion", dose, duration="40 min")


def with_pool(p, capacity: float, weight_factor: float = 1.0):
    """The set with the pool's size and the three drug weights x weight_factor."""
    free = {"bdnf_pool_capacity": capacity, **{w: p.free_value(w) * weight_factor for w in WEIGHTS}}
    return p.with_free(free, p.free_version, p.calibration_run)


def traj(lines, ps, pool: bool):
    return typical_run(lines, TIMES, parameter_set=ps, bdnf_release_pool=pool).trajectories().set_index("time_h")


def bdnf_area(tr) -> float:
    """BDNF's excess over baseline integrated over the first 12 h (baseline levels x h)."""
    early = tr.loc[:12.0, "bdnf"]
    return float(np.trapezoid(early.to_numpy() - 1.0, early.index.to_numpy()))


def effect_24h(lines, ps, pool: bool) -> float:
    """Saline score minus drug score at 24 h (MADRS points), typical patient."""
    return float(traj([SALINE], ps, pool).loc[24.0, "score"] - traj(lines, ps, pool).loc[24.0, "score"])


@pytest.fixture(scope="module")
def params():
    return ketasim.load_parameters()


def test_off_the_pool_size_changes_nothing(params):
    a = traj([ketamine("0.5 mg/kg")], with_pool(params, 0.2), pool=False)
    b = traj([ketamine("0.5 mg/kg")], with_pool(params, 5.0), pool=False)
    for col in ("bdnf", "mtorc1", "score"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy())


def test_released_bdnf_saturates_in_the_surges_duration(params):
    """Off, 1.0 mg/kg releases >= 1.5x the BDNF of 0.5 mg/kg (a longer surge of the same height); with a pool of 0.5
    baseline levels at most 1.2x, and a large pool (100) gives the default back within 1 %. 0.2 mg/kg still
    releases less than 0.5 mg/kg."""
    off = {d: bdnf_area(traj([ketamine(d)], params, pool=False)) for d in ("0.5 mg/kg", "1.0 mg/kg")}
    small = with_pool(params, 0.5)
    on = {d: bdnf_area(traj([ketamine(d)], small, pool=True)) for d in ("0.2 mg/kg", "0.5 mg/kg", "1.0 mg/kg")}
    assert off["1.0 mg/kg"] >= 1.5 * off["0.5 mg/kg"]
    assert on["1.0 mg/kg"] <= 1.2 * on["0.5 mg/kg"]
    assert 0.0 < on["0.2 mg/kg"] < on["0.5 mg/kg"] < on["1.0 mg/kg"]
    large = bdnf_area(traj([ketamine("1.0 mg/kg")], with_pool(params, 100.0), pool=True))
    assert large == pytest.approx(off["1.0 mg/kg"], rel=0.01)


def test_a_pool_that_makes_the_plateau_keeps_the_rise_from_low_doses(params):
    """mechanism.md §7: efficacy rises from 0.1 to 0.5 mg/kg and stays on a plateau up to 1.0 mg/kg (the xfail's
    tolerance: 1.0 mg/kg within 15 % of 0.5 mg/kg). With a pool of 0.3 baseline levels and the drug weights rescaled
    so that 0.5 mg/kg keeps the shipped typical patient's 24-h effect (what a refit would do), the plateau holds
    (measured 1.09x; 1.12x at a pool of 0.4, 1.15x at 0.5, 1.20x at 1) and 0.1 < 0.2 < 0.5 mg/kg."""
    target = effect_24h([ketamine("0.5 mg/kg")], params, pool=False)
    factor = brentq(lambda f: effect_24h([ketamine("0.5 mg/kg")], with_pool(params, 0.3, f), True) - target,
                    0.5, 20.0, xtol=1e-2)
    ps = with_pool(params, 0.3, factor)
    e = {d: effect_24h([ketamine(d)], ps, pool=True) for d in ("0.1 mg/kg", "0.2 mg/kg", "0.5 mg/kg", "1.0 mg/kg")}
    assert 0.0 < e["0.1 mg/kg"] < e["0.2 mg/kg"] < e["0.5 mg/kg"]
    assert e["1.0 mg/kg"] <= 1.15 * e["0.5 mg/kg"]


def test_the_pool_refills_between_sessions(params):
    """Refill half-time pd.bdnf.pool_refill_t_half (3 h): a second dose 3.5 days after the first (twice-weekly
    sessions) finds the pool full, so its BDNF peak equals the first's within 1 %."""
    small = with_pool(params, 0.5)
    times = np.unique(np.round(np.concatenate([np.arange(0.0, 12.0, 1 / 60), np.arange(84.0, 96.0, 1 / 60)]), 9))
    twice = dict(ketamine("0.5 mg/kg"), at="0 d", every="84 h", count=2)
    tr = typical_run([twice], times, parameter_set=small,
                     bdnf_release_pool=True).trajectories().set_index("time_h")
    first_peak = float(tr.loc[:12.0, "bdnf"].max())
    second_peak = float(tr.loc[84.0:, "bdnf"].max())
    assert second_peak == pytest.approx(first_peak, rel=0.01)


def test_the_trial_json_names_the_switch():
    sc = ketasim.scenario_from_dict({"name": "pool", "seed": 3,
                                     "population": {"size": 20, "bdnf_release_pool": True},
                                     "arms": {"ketamine": [ketamine("0.5 mg/kg")]},
                                     "endpoints": {"times": ["24 h"], "measures": ["mean_change"]}})
    out = json.loads(json.dumps(ketasim.run_trial(sc).to_dict()))
    assert out["bdnf_release_pool"] is True


def test_calibration_fits_the_pool_only_when_a_scenario_has_it_on(tmp_path, monkeypatch):
    """On by default, so the packaged calibration fits it; with every calibration scenario switched off (the model
    before the twenty-ninth session) it is not fitted and the plateau direction is not added."""
    assert "bdnf_pool_capacity" in cal.default_fitted_names()
    assert cal.direction_switches() == {"bdnf_release_pool": True}
    monkeypatch.setattr(cal, "SCENARIOS", calibration_scenarios_with(tmp_path, "bdnf_release_pool", False))
    assert "bdnf_pool_capacity" not in cal.default_fitted_names()
    assert cal.direction_switches() == {}


def test_bad_values_are_one_line_naming_the_field():
    with pytest.raises(InputError, match=r"population.bdnf_release_pool: must be true or false"):
        ketasim.scenario_from_dict({"name": "n", "population": {"bdnf_release_pool": "sometimes"},
                                    "arms": {"a": [ketamine("0.5 mg/kg")]}})
