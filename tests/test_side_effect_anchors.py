"""Side-effect EC50s after issue 7's PK: the literature anchors are venous plasma levels, the effect site follows
arterial blood. Each EC50 was derived as if the effect site saw the venous plasma level C of its anchor; it sees
r C, r = (effect site driven by arterial plasma) / (venous plasma) at the anchor's time (parameters.csv notes;
benchmarks/side_effect_anchor_ratio.py, r_ce). Issue 7 PK changed the ratio: with the slow-tissue venous read-out
the model reproduces the anchors' venous levels, so the ratio is taken to the venous plasma itself (it was the
effect site driven by arterial over the one driven by venous plasma, r_e). These tests recompute r from the model,
so a later PK change that moves it fails here until the EC50s are re-derived."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _support import line, params, typical_traj

T = np.round(np.arange(0, 3 * 60 + 1) / 60, 9)   # 1-min grid, 3 h


def _link(c, ke0, dt):
    """Effect site of plasma ``c`` (exact for piecewise-linear c on a uniform grid)."""
    e = np.zeros_like(c)
    a = math.exp(-ke0 * dt)
    b = (1 - a) / (ke0 * dt)
    for k in range(1, c.size):
        e[k] = a * e[k - 1] + c[k] - a * c[k - 1] - b * (c[k] - c[k - 1])
    return e


def test_infusion_anchor_ratio_matches_the_cadss_and_sbp_ec50s():
    """Krystal 1994 (CADSS) and the hand-set +7.5 mmHg at 185 ng/mL (Zarate 2006's level; pd.sbp.ec50_racemic_total
    names the BP series it was checked against): end of 0.5 mg/kg over 40 min. The old EC50s
    (0.75 and 2.3 uM) assumed the effect site sees the venous level; now it sees r_e = ce/cv times it."""
    p = params()
    tr = typical_traj([line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")], T)
    ke0 = math.log(2) / p.get("pk.t_half_ke0", "h")
    ca, cv = tr["ca_ketamine_ng_ml"].to_numpy(), tr["cp_ketamine_ng_ml"].to_numpy()
    ea, ev = _link(ca, ke0, T[1]), _link(cv, ke0, T[1])
    k = 40
    # the link reproduces the model's own (arterial-driven) effect site: the comparison is like for like
    assert ea[k] == pytest.approx(tr["ce_ketamine_ng_ml"].iloc[k], rel=0.01)
    r_e = ea[k] / cv[k]
    assert r_e > 1.05 and ea[k] / ev[k] > r_e   # arterial leads venous during an infusion: not vacuous
    # 2-significant-digit rounding in parameters.csv (2.83 -> 2.8) and the typical patient here vs the benchmark's
    # 70-kg man: 3 %
    assert p.get("pd.cadss.ec50_racemic_total", "uM") == pytest.approx(0.75 * r_e, rel=0.03)
    assert p.get("pd.sbp.ec50_racemic_total", "uM") == pytest.approx(2.3 * r_e, rel=0.03)


def test_plateau_anchors_approach_arterial_slowly():
    """Langsjo 2005 (HR; target-controlled plateaus) and Schuttler 1987 (EEG IC50, an equilibrium value). Issue 7
    PK changed this: the venous sample partly drains slowly equilibrating tissue (pk.venous_read; Kamp 2020,
    Persson 2002), so on a plateau venous approaches arterial over hours rather than minutes (it was < 4 % below
    at 2 h with the delay compartment alone); the HR EC50 carries r = ca/cv at 2 h."""
    tr = typical_traj([line("racemic-ketamine", "iv-infusion", "1 mg/kg", duration="6 h")], np.array([2.0, 3.0, 6.0]))
    r = tr["ca_ketamine_ng_ml"] / tr["cp_ketamine_ng_ml"]
    assert 1.0 < r.loc[6.0] < r.loc[3.0] < r.loc[2.0] < 1.3
    p = params()
    r_ce = tr["ce_ketamine_ng_ml"].loc[2.0] / tr["cp_ketamine_ng_ml"].loc[2.0]
    assert r_ce == pytest.approx(r.loc[2.0], rel=0.03)     # a plateau: the effect site is at the arterial level
    # Langsjo: +28/min of a 40/min Emax at 1959 ng/mL S: S-ketamine EC50 = (12/28) C, in racemic total units
    # / (0.5 + 0.5 w_R) with R at its pressor potency (pd.pressor.r_ketamine_potency; was the NMDA Ki ratio: 5.8 uM)
    c_s = 1959 / p.get("mw.ketamine", "g/mol")
    racemic_equivalent = (12 / 28) * c_s / (0.5 + 0.5 * p.get("pd.pressor.r_ketamine_potency"))
    assert p.get("pd.hr.ec50_racemic_total", "uM") == pytest.approx(racemic_equivalent * r_ce, rel=0.03)
    assert p.get("pd.sedation.ec50_racemic_total", "ug/mL") == pytest.approx(2.0, rel=0.03)
