"""How-to: a virtual trial with a placebo arm (parallel groups), from Python.

The same scenario runs from the command line:
    ketasim trial docs/tutorials/placebo_trial.yaml --json out/placebo_trial.json --report out/placebo_trial.html
Run:  .venv/bin/python docs/tutorials/placebo_trial.py
"""

import json

from _common import HERE, out_dir, size
from ketasim import load_scenario, run_trial

scenario = load_scenario(HERE / "placebo_trial.yaml")
trial = run_trial(scenario, n=size(200))            # n = patients per arm (overrides population.size)
print(trial.format_table())

endpoints = trial.table()                            # tidy: arm, time_h, scale, measure, value, ci_low, ci_high, n
response = endpoints[endpoints.measure == "response_rate"]
print(response.to_string(index=False))
comparisons = trial.comparison_table()               # ketamine vs saline: differences, 95% CI, p-values
print(comparisons[["arm", "versus", "time_h", "measure", "value", "p_value"]].to_string(index=False))

doc = trial.to_dict()                                # the trial JSON contract (docs/contracts.md)
path = out_dir() / "placebo_trial.json"
path.write_text(json.dumps(doc, indent=1, default=float), encoding="utf-8")
print(f"wrote {path}")
