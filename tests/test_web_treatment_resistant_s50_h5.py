"""Dashboard and web API: ``treatment_resistant`` defaults by condition (fiftieth session review M-3, H5).

The fiftieth session made ``population.treatment_resistant`` default by condition
(``population.default_treatment_resistant``: true for depression, false for PTSD, anxiety and suicidal ideation), for
YAML scenarios and ``Patient``. The web API still turned a missing or null ``treatment_resistant`` into true, and the
dashboard changed the scale and baseline when the condition changed but left the treatment-resistant box ticked: a
PTSD, anxiety or SI patient got the depression-specific settings (placebo ratio, recurrence, spine stress). Now the
API leaves a missing/null value to the engine (the resolved condition's default), ``/api/meta`` sends each
condition's default, and the page sets the box to it on a condition change unless the box was set by hand.
"""

from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("plotly")

from ketasim.population import CONDITIONS, DEFAULT_SCALE, default_treatment_resistant  # noqa: E402
from ketasim.scenario import DEFAULT_BASELINE, scenario_from_dict  # noqa: E402
from ketasim.web import api  # noqa: E402
from test_web_browser import _new_page, _wait_new_answer, browser, dashboard  # noqa: E402,F401 (fixtures)


def _form(condition: str | None, tr="absent", scale: str | None = None) -> dict:
    form = api.default_form()
    p = form["patient"]
    scale = scale or DEFAULT_SCALE[condition]
    p.update(scale=scale, baseline=DEFAULT_BASELINE[scale][0])
    if condition is None:
        del p["condition"]
    else:
        p["condition"] = condition
    if tr == "absent":
        del p["treatment_resistant"]
    else:
        p["treatment_resistant"] = tr
    return form


def test_the_page_is_told_each_conditions_default():
    sent = api.meta()["default_treatment_resistant"]
    assert sent == {c: default_treatment_resistant(c) for c in CONDITIONS}
    assert sent == {"depression": True, "anxiety": False, "ptsd": False, "suicidal_ideation": False}
    assert api.default_form()["patient"]["treatment_resistant"] is True       # the page starts on depression


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize("tr", ["absent", None])
def test_a_missing_or_null_value_is_the_conditions_default(condition, tr):
    built = api.build(_form(condition, tr)).scenario
    expected = condition == "depression"
    assert built.population.treatment_resistant is expected
    assert built == api.build(_form(condition, expected)).scenario


def test_the_default_follows_the_condition_the_scale_reads():
    """No condition posted: the engine resolves it from the scale (CAPS-5: PTSD), and the default follows it."""
    pop = api.build(_form(None, "absent", scale="caps5")).scenario.population
    assert (pop.condition, pop.treatment_resistant) == ("ptsd", False)


def test_an_explicit_value_is_kept():
    assert api.build(_form("ptsd", True)).scenario.population.treatment_resistant is True
    assert api.build(_form("depression", False)).scenario.population.treatment_resistant is False


def test_the_scenario_file_of_a_ptsd_form_reads_back_as_not_resistant():
    doc = yaml.safe_load(api.scenario_yaml(_form("ptsd")))
    assert scenario_from_dict(doc).population.treatment_resistant is False


def test_a_ptsd_patient_posted_without_the_key_simulates_as_not_resistant():
    """``simulate_form`` is what POST /api/simulate answers (called here directly: a cold engine's first simulation can
    outlast the server's request timeout on a loaded machine)."""
    def numbers(form):
        body = api.simulate_form(json.loads(json.dumps(form)))
        return body["key_numbers"], body["chain"]

    absent = numbers(_form("ptsd"))
    assert absent == numbers(_form("ptsd", None)) == numbers(_form("ptsd", False))
    assert absent != numbers(_form("ptsd", True))          # the setting matters: the comparison can tell them apart


# ---- in the browser (Chromium; skipped without it, as test_web_browser) ----------------------------------------
def test_a_condition_change_sets_the_box_unless_it_was_set_by_hand(browser, dashboard):
    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    box = '[data-field="patient.treatment_resistant"]'
    cond = '[data-field="patient.condition"]'

    def sent_after(action) -> bool:
        """Do ``action``; the treatment_resistant of the simulation it asks for (the page sends what it shows)."""
        with page.expect_request(lambda r: r.url.endswith("/api/simulate")) as req:
            action()
        return json.loads(req.value.post_data)["patient"]["treatment_resistant"]

    assert page.is_checked(box)                                             # depression
    assert sent_after(lambda: page.select_option(cond, "ptsd")) is False
    assert not page.is_checked(box)
    assert page.input_value('[data-field="patient.scale"]') == "caps5"
    assert sent_after(lambda: page.select_option(cond, "depression")) is True
    assert page.is_checked(box)
    assert sent_after(lambda: page.select_option(cond, "suicidal_ideation")) is False
    assert not page.is_checked(box)

    # ticked by hand (a refractory anxiety trial, as Glue 2018): kept through later condition changes
    assert sent_after(lambda: page.check(box)) is True
    assert sent_after(lambda: page.select_option(cond, "anxiety")) is True
    assert page.is_checked(box)
    assert sent_after(lambda: page.uncheck(box)) is False
    assert sent_after(lambda: page.select_option(cond, "depression")) is False
    assert not page.is_checked(box)
    _wait_new_answer(page, "")                                              # an answer drawn, no error
    assert not problems, problems
    ctx.close()
