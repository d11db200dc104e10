"""Forty-first session, H4: the found-not-fixed items of the fortieth session's new-user pass
(/work/coord/s40/H1_log.md): API errors naming CLI options, the order of a command's printed lines, the dashboard's
trial of an old patient."""

from __future__ import annotations

from pathlib import Path

from _support import run_cli

from ketasim.vocabulary import NOTICE

ROOT = Path(__file__).resolve().parents[1]
PATIENT_101 = ROOT / "examples" / "patient" / "patient_101.csv"
QUICK = ("simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--size", "5", "--seed", "3")


def _order(stdout: str, first: str, then: str) -> bool:
    lines = stdout.splitlines()
    i = next(k for k, x in enumerate(lines) if x.startswith(first))
    j = next(k for k, x in enumerate(lines) if x.startswith(then))
    return i < j


# ---- the summary first, then 'wrote FILE', then the notice (as trial) ------------------------------------------------
def test_plan_prints_its_summary_before_the_files_it_wrote(capsys, tmp_path):
    out = tmp_path / "plan.json"
    code, stdout, _ = run_cli(capsys, "plan", PATIENT_101, "--json", out)
    assert code == 0 and out.exists()
    assert _order(stdout, "target: ", f"wrote {out}") and _order(stdout, f"wrote {out}", NOTICE)


def test_simulate_prints_its_summary_and_pk_before_the_files_it_wrote(capsys, tmp_path):
    csv, pk = tmp_path / "t.csv", tmp_path / "pk.json"
    code, stdout, _ = run_cli(capsys, *QUICK, "--csv", csv, "--pk-json", pk)
    assert code == 0 and csv.exists() and pk.exists()
    assert _order(stdout, "typical patient", f"wrote {csv}") and _order(stdout, "PK (", f"wrote {csv}")
    assert _order(stdout, f"wrote {csv}", f"wrote {pk}") and stdout.rstrip().endswith(NOTICE)


def test_a_streamed_simulate_prints_the_notice_last(capsys, tmp_path):
    # the streamed path printed the notice, then the PK summary after it
    csv, pk = tmp_path / "t.csv", tmp_path / "pk.json"
    code, stdout, _ = run_cli(capsys, *QUICK, "--chunk", "2", "--csv", csv, "--pk-json", pk)
    assert code == 0 and stdout.rstrip().endswith(NOTICE) and stdout.count(NOTICE) == 1
    assert _order(stdout, "PK (", f"wrote {csv}") and _order(stdout, f"wrote {csv}", f"wrote {pk}")


# ---- the dashboard: a virtual trial around a patient older than 90 ---------------------------------------------------
def _old_patient_form(age, **trial):
    from ketasim.web import api

    form = api.default_form()
    form["patient"]["age_years"] = age
    form["trial"] = {"size": "20", "seed": "3", "times": "24 h", **trial}
    return form


def test_a_trial_around_a_95_year_old_runs_with_its_mean_age_bounded_and_says_so():
    """The page refused the trial at the patient's age with the population rule's line (a population's mean age must
    be 18-90), though the patient (one patient may be 12-100) simulated; before that rule the trial drew ages <= 90
    without a word. Now the trial's mean age is 90 and a note at the trial's age field says why."""
    import pytest

    pytest.importorskip("starlette")
    from ketasim.web import api

    b = api.build_trial(_old_patient_form(95))
    assert b.scenario.population.age_years.mean == 90 and b.scenario.population.size == 20
    notes = [w for w in b.warnings if w["field"] == "trial.age_range"]
    assert [w["message"] for w in notes] == [
        "population.age_years: a virtual trial draws its patients' ages within 18-90 years, so this trial's mean age "
        "is 90, not the patient's 95 (the single-patient simulation keeps 95)"]
    assert api.build(_old_patient_form(95)).scenario.population.age_years.mean == 95    # the patient keeps 95
    young = api.build_trial(_old_patient_form(15))
    assert young.scenario.population.age_years.mean == 18 and "mean age is 18, not the patient's 15" in \
        young.warnings[0]["message"]
    # the downloaded trial scenario is the trial that ran
    import yaml

    from ketasim.scenario import scenario_from_dict

    again = scenario_from_dict(yaml.safe_load(api.scenario_yaml(_old_patient_form(95), trial=True)))
    assert again.population.age_years.mean == 90


def test_a_trial_around_a_patient_of_an_ordinary_age_has_no_note_and_a_bad_age_keeps_its_error():
    import pytest

    pytest.importorskip("starlette")
    from ketasim.web import api

    b = api.build_trial(_old_patient_form(72))
    assert b.scenario.population.age_years.mean == 72 and not [w for w in b.warnings if w["field"].startswith("trial.")]
    with pytest.raises(api.FormErrors) as e:
        api.build_trial(_old_patient_form(130))         # no patient's age: the engine's line at the patient's field
    assert [x["field"] for x in e.value.errors] == ["patient.age_years"] and not e.value.warnings


def test_the_page_shows_the_trials_own_notes():
    js = (ROOT / "src" / "ketasim" / "web" / "static" / "app.js").read_text(encoding="utf-8")
    run = js[js.index("async function runTrial()"):js.index("function drawTrial(")]
    assert 'showMessages(trialNotes, "warning")' in run and 'w.field.startsWith("trial.")' in run


# ---- errors name the Python argument from Python, the option on the command line -------------------------------------
def test_run_trial_names_its_argument_and_the_trial_command_its_option(capsys):
    """`run_trial(sc, uncertainty=1)` said '--uncertainty: ...', an option no Python call has."""
    import pytest

    from ketasim import load_scenario, run_trial
    from ketasim.errors import InputError

    sc = load_scenario(ROOT / "examples" / "design_example.yaml")
    with pytest.raises(InputError, match=r"^uncertainty: parameter draws must be a whole number from 2 to 1000"):
        run_trial(sc, n=4, uncertainty=1)
    code, _, err = run_cli(capsys, "trial", ROOT / "examples" / "design_example.yaml", "--size", "4",
                           "--uncertainty", "1")
    assert code == 2 and err.strip().startswith("error: --uncertainty: parameter draws must be a whole number")


def test_the_switch_is_per_call_and_restored():
    from ketasim.errors import argument, command_line

    assert argument("uncertainty", "--uncertainty") == "uncertainty"
    with command_line():
        assert argument("n", "--size") == "--size"
        with command_line(False):           # the dashboard served by `ketasim serve`
            assert argument("n", "--size") == "n"
        assert argument("n", "--size") == "--size"
    assert argument("n", "--size") == "n"


def test_qualify_external_names_its_arguments(tmp_path, capsys):
    import pytest

    from ketasim.errors import InputError
    from ketasim.external import qualify_external

    with pytest.raises(InputError, match=r"^folder .*nowhere: not a folder"):
        qualify_external(tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"^size: "):
        qualify_external(tmp_path, size=0)
    with pytest.raises(InputError, match=r"^seed: "):
        qualify_external(tmp_path, seed=-1)
    code, _, err = run_cli(capsys, "qualify", "--external", tmp_path / "nowhere")
    assert code == 2 and err.strip().startswith("error: --external ") and "not a folder" in err


def test_read_observed_names_the_file_not_an_option(tmp_path, capsys):
    import pytest

    from ketasim import load_scenario
    from ketasim.errors import InputError
    from ketasim.observed import read_observed

    scenario = ROOT / "examples" / "design_example.yaml"
    obs = tmp_path / "obs.csv"
    obs.write_text("")
    with pytest.raises(InputError, match=r"^observed obs\.csv: the file is empty"):
        read_observed(obs, load_scenario(scenario))
    code, _, err = run_cli(capsys, "trial", scenario, "--size", "4", "--observed", obs)
    assert code == 2 and err.strip().startswith("error: --observed obs.csv: the file is empty")


def test_sensitivity_names_its_arguments_and_the_command_its_options(capsys):
    import pytest

    from ketasim import load_scenario
    from ketasim.errors import InputError
    from ketasim.sensitivity import run_sensitivity

    path = ROOT / "examples" / "design_example.yaml"
    sc = load_scenario(path)
    for kw, says in ((dict(endpoint="happiness@24h"), "endpoint: unknown measure 'happiness'"),
                     (dict(endpoint="cadss_peak", method="fast"), "method: use morris or sobol"),
                     (dict(endpoint="cadss_peak", arm="nope"), "arm: no arm named 'nope'"),
                     (dict(endpoint="cadss_peak", samples=1), "samples: must be >= 2"),
                     (dict(endpoint="cadss_peak", n_patients=0), "n_patients: must lie in"),
                     (dict(endpoint="cadss_peak", patterns=("nothing.*",)), "patterns: no parameter matches")):
        with pytest.raises(InputError) as e:
            run_sensitivity(sc, **kw)
        assert str(e.value).startswith(says), str(e.value)
    for argv, says in ((["--endpoint", "happiness@24h"], "--endpoint: unknown measure"),
                       (["--endpoint", "cadss_peak", "--method", "fast"], "--method: use morris or sobol"),
                       (["--endpoint", "cadss_peak", "--arm", "nope"], "--arm: no arm named 'nope'"),
                       (["--endpoint", "cadss_peak", "--samples", "1"], "--samples: must be >= 2"),
                       (["--endpoint", "cadss_peak", "--parameters", "nothing.*"], "--parameters: no parameter")):
        code, _, err = run_cli(capsys, "sensitivity", path, *argv)
        assert code == 2 and err.strip().startswith(f"error: {says}"), err


def test_the_plan_names_its_arguments_and_the_plan_command_its_options(capsys):
    import pytest

    from ketasim.errors import InputError
    from ketasim.personal import parse_limits, parse_target, personal_plan
    from ketasim.record import read_record

    with pytest.raises(InputError, match=r"^limits: 'foo' is not name=value"):
        parse_limits("foo")
    with pytest.raises(InputError, match=r"^target: write e\.g\. 'score<=10'"):
        parse_target("score>=3", "madrs")
    with pytest.raises(InputError, match=r"^window: need 0 < FROM <= TO <= 1 year"):
        parse_target(None, "madrs", window="4 week:1 week")
    with pytest.raises(InputError, match=r"^minimise: use sessions or exposure"):
        personal_plan(read_record(PATIENT_101), minimise="cost")
    for argv, says in ((["--limits", "foo"], "--limits: 'foo' is not name=value"),
                       (["--target", "score>=3"], "--target: write e.g."),
                       (["--window", "4 week:1 week"], "--window: need 0 < FROM"),
                       (["--minimise", "cost"], "--minimise: use sessions or exposure")):
        code, _, err = run_cli(capsys, "plan", PATIENT_101, *argv)
        assert code == 2 and err.strip().startswith(f"error: {says}"), err


def test_quick_scenario_names_its_arguments_and_simulate_its_options(capsys):
    import pytest

    from ketasim import quick_scenario
    from ketasim.errors import InputError

    for kw, says in ((dict(every="1 week"), "count: every 1 week repeats the dose; give the number of doses, e.g. "
                                            "count=8"),
                     (dict(condition="flu"), "condition: unknown condition 'flu'"),
                     (dict(scale="madrs", condition="ptsd"), "condition: ptsd contradicts scale madrs"),
                     (dict(baseline=99), "baseline: must lie in (0, 60] points on madrs"),
                     (dict(age_range="sixty"), "age_range: write the inclusion range as MIN-MAX"),
                     (dict(age_range="86-65"), "age_range: the youngest age included must be below the oldest"),
                     (dict(sex="x"), "sex: use female or male")):
        with pytest.raises(InputError) as e:
            quick_scenario("ketamine", "iv", "0.5 mg/kg", **kw)
        assert str(e.value).startswith(says), str(e.value)
    with pytest.raises(InputError, match=r"^dose: 0\.5 mg/kg/h is an infusion rate; add duration \(e\.g\. "
                                         r"duration='40 min'\)"):
        quick_scenario("ketamine", "iv-infusion", "0.5 mg/kg/h")
    quick = ("simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg")
    for argv, says in ((["--every", "1w"], "--count: --every 1w repeats the dose; give the number of doses, e.g. "
                                           "--count 8"),
                       (["--condition", "flu"], "--condition: unknown condition 'flu'"),
                       (["--baseline", "99"], "--baseline: must lie in (0, 60]"),
                       (["--age-range", "sixty"], "--age-range: write the inclusion range"),
                       (["--sex", "x"], "--sex: use female or male")):
        code, _, err = run_cli(capsys, *quick, *argv)
        assert code == 2 and err.strip().startswith(f"error: {says}"), err
    code, _, err = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv-infusion", "--dose", "0.5mg/kg/h")
    assert code == 2 and err.strip().startswith("error: --dose: 0.5mg/kg/h is an infusion rate; add --duration (e.g. "
                                                "--duration '40 min')"), err


def test_figure_writers_and_export_name_their_arguments(tmp_path, capsys):
    import pytest

    from ketasim import load_scenario
    from ketasim.errors import InputError
    from ketasim.export import export_sbml
    from ketasim.io import figure_format

    with pytest.raises(InputError, match=r"^path: cannot write a figure as '\.txt'"):
        figure_format(tmp_path / "f.txt")
    path = ROOT / "examples" / "design_example.yaml"
    with pytest.raises(InputError, match=r"^arm: no arm named 'nope'"):
        export_sbml(load_scenario(path), tmp_path / "m.xml", arm="nope")
    code, _, err = run_cli(capsys, "export", path, "--sbml", tmp_path / "m.xml", "--arm", "nope")
    assert code == 2 and err.strip().startswith("error: --arm: no arm named 'nope'"), err
    code, _, err = run_cli(capsys, *QUICK, "--plot", tmp_path / "f.txt")
    assert code == 2 and err.strip().startswith("error: --plot: cannot write a figure as '.txt'"), err


# ---- the notice last, once, in every command that prints results -----------------------------------------------------
def test_trial_prints_the_observed_comparison_and_its_files_before_the_notice(capsys, tmp_path):
    """`ketasim trial ... --observed FILE --json OUT` printed the notice with the table, then the comparison and
    'wrote OUT' after it; simulate, plan and sensitivity end with it."""
    js = tmp_path / "t.json"
    code, stdout, _ = run_cli(capsys, "trial", ROOT / "examples" / "external" / "singh2016.yaml", "--size", "10",
                              "--observed", ROOT / "examples" / "external" / "singh2016.csv", "--json", js)
    assert code == 0 and stdout.count(NOTICE) == 1 and stdout.rstrip().endswith(NOTICE)
    assert _order(stdout, "observed vs predicted", f"wrote {js}")
    from ketasim import load_scenario, run_trial

    tr = run_trial(load_scenario(ROOT / "examples" / "design_example.yaml"), n=4)
    assert tr.format_table().endswith(NOTICE) and NOTICE not in tr.format_table(notice=False)   # from Python: as before


def test_qualify_external_ends_with_the_notice(capsys, tmp_path):
    js, html = tmp_path / "q.json", tmp_path / "q.html"
    code, stdout, _ = run_cli(capsys, "qualify", "--external", ROOT / "examples" / "external", "--size", "10",
                              "--json", js, "--html", html)
    assert code == 0 and stdout.count(NOTICE) == 1 and stdout.rstrip().endswith(NOTICE)
    assert _order(stdout, f"wrote {js}", NOTICE)


def test_a_record_of_two_patients_names_patient_id_from_python(tmp_path, capsys):
    import pytest

    from ketasim.errors import InputError
    from ketasim.record import read_record

    lines = PATIENT_101.read_text().splitlines()
    two = tmp_path / "two.csv"
    two.write_text("\n".join(lines + [ln.replace("101,", "102,", 1) for ln in lines[1:]]) + "\n")
    with pytest.raises(InputError, match=r"give one patient per record \(or choose one with patient_id\)"):
        read_record(two)
    assert read_record(two, patient_id="102").id == "102"
    code, _, err = run_cli(capsys, "plan", two)
    assert code == 2 and "(or choose one with --id)" in err


def test_run_trial_without_a_posterior_says_drop_the_draws_not_an_option(capsys):
    import dataclasses

    import pytest

    from ketasim import load_parameters, load_scenario, run_trial
    from ketasim.errors import InputError

    p = dataclasses.replace(load_parameters(), posterior=None)
    with pytest.raises(InputError, match=r"has no posterior; .* or drop the posterior draws \(uncertainty, "
                                         r"parameter_draws\)$"):
        run_trial(load_scenario(ROOT / "examples" / "design_example.yaml"), p, n=4, uncertainty=5)


def test_quick_scenario_names_its_arguments_not_the_yaml_paths_they_became(capsys):
    """`quick_scenario("ketamine", "iv", "0.5")` said 'arms.racemic-ketamine[0].dose: the unit is missing ...', a path
    of a YAML file the caller never wrote; the command line's quick form named --dose."""
    import pytest

    from ketasim import quick_scenario
    from ketasim.errors import InputError

    for args, kw, says in ((("0.5",), {}, "dose: the unit is missing in '0.5'"),
                           (("0.5 mg/kg",), dict(at="soon"), "at: cannot read 'soon'"),
                           (("0.5 mg/kg",), dict(output_every="x"), "output_every: cannot read 'x'"),
                           (("0.5 mg/kg",), dict(comedications=("foo",)), "comedications: unknown comedication 'foo'"),
                           (("0.5 mg/kg",), dict(every="1 d", count=5000), "count: must lie in 1-2,000"),
                           (("0.5 mg/kg",), dict(recurrence="x"), "recurrence: must be true or false, got 'x'"),
                           (("0.5 mg/kg",), dict(recurrence=False, re_response=True), "re_response: needs recurrence")):
        with pytest.raises(InputError) as e:
            quick_scenario("ketamine", "iv", *args, **kw)
        assert str(e.value).startswith(says), str(e.value)
    code, _, err = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5")
    assert code == 2 and err.strip().startswith("error: --dose: the unit is missing in '0.5'"), err
    code, _, err = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg",
                           "--comedication", "foo")
    assert code == 2 and err.strip().startswith("error: --comedication: unknown comedication 'foo'"), err


def test_run_trial_checks_its_draw_seed():
    import pytest

    from ketasim import load_scenario, run_trial
    from ketasim.errors import InputError

    with pytest.raises(InputError, match=r"^draw_seed: must lie in 0-"):      # was numpy's "expected non-negative
        run_trial(load_scenario(ROOT / "examples" / "design_example.yaml"), n=4, uncertainty=2, draw_seed=-1)


def test_an_empty_calibration_subgroup_names_size_as_the_caller_wrote_it(monkeypatch):
    """The row of a subgroup no virtual patient fell in said 'size: ... (--size)' from Python and the command line."""
    import numpy as np
    import pytest

    from ketasim import calibration as C
    from ketasim.errors import InputError, command_line
    from ketasim.parameters import load_parameters

    target = next(t for t in C.build_targets()[0] if t.kind == "mean")

    class Sim:
        times = np.array([0.0, target.time_h or 0.0])
        score = np.zeros((3, 2))
        baseline = np.zeros(3)
        change_var = None           # no entry criterion (calibration._ArmSim's field, fifty-third session)

        def fluctuation_scale(self, mask):
            return 1.0

    monkeypatch.setattr(C, "_select", lambda *a, **k: [(Sim(), np.zeros(3, dtype=bool), 1.0)])
    with pytest.raises(InputError, match=r"^size: no virtual patient falls in the subgroup .* \(size\)$"):
        C.predict(target, None, load_parameters())
    with command_line(), pytest.raises(InputError, match=r"^--size: no virtual patient .* \(--size\)$"):
        C.predict(target, None, load_parameters())


def test_the_dashboard_served_by_the_command_line_names_the_pages_fields(monkeypatch, capsys):
    """`ketasim serve` runs under the command line's switch; the page's handlers must not (its plan page named
    '--target' until the dashboard rewrote it)."""
    import pytest

    pytest.importorskip("uvicorn")
    from ketasim.errors import argument
    from ketasim.web import api
    from ketasim.web import server as S

    seen = {}

    def run(self, sockets=None):
        seen["name"] = argument("target", "--target")
        for s in sockets or ():
            s.close()

    monkeypatch.setattr(S.uvicorn.Server, "run", run)
    monkeypatch.setattr(api, "warm_up", lambda: 0.0)
    code, _, _ = run_cli(capsys, "serve", "--port", "0")
    assert code == 0 and seen == {"name": "target"}


# ---- bad arguments from Python: one line naming the argument, not a TypeError ----------------------------------------
def test_run_sensitivity_checks_its_arguments_from_python():
    import pytest

    from ketasim import load_scenario
    from ketasim.errors import InputError
    from ketasim.sensitivity import run_sensitivity

    path = ROOT / "examples" / "design_example.yaml"
    sc = load_scenario(path)
    for kw, says in ((dict(samples="x"), "samples: expected a whole number, got str 'x'"),
                     (dict(samples=2.5), "samples: expected a whole number, got 2.5"),
                     (dict(samples=2, n_patients=2, seed=-1), "seed: must lie in 0-")):
        with pytest.raises(InputError) as e:
            run_sensitivity(sc, endpoint="cadss_peak", **kw)
        assert str(e.value).startswith(says), str(e.value)
    with pytest.raises(InputError, match=r"^scenario: expected a Scenario, got str \(read a file with "):
        run_sensitivity(str(path), endpoint="cadss_peak")
    # patterns as the command line writes them: was read letter by letter ('no parameter matches p, d, ., n, ...')
    res = run_sensitivity(sc, endpoint="cadss_peak", samples=2, n_patients=2, patterns="pd.nmda.hill, pd.bdnf.t_half")
    assert {r["name"] for r in res.ranking()} == {"pd.nmda.hill", "pd.bdnf.t_half"}


def test_the_plan_readers_check_their_arguments_from_python():
    import pytest

    from ketasim.errors import InputError
    from ketasim.personal import Limits, parse_limits, parse_target

    for call, says in ((lambda: parse_target(None, "madrs", probability="0.9"),
                        "probability: expected a number between 0 and 1, got str '0.9'"),
                       (lambda: parse_target(10, "madrs"), "target: expected text such as 'score<=10', got int '10'"),
                       (lambda: parse_target(None, "madrs", window=4), "window: expected text such as '1 week:4 week'"),
                       (lambda: parse_limits(25), "limits: expected text such as 'name=value, ...'")):
        with pytest.raises(InputError) as e:
            call()
        assert str(e.value).startswith(says), str(e.value)
    assert parse_limits(Limits(cadss=20)).cadss == 20          # a Limits is what personal_plan takes too


def test_run_trial_checks_its_executor_between_trial_and_log():
    import pytest

    from ketasim import load_scenario, run_trial
    from ketasim.errors import InputError

    sc = load_scenario(ROOT / "examples" / "design_example.yaml")
    for kw, says in ((dict(executor=5), "executor: expected a ketasim.distributed.DaskExecutor (or None), got int"),
                     (dict(uncertainty=2, between_trial="no"), "between_trial: expected True or False, got str"),
                     (dict(uncertainty=2, log=5), "log: expected a function of one line of text, got int")):
        with pytest.raises(InputError) as e:
            run_trial(sc, n=4, **kw)
        assert str(e.value).startswith(says), str(e.value)


def test_the_plan_names_the_scale_as_tables_do_in_its_summary_and_figure():
    """The summary said 'scale madrs' and the figure's axis 'HAMD17 rating' (the key upper-cased) where tables and the
    target say MADRS and HAM-D17."""
    from ketasim.personal import personal_plan
    from ketasim.plan_report import plans_figure, score_figure, text_summary
    from ketasim.record import record_from_csv_text

    head = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
    dose = "1,0,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,70,40,F\n"
    rec = record_from_csv_text(head + dose + "1,24,0,,,,,,20,hamd17,,,\n", source="r.csv")
    res = personal_plan(rec, n_samples=100, top=1)
    assert text_summary(res).splitlines()[0].endswith("1 observed value, scale HAM-D17, last observation at 24 h")
    for fig in (score_figure(res), plans_figure(res)):
        assert fig["layout"]["yaxis"]["title"]["text"] == "HAM-D17 rating"


def test_simulate_with_an_experiment_mapping_says_how_to_write_it():
    """`simulate(sc, experiment={"mtor_block": 1})` (what the command line's --experiment and a scenario's
    experiments: read as) said only 'expected a VirtualExperiment, got dict'."""
    import pytest

    from ketasim import VirtualExperiment, load_scenario, simulate
    from ketasim.errors import InputError

    sc = load_scenario(ROOT / "examples" / "design_example.yaml")
    with pytest.raises(InputError, match=r"^experiment: expected a VirtualExperiment, got dict "
                                         r"\(ketasim\.VirtualExperiment\(\*\*\{'mtor_block': 1\}\)\)$"):
        simulate(sc, typical=True, experiment={"mtor_block": 1})
    assert simulate(sc, typical=True, experiment=VirtualExperiment(mtor_block=1), output_times_h=[0.0, 1.0])


def test_qualify_external_checks_its_callbacks_and_params_before_running(monkeypatch):
    import pytest

    from ketasim import external
    from ketasim.errors import InputError

    monkeypatch.setattr(external, "find_trials", lambda folder: pytest.fail("ran before checking its arguments"))
    folder = ROOT / "examples" / "external"
    for kw, says in ((dict(params="cal.json"), "params: expected a ParameterSet (ketasim.load_parameters()), got str"),
                     (dict(on_trial=5), "on_trial: expected a function, got int"),
                     (dict(log="stderr"), "log: expected a function, got str"),
                     (dict(uncertainty=2, draw_seed=-1), "draw_seed: must lie in 0-")):
        with pytest.raises(InputError) as e:
            external.qualify_external(folder, **kw)
        assert str(e.value).startswith(says), str(e.value)


def test_personal_plan_checks_params_variables_and_alternative_before_the_fit(monkeypatch):
    import pytest

    from ketasim import personal
    from ketasim.errors import InputError
    from ketasim.record import read_record

    rec = read_record(PATIENT_101)
    monkeypatch.setattr(personal, "fit_patient", lambda *a, **k: pytest.fail("fitted before checking"))
    for kw, says in ((dict(params="cal.json"), "params: expected a ParameterSet (ketasim.load_parameters(FILE)), got "
                                               "str"),
                     (dict(variables=("nope",)), "variables: unknown trajectory variable 'nope'"),
                     (dict(variables="cadss,nope"), "variables: unknown trajectory variable 'nope'"),
                     (dict(alternative="alt.yaml"), "alternative: expected a list of dose lines")):
        with pytest.raises(InputError) as e:
            personal.personal_plan(rec, **kw)
        assert str(e.value).startswith(says), str(e.value)
    # one dose line alone is a regimen of that line (checked as one), 'cadss' one variable (was read letter by letter)
    with pytest.raises(InputError, match=r"^alternative\[0\]\.at: a dose at 1 h is not after the last observation"):
        personal.personal_plan(rec, variables="cadss", alternative={"drug": "esketamine", "route": "intranasal",
                                                                     "dose": "56 mg", "at": "1 h"})


def test_plan_writes_the_records_warnings_into_its_json_and_report_as_the_dashboard_does(capsys, tmp_path):
    """A record dose in the anesthetic range warned on stderr, but `plan --json/--report` had no word of it, while the
    dashboard's plan page put it in its JSON and report with the fit's warnings."""
    import json
    import warnings

    rec = tmp_path / "hi.csv"
    rec.write_text(PATIENT_101.read_text().replace("101,0.5,1,0.5,mg/kg", "101,0.5,1,3,mg/kg"))
    js, html, alt = tmp_path / "p.json", tmp_path / "p.html", tmp_path / "alt.yaml"
    alt.write_text("- {drug: esketamine, route: intranasal, dose: 560 mg, at: 400 h}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, out, err = run_cli(capsys, "plan", rec, "--json", js, "--report", html, "--alternative", alt)
    assert code == 0, err
    says = "hi.csv row 2, column AMT: 3 mg/kg iv-infusion is in the anesthetic range"
    assert [ln for ln in err.splitlines() if says in ln] == [f"warning: {says}" + err.split(says, 1)[1].splitlines()[0]]
    assert says not in out                                   # said once, on stderr
    warns = json.loads(js.read_text())["fit"]["warnings"]
    assert warns[0].startswith(says)
    assert warns[1].startswith("--alternative alt.yaml: alternative[0].dose: 560 mg intranasal is in the anesthetic")
    assert "3 mg/kg iv-infusion is in the anesthetic range" in html.read_text()


def test_the_plan_pages_alternative_warns_on_the_page_as_the_command_does():
    """An alternative dose in the anesthetic range: `plan --alternative` warned; the plan page said nothing (the
    warning went to the server's log)."""
    import pytest

    pytest.importorskip("starlette")
    from ketasim.web import api

    alt = [{"drug": "esketamine", "route": "intranasal", "dose": "560 mg", "at": "400 h"}]
    out = api.plan_form({"record": api.plan_example()["csv"], "alternative": alt})
    warns = out["result"]["fit"]["warnings"]
    assert warns[0].startswith("alternative[0].dose: 560 mg intranasal is in the anesthetic range")


def test_the_plan_report_and_summary_say_what_they_take(tmp_path):
    import pytest

    from ketasim.errors import InputError
    from ketasim.plan_report import plan_report, text_summary

    with pytest.raises(InputError, match=r"^res: expected the result of ketasim\.personal\.personal_plan \(the plan "
                                         r"JSON\), got dict without patient, fit"):
        plan_report({}, tmp_path / "p.html")                 # was KeyError: 'patient'
    with pytest.raises(InputError, match=r"^res: expected the result .*, got str$"):
        text_summary("plan.json")
    assert not (tmp_path / "p.html").exists()


def test_qualify_checks_its_arguments_before_running(monkeypatch, capsys):
    import pytest

    from ketasim import calibration
    from ketasim.errors import InputError

    monkeypatch.setattr(calibration, "simulate_calibration_arms", lambda *a, **k: pytest.fail("ran before checking"))
    for kw, says in ((dict(size=0), "size: must lie in 1-"),
                     (dict(seed=-1), "seed: must lie in 0-"),
                     (dict(parameter_draws="x"), "parameter_draws: parameter draws must be a whole number from 2 to "
                                                 "1000 (0: no prediction intervals), got 'x'"),
                     (dict(parameter_draws=1), "parameter_draws: parameter draws must be a whole number from 2"),
                     (dict(draw_seed=-1), "draw_seed: must lie in 0-"),
                     (dict(params="cal.json"), "params: expected a ParameterSet"),
                     (dict(trials=["nope"]), "trials: no calibration trial named 'nope'; known: ")):
        with pytest.raises(InputError) as e:
            calibration.qualify(**kw)
        assert str(e.value).startswith(says), str(e.value)
    code, _, err = run_cli(capsys, "qualify", "--uncertainty", "1")         # the command's rule, now Python's too
    assert code == 2 and err.strip().startswith("error: --uncertainty: parameter draws must be a whole number"), err
