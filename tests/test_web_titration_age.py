"""The dashboard's controls for response-guided dosing (titration) and an age inclusion range: the form becomes
the CLI's scenario (``arms.NAME.titration``, ``population.age_years.min/max``), bad values are the CLI's one-line
messages at the field, and the results show the dose each arm's patients end on."""

from __future__ import annotations

import copy
import json

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("plotly")

from ketasim.scenario import scenario_from_dict  # noqa: E402
from ketasim.web import api  # noqa: E402
from test_web_api import _finished_job, _request, cli_error, server  # noqa: E402,F401  (fixture)

TITRATED = {"name": "esketamine flexible", "enabled": True, "drug": "esketamine", "route": "intranasal", "dose": "28",
            "dose_unit": "mg", "every": "3.5", "every_unit": "d", "count": "8", "background_antidepressant": True,
            "titration": {"enabled": True, "doses": "28, 56, 84", "sessions": "2, 3, 4, 5",
                          "increase_below_pct": "50"}}


def titrated_form(**trial) -> dict:
    form = api.default_form()
    form["regimens"] = [copy.deepcopy(TITRATED)]
    form["patient"]["age_years"] = 72
    form["trial"] = {"size": "60", "seed": "3", "times": "24 h, 28 d", "placebo_arm": True, **trial}
    return form


def test_titration_and_age_range_reach_the_scenario_as_the_cli_reads_them():
    form = titrated_form(age_min="65", age_max="86")
    b = api.build_trial(form)
    arm = b.scenario.arms[0]
    tit = arm.titration
    assert tit is not None and tit.levels == (28.0, 56.0, 84.0) and tit.sessions == (2, 3, 4, 5)
    assert tit.increase == (("score_reduction", "below", 0.5),) and tit.line == 0 and tit.start == 0
    assert b.scenario.arms[1].titration is None                      # the placebo arm
    age = b.scenario.population.age_years
    assert (age.mean, age.min, age.max) == (72.0, 65.0, 86.0)
    # the downloaded trial scenario is the same scenario for the CLI's reader
    import yaml

    again = scenario_from_dict(yaml.safe_load(api.scenario_yaml(form, trial=True)))
    assert again.arms[0].titration == tit and again.population.age_years == age
    # without the switch, or outside a trial, nothing changes
    off = titrated_form()
    off["regimens"][0]["titration"]["enabled"] = False
    assert api.build_trial(off).scenario.arms[0].titration is None
    single = api.build(titrated_form(age_min="65", age_max="86"))
    assert single.scenario.population.age_years.min is None and single.scenario.arms[0].titration == tit


def test_ages_of_a_trial_population_lie_in_the_range():
    from ketasim import simulate

    b = api.build_trial(titrated_form(age_min="65", age_max="86"))
    ages = simulate(b.scenario, api.parameters(), output_times_h=[0.0, 24.0]).patients()["age_years"].to_numpy()
    assert ages.min() >= 65 and ages.max() <= 86 and ages.std() > 2        # drawn, not all at the patient's age
    wide = api.build_trial(titrated_form())
    ages = simulate(wide.scenario, api.parameters(), output_times_h=[0.0, 24.0]).patients()["age_years"].to_numpy()
    assert ages.min() < 65                          # without a range the population is around 72 y with SD 12 y


@pytest.mark.parametrize("titration,age,field", [
    ({"doses": "28, 56, x"}, {}, "regimen.0.titration.doses"),
    ({"doses": "56, 84"}, {}, "regimen.0.titration.doses"),             # the start dose (28 mg) is not a level
    ({"doses": "28"}, {}, "regimen.0.titration.doses"),
    ({"sessions": "1, 2"}, {}, "regimen.0.titration.sessions"),
    ({"sessions": "2, 9"}, {}, "regimen.0.titration.sessions"),         # the line gives 8 doses
    ({"increase_below_pct": "150"}, {}, "regimen.0.titration.increase_below_pct"),
    ({"increase_below_pct": "half"}, {}, "regimen.0.titration.increase_below_pct"),
    ({}, {"age_min": "10"}, "trial.age_range"),
    ({}, {"age_min": "80", "age_max": "70"}, "trial.age_range"),
    ({}, {"age_min": "18", "age_max": "60"}, "trial.age_range"),        # the patient (72 y) is outside the range
])
def test_bad_values_are_the_cli_messages_at_the_field(titration, age, field, tmp_path, capsys, monkeypatch):
    form = titrated_form(**age)
    form["regimens"][0]["titration"].update(titration)
    with pytest.raises(api.FormErrors) as ei:
        api.build_trial(form)
    errs = ei.value.errors
    assert len(errs) == 1 and errs[0]["field"] == field, errs
    assert "\n" not in errs[0]["message"]
    # the same message the CLI prints for the scenario file the form stands for
    good = titrated_form()
    mapping = copy.deepcopy(api.build_trial(good).mapping)
    name = next(iter(mapping["arms"]))
    if titration:
        mapping["arms"][name]["titration"] = api.titration_mapping(form["regimens"][0])
    for k, v in age.items():
        mapping["population"]["age_years"][k.removeprefix("age_")] = int(v)
    assert cli_error(tmp_path, mapping, capsys, monkeypatch) == errs[0]["message"]


def test_request_shape_errors_name_the_titration_field():
    form = titrated_form()
    form["regimens"][0]["titration"]["doses"] = [{"nested": 1}]
    with pytest.raises(api.FormErrors) as ei:
        api.build(form)
    assert ei.value.errors[0]["field"] == "regimen.0.titration.doses"


def test_typical_patient_answer_shows_the_dose_path():
    out = api.simulate_form(titrated_form())
    row = out["key_numbers"][0]
    assert row["final_dose"] in ("28 mg", "56 mg", "84 mg") and row["dose_path"].startswith("28 mg")
    fixed = api.simulate_form(api.default_form())["key_numbers"][0]
    assert fixed["final_dose"] is None and fixed["dose_path"] is None


def test_http_trial_reports_the_share_on_each_final_dose(server):  # noqa: F811
    form = titrated_form(age_min="65", age_max="86")
    status, _, body = _request(server.url + "api/trial", form)
    assert status == 200, body
    job = json.loads(body)["job"]
    st = _finished_job(server, job)
    assert st["status"] == "done", st
    view = st["view"]
    shares = {r["dose_level"]: r["value"] for r in view["table"]
              if r["measure"] == "final_dose_rate" and r["arm"] == "esketamine flexible"}
    assert set(shares) == {"28 mg", "56 mg", "84 mg"} and sum(shares.values()) == pytest.approx(100.0)
    assert not any(r["measure"] == "final_dose_rate" for r in view["table"] if r["arm"] == "placebo")
    assert view["result"]["arms"]["esketamine flexible"]["titration"]["final_dose_percent"]
    # a bad value over HTTP: 422 with the field and one line
    bad = titrated_form()
    bad["regimens"][0]["titration"]["sessions"] = "2, 2"
    status, _, body = _request(server.url + "api/simulate", bad)
    errs = json.loads(body)["errors"]
    assert status == 422 and errs[0]["field"] == "regimen.0.titration.sessions" and "increase" in errs[0]["message"]
    bad = titrated_form(age_min="95")
    status, _, body = _request(server.url + "api/trial", bad)
    errs = json.loads(body)["errors"]
    assert status == 422 and errs[0]["field"] == "trial.age_range" and "age_years.min" in errs[0]["message"]


# ---- in a real browser (skipped without Chromium/Playwright, like test_web_browser) -----------------------------------
from test_web_browser import _new_page, _save_shot, _wait_new_answer, browser, dashboard  # noqa: E402,F401,F811


def test_dashboard_titration_and_age_range_controls(browser, dashboard, tmp_path):  # noqa: F811
    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert not page.locator('[data-titration="1"]').is_visible()
    # regimen B (esketamine 56 mg twice weekly x 8): switch on the titration; the levels start at its dose
    seq = page.evaluate("document.body.dataset.seq")
    page.check('[data-field="regimen.1.titration.enabled"]')
    _wait_new_answer(page, seq)
    assert page.locator('[data-titration="1"]').is_visible()
    assert page.input_value('[data-field="regimen.1.titration.doses"]') == "56, 84"
    assert page.input_value('[data-field="regimen.1.titration.sessions"]') == "2, 3, 4, 5"
    row = page.locator('#key-numbers tr[data-key="dose_path"]')
    assert row.count() == 1 and "56 mg" in row.inner_text()           # the typical patient's path
    # a start dose that is not a level: the CLI's message at the field, then fixed again
    seq = page.evaluate("document.body.dataset.seq")
    page.fill('[data-field="regimen.1.titration.doses"]', "28, 84")
    _wait_new_answer(page, seq, "invalid")
    assert "start dose" in page.locator('[data-msg="regimen.1.titration.doses"]').inner_text()
    seq = page.evaluate("document.body.dataset.seq")
    page.fill('[data-field="regimen.1.titration.doses"]', "56, 84")
    _wait_new_answer(page, seq)
    # a trial of older patients (65-86 y around a 72-year-old): the share of B's patients on each final dose
    page.fill('[data-field="patient.age_years"]', "72")
    page.fill('[data-field="trial.age_min"]', "65")
    page.fill('[data-field="trial.age_max"]', "86")
    page.fill('[data-field="trial.size"]', "40")
    page.click("#run-trial")
    page.wait_for_function("() => document.body.dataset.trial === 'done'", timeout=90000)
    levels = page.locator("#endpoint-table tr[data-level]")
    assert levels.count() == 2 and "on 84 mg at the end (%)" in levels.nth(1).inner_text()
    shares = [float(levels.nth(i).locator("td[data-arm]").first.get_attribute("data-value")) for i in range(2)]
    assert sum(shares) == pytest.approx(100.0)
    _save_shot(page, tmp_path, "dashboard-titration.png")
    # a youngest age beyond the model's 18-90 y: one line at the range
    page.fill('[data-field="trial.age_min"]', "95")
    page.click("#run-trial")
    page.wait_for_function("() => document.querySelector('[data-msg=\"trial.age_range\"]').textContent.length > 0",
                           timeout=20000)
    assert "population.age_years.min" in page.locator('[data-msg="trial.age_range"]').inner_text()
    assert not problems, problems
    ctx.close()
