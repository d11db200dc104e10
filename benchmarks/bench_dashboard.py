"""Dashboard latency: how long after a change to a control do new single-patient curves arrive?

Starts the dashboard server in a background thread on a free loopback port, then posts the page's own
request to ``/api/simulate`` with a different dose each time (so nothing is cached) and prints the median
and 90th percentile of the round trip (HTTP + validation + engine + figure JSON), for one, two and three
regimens. Target: median <= 200 ms on the 2-core machine.

With ``--browser`` (needs Debian's chromium and playwright) it also measures, in headless Chromium, the
time from typing a new dose to the redrawn curves on the page (fetch + JSON parse + plotly.js redraw).

    python benchmarks/bench_dashboard.py [--repeat 40] [--browser]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request


def form(n_regimens: int, dose: float) -> dict:
    from ketasim.web import api

    f = api.default_form()
    f["regimens"][0]["dose"] = f"{dose:.3f}"
    extra = [
        {"name": "esketamine 56 mg IN twice weekly", "enabled": True, "drug": "esketamine", "route": "intranasal",
         "dose": "56", "dose_unit": "mg", "every": "3.5", "every_unit": "d", "count": "8"},
        {"name": "ketamine 1 mg/kg IV", "enabled": True, "drug": "racemic-ketamine", "route": "iv-infusion",
         "dose": "1", "dose_unit": "mg/kg", "duration_min": "40", "count": "1"},
    ]
    f["regimens"] += extra[: n_regimens - 1]
    return f


def post(url: str, body: dict) -> tuple[float, int]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        payload = r.read()
        status = r.status
    dt = time.perf_counter() - t0
    json.loads(payload)
    return dt, len(payload) if status == 200 else -1


def bench_http(url: str, repeat: int) -> None:
    for k in (1, 2, 3):
        post(url + "api/simulate", form(k, 0.5))           # warm this shape once
        times, size = [], 0
        for i in range(repeat):
            dt, size = post(url + "api/simulate", form(k, 0.3 + 0.01 * i))
            times.append(dt * 1000)
        times.sort()
        print(f"/api/simulate, {k} regimen(s): median {statistics.median(times):6.1f} ms   "
              f"p90 {times[int(0.9 * (len(times) - 1))]:6.1f} ms   answer {size / 1024:.0f} KiB   (n={repeat})")


def bench_browser(url: str, repeat: int) -> None:
    import shutil

    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                    "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = b.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=60000)
        for k in (2, 3):
            if k == 3:
                page.check('[data-field="regimen.2.enabled"]')
            times = []
            for i in range(repeat):
                seq = page.evaluate("document.body.dataset.seq")
                t0 = time.perf_counter()
                page.fill('[data-field="regimen.0.dose"]', f"{0.3 + 0.01 * (i % 40):.2f}")
                page.wait_for_function("s => document.body.dataset.seq !== s", arg=seq, timeout=20000)
                # the page's own measure: request sent -> curves redrawn (excludes the 120 ms typing debounce)
                times.append(page.evaluate("window.ketasimLastLatencyMs"))
                del t0
            times.sort()
            print(f"browser, {k} regimens: change -> curves redrawn: median {statistics.median(times):6.1f} ms   "
                  f"p90 {times[int(0.9 * (len(times) - 1))]:6.1f} ms   (n={repeat}; plus a 60 ms debounce while typing)")
        b.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    args = ap.parse_args()

    from ketasim.web.server import ServerThread

    t0 = time.perf_counter()
    with ServerThread(warm=True) as s:
        print(f"server {s.url} ready in {time.perf_counter() - t0:.1f} s (engine warm-up included)")
        bench_http(s.url, args.repeat)
        if args.browser:
            bench_browser(s.url, min(args.repeat, 20))


if __name__ == "__main__":
    main()
