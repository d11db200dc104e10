"""Posterior parameter draws (`--uncertainty`, cross-validation intervals): the stored Laplace Gaussian truncated to
the fitted parameters' bounds (thirtieth session; until then its draws were clipped to the bounds, which at the
shipped set put ~8 parameters on a bound in every draw). Checked against closed forms and against rejection
sampling, which is exact."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy.stats import truncnorm

from ketasim import calibration as cal
from ketasim.parameters import load_parameters

from _support import one_error_line, run_cli


def test_wide_bounds_give_the_gaussian_itself():
    """Bounds 12 SDs away never bind: the draws' mean and covariance are the Gaussian's (sampling error of 4000
    draws with lag-1 autocorrelation <= 0.2: ~0.03 on a unit SD)."""
    cov = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, -0.5], [0.0, -0.5, 2.0]])
    mean = np.array([0.5, -1.0, 2.0])
    sd = np.sqrt(np.diag(cov))
    x = cal.truncated_gaussian_draws(mean, cov, mean - 12 * sd, mean + 12 * sd, 4000, np.random.default_rng(3))
    assert np.allclose(x.mean(axis=0), mean, atol=0.08)
    assert np.allclose(np.cov(x.T), cov, atol=0.12)


def test_one_dimension_matches_the_truncated_normal_closed_form():
    """Mean and SD of N(0, 1) truncated to [-0.5, 3]: scipy's closed form."""
    x = cal.truncated_gaussian_draws([0.0], [[1.0]], np.array([-0.5]), np.array([3.0]), 4000, np.random.default_rng(4))
    exact = truncnorm(-0.5, 3.0)
    assert np.all((x >= -0.5) & (x <= 3.0))
    assert abs(x.mean() - exact.mean()) < 0.05 and abs(x.std() - exact.std()) < 0.05


def test_correlated_pair_at_a_bound_matches_rejection_sampling():
    """A mode near an upper bound with strong correlation (the shipped posterior's case: weight_mtorc1, symptom
    t1/2): the Gibbs draws' mean and SD of both coordinates agree with exact rejection draws, and clipping (the
    previous method) does not: it piles the cut mass on the bound and moves the other coordinate's mean."""
    mean, cov = np.array([0.0, 0.0]), np.array([[1.0, 0.95], [0.95, 1.0]])
    lo, hi = np.array([-10.0, -10.0]), np.array([0.2, 10.0])
    rng = np.random.default_rng(5)
    raw = rng.multivariate_normal(mean, cov, size=60000)
    exact = raw[np.all((raw > lo) & (raw < hi), axis=1)]
    gibbs = cal.truncated_gaussian_draws(mean, cov, lo, hi, 5000, np.random.default_rng(6))
    assert np.all((gibbs >= lo) & (gibbs <= hi))
    assert np.allclose(gibbs.mean(axis=0), exact.mean(axis=0), atol=0.06)
    assert np.allclose(gibbs.std(axis=0), exact.std(axis=0), atol=0.06)
    clipped = np.clip(raw, lo, hi)
    assert np.mean(clipped[:, 0] == hi[0]) > 0.3                  # the clipped draws' pile on the bound
    assert abs(clipped[:, 1].mean() - exact[:, 1].mean()) > 0.2   # ... and the correlated coordinate's shift


def test_shipped_posterior_draws_stay_inside_every_bound_without_piling_on_them():
    p = load_parameters()
    names = p.posterior["names"]
    draws = cal.sample_parameter_sets(p, 20, 7, directions=False)
    theta = np.array([[cal._fwd(n, d.free[n].value) for n in names] for d in draws])
    lo, hi = cal._bounds(names)
    assert np.all((theta >= lo - 1e-6) & (theta <= hi + 1e-6))
    on_bound = np.isclose(theta, lo, atol=1e-6) | np.isclose(theta, hi, atol=1e-6)
    assert on_bound.sum() == 0                                     # clipping gave ~8 per draw
    assert len({d.calibration_run for d in draws}) == 20 and np.all(theta.std(axis=0) > 0)
    again = cal.sample_parameter_sets(p, 20, 7, directions=False)  # a seed gives the same draws
    assert all(a.free[n].value == b.free[n].value for a, b in zip(draws, again) for n in names)


def test_far_tail_intervals_keep_their_precision():
    """The inverse-CDF step on each side, and truncnorm beyond where the tail underflows."""
    rng = np.random.default_rng(8)
    for a, b in ((8.0, 9.0), (-9.0, -8.0), (40.0, 41.0), (-0.1, 0.1), (2.0, np.inf)):
        x = np.array([cal._standard_normal_between(a, b, u, rng) for u in rng.random(2000)])
        assert np.all((x >= a) & (x <= b))
        assert abs(x.mean() - truncnorm(a, b).mean()) < 0.02 * max(1.0, truncnorm(a, b).std() * 10)


@pytest.mark.parametrize("source", ["stored with the set", "drawn now"])
def test_shipped_posterior_draws_obey_the_literature_directions(source):
    """15 % of the truncated Laplace draws broke a direction grossly (midazolam 7-13 MADRS points above saline at
    7-28 days; a series relieving for less time than one infusion): the acceptance step removes them. A draw may
    cross a margin a little (the objective's hinges are soft: acceptance exp(-(D - D_mode) / (2 x dispersion))),
    not by much: at most 0.5 MADRS point, 0.5 day, 0.05 in the plateau ratio. Both the draws the shipped set stores
    (`ketasim posterior-draws`) and draws made at run time."""
    p = load_parameters()
    assert cal.stored_posterior_draws(p) is not None               # the shipped set stores its draws
    if source == "drawn now":
        p = dataclasses.replace(p, posterior={k: v for k, v in p.posterior.items() if k != "draws"})
        assert cal.stored_posterior_draws(p) is None
    switches = cal.direction_switches()
    draws = cal.sample_parameter_sets(p, 12, 9)
    for d in draws:
        q = cal.direction_quantities(d, switches=switches)
        assert q["midazolam_sustained_points"] <= cal.MIDAZOLAM_SUSTAINED_MAX + 0.5
        assert q["series_persistence_days"] >= cal.SERIES_PERSISTENCE_MIN_D - 0.5
        assert q.get("dose_plateau_ratio", 1.0) <= cal.PLATEAU_RATIO_MAX + 0.05
    names = p.posterior["names"]
    theta = np.array([[cal._fwd(n, d.free[n].value) for n in names] for d in draws])
    assert np.all(theta.std(axis=0) > 0)                           # still a spread, not the mode repeated


def test_stored_draws_are_picked_without_direction_checks_and_only_for_their_own_set(tmp_path, monkeypatch, capsys):
    """`ketasim posterior-draws FILE` stores accepted draws in the set's posterior; sampling then picks from them (no
    direction check: the 0.3-0.6 s per draw that made `--uncertainty` 3.4x slower) and the picks are distinct stored
    rows that vary with the seed. A set whose values differ from those the draws were made for (here one literature
    value) or whose literature directions changed (here a margin) does not use them, and asking for more draws than
    stored makes the rest at run time."""
    path = tmp_path / "free.json"
    path.write_text(cal.default_free_parameters_path().read_text(), encoding="utf-8")
    code, out, err = run_cli(capsys, "posterior-draws", path, "--count", 3, "--seed", 4)
    assert code == 0 and "stored 3 posterior draws" in out, err
    p = load_parameters(str(path))
    stored = cal.stored_posterior_draws(p)
    assert stored.shape == (3, len(p.posterior["names"]))
    names = p.posterior["names"]
    calls = []
    real = cal.direction_quantities
    monkeypatch.setattr(cal, "direction_quantities", lambda *a, **k: calls.append(1) or real(*a, **k))
    picks = [np.array([[cal._fwd(n, d.free[n].value) for n in names] for d in cal.sample_parameter_sets(p, 2, s)])
             for s in range(6)]
    assert calls == []
    def stored_row(r):
        """Index of the stored draw equal to ``r`` (to the transform's round trip, 1e-9), or None. (Rounding both
        to 6 decimals and comparing tuples failed when a value sat at a rounding boundary.)"""
        gap = np.abs(stored - r).max(axis=1)
        return int(np.argmin(gap)) if gap.min() < 1e-9 else None

    chosen = [[stored_row(r) for r in pk] for pk in picks]
    for c in chosen:
        assert None not in c and len(set(c)) == 2
    assert len({tuple(c) for c in chosen}) > 1                                     # the seed chooses which
    more = cal.sample_parameter_sets(p, 4, 1)                                       # 3 stored + 1 drawn now
    assert len(more) == 4 and len(calls) >= 2                                       # the mode's check + a proposal
    lit = next(iter(p.literature))
    assert cal.stored_posterior_draws(p.with_literature({lit: p.literature[lit].value * 1.01})) is None
    monkeypatch.setattr(cal, "MIDAZOLAM_SUSTAINED_MAX", cal.MIDAZOLAM_SUSTAINED_MAX + 0.1)   # another direction
    assert cal.stored_posterior_draws(p) is None


def test_posterior_draws_command_refuses_a_set_without_posterior(tmp_path, capsys):
    data = json.loads(cal.default_free_parameters_path().read_text())
    data.pop("posterior")
    path = tmp_path / "free.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "posterior-draws", path, "--count", 2)
    assert code == 2 and "has no posterior" in one_error_line(err)
    assert path.read_bytes() == before


@pytest.mark.parametrize("constant", ["DIRECTION_WEIGHT", "DISSOCIATION_2H_SCALE", "POSITIVE_UNBLINDING_SCALE",
                                      "PLATEAU_RATIO_SCALE", "NOT_SHOWN_RESIDUAL", "DIRECTION_PROPOSALS_PER_DRAW"])
def test_the_acceptance_terms_are_part_of_the_draws_signature(constant, monkeypatch):
    """A draw is kept with probability exp(-excess violation / scale), its violation summed from the directions'
    residuals: their weight, scales and not-shown value (and the proposal budget) decide which draws are stored, so
    changing one invalidates the shipped draws (review s45 R5: the forty-fourth session's draws predated
    NOT_SHOWN_RESIDUAL and still counted as valid)."""
    p = load_parameters()
    assert cal.stored_posterior_draws(p) is not None
    monkeypatch.setattr(cal, constant, getattr(cal, constant) * 2)
    assert cal.stored_posterior_draws(p) is None
