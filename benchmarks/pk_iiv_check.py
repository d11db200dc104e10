"""Between-subject PK variability (issue 9): does ketasim's IIV give the spread of plasma levels that a published
venous popPK model's IIV implies, and where does iiv.clearance_cv come from?

Perez-Ruixo 2021 (Clin Pharmacokinet 60:501, doi:10.1007/s40262-020-00953-4; 820 healthy subjects and TRD
patients; structure and Table 3 values as encoded in nlmixr2lib PerezRuixo_2020_esketamine): three compartments
(Vc 192 L, Q1 84.3 L/h, Vp1 143 L, Q2 37.6 L/h, Vp2 417 L) and a hepato-portal compartment (Qh 151 L/h, Vh 101 L,
kel 1.11 /h, kmet 2.77 /h); IIV (omega^2) Vc 0.0730, Vp1 0.218, Qh 0.0524, Vh 0.113, kel 0.892, kmet 0.0862
(placeholder: the paper's value is blank). Simulated here for 17.5 mg over 40 min into the central compartment (the
S half of 0.5 mg/kg racemic at 70 kg): the log-SD of the venous level at the end of the infusion and 80 min later,
and the log-SD of the systemic clearance Qh CLint / (Qh + CLint) with CLint = Vh (kel + kmet) (-> iiv.clearance_cv).
ketasim: the same infusion (racemic 0.5 mg/kg over 40 min), 70-kg men, eta_v and eta_cl drawn, all else typical.

    .venv/bin/python benchmarks/pk_iiv_check.py [--n 3000]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.linalg import expm

from ketasim.engine import run_arm
from ketasim.parameters import load_parameters
from ketasim.population import PopulationSpec, patients_from_covariates
from ketasim.regimen import Arm, Dose
from ketasim.solver import kernel as K

OMEGA2 = {"vc": 0.0730, "vp": 0.218, "qh": 0.0524, "vh": 0.113, "kel": 0.892, "kmet": 0.0862}


def perez_ruixo(n: int, rng) -> dict:
    g = {k: np.exp(rng.normal(0.0, np.sqrt(w), n)) for k, w in OMEGA2.items()}
    vc, vp, vp2, q1, q2 = 192 * g["vc"], 143 * g["vp"], 417.0, 84.3, 37.6
    qh, vh, kel, kmet = 151 * g["qh"], 101 * g["vh"], 1.11 * g["kel"], 2.77 * g["kmet"]
    clint = vh * (kel + kmet)
    cl = qh * clint / (qh + clint)
    dose, T = 17.5, 40 / 60
    c = np.empty((n, 2))
    for i in range(n):
        m = np.zeros((4, 4))
        m[0, :] = [-(q1 + q2 + qh[i]) / vc[i], q1 / vp[i], q2 / vp2, qh[i] / vh[i]]
        m[1, 0], m[1, 1] = q1 / vc[i], -q1 / vp[i]
        m[2, 0], m[2, 2] = q2 / vc[i], -q2 / vp2
        m[3, 0], m[3, 3] = qh[i] / vc[i], -(qh[i] / vh[i] + kel[i] + kmet[i])
        aug = np.zeros((5, 5))
        aug[:4, :4], aug[0, 4] = m, dose / T
        a_end = expm(aug * T)[:4, 4]
        c[i] = a_end[0] / vc[i], (expm(m * (2.0 - T)) @ a_end)[0] / vc[i]
    return {"cl_log_sd": float(np.log(cl).std()), "end_log_sd": float(np.log(c[:, 0]).std()),
            "later_log_sd": float(np.log(c[:, 1]).std())}


def ketasim_spread(n: int, rng) -> dict:
    p = load_parameters()
    arm = Arm("iv", (Dose.from_mapping({"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                        "duration": "40 min"}, "d"),))
    pats = patients_from_covariates(n, weight_kg=70, age_years=40, female=False, genotype_factor=1.0, crp_mg_l=1.8,
                                    eta_v=rng.standard_normal(n), eta_cl=rng.standard_normal(n))
    out = run_arm(arm, PopulationSpec(), pats, np.array([40 / 60, 2.0]), params=p).out
    c = out[:, :, K.OUT_NAMES.index("cp_ketamine_ng_ml")]
    return {"cl_log_sd": p.get("iiv.clearance_cv"), "end_log_sd": float(np.log(c[:, 0]).std()),
            "later_log_sd": float(np.log(c[:, 1]).std())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    args = ap.parse_args()
    pr = perez_ruixo(args.n, np.random.default_rng(1))
    ks = ketasim_spread(args.n, np.random.default_rng(2))
    print("log-SD between subjects (IIV only)        Perez-Ruixo 2021 IIV   ketasim")
    print(f"  systemic clearance                        {pr['cl_log_sd']:.3f}                  {ks['cl_log_sd']:.3f}"
          " (iiv.clearance_cv)")
    print(f"  venous level, end of a 40-min infusion    {pr['end_log_sd']:.3f}                  {ks['end_log_sd']:.3f}")
    print(f"  venous level, 80 min later                {pr['later_log_sd']:.3f}                  {ks['later_log_sd']:.3f}")
    print("(an observed level adds the assay/residual error: Perez-Ruixo 0.276, ketasim observation.cp_log_sd 0.3)")


if __name__ == "__main__":
    main()
