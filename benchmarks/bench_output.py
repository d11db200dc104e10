"""Default output of `ketasim simulate SCENARIO --csv`: rows, CSV size, write time and the captured infusion peak,
for the default grid (ketasim.output_grid) against the former fixed 6-hourly grid, in the same run.

    python benchmarks/bench_output.py [--scenario examples/design_example.yaml]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default=str(ROOT / "examples" / "design_example.yaml"))
    args = ap.parse_args()
    from ketasim import load_parameters, load_scenario, simulate

    sc = load_scenario(args.scenario)
    params = load_parameters()
    fine = simulate(sc, params, typical=True, output_times_h=np.arange(0, 4, 1 / 60)).trajectories()
    true_peak = fine.groupby("arm")["cp_ketamine_ng_ml"].max()
    grids = {"default grid": sc.output_times_h(),
             "6-hourly (before)": np.round(np.arange(0, sc.horizon_h + 1e-9, 6.0), 9)}
    with tempfile.TemporaryDirectory() as d:
        for name, times in grids.items():
            t0 = time.perf_counter()
            res = simulate(sc, params, output_times_h=times)
            t1 = time.perf_counter()
            path = Path(d) / "traj.csv"
            res.to_csv(path)
            t2 = time.perf_counter()
            typ = simulate(sc, params, typical=True, output_times_h=times).trajectories()
            peaks = typ.groupby("arm")["cp_ketamine_ng_ml"].max()
            caught = ", ".join(f"{a} {peaks[a]:.0f}/{true_peak[a]:.0f}" for a in true_peak.index if true_peak[a] > 0)
            print(f"{name:18s} {times.size:4d} times  {len(times) * sc.population.size * len(sc.arms):>9,d} rows  "
                  f"CSV {path.stat().st_size / 1e6:6.1f} MB  simulate {t1 - t0:5.1f} s  write {t2 - t1:5.1f} s  "
                  f"typical peak ng/mL in file/true: {caught}")


if __name__ == "__main__":
    main()
