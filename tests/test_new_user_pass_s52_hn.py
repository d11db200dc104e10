"""Session 52 new-user pass, helper HN (the personalised plan and the dashboard, tried as a clinical pharmacologist
would: the patient card's out-of-range values, text in the plan page's probability box, and a plan the page has
given up on)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request

import pytest


def _record(n_ratings: int = 0) -> str:
    """A MADRS record: a rating, twice-weekly 0.5 mg/kg IV sessions with a rating before each, ``n_ratings`` daily
    ratings after them, two forecast points."""
    rows = ["ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX", "1,0,0,,,,,,34,madrs,75,50,M"]
    for k, t in enumerate((0.5, 84.5, 168.5, 252.5)):
        if k:
            rows.append(f"1,{t - 0.5:g},0,,,,,,{20 - k},madrs,,,")
        rows.append(f"1,{t:g},1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,")
    last = 336.0
    for i in range(n_ratings):
        last = 336.0 + 24.0 * i
        rows.append(f"1,{last:g},0,,,,,,{18 + i % 4},madrs,,,")
    rows += [f"1,{last + 168:g},0,,,,,,,madrs,,,", f"1,{last + 336:g},0,,,,,,,madrs,,,"]
    return "\n".join(rows) + "\n"


def _long_record(days: int) -> str:
    """A MADRS record of ``days`` daily ratings and weekly 0.5 mg/kg IV sessions (a long course: its plan takes the
    engine for many seconds), two forecast points."""
    rows = ["ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX", "1,0,0,,,,,,30,madrs,70,40,F"]
    for i in range(1, days):
        rows.append(f"1,{i * 24},0,,,,,,{20 + i % 5},madrs,,,")
        if i % 7 == 0:
            rows.append(f"1,{i * 24 + 0.5},1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,")
    rows += [f"1,{days * 24 + 144},0,,,,,,,madrs,,,", f"1,{days * 24 + 312},0,,,,,,,madrs,,,"]
    return "\n".join(rows) + "\n"


# -- the dashboard's patient card: one patient's value, not a population's mean and SD -------------------------

@pytest.mark.parametrize("field, value, says", [
    ("weight_kg", -70, "patient.weight_kg: must lie in 20-250 kg, got -70"),
    ("weight_kg", 1e9, "patient.weight_kg: must lie in 20-250 kg, got 1e+09"),
    ("age_years", -5, "patient.age_years: must lie in 12-100 years, got -5"),
    ("age_years", 200, "patient.age_years: must lie in 12-100 years, got 200"),
    ("baseline", 99, "patient.baseline: must lie in (0, 60] points on madrs, got 99"),
])
def test_the_patient_cards_value_out_of_range_is_named_as_one_value(field, value, says):
    """The card's weight -70 said 'mean must lie in 20-250 kg and sd in 0-100 kg, got mean -70, sd 0' and its age
    -5 'mean must lie in 12-100 years and sd in 0-50 years' (no value): the card has one value, no mean or SD."""
    from ketasim.web import api

    form = api.default_form()
    form["patient"][field] = value
    with pytest.raises(api.FormErrors) as ei:
        api.simulate_form(form)
    (err,) = [e for e in ei.value.errors if e["field"] == f"patient.{field}"]
    assert err["message"] == says


def test_a_population_file_keeps_its_mean_and_sd_message():
    """Only the card's one value is reworded: a scenario's population still names its mean and SD (and, for the
    age, now says what it got)."""
    from ketasim import scenario_from_dict
    from ketasim.errors import InputError

    with pytest.raises(InputError) as ei:
        scenario_from_dict({"name": "p", "population": {"size": 10, "age_years": {"mean": 5, "sd": 3}},
                            "arms": {"k": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}]}})
    assert str(ei.value) == ("population.age_years: mean must lie in 12-100 years and sd in 0-50 years, got mean 5, "
                             "sd 3")


# -- a plan nobody waits for any more stops at its next engine run ---------------------------------------------

def test_a_cancelled_plan_stops_before_its_engine_runs():
    """The server sets the request's cancel event when the page gives up (timeout, closed tab); personal_plan did not
    look at it and ran to its end, holding the engine."""
    from ketasim import errors
    from ketasim.personal import personal_plan
    from ketasim.record import record_from_csv_text

    rec = record_from_csv_text(_record(), source="record")
    ev = threading.Event()
    ev.set()
    cancel = getattr(errors, "CANCEL", None)
    assert cancel is not None, "no cancel event a plan would look at"
    token = cancel.set(ev)
    try:
        t0 = time.monotonic()
        with pytest.raises(errors.Cancelled):
            personal_plan(rec)
        assert time.monotonic() - t0 < 5.0
    finally:
        cancel.reset(token)


def _long_plan_request(url: str) -> urllib.request.Request:
    """A POST of a 200-day record to the dashboard's plan route (minutes of engine work)."""
    return urllib.request.Request(url + "api/plan", data=json.dumps({"record": _long_record(200)}).encode(),
                                  headers={"Content-Type": "application/json"}, method="POST")


def _engine_lock_wait(api) -> tuple[bool, float]:
    """(got, seconds): whether the engine's lock came free within 120 s, and how long it took."""
    t0 = time.monotonic()
    got = api.ENGINE_LOCK.acquire(timeout=120)
    waited = time.monotonic() - t0
    if got:
        api.ENGINE_LOCK.release()
    return got, waited


def test_a_timed_out_plan_request_lets_go_of_the_engine(monkeypatch):
    """A long record (200 days of daily ratings, weekly sessions) on the plan page: the request timed out with a clear 503, but the
    plan went on for minutes under the engine's lock, so the next plans timed out behind it. Now it stops at its next
    engine run and the engine is free within seconds."""
    pytest.importorskip("starlette")
    import ketasim.personal  # noqa: F401  (imported now: the request's seconds are the plan's, not the imports')
    import ketasim.plan_report  # noqa: F401
    from ketasim.web import api, server

    monkeypatch.setattr(server, "REQUEST_TIMEOUT_S", 3.0)
    with server.ServerThread(warm=False) as s:
        req = _long_plan_request(s.url)
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, timeout=60)
        assert ei.value.code == 503
        message = json.loads(ei.value.read())["errors"][0]["message"]
        assert "timed out after 3 s; the plan was stopped" in message and "`ketasim plan RECORD.csv" in message
        got, waited = _engine_lock_wait(api)
        assert got and waited < 10.0, f"the engine was still busy {waited:.1f} s after the request timed out"


def test_a_plan_whose_page_went_away_lets_go_of_the_engine():
    """The plan route did not look for a closed page (the other routes did): a plan whose tab was closed ran to its
    end under the engine's lock. Now the client's going away stops it at its next engine run."""
    pytest.importorskip("starlette")
    import socket

    import ketasim.personal  # noqa: F401  (imported now: the seconds below are the plan's, not the imports')
    import ketasim.plan_report  # noqa: F401
    from ketasim.web import api, server

    with server.ServerThread(warm=False) as s:
        req = _long_plan_request(s.url)
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
            urllib.request.urlopen(req, timeout=3)      # the page gives up after 3 s and closes its connection
        got, waited = _engine_lock_wait(api)
        assert got and waited < 10.0, f"the engine was still busy {waited:.1f} s after the page went away"


# -- the plan page: text in the probability box ------------------------------------------------------------------

@contextlib.contextmanager
def plan_page():
    """A browser page on the dashboard's plan page with its example record loaded (skips, or fails under
    KETASIM_REQUIRE_BROWSER, as test_web_browser does when Chromium or Playwright is missing)."""
    from test_web_browser import CHROMIUM_ARGS, _missing, chromium_path

    if chromium_path() is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[web]')")
    pytest.importorskip("starlette")
    from ketasim.web.server import ServerThread

    with ServerThread(warm=False) as s, sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = b.new_page()
            page.goto(s.url + "plan")
            page.wait_for_function("() => document.querySelector('#record').value.startsWith('ID,TIME')")
            yield page
        finally:
            b.close()


def test_text_in_the_plan_pages_probability_box_is_named_not_read_as_the_default():
    """Chromium gives a number box holding '1e' the value '', which the plan read as its default 0.8 and ran: the
    user saw their text and a plan at a probability they had not typed."""
    with plan_page() as page:
        posts = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.fill("#probability", "")
        page.locator("#probability").press_sequentially("1e")
        page.click("#run")
        page.wait_for_function("() => document.querySelector('#errors').textContent !== ''", timeout=10_000)
        assert page.inner_text("#errors").startswith("probability: not a number")
        page.click("#report")
        page.wait_for_timeout(300)
        assert not posts, posts          # nothing was planned at the default
