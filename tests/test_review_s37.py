"""Review of the thirty-seventh session: the unit `fraction` (a dimensionless value bounded by 0-1) and the
dashboard's provenance downloads."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from ketasim.parameters import load_parameters
from ketasim.units import convert, is_fraction

#: parameters that are not fractions although dimensionless and below 1 (a log-SD, a partition, ratios, a shape)
NOT_FRACTIONS = ("iiv.ka_intranasal_cv", "pk.norketamine.brain_partition", "pk.r_to_s_clearance_ratio",
                 "pd.recurrence.weibull_shape", "pd.placebo.trd_ratio", "pd.age.drug_decline_per_decade",
                 "pd.pressor.r_ketamine_potency", "ddi.ticlopidine.clint_factor", "pd.bdnf.val_met_factor",
                 "observation.cp_log_sd", "pd.il6.repeat_effect", "pd.spine.stress_loss", "pd.crp.moderation")
#: true fractions: shares, probabilities, bioavailabilities, 0-1 levels
FRACTIONS = ("pk.fu", "pk.fm_nk", "route.im.f", "route.oral.f_s", "pop.met_allele_frequency", "pd.recurrence.p12",
             "pd.expectancy.unblinding_accuracy", "pd.anesthesia.block50", "ddi.ticlopidine.cyp2b6_share")


# ---- the unit `fraction` ----------------------------------------------------------------------------------------------
def test_fraction_is_dimensionless_and_marks_the_shares_only():
    p = load_parameters()
    assert convert(0.56, "fraction", "dimensionless", "x") == 0.56
    assert convert(0.56, "dimensionless", "fraction", "x") == 0.56
    assert convert(0.56, "fraction", "percent", "x") == pytest.approx(56.0)
    assert p.get("pk.fu") == 0.56 and p.literature["pk.fu"].unit == "fraction"     # default unit 'dimensionless'
    assert all(is_fraction(p.literature[n].unit) for n in FRACTIONS)
    assert not any(is_fraction(p.literature[n].unit) for n in NOT_FRACTIONS)
    assert all(0 <= q.value <= 1 for q in p.literature.values() if is_fraction(q.unit))


def test_the_relabel_keeps_the_parameter_set_version_and_its_stored_draws():
    """The shipped posterior draws are stamped with ParameterSet.version: 'fraction' hashes as 'dimensionless'."""
    from ketasim.calibration import stored_posterior_draws

    p = load_parameters()
    assert sum(is_fraction(q.unit) for q in p.literature.values()) >= 20
    before = dataclasses.replace(p, literature=MappingProxyType(
        {n: dataclasses.replace(q, unit="dimensionless") if is_fraction(q.unit) else q
         for n, q in p.literature.items()}))
    assert before.version == p.version
    assert stored_posterior_draws(p) is not None
    # a value still changes the version
    assert p.with_literature({"pk.fu": 0.5}).version != p.version


def test_a_log_sd_above_one_is_accepted_as_a_dashboard_edit_and_a_fraction_above_one_is_not():
    from ketasim.web import api

    assert api.plausible_range("iiv.ka_intranasal_cv")[1] > 1
    params, used = api.parameters_with({"iiv.ka_intranasal_cv": 1.1, "pd.recurrence.weibull_shape": 1.2})
    assert used == {"iiv.ka_intranasal_cv": 1.1, "pd.recurrence.weibull_shape": 1.2}
    assert params.get("iiv.ka_intranasal_cv") == 1.1
    assert api.plausible_range("pk.fu")[1] == 1.0
    with pytest.raises(api.FormErrors) as e:
        api.parameters_with({"pk.fu": 1.2})
    (err,) = e.value.errors
    assert err["field"] == "overrides" and "\n" not in err["message"]
    assert err["message"].startswith("overrides.pk.fu: 1.2 is outside the plausible range ")
    assert err["message"].endswith("-1 (a fraction: at most 1)")


def test_sensitivity_does_not_cap_a_dimensionless_value_that_is_not_a_fraction():
    from ketasim.sensitivity import _literature_range

    p = load_parameters()
    mod = p.literature["pd.crp.moderation"]            # 0.6, uncertain: x/÷ 2, a gain (1 / (1 + m x ...))
    assert _literature_range(mod)[:2] == pytest.approx((0.3, 1.2))
    ratio = p.literature["pk.r_to_s_clearance_ratio"]  # 0.873, derived: +/- 25 %
    assert _literature_range(ratio)[1] == pytest.approx(0.873 * 1.25)
    fu = p.literature["pk.fu"]                         # a fraction still stays below 1
    assert _literature_range(fu)[1] < 1
