"""Review of the thirty-seventh session: the unit `fraction` (a dimensionless value bounded by 0-1) and the
dashboard's provenance downloads."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from ketasim.parameters import load_parameters
from ketasim.units import convert, is_fraction
from test_web_browser import _new_page, browser, dashboard  # noqa: F401 (fixtures: skip without Chromium)

#: parameters that are not fractions although dimensionless and below 1 (a log-SD, a partition, ratios, a shape)
NOT_FRACTIONS = ("iiv.ka_intranasal_cv", "pk.norketamine.brain_partition", "pk.r_to_s_clearance_ratio",
                 "pd.recurrence.weibull_shape", "pd.placebo.trd_ratio", "pd.age.drug_decline_per_decade",
                 "pd.pressor.r_ketamine_potency", "ddi.ticlopidine.clint_factor",
                 "observation.cp_log_sd", "pd.il6.repeat_effect", "pd.spine.stress_loss", "pd.crp.moderation")
#: true fractions: shares, probabilities, bioavailabilities, 0-1 levels
FRACTIONS = ("pk.fu", "pk.fm_nk", "route.im.f", "route.oral.f_s", "pop.met_allele_frequency", "pd.recurrence.p12",
             "pd.expectancy.unblinding_accuracy", "pd.anesthesia.block50", "ddi.ticlopidine.cyp2b6_share",
             # a Met carrier releases a fraction of Val/Val's BDNF (Laje 2012: Met carriers improve less): never more
             "pd.bdnf.val_met_factor", "pd.bdnf.met_met_factor")


# ---- the unit `fraction` ---------------------------------------------------------------------------------------------
def test_fraction_is_dimensionless_and_marks_the_shares_only():
    p = load_parameters()
    assert convert(0.56, "fraction", "dimensionless", "x") == 0.56
    assert convert(0.56, "dimensionless", "fraction", "x") == 0.56
    assert convert(0.56, "fraction", "percent", "x") == pytest.approx(56.0)
    assert p.get("pk.fu") == 0.56 and p.literature["pk.fu"].unit == "fraction"     # default unit 'dimensionless'
    assert all(is_fraction(p.literature[n].unit) for n in FRACTIONS)
    assert not any(is_fraction(p.literature[n].unit) for n in NOT_FRACTIONS)
    assert all(0 <= q.value <= 1 for q in p.literature.values() if is_fraction(q.unit))


def test_the_relabel_keeps_the_parameter_set_version_and_its_stored_draws():
    """The shipped posterior draws are stamped with ParameterSet.version: 'fraction' hashes as 'dimensionless'."""
    from ketasim.calibration import stored_posterior_draws

    p = load_parameters()
    assert sum(is_fraction(q.unit) for q in p.literature.values()) >= 20
    before = dataclasses.replace(p, literature=MappingProxyType(
        {n: dataclasses.replace(q, unit="dimensionless") if is_fraction(q.unit) else q
         for n, q in p.literature.items()}))
    assert before.version == p.version
    assert stored_posterior_draws(p) is not None
    # a value still changes the version
    assert p.with_literature({"pk.fu": 0.5}).version != p.version


def test_a_log_sd_above_one_is_accepted_as_a_dashboard_edit_and_a_fraction_above_one_is_not():
    from ketasim.web import api

    assert api.plausible_range("iiv.ka_intranasal_cv")[1] > 1
    params, used = api.parameters_with({"iiv.ka_intranasal_cv": 1.1, "pd.recurrence.weibull_shape": 1.2})
    assert used == {"iiv.ka_intranasal_cv": 1.1, "pd.recurrence.weibull_shape": 1.2}
    assert params.get("iiv.ka_intranasal_cv") == 1.1
    assert api.plausible_range("pk.fu")[1] == 1.0
    with pytest.raises(api.FormErrors) as e:
        api.parameters_with({"pk.fu": 1.2})
    (err,) = e.value.errors
    assert err["field"] == "overrides" and "\n" not in err["message"]
    assert err["message"].startswith("overrides.pk.fu: 1.2 is outside the plausible range ")
    assert err["message"].endswith("-1 (a fraction: at most 1)")


def test_sensitivity_does_not_cap_a_dimensionless_value_that_is_not_a_fraction():
    from ketasim.sensitivity import _literature_range

    p = load_parameters()
    # a user's CRP-moderation hypothesis (0 by default since the forty-fourth session; 0.6 uncertain: x/÷ 2, a gain
    # 1 / (1 + m x ...))
    mod = dataclasses.replace(p.literature["pd.crp.moderation"], value=0.6, confidence="uncertain")
    assert _literature_range(mod)[:2] == pytest.approx((0.3, 1.2))
    ratio = p.literature["pk.r_to_s_clearance_ratio"]  # 0.873, derived: +/- 25 %
    assert _literature_range(ratio)[1] == pytest.approx(0.873 * 1.25)
    fu = p.literature["pk.fu"]                         # a fraction still stays below 1
    assert _literature_range(fu)[1] < 1


# ---- the dashboard's downloads name its parameter edits --------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    from ketasim.web.server import ServerThread

    with ServerThread(warm=True) as s:
        yield s


def _post(url, data=None):
    """GET (no data) or POST JSON: test_web_api's request helper."""
    from test_web_api import _request

    return _request(url, data)


def test_the_provenance_download_is_the_cli_sidecar_plus_the_page_edits(server, tmp_path, capsys, monkeypatch):
    """The "Results (CSV)" download is the CLI's CSV (unchanged: no comment lines) and the new "Provenance (JSON)"
    beside it is the CLI's OUT.csv.provenance.json for the same scenario plus ``parameter_edits``."""
    import json
    import warnings

    from ketasim import cli
    from ketasim.web import api

    form = api.default_form()
    status, _, yml = _post(server.url + "api/scenario.yaml", form)
    assert status == 200
    (tmp_path / "dash.yaml").write_bytes(yml)
    status, _, csv = _post(server.url + "api/results.csv", form)
    assert status == 200
    status, headers, prov = _post(server.url + "api/provenance.json", form)
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert 'filename="ketasim-results.csv.provenance.json"' in headers["content-disposition"]
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    out = tmp_path / "cli.csv"
    assert cli.main(["simulate", str(tmp_path / "dash.yaml"), "--typical", "--csv", str(out)]) == 0
    capsys.readouterr()
    assert csv.decode() == out.read_text(encoding="utf-8") and not csv.decode().startswith("#")
    sidecar = json.loads((tmp_path / "cli.csv.provenance.json").read_text(encoding="utf-8"))
    doc = json.loads(prov)
    assert doc.pop("parameter_edits") == {}
    assert doc == sidecar

    form["overrides"] = {"pk.fu": 0.6, "iiv.ka_intranasal_cv": 1.1}
    status, _, prov = _post(server.url + "api/provenance.json", form)
    doc = json.loads(prov)
    assert status == 200 and doc["parameter_edits"] == {
        "pk.fu": {"value": 0.6, "installed": 0.56, "unit": "fraction"},
        "iiv.ka_intranasal_cv": {"value": 1.1, "installed": 0.565, "unit": "dimensionless"}}
    assert doc["parameter_set"] == api.parameters_with(form["overrides"])[0].version != sidecar["parameter_set"]
    status, _, csv_edited = _post(server.url + "api/results.csv", form)
    assert status == 200 and csv_edited.decode().splitlines()[0] == csv.decode().splitlines()[0]
    form["overrides"] = {"pk.fu": 1.2}                      # a bad edit: the form's one-line error, no file
    status, _, body = _post(server.url + "api/provenance.json", form)
    assert status == 422 and json.loads(body)["errors"][0]["field"] == "overrides"


def test_the_trial_and_report_downloads_name_the_page_edits(server):
    import json

    from ketasim.web import api
    from test_web_api import _finished_job

    form = api.default_form()
    form["overrides"] = {"pk.fu": 0.6}
    status, _, html = _post(server.url + "api/report.html", form)
    text = html.decode()
    assert status == 200 and "parameter edits (dashboard)" in text and "pk.fu: 0.6 (installed: 0.56)" in text
    form["trial"] = {"size": "20", "seed": "3", "times": "24 h", "placebo_arm": False}
    status, _, body = _post(server.url + "api/trial", form)
    assert status == 200, body
    job = json.loads(body)["job"]
    st = _finished_job(server, job)
    assert st["status"] == "done", st
    d = json.loads(_post(server.url + f"api/trial/{job}/result.json")[2])
    assert d["parameter_edits"] == {"pk.fu": {"value": 0.6, "installed": 0.56, "unit": "fraction"}}
    assert list(d)[list(d).index("calibration_run") + 1] == "parameter_edits"
    status, _, html = _post(server.url + f"api/trial/{job}/report.html")
    assert status == 200 and "pk.fu: 0.6 (installed: 0.56)" in html.decode()
    # without edits: the row says none
    status, _, html = _post(server.url + "api/report.html", api.default_form())
    assert status == 200 and "none (the installed values)" in html.decode()



def test_the_page_offers_the_provenance_beside_the_csv(browser, dashboard, tmp_path):  # noqa: F811
    """The "Provenance (JSON)" button downloads the file the CLI writes beside its CSV (skipped without Chromium)."""
    import json

    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    with page.expect_download() as dl:
        page.click("#dl-prov")
    assert dl.value.suggested_filename == "ketasim-results.csv.provenance.json"
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["parameter_edits"] == {} and "units" in doc and "parameter_set" in doc
    assert not problems, problems
    ctx.close()


# ---- H3 Round 6 (R6-3): output.until does not shorten a randomized withdrawal's follow-up ----------------------------
def _withdrawal_dict(until="10 d", induction_until="14 d"):
    dose = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min",
            "every": "3.5 d"}
    return {"name": "w", "population": {"size": 6},
            "design": {"type": "randomized_withdrawal", "continue": "k", "withdraw": "m",
                       "induction_until": induction_until},
            "arms": {"k": [dict(dose, count=6)], "m": [dict(dose, count=4)]},
            "endpoints": {"times": ["24 h", "8 week"]}, "output": {"every": "1 h", "until": until}}


def test_output_until_does_not_cut_a_withdrawal_follow_up():
    import numpy as np

    from ketasim.errors import InputError
    from ketasim.scenario import scenario_from_dict
    from ketasim.trial import _trial_grid

    weeks = np.arange(0, 9) * 168.0
    for until in ("10 d", "22 d", None):
        d = _withdrawal_dict(until or "10 d")
        if until is None:
            del d["output"]
        _, horizon, extra, _, _ = _trial_grid(scenario_from_dict(d))
        # relapse visits weekly from randomization (14 d) to the last endpoint (8 weeks), whatever output.until says
        assert horizon == 8 * 168.0 and list(extra["visits"]) == list(weeks)
    # a longer output.until still extends the follow-up, as before
    _, horizon, extra, _, _ = _trial_grid(scenario_from_dict(_withdrawal_dict("10 week")))
    assert horizon == 10 * 168.0 and extra["visits"][-1] == 10 * 168.0
    # the message names the trial's end and why (was: "ends at 10 d (the last endpoint time, at least 28 d ...)")
    with pytest.raises(InputError, match=r"^design\.induction_until: randomization at 63 d leaves no weekly follow-up "
                                         r"visit before the trial ends at 56 d \(the last endpoint time\); "):
        _trial_grid(scenario_from_dict(_withdrawal_dict("10 d", "9 week")))


# ---- H3 Round 6 (R6-2): a stated patient is not "the population's typical patient" ---------------------------------
def test_a_stated_patient_report_names_the_stated_patient(tmp_path):
    import html

    pytest.importorskip("plotly")
    from ketasim import simulate
    from ketasim.report import simulation_report
    from ketasim.scenario import scenario_from_dict

    d = {"name": "stated", "seed": 1, "patient": {"weight_kg": 60, "age_years": 70, "sex": "male", "baseline": 30},
         "arms": {"k": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                         "duration": "40 min"}]},
         "output": {"every": "1 h", "until": "2 d"}}
    r = simulate(scenario_from_dict(d))
    assert r.provenance["typical_patient"] is True            # the engine simulates a stated patient's typical effects
    text = html.unescape(simulation_report(r, r, tmp_path / "p.html").read_text(encoding="utf-8"))
    assert "yes (the stated patient: its own covariates, no between-patient variability)" in text
    assert "the population's typical patient" not in text and "--typical or --size 1" not in text


# ---- H3 Round 6 (R6-1): 'day N' / 'week N' hints give both numberings and never a negative time ---------------------
def test_protocol_day_hint_gives_both_readings_and_no_negative_time():
    import re

    from ketasim.errors import UnitError
    from ketasim.units import parse_time_h

    def hint(text):
        with pytest.raises(UnitError) as e:
            parse_time_h(text, "at")
        return str(e.value)

    assert "day 28 is '27 d' if day 1 is the day of the first dose, '28 d' if that day is day 0" in hint("day 28")
    assert "week 4 runs from '3 week' to '4 week' if week 1 begins with the first dose, from '4 week' if that week " \
           "is week 0" in hint("week 4")
    for text in ("day 0", "Day 0", "week 0", "wk 0", "day 0.5", "day 1", "week 1"):
        msg = hint(text)
        assert not re.search(r"'-", msg), msg                     # it advised '-1 d' / '-1 week', then refused it
        for quoted in re.findall(r"'(\d[^']*)'", msg):            # every suggested time reads and is not negative
            assert parse_time_h(quoted, "at") >= 0
    assert "day 0 is '0 d' if day 0 is the day of the first dose" in hint("day 0")


# ---- H3 Round 6 (R6-4): one rule for "this trial reports only PK endpoints" -----------------------------------------
def test_one_rule_decides_a_pk_only_trial(monkeypatch):
    import dataclasses as dc
    import inspect
    from pathlib import Path

    from ketasim import external, load_scenario, trial
    from ketasim.errors import InputError
    from ketasim.trial import CI_SCOPE, CI_SCOPE_PK, reports_pk_only, run_trial

    sc = load_scenario(str(Path(__file__).parents[1] / "examples/pk/ddi_oral_esketamine_clarithromycin.yaml"))
    assert reports_pk_only(sc)
    mixed = dc.replace(sc, endpoints=dc.replace(sc.endpoints, measures=(*sc.endpoints.measures, "mean_change")))
    assert not reports_pk_only(mixed) and not reports_pk_only(dc.replace(sc, endpoints=None))
    # the trial's text and its --uncertainty refusal consult the one function (not copies of its rule)
    tr = run_trial(sc, n=4)
    assert CI_SCOPE_PK in tr.format_table()
    monkeypatch.setattr(trial, "reports_pk_only", lambda scenario: False)
    assert CI_SCOPE in tr.format_table() and CI_SCOPE_PK not in tr.format_table()
    monkeypatch.setattr(trial, "reports_pk_only", lambda scenario: True)
    with pytest.raises(InputError, match=r"^uncertainty: this trial reports only PK endpoints"):
        trial._uncertainty_draws(mixed, load_parameters(), 5, False, None, None)
    # and `ketasim external` calls it rather than repeating the rule
    src = inspect.getsource(external)
    assert "reports_pk_only(sc)" in src and "PK_MEASURES" not in src
