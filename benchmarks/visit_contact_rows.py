"""What the contact-per-visit hypothesis does to the calibration rows at fixed parameters (thirteenth session).

    PYTHONPATH=src .venv/bin/python benchmarks/visit_contact_rows.py [--parameters FILE] [--size 200]
        [--seed 20261121] [--threshold 2]

Runs every calibration row twice with the same patients (common random numbers): as shipped (population.visit_contact
off everywhere) and with `visit_contact: true` added to every calibration scenario (a temporary copy; nothing in the
package is changed). Prints J (random-effects row weights, no prior terms) both ways, the rate and mean MAE and mean
signed error both ways, and every response / remission / change row that moves by more than --threshold (pp or
points). This is the fixed-parameter view; a model change is judged by its refit cross-validation
(`qualify --cross-validate --cv-method refit` with the switch on in the calibration scenarios of a clone).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ketasim import calibration as cal
from ketasim.parameters import load_parameters

RATES = ("response", "remission", "response_window")
MEANS = ("mean_change", "diff_change", "mean")


def _with_contact(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    for path in dst.glob("*.yaml"):
        text = path.read_text()
        if "\npopulation:\n" in text:
            path.write_text(text.replace("\npopulation:\n", "\npopulation:\n  visit_contact: true\n", 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parameters")
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--threshold", type=float, default=2.0)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    params = load_parameters(a.parameters)
    targets, _ = cal.build_targets()
    obs = np.array([t.observed for t in targets])
    se = np.array([cal.row_fit_se(t, "random-effects") for t in targets])
    off = cal.predictions(params, targets, a.size, a.seed, None)
    shipped = cal.SCENARIOS
    with tempfile.TemporaryDirectory() as tmp:
        _with_contact(shipped, Path(tmp) / "calibration")
        cal.SCENARIOS = Path(tmp) / "calibration"
        try:
            on = cal.predictions(params, targets, a.size, a.seed, None)
        finally:
            cal.SCENARIOS = shipped
    kinds = np.array([t.kind for t in targets])
    print(f"visit_relief {params.free_value('visit_relief'):.4f}, care_t_half {params.free_value('care_t_half', 'h'):.0f} h;"
          f" size {a.size}, seed {a.seed}")
    for name, pred in (("off (default)", off), ("on", on)):
        r = (pred - obs) / se
        line = f"{name:14s} J(RE rows) {float(r @ r):7.1f}"
        for label, group in (("rates", RATES), ("means", MEANS)):
            m = np.isin(kinds, group)
            line += f"  {label}: MAE {np.abs(pred - obs)[m].mean():5.2f} bias {(pred - obs)[m].mean():+5.2f}"
        print(line)
    print(f"\nrows that move by more than {a.threshold:g} (pp or points):")
    for t, x, y, o in zip(targets, off, on, obs):
        if abs(y - x) > a.threshold and t.kind in RATES + MEANS + ("sd_change",):
            print(f"  {t.trial:28s} {t.arm[:24]:24s} {t.kind:15s} {t.time_h:6.0f} h  off {x:7.2f}  on {y:7.2f}  "
                  f"observed {o:7.2f}")


if __name__ == "__main__":
    main()
