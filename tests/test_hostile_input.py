"""Issue 11: inputs that used to freeze, exhaust or traceback now fail fast with one line naming the field."""

from __future__ import annotations

import os
import threading
import time

import pytest

import ketasim
from ketasim import errors as E
from ketasim import limits
from ketasim.cli import main
from ketasim.scenario import load_scenario, parse_scenario_yaml, scenario_from_dict
from ketasim.units import parse_dose, parse_time_h

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}


def sc(line=None, population=None, **top):
    d = {"name": "h", "population": {"size": 1, **(population or {})}, "arms": {"k": [line or KET]}}
    d.update(top)
    return d


def one_line(err, *fragments):
    msg = str(err.value if hasattr(err, "value") else err)
    assert "\n" not in msg and len(msg) < 400, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


def fast(fn, seconds=2.0):
    """Run fn in a thread; fail if it does not finish within ``seconds`` (a hang or a slow refusal)."""
    box = {}

    def run():
        t0 = time.perf_counter()
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported to the test
            box["error"] = e
        box["dt"] = time.perf_counter() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"did not finish within {seconds} s"
    return box


@pytest.fixture(scope="module", autouse=True)
def _warm_pint():
    """Create pint's registry first (~0.3 s), so the time limits below measure the parsing alone."""
    parse_time_h("1 h", "t")
    parse_dose("1 mg/kg", "d")
    import ketasim.engine  # noqa: F401 - numba and the compiled kernel load once, outside the time limits


# ---- quantities: a strict grammar before pint ----------------------------------------------------------------------
@pytest.mark.parametrize("text", ["56 mg * 10**10**10", "56 mg*10**10", "1 mg + 2 mg", "(56 mg)", "56 mg; x",
                                  "56 __import__", "5 mg/(kg)", "56 mg 1", "56 m" + "g" * 100])
def test_unit_expressions_are_refused_not_evaluated(text):
    box = fast(lambda: parse_dose(text, "arms.k[0].dose"), 3.0)
    assert isinstance(box.get("error"), E.UnitError), box
    one_line(box["error"], "arms.k[0].dose")


def test_long_unit_is_refused_at_once():
    box = fast(lambda: parse_time_h("1 " + "h" * 100_000, "arms.k[0].at"), 1.0)
    assert isinstance(box.get("error"), E.UnitError) and box["dt"] < 0.1
    one_line(box["error"], "arms.k[0].at", "at most 64 characters")


@pytest.mark.parametrize("text, fragment", [("1e400 h", "plausible"), ("1e18 h", "plausible"), ("-1e400 h", "plausible"),
                                            ("11 year", "10 years"), ("1e6 d", "10 years"), ("nan h", "cannot read"),
                                            ("inf h", "cannot read")])
def test_absurd_times_are_refused(text, fragment):
    with pytest.raises(E.UnitError) as info:
        parse_time_h(text, "output.times[1]")
    one_line(info, "output.times[1]", fragment)


def test_ordinary_quantities_still_parse():
    assert parse_time_h("10 year", "t") == pytest.approx(limits.MAX_TIME_H)
    assert parse_dose("0.5 mg / kg", "d") == (pytest.approx(0.5), "mg/kg")
    assert parse_dose("56 mg", "d") == (56.0, "mg")
    assert parse_time_h("1 week", "t") == 168.0


# ---- memory and time estimated from the real grid ------------------------------------------------------------------
@pytest.mark.parametrize("data, fragments", [
    (sc({**KET, "at": "1000 year"}), ["arms.k[0].at", "10 years"]),
    (sc({**KET, "every": "1000 d", "count": 2000}), ["arms.k", "beyond"]),
    (sc(output={"every": "1 s", "until": "10 year"}), ["output", "needs ~", "GB", "output less often"]),
    (sc(output={"times": ["0 h", "1e400 h"]}), ["output.times[1]"]),
    (sc({**KET, "at": "1e18 h"}), ["arms.k[0].at"]),
])
def test_runs_that_would_exhaust_the_machine_are_refused_before_allocating(data, fragments):
    box = fast(lambda: scenario_from_dict(data), 2.0)
    assert isinstance(box.get("error"), E.InputError), box
    one_line(box["error"], *fragments)


def test_largest_population_is_refused_in_memory_but_not_for_streamed_runs():
    s = scenario_from_dict(sc(population={"size": 2_000_000, "weight_kg": {"mean": 80, "sd": 10}}))
    box = fast(lambda: ketasim.simulate(s), 2.0)
    assert isinstance(box.get("error"), E.InputError), box
    one_line(box["error"], "GB", "stream")
    assert limits.check_scenario_run(s, chunk_patients=20_000).rows == 2_000_000 * s.n_output_times()
    s = scenario_from_dict(sc(output={"every": "1 min", "until": "10 year"}, population={"size": 100}))
    box = fast(lambda: ketasim.simulate(s), 2.0)
    assert isinstance(box.get("error"), E.InputError), box
    one_line(box["error"], "needs ~", "output less often")


def test_estimate_counts_the_real_grid_and_scales_with_the_inputs():
    one = limits.estimate_run(1000, 100, 672.0, n_resets=3)
    assert one.steps >= 672 / 2 and one.rows == 100_000
    assert limits.estimate_run(2000, 100, 672.0, n_resets=3).bytes > 1.9 * one.bytes
    assert limits.estimate_run(1000, 100, 6720.0, n_resets=3).steps > 9 * one.steps // 2
    streamed = limits.estimate_run(2_000_000, 100, 672.0, chunk_patients=10_000)
    assert streamed.bytes < limits.estimate_run(2_000_000, 100, 672.0).bytes / 50
    # the 2e6-patient default run does not fit; the same run streamed in chunks does
    with pytest.raises(E.InputError, match="needs ~"):
        limits.check_run(2_000_000, 113, 672.0)
    assert limits.check_run(2_000_000, 113, 672.0, chunk_patients=20_000).rows == 226_000_000


def test_memory_budget_comes_from_the_environment(monkeypatch):
    s = scenario_from_dict(sc(population={"size": 500, "weight_kg": {"mean": 80, "sd": 10}}))
    monkeypatch.setenv("KETASIM_MAX_MEMORY", "1MiB")
    assert limits.memory_budget() == 1 << 20
    with pytest.raises(E.InputError, match=r"1\.05 MB allowed"):
        ketasim.simulate(s)
    with pytest.raises(E.InputError, match=r"1\.05 MB allowed"):
        ketasim.run_trial(s, chunk=500)
    monkeypatch.setenv("KETASIM_MAX_SECONDS", "0.001")
    monkeypatch.setenv("KETASIM_MAX_MEMORY", "100GiB")
    with pytest.raises(E.InputError, match="compute for"):
        scenario_from_dict(sc(population={"size": 500, "weight_kg": {"mean": 80, "sd": 10}}))


def test_api_size_override_is_limited_like_the_yaml():
    s = scenario_from_dict(sc())
    for n in (3_000_000, 0, -5):
        with pytest.raises(E.InputError) as info:
            ketasim.simulate(s, n=n)
        one_line(info, "n:")
    with pytest.raises(E.InputError) as info:
        ketasim.simulate(s, n=2_000_000)
    one_line(info, "n:", "GB")


@pytest.mark.parametrize("times, fragment", [([float("nan")], "finite"), ([0.0, float("inf")], "finite"),
                                              ([0.0, 1e18], "10 years"), ([], "at least one"), ([-1.0], "0-"),
                                              ("0 h", "list"), ([[0.0, 1.0], [2.0, 3.0]], "flat")])
def test_output_times_are_checked_at_the_api(times, fragment):
    s = scenario_from_dict(sc())
    box = fast(lambda: ketasim.simulate(s, typical=True, output_times_h=times), 2.0)
    assert isinstance(box.get("error"), E.InputError), box
    one_line(box["error"], "output_times_h", fragment)


# ---- scenario files --------------------------------------------------------------------------------------------------
def test_deep_yaml_and_json_nesting_is_one_line(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text("name: x\narms: " + "[" * 600 + "]" * 600 + "\n", encoding="utf-8")
    with pytest.raises(E.ScenarioFileError) as info:
        load_scenario(p)
    one_line(info, "nested more than")
    p.write_text("name: x\narms:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 600)), encoding="utf-8")
    with pytest.raises(E.ScenarioFileError, match="nested more than"):
        load_scenario(p)
    deep: dict = {}
    cur = deep
    for _ in range(2000):
        cur["a"] = {}
        cur = cur["a"]
    with pytest.raises(E.InputError, match="nested more than"):
        scenario_from_dict({"name": "x", "arms": {"k": [KET]}, "design": deep})


def test_duplicate_yaml_keys_are_refused(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("name: a\nseed: 1\nseed: 2\narms:\n  k: [{drug: ketamine, route: iv, dose: 0.5 mg/kg, "
                 "duration: 40 min}]\n", encoding="utf-8")
    with pytest.raises(E.ScenarioFileError) as info:
        load_scenario(p)
    one_line(info, str(p), "line 3", "duplicate key 'seed'")
    with pytest.raises(E.ScenarioFileError, match="duplicate key 'dose'"):
        parse_scenario_yaml("a: [{dose: 1 mg, dose: 2 mg}]")


def test_yaml_alias_bomb_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    box = fast(lambda: parse_scenario_yaml("\n".join(lines)), 2.0)
    assert isinstance(box.get("error"), E.ScenarioFileError), box
    one_line(box["error"], "aliases are expanded")


def test_scenario_path_must_be_a_small_regular_file(tmp_path):
    for path, fragment in [("/dev/zero", "not a regular file"), (str(tmp_path), "is a directory"),
                           (str(tmp_path / "none.yaml"), "no such scenario file")]:
        box = fast(lambda: load_scenario(path), 2.0)
        assert isinstance(box.get("error"), E.ScenarioFileError), (path, box)
        one_line(box["error"], path, fragment)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    box = fast(lambda: load_scenario(fifo), 2.0)
    assert isinstance(box.get("error"), E.ScenarioFileError), box
    one_line(box["error"], "not a regular file")
    big = tmp_path / "big.yaml"
    big.write_text("name: x\n#" + "x" * (limits.MAX_SCENARIO_BYTES + 10) + "\n", encoding="utf-8")
    with pytest.raises(E.ScenarioFileError, match="larger than"):
        load_scenario(big)


# ---- bad values -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, fragments", [
    (sc(seed=-1), ["seed: must be >= 0, got -1"]),
    (sc(seed=2**70), ["seed"]),
    (sc(endpoints={"times": ["24 h"], "remission_threshold": float("nan")}), ["endpoints.remission_threshold", "finite"]),
    (sc(endpoints={"times": ["24 h"], "remission_threshold": 1e308}), ["endpoints.remission_threshold", "[0, 60]"]),
    (sc(endpoints={"times": ["24 h"], "response_reduction": float("nan")}), ["endpoints.response_reduction"]),
    (sc(population={"female_fraction": float("nan")}), ["population.female_fraction"]),
    (sc(population={"expectancy": float("inf")}), ["population.expectancy"]),
    (sc(design={"type": "randomized_withdrawal", "continue": ["k"], "withdraw": "k"}), ["design.continue"]),
    (sc(design={"type": "randomized_withdrawal", "relapse_score": "many", "continue": "k", "withdraw": "k"}),
     ["design.relapse_score"]),
    (sc(design={"type": "randomized_withdrawal", "induction_until": 28, "continue": "k", "withdraw": "k"}),
     ["design.induction_until"]),
    (sc(design={1: "x", "type": "parallel"}), ["design"]),
    (sc(design={"type": ["parallel"]}), ["design.type"]),
    (sc(design={"criterion": {"a": 1}}), ["design.criterion"]),
    (sc(design={"contol": "k"}), ["design.contol", "unknown field"]),
    (sc(design={"control": "nope"}), ["design.control", "nope"]),
    (sc(name="x" * 1000), ["name"]),
])
def test_bad_values_are_one_line_errors(data, fragments):
    with pytest.raises(E.InputError) as info:
        scenario_from_dict(data)
    one_line(info, *fragments)


# ---- the CLI: exit codes and one line --------------------------------------------------------------------------------
@pytest.fixture()
def scen(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\narms:\n  k: [{drug: ketamine, route: iv, dose: 0.5 mg/kg, duration: 40 min}]\n",
                 encoding="utf-8")
    return p


@pytest.mark.parametrize("args, fragment", [
    (["--size", "0"], "--size"), (["--size", "-5"], "--size"), (["--size", "10000000"], "--size"),
    (["--seed", "-1"], "--seed"), (["--size", "1e7"], "--size"),
    # (2,000,000 patients with --csv are now streamed in chunks (issue 10), not refused; the refusals of what
    # cannot be streamed are in tests/test_scale.py)
])
def test_cli_refuses_bad_options_with_one_line(scen, tmp_path, capsys, args, fragment):
    out = tmp_path / "o.csv"
    code = main(["simulate", str(scen), "--csv", str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
    assert not out.exists()


def test_cli_scenario_path_that_is_a_device(capsys):
    code = main(["simulate", "/dev/zero"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["error: /dev/zero: not a regular file (a device, pipe or socket cannot be a scenario)"]


def test_calibrate_with_too_few_patients_is_one_line(capsys, tmp_path):
    code = main(["calibrate", "--size", "0", "--max-evaluations", "1", "--out", str(tmp_path / "p.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --size: ")
    code = main(["calibrate", "--size", "5", "--max-evaluations", "0", "--out", str(tmp_path / "p.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --max-evaluations: ")     # the option's name


def test_calibrate_subgroup_without_patients_names_it(monkeypatch):
    """`calibrate --size 5` used to traceback (an empty >= 65 y subgroup); now one InputError naming it."""
    import numpy as np

    from ketasim import calibration as C

    targets, _ = C.build_targets()
    t = next(t for t in targets if t.kind in ("sbp180", "dbp110", "sbp_rise40", "dbp_rise25"))

    sim = C._ArmSim(score=np.ones((3, 2)), baseline=np.ones(3), times=np.array([0.0, 24.0]),
                    sessions=np.zeros((3, 1, 7)), female=np.zeros(3, bool), age=np.full(3, 30.0),
                    sbp=np.zeros((3, 2)), dbp=np.zeros((3, 2)), bp0=np.full((3, 2), 120.0))

    monkeypatch.setattr(C, "_select", lambda sims, file, arm, *_: [(sim, np.zeros(3, bool), 1.0)])
    with pytest.raises(E.InputError) as info:
        C.predict(t, {}, ketasim.load_parameters())
    one_line(info, "size", "subgroup")


@pytest.mark.parametrize("argv, fragment", [
    (["serve", "--port", "99999"], "--port"), (["qualify", "--size", "0"], "--size"),
    (["demo", "--size", "-1", "--out", "{tmp}"], "--size: must lie in"),
    (["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--count", "0"], "count"),
    (["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--weight", "nan"], "--weight:"),
    (["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--experiment", "ampa_block=nan"],
     "--experiment ampa_block: must be a finite number"),
    (["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "56 mg * 10**10**10"], "dose"),
    (["trial", "/dev/null", "--size", "0"], "--size"),
])
def test_more_cli_options_are_one_line(argv, fragment, capsys, tmp_path):
    code = main([a.replace("{tmp}", str(tmp_path / "demo")) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
