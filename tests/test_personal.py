"""Personal plans: fit (MAP + Laplace + importance resampling), forecast, plan search, CLI/JSON/HTML, and a small
simulation-based validation (the full one is benchmarks/bench_plan.py)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.personal import (NOT_FITTED, Limits, PatientModel, candidate_regimens, fit_patient, forecast, parse_limits,
                              parse_target, plan, synthetic_record, validate)
from ketasim.population import Patients
from ketasim.record import read_record, record_from_rows
from ketasim.scenario import scenario_from_dict

EXAMPLE = "examples/patient/patient_101.csv"
NOTICE = "ketasim is a research and teaching tool, not medical advice."


@pytest.fixture(scope="module")
def example_fit():
    # issue 7 PK: 1000 resamples of 4000 proposals (default 400 of 1000): with the defaults the posterior SD of the
    # baseline carries ~5 % Monte Carlo error (ESS ~250), as large as the margin of the 0.6 x prior check below;
    # converged (2000 of 8000) it is 2.94 before and 2.93 after the PK change, the same
    return fit_patient(read_record(EXAMPLE), seed=1, n_samples=1000, n_proposals=4000)


def test_every_random_effect_is_fitted_with_the_samplers_prior():
    pm = PatientModel(read_record(EXAMPLE))
    etas = [f.name for f in dataclasses.fields(Patients) if f.name.startswith("eta_") and f.name not in NOT_FITTED]
    assert list(pm.names) == etas + ["baseline"]
    assert NOT_FITTED == ("eta_recurrence",)      # the time to a new episode: not informed by past ratings
    j = pm.names.index("baseline")
    assert np.allclose(pm.prior_mean[:j], 0) and np.allclose(pm.prior_sd[:j], 1)
    assert pm.prior_mean[j] == pytest.approx(33, abs=0.3) and pm.population_baseline_sd == pytest.approx(5, abs=0.3)
    # the baseline's SD floored at two rater's SDs for one patient (2 x 0.06 x 60 MADRS points; forty-fifth session)
    assert pm.prior_sd[j] == pytest.approx(7.2)


def test_fit_is_informed_by_ratings_and_flags_what_they_cannot_inform(example_fit):
    fit = example_fit
    rows = {r["name"]: r for r in fit.parameter_table()}
    # the ratings inform the baseline and the placebo response; an IV-only record says nothing about eta_f. The
    # baseline's posterior SD is ~0.6 of its prior (converged, 2000 of 8000: 0.598 with the eighth session's set, 0.607
    # with the ninth's; this fixture 0.587 / 0.622): the old limit of 0.6 sat on the value itself, so 2/3
    assert rows["baseline"]["sd"] < 2 / 3 * rows["baseline"]["prior_sd"]
    # how the ratings split between the drug and the placebo trait depends on the parameter set: at the seventeenth
    # session's set the drug trait takes most (eta_emax Laplace SD 0.25 of its prior) and eta_placebo's local
    # curvature says little (Laplace 0.91, "not informed") although its sampled posterior narrows (SD 0.72); at the
    # twenty-ninth session's set the drug's responder-class trait takes it (eta_response Laplace SD 0.57, shrinkage
    # 0.18) and both others are "not informed" by their curvature (Laplace 0.97) while their samples narrow (0.79 / 0.76)
    assert rows["eta_emax"]["informed"] or rows["eta_placebo"]["informed"] or rows["eta_response"]["informed"]
    assert min(rows["eta_emax"]["sd"], rows["eta_placebo"]["sd"]) < 0.85
    assert not rows["eta_f"]["informed"] and rows["eta_f"]["shrinkage"] > 0.9
    # ... nor about the absorption rates: zero sensitivity, so "not informed at all", not "barely" (s32)
    for name in ("eta_f", "eta_ka_nasal", "eta_ka_gut"):
        assert rows[name]["uninformative"]
        assert next(w for w in fit.warnings if w.startswith(name + ":")).endswith(
            "the record's observations do not depend on this parameter; it keeps the population's distribution")
    assert not rows["baseline"]["uninformative"] and not rows["eta_emax"]["uninformative"]
    # the flag comes from the Laplace SD while the printed 90 % interval is importance-sampled (they differ: the
    # samples of eta_placebo narrow where its curvature does not): the warning names both (s31 new-user pass)
    flagged = next(w for w in fit.warnings if "barely inform" in w)
    assert not rows[flagged.split(":")[0]]["uninformative"]
    assert "Laplace approximation" in flagged and "importance-sampled SD behind the 90% interval" in flagged
    assert fit.ess > 50
    for r in rows.values():
        assert r["interval90"][0] <= r["median"] <= r["interval90"][1]
    # the MAP fits the data better than the population's typical values
    pred = np.array([x["predicted"] for x in fit.residuals if x["dvid"] == "madrs"])
    obs = np.array([x["observed"] for x in fit.residuals if x["dvid"] == "madrs"])
    assert np.sqrt(np.mean((pred - obs) ** 2)) < 5.0


def test_map_recovers_a_known_patient_with_many_ratings():
    recs, truth, models = synthetic_record(1, seed=11, weeks_observed=4, forecast_weeks=(5,))
    fit = fit_patient(models[0], seed=0)
    j = models[0].names.index("baseline")
    assert abs(fit.map[j] - truth[0, j]) < 4.0
    # the ratings inform the baseline (prior SD 4.98): the Laplace SD is deterministic (2.84); the importance-sampled
    # SD is not: 2.81 / 2.81 / 2.98 / 3.22 at seeds 0-3 (twelfth session, measured before and after the side-effect
    # ceiling, which moved seed 0's draw 2.81 -> 3.02 and left the MAP and the Laplace SD unchanged; twenty-ninth
    # session's set: Laplace 2.79, sampled 3.33 / 3.02 / 3.13 / 3.10 at seeds 0-3, so the limit is 3.4, not 3.3)
    row = fit.parameter_table()[j]
    assert row["laplace_sd"] < 3.0
    assert row["sd"] < 3.4


def test_forecast_entries_and_alternative(example_fit):
    fc = forecast(example_fit, variables=("score", "cp_ketamine_ng_ml"))
    ent = fc.entries()
    scores = [e for e in ent if e["variable"] == "score"]
    assert [e["time_h"] for e in scores] == [504, 672, 840, 1008]
    for e in ent:
        assert e["pi90"][0] <= e["pi50"][0] <= e["median"] <= e["pi50"][1] <= e["pi90"][1]
    assert all(0 <= e["median"] <= 60 for e in scores)
    # no further dose: the plasma level at the forecast points falls to ~0, and the rating rises
    none = forecast(example_fit, regimen=[], variables=("score",))
    weekly = forecast(example_fit, regimen=[{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                             "duration": "40 min", "at": "337 h", "every": "7 d", "count": 4}])
    assert none.quantiles["score"][2, -1] >= weekly.quantiles["score"][2, -1]
    with pytest.raises(InputError, match="not after the last observation"):
        forecast(example_fit, regimen=[{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "at": "10 h"}])


def test_prior_record_gives_the_population_forecast():
    rec = record_from_rows([{"ID": 1, "TIME": 0, "EVID": 1, "AMT": 56, "AMTU": "mg", "DRUG": "esketamine",
                             "ROUTE": "intranasal", "WT": 80, "AGE": 40, "SEX": "F"},
                            {"TIME": 168, "EVID": 0, "DVID": "madrs"}])
    fit = fit_patient(rec)
    assert fit.prior and "population's (prior) forecast" in fit.warnings[0]
    e = forecast(fit, grid=False).entries()
    assert [x["time_h"] for x in e] == [168] and e[0]["pi90"][1] - e[0]["pi90"][0] > 10


def test_candidates_respect_the_limits():
    rec = read_record(EXAMPLE)
    lim = parse_limits("sessions_per_week=1, drugs=esketamine, routes=intranasal, esketamine_mg_session=56")
    c = candidate_regimens(rec, lim, 672.0)
    assert len(c) > 1
    for cand in c[1:]:
        assert {d.drug.value for d in cand["doses"]} == {"esketamine"}
        assert all(d.amount <= 56 for d in cand["doses"])
        t = np.array(cand["times"])
        assert np.all(np.diff(t) >= 168 - 1e-9) and t[0] > rec.last_observation_h
    with pytest.raises(InputError, match="unknown limit"):
        parse_limits("speed=3")
    with pytest.raises(InputError, match="^target"):
        parse_target("score>=3", "madrs")


def test_plan_is_ranked_safe_and_pasteable(example_fit):
    res = plan(example_fit, target=parse_target("score<=20", "madrs"), limits=Limits(cadss=25.0, routes=("iv-infusion",)),
               n_samples=100)
    plans = res["plans"]
    assert plans and [p["rank"] for p in plans] == list(range(1, len(plans) + 1))
    for p in plans:
        assert 0 <= p["p_target"] <= 1 and p["safe"]
        assert p["safety"]["cadss_margin"] >= 0 and p["safety"]["sbp_margin_mmhg"] >= 0
    meets = [p["meets_probability"] for p in plans]
    assert meets == sorted(meets, reverse=True)
    # the dose lines paste into a scenario file
    lines = plans[0]["regimen"] or [{"drug": "placebo", "route": "oral"}]
    scenario_from_dict({"name": "pasted", "arms": {"plan": lines}})
    assert res["notice"] == NOTICE and res["limits"]["cadss"] == 25.0
    # among plans that meet the probability: fewest sessions first (default) or least drug first
    ok = [p for p in plans if p["meets_probability"]]
    assert [(p["sessions"], p["total_dose_mg"]) for p in ok] == sorted((p["sessions"], p["total_dose_mg"]) for p in ok)
    res2 = plan(example_fit, target=parse_target("score<=20", "madrs"), limits=Limits(cadss=25.0, routes=("iv-infusion",)),
                n_samples=100, minimise="exposure")
    ok2 = [p["total_dose_mg"] for p in res2["plans"] if p["meets_probability"]]
    assert ok2 == sorted(ok2)
    with pytest.raises(InputError, match="minimise"):
        plan(example_fit, minimise="cost")


def test_plasma_levels_inform_the_pk_random_effects():
    rows = [{"ID": 1, "TIME": 0, "EVID": 0, "DV": 32, "DVID": "madrs", "WT": 70, "AGE": 40, "SEX": "M"},
            {"TIME": 0.1, "EVID": 1, "AMT": 0.5, "AMTU": "mg/kg", "DUR": 0.6667, "DRUG": "racemic-ketamine",
             "ROUTE": "iv-infusion"},
            {"TIME": 0.7, "EVID": 0, "DV": 420, "DVID": "cp_ketamine_ng_ml"},
            {"TIME": 2, "EVID": 0, "DV": 110, "DVID": "cp_ketamine_ng_ml"},
            {"TIME": 24, "EVID": 0, "DV": 20, "DVID": "madrs"}]
    fit = fit_patient(record_from_rows(rows))
    rows_ = {r["name"]: r for r in fit.parameter_table()}
    # a higher venous level at the end of the infusion than the typical patient's (~219 ng/mL since the issue-7 PK)
    # means a smaller volume
    assert rows_["eta_v"]["informed"] and rows_["eta_v"]["estimate"] < -0.2
    cp = [r for r in fit.residuals if r["dvid"] == "cp_ketamine_ng_ml"]
    assert cp[0]["predicted"] > 240


def test_cli_plan_json_contract_and_report(tmp_path, capsys):
    out, rep = tmp_path / "plan.json", tmp_path / "plan.html"
    alt = tmp_path / "alt.yaml"
    alt.write_text("- {drug: esketamine, route: intranasal, dose: 84 mg, at: 340 h, every: 3.5 d, count: 4}\n")
    assert main(["plan", EXAMPLE, "--json", str(out), "--report", str(rep), "--target", "score<=15",
                 "--alternative", str(alt), "--variable", "cadss",
                 "--limits", "drugs=racemic-ketamine,routes=iv-infusion"]) == 0
    text = capsys.readouterr().out
    assert text.count(NOTICE) == 1 and "dose lines of #1" in text
    res = json.loads(out.read_text())
    assert res["notice"] == NOTICE
    for p in res["fit"]["parameters"]:
        assert {"name", "estimate", "interval90"} <= set(p)
    scores = [e for e in res["forecast"] if e["variable"] == "score"]
    assert len(scores) == 4 and {"time_h", "median", "pi50", "pi90"} <= set(scores[0])
    assert any(e["variable"] == "cadss" for e in res["forecast"])
    assert res["plans"] and {"regimen", "p_target"} <= set(res["plans"][0])
    assert res["alternative"]["regimen"][0]["drug"] == "esketamine"
    page = rep.read_text()
    assert page.count(NOTICE) == 1 and "Plotly.newPlot" in page and "<script src=" not in page
    for fid in ("fit-forecast", "plans"):      # each figure has its own element (ids are unique)
        assert page.count(f'id="{fid}"') == 1


def test_small_simulation_validation():
    """A few synthetic patients (the full run is benchmarks/bench_plan.py): intervals cover most true ratings
    and the individual forecast beats the population's."""
    r = validate(5, seed=21, with_plans=False, n_samples=300, n_proposals=600)
    assert r["observations_per_patient"] == 10
    assert r["pi90_coverage"] >= 0.7
    assert r["mae_individual"] < 0.75 * r["mae_population"]
    assert r["mae_individual"] < r["mae_population_baseline_anchored"]
    assert r["parameter_coverage90_mean"] >= 0.6


def test_a_new_random_effect_is_just_data(monkeypatch):
    """A random effect added to Patients and to the sampler later (e.g. issue 7's response trait) is fitted with
    the sampler's own prior SD, with no change to ketasim.personal."""
    import ketasim.personal as personal
    import ketasim.population as population

    @dataclasses.dataclass(frozen=True)
    class PatientsX(Patients):
        eta_trait: np.ndarray = None

    real_sample = population.sample_patients

    def sample(spec, params, rng, n=None):
        p = real_sample(spec, params, rng, n)
        cols = {f.name: getattr(p, f.name) for f in dataclasses.fields(Patients)}
        return PatientsX(**cols, eta_trait=0.5 * np.random.default_rng(3).standard_normal(p.n))

    monkeypatch.setattr(population, "Patients", PatientsX)
    monkeypatch.setattr(personal, "Patients", PatientsX)
    monkeypatch.setattr(personal, "sample_patients", sample)
    pm = PatientModel(read_record(EXAMPLE))
    j = pm.names.index("eta_trait")
    assert pm.prior_sd[j] == pytest.approx(0.5, rel=0.03) and pm.names[-1] == "baseline"
    assert isinstance(pm.patients(np.tile(pm.prior_mean, (2, 1))), PatientsX)
    fit = fit_patient(pm, n_samples=200, n_proposals=400)
    row = {r["name"]: r for r in fit.parameter_table()}["eta_trait"]
    # the engine does not use it (yet): the data cannot inform it, and the fit says so
    assert not row["informed"] and any(w.startswith("eta_trait:") for w in fit.warnings)


def test_laplace_widening_sees_a_saturating_shoulder():
    """The proposal is widened only along axes where the posterior is flatter than the Laplace curvature."""
    from ketasim.personal import _laplace_widening

    class Linear:                        # y = 2 x observed with SD 0.5, prior N(0, 1): Gaussian posterior
        def residuals(self, th):
            th = np.atleast_2d(th)
            return np.concatenate([(1.0 - 2.0 * th[:, :1]) / 0.5, th], axis=1)

    class Saturating(Linear):            # y = expit(6 x) observed at 0.98: any large x fits (a responder's shoulder)
        def residuals(self, th):
            th = np.atleast_2d(th)
            return np.concatenate([(0.98 - 1 / (1 + np.exp(-6 * th[:, :1]))) / 0.05, th], axis=1)

    sd, lo, hi = np.ones(1), np.full(1, -6.0), np.full(1, 6.0)
    for om, wide in ((Linear(), False), (Saturating(), True)):
        x = np.linspace(-3, 3, 6001)[:, None]
        x_map = x[np.argmin(np.sum(om.residuals(x) ** 2, axis=1))]
        h = 1e-5
        J = ((om.residuals(x_map + h) - om.residuals(x_map)) / h).T
        cov = np.linalg.inv(J.T @ J)
        f = _laplace_widening(om, x_map, cov, om.residuals(x_map)[0], sd, lo, hi)
        assert (f[0] > 1.5) == wide, f


def test_parameters_the_record_cannot_inform_are_not_fitted(example_fit, monkeypatch):
    """An IV-only record's predictions do not depend on the absorption rates or the bioavailability: they are not
    fitted (MAP at the prior mean, Laplace SD = prior SD, draws from the prior on their own stream), and the fit of
    the others is the fit with them included (their prior term adds 0 at the mean)."""
    import ketasim.personal as P

    fit = example_fit
    fixed = set(fit.sampling["fixed_at_prior"])
    assert {"eta_f", "eta_ka_nasal", "eta_ka_gut"} <= fixed
    assert not fixed & {"eta_cl", "eta_v", "eta_emax", "eta_placebo", "baseline"}
    names = list(fit.model.names)
    w = fit.weights
    for name in fixed:
        j = names.index(name)
        assert fit.map[j] == fit.model.prior_mean[j]
        assert fit.cov[j, j] == fit.model.prior_sd[j] ** 2
        assert np.count_nonzero(fit.cov[j]) == 1
        # the weighted draws are the prior's: mean 0 and SD 1 within ~4 Monte Carlo SEs at the fit's ESS
        x = fit.proposals[:, j]
        m = float(w @ x)
        sd = float(np.sqrt(w @ (x - m) ** 2))
        assert abs(m) < 4 / np.sqrt(fit.ess) and abs(sd - 1) < 4 / np.sqrt(2 * fit.ess)
    # the same record fitted with every parameter free: the same MAP of the others and the same objective
    small = dict(seed=1, n_samples=200, n_proposals=500, refine=False)
    sub = fit_patient(read_record(EXAMPLE), **small)
    monkeypatch.setattr(P, "_observation_free", lambda om, x, lo, hi, candidates=None: np.zeros(om.pm.dim, bool))
    full = fit_patient(read_record(EXAMPLE), **small)
    assert full.sampling["fixed_at_prior"] == []
    keep = [j for j, n in enumerate(names) if n not in fixed]
    sd = fit.model.prior_sd[keep]
    assert np.max(np.abs(sub.map[keep] - full.map[keep]) / sd) < 0.02
    assert sub.objective == pytest.approx(full.objective, rel=1e-4)


def test_observation_free_sees_any_dependence():
    """The independence check moves one parameter at a time: a PK effect of an IV record (clearance) and the nasal
    absorption rate of a record with plasma levels after a nasal dose both count as informing, the gut rate of the
    swallowed part too (a nasal dose's swallowed part is absorbed from the gut)."""
    from ketasim.personal import _ObservationModel, _observation_free

    rows = [{"ID": 1, "TIME": 0, "EVID": 0, "DV": 32, "DVID": "madrs", "WT": 70, "AGE": 40, "SEX": "M"},
            {"TIME": 0.1, "EVID": 1, "AMT": 56, "AMTU": "mg", "DRUG": "esketamine", "ROUTE": "intranasal"},
            {"TIME": 0.6, "EVID": 0, "DV": 60, "DVID": "cp_s_ketamine_ng_ml"},
            {"TIME": 4, "EVID": 0, "DV": 20, "DVID": "cp_s_ketamine_ng_ml"},
            {"TIME": 24, "EVID": 0, "DV": 24, "DVID": "madrs"}]
    pm = PatientModel(record_from_rows(rows))
    om = _ObservationModel(pm)
    lo, hi = pm.prior_mean - 6 * pm.prior_sd, pm.prior_mean + 6 * pm.prior_sd
    free = dict(zip(pm.names, _observation_free(om, pm.prior_mean.copy(), lo, hi)))
    assert not free["eta_ka_nasal"] and not free["eta_ka_gut"] and not free["eta_cl"] and not free["baseline"]
    fit = fit_patient(pm, n_samples=100, n_proposals=500, refine=False)
    assert "eta_ka_nasal" not in fit.sampling["fixed_at_prior"]
    assert not {r["name"]: r for r in fit.parameter_table()}["eta_ka_nasal"]["uninformative"]


#: one IM dose with venous levels ~1.7x the typical patient's (the absorbed fraction route.im.f x f_iiv is capped at 1)
IM_RECORD = """ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX
9,0,0,,,,,,30,madrs,70,50,F
9,0.1,1,0.5,mg/kg,,racemic-ketamine,im,,,,,
9,0.35,0,,,,,,400,cp_ketamine_ng_ml,,,
9,0.6,0,,,,,,250,cp_ketamine_ng_ml,,,
9,1.1,0,,,,,,150,cp_ketamine_ng_ml,,,
9,2.1,0,,,,,,80,cp_ketamine_ng_ml,,,
9,24,0,,,,,,25,madrs,,,
9,168,0,,,,,,,madrs,,,
"""


def test_an_im_record_does_not_inform_the_bioavailability_effect(tmp_path):
    """(H1, thirty-third session; thirty-eighth) An IM record whose plasma levels are higher than the model gives.
    Until the thirty-eighth session an IM dose's absorbed fraction was route.im.f x f_iiv capped at 1, so exposure
    stopped rising above eta_f ~ +0.38 and the MAP sat on that kink (a fitted, one-sided eta_f). IM and SC F now carry
    no random effect (route.im.f for every patient), so an IM record says nothing about eta_f: it stays at its prior
    and is named with the parameters the record cannot inform, like eta_ka_nasal (no nasal dose); no one-sided or
    flat-Laplace warning is given for it (the flat-Laplace note: test_new_user_pass_s33's nasal record)."""
    rec = tmp_path / "im.csv"
    rec.write_text(IM_RECORD, encoding="utf-8")
    fit = fit_patient(read_record(rec), n_samples=200, n_proposals=1000)
    rows = {r["name"]: r for r in fit.parameter_table()}
    assert {"eta_f", "eta_ka_nasal"} <= set(fit.sampling["fixed_at_prior"])
    assert rows["eta_f"]["uninformative"] and "eta_f" not in fit.one_sided and not rows["eta_f"]["flat_laplace"]
    assert not any(w.startswith("eta_f: the predictions depend on it") for w in fit.warnings)
    assert "eta_ke0" not in fit.sampling["fixed_at_prior"]        # the record still informs the rest of the PK/PD
