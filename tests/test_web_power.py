"""The dashboard's Trial power card (/api/power): the power of the virtual trial the trial card builds (its regimens
against the comparator, its population and seed) by replicate trials; the answer is ketasim.power's rows for that
scenario, the card's boxes are bounded, and every error names the card's box."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from _support import post_json

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("plotly")

from ketasim import power as power_module  # noqa: E402
from ketasim.power import run_power  # noqa: E402
from ketasim.web import api  # noqa: E402

STATIC = Path(api.__file__).with_name("static")


def trial_form(**power) -> dict:
    """The page's default form (one regimen) as the page sends it for a trial: a saline placebo arm, seed 7."""
    form = api.default_form()
    form["trial"] = {"size": 200, "seed": 7, "times": "2 h, 24 h, 7 d, 28 d", "placebo_arm": True}
    form["power"] = {"sizes": "10, 20, 40", "replicates": 200, **power}
    return form


def errors_of(form) -> list[dict]:
    with pytest.raises(api.FormErrors) as e:
        api.power_form(form)
    return e.value.errors


def _same_rows(out_rows, lib_rows):
    assert len(out_rows) == len(lib_rows) > 0
    for mine, lib in zip(out_rows, lib_rows):
        assert set(mine) == set(lib)
        for k, v in lib.items():
            if isinstance(v, float) and v != v:         # NaN in the library, null in the JSON answer
                assert mine[k] is None, k
            elif isinstance(v, float):
                assert mine[k] == pytest.approx(v, rel=1e-12, abs=1e-15), k
            else:
                assert mine[k] == v, k


def test_the_card_gives_run_powers_rows_for_the_trial_cards_scenario():
    form = trial_form(measure="response_rate", time="24 h")
    out = api.power_form(form)
    json.dumps(out, allow_nan=False)
    sc = api.build(form, trial=True).scenario
    assert [a.name for a in sc.arms] == ["ketamine 0.5 mg/kg IV", "placebo"] and sc.seed == 7
    lib = run_power(sc, sizes=[10, 20, 40], endpoints=["response_rate@24h"], replicates=200)
    _same_rows(out["rows"], lib.table().to_dict("records"))
    assert out["endpoint"] == "response_rate@24h" and out["time"] == "24 h"
    assert [r["n_per_arm"] for r in out["rows"]] == [10, 20, 40]
    # the power rises with the size, and the smallest size reaching the target is the library's
    pw = [r["power"] for r in out["rows"]]
    assert pw == sorted(pw) and pw[-1] > pw[0]
    (c,) = out["comparisons"]
    assert (c["arm"], c["versus"]) == ("ketamine 0.5 mg/kg IV", "placebo")
    need = lib.sample_sizes()["smallest_n_per_arm"].iloc[0]
    assert c["smallest_n_per_arm"] == (None if need != need else int(need))
    assert c["effect"] == pytest.approx(out["rows"][0]["effect"]) and c["effect"] > 0
    assert all(r["power_ci95_low"] <= r["power"] <= r["power_ci95_high"] for r in out["rows"])
    assert all(0 < r["normal_theory_power"] < 1 for r in out["rows"])
    # the figure: one band and one curve per comparison, the target as a dashed line
    assert [t["mode"] for t in out["figure"]["data"]] == ["lines", "lines+markers"]
    assert out["figure"]["layout"]["shapes"][0]["y0"] == pytest.approx(0.8)
    assert out["provenance"]["seed"] == 7 and out["provenance"]["replicates"] == 200
    assert out["notice"] == out["provenance"]["notice"] and "not medical advice" in out["notice"]
    assert "n for 80%" in out["table"]


def test_change_by_ancova_with_dropout_and_two_regimens_are_the_librarys():
    form = trial_form(measure="mean_change", time="7 d", test="ANCOVA", alpha="0.01", target=0.9, dropout=0.2,
                      sizes=[20, 60])
    form["regimens"].append({"name": "esketamine 56 mg IN", "enabled": True, "drug": "esketamine",
                             "route": "intranasal", "dose": "56", "dose_unit": "mg", "every": "3.5",
                             "every_unit": "d", "count": "8"})
    out = api.power_form(form)
    sc = api.build(form, trial=True).scenario
    lib = run_power(sc, sizes=[20, 60], endpoints=["mean_change@168h"], test="ancova", replicates=200, alpha=0.01,
                    target=0.9, dropout=0.2)
    _same_rows(out["rows"], lib.table().to_dict("records"))
    assert {c["arm"] for c in out["comparisons"]} == {"ketamine 0.5 mg/kg IV", "esketamine 56 mg IN"}
    assert {c["versus"] for c in out["comparisons"]} == {"placebo"}
    assert all(r["test"] == "ancova" and r["analysed_per_arm"] == pytest.approx(0.8 * r["n_per_arm"])
               for r in out["rows"])
    assert all(c["effect"] < 0 for c in out["comparisons"])         # a larger fall of the score than placebo's
    assert out["provenance"]["dropout"] == 0.2 and out["provenance"]["target_power"] == 0.9
    assert len(out["figure"]["data"]) == 4


def test_a_margin_is_the_librarys_non_inferiority_power():
    """The card's margin box (forty-third session): the rows are run_power's with that margin (one-sided at alpha/2,
    H0: the arm worse by the margin or more), above the plain power at each size; 0 is the plain power."""
    form = trial_form(measure="mean_change", time="24 h", margin="2")
    out = api.power_form(form)
    sc = api.build(form, trial=True).scenario
    lib = run_power(sc, sizes=[10, 20, 40], endpoints=["mean_change@24h"], replicates=200, margin=2)
    _same_rows(out["rows"], lib.table().to_dict("records"))
    assert out["provenance"]["margins"] == {"mean_change@24h": 2.0}
    assert {r["hypothesis"] for r in out["rows"]} == {"non-inferiority"}
    plain = api.power_form(trial_form(measure="mean_change", time="24 h", margin=0))
    assert "margins" not in plain["provenance"]
    assert all(m["power"] >= p["power"] for m, p in zip(out["rows"], plain["rows"]))


def test_blank_boxes_take_the_cards_defaults_and_the_time_follows_the_trials_times():
    form = trial_form()
    form["power"] = {"sizes": "", "measure": "", "time": "", "test": "", "alpha": "", "target": "", "dropout": "",
                     "replicates": 100}
    out = api.power_form(form)
    assert out["endpoint"] == "response_rate@24h"
    assert sorted({r["n_per_arm"] for r in out["rows"]}) == [10, 20, 40, 60, 80, 120]
    p = out["provenance"]
    assert (p["alpha"], p["target_power"], p["dropout"], p["tests"]["mean_change"]) == (0.05, 0.8, 0.0, "Welch t")
    # a trial without a 24 h endpoint: its first time after 0 h
    form["trial"]["times"] = "0 h, 7 d, 28 d"
    form["power"] = {"sizes": "10", "replicates": 100}
    assert api.power_form(form)["endpoint"] == "response_rate@168h"
    # a time the trial does not report is computed all the same (ratings drawn there too)
    form["power"] = {"sizes": "10", "replicates": 100, "time": "3 d"}
    assert api.power_form(form)["rows"][0]["time_h"] == 72.0
    assert api.meta()["power"]["sizes"] == api.DEFAULT_POWER_SIZES


@pytest.mark.parametrize("box, value, field", [
    ("sizes", "10, abc", "power.sizes"), ("sizes", "1", "power.sizes"), ("measure", "cadss_peak", "power.measure"),
    ("time", "0 h", "power.time"), ("time", "24", "power.time"), ("time", "soon", "power.time"),
    ("test", "mann-whitney", "power.test"), ("alpha", "0.7", "power.alpha"), ("alpha", "x", "power.alpha"),
    ("target", 1.5, "power.target"), ("dropout", 0.95, "power.dropout"), ("replicates", 50, "power.replicates"),
    ("margin", 500, "power.margin"), ("margin", "two", "power.margin"),
    ("replicates", 2.5, "power.replicates")])
def test_errors_name_the_cards_box(box, value, field):
    errs = errors_of(trial_form(**{box: value}))
    assert [e["field"] for e in errs] == [field]
    assert errs[0]["message"].startswith(f"{field}: ") and "\n" not in errs[0]["message"]


def test_every_broken_box_and_field_is_named_at_once():
    form = trial_form(sizes="10, x", alpha="0.05 or 0.01")
    form["patient"]["age_years"] = 7
    fields = {e["field"] for e in errors_of(form)}
    assert fields == {"patient.age_years", "power.sizes", "power.alpha"}
    form = trial_form()
    form["power"] = "20, 40"                                      # not the card's settings
    assert [e["field"] for e in errors_of(form)] == ["power.run"]


def test_a_trial_of_one_arm_is_told_what_to_add():
    form = trial_form()
    form["trial"]["placebo_arm"] = False
    (err,) = errors_of(form)
    assert err["field"] == "power.run" and "two arms" in err["message"] and "placebo arm" in err["message"]


@pytest.mark.parametrize("settings, field, words", [
    ({"sizes": "10, 1001"}, "power.sizes", "1,000"),
    ({"sizes": ", ".join(str(n) for n in range(10, 140, 10))}, "power.sizes", "at most 12 sizes"),
    ({"replicates": 5001}, "power.replicates", "5,000"),
    ({"sizes": "600, 800, 1000", "replicates": 5000}, "power.replicates", "10,000,000"),
    ({"sizes": "1000", "time": "3 years"}, "power.time", "would compute for"),
])
def test_bounded_work_is_refused_before_anything_runs(monkeypatch, settings, field, words):
    def never(*a, **k):
        raise AssertionError("run_power was called")

    monkeypatch.setattr(power_module, "run_power", never)
    errs = errors_of(trial_form(**settings))
    assert [e["field"] for e in errs] == [field]
    assert errs[0]["message"].startswith(f"{field}: ") and words in errs[0]["message"]


def test_pools_too_long_to_simulate_name_the_sizes(monkeypatch):
    monkeypatch.setattr(api, "MAX_POWER_SECONDS", 0.5)
    (err,) = errors_of(trial_form(sizes="1000", replicates=100))
    assert err["field"] == "power.sizes" and "pools of 10,000 virtual patients per arm" in err["message"]


def test_a_cancelled_request_stops_and_the_engine_is_free_between_chunks(monkeypatch):
    ev = threading.Event()
    ev.set()
    token = api.CANCEL.set(ev)
    try:
        with pytest.raises(api.Cancelled):
            api.power_form(trial_form())
    finally:
        api.CANCEL.reset(token)
    # between chunks of the pools the run lets go of the engine's lock: another thread can take it then
    free = []

    class Lock:
        def __init__(self, real):
            self.real = real

        def __enter__(self):
            return self.real.__enter__()

        def __exit__(self, *exc):
            return self.real.__exit__(*exc)

        def acquire(self, *a, **k):
            return self.real.acquire(*a, **k)

        def release(self):
            self.real.release()
            got = []

            def other():
                ok = self.real.acquire(blocking=False)
                got.append(ok)
                if ok:
                    self.real.release()

            t = threading.Thread(target=other)
            t.start()
            t.join()
            free.append(got == [True])

    monkeypatch.setattr(api, "ENGINE_LOCK", Lock(api.ENGINE_LOCK))
    monkeypatch.setattr(api, "POWER_YIELD_S", 0.0)
    api.power_form(trial_form())
    assert len(free) >= 2 and all(free)             # pools of 2,000 per arm in chunks of 200


def test_pool_run_estimate_is_the_pool_run_power_simulates():
    sc = api.build(trial_form(), trial=True).scenario
    pool, est = power_module.pool_run_estimate(sc, sizes=[10, 300], endpoints=["response_rate@24h"])
    assert pool == 3000 == run_power(sc, sizes=[10, 300], endpoints=["response_rate@24h"],
                                     replicates=100).provenance["pool"]
    small_pool, small = power_module.pool_run_estimate(sc, sizes=[10], endpoints=["response_rate@24h"])
    assert small_pool == power_module.MIN_POOL and 0 < small.seconds < est.seconds
    later = power_module.pool_run_estimate(sc, sizes=[10], endpoints=["response_rate@365d"])[1]
    assert later.seconds > small.seconds                  # the pools are simulated to the latest time asked
    with pytest.raises(ValueError, match="^sizes: "):
        power_module.pool_run_estimate(sc, sizes=[1])


def test_the_page_has_a_box_for_every_setting_the_card_sends():
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    js = (STATIC / "app.js").read_text(encoding="utf-8")
    for key in ("sizes", "measure", "time", "test", "alpha", "target", "dropout", "margin", "replicates"):
        assert f'data-field="power.{key}"' in html and f'data-msg="power.{key}"' in html, key
    assert 'data-msg="power.run"' in html and 'id="run-power"' in html and 'id="power-curves"' in html
    assert '"/api/power"' in js
    for m in power_module.MEASURES:
        assert f'<option value="{m}">' in html
    for t in power_module.TESTS:
        assert f'<option value="{t}">' in html


# ---- over HTTP -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    from ketasim.web.server import ServerThread

    with ServerThread(warm=False) as s:
        yield s


def test_api_power_over_http(server):
    form = trial_form(sizes="10, 30", replicates=100)
    status, body = post_json(server.url + "api/power", form)
    assert status == 200 and body["ok"] is True
    lib = run_power(api.build(form, trial=True).scenario, sizes=[10, 30], endpoints=["response_rate@24h"],
                    replicates=100)
    assert [r["power"] for r in body["rows"]] == lib.table()["power"].tolist()
    status, body = post_json(server.url + "api/power", trial_form(sizes="5000"))
    assert status == 422 and body["ok"] is False
    assert body["errors"][0]["field"] == "power.sizes" and body["errors"][0]["message"].startswith("power.sizes: ")


@pytest.mark.parametrize("section, field", [({"sizes": {"a": 1}}, "power.sizes"), ({"alpha": [0.05]}, "power.alpha"),
                                            ({"sizes": list(range(2, 50))}, "power.sizes"), ([1], "power.run"),
                                            ({"time": "x" * 201}, "power.time")])
def test_wrong_types_in_the_cards_section_are_422_naming_its_box(server, section, field):
    form = trial_form()
    form["power"] = section
    status, body = post_json(server.url + "api/power", form)
    assert status == 422 and [e["field"] for e in body["errors"]] == [field]
    assert "\n" not in body["errors"][0]["message"]


def test_a_rate_runs_the_z_test_whatever_the_disabled_test_box_holds():
    """Review R3-1: the page sends the disabled test box's last value ('ancova'); a rate is the z-test."""
    from ketasim.web import api

    out, errors = api.power_settings({"power": {"measure": "response_rate", "test": "ancova"}})
    assert not errors and out["test"] == "welch"
