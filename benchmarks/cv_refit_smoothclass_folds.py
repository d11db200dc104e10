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
import sys
sys.path.insert(0, "src")
sys.path.insert(0, "benchmarks")
import numpy as np
from scipy.stats import norm
from ketasim import calibration as cal
from ketasim.model import definition
from ketasim.parameters import load_parameters
from _cv_folds import run_folds

softness = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0


def smooth_nonspecific_trait(c):
    # a diagnostic, not an option: the shipped _nonspecific_trait with its own softness
    p = c.params
    eta = c.patients.eta_placebo
    member = norm.cdf((eta - norm.ppf(1.0 - p.free_value("nonspecific_fraction"))) / softness)
    ratio = 1.0 + (p.free_value("nonspecific_ratio") - 1.0) * member
    return np.exp(p.free_value("omega_placebo") * eta) * ratio


definition._nonspecific_trait = smooth_nonspecific_trait
run_folds(load_parameters(), sys.argv[1], sys.argv[2], {"nonspecific_softness": softness})
