"""The first hours after an IV dose against the published models the disposition is built from (thirty-seventh session).

The parent's arterial distribution (v1, v2, q2, v3, q3) is Simons 2022's arterial S-ketamine model; a deep
compartment (pk.ketamine.q_deep, Perez-Ruixo 2021's flow) fills the rest of Fanta 2021's Vss. The reference file
holds what Simons' model and three venous-sampled popPK models predict after 0.5 mg/kg over 40 min (70 kg,
``Predicted C after 0.5 mg/kg/40 min (70 kg) - ...``), the times the antidepressant trials sampled.

* With the deep compartment closed, the model reproduces Simons' arterial curve (a check of the implementation and of
  the reading of the row).
* With it open (shipped), the deep compartment's intake lowers the arterial curve by 15-25 % over 40-120 min, the
  window Simons' model was fitted on, and the venous level 40 min after the infusion falls below all three venous
  models: strict xfails until the deep compartment is re-derived (NOTES.md, thirty-seventh session).

Predictions come out of the model; only the targets are published numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from _support import line, params, reference_rows, typical_traj

TIMES_MIN = (40, 80, 120, 230)
INFUSION = [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")]
ROW = "Predicted C after 0.5 mg/kg/40 min (70 kg) - "
SIMONS = "Simons S arterial (applied to racemic dose)"
VENOUS_MODELS = ("Clements250", "Fanta S (applied to racemic dose)", "Perez-Ruixo S approx (CL=109 L/h)")


def predicted(model: str) -> np.ndarray:
    """The reference row's four concentrations (ng/mL at 40/80/120/230 min)."""
    rows = {r["quantity"]: r for r in reference_rows()}
    row = rows[ROW + model]
    assert row["unit"] == "ng/mL at 40/80/120/230 min"
    return np.array([float(x) for x in row["value"].split("/")])


def curve(column: str, **overrides) -> np.ndarray:
    ps = params().with_literature(overrides) if overrides else None
    tr = typical_traj(INFUSION, np.array(TIMES_MIN) / 60.0, parameter_set=ps)   # 70-kg, 40-year-old man
    return tr[column].to_numpy()


def test_reference_rows_are_the_ones_quoted():
    np.testing.assert_allclose(predicted(SIMONS), [289, 63, 38, 21])
    assert [predicted(m)[1] for m in VENOUS_MODELS] == [85, 79, 66]


def test_without_the_deep_compartment_the_arterial_curve_is_simons_model():
    """Simons 2022's compartments alone (deep compartment closed) give its arterial prediction to within 3 %
    (rounded row; the model's S and R differ a little in clearance, R 0.873 x S)."""
    model = curve("ca_ketamine_ng_ml", **{"pk.ketamine.q_deep": 1e-6})
    np.testing.assert_allclose(model, predicted(SIMONS), rtol=0.03)


def test_the_deep_compartment_lowers_the_first_hours():
    """Direction and size of what the deep compartment does to the first hours (the diagnosis behind the xfails)."""
    open_, closed = curve("ca_ketamine_ng_ml"), curve("ca_ketamine_ng_ml", **{"pk.ketamine.q_deep": 1e-6})
    ratio = open_ / closed
    assert np.all(ratio < 0.90) and np.all(ratio > 0.70)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: the deep compartment (pk.ketamine.q_deep 37.6 L/h, Perez-Ruixo 2021's flow to its Vp2, moved onto Simons "
    "2022's arterial structure to reach Fanta 2021's Vss) takes up drug in the first hours and lowers the arterial curve "
    "by 15-25 % at 40-120 min, the window Simons' model describes (244 / 47 / 30 / 18.5 vs 289 / 63 / 38 / 21 ng/mL). "
    "A smaller flow alone cannot fix it: the terminal half-life leaves the 5.2-12 h band below ~15 L/h (q_deep 15: "
    "12.9 h, 80-min venous 60 ng/mL); a least-squares refit of v3, q3 and q_deep to Simons' curve with the half-life "
    "held in band still misses by 6-15 % (thirty-seventh session, NOTES.md)"))
def test_arterial_curve_follows_simons_model_in_the_first_hours():
    model = curve("ca_ketamine_ng_ml")
    assert np.all(np.abs(np.log(model / predicted(SIMONS))) <= math.log(1.15))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: 40 min after the end of 0.5 mg/kg over 40 min the model's venous level (53 ng/mL, typical 70-kg man) is "
    "below all three venous-sampled popPK models (Clements & Nimmo 1981 85, Fanta 2015 79, Perez-Ruixo 2021 66): "
    "the deep compartment's intake (see test_arterial_curve_follows_simons_model_in_the_first_hours). Closing it "
    "gives 68. The same gap shows in adult trauma patients' medians 30 min after 0.5 mg/kg IV (118 ng/mL, model "
    "87) and IM (147, model 106): the IM shortfall of the thirty-sixth session is the disposition, not IM F"))
def test_venous_level_after_the_infusion_within_the_venous_models():
    """Tolerance: 10 % outside the range of the three models at 80 min."""
    at80 = curve("cp_ketamine_ng_ml")[1]
    lows = [predicted(m)[1] for m in VENOUS_MODELS]
    assert 0.9 * min(lows) <= at80 <= 1.1 * max(lows)
