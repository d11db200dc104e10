"""Plain-text summaries of runs (what the demo and ``ketasim simulate`` print): the typical patient's link-by-link
cascade, and a population's session-monitoring peaks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .population import scale_name
from .units import fmt_hours
# the cumulative anesthetic check lives in the engine (engine.simulate and trial.run_trial run it from Python);
# re-exported here, where the CLI and the dashboard found it
from .engine import (anesthetic_check_times, anesthetic_effect_site_level,  # noqa: F401
                     cumulative_anesthetic_arms)


#: values within this share (1e-4) of a column's rise above its first value count as the same peak, and the summary
#: names the first time one is reached: repeated identical sessions peak at heights that differ by ~1e-5 of the rise
#: (the previous doses' residue), far below the printed precision, and the summary named whichever was highest (a
#: twice-weekly arm's NMDA block and blood pressure "peaked at 10.5 d" beside a plasma peak at 35 min). Within that
#: first peak (the run of output times within the tolerance) the time of its own highest value is named, so a single
#: dose's broad top keeps its time (synaptic proteins after one infusion: 15.7 h; the first time within 1e-4 was
#: 15.4 h, three output steps early).
PEAK_TIE_RTOL = 1e-4


def _peak(df: pd.DataFrame, col: str):
    """(highest value, the time of the highest value of the first run of output times within PEAK_TIE_RTOL of the
    rise to it)."""
    x = df[col].to_numpy(float)
    top = float(np.max(x))
    near = x >= top - PEAK_TIE_RTOL * abs(top - x[0])
    i = int(np.argmax(near))
    end = i + (int(np.argmin(near[i:])) if not near[i:].all() else near.size - i)
    i += int(np.argmax(x[i:end]))
    return top, float(df["time_h"].iloc[i])


def _at(df: pd.DataFrame, col: str, t: float) -> float:
    return float(np.interp(t, df["time_h"].to_numpy(), df[col].to_numpy()))


def fmt_time(h: float) -> str:
    """A reading's time on the output grid ('35 min', '15.7 h', '10.5 d'): :func:`ketasim.units.fmt_hours`."""
    return fmt_hours(h, exact=False)


def episode_start(table: pd.DataFrame) -> float | None:
    """The time (h) the typical patient's new depressive episode begins in one arm's trajectory table (the first
    output time with ``episode`` > 0; population.recurrence), or None when it falls beyond the horizon."""
    if "episode" not in table:
        return None
    on = table["time_h"].to_numpy(float)[table["episode"].to_numpy(float) > 0]
    return float(on.min()) if on.size else None


def episode_starts(typical) -> dict:
    """Per arm, :func:`episode_start` for the arms where the episode falls inside the horizon. ``typical``: a
    trajectory table with an ``arm`` column, or ``{arm: table}``."""
    if typical is None:
        return {}
    groups = typical if isinstance(typical, dict) else dict(tuple(typical.groupby("arm", sort=False)))
    return {a: t for a, t in ((a, episode_start(g)) for a, g in groups.items()) if t is not None}


def cascade_summary(traj: pd.DataFrame, sessions: pd.DataFrame | None, scale: str) -> str:
    """A short link-by-link summary for each arm of a (typical-patient) trajectory table."""
    lines = []
    for arm, df in traj.groupby("arm", sort=False):
        df = df[df["subject"] == df["subject"].iloc[0]].sort_values("time_h")
        base = float(df["score"].iloc[0])
        lines.append(f"[{arm}]")
        rows = [("plasma ketamine", "cp_ketamine_ng_ml", "{:.0f} ng/mL"), ("norketamine", "cp_norketamine_ng_ml", "{:.0f} ng/mL"),
                ("plasma midazolam", "cp_midazolam_ng_ml", "{:.0f} ng/mL"),
                ("NMDA block, interneurons", "nmda_block_interneuron", "{:.0%}"),
                ("NMDA block, pyramidal cells", "nmda_block_pyramidal", "{:.0%}"),
                ("glutamate", "glutamate", "x{:.2f}"), ("BDNF", "bdnf", "x{:.2f}"), ("mTORC1", "mtorc1", "x{:.2f}"),
                ("synaptic proteins", "synaptic_proteins", "x{:.2f}"), ("spine density", "spine_density", "x{:.2f}"),
                ("dissociation (CADSS)", "cadss", "{:.1f}"), ("systolic BP rise", "sbp_change_mmhg", "{:+.1f} mmHg"),
                ("sedation index", "sedation", "{:.2f}")]
        unchanged = []
        for label, col, f in rows:
            if col not in df:
                continue
            v, t = _peak(df, col)
            if v <= 0 or (col.startswith("cp_") and v < 0.5):
                continue
            if f.startswith("x") and v < 1.005:     # relative to baseline and never above it: no peak to time
                unchanged.append(label)
                continue
            # the highest value at the last output time while still rising is no peak: the output ends before it
            # (an output: {until: 12 h} printed spine density's 'peak x1.01 at 12.0 h' of a rise lasting days)
            x = df[col].to_numpy(float)
            rising = t >= float(df["time_h"].iloc[-1]) and x.size > 1 and x[-1] > x[-2]
            lines.append(f"  {label:30s} peak {f.format(v):>12s} at {fmt_time(t)}"
                         + (" (the end of the output, still rising)" if rising else ""))
        if unchanged:
            lines.append(f"  {'unchanged (x1.00)':30s} {', '.join(unchanged)}")
        g_min = float(df["glutamate"].min())
        if g_min < 0.99:
            lines.append(f"  {'glutamate minimum':30s}      x{g_min:.2f}  (anesthetic-range block)")
        parts = []
        for t in (2, 24, 72, 168, 336, 672):
            if t <= df["time_h"].iloc[-1]:
                parts.append(f"{fmt_time(t)} {_at(df, 'score', t):.1f}")
        t_episode = episode_start(df)                     # population.recurrence (issue 7)
        t_last = float(df["time_h"].iloc[-1])
        if t_last > 672 + 1e-6 and t_episode is None:
            # a year of maintenance printed its score to 28 d only; the end of the run (a new episode's line below
            # gives it when there is one)
            parts.append(f"end ({fmt_time(t_last)}) {_at(df, 'score', t_last):.1f}")
        first = None
        if sessions is not None and len(sessions) and "start_h" in sessions:
            starts = sessions.loc[sessions["arm"] == arm, "start_h"]
            first = float(starts.min()) if len(starts) else None
        # the times are on the scenario's clock: a record whose first session is at 100.5 h printed '24.0 h 29.9'
        # (before any dose) as if 24 h after it
        when = (f" (times from the start; the first session at {fmt_time(first)})"
                if first is not None and first > 1.0 else "")
        lines.append(f"  {scale_name(scale)} from {base:.1f}{when}: " + ", ".join(parts))
        if t_episode is not None:
            t_end = float(df["time_h"].iloc[-1])
            lines.append(f"  new episode on continued treatment from {fmt_time(t_episode)} "
                         f"(the typical patient's recurrence time: the population median; population.recurrence): "
                         f"{scale_name(scale)} {_at(df, 'score', t_end):.1f} at {fmt_time(t_end)}")
        if sessions is not None and len(sessions):
            s = sessions[sessions["arm"] == arm]
            if len(s):
                ready = float(s["discharge_ready_h"].max())
                if ready <= 0:
                    lines.append("  discharge criteria (CADSS <= 4, sedation, blood pressure) met throughout every session")
                else:
                    lines.append(f"  discharge criteria met {fmt_time(ready)} after the start of the session (slowest session)")
    return "\n".join(lines)


#: session monitoring quantities a population line reports: (label, trajectory column, format); the columns are
#: ``scale.MONITORED_COLUMNS`` (what a streamed run keeps per patient)
MONITORED = (("dissociation (CADSS) peak", "cadss", "{:.1f}"),
             ("systolic BP rise peak", "sbp_change_mmhg", "{:+.1f} mmHg"))


def population_monitoring_summary(result) -> str:
    """Per arm of a population run (a :class:`ketasim.result.SimulationResult`): each patient's peak dissociation
    and systolic BP rise at the output times, summarised over patients as mean, median and 90th percentile. Read
    from the runs' output arrays (patients x times x outputs), not from the long trajectory table. The typical
    patient's peak (the cascade summary) is near the median; a trial or a label reports the mean, which for a skewed
    (log-normal) response lies above it."""
    from .scale import monitored_peaks

    return monitoring_summary_from_peaks({r.arm.name: monitored_peaks(r) for r in result.runs})


def monitoring_summary_from_peaks(peaks: dict) -> str:
    """The lines of :func:`population_monitoring_summary` from ``{arm name: {column: per-patient peaks}}`` (the
    in-memory and the streamed ``simulate`` print them alike); arms of fewer than 2 patients and columns without a
    positive peak are left out."""
    lines = []
    for arm, by_col in peaks.items():
        for label, col, f in MONITORED:
            p = by_col.get(col)
            if p is None or p.size < 2 or not np.any(p > 0):
                continue
            mean, median, p90 = float(np.mean(p)), float(np.median(p)), float(np.quantile(p, 0.9))
            lines.append(f"  [{arm}] {p.size} patients, {label}: mean {f.format(mean)}, median {f.format(median)}, "
                         f"90th percentile {f.format(p90)}")
    return "\n".join(lines)


def record_message(msg: str, name: str) -> str:
    """A cumulative-dose warning of a record's arm in the record's words (its file, this patient)."""
    return (msg.replace(RECORD_ARM_WARNING, f"{name}: together the record's doses", 1)
            .replace("arms.record: its dose is", f"{name}: the record's dose is", 1)
            .replace("the typical patient's", "this patient's (typical random effects)", 1))


#: How the cumulative check names a record's arm (``PatientRecord.to_scenario_dict``'s arm 'record')
RECORD_ARM_WARNING = "arms.record: together its doses"


def without_anesthetic_doses(scenario, weight_kg: float | None):
    """A record's scenario (``PatientRecord.to_scenario``) for the cumulative anesthetic check: each arm less its doses
    alone in the anesthetic range at ``weight_kg`` (kg: the record's WT; each warned when the record was read), an
    arm left with none dropped; None when no arm is left. The check leaves out an arm with a dose alone in the range
    (one warning is enough), so one anesthetic dose days earlier silenced the record's own later back-to-back pushes
    (review s45 T4), as the past did a plan's alternative (``alternative_anesthetic_warnings``, review s45 S3). An arm
    with a titration rule is kept whole (its rule names a line by its index; a record's arm has none)."""
    import dataclasses

    arms = []
    for arm in scenario.arms:
        if arm.titration is None:
            arm = dataclasses.replace(arm, doses=tuple(d for d in arm.doses if not d.in_anesthetic_range(weight_kg)))
        if arm.doses:
            arms.append(arm)
    if not arms:
        return None
    if len(arms) == len(scenario.arms) and all(a is b for a, b in zip(arms, scenario.arms)):
        return scenario
    return scenario.replace(arms=tuple(arms))


def record_anesthetic_warnings(record, params=None) -> list[str]:
    """A record's doses that add up to the anesthetic range (none alone in it), as ``simulate`` warns of an arm's:
    two 0.9 mg/kg pushes 6 min apart warned with `simulate --events` and not at all with `plan` or the plan page.
    A dose alone in the range (at the record's WT) warned when the record was read and is left out here, so that it
    does not silence the record's other doses (:func:`without_anesthetic_doses`). Messages name the record's file.
    [] without doses."""
    from pathlib import Path

    if not record.doses:
        return []
    # judged at the record's WT; each dose's own warning came when it was read
    sc = without_anesthetic_doses(record.to_scenario(), record.weight_kg)
    if sc is None:
        return []           # every dose alone in the range: each warned when the record was read
    name = Path(str(record.source)).name
    # judged at the record's WT, as its rows were (its dose lines alone are judged at the 70-kg reference weight)
    return [record_message(msg, name) for _, msg in cumulative_anesthetic_arms(sc, params,
                                                                               record_weight_kg=record.weight_kg)]


#: How :func:`alternative_anesthetic_warnings` names the doses it judges (the plan's alternative after the record's past)
ALTERNATIVE_ARM = "alternative"
#: How far back (h) before the alternative's first dose a past dose still counts with it: ketamine's effect-site level
#: falls with a half-life of a few hours, so a dose ending more than 12 h before adds little to the alternative's peak
ALTERNATIVE_REACH_H = 12.0


def alternative_anesthetic_warnings(record, alternative, params=None) -> list[str]:
    """A plan's ``alternative`` (Doses after the last observation, as ``personal._future_doses`` reads them) whose
    doses add up to the anesthetic range (none alone in it), alone or with the record's past doses that end at most
    :data:`ALTERNATIVE_REACH_H` before its first dose, judged as :func:`record_anesthetic_warnings` judges the record's
    own doses (mg doses at the record's WT, kg). Only what the alternative adds: past doses that reach the range
    without it are the record's warning; but a past dose that was anesthetic alone, or past doses that added up, days
    earlier no longer silence the alternative's own back-to-back pushes (review s45 S3). Messages begin
    'alternative: '. [] without an alternative."""
    from .record import dose_line

    alternative = tuple(alternative or ())
    if not alternative or any(d.in_anesthetic_range(record.weight_kg) for d in alternative):
        return []           # an alternative's dose alone in the range warned when it was read
    first = min(a.start_h for d in alternative for a in d.administrations())
    # the past doses within reach, less any alone in the range (it warned when the record was read)
    near = tuple(d for d in record.past_doses
                 if max(a.start_h + a.duration_h for a in d.administrations()) >= first - ALTERNATIVE_REACH_H
                 and not d.in_anesthetic_range(record.weight_kg))
    data = record.replace(doses=near + alternative).to_scenario_dict(size=1)
    data["arms"] = {ALTERNATIVE_ARM: [dose_line(d) for d in alternative]}
    if near:                # with the past within reach, and the past alone (so that only what the alternative adds)
        data["arms"]["with_past"] = [dose_line(d) for d in near + alternative]
        data["arms"]["past"] = [dose_line(d) for d in near]
    sc = record.to_scenario(data)       # judged at the record's WT; each dose's own warning came when it was read
    found = dict(cumulative_anesthetic_arms(sc, params, record_weight_kg=record.weight_kg))
    if ALTERNATIVE_ARM in found:
        arm, whose = ALTERNATIVE_ARM, "the alternative's doses"
    elif "with_past" in found and "past" not in found:
        arm, whose = "with_past", "the alternative's doses with the record's past ones"
    else:
        return []
    return [found[arm].replace(f"arms.{arm}: together its doses", f"{ALTERNATIVE_ARM}: together {whose}", 1)
            .replace(f"arms.{arm}: its dose is", f"{ALTERNATIVE_ARM}: its dose is", 1)
            .replace("the typical patient's", "this patient's (typical random effects)", 1)]


def scenario_title(sc) -> str:
    """A figure's or report's title for ``sc``: its name, or for the quick form (named 'quick') its regimen, which
    neither stated ('quick: typical patient' over a legend naming only the drug)."""
    if sc.name != "quick" or len(sc.arms) != 1:
        return sc.name
    from .units import fmt_hours

    parts = []
    for d in sc.arms[0].doses:
        text = f"{d.drug.value} {d.route.value}"
        if d.amount:
            text += f" {d.amount:g} {'mg/kg' if d.per_kg else 'mg'}"
        if d.duration_h:
            text += f" over {fmt_hours(d.duration_h)}"
        if d.count > 1:
            text += f", {d.count} doses every {fmt_hours(d.every_h)}"
        parts.append(text)
    return "; ".join(parts) or sc.name
