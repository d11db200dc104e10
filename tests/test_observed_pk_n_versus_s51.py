"""A parallel-design PK ratio row's control arm has its own n (fifty-first session, review s50 L-2): column
``n_versus`` (the control arm's patients, as ``ketasim power``'s CSV names the other arm's n). Without it the row's
``n`` is used for both arms, as before, and the output says so. The 'published' values are the model's own."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ketasim.errors import InputError, ObservedWarning
from ketasim.observed import (N_FROM_ARM, N_FROM_FILE, N_VERSUS_FROM_N, _bootstrap, _row_rng, compare_observed,
                              format_observed, observed_block, read_observed)
from ketasim.scenario import scenario_from_dict
from ketasim.trial import run_trial

from test_observed_pk_s50_h4 import CROSSOVER, MIXED, PARALLEL, SIZE, _row, _scenario, _values


@pytest.fixture(scope="module")
def parallel():
    return run_trial(_scenario(PARALLEL), n=SIZE, seed=3)


@pytest.fixture(scope="module")
def crossover():
    return run_trial(_scenario(CROSSOVER), n=SIZE, seed=3)


def _ratio(n="", n_versus="", **kw):
    return _row("auc_0_inf_ratio", 2.0, arm="inhibited", n=n, n_versus=n_versus, **kw)


@pytest.mark.parametrize("row, hint", [
    (_row("cmax", 10, n_versus="12"), "n_versus (the control arm's patients) belongs to a parallel-design PK ratio "
                                      "row (e.g. cmax_ratio) or a relapse_hazard_ratio row only; leave it empty for "
                                      "cmax"),
    ({"arm": "alone", "timepoint_h": "24", "measure": "mean_change", "value": "-10", "n_versus": "12"},
     "leave it empty for mean_change"),
    (_ratio(n_versus="0"), "'0': give the control arm's patients as a whole number from 1 to 10,000"),
    (_ratio(n_versus="7.5"), "'7.5': give the control arm's patients as a whole number"),
    (_ratio(n_versus="x"), "'x': give the control arm's patients as a whole number"),
    (_ratio(n_versus="20000"), "'20000': give the control arm's patients as a whole number from 1 to 10,000"),
])
def test_a_bad_n_versus_is_one_line_naming_row_and_column(row, hint):
    with pytest.raises(InputError) as e:
        read_observed([_row("cmax", 10), row], scenario_from_dict(MIXED))
    msg = str(e.value)
    assert msg.startswith("observed table row 2, column n_versus: ") and hint in msg and "\n" not in msg, msg


def test_a_crossover_ratio_refuses_n_versus():
    with pytest.raises(InputError) as e:
        read_observed([_ratio(n="8", n_versus="8")], _scenario(CROSSOVER))
    assert str(e.value) == ("observed table row 1, column n_versus: '8': scenario pk-crossover is a crossover, whose "
                            "ratio pairs the same n patients; leave n_versus empty")


def test_the_table_reads_n_versus_on_its_row_only():
    table = read_observed([_row("cmax", 10), _ratio(n="12", n_versus="9")], scenario_from_dict(MIXED))
    assert math.isnan(table["n_versus"].iloc[0]) and table["n_versus"].iloc[1] == 9


def test_the_control_arm_draws_its_own_n(parallel):
    """The interval is the two-stage bootstrap of n test-arm and n_versus control-arm patients: the same
    _bootstrap call with sizes [n, n_versus] under the row's generator gives it exactly."""
    rec = compare_observed(parallel, [_ratio(n="6", n_versus="14")]).iloc[0]
    assert (rec["n"], rec["n_from"], rec["n_versus"], rec["n_versus_from"]) == (6, N_FROM_FILE, 14, N_FROM_FILE)
    la, lb = (np.log(_values(parallel, arm, "s-ketamine", "auc_0_inf")) for arm in ("inhibited", "alone"))
    table = read_observed([_ratio(n="6", n_versus="14")], parallel.scenario)
    boot, _ = _bootstrap(_row_rng(parallel, table.to_dict("records")[0]), [la, lb], [6, 14],
                         lambda x, y: np.exp(x.mean(axis=1) - y.mean(axis=1)))
    assert (rec["pi_low"], rec["pi_high"]) == tuple(np.percentile(boot, [2.5, 97.5]))
    # a larger control arm narrows the interval; the prediction does not move
    same = compare_observed(parallel, [_ratio(n="6")]).iloc[0]
    assert rec["predicted"] == same["predicted"]
    assert rec["pi_high"] - rec["pi_low"] < same["pi_high"] - same["pi_low"]


def test_without_n_versus_the_rows_n_is_used_and_said(parallel):
    """As before (the same interval: the row's generator is unchanged without n_versus), now said in the output."""
    comp = compare_observed(parallel, [_ratio(n="6"), _row("cmax", 1.0, n="6")])
    r = comp.iloc[0]
    assert (r["n_versus"], r["n_versus_from"]) == (6, N_VERSUS_FROM_N)
    la, lb = (np.log(_values(parallel, arm, "s-ketamine", "auc_0_inf")) for arm in ("inhibited", "alone"))
    table = read_observed([_ratio(n="6")], parallel.scenario)
    boot, _ = _bootstrap(_row_rng(parallel, {k: v for k, v in table.to_dict("records")[0].items()
                                              if k != "n_versus"}), [la, lb], [6, 6],
                         lambda x, y: np.exp(x.mean(axis=1) - y.mean(axis=1)))
    assert (r["pi_low"], r["pi_high"]) == tuple(np.percentile(boot, [2.5, 97.5]))
    text = format_observed(comp)
    assert "ratio vs alone (n 6*)" in text
    assert "  * vs ARM (n N*): no n_versus in the observed file: the control arm takes the row's n" in text
    given = format_observed(compare_observed(parallel, [_ratio(n="6", n_versus="9")]))
    assert "ratio vs alone (n 9)," in given and "no n_versus" not in given


def test_without_any_n_the_control_arm_is_its_virtual_size(parallel):
    r = compare_observed(parallel, [_ratio()]).iloc[0]
    assert (r["n_versus"], r["n_versus_from"]) == (SIZE, N_FROM_ARM)
    r = compare_observed(parallel, [_ratio(n_versus="5")]).iloc[0]          # the control arm's alone
    assert (r["n"], r["n_from"], r["n_versus"], r["n_versus_from"]) == (SIZE, N_FROM_ARM, 5, N_FROM_FILE)


def test_a_control_arm_larger_than_the_virtual_arm_warns(parallel):
    with pytest.warns(ObservedWarning, match=r"fewer than the study's 40.*--size 40"):
        compare_observed(parallel, [_ratio(n="6", n_versus="40")])


def test_the_json_has_n_versus_on_parallel_ratio_rows_only(parallel, crossover):
    rows = observed_block(compare_observed(parallel, [_ratio(n="6", n_versus="9"), _row("cmax", 1.0, n="6")]))["rows"]
    assert rows[0]["n_versus"] == 9 and type(rows[0]["n_versus"]) is int and rows[0]["n_versus_from"] == N_FROM_FILE
    assert "n_versus" not in rows[1] and "n_versus_from" not in rows[1]
    json.dumps(rows)
    paired = observed_block(compare_observed(crossover, [_ratio(n="8")]))["rows"][0]
    assert "n_versus" not in paired and "n_versus_from" not in paired and paired["versus"] == "alone"


def test_the_reports_n_cell_names_the_control_arms_n(parallel):
    from ketasim.report import _observed_table

    comp = compare_observed(parallel, [_ratio(n="6", n_versus="9"), _ratio(n="6", trial_id="other"),
                                       _row("cmax", 1.0, n="6")])
    assert list(_observed_table(comp)["n"]) == ["6; alone 9", "6; alone 6", "6"]
