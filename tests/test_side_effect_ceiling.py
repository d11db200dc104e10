"""Side-effect peaks have a ceiling (twelfth session).

A patient's CADSS was cadss_max x dissociation_sensitivity x drive and the SBP, DBP and heart-rate rises
bp_sensitivity x Emax(C), with log-normal sensitivities (omega_dissociation 1.06, omega_bp 1.28) and no ceiling: after
0.5 mg/kg IV over 40 min 3 % of patients were rated above 92, the 23-item CADSS's maximum (up to 433), and the SBP
rise reached +360 mmHg in 2000 patients (+1100 after 2 mg/kg IV). Each is now bounded_rise(x, top) = top tanh(x/top)
of that unbounded value x: x for x << top, never above top. The tops: observation.cadss_scale_max (92, the scale),
pd.sbp.rise_max / pd.dbp.rise_max (61 / 36 mmHg: half of the pre-dose pressure, the Ketalar label's upper end at
induction doses) and pd.hr.rise_max (110/min: the heart-rate reserve).
"""

import warnings

import numpy as np
import pytest

import ketasim
from ketasim.errors import DoseWarning
from ketasim.parameters import load_parameters

CEILINGS = {"cadss": "observation.cadss_scale_max", "sbp_change_mmhg": "pd.sbp.rise_max",
            "dbp_change_mmhg": "pd.dbp.rise_max", "hr_change_bpm": "pd.hr.rise_max"}
UNITS = {"cadss": "dimensionless", "sbp_change_mmhg": "mmHg", "dbp_change_mmhg": "mmHg", "hr_change_bpm": "1/min"}
REGIMENS = {
    "0.5 mg/kg IV over 40 min": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                  "duration": "40 min"}],
    "1 mg/kg IV over 40 min, 6 infusions": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "1 mg/kg",
                                             "duration": "40 min", "every": "2.333 d", "count": 6}],
    "2 mg/kg IV bolus (anaesthetic induction)": [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "2 mg/kg"}],
    "1 mg/kg SC": [{"drug": "racemic-ketamine", "route": "sc", "dose": "1 mg/kg"}],
    "84 mg esketamine IN": [{"drug": "esketamine", "route": "intranasal", "dose": "84 mg"}],
}
TIMES = np.arange(0.0, 3.0, 1 / 30)


def _peaks(lines, params, size=400, typical=False, times=TIMES):
    with warnings.catch_warnings():      # 2 mg/kg IV is in the anaesthetic range: said, and meant here
        warnings.simplefilter("ignore", DoseWarning)
        sc = ketasim.scenario_from_dict({"name": "ceiling", "seed": 3, "population": {"size": size},
                                         "arms": {"k": lines}})
    tr = ketasim.simulate(sc, params, output_times_h=times, typical=typical).trajectories()
    return tr.groupby("subject")[list(CEILINGS)].max()


def _without_ceilings(params):
    return params.with_literature({name: 1e9 for name in CEILINGS.values()})


@pytest.mark.parametrize("regimen", list(REGIMENS))
def test_no_patient_passes_a_ceiling_whatever_the_route_and_dose(regimen):
    """No virtual patient is rated above 92 on the CADSS, nor has an SBP / DBP / heart-rate rise above its ceiling,
    after any of these regimens (up to the 2 mg/kg anaesthetic induction dose and a series of 1 mg/kg infusions)."""
    params = load_parameters()
    lines = REGIMENS[regimen]
    times = TIMES if "count" not in lines[0] else np.r_[TIMES, 5 * 56.0 + TIMES]
    peak = _peaks(lines, params, times=times)
    for col, name in CEILINGS.items():
        top = params.get(name, UNITS[col])
        assert peak[col].max() <= top, f"{col}: {(peak[col] > top).mean():.1%} of patients above {top}"
    assert params.get("observation.cadss_scale_max") == 92.0       # 23 items rated 0-4


def test_the_ceilings_remove_a_tail_that_exists():
    """The same patients without the ceilings (tops of 1e9: the model before) pass every one of them after the
    anaesthetic induction dose: the bounds above are the ceilings' doing, not a population too small to reach them."""
    params = load_parameters()
    peak = _peaks(REGIMENS["2 mg/kg IV bolus (anaesthetic induction)"], _without_ceilings(params))
    for col, name in CEILINGS.items():
        assert peak[col].max() > params.get(name, UNITS[col]), col


@pytest.mark.parametrize("regimen, tolerance", [("0.5 mg/kg IV over 40 min", 0.01), ("84 mg esketamine IN", 0.01),
                                                ("2 mg/kg IV bolus (anaesthetic induction)", 0.05)])
def test_the_typical_patient_is_nearly_unchanged(regimen, tolerance):
    """The typical patient's peaks move by less than 1 % at the therapeutic doses (CADSS 14.35 -> 14.24 after
    0.5 mg/kg IV; SBP 3.334 -> 3.331 mmHg) and less than 5 % at the induction dose (CADSS 29.8 -> 28.8). With the
    dissociation curve of the sixteenth session's fit (cadss_max 45.2, cadss_hill 3.72): the seventeenth session's
    fit (57.3, 4.98) puts the typical patient's uncapped peak nearer the scale (CADSS 37.9 at induction, capped 35.9:
    5.3 %), which tests the fit, not the ceiling."""
    params = load_parameters().with_free({"cadss_max": 45.16, "cadss_hill": 3.72}, "test", "test")
    after = _peaks(REGIMENS[regimen], params, typical=True).iloc[0]
    before = _peaks(REGIMENS[regimen], _without_ceilings(params), typical=True).iloc[0]
    for col in CEILINGS:
        assert before[col] > 0
        assert after[col] <= before[col]
        assert after[col] == pytest.approx(before[col], rel=tolerance), col


def test_the_ceilings_change_the_tail_not_the_middle():
    """After 0.5 mg/kg IV over 40 min the median patient's peaks move by less than 1 %; the mean CADSS peak loses
    the tail above the scale (22.4 -> 19.2 over 2000 patients, measured at the twelfth session's set), and the 99th
    percentile is now below 92. With a wide between-patient dissociation spread (omega_dissociation 1.1, about the
    fifteenth session's fit), so that the uncapped tail passes the scale whatever the shipped fit's spread."""
    params = load_parameters().with_free({"omega_dissociation": 1.1}, "test", "test")
    lines = REGIMENS["0.5 mg/kg IV over 40 min"]
    after = _peaks(lines, params, size=1000)
    before = _peaks(lines, _without_ceilings(params), size=1000)
    for col in CEILINGS:
        assert after[col].median() == pytest.approx(before[col].median(), rel=0.01), col
    assert before.cadss.quantile(0.99) > 92 > after.cadss.quantile(0.99)
    assert 0.75 * before.cadss.mean() < after.cadss.mean() < 0.95 * before.cadss.mean()
