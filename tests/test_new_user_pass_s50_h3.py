"""Session 50 new-user pass, helper H3 (the qualification's categories run as a user would: IV, intranasal,
suicidal ideation, older patients, anxiety, PTSD, withdrawal, PK with interactions, `qualify --external`)."""

from __future__ import annotations


def _summary(**over) -> dict:
    s = {"rows": 2, "inside": 2, "share_inside": 1.0, "score_rows": 0, "mae_points": None, "score_by_scale": {},
         "rate_rows": 0, "mae_percentage_points": None, "mae_other": {}}
    s.update(over)
    return s


def test_a_summary_of_rate_rows_only_says_the_number_is_a_mean_absolute_error():
    # a withdrawal's observed file (relapse rates only) printed "6.1 percentage points over 2 rate row(s); 2 of 2
    # inside ...": the "MAE" that heads a file with score rows was missing, so the number was unexplained
    from ketasim.observed import format_summary

    line = format_summary(_summary(rate_rows=2, mae_percentage_points=6.1))
    assert line.startswith("MAE 6.1 percentage points over 2 rate row(s); 2 of 2 inside"), line
    line = format_summary(_summary(mae_other={"CADSS points": 2.05}))
    assert line.startswith("MAE 2.05 CADSS points; "), line
    # with score rows first it reads as before, with one "MAE"
    line = format_summary(_summary(score_rows=2, mae_points=2.13, rate_rows=3, mae_percentage_points=23.5))
    assert line.startswith("MAE 2.13 points over 2 score row(s); 23.5 percentage points over 3 rate row(s); 2 of 2")
    assert line.count("MAE") == 1
    assert format_summary(_summary(rows=0, inside=0, share_inside=None)) == "0 of 0 inside their 95% interval (-)"


def test_covariates_accepts_the_analyte_names_a_scenario_accepts():
    # `ketasim covariates --analyte esketamine` (or S_ketamine) was refused ("unknown analyte 'esketamine'") although
    # a scenario's endpoints.analytes reads both as s-ketamine; the same name given twice is analysed once
    import pytest

    from ketasim.covariates import run_covariates
    from ketasim.errors import InputError
    from ketasim.scenario import scenario_from_dict

    sc = scenario_from_dict({"name": "s50-h3-cov", "population": {"size": 4},
                             "arms": {"esk": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}]}})
    res = run_covariates(sc, n=4, contrasts=["sex=female:male"], endpoints=["cmax"], analytes=["esketamine", "S_ketamine"])
    pk = res.table()
    assert set(pk["analyte"].dropna()) == {"s-ketamine"}
    assert len(pk) == 1
    with pytest.raises(InputError, match=r"unknown analyte 'S-norketamine' \(the model has one norketamine, S and R "
                                         r"together; after esketamine all of it is S-norketamine: use norketamine\)"):
        run_covariates(sc, n=4, contrasts=["sex=female:male"], endpoints=["cmax"], analytes=["S-norketamine"])


def test_an_enantiomer_of_a_metabolite_is_pointed_at_the_models_one_pool():
    import pytest

    from ketasim.errors import InputError
    from ketasim.nca import analyte_name

    assert analyte_name("Esketamine") == "s-ketamine" and analyte_name("hydroxynorketamine") == "hnk"
    for name, use in (("S-norketamine", "use norketamine"), ("noresketamine", "use norketamine"),
                      ("(2R,6R)-HNK", "use hnk"), ("2R,6R-hydroxynorketamine", "use hnk")):
        with pytest.raises(InputError, match=rf"^endpoints\.analytes: unknown analyte .*{use}\); use s-ketamine"):
            analyte_name(name, "endpoints.analytes")
    with pytest.raises(InputError, match=r"'dehydronorketamine' \(dehydronorketamine is not modelled\); use"):
        analyte_name("dehydronorketamine")
    with pytest.raises(InputError, match=r"^analytes: unknown analyte 'caffeine'; use s-ketamine"):
        analyte_name("caffeine")


def test_a_pre_dose_sample_at_0_is_refused_saying_it_is_taken_anyway():
    # a study's schedule starts with its pre-dose sample: '--pk-times "0 min,5 min,1 h"' said only "sampling times are
    # after the dose (> 0)"
    import pytest

    from ketasim.errors import InputError
    from ketasim.nca import sampling_from_mapping

    with pytest.raises(InputError, match=r"^endpoints\.pk_sampling\.times: the pre-dose sample \(0\) is added to every "
                                         r"schedule; list only the times after the dose \(> 0\)$"):
        sampling_from_mapping(["0 min", "5 min", "1 h"])
    with pytest.raises(InputError, match=r"^endpoints\.pk_sampling\.times: sampling times are after the dose \(> 0\)$"):
        sampling_from_mapping(["-5 min", "5 min", "1 h"])
    assert sampling_from_mapping(["5 min", "1 h"]).times_h[0] > 0


def test_a_pk_only_trial_refuses_patients_csv_instead_of_writing_phantom_ratings(capsys, tmp_path):
    # a PK study (healthy volunteers, only cmax/auc measures) wrote each volunteer's rated MADRS at the last sampling
    # time, marked endpoint = 1, though the trial's table has no rating at all
    from _support import REPO, one_error_line, run_cli

    out = tmp_path / "ratings.csv"
    code, stdout, err = run_cli(capsys, "trial", REPO / "examples" / "pk" / "ddi_iv_racemic_rifampicin.yaml",
                                "--size", "3", "--no-progress", "--patients-csv", out)
    assert code == 2 and stdout == ""
    assert one_error_line(err).startswith("error: --patients-csv: this trial reports only PK endpoints "
                                          "(endpoints.measures: cmax, tmax, auc_0_inf, t_half), so it has no "
                                          "ratings to write; each patient's NCA values: TrialResult.pk")
    assert not out.exists()


def _withdrawal_scenario(criterion: str = "response"):
    from ketasim.scenario import scenario_from_dict

    line = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}
    return scenario_from_dict({
        "name": "s50-h3-rw", "population": {"size": 20},
        "design": {"type": "randomized_withdrawal", "induction_until": "4 week", "criterion": criterion,
                   "continue": "esk", "withdraw": "pbo"},
        "arms": {"esk": [{**line, "every": "3.5 d", "count": 16}],
                 "pbo": [{**line, "every": "3.5 d", "count": 8},
                         {"drug": "placebo", "route": "intranasal", "at": "4 week", "every": "3.5 d", "count": 8}]},
        "endpoints": {"times": ["4 week", "8 week"], "measures": ["relapse_rate", "time_to_relapse"]}})


def test_a_withdrawals_other_published_figures_say_what_can_be_compared():
    # a published median time to relapse or share randomized was refused as "not a measure that can be compared;
    # scenario ...'s: relapse_rate (others once in its endpoints.measures: ...)", as if adding it there would help
    import pytest

    from ketasim.errors import InputError
    from ketasim.observed import read_observed

    sc = _withdrawal_scenario()
    row = {"arm": "esk", "timepoint_h": "", "measure": "time_to_relapse", "value": "120", "n": "40"}
    # since s51 (HB) a published median time to relapse is compared (tests/test_withdrawal_hr_s51_hb.py)
    assert read_observed([row], sc)["measure"].tolist() == ["time_to_relapse"]
    # since s52 (HB) the share randomized is compared too (tests/test_stratified_observed_s52_hb.py)
    got = read_observed([{**row, "measure": "randomized_fraction", "timepoint_h": "672", "value": "40", "n": "60"}], sc)
    assert got["measure"].tolist() == ["randomized_fraction"] and got["time_h"].tolist() == [672.0]
    assert read_observed([{**row, "measure": "relapse_rate", "value": "30"}], sc)["measure"].tolist() == ["relapse_rate"]


def test_a_stratified_withdrawal_row_must_name_its_stratum():
    # refused until s52 ("give each stratum a scenario of its own"); since then a row names its stratum
    import pytest

    from ketasim.errors import InputError
    from ketasim.observed import read_observed

    sc = _withdrawal_scenario("stratified")
    row = {"arm": "esk", "timepoint_h": "", "measure": "relapse_rate", "value": "30", "n": "40"}
    with pytest.raises(InputError, match=r"column stratum: empty: scenario s50-h3-rw randomizes 2 strata analysed "
                                         r"apart \(stable remitters; stable responders without remission\); name the "
                                         r"row's stratum \(add a column stratum\)$"):
        read_observed([row], sc)


def test_a_diagnosis_written_as_a_condition_is_pointed_at_the_models_condition(capsys):
    # 'GAD', 'social anxiety disorder', 'MDD', 'TRD' were refused with the four conditions only: nothing said that
    # social anxiety disorder is the model's anxiety, or where treatment resistance goes
    import pytest

    from _support import one_error_line, run_cli
    from ketasim import Patient
    from ketasim.errors import InputError
    from ketasim.scenario import scenario_from_dict

    line = {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "duration": "40 min"}
    with pytest.raises(InputError, match=r"^population\.condition: unknown condition 'social_anxiety_disorder' "
                                         r"\(write anxiety: the model's one anxiety condition, GAD and social anxiety "
                                         r"disorder alike\); use one of depression, anxiety, ptsd, suicidal_ideation$"):
        scenario_from_dict({"name": "s50-h3", "population": {"condition": "Social anxiety disorder"},
                            "arms": {"a": [line]}})
    with pytest.raises(InputError, match=r"^patient\.condition: unknown condition 'mdd' \(write depression\); use"):
        Patient(condition="MDD")
    code, _, err = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg",
                           "--condition", "TRD")
    assert code == 2
    assert one_error_line(err) == ("error: --condition: unknown condition 'trd' (write depression: treatment "
                                   "resistance is population.treatment_resistant, true by default for depression); "
                                   "use one of "
                                   "depression, anxiety, ptsd, suicidal_ideation")
    code, _, err = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg",
                           "--condition", "flu")
    assert one_error_line(err) == ("error: --condition: unknown condition 'flu'; use one of depression, anxiety, "
                                   "ptsd, suicidal_ideation")
