"""Shared by the diagnostic fold scripts (benchmarks/cv_refit_*class_folds.py): the refit CV's procedure on some
folds (start prior, size 200, 150 evaluations, random-effects weights, directions; point predictions at size 600,
seed 11, no parameter draws, no between-trial heterogeneity), written atomically with its summaries so that
benchmarks/cv_per_trial.py reads it. In-process only: a patched model reaches no process or Dask worker."""
import json
import time

from ketasim import calibration as cal
from ketasim.io import atomic_write_text
from ketasim.units import json_safe


def run_folds(params, groups: str, out_path: str, settings: dict) -> dict:
    t0 = time.time()
    res = cal.cross_validate(params, size=200, max_evaluations=150, qual_size=600, qual_seed=11, parameter_draws=0,
                             groups=groups.split(","), log=lambda *a: print(*a, flush=True), between_trial=False)
    print(f"done in {time.time() - t0:.0f} s", flush=True)
    out = {k: res[k] for k in ("in_sample", "out_of_sample", "in_sample_fit", "folds") if k in res}
    out["summary_in_sample"] = cal.qualification_summary(out["in_sample"])
    out["summary_out_of_sample"] = cal.qualification_summary(out["out_of_sample"])
    out["settings"] = settings
    atomic_write_text(out_path, json.dumps(json_safe(out), allow_nan=False,      # strict JSON: NaN -> null
                                           default=lambda o: float(o) if hasattr(o, "__float__") else str(o)))
    return out
