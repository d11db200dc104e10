"""The run-time estimate (``limits.estimate_scenario_run``, what `ketasim simulate/trial` check against
KETASIM_MAX_SECONDS before a run) against measured streamed runs (``scale.simulate_streamed`` to parquet, the faster of
``--repeat`` runs after a compile run): seconds estimated, measured, and their ratio per case.

    NUMBA_NUM_THREADS=1 python benchmarks/bench_estimate.py [--repeat 2] [--case design]

The forty-third session saw a streamed run ~5x faster than estimated; the forty-fourth measured 0.59-1.13
(estimate / measured) over eight runs and kept the cost model. tests/test_leftovers_s44_h4.py pins the estimates of
:data:`CASES` against the times this script measured (:data:`MEASURED_S`), without timing anything itself (the
design rule: performance is measured by benchmarks, not by timed unit tests).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (scenario builder, patients per arm)
CASES = {
    "design": (lambda: _load(ROOT / "examples" / "design_example.yaml"), 2000),
    "single": (lambda: _quick("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min"), 4000),
}

#: Seconds measured by this script (the fastest of 8 streamed runs in 3 invocations, chunk n/2, one numba thread, on
#: the project's 2-core machine at load ~3.7, 2026-12-06, forty-fourth session; estimate / measured 1.33 and 0.64):
#: the tests' reference.
MEASURED_S = {"design": 1.66, "single": 0.86}


def _load(path):
    from ketasim.scenario import load_scenario

    return load_scenario(path)


def _quick(*a, **kw):
    from ketasim.scenario import quick_scenario

    return quick_scenario(*a, **kw)


def streamed_seconds(sc, n: int, folder: Path, repeat: int = 2) -> float:
    """The faster of ``repeat`` streamed runs of ``n`` patients per arm (s): a shared machine's load only slows one."""
    from ketasim.scale import simulate_streamed

    best = float("inf")
    for k in range(repeat):
        t0 = time.perf_counter()
        simulate_streamed(sc, n=n, seed=1, parquet=folder / f"run{k}.parquet", chunk=max(n // 2, 1),
                          anesthetic_check=False, check_disk=False)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per case (>= 1; the faster counts)")
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="default: every case")
    args = ap.parse_args(argv)
    if args.repeat < 1:         # --repeat 0 printed 'measured inf s ratio 0.00'
        raise SystemExit(f"error: --repeat: the number of timed runs per case must be >= 1, got {args.repeat}")
    from ketasim import engine, limits

    for name in args.case or list(CASES):
        build, n = CASES[name]
        sc = build()
        engine.simulate(sc, n=2, seed=1, anesthetic_check=False)        # compiled before the clock starts
        with tempfile.TemporaryDirectory() as d:
            measured = streamed_seconds(sc, n, Path(d), args.repeat)
        est = limits.estimate_scenario_run(sc, n).seconds
        print(f"{name:8s} n {n:6,d}  estimated {est:7.2f} s  measured {measured:7.2f} s  ratio {est / measured:5.2f}")


if __name__ == "__main__":
    main()
