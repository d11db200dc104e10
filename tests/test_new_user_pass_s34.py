"""Regression tests of the thirty-fourth session's new-user pass (H1): one per fixed finding."""

import json

import pytest

#: a record planning daily 0.5 mg/kg IV infusions for a week after a rating at 24 h (no SBP or CADSS reading)
DAILY_RECORD = "\n".join(
    ["ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX", "7,0,0,,,,,,32,madrs,80,45,M",
     "7,0.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,", "7,24,0,,,,,,20,madrs,,,"]
    + [f"7,{24 * k + 0.5},1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,," for k in range(1, 8)]
    + ["7,336,0,,,,,,,madrs,,,"]) + "\n"


def test_schedule_breaks_counts_sessions_doses_and_weeks():
    """The dose and schedule limits of a recorded plan, counted like the candidates' (which are built within them)."""
    from ketasim.personal import Limits, schedule_breaks
    from ketasim.record import read_record, record_from_csv_text

    rec = record_from_csv_text(DAILY_RECORD)
    assert schedule_breaks(rec, rec.planned_doses, Limits()) == {"ketamine_mg_per_kg_week": 3.5,
                                                                  "sessions_per_week": 7.0}
    # 7 sessions a week at 0.5 mg/kg: within a stated 7 a week and 3.5 mg/kg a week, outside routes=intranasal
    assert schedule_breaks(rec, rec.planned_doses, Limits(sessions_per_week=7, ketamine_mg_per_kg_week=3.5,
                                                          routes=("intranasal",))) == {"routes": ["iv-infusion"]}
    # the shipped example plans twice weekly then weekly at 0.5 mg/kg: within every default limit
    ex = read_record("examples/patient/patient_101.csv")
    assert ex.planned_doses and schedule_breaks(ex, ex.planned_doses, Limits()) == {}
    # a session's dose; nasal devices 5 min apart are one session (3 x 28 mg = 84 mg: within 84 mg a session)
    nasal = record_from_csv_text("ID,TIME,EVID,AMT,AMTU,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n1,0,0,,,,,30,madrs,70,40,F\n"
                                 + "".join(f"1,{t},1,28,mg,esketamine,intranasal,,,,,\n"
                                           for t in (1, 1 + 1 / 12, 1 + 2 / 12, 85, 85 + 1 / 12, 85 + 2 / 12)))
    assert schedule_breaks(nasal, nasal.planned_doses, Limits()) == {}
    assert schedule_breaks(nasal, nasal.planned_doses, Limits(esketamine_mg_session=56, sessions_per_week=1)) == \
        {"esketamine_mg_session": 84.0, "sessions_per_week": 2.0}


def test_a_recorded_plan_that_breaks_the_limits_says_which(tmp_path, capsys):
    """`ketasim plan RECORD` where the record plans daily infusions printed "recorded plan: p=..." with no note that
    it breaks sessions_per_week=2 (the candidates are built within the limits; the recorded plan was never checked).
    The text, the JSON (recorded_plan.breaks_limits, safe) and the plan table now say which limits it breaks."""
    from ketasim.cli import main
    from ketasim.plan_report import plan_table

    rec, js = tmp_path / "daily.csv", tmp_path / "plan.json"
    rec.write_text(DAILY_RECORD, encoding="utf-8")
    assert main(["plan", str(rec), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    res = json.loads(js.read_text())
    r = res["recorded_plan"]
    assert r["breaks_limits"]["sessions_per_week"] == 7 and r["breaks_limits"]["ketamine_mg_per_kg_week"] == 3.5
    assert r["safe"] is False
    cadss_over = r["safety"]["cadss_margin"] < 0
    assert ("cadss" in r["breaks_limits"]) == cadss_over
    line = next(ln for ln in out.splitlines() if ln.startswith("  the recorded plan is outside the limits: "))
    assert "ketamine_mg_per_kg_week=2 (3.5 mg/kg in 7 days), sessions_per_week=2 (7 sessions in 7 days)" in line
    # the search's counts are of its candidates: the recorded plan was counted among them ('6 of 27 candidate
    # regimens' for 26)
    from ketasim.personal import Limits, candidate_regimens
    from ketasim.record import record_from_csv_text

    n = len(candidate_regimens(record_from_csv_text(DAILY_RECORD), Limits(), 672.0))
    assert res["search"]["candidates_evaluated"] == n
    table = plan_table(res)
    assert "sessions_per_week=2 (7 sessions in 7 days)" in table.iloc[-1]["outside the limits"]
    assert all(v == "–" for v in table.iloc[:-1]["outside the limits"])
    from ketasim.plan_report import breaks_text

    assert breaks_text({"routes": ["iv-infusion"], "cadss": 41.6}, {"routes": ["intranasal"], "cadss": 30.0},
                       {"cadss": 0.5}) == "routes=intranasal (uses iv-infusion), cadss=30 (median 42)"


#: an oral racemic-ketamine record with plasma levels and two ratings, no SBP or CADSS reading
from test_new_user_pass_s33 import ORAL_RECORD  # noqa: E402 (shared record)


def test_safety_limits_are_judged_at_the_90th_percentile_only_with_a_reading():
    from ketasim.personal import Limits, parse_limits, safety_quantiles
    from ketasim.errors import InputError
    from ketasim.record import read_record, record_from_csv_text

    assert safety_quantiles(read_record("examples/patient/patient_101.csv"), Limits()) == \
        {"sbp_rise_mmhg": 0.9, "cadss": 0.9}
    oral = record_from_csv_text(ORAL_RECORD)
    assert safety_quantiles(oral, Limits()) == {"sbp_rise_mmhg": 0.75, "cadss": 0.75}
    assert safety_quantiles(oral, parse_limits("quantile_without_reading=0.5")) == {"sbp_rise_mmhg": 0.5,
                                                                                     "cadss": 0.5}
    with_cadss = record_from_csv_text(ORAL_RECORD.replace("9,4.0,0,,,,,,9,cp_ketamine_ng_ml,,,",
                                                          "9,4.0,0,,,,,,4,cadss,,,"))
    assert safety_quantiles(with_cadss, Limits()) == {"sbp_rise_mmhg": 0.75, "cadss": 0.9}
    for bad in ("quantile_without_reading=1", "quantile_without_reading=1.5"):
        with pytest.raises(InputError, match="^limits quantile_without_reading: a quantile between 0 and 1"):
            parse_limits(bad)


def test_a_record_without_a_cadss_reading_is_offered_regimens_judged_at_the_75th_percentile(tmp_path, capsys):
    """`ketasim plan` on a record without a CADSS reading (s33 items 8b, 20): the CADSS limit (30 at the 90th
    percentile) was judged on the population's spread, whose 90th percentile every labelled regimen exceeds, so the
    default plan offered only "no further sessions" (or esketamine 56 mg at margin +0). Without a reading the limit
    is now judged at the 75th percentile (quantile_without_reading=0.75; the median, H1's first choice, excluded
    nothing within the dose limits: review), and the text says so, shows each plan's 90th percentile and how to hold
    the plan to it."""
    from ketasim.cli import main

    rec, js = tmp_path / "oral.csv", tmp_path / "plan.json"
    rec.write_text(ORAL_RECORD, encoding="utf-8")
    assert main(["plan", str(rec), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    res = json.loads(js.read_text())
    given = [p for p in res["plans"] if p["sessions"]]
    assert given, out
    for p in given:
        s = p["safety"]
        assert s["judged_at"] == {"sbp_rise_mmhg": 0.75, "cadss": 0.75}
        assert s["cadss_peak_judged"] <= 30 < s["cadss_peak_p90"] or s["cadss_peak_p90"] <= 30
        assert s["cadss_margin"] == pytest.approx(30 - s["cadss_peak_judged"], abs=0.011)
        assert s["cadss_peak_judged"] <= s["cadss_peak_p90"]
        assert f"CADSS margin {s['cadss_margin']:+.0f} (75th percentile; p90 peak {s['cadss_peak_p90']:.0f})" in out
    # the population's 90th percentile excludes at least one of the regimens now offered
    assert any(p["safety"]["cadss_peak_p90"] > 30 for p in given)
    assert ("note: the record has no SBP or CADSS reading during a session (the patient's response is the "
            "population's spread): "
            "sbp_rise_mmhg and cadss are judged at the 75th percentile of a session's peak") in out
    assert "--limits quantile_without_reading=0.9 judges them at the population's 90th percentile" in out
    assert "quantile_without_reading=0.75" in next(ln for ln in out.splitlines() if ln.startswith("limits: "))


def test_a_record_with_readings_keeps_the_90th_percentile(tmp_path):
    from ketasim.personal import personal_plan

    res = personal_plan("examples/patient/patient_101.csv", n_samples=200)
    for p in res["plans"] + [res["recorded_plan"]]:
        s = p["safety"]
        assert s["judged_at"] == {"sbp_rise_mmhg": 0.9, "cadss": 0.9}
        assert s["cadss_peak_judged"] == s["cadss_peak_p90"] and s["sbp_rise_judged_mmhg"] == s["sbp_rise_p90_mmhg"]


def test_python_simulate_with_n_on_a_stated_patient_is_refused(tmp_path):
    """`simulate(sc, n=100)` on a scenario with `patient:` returned the one stated patient without a word (the CLI's
    `--size 100` is refused since s33); simulate_streamed ran it with random effects (simulate gives the typical
    ones). Both are now one InputError; n=1 and no n still run the stated patient."""
    from ketasim import load_scenario, simulate
    from ketasim.errors import InputError
    from ketasim.scale import simulate_streamed

    p = tmp_path / "one.yaml"
    p.write_text("name: one\npatient: {weight_kg: 70, age_years: 30, sex: male, baseline: 30}\narms:\n  nasal:\n"
                 "    - {drug: esketamine, route: intranasal, dose: 56 mg}\n", encoding="utf-8")
    sc = load_scenario(p)
    with pytest.raises(InputError, match=r"^n: the scenario 'one' states one patient \(patient:\), simulated with "
                                         r"typical random effects; for 100 patients like it write population:"):
        simulate(sc, n=100)
    assert simulate(sc).runs[0].patients.n == 1 and simulate(sc, n=1).runs[0].patients.n == 1
    with pytest.raises(InputError, match=r"^scenario: 'one' states one patient \(patient:\): simulate\(scenario\)"):
        simulate_streamed(sc, csv=tmp_path / "t.csv")
    assert not (tmp_path / "t.csv").exists()


def test_an_unquoted_comedication_in_the_quick_form_names_its_option(capsys):
    """`ketasim simulate --drug esketamine ... --comedication rifampicin for 5 d` (no quotes): 'for' became the
    SCENARIO argument and the line was the framework's 'Got unexpected extra argument(s) (5 d)'. It now names the
    option and shows the quoted form, like `plan --window 1 week:6 week` (s33); a stray number keeps the generic line."""
    from ketasim.cli import main

    quick = ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg"]
    cases = ((quick + ["--comedication", "rifampicin", "for", "5", "d"],
              "error: --comedication: a value with spaces goes in quotes, e.g. --comedication 'rifampicin for 5 d' "
              "(see 'ketasim simulate --help')"),
             (quick + ["--comedication", "rifampicin", "for", "5d"],
              "error: --comedication: a value with spaces goes in quotes, e.g. --comedication 'rifampicin for 5d'"),
             # a file name in the SCENARIO place is a file, not the value's continuation
             (quick + ["--comedication", "clarithromycin", "other.yaml", "5"],
              "error: Got unexpected extra argument(s) (5)"),
             (["simulate", "--size", "30", "x", "5"], "error: Got unexpected extra argument(s) (5)"))
    for argv, says in cases:
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith(says), err


def test_streamed_simulate_prints_the_same_population_lines_and_rows(tmp_path, capsys):
    """`ketasim simulate SCENARIO --chunk N` (also --dask, or a population too big for memory) printed no population
    monitoring lines (CADSS / SBP-rise peaks over patients), which the in-memory path prints; and it wrote its rows on
    the scenario's own output grid (sized to population.size: 92 times for design_example's 2,000) where the
    in-memory run sizes it to --size (1,085 times for 40 patients), so the two files differed. Both now print the
    same lines (the streamed run keeps each patient's peaks, not the trajectories) and write the same rows."""
    from ketasim.cli import main

    def run(*extra, name):
        csv = tmp_path / name
        assert main(["simulate", "examples/design_example.yaml", "--size", "40", "--seed", "3", "--csv", str(csv),
                     *extra]) == 0
        out = capsys.readouterr().out.splitlines()
        k = out.index("population (each patient's highest value at the output times; trials and labels report the "
                      "mean):")
        # up to the 'wrote FILE' lines, which follow the summary (s41) and state the streamed file's rows
        end = next(i for i, ln in enumerate(out) if ln.startswith("wrote "))
        return out[out.index("typical patient (the population's mean covariates and median traits):"):end], k, csv

    mem, k_mem, csv_mem = run(name="mem.csv")
    chunked, k_chunked, csv_chunked = run("--chunk", "15", name="chunked.csv")
    assert mem[:-1] == chunked[:-1] and mem[-1] == chunked[-1]
    monitored = [ln for ln in mem if ln.startswith("  [")]
    # the two ketamine arms x (CADSS, SBP rise); the midazolam arm has no positive peak
    assert len(monitored) == 4 and all("40 patients" in ln for ln in monitored)
    assert csv_mem.read_bytes() == csv_chunked.read_bytes()


#: esketamine 56 mg, CADSS and SBP read, two ratings; an oral antidepressant started at 25 h (after the last rating)
AD_RECORD = """ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX
4,0,0,,,,,,34,madrs,70,40,F
4,0.5,1,56,mg,,esketamine,intranasal,,,,,
4,1.2,0,,,,,,10,cadss,,,
4,1.3,0,,,,,,8,sbp_change_mmhg,,,
4,24,0,,,,,,24,madrs,,,
4,25,1,,,,oral-antidepressant,oral,,,,,
"""


def test_plan_candidates_keep_the_planned_antidepressant(tmp_path, capsys):
    """A record whose oral antidepressant starts after the last rating (esketamine's label: with a newly started
    antidepressant): the recorded plan kept it but every candidate was simulated without it (p of the best plan 0.15
    with, 0.27 without, for a target of MADRS <= 15), and the recorded plan counted the start as a session ('3
    sessions, 113 mg'). The candidates now keep it: a recorded plan equal to a candidate's sessions gets that
    candidate's numbers exactly (same samples); sessions and mg count ketamine sessions."""
    from ketasim.cli import main

    sessions = "".join(f"4,{84.5 + 84 * k:g},1,56,mg,,esketamine,intranasal,,,,,\n" for k in range(8))
    rec, js = tmp_path / "ad.csv", tmp_path / "plan.json"
    rec.write_text(AD_RECORD + sessions, encoding="utf-8")
    assert main(["plan", str(rec), "--target", "score<=15", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    res = json.loads(js.read_text())
    r = res["recorded_plan"]
    assert (r["sessions"], r["total_dose_mg"]) == (8, 448.0)
    same = next(p for p in res["plans"] if p["label"] == "esketamine intranasal 56 mg, twice weekly")
    assert same["regimen"] == [ln for ln in r["regimen"] if ln["drug"] == "esketamine"]
    assert same["p_target"] == r["p_target"] and same["predicted"] == r["predicted"]
    assert [d["at"] for d in res["search"]["background"]] == ["25 h"]
    assert "  every candidate keeps the record's planned oral-antidepressant start (at 25 h), as the recorded plan does" \
        in out.splitlines()


def test_between_arm_rows_keep_one_column_for_the_numbers(capsys):
    """`ketasim trial examples/pk/ddi_intranasal_esketamine.yaml`: 'clarithromycin vs alone: cmax_ratio ...' and
    'clarithromycin-stopped-2d vs alone: cmax_ratio ...' put the ratios of one table 11 characters apart."""
    import re

    from ketasim.cli import main

    assert main(["trial", "examples/pk/ddi_intranasal_esketamine.yaml"]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if " vs alone: " in ln]
    assert len({ln.split(": ", 1)[0] for ln in rows}) == 4
    assert len({re.search(r"\d\.\d{3}  90% CI", ln).start() for ln in rows}) == 1
    assert len({ln.index("_ratio") - len(ln.split("_ratio")[0].split()[-1]) for ln in rows}) == 1


def test_the_summary_gives_the_score_at_the_end_of_a_long_run(capsys):
    """README: `ketasim simulate --drug esketamine --route intranasal --dose 56mg --every 7d --count 52 --size 200
    --no-recurrence` ('a year of maintenance'): the score line stopped at 28 d. It now ends with the run's last
    time; a run of 28 days keeps its line."""
    import re

    from ketasim.cli import main

    quick = ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56mg"]
    assert main(quick + ["--every", "7d", "--count", "52", "--no-recurrence"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  MADRS from "))
    m = re.search(r", 28\.0 d [\d.]+, end \((\d+\.\d) d\) ([\d.]+)$", line)
    assert m and float(m.group(1)) > 364, line
    assert main(quick) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  MADRS from "))
    assert re.search(r", 28\.0 d [\d.]+$", line), line


def test_limits_from_python_are_checked_when_built():
    """`personal_plan(rec, limits=Limits(cadss="30"))` failed deep in the search with "'<=' not supported between
    instances of 'float' and 'str'"; Limits(drugs="esketamine") (a string) was matched by substring. Each field is
    now checked when the object is built, naming it; names are normalised as --limits does."""
    from ketasim.errors import InputError
    from ketasim.personal import Limits

    for kw, says in ((dict(cadss="30"), "limits cadss: must be a positive number, got '30'"),
                     (dict(sessions_per_week=0), "limits sessions_per_week: must be a positive number, got 0"),
                     (dict(routes=()), "limits routes: a list of names"),
                     (dict(routes=("nose",)), "limits routes: unknown route 'nose'")):
        with pytest.raises(InputError) as e:
            Limits(**kw)
        assert str(e.value).startswith(says), e.value
    assert Limits(drugs="esketamine").drugs == ("esketamine",)
    assert Limits(drugs=["ketamine"], routes=["iv"]) == Limits(drugs=("racemic-ketamine",), routes=("iv-infusion",))


def test_streamed_simulate_prints_the_titration_shares(capsys):
    """`ketasim simulate examples/transform2_flexible.yaml --size 100 --chunk 30` printed no 'final dose
    (titration)' line, which the in-memory run prints: the streamed run keeps each patient's final level now."""
    from ketasim.cli import main

    texts = []
    for extra in ((), ("--chunk", "25")):
        assert main(["simulate", "examples/transform2_flexible.yaml", "--size", "60", *extra]) == 0
        out = capsys.readouterr().out.splitlines()
        texts.append(out[out.index("typical patient (the population's mean covariates and median traits):"):])
    assert texts[0] == texts[1]
    assert any(ln.startswith("esketamine-flexible+AD: final dose (titration) 56 mg ") and ln.endswith(
        " of 60 patient(s)") for ln in texts[1])


def test_an_alternative_outside_the_limits_says_so():
    """`ketasim plan RECORD --alternative ALT.yaml` forecast any regimen without a word about the limits (like the
    recorded plan, item 1): 84 mg esketamine daily x5 is now 'outside the limits: esketamine_mg_week=168 (420 mg in
    7 days), sessions_per_week=2 (5 sessions in 7 days)'."""
    from ketasim.display import json_safe
    from ketasim.personal import personal_plan
    from ketasim.plan_report import text_summary

    alt = [{"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "at": "340 h", "every": "24 h", "count": 5}]
    res = json_safe(personal_plan("examples/patient/patient_101.csv", alternative=alt, n_samples=100))
    assert res["alternative"]["breaks_limits"] == {"esketamine_mg_week": 420.0, "sessions_per_week": 5.0}
    assert ("  the alternative is outside the limits: esketamine_mg_week=168 (420 mg in 7 days), sessions_per_week=2 "
            "(5 sessions in 7 days)") in text_summary(res).splitlines()
    ok = json_safe(personal_plan("examples/patient/patient_101.csv", alternative=[{**alt[0], "every": "84 h"}],
                                 n_samples=100))
    assert ok["alternative"]["breaks_limits"] == {}
    assert "the alternative is outside" not in text_summary(ok)


def test_only_a_reading_during_a_session_informs_a_safety_limit():
    """A CADSS of 0 before the first dose (or days after a session) says nothing of the patient's peak: only a
    reading within a session's monitoring window (monitoring.window_h, 6 h) judges the limit on the patient."""
    from ketasim.personal import Limits, safety_quantiles, safety_readings
    from ketasim.record import record_from_csv_text

    base = ORAL_RECORD.replace("9,0,0,,,,,,30,madrs,70,50,F", "9,0,0,,,,,,30,madrs,70,50,F\n9,0,0,,,,,,0,cadss,,,")
    assert safety_readings(record_from_csv_text(base)) == {"sbp_rise_mmhg": False, "cadss": False}
    late = ORAL_RECORD.replace("9,24,0,,,,,,25,madrs,,,", "9,24,0,,,,,,25,madrs,,,\n9,24,0,,,,,,0,cadss,,,")
    assert safety_quantiles(record_from_csv_text(late), Limits()) == {"sbp_rise_mmhg": 0.75, "cadss": 0.75}
    during = ORAL_RECORD.replace("9,4.0,0,,,,,,9,cp_ketamine_ng_ml,,,", "9,4.0,0,,,,,,2,cadss,,,")
    assert safety_readings(record_from_csv_text(during)) == {"sbp_rise_mmhg": False, "cadss": True}
    # a pre-dose reading at the dose's own time
    at_dose = ORAL_RECORD.replace("9,0.1,1,", "9,0.1,0,,,,,,1,cadss,,,\n9,0.1,1,")
    assert safety_readings(record_from_csv_text(at_dose))["cadss"] is False


def test_plan_page_says_how_the_safety_limits_are_judged_without_a_reading(tmp_path):
    """The dashboard's plan page showed the limits but not that, without an SBP or CADSS reading during a session,
    they are judged at quantile_without_reading (the text output's note); its limits line now says so."""
    pytest.importorskip("starlette")
    from test_personal_browser import planned_page

    with planned_page(ORAL_RECORD) as page:
        text = page.inner_text("#target-text")
        assert ("No SBP or CADSS reading during a session in the record: sbp_rise_mmhg and cadss judged at "
                "quantile 0.75 of a session's peak") in text, text
        assert "at the 75th percentile" in page.inner_text("#plans-table")


def test_simulate_streamed_checks_its_arguments(tmp_path):
    """`ketasim.scale.simulate_streamed(sc, n=-5)` 'ran' -15 patients, n='10' was a TypeError, chunk=0 silently the
    default, seed=-1 a bare ValueError: each is now one InputError naming the argument, as simulate()'s."""
    from ketasim import load_scenario
    from ketasim.errors import InputError
    from ketasim.scale import simulate_streamed

    sc = load_scenario("examples/design_example.yaml")
    for kw, says in ((dict(n=-5), "n: must lie in 1-"), (dict(n="10"), "n: expected a whole number"),
                     (dict(n=10, chunk=0), "chunk: must lie in 1-"), (dict(n=10, seed=-1), "seed: must lie in 0-"),
                     (dict(n=10, keep=-1), "keep: must lie in 0-"), (dict(n=10, on_failure="skip"), "on_failure: ")):
        with pytest.raises(InputError) as e:
            simulate_streamed(sc, csv=tmp_path / "t.csv", **kw)
        assert str(e.value).startswith(says), e.value
    assert not (tmp_path / "t.csv").exists()
    assert simulate_streamed(sc, n=4, chunk=3).patients == 12


def test_personal_plan_checks_its_arguments():
    """`personal_plan(rec, n_samples=0)` was an IndexError, n_samples='50' a TypeError, seed=-1 a bare ValueError
    (after the fit), top=0 returned no plans without a word: each is one InputError naming the argument, before
    the fit."""
    from ketasim.errors import InputError
    from ketasim.personal import fit_patient, personal_plan

    for kw, says in ((dict(n_samples=0), "n_samples: must lie in 20-"), (dict(n_samples="50"), "n_samples: expected"),
                     (dict(seed=-1), "seed: must lie in 0-"), (dict(top=0), "top: must lie in 1-")):
        with pytest.raises(InputError) as e:
            personal_plan("examples/patient/patient_101.csv", **kw)
        assert str(e.value).startswith(says), e.value
    with pytest.raises(InputError, match="^n_proposals: must lie in 20-"):
        fit_patient("examples/patient/patient_101.csv", n_proposals=5)


def test_forecast_checks_its_arguments():
    """`forecast(fit, times_h='a')` and `forecast(fit, seed=-1)` were bare ValueErrors; each names its argument."""
    from ketasim.errors import InputError
    from ketasim.personal import fit_patient, forecast

    fit = fit_patient("examples/patient/patient_101.csv", n_samples=50)
    for kw, says in ((dict(times_h="a"), "times_h: expected a list of times in hours"),
                     (dict(times_h=[-5]), "times_h: times must lie in 0-"), (dict(seed=-1), "seed: must lie in 0-")):
        with pytest.raises(InputError) as e:
            forecast(fit, **kw)
        assert str(e.value).startswith(says), e.value
    f = forecast(fit, times_h=504)
    assert [e["time_h"] for e in f.entries()] == [504.0]
