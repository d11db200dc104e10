"""Engine speed before vs after a change, in the same run: this tree against another checkout's ``src``.

    git worktree add /tmp/before <commit>      # or: git clone . /tmp/before && git -C /tmp/before checkout <commit>
    .venv/bin/python benchmarks/bench_before_after.py /tmp/before/src [--rounds 3]

Each round runs one subprocess per tree, alternating (so machine load hits both alike), with one numba thread,
and measures process CPU time (less sensitive to other processes than wall time): one patient at 5-min output
over 28 days (median of 15) and 2,000 patients at 8 endpoint times (median of 5), 0.5 mg/kg racemic ketamine over
40 min; and (issue 10) 2,000 patients x 28 days of twice-weekly infusions (8 doses), endpoints only, the regimen of
the million-patient target. Prints the medians over rounds, the ratio after/before (< 1: faster) and the issue-10
targets beside what they imply (CPU time of one thread, so the million-patient figure is CPU seconds / 2 cores,
the kernel only: sampling, PK set-up and endpoint statistics add ~10 %).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r'''
import statistics, time, numpy as np
from ketasim import load_parameters, quick_scenario
from ketasim.engine import run_arm
from ketasim.population import sample_patients, typical_patient
p = load_parameters()
sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg")
arm, spec = sc.arms[0], sc.population
E = np.array([0, 40 / 60, 2, 24, 72, 168, 336, 672.0])
one = typical_patient(spec, p)
run_arm(arm, spec, one, E, params=p)             # compile / load the cache
fine = np.arange(0, 672 + 1e-9, 5 / 60)
pats = sample_patients(spec, p, 1, n=2000)
def cpu(fn, k):
    ts = []
    for _ in range(k):
        t = time.process_time(); fn(); ts.append(time.process_time() - t)
    return statistics.median(ts)
tw = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", every="3.5 d", count=8)
T4 = np.array([0.0, 24.0, 168.0, 336.0, 672.0])
run_arm(tw.arms[0], tw.population, pats, T4, params=p)
print(cpu(lambda: run_arm(arm, spec, one, fine, params=p), 15), cpu(lambda: run_arm(arm, spec, pats, E, params=p), 5),
      cpu(lambda: run_arm(tw.arms[0], tw.population, pats, T4, params=p), 5))
'''


def run(src: str | None) -> tuple[float, ...]:
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True).stdout
    return tuple(float(x) for x in out.split()[-3:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before_src", help="the 'before' checkout's src directory")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parents[1] / "src")
    res = {"before": [], "after": []}
    for _ in range(args.rounds):
        res["before"].append(run(args.before_src))
        res["after"].append(run(here))
    print("engine CPU time (1 numba thread), medians over", args.rounds, "alternating rounds")
    med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in res.items()}
    for i, label in enumerate(("1 patient, 5-min output, 28 d", "2,000 patients, 8 endpoint times",
                               "2,000 patients, twice weekly x 8, 28 d")):
        b, a = med["before"][i], med["after"][i]
        unit, f = ("ms", 1e3) if i == 0 else ("s", 1.0)
        print(f"  {label:38s} before {b * f:8.3f} {unit}   after {a * f:8.3f} {unit}   ratio after/before {a / b:.3f}")
    one, tw = med["after"][0], med["after"][2]
    print(f"  targets (issue 10): 1 patient at 5-min output {one * 1e3:.2f} ms CPU [<= 5 ms]; 1,000,000 patients twice "
          f"weekly: kernel {tw / 2000 * 1e6:.0f} CPU s = {tw / 2000 * 1e6 / 2:.0f} s on 2 free cores [<= 60 s for the "
          "whole trial: benchmarks/bench_scale.py]")


if __name__ == "__main__":
    main()
