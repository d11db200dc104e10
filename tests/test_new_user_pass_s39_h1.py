"""New-user pass of the thirty-ninth session (helper H1): one regression test per fix."""

from __future__ import annotations

import pytest

from _support import REPO, one_error_line, run_cli


def test_qualify_states_the_virtual_population_size_and_seed(capsys, monkeypatch, tmp_path):
    """`ketasim qualify --size 100` printed and wrote a report that did not say 100 (nor the seed): a quick run's
    wider Monte Carlo error could not be told from the default 2000 patients per arm (`--external` said it)."""
    import ketasim.calibration as cal

    original = cal.qualify
    monkeypatch.setattr(cal, "qualify", lambda params, **kw: original(params, trials=["berman2000"], **kw))
    html = tmp_path / "q.html"
    code, out, _ = run_cli(capsys, "qualify", "--size", "23", "--seed", "5", "--html", str(html))
    assert code == 0
    assert "23 virtual patients per arm, seed 5" in out
    assert "23 virtual patients per arm, seed 5" in html.read_text()
    from ketasim.model import model_id

    assert f"model {model_id()}" in out and f"model {model_id()}" in html.read_text()


_RECORD = """ID: 7
WT: {wt}
AGE: 50
SEX: M
events:
  - {{TIME: 0, EVID: 0, DV: 34, DVID: madrs}}
  - {{TIME: 0.5, EVID: {evid}, AMT: {amt}, AMTU: mg/kg, DUR: {dur}, DRUG: racemic-ketamine, ROUTE: iv-infusion}}
  - {{TIME: {time}, EVID: 0, DV: 20, DVID: madrs}}
"""


@pytest.mark.parametrize("field, value, says", [
    ("dur", "40 min", "row 2, column DUR: expected a number, got '40 min'; DUR is a number of hours, without a unit: "
                      "write 0.6667"),
    ("time", "1 d", "row 3, column TIME: expected a number, got '1 d'; TIME is a number of hours, without a unit: "
                    "write 24"),
    ("time", "day 2", "row 3, column TIME: expected a number, got 'day 2'; TIME is a number of hours"),
    ("wt", "165 lb", "row 1, column WT: expected a number, got '165 lb'; WT is a number of kg, without a unit: "
                     "write 74.84"),
    ("amt", "0.5 mg/kg", "row 2, column AMT: expected a number, got '0.5 mg/kg'; AMT is the number alone, its unit "
                         "goes in AMTU (mg or mg/kg)"),
    ("evid", "dose", "row 2, column EVID: expected a number, got 'dose' (1 for a dose, 0 for an observation)"),
])
def test_record_value_typed_with_its_unit_says_what_to_write(capsys, tmp_path, field, value, says):
    """A YAML record with `DUR: 40 min`, `TIME: 1 d`, `WT: 165 lb` or `AMT: 0.5 mg/kg` said only "expected a number,
    got '40 min'": the columns are bare numbers in fixed units (hours, kg), which the line now says, with the number."""
    fields = {"wt": 75, "evid": 1, "amt": 0.5, "dur": 0.6667, "time": 24}
    fields[field] = value
    path = tmp_path / "rec.yaml"
    path.write_text(_RECORD.format(**fields), encoding="utf-8")
    code, _, err = run_cli(capsys, "simulate", "--events", path)
    assert code == 2
    assert one_error_line(err) == f"error: rec.yaml {says}"


_SCENARIO = """name: t
population: {size: 5, age_years: {mean: 45, sd: 12}}
arms:
  ketamine:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, at: 0 h}
endpoints:
  times: [24 h]
  measures: [mean, response_rate]
"""


@pytest.mark.parametrize("old, new, says", [
    ("arms:", "arm:", "arms: required field is missing (found 'arm': did you mean 'arms'?)"),
    ("age_years:", "age:", "population.age: unknown field (did you mean 'age_years'?)"),
    ("response_rate]", "responder_rate]", "endpoints.measures: unknown measure 'responder_rate' (did you mean "
                                          "'response_rate'?)"),
])
def test_scenario_typo_names_the_key_meant(capsys, tmp_path, old, new, says):
    """`arm:` said only "arms: required field is missing"; `age:` and `responder_rate` listed every allowed key, cut in
    the middle by the line's length limit, and suggested nothing."""
    path = tmp_path / "s.yaml"
    path.write_text(_SCENARIO.replace(old, new), encoding="utf-8")
    code, _, err = run_cli(capsys, "trial", path, "--size", "5")
    assert code == 2
    assert one_error_line(err) == f"error: {says}"


def test_unknown_population_key_lists_the_allowed_keys_whole(capsys, tmp_path):
    """`population: {n: 5}` listed ~40 keys, cut in the middle ('... vi ... uctuation_scales...'): the line now ends
    with a count of the rest, and every key it names is whole."""
    import ketasim.errors as errors

    path = tmp_path / "s.yaml"
    path.write_text(_SCENARIO.replace("size: 5", "n: 5"), encoding="utf-8")
    code, _, err = run_cli(capsys, "trial", path, "--size", "5")
    line = one_error_line(err)
    assert code == 2 and " ... " not in line and len(line) < errors.MAX_MESSAGE
    assert line.startswith("error: population.n: unknown field; allowed: size, condition, ")
    assert line.endswith("more (docs/contracts.md)")


def test_a_number_where_a_distribution_goes_shows_that_number_as_the_mean(capsys, tmp_path):
    """`age_years: 45` (every patient 45) said "expected a mapping of fields, e.g. {mean: 30, sd: 5}" for any key: the
    example now uses the number written, with sd 0 for no spread."""
    path = tmp_path / "s.yaml"
    path.write_text(_SCENARIO.replace("age_years: {mean: 45, sd: 12}", "age_years: 52"), encoding="utf-8")
    code, _, err = run_cli(capsys, "trial", path, "--size", "5")
    assert code == 2
    assert one_error_line(err) == ("error: population.age_years: expected a mapping of fields, e.g. {mean: 52, sd: 0} "
                                   "for every patient at 52, or {mean: 52, sd: ...} for a spread, got '52'")


def test_help_in_80_columns_cuts_nothing(capsys, monkeypatch):
    """In an 80-column terminal typer's rich panels left ~20 columns for the help and cut option names and defaults
    with '…' (`--no-between-tri…`, `out/external_qualificatio…`): plain help wraps them whole. `ketasim` alone
    prints the help on stdout (it added an empty 'error:' line)."""
    from ketasim.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    for argv in (["qualify", "--help"], ["trial", "--help"], ["plan", "--help"], ["--help"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "…" not in out
        assert max(map(len, out.splitlines())) <= 80
    assert main(["qualify", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--no-between-trial" in out and "out/external_qualification.json" in out
    assert main([]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Usage: ") and "qualify" in out and err == ""


def test_observed_table_shows_long_arm_and_measure_names_whole():
    """`trial --observed` cut arm and measure names at 16 characters: 'esketamine-flexible+AD' printed as
    'esketamine-flexi' (two arms differing later printed alike), 'hypertension_rate' as 'hypertension_rat'."""
    import pandas as pd

    from ketasim.observed import N_FROM_FILE, format_observed

    row = {"time_h": 24.0, "n": 40, "n_from": N_FROM_FILE, "observed": 10.0, "predicted": 12.0, "error": 2.0,
           "pi_low": 5.0, "pi_high": 20.0, "inside": True, "dose_level": "", "scale": "madrs",
           "unit": "points"}
    df = pd.DataFrame([{**row, "arm": "esketamine-flexible+AD", "measure": "hypertension_rate"},
                       {**row, "arm": "esketamine-flexible-low", "measure": "mean"}])
    text = format_observed(df)
    lines = text.splitlines()
    assert [ln.split()[:2] for ln in lines if "esketamine" in ln] == [["esketamine-flexible+AD", "hypertension_rate"],
                                                                      ["esketamine-flexible-low", "mean"]]
    header = next(ln for ln in lines if ln.strip().startswith("arm"))
    first = next(ln for ln in lines if "hypertension_rate" in ln)
    assert header.index("measure") == first.index("hypertension_rate")


def test_result_methods_an_analyst_uses_are_documented():
    """docs/api.md documents SimulationResult and TrialResult with autodoc `:members:`, which leaves out members
    without a docstring: trajectories(), sessions(), patients(), table(), comparison_table() and to_dict() were not
    in the API reference at all (patients(), the covariates, is documented nowhere else)."""
    import inspect

    from ketasim.result import SimulationResult
    from ketasim.trial import TrialResult

    for cls, names in ((SimulationResult, ("trajectories", "sessions", "patients", "run", "arm_names", "provenance")),
                       (TrialResult, ("table", "comparison_table", "to_dict", "trajectory_summary", "format_table"))):
        for name in names:
            member = inspect.getattr_static(cls, name)
            doc = (member.fget if isinstance(member, property) else member).__doc__
            assert doc and doc.strip(), f"{cls.__name__}.{name} has no docstring"
    assert "baseline_rating" in SimulationResult.patients.__doc__
    assert "discharge_ready_h" in SimulationResult.sessions.__doc__


def test_plan_window_without_unit_suggests_weeks(capsys):
    """`plan --window 1:4` (weeks meant) suggested "e.g. '1 min' or '1 h'" for a window of visits weeks ahead."""
    code, _, err = run_cli(capsys, "plan", REPO / "examples" / "patient" / "patient_101.csv", "--window", "1:4")
    assert code == 2
    assert one_error_line(err) == "error: --window: the unit is missing in '1'; write it explicitly, e.g. '1 week' or '1 d'"


def test_plan_says_when_the_sampled_posterior_is_much_wider_than_laplace(capsys, tmp_path):
    """patient_101: eta_placebo printed MAP 0.761, 90% [-1.645, 0.914], Laplace shrinkage 0.02 ("informed"), with no
    word that the importance-sampled SD (78 % of the prior's) was ~4x the Laplace SD (21 %): a two-peaked posterior
    whose MAP sits at an end of its interval. Every informed parameter whose sampled SD is at least twice its Laplace
    SD is named in one note (and in the JSON warnings); no other parameter is."""
    import json

    from ketasim.personal import WIDER_THAN_LAPLACE, WIDER_THAN_LAPLACE_RATIO

    out_json = tmp_path / "plan.json"
    code, out, _ = run_cli(capsys, "plan", REPO / "examples" / "patient" / "patient_101.csv", "--json", out_json)
    assert code == 0
    res = json.loads(out_json.read_text())
    wide = [p["name"] for p in res["fit"]["parameters"]
            if p["informed"] and not p["uninformative"] and not p["flat_laplace"]
            and p["sd"] >= WIDER_THAN_LAPLACE_RATIO * p["laplace_sd"]]
    assert wide, "the example record no longer has such a parameter: pick another record for this test"
    flagged = [w.split(":", 1)[0] for w in res["fit"]["warnings"] if WIDER_THAN_LAPLACE in w]
    assert flagged == wide
    notes = [ln for ln in out.splitlines() if WIDER_THAN_LAPLACE in ln]
    assert len(notes) == 1 and notes[0].strip().startswith(f"note: for {', '.join(wide)} ")
    assert not any(ln.strip().startswith("warning:") and WIDER_THAN_LAPLACE in ln for ln in out.splitlines())


def test_sensitivity_table_keeps_three_significant_digits():
    """The Morris table printed mu_star 0.9996 as '1' between '5.55' and '0.639', as if it were exact."""
    from ketasim.sensitivity import _fi

    assert [_fi(x) for x in (0.9996, 11.1, 124.0, 0.0436, -0.439, 12.0, None)] == \
        ["1.00", "11.1", "124", "0.0436", "-0.439", "12.0", "-"]


def test_simulate_events_says_the_observations_are_not_fitted(capsys):
    """`simulate --events patient_101.csv` printed "MADRS from 40.0: ... 24.0 h 18.1" (the record's 24-h rating is 13)
    without saying that the record's ratings did not inform it: it reads like this patient's forecast."""
    path = REPO / "examples" / "patient" / "patient_101.csv"
    code, out, _ = run_cli(capsys, "simulate", "--events", path)
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("patient 101: the record's doses and covariates with the population's typical random "
                            "effects; its 8 observed values are not fitted (`ketasim plan ")


@pytest.mark.parametrize("header, says", [
    ("Time_h", "use TIME (hours from the first row)"),
    ("WT_kg", "use WT (kg)"),
    ("Weight", "use WT (kg)"),
    ("DUR_min", "use DUR (hours): convert the values to hours (/ 60)"),   # minutes: a rename alone misreads them
    ("DOSE", "use AMT (its unit in AMTU)"),
])
def test_record_column_with_a_unit_or_another_name_names_the_column_meant(capsys, tmp_path, header, says):
    """A record whose header says `Time_h`, `WT_kg`, `Weight` or `DOSE` got only 'unknown column; known columns: ...'."""
    src = (REPO / "examples" / "patient" / "patient_101.csv").read_text(encoding="utf-8").splitlines()
    column = {"Time_h": "TIME", "WT_kg": "WT", "Weight": "WT", "DUR_min": "DUR", "DOSE": "AMT"}[header]
    src[0] = ",".join(header if c == column else c for c in src[0].split(","))
    path = tmp_path / "rec.csv"
    path.write_text("\n".join(src) + "\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "simulate", "--events", path)
    assert code == 2
    assert one_error_line(err).startswith(f"error: rec.csv header, column {header}: unknown column; {says}; known "
                                          "columns: ID, TIME,")


@pytest.mark.parametrize("old, new, says", [
    ("endpoints:", "design: {type: paralel}\nendpoints:",
     "design.type: unknown value 'paralel' (did you mean 'parallel'?); use parallel, crossover, randomized_withdrawal"),
    ("endpoints:", "output: {every: 15 min, untill: 7 d}\nendpoints:", "output.untill: unknown field (did you mean "
                                                                        "'until'?)"),
    ("size: 5,", "size: 5, female_fraction: 55%,", "population.female_fraction: expected a number, got '55%' (a "
                                                   "fraction: 55 % is 0.55)"),
])
def test_scenario_value_typos_say_what_is_meant(capsys, tmp_path, old, new, says):
    """`design: {type: paralel}` gave pydantic's "Input should be 'parallel', 'crossover' or ..."; `output.untill`
    only "unknown field" (the output's union tag hid its keys); `female_fraction: 55%` only "expected a number"."""
    path = tmp_path / "s.yaml"
    path.write_text(_SCENARIO.replace(old, new, 1), encoding="utf-8")
    code, _, err = run_cli(capsys, "trial", path, "--size", "5")
    assert code == 2
    assert one_error_line(err) == f"error: {says}"


def test_validation_page_quotes_the_sampling_floor_qualify_prints():
    """docs/validation.md said the sampling floor is ~1.9 points and ~5.8 pp; `ketasim qualify` at the shipped set
    prints 1.76 points and 5.7 pp (a smaller virtual trial gives the same floor within Monte Carlo error)."""
    import re

    import ketasim.calibration as cal
    from ketasim import load_parameters

    text = (REPO / "docs" / "validation.md").read_text(encoding="utf-8")
    m = re.search(r"sampling SD for a trial of its size: ~([\d.]+) points and ~([\d.]+) percentage points", text)
    assert m
    rows, _ = cal.qualify(load_parameters(), size=300, seed=11)
    s = cal.qualification_summary(rows)
    assert abs(float(m.group(1)) - s["sampling_floor_points"]) <= 0.1
    assert abs(float(m.group(2)) - s["sampling_floor_percentage_points"]) <= 0.25


def test_readme_points_to_the_contract_a_clone_has():
    """README said "The YAML contract of `DESIGN.md`" and "(DESIGN.md)" for the columns: DESIGN.md is not in the
    repository (it lives in the project's shared folder); docs/contracts.md is the contract a user has."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    import re

    for m in re.finditer("DESIGN.md", text):
        assert "shared folder" in " ".join(text[m.start():m.start() + 40].split()), text[m.start() - 80:m.end() + 40]
    assert "The YAML contract (`docs/contracts.md`" in text


@pytest.mark.parametrize("header, cell, says", [
    ("timepoint", "24", ": no column 'timepoint_h' (required: arm, timepoint_h, measure, value); found 'timepoint': "
                        "name it 'timepoint_h' (in hours)"),
    ("time_h", "24", ": no column 'timepoint_h' (required: arm, timepoint_h, measure, value); found 'time_h': name it "
                     "'timepoint_h' (in hours)"),
    ("timepoint_h", "24 h", " row 1 (line 2), column timepoint_h: '24 h' is not a number; timepoint_h is a number of "
                            "hours, without a unit: write 24"),
])
def test_observed_time_column_typos_say_what_to_write(capsys, tmp_path, header, cell, says):
    """An observed file with `timepoint` or `time_h` for timepoint_h named the header's first six columns (cut before
    the one written); `24 h` in timepoint_h said only "is not a number"."""
    path = tmp_path / "o.csv"
    path.write_text(f"arm,{header},measure,value,n\nketamine,{cell},mean_change,-16.5,47\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "trial", REPO / "examples" / "observed" / "murrough2013.yaml", "--size", "5",
                           "--observed", path, "--no-progress")
    assert code == 2
    assert one_error_line(err) == f"error: --observed o.csv{says}"


@pytest.mark.parametrize("word, says", [("weekly", "'7 d' for weekly"), ("twice weekly", "'3.5 d' for twice weekly"),
                                        ("daily", "'1 d' for daily")])
def test_an_interval_in_words_gets_its_number(capsys, word, says):
    """`--every weekly` said "cannot read 'weekly' as a number followed by a unit"."""
    code, _, err = run_cli(capsys, "simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg",
                           "--every", word, "--count", "4")
    assert code == 2
    assert one_error_line(err) == f"error: --every: write the time as a number with its unit, e.g. {says} (got {word!r})"


def test_contracts_explain_a_rate_ci_touching_zero_beside_p_below_005():
    """`trial` printed `remission_rate_difference 20.00 [-0.05, 41.60] p=0.035` (4 of 20 vs 0 of 20): the CI is
    Newcombe's and the p the pooled score test, which disagree near 0.05; docs/contracts.md says so."""
    import numpy as np

    from ketasim.trial import _proportion_difference

    value, (lo, hi), p = _proportion_difference(np.r_[np.ones(4), np.zeros(16)], np.zeros(20))
    assert lo < 0 < hi and p < 0.05          # the disagreement the page explains
    text = " ".join((REPO / "docs" / "contracts.md").read_text(encoding="utf-8").split())
    assert "Newcombe's hybrid-score 95 % CI and the pooled score (z) test" in text
    assert f"[{lo:.2f}, {hi:.2f}] p={p:.3f}" in text


def test_trial_json_carries_the_scenario_it_ran(capsys, tmp_path):
    """`trial --json` named the scenario but not its arms, doses or endpoints (a trajectory file's provenance has
    the scenario as read, `definition`): a downstream analyst could not tell what was run from the file."""
    import json

    out = tmp_path / "t.json"
    scenario = REPO / "docs" / "tutorials" / "placebo_trial.yaml"
    code, _, _ = run_cli(capsys, "trial", scenario, "--size", "10", "--json", out, "--no-progress")
    assert code == 0
    d = json.loads(out.read_text())
    import yaml

    assert d["definition"] == yaml.safe_load(scenario.read_text(encoding="utf-8"))


def test_sensitivity_json_names_the_model_and_the_scenario_it_ran(capsys, tmp_path):
    """The sensitivity JSON named the scenario and parameter set but neither the model (its digest) nor the scenario as
    read, which a trial JSON and a trajectory file's provenance record."""
    import json

    import yaml

    from ketasim.model import model_id

    out = tmp_path / "s.json"
    scenario = REPO / "docs" / "tutorials" / "placebo_trial.yaml"
    code, _, _ = run_cli(capsys, "sensitivity", scenario, "--endpoint", "mean_change@24h", "--size", "5",
                         "--samples", "2", "--parameters", "pd.nmda.hill", "--json", out)
    assert code == 0
    d = json.loads(out.read_text())
    assert d["model"] == model_id()
    assert d["definition"] == yaml.safe_load(scenario.read_text(encoding="utf-8"))


def test_record_time_as_dates_says_how_to_convert():
    """A record whose TIME holds dates (a clinic's visit log read with pd.to_datetime, or '2026-01-06 09:00' in a CSV)
    said only "expected a number, got Timestamp(...)"."""
    import pandas as pd

    from ketasim.errors import InputError
    from ketasim.record import record_from_frame, record_from_rows

    df = pd.DataFrame({"ID": [1, 1], "TIME": pd.to_datetime(["2026-01-05 09:00", "2026-01-06 09:00"]), "EVID": [0, 0],
                       "DV": [30, 20], "DVID": ["madrs", "madrs"], "WT": [70, None], "AGE": [40, None],
                       "SEX": ["F", None]})
    for make in (lambda: record_from_frame(df),
                 lambda: record_from_rows([{"ID": 1, "TIME": "2026-01-05 09:00", "EVID": 0, "DV": 30, "DVID": "madrs",
                                            "WT": 70, "AGE": 40, "SEX": "F"}])):
        with pytest.raises(InputError, match=r"row 1, column TIME: expected a number, got .*; TIME is hours from the "
                                             r"first row, not a date: convert it"):
            make()


def test_plan_variable_forecast_names_its_unit(capsys):
    """`plan --variable cp_ketamine_ng_ml` headed its forecast "forecast of cp_ketamine_ng_ml (recorded regimen):"
    without a unit (only cadss said 'CADSS points')."""
    from ketasim.result import UNITS

    code, out, _ = run_cli(capsys, "plan", REPO / "examples" / "patient" / "patient_101.csv", "--variable",
                           "sbp_change_mmhg")
    assert code == 0
    assert f"forecast of sbp_change_mmhg ({UNITS['sbp_change_mmhg']}) (recorded regimen):" in out


@pytest.mark.parametrize("old, new, says", [
    ("events:", "event:", "expected a list of rows or a mapping with 'events' (a list of rows); found 'event', a list: "
                          "name it 'events'"),
    ("WT: {wt}", "weight_kg: {wt}", ", key weight_kg: unknown column; use WT (kg); known columns: ID,"),
])
def test_yaml_record_key_typos_name_the_key_meant(capsys, tmp_path, old, new, says):
    """A YAML record with `event:` for `events:` said only "expected ... a mapping with 'events'"; `weight_kg:` (the
    scenario's name for the weight) only "unknown column"."""
    text = _RECORD.replace(old, new).format(wt=75, evid=1, amt=0.5, dur=0.6667, time=24)
    path = tmp_path / "rec.yaml"
    path.write_text(text, encoding="utf-8")
    code, _, err = run_cli(capsys, "simulate", "--events", path)
    assert code == 2
    line = one_error_line(err)
    assert line.startswith(f"error: rec.yaml{says if says.startswith(',') else ': ' + says}")


def test_qualification_vpc_uses_a_log_time_axis_only_over_a_decade():
    """The qualify report's VPC drew every panel on a log time axis: a trial whose rows span 72-80 h (or all sit at
    336 h) had its minor ticks labelled '7.2 x 10^1 7.4 x 10^1 ...' over each other, and rows without a time (the
    label's adverse events) sat at a made-up 0.5 h."""
    import matplotlib

    matplotlib.use("Agg")
    import ketasim.calibration as cal

    assert cal._vpc_time_scale([72, 74, 80]) == "linear"
    assert cal._vpc_time_scale([336, 336]) == "linear"
    assert cal._vpc_time_scale([2, 24, 200]) == "log"
    assert cal._vpc_time_scale([None, 0]) == "linear"

    def row(trial, t, unit="points"):
        return {"trial": trial, "time_h": t, "predicted": 1.0, "lo": 0.0, "hi": 2.0, "observed": 1.5, "inside": True,
                "unit": unit}

    rows = [row("untimed", None), row("untimed", None, "percentage points"), row("one_time", 336.0),
            row("one_time", 336.0), row("mixed", None), row("mixed", 24.0), row("mixed", 672.0)]
    assert cal._vpc_png(rows, "test")          # every kind of panel draws


def test_sbml_template_of_a_simulated_patient_uses_the_runs_own_patients():
    """docs/model-definition.md prepared the SBML template's values from `sample_patients(..., seed)`, whose patient i
    is not patient i of `simulate(scenario, seed=seed)` (each arm has its own stream): a user exporting an outlier of
    their CSV got another patient. The page says to take `result.runs[k].patients`, which reproduces the run."""
    import numpy as np

    import ketasim
    from ketasim.engine import run_arm
    from ketasim.population import sample_patients

    sc = ketasim.load_scenario(REPO / "examples" / "design_example.yaml")
    p = ketasim.load_parameters()
    times = np.array([0.0, 0.5, 24.0])
    result = ketasim.simulate(sc, p, n=5, seed=7, output_times_h=times)
    assert not np.array_equal(sample_patients(sc.population, p, 7, n=5).weight_kg, result.runs[0].patients.weight_kg)
    again = run_arm(sc.arms[0], sc.population, result.runs[0].patients, times, params=p).out
    assert np.allclose(again, result.runs[0].out)
    text = (REPO / "docs" / "model-definition.md").read_text(encoding="utf-8")
    assert "`pats = result.runs[k].patients`" in text


def test_params_lists_the_calibrated_ones_and_another_set(capsys):
    """`ketasim params @free` (sensitivity's name for the calibrated parameters) said "no parameter name contains
    '@free'; names start with ae., ddi., ..." (the calibrated ones have no prefix); `PK.ketamine` found nothing; and
    `params` alone of the commands had no --parameters to list a set written by `ketasim calibrate`."""
    import ketasim

    p = ketasim.load_parameters()
    code, out, _ = run_cli(capsys, "params", "@free")
    assert code == 0
    assert [ln.split()[0] for ln in out.splitlines()[1:]] == list(p.free)
    code, out, _ = run_cli(capsys, "params", "PK.KETAMINE.v_venous")
    assert code == 0 and out.splitlines()[1].startswith("pk.ketamine.v_venous ")
    code, out, _ = run_cli(capsys, "params", "emax_drug", "--parameters",
                           REPO / "src" / "ketasim" / "data" / "free_parameters.json")
    assert code == 0 and out.splitlines()[1].startswith("emax_drug ")
    code, _, err = run_cli(capsys, "params", "qqqq")
    assert code == 2 and one_error_line(err).endswith("and the calibrated ones have no prefix (`ketasim params @free` "
                                                      "lists them)")


def test_plan_report_parameter_table_has_the_sampled_median():
    """The plan report's parameter table showed the MAP and the sampled 5 % / 95 % but not the sampled median, which
    the note on a skewed posterior names (eta_placebo: MAP 0.76, median 0.20)."""
    from ketasim.plan_report import parameter_frame

    p = {"name": "eta_placebo", "estimate": 0.76, "median": 0.2, "interval90": [-1.6, 0.9], "prior_mean": 0.0,
         "prior_sd": 1.0, "shrinkage": 0.02, "informed": True}
    frame = parameter_frame({"fit": {"parameters": [p]}})
    assert list(frame.columns[:5]) == ["parameter", "MAP", "median (sampled)", "5 % (sampled)", "95 % (sampled)"]
    assert frame["median (sampled)"].iloc[0] == 0.2


def test_pk_of_an_infusion_says_when_no_sample_falls_at_its_end(capsys):
    """`simulate --drug ketamine --route iv --dose 0.5mg/kg --pk`: the default schedule sampled at 30 and 45 min, so a
    40-min infusion's Cmax read 155 ng/mL at 0.5 h against a peak of 176 at its end, without a word. (Since the
    fortieth session the default schedule adds the infusion's end: tests/test_new_user_pass_s40_h4.py; times given
    without it still get the note.)"""
    argv = ["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--pk"]
    code, out, _ = run_cli(capsys, *argv, "--pk-times", "5 min,10 min,30 min,45 min,1 h,2 h,4 h,8 h,24 h")
    assert code == 0
    assert ("note: no sample at the end of the infusion (racemic-ketamine: 40 min), where the level peaks: Cmax and "
            "Tmax are the schedule's; add the end to --pk-times (e.g. '40 min') or use --pk-exact") in out
    code, out, _ = run_cli(capsys, *argv, "--pk-times", "10 min,40 min,1 h,2 h,4 h,8 h,24 h")
    assert code == 0 and "note: no sample at the end" not in out
    code, out, _ = run_cli(capsys, "simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg", "--pk")
    assert code == 0 and "note: no sample at the end" not in out


def test_experiment_switches_may_be_separated_by_commas(capsys):
    """`--experiment ampa_block=1,mtor_block=1` (lists elsewhere on the command line are comma-separated) said
    "--experiment ampa_block: '1,mtor_block=1' is not a number"."""
    code, out, _ = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg",
                           "--experiment", "ampa_block=1,mtor_block=1")
    assert code == 0
    assert "virtual experiment: ampa_block=1, mtor_block=1" in out


def test_comedications_may_be_separated_by_commas(capsys, tmp_path):
    """`--comedication 'clarithromycin, itraconazole'` was refused as one unknown comedication."""
    import json

    out = tmp_path / "c.csv"
    code, _, _ = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg",
                         "--comedication", "clarithromycin, itraconazole", "--csv", out)
    assert code == 0
    prov = json.loads((tmp_path / "c.csv.provenance.json").read_text())
    assert prov["definition"]["population"]["comedications"] == ["clarithromycin", "itraconazole"]


def test_one_patient_page_command_and_script_simulate_the_same_patient():
    """docs/howto/one-patient.md's command simulated MADRS 33 at the start (the default) and its Python script 32:
    a reader comparing the two saw different scores for "the same" patient."""
    import re

    page = (REPO / "docs" / "howto" / "one-patient.md").read_text(encoding="utf-8")
    script = (REPO / "docs" / "tutorials" / "one_patient.py").read_text(encoding="utf-8")
    command = re.search(r"ketasim simulate .*?```", page, re.S).group(0)
    assert re.search(r"--baseline (\d+)", command).group(1) == re.search(r"baseline=(\d+)", script).group(1)
    assert re.search(r"--weight (\d+)", command).group(1) == re.search(r"weight_kg=(\d+)", script).group(1)
