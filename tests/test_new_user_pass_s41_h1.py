"""Session 41 new-user pass, helper H1 (plan records, qualify, sensitivity, export, trial designs, tutorials)."""

from __future__ import annotations

import warnings

import pytest

from ketasim.errors import RecordWarning
from test_web_browser import PEAK_JS, _new_page, _wait_new_answer, browser, dashboard  # noqa: F401 (fixtures)

_HEADER = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"


@pytest.mark.parametrize("drug,route,why", [("oral-antidepressant", "oral", "an oral antidepressant's dose is not"),
                                            ("placebo", "intranasal", "a placebo has no drug amount")])
def test_record_amount_of_an_unmodelled_dose_warns_that_it_is_ignored(drug, route, why):
    # a record's 'oral-antidepressant, 20 mg' (or a placebo spray's 56 mg) was read and ignored without a word, while
    # the same dose in a scenario line warns
    from ketasim.record import record_from_csv_text

    text = (_HEADER + "7,0,0,,,,,,34,madrs,70,50,M\n"
            f"7,0.5,1,20,mg,,{drug},{route},,,,,\n"
            "7,24,0,,,,,,24,madrs,,,\n")
    with pytest.warns(RecordWarning, match=rf"^r\.csv row 2, column AMT: {why}.*; 20 mg is ignored \(leave AMT"):
        rec = record_from_csv_text(text, source="r.csv")
    assert rec.doses[0].drug.value == drug
    # without an amount: silent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record_from_csv_text(text.replace(f"20,mg,,{drug}", f",,,{drug}"), source="r.csv")



_DOSES_ONLY = (_HEADER + "3,0,1,56,mg,,esketamine,intranasal,,,70,30,F\n"
               "3,84,1,56,mg,,esketamine,intranasal,,,,,\n")


def test_plan_margin_at_another_quantile_names_what_its_p90_is(tmp_path, capsys):
    # 'SBP margin +32 mmHg (75th percentile; p90 14)' read as a margin of 14 at the 90th percentile; it is the rise
    import json

    from ketasim.cli import main

    rec, js = tmp_path / "r.csv", tmp_path / "plan.json"
    rec.write_text(_DOSES_ONLY, encoding="utf-8")
    assert main(["plan", str(rec), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    plans = [p for p in json.loads(js.read_text())["plans"] if p["sessions"]]
    assert plans
    for p in plans:
        s = p["safety"]
        assert s["judged_at"] == {"sbp_rise_mmhg": 0.75, "cadss": 0.75}
        assert (f"SBP margin {s['sbp_margin_mmhg']:+.0f} mmHg (75th percentile; p90 rise {s['sbp_rise_p90_mmhg']:.0f} "
                f"mmHg), CADSS margin {s['cadss_margin']:+.0f} (75th percentile; p90 peak {s['cadss_peak_p90']:.0f})"
                in out), out


def test_printed_observed_table_gives_each_row_its_unit():
    # `trial --observed` printed mean changes, rates in % and side-effect peaks side by side without a unit (the
    # report's table has one)
    from ketasim import load_scenario, run_trial
    from ketasim.observed import compare_observed, format_observed, read_observed

    sc = load_scenario("examples/observed/murrough2013.yaml")
    df = compare_observed(run_trial(sc, n=30), read_observed("examples/observed/murrough2013_observed.csv", sc))
    lines = format_observed(df, "m.csv").splitlines()
    assert lines[2].split()[-2:] == ["inside", "unit"], lines[2]
    rows = {(r.arm, r.measure): r for r in df.itertuples()}
    for ln in lines[3:3 + len(df)]:
        arm, measure = ln.split()[:2]
        unit = "MADRS points" if rows[arm, measure].unit == "points" else "% of patients"
        assert ln.endswith("  " + unit), ln


@pytest.mark.parametrize("text", ["0.5 mg/kg mg/kg", "0.5 mg/kg kg/mg", "0.5 kg/kg"])
def test_a_dose_unit_naming_kg_twice_is_refused(text):
    # pint reads mg/kg as a pure number: 'mg/kg mg/kg' (the dashboard's dose box with '0.5 mg/kg' typed in and the
    # unit menu's mg/kg after it) ran as 5e-07 mg/kg with only a 'far below any studied dose' warning
    from ketasim.errors import UnitError
    from ketasim.units import parse_dose

    with pytest.raises(UnitError, match=r"^arms\.k\[0\]\.dose: cannot read .*names kg more than once; write one "
                                        r"mass per kg, e\.g\. '0\.5 mg/kg'$"):
        parse_dose(text, "arms.k[0].dose")
    for ok, want in (("0.5 mg/kg", 0.5), ("500 µg/kg", 0.5), ("0.5 mg per kg", 0.5), ("0.5 g/kg", 500.0),
                     ("0.5 mg kg-1", 0.5)):
        assert parse_dose(ok, "d") == (pytest.approx(want), "mg/kg")
    with pytest.raises(UnitError, match="must be a mass per body weight"):
        parse_dose("0.5 min/kg", "d")


def test_an_infusion_rate_naming_kg_twice_is_refused():
    from ketasim.errors import UnitError
    from ketasim.regimen import parse_rate

    with pytest.raises(UnitError, match=r"names kg more than once; write one mass per kg, e\.g\. '0\.75 mg/kg/h'$"):
        parse_rate("0.5 mg/kg mg/kg/h", "rate")
    assert parse_rate("0.5 mg/kg/min", "r") == (pytest.approx(30.0), True)
    assert parse_rate("0.5 mg/h/kg", "r") == (pytest.approx(0.5), True)
    assert parse_rate("500 ug/kg/h", "r") == (pytest.approx(0.5), True)
    assert parse_rate("30 mg/h", "r") == (pytest.approx(30.0), False)


def _form(**reg):
    line = {"name": "ket", "drug": "racemic-ketamine", "route": "iv-infusion", "dose": 0.5, "dose_unit": "mg/kg",
            "duration_min": 40, **reg}
    return {"patient": {"weight_kg": 70, "age_years": 40, "sex": "female", "baseline": 32}, "regimens": [line]}


@pytest.mark.parametrize("box,typed,want", [("dose", "0.5 mg/kg", "0.5 mg/kg"), ("dose", "0.5mg/kg", "0.5 mg/kg"),
                                            ("duration_min", "40 min", "40 min")])
def test_dashboard_box_with_the_unit_beside_it_typed_in_is_read_once(box, typed, want):
    # the dashboard's dose box is text: '0.5 mg/kg' typed beside the mg/kg menu became '0.5 mg/kg mg/kg' (run as
    # 5e-07 mg/kg with a 'far below any studied dose' warning); '40 min' in the duration became '40 min min' (refused
    # as "unit 'min min' cannot be converted to 'hour'")
    from ketasim.web import api

    built = api.build(_form(**{box: typed}))
    line = built.mapping["arms"]["ket"][0]
    assert line["dose" if box == "dose" else "duration"] == want
    assert built.scenario.arms[0].doses[0].amount == pytest.approx(0.5)
    assert not built.warnings


@pytest.mark.parametrize("reg,field,needle", [
    ({"dose": "35 mg"}, "regimen.0.dose", "the dose '35 mg' carries a unit (mg) other than the unit chosen beside it "
                                          "(mg/kg); type the number alone, or choose mg there"),
    ({"duration_min": "1 h"}, "regimen.0.duration_min", "the duration '1 h' carries a unit (h) other than minutes"),
    ({"every": "84 h", "every_unit": "d", "count": 4}, "regimen.0.every", "the interval '84 h' carries a unit (h)"),
])
def test_dashboard_box_with_another_unit_typed_in_names_the_box(reg, field, needle):
    from ketasim.web import api

    with pytest.raises(api.FormErrors) as e:
        api.build(_form(**reg))
    assert [(x["field"], needle in x["message"]) for x in e.value.errors] == [(field, True)], e.value.errors


@pytest.mark.parametrize("levels", ["28 mg, 56 mg, 84 mg", "28mg 56mg 84mg", "28, 56, 84", "28 56 84"])
def test_dashboard_titration_levels_typed_with_their_unit(levels):
    # '28 mg, 56 mg, 84 mg' was split at spaces into '28', 'mg', '56', ...: "doses[1]: cannot read 'mg mg'"
    from ketasim.web import api

    reg = {"name": "esk", "drug": "esketamine", "route": "intranasal", "dose": 28, "dose_unit": "mg", "every": 3.5,
           "every_unit": "d", "count": 8,
           "titration": {"enabled": True, "doses": levels, "sessions": "2, 3, 4", "increase_below_pct": 50}}
    form = {"patient": {"weight_kg": 70, "age_years": 70, "sex": "female", "baseline": 32}, "regimens": [reg]}
    built = api.build(form)
    assert built.mapping["arms"]["esk"]["titration"]["doses"] == ["28 mg", "56 mg", "84 mg"]
    assert built.scenario.arms[0].titration.levels == (28.0, 56.0, 84.0)


def test_plan_alternative_line_without_at_says_it_is_missing():
    # 'alternative[0].at: a dose at 0 h is not after the last observation (336 h)' named a time never typed
    from ketasim.errors import InputError
    from ketasim.personal import _future_doses
    from ketasim.record import read_record

    rec = read_record("examples/patient/patient_101.csv")
    line = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}
    with pytest.raises(InputError, match=r"^alternative\[0\]\.at: missing; give the time on the record's clock, after "
                                         r"the last observation \(336 h\), e\.g\. '360 h'$"):
        _future_doses(rec, [line], "alternative")
    with pytest.raises(InputError, match=r"^alternative\[0\]\.at: a dose at 100 h is not after the last observation"):
        _future_doses(rec, [{**line, "at": "100 h"}], "alternative")
    assert _future_doses(rec, [{**line, "at": "400 h"}], "alternative")[0].at_h == 400.0


def test_withdrawal_trial_says_how_many_entered_the_induction(tmp_path):
    # the arms printed n=50 and n=51 (the randomized responders) and the report's provenance 'patients per arm 200':
    # the induction's size was said nowhere as such
    from ketasim import load_scenario, run_trial
    from ketasim.report import trial_report

    tr = run_trial(load_scenario("docs/tutorials/withdrawal.yaml"), n=40)
    first = tr.format_table().splitlines()[0]
    assert first.endswith("; 40 patients in the open-label induction, the arms' n are those randomized"), first
    assert sum(o.n for o in tr.outcomes.values()) < 40
    page = trial_report(tr, tmp_path / "w.html").read_text()
    assert "patients in the open-label induction</td><td class=\"l\">40<" in page
    assert "patients per arm</td>" not in page


def test_crossover_table_says_whether_periods_carry_over():
    # with and without design.period_interval the printed table read alike ('crossover trial, seed 21, ...'), though
    # one runs the periods in sequence with carry-over and the other from the drug-free state
    from ketasim import load_scenario, run_trial, scenario_from_dict

    sc = load_scenario("docs/tutorials/crossover.yaml")
    first = run_trial(sc, n=10).format_table().splitlines()[0]
    assert first.endswith("; every period from the drug-free state (complete washout, no carry-over)"), first
    import yaml

    from pathlib import Path

    doc = yaml.safe_load(Path("docs/tutorials/crossover.yaml").read_text(encoding="utf-8"))
    doc["design"]["period_interval"] = "7 d"
    first = run_trial(scenario_from_dict(doc), n=10).format_table().splitlines()[0]
    assert first.endswith("; periods 7 d apart, 2 sequences (carry-over included; changes from each period's "
                          "baseline)"), first


def test_simulate_events_with_size_says_whose_covariates_the_population_has(tmp_path, capsys):
    # `simulate --events R.csv --size 50` began 'typical patient (the population's mean covariates ...)': nothing
    # said that the 50 patients have the record's covariates or that its ratings were not fitted
    from ketasim.cli import main

    rec = tmp_path / "r.csv"
    rec.write_text(_HEADER + "9,0,0,,,,,,30,madrs,60,35,F\n9,1,1,56,mg,,esketamine,intranasal,,,,,\n"
                   "9,25,0,,,,,,18,madrs,,,\n", encoding="utf-8")
    assert main(["simulate", "--events", str(rec), "--size", "5"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (f"patient 9: the record's doses and covariates for 5 virtual patients (the population's spread of "
                     f"random effects); its 2 observed values are not fitted (`ketasim plan {rec}` fits them and "
                     "forecasts this patient)"), first


def test_sensitivity_says_which_design_it_does_not_apply():
    # a randomized-withdrawal scenario's 'mean@84d' of the withdraw arm was every patient's, not the randomized
    # responders' the trial reports, without a word
    from ketasim import load_scenario
    from ketasim.sensitivity import run_sensitivity

    res = run_sensitivity(load_scenario("docs/tutorials/withdrawal.yaml"), endpoint="mean@84d", arm="withdraw",
                          patterns=("pd.nmda.hill",), samples=2, n_patients=5, seed=3, local=False)
    note = ("the endpoint is the arm's regimen over all its virtual patients, as a parallel arm: the "
            "randomized_withdrawal design (only the induction's responders are randomized) not applied")
    assert res.meta["design_note"].startswith(note)
    assert "  note: " + note in res.format_table()
    res = run_sensitivity(load_scenario("examples/design_example.yaml"), endpoint="mean@24h",
                          patterns=("pd.nmda.hill",), samples=2, n_patients=5, seed=3, local=False)
    assert "design_note" not in res.meta and "parallel arm" not in res.format_table()


def test_qualify_table_gives_each_row_its_unit(tmp_path, capsys, monkeypatch):
    # `ketasim qualify` printed mean changes, SDs, rates and mmHg side by side without a unit (the HTML has one)
    from ketasim import calibration
    from ketasim.app import qualify_cli

    real = calibration.qualify
    trials = ["murrough2013_ajp", "riva_posse2018_bp"]
    monkeypatch.setattr(calibration, "qualify", lambda params, **kw: real(params, **{**kw, "trials": trials}))
    qualify_cli(html=tmp_path / "q.html", size=30, seed=3)
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("row"))
    assert lines[head].split() == ["row", "observed", "predicted", "95%", "interval", "in", "unit", "label"]
    rows = [ln for ln in lines[head + 1:] if ln.strip() and ln.split()[0].isdigit()]
    units = {ln.split("  y   ")[-1].split("  n   ")[-1].split("  ")[0].strip(): ln for ln in rows}
    assert {"points", "%", "mmHg"} <= set(units), rows
    assert "response_rate" in units["%"] and "BP change" in units["mmHg"] and "mean_change" in units["points"]


def test_figures_carry_the_provenance_of_their_run(tmp_path):
    # a PNG from `simulate --plot` or `sensitivity --plot` named no parameter set, model or seed: the one output
    # without provenance
    import json

    from PIL import Image

    from ketasim import quick_scenario, simulate
    from ketasim.plotting import plot_cascade

    res = simulate(quick_scenario("esketamine", "intranasal", "56 mg"), typical=True, output_times_h=[0, 1, 24])
    fig = plot_cascade(res, path=tmp_path / "c.png", notice="n")
    texts = [t.get_text() for t in fig.texts]
    prov = res.provenance
    assert any(f"parameter set {prov['parameter_set']}" in t and f"model {prov['model']}" in t for t in texts), texts
    with Image.open(tmp_path / "c.png") as im:
        stored = json.loads(im.info["ketasim provenance"])
    assert stored == {k: prov[k] for k in ("scenario", "seed", "parameter_set", "model", "ketasim_version")}

    from ketasim import load_scenario
    from ketasim.sensitivity import run_sensitivity, write_tornado

    s = run_sensitivity(load_scenario("examples/design_example.yaml"), endpoint="mean@24h",
                        patterns=("pd.nmda.hill",), samples=2, n_patients=5, seed=3, local=False)
    write_tornado(s, tmp_path / "t.png")
    with Image.open(tmp_path / "t.png") as im:
        stored = json.loads(im.info["ketasim provenance"])
    assert stored["parameter_set"] == s.meta["parameter_set"] and stored["seed"] == 3


def test_sbml_notes_name_the_patient_and_the_comedications(tmp_path):
    # two arms' files of the clarithromycin DDI example differed in cl_s and fh_s with nothing in the file saying why
    from ketasim import load_scenario
    from ketasim.export import export_sbml

    sc = load_scenario("examples/pk/ddi_oral_esketamine_clarithromycin.yaml")
    a = export_sbml(sc, tmp_path / "a.xml").read_text(encoding="utf-8")
    b = export_sbml(sc, tmp_path / "b.xml", arm="esketamine-with-clarithromycin").read_text(encoding="utf-8")
    assert "Patient: the typical patient, 75 kg, 30 years, female, baseline " in a
    assert "; comedications: none." in a
    assert "; comedications: clarithromycin (this arm)." in b


def test_crossover_in_sequence_patient_ratings_say_each_rows_period():
    # with design.period_interval each arm is a period of a sequence, time_h counts from that period's first dose
    # and the baseline is the rating before it: the per-patient table said none of this
    import yaml
    from pathlib import Path

    from ketasim import run_trial, scenario_from_dict

    doc = yaml.safe_load(Path("docs/tutorials/crossover.yaml").read_text(encoding="utf-8"))
    doc["design"]["period_interval"] = "7 d"
    tr = run_trial(scenario_from_dict(doc), n=6)
    df = tr.patient_ratings()
    assert list(df.columns[:5]) == ["arm", "subject", "sequence", "period", "time_h"]
    one = df.drop_duplicates(["arm", "subject"]).pivot(index="subject", columns="arm", values="period")
    assert (one.apply(sorted, axis=1).tolist() == [[1, 2]] * 6)       # each patient: both periods, one per arm
    assert set(df.sequence) == {1, 2} and (df.sequence == df.subject % 2 + 1).all()
    units = tr.patient_rating_units()
    assert units["time_h"] == "h after the first dose of this arm's period" and "period" in units
    plain = run_trial(scenario_from_dict({**doc, "design": {"type": "crossover", "control": "midazolam"}}), n=6)
    assert "period" not in plain.patient_ratings() and plain.patient_rating_units()["time_h"] == "h"


@pytest.mark.parametrize("design,test", [("crossover", "paired t on log ratios"), ("parallel", "Welch t on logs")])
def test_pk_ratios_name_their_statistic_and_test(design, test):
    # 'cmax_ratio s-ketamine 2.395  90% CI [...]  p<0.001' said neither that it is a geometric mean ratio nor which
    # test gave the p (the JSON's 'test' did)
    import yaml
    from pathlib import Path

    from ketasim import run_trial, scenario_from_dict

    doc = yaml.safe_load(Path("examples/pk/ddi_oral_esketamine_clarithromycin.yaml").read_text(encoding="utf-8"))
    doc["design"] = {"type": design, **({"control": "esketamine-alone"} if design == "crossover" else {})}
    tr = run_trial(scenario_from_dict(doc), n=6)
    assert f"PK ratios: geometric mean ratio with its 90 % CI, {test}" in tr.comparison_methods()
    assert f"PK ratios: geometric mean ratio with its 90 % CI, {test})" in tr.format_table()


def test_record_yaml_with_misnamed_rows_is_not_called_a_scenario():
    # {patient: {...}, rows: [...]} was told "this is a scenario (arms, population): run it with ketasim simulate"
    from ketasim.record import RecordError, record_from_mapping

    with pytest.raises(RecordError, match=r"found 'rows', a list: name it 'events'$"):
        record_from_mapping({"patient": {"ID": 5, "WT": 70}, "rows": [{"TIME": 0, "EVID": 0}]}, source="r.yaml")
    with pytest.raises(RecordError, match=r"this is a scenario \(arms, population\)"):
        record_from_mapping({"name": "x", "population": {"size": 5}, "arms": {"a": []}}, source="s.yaml")


@pytest.mark.parametrize("text,name", [("clarithromycin 500 mg bid", "clarithromycin"),
                                       ("Rifampicin 600mg for 5 d", "rifampicin"),
                                       ("grapefruit juice 200 mL", "grapefruit-juice")])
def test_comedication_with_its_dose_says_the_dose_is_not_read(text, name):
    # 'clarithromycin 500 mg bid' (as a chart writes it) was an 'unknown comedication' listing the one it names
    from ketasim.errors import InputError
    from ketasim.population import parse_comedication

    with pytest.raises(InputError, match=rf"^--comedication: .*: a comedication's dose is not read \(its effect is "
                                         rf"that of the regimen studied, see `ketasim params ddi\.{name}`\); write "
                                         rf"'{name}'"):
        parse_comedication(text, "--comedication")
    with pytest.raises(InputError, match="unknown comedication 'ketoconazole 200 mg'"):
        parse_comedication("ketoconazole 200 mg", "--comedication")


@pytest.mark.parametrize("csv,needle", [
    ("time_d,score\n1,20\n", "'time_d' is in other units: convert it to hours (x 24) and name it time_h"),
    ("time_h,cp_ketamine_ng_ml\n1,-5\n", "row 2: cp_ketamine_ng_ml -5 is negative"),
    ("time_h,cadss\n1,3\n2,-1\n", "row 3: cadss -1 is negative"),
])
def test_dashboard_observed_overlay_refuses_negative_levels_and_names_time_units(csv, needle):
    # a negative plasma level or CADSS was drawn without a word; 'time_d' was told only that time_h is missing
    from ketasim.web import api

    with pytest.raises(api.FormErrors) as e:
        api.parse_observed({"csv": csv})
    [err] = e.value.errors
    assert err["field"] == "observed" and err["message"].startswith("observed: ") and needle in err["message"]
    assert api.parse_observed({"csv": "time_h,sbp_change_mmhg\n1,-5\n"})["values"][0] == -5     # a fall is a change


@pytest.mark.parametrize("dv", ["<0.5", "BLQ", "ND"])
def test_record_value_below_the_assay_limit_says_to_leave_the_row_out(dv):
    # a lab's '<0.5' or 'BLQ' got only "expected a number"; leaving DV empty would make the row a forecast point
    from ketasim.record import RecordError, record_from_csv_text

    text = (_HEADER + "1,0,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,70,40,F\n"
            f"1,24,0,,,,,,{dv},cp_ketamine_ng_ml,,,\n")
    with pytest.raises(RecordError, match=rf"^r\.csv row 2, column DV: expected a number, got '{dv}'; a value below "
                                          r"the assay's limit of quantification \(or not done\) is not read: leave the "
                                          r"row out \(an empty DV is a forecast point, not a missing value\)$"):
        record_from_csv_text(text, source="r.csv")
    with pytest.raises(RecordError, match=r"expected a number, got 'abc'$"):
        record_from_csv_text(text.replace(dv, "abc"), source="r.csv")


def test_trial_report_header_states_the_design_note(tmp_path):
    # the report's header said 'crossover design; ketamine: n=10, ...' alike with and without carry-over, and
    # 'randomized_withdrawal design; continue: n=..' without the induction's size
    import html

    import yaml
    from pathlib import Path

    from ketasim import run_trial, scenario_from_dict
    from ketasim.report import trial_report

    doc = yaml.safe_load(Path("docs/tutorials/crossover.yaml").read_text(encoding="utf-8"))
    doc["design"]["period_interval"] = "7 d"
    tr = run_trial(scenario_from_dict(doc), n=6)
    page = html.unescape(trial_report(tr, tmp_path / "c.html").read_text(encoding="utf-8"))
    assert f"crossover design; ketamine: n=6, midazolam: n=6 ({tr.design_note()})" in page
    assert tr.design_note().startswith("periods 7 d apart, 2 sequences")


_PUSHES = (_HEADER + "1,0,0,,,,,,30,madrs,70,40,F\n1,0.1,1,0.9,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n"
           "1,0.2,1,0.9,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n1,24,0,,,,,,20,madrs,,,\n")


def test_record_doses_that_add_up_to_the_anesthetic_range_warn_in_the_plan():
    # two 0.9 mg/kg pushes 6 min apart: `simulate --events` warned (naming 'arms.record'), `plan` and the plan page
    # said nothing
    from ketasim.summary import record_anesthetic_warnings
    from ketasim.record import record_from_csv_text

    rec = record_from_csv_text(_PUSHES, source="cum.csv")
    [msg] = record_anesthetic_warnings(rec)
    assert msg.startswith("cum.csv: together the record's doses are in the anesthetic range: this patient's (typical "
                          "random effects) effect-site ketamine reaches the peak of a 1 mg/kg push"), msg
    one = record_from_csv_text(_PUSHES.replace("1,0.2,1,0.9,mg/kg,,racemic-ketamine,iv-bolus,,,,,\n", ""),
                               source="cum.csv")
    assert record_anesthetic_warnings(one) == []


def test_simulate_events_names_the_record_in_the_cumulative_warning(tmp_path, capsys):
    from ketasim.cli import main

    rec = tmp_path / "cum.csv"
    rec.write_text(_PUSHES, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("always")                     # the command prints it as one 'warning:' line
        assert main(["simulate", "--events", str(rec)]) == 0
    err = capsys.readouterr().err
    assert "warning: cum.csv: together the record's doses are in the anesthetic range" in err, err
    assert "arms.record" not in err


@pytest.mark.parametrize("opt,value,message", [("--weight", "7", "error: --weight: must lie in [20, 250] kg, got 7"),
                                               ("--age", "7", "error: --age: must lie in [12, 100] years, got 7")])
def test_quick_form_range_errors_name_the_unit(capsys, opt, value, message):
    # '--weight: must lie in [20, 250], got 7' named no unit
    from ketasim.cli import main

    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", opt, value]) == 2
    assert capsys.readouterr().err.strip() == message


@pytest.mark.parametrize("count", [2001, 10001])
def test_quick_form_count_has_one_limit(count):
    # --count 5000 said 'more than the 2000 supported', --count 10001 'must lie in 1-10,000'
    from ketasim import quick_scenario
    from ketasim.errors import InputError

    with pytest.raises(InputError, match=rf"^count: must lie in 1-2,000, got {count:,}$"):
        quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", every="1 d", count=count)
    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", every="1 d", count=2000)
    assert sc.arms[0].doses[0].count == 2000


def test_simulate_events_report_names_the_record_patient(tmp_path):
    # `simulate --events R.csv --report` said 'typical patient only: yes (the population's typical patient: mean
    # covariates ...; --typical or --size 1)' of the record's own patient
    from ketasim.cli import main

    out = tmp_path / "r.html"
    assert main(["simulate", "--events", "examples/patient/patient_101.csv", "--report", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert ("yes (the patient of the record patient_101.csv: its own covariates and doses, typical random effects; "
            "its observed values are not fitted, `ketasim plan` fits them)") in page
    assert "the population&#x27;s typical patient" not in page and "the population's typical patient" not in page


def test_load_scenario_of_a_mapping_points_to_scenario_from_dict():
    # load_scenario({...}) said only 'expected a scenario file path, got dict'
    from ketasim import load_scenario
    from ketasim.errors import InputError

    with pytest.raises(InputError, match=r"^path: expected a scenario file path, got dict; a mapping is read with "
                                         r"scenario_from_dict\(\.\.\.\)$"):
        load_scenario({"name": "x"})
    sc = load_scenario("docs/tutorials/crossover.yaml")
    with pytest.raises(InputError, match="a Scenario is already loaded"):
        load_scenario(sc)


def test_pk_exact_rows_say_why_auc_inf_and_t_half_are_missing():
    # `--pk-exact` of a dose followed by another printed 'model exact ... n/a' and an empty t1/2 without a word
    from ketasim import quick_scenario
    from ketasim.nca import PKSampling, format_summary, scenario_pk

    sc = quick_scenario("esketamine", "intranasal", "56 mg", every="3.5 d", count=2)
    first = format_summary(scenario_pk(sc, n=1, typical=True, sampling=PKSampling(dose="first", exact=True)))
    assert ("  model exact: the same patients on a 1-minute grid (no t1/2 of its own); AUC0-inf only after a last dose "
            "(the grid stops at the next dose)") in first
    last = format_summary(scenario_pk(sc, n=1, typical=True, sampling=PKSampling(dose="last", exact=True)))
    assert "  model exact: the same patients on a 1-minute grid (no t1/2 of its own)\n" in last


def test_plan_of_a_record_on_a_scale_without_a_population_baseline_says_so():
    # a record with an IES-R rating before its first dose was told 'DV (iesr): a score before the first dose: ...
    # state the population's baseline score', which a record cannot do
    from ketasim.errors import InputError
    from ketasim.personal import PatientModel
    from ketasim.record import record_from_csv_text

    text = (_HEADER + "1,0,0,,,,,,20,iesr,70,40,F\n1,0.1,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,\n"
            "1,24,0,,,,,,12,iesr,,,\n")
    rec = record_from_csv_text(text, source="r.csv")
    with pytest.raises(InputError, match=r"^r\.csv: a personal fit needs a prior for the patient's true baseline, the "
                                         r"population's baseline on the record's scale, and IES-R \(iesr\) has none "
                                         r"with a published source; plans fit records rated on madrs, hamd17, "):
        PatientModel(rec)
    assert rec.to_scenario_dict()["population"]["baseline"]["mean"] == 20.0     # simulate --events runs it


def test_quick_form_figure_title_states_the_regimen(tmp_path, monkeypatch):
    # `simulate --drug esketamine ... --plot` was titled 'quick: typical patient' over a legend naming only the drug
    from ketasim import plotting
    from ketasim.cli import main

    titles = []
    real = plotting.plot_cascade

    def spy(*a, **kw):
        titles.append(kw.get("title"))
        return real(*a, **kw)

    monkeypatch.setattr(plotting, "plot_cascade", spy)
    assert main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg", "--every", "3.5d",
                 "--count", "2", "--plot", str(tmp_path / "e.png")]) == 0
    assert titles == ["esketamine intranasal 56 mg, 2 doses every 3.5 d: typical patient"], titles
    assert main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg",
                 "--report", str(tmp_path / "e.html")]) == 0
    assert "ketasim simulation report: esketamine intranasal 56 mg<" in (tmp_path / "e.html").read_text()


def test_dashboard_dose_typed_with_its_unit_runs_and_names_the_arm_once(browser, dashboard):  # noqa: F811
    # the dose box is text: '1 mg/kg' typed beside the mg/kg menu ran as 1e-06 mg/kg and named the arm
    # 'A: ketamine 1 mg/kg mg/kg IV'
    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    peak0 = page.evaluate(PEAK_JS, ["A:", "cp_ketamine_ng_ml"])
    seq = page.evaluate("document.body.dataset.seq")
    page.fill('[data-field="regimen.0.dose"]', "1 mg/kg")
    _wait_new_answer(page, seq)
    assert page.evaluate(PEAK_JS, ["A:", "cp_ketamine_ng_ml"]) == pytest.approx(2 * peak0, rel=0.03)
    name = page.locator('[data-field="regimen.0.name"]').input_value()
    assert "1 mg/kg IV" in name and "mg/kg mg/kg" not in name, name
    assert not problems, problems
    ctx.close()


def test_prediction_intervals_from_few_draws_say_so():
    # `trial --uncertainty 3` printed prediction intervals from the variance of 3 draws without a word (a
    # whole-design trial says so of its draws)
    from ketasim import load_scenario, run_trial
    from ketasim.trial import MIN_PER_ROW_DRAWS, pi_scope

    tr = run_trial(load_scenario("docs/tutorials/placebo_trial.yaml"), n=20, uncertainty=3)
    note = (f"With 3 draws the spread between draws is itself poorly known (use --uncertainty {MIN_PER_ROW_DRAWS} or "
            "more).")
    assert tr.format_table().count(note) == 1
    assert "poorly known" not in pi_scope({"parameter_draws": MIN_PER_ROW_DRAWS, "between_trial": False})


def test_summary_scores_say_their_clock_when_the_first_session_is_later(tmp_path, capsys):
    # `simulate --events R.csv` of a record whose first dose is at 100.5 h printed 'MADRS from 30.0: 2.0 h 30.0,
    # 24.0 h 29.9, ...' (before any dose) as if hours after it
    from ketasim.cli import main

    rec = tmp_path / "t.csv"
    rec.write_text(_HEADER + "1,100,0,,,,,,30,madrs,70,40,F\n"
                   "1,100.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,\n1,124,0,,,,,,20,madrs,,,\n",
                   encoding="utf-8")
    assert main(["simulate", "--events", str(rec)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "MADRS from" in ln)
    assert line.startswith("  MADRS from 30.0 (times from the start; the first session at 4.2 d): 2.0 h 30.0"), line
    assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "MADRS from" in ln)
    assert line.startswith("  MADRS from 33.0: 2.0 h"), line


def test_plan_page_reads_block_yaml_rows_and_refuses_an_unknown_format():
    # '- ID: 5' rows (block YAML, which the page's check missed) went as CSV: 'the first line is not a header'; a
    # format of 'json' was read as CSV
    from ketasim.errors import InputError
    from ketasim.web import api

    text = ("- ID: 5\n  TIME: 0\n  EVID: 0\n  DV: 30\n  DVID: madrs\n  WT: 70\n  AGE: 40\n  SEX: F\n"
            "- {ID: 5, TIME: 0.5, EVID: 1, AMT: 56, AMTU: mg, DRUG: esketamine, ROUTE: intranasal}\n"
            "- {ID: 5, TIME: 24, EVID: 0, DV: 20, DVID: madrs}\n")
    with pytest.raises(InputError, match=r"^format: use csv or yaml, got 'json'$"):
        api._plan_result({"record": text, "format": "json"})
    assert api._plan_result({"record": text, "format": "csv"})["patient"]["id"] == "5"


@pytest.mark.parametrize("word,value", [("yes", 1.0), ("on", 1.0), ("off", 0.0), ("false", 0.0)])
def test_experiment_block_takes_yes_and_no_as_anesthetic_state_does(word, value):
    # '--experiment mtor_block=yes' said "'yes' is not a number" (anesthetic_state=yes is taken)
    from ketasim.cli import _experiment
    from ketasim.errors import InputError

    assert _experiment([f"mtor_block={word}"]).mtor_block == value
    with pytest.raises(InputError, match=r"^--experiment hnk_weight: 'yes' is not a number$"):
        _experiment(["hnk_weight=yes"])


def test_qualification_intervals_from_few_draws_say_so():
    # `qualify --uncertainty 3` widened every interval by 3 draws' variance without a word
    from ketasim.calibration import interval_description

    assert "with 3 draws the spread between draws is itself poorly known (use --uncertainty 20 or more)" in \
        interval_description(3)
    assert "poorly known" not in interval_description(50) and "poorly known" not in interval_description(0)


def test_observed_intervals_from_few_draws_say_so():
    # `trial --observed ... --uncertainty 3`: the observed table's interval line said nothing of 3 draws
    from ketasim import load_scenario, run_trial
    from ketasim.observed import interval_scope

    sc = load_scenario("examples/observed/murrough2013.yaml")
    assert "poorly known" in interval_scope(run_trial(sc, n=20, uncertainty=3))
    assert "poorly known" not in interval_scope(run_trial(sc, n=20))
