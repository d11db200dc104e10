"""What out-of-sample error would an EXACT model reach on data of the calibration set's sizes? (issue 7)

    PYTHONPATH=src .venv/bin/python benchmarks/cv_synthetic.py --out out/cv_synthetic.json [--replicate 1]
    PYTHONPATH=src .venv/bin/python benchmarks/cv_per_trial.py out/cv_synthetic.json

A parametric bootstrap of the leave-one-trial-out cross-validation (``ketasim qualify --cross-validate --cv-method
refit``): the installed parameter set is taken as the truth, every calibration row gets a synthetic observation that
a trial of the row's size would report if the model were exactly right, and the same refit cross-validation (same
sizes, budgets and seeds as the CLI's) is run on the synthetic rows instead of the published ones. Its
out-of-sample figures are what the procedure can reach when nothing is misspecified: the sampling error of small
trials, the between-trial heterogeneity and the estimation error of fits that miss one trial, together.
Compare them with the real run's (``cv_per_trial.py REAL.json SYNTHETIC.json``): the gap is the model's
misspecification; the synthetic figures are the floor a structural change can reach.

How a synthetic row is drawn (seeded by ``--replicate``):

* each scenario group (a trial and its pooled analyses: ``calibration.scenario_groups``) draws its trial effects,
  one normal shift per effect of ``calibration.TRIAL_EFFECTS`` with the between-trial SDs stored with the parameter
  set (``ketasim between-trial``);
* its rows are predicted under the shifted parameters (``qualify`` at ``--truth-size`` patients per arm);
* a rate (percentage points) is a binomial count of the row's n at the predicted rate; a mean, change or mmHg value
  the prediction plus a normal error of the row's sampling SD (the virtual population's per-patient SD / sqrt(n),
  as ``qualify`` computes it); a between-patient SD the prediction times sqrt(chi2(n-1)/(n-1));
* the row's standard error is recomputed from the synthetic value where calibration derives it from the value
  (rates, SDs); a mean keeps its published SE.

Limits (what makes the synthetic figures a LOWER bound of a correct model's error): rows of one arm at different
times get independent errors (a real arm's 20 patients carry theirs across all its rows, which a fit cannot average
out), and a difference row's error is independent of its arms'. Runtime: one refit CV (~1-2 h on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from ketasim import calibration as cal
from ketasim.parameters import load_parameters


def synthetic_targets(params, replicate: int, truth_size: int = 600, truth_seed: int = 11, log=print):
    """(targets with synthetic observations, skipped, record of the draws)."""
    real, skipped = cal.build_targets()
    tau, tau_source = cal.trial_tau(params, log=log)
    rng = np.random.default_rng([20261203, replicate])
    groups = cal.scenario_groups()
    by_key = {}
    shifts = {}
    for g in sorted(groups):
        shift = {e: float(rng.normal(0.0, tau[e])) for e in cal.TRIAL_EFFECTS}
        shifts[g] = shift
        pg = cal.with_trial_effect(params, shift)
        rows, _ = cal.qualify(pg, size=truth_size, seed=truth_seed, trials=groups[g])
        for r in rows:
            by_key[(r["row"], r["kind"])] = r
    out, record = [], []
    for t in real:
        r = by_key[(t.row, t.kind)]
        pred, unit = float(r["predicted"]), r["unit"]
        n = max(int(t.n), 2)
        if t.kind in cal.SPREAD_KINDS:
            obs = pred * math.sqrt(rng.chisquare(n - 1) / (n - 1))
            se = cal.statistic_sampling_sd(t.kind, obs, None, n)
        elif unit == "percentage points":
            p = min(max(pred / 100.0, 0.0), 1.0)
            obs = 100.0 * rng.binomial(n, p) / n
            se = cal.rate_se(obs, n)
        else:
            sd = r.get("sampling_sd")
            sd = float(sd) if sd is not None and math.isfinite(float(sd)) else float(t.se)
            obs = pred + rng.normal(0.0, sd)
            se = t.se
        out.append(dataclasses.replace(t, observed=float(obs), se=float(se)))
        record.append({"row": t.row, "kind": t.kind, "label": t.label, "published": t.observed, "truth": pred,
                       "synthetic": float(obs), "se": float(se)})
    return out, skipped, {"trial_effects": shifts, "tau": tau, "tau_source": tau_source, "rows": record}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="cross-validation JSON (the format of qualify --cv-json)")
    ap.add_argument("--replicate", type=int, default=1, help="seed of the synthetic data set")
    ap.add_argument("--truth-size", type=int, default=600, help="virtual patients per arm for the true values")
    ap.add_argument("--cv-size", type=int, default=200, help="virtual patients per arm in the fits (CLI default)")
    ap.add_argument("--cv-evaluations", type=int, default=150, help="budget per fit (CLI default)")
    ap.add_argument("--qual-size", type=int, default=600, help="virtual patients per arm when predicting")
    ap.add_argument("--groups", default="", help="comma-separated scenario groups to leave out (default: all)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    params = load_parameters()
    targets, skipped, record = synthetic_targets(params, a.replicate, a.truth_size)
    print(f"synthetic rows: {len(targets)} (replicate {a.replicate}; trial effects drawn with tau "
          + ", ".join(f"{e} {v:.2f}" for e, v in record["tau"].items()) + f", {record['tau_source']})", flush=True)
    cal.build_targets = lambda rows=None: (list(targets), list(skipped))      # every fit and prediction sees them
    cv = cal.cross_validate(params, size=a.cv_size, max_evaluations=a.cv_evaluations, qual_size=a.qual_size,
                            qual_seed=11, parameter_draws=10, between_trial=True,
                            groups=[g for g in a.groups.split(",") if g] or None,
                            log=lambda m: print(m, flush=True))
    cv["summary_in_sample"] = cal.qualification_summary(cv["in_sample"])
    cv["summary_out_of_sample"] = cal.qualification_summary(cv["out_of_sample"])
    cv["synthetic"] = {**record, "replicate": a.replicate, "truth_parameter_set": params.version,
                       "truth_calibration_run": params.calibration_run, "truth_size": a.truth_size}
    print(f"  in sample (same procedure):  {cal.format_summary(cv['summary_in_sample'])}")
    print(f"  out of sample:               {cal.format_summary(cv['summary_out_of_sample'])}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".partial")
    tmp.write_text(json.dumps(cv, indent=1, default=float), encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
