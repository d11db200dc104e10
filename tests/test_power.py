"""`ketasim power`: power and sample size by replicate virtual trials (src/ketasim/power.py).

Checked: the vectorised tests equal SciPy's and statsmodels' one replicate at a time (Welch, ANCOVA as OLS, paired t,
the pooled z score test, exact McNemar), with analysed-patient masks; on pools of known distributions the replicate
power equals the closed-form power (t-test, normal data) and the type I error its nominal alpha/2 per direction
within Monte Carlo error; on the model, the pools' effect is the trial's own comparison row for the same patients,
power grows with the size and falls with dropout, ANCOVA is not weaker than Welch, the result does not depend on
the chunking or on which other sizes are asked for; a crossover is analysed paired; posterior draws give an
assurance within the draws' range; bad input is one line naming the argument or option."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from _support import one_error_line, run_cli
from ketasim import power as pw
from ketasim.errors import InputError
from ketasim.scenario import load_scenario, scenario_from_dict
from ketasim.trial import run_trial

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"

TWO_ARMS = {"name": "ketamine vs midazolam", "seed": 11,
            "population": {"size": 100, "baseline": {"mean": 33, "sd": 5}},
            "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                   "duration": "40 min"}],
                     "midazolam": [{"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg",
                                    "duration": "40 min"}]},
            "endpoints": {"times": ["24 h", "7 d"], "measures": ["mean_change", "response_rate", "remission_rate"]}}


@pytest.fixture(scope="module")
def two_arms():
    return scenario_from_dict(TWO_ARMS)


@pytest.fixture(scope="module")
def base(two_arms):
    return pw.run_power(two_arms, sizes=[20, 40, 80], endpoints=["mean_change@24h", "response_rate@24h"],
                        replicates=1000, pool=2000)


def _row(res, measure, n, **kw):
    df = res.table()
    sel = (df["measure"] == measure) & (df["n_per_arm"] == n)
    for k, v in kw.items():
        sel &= df[k] == v
    assert sel.sum() == 1
    return df[sel].iloc[0]


# ---- the tests, one replicate at a time against SciPy / statsmodels ------------------------------------------------
def test_vectorised_tests_equal_scipy_and_statsmodels_per_replicate():
    import statsmodels.api as sm
    from statsmodels.stats.proportion import test_proportions_2indep

    rng = np.random.default_rng(3)
    r, n = 6, 25
    a, b = rng.normal(-8, 6, (r, n)), rng.normal(-3, 9, (r, n))
    xa, xb = rng.normal(33, 5, (r, n)), rng.normal(33, 5, (r, n))
    a = a - 0.4 * (xa - 33)                     # the change depends on the baseline: ANCOVA differs from Welch
    ma, mb = rng.random((r, n)) > 0.2, rng.random((r, n)) > 0.1
    d_w, p_w = pw.welch_test(a, b, ma, mb)
    d_a, p_a = pw.ancova_test(a, b, xa, xb, ma, mb)
    d_p, p_p = pw.paired_t_test(a - b, ma)
    ra, rb = rng.random((r, n)) < 0.5, rng.random((r, n)) < 0.25
    d_z, p_z = pw.proportion_z_test(ra, rb, ma, mb)
    d_m, p_m = pw.mcnemar_test(ra, rb, ma)
    for i in range(r):
        A, B = a[i][ma[i]], b[i][mb[i]]
        ref = stats.ttest_ind(A, B, equal_var=False)
        assert d_w[i] == pytest.approx(A.mean() - B.mean(), rel=1e-12)
        assert p_w[i] == pytest.approx(ref.pvalue, rel=1e-9)
        y = np.concatenate([A, B])
        X = np.column_stack([np.ones(y.size), np.r_[np.ones(A.size), np.zeros(B.size)],
                             np.concatenate([xa[i][ma[i]], xb[i][mb[i]]])])
        fit = sm.OLS(y, X).fit()
        assert d_a[i] == pytest.approx(fit.params[1], rel=1e-9)
        assert p_a[i] == pytest.approx(fit.pvalues[1], rel=1e-7)
        D = (a[i] - b[i])[ma[i]]
        assert p_p[i] == pytest.approx(stats.ttest_1samp(D, 0.0).pvalue, rel=1e-9)
        k1, n1, k2, n2 = int(ra[i][ma[i]].sum()), int(ma[i].sum()), int(rb[i][mb[i]].sum()), int(mb[i].sum())
        ref_z = test_proportions_2indep(k1, n1, k2, n2, method="score", compare="diff", correction=False)
        assert d_z[i] == pytest.approx(k1 / n1 - k2 / n2, rel=1e-12)
        assert p_z[i] == pytest.approx(ref_z.pvalue, rel=1e-7)
        disc_b = int((ra[i] & ~rb[i] & ma[i]).sum())
        disc_c = int((~ra[i] & rb[i] & ma[i]).sum())
        ref_m = stats.binomtest(disc_b, disc_b + disc_c, 0.5).pvalue if disc_b + disc_c else 1.0
        assert p_m[i] == pytest.approx(ref_m, rel=1e-9)
        assert d_m[i] == pytest.approx((disc_b - disc_c) / ma[i].sum(), rel=1e-12)


def _standard_normal(n, seed):
    z = np.random.default_rng(seed).standard_normal(n)
    return (z - z.mean()) / z.std(ddof=0)


def test_replicate_power_equals_the_closed_form_power_of_a_t_test():
    """Pools of exactly N(0, 1) and N(-0.5, 1) (standardised): Welch on 64 per arm has power 0.801 (statsmodels'
    TTestIndPower); identical pools give significance in the arm's favour at alpha / 2."""
    from statsmodels.stats.power import TTestIndPower

    e = pw._Endpoint("mean_change", 24.0)
    pool = 100_000
    z1, z2 = _standard_normal(pool, 1), _standard_normal(pool, 2)
    arrays = {("a", e): (z1 - 0.5, z1), ("b", e): (z2, z2), ("c", e): (z1[::-1].copy(), z1)}
    reps = 4000
    wins = pw._replicate_power(arrays, [("a", "b"), ("c", "b")], [e], (64,), {"mean_change": "welch"}, reps, 0.05,
                               0.0, False, 5)
    expected = TTestIndPower().power(0.5, nobs1=64, alpha=0.05)
    se = np.sqrt(expected * (1 - expected) / reps)
    assert abs(wins[("a", "b"), e, 64] / reps - expected) < 4 * se + 0.005
    null = wins[("c", "b"), e, 64] / reps
    assert abs(null - 0.025) < 4 * np.sqrt(0.025 * 0.975 / reps)


def test_replicate_power_of_rates_is_near_the_normal_approximation():
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    e = pw._Endpoint("response_rate", 24.0)
    pool = 10_000
    ra, rb = np.arange(pool) < 0.5 * pool, np.arange(pool) < 0.3 * pool
    x = np.zeros(pool)
    reps = 4000
    wins = pw._replicate_power({("a", e): (ra, x), ("b", e): (rb, x)}, [("a", "b")], [e], (90,),
                               {"response_rate": "z"}, reps, 0.05, 0.0, False, 9)
    expected = NormalIndPower().power(proportion_effectsize(0.5, 0.3), nobs1=90, alpha=0.05)
    assert abs(wins[("a", "b"), e, 90] / reps - expected) < 4 * np.sqrt(expected * (1 - expected) / reps) + 0.02


# ---- on the model ------------------------------------------------------------------------------------------------
def test_the_pools_effect_is_the_trials_own_comparison_for_the_same_patients(two_arms, base):
    tr = run_trial(two_arms, n=2000, seed=two_arms.seed)
    comp = {(c["measure"], c["time_h"]): c["value"] for c in tr.comparisons}
    assert _row(base, "mean_change", 40)["effect"] == pytest.approx(comp["mean_change_difference", 24.0], abs=1e-9)
    assert _row(base, "response_rate", 40)["effect"] == pytest.approx(comp["response_rate_difference", 24.0],
                                                                      abs=1e-9)


def test_power_grows_with_the_size_and_agrees_with_the_normal_theory(base):
    for m in ("mean_change", "response_rate"):
        p = [_row(base, m, n)["power"] for n in (20, 40, 80)]
        assert p[0] < p[1] < p[2]
        for n in (20, 40, 80):
            r = _row(base, m, n)
            assert r["power_ci95_low"] <= r["power"] <= r["power_ci95_high"]
            # the normal theory ignores the changes' shape (responders and non-responders): near, not equal
            assert abs(r["power"] - r["normal_theory_power"]) < 0.1
    # the ketamine arm improves more: a negative change difference, a positive response difference
    assert _row(base, "mean_change", 40)["effect"] < 0 < _row(base, "response_rate", 40)["effect"]
    sizes = base.sample_sizes()
    n80 = sizes[sizes["measure"] == "mean_change"]["smallest_n_per_arm"].iloc[0]
    assert n80 == min(n for n in (20, 40, 80) if _row(base, "mean_change", n)["power"] >= 0.8)


def test_the_result_does_not_depend_on_chunking_or_on_the_other_sizes(two_arms, base, monkeypatch):
    one = pw.run_power(two_arms, sizes=[40], endpoints=["mean_change@24h", "response_rate@24h"], replicates=1000,
                       pool=2000)
    monkeypatch.setattr(pw, "_CHUNK_DRAWS", 37 * 40)
    chunked = pw.run_power(two_arms, sizes=[40], endpoints=["mean_change@24h"], replicates=1000, pool=2000)
    assert _row(one, "mean_change", 40)["power"] == _row(base, "mean_change", 40)["power"]
    assert _row(one, "response_rate", 40)["power"] == _row(base, "response_rate", 40)["power"]
    assert _row(chunked, "mean_change", 40)["power"] == _row(base, "mean_change", 40)["power"]


def test_dropout_lowers_power_like_a_smaller_trial(two_arms, base):
    res = pw.run_power(two_arms, sizes=[80], endpoints=["response_rate@24h"], replicates=1000, pool=2000,
                       dropout=0.5)
    r = _row(res, "response_rate", 80)
    assert r["analysed_per_arm"] == 40
    assert r["power"] < _row(base, "response_rate", 80)["power"]
    assert abs(r["power"] - _row(base, "response_rate", 40)["power"]) < 0.07


def test_ancova_on_the_baseline_is_not_weaker_than_welch(two_arms, base):
    res = pw.run_power(two_arms, sizes=[20, 40], endpoints=["mean_change@24h"], replicates=1000, pool=2000,
                       test="ancova")
    for n in (20, 40):
        assert _row(res, "mean_change", n)["test"] == "ancova"
        assert _row(res, "mean_change", n)["power"] >= _row(base, "mean_change", n)["power"] - 0.03


def test_a_crossover_is_analysed_paired():
    sc = load_scenario(EXAMPLES / "crossover_one_week_apart.yaml")
    res = pw.run_power(sc, sizes=[10, 20], endpoints=["mean_change@24h", "response_rate@24h"], replicates=500,
                       pool=400)
    df = res.table()
    assert set(df["test"]) == {"paired", "mcnemar"}
    assert "carry-over" in res.provenance["design_note"]
    p = df[df["measure"] == "mean_change"].sort_values("n_per_arm")["power"].to_numpy()
    assert p[0] <= p[1]


def test_posterior_draws_give_an_assurance_within_the_draws_range(two_arms):
    res = pw.run_power(two_arms, sizes=[30], endpoints=["response_rate@24h"], replicates=200, pool=300,
                       uncertainty=3)
    r = _row(res, "response_rate", 30)
    assert r["power_p05"] <= r["assurance"] <= r["power_p95"]
    assert res.provenance["uncertainty"] == 3
    assert "Assurance" in res.format_table()


@pytest.mark.parametrize("kw, field", [
    ({"sizes": [1]}, "sizes"), ({"sizes": []}, "sizes"), ({"sizes": [40], "pool": 30}, "pool"),
    ({"test": "anova"}, "test"), ({"arm": "nobody"}, "arm"), ({"arm": "midazolam", "versus": "midazolam"}, "arm"),
    ({"endpoints": ["cadss_peak"]}, "endpoints"), ({"endpoints": ["mean_change@0h"]}, "endpoints"),
    ({"replicates": 10}, "replicates"), ({"alpha": 0.7}, "alpha"), ({"dropout": 1.0}, "dropout"),
    ({"target": 1.5}, "target"), ({"uncertainty": 1}, "uncertainty"), ({"progress": 3}, "progress"),
    ({"between_trial": False}, "between_trial=False"), ({"draw_seed": 5}, "draw_seed"),
    ({"uncertainty": 2, "draw_seed": -1}, "draw_seed"), ({"uncertainty": 2, "between_trial": "no"}, "between_trial"),
])
def test_bad_arguments_are_one_line_naming_the_argument(two_arms, kw, field):
    with pytest.raises(InputError) as e:
        pw.run_power(two_arms, **{"sizes": [20], "replicates": 100, "pool": 200, **kw})
    assert str(e.value).startswith(f"{field}:") and "\n" not in str(e.value)


def test_a_withdrawal_is_refused_naming_the_design():
    sc = load_scenario(EXAMPLES / "sustain1_like_withdrawal.yaml")
    with pytest.raises(InputError, match=r"^design\.type: .*parallel and crossover"):
        pw.run_power(sc, sizes=[20])


def test_cli_writes_the_table_csv_figure_and_page(tmp_path, capsys):
    sc = tmp_path / "sc.yaml"
    sc.write_text(json.dumps(TWO_ARMS))
    csv, png, page = tmp_path / "p.csv", tmp_path / "p.png", tmp_path / "p.html"
    code, out, err = run_cli(capsys, "power", sc, "--sizes", "20,40", "--endpoint", "response_rate@24h",
                             "--replicates", "200", "--pool", "400", "--csv", csv, "--plot", png, "--report", page,
                             "--no-progress")
    assert code == 0, err
    assert "ketamine vs midazolam" in out and "n for 80%" in out and "not medical advice" in out
    import pandas as pd

    df = pd.read_csv(csv, comment="#")
    assert list(df["n_per_arm"]) == [20, 40] and (df["measure"] == "response_rate").all()
    prov = json.loads((tmp_path / "p.csv.provenance.json").read_text())
    assert prov["replicates"] == 200 and prov["pool"] == 400 and prov["parameter_set"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = page.read_text()
    assert "Power curves" in html and "not medical advice" in html


@pytest.mark.parametrize("argv, option", [
    (["--sizes", "abc"], "--sizes"), (["--sizes", "1"], "--sizes"), (["--endpoint", "cadss_peak"], "--endpoint"),
    (["--test", "anova"], "--test"), (["--dropout", "2"], "--dropout"), (["--arm", "x"], "--arm"),
    (["--plot", "p.txt"], "--plot"),
])
def test_cli_bad_options_are_one_line_naming_the_option(tmp_path, capsys, argv, option):
    sc = tmp_path / "sc.yaml"
    sc.write_text(json.dumps(TWO_ARMS))
    argv = [str(tmp_path / a) if a == "p.txt" else a for a in argv]
    code, out, err = run_cli(capsys, "power", sc, "--replicates", "100", "--pool", "200", "--no-progress", *argv)
    assert code != 0
    assert one_error_line(err).startswith(f"error: {option}")


def test_a_scenario_without_endpoints_and_a_time_it_does_not_list(two_arms):
    """The default endpoints (no `endpoints:`) and a time the scenario does not list (added to its endpoint times)."""
    doc = {k: v for k, v in TWO_ARMS.items() if k != "endpoints"}
    res = pw.run_power(scenario_from_dict(doc), sizes=[20], endpoints=["remission_rate@24h", "mean_change@3d"],
                       replicates=100, pool=200)
    assert set(res.table()["measure"]) == {"remission_rate", "mean_change"}
    assert set(res.table()["time_h"]) == {24.0, 72.0}


def test_the_replicates_work_is_bounded_by_the_time_budget(two_arms, monkeypatch):
    monkeypatch.setenv("KETASIM_MAX_SECONDS", "1")
    with pytest.raises(InputError, match=r"^replicates: .*KETASIM_MAX_SECONDS"):
        pw.run_power(two_arms, sizes=[5000], replicates=100_000, pool=5000, endpoints=["mean_change@24h"])


def test_unequal_allocation_draws_the_ratio_and_sits_between_the_balanced_trials(two_arms, base):
    """2:1 (as Murrough 2013 randomized ketamine:midazolam): 40 tested + 20 compared-with patients has less power than
    40 + 40 and more than 20 + 20; the normal theory uses the same ratio."""
    res = pw.run_power(two_arms, sizes=[40], endpoints=["mean_change@24h", "response_rate@24h"], replicates=1000,
                       pool=2000, allocation="2:1")
    for m in ("mean_change", "response_rate"):
        r = _row(res, m, 40)
        assert r["n_versus"] == 20
        assert _row(base, m, 20)["power"] - 0.02 <= r["power"] <= _row(base, m, 40)["power"] + 0.02
        assert r["normal_theory_power"] < _row(base, m, 40)["normal_theory_power"]
    assert "allocation 2:1" in res.format_table()
    with pytest.raises(InputError, match="^allocation: "):
        pw.run_power(two_arms, sizes=[20], allocation="2-1")
    sc = load_scenario(EXAMPLES / "crossover_one_week_apart.yaml")
    with pytest.raises(InputError, match="^allocation: a crossover"):
        pw.run_power(sc, sizes=[20], allocation="2:1")


def test_unequal_allocation_tells_participants_their_chance_of_ketamine(two_arms):
    """2:1 ketamine:midazolam: participants are told 2/3 (population.p_active, the design expectancy) unless the
    scenario states it; 1:1 keeps the scenario's 0.5."""
    r21 = pw.run_power(two_arms, sizes=[20], endpoints=["mean_change@24h"], replicates=100, pool=200,
                       allocation="2:1")
    r11 = pw.run_power(two_arms, sizes=[20], endpoints=["mean_change@24h"], replicates=100, pool=200)
    assert r21.provenance["p_active"] == pytest.approx(2 / 3) and r11.provenance["p_active"] == 0.5
    stated = scenario_from_dict({**TWO_ARMS, "population": {**TWO_ARMS["population"], "p_active": 0.5}})
    rs = pw.run_power(stated, sizes=[20], endpoints=["mean_change@24h"], replicates=100, pool=200, allocation="2:1")
    assert rs.provenance["p_active"] == 0.5


def test_arms_left_out_of_the_comparison_are_not_simulated_and_the_kept_arms_keep_their_patients():
    """design_example has three arms; --arm on the third keeps it and the control (midazolam): their pools are the
    full trial's patients (streams by the arm's position), so the effect equals the 3-arm trial's comparison, and a
    comparison's power does not depend on which other arms are asked for (review R1-2, R1-3)."""
    sc = load_scenario(EXAMPLES / "design_example.yaml")
    third = "esketamine-twice-weekly"
    one = pw.run_power(sc, sizes=[20], arm=third, endpoints=["mean_change@24h"], replicates=200, pool=200)
    both = pw.run_power(sc, sizes=[20], endpoints=["mean_change@24h"], replicates=200, pool=200)
    assert one.provenance["comparisons"] == [f"{third} vs midazolam"]
    tr = run_trial(sc, n=200)
    comp = next(c["value"] for c in tr.comparisons if c["arm"] == third and c["time_h"] == 24.0
                and c["measure"] == "mean_change_difference")
    assert _row(one, "mean_change", 20)["effect"] == pytest.approx(comp, abs=1e-9)
    assert _row(one, "mean_change", 20)["power"] == _row(both, "mean_change", 20, arm=third)["power"]


def test_an_arm_worse_than_its_comparator_has_no_power_either_way(two_arms):
    """Swapped arms: midazolam tested against ketamine is significant only against it: the replicate power and the
    normal-theory power (one tail, in the arm's favour) are both ~0 (review R1-1)."""
    res = pw.run_power(two_arms, arm="midazolam", versus="ketamine", sizes=[40],
                       endpoints=["mean_change@24h", "response_rate@24h"], replicates=500, pool=1000)
    for m in ("mean_change", "response_rate"):
        r = _row(res, m, 40)
        assert r["power"] < 0.01 and r["normal_theory_power"] < 0.01


def test_ancova_needs_a_change_endpoint(two_arms):
    with pytest.raises(InputError, match="^test: ancova analyses the change"):
        pw.run_power(two_arms, sizes=[20], endpoints=["response_rate@24h"], test="ancova")


def test_equal_allocation_keeps_the_scenarios_expectancy_and_near_equal_is_near_it():
    """One p_active rule (review R1-7): 1:1 keeps the loaded scenario's (2/3 for design_example's two ketamine arms of
    three, the other arm dropped from the simulation or not), 1:1.01 is within 0.01 of it."""
    sc = load_scenario(EXAMPLES / "design_example.yaml")
    kw = dict(sizes=[20], arm="ketamine", endpoints=["mean_change@24h"], replicates=100, pool=200)
    equal = pw.run_power(sc, **kw).provenance["p_active"]
    near = pw.run_power(sc, allocation="1:1.01", **kw).provenance["p_active"]
    assert equal == pytest.approx(2 / 3) and abs(near - equal) < 0.01


# ---- forty-third session (H6): margins, incidence endpoints, the size search ---------------------------------------
def _brute_restricted_mle(s1, n1, s2, n2, delta):
    """The proportions maximising the binomial likelihood under p1 - p2 = delta, by a bounded 1-D search."""
    from scipy.optimize import minimize_scalar

    def nll(p2):
        p1 = p2 + delta
        with np.errstate(divide="ignore", invalid="ignore"):
            return -(s1 * np.log(p1) + (n1 - s1) * np.log1p(-p1) + s2 * np.log(p2) + (n2 - s2) * np.log1p(-p2))

    lo, hi = max(0.0, -delta) + 1e-12, min(1.0, 1.0 - delta) - 1e-12
    p2 = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    return p2 + delta, p2


def test_margin_tests_equal_scipy_statsmodels_and_the_likelihood_per_replicate():
    """The one-sided margin tests, one replicate at a time: Welch as scipy's ttest_ind of a - M (alternative 'less'
    for a change, whose favour is a fall), ANCOVA as the OLS group coefficient's t-test against M, paired as
    ttest_1samp against M, rates as the Farrington-Manning z with the likelihood's own restricted maximum (found by
    a 1-D search; statsmodels 0.15's score_test_proportions_2indep solves a cubic whose root is not the maximum for a
    margin other than 0: its z differs in the third digit). At margin 0 every test rejects exactly where the
    two-sided test is significant in the arm's favour."""
    import statsmodels.api as sm

    rng = np.random.default_rng(43)
    r, n, alpha = 40, 30, 0.05
    a, b = rng.normal(-8, 6, (r, n)), rng.normal(-6, 8, (r, n))
    xa, xb = rng.normal(33, 5, (r, n)), rng.normal(33, 5, (r, n))
    a = a - 0.4 * (xa - 33)
    ma, mb = rng.random((r, n)) > 0.15, rng.random((r, n)) > 0.1
    ra, rb = rng.random((r, n)) < 0.45, rng.random((r, n)) < 0.35
    rejects = 0
    for margin in (2.0, -1.5, 0.0):
        d_w, se2, df = pw._welch_parts(a, b, ma, mb)
        w = pw.one_sided_reject(d_w, np.sqrt(se2), df, -1.0, margin, alpha)
        d_a, s2, fac, df_a = pw._ancova_fit(a, b, xa, xb, ma, mb)
        an = pw.one_sided_reject(d_a, np.sqrt(s2 * fac), df_a, -1.0, margin, alpha)
        x, v, k, _ = pw._mean_var(a - b, ma)
        pa_ = pw.one_sided_reject(x, np.sqrt(v / k), k - 1, -1.0, margin, alpha)
        _, z = pw.proportion_margin_test(ra, rb, ma, mb, 1.0, margin / 100.0, alpha)
        for i in range(r):
            A, B = a[i][ma[i]], b[i][mb[i]]
            assert w[i] == (stats.ttest_ind(A - margin, B, equal_var=False, alternative="less").pvalue < alpha / 2)
            y = np.concatenate([A, B])
            X = np.column_stack([np.ones(y.size), np.r_[np.ones(A.size), np.zeros(B.size)],
                                 np.concatenate([xa[i][ma[i]], xb[i][mb[i]]])])
            fit = sm.OLS(y, X).fit()
            t = (fit.params[1] - margin) / fit.bse[1]
            assert an[i] == (stats.t.cdf(t, fit.df_resid) < alpha / 2)
            D = (a[i] - b[i])[ma[i]]
            assert pa_[i] == (stats.ttest_1samp(D, margin, alternative="less").pvalue < alpha / 2)
            s1, n1, s2_, n2 = int(ra[i][ma[i]].sum()), int(ma[i].sum()), int(rb[i][mb[i]].sum()), int(mb[i].sum())
            p1, p2 = _brute_restricted_mle(s1, n1, s2_, n2, -margin / 100.0)
            zz = (s1 / n1 - s2_ / n2 + margin / 100.0) / np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
            assert z[i] == (stats.norm.sf(zz) < alpha / 2)
            ta, tb = pw.restricted_mle_proportions(np.array([s1 / n1]), np.array([s2_ / n2]), np.array([n1 * 1.0]),
                                                   np.array([n2 * 1.0]), -margin / 100.0)
            assert ta[0] == pytest.approx(p1, abs=1e-6) and tb[0] == pytest.approx(p2, abs=1e-6)
        rejects += int(w.sum() + an.sum() + z.sum())
        if margin == 0.0:
            _, p_w = pw.welch_test(a, b, ma, mb)
            _, p_an = pw.ancova_test(a, b, xa, xb, ma, mb)
            _, p_p = pw.paired_t_test(a - b, ma)
            d_z, p_z = pw.proportion_z_test(ra, rb, ma, mb)
            np.testing.assert_array_equal(w, (p_w < alpha) & (d_w < 0))
            np.testing.assert_array_equal(an, (p_an < alpha) & (d_a < 0))
            np.testing.assert_array_equal(pa_, (p_p < alpha) & (x < 0))
            np.testing.assert_array_equal(z, (p_z < alpha) & (d_z > 0))
    assert rejects > 0          # not a comparison of all-False arrays


def test_margin_power_equals_the_closed_form_on_exactly_normal_and_bernoulli_pools():
    """Non-inferiority with no true difference and a margin of 0.5 SD, and superiority by 0.3 SD with a true 0.8 SD:
    both are the t-test power of d = 0.5 at one-sided alpha/2 (statsmodels TTestIndPower: 0.80 at 64 per arm);
    rates with equal true proportions 0.5 and a 15-point margin: the Farrington-Manning normal approximation."""
    from statsmodels.stats.power import TTestIndPower

    e = pw._Endpoint("mean_change", 24.0)
    pool = 100_000
    z1, z2 = _standard_normal(pool, 1), _standard_normal(pool, 2)
    reps = 4000
    expected = TTestIndPower().power(0.5, nobs1=64, alpha=0.025, alternative="larger")
    se = np.sqrt(expected * (1 - expected) / reps)
    for shift, margin in ((0.0, 0.5), (-0.8, -0.3)):
        arrays = {("a", e): (z1 + shift, z1), ("b", e): (z2, z2)}
        wins = pw._replicate_power(arrays, [("a", "b")], [e], (64,), {"mean_change": "welch"}, reps, 0.05, 0.0,
                                   False, 5, margins={e: margin})
        assert abs(wins[("a", "b"), e, 64] / reps - expected) < 4 * se + 0.005
        nt = pw._normal_theory_power(arrays["a", e], arrays["b", e], "mean_change", "welch", 64, 0.05, 1.0, margin)
        assert nt == pytest.approx(expected, abs=2e-3)
    r = pw._Endpoint("response_rate", 24.0)
    ra, rb = np.arange(10_000) < 5000, np.arange(10_000) % 2 == 0
    x = np.zeros(10_000)
    wins = pw._replicate_power({("a", r): (ra, x), ("b", r): (rb, x)}, [("a", "b")], [r], (150,),
                               {"response_rate": "z"}, reps, 0.05, 0.0, False, 9, margins={r: 15.0})
    fm = pw.farrington_manning_power(0.5, 0.5, 150, 150, 0.15, 0.05)
    assert 0.7 < fm < 0.9
    assert abs(wins[("a", "b"), r, 150] / reps - fm) < 4 * np.sqrt(fm * (1 - fm) / reps) + 0.02
    # at margin 0 the Farrington-Manning power is statsmodels' pooled-null z-test power (one tail)
    from statsmodels.stats.proportion import power_proportions_2indep

    ref = power_proportions_2indep(0.1, 0.3, 120, alpha=0.025, alternative="larger", return_results=False)
    assert pw.farrington_manning_power(0.4, 0.3, 120, 120, 0.0, 0.05) == pytest.approx(ref, rel=1e-6)


def test_margin_zero_is_the_present_power_and_larger_margins_give_more(two_arms, base):
    zero = pw.run_power(two_arms, sizes=[20, 40, 80], endpoints=["mean_change@24h", "response_rate@24h"],
                        replicates=1000, pool=2000, margin=0)
    cols = ["power", "normal_theory_power", "effect"]
    assert zero.table()[cols].equals(base.table()[cols])
    assert set(zero.table()["hypothesis"]) == {"superiority"} and (zero.table()["margin"] == 0).all()
    kw = dict(sizes=[20, 40], endpoints=["mean_change@24h"], replicates=1000, pool=2000)
    ni = pw.run_power(two_arms, margin=2, **kw)
    sup = pw.run_power(two_arms, margin="mean_change@24h=-2", **kw)
    for n in (20, 40):
        # the same replicates: the margin shifts each replicate's statistic, so the rejections are nested
        assert _row(sup, "mean_change", n)["power"] <= _row(base, "mean_change", n)["power"] \
            <= _row(ni, "mean_change", n)["power"]
        assert _row(ni, "mean_change", n)["hypothesis"] == "non-inferiority"
        assert _row(sup, "mean_change", n)["hypothesis"] == "superiority by a margin"
        assert abs(_row(ni, "mean_change", n)["power"] - _row(ni, "mean_change", n)["normal_theory_power"]) < 0.1
    assert _row(sup, "mean_change", 20)["power"] < _row(base, "mean_change", 20)["power"]
    assert ni.provenance["margins"] == {"mean_change@24h": 2.0} and "non-inferiority" in ni.provenance["sided"]
    assert "Margins: mean_change@24h +2 pts" in ni.format_table()


@pytest.mark.parametrize("margin, match", [
    (3, "mix scale points"), ("response_rate@7d=3", "not an endpoint asked for"), ("x", "expected a number"),
    ({"mean_change@24h": 200}, "between -100 and 100"), (["mean_change@24h"], "ENDPOINT=M"),
])
def test_bad_margins_are_one_line_naming_the_argument(two_arms, margin, match):
    with pytest.raises(InputError, match=rf"^margin: .*{match}") as e:
        pw.run_power(two_arms, sizes=[20], replicates=100, pool=200, margin=margin,
                     endpoints=["mean_change@24h", "response_rate@24h"])
    assert "\n" not in str(e.value)


def test_a_margin_on_a_crossovers_rate_and_a_positive_one_on_an_incidence_are_refused(two_arms):
    sc = load_scenario(EXAMPLES / "crossover_one_week_apart.yaml")
    with pytest.raises(InputError, match=r"^margin: response_rate@24h: a crossover's rates .* McNemar"):
        pw.run_power(sc, sizes=[20], endpoints=["response_rate@24h"], margin=5)
    with pytest.raises(InputError, match=r"^margin: nausea_rate: an incidence is tested for harm"):
        pw.run_power(two_arms, sizes=[20], endpoints=["nausea_rate"], margin=5)


def test_the_test_and_multiplicity_choices_are_read_by_check_choice(two_arms):
    """Review R3-5: --test and --multiplicity read as limits.check_choice reads a choice (one message shape)."""
    kw = dict(sizes=[20], replicates=100, pool=200, endpoints=["mean_change@24h"])
    for bad in ("anova", 3, None):
        with pytest.raises(InputError, match=r"^test: use welch or ancova, got ") as e:
            pw.run_power(two_arms, test=bad, **kw)
        assert "\n" not in str(e.value)
    with pytest.raises(InputError, match=r"^multiplicity: use bonferroni or holm, got 3$"):
        pw.run_power(two_arms, multiplicity=3, **kw)
    assert pw.run_power(two_arms, test=" ANCOVA ", multiplicity=" Holm", **kw).table()["test"].iloc[0] == "ancova"


def test_harm_rows_say_more_events_in_the_arm_in_the_header_and_sided(two_arms):
    """Review R3-4: an incidence is counted against the arm (more events); the header and ``sided`` say so, and a run
    without incidences keeps its words."""
    kw = dict(sizes=[20], replicates=100, pool=200)
    harm = pw.run_power(two_arms, endpoints=["mean_change@24h", "dissociation_rate"], **kw)
    head = harm.format_table().splitlines()[0]
    # (the words are H9's, merged with this fix: "more patients with the event in the (tested) arm")
    assert "in the arm's favour (an incidence: more patients with the event in the arm, harm)" in head
    assert "an incidence (harm): more patients with the event in the tested arm" in harm.provenance["sided"]
    margin = pw.run_power(two_arms, endpoints=["dissociation_rate"], margin=-5, **kw)
    assert "more patients with the event in the tested arm" in margin.provenance["sided"]
    assert "arm's favour" not in margin.format_table().splitlines()[0]
    plain = pw.run_power(two_arms, endpoints=["mean_change@24h"], **kw)
    assert "incidence" not in plain.format_table().splitlines()[0] and "incidence" not in plain.provenance["sided"]


def test_a_crossovers_incidence_endpoint_is_refused_in_one_line():
    """Review R3-2: a crossover's periods draw independent susceptibilities, so McNemar on them would understate the
    power; the endpoint is refused, naming the option, before anything is simulated."""
    sc = load_scenario(EXAMPLES / "crossover_one_week_apart.yaml")
    with pytest.raises(InputError,
                       match=r"^endpoints: dissociation_rate: a crossover's periods .* parallel design") as e:
        pw.run_power(sc, sizes=[20], replicates=100, pool=200, endpoints=["mean_change@24h", "dissociation_rate"])
    assert "\n" not in str(e.value)


def test_incidence_endpoints_give_the_power_to_detect_harm(two_arms):
    """Dissociation is more frequent after ketamine than midazolam: power to detect it grows with the size and is
    near the normal theory; the pool's incidence agrees with the trial's own arm row (the same patients, the event
    drawn from the arm's own stream: within sampling error); midazolam tested against ketamine (fewer events) has
    ~0 power; an arm's incidences do not depend on the other endpoints asked for."""
    res = pw.run_power(two_arms, sizes=[30, 90], endpoints=["dissociation_rate", "mean_change@24h"],
                       replicates=1000, pool=2000)
    r30, r90 = _row(res, "dissociation_rate", 30), _row(res, "dissociation_rate", 90)
    assert np.isnan(r30["time_h"]) and r30["test"] == "z" and r30["hypothesis"] == "harm"
    assert r30["effect"] > 5 and r30["unit"] == "percentage points"
    assert r30["power"] < r90["power"]
    for r in (r30, r90):
        assert abs(r["power"] - r["normal_theory_power"]) < 0.1
    alone = pw.run_power(two_arms, sizes=[30], endpoints=["dissociation_rate"], replicates=1000, pool=2000)
    assert _row(alone, "dissociation_rate", 30)["power"] == r30["power"]
    sc = scenario_from_dict({**TWO_ARMS, "endpoints": {"times": ["24 h"], "measures": ["dissociation_rate"]}})
    tr = run_trial(sc, n=2000)
    rate = {row["arm"]: row["value"] for row in tr.endpoints if row["measure"] == "dissociation_rate"}
    trial_diff = rate["ketamine"] - rate["midazolam"]
    se = 100 * np.sqrt(2 * sum(p / 100 * (1 - p / 100) for p in rate.values()) / 2000)
    assert abs(r30["effect"] - trial_diff) < 4 * se
    swapped = pw.run_power(two_arms, arm="midazolam", versus="ketamine", sizes=[60], endpoints=["dissociation_rate"],
                           replicates=500, pool=1000)
    assert _row(swapped, "dissociation_rate", 60)["power"] < 0.01
    assert "dissociation (incidence)" in res.format_table()
    assert res.provenance["endpoints"] == ["dissociation_rate", "mean_change@24h"]


@pytest.mark.parametrize("endpoint, match", [
    ("headache_rate", r"headache_rate: not an endpoint .*dissociation_rate, .*hypertension_rate"),
    ("nausea_rate@24h", r"nausea_rate is the incidence over the whole period"),
    ("dissociation", r"dissociation: not an endpoint .*dissociation_rate, "),
    ("mean_chnage@24h", r"mean_chnage: not an endpoint .*score endpoints: mean_change"),
])
def test_an_incidence_the_trial_cannot_compute_is_one_line_listing_the_valid_names(two_arms, endpoint, match):
    with pytest.raises(InputError, match=rf"^endpoints: {match}") as e:
        pw.run_power(two_arms, sizes=[20], endpoints=[endpoint])
    assert "\n" not in str(e.value)


def test_the_search_evaluates_few_sizes_and_finds_a_deterministic_threshold():
    """search_size on step functions (every threshold, start and bound): the smallest size reaching the target,
    within search_evaluations(max_size) sizes, all inside [2, max_size]; with Monte Carlo-like noise still bounded."""
    import random

    for top in (2, 3, 10, 57, 500, 100_000):
        bound = pw.search_evaluations(top)
        for thr in [*range(1, 40), top // 3, top, top + 5]:
            for start in (1, 2, 7, thr, top // 2, top):
                ev = pw.search_size(lambda n: float(n >= thr), start, top, 0.5)
                assert len(ev) <= bound and all(2 <= n <= top for n in ev) and len(set(ev)) == len(ev)
                ok = [n for n in ev if n >= thr]
                assert (min(ok) if ok else None) == (max(thr, 2) if thr <= top else None), (top, thr, start, ev)
                rnd = random.Random(thr * 31 + start)
                noisy = pw.search_size(lambda n: float((n >= thr) != (rnd.random() < 0.2)), start, top, 0.5)
                assert len(noisy) <= bound


def test_sizes_auto_finds_the_smallest_size_with_the_grids_own_rows(two_arms):
    """The search's rows are the rows a list of the same sizes gives (the same pool and streams); the answer reaches
    the target and the size below it, evaluated, does not; an endpoint out of reach ends at max_size."""
    res = pw.run_power(two_arms, sizes="auto", max_size=120, endpoints=["mean_change@24h", "mean_change@7d"],
                       replicates=500)
    assert res.provenance["pool"] == 2000 and res.provenance["sizes"] == "auto"
    df = res.table()
    need = res.sample_sizes().set_index("time_h")["smallest_n_per_arm"]
    n24 = int(need[24.0])
    d24 = df[df["time_h"] == 24.0].set_index("n_per_arm")
    assert d24.loc[n24, "power"] >= 0.8 and d24.loc[n24 - 1, "power"] < 0.8
    assert sorted(d24["search_step"]) == list(range(1, len(d24) + 1))
    assert len(d24) <= pw.search_evaluations(120)
    grid = pw.run_power(two_arms, sizes=sorted(d24.index), endpoints=["mean_change@24h"], replicates=500, pool=2000)
    assert list(grid.table()["power"]) == list(d24["power"])
    assert np.isnan(need[168.0]) and 120 in set(df[df["time_h"] == 168.0]["n_per_arm"])
    text = res.format_table()
    assert "sizes evaluated (in order)" in text and "> 120" in text
    assert res.provenance["search"]["evaluated"]["ketamine vs midazolam: mean_change@24h"][0] == \
        int(d24["search_step"].idxmin())


def test_sizes_auto_by_assurance_and_its_bounds(two_arms, monkeypatch):
    res = pw.run_power(two_arms, sizes="auto", max_size=40, endpoints=["response_rate@24h"], replicates=200,
                       pool=400, uncertainty=3)
    df = res.table()
    assert df["assurance"].notna().all() and res.sample_sizes()["by"].iloc[0] == "assurance"
    n = res.sample_sizes()["smallest_n_per_arm"].iloc[0]
    if np.isfinite(n):
        assert df.set_index("n_per_arm").loc[int(n), "assurance"] >= 0.8
    with pytest.raises(InputError, match="^max_size: bounds the search"):
        pw.run_power(two_arms, sizes=[20], max_size=40)
    monkeypatch.setenv("KETASIM_MAX_SECONDS", "1")
    with pytest.raises(InputError, match=r"^replicates: .*a search up to 100,000 .*KETASIM_MAX_SECONDS.*max_size"):
        pw.run_power(two_arms, sizes="auto", max_size=100_000, replicates=100_000, pool=100_000,
                     endpoints=["mean_change@24h"])


def test_cli_margin_incidence_and_search_write_the_new_columns(tmp_path, capsys):
    import pandas as pd

    sc = tmp_path / "sc.yaml"
    sc.write_text(json.dumps(TWO_ARMS))
    csv = tmp_path / "p.csv"
    code, out, err = run_cli(capsys, "power", sc, "--sizes", "auto", "--max-size", "60", "--endpoint",
                             "mean_change@24h,dissociation_rate", "--margin", "mean_change@24h=2",
                             "--replicates", "200", "--pool", "600", "--csv", csv, "--no-progress")
    assert code == 0, err
    assert "sizes evaluated (in order)" in out and "dissociation (incidence)" in out
    df = pd.read_csv(csv, comment="#")
    assert {"margin", "hypothesis", "search_step"} <= set(df.columns)
    assert set(df["hypothesis"]) == {"non-inferiority", "harm"}
    assert df[df["measure"] == "dissociation_rate"]["time_h"].isna().all()
    prov = json.loads((tmp_path / "p.csv.provenance.json").read_text())
    assert prov["margins"] == {"mean_change@24h": 2.0} and prov["search"]["max_size"] == 60
    assert prov["units"]["margin"].startswith("the row's unit")
    code, out, err = run_cli(capsys, "power", sc, "--sizes", "20", "--endpoint", "mean_change@24h", "--margin=-2",
                             "--replicates", "100", "--pool", "200", "--no-progress")
    assert code == 0, err
    assert "Margins: mean_change@24h -2 pts" in out
    for argv, option in ((["--margin", "2", "--endpoint", "mean_change@24h,response_rate@24h"], "--margin"),
                         (["--endpoint", "headache_rate"], "--endpoint"), (["--max-size", "40"], "--max-size")):
        code, out, err = run_cli(capsys, "power", sc, "--sizes", "20", "--replicates", "100", "--pool", "200",
                                 "--no-progress", *argv)
        assert code == 2 and one_error_line(err).startswith(f"error: {option}")


def test_adjusted_rejections_equal_statsmodels_multipletests_per_replicate():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(7)
    p = rng.random((4, 300)) ** 3            # many small p values, some ties at the thresholds' scale
    p[1, :20] = p[2, :20]
    p[0, 5] = np.nan
    for method in pw.MULTIPLICITY:
        got = pw.adjusted_rejections(p, 0.025, method)
        for r in range(p.shape[1]):
            ref = multipletests(np.nan_to_num(p[:, r], nan=1.0), alpha=0.025, method=method)[0]
            np.testing.assert_array_equal(got[:, r], ref)
    assert pw.adjusted_rejections(p, 0.025, "holm").sum() > pw.adjusted_rejections(p, 0.025, "bonferroni").sum()


def test_multiplicity_power_equals_the_closed_form_for_independent_endpoints():
    """Two endpoints whose patient values are independent (exactly normal pools, d 0.5, 64 per arm): Bonferroni's
    power per endpoint is the t-test power at one-sided alpha/4, 'all' its square; Holm's 'all' is p(a)^2 - (p(a) -
    p(a/2))^2 with a = alpha/2 (both below a and one below a/2); 'any' is 1 - (1 - p(a/2))^2 for both."""
    from statsmodels.stats.power import TTestIndPower

    e1, e2 = pw._Endpoint("mean_change", 24.0), pw._Endpoint("mean_change", 168.0)
    pool = 100_000
    z1, z2, z3, z4 = (_standard_normal(pool, s) for s in (1, 2, 3, 4))
    arrays = {("a", e1): (z1 - 0.5, z1), ("b", e1): (z2, z2), ("a", e2): (z3 - 0.5, z3), ("b", e2): (z4, z4)}
    reps = 4000
    power = lambda level: TTestIndPower().power(0.5, nobs1=64, alpha=level, alternative="larger")  # noqa: E731
    a = 0.025
    expect = {"bonferroni": (power(a / 2), power(a / 2) ** 2),
              "holm": (None, power(a) ** 2 - (power(a) - power(a / 2)) ** 2)}
    for method, (each, every) in expect.items():
        fam = {}
        wins = pw._replicate_power(arrays, [("a", "b")], [e1, e2], (64,), {"mean_change": "welch"}, reps, 0.05,
                                   0.0, False, 5, multiplicity=method, family=fam)
        tol = lambda x: 4 * np.sqrt(x * (1 - x) / reps) + 0.005  # noqa: E731
        assert abs(fam["all", 64] / reps - every) < tol(every)
        anyp = 1 - (1 - power(a / 2)) ** 2
        assert abs(fam["any", 64] / reps - anyp) < tol(anyp)
        for e in (e1, e2):
            assert fam[("a", "b"), e, 64] <= wins[("a", "b"), e, 64]
            if each is not None:
                assert abs(fam[("a", "b"), e, 64] / reps - each) < tol(each)


def test_co_primary_power_is_the_unadjusted_intersection_on_independent_normal_pools():
    """Review R3-1: co-primary endpoints (every one must succeed) need no adjustment; on two independent endpoints
    power_all_unadjusted ~ p(alpha)^2, and it is never below the adjusted family's power_all."""
    from statsmodels.stats.power import TTestIndPower

    e1, e2 = pw._Endpoint("mean_change", 24.0), pw._Endpoint("mean_change", 168.0)
    pool = 100_000
    z1, z2, z3, z4 = (_standard_normal(pool, s) for s in (11, 12, 13, 14))
    arrays = {("a", e1): (z1 - 0.5, z1), ("b", e1): (z2, z2), ("a", e2): (z3 - 0.5, z3), ("b", e2): (z4, z4)}
    reps = 4000
    p = TTestIndPower().power(0.5, nobs1=64, alpha=0.025, alternative="larger")
    tol = 4 * np.sqrt(p * p * (1 - p * p) / reps) + 0.005
    for method in ("holm", "bonferroni"):
        fam = {}
        wins = pw._replicate_power(arrays, [("a", "b")], [e1, e2], (64,), {"mean_change": "welch"}, reps, 0.05,
                                   0.0, False, 5, multiplicity=method, family=fam)
        assert abs(fam["all_unadjusted", 64] / reps - p * p) < tol
        assert fam["all_unadjusted", 64] >= fam["all", 64]
        assert fam["all_unadjusted", 64] > fam["all", 64]     # strictly: Holm's all is p^2 - (p(a) - p(a/2))^2
        assert fam["all_unadjusted", 64] <= min(wins[("a", "b"), e, 64] for e in (e1, e2))


def test_multiplicity_on_the_model_is_nested_and_a_family_of_one_is_the_plain_power(two_arms):
    kw = dict(sizes=[20, 40], replicates=1000, pool=2000)
    eps = ["mean_change@24h", "response_rate@24h", "dissociation_rate"]
    bon = pw.run_power(two_arms, endpoints=eps, multiplicity="bonferroni", **kw).table()
    holm = pw.run_power(two_arms, endpoints=eps, multiplicity="Holm", margin={"mean_change@24h": 0}, **kw).table()
    assert (holm["multiplicity"] == "holm over 3").all() and holm["power_all"].notna().all()
    assert (bon["power"] == holm["power"]).all()                    # the same replicates, unadjusted
    assert (bon["power_adjusted"] <= holm["power_adjusted"]).all()     # Holm rejects a superset of Bonferroni
    assert (holm["power_adjusted"] <= holm["power"]).all()
    assert (holm["power_all"] <= holm["power_adjusted"]).all() and (holm["power_adjusted"] <= holm["power_any"]).all()
    assert (bon["power_any"] == holm["power_any"]).all()              # the first step is the same test
    assert (holm["power_adjusted"] < holm["power"]).any()
    one = pw.run_power(two_arms, endpoints=["response_rate@24h"], multiplicity="holm", **kw).table()
    for col in ("power_adjusted", "power_all", "power_any", "power_all_unadjusted"):
        assert (one[col] == one["power"]).all()
    assert (holm["power_all_unadjusted"] >= holm["power_all"]).all()
    plain = pw.run_power(two_arms, endpoints=eps, **kw).table()
    assert plain["power_adjusted"].isna().all() and (plain["multiplicity"] == "").all()
    with pytest.raises(InputError, match="^multiplicity: use bonferroni or holm, got 'hochberg'$"):
        pw.run_power(two_arms, endpoints=eps, multiplicity="hochberg", **kw)
    with pytest.raises(InputError, match="^multiplicity: .*auto searches each endpoint"):
        pw.run_power(two_arms, sizes="auto", max_size=50, endpoints=eps, multiplicity="holm")


def test_cli_multiplicity(tmp_path, capsys):
    import pandas as pd

    sc = tmp_path / "sc.yaml"
    sc.write_text(json.dumps(TWO_ARMS))
    csv = tmp_path / "m.csv"
    code, out, err = run_cli(capsys, "power", sc, "--sizes", "20,40", "--endpoint", "mean_change@24h,response_rate@24h",
                             "--multiplicity", "holm", "--replicates", "200", "--pool", "400", "--csv", csv,
                             "--no-progress")
    assert code == 0, err
    assert "Multiplicity (Holm over 2" in out and "all / any" in out and "co-primary (all at their own level" in out
    df = pd.read_csv(csv, comment="#")
    assert {"multiplicity", "power_adjusted", "power_all", "power_any", "power_all_unadjusted"} <= set(df.columns)
    prov = json.loads((tmp_path / "m.csv.provenance.json").read_text())
    assert prov["multiplicity"]["method"] == "holm" and len(prov["multiplicity"]["family"]) == 2
    code, out, err = run_cli(capsys, "power", sc, "--sizes", "20", "--multiplicity", "sidak", "--replicates", "100",
                             "--pool", "200", "--no-progress")
    assert code == 2 and one_error_line(err).startswith("error: --multiplicity")
