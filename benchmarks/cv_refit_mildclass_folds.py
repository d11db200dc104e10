"""Diagnostic refit CV of some folds with a milder non-specific latent class: nonspecific_ratio bounded at
RATIO_MAX (prior centre RATIO_CENTRE) instead of 30 (centre 5), everything else as the cross_validate procedure (start
prior, size 200, 150 evaluations, random-effects weights, directions), point predictions only (parameter_draws 0).
Compare with the same folds of a full refit CV at the same model.

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/cv_refit_mildclass_folds.py lii2023,daly2018,transform OUT.json [RATIO_MAX RATIO_CENTRE]
(In-process only: the patch does not reach the workers of a process or Dask executor.)
"""
import json, sys, time
sys.path.insert(0, "src")
from ketasim import calibration as cal
from ketasim.io import atomic_write_text
from ketasim.parameters import load_parameters

ratio_max = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
ratio_centre = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
# a diagnostic, not an option: the bound and prior centre of the class's gain ratio
for table in (cal.FITTED, cal._ALL_FITTED):
    table["nonspecific_ratio"] = ("log", 1.0, ratio_max, ratio_centre)
p0 = load_parameters()
t0 = time.time()
res = cal.cross_validate(p0, size=200, max_evaluations=150, qual_size=600, qual_seed=11, parameter_draws=0,
                         groups=sys.argv[1].split(","), log=lambda *a: print(*a, flush=True), between_trial=False)
print(f"done in {time.time() - t0:.0f} s", flush=True)
out = {k: res[k] for k in ("in_sample", "out_of_sample", "in_sample_fit", "folds") if k in res}
out["settings"] = {"nonspecific_ratio_bounds": [1.0, ratio_max], "nonspecific_ratio_centre": ratio_centre}
out["summary_in_sample"] = cal.qualification_summary(out["in_sample"])
out["summary_out_of_sample"] = cal.qualification_summary(out["out_of_sample"])
atomic_write_text(sys.argv[2], json.dumps(out, default=lambda o: float(o) if hasattr(o, "__float__") else str(o)))
