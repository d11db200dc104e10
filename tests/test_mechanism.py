"""Virtual experiments and qualitative behaviour of the chain, for the typical patient.

Unless stated otherwise: a 70 kg, 40-year-old, treatment-resistant depressed man (MADRS baseline 33, Val/Val,
median CRP), racemic ketamine 0.5 mg/kg over 40 min. The literature each property comes from is cited in
``shared/research/mechanism.md`` (section numbers given). "Drug effect" at a time means the score of a saline
placebo arm minus the score of the drug arm (positive = the drug helps), which removes the expectancy part that
every session carries.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from ketasim import VirtualExperiment
from ketasim.errors import DoseWarning

from _support import line, params, typical_run, value_at

DAY = 24.0
#: 1-min resolution for the first 12 h (peaks during and after a 40-min infusion), then hourly for 100 days
TIMES = np.unique(np.round(np.concatenate([np.arange(0.0, 12.0, 1 / 60), np.arange(12.0, 100 * DAY + 1e-9, 1.0)]), 9))

KET = line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min")
SALINE = line("placebo", "iv-infusion")
MIDAZOLAM = line("midazolam", "iv-infusion", "0.045 mg/kg", duration="40 min")
PLASTICITY = ("bdnf", "trkb", "mtorc1", "synaptic_proteins", "spine_density")
#: a state that never left its baseline of 1 differs from it only by the rounding of the integrator weights
ROUNDING = 1e-9


@lru_cache(maxsize=None)
def _run(lines: tuple, experiment: VirtualExperiment | None = None, pop: tuple = ()):
    res = typical_run([dict(x) for x in lines], TIMES, experiment=experiment, **dict(pop))
    return res.trajectories().set_index("time_h"), res.sessions()


def run(lines, experiment=None, **pop):
    """(trajectories indexed by time_h, sessions) of the typical patient; cached per regimen."""
    key = tuple(tuple(sorted(d.items())) for d in lines)
    return _run(key, experiment, tuple(sorted(pop.items())))


def traj(lines, experiment=None, **pop):
    return run(lines, experiment, **pop)[0]


def score(lines, t_h, experiment=None, **pop):
    return value_at(traj(lines, experiment, **pop), "score", t_h)


def drug_effect(lines, t_h, experiment=None, **pop):
    """Saline-placebo score minus drug score at t_h (MADRS points; > 0 when the drug helps)."""
    return score([SALINE], t_h, **pop) - score(lines, t_h, experiment, **pop)


def peak_drug_effect(lines, **pop):
    pl = traj([SALINE], **pop)["score"].to_numpy()
    return float(np.max(pl - traj(lines, **pop)["score"].to_numpy()))


# ---------------------------------------------------------------------------------------------------------------
# Virtual experiments (mechanism.md §4 and §10.11: NBQX, rapamycin, spine formation)
NBQX = VirtualExperiment(ampa_block=1.0)
RAPAMYCIN = VirtualExperiment(mtor_block=1.0)
NO_SPINES = VirtualExperiment(spine_block=1.0)


def test_intact_chain_responds():
    """Not vacuous: without any block the dose raises every plasticity link and improves the score."""
    tr = traj([KET])
    for col in PLASTICITY:
        assert tr[col].max() > 1.05, col
    assert drug_effect([KET], DAY) > 3.0     # MADRS points; minimal clinically important difference ~2


def test_ampa_block_abolishes_plasticity_but_not_the_surge():
    """NBQX (Maeng 2008) acts downstream of glutamate: the surge is unchanged, BDNF onwards stays at baseline."""
    tr, intact = traj([KET], NBQX), traj([KET])
    assert tr["glutamate"].max() == pytest.approx(intact["glutamate"].max(), rel=1e-12)
    for col in PLASTICITY:
        assert np.abs(tr[col] - 1.0).max() <= ROUNDING, col


def test_ampa_block_abolishes_the_drug_part_of_the_response():
    """With NBQX the ketamine arm is no better than placebo, except for the expectancy that perceptible
    dissociation adds (functional unblinding, which NBQX does not touch):
    * with perception switched off (population.perception = 0) it is exactly the saline placebo arm;
    * with perception on, the difference to saline is at most a quarter of the intact drug effect at 24 h and 72 h
      and it is no better than the midazolam active placebo (+0.5 point: rounding of a rating scale)."""
    for t in (2.0, DAY, 3 * DAY, 7 * DAY):
        blind = score([KET], t, NBQX, perception=0.0)
        assert blind == pytest.approx(score([SALINE], t, perception=0.0), abs=1e-9 * 33), t
    for t in (DAY, 3 * DAY):
        assert abs(drug_effect([KET], t, NBQX)) <= 0.25 * drug_effect([KET], t), t
        assert score([KET], t, NBQX) >= score([MIDAZOLAM], t) - 0.5, t


def test_mtor_block_abolishes_synaptic_plasticity_and_the_drug_response():
    """Rapamycin (Li 2010): BDNF still rises (upstream), mTORC1, synaptic proteins and spines do not, and the
    antidepressant response at 24 h and 72 h (Li's behavioural readouts) is gone like with NBQX."""
    tr = traj([KET], RAPAMYCIN)
    assert tr["bdnf"].max() > 1.05
    for col in ("mtorc1", "synaptic_proteins", "spine_density"):
        assert np.abs(tr[col] - 1.0).max() <= ROUNDING, col
    for t in (DAY, 3 * DAY):
        assert abs(drug_effect([KET], t, RAPAMYCIN)) <= 0.25 * drug_effect([KET], t), t
        assert score([KET], t, RAPAMYCIN, perception=0.0) == pytest.approx(score([SALINE], t, perception=0.0), abs=0.5)


def test_spine_block_keeps_the_24h_effect_but_shortens_it():
    """Moda-Sava 2019 (mechanism.md §4, §10.11.3): new spines are needed to MAINTAIN the effect, not to start it.
    Tolerances: at 24 h at least 85 % of the intact drug effect remains (spines have barely risen by then);
    at 5 and 7 days less than half of the intact effect remains (since issue 7 a single dose's effect has faded by
    10-14 days with or without spines, so the maintenance role shows earlier). Passing since issue 7's PD rework:
    synaptic proteins (the spine-independent part) fade within days (t1/2 24 h) and the response reads functional
    new synapses, so at 5 d a spine block leaves ~40 % of the intact effect (was 93 %)."""
    assert np.abs(traj([KET], NO_SPINES)["spine_density"] - 1.0).max() <= ROUNDING
    assert drug_effect([KET], DAY, NO_SPINES) >= 0.85 * drug_effect([KET], DAY)
    for t in (5 * DAY, 7 * DAY):
        assert drug_effect([KET], t) > 0.5      # the intact effect is still there to be lost
        assert drug_effect([KET], t, NO_SPINES) < 0.5 * drug_effect([KET], t), t


def test_hnk_hypothesis_switch_adds_ampa_drive():
    """hnk_weight > 0 lets hydroxynorketamine drive AMPA directly (Zanos 2016 hypothesis, off by default)."""
    off, on = traj([KET]), traj([KET], VirtualExperiment(hnk_weight=1.0))
    assert params().get("pd.hnk.weight") == 0.0
    # by default AMPA activation follows the glutamate surge: it never exceeds it (rounding: 1e-12) and peaks with
    # it (within 10 min: the output resolution here is 1 min, the AMPA link has no dynamics of its own)
    assert (off["ampa"] <= off["glutamate"] + 1e-12).all() and off["ampa"].max() > 1.05
    assert abs(float(off["ampa"].idxmax()) - float(off["glutamate"].idxmax())) <= 10 / 60
    # with the switch on, HNK adds drive: more AMPA activation everywhere, and more downstream plasticity
    assert (on["ampa"] >= off["ampa"] - 1e-12).all() and on["ampa"].max() > off["ampa"].max()
    assert on["synaptic_proteins"].max() > off["synaptic_proteins"].max()


# ---------------------------------------------------------------------------------------------------------------
# Dose: inverted U of glutamate (mechanism.md §3, §10.3), anesthetic doses (§8, pk.md §5)
# IV induction 2 mg/kg then maintenance 3 mg/kg/h for 2 h (Ketalar label: induction 1-4.5 mg/kg, maintenance
# 1-6 mg/kg/h): plasma ketamine in the anesthetic range (5-10 uM; pk_parameters.csv 'General anaesthesia plasma
# level', Idvall 1979 maintenance Css 9.3 uM)
ANESTHETIC = [line("racemic-ketamine", "iv-bolus", "2 mg/kg"),
              line("racemic-ketamine", "iv-infusion", "6 mg/kg", duration="2 h")]


@pytest.fixture(scope="module")
def anesthetic():
    with pytest.warns(DoseWarning, match="anesthetic"):
        return run(ANESTHETIC)[0]


def test_glutamate_surge_rises_with_subanesthetic_dose():
    low = traj([line("racemic-ketamine", "iv-infusion", "0.1 mg/kg", duration="40 min")])
    mid = traj([KET])
    assert 1.0 < low["glutamate"].max() < mid["glutamate"].max()
    # Milak 2016: mPFC Glx +38 +/- 7.5 % at ~26 min of a 0.5 mg/kg infusion; Glx is a proxy, so the model's surge
    # must merely be of that order: +10 % to +60 %
    assert 1.10 <= mid["glutamate"].max() <= 1.60


def test_glutamate_falls_below_baseline_at_an_anesthetic_dose(anesthetic):
    """Moghaddam 1997 (rat PFC glutamate falls at anesthetic doses); Gerhard 2020 (net suppression at 10 uM)."""
    assert anesthetic["glutamate"].min() < 0.95   # tolerance: 5 % below baseline is a clear fall


def test_anesthetic_dose_sets_the_anesthesia_flag(anesthetic):
    assert anesthetic["anesthesia"].max() == 1.0


def test_anesthetic_dose_gives_high_sedation(anesthetic):
    """'High': at least the sedation index at the anesthesia threshold (pd.anesthesia.threshold, 1.2 ug/mL) of
    the sedation Emax model (pd.sedation.ec50_racemic_total), i.e. the start of the anesthetic range."""
    p = params()
    c = p.get("pd.anesthesia.threshold", "uM") * p.get("mw.ketamine", "g/mol")   # ng/mL
    ec50 = p.get("pd.sedation.ec50_racemic_total", "ng/mL")
    assert anesthetic["sedation"].max() >= c / (c + ec50)


def test_anesthetic_dose_gives_no_plasticity_only_under_the_anesthetic_state_hypothesis(anesthetic):
    """Li 2010 (mTOR activation window is an inverted U), mechanism.md §10.4: under the anesthetic-state hypothesis
    (a switch, off by default since meta-analyses of esketamine given during surgery report antidepressant effects:
    issue 7) anesthetic doses trigger no plasticity: proteins rise less than 5 % (vs ~40 % at 0.5 mg/kg). With the
    switch off, glutamate still falls and sedation still rises at anesthetic exposure."""
    with pytest.warns(DoseWarning, match="anesthetic"):
        on = run(ANESTHETIC, experiment=VirtualExperiment(anesthetic_state=True))[0]
    assert on["synaptic_proteins"].max() < 1.05
    assert anesthetic["synaptic_proteins"].max() > 1.05            # default: the hypothesis is off
    assert anesthetic["glutamate"].min() < 0.9 and anesthetic["sedation"].max() > 0.3     # 0.07 at 0.5 mg/kg


def test_induction_bolus_alone_reaches_anesthetic_plasma_levels():
    """'General anaesthesia plasma level': 1-2 mg/kg IV reaches 5-10 uM. Passing since issue 7: the small arterial
    central volume (Simons 2022) and the arm-venous read-out put the venous peak of 2 mg/kg at ~1600 ng/mL (S-ketamine
    2 mg/kg IV in children: 1860 +/- 883 ng/mL at 3 min), above the 5 uM (1189 ng/mL) flag."""
    with pytest.warns(DoseWarning, match="anesthetic"):
        tr = run([line("racemic-ketamine", "iv-bolus", "2 mg/kg")])[0]
    assert tr["anesthesia"].max() == 1.0


def test_nmda_block_ordering_s_racemic_r():
    """Ebert 1997 Ki: S 0.30 < R 1.4 uM, so for equal mg doses block is S > racemic > R, in both pools."""
    dose = dict(route="iv-infusion", dose="0.5 mg/kg", duration="40 min")
    s = traj([line("esketamine", **dose)])
    rac = traj([KET])
    r = traj([line("arketamine", **dose)])
    for col in ("nmda_block_interneuron", "nmda_block_pyramidal"):
        assert s[col].max() > rac[col].max() > r[col].max() > 0.0, col


def test_clinical_dose_response_plateaus_between_half_and_one_mg_per_kg():
    """mechanism.md §7: efficacy rises from 0.1 to 0.5 mg/kg and stays on a plateau up to 1.0 mg/kg.
    Tolerance for 'plateau': the 24-h effect at 1.0 mg/kg is within 15 % of that at 0.5 mg/kg. A strict xfail until
    the twenty-ninth session (1.24x: without a limit on release a longer glutamate surge keeps adding plasticity drive,
    and a TrkB adaptation cannot stop it); passes with the releasable BDNF pool on by default, whose size the
    calibration fits under this direction (calibration.PLATEAU_RATIO_MAX; tests/test_bdnf_release_pool.py)."""
    effects = [drug_effect([line("racemic-ketamine", "iv-infusion", d, duration="40 min")], DAY)
               for d in ("0.1 mg/kg", "0.5 mg/kg")]
    # 1 mg/kg over 40 min is subanesthetic (no DoseWarning: regimen.py judges infusions by rate and amount)
    effects.append(drug_effect([line("racemic-ketamine", "iv-infusion", "1.0 mg/kg", duration="40 min")], DAY))
    assert effects[0] < effects[1]
    assert effects[2] <= 1.15 * effects[1]


def test_clinical_dose_response_rises_from_low_doses():
    effects = [drug_effect([line("racemic-ketamine", "iv-infusion", d, duration="40 min")], DAY)
               for d in ("0.1 mg/kg", "0.2 mg/kg", "0.5 mg/kg")]
    assert 0.0 < effects[0] < effects[1] < effects[2]


# ---------------------------------------------------------------------------------------------------------------
# Moderators (mechanism.md §4 Laje 2012; §6 Chen 2024)
def test_bdnf_met_met_responds_less_than_val_val():
    e = {g: drug_effect([KET], DAY, genotype=g) for g in ("val/val", "val/met", "met/met")}
    assert e["val/val"] > e["val/met"] > e["met/met"] > 0.0
    assert traj([KET], genotype="met/met")["bdnf"].max() < traj([KET], genotype="val/val")["bdnf"].max()


def test_crp_does_not_moderate_the_drug_effect_by_default():
    """No source supports a CRP moderation of ketamine's effect (pd.crp.moderation 0 since the forty-fourth session:
    Chen 2024's authors attribute the lost separation at CRP >= 3 mg/L to a larger placebo response; the Medeiros
    2022 meta-analysis finds no consistent blood-marker association): the typical patient's 24-h drug effect is the
    same at CRP 0.5 and 10 mg/L."""
    assert params().get("pd.crp.moderation") == 0.0
    low, high = drug_effect([KET], DAY, crp_mg_l=0.5), drug_effect([KET], DAY, crp_mg_l=10.0)
    assert low > 1.0 and high == pytest.approx(low, rel=1e-9)


def test_a_user_crp_moderation_hypothesis_still_acts():
    """The machinery stays for a user's hypothesis (drug effect x 1 / (1 + m (CRP / 3 mg/L)^4)): with m = 0.6 (the
    value until the forty-fourth session) less than half of the CRP 0.5 mg/L drug effect remains at 10 mg/L."""
    hyp = params().with_literature({"pd.crp.moderation": 0.6})

    def effect(crp):
        out = {}
        for name, lines in (("drug", [KET]), ("saline", [SALINE])):
            tr = typical_run(lines, [0.0, DAY], parameter_set=hyp, crp_mg_l=crp).trajectories().set_index("time_h")
            out[name] = value_at(tr, "score", DAY)
        return out["saline"] - out["drug"]

    low, high = effect(0.5), effect(10.0)
    assert low > 1.0 and high < 0.5 * low


# ---------------------------------------------------------------------------------------------------------------
# Time course of a single dose and of repeated doses
def test_improvement_is_measurable_at_2_hours():
    """Zarate 2006 / Berman 2000: improvement within hours. 'Measurable': >= 2 MADRS points below baseline
    (minimal clinically important difference) and better than saline at 2 h."""
    base = score([KET], 0.0)
    assert score([KET], 2.0) <= base - 2.0
    assert drug_effect([KET], 2.0) > 0.0


def test_largest_improvement_within_one_to_three_days():
    """Clinical ratings come at 40-230 min and then on days 1, 2, 3, 7: the best score falls between the last
    same-day rating (230 min) and day 3, and the day-1 improvement is at least 90 % of the best (a peak between
    4 h and 24 h cannot be told apart from the day-1 rating). Passing since issue 7's PD rework (best at ~4.7 h, the day-1
    improvement 97 % of the best; the drive peaks at 12-24 h through synaptic proteins, then new synapses)."""
    tr = traj([KET])
    first_month = tr.loc[: 28 * DAY, "score"]
    t_best = float(first_month.idxmin())
    assert 230 / 60 < t_best <= 3 * DAY
    base = score([KET], 0.0)
    assert base - score([KET], DAY) >= 0.9 * (base - first_month.min())


def test_single_dose_effect_fades_by_28_days():
    """The drug effect of one dose has largely gone after 4 weeks: < 25 % of its peak (tolerance)."""
    assert drug_effect([KET], 28 * DAY) < 0.25 * peak_drug_effect([KET])


def test_single_dose_effect_back_near_baseline_by_14_days():
    """'Near baseline': < 25 % of the peak drug effect (same tolerance as at 28 days)."""
    assert drug_effect([KET], 14 * DAY) < 0.25 * peak_drug_effect([KET])


def test_repeated_infusions_sustain_the_response():
    """Twice-weekly infusions for 4 weeks (Singh 2016 design) keep the score lower at 28 d than one infusion."""
    rep = [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min", every="3.5 d", count=8)]
    assert score(rep, 28 * DAY) < score([KET], 28 * DAY) - 5.0   # MADRS points: a clinically clear difference
    assert traj(rep)["spine_density"].max() > traj([KET])["spine_density"].max()


SERIES = [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min", every="56 h", count=6)]
#: the last of the six infusions of SERIES (three a week over 12 days: Murrough 2013 Biol Psychiatry design)
LAST = 5 * 56.0


def test_consolidation_needs_repeated_dosing():
    """Issue 7: new spines are labile (most turn over within days: Holtmaat 2005); a later plasticity pulse
    stabilises those an earlier dose left (consolidation; Xu 2009, Yang 2009). So the spines of one dose are back
    near their baseline after 4 weeks (< 10 % of their peak rise), while 4 weeks after the last of a series a
    clearly larger share of the peak rise remains (at least twice the single dose's share)."""
    one = traj([KET])["spine_density"] - 1.0
    series = traj(SERIES)["spine_density"] - 1.0
    share_one = value_at(one.to_frame(), "spine_density", 28 * DAY) / one.max()
    share_series = value_at(series.to_frame(), "spine_density", LAST + 28 * DAY) / series.max()
    assert share_one < 0.10
    assert share_series > 2.0 * share_one


def test_effect_persists_longer_after_a_series_than_after_one_dose():
    """Murrough 2013 (Biol Psychiatry; not a calibration target): after six infusions the response lasts weeks
    (median 18 days to relapse), longer than after one. Measured as the share of the drug effect 1 day after the
    last dose that is left 10 days later: larger after the series than after one dose."""
    saline_series = [dict(SALINE, every="56 h", count=6)]

    def effect(lines, placebo, t):        # placebo arm with the same sessions minus drug arm (MADRS points)
        return score(placebo, t) - score(lines, t)

    def share(lines, placebo, last):
        return effect(lines, placebo, last + 11 * DAY) / effect(lines, placebo, last + DAY)
    assert effect(SERIES, saline_series, LAST + DAY) > 0.0
    assert share(SERIES, saline_series, LAST) > share([KET], [SALINE], 0.0) + 0.05


# ---------------------------------------------------------------------------------------------------------------
# Side effects (mechanism.md §8, §10.10)
def test_dissociation_peaks_near_the_end_of_the_infusion():
    tr = traj([KET])
    t_peak = float(tr["cadss"].idxmax())
    assert 30 / 60 <= t_peak <= 60 / 60


def test_dissociation_resolves_within_two_hours():
    """'Resolved': CADSS <= 4, the label's definition of dissociation (monitoring.cadss_max)."""
    assert value_at(traj([KET]), "cadss", 2.0) <= params().get("monitoring.cadss_max")


def test_dissociation_falls_over_repeated_sessions_but_blood_pressure_does_not():
    """Glue 2018: CADSS falls with repeated doses; Riva-Posse 2018: no tolerance of the BP rise (1st to 6th)."""
    rep = [line("racemic-ketamine", "iv-infusion", "0.5 mg/kg", duration="40 min", every="3.5 d", count=8)]
    s = run(rep)[1].sort_values("session")
    assert len(s) == 8
    cadss = s["cadss_peak"].to_numpy()
    assert cadss[-1] < 0.8 * cadss[0]          # tolerance: a clear (> 20 %) fall
    assert np.all(np.diff(cadss) < 0)
    sbp = s["sbp_change_peak"].to_numpy()
    assert sbp[0] > 1.0
    assert np.abs(sbp / sbp[0] - 1).max() < 0.01   # 1 %: no tolerance


def test_dissociation_tolerance_over_14_weekly_doses():
    """Glue 2018 (weekly SC ketamine 1 mg/kg, anxiety; clinical_calibration.csv glue2018_maint): CADSS 20 at week 1
    -> 8.8 at week 14, a ratio of 0.44. The source is secondary ('uncertain'): tolerance +-25 % on the ratio.
    Passing since issue 7 (0.49): how long tolerance lasts is calibrated (free: tolerance_t_half; was a fixed 30 d)."""
    weekly = [line("racemic-ketamine", "sc", "1 mg/kg", every="7 d", count=14)]
    s = run(weekly)[1].sort_values("session")
    assert len(s) == 14
    assert s["cadss_peak"].iloc[-1] / s["cadss_peak"].iloc[0] == pytest.approx(8.8 / 20, rel=0.25)


def test_blood_pressure_rises_then_returns_toward_baseline():
    """Riva-Posse 2018: peak SBP rise at ~30 min of the infusion; falls back over the following hours.
    Tolerances: peak between 20 and 60 min; by 4 h less than half of the peak remains."""
    tr = traj([KET])
    peak = tr["sbp_change_mmhg"].max()
    assert peak > 1.0
    assert 20 / 60 <= float(tr["sbp_change_mmhg"].idxmax()) <= 1.0
    assert value_at(tr, "sbp_change_mmhg", 4.0) < 0.5 * peak
    # issue 7 changed this: the parent's terminal t1/2 is now ~7 h (deep compartment; Fanta 2021), so ~1 % of the
    # peak rise is left at 24 h instead of none; "back toward baseline" is read as < 2 % of the peak
    assert value_at(tr, "sbp_change_mmhg", 24.0) < 0.02 * peak


def test_blood_pressure_back_to_baseline_within_90_min_after_infusion():
    """'Back to baseline': less than 20 % of the peak rise (tolerance). Szarmach 2020: back to baseline within 1.5 h.
    Passing since issue 7 (was a strict xfail at ~43 %): the effect site follows the arterial concentration, which
    falls fast after the infusion."""
    tr = traj([KET])
    assert value_at(tr, "sbp_change_mmhg", 40 / 60 + 1.5) < 0.2 * tr["sbp_change_mmhg"].max()


ESK_IN = line("esketamine", "intranasal", "56 mg")


def test_esketamine_dissociation_timing():
    """mechanism.md §8 (Spravato): dissociation peaks ~40 min after the dose and is largely resolved by 1.5-2 h.
    Tolerances: peak within 25-60 min of the first device (the second device follows 5 min later; norketamine at
    its brain partition adds a slower component since issue 7); at 2 h less than 30 % of the peak (was 25 %
    before norketamine entered the side effects)."""
    tr = traj([ESK_IN])
    assert 25 / 60 <= float(tr["cadss"].idxmax()) <= 60 / 60
    assert value_at(tr, "cadss", 2.0) < 0.30 * tr["cadss"].max()


@lru_cache(maxsize=None)
def _population_mean_bp(dose: str):
    """Mean SBP/DBP change over 1000 label-like patients (46 +- 12 y, 62 % women: TRANSFORM-2) after one intranasal
    esketamine dose, per minute over 3 h (the label's figures are means over patients, placebo-adjusted)."""
    import ketasim

    sc = ketasim.scenario_from_dict({"name": "bp", "seed": 1, "arms": {"arm": [line("esketamine", "intranasal", dose)]},
                                     "population": {"size": 1000, "female_fraction": 0.62,
                                                    "age_years": {"mean": 46.0, "sd": 12.0}}})
    t = np.round(np.arange(0.0, 3.0 + 1e-9, 1 / 60), 9)
    d = ketasim.simulate(sc, params(), output_times_h=t).trajectories()
    return d.groupby("time_h")[["sbp_change_mmhg", "dbp_change_mmhg"]].mean()


def test_esketamine_blood_pressure_peaks_about_40_min_after_the_dose():
    """mechanism.md §8 (Spravato): the BP rise peaks ~40 min after dosing. Tolerance: 25-55 min, population mean."""
    for dose in ("56 mg", "84 mg"):
        m = _population_mean_bp(dose)
        assert 25 / 60 <= float(m["sbp_change_mmhg"].idxmax()) <= 55 / 60, dose
        assert m["sbp_change_mmhg"].max() > m["dbp_change_mmhg"].max() > 0.0, dose


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "MODEL: the population-mean SBP rise (1000 label-like patients, 46 +- 12 y, 62 % women) peaks at +4.9 mmHg after "
    "56 mg and +6.1 after 84 mg (DBP +3.2 / +4.0) vs the label's +7-9 (DBP +4-6) mmHg: 56 mg is 30 % below the "
    "label's lower bound (23 % below the tolerance). (Twelfth session: the rise's ceiling, pd.sbp.rise_max, took the "
    "log-normal tail above 61 mmHg out of these means: +5.3 / +6.9 before.) Not the enantiomer weighting: "
    "R-ketamine's pressor potency is now sourced (pd.pressor.r_ketamine_potency 0.24, Pfenninger 2002; at the NMDA "
    "Ki ratio 0.214: +5.0 / +6.2) and even an inert R-ketamine (w_R = 0, the racemate-vs-S comparisons' extreme) "
    "gives +5.7 / +7.0, still below 6.3 at 56 mg. Sixth session (NOTES, 'Esketamine blood pressure: the racemic "
    "anchor'): the racemic anchor (+7.5 mmHg population mean at 185 ng/mL; model 7.7, 6.8 with the ceiling) was "
    "hand-set but lies between three independent series of "
    "0.5 mg/kg / 40 min (3.3 Riva-Posse, 7.4, 16 mmHg), so the published esketamine/racemic ratio is ~1, not 2.4; the "
    "label figure is placebo-adjusted (the placebo arm rose too: Doherty 2020, mean maximum +6.1 vs +13.3 mmHg), the "
    "model peaks at 38-42 min like the label's 40-min reading, and the model's nasal Cmax matches the popPK (73.7 vs "
    "72.5 ng/mL at 56 mg): none of these explains the 56-mg gap"))
def test_esketamine_blood_pressure():
    """mechanism.md §8 (Spravato): SBP +7-9 mmHg (DBP +4-6) about 40 min after 56 or 84 mg, means over patients.
    Tolerance: the population-mean SBP peak of each dose within 7-9 mmHg widened by 10 %. (Compared with the
    population mean, the label's statistic; the typical patient has exp(-omega_bp^2/2) of the mean sensitivity.)"""
    for dose in ("56 mg", "84 mg"):
        assert 7.0 * 0.9 <= _population_mean_bp(dose)["sbp_change_mmhg"].max() <= 9.0 * 1.1, dose


def _typical_peaks(lines, parameter_set=None):
    """Peak SBP and heart-rate rise of the typical patient over 3 h (30-s grid)."""
    t = np.round(np.arange(0.0, 3.0 + 1e-9, 1 / 120), 9)
    tr = typical_run(lines, t, parameter_set=parameter_set).trajectories()
    return float(tr["sbp_change_mmhg"].max()), float(tr["hr_change_bpm"].max())


def test_pressor_enantiomer_weighting_reproduces_pfenninger_2002():
    """Pfenninger 2002 (doi:10.1097/00000542-200202000-00022; IV bolus, crossover, n = 24): 0.25 mg/kg S, 0.5 mg/kg
    racemic and 1.0 mg/kg R-ketamine gave similar transient rises of blood pressure and heart rate. The R weight of
    the BP/HR link (pd.pressor.r_ketamine_potency) was derived from the R arm: equal peak SBP at four times the S
    dose. Tolerances: R vs S within 5 % (the rounding of the weight, 0.2435 -> 0.24, and SBP vs HR); the racemate
    at least the S arm (it holds the same S dose) and at most 30 % above it ('similar'; the racemate-vs-S studies,
    Doenicke 1992 / Adams 1992 at 2 vs 1 mg/kg, found no difference either). The weight is not the NMDA Ki ratio:
    at that weight (0.214) the R arm is 8 % below the S arm."""
    s_sbp, s_hr = _typical_peaks([line("esketamine", "iv-bolus", "0.25 mg/kg")])
    # 1 mg/kg R-ketamine IV is the source's small, equianalgesic dose: no anesthetic-range warning since arketamine
    # counts at its potency (0.35 x the racemate per mg: regimen.anesthetic_potency; -W error fails on a warning)
    r_sbp, r_hr = _typical_peaks([line("arketamine", "iv-bolus", "1.0 mg/kg")])
    rac_sbp, rac_hr = _typical_peaks([line("racemic-ketamine", "iv-bolus", "0.5 mg/kg")])
    assert s_sbp > 1.0 and s_hr > 1.0
    assert r_sbp == pytest.approx(s_sbp, rel=0.05)
    assert r_hr == pytest.approx(s_hr, rel=0.05)
    assert s_sbp <= rac_sbp <= 1.3 * s_sbp
    assert s_hr <= rac_hr <= 1.3 * s_hr
    nmda = params().with_literature({"pd.pressor.r_ketamine_potency": 0.3 / 1.4})
    r_nmda = _typical_peaks([line("arketamine", "iv-bolus", "1.0 mg/kg")], nmda)[0]
    s_nmda = _typical_peaks([line("esketamine", "iv-bolus", "0.25 mg/kg")], nmda)[0]
    assert r_nmda / s_nmda < 0.95


def test_racemic_pressor_anchor_does_not_depend_on_the_r_weight():
    """The SBP EC50 is anchored on racemic data (+7.5 mmHg at 185 ng/mL after 0.5 mg/kg / 40 min) and converted with
    the same weight as the effect site, so the racemic infusion's rise stays put whatever R's pressor potency
    (tolerance 2 %: R and S differ a little in PK), while esketamine's moves with it (a lower R weight makes the
    racemate's anchor mean more S-ketamine per mmHg). Not vacuous: w_R from 0 to 1 moves esketamine by > 30 %."""
    rac, esk = {}, {}
    for w in (0.0, 0.24, 1.0):
        ps = params().with_literature({"pd.pressor.r_ketamine_potency": w})
        rac[w] = _typical_peaks([KET], ps)[0]
        esk[w] = _typical_peaks([line("esketamine", "intranasal", "56 mg")], ps)[0]
    assert rac[0.0] > 1.0
    assert rac[0.24] == pytest.approx(rac[0.0], rel=0.02) and rac[1.0] == pytest.approx(rac[0.0], rel=0.02)
    assert esk[0.0] > esk[0.24] > esk[1.0] and esk[0.0] > 1.3 * esk[1.0]


# ---------------------------------------------------------------------------------------------------------------
# Comparators
def test_midazolam_sedates_without_plasticity():
    tr = traj([MIDAZOLAM])
    assert tr["sedation"].max() > params().get("monitoring.sedation_max")   # perceptible sedation
    assert tr["cp_midazolam_ng_ml"].max() > 0.0 and tr["cp_ketamine_ng_ml"].max() == 0.0
    for col in PLASTICITY + ("glutamate",):
        assert np.abs(tr[col] - 1.0).max() <= ROUNDING, col
    assert tr["cadss"].max() == 0.0


def test_saline_gives_a_placebo_response_without_plasticity():
    tr = traj([SALINE])
    base = value_at(tr, "score", 0.0)
    # the score falls a little: at least 1 MADRS point at 24 h, but less than with ketamine
    assert value_at(tr, "score", DAY) <= base - 1.0
    assert value_at(tr, "score", DAY) > score([KET], DAY)
    for col in PLASTICITY + ("glutamate",):
        assert np.abs(tr[col] - 1.0).max() <= ROUNDING, col


def test_active_placebo_expectancy_exceeds_saline():
    """Midazolam's perceptible sedation (functional unblinding) raises expectancy more than saline."""
    # (both sessions kindle the same boost at the start; the perceptible sedation adds to it during the session)
    assert value_at(traj([MIDAZOLAM]), "expectancy", 2.0) > value_at(traj([SALINE]), "expectancy", 2.0)
    assert score([MIDAZOLAM], DAY) < score([SALINE], DAY)


def test_oral_antidepressant_onset_builds_over_weeks():
    """A newly started oral antidepressant acts over weeks, not hours (onset fraction 0 -> 1)."""
    tr = traj([line("oral-antidepressant", "oral")])
    onset = [value_at(tr, "antidepressant_onset", t) for t in (DAY, 7 * DAY, 14 * DAY, 28 * DAY)]
    assert onset[0] < 0.1                        # little after one day
    assert onset[0] < onset[1] < onset[2] < onset[3]
    assert onset[3] > 0.5                        # most of the effect by 4 weeks
    assert np.all(np.diff(tr["antidepressant_onset"].to_numpy()) >= -1e-12)
    assert value_at(tr, "score", 28 * DAY) < value_at(tr, "score", 7 * DAY) < value_at(tr, "score", 0.0)
    for col in PLASTICITY:
        assert np.abs(tr[col] - 1.0).max() <= ROUNDING, col
