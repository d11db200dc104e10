"""The personal-plan page in a real headless Chromium: load the example record, add an observation, fit and plan,
and see the fit, the forecast and the plans drawn (skipped without Chromium unless KETASIM_REQUIRE_BROWSER=1)."""

from __future__ import annotations

import contextlib

import pytest

from test_web_browser import CHROMIUM_ARGS, _missing, _save_shot, chromium_path  # noqa: F401 (shared helpers)

pytest.importorskip("starlette")


@contextlib.contextmanager
def planned_page(record: str, limits: str | None = None):
    """The plan page of a fresh server in headless Chromium, ``record`` (CSV text) run with ``limits``: yields the page
    once the plan is drawn (skips without Chromium or Playwright)."""
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
            page.fill("#record", record)
            if limits is not None:
                page.fill("#limits", limits)
            page.click("#run")
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            yield page
        finally:
            b.close()


@pytest.fixture(scope="module")
def page_url():
    if chromium_path() is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    from ketasim.web.server import ServerThread

    with ServerThread(warm=False) as s:
        yield s.url + "plan"


def test_plan_page_end_to_end(page_url, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[web]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(page_url)
            page.wait_for_function("() => document.querySelector('#record').value.startsWith('ID,TIME')")
            page.fill("#obs-time", "360")
            page.fill("#obs-value", "14")
            page.click("#obs-add")
            assert "101,360,0,,,,,,14,madrs" in page.input_value("#record")
            page.fill("#limits", "drugs=esketamine,routes=intranasal")
            page.click("#run")
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            # observed ratings (7 now) drawn with the forecast bands; plans listed with their dose lines
            n_obs = page.evaluate("document.querySelector('#fig-forecast').data.find(t => t.name === 'observed ratings').y.length")
            assert n_obs == 7
            assert page.locator("#plans-table tbody tr").count() >= 2
            assert "drug: esketamine" in page.inner_text("#plan-yaml")
            assert page.locator("#params-table tbody tr").count() >= 9
            assert page.inner_text("body").count("research and teaching tool, not medical advice") == 1
            _save_shot(page, tmp_path, "plan_page.png")
            # a bad record: one line naming the row and column, nothing drawn over
            page.fill("#record", "ID,TIME,EVID,DV,DVID,WT,AGE,SEX\n1,5,0,30,madrs,80,40,F\n1,2,0,25,madrs,,,\n")
            page.click("#run")
            page.wait_for_function("() => document.querySelector('#errors').textContent.length > 0")
            assert page.inner_text("#errors").startswith("record row 2, column TIME")
        finally:
            b.close()
