"""How-to: one patient — a single 0.5 mg/kg infusion in a 70-kg patient, every link of the chain.

Run:  .venv/bin/python docs/tutorials/one_patient.py
"""

import numpy as np

from _common import out_dir
from ketasim import quick_scenario, simulate
from ketasim.plotting import plot_cascade
from ketasim.summary import cascade_summary

# The quick form builds a one-arm scenario; typical=True simulates the typical patient of that population
# (no random effects). Output every 5 min for the first 4 h (to catch the infusion peak), then every hour to 28 days
# (the command line's one patient is written every 5 min: on this grid the two print the same summary).
scenario = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min",
                          weight_kg=70, baseline=32)
times = np.concatenate([np.arange(0, 4, 5 / 60), np.arange(4, 28 * 24 + 1e-9, 1)])
result = simulate(scenario, typical=True, output_times_h=times)

traj = result.trajectories()          # one row per output time; units in the column names
sessions = result.sessions()          # per-session peaks and time to discharge readiness
print(cascade_summary(traj, sessions, scenario.population.scale))

peak = traj.loc[traj.cp_ketamine_ng_ml.idxmax()]
print(f"plasma ketamine peaks at {peak.cp_ketamine_ng_ml:.0f} ng/mL, {peak.time_h * 60:.0f} min after the start")
print(f"discharge criteria met after {sessions.discharge_ready_h.iloc[0] * 60:.0f} min")

out = out_dir()
result.to_csv(out / "one_patient.csv")                 # + one_patient.csv.provenance.json beside it
plot_cascade(traj, path=out / "one_patient.png", title="one patient, 0.5 mg/kg over 40 min")
print(f"wrote {out / 'one_patient.csv'} and {out / 'one_patient.png'}")
