"""Forty-fifth session, H10b: fixes of the second review's findings (/work/coord/s45/review2.md)."""

from __future__ import annotations

import warnings

import yaml

from _support import RECORD_HEAD, dose_warning_messages, read_record_quietly


_read = read_record_quietly
_dose_warnings = dose_warning_messages


def _heavy(tmp_path):
    """WT 240, 800 mg over 100 min (3.3 mg/kg at 240 kg; 11.4 mg/kg at 70 kg): accepted when read."""
    path = tmp_path / "heavy800.csv"
    path.write_text(RECORD_HEAD + "1,0,0,,,,,,30,madrs,240,41,F\n"
                    "1,0.5,1,800,mg,1.6667,racemic-ketamine,iv-infusion,,,,,\n1,24,0,,,,,,20,madrs,,,\n")
    return path


# ---- S8: a heavy patient's record is judged at its WT by plan, simulate --events and the plan page ---------------
def test_s8_heavy_record_scenario_is_judged_at_its_wt(tmp_path):
    from ketasim.summary import alternative_anesthetic_warnings, record_anesthetic_warnings

    rec = _read(_heavy(tmp_path))
    sc = rec.to_scenario()          # was: arms.record[0].dose ... 11.4 mg/kg at the 70 kg reference weight, refused
    assert sc.dose_weight_kg == 240
    assert sc.arms[0].doses[0].weight_of == "the record's WT"
    assert record_anesthetic_warnings(rec) == []        # the plan page's and `plan`'s call: no refusal
    alt = [rec.doses[0].__class__.from_mapping({"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "100 mg",
                                                "at": "48 h"}, "alternative[0]", weight_kg=240)]
    assert alternative_anesthetic_warnings(rec, alt) == []


def test_s8_simulate_events_heavy_record_runs(tmp_path, capsys):
    from _support import run_cli

    out = tmp_path / "h.csv"
    code, _, err = run_cli(capsys, "simulate", "--events", _heavy(tmp_path), "--csv", out)
    assert code == 0, err
    assert out.exists() and "refused" not in err


# ---- S1/S2: a stated patient's weight survives export; one 80-kg patient judged alike typed or not -------------
def test_s1_dashboard_scenario_yaml_judged_as_the_page(tmp_path):
    from ketasim.scenario import scenario_from_dict
    from ketasim.web import api

    f = api.default_form()
    f["patient"]["weight_kg"] = 240
    f["regimens"][0].update(route="iv-infusion", dose=800, dose_unit="mg", duration_min=100)
    assert api.build(f).warnings == []
    sc, w = _dose_warnings(scenario_from_dict, yaml.safe_load(api.scenario_yaml(f)))   # was refused at 70 kg
    assert w == [] and sc.dose_weight_kg == 240


def test_s1_quick_form_yaml_judged_at_its_weight():
    from ketasim.scenario import quick_scenario, scenario_from_dict, scenario_to_yaml

    sc, w = _dose_warnings(quick_scenario, "ketamine", "iv-bolus", "90 mg", weight_kg=120)
    assert w == []
    back, w2 = _dose_warnings(scenario_from_dict, yaml.safe_load(scenario_to_yaml(sc)))   # warned 'anesthetic'
    assert w2 == [] and back.dose_weight_kg == 120


def test_s1_population_still_judged_at_reference_weight():
    from ketasim.scenario import scenario_from_dict

    arm = [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "90 mg"}]
    for pop in ({"size": 3, "weight_kg": {"mean": 120, "sd": 0}}, {"size": 1, "weight_kg": {"mean": 120, "sd": 10}},
                {"size": 1}):
        sc, w = _dose_warnings(scenario_from_dict, {"name": "x", "population": pop, "arms": {"a": arm}})
        assert sc.dose_weight_kg is None and any("70 kg reference weight" in m for m in w), pop


def test_s2_one_80kg_patient_judged_alike():
    from ketasim.patient import Patient
    from ketasim.scenario import patient_scenario, quick_scenario, scenario_from_dict

    arm = [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "75 mg"}]
    made = [_dose_warnings(patient_scenario, Patient(), arm),
            _dose_warnings(scenario_from_dict, {"name": "x", "patient": {}, "arms": {"a": arm}}),
            _dose_warnings(quick_scenario, "ketamine", "iv-bolus", "75 mg"),
            _dose_warnings(quick_scenario, "ketamine", "iv-bolus", "75 mg", weight_kg=80)]
    assert [sc.dose_weight_kg for sc, _ in made] == [80.0] * 4
    assert [w for _, w in made] == [[]] * 4         # 0.94 mg/kg at 80 kg: not anesthetic (two warned at 70 kg)


# ---- S3: the alternative's own back-to-back pushes warn whatever the record's past ---------------------------------
def _alt_record(tmp_path, name, past_rows, last_obs_h=24):
    path = tmp_path / f"{name}.csv"
    path.write_text(RECORD_HEAD + "1,0,0,,,,,,30,madrs,70,41,F\n" + "".join(
        f"1,{t},1,{amt},mg/kg,,racemic-ketamine,iv-bolus,,,,,\n" for t, amt in past_rows)
        + f"1,{last_obs_h},0,,,,,,20,madrs,,,\n")
    return _read(path)


def _push_alt(rec, times, amt="0.9 mg/kg"):
    from ketasim.personal import _future_doses

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _future_doses(rec, [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": amt, "at": at}
                                   for at in times], "alternative")


def test_s3_alternative_back_to_back_warns_after_an_anesthetic_or_adding_up_past(tmp_path):
    from ketasim.summary import alternative_anesthetic_warnings

    for name, past in (("anes", [(0.5, 1.2)]), ("b2b", [(0.5, 0.9), (0.6, 0.9)]), ("mid", [(0.5, 0.5)])):
        rec = _alt_record(tmp_path, name, past)
        said = alternative_anesthetic_warnings(rec, _push_alt(rec, ("48 h", "48.1 h")))
        # was [] for 'anes' and 'b2b': the past silenced the alternative's own pushes two days later
        assert len(said) == 1 and said[0].startswith(
            "alternative: together the alternative's doses are in the anesthetic range"), (name, said)


def test_s3_alternative_with_a_past_dose_within_reach_names_the_past(tmp_path):
    from ketasim.summary import alternative_anesthetic_warnings

    rec = _alt_record(tmp_path, "near", [(47.9, 0.9)], last_obs_h=47.95)
    alt = _push_alt(rec, ("48 h",))
    said = alternative_anesthetic_warnings(rec, alt)
    assert len(said) == 1 and said[0].startswith(
        "alternative: together the alternative's doses with the record's past ones are in the anesthetic range"), said
    far = _alt_record(tmp_path, "far", [(0.5, 0.9)])
    assert alternative_anesthetic_warnings(far, _push_alt(far, ("48 h",))) == []      # one push, the past far away


# ---- S4: a dropped Ctrl-C is not re-sent into the cleanup of a SIGTERM that propagated -----------------------------
from _support import run_second_signal  # noqa: E402


def test_s4_sigterm_cleanup_is_not_cut_short_by_a_dropped_ctrl_c(tmp_path):
    """Was: 'cleanup CUT SHORT by _Interrupted', exit 130 'interrupted' (the resend counted SIGINTs only)."""
    code, lines, written = run_second_signal(tmp_path, "SIGTERM")
    assert code == 143, lines
    assert lines[0] == "cleanup complete" and not any("CUT SHORT" in ln for ln in lines), lines
    assert lines[-1].startswith("terminated: stopped before completing"), lines
    assert not written


# ---- S6: sensitivity and numerical choices -------------------------------------------------------------------------
def test_s6_not_varied_reads_a_comma_string_as_patterns():
    from ketasim import load_parameters
    from ketasim.sensitivity import not_varied

    params = load_parameters()
    got = not_varied(params, "pd.*")         # was letter by letter: '*' matched monitoring.window_h, ddi.*
    assert got == not_varied(params, ["pd.*"]) and all(name.startswith("pd.") for name, _ in got), got
    assert not_varied(params, "pd.crp.*,pd.ampa.*") == not_varied(params, ["pd.crp.*", "pd.ampa.*"])


def test_s6_a_numerical_choice_is_not_told_to_give_a_value(capsys):
    from pathlib import Path

    from _support import one_error_line, run_cli

    root = Path(__file__).resolve().parents[1]
    code, _, err = run_cli(capsys, "sensitivity", root / "examples" / "design_example.yaml", "--parameters",
                           "pd.ampa.smoothing", "--endpoint", "mean_change@24h", "--size", "5", "--samples", "2",
                           "--no-progress")
    assert code == 2
    assert one_error_line(err) == ("error: --parameters: pd.ampa.smoothing is a numerical choice (not a model "
                                   "assumption): not varied"), err


def test_s6_numerical_choices_noted_only_when_named():
    from pathlib import Path

    from ketasim import load_parameters
    from ketasim.scenario import load_scenario
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario(Path(__file__).resolve().parents[1] / "examples" / "design_example.yaml")

    def noted(patterns):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = run_sensitivity(sc, endpoint="mean_change@24h", patterns=patterns, n_patients=5, samples=2,
                                  params=load_parameters())
        return res.meta.get("not_varied", [])

    zero = "pd.crp.moderation = 0 (as stated)"
    assert noted(["pd.crp.*", "pd.ampa.*"]) == [zero]     # was also 'pd.ampa.smoothing (a numerical choice)'
    assert noted(["pd.crp.*", "pd.ampa.smoothing"]) == [
        zero, "pd.ampa.smoothing (a numerical choice, not a model assumption)"]


# ---- S5: the baseline prior's floor only where a pre-dose rating informs it ----------------------------------------
def _rated(tmp_path, name, rows):
    path = tmp_path / f"{name}.csv"
    path.write_text(RECORD_HEAD + "1,0,0,,,,,,{},madrs,70,41,F\n".format(rows[0])
                    + "1,0.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,\n"
                    + "".join(f"1,{t},0,,,,,,{v},madrs,,,\n" for t, v in rows[1:]))
    return _read(path)


def test_s5_floor_only_with_a_rating_before_the_first_dose(tmp_path):
    import pytest

    from ketasim.personal import BASELINE_PRIOR_SD_FLOOR_RATINGS, PatientModel, fit_patient

    pre = PatientModel(_rated(tmp_path, "pre", ["30", (24, "20")]))
    j = pre.names.index("baseline")
    assert pre.baseline_floored and pre.prior_sd[j] == pytest.approx(BASELINE_PRIOR_SD_FLOOR_RATINGS * pre.rating_sd)
    for name, rows in (("none", ["", (24, "")]), ("after", ["", (24, "20")])):
        pm = PatientModel(_rated(tmp_path, name, rows))
        # was 7.2 (the floor) against the population's ~5: "the population's (prior) forecast" was not
        assert not pm.baseline_floored and pm.prior_sd[j] == pytest.approx(pm.population_baseline_sd), name
        assert pm.prior_sd[j] < BASELINE_PRIOR_SD_FLOOR_RATINGS * pm.rating_sd
    fit = fit_patient(_rated(tmp_path, "none2", ["", (24, "")]), n_samples=2000, seed=1)
    assert fit.samples[:, j].std() == pytest.approx(fit.model.population_baseline_sd, rel=0.1)


# ---- S7: a label mg/kg dose for a heavy patient is not refused as a unit slip --------------------------------------
def test_s7_heavy_patients_label_mg_per_kg_doses_warn_not_refused(tmp_path):
    import pytest

    from ketasim.errors import InvalidRegimenError
    from ketasim.scenario import quick_scenario

    for route, dose, wt in (("im", "6.5 mg/kg", 160), ("iv-bolus", "4.5 mg/kg", 240)):
        _, w = _dose_warnings(quick_scenario, "ketamine", route, dose, weight_kg=wt)    # was refused: 'check the unit'
        assert len(w) == 1 and "is in the anesthetic range" in w[0], w
    with pytest.raises(InvalidRegimenError, match=r"dose: 11 mg/kg of racemic-ketamine is refused"):
        quick_scenario("ketamine", "im", "11 mg/kg", weight_kg=160)          # a slip still refused
    # the same dose in mg at the stated weight is judged alike (review s45 T1: 1100 mg at 240 kg, 4.6 mg/kg, was
    # refused by the 1000-mg cap while 4.5 mg/kg was accepted); a slip in mg is still refused by its per-kg value
    _, w = _dose_warnings(quick_scenario, "ketamine", "iv-bolus", "1100 mg", weight_kg=240)
    assert len(w) == 1 and "is in the anesthetic range" in w[0], w
    with pytest.raises(InvalidRegimenError, match=r"dose: 3000 mg of racemic-ketamine \(12.5 mg/kg at .*240 kg\) is "
                                                  r"refused \(limit 10 mg/kg or 3429 mg at .*240 kg\)"):
        quick_scenario("ketamine", "iv-bolus", "3000 mg", weight_kg=240)
    with pytest.raises(InvalidRegimenError, match=r"limit 10 mg/kg or 1000 mg\); check the unit"):
        quick_scenario("ketamine", "iv-bolus", "1100 mg", weight_kg=60)      # at or below 70 kg: the 1000-mg cap
    path = tmp_path / "im160.csv"           # a record's row likewise (refused since s44's b1e7269)
    path.write_text(RECORD_HEAD + "1,0,0,,,,,,30,madrs,160,41,F\n1,0.5,1,6.5,mg/kg,,racemic-ketamine,im,,,,,\n"
                    "1,24,0,,,,,,20,madrs,,,\n")
    rec = _read(path)
    assert rec.doses[0].amount == 6.5 and rec.to_scenario().dose_weight_kg == 160


# ---- S9: Scenario.replace(population=...) keeps the doses' weight consistent with the scenario's -------------------
def test_s9_replace_population_rejudges_the_doses():
    import dataclasses

    from ketasim.scenario import scenario_from_dict

    arms = {"push": [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "90 mg"}]}
    sc, w = _dose_warnings(scenario_from_dict, {"name": "heavy", "patient": {"weight_kg": 120}, "arms": arms})
    assert w == [] and sc.patient is not None and not sc.arms[0].doses[0].in_anesthetic_range()
    crowd = dataclasses.replace(sc.population, size=100)
    big, w = _dose_warnings(sc.replace, population=crowd)
    # anesthetic at the 70-kg reference weight and not at 120 kg: the new warning is given (review s46 T3; was [])
    assert len(w) == 1 and "in the anesthetic range (1.29 mg/kg at the 70 kg reference weight" in w[0], w
    assert big.dose_weight_kg is None and big.patient is None
    # was: the Dose kept 120 kg (not anesthetic) while the scenario said the 70-kg reference weight
    assert big.arms[0].doses[0].weight_kg is None and big.arms[0].doses[0].in_anesthetic_range()
    same = sc.replace(population=sc.population)          # the same one patient: nothing changes
    assert same.dose_weight_kg == 120 and same.patient is sc.patient and same.arms[0].doses[0].weight_kg == 120


# ---- T1 (round 3): a record's row in mg at a heavy WT judged as the same dose in mg/kg ----------------------------
def test_t1_a_records_mg_row_at_a_heavy_wt_is_judged_as_its_mg_per_kg(tmp_path):
    rows = {"mgkg": "6.5,mg/kg", "mg": "1040,mg"}
    for name, dose in rows.items():
        path = tmp_path / f"im160_{name}.csv"
        path.write_text(RECORD_HEAD + f"1,0,0,,,,,,30,madrs,160,41,F\n1,0.5,1,{dose},,racemic-ketamine,im,,,,,\n"
                        "1,24,0,,,,,,20,madrs,,,\n")
        from ketasim.record import read_record

        rec, w = _dose_warnings(read_record, path)      # was: the mg row refused ('limit 10 mg/kg or 1000 mg')
        assert len(rec.doses) == 1 and any("anesthetic range" in m for m in w), (name, w)


# ---- T2 (round 3): a stated weight out of range is named, not used to judge the doses ------------------------------
def test_t2_an_out_of_range_single_patient_weight_is_named_first():
    import pytest

    from ketasim.errors import InputError
    from ketasim.scenario import scenario_from_dict

    for mean in (0.5, 8):
        doc = {"name": "typo", "population": {"size": 1, "weight_kg": {"mean": mean, "sd": 0}},
               "arms": {"a": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "35 mg",
                               "duration": "40 min"}]}}
        with pytest.raises(InputError) as e:
            _, w = _dose_warnings(scenario_from_dict, doc)
        assert "weight_kg" in str(e.value) and "check the unit" not in str(e.value), str(e.value)
