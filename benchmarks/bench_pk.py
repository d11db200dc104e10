"""PK endpoints benchmark (ketasim.nca): what the PK endpoints cost, and what they cost trials that do not ask.

Times, alternating in one run (median of repeats, CPU and wall):
  (a) a 2-arm trial without PK measures (the bench_trial scenario, smaller),
  (b) the same trial with PK measures (cmax, tmax, auc_0_t, auc_0_inf, t_half; default schedule, 5 analytes),
  (c) the NCA alone on N patients x 5 analytes x 15 samples (no simulation).
(b)/(a) is the price of asking for PK; (a) runs the same code path as before the PK endpoints existed except one
list comprehension over the measures (a trial that does not ask never simulates the sampling schedule:
tests/test_nca.py::test_ordinary_trials_do_not_run_pk).

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_pk.py [--n 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np

from ketasim import scenario_from_dict
from ketasim.nca import DEFAULT_SCHEDULE_H, nca
from ketasim.trial import run_trial

SCENARIO = {
    "name": "bench-pk", "seed": 1,
    "population": {"size": 2000},
    "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                           "duration": "40 min", "every": "3.5 d", "count": 8}],
             "ketamine+clarithromycin": {"doses": [{"drug": "racemic-ketamine", "route": "iv-infusion",
                                                    "dose": "0.5 mg/kg", "duration": "40 min", "every": "3.5 d",
                                                    "count": 8}], "comedications": ["clarithromycin"]}},
    "endpoints": {"times": ["2 h", "24 h", "7 d", "28 d"], "measures": ["mean", "mean_change", "response_rate"]},
}


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="patients per arm")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    plain = copy.deepcopy(SCENARIO)
    plain["population"]["size"] = args.n
    with_pk = copy.deepcopy(plain)
    with_pk["endpoints"]["measures"] += ["cmax", "tmax", "auc_0_t", "auc_0_inf", "t_half"]
    a_sc, b_sc = scenario_from_dict(plain), scenario_from_dict(with_pk)
    run_trial(a_sc, n=20)                      # compile/warm
    run_trial(b_sc, n=20)
    t = np.concatenate([[0.0], DEFAULT_SCHEDULE_H])
    rng = np.random.default_rng(0)
    conc = np.exp(rng.normal(0, 0.3, (args.n * 5, 1))) * (np.exp(-0.2 * t) - np.exp(-2.0 * t))[None, :] * 100
    res = {"a": [], "b": [], "c": []}
    for _ in range(args.repeats):
        res["a"].append(timed(lambda: run_trial(a_sc)))
        res["b"].append(timed(lambda: run_trial(b_sc)))
        res["c"].append(timed(lambda: nca(t, conc)))
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in res.items()}
    print(f"{args.n} patients per arm, 2 arms x 8 infusions, 28 d; median of {args.repeats} (wall / CPU s)")
    print(f"  (a) trial without PK measures  {med['a'][0]:.3f} / {med['a'][1]:.3f}")
    print(f"  (b) trial with PK measures     {med['b'][0]:.3f} / {med['b'][1]:.3f}   (b)/(a) wall {med['b'][0] / med['a'][0]:.2f}")
    print(f"  (c) NCA alone, {args.n * 5} profiles x {t.size} samples  {med['c'][0]:.3f} / {med['c'][1]:.3f}")


if __name__ == "__main__":
    main()
