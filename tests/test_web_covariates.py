"""The dashboard's covariate panel (/api/covariates): this patient with one covariate changed at a time, against the
patient's own values; the answer is ketasim.covariates' rows for the typical patient, with a forest figure."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
pytest.importorskip("plotly")

from ketasim.covariates import run_covariates  # noqa: E402
from ketasim.web import api  # noqa: E402


def _value(out, contrast, endpoint, analyte=""):
    rows = [r for r in out["rows"] if r["contrast"] == contrast and r["endpoint"] == endpoint
            and r["analyte"] == analyte]
    assert len(rows) == 1, (contrast, endpoint)
    return rows[0]["value"]


def test_panel_compares_this_patient_with_one_thing_changed():
    form = api.default_form()
    form["patient"]["age_years"] = 35
    form["patient"]["weight_kg"] = 70
    out = api.covariates_form(form)
    json.dumps(out, allow_nan=False)
    contrasts = list(dict.fromkeys(r["contrast"] for r in out["rows"]))
    assert "age 55 vs 35 y" in contrasts and "weight 52.5 vs 70 kg" in contrasts and "+ rifampicin" in contrasts
    an = out["analyte"]
    assert _value(out, "+ rifampicin", "auc_0_inf", an) < 1.0 < _value(out, "+ clarithromycin", "auc_0_inf", an)
    # the same numbers as the library's for the form's scenario (nothing computed twice differently)
    b = api.build(form)
    lib = run_covariates(b.scenario, contrasts=["comedication=rifampicin"], endpoints=["auc_0_inf"], typical=True)
    assert lib.table()["value"].iloc[0] == pytest.approx(_value(out, "+ rifampicin", "auc_0_inf", an), rel=1e-12)
    assert [t["type"] for t in out["figure"]["data"]] == ["scatter"] * len(out["endpoints"])
    assert out["provenance"]["typical"] is True and out["arm"] == b.scenario.arms[0].name


def test_a_comedication_the_patient_takes_is_not_offered_again_and_old_patients_look_younger():
    form = api.default_form()
    form["patient"]["comedications"] = ["rifampicin"]
    form["patient"]["age_years"] = 80
    out = api.covariates_form(form)
    contrasts = {r["contrast"] for r in out["rows"]}
    assert "+ rifampicin" not in contrasts and "age 60 vs 80 y" in contrasts


def test_invalid_form_gives_field_errors():
    form = api.default_form()
    form["patient"]["age_years"] = 7
    with pytest.raises(api.FormErrors) as e:
        api.covariates_form(form)
    assert any(err["field"] == "patient.age_years" for err in e.value.errors)


@pytest.mark.parametrize("field, value", [("age_years", 95), ("age_years", 16), ("weight_kg", 250), ("weight_kg", 20)])
def test_patients_at_the_edges_of_the_form_get_their_effects(field, value):
    """Review R3-1: one patient may be 12-100 y and 20-250 kg; the card refused 95 and 16 y (a population's 18-90)
    and failed at 20 and 250 kg (a quarter lighter or heavier clamped to the patient's own weight)."""
    form = api.default_form()
    form["patient"][field] = value
    out = api.covariates_form(form)
    contrasts = {r["contrast"] for r in out["rows"]}
    if field == "age_years":
        assert f"age {value + 20 if value < 70 else value - 20} vs {value} y" in contrasts
    else:
        assert sum(c.startswith("weight ") for c in contrasts) == 1
