"""One anesthetic-potency rule for the enantiomers (thirty-sixth session).

Before, the model's anesthesia flag summed venous S + R unweighted while the read-time dose warning counted parenteral
esketamine twice: an esketamine dose the warning called anesthetic left the flag off at the same exposure. Now both
weight R-ketamine by the NMDA affinity ratio Ki_S / Ki_R (pd.ki.*), the rule of the model's block and glutamate fall.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from ketasim import engine, load_parameters
from ketasim.errors import DoseWarning
from ketasim.regimen import Drug, anesthetic_potency
from ketasim.scenario import scenario_from_dict


def _flags(drug: str, dose_mg_kg: float) -> bool:
    """Does the typical patient's anesthesia flag rise after this IV bolus?"""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseWarning)   # the dose warning itself is tested below
        sc = scenario_from_dict({"name": "a", "population": {"size": 1}, "arms": {
            "a": [{"drug": drug, "route": "iv-bolus", "dose": f"{dose_mg_kg:.5f} mg/kg"}]},
            "output": {"every": "1 min", "until": "20 min"}})
        traj = engine.simulate(sc, typical=True).trajectories()
    return bool((traj["anesthesia"] > 0.5).any())


@functools.lru_cache(maxsize=None)
def _flag_threshold(drug: str) -> float:
    """The smallest IV bolus (mg/kg) at which the typical patient's anesthesia flag rises (bisection to 0.4 %)."""
    lo, hi = 0.2, 9.5
    assert not _flags(drug, lo) and _flags(drug, hi)
    while hi / lo > 1.004:
        mid = (lo * hi) ** 0.5
        lo, hi = (lo, mid) if _flags(drug, mid) else (mid, hi)
    return hi


def _warning_threshold(drug: str) -> float:
    """The smallest IV bolus (mg/kg) the read-time dose check calls anesthetic (bisection to 0.4 %)."""
    import warnings

    from ketasim.regimen import Dose, Route

    def warns(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DoseWarning)   # constructing the dose warns; its rule is asked directly
            return Dose(Drug(drug), Route.IV_BOLUS, x, per_kg=True).in_anesthetic_range()
    lo, hi = 0.05, 8.0
    while hi / lo > 1.002:
        mid = (lo * hi) ** 0.5
        lo, hi = (lo, mid) if warns(mid) else (mid, hi)
    return hi


def test_the_potency_is_the_nmda_affinity_rule():
    p = load_parameters()
    w = p.get("pd.ki.s_ketamine", "uM") / p.get("pd.ki.r_ketamine", "uM")
    assert anesthetic_potency(Drug.RACEMIC_KETAMINE) == 1.0
    assert anesthetic_potency(Drug.ESKETAMINE) == pytest.approx(2 / (1 + w))
    assert anesthetic_potency(Drug.ARKETAMINE) == pytest.approx(2 * w / (1 + w))
    # the sources bracket it: esketamine 1.5 x (S 3 x R, Doenicke 1992) to 2 x the racemate (label induction doses)
    assert 1.5 <= anesthetic_potency(Drug.ESKETAMINE) <= 2.0


@pytest.mark.parametrize("drug", ["esketamine", "arketamine"])
def test_the_flag_and_the_warning_judge_an_enantiomer_alike(drug):
    """The racemate-to-enantiomer ratio of threshold doses is the same for the model's flag (a concentration in the
    simulated patient) and the read-time warning (a dose rule): both at the potency, the flag within 5 % (R-ketamine
    is cleared a little more slowly than S, so a racemate's R runs slightly above its S)."""
    potency = anesthetic_potency(Drug(drug))
    flag_ratio = _flag_threshold("racemic-ketamine") / _flag_threshold(drug)
    warning_ratio = _warning_threshold("racemic-ketamine") / _warning_threshold(drug)
    assert warning_ratio == pytest.approx(potency, rel=0.005)
    assert flag_ratio == pytest.approx(potency, rel=0.05)
    # before this session the flag summed S + R: esketamine's ratio was ~1 against the warning's 2
    assert abs(np.log(flag_ratio / warning_ratio)) < 0.05
