"""Covariate-effects benchmark (`ketasim covariates`).

Prints, for the default contrasts and endpoints at the default size (500 patients) on a realistic repeated regimen
(intranasal esketamine 56 mg twice weekly for 4 weeks, relief read at 28 d) and on one 40-min IV infusion: wall
time (median of repeats), CPU time, peak resident memory, runs of the arm, and the precision the population gives
(median half-width of the 90 % CIs of the PK ratios and of the response differences).

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_covariates.py [--repeats 3] [--size 500]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from ketasim import quick_scenario
from ketasim.covariates import DEFAULT_CONTRASTS, run_covariates

CASES = {
    "esketamine 56 mg IN twice weekly x 8": (dict(drug="esketamine", route="intranasal", dose="56 mg", every="3.5 d",
                                                  count=8),
                                             ["cmax", "auc_0_inf", "cadss_peak", "sbp_change_peak",
                                              "response_rate@28d"]),
    "racemic 0.5 mg/kg IV over 40 min": (dict(drug="racemic-ketamine", route="iv-infusion", dose="0.5 mg/kg",
                                              duration="40 min"), None),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=500)
    args = ap.parse_args()
    run_covariates(quick_scenario("esketamine", "intranasal", "56 mg", size=10), n=10)    # load the kernel cache
    for label, (kw, endpoints) in CASES.items():
        sc = quick_scenario(**kw, size=args.size)
        walls, cpus = [], []
        for _ in range(args.repeats):
            w, c = time.perf_counter(), time.process_time()
            res = run_covariates(sc, n=args.size, endpoints=endpoints)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        df = res.table()
        half = (df["ci90_high"] - df["ci90_low"]) / 2
        pk = half[df["statistic"] == "geometric mean ratio"]
        rr = half[df["endpoint"].str.startswith("response_rate")]
        print(f"{label}: {len(DEFAULT_CONTRASTS)} contrasts x {args.size} patients: wall median "
              f"{statistics.median(walls):.2f} s (min {min(walls):.2f}, {args.repeats} runs), CPU median "
              f"{statistics.median(cpus):.2f} s; 90 % CI half-width median: PK ratio {np.median(pk):.4f}, "
              f"response {np.median(rr):.2f} pp")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
