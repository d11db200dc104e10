"""Issue 11: misuse of the Python API raises a KetasimError naming the argument, never a builtin error from deep
inside (``simulate("x.yaml")`` used to raise AttributeError). One table, one test per row."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import ketasim
from ketasim import errors as E
from ketasim.engine import VirtualExperiment
from ketasim.units import parse_dose, parse_quantity, parse_time_h

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
NAN, INF = float("nan"), float("inf")


@lru_cache(maxsize=1)
def SC():
    return ketasim.scenario_from_dict({"name": "m", "arms": {"k": [KET]}})


@lru_cache(maxsize=1)
def TRIAL_SC():
    return ketasim.scenario_from_dict({"name": "t", "population": {"size": 20}, "endpoints": {"times": ["24 h"]},
                                       "arms": {"k": [KET]}})


@lru_cache(maxsize=1)
def RESULT():
    return ketasim.simulate(SC(), typical=True, output_times_h=[0.0, 1.0])


def sim(**kw):
    return lambda: ketasim.simulate(SC(), **kw)


def trial(**kw):
    return lambda: ketasim.run_trial(TRIAL_SC(), **kw)


def quick(*a, **kw):
    return lambda: ketasim.quick_scenario(*a, **kw)


def sfd(**top):
    d = {"name": "m", "arms": {"k": [KET]}}
    d.update(top)
    return lambda: ketasim.scenario_from_dict(d)


def line(**ch):
    return lambda: ketasim.scenario_from_dict({"name": "m", "arms": {"k": [{**KET, **ch}]}})


# (id, call, fragment the message must contain)
CASES = [
    # simulate(scenario, ...)
    ("simulate path text", lambda: ketasim.simulate("x.yaml"), "scenario: expected a Scenario"),
    ("simulate Path", lambda: ketasim.simulate(Path("x.yaml")), "load_scenario"),
    ("simulate dict", lambda: ketasim.simulate({"name": "x"}), "scenario_from_dict"),
    ("simulate None", lambda: ketasim.simulate(None), "scenario"),
    ("simulate int", lambda: ketasim.simulate(3), "scenario"),
    ("simulate list", lambda: ketasim.simulate([SC()]), "scenario"),
    ("simulate params text", lambda: ketasim.simulate(SC(), "params.csv"), "params"),
    ("simulate params dict", lambda: ketasim.simulate(SC(), {}), "params"),
    ("n zero", sim(n=0), "n:"), ("n negative", sim(n=-5), "n:"), ("n too large", sim(n=3_000_000), "n:"),
    ("n fraction", sim(n=2.5), "n:"), ("n text", sim(n="10"), "n:"), ("n bool", sim(n=True), "n:"),
    ("n nan", sim(n=NAN), "n:"), ("n inf", sim(n=INF), "n:"), ("n list", sim(n=[1]), "n:"),
    ("seed negative", sim(seed=-1), "seed"), ("seed fraction", sim(seed=1.5), "seed"),
    ("seed text", sim(seed="a"), "seed"), ("seed huge", sim(seed=2**70), "seed"), ("seed nan", sim(seed=NAN), "seed"),
    ("seed generator", sim(seed=np.random.default_rng()), "seed"),
    ("times nan", sim(output_times_h=[NAN]), "output_times_h"),
    ("times inf", sim(output_times_h=[0, INF]), "output_times_h"),
    ("times empty", sim(output_times_h=[]), "output_times_h"),
    ("times negative", sim(output_times_h=[-1.0]), "output_times_h"),
    ("times text", sim(output_times_h="0 h"), "output_times_h"),
    ("times words", sim(output_times_h=["a", "b"]), "output_times_h"),
    ("times dict", sim(output_times_h={"a": 1}), "output_times_h"),
    ("times 2-D", sim(output_times_h=np.zeros((2, 2))), "output_times_h"),
    ("times scalar", sim(output_times_h=5.0), "output_times_h"),
    ("times 1e18", sim(output_times_h=[0, 1e18]), "output_times_h"),
    ("times none in list", sim(output_times_h=[None]), "output_times_h"),
    ("experiment dict", sim(experiment={"ampa_block": 1}), "experiment"),
    ("experiment text", sim(experiment="ampa"), "experiment"),
    ("grid options dict", sim(grid_options={"h0": 1}), "grid_options"),
    ("typical text", sim(typical="yes"), "typical"), ("typical int", sim(typical=2), "typical"),
    ("same_patients text", sim(same_patients="no"), "same_patients"),
    ("on_failure unknown", sim(on_failure="ignore"), "on_failure"), ("on_failure int", sim(on_failure=1), "on_failure"),
    # run_trial
    ("trial path", lambda: ketasim.run_trial("t.yaml"), "scenario"),
    ("trial None", lambda: ketasim.run_trial(None), "scenario"),
    ("trial params", lambda: ketasim.run_trial(TRIAL_SC(), 5), "params"),
    ("trial n zero", trial(n=0), "n:"), ("trial n huge", trial(n=10**9), "n:"), ("trial n text", trial(n="5"), "n:"),
    ("trial seed negative", trial(seed=-1), "seed"), ("trial seed text", trial(seed="x"), "seed"),
    ("trial progress", trial(progress="bar"), "progress"), ("trial chunk 0", trial(chunk=0), "chunk"),
    ("trial chunk fraction", trial(chunk=1.5), "chunk"), ("trial chunk text", trial(chunk="10"), "chunk"),
    # VirtualExperiment
    ("experiment text value", lambda: VirtualExperiment(ampa_block="x"), "experiments.ampa_block"),
    ("experiment nan", lambda: VirtualExperiment(mtor_block=NAN), "experiments.mtor_block"),
    ("experiment > 1", lambda: VirtualExperiment(spine_block=2), "experiments.spine_block"),
    ("experiment hnk text", lambda: VirtualExperiment(hnk_weight="big"), "experiments.hnk_weight"),
    ("experiment psychotherapy list", lambda: VirtualExperiment(psychotherapy=[1]), "experiments.psychotherapy"),
    # load_scenario / scenario_from_dict
    ("load None", lambda: ketasim.load_scenario(None), "path"),
    ("load int", lambda: ketasim.load_scenario(5), "path"),
    ("load empty", lambda: ketasim.load_scenario(""), "path"),
    ("load dict", lambda: ketasim.load_scenario({"name": "x"}), "path"),
    ("load missing", lambda: ketasim.load_scenario("/nonexistent/x.yaml"), "no such scenario file"),
    ("from_dict text", lambda: ketasim.scenario_from_dict("x.yaml"), "scenario"),
    ("from_dict list", lambda: ketasim.scenario_from_dict([1]), "scenario"),
    ("from_dict None", lambda: ketasim.scenario_from_dict(None), "scenario"),
    ("arms list", sfd(arms=[KET]), "arms"), ("arms text", sfd(arms="k"), "arms"),
    ("arm lines dict", sfd(arms={"k": KET}), "arms.k"), ("arm line text", sfd(arms={"k": ["x"]}), "arms.k[0]"),
    ("population list", sfd(population=[1]), "population"), ("size text", sfd(population={"size": "ten"}), "population.size"),
    ("size fraction", sfd(population={"size": 2.5}), "population.size"),
    ("weight text", sfd(population={"weight_kg": "heavy"}), "population.weight_kg"),
    ("comedications text", sfd(population={"comedications": 5}), "population.comedications"),
    ("endpoints list", sfd(endpoints=["24 h"]), "endpoints"), ("output dict of numbers", sfd(output={"every": 5}), "output.every"),
    ("seed bool", sfd(seed=True), "seed"), ("name list", sfd(name=["a"]), "name"),
    ("dose list", line(dose=["0.5 mg/kg"]), "arms.k[0].dose"), ("dose dict", line(dose={"mg": 1}), "arms.k[0].dose"),
    ("at number", line(at=5), "arms.k[0].at"), ("count text", line(count="3", every="1 d"), "arms.k[0].count"),
    ("drug list", line(drug=["ketamine"]), "arms.k[0].drug"),
    # quick_scenario
    ("quick None drug", quick(None, "iv"), "drug"), ("quick dose number", quick("ketamine", "iv", 0.5), "dose"),
    ("quick count text", quick("ketamine", "iv", "0.5 mg/kg", count="3", every="1 d"), "count"),
    ("quick weight text", quick("ketamine", "iv", "0.5 mg/kg", weight_kg="80"), "weight_kg"),
    ("quick size text", quick("ketamine", "iv", "0.5 mg/kg", size="10"), "size"),
    ("quick seed negative", quick("ketamine", "iv", "0.5 mg/kg", seed=-1), "seed"),
    ("quick output_every number", quick("ketamine", "iv", "0.5 mg/kg", output_every=5), "output_every:"),
    # units
    ("parse_time_h None", lambda: parse_time_h(None, "t"), "t:"),
    ("parse_time_h list", lambda: parse_time_h(["1 h"], "t"), "t:"),
    ("parse_dose bytes", lambda: parse_dose(b"1 mg", "d"), "d:"),
    ("parse_quantity bad target", lambda: parse_quantity("1 h", "mg", "q"), "q:"),
    # results
    ("to_csv int path", lambda: RESULT().to_csv(123), "path"),
    ("to_csv directory", lambda: RESULT().to_csv(Path("/")), "directory"),
    ("to_csv missing folder", lambda: RESULT().to_csv("/nonexistent/dir/x.csv"), "/nonexistent/dir"),
    ("to_parquet None", lambda: RESULT().to_parquet(None), "path"),
    ("load_parameters missing", lambda: ketasim.load_parameters("/nonexistent/free.json"), "free.json"),
]


def test_the_table_is_large():
    assert len(CASES) >= 85, len(CASES)
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("call, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_misuse_raises_a_ketasim_error_naming_the_argument(call, fragment):
    with pytest.raises(E.KetasimError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400, msg
    assert fragment in msg, msg
