"""Fifty-third session, helper HC: baseline ratings keep the stated mean and SD where the scale's range cuts the
normal (NOTES Known limits 78 (e)).

Baselines are sampled from a normal truncated to [1, max]. Until this session its location and scale were the stated
mean and SD, so GAD-7's default 16.4 (3.9) (Targum et al. 2018, 90 GAD outpatients; population.DEFAULT_BASELINE)
entered at ~15.5 (3.2): the ceiling at 21 cut the upper tail. Now, where truncation would move the mean or SD by more
than 0.05 points, the location and scale are solved so that the truncated distribution has the stated moments
(population.baseline_normal); below that (MADRS and every calibration scenario) the patients are exactly those of
before."""

from __future__ import annotations

import glob
import os
import warnings

import numpy as np
import pytest
import yaml
from scipy.stats import norm, truncnorm

from ketasim.errors import BaselineWarning
from ketasim.parameters import load_parameters
from ketasim.population import (BASELINE_MOMENT_TOLERANCE, DEFAULT_BASELINE, DEFAULT_SCALE, SCALES, Distribution,
                                baseline_normal, patient_draws, as_seed_sequence, sample_patients,
                                warn_unreachable_baseline)
from ketasim.scenario import scenario_from_dict

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
CALIBRATION = os.path.join(os.path.dirname(__file__), "..", "src", "ketasim", "data", "calibration")


def _entry(scale, baseline=None, size=5000, seed=7):
    pop = {"size": size, "scale": scale}
    if baseline is not None:
        pop["baseline"] = {"mean": baseline[0], "sd": baseline[1]}
    spec = scenario_from_dict({"name": "b", "population": pop, "arms": {"k": [KET]}}).population
    return spec, sample_patients(spec, load_parameters(), seed).baseline


def test_a_gad7_population_enters_at_the_sourced_mean_and_sd():
    # 5,000 patients at the default 16.4 (3.9): until the fifty-third session 15.5 (3.2). The sampling error of the
    # mean is 3.9 / sqrt(5000) = 0.055 points; 0.15 is ~3 standard errors (the SD's is smaller, ~0.04)
    spec, b = _entry("gad7")
    assert (spec.baseline.mean, spec.baseline.sd) == DEFAULT_BASELINE["gad7"] == (16.4, 3.9)
    assert abs(b.mean() - 16.4) < 0.15 and abs(b.std(ddof=1) - 3.9) < 0.15
    assert b.min() >= 1.0 and b.max() <= 21.0
    # the distribution solved for: location ~35, scale ~10 (rising towards the ceiling), its moments exactly the source's
    loc, scale, mean, sd = baseline_normal(16.4, 3.9, 1.0, 21.0)
    assert 30 < loc < 40 and 8 < scale < 13
    assert truncnorm.mean((1 - loc) / scale, (21 - loc) / scale, loc=loc, scale=scale) == pytest.approx(16.4, abs=1e-6)
    assert truncnorm.std((1 - loc) / scale, (21 - loc) / scale, loc=loc, scale=scale) == pytest.approx(3.9, abs=1e-6)
    assert (mean, sd) == pytest.approx((16.4, 3.9), abs=1e-6)


def test_a_stated_baseline_near_a_ceiling_keeps_its_moments_on_other_scales():
    # PHQ-9's default (truncation moved it by -0.12 / -0.17 points) and a stated GAD-7 and HADS-D near the top
    for scale, (m, s) in (("phq9", DEFAULT_BASELINE["phq9"]), ("gad7", (18.0, 2.5)), ("hads_d", (14.0, 4.0))):
        _, b = _entry(scale, (m, s))
        assert abs(b.mean() - m) < 0.15 and abs(b.std(ddof=1) - s) < 0.15, (scale, b.mean(), b.std(ddof=1))


def test_madrs_and_every_calibration_scenario_sample_exactly_the_patients_of_before():
    # the rule of before: the stated mean and SD as the truncated normal's location and scale
    specs = []
    for path in sorted(glob.glob(os.path.join(CALIBRATION, "*.yaml"))):
        with open(path, encoding="utf-8") as fh:
            pop = yaml.safe_load(fh)["population"]
        scale = pop.get("scale") or DEFAULT_SCALE[pop.get("condition", "depression")]
        mean, sd = (pop["baseline"]["mean"], pop["baseline"]["sd"]) if "baseline" in pop else DEFAULT_BASELINE[scale]
        specs.append((os.path.basename(path), scale, float(mean), float(sd)))
    assert len(specs) >= 15 and {s[1] for s in specs} == {"madrs", "hamd17", "hama", "caps5"}
    for name, scale, mean, sd in specs + [("madrs default", "madrs", *DEFAULT_BASELINE["madrs"])]:
        assert baseline_normal(mean, sd, 1.0, SCALES[scale][0])[:2] == (mean, sd), name
    spec, b = _entry("madrs", (38.6, 6.6), size=400, seed=3)       # Canuso 2018's, the largest gap (0.022 points)
    z = patient_draws(as_seed_sequence(3), "baseline", "normal", 0, 400)
    before = truncnorm.ppf(norm.cdf(z), (1 - 38.6) / 6.6, (60 - 38.6) / 6.6, loc=38.6, scale=6.6)
    assert np.array_equal(b, before)


def test_the_tolerance_is_half_a_published_decimal_and_exceeds_every_calibration_gap():
    assert BASELINE_MOMENT_TOLERANCE == 0.05
    _, _, m, s = baseline_normal(38.6, 6.6, 1.0, 60.0)
    assert 0 < abs(s - 6.6) < BASELINE_MOMENT_TOLERANCE and abs(m - 38.6) < BASELINE_MOMENT_TOLERANCE


def test_an_sd_no_truncated_normal_reaches_keeps_the_mean_widens_as_far_as_it_can_and_warns_in_one_line():
    # GAD-7 16.4 with SD 6: the widest truncated normal with mean 16.4 on 1-21 (its limit, a truncated exponential)
    # has SD ~4.15
    with pytest.warns(BaselineWarning) as caught:
        spec = scenario_from_dict({"name": "w", "population": {"size": 3000, "scale": "gad7",
                                                                "baseline": {"mean": 16.4, "sd": 6}},
                                   "arms": {"k": [KET]}}).population
    msg = str(caught[0].message)
    assert "\n" not in msg and len(msg) <= 400 and msg.startswith("population.baseline:")
    assert "sd 6" in msg and "sd 4.2" in msg and "mean 16.4" in msg
    _, _, m, s = baseline_normal(16.4, 6.0, 1.0, 21.0)
    assert m == pytest.approx(16.4, abs=1e-6) and 4.1 < s < 4.16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaselineWarning)
        b = sample_patients(spec, load_parameters(), 2).baseline
    assert abs(b.mean() - 16.4) < 0.2 and 3.9 < b.std() < 4.4


def test_a_reachable_baseline_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for scale, (m, s) in DEFAULT_BASELINE.items():
            warn_unreachable_baseline(Distribution(m, s), scale, "population.baseline")
        warn_unreachable_baseline(Distribution(16.4, 3.9), "gad7", "population.baseline")
        warn_unreachable_baseline(Distribution(20.0, 0.0), "gad7", "population.baseline")


def test_an_arm_s_own_unreachable_baseline_is_named_once_and_the_quick_form_warns_once(capsys):
    from ketasim.cli import main

    arm = {"doses": [KET], "baseline": {"mean": 20, "sd": 4}}
    with pytest.warns(BaselineWarning) as caught:
        scenario_from_dict({"name": "a", "population": {"scale": "gad7"}, "arms": {"k": arm, "m": [KET]}})
    assert [str(w.message).split(":")[0] for w in caught] == ["arms.k.baseline"]
    # the quick form's baseline SD is the scale's own (GAD-7: 3.9, population.default_baseline_sd): a GAD-7 mean of 20
    # cannot hold it; one line, once
    # (PopulationSpec's copies, dataclasses.replace, do not repeat it)
    with warnings.catch_warnings():
        warnings.simplefilter("always", BaselineWarning)    # as a user runs it: printed as one 'warning:' line
        assert main(["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5mg/kg", "--size", "10",
                     "--scale", "GAD-7", "--baseline", "20"]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "no normal truncated" in line]
    assert said == ["warning: --baseline: no normal truncated to 1-21 points on gad7 has mean 20 and sd 3.9; patients "
                    "are sampled with mean 20.0 and sd 1.0, the closest such a distribution reaches"], said


def test_a_stated_patient_sd_zero_enters_at_the_mean():
    _, b = _entry("gad7", (16.4, 0.0), size=20)
    assert np.all(b == 16.4)


# ---- HADS-A's and HADS-D's sourced defaults (FINDER) -------------------------------------------------------------
def test_hads_defaults_are_finder_s_entry_values_and_patients_enter_at_them():
    # FINDER: 3,468 European out-patients starting an antidepressant for a depressive episode; "Mean (SD) HADS-D and
    # HADS-A scores were 12.3[4.5] and 13.0[4.0]" (congress abstract; the means also in Garcia-Cebrian 2008's abstract)
    from ketasim.population import default_baseline

    assert default_baseline("hads_a") == DEFAULT_BASELINE["hads_a"] == (13.0, 4.0)
    assert default_baseline("hads_d") == DEFAULT_BASELINE["hads_d"] == (12.3, 4.5)
    for key, (m, s) in (("hads_a", (13.0, 4.0)), ("hads_d", (12.3, 4.5))):
        spec, b = _entry(key)                          # no stated baseline: the default
        assert (spec.baseline.mean, spec.baseline.sd) == (m, s) and spec.condition == SCALES[key][2]
        # the old rule entered at 12.8 (3.7) and 12.1 (4.1): the range 1-21 cut the upper tail
        assert abs(b.mean() - m) < 0.15 and abs(b.std(ddof=1) - s) < 0.15, (key, b.mean(), b.std(ddof=1))
        assert m - s > SCALES[key][1] - 4 and m > SCALES[key][1]     # above the "normal" range 0-7 on average
    assert "pcl5" not in DEFAULT_BASELINE                 # still no PCL-5 entry table with an SD: none invented


def test_a_hads_record_is_fitted_by_plan_now(tmp_path, capsys):
    from ketasim.cli import main

    header = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"
    rec = tmp_path / "r.csv"
    rec.write_text(header + "1,0,0,,,,,,15,hads_d,80,45,F\n1,0.5,1,0.5,mg/kg,0.6667,racemic-ketamine,iv-infusion,,,,,\n"
                   "1,24.5,0,,,,,,9,hads_d,,,\n", encoding="utf-8")
    out_json = tmp_path / "plan.json"
    assert main(["plan", str(rec), "--json", str(out_json)]) == 0, capsys.readouterr().err
    assert out_json.exists()
