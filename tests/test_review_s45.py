"""Forty-fifth session, H10: fixes of the review's findings (/work/coord/s45/review.md)."""

from __future__ import annotations

import warnings
from pathlib import Path

from _support import run_cli

ROOT = Path(__file__).resolve().parents[1]

from _support import RECORD_HEAD, dose_warning_messages, read_record_quietly


def _record(tmp_path, name, wt, mg=60):
    """A record of WT ``wt`` kg: MADRS 30 at 0 h, one ``mg`` mg racemic ketamine push at 0.5 h, MADRS 20 at 24 h."""
    path = tmp_path / f"{name}.csv"
    path.write_text(RECORD_HEAD + f"1,0,0,,,,,,30,madrs,{wt},41,F\n1,0.5,1,{mg},mg,,racemic-ketamine,iv-bolus,,,,,\n"
                    "1,24,0,,,,,,20,madrs,,,\n")
    return path


_read = read_record_quietly
_dose_warnings = dose_warning_messages


# ---- R1: a plan's alternative judged its mg doses at 70 kg, and had no cumulative check ---------------------------
def test_an_alternatives_mg_doses_are_judged_at_the_records_weight(tmp_path):
    """WT 120, 80 mg push (0.67 mg/kg): warned 'anesthetic' (1.14 mg/kg at 70 kg); WT 40, 50 mg push (1.25 mg/kg):
    said nothing (0.71 mg/kg at 70 kg). The record's own rows were judged at its WT (review R1)."""
    from ketasim.personal import _future_doses

    line = {"drug": "racemic-ketamine", "route": "iv-bolus", "at": "48 h"}
    heavy = _read(_record(tmp_path, "heavy", 120))
    _, said = _dose_warnings(_future_doses, heavy, [{**line, "dose": "80 mg"}], "alternative")
    assert said == []
    light = _read(_record(tmp_path, "light", 40))
    doses, said = _dose_warnings(_future_doses, light, [{**line, "dose": "50 mg"}], "alternative")
    assert len(said) == 1 and said[0].startswith("alternative[0].dose: 50 mg iv-bolus is in the anesthetic range "
                                                 "(1.25 mg/kg at the record's WT of 40 kg;"), said
    assert doses[0].weight_kg == 40


def test_an_alternatives_back_to_back_pushes_get_the_cumulative_warning(tmp_path):
    """WT 70, an alternative of two 0.9 mg/kg pushes 6 min apart (neither alone in the range): `plan --alternative`
    printed no anesthetic warning, while the same pushes as record rows warned (review R1)."""
    from ketasim.personal import _future_doses
    from ketasim.summary import alternative_anesthetic_warnings

    rec = _read(_record(tmp_path, "mid", 70))
    alt = _future_doses(rec, [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.9 mg/kg", "at": at}
                              for at in ("48 h", "48.1 h")], "alternative")
    said = alternative_anesthetic_warnings(rec, alt)
    assert len(said) == 1 and said[0].startswith(
        # the past 60 mg two days before is out of reach: not named (review s45 S3)
        "alternative: together the alternative's doses are in the anesthetic range"), said
    # one push alone adds nothing to the record's past 60 mg two days before
    assert alternative_anesthetic_warnings(rec, alt[:1]) == []


def test_plan_alternative_prints_the_cumulative_warning_naming_the_file(capsys, tmp_path):
    path = _record(tmp_path, "mid", 70)
    alt = tmp_path / "alt2.yaml"
    alt.write_text("- {drug: racemic-ketamine, route: iv-bolus, dose: 0.9 mg/kg, at: 48 h}\n"
                   "- {drug: racemic-ketamine, route: iv-bolus, dose: 0.9 mg/kg, at: 48.1 h}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, "plan", path, "--alternative", alt, "--json", tmp_path / "p.json")
    lines = [ln for ln in err.splitlines() if "anesthetic range" in ln]
    assert code == 0 and lines == [ln for ln in lines if ln.startswith(
        "warning: --alternative alt2.yaml: alternative: together the alternative's doses")] and len(lines) == 1, err
    import json

    fit_warnings = json.loads((tmp_path / "p.json").read_text())["fit"]["warnings"]
    assert sum("alternative: together" in w for w in fit_warnings) == 1


# ---- R3: a dropped Ctrl-C's resend cut short the cleanup of a second Ctrl-C that propagated -------------------------
from _support import run_second_signal  # noqa: E402


def test_a_second_ctrl_c_cleanup_is_not_cut_short_by_the_first_ones_resend(tmp_path):
    """Ctrl-C dropped inside a ctypes callback (numba compiling) is sent again 1 s later while still 'pending'; a
    second Ctrl-C within that second propagated, its cleanup began, and the resent first one raised a third
    interrupt in the middle of it (review s45 R3). Only the dropped exception's own signal is sent again now."""
    code, lines, written = run_second_signal(tmp_path, "SIGINT")
    assert code == 130, lines
    assert lines[0] == "cleanup complete" and not any("CUT SHORT" in ln for ln in lines), lines
    assert lines[-1].startswith("interrupted: stopped before completing"), lines
    assert not written


# ---- R2: one stated patient's mg doses were judged at 70 kg ----------------------------------------------------------
_PUSH = "is in the anesthetic range"


def test_the_quick_forms_weight_judges_its_mg_dose_at_one_patient():
    """--weight 120, 90 mg push (0.75 mg/kg): warned 'anesthetic' (1.29 mg/kg at 70 kg); --weight 40, 60 mg (1.5
    mg/kg): the dose rule said nothing. A population (--size 3) keeps the 70-kg reference weight and says so (review
    s45 R2)."""
    from ketasim.scenario import quick_scenario

    def said(**kw):
        return _dose_warnings(quick_scenario, "ketamine", "iv-bolus", **kw)[1]

    assert said(dose="90 mg", weight_kg=120) == []
    light = said(dose="60 mg", weight_kg=40)
    assert len(light) == 1 and _PUSH + " (1.5 mg/kg at the patient's weight of 40 kg;" in light[0], light
    crowd = said(dose="90 mg", weight_kg=120, size=3)
    assert len(crowd) == 1 and _PUSH + " (1.29 mg/kg at the 70 kg reference weight;" in crowd[0], crowd
    assert said(dose="60 mg") == []         # no stated weight: the reference weight, as before


def test_a_scenarios_stated_patient_judges_its_mg_doses_at_its_weight():
    from ketasim.scenario import scenario_from_dict

    arms = {"push": [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "90 mg"}]}
    sc, said = _dose_warnings(scenario_from_dict, {"name": "heavy", "patient": {"weight_kg": 120}, "arms": arms})
    assert said == [] and sc.dose_weight_kg == 120
    _, said = _dose_warnings(scenario_from_dict, {"name": "light", "patient": {"weight_kg": 50}, "arms": arms})
    assert len(said) == 1 and said[0].startswith(f"arms.push[0].dose: 90 mg iv-bolus {_PUSH} (1.8 mg/kg at the "
                                                 "patient's weight of 50 kg;"), said
    # a population of 120-kg patients keeps the reference weight (a dose line does not know its patients)
    pop = {"size": 10, "weight_kg": {"mean": 120, "sd": 10}}
    sc, said = _dose_warnings(scenario_from_dict, {"name": "crowd", "population": pop, "arms": arms})
    assert len(said) == 1 and "at the 70 kg reference weight" in said[0] and sc.dose_weight_kg is None


def test_the_dashboards_patient_weight_judges_its_mg_doses():
    from ketasim.web import api

    def dose_warnings(weight, mg):
        f = api.default_form()
        f["patient"]["weight_kg"] = weight
        f["regimens"][0].update(route="iv-bolus", dose=mg, dose_unit="mg", duration_min="")
        return [w["message"] for w in api.build(f).warnings if _PUSH in w["message"]]

    assert dose_warnings(120, 90) == []
    light = dose_warnings(40, 50)
    assert len(light) == 1 and "(1.25 mg/kg at the patient's weight of 40 kg;" in light[0], light


def test_the_quick_forms_anesthetic_warnings_name_the_dose_option(capsys, tmp_path):
    """--weight 40, 60 mg push: the dose rule said nothing and the level check warned as 'arms.racemic-ketamine',
    a YAML path never typed. Two 0.9 mg/kg pushes 6 min apart: the level check names --dose too."""
    def lines(*argv):
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            code, _, err = run_cli(capsys, "simulate", "--drug", "ketamine", "--route", "iv-bolus", *argv,
                                   "--csv", tmp_path / "a.csv")
        assert code == 0, err
        return [ln for ln in err.splitlines() if "anesthetic range" in ln]

    light = lines("--dose", "60 mg", "--weight", "40")
    assert len(light) == 1 and light[0].startswith(f"warning: --dose: 60 mg iv-bolus {_PUSH} (1.5 mg/kg at the "
                                                   "patient's weight of 40 kg;"), light
    assert lines("--dose", "90 mg", "--weight", "120") == []
    two = lines("--dose", "0.9 mg/kg", "--count", "2", "--every", "6 min")
    assert len(two) == 1 and two[0].startswith(f"warning: --dose: together the doses are in the anesthetic"), two


# ---- R6: the docs said an mg dose counts per kg at 70 kg, which no longer holds for one patient ---------------------
def test_the_docs_say_at_which_weight_mg_doses_are_judged():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    contracts = " ".join((ROOT / "docs" / "contracts.md").read_text(encoding="utf-8").split())
    assert "a dose in mg counts per kg at 70 kg" not in readme
    for text in (readme, contracts):
        assert "70-kg reference weight" in text and "record's WT" in text and "patient's weight" in text


# ---- R4: sensitivity said "no parameter matches" a parameter at 0 ---------------------------------------------------
def test_sensitivity_names_a_matched_parameter_without_a_range(capsys):
    """`ketasim params pd.crp.moderation` lists it (0 since the forty-fourth session), `sensitivity --parameters
    pd.crp.moderation` said 'no parameter matches pd.crp.moderation'; with 'pd.crp.*' it was dropped in silence
    (review s45 R4)."""
    from _support import one_error_line

    from ketasim import load_parameters
    from ketasim.sensitivity import not_varied

    code, _, err = run_cli(capsys, "sensitivity", ROOT / "examples" / "design_example.yaml", "--parameters",
                           "pd.crp.moderation", "--endpoint", "mean_change@24h", "--size", "5", "--samples", "2",
                           "--no-progress")
    assert code == 2
    assert one_error_line(err) == ("error: --parameters: pd.crp.moderation is 0 (as stated): no range to vary; to "
                                   "study it, give it a value in a parameter set (--parameter-set FILE)")
    assert ("pd.crp.moderation", "0 (as stated)") in not_varied(load_parameters(), ["pd.crp.*"])


def test_sensitivity_notes_the_parameters_it_does_not_vary():
    from ketasim import load_parameters
    from ketasim.scenario import load_scenario
    from ketasim.sensitivity import run_sensitivity

    sc = load_scenario(ROOT / "examples" / "design_example.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_sensitivity(sc, endpoint="mean_change@24h", patterns=["pd.crp.*"], n_patients=5, samples=2,
                              params=load_parameters())
    assert {f.name for f in res.factors} == {"pd.crp.threshold", "pd.crp.hill"}
    assert res.meta["not_varied"] == ["pd.crp.moderation = 0 (as stated)"]
    assert "note: not varied (no range to vary): pd.crp.moderation = 0 (as stated)" in res.format_table()


# ---- R8: endpoint-parsing edges ------------------------------------------------------------------------------------
def test_an_endpoint_at_minus_zero_hours_is_at_zero():
    """'mean_change@-0 h' passed the h < 0 check and was labelled 'mean_change@-0min' (review s45 R8)."""
    import math

    from ketasim.sensitivity import parse_endpoint

    spec = parse_endpoint("mean_change@-0 h")
    assert spec.time_h == 0 and math.copysign(1.0, spec.time_h) == 1.0
    assert "-" not in spec.label


def test_power_margin_names_its_unit_error():
    """--margin 'mean_change@24H=2': the unit error was swallowed and the line said "'mean_change@24H' is not an
    endpoint asked for" (review s45 R8)."""
    import pytest

    from ketasim.errors import InputError
    from ketasim.power import _margins
    from ketasim.sensitivity import parse_endpoint
    from ketasim.power import _Endpoint

    spec = parse_endpoint("mean_change@24h")
    eps = [_Endpoint(spec.measure, spec.time_h)]
    with pytest.raises(InputError, match=r"^margin: 'mean_change@24H': unit 'H' cannot be converted to 'hour' "
                                         r"\(times: min, h, d, week; lower case\)$"):
        _margins("mean_change@24H=2", eps, False)


def test_covariates_pk_endpoint_with_a_time_is_shown_as_typed():
    import pytest

    from ketasim.covariates import _split_endpoints
    from ketasim.errors import InputError

    with pytest.raises(InputError, match=r"write 'CMAX' without '@24H'"):
        _split_endpoints(["CMAX@24H"])


# ---- R7: timed assertions in the signal tests; bench_estimate --repeat 0 -------------------------------------------
def test_the_signal_tests_time_nothing():
    """`took < 60` added only a dependence on the machine's load: a lost signal fails on the return code or the
    timeout (review s45 R7)."""
    for name in ("test_leftovers_s44_h4.py", "test_review_s44.py"):
        text = (ROOT / "tests" / name).read_text(encoding="utf-8")
        assert "took" not in text and "time.monotonic() - t0" not in text, name


def test_bench_estimate_refuses_no_repeat(capsys):
    """`benchmarks/bench_estimate.py --repeat 0` printed 'measured inf s ratio 0.00' (review s45 R7)."""
    import importlib.util

    import pytest

    spec = importlib.util.spec_from_file_location("bench_estimate", ROOT / "benchmarks" / "bench_estimate.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with pytest.raises(SystemExit) as e:
        bench.main(["--repeat", "0"])
    assert str(e.value) == "error: --repeat: the number of timed runs per case must be >= 1, got 0"


def test_the_plan_pages_alternative_is_judged_at_the_records_weight(tmp_path):
    """The plan page reads the alternative 'with the record's warnings': at WT 40 a 50 mg push (1.25 mg/kg) said
    nothing (review s45 R1)."""
    from ketasim.web import api

    csv = _record(tmp_path, "light", 40, mg=20).read_text()
    alt = [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "50 mg", "at": "48 h"}]
    warns = api.plan_form({"record": csv, "alternative": alt})["result"]["fit"]["warnings"]
    said = [w for w in warns if "anesthetic range" in w]
    assert said == [f"alternative[0].dose: 50 mg iv-bolus {_PUSH} (1.25 mg/kg at the record's WT of 40 kg; expect "
                    "sedation; that it blocks the antidepressant plasticity is a hypothesis, off by default: "
                    "experiments.anesthetic_state)"], warns
