"""Bounded localhost load test of the dashboard: concurrent simulate requests while a maximum-size trial runs.

Starts ``ketasim serve``'s app in a background thread on a free 127.0.0.1 port (nothing leaves the machine),
warms it up, measures the process's resident memory, then, for a fixed duration and at most a fixed number of
requests, runs ``--clients`` threads posting the page's own ``/api/simulate`` request (a different dose each
time) while a trial of ``api.MAX_TRIAL_SIZE`` patients per arm (plus a placebo arm) runs and is polled like the
page does. Prints p50/p90/p99/max latency, status counts, the trial's duration, and the memory before, at peak
and after (after the trial is dropped from the server's keep-list and a GC); the check is that memory comes
back to within 20 % of its starting level and that no request failed with a 5xx.

    NUMBA_NUM_THREADS=2 python benchmarks/load_server.py [--clients 6] [--duration 40] [--max-requests 600]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import threading
import time
import urllib.error
import urllib.request


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def post(url: str, body: dict, timeout: float = 120) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def get(url: str, timeout: float = 60) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--duration", type=float, default=40.0, help="seconds of simulate load")
    ap.add_argument("--max-requests", type=int, default=600)
    ap.add_argument("--trial-size", type=int, default=None, help="patients per arm (default: api.MAX_TRIAL_SIZE)")
    a = ap.parse_args(argv)

    from ketasim.web import api
    from ketasim.web.server import ServerThread

    size = a.trial_size or api.MAX_TRIAL_SIZE
    with ServerThread(warm=True) as srv:
        base = srv.url
        # settle: one small trial and a few simulations, so that every module and cache is loaded
        form = api.default_form()
        for d in (0.3, 0.4, 0.5):
            form["regimens"][0]["dose"] = d
            post(base + "api/simulate", form)
        small = {**api.default_form(), "trial": {"size": 50, "seed": 1, "times": "24 h, 7 d", "placebo_arm": True}}
        job = json.loads(post(base + "api/trial", small)[1])["job"]
        while json.loads(get(base + f"api/trial/{job}")[1])["status"] == "running":
            time.sleep(0.1)
        gc.collect()
        mem_before = rss_mb()
        peak = [mem_before]

        tform = {**api.default_form(), "trial": {"size": size, "seed": 7, "times": "2 h, 24 h, 7 d, 28 d",
                                                 "placebo_arm": True}}
        status, body = post(base + "api/trial", tform)
        assert status == 200, body
        big = json.loads(body)["job"]
        t_trial0 = time.monotonic()
        trial_state = {"status": "running", "seconds": None, "polls": 0}

        def poll():
            while True:
                st = json.loads(get(base + f"api/trial/{big}")[1])
                trial_state["polls"] += 1
                peak[0] = max(peak[0], rss_mb())
                if st["status"] != "running":
                    trial_state["status"] = st["status"]
                    trial_state["seconds"] = time.monotonic() - t_trial0
                    return
                time.sleep(0.5)

        lat: list[float] = []
        codes: dict[int, int] = {}
        lock = threading.Lock()
        sent = [0]
        t_end = time.monotonic() + a.duration

        def client(k: int):
            f = api.default_form()
            i = 0
            while time.monotonic() < t_end:
                with lock:
                    if sent[0] >= a.max_requests:
                        return
                    sent[0] += 1
                i += 1
                f["regimens"][0]["dose"] = round(0.2 + 0.001 * (k * 1000 + i), 4)
                t0 = time.perf_counter()
                code, _ = post(base + "api/simulate", f)
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
                    codes[code] = codes.get(code, 0) + 1

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        clients = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(a.clients)]
        t_load0 = time.monotonic()
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        load_s = time.monotonic() - t_load0
        poller.join(timeout=900)
        peak[0] = max(peak[0], rss_mb())
        # the server keeps the last few finished trials for their reports: push the big one out, then measure
        for _ in range(5):
            job = json.loads(post(base + "api/trial", small)[1])["job"]
            while json.loads(get(base + f"api/trial/{job}")[1])["status"] == "running":
                time.sleep(0.1)
        gc.collect()
        mem_after = rss_mb()      # the server itself trims the heap after trials (server.release_memory)

    ms = [x * 1000 for x in lat]
    out = {
        "clients": a.clients, "duration_s": round(load_s, 1), "requests": len(ms), "status_counts": codes,
        "throughput_rps": round(len(ms) / load_s, 2) if load_s else None,
        "latency_ms": {"p50": round(pct(ms, 0.5), 1), "p90": round(pct(ms, 0.9), 1), "p99": round(pct(ms, 0.99), 1),
                       "max": round(max(ms), 1) if ms else None,
                       "mean": round(statistics.fmean(ms), 1) if ms else None},
        "trial": {"patients_per_arm": size, "arms": 2, "status": trial_state["status"],
                  "seconds": round(trial_state["seconds"], 1) if trial_state["seconds"] else None,
                  "polls": trial_state["polls"]},
        "rss_mb": {"before": round(mem_before, 1), "peak": round(peak[0], 1), "after": round(mem_after, 1),
                   "after_vs_before": round(mem_after / mem_before - 1, 3)},
    }
    print(json.dumps(out, indent=1))
    ok = (trial_state["status"] == "done" and not any(c >= 500 for c in codes)
          and mem_after <= 1.2 * mem_before)
    print("OK" if ok else "FAILED: a 5xx answer, an unfinished trial or memory not back within 20 %")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
