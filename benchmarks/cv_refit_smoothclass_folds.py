"""Diagnostic refit CV of some folds with a continuous, right-skewed non-specific trait instead of a sharp latent
class: the class membership of the non-specific trait is smoothed over SOFTNESS SD of eta_placebo (default 1.0; the
shipped 0.25, pd.latent_class.softness, is a near-step), so the gain multiplier rises smoothly from 1 to
nonspecific_ratio across the trait's upper range instead of marking a separate group. The drug-response class keeps
its softness. Everything else as the cross_validate procedure (start prior, size 200, 150 evaluations,
random-effects weights, directions), point predictions only (parameter_draws 0). Compare with the same folds of a
full refit CV at the same model.

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/cv_refit_smoothclass_folds.py lii2023,daly2018,transform OUT.json [SOFTNESS]
(In-process only: the patch does not reach the workers of a process or Dask executor.)
"""
import json, sys, time
sys.path.insert(0, "src")
import numpy as np
from scipy.stats import norm
from ketasim import calibration as cal
from ketasim.io import atomic_write_text
from ketasim.model import definition
from ketasim.parameters import load_parameters

softness = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0


def smooth_nonspecific_trait(c):
    # a diagnostic, not an option: the shipped _nonspecific_trait with its own softness
    p = c.params
    eta = c.patients.eta_placebo
    member = norm.cdf((eta - norm.ppf(1.0 - p.free_value("nonspecific_fraction"))) / softness)
    ratio = 1.0 + (p.free_value("nonspecific_ratio") - 1.0) * member
    return np.exp(p.free_value("omega_placebo") * eta) * ratio


definition._nonspecific_trait = smooth_nonspecific_trait
p0 = load_parameters()
t0 = time.time()
res = cal.cross_validate(p0, size=200, max_evaluations=150, qual_size=600, qual_seed=11, parameter_draws=0,
                         groups=sys.argv[1].split(","), log=lambda *a: print(*a, flush=True), between_trial=False)
print(f"done in {time.time() - t0:.0f} s", flush=True)
out = {k: res[k] for k in ("in_sample", "out_of_sample", "in_sample_fit", "folds") if k in res}
out["summary_in_sample"] = cal.qualification_summary(out["in_sample"])
out["summary_out_of_sample"] = cal.qualification_summary(out["out_of_sample"])
out["settings"] = {"nonspecific_softness": softness}
atomic_write_text(sys.argv[2], json.dumps(out, default=lambda o: float(o) if hasattr(o, "__float__") else str(o)))
