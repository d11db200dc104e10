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
