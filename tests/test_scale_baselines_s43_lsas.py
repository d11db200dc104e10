"""Sourced default baseline of the LSAS (forty-third session).

`ketasim plan` could not fit a record rated on the Liebowitz Social Anxiety Scale ("... has none with a published
source"): the fit's prior for the patient's true baseline is the population's baseline on the record's scale, and LSAS
had none. It now has the LSAS total at entry to group CBT for social anxiety disorder (Chen et al. 2007, BMC Psychiatry
7:69, doi:10.1186/1471-244X-7-69, Table 2, intention-to-treat n = 57, "Pre": 76.2 (25.6); not a ketamine study), with
its source beside it in population.DEFAULT_BASELINE. Each test fails on the code before the change."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import ketasim
from ketasim.cli import main
from ketasim.personal import fit_patient, forecast
from ketasim.population import DEFAULT_BASELINE, SCALES, default_baseline
from ketasim.record import record_from_csv_text
from ketasim.scenario import scenario_from_dict

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
HEADER = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
#: Chen et al. 2007 Table 2, row "LSAS (total)": (mean, SD, n) as printed, one decimal (rounding half a unit: 0.05)
TABLE_ITT = (76.2, 25.6, 57)
TABLE_COMPLETERS = (77.2, 26.1, 50)
ROUNDING = 0.05


def record_text(baseline: float, after: tuple[float, ...]) -> str:
    """A small LSAS record: a rating, one 0.5 mg/kg ketamine infusion, one or two ratings after it."""
    rows = [f"1,0,0,,,,,,{baseline:g},lsas,80,35,F",
            "1,0.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,"]
    rows += [f"1,{t},0,,,,,,{v:g},lsas,,," for t, v in zip((24.5, 72.0), after)]
    return HEADER + "\n".join(rows) + "\n"


def ratings() -> tuple[float, tuple[float, ...]]:
    """Baseline a little above the sourced mean, then partial relief (LSAS points)."""
    m, sd = DEFAULT_BASELINE["lsas"]
    base = round(m + 0.3 * sd)
    return base, (round(0.6 * base), round(0.7 * base))


def test_the_default_is_the_tables_intention_to_treat_entry_and_lies_inside_the_scale():
    m, sd = default_baseline("lsas")
    assert (m, sd) == DEFAULT_BASELINE["lsas"]
    assert abs(m - TABLE_ITT[0]) <= ROUNDING and abs(sd - TABLE_ITT[1]) <= ROUNDING   # the ITT "Pre" cell, not
    assert abs(m - TABLE_COMPLETERS[0]) > ROUNDING                                      # the completers' one
    smax, thr, condition = SCALES["lsas"]
    assert 0 < m - 2 * sd and m + 2 * sd < smax                  # +-2 SD within 0-144
    assert thr < m - sd                                           # entry severity well above remission (<= 30)
    assert condition == "anxiety"


def test_a_personal_fit_of_a_small_lsas_record_gives_a_forecast():
    """PatientModel refused the record ('LSAS (lsas) has none with a published source'); it now fits and forecasts,
    with the sourced population baseline as the prior of the patient's true baseline."""
    base, after = ratings()
    rec = record_from_csv_text(record_text(base, after), source="r.csv")
    fit = fit_patient(rec, n_samples=50, n_proposals=300, refine=False)
    prior = {p.name: p for p in fit.model.parameters}
    assert prior["baseline"].prior_mean == pytest.approx(TABLE_ITT[0], rel=0.05)
    assert prior["baseline"].prior_sd == pytest.approx(TABLE_ITT[1], rel=0.1)
    (row,) = forecast(fit, times_h=[168.0]).entries()
    assert row["variable"] == "score" and 0 <= row["pi90"][0] <= row["median"] <= row["pi90"][1] <= SCALES["lsas"][0]
    assert row["median"] < base + 0.5 * TABLE_ITT[1]              # a week after a dose: not far above entry


def test_ketasim_plan_fits_an_lsas_record(tmp_path, capsys):
    """`ketasim plan RECORD` on LSAS ratings exited 2 with the one-line refusal; it now writes a plan."""
    base, after = ratings()
    path = tmp_path / "r.csv"
    path.write_text(record_text(base, after), encoding="utf-8")
    out = tmp_path / "plan.json"
    code = main(["plan", str(path), "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["plans"] and "LSAS" in captured.out
    assert "baseline" in json.dumps(d["fit"])


def test_a_scenario_on_lsas_without_a_baseline_runs_with_the_sourced_default():
    sc = scenario_from_dict({"name": "s", "seed": 3, "population": {"size": 40, "scale": "LSAS"},
                             "arms": {"k": [KET]}})
    assert sc.population.scale == "lsas" and sc.population.condition == "anxiety"
    assert (sc.population.baseline.mean, sc.population.baseline.sd) == TABLE_ITT[:2]
    traj = ketasim.simulate(sc, output_times_h=np.array([0.0, 24.0])).trajectories()
    assert traj["score"].between(0, SCALES["lsas"][0]).all()
    at0 = traj.loc[traj["time_h"] == 0.0, "score"]
    assert abs(at0.mean() - TABLE_ITT[0]) < 2 * TABLE_ITT[1] / np.sqrt(40) + 5


def test_a_stated_patient_and_the_dashboard_on_lsas_use_the_sourced_default():
    """`Patient(scale='lsas')` was asked for the patient's baseline; the dashboard emptied the baseline field on
    choosing LSAS (meta's default_baseline was null). Both now start from the sourced default."""
    from ketasim import Patient, patient_scenario
    from ketasim.web import api

    sc = patient_scenario(Patient(scale="lsas"), [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}])
    assert sc.population.baseline.mean == TABLE_ITT[0]
    default = api.meta()["scales"]["lsas"]["default_baseline"]
    assert default == TABLE_ITT[0]
    form = copy.deepcopy(api.default_form())
    form["patient"].update(scale="lsas", baseline=default, condition=None)
    assert api.simulate_form(form)                                # no FormErrors
