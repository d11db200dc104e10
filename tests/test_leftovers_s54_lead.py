"""Fifty-fourth session, lead: leftovers of the fifty-third session's final re-read (NOTES Known limits 79)."""

import math

import numpy as np
import pytest

from ketasim import calibration as cal
from ketasim.parameters import load_parameters
from ketasim.population import entry_change_moments, fluctuation_parameters, fluctuation_paths

SWITCH_H = 336.0
TIMES = np.array([0.0, 168.0, SWITCH_H, SWITCH_H + 24.0, SWITCH_H + 168.0, SWITCH_H + 672.0])


@pytest.fixture(scope="module")
def params():
    return load_parameters()


def _selected_arm(params, n, entry_mean, entry_sd, fscale=1.0):
    """A calibration arm whose score is 0 apart from the regression to the mean of a selected entry (the fields
    calibration._simulate_file fills under population.entry_selection)."""
    shift, change_var = entry_change_moments(params, 60.0, TIMES, entry_mean, entry_sd, fscale)
    zeros = np.zeros((n, TIMES.size))
    return cal._ArmSim(30.0 + shift, np.full(n, 30.0), TIMES, np.zeros((n, 1, 1)), np.zeros(n, bool),
                       np.full(n, 40.0), zeros, zeros, np.zeros((n, 2)), fluct_scale=fscale,
                       change_var=change_var, entry_sd=np.broadcast_to(entry_sd, (n,)).astype(float))


@pytest.mark.parametrize("fscale", [1.0, "per-patient"])
def test_an_open_label_view_carries_the_selected_law_from_its_switch(params, fscale):
    """Known limits 79(e): the open-label view (calibration._open_label_view) dropped the entry criterion's law and
    counted the ratings' fluctuation from the switch as if nobody had been selected. Its change since the switch
    now has the selected law: its variance (``change_var``) and mean (the score's regression) agree with 200,000
    exactly sampled Ornstein-Uhlenbeck paths (population.fluctuation_paths with the same entry law) within 4 SEs,
    and differ from the unselected 2 s^2 (1 - b) where the selection still matters."""
    n = 200_000
    rng = np.random.default_rng(54)
    s, tau = fluctuation_parameters(params, 60.0)
    assert s > 0
    scale = 1.0 if fscale == 1.0 else rng.uniform(0.6, 1.4, n)
    entry_mean = np.full(n, 1.5 * s)                       # a strongly selected entry: X(0) well above 0
    entry_sd = np.full(n, 0.4 * s)
    arm = _selected_arm(params, n, entry_mean, entry_sd, scale)
    view, entering = cal._open_label_view(arm, SWITCH_H, 1.0, params, 60.0)
    assert entering.shape == (n,) and view.change_var.shape == (n, 4)
    paths = fluctuation_paths(params, 60.0, TIMES, rng.standard_normal((n, TIMES.size + 1)), scale,
                              entry=(entry_mean, entry_sd))
    since_switch = paths[:, 2:] - paths[:, [2]]
    # each patient's variance differs (the multiplier): compare the average variance and the standardised change
    expected_var = view.change_var.mean(axis=0)
    empirical_var = np.mean((since_switch - (view.score - view.baseline[:, None])) ** 2, axis=0)
    assert empirical_var[0] == 0.0 and expected_var[0] == pytest.approx(0.0, abs=1e-12)
    for k in range(1, 4):
        se = empirical_var[k] * math.sqrt(2.0 / n) * 1.5        # a chi-square's SE, loosened for the mixture
        assert abs(empirical_var[k] - expected_var[k]) <= 4 * se, k
        mean_se = math.sqrt(empirical_var[k] / n)
        assert abs(since_switch[:, k].mean() - (view.score[:, k] - view.baseline).mean()) <= 4 * mean_se, k
    # the selection still matters at the switch: not the unselected law counted from the switch
    b = np.exp(-view.times / tau)
    unselected = 2.0 * (s * np.asarray(scale, float)) ** 2 * (1.0 - b[-1])
    assert abs(np.mean(view.change_var[:, -1] - unselected)) > 8 * empirical_var[-1] * math.sqrt(2.0 / n)


def test_without_an_entry_criterion_the_view_is_unchanged(params):
    """No criterion: the view's rating SD is the unselected law counted from the switch (change_var None), as
    before the fifty-fourth session."""
    n = 5
    arm = _selected_arm(params, n, np.zeros(n), np.zeros(n))
    arm = cal._ArmSim(arm.score, arm.baseline, arm.times, arm.sessions, arm.female, arm.age, arm.sbp, arm.dbp,
                      arm.bp0)
    view, _ = cal._open_label_view(arm, SWITCH_H, 1.0)
    assert view.change_var is None and view.entry_sd is None
    with pytest.raises(ValueError, match="fluctuation's parameters"):
        cal._open_label_view(_selected_arm(params, n, np.zeros(n), np.ones(n)), SWITCH_H, 1.0)


def test_one_rating_sd_rule_for_predictions_patient_sds_and_the_switch(params):
    """Known limits 79(e): three near-copies of "unselected law, or the entry criterion's" became one function
    (calibration._arm_rating_sd). Without a criterion it is the unselected law at the time asked; with one, the
    rater's noise and the selected change's variance at the column asked."""
    n = 4
    s, _ = fluctuation_parameters(params, 60.0)
    mask = np.ones(n, bool)

    def rating_sd(time_h, fluct_scale=1.0):
        return cal.rating_sd_at(params, 60.0, time_h, fluct_scale)
    plain = cal._ArmSim(np.zeros((n, TIMES.size)), np.zeros(n), TIMES, None, None, None, None, None, None)
    assert cal._arm_rating_sd(plain, rating_sd, mask, 168.0, 1) == pytest.approx(rating_sd(168.0))
    arm = _selected_arm(params, n, np.full(n, s), np.full(n, 0.5 * s))
    got = cal._arm_rating_sd(arm, rating_sd, mask, 168.0, 1)
    assert got == pytest.approx(np.sqrt(rating_sd(None) ** 2 + arm.change_var[:, 1]))
    assert np.all(np.abs(got - rating_sd(168.0)) > 1e-6)


@pytest.mark.parametrize("used,censored,words", [
    (1, 0, "fewer than 2 of them defined: no variance between draws could be estimated"),
    (3, 2, "fewer than 2 of them defined: no variance between draws could be estimated"),
    (3, 1, "fewer than 20: the variance between draws is poorly known"),
    (7, 0, "fewer than 20: the variance between draws is poorly known"),
])
def test_a_row_on_fewer_than_two_defined_draws_says_no_variance_was_estimated(used, censored, words):
    """Known limits 79(b) (review Low, s53): a row whose draws' variance rests on fewer than 2 defined draws said
    "rests on 1 of 40 draws ... poorly known" while trial.net_draw_variance had added none (0): it now says so."""
    from types import SimpleNamespace

    from ketasim.observed import draws_note

    key = ("arm", "relapse_rate", 672.0)
    result = SimpleNamespace(uncertainty={"parameter_draws": 40}, draw_variance_draws={key: used},
                             draw_variance_censored={key: censored})
    note = draws_note(result, key, "relapse_rate")
    assert note.startswith(f"the draws' variance rests on {used} of 40 whole-trial draws")
    assert words in note
    assert ("poorly known" in note) != ("could be estimated" in note)


def test_design_type_written_empty_means_parallel():
    """Known limits 79(d): ``design: {type: null}`` (or ``type:`` left empty) was refused ("unknown value") while
    every other design key written empty means its default (fifty-third session): it now means parallel."""
    import ketasim

    data = {"name": "s54-type-null", "seed": 1, "population": {"size": 4, "condition": "depression"},
            "design": {"type": None, "control": "saline"},
            "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                   "duration": "40 min", "at": "0 h"}],
                     "saline": [{"drug": "placebo", "route": "iv-infusion", "duration": "40 min", "at": "0 h"}]},
            "endpoints": {"times": ["1 d"], "measures": ["mean_change"]}}
    from ketasim.errors import InputError

    empty = ketasim.scenario_from_dict(data)
    data["design"]["type"] = "parallel"
    assert empty == ketasim.scenario_from_dict(data)
    data["design"]["type"] = "paralel"
    with pytest.raises(InputError, match="design.type"):
        ketasim.scenario_from_dict(data)


@pytest.mark.parametrize("selection", [{"min": 26}, {"min": 26, "at": "screening", "interval": "7 d"}])
def test_cv_synthetic_draws_ratings_under_an_entry_criterion(params, tmp_path, selection):
    """Next (2) of the fifty-third session: benchmarks/cv_synthetic.py refused population.entry_selection (its
    sampled arms drew the fluctuation at entry unselected). It now draws X(0) from the selected law and takes the
    closed form's regression out of the score first, so 4,000 drawn ratings' 4-week mean change and response rate
    agree with the analytic arm's (calibration.predict's integrals) within 4 SEs, and so does the change's variance
    (within 3 SEs)."""
    import yaml

    from _support import benchmark_module

    syn = benchmark_module("cv_synthetic")
    n = 4000
    path = tmp_path / "saline_selected.yaml"
    path.write_text(yaml.safe_dump({
        "name": "saline-selected", "seed": 7,
        "population": {"size": n, "condition": "depression", "treatment_resistant": True, "scale": "madrs",
                       "baseline": {"mean": 33, "sd": 5}, "entry_selection": selection},
        "arms": {"saline": [{"drug": "placebo", "route": "iv-infusion", "duration": "40 min", "at": "0 h"}]},
        "endpoints": {"times": ["28 d"], "measures": ["mean_change"]}}))
    s = cal._simulate_file((str(path), np.array([0.0, 672.0]), params, n, 11))[(str(path), "saline")]
    assert s.entry_sd is not None and s.entry_mean is not None
    rater = params.free_value("rating_noise_sd") * 60.0
    drawn = syn._sampled_arm(s, np.arange(n), params, 60.0, rater, np.random.default_rng(3))
    assert drawn.change_var is None and drawn.entry_sd is None
    change = drawn.score[:, 1] - drawn.baseline
    analytic = (s.score[:, 1] - s.baseline).mean()
    se = change.std(ddof=1) / math.sqrt(n)
    assert abs(change.mean() - analytic) <= 4 * se
    mask = np.ones(n, bool)
    p_analytic = cal.rating_at_or_below(0.5 * np.rint(s.baseline), s.score[:, 1],
                                        s.entry_rating_sd(rater, mask, 1)).mean()
    p_drawn = np.mean(drawn.score[:, 1] <= np.floor(0.5 * drawn.baseline + 1e-9))
    assert abs(p_drawn - p_analytic) <= 4 * math.sqrt(p_analytic * (1 - p_analytic) / n) + 0.005
    # the variance of the drawn change is the analytic one (the score's spread, the rater's noise and the selected
    # change's variance, + 1/12 for the rounding)
    analytic_var = np.var(s.score[:, 1] - s.baseline) + np.mean(rater ** 2 + s.change_var[:, 1]) + 1.0 / 12.0
    assert abs(change.var() - analytic_var) <= 3 * analytic_var * math.sqrt(2.0 / n)


def _slope_at_week6(params, couple_key):
    """Slope (points per point) of a new oral antidepressant arm's week-6 change on the patient's own baseline
    (HAM-D17, baseline 17.2 (5.1) as Goldstein 2004's arms: benchmarks/shape_baseline_slope.py), its mean change and
    the change's SE."""
    from _support import benchmark_module

    bench = benchmark_module("shape_baseline_slope")
    n = 1500
    _, slope, mean, sd, _ = bench.slopes(params, bench.ARMS["new antidepressant"], n, couple_key)[-1]
    return slope, mean, sd / math.sqrt(n)


def test_within_arm_slope_of_change_on_baseline_is_goldsteins(params):
    """A held check on individual data (issue 7; review M2 of the fifty-third session). Goldstein 2004's drug arms
    (HAM-D17, duloxetine/paroxetine, PMID 15232330; public rbmi data; slope computed by helper HB): the week-6 change
    falls with the patient's own baseline by 0.54 points per point (95 % CI 0.27 to 0.82). The model's new oral
    antidepressant arm lies inside (about -0.42). The fifty-third session's entry_selection drew each patient's
    X(0) given its own baseline, so even ``min: 0`` (nobody excluded) steepened the slope to about -0.95, outside;
    the key now draws X(0) from the arm's selected law, and excluding nobody is the model without the key."""
    slope, mean, se = _slope_at_week6(params, None)
    assert -0.82 <= slope <= -0.27
    slope0, mean0, _ = _slope_at_week6(params, {"min": 0})
    assert abs(slope0 - slope) < 0.1 and abs(mean0 - mean) < 2 * se
    # a criterion that excludes patients still moves the arm's mean (regression to the mean), not the slope much
    slope_sel, mean_sel, _ = _slope_at_week6(params, {"min": 12})
    assert mean_sel < mean - 0.3 and abs(slope_sel - slope) < 0.15


def _population(baseline_sd, selection, noise):
    import ketasim

    return ketasim.scenario_from_dict({
        "name": "entry law", "seed": 1,
        "population": {"size": 10, "condition": "depression", "treatment_resistant": True, "scale": "madrs",
                       "baseline": {"mean": 33.0, "sd": baseline_sd}, "entry_selection": selection,
                       "baseline_rating_noise": noise},
        "arms": {"saline": [{"drug": "placebo", "route": "iv-infusion", "duration": "40 min", "at": "0 h"}]},
        "endpoints": {"times": ["28 d"], "measures": ["mean_change"]}}).population


@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("baseline_sd", [4.5, 5.0, 8.0])
@pytest.mark.parametrize("selection", [{"min": 0}, {"min": 0, "at": "screening", "interval": "7 d"}])
def test_a_criterion_that_excludes_nobody_is_the_model_without_it(params, baseline_sd, selection, noise):
    """Review H1 (s54): the arm law's variance s^2 (1 - g) + g^2 var(B) is the unselected s^2 only while g < 1; with
    the shipped MADRS fluctuation (SD 5 points) g is capped at 1 for a baseline SD <= 5 (<= ~6.2 with the baseline
    noise), and a criterion excluding nobody shrank X(0)'s SD (3.47 instead of 5.0 at 33 (5) with the noise). Written
    by the law of total variance against the unselected law, excluding nobody gives X(0) ~ N(0, s^2) exactly."""
    from types import SimpleNamespace

    from ketasim.population import entry_fluctuation

    s, _ = fluctuation_parameters(params, 60.0)
    mean, sd = entry_fluctuation(_population(baseline_sd, selection, noise), params,
                                 SimpleNamespace(baseline=np.zeros(7)))
    assert mean.shape == sd.shape == (7,)
    # (at SD 8 the cut at 0 is 4.1 SD below the mean: a truncation of ~2e-5, hence the tolerance)
    assert np.allclose(mean, 0.0, atol=1e-3) and np.allclose(sd, s, rtol=1e-3)


@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("selection", [{"min": 26}, {"min": 26, "at": "screening", "interval": "7 d"}])
def test_the_arm_law_does_not_depend_on_the_arm_or_its_size(params, selection, noise):
    """Review M1 (s54): the law used the arm's sample mean and variance of the baselines, so a one-patient arm got
    the per-patient coupling back and a crossover's sequences each had their own law. It is the population's now:
    the same (mean, SD) for an arm of 1 and of 1,000 whatever their baselines, and an improvement (mean > 0) with a
    smaller spread than unselected."""
    from types import SimpleNamespace

    from ketasim.population import entry_fluctuation

    pop = _population(5.0, selection, noise)
    rng = np.random.default_rng(2)
    one = entry_fluctuation(pop, params, SimpleNamespace(baseline=rng.normal(45.0, 1.0, 1),
                                                         baseline_rating=rng.normal(45.0, 1.0, 1)))
    many = entry_fluctuation(pop, params, SimpleNamespace(baseline=rng.normal(33.0, 5.0, 1000),
                                                          baseline_rating=rng.normal(33.0, 5.0, 1000)))
    assert np.all(many[0] == one[0][0]) and np.all(many[1] == one[1][0])
    s, _ = fluctuation_parameters(params, 60.0)
    assert one[0][0] > 0.3 and 0 < one[1][0] < s
