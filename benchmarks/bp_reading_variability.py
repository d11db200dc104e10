"""Doherty 2020's blood-pressure statistic with and without the hypothesis population.bp_reading_sd_scales
(forty-second session): a BP reading's SD scaled by age and pre-dose SBP (Schutte 2012 Table 2).

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/bp_reading_variability.py [--size 2000]
        [--reps 300] [--seed 4242]

A label-like esketamine trial (56 mg intranasal twice weekly x 8 + a new oral antidepressant vs placebo spray + the
antidepressant) in two populations: 46 +- 12 y (TRANSFORM-1/2-like) and >= 65 y (70 +- 4, 65-90: TRANSFORM-3-like).
Each arm is simulated once at --size patients; the switch changes only the readings (each patient's SD multiplier,
population.bp_reading_sd_factor), so "on" re-reads the same sessions with that multiplier. Printed per arm:
sbp_max_rise / dbp_max_rise (the largest of the 8 session means of "max post-dose reading - pre-dose reading") at
the full size and as the mean (SD) over --reps subsamples at the trials' arm sizes (the statistic is biased upward
at small n), and the share of patients with any SBP rise >= 40 / DBP rise >= 25 mmHg (label Table 6's rows).
Observed (Doherty 2020 CNS Drugs 34:299, doi:10.1007/s40263-020-00699-4): SBP 13.3 esketamine / 6.1 placebo (18-64
y, pooled TRANSFORM-1/2: 346 / 222 patients), 16.0 / 11.1 (>= 65 y, TRANSFORM-3: 72 / 65); DBP 8.7 / 4.9 and 9.5 /
6.8. Comparisons only: nothing is tuned to them.
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings

import numpy as np

from ketasim.parameters import load_parameters
from ketasim.population import bp_reading_sd_factor
from ketasim.scenario import scenario_from_dict
from ketasim.trial import max_rise_session_means, reading_fractions, run_trial, SUMMARY_SLOT

ARMS = {"esketamine-56mg+AD": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d",
                                "count": 8}, {"drug": "oral-antidepressant", "route": "oral"}],
        "placebo+AD": [{"drug": "placebo", "route": "intranasal", "every": "3.5 d", "count": 8},
                       {"drug": "oral-antidepressant", "route": "oral"}]}
POPULATIONS = {"18-64 (46 +- 12 y)": {"mean": 46, "sd": 12},
               ">= 65 (70 +- 4 y, 65-90)": {"mean": 70, "sd": 4, "min": 65, "max": 90}}
#: the trials' arm sizes (esketamine, placebo) per population: pooled TRANSFORM-1/2 and TRANSFORM-3 (label Table 6)
TRIAL_N = {"18-64 (46 +- 12 y)": {"esketamine-56mg+AD": 346, "placebo+AD": 222},
           ">= 65 (70 +- 4 y, 65-90)": {"esketamine-56mg+AD": 72, "placebo+AD": 65}}
OBSERVED = {"18-64 (46 +- 12 y)": {"esketamine-56mg+AD": (13.3, 8.7), "placebo+AD": (6.1, 4.9)},
            ">= 65 (70 +- 4 y, 65-90)": {"esketamine-56mg+AD": (16.0, 9.5), "placebo+AD": (11.1, 6.8)}}


def scenario(age: dict, size: int, seed: int, on: bool):
    return scenario_from_dict({
        "name": "bp-reading-variability", "seed": seed,
        "population": {"size": size, "condition": "depression", "treatment_resistant": True, "scale": "madrs",
                       "baseline": {"mean": 37.0, "sd": 5.6}, "age_years": age, "female_fraction": 0.62,
                       "bp_reading_sd_scales": on},
        "arms": ARMS,
        "endpoints": {"times": ["28 d"], "measures": ["sbp_max_rise", "dbp_max_rise", "hypertension_rate"]}})


def session_rises(o, params, rng, systolic: bool) -> np.ndarray:
    """(n, sessions) each patient's max post-dose reading minus the pre-dose reading, drawn as
    trial.max_rise_session_means draws them."""
    col = SUMMARY_SLOT("sbp_change_peak" if systolic else "dbp_change_peak")
    sd = params.get("monitoring.sbp_reading_sd" if systolic else "monitoring.dbp_reading_sd", "mmHg")
    s = o.sessions
    n, ns = s.shape[0], s.shape[1]
    frac = reading_fractions(params)
    rise = s[:, :, col][:, :, None] * frac + rng.normal(0, o.reading_sd(sd, 0, None, 3, systolic), (n, ns, frac.size))
    return rise.max(axis=2) - rng.normal(0, o.reading_sd(sd, 0, None, 2, systolic), (n, ns))


def take(o, ids):
    return dataclasses.replace(o, sessions=o.sessions[ids], sbp0=o.sbp0[ids], dbp0=o.dbp0[ids],
                               baseline=o.baseline[ids], age_years=o.age_years[ids],
                               reading_sd_factor=None if o.reading_sd_factor is None else o.reading_sd_factor[ids])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=4242)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    params = load_parameters()
    for label, age in POPULATIONS.items():
        res = run_trial(scenario(age, a.size, a.seed, False), params, n=a.size, seed=a.seed)
        spec_on = scenario(age, a.size, a.seed, True).population
        print(f"\n== {label}: {a.size} patients per arm, seed {a.seed}")
        for arm, o_off in res.outcomes.items():
            f = bp_reading_sd_factor(spec_on, params, o_off.age_years, o_off.sbp0)
            o_on = dataclasses.replace(o_off, reading_sd_factor=f)
            print(f"[{arm}] age {o_off.age_years.mean():.1f} y, pre-dose SBP {o_off.sbp0.mean():.1f} mmHg; SD factor "
                  f"on: SBP mean {f[:, 0].mean():.3f} (5-95 % {np.percentile(f[:, 0], 5):.2f}-"
                  f"{np.percentile(f[:, 0], 95):.2f}), DBP mean {f[:, 1].mean():.3f}; "
                  f"observed (Doherty) SBP/DBP {OBSERVED[label][arm][0]}/{OBSERVED[label][arm][1]}")
            n_trial = TRIAL_N[label][arm]
            for name, o in (("off", o_off), ("on", o_on)):
                out = []
                for k, systolic, lim in (("sbp_max_rise", True, 40.0), ("dbp_max_rise", False, 25.0)):
                    rng = np.random.default_rng([a.seed, 1 if systolic else 2])
                    full = float(np.max(max_rise_session_means(o, params, rng, k)[0]))
                    x = session_rises(o, params, rng, systolic)
                    tail = 100 * float(np.mean((x >= lim).any(axis=1)))
                    stats = []
                    for _ in range(a.reps):
                        ids = rng.choice(o.n, n_trial, replace=n_trial > o.n)
                        stats.append(float(np.max(max_rise_session_means(take(o, ids), params, rng, k)[0])))
                    out.append(f"{k} {full:5.2f} | at n={n_trial}: {np.mean(stats):5.2f} (SD {np.std(stats):4.2f}) | "
                               f"any rise >= {lim:g}: {tail:4.1f} %")
                print(f"  {name:3s} " + "\n      ".join(out))


if __name__ == "__main__":
    main()
