"""Where the calibration objective lives: J split by trial and row kind at one parameter set (fourteenth session).

    PYTHONPATH=src .venv/bin/python benchmarks/objective_parts.py [--parameters FILE] [--size 200]
        [--seed 20261121] [--top 20]

Predicts every calibration row once (the calibration's own `predictions`, common random numbers) and prints J, the
rows' sum of squared standardised residuals, both as `calibrate` fits it (random-effects row weights: SE widened by
the between-trial heterogeneity of the row's kind) and as it reports it (sampling SEs), then the --top (trial, kind)
groups by their share of the fitted J. A group with a large share that the model's structure cannot fit pulls every
shared parameter: the fourteenth session found TRANSFORM's four SD-of-change rows at 27 % of the fitted J of the
shipped set (NOTES.md). No prior terms (they are not rows).
"""

from __future__ import annotations

import argparse
import warnings
from collections import Counter, defaultdict

from ketasim import calibration as cal
from ketasim.parameters import load_parameters


def objective_parts(targets, predicted, row_weights: str = "random-effects") -> tuple[float, dict]:
    """(J, {(trial, kind): part}) with J = sum over rows of ((predicted - observed) / SE_fit)^2, SE_fit the row's
    :func:`ketasim.calibration.row_fit_se` under ``row_weights``; the parts sum to J."""
    parts: dict = defaultdict(float)
    for t, y in zip(targets, predicted):
        z = (float(y) - t.observed) / cal.row_fit_se(t, row_weights)
        parts[(t.trial, t.kind)] += z * z
    return float(sum(parts.values())), dict(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parameters", help="a calibration output or parameter-set JSON (default: the shipped set)")
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    params = load_parameters(a.parameters)
    targets, _ = cal.build_targets()
    predicted = cal.predictions(params, targets, a.size, a.seed, None)
    j_fit, parts = objective_parts(targets, predicted, "random-effects")
    j_sampling, sampling_parts = objective_parts(targets, predicted, "sampling")
    print(f"parameter set: {params.calibration_run}")
    print(f"{len(targets)} rows, size {a.size}, seed {a.seed}: J as fitted (random-effects weights) {j_fit:.1f}; "
          f"J as reported (sampling SEs) {j_sampling:.1f}")
    print(f"{'share':>6} {'J fit':>8} {'J sampling':>11}  trial | kind (rows)")
    counts = Counter((t.trial, t.kind) for t in targets)
    for key, part in sorted(parts.items(), key=lambda kv: -kv[1])[:a.top]:
        print(f"{100 * part / j_fit:5.1f}% {part:8.1f} {sampling_parts[key]:11.1f}  {key[0]} | {key[1]} ({counts[key]})")


if __name__ == "__main__":
    main()
