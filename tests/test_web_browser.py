"""End to end in a real headless Chromium (Debian's ``chromium``, driven by Playwright): the dashboard as a
person uses it, and generated reports opened from disk with the network cut off.

Skipped when Chromium or Playwright is missing, unless ``KETASIM_REQUIRE_BROWSER=1`` (CI), where that fails.
Screenshots go to the test's tmp dir and to ``out/`` for a human to look at.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REQUIRE = os.environ.get("KETASIM_REQUIRE_BROWSER") == "1"
OUT = Path(__file__).resolve().parents[1] / "out"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _missing(reason: str):
    if REQUIRE:
        pytest.fail(f"{reason} (KETASIM_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    for cand in (os.environ.get("KETASIM_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                 shutil.which("chromium-browser")):
        if cand and Path(cand).exists():
            return cand
    return None


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    if exe is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[web]')")
    with sync_playwright() as p:   # Playwright gives every launch a fresh, temporary profile
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _save_shot(page, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000
    OUT.mkdir(exist_ok=True)
    shutil.copyfile(path, OUT / name)
    return path


@pytest.fixture(scope="module")
def dashboard():
    """``ketasim serve --port 0`` in a subprocess; yields the address it prints."""
    if chromium_path() is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ketasim.cli", "serve", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    url, seen = None, []
    try:
        while url is None:
            try:
                line = lines.get(timeout=120)       # the first start on a fresh machine compiles the engine
            except queue.Empty:
                break
            seen.append(line)
            m = re.search(r"ketasim dashboard: (http://127\.0\.0\.1:\d+/)", line)
            url = m.group(1) if m else None
            if proc.poll() is not None and lines.empty():
                break
        assert url, "the server did not print its address:\n" + "".join(seen)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()


def _new_page(browser, width=1440, height=1000):
    ctx = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # a 422 answer to invalid input is expected (the browser logs every non-2xx response)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and "status of 422" not in m.text else None)
    return ctx, page, problems


PEAK_JS = """([arm, col]) => {
  const gd = document.getElementById('cascade');
  const tr = gd.data.find(t => t.meta && t.meta.arm && t.meta.arm.startsWith(arm) && t.meta.column === col);
  return tr ? Math.max(...tr.y) : null;
}"""


def _wait_new_answer(page, seq_before: str, status: str = "ok"):
    page.wait_for_function("([s, st]) => document.body.dataset.seq !== s && document.body.dataset.status === st"
                           if status == "ok" else
                           "([s, st]) => document.body.dataset.status === st", arg=[seq_before, status], timeout=20000)


def test_dashboard_end_to_end(browser, dashboard, tmp_path):
    from ketasim import scenario_from_dict
    from ketasim.errors import KetasimError

    ctx, page, problems = _new_page(browser)
    external = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(dashboard) and not r.url.startswith("data:") else None)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert page.locator("#notice").inner_text() == "ketasim is a research and teaching tool, not medical advice."
    n_panels = page.evaluate("document.querySelectorAll('#cascade .subplot').length || document.querySelectorAll('#cascade .xy').length")
    assert n_panels >= 10
    assert page.evaluate("new Set(document.getElementById('cascade').data.filter(t => t.meta).map(t => t.meta.arm)).size") == 2

    # change a dose: the plasma curve follows (linear PK: 0.5 -> 1.0 mg/kg doubles the peak)
    peak0 = page.evaluate(PEAK_JS, ["A:", "cp_ketamine_ng_ml"])
    nmda0 = page.evaluate(PEAK_JS, ["A:", "nmda_block_interneuron"])
    seq = page.evaluate("document.body.dataset.seq")
    page.fill('[data-field="regimen.0.dose"]', "1.0")
    _wait_new_answer(page, seq)
    peak1 = page.evaluate(PEAK_JS, ["A:", "cp_ketamine_ng_ml"])
    nmda1 = page.evaluate(PEAK_JS, ["A:", "nmda_block_interneuron"])
    assert peak1 == pytest.approx(2 * peak0, rel=0.03)
    assert nmda1 > nmda0
    assert "1.0 mg/kg" in page.locator('[data-field="regimen.0.name"]').input_value()
    latency = page.evaluate("window.ketasimLastLatencyMs")
    print(f"\nbrowser: control change -> curves drawn in {latency:.0f} ms")

    # the chain diagram follows the time slider
    page.evaluate("""() => { const s = document.getElementById('time-slider');
        s.value = "0"; s.dispatchEvent(new Event('input')); }""")
    page.wait_for_function("() => document.getElementById('time-label').textContent.startsWith('0 min')")
    at0 = page.get_attribute('#chain g[data-column="cp_ketamine_ng_ml"]', "data-level")
    page.evaluate("""() => { const s = document.getElementById('time-slider');
        s.value = "9";
        s.dispatchEvent(new Event('input')); }""")
    page.wait_for_function("() => document.getElementById('time-label').textContent.startsWith('45 min')")
    at45 = page.get_attribute('#chain g[data-column="cp_ketamine_ng_ml"]', "data-level")
    assert float(at0) == 0.0 and float(at45) > 0.5
    assert page.locator("#chain g.link").count() == 2 * 13

    # a third regimen joins the comparison
    seq = page.evaluate("document.body.dataset.seq")
    page.check('[data-field="regimen.2.enabled"]')
    _wait_new_answer(page, seq)
    assert page.evaluate("new Set(document.getElementById('cascade').data.filter(t => t.meta).map(t => t.meta.arm)).size") == 3
    page.uncheck('[data-field="regimen.2.enabled"]')

    # invalid input: the CLI's message, at the field; the page keeps the last good curves
    page.fill('[data-field="regimen.0.dose"]', "-1")
    page.wait_for_function("() => document.body.dataset.status === 'invalid'", timeout=20000)
    msg = page.locator('[data-msg="regimen.0.dose"]').inner_text()
    name = page.locator('[data-field="regimen.0.name"]').input_value()
    with pytest.raises(KetasimError) as ei:
        scenario_from_dict({"name": "x", "arms": {name: [{"drug": "racemic-ketamine", "route": "iv-infusion",
                                                         "dose": "-1 mg/kg", "duration": "40 min", "at": "0 h"}]}})
    assert msg == str(ei.value)
    assert "invalid" in page.get_attribute('[data-field="regimen.0.dose"]', "class")
    assert page.evaluate(PEAK_JS, ["A:", "cp_ketamine_ng_ml"]) == pytest.approx(peak1)
    seq = page.evaluate("document.body.dataset.seq")
    page.fill('[data-field="regimen.0.dose"]', "0.5")
    _wait_new_answer(page, seq)
    assert page.locator('[data-msg="regimen.0.dose"]').inner_text() == ""

    # download the scenario: the CLI reads it
    with page.expect_download() as dl:
        page.click("#dl-yaml")
    yml = tmp_path / "dashboard.yaml"
    dl.value.save_as(yml)
    from ketasim.scenario import load_scenario

    sc = load_scenario(yml)
    assert [a.doses[0].amount for a in sc.arms] == [0.5, 56.0]
    with page.expect_download() as dl:
        page.click("#dl-csv")
    csv = tmp_path / "dashboard.csv"
    dl.value.save_as(csv)
    assert csv.read_text().startswith("arm,subject,time_h,")

    _save_shot(page, tmp_path, "dashboard.png", full_page=False)

    # a small virtual trial, with progress, read back from the table
    page.fill('[data-field="trial.size"]', "150")
    page.click("#run-trial")
    page.wait_for_function("() => document.body.dataset.trial === 'done'", timeout=90000)
    assert page.evaluate("document.getElementById('trial-progress').value") == 1
    cells = page.locator('#endpoint-table tr[data-measure="response_rate"][data-time="24 h"] td[data-arm]')
    assert cells.count() == 3                              # A, B and the placebo arm
    values = [float(cells.nth(i).get_attribute("data-value")) for i in range(3)]
    assert all(0 <= v <= 100 for v in values)
    assert values[0] > values[2]                           # ketamine beats saline at 24 h
    assert re.search(r"\[\d", cells.nth(0).inner_text())   # an interval is shown
    assert page.evaluate("document.querySelectorAll('#trial-bands .scatterlayer .trace').length") > 5
    page.locator("#trial-card").scroll_into_view_if_needed()
    _save_shot(page, tmp_path, "dashboard-full.png", full_page=True)

    assert not problems, problems
    assert not external, f"requests left the machine: {external}"
    ctx.close()


def test_reports_render_offline(browser, tmp_path):
    from ketasim import scenario_from_dict, simulate
    from ketasim.report import simulation_report, trial_report
    from ketasim.trial import run_trial

    sc = scenario_from_dict({
        "name": "browser-report", "seed": 2, "population": {"size": 40},
        "arms": {"esketamine": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "at": "0 d",
                                 "every": "3.5 d", "count": 4}],
                 "placebo": [{"drug": "placebo", "route": "iv-infusion", "at": "0 h"}]},
        "endpoints": {"times": ["24 h", "14 d"]}, "output": {"every": "3 h"}})
    sim = simulation_report(simulate(sc), simulate(sc, typical=True), tmp_path / "sim.html")
    tri = trial_report(run_trial(sc), tmp_path / "trial.html")
    for path, plots in ((sim, ("cascade", "side-effects")), (tri, ("endpoints", "cascade", "side-effects"))):
        ctx, page, problems = _new_page(browser, 1280, 900)
        blocked = []

        def cut(route, blocked=blocked):
            if route.request.url.startswith(("file:", "data:")):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        page.route("**/*", cut)
        page.goto(path.as_uri())
        for fid in plots:
            page.wait_for_function(f"() => document.querySelectorAll('#{fid} .main-svg').length > 0", timeout=20000)
            n = page.evaluate(f"document.querySelectorAll('#{fid} .scatterlayer .trace').length")
            assert n > 0, (path.name, fid)
            box = page.locator(f"#{fid}").bounding_box()
            assert box["height"] > 200 and box["width"] > 600
        assert page.locator("#notice").inner_text() == "ketasim is a research and teaching tool, not medical advice."
        assert "name: browser-report" in page.locator("#scenario-yaml").inner_text()
        _save_shot(page, tmp_path, f"report-{path.stem}.png")
        assert not problems, problems
        assert not blocked, blocked
        ctx.close()


def test_dashboard_covariate_effects(browser, dashboard, tmp_path):
    """The covariate panel: one click shows this patient's forest (a table row per contrast, PK ratios and
    differences) and its figure; rifampicin lowers the first analyte's AUC."""
    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    page.click("#run-covariates")
    page.wait_for_function("() => document.body.dataset.covariates === 'done'", timeout=60000)
    rif = page.locator('#covariates-table tr[data-contrast="+ rifampicin"] td[data-endpoint="auc_0_inf"]')
    assert float(rif.get_attribute("data-value")) < 1.0
    assert page.locator("#covariates-table tr[data-contrast]").count() >= 10
    assert page.evaluate("document.querySelectorAll('#covariates-forest .scatterlayer .trace').length") >= 4
    page.locator("#covariates-card").scroll_into_view_if_needed()
    _save_shot(page, tmp_path, "dashboard-covariates.png", full_page=False)
    assert not problems, problems
    ctx.close()


def test_dashboard_trial_power(browser, dashboard, tmp_path):
    """The Trial power card: the trial card's arms against its placebo, power by size with intervals, the smallest
    size reaching the target and the curves; the numbers are run_power's for the page's own form; a size beyond the
    dashboard's bound is refused at its box."""
    from ketasim.power import run_power
    from ketasim.web import api

    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert page.input_value('[data-field="power.sizes"]') == api.DEFAULT_POWER_SIZES
    assert page.input_value('[data-field="power.time"]') == "24 h"
    assert page.input_value('[data-field="power.measure"]') == "response_rate"
    assert page.input_value('[data-field="power.replicates"]') == str(api.DEFAULT_POWER_REPLICATES)
    assert page.is_disabled('[data-field="power.test"]')         # a rate is compared by the z-test
    page.select_option('[data-field="power.measure"]', "mean_change")
    assert page.is_enabled('[data-field="power.test"]')
    page.select_option('[data-field="power.measure"]', "response_rate")
    page.fill('[data-field="power.sizes"]', "10, 20, 40")
    page.fill('[data-field="power.replicates"]', "200")
    page.click("#run-power")
    page.wait_for_function("() => document.body.dataset.power === 'done'", timeout=120000)
    tables = page.locator("#power-table table.power")
    assert tables.count() == 2                       # two regimens, each against the placebo arm
    arm = tables.first.get_attribute("data-arm")
    shown = [float(x) for x in tables.first.locator("td[data-power]").evaluate_all(
        "els => els.map(e => e.dataset.power)")]
    assert tables.first.locator("tr[data-n]").evaluate_all("els => els.map(e => e.dataset.n)") == ["10", "20", "40"]
    form = page.evaluate("() => readForm()")
    lib = run_power(api.build(form, trial=True).scenario, sizes=[10, 20, 40], endpoints=["response_rate@24h"],
                    replicates=200).table()
    assert shown == lib[lib["arm"] == arm]["power"].tolist()
    assert page.locator("#power-summary li").count() == 2
    assert "smallest size tested reaching 80 % power" in page.locator("#power-summary").inner_text()
    assert page.evaluate("document.querySelectorAll('#power-curves .scatterlayer .trace').length") >= 4
    assert "not medical advice" in page.locator("#power-notice").inner_text()
    page.locator("#power-card").scroll_into_view_if_needed()
    _save_shot(page, tmp_path, "dashboard-power.png", full_page=False)
    # a superiority margin: the notice says the null hypothesis with its unit, not "worse by -2 or more" (H9, s43)
    page.fill('[data-field="power.margin"]', "-2")
    page.select_option('[data-field="power.measure"]', "mean_change")
    page.evaluate("() => { document.body.dataset.power = ''; }")
    page.click("#run-power")
    page.wait_for_function("() => document.body.dataset.power === 'done'", timeout=120000)
    notice = page.locator("#power-notice").inner_text()
    assert "better than the comparator by 2 MADRS points or less" in notice and "by -2" not in notice
    page.fill('[data-field="power.margin"]', "0")
    page.fill('[data-field="power.sizes"]', "10, 5000")
    page.click("#run-power")
    page.wait_for_function("() => document.body.dataset.power === 'invalid'", timeout=30000)
    assert page.locator('[data-msg="power.sizes"]').inner_text().startswith("power.sizes: ")
    assert "invalid" in page.get_attribute('[data-field="power.sizes"]', "class")
    assert not problems, problems
    ctx.close()


def test_covariates_report_renders_offline(browser, tmp_path):
    """`ketasim covariates --report`: the forest plot draws from the page alone, with the network cut off."""
    from ketasim import quick_scenario
    from ketasim.covariates import run_covariates
    from ketasim.report import covariates_report

    res = run_covariates(quick_scenario("esketamine", "intranasal", "56 mg", size=20), n=20,
                         contrasts=["age=70:45", "comedication=rifampicin"])
    path = covariates_report(res, tmp_path / "covariates.html")
    ctx, page, problems = _new_page(browser, 1280, 900)
    blocked = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
               else (blocked.append(route.request.url), route.abort()))
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelectorAll('#forest .main-svg').length > 0", timeout=20000)
    assert page.evaluate("document.querySelectorAll('#forest .scatterlayer .trace').length") >= 4
    assert page.locator("#notice").inner_text() == "ketasim is a research and teaching tool, not medical advice."
    _save_shot(page, tmp_path, "report-covariates.png")
    assert not problems, problems
    assert not blocked, blocked
    ctx.close()
