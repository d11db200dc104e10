"""Power benchmark (`ketasim power`).

Prints, on a realistic repeated regimen (intranasal esketamine 56 mg twice weekly for 4 weeks + a new oral
antidepressant vs placebo + the antidepressant, MADRS change and response at 28 d) and on one 40-min IV infusion vs
midazolam (24 h): wall time (median of repeats) split into the pools' simulation and the replicate analyses, the
replicate trials analysed per second, peak resident memory, and accuracy: the largest Monte Carlo half-width of the
power and, on pools of exactly normal changes (standardised N(0, 1) and N(-d, 1)), the replicate power against
statsmodels' closed-form power of the t-test.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_power.py [--repeats 3] [--replicates 1000]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from ketasim import power as pw
from ketasim.scenario import scenario_from_dict

SIZES = (20, 40, 60, 80, 120, 160, 200)
POPULATION = {"size": 100, "treatment_resistant": True, "baseline": {"mean": 33, "sd": 5}}
CASES = {
    "esketamine 56 mg IN twice weekly x 8 + AD vs placebo + AD, 28 d": {
        "name": "nasal", "seed": 1, "population": POPULATION,
        "arms": {"esketamine": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d",
                                 "count": 8}, {"drug": "oral-antidepressant", "route": "oral"}],
                 "placebo": [{"drug": "placebo", "route": "intranasal", "every": "3.5 d", "count": 8},
                             {"drug": "oral-antidepressant", "route": "oral"}]},
        "endpoints": {"times": ["28 d"], "measures": ["mean_change", "response_rate"]}},
    "racemic 0.5 mg/kg IV over 40 min vs midazolam, 24 h": {
        "name": "iv", "seed": 1, "population": POPULATION,
        "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                               "duration": "40 min"}],
                 "midazolam": [{"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg",
                                "duration": "40 min"}]},
        "endpoints": {"times": ["24 h"], "measures": ["mean_change", "response_rate"]}},
}


def closed_form_check(replicates: int) -> str:
    """Replicate power on exactly normal pools vs statsmodels' TTestIndPower (effect sizes 0.3, 0.5, 0.8)."""
    from statsmodels.stats.power import TTestIndPower

    e = pw._Endpoint("mean_change", 24.0)
    pool = 100_000
    out = []
    for d, n in ((0.3, 100), (0.5, 50), (0.8, 20)):
        z = [np.random.default_rng(s).standard_normal(pool) for s in (1, 2)]
        z = [(x - x.mean()) / x.std() for x in z]
        wins = pw._replicate_power({("a", e): (z[0] - d, z[0]), ("b", e): (z[1], z[1])}, [("a", "b")], [e], (n,),
                                   {"mean_change": "welch"}, replicates, 0.05, 0.0, False, 3)
        sim, ref = wins[("a", "b"), e, n] / replicates, TTestIndPower().power(d, nobs1=n, alpha=0.05)
        se = np.sqrt(ref * (1 - ref) / replicates)
        out.append(f"d {d} n {n}: {sim:.3f} vs {ref:.3f} ({(sim - ref) / se:+.1f} SE)")
    return "; ".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--replicates", type=int, default=1000)
    args = ap.parse_args()
    warm = scenario_from_dict(CASES["racemic 0.5 mg/kg IV over 40 min vs midazolam, 24 h"])
    pw.run_power(warm, sizes=[10], replicates=100, pool=50)          # load the kernel cache
    for label, doc in CASES.items():
        sc = scenario_from_dict(doc)
        walls, cpus, analysis = [], [], []
        for _ in range(args.repeats):
            w, c = time.perf_counter(), time.process_time()
            res = pw.run_power(sc, sizes=SIZES, replicates=args.replicates)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
            # the replicate analyses alone, on the same pools (the rest of the wall time is the pools' simulation)
            from ketasim.trial import _run_trial

            tr = _run_trial(sc, pw.load_parameters(), res.provenance["pool"], sc.seed, None, 10000, None, None,
                            rows_only=True)
            pairs = [(a, b) for a, b in (c_.split(" vs ") for c_ in res.provenance["comparisons"])]
            eps = [pw._Endpoint(m, float(t.rstrip("h"))) for m, t in
                   (e_.split("@") for e_ in res.provenance["endpoints"])]
            arrays = pw._pool_arrays(tr, pairs, eps)
            a0 = time.perf_counter()
            pw._replicate_power(arrays, pairs, eps, SIZES, pw._tests_for("welch", False), args.replicates, 0.05, 0.0,
                                False, sc.seed)
            analysis.append(time.perf_counter() - a0)
        n_rep = len(SIZES) * args.replicates
        print(f"{label}: pools of {res.provenance['pool']:,} patients per arm, {len(SIZES)} sizes x "
              f"{args.replicates} replicates x {len(res.rows) // len(SIZES)} comparisons: wall median "
              f"{statistics.median(walls):.2f} s (min {min(walls):.2f}, {args.repeats} runs), CPU median "
              f"{statistics.median(cpus):.2f} s; replicate analyses median {statistics.median(analysis):.2f} s "
              f"({n_rep / statistics.median(analysis):,.0f} replicate trials/s, both endpoints); largest MC "
              f"half-width {max((r['power_ci95_high'] - r['power_ci95_low']) / 2 for r in res.rows):.3f}")
        print(res.format_table())
    print("closed-form check (Welch on exactly normal pools vs TTestIndPower):", closed_form_check(4000))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
