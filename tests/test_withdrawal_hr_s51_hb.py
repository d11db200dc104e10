"""Fifty-first session (HB): the relapse hazard ratio of a randomized withdrawal or open-label follow-up (a Cox
model of the virtual patients' times to relapse) and observed rows of a published median time to relapse and hazard
ratio (``trial --observed``, ``qualify --external``).

The observed values below are made up for the tests (round numbers of a plausible size), not a published trial's."""

from __future__ import annotations

import json
import math
import time
import warnings

import numpy as np
import pytest

from _support import one_error_line, run_cli

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]

# ---- the estimators ---------------------------------------------------------------------------------------------


def _weekly(rng, hazard_per_day, n, weeks):
    """Exponential times to relapse (days) seen at weekly visits: the visit after the relapse (h), censored at the
    last visit; (time_h, relapsed)."""
    t = rng.exponential(1.0 / hazard_per_day, n)
    event = t <= 7 * weeks
    return np.where(event, np.ceil(t / 7.0) * 7.0, 7.0 * weeks) * 24.0, event


def test_cox_recovers_a_known_hazard_ratio_from_weekly_visits():
    """Exponential hazards 0.01 and 0.02 per day (HR 0.5), seen at 24 weekly visits: the Efron fit recovers 0.5,
    its Wald CI holds it, and over repeated trials the 95 % CI covers it about 95 % of the time. Breslow's ties,
    the statsmodels default, are further from it on these grouped times (why the row uses Efron)."""
    from statsmodels.duration.hazard_regression import PHReg

    from ketasim.trial import COX_TIES, cox_hazard_ratio

    assert COX_TIES == "efron"
    rng = np.random.default_rng(20261207)
    ta, ea = _weekly(rng, 0.01, 3000, 24)
    tb, eb = _weekly(rng, 0.02, 3000, 24)
    hr, ci, p, why = cox_hazard_ratio(ta, ea, tb, eb)
    assert why == "" and ci[0] < 0.5 < ci[1] and abs(math.log(hr / 0.5)) < 0.06 and p < 1e-30
    x = np.r_[np.ones(ta.size), np.zeros(tb.size)][:, None]
    breslow = math.exp(PHReg(np.r_[ta, tb], x, status=np.r_[ea, eb].astype(int)).fit(disp=0).params[0])
    assert abs(math.log(breslow / 0.5)) > abs(math.log(hr / 0.5))
    # coverage over 120 trials of 80 per arm (binomial SD of the share ~2 %)
    covered = 0
    for _ in range(120):
        ta, ea = _weekly(rng, 0.01, 80, 24)
        tb, eb = _weekly(rng, 0.02, 80, 24)
        _, ci, _, _ = cox_hazard_ratio(ta, ea, tb, eb)
        covered += ci[0] <= 0.5 <= ci[1]
    assert 0.88 <= covered / 120 <= 1.0
    # a ratio that cannot be estimated says why instead of a number
    none = np.zeros(10, bool)
    assert cox_hazard_ratio(ta[:10], none, tb[:10], eb[:10])[3] == "no relapse in one group: the Cox estimate is 0"
    assert math.isnan(cox_hazard_ratio(ta[:10], none, tb[:10], none)[0])
    # monotone likelihood (every relapse of one group before the other's first; tests/test_examples.py's small
    # SUSTAIN-1-like stratum of 1 and 2 patients stopped in an OverflowError): undefined, with why
    hr, ci, p, why = cox_hazard_ratio(np.array([2184.0]), np.ones(1, bool), np.array([1680.0, 1680.0]),
                                      np.ones(2, bool))
    assert math.isnan(hr) and why.endswith("(monotone likelihood): the Cox estimate is 0")


def test_the_bootstraps_vectorized_statistics_equal_statsmodels():
    """The bootstrap's row-wise Kaplan-Meier median and Efron Cox fit on visit-grid counts equal statsmodels
    (``trial.km_median``, ``PHReg(ties='efron')``) on random grouped data; where PHReg gives NaN (every patient of a
    group at risk at a visit relapsing at it) the trial's row uses the row-wise fit, which maximizes Efron's
    likelihood (checked against a direct maximization)."""
    from scipy.optimize import minimize_scalar
    from statsmodels.duration.hazard_regression import PHReg

    from ketasim.trial import cox_hazard_ratio, cox_hazard_ratio_rows, km_median, km_median_rows
    from ketasim.trial import visit_grid_counts as _grid_counts

    rng = np.random.default_rng(7)
    compared = fallbacks = 0
    for _ in range(150):
        na, nb = (int(x) for x in rng.integers(5, 150, 2))
        weeks = int(rng.integers(3, 25))
        ta, ea = _weekly(rng, rng.uniform(0.005, 0.2), na, weeks)
        tb, eb = _weekly(rng, rng.uniform(0.005, 0.2), nb, weeks)
        grid = np.unique(np.r_[ta, tb])
        ca = _grid_counts(np.arange(na)[None], np.searchsorted(grid, ta), ea, grid.size)
        cb = _grid_counts(np.arange(nb)[None], np.searchsorted(grid, tb), eb, grid.size)
        hr, info = cox_hazard_ratio_rows(*ca, *cb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = PHReg(np.r_[ta, tb], np.r_[np.ones(na), np.zeros(nb)][:, None],
                        status=np.r_[ea, eb].astype(int), ties="efron").fit(disp=0)
        if not (ea.any() and eb.any()):
            assert hr[0] in (0.0, math.inf) if (ea.any() or eb.any()) else math.isnan(hr[0])
        elif math.isfinite(fit.params[0]):
            compared += 1
            assert abs(math.log(hr[0]) - fit.params[0]) < 1e-9
            assert abs(1 / math.sqrt(info[0]) - fit.bse[0]) < 1e-7
            assert cox_hazard_ratio(ta, ea, tb, eb)[0] == pytest.approx(math.exp(fit.params[0]), rel=1e-12)
        else:
            fallbacks += 1
            args = (ca[0][0], ca[1][0], cb[0][0], cb[1][0])
            best = minimize_scalar(lambda b: -_efron_loglik(b, *args), bounds=(-12, 12), method="bounded",
                                   options={"xatol": 1e-10}).x
            assert abs(math.log(hr[0]) - best) < 1e-6
            assert cox_hazard_ratio(ta, ea, tb, eb)[0] == pytest.approx(hr[0], rel=1e-12)
        g = np.unique(ta)
        med = km_median_rows(*_grid_counts(np.arange(na)[None], np.searchsorted(g, ta), ea, g.size), g)[0]
        ref = km_median(ta, ea)[0]
        assert (math.isnan(ref) and med == math.inf) or med == ref
    # an arm relapsing completely within three visits (45 patients) beside a slowly relapsing one (HR ~11): PHReg's
    # Newton steps reach a NaN there (divisions by zero), the row-wise fit still finds the maximum
    ta, ea = np.repeat([7.0, 14.0, 21.0], [35, 6, 4]) * 24.0, np.ones(45, bool)
    ev = [10, 9, 11, 9, 9, 4, 4, 8, 3, 3, 9, 4, 2, 7, 2, 7, 5, 3, 1, 1, 4, 7, 2, 5, 6, 2, 1, 3]
    weeks = [*range(1, 27), 28, 29]
    tb = np.r_[np.repeat(np.array(weeks) * 7.0, ev), np.full(43, 29 * 7.0)] * 24.0
    eb = np.r_[np.ones(sum(ev), bool), np.zeros(43, bool)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = PHReg(np.r_[ta, tb], np.r_[np.ones(ta.size), np.zeros(tb.size)][:, None],
                    status=np.r_[ea, eb].astype(int), ties="efron").fit(disp=0)
    if not math.isfinite(fit.params[0]):
        fallbacks += 1
    grid = np.unique(np.r_[ta, tb])
    args = [c[0] for c in _grid_counts(np.arange(ta.size)[None], np.searchsorted(grid, ta), ea, grid.size)
            + _grid_counts(np.arange(tb.size)[None], np.searchsorted(grid, tb), eb, grid.size)]
    best = minimize_scalar(lambda b: -_efron_loglik(b, *args), bounds=(-12, 12), method="bounded",
                           options={"xatol": 1e-10}).x
    hr, ci, p, why = cox_hazard_ratio(ta, ea, tb, eb)
    assert why == "" and abs(math.log(hr) - best) < 1e-6 and ci[0] < hr < ci[1] and p < 0.05
    assert compared > 100 and fallbacks >= 1


# ---- the trial's comparison row ---------------------------------------------------------------------------------
LINE = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}


def _withdrawal(size=300, name="s51-hb-rw"):
    """A small randomized withdrawal: weekly esketamine continued or switched to placebo after 4 weeks; responders
    randomized (~30 per arm of 300)."""
    return {"name": name, "seed": 3, "population": {"size": size},
            "design": {"type": "randomized_withdrawal", "induction_until": "4 week", "criterion": "response",
                       "continue": "esk", "withdraw": "pbo"},
            "arms": {"esk": [{**LINE, "every": "7 d", "count": 16}],
                     "pbo": [{**LINE, "every": "7 d", "count": 4},
                             {"drug": "placebo", "route": "intranasal", "at": "4 week", "every": "7 d", "count": 12}]},
            "endpoints": {"times": ["4 week", "16 week"], "measures": ["relapse_rate", "time_to_relapse"]}}


@pytest.fixture(scope="module")
def withdrawal_trial():
    from ketasim.scenario import scenario_from_dict
    from ketasim.trial import run_trial

    return run_trial(scenario_from_dict(_withdrawal()))


def test_a_withdrawal_reports_the_hazard_ratio_below_1_when_the_drug_arm_relapses_less(withdrawal_trial):
    from ketasim.trial import COX_TEST, cox_hazard_ratio

    tr = withdrawal_trial
    rate = {r["arm"]: r["value"] for r in tr.endpoints if r["measure"] == "relapse_rate"}
    assert rate["esk"] < rate["pbo"] - 10
    diff, hr = tr.comparisons
    # the existing row is unchanged, the new one follows it, oriented as it is (continue vs withdraw)
    assert set(diff) == {"arm", "versus", "time_h", "scale", "measure", "value", "ci95", "p_value", "test"}
    assert diff["measure"] == "relapse_rate_difference" and diff["value"] < 0
    assert {k: hr[k] for k in ("arm", "versus", "time_h", "measure", "test")} == {
        "arm": "esk", "versus": "pbo", "time_h": None, "measure": "relapse_hazard_ratio", "test": COX_TEST}
    assert hr["value"] < 1 and hr["ci95"][0] < hr["value"] < hr["ci95"][1] and 0 <= hr["p_value"] <= 1
    assert "note" not in hr and "unit" not in tr.to_dict()["comparisons"][1]
    (ta, ea), (tb, eb) = tr.relapse_times["esk"], tr.relapse_times["pbo"]
    assert ta.size == tr.outcomes["esk"].n and hr["value"] == cox_hazard_ratio(ta, ea, tb, eb)[0]
    text = tr.format_table()
    assert "relapse_hazard_ratio" in text and "Wald p" in text and "Efron" in text


def test_the_example_withdrawal_shows_one_hazard_ratio_per_stratum_through_the_cli(capsys, tmp_path):
    js, html = tmp_path / "t.json", tmp_path / "t.html"
    code, out, err = run_cli(capsys, "trial", ROOT / "examples" / "sustain1_like_withdrawal.yaml", "--size", 80,
                             "--json", js, "--report", html)
    assert code == 0, err
    comps = json.loads(js.read_text())["comparisons"]
    hrs = [c for c in comps if c["measure"] == "relapse_hazard_ratio"]
    assert [c["stratum"] for c in hrs] == ["stable remitters", "stable responders without remission"]
    for c in hrs:
        assert c["arm"].startswith("esketamine+AD") and c["versus"].startswith("placebo+AD")
        assert (c["value"] is None) == ("note" in c)
    assert sum(c["measure"] == "relapse_rate_difference" for c in comps) == 2
    assert out.count("relapse_hazard_ratio") >= 3          # two rows and the note
    page = html.read_text()
    assert "difference or hazard ratio [95% CI]" in page and "Wald" in page


def test_an_open_label_follow_up_of_two_arms_has_the_hazard_ratio_too():
    from ketasim.scenario import load_scenario
    from ketasim.trial import run_trial

    tr = run_trial(load_scenario(ROOT / "examples" / "open_label_follow_up.yaml"), n=80)
    hr = [c for c in tr.comparisons if c["measure"] == "relapse_hazard_ratio"]
    assert len(hr) == 1 and (hr[0]["arm"], hr[0]["versus"]) == ("ketamine-6", "ketamine-1")
    assert set(tr.relapse_times) == {"ketamine-6", "ketamine-1"}


# ---- observed rows ----------------------------------------------------------------------------------------------
HEADER = "scenario,arm,timepoint_h,measure,value,n,ci_low,ci_high,versus,notes\n"


def _observed_rows(name, n=25):
    return (HEADER
            + f"{name},esk,,time_to_relapse,60,{n},30,not reached,,made up\n"
            + f"{name},pbo,,time_to_relapse,NR,{n},NR,NR,,made up: median not reached\n"
            + f"{name},esk,,relapse_hazard_ratio,0.49,{n},0.29,0.84,pbo,made up\n"
            + f"{name},esk,,relapse_rate,40,{n},,,,made up\n")


def test_observed_time_to_relapse_and_hazard_ratio_rows(withdrawal_trial):
    from ketasim.observed import compare_observed, format_observed, observed_block, read_observed

    tr = withdrawal_trial
    rows = [dict(zip(HEADER.strip().split(","), ln.split(","))) for ln in _observed_rows("s51-hb-rw").splitlines()[1:]]
    obs = read_observed(rows, tr.scenario)
    assert obs["ci_high"].tolist()[:3] == [math.inf, math.inf, 0.84] and math.isnan(obs["observed"][1])
    start = time.perf_counter()
    df = compare_observed(tr, obs)
    assert time.perf_counter() - start < 10          # three bootstraps of 2,000 (~0.4 s here)
    km = df[df["measure"] == "time_to_relapse"].set_index("arm")
    assert km.loc["esk", "predicted"] == next(r["value"] for r in tr.endpoints if r["arm"] == "esk"
                                              and r["measure"] == "time_to_relapse")
    assert km.loc["pbo", "note"] == "the published median was not reached"
    # a published median not reached is inside only when the interval reaches beyond the follow-up
    assert bool(km.loc["pbo", "inside"]) == (km.loc["pbo", "pi_high"] == math.inf)
    hr = df[df["measure"] == "relapse_hazard_ratio"].iloc[0]
    assert hr["predicted"] == tr.comparisons[1]["value"] and hr["versus"] == "pbo"
    assert hr["pi_low"] < hr["predicted"] < hr["pi_high"] and hr["fold_error"] == hr["predicted"] / 0.49
    assert (hr["observed_ci_low"], hr["observed_ci_high"]) == (0.29, 0.84)
    # reproducible: seeded by the row
    again = compare_observed(tr, obs)
    assert again["pi_low"].tolist()[:3] == df["pi_low"].tolist()[:3]
    block = observed_block(df)
    s = block["summary"]
    assert s["rate_rows"] == 1 and s["score_rows"] == 0 and s["hazard_ratio_rows"] == 1
    assert set(s["mae_other"]) == {"days"}
    json_rows = {r["measure"] + r["arm"]: r for r in block["rows"]}
    assert "versus" in json_rows["relapse_hazard_ratioesk"] and "analyte" not in json_rows["relapse_hazard_ratioesk"]
    assert "note" not in json_rows["relapse_rateesk"] and "versus" not in json_rows["relapse_rateesk"]
    text = format_observed(df)
    assert "not reached" in text and "hazard ratios: AAFE" in text and "vs pbo" in text


def test_observed_rows_through_trial_observed_and_qualify_external(capsys, tmp_path):
    import yaml

    folder = tmp_path / "ext"
    folder.mkdir()
    (folder / "rw.yaml").write_text(yaml.safe_dump(_withdrawal(name="rw")), encoding="utf-8")
    (folder / "rw.csv").write_text(_observed_rows("rw"), encoding="utf-8")
    js, html = tmp_path / "t.json", tmp_path / "t.html"
    code, out, err = run_cli(capsys, "trial", folder / "rw.yaml", "--observed", folder / "rw.csv", "--json", js,
                             "--report", html)
    assert code == 0, err
    block = json.loads(js.read_text())["observed_comparison"]
    assert [r["measure"] for r in block["rows"]] == ["time_to_relapse", "time_to_relapse", "relapse_hazard_ratio",
                                                     "relapse_rate"]
    assert block["rows"][1]["observed"] is None and block["rows"][1]["note"]
    assert block["summary"]["hazard_ratio_rows"] == 1
    assert "relapse_hazard_ratio" in out and "time_to_relapse and relapse_hazard_ratio rows" in out
    page = html.read_text()
    assert "hazard ratio of relapse (Cox)" in page and "not reached" in page
    qjs, qhtml = tmp_path / "q.json", tmp_path / "q.html"
    code, out, err = run_cli(capsys, "qualify", "--external", folder, "--size", 300, "--seed", 3, "--json", qjs,
                             "--html", qhtml)
    assert code == 0, err
    doc = json.loads(qjs.read_text())
    assert doc["summary"]["overall"]["hazard_ratio_rows"] == 1 and doc["summary"]["overall"]["rate_rows"] == 1
    assert {r["measure"] for r in doc["rows"]} == {"time_to_relapse", "relapse_hazard_ratio", "relapse_rate"}
    assert "relapse hazard ratios (not in the MAE columns)" in out
    assert "HR AAFE" in qhtml.read_text()


@pytest.mark.parametrize("change, column, message", [
    ({"spread": "10", "spread_kind": "SD"}, "spread", "give its published 95 % CI in ci_low and ci_high"),
    ({"ci_low": "70"}, "ci_low", r"the CI \[70, not reached\] must hold the value 60"),
    ({"ci_high": ""}, "ci_high", "give both ends of the published 95 % CI"),
    ({"value": "NR", "ci_low": "NR", "ci_high": "300"}, "ci_high", "its CI's upper bound is 'not reached' too"),
    ({"value": "-3"}, "value", r"a median time to relapse \(days\) is > 0"),
    ({"n": ""}, "n", "a median time to relapse needs n"),
    ({"timepoint_h": "672"}, "timepoint_h", "time_to_relapse has no time"),
    ({"measure": "relapse_hazard_ratio", "value": "0.5", "ci_low": "0.3", "ci_high": "0.9", "arm": "pbo"}, "arm",
     "the trial's hazard ratio is esk vs pbo"),
    ({"measure": "relapse_hazard_ratio", "value": "0.5", "ci_low": "0.3", "ci_high": "0.9", "versus": "esk"},
     "versus", "the trial's hazard ratios are versus pbo"),
    ({"measure": "relapse_hazard_ratio", "value": "0.5", "ci_low": "0.3", "ci_high": "not reached"}, "ci_high",
     "'not reached' is not a number"),
    ({"measure": "relapse_rate", "value": "40"}, "ci_low", "belongs to a time_to_relapse or relapse_hazard_ratio "
                                                            "row only"),
])
def test_bad_time_to_relapse_and_hazard_ratio_rows_are_refused_in_one_line(change, column, message):
    from ketasim.errors import InputError
    from ketasim.observed import read_observed
    from ketasim.scenario import scenario_from_dict

    sc = scenario_from_dict(_withdrawal())
    row = {"arm": "esk", "timepoint_h": "", "measure": "time_to_relapse", "value": "60", "n": "25", "ci_low": "30",
           "ci_high": "not reached", **change}
    with pytest.raises(InputError) as e:
        read_observed([row], sc)
    assert "\n" not in str(e.value) and f"row 1, column {column}: " in str(e.value)
    assert __import__("re").search(message, str(e.value)), str(e.value)


def test_a_hazard_ratio_of_a_trial_without_a_relapse_follow_up_is_refused_naming_the_column(capsys, tmp_path):
    sc = ROOT / "examples" / "observed" / "murrough2013.yaml"
    bad = tmp_path / "bad.csv"
    bad.write_text("arm,timepoint_h,measure,value,n\nketamine,,relapse_hazard_ratio,0.5,40\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "trial", sc, "--observed", bad)
    assert code == 2
    assert "row 1 (line 2), column measure: relapse_hazard_ratio: scenario murrough2013 follows no two arms" in \
        one_error_line(err)


def test_an_undefined_hazard_ratio_says_why_in_the_table_report_and_json(withdrawal_trial):
    import dataclasses

    from ketasim.report import _comparison_table
    from ketasim.trial import _hazard_ratio_comparison

    t = np.array([168.0, 336.0, 504.0])
    row = _hazard_ratio_comparison("esk", "pbo", (t, np.zeros(3, bool)), (t, np.array([1, 1, 0], bool)), "madrs")
    assert row["note"] == "undefined: no relapse in one group: the Cox estimate is 0" and math.isnan(row["value"])
    assert _hazard_ratio_comparison("esk", "pbo", (t[:0], np.zeros(0, bool)), (t, np.ones(3, bool)), "madrs") is None
    tr = dataclasses.replace(withdrawal_trial, comparisons=[withdrawal_trial.comparisons[0], row])
    assert "relapse_hazard_ratio       follow-up       n/a  (undefined: no relapse in one group" in tr.format_table()
    assert _comparison_table(tr).iloc[1, 4].startswith("n/a (undefined: no relapse in one group")
    from ketasim.units import json_safe

    c = json_safe(tr.to_dict())["comparisons"][1]
    assert c["value"] is None and c["ci95"] == [None, None] and c["p_value"] is None and c["note"].startswith("undef")


def test_a_follow_ups_hazard_ratio_row_is_versus_its_control_arm():
    from ketasim.errors import InputError
    from ketasim.observed import hazard_ratio_arms, read_observed
    from ketasim.scenario import load_scenario

    sc = load_scenario(ROOT / "examples" / "open_label_follow_up.yaml")
    assert hazard_ratio_arms(sc) == (("ketamine-6",), "ketamine-1")
    row = {"arm": "ketamine-6", "timepoint_h": "", "measure": "relapse_hazard_ratio", "value": "0.6", "n": "30"}
    obs = read_observed([row], sc)
    assert obs["versus"].tolist() == ["ketamine-1"] and math.isnan(obs["ci_low"][0])
    with pytest.raises(InputError, match=r"column arm: ketamine-1: the trial's hazard ratio is ketamine-6 vs "
                                         r"ketamine-1 \(arm: an arm other than the control\)"):
        read_observed([{**row, "arm": "ketamine-1"}], sc)


def test_the_relapse_rows_intervals_hold_studies_of_a_model_that_is_right():
    """Virtual arms of 100 per arm drawn from the same exponential hazards (0.01 and 0.03 per day, weekly visits) as
    studies of 60 per arm: the two-stage bootstrap intervals hold the studies' hazard ratio and median about 95 % of
    the time (200 replicates offline: 97.5 % and 96 %; 40 here, seeded)."""
    import types

    from ketasim.observed import _compare_relapse
    from ketasim.trial import cox_hazard_ratio, km_median

    rng = np.random.default_rng(11)
    inside = {"relapse_hazard_ratio": 0, "time_to_relapse": 0}
    for r in range(40):
        va, vb = _weekly(rng, 0.01, 100, 24), _weekly(rng, 0.03, 100, 24)
        sa, sb = _weekly(rng, 0.01, 60, 24), _weekly(rng, 0.03, 60, 24)
        res = types.SimpleNamespace(seed=r, relapse_times={"a": va, "b": vb},
                                    comparisons=[{"measure": "relapse_hazard_ratio", "arm": "a", "versus": "b",
                                                  "value": cox_hazard_ratio(*va, *vb)[0]}],
                                    endpoints=[{"arm": "a", "measure": "time_to_relapse",
                                                "value": km_median(*va)[0] / 24.0}])
        observed = {"relapse_hazard_ratio": cox_hazard_ratio(*sa, *sb)[0], "time_to_relapse": km_median(*sa)[0] / 24}
        for m in inside:
            rec = {"row": 1, "arm": "a", "measure": m, "versus": "b", "n": 60, "observed": observed[m],
                   "n_from": "observed file", "trial_id": "", "ci_low": math.nan, "ci_high": math.nan, "scale": "",
                   "spread": math.nan, "spread_kind": "", "citation": "", "source_url": "", "notes": ""}
            inside[m] += _compare_relapse(res, rec)["inside"]
    assert all(k / 40 >= 0.85 for k in inside.values()), inside


def test_a_hazard_ratio_row_takes_the_control_arms_own_n(withdrawal_trial):
    """Published arms often differ (e.g. 90 and 86): `n_versus` gives the control arm's patients, as on a parallel PK
    ratio row; without it the row's n for both, said in the JSON and the table (lead, fifty-first session)."""
    from ketasim.observed import compare_observed, format_observed, observed_block, read_observed

    tr = withdrawal_trial
    cols = ["scenario", "arm", "timepoint_h", "measure", "value", "n", "ci_low", "ci_high", "versus", "n_versus"]

    def row(n_versus):
        return {**dict(zip(cols, ["s51-hb-rw", "esk", "", "relapse_hazard_ratio", "0.49", "15", "0.29", "0.84",
                                  "pbo", n_versus]))}

    def compared(n_versus):
        return compare_observed(tr, read_observed([row(n_versus)], tr.scenario)).iloc[0]

    same, small, large = compared(""), compared("6"), compared("25")
    assert same["n_versus"] == 15 and same["n_versus_from"] == "the row's n (no n_versus in the observed file)"
    assert small["n_versus"] == 6 and small["n_versus_from"] == "observed file"
    assert same["predicted"] == small["predicted"] == large["predicted"]
    width = {k: r["pi_high"] - r["pi_low"] for k, r in (("6", small), ("15", same), ("25", large))}
    assert width["6"] > width["15"] > width["25"], width
    df = compare_observed(tr, read_observed([row("6")], tr.scenario))
    rows = observed_block(df)["rows"]
    assert rows[0]["n_versus"] == 6 and rows[0]["n_versus_from"] == "observed file"
    assert "(n 6)" in format_observed(df)


def test_n_versus_on_a_time_to_relapse_row_is_refused_in_one_line(withdrawal_trial):
    from ketasim.errors import InputError
    from ketasim.observed import read_observed

    r = {"scenario": "s51-hb-rw", "arm": "esk", "timepoint_h": "", "measure": "time_to_relapse", "value": "60",
         "n": "25", "n_versus": "20"}
    with pytest.raises(InputError, match=r"column n_versus: '20': n_versus \(the control arm's patients\) belongs to "
                                         r".*relapse_hazard_ratio row only; leave it empty for time_to_relapse$"):
        read_observed([r], withdrawal_trial.scenario)


def _efron_loglik(beta, d1, r1, d0, r0):
    """Efron's partial log-likelihood of log HR ``beta`` from per-visit relapse and at-risk counts (the reference the
    row-wise fit is checked against; written term by term)."""
    w, ll = math.exp(beta), 0.0
    for j in range(d1.size):
        d = d1[j] + d0[j]
        big_r, big_d = r0[j] + r1[j] * w, d0[j] + d1[j] * w
        ll += d1[j] * beta - sum(math.log(big_r - k / d * big_d) for k in range(int(d)))
    return ll


def _efron_best(ta, ea, tb, eb):
    """log HR maximising Efron's partial likelihood, by a bounded scalar search (the reference for the fits)."""
    from scipy.optimize import minimize_scalar

    grid = np.unique(np.r_[ta, tb])

    def counts(t, e):
        pos = np.searchsorted(grid, t)
        removed = np.bincount(pos, minlength=grid.size)
        return np.bincount(pos, weights=e.astype(float), minlength=grid.size), t.size - (np.cumsum(removed) - removed)

    args = (*counts(ta, ea), *counts(tb, eb))
    return minimize_scalar(lambda b: -_efron_loglik(b, *args), bounds=(-12, 12), method="bounded",
                           options={"xatol": 1e-10}).x


def test_the_small_follow_up_phreg_crashed_on_gets_its_ratio():
    """Review s51 H1: `ketasim trial` on a valid two-arm follow-up of 10 patients (seed 145) stopped in PHReg's
    LinAlgError traceback (one patient relapsing at the first visit against eight relapsing later). The ratio is now
    the Efron likelihood's maximum on the visit counts, with a Wald CI around it."""
    from ketasim.trial import cox_hazard_ratio

    ta, ea = np.array([168.0]), np.ones(1, bool)
    tb, eb = np.array([504.0, 672, 504, 504, 504, 336, 168, 672]), np.ones(8, bool)
    hr, ci, p, why = cox_hazard_ratio(ta, ea, tb, eb)
    assert why == "" and abs(math.log(hr) - _efron_best(ta, ea, tb, eb)) < 1e-6
    assert ci[0] < hr < ci[1] and 0 < p < 1


def test_separated_groups_are_0_or_infinite_not_nan_in_the_row_wise_fit():
    """Review s51 M2: past log HR ~37, 1 + e^beta == e^beta made the Newton step NaN and a separated resample came out
    NaN (left out of the bootstrap: intervals too narrow, biased towards 1); the fit now holds beta past
    MAX_COX_LOG_HR, so separated groups read as 0 or +inf."""
    from ketasim.trial import cox_hazard_ratio_rows

    # group 1: all five relapse at visit 1; group 0: nobody at risk relapses before visit 3, then all
    d1, r1 = np.array([[5.0, 0, 0]]), np.array([[5.0, 0, 0]])
    d0, r0 = np.array([[0.0, 0, 4]]), np.array([[4.0, 4, 4]])
    hr, _ = cox_hazard_ratio_rows(d1, r1, d0, r0)
    assert hr[0] == math.inf
    hr, _ = cox_hazard_ratio_rows(d0, r0, d1, r1)
    assert hr[0] == 0.0


@pytest.mark.parametrize("note, value", [("undefined: no relapse in one group: the Cox estimate is 0", 0.0),
                                         ("undefined: the relapse times separate the groups (monotone likelihood): "
                                          "the Cox estimate is infinite", math.inf)])
def test_a_draws_undefined_ratio_counts_as_0_or_infinite(note, value):
    """Review s51 M3: the whole-design draws left out a draw whose ratio was 0 or infinite (NaN), which the observed
    rows' bootstrap counts; both now count it."""
    from ketasim.trial import _draw_value

    r = {"measure": "relapse_hazard_ratio", "value": None, "note": note}
    assert _draw_value(r, 1) == value
    assert math.isnan(_draw_value({**r, "note": "undefined: nobody relapsed"}, 1))


def test_a_ratio_whose_upper_bound_passes_a_float_prints_it_as_inf():
    """Review s51 L5: a Wald upper bound past a float's range printed "[no CI: too few patients]"."""
    from ketasim.trial import _ci_text

    assert _ci_text(0.5, math.inf) == "[   0.50,     inf]"
    assert _ci_text(math.nan, math.nan) == "[no CI: too few patients]"
