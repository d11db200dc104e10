"""Contact per visit (thirteenth session; issue 7 item 2, Posternak & Zimmerman 2007).

Posternak & Zimmerman 2007 (Br J Psychiatry 190:287, doi:10.1192/bjp.bp.106.028555): in 41 placebo-controlled
antidepressant trials an extra follow-up visit brought a further 0.86 (week 3) or 0.67 (week 5) HRSD points, two
extra visits twice as much ("cumulative and proportional"), in drug arms too. The model: every session adds
-ln(1 - v) / (care_expectancy x placebo_gain) to the care state (v = free: visit_relief, prior centre 0.03 of
baseline), which fades with care_t_half and relieves through the patient's own non-specific responsiveness. It is a
hypothesis, off by default (population.visit_contact: true switches it on; its refit cross-validation was no better
out of sample: NOTES.md, thirteenth session), so the helper below switches it on. These tests check that closed form
on the model's own trajectories, and the literature's direction (more visits, more relief; cumulative and
proportional; the same in a drug arm), with expectancy switched off (population.expectancy 0) so that a session's
only non-specific effect is its contact.
"""

import math

import numpy as np
import pytest

import ketasim
from ketasim.parameters import load_parameters

from _support import switched_calibration_scenarios, typical_nonspecific_trait

WEEK = 168.0
T_END = 6 * WEEK + 1.0          # one hour after the sixth week's visit time


def _severity(visits_weeks, params, drug=None, expectancy=0.0, treatment_resistant=False, visit_contact=True):
    """The typical patient's severity (fraction of baseline) at T_END with saline (or ``drug``) sessions at the given
    weeks; reference age, so the age factor is 1; not treatment resistant unless asked (a treatment-resistant
    population's non-specific responsiveness is pd.placebo.trd_ratio times lower)."""
    line = drug or {"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}
    arms = {"a": [dict(line, at=f"{w * WEEK} h") for w in visits_weeks]}
    sc = ketasim.scenario_from_dict({"name": "contact", "seed": 1, "arms": arms,
                                     "population": {"size": 1, "expectancy": expectancy,
                                                    "treatment_resistant": treatment_resistant,
                                                    "visit_contact": visit_contact,
                                                    "age_years": {"mean": params.get("pd.age.reference_age", "year")}}})
    tr = ketasim.simulate(sc, params, output_times_h=np.array([0.0, T_END]), typical=True).trajectories()
    return float(tr["severity"].iloc[-1])


def _decay_sum(visits_weeks, params):
    t_half = params.free_value("care_t_half", "h")
    return sum(2.0 ** (-(T_END - w * WEEK) / t_half) for w in visits_weeks)


def test_each_visit_relieves_as_the_closed_form_says():
    """With visits at weeks 0-5 vs none after entry's, the severity ratio is (1 - v)^(trait x sum of each visit's
    fading 2^(-(t - t_i)/care_t_half)): the model's trajectory against the closed form, to 1e-4."""
    params = load_parameters()
    v = params.free_value("visit_relief")
    assert 0.0 < v < 0.1
    six, one = [0, 1, 2, 3, 4, 5], [0]
    ratio = _severity(six, params) / _severity(one, params)
    expected = (1.0 - v) ** (typical_nonspecific_trait(params) * (_decay_sum(six, params) - _decay_sum(one, params)))
    assert ratio == pytest.approx(expected, rel=1e-4)
    assert ratio < 0.92                     # five extra visits are ~10 % of the score: a real effect, not rounding


def test_a_treatment_resistant_population_gains_less_per_visit():
    """The contact relieves through the patient's non-specific responsiveness, which is pd.placebo.trd_ratio (0.6)
    times lower in a treatment-resistant population: the log of the same ratio is that factor times smaller."""
    params = load_parameters()
    six, one = [0, 1, 2, 3, 4, 5], [0]
    mdd = math.log(_severity(six, params) / _severity(one, params))
    trd = math.log(_severity(six, params, treatment_resistant=True) / _severity(one, params, treatment_resistant=True))
    assert trd / mdd == pytest.approx(params.get("pd.placebo.trd_ratio"), rel=1e-4)


def test_extra_visits_are_cumulative_and_proportional():
    """Posternak & Zimmerman: two extra visits bring twice the reduction of one. Weekly visits (weeks 0-5) against a
    schedule missing week 3, and one missing weeks 3 and 5: the log-ratios are in proportion to each missing visit's
    fading weight (closed form), so the second missing visit costs about as much as the first (a little more: it is
    more recent)."""
    params = load_parameters()
    full, minus3, minus35 = [0, 1, 2, 3, 4, 5], [0, 1, 2, 4, 5], [0, 1, 2, 4]
    s_full, s3, s35 = (_severity(x, params) for x in (full, minus3, minus35))
    assert s_full < s3 < s35               # more visits, more relief
    one = math.log(s3 / s_full)
    two = math.log(s35 / s_full)
    t_half = params.free_value("care_t_half", "h")
    w3, w5 = (2.0 ** (-(T_END - w * WEEK) / t_half) for w in (3, 5))
    assert two / one == pytest.approx((w3 + w5) / w3, rel=1e-3)
    # about twice: the week-5 visit is two weeks less faded than the week-3 one, 2^(2 weeks / care_t_half) more
    assert 2.0 < two / one < 2.6


def test_without_the_contact_parameter_visits_bring_nothing_without_expectancy():
    """v = 0 (the model before): with expectancy off, saline visits leave the score where the natural course puts it,
    whatever their number: the relief above is the contact's doing."""
    params = load_parameters().with_free({"visit_relief": 0.0}, "t", "t")
    assert _severity([0, 1, 2, 3, 4, 5], params) == pytest.approx(_severity([0], params), rel=1e-9)


def test_a_drug_arm_gets_the_same_contact():
    """Posternak & Zimmerman found a comparable effect of visits in drug arms: with ketamine sessions the contact's
    share of the ratio (severity with v over without) is the same closed form as with saline."""
    params = load_parameters()
    off = params.with_free({"visit_relief": 0.0}, "t", "t")
    drug = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
    visits = [0, 1, 2]
    v = params.free_value("visit_relief")
    expected = (1.0 - v) ** (typical_nonspecific_trait(params) * _decay_sum(visits, params))
    ratio = _severity(visits, params, drug=drug) / _severity(visits, off, drug=drug)
    assert ratio == pytest.approx(expected, rel=1e-3)


def test_the_switch_gives_the_model_without_contact_and_reports_it():
    """population.visit_contact: false (the default) is the model without contact (the same trajectory as
    visit_relief 0, bit for bit, with expectancy on); the provenance and the report's table say which; a non-boolean
    value is refused in one line naming the field."""
    from ketasim.errors import InputError
    from ketasim.report import _provenance_table

    params = load_parameters()
    off = params.with_free({"visit_relief": 0.0}, "t", "t")
    visits = [0, 1, 2, 3]
    assert _severity(visits, params, expectancy=1.0, visit_contact=False) == _severity(visits, off, expectancy=1.0)
    assert _severity(visits, params, expectancy=1.0) < _severity(visits, off, expectancy=1.0)
    default = ketasim.scenario_from_dict({"name": "x", "arms": {"a": [{"drug": "placebo", "route": "iv-infusion"}]}})
    assert default.population.visit_contact is False           # a hypothesis, off by default
    prov = ketasim.simulate(default, typical=True, output_times_h=np.array([0.0, 1.0])).provenance
    assert prov["visit_contact"] is False
    assert "off (the default; population.visit_contact)" in _provenance_table(prov)
    assert "on (population.visit_contact: true" in _provenance_table({**prov, "visit_contact": True})
    with pytest.raises(InputError, match="population.visit_contact: must be true or false"):
        ketasim.scenario_from_dict({"name": "x", "population": {"visit_contact": "sometimes"},
                                    "arms": {"a": [{"drug": "placebo", "route": "iv-infusion"}]}})


def test_the_default_calibration_fits_visit_relief_only_where_a_scenario_switches_contact_on(tmp_path, monkeypatch):
    """No calibration scenario switches contact on, so no row informs visit_relief and a full calibration leaves it
    out (it stays at its prior centre, `fitted: false` in the shipped set); a copy of the scenarios with the switch on
    in TRANSFORM's puts it back."""
    from ketasim import calibration as cal

    assert "visit_relief" in cal.FITTED and "visit_relief" not in cal.default_fitted_names()
    # the switched parameters that are fitted are those of a hypothesis the calibration scenarios have on (since the
    # twenty-ninth session the releasable BDNF pool, on by default)
    assert cal.default_fitted_names() == [n for n in cal.FITTED if n not in cal.SCALE_FIXED
                                          and n not in cal.SOURCE_HELD and (n not in cal.SWITCHED_FITTED
                                                                            or n == "bdnf_pool_capacity")]
    switched_calibration_scenarios(tmp_path, monkeypatch, "transform.yaml", "visit_contact")
    assert "visit_relief" in cal.default_fitted_names()
    assert load_parameters().free["visit_relief"].value == pytest.approx(cal.FITTED["visit_relief"][3])
