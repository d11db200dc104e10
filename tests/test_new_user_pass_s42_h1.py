"""Session 42 new-user pass, helper H1 (covariates, plan, trial --observed, qualify --external, sensitivity, export)."""

from __future__ import annotations

import pytest

from ketasim.errors import InputError
from ketasim.parameters import load_parameters

_VOLUMES = ("pk.ketamine.v1", "pk.ketamine.v_venous", "pk.ketamine.v2", "pk.ketamine.v3")


@pytest.mark.parametrize("patterns", [["pk.*"], ["pk.ketamine.vss"]])
def test_sensitivity_range_of_vss_keeps_the_deep_volume_positive(patterns):
    # `sensitivity --parameters 'pk.*'` sampled Vss 25 % below its value, under the other volumes' sum: the deep
    # volume went negative and the run ended in numpy's 'Eigenvalues did not converge' traceback
    from ketasim.sensitivity import factors

    p = load_parameters()
    fs = {f.name: f for f in factors(p, patterns)}
    vss = fs["pk.ketamine.vss"]
    worst = sum(fs[n].hi if n in fs else p.get(n, "L") for n in _VOLUMES)
    assert worst < vss.lo <= vss.value < vss.hi
    assert "lower bound raised" in vss.confidence


def test_a_parameter_set_whose_vss_leaves_no_deep_volume_is_refused_in_one_line():
    from ketasim.engine import simulate
    from ketasim.scenario import quick_scenario

    p = load_parameters()
    low = sum(p.get(n, "L") for n in _VOLUMES) - 5.0
    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")
    with pytest.raises(InputError, match=r"^pk\.ketamine\.vss: .* L is not above pk\.ketamine\.v1 \+ v_venous"):
        simulate(sc, p.with_literature({"pk.ketamine.vss": low}), typical=True)
    simulate(sc, p.with_literature({"pk.ketamine.vss": low + 10.0}), typical=True)      # a deep volume of 5 L runs


def test_covariates_csv_names_the_unit_of_the_levels(tmp_path):
    # a PK row's unit is 'ratio' (the value's), and its test_value / reference_value (geometric means, 64.5 and
    # 70.0 ng/mL) had no unit anywhere: the provenance said "the endpoint's unit"
    import json

    from ketasim.covariates import run_covariates
    from ketasim.scenario import quick_scenario

    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    res = run_covariates(sc, contrasts=["sex=female:male"], endpoints=["cmax", "auc_0_inf", "response_rate@24h",
                                                                        "mean_change@24h"], typical=True)
    units = res.provenance["level_units"]
    assert units == {"cmax": "ng/mL", "auc_0_inf": "ng*h/mL", "response_rate@24h": "% of patients",
                     "mean_change@24h": "MADRS points"}
    res.to_csv(tmp_path / "c.csv")
    meta = json.loads((tmp_path / "c.csv.provenance.json").read_text())
    assert meta["level_units"] == units and "level_units" in meta["units"]["test_value"]


def test_covariates_of_exposure_alone_in_a_placebo_arm_is_refused(capsys, tmp_path):
    # `covariates --drug placebo ... --endpoint cmax` printed 'no covariate effects computed', exit status 0, and
    # wrote an empty CSV
    from ketasim.cli import main

    out = tmp_path / "c.csv"
    assert main(["covariates", "--drug", "placebo", "--route", "iv-infusion", "--duration", "40 min", "--typical",
                 "--covariate", "sex=female", "--endpoint", "cmax,auc_0_inf", "--csv", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--endpoint: cmax, auc_0_inf: arm placebo gives no drug with PK" in err and not out.exists()
    # with a side effect beside it, the PK columns are left out and the rest runs
    assert main(["covariates", "--drug", "placebo", "--route", "iv-infusion", "--duration", "40 min", "--typical",
                 "--covariate", "sex=female", "--endpoint", "cmax,cadss_peak", "--csv", str(out)]) == 0
    assert out.read_text().count("cadss_peak") == 1


def test_covariates_table_shows_no_negative_zero():
    # midazolam + rifampicin printed 'response 24 h (pp) -0.0' (a difference of -1e-6 read as a small decrease)
    from ketasim.covariates import _cell

    row = {"statistic": "mean difference", "value": -1e-6, "ci90_low": -0.04, "ci90_high": 0.03,
           "param90_low": float("nan"), "param90_high": float("nan")}
    assert _cell(row) == "+0.0 [+0.0, +0.0]"
    assert _cell({**row, "value": -0.06, "ci90_low": -0.2}) == "-0.1 [-0.2, +0.0]"


def test_observed_decrease_written_as_a_positive_change_warns(tmp_path):
    # a paper's '16.5 point decrease' written as mean_change 16.5 was compared as a worsening without a word
    # (error -31, outside); its negative lies inside the interval
    import warnings

    from ketasim.errors import ObservedWarning
    from ketasim.observed import compare_observed, read_observed
    from ketasim.scenario import load_scenario
    from ketasim.trial import run_trial

    sc = load_scenario("examples/observed/murrough2013.yaml")
    tr = run_trial(sc, n=100)
    head = "scenario,arm,timepoint_h,measure,value,n\n"
    bad = tmp_path / "pos.csv"
    bad.write_text(head + "murrough2013,ketamine,24,mean_change,16.5,47\n")
    with pytest.warns(ObservedWarning, match=r"^--observed pos\.csv row 1, column value: mean_change 16\.5 "
                                             r"\(ketamine, 24 h\) is outside .* write -16\.5 if the paper"):
        df = compare_observed(tr, read_observed(bad, sc, label="--observed pos.csv"))
    assert not df["inside"].iloc[0]
    good = tmp_path / "neg.csv"
    good.write_text(head + "murrough2013,ketamine,24,mean_change,-16.5,47\nmurrough2013,midazolam,24,mean_change,"
                           "0.5,25\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a decrease, and a small worsening whose negative is not the point
        compare_observed(tr, read_observed(good, sc))


def test_export_of_a_titrated_first_arm_names_the_arms_that_can_be(capsys, tmp_path):
    # `export examples/transform2_flexible.yaml --sbml t.xml` said 'use a fixed dose line': not that --arm can
    # choose the scenario's fixed-dose arm
    from ketasim.cli import main

    out = tmp_path / "t.xml"
    assert main(["export", "examples/transform2_flexible.yaml", "--sbml", str(out)]) == 2
    err = capsys.readouterr().err
    assert "titration: the SBML file holds one dose regimen" in err and "with --arm (placebo+AD)" in err
    assert not out.exists()
    assert main(["export", "examples/transform2_flexible.yaml", "--sbml", str(out), "--arm", "placebo+AD"]) == 0
    assert out.is_file()


def test_plan_id_not_in_the_record_names_the_option_and_the_ids(capsys):
    # 'patient_101.csv: no rows with ID 7' named neither --id nor the IDs the file has
    from ketasim.cli import main
    from ketasim.record import RecordError, record_from_csv_text

    assert main(["plan", "examples/patient/patient_101.csv", "--id", "7"]) == 2
    assert capsys.readouterr().err.strip() == "error: patient_101.csv: no rows with ID 7 (--id); its IDs: 101"
    text = "ID,TIME,EVID,DV,DVID\n" + "".join(f"{i},0,0,30,madrs\n" for i in range(1, 13))
    with pytest.raises(RecordError, match=r"ID 99 \(patient_id\); its IDs: 1, 2, .*, 10 and 2 more$"):
        record_from_csv_text(text, source="r.csv", patient_id=99)


def test_covariates_of_a_titrated_first_arm_names_the_fixed_dose_arms():
    from ketasim.covariates import run_covariates
    from ketasim.scenario import load_scenario

    sc = load_scenario("examples/transform2_flexible.yaml")
    with pytest.raises(InputError, match=r"titration: .* \(the default: the first arm\); choose a fixed-dose arm "
                                         r"with arm \(placebo\+AD\)$"):
        run_covariates(sc, typical=True)
    with pytest.raises(InputError, match=r"exposure to compare; choose a fixed-dose arm with arm \(placebo\+AD\)$"):
        run_covariates(sc, arm=sc.arms[0].name, typical=True)


def test_covariates_size_beside_a_stated_patient_says_the_scenario_states_one(tmp_path, capsys):
    # '--size: the typical patient is one patient (got 100)': the user asked for no typical patient; the scenario
    # states one (patient:), as simulate says
    from ketasim.cli import main

    sc = tmp_path / "one.yaml"
    sc.write_text("name: one\npatient: {weight_kg: 70, age_years: 30, sex: female, baseline: 32}\n"
                  "arms:\n  esk:\n    - {drug: esketamine, route: intranasal, dose: 56 mg, at: 0 h}\n")
    assert main(["covariates", str(sc), "--size", "100", "--covariate", "sex=male", "--endpoint", "cmax"]) == 2
    err = capsys.readouterr().err.strip()
    # simulate's sentence (H4 made the command line's the same; the API's adds 'or leave out n')
    assert err.startswith(f"error: --size: {sc} states one patient (patient:)") and "population:" in err
    assert main(["covariates", str(sc), "--covariate", "sex=male", "--endpoint", "cmax"]) == 0


def test_covariates_comedication_is_labelled_by_its_known_name():
    # '+ Rifampicin', '+ rifampin' (as typed) in the table and CSV; 'rifampicin,rifampin' ran the contrast twice
    from ketasim.covariates import run_covariates
    from ketasim.scenario import quick_scenario

    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    res = run_covariates(sc, contrasts=["comedication=Rifampicin", "St John's wort for 10 d"], endpoints=["cmax"],
                         typical=True)
    assert list(res.table()["contrast"].unique()) == ["+ rifampicin", "+ st-johns-wort for 10 d"]
    with pytest.raises(InputError, match=r"'\+ rifampicin' is given twice"):
        run_covariates(sc, contrasts=["comedication=rifampicin", "rifampin"], endpoints=["cmax"], typical=True)


def test_covariates_repeated_endpoint_or_analyte_is_one_column():
    # '--endpoint cmax,cmax --analyte s-ketamine,S-Ketamine' wrote each row four times (and NumPy's 'catastrophic
    # cancellation' warnings: each patient's PK twice); 'response_rate@24h,response_rate@1d' printed two columns
    import warnings

    from ketasim.covariates import run_covariates
    from ketasim.scenario import quick_scenario

    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = run_covariates(sc, contrasts=["weight=55:80"], typical=True, analytes=["s-ketamine", "S-Ketamine"],
                             endpoints=["cmax", "cmax", "response_rate@24h", "response_rate@1d"])
    t = res.table()
    assert list(t["endpoint"]) == ["cmax", "response_rate@24h"] and list(t["analyte"]) == ["s-ketamine", ""]
    assert res.provenance["analytes"] == ["s-ketamine"] and res.format_table().count("Cmax") == 1


def test_covariates_figures_draw_a_posterior_interval_that_excludes_the_value(tmp_path):
    # `covariates --typical --covariate crp=10 --uncertainty 3 --plot f.png` printed 'response -56.5 {-53.7, -10.3}'
    # and stopped in matplotlib: "'xerr' must not contain negative values"; the dashboard's figure clipped the bar
    # to run from the value to the far end
    import dataclasses

    from ketasim.covariates import run_covariates, write_forest
    from ketasim.scenario import quick_scenario
    from ketasim.web.figures import forest_figure

    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    res = run_covariates(sc, contrasts=["crp=10:1"], endpoints=["cmax", "mean_change@24h"], typical=True)
    rows = [dict(r) for r in res.rows]
    for r in rows:
        if r["endpoint"] == "mean_change@24h":       # the calibrated value beyond its draws' percentiles
            r["param90_low"], r["param90_high"] = r["value"] + 1.0, r["value"] + 5.0
        else:
            r["param90_low"] = r["param90_high"] = r["value"]
    res = dataclasses.replace(res, rows=rows, provenance={**res.provenance, "uncertainty": 3})
    write_forest(res, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 0
    assert "A value outside its braces" in res.format_table()
    fig = forest_figure(rows, res.provenance["endpoints"], analyte="s-ketamine")
    bars = [t for t in fig["data"] if "error_x" in t and t["xaxis"] == "x2"]
    assert len(bars) == 1
    centre, half = bars[0]["x"][0], bars[0]["error_x"]["array"][0]
    low = next(r for r in rows if r["endpoint"] == "mean_change@24h")
    assert (centre - half, centre + half) == pytest.approx((low["param90_low"], low["param90_high"]))


def test_dashboard_covariates_of_a_titrated_first_regimen_says_what_to_do_on_the_page():
    # the card showed the library's line: '... (the default: the first arm); write a fixed dose line' (no --arm, no
    # dose lines on the page)
    import copy

    pytest.importorskip("starlette")
    from ketasim.web import api

    form = api.default_form()
    tit = copy.deepcopy(form["regimens"][0])
    tit.update(name="esk", drug="esketamine", route="intranasal", dose=56, dose_unit="mg", duration_min="",
               every="3.5", every_unit="d", count=8,
               titration={"enabled": True, "doses": "56 mg, 84 mg", "sessions": "2, 3, 4", "increase_below_pct": 50})
    form["regimens"] = [tit, form["regimens"][0]]
    with pytest.raises(api.FormErrors) as e:
        api.covariates_form(form)
    (err,) = e.value.errors
    assert err["field"] == "covariates.run"
    assert err["message"].startswith("covariate effects compare fixed doses, and the first regimen (esk) has a "
                                     "titration rule: turn its titration off, or disable it to compare the next "
                                     "regimen (")
    form["regimens"][0]["enabled"] = False
    assert api.covariates_form(form)["ok"]


def test_covariates_says_when_pk_is_of_fewer_patients_than_the_rest(monkeypatch):
    # '--size 120000' printed 'The same 120,000 virtual patients at each level' beside PK rows of the first 100,000
    # (nca.PK_MAX_PATIENTS; the CSV's n said 100000)
    import ketasim.nca as nca
    from ketasim.covariates import run_covariates
    from ketasim.scenario import quick_scenario

    monkeypatch.setattr(nca, "PK_MAX_PATIENTS", 12)
    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    res = run_covariates(sc, contrasts=["sex=female"], endpoints=["cmax", "cadss_peak"], n=20)
    t = res.table()
    assert set(t.loc[t["endpoint"] == "cmax", "n"]) == {12} and res.provenance["pk_patients"] == 12
    assert "The same 20 virtual patients at each level, PK of the first 12 (NCA's limit)" in res.format_table()
    whole = run_covariates(sc, contrasts=["sex=female"], endpoints=["cmax", "cadss_peak"], n=10)
    assert "PK of the first" not in whole.format_table() and whole.provenance["pk_patients"] == 10


def test_params_takes_the_patterns_sensitivity_takes(capsys):
    # the sensitivity how-to: "--parameters 'pd.nmda.*,emax_drug' ... `ketasim params TEXT` lists the names";
    # `ketasim params 'pd.nmda.*'` said "no parameter name contains 'pd.nmda.*'"
    import fnmatch

    from ketasim.cli import main

    p = load_parameters()
    assert main(["params", "pd.nmda.*,@free"]) == 0
    names = [ln.split()[0] for ln in capsys.readouterr().out.splitlines()[1:]]
    want = [n for n in (*p.literature, *p.free) if fnmatch.fnmatchcase(n, "pd.nmda.*") or n in p.free]
    assert sorted(names) == sorted(want) and any(n.startswith("pd.nmda.") for n in names)
    assert main(["params", "zz*"]) == 2
    assert "params: no parameter name matches 'zz*'" in capsys.readouterr().err


def test_observed_unknown_measure_lists_the_scenarios_measures_whole(tmp_path):
    # the list of all 21 comparable measures was cut in the middle by the one-line limit ('dissociation_rate,
    # dizzine ... p_max_rise'); the row must be one of the scenario's measures anyway
    from ketasim.errors import MAX_MESSAGE
    from ketasim.observed import read_observed
    from ketasim.scenario import load_scenario

    sc = load_scenario("examples/observed/murrough2013.yaml")
    f = tmp_path / "a_rather_long_file_name_of_published_results.csv"
    f.write_text("scenario,arm,timepoint_h,measure,value,n\nmurrough2013,ketamine,24,mean_chnge,-16.5,47\n")
    with pytest.raises(InputError) as e:
        read_observed(f, sc)
    msg = str(e.value)
    assert len(msg) <= MAX_MESSAGE and " ... " not in msg
    assert f"scenario murrough2013's: {', '.join(sc.endpoints.measures)} (others" in msg
    assert "did you mean 'mean_change'" in msg


def test_scenario_unknown_measure_lists_every_known_measure_uncut():
    # 'known: mean, ..., blood_press ... e, dbp_max_rise, cmax, ...': the list was cut by the one-line limit
    from ketasim.errors import MAX_MESSAGE
    from ketasim.scenario import scenario_from_dict
    from ketasim.vocabulary import ADVERSE_EVENTS, KNOWN_MEASURES

    with pytest.raises(InputError) as e:
        scenario_from_dict({"name": "x", "population": {"size": 10},
                            "arms": {"a": [{"drug": "ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                            "duration": "40 min"}]},
                            "endpoints": {"times": ["24 h"], "measures": ["mean", "quality_of_life_index_total_x"]}})
    msg = str(e.value)
    assert len(msg) <= MAX_MESSAGE and " ... " not in msg and msg.startswith("endpoints.measures: unknown measure")
    listed = msg.split("; known: ", 1)[1]
    spelled = {m for m in KNOWN_MEASURES if m in listed.split(", ")}
    spelled |= {f"{e}_rate" for e in ADVERSE_EVENTS if e in listed}
    spelled |= {f"{x}_change_peak" for x in ("sbp", "dbp", "hr")} if "sbp/dbp/hr_change_peak" in listed else set()
    spelled |= {f"{x}_max_rise" for x in ("sbp", "dbp")} if "sbp/dbp_max_rise" in listed else set()
    assert spelled == set(KNOWN_MEASURES)


def test_run_covariates_takes_one_text_as_the_command_line_does_and_names_a_path():
    # run_covariates(sc, contrasts='sex=female') said "got 's'" (read letter by letter); a path gave
    # "AttributeError: 'str' object has no attribute 'arms'"
    from ketasim.covariates import run_covariates
    from ketasim.scenario import quick_scenario

    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    res = run_covariates(sc, contrasts="sex=female, weight=50,70", endpoints="cmax", analytes="s-ketamine",
                         typical=True)
    assert list(res.table()["contrast"]) == ["female vs male", "weight 50 vs 80 kg", "weight 70 vs 80 kg"]
    assert res.provenance["endpoints"] == ["cmax"] and res.provenance["analytes"] == ["s-ketamine"]
    with pytest.raises(InputError, match=r"^scenario: expected a Scenario, got str \(read a file with "
                                         r"ketasim\.load_scenario"):
        run_covariates("examples/design_example.yaml")


def test_export_sbml_of_a_path_points_to_load_scenario(tmp_path):
    from ketasim.export import export_sbml

    with pytest.raises(InputError, match=r"^scenario: expected a Scenario, got str \(read a file with "):
        export_sbml("examples/design_example.yaml", tmp_path / "m.xml")
    assert not (tmp_path / "m.xml").exists()


def test_covariates_table_names_its_seed_and_parameter_set():
    # the printed table named neither (trial's first line does); the CSV and figure had them
    from ketasim.covariates import run_covariates
    from ketasim.scenario import quick_scenario

    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    res = run_covariates(sc, contrasts=["sex=female"], endpoints=["cmax"], n=5, seed=7)
    p = res.provenance
    assert res.format_table().splitlines()[-1] == (f"scenario quick, arm {p['arm']}, seed 7, parameter set "
                                                   f"{p['parameter_set']}")


def test_sensitivity_table_names_its_seed_and_parameter_set():
    from ketasim.scenario import load_scenario
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario("examples/design_example.yaml")
    res = run_sensitivity(sc, endpoint="cadss_peak", patterns="pd.nmda.hill", samples=2, n_patients=3, seed=4)
    assert res.format_table().splitlines()[-1] == (f"  scenario {sc.name}, seed 4, 3 patient(s) per evaluation, "
                                                   f"parameter set {res.meta['parameter_set']}")


@pytest.mark.parametrize("option, value, hint", [("--age", "70", "--covariate age=70:45"),
                                                 ("--weight", "55", "--covariate weight=55:80"),
                                                 ("--comedication", "rifampicin", "--covariate comedication=")])
def test_covariates_with_simulates_patient_options_points_to_covariate(capsys, option, value, hint):
    # `covariates ... --age 70` said "did you mean --arm?"
    from ketasim.cli import main

    assert main(["covariates", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg", option, value]) == 2
    err = capsys.readouterr().err
    assert f"{option}: 'ketasim covariates' has no such option; compare levels with {hint}" in err
    assert "did you mean" not in err


@pytest.mark.parametrize("typed, write", [("2 mg/dL", "write 20"), ("3 mg/L", "write 3")])
def test_record_crp_typed_with_its_unit_says_what_to_write(typed, write):
    # WT '70kg' said 'write 70'; CRP '2 mg/dL' (a US lab's unit, 20 mg/L) said only 'expected a number'
    from ketasim.record import RecordError, record_from_csv_text

    with pytest.raises(RecordError, match=rf"column CRP: expected a number, got '{typed}'; CRP is a number of "
                                          rf"mg/L, without a unit: {write}$"):
        record_from_csv_text(f"ID,TIME,EVID,DV,DVID,WT,AGE,SEX,CRP\n1,0,0,30,madrs,70,40,F,{typed}\n", source="r")


def test_covariate_levels_typed_with_their_unit_are_converted():
    # 'weight=55kg' was refused ('is not a number (kg)') while the dashboard's boxes read a unit; a US lab's CRP in
    # mg/dL is ten times the mg/L number
    from ketasim.covariates import parse_contrast
    from ketasim.scenario import quick_scenario

    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    p = load_parameters()
    c = parse_contrast("weight=55kg:80 kg", sc.population, p)
    assert (c.test, c.reference) == (55.0, 80.0)
    assert parse_contrast("crp=2 mg/dL:1", sc.population, p).test == pytest.approx(20.0)
    assert parse_contrast("weight=120 lb:80", sc.population, p).test == pytest.approx(120 * 0.45359237)
    with pytest.raises(InputError, match=r"weight level 'abc' is not a number \(kg\)"):
        parse_contrast("weight=abc", sc.population, p)


def test_covariates_relief_runs_in_chunks_with_the_same_values(monkeypatch):
    # one kernel call of every patient: `covariates --size 2000000` did not answer SIGTERM for over a minute
    import ketasim.covariates as cov
    import ketasim.sensitivity as sens
    from ketasim.scenario import quick_scenario

    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    kw = dict(contrasts=["sex=female"], endpoints=["cadss_peak", "response_rate@24h"], n=20)
    whole = cov.run_covariates(sc, **kw).table()
    calls = []
    import ketasim.engine as engine

    real = engine.run_arm
    monkeypatch.setattr(engine, "run_arm",
                        lambda arm, spec, p, *a, **k: calls.append(p.n) or real(arm, spec, p, *a, **k))
    # covariates' own chunk loop is gone (forty-fourth session): patient_endpoint_values chunks every caller's patients
    monkeypatch.setattr(sens, "ENDPOINT_CHUNK", 7)
    chunked = cov.run_covariates(sc, **kw).table()
    assert [c for c in calls if c > 1] == [7, 7, 6, 7, 7, 6]     # two levels of 20 (1: the anesthetic check's)
    assert chunked[["value", "ci90_low", "ci90_high", "test_value", "reference_value"]].to_numpy().tolist() == \
        whole[["value", "ci90_low", "ci90_high", "test_value", "reference_value"]].to_numpy().tolist()


def test_parameters_option_given_a_directory_says_so(capsys, tmp_path):
    from ketasim.cli import main

    assert main(["params", "crp", "--parameters", str(tmp_path)]) == 2
    assert f"--parameters: {tmp_path}: is a directory, not a file (a parameter set" in capsys.readouterr().err
    assert main(["params", "crp", "--parameters", str(tmp_path / "none.json")]) == 2
    assert "none.json: no such file" in capsys.readouterr().err


def test_plan_alternative_folder_or_binary_file_is_one_line(capsys, tmp_path):
    # a folder said "error: DIR: Is a directory" (no option); a PNG ended in a UnicodeDecodeError traceback
    from ketasim.cli import main

    png = tmp_path / "f.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    for alt, says in ((tmp_path, "is a directory, not a file; give the YAML list of dose lines"),
                      (png, "not a text file")):
        assert main(["plan", "examples/patient/patient_101.csv", "--alternative", str(alt)]) == 2
        assert capsys.readouterr().err.strip() == f"error: --alternative: {alt}: {says}"


def test_covariates_uncertainty_reports_progress(capsys):
    # `covariates --uncertainty 20` computed ~40 s (minutes on a longer regimen) without a word
    from ketasim.cli import main
    from ketasim.covariates import run_covariates
    from ketasim.scenario import quick_scenario

    fracs = []
    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    run_covariates(sc, contrasts=["sex=female", "weight=55:80"], endpoints=["cadss_peak"], n=5, uncertainty=2,
                   progress=fracs.append)
    assert len(fracs) == 4 * 3 and fracs == sorted(fracs) and fracs[-1] == 1.0      # 4 levels x (1 + 2 draws)
    argv = ["covariates", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg", "--size", "5",
            "--covariate", "sex=female", "--endpoint", "cadss_peak"]
    assert main(argv + ["--uncertainty", "2"]) == 0
    assert "covariates: 100.0% done" in capsys.readouterr().err
    assert main(argv) == 0 and "done" not in capsys.readouterr().err        # quick runs stay quiet
    with pytest.raises(InputError, match="^progress: expected a function"):
        run_covariates(sc, contrasts=["sex=female"], n=5, progress=3)
