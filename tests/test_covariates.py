"""Covariate effects (`ketasim covariates`, ketasim.covariates): the same virtual patients at a test and a reference
level of one covariate. Checks: the directions the sources report, exact pairing arithmetic, agreement with an
independent `simulate --pk` run of the same patients, the typical patient, and one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from _support import one_error_line, run_cli
from ketasim.covariates import NO_EFFECT_BOUNDS, parse_contrast, run_covariates
from ketasim.errors import InputError
from ketasim.parameters import load_parameters
from ketasim.scenario import quick_scenario, scenario_from_dict

N = 60


def _row(df, contrast, endpoint, analyte=""):
    r = df[(df["contrast"] == contrast) & (df["endpoint"] == endpoint) & (df["analyte"] == analyte)]
    assert len(r) == 1, (contrast, endpoint, analyte)
    return r.iloc[0]


@pytest.fixture(scope="module")
def nasal():
    sc = quick_scenario("esketamine", "intranasal", "56 mg", size=N)
    return run_covariates(sc, n=N, contrasts=["comedication=rifampicin", "comedication=clarithromycin",
                                              "comedication=itraconazole", "weight=55:80", "genotype=met/met",
                                              "crp=10:1", "sex=female"],
                          endpoints=["cmax", "auc_0_inf", "cadss_peak", "response_rate@24h"]).table()


def test_inducers_lower_and_inhibitors_raise_exposure_as_published(nasal):
    """Rifampicin lowers ketamine exposure (Noppers 2011, doi:10.1016/j.pain.2010.12.015: oral S-ketamine AUC -86 %;
    IV -10 %), clarithromycin raises it (Hagelberg 2010, PMID 19897389: oral S-ketamine AUC x2.6) and itraconazole
    leaves it (Peltoniemi 2011, doi:10.1038/clpt.2011.140: no increase): the ratio's whole 90 % CI on the published
    side of 1, itraconazole's ratio within 1 %. More exposure, more dissociation."""
    rif = _row(nasal, "+ rifampicin", "auc_0_inf", "s-ketamine")
    cla = _row(nasal, "+ clarithromycin", "auc_0_inf", "s-ketamine")
    itr = _row(nasal, "+ itraconazole", "auc_0_inf", "s-ketamine")
    assert rif["ci90_high"] < 1.0 < cla["ci90_low"]
    assert abs(itr["value"] - 1.0) < 0.01
    assert _row(nasal, "+ clarithromycin", "cadss_peak")["ci90_low"] > 0 > _row(nasal, "+ rifampicin", "cadss_peak")["ci90_high"]


def test_a_flat_dose_exposes_a_lighter_patient_more(nasal):
    """A fixed 56-mg nasal dose in 55 vs 80 kg: volumes scale with weight, so Cmax rises (its CI above 1); sex, a
    PK covariate too, moves it (female clearance +20 %, parameters.csv), while the BDNF genotype changes relief only
    (ratios exactly 1) and lowers it as its source reports (Met carriers respond less, Laje 2012). CRP changes
    nothing by default (pd.crp.moderation 0 since the forty-fourth session: no study supports a weaker drug effect
    at high CRP; until then CRP >= 3 mg/L removed most of it, an assumption scaled to Chen 2024)."""
    assert _row(nasal, "weight 55 vs 80 kg", "cmax", "s-ketamine")["ci90_low"] > 1.0
    assert _row(nasal, "female vs male", "auc_0_inf", "s-ketamine")["ci90_high"] < 1.0
    for c in ("BDNF met/met vs val/val", "CRP 10 vs 1 mg/L"):
        assert _row(nasal, c, "auc_0_inf", "s-ketamine")["value"] == pytest.approx(1.0, abs=1e-12)
        assert _row(nasal, c, "cadss_peak")["value"] == pytest.approx(0.0, abs=1e-9)
    assert _row(nasal, "BDNF met/met vs val/val", "response_rate@24h")["ci90_high"] < 0.0
    crp = _row(nasal, "CRP 10 vs 1 mg/L", "response_rate@24h")
    assert crp["value"] == 0.0 and crp["ci90_low"] == crp["ci90_high"] == 0.0


def test_paired_ratio_is_the_ratio_of_geometric_means(nasal):
    """The same patients at both levels: the paired geometric mean ratio exp(mean log(x/y)) equals GM(x)/GM(y)
    exactly (every value finite), and a difference equals the difference of the levels' means."""
    pk = nasal[nasal["statistic"] == "geometric mean ratio"]
    np.testing.assert_allclose(pk["value"], pk["test_value"] / pk["reference_value"], rtol=1e-9)
    d = nasal[nasal["statistic"] == "mean difference"]
    np.testing.assert_allclose(d["value"], d["test_value"] - d["reference_value"], rtol=1e-9, atol=1e-9)
    assert (nasal["n"] == N).all()


def test_the_test_level_is_the_population_with_the_covariate_written_in():
    """The comedication level's patients are the scenario's own: their geometric mean Cmax equals that of an
    independent `simulate --pk` run (nca.scenario_pk) of the same scenario with the comedication in its
    population (same seed, same patients)."""
    from ketasim.nca import COLUMNS, scenario_pk
    from scipy import stats

    base = {"name": "ddi", "seed": 5, "population": {"size": N},
            "arms": {"oral": [{"drug": "esketamine", "route": "oral", "dose": "20 mg"}]}}
    res = run_covariates(scenario_from_dict(base), n=N, contrasts=["comedication=clarithromycin"],
                         endpoints=["cmax"]).table()
    with_it = scenario_from_dict({**base, "population": {"size": N, "comedications": ["clarithromycin"]}})
    pk = scenario_pk(with_it, load_parameters())
    gm = stats.gmean(pk[pk["analyte"] == "s-ketamine"][COLUMNS["cmax"]])
    assert _row(res, "+ clarithromycin", "cmax", "s-ketamine")["test_value"] == pytest.approx(gm, rel=1e-12)
    # oral: the inhibitor acts on the gut wall and the liver, far more than after a nasal dose
    assert _row(res, "+ clarithromycin", "cmax", "s-ketamine")["value"] > 1.5


def test_typical_patient_has_ratios_without_intervals():
    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")
    res = run_covariates(sc, typical=True, contrasts=["age=70:45"], endpoints=["auc_0_inf", "mean_change@24h"])
    df = res.table()
    assert (df["n"] == 1).all() and df["ci90_low"].isna().all()
    assert _row(df, "age 70 vs 45 y", "auc_0_inf", "s-ketamine")["value"] > 1.0     # older: lower liver blood flow
    assert "typical patient" in res.format_table()


def test_placebo_arm_runs_its_effects_without_exposure():
    sc = scenario_from_dict({"name": "p", "seed": 1, "population": {"size": 20},
                             "arms": {"saline": [{"drug": "saline", "route": "iv-infusion", "dose": "0 mg",
                                                  "duration": "40 min"}]}})
    df = run_covariates(sc, n=20, contrasts=["age=70:45"]).table()
    assert set(df["statistic"]) == {"mean difference"}
    assert _row(df, "age 70 vs 45 y", "cadss_peak")["value"] == 0.0


@pytest.mark.parametrize("contrast, words", [
    ("age=200", "covariates: age level must lie in 18-90 y"),
    ("height=180", "covariates: unknown covariate 'height'"),
    ("age", "covariates: write a contrast as COVARIATE=TEST[:REFERENCE]"),
    ("sex=female:female", "nothing to compare"),
    ("comedication=aspirin", "covariates: unknown comedication 'aspirin'"),
    ("genotype=val/xyz", "covariates: genotype level 'val/xyz'"),
    ("weight=heavy", "covariates: weight level 'heavy' is not a number (kg)"),
])
def test_bad_contrasts_are_refused_in_one_line(contrast, words):
    from ketasim.population import PopulationSpec

    with pytest.raises(InputError, match=None) as e:
        parse_contrast(contrast, PopulationSpec(), load_parameters())
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_comedication_already_taken_cannot_be_added():
    from ketasim.population import PopulationSpec

    with pytest.raises(InputError, match="already takes rifampicin"):
        parse_contrast("comedication=rifampicin", PopulationSpec(comedications=("rifampicin for 5 d",)),
                       load_parameters())


def test_a_comedication_the_arm_takes_cannot_be_added():
    """Review R2-1: an interaction study's arm lists its inhibitor under arms.NAME.comedications; adding it again
    reported 'no effect' (x1.00: the same run twice). It is refused, naming the arm."""
    sc = scenario_from_dict({"name": "ddi", "seed": 1, "population": {"size": 10}, "arms": {"with": {
        "doses": [{"drug": "esketamine", "route": "oral", "dose": "20 mg"}], "comedications": ["clarithromycin"]}}})
    with pytest.raises(InputError, match="^covariates: arm with already takes clarithromycin"):
        run_covariates(sc, n=10, contrasts=["comedication=clarithromycin for 2 d"])
    assert run_covariates(sc, n=10, contrasts=["comedication=rifampicin"], endpoints=["cmax"]).table()["value"].iloc[0] < 1


def test_provenance_names_the_sampled_infusion_end():
    """Review R2-2: the NCA samples a 40-min infusion's end (0.667 h); the provenance's schedule says so."""
    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min", size=5)
    res = run_covariates(sc, n=5, contrasts=["age=70:45"], endpoints=["cmax"])
    assert any(abs(t - 40 / 60) < 1e-9 for t in res.provenance["pk_sampling"]["times_h"])


def test_cli_writes_table_csv_provenance_and_forest(tmp_path, capsys):
    csv, png, page = tmp_path / "c.csv", tmp_path / "f.png", tmp_path / "r.html"
    code, out, err = run_cli(capsys, "covariates", "--drug", "esketamine", "--route", "intranasal", "--dose", "56 mg",
                             "--size", "30", "--covariate", "age=70:45,comedication=ticlopidine", "--csv", csv,
                             "--plot", png, "--report", page)
    assert code == 0, err
    assert "age 70 vs 45 y" in out and "+ ticlopidine" in out and f"{NO_EFFECT_BOUNDS[1]:.2f}" in out
    meta = json.loads((tmp_path / "c.csv.provenance.json").read_text())
    assert meta["n"] == 30 and meta["arm"] == "esketamine" and meta["model"].startswith("ketasim ")
    assert png.read_bytes()[:4] == b"\x89PNG"
    from PIL import Image

    assert "parameter_set" in Image.open(png).text["ketasim provenance"]      # review R5-3: as every figure
    html = page.read_text()
    assert 'id="ketasim-figures"' in html and "+ ticlopidine" in html and "not medical advice" in html
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("contrast,covariate,test,reference,endpoint") and len(lines) > 8


@pytest.mark.parametrize("argv, words", [
    (["--covariate", "age=200"], "error: --covariate: age level must lie in 18-90 y"),
    (["--endpoint", "tmax"], "error: --endpoint: tmax is not compared as a ratio"),
    (["--analyte", "midazolam"], "error: --analyte: arm esketamine produces no midazolam"),
    (["--arm", "other"], "error: --arm: no arm named 'other'"),
    (["--size", "0"], "error: --size"),
])
def test_cli_errors_name_the_option(capsys, tmp_path, argv, words):
    code, out, err = run_cli(capsys, "covariates", "--drug", "esketamine", "--route", "intranasal", "--dose",
                             "28 mg", *argv, "--csv", tmp_path / "c.csv")
    assert code != 0
    assert one_error_line(err).startswith(words), err
    assert not (tmp_path / "c.csv").exists()


def test_titrated_arm_is_refused():
    sc = scenario_from_dict({"name": "t", "seed": 1, "population": {"size": 10}, "arms": {"flex": {
        "doses": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "at": "0 d", "every": "3.5 d",
                   "count": 4}],
        "titration": {"doses": ["56 mg", "84 mg"], "sessions": [2, 3],
                      "increase_if": {"score_reduction_below": 0.5}}}}})
    with pytest.raises(InputError, match=r"^arms\.flex\.titration: "):
        run_covariates(sc, n=10)


def test_intervals_are_finite_and_ordered_for_a_population(nasal):
    ok = nasal["ci90_low"].notna()
    assert ok.all()
    assert (nasal["ci90_low"] <= nasal["value"] + 1e-12).all() and (nasal["value"] <= nasal["ci90_high"] + 1e-12).all()
    assert all(math.isfinite(v) for v in nasal["value"])


def test_posterior_draws_move_relief_but_not_literature_pk():
    """--uncertainty: every row recomputed under posterior draws of the calibrated parameters on the same patients.
    The PK parameters are literature values, so an exposure ratio does not move; the response difference does (the
    point value is the set's own mode: with few draws it may fall outside their 5th-95th percentiles)."""
    sc = quick_scenario("esketamine", "intranasal", "56 mg", size=40)
    res = run_covariates(sc, n=40, uncertainty=4, contrasts=["age=70:45"], endpoints=["auc_0_inf", "response_rate@24h"])
    df = res.table()
    pk = _row(df, "age 70 vs 45 y", "auc_0_inf", "s-ketamine")
    assert pk["param90_low"] == pytest.approx(pk["value"], rel=1e-12) == pk["param90_high"]
    rr = _row(df, "age 70 vs 45 y", "response_rate@24h")
    assert rr["param90_high"] - rr["param90_low"] > 0.5
    assert res.provenance["uncertainty"] == 4 and "draws" not in res.format_table().splitlines()[1]
    assert "posterior" in res.format_table()
    assert "With 4 draws the 5th-95th percentiles are nearly the extremes" in res.format_table()   # review R9-1
    with pytest.raises(InputError, match="^uncertainty: parameter draws must be a whole number from 2 to 1000"):
        run_covariates(sc, n=5, uncertainty=1)


def test_care_setting_and_treatment_resistance_change_relief_not_exposure():
    """Population-level covariates: an in-patient admission adds non-specific care relief (population.care_setting,
    issue 7) and patients who are not treatment-resistant respond more (recurrence and response of TRD); neither
    touches PK (ratio exactly 1)."""
    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min", size=40)
    df = run_covariates(sc, n=40, contrasts=["care=inpatient:outpatient", "resistant=no:yes"],
                        endpoints=["cmax", "mean_change@28d"]).table()
    for c in ("inpatient vs outpatient", "treatment-resistant no vs yes"):
        assert _row(df, c, "cmax", "s-ketamine")["value"] == pytest.approx(1.0, abs=1e-12)
        assert _row(df, c, "mean_change@28d")["ci90_high"] < 0.0      # more improvement (a larger drop)
    with pytest.raises(InputError, match="^covariates: care level 'hospital'"):
        run_covariates(sc, n=5, contrasts=["care=hospital"])
    with pytest.raises(InputError, match="^covariates: resistant level 'maybe'"):
        run_covariates(sc, n=5, contrasts=["resistant=maybe"])


def test_a_withdrawal_design_is_named_as_not_applied():
    """As sensitivity (H1, s41): the arm runs as a parallel arm of all its patients, so a randomized withdrawal's
    design is not applied, and the table says so."""
    from ketasim import load_scenario

    sc = load_scenario("examples/sustain1_like_withdrawal.yaml")
    res = run_covariates(sc, n=10, contrasts=["age=70:45"], endpoints=["mean_change@7d"])
    assert "randomized_withdrawal design" in res.provenance["design_note"]
    assert "note: the endpoint is the arm's regimen" in res.format_table()
    plain = run_covariates(quick_scenario("esketamine", "intranasal", "56 mg", size=5), n=5, contrasts=["age=70:45"],
                           endpoints=["cmax"])
    assert plain.provenance["design_note"] == "" and "note:" not in plain.format_table()


def test_the_default_panel_leaves_out_what_the_population_already_takes():
    """docs/tutorials/ddi.yaml's population takes clarithromycin: the default panel ran into 'already takes' (the
    explicit request is refused, the default set simply leaves it out)."""
    from ketasim import load_scenario

    res = run_covariates(load_scenario("docs/tutorials/ddi.yaml"), n=10, endpoints=["cmax"])
    contrasts = set(res.table()["contrast"])
    assert "+ clarithromycin" not in contrasts and "+ rifampicin" in contrasts


def test_levels_after_a_comma_take_the_covariate_before_them(capsys):
    """`--covariate weight=50,70,100` (a sweep against the population's mean) and
    `--covariate comedication=rifampicin,clarithromycin` read as one contrast per level."""
    code, out, err = run_cli(capsys, "covariates", "--drug", "esketamine", "--route", "intranasal", "--dose", "56 mg",
                             "--size", "10", "--covariate", "weight=50,70,100", "--covariate",
                             "comedication=rifampicin,clarithromycin", "--endpoint", "cmax")
    assert code == 0, err
    for c in ("weight 50 vs 80 kg", "weight 70 vs 80 kg", "weight 100 vs 80 kg", "+ rifampicin", "+ clarithromycin"):
        assert c in out, c
    code, out, err = run_cli(capsys, "covariates", "--drug", "esketamine", "--route", "intranasal", "--dose", "56 mg",
                             "--size", "10", "--covariate", "70")
    assert code != 0 and one_error_line(err).startswith("error: --covariate: write a contrast as COVARIATE=TEST")



def test_a_sweep_through_the_reference_leaves_that_level_out():
    """Review R7-1: 'weight=50,80,110' around the population's mean of 80 kg failed as a whole ('both 80: nothing to
    compare'); the sweep's level at the reference is left out, a single explicit one is still refused."""
    sc = quick_scenario("esketamine", "intranasal", "56 mg", size=10)
    df = run_covariates(sc, n=10, contrasts=["weight=50", "80", "110"], endpoints=["cmax"]).table()
    assert sorted(set(df["contrast"])) == ["weight 110 vs 80 kg", "weight 50 vs 80 kg"]
    with pytest.raises(InputError, match="both 80: nothing to compare"):
        run_covariates(sc, n=10, contrasts=["weight=80"], endpoints=["cmax"])
    with pytest.raises(InputError, match="every level is the reference itself"):
        run_covariates(sc, n=10, contrasts=["weight=80", "80"], endpoints=["cmax"])
