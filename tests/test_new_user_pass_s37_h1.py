"""New-user pass of the thirty-seventh session (helper H1): one regression test per fix."""

from __future__ import annotations

import numpy as np

WITHDRAWAL = """\
name: withdrawal-check
seed: 31
population: {size: 60, condition: depression, scale: madrs}
design: {type: randomized_withdrawal, induction_until: 14 d, criterion: response, relapse_score: 22,
         continue: continue, withdraw: withdraw}
arms:
  continue:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, every: 3.5 d, count: 4}
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, at: 14 d, every: 7 d, count: 3}
  withdraw:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, every: 3.5 d, count: 4}
    - {drug: placebo, route: iv-infusion, duration: 40 min, at: 14 d, every: 7 d, count: 3}
endpoints:
  times: [14 d, 5 week]
  measures: [mean, response_rate, relapse_rate]
"""


def test_withdrawal_arms_share_every_rating_and_blood_pressure_before_randomization(tmp_path):
    """A randomized withdrawal selected its patients on the continue arm's randomization-visit rating, but each arm
    drew its own rater's noise, fluctuation and pre-dose blood pressure: the same patient had two different ratings
    before randomization, and the withdraw arm's 'responders' were ~65 % responders at the visit that selected them
    (docs/tutorials/withdrawal.yaml, 100 patients; the continue arm 100 %). Now both arms are one group of patients
    until randomization."""
    import ketasim.trial as T
    from ketasim import load_scenario

    path = tmp_path / "wd.yaml"
    path.write_text(WITHDRAWAL, encoding="utf-8")
    seen = {}
    original = T._withdrawal_analysis

    def spy(design, extra, outcomes, *args, **kwargs):
        seen.update(outcomes)
        return original(design, extra, outcomes, *args, **kwargs)

    T._withdrawal_analysis = spy
    try:
        tr = T.run_trial(load_scenario(path))
    finally:
        T._withdrawal_analysis = original
    c, w = seen["continue"], seen["withdraw"]
    pre = c.times_h <= 14 * 24
    assert np.array_equal(c.model_score[:, pre], w.model_score[:, pre])
    assert np.array_equal(c.rating[:, pre], w.rating[:, pre])
    assert np.array_equal(c.sbp0, w.sbp0) and np.array_equal(c.dbp0, w.dbp0)
    t = tr.table()
    at_rand = t[(t.measure == "response_rate") & (t.time_h == 14 * 24)].set_index("arm")["value"]
    assert at_rand["continue"] == 100.0 and at_rand["withdraw"] == 100.0


def test_placebo_trial_howto_does_not_limit_prediction_intervals_to_two_designs():
    """docs/howto/placebo-trial.md said '--uncertainty': 'Parallel and crossover designs only', while every design
    runs it (a randomized withdrawal or a follow-up by whole-design draws: contracts, howto/withdrawal)."""
    from pathlib import Path

    from ketasim.trial import whole_design_draws
    from ketasim import load_scenario

    text = " ".join((Path(__file__).parents[1] / "docs/howto/placebo-trial.md").read_text().split())
    assert "Parallel and crossover designs only" not in text
    assert "Every design" in text and "{doc}`withdrawal`" in text
    assert whole_design_draws(load_scenario(Path(__file__).parents[1] / "docs/tutorials/withdrawal.yaml"))


def test_a_scale_that_cannot_rate_the_stated_condition_is_refused_in_a_scenario_and_a_patient(tmp_path):
    """`population: {condition: depression, scale: caps5}` ran silently as depression (depression's drug effect)
    scored in CAPS-5 points, while the quick form refused `--condition depression --scale caps5`; and a stated
    `patient: {scale: caps5}` simulated depression where `population: {scale: caps5}` simulates PTSD. Now a
    contradiction is one line naming the field, and a patient's scale names its condition as a population's does."""
    import pytest

    from ketasim import Patient, load_scenario
    from ketasim.errors import InputError
    from ketasim.web.api import population_mapping as web_population

    body = ("name: x\n{section}\narms:\n  k: [{{drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, "
            "duration: 40 min}}]\nendpoints: {{times: [24 h]}}\n")
    path = tmp_path / "s.yaml"
    path.write_text(body.format(section="population: {size: 5, condition: depression, scale: caps5}"))
    with pytest.raises(InputError, match=r"^population\.condition: depression contradicts population\.scale caps5"):
        load_scenario(path)
    path.write_text(body.format(section="patient: {weight_kg: 70, scale: caps5, baseline: 45}"))
    assert load_scenario(path).population.condition == "ptsd"
    path.write_text(body.format(section="patient: {weight_kg: 70, condition: depression, scale: CAPS-5, baseline: 45}"))
    with pytest.raises(InputError, match=r"^patient\.condition: depression contradicts patient\.scale caps5"):
        load_scenario(path)
    # still accepted: a depression scale for suicidal ideation, and either field alone
    path.write_text(body.format(section="population: {size: 5, condition: suicidal_ideation, scale: madrs}"))
    assert load_scenario(path).population.scale == "madrs"
    assert Patient(scale="hama").condition == "anxiety" and Patient().condition == "depression"
    assert Patient(condition="ptsd").population_spec().scale == "caps5"
    # the dashboard's patient without a condition reads the scale's (it sent depression for any scale)
    assert "condition" not in web_population({"scale": "caps5", "baseline": 45, "weight_kg": 70, "age_years": 40})


def test_contract_states_the_trial_endpoints_used_without_an_endpoints_section(tmp_path):
    """contracts.md said `endpoints:` was 'needed by `ketasim trial`', but a trial without it runs (exit 0) with
    default times and measures; the page now states them, and they are what the trial reports."""
    from pathlib import Path

    from ketasim import load_scenario
    from ketasim.trial import run_trial

    text = " ".join((Path(__file__).parents[1] / "docs/contracts.md").read_text().split())
    assert "needed by `ketasim trial`" not in text
    assert "without this section: times 2 h, 24 h, 7 d, # 28 d and the four score measures" in text
    path = tmp_path / "s.yaml"
    path.write_text("name: x\npopulation: {size: 10}\narms:\n  k: [{drug: esketamine, route: intranasal, dose: 56 mg}]\n")
    t = run_trial(load_scenario(path)).table()
    assert sorted(set(t.time_h)) == [2.0, 24.0, 168.0, 672.0]
    assert set(t.measure) == {"mean", "mean_change", "response_rate", "remission_rate"}


def test_simulation_report_says_yes_or_no_for_the_typical_patient():
    """The simulation report's provenance table printed Python's 'typical patient only False' / 'True'."""
    from ketasim.report import _provenance_table

    for flag, word in ((False, "no (a virtual population)"), (True, "yes (the population&#x27;s typical patient")):
        table = _provenance_table({"scenario": "x", "typical_patient": flag})
        assert word in table and ">False<" not in table and ">True<" not in table


def test_a_crossover_compares_rates_with_a_paired_interval_and_test(tmp_path):
    """A crossover's rate differences used the independent-samples Newcombe interval and pooled z-test while the
    pages promise paired comparisons (the mean change was paired): the interval was too wide and the p too large for
    the same patients rated twice. Now Newcombe's paired method 10 and an exact McNemar test."""
    from ketasim import load_scenario
    from ketasim.trial import _paired_proportion_difference, _responders, run_trial

    # Newcombe 1998 (Stat Med 17:2635), Table II, 12/9/2/21: method 10 gives 0.0112 to 0.2954
    a, b, c, d = 12, 9, 2, 21
    pa = np.array([1] * (a + b) + [0] * (c + d), bool)
    pb = np.array([1] * a + [0] * b + [1] * c + [0] * d, bool)
    v, ci, p = _paired_proportion_difference(pa, pb)
    assert abs(v - 100 * 7 / 44) < 1e-9 and abs(ci[0] - 1.12) < 0.01 and abs(ci[1] - 29.54) < 0.01
    assert abs(p - 2 * sum(__import__("math").comb(11, k) for k in range(3)) / 2 ** 11) < 1e-12   # exact McNemar

    path = tmp_path / "x.yaml"
    path.write_text("name: x\nseed: 21\npopulation: {size: 80}\ndesign: {type: crossover, control: midazolam}\n"
                    "arms:\n  ketamine: [{drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min}]\n"
                    "  midazolam: [{drug: midazolam, route: iv-infusion, dose: 0.045 mg/kg, duration: 40 min}]\n"
                    "endpoints: {times: [24 h], measures: [response_rate]}\n", encoding="utf-8")
    sc = load_scenario(path)
    tr = run_trial(sc)
    row = next(c for c in tr.comparisons if c["measure"] == "response_rate_difference")
    k, m = tr.outcomes["ketamine"], tr.outcomes["midazolam"]
    j = list(k.times_h).index(24.0)
    ref = _paired_proportion_difference(_responders(k.rating[:, j], k.response_reference, sc.endpoints),
                                        _responders(m.rating[:, j], m.response_reference, sc.endpoints))
    assert row["ci95"] == ref[1] and row["p_value"] == ref[2]


def test_rate_differences_carry_no_float_noise_in_the_json():
    """The crossover how-to's JSON had "value": 29.000000000000004 for a 44 % vs 15 % response-rate difference (100 x
    (0.44 - 0.15)); a difference of whole counts is now one division and prints as 29.0 (independent and paired)."""
    from ketasim.trial import _paired_proportion_difference, _proportion_difference

    pa = np.array([1] * 44 + [0] * 56, bool)
    pb = np.array([1] * 15 + [0] * 85, bool)
    assert repr(_proportion_difference(pa, pb)[0]) == "29.0"
    assert repr(_paired_proportion_difference(pa, pb)[0]) == "29.0"


def test_docs_say_that_rating_decisions_see_the_fluctuation_of_true_severity():
    """contracts.md said titration decisions on ratings do 'not see yet' the fluctuation of true severity, and the
    flexible-dosing how-to described a decision rating as model score + rater noise; decisions have carried the
    fluctuation since it was added (engine.decision_fluctuation_draws; the trial JSON's decided_on says so)."""
    from pathlib import Path

    from ketasim.engine import decision_fluctuation_draws
    from ketasim.parameters import load_parameters
    from ketasim.regimen import arm_from_list, titration_from_mapping
    import dataclasses

    root = Path(__file__).parents[1]
    contracts = " ".join((root / "docs/contracts.md").read_text().split())
    howto = " ".join((root / "docs/howto/flexible-dosing.md").read_text().split())
    assert "do not see yet" not in contracts
    assert "model score + the within-patient fluctuation of true severity" in contracts
    assert "plus the week-to-week fluctuation of the patient's true severity plus normal rater noise" in howto
    arm = arm_from_list("flex", [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d",
                                  "count": 4}])
    arm = dataclasses.replace(arm, titration=titration_from_mapping(
        {"doses": ["56 mg", "84 mg"], "sessions": [2, 3], "increase_if": {"score_reduction_below": 0.5},
         "decide_on": "rating"}, arm.doses, "arms.flex.titration"))
    drawn = decision_fluctuation_draws(arm, 7, 0, 50, load_parameters(), 60.0)
    assert drawn is not None and np.std(drawn.values) > 0


def test_summary_does_not_call_the_last_output_time_of_a_rise_its_peak():
    """docs/howto/ddi.md's command (output until 12 h) printed 'spine density peak x1.01 at 12.0 h': the value was
    still rising when the output ended, so that was no peak. The line now says so; a real peak is unchanged."""
    import pandas as pd

    from ketasim.summary import cascade_summary

    t = np.linspace(0, 12, 25)
    df = pd.DataFrame({"arm": "a", "subject": 0, "time_h": t, "score": 30.0,
                       "cp_ketamine_ng_ml": 100 * t * np.exp(-t), "glutamate": 1.0,
                       "synaptic_proteins": 1 + 0.01 * t})
    out = cascade_summary(df, None, "madrs")
    assert "synaptic proteins              peak        x1.12 at 12.0 h (the end of the output, still rising)" in out
    assert "plasma ketamine                peak     37 ng/mL at 60 min\n" in out


def test_a_pk_only_trial_neither_advises_nor_runs_prediction_intervals(capsys):
    """A PK study's text (examples/pk/ddi_oral_esketamine_clarithromycin.yaml) ended by advising `--uncertainty N`
    for prediction intervals, and with it ran the draws and described intervals that no row had (PK rows get none).
    Now the footer says PK endpoints get none and the option is refused in one line before anything runs."""
    import pytest

    from ketasim import load_scenario
    from ketasim.cli import main
    from ketasim.errors import InputError
    from ketasim.trial import CI_SCOPE, CI_SCOPE_PK, run_trial

    from pathlib import Path

    path = str(Path(__file__).parents[1] / "examples/pk/ddi_oral_esketamine_clarithromycin.yaml")
    with pytest.raises(InputError, match=r"^uncertainty: this trial reports only PK endpoints"):
        run_trial(load_scenario(path), n=4, uncertainty=5)
    assert main(["trial", path, "--size", "6"]) == 0
    out = capsys.readouterr().out
    assert CI_SCOPE_PK in out and CI_SCOPE not in out and "--uncertainty" not in out


def test_trial_json_and_report_say_how_many_patients_were_simulated(tmp_path):
    """`trial examples/transform2_flexible.yaml --size 100 --report` showed the scenario's 'size: 300' beside a
    header of n=100, and the trial JSON had no patients_per_arm (the CHANGELOG of the thirty-fifth session said it
    did; a withdrawal's arm n is the randomized share, so the simulated size was nowhere). Now the JSON has
    patients_per_arm, the report's provenance shows it, and the YAML section says when --size overrode the file."""
    import json
    from pathlib import Path

    from ketasim.cli import main

    src = str(Path(__file__).parents[1] / "docs/tutorials/placebo_trial.yaml")
    js, rep = tmp_path / "t.json", tmp_path / "t.html"
    assert main(["trial", src, "--size", "12", "--json", str(js), "--report", str(rep)]) == 0
    d = json.loads(js.read_text())
    assert d["patients_per_arm"] == 12 and all(a["n"] == 12 for a in d["arms"].values())
    page = rep.read_text()
    assert "patients per arm</td><td class=\"l\">12<" in page
    assert "# run with 12 virtual patients per arm (--size); the file&#x27;s population.size is 200" in page
    assert main(["trial", src, "--size", "200", "--json", str(js), "--report", str(rep)]) == 0
    assert json.loads(js.read_text())["patients_per_arm"] == 200 and "# run with" not in rep.read_text()


def test_simulation_report_says_when_size_or_typical_overrode_the_file(tmp_path):
    """The simulation report's YAML section showed the file's population.size (e.g. 150) after `--size 20` or
    `--typical`; a comment line now says what was run."""
    from ketasim.report import _size_note
    from ketasim import load_scenario
    from pathlib import Path

    sc = load_scenario(Path(__file__).parents[1] / "docs/tutorials/placebo_trial.yaml")      # size 200
    assert _size_note(20, sc) == "# run with 20 virtual patients per arm (--size); the file's population.size is 200\n"
    assert _size_note(1, sc, typical=True).startswith("# run for the typical patient only (--typical or --size 1)")
    assert _size_note(200, sc) == "" and _size_note(None, sc) == ""


def test_two_dose_lines_giving_the_same_drug_at_the_same_time_warn(tmp_path):
    """Esketamine twice weekly (count 8: to 24.5 d) then weekly 'at: 3 week' gave 56 + 84 mg intranasal in one
    session at 21 d without a word (each line alone is valid). Now one DoseWarning names the lines; a loading bolus
    with an infusion (different routes) and lines that do not meet stay silent."""
    import warnings

    import pytest

    from ketasim.errors import DoseWarning
    from ketasim.regimen import arm_from_list

    twice = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d", "count": 8}
    weekly = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "at": "3 week", "every": "1 week",
              "count": 4}
    with pytest.warns(DoseWarning, match=r"^arms\.esk: lines \[0\] and \[1\] both give intranasal esketamine at 21 d: "
                                         r"56 mg \+ 84 mg in one session"):
        arm_from_list("esk", [twice, weekly])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arm_from_list("esk", [twice, {**weekly, "at": "4 week"}])
        arm_from_list("k", [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.2 mg/kg"},
                            {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.3 mg/kg",
                             "duration": "40 min"}])
        arm_from_list("p", [{"drug": "placebo", "route": "intranasal", "every": "3.5 d", "count": 8},
                            {"drug": "placebo", "route": "intranasal", "at": "3 week"}])


def test_a_dose_on_the_oral_antidepressant_warns_that_it_is_not_modelled():
    """`{drug: oral-antidepressant, route: oral, dose: 20 mg}` ran without a word although the amount changes
    nothing (every newly started antidepressant gives the same relief); it now warns naming the field."""
    import warnings

    import pytest

    from ketasim.errors import DoseWarning
    from ketasim.regimen import Dose

    with pytest.warns(DoseWarning, match=r"^arms\.k\[0\]\.dose: an oral antidepressant's dose is not modelled.*'20 mg' "
                                         r"is ignored"):
        Dose.from_mapping({"drug": "oral-antidepressant", "route": "oral", "dose": "20 mg"}, "arms.k[0]")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Dose.from_mapping({"drug": "oral-antidepressant", "route": "oral", "at": "0 d"}, "arms.k[0]")
        # a placebo's dose warns alike since the thirty-ninth session (tests/test_new_user_pass_s39_h4.py)
        Dose.from_mapping({"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}, "arms.k[0]")


def test_comedications_take_their_usual_other_names_and_point_at_a_near_miss():
    """'rifampin' (the US name of rifampicin), "St John's wort" as written and 'grapefruit juice' were refused as
    unknown comedications, and 'clarithromicin' got no hint (drugs and routes have 'did you mean'). A different drug
    is not pointed at a known one (ketoconazole is not itraconazole, which the model gives no effect)."""
    import pytest

    from ketasim.errors import InputError
    from ketasim.population import parse_comedication

    f = "population.comedications"
    assert parse_comedication("rifampin for 5 d stopped 2 d ago", f) == ("rifampicin", 120.0, 48.0)
    assert parse_comedication("St John\u2019s wort for 14 d", f)[0] == "st-johns-wort"
    assert parse_comedication("st. john's wort", f)[0] == "st-johns-wort"
    assert parse_comedication("grapefruit juice", f)[0] == "grapefruit-juice"
    with pytest.raises(InputError, match=r"unknown comedication 'clarithromicin' \(did you mean clarithromycin\?\)"):
        parse_comedication("clarithromicin", f)
    with pytest.raises(InputError) as e:
        parse_comedication("ketoconazole", f)
    assert "did you mean" not in str(e.value)


def test_condition_genotype_and_care_setting_read_as_usually_written(tmp_path):
    """`condition: PTSD`, `genotype: Val/Met` and `care_setting: Inpatient` were refused ('use one of ... ptsd ...',
    'val/met'), although the quick form read `--condition PTSD` and a record's GENOTYPE column 'Val/Met'; they now
    read as ptsd, val/met and inpatient (in a scenario, a stated patient and PopulationSpec)."""
    from ketasim import Patient, load_scenario

    path = tmp_path / "s.yaml"
    path.write_text("name: x\npopulation: {size: 5, condition: PTSD, genotype: Val/Met, care_setting: Inpatient}\n"
                    "arms:\n  k: [{drug: esketamine, route: intranasal, dose: 56 mg}]\n", encoding="utf-8")
    p = load_scenario(path).population
    assert (p.condition, p.scale, p.genotype, p.care_setting) == ("ptsd", "caps5", "val/met", "inpatient")
    path.write_text(path.read_text().replace("condition: PTSD", "condition: Suicidal ideation"))
    assert load_scenario(path).population.condition == "suicidal_ideation"
    spec = Patient(condition="PTSD", genotype="Met/Met").population_spec()
    assert (spec.condition, spec.scale, spec.genotype) == ("ptsd", "caps5", "met/met")


def test_output_times_with_every_or_until_is_refused(tmp_path):
    """`output: {every: 1 h, until: 1 h, times: [2 h]}` wrote the times and dropped every/until without a word."""
    import pytest

    from ketasim import load_scenario
    from ketasim.errors import InputError

    path = tmp_path / "s.yaml"
    head = "name: o\npopulation: {size: 3}\narms:\n  k: [{drug: esketamine, route: intranasal, dose: 56 mg}]\n"
    path.write_text(head + "output: {every: 1 h, until: 1 h, times: [2 h]}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^output: give either times or every/until, not both \(times with every "
                                         r"and until\)$"):
        load_scenario(path)
    path.write_text(head + "output: {times: [2 h, 1 h]}\n", encoding="utf-8")
    assert list(load_scenario(path).output_times_h()) == [1.0, 2.0]


def test_simulation_report_writes_heart_rate_in_beats_per_minute():
    """The simulation report's session table headed the heart-rate column 'HR rise (/min)' where the trial table,
    its JSON unit and the figures say beats/min."""
    from ketasim import quick_scenario, simulate
    from ketasim.report import _session_table

    table = _session_table(simulate(quick_scenario("esketamine", "intranasal", "56 mg"), typical=True), True)
    assert "HR rise (beats/min)" in table.columns and "HR rise (/min)" not in table.columns


def test_a_withdrawal_randomizing_after_the_trial_ends_is_refused_and_an_empty_arm_has_no_rate(tmp_path):
    """`design.induction_until: 60 d` in a trial whose horizon is 28 d ended in a ZeroDivisionError traceback
    (nobody randomized; a response rate of 0 patients). Such a design is refused in one line, and a rate of an arm
    without patients (a valid design in which nobody qualifies) is undefined (null), as its mean was."""
    from types import SimpleNamespace

    import pytest

    from ketasim import load_scenario
    from ketasim.errors import InputError
    from ketasim.scenario import Endpoints
    from ketasim.trial import _score_endpoints, run_trial

    path = tmp_path / "w.yaml"
    path.write_text("name: w\npopulation: {size: 6}\ndesign: {type: randomized_withdrawal, continue: k, withdraw: m, "
                    "induction_until: 60 d}\narms:\n"
                    "  k: [{drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min}]\n"
                    "  m: [{drug: midazolam, route: iv-infusion, dose: 0.045 mg/kg, duration: 40 min}]\n"
                    "endpoints: {times: [24 h]}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^design\.induction_until: randomization at 60 d leaves no weekly follow-up "
                                         r"visit before the trial ends at 28 d \(a trial lasts at least 28 d\)"):
        run_trial(load_scenario(path))
    empty = SimpleNamespace(name="k", times_h=np.array([24.0]), rating=np.zeros((0, 1)), baseline=np.zeros(0),
                            response_reference=np.zeros(0), n=0)
    rows: list = []
    _score_endpoints(empty, Endpoints((24.0,)), "madrs", ["response_rate", "remission_rate"], rows)
    assert [np.isnan(r["value"]) for r in rows] == [True, True]


def test_a_withdrawal_whose_continue_and_withdraw_name_one_arm_is_refused(tmp_path):
    """`design: {continue: k, withdraw: k}` ran: the other arm was ignored and 'k' was compared with itself."""
    import pytest

    from ketasim import load_scenario
    from ketasim.errors import InputError
    from ketasim.trial import run_trial

    path = tmp_path / "w.yaml"
    line = "[{drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, every: 3.5 d, count: 6}]"
    path.write_text(f"name: w\npopulation: {{size: 6}}\ndesign: {{type: randomized_withdrawal, continue: k, "
                    f"withdraw: k, induction_until: 14 d}}\narms:\n  k: {line}\n  m: {line}\n"
                    "endpoints: {times: [24 h, 8 week]}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^design\.withdraw: names the same arm as design\.continue \(k\); the "
                                         r"withdraw arm is the other one \(m\)$"):
        run_trial(load_scenario(path))


def test_a_pk_study_report_does_not_speak_of_ratings_or_rates(tmp_path):
    """The HTML report of a PK-only study (examples/pk) said under its endpoint table 'Ratings include rater noise
    and a week-to-week fluctuation of severity; rates are percentages': it has neither. The note now names only
    what the table holds."""
    from pathlib import Path

    from ketasim.cli import main

    root = Path(__file__).parents[1]
    rep = tmp_path / "r.html"
    assert main(["trial", str(root / "examples/pk/ddi_oral_esketamine_clarithromycin.yaml"), "--size", "6",
                 "--report", str(rep)]) == 0
    page = rep.read_text()
    assert "value [95% interval].</p>" in page and "Ratings include" not in page and "ates are percentages" not in page
    assert main(["trial", str(root / "docs/tutorials/placebo_trial.yaml"), "--size", "6", "--report", str(rep)]) == 0
    assert ("value [95% interval]. Ratings include rater noise and a week-to-week fluctuation of severity. Rates are "
            "percentages.") in rep.read_text()


def test_a_closed_stdout_does_not_stop_the_files_being_written(tmp_path):
    """`ketasim trial X --json out.json | head -1`: once the reader had closed the pipe, the next line of the
    table made the CLI stop with exit status 1 and no message, before the JSON was written (the table is printed
    first). The rest of the text is now dropped, the files are written and the status is 0."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[1]
    js = tmp_path / "t.json"
    r, w = os.pipe()
    os.close(r)                      # the reader is gone before the first line
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "NUMBA_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "ketasim", "trial", str(root / "docs/tutorials/placebo_trial.yaml"),
                           "--size", "4", "--json", str(js)], stdout=w, stderr=subprocess.PIPE, env=env, timeout=300)
    os.close(w)
    assert proc.returncode == 0, proc.stderr.decode()
    assert js.exists() and b"Traceback" not in proc.stderr and b"Exception ignored" not in proc.stderr


def test_side_effect_measures_in_a_withdrawal_are_refused_not_dropped(tmp_path):
    """`measures: [mean, relapse_rate, cadss_peak, nausea_rate]` in a randomized withdrawal printed no CADSS or
    nausea row and said nothing; like PK measures, they are now refused in one line naming them."""
    from pathlib import Path

    import pytest

    from ketasim import load_scenario
    from ketasim.errors import InputError
    from ketasim.trial import run_trial

    text = (Path(__file__).parents[1] / "docs/tutorials/withdrawal.yaml").read_text()
    path = tmp_path / "w.yaml"
    path.write_text(text.replace("measures: [mean, response_rate, relapse_rate, time_to_relapse]",
                                 "measures: [mean, relapse_rate, cadss_peak, nausea_rate]"), encoding="utf-8")
    with pytest.raises(InputError, match=r"^endpoints\.measures: cadss_peak, nausea_rate: side-effect measures are "
                                         r"reported by parallel and crossover trials, not by a randomized withdrawal"):
        run_trial(load_scenario(path), n=4)


def test_trial_text_aligns_a_long_measure_name_with_the_other_rows(tmp_path):
    """'blood_pressure_increased_rate' (29 characters) pushed its row's time and numbers right of every other row's
    in the trial table; the measure column now fits the longest name."""
    from ketasim import load_scenario
    from ketasim.trial import run_trial

    path = tmp_path / "s.yaml"
    path.write_text("name: s\npopulation: {size: 4}\narms:\n  k: [{drug: esketamine, route: intranasal, dose: 56 mg}]\n"
                    "endpoints: {times: [24 h], measures: [mean, cadss_peak, blood_pressure_increased_rate]}\n",
                    encoding="utf-8")
    lines = [ln for ln in run_trial(load_scenario(path)).format_table().splitlines()
             if ln.startswith("  ") and ("MADRS points" in ln or "% of patients" in ln or "CADSS points" in ln)]
    assert len(lines) == 3
    assert len({ln.index("[") for ln in lines}) == 1, lines       # the CIs start in one column


def test_protocol_day_numbers_get_a_hint_and_wk_reads_as_weeks():
    """`at: day 28` (as a protocol writes it) was 'cannot read ... as a number followed by a unit', and `4 wk` an
    unknown unit. 'day N' / 'week N' now say what to write (day 28 is 27 d if day 1 is the first dose's day, 28 d
    if day 0), and 'wk' / 'wks' read as weeks."""
    import pytest

    from ketasim.errors import UnitError
    from ketasim.units import parse_time_h

    with pytest.raises(UnitError, match=r"^arms\.k\[1\]\.at: write the time since the start with its unit after the "
                                        r"number, e\.g\. day 28 is '27 d' if day 1 is the day of the first dose, "
                                        r"'28 d' if that day is day 0"):
        parse_time_h("day 28", "arms.k[1].at")
    with pytest.raises(UnitError, match=r"week 4 runs from '3 week' to '4 week' if week 1 begins with the first dose"):
        parse_time_h("Week 4", "arms.k[1].at")
    assert parse_time_h("4 wk", "f") == parse_time_h("2 wks", "f") * 2 == 672.0
    assert parse_time_h("40 min", "f") == pytest.approx(40 / 60)


def test_a_dose_line_key_from_a_protocol_or_nonmem_points_at_the_key_meant():
    """`dosage:`, `interval:`, `time:`, `repeat:`, `Dose:` or a typo such as `duraton:` in a dose line were 'unknown
    key(s) ...; allowed: ...' with no pointer (population keys get 'did you mean'); they now name the key meant."""
    import pytest

    from ketasim.errors import InvalidRegimenError
    from ketasim.regimen import Dose

    base = {"drug": "esketamine", "route": "intranasal"}
    for extra, meant in (({"dosage": "56 mg"}, "dose"), ({"dose": "56 mg", "interval": "3.5 d"}, "every"),
                         ({"dose": "56 mg", "time": "1 d"}, "at"), ({"dose": "56 mg", "repeat": 8}, "count"),
                         ({"Dose": "56 mg"}, "dose"), ({"dose": "56 mg", "duraton": "40 min"}, "duration")):
        with pytest.raises(InvalidRegimenError, match=rf"unknown key\(s\) \w+ \(did you mean {meant}\?\); allowed"):
            Dose.from_mapping({**base, **extra}, "arms.k[0]")
    with pytest.raises(InvalidRegimenError, match=r"unknown key\(s\) foo; allowed"):
        Dose.from_mapping({**base, "dose": "56 mg", "foo": 1}, "arms.k[0]")
