"""benchmarks/cv_synthetic.py: synthetic calibration rows drawn as trials of the rows' sizes would report them."""

from __future__ import annotations

import math

from _support import benchmark_module, params

from ketasim.calibration import SPREAD_KINDS, build_targets


def _draw(replicate):
    return benchmark_module("cv_synthetic").synthetic_targets(params(), replicate, truth_size=100,
                                                              log=lambda *_: None)


def test_synthetic_rows_keep_the_rows_and_draw_what_a_trial_of_their_size_reports():
    real = build_targets()[0]
    syn, _, rec = _draw(1)
    assert [(t.row, t.kind, t.n) for t in syn] == [(t.row, t.kind, t.n) for t in real]
    assert set(rec["trial_effects"]) and all(set(s) == {"nonspecific", "drug"} for s in rec["trial_effects"].values())
    rates = [(t, r) for t, r in zip(syn, rec["rows"]) if t.kind in ("response", "remission", "response_window")]
    assert len(rates) > 50
    for t, r in rates:                              # a count of the row's n patients
        k = t.observed * max(t.n, 2) / 100.0
        assert abs(k - round(k)) < 1e-9, t.label
        q = min(max(t.observed / 100.0, 0.05), 0.95)
        assert math.isclose(t.se, 100.0 * math.sqrt(q * (1 - q) / max(t.n, 2)), rel_tol=1e-12)
    sds = [t for t in syn if t.kind in SPREAD_KINDS]
    assert sds and all(t.observed > 0 and math.isclose(t.se, t.observed / math.sqrt(2 * (max(t.n, 2) - 1)))
                       for t in sds)
    # the errors are sampling errors around the truth: centred, and of the size the rows' SEs say
    z = [(r["synthetic"] - r["truth"]) / t.se for t, r in zip(syn, rec["rows"]) if t.kind not in SPREAD_KINDS]
    assert abs(sum(z) / len(z)) < 0.35
    assert 0.5 < math.sqrt(sum(v * v for v in z) / len(z)) < 1.6
    # none of the synthetic values is the published one (bar chance ties of zero rates)
    assert sum(t.observed == p.observed for t, p in zip(syn, real)) < 0.1 * len(syn)


def test_a_replicate_is_reproducible_and_another_differs():
    a, b, c = _draw(3)[0], _draw(3)[0], _draw(4)[0]
    assert [t.observed for t in a] == [t.observed for t in b]
    assert sum(x.observed != y.observed for x, y in zip(a, c)) > 0.8 * len(a)


def _arm_draw(replicate):
    return benchmark_module("cv_synthetic").synthetic_targets(params(), replicate, truth_size=400,
                                                              log=lambda *_: None, errors="arm")


def test_arm_samples_are_sized_by_the_rows_and_disjoint_unless_crossover():
    import numpy as np

    cs = benchmark_module("cv_synthetic")
    sizes = cs.arm_sizes(build_targets()[0])
    # a difference row's n (both sides) does not size an arm; a weighted pool splits the row's n by the weights
    assert sizes[("daly2018.yaml", "esketamine-84mg")] == 12 and sizes[("daly2018.yaml", "placebo")] == 33
    assert (sizes[("transform2.yaml", "esketamine-56mg+AD")], sizes[("transform2.yaml", "esketamine-84mg+AD")]) \
        == (38, 76)
    assert sizes[("singh2016_open_label.yaml", "placebo-2x-ol")] == 17           # a pool of two arms: n / 2
    idx = cs.arm_samples(sizes, 400, np.random.default_rng(0))
    assert set(idx[("berman2000.yaml", "ketamine")]) == set(idx[("berman2000.yaml", "saline")])    # crossover
    daly = [set(v) for k, v in idx.items() if k[0] == "daly2018.yaml"]
    assert sum(map(len, daly)) == len(set().union(*daly)) == 67                    # parallel arms: disjoint
    assert all(len(v) == sizes[k] for k, v in idx.items())


def test_arm_errors_draw_the_rows_of_an_arm_from_one_sample_of_patients():
    real = build_targets()[0]
    syn, _, rec = _arm_draw(1)
    assert [(t.row, t.kind, t.n) for t in syn] == [(t.row, t.kind, t.n) for t in real] and rec["errors"] == "arm"
    by = {(t.trial, t.model_arm, t.versus, t.kind, t.time_h): t.observed for t in syn}
    # a difference row is the difference of its arms' samples (row-level errors would make it independent)
    for dose in ("esketamine-28mg", "esketamine-56mg", "esketamine-84mg"):
        for h in (2.0, 24.0, 192.0):
            diff = by[("daly2018_synapse", dose, "placebo", "diff_change", h)]
            arms = by[("daly2018_synapse", dose, None, "mean_change", h)] - \
                by[("daly2018_synapse", "placebo", None, "mean_change", h)]
            assert math.isclose(diff, arms, abs_tol=1e-9), (dose, h)
    # a rate is a count of patients of the arm's sample (the arm's n for these rows)
    for t in syn:
        if t.trial == "daly2018_synapse" and t.kind in ("response", "remission"):
            k = t.observed * t.n / 100.0
            assert abs(k - round(k)) < 1e-9, t.label
    # the errors are sampling errors around the truth: centred, and of the size the rows' SEs say
    z = [(r["synthetic"] - r["truth"]) / t.se for t, r in zip(syn, rec["rows"]) if t.kind not in SPREAD_KINDS]
    assert abs(sum(z) / len(z)) < 0.35
    assert 0.5 < math.sqrt(sum(v * v for v in z) / len(z)) < 1.6
    assert _arm_draw(1)[0] == syn and [t.observed for t in _arm_draw(2)[0]] != [t.observed for t in syn]


def test_qualify_and_the_fits_take_the_rows_they_are_given():
    import dataclasses

    from ketasim import calibration as cal

    real = build_targets()[0]
    moved = [dataclasses.replace(t, observed=t.observed + 1.0) if t.trial == "murrough2013_ajp" else t for t in real]
    rows, skipped = cal.qualify(params(), size=100, trials=["murrough2013_ajp"], targets=moved)
    assert skipped == [] and len(rows) == 4
    published = {t.row: t.observed for t in real}
    assert all(math.isclose(r["observed"], published[r["row"]] + 1.0) for r in rows)
    # the same rows through the default path are the published ones
    rows0, skipped0 = cal.qualify(params(), size=100, trials=["murrough2013_ajp"])
    assert skipped0 and [r["observed"] for r in rows0] == [published[r["row"]] for r in rows0]
    tau = cal.between_trial_tau(params(), size=60, targets=[t for t in moved if t.trial == "murrough2013_ajp"])
    assert [tr["group"] for tr in tau["trials"]] == ["murrough2013"]


def test_drawn_ratings_are_counted_not_integrated():
    import dataclasses

    import numpy as np

    from ketasim import calibration as cal

    t = next(t for t in build_targets()[0] if t.trial == "murrough2013_ajp" and t.kind == "response"
             and t.arm == "ketamine")
    sims = cal.simulate_calibration_arms(params(), [t], 40, 3)
    key = (cal.TRIALS[t.trial][0], "ketamine")
    s = sims[key]
    ratings = np.rint(s.score)
    sims[key] = dataclasses.replace(s, score=ratings, baseline=np.rint(s.baseline))
    j = int(np.argmin(np.abs(s.times - t.time_h)))
    counted = 100.0 * np.mean(ratings[:, j] <= np.floor(0.5 * np.rint(s.baseline) + 1e-9))
    assert math.isclose(cal.predict(t, sims, params(), drawn_ratings=True), counted, abs_tol=1e-9)
    assert not math.isclose(cal.predict(t, sims, params()), counted, abs_tol=1e-6)      # the noise integrated
