"""The dashboard's switch for recurrence on continued treatment (``population.recurrence``, issue 7): the checkbox
reaches the scenario as the CLI reads it (``recurrence: false`` in the downloaded YAML when off), a bad value is the
CLI's one-line message at the field, and the score panel marks the typical patient's new episode with a dotted line
(as ``ketasim simulate --plot`` does) when it falls inside the horizon, with the summary's line about it."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("plotly")

import yaml  # noqa: E402

from ketasim.scenario import scenario_from_dict  # noqa: E402
from ketasim.web import api  # noqa: E402
from test_web_api import _request, at_field, cli_error, server  # noqa: E402,F401  (fixture)

HOURS_PER_YEAR = 8766.0


def long_course(recurrence=True, clock="entry") -> dict:
    """The default patient (treatment-resistant: median recurrence time 405 d from entry) on weekly ketamine for 60
    weeks, on the clock from entry (population.recurrence_clock: entry, the default); on the clock of time in response
    this typical patient never reaches response on this course, so it has no new episode to mark."""
    form = api.default_form()
    form["regimens"][0].update(every="7", every_unit="d", count="60")
    form["patient"]["recurrence"] = recurrence
    form["patient"]["recurrence_clock"] = clock
    return form


def _episode_shapes(fig) -> list[dict]:
    return [s for s in fig["layout"].get("shapes", []) if str(s.get("name", "")).startswith("new episode")]


def test_default_form_has_recurrence_on_and_the_yaml_is_unchanged():
    form = api.default_form()
    assert form["patient"]["recurrence"] is True
    b = api.build(form)
    assert b.scenario.population.recurrence is True
    assert "recurrence" not in b.mapping["population"]         # stated only when off, like --no-recurrence
    del form["patient"]["recurrence"]                          # an older page that does not send it: on
    assert api.build(form).scenario.population.recurrence is True


def test_switch_off_reaches_the_scenario_and_the_downloaded_yaml():
    form = long_course(recurrence=False)
    b = api.build(form)
    assert b.scenario.population.recurrence is False
    text = api.scenario_yaml(form)
    assert "  recurrence: false" in text.splitlines()            # in the population section, as a YAML false
    assert yaml.safe_load(text)["population"]["recurrence"] is False
    again = scenario_from_dict(yaml.safe_load(text))
    assert again == b.scenario and again.population.recurrence is False
    # the trial population too (the same population mapping around the patient)
    form["trial"] = {"size": "50", "seed": "3", "times": "24 h, 28 d", "placebo_arm": True}
    tb = api.build_trial(form)
    assert tb.scenario.population.recurrence is False
    assert yaml.safe_load(api.scenario_yaml(form, trial=True))["population"]["recurrence"] is False
    form["patient"]["recurrence"] = True
    assert api.build_trial(form).scenario.population.recurrence is True


@pytest.mark.parametrize("value", ["abc", 2, 0.5, ""])
def test_bad_values_are_the_cli_message_at_the_field(value, tmp_path, capsys, monkeypatch):
    form = api.default_form()
    form["patient"]["recurrence"] = value
    with pytest.raises(api.FormErrors) as ei:
        api.build(form)
    (err,) = ei.value.errors
    assert err["field"] == "patient.recurrence"
    assert "\n" not in err["message"] and err["message"].startswith("patient.recurrence: must be true or false")
    mapping = copy.deepcopy(api.build(api.default_form()).mapping)
    mapping["population"]["recurrence"] = value
    assert at_field(cli_error(tmp_path, mapping, capsys, monkeypatch), "patient.recurrence") == err["message"]


def test_treatment_resistant_text_is_read_not_truthiness():
    """The form's treatment_resistant went through bool(): the text "false" became true without a word. Now the
    engine reads it like the YAML (true/false) and names the field for anything else."""
    form = api.default_form()
    form["patient"]["treatment_resistant"] = "false"
    assert api.build(form).scenario.population.treatment_resistant is False
    form["patient"]["treatment_resistant"] = "abc"
    with pytest.raises(api.FormErrors) as ei:
        api.build(form)
    (err,) = ei.value.errors
    assert err["message"].startswith("patient.treatment_resistant: must be true or false")


def test_request_shape_error_names_the_field():
    form = api.default_form()
    form["patient"]["recurrence"] = {"nested": True}
    with pytest.raises(api.FormErrors) as ei:
        api.build(form)
    assert ei.value.errors[0]["field"] == "patient.recurrence"


def test_score_panel_marks_the_typical_patients_new_episode():
    out = api.simulate_form(long_course())
    fig = out["figure"]
    (shape,) = _episode_shapes(fig)
    # on the axes of the score panel
    score_axes = {(t["xaxis"], t["yaxis"]) for t in fig["data"] if (t.get("meta") or {}).get("column") == "score"}
    assert (shape["xref"], shape["yref"].removesuffix(" domain")) in score_axes
    assert shape["line"]["dash"] == "dot" and shape["line"]["color"] == out["arms"][0]["color"]
    assert (shape["y0"], shape["y1"]) == (0, 1) and shape["x0"] == shape["x1"]
    # at the typical patient's recurrence time: the median of an exponential with the 12-month probability of a
    # treatment-resistant patient, T = ln 2 / h, h = -ln(1 - p12) / 1 y (to the display grid: 3 h steps)
    p12 = api.parameters().get("pd.recurrence.p12_treatment_resistant")
    t_med = math.log(2) / (-math.log(1 - p12) / HOURS_PER_YEAR)
    assert t_med <= shape["x0"] <= t_med + 3.0
    assert 400 * 24 < shape["x0"] < float(out["time_h"][-1])
    ann = [a["text"] for a in fig["layout"]["annotations"] if "Symptom score" in a["text"]]
    assert len(ann) == 1 and "dotted: typical patient's new episode (recurrence)" in ann[0]
    # the summary (as ketasim simulate prints it) has its line
    assert "new episode on continued treatment from 405" in out["summary"]


def test_no_mark_when_off_or_beyond_the_horizon():
    off = api.simulate_form(long_course(recurrence=False))
    assert _episode_shapes(off["figure"]) == []
    assert "new episode" not in off["summary"]
    assert not any("new episode" in a["text"] for a in off["figure"]["layout"]["annotations"])
    short = api.simulate_form(api.default_form())                 # one infusion: the horizon ends long before
    assert _episode_shapes(short["figure"]) == [] and "new episode" not in short["summary"]
    never = api.simulate_form(long_course(clock="response"))     # never in response: no new episode
    assert _episode_shapes(never["figure"]) == [] and "new episode" not in never["summary"]
    assert "recurrence_clock" not in yaml.safe_load(api.scenario_yaml(long_course()))["population"]   # the default
    assert yaml.safe_load(api.scenario_yaml(long_course(clock="response")))["population"]["recurrence_clock"] == "response"
    # the clock from recovery (a hypothesis): written when chosen; this typical patient never remits, so no episode
    assert yaml.safe_load(api.scenario_yaml(long_course(clock="recovery")))["population"]["recurrence_clock"] == "recovery"
    unrecovered = api.simulate_form(long_course(clock="recovery"))
    assert _episode_shapes(unrecovered["figure"]) == [] and "new episode" not in unrecovered["summary"]
    html = (Path(api.__file__).parent / "static" / "index.html").read_text(encoding="utf-8")
    assert '<option value="recovery">time since recovery (hypothesis)</option>' in html


def test_one_mark_per_arm_in_its_colour():
    form = long_course()
    form["regimens"].append({"name": "esketamine 56 mg IN", "enabled": True, "drug": "esketamine",
                             "route": "intranasal", "dose": "56", "dose_unit": "mg", "every": "7",
                             "every_unit": "d", "count": "60"})
    out = api.simulate_form(form)
    shapes = _episode_shapes(out["figure"])
    assert sorted(s["line"]["color"] for s in shapes) == sorted(a["color"] for a in out["arms"])
    assert len({s["x0"] for s in shapes}) == 1          # the same typical patient: the same recurrence time


def test_http_switch_and_bad_value(server):  # noqa: F811
    status, _, body = _request(server.url + "api/scenario.yaml", long_course(recurrence=False))
    assert status == 200 and yaml.safe_load(body)["population"]["recurrence"] is False
    bad = api.default_form()
    bad["patient"]["recurrence"] = "maybe"
    status, _, body = _request(server.url + "api/simulate", bad)
    errs = json.loads(body)["errors"]
    assert status == 422 and errs == [{"field": "patient.recurrence",
                                       "message": "patient.recurrence: must be true or false, got 'maybe'"}]


# ---- in a real browser (skipped without Chromium/Playwright, like test_web_browser) -----------------------------------
from test_web_browser import _new_page, _save_shot, _wait_new_answer, browser, dashboard  # noqa: E402,F401,F811

SHAPES_JS = """() => (document.getElementById('cascade').layout.shapes || [])
  .filter(s => String(s.name || '').startsWith('new episode')).map(s => s.x0)"""


def test_dashboard_recurrence_checkbox_and_episode_mark(browser, dashboard, tmp_path):  # noqa: F811
    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    box = page.locator('[data-field="patient.recurrence"]')
    assert box.is_checked()
    assert page.evaluate(SHAPES_JS) == []                  # the default course ends long before 405 d
    # the clock from entry is the default (on the clock of time in response this typical patient never responds)
    assert page.locator('[data-field="patient.recurrence_clock"]').input_value() == "entry"
    # regimen A weekly for 60 weeks (B: esketamine twice weekly x 8): the new episode falls inside the horizon
    seq = page.evaluate("document.body.dataset.seq")
    page.fill('[data-field="regimen.0.every"]', "7")
    page.fill('[data-field="regimen.0.count"]', "60")
    _wait_new_answer(page, seq)
    # both arms run to the common horizon (A's 60 weeks): each arm's typical patient has the same recurrence time
    page.wait_for_function(f"() => ({SHAPES_JS})().length === 2", timeout=20000)
    xs = page.evaluate(SHAPES_JS)
    x0 = xs[0]
    assert 405 * 24 <= x0 <= 406 * 24 and xs == [x0, x0]
    assert "new episode on continued treatment" in page.locator("#summary").text_content()
    # moving the time marker keeps the episode's line
    page.evaluate("""() => { const s = document.getElementById('time-slider');
        s.value = "5"; s.dispatchEvent(new Event('input')); }""")
    page.wait_for_timeout(300)
    assert page.evaluate(SHAPES_JS) == [x0, x0]
    _save_shot(page, tmp_path, "dashboard-recurrence.png", full_page=False)
    # switched off: no mark, no summary line, and the downloaded scenario says so
    seq = page.evaluate("document.body.dataset.seq")
    box.uncheck()
    _wait_new_answer(page, seq)
    assert page.evaluate(SHAPES_JS) == []
    assert "new episode" not in page.locator("#summary").text_content()
    with page.expect_download() as dl:
        page.click("#dl-yaml")
    yml = tmp_path / "no-recurrence.yaml"
    dl.value.save_as(yml)
    assert yaml.safe_load(yml.read_text(encoding="utf-8"))["population"]["recurrence"] is False
    assert not problems, problems
    ctx.close()


def test_dashboard_re_response_checkbox_only_with_recurrence(browser, dashboard, tmp_path):  # noqa: F811
    """The second checkbox (population.re_response, a hypothesis, off by default) starts unchecked; it is disabled
    while recurrence is off and then not sent as on; checked, it reaches the downloaded scenario."""
    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    rec, rr = page.locator('[data-field="patient.recurrence"]'), page.locator('[data-field="patient.re_response"]')
    assert rec.is_checked() and not rr.is_checked() and rr.is_enabled()
    seq = page.evaluate("document.body.dataset.seq")
    rr.check()
    _wait_new_answer(page, seq)
    with page.expect_download() as dl:
        page.click("#dl-yaml")
    on = tmp_path / "re-response.yaml"
    dl.value.save_as(on)
    assert yaml.safe_load(on.read_text(encoding="utf-8"))["population"]["re_response"] is True
    seq = page.evaluate("document.body.dataset.seq")
    rec.uncheck()
    _wait_new_answer(page, seq)
    assert rr.is_disabled()
    assert not page.locator('[data-msg="patient.re_response"]').text_content()     # not sent: no error
    with page.expect_download() as dl:
        page.click("#dl-yaml")
    off = tmp_path / "no-recurrence.yaml"
    dl.value.save_as(off)
    pop = yaml.safe_load(off.read_text(encoding="utf-8"))["population"]
    assert pop["recurrence"] is False and "re_response" not in pop
    rec.check()
    page.wait_for_timeout(200)
    assert rr.is_enabled() and rr.is_checked()
    assert not problems, problems
    ctx.close()
