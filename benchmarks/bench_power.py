"""Power benchmark (`ketasim power`).

Prints, on a realistic repeated regimen (intranasal esketamine 56 mg twice weekly for 4 weeks + a new oral
antidepressant vs placebo + the antidepressant, MADRS change and response at 28 d) and on one 40-min IV infusion vs
midazolam (24 h): wall time (median of repeats) split into the pools' simulation and the replicate analyses, the
replicate trials analysed per second, peak resident memory, and accuracy: the largest Monte Carlo half-width of the
power and, on pools of exactly normal changes (standardised N(0, 1) and N(-d, 1)), the replicate power against
statsmodels' closed-form power of the t-test.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_power.py [--repeats 3] [--replicates 1000]

``--search`` (forty-third session) instead times ``--sizes auto`` once per case (the change, response and the
dissociation incidence at the grid's pool of 2,000 with max size 200, then at the default max size 500 and its pool
of 5,000, then a non-inferiority margin of 2 points): wall and CPU time, the sizes evaluated and the search's share
(the replicate analyses), against the fixed list of 7 sizes on the same pool.
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


def search_bench(replicates: int) -> None:
    """One run per case and setting of ``sizes='auto'`` (see the module)."""
    eps = ["mean_change@28d", "response_rate@28d", "dissociation_rate"]
    for label, doc in CASES.items():
        sc = scenario_from_dict(doc)
        t = doc["endpoints"]["times"][0].replace(" ", "")
        endpoints = [e.replace("28d", t) for e in eps]
        for what, kw in (("list of 7 sizes, pool 2,000", dict(sizes=SIZES, pool=2000)),
                         ("auto, max 200, pool 2,000", dict(sizes="auto", max_size=200, pool=2000)),
                         ("auto, max 500 (default pool 5,000)", dict(sizes="auto")),
                         ("auto, max 200, pool 2,000, margin 2 pts on the change",
                          dict(sizes="auto", max_size=200, pool=2000, margin={endpoints[0]: 2}))):
            w, c = time.perf_counter(), time.process_time()
            # the analyses alone: time _replicate_power's calls (the rest is the pools and the incidences)
            spent = [0.0]
            inner = pw._replicate_power

            def timed(*a, **k):
                t0 = time.perf_counter()
                try:
                    return inner(*a, **k)
                finally:
                    spent[0] += time.perf_counter() - t0

            pw._replicate_power = timed
            try:
                res = pw.run_power(sc, endpoints=endpoints, replicates=replicates, **kw)
            finally:
                pw._replicate_power = inner
            wall, cpu = time.perf_counter() - w, time.process_time() - c
            df = res.table()
            need = res.sample_sizes()
            found = ", ".join(f"{m}: {'>' + str(int(df['n_per_arm'].max())) if not np.isfinite(n) else int(n)}"
                              for m, n in zip(need["measure"], need["smallest_n_per_arm"]))
            print(f"{label} | {what}: wall {wall:.2f} s, CPU {cpu:.2f} s, analyses {spent[0]:.2f} s; "
                  f"{len(df)} sizes evaluated ({', '.join(str(int((df['measure'] == m).sum())) for m in need['measure'])}"
                  f" per endpoint); smallest n for 80 %: {found}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--search", action="store_true", help="time sizes='auto' once per case instead")
    args = ap.parse_args()
    if args.search:
        warm = scenario_from_dict(CASES["racemic 0.5 mg/kg IV over 40 min vs midazolam, 24 h"])
        pw.run_power(warm, sizes=[10], replicates=100, pool=50)          # load the kernel cache
        search_bench(args.replicates)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak resident memory of the process: {peak:.0f} MiB")
        return
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
