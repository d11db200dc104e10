"""Scale benchmark (issue 10): a million patients on this machine, memory, accuracy, what the grid bought, Dask.

Each case runs in a fresh subprocess so its peak memory (``resource.getrusage(...).ru_maxrss``) is its own.
Prints medians over ``--repeats`` runs (this machine is shared and noisy) and ratios measured in the same run.

    .venv/bin/python benchmarks/bench_scale.py                 # everything (several minutes)
    .venv/bin/python benchmarks/bench_scale.py --n 200000      # a smaller population
    .venv/bin/python benchmarks/bench_scale.py --only grid,one,accuracy
    .venv/bin/python benchmarks/bench_scale.py --dask          # + trial on a LocalCluster with 1 and 2 workers

Cases:
  trial     1 arm, N patients x 28 days, 0.5 mg/kg racemic ketamine over 40 min twice weekly (8 infusions),
            endpoints only (mean change, response, remission at 24 h, 7 d, 14 d, 28 d; side effects), chunked
  engine    the same population through scale.chunk_tasks/run_chunk keeping only the endpoint scores
  grid      20,000 patients, endpoints only: old grid (h_max 2 h) vs the default (h_max 12 h): steps and time ratio
  one       one patient, 28 days at 5-min output (8,065 rows)
  accuracy  max |error| / range of each variable vs the DOP853 reference (rtol 1e-11), the bench_engine cases
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

REGIMEN = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min",
           "every": "3.5 d", "count": 8}


def scenario_dict(n: int) -> dict:
    return {"name": "bench-scale", "seed": 1,
            "population": {"size": n, "baseline": {"mean": 33, "sd": 5}},
            "arms": {"ketamine twice weekly": [REGIMEN]},
            "endpoints": {"times": ["24 h", "7 d", "14 d", "28 d"],
                          "measures": ["mean_change", "response_rate", "remission_rate", "cadss_peak",
                                       "sbp_change_peak", "nausea_rate", "hypertension_rate"]}}


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---- cases (run inside a child process) --------------------------------------------------------------------------
def case_trial(n: int, dask: int = 0) -> dict:
    from ketasim import scenario_from_dict
    from ketasim.trial import run_trial

    sc = scenario_from_dict(scenario_dict(n))
    run_trial(sc, n=10)                      # load the compiled kernel
    ex = None
    if dask:
        from ketasim.distributed import DaskExecutor

        ex = DaskExecutor("local", n_workers=dask)
        run_trial(sc, n=10, executor=ex)     # workers load the kernel
    t, c = time.perf_counter(), time.process_time()
    tr = run_trial(sc, executor=ex)
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    if ex is not None:
        ex.close()
    d = tr.table()
    resp = float(d[(d.measure == "response_rate") & (d.time_h == 672.0)].value.iloc[0])
    return {"seconds": dt, "cpu_seconds": cpu, "patients_per_s": n / dt, "peak_mb": _peak_mb(), "response_rate_28d": resp}


def case_engine(n: int) -> dict:
    import numpy as np

    from ketasim import load_parameters, scenario_from_dict
    from ketasim.scale import chunk_tasks, map_ordered, run_chunk
    from ketasim.solver import kernel as K

    p = load_parameters()
    sc = scenario_from_dict(scenario_dict(n))
    times = np.array([0.0, 24.0, 168.0, 336.0, 672.0])
    run_chunk(chunk_tasks(sc, p, n=10, seed=1, output_times_h=times)[0])
    t, c = time.perf_counter(), time.process_time()
    sev = np.empty((n, times.size))
    for task, run in zip(tasks := chunk_tasks(sc, p, n=n, seed=1, output_times_h=times, chunk=20000),
                         map_ordered(run_chunk, tasks)):
        sev[task.start:task.stop] = run.out[:, :, K.OUT_NAMES.index("severity")]
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    return {"seconds": dt, "cpu_seconds": cpu, "patients_per_s": n / dt, "peak_mb": _peak_mb(),
            "mean_severity_28d": float(sev[:, -1].mean())}


def case_grid(n: int, repeats: int) -> dict:
    import numpy as np

    from ketasim import load_parameters, scenario_from_dict
    from ketasim.engine import prepare_arm, run_arm
    from ketasim.population import sample_patients
    from ketasim.solver.grid import GridOptions

    p = load_parameters()
    sc = scenario_from_dict(scenario_dict(n))
    arm, spec = sc.arms[0], sc.population
    times = np.array([0.0, 24.0, 168.0, 336.0, 672.0])
    pats = sample_patients(spec, p, 1, n)
    old, new = GridOptions(h_max=2.0), GridOptions()
    out = {}
    run_arm(arm, spec, pats.take(slice(0, 10)), times, params=p)
    ts = {"old": [], "new": []}
    for _ in range(repeats):                 # interleaved, so load from other processes hits both alike
        for key, o in (("old", old), ("new", new)):
            t = time.perf_counter()
            run_arm(arm, spec, pats, times, params=p, grid_options=o)
            ts[key].append(time.perf_counter() - t)
    for key, o in (("old", old), ("new", new)):
        g = prepare_arm(arm, spec, pats.take(slice(0, 1)), times, params=p, grid_options=o).grid
        out[key] = {"h_max": o.h_max, "steps": int(g.times.size - 1), "unique_steps": int(g.unique_steps.size),
                    "median_s": statistics.median(ts[key])}
    out["speedup"] = out["old"]["median_s"] / out["new"]["median_s"]
    return out


def case_one(repeats: int) -> dict:
    import numpy as np

    from ketasim import load_parameters, quick_scenario
    from ketasim.engine import run_arm
    from ketasim.population import typical_patient

    p = load_parameters()
    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg")
    arm, spec = sc.arms[0], sc.population
    one = typical_patient(spec, p)
    fine = np.arange(0, 672 + 1e-9, 5 / 60)
    run_arm(arm, spec, one, fine, params=p)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        run_arm(arm, spec, one, fine, params=p)
        ts.append(time.perf_counter() - t)
    return {"rows": int(fine.size), "median_ms": 1e3 * statistics.median(ts), "min_ms": 1e3 * min(ts)}


def case_accuracy() -> dict:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_engine import accuracy

    from ketasim import load_parameters

    p = load_parameters()
    cases = [("racemic-ketamine", "iv-infusion", "0.5 mg/kg", {}),
             ("racemic-ketamine", "iv-infusion", "0.5 mg/kg", {"every": "3.5 d", "count": 8}),
             ("esketamine", "intranasal", "56 mg", {"every": "3.5 d", "count": 8}),
             ("racemic-ketamine", "oral", "150 mg", {}), ("midazolam", "iv-infusion", "0.045 mg/kg", {})]
    out = {}
    for drug, route, dose, kw in cases:
        e, where = accuracy(p, drug, route, dose, **kw)
        out[f"{drug} {route} {dose} {kw or ''}".strip()] = {"max_rel_error": e, "worst": where}
    return out


# ---- driver ------------------------------------------------------------------------------------------------------------
def child(argv) -> None:
    name = argv[0]
    args = json.loads(argv[1])
    fn = {"trial": case_trial, "engine": case_engine, "grid": case_grid, "one": case_one,
          "accuracy": case_accuracy}[name]
    print("RESULT " + json.dumps(fn(**args)))


def run_child(name: str, **kw) -> dict:
    env = None
    proc = subprocess.run([sys.executable, __file__, "--child", name, json.dumps(kw)], capture_output=True, text=True,
                          env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=1, help="runs of the N-patient cases (median)")
    ap.add_argument("--only", default="trial,engine,grid,one,accuracy")
    ap.add_argument("--dask", action="store_true", help="also: the trial on a LocalCluster with 1 and 2 workers")
    ap.add_argument("--dask-n", type=int, default=200_000)
    args = ap.parse_args()
    only = set(args.only.split(","))
    print(f"ketasim scale benchmark; 28 days, 0.5 mg/kg racemic ketamine over 40 min twice weekly (8 infusions)")
    for name in ("trial", "engine"):
        if name in only:
            rs = [run_child(name, n=args.n) for _ in range(args.repeats)]
            sec = statistics.median(r["seconds"] for r in rs)
            mb = max(r["peak_mb"] for r in rs)
            cpu = statistics.median(r["cpu_seconds"] for r in rs)
            scale = 1_000_000 / args.n
            print(f"{name:8s} {args.n:>9,} patients, endpoints only: median {sec:7.1f} s ({args.n / sec:8,.0f} patients/s), "
                  f"CPU {cpu:7.1f} s, peak RSS {mb:7.0f} MB  [{args.repeats} run(s); targets for 1,000,000: <= 60 s, "
                  f"<= 1500 MB]  {rs[-1]}")
            if scale != 1:
                print(f"         extrapolated to 1,000,000 patients: {sec * scale:7.1f} s wall here, {cpu * scale / 2:7.1f} s "
                      "on 2 free cores (CPU / 2) [target <= 60 s]")
    if "grid" in only:
        g = run_child("grid", n=20000, repeats=3)
        print(f"grid     20,000 patients, endpoints only: h_max {g['old']['h_max']:g} h: {g['old']['steps']} steps, "
              f"{g['old']['median_s']:.2f} s; h_max {g['new']['h_max']:g} h: {g['new']['steps']} steps, "
              f"{g['new']['median_s']:.2f} s; "
              f"speed-up x{g['speedup']:.2f} (medians of 3, interleaved)")
    if "one" in only:
        o = run_child("one", repeats=21)
        print(f"one      1 patient, 28 d at 5-min output ({o['rows']} rows): median {o['median_ms']:.2f} ms "
              f"(min {o['min_ms']:.2f} ms) [target <= 5 ms]")
    if "accuracy" in only:
        a = run_child("accuracy")
        print("accuracy vs DOP853 reference (max |error| / range of each variable, 3 sampled patients) [target <= 1e-4]:")
        for k, v in a.items():
            print(f"  {k}: {v['max_rel_error']:.2e} ({v['worst']})")
    if args.dask:
        for w in (1, 2):
            r = run_child("trial", n=args.dask_n, dask=w)
            print(f"dask     {args.dask_n:,} patients on a LocalCluster of {w} worker process(es), 1 thread each: "
                  f"{r['seconds']:.1f} s ({r['patients_per_s']:,.0f} patients/s); client peak RSS {r['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
