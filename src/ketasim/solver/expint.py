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


# 1/k! for k = 16 .. 3: the Taylor coefficients of phi3 (Horner, highest first)
_C3 = (4.779477332387385e-14, 7.647163731819816e-13, 1.1470745597729725e-11, 1.6059043836821613e-10,
       2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07, 2.7557319223985893e-06,
       2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889, 0.008333333333333333,
       0.041666666666666664, 0.16666666666666666)


@njit(cache=True, error_model="numpy")
def _phis_series(z):
    """(exp, phi1, phi2, phi3) for |z| < 0.25: phi3 by its Taylor series (14 terms reach machine precision),
    then phi_k = 1/k! + z phi_(k+1) and exp = 1 + z phi1 (no cancellation for small z)."""
    p3 = 0.0
    for c in _C3:
        p3 = p3 * z + c
    p2 = 0.5 + z * p3
    p1 = 1.0 + z * p2
    return 1.0 + z * p1, p1, p2, p3


@njit(cache=True, error_model="numpy")
def _phis_closed(z, e, em1):
    """(exp, phi1, phi2, phi3) for |z| >= 0.25 from exp(z) and expm1(z)."""
    p1 = em1 / z
    p2 = (p1 - 1.0) / z
    p3 = (p2 - 0.5) / z
    return e, p1, p2, p3


@njit(cache=True, error_model="numpy", inline="always")
def _phis_closed_r(rz, e, em1):
    """``_phis_closed`` given rz = 1/z: three multiplications instead of three divisions (within 1 ulp each)."""
    p1 = em1 * rz
    p2 = (p1 - 1.0) * rz
    p3 = (p2 - 0.5) * rz
    return e, p1, p2, p3


@njit(cache=True, error_model="numpy")
def phis(z):
    """(exp(z), phi1(z), phi2(z), phi3(z)), accurate for all z <= 0 (series near 0)."""
    if abs(z) < 0.25:
        return _phis_series(z)
    return _phis_closed(z, math.exp(z), math.expm1(z))


@njit(cache=True, error_model="numpy", inline="always")
def _phis_full(z, zh, eh, ph1):
    """(exp, phi1, phi2, phi3) at z = 2 zh from the half step's series values e^zh and phi1(zh), |zh| < 0.25: no
    libm call (e^z = (e^zh)^2, expm1(z) = zh phi1(zh) (e^zh + 1), both free of cancellation); within 1e-14 of ``phis``."""
    if abs(z) >= 0.25:
        return _phis_closed(z, eh * eh, zh * ph1 * (eh + 1.0))
    return _phis_series(z)


@njit(cache=True, error_model="numpy", inline="always")
def _weights(lam, h):
    """(e^z, e^(z/2), a0, am, a1, b0, bm, b1) for rate ``lam`` (1/h) and step ``h`` (h): see ``step_weights``."""
    z = lam * h
    zh = 0.5 * z
    if abs(zh) >= 0.25:
        eh = math.exp(zh)
        emh = eh - 1.0      # = expm1(zh) within 5e-16 relative for |zh| >= 0.25 (expm1 cost as much as exp)
        rz = 1.0 / z        # one division for both phi sets (1/zh = 2/z exactly)
        e2, b1, b2, b3 = _phis_closed_r(2.0 * rz, eh, emh)
        e1, a1, a2, a3 = _phis_closed_r(rz, eh * eh, emh * (eh + 1.0))
    else:
        e2, b1, b2, b3 = _phis_series(zh)
        e1, a1, a2, a3 = _phis_full(z, zh, e2, b1)
    hh = 0.5 * h
    return (e1, e2, h * (a1 - 3.0 * a2 + 4.0 * a3), h * (4.0 * a2 - 8.0 * a3), h * (-a2 + 4.0 * a3),
            hh * (b1 - 1.5 * b2 + b3), hh * (2.0 * b2 - 2.0 * b3), hh * (-0.5 * b2 + b3))


@njit(cache=True, error_model="numpy")
def step_weights(lam, h, out):
    """Fill out[0:8] = [e^z, e^(z/2), a0, am, a1, b0, bm, b1] for rate ``lam`` (1/h) and step ``h`` (h).

    The full step's exponentials come from the half step's (e^z = (e^(z/2))^2, expm1(z) = expm1(z/2) (e^(z/2) + 1)),
    and for |z/2| >= 0.25 expm1(z/2) is e^(z/2) - 1 (no cancellation there): one exp per call (this runs for every
    PK mode, patient and distinct step size)."""
    w = _weights(lam, h)
    for k in range(8):
        out[k] = w[k]


@njit(cache=True, error_model="numpy")
def step_weights_at(lam, h, out, r, u):
    """``step_weights`` into ``out[r, u, 0:8]`` (indices, not a view: a view per call costs an atomic incref/decref
    pair in compiled code, and the kernel calls this for every PK mode, patient and distinct step size)."""
    w = _weights(lam, h)
    for k in range(8):
        out[r, u, k] = w[k]


@njit(cache=True, error_model="numpy", inline="always")
def _weights_const(lam, h):
    """(e^z, e^(z/2), h phi1(z), h/2 phi1(z/2)): see ``step_weights_const``."""
    z = lam * h
    zh = 0.5 * z
    if abs(zh) >= 0.25:
        eh = math.exp(zh)
        emh = eh - 1.0
        rz = 1.0 / z
        return eh * eh, eh, h * (emh * (eh + 1.0) * rz), h * (emh * rz)
    e2, b1, b2, b3 = _phis_series(zh)
    e1, a1, a2, a3 = _phis_full(z, zh, e2, b1)
    return e1, e2, h * a1, 0.5 * h * b1


@njit(cache=True, error_model="numpy")
def step_weights_const(lam, h, out):
    """Fill out[0:4] = [e^z, e^(z/2), h phi1(z), h/2 phi1(z/2)]: the weights for a forcing constant over the step
    (x(h) = e^z x0 + h phi1(z) f; x(h/2) likewise), which is all a PK mode fed by infusion rates only needs."""
    w = _weights_const(lam, h)
    for k in range(4):
        out[k] = w[k]


@njit(cache=True, error_model="numpy")
def step_weights_const_at(lam, h, out, r, u):
    """``step_weights_const`` into ``out[r, u, 0:4]``."""
    w = _weights_const(lam, h)
    for k in range(4):
        out[r, u, k] = w[k]


def weights_table(lams: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(len(lams), len(steps), 8) weights for shared rates."""
    out = np.empty((lams.shape[0], steps.shape[0], 8))
    for i, lam in enumerate(lams):
        for j, h in enumerate(steps):
            step_weights(float(lam), float(h), out[i, j])
    return out
