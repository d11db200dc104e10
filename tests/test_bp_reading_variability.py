"""population.bp_reading_sd_scales (a hypothesis of the forty-second session, on by default since the forty-third): a
monitored BP reading's
SD grows with the patient's age and pre-dose SBP, SD x [1 + 0.0338 (age - 45) / 10 + 0.085 (SBP0 - 122) / 10]
(Schutte 2012 Hypertension 60:1138 Table 2: short-term systolic variability +0.138 mmHg per decade and +0.347 mmHg
per 10 mmHg on 4.08 mmHg at mean age 44.9 y); a diastolic reading's by half that excess (Drayer 1982). Off: the readings and their random numbers are the former ones. On:
one factor for the trial's readings and for calibration's analytic outlier probabilities."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from ketasim import scenario_from_dict
from ketasim.calibration import _bp_outlier_probability
from ketasim.errors import InputError
from ketasim.model import DEFAULT_MODEL
from ketasim.parameters import load_parameters
from ketasim.population import PopulationSpec, bp_reading_sd_factor
from ketasim.trial import (ArmOutcome, _hypertension, bp_readings, max_rise_session_means, reading_fractions,
                           run_trial)

SLOT = DEFAULT_MODEL.summary_slot
N_SUM = len(DEFAULT_MODEL.summary_names)
ON = PopulationSpec(bp_reading_sd_scales=True)
OFF = PopulationSpec(bp_reading_sd_scales=False)


def params():
    return load_parameters()


def _outcome(age, sbp0, dbp0=None, rise=0.0, sessions=8, factor=None) -> ArmOutcome:
    age, sbp0 = np.asarray(age, float), np.asarray(sbp0, float)
    n = age.size
    s = np.zeros((n, sessions, N_SUM))
    s[:, :, SLOT("sbp_change_peak")] = rise
    s[:, :, SLOT("dbp_change_peak")] = 0.6 * np.asarray(rise)
    return ArmOutcome("arm", np.array([0.0]), np.zeros(n), np.zeros((n, 1)), np.zeros((n, 1)), s, pd.DataFrame(),
                      sbp0, np.full(n, 75.0) if dbp0 is None else np.asarray(dbp0, float), np.zeros(n, bool),
                      age_years=age, reading_sd_factor=factor)


def _scenario(age, on: bool, size=60, seed=11, arms=None):
    return scenario_from_dict({
        "name": "bp-variability", "seed": seed,
        "population": {"size": size, "baseline": {"mean": 37, "sd": 5}, "age_years": age,
                       "bp_reading_sd_scales": on},
        "arms": arms or {"esketamine": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg",
                                         "every": "3.5 d", "count": 3}],
                         "placebo": [{"drug": "placebo", "route": "intranasal", "every": "3.5 d", "count": 3}]},
        "endpoints": {"times": ["7 d"], "measures": ["mean_change", "sbp_max_rise", "dbp_max_rise",
                                                     "hypertension_rate", "sbp_change_peak"]}})


def test_the_parameters_are_schutte_2012s_relative_slopes():
    p = params()
    assert p.get("monitoring.reading_sd_per_decade") == pytest.approx(0.138 / 4.08, abs=5e-4)
    assert p.get("monitoring.reading_sd_per_10mmhg") == pytest.approx(0.347 / 4.08, abs=5e-4)
    assert p.get("monitoring.reading_sd_reference_age", "year") == 45
    assert p.get("monitoring.reading_sd_reference_sbp", "mmHg") == p.get("pop.sbp_mean_at_45", "mmHg")
    assert p.get("monitoring.reading_sd_dbp_share") == 0.5
    f = bp_reading_sd_factor(ON, p, np.array([45.0, 70.0, 70.0, 45.0]), np.array([122.0, 122.0, 134.5, 142.0]))
    sys_f = np.array([1.0, 1.0845, 1.0845 + 0.10625, 1.17])
    np.testing.assert_allclose(f[:, 0], sys_f, atol=1e-3)
    np.testing.assert_allclose(f[:, 1], 1 + 0.5 * (sys_f - 1), atol=1e-3)
    assert bp_reading_sd_factor(OFF, p, np.array([70.0]), np.array([150.0])) is None


def test_the_switch_is_on_by_default_and_must_be_a_boolean():
    assert PopulationSpec().bp_reading_sd_scales is True
    assert scenario_from_dict({"name": "x", "arms": {"placebo": [{"drug": "placebo", "route": "intranasal"}]}}
                              ).population.bp_reading_sd_scales is True
    assert _scenario({"mean": 45, "sd": 10}, False).population.bp_reading_sd_scales is False
    with pytest.raises(InputError, match="bp_reading_sd_scales"):
        PopulationSpec(bp_reading_sd_scales="yes")


def _old_max_rise(o, p, rng, measure, chunk=50_000):
    """The function as it was before the hypothesis (forty-first session), verbatim but for the names."""
    col, sd_name = {"sbp_max_rise": ("sbp_change_peak", "monitoring.sbp_reading_sd"),
                    "dbp_max_rise": ("dbp_change_peak", "monitoring.dbp_reading_sd")}[measure]
    s = o.sessions
    n, ns = s.shape[0], s.shape[1]
    frac = reading_fractions(p)
    r = frac.size
    sd = p.get(sd_name, "mmHg")
    total, squares = np.zeros(ns), np.zeros(ns)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        rise = s[a:b, :, SLOT(col)][:, :, None] * frac + rng.normal(0, sd, (b - a, ns, r))
        x = rise.max(axis=2) - rng.normal(0, sd, (b - a, ns))
        total += x.sum(axis=0)
        squares += (x * x).sum(axis=0)
    mean = total / max(n, 1)
    var = (squares - n * mean * mean) / max(n - 1, 1)
    return mean, np.sqrt(np.maximum(var, 0.0))


def _old_readings(o, p, rng):
    s, frac = o.sessions, reading_fractions(p)
    n, ns, r = s.shape[0], s.shape[1], frac.size
    rise_s = (s[:, :, SLOT("sbp_change_peak")][:, :, None] * frac).reshape(n, ns * r)
    rise_d = (s[:, :, SLOT("dbp_change_peak")][:, :, None] * frac).reshape(n, ns * r)
    return (o.sbp0[:, None] + rise_s + rng.normal(0, p.get("monitoring.sbp_reading_sd", "mmHg"), rise_s.shape),
            o.dbp0[:, None] + rise_d + rng.normal(0, p.get("monitoring.dbp_reading_sd", "mmHg"), rise_d.shape))


def test_off_the_readings_are_bit_identical_to_the_former_ones():
    p = params()
    rng0 = np.random.default_rng(3)
    o = _outcome(rng0.uniform(20, 85, 500), rng0.normal(150, 20, 500), rise=rng0.uniform(0, 20, (500, 8)))
    assert o.reading_sd_factor is None
    for k in ("sbp_max_rise", "dbp_max_rise"):
        new = max_rise_session_means(o, p, np.random.default_rng(9), k, chunk=77)
        old = _old_max_rise(o, p, np.random.default_rng(9), k, chunk=77)
        assert np.array_equal(new[0], old[0]) and np.array_equal(new[1], old[1])
    for new, old in zip(bp_readings(o, p, np.random.default_rng(4)), _old_readings(o, p, np.random.default_rng(4))):
        assert np.array_equal(new, old)
    post_s, post_d = _old_readings(o, p, np.random.default_rng(5))
    hyper = _hypertension(o, p, np.random.default_rng(5), chunk=33)
    assert 0 < hyper.sum() < hyper.size
    assert np.array_equal(hyper, (post_s >= 180).any(axis=1) | (post_d >= 110).any(axis=1))
    # the switch on with both slopes 0 draws the same random numbers in the same order: the same readings
    flat = p.with_literature({"monitoring.reading_sd_per_decade": 0.0, "monitoring.reading_sd_per_10mmhg": 0.0})
    o1 = dataclasses.replace(o, reading_sd_factor=bp_reading_sd_factor(ON, flat, o.age_years, o.sbp0))
    for k in ("sbp_max_rise", "dbp_max_rise"):
        assert np.array_equal(max_rise_session_means(o1, p, np.random.default_rng(9), k, chunk=77)[0],
                              max_rise_session_means(o, p, np.random.default_rng(9), k, chunk=77)[0])
    assert np.array_equal(_hypertension(o1, p, np.random.default_rng(5), chunk=33), hyper)


def test_the_json_records_the_switch_and_on_only_the_reading_rows_move():
    p = params()
    a = run_trial(_scenario({"mean": 60, "sd": 10}, False, size=40), p)
    doc = a.to_dict()
    assert doc["bp_reading_sd_scales"] is False     # recorded as every population switch (SWITCH_PROVENANCE)
    on = run_trial(_scenario({"mean": 60, "sd": 10}, True, size=40), p)
    assert on.to_dict()["bp_reading_sd_scales"] is True
    json.dumps(on.to_dict())
    # only the readings move: every non-BP-reading row is the same with the switch on
    reading_rows = {"sbp_max_rise", "dbp_max_rise", "hypertension_rate"}
    rest = lambda r: [x for x in r.endpoints if x["measure"] not in reading_rows]  # noqa: E731
    assert rest(on) == rest(a)
    assert [x for x in on.endpoints if x["measure"] in reading_rows] != \
           [x for x in a.endpoints if x["measure"] in reading_rows]


def test_on_an_older_or_higher_bp_patients_readings_vary_as_the_formula_says():
    p = params()
    m = 4000                                         # each patient repeated m times, 8 sessions x 2 readings each
    groups = [(45.0, 122.0), (75.0, 122.0), (45.0, 152.0), (75.0, 152.0)]
    age = np.repeat([g[0] for g in groups], m)
    sbp0 = np.repeat([g[1] for g in groups], m)
    o = _outcome(age, sbp0)
    o = dataclasses.replace(o, reading_sd_factor=bp_reading_sd_factor(ON, p, age, sbp0))
    post_s, post_d = bp_readings(o, p, np.random.default_rng(12))
    for i, (a, s0) in enumerate(groups):
        f = 1 + 0.0338 * (a - 45) / 10 + 0.085 * (s0 - 122) / 10
        rows = slice(i * m, (i + 1) * m)
        for post, base, sd, g in ((post_s, sbp0, 8.0, f), (post_d, o.dbp0, 6.0, 1 + 0.5 * (f - 1))):
            got = np.std(post[rows] - base[rows, None])
            # SD of a normal SD estimate from 64,000 draws: sd / sqrt(2 x 64,000) ~ 0.3 %
            assert got == pytest.approx(sd * g, rel=0.012)
    sd_of = {g: np.std(post_s[i * m:(i + 1) * m] - sbp0[i * m:(i + 1) * m, None]) for i, g in enumerate(groups)}
    assert sd_of[(45.0, 122.0)] < sd_of[(75.0, 122.0)] < sd_of[(75.0, 152.0)]
    assert sd_of[(45.0, 122.0)] < sd_of[(45.0, 152.0)] < sd_of[(75.0, 152.0)]
    dsd = {g: np.std(post_d[i * m:(i + 1) * m] - o.dbp0[i * m:(i + 1) * m, None]) for i, g in enumerate(groups)}
    assert dsd[(45.0, 122.0)] < dsd[(75.0, 122.0)] < dsd[(75.0, 152.0)]


def test_on_the_placebo_arms_max_rise_rises_with_age_and_off_it_does_not():
    p = params()
    placebo = {"placebo": [{"drug": "placebo", "route": "intranasal", "every": "3.5 d", "count": 8}]}
    got = {}
    for on in (False, True):
        for age in ({"mean": 35, "sd": 5}, {"mean": 72, "sd": 4, "min": 65, "max": 90}):
            r = run_trial(_scenario(age, on, size=1500, seed=5, arms=placebo), p)
            got[(on, age["mean"])] = {x["measure"]: x["value"] for x in r.endpoints
                                      if x["measure"] in ("sbp_max_rise", "dbp_max_rise")}
    # systolic factor ~0.92 at 35 y vs ~1.2 at 72 y; diastolic half that excess
    for k, ratio, gain in (("sbp_max_rise", 1.2 / 0.92, 0.5), ("dbp_max_rise", 1.1 / 0.96, 0.2)):
        # off: the readings' noise alone, the same for any age (the same random numbers)
        assert got[(False, 35)][k] == pytest.approx(got[(False, 72)][k], abs=1e-9)
        # on: older (and higher pre-dose SBP) -> noisier readings -> a larger max rise
        assert got[(True, 72)][k] > got[(False, 72)][k] + gain
        assert got[(True, 35)][k] < got[(False, 35)][k]
        assert got[(True, 72)][k] / got[(True, 35)][k] == pytest.approx(ratio, rel=0.12)


def _mc_outlier(kind, o, p, reps, rng):
    """P(any outlier reading) per patient of ``o`` by Monte Carlo of the trial's own draws."""
    n = o.n
    big = dataclasses.replace(o, sessions=np.repeat(o.sessions, reps, axis=0), sbp0=np.repeat(o.sbp0, reps),
                              baseline=np.repeat(o.baseline, reps),
                              dbp0=np.repeat(o.dbp0, reps), age_years=np.repeat(o.age_years, reps),
                              reading_sd_factor=np.repeat(o.reading_sd_factor, reps, axis=0))
    if kind in ("sbp180", "dbp110"):
        post_s, post_d = bp_readings(big, p, rng)
        hit = (post_s >= 180).any(axis=1) if kind == "sbp180" else (post_d >= 110).any(axis=1)
    else:          # a rise from the session's pre-dose reading, with the SD max_rise_session_means uses
        systolic = kind == "sbp_rise40"
        col = SLOT("sbp_change_peak" if systolic else "dbp_change_peak")
        sd = p.get("monitoring.sbp_reading_sd" if systolic else "monitoring.dbp_reading_sd", "mmHg")
        frac = reading_fractions(p)
        ns = big.sessions.shape[1]
        rise = big.sessions[:, :, col][:, :, None] * frac + rng.normal(
            0, big.reading_sd(sd, 0, None, 3, systolic), (big.n, ns, frac.size))
        x = rise.max(axis=2) - rng.normal(0, big.reading_sd(sd, 0, None, 2, systolic), (big.n, ns))
        hit = (x >= (40.0 if systolic else 25.0)).any(axis=1)
    return hit.reshape(n, reps).mean(axis=1)


@pytest.mark.parametrize("kind", ["sbp180", "dbp110", "sbp_rise40", "dbp_rise25"])
def test_calibrations_outlier_probability_uses_the_trials_reading_sd(kind):
    # one reading per session for the rises: the analytic form counts each reading's rise from its own pre-dose
    # reading as independent, exact with one post-dose reading per session
    p = params() if kind in ("sbp180", "dbp110") else params().with_literature({"monitoring.readings_per_session": 1})
    age = np.array([30.0, 50.0, 70.0, 85.0])
    sbp0 = np.array([150.0, 160.0, 165.0, 155.0])
    dbp0 = np.array([92.0, 88.0, 95.0, 90.0])
    rise = np.array([[5.0] * 4, [12.0] * 4, [8.0] * 4, [15.0] * 4])
    o = _outcome(age, sbp0, dbp0, rise=rise, sessions=4)
    o = dataclasses.replace(o, reading_sd_factor=bp_reading_sd_factor(ON, p, age, sbp0))
    assert np.all(o.reading_sd_factor[:, 0] > 1.1)        # 1.19-1.37: high pre-dose SBP, older
    bp0 = np.column_stack([o.sbp0, o.dbp0])
    analytic = _bp_outlier_probability(kind, o.sessions, bp0, p, o.reading_sd_factor)
    reps = 40_000
    mc = _mc_outlier(kind, o, p, reps, np.random.default_rng(21))
    se = np.sqrt(analytic * (1 - analytic) / reps)
    assert np.all(analytic > 0.005)
    np.testing.assert_array_less(np.abs(mc - analytic), 4.5 * se + 1e-4)
    # and with the constant SD the analytic value differs by more than the Monte Carlo error (the test can fail)
    flat = _bp_outlier_probability(kind, o.sessions, bp0, p)
    assert np.max(np.abs(flat - analytic) / se) > 8


def test_calibration_simulations_carry_the_same_factor(monkeypatch):
    from ketasim import calibration as cal

    real = cal.load_scenario

    def switched_off(path):
        sc = real(path)
        return dataclasses.replace(sc, population=dataclasses.replace(sc.population, bp_reading_sd_scales=False))

    p = params()
    file = "spravato_label_over65.yaml"
    on = cal._simulate_file((file, np.array([0.0, 672.0]), p, 12, 3))    # the default: on
    monkeypatch.setattr(cal, "load_scenario", switched_off)
    off = cal._simulate_file((file, np.array([0.0, 672.0]), p, 12, 3))
    assert all(s.reading_sd_factor is None for s in off.values())
    for key, s in on.items():
        np.testing.assert_array_equal(s.reading_sd_factor, bp_reading_sd_factor(ON, p, s.age, s.bp0[:, 0]))
        assert s.reading_sd_factor[:, 0].mean() > 1.1 and s.reading_sd_factor[:, 1].mean() > 1.05  # 70 +- 4.5 y
        np.testing.assert_array_equal(s.sessions, off[key].sessions)
