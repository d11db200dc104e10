"""Regression tests for the first-week traps of issue 12: default output times, doses and infusion rates on the
command line and in YAML, --version / python -m ketasim / quick-form options / full help lists, one stated
patient, and the typical patient's sex."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketasim
from ketasim.cli import main, rejoin_quantities
from ketasim.errors import InputError, InvalidRegimenError, ScenarioFileError
from ketasim.output_grid import ROW_BUDGET
from ketasim.patient import Patient
from ketasim.population import Distribution, PopulationSpec, sample_patients, typical_patient
from ketasim.regimen import Dose
from ketasim.scenario import load_scenario, quick_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "examples" / "design_example.yaml"
KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}


# ---- default output times ---------------------------------------------------------------------------------------
def test_default_output_holds_dose_events_peaks_and_endpoints_at_a_size_that_suits_the_population():
    sc = load_scenario(DESIGN)
    t = sc.output_times_h()
    assert t[0] == 0.0 and t[-1] == pytest.approx(sc.horizon_h)
    for e in sc.endpoints.times_h:                                   # every endpoint time
        assert np.min(np.abs(t - e)) < 1e-6, e
    assert np.min(np.abs(t - 40 / 60)) < 1e-6                         # end of the 40-min infusion (its peak)
    for k in range(8):                                               # every esketamine dose and its Tmax range
        t0 = k * 84.0
        for off in (0.0, 0.25, 0.5, 1.0):
            assert np.min(np.abs(t - (t0 + off))) < 1e-6, (t0, off)
    rows = t.size * sc.population.size * len(sc.arms)
    assert rows < 2 * ROW_BUDGET                                     # was 678,000 rows (186 MB) every 6 h
    # a small population gets the fine grid: 5 min through the infusion, 1 h background
    fine = sc.output_times_h(10)
    assert fine.size > 3 * t.size
    assert np.all(np.isin(np.round(np.arange(0, 40 / 60 + 1e-9, 5 / 60), 9), np.round(fine, 9)))


def test_an_output_section_still_wins():
    sc = scenario_from_dict({"name": "x", "arms": {"k": [KET]}, "output": {"every": "6 h", "until": "2 d"}})
    assert np.allclose(sc.output_times_h(), np.arange(0, 49, 6.0))
    sc = scenario_from_dict({"name": "x", "arms": {"k": [KET]}, "output": ["0 h", "40 min"]})
    assert np.allclose(sc.output_times_h(5000), [0, 40 / 60])


def test_population_and_typical_files_share_the_grid_and_catch_the_infusion_peak(tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text(DESIGN.read_text().replace("size: 2000", "size: 30"), encoding="utf-8")
    pop, typ = tmp_path / "pop.csv", tmp_path / "typ.csv"
    assert main(["simulate", str(scen), "--csv", str(pop)]) == 0
    assert main(["simulate", str(scen), "--typical", "--csv", str(typ)]) == 0
    a, b = pd.read_csv(pop), pd.read_csv(typ)
    assert np.array_equal(np.unique(a["time_h"]), np.unique(b["time_h"]))
    k = b[b["arm"] == "ketamine"]
    peak_file = k["cp_ketamine_ng_ml"].max()
    fine = ketasim.simulate(load_scenario(scen), typical=True, output_times_h=np.arange(0, 3, 1 / 60))
    peak_fine = fine.trajectories().query("arm == 'ketamine'")["cp_ketamine_ng_ml"].max()
    assert peak_file == pytest.approx(peak_fine, rel=0.01)          # the 40-min peak (~174 ng/mL), not 22


def test_help_says_how_the_output_is_chosen_and_lists_everything(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["simulate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "output: {every:" in out and "--typical use the same times" in out
    for word in ("racemic-ketamine", "esketamine", "arketamine", "placebo", "midazolam", "oral-antidepressant",
                 "iv-infusion", "iv-bolus", "intranasal", "sublingual", "oral", "ampa_block", "mtor_block",
                 "spine_block", "hnk_weight", "psychotherapy", "clarithromycin", "rifampicin", "caps5", "--age",
                 "--sex", "--comedication", "--baseline", "--scale"):
        assert word in out, word


# ---- doses and infusion rates -------------------------------------------------------------------------------------
def test_unquoted_units_are_joined_to_their_number():
    assert rejoin_quantities(["simulate", "--dose", "0.5", "mg/kg", "--duration", "40", "min", "--every", "3.5", "d"]) \
        == ["simulate", "--dose", "0.5 mg/kg", "--duration", "40 min", "--every", "3.5 d"]
    assert rejoin_quantities(["simulate", "x.yaml", "--dose", "56mg"]) == ["simulate", "x.yaml", "--dose", "56mg"]
    assert rejoin_quantities(["simulate", "--dose", "0.5", "s.yaml"]) == ["simulate", "--dose", "0.5", "s.yaml"]
    assert rejoin_quantities(["simulate", "--dose=0.5", "mg/kg", "x"]) == ["simulate", "--dose=0.5 mg/kg", "x"]
    assert rejoin_quantities(["simulate", "--dose"]) == ["simulate", "--dose"]


def test_cli_accepts_unquoted_doses_and_infusion_rates(tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5", "mg/kg", "--csv", str(a)]) == 0
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5 mg/kg", "--csv", str(b)]) == 0
    # 0.75 mg/kg/h for 40 min = 0.5 mg/kg
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.75", "mg/kg/h", "--duration", "40",
                 "min", "--csv", str(c)]) == 0
    da, db, dc = (pd.read_csv(p) for p in (a, b, c))
    pd.testing.assert_frame_equal(da, db)
    np.testing.assert_allclose(dc["cp_ketamine_ng_ml"], da["cp_ketamine_ng_ml"], rtol=1e-6, atol=1e-9)


def test_a_rate_without_duration_and_a_split_dose_give_helpful_one_line_errors(capsys, tmp_path):
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5 mg/kg/h"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "infusion rate" in err and "--duration" in err
    # a unit that is not a unit word still gets a pointed message, not "not both"
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5", "mg/kg!"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--dose '0.5 mg/kg!'" in err
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--weight", "70", "kg"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "looks like a unit" in err and "--weight" in err


def test_yaml_rate_is_dose_times_duration_and_is_validated():
    d = Dose.from_mapping({"drug": "ketamine", "route": "iv-infusion", "rate": "0.75 mg/kg/h", "duration": "40 min"})
    assert d.per_kg and d.amount == pytest.approx(0.5) and d.duration_h == pytest.approx(2 / 3)
    d = Dose.from_mapping({"drug": "ketamine", "route": "iv-infusion", "dose": "30 mg/h", "duration": "90 min"})
    assert not d.per_kg and d.amount == pytest.approx(45.0)
    bad = [({"rate": "0.5 mg/kg/h"}, "duration"), ({"rate": "0.5 mg/kg/h", "duration": "1 h", "dose": "1 mg"}, "not both"),
           ({"rate": "0.5 mg/kg/h", "duration": "1 h", "route": "intranasal"}, "iv-infusion"),
           ({"rate": "0.5 m/h", "duration": "1 h"}, "not an infusion rate"),
           ({"rate": "-1 mg/kg/h", "duration": "1 h"}, "> 0"),
           ({"rate": "20 mg/kg/h", "duration": "1 h"}, "refused")]
    for extra, msg in bad:
        line = {"drug": "ketamine", "route": "iv-infusion", **extra}
        with pytest.raises(InvalidRegimenError, match=msg):
            Dose.from_mapping(line, "arms.k[0]")


# ---- version, python -m, quick form -----------------------------------------------------------------------------
def test_version_and_python_dash_m(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ketasim {ketasim.__version__}"
    proc = subprocess.run([sys.executable, "-m", "ketasim", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == f"ketasim {ketasim.__version__}"


def test_quick_form_patient_options_reach_the_simulation(tmp_path):
    base, opt = tmp_path / "base.csv", tmp_path / "opt.csv"
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--csv", str(base)]) == 0
    assert main(["simulate", "--drug", "ketamine", "--route", "oral", "--dose", "50mg", "--csv", str(opt),
                 "--comedication", "clarithromycin", "--baseline", "30", "--scale", "hamd17", "--age", "30",
                 "--sex", "male"]) == 0
    df = pd.read_csv(opt)
    assert df["score"].iloc[0] == pytest.approx(30.0)
    sc = quick_scenario("ketamine", "oral", "50 mg", baseline=30, scale="hamd17", age_years=30, sex="male",
                        comedications=("clarithromycin",))
    p = sc.population
    assert (p.scale, p.baseline.mean, p.age_years.mean, p.female_fraction, p.comedications) == \
        ("hamd17", 30, 30, 0.0, ("clarithromycin",))
    no_inhibitor = quick_scenario("ketamine", "oral", "50 mg")
    auc = [np.trapezoid(r.trajectories()["cp_ketamine_ng_ml"], r.trajectories()["time_h"])
           for r in (ketasim.simulate(s, typical=True, output_times_h=np.arange(0, 24, 0.05)) for s in (sc, no_inhibitor))]
    assert auc[0] > 1.5 * auc[1]                                        # the CYP3A4 inhibitor raises oral exposure
    with pytest.raises(InputError, match="^sex: "):
        quick_scenario("ketamine", "oral", "50 mg", sex="x")


# ---- one stated patient -------------------------------------------------------------------------------------------
def test_patient_in_python_and_in_yaml_is_that_patient_with_typical_random_effects():
    pt = Patient(weight_kg=70, age_years=30, sex="male", baseline=30, crp_mg_l=1.0, genotype="val/met")
    sc = ketasim.patient_scenario(pt, [KET], endpoints={"times": ["24 h"]})
    res = ketasim.simulate(sc)
    assert res.typical and res.runs[0].patients.n == 1
    pts = res.runs[0].patients
    assert (pts.weight_kg[0], pts.age_years[0], bool(pts.female[0]), pts.baseline[0], pts.crp_mg_l[0]) == (70, 30, False, 30, 1.0)
    assert np.all(pts.eta_cl == 0) and np.all(pts.eta_emax == 0)
    yaml_sc = scenario_from_dict({"name": "p", "patient": {"weight_kg": 70, "age_years": 30, "sex": "male",
                                                           "baseline": 30, "crp_mg_l": 1.0, "genotype": "val/met"},
                                  "arms": {"regimen": [KET]}, "endpoints": {"times": ["24 h"]}})
    pd.testing.assert_frame_equal(ketasim.simulate(yaml_sc).trajectories(), res.trajectories())
    with pytest.raises(ScenarioFileError, match="not both"):
        scenario_from_dict({"name": "p", "patient": {"weight_kg": 70}, "population": {"size": 3}, "arms": {"a": [KET]}})
    with pytest.raises(ScenarioFileError, match="patient.weight"):
        scenario_from_dict({"name": "p", "patient": {"weight": 70}, "arms": {"a": [KET]}})
    with pytest.raises(InputError, match="patient.weight_kg"):
        Patient(weight_kg=500)
    with pytest.raises(InputError, match="patient.sex"):
        Patient(sex="x")                # 'f' / 'F' / 'Female' are read as female (as a record's SEX column)


def test_a_size_one_population_is_a_random_draw_and_the_typical_sex_is_the_majority():
    params = ketasim.load_parameters()
    one = sample_patients(PopulationSpec(size=1), params, 3)
    assert one.eta_cl[0] != 0.0                                         # documented: a draw, not the typical patient
    assert bool(typical_patient(PopulationSpec(female_fraction=0.5), params).female[0])
    assert bool(typical_patient(PopulationSpec(female_fraction=0.55), params).female[0])
    assert not bool(typical_patient(PopulationSpec(female_fraction=0.4), params).female[0])


def test_truncated_covariates_do_not_pile_up_at_the_bounds():
    params = ketasim.load_parameters()
    p = sample_patients(PopulationSpec(size=20000, age_years=Distribution(20.0, 12.0)), params, 5)
    assert p.age_years.min() >= 18.0 and np.mean(p.age_years == 18.0) == 0.0   # clipping put ~43 % at 18 y
    assert np.mean(p.age_years < 19.0) < 0.1


def test_dashboard_default_patient_is_the_cli_typical_patient():
    pytest.importorskip("starlette")
    from ketasim.scenario import DEFAULT_BASELINE
    from ketasim.web.api import default_form

    params = ketasim.load_parameters()
    pat = default_form()["patient"]
    typ = typical_patient(load_scenario(DESIGN).population, params)
    assert pat["crp_mg_l"] == pytest.approx(float(typ.crp_mg_l[0]))
    assert pat["weight_kg"] == typ.weight_kg[0] and pat["age_years"] == typ.age_years[0]
    assert pat["sex"] == ("female" if typ.female[0] else "male")
    assert pat["baseline"] == DEFAULT_BASELINE["madrs"][0] == typ.baseline[0]
