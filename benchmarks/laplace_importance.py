"""How good is the shipped set's Laplace posterior? An importance-sampling check (issue 7, parameter uncertainty).

``ketasim calibrate`` stores a Laplace approximation of the posterior of the fitted parameters (a Gaussian on their
log/logit scale at the optimum, covariance scaled by the dispersion; ``calibration.laplace_posterior``), and
``--uncertainty`` draws from it, truncated to the bounds. This script draws K parameter vectors from that truncated
Gaussian with each draw accepted by the literature directions (``--proposal directions``, the default: what
``calibration.sample_parameter_sets`` draws), the truncated Gaussian alone, or the Gaussian itself, evaluates the
calibration's own objective at each (the rows' residuals in the fit's weights, the literature directions and the
prior, exactly as ``calibrate`` minimises it), and weights each draw by target / proposal, where the target is
exp(-objective / (2 x dispersion)) inside the bounds of ``calibration.FITTED`` (0 outside: the fit cannot go there)
and the proposal is the (truncated) Laplace Gaussian: the truncation's constant cancels in self-normalised weights.
Pareto-smoothed importance sampling (PSIS, Vehtari et al. 2024, via
arviz-stats) then says whether the Gaussian is close enough to the target for its draws to be trusted:
k-hat <= 0.5 good, <= 0.7 usable, > 0.7 the Gaussian misses part of the posterior. Printed: k-hat, the effective
sample size, the share of draws outside the bounds, and per parameter the Laplace mean/SD against the weighted
mean/SD (on the transform scale). Cost: one calibration evaluation per draw (~2-4 s each at the calibration's
size on this machine).

    .venv/bin/python benchmarks/laplace_importance.py --draws 200 --json out/laplace_is.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ketasim import calibration as cal
from ketasim.parameters import load_parameters


def objective_terms(params, names, targets, size: int, seed: int, row_weights: str, switches: dict):
    """theta -> (objective minimised by ``calibrate``, J in sampling SEs): rows in the fit's weights + directions +
    prior, as in ``calibration.calibrate``."""
    obs = np.array([t.observed for t in targets])
    se = np.array([t.se for t in targets])
    se_fit = np.array([cal.row_fit_se(t, row_weights) for t in targets])
    theta_prior = cal._prior_theta(names)
    w_prior = cal._prior_weights(names)

    def parts(theta):
        p = params.with_free(cal._from_theta(theta, names), params.free_version, "importance check")
        pred = cal.predictions(p, targets, size, seed)
        r = (pred - obs) / se_fit
        d = cal.direction_residuals(cal.direction_quantities(p, switches=switches))
        prior = w_prior * (theta - theta_prior)
        j_sampling = float(np.sum(((pred - obs) / se) ** 2))
        return float(r @ r + d @ d + prior @ prior), j_sampling, float(d @ d)
    return parts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=200, help="draws from the Laplace posterior (one evaluation each)")
    ap.add_argument("--seed", type=int, default=20261205, help="seed of the draws")
    ap.add_argument("--json", default=None, help="write the draws, objectives and weights here")
    ap.add_argument("--proposal", choices=("directions", "truncated", "gaussian"), default="directions",
                    help="what --uncertainty draws since the thirtieth session (the Laplace Gaussian truncated to the "
                         "bounds, each draw accepted by the literature directions), the truncated Gaussian alone, or "
                         "the Gaussian itself (at the shipped set 5e-5 of its draws fall inside every bound)")
    a = ap.parse_args(argv)

    from arviz_stats.base import array_stats

    params = load_parameters()
    post = params.posterior
    prov = json.loads(cal.default_free_parameters_path().read_text(encoding="utf-8")).get("provenance") or {}
    names = post["names"]
    mode = np.array(post["mode_theta"])
    cov = np.array(post["covariance_theta"])
    dispersion = float(post["dispersion"])
    size, seed = int(prov.get("size", 200)), int(prov.get("seed", 20261121))    # the fit's own
    row_weights = prov.get("row_weights", "random-effects")
    targets = cal.build_targets()[0]
    parts = objective_terms(params, names, targets, size, seed, row_weights, cal.direction_switches())
    lo, hi = cal._bounds(names)

    t0 = time.perf_counter()
    c_mode, j_mode, d_mode = parts(mode)
    print(f"shipped set {params.calibration_run!r}: {len(names)} fitted parameters, dispersion {dispersion:.3f}, "
          f"size {size}, seed {seed}, rows {len(targets)}")
    print(f"at the mode: objective {c_mode:.1f} (directions {d_mode:.1f}), J {j_mode:.1f} "
          f"({time.perf_counter() - t0:.1f} s per evaluation)")

    rng = np.random.default_rng(a.seed)
    if a.proposal == "directions":     # what sample_parameter_sets draws (its acceptance step enters the weights)
        sets = cal.sample_parameter_sets(params, a.draws, rng)
        draws = np.array([[cal._fwd(n, ps.free[n].value) for n in names] for ps in sets])
    elif a.proposal == "truncated":    # the truncated Gaussian alone: no draw outside the bounds
        draws = cal.truncated_gaussian_draws(mode, cov, lo, hi, a.draws, rng)
    else:                              # the Gaussian itself: draws outside the bounds get weight 0
        draws = rng.multivariate_normal(mode, cov, size=a.draws, method="cholesky")
    inside = np.all((draws >= lo) & (draws <= hi), axis=1)
    prec = np.linalg.inv(cov)
    dev = draws - mode
    log_q = -0.5 * np.einsum("ij,jk,ik->i", dev, prec, dev)          # proposal, up to a constant
    objective = np.full(a.draws, np.nan)
    j_rows = np.full(a.draws, np.nan)
    violation = np.full(a.draws, np.nan)
    for i in np.flatnonzero(inside):
        objective[i], j_rows[i], violation[i] = parts(draws[i])
        if (i + 1) % 20 == 0:
            print(f"  draw {i + 1}/{a.draws}: {time.perf_counter() - t0:.0f} s", flush=True)
    if a.proposal == "directions":     # the acceptance probability is part of the proposal's density
        log_q = log_q - np.maximum(violation - d_mode, 0.0) / (2.0 * max(dispersion, 1.0))
    log_p = np.where(inside, -(objective - c_mode) / (2.0 * dispersion), -np.inf)
    lw = log_p - log_q
    finite = np.isfinite(lw)
    w = np.zeros(a.draws)
    w[finite] = np.exp(lw[finite] - lw[finite].max())
    w /= w.sum()
    ess = 1.0 / float(np.sum(w ** 2))
    k_hat = float(array_stats.psislw(-lw[finite])[1]) if finite.sum() > 10 else float("nan")
    print(f"\n{a.draws} draws ({a.proposal} Laplace), {int(inside.sum())} inside the bounds ({100 * inside.mean():.0f} %); "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"objective of the draws: median {np.nanmedian(objective):.1f}, 90 % range "
          f"{np.nanquantile(objective, 0.05):.1f}-{np.nanquantile(objective, 0.95):.1f} (mode {c_mode:.1f}; a "
          f"Gaussian that matched the target would raise it by ~dispersion x parameters = "
          f"{dispersion * len(names):.0f} on average)")
    print(f"importance weights: ESS {ess:.1f} of {a.draws}, PSIS k-hat {k_hat:.2f} "
          "(<= 0.5 good, <= 0.7 usable, > 0.7 the Laplace Gaussian misses part of the posterior)")
    print("\nparameter (transform scale)     Laplace mean / SD      weighted mean / SD")
    mean_w = w @ draws
    sd_w = np.sqrt(np.maximum(w @ (draws - mean_w) ** 2, 0.0))
    sd_l = np.sqrt(np.diag(cov))
    for n, m, s, mw, sw in zip(names, mode, sd_l, mean_w, sd_w):
        flag = "  <-" if abs(mw - m) > 0.5 * s or not 0.5 <= sw / s <= 1.5 else ""
        print(f"  {n:28s} {m:8.3f} / {s:6.3f}      {mw:8.3f} / {sw:6.3f}{flag}")
    if a.json:
        from ketasim.io import atomic_write_text

        atomic_write_text(a.json, json.dumps({
            "calibration_run": params.calibration_run, "proposal": a.proposal, "names": names, "dispersion": dispersion,
            "objective_mode": c_mode, "j_mode": j_mode, "draws_theta": draws.tolist(),
            "objective": [None if not np.isfinite(x) else float(x) for x in objective],
            "j_rows": [None if not np.isfinite(x) else float(x) for x in j_rows],
            "direction_violation": [None if not np.isfinite(x) else float(x) for x in violation],
            "inside_bounds": inside.tolist(), "weights": w.tolist(), "ess": ess, "pareto_k": k_hat}, indent=1))
        print(f"\nwrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
