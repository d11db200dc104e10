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

``--errors arm`` draws the rows of an arm from ONE sample of patients instead (what a real trial reports): every
arm of a scenario file gets its own virtual patients out of the truth population (disjoint sets of the arm's n for
a parallel design, the same set for a crossover), and each of its rows is that sample's statistic under the truth:
ratings are the patients' model scores plus the within-patient fluctuation since entry (one Ornstein-Uhlenbeck path
per patient, ``population.fluctuation_paths``) and the rater's noise (independent per visit), rounded as ratings
are; a rate counts the patients whose rating meets the row's criterion; a difference row is the difference of its
arms' samples. An arm that the rows use only pooled with weights (TRANSFORM-2's flexible dose as 1/3 56 mg + 2/3 84
mg) gets the row's n split by the weights, an arm used only inside a pool of k arms n/k. Adverse-event incidence,
CADSS > 4 and blood-pressure outlier rows (analytic per-patient probabilities, no per-visit draws in the model)
keep the row-level binomial draw.

Limits of ``--errors row`` (the default, what makes its figures a LOWER bound of a correct model's error): rows of one
arm at different times get independent errors (a real arm's 20 patients carry theirs across all its rows, which a
fit cannot average out), and a difference row's error is independent of its arms'. ``--errors arm`` removes both;
its remaining approximations: subgroup rows (women, over 65) take the subgroup out of the arm's sample, so their n
varies around the row's; arms of different files of one trial group (TRANSFORM-1 and -2) are sampled independently
from the same truth population (they share a few virtual patients). Runtime: one refit CV (~1-2 h on 2 cores).
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
from ketasim.population import SCALES, entry_change_moments, fluctuation_paths
from ketasim.units import json_safe


def synthetic_targets(params, replicate: int, truth_size: int = 600, truth_seed: int = 11, log=print,
                      errors: str = "row"):
    """(targets with synthetic observations, skipped, record of the draws). ``errors``: "row" (independent per
    row) or "arm" (one sample of patients per arm; module docstring)."""
    if errors not in ("row", "arm"):
        raise ValueError(f"errors: 'row' or 'arm', not {errors!r}")
    real, skipped = cal.build_targets()
    tau, tau_source = cal.trial_tau(params, log=log)
    rng = np.random.default_rng([20261203, replicate])
    arm_rng = np.random.default_rng([20261203, replicate, 1])     # the arms' samples: the trial effects as in "row"
    groups = cal.scenario_groups()
    by_key, arm_obs = {}, {}
    shifts = {}
    for g in sorted(groups):
        shift = {e: float(rng.normal(0.0, tau[e])) for e in cal.TRIAL_EFFECTS}
        shifts[g] = shift
        pg = cal.with_trial_effect(params, shift)
        if errors == "arm":
            arm_obs.update(arm_level_observations([t for t in real if t.trial in set(groups[g])], pg, truth_size,
                                                  truth_seed, arm_rng))
            continue
        rows, _ = cal.qualify(pg, size=truth_size, seed=truth_seed, trials=groups[g])
        for r in rows:
            by_key[(r["row"], r["kind"])] = r
    out, record = [], []
    for t in real:
        n = max(int(t.n), 2)
        unit = cal._unit(t.kind)
        if errors == "arm":
            pred, obs = arm_obs[(t.row, t.kind)]
            if obs is None:                                  # row-level kinds: a binomial count of the row's n
                obs = 100.0 * rng.binomial(n, min(max(pred / 100.0, 0.0), 1.0)) / n
        else:
            r = by_key[(t.row, t.kind)]
            pred = float(r["predicted"])
            if t.kind in cal.SPREAD_KINDS:
                obs = pred * math.sqrt(rng.chisquare(n - 1) / (n - 1))
            elif unit == "percentage points":
                obs = 100.0 * rng.binomial(n, min(max(pred / 100.0, 0.0), 1.0)) / n
            else:
                sd = r.get("sampling_sd")
                sd = float(sd) if sd is not None and math.isfinite(float(sd)) else float(t.se)
                obs = pred + rng.normal(0.0, sd)
        if t.kind in cal.SPREAD_KINDS:
            se = cal.statistic_sampling_sd(t.kind, obs, None, n)
        elif unit == "percentage points":
            se = cal.rate_se(obs, n)
        else:
            se = t.se
        out.append(dataclasses.replace(t, observed=float(obs), se=float(se)))
        record.append({"row": t.row, "kind": t.kind, "label": t.label, "published": t.observed, "truth": float(pred),
                       "synthetic": float(obs), "se": float(se)})
    return out, skipped, {"trial_effects": shifts, "tau": tau, "tau_source": tau_source, "errors": errors,
                          "rows": record}


#: row kinds drawn at the row level in ``--errors arm`` too: analytic per-patient probabilities (adverse events, CADSS
#: > 4, blood-pressure outliers) that no per-visit draw of the model turns into counts
ROW_LEVEL_KINDS = ("cadss_gt4", "sbp180", "dbp110", "sbp_rise40", "dbp_rise25")


def _row_level(t) -> bool:
    return t.kind in ROW_LEVEL_KINDS or t.kind.startswith("ae:")


def _parts(spec: str, file: str):
    """[(file, [(arm, share or None)], subgroup)] of an arm spec (the grammar of ``calibration._select``)."""
    out = []
    for part in spec.split(cal.POOL_FILES):
        part_file, part_spec = part.split("::", 1) if "::" in part else (file, part)
        arms, _, sub = part_spec.partition(":")
        out.append((part_file, [(a.partition("@")[0], float(a.partition("@")[2]) if "@" in a else None)
                                for a in arms.split("|")], sub))
    return out


def arm_sizes(targets) -> dict:
    """(scenario file, arm) -> patients the arm's sample needs: the largest n of a row on the arm alone; else of a
    weighted pool times the arm's weight; else of a pool of k arms (a difference row's two sides included) over k."""
    direct, share, pooled = {}, {}, {}
    for t in targets:
        if _row_level(t):
            continue
        # a difference row's n counts both sides' patients: it is a pool of the arms of both specs
        parts = [p for spec in (t.model_arm, t.versus) if spec for p in _parts(spec, cal.TRIALS[t.trial][0])]
        k = sum(len(arms) for _, arms, _ in parts)
        alone = len(parts) == 1 and not parts[0][2]          # one file's arm(s), no subgroup, no other side
        for f, arms, _ in parts:
            for name, w in arms:
                key = (f, name)
                if alone and k == 1 and w is None:
                    direct[key] = max(direct.get(key, 0), int(t.n))
                elif alone and all(x is not None for _, x in arms):
                    share[key] = max(share.get(key, 0), int(round(t.n * w)))
                else:
                    pooled[key] = max(pooled.get(key, 0), int(round(t.n / k)))
    return {key: max(2, direct.get(key) or share.get(key) or pooled[key]) for key in {**pooled, **share, **direct}}


def arm_samples(sizes: dict, truth_size: int, rng) -> dict:
    """(file, arm) -> indices of the arm's virtual patients in the truth population: disjoint sets for a parallel
    design (one random permutation per file), one set for every arm of a crossover (each patient gets every arm)."""
    out = {}
    for f in sorted({f for f, _ in sizes}):
        keys = sorted(k for k in sizes if k[0] == f)
        perm = rng.permutation(truth_size)
        if dict(cal.load_scenario(cal.SCENARIOS / f).design).get("type") == "crossover":
            n = max(sizes[k] for k in keys)
            out.update({k: perm[:n] for k in keys})
            continue
        total = sum(sizes[k] for k in keys)
        if total > truth_size:
            raise SystemExit(f"--truth-size: {f} needs {total} patients for its arms' samples; use more")
        start = 0
        for k in keys:
            out[k] = perm[start:start + sizes[k]]
            start += sizes[k]
    return out


def _sampled_arm(sim, idx, params, scale_max: float, rater_sd: float, rng):
    """The arm seen through ``idx``'s patients with explicit ratings: score + fluctuation since entry + rater's
    noise, rounded and bounded by the scale (as ``trial._simulate_outcome`` rates), baseline rounded. Under a trial's
    entry criterion (``sim.entry_sd``; population.entry_selection) the fluctuation starts from its selected law at
    entry and the score's closed-form regression to the mean is taken out first (the drawn paths carry it), as a
    virtual trial draws it."""
    score = sim.score[idx]
    fscale = sim.fluctuation_scale(idx)
    entry = None
    if sim.entry_sd is not None:
        entry = (sim.entry_mean[idx], sim.entry_sd[idx])
        score = score - entry_change_moments(params, scale_max, sim.times, *entry, fscale)[0]
    fluct = fluctuation_paths(params, scale_max, sim.times, rng.standard_normal((idx.size, sim.times.size + 1)),
                              fscale, entry=entry)
    rating = np.clip(np.rint(score + fluct + rng.normal(0.0, rater_sd, score.shape)), 0, scale_max)
    # the ratings are drawn: no closed-form law of the change since entry is left to integrate
    return dataclasses.replace(
        sim, score=rating, baseline=np.rint(sim.baseline[idx]), sessions=sim.sessions[idx], female=sim.female[idx],
        age=sim.age[idx], sbp=sim.sbp[idx], dbp=sim.dbp[idx], bp0=sim.bp0[idx],
        screening=None if sim.screening is None else sim.screening[idx], fluct_scale=fscale,
        change_var=None, entry_sd=None, entry_mean=None)


def arm_level_observations(targets, params, truth_size: int, truth_seed: int, rng) -> dict:
    """(row, kind) -> (truth, synthetic) for one scenario group's rows under ``params`` (its shifted truth): the
    truth from ``truth_size`` patients per arm, the synthetic value from the arms' samples (module docstring)."""
    sims = cal.simulate_calibration_arms(params, targets, truth_size, truth_seed)
    truth = {(t.row, t.kind): cal.predict(t, sims, params) for t in targets}
    idx = arm_samples(arm_sizes(targets), truth_size, rng)
    sampled = {}
    for key in sorted(idx):
        pop = cal.load_scenario(cal.SCENARIOS / key[0]).population
        smax = SCALES[pop.scale][0]
        sampled[key] = _sampled_arm(sims[key], idx[key], params, smax,
                                    params.free_value("rating_noise_sd") * smax, rng)
    return {(t.row, t.kind): (truth[(t.row, t.kind)], None if _row_level(t) else
                              cal.predict(t, sampled, params, drawn_ratings=True)) for t in targets}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="cross-validation JSON (the format of qualify --cv-json)")
    ap.add_argument("--replicate", type=int, default=1, help="seed of the synthetic data set")
    ap.add_argument("--truth-size", type=int, default=600, help="virtual patients per arm for the true values")
    ap.add_argument("--cv-size", type=int, default=200, help="virtual patients per arm in the fits (CLI default)")
    ap.add_argument("--cv-evaluations", type=int, default=150, help="budget per fit (CLI default)")
    ap.add_argument("--qual-size", type=int, default=600, help="virtual patients per arm when predicting")
    ap.add_argument("--errors", choices=("row", "arm"), default="row",
                    help="independent errors per row, or one sample of patients per arm (module docstring)")
    ap.add_argument("--groups", default="", help="comma-separated scenario groups to leave out (default: all)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    params = load_parameters()
    targets, skipped, record = synthetic_targets(params, a.replicate, a.truth_size, errors=a.errors)
    print(f"synthetic rows: {len(targets)} (replicate {a.replicate}, errors per {a.errors}; trial effects drawn with tau "
          + ", ".join(f"{e} {v:.2f}" for e, v in record["tau"].items()) + f", {record['tau_source']})", flush=True)
    cv = cal.cross_validate(params, size=a.cv_size, max_evaluations=a.cv_evaluations, qual_size=a.qual_size,
                            qual_seed=11, parameter_draws=10, between_trial=True, targets=targets,
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
    tmp.write_text(json.dumps(json_safe(cv), indent=1, allow_nan=False), encoding="utf-8")     # strict JSON
    tmp.replace(out)
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
