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


# a record's and a plan alternative's cumulative anesthetic checks live in ``record`` (layer 3: ``personal`` calls
# them); their names stay importable from here
from .record import (ALTERNATIVE_ARM, ALTERNATIVE_REACH_H, RECORD_ARM_WARNING,  # noqa: E402,F401
                     alternative_anesthetic_warnings, record_anesthetic_warnings, record_message,
                     without_anesthetic_doses)


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
