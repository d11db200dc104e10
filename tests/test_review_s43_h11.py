"""Review findings R6-1 .. R6-3 of the forty-third session (H3_review.md), fixed by H11."""
import re

import pytest
from _support import big_doc

from ketasim.errors import InputError


_big_doc = big_doc     # tests/_support.py


def test_a_streamed_run_past_the_time_budget_is_refused_before_any_file(monkeypatch, tmp_path, capsys):
    # R6-1: the scenario's load checks one patient only (878b07d); simulate_streamed had no time check of its own, so
    # a 2,000,000-patient file streamed on past KETASIM_MAX_SECONDS (its load's check was the only one)
    import yaml

    from ketasim import limits, scale, scenario_from_dict
    from ketasim.cli import main

    full = limits.estimate_scenario_run(scenario_from_dict(_big_doc(2_000_000))).seconds
    monkeypatch.setenv("KETASIM_MAX_SECONDS", f"{full / 20:.3f}")
    sc = scenario_from_dict(_big_doc(2_000_000))
    real_map = scale.map_ordered

    def never(*a, **k):
        raise AssertionError("the chunks ran")

    monkeypatch.setattr(scale, "map_ordered", never)
    with pytest.raises(InputError, match=r"^population\.size: 2,000,000 patients .*would compute for"):
        scale.simulate_streamed(sc, chunk=20_000, csv=tmp_path / "x.csv", check_disk=False)
    with pytest.raises(InputError, match=r"^n: 1,000,000 patients .*would compute for"):
        scale.simulate_streamed(sc, n=1_000_000, chunk=20_000, parquet=tmp_path / "x.parquet", check_disk=False)
    assert not list(tmp_path.iterdir())                       # no file, not even a temporary one
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(_big_doc(2_000_000)))
    assert main(["simulate", str(path), "--chunk", "20000", "--csv", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: population.size: 2,000,000 patients") and "would compute for" in err
    assert len(err.splitlines()) == 1                         # not a disk refusal or a 58 GB warning first
    assert main(["simulate", str(path), "--size", "1000000", "--chunk", "20000", "--parquet",
                 str(tmp_path / "x.parquet")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --size: 1,000,000 patients")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.yaml"]
    monkeypatch.setattr(scale, "map_ordered", real_map)       # a small run of the same file still streams
    s = scale.simulate_streamed(sc, n=10, chunk=5, csv=tmp_path / "small.csv")
    assert s.patients == 20 and (tmp_path / "small.csv").exists()
    assert main(["simulate", str(path), "--size", "10", "--chunk", "5", "--csv", str(tmp_path / "cli.csv")]) == 0
    assert (tmp_path / "cli.csv").exists()


def _bp_record(age):
    from ketasim.record import record_from_rows

    return record_from_rows([
        {"ID": 1, "TIME": 0, "EVID": 0, "DV": 32, "DVID": "madrs", "WT": 70, "AGE": age, "SEX": "F"},
        {"TIME": 0.1, "EVID": 1, "AMT": 0.5, "AMTU": "mg/kg", "DUR": 0.67, "DRUG": "racemic-ketamine",
         "ROUTE": "iv-infusion"},
        {"TIME": 0.8, "EVID": 0, "DV": 12, "DVID": "sbp_change_mmhg"},
        {"TIME": 24, "EVID": 0, "DV": 22, "DVID": "madrs"}])


def test_the_personal_fit_weighs_an_sbp_reading_by_the_patients_reading_sd(monkeypatch):
    # R6-2: with population.bp_reading_sd_scales on (the default), trials' readings and calibration's outlier rows
    # scale a reading's SD by age and pre-dose SBP, but the personal fit weighed every record's sbp_change_mmhg
    # readings with the flat monitoring.sbp_reading_sd (an 80-year-old's as a 45-year-old's)
    import dataclasses

    from ketasim.parameters import load_parameters
    from ketasim.personal import PatientModel, _ObservationModel, record_sbp_reading_sd
    from ketasim.population import bp_reading_sd_factor

    params = load_parameters()
    flat = params.get("monitoring.sbp_reading_sd", "mmHg")
    old, young = PatientModel(_bp_record(80)), PatientModel(_bp_record(25))
    assert old.spec.bp_reading_sd_scales and young.spec.bp_reading_sd_scales
    sbp0 = params.get("pop.sbp_mean_at_45", "mmHg") + params.get("pop.sbp_age_slope", "mmHg") * (80 - 45)
    want = flat * bp_reading_sd_factor(old.spec, params, [80.0], [sbp0])[0, 0]
    assert old.obs_sd["sbp_change_mmhg"] == pytest.approx(want, rel=1e-12)
    assert old.obs_sd["sbp_change_mmhg"] > 1.1 * flat > flat > young.obs_sd["sbp_change_mmhg"]
    om = _ObservationModel(old)                               # the fit's weights read it
    assert om.sd[list(om.var).index("sbp_change_mmhg")] == pytest.approx(want, rel=1e-12)
    off = dataclasses.replace(old.spec, bp_reading_sd_scales=False)
    assert record_sbp_reading_sd(off, params, 80.0) == flat     # off: the flat SD, as before


@pytest.mark.parametrize("example,bound", [("crossover_one_week_apart.yaml", "100,000 patients ("),
                                           ("design_example.yaml", "100,000 per arm (")])
def test_a_crossover_search_refused_for_time_counts_patients(monkeypatch, example, bound):
    # R6-3's wording, left in run_power's time refusal: a crossover's search bound read "up to 100,000 per arm" where
    # its sizes are patients, each receiving every arm (the table's header was fixed by a24c6e2)
    from pathlib import Path

    from ketasim.power import run_power
    from ketasim.scenario import load_scenario

    sc = load_scenario(Path(__file__).resolve().parent.parent / "examples" / example)
    monkeypatch.setenv("KETASIM_MAX_SECONDS", "1")
    with pytest.raises(InputError, match=r"^replicates: .*a search up to " + re.escape(bound)):
        run_power(sc, sizes="auto", max_size=100_000, replicates=100_000, pool=100_000,
                  endpoints=["mean_change@24h"])


def test_no_library_function_or_class_is_named_like_a_test():
    # R7-1: power.test_level_words was collected by pytest as a test (failing "fixture 'provenance' not found") in any
    # test module that imported it by name or by a star import
    import importlib
    import inspect
    import pkgutil

    import ketasim

    named = []
    for info in pkgutil.walk_packages(ketasim.__path__, "ketasim."):
        mod = importlib.import_module(info.name)
        named += [f"{info.name}.{k}" for k, v in vars(mod).items() if k.lower().startswith("test")
                  and (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == info.name]
    assert not named


def test_the_power_card_and_run_power_keep_to_120_characters_and_the_script_no_orphan_comment():
    # R7-2: power_form's return lines (127 characters, a misaligned continuation) and run_power's docstring (a
    # 190-character line) were over the 120 the modules keep; app.js kept the comment of the deleted powerMarginH0
    # above drawPower
    import inspect
    from pathlib import Path

    from ketasim import power
    from ketasim.web import api

    long = [ln for f in (api.power_form, power.run_power) for ln in inspect.getsource(f).splitlines() if len(ln) > 120]
    assert not long
    js = (Path(api.__file__).parent / "static" / "app.js").read_text()
    assert "powerMarginH0" not in js and "The H0 a margin M tests" not in js
