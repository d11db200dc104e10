"""The ketasim model, declared once (read this file as the model).

Chain: PK (hand-written machinery: ``ketasim.pk`` blocks, depots, dosing events, effect sites
``dCe/dt = ke0 (fu Cp - Ce)``) -> NMDA block -> glutamate -> AMPA -> BDNF -> TrkB -> mTORC1 -> synaptic
proteins -> spines, IL-6 -> symptoms; side effects from the parent drug's S-equivalent unbound concentration
(blood pressure and heart rate weight R-ketamine by its own pressor potency, not its NMDA Ki ratio).
Every state obeys ``dx/dt = k (target - x)`` or ``dx/dt = gain * drive - k x``. Units: time h, effect-site
concentrations µM (unbound), plasma ng/mL; most PD variables are relative to the drug-free baseline (1).

Parameters live in ``data/parameters.csv`` (value, unit, source with DOI/PMID) and ``data/free_parameters.json``
(calibrated); each constant below says which it comes from and how it is derived. From this module are
generated: the compiled kernel (``solver/generated_kernel.py``), the reference right-hand side
(``solver/reference.py``), the output names/units/slots (``ketasim.result``) and the SBML export.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .core import Algebraic, Constant, Event, Function, Input, Model, Output, PatientParameter, State, Summary

LN2 = math.log(2)
#: x at which a two-stage onset 1 - (1 + x) exp(-x) reaches one half: -1 - W_-1(-1/(2e)) (Lambert W)
EPISODE_HALF_X = 1.6783469900166605


def _p(name, unit="dimensionless"):
    """Derivation: a literature parameter of data/parameters.csv, in ``unit``."""
    return lambda c: c.params.get(name, unit)


def _f(name, unit="dimensionless"):
    """Derivation: a free (calibrated) parameter of data/free_parameters.json, in ``unit``."""
    return lambda c: c.params.free_value(name, unit)


def _blinded_prior(c):
    """The design's probability of active drug after a randomized withdrawal's re-randomization (the share of arms
    that continue ketamine); population.p_active in every other design."""
    return c.p_active if c.p_blinded is None else c.p_blinded


def _design_expectancy(c, p_active):
    """Session expectancy: the care context (population.expectancy) x the design relation 1 + g (p - 0.5)/0.5 at
    the probability of active drug ``p_active`` (g = free: design_expectancy_gain)."""
    return c.expectancy * (1.0 + c.params.free_value("design_expectancy_gain") * (p_active - 0.5) / 0.5)


def _t_half(getter):
    """Derivation: rate constant ln2 / t_half (t_half in h)."""
    return lambda c: LN2 / getter(c)


def _nmda_r_weight(p):
    """R-ketamine's NMDA potency relative to S (Ki_S / Ki_R)."""
    return p.get("pd.ki.s_ketamine", "uM") / p.get("pd.ki.r_ketamine", "uM")


def _pressor_r_weight(p):
    """R-ketamine's sympathomimetic (pressor) potency relative to S: pd.pressor.r_ketamine_potency (not its NMDA Ki
    ratio)."""
    return p.get("pd.pressor.r_ketamine_potency")


def _s_eq(name, unit, mw=False, r_weight=_nmda_r_weight):
    """A racemic total plasma concentration -> the unbound S-equivalent (µM): C fu (0.5 + 0.5 w_R), w_R R-ketamine's
    potency relative to S (``r_weight(params)``: the NMDA Ki ratio by default, :func:`_pressor_r_weight` for blood
    pressure and heart rate)."""
    def derive(c):
        p = c.params
        x = p.get(name, unit) / (p.get("mw.ketamine", "g/mol") if mw else 1.0)
        return x * p.get("pk.fu") * (0.5 + 0.5 * r_weight(p))
    return derive


# ---- functions (links; each also an SBML FunctionDefinition) ------------------------------------------------
FUNCTIONS = (
    Function("occupancy_drive", ("ce_s", "ce_r", "ce_snk", "ce_rnk", "ki_s", "ki_r", "ki_snk", "ki_rnk"),
             "ce_s / ki_s + ce_r / ki_r + ce_snk / ki_snk + ce_rnk / ki_rnk",
             "Link 4: competitive drive of all blockers, sum Ce_j/Ki_j (Ebert 1997 Ki)."),
    Function("nmda_block", ("drive", "multiplier", "hill"),
             "piecewise((drive / multiplier) / (1 + drive / multiplier), hill == 1,"
             " (drive / multiplier) ** hill / (1 + (drive / multiplier) ** hill))",
             "Link 4: fraction blocked in a pool whose IC50 is multiplier x Ki: u^h/(1+u^h)."),
    Function("glutamate_target", ("block_interneuron", "block_pyramidal", "g_dis"),
             "(1 + g_dis * block_interneuron) * (1 - block_pyramidal)",
             "Links 5-6: disinhibition up, pyramidal block down (inverted U)."),
    Function("ampa_drive", ("glutamate", "ce_hnk", "w_hnk", "ec50_hnk", "ampa_block", "eps"),
             "(1 - ampa_block) * (max(0.5 * ((glutamate - 1) + sqrt((glutamate - 1) * (glutamate - 1) + eps * eps))"
             " - 0.5 * eps, 0) + piecewise(w_hnk * ce_hnk / (ce_hnk + ec50_hnk), w_hnk != 0, 0))",
             "Link 6: AMPA activation above baseline: smooth max(0, G - 1) (+ optional HNK); 0 under an AMPA block."),
    Function("bdnf_target", ("ampa", "block_pyramidal", "gain", "eef2_gain", "anesthetic_state"),
             "1 + gain * ampa * (1 + eef2_gain * block_pyramidal) * exp(-max(anesthetic_state, 0))",
             "Link 7: BDNF release gated by AMPA, amplified by the eEF2 route, suppressed by the anesthetic state."),
    Function("anesthetic_drive", ("block_pyramidal", "block50", "hill"),
             "piecewise(0, max(block_pyramidal, 0) / block50 < 0.001 and hill >= 6,"
             " (max(block_pyramidal, 0) / block50) ** hill / (1 + (max(block_pyramidal, 0) / block50) ** hill))",
             "Link 7: target of the anesthetic state (0-1); exactly negligible below 1e-18 (skips a pow)."),
    Function("trkb_activation", ("bdnf", "k", "hill"),
             "piecewise(max(bdnf, 0) * max(bdnf, 0) / (max(bdnf, 0) * max(bdnf, 0) + k * k) * (1 + k * k), hill == 2,"
             " max(bdnf, 0) ** hill / (max(bdnf, 0) ** hill + k ** hill) * (1 + k ** hill))",
             "Link 7: TrkB Hill activation normalised to 1 at BDNF = 1."),
    Function("mtorc1_target", ("trkb", "mtor_block"), "1 + (1 - mtor_block) * (trkb - 1)",
             "Link 7: mTORC1 follows TrkB unless rapamycin blocks it."),
    Function("protein_target", ("mtorc1", "gain"), "1 + gain * (mtorc1 - 1)", "Link 8: synaptic proteins."),
    Function("spine_target", ("proteins", "gain", "spine_block", "s0"),
             "s0 * (1 + (1 - spine_block) * gain * (proteins - 1))", "Link 9: spines around the stressed set point."),
    Function("il6_target", ("proteins", "repeat_effect"), "1 / (1 + max(repeat_effect * (proteins - 1), -0.9))",
             "Link 9: repeated dosing lowers IL-6."),
    # (both factors are >= 0 by construction: mTORC1 and synapses never fall below their baselines; no max(), which
    # made the SBML export's integrator chatter at the baseline)
    Function("consolidation_drive", ("mtorc1", "synapses_rel"), "(mtorc1 - 1) * (synapses_rel - 1)",
             "Link 9: a plasticity pulse (mTORC1 above baseline) that finds new synapses of an earlier dose stabilises "
             "them (synaptic tagging and capture; repeated experience stabilises new spines: Xu 2009, Yang 2009); "
             "after a first dose the pulse is over before new synapses exist, so it stays ~0."),
    Function("drug_relief", ("mtorc1", "proteins", "spines_rel", "w_mtorc1", "w_protein", "w_spine", "emax",
                             "sensitivity"),
             "emax * tanh(sensitivity * (w_mtorc1 * (mtorc1 - 1) + w_protein * (proteins - 1)"
             " + w_spine * (spines_rel - 1)))",
             "Link 10: acute (mTORC1), rapid (proteins) and sustained (functional new synapses, labile plus "
             "consolidated) drug components; the patient's response trait (sensitivity) scales the drive, so "
             "low-sensitivity patients respond only once repeated sessions have built up plasticity (late responders)."),
    Function("placebo_relief", ("expectancy", "gain"), "1 - exp(-gain * max(expectancy, 0))",
             "Link 10: non-specific relief from expectancy (no ceiling below full relief)."),
    Function("unblinding_shortfall", ("perceived_last", "learnt"),
             "piecewise(0, learnt <= 0, max(0, 1 - 2 * perceived_last / learnt))",
             "Link 10 (issue 7, maintenance): how strongly the last session lacked the perceptible effect the "
             "participant had learnt to expect (0-1): the placebo-side part of a log-likelihood ratio interpolated "
             "between 'as learnt' (x = m, evidence for active) and 'nothing' (x = 0, evidence for placebo) with "
             "symmetric guess accuracy, i.e. max(0, 1 - 2 x/m); 0 while nothing has been learnt (m = 0)."),
    Function("unblinding_support", ("perceived_last", "learnt"),
             "piecewise(0, learnt <= 0, max(0, min(1, 2 * perceived_last / learnt - 1)))",
             "Link 10 (issue 7, maintenance): how strongly the last session brought the perceptible effect the "
             "participant had learnt to expect (0-1): the active-side part of the same interpolated log-likelihood "
             "ratio as unblinding_shortfall, min(1, max(0, 2 x/m - 1)) (1 when the session brought at least what "
             "was learnt, 0 at half of it or less); the two are never both > 0, and shortfall - support = "
             "1 - 2 x/m clipped to [-1, 1]."),
    Function("belief_ratio", ("prior", "lr", "evidence", "gain"),
             "piecewise(1, evidence == 0 or prior <= 0 or prior >= 1,"
             " (1 + gain * (prior * lr ** evidence / (prior * lr ** evidence + 1 - prior) - 0.5) / 0.5)"
             " / (1 + gain * (prior - 0.5) / 0.5))",
             "Link 10 (issue 7, maintenance): functional unblinding of the renewal. The believed probability of "
             "active drug after the last session is the Bayesian update of the design's prior by the likelihood "
             "ratio lr ** evidence (lr = (1 - a)/a; evidence in [-1, 1]: > 0 the session lacked the learnt effect, "
             "evidence for placebo; < 0 it brought it and the learnt effect is known to be the drug's, evidence for "
             "active by the inverse ratio); the session's expectancy follows it through the design relation "
             "1 + gain (p - 0.5)/0.5 (free: design_expectancy_gain), as a ratio to the prior's value: 1 without "
             "evidence, in open label (prior 1) and for an all-placebo design (prior 0). Not accumulated over "
             "sessions: each renewal's belief is the posterior of the last session's evidence (at most a, so the "
             "renewal stays below the open-label one)."),
    Function("symptom_target", ("r_drug", "r_placebo", "r_care", "r_antidepressant", "r_natural"),
             "(1 - r_drug) * (1 - r_placebo) * (1 - r_care) * (1 - r_antidepressant) * (1 - r_natural)",
             "Link 10: D* = product of (1 - relief) over drug, expectancy, care setting, background therapy, natural "
             "course."),
    Function("recurrence_target", ("symptom_target", "episode"),
             "piecewise(symptom_target, episode <= 0, symptom_target + episode * (1 - symptom_target))",
             "Link 10 (issue 7, maintenance): a new depressive episode (0-1) undoes the relief of every source: "
             "1 - (1 - episode)(1 - D), D the treated severity; D itself, bit for bit, while there is no episode."),
    Function("smooth_step", ("x",), "piecewise(0, x <= 0, piecewise(1, x >= 1, x * x * x * (x * (6 * x - 15) + 10)))",
             "Link 10 (issue 7, maintenance): 0 for x <= 0, 1 for x >= 1, 6x^5 - 15x^4 + 10x^3 between (twice "
             "continuously differentiable, so the exponential integrator keeps its order; exactly 0 and 1 outside the "
             "ramp, so nothing accrues before it starts)."),
    Function("episode_onset", ("x",), "max(0, 1 - (1 + x) * exp(-x))",
             "Link 10 (issue 7, maintenance): a new episode's share x rate constants after its onset (gamma-2 "
             "onset, 0 at x = 0). max(0, .): an onset a rounding error ago (x ~ 1e-9) can give (1 + x) exp(-x) just "
             "above 1, an episode of -1e-16."),
    Function("emax_model", ("c", "emax", "ec50", "hill"),
             "piecewise(0, c <= 0, piecewise(emax * c / (c + ec50), hill == 1,"
             " piecewise(0, hill >= 3 and c < 1e-05 * ec50, emax * c ** hill / (c ** hill + ec50 ** hill))))",
             "Link 11: sigmoid Emax (0 for c <= 0; skips a negligible pow)."),
    Function("bounded_rise", ("x", "top"), "top * tanh(x / top)",
             "Link 11: a rating or rise x that cannot pass its maximum top (a scale's maximum, a physiological "
             "ceiling): x for x << top (relative shortfall x^2 / (3 top^2): 0.7 % at top / 8), at most top."),
    Function("sedation_effect", ("c_ket", "ec50_ket", "c_mdz", "ec50_mdz"),
             "1 - (1 - piecewise(c_ket / (c_ket + ec50_ket), c_ket > 0, 0))"
             " * (1 - piecewise(c_mdz / (c_mdz + ec50_mdz), c_mdz > 0, 0))",
             "Link 11: sedation of ketamine and midazolam, independent action."),
    Function("nausea_curve", ("drive", "pmax", "n50"),
             "pmax * max(drive, 0) * max(drive, 0) / (max(drive, 0) * max(drive, 0) + n50 * n50)",
             "Link 11: nausea probability on the lagged emetic drive."),
)

# ---- constants shared by the patients of an arm --------------------------------------------------------------
CONSTANTS = (
    Constant("ki_s", "uM", _p("pd.ki.s_ketamine", "uM"), "pd.ki.s_ketamine"),
    Constant("ki_r", "uM", _p("pd.ki.r_ketamine", "uM"), "pd.ki.r_ketamine"),
    # norketamine reaches the brain at a fraction of the parent's partition: its effective Ki at the (plasma-
    # equivalent) effect-site concentration is Ki / partition (the same for its NMDA block and side effects)
    Constant("ki_snk", "uM", lambda c: c.params.get("pd.ki.s_norketamine", "uM") / c.params.get("pk.norketamine.brain_partition"),
             "pd.ki.s_norketamine / pk.norketamine.brain_partition"),
    Constant("ki_rnk", "uM", lambda c: c.params.get("pd.ki.r_norketamine", "uM") / c.params.get("pk.norketamine.brain_partition"),
             "pd.ki.r_norketamine / pk.norketamine.brain_partition"),
    Constant("m_interneuron", "dimensionless", _p("pd.nmda.m_interneuron"), "pd.nmda.m_interneuron"),
    Constant("m_pyramidal", "dimensionless", _p("pd.nmda.m_pyramidal"), "pd.nmda.m_pyramidal"),
    Constant("nmda_hill", "dimensionless", _p("pd.nmda.hill"), "pd.nmda.hill"),
    Constant("g_dis", "dimensionless", _p("pd.glutamate.g_dis"), "pd.glutamate.g_dis"),
    Constant("w_hnk", "dimensionless",
             lambda c: c.params.get("pd.hnk.weight") if c.experiment.hnk_weight is None else c.experiment.hnk_weight,
             "pd.hnk.weight (or experiments.hnk_weight)"),
    Constant("ec50_hnk", "uM", _p("pd.hnk.ec50", "uM"), "pd.hnk.ec50"),
    Constant("bdnf_gain", "dimensionless", _f("bdnf_gain"), "free: bdnf_gain"),
    Constant("eef2_gain", "dimensionless", _p("pd.bdnf.eef2_gain"), "pd.bdnf.eef2_gain"),
    Constant("trkb_k", "dimensionless", _p("pd.trkb.k"), "pd.trkb.k"),
    Constant("trkb_hill", "dimensionless", _p("pd.trkb.hill"), "pd.trkb.hill"),
    Constant("protein_gain", "dimensionless", _f("protein_gain"), "free: protein_gain"),
    Constant("spine_gain", "dimensionless", _f("spine_gain"), "free: spine_gain"),
    Constant("il6_effect", "dimensionless", _p("pd.il6.repeat_effect"), "pd.il6.repeat_effect"),
    Constant("w_protein", "dimensionless", _f("weight_protein"), "free: weight_protein"),
    Constant("w_spine", "dimensionless", _f("weight_spine"), "free: weight_spine"),
    Constant("cadss_max", "dimensionless", _f("cadss_max"), "free: cadss_max"),
    Constant("cadss_ec50", "uM", _s_eq("pd.cadss.ec50_racemic_total", "uM"), "pd.cadss.ec50_racemic_total (S-eq)"),
    Constant("cadss_hill", "dimensionless", _f("cadss_hill"), "free: cadss_hill"),
    Constant("cadss_scale_max", "dimensionless", _p("observation.cadss_scale_max"), "observation.cadss_scale_max"),
    Constant("tolerance_gain", "1/h", _f("tolerance_gain", "1/h"), "free: tolerance_gain"),
    Constant("consolidation_gain", "1/h", _f("consolidation_gain", "1/h"), "free: consolidation_gain"),
    Constant("sbp_emax", "mmHg", _p("pd.sbp.emax", "mmHg"), "pd.sbp.emax"),
    Constant("w_pressor_r", "dimensionless", lambda c: _pressor_r_weight(c.params), "pd.pressor.r_ketamine_potency"),
    Constant("sbp_ec50", "uM", _s_eq("pd.sbp.ec50_racemic_total", "uM", r_weight=_pressor_r_weight),
             "pd.sbp.ec50_racemic_total (pressor S-eq)"),
    Constant("sbp_rise_max", "mmHg", _p("pd.sbp.rise_max", "mmHg"), "pd.sbp.rise_max"),
    Constant("dbp_emax", "mmHg", _p("pd.dbp.emax", "mmHg"), "pd.dbp.emax"),
    Constant("dbp_rise_max", "mmHg", _p("pd.dbp.rise_max", "mmHg"), "pd.dbp.rise_max"),
    Constant("hr_emax", "1/min", _p("pd.hr.emax", "1/min"), "pd.hr.emax"),
    Constant("hr_rise_max", "1/min", _p("pd.hr.rise_max", "1/min"), "pd.hr.rise_max"),
    Constant("hr_ec50", "uM", _s_eq("pd.hr.ec50_racemic_total", "uM", r_weight=_pressor_r_weight),
             "pd.hr.ec50_racemic_total (pressor S-eq)"),
    Constant("sedation_ec50", "uM", _s_eq("pd.sedation.ec50_racemic_total", "ng/mL", mw=True),
             "pd.sedation.ec50_racemic_total (S-eq)"),
    Constant("midazolam_ec50", "uM", _p("pd.midazolam.ec50_sedation", "uM"), "pd.midazolam.ec50_sedation"),
    Constant("nausea_pmax", "dimensionless", _f("nausea_pmax"), "free: nausea_pmax"),
    Constant("nausea_ec50", "uM", _f("nausea_ec50", "uM"), "free: nausea_ec50"),
    Constant("fu", "dimensionless", _p("pk.fu"), "pk.fu"),
    Constant("fu_midazolam", "dimensionless", _p("pk.midazolam.fu"), "pk.midazolam.fu"),
    Constant("mw_ketamine", "g/mol", _p("mw.ketamine", "g/mol"), "mw.ketamine"),
    Constant("mw_norketamine", "g/mol", _p("mw.norketamine", "g/mol"), "mw.norketamine"),
    Constant("mw_hnk", "g/mol", _p("mw.hnk", "g/mol"), "mw.hnk"),
    Constant("mw_midazolam", "g/mol", _p("mw.midazolam", "g/mol"), "mw.midazolam"),
    Constant("fm_hnk", "dimensionless", _p("pk.fm_hnk"), "pk.fm_hnk"),
    Constant("perception_gain", "1/h", lambda c: c.params.free_value("perception_gain", "1/h") * c.perception,
             "free: perception_gain x population.perception"),
    Constant("sedation_perception_weight", "dimensionless", _f("sedation_perception_weight"),
             "free: sedation_perception_weight"),
    Constant("expectancy_feedback", "dimensionless", _f("expectancy_feedback"), "free: expectancy_feedback"),
    Constant("feedback_scale", "dimensionless", _p("pd.expectancy.feedback_benefit_scale"),
             "pd.expectancy.feedback_benefit_scale"),
    Constant("k_episode", "1/h", lambda c: EPISODE_HALF_X / c.params.get("pd.recurrence.onset_t_half", "h"),
             "1.678 / pd.recurrence.onset_t_half (two-stage onset: half of a full episode at onset_t_half)"),
    # time in response, the clock of the recurrence time (issue 7, maintenance): the indicator's threshold and width
    # (fractions of baseline) and the ramp (h of time in response) over which a new episode's onset is switched on
    Constant("response_level", "dimensionless", _p("pd.recurrence.response_threshold"),
             "pd.recurrence.response_threshold"),
    Constant("response_width", "dimensionless", _p("pd.recurrence.response_smoothing"),
             "pd.recurrence.response_smoothing"),
    Constant("onset_ramp", "h", _p("pd.recurrence.onset_ramp", "h"), "pd.recurrence.onset_ramp"),
    # the clock from recovery (population.recurrence_clock: recovery): the minimum time in sustained remission
    # before recovery is ascribed (Rush 2006 ACNP task force: 4 months after the onset of remission) and the
    # time constant of the memory of time out of remission that measures it (h)
    Constant("recovery_duration", "h", _p("pd.recurrence.recovery_duration", "h"), "pd.recurrence.recovery_duration"),
    Constant("remission_memory_h", "h", _p("pd.recurrence.remission_memory", "h"), "pd.recurrence.remission_memory"),
    Constant("remission_width", "dimensionless", _p("pd.recurrence.remission_smoothing"),
             "pd.recurrence.remission_smoothing"),
    Constant("anesthesia_umol", "uM", _p("pd.anesthesia.threshold", "uM"), "pd.anesthesia.threshold"),
    Constant("ampa_block", "dimensionless", lambda c: c.experiment.ampa_block, "experiments.ampa_block"),
    Constant("mtor_block", "dimensionless", lambda c: c.experiment.mtor_block, "experiments.mtor_block"),
    Constant("spine_block", "dimensionless", lambda c: c.experiment.spine_block, "experiments.spine_block"),
    Constant("psychotherapy", "dimensionless", lambda c: c.experiment.psychotherapy, "experiments.psychotherapy"),
    Constant("session_expectancy", "dimensionless",   # care context x what the design lets participants expect
             lambda c: _design_expectancy(c, c.p_active),
             "population.expectancy x (1 + free: design_expectancy_gain x (population.p_active - 0.5)/0.5)"),
    # the same after a randomized withdrawal's re-randomization, with the blinded prior (both arms, maintenance:
    # participants continuing the drug are blinded 1:1 too; Rutherford 2014, doi:10.4088/JCP.13m08797); equal to
    # session_expectancy in every other design
    Constant("session_expectancy_blinded", "dimensionless",
             lambda c: _design_expectancy(c, _blinded_prior(c)),
             "population.expectancy x (1 + free: design_expectancy_gain x (p - 0.5)/0.5), p = the share of a "
             "randomized withdrawal's arms that continue ketamine (population.p_active otherwise)"),
    # negative functional unblinding (issue 7, maintenance): the design's prior probability of active drug before
    # and after a randomized withdrawal's re-randomization (both p_active otherwise), the time of the switch, the
    # likelihood ratio of a session that lacks the learnt effect, and the design relation's gain
    Constant("prior_active", "dimensionless", lambda c: c.p_active, "population.p_active"),
    Constant("prior_active_blinded", "dimensionless", _blinded_prior,
             "population.p_active, or the share of a randomized withdrawal's arms that continue ketamine, or 1 "
             "from population.open_label_from"),
    Constant("blinded_from_h", "h", lambda c: max(0.0, c.blinded_from_h - 0.5), "design.induction_until of a randomized withdrawal "
             "or population.open_label_from (0 otherwise), less 0.5 h"),
    Constant("unblinding_lr", "dimensionless",
             lambda c: (1.0 - c.params.get("pd.expectancy.unblinding_accuracy")) / c.params.get("pd.expectancy.unblinding_accuracy"),
             "(1 - a) / a, a = pd.expectancy.unblinding_accuracy"),
    Constant("design_gain", "dimensionless", _f("design_expectancy_gain"), "free: design_expectancy_gain"),
    # the active side of the update needs a reference known to be the drug's: an effect learnt in an open-label phase
    # (prior 1, e.g. a randomized withdrawal's shared induction). Without one, sessions that all feel alike say
    # nothing about the allocation (Shiroma 2020: 6 identical ketamine infusions, allocation guessed at chance)
    Constant("learnt_known_active", "dimensionless", lambda c: 1.0 if c.p_active >= 1 else 0.0,
             "1 if population.p_active is 1 (open label before any blinded phase), else 0"),
    Constant("perception_visibility", "dimensionless", lambda c: c.perception, "population.perception"),
    # in-patient / perioperative care in expectancy units (issue 7): what admission or surgery adds to the
    # non-specific context, relieved through the patient's own non-specific responsiveness (placebo_gain)
    Constant("care_expectancy", "dimensionless", _f("care_expectancy"), "free: care_expectancy"),
    Constant("monitor_cadss", "dimensionless", _p("monitoring.cadss_max"), "monitoring.cadss_max"),
    Constant("monitor_sedation", "dimensionless", _p("monitoring.sedation_max"), "monitoring.sedation_max"),
    Constant("monitor_sbp", "mmHg", _p("monitoring.sbp_rise_max", "mmHg"), "monitoring.sbp_rise_max"),
    Constant("w_mtorc1", "dimensionless", _f("weight_mtorc1"), "free: weight_mtorc1"),
    Constant("anes_block50", "dimensionless", _p("pd.anesthesia.block50"), "pd.anesthesia.block50"),
    Constant("anes_hill", "dimensionless", _p("pd.anesthesia.hill"), "pd.anesthesia.hill"),
    Constant("ampa_eps", "dimensionless", _p("pd.ampa.smoothing"), "pd.ampa.smoothing"),
    # the anesthetic-state hypothesis is a switch (experiments.anesthetic_state), off by default
    Constant("anes_onset", "1/h", lambda c: c.params.get("pd.anesthesia.onset_gain", "1/h") * c.experiment.anesthetic_state,
             "pd.anesthesia.onset_gain x experiments.anesthetic_state"),
    Constant("general_anesthesia_depth", "dimensionless",
             lambda c: c.params.get("pd.anesthesia.general_depth") * c.experiment.anesthetic_state,
             "pd.anesthesia.general_depth x experiments.anesthetic_state"),
    Constant("monitor_window_h", "h", _p("monitoring.window_h", "h"), "monitoring.window_h"),
)

# ---- rate constants of the states (1/h) ----------------------------------------------------------------------
RATES = (
    Constant("k_glutamate", "1/h", lambda c: 1.0 / c.params.get("pd.glutamate.tau", "h"), "1 / pd.glutamate.tau"),
    Constant("k_anesthetic", "1/h", _t_half(_p("pd.anesthesia.recovery_t_half", "h")),
             "ln2 / pd.anesthesia.recovery_t_half"),
    Constant("k_bdnf", "1/h", _t_half(_p("pd.bdnf.t_half", "h")), "ln2 / pd.bdnf.t_half"),
    Constant("k_mtorc1", "1/h", _t_half(_p("pd.mtorc1.t_half", "h")), "ln2 / pd.mtorc1.t_half"),
    Constant("k_bdnf_refill", "1/h", _t_half(_p("pd.bdnf.pool_refill_t_half", "h")),
             "ln2 / pd.bdnf.pool_refill_t_half"),
    Constant("k_proteins", "1/h", _t_half(_p("pd.synaptic.t_half", "h")), "ln2 / pd.synaptic.t_half"),
    Constant("k_spines", "1/h", _t_half(_p("pd.spine.t_half", "h")), "ln2 / pd.spine.t_half"),
    Constant("k_spines_held", "1/h",   # psychotherapy (hypothesis) slows the loss of new spines
             lambda c: LN2 / c.params.get("pd.spine.t_half", "h") * (1 - c.params.get("pd.spine.psychotherapy_slowing")),
             "ln2 / pd.spine.t_half x (1 - pd.spine.psychotherapy_slowing)"),
    Constant("k_il6", "1/h", _t_half(_p("pd.il6.t_half", "h")), "ln2 / pd.il6.t_half"),
    Constant("k_synapses", "1/h", _t_half(_p("pd.spine.maturation_t_half", "h")), "ln2 / pd.spine.maturation_t_half"),
    Constant("k_consolidation", "1/h", _t_half(_p("pd.spine.consolidated_t_half", "h")),
             "ln2 / pd.spine.consolidated_t_half"),
    Constant("k_tolerance", "1/h", _t_half(_f("tolerance_t_half", "h")), "ln2 / free: tolerance_t_half"),
    Constant("k_expectancy", "1/h", _t_half(_f("expectancy_t_half", "h")), "ln2 / free: expectancy_t_half"),
    Constant("k_care", "1/h", _t_half(_f("care_t_half", "h")), "ln2 / free: care_t_half"),
    Constant("k_antidepressant", "1/h", _t_half(_f("antidepressant_t_half", "h")),
             "ln2 / free: antidepressant_t_half"),
    Constant("k_emetic", "1/h", _t_half(_p("pd.nausea.t_half", "h")), "ln2 / pd.nausea.t_half"),
    Constant("k_severity", "1/h", _t_half(_f("symptom_t_half", "h")), "ln2 / free: symptom_t_half"),
    Constant("k_natural", "1/h", _t_half(_p("pd.natural_course.t_half", "h")), "ln2 / pd.natural_course.t_half"),
    Constant("k_clock", "1/h", lambda c: 0.0, "0: the clock only counts time (dclock/dt = 1)"),
    Constant("k_remission_memory", "1/h", lambda c: 1.0 / c.params.get("pd.recurrence.remission_memory", "h"),
             "1 / pd.recurrence.remission_memory"),
)


# ---- per-patient parameters ------------------------------------------------------------------------------------
def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return math.log(p / (1 - p))


CONDITION_FREE_PARAMETER = {"anxiety": "condition_anxiety", "ptsd": "condition_ptsd",
                            "suicidal_ideation": "condition_suicidal_ideation"}


def _bdnf_multiplier(c):
    p = c.params
    crp_ratio = c.patients.crp_mg_l / p.get("pd.crp.threshold", "mg/L")
    return c.patients.genotype_factor / (1.0 + p.get("pd.crp.moderation") * crp_ratio ** p.get("pd.crp.hill"))


def _latent_class(c, eta, fraction):
    """Membership (0-1) of the latent class made of the patients whose trait ``eta`` lies above its (1 - fraction)
    quantile (a liability-threshold model: a persistent standard-normal trait, a class above a threshold); the step is
    smoothed over pd.latent_class.softness SD of the trait so that the calibration's objective stays smooth."""
    from scipy.stats import norm

    z = norm.ppf(1.0 - fraction)
    return norm.cdf((eta - z) / c.params.get("pd.latent_class.softness"))


def _emax_drug(c):
    """Maximal drug relief per patient: a latent responder class (issue 7; responder / non-responder trajectories
    after ketamine, e.g. O'Brien 2019): responders reach emax_drug, non-responders nonresponder_emax_ratio of it.
    The trait persists across sessions; late responders come from the sensitivity trait (drug_sensitivity)."""
    p, spec = c.params, c.spec
    cond = p.free_value(CONDITION_FREE_PARAMETER[spec.condition]) if spec.condition in CONDITION_FREE_PARAMETER else 1.0
    member = _latent_class(c, c.patients.eta_emax, p.free_value("responder_fraction"))
    rho = p.free_value("nonresponder_emax_ratio")
    emax = p.free_value("emax_drug") * (rho + (1.0 - rho) * member)
    # age lowers the SIZE of the drug-specific response (Nelson 2008: the drug-placebo difference in late life is
    # 0.59x that of adults), not only its sensitivity: on the sensitivity alone repeated sessions saturate the drive
    # and the 28-day drug-placebo difference was no smaller in older patients (eighth session)
    return np.minimum(emax * cond * _age_factor(c, "drug"), 0.98)


def _age_factor(c, key):
    """exp(-k (age - reference)/10): how a response declines with age (key: drug | placebo)."""
    p = c.params
    return np.exp(-p.get(f"pd.age.{key}_decline_per_decade") * (c.patients.age_years - p.get("pd.age.reference_age", "year"))
                  / 10.0)


def _drug_sensitivity(c):
    return np.exp(c.params.free_value("omega_response") * c.patients.eta_response)


def _nonspecific_trait(c):
    """The patient's non-specific responsiveness relative to a typical non-member (median 1): log-normal (bounded
    spread omega_placebo) times a latent class of non-specific responders (the top nonspecific_fraction of the same
    trait, x nonspecific_ratio)."""
    p = c.params
    eta = c.patients.eta_placebo
    member = _latent_class(c, eta, p.free_value("nonspecific_fraction"))
    ratio = 1.0 + (p.free_value("nonspecific_ratio") - 1.0) * member
    return np.exp(p.free_value("omega_placebo") * eta) * ratio


def _placebo_gain(c):
    """Non-specific responsiveness per patient: placebo_gain x the non-specific trait: placebo arms are wide and
    partly bimodal (some patients improve a lot without the drug), with no ceiling on relief."""
    return c.params.free_value("placebo_gain") * _nonspecific_trait(c) * _age_factor(c, "placebo") \
        * _trd_placebo_factor(c)


def _antidepressant_emax(c):
    """Relief from a newly started oral antidepressant at full onset, per patient (fraction, 0-1): antidepressant_emax
    x age by default (with the hypothesis population.antidepressant_trd: x pd.antidepressant.trd_ratio for a
    treatment-resistant population, antidepressant_emax then being a first antidepressant's relief); with the
    hypothesis population.antidepressant_spread, that for a typical patient (trait 1), spread by the same
    non-specific trait: 1 - (1 - emax x age)^trait. The term
    also carries the non-specific part of starting a new treatment, and antidepressant arms are as wide as placebo
    arms (variance ratio drug/placebo of the change 1.00, 95 % CI 0.99-1.02, 222 trials: Munkholm 2020
    doi:10.1371/journal.pone.0237950); a wide spread is only compatible with that equal variance if placebo
    response and drug response are strongly correlated (Volkmann 2020 doi:10.1371/journal.pone.0241497)."""
    # A hypothesis, off by default (population.antidepressant_spread): its refit CV (ninth session) fitted better in
    # sample but predicted worse out of sample (NOTES.md); off, every patient gets antidepressant_emax x age (x the
    # treatment-resistance factor with the hypothesis population.antidepressant_trd)
    typical = c.params.free_value("antidepressant_emax") * _age_factor(c, "drug") * _trd_antidepressant_factor(c)
    if not c.spec.antidepressant_spread:
        return typical
    # age scales the typical patient's relief before the trait spreads it, so relief stays below 1 (as the age
    # factor outside the power it reached 1.7 for young high-trait patients: 12 % of an adult population above 1)
    return 1.0 - (1.0 - np.minimum(typical, 0.98)) ** _nonspecific_trait(c)


def _trd_antidepressant_factor(c):
    """Treatment resistance lowers the relief of a newly started oral antidepressant (STAR*D: HAM-D17 remission 28 %
    on the first antidepressant, ~16 % on a new one after two failed steps: pd.antidepressant.trd_ratio, on the
    relief scale) with the hypothesis population.antidepressant_trd; 1 otherwise and for a population that is not
    treatment resistant."""
    # A hypothesis, off by default (population.antidepressant_trd): with it the refit could not reproduce TRANSFORM's
    # placebo + new antidepressant arms (in-sample J +60; twelfth session, NOTES.md)
    return c.params.get("pd.antidepressant.trd_ratio") if c.spec.treatment_resistant and c.spec.antidepressant_trd \
        else 1.0


def _trd_placebo_factor(c):
    """Treatment resistance lowers non-specific responsiveness (placebo arms of TRD trials improve less than those
    of non-TRD trials: pd.placebo.trd_ratio); 1 for a population that is not treatment resistant."""
    return c.params.get("pd.placebo.trd_ratio") if c.spec.treatment_resistant else 1.0


def _bdnf_pool_capacity(c):
    """The releasable BDNF pool (baseline BDNF levels) with population.bdnf_release_pool (on by default since the
    twenty-ninth session): free bdnf_pool_capacity; 0 (no limit: release follows the AMPA drive) when off."""
    if not c.spec.bdnf_release_pool:
        return np.zeros(c.patients.n)
    return np.full(c.patients.n, c.params.free_value("bdnf_pool_capacity"))


def _contact_per_visit(c):
    """What one session adds to the care state (admission units): -ln(1 - visit_relief) / (care_expectancy x
    placebo_gain), so that the typical patient's relief per visit is visit_relief; 0 with population.visit_contact
    false."""
    p = c.params
    if not c.spec.visit_contact:
        return np.zeros(c.patients.n)
    per = -math.log(1.0 - p.free_value("visit_relief")) / (p.free_value("care_expectancy") * p.free_value("placebo_gain"))
    return np.full(c.patients.n, per)


def _care_intensity(c):
    """Care at trial entry (t = 0), relative to an in-patient admission: pd.care.intensity.<population.care_setting>
    (outpatient 0, inpatient 1, perioperative 1)."""
    return c.params.get(f"pd.care.intensity.{c.spec.care_setting}") * np.ones(c.patients.n)


#: recurrence time (h) given when population.recurrence is false: beyond any simulation (limits.MAX_TIME_H = 10 y)
NO_RECURRENCE_H = 1.0e12
HOURS_PER_YEAR = 8766.0          # 365.25 d


@dataclasses.dataclass(frozen=True)
class RecurrenceLaw:
    """The distribution of a patient's recurrence time T (h; issue 7, maintenance): Weibull with shape ``shape``
    and P(T <= 1 year) = ``p12``, i.e. cumulative hazard H(t) = -ln(1 - p12) (t / 8766 h) ** shape. ``shape`` 1 is
    the constant hazard -ln(1 - p12) / 8766 h. ``p12`` 0: no recurrence (T never). T is counted on the clock the
    population states (population.recurrence_clock): time since entry (the default), time spent in response, or time
    since recovery (a sustained remission)."""

    p12: float
    shape: float = 1.0

    @property
    def on(self) -> bool:
        return self.p12 > 0.0

    @property
    def hazard_per_h(self) -> float:
        """The constant hazard (1/h) of shape 1; for another shape, the hazard that gives the same p12."""
        return -math.log(1.0 - self.p12) / HOURS_PER_YEAR if self.on else 0.0

    def cumulative_hazard(self, t_h) -> np.ndarray:
        """H(t) = -ln P(T > t) for ``t_h`` (h, >= 0)."""
        t = np.maximum(np.asarray(t_h, float), 0.0)
        return -math.log(1.0 - self.p12) * (t / HOURS_PER_YEAR) ** self.shape

    def time_h(self, eta) -> np.ndarray:
        """T for standard-normal ``eta`` by the inverse CDF: H(T) = -ln(1 - Phi(eta)) (eta 0: the median).
        -ln(1 - Phi(eta)) is computed as -logsf(eta) (finite for any finite eta). Shape 1 keeps the constant hazard's
        formula T = -logsf(eta) / h bit for bit."""
        from scipy.stats import norm

        e = -norm.logsf(np.asarray(eta, float))
        if self.shape == 1.0:
            return e / self.hazard_per_h
        return HOURS_PER_YEAR * (e / -math.log(1.0 - self.p12)) ** (1.0 / self.shape)

    def eta_given_beyond(self, z, t_h) -> np.ndarray:
        """eta whose T is drawn from T given T > ``t_h`` (one per ``z``, or a common ``t_h``) by the inverse CDF of
        the conditional law: H(T) = H(t) - ln(1 - Phi(z)) for standard-normal ``z``, i.e. log(1 - Phi(eta)) =
        log(1 - Phi(z)) - H(t), solved in log space (finite for any z). For shape 1 this is the memoryless T = t +
        Exp(h); for shape < 1 it is not (the hazard has fallen by t). ``z`` itself where t <= 0."""
        from scipy.stats import norm

        z = np.asarray(z, float)
        t = np.broadcast_to(np.asarray(t_h, float), z.shape)
        eta = -norm.ppf(np.exp(norm.logsf(z) - self.cumulative_hazard(t)))
        return np.where(t > 0.0, eta, z)


def recurrence_law(c) -> RecurrenceLaw:
    """The recurrence-time law of a population (spec, params): P(T <= 12 months) = pd.recurrence.p12, or
    pd.recurrence.p12_treatment_resistant for a treatment-resistant population (Rush 2006: STAR*D remitters who
    continued the treatment that brought remission); shape pd.recurrence.weibull_shape (Kanai 2003: the risk falls
    with time since recovery) on the clock of time in response, 1 (constant hazard) on the clock from trial entry
    (population.recurrence_clock: entry, the model before the in-response clock) and on the clock from recovery
    (population.recurrence_clock: recovery: time since sustained remission, :data:`PATIENT` recovery_time); p12 0
    when population.recurrence is false."""
    if not c.spec.recurrence:
        return RecurrenceLaw(0.0)
    p12 = c.params.get("pd.recurrence.p12_treatment_resistant" if c.spec.treatment_resistant else "pd.recurrence.p12")
    if c.spec.recurrence_clock == "entry":
        return RecurrenceLaw(p12, 1.0)
    # response and recovery: Kanai's falling hazard (on the clock from recovery, the clock Kanai's cohort was
    # followed on; on the clock of time in response an extrapolation to the first hours in response)
    return RecurrenceLaw(p12, c.params.get("pd.recurrence.weibull_shape"))


def recurrence_hazard(c) -> float:
    """Constant hazard (1/h) that gives the population's 12-month probability (:func:`recurrence_law`): the hazard
    of the clock from trial entry; 0 when population.recurrence is false."""
    return recurrence_law(c).hazard_per_h


def recurrence_time_h(eta, hazard_per_h: float) -> np.ndarray:
    """Exponential time (h) with hazard ``hazard_per_h`` for standard-normal ``eta``: T = -ln(1 - Phi(eta)) / h
    (the clock from trial entry; :meth:`RecurrenceLaw.time_h` in general)."""
    from scipy.stats import norm

    return -norm.logsf(np.asarray(eta, float)) / hazard_per_h


def _recurrence_time(c):
    """Each patient's recurrence time T (h; :meth:`RecurrenceLaw.time_h` of eta_recurrence), counted on the
    population's recurrence clock; NO_RECURRENCE_H when switched off."""
    law = recurrence_law(c)
    if not law.on:
        return np.full(c.patients.n, NO_RECURRENCE_H)
    return law.time_h(c.patients.eta_recurrence)


def _remission_level(c):
    """Each patient's remission threshold as a fraction of the baseline score: the population scale's published
    remission threshold (points; population.SCALES, e.g. MADRS <= 10, HAM-D17 <= 7: Frank 1991) / baseline score.
    Read only by the clock from recovery (population.recurrence_clock: recovery); 0 for a scale without a published
    threshold (PopulationSpec refuses the recovery clock there)."""
    from ..population import SCALES

    thr = SCALES[c.spec.scale][1]
    if thr is None:
        return np.zeros(c.patients.n)
    return thr / np.asarray(c.patients.baseline, float)


def _lognormal(omega, eta):
    return lambda c: np.exp(c.params.free_value(omega) * getattr(c.patients, eta) - 0.5 * c.params.free_value(omega) ** 2)


def _natural_course_max(c):
    """Each patient's spontaneous improvement at full onset (fraction of baseline): the typical patient's
    natural_course_max for everyone; with population.natural_course_spread (a hypothesis, off by default: its refit
    CV was level, NOTES.md, sixteenth session) plus a normal between-patient spread omega_natural (some patients get
    worse without treatment), kept within [pd.natural_course.worst, 0.95]: without treatment a patient's score rises
    by at most -worst x the baseline score at full onset, and no patient loses every symptom spontaneously."""
    p = c.params
    if not c.spec.natural_course_spread:
        return np.full(c.patients.n, p.free_value("natural_course_max"))
    x = p.free_value("natural_course_max") + p.free_value("omega_natural") * c.patients.eta_natural
    return np.clip(x, p.get("pd.natural_course.worst"), 0.95)


PATIENT = (
    PatientParameter("natural_course_max", "dimensionless", _natural_course_max,
                     "free: natural_course_max (+ free: omega_natural x eta_natural, within "
                     "[pd.natural_course.worst, 0.95], with population.natural_course_spread)"),
    PatientParameter("weight_kg", "kg", lambda c: c.patients.weight_kg, "population"),
    # the gut depot holds the whole absorbed dose; of what leaves it, Fgut x Fh reaches the blood and the rest
    # (gut wall and liver first pass) forms norketamine (fm_nk): presystemic formation in both, as in Fanta 2015
    PatientParameter("fh_s", "dimensionless", lambda c: c.pk.fgut[:, 0] * c.pk.fh[:, 0],
                     "pk: gut-wall x hepatic escape, S"),
    PatientParameter("fh_r", "dimensionless", lambda c: c.pk.fgut[:, 1] * c.pk.fh[:, 1],
                     "pk: gut-wall x hepatic escape, R"),
    PatientParameter("fgut_s", "dimensionless", lambda c: np.ones(c.patients.n), "1: folded into fh_s"),
    PatientParameter("fgut_r", "dimensionless", lambda c: np.ones(c.patients.n), "1: folded into fh_r"),
    PatientParameter("f_iiv", "dimensionless", lambda c: c.pk.f_iiv, "pk: bioavailability random effect"),
    PatientParameter("cl_s", "L/h", lambda c: c.pk.cl[:, 0], "pk"),
    PatientParameter("cl_r", "L/h", lambda c: c.pk.cl[:, 1], "pk"),
    PatientParameter("cl_snk", "L/h", lambda c: c.pk.cl[:, 2], "pk"),
    PatientParameter("cl_rnk", "L/h", lambda c: c.pk.cl[:, 3], "pk"),
    PatientParameter("ke0", "1/h", lambda c: c.pk.ke0, "pk.t_half_ke0"),
    PatientParameter("bdnf_multiplier", "dimensionless", _bdnf_multiplier,
                     "BDNF genotype x CRP moderation (pd.crp.threshold, pd.crp.moderation, pd.crp.hill)"),
    PatientParameter("emax_drug", "dimensionless", _emax_drug,
                     "free: emax_drug, responder_fraction, nonresponder_emax_ratio (eta_emax), condition_* x age "
                     "(pd.age.drug_decline_per_decade)"),
    PatientParameter("drug_sensitivity", "dimensionless", _drug_sensitivity,
                     "free: omega_response (eta_response)"),
    PatientParameter("placebo_gain", "dimensionless", _placebo_gain,
                     "free: placebo_gain, omega_placebo, nonspecific_fraction, nonspecific_ratio (eta_placebo) x age "
                     "(pd.age.placebo_decline_per_decade) x treatment resistance (pd.placebo.trd_ratio)"),
    # contact per visit (issue 7, Posternak & Zimmerman 2007): every session is a clinic visit whose non-specific
    # benefit is cumulative over visits (not renewed like expectancy) and fades like care's; in admission units, so
    # the typical patient (non-specific trait 1, age factor 1) gains relief visit_relief per visit
    PatientParameter("contact_per_visit", "relative to an in-patient admission (1)", _contact_per_visit,
                     "-ln(1 - free: visit_relief) / (free: care_expectancy x free: placebo_gain) with "
                     "population.visit_contact (a hypothesis, off by default), else 0"),
    # a depletable releasable BDNF pool (twenty-eighth session, issue 7 item 6: the dose plateau): release is the AMPA
    # drive x exp(-released / capacity), so a longer surge releases less and less more BDNF
    PatientParameter("bdnf_pool_capacity", "baseline BDNF levels", _bdnf_pool_capacity,
                     "free: bdnf_pool_capacity with population.bdnf_release_pool (on by default), "
                     "else 0 (no limit)"),
    PatientParameter("care_intensity", "dimensionless", _care_intensity,
                     "pd.care.intensity.<population.care_setting>"),
    PatientParameter("antidepressant_emax", "dimensionless",
                     _antidepressant_emax,
                     "free: antidepressant_emax x age (pd.age.drug_decline_per_decade) x treatment resistance "
                     "(pd.antidepressant.trd_ratio, with the hypothesis population.antidepressant_trd); with "
                     "population.antidepressant_spread (a hypothesis, off by default) 1 - (1 - min(that, 0.98))"
                     "^(non-specific trait: omega_placebo, nonspecific_fraction, nonspecific_ratio (eta_placebo))"),
    PatientParameter("spine_set_point", "dimensionless",
                     lambda c: 1.0 / (1.0 + c.params.get("pd.spine.stress_loss")
                                      * (1.0 if c.spec.treatment_resistant else c.params.get("pd.spine.stress_non_trd")))
                     * np.ones(c.patients.n),
                     "pd.spine.stress_loss, pd.spine.stress_non_trd"),
    PatientParameter("bp_sensitivity", "dimensionless", _lognormal("omega_bp", "eta_bp"), "free: omega_bp"),
    PatientParameter("sedation_ec50_factor", "dimensionless",
                     lambda c: np.exp(c.params.get("iiv.sedation_ec50_cv") * c.patients.eta_sedation),
                     "iiv.sedation_ec50_cv x eta_sedation (median-preserving log-normal)"),
    PatientParameter("dissociation_sensitivity", "dimensionless", _lognormal("omega_dissociation", "eta_dissociation"),
                     "free: omega_dissociation"),
    PatientParameter("baseline_score", "points", lambda c: c.patients.baseline,
                     "severity at entry (the baseline rating; with population.baseline_rating_noise the rating less "
                     "the rater's noise: population.true_baseline)"),
    PatientParameter("scale_max", "points", lambda c: np.full(c.patients.n, float(c.spec.scale_max)),
                     "the population's rating scale's maximum"),
    # one yield whatever the product (issue 7); per patient because inducers raise it (pk.comedication_factors)
    PatientParameter("fm_nk", "dimensionless", lambda c: c.pk.fm_nk, "pk.fm_nk x inducers' yield factor"),
    PatientParameter("t_recurrence", "h", _recurrence_time,
                     "pd.recurrence.p12 or pd.recurrence.p12_treatment_resistant, pd.recurrence.weibull_shape "
                     "(eta_recurrence); population.recurrence, population.recurrence_clock"),
    # 1: the recurrence time counts from trial entry with a constant hazard (population.recurrence_clock: entry, the
    # default: the model before the in-response clock, bit for bit); 0: it counts time in response or since recovery
    PatientParameter("recurrence_from_entry", "dimensionless",
                     lambda c: np.full(c.patients.n, 1.0 if c.spec.recurrence_clock == "entry"
                                       else 0.0),
                     "population.recurrence_clock (1 entry: the default, 0 response or recovery)"),
    # 1: the recurrence time counts time since recovery (population.recurrence_clock: recovery): the states
    # remission_memory, recovery_excess and recovery_time run (gain 1); 0 for the other clocks (gain 0: the
    # generated kernel skips their drives)
    PatientParameter("recurrence_from_recovery", "dimensionless",
                     lambda c: np.full(c.patients.n, 1.0 if c.spec.recurrence_clock == "recovery"
                                       else 0.0),
                     "population.recurrence_clock (1 recovery, 0 otherwise)"),
    PatientParameter("remission_level", "dimensionless", _remission_level,
                     "the population scale's remission threshold (points) / baseline score"),
    # re-response after a new episode (reconsolidation): a switchable hypothesis, off by default (the refit
    # cross-validation was slightly worse out of sample with it, and the calibration set has no maintenance trial)
    PatientParameter("re_response", "dimensionless",
                     lambda c: np.full(c.patients.n, 1.0 if c.spec.re_response else 0.0),
                     "population.re_response (1 on, 0 off: the default)"),
)

INPUTS = (Input("ad_on", 0.0, "dimensionless", "1 once a background oral antidepressant has started"),
          # negative functional unblinding (issue 7, maintenance): bookkeeping of perceptible effects per session,
          # switched by the session events (piecewise constant between sessions)
          Input("perception_mark", 1.0, "h", "perception_total at the start of the last session (both start at 1)"),
          Input("learnt_perception", 0.0, "h", "the perceptible effect (integral of perceived over one session) the "
                "participant has learnt to expect: that of the last session that felt like the active drug "
                "(at least half of what had been learnt); 0 until a session brought any"),
          Input("session_mark_h", 0.0, "h", "the clock at the start of the last session (whether that session was "
                "already in a randomized withdrawal's blinded phase)"))

# ---- algebraic intermediates (evaluated at every solver node) ------------------------------------------------
ALGEBRAICS = (
    Algebraic("nmda_drive", "occupancy_drive(ce_s, ce_r, ce_snk, ce_rnk, ki_s, ki_r, ki_snk, ki_rnk)", "dimensionless"),
    Algebraic("nmda_block_interneuron", "nmda_block(nmda_drive, m_interneuron, nmda_hill)", "fraction"),
    Algebraic("nmda_block_pyramidal", "nmda_block(nmda_drive, m_pyramidal, nmda_hill)", "fraction"),
    Algebraic("ce_norketamine_seq", "ce_snk * ki_s / ki_snk + ce_rnk * ki_s / ki_rnk", "uM",
              "norketamine's S-equivalent at the effect site (NMDA potency at its brain partition, through ki_snk "
              "and ki_rnk)"),
    Algebraic("ce_parent", "ce_s + ce_r * ki_s / ki_r + ce_norketamine_seq", "uM",
              "S-equivalent unbound drug at the effect site: side effects follow it (norketamine at its brain "
              "partition, through ki_snk and ki_rnk)"),
    Algebraic("ce_pressor", "ce_s + ce_r * w_pressor_r + ce_norketamine_seq", "uM",
              "pressor S-equivalent unbound drug at the effect site (SBP, DBP, heart rate): R-ketamine at its own "
              "sympathomimetic potency relative to S (w_pressor_r; Pfenninger 2002), not its NMDA Ki ratio"),
    Algebraic("ampa_activation", "ampa_drive(glutamate, ce_hnk, w_hnk, ec50_hnk, ampa_block, ampa_eps)",
              "dimensionless"),
    Algebraic("bdnf_unlimited", "bdnf_target(ampa_activation, nmda_block_pyramidal, bdnf_gain * bdnf_multiplier, eef2_gain,"
                                " anesthetic_state)", "relative to baseline",
              "BDNF target without a pool limit; its excess over 1 is the activity-dependent release drive"),
    Algebraic("trkb", "trkb_activation(bdnf, trkb_k, trkb_hill)", "relative to baseline"),
    Algebraic("dissociation_drive", "emax_model(ce_parent, 1, cadss_ec50, cadss_hill)", "fraction"),
    Algebraic("sedation_index",
              "sedation_effect(ce_parent, sedation_ec50 * sedation_ec50_factor, ce_mdz, midazolam_ec50)", "index 0-1", "the patient's ketamine sedation EC50 spreads log-normally around the typical one"),
    Algebraic("perceived", "dissociation_sensitivity * dissociation_drive / (1 + tolerance)"
                           " + sedation_perception_weight * sedation_index",
              "dimensionless", "perceptible drug effects kindle expectancy (functional unblinding)"),
    Algebraic("spines_kept", "spines + psychotherapy * (spines_held - spines)", "relative to unstressed density",
              "spines counted downstream: with psychotherapy (0-1) partly or fully the slower-lost spines_held "
              "(never below the spines: both rise alike, spines_held falls more slowly)"),
    Algebraic("consolidated_spines", "(1 / spine_set_point - 1) * (consolidation - 1) / consolidation",
              "relative to pre-treatment (stressed) baseline",
              "stabilised new spines: at most the spines lost to chronic stress (Moda-Sava 2019: ketamine restores "
              "lost spines), reached as consolidation builds over repeated doses"),
    Algebraic("r_drug", "min(drug_relief(mtorc1, synaptic_proteins, synapses / spine_set_point + consolidated_spines,"
                        " w_mtorc1, w_protein, w_spine, emax_drug, drug_sensitivity), 0.98)", "fraction"),
    Algebraic("r_placebo", "placebo_relief(expectancy, placebo_gain)", "fraction"),
    Algebraic("r_care", "placebo_relief(care_expectancy * care, placebo_gain)", "fraction",
              "non-specific relief from in-patient or perioperative care: the patient's own non-specific "
              "responsiveness applied to the care state (not renewed by sessions)"),
    Algebraic("r_natural", "natural_course_max * natural_course", "fraction",
              "spontaneous improvement from trial entry (natural course, regression to the mean)"),
    Algebraic("r_antidepressant", "antidepressant_emax * antidepressant_onset", "fraction"),
    # time in response, the recurrence time's clock (issue 7, maintenance): 1 while the treated severity is at or
    # below half of baseline (pd.recurrence.response_threshold: the usual response definition, so no new number),
    # 0 above, and a C2 ramp over +-pd.recurrence.response_smoothing / 2 around the threshold. Why smooth: the
    # arm's shared grid cannot place each patient's threshold crossing, and a step in a state's forcing costs the
    # integrator its order (errors of a fraction of a step in the accrued time). Why this width (0.35-0.65 of
    # baseline): the band in which a single rating (SD 0.11 of a baseline of 33) calls the patient a responder with
    # probability 9-91 %, and narrower widths made endpoint scores depend on the output grid beyond the solver's
    # accuracy; compact, so a patient who never comes below 0.65 of baseline accrues exactly no time in response
    # and can have no new episode
    Algebraic("in_response", "smooth_step((response_level + 0.5 * response_width - treated_severity) / response_width)",
              "fraction (0-1)", "1 while the patient is in response (treated severity <= half of baseline), smoothed"),
    Algebraic("episode",
              "piecewise(piecewise(0, clock <= t_recurrence, episode_onset(k_episode * (clock - t_recurrence))),"
              " recurrence_from_entry > 0, piecewise(0, onset_time <= 0, episode_onset(k_episode * onset_time)))",
              "fraction of a full new episode",
              "a new depressive episode on continued treatment (issue 7, maintenance): 0 until the time the patient "
              "has spent in response (response_time) passes the patient's recurrence time T; from then on, in clock "
              "time (the episode ends the response, so it cannot wait for more time in response), 1 - (1 + x) exp(-x), "
              "x = k_episode u, u the time since the onset (onset_time): a two-stage onset (two first-order stages "
              "in series with rate k_episode each), half of a full episode at pd.recurrence.onset_t_half after the "
              "onset, in closed form of u. Two stages, not one: a one-stage onset starts with a kink (slope k at T) "
              "that the arm's shared time grid cannot place (2.2e-4 relative error in severity against the reference "
              "solver, target 1e-4); the two-stage onset starts with slope 0. With population.recurrence_clock: "
              "recovery, the onset starts when the time since recovery (recovery_time: a remission sustained for "
              "pd.recurrence.recovery_duration) passes T instead. With population.recurrence_clock: "
              "entry (the model before the in-response clock), the same onset from T counted from trial entry "
              "(clock - t_recurrence)"),
    Algebraic("severity", "recurrence_target(treated_severity,"
              " piecewise(episode, re_response <= 0, episode / reconsolidation))", "fraction of baseline score",
              "the score's fraction of baseline: the treated severity, taken back towards baseline by a new episode. "
              "With population.re_response (a hypothesis, off by default), continued dosing relieves again the share "
              "(R - 1)/R of the episode that the synapses consolidated since its onset (reconsolidation R) have "
              "restored: the episode's effective size is episode / R; off, severity reads episode itself (R's "
              "exponential update leaves it 1 only to rounding, which moved the score by 1e-14 points). "
              "Applied here, not in the treated severity's target: in the target, the compiler's fused multiply-adds "
              "moved every trajectory in the last bit even without an episode (the switch must leave the model as it "
              "was, bit for bit); the treated severity follows its target within minutes (symptom_t_half), so only "
              "that lag and the session's benefit feedback (which reads the treated severity) differ"),
)

# ---- states, in chain order (each may use only states above it) -------------------------------------------------
STATES = (
    State("glutamate", "1", "k_glutamate", "relative to drug-free baseline",
          target="glutamate_target(nmda_block_interneuron, nmda_block_pyramidal, g_dis)"),
    State("anesthetic_state", "0", "k_anesthetic", "dimensionless",
          drive="anesthetic_drive(nmda_block_pyramidal, anes_block50, anes_hill)", gain="anes_onset",
          doc="builds while > ~45 % of pyramidal receptors are blocked; fades over hours (hypothesis)"),
    # BDNF released since the releasable pool was last full (population.bdnf_release_pool): the release flux k_bdnf x
    # release, refilled with pd.bdnf.pool_refill_t_half; exactly 0 with the switch off
    State("bdnf_released", "0", "k_bdnf_refill", "baseline BDNF levels",
          drive="piecewise(0, bdnf_pool_capacity <= 0, bdnf_unlimited - 1)", gain="k_bdnf",
          doc="BDNF released since the releasable pool was full (0 unless population.bdnf_release_pool)"),
    State("bdnf", "1", "k_bdnf", "relative to baseline",
          target="piecewise(bdnf_unlimited, bdnf_pool_capacity <= 0,"
                 " 1 + (bdnf_unlimited - 1) * exp(-bdnf_released / max(bdnf_pool_capacity, 1e-12)))"),
    State("mtorc1", "1", "k_mtorc1", "relative to baseline", target="mtorc1_target(trkb, mtor_block)"),
    State("synaptic_proteins", "1", "k_proteins", "relative to baseline", target="protein_target(mtorc1, protein_gain)"),
    State("spines", "spine_set_point", "k_spines", "relative to unstressed density",
          target="spine_target(synaptic_proteins, spine_gain, spine_block, spine_set_point)",
          doc="spine density: new spines are labile (most turn over within days: Holtmaat 2005)"),
    # psychotherapy during the plasticity window (a hypothesis, off by default) slows the LOSS of new spines, not
    # their formation: spines_held has the spines' target and rises at their rate (so it equals them while they
    # form) but falls at the slowed rate (so it stays above them while they are lost)
    State("spines_held", "spine_set_point", "k_spines_held", "relative to unstressed density",
          target="spine_target(synaptic_proteins, spine_gain, spine_block, spine_set_point)", rate_rising="k_spines",
          doc="the spines as they would be if their loss were slowed by pd.spine.psychotherapy_slowing"),
    State("synapses", "spine_set_point", "k_synapses", "relative to unstressed density",
          target="spines_kept", doc="synapse-bearing (functional) spines: new spines acquire synapses over days (Knott 2006)"),
    # baseline 1 (not 0): dx/dt = gain x drive - k (x - 1). The same dynamics as a drive-form state from 0, but a
    # state that sits at exactly 0 while rounding noise drives it made the SBML export's CVODE fail (absolute
    # tolerances are scaled by the initial value)
    State("consolidation", "1", "k_consolidation", "dimensionless (1 = none; 2 = half of the stress-lost spines "
          "restored)", target="1 + consolidation_gain / k_consolidation * consolidation_drive(mtorc1, synapses"
          " / spine_set_point)",
          doc="new synapses stabilised by a later plasticity pulse: grows only with repeated dosing, decays over weeks"),
    State("il6", "1", "k_il6", "relative to baseline", target="il6_target(synaptic_proteins, il6_effect)"),
    State("tolerance", "0", "k_tolerance", "dimensionless", drive="dissociation_drive", gain="tolerance_gain"),
    # perceptible effects perceived so far (h x perceived), for negative functional unblinding: what a session
    # brought is perception_total minus its value at the session's start (perception_mark)
    # baseline 1, not 0 (only differences are read): a state that sits at exactly 0 while rounding noise drives it
    # made the SBML export's CVODE fail (as for consolidation)
    State("perception_total", "1", "k_clock", "h (perceived x time) + 1", drive="perceived", gain="perception_visibility",
          doc="1 + cumulative perceptible drug effect (no growth when effects cannot be perceived, population.perception 0)"),
    State("expectancy", "0", "k_expectancy", "arbitrary units (0 = none)", drive="perceived",
          gain="perception_gain * session_expectancy"),
    # in-patient / perioperative care (issue 7): starts with admission or surgery at trial entry, needs no session
    # to persist, fades over weeks with its own half-life (free: care_t_half); 0 throughout for outpatients
    State("care", "care_intensity", "k_care", "relative to an in-patient admission (1)", target="0",
          doc="non-specific care component of in-patient or perioperative treatment"),
    State("antidepressant_onset", "0", "k_antidepressant", "fraction of full onset", target="ad_on"),
    State("emetic_drive", "0", "k_emetic", "uM", target="ce_parent"),
    State("natural_course", "0", "k_natural", "fraction of the full spontaneous improvement", target="1"),
    # time since trial entry (the definition language has no time symbol): dclock/dt = 1, rate 0
    State("clock", "0", "k_clock", "h", drive="1", gain="1", doc="time since trial entry"),
    # what treatment, expectancy, care and the natural course make of the score; the reported severity adds a new
    # episode on top (algebraic ``severity`` below)
    State("treated_severity", "1", "k_severity", "fraction of baseline score",
          target="symptom_target(r_drug, r_placebo, r_care, r_antidepressant, r_natural)"),
    # time spent in response (h; issue 7, maintenance): the clock of the recurrence time T (Kanai 2003: the risk of
    # a new episode falls with the time since recovery, so it must not run while the patient is still ill)
    State("response_time", "0", "k_clock", "h", drive="in_response", gain="1",
          doc="time spent in response (treated severity <= half of baseline, smoothed): the recurrence time's clock"),
    # time since a new episode's onset (h of clock time): starts when the time in response passes T, switched on
    # over pd.recurrence.onset_ramp of time in response (a C2 ramp: a step would cost the integrator a fraction of
    # a step of the onset time, ~1e-3 of the episode; for a patient in response it delays the onset by half the
    # ramp); 0 throughout for population.recurrence_clock: entry (gain 0) and when recurrence is off (T never)
    # the clock from recovery (population.recurrence_clock: recovery; issue 7, maintenance). Frank 1991 (Arch Gen
    # Psychiatry 48:851, doi:10.1001/archpsyc.1991.01810330075011, PMID 1929776) and Rush 2006 (ACNP task force,
    # Neuropsychopharmacology 31:1841, doi:10.1038/sj.npp.1301131, PMID 16794566): a return of symptoms after the
    # onset of remission but before recovery is a relapse, the index episode coming back (here: the treated
    # severity rising again as relief is lost); only after recovery, a remission sustained for 4 months
    # (pd.recurrence.recovery_duration), can a new episode (recurrence) begin. Remission: the treated severity at
    # or below the scale's remission threshold (remission_level; the in-remission indicator is 1 there and falls
    # to 0 over the next pd.recurrence.remission_smoothing of baseline above it, a C2 ramp). The length of the current run of remission is
    # measured without a reset event (the kernel has none): remission_memory follows 1 - in-remission with time
    # constant pd.recurrence.remission_memory (14 d) from 1 at entry (ill), so after entering remission it decays
    # as exp(-t / 14 d) and the run is -14 d x ln(remission_memory), exactly the time since remission began for a
    # patient coming from a sustained episode. A patient who leaves remission before recovery refills the memory:
    # the run, and with it the count towards recovery, starts again (in full after a loss of remission much longer
    # than 14 d, in part after a shorter one: a dip of a day leaves -14 d x ln(1 - exp(-1/14)) = 37 d of the run)
    State("remission_memory", "1", "k_remission_memory", "dimensionless (1 = ill for long, 0 = in remission for long)",
          drive="k_remission_memory * (1 - smooth_step((remission_level + remission_width - treated_severity)"
                " / remission_width))",
          gain="recurrence_from_recovery",
          doc="memory of time out of remission (time constant pd.recurrence.remission_memory): the current run of "
              "remission is -remission_memory_h x ln(remission_memory)"),
    # hours by which the current run of remission has exceeded the recovery duration (C2 ramp over onset_ramp):
    # 0 until the first recovery, then it only grows, so it latches recovery (a later loss of remission is a
    # recurrence, or the relief lost, and does not undo recovery: Rush 2006)
    State("recovery_excess", "0", "k_clock", "h",
          drive="smooth_step((-remission_memory_h * log(max(remission_memory, 1e-300)) - recovery_duration)"
                " / onset_ramp)",
          gain="recurrence_from_recovery",
          doc="time by which a run of remission has passed the recovery duration (0 before the first recovery)"),
    # time since recovery (h of clock time), the recurrence time's clock on population.recurrence_clock: recovery:
    # runs at 1/h once recovery_excess passes onset_ramp (~3 d after the run reached the recovery duration) whatever
    # happens afterwards, as Kanai's cohort was followed from recovery
    State("recovery_time", "0", "k_clock", "h", drive="smooth_step(recovery_excess / onset_ramp)",
          gain="recurrence_from_recovery",
          doc="time since recovery (sustained remission): the recurrence time's clock on the clock from recovery"),
    State("onset_time", "0", "k_clock", "h",
          drive="smooth_step((piecewise(recovery_time, recurrence_from_recovery > 0, response_time) - t_recurrence)"
                " / onset_ramp)",
          gain="1 - recurrence_from_entry",
          doc="time since a new episode's onset (clock time): 0 until the recurrence clock (time in response, or "
              "time since recovery) passes T"),
    # re-response after a recurrence (issue 7, maintenance; a hypothesis, off by default: population.re_response):
    # the consolidation law above, accumulated only while a new episode is present (its drive weighted by episode),
    # so only dosing after the onset counts; 1 without an episode or when switched off (re_response 0: target 1; the
    # severity then does not read it, so the model is the one without it bit for bit)
    State("reconsolidation", "1", "k_consolidation", "dimensionless (1 = none; as consolidation)",
          target="1 + re_response * episode * consolidation_gain / k_consolidation"
                 " * consolidation_drive(mtorc1, synapses / spine_set_point)",
          doc="new synapses consolidated by dosing after a new episode's onset: a relapse on continued treatment "
              "responds again to continued sessions at the pace at which the treatment built its effect before "
              "(re-induction), and not without them"),
)

EVENTS = (
    # each session renews expectancy; a share of the boost depends on the benefit experienced so far.
    # renewed, not accumulated (issue 7: repeated saline sessions, and the sedation of repeated midazolam sessions,
    # kept adding benefit): a session sets expectancy to what the setting, the design and the benefit experienced
    # so far let the participant expect; what this session's perceptible effects kindle is added during it.
    # Measured alternatives (NOTES.md): adding each boost (accumulation: worst out of sample), max(expectancy, boost)
    # (kindling then accumulated over sessions and carried the days-long drug effect), a separate fast kindled state
    # Negative functional unblinding (issue 7, maintenance): a blinded session that lacked the perceptible effect
    # the participant had learnt to expect lowers the believed probability of active drug (Bayes, likelihood ratio
    # from within-patient guess accuracy, pd.expectancy.unblinding_accuracy) and with it the next renewal
    # (belief_ratio; the belief formed in one session sets the next session's renewal). The active side: a blinded
    # session that brought the learnt effect raises the belief by the inverse ratio, but only where the learnt effect
    # is known to be the drug's (learnt in an open-label phase: learnt_known_active) and the session was itself in
    # the blinded phase (session_mark_h >= blinded_from_h); elsewhere positive unblinding is the kindling during
    # sessions (perception_gain). The belief is not accumulated over sessions: each renewal uses the posterior of the
    # last session's evidence against the design prior (blinding literature: guess accuracy does not rise with
    # further sessions; docs/model.md "Negative functional unblinding"). The events read values from just
    # before the session and are ordered so that none reads what another has just set (the SBML export applies a
    # session's assignments simultaneously). After a randomized withdrawal's re-randomization (blinded_from_h) the
    # renewal follows the blinded prior in both arms (session_expectancy_blinded: continuing participants no longer
    # know they receive the drug), with the unblinding update on top.
    Event("session", "expectancy", "=",
          "piecewise(session_expectancy_blinded, clock >= blinded_from_h, session_expectancy)"
          " * (1 - expectancy_feedback + expectancy_feedback * min(1, max(0, 1 - treated_severity) / feedback_scale))"
          " * belief_ratio(piecewise(prior_active_blinded, clock >= blinded_from_h, prior_active), unblinding_lr,"
          " unblinding_shortfall(perception_total - perception_mark, learnt_perception)"
          " - piecewise(unblinding_support(perception_total - perception_mark, learnt_perception),"
          " learnt_known_active > 0 and session_mark_h >= blinded_from_h, 0), design_gain)"),
    Event("session", "learnt_perception", "=",
          "piecewise(perception_total - perception_mark, perception_total - perception_mark >= 0.5 * learnt_perception,"
          " learnt_perception)"),
    Event("session", "perception_mark", "=", "perception_total"),
    Event("session", "session_mark_h", "=", "clock"),
    # contact per visit: each session adds its cumulative non-specific benefit to the care state (which fades with
    # care_t_half); in-patient or perioperative care at entry is the state's start, not an event
    Event("session", "care", "+", "contact_per_visit"),
    Event("general_anesthesia", "anesthetic_state", "+", "general_anesthesia_depth"),
    Event("antidepressant_start", "ad_on", "=", "1"),
)

# ---- outputs: the trajectory columns (DESIGN.md contract), in order ------------------------------------------
OUTPUTS = (
    Output("cp_s_ketamine_ng_ml", "cp_s", "ng/mL"),
    Output("cp_r_ketamine_ng_ml", "cp_r", "ng/mL"),
    Output("cp_ketamine_ng_ml", "cp_s + cp_r", "ng/mL"),
    Output("cp_norketamine_ng_ml", "cp_snk + cp_rnk", "ng/mL"),
    Output("cp_hnk_ng_ml", "cp_hnk", "ng/mL"),
    Output("cp_midazolam_ng_ml", "cp_mdz", "ng/mL"),
    Output("ce_ketamine_ng_ml", "(ce_s + ce_r) / fu * mw_ketamine", "ng/mL (effect site, plasma-equivalent total)"),
    Output("nmda_block_interneuron", "nmda_block_interneuron", "fraction"),
    Output("nmda_block_pyramidal", "nmda_block_pyramidal", "fraction"),
    Output("glutamate", "glutamate", "relative to drug-free baseline"),
    Output("ampa", "1 + ampa_activation", "relative to baseline"),
    Output("bdnf", "bdnf", "relative to baseline"),
    Output("trkb", "trkb", "relative to baseline"),
    Output("mtorc1", "mtorc1", "relative to baseline"),
    Output("synaptic_proteins", "synaptic_proteins", "relative to baseline"),
    Output("spine_density", "spines_kept / spine_set_point + consolidated_spines",
           "relative to pre-treatment (stressed) baseline (labile + consolidated spines)"),
    Output("il6", "il6", "relative to baseline"),
    Output("expectancy", "expectancy", "arbitrary units (0 = none)"),
    Output("antidepressant_onset", "antidepressant_onset", "fraction of full onset"),
    Output("severity", "severity", "fraction of baseline score"),
    # a rating cannot pass its scale's maximum, nor a rise its physiological ceiling (bounded_rise: unchanged for
    # the typical patient, the log-normal sensitivities' upper tail saturates instead of reaching 433 CADSS points
    # or +360 mmHg)
    Output("cadss", "bounded_rise(cadss_max * dissociation_sensitivity * dissociation_drive / (1 + tolerance),"
           " cadss_scale_max)", "CADSS points"),
    Output("sbp_change_mmhg", "bounded_rise(bp_sensitivity * emax_model(ce_pressor, sbp_emax, sbp_ec50, 1),"
           " sbp_rise_max)", "mmHg"),
    Output("dbp_change_mmhg", "bounded_rise(bp_sensitivity * emax_model(ce_pressor, dbp_emax, sbp_ec50, 1),"
           " dbp_rise_max)", "mmHg"),
    Output("hr_change_bpm", "bounded_rise(bp_sensitivity * emax_model(ce_pressor, hr_emax, hr_ec50, 1),"
           " hr_rise_max)", "beats/min"),
    Output("sedation", "sedation_index", "index 0-1"),
    Output("nausea_probability", "nausea_curve(emetic_drive, nausea_pmax, nausea_ec50)", "probability"),
    # racemate-equivalent level: each enantiomer weighted by its NMDA affinity (the rule of the block, the glutamate
    # fall and regimen.anesthetic_potency), scaled so that a racemate's equal S and R read as their sum
    Output("anesthesia", "piecewise(1, 2 * (cp_s + cp_r * ki_s / ki_r) / (1 + ki_s / ki_r) / mw_ketamine"
           " >= anesthesia_umol, 0)",
           "flag (venous plasma ketamine, racemate-equivalent by NMDA affinity, >= 5 µM: see pd.anesthesia.threshold)"),
    Output("anesthetic_state", "anesthetic_state", "dimensionless (0 = none; plasticity scaled by exp(-x))"),
    # a score cannot pass the scale's maximum (a patient whose natural course worsens: free: omega_natural)
    Output("score", "min(severity * baseline_score, scale_max)", "points on the population's scale"),
    # arterial plasma (what drives the effect site; cp_* above are venous, what studies sample): issue 7
    Output("ca_s_ketamine_ng_ml", "ca_s", "ng/mL (arterial)"),
    Output("ca_r_ketamine_ng_ml", "ca_r", "ng/mL (arterial)"),
    Output("ca_ketamine_ng_ml", "ca_s + ca_r", "ng/mL (arterial)"),
    # a new depressive episode on continued treatment (issue 7, maintenance): 0 until the recurrence time
    Output("episode", "episode", "fraction of a full new episode (0 = none)"),
    # the recurrence time's clock (issue 7, maintenance): time spent in response so far
    Output("response_time_h", "response_time", "h (time spent in response: severity <= half of baseline, smoothed)"),
    # the clock from recovery (population.recurrence_clock: recovery): time since recovery, 0 before it (and
    # throughout on the other clocks)
    Output("recovery_time_h", "recovery_time", "h (time since recovery: a remission sustained for "
           "pd.recurrence.recovery_duration; 0 before, and on the other recurrence clocks)"),
)

# ---- per-session summaries (peaks within the monitoring window; discharge readiness) ---------------------------
SUMMARIES = (
    Summary("cadss_peak", "cadss", "CADSS points"),
    Summary("sbp_change_peak", "sbp_change_mmhg", "mmHg"),
    Summary("dbp_change_peak", "dbp_change_mmhg", "mmHg"),
    Summary("hr_change_peak", "hr_change_bpm", "beats/min"),
    Summary("sedation_peak", "sedation", "index 0-1"),
    Summary("nausea_probability", "nausea_probability", "probability"),
)
#: > 0 while any discharge criterion (CADSS <= 4, sedation <= 0.25, SBP rise <= 10 mmHg) is unmet.
DISCHARGE_MARGIN = ("max(max(cadss / monitor_cadss - 1, sedation / monitor_sedation - 1),"
                    " sbp_change_mmhg / monitor_sbp - 1)")

MODEL = Model(name="ketasim", functions=FUNCTIONS, constants=CONSTANTS, patient=PATIENT, rates=RATES, inputs=INPUTS,
              algebraics=ALGEBRAICS, states=STATES, events=EVENTS, outputs=OUTPUTS, summaries=SUMMARIES,
              discharge_margin=DISCHARGE_MARGIN, doc=__doc__)
MODEL.validate()
