"""design.predose_bp_limit: the phase-3 esketamine trials' pre-dose blood-pressure rule (dosing withheld above
140/90 mmHg, 150 mmHg systolic above 65 y). Patients above the limits are screened out: their pre-dose pressure is
drawn from the distribution below the limits (population.baseline_bp). Off by default."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ketasim import scenario_from_dict
from ketasim.calibration import SCENARIOS, _bp_outlier_probability, _simulate_file
from ketasim.errors import InputError
from ketasim.model import DEFAULT_MODEL
from ketasim.parameters import load_parameters
from ketasim.population import PredoseBPLimit, baseline_bp, predose_bp_limit
from ketasim.scenario import load_scenario
from ketasim.trial import run_trial

SUMMARY_SLOT = DEFAULT_MODEL.summary_slot

TRIALS_RULE = {"sbp": "140 mmHg", "dbp": "90 mmHg", "sbp_over_65": "150 mmHg"}
RULE = PredoseBPLimit(sbp=140.0, dbp=90.0, sbp_over_65=150.0)
ESK = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "every": "3.5 d", "count": 2}


def _sc(design=None, size=40, age=None):
    pop = {"size": size, "baseline": {"mean": 37, "sd": 5}}
    if age is not None:
        pop["age_years"] = age
    d = {"name": "bp", "seed": 5, "population": pop, "arms": {"esk": [ESK]},
         "endpoints": {"times": ["4 d"], "measures": ["mean_change", "sbp_change_peak", "hypertension_rate"]}}
    if design is not None:
        d["design"] = design
    return scenario_from_dict(d)


def _ages(n=20_000, seed=1):
    return np.random.default_rng(seed).uniform(20.0, 85.0, n)


# ---- off by default ---------------------------------------------------------------------------------------------------
def test_without_the_rule_the_draws_are_the_former_ones():
    """baseline_bp without a limit is the former formula on the same random numbers, bit for bit."""
    p, age = load_parameters(), _ages(500)
    sbp, dbp = baseline_bp(p, age, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    old_s = (p.get("pop.sbp_mean_at_45", "mmHg") + p.get("pop.sbp_age_slope", "mmHg") * (age - 45.0)
             + rng.normal(0.0, p.get("pop.sbp_sd", "mmHg"), age.size))
    old_d = p.get("pop.dbp_mean", "mmHg") + rng.normal(0.0, p.get("pop.dbp_sd", "mmHg"), age.size)
    assert np.array_equal(sbp, old_s) and np.array_equal(dbp, old_d)


def test_no_shipped_calibration_scenario_uses_the_rule():
    """Switching it on moves calibration rows (the lead decides, after a CV): every shipped scenario has it off."""
    for f in sorted(SCENARIOS.glob("*.yaml")):
        assert predose_bp_limit(load_scenario(f).design) is None, f.name


def test_a_rule_nobody_exceeds_leaves_the_trial_bit_identical():
    """Limits above every virtual patient's pressure change nothing: same random numbers, same values, same rows."""
    off = run_trial(_sc(), n=40)
    on = run_trial(_sc({"predose_bp_limit": {"sbp": "250 mmHg", "dbp": "150 mmHg"}}), n=40)
    assert on.endpoints == off.endpoints
    assert np.array_equal(on.outcomes["esk"].sbp0, off.outcomes["esk"].sbp0)


# ---- what the rule does ---------------------------------------------------------------------------------------------
def test_patients_within_the_limits_keep_their_pressure_and_no_one_is_above():
    p, age = load_parameters(), _ages()
    s0, d0 = baseline_bp(p, age, np.random.default_rng(3))
    s1, d1 = baseline_bp(p, age, np.random.default_rng(3), limit=RULE)
    ok = RULE.eligible(s0, d0, age)
    assert 0.05 < 1 - ok.mean() < 0.5           # the rule bites in this population (could fail if it did nothing)
    within_s, within_d = s0 <= RULE.sbp_limit(age), d0 <= 90.0
    assert np.array_equal(s1[within_s], s0[within_s]) and np.array_equal(d1[within_d], d0[within_d])
    assert RULE.eligible(s1, d1, age).all()
    older = age > 65
    assert s1[~older].max() <= 140.0 and s1[older].max() <= 150.0
    assert (s1[older] > 140.0).any()            # the older limit is 150, not 140


def test_the_screened_pressure_is_the_normal_truncated_at_the_limit():
    """Given age, SBP is N(mu, sd) truncated at the limit: standardized, a KS test against scipy's truncnorm (no
    other distribution passes with 20,000 patients); DBP likewise at 90 mmHg."""
    p, age = load_parameters(), np.full(20_000, 46.0)
    s, d = baseline_bp(p, age, np.random.default_rng(11), limit=RULE)
    mu = p.get("pop.sbp_mean_at_45", "mmHg") + p.get("pop.sbp_age_slope", "mmHg") * 1.0
    sd = p.get("pop.sbp_sd", "mmHg")
    assert stats.kstest((s - mu) / sd, stats.truncnorm(-np.inf, (140.0 - mu) / sd).cdf).pvalue > 0.01
    dm, dsd = p.get("pop.dbp_mean", "mmHg"), p.get("pop.dbp_sd", "mmHg")
    assert stats.kstest((d - dm) / dsd, stats.truncnorm(-np.inf, (90.0 - dm) / dsd).cdf).pvalue > 0.01
    assert stats.kstest((s - mu) / sd, "norm").pvalue < 1e-6       # and it is not the unscreened normal


def test_the_rule_lowers_the_absolute_outlier_rates_not_the_rises():
    """The label's SBP >= 180 / DBP >= 110 rows fall (fewer hypertensive patients dosed); the rise rows (>= 40 / 25
    mmHg from the pre-dose reading) do not read the pre-dose level and are unchanged."""
    p, age = load_parameters(), _ages(5_000)
    bp_off = np.column_stack(baseline_bp(p, age, np.random.default_rng(2)))
    bp_on = np.column_stack(baseline_bp(p, age, np.random.default_rng(2), limit=RULE))
    sessions = np.zeros((age.size, 8, len(DEFAULT_MODEL.summary_names)))
    sessions[:, :, SUMMARY_SLOT("sbp_change_peak")] = 20.0
    sessions[:, :, SUMMARY_SLOT("dbp_change_peak")] = 12.0
    for kind in ("sbp180", "dbp110"):
        off = _bp_outlier_probability(kind, sessions, bp_off, p).mean()
        on = _bp_outlier_probability(kind, sessions, bp_on, p).mean()
        assert on < 0.7 * off, (kind, on, off)      # measured: sbp180 9.7 -> 2.4 %, dbp110 3.3 -> 1.8 %
    for kind in ("sbp_rise40", "dbp_rise25"):
        assert np.array_equal(_bp_outlier_probability(kind, sessions, bp_off, p),
                              _bp_outlier_probability(kind, sessions, bp_on, p))


def test_a_trial_with_the_rule_has_fewer_hypertensive_readings():
    """Whole trial (engine, readings with their noise): fewer patients with a reading >= 180/110 mmHg, no dosed
    patient above the limits, and the same drug effect (the rule screens pressure, not the response)."""
    off = run_trial(_sc(size=300), n=300)
    on = run_trial(_sc({"predose_bp_limit": TRIALS_RULE}, size=300), n=300)
    o_off, o_on = off.outcomes["esk"], on.outcomes["esk"]
    assert o_on.sbp0.max() <= 150.0 and o_on.dbp0.max() <= 90.0
    assert ((o_off.sbp0 > 150.0) | (o_off.dbp0 > 90.0)).sum() > 5

    def rate(tr):
        return next(r["value"] for r in tr.endpoints if r["measure"] == "hypertension_rate")

    assert rate(on) < rate(off)
    assert ("pre-dose BP rule: SBP <= 140 mmHg (<= 150 above 65 y), DBP <= 90 mmHg; patients above it are not dosed"
            in on.format_table()) and "pre-dose BP rule" not in off.format_table()
    assert np.array_equal(o_on.sessions, o_off.sessions)      # the same patients get the same doses and rises


def test_calibration_reads_the_rule_of_its_scenario(monkeypatch):
    """calibration._simulate_file screens the pre-dose pressure of a scenario that states the rule, exactly as the
    trial does (the label's >= 65 y file: its patients are 65-86 y)."""
    import ketasim.calibration as C

    real = C.load_scenario

    def with_rule(path):
        sc = real(path)
        return sc.replace(design=(("predose_bp_limit", (("dbp", 90.0), ("sbp", 140.0), ("sbp_over_65", 150.0))),))

    times = np.array([0.0, 672.0])
    p = load_parameters()
    off = _simulate_file(("spravato_label_over65.yaml", times, p, 60, 9))
    monkeypatch.setattr(C, "load_scenario", with_rule)
    on = _simulate_file(("spravato_label_over65.yaml", times, p, 60, 9))
    for key in off:
        b0, b1, age = off[key].bp0, on[key].bp0, off[key].age
        assert RULE.eligible(b1[:, 0], b1[:, 1], age).all()
        assert (~RULE.eligible(b0[:, 0], b0[:, 1], age)).any()
        assert np.array_equal(on[key].sessions, off[key].sessions)


# ---- bad input: one line naming the field ------------------------------------------------------------------------------
@pytest.mark.parametrize("rule, match", [
    ({"sbp": 140}, r"^design\.predose_bp_limit\.sbp: the unit is missing in 140; write it explicitly, e\.g\. '140 mmHg'$"),
    ({"dbp": "90 mg"}, r"^design\.predose_bp_limit\.dbp: unit 'mg' cannot be converted to 'mmHg'$"),
    ({"sbp": "14 mmHg"}, r"^design\.predose_bp_limit\.sbp: must lie in \[90, 250\] mmHg, got 14 mmHg$"),
    ({"sbp_over_65": "1500 mmHg"}, r"^design\.predose_bp_limit\.sbp_over_65: must lie in \[90, 250\] mmHg"),
    ({}, r"^design\.predose_bp_limit: state at least one limit"),
    ({"sbp": "140 mmHg", "dpb": "90 mmHg"}, r"^design\.predose_bp_limit\.dpb: unknown field \(did you mean 'dbp'\?\)$"),
    ("140/90 mmHg", r"^design\.predose_bp_limit: expected a mapping of fields, e\.g\. \{sbp: 140 mmHg"),
])
def test_bad_rules_are_one_line_errors(rule, match):
    with pytest.raises(InputError, match=match) as e:
        _sc({"predose_bp_limit": rule})
    assert "\n" not in str(e.value)
