"""How-to: a drug-drug interaction — oral and IV esketamine with and without clarithromycin (CYP3A4 inhibitor).

Clearance is hepatic (well-stirred liver) and inhibitors act on intrinsic clearance of liver and gut wall, so an
inhibitor raises oral exposure much more than IV exposure.
Run:  .venv/bin/python docs/tutorials/ddi.py   (CLI: ketasim simulate docs/tutorials/ddi.yaml --typical --csv out/ddi.csv)
"""

import numpy as np
from scipy.integrate import trapezoid

from _common import HERE, size
from ketasim import load_scenario, scenario_from_dict, simulate

times = np.arange(0, 24 + 1e-9, 5 / 60)


def exposure(route: str, dose: str, comedications: list[str]) -> tuple[float, float]:
    """Cmax (ng/mL) and AUC 0-24 h (ng*h/mL) of S-ketamine, medians over the virtual population."""
    line = {"drug": "esketamine", "route": route, "dose": dose}
    if route == "iv-infusion":
        line["duration"] = "40 min"
    sc = scenario_from_dict({"name": "ddi", "seed": 41, "population": {"size": size(100), "comedications": comedications},
                             "arms": {"esketamine": [line]}})
    traj = simulate(sc, output_times_h=times).trajectories()
    wide = traj.pivot(index="subject", columns="time_h", values="cp_s_ketamine_ng_ml")
    cmax = wide.max(axis=1)
    auc = trapezoid(wide.to_numpy(), wide.columns.to_numpy(), axis=1)
    return float(np.median(cmax)), float(np.median(auc))


for route, dose in (("oral", "20 mg"), ("iv-infusion", "0.25 mg/kg")):
    c0, a0 = exposure(route, dose, [])
    c1, a1 = exposure(route, dose, ["clarithromycin"])
    print(f"{route:12s} {dose:>11s}: Cmax {c0:6.1f} -> {c1:6.1f} ng/mL (x{c1 / c0:.2f}); "
          f"AUC0-24 {a0:7.1f} -> {a1:7.1f} ng*h/mL (x{a1 / a0:.2f})")

# The YAML version of the inhibited oral arm: the scenario file documents the same thing for the CLI.
print(load_scenario(HERE / "ddi.yaml").population.comedications)
