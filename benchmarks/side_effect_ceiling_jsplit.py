"""Calibration residuals of the side-effect rows and the total J at the shipped set (side-effect ceiling, s12).

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/side_effect_ceiling_jsplit.py [--size 200]
        [--seed 20261121] [--json out.json]

Prints every side-effect row (CADSS, SBP/DBP, blood-pressure outliers, adverse-event incidences): prediction,
observation, SE and residual (pred - obs) / se, then J over all rows and its split (side-effect rows / the rest).
Run it before and after a model change (same size and seed: common random numbers) and compare.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np

from ketasim import calibration as cal
from ketasim.parameters import load_parameters

warnings.simplefilter("ignore")
SIDE = ("cadss_session", "cadss_gt4", "sbp_t", "dbp_t", "sbp180", "dbp110", "sbp_rise40", "dbp_rise25")


def is_side(kind: str) -> bool:
    return kind in SIDE or kind.startswith("ae:")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--json")
    a = ap.parse_args()
    params = load_parameters()
    targets, _ = cal.build_targets()
    pred = cal.predictions(params, targets, a.size, a.seed, None)
    obs = np.array([t.observed for t in targets])
    se = np.array([t.se for t in targets])
    r = (pred - obs) / se
    rows = []
    for t, p, o, s, x in zip(targets, pred, obs, se, r):
        rows.append({"row": t.row, "trial": t.trial, "arm": t.arm, "kind": t.kind, "time_h": t.time_h,
                     "predicted": float(p), "observed": float(o), "se": float(s), "residual": float(x)})
        if is_side(t.kind):
            print(f"{t.row:4d} {t.trial:22s} {t.arm[:28]:28s} {t.kind:16s} pred {p:8.2f} obs {o:7.2f} "
                  f"se {s:6.2f} r {x:+7.2f}")
    side = np.array([is_side(t.kind) for t in targets])
    print(f"J = {float(r @ r):.2f} over {len(r)} rows; side-effect rows ({side.sum()}) {float(r[side] @ r[side]):.2f};"
          f" others {float(r[~side] @ r[~side]):.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"size": a.size, "seed": a.seed, "J": float(r @ r), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
