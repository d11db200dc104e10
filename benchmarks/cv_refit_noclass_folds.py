"""Diagnostic refit CV of some folds with the non-specific latent class off (nonspecific_ratio held at 1, fraction
unused): the cross_validate procedure (start prior, size 200, 150 evaluations, random-effects weights, directions),
point predictions only (parameter_draws 0). Compare with benchmarks/results/cv_refit_ka_iiv.json.gz's rows.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/cv_refit_noclass_folds.py lii2023,daly2018,transform OUT.json   (~27 min)
(In-process only: the patch does not reach the workers of a process or Dask executor.)
"""
import json, sys, time
sys.path.insert(0, "src")
from ketasim import calibration as cal
from ketasim.io import atomic_write_text
from ketasim.parameters import load_parameters

# the fit leaves the two class parameters out (held at the set's values: ratio 1 = no class); a diagnostic, not an option
full = cal.default_fitted_names
cal.default_fitted_names = lambda: [n for n in full() if n not in ("nonspecific_fraction", "nonspecific_ratio")]
p0 = load_parameters()
p0 = p0.with_free({"nonspecific_ratio": 1.0}, p0.free_version, p0.calibration_run)
t0 = time.time()
res = cal.cross_validate(p0, size=200, max_evaluations=150, qual_size=600, qual_seed=11, parameter_draws=0,
                         groups=sys.argv[1].split(","), log=lambda *a: print(*a, flush=True), between_trial=False)
print(f"done in {time.time() - t0:.0f} s", flush=True)
atomic_write_text(sys.argv[2], json.dumps({k: res[k] for k in ("in_sample", "out_of_sample")}, default=float))
