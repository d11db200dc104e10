"""The refit CV's fold loop (calibration.cross_validate, as `qualify --size 600 --cross-validate --cv-method refit`
runs it: start prior, size 200, 150 evaluations, random-effects weights, Laplace, 10 draws, between-trial SDs per fold,
predictions at size 600 seed 11) for some folds only, without the in-sample fit, so that the twelve folds can run in
parallel processes (forty-second session: two processes of six folds, ~50 min, against ~2 h for the CLI's one
process on two shared cores). The in-sample fit is `ketasim calibrate --start prior --size 200 --max-evaluations 150`.
A hypothesis is switched on in the clone the script runs from (the installed parameter set only gives the literature
values; every fold starts from the prior). Writes OUT.json (OUT.json.partial after each fold): out_of_sample rows
(with their fold) and per-fold summaries; compare with benchmarks/cv_per_trial.py after merging the parts.

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/cv_refit_folds.py daly2018,transform OUT.json
(fold names: ketasim.calibration.scenario_groups())"""
import dataclasses, json, sys, time
from ketasim import calibration as cal
from ketasim.parameters import load_parameters

params = load_parameters()
groups = sys.argv[1].split(",")
all_groups = cal.scenario_groups()
targets = cal.build_targets()[0]
size, seed, max_ev, qual_size, qual_seed, draws = 200, 20261121, 150, 600, 11, 10
kw = dict(size=size, seed=seed, max_evaluations=max_ev, start="prior", log=lambda *_: None,
          row_weights="random-effects", targets=targets)
out_rows, folds = [], []
for g in groups:
    tids = all_groups[g]
    t0 = time.perf_counter()
    fit, rep = cal.calibrate(params, exclude_trials=tids, laplace=True, **kw)
    if rep["posterior"]:
        fit = dataclasses.replace(fit, posterior=rep["posterior"])
    tau_g = cal._fold_tau(fit, True, draws, size, seed, exclude_trials=tids, targets=targets)
    rows, _ = cal.qualify(fit, size=qual_size, seed=qual_seed, trials=tids, parameter_draws=draws,
                          between_trial=True, trial_tau=tau_g and tau_g["tau"], targets=targets)
    for r in rows:
        r["fold"] = g
    out_rows += rows
    folds.append({"left_out": g, "trials": tids, "objective": rep["objective"], "seconds": time.perf_counter() - t0,
                  "summary": cal.qualification_summary(rows) if rows else None})
    print(f"fold {g}: {len(rows)} rows ({time.perf_counter() - t0:.0f} s; J {rep['objective']:.1f})", flush=True)
    with open(sys.argv[2] + ".partial", "w") as f:
        json.dump({"out_of_sample": out_rows, "folds": folds}, f, default=float)
import os
os.replace(sys.argv[2] + ".partial", sys.argv[2])
print("done", flush=True)
