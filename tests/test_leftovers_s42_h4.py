"""Forty-second session, H4: the forty-first session's found-not-fixed items (NOTES, /work/coord/s41/H1_log.md and
H4_log.md): the cumulative anesthetic check from Python, run_trial's prediction-interval options, the plan's
two-ID records, window text and comedication names, units of the sessions table, option-named output-path errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from _support import ADDS_UP, PUSHES, dose_warnings, run_cli

from ketasim.errors import InputError, InvalidRegimenError

ROOT = Path(__file__).resolve().parents[1]

_PUSHES, _ADDS_UP, _dose_warnings = PUSHES, ADDS_UP, dose_warnings     # tests/_support.py


# ---- 1. the cumulative anesthetic check from Python ------------------------------------------------------------------
def test_simulate_from_python_warns_of_doses_that_add_up_to_the_anesthetic_range():
    from ketasim import scenario_from_dict, simulate

    sc = scenario_from_dict(_PUSHES)
    res, caught = _dose_warnings(lambda: simulate(sc, typical=True))
    assert [str(w.message)[:len(_ADDS_UP)] for w in caught] == [_ADDS_UP]     # one, and not the infusion arm
    assert caught[0].filename == __file__                                      # points at the caller's line
    assert len(res.runs) == 2
    _, none = _dose_warnings(lambda: simulate(sc, typical=True, anesthetic_check=False))
    assert none == []
    with pytest.raises(InputError, match="^anesthetic_check: expected True or False, got str 'no'"):
        simulate(sc, typical=True, anesthetic_check="no")


def test_run_trial_from_python_warns_once():
    from ketasim import run_trial, scenario_from_dict

    sc = scenario_from_dict(_PUSHES)
    tr, caught = _dose_warnings(lambda: run_trial(sc, n=3))
    assert [str(w.message)[:len(_ADDS_UP)] for w in caught] == [_ADDS_UP]
    assert caught[0].filename == __file__
    assert set(tr.outcomes) == {"pushes", "infusion"}
    _, none = _dose_warnings(lambda: run_trial(sc, n=3, anesthetic_check=False))
    assert none == []


def test_absurd_doses_are_refused_from_python_as_on_the_command_line():
    from ketasim import scenario_from_dict

    bad = {**_PUSHES, "arms": {"a": [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "20 mg/kg"}]}}
    with pytest.raises(InvalidRegimenError, match=r"^arms\.a\[0\]\.dose: 20 mg/kg of racemic-ketamine is refused"):
        scenario_from_dict(bad)


@pytest.mark.parametrize("command", [("simulate", "--typical"), ("trial", "--size", "3"),
                                     ("power", "--sizes", "3", "--replicates", "100", "--pool", "3", "--no-progress",
                                      "--endpoint", "mean_change@24h")])
def test_the_command_line_warns_once(capsys, tmp_path, command):
    import yaml

    path = tmp_path / "pushes.yaml"
    path.write_text(yaml.safe_dump(_PUSHES), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, command[0], path, *command[1:])
    assert code == 0
    assert err.count("anesthetic range") == 1, err
    assert f"warning: {_ADDS_UP}" in err


# ---- 2. run_trial's prediction-interval options without uncertainty --------------------------------------------------
def _design():
    from ketasim import load_scenario

    return load_scenario(ROOT / "examples" / "design_example.yaml")


@pytest.mark.parametrize("kw,says", [
    (dict(between_trial=False), "between_trial=False: only with uncertainty=N (without posterior draws the intervals "
                                "carry no between-trial heterogeneity anyway)"),
    (dict(draw_seed=3), "draw_seed: only with uncertainty=N (it seeds the posterior draws"),
    (dict(between_trial="no"), "between_trial: expected True or False, got str 'no'"),
    (dict(draw_seed=-1), "draw_seed: must lie in 0-"),
    (dict(log=5), "log: expected a function of one line of text, got int"),
])
def test_run_trial_checks_its_interval_options_without_uncertainty(monkeypatch, kw, says):
    """run_trial(sc, between_trial=False) ran a plain trial (between_trial="no" too) while `ketasim trial
    --no-between-trial` without --uncertainty is refused; checked before anything runs."""
    from ketasim import run_trial, trial

    monkeypatch.setattr(trial, "_run_trial", lambda *a, **k: pytest.fail("ran before checking"))
    with pytest.raises(InputError) as e:
        run_trial(_design(), n=4, **kw)
    assert str(e.value).startswith(says), str(e.value)


def test_qualify_external_checks_between_trial_as_run_trial(tmp_path):
    from ketasim.external import qualify_external

    for kw, says in ((dict(between_trial=False), "between_trial=False: only with uncertainty=N"),
                     (dict(between_trial="no"), "between_trial: expected True or False, got str")):
        with pytest.raises(InputError) as e:
            qualify_external(tmp_path, **kw)
        assert str(e.value).startswith(says), str(e.value)


def test_the_command_line_names_its_options(capsys):
    from ketasim.errors import command_line
    from ketasim.trial import check_uncertainty_options

    with command_line(), pytest.raises(InputError, match=r"^--no-between-trial: only with --uncertainty N"):
        check_uncertainty_options(0, False, 0)
    assert check_uncertainty_options(5, False, 2) == (False, 2)        # with draws: as given


# ---- 3. a record of two patients on the plan page, the command line and Python ---------------------------------------
def _two_patients() -> str:
    lines = (ROOT / "examples" / "patient" / "patient_101.csv").read_text().splitlines()
    return "\n".join(lines + [ln.replace("101,", "102,", 1) for ln in lines[1:]]) + "\n"


def test_the_plan_page_chooses_one_patient_of_a_record_as_the_command_line_does(capsys, tmp_path):
    """The page said "choose one with patient_id" and had no such field: it has one now, sent as the form's
    patient_id, and an ID not in the record names the field and the IDs there are."""
    from ketasim.web import api

    with pytest.raises(InputError, match=r"^record row 19, column ID: a second patient ID \(102\) after 101; give one "
                                         r"patient per record \(or choose one with patient_id\)$"):
        api.plan_form({"record": _two_patients()})
    with pytest.raises(InputError, match=r"^record: no rows with ID 7 \(patient_id\); its IDs: 101, 102$"):
        api.plan_form({"record": _two_patients(), "patient_id": "7"})
    page = api.plan_form({"record": _two_patients(), "patient_id": " 102 "})["result"]
    assert page["patient"]["id"] == "102"
    static = Path(api.__file__).parent / "static"
    assert 'id="patient-id"' in (static / "plan.html").read_text()
    assert 'patient_id: $("#patient-id").value' in (static / "plan.js").read_text()
    # the command line: the same patient's plan with --id
    two = tmp_path / "two.csv"
    two.write_text(_two_patients(), encoding="utf-8")
    code, _, err = run_cli(capsys, "plan", two)
    assert code == 2 and "two.csv row 19, column ID: a second patient ID (102) after 101" in err and "--id" in err
    out = tmp_path / "p.json"
    code, _, _ = run_cli(capsys, "plan", two, "--id", "102", "--json", out)
    import json

    cli = json.loads(out.read_text())
    assert code == 0 and cli["patient"]["id"] == "102"
    assert cli["plans"][0]["regimen"] == page["plans"][0]["regimen"]


# ---- 4. the plan's target text for a window shorter than a week ------------------------------------------------------
@pytest.mark.parametrize("window, text, visits", [
    ("1 d:3 d", "MADRS <= 10 at the visit on day 1 after the last observation (the only weekly visit in the window "
                "from day 1 to day 3)", [24.0]),
    ("6 d:8 d", "MADRS <= 10 at the visit on day 6 after the last observation (the only weekly visit in the window "
                "from day 6 to day 8)", [144.0]),
    ("1 week:4.5 week", "MADRS <= 10 at every weekly visit from day 7 to day 28 after the last observation",
     [168.0, 336.0, 504.0, 672.0]),
    (None, "MADRS <= 10 at every weekly visit from day 7 to day 28 after the last observation",
     [168.0, 336.0, 504.0, 672.0]),
])
def test_the_target_text_names_the_visits_it_is_judged_at(window, text, visits):
    """'--window 1d:3d' said 'at every weekly visit from day 1 to day 3' and was judged on day 1 only."""
    from ketasim.personal import parse_target

    target = parse_target(None, "madrs", window=window)
    assert target.text("madrs") == text
    assert target.visits_h().tolist() == visits


def test_the_plan_judges_the_visits_its_text_names(capsys, tmp_path):
    import json

    out = tmp_path / "p.json"
    code, stdout, _ = run_cli(capsys, "plan", ROOT / "examples" / "patient" / "patient_101.csv", "--window", "1d:3d",
                              "--json", out)
    doc = json.loads(out.read_text())
    assert code == 0 and "at the visit on day 1 after the last observation (the only weekly visit" in stdout
    assert len(doc["target"]["visits_h"]) == 1 and doc["target"]["text"].startswith("MADRS <= 10 at the visit on day 1")


# ---- 5. a record's comedications in ketasim's words ------------------------------------------------------------------
def test_the_plan_json_names_comedications_as_ketasim_does_and_keeps_what_was_typed(capsys, tmp_path):
    """COMED 'Grapefruit Juice; Rifampin for 5 days' stayed as typed in the plan's JSON and text."""
    import json

    from ketasim.population import canonical_comedication, parse_comedication

    rec = tmp_path / "r.csv"
    rec.write_text("ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX,COMED\n"
                   "7,0,0,,,,,,35,madrs,64,50,F,Grapefruit Juice; Rifampin for 5 days\n"
                   "7,1,1,56,mg,,esketamine,intranasal,,,,,,\n"
                   "7,25,0,,,,,,30,madrs,,,,\n", encoding="utf-8")
    out = tmp_path / "p.json"
    code, stdout, _ = run_cli(capsys, "plan", rec, "--json", out)
    patient = json.loads(out.read_text())["patient"]
    assert code == 0
    assert patient["comedications"] == ["grapefruit-juice", "rifampicin for 5 d"]
    assert patient["comedications_as_written"] == ["Grapefruit Juice", "Rifampin for 5 days"]
    assert "comedication: grapefruit-juice + rifampicin for 5 d" in stdout
    # the words read back the same
    for entry in ("rifampin for 5 days stopped 72 h ago", "St John's wort", "clarithromycin for 36 h"):
        canon = canonical_comedication(entry, "f")
        assert parse_comedication(canon, "f") == parse_comedication(entry, "f")
    assert canonical_comedication("rifampin for 5 days stopped 72 h ago", "f") == "rifampicin for 5 d stopped 3 d ago"


def test_a_record_names_an_inducer_or_inhibitor_once():
    from ketasim.record import record_from_csv_text

    text = ("ID,TIME,EVID,DV,DVID,WT,AGE,SEX,COMED\n1,0,0,30,madrs,70,40,F,{}\n")
    assert record_from_csv_text(text.format("rifampin;rifampicin")).comedications == ("rifampicin",)
    with pytest.raises(InputError, match=r"^record row 1, column COMED: rifampicin is given more than once"):
        record_from_csv_text(text.format("rifampicin;rifampicin for 5 d"))


# ---- 6. the sessions table's units -----------------------------------------------------------------------------------
def test_the_sessions_table_carries_its_units_and_provenance_as_the_trajectories_do():
    """`result.sessions()` columns (cadss_peak, sbp_change_peak, ...) had no unit in their names nor beside them."""
    from ketasim import scenario_from_dict, simulate

    res = simulate(scenario_from_dict({**_PUSHES, "arms": {"infusion": _PUSHES["arms"]["infusion"]}}), n=3)
    s = res.sessions()
    units = s.attrs["units"]
    assert units == res.session_units
    assert {c: units[c] for c in ("start_h", "cadss_peak", "sbp_change_peak", "dbp_change_peak", "hr_change_peak",
                                   "sedation_peak", "nausea_probability", "discharge_ready_h")} == {
        "start_h": "h", "cadss_peak": "CADSS points", "sbp_change_peak": "mmHg", "dbp_change_peak": "mmHg",
        "hr_change_peak": "beats/min", "sedation_peak": "index 0-1", "nausea_probability": "probability",
        "discharge_ready_h": "h"}
    assert set(s.columns) - {"arm", "subject", "session"} == set(units)        # every measured column has one
    assert s.attrs["provenance"] == res.trajectories().attrs["provenance"]
    # the contract's columns are unchanged (extended, not renamed)
    assert list(s.columns[:4]) == ["arm", "subject", "session", "start_h"] and len(s) == 3


# ---- 7. small leftovers ----------------------------------------------------------------------------------------------
def _unused_function_imports(path: Path) -> list[tuple[str, int, str]]:
    """(function, line, name) of each name imported inside a function and never read in it (a nested function's
    reading counts)."""
    import ast

    out = []
    for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        read = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out += [(fn.name, node.lineno, a.asname or a.name.split(".")[0]) for a in node.names
                        if (a.asname or a.name.split(".")[0]) not in read and a.name != "*"]
    return out


def test_no_function_imports_a_name_it_does_not_use(tmp_path):
    """cli.simulate imported load_parameters and never used it (the parameter set comes from --parameters)."""
    src = ROOT / "src" / "ketasim"
    found = [(str(p.relative_to(src)), *u) for p in sorted(src.rglob("*.py")) for u in _unused_function_imports(p)]
    assert found == []
    probe = tmp_path / "probe.py"           # the check finds one
    probe.write_text("def f():\n    from os import path, sep\n    return sep\n", encoding="utf-8")
    assert _unused_function_imports(probe) == [("f", 2, "path")]


_STATED = """name: one-patient
patient: {weight_kg: 70, age_years: 40, sex: male, baseline: 32}
arms:
  ket:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min}
"""


def test_covariates_refuses_a_size_for_a_stated_patient_as_simulate_does(capsys, tmp_path):
    """`ketasim covariates PATIENT.yaml --size 100` said '--size: the typical patient is one patient (got 100)',
    naming neither patient: nor what to write for 100 patients like it."""
    from _support import one_error_line

    from ketasim import scenario_from_dict
    from ketasim.covariates import run_covariates

    path = tmp_path / "patient.yaml"
    path.write_text(_STATED, encoding="utf-8")
    code, _, err = run_cli(capsys, "covariates", path, "--size", "100")
    line = one_error_line(err)
    code_sim, _, err_sim = run_cli(capsys, "simulate", path, "--size", "100")
    assert code == code_sim == 2 and line == one_error_line(err_sim)             # simulate's sentence
    assert line.startswith(f"error: --size: {path} states one patient (patient:)") and "population:" in line
    import yaml

    sc = scenario_from_dict(yaml.safe_load(_STATED))
    with pytest.raises(InputError, match=r"^n: the scenario 'one-patient' states one patient \(patient:\), simulated "
                                         r"with typical random effects; for 100 patients like it write population: "
                                         r"\(size, weight_kg, \.\.\.\) instead, or leave out n$"):
        run_covariates(sc, n=100)
    # --typical beside --size: simulate's sentence too
    code, _, err = run_cli(capsys, "covariates", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg",
                           "--typical", "--size", "50")
    assert code == 2 and one_error_line(err) == ("error: --size: --typical simulates one typical patient per arm, not "
                                                 "50; leave out --size (or give 1), or leave out --typical for 50 "
                                                 "sampled patients")


@pytest.mark.parametrize("key, value, says", [
    ("crp_mg_l", 400, "patient.crp_mg_l: must lie in 0-300 mg/L"),
    ("genotype", "xx", "patient.genotype: use one of val/val, val/met, met/met"),
])
def test_the_dashboard_names_its_patient_field_not_the_scenario_path(key, value, says):
    """CRP 350 mg/L on the dashboard said 'population.crp_mg_l: must lie in 0-300 mg/L' under the CRP box (review
    s41): the page has no 'population'."""
    from ketasim.web import api

    form = api.default_form()
    form["patient"][key] = value
    with pytest.raises(api.FormErrors) as e:
        api.build(form)
    assert e.value.errors == [{"field": f"patient.{key}", "message": says}]
    # the scenario file keeps its own path (the command line's message)
    from ketasim import scenario_from_dict

    with pytest.raises(InputError, match=rf"^population\.{key}: "):
        scenario_from_dict({"name": "x", "population": {key: value}, "arms": _PUSHES["arms"]})


# ---- 8. output-path errors name the option ---------------------------------------------------------------------------
@pytest.mark.parametrize("argv, option", [
    (["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--csv"], "--csv"),
    (["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--pk-json"], "--pk-json"),
    (["trial", str(ROOT / "examples" / "design_example.yaml"), "--json"], "--json"),
    (["trial", str(ROOT / "examples" / "design_example.yaml"), "--patients-csv"], "--patients-csv"),
    (["sensitivity", str(ROOT / "examples" / "design_example.yaml"), "--endpoint", "mean@24h", "--report"],
     "--report"),
    (["covariates", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--plot"], "--plot"),
    (["plan", str(ROOT / "examples" / "patient" / "patient_101.csv"), "--json"], "--json"),
    (["export", str(ROOT / "examples" / "design_example.yaml"), "--sbml"], "--sbml"),
    (["qualify", "--html"], "--html"),
])
def test_every_command_names_the_option_of_an_output_path_it_refuses(capsys, tmp_path, argv, option):
    """`--json /tmp/dir/` said "error: /tmp/dir: is a directory; give a file name" (README: errors name the option
    or field)."""
    from _support import one_error_line

    code, _, err = run_cli(capsys, *argv, tmp_path)
    assert code == 2 and one_error_line(err) == f"error: {option}: {tmp_path}: is a directory; give a file name"
    missing = tmp_path / "no" / "x.out"
    code, _, err = run_cli(capsys, *argv, missing)
    assert code == 2 and one_error_line(err).startswith(f"error: {option}: {missing}: the folder ")
    assert list(tmp_path.iterdir()) == []


def test_two_outputs_on_one_file_name_both_options(capsys, tmp_path):
    from _support import one_error_line

    out = tmp_path / "x.json"
    code, _, err = run_cli(capsys, "trial", ROOT / "examples" / "design_example.yaml", "--json", out, "--report",
                           tmp_path / "." / "x.json")
    assert code == 2 and one_error_line(err) == (f"error: --report: {tmp_path / '.' / 'x.json'}: the same file as "
                                                 f"--json ({out}); writing it would replace that file: give another "
                                                 "name")
    # from Python, the argument
    from ketasim.io import check_target

    with pytest.raises(InputError, match=rf"^out: {tmp_path}: is a directory"):
        check_target(tmp_path, "out")


def test_the_plan_pages_patient_id_field_in_a_browser():
    """The page's field chooses the patient and the status line says whose plan it is (the page named no patient)."""
    from test_web_browser import CHROMIUM_ARGS, _missing, chromium_path

    if chromium_path() is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[web]')")
    from ketasim.web.server import ServerThread

    with ServerThread(warm=False) as s, sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(s.url + "plan")
            page.wait_for_function("() => document.querySelector('#record').value.startsWith('ID,TIME')")
            page.fill("#record", _two_patients())
            page.click("#run")
            page.wait_for_function("() => document.querySelector('#errors').textContent.length > 0")
            assert "(or choose one with patient_id)" in page.inner_text("#errors")
            assert page.locator("#patient-id").is_visible()
            page.fill("#patient-id", "102")
            page.click("#run")
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            assert "patient 102: " in page.inner_text("#status") and page.inner_text("#errors") == ""
        finally:
            b.close()


def test_calibrate_names_its_out_option_before_fitting(capsys, tmp_path, monkeypatch):
    import ketasim.calibration
    from _support import one_error_line

    def refuse(*a, **k):
        raise AssertionError("fitted before the output path was checked")

    monkeypatch.setattr(ketasim.calibration, "calibrate", refuse)
    code, _, err = run_cli(capsys, "calibrate", "--out", tmp_path)
    assert code == 2 and one_error_line(err) == f"error: --out: {tmp_path}: is a directory; give a file name"


@pytest.mark.parametrize("streamed", [(), ("--chunk", "10")])
def test_simulate_events_names_the_record_in_its_one_cumulative_warning_streamed_too(capsys, tmp_path, streamed):
    """`simulate --events cum.csv --chunk 10` (streamed) said 'arms.record: together its doses ...' where the in-memory
    run names the file."""
    rec = tmp_path / "cum.csv"
    rec.write_text("ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n1,0,0,,,,,,30,madrs,70,40,F\n"
                   "1,0.1,1,0.9,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n"
                   "1,0.2,1,0.9,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n"
                   "1,24,0,,,,,,20,madrs,,,\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, "simulate", "--events", rec, "--size", "20", *streamed, "--csv",
                               tmp_path / "t.csv")
    assert code == 0 and err.count("anesthetic range") == 1, err
    assert "warning: cum.csv: together the record's doses are in the anesthetic range" in err
    assert "arms.record" not in err


def test_a_folder_without_write_permission_is_refused_before_the_run(capsys, tmp_path, monkeypatch):
    """It failed when the run was done ('PATH: cannot write (Permission denied)'), naming the path alone."""
    import os

    from _support import one_error_line

    real = os.access
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == locked else real(p, mode, *a, **k))
    out = locked / "t.csv"
    code, _, err = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--csv",
                           out)
    assert code == 2 and one_error_line(err) == (f"error: --csv: {out}: cannot write in the folder {locked} (no write "
                                                 "permission)")
    assert list(locked.iterdir()) == []


def test_calibration_qualify_reads_between_trial_as_true_or_false(monkeypatch):
    """calibration.qualify(between_trial="no") ran with between-trial heterogeneity (bool("no") is True)."""
    from ketasim import calibration

    monkeypatch.setattr(calibration, "simulate_calibration_arms", lambda *a, **k: pytest.fail("ran before checking"))
    with pytest.raises(InputError, match=r"^between_trial: expected True or False, got str 'no'$"):
        calibration.qualify(between_trial="no")
