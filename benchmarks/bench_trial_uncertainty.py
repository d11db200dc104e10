"""Cost of prediction intervals for a new trial (``ketasim trial --uncertainty N``), in the same run.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_trial_uncertainty.py [--draws 20] [--rounds 3]

The how-to's two-arm placebo trial (docs/tutorials/placebo_trial.yaml, 200 patients per arm): CPU time (process,
one numba thread) of the plain trial, of the same trial with N draws (each draw re-runs the trial on up to 200
patients per arm; the between-trial SDs are read from the parameter set), and of a plain trial of (N + 1) x 200
patients per arm, whose cost the draws should match. Medians over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from ketasim import load_scenario, run_trial

SCENARIO = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "placebo_trial.yaml"


def cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    sc = load_scenario(SCENARIO)
    run_trial(sc, n=20)                                  # compile / warm up
    res = {"plain": [], "uncertainty": [], "equivalent": []}
    for _ in range(a.rounds):
        res["plain"].append(cpu(lambda: run_trial(sc, n=200)))
        res["uncertainty"].append(cpu(lambda: run_trial(sc, n=200, uncertainty=a.draws)))
        res["equivalent"].append(cpu(lambda: run_trial(sc, n=200 * (a.draws + 1))))
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"{SCENARIO.name}, 2 arms x 200 patients, {a.draws} draws, {a.rounds} rounds (median CPU s)")
    print(f"  plain trial                      {med['plain']:7.2f} s")
    print(f"  with --uncertainty {a.draws:<4d}          {med['uncertainty']:7.2f} s  ({med['uncertainty'] / med['plain']:.1f}x plain)")
    print(f"  plain trial of {200 * (a.draws + 1):>6d} per arm     {med['equivalent']:7.2f} s  "
          f"(uncertainty / this = {med['uncertainty'] / med['equivalent']:.2f})")


if __name__ == "__main__":
    main()
