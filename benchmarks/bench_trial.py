"""Trial and calibration benchmark.

Prints the wall time of a 2-arm virtual trial with 10,000 patients per arm x 28 days (median of repeats), and,
with --calibration, of one full calibration (`ketasim calibrate` settings, written to a temporary file).

    .venv/bin/python benchmarks/bench_trial.py [--calibration]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ketasim import scenario_from_dict
from ketasim.trial import run_trial

SCENARIO = {
    "name": "bench-2-arm", "seed": 1,
    "population": {"size": 10000, "condition": "depression", "treatment_resistant": True, "scale": "madrs",
                   "baseline": {"mean": 33, "sd": 5}},
    "arms": {
        "esketamine+AD": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d", "count": 8},
                          {"drug": "oral-antidepressant", "route": "oral"}],
        "placebo+AD": [{"drug": "placebo", "route": "intranasal", "every": "3.5 d", "count": 8},
                       {"drug": "oral-antidepressant", "route": "oral"}],
    },
    "endpoints": {"times": ["2 h", "24 h", "7 d", "14 d", "28 d"],
                  "measures": ["mean", "mean_change", "response_rate", "remission_rate", "cadss_peak",
                               "sbp_change_peak", "nausea_rate", "hypertension_rate", "discharge_2h_rate"]},
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibration", action="store_true", help="also time one full calibration (minutes)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sc = scenario_from_dict(SCENARIO)
    run_trial(sc, n=20)  # compile / load the kernel cache
    ts = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        tr = run_trial(sc)
        ts.append(time.perf_counter() - t)
    print(f"2-arm trial, 10,000 patients per arm x 28 days (8 sessions): median {statistics.median(ts):.2f} s "
          f"(min {min(ts):.2f} s, {args.repeats} runs; {20000 / statistics.median(ts):,.0f} patients/s)")
    d = tr.table()
    print(d[(d.time_h == 672.0) & (d.measure.isin(['mean_change', 'response_rate']))].to_string(index=False))
    if args.calibration:
        from ketasim.calibration import calibrate, write_parameter_set

        t = time.perf_counter()
        new, rep = calibrate(log=lambda *_: None)
        dt = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            write_parameter_set(new, rep, Path(tmp) / "free.json")
        print(f"one full calibration: {dt:.0f} s, {rep['evaluations']} objective evaluations "
              f"({dt / rep['evaluations']:.2f} s each), J {rep['objective_start']:.1f} -> {rep['objective']:.1f}")


if __name__ == "__main__":
    main()
