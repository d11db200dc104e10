"""A held shape check on individual data: within an arm, how much the change depends on the patient's own baseline.

Goldstein et al. 2004 (duloxetine / paroxetine / placebo, HAM-D17, J Clin Psychopharmacol 24:389, PMID 15232330), as
the public rbmi example data (github insightsengineering/rbmi ``antidepressant_data``: the real placebo arm, n 88,
baseline 17.2 (SD 5.1); a "drug" arm sampled from the three active arms). OLS slope of the change from baseline on
the patient's own baseline (points per point), computed by helper HB of the fifty-fourth session
(/work/coord/s54/HB_report.md):

    placebo  week 1 -0.21 (95 % CI -0.36 to -0.06), week 2 -0.12, week 4 -0.29 (-0.56 to -0.03),
             week 6 -0.01 (-0.32 to 0.30)
    drug     week 6 -0.54 (-0.82 to -0.27)

No ketamine outcome is used. The model's arms: a new oral antidepressant (drug) and an arm with nothing but the
natural course (the model gives pills no expectancy, so its "pill placebo" improves far less than Goldstein's
placebo arm: compare slopes, not sizes), without and with ``population.entry_selection: {min: 0}`` (nobody
excluded), at a baseline of 17.2 (5.1), p_active 0.75 (three of four arms active).

    PYTHONPATH=src .venv/bin/python benchmarks/shape_baseline_slope.py [--size 3000]

Fifty-fourth session (shipped set, 3,000 patients, seed 54): natural course -0.18 / -0.11 / -0.10 / -0.11 at weeks
1/2/4/6; new antidepressant -0.15 / -0.26 / -0.37 / -0.42, inside the drug arm's CI. The fifty-third session's
entry_selection law (X(0) given each patient's baseline; the code before commit a8a8a2a, which this script can no
longer run) gave -0.33 / -0.39 / -0.54 / -0.65 and -0.31 / -0.53 / -0.81 / -0.95 with nobody excluded: outside both
arms' week-6 CIs, so it was replaced by the arm's law (the model without the key when nobody is excluded: the
script's "entry_selection {min: 0}" rows).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ketasim

WEEKS = (1, 2, 4, 6)
GOLDSTEIN = {"natural course": {1: (-0.21, -0.36, -0.06), 4: (-0.29, -0.56, -0.03), 6: (-0.01, -0.32, 0.30)},
             "new antidepressant": {6: (-0.54, -0.82, -0.27)}}
ARMS = {"natural course": [{"drug": "placebo", "route": "oral", "at": "0 d"}],
        "new antidepressant": [{"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}]}


def slopes(params, doses, size: int, selection=None) -> list[tuple]:
    """[(week, slope, mean change, SD of change, r)] of one arm (HAM-D17 points)."""
    pop = {"size": size, "condition": "depression", "treatment_resistant": False, "scale": "hamd17",
           "baseline": {"mean": 17.2, "sd": 5.1}, "p_active": 0.75}
    if selection is not None:
        pop["entry_selection"] = selection
    sc = ketasim.scenario_from_dict({"name": "baseline slope", "seed": 54, "population": pop, "arms": {"arm": doses},
                                     "endpoints": {"times": [f"{w} week" for w in WEEKS],
                                                   "measures": ["mean_change"]}})
    o = ketasim.run_trial(sc, params).outcomes["arm"]
    th = np.asarray(o.times_h, float)
    out = []
    for w in WEEKS:
        ch = o.rating[:, int(np.argmin(abs(th - w * 168.0)))] - o.baseline
        out.append((w, float(np.polyfit(o.baseline, ch, 1)[0]), float(ch.mean()), float(ch.std(ddof=1)),
                    float(np.corrcoef(o.baseline, ch)[0, 1])))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=3000, help="virtual patients per arm")
    args = ap.parse_args(argv)
    params = ketasim.load_parameters()
    for name, doses in ARMS.items():
        for label, selection in (("without the key", None), ("entry_selection {min: 0}", {"min": 0})):
            t0 = time.perf_counter()
            res = slopes(params, doses, args.size, selection)
            cells = []
            for w, s, m, sd, r in res:
                ref = GOLDSTEIN[name].get(w)
                mark = "" if ref is None else f" [obs {ref[0]:+.2f} ({ref[1]:+.2f}..{ref[2]:+.2f}) " \
                    f"{'in' if ref[1] <= s <= ref[2] else 'OUT'}]"
                cells.append(f"wk{w} slope {s:+.2f}{mark} change {m:+.2f} (SD {sd:.2f})")
            print(f"{name:18s} {label:25s} " + "; ".join(cells) + f"  ({time.perf_counter() - t0:.0f} s)")
    print("ketasim is a research and teaching tool, not medical advice.")


if __name__ == "__main__":
    main()
