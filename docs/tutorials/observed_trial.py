"""How-to: put a published trial's results beside the virtual trial of the same design, from Python.

The same comparison runs from the command line:
    ketasim trial examples/observed/murrough2013.yaml --observed examples/observed/murrough2013_observed.csv \
        --json out/murrough_observed.json --report out/murrough_observed.html
Run:  .venv/bin/python docs/tutorials/observed_trial.py
"""

import json

from _common import HERE, out_dir, size
from ketasim import compare_observed, load_scenario, run_trial
from ketasim.display import json_safe
from ketasim.observed import format_observed, observed_block, observed_summary, read_observed

EXAMPLE = HERE.parents[1] / "examples" / "observed"
scenario = load_scenario(EXAMPLE / "murrough2013.yaml")
# validate the published rows against the scenario first (one-line errors naming row and column)
observed = read_observed(EXAMPLE / "murrough2013_observed.csv", scenario)
trial = run_trial(scenario, n=size(72))                 # the scenario's 72 per arm; nothing is fitted
table = compare_observed(trial, observed)               # tidy: observed, predicted, error, pi_low, pi_high, inside, n
print(format_observed(table, "murrough2013_observed.csv"))
print(table[["arm", "measure", "time_h", "n", "observed", "predicted", "pi_low", "pi_high", "inside"]]
      .to_string(index=False))
print(observed_summary(table))                           # MAE in points and percentage points, share inside

# with parameter uncertainty and between-trial heterogeneity (wider intervals; same predicted values)
wide = compare_observed(run_trial(scenario, n=size(72), uncertainty=10), observed)
print((wide["pi_high"] - wide["pi_low"]).round(1).tolist(), "vs", (table["pi_high"] - table["pi_low"]).round(1).tolist())

doc = {**trial.to_dict(), "observed_comparison": observed_block(table, "murrough2013_observed.csv")}
path = out_dir() / "murrough_observed.json"
path.write_text(json.dumps(json_safe(doc), indent=1, allow_nan=False), encoding="utf-8")
print(f"wrote {path}")
