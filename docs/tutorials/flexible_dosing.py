"""How-to: flexible (response-guided) dosing and an age inclusion range, as in TRANSFORM-2.

Run:  .venv/bin/python docs/tutorials/flexible_dosing.py   (or: ketasim trial examples/transform2_flexible.yaml)
"""

import dataclasses

from _common import HERE, size
from ketasim import load_scenario, run_trial, simulate

scenario = load_scenario(HERE.parents[1] / "examples" / "transform2_flexible.yaml")
trial = run_trial(scenario, n=size(300))
t = trial.table()
print("share of patients at each final dose (flexible arm):")
for _, r in t[t.measure == "final_dose_rate"].iterrows():
    print(f"  final dose {r.dose_level}: {r.value:5.1f} %  [{r.ci_low:.1f}, {r.ci_high:.1f}]")

# the rule is per patient: lower the response threshold and fewer patients are 'not yet responding'
arm = scenario.arms[0]
strict = dataclasses.replace(arm.titration, increase=(("score_reduction", "below", 0.25),) + arm.titration.increase[1:])
lower = scenario.replace(arms=(dataclasses.replace(arm, titration=strict),) + scenario.arms[1:])
for label, sc in (("step up below 50 % reduction", scenario), ("step up below 25 % reduction", lower)):
    run = simulate(sc, n=size(300)).runs[0]
    print(f"{label}: {100 * (run.dose_levels[:, -1] == 1).mean():.0f} % end on 84 mg")

ages = simulate(scenario, n=size(300)).runs[0].patients.age_years
print(f"sampled ages {ages.min():.1f}-{ages.max():.1f} years (inclusion 18-64)")
