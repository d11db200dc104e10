"""Age inclusion range (``population.age_years: {mean, sd, min, max}``): a truncated normal, deterministic for a seed;
without a range the sampled ages are exactly those of before."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm, truncnorm

from ketasim.errors import InputError
from ketasim.parameters import load_parameters
from ketasim.population import Distribution, PopulationSpec, patient_draws, as_seed_sequence, sample_patients
from ketasim.scenario import quick_scenario, scenario_from_dict

ARMS = {"k": [{"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "duration": "40 min"}]}


def _spec(age, size=5000):
    return scenario_from_dict({"name": "age", "population": {"size": size, "age_years": age}, "arms": ARMS}).population


def test_every_sampled_age_lies_in_the_range_and_is_deterministic():
    p = load_parameters()
    spec = _spec({"mean": 70, "sd": 5, "min": 65, "max": 86})
    a = sample_patients(spec, p, 11).age_years
    assert a.min() >= 65 and a.max() <= 86
    assert np.array_equal(a, sample_patients(spec, p, 11).age_years)
    # truncated, not clipped: no pile-up at the bounds, and the mean shifts inside the range
    assert np.mean(a < 65.5) < 0.05 and 70 < a.mean() < 73
    # a chunk of the population has the same patients
    assert np.array_equal(a[100:300], sample_patients(spec, p, 11, n=200, start=100).age_years)
    only_min = sample_patients(_spec({"mean": 40, "sd": 15, "min": 30}), p, 3).age_years
    assert only_min.min() >= 30 and only_min.max() <= 90


def test_no_range_gives_the_same_ages_as_before():
    p = load_parameters()
    plain = _spec({"mean": 45, "sd": 12})
    assert plain.age_years == Distribution(45.0, 12.0)
    a = sample_patients(plain, p, 7).age_years
    # the rule before this change: the patient's own normal draw through the normal truncated to 18-90 years
    z = patient_draws(as_seed_sequence(7), "age_years", "normal", 0, plain.size)
    old = truncnorm.ppf(norm.cdf(z), (18 - 45) / 12, (90 - 45) / 12, loc=45, scale=12)
    assert np.array_equal(a, old)
    assert np.array_equal(a, sample_patients(_spec({"mean": 45, "sd": 12, "min": 18, "max": 90}), p, 7).age_years)
    default = sample_patients(PopulationSpec(size=50), p, 7)
    assert np.array_equal(default.age_years, sample_patients(_spec({"mean": 45, "sd": 12}, 50), p, 7).age_years)


@pytest.mark.parametrize("age, field", [
    ({"mean": 70, "sd": 5, "min": 86, "max": 65}, "population.age_years.min"),
    ({"mean": 70, "sd": 5, "min": 70, "max": 70}, "population.age_years.min"),
    ({"mean": 50, "sd": 5, "min": 65, "max": 86}, "population.age_years.mean"),
    ({"mean": 70, "sd": 5, "min": 65, "max": 95}, "population.age_years.max"),
    ({"mean": 30, "sd": 5, "min": 12, "max": 40}, "population.age_years.min"),
    ({"mean": 70, "sd": 5, "min": "old"}, "population.age_years.min"),
    ({"mean": 70, "sd": 5, "lower": 65}, "population.age_years.lower"),
])
def test_bad_range_is_one_line_naming_the_field(age, field):
    with pytest.raises(InputError) as e:
        _spec(age)
    assert str(e.value).startswith(field) and "\n" not in str(e.value), str(e.value)


def test_quick_form_age_range():
    sc = quick_scenario("esketamine", "intranasal", "56 mg", size=100, age_range="65-86")
    assert sc.population.age_years == Distribution(75.5, 12.0, 65.0, 86.0)
    ages = sample_patients(sc.population, load_parameters(), 0).age_years
    assert ages.min() >= 65 and ages.max() <= 86
    assert quick_scenario("esketamine", "intranasal", "56 mg", size=10, age_years=70,
                          age_range="65 to 86").population.age_years.mean == 70
    for bad in ("86-65", "sixty"):          # from Python: the arguments (the CLI's --age-range, --age: s41)
        with pytest.raises(InputError, match="^age_range: "):
            quick_scenario("esketamine", "intranasal", "56 mg", size=10, age_range=bad)
    with pytest.raises(InputError, match="^age_years: "):
        quick_scenario("esketamine", "intranasal", "56 mg", size=10, age_years=40, age_range="65-86")
