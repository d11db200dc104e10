"""The refit CV's folds (calibration.cross_validate, as `qualify --size 600 --cross-validate --cv-method refit`
runs it: start prior, size 200, 150 evaluations, random-effects weights, Laplace, 10 draws, between-trial SDs per fold,
predictions at size 600 seed 11) for some folds only, without the in-sample fit (``cross_validate(in_sample=False)``),
so that the twelve folds can run in parallel processes (forty-second session: two processes of six folds, ~50 min,
against ~2 h for the CLI's one process on two shared cores). The in-sample fit is `ketasim calibrate --start prior
--size 200 --max-evaluations 150`. A hypothesis is switched on in the clone the script runs from (the installed
parameter set only gives the literature values; every fold starts from the prior). Writes OUT.json (OUT.json.partial
after each fold): out_of_sample rows (with their fold) and per-fold records (left_out, trials, objective, seconds,
summary, and cross_validate's rows_fitted, fitted, between_trial); strict JSON: a figure with no rows (e.g. the
summary's mae_mmhg of a fold without BP rows, NaN in Python) is null. Compare with benchmarks/cv_per_trial.py after
merging the parts.

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/cv_refit_folds.py daly2018,transform OUT.json
(fold names: ketasim.calibration.scenario_groups()). ``--restarts=N``: every fit also starts from N draws of the
prior (multi-start, ``calibrate(restarts=N)``; N times the cost). The fold list ``in-sample`` runs the in-sample fit of the same
procedure alone (cross_validate's own: calibrate from the prior, its between-trial SDs, qualify with draws) and writes
its rows as in_sample with in_sample_fit (objective, fitted): a third process beside the folds' two. Merge with
benchmarks/cv_merge.py."""
import json
import os
import sys

from ketasim import calibration as cal
from ketasim.io import atomic_write_text
from ketasim.parameters import load_parameters
from ketasim.units import json_safe

#: the CLI's refit-CV settings (app.qualify_cli with `--size 600 --cross-validate --cv-method refit`)
SETTINGS = dict(size=200, seed=20261121, max_evaluations=150, qual_size=600, qual_seed=11, parameter_draws=10,
                between_trial=True, row_weights="random-effects")


def write(path, out_rows, folds, settings=None) -> None:
    """The folds so far as strict JSON (NaN -> null), with the procedure's settings (cv_merge.py compares them)."""
    atomic_write_text(path, json.dumps(json_safe({"out_of_sample": out_rows, "folds": folds,
                                                  "settings": settings or {**SETTINGS, "restarts": 0}}),
                                       allow_nan=False))


def main(argv) -> dict:
    restarts = [a for a in argv if a.startswith("--restarts=")]
    argv = [a for a in argv if not a.startswith("--restarts=")]
    if len(argv) != 2 or len(restarts) > 1:
        raise SystemExit("usage: cv_refit_folds.py FOLD[,FOLD...] OUT.json [--restarts=N]")
    try:
        n = int(restarts[0].split("=", 1)[1]) if restarts else 0
    except ValueError:
        raise SystemExit(f"error: --restarts: expected a whole number, got {restarts[0].split('=', 1)[1]!r}") from None
    if not 0 <= n <= cal.MAX_RESTARTS:
        raise SystemExit(f"error: --restarts: must lie in 0-{cal.MAX_RESTARTS}, got {n}")
    settings = {**SETTINGS, "restarts": n}
    groups, out = argv[0].split(","), argv[1]
    partial = out + ".partial"
    known = cal.scenario_groups()
    if argv[0] == "in-sample":
        res = cal.cross_validate(load_parameters(), groups=[], in_sample=True, log=lambda *a: print(*a, flush=True),
                                 **settings)
        atomic_write_text(out, json.dumps(json_safe({"in_sample": res["in_sample"],
                                                     "in_sample_fit": res["in_sample_fit"], "settings": settings}),
                                          allow_nan=False))
        print("done", flush=True)
        return res
    if any(g not in known for g in groups):
        raise SystemExit(f"error: unknown fold in {argv[0]!r} (known: {', '.join(known)}, or in-sample)")
    res = cal.cross_validate(load_parameters(), groups=groups, in_sample=False,
                             on_fold=lambda rows, folds: write(partial, rows, folds, settings),
                             log=lambda *a: print(*a, flush=True), **settings)
    os.replace(partial, out)
    print("done", flush=True)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
