"""Intranasal esketamine in mg/kg is refused when read (forty-eighth session, H1; NOTES Known limits 27b).

The engine splits a nasal esketamine dose into 28-mg devices by its mg, and a dose in mg/kg there at the 70-kg
reference weight, not the patient's (engine._route_inputs, a model-identity source: 0.7 mg/kg at 80 kg, 56 mg, was
shared between two devices as 49 mg would be, 32 + 24 mg, not 28 + 28). The product is labelled and dispensed in
28-mg devices (28, 56 or 84 mg), so such a dose is refused with one line naming the field, from every entry point;
racemic intranasal ketamine in mg/kg (a compounded spray, no device rule) and esketamine by other routes in mg/kg
still run."""

from __future__ import annotations

import pytest
import yaml
from _support import one_error_line, run_cli

from ketasim.errors import InputError

REFUSAL = ("intranasal esketamine is given in 28-mg devices; give the dose in mg (28, 56 or 84), not mg/kg")


def _scenario(lines: list[dict], name: str = "esk") -> dict:
    return {"name": "s48-h1", "population": {"size": 4}, "arms": {name: lines}}


ESK_56 = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}
ESK_PER_KG = {"drug": "esketamine", "route": "intranasal", "dose": "0.8 mg/kg", "at": "3.5 d"}


def _write(tmp_path, mapping, name="s.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return p


# ---- the refusal, from a scenario file and from Python -------------------------------------------------------------
def test_a_scenario_file_with_intranasal_esketamine_in_mg_per_kg_is_refused_naming_the_line(tmp_path):
    from ketasim.scenario import load_scenario

    p = _write(tmp_path, _scenario([ESK_56, ESK_PER_KG]))
    with pytest.raises(InputError) as e:
        load_scenario(p)
    assert str(e.value) == f"arms.esk[1].dose: {REFUSAL}"


@pytest.mark.parametrize("drug, route, dose", [("spravato", "nasal", "0.8 mg/kg"), ("s-ketamine", "in", "1 mg/kg"),
                                               ("esketamine", "intranasal", "800 ug/kg")])
def test_the_refusal_covers_the_aliases_and_other_per_kg_spellings(drug, route, dose):
    from ketasim.scenario import scenario_from_dict

    with pytest.raises(InputError, match=r"^arms\.esk\[0\]\.dose: intranasal esketamine is given in 28-mg devices"):
        scenario_from_dict(_scenario([{"drug": drug, "route": route, "dose": dose}]))


def test_a_dose_built_in_python_is_refused_too():
    # every administration comes from a Dose: refused at construction, not only when read from a mapping
    from ketasim.regimen import Dose, Drug, Route

    with pytest.raises(InputError) as e:
        Dose(Drug.ESKETAMINE, Route.INTRANASAL, 0.8, True, field="line")
    assert str(e.value) == f"line.dose: {REFUSAL}"
    assert Dose(Drug.ESKETAMINE, Route.INTRANASAL, 56.0, False).amount == 56.0


def test_the_device_size_in_the_message_is_the_model_s():
    from ketasim import load_parameters
    from ketasim.regimen import INTRANASAL_ESKETAMINE_DEVICE_MG

    assert INTRANASAL_ESKETAMINE_DEVICE_MG == load_parameters().get("route.intranasal.device_mg", "mg")


# ---- what stays allowed -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("line", [
    {"drug": "racemic-ketamine", "route": "intranasal", "dose": "0.8 mg/kg"},       # compounded spray: no devices
    {"drug": "esketamine", "route": "iv-infusion", "dose": "0.2 mg/kg", "duration": "40 min"},
    {"drug": "esketamine", "route": "oral", "dose": "0.3 mg/kg"},
    {"drug": "esketamine", "route": "intranasal", "dose": "84 mg"},
])
def test_other_drugs_and_routes_in_mg_per_kg_and_nasal_esketamine_in_mg_are_read(line):
    from ketasim.scenario import scenario_from_dict

    sc = scenario_from_dict(_scenario([line]))
    d = sc.arms[0].doses[0]
    assert d.per_kg == line["dose"].endswith("mg/kg")


def test_racemic_intranasal_in_mg_per_kg_runs_from_the_command_line(tmp_path, capsys):
    p = _write(tmp_path, _scenario([{"drug": "racemic-ketamine", "route": "intranasal", "dose": "0.8 mg/kg"}],
                                   name="ket"))
    out = tmp_path / "traj.csv"
    code, _, err = run_cli(capsys, "simulate", p, "--typical", "--csv", out)
    assert code == 0, err
    assert out.exists() and out.stat().st_size > 0


# ---- the command line: one line, no traceback, nothing written --------------------------------------------------
@pytest.mark.parametrize("command", [["simulate", "{file}", "--typical", "--csv", "{out}/traj.csv"],
                                     ["trial", "{file}", "--json", "{out}/trial.json", "--report", "{out}/trial.html"]])
def test_the_command_line_refuses_a_scenario_in_one_line_and_writes_nothing(tmp_path, capsys, command):
    p = _write(tmp_path, _scenario([ESK_56, ESK_PER_KG]))
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run_cli(capsys, *(a.format(file=p, out=out) for a in command))
    assert code == 2
    assert one_error_line(err) == f"error: arms.esk[1].dose: {REFUSAL}"
    assert list(out.iterdir()) == []


def test_the_quick_form_refuses_names_dose_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "traj.csv"
    code, _, err = run_cli(capsys, "simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "0.8mg/kg",
                           "--weight", "80", "--csv", out)
    assert code == 2
    assert one_error_line(err) == f"error: --dose: {REFUSAL}"
    assert not out.exists()


def test_a_patient_record_row_is_refused_naming_its_unit_column(tmp_path, capsys):
    from _support import REPO

    src = (REPO / "examples" / "patient" / "patient_101.csv").read_text(encoding="utf-8")
    row = "101,84.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,"
    assert row in src
    rec = tmp_path / "rec.csv"
    rec.write_text(src.replace(row, "101,84.5,1,0.8,mg/kg,,esketamine,intranasal,"), encoding="utf-8")
    out = tmp_path / "traj.csv"
    code, _, err = run_cli(capsys, "simulate", "--events", rec, "--csv", out)
    assert code == 2
    assert one_error_line(err) == f"error: rec.csv row 7, column AMTU: {REFUSAL}"
    assert not out.exists()


# ---- the plan's candidates and the dashboard's form ----------------------------------------------------------------
def test_no_plan_candidate_gives_intranasal_esketamine_in_mg_per_kg():
    from ketasim.personal import DOSE_OPTIONS, EXPLICIT_DOSE_OPTIONS, OLDER_ADULT_ESKETAMINE_OPTIONS

    options = {**DOSE_OPTIONS, **EXPLICIT_DOSE_OPTIONS}
    nasal = options[("esketamine", "intranasal")] + OLDER_ADULT_ESKETAMINE_OPTIONS
    assert nasal and not any(per_kg for _, per_kg in nasal)
    assert all(amount % 28 == 0 for amount, _ in nasal)


def test_the_dashboard_form_shows_the_refusal_at_the_dose_box():
    pytest.importorskip("starlette")
    pytest.importorskip("plotly")
    from ketasim.web import api

    form = api.default_form()
    form["regimens"].append({"name": "esk", "enabled": True, "drug": "esketamine", "route": "intranasal",
                             "dose": "0.8", "dose_unit": "mg/kg", "every": "", "every_unit": "d", "count": "1"})
    with pytest.raises(api.FormErrors) as e:
        api.build(form)
    slot = len(form["regimens"]) - 1
    assert e.value.errors == [{"field": f"regimen.{slot}.dose", "message": f"arms.esk[0].dose: {REFUSAL}"}]


# ---- hints never suggest the refused unit (review of the forty-eighth session, M1) ----------------------------------


@pytest.mark.parametrize("drug, route, suggestion", [
    ("esketamine", "intranasal", "e.g. '0.8 mg'"),
    ("racemic-ketamine", "intranasal", "e.g. '0.8 mg/kg' or '0.8 mg'"),
])
def test_a_dose_without_unit_suggests_only_units_the_route_accepts(drug, route, suggestion):
    from ketasim.regimen import Dose

    with pytest.raises(InputError) as e:
        Dose.from_mapping({"drug": drug, "route": route, "dose": 0.8}, "arms.esk[0]")
    assert str(e.value).endswith(suggestion)


@pytest.mark.parametrize("amtu, expected", [
    ("", "the dose unit is missing; use mg"),
    ("mg/m2", "dosing per body surface area 'mg/m2' is not supported; use mg"),
])
def test_a_record_row_of_nasal_esketamine_with_a_bad_unit_suggests_mg_only(tmp_path, capsys, amtu, expected):
    from _support import REPO

    src = (REPO / "examples" / "patient" / "patient_101.csv").read_text(encoding="utf-8")
    row = "101,84.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,"
    rec = tmp_path / "rec.csv"
    rec.write_text(src.replace(row, f"101,84.5,1,56,{amtu},,esketamine,intranasal,"), encoding="utf-8")
    code, _, err = run_cli(capsys, "simulate", "--events", rec, "--csv", tmp_path / "traj.csv")
    assert code == 2
    assert one_error_line(err) == f"error: rec.csv row 7, column AMTU: {expected}"
