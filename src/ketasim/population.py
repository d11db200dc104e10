"""Virtual patients: covariates and random effects, sampled with an explicit seed or Generator.

A :class:`PopulationSpec` is the validated ``population:`` section of a scenario; :func:`sample_patients`
turns it into a :class:`Patients` table of arrays (one entry per virtual patient). Randomness is an argument.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import warnings

import numpy as np

from .errors import BaselineWarning, InputError
# the age rule lives in limits (no import cycle); callers import it from here too
from .limits import AGE_RANGE, check_population_age  # noqa: F401
from .parameters import ParameterSet

CONDITIONS = ("depression", "anxiety", "ptsd", "suicidal_ideation")
#: Rating scales: (max score, default remission threshold "score <= threshold" or None when no published threshold
#: was found, condition it reads). The model produces a score as relief relative to each patient's baseline on the
#: chosen scale (score = severity x baseline; output "score" in model/definition.py), so the scale sets the range,
#: the rater noise (rating_noise_sd x max), the default baseline and the remission threshold, never the dynamics.
#: Response is a reduction by endpoints.response_reduction (default 50 %) on every scale.
SCALES = {
    "madrs": (60.0, 10.0, "depression"),
    "hamd17": (52.0, 7.0, "depression"),
    "hama": (56.0, 7.0, "anxiety"),
    "caps5": (80.0, 20.0, "ptsd"),
    # Beck's Scale for Suicide Ideation (SSI; its self-report form is the BSS/BSSI, same 19 scored items): 19 items
    # scored 0-2 = 0-38 (Beck, Kovacs & Weissman 1979, J Consult Clin Psychol 47:343, doi:10.1037/0022-006X.47.2.343).
    # Aliases bssi, bss, beck-ssi (SCALE_ALIASES) name this scale, not a second one.
    "ssi": (38.0, 2.0, "suicidal_ideation"),
    # HDRS-21 (Hamilton 1960, J Neurol Neurosurg Psychiatry 23:56, doi:10.1136/jnnp.23.1.56): the 17 scored items
    # (0-52) plus diurnal variation 0-2, depersonalisation/derealisation 0-4, paranoid symptoms 0-3, obsessional
    # symptoms 0-2 = 0-63. Remission <= 7: the HAM-D consensus cutoff (Frank 1991, Arch Gen Psychiatry 48:851,
    # PMID 1929776), the criterion of Zarate 2006 (Arch Gen Psychiatry 63:856, doi:10.1001/archpsyc.63.8.856, HDRS-21
    # primary outcome, 29 % remission at day 1) as far as its abstract-level sources show; not re-read in the full
    # text this session (NOTES). Response >= 50 % reduction (Zarate 2006).
    "hamd21": (63.0, 7.0, "depression"),
    # HDRS-24: the 21 items plus helplessness, hopelessness, worthlessness, 0-4 each = 0-75. Remission <= 10 and
    # response >= 50 % reduction: CORE (Husain 2004, J Clin Psychiatry 65:485, doi:10.4088/jcp.v65n0406,
    # PMID 15119910; remission there also needs two consecutive ratings, which a trial endpoint here does not).
    "hamd24": (75.0, 10.0, "depression"),
    # MADRS item 10 (suicidal thoughts), 0-6. "Remission" <= 1 (at most fleeting suicidal thoughts): Price 2009
    # (Biol Psychiatry 66:522, doi:10.1016/j.biopsych.2009.04.029, PMID 19545857) reports the share rated 0 or 1
    # 24 h after ketamine; no formal remission criterion on this item was found.
    "madrs_si": (6.0, 1.0, "suicidal_ideation"),
    # Miller's Modified Scale for Suicidal Ideation: 18 items scored 0-3 = 0-54 (Miller 1986, J Consult Clin Psychol
    # 54:724, doi:10.1037/0022-006X.54.5.724). No published remission threshold was found: None, so a trial with
    # remission_rate on mssi needs endpoints.remission_threshold.
    "mssi": (54.0, None, "suicidal_ideation"),
    # Impact of Event Scale-Revised: 22 items scored 0-4 = 0-88 (Weiss & Marmar 1997, in Assessing Psychological
    # Trauma and PTSD, Guilford; primary outcome of Feder 2014, JAMA Psychiatry 71:681,
    # doi:10.1001/jamapsychiatry.2014.62). Threshold <= 32: below the probable-PTSD cutoff of 33 (Creamer 2003,
    # Behav Res Ther 41:1489, doi:10.1016/j.brat.2003.07.010); a caseness cutoff, not a trial's remission criterion.
    "iesr": (88.0, 32.0, "ptsd"),
    # Liebowitz Social Anxiety Scale: 24 situations rated for fear 0-3 and avoidance 0-3 = 0-144 (Liebowitz 1987,
    # Mod Probl Pharmacopsychiatry 22:141, PMID 2885745); remission <= 30 (Rytwinski et al. 2009, Depress Anxiety
    # 26:34, doi:10.1002/da.20503, ROC against remission status). Social anxiety disorder reads as "anxiety" here
    # (the model has one anxiety condition; Taylor 2018 rated LSAS). Default baseline: DEFAULT_BASELINE.
    "lsas": (144.0, 30.0, "anxiety"),
    # Quick Inventory of Depressive Symptomatology, 16-item self-report: 0-27; remission <= 5 (Rush et al. 2003, Biol
    # Psychiatry 54:573, doi:10.1016/S0006-3223(02)01866-8; the STAR*D criterion). Default baseline: DEFAULT_BASELINE.
    "qids_sr16": (27.0, 5.0, "depression"),
    # Beck Depression Inventory-II: 21 items 0-3 = 0-63; "minimal" range 0-13 used as remission (Beck, Steer & Brown
    # 1996, BDI-II manual, Psychological Corporation; cut-offs confirmed by Dozois, Dobson & Ahnberg 1998, Psychol
    # Assess 10:83, doi:10.1037/1040-3590.10.2.83). Default baseline: DEFAULT_BASELINE.
    "bdi2": (63.0, 13.0, "depression"),
    # PTSD Checklist for DSM-5 (self-report): 20 items (the 20 DSM-5 PTSD symptoms) rated 0-4 = 0-80 (Blevins,
    # Weathers, Davis, Witte & Domino 2015, J Trauma Stress 28:489, doi:10.1002/jts.22059: abstract read; the 0-4
    # items and the 0-80 total as the National Center for PTSD's scoring instructions give them, read in secondary
    # reproductions). Threshold <= 30: below all of the probable-PTSD cutoffs 31 to 33 that were "optimally
    # efficient" against the CAPS-5 in veterans (Bovin et al. 2016, Psychol Assess 28:1379, doi:10.1037/pas0000254,
    # PMID 26653052: abstract read; 31-33 also the recommended range of Forkus et al.'s systematic review (2022),
    # Clin Psychol (New York) 30:110, doi:10.1037/cps0000111, abstract read). A caseness cutoff like the IES-R's, not a
    # trial's remission criterion (state endpoints.remission_threshold: 32 for "below 33"). The DSM-IV PCL (PCL-C,
    # PCL-M, PCL-S: 17 items 1-5 = 17-85) is another instrument and would not fit here (the model's scales start at 0).
    "pcl5": (80.0, 30.0, "ptsd"),
    # Generalized Anxiety Disorder 7-item scale (self-report): 7 items 0-3 = 0-21; 5, 10 and 15 are the cut points of
    # mild, moderate and severe anxiety, 10 the cut point for further evaluation (Spitzer, Kroenke, Williams & Lowe
    # 2006, Arch Intern Med 166:1092, doi:10.1001/archinte.166.10.1092: abstract and the figure caption "GAD-7 scale
    # scores of 0 to 4" (the reference group) read; the cut points as the PHQ/GAD-7 instructions give them, read in a
    # reproduction). Threshold <= 4: the minimal range 0-4 used as remission (as bdi2's "minimal" range), not the
    # caseness cut point 10 (state endpoints.remission_threshold: 9 for "below 10"). Reads "anxiety".
    "gad7": (21.0, 4.0, "anxiety"),
    # Hospital Anxiety and Depression Scale, anxiety subscale (HADS-A): the 7 odd-numbered items of 14, each 0-3 =
    # 0-21; 0-7 "normal", 8-10 "borderline abnormal" (possible case), 11-21 "abnormal" (probable case) (Zigmond &
    # Snaith 1983, Acta Psychiatr Scand 67:361, doi:10.1111/j.1600-0447.1983.tb09716.x: the paper itself not read;
    # item scoring and ranges read in reproductions of the form and in texts citing it). Threshold <= 7: the
    # "normal" range. The 0-42 total is not modelled ('hads' alone is refused: _NOT_ALIASED).
    "hads_a": (21.0, 7.0, "anxiety"),
    # HADS depression subscale (HADS-D): the 7 even-numbered items, 0-3 each = 0-21, the same ranges (same source);
    # threshold <= 7, the "normal" range.
    "hads_d": (21.0, 7.0, "depression"),
    # Patient Health Questionnaire-9 (self-report): the 9 DSM-IV criteria of major depression rated 0-3 = 0-27; 5, 10,
    # 15 and 20 are the cut points of mild, moderate, moderately severe and severe depression (Kroenke, Spitzer &
    # Williams 2001, J Gen Intern Med 16:606, doi:10.1046/j.1525-1497.2001.016009606.x: abstract read). Remission
    # < 5, i.e. <= 4 (below the "mild" cut point): the criterion of measurement-based care, e.g. "remission (PHQ-9
    # score <5)" in "Defining Success in Measurement-Based Care for Depression: A Comparison of Common Metrics",
    # Psychiatr Serv, doi:10.1176/appi.ps.201900295 (abstract read). The PHQ-8 (0-24) and PHQ-2 (0-6) are other
    # instruments.
    "phq9": (27.0, 4.0, "depression"),
}
#: Default baseline (mean, SD) of each scale when a scenario gives none. A scale without an entry has no sourced
#: default: its scenarios must state population.baseline (default_baseline() says so in one line).
DEFAULT_BASELINE = {"madrs": (33.0, 5.0), "hamd17": (24.0, 4.0), "hama": (25.0, 5.0), "caps5": (45.0, 10.0),
                    "ssi": (20.0, 6.0),
                    # ketamine-vs-midazolam trial in TRD with MADRS item 10 >= 4 at entry: 4.19 (0.40) and 4.26 (0.45)
                    # (Su 2023, Int J Neuropsychopharmacol 26:331, doi:10.1093/ijnp/pyad014, Table 1)
                    "madrs_si": (4.2, 0.4),
                    # HDRS-21 and HDRS-24 at entry to an ECT trial in severe major depression (EFFECT-Dep, n = 136):
                    # Fenton & McLoughlin 2021, PLoS One 16:e0259861, doi:10.1371/journal.pone.0259861, PMID 34752484,
                    # table "Baseline depression severity for responders and remitters": HAMD-21 24.51 (5.44), n = 76
                    # and 23.68 (4.39), n = 60; HAMD-24 30.43 (6.61) and 29.43 (5.65); pooled here to the 136
                    # (the remitter split pools to the same 24.1 / 30.0). Baseline only; no outcome number used.
                    "hamd21": (24.1, 5.0),
                    "hamd24": (30.0, 6.2),
                    # QIDS-SR16 at entry to STAR*D level 3 (after two failed treatment steps, i.e. treatment-resistant):
                    # 15.5 (4.8), n = 190 (level 1 entry: 15.4 (4.8), n = 2,280); IsHak et al. 2015, Acta Psychiatr
                    # Scand 131:51, doi:10.1111/acps.12301, PMID 24954156, Table 2 ("Entry" columns only)
                    "qids_sr16": (15.5, 4.8),
                    # BDI-II at entry to CoBalT (primary-care treatment-resistant depression: antidepressants >= 6
                    # weeks, BDI-II >= 14; n = 469; Wiles et al. 2013, Lancet 381:375,
                    # doi:10.1016/S0140-6736(12)61552-9): 31.8 (10.7) in Buckman et al. 2022, JAMA Psychiatry 79:406,
                    # doi:10.1001/jamapsychiatry.2022.0100, PMID 35262620, Table 1 ("Baseline depressive severity");
                    # arm means 31.8 and 31.8 (Cochrane CD010558, characteristics of Wiles 2016)
                    "bdi2": (31.8, 10.7),
                    # LSAS (clinician-administered, 0-144) at entry to group CBT for social anxiety disorder: 57
                    # consecutive outpatients with DSM-IV SAD as the primary disorder (SCID), referred or self-referred
                    # to Nagoya City University Hospital, Japan, 2003-2007; no ketamine. Chen, Nakano, Ietzugu, Ogawa,
                    # Funayama, Watanabe, Noda & Furukawa 2007, "Group cognitive behavior therapy for Japanese patients
                    # with social anxiety disorder: preliminary outcomes and their predictors", BMC Psychiatry 7:69,
                    # doi:10.1186/1471-244X-7-69, Table 2, row "LSAS (total)", intention-to-treat (n = 57) "Pre"
                    # column: 76.2 (25.6) (completers, n = 50: 77.2 (26.1)); baseline only, no outcome number used.
                    # The same group's later group-CBT cohort agrees: 75.5 (22.8) in completers (Ogawa et al. 2020,
                    # Psychiatry J 2020:3186450, doi:10.1155/2020/3186450, Table 1). No LSAS inclusion floor (drug
                    # trials often have one, e.g. LSAS >= 70 in Kasper et al. 2005, Br J Psychiatry 186:222).
                    "lsas": (76.2, 25.6),
                    # GAD-7 at screening for a Pfizer-sponsored GAD drug trial: 90 outpatients with DSM-IV-TR GAD who
                    # needed a change of treatment (65 of 90 had < 25 % response to their current antidepressant or
                    # anxiolytic; site HAM-A 27.1, CGI-S 4.8: "moderately ill"); no ketamine. Targum, Murphy, Khan,
                    # Zumpano, Whitlock, Simen & Binneman 2018, Innov Clin Neurosci 15(3-4):37-42
                    # (innovationscns.com/march-april-audio-recording-generalized-anxiety-disorder; no DOI or PMID was
                    # reachable here), Table 3 (full text read): 16.40 +- 3.63 (n = 30, a past major depressive
                    # episode) and 16.45 +- 4.02 (n = 60, none), pooled here to 16.43 (3.87), n = 90. The +- are SDs:
                    # the table's t = -0.06 is reproduced with them (with SEMs the SDs would be 20-31 on a 0-21 scale).
                    # Baseline only, no outcome number used.
                    "gad7": (16.4, 3.9),
                    # PHQ-9 at the first visit of adults treated for depression at 17 US psychiatric practices (the
                    # National Depression Management Leadership Initiative), those with PHQ-9 >= 10 ("moderate to
                    # severe"): 16.4 +- 4.6 (mean +- SD), n = 960 of 1,763; Psychiatr Serv 62:929-935 (2011),
                    # doi:10.1176/ps.62.8.pss6208_0929 (abstract read). Specialty care, not selected for treatment
                    # resistance; the >= 10 entry cut narrows the SD as a trial's entry criterion does. Baseline
                    # only, no outcome number used.
                    "phq9": (16.4, 4.6),
                    # HADS subscales at entry to FINDER (Factors Influencing Depression Endpoints Research): 3,468
                    # adults with a clinically diagnosed first or new depressive episode starting antidepressant
                    # medication in routine primary and specialist out-patient care in 12 European countries (2004-05;
                    # observational; sponsored by Eli Lilly and Boehringer Ingelheim; no ketamine). "Mean (SD) HADS-D
                    # and HADS-A scores were 12.3[4.5] and 13.0[4.0]" (Demyttenaere, "FINDER: baseline results and
                    # caseness of depression", congress abstract, European Psychiatry, on Cambridge Core without a DOI:
                    # abstract read); the means 12.3 and 13.0 of the n = 3,468 are also in the study's design paper's
                    # abstract (Garcia-Cebrian et al. 2008, Eur Psychiatry 23(1):57-65; abstract read, no SD there;
                    # DOI not reached). 74 % were probable anxiety cases (HADS-A >= 11; Demyttenaere et al. 2009, Prim
                    # Care Companion J Clin Psychiatry 11:307, doi:10.4088/PCC.08m00748blu, PMID 20098522, abstract),
                    # so HADS-A's default is a depressed, mostly anxious sample's, not an anxiety-disorder trial's.
                    # Baseline only; no outcome number used.
                    "hads_a": (13.0, 4.0),
                    "hads_d": (12.3, 4.5)}
#: No sourced default baseline was found for mssi and iesr: no entry table of a treatment-seeking, non-ketamine sample
#: was reachable (Feder 2014's IES-R is a ketamine trial's; the IES-R samples found were medically ill PTSD patients;
#: no MSSI sample): NOTES, the forty-second and forty-third sessions. Nor, in the fifty-first session, for pcl5,
#: gad7, hads_a, hads_d and phq9: the entry tables found gave no SD (PHQ-9 17.9 in a TMS cohort, Bastiaens 2024,
#: doi:10.1186/s12888-024-05928-4, abstract), an SEM without the n it was computed over (PHQ-9 17.8 +- 0.4 SEM in a
#: TMS sample, PMC9343621 Table 1) or a "PCL" that may be the DSM-IV one (57.8 (11.1) at the start of VA medication
#: trials, PMC7669235 Table 2); none was taken. Their scenarios state population.baseline. The fifty-second session
#: (helper HC) found GAD-7's and PHQ-9's (above) but still none with a mean and SD at entry for pcl5, hads_a and
#: hads_d: the searches (PTSD psychotherapy and ketamine trials in veterans, TRD cohorts on TMS, ECT and ketamine, HADS
#: in depression trials) reached abstracts and tables without an SD or of other instruments (HADS total 22.9 (4.2) and
#: 24.6 (5.6) in a ketamine trial, PMC10769130 Extended Data Table 1: the 0-42 total, not a subscale). The
#: fifty-third session (helper HC) found HADS-A's and HADS-D's (FINDER, above); PCL-5 still has none: PE/CPT/WET
#: trials in veterans and service members (CERV-PTSD, STRONG STAR, Sloan 2022), intensive and primary-care
#: programmes reached abstracts only, a PCL-5 mean without SD (48.6 / 46.0 in completers / dropouts, Psychol Trauma
#: 2021, doi:10.1037/tra0001109, PMC8924016 Table 2) or DSM-IV PCL tables (17-85, another instrument).
DEFAULT_SCALE = {"depression": "madrs", "anxiety": "hama", "ptsd": "caps5", "suicidal_ideation": "ssi"}
#: Display names (figures, tables, reports, the dashboard).
SCALE_NAMES = {"madrs": "MADRS", "hamd17": "HAM-D17", "hama": "HAM-A", "caps5": "CAPS-5", "ssi": "SSI",
               "hamd21": "HAM-D21", "hamd24": "HAM-D24", "madrs_si": "MADRS-SI", "mssi": "MSSI", "iesr": "IES-R",
               "lsas": "LSAS", "qids_sr16": "QIDS-SR16", "bdi2": "BDI-II", "pcl5": "PCL-5", "gad7": "GAD-7",
               "hads_a": "HADS-A", "hads_d": "HADS-D", "phq9": "PHQ-9"}
#: Other names users type for a scale (compared without case, spaces, '-' and '_'): canonical names in SCALES.
SCALE_ALIASES = {"hdrs17": "hamd17", "hrsd17": "hamd17", "hdrs21": "hamd21", "hrsd21": "hamd21",
                 "hdrs24": "hamd24", "hrsd24": "hamd24", "madrsitem10": "madrs_si", "madrs10": "madrs_si",
                 "bssi": "ssi", "bss": "ssi", "beckssi": "ssi", "qidssr": "qids_sr16", "qids16": "qids_sr16",
                 "bdiii": "bdi2", "hars": "hama", "hadsanxiety": "hads_a", "hadsdepression": "hads_d",
                 "pcldsm5": "pcl5"}
#: Not aliased on purpose: 'caps' (the DSM-IV CAPS, 0-136), 'ies' (the original 15-item IES), 'bsi' (also the Brief
#: Symptom Inventory), 'hamd'/'hdrs' (which version?), 'pcl' (the DSM-IV PCL, 17-85), 'hads' (which subscale?),
#: 'phq'/'gad' (which length?) are other instruments or ambiguous; the C-SSRS (categorical) and the CGI-SS-R (a
#: clinician's global judgement the model has no mapping to) are not modelled: the error says which is meant or why.
_NOT_ALIASED = {
    **dict.fromkeys(("hamd", "hdrs", "hrsd"), "the Hamilton depression scale has three versions, hamd17 (0-52), "
                                              "hamd21 (0-63) and hamd24 (0-75); name the one rated"),
    "caps": "the DSM-IV CAPS (0-136) is another instrument; the CAPS-5 is caps5",
    "ies": "the original 15-item IES is another instrument; the IES-R is iesr",
    "qids": "the self-report QIDS-SR16 is qids_sr16 (the clinician's QIDS-C16 is not modelled)",
    "bdi": "the BDI-II is bdi2 (the original BDI is another version)",
    **dict.fromkeys(("pcl", "pclc", "pclm", "pcls", "pcl17"),
                    "the DSM-IV PTSD Checklist (PCL-C, PCL-M, PCL-S: 17 items, 17-85) is another instrument and is not "
                    "modelled; the PCL-5 (20 items, 0-80) is pcl5"),
    "hads": "the HADS has two subscales, hads_a (anxiety, 0-21) and hads_d (depression, 0-21); name the one rated "
            "(the 0-42 total is not modelled)",
    **dict.fromkeys(("phq", "phq8", "phq2"), "the PHQ-9 is phq9 (the PHQ-8 and PHQ-2 are other instruments)"),
    **dict.fromkeys(("gad", "gad2"), "the GAD-7 is gad7 (the GAD-2 is another instrument)"),
    # not one score on a range: the C-SSRS classifies ideation into five types and behaviour into yes/no kinds, with a
    # separate intensity sum (Posner et al. 2011, Am J Psychiatry 168:1266, PMC3893686, abstract read)
    **dict.fromkeys(("cssrs", "columbiasuicideseverityratingscale"),
                    "the C-SSRS is categorical (types of suicidal ideation and behaviour), not one severity score on a "
                    "range; rate suicidal ideation on madrs_si (MADRS item 10, 0-6), ssi (0-38) or mssi (0-54)"),
    # the Clinical Global Impression of Severity of Suicidality, revised (ASPIRE I/II's key secondary endpoint, Fu 2020,
    # J Clin Psychiatry 81:19m13191, doi:10.4088/JCP.19m13191, abstract read). Its seven anchors, in order, are the rows
    # of the pooled ASPIRE I/II baseline table (J Clin Psychopharmacol 41(5):516-524, 2021,
    # doi:10.1097/JCP.0000000000001465, PMC8407443, Table 1 read): "Normal, not at all suicidal", "Questionably
    # suicidal", "Mildly suicidal", "Moderately suicidal", "Markedly suicidal", "Severely suicidal", "Among the most
    # extremely suicidal patients"; a post hoc analysis of ASPIRE I/II combines remission with "CGI-SS-r <= 1 (i.e.,
    # not suicidal/questionably suicidal)" (Fu et al. 2023, BMC Psychiatry 23:587, doi:10.1186/s12888-023-05017-y,
    # PMID 37568081, abstract read), so the anchors are 0-6. Entry, reproduced from that table's counts (0, 12, 33,
    # 125, 170, 101, 9 of 450): 3.76 (SD 1.03) points, an esketamine trial's pre-dose baseline, not used here; no
    # outcome number used. Still not modelled: a clinician's global judgement, and the model has no sourced mapping
    # from its latent severity to it (fifty-second session HC; anchors sourced in the fifty-fourth, HP)
    **dict.fromkeys(("cgissr", "cgiss", "cgisuicidality"),
                    "the CGI-SS-R is not modelled: a clinician's global judgement from 0 (normal, not at all "
                    "suicidal) to 6 (among the most extremely suicidal patients) with no mapping from the model's "
                    "severity; rate suicidal thoughts on madrs_si (MADRS item 10, 0-6), ssi (0-38) or mssi (0-54)"),
}


def scale_name(scale: str) -> str:
    """How figures, tables and reports name a scale ('MADRS', 'HAM-D17'); an unknown name in capitals."""
    return SCALE_NAMES.get(scale, str(scale).upper())


def _scale_key(text) -> str:
    return re.sub(r"[\s_\-]+", "", str(text).strip().lower())


_SCALE_KEYS = {**{_scale_key(k): k for k in SCALES}, **SCALE_ALIASES}


def scale_lookup(text) -> tuple[str | None, str | None]:
    """(the SCALES name of ``text`` as users write it, or None; why it is not guessed, for an ambiguous name or
    another instrument ('HAM-D': which version?), or None): the lookup of :func:`canonical_scale`, without an error,
    for readers with their own message (a record's DVID)."""
    if not isinstance(text, str):
        return None, None
    key = _scale_key(text)
    return _SCALE_KEYS.get(key), _NOT_ALIASED.get(key)


def canonical_scale(text, field: str = "population.scale") -> str:
    """The SCALES name of a scale as users write it ('HAM-D24', 'hdrs-21', 'MADRS-SI', 'IES-R', 'BSSI'); one line
    naming ``field`` for an unknown scale."""
    key, note = scale_lookup(text)
    if key is None:
        if note:
            # another instrument or an ambiguous name (the Hamilton scale's three lengths have their own ranges and
            # remission cutoffs): not guessed, but said which one is meant
            raise InputError(f"{field}: unknown scale {text[:40]!r}: {note}")
        raise InputError(f"{field}: unknown scale {str(text)[:40]!r}; use one of {', '.join(SCALES)}")
    return key


def scale_reads(scale: str, condition: str) -> bool:
    """Can ``scale`` rate a population with ``condition``? A scale reads its own condition; depression scales also
    rate populations with suicidal ideation (depressed patients at risk, e.g. Canuso 2018 rated the MADRS)."""
    own = SCALES[scale][2]
    return own == condition or (own == "depression" and condition == "suicidal_ideation")


def canonical_condition(text):
    """A condition as written ('PTSD', 'suicidal ideation', 'Suicidal-Ideation') in the form of :data:`CONDITIONS`;
    anything not text unchanged (the caller names the field)."""
    return str(text).strip().lower().replace("-", "_").replace(" ", "_") if isinstance(text, str) else text


#: what a trial's diagnosis, written as a condition, is in the model (the condition list alone did not say that
#: GAD and social anxiety disorder are the one anxiety condition, or where treatment resistance goes)
_CONDITION_HINTS = {
    **dict.fromkeys(("gad", "generalized_anxiety", "generalised_anxiety", "generalized_anxiety_disorder",
                     "generalised_anxiety_disorder", "social_anxiety", "social_anxiety_disorder", "sad",
                     "social_phobia", "anxiety_disorder"),
                    "write anxiety: the model's one anxiety condition, GAD and social anxiety disorder alike"),
    **dict.fromkeys(("mdd", "major_depression", "major_depressive_disorder", "unipolar_depression"),
                    "write depression"),
    **dict.fromkeys(("trd", "treatment_resistant_depression", "treatment_resistant"),
                     "write depression: treatment resistance is population.treatment_resistant, true by "
                     "default for depression"),
    **dict.fromkeys(("post_traumatic_stress_disorder", "posttraumatic_stress_disorder", "post_traumatic_stress"),
                    "write ptsd"),
    **dict.fromkeys(("si", "suicidality", "suicidal", "suicidal_thoughts", "suicidal_ideation_and_behavior"),
                    "write suicidal_ideation"),
}


def unknown_condition(field: str, condition) -> str:
    """The one-line refusal of an unknown condition, naming ``field``, with what a diagnosis as trials write it
    ('GAD', 'MDD', 'TRD', 'social anxiety disorder') is in the model."""
    key = canonical_condition(condition) if isinstance(condition, str) else condition
    hint = _CONDITION_HINTS.get(key) if isinstance(key, str) else None
    return (f"{field}: unknown condition {str(condition)[:40]!r}" + (f" ({hint})" if hint else "")
            + f"; use one of {', '.join(CONDITIONS)}")


def _lower_words(text):
    """A genotype or care setting as written ('Val/Met', 'Val / Met', 'Inpatient') in lower case without spaces."""
    return "".join(str(text).lower().split()) if isinstance(text, str) else text


def check_scale_reads(scale: str, condition: str, section: str) -> None:
    """One line naming ``section``.condition when ``scale`` cannot rate ``condition`` (a scenario that states both:
    depression rated on CAPS-5 ran silently with depression's drug effect, while the quick form refused it)."""
    if not scale_reads(scale, condition):
        raise InputError(f"{section}.condition: {condition.replace('_', ' ')} contradicts {section}.scale {scale}, "
                         f"which rates {SCALES[scale][2].replace('_', ' ')}; drop one of them or pick a scale of the "
                         f"condition (e.g. {DEFAULT_SCALE[condition]})")


def default_baseline(scale: str, field: str = "population.baseline") -> tuple[float, float]:
    """(mean, SD) of the scale's default baseline; one line naming ``field`` when the scale has no sourced default."""
    if scale not in DEFAULT_BASELINE:
        whose = "patient's" if field.startswith("patient") else "population's"      # Patient(scale='hamd21')
        raise InputError(f"{field}: {scale} has no default baseline with a published source; state the {whose} "
                         f"baseline score (points, 0-{SCALES[scale][0]:g})")
    return DEFAULT_BASELINE[scale]


def default_baseline_sd(scale: str | None, condition: str | None = None) -> float:
    """Between-patient SD (scale points) of a baseline the user gave as one number for a population (the quick form's
    ``--baseline``, a dashboard trial): the scale's sourced default SD (:data:`DEFAULT_BASELINE`), else the same share
    of the scale's range as MADRS's default (5 of 60 points), so a 0-21 scale gets 1.75 points and not the 5 points
    (24 % of its range) a fixed value gave. An assumption for scales without a sourced SD (pcl5, iesr, mssi). No
    scale: the condition's default scale (CAPS-5 for PTSD, not MADRS: review s51 L7); an unknown scale keeps 5 (the
    scale's own check names it)."""
    try:
        key = canonical_scale(scale or DEFAULT_SCALE.get(canonical_condition(condition or "depression"), "madrs"))
    except InputError:
        return 5.0
    if key in DEFAULT_BASELINE:
        return float(DEFAULT_BASELINE[key][1])
    return SCALES[key][0] * DEFAULT_BASELINE["madrs"][1] / SCALES["madrs"][0]


def remission_threshold(scale: str, field: str = "endpoints.remission_threshold") -> float:
    """The scale's default remission threshold; one line naming ``field`` when no published threshold exists."""
    thr = SCALES[scale][1]
    if thr is None:
        raise InputError(f"{field}: {scale} has no published remission threshold; state one (points, "
                         f"0-{SCALES[scale][0]:g}) or leave remission_rate out of endpoints.measures")
    return thr


KNOWN_COMEDICATIONS = ("clarithromycin", "itraconazole", "ticlopidine", "rifampicin", "grapefruit-juice", "st-johns-wort")
#: Inducers: their effect builds up over days of pretreatment as the induced enzymes turn over (pk.induction_factors),
#: so an entry may state how long the inducer has been taken, ``rifampicin for 5 d``; without it the induction is at
#: steady state (a patient on the inducer for weeks). A stopped inducer wears off with the same turnover:
#: ``rifampicin for 14 d stopped 3 d ago`` (or ``rifampicin stopped 3 d ago`` after long-term use).
INDUCERS = ("rifampicin", "st-johns-wort")
#: other names of the known comedications, compared without case, spaces, dots, apostrophes, '-' and '_' (the US
#: label's 'rifampin', "St John's wort" as written, 'grapefruit juice'): each was refused as unknown
COMEDICATION_ALIASES = {"rifampin": "rifampicin", "stjohnswort": "st-johns-wort", "hypericum": "st-johns-wort",
                        "hypericumperforatum": "st-johns-wort", "grapefruit": "grapefruit-juice"}


#: Antidepressants by generic name (WHO ATC group N06A, https://atcddd.fhi.no/atc_ddd_index/?code=N06A, the ones in
#: common use) and class words: a patient's 'fluoxetine' was refused as an unknown comedication with no hint that
#: ketasim models an antidepressant as a dose (drug oral-antidepressant), not as a drug changing ketamine's
#: metabolism. Vocabulary only: no interaction of these with ketamine is modelled.
ANTIDEPRESSANT_NAMES = ("fluoxetine", "sertraline", "paroxetine", "citalopram", "escitalopram", "fluvoxamine",
                        "venlafaxine", "desvenlafaxine", "duloxetine", "milnacipran", "levomilnacipran", "bupropion",
                        "mirtazapine", "trazodone", "vortioxetine", "vilazodone", "agomelatine", "amitriptyline",
                        "nortriptyline", "imipramine", "clomipramine", "desipramine", "doxepin", "phenelzine",
                        "tranylcypromine", "moclobemide", "antidepressant", "ssri", "snri", "tca", "maoi")


def _antidepressant_name(name: str) -> str | None:
    """The antidepressant ``name`` is (or is a spelling slip of: 'fluoxetin'), else None."""
    import difflib

    key = re.sub(r"[^a-z]", "", name.lower())
    if key in ANTIDEPRESSANT_NAMES:
        return key
    near = difflib.get_close_matches(key, [n for n in ANTIDEPRESSANT_NAMES if len(n) > 4], n=1, cutoff=0.85)
    return near[0] if near else None


def _comedication_name(name: str) -> str | None:
    """A known comedication's name for ``name`` (an alias or a spelling of it), else None."""
    import re

    key = re.sub(r"[\s.'\u2019_-]+", "", name.lower())
    known = {re.sub(r"[-_]", "", k): k for k in KNOWN_COMEDICATIONS}
    return known.get(key) or COMEDICATION_ALIASES.get(key)
#: Every other known comedication is an inhibitor: taken (steady state), taken for a time (``clarithromycin for 2 d``:
#: a mechanism-based one builds up as it destroys the enzyme, pk.inactivation_built) or stopped (``clarithromycin
#: stopped 2 d ago``: it recovers as the enzyme is resynthesised, pk.inactivation_left).
#: Longest pretreatment and longest time since stopping an entry may state (beyond a year the build-up is complete
#: and the wearing-off is total to within 2^-100).
MAX_INDUCER_H = 365 * 24.0


def _inducer_hours(text: str, name: str, what: str, field: str) -> float:
    from .units import parse_time_h

    hours = parse_time_h(text.strip(), field, examples=("d",))    # days of dosing ('5 min' was suggested)
    if not (0.0 < hours <= MAX_INDUCER_H):
        extra = {"pretreatment": "", "time since stopping": (" (still taken: leave out 'stopped ... ago'; stopped "
                                                             "more than a year ago: leave it out)")}[what]
        raise InputError(f"{field}: the {what} of {name} must be more than 0 and at most 1 year, got "
                         f"{text.strip()[:40]!r}{extra}")
    return hours


def parse_comedication(text, field: str) -> tuple[str, float | None, float | None]:
    """A comedication entry: ``NAME``, or ``NAME for DURATION`` (e.g. ``rifampicin for 5 d``: how long it has been
    taken, counted as in the DDI studies: five daily doses with the ketamine dose the next day; ``clarithromycin for
    3 d``: twice daily for 3 days, ketamine with the seventh dose), optionally followed by ``stopped DURATION ago``
    (the time since the course ended: ``rifampicin for 14 d stopped 3 d ago``; without ``for``, a long-term course at
    steady state was stopped, ``clarithromycin stopped 2 d ago``; counted from the end of the last day of dosing).
    Inducers and inhibitors alike. Returns (name,
    pretreatment in hours or None for steady state, hours since stopping or None if still taken); a one-line
    InputError naming ``field`` for anything else."""
    if not isinstance(text, str):
        raise InputError(f"{field}: expected a comedication name such as rifampicin or 'rifampicin for 5 d', got "
                         f"{str(text)[:40]!r}")
    head, stop, since = text.strip().partition(" stopped ")
    name, sep, rest = head.partition(" for ")
    name = _comedication_name(name.strip()) or name.strip().lower()
    if name not in KNOWN_COMEDICATIONS:
        import difflib

        # a spelling slip only (ketoconazole is not itraconazole: another drug must not be pointed at one it is not)
        near = difflib.get_close_matches(name, KNOWN_COMEDICATIONS, n=1, cutoff=0.85)
        hint = f" (did you mean {near[0]}?)" if near else ""
        # 'clarithromycin 500 mg bid' (as a chart writes it): the name is known, the dose is not read
        m = re.match(r"^\s*([a-z' -]+?)\s+\d", name)
        known = _comedication_name(m.group(1).strip()) if m else None
        if known in KNOWN_COMEDICATIONS:
            raise InputError(f"{field}: {text.strip()[:40]!r}: a comedication's dose is not read (its effect is that "
                             f"of the regimen studied, see `ketasim params ddi.{known}`); write "
                             f"'{known}' (or '{known} for 3 d' with how long it has been taken)")
        ad = _antidepressant_name(m.group(1) if m else name)
        if ad is not None:
            typed = re.sub(r"[^a-z]", "", (m.group(1) if m else name).lower())
            what = "an antidepressant" if ad == typed else f"{ad}, an antidepressant"
            raise InputError(f"{field}: {text.strip()[:40]!r} is {what}, not a comedication (the comedications "
                             f"ketasim models change ketamine's metabolism: {', '.join(KNOWN_COMEDICATIONS)}); one "
                             "started with ketamine is a dose of drug oral-antidepressant, route oral; one taken at a "
                             "stable dose has no modelled effect: leave it out")
        raise InputError(f"{field}: unknown comedication {text.strip()[:40]!r}{hint}; known: "
                         f"{', '.join(KNOWN_COMEDICATIONS)} "
                         f"(an entry may state how long it has been taken: 'rifampicin for 5 d', 'clarithromycin for "
                         f"3 d', or 'rifampicin for 14 d stopped 3 d ago')")
    off = None
    if stop:
        since = since.strip()
        if not since.lower().endswith(" ago") or " for " in since:
            example = "rifampicin for 14 d stopped 3 d ago" if name in INDUCERS else f"{name} stopped 2 d ago"
            raise InputError(f"{field}: write the stop after the pretreatment, as '{example}', got "
                             f"{text.strip()[:60]!r}")
        off = _inducer_hours(since[:-4], name, "time since stopping", field)
    hours = _inducer_hours(rest, name, "pretreatment", field) if sep else None
    return name, hours, off


def canonical_comedication(text, field: str) -> str:
    """An entry in ketasim's words (:func:`parse_comedication` reads it back the same): the known name ('rifampin',
    'Grapefruit juice', "St John's wort" -> 'rifampicin', 'grapefruit-juice', 'st-johns-wort') and its durations as
    outputs write them ('rifampin for 5 days stopped 72 h ago' -> 'rifampicin for 5 d stopped 3 d ago'). A record's
    COMED entries are kept this way (and as written: ``PatientRecord.comedications_as_written``)."""
    from .units import fmt_hours

    name, hours, off = parse_comedication(text, field)
    return (name + (f" for {fmt_hours(hours)}" if hours is not None else "")
            + (f" stopped {fmt_hours(off)} ago" if off is not None else ""))


def check_comedications(items, field: str) -> tuple[str, ...]:
    """Every entry parsed (:func:`parse_comedication`) and each inducer or inhibitor named once; the entries
    unchanged."""
    names = [parse_comedication(c, field)[0] for c in items]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{field}: {twice[0]} is given more than once; give it once (with its pretreatment, e.g. "
                         f"'{twice[0]} for 5 d', if any)")
    return tuple(items)


def arm_comedications(population_items, arm_items, arm_name: str) -> tuple[str, ...]:
    """The population's comedications and an arm's own (an interaction study's 'with inhibitor' arm), in order and
    without exact repeats, each inducer or inhibitor once in all ('rifampicin' in the population and 'rifampicin
    for 5 d' in the arm is a one-line error naming the arm)."""
    comeds = tuple(dict.fromkeys((*population_items, *arm_items)))
    if len(comeds) > 1:
        check_comedications(comeds, f"arms.{arm_name}.comedications (with population.comedications)")
    return comeds
GENOTYPES = ("val/val", "val/met", "met/met")
#: Care settings (issue 7): in-patient and perioperative care add a non-specific component that starts at admission
#: or surgery and fades over weeks (the model's ``care`` state); outpatient care adds none.
CARE_SETTINGS = ("outpatient", "inpatient", "perioperative")
#: what a recurrence time counts (population.recurrence_clock): time since entry (the default), time spent in
#: response, or time since recovery (a remission sustained for pd.recurrence.recovery_duration)
RECURRENCE_CLOCKS = ("response", "entry", "recovery")
#: the default clock (PopulationSpec and scenario files): one place to switch it
DEFAULT_RECURRENCE_CLOCK = "entry"


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A normal distribution of a covariate; ``min``/``max`` (optional, so far only for age): an inclusion range,
    sampled as the normal truncated to it (trials include e.g. ages 65-86)."""

    mean: float
    sd: float = 0.0
    min: float | None = None
    max: float | None = None


@dataclasses.dataclass(frozen=True)
class Screening:
    """The screening rating a trial counts response from (``endpoints.response_from: screening``; e.g. Lii 2023:
    ">= 50 % reduction in MADRS scores from screening baseline"): mean and SD over the randomized patients (scale
    points) and its correlation with the baseline (pre-dose) rating."""

    mean: float
    sd: float
    correlation: float


@dataclasses.dataclass(frozen=True)
class EntrySelection:
    """A trial's entry criterion on the rating scale (``population.entry_selection``; a design fact, a hypothesis
    switch that is off when absent, fifty-third session): patients were enrolled only if their rating at
    ``at`` ('baseline', or 'screening' ``interval_h`` hours before the baseline) was at least ``min`` scale points.
    :func:`entry_fluctuation` says what it changes."""

    min: float
    at: str = "baseline"
    interval_h: float = 0.0


#: when a trial's entry criterion is applied (``population.entry_selection.at``)
ENTRY_SELECTION_AT = ("baseline", "screening")
#: the reported baseline may lie at most this many SDs below the threshold's reach: min above mean + 3 SD is refused
ENTRY_SELECTION_MAX_SD_ABOVE = 3.0


def _truncated_sd_ratio(alpha):
    """SD / (mean - c) of a normal truncated below at c, with alpha = (c - mu0) / s0: from 0 (no truncation,
    alpha -> -inf) to 1 (an exponential tail, alpha -> inf). lambda = phi(alpha) / (1 - Phi(alpha)), written with
    erfcx so that it stays exact far in the tail."""
    from scipy.special import erfcx

    lam = math.sqrt(2.0 / math.pi) / erfcx(alpha / math.sqrt(2.0))
    return math.sqrt(max(1.0 + alpha * lam - lam * lam, 0.0)) / (lam - alpha), lam


#: alpha range of the back-out (below: no truncation to speak of; above: the SD is numerically an exponential's)
_ALPHA_RANGE = (-8.0, 12.0)


@functools.lru_cache(maxsize=1024)
def unselected_entry(mean: float, sd: float, c: float) -> tuple[float, float]:
    """(mu0, s0), scale points: the normal N(mu0, s0^2) of the entry rating before selection whose part at or above
    ``c`` has mean ``mean`` and SD ``sd`` (the randomized patients' reported baseline). Solves the truncated normal's
    SD / (mean - c) = sqrt(1 + alpha lambda - lambda^2) / (lambda - alpha), alpha = (c - mu0) / s0, for alpha
    (monotone), then s0 = sd / sqrt(1 + alpha lambda - lambda^2) and mu0 = c - alpha s0. A criterion far below the
    reported ratings (alpha < -8) selects nobody out: (mean, sd). ValueError when no normal fits (sd >= mean - c,
    within the solver's range): :func:`check_entry_selection` says it in words."""
    from scipy.optimize import brentq

    if mean - c <= 0 or sd <= 0:
        raise ValueError("no truncated normal fits")
    target = sd / (mean - c)
    lo, hi = _ALPHA_RANGE
    if target <= _truncated_sd_ratio(lo)[0]:
        return float(mean), float(sd)
    if target >= _truncated_sd_ratio(hi)[0]:
        raise ValueError("no truncated normal fits")
    alpha = brentq(lambda a: _truncated_sd_ratio(a)[0] - target, lo, hi, xtol=1e-12)
    ratio, lam = _truncated_sd_ratio(alpha)
    s0 = sd / math.sqrt(1.0 + alpha * lam - lam * lam)
    return float(c - alpha * s0), float(s0)


def check_entry_selection(sel: EntrySelection, baseline: Distribution, scale: str, field: str) -> None:
    """One-line errors naming ``field`` (population.entry_selection, or an arm's baseline against it): ``min`` a
    number within the scale (0 .. maximum points), ``at`` one of :data:`ENTRY_SELECTION_AT`, ``interval_h`` >= 0 and
    only with 'screening', a baseline with a spread, ``min`` at most mean + 3 SD (else almost nobody qualifies), and
    the reported baseline consistent with ratings kept at >= min (SD < mean - min: :func:`unselected_entry`)."""
    smax = SCALES[scale][0]
    v = sel.min
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)):
        raise InputError(f"{field}.min: must be a number of {scale_name(scale)} points, got {v!r}")
    if not (0.0 <= float(v) <= smax):
        raise InputError(f"{field}.min: must lie within the scale, 0-{smax:g} {scale_name(scale)} points, got {v:g}")
    if sel.at not in ENTRY_SELECTION_AT:
        raise InputError(f"{field}.at: use one of {', '.join(ENTRY_SELECTION_AT)}, got {sel.at!r}")
    if not (isinstance(sel.interval_h, (int, float, np.integer, np.floating)) and not isinstance(sel.interval_h, bool)
            and 0.0 <= float(sel.interval_h) <= 8766.0):
        raise InputError(f"{field}.interval: must lie in 0 h - 1 year, got {sel.interval_h!r}")
    if sel.at == "baseline" and sel.interval_h > 0:
        raise InputError(f"{field}.interval: only with at: screening (the time from screening to baseline)")
    m, sd = float(baseline.mean), float(baseline.sd)
    if sd <= 0:
        raise InputError(f"{field}: needs the baseline's spread (sd > 0): the criterion is read against the "
                         "reported baseline mean and SD")
    if v > m + ENTRY_SELECTION_MAX_SD_ABOVE * sd:
        raise InputError(f"{field}.min: {v:g} is above the baseline mean + 3 SD ({m:g} + 3 x {sd:g}): almost no "
                         "patient would qualify; check the threshold and the scale")
    try:
        unselected_entry(m, sd, float(v))
    except ValueError:
        raise InputError(f"{field}.min: a baseline of mean {m:g} and SD {sd:g} cannot be ratings kept at >= {v:g} "
                         f"(a normal cut at {v:g} has an SD below mean - min = {m - v:g}); check the threshold, "
                         "the scale and the baseline") from None


def rating_at_or_below(threshold, score, sigma: float):
    """P(an investigator's rating <= ``threshold``) for a model score (points) with the rater's noise ``sigma``
    (points): the rating is the noisy score rounded to an integer (as trials record it: ``trial._responders``
    compares integer ratings), so it is <= the threshold exactly when it is <= floor(threshold), i.e. when the noisy
    score is below floor(threshold) + 0.5. A response threshold is half of an integer reference, so it is a
    half-integer for odd references (baseline 33: ratings <= 16 respond); until the fifteenth session this used
    threshold + 0.5 and counted a rating of 17 there too (rates ~0.9 pp high on average over the calibration rows).
    The 1e-9 keeps an integer threshold that arrives as 16.999999... from floating arithmetic on its integer."""
    from scipy.special import ndtr      # the standard normal CDF; scipy on first use only, as below

    return ndtr((np.floor(np.asarray(threshold, dtype=float) + 1e-9) + 0.5 - score) / sigma)


#: key of calibration's seeded stream of the screening ratings' draws (``np.random.default_rng([seed, key])``): a
#: stream of its own, so counting response from screening changes no other draw of a seed (a virtual trial draws
#: them last from each arm's own stream, ``trial._simulate_outcome``)
SCREENING_STREAM = 0x5C12


def screening_ratings(baseline: np.ndarray, baseline_dist: Distribution, screening: Screening, z: np.ndarray,
                      scale_max: float) -> np.ndarray:
    """Each patient's screening rating (integer points within the scale) given their baseline rating: the normal
    conditional on the baseline of a bivariate normal with the baseline's distribution (the scenario's, mean and SD)
    and the screening's mean, SD and correlation; ``z``: one standard-normal draw per patient. With no baseline
    spread the screening rating is drawn from its own distribution."""
    b = np.asarray(baseline, float)
    r = screening.correlation
    if baseline_dist.sd > 0:
        mean = screening.mean + r * screening.sd / baseline_dist.sd * (b - baseline_dist.mean)
        sd = screening.sd * math.sqrt(max(1.0 - r * r, 0.0))
    else:
        mean, sd = np.full(b.shape, screening.mean), screening.sd
    return np.clip(np.rint(mean + sd * np.asarray(z, float)), 0.0, scale_max)


def fluctuation_parameters(params, scale_max: float) -> tuple[float, float]:
    """(stationary SD in scale points, correlation time in h) of the within-patient fluctuation of true severity;
    SD 0 for a set calibrated before the fluctuation existed (nineteenth session), which explained every rating's
    spread without it."""
    s = params.free_value("fluctuation_sd") if "fluctuation_sd" in params.free else 0.0
    return s * scale_max, params.get("pd.fluctuation.correlation_time", "h")


def bp_reading_sd_factor(spec, params, age_years, sbp0) -> np.ndarray | None:
    """Each patient's multipliers of a monitored blood pressure reading's SD, (n, 2): column 0 of
    ``monitoring.sbp_reading_sd``, column 1 of ``monitoring.dbp_reading_sd``; or None (everyone the parameters' SDs)
    when ``spec.bp_reading_sd_scales`` is false. On (the default since the forty-third session; a hypothesis of the
    forty-second):
    1 + a x (age - age_ref) / 10 + b x (SBP0 - SBP_ref) / 10 per patient, with a = monitoring.reading_sd_per_decade,
    b = monitoring.reading_sd_per_10mmhg (Schutte 2012 Hypertension 60:1138 Table 2: short-term systolic variability
    +0.138 mmHg per decade and +0.347 mmHg per 10 mmHg, each adjusted for the other, on 4.08 mmHg at mean age
    44.9 y) and the references monitoring.reading_sd_reference_age / _sbp (45 y, 122 mmHg: a typical 45-year-old
    keeps the parameter's SD). ``sbp0``: the patients' true pre-dose SBP (mmHg; ``baseline_bp``), the level, not a
    reading. Kept above 0.25 (a guard the model's populations never reach: 18 y at 80 mmHg gives 0.55). Diastolic
    readings take a share s = monitoring.reading_sd_dbp_share of the systolic excess, 1 + s x (factor - 1) (Table 2 is
    systolic only; Drayer 1982's diastolic 24-h SD rose about half as much with age as the systolic). Trials' readings
    (``trial.bp_readings``, ``_hypertension``, ``max_rise_session_means``) and calibration's analytic outlier
    probabilities (``calibration._bp_outlier_probability``) use this one factor."""
    if not getattr(spec, "bp_reading_sd_scales", False):
        return None
    a = params.get("monitoring.reading_sd_per_decade")
    b = params.get("monitoring.reading_sd_per_10mmhg")
    age_ref = params.get("monitoring.reading_sd_reference_age", "year")
    sbp_ref = params.get("monitoring.reading_sd_reference_sbp", "mmHg")
    f = 1.0 + a * (np.asarray(age_years, float) - age_ref) / 10.0 + b * (np.asarray(sbp0, float) - sbp_ref) / 10.0
    f = np.maximum(f, 0.25)
    return np.column_stack([f, 1.0 + params.get("monitoring.reading_sd_dbp_share") * (f - 1.0)])


def fluctuation_scale(spec, params, entry):
    """Each patient's multiplier of the fluctuation's stationary SD (:func:`fluctuation_parameters`): 1.0 (a
    scalar, everyone alike) unless ``spec.fluctuation_scales_with_severity`` (a hypothesis, off by default), then
    (1 - w) + w x (entry / scale maximum) / r per patient, with w = pd.fluctuation.entry_share (the share of the SD
    that is proportional to entry severity) and r = pd.fluctuation.reference_entry_severity (the entry severity, as
    a fraction of the scale maximum, at which the size is fluctuation_sd as fitted). ``entry``: the patients' true
    severity at entry (scale points; ``Patients.baseline``). Published arms' SD of change rises with their baseline
    (elasticity ~0.6, Cipriani 2018's open data); with everyone alike the model's rises with elasticity ~0.2.
    ``spec.fluctuation_scales_with_trial_severity`` (another hypothesis, off by default) reads that relation at the
    trial level instead: one multiplier (1 - w) + w x (the arm's mean baseline / scale maximum) / r for every patient
    of the arm (a float), w = pd.fluctuation.trial_entry_share; within one trial a patient's spread then does not
    depend on their own baseline (Goldstein 2004's individual data: elasticity 0.19, -0.44 to 0.80)."""
    ref = params.get("pd.fluctuation.reference_entry_severity")
    if spec.fluctuation_scales_with_trial_severity:
        # the trial-level reading (twenty-seventh session): the arm's mean baseline, a design fact, sets one
        # multiplier for every patient of the arm (share pd.fluctuation.trial_entry_share)
        w = params.get("pd.fluctuation.trial_entry_share")
        return (1.0 - w) + w * (float(spec.baseline.mean) / spec.scale_max) / ref
    if not spec.fluctuation_scales_with_severity:
        return 1.0
    w = params.get("pd.fluctuation.entry_share")
    e = np.asarray(entry, dtype=float) / spec.scale_max
    return (1.0 - w) + w * e / ref


def _fluctuation_change_var(params, scale_max: float, time_h):
    """Variance (scale points^2) of the fluctuation's change since trial entry at ``time_h`` h: 2 s^2 (1 - exp(-t/tau))."""
    s, tau = fluctuation_parameters(params, scale_max)
    t = np.maximum(np.asarray(time_h, dtype=float), 0.0)
    return 2.0 * s ** 2 * (1.0 - np.exp(-t / tau))


def fluctuation_change_sd(params, scale_max: float, time_h):
    """SD (scale points) of the change of a patient's true severity since trial entry that the within-patient
    fluctuation adds at ``time_h`` hours (scalar or array): an Ornstein-Uhlenbeck process of stationary SD
    fluctuation_sd x ``scale_max`` and correlation time pd.fluctuation.correlation_time, whose change over t has
    variance 2 s^2 (1 - exp(-t / tau)). It is what week-to-week swings of mood add to a rating beyond the rater's
    noise (relapses on continued treatment, the widening of trial arms over weeks); the ODE's score is the patient's
    expected course."""
    return np.sqrt(_fluctuation_change_var(params, scale_max, time_h))


def rating_sd_at(params, scale_max: float, time_h=None, scale=1.0):
    """SD (scale points) of a rating about the model score at ``time_h`` hours after trial entry: the rater's noise
    (rating_noise_sd x ``scale_max``) and the fluctuation of true severity since entry (:func:`fluctuation_change_sd`);
    ``time_h`` None: the rater's noise alone. What a virtual trial's ratings carry (``trial._simulate_outcome``),
    used analytically by calibration and sensitivity. ``scale``: 1.0, or each patient's multiplier of the
    fluctuation's SD (:func:`fluctuation_scale`, an array): the result is then patients x ``time_h``'s shape."""
    rater = params.free_value("rating_noise_sd") * scale_max
    if time_h is None:
        return rater
    var = _fluctuation_change_var(params, scale_max, time_h)
    if np.ndim(scale) > 0:
        return np.sqrt(rater ** 2 + np.multiply.outer(np.asarray(scale, float) ** 2, var))
    out = np.sqrt(rater ** 2 + float(scale) ** 2 * var)     # x 1.0 is exact: the default is unchanged
    return float(out) if out.ndim == 0 else out


def fluctuation_paths(params, scale_max: float, times_h, z, scale=1.0, entry=None) -> np.ndarray:
    """Each patient's fluctuation of true severity at ``times_h`` (h since trial entry, ascending, >= 0) minus its
    value at entry (scale points; patients x times): the Ornstein-Uhlenbeck process of :func:`fluctuation_change_sd`
    sampled exactly (an AR(1) step exp(-dt / tau) between successive times, so any grid gives the same joint law).
    ``z``: standard-normal draws, patients x (len(times_h) + 1) (the first column is the value at entry).
    ``scale``: 1.0 or each patient's multiplier of the SD (:func:`fluctuation_scale`). ``entry``: None (X(0)
    unselected, s z[:, 0]), or (mean, SD) per patient of X(0) in scale points (:func:`entry_fluctuation`, a trial's
    entry criterion): X(0) = mean + SD z[:, 0], the same draws (nothing else moves)."""
    m = np.reshape(np.asarray(scale, float), (-1, 1))
    if entry is None:
        return _ou_changes(*fluctuation_parameters(params, scale_max), times_h, z) * m
    z = np.asarray(z, dtype=float)
    x0 = entry[0] + entry[1] * z[:, 0]
    mm = np.broadcast_to(m[:, 0], x0.shape)
    x0 = np.divide(x0, mm, out=np.zeros_like(x0), where=mm != 0)     # in the common-size path's points
    return _ou_changes(*fluctuation_parameters(params, scale_max), times_h, z, x0) * m


def entry_fluctuation(spec, params, patients, scale=1.0):
    """The fluctuation of true severity at trial entry, X(0), given the trial's entry criterion
    (``spec.entry_selection``; a hypothesis, fifty-third session): (mean, SD) per patient in scale points, or None
    when the scenario states no criterion (X(0) is then unselected, N(0, s^2): the model before the switch, bit for
    bit).

    Why: a rating is truth + fluctuation X + rater's noise, and trials enrol patients whose entry rating passes a
    threshold, so X(0) (and the noise of the rating that was selected) is selected upwards and regresses afterwards
    (regression to the mean). Every later rating carries X(t) - X(0); with X(0) selected its mean is
    -(1 - a) E[X(0)], a = exp(-t / tau): an improvement that grows over weeks towards E[X(0) given selection].

    Math (all in scale points; s = fluctuation_sd x scale maximum x the patient's multiplier ``scale``, tau =
    pd.fluctuation.correlation_time in h, sigma = rating_noise_sd x scale maximum). Unselected entry ratings are
    N(mu0, s0^2), backed out of the reported baseline mean and SD as a normal cut at ``min``
    (:func:`unselected_entry`); truth L, X and the noise are independent normals with var L = s0^2 - s^2 - sigma^2.
    Selection acts on the rating only, so the conditional law given the rating is that of the unselected joint:

    * at: baseline. The patient's true severity at entry B = L + X(0) (``patients.baseline``; the baseline rating
      itself unless population.baseline_rating_noise, when :func:`true_baseline` has drawn the noise given the
      selected rating with the same mu0, s0). X(0) given B ~ N(g (B - mu0), s^2 (1 - g)), g = s^2 / var_B, var_B =
      s0^2 - sigma^2 with the baseline noise, s0^2 without. Averaged over the selected patients E[X(0) given sel] =
      s^2 / s0^2 (mean - mu0) either way.
    * at: screening, ``interval_h`` = Delta before the baseline. The selected rating is the screening one (its noise
      is gone by the baseline: no noise part). The reported baseline ratings R stand in for the screening ratings
      (the papers report the baseline): X(0) given R ~ N(a_D g0 (R - mu0), s^2 (1 - a_D^2 g0)), g0 = s^2 / s0^2,
      a_D = exp(-Delta / tau).

    g is kept <= 1 (a parameter set whose fluctuation exceeds the backed-out spread selects X(0) fully).
    The baseline ratings themselves keep the reported distribution (the model's N(mean, sd) within the scale, not
    the truncated shape): the conditional mean is linear in the rating, so the arm's E[X(0) given sel] and
    Var(X(0) given sel) depend only on the reported mean and SD.

    Each patient's X(0) is drawn from the ARM's selected law, the per-patient conditional above averaged over the
    arm's population (the stated baseline distribution, not the sample: the law does not depend on the arm's size,
    a crossover's sequences or the other patients): mean g (E[B] - mu0) and, by the law of total variance,
    s^2 - g^2 (var_B - Var(B)), where E[B] = mean and Var(B) = sd^2 without the baseline noise and, with it (the true
    baseline of :func:`true_baseline`, k = 1 - sigma^2 / s0^2), E[B] = mu0 + k (mean - mu0) and Var(B) =
    k^2 sd^2 + k sigma^2; at screening mean a_D g0 (mean - mu0) and variance s^2 - (a_D g0)^2 (s0^2 - sd^2). This is
    s^2 (1 - g) + g^2 Var(B) while g < 1, and exactly s^2 with mean 0 when the criterion excludes nobody (mu0 = mean,
    s0 = sd) even where g is capped at 1. Apart from the size of each patient's fluctuation (``scale``, when it
    follows severity), X(0) does not depend on the patient's own baseline (fifty-fourth session; the fifty-third drew
    it given each patient's B). Why: a held check on individual data rejects the per-patient coupling. Within an
    antidepressant trial's arms the slope of the change on the patient's own baseline (HAM-D17, Goldstein 2004, PMID
    15232330, public rbmi data; computed by helper HB of the fifty-fourth session) is -0.01 (95 % CI -0.32 to 0.30) in
    the placebo arm and -0.54 (-0.82 to -0.27) in the drug arm at week 6; the model gives -0.11 (natural course alone)
    and -0.42 (a new oral antidepressant) uncoupled but gave -0.65 and -0.95 coupled
    (benchmarks/shape_baseline_slope.py). So the key moves the arm's mean and spread (regression to the mean) and,
    when it excludes nobody (a ``min`` far below the ratings), is the model without it (the fifty-third session's
    law lowered a saline arm's response 2.1 -> 0.7 % at ``min: 0``; review M2)."""
    sel = spec.entry_selection
    if sel is None:
        return None
    s, tau = fluctuation_parameters(params, spec.scale_max)
    sx = s * np.asarray(scale, float)
    mean_r, sd_r = float(spec.baseline.mean), float(spec.baseline.sd)
    mu0, s0 = unselected_entry(mean_r, sd_r, float(sel.min))
    if sel.at == "screening":
        c = math.exp(-float(sel.interval_h) / tau) * np.minimum(sx ** 2 / s0 ** 2, 1.0)
        mean = c * (mean_r - mu0)
        var = sx ** 2 - c ** 2 * (s0 ** 2 - sd_r ** 2)
    else:
        # the selected patients' true baselines B: their mean and variance over the arm's population
        sigma = params.free_value("rating_noise_sd") * spec.scale_max
        if spec.baseline_rating_noise:
            k = max(0.0, 1.0 - sigma ** 2 / s0 ** 2)
            mean_b, var_sel, var_b = mu0 + k * (mean_r - mu0), k * k * sd_r ** 2 + k * sigma ** 2, k * s0 ** 2
        else:
            mean_b, var_sel, var_b = mean_r, sd_r ** 2, s0 ** 2
        g = np.minimum(sx ** 2 / var_b, 1.0) if var_b > 0 else np.ones_like(sx)
        mean = g * (mean_b - mu0)
        var = sx ** 2 - g ** 2 * (var_b - var_sel)
    n = np.shape(patients.baseline)[0]
    return np.broadcast_to(mean, (n,)).astype(float), np.broadcast_to(np.sqrt(np.maximum(var, 0.0)), (n,)).astype(float)


def entry_change_moments(params, scale_max: float, time_h, entry_mean, entry_sd, scale=1.0):
    """(mean, variance) per patient x time of the fluctuation's change since entry X(t) - X(0) (scale points,
    points^2) when X(0) ~ N(``entry_mean``, the square of ``entry_sd``) (:func:`entry_fluctuation`): with a = exp(-t / tau),
    X(t) - X(0) = -(1 - a) X(0) + s sqrt(1 - a^2) Z, so the mean is -(1 - a) entry_mean (an improvement) and the
    variance (1 - a)^2 entry_sd^2 + s^2 (1 - a^2), s = fluctuation_sd x ``scale_max`` x ``scale``; unselected
    (entry N(0, s^2)) it is 2 s^2 (1 - a), :func:`fluctuation_change_sd`'s. The closed form calibration's analytic
    rows use (``calibration._simulate_file``); a virtual trial draws the same law (``trial._simulate_outcome``)."""
    s, tau = fluctuation_parameters(params, scale_max)
    t = np.maximum(np.asarray(time_h, dtype=float), 0.0)
    a = np.exp(-t / tau)
    m0 = np.reshape(np.asarray(entry_mean, float), (-1, 1))
    v0 = np.reshape(np.asarray(entry_sd, float), (-1, 1)) ** 2
    sx2 = np.reshape((s * np.asarray(scale, float)) ** 2, (-1, 1))
    return -(1.0 - a) * m0, (1.0 - a) ** 2 * v0 + sx2 * (1.0 - a ** 2)


def _ou_changes(s: float, tau: float, times_h, z, x0=None) -> np.ndarray:
    """:func:`fluctuation_paths` for a stationary SD ``s`` (scale points) and correlation time ``tau`` (h); ``x0``:
    None (the value at entry s z[:, 0], stationary) or each patient's value at entry (points)."""
    t = np.asarray(times_h, dtype=float)
    z = np.asarray(z, dtype=float)
    if t.ndim != 1 or (t.size and (t[0] < 0 or np.any(np.diff(t) < 0))):
        raise ValueError("fluctuation_paths: times_h must be ascending and >= 0")
    if z.shape[-1] != t.size + 1:
        raise ValueError(f"fluctuation_paths: z needs {t.size + 1} columns, got {z.shape[-1]}")
    x = s * z[:, 0] if x0 is None else np.asarray(x0, dtype=float).copy()
    x0 = x.copy()
    out = np.empty((z.shape[0], t.size))
    prev = 0.0
    for k, tk in enumerate(t):
        a = math.exp(-(tk - prev) / tau)
        x = a * x + s * math.sqrt(max(1.0 - a * a, 0.0)) * z[:, k + 1]
        out[:, k] = x - x0
        prev = tk
    return out


def fluctuation_change_cov(s: float, tau: float, a_h, b_h) -> np.ndarray:
    """Covariance (scale points^2) of the fluctuation's changes since entry, X(a) - X(0) and X(b) - X(0), at times
    ``a_h`` (rows) and ``b_h`` (columns) in h from entry (either sign): s^2 (rho(a - b) - rho(a) - rho(b) + 1) with
    rho(d) = exp(-abs(d) / tau), for the Ornstein-Uhlenbeck process of stationary SD ``s`` (scale points) and
    correlation time ``tau`` (h) of :func:`fluctuation_change_sd` (its diagonal is that variance)."""
    a = np.asarray(a_h, dtype=float)[:, None]
    b = np.asarray(b_h, dtype=float)[None, :]
    return s ** 2 * (np.exp(-np.abs(a - b) / tau) - np.exp(-np.abs(a) / tau) - np.exp(-np.abs(b) / tau) + 1.0)


def _fluctuation_gain(s: float, tau: float, times_h, obs_times_h, noise_sd: float) -> np.ndarray:
    """(times x observations) A = C_to (C_oo + noise_sd^2 I)^+ of :func:`fluctuation_conditional` (pseudo-inverse:
    a residual at entry without noise carries no fluctuation, and repeated times without noise are one)."""
    o = np.asarray(obs_times_h, dtype=float)
    c_oo = fluctuation_change_cov(s, tau, o, o) + noise_sd ** 2 * np.eye(o.size)
    return fluctuation_change_cov(s, tau, times_h, o) @ np.linalg.pinv(c_oo, rcond=1e-10, hermitian=True)


def fluctuation_conditional_mean(s: float, tau: float, times_h, obs_times_h, residuals, noise_sd: float) -> np.ndarray:
    """(rows x times) expected fluctuation's change since entry at ``times_h`` given ``residuals`` (rows x
    observations at ``obs_times_h``): A r (:func:`fluctuation_conditional`). Scale points and h."""
    r = np.atleast_2d(np.asarray(residuals, dtype=float))
    t = np.asarray(times_h, dtype=float)
    if s == 0.0 or np.size(obs_times_h) == 0:
        return np.zeros((r.shape[0], t.size))
    return r @ _fluctuation_gain(s, tau, t, obs_times_h, noise_sd).T


def fluctuation_conditional(s: float, tau: float, times_h, obs_times_h, residuals, noise_sd: float,
                            rng: np.random.Generator) -> np.ndarray:
    """Draws (rows x times) of the fluctuation's change since entry at ``times_h`` (h since entry, >= 0) given
    ``residuals`` (rows x observations) observed at ``obs_times_h`` (>= 0), each residual being that change plus
    independent noise of SD ``noise_sd`` (the rater's; 0: the path itself), for the Ornstein-Uhlenbeck process of
    stationary SD ``s`` (scale points) and correlation time ``tau`` (h) (:func:`fluctuation_change_cov`). Exact
    Gaussian conditioning (a Kalman smoother written as one regression) by Matheron's rule: a joint draw of the
    unconditioned path at every time (:func:`fluctuation_paths`, AR(1) steps) and of the noise, moved by the
    regression of its miss, ``Z_t + A (r - Z_o - e)`` with A = C_to (C_oo + noise_sd^2 I)^+: mean A r, covariance
    C_tt - A C_ot, at a cost linear in the number of times (no times x times matrix). No observations: the
    population law."""
    t = np.asarray(times_h, dtype=float)
    o = np.asarray(obs_times_h, dtype=float)
    r = np.atleast_2d(np.asarray(residuals, dtype=float))
    rows = r.shape[0]
    if s == 0.0:
        return np.zeros((rows, t.size))
    every, where = np.unique(np.concatenate([t, o]), return_inverse=True)
    path = _ou_changes(s, tau, every, rng.standard_normal((rows, every.size + 1)))
    z_t = path[:, where[:t.size]]
    if o.size == 0:
        return z_t
    miss = r - path[:, where[t.size:]] - noise_sd * rng.standard_normal((rows, o.size))
    return z_t + miss @ _fluctuation_gain(s, tau, t, o, noise_sd).T


#: Accepted mean age (years) and mean body weight (kg) of a population, and the value of one stated patient.
AGE_MEAN_RANGE = (12.0, 100.0)
WEIGHT_MEAN_RANGE = (20.0, 250.0)


def check_age(age: Distribution, field: str = "population.age_years") -> None:
    """Mean 12-100 years and SD 0-50 (as before); an inclusion range within AGE_RANGE with min < max and the mean
    inside it; else a one-line error naming the field."""
    lo, hi = AGE_RANGE
    for key in ("min", "max"):      # first: the quick form's mean is the range's middle (--age-range 65-200)
        v = getattr(age, key)
        if v is not None and not (math.isfinite(v) and lo <= v <= hi):
            raise InputError(f"{field}.{key}: must lie in {lo:g}-{hi:g} years (the ages the model samples), got {v:g}")
    if not (AGE_MEAN_RANGE[0] <= age.mean <= AGE_MEAN_RANGE[1]) or not (0 <= age.sd <= 50):
        raise InputError(f"{field}: mean must lie in {AGE_MEAN_RANGE[0]:g}-{AGE_MEAN_RANGE[1]:g} years and sd in 0-50 "
                         f"years, got mean {age.mean:g}, sd {age.sd:g}")
    a, b = (age.min if age.min is not None else lo), (age.max if age.max is not None else hi)
    if age.min is not None or age.max is not None:
        if not a < b:
            raise InputError(f"{field}.min: the youngest age included must be below the oldest ({a:g} is not below "
                             f"{b:g} years)")
        if not (a <= age.mean <= b):
            raise InputError(f"{field}.mean: {age.mean:g} lies outside the inclusion range {a:g}-{b:g} years; give the "
                             "mean of the untruncated age distribution within it (e.g. the range's middle)")


def age_bounds(age: Distribution) -> tuple[float, float]:
    """The range ages are sampled in: the inclusion range if given, else AGE_RANGE."""
    lo, hi = AGE_RANGE
    return (lo if age.min is None else float(age.min)), (hi if age.max is None else float(age.max))


def check_baseline(baseline: Distribution, scale: str, field: str) -> None:
    """A baseline score distribution on ``scale`` (points): mean in (0, max], SD in [0, max]; else a one-line error
    naming ``field`` (population.baseline, or an arm's own arms.NAME.baseline)."""
    smax = SCALES[scale][0]
    if not (0 < baseline.mean <= smax) or not (0 <= baseline.sd <= smax):
        raise InputError(f"{field}: mean must lie in (0, {smax:g}] and sd in [0, {smax:g}] points on {scale}, got mean "
                         f"{baseline.mean:g}, sd {baseline.sd:g}")


def warn_unreachable_baseline(baseline: Distribution, scale: str, field: str) -> None:
    """A one-line :class:`BaselineWarning` naming ``field`` when no normal truncated to the sampled range [1, max] has
    the valid baseline's mean and SD (:func:`baseline_normal` samples the closest one). Called once where a scenario
    is read (scenario.py), not by PopulationSpec, whose copies (dataclasses.replace) would repeat it."""
    smax = float(SCALES[scale][0])
    _, _, mean, sd = baseline_normal(float(baseline.mean), float(baseline.sd), BASELINE_RANGE_LOW, smax)
    if abs(mean - baseline.mean) > BASELINE_MOMENT_TOLERANCE or abs(sd - baseline.sd) > BASELINE_MOMENT_TOLERANCE:
        warnings.warn(f"{field}: no normal truncated to {BASELINE_RANGE_LOW:g}-{smax:g} points on {scale} has mean "
                      f"{baseline.mean:g} and sd {baseline.sd:g}; patients are sampled with mean {mean:.1f} and sd "
                      f"{sd:.1f}, the closest such a distribution reaches", BaselineWarning, stacklevel=2)


#: Baseline ratings are sampled in [BASELINE_RANGE_LOW, the scale's maximum] (points; a patient at 0 has nothing to
#: relieve: the model's score is relief relative to the baseline).
BASELINE_RANGE_LOW = 1.0
#: Below this gap (points) between a stated baseline's mean or SD and those of the normal truncated to the range
#: with the stated mean and SD as its location and scale, that normal is sampled as it is (the rule until the
#: fifty-third session); above it the location and scale are solved so that the truncated moments are the stated
#: ones (:func:`baseline_normal`). 0.05 is half the last digit of a mean or SD published to one decimal, so the gap
#: left is below what a source states. Every calibration scenario's gap is below 0.025 (Canuso 2018's SD, 6.6 on
#: MADRS), so their patients are unchanged, bit for bit; GAD-7's default (16.4, 3.9) had 0.88 (mean) and 0.68 (SD).
BASELINE_MOMENT_TOLERANCE = 0.05
#: The widest untruncated SD :func:`baseline_normal` tries, in multiples of the range: at 10 the truncated SD is within
#: ~0.02 % of the largest any truncated normal with that mean reaches (the truncated exponential, its limit).
_BASELINE_SIGMA_CAP = 10.0
#: how many times :func:`baseline_normal` doubles its bracket for the location (each doubles its width: ~1e30 points)
_LOCATION_DOUBLINGS = 100


#: Gauss-Legendre nodes of :func:`_truncated_moments`' far-tail quadrature (its integrand, exp(-c u - u^2 / 2) on an
#: interval where the exponent rises to at most 60, is resolved to ~1e-12 by far fewer)
_TAIL_QUADRATURE_NODES = 160


@functools.lru_cache(maxsize=1)
def _tail_quadrature():
    return np.polynomial.legendre.leggauss(_TAIL_QUADRATURE_NODES)


def _truncated_moments(mu: float, sigma: float, lo: float, hi: float) -> tuple[float, float]:
    """Mean and SD (points) of Normal(mu, sigma) truncated to [lo, hi]. Mirrored so that the interval lies on the
    lower side (t = (x - mu) / sigma in [a, b], a + b <= 0). Where the interval reaches within 3 SD of the location
    (b >= -3) the closed form (Z = Phi(b) - Phi(a) in log space) is well conditioned. Farther out, the closed form's
    variance is a difference of terms ~b^2 (a mean within ~1 point of a scale bound puts the location 1e4-1e6 points
    away: review s53 M1), so the moments come from quadrature of the density on u = b - t >= 0, proportional to
    exp(-|b| u - u^2 / 2), over the part where the exponent is below 60; the mean is then the near bound minus (or
    plus) sigma E[u], without cancellation."""
    from scipy.special import log_ndtr

    a, b = (lo - mu) / sigma, (hi - mu) / sigma
    sign = 1.0
    if a + b > 0:                                  # mirror so that the interval lies on the lower side
        a, b, sign = -b, -a, -1.0
    if b >= -3.0:
        lb, la = float(log_ndtr(b)), float(log_ndtr(a))
        log_z = lb + math.log1p(-math.exp(la - lb))    # log(Phi(b) - Phi(a))
        half_log_2pi = 0.5 * math.log(2.0 * math.pi)
        ra, rb = (math.exp(-0.5 * t * t - half_log_2pi - log_z) for t in (a, b))   # phi(t) / Z
        m = ra - rb
        v = max(1.0 + a * ra - b * rb - m * m, 0.0)
        return mu + sign * sigma * m, sigma * math.sqrt(v)
    c = -b                                         # > 3: the near bound is c SDs below the location
    top = min(b - a, math.sqrt(c * c + 120.0) - c)  # c u + u^2 / 2 = 60 there
    x, w = _tail_quadrature()
    u = 0.5 * top * (x + 1.0)
    f = 0.5 * top * w * np.exp(-c * u - 0.5 * u * u)
    z = float(f.sum())
    eu = float((f * u).sum()) / z
    vu = max(float((f * (u - eu) ** 2).sum()) / z, 0.0)
    near = hi if sign > 0 else lo                  # the bound nearest the location
    return near - sign * sigma * eu, sigma * math.sqrt(vu)


@functools.lru_cache(maxsize=256)
def baseline_normal(mean: float, sd: float, lo: float, hi: float) -> tuple[float, float, float, float]:
    """(location, scale, mean, SD) of the normal truncated to [lo, hi] (points) that baseline ratings are sampled from,
    for a stated baseline ``mean`` and ``sd``: the stated mean and SD as location and scale when truncating them moves
    neither moment by more than BASELINE_MOMENT_TOLERANCE (e.g. MADRS 33 (5) on 1-60); else the location and scale
    whose truncated mean and SD are the stated ones (GAD-7 16.4 (3.9) on 1-21: location ~34, scale ~10: a
    distribution rising towards the ceiling, where the stated numbers put most patients). When no truncated normal
    has that mean and SD (an SD wider than the truncated exponential with that mean, the family's limit, or a mean
    outside (lo, hi)), the stated mean with the widest SD reachable (scale capped at 10 x the range), or the stated
    mean and SD as location and scale when the mean itself is out of reach. The last two values are the moments
    actually sampled (warn_unreachable_baseline warns when they miss the stated ones)."""
    if sd <= 0:
        m = min(max(mean, lo), hi)
        return m, sd, m, 0.0
    m0, s0 = _truncated_moments(mean, sd, lo, hi)
    if (abs(m0 - mean) <= BASELINE_MOMENT_TOLERANCE and abs(s0 - sd) <= BASELINE_MOMENT_TOLERANCE) \
            or not lo < mean < hi:
        return mean, sd, m0, s0
    from scipy.optimize import brentq

    def location(sigma):                           # the location whose truncated mean is the stated mean
        def f(mu):
            return _truncated_moments(mu, sigma, lo, hi)[0] - mean

        left, right = lo - sigma, hi + sigma
        for _ in range(_LOCATION_DOUBLINGS):
            if f(left) <= 0:
                break
            left -= 2.0 * (right - left)
        for _ in range(_LOCATION_DOUBLINGS):
            if f(right) >= 0:
                break
            right += 2.0 * (right - left)
        if f(left) > 0 or f(right) < 0:
            raise ValueError("no location within reach")
        return brentq(f, left, right, xtol=1e-10, rtol=1e-14)

    def sd_gap(sigma):
        return _truncated_moments(location(sigma), sigma, lo, hi)[1] - sd

    cap = _BASELINE_SIGMA_CAP * (hi - lo)
    try:
        if sd_gap(cap) < 0:                        # too wide for any truncated normal with this mean
            sigma = cap
        else:                                      # truncation narrows a normal, so the scale is >= the stated SD
            sigma = brentq(sd_gap, sd, cap, xtol=1e-10, rtol=1e-14)
        mu = location(sigma)
    except (ValueError, OverflowError, ZeroDivisionError):
        # a mean so near a bound that no location within ~1e30 points reaches it: the stated mean and SD as
        # location and scale (warn_unreachable_baseline names what is sampled)
        return mean, sd, m0, s0
    m1, s1 = _truncated_moments(mu, sigma, lo, hi)
    return mu, sigma, m1, s1


def default_treatment_resistant(condition: str) -> bool:
    """``treatment_resistant`` when a population or patient does not state it: true for depression (the model's main
    use, treatment-resistant depression: >= 2 failed treatments) and false for PTSD, anxiety and suicidal ideation,
    whose trials did not select on failed treatments (the calibration's Feder 2021, Taylor 2018 and Canuso 2018
    scenarios state false; Glue 2018's refractory anxiety states true). It was true for every condition until the
    fiftieth session, which gave a PTSD, anxiety or SI scenario that left it out the depression-specific placebo
    ratio, recurrence probability and spine-stress setting without a word."""
    return condition == "depression"


@dataclasses.dataclass(frozen=True)
class PopulationSpec:
    size: int = 1
    condition: str = "depression"
    treatment_resistant: bool | None = None   # None: default_treatment_resistant(condition)
    scale: str = "madrs"
    baseline: Distribution = Distribution(33.0, 5.0)
    weight_kg: Distribution = Distribution(80.0, 15.0)
    age_years: Distribution = Distribution(45.0, 12.0)
    female_fraction: float = 0.55
    comedications: tuple[str, ...] = ()
    genotype: str | None = None          # fix everyone's BDNF genotype, else sampled
    crp_mg_l: float | None = None        # fix everyone's CRP, else sampled
    expectancy: float = 1.0              # context multiplier of placebo response (1 = ordinary clinic)
    care_setting: str = "outpatient"     # outpatient | inpatient | perioperative (non-specific care component)
    perception: float = 1.0              # 0 when drug effects cannot be perceived (e.g. given under anesthesia)
    general_anesthesia: bool = False     # sessions given under general anesthesia (e.g. during surgery)
    p_active: float = 1.0                # probability a participant believes to receive active drug (1 = open label;
                                         # a blinded trial's allocation: scenario files derive it from their arms)
    recurrence: bool = True              # a new depressive episode can break through continued treatment (issue 7,
                                         # maintenance: pd.recurrence.*); False = the model without it
    p_active_blinded: float | None = None  # a randomized withdrawal's probability of active drug after the
                                         # re-randomization: the design prior of every session's renewal and of
                                         # the unblinding update in both arms from blinded_from_h on (None:
                                         # p_active throughout; set by scenario files)
    blinded_from_h: float = 0.0          # when that re-randomization happens (h from trial entry); also the
                                         # switch to open label (p_active_blinded 1) of population.open_label_from
    re_response: bool = False            # a hypothesis, off by default: a new episode (recurrence) is relieved again
                                         # in part by active sessions after its onset (state reconsolidation)
    # what the recurrence time T counts: time since trial entry with a constant hazard ("entry", the default: the
    # model before the in-response clock, bit for bit), time spent in response ("response": Weibull,
    # pd.recurrence.weibull_shape) or time since recovery, a remission sustained for pd.recurrence.recovery_duration
    # ("recovery": the same Weibull, on the clock Kanai's cohort was followed on; no new episode before recovery)
    recurrence_clock: str = DEFAULT_RECURRENCE_CLOCK
    antidepressant_spread: bool = False  # a hypothesis, off by default (ninth session): a newly started oral
                                         # antidepressant's relief is spread by the non-specific trait
                                         # (definition._antidepressant_emax); off: the same fraction for everyone.
                                         # Population scenarios only (a stated patient or record keeps the default)
    antidepressant_trd: bool = False     # a hypothesis, off by default (twelfth session): a newly started oral
                                         # antidepressant relieves a treatment-resistant population
                                         # pd.antidepressant.trd_ratio x a first one's relief (STAR*D); its refit
                                         # CV is in NOTES.md
    visit_contact: bool = False          # a hypothesis, off by default (thirteenth session): each session adds a
                                         # cumulative non-specific benefit (free: visit_relief; Posternak &
                                         # Zimmerman 2007); its refit CV is in NOTES.md
    natural_course_spread: bool = False  # a hypothesis, off by default (sixteenth session): each patient's natural
                                         # course is its own (free: omega_natural; some patients worsen); its refit
                                         # CV is in NOTES.md
    baseline_rating_noise: bool = False  # a hypothesis, off by default (twenty-first session): the baseline rating
                                         # carries the rater's noise like every later rating (:func:`true_baseline`);
                                         # off: the baseline rating is the true severity at entry. Its refit CV was
                                         # level on rates, worse on means (NOTES.md)
    fluctuation_scales_with_severity: bool = False  # a hypothesis, off by default (twenty-sixth session): the
                                         # fluctuation of true severity's SD is partly a share of the patient's
                                         # entry severity (:func:`fluctuation_scale`), so an arm's SD of change
                                         # rises with its baseline as published arms' does; off: the same number
                                         # of scale points for everyone
    fluctuation_scales_with_trial_severity: bool = False  # a hypothesis, off by default (twenty-seventh session):
                                         # the same relation read at the trial level: the arm's mean baseline (a
                                         # design fact) sizes the fluctuation of all its patients alike
                                         # (:func:`fluctuation_scale`); exclusive with the per-patient reading
    bdnf_release_pool: bool = True       # on by default since the twenty-ninth session (a hypothesis of the
                                         # twenty-eighth; false: the earlier model): activity-dependent BDNF release
                                         # spends a releasable pool (free: bdnf_pool_capacity) that refills over
                                         # hours, so a longer glutamate surge (a higher dose) releases less and less
                                         # more BDNF (the 0.5-1 mg/kg plateau, a direction of the calibration)
    bp_reading_sd_scales: bool = True    # on by default since the forty-third session (a hypothesis of the
                                         # forty-second; its refit CV is in NOTES.md): a monitored blood pressure
                                         # reading's SD grows with the patient's age and pre-dose SBP
                                         # (:func:`bp_reading_sd_factor`; Schutte 2012); false: one SD for everyone
    entry_selection: EntrySelection | None = None  # a hypothesis, off when absent (fifty-third session): the
                                         # trial's entry criterion on the rating; the fluctuation at entry (and the
                                         # baseline rating's noise) is drawn given it (:func:`entry_fluctuation`)

    def __post_init__(self):
        f = "population"
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            raise InputError(f"{f}.size: must be a whole number >= 1, got {self.size!r}")
        if self.size > 2_000_000:
            raise InputError(f"{f}.size: {self.size} patients is more than the 2,000,000 supported")
        # 'PTSD', 'Val/Met', 'Inpatient' as they are usually written (the quick form read --condition PTSD already)
        for name, canon in (("condition", canonical_condition), ("genotype", _lower_words),
                            ("care_setting", _lower_words)):
            object.__setattr__(self, name, canon(getattr(self, name)))
        if self.condition not in CONDITIONS:
            raise InputError(unknown_condition(f"{f}.condition", self.condition))
        if self.treatment_resistant is None:
            object.__setattr__(self, "treatment_resistant", default_treatment_resistant(self.condition))
        object.__setattr__(self, "scale", canonical_scale(self.scale, f"{f}.scale"))   # 'HAM-D24' -> hamd24
        check_baseline(self.baseline, self.scale, f"{f}.baseline")
        wlo, whi = WEIGHT_MEAN_RANGE
        if not (wlo <= self.weight_kg.mean <= whi) or not (0 <= self.weight_kg.sd <= 100):
            raise InputError(f"{f}.weight_kg: mean must lie in {wlo:g}-{whi:g} kg and sd in 0-100 kg, got mean "
                             f"{self.weight_kg.mean:g}, sd {self.weight_kg.sd:g}")
        check_age(self.age_years, f"{f}.age_years")
        check_population_age(self, self.size)
        if not (0.0 <= self.female_fraction <= 1.0):
            ff = self.female_fraction
            hint = f" (a fraction: {ff:g} % is {ff / 100:g})" if 1.0 < ff <= 100.0 else ""
            raise InputError(f"{f}.female_fraction: must lie in [0, 1], got {ff:g}{hint}")
        check_comedications(self.comedications, f"{f}.comedications")
        if self.genotype is not None and self.genotype not in GENOTYPES:
            raise InputError(f"{f}.genotype: use one of {', '.join(GENOTYPES)}")
        if self.crp_mg_l is not None and not (0 <= self.crp_mg_l <= 300):
            raise InputError(f"{f}.crp_mg_l: must lie in 0-300 mg/L")
        if not (0 <= self.expectancy <= 5):
            raise InputError(f"{f}.expectancy: must lie in [0, 5]")
        if self.care_setting not in CARE_SETTINGS:
            raise InputError(f"{f}.care_setting: unknown care setting {self.care_setting!r}; use one of "
                             f"{', '.join(CARE_SETTINGS)}")
        if not (0 <= self.perception <= 1):
            raise InputError(f"{f}.perception: must lie in [0, 1]")
        if not (0 <= self.p_active <= 1):
            raise InputError(f"{f}.p_active: must lie in [0, 1] (1 = open label), got {self.p_active}")
        if self.p_active_blinded is not None and not (0 <= self.p_active_blinded <= 1):
            raise InputError(f"{f}.p_active_blinded: must lie in [0, 1], got {self.p_active_blinded}")
        if not (0 <= self.blinded_from_h <= 1e6):
            raise InputError(f"{f}.blinded_from_h: must lie in [0, 1e6] h, got {self.blinded_from_h}")
        if not isinstance(self.recurrence, (bool, np.bool_)):
            raise InputError(f"{f}.recurrence: must be true or false, got {self.recurrence!r}")
        if not isinstance(self.re_response, (bool, np.bool_)):
            raise InputError(f"{f}.re_response: must be true or false, got {self.re_response!r}")
        if not isinstance(self.antidepressant_spread, (bool, np.bool_)):
            raise InputError(f"{f}.antidepressant_spread: must be true or false, got {self.antidepressant_spread!r}")
        if not isinstance(self.antidepressant_trd, (bool, np.bool_)):
            raise InputError(f"{f}.antidepressant_trd: must be true or false, got {self.antidepressant_trd!r}")
        if not isinstance(self.visit_contact, (bool, np.bool_)):
            raise InputError(f"{f}.visit_contact: must be true or false, got {self.visit_contact!r}")
        if not isinstance(self.natural_course_spread, (bool, np.bool_)):
            raise InputError(f"{f}.natural_course_spread: must be true or false, got {self.natural_course_spread!r}")
        if not isinstance(self.baseline_rating_noise, (bool, np.bool_)):
            raise InputError(f"{f}.baseline_rating_noise: must be true or false, got {self.baseline_rating_noise!r}")
        if not isinstance(self.fluctuation_scales_with_severity, (bool, np.bool_)):
            raise InputError(f"{f}.fluctuation_scales_with_severity: must be true or false, got "
                             f"{self.fluctuation_scales_with_severity!r}")
        if not isinstance(self.fluctuation_scales_with_trial_severity, (bool, np.bool_)):
            raise InputError(f"{f}.fluctuation_scales_with_trial_severity: must be true or false, got "
                             f"{self.fluctuation_scales_with_trial_severity!r}")
        if not isinstance(self.bdnf_release_pool, (bool, np.bool_)):
            raise InputError(f"{f}.bdnf_release_pool: must be true or false, got {self.bdnf_release_pool!r}")
        if not isinstance(self.bp_reading_sd_scales, (bool, np.bool_)):
            raise InputError(f"{f}.bp_reading_sd_scales: must be true or false, got {self.bp_reading_sd_scales!r}")
        if self.fluctuation_scales_with_severity and self.fluctuation_scales_with_trial_severity:
            raise InputError(f"{f}.fluctuation_scales_with_trial_severity: choose one reading, per patient "
                             "(fluctuation_scales_with_severity) or per trial, not both")
        if self.recurrence_clock not in RECURRENCE_CLOCKS:
            raise InputError(f"{f}.recurrence_clock: use one of {', '.join(RECURRENCE_CLOCKS)}, got "
                             f"{self.recurrence_clock!r}")
        if self.recurrence_clock == "recovery" and SCALES[self.scale][1] is None:
            raise InputError(f"{f}.recurrence_clock: recovery needs the scale's remission threshold, and {self.scale} "
                             "has none; use entry or response")
        if self.re_response and not self.recurrence:
            raise InputError(f"{f}.re_response: needs recurrence (re-response acts on a new episode), which is "
                             "off here")
        if self.entry_selection is not None:
            if not isinstance(self.entry_selection, EntrySelection):
                raise InputError(f"{f}.entry_selection: must be a mapping such as {{min: 22}} (scale points), got "
                                 f"{self.entry_selection!r}"[:400])
            check_entry_selection(self.entry_selection, self.baseline, self.scale, f"{f}.entry_selection")

    @property
    def scale_max(self) -> float:
        return SCALES[self.scale][0]


@dataclasses.dataclass(frozen=True)
class Patients:
    """Arrays of length n: covariates and standard-normal random effects (``eta_*``)."""

    weight_kg: np.ndarray
    age_years: np.ndarray
    female: np.ndarray
    genotype_factor: np.ndarray
    crp_mg_l: np.ndarray
    baseline: np.ndarray
    eta_cl: np.ndarray
    eta_v: np.ndarray
    eta_f: np.ndarray
    eta_ke0: np.ndarray
    #: absorption rates (issue 7 PK): the patient's nasal and gut depots' rate constants (iiv.ka_intranasal_cv,
    #: iiv.ka_oral_cv in ``ketasim.pk``); own streams, so adding them changed no other variate of a seed
    eta_ka_nasal: np.ndarray
    eta_ka_gut: np.ndarray
    #: the IM and SC depots' absorption rate (iiv.ka_injection_cv, a proxy drug's spread; forty-first session); its
    #: own stream, so adding it changed no other variate of a seed
    eta_ka_injection: np.ndarray
    eta_emax: np.ndarray
    eta_placebo: np.ndarray
    eta_bp: np.ndarray
    eta_dissociation: np.ndarray
    #: sedation: log EC50 of the sedation index (iiv.sedation_ec50_cv; until the thirty-ninth session sedation had no
    #: spread of its own)
    eta_sedation: np.ndarray
    eta_response: np.ndarray      # drug-response trait (sensitivity of relief to plasticity), persists across sessions
    #: time to a new depressive episode on continued treatment (issue 7): T = -ln(1 - Phi(eta)) / hazard. Drawn from
    #: its own per-patient stream like every eta_* (patient_draws): adding it changed no other variate of a seed
    eta_recurrence: np.ndarray
    #: spontaneous course of the episode (issue 7): how much more or less than the typical patient this patient
    #: improves (or worsens) without treatment (free: omega_natural)
    eta_natural: np.ndarray
    #: inter-occasion variability (Karlsson & Sheiner 1993): standard-normal effects of THIS occasion (a period of a
    #: crossover trial) on systemic clearance and extravascular bioavailability, scaled by iov.clearance_cv /
    #: iov.bioavailability_cv in ``ketasim.pk``. None (the default) = no occasion effect (zeros): every design but a
    #: crossover, and a crossover with ``design.iov: false``. Not ``eta_*``: they are drawn per occasion
    #: (:func:`sample_patients` ``occasion=``), not once per patient.
    occasion_cl: np.ndarray | None = None
    occasion_f: np.ndarray | None = None
    #: the baseline rating (scale points, before rounding to the integer the rater records): ``baseline`` (the true
    #: severity at entry, which the model's score is scaled by) plus the rater's noise (:func:`true_baseline`).
    #: None (the default) = ``baseline`` itself: a stated patient, a personal fit, a population without the noise
    baseline_rating: np.ndarray | None = None

    def __post_init__(self):
        for f in OCCASION_FIELDS:
            if getattr(self, f) is None:
                object.__setattr__(self, f, np.zeros(self.n))
        if self.baseline_rating is None:
            object.__setattr__(self, "baseline_rating", np.asarray(self.baseline))

    @property
    def n(self) -> int:
        return int(np.shape(self.weight_kg)[0])

    @property
    def has_occasion_effects(self) -> bool:
        return any(np.any(getattr(self, f) != 0) for f in OCCASION_FIELDS)

    def take(self, idx) -> "Patients":
        return Patients(**{k: np.asarray(v)[idx] for k, v in dataclasses.asdict(self).items()})


#: per-occasion random effects of :class:`Patients` (standard normal; zeros = none)
OCCASION_FIELDS = ("occasion_cl", "occasion_f")


#: Patients are drawn in blocks of this many; patient ``i`` of a stream always gets the same values, however a
#: population is cut into chunks or spread over workers (see :func:`patient_draws`).
BLOCK = 4096

#: Random variates of a patient, each from its own stream keyed by the field name (so adding a field changes
#: no other field): "normal" = standard normal, "uniform" = U(0, 1). Every ``eta_*`` field of
#: :class:`Patients` is a standard normal drawn automatically: adding a random effect is one line there.
COVARIATE_DRAWS = {"weight_kg": "normal", "age_years": "normal", "female": "uniform", "genotype": "uniform",
                   "crp": "normal", "baseline": "normal", "baseline_rater": "normal"}


def _eta_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Patients) if f.name.startswith("eta_"))


def _field_key(name: str) -> int:
    import zlib

    return zlib.crc32(name.encode())


def as_seed_sequence(rng) -> np.random.SeedSequence:
    """The SeedSequence behind an integer seed, a SeedSequence or a Generator (not consumed)."""
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        ss = getattr(rng.bit_generator, "seed_seq", None) or getattr(rng.bit_generator, "_seed_seq", None)
        if not isinstance(ss, np.random.SeedSequence):
            raise InputError("seed: a Generator built from a SeedSequence (np.random.default_rng(seed)) is needed")
        return ss
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.SeedSequence(None if rng is None else int(rng))
    raise InputError(f"seed: expected an integer, a SeedSequence or a Generator, got {type(rng).__name__}")


def patient_draws(ss: np.random.SeedSequence, field: str, kind: str, start: int, n: int) -> np.ndarray:
    """Variates ``start .. start+n-1`` of ``field``: block ``b`` of a field is its own counter-free stream
    ``SeedSequence(entropy, spawn_key=(*ss.spawn_key, crc32(field), b))`` (Philox), so a patient's values
    depend only on (seed, stream, patient index)."""
    out = np.empty(n)
    if n == 0:
        return out
    key = _field_key(field)
    for b in range(start // BLOCK, (start + n - 1) // BLOCK + 1):
        g = np.random.Generator(np.random.Philox(
            np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, key, b))))
        x = g.standard_normal(BLOCK) if kind == "normal" else g.random(BLOCK)
        lo, hi = max(start, b * BLOCK), min(start + n, (b + 1) * BLOCK)
        out[lo - start:hi - start] = x[lo - b * BLOCK:hi - b * BLOCK]
    return out


def genotype_factors(params: ParameterSet) -> dict[str, float]:
    return {"val/val": 1.0, "val/met": params.get("pd.bdnf.val_met_factor"),
            "met/met": params.get("pd.bdnf.met_met_factor")}


def sample_patients(spec: PopulationSpec, params: ParameterSet, rng, n: int | None = None, *,
                    start: int = 0, occasion: int | None = None) -> Patients:
    """Patients ``start .. start+n-1`` (``n`` defaults to ``spec.size``) of the stream ``rng``.

    ``rng``: an integer seed, a SeedSequence or a Generator (its SeedSequence is used; it is not consumed).
    Patient ``i`` is the same whatever ``start`` and ``n`` (per-patient streams, :func:`patient_draws`), so
    chunked and distributed runs reproduce a single run exactly.

    ``occasion`` (an integer >= 1, e.g. the period of a crossover trial): the same patients (every covariate and
    ``eta_*`` unchanged) with this occasion's inter-occasion effects (``occasion_cl``, ``occasion_f``), each from
    its own per-patient stream keyed by field and occasion; None: no occasion effects (zeros).
    """
    ss = as_seed_sequence(rng)
    n = spec.size if n is None else n
    if n < 0 or start < 0:
        raise InputError("population.size: must be >= 0")
    if occasion is not None and (isinstance(occasion, bool) or not isinstance(occasion, (int, np.integer))
                                 or occasion < 1):
        raise InputError(f"occasion: a whole number >= 1 (the period of a crossover), got {occasion!r}")

    def draw(field):
        kind = COVARIATE_DRAWS.get(field, "normal")
        return patient_draws(ss, field, kind, start, n)

    def truncnormal(field, d: Distribution, lo, hi):
        """Normal(mean, sd) truncated (not clipped: no pile-up of patients at the bounds) to [lo, hi]: the
        patient's own standard-normal draw mapped through the truncated normal's quantile function."""
        if d.sd <= 0:
            return np.full(n, float(min(max(d.mean, lo), hi)))
        from scipy.stats import norm, truncnorm

        a, b = (lo - d.mean) / d.sd, (hi - d.mean) / d.sd
        return truncnorm.ppf(norm.cdf(draw(field)), a, b, loc=d.mean, scale=d.sd)

    gf = genotype_factors(params)
    if spec.genotype is not None:
        geno = np.full(n, gf[spec.genotype])
    else:
        q = params.get("pop.met_allele_frequency")
        u = draw("genotype")
        geno = np.where(u < (1 - q) ** 2, gf["val/val"], np.where(u < 1 - q * q, gf["val/met"], gf["met/met"]))
    if spec.crp_mg_l is not None:
        crp = np.full(n, float(spec.crp_mg_l))
    else:
        crp = params.get("pop.crp_median", "mg/L") * np.exp(math.log(params.get("pop.crp_gsd")) * draw("crp"))
    loc, scale, _, _ = baseline_normal(float(spec.baseline.mean), float(spec.baseline.sd), BASELINE_RANGE_LOW,
                                       float(spec.scale_max))
    rating = truncnormal("baseline", Distribution(loc, scale), BASELINE_RANGE_LOW, spec.scale_max)
    return Patients(
        weight_kg=truncnormal("weight_kg", spec.weight_kg, 35.0, 200.0),
        age_years=truncnormal("age_years", spec.age_years, *age_bounds(spec.age_years)),
        female=draw("female") < spec.female_fraction,
        genotype_factor=geno,
        crp_mg_l=crp,
        baseline=true_baseline(spec, params, rating, draw("baseline_rater")) if spec.baseline_rating_noise else rating,
        baseline_rating=rating,
        **{f: draw(f) for f in _eta_fields()},
        **({} if occasion is None else occasion_effects(ss, occasion, start, n)),
    )


def true_baseline(spec: PopulationSpec, params: ParameterSet, rating, z) -> np.ndarray:
    """Each patient's true severity at entry (scale points) given their baseline ``rating`` (points, drawn from the
    population's baseline distribution: what trials report is the distribution of ratings) and one standard-normal
    draw ``z`` per patient.

    A baseline rating is the true severity plus the rater's noise (SD sigma = rating_noise_sd x the scale's maximum)
    like every later rating, so a change from baseline carries two ratings' noise (the standard error of a difference
    is sqrt(2) x a rating's: Jacobson & Truax 1991 doi:10.1037/0022-006X.59.1.12). With ratings ~ N(mean, sd^2) the
    true severity is N(mean, sd^2 - sigma^2) and, given the rating, normal with mean mean + k (rating - mean) and
    variance k sigma^2, k = 1 - sigma^2 / sd^2 (the bivariate normal's conditional). A population whose rating SD is
    at or below the rater's (k <= 0, e.g. a stated patient, sd 0) has every true severity at the mean. Bounded like
    the ratings, to [1, max]. With a trial's entry criterion at baseline (``spec.entry_selection``) mean and sd are
    those of the unselected ratings (:func:`unselected_entry`): the noise of a selected rating is selected upwards."""
    r = np.asarray(rating, float)
    d = spec.baseline
    if d.sd <= 0:
        return r.copy()
    sigma = params.free_value("rating_noise_sd") * spec.scale_max
    mean, sd = d.mean, d.sd
    sel = getattr(spec, "entry_selection", None)
    if sel is not None and sel.at == "baseline":
        # the rating was selected (>= min): its noise is conditioned on it under the unselected law N(mu0, s0^2)
        # (population.entry_fluctuation), E[noise given rating] = sigma^2 / s0^2 (rating - mu0)
        mean, sd = unselected_entry(float(d.mean), float(d.sd), float(sel.min))
    k = max(0.0, 1.0 - (sigma / sd) ** 2)
    return np.clip(mean + k * (r - mean) + math.sqrt(k) * sigma * np.asarray(z, float), 1.0, spec.scale_max)


def occasion_effects(rng, occasion: int, start: int, n: int) -> dict[str, np.ndarray]:
    """The inter-occasion effects (``occasion_*`` fields of :class:`Patients`) of patients ``start .. start+n-1``
    of the stream ``rng`` at ``occasion`` (>= 1): standard normal, one per-patient stream per field and occasion
    (:func:`patient_draws`), so a period's effects do not depend on chunking, workers or the other periods."""
    ss = as_seed_sequence(rng)
    return {f: patient_draws(ss, f"{f}@{int(occasion)}", "normal", start, n) for f in OCCASION_FIELDS}


def typical_patient(spec: PopulationSpec, params: ParameterSet) -> Patients:
    """One patient at the population's central covariates with no random effects: mean weight, age and
    baseline, Val/Val unless the genotype is fixed, median CRP unless fixed, female if female_fraction >= 0.5."""
    gf = genotype_factors(params)
    z = np.zeros(1)
    return Patients(
        weight_kg=np.array([spec.weight_kg.mean]), age_years=np.array([spec.age_years.mean]),    # within any range
        female=np.array([spec.female_fraction >= 0.5]),      # the majority sex; a 50/50 tie gives female
        genotype_factor=np.array([gf[spec.genotype or "val/val"]]),
        crp_mg_l=np.array([spec.crp_mg_l if spec.crp_mg_l is not None else params.get("pop.crp_median", "mg/L")]),
        baseline=np.array([spec.baseline.mean]),
        **{f: z.copy() for f in _eta_fields()},
    )


def patients_from_covariates(n: int, *, weight_kg: float, age_years: float, female: bool, genotype_factor: float,
                             crp_mg_l: float, baseline=33.0, **effects) -> Patients:
    """``n`` copies of one patient's covariates with given random effects (``eta_*=array``; missing ones 0).

    Used to put many candidate values of one patient's random effects (posterior samples, finite-difference
    steps) into one batch for the engine. Any ``eta_*`` field of :class:`Patients` can be given.
    """
    fields = {f.name for f in dataclasses.fields(Patients)}
    unknown = set(effects) - fields
    if unknown:
        raise InputError(f"patients: unknown random effect(s) {', '.join(sorted(unknown))}")
    cols = {"weight_kg": np.full(n, float(weight_kg)), "age_years": np.full(n, float(age_years)),
            "female": np.full(n, bool(female)), "genotype_factor": np.full(n, float(genotype_factor)),
            "crp_mg_l": np.full(n, float(crp_mg_l)), "baseline": np.broadcast_to(np.asarray(baseline, float), (n,)).copy()}
    for name in fields - set(cols):
        v = effects.get(name)
        cols[name] = np.zeros(n) if v is None else np.broadcast_to(np.asarray(v, float), (n,)).copy()
    return Patients(**cols)


#: The population switches a simulation's provenance and a trial's JSON record (``population.<name>``), in the order
#: written: what the recurrence model did and every hypothesis (off by default) that was on
SWITCH_PROVENANCE = ("recurrence", "re_response", "recurrence_clock", "antidepressant_spread", "antidepressant_trd",
                     "visit_contact", "natural_course_spread", "baseline_rating_noise",
                     "fluctuation_scales_with_severity", "fluctuation_scales_with_trial_severity", "bdnf_release_pool",
                     "bp_reading_sd_scales")


def switch_provenance(spec: PopulationSpec, names=SWITCH_PROVENANCE) -> dict:
    """{name: value} of the population switches ``names`` (true/false; ``recurrence_clock`` its word), and
    ``entry_selection`` ({min, at, interval_h}) only when the scenario states one (an unchanged record otherwise)."""
    out = {n: v if isinstance(v := getattr(spec, n), str) else bool(v) for n in names}
    sel = getattr(spec, "entry_selection", None)
    if sel is not None:
        out["entry_selection"] = {"min": float(sel.min), "at": sel.at, "interval_h": float(sel.interval_h)}
    return out


def arm_spec(spec: PopulationSpec, arm) -> PopulationSpec:
    """The population of one arm: ``spec`` with the arm's own baseline score distribution when the arm states one
    (``arms.NAME.baseline``: trials report baselines per arm), else ``spec`` itself."""
    return spec if arm.baseline is None else dataclasses.replace(spec, baseline=Distribution(*arm.baseline))


#: Age (years) above which ``design.predose_bp_limit.sbp_over_65`` replaces the systolic limit: "> 65 years of age"
#: (Janssen Medical Information, SPRAVATO cardiovascular effects, janssenscience.com; see :class:`PredoseBPLimit`)
BP_LIMIT_OLDER_AGE = 65.0


@dataclasses.dataclass(frozen=True)
class PredoseBPLimit:
    """The pre-dose blood-pressure rule of a trial (``design.predose_bp_limit``), in mmHg; None: no limit.

    Phase 3 esketamine TRD trials: "investigators were instructed to withhold ESK dosing if predose SBP was
    >140 mmHg (>150 mmHg for those >65 years of age) or DBP was >90 mmHg" (Janssen Medical Information, SPRAVATO
    cardiovascular effects, janssenscience.com/products/spravato/medical-content/adverse-event-of-spravato-
    cardiovascular-effects, citing the phase 2/3 safety pool). ``sbp_over_65`` (default: ``sbp``) applies above
    :data:`BP_LIMIT_OLDER_AGE`. A patient is dosed when every stated limit holds (pressure <= limit)."""

    sbp: float | None = None
    dbp: float | None = None
    sbp_over_65: float | None = None

    def sbp_limit(self, age_years: np.ndarray) -> np.ndarray:
        """Systolic limit (mmHg) per patient (inf where none applies)."""
        young = np.inf if self.sbp is None else self.sbp
        old = young if self.sbp_over_65 is None else self.sbp_over_65
        return np.where(np.asarray(age_years, float) > BP_LIMIT_OLDER_AGE, old, young)

    def describe(self) -> str:
        """e.g. 'SBP <= 140 mmHg (<= 150 above 65 y), DBP <= 90 mmHg'."""
        parts = []
        if self.sbp is not None:
            parts.append(f"SBP <= {self.sbp:g} mmHg" + (f" (<= {self.sbp_over_65:g} above {BP_LIMIT_OLDER_AGE:g} y)"
                                                        if self.sbp_over_65 is not None else ""))
        elif self.sbp_over_65 is not None:
            parts.append(f"SBP <= {self.sbp_over_65:g} mmHg above {BP_LIMIT_OLDER_AGE:g} y")
        if self.dbp is not None:
            parts.append(f"DBP <= {self.dbp:g} mmHg")
        return ", ".join(parts)

    def dbp_limit(self) -> float:
        return np.inf if self.dbp is None else self.dbp

    def eligible(self, sbp: np.ndarray, dbp: np.ndarray, age_years: np.ndarray) -> np.ndarray:
        """(n,) bool: pre-dose pressure within every limit."""
        return (np.asarray(sbp) <= self.sbp_limit(age_years)) & (np.asarray(dbp) <= self.dbp_limit())


def predose_bp_limit(design) -> PredoseBPLimit | None:
    """The :class:`PredoseBPLimit` of a scenario's ``design`` (pairs or dict; ``predose_bp_limit``), else None."""
    v = dict(design).get("predose_bp_limit")
    return None if v is None else PredoseBPLimit(**dict(v))


def _below(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Standard-normal draws ``z`` made to lie at or below ``a`` (per element): a draw above ``a`` is replaced by
    the truncated-normal quantile of its own position in the tail (u = (Phi(z) - Phi(a)) / (1 - Phi(a)) is uniform
    there, and Phi^-1(u Phi(a)) is then normal truncated to (-inf, a]); a draw at or below ``a`` is kept. So the
    result is exactly N(0, 1) truncated at ``a``, no extra random numbers are used, and a patient within the limit
    keeps its value."""
    from scipy.special import log_ndtr, ndtr, ndtri

    z = np.asarray(z, float).copy()
    a = np.broadcast_to(np.asarray(a, float), z.shape)
    over = z > a
    if over.any():
        zo, ao = z[over], a[over]
        # 1 - Phi(.) of the upper tail through Phi(-.): accurate far out in the tail
        u = np.clip(1.0 - ndtr(-zo) / ndtr(-ao), 1e-300, 1.0)       # (> 0 for the log below)
        z[over] = ndtri(np.exp(np.log(u) + log_ndtr(ao)))
    return z


def baseline_bp(params: ParameterSet, age_years: np.ndarray, rng,
                limit: PredoseBPLimit | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pre-dose systolic and diastolic pressure (mmHg) of virtual patients; systolic rises with age.
    (Moved from ``ketasim.trial``, which still exports it, so that calibration does not import trial.)

    ``limit`` (a trial's pre-dose rule, ``design.predose_bp_limit``): patients above it are not dosed. The model's
    pre-dose pressure is one value per patient, the same before every session (a session's rise has resolved by the
    next), so a per-session rule would withhold every session of the same patients; they are screened out instead,
    as the trials referred them for treatment: the arm's patients have the pre-dose pressure of the eligible ones,
    i.e. each of SBP (given age) and DBP is normal truncated at its limit (:func:`_below`; SBP and DBP are
    independent here, so this is the joint distribution given eligibility), with the same random numbers as
    without the rule and unchanged values for the patients within it. The other covariates (age, sex, ...) are the
    scenario's, which describe the enrolled patients. Without ``limit`` the draws are exactly the former ones."""
    mu = params.get("pop.sbp_mean_at_45", "mmHg") + params.get("pop.sbp_age_slope", "mmHg") * (age_years - 45.0)
    s_sd, d_mu, d_sd = (params.get("pop.sbp_sd", "mmHg"), params.get("pop.dbp_mean", "mmHg"),
                        params.get("pop.dbp_sd", "mmHg"))
    if limit is None:
        sbp = mu + rng.normal(0.0, s_sd, age_years.size)
        dbp = d_mu + rng.normal(0.0, d_sd, age_years.size)
        return sbp, dbp
    zs = rng.normal(0.0, 1.0, age_years.size)
    zd = rng.normal(0.0, 1.0, age_years.size)
    sbp = mu + s_sd * _below(zs, (limit.sbp_limit(age_years) - mu) / s_sd)
    dbp = d_mu + d_sd * _below(zd, (limit.dbp_limit() - d_mu) / d_sd)
    return sbp, dbp
