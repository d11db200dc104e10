"""Session 51 new-user pass, helper HN (the new self-report scales, the withdrawal hazard ratio and its observed rows,
--worker-timeout, a parallel PK ratio's n_versus, run as a psychiatric researcher would)."""

from __future__ import annotations

from _support import run_cli

_RECORD = """ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX
1,0,0,,,,,,{base},{scale},80,40,F
1,0.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,
1,24.5,0,,,,,,{after},{scale},,,
"""


def test_simulate_events_does_not_point_a_pcl5_record_at_plan(tmp_path, capsys):
    # `simulate --events` said "its 2 observed values are not fitted (`ketasim plan R.csv` fits them and forecasts
    # this patient)" of a PCL-5 / PHQ-9 / GAD-7 record, which `plan` refuses ("... has none with a published source")
    for scale, base, after, fits in (("PCL-5", 55, 30, False), ("iesr", 40, 20, False), ("madrs", 30, 15, True)):
        rec = tmp_path / f"rec_{scale}.csv"
        rec.write_text(_RECORD.format(scale=scale, base=base, after=after))
        code, out, err = run_cli(capsys, "simulate", "--events", rec)
        assert code == 0, err
        line = next(ln for ln in out.splitlines() if ln.startswith("patient 1:"))
        if fits:
            assert f"`ketasim plan {rec}` fits them" in line, line
        else:
            assert "`ketasim plan` cannot fit them" in line and "no published baseline" in line, line
            assert "fits them and forecasts" not in line, line


def test_simulation_report_of_a_phq9_record_does_not_say_plan_fits_it():
    from ketasim.report import _provenance_table

    prov = {"typical_patient": True}
    html = _provenance_table(prov, record_source="r.csv", record_scale="iesr")   # phq9 (s52), hads_d (s53) have one
    assert "`ketasim plan` cannot fit them: IES-R has no published baseline" in html
    html = _provenance_table(prov, record_source="r.csv", record_scale="madrs")
    assert "`ketasim plan` fits them" in html


def test_an_observed_relapse_row_of_a_trial_without_a_follow_up_says_so():
    # it said "time_to_relapse is not among scenario X's endpoints.measures (...); add it there to compare it", and
    # the scenario with it added was refused ("time_to_relapse needs a randomized-withdrawal design ...")
    import pytest

    from ketasim.errors import InputError
    from ketasim.observed import read_observed
    from ketasim.scenario import scenario_from_dict

    arms = {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                          "duration": "40 min"}],
            "midazolam": [{"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg", "duration": "40 min"}]}
    sc = scenario_from_dict({"name": "s51-hn-ptsd", "population": {"size": 10, "scale": "PCL-5",
                                                                   "baseline": {"mean": 50, "sd": 10}},
                             "arms": arms, "endpoints": {"times": ["24 h"], "measures": ["mean"]}})
    for m in ("time_to_relapse", "relapse_rate"):
        with pytest.raises(InputError) as e:
            read_observed([{"arm": "ketamine", "timepoint_h": "", "measure": m, "value": "50", "n": "30"}], sc)
        msg = str(e.value)
        assert "column measure" in msg and "follows no patients for relapse" in msg and "add it there" not in msg
        assert "\n" not in msg
    # a follow-up without the measure listed still says to add it
    sc = scenario_from_dict({"name": "s51-hn-fu", "population": {"size": 10}, "arms": arms,
                             "design": {"follow_up_from": "7 d", "follow_up_until": "28 d"},
                             "endpoints": {"times": ["24 h"], "measures": ["mean", "relapse_rate"]}})
    with pytest.raises(InputError, match="add it there to compare it"):
        read_observed([{"arm": "ketamine", "timepoint_h": "", "measure": "time_to_relapse", "value": "50",
                        "n": "30", "ci_low": "20", "ci_high": "90"}], sc)


def test_a_misspelt_not_reached_names_the_words_that_are_read():
    # 'not reachd' in a time_to_relapse row said only "'not reachd' is not a number"
    import pytest

    from ketasim.errors import InputError
    from ketasim.observed import read_observed
    from ketasim.scenario import scenario_from_dict

    arms = {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                          "duration": "40 min", "at": "0 d", "every": "3.5 d", "count": 4}],
            "placebo": [{"drug": "placebo", "route": "iv-infusion", "at": "0 d", "every": "3.5 d", "count": 4}]}
    sc = scenario_from_dict({"name": "s51-hn-fu", "population": {"size": 10}, "arms": arms,
                             "design": {"follow_up_from": "14 d", "follow_up_until": "42 d"},
                             "endpoints": {"times": ["24 h"], "measures": ["mean", "time_to_relapse"]}})
    row = {"arm": "ketamine", "timepoint_h": "", "measure": "time_to_relapse", "value": "not reachd", "n": "30"}
    with pytest.raises(InputError, match=r"column value: 'not reachd' is not a number; a median not reached is "
                                         r"'not reached' \(or NR\)$"):
        read_observed([row], sc)
    row.update(value="20", ci_low="10", ci_high="not reachd")
    with pytest.raises(InputError, match=r"column ci_high: 'not reachd' is not a number; a bound beyond the "
                                         r"follow-up is 'not reached'$"):
        read_observed([row], sc)
    row.update(ci_high="not reached")
    assert read_observed([row], sc)["ci_high"].iloc[0] == float("inf")


def test_the_withdrawal_howto_names_the_hazard_ratio_and_the_observed_rows():
    # docs/howto/withdrawal.md listed the rows a withdrawal reports (fraction randomized, relapse rate, median time to
    # relapse, log-rank test) without the relapse_hazard_ratio comparison or a way to compare a published trial's
    from pathlib import Path

    text = " ".join((Path(__file__).parents[1] / "docs" / "howto" / "withdrawal.md").read_text().split())
    assert "the Cox hazard ratio of relapse (`relapse_hazard_ratio`, continue vs withdraw" in text
    # since the fifty-second session (HB) one observed file holds both strata (column stratum)
    assert "with `--observed` ({doc}`observed-trial`)" in text and "`stratum` column, so one file compares both" in text
    assert "the relapse-rate difference and hazard ratio), add `--uncertainty N`" in text


def test_the_summary_says_what_the_days_are():
    # "MAE 17.7 percentage points over 2 rate row(s); 66.00 days; hazard ratios: ..." did not say what 66 days was
    from ketasim.observed import format_summary

    s = {"rows": 3, "inside": 3, "share_inside": 1.0, "score_rows": 0, "mae_points": None, "score_by_scale": {},
         "rate_rows": 2, "mae_percentage_points": 17.7, "mae_other": {"days": 66.0, "mmHg": 3.0}}
    line = format_summary(s)
    assert line.startswith("MAE 17.7 percentage points over 2 rate row(s); 66.0 days over the median times to "
                           "relapse; 3.00 mmHg; 3 of 3 inside"), line


def test_an_observed_scale_column_refuses_pcl_and_hads_as_the_scenario_does():
    # the scenario, quick form and record say what 'pcl' / 'hads' mean; the observed file's scale column said only
    # "unknown scale 'pcl'"
    import pytest

    from ketasim.errors import InputError
    from ketasim.observed import read_observed
    from ketasim.scenario import scenario_from_dict

    arms = {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                          "duration": "40 min"}]}
    for scale, base, bad, says in (("PCL-5", 50, "pcl", "the PCL-5 (20 items, 0-80) is pcl5"),
                                   ("HADS-A", 12, "HADS", "the HADS has two subscales")):
        sc = scenario_from_dict({"name": "s51-hn", "population": {"size": 10, "scale": scale,
                                                                  "baseline": {"mean": base, "sd": 3}},
                                 "arms": arms, "endpoints": {"times": ["24 h"], "measures": ["mean_change"]}})
        row = {"arm": "ketamine", "timepoint_h": "24", "measure": "mean_change", "value": "-5", "n": "30",
               "scale": bad}
        with pytest.raises(InputError) as e:
            read_observed([row], sc)
        msg = str(e.value)
        assert f"column scale: unknown scale '{bad}': " in msg and says in msg and "\n" not in msg, msg
        row["scale"] = f"{scale} (self-report)"
        assert len(read_observed([row], sc)) == 1
