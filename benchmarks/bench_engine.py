"""Engine benchmark: throughput and accuracy of the full chain (PK -> ... -> symptoms, side effects).

Prints medians of repeated runs (this machine is shared and noisy) for 1, 1,000 and 100,000 virtual patients
x 28 days, and the accuracy against the independent tight-tolerance reference solve (scipy DOP853, rtol 1e-11).

    .venv/bin/python benchmarks/bench_engine.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ketasim import load_parameters, quick_scenario
from ketasim.engine import prepare_arm, run_arm
from ketasim.population import sample_patients, typical_patient
from ketasim.solver import kernel as K
from ketasim.solver.reference import reference_solve

ENDPOINTS_H = np.array([0, 40 / 60, 2, 24, 72, 168, 336, 672.0])


def timed(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts)


def accuracy(params, drug, route, dose, **kw):
    sc = quick_scenario(drug, route, dose, output_every="6 h", **kw)
    times = np.unique(np.concatenate([sc.output_times_h(), [40 / 60, 2, 24]]))
    pats = sample_patients(sc.population, params, 3, n=3)
    prep = prepare_arm(sc.arms[0], sc.population, pats, times, params=params)
    got = run_arm(sc.arms[0], sc.population, pats, times, params=params).out
    worst, where = 0.0, ""
    for i in range(pats.n):
        ref = reference_solve(prep, i)
        scale = np.abs(ref).max(axis=0)
        err = np.abs(got[i] - ref).max(axis=0) / np.where(scale > 0, scale, 1.0)
        j = int(np.argmax(err))
        if err[j] > worst:
            worst, where = float(err[j]), K.OUT_NAMES[j]
    return worst, where


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the 100,000-patient run")
    args = ap.parse_args()
    p = load_parameters()
    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg")
    arm, spec = sc.arms[0], sc.population
    run_arm(arm, spec, typical_patient(spec, p), ENDPOINTS_H, params=p)  # compile / load the cache
    print("ketasim engine benchmark: 0.5 mg/kg racemic ketamine over 40 min, 28 days, full chain")
    print(f"{'case':48s} {'median':>10s} {'min':>10s} {'patients/s':>12s}")
    one = typical_patient(spec, p)
    fine = np.arange(0, 672 + 1e-9, 5 / 60)
    med, mn = timed(lambda: run_arm(arm, spec, one, fine, params=p), 21)
    print(f"{'1 patient, output every 5 min (8065 rows)':48s} {med * 1e3:8.2f}ms {mn * 1e3:8.2f}ms {1 / med:12.0f}")
    med, mn = timed(lambda: run_arm(arm, spec, one, ENDPOINTS_H, params=p), 21)
    print(f"{'1 patient, 8 endpoint times':48s} {med * 1e3:8.2f}ms {mn * 1e3:8.2f}ms {1 / med:12.0f}")
    sizes = (1000,) if args.quick else (1000, 100_000)
    for n in sizes:
        pats = sample_patients(spec, p, 1, n=n)
        med, mn = timed(lambda: run_arm(arm, spec, pats, ENDPOINTS_H, params=p), 5 if n <= 1000 else 3)
        print(f"{f'{n:,} patients, 8 endpoint times':48s} {med:9.3f}s {mn:9.3f}s {n / med:12.0f}")
    print("\naccuracy vs tight-tolerance reference (max |error| / range of the variable, 3 patients each):")
    cases = [("racemic-ketamine", "iv-infusion", "0.5 mg/kg", {}),
             ("esketamine", "intranasal", "56 mg", {"every": "3.5 d", "count": 8}),
             ("racemic-ketamine", "oral", "150 mg", {}), ("midazolam", "iv-infusion", "0.045 mg/kg", {})]
    for drug, route, dose, kw in cases:
        e, where = accuracy(p, drug, route, dose, **kw)
        print(f"  {drug} {route} {dose} {kw or ''}: {e:.2e} (worst variable: {where})")
    print("\ntargets (DESIGN.md): 100,000 patients x 28 d <= 10 s; 1 patient <= 20 ms; error <= 1e-4.")
    print("DESIGN.md comparison (5-state model, 5-min output): libRoadRunner 51 ms/patient, solve_ivp LSODA 30 ms,"
          " odeint 5.5 ms; 1000 patients in one BDF solve 1.9 s.")


if __name__ == "__main__":
    main()
