"""How-to: a randomized-withdrawal (relapse-prevention) trial.

Run:  .venv/bin/python docs/tutorials/withdrawal.py   (or: ketasim trial docs/tutorials/withdrawal.yaml)
"""

from _common import HERE, size
from ketasim import load_scenario, run_trial

scenario = load_scenario(HERE / "withdrawal.yaml")
trial = run_trial(scenario, n=size(200))
print(trial.format_table())

t = trial.table()
randomized = t[t.measure == "randomized_fraction"].value.iloc[0]
print(f"{randomized:.0f} % of patients responded to the induction and were re-randomized")
for _, r in t[t.measure.isin(["relapse_rate", "time_to_relapse"])].iterrows():
    print(f"  {r.arm:9s} {r.measure:16s} {r.value:7.1f}  [{r.ci_low:.1f}, {r.ci_high:.1f}]")
