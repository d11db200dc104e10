"""Compare cross-validation runs per trial (out of sample), side by side.

    .venv/bin/python benchmarks/cv_per_trial.py BASELINE.json NEW.json [MORE.json ...]
    .venv/bin/python benchmarks/cv_per_trial.py REAL.json --exact SYNTHETIC1.json SYNTHETIC2.json ...
    .venv/bin/python benchmarks/cv_per_trial.py benchmarks/results/cv_refit_pool_plateau.json.gz \
        --exact benchmarks/results/cv_synthetic_arm_rep*.json.gz     # the shipped model and the exact-model runs

Each file is written by ``ketasim qualify --cross-validate --cv-json FILE`` (e.g. ``--cv-method refit``). Prints the
overall in-sample and out-of-sample summaries and, per trial, the out-of-sample mean absolute error in score points
(means/changes/differences, not the SD rows), percentage points (rates) and the share of observations inside the 95 %
interval; then the fitted non-specific-response parameters of each fold; then, for the rate rows, the mean absolute
error that binomial sampling alone would give at the predicted rates and each row's arm size (a trial of n patients
observes k/n even if the model is exact: E|k/n - p| ~ sqrt(2/pi) sqrt(p(1 - p)/n)), the floor below which no
structural change can push the rate MAE (from the sampling SDs qualify stored per row; for older files from the arm
sizes), and the same with the literature's between-trial heterogeneity of placebo response added. Last, per trial,
where the rate error of each run lives: the mean signed error (bias: negative = predicted below observed) and the
part of the overall rate MAE above that trial's sampling floor (its excess, in pp of the overall MAE: the excesses
sum to overall MAE minus floor), and what the 8-pp target asks of the efficacy (response, remission) rows given
the other rate rows' error, beside their in-sample error and floors. Then two diagnostics of why folds generalise less than the full fit: the in-sample
fit's parameters within 3 % of a bound (on the fit's log/logit scale: the data push past what the structure's bounds
allow), and per fold the parameters that moved most from the in-sample fit, in prior SDs on that scale (what the
left-out trial alone pinned). Last, the direction of the errors in and out of sample (mean signed error of the
rates, the mean changes and the SDs of change: a rate error that grows out of sample with one sign is a prediction
shrunk towards the prior, not noise) and the dispersion of control arms (placebo, saline, midazolam) against drug
arms, observed and predicted (antidepressant and placebo arms are equally dispersed in the literature: Munkholm 2020,
doi:10.1371/journal.pone.0237950). Reads the files and the calibration file's arm sizes (no simulation).

``--exact`` takes replicates of ``benchmarks/cv_synthetic.py`` (the same refit CV on rows an exact model would give;
``--errors arm`` for a trial's own error structure) and says, for the first file (the real run), where it falls
against them: overall (means, rates, SD rows, coverage) and per trial, the exact model's mean, SD and range over the
replicates, and whether the real run lies above the range (misfit the sampling error of these trials cannot
explain) or inside it.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import math
import statistics

from ketasim.calibration import (FITTED, HETEROGENEITY_RATE_KINDS, _bounds, _fwd, _prior_weights, build_targets,
                                 error_floors, qualification_summary)

FOLD_KEYS = ("placebo_gain", "expectancy_t_half", "design_expectancy_gain", "expectancy_feedback",
             "care_expectancy", "care_t_half")


def per_trial(rows):
    by = collections.defaultdict(list)
    for r in rows:
        by[r["trial"]].append(r)
    out = {}
    for trial, rs in by.items():
        pts = [abs(r["error"]) for r in rs if r["unit"] == "points"]
        pp = [abs(r["error"]) for r in rs if r["unit"] == "percentage points"]
        out[trial] = (sum(pts) / len(pts) if pts else None, sum(pp) / len(pp) if pp else None,
                      sum(r["inside"] for r in rs) / len(rs), len(rs))
    return out


def row_floors(rows) -> list[float]:
    """The sampling floor of each rate row, in pp and in row order: sqrt(2/pi) x the sampling SD qualify stored,
    else (older files) sqrt(2/pi) sqrt(p(1-p)/n) x 100 at the predicted rate p and the row's arm size n in the
    calibration file."""
    out, n_of = [], None
    for r in rows:
        if r["unit"] != "percentage points":
            continue
        sd = r.get("sampling_sd")
        if sd is None:
            if n_of is None:
                n_of = {t.label: t.n for t in build_targets()[0]}
            p = min(max(r["predicted"] / 100, 0.005), 0.995)
            sd = 100 * math.sqrt(p * (1 - p) / max(n_of[r["label"]], 1))
        out.append(math.sqrt(2 / math.pi) * sd)
    return out


def sampling_floor(rows) -> tuple[float, int]:
    """Mean of the rate rows' sampling floors (pp) and the number of rate rows."""
    floor = row_floors(rows)
    return (sum(floor) / len(floor) if floor else float("nan")), len(floor)


def rate_excess(rows) -> dict[str, tuple[int, float, float]]:
    """Per trial: (rate rows, mean signed error in pp, excess over the floor in pp of the overall rate MAE)."""
    rates = [r for r in rows if r["unit"] == "percentage points"]
    by = collections.defaultdict(list)
    for r, floor in zip(rates, row_floors(rates)):
        by[r["trial"]].append((r["error"], floor))
    return {t: (len(es), sum(e for e, _ in es) / len(es), sum(abs(e) - f for e, f in es) / len(rates))
            for t, es in by.items()}


def target_headroom(out_rows, in_rows, target_pp: float = 8.0) -> dict:
    """What the rate target asks of the efficacy rows (response, remission): the other rate rows (side effects, BP
    outliers) keep their out-of-sample MAE, so the overall rate MAE meets ``target_pp`` only if the efficacy rows'
    out-of-sample MAE is at most ``needed`` = (target x all rows - other rows' error sum) / efficacy rows. Beside
    it: the efficacy rows' MAE out of sample and in sample and their floors as qualify computes them
    (``calibration.error_floors``: sampling alone, and with the literature's between-trial heterogeneity of placebo
    response), all pp."""
    def eff(r):
        return r["unit"] == "percentage points" and r.get("kind") in HETEROGENEITY_RATE_KINDS

    rates = [r for r in out_rows if r["unit"] == "percentage points"]
    e_out = [r for r in rates if eff(r)]
    other = [abs(r["error"]) for r in rates if not eff(r)]
    e_in = [abs(r["error"]) for r in in_rows if eff(r)]
    floors = error_floors(e_out)
    mean = (lambda xs: sum(xs) / len(xs) if xs else float("nan"))
    return {"rows": len(e_out), "other_rows": len(other),
            "out_of_sample": mean([abs(r["error"]) for r in e_out]), "in_sample": mean(e_in),
            "other_out_of_sample": mean(other),
            "needed": (target_pp * len(rates) - sum(other)) / len(e_out) if e_out else float("nan"),
            "sampling_floor": floors["sampling_floor_percentage_points"],
            "heterogeneity_floor": floors["heterogeneity_floor_percentage_points"]}


def bound_hits(fitted: dict, margin: float = 0.03) -> list[tuple[str, float, str]]:
    """Fitted parameters within ``margin`` of a bound, as a fraction of the bounds' span on the fit's scale (log or
    logit, calibration's own transform): (name, value, 'lower' | 'upper'). Parameters not in FITTED (adverse-event
    stage) are skipped."""
    names = [n for n in fitted if n in FITTED]
    lo, hi = _bounds(names)
    out = []
    for name, a, b in zip(names, lo, hi):
        f = (_fwd(name, fitted[name]) - a) / (b - a)
        if f <= margin or f >= 1.0 - margin:
            out.append((name, fitted[name], "lower" if f <= margin else "upper"))
    return out


def fold_drift(fold: dict, full: dict, top: int = 4) -> list[tuple[str, float]]:
    """The ``top`` largest moves of a fold's fit from the full fit, in prior SDs on the fit's scale (the prior
    weights of the calibration objective: 1 / calibration.PRIOR_SD, else PRIOR_WEIGHT), largest first:
    (name, signed move)."""
    names = [n for n in fold if n in FITTED and n in full]
    moves = [(n, (_fwd(n, fold[n]) - _fwd(n, full[n])) * w) for n, w in zip(names, _prior_weights(names))]
    return sorted(moves, key=lambda m: -abs(m[1]))[:top]


#: kinds of the mean-change rows and of the SD rows (a qualify file's "kind")
CHANGE_KINDS = ("mean_change",)
SD_KINDS = ("sd_change", "sd_mean")
#: an arm whose name has one of these is a control arm (no ketamine or esketamine)
CONTROL_WORDS = ("placebo", "saline", "midazolam", "pbo")


def signed_errors(rows) -> dict[str, tuple[int, float]]:
    """Mean signed error (predicted - observed) and row count of the response/remission rates (pp), the mean
    changes (points: positive = too little improvement) and the SDs (points: negative = too narrow)."""
    groups = {"rates": [r for r in rows if r["kind"] in ("response", "remission")],
              "mean changes": [r for r in rows if r["kind"] in CHANGE_KINDS],
              "SDs": [r for r in rows if r["kind"] in SD_KINDS]}
    return {k: (len(v), sum(r["predicted"] - r["observed"] for r in v) / len(v) if v else float("nan"))
            for k, v in groups.items()}


def is_control(arm: str) -> bool:
    """A control arm: placebo, saline or midazolam, and not a difference row ('X minus placebo')."""
    a = arm.lower()
    return " minus " not in a and any(w in a for w in CONTROL_WORDS) and not a.startswith(("esk", "ketamine"))


def arm_dispersion(rows) -> dict[str, tuple[int, float, float]]:
    """SD rows of control arms and of drug arms: (rows, mean observed SD, mean predicted SD), points."""
    out = {}
    for name, pick in (("control arms", True), ("drug arms", False)):
        rs = [r for r in rows if r["kind"] in SD_KINDS and is_control(r["arm"]) == pick]
        out[name] = (len(rs), sum(r["observed"] for r in rs) / len(rs) if rs else float("nan"),
                     sum(r["predicted"] for r in rs) / len(rs) if rs else float("nan"))
    return out


def rate_errors_by_role(rows) -> dict[str, tuple[int, float, float]]:
    """Response and remission rows of control arms and of drug arms: (rows, mean signed error, mean absolute
    error), pp. Says whether an out-of-sample rate shortfall is the non-specific response (control arms) or the
    drug's."""
    out = {}
    for name, pick in (("control arms", True), ("drug arms", False)):
        e = [r["predicted"] - r["observed"] for r in rows
             if r["kind"] in ("response", "remission") and is_control(r.get("arm", "")) == pick]
        out[name] = (len(e), sum(e) / len(e) if e else float("nan"),
                     sum(abs(x) for x in e) / len(e) if e else float("nan"))
    return out


def fmt(x, spec):
    return format(x, spec) if x is not None else "-".rjust(len(format(0.0, spec)))


#: the overall out-of-sample figures compared with an exact model's: (summary key, label, factor, format)
EXACT_FIGURES = (("mae_points", "means and changes (points)", 1.0, ".2f"),
                 ("mae_percentage_points", "rates (pp)", 1.0, ".1f"),
                 ("mae_sd_points", "SD rows (points)", 1.0, ".2f"),
                 ("inside_interval", "inside the 95 % intervals (%)", 100.0, ".0f"))


def _spread(values: list[float]) -> dict:
    """Mean, SD (n - 1; 0 for one value), minimum and maximum of finite values (NaN when there are none)."""
    xs = [v for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return {"mean": float("nan"), "sd": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": min(xs), "max": max(xs), "n": len(xs)}


def _place(value: float | None, spread: dict, higher_is_worse: bool = True) -> str:
    """Where ``value`` lies against an exact model's replicates: 'above' / 'below' their range or 'inside'
    (worse/better read with ``higher_is_worse``); '-' without a value or replicates."""
    if value is None or not math.isfinite(value) or spread["n"] == 0:
        return "-"
    if value > spread["max"]:
        return "above (worse)" if higher_is_worse else "above (better)"
    if value < spread["min"]:
        return "below (better)" if higher_is_worse else "below (worse)"
    return "inside"


def exact_comparison(real: dict, exact: list[dict]) -> dict:
    """The real run's out-of-sample figures against an exact model's replicates (cv_synthetic.py output).

    Returns {"overall": {key: (real value, spread over the replicates, place)}, "trials": {trial: {"points" |
    "pp": (real, spread, place)}}}; errors are worse when higher, coverage (inside_interval) when lower. A trial
    absent from a replicate is left out of that replicate's spread."""
    overall = {}
    for key, _, factor, _ in EXACT_FIGURES:
        v = real["summary_out_of_sample"][key] * factor
        sp = _spread([d["summary_out_of_sample"][key] * factor for d in exact])
        overall[key] = (v, sp, _place(v, sp, higher_is_worse=key != "inside_interval"))
    real_tab = per_trial(real["out_of_sample"])
    exact_tabs = [per_trial(d["out_of_sample"]) for d in exact]
    trials = {}
    for t, (pts, pp, _, _) in sorted(real_tab.items()):
        cells = {}
        for i, (name, v) in enumerate((("points", pts), ("pp", pp))):
            sp = _spread([tab[t][i] for tab in exact_tabs if t in tab])
            cells[name] = (v, sp, _place(v, sp))
        trials[t] = cells
    return {"overall": overall, "trials": trials}


def print_exact(real_path: str, real: dict, exact_paths: list[str], exact: list[dict]) -> None:
    """Print :func:`exact_comparison` as two tables."""
    cmp = exact_comparison(real, exact)
    print(f"\n{real_path} against an exact model ({len(exact)} replicate(s) of cv_synthetic.py: "
          + ", ".join(exact_paths) + "), out of sample:")
    print(f"  {'figure':32s} {'real':>7s} {'exact mean':>11s} {'SD':>6s} {'range':>15s}  real vs the range")
    for key, label, _, f in EXACT_FIGURES:
        v, sp, place = cmp["overall"][key]
        print(f"  {label:32s} {v:7{f}} {sp['mean']:11{f}} {sp['sd']:6{f}} "
              f"{format(sp['min'], f) + '-' + format(sp['max'], f):>15s}  {place}")
    print(f"  {'trial':32s} {'points: real':>13s} {'exact range':>13s} {'':14s} {'pp: real':>9s} {'exact range':>13s}")
    for t, cells in cmp["trials"].items():
        line = f"  {t:32s}"
        for name in ("points", "pp"):
            v, sp, place = cells[name]
            rng = f"{sp['min']:.1f}-{sp['max']:.1f}" if sp["n"] else "-"
            line += f" {fmt(v, '13.2f' if name == 'points' else '9.1f')} {rng:>13s} {place:14s}"
        print(line)


def _load(path: str) -> dict:
    """A cross-validation JSON file (plain, or gzip-compressed when its name ends in .gz: the reference runs kept in
    benchmarks/results/); a missing or unreadable one is a one-line exit naming it."""
    try:
        with (gzip.open(path, "rt") if str(path).endswith(".gz") else open(path)) as f:
            d = json.load(f)
    except (OSError, ValueError, EOFError) as e:
        raise SystemExit(f"{path}: cannot read a cross-validation file ({e.__class__.__name__})") from None
    if not isinstance(d, dict) or "summary_out_of_sample" not in d or "out_of_sample" not in d:
        raise SystemExit(f"{path}: not a cross-validation file (no out-of-sample summary and rows)")
    # strict JSON files (qualify --cv-json since the forty-fourth session) write a summary figure without rows of its
    # kind as null where older ones wrote NaN: read it back as NaN (the figures are multiplied and formatted below)
    for s in [d.get("summary_in_sample"), d["summary_out_of_sample"]] + [f.get("summary") for f in d.get("folds", [])
                                                                         if isinstance(f, dict)]:
        if isinstance(s, dict):
            s.update({k: float("nan") for k, v in s.items() if v is None})
    return d


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", help="qualify --cross-validate --cv-json files (the first is the real run)")
    ap.add_argument("--exact", nargs="+", default=[], metavar="SYNTHETIC",
                    help="benchmarks/cv_synthetic.py outputs: an exact model's replicates to place the first run against")
    a = ap.parse_args(argv)
    paths = a.paths
    runs = [_load(p) for p in paths]
    for p, d in zip(paths, runs):
        s_in, s_out = d["summary_in_sample"], d["summary_out_of_sample"]
        # a merged run without its in-sample fit (cv_merge.py --partial, e.g. a seed replicate) has no in-sample line
        in_line = ("in sample: not run" if s_in is None else
                   f"in sample {s_in['mae_points']:.2f} pts / {s_in['mae_percentage_points']:.1f} pp / "
                   f"{100 * s_in['inside_interval']:.0f} % inside")
        print(f"{p}: {in_line}; out of sample {s_out['mae_points']:.2f} pts / "
              f"{s_out['mae_percentage_points']:.1f} pp / SD {s_out['mae_sd_points']:.2f} / "
              f"{100 * s_out['inside_interval']:.0f} % inside"
              # coverage is only comparable at comparable widths (new structure or parameters can widen every interval)
              + (f" (mean 95 % interval width {s_out['mean_width_points']:.1f} pts / "
                 f"{s_out['mean_width_percentage_points']:.1f} pp)" if "mean_width_points" in s_out else ""))
    tables = [per_trial(d["out_of_sample"]) for d in runs]
    trials = sorted(set().union(*tables))
    print(f"\n{'trial (out of sample: pts / pp / inside)':40s}" + "".join(f"{'run ' + str(i):>24s}" for i in range(len(runs))))
    for t in trials:
        cells = []
        for tab in tables:
            pts, pp, ins, _ = tab.get(t, (None, None, None, 0))
            cells.append(f"{fmt(pts, '5.2f')} / {fmt(pp, '5.1f')} / {fmt(None if ins is None else 100 * ins, '3.0f')}%")
        print(f"{t:40s}" + "".join(f"{c:>24s}" for c in cells))
    for p, d in zip(paths, runs):
        print(f"\nfold parameters of {p}:" + ("" if d.get("folds") else " not stored (a partial diagnostic run)"))
        for f in d.get("folds", []):
            fit = f.get("fitted")
            if fit is None:     # folds run by an earlier benchmarks/cv_refit_folds.py kept no fitted values
                print(f"  {f['left_out']:16s} J {f['objective']:6.1f}  (fitted values not stored)")
                continue
            print(f"  {f['left_out']:16s} J {f['objective']:6.1f}  " + "  ".join(
                f"{k} {fit[k]:.3g}" for k in FOLD_KEYS if k in fit))
    print()
    for p, d in zip(paths, runs):
        floor, k = sampling_floor(d["out_of_sample"])
        print(f"{p}: rate MAE from binomial sampling alone at the predicted rates {floor:.1f} pp over {k} rows "
              f"(observed out of sample {d['summary_out_of_sample']['mae_percentage_points']:.1f} pp)")
        hetero = qualification_summary(d["out_of_sample"])        # recomputed: older files lack it
        if math.isfinite(hetero["heterogeneity_floor_percentage_points"]):     # needs the rows' sampling SDs
            print(f"{' ' * len(p)}  with the published between-trial heterogeneity of placebo response as well "
                  f"{hetero['heterogeneity_floor_percentage_points']:.1f} pp, "
                  f"{hetero['heterogeneity_floor_points']:.2f} points (observed {hetero['mae_points']:.2f} points)")
    for p, d in zip(paths, runs):
        h = target_headroom(d["out_of_sample"], d["in_sample"])
        print(f"{p}: efficacy rate rows ({h['rows']}) out of sample {h['out_of_sample']:.1f} pp (in sample "
              f"{h['in_sample']:.1f}; sampling floor {h['sampling_floor']:.1f}, with the placebo-response heterogeneity "
              f"{h['heterogeneity_floor']:.1f}); with the other {h['other_rows']} rate rows at their "
              f"{h['other_out_of_sample']:.1f} pp, the 8-pp target needs the efficacy rows at <= {h['needed']:.1f} pp")
    for p, d in zip(paths, runs):
        tab = rate_excess(d["out_of_sample"])
        print(f"\nwhere the out-of-sample rate error of {p} lives (bias: mean signed error, negative = predicted "
              f"too low; excess: pp of the overall MAE above the sampling floor)")
        for t, (k, bias, excess) in sorted(tab.items(), key=lambda kv: -kv[1][2]):
            print(f"  {t:32s} {k:3d} rows  bias {bias:+6.1f} pp  excess {excess:+5.2f} pp")
    for p, d in zip(paths, runs):
        if d.get("in_sample_fit") is None:   # a partial diagnostic run keeps its rows only (or a replicate its folds)
            continue
        full = d["in_sample_fit"]["fitted"]
        hits = bound_hits(full)
        print(f"\nin-sample fit of {p}: parameters within 3 % of a bound: " + (", ".join(
            f"{n} {v:.3g} ({side})" for n, v, side in hits) if hits else "none"))
        print("largest moves of each fold's fit from the in-sample fit (prior SDs on the fit's log/logit scale):")
        for f in d["folds"]:
            if "fitted" in f:
                print(f"  {f['left_out']:16s} " + "  ".join(f"{n} {m:+.2f}" for n, m in fold_drift(f["fitted"], full)))

    for p, d in zip(paths, runs):
        print(f"\ndirection of the errors of {p} (mean of predicted - observed; rates in pp, changes and SDs in "
              "points: positive change = too little improvement, negative SD = too narrow)")
        for part in ("in_sample", "out_of_sample"):
            if not d[part]:
                print(f"  {part.replace('_', ' '):14s} not run")
                continue
            e = signed_errors(d[part])
            print(f"  {part.replace('_', ' '):14s} " + "  ".join(f"{k} {v:+.2f} ({n} rows)" for k, (n, v) in e.items()))
        print("  response and remission rates by arm, bias / MAE in pp (in sample / out of sample):")
        # a run without its in-sample fit (a seed replicate) shows '-' for the in-sample figures
        has_in = bool(d["in_sample"])
        role_in = rate_errors_by_role(d["in_sample"]) if has_in else {}
        for k, (n, b_out, m_out) in rate_errors_by_role(d["out_of_sample"]).items():
            left = f"{role_in[k][1]:+5.1f} / {role_in[k][2]:4.1f}" if has_in else "- / -"
            print(f"    {k:13s} {n:2d} rows  {left}  |  {b_out:+5.1f} / {m_out:4.1f}")
        print("  SD of change or of the score, mean over rows (observed / in sample / out of sample):")
        disp_in = arm_dispersion(d["in_sample"]) if has_in else {}
        for k, (n, obs, pred_out) in arm_dispersion(d["out_of_sample"]).items():
            mid = f"{disp_in[k][2]:5.2f}" if has_in else "    -"
            print(f"    {k:13s} {n:2d} rows  {obs:5.2f} / {mid} / {pred_out:5.2f}")
    if a.exact:
        print_exact(paths[0], runs[0], a.exact, [_load(p) for p in a.exact])


if __name__ == "__main__":
    main()
