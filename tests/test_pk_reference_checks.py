"""Published PK anchors (shared/reference/pk_parameters.csv) reproduced by the model, with stated tolerances.

Every anchor below names the row of ``pk_parameters.csv`` it comes from (column ``quantity``); the test
``test_anchors_match_the_reference_file`` checks that the numbers written here are the ones in that file.
Predictions come out of the model; only the targets are published numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ketasim import pk as P

from _support import REFERENCE_PK_CSV, auc, value_at, fine_times, line, params, reference_rows, typical_pk, typical_traj

TIMES = fine_times(120.0)   # 1-min resolution for 12 h (Cmax, Tmax), then 15 min to 5 days (AUC)

#: anchor -> (pk_parameters.csv 'quantity', text that must appear in that row's 'value')
ANCHORS = {
    "end_of_infusion_185": ("Peak ketamine after 0.5 mg/kg over 40 min", "185"),
    "esk_28": ("Esketamine Cmax / AUC0-24 at 28 mg (Caucasian 18-60 y)", "43.8 / 147.3"),
    "esk_56": ("Esketamine Cmax / AUC0-24 at 56 mg", "72.5 / 254.7"),
    "esk_84": ("Esketamine Cmax / AUC0-24 at 84 mg", "101.0 / 362.2"),
    "noresk": ("Noresketamine Cmax / AUC0-24 at 28 / 56 / 84 mg", "59.1/274.4; 119.7/516.3; 180.0/758.0"),
    "esk_tmax": ("Esketamine nasal Tmax", "20-40"),
    "esk_t_half": ("Esketamine terminal t1/2", "7-12"),
    "rac_t_half_label": ("Beta (redistribution) t1/2 (label)", "2.5"),
    "rac_t_half_textbook": ("Textbook t1/2 / Vd / CL", "2.3 +/- 0.5 h"),
    "rac_t_half_beta": ("t1/2beta", "~120"),
    "rac_t_half_clements": ("Clements250 terminal t1/2", "183"),
    "f_oral": ("Bioavailability oral tablet", "~20"),
    "f_sublingual": ("Bioavailability sublingual wafer", "29"),
    "f_in_poppk": ("Esketamine IN absolute F 56 / 84 mg (popPK)", "54 / 51"),
    "f_in_label": ("Esketamine nasal absolute F (84 mg)", "~48"),
    "f_im": ("Bioavailability IM", "93"),
    "clarithromycin": ("Clarithromycin on oral S-ketamine Cmax / AUC", "3.6-fold / 2.6-fold"),
    "itraconazole": ("Itraconazole on oral S-ketamine AUC", "no increase"),
    "ticlopidine": ("Ticlopidine on IN esketamine", "Cmax no effect; AUC +29%"),
    "rifampicin": ("Rifampicin on IV S-ket / S-NK AUC", "-10% / -50%"),
    "sex": ("Sex effect on S-ket and S-NK CL", "+20% in women"),
    "weight": ("Body weight +30 kg", "~20% lower exposure"),
    # issue 7 (one-molecule disposition)
    "vss_fanta": ("Vss S / R (Fanta 2021)", "6.6 +/- 2.2 / 5.6 +/- 2.1"),
    "t_half_fanta": ("Terminal t1/2 S / R (Fanta 2021)", "5.2 +/- 3.4 / 6.1 +/- 3.1"),
    "f_oral_enantiomers": ("Bioavailability oral prolonged-release 40 mg", "15 +/- 8 (S); 19 +/- 10 (R)"),
    "f_oral_range": ("Bioavailability oral", "17-20"),
    "im_tmax": ("Tmax IM", "5-15"),
    "bolus_children": ("IN S-ketamine Cmax 2 mg/kg (children)", "355 +/- 172"),
    "cl_meta": ("CL (meta-analysis weighted mean)", "79"),
}


def test_anchors_match_the_reference_file():
    rows = reference_rows()
    if rows is None:
        pytest.skip(f"{REFERENCE_PK_CSV} is not present on this machine")
    by_quantity = {r["quantity"]: r for r in rows}
    for key, (quantity, value) in ANCHORS.items():
        assert quantity in by_quantity, f"{key}: no row {quantity!r} in pk_parameters.csv"
        assert value in by_quantity[quantity]["value"], f"{key}: {value!r} not in {by_quantity[quantity]['value']!r}"


def exposure(lines, column="cp_s_ketamine_ng_ml", **pop):
    """(Cmax ng/mL, Tmax h, AUC ng.h/mL over 5 days) of the typical patient."""
    tr = typical_traj(lines, TIMES, **pop)
    c = tr[column].to_numpy()
    i = int(np.argmax(c))
    return c[i], float(tr.index[i]), auc(tr.index, c)


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("female", [False, True], ids=["man", "woman"])
def test_end_of_infusion_concentration_185(female):
    """'Peak ketamine after 0.5 mg/kg over 40 min': 185 ng/mL (Zarate 2006, TRD patients). Tolerance +-20 %: the
    observed value is a mean of a small group, and popPK models in the same file predict 128-289 ng/mL."""
    tr = typical_traj([line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")], TIMES, female=female)
    assert value_at(tr, "cp_ketamine_ng_ml", 40 / 60) == pytest.approx(185.0, rel=0.20)
    assert tr["cp_ketamine_ng_ml"].idxmax() == pytest.approx(40 / 60, abs=1e-9)  # the peak is at the end


# Perez-Ruixo 2021 typical values (Caucasian 18-60 y): Cmax and AUC0-24. Tolerance +-20 %: the anchors are model
# predictions of another popPK model, and +-20 % is the usual bioequivalence-style band for exposure.
ESK_IN = {28: (43.8, 147.3), 56: (72.5, 254.7), 84: (101.0, 362.2)}
NORESK_IN = {28: (59.1, 274.4), 56: (119.7, 516.3), 84: (180.0, 758.0)}


@pytest.mark.parametrize("dose", sorted(ESK_IN))
def test_esketamine_intranasal_auc(dose):
    tr = typical_traj([line("esketamine", "intranasal", f"{dose} mg")], TIMES)
    c = tr["cp_s_ketamine_ng_ml"]
    day1 = tr.index <= 24.0
    assert auc(tr.index[day1], c[day1]) == pytest.approx(ESK_IN[dose][1], rel=0.20)


@pytest.mark.parametrize("dose", sorted(ESK_IN))
def test_esketamine_intranasal_cmax(dose):
    """Perez-Ruixo typical Cmax +-20 %. Passes since issue 7 PK: the venous sample partly drains slowly
    equilibrating tissue (pk.venous_read, fitted with the venous half-time and the nasal ka to the venous anchors);
    with the delay compartment alone the model gave 53.9 / 89.2 / 124 ng/mL (+23 %)."""
    tr = typical_traj([line("esketamine", "intranasal", f"{dose} mg")], TIMES)
    assert tr["cp_s_ketamine_ng_ml"].max() == pytest.approx(ESK_IN[dose][0], rel=0.20)


@pytest.mark.parametrize("dose", [28, 56, 84])
def test_esketamine_intranasal_tmax(dose):
    """'Esketamine nasal Tmax': 20-40 min after the last spray. The model gives one 28-mg device every
    route.intranasal.device_interval (5 min, label), so the last spray is at (devices - 1) x 5 min.
    Tolerance: the 1-min output resolution."""
    _, tmax, _ = exposure([line("esketamine", "intranasal", f"{dose} mg")])
    last_spray = (dose // 28 - 1) * params().get("route.intranasal.device_interval", "h")
    assert 20 / 60 - 1 / 60 <= tmax - last_spray <= 40 / 60 + 1 / 60


@pytest.mark.parametrize("dose", sorted(NORESK_IN))
def test_noresketamine_intranasal_cmax_and_auc(dose):
    """Regression (fixed in 7b200e2 by pk.fm_nk_esketamine): with fm_nk = 1 noresketamine was ~1.55x the
    Perez-Ruixo Cmax and ~2x its AUC0-24."""
    tr = typical_traj([line("esketamine", "intranasal", f"{dose} mg")], TIMES)
    c = tr["cp_norketamine_ng_ml"]
    cmax_ref, auc_ref = NORESK_IN[dose]
    day1 = tr.index <= 24.0
    # same +-20 % band as for the parent
    assert c.max() == pytest.approx(cmax_ref, rel=0.20)
    assert auc(tr.index[day1], c[day1]) == pytest.approx(auc_ref, rel=0.20)


# ---------------------------------------------------------------------------------------------------------------
def terminal_half_life(model, block):
    k = int(model.nmodes[block])
    return math.log(2) / -model.lam[0, block, :k].max()


@pytest.mark.parametrize("female", [False, True], ids=["man", "woman"])
def test_racemic_terminal_half_life(female):
    """Issue 7 changed this (one molecule, one disposition): S-ketamine's terminal half-life no longer depends on
    the product. Older racemic values (~2-3 h, short sampling: 't1/2beta', 'Textbook', label beta phase) describe
    the second-slowest mode; with long sampling Fanta 2021 reports S 5.2 +/- 3.4 h, R 6.1 +/- 3.1 h ('Terminal
    t1/2 S / R'), the label 7-12 h. Tolerance: from Fanta's S mean to the label's upper end, 5.2-12 h. R-ketamine
    is cleared more slowly (r_to_s_clearance_ratio < 1), so its half-life is the longer of the two; and the
    racemic product's S half-life equals esketamine's."""
    model = typical_pk([line("racemic-ketamine", "iv-bolus", "0.5 mg/kg")], female=female)
    s, r = terminal_half_life(model, P.S_KET), terminal_half_life(model, P.R_KET)
    assert 5.2 <= s <= 12.0
    assert 5.2 <= r <= 12.0
    assert r > s
    # 0.25 mg/kg: the racemate's S dose (0.5 mg/kg esketamine is an anesthetic induction dose and warns)
    esk = typical_pk([line("esketamine", "iv-bolus", "0.25 mg/kg")], female=female)
    assert terminal_half_life(esk, P.S_KET) == pytest.approx(s, rel=1e-12)   # same molecule, same disposition


def test_esketamine_terminal_half_life():
    """'Esketamine terminal t1/2': 7-12 h (label); Fanta 2021 5.2 +/- 3.4 h (IV, long sampling): 5.2-12 h (see
    test_racemic_terminal_half_life), from the slowest mode of the 5-compartment disposition (arterial, arm-venous,
    fast, slow, deep)."""
    model = typical_pk([line("esketamine", "intranasal", "56 mg")])
    assert model.nmodes[P.S_KET] == 5
    assert 5.2 <= terminal_half_life(model, P.S_KET) <= 12.0


def test_venous_samples_have_a_longer_mean_residence_time_than_arterial():
    """Persson 2002 (research/pk.md, 7 mg S- or R-ketamine over 30 min, arterial and venous sampling): arterial Vd
    and MRT ~40 % smaller than venous. Issue 7 PK: the venous sample partly drains slowly equilibrating tissue
    (pk.venous_read), so venous concentrations are lower early and higher late with the same AUC. Over 11 h the
    model's arterial MRT is ~18 % below the venous one (6 % with the delay compartment alone): the direction, not
    yet the size. Tolerance: more than 10 % shorter; AUCs equal over 10 days (mass balance of the read-out)."""
    times = np.unique(np.round(np.concatenate([np.arange(0, 6, 1 / 60), np.arange(6, 240.01, 0.25)]), 9))
    tr = typical_traj([line("esketamine", "iv-infusion", "7 mg", duration="30 min")], times)
    t = tr.index.to_numpy()
    mrt = {}
    for col in ("cp_s_ketamine_ng_ml", "ca_s_ketamine_ng_ml"):
        c = tr[col].to_numpy()
        m = t <= 11.0
        mrt[col] = auc(t[m], c[m] * t[m]) / auc(t[m], c[m])
    assert mrt["ca_s_ketamine_ng_ml"] < 0.90 * mrt["cp_s_ketamine_ng_ml"]
    assert auc(t, tr["cp_s_ketamine_ng_ml"].to_numpy()) == pytest.approx(auc(t, tr["ca_s_ketamine_ng_ml"].to_numpy()), rel=1e-3)


def test_esketamine_terminal_phase_is_visible_in_the_concentrations():
    """The log-linear slope of the simulated curve 72-120 h after a dose is the slowest eigenvalue."""
    tr = typical_traj([line("esketamine", "iv-bolus", "0.25 mg/kg")], TIMES)
    c72, c120 = tr["cp_s_ketamine_ng_ml"].loc[72.0], tr["cp_s_ketamine_ng_ml"].loc[120.0]
    t_half = 48.0 * math.log(2) / math.log(c72 / c120)
    model = typical_pk([line("esketamine", "iv-bolus", "0.25 mg/kg")])
    # the second-slowest mode (t1/2 ~3 h; the slowest ~6.6 h since the thirty-seventh session's small deep
    # compartment) has fallen 2^-13 behind the slowest by 72 h: agreement to 1e-3 (48-96 h agreed to 7e-3 only)
    assert t_half == pytest.approx(terminal_half_life(model, P.S_KET), rel=1e-3)


# ---------------------------------------------------------------------------------------------------------------
# Bioavailability: AUC ratio route / IV for the typical patient. The typical patient's extravascular F carries the
# mean-preserving lognormal factor f_iiv = exp(-omega^2/2) (PKModel.f_iiv), so the population-mean F, which is
# what the studies report, is the typical ratio divided by f_iiv. Tolerance +-10 %: the published values are
# means of small studies (e.g. sublingual 29 %, 90 % CI 27-31; oral 23 +/- 9 %).
F_RTOL = 0.10
BIOAVAILABILITY = [
    # issue 7: per enantiomer, whatever the product ('Bioavailability oral prolonged-release 40 mg': S 15, R 19 %)
    ("racemic-ketamine", "oral", "20 mg", 0.15, "cp_s_ketamine_ng_ml"),
    ("racemic-ketamine", "oral", "20 mg", 0.19, "cp_r_ketamine_ng_ml"),
    ("esketamine", "oral", "20 mg", 0.15, "cp_s_ketamine_ng_ml"),
    ("racemic-ketamine", "oral", "20 mg", 0.17, "cp_ketamine_ng_ml"),            # 'Bioavailability oral' 17-20 %
    ("racemic-ketamine", "sublingual", "20 mg", 0.29, "cp_s_ketamine_ng_ml"),    # 'Bioavailability sublingual wafer'
    ("racemic-ketamine", "im", "20 mg", 0.93, "cp_s_ketamine_ng_ml"),            # 'Bioavailability IM'
    ("esketamine", "intranasal", "56 mg", 0.54, "cp_s_ketamine_ng_ml"),          # 'Esketamine IN absolute F ... popPK'
    ("esketamine", "intranasal", "84 mg", 0.51, "cp_s_ketamine_ng_ml"),
    ("esketamine", "intranasal", "84 mg", 0.48, "cp_s_ketamine_ng_ml"),          # 'Esketamine nasal absolute F (84 mg)'
]


@pytest.mark.parametrize("drug, route, dose, f_published, column", BIOAVAILABILITY)
def test_bioavailability_by_route(drug, route, dose, f_published, column):
    lines = [line(drug, route, dose)]
    _, _, auc_route = exposure(lines, column)
    # IV reference: 20 mg (subanesthetic); PK is linear, so AUC per mg is compared
    _, _, auc_iv = exposure([line(drug, "iv-bolus", "20 mg")], column)
    dose_mg = float(dose.split()[0])
    f_iiv = typical_pk(lines).f_iiv[0]
    assert f_iiv < 1.0   # the typical patient is below the population mean
    assert (auc_route / dose_mg) / (auc_iv / 20.0) / f_iiv == pytest.approx(f_published, rel=F_RTOL)


# ---------------------------------------------------------------------------------------------------------------
def ratio(lines, comedication, column="cp_s_ketamine_ng_ml", what=2):
    """Exposure with / without the comedication (what: 0 Cmax, 2 AUC)."""
    return exposure(lines, column, comedications=[comedication])[what] / exposure(lines, column)[what]


ORAL_ESK = [line("esketamine", "oral", "0.2 mg/kg")]
IV_ESK = [line("esketamine", "iv-infusion", "0.2 mg/kg", duration="2 h")]
#: Hagelberg 2010 (PMID 19897389): clarithromycin for 4 days, oral S-ketamine on day 4 (ddi.clarithromycin.oral_auc_days)
CLA_HAGELBERG = "clarithromycin for 4 d"


def test_clarithromycin_raises_oral_esketamine_auc_2_6_fold():
    """'Clarithromycin on oral S-ketamine Cmax / AUC': AUC 2.6-fold (Hagelberg 2010, after 4 days). Tolerance +-20 %."""
    assert ratio(ORAL_ESK, CLA_HAGELBERG) == pytest.approx(2.6, rel=0.20)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: clarithromycin for Hagelberg's 4 days raises oral esketamine Cmax 2.21-fold in the model vs 3.6-fold "
    "observed (2.20 before the inhibitor onset carried the probe and the size to steady state; 2.14 before its "
    "liver/gut split came from its midazolam probe, Gorski 1998: more of the inhibition in the gut wall raises F more "
    "and CL less, so Cmax a little more for the same AUC): inhibition "
    "only scales F and CL, which raises Cmax less than AUC (AUC 2.60-fold as observed); in linear PK the Cmax ratio "
    "cannot exceed the AUC ratio when only clearance and first-pass extraction fall, while the study saw Cmax rise "
    "more than AUC. Needs a saturable first pass (nonlinear: not in the linear modal kernel) or a faster input with "
    "the inhibitor: clarithromycin is a motilin agonist (prokinetic; Sengupta 2006 doi:10.1111/j.1365-2036.2006."
    "02962.x) and oral ka x1.5 / x2 with it gives Cmax x2.85 / x3.39 (x2.76 / x3.28 with the equal split; AUC "
    "unchanged; Tmax 0.43 -> 0.33 / 0.28 h), "
    "but no independent measure of its effect on absorption rate was retrieved (deriving ka from this Cmax would "
    "pass the test by construction). Searched (fifth session of 2026-12-01): no human gastric-emptying study of "
    "clarithromycin; erythromycin ethylsuccinate 500-1000 mg orally shortened liquid gastric transit by 20 % "
    "(Delatour 1998 Fundam Clin Pharmacol doi:10.1111/j.1472-8206.1998.tb00957.x), i.e. ka x1.25 -> Cmax x2.55, "
    "still outside the band (and a single erythromycin dose, not 4 days of clarithromycin); CYP3A probes under "
    "macrolides show Cmax rising LESS than AUC, as this model does (triazolam + clarithromycin Cmax x2 vs AUC x4-5, "
    "Greenblatt 1998; oral midazolam + erythromycin Cmax ~x3 vs AUC >x4, Olkkola 1993). Eleventh session: the one "
    "human Tmax found under clarithromycin shows no faster input (250 mg twice daily for 2 days: glibenclamide Tmax "
    "unaltered, Cmax x1.25 vs AUC x1.35; Lilja 2007 Br J Clin Pharmacol, abstract); repaglinide's Cmax rose more than "
    "its AUC (x1.67 vs x1.40, Niemi 2001 Clin Pharmacol Ther 70:58, abstract; Tmax not given), but clarithromycin "
    "also blocks repaglinide's hepatic uptake (OATP1B1), which shrinks its volume, so it is no absorption probe; "
    "Hagelberg 2010's own Tmax and a human gastric-emptying study of clarithromycin were not retrieved (gall-bladder "
    "only, Sengupta 2006). At the study's sampling times (TURKU_SAMPLES_H, first sample 20 min) the model gives "
    "Cmax x2.195, and its between-patient and between-period variability does not reach 3.6 by chance: 100 simulated "
    "10-subject crossovers (IOV on F and CL) give Cmax ratios 2.02-2.41 (5th-95th percentile, max 2.56), never above "
    "their AUC ratio (benchmarks/turku_study_design_checks.py)"))
def test_clarithromycin_raises_oral_esketamine_cmax_3_6_fold():
    assert ratio(ORAL_ESK, CLA_HAGELBERG, what=0) == pytest.approx(3.6, rel=0.20)  # same +-20 % band


def test_clarithromycin_raises_iv_exposure_much_less_than_oral():
    """High hepatic extraction: an inhibitor of intrinsic clearance changes IV exposure far less than oral."""
    oral, iv = ratio(ORAL_ESK, "clarithromycin"), ratio(IV_ESK, "clarithromycin")
    assert iv > 1.0
    assert (iv - 1.0) < 0.5 * (oral - 1.0)


#: Noppers 2011 (Anesthesiology 114:1435, PMC3560924): 5 days of rifampicin 600 mg before the IV S-ketamine;
#: Peltoniemi 2012 (doi:10.1111/j.1742-7843.2012.00908.x): 6 days. Induction builds up over days (pk.induction_reached).
RIF_NOPPERS, RIF_PELTONIEMI = "rifampicin for 5 d", "rifampicin for 6 d"


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL (thirty-seventh session, fm_nk 0.616 on the refitted deep compartment: total liver CLint x1.71 after 5 d, "
    "x1.96 at steady state; IV AUC0-inf ratio 0.847, 0.003 below the band's 0.85, so a small PK change can make this "
    "pass; S-norketamine 0.419; the numbers below are at fm_nk 0.676): rifampicin's ketamine factors come from CYP probe data (CYP3A from midazolam: liver x2.73 after Gorski "
    "2003's 7 days, gut wall from Backman 1996's 5 days; CYP2B6 x1.93 from single-dose efavirenz after 7-10 days) "
    "acting on N-demethylation only (fm_nk 0.676 of CLint; pk.comedication_factors), carried to Noppers 2011's 5 days "
    "by the enzymes' turnover (hepatic CYP3A4 t1/2 72 h, Galetin 2006: 68 % of steady state at 5 d vs 80 % at 7 d; "
    "CYP2B6 44.4 h, Ashraf 2018): total "
    "liver CLint x1.78 (x2.06 at steady state), and the well-stirred liver (S extraction 0.63) predicts IV AUC0-inf "
    "-16.2 % (ratio 0.838; 0.842 with CYP2B6 turning over like CYP3A4; 0.825 before the time course; 0.810 at steady "
    "state) vs -10 % (Noppers 2011) / -14 % "
    "(Peltoniemi 2012 after 6 days, AUC0-inf; model 0.831). Over Noppers' 0-5 h sampling the model gives 0.896, but "
    "S-norketamine 0-5 h 0.608 vs the reported -50 % (0.50 +-20 %), so neither window fits both analytes: with "
    "norketamine CL x3.0 (measured) and S-norketamine AUC0-inf >= 0.40 (0.403 here) the yield must rise >= 1.2-fold, "
    "total CLint x >= 1.72, IV ratio <= 0.846. Closing it needs clearance that rifampicin does not induce and that "
    "does not form norketamine, or a flow-limited liver (extraction nearer 1): neither sourced"))
def test_rifampicin_lowers_iv_s_ketamine_auc_by_10_percent():
    """'Rifampicin on IV S-ket / S-NK AUC': -10 % (Noppers 2011, 2-h IV infusion after 5 days of rifampicin).
    Tolerance +-0.05 on the ratio (the study's precision for a 10 % change)."""
    assert ratio(IV_ESK, RIF_NOPPERS) == pytest.approx(0.90, abs=0.05)


def test_rifampicin_iv_ratios_follow_the_well_stirred_closed_form():
    """Issue 7 (induction, closed form): IV S-ketamine AUC0-inf ratio = CL/CL' with CL' from the well-stirred liver
    at the induced CLint (pk.comedication_factors), and IV S-norketamine AUC ratio = (fm_nk'/fm_nk) / CL_NK factor.
    The simulated 5-day AUCs must give both to 1 % (tail beyond 5 days and venous read-out)."""
    p = params()
    qh = p.get("pk.hepatic_blood_flow", "L/h")
    for rif in (RIF_NOPPERS, "rifampicin"):          # after the study's 5 days and at steady state
        clint_f, _, yield_f, nk_f, _ = P.comedication_factors(p, (rif,))
        x = P._hepatic(p.get("pk.s_ketamine.cl", "L/h"), qh)
        cl, cl_ind = qh * x / (qh + x), qh * x * clint_f / (qh + x * clint_f)
        assert ratio(IV_ESK, rif) == pytest.approx(cl / cl_ind, rel=0.01)
        assert ratio(IV_ESK, rif, "cp_norketamine_ng_ml") == pytest.approx(yield_f / nk_f, rel=0.01)
    # the CYP2B6 factor comes from single-dose efavirenz (not assumed equal to CYP3A): liver induction below CYP3A's
    assert 1.0 < p.get("ddi.rifampicin.cyp2b6_factor") < P.cyp3a_factors_from_midazolam(p, "rifampicin")[0]


def test_rifampicin_lowers_iv_s_norketamine_auc_markedly():
    assert ratio(IV_ESK, RIF_NOPPERS, "cp_norketamine_ng_ml") < 0.75


def test_rifampicin_lowers_iv_s_norketamine_auc_by_half():
    """Noppers 2011: S-norketamine AUC -50 % (its elimination +200 %). Passes since the norketamine yield follows
    induction of N-demethylation (pk.comedication_factors at steady state: fm_nk 0.616 -> 0.80 since the
    thirty-seventh session, 0.676 -> 0.85 before); with the yield fixed the model gave -67 % (formation fixed at fm_nk
    x dose, elimination x3). After the study's 5 days of rifampicin (its measured x3.0 elimination; the CYP factors
    carried from their probes' pretreatment to 5 days) the model gives -58 % (0.419; -60 %, 0.403, before the
    thirty-seventh session). Note: over the study's 0-5 h window the model gives -39 % (0.608); the test
    compares AUC0-inf as for the parent."""
    assert ratio(IV_ESK, RIF_NOPPERS, "cp_norketamine_ng_ml") == pytest.approx(0.50, rel=0.20)  # +-20 % band


def test_itraconazole_does_not_change_oral_esketamine():
    """'Itraconazole on oral S-ketamine AUC': no increase. Tolerance +-5 %: within any bioequivalence band."""
    assert ratio(ORAL_ESK, "itraconazole") == pytest.approx(1.0, abs=0.05)
    assert ratio(ORAL_ESK, "itraconazole", what=0) == pytest.approx(1.0, abs=0.05)


#: the label's design: ticlopidine 250 mg twice daily for 9 days before and on the day of the nasal esketamine
TIC_LABEL = "ticlopidine for 9 d"


def test_ticlopidine_on_intranasal_esketamine():
    """'Ticlopidine on IN esketamine': Cmax no effect, AUC +29 %, after the label's 9 days of ticlopidine. 'No effect'
    read as the bioequivalence band 0.80-1.25 (the next test, a strict xfail since the thirty-seventh session); AUC
    ratio +-20 %. Model: Cmax x1.261, AUC x1.489.

    History: it passed (1.235 / 1.467) while Peltoniemi 2011's 6-day oral factor (x2.4) was taken as steady state,
    and failed (1.286 / 1.600, strict xfail) once the inhibitor onset carried it to steady state with ticlopidine
    acting on all of ketamine's CLint (s = 1: CYP2B6 activity 0.56 after 6 days, so a slow onset, 82 % after 6 days)
    and CYP2B6 turning over like CYP3A4 (72 h). Ashraf 2018 (doi:10.1002/psp4.12346) gives the CYP2B6 share of
    S-ketamine's hepatic metabolism (fm 0.63, ddi.ticlopidine.cyp2b6_share) and the hepatic CYP2B6 kdeg (44.4 h,
    pk.cyp2b6_t_half_liver): with them the 6-day factor leaves 31 % of CYP2B6 activity and 6 days are 97 % of the
    steady state. Neither value was chosen for this check (each alone: s 0.63 at 72 h gives 1.251 / 1.507, 44.4 h at
    s = 1 gives ~1.27 / ~1.54). Not covered: the organ split. Acting on the liver only (as in Ashraf's model, whose
    S-ketamine gut-wall extraction is small) the oral x2.4 would need liver CLint x0.417 and give 1.252 / 1.666."""
    lines = [line("esketamine", "intranasal", "56 mg")]
    assert ratio(lines, TIC_LABEL) == pytest.approx(1.29, rel=0.20)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: since the thirty-seventh session's disposition (a deep compartment that no longer drains the first hours, "
    "benchmarks/fit_pk_deep.py) the nasal peak depends a little more on clearance: ticlopidine raises intranasal "
    "esketamine Cmax x1.261 (was x1.244) against the label's 'no effect', read as the bioequivalence band <= 1.25; "
    "AUC x1.489 is unchanged (test_ticlopidine_on_intranasal_esketamine). History there: x1.235 to x1.286 with "
    "earlier inhibitor onsets and shares"))
def test_ticlopidine_leaves_intranasal_esketamine_cmax_within_the_bioequivalence_band():
    lines = [line("esketamine", "intranasal", "56 mg")]
    assert 0.80 <= ratio(lines, TIC_LABEL, what=0) <= 1.25


#: Peltoniemi 2012 (Eur J Clin Pharmacol 68:979, doi:10.1007/s00228-012-1214-9, PMID 22286159; abstract): 12 healthy
#: volunteers, grapefruit juice 200 mL three times daily for 5 days, 0.2 mg/kg oral S-ketamine: AUC0-inf x3.0
#: (individual range 2.4-3.6), Cmax x2.1 (1.8-2.6), elimination half-life +24 %, norketamine/ketamine AUC ratio -57 %
GFJ_PELTONIEMI = {"auc": (3.0, 2.4, 3.6), "cmax": (2.1, 1.8, 2.6), "t_half": 1.24, "nk_to_k": 1 - 0.57}


def test_grapefruit_juice_raises_oral_auc_3_fold_and_iv_barely():
    """Peltoniemi 2012 (source of ddi.grapefruit-juice.gut_factor): oral S-ketamine AUC x3.0, tolerance +-20 % (the
    band equals the study's individual range 2.4-3.6); Cmax x2.1 inside the individual range 1.8-2.6, and below the
    AUC ratio, as a systemic part makes it (a gut-wall-only effect scales the whole curve: Cmax ratio = AUC ratio).
    Grapefruit juice acts on the gut wall (gut CLint x ddi.grapefruit-juice.gut_factor) and a little on the liver
    (pk.hepatic_cyp3a_part: IV alfentanil AUC x1.2 after grapefruit juice, Kharasch 2011 PMC3584707, on S-ketamine's
    CYP3A share): closed forms of the well-stirred liver, oral AUC ratio (1 + g0) / (1 + g0 G) / L (g0 = 1 / Fgut - 1)
    and IV AUC ratio CL / CL', each within 1 % of the simulation (5-day AUC window). IV exposure rises less than the
    hepatic probe's own x1.2 (IV midazolam unchanged after grapefruit juice, Kupferschmidt 1995 PMID 7628179)."""
    p = params()
    liver, gut, _ = P.inhibitor_factors(p, "grapefruit-juice")
    g0 = 1 / P.oral_fractions(p)[2][0] - 1
    oral = ratio(ORAL_ESK, "grapefruit-juice")
    assert oral == pytest.approx(GFJ_PELTONIEMI["auc"][0], rel=0.20)
    assert oral == pytest.approx((1 + g0) / (1 + g0 * gut) / liver, rel=0.01)
    cmax = ratio(ORAL_ESK, "grapefruit-juice", what=0)
    assert GFJ_PELTONIEMI["cmax"][1] <= cmax <= GFJ_PELTONIEMI["cmax"][2]
    assert cmax < oral
    qh, cl = p.get("pk.hepatic_blood_flow", "L/h"), p.get("pk.s_ketamine.cl", "L/h")
    iv = ratio(IV_ESK, "grapefruit-juice")
    assert iv == pytest.approx(cl / P._well_stirred(P._hepatic(cl, qh) * liver, qh), rel=0.01)
    assert 1.0 < iv < p.get("ddi.grapefruit-juice.hepatic_probe_iv_auc_ratio")


def test_grapefruit_juice_liver_part_comes_from_its_iv_probe():
    """Grapefruit juice's hepatic part (pk.hepatic_cyp3a_part), separate from its gut-wall factor: the IV probe's AUC
    ratio r (ddi.grapefruit-juice.hepatic_probe_iv_auc_ratio 1.2, Kharasch 2011 PMC3584707) gives hepatic CYP3A
    activity h through the model's midazolam liver, so the model's IV midazolam AUC ratio is r again (closed form
    1e-9; through the engine 1 %, the 5-day window); S-ketamine's liver CLint x(1 - s (1 - h)), s its CYP3A share
    (pk.demethylation_cyp3a_share x pk.fm_nk, as for the inducers; 1e-12); the gut wall keeps its own factor. r 1
    leaves the liver alone (the gut-wall-only model); a ratio below 1, or a hepatic probe next to a ketamine-derived
    liver factor, is a one-line error naming the field."""
    p = params()
    r = p.get("ddi.grapefruit-juice.hepatic_probe_iv_auc_ratio")
    h, liver = P.hepatic_cyp3a_part(p, "grapefruit-juice")
    s3a = p.get("pk.demethylation_cyp3a_share") * p.get("pk.fm_nk")
    assert liver == pytest.approx(1 - s3a * (1 - h), rel=1e-12)
    assert P.midazolam_auc_ratios(p, h, 1.0)[0] == pytest.approx(r, rel=1e-9)
    factors = P.inhibitor_factors(p, "grapefruit-juice")
    assert factors == pytest.approx((liver, p.get("ddi.grapefruit-juice.gut_factor"), 1 / r), rel=1e-9)
    assert P.comedication_factors(p, ["grapefruit-juice"])[:2] == pytest.approx(factors[:2], rel=1e-12)
    mdz = [line("midazolam", "iv-infusion", "0.045 mg/kg", duration="40 min")]
    assert ratio(mdz, "grapefruit-juice", "cp_midazolam_ng_ml") == pytest.approx(r, rel=0.01)
    none = p.with_literature({"ddi.grapefruit-juice.hepatic_probe_iv_auc_ratio": 1.0})
    assert P.inhibitor_factors(none, "grapefruit-juice") == pytest.approx(
        (1.0, p.get("ddi.grapefruit-juice.gut_factor"), 1.0), rel=1e-12)
    for bad, field in (({"ddi.grapefruit-juice.hepatic_probe_iv_auc_ratio": 0.8}, "hepatic_probe_iv_auc_ratio must"),
                       ({"ddi.grapefruit-juice.clint_factor": 0.9}, "needs ddi.grapefruit-juice.clint_factor 1")):
        with pytest.raises(ValueError, match=field) as err:
            P.inhibitor_factors(p.with_literature(bad), "grapefruit-juice")
        assert "\n" not in str(err.value)


def test_grapefruit_juice_lowers_the_norketamine_to_ketamine_ratio():
    """Peltoniemi 2012: the norketamine-to-ketamine AUC ratio falls by 57 % with grapefruit juice (less
    N-demethylation in the first pass). Not used to set any value; tolerance +-20 % on the ratio (0.43)."""
    def nk_to_k(comedications):
        return (exposure(ORAL_ESK, "cp_norketamine_ng_ml", comedications=comedications)[2]
                / exposure(ORAL_ESK, comedications=comedications)[2])
    assert nk_to_k(["grapefruit-juice"]) / nk_to_k([]) == pytest.approx(GFJ_PELTONIEMI["nk_to_k"], rel=0.20)


#: Peltoniemi 2012's sampling after the oral S-ketamine dose (h) and the assay's lower limit of quantification for
#: S-ketamine (ng/mL): the five Turku oral S-ketamine studies of 2008-2010 (Hagelberg 2010; Peltoniemi 2011, 2012 x3,
#: grapefruit juice among them) pooled by Ashraf 2018 (CPT Pharmacometrics Syst Pharmacol 7:687,
#: doi:10.1002/psp4.12346, PMID 30091858, Supplementary Information S1): pre-dose, 20 and 40 min, 1, 1.5, 2, 3, 4, 5,
#: 6, 8, 10, 12 and 24 h; LLOQ 0.025 ng/mL for S-ketamine and norketamine. Read as encoded in nlmixr2lib
#: Ashraf_2018_s_ketamine_ticlopidine.R (commit a9bb633, population$n_observations), not from the paper itself.
TURKU_SAMPLES_H = (0.0, 1 / 3, 2 / 3, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 24.0)
TURKU_LLOQ_NG_ML = 0.025


def _study_samples(lines, comedications=()):
    """The typical man's venous S-ketamine at Peltoniemi 2012's sampling times (ng/mL)."""
    t = np.asarray(TURKU_SAMPLES_H)
    return t, typical_traj(lines, t, comedications=list(comedications))["cp_s_ketamine_ng_ml"].to_numpy()


def _terminal_half_life(lines, comedications=()):
    """Terminal half-life (h) of the typical man's oral S-ketamine as the study estimated it: NCA (ketasim.nca,
    adjusted-R^2 rule for lambda_z) of the samples at Peltoniemi 2012's times, samples below the assay's LLOQ
    dropped."""
    from ketasim.nca import nca

    t, c = _study_samples(lines, comedications)
    keep = (c >= TURKU_LLOQ_NG_ML) | (t == 0.0)
    return float(np.squeeze(nca(t[keep], c[keep])["t_half_h"]))


def test_grapefruit_half_life_study_samples_are_quantifiable():
    """The candidate estimation artefact for grapefruit juice's +24 % half-life, tested with the sourced assay: were
    the water phase's late samples below the limit of quantification while the grapefruit phase's were not, the water
    phase's lambda_z would come from samples up to 12 h and the NCA half-life ratio of the model's own curves would
    be x1.23 with no systemic effect (LLOQ 0.1-0.2 ng/mL, tenth session). With the study's LLOQ 0.025 ng/mL every
    sample of the typical man is quantifiable in both phases (24 h: 0.031 and 0.084 ng/mL, 1.25 and 3.4 times the
    limit since the thirty-seventh session's PK; 0.094 and 0.251 before), so the study's NCA saw the same terminal
    samples in both phases and the artefact cannot arise in the model's typical patient (with the model's
    between-patient variability: 43.9 % of water-phase 24-h samples below the limit, half-life ratio 1.055, at most
    1.105 in 100 simulated 12-subject trials; 6.9 %, 1.024 and 1.069 before; benchmarks/turku_study_design_checks.py)."""
    for comedications in ([], ["grapefruit-juice"]):
        t, c = _study_samples(ORAL_ESK, comedications)
        # a failure is not a model error: the typical man's NCA would then drop that sample as the study did
        # (_terminal_half_life), and the artefact argument above must be re-measured (the benchmark)
        assert np.all(c[t > 0] >= TURKU_LLOQ_NG_ML), (comedications, dict(zip(t[c < TURKU_LLOQ_NG_ML],
                                                                               c[c < TURKU_LLOQ_NG_ML])))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: grapefruit juice's systemic part is the sourced hepatic CYP3A one (ddi.grapefruit-juice."
    "hepatic_probe_iv_auc_ratio: IV alfentanil AUC x1.2, Kharasch 2011 PMC3584707, the upper end of the IV data; IV "
    "midazolam unchanged, Kupferschmidt 1995; hepatic CYP3A4 unchanged after 8 oz three times daily for 6 days, Lown "
    "1997 PMC508096) on S-ketamine's CYP3A share 0.338 of CLint: liver CLint x0.937, NCA half-life at the study's "
    "samples 5.99 -> 6.07 h (ratio 1.012; 8-24 h fit 1.013; IV AUC x1.025; tenth session) against +24 % (Peltoniemi "
    "2012, P < 0.05; the same regimen lengthened oxycodone's half-life 1.2-fold, Nieminen 2010 PMID 20406214). Even a "
    "complete block of hepatic CYP3A (liver x0.662) gives 1.096 with IV x1.19, and the model's 8-24 h half-life moves "
    "about half as much as clearance: 1.12 needs liver CLint ~x0.6 (IV x~1.25), +24 % ~x0.45 (IV x1.45, oral x3.0 "
    "with gut CLint x0.56), i.e. more than all of S-ketamine's CYP3A, while the hepatic CYP3A probes show grapefruit "
    "juice at most x1.2. The estimation artefact is ruled out (eleventh session): with the study's LLOQ 0.025 ng/mL "
    "and sampling times (Ashraf 2018 doi:10.1002/psp4.12346 via nlmixr2lib; TURKU_LLOQ_NG_ML) every typical-man "
    "sample is quantifiable in both phases (test_grapefruit_half_life_study_samples_are_quantifiable), the model's "
    "population gives 1.055 with the LLOQ, 1.007 without (at most 1.105 over 100 12-subject trials, 43.9 % of the "
    "water phase's 24-h samples below the LLOQ since the thirty-seventh session's PK; eleventh session 1.024, max "
    "1.069; benchmarks/turku_study_design_checks.py). "
    "Unsourced candidate left: hepatic CYP2B6 inactivation by bergamottin (in vitro only); the individual "
    "half-lives (full text) were not retrieved"))
def test_grapefruit_juice_lengthens_oral_s_ketamine_half_life():
    """Peltoniemi 2012 (Eur J Clin Pharmacol 68:979, doi:10.1007/s00228-012-1214-9, PMID 22286159; 12 healthy
    volunteers, grapefruit juice 200 mL three times daily for 5 days, 0.2 mg/kg oral S-ketamine, 24-h sampling, NCA):
    elimination half-life +24 %. Compared as the study estimated it (_terminal_half_life: its sampling times and
    assay LLOQ). The model must give at least half of it (ratio >= 1.12)."""
    assert _terminal_half_life(ORAL_ESK, ["grapefruit-juice"]) / _terminal_half_life(ORAL_ESK) >= 1.12


# ---------------------------------------------------------------------------------------------------------------
def test_women_have_higher_clearance_and_lower_exposure():
    for lines in ([line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")],
                  [line("esketamine", "intranasal", "56 mg")]):
        man, woman = typical_pk(lines), typical_pk(lines, female=True)
        assert woman.cl[0, P.S_KET] > man.cl[0, P.S_KET]
        assert exposure(lines, female=True)[2] < exposure(lines)[2]
    # S-norketamine: +20 % in women ('Sex effect on S-ket and S-NK CL'); applied directly, so exact up to rounding
    lines = [line("esketamine", "intranasal", "56 mg")]
    assert typical_pk(lines, female=True).cl[0, P.S_NK] / typical_pk(lines).cl[0, P.S_NK] == pytest.approx(1.20, rel=1e-9)


@pytest.mark.parametrize("drug", ["racemic-ketamine", "esketamine"])
def test_women_s_ketamine_clearance_is_20_percent_higher(drug):
    """'Sex effect on S-ket and S-NK CL': +20 % in women. Regression (fixed in 7b200e2): the factor was applied
    to hepatic intrinsic clearance, which raised systemic clearance only ~8 % (racemic) / ~4 % (esketamine)."""
    lines = [line(drug, "iv-bolus", "0.2 mg/kg")]
    r = typical_pk(lines, female=True).cl[0, P.S_KET] / typical_pk(lines).cl[0, P.S_KET]
    assert r == pytest.approx(1.20, abs=0.05)   # tolerance: the study's 10 + 10 subjects


def test_heavier_patients_have_lower_concentrations_for_a_fixed_mg_dose():
    """'Body weight +30 kg': ~20 % lower exposure (intranasal esketamine popPK). Tolerance +-0.1 on the ratio."""
    lines = [line("esketamine", "intranasal", "56 mg")]
    light, heavy = exposure(lines, weight_kg=70.0), exposure(lines, weight_kg=100.0)
    assert heavy[0] < light[0]
    assert heavy[2] / light[2] == pytest.approx(0.80, abs=0.10)
    # and for mg/kg dosing the heavier patient gets more drug but, with allometric clearance, higher exposure
    lines = [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")]
    assert exposure(lines, "cp_ketamine_ng_ml", weight_kg=100.0)[2] > exposure(lines, "cp_ketamine_ng_ml")[2]


def test_clarithromycin_raises_midazolam_exposure():
    """Midazolam keeps its own hepatic CYP3A factor from its clarithromycin probe (Gorski 1998: systemic clearance
    28 -> 10 L/h, IV AUC x2.8; ddi.clarithromycin.midazolam_iv_auc_ratio), so the simulated IV midazolam AUC ratio is
    that probe's 2.8 after the probe's 7 days of clarithromycin (round trip; 1 % for the 5-day window); at steady
    state (no duration) a little more. Before the split came from the probe, midazolam took ketamine's clint_factor
    (x1.8). Regression (fixed in 7b200e2): midazolam ignored comedications."""
    lines = [line("midazolam", "iv-infusion", "0.045 mg/kg", duration="40 min")]
    expected = params().get("ddi.clarithromycin.midazolam_iv_auc_ratio")
    assert ratio(lines, "clarithromycin for 7 d", "cp_midazolam_ng_ml") == pytest.approx(expected, rel=0.01)
    assert ratio(lines, "clarithromycin", "cp_midazolam_ng_ml") > ratio(lines, "clarithromycin for 7 d",
                                                                         "cp_midazolam_ng_ml")


# ---------------------------------------------------------------------------------------------------------------
# Issue 7: induction from CYP probe data, sex without first-pass change, one molecule whatever the product
ORAL_ESK_RIF = [line("esketamine", "oral", "0.3 mg/kg")]
#: Peltoniemi 2012 (Fundam Clin Pharmacol) gave St John's wort for 14 days, as did the probe studies (Wang 2001, Lei 2010)
SJW_PELTONIEMI = "st-johns-wort for 14 d"
#: Peltoniemi 2012's IV part: 0.1 mg/kg over 2 min (Ashraf 2018 Supplementary S3, $PK D2 = 0.03333 h, via nlmixr2lib;
#: a 2-h infusion until the eleventh session: the AUC0-inf ratio does not depend on the duration in linear PK)
IV_ESK_RIF = [line("esketamine", "iv-infusion", "0.1 mg/kg", duration="2 min")]


def test_rifampicin_lowers_oral_s_ketamine_auc_by_86_percent():
    """Peltoniemi 2012 (doi:10.1111/j.1742-7843.2012.00908.x): rifampicin lowers oral S-ketamine AUC by 86 %
    (ratio 0.14) and IV AUC by 14 %. The model's factors come from midazolam probe data, not from these numbers,
    so the check is a prediction; tolerance: the usual 2-fold acceptance of DDI predictions on the AUC ratio
    (0.07-0.28). The oral change must dwarf the IV change (gut wall + first pass). Both after the study's 6 days of
    rifampicin (model 0.134 / 0.831; at steady state 0.118 / 0.810)."""
    oral, iv = ratio(ORAL_ESK_RIF, RIF_PELTONIEMI), ratio(IV_ESK_RIF, RIF_PELTONIEMI)
    assert 0.14 / 2 <= oral <= 0.14 * 2
    assert math.log(oral) < 5 * math.log(iv) < 0


def test_st_johns_wort_lowers_oral_s_ketamine_and_norketamine():
    """Peltoniemi 2012 (Fundam Clin Pharmacol; 12 HV, 14 days of St John's wort, 0.3 mg/kg oral S-ketamine): ketamine
    AUC -58 % (ratio 0.42), norketamine AUC -18 % (0.82). Parent: a prediction from midazolam probe data, the 2-fold
    DDI acceptance as for rifampicin (model 0.70: 1.7-fold off). Norketamine: its clearance is induced like
    N-demethylation (ddi.st-johns-wort.nk_cl_factor; the rule gives rifampicin 2.33 vs 3.0 measured, Noppers 2011;
    chosen with this number in view, so a consistency check rather than an independent one): +-20 %."""
    assert 0.42 / 2 <= ratio(ORAL_ESK_RIF, SJW_PELTONIEMI) <= 0.42 * 2
    assert ratio(ORAL_ESK_RIF, SJW_PELTONIEMI, "cp_norketamine_ng_ml") == pytest.approx(0.82, rel=0.20)


#: Peltoniemi 2012 (Fundam Clin Pharmacol 26:743, doi:10.1111/j.1472-8206.2011.00954.x; 12 HV, 14 days of St John's
#: wort, 0.3 mg/kg oral S-ketamine): ketamine AUC0-inf -58 %. Band: the bioequivalence-style 0.80-1.25 on the ratio
#: (0.336-0.525), the band the project uses for exposure anchors, tighter than the 2-fold DDI acceptance above.
SJW_ORAL_AUC_RATIO = 0.42
SJW_BAND = (0.80 * SJW_ORAL_AUC_RATIO, 1.25 * SJW_ORAL_AUC_RATIO)
#: Mueller 2006 (Eur J Clin Pharmacol, doi:10.1007/s00228-005-0061-3; 14 days, 7.5 mg oral midazolam): oral midazolam
#: AUC0-12 ratio by product, keyed by hyperforin dose (mg/day): LI 160 extract 41 mg -79.4 %, powder 12 mg -47.9 %,
#: powder almost devoid of hyperforin 0.13 mg -21.1 %. Oral midazolam only: no IV arm.
MUELLER_ORAL_MIDAZOLAM = {41.0: 1 - 0.794, 12.0: 1 - 0.479, 0.13: 1 - 0.211}


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL/DATA: St John's wort's factors come from Wang 2001's midazolam probe (IV AUC 0.80, oral 0.48: CYP3A liver "
    "x1.30, gut wall x1.94) and Lei 2010's bupropion oral clearance (CYP2B6 x1.20), all after 14 days like "
    "Peltoniemi 2012 (the induction time course changes nothing here: 0.697 after 14 d, 0.694 at steady state), and "
    "predict oral S-ketamine AUC 0.70 vs 0.42. No sourced change within the structure closes it: the CYP3A share of N-demethylation over its "
    "whole range 0-1 gives 0.82-0.60 (rifampicin 0.45-0.076); the CYP2B6 factor would have to be x2.48, above "
    "rifampicin's x1.93; inducing the non-N-demethylation pathways by CYP3A (Desta 2012: ring hydroxylation partly "
    "CYP3A4/5) gives 0.56 and pushes rifampicin to 0.066 / IV 0.78. Induction depends on the product's hyperforin "
    "dose (Mueller 2006: oral midazolam AUC 0.21 / 0.52 / 0.79 at 41 / 12 / 0.13 mg/day): with the high-hyperforin "
    "LI 160 probe the same structure predicts 0.45-0.48 (test_st_johns_wort_prediction_follows_hyperforin_dose), but "
    "which product Peltoniemi 2012 gave was not retrieved, so the shipped factors stay on Wang 2001's probe "
    "(benchmarks/sjw_probe_sensitivity.py). Eleventh session: its abstract and Ashraf 2018's pooled description of the "
    "five Turku studies name no product; the same group's oxycodone study of the same years gave Jarsin (an LI 160 "
    "product) three times daily for 15 days (Nieminen 2010 Eur J Pain 14:854, doi:10.1016/j.ejpain.2009.12.007), "
    "which is circumstantial only, and a product name would not fix the dose: hyperforin varies 62-fold between "
    "commercial preparations (0.49-30.6 mg per dose, Goedtel-Armbrust 2007 doi:10.1007/s00210-007-0172-8)"))
def test_st_johns_wort_lowers_oral_s_ketamine_auc_to_0_42():
    lo, hi = SJW_BAND
    assert lo <= ratio(ORAL_ESK_RIF, SJW_PELTONIEMI) <= hi


def test_st_johns_wort_prediction_follows_hyperforin_dose():
    """Issue 7 (St John's wort gap): the model's St John's wort effect on oral S-ketamine is carried by the
    product's midazolam probe. Replacing Wang 2001's oral midazolam ratio by Mueller 2006's per-product ratios
    (independent of ketamine; IV ratio kept at Wang's 0.80, i.e. liver unchanged, or scaled with the gut in Wang's
    log-space split) must (1) lower oral S-ketamine exposure monotonically with hyperforin dose, (2) put the
    high-hyperforin product (LI 160, 41 mg/day) inside Peltoniemi 2012's band either way while Wang's own probe is
    not, and (3) keep rifampicin the stronger inducer on every factor (the issue's scale requirement). A
    conditional prediction, not the shipped parameter set: Peltoniemi's product was not retrieved."""
    p = params()
    split = math.log(p.get("ddi.st-johns-wort.midazolam_iv_auc_ratio")) / math.log(
        p.get("ddi.st-johns-wort.midazolam_oral_auc_ratio"))
    lo, hi = SJW_BAND
    for iv_rule in ("liver as Wang 2001", "Wang's log split"):
        predicted = {}
        for hyperforin, oral in MUELLER_ORAL_MIDAZOLAM.items():
            iv = p.get("ddi.st-johns-wort.midazolam_iv_auc_ratio") if iv_rule == "liver as Wang 2001" else oral ** split
            q = p.with_literature({"ddi.st-johns-wort.midazolam_oral_auc_ratio": oral,
                                   "ddi.st-johns-wort.midazolam_iv_auc_ratio": iv})
            tr = typical_traj(ORAL_ESK_RIF, TIMES, parameter_set=q)
            tr_sjw = typical_traj(ORAL_ESK_RIF, TIMES, parameter_set=q, comedications=[SJW_PELTONIEMI])
            c, c_sjw = tr["cp_s_ketamine_ng_ml"], tr_sjw["cp_s_ketamine_ng_ml"]
            predicted[hyperforin] = auc(tr_sjw.index, c_sjw) / auc(tr.index, c)
            if hyperforin == max(MUELLER_ORAL_MIDAZOLAM):
                rif, sjw = P.induction_factors(q, "rifampicin"), P.induction_factors(q, "st-johns-wort")
                for a, b in zip(rif, sjw):
                    assert a - 1.0 > b - 1.0 > 0.0, iv_rule
        doses = sorted(predicted)
        assert all(predicted[a] > predicted[b] for a, b in zip(doses, doses[1:])), (iv_rule, predicted)
        assert lo <= predicted[max(doses)] <= hi, (iv_rule, predicted)
    assert not lo <= ratio(ORAL_ESK_RIF, SJW_PELTONIEMI) <= hi      # Wang 2001's probe: outside (see the xfail)


def test_inducer_scale_places_rifampicin_well_above_st_johns_wort():
    """Midazolam probes: rifampicin IV AUC x1/2.23, oral -96 %; St John's wort IV -20 %, oral -52 % (Wang 2001).
    The derived CYP3A factors (liver and gut wall) and ketamine's factors must order them, with rifampicin at least
    twice as strong on every factor; St John's wort still lowers oral esketamine exposure."""
    p = params()
    rif, sjw = P.induction_factors(p, "rifampicin"), P.induction_factors(p, "st-johns-wort")
    for a, b in zip(rif, sjw):
        assert a - 1.0 > 2.0 * (b - 1.0) > 0.0
    h, g = P.cyp3a_factors_from_midazolam(p, "rifampicin")
    assert g > h > 1.0          # rifampicin induces intestinal CYP3A more than hepatic (Backman 1996 vs Gorski 2003)
    assert ratio(ORAL_ESK_RIF, "rifampicin") < ratio(ORAL_ESK_RIF, "st-johns-wort") < 0.9


def test_cyp3a_factors_reproduce_the_midazolam_probe_data():
    """Round trip: the derived factors put back into the well-stirred liver and gut wall give the probe AUC ratios
    they came from, each after its own study's pretreatment (``ddi.*.midazolam_iv_days`` / ``_oral_days``; the
    oral probe's liver is the liver after the oral study's days). IV: CL/CL'; oral: (Fg' Fh' / Fg Fh) CL/CL'.
    Pure arithmetic: 1e-9."""
    p = params()
    qh, cl, f = p.get("pk.hepatic_blood_flow", "L/h"), p.get("pk.midazolam.cl", "L/h"), p.get("pk.midazolam.f_oral")
    x = P._hepatic(cl, qh)
    fh = qh / (qh + x)
    fg = f / fh
    for c in ("rifampicin", "st-johns-wort"):
        t_iv, t_po = p.get(f"ddi.{c}.midazolam_iv_days", "h"), p.get(f"ddi.{c}.midazolam_oral_days", "h")
        h, _ = P.cyp3a_factors_from_midazolam(p, c, t_iv)
        assert cl / (qh * x * h / (qh + x * h)) == pytest.approx(p.get(f"ddi.{c}.midazolam_iv_auc_ratio"), rel=1e-9)
        h, g = P.cyp3a_factors_from_midazolam(p, c, t_po)
        cl1, fh1 = qh * x * h / (qh + x * h), qh / (qh + x * h)
        fg1 = 1 / (1 + g * (1 / fg - 1))
        assert (fg1 * fh1 / (fg * fh)) * cl / cl1 == pytest.approx(p.get(f"ddi.{c}.midazolam_oral_auc_ratio"), rel=1e-9)
        # the midazolam clearance factor after the IV probe's days is 1 / its AUC ratio
        assert P.induction_factors(p, c, t_iv)[2] == pytest.approx(1 / p.get(f"ddi.{c}.midazolam_iv_auc_ratio"), rel=1e-9)


def test_induction_builds_up_with_the_enzymes_turnover():
    """Issue 7 (induction time course): an inducer's excess factor (factor - 1) on every enzyme grows as 1 -
    2^(-t / t_half) with the days of pretreatment (hepatic t_half 72 h, Galetin 2006; gut wall 23 h, Greenblatt
    2003), so it is each probe's value after that probe's own pretreatment, larger at steady state (no duration
    given), and vanishes for a pretreatment of minutes. Rifampicin's norketamine clearance factor is Noppers 2011's
    measured x3.0 after its 5 days. Closed form: 1e-9."""
    p = params()
    t_l, t_g = p.get("pk.induction_t_half_liver", "h"), p.get("pk.induction_t_half_gut", "h")
    assert P.induction_reached(p, "liver", None) == 1.0
    assert P.induction_reached(p, "liver", 5 * 24.0) == pytest.approx(1 - 2 ** (-120 / t_l), rel=1e-12)
    assert P.induction_reached(p, "gut", 5 * 24.0) == pytest.approx(1 - 2 ** (-120 / t_g), rel=1e-12)
    assert P.induction_reached(p, "gut", 5 * 24.0) > 0.9 > P.induction_reached(p, "liver", 5 * 24.0)
    _, _, _, nk_f, _ = P.comedication_factors(p, (RIF_NOPPERS,))
    assert nk_f == pytest.approx(p.get("ddi.rifampicin.nk_cl_factor"), rel=1e-9)
    f2b6 = P.induction_factors(p, "rifampicin", p.get("ddi.rifampicin.cyp2b6_days", "h"))
    h3a = P.cyp3a_factors_from_midazolam(p, "rifampicin", p.get("ddi.rifampicin.cyp2b6_days", "h"))[0]
    s3a, s2b6 = p.get("pk.demethylation_cyp3a_share"), p.get("pk.demethylation_cyp2b6_share")
    assert (f2b6[0] - 1 - s3a * (h3a - 1)) / s2b6 + 1 == pytest.approx(p.get("ddi.rifampicin.cyp2b6_factor"), rel=1e-9)
    for c in ("rifampicin", "st-johns-wort"):
        previous = [1.0] * 5
        for days in (0.01, 1, 2, 5, 6, 10, 30):
            now = P.comedication_factors(p, (f"{c} for {days} d",))
            now = [now[0], now[1], now[3], now[4], P.induction_factors(p, c, days * 24.0)[0]]
            assert all(b > a for a, b in zip(previous, now)), (c, days)
            previous = now
        steady = P.comedication_factors(p, (c,))
        assert all(s > n for s, n in zip((steady[0], steady[1], steady[3], steady[4]), previous))
        tiny = P.comedication_factors(p, (f"{c} for 1 min",))
        assert all(v == pytest.approx(1.0, abs=1e-2) for v in tiny)


def _record_with_comed(comed: str):
    """examples/patient/patient_101.csv with ``comed`` appended to its first data row's COMED cell."""
    from pathlib import Path

    from ketasim.record import record_from_csv_text

    rows = (Path(__file__).resolve().parents[1] / "examples" / "patient" / "patient_101.csv").read_text().splitlines()
    return record_from_csv_text("\n".join([rows[0], rows[1] + comed, *rows[2:]]))


def test_induction_pretreatment_in_a_scenario():
    """The pretreatment is part of the comedication entry wherever comedications are given; one-line errors name
    the field (only inducers take one; a name once)."""
    from ketasim.errors import InputError
    from ketasim.population import PopulationSpec, parse_comedication

    assert parse_comedication("rifampicin for 5 d", "f") == ("rifampicin", 120.0, None)
    assert parse_comedication("st-johns-wort for 2 weeks", "f") == ("st-johns-wort", 336.0, None)
    assert parse_comedication("clarithromycin", "f") == ("clarithromycin", None, None)
    assert parse_comedication("clarithromycin for 4 d", "f") == ("clarithromycin", 96.0, None)
    for bad, says in (("clarithromycin for 0 d", "pretreatment of clarithromycin must be more than 0"),
                      ("rifampicin for 0 d", "more than 0"),
                      ("rifampicin for 2 years", "at most 1 year"), ("rifampicine for 5 d", "did you mean rifampicin"),
                      ("rifampicin for 5 parsecs", "f:"), (5, "expected a comedication name")):
        with pytest.raises(InputError, match=says) as e:
            parse_comedication(bad, "f")
        assert "\n" not in str(e.value) and str(e.value).startswith("f")
    with pytest.raises(InputError, match=r"population.comedications: rifampicin is given more than once"):
        PopulationSpec(comedications=("rifampicin", "rifampicin for 5 d"))
    # a patient record's COMED column takes the same entries (row and column named in the error)
    assert _record_with_comed("rifampicin for 5 d").comedications == ("rifampicin for 5 d",)
    assert _record_with_comed("clarithromycin for 4 d").comedications == ("clarithromycin for 4 d",)
    with pytest.raises(InputError, match=r"^record row 1, column COMED: the pretreatment of clarithromycin must be"):
        _record_with_comed("clarithromycin for 0 d")
    # through the engine: a 5-day pretreatment lowers oral exposure less than steady state, more than none
    base = exposure(ORAL_ESK_RIF, "cp_s_ketamine_ng_ml")[2]
    five = exposure(ORAL_ESK_RIF, "cp_s_ketamine_ng_ml", comedications=[RIF_NOPPERS])[2]
    steady = exposure(ORAL_ESK_RIF, "cp_s_ketamine_ng_ml", comedications=["rifampicin"])[2]
    assert steady < five < base


@pytest.mark.parametrize("drug", ["racemic-ketamine", "esketamine"])
def test_oral_exposure_in_women_is_one_over_1_2_of_mens(drug):
    """Sigtermans 2009: +20 % systemic clearance in women, applied without changing first-pass extraction, so an
    oral dose gives women AUC x 1/1.2 (0.83) of men's; before issue 7 the factor went through liver intrinsic
    clearance and gave about a third. Tolerance 2 %: only the systemic clearance differs, so the ratio is exact up
    to the 5-day AUC window and the trapezoid rule."""
    lines = [line(drug, "oral", "0.3 mg/kg")]
    woman, man = exposure(lines, female=True)[2], exposure(lines)[2]
    assert woman / man == pytest.approx(1 / 1.2, rel=0.02)


def test_s_ketamine_disposition_does_not_depend_on_the_product():
    """Geisslinger 1993 / Henthorn 2018: the same S-ketamine dose gives the same S-ketamine curve (venous and
    arterial) whether it comes as esketamine or within racemic ketamine (exact: same model, same arithmetic)."""
    esk = typical_traj([line("esketamine", "iv-infusion", "0.25 mg/kg", duration="40 min")], TIMES)
    rac = typical_traj([line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")], TIMES)
    for col in ("cp_s_ketamine_ng_ml", "ca_s_ketamine_ng_ml"):
        np.testing.assert_allclose(rac[col], esk[col], rtol=1e-9, atol=1e-9)


def test_arterial_exceeds_venous_during_an_infusion_and_not_after():
    """Henthorn 2018: arterial concentrations exceed venous ones during an infusion and fall below them after it
    (drug returning from tissue). The ca_* columns are arterial, cp_* venous (the DESIGN contract)."""
    tr = typical_traj([line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")], TIMES)
    during = (tr.index > 5 / 60) & (tr.index <= 40 / 60)
    after = (tr.index >= 60 / 60) & (tr.index <= 3.0)
    assert (tr.loc[during, "ca_ketamine_ng_ml"] > tr.loc[during, "cp_ketamine_ng_ml"]).all()
    assert (tr.loc[after, "ca_ketamine_ng_ml"] < tr.loc[after, "cp_ketamine_ng_ml"]).all()


def test_im_venous_tmax_5_to_15_minutes():
    """'Tmax IM': 5-15 min (route.im.ka was fitted to 10 min by benchmarks/fit_pk_absorption.py). Tolerance: the
    1-min output resolution."""
    _, tmax, _ = exposure([line("racemic-ketamine", "im", "0.5 mg/kg")], "cp_ketamine_ng_ml")
    assert 5 / 60 - 1 / 60 <= tmax <= 15 / 60 + 1 / 60


def test_norketamine_brain_partition_is_exposed():
    """'Noresketamine vs esketamine brain:plasma': 4-6x lower -> a factor between 1/6 and 1/4 on the PK model."""
    model = typical_pk([line("esketamine", "intranasal", "56 mg")])
    assert 1 / 6 <= model.nk_brain_partition <= 1 / 4


def test_racemic_mean_clearance_within_the_meta_analysis_interval():
    """'CL (meta-analysis weighted mean)': 79 L/h at 70 kg, 95 % CI 69-90 (Kamp 2020, 18 studies, racemic). The
    one-molecule model's racemic clearance is the mean of S (Fanta 2015, 95.2 L/h) and R (0.873 x S, Wang 2019);
    tolerance: the meta-analysis 95 % CI."""
    model = typical_pk([line("racemic-ketamine", "iv-bolus", "0.5 mg/kg")])
    assert 69.0 <= 0.5 * (model.cl[0, P.S_KET] + model.cl[0, P.R_KET]) <= 90.0


def test_an_inducer_in_the_population_and_in_an_arm_is_one_error():
    """'rifampicin' for everyone and 'rifampicin for 5 d' in one arm would induce twice: a one-line error naming the
    arm's field, at load time (scenario) and at run time (programmatic arms)."""
    import ketasim
    from ketasim.errors import InputError

    data = {"name": "x", "population": {"size": 1, "comedications": ["rifampicin"]},
            "arms": {"a": {"doses": [{"drug": "esketamine", "route": "oral", "dose": "20 mg"}],
                           "comedications": ["rifampicin for 5 d"]}}}
    with pytest.raises(InputError, match=r"^arms\.a\.comedications \(with population\.comedications\): rifampicin "
                                         r"is given more than once"):
        ketasim.scenario_from_dict(data)
    data["arms"]["a"]["comedications"] = ["rifampicin"]          # the same entry twice is one comedication
    ketasim.scenario_from_dict(data)


# ---------------------------------------------------------------------------------------------------------------
# De-induction: a stopped inducer wears off with the same enzyme turnover (pk.induction_reached).
#: Backman 1998 Eur J Clin Pharmacol 54:53 doi:10.1007/s002280050420 (n = 9; rifampicin 600 mg daily for 5 days,
#: oral midazolam 15 mg 1 day and 4 days after the last dose): midazolam AUC0-inf 277 ng.h/mL before, 4.4 one day
#: after and 27.1 four days after (means; 2.3 % and 13 % of before as mean individual ratios). The 1-day point is
#: the usual DDI design ('rifampicin for 5 d', as Backman 1996); the 4-day point is three more days off it.
BACKMAN1998_AUC = {"before": 277.0, "1 d after": 4.4, "4 d after": 27.1}


def test_a_stopped_inducer_wears_off_with_the_enzymes_turnover():
    """Closed form: the excess of every factor at stop x 2^(-t_off / t_half), per organ; a long-term course stopped
    (no 'for') starts from steady state; nearly nothing is left after 4 weeks; the stop enters every factor
    (liver, gut wall, norketamine clearance, midazolam) and through the engine lies between on-drug and none."""
    p = params()
    t_l, t_g = p.get("pk.induction_t_half_liver", "h"), p.get("pk.induction_t_half_gut", "h")
    assert P.induction_reached(p, "liver", 336.0, 72.0) == pytest.approx((1 - 2 ** (-336 / t_l)) * 2 ** (-72 / t_l),
                                                                          rel=1e-12)
    assert P.induction_reached(p, "gut", None, 72.0) == pytest.approx(2 ** (-72 / t_g), rel=1e-12)
    on = P.cyp3a_factors_from_midazolam(p, "rifampicin", 336.0)
    off = P.cyp3a_factors_from_midazolam(p, "rifampicin", 336.0, 72.0)
    for organ, t, f_on, f_off in (("liver", t_l, on[0], off[0]), ("gut", t_g, on[1], off[1])):
        assert f_off - 1 == pytest.approx((f_on - 1) * 2 ** (-72 / t), rel=1e-9), organ
    assert all(a > b > 1 for a, b in zip(on, off))
    on_all = P.comedication_factors(p, ["rifampicin for 14 d"])
    off_all = P.comedication_factors(p, ["rifampicin for 14 d stopped 3 d ago"])
    gone = P.comedication_factors(p, ["rifampicin stopped 4 weeks ago"])
    for i in (0, 1, 3, 4):        # liver CLint, gut CLint, norketamine CL, midazolam CL
        assert on_all[i] > off_all[i] > gone[i] > 1.0
        assert gone[i] == pytest.approx(1.0, abs=0.01)
    # through the engine: oral esketamine exposure after a stop lies between on-drug and none
    base = exposure(ORAL_ESK_RIF)[2]
    during = exposure(ORAL_ESK_RIF, comedications=["rifampicin for 14 d"])[2]
    after = exposure(ORAL_ESK_RIF, comedications=["rifampicin for 14 d stopped 3 d ago"])[2]
    assert during < after < base


def test_de_induction_against_backman_1998_oral_midazolam():
    """Independent check, not a fit (no parameter was set from it): oral midazolam AUC recovers x6.2 (27.1 / 4.4)
    from 1 to 4 days after 5 days of rifampicin (Backman 1998); the model's recovery over the same 3 days, with
    the half-lives from Galetin 2006 (liver 72 h) and Greenblatt 2003 (gut wall 23 h), must be within a factor
    1.5 of it. Tolerance: the rifampicin-phase AUCs have CVs of ~70 % with n = 9 (DMD review Table 3), so the log
    ratio of two such means has an SE of ~0.3; 1.5 is ~1.4 SE. Both points are within-study, so the difference
    between Backman 1998's on-drug level (4.4 / 277 = 0.016) and Backman 1996's (0.041, the model's anchor) cancels.
    Without de-induction the recovery would be 1; a gut half-life of 12 h or 48 h gives 12.6 or 3.4 (both fail).
    Secondary, hepatic: the IV erythromycin breath test (hepatic CYP3A) was back to its pre-rifampicin value 17
    days after stopping 8 days of rifampicin (PMID 9650537); the model's hepatic excess left then must be below
    10 % of the on-drug excess (a liver half-life of 144 h would leave 14 %)."""
    p = params()
    on = P.midazolam_auc_ratios(p, *P.cyp3a_factors_from_midazolam(p, "rifampicin", 5 * 24.0))[1]
    off = P.midazolam_auc_ratios(p, *P.cyp3a_factors_from_midazolam(p, "rifampicin", 5 * 24.0, 3 * 24.0))[1]
    assert on == pytest.approx(p.get("ddi.rifampicin.midazolam_oral_auc_ratio"), rel=1e-9)   # Backman 1996 round trip
    observed = BACKMAN1998_AUC["4 d after"] / BACKMAN1998_AUC["1 d after"]
    assert 1 / 1.5 < (off / on) / observed < 1.5, (off / on, observed)
    liver_on = P.cyp3a_factors_from_midazolam(p, "rifampicin", 8 * 24.0)[0]
    liver_off = P.cyp3a_factors_from_midazolam(p, "rifampicin", 8 * 24.0, 17 * 24.0)[0]
    assert (liver_off - 1) < 0.10 * (liver_on - 1)


def test_a_stopped_inducer_in_every_place_comedications_go():
    """'NAME for DURATION stopped DURATION ago' (and 'NAME stopped DURATION ago' after long-term use) parses in a
    population, an arm and a record's COMED column, for inducers and inhibitors; one-line errors name the field: the
    stop before the pretreatment, a time since stopping that is 0, negative or beyond a year, and the same inducer
    stopped and taken."""
    from ketasim.errors import InputError
    from ketasim.population import PopulationSpec, parse_comedication

    assert parse_comedication("rifampicin for 14 d stopped 3 d ago", "f") == ("rifampicin", 336.0, 72.0)
    assert parse_comedication("St-Johns-Wort stopped 36 h ago", "f") == ("st-johns-wort", None, 36.0)
    assert parse_comedication("clarithromycin stopped 2 d ago", "f") == ("clarithromycin", None, 48.0)
    assert parse_comedication("clarithromycin for 4 d stopped 2 d ago", "f") == ("clarithromycin", 96.0, 48.0)
    for bad, says in (("clarithromycin stopped 2 d ago for 4 d", "write the stop after the pretreatment"),
                      ("clarithromycin stopped 2 d", "as 'clarithromycin stopped 2 d ago'"),
                      ("clarithromycin stopped 0 h ago", "time since stopping of clarithromycin must be more than 0"),
                      ("rifampicin stopped 3 d ago for 14 d", "write the stop after the pretreatment"),
                      ("rifampicin for 14 d stopped 3 d", "write the stop after the pretreatment"),
                      ("rifampicin for 14 d stopped 0 d ago", "time since stopping of rifampicin must be more than 0"),
                      ("rifampicin for 14 d stopped -3 d ago", "more than 0 and at most 1 year"),
                      ("rifampicin stopped 2 years ago", "at most 1 year"),
                      ("rifampicin for 0 d stopped 3 d ago", "pretreatment of rifampicin must be more than 0"),
                      ("rifampicin for 14 d stopped 3 parsecs ago", "f:")):
        with pytest.raises(InputError, match=says) as e:
            parse_comedication(bad, "f")
        assert "\n" not in str(e.value) and str(e.value).startswith("f")
    assert PopulationSpec(comedications=("rifampicin for 14 d stopped 3 d ago",)).comedications == (
        "rifampicin for 14 d stopped 3 d ago",)
    with pytest.raises(InputError, match=r"population.comedications: rifampicin is given more than once"):
        PopulationSpec(comedications=("rifampicin stopped 3 d ago", "rifampicin for 5 d"))
    assert _record_with_comed("rifampicin for 14 d stopped 3 d ago").comedications == ("rifampicin for 14 d stopped 3 d ago",)
    assert _record_with_comed("clarithromycin stopped 2 d ago").comedications == ("clarithromycin stopped 2 d ago",)
    with pytest.raises(InputError, match=r"^record row 1, column COMED: write the stop after the pretreatment"):
        _record_with_comed("clarithromycin stopped 2 d ago for 4 d")


def test_a_stopped_inducer_in_the_quick_form_and_an_arm(tmp_path, capsys):
    """The quick form's --comedication and an arm's comedications take a stop; a bad one is a one-line error that
    names the field."""
    import yaml

    from ketasim.cli import main
    from ketasim.errors import InputError
    from ketasim.scenario import load_scenario, quick_scenario

    sc = quick_scenario("esketamine", "oral", "0.3 mg/kg", comedications=("rifampicin for 14 d stopped 3 d ago",))
    assert sc.population.comedications == ("rifampicin for 14 d stopped 3 d ago",)
    assert quick_scenario("esketamine", "oral", "0.3 mg/kg", comedications=("clarithromycin for 3 d",)
                          ).population.comedications == ("clarithromycin for 3 d",)
    with pytest.raises(InputError, match="pretreatment of clarithromycin must be more than 0"):
        quick_scenario("esketamine", "oral", "0.3 mg/kg", comedications=("clarithromycin for 0 d",))
    out = tmp_path / "q.csv"
    assert main(["simulate", "--drug", "esketamine", "--route", "oral", "--dose", "20mg", "--typical", "--csv",
                 str(out), "--comedication", "rifampicin for 14 d stopped 3 d ago"]) == 0
    assert main(["simulate", "--drug", "esketamine", "--route", "oral", "--dose", "20mg", "--typical", "--csv",
                 str(out), "--comedication", "rifampicin for 14 d stopped 0 d ago"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert any("time since stopping of rifampicin must be more than 0" in e for e in err)
    doc = {"name": "stop", "population": {"size": 2},
           "arms": {"a": {"doses": [{"drug": "esketamine", "route": "oral", "dose": "20 mg"}],
                          "comedications": ["st-johns-wort stopped 5 d ago"]}}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert load_scenario(path).arms[0].comedications == ("st-johns-wort stopped 5 d ago",)
    doc["arms"]["a"]["comedications"] = ["itraconazole for 0 d"]
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError, match=r"arms.a.comedications: the pretreatment of itraconazole must be more than 0"):
        load_scenario(path)


# ---------------------------------------------------------------------------------------------------------------
# Inhibitors: clarithromycin's liver/gut split from its midazolam probe; recovery after an inhibitor is stopped.
#: Gorski 1998 Clin Pharmacol Ther 64:133 (doi:10.1016/S0009-9236(98)90146-1; 16 volunteers, clarithromycin 500 mg
#: twice daily for 7 days): midazolam systemic clearance 28 -> 10 L/h, oral availability 0.31 -> 0.75.
GORSKI1998 = {"cl": (28.0, 10.0), "f_oral": (0.31, 0.75)}


def test_clarithromycin_liver_gut_split_comes_from_its_midazolam_probe():
    """The split of clarithromycin's inhibition between liver and gut wall is that of its midazolam probe (Gorski
    1998, after 7 days), its size ketamine's own oral AUC x2.6 (Hagelberg 2010, after 4 days); both are carried to
    steady state by the onset (pk.inactivation_steady). Round trip of the probe at its 7 days (IV x2.8 and oral
    x6.77, 1e-9), the closed form gives x2.6 at 4 days (1e-9) and the simulated oral AUC0-5 d x2.6 (1 %); the gut
    wall is inhibited more than the liver, as for midazolam, so the IV ratio falls below the equal-split value (1.32,
    the assumption this replaces) while the oral ratio stays; at steady state both are a little stronger."""
    p = params()
    liver_ss, gut_ss, h_ss, s = P.inhibitor_split_from_midazolam(p, "clarithromycin")
    # CYP3A activity left (liver h, gut wall g) at steady state and after the probe's 7 days
    (h_ss2, g_ss), week = P._probe_activity_steady(p, "clarithromycin"), 7 * 24.0
    assert h_ss2 == h_ss
    h7, g7 = (1 - (1 - x) * P.inactivation_built(p, "clarithromycin", organ, week, x)
              for organ, x in (("liver", h_ss), ("gut", g_ss)))
    r_iv, r_po = P.midazolam_auc_ratios(p, h7, g7)
    assert r_iv == pytest.approx(GORSKI1998["cl"][0] / GORSKI1998["cl"][1], rel=1e-9)
    assert r_po == pytest.approx(r_iv * GORSKI1998["f_oral"][1] / GORSKI1998["f_oral"][0], rel=2e-3)  # 6.77 rounded
    assert r_po == pytest.approx(p.get("ddi.clarithromycin.midazolam_oral_auc_ratio"), rel=1e-9)
    assert h_ss < h7 and gut_ss < liver_ss < 1.0 and 0.0 < s <= 1.0
    liver, gut, _ = P.inhibitor_factors(p, "clarithromycin", None, 4 * 24.0)
    assert gut < liver < 1.0 and liver > liver_ss and gut == pytest.approx(gut_ss, rel=1e-6)
    fgut = P.oral_fractions(p)[2][0]
    g0 = 1 / fgut - 1
    assert (1 + g0) / (1 + g0 * gut) / liver == pytest.approx(p.get("ddi.clarithromycin.oral_auc_ratio"), rel=1e-9)
    assert ratio(ORAL_ESK, CLA_HAGELBERG) == pytest.approx(p.get("ddi.clarithromycin.oral_auc_ratio"), rel=0.01)
    assert ratio(ORAL_ESK, "clarithromycin") > ratio(ORAL_ESK, CLA_HAGELBERG)
    iv = ratio(IV_ESK, CLA_HAGELBERG)
    assert 1.0 < iv < 1.31


def test_a_stopped_inhibitor_recovers_with_the_enzymes_turnover():
    """A mechanism-based inhibitor (clarithromycin, ticlopidine, grapefruit juice: ddi.*.mechanism_based) destroys
    the enzyme, so after it is stopped the lost activity (1 - factor) returns as 2^(-t_off / t_half) per organ with
    the turnover half-lives of induction (liver 72 h, gut wall 23 h; closed form 1e-9), more slowly while a slowly
    eliminated inhibitor (ticlopidine, ddi.ticlopidine.elimination_t_half) keeps inactivating; midazolam's clearance follows
    its own recovered hepatic factor; itraconazole (no effect) stays at 1. Through the engine: oral esketamine AUC
    on clarithromycin > stopped 2 days ago > none; nearly nothing left after 4 weeks."""
    p = params()
    t_l, t_g = p.get("pk.induction_t_half_liver", "h"), p.get("pk.induction_t_half_gut", "h")
    t_e = p.get("ddi.ticlopidine.elimination_t_half", "h")
    t_2b6 = p.get("pk.cyp2b6_t_half_liver", "h")      # ticlopidine destroys hepatic CYP2B6, not CYP3A4

    def left(t_half, off_h, t_el=None):       # deficit left: turnover alone, or slowed by the inhibitor's elimination
        if t_el is None:
            return 2 ** (-off_h / t_half)
        k, e = math.log(2) / t_half, math.log(2) / t_el
        return (k * math.exp(-e * off_h) - e * math.exp(-k * off_h)) / (k - e)

    for c, t_el, t_liver in (("clarithromycin", None, t_l), ("ticlopidine", t_e, t_2b6), ("grapefruit-juice", None, t_l)):
        assert p.get(f"ddi.{c}.mechanism_based") == 1
        on = P.inhibitor_factors(p, c)
        for off_h in (12.0, 48.0, 168.0):
            off = P.inhibitor_factors(p, c, off_h)
            assert 1 - off[0] == pytest.approx((1 - on[0]) * left(t_liver, off_h, t_el), rel=1e-9, abs=1e-12), (c,
                                                                                                              off_h)
            assert 1 - off[1] == pytest.approx((1 - on[1]) * left(t_g, off_h, t_el), rel=1e-9, abs=1e-12), (c, off_h)
        entry = P.comedication_factors(p, [f"{c} stopped 2 d ago"])
        assert entry[:2] == pytest.approx(P.inhibitor_factors(p, c, 48.0)[:2], rel=1e-12)
        gone = P.comedication_factors(p, [f"{c} stopped 4 weeks ago"])
        assert all(v == pytest.approx(1.0, abs=0.01) for v in gone)
    # ticlopidine (terminal t1/2 20-50 h, Desager 1994) recovers more slowly than turnover alone; a fast-eliminated
    # inhibitor recovers with turnover; equal rates give (1 + k t) e^(-k t), continuous with the general form
    assert P.inactivation_left(p, "ticlopidine", "liver", 72.0) > 2 ** (-72.0 / t_2b6)
    fast = p.with_literature({"ddi.ticlopidine.elimination_t_half": 1e-3})
    assert P.inactivation_left(fast, "ticlopidine", "liver", 72.0) == pytest.approx(2 ** (-72.0 / t_2b6),
                                                                                    rel=1e-4)   # 1 + k/e
    equal = P.inactivation_left(p.with_literature({"ddi.ticlopidine.elimination_t_half": t_2b6}), "ticlopidine",
                                "liver", 72.0)
    near = P.inactivation_left(p.with_literature({"ddi.ticlopidine.elimination_t_half": t_2b6 * (1 + 1e-6)}),
                               "ticlopidine", "liver", 72.0)
    kt = math.log(2) * 72.0 / t_2b6
    assert equal == pytest.approx((1 + kt) * math.exp(-kt), rel=1e-12) and near == pytest.approx(equal, rel=1e-5)
    # midazolam: its own hepatic factor h recovers, its clearance through the well-stirred liver
    _, _, h, _ = P.inhibitor_split_from_midazolam(p, "clarithromycin")
    h_off = 1 - (1 - h) * 2 ** (-48.0 / t_l)
    qh, cl = p.get("pk.hepatic_blood_flow", "L/h"), p.get("pk.midazolam.cl", "L/h")
    assert P.inhibitor_factors(p, "clarithromycin", 48.0)[2] == pytest.approx(
        P._well_stirred(P._hepatic(cl, qh) * h_off, qh) / cl, rel=1e-9)
    assert P.comedication_factors(p, ["itraconazole stopped 1 d ago"]) == (1.0, 1.0, 1.0, 1.0, 1.0)
    # a reversible inhibitor with an effect recovers with its own elimination: 1/f - 1 (its concentration) x 2^(-t/t_el)
    rev = p.with_literature({"ddi.ticlopidine.mechanism_based": 0})
    f = p.get("ddi.ticlopidine.clint_factor")
    expected = 1 / (1 + (1 / f - 1) * 2 ** (-48.0 / t_e))
    assert P.inhibitor_factors(rev, "ticlopidine", 48.0) == pytest.approx((expected, expected, expected), rel=1e-12)
    base = exposure(ORAL_ESK)[2]
    taken = exposure(ORAL_ESK, comedications=["clarithromycin"])[2]
    stopped = exposure(ORAL_ESK, comedications=["clarithromycin stopped 2 d ago"])[2]
    assert taken > stopped > base


def test_a_stopped_inhibitor_through_the_cli(tmp_path, capsys):
    """A user's path: `ketasim simulate ... --comedication "clarithromycin stopped 2 d ago" --pk` runs and reports a
    lower Cmax than with clarithromycin still taken; a bad stop is a one-line error naming the field."""
    import json

    from ketasim.cli import main

    out = {}
    for comed in ("clarithromycin", "clarithromycin stopped 2 d ago"):
        path = tmp_path / f"{len(out)}.json"
        assert main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "84 mg", "--typical",
                     "--comedication", comed, "--pk", "--pk-json", str(path)]) == 0
        out[comed] = json.loads(path.read_text())
    capsys.readouterr()
    cmax = {k: _pk_value(v, "cmax") for k, v in out.items()}
    assert cmax["clarithromycin"] > cmax["clarithromycin stopped 2 d ago"] > 0
    assert main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "84 mg", "--typical",
                 "--comedication", "clarithromycin for 3 d stopped 0 d ago"]) != 0
    err = [e for e in capsys.readouterr().err.strip().splitlines() if e]
    assert any("time since stopping of clarithromycin must be more than 0" in e for e in err) and len(err) == 1, err


def _pk_value(doc, measure, analyte="s-ketamine"):
    """The value of ``measure`` for ``analyte`` in a `simulate --pk-json` summary."""
    (row,) = [r for r in doc["summary"] if r["measure"] == measure and r["analyte"] == analyte]
    return row["value"]


# ---------------------------------------------------------------------------------------------------------------
# Inhibitor onset: a mechanism-based inhibitor builds up as it destroys the enzyme (pk.inactivation_built).
#: Oral midazolam AUC ratio after clarithromycin 500 mg twice daily, midazolam 72 h after the first dose ('for 3 d'):
#: ratio (low, high) as tabulated in the Open Systems Pharmacology observed-data DDI table
#: (https://github.com/Open-Systems-Pharmacology/Database-for-observed-data, DDI.csv rows 354 and 1099):
#: Markert 2013 (PMID 23748747; from the metabolic clearance ratio) and Prueksaritanont 2017 (PMID 27943276;
#: microdose cocktail, geometric mean ratio with 90 % CI).
MIDAZOLAM_3D = {"Markert 2013": (5.56, 4.76, 6.67), "Prueksaritanont 2017": (4.84, 3.21, 7.29)}


def test_inhibitor_onset_follows_mechanism_based_inactivation():
    """Closed form (1e-12): with clarithromycin at its steady state from the first dose, the active enzyme obeys
    dE/dt = k (1 - E) - lambda E with lambda = k (1 / E_ss - 1) (Mayhew 2000; Galetin 2006), so its loss builds as
    1 - exp(-k t / E_ss) per organ (k: turnover, liver 72 h, gut wall 23 h; E_ss: the probe's CYP3A activity at
    steady state); ketamine's factors and midazolam's hepatic one follow; a stop multiplies by the recovery
    (onset x recovery); the gut wall (E_ss 0.15, faster turnover) is inhibited within hours, the liver over days;
    more days never less inhibition; a year is steady state (1e-9), a minute almost nothing. The study factors are
    reproduced at their own pretreatment: ticlopidine's oral x2.4 after Peltoniemi's 6 days (closed form 1e-9)."""
    p = params()
    c = "clarithromycin"
    t_l, t_g = p.get("pk.induction_t_half_liver", "h"), p.get("pk.induction_t_half_gut", "h")
    e_ss = dict(zip(("liver", "gut"), P._probe_activity_steady(p, c)))
    steady = P.inhibitor_factors(p, c)
    for hours in (3.0, 12.0, 24.0, 72.0, 168.0):
        built = {o: 1 - math.exp(-math.log(2) / t * hours / e_ss[o]) for o, t in (("liver", t_l), ("gut", t_g))}
        for o in ("liver", "gut"):
            assert P.inactivation_built(p, c, o, hours, e_ss[o]) == pytest.approx(built[o], rel=1e-12)
        on = P.inhibitor_factors(p, c, None, hours)
        assert 1 - on[0] == pytest.approx((1 - steady[0]) * built["liver"], rel=1e-12)
        assert 1 - on[1] == pytest.approx((1 - steady[1]) * built["gut"], rel=1e-12)
        assert on[1] < on[0] < 1.0 and built["gut"] > built["liver"]
        h_t = 1 - (1 - e_ss["liver"]) * built["liver"]
        qh, cl = p.get("pk.hepatic_blood_flow", "L/h"), p.get("pk.midazolam.cl", "L/h")
        assert on[2] == pytest.approx(P._well_stirred(P._hepatic(cl, qh) * h_t, qh) / cl, rel=1e-12)
        off = P.inhibitor_factors(p, c, 48.0, hours)
        assert 1 - off[0] == pytest.approx((1 - on[0]) * 2 ** (-48.0 / t_l), rel=1e-12)
        assert 1 - off[1] == pytest.approx((1 - on[1]) * 2 ** (-48.0 / t_g), rel=1e-12)
        assert P.comedication_factors(p, [f"{c} for {hours} h"])[:2] == pytest.approx(on[:2], rel=1e-12)
        assert P.comedication_factors(p, [f"{c} for {hours} h stopped 2 d ago"])[:2] == pytest.approx(off[:2],
                                                                                                   rel=1e-12)
    for name in ("clarithromycin", "ticlopidine", "grapefruit-juice", "itraconazole"):
        previous = (1.0, 1.0, 1.0)
        for days in (1 / 1440, 0.5, 1, 2, 3, 6, 9, 14):
            now = P.inhibitor_factors(p, name, None, days * 24.0)
            assert all(b <= a for a, b in zip(previous, now)), (name, days)
            previous = now
        assert P.inhibitor_factors(p, name, None, 365 * 24.0) == pytest.approx(P.inhibitor_factors(p, name), rel=1e-9)
        minute = P.inhibitor_factors(p, name, None, 1 / 60)
        assert all(v == pytest.approx(1.0, abs=2e-3) for v in (minute[0], minute[2])), name   # liver: none yet
    # ticlopidine's factor is Peltoniemi's after its 6 days (round trip), stronger at steady state
    six = P.inhibitor_factors(p, "ticlopidine", None, p.get("ddi.ticlopidine.clint_days", "h"))
    assert six[0] == pytest.approx(p.get("ddi.ticlopidine.clint_factor"), rel=1e-9)
    assert six[1] == pytest.approx(p.get("ddi.ticlopidine.clint_factor"), rel=1e-9)
    assert P.inhibitor_factors(p, "ticlopidine")[0] < six[0]


def test_a_slowly_eliminated_inhibitor_builds_up_as_it_accumulates():
    """Ticlopidine accumulates with its elimination half-life (35 h, Desager 1994) and its inactivation rate with it
    (linear in the inhibitor): the onset of the CYP2B6 loss (k: pk.cyp2b6_t_half_liver; E_ss: the CYP2B6 activity
    left on its share of ketamine's CLint) solves dE/dt = k (1 - E) - lambda_ss (1 - exp(-e t)) E; checked against an
    independent ODE solver (1e-7), slower than with the inhibitor at steady state at once, and tending to it when
    the elimination is fast (1e-6)."""
    from scipy.integrate import solve_ivp

    p = params()
    c, s = "ticlopidine", p.get("ddi.ticlopidine.cyp2b6_share")
    e_ss = 1 - (1 - P.inhibitor_factors(p, "ticlopidine")[0]) / s      # CYP2B6 activity left at steady state
    k = math.log(2) / p.get("pk.cyp2b6_t_half_liver", "h")
    e = math.log(2) / p.get("ddi.ticlopidine.elimination_t_half", "h")
    lam = k * (1 / e_ss - 1)
    sol = solve_ivp(lambda t, y: [k * (1 - y[0]) - lam * (1 - math.exp(-e * t)) * y[0]], (0, 216.0), [1.0],
                    t_eval=[24.0, 72.0, 144.0, 216.0], rtol=1e-11, atol=1e-13)
    for t, active in zip(sol.t, sol.y[0]):
        built = P.inactivation_built(p, c, "liver", t, e_ss)
        assert built == pytest.approx((1 - active) / (1 - e_ss), rel=1e-7), t
        assert built < 1 - math.exp(-k * t / e_ss)
    fast = p.with_literature({"ddi.ticlopidine.elimination_t_half": 1e-6})     # lag lambda / e: 3e-8
    assert P.inactivation_built(fast, c, "liver", 72.0, e_ss) == pytest.approx(1 - math.exp(-k * 72.0 / e_ss),
                                                                               rel=1e-6)


def test_ticlopidine_acts_on_its_cyp2b6_share_with_the_cyp2b6_turnover():
    """Ticlopidine inactivates CYP2B6, which carries the share s of ketamine's CLint (ddi.ticlopidine.cyp2b6_share,
    fm 0.63, Ashraf 2018): Peltoniemi's 6-day factor f6 leaves CYP2B6 activity 1 - (1 - f6) / s, carried to the
    steady state E_ss by the onset, and the factors are 1 - s (1 - E_ss) in both organs (round trip 1e-9). The hepatic
    onset and recovery use the hepatic CYP2B6 turnover (pk.cyp2b6_t_half_liver, 44.4 h; closed form in the
    fast-elimination limit 1e-6), the gut wall pk.induction_t_half_gut, clarithromycin still the CYP3A4 one. With
    s = 1 (all of CLint) the same 6-day factor means a slower onset and a stronger steady state. The inducers' CYP2B6
    factors are carried with the CYP2B6 turnover (rifampicin's efavirenz probe after 8.5 days, to 5 days; 1e-12).
    A share the 6-day factor cannot fit is a one-line error naming the field."""
    p = params()
    c, s = "ticlopidine", p.get("ddi.ticlopidine.cyp2b6_share")
    f6, at = p.get("ddi.ticlopidine.clint_factor"), p.get("ddi.ticlopidine.clint_days", "h")
    steady = P.inhibitor_factors(p, c)
    for i, organ in enumerate(("liver", "gut")):
        e_ss = 1 - (1 - steady[i]) / s
        assert 0 < e_ss < 1 - (1 - f6) / s
        assert 1 - (1 - e_ss) * P.inactivation_built(p, c, organ, at, e_ss) == pytest.approx(1 - (1 - f6) / s,
                                                                                               rel=1e-9)
    fast = p.with_literature({"ddi.ticlopidine.elimination_t_half": 1e-6})
    k_2b6 = math.log(2) / p.get("pk.cyp2b6_t_half_liver", "h")
    k_gut, k_3a4 = (math.log(2) / p.get(f"pk.induction_t_half_{o}", "h") for o in ("gut", "liver"))
    assert P.inactivation_built(fast, c, "liver", 48.0, 0.3) == pytest.approx(1 - math.exp(-k_2b6 * 48 / 0.3), rel=1e-6)
    assert P.inactivation_built(fast, c, "gut", 48.0, 0.3) == pytest.approx(1 - math.exp(-k_gut * 48 / 0.3), rel=1e-6)
    assert P.inactivation_left(fast, c, "liver", 48.0) == pytest.approx(math.exp(-k_2b6 * 48), rel=1e-6)
    assert P.inactivation_built(p, "clarithromycin", "liver", 48.0, 0.3) == pytest.approx(
        1 - math.exp(-k_3a4 * 48 / 0.3), rel=1e-12)
    whole = p.with_literature({"ddi.ticlopidine.cyp2b6_share": 1.0})
    assert P.inhibitor_factors(whole, c)[0] < steady[0] < f6
    assert P.inhibitor_factors(whole, c, None, at)[0] == pytest.approx(f6, rel=1e-9)
    # the inducers' CYP2B6 factor builds up with the CYP2B6 turnover
    t = p.get("pk.cyp2b6_t_half_liver", "h")
    f, t_p = p.get("ddi.rifampicin.cyp2b6_factor"), p.get("ddi.rifampicin.cyp2b6_days", "h")
    f_5d = 1 + (f - 1) * (1 - 2 ** (-120 / t)) / (1 - 2 ** (-t_p / t))
    assert P.induction_reached(p, "cyp2b6", 120.0) == pytest.approx(1 - 2 ** (-120 / t), rel=1e-12)
    h3a, _ = P.cyp3a_factors_from_midazolam(p, "rifampicin", 120.0)
    s3a, s2b6 = p.get("pk.demethylation_cyp3a_share"), p.get("pk.demethylation_cyp2b6_share")
    assert P.induction_factors(p, "rifampicin", 120.0)[0] == pytest.approx(1 + s3a * (h3a - 1) + s2b6 * (f_5d - 1),
                                                                           rel=1e-12)
    bad = p.with_literature({"ddi.ticlopidine.cyp2b6_share": 0.4})
    with pytest.raises(ValueError, match=r"ddi\.ticlopidine\.cyp2b6_share must be in") as err:
        P.inhibitor_factors(bad, c)
    assert "\n" not in str(err.value)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: the CYP2B6 share of S-ketamine's intrinsic clearance is one property of the molecule, but ticlopidine "
    "inhibits 0.63 of CLint (ddi.ticlopidine.cyp2b6_share: Ashraf 2018 doi:10.1002/psp4.12346, fm of hepatic "
    "metabolism by CYP2B6, in vitro 0.60) while the inducers induce CYP2B6 on 0.5 x pk.fm_nk = 0.31 (0.34 before the thirty-seventh session's fm_nk; "
    "the numbers below are at 0.676) "
    "(pk.demethylation_cyp2b6_share, an equal split of N-demethylation for want of agreement in vitro). The sources "
    "favour 0.63, but no sourced choice keeps every passing check (typical man; B: 0.63 in liver and gut wall; C: "
    "0.63 in the liver, no CYP2B6 in the gut wall, Paine 2006 PMC2222892, ticlopidine on the liver only as in "
    "Ashraf's model). At the shipped first pass (hepatic extraction E 0.63, Fgut 0.41) rifampicin IV after 5 days "
    "0.838 -> 0.863 (0.90 +- 0.05: passes) but IV S-norketamine AUC0-inf 0.403 -> 0.392 (0.40-0.60: fails, B and "
    "C), rifampicin oral 0.134 -> 0.359 (B; 0.07-0.28: fails) or the label's intranasal ticlopidine Cmax / AUC 1.252 "
    "/ 1.666 (C; <= 1.25 / <= 1.548: fails) and the LI 160 St John's wort prediction 0.324 (C; >= 0.336: fails). "
    "Ninth session: a higher E (Qh = CL / E, F_S 0.15 kept) repairs C's ticlopidine and keeps LI 160 for E "
    "0.735-0.765 (at 0.75: ticlopidine 1.241 / 1.524, LI 160 0.407 / 0.502, rifampicin oral 0.130, IV 0.907), but "
    "neither published split is in that range (Perez-Ruixo 2021, pk_parameters.csv: E 0.72, ticlopidine AUC 1.560; "
    "Ashraf 2018: E 0.82, LI 160 0.608 / 0.677 and rifampicin IV over 0-5 h 0.958) and every E above ~0.655 breaks "
    "grapefruit juice (x3.0 observed, 2.4-3.6): its gut-wall factor is capped at 1/Fgut and its sourced hepatic part "
    "(IV CYP3A probe x1.2, Kharasch 2011; tenth session) adds only x1/0.937 (2.592 at E 0.63, 1.977 at 0.72, 1.769 "
    "at 0.75, 1.272 at 0.82; a hepatic part large enough for its +24 % half-life is not sourced: see "
    "test_grapefruit_juice_lengthens_oral_s_ketamine_half_life). The "
    "S-norketamine failure is one of window: with CL_NK x3.0 (Noppers' own estimate) a -50 % AUC0-inf needs 1.5-fold "
    "more norketamine per ketamine cleared (at most 1/fm_nk = 1.48 here); over Noppers' 0-5 h sampling every "
    "one-share variant gives S-norketamine 0.57-0.59 and arterial parent 0.91-0.96 (shipped: 0.608, outside, and "
    "0.893), but the full text (PMC3560924) that would say which AUC was reported was not retrieved (again "
    "in the eleventh session; the abstract: arterial samples during and 3 h after the 2-h infusion, i.e. 0-5 h). "
    "So the shipped "
    "shares stay"))
def test_one_cyp2b6_share_for_every_comedication():
    p = params()
    inducers = p.get("pk.demethylation_cyp2b6_share") * p.get("pk.fm_nk")
    assert inducers == pytest.approx(p.get("ddi.ticlopidine.cyp2b6_share"), abs=0.05)


def test_clarithromycin_onset_against_oral_midazolam_after_3_days():
    """Independent check, not a fit (no parameter was set from it): oral midazolam after 3 days of clarithromycin
    500 mg twice daily (midazolam with the seventh dose, 'clarithromycin for 3 d'), Markert 2013 x5.56 (4.76-6.67) and
    Prueksaritanont 2017 x4.84 (90 % CI 3.21-7.29): the model's ratio must lie inside both intervals. The onset
    rates come from the turnover half-lives and the 7-day probe alone; without an onset (full strength from the
    first dose) the model gives the 7-day x6.77 or more, above Markert's interval. The 3-day ratio is below the
    7-day one (the 7-day studies: Gorski 1998 x7.1, Quinney 2008 x8.0, Gurley 2006 / 2008 x8.4 / x5.5, same table).
    Direction of the hepatic and intestinal onset against 'Rate of onset of inhibition of gut-wall and hepatic CYP3A
    by clarithromycin' (12 volunteers, 500 mg; abstract only: intestinal CYP3A activity -64 % after the first dose
    with little further decline, hepatic not significantly lower after the first dose but lower after repeated
    doses): after one dosing interval (12 h) the gut wall has more than 2/3 of its steady-state loss, the liver less
    than half; by day 6 both more than 95 %."""
    p = params()
    c = "clarithromycin"
    e_ss = dict(zip(("liver", "gut"), P._probe_activity_steady(p, c)))

    def activity(hours):
        return [1 - (1 - e_ss[o]) * P.inactivation_built(p, c, o, hours, e_ss[o]) for o in ("liver", "gut")]

    three = P.midazolam_auc_ratios(p, *activity(72.0))[1]
    for study, (_, lo, hi) in MIDAZOLAM_3D.items():
        assert lo <= three <= hi, (study, three)
    assert three < P.midazolam_auc_ratios(p, *activity(168.0))[1] < P.midazolam_auc_ratios(p, *activity(1e6))[1]
    assert P.midazolam_auc_ratios(p, *activity(168.0))[1] == pytest.approx(
        p.get("ddi.clarithromycin.midazolam_oral_auc_ratio"), rel=1e-9)
    assert P.midazolam_auc_ratios(p, *activity(1e6))[1] > MIDAZOLAM_3D["Markert 2013"][2]   # no onset: outside
    first = {o: P.inactivation_built(p, c, o, 12.0, e_ss[o]) for o in ("liver", "gut")}
    assert first["gut"] > 2 / 3 and first["liver"] < 0.5
    assert all(P.inactivation_built(p, c, o, 144.0, e_ss[o]) > 0.95 for o in ("liver", "gut"))


def test_inhibitor_onset_through_the_engine_and_the_cli(tmp_path, capsys):
    """'NAME for DURATION' for an inhibitor wherever comedications go: through the engine IN esketamine 84 mg Cmax
    and AUC rise with the days of clarithromycin (for 12 h < for 3 d < steady state); `simulate --comedication
    "clarithromycin for 1 d"` runs and reports a Cmax between none and steady state; a bad duration is one error
    line naming the field."""
    import json

    from ketasim.cli import main

    lines = [line("esketamine", "intranasal", "84 mg")]
    none = exposure(lines)
    seq = [exposure(lines, comedications=[c]) for c in ("clarithromycin for 12 h", "clarithromycin for 3 d",
                                                          "clarithromycin")]
    for what in (0, 2):
        values = [none[what]] + [x[what] for x in seq]
        assert all(b > a for a, b in zip(values, values[1:])), what
    out = {}
    for comed in ("clarithromycin for 1 d", "clarithromycin"):
        path = tmp_path / f"{len(out)}.json"
        assert main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "84 mg", "--typical",
                     "--comedication", comed, "--pk", "--pk-json", str(path)]) == 0
        out[comed] = _pk_value(json.loads(path.read_text()), "cmax")
    capsys.readouterr()
    assert out["clarithromycin for 1 d"] < out["clarithromycin"]
    assert main(["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "84 mg", "--typical",
                 "--comedication", "clarithromycin for 3 parsecs"]) != 0
    err = [e for e in capsys.readouterr().err.strip().splitlines() if e]
    assert len(err) == 1 and "comedication" in err[0], err
