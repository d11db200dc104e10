"""Between-patient spread of the relief from a newly started oral antidepressant (ninth session): a hypothesis, off
by default (population.antidepressant_spread: true switches it on; its refit cross-validation fitted the calibration
trials better but predicted them worse out of sample, NOTES.md). These tests run it switched on.

The relief (``r_antidepressant``) also carries the non-specific part of starting a new treatment, so an
antidepressant arm without ketamine sessions must be as wide as antidepressant-trial arms are. Directions and bands
from the literature (none of these trials is a calibration target):

* antidepressant and placebo arms are equally dispersed: variance ratio (drug/placebo) of the baseline-to-endpoint
  change 1.00 (95 % CI 0.99-1.02) over 222 trials and 61 144 adults (Munkholm, Winkelbeiner & Homan 2020,
  doi:10.1371/journal.pone.0237950); 1.01 (0.99-1.02) over 163 trials (Ploederl & Hengartner 2019, BMJ Open,
  PMC7008413); a wide spread with that equal variance needs placebo response and drug response to be strongly
  correlated (Volkmann 2020, doi:10.1371/journal.pone.0241497), which the shared non-specific trait provides;
* the SD of the HAM-D change in an arm is ~7-8 points: pooled drug-placebo HAMD17 mean difference 1.97 (109
  trials) at a pooled SMD of 0.29 (253 trials) (Munkholm, Paludan-Mueller & Boesen 2019,
  doi:10.1136/bmjopen-2018-024886): 1.97 / 0.29 = 6.8 points; a paroxetine arm's MADRS change SD 10.6 (Szegedi
  2005, doi:10.1136/bmj.38356.655266.82), ~8 HAM-D17 points;
* remission (HAM-D17 <= 7) on a first SSRI 28 % (STAR*D level 1, citalopram: Trivedi 2006,
  doi:10.1176/appi.ajp.163.1.28; "closely resemble those seen in 8-week efficacy trials"), 17.6-24.8 % after one
  failed SSRI (level 2: Rush 2006 NEJM, doi:10.1056/NEJMoa052963), 12.3-19.8 % after two (level 3: Fava 2006,
  doi:10.1176/appi.ajp.163.7.1161).

The model's own arm: outpatients with major depression (not treatment resistant), HAM-D17 baseline 25 (SD 4),
a new oral antidepressant started at day 0, rated at 8 weeks.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

import ketasim
from ketasim.engine import PatientContext
from ketasim.errors import InputError
from ketasim.model import definition
from ketasim.population import sample_patients

from _support import params

N = 300
SEED = 20261202
#: antidepressant_emax of an arm without the drug-specific part (a placebo-like pill arm: it improves by roughly the
#: 7.8 of ~25 HRSD points of antidepressant-trial placebo arms, Kirsch 2008 doi:10.1371/journal.pmed.0050045)
PLACEBO_LIKE_EMAX = 0.2
#: the literature's range of the SD of change of an arm (HAM-D17 points; module docstring)
SD_RANGE = (6.0, 10.0)


def _scenario(size, trd=False, spread=True, trd_hypothesis=True):
    return ketasim.scenario_from_dict({
        "name": "antidepressant arm", "seed": SEED,
        "population": {"size": size, "condition": "depression", "treatment_resistant": trd, "scale": "hamd17",
                       "baseline": {"mean": 25, "sd": 4}, "antidepressant_spread": spread,
                       "antidepressant_trd": trd_hypothesis},
        "arms": {"ad": [{"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}]},
        "endpoints": {"times": ["56 d"], "measures": ["mean_change", "response_rate", "remission_rate"]}})


@lru_cache(maxsize=None)
def _arm(emax=None, trd=False, trd_hypothesis=True):
    """(change per patient (HAM-D17 points, observed ratings), baseline per patient, {measure: value}) at 8 weeks."""
    p = params() if emax is None else params().with_free({"antidepressant_emax": emax}, "test", "test")
    tr = ketasim.run_trial(_scenario(N, trd, trd_hypothesis=trd_hypothesis), p)
    o = tr.outcomes["ad"]
    table = tr.table()
    values = {r.measure: float(r.value) for r in table.itertuples() if r.arm == "ad"}
    return o.rating[:, -1] - o.baseline, o.baseline, values


def _relief(p, patients, spec):
    """The per-patient parameter ``antidepressant_emax`` (relief at full onset) as the model derives it."""
    q = {x.name: x for x in definition.PATIENT}["antidepressant_emax"]
    return np.asarray(q.derive(PatientContext(p, spec, patients, None)), float)


def _normal_response(change, baseline, sd):
    """Response rate (%) if each patient's change were normal around the arm's mean change with SD ``sd``."""
    m = -float(np.mean(change))
    return 100.0 * float(np.mean(norm.sf((0.5 * baseline - m) / sd)))


def test_typical_patient_gets_exactly_antidepressant_emax():
    """The spread must not move the typical patient: non-specific trait 1 at the reference age (age factor 1) gives
    relief antidepressant_emax, and a higher trait gives more (the same direction as the placebo response)."""
    sc = _scenario(3)
    pts = sample_patients(sc.population, params(), SEED, 3)
    ref_age = params().get("pd.age.reference_age", "year")

    def trait(eta):
        one = dataclasses.replace(pts, eta_placebo=np.full(3, eta), age_years=np.full(3, ref_age))
        return float(definition._nonspecific_trait(PatientContext(params(), sc.population, one, None))[0])

    eta1 = brentq(lambda e: trait(e) - 1.0, -2.0, 2.0, xtol=1e-14)
    etas = np.array([eta1, eta1 + 0.5, eta1 + 1.5])
    typical = dataclasses.replace(pts, eta_placebo=etas, age_years=np.full(3, ref_age))
    r = _relief(params(), typical, sc.population)
    assert r[0] == pytest.approx(params().free_value("antidepressant_emax"), rel=1e-9)
    assert r[0] < r[1] < r[2]


@pytest.mark.parametrize("emax", [None, 0.6])     # the fitted value and the upper bound of its calibration range
def test_relief_stays_a_fraction_for_every_patient(emax):
    """Relief is a fraction of the score (symptom_target multiplies 1 - relief): 0 <= relief <= 1 for every patient,
    also for young patients (age factor > 1 below the reference age) with a high non-specific trait."""
    p = params() if emax is None else params().with_free({"antidepressant_emax": emax}, "test", "test")
    for age in ({"mean": 45, "sd": 12}, {"mean": 19, "sd": 1}):
        sc = ketasim.scenario_from_dict({"name": "relief", "population": {"size": 4000, "age_years": age,
                                                                         "antidepressant_spread": True},
                                         "arms": {"ad": [{"drug": "oral-antidepressant", "route": "oral"}]}})
        r = _relief(p, sample_patients(sc.population, p, SEED, 4000), sc.population)
        assert np.all(r >= 0.0) and np.all(r <= 1.0)


def test_sd_of_change_is_as_wide_as_antidepressant_trial_arms():
    """SD of the 8-week HAM-D17 change within the literature's ~7-8 points (module docstring: 6.8 from the pooled
    mean difference / SMD; ~8 from a paroxetine arm's MADRS SD 10.6). The shipped model's same-for-everyone relief
    gave ~5."""
    change, _, _ = _arm()
    sd = float(np.std(change, ddof=1))
    assert SD_RANGE[0] <= sd <= SD_RANGE[1]


def test_remission_is_that_of_a_first_antidepressant():
    """Remission (HAM-D17 <= 7) of a first antidepressant: STAR*D level 1 28 % (Trivedi 2006), and not below the
    17.6 % of the weakest level-2 switch (Rush 2006 NEJM) -> at least 15 % (2 sampling SEs below 17.6 % at N = 300 is
    ~13 %); at most 45 % (above STAR*D level 1's 36.8 % QIDS-SR remission, Rush 2006 AJP
    doi:10.1176/ajp.2006.163.11.1905, with room for efficacy-trial samples). The shipped model gave 7-10 %."""
    _, _, v = _arm()
    assert 15.0 <= v["remission_rate"] <= 45.0


@pytest.mark.parametrize("emax", [None, PLACEBO_LIKE_EMAX])
def test_response_rate_at_its_mean_change(emax):
    """At the arm's own mean change, the response rate (>= 50 % improvement) lies between what a normal spread of
    change with the literature's smallest and largest SD (SD_RANGE) gives, +- 2 sampling SEs. A spread as narrow as
    the shipped model's (SD ~4-5) gives too few responders whenever the mean improvement is well below 50 %
    (shipped model, placebo-like arm: 3-5 % response at a mean change of about -6 points)."""
    change, base, v = _arm(emax)
    low, high = _normal_response(change, base, SD_RANGE[0]), _normal_response(change, base, SD_RANGE[1])
    se = 100.0 * np.sqrt(0.25 / N)
    assert min(low, high) - 2 * se <= v["response_rate"] <= max(low, high) + 2 * se


def test_antidepressant_arm_is_not_less_dispersed_than_a_placebo_like_arm():
    """Variance ratio of the change, drug arm / the same pill without the drug-specific part: ~1 (Munkholm 2020:
    1.00, 0.99-1.02; Ploederl & Hengartner 2019: 1.01). Same patients in both arms; band 0.79-1.26 (2 sampling SEs
    of the log variance ratio at N = 300). The shipped model's proportional relief gave 1.5-1.8."""
    drug, _, _ = _arm()
    pill, _, _ = _arm(PLACEBO_LIKE_EMAX)
    vr = float(np.var(drug, ddof=1) / np.var(pill, ddof=1))
    assert 0.79 <= vr <= 1.26


@pytest.mark.parametrize("trd_hypothesis", [
    True, pytest.param(False, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
        "by default (population.antidepressant_trd false) a newly started antidepressant relieves treatment-resistant "
        "patients as much as others: with the STAR*D ratio on, the refit could not reproduce TRANSFORM's placebo + "
        "new antidepressant arms (in-sample J +60, twelfth session, NOTES.md), so it is a hypothesis")))])
def test_remission_on_a_new_antidepressant_is_lower_after_failed_treatments(trd_hypothesis):
    """STAR*D HAM-D17 remission of a new antidepressant: 28 % at level 1 (Trivedi 2006), 17.6-24.8 % at level 2
    (Rush 2006 NEJM), 12.3-19.8 % at level 3 (Fava 2006): a treatment-resistant arm should remit clearly less (here:
    by at least a quarter), and not less than level 4 does (6.9-13.7 %, McGrath 2006 doi:10.1176/ajp.2006.163.9.1531;
    ratio to level 1 0.36, here at least 0.3). The model's treatment resistance lowers the relief by
    pd.antidepressant.trd_ratio with population.antidepressant_trd (off: 28 % against 29 %)."""
    _, _, first = _arm()
    _, _, trd = _arm(None, True, trd_hypothesis)
    assert 0.3 * first["remission_rate"] <= trd["remission_rate"] <= 0.75 * first["remission_rate"]


def test_treatment_resistance_scales_the_relief_of_every_patient():
    """Direction and size of the moderator: for the same patients, a treatment-resistant population's relief is
    pd.antidepressant.trd_ratio (< 1) x that of a population that is not (spread off, the default: exactly; spread on:
    the typical patient's), and the 8-week improvement is smaller; with the ratio set to 1 both are the same."""
    p = params()
    ratio = p.get("pd.antidepressant.trd_ratio")
    assert 0.0 < ratio < 1.0
    for spread in (False, True):
        first, trd = _scenario(200, spread=spread).population, _scenario(200, trd=True, spread=spread).population
        pts = sample_patients(first, p, SEED, 200)
        r_first, r_trd = _relief(p, pts, first), _relief(p, pts, trd)
        if not spread:
            assert np.allclose(r_trd, ratio * r_first, rtol=1e-12)
        assert np.all(r_trd < r_first)
        same = p.with_literature({"pd.antidepressant.trd_ratio": 1.0})
        assert np.array_equal(_relief(same, pts, trd), _relief(same, pts, first))
        off = _scenario(200, trd=True, spread=spread, trd_hypothesis=False).population
        assert np.array_equal(_relief(p, pts, off), r_first)          # the hypothesis off: no moderator
    c_first, _, _ = _arm()
    c_trd, _, _ = _arm(None, True)
    assert float(np.mean(c_trd)) > float(np.mean(c_first)) + 1.0       # HAM-D17 points: less improvement


def test_off_by_default_every_patient_gets_the_same_fraction():
    """Default (population.antidepressant_spread false): the relief is antidepressant_emax x the age factor for every
    patient, whatever the non-specific trait; a non-boolean switch is refused in one line naming the field."""
    sc = _scenario(200, spread=False)
    assert sc.population.antidepressant_spread is False
    pts = sample_patients(sc.population, params(), SEED, 200)
    ref_age = params().get("pd.age.reference_age", "year")
    same_age = dataclasses.replace(pts, age_years=np.full(200, ref_age))
    r = _relief(params(), same_age, sc.population)
    assert np.allclose(r, params().free_value("antidepressant_emax"), rtol=1e-12)
    with pytest.raises(InputError, match="population.antidepressant_spread"):
        ketasim.scenario_from_dict({"name": "x", "population": {"antidepressant_spread": "sometimes"},
                                    "arms": {"a": [{"drug": "oral-antidepressant", "route": "oral"}]}})
    default = ketasim.scenario_from_dict({"name": "x", "arms": {"a": [{"drug": "oral-antidepressant", "route": "oral"}]}})
    assert default.population.antidepressant_trd is False
    with pytest.raises(InputError, match="population.antidepressant_trd: must be true or false"):
        ketasim.scenario_from_dict({"name": "x", "population": {"antidepressant_trd": "sometimes"},
                                    "arms": {"a": [{"drug": "oral-antidepressant", "route": "oral"}]}})


def test_reports_say_whether_the_hypothesis_is_on():
    """Provenance carries the switch, and the report's provenance table states it like the other hypotheses."""
    from ketasim.report import _provenance_table

    on = ketasim.simulate(_scenario(2)).provenance
    assert on["antidepressant_spread"] is True
    assert "population.antidepressant_spread: true" in _provenance_table(on)
    assert "off (the default; population.antidepressant_spread)" in _provenance_table({**on, "antidepressant_spread": False})
    assert on["antidepressant_trd"] is True and "population.antidepressant_trd: true" in _provenance_table(on)
    assert "off (the default; population.antidepressant_trd)" in _provenance_table({**on, "antidepressant_trd": False})
