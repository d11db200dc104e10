"""Session 36 new-user pass (plan, sensitivity, export, qualify --external, pk, dashboard API, tutorials)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketasim.errors import InputError


def test_sensitivity_endpoint_at_a_negative_time_names_the_endpoint():
    # 'mean_change@-1h' stopped after loading with 'output: times must be ... >= 0' (a field the user never wrote)
    from ketasim.sensitivity import parse_endpoint

    with pytest.raises(InputError, match=r"^endpoint: the time must be >= 0"):
        parse_endpoint("mean_change@-1h")
    assert parse_endpoint("mean_change@0h").time_h == 0.0
    assert parse_endpoint("response_rate@7 d").time_h == 168.0


def _small_sensitivity():
    from ketasim.scenario import load_scenario
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario("examples/design_example.yaml")
    return run_sensitivity(sc, endpoint="mean_change@24h", patterns=("pd.nmda.hill", "pd.nmda.m_*"), samples=2,
                           n_patients=5, seed=3)


def test_sensitivity_report_states_the_provenance_of_its_numbers(tmp_path):
    # the HTML page named only the parameter set; the JSON had scenario, seed, patients, samples, calibration run
    # and version
    from ketasim.sensitivity import write_html

    res = _small_sensitivity()
    page = write_html(res, tmp_path / "s.html")
    text = (tmp_path / "s.html").read_text()
    assert page is not None
    for needle in ("scenario single-infusion-trd", "seed 3", "virtual patients per evaluation 5", "samples 2",
                   "experiment none (intact)", f"calibration run {res.meta['calibration_run']}",
                   f"ketasim {res.meta['ketasim_version']}"):
        assert needle in text, needle


def test_sensitivity_table_and_report_say_when_they_show_only_the_largest(tmp_path):
    # the text table showed 20, the HTML 25 and the chart 15 of e.g. 60 parameters, none saying the rest were left out
    from ketasim.sensitivity import write_html

    res = _small_sensitivity()
    n = len(res.ranking())
    assert n == 3
    assert "largest" not in res.format_table()
    assert "... the 2 largest of 3 parameters (all in --json)" in res.format_table(top=2)
    write_html(res, tmp_path / "s.html", top=2)
    assert "The 2 largest of 3 parameters" in (tmp_path / "s.html").read_text()
    write_html(res, tmp_path / "all.html")
    assert "largest of" not in (tmp_path / "all.html").read_text()


def test_trial_report_states_a_pk_ratio_with_the_90_ci_the_text_table_prints():
    # the DDI example's report showed cmax_ratio 2.35 [2.16, 2.54] under 'difference [95% CI]' where the printed
    # table (and DDI convention) says 2.345 90% CI [2.193, 2.508]
    from ketasim.report import _comparison_table
    from ketasim.scenario import load_scenario
    from ketasim.trial import run_trial

    tr = run_trial(load_scenario("examples/pk/ddi_oral_esketamine_clarithromycin.yaml"))
    table = _comparison_table(tr)
    assert list(table.columns)[-2] == "geometric mean ratio [90% CI]"
    c = next(c for c in tr.comparisons if c["measure"] == "cmax_ratio" and c["analyte"] == "s-ketamine")
    cell = table.loc[table["measure"] == "cmax_ratio, s-ketamine", "geometric mean ratio [90% CI]"].item()
    lo, hi = (float(x) for x in cell.split("[")[1].rstrip("]").split(","))
    assert abs(lo - c["ci90"][0]) < 0.006 and abs(hi - c["ci90"][1]) < 0.006
    assert abs(lo - c["ci95"][0]) > 0.01
    assert "90% CI" in tr.format_table()


PATIENT_101 = "examples/patient/patient_101.csv"


def test_a_planned_dose_before_the_last_observation_names_its_line(capsys, tmp_path):
    # '--alternative alt.yaml: regimen: a dose at 20 h is not after ...' did not say which line; from Python and the
    # plan page (field 'alternative') it said 'regimen' and came only after the fit
    import yaml

    from ketasim.cli import main
    from ketasim.personal import personal_plan
    from ketasim.record import read_record

    lines = [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "at": "400 h"},
             {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min",
              "at": "20 h"}]
    with pytest.raises(InputError, match=r"^alternative\[1\]\.at: a dose at 20 h is not after the last observation"):
        personal_plan(read_record(PATIENT_101), alternative=lines)
    alt = tmp_path / "alt.yaml"
    alt.write_text(yaml.safe_dump(lines))
    assert main(["plan", PATIENT_101, "--alternative", str(alt)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --alternative alt.yaml: alternative[1].at: a dose at 20 h is not after the last "
                   "observation (336 h)"]


def test_the_dose_response_pages_say_what_the_default_model_does():
    # teachers.md, the dose-response how-to, its figure and its script said anesthetic doses switch the mTORC1 signal
    # off (an inverted U): that takes the anesthetic-state hypothesis, off by default; the default model keeps the
    # signal on a plateau (99 % of its rise at 4 mg/kg)
    import warnings

    import numpy as np

    from ketasim import VirtualExperiment, quick_scenario, simulate

    times = np.linspace(0, 48, 577)

    def rise(dose, experiment=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")             # anesthetic-range doses warn by design
            sc = quick_scenario("racemic-ketamine", "iv-infusion", f"{dose} mg/kg")
            return simulate(sc, typical=True, output_times_h=times, experiment=experiment).trajectories().mtorc1.max() - 1

    on = VirtualExperiment(anesthetic_state=True)
    assert rise(4.0) > 0.9 * rise(1.0)                  # default: a plateau, no inverted U
    assert rise(4.0, on) < 0.5 * rise(1.0, on)          # the hypothesis: the inverted U
    docs = Path(__file__).resolve().parents[1] / "docs"
    for page in ("teachers.md", "howto/dose-response.md"):
        text = " ".join((docs / page).read_text(encoding="utf-8").split())
        assert "off by default" in text and "anesthetic_state" in text, page
    script = (docs / "tutorials" / "dose_response.py").read_text(encoding="utf-8")
    assert "higher doses give less" not in script and "anesthetic_state=True" in script


def test_plan_candidates_are_distinct_regimens_in_a_short_window():
    # with --window '1 week:1 week' the top five were three regimens: 'twice weekly' and 'twice weekly x2, then
    # weekly' (the same two sessions) ranked twice each under two labels
    from ketasim.personal import Limits, candidate_regimens, parse_target
    from ketasim.record import read_record

    rec = read_record(PATIENT_101)
    tgt = parse_target(None, rec.scale, window="1 week:1 week")
    cands = candidate_regimens(rec, Limits(), tgt.end_h)
    keys = [(tuple((d.drug, d.route, d.amount, d.per_kg) for d in c["doses"][:1]), tuple(c["times"])) for c in cands]
    assert len(keys) == len(set(keys))
    labels = [c["label"] for c in cands]
    assert "racemic-ketamine iv-infusion 1 mg/kg, twice weekly" in labels
    assert "racemic-ketamine iv-infusion 1 mg/kg, twice weekly x2, then weekly" not in labels
    # the default four-week window keeps every schedule (they differ there)
    full = [c["label"] for c in candidate_regimens(rec, Limits(), parse_target(None, rec.scale).end_h)]
    assert "racemic-ketamine iv-infusion 1 mg/kg, twice weekly x2, then weekly" in full


@pytest.mark.parametrize("text, why", [
    ("score<10", "write '<=' (ratings are whole points: below 10 is 'score<=9')"),
    ("madrs >= 20", "the target is a rating at or below a threshold, written '<=' (e.g. 'madrs<=20'), not '>='"),
    ("score=<10", "write '<=', not '=<'"),
    ("score<=-3", "-3 is outside the madrs scale (0-60)"),
])
def test_plan_target_says_what_is_wrong_with_it(text, why):
    # every one of these got only "write e.g. 'score<=10' or 'madrs<=15', got ..."
    from ketasim.personal import parse_target

    with pytest.raises(InputError) as e:
        parse_target(text, "madrs")
    assert str(e.value) == f"target: write e.g. 'score<=10' or 'madrs<=15', got {text!r}: {why}"


def test_a_record_with_nonmem_columns_is_refused_at_the_header_saying_what_to_write():
    # a NONMEM data set's MDV got "p.csv row 1, column MDV: unknown column" (the header's fault, not row 1's, and
    # no word on what to do); ADDL/II stay refused (ignoring them would drop doses)
    from ketasim.record import record_from_csv_text, record_from_yaml

    lines = Path(PATIENT_101).read_text().splitlines()
    for col, hint in (("MDV", "remove it: an observation row with an empty DV is a forecast point"),
                      ("ADDL", "write each dose as its own row: ADDL/II repeats are not read"),
                      ("FOO", "known columns: ID, TIME")):
        text = "\n".join([lines[0] + "," + col] + [ln + ",0" for ln in lines[1:]])
        with pytest.raises(InputError) as e:
            record_from_csv_text(text, source="p.csv")
        msg = str(e.value)
        assert msg.startswith(f"p.csv header, column {col}: unknown column; ") and hint in msg, msg
    with pytest.raises(InputError, match=r"^r\.yaml row 1, column CMT: unknown column; remove it: ROUTE says"):
        record_from_yaml("- {ID: 1, TIME: 0, EVID: 0, DV: 30, DVID: madrs, WT: 70, AGE: 40, SEX: F, CMT: 1}",
                         source="r.yaml")


def test_simulate_events_has_the_id_option_its_two_patient_error_names(tmp_path, capsys):
    # 'simulate --events TWO_IDS.csv' said "(or choose one with --id)", and --id was refused: "no such option"
    from ketasim.cli import main

    lines = Path(PATIENT_101).read_text().splitlines()
    two = tmp_path / "two.csv"
    two.write_text("\n".join(lines + [ln.replace("101,", "102,", 1) for ln in lines[1:]]) + "\n")
    assert main(["simulate", "--events", str(two)]) == 2
    assert "choose one with --id" in capsys.readouterr().err
    assert main(["simulate", "--events", str(two), "--id", "102", "--csv", str(tmp_path / "t.csv")]) == 0
    assert (tmp_path / "t.csv").is_file()
    assert main(["simulate", "--events", str(two), "--id", "7"]) == 2
    assert capsys.readouterr().err.strip().endswith("two.csv: no rows with ID 7 (--id); its IDs: 101, 102")
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--id", "3"]) == 2
    assert "--id: chooses a patient of an --events record" in capsys.readouterr().err


def test_dashboard_api_reads_the_patients_sex_as_the_record_does():
    # the API read anything but 'female' as male: 'F' and 'Female' simulated a man, 'X' too, without a word
    from ketasim.web import api

    def female_fraction(sex):
        form = api.default_form()
        form["patient"]["sex"] = sex
        return api.build(form).mapping["population"]["female_fraction"]

    assert female_fraction("F") == female_fraction("Female") == female_fraction("female") == 1.0
    assert female_fraction("M") == female_fraction("male") == 0.0
    form = api.default_form()
    form["patient"]["sex"] = "X"
    with pytest.raises(api.FormErrors) as e:
        api.build(form)
    assert e.value.errors == [{"field": "patient.sex", "message": "patient.sex: use female or male (or F / M), got 'X'"}]


def test_sobol_indices_above_one_are_called_sampling_noise(tmp_path):
    # 'ST, its ±95% and S1: shares of the endpoint's variance (0-1)' then ST 1.06, S1 1.31 without a word
    import dataclasses

    import numpy as np

    from ketasim.sensitivity import write_html

    res = _small_sensitivity()
    names = [f.name for f in res.factors]
    sob = dataclasses.replace(res, method="sobol", indices={"S1": np.array([1.31, 0.1, 0.0]),
                                                            "S1_conf": np.array([0.1, 0.1, 0.1]),
                                                            "ST": np.array([1.06, 0.2, 0.05]),
                                                            "ST_conf": np.array([0.1, 0.1, 0.1])})
    assert len(names) == 3
    assert (f"note: an index above 1 or S1 above ST by more than the ±95% ({names[0]}) is the Sobol estimator's "
            "sampling noise") in \
        sob.format_table()
    write_html(sob, tmp_path / "s.html")
    assert "Sobol estimator&#x27;s sampling noise" in (tmp_path / "s.html").read_text()
    ok = dataclasses.replace(sob, indices={**sob.indices, "S1": np.array([0.5, 0.1, 0.0]),
                                           "ST": np.array([0.6, 0.2, 0.05])})
    assert ok.sobol_noise_note() is None and "note:" not in ok.format_table()
    assert res.sobol_noise_note() is None                   # Morris: no such note


def test_a_record_starts_an_oral_antidepressant_without_an_amount_as_a_scenario_does():
    # a scenario writes {drug: oral-antidepressant, route: oral, at: 25 h}; the same row in a record was refused with
    # 'row 3, column AMT: a value is required here' (a made-up '1 mg' was needed)
    from ketasim.record import Drug, record_from_csv_text

    text = ("ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
            "4,0,0,,,,,,34,madrs,70,40,F\n"
            "4,0.5,1,56,mg,,esketamine,intranasal,,,,,\n"
            "4,25,1,,,,oral-antidepressant,oral,,,,,\n")
    rec = record_from_csv_text(text, source="ad.csv")
    ad = [d for d in rec.doses if d.drug is Drug.ORAL_ANTIDEPRESSANT]
    assert len(ad) == 1 and ad[0].at_h == 25.0 and ad[0].amount == 0.0
    with pytest.raises(InputError, match=r"^ad\.csv row 2, column AMT: a value is required here"):
        record_from_csv_text(text.replace("0.5,1,56,mg", "0.5,1,,mg"), source="ad.csv")


def test_plan_variable_that_is_zero_at_every_visit_says_why():
    # 'plan --variable cadss' printed 'median 0 50% [0, 0] 90% [0, 0]' at every point without a word: the forecast
    # points are visits between sessions
    from ketasim.personal import personal_plan
    from ketasim.plan_report import text_summary
    from ketasim.record import read_record

    out = personal_plan(read_record(PATIENT_101), variables=("score", "cadss"), n_samples=200, top=1)
    text = text_summary(out)
    assert "  (cadss is 0 at every forecast point: they are visits between sessions" in text
    assert "(score is 0" not in text


def test_sensitivity_parameters_given_a_file_says_it_takes_names():
    # `trial --parameters out/cal.json` is a parameter set; `sensitivity --parameters out/cal.json` said only
    # "no parameter matches out/cal.json"
    from ketasim.scenario import load_scenario
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario("examples/design_example.yaml")
    with pytest.raises(InputError, match=r"; patterns are parameter names \(fnmatch patterns"):
        run_sensitivity(sc, endpoint="cadss_peak", patterns=("out/cal.json",), samples=2, n_patients=2)
    with pytest.raises(InputError) as e:
        run_sensitivity(sc, endpoint="cadss_peak", patterns=("nothing.*",), samples=2, n_patients=2)
    assert str(e.value) == "patterns: no parameter matches nothing.* (see 'ketasim params')"


def test_export_writes_a_parameter_set_file_before_it_is_installed(tmp_path, capsys):
    # trial, plan, simulate and qualify take --parameters FILE; export had none ("'ketasim export' has no such
    # option"), so a new fit could not be exported without installing it
    import json
    import re

    from ketasim.calibration import default_free_parameters_path
    from ketasim.cli import main

    data = json.loads(default_free_parameters_path().read_text())
    orig = data["parameters"]["emax_drug"]["value"]
    data["parameters"]["emax_drug"]["value"] = 0.5
    half = tmp_path / "half.json"
    half.write_text(json.dumps(data), encoding="utf-8")
    for name, extra in (("installed", []), ("half", ["--parameters", str(half)])):
        assert main(["export", "examples/design_example.yaml", "--sbml", str(tmp_path / f"{name}.xml"), *extra]) == 0
    capsys.readouterr()

    def emax(name):
        text = (tmp_path / f"{name}.xml").read_text()
        return float(re.search(r'id="emax_drug" value="([^"]+)"', text).group(1))

    assert abs(emax("half") / emax("installed") - 0.5 / orig) < 1e-9      # the file's value (scaled as installed)
    assert main(["export", "examples/design_example.yaml", "--sbml", str(tmp_path / "x.xml"), "--parameters",
                 str(tmp_path / "missing.json")]) == 2
    assert "error: --parameters: " in capsys.readouterr().err and not (tmp_path / "x.xml").exists()


def test_plan_report_states_the_forecast_numbers_the_text_prints(tmp_path):
    # the report drew the rating's forecast as a figure only: its numbers (and --variable's forecasts), printed by
    # the text and in the JSON, were not in it
    import re

    from ketasim.personal import personal_plan
    from ketasim.plan_report import plan_report, text_summary
    from ketasim.record import read_record

    res = personal_plan(read_record(PATIENT_101), variables=("score", "cp_ketamine_ng_ml"), n_samples=200, top=1)
    plan_report(res, tmp_path / "p.html")
    page = (tmp_path / "p.html").read_text()
    text = text_summary(res)
    first = next(e for e in res["forecast"] if e["variable"] == "score")
    line = re.search(rf"{first['time_h']:8.1f} h  median\s+(\S+)  50% \[(\d+), (\d+)\]  90% \[(\d+), (\d+)\]", text)
    med, a, b, c, d = line.groups()
    assert (f"<td>{med}</td><td>[{a}, {b}]</td><td>[{c}, {d}]</td>") in page
    assert "<td class=\"l\">cp_ketamine_ng_ml (ng/mL)</td>" in page        # with its unit (fortieth session)


def test_a_record_with_sessions_hours_apart_warns_that_time_is_in_hours():
    # patient_101 with TIME in days (0, 0.02, 1.02, 3.5, ...) was read as six infusions in 14 hours without a word
    from ketasim.errors import RecordWarning
    from ketasim.record import record_from_csv_text

    lines = Path(PATIENT_101).read_text().splitlines()
    days = [lines[0]]
    for ln in lines[1:]:
        f = ln.split(",")
        f[1] = f"{float(f[1]) / 24:g}"
        days.append(",".join(f))
    with pytest.warns(RecordWarning, match=r"^d\.csv row 7, column TIME: a ketamine session 3\.5 h after the one at "
                                           r"0\.0208333 h; 4 more session\(s\) as close; TIME is in hours"):
        record_from_csv_text("\n".join(days), source="d.csv")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record_from_csv_text("\n".join(lines), source="p.csv")          # sessions 3.5 d apart: no warning
        # a nasal session's two devices 5 min apart are one session
        record_from_csv_text("ID,TIME,EVID,AMT,AMTU,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n1,0,0,,,,,30,madrs,70,40,F\n"
                             "1,1,1,28,mg,esketamine,intranasal,,,,,\n1,1.0833,1,28,mg,esketamine,intranasal,,,,,\n",
                             source="n.csv")


def test_sensitivity_refuses_a_size_it_cannot_run(monkeypatch):
    # --size had no upper bound: --size 5000000 started ~1,100 evaluations of 5 million patients without a word
    from ketasim.scenario import load_scenario
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario("examples/design_example.yaml")
    with pytest.raises(InputError, match=r"^n_patients: must lie in 1-2,000,000, got 5,000,000"):
        run_sensitivity(sc, endpoint="cadss_peak", n_patients=5_000_000)
    monkeypatch.setenv("KETASIM_MAX_SECONDS", "60")
    with pytest.raises(InputError, match=r"^n_patients: 1,3\d\d evaluations of 2,000,000 patients would compute for ~"):
        run_sensitivity(sc, endpoint="cadss_peak", n_patients=2_000_000)


@pytest.mark.parametrize("window, text", [
    (None, "MADRS <= 10 at every weekly visit from day 7 to day 28 after the last observation"),
    ("1 h:1 h", "MADRS <= 10 at the visit 60 min after the last observation"),
    # s42 (H4): one visit, at 12 h (was 'at every weekly visit from 12 h to day 3')
    ("12 h:3 d", "MADRS <= 10 at the visit 12 h after the last observation (the only weekly visit in the window from "
                 "12 h to day 3)"),
    ("1 week:1 week", "MADRS <= 10 at the visit on day 7 after the last observation"),
])
def test_plan_target_text_for_short_windows(window, text):
    # '--window "1 h:1 h"' printed 'at every weekly visit from day 0.0416667 to day 0.0416667'
    from ketasim.personal import parse_target

    assert parse_target(None, "madrs", window=window).text("madrs") == text


def test_plan_target_text_names_the_scale_as_tables_do():
    # s41 (H4): the pin above changed deliberately from 'madrs <= 10 ...' (the scale's key) to the display name
    from ketasim.personal import parse_target

    assert parse_target("score<=7", "hamd17").text("hamd17").startswith("HAM-D17 <= 7 at every weekly visit")


@pytest.mark.parametrize("text, message", [
    ("esketamine_mg_session=84mg", "limits esketamine_mg_session: '84mg' is not a number (the unit is in the "
                                   "limit's name: write esketamine_mg_session=84)"),
    ("drugs=esketamine,racemic-ketamine", "limits: 'racemic-ketamine' is not name=value (several drugs or routes "
                                          "are joined with '+', e.g. drugs=esketamine+racemic-ketamine)"),
    ("foo", "limits: 'foo' is not name=value"),
    ("sbp_rise_mmhg=abc", "limits sbp_rise_mmhg: 'abc' is not a number"),
])
def test_plan_limits_say_how_to_write_a_unit_or_a_second_drug(text, message):
    # '84mg' got only "is not a number", 'drugs=esketamine,racemic-ketamine' only "'racemic-ketamine' is not
    # name=value"
    from ketasim.personal import parse_limits

    with pytest.raises(InputError) as e:
        parse_limits(text)
    assert str(e.value) == message


def test_dashboard_lets_a_hill_coefficient_of_one_go_up_as_the_sensitivity_analysis_does():
    # plausible_range capped every dimensionless parameter <= 1 at 1: pd.nmda.hill (1) could only go down ('1.5 is
    # outside the plausible range 0.2-1'), while `ketasim sensitivity` samples it from 0.5 to 2
    from ketasim.parameters import load_parameters
    from ketasim.sensitivity import _literature_range
    from ketasim.web import api

    lo, hi = api.plausible_range("pd.nmda.hill")
    assert lo < 1 < 2 <= hi
    assert _literature_range(load_parameters().literature["pd.nmda.hill"])[1] <= hi
    assert api.plausible_range("pk.fu")[1] <= 1.0                  # a fraction (0.56) still stays within 1
    form = api.default_form()
    form["overrides"] = {"pd.nmda.hill": 1.5}
    assert api.simulate_form(form)["ok"]


def test_dashboard_scenario_download_names_the_parameter_edits_it_cannot_carry(tmp_path):
    # with 'Edit a parameter' (pd.nmda.hill 1.5) the downloaded scenario said nothing of it: running it with
    # `ketasim simulate` silently used the installed value and gave other results than the page
    from ketasim.scenario import load_scenario
    from ketasim.web import api

    form = api.default_form()
    form["overrides"] = {"pd.nmda.hill": 1.5}
    text = api.scenario_yaml(form)
    assert text.startswith("# Parameter edits made on the dashboard (not part of a scenario")
    assert "#   pd.nmda.hill = 1.5 dimensionless (installed: 1)\n" in text
    (tmp_path / "s.yaml").write_text(text)
    assert load_scenario(tmp_path / "s.yaml").name == "ketasim-dashboard"      # still a valid scenario file
    assert not api.scenario_yaml(api.default_form()).startswith("#")
