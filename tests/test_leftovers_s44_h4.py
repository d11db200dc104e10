"""Forty-fourth session, H4: the forty-third session's found-not-fixed items (/work/coord/s43/H1_log.md, H4_log.md,
H9_log.md, H11_log.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _support import benchmark_module, run_cli
from test_web_browser import browser, dashboard  # noqa: F401  (fixtures: Chromium and `ketasim serve`)

ROOT = Path(__file__).resolve().parents[1]


# ---- 1. qualify --cv-json writes strict JSON -------------------------------------------------------------------------
def test_qualify_cv_json_is_strict_json_and_cv_per_trial_reads_its_nulls(monkeypatch, capsys, tmp_path):
    """A summary figure without rows of its kind (mae_mmhg of a run without mmHg rows) was written as NaN, which
    strict JSON readers refuse; it is null now, and benchmarks/cv_per_trial.py reads it back as NaN."""
    from ketasim import calibration

    nan = float("nan")

    def summary(rows):
        return {"rows": len(rows), "mae_points": 2.5, "mae_percentage_points": 9.0, "mae_sd_points": 1.5,
                "inside_interval": 0.9, "mae_mmhg": nan}

    cv = {"in_sample": [], "out_of_sample": [], "folds": [{"left_out": "x", "objective": 1.0,
                                                             "summary": {"mae_mmhg": nan, "mae_points": 3.0}}],
          "in_sample_fit": {"objective": __import__("numpy").float64(1.5)}}
    monkeypatch.setattr(calibration, "qualify", lambda *a, **k: ([], []))
    monkeypatch.setattr(calibration, "qualification_summary", summary)
    monkeypatch.setattr(calibration, "format_summary", lambda s: "summary")
    monkeypatch.setattr(calibration, "cross_validate", lambda *a, **k: dict(cv))     # the default --cv-method refit
    monkeypatch.setattr(calibration, "qualification_html", lambda *a, **k: None)
    out = tmp_path / "cv.json"
    code, stdout, err = run_cli(capsys, "qualify", "--cross-validate", "--jobs", "1", "--cv-json", str(out), "--size", "50",
                                "--html", str(tmp_path / "q.html"))
    text = out.read_text()
    assert "NaN" not in text
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert doc["summary_out_of_sample"]["mae_mmhg"] is None and doc["folds"][0]["summary"]["mae_mmhg"] is None
    assert doc["summary_out_of_sample"]["mae_points"] == 2.5 and doc["in_sample_fit"]["objective"] == 1.5
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".*tmp"))
    loaded = benchmark_module("cv_per_trial")._load(str(out))
    assert math.isnan(loaded["summary_out_of_sample"]["mae_mmhg"])
    assert math.isnan(loaded["summary_in_sample"]["mae_mmhg"]) and math.isnan(loaded["folds"][0]["summary"]["mae_mmhg"])
    assert loaded["summary_in_sample"]["mae_points"] == 2.5


# ---- 2. a record's dose checks use its WT ------------------------------------------------------------------------
def _record(tmp_path, name, wt, amount, dur, route):
    path = tmp_path / f"{name}.csv"
    path.write_text("ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
                    f"1,0,0,,,,,,30,madrs,{wt},41,F\n1,0.5,1,{amount},mg,{dur},racemic-ketamine,{route},,,,,\n"
                    "1,24,0,,,,,,20,madrs,,,\n")
    return path


def _read_warnings(path):
    import warnings

    from ketasim.errors import DoseWarning
    from ketasim.record import read_record
    from ketasim.summary import record_anesthetic_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = read_record(path)
    return rec, [str(w.message) for w in caught if issubclass(w.category, DoseWarning)], record_anesthetic_warnings(rec)


def test_a_records_mg_dose_is_judged_at_its_weight(tmp_path):
    """0.9 mg is 0.0129 mg/kg at the 70-kg reference weight (no warning) but 0.0075 mg/kg at the record's WT 120
    (far below any studied dose); 0.6 mg at WT 40 is 0.015 mg/kg (no warning; 0.0086 at 70 kg warned)."""
    _, heavy, _ = _read_warnings(_record(tmp_path, "heavy", 120, 0.9, 0.6667, "iv-infusion"))
    assert len(heavy) == 1 and "0.0075 mg/kg at the record's WT of 120 kg" in heavy[0] and "far below" in heavy[0]
    _, light, _ = _read_warnings(_record(tmp_path, "light", 40, 0.6, 0.6667, "iv-infusion"))
    assert light == []
    # the Python dose line keeps the reference weight (a scenario's line does not know its patients)
    from ketasim.regimen import Dose, Drug, Route

    with pytest.warns(Warning, match="at the 70 kg reference weight"):
        Dose(Drug.RACEMIC_KETAMINE, Route.IV_INFUSION, 0.6, False, 0.6667)
    with pytest.warns(Warning, match="anesthetic range"):
        at_50 = Dose(Drug.RACEMIC_KETAMINE, Route.IV_BOLUS, 60.0, False, weight_kg=50.0)
    assert at_50 == Dose(Drug.RACEMIC_KETAMINE, Route.IV_BOLUS, 60.0, False)      # not part of the dose's identity
    assert repr(at_50) == repr(Dose(Drug.RACEMIC_KETAMINE, Route.IV_BOLUS, 60.0, False))


def test_a_records_anesthetic_dose_is_judged_at_its_weight_and_warns_once(tmp_path):
    """60 mg pushed is 1.2 mg/kg at WT 50: the row warns (at 70 kg it did not, and only the patient's simulation
    did); the cumulative check adds nothing. 90 mg pushed at WT 120 (0.75 mg/kg) warns of nothing (at 70 kg it
    was 1.29 mg/kg and warned)."""
    rec, light, cumulative = _read_warnings(_record(tmp_path, "light", 50, 60, 0, "iv-bolus"))
    assert len(light) == 1 and "row 2, column AMT: 60 mg iv-bolus is in the anesthetic range" in light[0]
    assert cumulative == [] and rec.doses[0].in_anesthetic_range()
    rec, heavy, cumulative = _read_warnings(_record(tmp_path, "heavy", 120, 90, 0, "iv-bolus"))
    assert heavy == [] and cumulative == [] and not rec.doses[0].in_anesthetic_range()


def test_simulate_events_warns_once_at_the_records_weight(capsys, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, "simulate", "--events", str(_record(tmp_path, "light", 50, 60, 0, "iv-bolus")))
    lines = [ln for ln in err.splitlines() if "anesthetic range" in ln]
    assert code == 0 and len(lines) == 1 and "light.csv row 2, column AMT" in lines[0], err


# ---- 3. qualification_html keeps the caller's matplotlib backend -------------------------------------------------
def test_qualification_html_keeps_the_users_backend(tmp_path):
    """calibration.qualification_html called matplotlib.use("Agg") (a notebook's own plots stopped showing) and
    drew through pyplot; it draws on Figures of its own now."""
    import matplotlib
    import matplotlib.pyplot as plt

    from ketasim import calibration as cal
    from ketasim.parameters import load_parameters

    rows, skipped = cal.qualify(trials=["berman2000"], size=30, seed=3)
    before = matplotlib.get_backend()
    # a figure an earlier test left open: matplotlib 3.8-3.9 close it when the backend switches (with a deprecation
    # warning, an error here), so a count taken before the switch failed whatever qualification_html did (review
    # R1-3; 3.10+ keep it open)
    plt.close("all")
    matplotlib.use("svg")
    try:
        out = cal.qualification_html(rows, skipped, cal.qualification_summary(rows), load_parameters(),
                                     tmp_path / "q.html")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert plt.get_fignums() == []          # no pyplot figure of its own left open
    assert out.read_text().count("data:image/png;base64,") >= 1


# ---- 4. choice options in any letter case ------------------------------------------------------------------------
def test_choice_values_in_any_case():
    """--experiment switches, --pk-dose/--pk-sample, --endpoint measures (sensitivity, covariates, power), plan's
    --minimise/--variable/--limits keys and --parameters patterns were refused in upper case ('Last', 'CADSS_PEAK');
    the five options fixed in the forty-third session read any case (limits.check_choice)."""
    from ketasim import cli, covariates, personal, power
    from ketasim.scenario import quick_scenario
    from ketasim.sensitivity import parse_endpoint, parameter_matches

    assert cli._experiment(["MTOR_BLOCK=1"]).mtor_block == 1.0
    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    plans = cli._pk_plan(sc, "Last", " ARTERIAL", False, None)
    assert [(p.dose, p.sample) for p in plans] == [("last", "arterial")]
    assert [p.dose for p in cli._pk_plan(sc, "BOTH", None, False, None)] == ["first", "last"]
    assert parse_endpoint("Mean_Change@24h") == parse_endpoint("mean_change@24h")
    assert parse_endpoint("CADSS_PEAK") == parse_endpoint("cadss_peak")
    assert power._harm_endpoint("Nausea_Rate", "--endpoint").measure == "nausea_rate"
    pk, pd_ = covariates._split_endpoints(["CMAX", "Response_Rate@1d"])
    assert pk == ["cmax"] and [e.label for e in pd_] == [parse_endpoint("response_rate@24h").label]
    assert personal.parse_limits("CADSS=25,Sessions_Per_Week=1").cadss == 25
    assert parameter_matches("pk.ketamine.q2", ["PK.KETAMINE.Q2"], ()) and parameter_matches("x", ["@FREE"], ("x",))
    assert not parameter_matches("pk.ketamine.q2", ["PK.KETAMINE.Q3"], ())


def test_choice_values_in_any_case_still_refuse_other_words():
    from ketasim import cli
    from ketasim.errors import InputError
    from ketasim.scenario import quick_scenario
    from ketasim.sensitivity import parse_endpoint

    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    with pytest.raises(InputError, match=r"^--pk-dose: use first, last or both, got 'Lats'$"):
        cli._pk_plan(sc, "Lats", None, False, None)
    with pytest.raises(InputError, match=r"unknown measure 'CADSS_PEEK'"):
        parse_endpoint("CADSS_PEEK")


def test_plan_minimise_and_variable_in_any_case():
    """Checked before the fit: an accepted value lets the call reach the next argument's check."""
    from ketasim.errors import InputError
    from ketasim.personal import personal_plan

    rec = ROOT / "examples" / "patient" / "patient_101.csv"
    with pytest.raises(InputError, match="n_samples"):
        personal_plan(rec, minimise="Exposure", n_samples=0)
    with pytest.raises(InputError, match="minimise: use sessions or exposure, got 'least'"):
        personal_plan(rec, minimise="least", n_samples=0)
    with pytest.raises(InputError, match="^alternative: expected a list"):
        personal_plan(rec, variables=("CP_KETAMINE_NG_ML", "Score"), alternative="x")


def test_dask_local_in_any_case(monkeypatch):
    import dask.distributed as dd

    from ketasim.distributed import DaskExecutor

    started = []

    class Cluster:
        def __init__(self, **kw):
            started.append(kw)

    class Client:           # a quiet executor runs one set-up function on the workers (fiftieth session)
        def __init__(self, cluster):
            self.cluster = cluster

        def run(self, fn):
            return {}

    monkeypatch.setattr(dd, "LocalCluster", Cluster)
    monkeypatch.setattr(dd, "Client", Client)
    DaskExecutor("LOCAL")
    assert len(started) == 1


def test_pk_options_in_any_case_on_the_command_line(capsys):
    code, out, err = run_cli(capsys, "simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "56 mg",
                             "--pk", "--pk-dose", "Last", "--pk-sample", "Arterial")
    assert code == 0 and "error" not in err, err
    assert "arterial" in out.lower()


# ---- 5. the dashboard's covariates card shows the page's warnings --------------------------------------------------
@pytest.mark.parametrize("regimen,says", [
    (dict(route="iv-bolus", dose=1.5, dose_unit="mg/kg"), "is in the anesthetic range"),
    (dict(dose=0.5, dose_unit="µg/kg"), "far below any studied dose"),
    # two pushes that only add up to the anesthetic range (the simulate card warns at the dose field)
    (dict(route="iv-bolus", dose=0.9, dose_unit="mg/kg", every="10", every_unit="min", count=2),
     "together its doses are in the anesthetic range"),
])
def test_covariates_card_shows_the_regimens_warnings(regimen, says):
    pytest.importorskip("starlette")
    from ketasim.web import api

    form = api.default_form()
    form["regimens"][0].update(regimen)
    out = api.covariates_form(form)
    hits = [w for w in out["warnings"] if says in w["message"]]
    assert len(hits) == 1 and hits[0]["field"] == "covariates.run", out["warnings"]
    js = (ROOT / "src" / "ketasim" / "web" / "static" / "app.js").read_text(encoding="utf-8")
    card = js[js.index("async function runCovariates"):js.index("/* ---------- trial power")]
    assert 'showMessages(body.warnings, "warning")' in card


def test_covariates_card_leaves_out_the_other_regimens_warnings():
    pytest.importorskip("starlette")
    from ketasim.web import api

    form = api.default_form()
    form["regimens"].append({**form["regimens"][0], "name": "pushed", "route": "iv-bolus", "dose": 1.5})
    assert any("anesthetic range" in w["message"] for w in api.simulate_form(form)["warnings"])
    assert api.covariates_form(form)["warnings"] == []


def test_covariates_card_shows_the_warning_in_the_browser(browser, dashboard):
    """The warning reaches the card's own line on the page (Chromium; skipped without it, as test_web_browser)."""
    from test_web_browser import _new_page, _wait_new_answer

    ctx, page, problems = _new_page(browser)
    page.goto(dashboard)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    seq = page.evaluate("document.body.dataset.seq")
    page.fill('[data-field="regimen.0.dose"]', "3")          # 3 mg/kg over 40 min: the anesthetic range
    _wait_new_answer(page, seq)
    page.click("#run-covariates")
    page.wait_for_function("() => document.body.dataset.covariates === 'done'", timeout=60000)
    line = page.locator('[data-msg="covariates.run"]')
    assert "anesthetic range" in line.text_content() and "warning" in line.get_attribute("class")
    assert not problems, problems
    ctx.close()


# ---- 6. SIGTERM while a ctypes callback runs (numba compiling) -------------------------------------------------------
from _support import SWALLOWED_SIGNAL_SCRIPT as _SWALLOWED_SIGTERM  # noqa: E402 (run with SIGNAL=SIGTERM)


def test_a_sigterm_inside_a_ctypes_callback_still_terminates(tmp_path):
    """cli._on_sigterm raised inside a numba/llvmlite ctypes callback: ctypes printed 'Exception ignored on calling
    ctypes callback function' and the run went on to completion (7 min, a 15 GB parquet). The signal is delivered
    again until main() has caught it: one line, exit 143, no output file."""
    import os
    import subprocess
    import sys

    script = tmp_path / "swallow.py"
    script.write_text(_SWALLOWED_SIGTERM, encoding="utf-8")
    out = tmp_path / "out.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NUMBA_NUM_THREADS": "1", "AFTER_S": "120",
           "SIGNAL": "SIGTERM"}
    proc = subprocess.run([sys.executable, str(script), "simulate", "--drug", "esketamine", "--route", "intranasal",
                           "--dose", "56 mg", "--size", "3", "--csv", str(out)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and ln != "signalled"]
    assert proc.returncode == 143, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("terminated: stopped before completing"), proc.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    # a lost signal fails above, timing nothing: the child then rests its 120 s and completes (exit 0, its file
    # written), within the 300 s timeout (a timed assertion added only the machine's load; review s45 R7)
    assert "wrote" not in proc.stdout


# ---- 7. the run-time estimate against measured streamed runs ----------------------------------------------------
def test_the_time_estimate_of_a_streamed_run_is_within_a_factor_of_its_measured_time():
    """H11 (s43) saw a streamed run take ~7 min against the estimate's ~36 min. Measured this session (1 numba
    thread, 2 loaded cores; estimate / measured): design_example 4,000 in memory 0.95, streamed 1.03, 20,000 1.11,
    100,000 (chunk 20,000) 1.12; 28 d of nasal esketamine 0.64-1.0; one infusion 0.79; sustain1-like 0.79-0.86; three
    devices per session x 8 sessions, 2 arms 0.71: not pessimistic. Pinned here without timing anything (a timed
    unit test depends on the machine's load; review R3-6): the estimates of benchmarks/bench_estimate.py's cases
    stay within 2.5x of the times that script measured, and in their ratio within 2.5x (a change of the cost model
    that breaks this needs the benchmark re-run)."""
    from ketasim import limits

    bench = benchmark_module("bench_estimate")
    estimated = {k: limits.estimate_scenario_run(build(), n).seconds for k, (build, n) in bench.CASES.items()}
    measured = bench.MEASURED_S
    assert set(estimated) == set(measured)
    for k in measured:
        assert 1 / 2.5 < estimated[k] / measured[k] < 2.5, (k, estimated[k], measured[k])
    relative = (estimated["design"] / estimated["single"]) / (measured["design"] / measured["single"])
    assert 1 / 2.5 < relative < 2.5, (estimated, measured)


# ---- 8. power: the search's default pool, a family mixing benefit and harm, Farrington-Manning in the docs ---------
def test_power_search_caps_its_default_pool_and_says_so(monkeypatch):
    """`--sizes auto --max-size 100000` made pools of 1,000,000 patients per arm whatever size the search found;
    the default pool of a search is capped (power.SEARCH_POOL_CAP, or the largest arm the search may evaluate)."""
    from ketasim import power
    from ketasim.scenario import load_scenario

    seen = {}

    def stop(scenario, sizes, eps, pairs, ratio, paired, pool):
        seen["pool"] = power._pool_size(pool, [*sizes, *(power.versus_size(n, ratio) for n in sizes)])
        raise SystemExit(0)

    monkeypatch.setattr(power, "_pool_setup", stop)
    sc = load_scenario(ROOT / "examples" / "design_example.yaml")
    lines = []
    with pytest.raises(SystemExit):
        power.run_power(sc, arm="ketamine", sizes="auto", max_size=100_000, endpoints=["response_rate@24h"],
                        log=lines.append)
    assert seen["pool"] == 100_000 and len(lines) == 1 and "1,000,000, is capped" in lines[0], lines
    for max_size, pool in ((20_000, power.SEARCH_POOL_CAP), (500, 5000)):   # below the cap: 10x as before
        lines.clear()
        with pytest.raises(SystemExit):
            power.run_power(sc, arm="ketamine", sizes="auto", max_size=max_size, endpoints=["response_rate@24h"],
                            log=lines.append)
        assert seen["pool"] == pool and bool(lines) == (max_size == 20_000), (max_size, lines)
    with pytest.raises(SystemExit):          # a pool given is the pool used
        power.run_power(sc, arm="ketamine", sizes="auto", max_size=100_000, endpoints=["response_rate@24h"],
                        pool=200_000, log=lines.append)
    assert seen["pool"] == 200_000


def test_power_search_says_when_it_evaluated_sizes_above_a_tenth_of_the_capped_pool(monkeypatch):
    from ketasim import power
    from ketasim.scenario import load_scenario

    monkeypatch.setattr(power, "SEARCH_POOL_CAP", 200)        # the pool: the largest arm searched, 300
    sc = load_scenario(ROOT / "examples" / "design_example.yaml")
    lines = []
    # the 7-day change: a small effect (power ~0.1 at 40 per arm), so the search climbs above 30 (a tenth of the pool)
    power.run_power(sc, arm="ketamine", sizes="auto", max_size=300, endpoints=["mean_change@7d"],
                    replicates=100, log=lines.append)
    assert any("capped" in ln for ln in lines)
    assert any("the search evaluated sizes up to" in ln and "more than a tenth of the pool (300 per arm)" in ln
               for ln in lines), lines


def test_power_multiplicity_says_when_a_family_mixes_benefit_and_harm(capsys):
    """--multiplicity put harm and efficacy endpoints in one family without a word (its power_all then asks a trial
    to show both): the run and the table say so; a family of one kind does not."""
    argv = ["power", ROOT / "examples" / "design_example.yaml", "--arm", "ketamine", "--sizes", "20", "--replicates",
            "100", "--pool", "400", "--no-progress", "--multiplicity", "holm", "--endpoint", "response_rate@24h"]
    code, out, err = run_cli(capsys, *argv, "--endpoint", "nausea_rate")
    assert code == 0, err
    assert ("ketasim: --multiplicity: the family mixes efficacy endpoints (response_rate@24h) and harm endpoints "
            "(nausea_rate): 'all significant' then includes showing the harm") in err
    assert "The family mixes efficacy and harm endpoints: 'all' includes showing the harm" in out
    assert "Holm over 2 hypotheses" in out
    code, out, err = run_cli(capsys, *argv)
    assert code == 0 and "mixes" not in out + err and "Holm over 1 hypothesis " in out


def test_power_howto_says_farrington_manning_is_liberal_at_small_arms():
    text = " ".join((ROOT / "docs" / "howto" / "power.md").read_text(encoding="utf-8").split())
    assert "liberal, most at small arms" in text and "0.023-0.030 for a nominal 0.025" in text
    assert "A family that mixes efficacy and harm endpoints is run as asked" in text


# ---- 9. run_covariates runs its patients through patient_endpoint_values' own chunks -------------------------------
def test_covariates_has_no_chunk_loop_of_its_own_and_its_values_do_not_depend_on_the_chunk(monkeypatch):
    """run_covariates cut its patients into PD_CHUNK pieces and called patient_endpoint_values per piece (each piece's
    decision draws from 0); it passes all of them now and patient_endpoint_values chunks them (ENDPOINT_CHUNK, draws
    keyed by the patient's index). Checked this session: every value of three runs (quick nasal esketamine and the
    design example's ketamine arm at 45 patients, a typical patient; PD and PK endpoints) identical before and after,
    with the default chunk and a chunk of 7."""
    import ketasim.covariates as cov
    import ketasim.sensitivity as sens
    from ketasim.scenario import quick_scenario

    assert not hasattr(cov, "PD_CHUNK")
    sc = quick_scenario("esketamine", "intranasal", "56 mg")
    kw = dict(contrasts=["sex=female", "age=70"], endpoints=["cadss_peak", "response_rate@24h", "mean_change@24h"],
              n=20)
    whole = cov.run_covariates(sc, **kw).table()
    calls = []
    real = sens.patient_endpoint_values
    monkeypatch.setattr(sens, "patient_endpoint_values", lambda *a, **k: calls.append(k["patients"].n) or real(*a, **k))
    monkeypatch.setattr(sens, "ENDPOINT_CHUNK", 6)
    chunked = cov.run_covariates(sc, **kw).table()
    assert calls == [20, 20, 20, 20]            # every level's patients in one call (four levels)
    cols = ["value", "ci90_low", "ci90_high", "test_value", "reference_value"]
    assert chunked[cols].to_numpy().tolist() == whole[cols].to_numpy().tolist()
