"""How-to: a dose-response — peak glutamate, mTORC1, dissociation and the 24-h score change across doses.

Run:  .venv/bin/python docs/tutorials/dose_response.py
"""

import warnings

import numpy as np
import pandas as pd

from _common import out_dir, size
from ketasim import VirtualExperiment, quick_scenario, simulate

N = size(200)
DOSES_MG_KG = [0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 4.0]
times = np.concatenate([np.arange(0, 4, 5 / 60), [24.0]])      # 5-min output for 4 h, then the 24-h visit

rows = []
for dose in DOSES_MG_KG:
    with warnings.catch_warnings():
        # doses of 2 mg/kg and more are in the anesthetic range: ketasim warns (DoseWarning), as it should
        warnings.simplefilter("ignore")
        scenario = quick_scenario("racemic-ketamine", "iv-infusion", f"{dose} mg/kg", size=N, seed=5)
    traj = simulate(scenario, output_times_h=times).trajectories()
    # the anesthetic-state hypothesis (off by default): plasticity stays switched off for hours after deep block
    hyp = simulate(scenario, output_times_h=times, experiment=VirtualExperiment(anesthetic_state=True)).trajectories()
    per_patient = traj.groupby("subject")
    day1 = traj[traj.time_h == 24.0].set_index("subject")
    base = traj[traj.time_h == 0.0].set_index("subject")
    rows.append({
        "dose_mg_kg": dose,
        "peak_plasma_ng_ml": per_patient.cp_ketamine_ng_ml.max().median(),
        "peak_glutamate": per_patient.glutamate.max().median(),
        "lowest_glutamate": per_patient.glutamate.min().median(),
        "peak_mtorc1": per_patient.mtorc1.max().median(),
        "peak_mtorc1_anesthetic_state": hyp.groupby("subject").mtorc1.max().median(),
        "peak_cadss": per_patient.cadss.max().median(),
        "score_change_24h": (day1.score - base.score).mean(),
    })

table = pd.DataFrame(rows)
pd.set_option("display.width", 140)
print(f"medians over {N} virtual patients per dose (score change: mean)")
print(table.round(3).to_string(index=False))
table.to_csv(out_dir() / "dose_response.csv", index=False)

top = DOSES_MG_KG[-1]
for col, what in (("peak_mtorc1", "default model"), ("peak_mtorc1_anesthetic_state", "anesthetic-state hypothesis")):
    best = table.loc[table[col].idxmax(), "dose_mg_kg"]
    gain = table[col] - 1.0                      # the signal above the drug-free level
    kept = gain.iloc[-1] / gain.max()
    print(f"{what}: the mTORC1 signal is largest at {best} mg/kg; at {top} mg/kg it keeps {kept:.0%} of that rise")
print("the inverted U of the growth signal needs the anesthetic-state hypothesis (experiments: {anesthetic_state: "
      "true}); without it, the signal stays on a plateau at anesthetic doses")
