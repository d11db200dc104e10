"""Inter-occasion variability (IOV) in crossover PK studies (Karlsson & Sheiner 1993, doi:10.1007/BF01113502).

A crossover gives the same virtual patients every period; each period (occasion) adds its own per-patient random
effect on systemic clearance (SD omega_cl = iov.clearance_cv) and on the first-pass escape of swallowed doses
(omega_f = iov.bioavailability_cv). What that structure implies for the within-patient log ratio of two periods
of the SAME regimen:

* IV infusion, AUC = dose / CL: log ratio = -omega_cl (k_cl2 - k_cl1), SD sqrt(2) omega_cl (eta_cl and every
  other patient effect cancel; F plays no part).
* oral, AUC = F_abs F_fp dose / CL: log ratio = omega_f (k_f2 - k_f1) - omega_cl (k_cl2 - k_cl1),
  SD sqrt(2) sqrt(omega_cl^2 + omega_f^2) (Cmax has no closed form: it also depends on the absorption rate).

Sampling tolerance: the SD of n normal log ratios has a relative standard error of 1 / sqrt(2 (n - 1)) (2.9 % for
n = 600); the tests allow 10 % (3.5 standard errors) and NCA adds ~1 % (AUC0-inf extrapolated from 24-h samples).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import ketasim
from ketasim.errors import InputError, KetasimError
from ketasim.parameters import load_parameters
from ketasim.population import PopulationSpec, occasion_effects, sample_patients
from ketasim.scenario import load_scenario

from _support import REPO

EXAMPLE_DDI = REPO / "examples" / "pk" / "ddi_oral_esketamine_clarithromycin.yaml"
N = 600
TOL = 0.10


def _params():
    return load_parameters()


def _same_regimen(route: str, dose: str, n: int = N, iov=None, **extra) -> ketasim.Scenario:
    line = {"drug": "esketamine", "route": route, "dose": dose, **extra}
    design = {"type": "crossover", "control": "a", **({} if iov is None else {"iov": iov})}
    return ketasim.scenario_from_dict({
        "name": "iov", "seed": 5, "population": {"size": n}, "arms": {"a": [line], "b": [line]}, "design": design,
        "endpoints": {"measures": ["cmax", "auc_0_inf"], "analytes": ["s-ketamine"]}})


def _log_ratios(tr, test: str, ref: str, column: str = "auc_0_inf_ng_h_ml", analyte: str = "s-ketamine"):
    """Per-subject log ratios (NaN where the NCA could not extrapolate AUC to infinity: a very slow oral absorber
    whose peak comes so late that no terminal phase is sampled, as a real NCA reports it)."""
    a = tr.pk[test][tr.pk[test]["analyte"] == analyte].set_index("subject")[column]
    b = tr.pk[ref][tr.pk[ref]["analyte"] == analyte].set_index("subject")[column]
    return np.log(a / b).to_numpy()


@pytest.fixture(scope="module")
def iv_trial():
    return ketasim.run_trial(_same_regimen("iv-infusion", "20 mg", duration="40 min"))


@pytest.fixture(scope="module")
def oral_trial():
    return ketasim.run_trial(_same_regimen("oral", "20 mg"))


def test_iv_within_patient_sd_is_sqrt2_omega_cl(iv_trial):
    d = _log_ratios(iv_trial, "b", "a")
    expected = math.sqrt(2.0) * _params().get("iov.clearance_cv")
    assert np.std(d, ddof=1) == pytest.approx(expected, rel=TOL)
    assert abs(np.mean(d)) < 3 * expected / math.sqrt(N)     # same regimen: no systematic period effect


def test_oral_within_patient_sd_combines_cl_and_first_pass(oral_trial):
    p = _params()
    w_cl, w_f = p.get("iov.clearance_cv"), p.get("iov.bioavailability_cv")
    d = _log_ratios(oral_trial, "b", "a")
    ok = np.isfinite(d)
    assert ok.sum() >= 0.98 * N          # the NCA extrapolates nearly every subject's AUC
    assert np.std(d[ok], ddof=1) == pytest.approx(math.sqrt(2.0) * math.hypot(w_cl, w_f), rel=TOL)
    # the mechanism itself, free of sampling error: regressed on the drawn occasion effects, the log AUC ratio has
    # slope +omega_f on the F effect and -omega_cl on the CL effect and (almost) no residual
    stream = np.random.SeedSequence(5).spawn(3)[-1]          # run_trial's shared patient stream (2 arms + 1)
    e1, e2 = occasion_effects(stream, 1, 0, N), occasion_effects(stream, 2, 0, N)
    x = np.column_stack([e2["occasion_f"] - e1["occasion_f"], e2["occasion_cl"] - e1["occasion_cl"], np.ones(N)])
    coef, *_ = np.linalg.lstsq(x[ok], d[ok], rcond=None)
    assert coef[0] == pytest.approx(w_f, rel=0.03) and coef[1] == pytest.approx(-w_cl, rel=0.03)
    assert np.std(d[ok] - x[ok] @ coef) < 0.01


def test_iov_false_gives_identical_periods():
    tr = ketasim.run_trial(_same_regimen("oral", "20 mg", n=40, iov=False))
    d = _log_ratios(tr, "b", "a")
    assert np.max(np.abs(d)) < 1e-9
    r = next(c for c in tr.comparisons if c["measure"] == "auc_0_inf_ratio")
    assert r["ci90"][1] - r["ci90"][0] < 1e-6


def test_ddi_example_ci_has_width_and_gmr_is_unchanged():
    """The DDI example (oral esketamine +- clarithromycin, crossover): with IOV the 90 % CI of every S-ketamine ratio
    is many times wider than without IOV and contains the point estimate; the interaction itself (the GMR) is that of
    the same patients without IOV, within the sampling error the IOV adds (n = 1000: SE of the log GMR
    ~0.24 / sqrt(1000) = 0.0076; 3 % is 4 SE. At n = 3000 and two seeds the log GMR moved by 0.004 and 0.007, each
    within 1.6 SE: IOV is median-preserving, so it does not bias the ratio)."""
    sc = load_scenario(EXAMPLE_DDI)
    on = ketasim.run_trial(sc, n=1000)
    off_sc = ketasim.scenario_from_dict({**sc.source, "design": {**sc.source["design"], "iov": False}})
    off = ketasim.run_trial(off_sc, n=1000)

    def ratios(tr):
        return {c["measure"]: c for c in tr.comparisons if c.get("analyte") == "s-ketamine"}

    r_on, r_off = ratios(on), ratios(off)
    for m in ("cmax_ratio", "auc_0_t_ratio", "auc_0_inf_ratio"):
        lo, hi = r_on[m]["ci90"]
        assert lo < r_on[m]["value"] < hi
        off_lo, off_hi = r_off[m]["ci90"]
        assert hi / lo - 1 > 5 * (off_hi / off_lo - 1), (m, lo, hi, off_lo, off_hi)   # IOV sets the width
        assert r_on[m]["value"] == pytest.approx(r_off[m]["value"], rel=0.03), m
    # the within-patient SD of the log AUC ratio is what the IOV SDs imply for an oral dose
    p = _params()
    d = _log_ratios(on, "esketamine-with-clarithromycin", "esketamine-alone")
    d = d[np.isfinite(d)]
    assert d.size >= 0.98 * 1000
    expected = math.sqrt(2.0) * math.hypot(p.get("iov.clearance_cv"), p.get("iov.bioavailability_cv"))
    assert np.std(d, ddof=1) == pytest.approx(expected, rel=TOL)


def test_the_example_as_shipped_has_a_nonzero_ci(capsys):
    from ketasim.cli import main

    assert main(["trial", str(EXAMPLE_DDI), "--no-progress"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "auc_0_inf_ratio s-ketamine" in x)
    lo, hi = (float(v) for v in line.split("90% CI [")[1].split("]")[0].split(","))
    assert hi / lo > 1.05


def test_deterministic_and_independent_of_chunks():
    sc = _same_regimen("oral", "20 mg", n=30)
    a, b = ketasim.run_trial(sc, chunk=7), ketasim.run_trial(sc, chunk=1000)
    assert json.dumps(a.to_dict(), default=str) == json.dumps(b.to_dict(), default=str)
    for arm in a.pk:
        assert a.pk[arm].equals(b.pk[arm])


def test_occasions_change_only_pk_arms_and_not_pd_random_effects():
    """PD random effects (response, placebo, BP, dissociation, ke0) are the patient's in every period: an arm without
    drug PK (saline) gives the same ratings with and without IOV; the ketamine arm's PK (and so its ratings) move."""
    ket = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
    sal = {"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}

    def run(iov):
        return ketasim.run_trial(ketasim.scenario_from_dict({
            "name": "x", "seed": 2, "population": {"size": 40}, "arms": {"ketamine": [ket], "saline": [sal]},
            "design": {"type": "crossover", "iov": iov}, "endpoints": {"times": ["24 h"], "measures": ["mean"]}}))

    on, off = run(True), run(False)
    assert np.array_equal(on.outcomes["saline"].rating, off.outcomes["saline"].rating)
    assert not np.array_equal(on.outcomes["ketamine"].model_score, off.outcomes["ketamine"].model_score)


def test_occasion_draws_keep_the_patient_and_differ_between_periods():
    p = _params()
    spec = PopulationSpec(size=50)
    base = sample_patients(spec, p, 9, 50)
    one, two = (sample_patients(spec, p, 9, 50, occasion=k) for k in (1, 2))
    assert not base.has_occasion_effects and np.all(base.occasion_cl == 0)
    for f in ("eta_cl", "eta_f", "eta_emax", "weight_kg", "baseline"):
        assert np.array_equal(getattr(one, f), getattr(base, f))
    assert not np.array_equal(one.occasion_cl, two.occasion_cl)
    assert not np.array_equal(one.occasion_cl, one.occasion_f)
    assert np.array_equal(sample_patients(spec, p, 9, 20, start=30, occasion=2).occasion_f, two.occasion_f[30:])
    with pytest.raises(InputError, match=r"^occasion:"):
        sample_patients(spec, p, 9, 5, occasion=0)


def test_parallel_trials_do_not_read_the_iov_parameters():
    """A parallel study has one occasion per patient: its numbers do not depend on iov.* at all."""
    sc = ketasim.scenario_from_dict({**load_scenario(EXAMPLE_DDI).source, "design": {"type": "parallel"}})
    p = _params()
    a = ketasim.run_trial(sc, p, n=12)
    b = ketasim.run_trial(sc, p.with_literature({"iov.clearance_cv": 5.0, "iov.bioavailability_cv": 5.0}), n=12)
    for arm in a.pk:
        assert a.pk[arm].equals(b.pk[arm])
    strip = lambda d: {k: v for k, v in d.items() if k != "parameter_set"}  # noqa: E731
    assert json.dumps(strip(a.to_dict()), default=str) == json.dumps(strip(b.to_dict()), default=str)


@pytest.mark.parametrize("design, message", [
    ({"type": "parallel", "iov": True}, "design.iov: inter-occasion variability applies to the periods of a crossover"),
    ({"type": "crossover", "iov": "sometimes"}, "design.iov:"),
    ({"type": "crossover", "iov": 3}, "design.iov:"),
])
def test_bad_iov_option_is_one_line_naming_the_field(design, message):
    line = {"drug": "esketamine", "route": "oral", "dose": "20 mg"}
    with pytest.raises(KetasimError) as e:
        ketasim.scenario_from_dict({"name": "x", "arms": {"a": [line], "b": [line]}, "design": design})
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_programmatic_design_is_checked_too():
    """A Scenario built without the YAML loader (design tuple) is checked by the trial itself."""
    import dataclasses

    sc = _same_regimen("oral", "20 mg", n=4)
    bad = dataclasses.replace(sc, design=(("iov", "yes"), ("type", "crossover")))
    with pytest.raises(InputError, match=r"^design\.iov: must be true or false"):
        ketasim.run_trial(bad)
    par = dataclasses.replace(sc, design=(("iov", False), ("type", "parallel")))
    with pytest.raises(InputError, match=r"^design\.iov: .*parallel design has none"):
        ketasim.run_trial(par)
