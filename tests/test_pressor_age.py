"""Age raises the systolic pressure rise (pd.age.pressor_shift_per_decade; thirty-fifth session): a literature
direction (Gen Hosp Psychiatry 2024, age OR 1.04 per year for an SBP surge during IV ketamine) with diastolic
pressure and heart rate unchanged (Franklin 1997: stiffer arteries raise systolic, not diastolic, pressure)."""

import math

import numpy as np
import pytest

from ketasim import scenario_from_dict
from ketasim.engine import simulate
from ketasim.parameters import load_parameters


def _run(age, size=1, typical=True, params=None):
    sc = scenario_from_dict({
        "name": "age", "seed": 5,
        "population": {"size": size, "age_years": {"mean": age, "sd": 0.01}, "baseline": {"mean": 33, "sd": 5}},
        "arms": {"k": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                        "duration": "40 min"}]},
        "endpoints": {"times": ["2 h"], "measures": ["mean"]}})
    return simulate(sc, params, typical=typical).trajectories()


def test_typical_patients_systolic_rise_scales_by_the_age_factor_and_nothing_else_moves():
    """Closed form on the typical patient (eta_bp 0) at 70 y: the rise before its ceiling (top x atanh(rise /
    top)) is exp(omega_bp s (70 - 45) / 10) times the same run's with the shift at 0, at every time; diastolic
    pressure and heart rate are identical with and without the shift."""
    p = load_parameters()
    s, ref, omega = (p.get("pd.age.pressor_shift_per_decade"), p.get("pd.age.reference_age", "year"),
                     p.free_value("omega_bp"))
    assert s > 0
    top = p.get("pd.sbp.rise_max", "mmHg")
    age = ref + 25.0
    with_age, without = _run(age, params=p), _run(age, params=p.with_literature({"pd.age.pressor_shift_per_decade": 0.0}))
    m = without["sbp_change_mmhg"].to_numpy() > 0.05
    x_with = top * np.arctanh(with_age["sbp_change_mmhg"].to_numpy()[m] / top)
    x_without = top * np.arctanh(without["sbp_change_mmhg"].to_numpy()[m] / top)
    assert m.sum() > 5
    np.testing.assert_allclose(x_with / x_without, math.exp(omega * s * 2.5), rtol=1e-6)
    for col in ("dbp_change_mmhg", "hr_change_bpm", "cp_ketamine_ng_ml"):
        np.testing.assert_array_equal(with_age[col].to_numpy(), without[col].to_numpy())
    # at the reference age the factor is 1
    np.testing.assert_allclose(_run(ref, params=p)["sbp_change_mmhg"].to_numpy(),
                               _run(ref, params=p.with_literature({"pd.age.pressor_shift_per_decade": 0.0}))
                               ["sbp_change_mmhg"].to_numpy(), rtol=1e-9)


def test_older_patients_have_more_large_systolic_rises_as_the_label_and_the_cohort_report():
    """Direction (label: SBP rise >= 40 mmHg in 17 % at >= 65 y vs 8 % below; the cohort's OR 1.04 per year):
    2,000 patients at 70 y have more rises >= 40 mmHg and a larger mean peak than 2,000 at 40 y, and the diastolic
    mean peak differs by less than the systolic one."""
    peaks = {}
    for age in (40.0, 70.0):
        df = _run(age, size=2000, typical=False)
        peaks[age] = df.groupby("subject")[["sbp_change_mmhg", "dbp_change_mmhg"]].max()
    young, old = peaks[40.0], peaks[70.0]
    assert (old.sbp_change_mmhg >= 40).mean() > 1.5 * (young.sbp_change_mmhg >= 40).mean()
    sbp_ratio = old.sbp_change_mmhg.mean() / young.sbp_change_mmhg.mean()
    dbp_ratio = old.dbp_change_mmhg.mean() / young.dbp_change_mmhg.mean()
    assert sbp_ratio > 1.5 and dbp_ratio < 1.25 and sbp_ratio > dbp_ratio + 0.3
