"""Words every layer shares, defined once: the notice, trial measures (with their labels), and the variables
summarised as population bands. No imports from the rest of the package, so any layer may use it."""

from __future__ import annotations

NOTICE = "ketasim is a research and teaching tool, not medical advice."

#: Trial measures on the symptom scale, of a randomized withdrawal, and of side effects (per patient, all sessions).
SCORE_MEASURES = ("mean", "mean_change", "response_rate", "remission_rate")
RELAPSE_MEASURES = ("relapse_rate", "time_to_relapse")
#: Adverse events counted as trials count them (incidence per patient over the period; ketasim.adverse_events).
ADVERSE_EVENTS = ("dissociation", "dizziness", "nausea", "vomiting", "sedation", "blood_pressure_increased")
AE_MEASURES = tuple(f"{e}_rate" for e in ADVERSE_EVENTS)
SIDE_EFFECT_MEASURES = ("cadss_peak", "sbp_change_peak", "dbp_change_peak", "hr_change_peak", "sedation_peak",
                        "hypertension_rate", "discharge_2h_rate") + AE_MEASURES + ("sbp_max_rise", "dbp_max_rise")
#: Pharmacokinetic endpoints (non-compartmental analysis of sampled plasma levels, ketasim.nca).
PK_MEASURES = ("cmax", "tmax", "auc_0_t", "auc_0_inf", "t_half")
KNOWN_MEASURES = SCORE_MEASURES + RELAPSE_MEASURES + SIDE_EFFECT_MEASURES + PK_MEASURES
DEFAULT_MEASURES = SCORE_MEASURES


def known_measures_text() -> str:
    """Every measure of :data:`KNOWN_MEASURES` in one short line (the adverse-event rates and the sbp/dbp pairs
    written once): the plain list (371 characters) was cut in the middle by the errors' one-line limit."""
    rest = [m for m in KNOWN_MEASURES if m not in AE_MEASURES and m not in (
        "sbp_change_peak", "dbp_change_peak", "hr_change_peak", "sbp_max_rise", "dbp_max_rise")]
    k = rest.index("sedation_peak")
    rest[k:k] = ["sbp/dbp/hr_change_peak"]
    rest.insert(rest.index("discharge_2h_rate") + 1, "sbp/dbp_max_rise")
    return ", ".join(rest) + f", and EVENT_rate for {', '.join(ADVERSE_EVENTS)}"
#: What the dashboard's trial panel reports.
DASHBOARD_TRIAL_MEASURES = SCORE_MEASURES + ("cadss_peak", "sbp_change_peak", "discharge_2h_rate")
MEASURE_LABELS = {
    "mean": "mean score", "mean_change": "mean change from baseline", "response_rate": "response rate (%)",
    "remission_rate": "remission rate (%)", "relapse_rate": "relapse rate (%)",
    "followed_fraction": "followed in the open-label follow-up (%)", "randomized_fraction": "randomized (%)",
    "time_to_relapse": "median time to relapse (d, Kaplan-Meier)",
    "relapse_hazard_ratio": "hazard ratio of relapse (Cox)", "cadss_peak": "CADSS peak",
    "sbp_change_peak": "systolic BP rise, peak (mmHg)", "dbp_change_peak": "diastolic BP rise, peak (mmHg)",
    "hr_change_peak": "heart-rate rise, peak (beats/min)", "sedation_peak": "sedation peak (index)",
    "nausea_rate": "nausea, incidence (%)", "dissociation_rate": "dissociation, incidence (%)",
    "dizziness_rate": "dizziness, incidence (%)", "vomiting_rate": "vomiting, incidence (%)",
    "sedation_rate": "sedation, incidence (%)",
    "blood_pressure_increased_rate": "blood pressure increased, incidence (%)", "hypertension_rate": "BP >= 180/110 mmHg (%)",
    "discharge_2h_rate": "discharge criteria met by 2 h (%)",
    "sbp_max_rise": "systolic BP, mean maximum rise from pre-dose (mmHg, largest session)",
    "dbp_max_rise": "diastolic BP, mean maximum rise from pre-dose (mmHg, largest session)",
    "cmax": "Cmax (ng/mL, geometric mean)", "tmax": "Tmax (h, median)", "auc_0_t": "AUC0-t (ng*h/mL, geometric mean)",
    "auc_0_inf": "AUC0-inf (ng*h/mL, geometric mean)", "t_half": "t1/2 (h, geometric mean)",
}

#: Population bands of a trial, as panels: (title, ((column, label), ...)). The trial stores exactly these.
TRIAL_PANELS = (
    ("Symptom score", (("score", "score"),)),
    ("Plasma ketamine (ng/mL)", (("cp_ketamine_ng_ml", "ketamine"),)),
    ("NMDA block, interneurons (fraction)", (("nmda_block_interneuron", "interneurons"),)),
    ("Glutamate (rel.)", (("glutamate", "glutamate"),)),
    ("BDNF / mTORC1 (rel.)", (("bdnf", "BDNF"), ("mtorc1", "mTORC1"))),
    ("Synapses (rel.)", (("synaptic_proteins", "synaptic proteins"), ("spine_density", "spine density"))),
    ("Dissociation (CADSS)", (("cadss", "CADSS"),)),
    ("Systolic BP change (mmHg)", (("sbp_change_mmhg", "SBP change"),)),
    ("Sedation (index)", (("sedation", "sedation"),)),
)
TRIAL_BAND_VARIABLES = tuple(col for _, series in TRIAL_PANELS for col, _ in series)
#: Population bands of a simulation report (more of the chain than a trial keeps).
BAND_VARIABLES = ("score", "cp_ketamine_ng_ml", "cp_norketamine_ng_ml", "cp_midazolam_ng_ml", "nmda_block_interneuron",
                  "nmda_block_pyramidal", "glutamate", "ampa", "bdnf", "trkb", "mtorc1", "synaptic_proteins",
                  "spine_density", "cadss", "sbp_change_mmhg", "dbp_change_mmhg", "hr_change_bpm", "sedation",
                  "nausea_probability")
