"""Regression tests of the thirty-fifth session's review findings (H3): one per fixed finding."""

import pytest

from test_new_user_pass_s34 import DAILY_RECORD


def test_sessions_per_week_below_one_is_refused_in_one_line():
    """Sessions are counted in any 7 days, so every session counts 1 in its own week: sessions_per_week=0.5 (a user's
    "every 2 weeks") could never be met and left "no further sessions" without a word (R1-2)."""
    from ketasim.errors import InputError
    from ketasim.personal import Limits, parse_limits

    for make in (lambda: Limits(sessions_per_week=0.5), lambda: parse_limits("sessions_per_week=0.5")):
        with pytest.raises(InputError, match=r"^limits sessions_per_week: .*at least 1 .*got 0\.5$"):
            make()
    assert Limits(sessions_per_week=1).sessions_per_week == 1.0


def test_no_candidate_within_the_limits_is_not_called_within_every_limit(tmp_path, capsys):
    """When the limits leave no candidate with a session, the recorded plan's line said "(the candidates are within
    every limit; ...)" while the only plan was "no further sessions" (R1-2)."""
    from ketasim.cli import main

    rec = tmp_path / "daily.csv"
    rec.write_text(DAILY_RECORD, encoding="utf-8")
    assert main(["plan", str(rec), "--limits", "ketamine_mg_per_kg_week=0.2,drugs=racemic-ketamine"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("  the recorded plan is outside the limits: "))
    assert "no candidate with a session is within them" in line
    assert "the candidates are within every limit" not in line
    # with the default limits candidates with sessions exist and the line says so
    assert main(["plan", str(rec)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines()
                if ln.startswith("  the recorded plan is outside the limits: "))
    assert "the candidates are within every limit" in line


def test_a_dose_in_mg_far_below_any_studied_dose_says_the_per_kg_value_and_suggests_mg_per_kg():
    """'0.5 mg' of racemic ketamine warned "below 0.01 mg/kg; check the unit (mg, not µg)", which reads as a
    contradiction for a dose the user did write in mg: name the per-kg value at the reference weight and the likelier
    slip, mg written for mg/kg (R2-1). A dose in mg/kg keeps "(mg, not µg)"."""
    from ketasim.errors import DoseWarning
    from ketasim.scenario import scenario_from_dict

    def read(dose):
        arm = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": dose, "duration": "40 min", "at": "0 h"}
        with pytest.warns(DoseWarning, match="far below any studied dose") as rec:
            scenario_from_dict({"name": "x", "arms": {"a": [arm]}})
        return next(str(w.message) for w in rec if "far below" in str(w.message))

    msg = read("0.5 mg")
    assert "0.5 mg of racemic-ketamine (0.00714 mg/kg at the 70 kg reference weight)" in msg
    assert msg.endswith("did you mean 0.5 mg/kg?")
    assert "not µg" not in msg
    assert read("0.5 mcg/kg").endswith("check the unit (mg, not µg)")
    assert "did you mean" not in read("0.005 mg")     # as mg/kg it would be as far below


def test_whole_design_uncertainty_budget_is_estimated_on_the_trials_own_grid(monkeypatch):
    """A whole-design --uncertainty estimated its k trials with the population.size trajectory grid
    (scenario.n_output_times()), while each trial runs on its endpoint times, visits and band times (R1-3): with
    `output: {every: 1 min}` (40,000 trajectory times) the estimate was ~100 x the trial's own."""
    from ketasim import limits
    from ketasim.scenario import load_scenario, scenario_from_dict
    from ketasim.trial import run_trial

    sc = load_scenario("examples/open_label_follow_up.yaml")
    sc = scenario_from_dict({**sc.source, "output": {"every": "1 min"}})
    calls = []
    real = limits.estimate_run

    class Stop(Exception):
        pass

    def spy(n_patients, n_output_times, horizon_h, **kw):
        calls.append((n_patients, n_output_times, horizon_h))
        if len(calls) == 2:          # the trial's own check: enough
            raise Stop
        return real(n_patients, n_output_times, horizon_h, **kw)

    monkeypatch.setattr(limits, "estimate_run", spy)
    with pytest.raises(Stop):
        run_trial(sc, n=4, uncertainty=2, between_trial=False)
    (n_draw, t_draw, h_draw), (n_trial, t_trial, h_trial) = calls
    assert sc.n_output_times() > 10_000
    assert (n_draw, t_draw, h_draw) == (n_trial, t_trial, h_trial) == (4, t_trial, h_trial)


def test_plan_judges_the_safety_quantiles_from_the_one_reading_it_reports(monkeypatch):
    """plan() called safety_readings twice (for has_reading, then inside safety_quantiles for judged_at), so the two
    JSON fields could disagree (R1-4): one call, and judged_at follows has_reading."""
    from ketasim import personal

    fit = personal.fit_patient("examples/patient/patient_101.csv", n_samples=20, n_proposals=200, refine=False)
    answers = iter([{"sbp_rise_mmhg": True, "cadss": False}, {"sbp_rise_mmhg": False, "cadss": True}])
    calls = []

    def readings(record, window_h=6.0):
        calls.append(window_h)
        return next(answers)

    monkeypatch.setattr(personal, "safety_readings", readings)
    res = personal.plan(fit, limits=personal.Limits(drugs=("esketamine",)), top=1, n_samples=20)
    assert len(calls) == 1
    assert res["has_reading"] == {"sbp_rise_mmhg": True, "cadss": False}
    assert res["judged_at"] == {"sbp_rise_mmhg": 0.9, "cadss": personal.Limits().quantile_without_reading}


def test_the_map_search_bound_and_its_edge_warning_share_one_constant(monkeypatch):
    """The search bound was a literal 6 twice in fit_patient and the edge SEARCH_EDGE_SD = 5.9 (printed as 5.9 + 0.1)
    apart from it (R3-3): one SEARCH_BOUND_SD moves the search, the edge and the message together."""
    from ketasim import personal
    from test_new_user_pass_s35 import _record

    assert personal.SEARCH_BOUND_SD == 6
    monkeypatch.setattr(personal, "SEARCH_BOUND_SD", 3.0)
    fit = personal.fit_patient(_record(0.2), n_samples=100, n_proposals=500)
    eta_v = fit.model.names.index("eta_v")
    z = (fit.map[eta_v] - fit.model.prior_mean[eta_v]) / fit.model.prior_sd[eta_v]
    assert abs(z) == pytest.approx(3.0, abs=1e-3)
    edge = [w for w in fit.warnings if "edge of the search" in w]
    assert len(edge) == 1 and "(3 population SDs from the typical patient)" in edge[0]


def test_sensitivity_json_names_the_virtual_experiment_as_the_other_files_do():
    """Trajectory provenance and the trial JSON write `experiments` (switches not at their default); the sensitivity
    JSON wrote only `experiment` (every switch) (R3-4): it writes both now."""
    import ketasim
    from ketasim.engine import VirtualExperiment
    from ketasim.sensitivity import run_sensitivity

    sc = ketasim.scenario_from_dict({
        "name": "sens", "seed": 3, "population": {"size": 4, "baseline": {"mean": 33, "sd": 5}},
        "arms": {"k": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}]},
        "endpoints": {"times": ["24 h"]}})
    d = run_sensitivity(sc, endpoint="mean_change@24h", patterns=("placebo_gain",), n_patients=4, samples=2,
                        local=False, experiment=VirtualExperiment(mtor_block=1.0)).to_dict()
    assert d["experiments"] == {"mtor_block": 1.0}
    assert d["experiment"]["mtor_block"] == 1.0 and d["experiment"]["ampa_block"] == 0.0   # kept, every switch


def test_trajectory_provenance_records_the_patients_per_arm_in_memory_and_streamed(tmp_path):
    """A --size override (simulate(n=...)) differs from definition.population.size, and the provenance had no count
    of the patients that ran (H1): `patients_per_arm`, the same in the in-memory and the streamed files."""
    import json

    import pandas as pd

    from ketasim.engine import simulate
    from ketasim.scale import simulate_streamed
    from ketasim.scenario import scenario_from_dict

    sc = scenario_from_dict({"name": "x", "seed": 1, "population": {"size": 2000, "baseline": {"mean": 33, "sd": 5}},
                             "arms": {"k": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                             "duration": "40 min", "at": "0 h"}]},
                             "output": {"every": "12 h", "until": "2 d"}})
    res = simulate(sc, n=3)
    assert res.provenance["patients_per_arm"] == 3
    assert res.provenance["definition"]["population"]["size"] == 2000
    assert simulate(sc, typical=True).provenance["patients_per_arm"] == 1
    res.to_csv(tmp_path / "mem.csv")
    simulate_streamed(sc, n=3, chunk=2, csv=tmp_path / "str.csv")
    mem = json.loads((tmp_path / "mem.csv.provenance.json").read_text(encoding="utf-8"))
    streamed = json.loads((tmp_path / "str.csv.provenance.json").read_text(encoding="utf-8"))
    assert mem["patients_per_arm"] == streamed["patients_per_arm"] == 3
    assert pd.read_csv(tmp_path / "str.csv")["subject"].nunique() == 3
    from ketasim.report import _provenance_table

    assert "<td class=\"l\">patients per arm</td><td class=\"l\">3</td>" in _provenance_table(res.provenance)


def test_trial_text_table_and_html_report_label_the_same_times_the_same_way(tmp_path):
    """The trial's text table said '7 d' / '28 d' where its HTML report (and the dashboard's table, the endpoint
    figure) said '1 w' / '4 w': five hour formatters (R3-2, H1). One, ketasim.units.fmt_hours, for every label of a
    stated time."""
    import re

    from ketasim.report import _comparison_table, _endpoint_table, trial_report
    from ketasim.scenario import scenario_from_dict
    from ketasim.trial import run_trial
    from ketasim.web import figures

    ket = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min", "at": "0 h"}
    pbo = {**{k: v for k, v in ket.items() if k != "dose"}, "drug": "saline"}   # a placebo's dose warns (s39)
    sc = scenario_from_dict({"name": "t", "seed": 1, "population": {"size": 4, "baseline": {"mean": 33, "sd": 5}},
                             "arms": {"k": [ket], "p": [pbo]}, "design": {"type": "parallel", "control": "p"},
                             "endpoints": {"times": ["230 min", "24 h", "7 d", "28 d"], "measures": ["mean_change"]}})
    tr = run_trial(sc)
    want = ["230 min", "24 h", "7 d", "28 d"]
    text = tr.format_table()
    assert all(w in text for w in want)
    assert list(dict.fromkeys(_endpoint_table(tr)["time"])) == want          # was '1 w', '4 w'
    assert list(_comparison_table(tr)["time"]) == want
    page = trial_report(tr, tmp_path / "t.html").read_text(encoding="utf-8")
    assert not re.search(r"[>\"]\d+ w[<\"]", page)          # no '1 w' / '4 w' label anywhere in the report
    assert [figures.fmt_time_h(h) for h in (230 / 60, 24.0, 168.0, 672.0)] == want
    # the other outputs' rules are the shared one's: messages (regimen) and the summary's grid readings
    from ketasim.regimen import _fmt_h
    from ketasim.summary import fmt_time

    assert [_fmt_h(h) for h in (1 / 60, 40 / 60, 3.5, 72.0)] == ["1 min", "40 min", "3.5 h", "3 d"]
    assert [fmt_time(h) for h in (35 / 60, 15.7, 252.0)] == ["35 min", "15.7 h", "10.5 d"]
    from ketasim.units import fmt_hours

    assert fmt_hours(None) == fmt_hours(float("nan")) == "-"


def test_within_the_limits_is_judged_on_the_search_not_on_the_shown_plans(tmp_path):
    """R5-3: with --top 1 and a #1 of "no further sessions" the recorded plan's line said "no candidate with a
    session is within them" although the search had many: the line now reads the search's count."""
    import copy
    import json

    from ketasim.cli import main
    from ketasim.plan_report import text_summary

    rec, js = tmp_path / "daily.csv", tmp_path / "plan.json"
    rec.write_text(DAILY_RECORD, encoding="utf-8")
    assert main(["plan", str(rec), "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    n = res["search"]["safe_candidates_with_sessions"]
    assert 0 < n <= res["search"]["candidates_evaluated"] - res["search"]["unsafe_candidates"]
    shown_none = copy.deepcopy(res)
    shown_none["plans"] = [dict(p, sessions=0) for p in shown_none["plans"][:1]]      # only a no-session plan shown
    line = next(ln for ln in text_summary(shown_none).splitlines() if "the recorded plan is outside" in ln)
    assert "the candidates are within every limit" in line
    shown_none["search"]["safe_candidates_with_sessions"] = 0
    line = next(ln for ln in text_summary(shown_none).splitlines() if "the recorded plan is outside" in ln)
    assert "no candidate with a session is within them" in line


def test_the_mg_per_kg_hint_for_a_tiny_dose_in_mg_is_offered_only_where_the_drug_is_dosed_per_kg():
    """'0.5 mg' of nasal esketamine suggested "did you mean 0.5 mg/kg?", but nasal esketamine is dosed in mg
    (28-84 mg): the hint belongs to routes dosed per kg (IV, IM, SC; oral racemic ketamine), others get the
    generic "check the unit" (R7 nit on R2-1)."""
    from ketasim.errors import DoseWarning
    from ketasim.scenario import scenario_from_dict

    def read(drug, route, dose):
        arm = {"drug": drug, "route": route, "dose": dose, "at": "0 h"}
        with pytest.warns(DoseWarning, match="far below any studied dose") as rec:
            scenario_from_dict({"name": "x", "arms": {"a": [arm]}})
        return next(str(w.message) for w in rec if "far below" in str(w.message))

    for drug, route in (("esketamine", "intranasal"), ("racemic-ketamine", "sublingual"), ("esketamine", "oral")):
        msg = read(drug, route, "0.5 mg")
        assert "mg/kg?" not in msg and "mg/kg, not mg" not in msg, msg
        assert msg.endswith("; check the unit"), msg
    for drug, route in (("esketamine", "iv-bolus"), ("racemic-ketamine", "im"), ("racemic-ketamine", "sc"),
                        ("racemic-ketamine", "oral")):
        assert read(drug, route, "0.5 mg").endswith("did you mean 0.5 mg/kg?"), (drug, route)


def test_a_single_response_rate_under_one_percent_warns_and_two_are_refused(tmp_path):
    """An arm of 125 with one remitter is a true 0.8 %: a file holding only that row was refused ("looks like a
    fraction") with no way round. One such rate warns and is compared as written; two or more are refused (R5-4)."""
    from ketasim.errors import InputError, ObservedWarning
    from ketasim.observed import read_observed
    from ketasim.scenario import scenario_from_dict

    ket = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min", "at": "0 h"}
    pbo = {**{k: v for k, v in ket.items() if k != "dose"}, "drug": "placebo"}   # a placebo's dose warns (s39)
    sc = scenario_from_dict({"name": "o", "population": {"size": 4}, "arms": {"k": [ket], "p": [pbo]},
                             "endpoints": {"times": ["24 h"], "measures": ["remission_rate", "response_rate"]}})
    one = {"arm": "k", "timepoint_h": "24", "measure": "remission_rate", "value": "0.8", "n": "125"}
    f = tmp_path / "obs.csv"
    f.write_text("arm,timepoint_h,measure,value,n\nk,24,remission_rate,0.8,125\n", encoding="utf-8")
    for src in ([one], f):
        with pytest.warns(ObservedWarning, match=r"row 1.*column value: 0\.8 looks like a fraction.*compared as 0\.8 %"):
            df = read_observed(src, sc)
        assert df["observed"].tolist() == [0.8]
    with pytest.raises(InputError, match=r"row 1, column value: 0\.8 looks like a fraction.*2 response/remission"):
        read_observed([one, {**one, "measure": "response_rate", "value": "0.9"}], sc)


def test_a_scenario_changed_by_replace_records_no_stale_definition(tmp_path, capsys):
    """`Scenario.replace` kept `source` (the mapping as first read): a scenario cut to one arm in Python recorded
    the three-arm definition in its provenance and scenario_to_yaml wrote it (R5-2). The copy now has no source:
    definition null, scenario_to_yaml refuses in one line; the CLI's --size (not a replace) still records it."""
    import dataclasses
    import json

    from ketasim.cli import main
    from ketasim.engine import simulate
    from ketasim.errors import InputError
    from ketasim.scenario import load_scenario, scenario_to_yaml

    sc = load_scenario("examples/design_example.yaml")
    sc2 = sc.replace(arms=sc.arms[:1], population=dataclasses.replace(sc.population, size=2))
    assert sc2.source is None and sc.source is not None
    assert sc.replace().source is sc.source and sc.replace(seed=3, source={"x": 1}).source == {"x": 1}
    with pytest.raises(InputError, match=r"^scenario: no YAML mapping to write: .*Scenario\.replace") as e:
        scenario_to_yaml(sc2)
    assert "\n" not in str(e.value)
    assert scenario_to_yaml(sc).startswith("name:")
    one = sc2.replace(output_every_h=24.0, output_until_h=24.0)
    assert simulate(one, n=1).provenance["definition"] is None
    # the CLI's --size runs the scenario as read: its definition is written
    f = tmp_path / "k.yaml"
    f.write_text("name: k\nseed: 1\npopulation: {size: 50}\narms:\n  k: [{drug: ketamine, route: iv, dose: 0.5 mg/kg,"
                 " duration: 40 min, at: 0 h}]\noutput: {every: 12 h, until: 1 d}\n", encoding="utf-8")
    assert main(["simulate", str(f), "--size", "2", "--csv", str(tmp_path / "k.csv")]) == 0
    capsys.readouterr()
    prov = json.loads((tmp_path / "k.csv.provenance.json").read_text(encoding="utf-8"))
    assert prov["definition"]["population"]["size"] == 50 and prov["patients_per_arm"] == 2


def test_one_duration_formatter_for_the_run_budget_messages_and_the_progress_lines():
    """distributed.duration_text (progress lines: s/min/h/d, '?') duplicated limits.fmt_seconds (run-budget messages:
    s/min/h), so 90 min read '1.5 h' in one message and '90 min' in the other (R6-2)."""
    from ketasim.distributed import duration_text
    from ketasim.limits import fmt_seconds

    cases = {0.0312: "0.0312 s", 12.5: "12.5 s", 840.0: "14 min", 5400.0: "90 min", 3.2 * 3600: "3.2 h",
             2637199.0: "30.5 d", float("nan"): "?", float("inf"): "?"}
    assert [fmt_seconds(s) for s in cases] == list(cases.values())
    assert [duration_text(s) for s in cases] == list(cases.values())


def test_one_cumulative_anesthetic_warning_function_serves_simulate_and_trial(monkeypatch):
    """app.py (trial) and cli.py (simulate) each had a `_warn_cumulative_anesthetic` doing the same job (R4-2): one,
    app.warn_cumulative_anesthetic(sc, params, experiment=...). Since the fortieth session it always simulates the
    typical patient on its own grid around the doses (summary.anesthetic_check_times), not on the output grid, and
    simulates nothing when no arm has ketamine."""
    import warnings

    import ketasim.cli
    from ketasim import app, engine
    from ketasim.errors import DoseWarning
    from ketasim.scenario import scenario_from_dict

    assert not hasattr(ketasim.cli, "_warn_cumulative_anesthetic") and not hasattr(app, "_warn_cumulative_anesthetic")
    sc = scenario_from_dict({"name": "t", "population": {"size": 4}, "arms": {
        "rep": [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.9 mg/kg", "every": "10 min", "count": 6}]},
        "output": {"every": "5 min", "until": "3 h"}})
    with pytest.warns(DoseWarning, match=r"^arms\.rep: together its doses are in the anesthetic range"):
        app.warn_cumulative_anesthetic(sc)

    def refuse(*a, **k):
        raise AssertionError("simulated with no ketamine arm")

    monkeypatch.setattr(engine, "simulate", refuse)
    none = scenario_from_dict({"name": "p", "arms": {"p": [{"drug": "placebo", "route": "iv-infusion",
                                                               "dose": "0 mg", "duration": "40 min"}]}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app.warn_cumulative_anesthetic(none)                 # no ketamine: nothing simulated (refuse would raise)


def test_the_pk_json_names_the_model_scenario_pk_ran_and_one_helper_builds_the_model_id():
    """pk_document wrote DEFAULT_MODEL's id although scenario_pk(..., model=...) ran a variant (R6-3); the id string
    was built in five places: one helper, ketasim.model.model_id(model=None)."""
    import inspect

    import pandas as pd

    from ketasim import nca, personal, result, trial
    from ketasim.model import DEFAULT_MODEL, model_id
    from ketasim.nca import PKSampling, pk_document
    from ketasim.parameters import load_parameters
    from ketasim.scenario import scenario_from_dict

    assert model_id() == f"{DEFAULT_MODEL.name} {DEFAULT_MODEL.digest()}"
    variant = DEFAULT_MODEL.renamed("variant")
    assert model_id(variant) == f"variant {DEFAULT_MODEL.digest()}"
    sc = scenario_from_dict({"name": "x", "arms": {"k": [{"drug": "racemic-ketamine", "route": "iv-infusion",
                                                          "dose": "0.5 mg/kg", "duration": "40 min"}]}})
    params = load_parameters()
    assert pk_document(sc, params, PKSampling(), pd.DataFrame(), model=variant)["model"] == model_id(variant)
    assert pk_document(sc, params, PKSampling(), pd.DataFrame())["model"] == model_id()
    for mod in (nca, personal, result, trial):
        assert "digest()}" not in inspect.getsource(mod), mod.__name__


def test_a_product_whose_doses_do_not_fit_the_week_limit_is_named(tmp_path):
    """R1-2 leftover: esketamine_mg_week=50 is below any esketamine schedule (28 mg twice a week is 56 mg), so the
    search dropped esketamine without a word; the JSON and the text now name the product."""
    import json

    from ketasim.cli import main

    rec, js = tmp_path / "daily.csv", tmp_path / "plan.json"
    rec.write_text(DAILY_RECORD, encoding="utf-8")
    assert main(["plan", str(rec), "--json", str(js), "--limits", "esketamine_mg_week=50"]) == 0
    res = json.loads(js.read_text())
    assert res["search"]["products_without_candidates"] == ["esketamine intranasal"]
    assert not any(p["label"].startswith("esketamine") for p in res["plans"])
    assert main(["plan", str(rec), "--json", str(js)]) == 0
    assert json.loads(js.read_text())["search"]["products_without_candidates"] == []
