"""The kernel's cheap numerics (issue 10, kernel pass 3) against exact or libm values.

* step weights (``solver.expint``): one exp per (mode, step), none for small |z|; checked against the phi-function
  formulas evaluated in 40-digit decimal arithmetic.
* ``f__pow`` / ``f__tanh`` / ``f__exp`` of the generated kernel (what the model's ``**``, ``tanh`` and ``exp`` become
  in the step loop) against Python's ``**`` and ``math``.
"""

from __future__ import annotations

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest

from ketasim.solver import generated_kernel as G
from ketasim.solver.expint import step_weights, step_weights_const


def _phis_exact(z: float):
    getcontext().prec = 40
    d = Decimal(z)
    e = d.exp()
    p1 = (e - 1) / d
    p2 = (e - 1 - d) / d ** 2
    p3 = (e - 1 - d - d * d / 2) / d ** 3
    return e, p1, p2, p3


def _weights_exact(lam: float, h: float):
    z = lam * h
    e1, a1, a2, a3 = _phis_exact(z)
    e2, b1, b2, b3 = _phis_exact(0.5 * z)
    H, hh = Decimal(h), Decimal(h) / 2
    w = [e1, e2, H * (a1 - 3 * a2 + 4 * a3), H * (4 * a2 - 8 * a3), H * (-a2 + 4 * a3),
         hh * (b1 - Decimal("1.5") * b2 + b3), hh * (2 * b2 - 2 * b3), hh * (-b2 / 2 + b3)]
    c = [e1, e2, H * a1, hh * b1]
    return [float(x) for x in w], [float(x) for x in c]


# rates x steps across the series/closed-form switch (|z/2| = 0.25, |z| = 0.25) and far beyond
Z = [-1e-7, -1e-3, -0.1, -0.2499, -0.25, -0.26, -0.4999, -0.5, -0.51, -1.0, -3.0, -30.0, -400.0]


@pytest.mark.parametrize("z", Z)
def test_step_weights_match_the_phi_formulas(z):
    h = 0.37
    lam = z / h
    want, want_c = _weights_exact(lam, h)
    got, got_c = np.empty(8), np.empty(4)
    step_weights(lam, h, got)
    step_weights_const(lam, h, got_c)
    # every weight within 1e-12 of the largest (|e^z| <= 1, the forcing weights <= h)
    scale = max(abs(x) for x in want)
    assert np.max(np.abs(got - np.array(want))) <= 1e-12 * scale, (z, got, want)
    assert np.max(np.abs(got_c - np.array(want_c))) <= 1e-13 * max(abs(x) for x in want_c)


def test_fast_tanh_matches_libm():
    xs = np.concatenate([[0.0, -0.0, 1e-300, 1e-12, 0.0199999, 0.02, 0.0200001, 0.5, 1.0, 19.0, 25.0, 800.0],
                         np.linspace(-3, 3, 2001), np.logspace(-10, 1.5, 500)])
    for x in np.concatenate([xs, -xs]):
        got, want = G.f__tanh(x), math.tanh(x)
        assert abs(got - want) <= 4e-15 * abs(want) + 1e-300, (x, got, want)
    assert math.isnan(G.f__tanh(math.nan))


def test_fast_pow_matches_python_pow():
    rng = np.random.default_rng(1)
    for x, y in zip(np.exp(rng.uniform(-30, 30, 3000)), rng.uniform(-8, 8, 3000)):
        got, want = G.f__pow(x, y), x ** y
        assert abs(got - want) <= 2e-13 * want, (x, y, got, want)
    # outside x > 0 it is Python's ``**`` (0 ** y, negative bases with integer exponents, inf)
    for x, y in [(0.0, 2.5), (0.0, 0.0), (-2.0, 3.0), (-2.0, 2.0), (math.inf, 2.0), (math.inf, -1.0)]:
        assert G.f__pow(x, y) == x ** y
    assert G.f__pow(2.0, 0.0) == 1.0


def test_fast_exp_is_exp():
    for x in [-745.0, -30.0, -1e-300, -0.0, 0.0, 1e-300, 0.5, 700.0]:
        assert G.f__exp(x) == math.exp(x)


def test_peak_inside_a_step_is_the_parabola_vertex():
    # nodes of -(s - 0.3)^2 + 2 at s = 0, 0.5, 1: the vertex (value 2 at s = 0.3) lies between the nodes
    f = [-(s - 0.3) ** 2 + 2.0 for s in (0.0, 0.5, 1.0)]
    assert G._peak3(*f) == pytest.approx(2.0, abs=1e-15)
    assert G._peak3(1.0, 2.0, 3.0) == 2.0          # monotone: the end node (a separate max) holds the peak
    assert G._peak3(1.0, 1.0, 1.0) == 1.0


def test_grid_restart_after_an_infusion_stop():
    from ketasim.solver.grid import GridOptions, build_grid

    opts = GridOptions()
    plain = build_grid([0.0, 2.0 / 3.0], [24.0], 24.0, opts)
    as_stop = build_grid([0.0], [24.0], 24.0, opts, stop_times=[2.0 / 3.0])
    assert np.array_equal(plain.times, as_stop.times)         # stop_skip 0 (default): a stop restarts like a dose
    skip = build_grid([0.0], [24.0], 24.0, GridOptions(stop_skip=3), stop_times=[2.0 / 3.0])
    k = int(np.flatnonzero(np.isclose(skip.times, 2.0 / 3.0))[0])
    assert skip.times[k + 1] - skip.times[k] == pytest.approx(opts.h0 * opts.growth ** 3)
    assert skip.times.size < plain.times.size


def test_grid_decay_tail_bound():
    """After a dose event a step is at most tail_ratio x the time since it (floor tail_min_h; the grid's sliver rule
    may stretch a step by 25 % to land on a target), while the first steps keep the x1.2 ramp from h0; tail_ratio 0
    is the plain geometric grid (x1.2 from h0 up to h_max)."""
    from ketasim.solver.grid import GridOptions, build_grid

    opts = GridOptions()
    g = build_grid([0.0, 100.0], [300.0], 300.0, opts)
    t0, h = g.times[:-1], np.diff(g.times)
    since = np.where(t0 >= 100.0 - 1e-9, t0 - 100.0, t0)
    assert np.all(h <= np.maximum(opts.tail_min_h, opts.tail_ratio * since) * 1.25 + 1e-9)
    assert np.allclose(h[:5], opts.h0 * opts.growth ** np.arange(5))        # the ramp from h0 is untouched
    assert h.max() > 5.0                                                       # ... and the bound grows with s
    plain = np.diff(build_grid([0.0], [300.0], 300.0, GridOptions(tail_ratio=0.0)).times)
    n = int(np.ceil(np.log(opts.h_max / opts.h0) / np.log(opts.growth)))
    assert np.allclose(plain[:n], opts.h0 * opts.growth ** np.arange(n)) and plain[n:-2].min() == opts.h_max
    with pytest.raises(ValueError, match="tail_ratio"):
        GridOptions(tail_ratio=-0.1)
