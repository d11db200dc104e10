"""The HTML report of a trial with an open-label follow-up labels its rows as the terminal table does: the
Kaplan-Meier median time to relapse and the log-rank relapse comparison were shown at the time 'all sessions' (the
label of side-effect peaks), and followed_fraction was shown as the raw measure name."""

from __future__ import annotations

import re

from ketasim.report import trial_report
from ketasim.scenario import scenario_from_dict
from ketasim.trial import run_trial

KET = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}


def test_follow_up_rows_are_labelled_in_the_report(tmp_path):
    sc = scenario_from_dict({
        "name": "fu", "seed": 3, "population": {"size": 40, "baseline": {"mean": 33, "sd": 5}},
        "arms": {"six": [{**KET, "every": "2.333 d", "count": 6}], "one": [KET]},
        "design": {"control": "one", "follow_up_from": "13 d", "follow_up_every": "3.5 d", "follow_up_until": "40 d"},
        "endpoints": {"times": ["13 d"], "measures": ["response_rate", "relapse_rate", "time_to_relapse"]}})
    html = trial_report(run_trial(sc), tmp_path / "r.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "|", html)
    cells = [c.strip() for c in text.split("|") if c.strip()]
    i = cells.index("median time to relapse (d, Kaplan-Meier)")
    assert cells[i + 1] == "Kaplan-Meier median"
    j = cells.index("relapse_rate_difference (percentage points)")
    assert cells[j + 1] == "follow-up" and cells[j + 3].startswith("log-rank ")    # time; CI; p of which test
    assert any("its p is the log-rank test of the times to relapse" in c for c in cells)
    assert "followed in the open-label follow-up (%)" in cells and "followed_fraction" not in cells
    assert "all sessions" not in cells
