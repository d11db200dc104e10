"""The first hours after an IV dose against the published models the disposition is built from (thirty-seventh session).

The parent's arterial distribution (v1, v2, q2, v3, q3) is Simons 2022's arterial S-ketamine model; a deep
compartment (pk.ketamine.vss, pk.ketamine.q_deep) adds the slow terminal phase. The reference file
holds what Simons' model and three venous-sampled popPK models predict after 0.5 mg/kg over 40 min (70 kg,
``Predicted C after 0.5 mg/kg/40 min (70 kg) - ...``), the times the antidepressant trials sampled.

* With the deep compartment closed, the model reproduces Simons' arterial curve (a check of the implementation and of
  the reading of the row).
* With it open (shipped), the deep compartment leaves that curve within a few per cent: benchmarks/fit_pk_deep.py
  fits its volume and flow to Simons' first hours and Fanta 2021's Vss and terminal half-life. Before the
  thirty-seventh session Perez-Ruixo's flow (37.6 L/h) on Simons' small arterial central compartment lowered the
  arterial curve by 15-25 % at 40-120 min and put the venous level 40 min after the infusion below all three venous
  models (NOTES.md).

Predictions come out of the model; only the targets are published numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from _support import REFERENCE_PK_CSV, line, params, reference_rows, typical_traj

TIMES_MIN = (40, 80, 120, 230)
INFUSION = [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")]
ROW = "Predicted C after 0.5 mg/kg/40 min (70 kg) - "
SIMONS = "Simons S arterial (applied to racemic dose)"
VENOUS_MODELS = ("Clements250", "Fanta S (applied to racemic dose)", "Perez-Ruixo S approx (CL=109 L/h)")


def predicted(model: str) -> np.ndarray:
    """The reference row's four concentrations (ng/mL at 40/80/120/230 min)."""
    found = reference_rows()
    if found is None:                       # the shared reference folder is not beside the repository
        pytest.skip(f"{REFERENCE_PK_CSV} is not present on this machine")
    rows = {r["quantity"]: r for r in found}
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


def test_the_deep_compartment_leaves_the_first_hours_alone():
    """The deep compartment (Fanta 2021's Vss and terminal half-life, fitted with Simons' curve by
    benchmarks/fit_pk_deep.py) takes up little in the first hours: the arterial curve with it is within 6 % of the
    curve without it. Before the thirty-seventh session (Perez-Ruixo's flow 37.6 L/h into 236 L on Simons' 11.6-L
    arterial central compartment) it was 15-25 % lower at 40-120 min."""
    open_, closed = curve("ca_ketamine_ng_ml"), curve("ca_ketamine_ng_ml", **{"pk.ketamine.q_deep": 1e-6})
    ratio = open_ / closed
    assert np.all(ratio <= 1.0) and np.all(ratio > 0.94)


def test_arterial_curve_follows_simons_model_in_the_first_hours():
    """Within 10 % of Simons 2022's arterial prediction at 40, 80, 120 and 230 min (the row is rounded; the model's R
    is cleared a little more slowly than S). Was a strict xfail (244 / 47 / 30 / 18.5 vs 289 / 63 / 38 / 21 ng/mL)
    until the deep compartment was refitted (thirty-seventh session)."""
    model = curve("ca_ketamine_ng_ml")
    assert np.all(np.abs(np.log(model / predicted(SIMONS))) <= math.log(1.10))


@pytest.mark.parametrize("k, minutes", [(1, 80), (2, 120), (3, 230)])
def test_venous_level_after_the_infusion_within_the_venous_models(k, minutes):
    """After the infusion the venous level lies within the three venous-sampled popPK models' range (Clements & Nimmo
    1981, Fanta 2015, Perez-Ruixo 2021; 80 min: 66-85, 120 min: 40-59, 230 min: 19-36 ng/mL), 10 % tolerance. Was a
    strict xfail at 80 min (53 ng/mL) until the deep compartment was refitted (thirty-seventh session)."""
    level = curve("cp_ketamine_ng_ml")[k]
    models = [predicted(m)[k] for m in VENOUS_MODELS]
    assert 0.9 * min(models) <= level <= 1.1 * max(models), (minutes, level, models)
