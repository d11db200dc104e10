"""Personal plans: simulation-based validation and speed (issue 9).

Validation: synthetic patients drawn from the population model get 0.5 mg/kg IV ketamine twice weekly for two
weeks, observed with their own fluctuation of true severity and the rater's noise (9 MADRS ratings + 1 SBP
reading = 10 observations), then weekly
sessions; the fit forecasts weeks 3-6. Reported: coverage of the 90 % / 50 % prediction intervals of the true
future ratings, the individual vs population (prior) forecast error (MAE of the median against the true
noise-free score), the 90 % posterior intervals' coverage of the true parameters, and the top plan's stated
probability of meeting 'score <= 15 at every weekly visit in weeks 1-4 after the last observation' against its
realised success in the true patient (IV racemic ketamine candidates, 100 posterior samples). Each is printed with
its target. Integer ratings tie with the interval ends, which inflates the plain coverage (most for the 50 %
interval); the randomised-PIT coverage (Czado, Gneiting & Held 2009) is printed beside it.

Speed (warm, medians of repeats): fit + forecast of one patient with 10 observations (target < 2 s); a plan
search with the default limits (target < 10 s).

    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_plan.py [--patients 60 (0: speed only)] [--repeats 5] [--json out.json]
        [--without-fluctuation]

``--without-fluctuation`` fits and forecasts as if ratings had no fluctuation of true severity (the true patients
keep theirs): what ignoring it costs.

The figures quoted in NOTES.md: ``--patients 150 --repeats 5`` (about 6 min on the shared machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from ketasim.personal import fit_patient, forecast, plan, synthetic_record, validate


def speed(repeats: int) -> dict:
    recs, _, models = synthetic_record(1, seed=99)
    pm = models[0]
    fit_patient(pm)                    # warm-up (numba cache load)
    ff, pl = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        fit = fit_patient(pm, seed=r)
        forecast(fit)
        ff.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = plan(fit, seed=r)
        pl.append(time.perf_counter() - t0)
    return {"observations": len(recs[0].observations), "fit_forecast_s_median": statistics.median(ff),
            "fit_forecast_s_all": ff, "plan_search_s_median": statistics.median(pl), "plan_search_s_all": pl,
            "plan_candidates": res["candidates_evaluated"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", default=None)
    ap.add_argument("--without-fluctuation", action="store_true",
                    help="fit and forecast without the fluctuation of true severity (a diagnostic)")
    args = ap.parse_args()
    sp = speed(args.repeats)
    print(f"speed: fit+forecast ({sp['observations']} observations) median {sp['fit_forecast_s_median']:.2f} s "
          f"(target < 2 s: {'ok' if sp['fit_forecast_s_median'] < 2 else 'MISSED'}); plan search "
          f"({sp['plan_candidates']} candidates) median {sp['plan_search_s_median']:.2f} s "
          f"(target < 10 s: {'ok' if sp['plan_search_s_median'] < 10 else 'MISSED'})")
    if args.patients <= 0:          # speed only
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"speed": sp}, f, indent=1)
        return
    t0 = time.perf_counter()
    v = validate(args.patients, seed=args.seed, forecast_fluctuation=not args.without_fluctuation)
    v["wall_s"] = time.perf_counter() - t0
    print(f"validation ({v['patients']} patients, {v['forecast_points']} future ratings, {v['wall_s']:.0f} s"
          f"{'; fit and forecast WITHOUT the fluctuation' if args.without_fluctuation else ''}):")
    ok = lambda c: "ok" if c else "MISSED"          # noqa: E731
    print(f"  90 % PI coverage of the true future ratings {100 * v['pi90_coverage']:.1f} % (target 85-95 %: "
          f"{ok(0.85 <= v['pi90_coverage'] <= 0.95)}); 50 % PI {100 * v['pi50_coverage']:.1f} % (nominal 50 %)")
    print(f"  randomised-PIT coverage (no ties of integer ratings at the interval ends): 90 % "
          f"{100 * v['pit_coverage90']:.1f} %, 50 % {100 * v['pit_coverage50']:.1f} % (nominal 90 / 50 %)")
    ratio = v["mae_individual"] / v["mae_population"]
    print(f"  forecast MAE vs true score: individual {v['mae_individual']:.2f}, population {v['mae_population']:.2f}, "
          f"population anchored on the observed baseline rating {v['mae_population_baseline_anchored']:.2f} points "
          f"(target: individual clearly below population; ratio {ratio:.2f}: {ok(ratio < 0.75)}); signed bias of the "
          f"individual forecast median {v['bias_individual']:+.2f} points (> 0: pessimistic)")
    pc = v["parameter_coverage90_mean"]
    print(f"  90 % parameter-interval coverage of the true values {100 * pc:.1f} % (mean; target about 90 %: "
          f"{ok(0.85 <= pc <= 0.95)}); per parameter: "
          + ", ".join(f"{k} {100 * x:.0f} %" for k, x in v["parameter_coverage90"].items()))
    z = v["top_plan_z"]
    if v.get("top_plan_realised_probability") is not None:
        print(f"  top plan: stated p {v['top_plan_stated_mean']:.3f} vs the true patients' own success probability "
              f"over their fluctuation's future and the rater's noise {v['top_plan_realised_probability']:.3f} "
              f"(one rating series per patient, "
              f"below, adds Bernoulli noise)")
    if v.get("top_plan_forecast_bias") is not None:
        print(f"  top plan's forecast median at its target visits minus the true score: "
              f"{v['top_plan_forecast_bias']:+.2f} points (> 0: pessimistic)")
    print(f"  top plan ({v['plan_target']}): stated p {v['top_plan_stated_mean']:.3f} vs realised "
          f"{v['top_plan_realised_rate']:.3f} over {v['top_plans']} patients (Brier {v['top_plan_brier']:.3f}; target: "
          f"realised about stated: realised - stated successes = {z:+.1f} SD under the stated p: {ok(abs(z) <= 2)})")
    for b in v["plan_calibration"]:
        if b["patients"]:
            print(f"    stated p in [{b['stated_from']:.1f}, {min(b['stated_to'], 1):.1f}): {b['patients']} patients, "
                  f"stated {b['stated_mean']:.2f}, realised {b['realised_rate']:.2f}")
    sm = v["sampling"]
    print(f"  importance sampling: median ESS {sm['ess_initial_median']:.0f} -> {sm['ess_median']:.0f} of 2500 per round; "
          f"{sm['poor_initial']} patients poor in the first round (ESS < 250 or Pareto k > 0.7), {sm['refined']} "
          f"refined, {sm['poor']} still poor (min ESS {sm['ess_min']:.0f}, max k {sm['pareto_k_max']:.2f})")
    print(f"  timings inside the validation (medians): fit {v['fit_seconds_median']:.2f} s, forecast "
          f"{v['forecast_seconds_median']:.2f} s, plan {v['plan_seconds_median']:.2f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"speed": sp, "validation": v}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
