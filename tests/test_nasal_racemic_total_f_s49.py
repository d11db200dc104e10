"""Racemic intranasal bioavailability is a total F (forty-ninth session, H3).

route.intranasal.f_nasal_racemic (0.45) is Yanagihara 2003's bioavailability of a 25 mg racemic nasal spray
(doi:10.1002/bdd.336, PMID 12516077; 3 volunteers, AUC nasal / AUC IV): the total of the mucosal part and the
swallowed rest. Until this session the engine took it as the mucosal fraction and added the swallowed rest through
the oral depot on top, so the realized total was ~0.545 (0.45 + 0.55 x oral F 0.15-0.19), ~21 % too much exposure.
The mucosal fraction is now fm = (F - F_oral) / (1 - F_oral) with S's oral F, as for sublingual doses, so S-ketamine's
total is 0.45 and R-ketamine's, with its own higher oral F (route.oral.f_r), 0.476.

The typical patient (every random effect 0) carries the mean-preserving lognormal factor of iiv.bioavailability_cv
on every extravascular F except IM and SC: exp(-0.39^2 / 2) = 0.927 (the population's mean factor is 1). So the typical
patient's realized F is 0.927 x the route's F; dividing by it gives the route's population-mean F, which the source
value describes. Esketamine nasal (f_nasal_esketamine: Perez-Ruixo's mucosal FRn) keeps its convention.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from _support import auc, line, params, typical_run

TIMES_H = np.unique(np.concatenate([np.arange(0.0, 2.0, 1 / 60), np.arange(2.0, 96.0 + 1e-9, 0.1)]))


def _aucs(drug, route, dose):
    tr = typical_run([line(drug, route, dose)], TIMES_H).trajectories().set_index("time_h")
    return {k: auc(tr.index, tr[f"cp_{k}ketamine_ng_ml"]) for k in ("", "s_", "r_")}


def _typical_f_factor():
    """The typical patient's factor on an extravascular F (eta_f = 0 of a mean-preserving lognormal)."""
    return math.exp(-0.5 * params().get("iiv.bioavailability_cv") ** 2)


@pytest.fixture(scope="module")
def racemic_25mg_f():
    """Realized F of 25 mg racemic nasal spray in the typical patient (venous AUC0-96h nasal / IV bolus, same dose):
    racemic (S + R), S and R."""
    nasal, iv = _aucs("racemic-ketamine", "intranasal", "25 mg"), _aucs("racemic-ketamine", "iv-bolus", "25 mg")
    return {k: nasal[k] / iv[k] for k in nasal}


def test_racemic_nasal_total_bioavailability_is_the_published_total(racemic_25mg_f):
    """The route's F (typical patient's realized F / its factor 0.927): 0.464 (S 0.45, R 0.476) against the published
    ~0.45. Tolerance 0.03: Yanagihara's "~45 %" comes from 3 volunteers (an SE of several points), and the convention
    shared with sublingual doses (S's oral F in the split) puts the racemate ~0.014 above 0.45 by design. The old
    convention's 0.544 fails by 0.09."""
    f_route = racemic_25mg_f[""] / _typical_f_factor()
    assert f_route == pytest.approx(params().get("route.intranasal.f_nasal_racemic"), abs=0.03)
    assert f_route == pytest.approx(0.464, abs=0.005)


def test_typical_patients_racemic_nasal_f_is_within_003_of_the_published(racemic_25mg_f):
    """The typical patient itself (factor 0.927 included): 0.430, within 0.03 of 0.45; the old convention's 0.505
    was not."""
    assert racemic_25mg_f[""] == pytest.approx(0.45, abs=0.03)


def test_s_ketamines_nasal_total_is_exactly_the_parameter(racemic_25mg_f):
    """By construction, S-ketamine's total (mucosal fm + swallowed (1 - fm) x route.oral.f_s) is the parameter; R's is
    higher by its own oral F: fm + (1 - fm) x route.oral.f_r."""
    p = params()
    f, fs, fr = (p.get(k) for k in ("route.intranasal.f_nasal_racemic", "route.oral.f_s", "route.oral.f_r"))
    fm = (f - fs) / (1 - fs)
    assert racemic_25mg_f["s_"] / _typical_f_factor() == pytest.approx(f, rel=0.005)
    assert racemic_25mg_f["r_"] / _typical_f_factor() == pytest.approx(fm + (1 - fm) * fr, rel=0.005)


def test_esketamine_nasal_keeps_the_mucosal_convention():
    """56 mg esketamine (two 28-mg devices): f_nasal_esketamine is Perez-Ruixo's mucosal FRn of the first device
    (later devices x later_device_factor), each device's rest swallowed; unchanged by this session (typical venous
    AUC 284.465 ng h/mL before and after)."""
    p = params()
    f1, fs = p.get("route.intranasal.f_nasal_esketamine"), p.get("route.oral.f_s")
    f2 = f1 * p.get("route.intranasal.later_device_factor")
    expected = 0.5 * (f1 + (1 - f1) * fs) + 0.5 * (f2 + (1 - f2) * fs)        # 0.522
    # the IV reference at a quarter of the dose (56 mg IV is in the anesthetic range and warns); the PK is linear
    nasal, iv = _aucs("esketamine", "intranasal", "56 mg"), _aucs("esketamine", "iv-bolus", "14 mg")
    assert nasal["s_"] / (4 * iv["s_"]) / _typical_f_factor() == pytest.approx(expected, rel=0.005)
