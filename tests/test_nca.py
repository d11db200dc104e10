"""PK endpoints (ketasim.nca): NCA against closed forms, against the model's own clearance, interaction directions,
trial endpoints independent of chunking, the CLI as a user runs it, and one-line errors for bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import ketasim
from ketasim import pk as P
from ketasim.cli import main
from ketasim.errors import InputError, KetasimError
from ketasim.nca import DEFAULT_SCHEDULE_H, PKSampling, arm_pk, nca, scenario_pk
from ketasim.population import typical_patient

from _support import line, params, scenario, typical_pk

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DDI = ROOT / "examples/pk/ddi_oral_esketamine_clarithromycin.yaml"
T = np.concatenate([[0.0], DEFAULT_SCHEDULE_H])


# ---- closed forms ---------------------------------------------------------------------------------------------------
def test_iv_bolus_one_compartment_auc_and_half_life():
    """C = D/V exp(-k t): AUC0-inf = D/CL, t1/2 = ln 2 / k (log-down trapezoids are exact for an exponential)."""
    dose, v = 100.0, 50.0
    cls = np.array([5.0, 10.0, 20.0])
    k = cls / v
    c = 1000 * dose / v * np.exp(-k[:, None] * T[None, :])
    c[:, 0] = 0.0                                   # the pre-dose sample; C0 is back-extrapolated
    r = nca(T, c, bolus=True)
    assert r["auc_0_inf_ng_h_ml"] == pytest.approx(1000 * dose / cls, rel=1e-9)
    assert r["t_half_h"] == pytest.approx(math.log(2) / k, rel=1e-9)
    assert np.all(r["lambda_z_points"] >= 3)
    assert r["cmax_ng_ml"] == pytest.approx(c[:, 1]) and np.all(r["tmax_h"] == T[1])


def test_oral_bateman_cmax_tmax_and_auc():
    """C = F D ka / (V (ka - k)) (exp(-k t) - exp(-ka t)): Tmax = ln(ka/k)/(ka - k), Cmax = F D/V exp(-k Tmax),
    AUC0-inf = F D / CL. On a 1-minute schedule the sampled values are within the sampling/trapezoid error."""
    dose, v, cl, ka = 50.0, 40.0, 8.0, 1.3
    k = cl / v
    t = np.round(np.arange(0.0, 48.0 + 1e-9, 1 / 60), 9)
    c = 1000 * dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
    r = nca(t, c[None, :])
    tmax = math.log(ka / k) / (ka - k)
    assert r["tmax_h"][0] == pytest.approx(tmax, abs=1 / 60)
    assert r["cmax_ng_ml"][0] == pytest.approx(1000 * dose / v * math.exp(-k * tmax), rel=1e-4)
    assert r["auc_0_inf_ng_h_ml"][0] == pytest.approx(1000 * dose / cl, rel=1e-4)
    # the adjusted-R^2 rule takes the longest near-log-linear stretch, a little of the absorption tail included
    assert r["t_half_h"][0] == pytest.approx(math.log(2) / k, rel=5e-3)
    assert nca(t, c[None, :], lambda_z="last3")["t_half_h"][0] == pytest.approx(math.log(2) / k, rel=1e-6)
    # on the default study schedule Tmax is one of the sampling times and the AUC stays close
    rs = nca(T, (1000 * dose * ka / (v * (ka - k)) * (np.exp(-k * T) - np.exp(-ka * T)))[None, :])
    assert rs["tmax_h"][0] in T and abs(rs["tmax_h"][0] - tmax) < 0.5
    assert rs["auc_0_inf_ng_h_ml"][0] == pytest.approx(1000 * dose / cl, rel=0.02)


def test_lambda_z_rules_and_linear_up_log_down():
    """A rising-then-falling profile: log-down areas where it falls, linear where it rises; 'last3' uses 3 points."""
    t = np.array([0.0, 1.0, 2.0, 4.0, 8.0, 12.0])
    c = np.array([[0.0, 10.0, 20.0, 10.0, 5.0, 2.5]])
    r = nca(t, c)
    expected = 5.0 + 15.0 + sum((a - b) * dt / math.log(a / b) for a, b, dt in ((20, 10, 2), (10, 5, 4), (5, 2.5, 4)))
    assert r["auc_0_t_ng_h_ml"][0] == pytest.approx(expected)
    assert nca(t, c, lambda_z="last3")["lambda_z_points"][0] == 3
    # Cmax is never in the terminal regression of an extravascular profile
    assert r["lambda_z_points"][0] <= 3
    flat = nca(t, np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]]))     # still rising: no terminal phase
    assert math.isnan(flat["t_half_h"][0]) and math.isnan(flat["auc_0_inf_ng_h_ml"][0])


# ---- the model ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sample", ["venous", "arterial"])
def test_model_iv_infusion_auc_inf_is_dose_over_clearance(sample):
    """Mass balance through NCA: esketamine 0.25 mg/kg over 40 min in the typical 70-kg man; AUC0-inf of S-ketamine
    x CL of the model = dose. Sampled (default schedule + the end of the infusion + 36 and 48 h, as an infusion
    study samples): within the trapezoid and truncation error (2 %); on the 1-minute grid to 14 days: 0.1 %.
    (Without the 40-min sample the arterial AUC is 3 % low: the schedule misses the end-of-infusion peak.)"""
    lines = [line("esketamine", "iv-infusion", "0.25 mg/kg", duration="40 min")]
    sc = scenario(lines)
    sampling = PKSampling(times_h=tuple(sorted({*DEFAULT_SCHEDULE_H, 40 / 60, 36.0, 48.0})), analytes=("s-ketamine",),
                          sample=sample, exact=True)
    df = arm_pk(sc.arms[0], sc.population, params(), sampling, patients=typical_patient(sc.population, params()))
    cl = typical_pk(lines).cl[0, P.S_KET]
    assert float(df["auc_0_inf_ng_h_ml"].iloc[0]) / 1000.0 * cl == pytest.approx(0.25 * 70.0, rel=0.02)
    assert float(df["exact_auc_0_inf_ng_h_ml"].iloc[0]) / 1000.0 * cl == pytest.approx(0.25 * 70.0, rel=1e-3)
    assert df["auc_extrapolated_pct"].iloc[0] < 5


def test_arterial_peaks_above_venous_after_a_bolus_with_equal_auc():
    sc = scenario([line("racemic-ketamine", "iv-bolus", "0.5 mg/kg")])
    pts = typical_patient(sc.population, params())
    ven = arm_pk(sc.arms[0], sc.population, params(), PKSampling(analytes=("ketamine",), exact=True), patients=pts)
    art = arm_pk(sc.arms[0], sc.population, params(), PKSampling(analytes=("ketamine",), sample="arterial", exact=True),
                 patients=pts)
    assert art["exact_cmax_ng_ml"].iloc[0] > 1.2 * ven["exact_cmax_ng_ml"].iloc[0]
    assert art["exact_auc_0_inf_ng_h_ml"].iloc[0] == pytest.approx(ven["exact_auc_0_inf_ng_h_ml"].iloc[0], rel=0.01)


def test_last_dose_of_a_series_accumulates():
    sc = scenario([line("esketamine", "intranasal", "56 mg", every="12 h", count=3)])
    pts = typical_patient(sc.population, params())
    first = arm_pk(sc.arms[0], sc.population, params(), PKSampling(analytes=("s-ketamine",)), patients=pts)
    last = arm_pk(sc.arms[0], sc.population, params(), PKSampling(analytes=("s-ketamine",), dose="last"), patients=pts)
    assert first["dose_time_h"].iloc[0] == 0 and last["dose_time_h"].iloc[0] == 24.0
    assert first["t_last_h"].iloc[0] == 12.0        # the first dose's samples stop at the next dose
    assert last["cmax_ng_ml"].iloc[0] > first["cmax_ng_ml"].iloc[0]
    # the first dose is simulated without the later doses (causality): the same levels as the whole series gives
    t = np.array([0.0, *[x for x in DEFAULT_SCHEDULE_H if x <= 12.0]])
    whole = ketasim.simulate(sc, typical=True, output_times_h=t).trajectories()["cp_s_ketamine_ng_ml"].to_numpy()
    assert first["cmax_ng_ml"].iloc[0] == pytest.approx(whole.max(), rel=1e-9)
    assert first["auc_0_t_ng_h_ml"].iloc[0] == pytest.approx(nca(t, whole[None, :])["auc_0_t_ng_h_ml"][0], rel=1e-9)


def test_arm_comedication_equals_population_comedication():
    arm_level = ketasim.scenario_from_dict({"name": "a", "arms": {"x": {"doses": [line("esketamine", "oral", "20 mg")],
                                                                      "comedications": ["clarithromycin"]}}})
    pop_level = ketasim.scenario_from_dict({"name": "a", "population": {"comedications": ["clarithromycin"]},
                                            "arms": {"x": [line("esketamine", "oral", "20 mg")]}})
    t = np.array([0.0, 0.5, 1.0, 4.0])
    a = ketasim.simulate(arm_level, typical=True, output_times_h=t).trajectories()
    b = ketasim.simulate(pop_level, typical=True, output_times_h=t).trajectories()
    assert np.array_equal(a["cp_s_ketamine_ng_ml"].to_numpy(), b["cp_s_ketamine_ng_ml"].to_numpy())


# ---- trials ---------------------------------------------------------------------------------------------------------
def _ddi(route: str, dose: str, comedication: str, design: str = "crossover", **extra) -> dict:
    ln = line("esketamine", route, dose, **extra)
    return {"name": f"ddi-{comedication}", "seed": 3, "population": {"size": 12},
            "arms": {"alone": [ln], "with": {"doses": [ln], "comedications": [comedication]}},
            "design": {"type": design, "control": "alone"},
            "endpoints": {"measures": ["cmax", "tmax", "auc_0_inf"], "analytes": ["s-ketamine"]}}


def _ratio(tr, measure):
    return next(c for c in tr.comparisons if c["measure"] == f"{measure}_ratio" and c["analyte"] == "s-ketamine")


@pytest.mark.parametrize("comedication, lo, hi", [("clarithromycin", 1.5, 10.0), ("rifampicin", 0.0, 0.5)])
def test_ddi_ratio_direction_oral(comedication, lo, hi):
    """Clarithromycin (CYP3A4 inhibitor) raises oral esketamine exposure, rifampicin (inducer) lowers it: the
    paired geometric mean ratio and its whole 90 % CI lie on that side."""
    tr = ketasim.run_trial(ketasim.scenario_from_dict(_ddi("oral", "20 mg", comedication)))
    r = _ratio(tr, "auc_0_inf")
    assert lo < r["value"] < hi and lo < r["ci90"][0] <= r["value"] <= r["ci90"][1] < hi
    assert r["statistic"] == "geometric mean ratio (paired)"
    # no rating comparisons in a PK-only trial
    assert {c["measure"] for c in tr.comparisons} == {"cmax_ratio", "auc_0_inf_ratio"}


def test_trial_pk_endpoints_do_not_depend_on_chunks():
    sc = ketasim.scenario_from_dict(_ddi("intranasal", "56 mg", "rifampicin", design="parallel"))
    a = ketasim.run_trial(sc, chunk=5)
    b = ketasim.run_trial(sc, chunk=1000)
    assert json.dumps(a.to_dict(), default=str) == json.dumps(b.to_dict(), default=str)
    for arm in a.pk:
        assert a.pk[arm].equals(b.pk[arm])
    rows = [r for r in a.endpoints if r.get("analyte") == "s-ketamine"]
    assert {r["measure"] for r in rows} == {"cmax", "tmax", "auc_0_inf"}
    tmax = next(r for r in rows if r["measure"] == "tmax")
    assert tmax["statistic"] == "median" and tmax["range"][0] <= tmax["value"] <= tmax["range"][1]
    cmax = next(r for r in rows if r["measure"] == "cmax")
    assert cmax["cv_percent"] > 0 and cmax["ci95"][0] < cmax["value"] < cmax["ci95"][1]


def test_ordinary_trials_do_not_run_pk(monkeypatch):
    import ketasim.nca

    def boom(*a, **k):
        raise AssertionError("PK pass run without PK measures")

    monkeypatch.setattr(ketasim.nca, "arm_pk", boom)
    sc = ketasim.scenario_from_dict({"name": "t", "arms": {"k": [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg",
                                                                      duration="40 min")]},
                                     "endpoints": {"times": ["24 h"], "measures": ["mean"]}})
    tr = ketasim.run_trial(sc, n=4)
    assert tr.pk == {} and all("analyte" not in r for r in tr.endpoints)


# ---- bad input: one line naming the field ---------------------------------------------------------------------------
@pytest.mark.parametrize("endpoints, field", [
    ({"measures": ["cmax"], "pk_sampling": []}, "endpoints.pk_sampling.times"),
    ({"measures": ["cmax"], "pk_sampling": ["1 h", "30 min"]}, "endpoints.pk_sampling.times"),
    ({"measures": ["cmax"], "pk_sampling": ["0 h", "1 h"]}, "endpoints.pk_sampling.times"),
    ({"measures": ["cmax"], "pk_sampling": ["1"]}, "endpoints.pk_sampling.times[0]"),
    ({"measures": ["cmax"], "analytes": ["cocaine"]}, "endpoints.analytes"),
    ({"measures": ["cmax"], "analytes": []}, "endpoints.analytes"),
    ({"measures": ["cmax"], "sample": "capillary"}, "endpoints.sample"),
    ({"measures": ["cmax"], "pk_sampling": {"times": ["1 h"], "dose": "second"}}, "endpoints.pk_sampling.dose"),
    ({"measures": ["cmax"], "pk_sampling": {"times": ["1 h"], "every": "1 h"}}, "endpoints.pk_sampling.every"),
    ({"measures": ["cmax"], "pk_sampling": {"times": ["1 h"], "lambda_z": "best"}}, "endpoints.pk_sampling.lambda_z"),
])
def test_bad_pk_input_is_one_line_naming_the_field(endpoints, field):
    with pytest.raises(KetasimError) as e:
        ketasim.scenario_from_dict({"name": "x", "arms": {"a": [line("esketamine", "oral", "20 mg")]},
                                    "endpoints": endpoints})
    msg = str(e.value)
    assert msg.startswith(field + ":") and "\n" not in msg, msg


@pytest.mark.parametrize("arm, field", [
    ({"doses": [line("esketamine", "oral", "20 mg")], "comedications": ["aspirin"]}, "arms.a.comedications"),
    ({"doses": [line("esketamine", "oral", "20 mg")], "inhibitor": "x"}, "arms.a.inhibitor"),
    ({"comedications": ["rifampicin"]}, "arms.a.doses"),
])
def test_bad_arm_mapping_is_one_line(arm, field):
    with pytest.raises(KetasimError) as e:
        ketasim.scenario_from_dict({"name": "x", "arms": {"a": arm}})
    assert str(e.value).startswith(field + ":") and "\n" not in str(e.value)


def test_nca_input_errors():
    with pytest.raises(InputError, match="nca:"):
        nca([0.0, 2.0, 1.0], [[0.0, 1.0, 2.0]])
    with pytest.raises(InputError, match="pk_sampling.times"):
        PKSampling(times_h=())


# ---- the CLI, as a user runs it ---------------------------------------------------------------------------------------
def test_cli_simulate_pk_and_json(tmp_path, capsys):
    out = tmp_path / "pk.json"
    code = main(["simulate", str(EXAMPLE_DDI), "--typical", "--pk", "--pk-json", str(out)])
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "Cmax ng/mL" in text and "s-ketamine" in text and "norketamine" in text
    doc = json.loads(out.read_text())
    auc = {r["arm"]: r["value"] for r in doc["summary"] if r["measure"] == "auc_0_inf" and r["analyte"] == "s-ketamine"}
    assert auc["esketamine-with-clarithromycin"] > 1.5 * auc["esketamine-alone"]
    assert doc["sampling"]["sample"] == "venous" and doc["typical"] is True
    assert len(doc["patients"]) == 4                 # 2 arms x 2 analytes, one patient


def test_cli_trial_on_the_example_prints_ratios(capsys):
    code = main(["trial", str(EXAMPLE_DDI), "--size", "6", "--no-progress"])
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "auc_0_inf_ratio s-ketamine" in text and "90% CI" in text and "geometric CV" in text


@pytest.mark.parametrize("argv, words", [
    (["--pk-dose", "second"], "--pk-dose"),
    (["--pk-sample", "capillary"], "--pk-sample"),
    (["--pk-times", "1 h,30 min"], "--pk-times: sampling times must increase"),
    (["--pk-times", "1 h,2 x"], "--pk-times"),
    (["--pk-times", ""], "--pk-times"),
])
def test_cli_bad_pk_options(argv, words, capsys, tmp_path):
    """Refused before anything is simulated or written."""
    csv = tmp_path / "t.csv"
    code = main(["simulate", "--drug", "esketamine", "--route", "oral", "--dose", "20mg", "--csv", str(csv), *argv])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith(f"error: {words}") and err.count("\n") == 1
    assert not csv.exists() and "plasma ketamine" not in out


def test_cli_pk_times_set_the_schedule(capsys, tmp_path):
    out = tmp_path / "pk.json"
    code = main(["simulate", "--drug", "ketamine", "--route", "im", "--dose", "0.5mg/kg", "--pk-times",
                 "5 min, 10 min, 20 min, 40 min, 1 h, 2 h, 4 h, 8 h", "--pk-sample", "arterial", "--pk-json", str(out)])
    capsys.readouterr()
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["sampling"]["times_h"][-1] == 8.0 and doc["sampling"]["sample"] == "arterial"
    assert all(p["t_last_h"] == 8.0 for p in doc["patients"])


def test_scenario_pk_matches_the_simulated_patients():
    """``simulate --pk`` describes the patients whose trajectories it writes: Cmax on the schedule equals the
    highest trajectory value at the same times."""
    sc = ketasim.load_scenario(EXAMPLE_DDI)
    df = scenario_pk(sc, n=5, seed=9)
    times = np.concatenate([[0.0], sc.endpoints.pk.times_h])
    traj = ketasim.simulate(sc, n=5, seed=9, output_times_h=times).trajectories()
    wide = traj[traj.arm == "esketamine-alone"].pivot(index="subject", columns="time_h", values="cp_s_ketamine_ng_ml")
    got = df[(df.arm == "esketamine-alone") & (df.analyte == "s-ketamine")].set_index("subject")["cmax_ng_ml"]
    assert np.allclose(got.sort_index().to_numpy(), wide.max(axis=1).sort_index().to_numpy(), rtol=1e-12)


def test_pk_in_a_withdrawal_trial_and_far_samples_are_refused():
    with pytest.raises(InputError, match="^endpoints.pk_sampling.times: the last sample"):
        ketasim.scenario_from_dict({"name": "x", "arms": {"a": [line("esketamine", "oral", "20 mg")]},
                                    "endpoints": {"measures": ["cmax"], "pk_sampling": ["1 h", "1000 d"]}})
    sc = ketasim.scenario_from_dict({
        "name": "w", "arms": {"c": [line("esketamine", "intranasal", "56 mg", every="7 d", count=8)],
                              "w": [line("esketamine", "intranasal", "56 mg", every="7 d", count=4)]},
        "design": {"type": "randomized_withdrawal", "continue": "c", "withdraw": "w"},
        "endpoints": {"times": ["8 week"], "measures": ["relapse_rate", "cmax"]}})
    with pytest.raises(InputError, match="^endpoints.measures: PK measures"):
        ketasim.run_trial(sc, n=4)


def test_midazolam_and_placebo_arms():
    """An active-placebo arm has midazolam PK; a saline arm has none (no rows, no ratio against it)."""
    sc = ketasim.scenario_from_dict({
        "name": "m", "arms": {"ketamine": [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")],
                              "midazolam": [line("midazolam", "iv-infusion", "0.045 mg/kg", duration="40 min")],
                              "saline": [line("placebo", "iv-infusion", duration="40 min")]},
        "endpoints": {"measures": ["cmax", "auc_0_inf"]}})
    tr = ketasim.run_trial(sc, n=5)
    analytes = {(r["arm"], r["analyte"]) for r in tr.endpoints if "analyte" in r}
    assert ("midazolam", "midazolam") in analytes and not any(a == "saline" for a, _ in analytes)
    assert ("ketamine", "s-ketamine") in analytes and ("ketamine", "norketamine") in analytes
    assert tr.comparisons == []          # the control (saline) has no PK; PK-only: no rating comparisons


def test_trial_report_lists_pk_endpoints_per_analyte(tmp_path):
    from ketasim.report import trial_report

    tr = ketasim.run_trial(ketasim.load_scenario(EXAMPLE_DDI), n=4)
    page = trial_report(tr, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "AUC0-inf (ng*h/mL, geometric mean), s-ketamine" in page
    assert "auc_0_inf_ratio, norketamine" in page and "first dose" in page
    assert "Side-effect endpoints are in the endpoint table" not in page


def test_total_ketamine_of_an_esketamine_arm_when_asked_for():
    """Not listed by default for esketamine (it is S-ketamine), but given when asked for: the same numbers."""
    sc = scenario([line("esketamine", "intranasal", "56 mg")])
    pts = typical_patient(sc.population, params())
    assert "ketamine" not in set(arm_pk(sc.arms[0], sc.population, params(), patients=pts)["analyte"])
    df = arm_pk(sc.arms[0], sc.population, params(), PKSampling(analytes=("ketamine", "s-ketamine", "midazolam")),
                patients=pts).set_index("analyte")
    assert set(df.index) == {"ketamine", "s-ketamine"}
    assert df.loc["ketamine", "auc_0_inf_ng_h_ml"] == pytest.approx(df.loc["s-ketamine", "auc_0_inf_ng_h_ml"], rel=1e-12)


def test_pk_is_bounded_to_the_first_patients(monkeypatch):
    import ketasim.nca as N

    monkeypatch.setattr(N, "PK_MAX_PATIENTS", 7)
    sc = scenario([line("esketamine", "oral", "20 mg")])
    df = N.arm_pk(sc.arms[0], sc.population, params(), PKSampling(analytes=("s-ketamine",)),
                  stream=np.random.SeedSequence(1), n=50, chunk=4)
    assert sorted(df["subject"]) == list(range(7))
    small = N.arm_pk(sc.arms[0], sc.population, params(), PKSampling(analytes=("s-ketamine",)),
                     stream=np.random.SeedSequence(1), n=7, chunk=100)
    assert df.equals(small)                 # the first patients, whatever the arm's size and chunking
