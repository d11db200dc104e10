"""Regression tests of the thirty-fourth session's review findings (H3) on the plan and the streamed run."""

import json

#: three daily 0.5 mg/kg IV infusions, a rating at 72 h, one more session planned at 160 h
DENSE_PAST = """ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX
7,0,0,,,,,,32,madrs,80,45,M
7,0.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,
7,24.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,
7,48.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,
7,72,0,,,,,,20,madrs,,,
7,160,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,
"""


def test_candidates_are_held_to_the_week_rule_the_recorded_plan_is_held_to():
    """After three daily infusions the twice-weekly candidates started 84 h after the last one, so the week from
    the first past session held 4 sessions: the recorded plan's one session was flagged sessions_per_week=2 while
    the candidates breaking it the same way were offered as 'within every limit'. Now every candidate passes
    schedule_breaks, its first session delayed until the 7-day windows allow it."""
    from ketasim.personal import Limits, candidate_regimens, schedule_breaks
    from ketasim.record import record_from_csv_text

    rec = record_from_csv_text(DENSE_PAST)
    lim = Limits()
    assert schedule_breaks(rec, rec.planned_doses, lim) == {"sessions_per_week": 4.0}
    cands = [c for c in candidate_regimens(rec, lim, 672.0) if c["doses"]]
    assert cands and all(schedule_breaks(rec, c["doses"], lim) == {} for c in cands)
    twice = next(c for c in cands if c["label"] == "racemic-ketamine iv-infusion 0.5 mg/kg, twice weekly")
    # the earliest start within the rule: the 7-day window from the 24.5-h session holds 24.5, 48.5 and the first
    # new one unless that comes at or after 24.5 + 168 - WEEK_SLACK_H
    assert 180.5 <= twice["times"][0] <= 192.5 + 1e-9
    # without a dense past the candidates keep their rhythm: one interval after the last dose
    lines = DENSE_PAST.splitlines()
    sparse = record_from_csv_text("\n".join(ln for ln in lines if not ln.startswith(("7,24.5,", "7,48.5,"))) + "\n")
    assert [d.at_h for d in sparse.past_doses] == [0.5]
    first = next(c for c in candidate_regimens(sparse, lim, 672.0)
                 if c["label"] == "racemic-ketamine iv-infusion 0.5 mg/kg, twice weekly")
    assert first["times"][0] == 84.5


def test_the_week_rule_has_slack_for_clinic_times():
    """Monday 10:00, Thursday 09:00 and the next Monday 09:30 (167.5 h) are twice a week, not three sessions in 7
    days; three sessions within 6 days are still three."""
    from ketasim.personal import Limits, schedule_breaks
    from ketasim.record import record_from_csv_text

    def rec(times):
        return record_from_csv_text("ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
                                    "1,0,0,,,,,,30,madrs,70,40,F\n"
                                    + "".join(f"1,{t},1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,\n"
                                              for t in times))

    clinic = rec([1, 1 + 71, 1 + 167.5])
    assert schedule_breaks(clinic, clinic.planned_doses, Limits()) == {}
    dense = rec([1, 1 + 71, 1 + 144])
    assert schedule_breaks(dense, dense.planned_doses, Limits())["sessions_per_week"] == 3.0


def test_sessions_count_a_nasal_sessions_devices_once():
    """The recorded plan's 'sessions' counted dose rows (6 for two sessions of three 28-mg devices) while the limit
    check grouped them into 2 sessions of 84 mg."""
    from ketasim.personal import Limits, count_sessions, schedule_breaks
    from ketasim.record import record_from_csv_text

    rec = record_from_csv_text("ID,TIME,EVID,AMT,AMTU,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n1,0,0,,,,,30,madrs,70,40,F\n"
                               + "".join(f"1,{t},1,28,mg,esketamine,intranasal,,,,,\n"
                                         for t in (1, 1 + 1 / 12, 1 + 2 / 12, 85, 85 + 1 / 12, 85 + 2 / 12)))
    adm = [a for d in rec.planned_doses for a in d.administrations()]
    assert len(adm) == 6 and count_sessions(adm) == 2
    assert count_sessions([]) == 0
    # the gap counts from the session's first start, as the limit check groups them: 0, 1.5 and 3 h are two
    import pytest

    from ketasim.errors import RecordWarning

    with pytest.warns(RecordWarning, match="a ketamine session 3 h after the one at 1 h"):     # s36: hours apart
        chain = record_from_csv_text("ID,TIME,EVID,AMT,AMTU,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n1,0,0,,,,,30,madrs,70,40,F\n"
                                     + "".join(f"1,{t},1,28,mg,esketamine,intranasal,,,,,\n" for t in (1, 2.5, 4)))
    assert count_sessions([a for d in chain.planned_doses for a in d.administrations()]) == 2
    assert schedule_breaks(chain, chain.planned_doses, Limits(esketamine_mg_session=28))["esketamine_mg_session"] == 56


def test_limits_accept_the_packages_names_and_numpy_numbers_and_refuse_a_search_of_nothing():
    import numpy as np
    import pytest

    from ketasim.errors import InputError
    from ketasim.personal import Limits, searched_dose_options
    from ketasim.regimen import Drug, Route

    lim = Limits(drugs=(Drug.ESKETAMINE,), routes=Route.INTRANASAL, sessions_per_week=np.int64(2),
                 quantile_without_reading=np.float32(0.75))
    assert lim.drugs == ("esketamine",) and lim.routes == ("intranasal",)
    assert type(lim.sessions_per_week) is float and lim.quantile_without_reading == 0.75
    json.dumps(lim.describe())          # plain numbers in the plan JSON
    assert list(searched_dose_options(lim)) == [("esketamine", "intranasal")]
    with pytest.raises(InputError, match="no dose option for drugs=arketamine"):
        searched_dose_options(Limits(drugs=("arketamine",)))
    with pytest.raises(InputError, match="no dose option for drugs=esketamine with routes=iv-infusion"):
        searched_dose_options(Limits(drugs=("esketamine",), routes=("iv-infusion",)))


def test_a_plan_search_of_no_product_is_one_line_before_the_fit(tmp_path, capsys):
    from ketasim.cli import main

    assert main(["plan", "examples/patient/patient_101.csv", "--limits", "drugs=arketamine"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--limits drugs/routes" in err[0] and "arketamine" in err[0]


def test_quantile_names_have_their_ordinal():
    from ketasim.plan_report import quantile_name

    assert [quantile_name(q) for q in (0.5, 0.9, 0.51, 0.01, 0.22, 0.03, 0.11, 0.75)] == [
        "median", "90th percentile", "51st percentile", "1st percentile", "22nd percentile", "3rd percentile",
        "11th percentile", "75th percentile"]


def test_the_monitored_columns_live_below_the_reporting_layer():
    """scale (used by trial and nca) imported summary (reporting) for the streamed run's peaks."""
    from ketasim import scale, summary

    assert tuple(col for _, col, _ in summary.MONITORED) == scale.MONITORED_COLUMNS
    assert "summary" not in scale.simulate_streamed.__code__.co_names


from test_new_user_pass_s34 import AD_RECORD as _AD_STARTED  # noqa: E402 (shared record)

#: esketamine 56 mg with CADSS and SBP readings, an oral antidepressant started at 25 h, two more sessions planned
AD_RECORD = _AD_STARTED + "4,84.5,1,56,mg,,esketamine,intranasal,,,,,\n4,168.5,1,56,mg,,esketamine,intranasal,,,,,\n"


def test_an_alternative_keeps_the_planned_antidepressant_unless_it_states_one(tmp_path, capsys):
    """`plan --alternative` of exactly the recorded esketamine sessions forecast them without the record's planned
    antidepressant start (every candidate keeps it): the same ketamine, a worse forecast in the same output."""
    from ketasim.cli import main

    rec, alt, js = tmp_path / "ad.csv", tmp_path / "alt.yaml", tmp_path / "plan.json"
    rec.write_text(AD_RECORD, encoding="utf-8")
    alt.write_text("- {drug: esketamine, route: intranasal, dose: 56 mg, at: 84.5 h, every: 84 h, count: 2}\n",
                   encoding="utf-8")
    args = ["plan", str(rec), "--target", "score<=15", "--alternative", str(alt)]
    assert main(args + ["--json", str(js)]) == 0
    out = capsys.readouterr().out
    res = json.loads(js.read_text())
    assert [d["at"] for d in res["alternative"]["background"]] == ["25 h"]
    assert "the record's planned oral-antidepressant start is kept" in out
    med = {e["time_h"]: e["median"] for e in res["forecast"] if e["variable"] == "score"}
    alt_med = {e["time_h"]: e["median"] for e in res["alternative"]["forecast"] if e["variable"] == "score"}
    assert alt_med == med                   # the recorded regimen, stated again
    # an alternative that states its own antidepressant line replaces the planned start
    alt.write_text(alt.read_text() + "- {drug: oral-antidepressant, route: oral, at: 100 h}\n",
                   encoding="utf-8")
    assert main(args + ["--json", str(js)]) == 0
    res = json.loads(js.read_text())
    assert res["alternative"]["background"] == []
    assert [d["at"] for d in res["alternative"]["regimen"] if d["drug"] == "oral-antidepressant"] == ["100 h"]


def test_a_seed_at_the_top_of_the_range_runs_the_plan():
    """`plan --seed 9223372036854775807` passed the up-front check, then failed inside ('got
    9,223,372,036,854,775,809': the plan's derived seed + 2); derived seeds wrap into the range."""
    from ketasim.limits import MAX_SEED
    from ketasim.personal import _sub_seed

    assert _sub_seed(5, 2) == 7 and _sub_seed(MAX_SEED, 2) == 1 and 0 <= _sub_seed(MAX_SEED, 400 + 9) <= MAX_SEED


def test_a_plan_at_the_top_seed_runs(tmp_path):
    from ketasim.cli import main

    js = tmp_path / "plan.json"
    assert main(["plan", "examples/patient/patient_101.csv", "--seed", str(2**63 - 1), "--json", str(js)]) == 0
    assert json.loads(js.read_text())["plans"]


def test_an_option_given_another_option_as_its_value_names_it(capsys):
    """`simulate x.yaml --dask --size 10`: --dask took '--size' as its value and the message was 'Got unexpected
    extra argument(s) (10)', naming nothing."""
    from ketasim.cli import main

    assert main(["simulate", "examples/design_example.yaml", "--dask", "--size", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --dask: the value is missing ('--size' is an option; write --dask VALUE; see 'ketasim "
                   "simulate --help')"]


def test_two_ages_in_the_quick_form_point_to_the_age_range(capsys):
    """`--age 30 40` made '40' the SCENARIO and said 'use either a SCENARIO file or the quick form'."""
    from ketasim.cli import main

    assert main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg", "--age", "30",
                 "40"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --age: one age in years (got 30 and '40'); for a range of ages write --age-range '30-40'"]


def test_an_option_right_after_the_command_given_another_option_as_its_value_names_it(capsys):
    from ketasim.cli import main

    assert main(["simulate", "--csv", "--size", "10", "examples/design_example.yaml"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --csv: the value is missing ('--size' is an option; write --csv VALUE; see 'ketasim simulate --help')"]
