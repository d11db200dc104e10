"""Each point of the observed-vs-predicted figure has its own tick (fifty-first session, review s50 L-8): two PK rows
of one arm and analyte with different statistics (a Cmax geometric mean and a Cmax mean) both read 'alone,
s-ketamine'; a PK tick now names its statistic as the printed table does, and ticks that still repeat (two
studies' rows of one arm and time) name their trial_id."""

from __future__ import annotations

import pandas as pd
import pytest

from ketasim.observed import compare_observed
from ketasim.trial import run_trial
from ketasim.web.figures import observed_figure

from test_observed_pk_s50_h4 import PARALLEL, SIZE, _row, _scenario


@pytest.fixture(scope="module")
def parallel():
    return run_trial(_scenario(PARALLEL), n=SIZE, seed=3)


def _ticks(fig) -> dict:
    """{panel title: tick texts}."""
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    axes = [fig["layout"]["xaxis" if k == 0 else f"xaxis{k + 1}"] for k in range(len(titles))]
    return {t: ax["ticktext"] for t, ax in zip(titles, axes)}


def test_two_statistics_of_one_arm_and_analyte_have_their_own_ticks(parallel):
    comp = compare_observed(parallel, [_row("cmax", 7.0, n="12"), _row("cmax", 8.0, statistic="mean", n="12"),
                                       _row("cmax", 9.0, arm="inhibited", n="12"),
                                       _row("auc_0_inf_ratio", 2.0, arm="inhibited", n="12"),
                                       _row("tmax", 0.5, n="12")])
    ticks = _ticks(observed_figure(comp))
    assert ticks["<b>Cmax (ng/mL)</b>"] == ["alone, S-ketamine GM", "alone, S-ketamine mean",
                                            "inhibited, S-ketamine GM"]
    assert ticks["<b>AUC0-inf ratio (vs the control arm)</b>"] == ["inhibited, S-ketamine GMR"]
    assert ticks["<b>Tmax (h)</b>"] == ["alone, S-ketamine median"]


def test_ticks_that_still_repeat_name_their_study():
    """Two studies' rows of one arm and time (allowed: another trial_id), and one without a trial_id."""
    base = {"measure": "mean_change", "time_h": 24.0, "dose_level": "", "analyte": "", "statistic": "",
            "predicted": -10.0, "pi_low": -14.0, "pi_high": -6.0, "observed": -11.0, "observed_ci_low": float("nan"),
            "observed_ci_high": float("nan")}
    table = pd.DataFrame([dict(base, arm="ketamine", trial_id="A", row=1),
                          dict(base, arm="ketamine", trial_id="B", row=2),
                          dict(base, arm="ketamine", trial_id="", row=3),
                          dict(base, arm="saline", trial_id="A", row=4)])
    (ticks,) = _ticks(observed_figure(table)).values()
    assert ticks == ["ketamine, 24 h (A)", "ketamine, 24 h (B)", "ketamine, 24 h (row 3)", "saline, 24 h"]
    assert len(set(ticks)) == len(ticks)
