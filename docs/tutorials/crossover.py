"""How-to: a crossover trial — every virtual patient receives ketamine and midazolam; paired comparisons.

Run:  .venv/bin/python docs/tutorials/crossover.py   (or: ketasim trial docs/tutorials/crossover.yaml)
"""

import numpy as np

from _common import HERE, size
from ketasim import load_scenario, run_trial

scenario = load_scenario(HERE / "crossover.yaml")
trial = run_trial(scenario, n=size(100))
print(trial.format_table())

# The same patients in both arms: their baselines are identical, so comparisons are within-patient (paired t-test).
ket, mdz = trial.outcomes["ketamine"], trial.outcomes["midazolam"]
assert np.array_equal(ket.baseline, mdz.baseline)
diff = trial.comparison_table()
print(diff[diff.measure == "mean_change_difference"][["time_h", "value", "ci95", "p_value"]].to_string(index=False))
