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
