"""Cost of whole-design prediction intervals (``ketasim trial --uncertainty N`` on a randomized withdrawal).

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_withdrawal_uncertainty.py [--draws 20] [--rounds 3]
        [--scenario examples/sustain1_like_withdrawal.yaml]

CPU time (process, one numba thread) of the plain trial and of the same trial with N draws, each draw a whole new
virtual trial of the scenario's size (trial.empirical_prediction_intervals). The cost should be ~(N + 1) x plain.
Default scenario: the how-to's withdrawal trial (docs/tutorials/withdrawal.yaml, 200 patients, 12 weeks). Medians
over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from ketasim import load_scenario, run_trial

ROOT = Path(__file__).resolve().parents[1]


def cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenario", default=str(ROOT / "docs" / "tutorials" / "withdrawal.yaml"))
    a = ap.parse_args()
    sc = load_scenario(a.scenario)
    run_trial(sc, n=20)                                  # compile / warm up
    res = {"plain": [], "uncertainty": []}
    for _ in range(a.rounds):
        res["plain"].append(cpu(lambda: run_trial(sc)))
        res["uncertainty"].append(cpu(lambda: run_trial(sc, uncertainty=a.draws)))
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"{Path(a.scenario).name}, {sc.population.size} patients, {a.draws} draws, {a.rounds} rounds (median CPU s)")
    print(f"  plain trial                      {med['plain']:7.2f} s")
    print(f"  with --uncertainty {a.draws:<4d}          {med['uncertainty']:7.2f} s  "
          f"({med['uncertainty'] / med['plain']:.1f}x plain; (N + 1) = {a.draws + 1})")


if __name__ == "__main__":
    main()
