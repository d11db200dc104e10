"""How-to: qualify the model on a folder of published trials (scenario + observed CSV per trial), from Python.

The same run from the command line:
    ketasim qualify --external examples/external --json out/external_qualification.json \
        --html out/external_qualification.html
Run:  .venv/bin/python docs/tutorials/external_qualification.py
"""

import json

from _common import HERE, out_dir, size
from ketasim.display import json_safe
from ketasim.external import external_document, find_trials, format_external, qualify_external, trial_line
from ketasim.report import external_report

FOLDER = HERE.parents[1] / "examples" / "external"      # IN SAMPLE trials (calibration, a PK parameter source): a demonstration only
for t in find_trials(FOLDER):                           # NAME.yaml + NAME.csv (or NAME_observed.csv)
    print(t.name, t.scenario_file.name, t.observed_file.name, t.problem or "ok")

# every trial at the same size and seed; one line per trial as it finishes; nothing is fitted
q = qualify_external(FOLDER, size=size(500), seed=11, on_trial=lambda i, n, t: print(trial_line(i, n, t)))
print(format_external(q))                               # per trial, per domain, all trials; the floors

s = q.summary()
print(s["overall"]["mae_points"], s["overall"]["sampling_floor_points"], s["overall"]["heterogeneity_floor_points"])
rows = q.rows.assign(time_h=q.rows["time_h"].map(lambda t: "-" if t != t else f"{t:g}"))   # PK rows have no time
print(rows[["trial", "domain", "arm", "measure", "time_h", "n", "observed", "predicted", "pi_low", "pi_high",
            "inside"]].to_string(index=False))         # the tidy rows

path = out_dir() / "external_qualification.json"
path.write_text(json.dumps(json_safe(external_document(q)), indent=1, allow_nan=False), encoding="utf-8")
print(f"wrote {path} and {external_report(q, out_dir() / 'external_qualification.html')}")
