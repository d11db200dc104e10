"""Sourced default baselines of HAM-D21, HAM-D24, QIDS-SR16 and BDI-II (forty-second session).

`ketasim plan` could not fit a record rated on these scales ("... has none with a published source"): the fit's prior
for the patient's true baseline is the population's baseline on the record's scale, and these scales had none. Each
now has a baseline at trial entry with its source beside it (population.DEFAULT_BASELINE); MSSI and IES-R still
have none, and say so in one line (LSAS has one since the forty-third session: test_scale_baselines_s43_lsas.py).
Each test fails on the code before the change (except the still-unsourced ones, which pin that no value was
invented)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ketasim
from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.personal import BASELINE_PRIOR_SD_FLOOR_RATINGS, PatientModel, fit_patient, forecast
from ketasim.population import DEFAULT_BASELINE, SCALES, default_baseline
from ketasim.record import record_from_csv_text
from ketasim.scenario import scenario_from_dict

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
HEADER = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
#: scale -> (mean, SD) as sourced (population.DEFAULT_BASELINE's comments: table, sample, n)
SOURCED = {"hamd21": (24.1, 5.0), "hamd24": (30.0, 6.2), "qids_sr16": (15.5, 4.8), "bdi2": (31.8, 10.7)}
UNSOURCED = ("mssi", "iesr")


def record_text(scale: str, baseline: float, after: tuple[float, ...]) -> str:
    """A small record: a rating, one 0.5 mg/kg ketamine infusion, one or two ratings after it."""
    rows = [f"1,0,0,,,,,,{baseline:g},{scale},80,45,F",
            "1,0.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,"]
    rows += [f"1,{t},0,,,,,,{v:g},{scale},,," for t, v in zip((24.5, 72.0), after)]
    return HEADER + "\n".join(rows) + "\n"


def ratings(scale: str) -> tuple[float, tuple[float, ...]]:
    """Baseline a little above the sourced mean, then partial relief (points on the scale)."""
    m, sd = SOURCED[scale]
    base = round(m + 0.3 * sd)
    return base, (round(0.6 * base), round(0.7 * base))


def test_the_sourced_defaults_are_the_tables_values_and_lie_inside_each_scale():
    for scale, (m, sd) in SOURCED.items():
        assert DEFAULT_BASELINE[scale] == (m, sd), scale
        assert default_baseline(scale) == (m, sd)
        smax = SCALES[scale][0]
        assert 0 < m - 2 * sd and m + 2 * sd < smax, scale          # +-2 SD within the range
        thr = SCALES[scale][1]
        assert thr < m, scale                                         # entry severity above the remission threshold
    for scale in UNSOURCED:
        assert scale not in DEFAULT_BASELINE                          # none invented


@pytest.mark.parametrize("scale", sorted(SOURCED))
def test_a_personal_fit_of_a_small_record_on_the_scale_gives_a_forecast(scale):
    """PatientModel refused the record ('... has none with a published source'); it now fits and forecasts."""
    base, after = ratings(scale)
    rec = record_from_csv_text(record_text(scale, base, after), source="r.csv")
    fit = fit_patient(rec, n_samples=50, n_proposals=300, refine=False)
    prior = {p.name: p for p in fit.model.parameters}                  # the prior: the sourced population baseline
    assert prior["baseline"].prior_mean == pytest.approx(SOURCED[scale][0], rel=0.05)
    # its SD floored for one patient (personal.BASELINE_PRIOR_SD_FLOOR_RATINGS, forty-fifth session)
    assert fit.model.population_baseline_sd == pytest.approx(SOURCED[scale][1], rel=0.1)
    assert prior["baseline"].prior_sd == pytest.approx(max(fit.model.population_baseline_sd,
                                                           BASELINE_PRIOR_SD_FLOOR_RATINGS * fit.model.rating_sd))
    (row,) = forecast(fit, times_h=[168.0]).entries()
    smax = SCALES[scale][0]
    assert row["variable"] == "score" and 0 <= row["pi90"][0] <= row["median"] <= row["pi90"][1] <= smax
    assert row["median"] < base + 0.5 * SOURCED[scale][1]              # a week after a dose: not far above entry


def test_ketasim_plan_fits_a_hamd21_record(tmp_path, capsys):
    """`ketasim plan RECORD` on HAM-D21 ratings exited 2 with the one-line refusal; it now writes a plan."""
    base, after = ratings("hamd21")
    path = tmp_path / "r.csv"
    path.write_text(record_text("hamd21", base, after), encoding="utf-8")
    out = tmp_path / "plan.json"
    code = main(["plan", str(path), "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["plans"] and "HAM-D21" in captured.out
    assert "baseline" in json.dumps(d["fit"])


@pytest.mark.parametrize("scale", sorted(SOURCED))
def test_a_scenario_on_the_scale_without_a_baseline_runs_with_the_sourced_default(scale):
    sc = scenario_from_dict({"name": "s", "seed": 3, "population": {"size": 40, "scale": scale},
                             "arms": {"k": [KET]}})
    assert (sc.population.baseline.mean, sc.population.baseline.sd) == SOURCED[scale]
    traj = ketasim.simulate(sc, output_times_h=np.array([0.0, 24.0])).trajectories()
    smax = SCALES[scale][0]
    assert traj["score"].between(0, smax).all()
    at0 = traj.loc[traj["time_h"] == 0.0, "score"]
    assert abs(at0.mean() - SOURCED[scale][0]) < 2 * SOURCED[scale][1]


@pytest.mark.parametrize("scale", UNSOURCED)
def test_scales_still_without_a_source_give_the_one_line_error(scale):
    smax = SCALES[scale][0]
    with pytest.raises(InputError, match=rf"^population\.baseline: {scale} has no default baseline with a published "
                                         rf"source; state the population's baseline score \(points, 0-{smax:g}\)$"):
        scenario_from_dict({"name": "s", "population": {"scale": scale}, "arms": {"k": [KET]}})
    rec = record_from_csv_text(record_text(scale, 0.5 * smax, (0.3 * smax,)), source="r.csv")
    with pytest.raises(InputError, match=r"^r\.csv: a personal fit needs a prior for the patient's true baseline.*"
                                         r"has none with a published source; plans fit records rated on madrs, "
                                         r"hamd17, .*hamd21, hamd24, qids_sr16, bdi2, lsas, gad7, phq9, hads_a, hads_d \(`ketasim simulate"):
        PatientModel(rec)


def test_cli_plan_on_a_scale_without_a_source_is_still_one_line(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text(record_text("iesr", 40, (25,)), encoding="utf-8")
    code = main(["plan", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "IES-R (iesr)" in err, err


@pytest.mark.parametrize("scale", ["hamd21", "bdi2"])
def test_a_stated_patient_and_the_dashboard_on_the_scale_use_the_sourced_default(scale):
    """`Patient(scale='hamd21')` was asked for the patient's baseline; the dashboard emptied the baseline field on
    choosing the scale (meta's default_baseline was null). Both now start from the sourced default."""
    import copy

    from ketasim import Patient, patient_scenario
    from ketasim.web import api

    sc = patient_scenario(Patient(scale=scale), [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}])
    assert sc.population.baseline.mean == SOURCED[scale][0]
    default = api.meta()["scales"][scale]["default_baseline"]           # what the page fills in on choosing it
    assert default == SOURCED[scale][0]
    form = copy.deepcopy(api.default_form())
    form["patient"].update(scale=scale, baseline=default, condition=None)
    assert api.simulate_form(form)                                      # no FormErrors
