"""Issue 7 (fifty-third session, HM), a hypothesis off when absent: regression to the mean from a trial's entry
criterion (population.entry_selection: {min, at, interval}). A rating is truth + fluctuation X + the rater's noise;
trials enrol patients whose entry rating passes a threshold, so X(0) is selected upwards and regresses afterwards
(population.entry_fluctuation). Mean improvement added at t: (1 - a) E[X(0) | sel], a = exp(-t / tau); variance of
the change (1 - a)^2 Var(X(0) | sel) + s^2 (1 - a^2) (population.entry_change_moments), which calibration's analytic
rows use (calibration._simulate_file) and a virtual trial draws (trial._simulate_outcome)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import ketasim
from ketasim import calibration as cal
from ketasim import trial as trial_module
from ketasim.errors import InputError
from ketasim.population import (entry_change_moments, fluctuation_parameters, fluctuation_paths,
                                 rating_at_or_below, unselected_entry)
from ketasim.trial import run_trial

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def params():
    return ketasim.load_parameters()


def _saline(selection=None, size=2000, baseline=(33.0, 5.0), times=("7 d", "28 d", "56 d")):
    pop = {"size": size, "condition": "depression", "treatment_resistant": True, "scale": "madrs",
           "baseline": {"mean": baseline[0], "sd": baseline[1]}}
    if selection is not None:
        pop["entry_selection"] = selection
    return ketasim.scenario_from_dict({
        "name": "saline arm", "seed": 7, "population": pop,
        "arms": {"saline": [{"drug": "placebo", "route": "iv-infusion", "duration": "40 min", "at": "0 h"}]},
        "endpoints": {"times": list(times), "measures": ["mean_change", "response_rate"]}})


def _selected_x0_mean(params, m, sd, c):
    """E[X(0) | sel] (MADRS points) of the closed form: s^2 / s0^2 (mean - mu0)."""
    s = fluctuation_parameters(params, 60.0)[0]
    mu0, s0 = unselected_entry(m, sd, c)
    return s * s / (s0 * s0) * (m - mu0)


def _legacy_ou(s, tau, times_h, z):
    """population._ou_changes as it was before the switch (ca50fca): X(0) = s z[:, 0], unselected."""
    t = np.asarray(times_h, float)
    x = s * z[:, 0]
    x0 = x.copy()
    out = np.empty((z.shape[0], t.size))
    prev = 0.0
    for k, tk in enumerate(t):
        a = math.exp(-(tk - prev) / tau)
        x = a * x + s * math.sqrt(max(1.0 - a * a, 0.0)) * z[:, k + 1]
        out[:, k] = x - x0
        prev = tk
    return out


@pytest.mark.parametrize("path,size", [("docs/tutorials/placebo_trial.yaml", 40),
                                       ("src/ketasim/data/calibration/singh2016.yaml", 30)])
def test_off_by_default_the_trial_json_is_the_earlier_models(params, monkeypatch, path, size):
    """No key: the record has no entry_selection and equals, number for number, a run whose fluctuation is drawn by
    the code before the switch (and the calibration scenario's arms carry no selected law)."""
    sc = ketasim.load_scenario(ROOT / path)
    assert sc.population.entry_selection is None
    now = json.dumps(run_trial(sc, params, n=size).to_dict(), sort_keys=True, default=str)
    assert '"entry_selection"' not in now

    def legacy(p, smax, times, z, scale=1.0, entry=None):
        assert entry is None
        return _legacy_ou(*fluctuation_parameters(p, smax), times, np.asarray(z, float)) \
            * np.reshape(np.asarray(scale, float), (-1, 1))
    monkeypatch.setattr(trial_module, "fluctuation_paths", legacy)
    before = json.dumps(run_trial(sc, params, n=size).to_dict(), sort_keys=True, default=str)
    assert now == before


def test_calibration_arms_without_the_key_carry_no_selected_law(params):
    sims = cal._simulate_file(("singh2016.yaml", np.array([0.0, 24.0, 360.0]), params, 20, 3))
    assert all(s.change_var is None for s in sims.values())


def test_sampled_entry_law_matches_the_closed_form(params):
    """fluctuation_paths with a selected X(0) against entry_change_moments: mean and variance of X(t) - X(0) at
    200,000 paths, within 5 sampling SEs."""
    smax, n = 60.0, 200_000
    times = np.array([24.0, 168.0, 672.0, 1344.0])
    rng = np.random.default_rng(1)
    mean0, sd0 = np.full(n, 2.0), np.full(n, 3.5)
    paths = fluctuation_paths(params, smax, times, rng.standard_normal((n, times.size + 1)), 1.0, (mean0, sd0))
    m, v = entry_change_moments(params, smax, times, mean0[:1], sd0[:1])
    assert np.all(m[0] < 0)                                           # an improvement
    se_mean = np.sqrt(v[0] / n)
    assert np.all(np.abs(paths.mean(axis=0) - m[0]) <= 5 * se_mean)
    assert np.all(np.abs(paths.var(axis=0) - v[0]) <= 5 * v[0] * math.sqrt(2.0 / n))
    # unselected entry N(0, s^2): the variance is fluctuation_change_sd's 2 s^2 (1 - a)
    s, tau = fluctuation_parameters(params, smax)
    _, v_un = entry_change_moments(params, smax, times, [0.0], [s])
    assert np.allclose(v_un[0], 2 * s * s * (1 - np.exp(-times / tau)), rtol=1e-12)


def test_control_arm_improves_more_growing_toward_the_selected_entry_and_more_with_a_stricter_threshold(params):
    """The literature's direction (regression to the mean: larger control-arm improvement that grows over weeks);
    the same virtual patients with and without the key (common draws), so the difference is the switch alone."""
    times = np.array([7.0, 28.0, 56.0]) * 24.0

    def changes(selection):
        o = run_trial(_saline(selection), params).outcomes["saline"]
        return (o.rating[:, 1:] - o.baseline[:, None]).mean(axis=0)

    off = changes(None)
    on = changes({"min": 26})
    strict = changes({"min": 27})
    extra, extra_strict = off - on, off - strict                       # extra improvement (points)
    assert np.all(extra > 0) and np.all(np.diff(extra) > 0)            # larger, and growing over weeks
    tau = fluctuation_parameters(params, 60.0)[1]
    target = (1 - np.exp(-times / tau)) * _selected_x0_mean(params, 33.0, 5.0, 26.0)
    assert np.all(extra < _selected_x0_mean(params, 33.0, 5.0, 26.0))  # toward, not beyond, E[X(0) | sel]
    assert np.allclose(extra, target, atol=0.25)
    assert np.all(extra_strict > extra)                                # a stricter threshold: a larger effect
    assert extra_strict[-1] - extra[-1] > 0.5                          # (E[X(0) | sel] 3.2 against 2.0 points)


def test_simulated_and_analytic_mean_change_and_response_agree(params, tmp_path):
    """A virtual trial (drawn ratings) and calibration's analytic arm (the closed form on the score) of the same
    scenario with the key, size 4000 each (independent patients): 4-week mean change within 4 SEs of the
    difference, response rate within 4 binomial SEs."""
    n = 4000
    sc_path = tmp_path / "saline_selected.yaml"
    sc_path.write_text(
        "name: saline-selected\nseed: 7\npopulation:\n  size: 4000\n  condition: depression\n"
        "  treatment_resistant: true\n  scale: madrs\n  baseline: {mean: 33, sd: 5}\n  entry_selection: {min: 26}\n"
        "arms:\n  saline:\n    - {drug: placebo, route: iv-infusion, duration: 40 min, at: 0 h}\n"
        "endpoints:\n  times: [28 d]\n  measures: [mean_change, response_rate]\n")
    o = run_trial(ketasim.load_scenario(sc_path), params).outcomes["saline"]
    drawn = o.rating[:, -1] - o.baseline
    s = cal._simulate_file((str(sc_path), np.array([0.0, 672.0]), params, n, 11))[(str(sc_path), "saline")]
    assert s.change_var is not None
    analytic = s.score[:, 1] - s.baseline
    se = math.sqrt(drawn.var(ddof=1) / n + analytic.var(ddof=1) / n)
    assert abs(drawn.mean() - analytic.mean()) <= 4 * se
    rater = cal.rating_sd_at(params, 60.0)
    mask = np.ones(n, bool)
    p_analytic = rating_at_or_below(0.5 * np.rint(s.baseline), s.score[:, 1], s.entry_rating_sd(rater, mask, 1)).mean()
    p_drawn = np.mean(o.rating[:, -1] <= np.floor(0.5 * o.baseline + 1e-9))
    assert abs(p_drawn - p_analytic) <= 4 * math.sqrt(p_analytic * (1 - p_analytic) * 2 / n)


@pytest.mark.parametrize("selection,words", [
    ({"min": 70}, "population.entry_selection.min: must lie within the scale"),
    ({"min": 50}, "population.entry_selection.min: 50 is above the baseline mean + 3 SD"),
    ({"min": 31}, "population.entry_selection.min: a baseline of mean 33 and SD 5 cannot be"),
    ({"min": "high"}, "population.entry_selection.min"),
    ({"min": True}, "population.entry_selection.min"),
    ({"min": 26, "at": "week 2"}, "population.entry_selection.at"),
    ({"min": 26, "at": "screening"}, "population.entry_selection.interval"),
    ({"min": 26, "interval": "7 d"}, "population.entry_selection.interval: only with at: screening"),
    ({"max": 26}, "population.entry_selection"),
])
def test_bad_input_gets_one_line_naming_the_field(selection, words):
    with pytest.raises(InputError) as e:
        _saline(selection, size=4)
    msg = str(e.value)
    assert words in msg and "\n" not in msg and len(msg) <= 400


def test_screening_selection_is_milder_than_at_baseline_and_recorded(params):
    """Selected at screening a week before baseline: the X part decays by exp(-7 d / tau) and no noise part (HR's
    derivation), so the extra improvement is smaller than with the same criterion at baseline; the trial record
    states the criterion."""
    base = run_trial(_saline(None, size=1500, times=("28 d",)), params).outcomes["saline"]
    at_base = run_trial(_saline({"min": 26}, size=1500, times=("28 d",)), params)
    at_screen = run_trial(_saline({"min": 26, "at": "screening", "interval": "7 d"}, size=1500, times=("28 d",)),
                          params)
    ch = [(o.rating[:, -1] - o.baseline).mean() for o in
          (base, at_base.outcomes["saline"], at_screen.outcomes["saline"])]
    assert ch[0] > ch[2] > ch[1]
    rec = at_screen.to_dict()["entry_selection"]
    assert rec == {"min": 26.0, "at": "screening", "interval_h": 168.0}


def test_with_baseline_rating_noise_the_selected_noise_regresses_at_once(params):
    """population.baseline_rating_noise on: the baseline rating's noise is selected too (population.true_baseline
    with the unselected mu0, s0), so the extra improvement at 4 weeks is (1 - a) E[X(0) given sel] + E[noise given
    sel], E[noise given sel] = sigma^2 / s0^2 (mean - mu0) (HR's derivation), within 0.3 points (common draws)."""
    def change(selection):
        sc = _saline(selection, size=2000, times=("28 d",))
        sc = ketasim.scenario_from_dict({**sc.source, "population": {**sc.source["population"],
                                                                      "baseline_rating_noise": True}})
        o = run_trial(sc, params).outcomes["saline"]
        return (o.rating[:, -1] - o.baseline).mean()

    extra = change(None) - change({"min": 26})
    mu0, s0 = unselected_entry(33.0, 5.0, 26.0)
    sigma = params.free_value("rating_noise_sd") * 60.0
    tau = fluctuation_parameters(params, 60.0)[1]
    expected = (1 - math.exp(-672.0 / tau)) * _selected_x0_mean(params, 33.0, 5.0, 26.0) \
        + sigma ** 2 / s0 ** 2 * (33.0 - mu0)
    assert extra == pytest.approx(expected, abs=0.3)
