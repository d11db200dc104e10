"""Session 43 new-user pass, helper H1 (power, plan scales, records, covariates, the Python API, bad input)."""

from __future__ import annotations

import pytest
from _support import big_doc

from ketasim.errors import InputError


@pytest.mark.parametrize("path", [None, 5, 2.5])
def test_read_record_of_something_not_a_path_is_one_line(path):
    # read_record(None) stopped with TypeError: expected str, bytes or os.PathLike object, not NoneType
    from ketasim.record import RecordError, read_record

    with pytest.raises(RecordError, match=r"^path: expected the record file's path .*got "):
        read_record(path)


@pytest.mark.parametrize("obj", [[{"ID": 1, "TIME": 0, "EVID": 0}], {"ID": 1}, "patient_101.csv"])
def test_record_from_frame_of_something_not_a_frame_is_one_line(obj):
    # record_from_frame([...]) stopped with AttributeError: 'list' object has no attribute 'to_dict'
    from ketasim.record import RecordError, record_from_frame

    with pytest.raises(RecordError, match=r"expected a pandas DataFrame .*got (list|dict|str)"):
        record_from_frame(obj)


@pytest.mark.parametrize("scale", [None, "foo", "madrs-x"])
def test_parse_target_of_an_unknown_scale_is_one_line(scale):
    # parse_target('score<=15', None) stopped with KeyError: None
    from ketasim.personal import parse_target

    with pytest.raises(InputError, match=r"^scale: unknown scale "):
        parse_target("score<=15", scale)


def test_parse_target_reads_a_scale_as_users_write_it():
    from ketasim.personal import parse_target

    assert parse_target(None, "QIDS-SR16").threshold == parse_target(None, "qids_sr16").threshold == 5
    assert parse_target(None, "HAM-D24").threshold == 10


def _power_result(allocation: str, n_versus: int):
    from ketasim.power import PowerResult

    rows = [{"arm": "ketamine", "versus": "midazolam", "time_h": 24.0, "measure": "mean_change", "test": "welch",
             "n_per_arm": n, "n_versus": n_versus * n // 10, "analysed_per_arm": float(n), "effect": -8.0,
             "unit": "MADRS points", "power": p, "power_ci95_low": p - 0.03, "power_ci95_high": p + 0.03,
             "normal_theory_power": p, "assurance": float("nan"), "power_p05": float("nan"),
             "power_p95": float("nan")} for n, p in ((10, 0.4), (20, 0.7))]
    prov = {"scenario": "s", "alpha": 0.05, "target_power": 0.8, "replicates": 1000, "pool": 2000, "seed": 1,
            "dropout": 0.0, "uncertainty": 0, "allocation": allocation, "notice": "n", "parameter_set": "x",
            "model": "m"}
    return PowerResult(rows, prov)


@pytest.mark.parametrize("allocation,n_versus,label", [
    ("1:1", 10, "patients per arm"), ("2:2", 10, "patients per arm"),
    ("2:1", 5, "patients in the tested arm (allocation 2:1)")])
def test_power_curves_name_the_tested_arm_at_unequal_allocation(allocation, n_versus, label):
    # at --allocation 2:1 the figures' x axis said 'patients per arm' where the sizes are the tested arm's (the
    # other arm has half as many); the table's header said so, the PNG and the report's figure did not
    from ketasim.power import power_curves_figure
    from ketasim.web.figures import power_figure

    res = _power_result(allocation, n_versus)
    assert power_curves_figure(res).axes[0].get_xlabel() == label
    fig = power_figure(res.table().to_dict("records"), target=0.8, allocation=allocation)
    assert fig["layout"]["xaxis"]["title"]["text"] == label
    assert ("per arm" in fig["data"][1]["hovertemplate"]) == (label == "patients per arm")


def test_power_report_names_the_tested_arm_at_unequal_allocation(tmp_path):
    from ketasim.report import power_report

    html = power_report(_power_result("2:1", 5), tmp_path / "p.html").read_text()
    assert "Power by patients in the tested arm (allocation 2:1)" in html


def _two_arm_scenario():
    from ketasim.scenario import scenario_from_dict

    return scenario_from_dict({**big_doc(100), "name": "k vs m", "seed": 3,
                               "endpoints": {"times": ["24 h"], "measures": ["mean_change", "response_rate"]}})


@pytest.mark.parametrize("endpoints", [5, [5], {"mean_change": 24}])
def test_run_power_endpoints_not_text_is_one_line(endpoints):
    # run_power(sc, endpoints=5) stopped with TypeError: 'int' object is not iterable
    from ketasim.power import run_power

    with pytest.raises(InputError, match=r"^endpoints: expected comparisons as text"):
        run_power(_two_arm_scenario(), endpoints=endpoints, sizes=[10], pool=100, replicates=100)


def test_run_power_reads_sizes_written_as_text():
    # run_power(sc, sizes='20,40') was read character by character: "sizes: expected a whole number, got str '2'"
    from ketasim.power import _check_sizes

    assert _check_sizes("20,40") == _check_sizes([20, 40]) == (20, 40)
    assert _check_sizes("30") == (30,)
    with pytest.raises(InputError, match=r"^sizes: expected patients per arm, e\.g\. \[20, 40, 60\], got 'a,b'"):
        _check_sizes("a,b")


@pytest.mark.parametrize("endpoint", ["foo@24h", "response@24h", "cadss_peak", "@24h"])
def test_power_unknown_endpoint_lists_the_comparisons_power_computes(endpoint):
    # '--endpoint foo' answered "unknown measure 'foo'; use one of mean, ..., cadss_peak, sbp_change_peak, ..." (the
    # session peaks power then refuses)
    from ketasim.power import run_power

    # (the incidence endpoints, forty-third session H6, are listed beside them)
    with pytest.raises(InputError, match=r"^endpoints: .*(power is computed for the score comparisons a trial tests "
                                         r"\(|score endpoints: )mean_change, response_rate, remission_rate") as e:
        run_power(_two_arm_scenario(), endpoints=[endpoint], sizes=[10], pool=100, replicates=100)
    assert "cadss_peak" not in str(e.value).replace(endpoint, "")


def test_forest_figure_keeps_the_users_backend(tmp_path):
    """`ketasim.covariates.forest_figure` switched matplotlib to Agg (a notebook's own plots stopped showing), as
    plot_cascade and tornado_figure did before, and left its figure open in pyplot."""
    import matplotlib
    import matplotlib.pyplot as plt

    from ketasim.covariates import forest_figure, run_covariates, write_forest
    from ketasim.scenario import quick_scenario

    res = run_covariates(quick_scenario("esketamine", "intranasal", "56 mg"), contrasts=["age=70:45"],
                         endpoints=["cadss_peak"], n=20)
    before = matplotlib.get_backend()
    open_before = len(plt.get_fignums())
    matplotlib.use("svg")
    try:
        fig = forest_figure(res)
        write_forest(res, tmp_path / "f.png")
        assert matplotlib.get_backend() == "svg" and fig.axes
    finally:
        matplotlib.use(before)
    assert len(plt.get_fignums()) == open_before
    assert (tmp_path / "f.png").stat().st_size > 5_000


@pytest.mark.parametrize("text,scale,threshold", [("QIDS-SR16<=5", "qids_sr16", 5), ("HAM-D21 <= 7", "hamd21", 7),
                                                  ("hamd-24<=9", "hamd24", 9), ("MADRS<=12", "madrs", 12)])
def test_plan_target_reads_the_scale_as_the_output_prints_it(text, scale, threshold):
    # `plan --target 'QIDS-SR16<=5'` (the plan prints "target: QIDS-SR16 <= 5") was refused: "write e.g. 'score<=10'
    # or 'qids_sr16<=15', got 'QIDS-SR16<=5'"
    from ketasim.personal import parse_target

    assert parse_target(text, scale).threshold == threshold


def test_plan_target_of_another_scale_is_still_refused():
    from ketasim.personal import parse_target

    with pytest.raises(InputError, match=r"^target: the record's scale is qids_sr16, not ham-d21"):
        parse_target("HAM-D21<=7", "qids_sr16")


def test_simulate_events_missing_file_or_folder_names_the_option(capsys, tmp_path):
    # `simulate --events /x.csv` said "error: /x.csv: no such file", naming no option
    from ketasim.cli import main

    assert main(["simulate", "--events", str(tmp_path / "none.csv")]) == 2
    err = capsys.readouterr().err
    assert f"error: --events: {tmp_path / 'none.csv'}: no such file (a patient record" in err
    assert main(["simulate", "--events", str(tmp_path)]) == 2
    assert f"error: --events: {tmp_path}: is a directory, not a patient record" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "none.csv")]) == 2
    assert "none.csv: no such file (a patient record: NONMEM-style CSV or YAML)" in capsys.readouterr().err


def test_power_default_pool_is_ten_times_the_largest_arm_as_documented():
    # the docs said 'max(2000, 10x the largest size)'; at 1:3 the pool is 10x the compared-with arm (3x the size)
    from pathlib import Path

    from ketasim.power import _pool_size, versus_size

    sizes = [10, 300]
    assert _pool_size(None, [*sizes, *(versus_size(n, 3.0) for n in sizes)]) == 9000
    howto = " ".join(Path(__file__).resolve().parent.parent.joinpath("docs/howto/power.md").read_text().split())
    assert "10 × the largest arm of a replicate trial: at `--allocation 1:3` the compared-with arm's" in howto


def test_plan_target_definition_names_the_recurrence_clock_used():
    # the plan JSON's target.definition said each sample's new episode was "on the clock of time in response" while
    # plans use the population's default clock, time from entry (the response clock is an off-by-default hypothesis)
    from pathlib import Path

    from ketasim.personal import fit_patient, parse_limits, parse_target, plan
    from ketasim.record import read_record

    rec = read_record(Path(__file__).resolve().parent.parent / "examples" / "patient" / "patient_101.csv")
    fit = fit_patient(rec, n_samples=40, n_proposals=200, seed=0)
    assert fit.model.spec.recurrence_clock == "entry"
    res = plan(fit, target=parse_target("score<=15", rec.scale),
               limits=parse_limits("drugs=racemic-ketamine,routes=iv-infusion,ketamine_mg_per_kg_session=0.5"),
               n_samples=20, top=1)
    text = res["target"]["definition"]
    assert "on the clock from trial entry" in text and "time in response" not in text


@pytest.mark.parametrize("endpoint", ["cmax@24h", "auc_0_inf@7d"])   # tmax@T: test_review_s43_r3 (R3-10)
def test_covariates_pk_endpoint_with_a_time_says_so(endpoint):
    # `covariates --endpoint cmax@24h` said "unknown measure 'cmax'; use one of ... PK: cmax, auc_0_t, ..."
    from ketasim.covariates import _split_endpoints

    head = endpoint.partition("@")[0]
    with pytest.raises(InputError, match=rf"^endpoints: {head} is a PK measure of the whole sampled profile, not a "
                                         rf"value at a time; write '{head}' without '@"):
        _split_endpoints([endpoint])


def test_covariates_one_draw_message_is_about_covariates():
    # `covariates --uncertainty 1` said "(0: no prediction intervals)", the trial's words: covariates shows the draws'
    # 5th-95th percentiles of each effect
    from ketasim.covariates import run_covariates
    from ketasim.scenario import quick_scenario

    with pytest.raises(InputError, match=r"^uncertainty: .*\(0: no parameter percentiles\), got 1$"):
        run_covariates(quick_scenario("esketamine", "intranasal", "56 mg"), contrasts=["age=70:45"],
                       endpoints=["cadss_peak"], n=20, uncertainty=1)


_LINE = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}


@pytest.mark.parametrize("patient", ["70 kg", None, 70])
def test_patient_scenario_of_something_not_a_patient_is_one_line(patient):
    # patient_scenario('70 kg', [...]) stopped with TypeError: asdict() should be called on dataclass instances
    from ketasim import patient_scenario

    with pytest.raises(InputError, match=r"^patient: expected a ketasim\.Patient .*or a mapping of its fields, got "):
        patient_scenario(patient, [_LINE])


def test_patient_scenario_takes_the_patient_section_as_a_mapping():
    from ketasim import Patient, patient_scenario

    a = patient_scenario({"weight_kg": 70, "age_years": 30, "sex": "male", "baseline": 30}, [_LINE])
    b = patient_scenario(Patient(weight_kg=70, age_years=30, sex="male", baseline=30), [_LINE])
    assert a.patient == b.patient
    with pytest.raises(InputError, match=r"patient\.weight_kg: must lie in 20-250 kg, got 5"):
        patient_scenario({"weight_kg": 5}, [_LINE])


def test_observed_helpers_given_the_wrong_table_are_one_line():
    # observed_summary(read_observed(...)) stopped with KeyError 'inside'; format_observed(trial_result) with
    # "TrialResult.to_dict() takes 1 positional argument but 2 were given"
    from pathlib import Path

    from ketasim import load_scenario
    from ketasim.observed import format_observed, observed_block, observed_floors, observed_summary, read_observed

    root = Path(__file__).resolve().parent.parent / "examples" / "observed"
    obs = read_observed(root / "murrough2013_observed.csv", load_scenario(root / "murrough2013.yaml"))
    for f in (observed_summary, observed_floors, format_observed, observed_block):
        with pytest.raises(InputError, match=rf"^df: {f.__name__} expects the table of compare_observed\(result, "
                                             r"observed\), got the observed rows \(read_observed\)"):
            f(obs)
        with pytest.raises(InputError, match=r"got str$"):
            f("trial.json")


@pytest.mark.parametrize("option,value,hint", [("--dropout", "10%", "10 % is 0.1"), ("--target", "80%", "80 % is 0.8"),
                                               ("--target", "80", "80 % is 0.8"), ("--dropout", "15", "15 % is 0.15"),
                                               ("--alpha", "5", "5 % is 0.05")])
def test_power_fraction_typed_as_a_percentage_says_so(capsys, option, value, hint):
    # '--dropout 10%' said only "expected a number, got '10%'"; '--target 80' "must lie in [0.05, 0.999], got 80"
    from pathlib import Path

    from ketasim.cli import main

    scenario = str(Path(__file__).resolve().parent.parent / "examples" / "design_example.yaml")
    assert main(["power", scenario, "--sizes", "10", option, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {option}: ") and err[-1].endswith(f"(a fraction: {hint})")


def test_plan_probability_typed_with_a_percent_sign_says_so(capsys):
    from pathlib import Path

    from ketasim.cli import main

    record = str(Path(__file__).resolve().parent.parent / "examples" / "patient" / "patient_101.csv")
    assert main(["plan", record, "--probability", "70%"]) == 2
    assert capsys.readouterr().err.strip().endswith("got '70%' (a fraction: 70 % is 0.7)")


def test_plan_page_offers_every_observation_the_plan_fits():
    # the plan page's "Add an observation" offered madrs and hamd17 only among the rating scales, though plans fit
    # hamd21, hamd24, qids_sr16, bdi2, hama, caps5, ssi and madrs_si records (sourced baselines); and not S-ketamine
    import re
    from pathlib import Path

    import ketasim
    from ketasim.population import DEFAULT_BASELINE, SCALES
    from ketasim.record import DVIDS

    html = (Path(ketasim.__file__).parent / "web" / "static" / "plan.html").read_text()
    select = re.search(r'<select id="obs-dvid">(.*?)</select>', html).group(1)
    offered = set(re.findall(r"<option>([a-z0-9_]+)</option>", select))
    fitted = {d for d in DVIDS if d not in SCALES or d in DEFAULT_BASELINE}
    assert offered == fitted


def test_power_table_says_when_the_smallest_size_tested_already_reaches_the_target():
    # '--sizes 60,80' with power 1.00 at 60 printed "n for 80%: 60", as if 60 were needed
    res = _power_result("1:1", 10)
    res.rows[0]["power"] = 0.85                        # the target reached at the smallest size tested (10)
    assert res.format_table().splitlines()[2].endswith("  <= 10")
    res.rows[0]["power"] = 0.5                         # reached at 20, not at 10
    res.rows[1]["power"] = 0.85
    assert res.format_table().splitlines()[2].endswith("  20")


def test_fit_warns_when_the_entry_rating_lies_far_from_the_population_baseline():
    # a record rated MADRS 12 before its first dose (the prior: 33 +- 5 at trial entry) was fitted to a baseline of
    # ~20 without a word; the forecasts and plans treat the patient as one of the trial population
    from pathlib import Path

    import pandas as pd

    from ketasim.personal import fit_patient
    from ketasim.record import record_from_frame

    df = pd.read_csv(Path(__file__).resolve().parent.parent / "examples" / "patient" / "patient_101.csv")
    low = df.copy()
    low.loc[0, "DV"] = 12
    fit = fit_patient(record_from_frame(low), n_samples=40, n_proposals=200, seed=0)
    hits = [w for w in fit.warnings if w.startswith("baseline: the rating before the first dose (12 MADRS points")]
    assert len(hits) == 1 and "below the population's baseline" in hits[0]
    assert float(hits[0].split("towards it (")[1].split(")")[0]) > 15      # the prior's pull, said as a number
    usual = fit_patient(record_from_frame(df), n_samples=40, n_proposals=200, seed=0)
    assert not [w for w in usual.warnings if w.startswith("baseline: the rating before the first dose")]


@pytest.mark.parametrize("path,message", [("p.txt", r"^path: cannot write a figure as '\.txt'"),
                                          (None, r"^path: expected a file path, got NoneType")])
def test_figure_writers_from_python_name_path_not_the_option(tmp_path, path, message):
    # write_power_curves(res, None) said "--plot: expected a file path", an option no Python call has
    from ketasim.covariates import run_covariates, write_forest
    from ketasim.errors import KetasimError
    from ketasim.power import write_power_curves
    from ketasim.scenario import quick_scenario

    target = None if path is None else tmp_path / path
    with pytest.raises(KetasimError, match=message):
        write_power_curves(_power_result("1:1", 10), target)
    cov = run_covariates(quick_scenario("esketamine", "intranasal", "56 mg"), contrasts=["age=70:45"],
                         endpoints=["cadss_peak"], n=20)
    with pytest.raises(KetasimError, match=message):
        write_forest(cov, target)


@pytest.fixture(scope="module")
def _small_fit():
    from pathlib import Path

    from ketasim.personal import fit_patient

    return fit_patient(Path(__file__).resolve().parent.parent / "examples" / "patient" / "patient_101.csv",
                       n_samples=20, n_proposals=100, seed=0)


@pytest.mark.parametrize("call", ["forecast", "plan"])
def test_forecast_and_plan_of_something_not_a_fit_is_one_line(call):
    # forecast('x') / plan('x') stopped with AttributeError: 'str' object has no attribute 'model'
    from ketasim import personal

    with pytest.raises(InputError, match=r"^fit: expected a PatientFit \(fit_patient\(record\)\), got str 'x'"):
        getattr(personal, call)("x")


def test_forecast_reads_one_variable_given_as_text(_small_fit):
    # forecast(fit, variables='cadss') said "unknown trajectory variable 'c'" (the text read letter by letter)
    from ketasim.personal import forecast

    fc = forecast(_small_fit, variables="cadss", grid=False)
    assert {e["variable"] for e in fc.entries()} == {"cadss"}


def test_plan_takes_target_and_limits_as_the_command_line_writes_them(_small_fit):
    # plan(fit, target='score<=15') stopped with AttributeError: 'str' object has no attribute 'visits_h'
    from ketasim.personal import parse_limits, plan

    lim = "drugs=racemic-ketamine,routes=iv-infusion,ketamine_mg_per_kg_session=0.5"
    res = plan(_small_fit, target="score<=15", limits=lim, n_samples=20, top=1)
    assert res["target"]["threshold"] == 15 and res["limits"] == parse_limits(lim).describe()
    with pytest.raises(InputError, match=r"^limits: expected text such as 'cadss=25' or a Limits"):
        plan(_small_fit, limits={"cadss": 25}, n_samples=20)
    with pytest.raises(InputError, match=r"^target: expected text such as 'score<=10' or a Target"):
        plan(_small_fit, target=10, n_samples=20)


@pytest.mark.parametrize("kw,message", [({"contrasts": 5}, r"^contrasts: expected a list of text"),
                                        ({"endpoints": 5}, r"^endpoints: expected a list of text"),
                                        ({"analytes": 5}, r"^analytes: expected a list of text"),
                                        ({"params": "cal.json"}, r"^params: expected a ParameterSet")])
def test_run_covariates_argument_types_are_one_line(kw, message):
    # contrasts=5 / endpoints=5: TypeError 'int' object is not iterable; params='cal.json': AttributeError 'get'
    from ketasim.covariates import run_covariates
    from ketasim.scenario import quick_scenario

    args = {"n": 20, "endpoints": ["cadss_peak"], "contrasts": ["age=70:45"], **kw}
    with pytest.raises(InputError, match=message):
        run_covariates(quick_scenario("esketamine", "intranasal", "56 mg"), **args)


@pytest.mark.parametrize("kw,message", [({"params": "cal.json"}, r"^params: expected a ParameterSet"),
                                        ({"patterns": 5}, r"^patterns: expected parameter patterns as text")])
def test_run_sensitivity_argument_types_are_one_line(kw, message):
    # params='cal.json': AttributeError 'str' object has no attribute 'literature'; patterns=5: TypeError
    from ketasim import load_scenario
    from ketasim.sensitivity import run_sensitivity

    with pytest.raises(InputError, match=message):
        run_sensitivity(load_scenario("examples/design_example.yaml"), endpoint="mean_change@24h", **kw)


def _many_curves():
    from ketasim.power import PowerResult

    rows = []
    for t in (0.67, 2.0, 24.0, 72.0, 168.0, 672.0):
        for m, test in (("mean_change", "welch"), ("response_rate", "z"), ("remission_rate", "z")):
            for n, p in ((20, 0.3), (40, 0.6)):
                rows.append({"arm": "ketamine", "versus": "midazolam", "time_h": t, "measure": m, "test": test,
                             "n_per_arm": n, "n_versus": n, "analysed_per_arm": float(n), "effect": 1.0,
                             "unit": "u", "power": p, "power_ci95_low": p - 0.03, "power_ci95_high": p + 0.03,
                             "normal_theory_power": p, "assurance": float("nan"), "power_p05": float("nan"),
                             "power_p95": float("nan")})
    prov = {"scenario": "s", "alpha": 0.05, "target_power": 0.8, "replicates": 1000, "pool": 2000, "seed": 1,
            "dropout": 0.0, "uncertainty": 0, "allocation": "1:1", "notice": "n", "parameter_set": "x", "model": "m"}
    return PowerResult(rows, prov)


def test_power_curves_of_many_endpoints_are_told_apart():
    # the design example's 18 default endpoints: matplotlib's ten colours repeated, so 'change 24 h' and
    # 'remission 40 min' were drawn alike (and the Plotly figure's eight colours likewise)
    from matplotlib.colors import to_hex

    from ketasim.power import power_curves_figure
    from ketasim.web.figures import power_figure

    res = _many_curves()
    lines = [ln for ln in power_curves_figure(res).axes[0].get_lines() if ln.get_label().startswith("ketamine")]
    assert len(lines) == 18 and len({(to_hex(ln.get_color()), ln.get_linestyle()) for ln in lines}) == 18
    curves = [d for d in power_figure(res.table().to_dict("records"), target=0.8)["data"] if d.get("name")]
    assert len(curves) == 18 and len({(d["line"]["color"], d["line"]["dash"]) for d in curves}) == 18


def test_power_of_a_crossover_counts_patients_not_patients_per_arm():
    # a crossover's table and figures said "patients per arm" for sizes that are patients, each receiving every arm
    from ketasim.power import power_curves_figure
    from ketasim.web.figures import power_figure

    res = _power_result("1:1", 10)
    for r in res.rows:
        r["test"] = "paired"
    res.provenance["design"] = "crossover"
    label = "patients (crossover: each in every period)"      # (H9's words, merged with this fix)
    assert res.format_table().startswith(f"Power by {label} (")
    assert power_curves_figure(res).axes[0].get_xlabel() == label
    assert power_figure(res.table().to_dict("records"), target=0.8,
                        design="crossover")["layout"]["xaxis"]["title"]["text"] == label


def test_power_curves_of_few_endpoints_keep_a_colour_each():
    from ketasim.power import power_curves_figure

    res = _many_curves()
    res.rows = [r for r in res.rows if r["time_h"] == 24.0]          # three curves: change, response, remission
    lines = [ln for ln in power_curves_figure(res).axes[0].get_lines() if ln.get_label().startswith("ketamine")]
    assert len(lines) == 3 and len({ln.get_color() for ln in lines}) == 3


@pytest.mark.parametrize("rows,tail", [(([], []), "got tuple; qualify() returns (rows, skipped): pass rows"),
                                       ("qualification.json", "got str"), ([{"row": 1}], "got list")])
def test_qualification_summary_of_something_not_qualify_rows_is_one_line(rows, tail):
    # qualification_summary(qualify()) (its (rows, skipped) pair) stopped with TypeError: list indices must be ...
    from ketasim.calibration import qualification_summary

    with pytest.raises(InputError, match=r"^rows: expected the rows of qualify\(\) .*" + tail.replace("(", r"\(")
                       .replace(")", r"\)") + "$"):
        qualification_summary(rows)


def test_plan_window_refusal_says_what_was_read():
    # 'window: need 0 < FROM <= TO <= 1 year' did not say what was read
    from ketasim.personal import parse_target

    with pytest.raises(InputError, match=r"^window: need 0 < FROM <= TO <= 1 year after the last observation, got "
                                         r"'0 d:1 week' \(0 d to 7 d\)$"):
        parse_target(None, "madrs", window="0 d:1 week")


def test_power_table_with_draws_says_whose_monte_carlo_interval_it_gives():
    # with --uncertainty the table shows the assurance, but its footer gave "Monte Carlo 95 % CI half-width at most
    # 0.031" without saying that is the calibrated set's power's, not the assurance's
    res = _power_result("1:1", 10)
    for r in res.rows:
        r.update(assurance=r["power"], power_p05=r["power"] - 0.1, power_p95=r["power"] + 0.1)
    res.provenance.update(uncertainty=20, between_trial=True, draw_pool=2000)
    text = res.format_table()
    assert text.startswith("Assurance by patients per arm")
    assert "Monte Carlo 95 % CI half-width of the calibrated parameters' power (the CSV's power column) at most 0.030" \
        in text
    assert "the draws' 5th-95th percentiles of the power: the CSV's power_p05, power_p95" in text
    res.provenance["uncertainty"] = 0
    assert "Monte Carlo 95 % CI half-width at most 0.030." in res.format_table()


def test_baseline_range_messages_carry_the_unit():
    # "patient.baseline: must lie in (0, 27] for qids_sr16" named no unit (the quick form says "points on")
    from ketasim import Patient, scenario_from_dict

    with pytest.raises(InputError, match=r"^patient\.baseline: must lie in \(0, 27\] points on qids_sr16, got 30$"):
        Patient(scale="qids_sr16", baseline=30)
    with pytest.raises(InputError, match=r"points on bdi2, got mean 70"):
        scenario_from_dict({"name": "p", "population": {"scale": "bdi2", "baseline": {"mean": 70, "sd": 5}},
                            "arms": {"k": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}]}})


def test_power_howto_says_a_mean_endpoint_is_analysed_as_its_change():
    # '--endpoint mean@24h' printed a 'change 24 h' row; the page did not say so
    from pathlib import Path

    from ketasim.power import _endpoints

    assert _endpoints(_two_arm_scenario(), ["mean@24h"])[0].measure == "mean_change"
    howto = " ".join((Path(__file__).resolve().parent.parent / "docs/howto/power.md").read_text().split())
    assert "`mean@T` is analysed as its change from baseline (`mean_change@T`" in howto


def test_plan_json_contract_lists_every_top_level_key():
    # the plan JSON's recorded_regimen was written but not in the contract (plan_report's docstring)
    from pathlib import Path

    import ketasim.plan_report as pr
    from ketasim.personal import personal_plan

    job = personal_plan(Path(__file__).resolve().parent.parent / "examples" / "patient" / "patient_101.csv",
                        limits="drugs=racemic-ketamine,routes=iv-infusion,ketamine_mg_per_kg_session=0.5",
                        n_samples=20)
    assert "recorded_regimen" in job
    assert [k for k in job if f"``{k}``" not in pr.__doc__] == []


def test_power_howto_p_active_at_2_to_1_is_what_the_design_example_gets():
    # the page said participants are told "2/3 at 2:1"; its own example (three arms) is told 0.8
    from pathlib import Path

    from ketasim import load_scenario
    from ketasim.power import _design_for

    root = Path(__file__).resolve().parent.parent
    sc = load_scenario(root / "examples" / "design_example.yaml")
    kept, _ = _design_for(sc, [("ketamine", "midazolam")], 0.5, False)
    two, _ = _design_for(_two_arm_scenario(), [("ketamine", "midazolam")], 0.5, False)
    assert kept.population.p_active == pytest.approx(0.8) and two.population.p_active == pytest.approx(2 / 3)
    howto = " ".join((root / "docs/howto/power.md").read_text().split())
    assert "2/3 at 2:1 in a two-arm trial and 0.8 in the design example's three arms" in howto


def test_power_csv_contract_says_what_a_crossover_size_counts():
    from pathlib import Path

    text = " ".join((Path(__file__).resolve().parent.parent / "docs" / "contracts.md").read_text().split())
    assert "a crossover: the trial's patients, each in every period" in text


_big_doc = big_doc     # tests/_support.py


def test_a_file_whose_population_exceeds_the_time_budget_runs_at_the_size_asked(monkeypatch, tmp_path, capsys):
    # the scenario's load checked the time of the FILE's whole population: with its population.size beyond
    # KETASIM_MAX_SECONDS, `trial --size 100`, `simulate --size 10` and `power --pool 200` were all refused
    # ("population.size: 2,000,000 patients ... would compute for ~36 min") though the run asked for takes seconds
    import yaml

    from ketasim import limits, run_trial, scenario_from_dict
    from ketasim.cli import main
    from ketasim.power import run_power

    full = limits.estimate_scenario_run(scenario_from_dict(_big_doc(2_000_000))).seconds
    monkeypatch.setenv("KETASIM_MAX_SECONDS", f"{full / 20:.3f}")
    sc = scenario_from_dict(_big_doc(2_000_000))                     # was refused here
    assert run_trial(sc, n=20).outcomes["ketamine"].rating.shape[0] == 20
    with pytest.raises(InputError, match=r"^population\.size: 2,000,000 patients .*would compute for"):
        run_trial(sc)
    with pytest.raises(InputError, match=r"^n: 1,000,000 patients .*would compute for"):
        run_trial(sc, n=1_000_000)
    with pytest.raises(InputError, match=r"^pool: 1,000,000 patients .*would compute for"):
        run_power(sc, sizes=[10], pool=1_000_000, replicates=100, endpoints=["mean_change@24h"])
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(_big_doc(2_000_000)))
    assert main(["trial", str(path), "--size", "1000000"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --size: 1,000,000 patients")
    assert main(["power", str(path), "--sizes", "10", "--pool", "1000000", "--replicates", "100",
                 "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --pool: 1,000,000 patients")
