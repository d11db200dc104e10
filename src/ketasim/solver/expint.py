"""Exponential-integrator weights for ``dx/dt = lam * x + f(t)`` over one step h.

The forcing f is interpolated by the quadratic through its values at the start, middle and end of the
step (f0, fm, f1); the linear part is integrated exactly. With z = lam*h and the phi functions
``phi_k(z) = int_0^1 exp((1-s) z) s^(k-1)/(k-1)! ds``::

    x(h)   = e^z x0     + h   [(phi1 - 3 phi2 + 4 phi3) f0 + (4 phi2 - 8 phi3) fm + (-phi2 + 4 phi3) f1]
    x(h/2) = e^(z/2) x0 + h/2 [(phi1 - 1.5 phi2 + phi3) f0 + (2 phi2 - 2 phi3) fm + (-0.5 phi2 + phi3) f1]

(phi at z/2 in the second line). For lam -> 0 this is Simpson's rule. Exact for constant forcing (infusions),
third order for smooth forcing, and unconditionally stable, so stiff links cost nothing.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def phis(z):
    """(exp(z), phi1(z), phi2(z), phi3(z)), accurate for all z <= 0 (series near 0)."""
    if abs(z) < 0.25:
        # phi_k(z) = sum_j z^j / (j+k)!; 14 terms reach machine precision for |z| < 0.25
        p1 = 0.0
        p2 = 0.0
        p3 = 0.0
        zj = 1.0
        f1 = 1.0   # (j+1)!
        f2 = 2.0   # (j+2)!
        f3 = 6.0   # (j+3)!
        for j in range(14):
            p1 += zj / f1
            p2 += zj / f2
            p3 += zj / f3
            zj *= z
            f1 *= j + 2
            f2 *= j + 3
            f3 *= j + 4
        return math.exp(z), p1, p2, p3
    e = math.exp(z)
    p1 = math.expm1(z) / z
    p2 = (p1 - 1.0) / z
    p3 = (p2 - 0.5) / z
    return e, p1, p2, p3


@njit(cache=True)
def step_weights(lam, h, out):
    """Fill out[0:8] = [e^z, e^(z/2), a0, am, a1, b0, bm, b1] for rate ``lam`` (1/h) and step ``h`` (h)."""
    z = lam * h
    e1, a1, a2, a3 = phis(z)
    e2, b1, b2, b3 = phis(0.5 * z)
    out[0] = e1
    out[1] = e2
    out[2] = h * (a1 - 3.0 * a2 + 4.0 * a3)
    out[3] = h * (4.0 * a2 - 8.0 * a3)
    out[4] = h * (-a2 + 4.0 * a3)
    hh = 0.5 * h
    out[5] = hh * (b1 - 1.5 * b2 + b3)
    out[6] = hh * (2.0 * b2 - 2.0 * b3)
    out[7] = hh * (-0.5 * b2 + b3)


def weights_table(lams: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(len(lams), len(steps), 8) weights for shared rates."""
    out = np.empty((lams.shape[0], steps.shape[0], 8))
    for i, lam in enumerate(lams):
        for j, h in enumerate(steps):
            step_weights(float(lam), float(h), out[i, j])
    return out
