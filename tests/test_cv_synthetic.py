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
