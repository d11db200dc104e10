"""Arterial-to-venous ratio at the side-effect EC50 anchors (issue 7 PK: the effect site follows arterial blood,
studies sampled venous plasma). Prints the ratios used to re-express pd.*.ec50_racemic_total (parameters.csv).

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/side_effect_anchor_ratio.py

An anchor "effect E at venous plasma C" was turned into an EC50 assuming the effect site sees C. With the
arterial effect site it sees r C, r = ca/cv at the anchor's time, so keeping the anchor multiplies the EC50 by r.
Also printed: r_e, the same with the ke0 lag (effect site driven by arterial vs by venous plasma, t1/2ke0 from
parameters.csv), the ratio on a plateau (the steady-state anchors), and (issue 7 PK, used for the EC50s since the
venous read-out reproduces the anchors' venous levels) r_ce = ce/cv: the model's arterial-driven effect site over
the venous plasma level the study reported, i.e. the factor by which "the effect site sees C" was wrong.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

import ketasim
from ketasim.parameters import load_parameters

warnings.simplefilter("ignore")
T = np.round(np.arange(0, 6 * 60 + 1) / 60, 9)   # 1-min grid, 6 h


def run(lines):
    sc = ketasim.scenario_from_dict({"name": "anchors", "population": {
        "size": 1, "female_fraction": 0.0, "weight_kg": {"mean": 70.0, "sd": 0.0},
        "age_years": {"mean": 40.0, "sd": 0.0}}, "arms": {"arm": list(lines)}})
    return ketasim.simulate(sc, typical=True, output_times_h=T).trajectories().set_index("time_h")


def link(c, ke0, dt):
    """Effect site of plasma ``c`` (exact for piecewise-linear c on a uniform grid)."""
    e = np.zeros_like(c)
    a = math.exp(-ke0 * dt)
    b = (1 - a) / (ke0 * dt)
    for k in range(1, c.size):
        e[k] = a * e[k - 1] + c[k] - a * c[k - 1] - b * (c[k] - c[k - 1])
    return e


def main():
    ke0 = math.log(2) / load_parameters().get("pk.t_half_ke0", "h")
    dt = T[1] - T[0]
    for name, lines, t in (
            ("0.5 mg/kg racemic over 40 min, at 40 min (Zarate 185 ng/mL; Krystal 1994 infusion)",
             [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}], 40),
            ("0.5 mg/kg racemic over 40 min, at 20 min (mid-infusion)",
             [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}], 20),
            ("constant infusion 1 mg/kg over 6 h, at 2 h (plateau-like)",
             [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "1 mg/kg", "duration": "6 h"}], 120),
            ("constant infusion 1 mg/kg over 6 h, at 6 h (plateau-like)",
             [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "1 mg/kg", "duration": "6 h"}], 360)):
        tr = run(lines)
        cv, ca = tr["cp_ketamine_ng_ml"].to_numpy(), tr["ca_ketamine_ng_ml"].to_numpy()
        ea, ev = link(ca, ke0, dt), link(cv, ke0, dt)
        k = int(round(t))
        print(f"{name}: venous {cv[k]:.1f} ng/mL, arterial {ca[k]:.1f} ng/mL, r = ca/cv = {ca[k] / cv[k]:.3f}; "
              f"r_e (ke0 link of arterial / of venous) = {ea[k] / ev[k]:.3f}; r_ce = ce/cv = {ea[k] / cv[k]:.3f}; "
              f"check: model ce vs link(ca) "
              f"max |diff| {np.max(np.abs(tr['ce_ketamine_ng_ml'].to_numpy() - ea)):.2g} ng/mL")


if __name__ == "__main__":
    main()
