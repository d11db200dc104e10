"""How-to: a randomized-withdrawal (relapse-prevention) trial.

Run:  .venv/bin/python docs/tutorials/withdrawal.py   (or: ketasim trial docs/tutorials/withdrawal.yaml)
"""

import math

from _common import HERE, size
from ketasim import load_scenario, run_trial

scenario = load_scenario(HERE / "withdrawal.yaml")
trial = run_trial(scenario, n=size(200))
print(trial.format_table())

t = trial.table()
randomized = t[t.measure == "randomized_fraction"].value.iloc[0]
print(f"{randomized:.0f} % of patients responded to the induction and were re-randomized")
# a Kaplan-Meier median (or its CI's upper bound) is NaN when fewer than half relapse: "not reached"
def fmt(x):
    return "not reached" if math.isnan(x) else f"{x:.1f}"


for _, r in t[t.measure.isin(["relapse_rate", "time_to_relapse"])].iterrows():
    unit = "d (KM median)" if r.measure == "time_to_relapse" else "% of patients"
    print(f"  {r.arm:9s} {r.measure:16s} {fmt(r.value):>11s}  [{fmt(r.ci_low)}, {fmt(r.ci_high)}] {unit}")
