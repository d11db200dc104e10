"""Merge the parts of a refit CV run in separate processes (benchmarks/cv_refit_folds.py: fold files and the
``in-sample`` file) into one file that benchmarks/cv_per_trial.py reads, as ``qualify --cross-validate --cv-json``
writes it: in_sample, out_of_sample, folds, in_sample_fit, settings (the procedure's, with NOTE), and both summaries
(calibration.qualification_summary). Refuses a part with a fold already seen or a merge without all twelve folds
unless --partial (then write it under benchmarks/results/partial). Strict JSON, gzip when OUT ends in .gz.

    .venv/bin/python benchmarks/cv_merge.py OUT.json.gz IN_SAMPLE.json FOLDS_A.json FOLDS_B.json --note "..."
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys

from ketasim import calibration as cal
from ketasim.io import atomic_write_bytes
from ketasim.units import json_safe

from cv_refit_folds import SETTINGS


def _read(path: str) -> dict:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def merge(parts: list[dict], note: str, partial: bool = False) -> dict:
    """One CV record from the parts (in any order); raises ValueError naming a repeated or missing fold."""
    in_rows, in_fit, out_rows, folds = [], None, [], []
    # a part without settings predates them (forty-sixth session): the single-start procedure
    settings = [p.get("settings") or {**SETTINGS, "restarts": 0} for p in parts]
    if any(s != settings[0] for s in settings):
        diff = sorted(k for s in settings for k in set(s) | set(settings[0]) if s.get(k) != settings[0].get(k))
        raise ValueError(f"the parts were run with different settings ({', '.join(dict.fromkeys(diff))})")
    for p in parts:
        if p.get("in_sample_fit") is not None:
            if in_fit is not None:
                raise ValueError("two parts carry an in-sample fit")
            in_rows, in_fit = p["in_sample"], p["in_sample_fit"]
        seen = {f["left_out"] for f in folds}
        again = [f["left_out"] for f in p.get("folds", []) if f["left_out"] in seen]
        if again:
            raise ValueError(f"fold {again[0]!r} is in two parts")
        folds += p.get("folds", [])
        out_rows += p.get("out_of_sample", [])
    missing = [g for g in cal.scenario_groups() if g not in {f["left_out"] for f in folds}]
    if (missing or in_fit is None) and not partial:
        raise ValueError(f"incomplete: folds missing {missing or 'none'}, in-sample fit "
                         f"{'missing' if in_fit is None else 'present'} (--partial to write it anyway)")
    # the parts' own settings (all equal): a seed replicate (cv_refit_folds.py --seed/--qual-seed) says its seeds
    run = {**SETTINGS, "restarts": 0, **(settings[0] if settings else {})}
    return {"in_sample": in_rows, "out_of_sample": out_rows, "folds": folds, "in_sample_fit": in_fit,
            "settings": {"method": "refit", "start": "prior", "size": run["size"], "seed": run["seed"],
                         "max_evaluations": run["max_evaluations"], "qualify_size": run["qual_size"],
                         "qualify_seed": run["qual_seed"], "parameter_draws": run["parameter_draws"],
                         "between_trial": run["between_trial"], "restarts": run["restarts"], "note": note},
            "summary_in_sample": cal.qualification_summary(in_rows) if in_rows else None,
            "summary_out_of_sample": cal.qualification_summary(out_rows) if out_rows else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("parts", nargs="+")
    ap.add_argument("--note", required=True, help="what was run: the hypothesis, the clone's commit, the processes")
    ap.add_argument("--partial", action="store_true")
    a = ap.parse_args(argv)
    try:
        rec = merge([_read(p) for p in a.parts], a.note, a.partial)
    except (ValueError, OSError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(json_safe(rec), allow_nan=False).encode()
    atomic_write_bytes(a.out, gzip.compress(text, mtime=0) if a.out.endswith(".gz") else text)
    s = rec["summary_out_of_sample"] or {}
    print(f"wrote {a.out}: {len(rec['folds'])} folds, out of sample {s.get('mae_points', float('nan')):.2f} points / "
          f"{s.get('mae_percentage_points', float('nan')):.2f} pp / {100 * s.get('inside_interval', float('nan')):.0f} % inside")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
