"""Diagnostic refit CV of some folds with a milder non-specific latent class: nonspecific_ratio bounded at
RATIO_MAX (prior centre RATIO_CENTRE) instead of 30 (centre 5), everything else as the cross_validate procedure (start
prior, size 200, 150 evaluations, random-effects weights, directions), point predictions only (parameter_draws 0).
Compare with the same folds of a full refit CV at the same model.

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/cv_refit_mildclass_folds.py lii2023,daly2018,transform OUT.json [RATIO_MAX RATIO_CENTRE]
(In-process only: the patch does not reach the workers of a process or Dask executor.)
"""
import sys
sys.path.insert(0, "src")
sys.path.insert(0, "benchmarks")
from ketasim import calibration as cal
from ketasim.parameters import load_parameters
from _cv_folds import run_folds

ratio_max = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
ratio_centre = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
# a diagnostic, not an option: the bound and prior centre of the class's gain ratio
for table in (cal.FITTED, cal._ALL_FITTED):
    table["nonspecific_ratio"] = ("log", 1.0, ratio_max, ratio_centre)
run_folds(load_parameters(), sys.argv[1], sys.argv[2],
          {"nonspecific_ratio_bounds": [1.0, ratio_max], "nonspecific_ratio_centre": ratio_centre})
