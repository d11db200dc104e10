"""Dashboard: a dose line's units follow its drug and route (forty-ninth session, H1).

Intranasal esketamine in mg/kg is refused when read (Dose; forty-eighth session, H1), and `regimen.dose_units` says
which units a drug and route accept. The page's unit menu offered mg/kg, mg, mg/kg/h and mg/h whatever the line: a
line switched to intranasal esketamine kept mg/kg, and the user met the refusal only at the dose box. Now the menu
offers the units the line accepts (`api.unit_choices`, from `regimen.dose_units`, rates for an iv-infusion only), and a
dose in a unit no longer accepted is converted by the server (`api.dose_unit_change`, POST /api/dose-unit: mg/kg at
the patient's weight, whole 28-mg devices for nasal esketamine, a rate off an infusion as rate x duration) or cleared,
with a one-line note naming the field. A posted form with esketamine in mg/kg is still refused in one line at the
dose box (the server does not convert what it is sent).
"""

from __future__ import annotations

import json

import pytest
from _support import post_json

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("plotly")

from ketasim.regimen import ALLOWED_ROUTES, Drug, Route, dose_units  # noqa: E402
from ketasim.web import api  # noqa: E402
from test_web_browser import _new_page, _wait_new_answer, browser, dashboard  # noqa: E402,F401 (fixtures)

REFUSAL = "intranasal esketamine is given in 28-mg devices; give the dose in mg (28, 56 or 84), not mg/kg"


def _change(line: dict, field: str = "regimen.1", weight=80) -> dict:
    return api.dose_unit_change({"field": field, "line": line, "weight_kg": weight})


def _esk(dose, unit="mg/kg", **kw) -> dict:
    return {"drug": "esketamine", "route": "intranasal", "dose": dose, "dose_unit": unit, **kw}


# ---- the menu: the units each drug and route accept ------------------------------------------------------------------
def test_the_page_is_told_the_units_of_each_drug_and_route():
    choices = api.meta()["unit_choices"]
    assert choices["esketamine"]["intranasal"] == ["mg"]
    assert choices["esketamine"]["iv-infusion"] == ["mg/kg", "mg", "mg/kg/h", "mg/h"]
    assert choices["racemic-ketamine"]["intranasal"] == ["mg/kg", "mg"]      # a compounded spray: mg/kg accepted
    assert choices["racemic-ketamine"]["iv-bolus"] == ["mg/kg", "mg"]        # a rate needs an iv-infusion


def test_the_menu_follows_regimen_dose_units_for_every_drug_and_route():
    choices = api.unit_choices()
    for d in Drug:
        routes = ALLOWED_ROUTES.get(d, set(Route))
        assert set(choices[d.value]) == {r.value for r in routes}
        for r in routes:
            units = choices[d.value][r.value]
            assert [u for u in units if not u.endswith("/h")] == [u for u in api.DOSE_UNITS if u in dose_units(d, r)]
            assert all(u.removesuffix("/h") in dose_units(d, r) for u in units)
            assert any(u.endswith("/h") for u in units) == (r is Route.IV_INFUSION)


# ---- the conversion -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dose, weight, mg, devices", [
    ("0.8", 80, 56, "2 devices"),           # 64 mg
    (0.7, 80, 56, "2 devices"),             # 56 mg
    ("0.5", 120, 56, "2 devices"),          # 60 mg
    ("1", 80, 84, "3 devices"),             # 80 mg
    ("0.3", 80, 28, "1 device"),            # 24 mg
])
def test_mg_per_kg_becomes_whole_devices_at_the_patients_weight(dose, weight, mg, devices):
    out = _change(_esk(dose), weight=weight)
    assert (out["dose"], out["dose_unit"], out["units"]) == (mg, "mg", ["mg"])
    assert out["field"] == "regimen.1.dose"
    msg = out["message"]
    assert msg.startswith(f"regimen B dose: {float(dose):g} mg/kg is {float(dose) * weight:.4g} mg at the patient's "
                          f"{weight:g} kg; intranasal esketamine is given in 28-mg devices, so {mg} mg ({devices}")
    assert "\n" not in msg


def test_a_dose_beyond_the_label_says_it_was_capped():
    out = _change(_esk("2"))                 # 160 mg
    assert out["dose"] == 84 and out["message"].endswith("so 84 mg (3 devices, the label's most for a session)")


def test_a_rate_switched_to_nasal_esketamine_becomes_its_dose_in_devices():
    line = {"drug": "esketamine", "route": "intranasal", "dose": "0.5", "dose_unit": "mg/kg/h", "duration_min": 60}
    out = _change(line, field="regimen.0.lines.0")
    assert (out["dose"], out["dose_unit"]) == (28, "mg")
    assert out["message"] == ("regimen A, dose line 2, dose: 0.5 mg/kg/h over 60 min is 0.5 mg/kg, 40 mg at the "
                              "patient's 80 kg; intranasal esketamine is given in 28-mg devices, so 28 mg (1 device)")


def test_a_rate_off_an_infusion_becomes_the_dose_it_gave():
    line = {"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.5", "dose_unit": "mg/kg/h", "duration_min": 60}
    out = _change(line, field="regimen.0.lines.0")
    assert (out["dose"], out["dose_unit"], out["units"]) == (0.5, "mg/kg", ["mg/kg", "mg"])
    assert out["message"] == ("regimen A, dose line 2, dose: 0.5 mg/kg/h over 60 min is 0.5 mg/kg; by iv-bolus a "
                              "dose is an amount, not a rate")


@pytest.mark.parametrize("line, weight", [
    (_esk("56", "mg"), 80),                                                          # accepted: nothing changes
    ({"drug": "racemic-ketamine", "route": "intranasal", "dose": "0.8", "dose_unit": "mg/kg"}, 80),
    ({"drug": "esketamine", "route": "iv-infusion", "dose": "0.2", "dose_unit": "mg/kg"}, "not a weight"),
])
def test_a_unit_the_line_accepts_is_left_alone(line, weight):
    out = _change(line, weight=weight)
    assert (out["dose"], out["dose_unit"], out["message"]) == (line["dose"], line["dose_unit"], None)


@pytest.mark.parametrize("line, weight, reason", [
    (_esk("0.8"), "", "the patient's weight is not a number of 20-250 kg"),
    (_esk("0.8"), -3, "the patient's weight is not a number of 20-250 kg"),
    (_esk("0.8"), 1e308, "the patient's weight is not a number of 20-250 kg"),
    (_esk("-1"), 80, "not a dose > 0"),
    (_esk("lots"), 80, "not a dose > 0"),
    (_esk("1e308"), 80, "too large to convert"),
    (_esk("0.5", "mg/kg/h", duration_min=""), 80, "a rate needs the infusion's duration to make a dose"),
    # a dose below half a device: one 28-mg device would be 3.5x the 8 mg asked for (closing review L-9)
    (_esk("0.1"), 80, "8 mg is less than half of the fewest labelled dose, 28 mg"),
])
def test_what_cannot_be_converted_is_cleared_with_one_line_naming_the_field(line, weight, reason):
    out = _change(line, weight=weight)
    assert (out["dose"], out["dose_unit"]) == ("", "mg")
    assert out["message"].startswith("regimen B dose: ")
    assert out["message"].endswith(f" cleared ({reason}); {REFUSAL}")
    assert "\n" not in out["message"]


def test_a_cleared_rate_is_named_in_the_unit_it_was_typed_in():
    """The note named the unit after a conversion step ('1e308 mg cleared' for a rate typed in mg/kg/h; closing
    review L-8)."""
    out = _change(_esk("1e308", "mg/kg/h", duration_min=60), weight=80)
    assert out["dose"] == "" and out["message"].startswith("regimen B dose: 1e308 mg/kg/h cleared (too large to convert)")


def test_a_blank_dose_only_changes_the_unit():
    assert _change(_esk("")) | {"units": None} == {"ok": True, "field": "regimen.1.dose", "units": None, "dose": "",
                                                   "dose_unit": "mg", "message": None}


@pytest.mark.parametrize("body, field, says", [
    ({"field": "regimen.7", "line": {}}, "general", "field: expected regimen.N or regimen.N.lines.J"),
    ({"field": "regimen.0", "line": "x"}, "general", "line: expected"),
    ({"field": "regimen.0", "line": {"drug": "spravat", "route": "intranasal"}}, "regimen.0.drug",
     "regimen.0.drug: unknown drug 'spravat'"),
])
def test_a_bad_request_is_one_line_naming_the_field(body, field, says):
    with pytest.raises(api.FormErrors) as e:
        api.dose_unit_change(body)
    assert len(e.value.errors) == 1 and e.value.errors[0]["field"] == field
    assert e.value.errors[0]["message"].startswith(says) and "\n" not in e.value.errors[0]["message"]


def test_the_converted_form_is_one_the_engine_reads():
    form = api.default_form()
    line = _esk("0.8")
    out = _change(line)
    form["regimens"].append({"name": "esk", "enabled": True, **line, "dose": out["dose"], "dose_unit": out["dose_unit"],
                             "every": "", "every_unit": "d", "count": "1"})
    built = api.build(form)
    d = built.scenario.arms[1].doses[0]
    assert (d.amount, d.per_kg) == (56.0, False)


# ---- the server side: what it is sent is checked, not converted ------------------------------------------------
def test_a_rate_by_a_bolus_route_is_still_refused_at_its_line_when_posted():
    # (the page no longer offers it: the browser test that showed this message now shows the conversion)
    form = api.default_form()
    form["regimens"][0]["lines"] = [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.5",
                                     "dose_unit": "mg/kg/h", "duration_min": 60, "at": 1, "at_unit": "h"}]
    with pytest.raises(api.FormErrors) as e:
        api.build(form)
    assert [x["field"] for x in e.value.errors] == ["regimen.0.lines.0.dose"]
    assert "needs route iv-infusion" in e.value.errors[0]["message"]


@pytest.fixture(scope="module")
def server():
    from ketasim.web.server import ServerThread

    with ServerThread(warm=False) as s:
        yield s


def test_a_posted_form_with_nasal_esketamine_in_mg_per_kg_is_one_line_at_the_dose_box(server):
    form = api.default_form()
    form["regimens"].append({"name": "esk", "enabled": True, **_esk("0.8"), "every": "", "every_unit": "d",
                             "count": "1"})
    code, body = post_json(server.url + "api/simulate", form)
    assert code == 422 and body["ok"] is False
    assert body["errors"] == [{"field": "regimen.1.dose", "message": f"arms.esk[0].dose: {REFUSAL}"}]


def test_the_conversion_over_http(server):
    code, body = post_json(server.url + "api/dose-unit", {"field": "regimen.1", "line": _esk("0.8"), "weight_kg": "80"})
    assert code == 200 and (body["dose"], body["dose_unit"], body["units"]) == (56, "mg", ["mg"])
    code, body = post_json(server.url + "api/dose-unit", {"field": "regimen.1", "line": {"drug": 3, "route": "intranasal"}})
    assert code == 422 and len(body["errors"]) == 1
    assert body["errors"][0]["message"].startswith("regimen.1.drug: unknown drug '3'")
    assert "Traceback" not in json.dumps(body)


# ---- in the browser (Chromium; skipped without it, as test_web_browser) ----------------------------------------
def _options(page, sel: str) -> list[str]:
    return page.evaluate(f"""() => [...document.querySelector('[data-field="{sel}"]').options]
                             .filter(o => !o.hidden).map(o => o.value)""")


def test_switching_a_line_to_nasal_esketamine_in_the_browser(browser, dashboard):
    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert _options(page, "regimen.0.dose_unit") == ["mg/kg", "mg", "mg/kg/h", "mg/h"]   # racemic, IV infusion
    assert _options(page, "regimen.1.dose_unit") == ["mg"]                               # esketamine, intranasal

    # regimen A: esketamine 0.8 mg/kg by IV infusion, then switched to intranasal
    page.select_option('[data-field="regimen.0.drug"]', "esketamine")       # the preset: intranasal 56 mg
    page.select_option('[data-field="regimen.0.route"]', "iv-infusion")
    assert _options(page, "regimen.0.dose_unit") == ["mg/kg", "mg", "mg/kg/h", "mg/h"]
    page.select_option('[data-field="regimen.0.dose_unit"]', "mg/kg")
    seq = page.evaluate("document.body.dataset.seq")
    page.fill('[data-field="regimen.0.dose"]', "0.8")
    _wait_new_answer(page, seq)
    seq = page.evaluate("document.body.dataset.seq")
    page.select_option('[data-field="regimen.0.route"]', "intranasal")
    _wait_new_answer(page, seq)                                             # simulated: no refusal
    assert _options(page, "regimen.0.dose_unit") == ["mg"]
    assert page.input_value('[data-field="regimen.0.dose_unit"]') == "mg"
    assert page.input_value('[data-field="regimen.0.dose"]') == "56"
    note = page.locator('[data-msg="regimen.0.dose"]')
    assert note.inner_text() == ("regimen A dose: 0.8 mg/kg is 64 mg at the patient's 80 kg; intranasal esketamine "
                                 "is given in 28-mg devices, so 56 mg (2 devices)")
    assert "warning" in note.get_attribute("class")
    assert "56 mg IN" in page.locator('[data-field="regimen.0.name"]').input_value()
    # the note stays until the dose is edited
    seq = page.evaluate("document.body.dataset.seq")
    page.fill('[data-field="regimen.0.dose"]', "84")
    _wait_new_answer(page, seq)
    assert note.inner_text() == ""

    # an extra dose line (0.5 mg/kg/h over 60 min) switched to esketamine: intranasal, 40 mg at 80 kg -> 28 mg
    seq = page.evaluate("document.body.dataset.seq")
    page.click('[data-add-line="0"]')
    _wait_new_answer(page, seq)
    seq = page.evaluate("document.body.dataset.seq")
    page.select_option('[data-field="regimen.0.lines.0.drug"]', "esketamine")
    _wait_new_answer(page, seq)
    assert page.input_value('[data-field="regimen.0.lines.0.route"]') == "intranasal"
    assert _options(page, "regimen.0.lines.0.dose_unit") == ["mg"]
    assert page.input_value('[data-field="regimen.0.lines.0.dose"]') == "28"
    assert "so 28 mg (1 device)" in page.locator('[data-msg="regimen.0.lines.0.dose"]').inner_text()
    # back to an infusion: every unit is offered again, the dose in mg kept
    seq = page.evaluate("document.body.dataset.seq")
    page.select_option('[data-field="regimen.0.lines.0.route"]', "iv-infusion")
    _wait_new_answer(page, seq)
    assert _options(page, "regimen.0.lines.0.dose_unit") == ["mg/kg", "mg", "mg/kg/h", "mg/h"]
    assert (page.input_value('[data-field="regimen.0.lines.0.dose"]'),
            page.input_value('[data-field="regimen.0.lines.0.dose_unit"]')) == ("28", "mg")
    assert page.locator('[data-msg="regimen.0.lines.0.dose"]').inner_text() == ""
    assert not problems, problems
    ctx.close()


# ---- fiftieth session: a dose typed while its conversion is in flight (review s49 L-10) -----------------------------
def _pump_until(page, condition, what: str, timeout_s: float = 20.0):
    """Let the page run (Playwright dispatches its events while it waits) until ``condition()`` holds."""
    import time

    t0 = time.monotonic()
    while not condition():
        assert time.monotonic() - t0 < timeout_s, f"{timeout_s:g} s without {what}"
        page.wait_for_timeout(50)


def test_a_dose_typed_while_its_unit_conversion_is_in_flight_is_not_overwritten(browser, dashboard):
    """The conversion's reply was applied whatever happened meanwhile: a dose typed (or a unit picked) while
    POST /api/dose-unit was out was overwritten by the conversion of the old value. The requests are held here until
    the test lets them go, so the typing lands in flight every time."""
    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    dose, unit = '[data-field="regimen.0.dose"]', '[data-field="regimen.0.dose_unit"]'
    note = page.locator('[data-msg="regimen.0.dose"]')

    def typed_and_simulated(value):
        """Type ``value`` in the dose box and wait until the simulation of it has answered (the latest one, so an
        earlier request answering late cannot pass for it)."""
        with page.expect_request(lambda r: r.url.endswith("/api/simulate")
                                 and json.loads(r.post_data)["regimens"][0]["dose"] == value):
            page.fill(dose, value)
        page.wait_for_function("() => document.body.dataset.seq === String(state.seq) && state.inflight === null",
                               timeout=20000)

    def esketamine_iv_in_mg_per_kg(value):
        page.select_option('[data-field="regimen.0.route"]', "iv-infusion")
        page.select_option(unit, "mg/kg")
        typed_and_simulated(value)

    page.select_option('[data-field="regimen.0.drug"]', "esketamine")
    esketamine_iv_in_mg_per_kg("0.8")
    held = []
    page.route("**/api/dose-unit", lambda route: held.append(route))

    # 1. a new dose typed in the old unit (mg/kg, not accepted by nasal esketamine): that dose is converted, not 0.8
    page.select_option('[data-field="regimen.0.route"]', "intranasal")
    _pump_until(page, lambda: len(held) == 1, "the conversion request")
    assert json.loads(held[0].request.post_data)["line"]["dose"] == "0.8"
    page.fill(dose, "1")
    held[0].continue_()                                     # the reply for 0.8 mg/kg (56 mg) arrives late
    _pump_until(page, lambda: len(held) == 2, "a conversion of the dose typed in flight (the old reply applied?)")
    sent = json.loads(held[1].request.post_data)["line"]
    assert (sent["dose"], sent["dose_unit"]) == ("1", "mg/kg")         # what is in the box now
    assert page.input_value(dose) == "1"                    # not 56
    seq = page.evaluate("document.body.dataset.seq")
    held[1].continue_()
    _wait_new_answer(page, seq)                             # simulated in mg (the typed mg/kg was refused meanwhile)
    assert (page.input_value(dose), page.input_value(unit)) == ("84", "mg")
    assert note.inner_text() == ("regimen A dose: 1 mg/kg is 80 mg at the patient's 80 kg; intranasal esketamine is "
                                 "given in 28-mg devices, so 84 mg (3 devices)")

    # 2. a unit the line accepts picked and a dose typed in it: kept as typed, nothing more converted
    esketamine_iv_in_mg_per_kg("0.7")
    page.select_option('[data-field="regimen.0.route"]', "intranasal")
    _pump_until(page, lambda: len(held) == 3, "the conversion request")
    page.select_option(unit, "mg")
    typed_and_simulated("28")
    with page.expect_response("**/api/dose-unit"):
        held[2].continue_()                                 # the reply for 0.7 mg/kg (56 mg) arrives late
    page.wait_for_function(f"() => ![...document.querySelector('{unit}').options].some((o) => o.hidden)",
                           timeout=20000)                   # the reply handled: the old unit left the menu
    page.wait_for_timeout(300)                              # a second conversion request, were one sent
    assert (page.input_value(dose), page.input_value(unit)) == ("28", "mg")
    assert _options(page, "regimen.0.dose_unit") == ["mg"] and len(held) == 3
    assert note.inner_text() == ""
    assert not problems, problems
    ctx.close()


# ---- fiftieth session review M-4 (H5): the line changed and changed back while its conversion was in flight ----------
def test_a_late_conversion_is_not_applied_to_a_line_whose_route_or_weight_changed(browser, dashboard):
    """Only the dose and unit were compared with the request: IV 0.5 mg/kg switched to intranasal (mg/kg not accepted:
    a conversion request) and back to IV (mg/kg accepted: no request) before the reply, and the nasal reply turned the
    IV line into 28 mg (whole devices, unit menu ["mg"]). The whole line and the patient's weight are compared now."""
    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    dose, unit, route = ('[data-field="regimen.0.dose"]', '[data-field="regimen.0.dose_unit"]',
                         '[data-field="regimen.0.route"]')
    note = page.locator('[data-msg="regimen.0.dose"]')
    iv_units = ["mg/kg", "mg", "mg/kg/h", "mg/h"]

    def settled():
        page.wait_for_function("() => document.body.dataset.seq === String(state.seq) && state.inflight === null",
                               timeout=20000)

    page.select_option('[data-field="regimen.0.drug"]', "esketamine")       # the preset: intranasal 56 mg
    page.select_option(route, "iv-infusion")
    page.select_option(unit, "mg/kg")
    page.fill(dose, "0.5")
    settled()
    held = []
    page.route("**/api/dose-unit", lambda r: held.append(r))

    # 1. intranasal and back to IV while the request is out: the IV line keeps 0.5 mg/kg
    page.select_option(route, "intranasal")
    _pump_until(page, lambda: len(held) == 1, "the conversion request")
    assert json.loads(held[0].request.post_data)["line"]["route"] == "intranasal"
    page.select_option(route, "iv-infusion")
    with page.expect_response("**/api/dose-unit"):
        held[0].continue_()                                 # the reply for intranasal (28 mg) arrives late
    page.wait_for_timeout(300)                              # the reply handled (and a simulation, were one scheduled)
    settled()
    assert (page.input_value(route), page.input_value(dose), page.input_value(unit)) == ("iv-infusion", "0.5", "mg/kg")
    assert _options(page, "regimen.0.dose_unit") == iv_units and len(held) == 1
    assert note.inner_text() == ""

    # 2. the weight changed while the request is out: converted again at the new weight (0.8 mg/kg x 120 kg = 96 mg:
    #    84 mg, the label's most), not at the old one (64 mg: 56 mg)
    page.fill(dose, "0.8")
    settled()
    page.select_option(route, "intranasal")
    _pump_until(page, lambda: len(held) == 2, "the conversion request")
    assert json.loads(held[1].request.post_data)["weight_kg"] == "80"
    page.fill('[data-field="patient.weight_kg"]', "120")
    held[1].continue_()                                     # the reply at 80 kg arrives late
    _pump_until(page, lambda: len(held) == 3, "a conversion at the new weight (the old reply applied?)")
    assert json.loads(held[2].request.post_data)["weight_kg"] == "120"
    assert page.input_value(dose) == "0.8"
    seq = page.evaluate("document.body.dataset.seq")
    held[2].continue_()
    _wait_new_answer(page, seq)
    assert (page.input_value(dose), page.input_value(unit)) == ("84", "mg")
    assert note.inner_text().startswith("regimen A dose: 0.8 mg/kg is 96 mg at the patient's 120 kg;")
    assert not problems, problems
    ctx.close()
