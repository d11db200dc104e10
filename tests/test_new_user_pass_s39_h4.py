"""Thirty-ninth session, H4: the found-not-fixed items of the thirty-eighth session's new-user pass
(/work/coord/s38/H1_log.md)."""

from __future__ import annotations

import pytest

from _support import one_error_line, run_cli

STATED = """name: one-patient
patient: {weight_kg: 70, age_years: 40, sex: male, baseline: 32}
arms:
  ket:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min}
"""


@pytest.fixture
def stated(tmp_path):
    path = tmp_path / "patient.yaml"
    path.write_text(STATED)
    return path


def test_sensitivity_refuses_size_for_a_stated_patient_as_simulate_does(capsys, stated):
    """`ketasim sensitivity PATIENT.yaml --size 5` ran 5 patients drawn around the stated one without a word (and by
    default 200), where `simulate` refuses --size for a stated patient."""
    code, _, err = run_cli(capsys, "sensitivity", stated, "--endpoint", "mean_change@24h", "--size", "5")
    assert code != 0
    line = one_error_line(err)
    assert line.startswith("error: --size: ") and "states one patient (patient:)" in line and "population:" in line
    code, _, err_sim = run_cli(capsys, "simulate", stated, "--size", "5")
    assert code != 0 and one_error_line(err_sim) == line           # the same sentence as simulate's


def test_sensitivity_of_a_stated_patient_is_that_typical_patient(stated):
    import warnings

    from ketasim.engine import simulate
    from ketasim.errors import InputError
    from ketasim.scenario import load_scenario
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario(stated)
    with pytest.raises(InputError, match=r"^n_patients: scenario 'one-patient' states one patient"):
        run_sensitivity(sc, endpoint="mean@24h", patterns=("pd.nmda.hill",), samples=2, n_patients=5)
    res = run_sensitivity(sc, endpoint="mean@24h", patterns=("pd.nmda.hill",), samples=2)
    assert res.to_dict()["n_patients"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traj = simulate(sc, output_times_h=[0.0, 24.0]).trajectories()
    score = float(traj.loc[traj["time_h"] == 24.0, "score"].iloc[0])
    assert res.nominal == pytest.approx(score, rel=1e-9)             # simulate's patient, not a population around it
    rate = run_sensitivity(sc, endpoint="response_rate@24h", patterns=("pd.nmda.hill",), samples=2)
    assert 0 < rate.nominal < 100 and rate.unit == "% probability for the stated patient"


def test_withdrawal_tables_label_the_baseline_row_baseline(tmp_path):
    """The withdrawal and stratified tables labelled the entry rating's row '0 min' ('mean 0 min 33.64'). Text
    only: the JSON's row keeps time_h 0 (DESIGN.md's trial JSON contract)."""
    import re
    import warnings

    from ketasim.report import trial_report
    from ketasim.scenario import load_scenario
    from ketasim.trial import run_trial

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = run_trial(load_scenario("examples/sustain1_like_withdrawal.yaml"), n=80)
    assert any(r.get("time_h") == 0.0 and r["measure"] == "mean" for r in tr.endpoints)      # the JSON's row
    text = tr.format_table()
    rows = [ln for ln in text.splitlines() if ln.strip().startswith("mean ")]
    assert rows and any(re.match(r"^\s*mean\s+baseline\s+\d", ln) for ln in rows), text
    assert not re.search(r"\b0 min\b", text), text
    page = trial_report(tr, tmp_path / "r.html").read_text()
    assert ">baseline<" in page and ">0 min<" not in page


def test_a_dose_on_a_placebo_warns_that_it_is_ignored_like_the_antidepressants():
    """`{drug: placebo, route: intranasal, dose: 56 mg}` ran silently (any amount, 5000 mg too) while an oral
    antidepressant's ignored dose warned. '0 mg' and no dose stay silent."""
    import warnings

    from ketasim.errors import DoseWarning
    from ketasim.regimen import Dose

    for dose in ("56 mg", "0.5 mg/kg", "5000 mg"):
        with pytest.warns(DoseWarning, match=r"^arms\.p\[0\]\.dose: a placebo has no drug amount .*"
                                             + repr(dose) + r" is ignored \(leave dose out\)$"):
            Dose.from_mapping({"drug": "placebo", "route": "intranasal", "dose": dose}, "arms.p[0]")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Dose.from_mapping({"drug": "placebo", "route": "intranasal"}, "arms.p[0]")
        Dose.from_mapping({"drug": "placebo", "route": "iv-infusion", "dose": "0 mg", "duration": "40 min"},
                          "arms.p[0]")


def test_quick_form_placebo_dose_warns_naming_the_option(capsys, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")        # as a user runs it: warnings shown, not errors
        code, _, err = run_cli(capsys, "simulate", "--drug", "placebo", "--route", "intranasal", "--dose", "56mg",
                               "--csv", tmp_path / "a.csv")
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("warning: --dose: a placebo has no drug amount"), err


def test_one_pk_sampling_time_is_refused_in_one_line(capsys, tmp_path):
    """`ketasim simulate ... --pk --pk-times 1w` printed an NCA of one sample (Cmax at 168 h, AUC a triangle from the
    pre-dose zero)."""
    from ketasim.errors import InputError
    from ketasim.scenario import scenario_from_dict

    code, _, err = run_cli(capsys, "simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg",
                           "--pk", "--pk-times", "1w")
    assert code != 0
    assert one_error_line(err).startswith("error: --pk-times: an NCA needs at least 2 sampling times after the dose, "
                                          "got one (7 d)")
    with pytest.raises(InputError, match=r"^endpoints\.pk_sampling\.times: an NCA needs at least 2"):
        scenario_from_dict({"name": "s", "population": {"size": 2},
                            "arms": {"a": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}]},
                            "endpoints": {"measures": ["cmax"], "pk_sampling": ["24 h"]}})
    code, out, _ = run_cli(capsys, "simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg",
                           "--pk", "--pk-times", "1 h,1w", "--csv", tmp_path / "a.csv")
    assert code == 0 and "Cmax" in out                                     # two samples: analysed


def test_progress_time_left_is_the_pace_after_the_first_report(capsys, monkeypatch):
    """`ketasim sensitivity` said '~45.5 s left' at 5 % and was done 0.3 s later: the rate was taken from the start,
    which holds the set-up and the first evaluation's one-time costs. Fake clock: 2 s of set-up and first task,
    then 0.01 s per 5 % of the work."""
    import re

    import ketasim.distributed as D

    now = [100.0]
    monkeypatch.setattr(D.time, "perf_counter", lambda: now[0])
    p = D.TextProgress("sensitivity")
    now[0] += 2.0
    p(0.05)
    first = capsys.readouterr().err
    assert "2 s elapsed" in first and "estimating the time left" in first and "~" not in first
    for k in range(2, 11):                  # 0.01 s per 5 %; the throttle lets a line through every 2 s
        now[0] += 0.01 if k < 10 else 2.5
        p(0.05 * k)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    # pace since the first report: (0.08 + 2.5) s for 45 % of the work, 50 % left: ~2.9 s (from the start: ~4.6 s)
    left = float(re.search(r"~([\d.]+) s left", line).group(1))
    assert left == pytest.approx(2.58 / 0.45 * 0.5, abs=0.1), line
    p(1.0)
    assert "100.0% done" in capsys.readouterr().err
