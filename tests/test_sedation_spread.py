"""Sedation has a between-patient spread of its own (issue 7 known limit): each patient's ketamine sedation EC50 is
the typical one (pd.sedation.ec50_racemic_total, Schuttler 1987) times exp(iiv.sedation_ec50_cv x eta_sedation),
with the SD of the same source's five IC50s (2.0 +/- 0.5 ug/mL)."""

import numpy as np

from ketasim.engine import run_arm
from ketasim.parameters import load_parameters
from ketasim.population import PopulationSpec, patients_from_covariates, sample_patients
from ketasim.regimen import Arm, Dose
from ketasim.solver import kernel as K

P = load_parameters()
COV = dict(weight_kg=70.0, age_years=40.0, female=False, genotype_factor=1.0, crp_mg_l=1.8)
ARM = Arm("iv", (Dose.from_mapping({"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "1 mg/kg",
                                    "duration": "40 min"}, "d"),))
SED = K.OUT_NAMES.index("sedation")


def test_the_spread_is_the_sources_coefficient_of_variation():
    cv = 0.5 / 2.0                                        # Schuttler 1987: IC50 2.0 +/- 0.5 ug/mL
    assert abs(P.get("iiv.sedation_ec50_cv") - np.sqrt(np.log(1 + cv ** 2))) < 5e-4


def test_eta_sedation_scales_the_ec50_exactly():
    """Without midazolam the index is C / (C + EC50_i): its odds scale as 1 / exp(w eta), at every time."""
    eta = np.array([-1.5, 0.0, 1.0])
    pats = patients_from_covariates(3, **COV, eta_sedation=eta)
    s = run_arm(ARM, PopulationSpec(), pats, np.array([0.25, 40 / 60, 2.0]), params=P).out[:, :, SED]
    odds = s / (1 - s)
    w = P.get("iiv.sedation_ec50_cv")
    assert np.all(s[1] > 0.01)                            # a visible sedation, so the check is not of zeros
    assert np.allclose(odds / odds[1], np.exp(-w * eta)[:, None], rtol=1e-9)
    assert s[0, 1] > s[1, 1] > s[2, 1]                    # a lower EC50 sedates more


def test_sedation_varies_between_patients_with_identical_pharmacokinetics():
    """Before, patients with the same effect-site level had the same sedation: its spread came from PK alone."""
    spec = PopulationSpec(size=400)
    pats = sample_patients(spec, P, 3)
    eta = pats.eta_sedation
    assert 0.85 < eta.std() < 1.15
    same_pk = patients_from_covariates(400, **COV, eta_sedation=eta)
    peak = run_arm(ARM, spec, same_pk, np.array([40 / 60]), params=P).out[:, 0, SED]
    assert peak.std() > 0.02
    typical = run_arm(ARM, spec, patients_from_covariates(1, **COV), np.array([40 / 60]), params=P).out[0, 0, SED]
    assert abs(np.median(peak) - typical) < 0.01          # median-preserving
