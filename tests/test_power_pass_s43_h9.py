"""A statistician's pass on `ketasim power`'s margins, incidence endpoints, size search and multiplicity (forty-third
session, H9): each test failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest

from ketasim import power as pw


def _normal(n, seed, mean, sd):
    z = np.random.default_rng(seed).standard_normal(n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def test_normal_theory_welch_at_unequal_allocation_uses_welchs_standard_error():
    """At 2:1 with a more variable comparator (SD 12 vs 6), Welch's SE is sqrt(36/40 + 144/20) = 2.85 points: the
    closed form must be the t-test power of (d + M) / that SE, not of the pooled SD (which gave SE 2.32, too
    optimistic); exactly normal pools, so the replicates agree with it too."""
    from scipy import stats

    e = pw._Endpoint("mean_change", 24.0)
    pool = 100_000
    ya, yb = _normal(pool, 1, -12.0, 6.0), _normal(pool, 2, -6.0, 12.0)
    x = np.zeros(pool)
    for margin in (0.0, 2.0, -2.0):
        nt = pw._normal_theory_power((ya, x), (yb, x), "mean_change", "welch", 40, 0.05, 0.5, margin)
        se = np.sqrt(36.0 / 40 + 144.0 / 20)
        df = 40 + 20 - 2                     # TTestIndPower's degrees of freedom
        expected = stats.nct.sf(stats.t.isf(0.025, df), df, (6.0 + margin) / se)
        assert nt == pytest.approx(expected, abs=2e-3), margin
    # the replicates (Welch) agree with it within Monte Carlo error (they did not with the pooled SD: 0.72 vs 0.83)
    reps = 4000
    wins = pw._replicate_power({("a", e): (ya, x), ("b", e): (yb, x)}, [("a", "b")], [e], (40,),
                               {"mean_change": "welch"}, reps, 0.05, 0.0, False, 3, ratio=0.5)
    nt = pw._normal_theory_power((ya, x), (yb, x), "mean_change", "welch", 40, 0.05, 0.5, 0.0)
    assert abs(wins[("a", "b"), e, 40] / reps - nt) < 4 * np.sqrt(nt * (1 - nt) / reps) + 0.01
    # 1:1 is unchanged: the pooled SD
    from statsmodels.stats.power import TTestIndPower

    nt11 = pw._normal_theory_power((ya, x), (yb, x), "mean_change", "welch", 40, 0.05, 1.0, 0.0)
    assert nt11 == pytest.approx(TTestIndPower().power(6.0 / np.sqrt((36 + 144) / 2), nobs1=40, alpha=0.025,
                                                       alternative="larger"), abs=1e-9)


TWO_ARMS = {"name": "ketamine vs midazolam", "seed": 11,
            "population": {"size": 100, "baseline": {"mean": 33, "sd": 5}},
            "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                   "duration": "40 min"}],
                     "midazolam": [{"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg",
                                    "duration": "40 min"}]},
            "endpoints": {"times": ["24 h"], "measures": ["mean_change", "response_rate"]}}


@pytest.fixture(scope="module")
def two_arms():
    from ketasim.scenario import scenario_from_dict

    return scenario_from_dict(TWO_ARMS)


def test_harm_says_more_events_in_the_arm_not_the_arms_favour(two_arms):
    """An incidence is tested for harm: the printed table's header and the provenance's ``sided`` said only
    'difference in the arm's favour' (the opposite of what an excess of dissociation is)."""
    harm = pw.run_power(two_arms, sizes=[20], endpoints=["dissociation_rate"], replicates=100, pool=400)
    head = harm.format_table().splitlines()[0]
    assert "arm's favour" not in head and "more patients with the event in the arm" in head
    assert "arm's favour" not in harm.provenance["sided"] and "harm" in harm.provenance["sided"]
    both = pw.run_power(two_arms, sizes=[20], endpoints=["mean_change@24h", "dissociation_rate"], replicates=100,
                        pool=400, margin="mean_change@24h=2")
    head = both.format_table().splitlines()[0]
    assert "arm's favour" in head and "an incidence: more patients with the event in the arm" in head
    assert "non-inferiority" in both.provenance["sided"] and "an incidence (harm)" in both.provenance["sided"]
    plain = pw.run_power(two_arms, sizes=[20], endpoints=["mean_change@24h"], replicates=100, pool=400)
    assert plain.provenance["sided"] == "two-sided, difference in the arm's favour"
    assert "event" not in plain.format_table().splitlines()[0]


def test_multiplicity_lines_under_draws_say_they_are_the_central_pools(two_arms):
    """With --uncertainty the table is the assurance but the multiplicity lines are the central pools' power (the
    docs say so; the printed lines did not, and read as lower than the assurance beside them)."""
    kw = dict(sizes=[20], endpoints=["mean_change@24h", "response_rate@24h"], replicates=100, pool=400,
              multiplicity="holm")
    drawn = pw.run_power(two_arms, uncertainty=2, **kw).format_table()
    (line,) = [x for x in drawn.splitlines() if x.startswith("Multiplicity")]
    assert "central pools' power, not the assurance" in line
    (line,) = [x for x in pw.run_power(two_arms, **kw).format_table().splitlines() if x.startswith("Multiplicity")]
    assert "central" not in line


def test_margin_words_name_the_unit_and_the_direction_of_both_signs():
    """The dashboard's notice read 'H0: the arm is worse by -2 or more' for a superiority margin, without a unit."""
    ni = pw.margin_words(2.0, "MADRS points")
    assert ni == "H0: the arm is worse than the comparator by 2 MADRS points or more (non-inferiority)"
    sup = pw.margin_words(-2.0, "MADRS points")
    assert "-2" not in sup and "better than the comparator by 2 MADRS points or less" in sup
    assert "superiority by more than 2 MADRS points" in sup
    assert "10 percentage points" in pw.margin_words(-10.0, "percentage points", harm=True)
    assert pw.margin_words(0.0, "MADRS points") == ""


def test_the_power_cards_answer_words_a_superiority_margin_with_its_unit():
    pytest.importorskip("starlette")
    from ketasim.web import api

    form = api.default_form()
    form["trial"] = {"size": 200, "seed": 7, "times": "24 h", "placebo_arm": True}
    form["power"] = {"sizes": "10, 20", "replicates": 100, "measure": "mean_change", "time": "24 h", "margin": -2}
    out = api.power_form(form)
    assert out["provenance"]["margins"] == {"mean_change@24h": -2.0}
    assert {r["hypothesis"] for r in out["rows"]} == {"superiority by a margin"}
    words = out["margin_hypothesis"]
    assert "better than the comparator by 2 MADRS points or less" in words and "-2" not in words
    form["power"].update(measure="response_rate", margin=10)
    assert "worse than the comparator by 10 percentage points" in api.power_form(form)["margin_hypothesis"]
    form["power"].update(margin=0)
    assert api.power_form(form)["margin_hypothesis"] == ""
    # the page uses the answer's words, not its own (which said 'worse by -2 or more')
    from pathlib import Path

    js = (Path(api.__file__).with_name("static") / "app.js").read_text()
    assert "body.margin_hypothesis" in js and "the arm is worse by ${margin}" not in js


def test_a_crossovers_size_is_its_patients_not_per_arm(tmp_path):
    """A crossover's replicate of size n has n patients, each in every period: the table, the figure axis and the
    report said 'patients per arm' (a statistician reads 2n patients)."""
    from ketasim.report import power_report
    from ketasim.scenario import load_scenario
    from ketasim.web.figures import power_figure

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    sc = load_scenario(root / "examples" / "crossover_one_week_apart.yaml")
    res = pw.run_power(sc, sizes=[10, 20], endpoints=["mean_change@24h"], replicates=100, pool=300)
    head = res.format_table().splitlines()[0]
    assert head.startswith("Power by patients (crossover: each in every period)") and "per arm" not in head
    rows = res.table().to_dict("records")
    fig = power_figure(rows, target=0.8, design="crossover")
    assert fig["layout"]["xaxis"]["title"]["text"] == pw.CROSSOVER_SIZE
    assert power_figure(rows, target=0.8)["layout"]["xaxis"]["title"]["text"] == "patients per arm"
    page = power_report(res, tmp_path / "p.html").read_text()
    assert "Power by patients (crossover: each in every period)" in page
    assert pw.size_axis_label("2:1") == "patients in the tested arm (allocation 2:1)"
    found = pw.run_power(sc, sizes="auto", max_size=30, endpoints=["mean_change@24h"], replicates=100, pool=300)
    head = found.format_table().splitlines()[0]
    assert "search up to 30;" in head and "per arm" not in head


def test_a_crossovers_figure_hover_says_patients():
    from ketasim.web.figures import power_figure

    row = {"arm": "k", "versus": "p", "time_h": 24.0, "measure": "mean_change", "test": "paired", "n_per_arm": 10,
           "power": 0.5, "power_ci95_low": 0.4, "power_ci95_high": 0.6, "margin": 0.0}
    hover = power_figure([row], target=0.8, design="crossover")["data"][1]["hovertemplate"]
    assert hover.startswith("n %{x} patients") and "tested arm" not in hover
    assert power_figure([row], target=0.8, allocation="2:1")["data"][1]["hovertemplate"].startswith(
        "n %{x} in the tested arm")


def test_the_contract_lists_the_incidence_measures_the_csv_writes():
    """docs/contracts.md's Power (CSV) listed `measure` as mean_change, response_rate, remission_rate only; the CSV
    writes dissociation_rate, ... (harm) too."""
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    text = (root / "docs" / "contracts.md").read_text()
    section = text.split("## Power (CSV)", 1)[1].split("\n## ", 1)[0]
    measure = section.split("`measure` (", 1)[1].split(")", 1)[0]
    for m in (*pw.MEASURES, *pw.HARM_MEASURES):
        assert m in measure.replace("\n", " "), m


def test_figures_say_a_margin_is_one_sided_with_its_unit(two_arms, tmp_path):
    """The PNG's title said 'power of a two-sided test at alpha 0.05' with margins (one-sided at 0.025) and the legend
    'margin +2' without a unit; the report's subtitle likewise; with --multiplicity the curves are unadjusted."""
    from ketasim.report import power_report

    res = pw.run_power(two_arms, sizes=[20], endpoints=["mean_change@24h", "response_rate@24h"], replicates=100,
                       pool=400, margin="mean_change@24h=2,response_rate@24h=-5")
    fig = pw.power_curves_figure(res)
    title = fig.axes[0].get_title()
    assert "one-sided test at alpha 0.025" in title and "two-sided" not in title
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(x.endswith("margin +2 pts)") for x in labels) and any(x.endswith("margin -5 pp)") for x in labels)
    page = power_report(res, tmp_path / "p.html").read_text()
    assert "replicate virtual trials per size, a one-sided test at alpha 0.025 (margin)" in page
    some = pw.run_power(two_arms, sizes=[20], endpoints=["mean_change@24h", "response_rate@24h"], replicates=100,
                        pool=400, margin="mean_change@24h=2", multiplicity="holm")
    words = pw.level_words(some.provenance)
    assert words == "a two-sided test at alpha 0.05 (with a margin: one-sided at 0.025), unadjusted for multiplicity"
    assert pw.level_words({"alpha": 0.05, "endpoints": ["x"]}) == "a two-sided test at alpha 0.05"


def test_a_search_under_draws_heads_its_values_assurance(two_arms):
    """--sizes auto --uncertainty N searches on the assurance and prints it; the column said 'power'."""
    res = pw.run_power(two_arms, sizes="auto", max_size=60, endpoints=["mean_change@24h"], replicates=100, pool=300,
                       uncertainty=2)
    lines = res.format_table().splitlines()
    assert lines[0].startswith("Assurance") and "sizes evaluated (in order): assurance" in lines[1]


def test_two_margins_for_one_endpoint_are_refused():
    """'mean_change@24h=2,mean_change@1d=-3' (the same endpoint) ran with the last margin, silently."""
    eps = [pw._Endpoint("mean_change", 24.0)]
    with pytest.raises(pw.InputError, match=r"^margin: mean_change@24h: two margins given \(2 and -3\)"):
        pw._margins("mean_change@24h=2,mean_change@1d=-3", eps, False)
    with pytest.raises(pw.InputError, match="two margins"):
        pw._margins(["mean_change@24h=2", "mean_change@24h=3"], eps, False)
    assert pw._margins("mean_change@24h=2,mean_change@1d=2", eps, False) == {eps[0]: 2.0}


def test_a_rate_margin_below_one_point_is_flagged_as_maybe_a_proportion(two_arms):
    """'--margin 0.1' on a response rate (a proportion, as statsmodels writes margins) ran silently as 0.1
    percentage points; the run now says the unit on its log (and runs as given)."""
    lines: list = []
    res = pw.run_power(two_arms, sizes=[20], endpoints=["response_rate@24h"], replicates=100, pool=300, margin=0.1,
                       log=lines.append)
    assert res.provenance["margins"] == {"response_rate@24h": 0.1}
    assert len(lines) == 1 and "response_rate@24h 0.1" in lines[0] and "percentage points" in lines[0]
    lines.clear()
    pw.run_power(two_arms, sizes=[20], endpoints=["response_rate@24h", "mean_change@24h"], replicates=100, pool=300,
                 margin="response_rate@24h=10,mean_change@24h=0.5", log=lines.append)
    assert lines == []
