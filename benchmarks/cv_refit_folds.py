"""The refit CV's folds (calibration.cross_validate, as `qualify --size 600 --cross-validate --cv-method refit`
runs it: start prior, size 200, 150 evaluations, random-effects weights, Laplace, 10 draws, between-trial SDs per fold,
predictions at size 600 seed 11) for some folds only, without the in-sample fit (``cross_validate(in_sample=False)``),
so that the twelve folds can run in parallel processes (forty-second session: two processes of six folds, ~50 min,
against ~2 h for the CLI's one process on two shared cores; since the forty-ninth session the CLI runs its fits at
once as well, `qualify --cross-validate --jobs N`, and checkpoints them; this script stays for hypothesis clones and
partial fold sets). The in-sample fit is `ketasim calibrate --start prior
--size 200 --max-evaluations 150`. A hypothesis is switched on in the clone the script runs from (the installed
parameter set only gives the literature values; every fold starts from the prior). Writes OUT.json (OUT.json.partial
after each fold): out_of_sample rows (with their fold) and per-fold records (left_out, trials, objective, seconds,
summary, and cross_validate's rows_fitted, fitted, between_trial); strict JSON: a figure with no rows (e.g. the
summary's mae_mmhg of a fold without BP rows, NaN in Python) is null. Compare with benchmarks/cv_per_trial.py after
merging the parts.

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/cv_refit_folds.py daly2018,transform OUT.json
(fold names: ketasim.calibration.scenario_groups()). ``--restarts=N``: every fit also starts from N draws of the
prior (multi-start, ``calibrate(restarts=N)``; N times the cost). ``--seed=N`` / ``--qual-seed=N``: the fits' and the
predictions' seeds (default 20261121 / 11): a replicate of the procedure with other seeds. The fold list ``in-sample`` runs the in-sample fit of the same
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


#: the whole-number options: option -> (settings key, smallest, largest)
OPTIONS = {"--restarts": ("restarts", 0, cal.MAX_RESTARTS), "--seed": ("seed", 0, 2**32 - 1),
           "--qual-seed": ("qual_seed", 0, 2**32 - 1)}
USAGE = "usage: cv_refit_folds.py FOLD[,FOLD...] OUT.json [--restarts=N] [--seed=N] [--qual-seed=N]"


def _options(argv) -> tuple[list, dict]:
    """(positional arguments, settings overrides) from ``--name=N`` options (each at most once)."""
    positional, chosen = [], {}
    for a in argv:
        name = a.split("=", 1)[0]
        if name not in OPTIONS:
            positional.append(a)
            continue
        if name in chosen or "=" not in a:
            raise SystemExit(USAGE)
        key, lo, hi = OPTIONS[name]
        value = a.split("=", 1)[1]
        try:
            n = int(value)
        except ValueError:
            raise SystemExit(f"error: {name}: expected a whole number, got {value!r}") from None
        if not lo <= n <= hi:
            raise SystemExit(f"error: {name}: must lie in {lo}-{hi}, got {n}")
        chosen[name] = (key, n)
    return positional, dict(chosen.values())


def main(argv) -> dict:
    argv, overrides = _options(argv)
    if len(argv) != 2:
        raise SystemExit(USAGE)
    # --seed: the fits' simulation seed (the calibration's common random numbers); --qual-seed: the predictions'.
    # A run with other seeds replicates the procedure: the spread of its figures between seeds is the CV's own noise.
    settings = {**SETTINGS, "restarts": 0, **overrides}
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
