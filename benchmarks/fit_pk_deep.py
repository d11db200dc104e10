"""The deep compartment of the parent's disposition, fitted so that it leaves Simons 2022's first hours alone
(thirty-seventh session).

The arterial distribution (v1, v2, q2, v3, q3) is Simons 2022's arterial S-ketamine model; a deep compartment fills
the rest of the steady-state volume. Until the thirty-seventh session it took Perez-Ruixo 2021's flow to its second
peripheral compartment (37.6 L/h) and Fanta 2021's Vss (462 L): that pair drew enough drug in the first hours to
lower the arterial curve 15-25 % below Simons' own at 40-120 min after 0.5 mg/kg over 40 min (the window the
antidepressant trials sample), and the venous level below all three venous popPK models (tests/test_pk_early_phase.py).

Fitted here (scipy least_squares on log residuals, typical 70-kg, 40-year-old man): ``pk.ketamine.vss`` and
``pk.ketamine.q_deep`` against
1. Simons' arterial curve, i.e. the model with the deep compartment closed (which reproduces the reference file's
   'Predicted C after 0.5 mg/kg/40 min (70 kg) - Simons S arterial' to 1 %), after 0.5 mg/kg over 40 min and after a
   0.5 mg/kg bolus, every 2 min to 1 h then every 10 min to 4 h; log residual / 0.05, each regimen's block weighted as
   one observation;
2. Fanta 2021's S-ketamine Vss 6.6 +/- 2.2 L/kg (462 L at 70 kg; log-SD 0.33, its CV) and terminal half-life
   5.2 +/- 3.4 h (log-SD 0.65, its CV; IV, long sampling; doi:10.1097/ALN.0000000000003829), from the slope of the
   venous S-ketamine level 48-96 h after an esketamine bolus (the slowest mode).

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/fit_pk_deep.py       (~1 min)

Prints the fitted values (copied by hand into src/ketasim/data/parameters.csv, whose source column names this
script) and the arterial and venous curves against Simons'. The venous read-out and the absorption rates are then
refitted on the new disposition by benchmarks/fit_pk_absorption.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import least_squares

import ketasim

warnings.simplefilter("ignore")
T = np.round(np.concatenate([np.arange(2, 60, 2), np.arange(60, 240.1, 10)]) / 60, 9)
INFUSION = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
BOLUS = {"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.5 mg/kg"}
VSS_FANTA, VSS_LOG_SD = 462.0, 0.33          # L (6.6 L/kg x 70 kg), CV 2.2 / 6.6
T_HALF_FANTA, T_HALF_LOG_SD = 5.2, 0.65      # h, CV 3.4 / 5.2


def traj(ps, line, column, times=T):
    sc = ketasim.scenario_from_dict({"name": "fit", "population": {
        "size": 1, "female_fraction": 0.0, "weight_kg": {"mean": 70.0, "sd": 0.0},
        "age_years": {"mean": 40.0, "sd": 0.0}}, "arms": {"arm": [line]}})
    return ketasim.simulate(sc, ps, typical=True, output_times_h=times).trajectories()[column].to_numpy()


def terminal_half_life(ps) -> float:
    c = traj(ps, {"drug": "esketamine", "route": "iv-bolus", "dose": "0.25 mg/kg"}, "cp_s_ketamine_ng_ml",
             np.array([48.0, 96.0]))
    return 48.0 * math.log(2) / math.log(c[0] / c[1])


def main():
    p0 = ketasim.load_parameters()
    simons = p0.with_literature({"pk.ketamine.q_deep": 1e-6})           # the deep compartment closed
    targets = [traj(simons, line, "ca_ketamine_ng_ml") for line in (INFUSION, BOLUS)]

    def pars(x):
        return {"pk.ketamine.vss": math.exp(x[0]), "pk.ketamine.q_deep": math.exp(x[1])}

    def resid(x):
        ps = p0.with_literature(pars(x))
        r = []
        for line, target in zip((INFUSION, BOLUS), targets):
            r += list(np.log(traj(ps, line, "ca_ketamine_ng_ml") / target) / 0.05 / math.sqrt(len(T)))
        r += [math.log(math.exp(x[0]) / VSS_FANTA) / VSS_LOG_SD,
              math.log(terminal_half_life(ps) / T_HALF_FANTA) / T_HALF_LOG_SD]
        return np.array(r)

    fit = least_squares(resid, [math.log(350.0), math.log(12.0)], diff_step=1e-3,
                        bounds=(np.log([240.0, 2.0]), np.log([800.0, 60.0])))
    best = pars(fit.x)
    ps = p0.with_literature(best)
    print(f"pk.ketamine.vss {best['pk.ketamine.vss']:.1f} L; pk.ketamine.q_deep {best['pk.ketamine.q_deep']:.2f} L/h; "
          f"terminal t1/2 {terminal_half_life(ps):.2f} h; residuals Vss {fit.fun[-2]:.2f}, t1/2 {fit.fun[-1]:.2f}; "
          f"sum of squares {float(np.sum(fit.fun ** 2)):.3f}")
    times = np.array([5, 10, 15, 30, 40, 80, 120, 230]) / 60
    for line in (INFUSION, BOLUS):
        for label, q in (("shipped", p0), ("fitted", ps)):
            ratio = traj(q, line, "ca_ketamine_ng_ml", times) / traj(simons, line, "ca_ketamine_ng_ml", times)
            print(f"{line['route']:12s} {label:8s} arterial / Simons at 5,10,15,30,40,80,120,230 min: {np.round(ratio, 3)}; "
                  f"venous {np.round(traj(q, line, 'cp_ketamine_ng_ml', times), 0)} ng/mL")


if __name__ == "__main__":
    main()
