"""The two exponentials behind the anesthetic-range warning of IV infusions (thirty-ninth session).

`regimen.infusion_peak_factor` approximates the typical patient's venous plasma ketamine peak after a constant-rate
infusion of duration T by the closed form of a two-exponential disposition,

    g(T) = sum_i w_i (tau_i / T) (1 - exp(-T / tau_i)),   g(0) = 1 (a bolus),

the level at the end of the infusion per unit dose, relative to a bolus. Only ratios g(T) / g(T_ref) enter the
warning, so no volume is needed. This script fits (w_fast, tau_fast, tau_slow; w_slow = 1 - w_fast) by least squares
on the log of the model's typical venous peaks of 1 mg/kg racemic ketamine infused over 5 min to 24 h (70-kg man,
relative to the 45-min infusion) and prints the worst misfit. The constants are copied by hand into regimen.py;
tests/test_infusion_anesthetic_warning.py re-checks them against the model (3 %).

    NUMBA_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/fit_infusion_peak.py      (~5 s)
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import least_squares

DURATIONS_MIN = (5, 6, 8, 10, 15, 20, 30, 40, 45, 50, 60, 80, 100, 150, 200, 300, 480, 720, 1440)


def model_peaks(durations_min=DURATIONS_MIN, drug="racemic-ketamine", dose="1 mg/kg") -> np.ndarray:
    """The typical 70-kg patient's venous plasma ketamine peak (ng/mL) after ``dose`` infused over each duration."""
    from ketasim import quick_scenario
    from ketasim.engine import simulate
    from ketasim.errors import DoseWarning

    out = []
    for d in durations_min:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DoseWarning)
            sc = quick_scenario(drug, "iv-infusion", dose, duration=f"{d:g} min", weight_kg=70,
                                output_every="1 min", until=f"{d / 60 + 1:g} h")
        out.append(float(simulate(sc, typical=True).trajectories()["cp_ketamine_ng_ml"].max()))
    return np.array(out)


def g(p, t_min):
    w, t1, t2 = p
    t = np.asarray(t_min, float)
    return (w * t1 * (1 - np.exp(-t / t1)) + (1 - w) * t2 * (1 - np.exp(-t / t2))) / t


def main() -> None:
    t = np.array(DURATIONS_MIN, float)
    peaks = model_peaks()
    ref = peaks[DURATIONS_MIN.index(45)]
    fit = least_squares(lambda p: np.log(g(p, t) / g(p, 45.0)) - np.log(peaks / ref), [0.8, 15, 300],
                        bounds=([0, 0.1, 1], [1, 1e4, 1e5]))
    w, t1, t2 = fit.x
    print(f"w_fast {w:.3f}, tau_fast {t1:.1f} min, tau_slow {t2:.0f} min; "
          f"worst misfit {np.max(np.abs(np.expm1(fit.fun))):.1%}")
    for d, p, r in zip(DURATIONS_MIN, peaks, np.expm1(fit.fun)):
        print(f"  {d:5g} min  peak {p:6.1f} ng/mL per mg/kg  fit {r:+.1%}")


if __name__ == "__main__":
    main()
