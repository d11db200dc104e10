"""The dashboard's API: the form becomes the CLI's scenario, errors are the CLI's messages at the right field,
downloads match the CLI's files, trials run with progress, and nothing a request does stops the server."""

from __future__ import annotations

import copy
import json
import re
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("plotly")

from ketasim import cli  # noqa: E402
from ketasim.scenario import load_scenario, scenario_from_dict  # noqa: E402
from ketasim.web import api  # noqa: E402

STATIC = Path(api.__file__).with_name("static")


def two_regimens() -> dict:
    form = api.default_form()
    form["regimens"].append({"name": "esketamine 56 mg IN", "enabled": True, "drug": "esketamine",
                             "route": "intranasal", "dose": "56", "dose_unit": "mg", "every": "3.5",
                             "every_unit": "d", "count": "8"})
    return form


def cli_error(tmp_path, mapping, capsys, monkeypatch) -> str:
    """The one-line message ``ketasim simulate FILE --typical`` prints for a scenario mapping."""
    import yaml

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)   # main() replaces it
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    code = cli.main(["simulate", str(p), "--typical"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err[-1].startswith("error: ")
    return err[-1][len("error: "):]


def at_field(message: str, field: str) -> str:
    """The CLI's ``message`` as the page shows it at ``field``: a patient field's message names the field, not the
    scenario path (s42: 'population.crp_mg_l: must lie in 0-300 mg/L' under the CRP box), and says the card's one
    value as one value (s52: 'must lie in 20-250 kg, got 500', not the population's 'mean must lie in 20-250 kg and
    sd in 0-100 kg, got mean 500, sd 0'; exact texts in test_new_user_pass_s52_hn.py); the rest is the CLI's."""
    path, _, rest = message.partition(": ")
    if field.startswith("patient.") and path.startswith("population."):
        return f"{field}: {api._one_value(rest)}"
    return message


# ---- the form is the CLI's scenario --------------------------------------------------------------------------------
def test_form_yaml_loads_with_the_cli_reader(tmp_path):
    form = two_regimens()
    text = api.scenario_yaml(form)
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    sc = load_scenario(p)
    assert [a.name for a in sc.arms] == ["ketamine 0.5 mg/kg IV", "esketamine 56 mg IN"]
    esk = sc.arms[1].doses[0]
    assert (esk.amount, esk.per_kg, esk.every_h, esk.count) == (56.0, False, 84.0, 8)
    ket = sc.arms[0].doses[0]
    assert (ket.amount, ket.per_kg, ket.duration_h) == (0.5, True, pytest.approx(40 / 60))
    assert sc.population.size == 1 and sc.population.weight_kg.sd == 0
    assert sc == api.build(form).scenario


def test_patient_fields_reach_the_scenario():
    form = api.default_form()
    form["patient"].update({"weight_kg": "62", "age_years": "30", "sex": "male", "genotype": "met/met",
                            "crp_mg_l": "7.5", "condition": "ptsd", "scale": "caps5", "baseline": "50",
                            "treatment_resistant": False})
    pop = api.build(form).scenario.population
    assert (pop.weight_kg.mean, pop.age_years.mean, pop.female_fraction) == (62, 30, 0.0)
    assert (pop.genotype, pop.crp_mg_l, pop.condition, pop.scale, pop.baseline.mean) == ("met/met", 7.5, "ptsd", "caps5", 50)
    assert pop.treatment_resistant is False


@pytest.mark.parametrize("change, field", [
    (lambda f: f["regimens"][0].update(dose="-1"), "regimen.0.dose"),
    (lambda f: f["regimens"][0].update(dose="abc"), "regimen.0.dose"),
    (lambda f: f["regimens"][0].update(dose=""), "regimen.0.dose"),
    (lambda f: f["regimens"][0].update(duration_min="0"), "regimen.0.duration_min"),
    (lambda f: f["regimens"][0].update(count="3", every=""), "regimen.0.every"),
    (lambda f: f["regimens"][0].update(dose="50", dose_unit="mg/kg"), "regimen.0.dose"),
    (lambda f: f["regimens"][0].update(drug="midazolam", route="intranasal"), "regimen.0.route"),
    (lambda f: f["patient"].update(weight_kg="500"), "patient.weight_kg"),
    (lambda f: f["patient"].update(baseline="99"), "patient.baseline"),
    (lambda f: f["patient"].update(crp_mg_l="-2"), "patient.crp_mg_l"),
])
def test_errors_are_the_cli_messages_at_the_field(change, field, tmp_path, capsys, monkeypatch):
    form = api.default_form()
    change(form)
    with pytest.raises(api.FormErrors) as ei:
        api.build(form)
    (err,) = ei.value.errors
    assert err["field"] == field
    mapping = api.population_mapping(form["patient"])
    arms = {r["name"]: api.regimen_lines(r) for r in form["regimens"]}
    scenario = {"name": "ketasim-dashboard", "seed": 0, "population": mapping, "arms": arms, "output": {"every": "5 min"}}
    assert err["message"] == at_field(cli_error(tmp_path, scenario, capsys, monkeypatch), field)


def test_every_broken_field_is_reported_at_once():
    form = two_regimens()
    form["patient"]["age_years"] = "5"
    form["regimens"][0]["dose"] = "-1"
    form["regimens"][1]["count"] = "2.5"
    with pytest.raises(api.FormErrors) as ei:
        api.build(form)
    fields = [e["field"] for e in ei.value.errors]
    assert fields == ["patient.age_years", "regimen.0.dose", "regimen.1.count"]
    assert ei.value.errors[2]["message"].startswith("arms.esketamine 56 mg IN[0].count:")


def test_anesthetic_dose_is_a_warning_at_the_field_not_an_error():
    form = api.default_form()
    form["regimens"][0]["dose"] = "2"
    b = api.build(form)
    assert [w["field"] for w in b.warnings] == ["regimen.0.dose"]
    assert "anesthetic range" in b.warnings[0]["message"]


@pytest.mark.parametrize("name", ["A: ketamine -1 mg/kg IV", "arm.with.dots", "B[0]: odd"])
def test_errors_find_their_field_whatever_the_arm_name(name):
    form = api.default_form()
    form["regimens"][0].update(name=name, dose="-1")
    with pytest.raises(api.FormErrors) as ei:
        api.build(form)
    assert ei.value.errors[0]["field"] == "regimen.0.dose"
    assert ei.value.errors[0]["message"].startswith(f"arms.{name}[0].dose: ")


def test_duplicate_and_missing_names():
    form = two_regimens()
    form["regimens"][1]["name"] = form["regimens"][0]["name"]
    with pytest.raises(api.FormErrors) as ei:
        api.build(form)
    assert ei.value.errors[0]["field"] == "regimen.1.name"


# ---- simulation answer ---------------------------------------------------------------------------------------------
def _trace(out, arm, column):
    for tr in out["figure"]["data"]:
        if tr.get("meta", {}).get("arm") == arm and tr["meta"].get("column") == column:
            return tr
    raise KeyError((arm, column))


def test_simulate_answer_has_every_link_and_follows_the_dose():
    form = two_regimens()
    out = api.simulate_form(form)
    json.dumps(out, allow_nan=False)
    cols = {tr["meta"]["column"] for tr in out["figure"]["data"] if "meta" in tr and "column" in tr["meta"]}
    for c in ("cp_ketamine_ng_ml", "nmda_block_interneuron", "glutamate", "ampa", "bdnf", "mtorc1",
              "synaptic_proteins", "spine_density", "score", "cadss", "sbp_change_mmhg"):
        assert c in cols, c
    t = out["time_h"]
    assert t[0] == 0 and t[-1] >= 28 * 24 and all(b > a for a, b in zip(t, t[1:]))
    assert len(t) < 3000
    y1 = max(_trace(out, "ketamine 0.5 mg/kg IV", "cp_ketamine_ng_ml")["y"])
    form["regimens"][0]["dose"] = "1.0"
    out2 = api.simulate_form(form)
    y2 = max(_trace(out2, "ketamine 0.5 mg/kg IV", "cp_ketamine_ng_ml")["y"])
    assert y2 == pytest.approx(2 * y1, rel=0.02)       # linear PK: twice the dose, twice the peak
    assert out["provenance"]["ketasim_version"] and out["provenance"]["parameter_set"]
    assert [a["slot"] for a in out["arms"]] == [0, 1]
    for arm in out["chain"].values():
        assert all(len(v) == len(t) for v in arm.values())


def test_display_grid_is_dense_around_every_dose():
    sc = api.build(two_regimens()).scenario
    t = api.display_times(sc)
    for start in (0.0, 84.0, 168.0, 588.0):
        near = t[(t >= start) & (t <= start + 2)]
        assert len(near) >= 24, start                    # every 5 min for the first hours of each session


# ---- HTTP: a real server in a thread ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    from ketasim.web.server import ServerThread

    with ServerThread(warm=True) as s:
        yield s


def _request(url, data=None, method=None):
    body = json.dumps(data).encode() if isinstance(data, (dict, list)) else data
    req = urllib.request.Request(url, data=body, method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()


def _finished_job(server, job, *, timeout=120.0, progress=None):
    """A trial job's status once it no longer runs (GET api/trial/JOB every 0.05 s, at most ``timeout`` s: then its
    last status, still running); each poll's progress is appended to ``progress`` if given."""
    t0 = time.monotonic()
    while True:
        st = json.loads(_request(server.url + f"api/trial/{job}")[2])
        if progress is not None:
            progress.append(st["progress"])
        if st["status"] != "running" or time.monotonic() - t0 >= timeout:
            return st
        time.sleep(0.05)


def test_server_binds_loopback_and_serves_the_page_offline(server):
    assert server.url.startswith("http://127.0.0.1:")
    status, headers, body = _request(server.url)
    assert status == 200 and b"<title>ketasim dashboard</title>" in body
    status, headers, js = _request(server.url + "vendor/plotly.min.js")
    assert status == 200 and len(js) > 1_000_000 and headers["content-type"].startswith("text/javascript")
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), name   # no CDN, no remote asset
        assert "https://" not in text and "http://" not in text, name
        status, _, _ = _request(server.url + ("" if name == "index.html" else f"static/{name}"))
        assert status == 200


def test_http_simulate_errors_and_recovery(server, monkeypatch):
    url = server.url + "api/simulate"
    status, _, body = _request(url, api.default_form())
    assert status == 200 and json.loads(body)["ok"]
    status, _, body = _request(url, b"{not json")
    assert status == 400 and json.loads(body)["errors"][0]["message"] == "request: the body is not valid JSON"
    bad = api.default_form()
    bad["regimens"][0]["dose"] = "-1"
    status, _, body = _request(url, bad)
    err = json.loads(body)
    assert status == 422 and err["errors"][0]["field"] == "regimen.0.dose"
    assert err["errors"][0]["message"].endswith("must be positive, got -1 mg/kg")
    status, _, body = _request(url, [1, 2])
    assert status == 400

    def boom(form):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(api, "simulate_form", boom)
    status, _, body = _request(url, api.default_form())
    assert status == 500 and "simulated bug" in json.loads(body)["errors"][0]["message"]
    monkeypatch.undo()
    status, _, body = _request(url, api.default_form())
    assert status == 200, "the server keeps serving after a failure"
    status, _, _ = _request(server.url + "api/nothing-here")
    assert status == 404


def test_downloads_match_the_cli(server, tmp_path, capsys, monkeypatch):
    form = two_regimens()
    status, headers, yml = _request(server.url + "api/scenario.yaml", form)
    assert status == 200 and "attachment" in headers["content-disposition"]
    path = tmp_path / "dash.yaml"
    path.write_bytes(yml)
    status, _, csv = _request(server.url + "api/results.csv", form)
    assert status == 200
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    out = tmp_path / "cli.csv"
    assert cli.main(["simulate", str(path), "--typical", "--csv", str(out)]) == 0
    capsys.readouterr()
    assert csv.decode() == out.read_text(encoding="utf-8")
    head = csv.decode().splitlines()[0].split(",")
    assert head[:3] == ["arm", "subject", "time_h"] and "score" in head and "cadss" in head


def test_trial_runs_with_progress_and_reports(server):
    form = two_regimens()
    form["trial"] = {"size": "120", "seed": "5", "times": "24 h, 7 d", "placebo_arm": True}
    status, _, body = _request(server.url + "api/trial", form)
    assert status == 200, body
    job = json.loads(body)["job"]
    seen = []
    st = _finished_job(server, job, progress=seen)
    assert st["status"] == "done", st
    assert seen == sorted(seen) and st["progress"] == 1.0
    res = st["view"]["result"]
    assert list(res["arms"]) == ["ketamine 0.5 mg/kg IV", "esketamine 56 mg IN", "placebo"]
    assert res["seed"] == 5 and all(a["n"] == 120 for a in res["arms"].values())
    rows = [r for r in st["view"]["table"] if r["measure"] == "response_rate" and r["time"] == "24 h"]
    assert len(rows) == 3 and all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in rows)
    status, _, j = _request(server.url + f"api/trial/{job}/result.json")
    d = json.loads(j)
    assert status == 200 and set(d) >= {"scenario", "ketasim_version", "parameter_set", "seed", "arms"}
    ep = d["arms"]["placebo"]["endpoints"][0]
    assert set(ep) >= {"time_h", "scale", "measure", "value", "ci95"}
    status, _, html = _request(server.url + f"api/trial/{job}/report.html")
    assert status == 200 and b"Plotly.newPlot" in html
    status, _, yml = _request(server.url + "api/scenario.yaml?trial=1", form)
    sc = scenario_from_dict(__import__("yaml").safe_load(yml))
    assert sc.population.size == 120 and sc.endpoints.times_h == (24.0, 168.0) and len(sc.arms) == 3


def test_trial_size_limit_is_marked_at_the_field(server):
    form = api.default_form()
    form["trial"] = {"size": str(api.MAX_TRIAL_SIZE + 1)}
    status, _, body = _request(server.url + "api/trial", form)
    assert status == 422 and json.loads(body)["errors"][0]["field"] == "trial.size"
    form["trial"] = {"size": "0"}
    status, _, body = _request(server.url + "api/trial", form)
    err = json.loads(body)["errors"][0]
    assert status == 422 and err["field"] == "trial.size" and err["message"].startswith("population.size:")
    form["trial"] = {"size": "10", "times": "2 h, soon"}
    status, _, body = _request(server.url + "api/trial", form)
    assert status == 422 and json.loads(body)["errors"][0]["field"] == "trial.times"


def test_unknown_trial_job(server):
    status, _, body = _request(server.url + "api/trial/t999")
    assert status == 404


def test_copy_of_default_form_is_not_shared():
    a = api.default_form()
    b = copy.deepcopy(a)
    a["regimens"][0]["dose"] = 9
    assert api.default_form() == b
