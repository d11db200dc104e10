"""Cost of prediction intervals for a new trial (``ketasim trial --uncertainty N``), in the same run.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_trial_uncertainty.py [--draws 20] [--rounds 3]
        [--scenario docs/tutorials/withdrawal.yaml | examples/sustain1_like_withdrawal.yaml | ...]

CPU time (process, one numba thread) of the plain trial and of the same trial with N draws. Two methods
(trial.whole_design_draws decides):

* parallel and crossover trials (default scenario: the how-to's two-arm placebo trial, docs/tutorials/
  placebo_trial.yaml, 200 patients per arm): each draw re-runs the trial on up to 200 patients per arm (the
  between-trial SDs are read from the parameter set); also timed: a plain trial of (N + 1) x 200 patients per arm,
  whose cost the draws should match;
* randomized withdrawal and open-label follow-up (e.g. docs/tutorials/withdrawal.yaml, 200 patients, 12 weeks):
  each draw is a whole new virtual trial of the scenario's size (trial.empirical_prediction_intervals), so the cost
  should be ~(N + 1) x plain.

Medians over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from ketasim import load_scenario, run_trial
from ketasim.trial import whole_design_draws

ROOT = Path(__file__).resolve().parents[1]


def cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenario", default=str(ROOT / "docs" / "tutorials" / "placebo_trial.yaml"))
    a = ap.parse_args()
    sc = load_scenario(a.scenario)
    whole = whole_design_draws(sc)
    n = None if whole else 200                           # whole-design draws: the scenario's own size
    run_trial(sc, n=20)                                  # compile / warm up
    res = {"plain": [], "uncertainty": []} if whole else {"plain": [], "uncertainty": [], "equivalent": []}
    for _ in range(a.rounds):
        res["plain"].append(cpu(lambda: run_trial(sc, n=n)))
        res["uncertainty"].append(cpu(lambda: run_trial(sc, n=n, uncertainty=a.draws)))
        if not whole:
            res["equivalent"].append(cpu(lambda: run_trial(sc, n=200 * (a.draws + 1))))
    med = {k: statistics.median(v) for k, v in res.items()}
    size = f"{sc.population.size} patients (whole design per draw)" if whole else f"{len(sc.arms)} arms x 200 patients"
    print(f"{Path(a.scenario).name}, {size}, {a.draws} draws, {a.rounds} rounds (median CPU s)")
    print(f"  plain trial                      {med['plain']:7.2f} s")
    print(f"  with --uncertainty {a.draws:<4d}          {med['uncertainty']:7.2f} s  "
          f"({med['uncertainty'] / med['plain']:.1f}x plain{f'; (N + 1) = {a.draws + 1}' if whole else ''})")
    if not whole:
        print(f"  plain trial of {200 * (a.draws + 1):>6d} per arm     {med['equivalent']:7.2f} s  "
              f"(uncertainty / this = {med['uncertainty'] / med['equivalent']:.2f})")


if __name__ == "__main__":
    main()
