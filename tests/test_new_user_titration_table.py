"""`ketasim trial --uncertainty N` on a titrated arm: the trial JSON gives the final-dose rows a pi95, and the printed
table now shows it too (it printed every other row's prediction interval but not these)."""

from __future__ import annotations

from ketasim.scenario import scenario_from_dict
from ketasim.trial import run_trial


def test_final_dose_rows_print_their_prediction_interval():
    line = {"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "every": "3.5 d", "count": 3}
    sc = scenario_from_dict({"name": "t", "seed": 1, "population": {"size": 20},
                             "arms": {"esk": {"doses": [line], "titration": {
                                 "doses": ["56 mg", "84 mg"], "sessions": [2, 3],
                                 "increase_if": {"score_reduction_below": 0.5}}}},
                             "endpoints": {"times": ["7 d"], "measures": ["mean_change"]}})
    tr = run_trial(sc, uncertainty=2)
    rows = [e for e in tr.to_dict()["arms"]["esk"]["endpoints"] if e["measure"] == "final_dose_rate"]
    assert rows and all("pi95" in e for e in rows)
    lines = [ln for ln in tr.format_table().splitlines() if ln.strip().startswith("final dose")]
    assert len(lines) == 2
    for ln, e in zip(lines, rows):
        assert f"[{e['pi95'][0]:7.2f}, {e['pi95'][1]:7.2f}]" in ln and ln.endswith("% of patients")
