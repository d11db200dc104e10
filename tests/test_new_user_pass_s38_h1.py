"""New-user pass of the thirty-eighth session (helper H1): one regression test per fix."""

from __future__ import annotations

import pytest

from _support import one_error_line, run_cli


@pytest.mark.parametrize("value", ["-3", "0", "70"])
def test_quick_form_baseline_out_of_range_names_the_scale_range(capsys, value):
    """`--baseline -3` said "must lie in [0, inf]" while `--baseline 0` said "(0, 60] points on madrs": one range."""
    code, _, err = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg",
                           "--baseline", value)
    assert code == 2
    assert one_error_line(err) == f"error: --baseline: must lie in (0, 60] points on madrs, got {value}"


def test_trial_report_p_column_has_no_p_prefix():
    """The HTML report's column is headed p: it printed '0.031' but 'p<0.001'."""
    from ketasim.report import _fmt_p

    assert _fmt_p(0.0001) == "<0.001"
    assert _fmt_p(0.0312) == "0.031"
    assert _fmt_p(None) == "–"


def test_dir_of_the_package_lists_the_lazy_public_names():
    """`import ketasim; ketasim.<TAB>` (Jupyter, IPython) did not offer simulate, load_scenario, ...: they are
    imported lazily, and dir() showed only the submodules already imported."""
    import ketasim

    names = dir(ketasim)
    for name in ketasim.__all__:
        assert name in names


def test_pk_table_columns_stay_aligned_with_a_tmax_range_and_model_exact_rows(capsys):
    """`simulate --pk --size N` of an IM dose: 'Tmax h' cells like '0.0833 [0.0833-0.0833]' overflowed their 16
    characters and pushed AUC0-t out of its column, and the 'model exact' rows (--pk-exact) sat one character right
    of the analyte rows."""
    import re

    code, out, _ = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "im", "--dose", "0.5mg/kg",
                           "--size", "20", "--pk", "--pk-sample", "arterial", "--pk-exact")
    assert code == 0
    block = out[out.index("  analyte"):].splitlines()
    header, rows = block[0], [ln for ln in block[1:] if ln.startswith("  ") and not ln.startswith("  AUC")]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    assert len(rows) >= 4 and any("model exact" in r for r in rows)
    for row in rows:
        cells = [m.start() for m in re.finditer(r"\S+(?: \S+)*", row)]
        assert cells[1:] == starts[1:len(cells)], (header, row)    # the label is indented under 'analyte'


@pytest.mark.parametrize("scale", ["mssi", "iesr"])          # hamd21 (session 42) and lsas (43) have sourced defaults
def test_dashboard_scale_without_default_baseline_says_to_enter_one(scale):
    """Choosing MSSI or IES-R on the dashboard empties the baseline (no sourced default): the message at the
    baseline field was "population.baseline.mean: expected a number, got an empty value"; now it says the scale has
    no default and gives its range, as the command line does."""
    import copy

    from ketasim.web import api

    form = copy.deepcopy(api.default_form())
    form["patient"].update(scale=scale, baseline=None, condition=None)
    with pytest.raises(api.FormErrors) as e:
        api.simulate_form(form)
    (err,) = e.value.errors
    assert err["field"] == "patient.baseline"
    assert f"{scale} has no default baseline" in err["message"] and "points, 0-" in err["message"]


def test_plan_alternative_is_scored_like_the_recorded_plan():
    """`ketasim plan RECORD --alternative ALT.yaml` forecast the clinician's own regimen but gave no probability of
    the target and no safety margins (the recorded plan and every ranked plan have them), so it could not be set
    beside them. Now it is scored on the recorded plan's samples; the same regimen as a ranked candidate scores the
    same."""
    from ketasim.display import json_safe
    from ketasim.personal import personal_plan
    from ketasim.plan_report import plan_table, text_summary

    alt = [{"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "at": "336.5 h", "every": "84 h",
            "count": 8}]
    res = json_safe(personal_plan("examples/patient/patient_101.csv", alternative=alt, n_samples=100))
    a = res["alternative"]
    assert 0 <= a["p_target"] <= 1 and a["sessions"] == 8 and a["total_dose_mg"] == 672
    assert a["safety"]["sbp_margin_mmhg"] > 0 and a["safe"] and a["breaks_limits"] == {}
    same = [p for p in res["plans"] if p["label"] == "esketamine intranasal 84 mg, twice weekly"]
    assert same and same[0]["p_target"] == a["p_target"] and same[0]["safety"] == a["safety"]
    assert f"  alternative (--alternative): p={a['p_target']:.2f} (8 sessions, 672 mg; SBP margin" in text_summary(res)
    assert "alternative" in set(plan_table(res)["rank"])


def test_patient_scenario_takes_one_dose_line_and_names_a_wrong_regimen():
    """`patient_scenario(Patient(), {drug: ..., route: ..., dose: ...})` (one line, not a list) said "arms.drug:
    expected a non-empty list of doses", and a string said pydantic's "arms: Input should be a valid dictionary"."""
    from ketasim import Patient, patient_scenario
    from ketasim.errors import InputError

    line = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}
    one = patient_scenario(Patient(), line)
    assert one == patient_scenario(Patient(), [line]) == patient_scenario(Patient(), (line,))
    with pytest.raises(InputError, match=r"^arms: expected a list of dose lines .*got str 'esketamine 56 mg'$"):
        patient_scenario(Patient(), "esketamine 56 mg")


def test_comedication_duration_without_unit_suggests_days(capsys):
    """`--comedication 'rifampicin for 5'` suggested "e.g. '5 min' or '5 h'" for days of dosing."""
    code, _, err = run_cli(capsys, "simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg",
                           "--comedication", "rifampicin for 5")
    assert code == 2
    assert one_error_line(err) == "error: --comedication: the unit is missing in '5'; write it explicitly, e.g. '5 d'"


def test_dashboard_key_numbers_name_their_unit_and_cell_type():
    """The dashboard's key-number rows said "SBP rise peak" (+3.7, no unit, where the trial table and the CLI say
    mmHg) and "NMDA block peak" (the interneurons' block; the CLI names both cell types)."""
    from importlib.resources import files

    js = files("ketasim").joinpath("web/static/app.js").read_text(encoding="utf-8")
    assert '["peak_sbp_change_mmhg", "SBP rise peak (mmHg)"' in js
    assert '["peak_nmda_block_interneuron", "NMDA block peak (interneurons)"' in js


@pytest.mark.parametrize("argv, line", [
    (("trial", "docs/tutorials/placebo_trial.yaml", "--chunk", "0"), "error: --chunk: must be at least 1, got 0"),
    (("sensitivity", "examples/design_example.yaml", "--endpoint", "cadss_peak", "--size", "0"),
     "error: --size: must be at least 1, got 0"),
])
def test_option_below_its_minimum_is_one_line_naming_it(capsys, argv, line):
    """`--chunk 0` said the framework's "Invalid value for '--chunk': Input should be greater than or equal to 1",
    unlike every other out-of-range option ("--size: must lie in 1-2,000,000, got 0")."""
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and one_error_line(err) == line


def test_sensitivity_session_measure_with_a_time_is_refused():
    """`ketasim sensitivity ... --endpoint cadss_peak@24h` ran the analysis of the peak over all sessions and
    dropped the time without a word."""
    from ketasim.errors import InputError
    from ketasim.sensitivity import parse_endpoint

    assert parse_endpoint("cadss_peak").time_h is None
    with pytest.raises(InputError, match=r"^endpoint: cadss_peak is the highest value over all sessions, not a value "
                                         r"at a time; write 'cadss_peak' without '@24h'$"):
        parse_endpoint("cadss_peak@24h")


def test_plans_no_sample_meets_are_ranked_by_predicted_rating_not_by_fewest_sessions():
    """With a target no posterior sample of any candidate meets (all p_target 0), the ranking fell to the cost
    tie-break and put "no further sessions" first (#1 of a suicidal-ideation record with SSI <= 2); they are now
    ranked by their predicted median rating at the visits, and the text says so."""
    import numpy as np

    from ketasim.display import json_safe
    from ketasim.personal import personal_plan
    from ketasim.plan_report import text_summary

    res = json_safe(personal_plan("examples/patient/patient_101.csv", target="score<=1", n_samples=100))
    plans = res["plans"]
    assert plans and all(p["p_target"] == 0 for p in plans)
    means = [np.mean([v["median"] for v in p["predicted"]]) for p in plans]
    assert means == sorted(means) and plans[0]["sessions"] > 0
    assert "no sample of any of them meets it, so they are ranked by their predicted median rating" in text_summary(res)


@pytest.mark.parametrize("name, value, message", [
    ("pk.ketamine.v1", -1.0, r"^pk\.ketamine\.v1: must be >= 0 \(shipped value 11\.6 L\), got -1$"),
    ("pk.ketamine.venous_slow_fraction", 2.0, r"^pk\.ketamine\.venous_slow_fraction: a fraction must lie in \[0, 1\], got 2$"),
    ("pd.nmda.m_interneuron", None, r"^pd\.nmda\.m_interneuron: expected a finite number \(dimensionless\), got None$"),
    ("pd.nmda.m_interneuron", float("nan"), r"^pd\.nmda\.m_interneuron: expected a finite number"),
    ("pd.nmda.m_interneuron", "2", r"^pd\.nmda\.m_interneuron: expected a finite number \(dimensionless\), got '2'$"),
])
def test_with_literature_checks_each_value(name, value, message):
    """`load_parameters().with_literature({...})` (the how-to's way to change a parameter) took any value: a negative
    volume stopped in numpy's "Eigenvalues did not converge" (with a RuntimeWarning), None in a TypeError, a
    fraction of 2 or a string ran silently."""
    from ketasim import load_parameters
    from ketasim.errors import ParameterSetError

    p = load_parameters()
    with pytest.raises(ParameterSetError, match=message):
        p.with_literature({name: value})
    assert p.with_literature({"pd.hnk.weight": 0, "pk.ketamine.v1": 12}).literature["pk.ketamine.v1"].value == 12


def test_compare_observed_names_a_wrong_result():
    """`compare_observed(simulate(sc, n=10), 'obs.csv')` (a SimulationResult where a TrialResult is meant) failed
    with "AttributeError: 'SimulationResult' object has no attribute 'uncertainty'"-style errors."""
    from ketasim import compare_observed, load_scenario, simulate
    from ketasim.errors import InputError

    res = simulate(load_scenario("examples/observed/murrough2013.yaml"), n=4)
    with pytest.raises(InputError, match=r"^result: expected a TrialResult \(ketasim\.run_trial\(scenario\)\), got "
                                         r"SimulationResult$"):
        compare_observed(res, "examples/observed/murrough2013_observed.csv")


def test_session_peak_ci_does_not_reach_below_zero():
    """`ketasim trial examples/crossover_one_week_apart.yaml`: the placebo period's CADSS peaks were the previous
    period's residue (~1e-18), and the table printed "cadss_peak 0.00 [-0.00, 0.00]" (JSON ci95 [-5e-19, ...])."""
    from ketasim import load_scenario, run_trial

    tr = run_trial(load_scenario("examples/crossover_one_week_apart.yaml"), n=12)
    row = next(r for r in tr.to_dict()["arms"]["placebo"]["endpoints"] if r["measure"] == "cadss_peak")
    assert row["value"] == 0 and row["ci95"] == [0.0, 0.0]
    assert "-0.00" not in tr.format_table()


def test_a_stated_patient_without_a_default_baseline_is_asked_for_its_own():
    """`Patient(scale='hamd21')` said "state the population's baseline score" of one stated patient (hamd21 has a
    sourced default since session 42: the scale without one here is the IES-R)."""
    from ketasim import Patient, patient_scenario
    from ketasim.errors import InputError

    with pytest.raises(InputError, match=r"^patient\.baseline: iesr has no default baseline with a published source; "
                                         r"state the patient's baseline score \(points, 0-88\)$"):
        patient_scenario(Patient(scale="iesr"), [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}])


def test_empty_drugs_limit_shows_the_command_line_form(capsys):
    """`ketasim plan RECORD --limits drugs=` said "e.g. ('racemic-ketamine', 'esketamine')" (a Python tuple) to a
    command-line user; it now shows `drugs=racemic-ketamine+esketamine` first."""
    code, _, err = run_cli(capsys, "plan", "examples/patient/patient_101.csv", "--limits", "drugs=")
    assert code == 2
    assert one_error_line(err).startswith("error: --limits drugs: a list of names joined with '+', e.g. "
                                          "drugs=racemic-ketamine+esketamine (from Python: ")


def test_pk_footnote_of_one_patient_does_not_speak_of_geometric_means(capsys):
    """`simulate --pk` of the typical patient ("n=1 (one patient: its values)") ended with "Cmax, AUC, t1/2:
    geometric mean (geometric CV %); Tmax: median [range]", which describes a population's table."""
    quick = ("simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg", "--pk")
    code, out, _ = run_cli(capsys, *quick)
    assert code == 0 and "(one patient: its values)" in out and "geometric mean" not in out
    assert "NCA on the sampling schedule" in out
    code, out, _ = run_cli(capsys, *quick, "--size", "5")
    assert code == 0 and "Cmax, AUC, t1/2: geometric mean (geometric CV %)" in out


def test_a_schedule_beyond_ten_years_is_named_at_its_line():
    """A schedule ending beyond 10 years said "arms.NAME: the last dose ends at ...": the dashboard put the message at
    the arm's dose field (its every was wrong); the line and its every are named now (quick form: --every)."""
    import copy

    from ketasim import scenario_from_dict
    from ketasim.errors import InputError
    from ketasim.web import api

    lines = [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"},
             {"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "at": "3600 d", "every": "30 d",
              "count": 20}]
    with pytest.raises(InputError,
                       match=r"^arms\.a\[1\]\.every: the last dose ends at 100080 h \(11\.4 years\), beyond"):
        scenario_from_dict({"name": "x", "arms": {"a": lines}})
    form = copy.deepcopy(api.default_form())
    form["regimens"][0].update(every=1000, every_unit="d", count=50)
    with pytest.raises(api.FormErrors) as e:
        api.simulate_form(form)
    assert [x["field"] for x in e.value.errors] == ["regimen.0.every"]


def test_record_infusion_duration_in_minutes_says_dur_is_in_hours():
    """A record's DUR of 40 (minutes typed into the hours column) said only "40 is outside 0-24 h"."""
    from ketasim.errors import InputError
    from ketasim.record import record_from_csv_text

    text = ("ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
            "1,0,0,,,,,,30,madrs,70,40,F\n"
            "1,1,1,0.5,mg/kg,40,racemic-ketamine,iv-infusion,,,,,\n")
    with pytest.raises(InputError, match=r"^rec row 2, column DUR: 40 is outside 0-24 h; DUR is in hours \(if 40 min "
                                         r"was meant, write 0\.6667\)$"):
        record_from_csv_text(text, source="rec")


def test_a_measure_named_twice_gives_its_rows_once():
    """`endpoints: {measures: [mean, mean, cadss_peak]}` printed and wrote every mean row twice (duplicate times
    were already merged)."""
    from ketasim import run_trial, scenario_from_dict

    sc = scenario_from_dict({"name": "x", "population": {"size": 6}, "endpoints": {
        "times": ["24 h", "1 d"], "measures": ["mean", "mean", "cadss_peak"]}, "arms": {"a": [
            {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}]}})
    assert sc.endpoints.measures == ("mean", "cadss_peak")
    rows = run_trial(sc).to_dict()["arms"]["a"]["endpoints"]
    assert [r["measure"] for r in rows].count("mean") == 1


def test_one_inducer_under_two_names_names_the_comedication_option(capsys):
    """`--comedication rifampicin --comedication rifampin` said "error: --drug/--route/--dose: rifampicin is given
    more than once" (the check where an arm's and the population's lists meet named the arm)."""
    code, _, err = run_cli(capsys, "simulate", "--drug", "esketamine", "--route", "oral", "--dose", "20mg",
                           "--comedication", "rifampicin", "--comedication", "rifampin")
    assert code == 2
    assert one_error_line(err).startswith("error: --comedication: rifampicin is given more than once")


def test_setup_refuses_an_old_python_in_one_line(tmp_path):
    """README: "fresh machine: Python >= 3.11". ./setup.sh with an older python3 made the venv and let pip refuse
    the package in pages of output; it now says so in one line and creates nothing (run on a copy of setup.sh)."""
    import shutil
    import subprocess
    from pathlib import Path

    shutil.copy(Path(__file__).resolve().parents[1] / "setup.sh", tmp_path / "setup.sh")
    fake = tmp_path / "py310"
    fake.write_text('#!/bin/sh\nif [ "$1" = "-V" ]; then echo "Python 3.10.12"; exit 0; fi\nexit 1\n')
    fake.chmod(0o755)
    run = subprocess.run(["bash", str(tmp_path / "setup.sh")], env={"PATH": "/usr/bin:/bin", "PYTHON": str(fake)},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and not (tmp_path / ".venv").exists()
    assert run.stderr.strip() == (f"setup.sh: ketasim needs Python >= 3.11; {fake} is Python 3.10.12 (run "
                                  "PYTHON=python3.12 ./setup.sh with a newer one)")


def test_sbml_model_name_does_not_repeat_ketasim(tmp_path):
    """`ketasim export ... --sbml model.xml` named the model "ketasim ketasim model, typical patient of arm ..."."""
    import re

    from ketasim import quick_scenario
    from ketasim.export import export_sbml

    out = export_sbml(quick_scenario("esketamine", "intranasal", "56 mg"), tmp_path / "m.xml")
    name = re.search(r'<model [^>]*name="([^"]*)"', out.read_text(encoding="utf-8")).group(1)
    assert name.startswith("ketasim model, typical patient of arm") and "ketasim ketasim" not in name


@pytest.mark.parametrize("csv, message", [
    ("time_h,score\n0,33\n24,99\n", "observed: row 3: score 99 is outside the madrs scale (0-60)"),
    ("time_h;score\n0;33\n", "observed: the file is separated by semicolons: it must be comma-separated (decimals "
                             "with a point)"),
])
def test_dashboard_observed_overlay_checks_the_scale_and_the_separator(csv, message):
    """The dashboard's observed-data overlay drew a MADRS rating of 99 (scale 0-60) without a word, and a
    semicolon-separated export said only "a 'time_h' column ... is required"."""
    import copy

    from ketasim.web import api

    form = copy.deepcopy(api.default_form())
    form["observed"] = {"csv": csv}
    with pytest.raises(api.FormErrors) as e:
        api.simulate_form(form)
    assert e.value.errors == [{"field": "observed", "message": message}]


def test_validation_page_names_the_shipped_calibration():
    """docs/validation.md said the shipped set was the thirty-fifth session's (J 455.6) after the thirty-seventh
    session recalibrated it (the installed set's calibration run says J=423.0)."""
    import re
    from pathlib import Path

    from ketasim import load_parameters

    j = re.search(r"J=([\d.]+)", load_parameters().calibration_run).group(1)
    page = (Path(__file__).resolve().parents[1] / "docs" / "validation.md").read_text(encoding="utf-8")
    shipped = page[page.index("the shipped\n  set ("):][:200]
    assert f"J {j}" in shipped, shipped


def test_ddi_howto_numbers_are_the_current_models():
    """docs/howto/ddi.md's "Measured (typical man ...)" numbers were the thirty-sixth session's PK: rifampicin IV
    S-ketamine AUC ratio 0.838 after 5 days (now 0.847), the label's 9-day ticlopidine nasal Cmax x1.24 "inside the
    band" (now x1.26, a strict xfail), the stopped-rifampicin table, the grapefruit 24-h levels. A few of them are
    recomputed here as the page states them (the typical man of tests/test_pk_reference_checks.py)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import test_pk_reference_checks as T
    from _support import line

    page = (Path(__file__).resolve().parents[1] / "docs" / "howto" / "ddi.md").read_text(encoding="utf-8")

    def r(lines, com, what=2):
        return (T.exposure(lines, comedications=[com])[what] / T.exposure(lines)[what])

    iv = [line("esketamine", "iv-infusion", "0.1 mg/kg", duration="2 min")]
    assert f"IV S-ketamine AUC ratio): {r(iv, 'rifampicin for 5 d'):.3f} after 5 days" in page
    oral, iv25 = [line("esketamine", "oral", "0.3 mg/kg")], [line("esketamine", "iv-infusion", "0.25 mg/kg",
                                                                     duration="40 min")]
    stopped = "rifampicin for 14 d stopped 3 d ago"
    assert f"| 3 d ago | {r(oral, stopped):.3f} | {r(iv25, stopped):.3f} |" in page
    nasal = [line("esketamine", "intranasal", "56 mg")]
    assert f"model with 56 mg Cmax x{r(nasal, 'ticlopidine for 9 d', what=0):.2f}" in page


def test_pk_endpoints_howto_quotes_the_examples_ratio(capsys):
    """docs/howto/pk-endpoints.md quoted `auc_0_inf_ratio s-ketamine 2.83 90% CI [2.58, 3.10]` for the example; the
    command prints 2.837 [2.589, 3.109] since the thirty-seventh session's PK."""
    import re
    from pathlib import Path

    code, out, _ = run_cli(capsys, "trial", "examples/pk/ddi_oral_esketamine_clarithromycin.yaml", "--no-progress")
    m = re.search(r"auc_0_inf_ratio s-ketamine\s+([\d.]+)\s+90% CI \[\s*([\d.]+),\s*([\d.]+)\]", out)
    page = (Path(__file__).resolve().parents[1] / "docs" / "howto" / "pk-endpoints.md").read_text(encoding="utf-8")
    assert code == 0 and m
    assert f"auc_0_inf_ratio s-ketamine {m.group(1)} 90% CI [{m.group(2)}, {m.group(3)}]" in page


def test_w_reads_as_weeks():
    """`ketasim plan RECORD --window 1w:4w` said "unknown unit 'w'" ('wk', 'wks', 'week' were read)."""
    from ketasim.units import parse_time_h

    assert parse_time_h("1w", "t") == parse_time_h("1 w", "t") == parse_time_h("1 week", "t") == 168.0


def test_a_time_in_metres_or_an_unknown_time_unit_says_what_to_write(capsys):
    """`--duration '40 m'` said "unit 'm' cannot be converted to 'hour'" (pint's metres); '1 y' said only "unknown
    unit 'y'"."""
    base = ("simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg")
    code, _, err = run_cli(capsys, *base, "--duration", "40 m")
    assert code == 2 and one_error_line(err) == ("error: --duration: unit 'm' cannot be converted to 'hour' ('m' is "
                                                 "metres: write min for minutes)")
    code, _, err = run_cli(capsys, *base, "--every", "1 y", "--count", "2")
    assert code == 2 and one_error_line(err) == "error: --every: unknown unit 'y' (times: min, h, d, week)"


def test_plot_cascade_keeps_the_users_backend_and_takes_a_result(tmp_path):
    """`ketasim.plotting.plot_cascade` switched matplotlib to Agg (a notebook's own plots stopped showing after one
    ketasim figure) and took only a DataFrame (`plot_cascade(result)`: "'SimulationResult' object is not
    subscriptable")."""
    import matplotlib

    from ketasim import quick_scenario, simulate
    from ketasim.plotting import plot_cascade

    res = simulate(quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg"), typical=True,
                   output_times_h=[0, 0.5, 1, 2, 24, 168])
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        fig = plot_cascade(res, path=tmp_path / "c.png")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "c.png").stat().st_size > 10_000 and len(fig.axes) >= 10


def test_tornado_figure_keeps_the_users_backend():
    """`ketasim.sensitivity.tornado_figure` also switched matplotlib to Agg."""
    import matplotlib

    from ketasim import load_scenario
    from ketasim.sensitivity import run_sensitivity, tornado_figure

    res = run_sensitivity(load_scenario("examples/design_example.yaml"), endpoint="mean_change@24h", method="morris",
                          patterns=["pd.nmda.hill"], n_patients=5, samples=2)
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        fig = tornado_figure(res)
        assert matplotlib.get_backend() == "svg" and fig.axes
    finally:
        matplotlib.use(before)


def test_command_line_experiment_adds_to_the_scenarios(tmp_path, capsys):
    """A scenario with `experiments: {mtor_block: 1}` run with `--experiment spine_block=1` lost its mTOR block
    without a word (the command line's switches replaced the scenario's); they are added now, and a switch set to 0
    turns the scenario's off."""
    path = tmp_path / "exp.yaml"
    path.write_text("name: x\nexperiments: {mtor_block: 1}\narms:\n  a:\n"
                    "    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min}\n")
    code, out, _ = run_cli(capsys, "simulate", path, "--experiment", "spine_block=1")
    assert code == 0 and "virtual experiment: mtor_block=1, spine_block=1" in out
    code, out, _ = run_cli(capsys, "simulate", path, "--experiment", "mtor_block=0")
    assert code == 0 and "virtual experiment" not in out
