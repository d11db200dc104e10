"""Forty-first session, H4: the found-not-fixed items of the fortieth session's new-user pass (/work/coord/s40/H1_log.md):
API errors naming CLI options, the order of a command's printed lines, the dashboard's trial of an old patient."""

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


# ---- the summary first, then 'wrote FILE', then the notice (as trial) --------------------------------------------------
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
