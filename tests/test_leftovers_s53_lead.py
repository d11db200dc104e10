"""Fifty-third session, lead: leftovers of the fifty-second session's closing review."""

import json

import pytest
import yaml

import ketasim

WITHDRAWAL = """
name: s53-null-keys
seed: 3
population: {size: 12, condition: depression, scale: madrs}
design:
  type: randomized_withdrawal
  continue: continue
  withdraw: withdraw
arms:
  continue:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, every: 3.5 d, count: 8}
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, at: 28 d, every: 7 d, count: 2}
  withdraw:
    - {drug: racemic-ketamine, route: iv-infusion, dose: 0.5 mg/kg, duration: 40 min, every: 3.5 d, count: 8}
    - {drug: placebo, route: iv-infusion, duration: 40 min, at: 28 d, every: 7 d, count: 2}
endpoints:
  times: [28 d, 6 week]
  measures: [relapse_rate]
"""


@pytest.mark.parametrize("key", ["criterion", "relapse_score", "induction_until", "stable_visits",
                                 "relapse_consecutive", "control", "follow_up_every"])
def test_a_design_key_written_empty_means_its_default(key):
    """Review L10 (s52): ``design.criterion: null`` (or ``criterion:`` left empty) passed the scenario and was then
    refused by the trial ("use one of ..."); ``relapse_score: null`` said "must be a number", ``induction_until:``
    "expected a quantity ..., got NoneType". An empty key now means the default, as if it were left out."""
    data = yaml.safe_load(WITHDRAWAL)
    plain = ketasim.scenario_from_dict(data)
    data["design"][key] = None
    empty = ketasim.scenario_from_dict(data)
    assert empty.design == plain.design
    assert key not in dict(empty.design)


def test_a_withdrawal_with_an_empty_criterion_runs_as_the_default():
    from ketasim.trial import run_trial

    data = yaml.safe_load(WITHDRAWAL)
    data["design"].update(criterion=None, relapse_score=None)
    rows = run_trial(ketasim.scenario_from_dict(data)).endpoints
    plain = run_trial(ketasim.scenario_from_dict(yaml.safe_load(WITHDRAWAL))).endpoints
    assert json.dumps(rows) == json.dumps(plain)       # (NaN bounds compare equal as text)
    assert any(r.get("measure") == "relapse_rate" for r in rows)


@pytest.mark.parametrize("scale, condition, sd", [("gad7", "anxiety", 3.9), ("hads_d", None, 4.5),
                                                  ("madrs", None, 5.0), ("pcl5", "ptsd", 80 * 5 / 60),
                                                  (None, "PTSD", "caps5")])
def test_the_quick_forms_baseline_spread_is_the_scales_own(scale, condition, sd):
    """HC (s53): the quick form (``simulate --baseline``) spread a population's baseline by 5 points on every scale,
    24 % of a 0-21 scale's range (GAD-7, HADS), where a dashboard trial used the scale's own SD."""
    from ketasim.web.api import _trial_baseline_sd

    if sd == "caps5":       # no scale: the condition's (CAPS-5 for PTSD, written in capitals), not MADRS's 5
        from ketasim.population import DEFAULT_BASELINE

        sd = DEFAULT_BASELINE["caps5"][1]
        assert sd != 5.0
    kw = {k: v for k, v in (("scale", scale), ("condition", condition)) if v is not None}
    sc = ketasim.quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min", size=50,
                                baseline=15.0, **kw)
    assert sc.population.baseline.sd == pytest.approx(sd)
    assert _trial_baseline_sd(scale, condition) == pytest.approx(sd)      # one rule for both
    one = ketasim.quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min", size=1,
                                 baseline=15.0, **kw)
    assert one.population.baseline.sd == 0.0


def _quadrature_moments(mu, s, lo, hi):
    """Mean and SD of Normal(mu, s) truncated to [lo, hi] by adaptive quadrature of the density taken relative to its
    largest value on the interval (an independent reference for population._truncated_moments)."""
    import numpy as np
    from scipy.integrate import quad

    top = min(max(mu, lo), hi)

    def f(x):
        return np.exp(-((x - top) * (x + top - 2.0 * mu)) / (2.0 * s * s))

    kw = dict(points=[top], epsabs=0, epsrel=1e-12, limit=200)
    z = quad(f, lo, hi, **kw)[0]
    m = quad(lambda x: x * f(x), lo, hi, **kw)[0] / z
    return m, float(np.sqrt(quad(lambda x: (x - m) ** 2 * f(x), lo, hi, **kw)[0] / z))


@pytest.mark.parametrize("mean, sd, hi", [(20.5, 0.4, 21.0), (20.5, 0.5, 21.0), (1.2, 0.5, 21.0), (59.0, 10.0, 60.0),
                                          (2.0, 5.0, 60.0), (16.4, 3.9, 21.0), (1.05, 5.0, 60.0), (59.9, 5.0, 60.0)])
def test_baseline_moments_near_a_scale_bound_are_the_sampled_ones(mean, sd, hi):
    """Review s53 H2/M1: a baseline mean within ~1 point of a scale bound put the solved location 1e4-1e6 points away,
    where the closed-form truncated SD cancels: the warning named a wrong SD (MADRS 59 (10): 'sd 0.0', really 1.0),
    a reachable SD was missed silently (GAD-7 20.5 (0.4) sampled at 0.5), and a mean of 1.05 overflowed (a traceback).
    The moments baseline_normal reports are those of the distribution it samples, by independent quadrature."""
    from ketasim.population import baseline_normal

    loc, scale, m, s = baseline_normal(mean, sd, 1.0, hi)
    qm, qs = _quadrature_moments(loc, scale, 1.0, hi)
    assert m == pytest.approx(qm, abs=1e-6) and s == pytest.approx(qs, abs=1e-6)
    if abs(m - mean) > 0.05 or abs(s - sd) > 0.05:     # unreachable: the widest it can be, at the stated mean
        assert m == pytest.approx(mean, abs=0.05) and s < sd


def test_a_baseline_at_a_scale_bound_runs_with_one_warning_line(capsys):
    import warnings

    from ketasim.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5mg/kg",
                     "--duration", "40min", "--size", "20", "--baseline", "1.05"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "OverflowError" not in err
    said = [ln for ln in err.splitlines() if "no normal truncated" in ln]
    assert len(said) == 1 and said[0].startswith("warning: --baseline:"), err
