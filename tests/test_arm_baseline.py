"""An arm may state its own baseline score (trials report baselines per arm, e.g. Lii 2023's arms started at 25.1 and
29.9 MADRS points). The calibration scenarios keep one pooled baseline for randomized arms on purpose (NOTES.md)."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim
from ketasim.errors import InputError

from _support import line

SALINE = line("placebo", "iv-infusion", duration="40 min")
KET = line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")


def _scenario(arm_baseline=None, design=None, size=400):
    ket = {"doses": [KET], "baseline": arm_baseline} if arm_baseline is not None else [KET]
    d = {"name": "b", "seed": 7, "arms": {"ketamine": ket, "saline": [SALINE]},
         "population": {"size": size, "baseline": {"mean": 27.5, "sd": 7.7}},
         "endpoints": {"times": ["24 h"], "measures": ["mean", "remission_rate"], "rating_noise": False}}
    if design:
        d["design"] = design
    return ketasim.scenario_from_dict(d)


@pytest.mark.parametrize("same", [False, True])
def test_the_arm_starts_from_its_own_baseline_and_the_other_arm_is_unchanged(same):
    plain = ketasim.simulate(_scenario(), same_patients=same).patients().groupby("arm")["baseline_score"].mean()
    own = ketasim.simulate(_scenario({"mean": 35.0, "sd": 4.0}), same_patients=same).patients()
    means = own.groupby("arm")["baseline_score"].mean()
    assert abs(means["ketamine"] - 35.0) < 1.0 and abs(plain["ketamine"] - 27.5) < 1.5
    assert means["saline"] == pytest.approx(plain["saline"])          # the other arm keeps the population's
    assert own[own.arm == "ketamine"]["baseline_score"].std() < 5.0   # the arm's SD, not the population's 7.7


def test_a_higher_baseline_means_fewer_remissions_in_a_trial():
    """Remission is a score at or below a threshold: the same relative improvement from a higher start leaves
    fewer patients below it (the reason the calibration scenarios state each arm's reported baseline)."""
    def remission(base):
        res = ketasim.run_trial(_scenario(base))
        return [r["value"] for r in res.endpoints if r["arm"] == "ketamine" and r["measure"] == "remission_rate"][0]
    assert remission({"mean": 35.0, "sd": 4.0}) < remission({"mean": 22.0, "sd": 4.0}) - 10.0


@pytest.mark.parametrize("bad, words", [({"mean": 0}, "mean must lie in (0, 60]"), ({"mean": 30, "sd": -1}, "sd in [0, 60]"),
                                        ({"mean": 30, "sd": 1e300}, "sd in [0, 60]"),
                                        ({"mean": "x"}, "expected a number"), ([30, 5], "expected {mean"),
                                        ({"sd": 5}, "expected {mean")])
def test_bad_arm_baselines_are_refused_in_one_line(bad, words):
    with pytest.raises(InputError) as e:
        _scenario(bad)
    msg = str(e.value)
    assert msg.startswith("arms.ketamine.baseline") and words in msg and "\n" not in msg


def test_a_crossover_refuses_arm_baselines():
    sc = _scenario({"mean": 35.0, "sd": 4.0}, design={"type": "crossover"}, size=20)
    with pytest.raises(InputError, match=r"^arms\.ketamine\.baseline: the arms of a crossover trial share"):
        ketasim.run_trial(sc)
    assert np.isfinite(ketasim.run_trial(_scenario(design={"type": "crossover"}, size=20)).endpoints[0]["value"])


def test_streamed_and_chunked_runs_use_the_arm_baseline_too(tmp_path):
    """simulate_streamed (chunks) and run_trial in chunks give the same rows as one in-memory run."""
    import pandas as pd

    from ketasim.scale import simulate_streamed

    sc = _scenario({"mean": 35.0, "sd": 4.0}, size=30)
    ref = ketasim.simulate(sc).trajectories()
    simulate_streamed(sc, chunk=7, parquet=tmp_path / "t.parquet", keep=5)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), ref, check_exact=True)
    assert ketasim.run_trial(sc, chunk=7).to_dict() == ketasim.run_trial(sc, chunk=30).to_dict()


@pytest.mark.parametrize("field, value, words", [
    ("baseline", {"mean": 30, "sd": 1e300}, "population.baseline"),
    ("weight_kg", {"mean": 80, "sd": 1e300}, "population.weight_kg"),
    ("age_years", {"mean": 45, "sd": 1e300}, "population.age_years")])
def test_absurd_population_sds_are_refused_in_one_line(field, value, words):
    """An SD far beyond the covariate's range collapsed every patient onto the mean (the truncated normal
    degenerates): refused, naming the field."""
    with pytest.raises(InputError) as e:
        ketasim.scenario_from_dict({"name": "b", "arms": {"a": [SALINE]}, "population": {"size": 3, field: value}})
    assert str(e.value).startswith(words) and "\n" not in str(e.value)
