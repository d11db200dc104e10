"""Age as a moderator of response (issue 7, item 3).

Direction from the literature: late-life depression responds less to antidepressants and to placebo, and the
drug-placebo difference is smaller (Nelson 2008, doi:10.1097/JGP.0b013e3181693288: response 44.4 vs 34.7 % at
age >= 60, against 53.8 vs 37.3 % in adults, Papakostas & Fava 2009). The model applies
pd.age.drug_decline_per_decade to the size of the drug-specific response (ketamine and a newly started oral
antidepressant) and pd.age.placebo_decline_per_decade to non-specific responsiveness. Checked here on the mean
MADRS change of the same virtual trial run in a younger (40 +- 4 y) and an older (72 +- 4 y) population, after one
infusion and after four weeks of twice-weekly esketamine with a new oral antidepressant (the design where repeated
sessions saturate the drug's drive).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

import ketasim
from ketasim.engine import run_arm
from ketasim.population import sample_patients

from _support import line, params

N = 600
DAY = 24.0


@lru_cache(maxsize=None)
def _change(design: str, age_mean: float) -> dict:
    """Mean MADRS change (points, negative = better) per arm at 24 h and 28 d."""
    if design == "single":
        arms = {"drug": [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")],
                "placebo": [line("placebo", "iv-infusion", duration="40 min")]}
    else:
        ad = {"drug": "oral-antidepressant", "route": "oral"}
        arms = {"drug": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d", "count": 8}, ad],
                "placebo": [{"drug": "placebo", "route": "intranasal", "every": "3.5 d", "count": 8}, ad]}
    sc = ketasim.scenario_from_dict({
        "name": "age", "arms": arms,
        "population": {"size": N, "treatment_resistant": True, "scale": "madrs",
                       "baseline": {"mean": 35.0, "sd": 5.0}, "age_years": {"mean": age_mean, "sd": 4.0}}})
    pts = sample_patients(sc.population, params(), 20261130, N)
    times = np.array([0.0, DAY, 28 * DAY])
    out = {}
    for a in sc.arms:
        sev = run_arm(a, sc.population, pts, times, params=params(), experiment=sc.experiment).output("severity")
        out[a.name] = np.mean((sev[:, 1:] - 1.0) * pts.baseline[:, None], axis=0)     # change at 24 h, 28 d
    return out


@pytest.mark.parametrize("design,j", [("single", 0), ("series", 0), ("series", 1)])
def test_the_drug_placebo_difference_is_smaller_in_older_patients(design, j):
    young, old = _change(design, 40.0), _change(design, 72.0)
    diff_young = young["drug"][j] - young["placebo"][j]
    diff_old = old["drug"][j] - old["placebo"][j]
    assert diff_young < 0.0 and diff_old < 0.0, (diff_young, diff_old)
    # Nelson 2008: 9.7 / 16.5 = 0.59 on the rate difference; require at least a tenth less on the mean difference
    assert abs(diff_old) < 0.9 * abs(diff_young), (design, j, diff_old, diff_young)


@pytest.mark.parametrize("design,j", [("single", 0), ("series", 1)])
def test_older_patients_improve_less_in_both_arms(design, j):
    young, old = _change(design, 40.0), _change(design, 72.0)
    for arm in ("drug", "placebo"):
        assert old[arm][j] > young[arm][j], (design, arm, old[arm][j], young[arm][j])
