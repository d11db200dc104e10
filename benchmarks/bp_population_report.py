"""Blood-pressure and heart-rate rise: the typical patient beside the population mean (issue 7, item 11).

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bp_population_report.py [--n 2000] [--seed 1]

Published figures are MEANS over patients (SPRAVATO label: SBP +7-9 / DBP +4-6 mmHg at 40 min after 56 or 84 mg,
placebo-adjusted; Riva-Posse 2018: +3.28 mmHg SBP at 30 min of 0.5 mg/kg IV, older patients, 36 % hypertensive).
The model's between-patient pressor sensitivity ``bp_sensitivity`` is log-normal with mean 1 (``omega_bp`` fitted),
so the typical patient (all random effects 0) has exp(-omega_bp^2 / 2) of the mean sensitivity: compare
population means with the published means, not the typical patient. Prints, per regimen: the typical patient's
SBP/HR peak, and the peak (and time) of the population-mean SBP, DBP and HR curves and the mean of per-patient
SBP peaks, for a label-like population (age 46 +- 12 y, 62 % women; TRANSFORM-2 baseline characteristics).
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np

import ketasim

warnings.simplefilter("ignore")
T = np.round(np.arange(0.0, 6.0 + 1e-9, 1 / 60), 9)
REGIMENS = (
    ("0.5 mg/kg racemic IV / 40 min", [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                        "duration": "40 min"}]),
    ("56 mg esketamine IN", [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}]),
    ("84 mg esketamine IN", [{"drug": "esketamine", "route": "intranasal", "dose": "84 mg"}]),
)


def scenario(lines, n, seed, typical):
    pop = ({"size": 1, "female_fraction": 0.0, "weight_kg": {"mean": 70.0, "sd": 0.0},
            "age_years": {"mean": 40.0, "sd": 0.0}} if typical else
           {"size": n, "female_fraction": 0.62, "age_years": {"mean": 46.0, "sd": 12.0}})
    return ketasim.scenario_from_dict({"name": "bp", "seed": seed, "population": pop, "arms": {"arm": list(lines)}})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    omega = ketasim.load_parameters().free_value("omega_bp")
    print(f"omega_bp {omega:.3f}: typical / mean sensitivity = exp(-omega^2/2) = {math.exp(-omega ** 2 / 2):.3f}")
    for name, lines in REGIMENS:
        ty = ketasim.simulate(scenario(lines, 1, a.seed, True), typical=True, output_times_h=T).trajectories()
        ty = ty.set_index("time_h")
        d = ketasim.simulate(scenario(lines, a.n, a.seed, False), output_times_h=T).trajectories()
        m = d.groupby("time_h")[["sbp_change_mmhg", "dbp_change_mmhg", "hr_change_bpm"]].mean()
        peaks = d.groupby("subject")["sbp_change_mmhg"].max()
        print(f"{name}: typical SBP peak {ty['sbp_change_mmhg'].max():.2f} mmHg at "
              f"{ty['sbp_change_mmhg'].idxmax() * 60:.0f} min, HR {ty['hr_change_bpm'].max():.2f}/min | population "
              f"(n={a.n}) mean curve: SBP {m['sbp_change_mmhg'].max():.2f} at {m['sbp_change_mmhg'].idxmax() * 60:.0f} "
              f"min, DBP {m['dbp_change_mmhg'].max():.2f}, HR {m['hr_change_bpm'].max():.2f}/min; mean of SBP peaks "
              f"{peaks.mean():.2f}, median {peaks.median():.2f}")
    print("published means: esketamine 56/84 mg SBP +7-9, DBP +4-6 mmHg at 40 min (label, placebo-adjusted); "
          "0.5 mg/kg IV SBP +3.28 / DBP +3.17 at 30 min (Riva-Posse 2018, age 56.7, 36 % hypertensive)")


if __name__ == "__main__":
    main()
