"""Cost and accuracy of the parts of the swallowed nasal input (engine.N_SWALLOW; issue 7 PK).

Perez-Ruixo 2021 gives the swallowed part of a nasal dose a zero-order input over Dsw into the gut; the engine
splits it into N_SWALLOW equal depot entries at the midpoints of Dsw, each restarting the grid's small steps.
For N = 1, 3 and 6 (alternating, same run): grid steps of the arm (the kernel's work; the lagged entry used before
issue 7 PK gave 656), median run time of 2000 patients x 8 twice-weekly 56-mg sessions
(28 days) and, for the typical patient, esketamine venous Cmax and CADSS peak relative to N = 12.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_swallow_parts.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np

import ketasim
import ketasim.engine as E

warnings.simplefilter("ignore")
ARM = [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d", "count": 8}]
T = np.round(np.arange(0, 6 * 60 + 1) / 60, 9)


def peaks(n):
    E.N_SWALLOW = n
    sc = ketasim.scenario_from_dict({"name": "p", "population": {"size": 1, "female_fraction": 0.0,
                                     "weight_kg": {"mean": 70.0, "sd": 0.0}, "age_years": {"mean": 40.0, "sd": 0.0}},
                                     "arms": {"arm": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}]}})
    tr = ketasim.simulate(sc, typical=True, output_times_h=T).trajectories()
    return tr["cp_s_ketamine_ng_ml"].max(), tr["cadss"].max()


def main():
    sc = ketasim.scenario_from_dict({"name": "b", "population": {"size": 2000}, "arms": {"arm": ARM}})
    ketasim.simulate(ketasim.scenario_from_dict({"name": "w", "population": {"size": 10}, "arms": {"arm": ARM}}))
    parts = (1, 3, 6)
    times = {n: [] for n in parts}
    for _ in range(5):
        for n in parts:
            E.N_SWALLOW = n
            t0 = time.perf_counter()
            ketasim.simulate(sc)
            times[n].append(time.perf_counter() - t0)
    ref = peaks(12)
    base = float(np.median(times[1]))
    arm = sc.arms[0]
    for n in parts:
        c, d = peaks(n)
        med = float(np.median(times[n]))
        E.N_SWALLOW = n
        grid = E.prepare_arm(arm, sc.population, ketasim.population.typical_patient(sc.population, ketasim.load_parameters()),
                             np.arange(0.0, 672.0 + 1e-9, 6.0), params=ketasim.load_parameters()).grid
        print(f"N_SWALLOW {n}: grid steps {len(grid.times) - 1} (deterministic cost); median {med:.3f} s "
              f"(x{med / base:.2f} of N=1); Cmax {c / ref[0] - 1:+.2%}, CADSS peak {d / ref[1] - 1:+.2%} vs N=12")
    E.N_SWALLOW = 3


if __name__ == "__main__":
    main()
