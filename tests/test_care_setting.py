"""Care setting and treatment resistance as moderators of the non-specific response (issue 7).

Directions from the literature: placebo + in-patient standard-of-care arms improve a lot within a day and stay
improved (standard-of-care arms of in-patient suicidal-ideation trials), more than outpatient placebo arms;
surgery with perioperative care counts as an admission (Lii 2023's saline arm, a calibration trial, is not used
here); placebo arms of treatment-resistant trials improve less than those of non-TRD trials (Jones 2021: placebo
response 23.5 % in TRD vs 35-40 % in MDD trials). The care component is non-specific: it must not create a
drug-minus-placebo difference. The care state starts at trial entry and needs no session to persist.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

import ketasim
from ketasim.engine import run_arm
from ketasim.errors import InputError, KetasimError
from ketasim.population import sample_patients

from _support import line, params

N = 400
KET = line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")
SALINE = line("placebo", "iv-infusion", duration="40 min")
TIMES = np.array([0.0, 24.0, 7 * 24.0, 14 * 24.0, 56 * 24.0])


@lru_cache(maxsize=None)
def _improvement(care_setting: str, treatment_resistant: bool, series: bool = False):
    """Mean relative improvement (1 - score/baseline) at TIMES in the ketamine and the saline arm of a blinded
    trial, one infusion (or twice weekly for 4 weeks), same patients in every setting."""
    def arm(x):
        return [{**x, "every": "3.5 d", "count": 8} if series else x]

    sc = ketasim.scenario_from_dict({
        "name": "care", "arms": {"ketamine": arm(KET), "saline": arm(SALINE)},
        "population": {"size": N, "care_setting": care_setting, "treatment_resistant": treatment_resistant}})
    pts = sample_patients(sc.population, params(), 20261207, N)
    return {a.name: np.mean(1.0 - run_arm(a, sc.population, pts, TIMES, params=params(),
                                          experiment=sc.experiment).output("severity"), axis=0)
            for a in sc.arms}


@pytest.mark.parametrize("setting", ["inpatient", "perioperative"])
def test_hospital_care_improves_the_placebo_arm_over_the_first_two_weeks(setting):
    out, care = _improvement("outpatient", False), _improvement(setting, False)
    for j in (1, 2, 3):                                    # 24 h, 7 d, 14 d
        assert care["saline"][j] > out["saline"][j] + 0.03, (setting, j, care["saline"][j], out["saline"][j])


def test_care_fades_over_weeks():
    """The care component fades with its own half-life: what it adds at 8 weeks is smaller than at 1 week."""
    out, care = _improvement("outpatient", False), _improvement("inpatient", False)
    gain = care["saline"] - out["saline"]
    assert gain[4] < gain[2]


def test_care_persists_without_repeated_sessions():
    """One saline session: the in-patient arm's extra improvement at 14 d is still most of that at 24 h (the
    session's expectancy alone does not carry it: it needs renewal by sessions)."""
    out, care = _improvement("outpatient", False), _improvement("inpatient", False)
    gain = care["saline"] - out["saline"]
    assert gain[3] >= 0.5 * gain[1]


@pytest.mark.parametrize("series", [False, True])
def test_care_setting_does_not_create_a_drug_placebo_difference(series):
    """Relief multiplies: non-specific care can only shrink the room left for the drug, never add to the
    difference between arms (here at most 0.5 percentage points of baseline larger, for sampling)."""
    out, care = _improvement("outpatient", False, series), _improvement("inpatient", False, series)
    diff_out = out["ketamine"] - out["saline"]
    diff_care = care["ketamine"] - care["saline"]
    assert np.all(diff_care <= diff_out + 0.005), (diff_care, diff_out)


def test_treatment_resistant_placebo_arm_improves_less():
    trd, non = _improvement("outpatient", True), _improvement("outpatient", False)
    for j in (1, 2, 3):
        assert trd["saline"][j] < non["saline"][j], (j, trd["saline"][j], non["saline"][j])


def test_treatment_resistance_lowers_the_care_component_too():
    """The care component acts through the patient's own non-specific responsiveness, which TRD lowers."""
    gain_trd = _improvement("inpatient", True)["saline"] - _improvement("outpatient", True)["saline"]
    gain_non = _improvement("inpatient", False)["saline"] - _improvement("outpatient", False)["saline"]
    assert gain_trd[2] < gain_non[2]


def test_outpatient_is_the_default_and_expectancy_still_works():
    sc = ketasim.scenario_from_dict({"name": "d", "arms": {"a": [SALINE]}, "population": {"size": 3}})
    assert sc.population.care_setting == "outpatient"
    sc2 = ketasim.scenario_from_dict({"name": "d", "arms": {"a": [SALINE]},
                                      "population": {"size": 3, "expectancy": 2.0}})
    assert sc2.population.expectancy == 2.0 and sc2.population.care_setting == "outpatient"


def test_unknown_care_setting_is_refused_in_one_line():
    with pytest.raises(KetasimError) as e:
        ketasim.scenario_from_dict({"name": "d", "arms": {"a": [SALINE]},
                                    "population": {"size": 3, "care_setting": "icu"}})
    assert isinstance(e.value, InputError)
    msg = str(e.value)
    assert "population.care_setting" in msg and "\n" not in msg and "inpatient" in msg


def test_calibration_scenarios_state_their_care_setting_and_resistance():
    """Lii 2023 (surgery) is perioperative and Canuso 2018 (in-patient admission) in-patient, so each informs the
    other's cross-validation fold; neither carries the old expectancy 2 assumption; TRD flags as per the papers."""
    from importlib.resources import files

    def load(name):
        return ketasim.load_scenario(str(files("ketasim") / "data" / "calibration" / f"{name}.yaml"))

    lii, canuso = load("lii2023"), load("canuso2018")
    assert lii.population.care_setting == "perioperative" and canuso.population.care_setting == "inpatient"
    assert lii.population.expectancy == 1.0 and canuso.population.expectancy == 1.0
    expected_trd = {"berman2000": False, "canuso2018": False, "daly2018": True, "feder2021": False,
                    "glue2018": True, "lii2023": False, "murrough2013": True, "riva_posse2018": True,
                    "singh2016": True, "spravato_label": True, "spravato_label_over65": True, "taylor2018": False,
                    "transform": True}
    for name, trd in expected_trd.items():
        sc = load(name)
        assert sc.population.treatment_resistant is trd, name
        if name not in ("lii2023", "canuso2018"):
            assert sc.population.care_setting == "outpatient", name


def test_one_stated_patient_can_be_in_hospital_care():
    """The `patient:` section and the Python Patient take the same care_setting as a population (one line on error)."""
    from ketasim import Patient
    from ketasim.errors import InputError
    from ketasim.scenario import scenario_from_dict

    assert Patient(care_setting="inpatient").population_spec().care_setting == "inpatient"
    assert Patient().population_spec().care_setting == "outpatient"
    with pytest.raises(InputError, match="patient.care_setting"):
        Patient(care_setting="hospital")
    sc = scenario_from_dict({"name": "p", "patient": {"age_years": 40, "care_setting": "perioperative"},
                             "arms": {"saline": [{"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}]}})
    assert sc.population.care_setting == "perioperative"
