"""Calibration and qualification against reference/clinical_calibration.csv."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ketasim import load_parameters
from ketasim.calibration import (SPREAD_KINDS, TRIALS, build_targets, calibrate, predictions, qualification_summary, qualify,
                                 read_rows, write_parameter_set)
from ketasim.parameters import load_parameters as _load

from _support import scenarios_without_pool


def test_targets_come_only_from_the_calibration_file():
    rows = read_rows()
    shared = read_rows("../shared/reference/clinical_calibration.csv") if __import__("os").path.exists(
        "../shared/reference/clinical_calibration.csv") else rows
    assert rows == shared                       # the packaged copy is unmodified
    targets, skipped = build_targets()
    primary = [t for t in targets if t.kind not in SPREAD_KINDS]
    assert len(primary) + len(skipped) == len(rows)   # every row is either a target or listed with a reason
    for t in primary:
        if t.kind not in ("nausea_diff", "cadss_gt4"):     # these combine two rows (difference, range)
            assert t.observed == pytest.approx(float(rows[t.row]["value"]))
    # spread targets: the SD implied by the row's own SD, or SE x sqrt(n), of a mean or mean change
    spreads = [t for t in targets if t.kind in SPREAD_KINDS]
    assert len(spreads) > 20
    for t in spreads:
        r = rows[t.row]
        implied = float(r["spread"]) * (t.n ** 0.5 if r["spread_kind"] == "SE" else 1.0)
        assert t.observed == pytest.approx(implied) and t.se == pytest.approx(implied / (2 * (t.n - 1)) ** 0.5)
        assert t.se > 0 and t.trial in TRIALS
    assert all(reason for *_, reason in skipped)


def test_every_calibration_trial_has_a_scenario_file():
    import ketasim
    from ketasim.calibration import POOL_FILES, SCENARIOS

    for file, arms, _ in TRIALS.values():
        assert (SCENARIOS / file).exists()
        for spec in arms.values():       # 'OTHER.yaml::arm': an arm from another scenario file of the same trial
            for part in spec.split(POOL_FILES):
                part_file, part_spec = part.split("::", 1) if "::" in part else (file, part)
                assert (SCENARIOS / part_file).exists(), spec
                names = {a.name for a in ketasim.load_scenario(SCENARIOS / part_file).arms}
                for arm in part_spec.partition(":")[0].split("|"):
                    assert arm.partition("@")[0] in names, (spec, arm)


def test_transform2_has_its_own_design_probability_and_the_pooled_analyses_weight_both_trials():
    """TRANSFORM-1 was randomized 1:1:1 (chance of esketamine 2/3: the share of transform.yaml's arms), TRANSFORM-2
    1:1 (transform2.yaml states p_active 0.5). TRANSFORM-2's rows come from its own file; the pooled analyses'
    esketamine arms weight TRANSFORM-1 : TRANSFORM-2 as 229 : 114 patients (2:1) and the placebo arms 113 : 109
    (1:1); TRANSFORM-2's flexible dose weights 56 : 84 mg as 1:2 (its mode dose). All stay in one
    cross-validation group (they share patients)."""
    import ketasim
    from ketasim import calibration as cal

    t1, t2 = (ketasim.load_scenario(cal.SCENARIOS / f) for f in ("transform.yaml", cal.TRANSFORM2))
    assert t1.population.p_active == pytest.approx(2 / 3) and len(t1.arms) == 3
    assert t2.population.p_active == 0.5
    assert cal.scenario_groups()["transform"] == ["transform2_popova2019", "transform1_fedgchin2019",
                                                  "transform12_pooled_sex", "transform_pooled_turkoz2021"]
    targets, _ = cal.build_targets()
    sims = cal.simulate_calibration_arms(load_parameters(), [t for t in targets if t.trial.startswith("transform")],
                                         20, 5)

    def weight_by_file_and_dose(spec):
        out = {}
        for s, mask, w in cal._select(sims, "transform.yaml", spec):
            key = next(k for k, v in sims.items() if v is s)
            out[key] = out.get(key, 0.0) + w * mask.sum()
        return out

    t2_rows = [t for t in targets if t.trial == "transform2_popova2019" and t.kind == "response"]
    w = weight_by_file_and_dose(next(t.model_arm for t in t2_rows if t.arm == "esketamine+AD"))
    assert {k[0] for k in w} == {cal.TRANSFORM2}
    assert w[(cal.TRANSFORM2, "esketamine-84mg+AD")] == pytest.approx(2 * w[(cal.TRANSFORM2, "esketamine-56mg+AD")])
    pooled = [t for t in targets if t.trial == "transform_pooled_turkoz2021"]
    for arm, ratio in (("ESK+AD", 2.0), ("AD+PBO", 1.0)):
        w = weight_by_file_and_dose(next(t.model_arm for t in pooled if t.arm == arm))
        by_file = {f: sum(v for (g, _), v in w.items() if g == f) for f in ("transform.yaml", cal.TRANSFORM2)}
        assert by_file["transform.yaml"] == pytest.approx(ratio * by_file[cal.TRANSFORM2], rel=0.01), arm


def test_a_weight_in_an_arm_spec_counts_like_repeated_patients():
    """'a@2' weights arm a's patients as if each were there twice: the pooled mean, rate and SD equal those of the
    arm pooled with itself (the weighted variance is the variance of the repeated sample)."""
    from ketasim import calibration as cal

    targets, _ = cal.build_targets()
    p = load_parameters()
    rows = [t for t in targets if t.trial == "transform1_fedgchin2019" and t.kind == "response"][:1]
    rows += [t for t in targets if t.trial == "transform12_pooled_sex" and t.kind == "sd_change"][:1]
    sims = cal.simulate_calibration_arms(p, [t for t in targets if t.trial.startswith("transform")], 20, 5)
    for t in rows:
        arm = "esketamine-56mg+AD"
        once = dataclasses.replace(t, model_arm=f"{arm}@2|placebo+AD")
        twice = dataclasses.replace(t, model_arm=f"{arm}|{arm}|placebo+AD")
        plain = dataclasses.replace(t, model_arm=f"{arm}|placebo+AD")
        assert cal.predict(once, sims, p) == pytest.approx(cal.predict(twice, sims, p), rel=1e-12)
        assert cal.predict(once, sims, p) != pytest.approx(cal.predict(plain, sims, p), rel=1e-6)


def test_label_over65_rows_rest_on_a_population_of_older_patients():
    """The label's >= 65 y BP-outlier rows (TRANSFORM-3's columns of label Table 6) are simulated from an older
    population of their own (spravato_label_over65.yaml, 65-86 y), every virtual patient counted, instead of the
    few >= 65 y patients of the 46-y label population (8 of 120: the placebo SBP >= 180 row moved with the seed from
    0.3 to 7.7 %). The < 65 y rows still come from the label scenario. The file is simulated with the label's own
    cross-validation fold (scenario_groups), so leaving the label out leaves these rows out too."""
    from ketasim import calibration as cal

    targets = [t for t in build_targets()[0] if t.trial == "spravato_label_trd" and t.kind in
               ("sbp180", "sbp_rise40", "dbp_rise25", "dbp110")]
    old = [t for t in targets if ">=65y" in t.arm]
    young = [t for t in targets if "<65y" in t.arm]
    assert len(old) >= 4 and young
    assert all(t.model_arm.startswith(cal.LABEL_OVER65 + "::") for t in old)
    assert not any("::" in t.model_arm for t in young)
    size = 30
    sims = cal.simulate_calibration_arms(load_parameters(), targets, size, 3)
    for t in old:
        (s, mask, weight), = cal._select(sims, cal.TRIALS[t.trial][0], t.model_arm)
        assert mask.sum() == size and np.all(s.age >= 65) and np.all(s.age <= 86)
    for t in young:
        (s, mask, weight), = cal._select(sims, cal.TRIALS[t.trial][0], t.model_arm)
        assert 0 < mask.sum() <= size and np.all(s.age[mask] < 65)
    assert "spravato_label_trd" in cal.scenario_groups()["spravato_label"]


def test_small_calibration_is_deterministic_and_improves(tmp_path):
    p0 = load_parameters()
    names = ["placebo_gain", "emax_drug"]
    kw = dict(size=40, seed=5, max_evaluations=6, names=names, log=lambda *_: None)
    new1, rep1 = calibrate(p0, **kw)
    new2, rep2 = calibrate(p0, **kw)
    assert rep1["objective"] == rep2["objective"]
    assert {k: new1.free[k].value for k in names} == {k: new2.free[k].value for k in names}
    assert rep1["objective_fitted"] <= rep1["objective_fitted_start"] + 1e-9      # in the fit's own row weights
    out = write_parameter_set(new1, rep1, tmp_path / "free.json")
    data = json.loads(out.read_text())
    assert data["calibration_run"] == new1.calibration_run
    assert "rows_used" in data["provenance"] and data["provenance"]["seed"] == 5
    assert data["parameters"]["placebo_gain"]["fitted"] is True
    assert data["parameters"]["cadss_max"]["fitted"] is False
    reloaded = _load(str(out))
    assert reloaded.free["emax_drug"].value == pytest.approx(new1.free["emax_drug"].value, rel=1e-5)


def test_default_parameter_set_names_its_calibration_run():
    p = load_parameters()
    assert p.calibration_run
    for prm in p.free.values():
        assert prm.unit and prm.source.startswith("calibration")


def test_qualification_report(tmp_path):
    rows, skipped = qualify(size=150, seed=3)
    s = qualification_summary(rows)
    assert s["rows"] == len(rows) > 100
    assert 0 <= s["inside_interval"] <= 1
    assert all(r["lo"] <= r["predicted"] <= r["hi"] for r in rows)
    preds = predictions(load_parameters(), build_targets()[0], size=150, seed=3)
    assert np.allclose(preds, [r["predicted"] for r in rows])


def test_calibration_never_overwrites_the_shipped_set_and_stores_a_posterior(tmp_path, monkeypatch):
    from ketasim import calibration as cal
    from ketasim.errors import InputError

    shipped = cal.default_free_parameters_path()
    before = shipped.read_bytes()
    with pytest.raises(InputError, match="shipped default"):
        __import__("ketasim.app").app.calibrate_cli(out=str(shipped), size=20, seed=5, max_evaluations=1)
    assert shipped.read_bytes() == before
    names = ["placebo_gain", "emax_drug"]
    new, rep = calibrate(load_parameters(), size=40, seed=5, max_evaluations=4, names=names, log=lambda *_: None)
    post = rep["posterior"]
    assert post["names"] == names and np.all(np.linalg.eigvalsh(np.array(post["covariance_theta"])) > 0)
    assert all(0.0 <= v <= 1.0 for v in post["information_share"].values())
    out = write_parameter_set(new, rep, tmp_path / "free.json")
    loaded = _load(str(out))
    assert loaded.posterior["names"] == names
    draws = cal.sample_parameter_sets(loaded, 50, 1)
    vals = np.array([d.free["placebo_gain"].value for d in draws])
    lo, hi = cal.FITTED["placebo_gain"][1:3]
    assert np.all((vals >= lo) & (vals <= hi)) and vals.std() > 0
    assert shipped.read_bytes() == before


def test_cross_validation_predicts_a_left_out_trial_from_a_fit_that_did_not_see_it(tmp_path):
    from ketasim import calibration as cal

    seen = []
    real = cal.calibrate

    def spy(*a, **kw):
        seen.append(tuple(kw.get("exclude_trials", ())))
        return real(*a, **kw)

    cal.calibrate = spy
    try:
        cv = cal.cross_validate(load_parameters(), size=30, max_evaluations=2, qual_size=60, parameter_draws=3,
                                groups=["berman2000"], log=lambda *_: None)
    finally:
        cal.calibrate = real
    assert seen == [(), ("berman2000",)]
    assert cv["out_of_sample"] and all(r["trial"] == "berman2000" and r["fold"] == "berman2000" for r in cv["out_of_sample"])
    assert len(cv["in_sample"]) > len(cv["out_of_sample"])
    assert cv["folds"][0]["rows_fitted"] < len(cal.build_targets()[0])
    # issue 7 (h7i): the fold's between-trial SDs come from the fold's own trials only, and are stored
    bt, bt_all = cv["folds"][0]["between_trial"], cv["in_sample_fit"]["between_trial"]
    assert set(bt["tau"]) == set(cal.TRIAL_EFFECTS) and all(v >= 0 for v in bt["tau"].values())
    assert "berman2000" not in [t["group"] for t in bt["trials"]] and "berman2000" in [t["group"] for t in bt_all["trials"]]
    assert cv["settings"]["between_trial"] and all("inside_no_between_trial" in r for r in cv["out_of_sample"])
    # the fold's mean signed error (systematic miss vs scatter) is in its summary and in the report's fold table
    fold = cv["folds"][0]["summary"]
    pts = [r["error"] for r in cv["out_of_sample"] if r["unit"] == "points"]
    assert fold["bias_points"] == pytest.approx(np.mean(pts))
    rows, skipped = cal.qualify(trials=["berman2000"], size=30, seed=3)
    cv["summary_in_sample"] = cal.qualification_summary(cv["in_sample"])       # as app.qualify adds them
    cv["summary_out_of_sample"] = cal.qualification_summary(cv["out_of_sample"])
    html = cal.qualification_html(rows, skipped, cal.qualification_summary(rows), load_parameters(),
                                  tmp_path / "q.html", cv=cv).read_text()
    assert "mean signed error" in html and format(fold["bias_points"], "+.2f") in html
    # a fold whose implied placebo-response SD is not finite (stored as null) is shown, not a crash (thirteenth
    # session: two refit CVs lost their HTML to a TypeError after an hour of fitting)
    cv["folds"][0]["between_trial"]["implied_placebo_response_logit_sd"] = None
    html = cal.qualification_html(rows, skipped, cal.qualification_summary(rows), load_parameters(),
                                  tmp_path / "q2.html", cv=cv).read_text()
    assert "berman2000" in html


def _fold_vs_refit(trial: str = "murrough2013", **cv_options):
    """Fit placebo_gain and emax_drug on all trials and without ``trial`` (Murrough 2013 by default), and run that
    trial's fold of ``cross_validate_newton(**cv_options)``: (distance fold -> exact refit, distance full fit -> exact
    refit, cv).
    60 patients per arm (was 30): with the recurrence clock of time in response the objective at 30 is bumpier (a
    few patients' new episodes cross an endpoint as the parameters move) and the one-step fold landed no closer than
    the full optimum (0.53 vs 0.52); at 60 it lands at 0.18 vs 0.50."""
    from ketasim import calibration as cal

    names = ["placebo_gain", "emax_drug"]
    real, real_scenarios = cal.FITTED, cal.SCENARIOS
    cal.FITTED = {k: v for k, v in real.items() if k in names}
    # the model the golden set below was fitted for: the calibration scenarios without the releasable BDNF pool (on by
    # default since the twenty-ninth session; the golden set has no pool size)
    cal.SCENARIOS = scenarios_without_pool()
    try:
        # the one-step and damped folds approximate refits of the rows and the prior alone (they do not carry the
        # literature directions' one-sided residuals), so the exact refits they are compared with leave them out too
        quiet = dict(size=60, seed=5, names=names, log=lambda *_: None, laplace=False, ae_stage=False,
                     directions=False)
        # from the parameter set this check was sized on (the shipped set until the eighth session of 2026-12-01):
        # from the constrained procedure's set the one-step fold lands farther from the refit than the full optimum
        # at 60 patients per arm (0.17 vs 0.065; damped 0.11), a limit of the approximate CVs recorded in NOTES.md
        golden = str(Path(__file__).parent / "data" / "free_parameters_golden.json")
        # and with the CRP moderation of the drug effect it was sized with (0.6; none since the forty-fourth session)
        golden_model = load_parameters(golden).with_literature({"pd.crp.moderation": 0.6})
        full, _ = cal.calibrate(golden_model, max_evaluations=40, **quiet)
        exact, _ = cal.calibrate(full, max_evaluations=40, exclude_trials=cal.scenario_groups()[trial], **quiet)
        cv = cal.cross_validate_newton(full, size=60, seed=5, qual_size=40, parameter_draws=0,
                                       groups=[trial], log=lambda *_: None, **cv_options)
    finally:
        shutil.rmtree(cal.SCENARIOS.parent, ignore_errors=True)
        cal.FITTED, cal.SCENARIOS = real, real_scenarios
    th = lambda p: cal._to_theta(p, names)          # noqa: E731
    approx = np.array([cal._fwd(n, cv["folds"][0]["fitted"][n]) for n in names])
    return np.linalg.norm(approx - th(exact)), np.linalg.norm(th(full) - th(exact)), cv


def test_newton_cross_validation_approximates_the_refit_without_the_trial():
    """The one-step fold (removing the left-out rows' pull from the optimum) lands closer to the exact refit
    without that trial than the full-data optimum does. Feder 2021's fold (0.0012 vs 0.006): since Singh 2016's
    open-label rows are its open-label phase (seventeenth session) the two-parameter fit holds emax_drug on its upper
    bound; the one-step fold keeps such a parameter there (active set), as the exact refit does; without that it
    moved it by the bound's push and landed farther (0.035; Singh's fold 1.12 vs 0.46, now 0.45). Murrough's fold
    was a limit of the one-step approximation before (0.22 vs 0.14; NOTES.md); the refit CV is the reference."""
    fold_error, full_error, cv = _fold_vs_refit("feder2021")
    assert fold_error < full_error
    assert all(r["trial"] == "feder2021_ptsd" and r["fold"] == "feder2021" for r in cv["out_of_sample"])


def test_damped_cross_validation_approximates_the_refit_and_never_sees_the_trial():
    """--cv-method damped (issue 7): checked Levenberg-Marquardt steps on the fold's own objective also land closer
    to the exact refit without the trial than the full-data optimum, and predict only the left-out trial."""
    fold_error, full_error, cv = _fold_vs_refit(damped_evaluations=4)
    assert fold_error < full_error
    assert all(r["trial"] == "murrough2013_ajp" and r["fold"] == "murrough2013" for r in cv["out_of_sample"])
    assert cv["settings"]["method"].startswith("damped")


def test_protein_gain_is_a_scale_the_score_does_not_see():
    """Why calibration.SCALE_FIXED holds protein_gain (issue 7): the score depends on it only through
    weight_protein x protein_gain and spine_gain x protein_gain, so doubling it and halving weight_protein and
    spine_gain gives the same score (to rounding), while the synaptic-protein level itself does change. (spine_gain
    x protein_gain, the size of the new-spine rise against the spines lost to stress that consolidation can at most
    restore, is only weakly informed by the data and held at its hand-set value.)"""
    from ketasim import simulate
    from ketasim.scenario import scenario_from_dict

    sc = scenario_from_dict({"name": "scale", "population": {"size": 1},
                             "arms": {"k": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                             "duration": "40 min", "every": "3.5 d", "count": 3}]}})
    p = load_parameters()
    f = {n: p.free[n].value for n in ("protein_gain", "spine_gain", "weight_protein")}
    q = p.with_free({"protein_gain": 2 * f["protein_gain"], "weight_protein": f["weight_protein"] / 2,
                     "spine_gain": f["spine_gain"] / 2}, p.free_version, "scaled")
    t = np.array([0.0, 2.0, 24.0, 96.0, 240.0, 600.0])
    a = simulate(sc, p, typical=True, output_times_h=t).trajectories()
    b = simulate(sc, q, typical=True, output_times_h=t).trajectories()
    assert np.allclose(a["score"], b["score"], rtol=1e-9, atol=1e-9)
    assert np.allclose(a["spine_density"], b["spine_density"], rtol=1e-9, atol=1e-9)
    assert a["score"].iloc[-2] < a["score"].iloc[0] - 1.0            # not vacuous: the drug acts
    assert not np.allclose(a["synaptic_proteins"], b["synaptic_proteins"])


def test_a_full_calibration_holds_the_scale_gains_at_their_prior_centres():
    import ketasim.calibration as cal

    new, rep = calibrate(load_parameters(), size=30, seed=5, max_evaluations=1, laplace=False, ae_stage=False,
                         log=lambda *_: None)
    for n in cal.SCALE_FIXED:
        assert n not in rep["fitted"] and n not in rep["prior"]
        assert new.free[n].value == pytest.approx(cal.FITTED[n][3])
    assert "weight_protein" in rep["fitted"] and "consolidation_gain" in rep["fitted"]


def test_transform_esketamine_arms_start_at_56_mg_on_day_1():
    """TRANSFORM-1/-2 (and the label): every esketamine patient got 56 mg on day 1; the 84-mg arm 84 mg from day 4.
    Eight sessions twice weekly in both arms."""
    import ketasim
    from ketasim.calibration import SCENARIOS

    sc = ketasim.load_scenario(SCENARIOS / "transform.yaml")
    for arm in sc.arms:
        if not arm.name.startswith("esketamine"):
            continue
        admin = [a for a in arm.administrations() if a.drug.value == "esketamine"]
        assert len(admin) == 8, arm.name
        assert admin[0].start_h == 0.0 and admin[0].amount == 56.0, arm.name
        assert {a.amount for a in admin[1:]} == {56.0 if "56" in arm.name else 84.0}, arm.name


def test_partial_refit_keeps_the_rest_of_the_set_and_records_the_run(tmp_path, monkeypatch):
    """`ketasim calibrate --names omega_bp` (the way omega_bp and the adverse-event stage were refitted after the
    NHANES baseline BP, 2026-12-01): the written set is the default set with only the refitted parameters (and the
    AE stage's gains/backgrounds) changed; the efficacy parameters, the posterior's covariance and the full fit's
    provenance stay; the run (command, seed, size, date, objective) is appended to provenance.refits, named in the
    set's calibration_run and in each refitted parameter's note; the posterior's mode moves to the new values."""
    from ketasim import app
    from ketasim import calibration as cal

    base = json.loads(cal.default_free_parameters_path().read_text(encoding="utf-8"))
    out = tmp_path / "refit.json"
    app.calibrate_cli(out=str(out), size=20, seed=5, max_evaluations=3, names="omega_bp")
    data = json.loads(out.read_text(encoding="utf-8"))
    refit = data["provenance"]["refits"][-1]
    assert refit["command"].startswith("ketasim calibrate --names omega_bp --size 20 --seed 5")
    assert refit["seed"] == 5 and refit["size"] == 20 and refit["date"]
    assert "names=omega_bp+ae" in refit["calibration_run"] and refit["calibration_run"] in data["calibration_run"]
    assert data["calibration_run"].startswith(base["calibration_run"].split("; refit:")[0])
    changed = set(refit["names"])
    assert "omega_bp" in changed and {n for n in changed if n != "omega_bp"} <= set(cal.AE_FITTED)
    for name, entry in data["parameters"].items():
        old = base["parameters"][name]
        if name in changed:
            assert entry["value"] == refit["values_after"][name] and "partial refit" in entry["note"]
            assert entry["note"].count("[partial refit") == 1
        else:
            assert entry == old, name                     # efficacy parameters untouched
    assert data["posterior"]["covariance_theta"] == base["posterior"]["covariance_theta"]
    i = data["posterior"]["names"].index("omega_bp")
    assert data["posterior"]["mode_theta"][i] == pytest.approx(np.log(refit["values_after"]["omega_bp"]), rel=1e-5)
    assert data["provenance"]["rows_used"] == base["provenance"]["rows_used"]
    reloaded = _load(str(out))
    assert reloaded.free["omega_bp"].value == pytest.approx(refit["values_after"]["omega_bp"])


def test_partial_refit_refuses_an_unknown_name_in_one_line(capsys, tmp_path):
    from ketasim.cli import main

    code = main(["calibrate", "--names", "omega_bp,not_a_parameter", "--size", "5", "--max-evaluations", "1",
                 "--out", str(tmp_path / "p.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --names: not_a_parameter")
    assert not (tmp_path / "p.json").exists()
