"""The cascade figure: every link of the chain over time, typical patient plus population band."""

from __future__ import annotations

import numpy as np

PANELS = (
    ("Plasma (ng/mL)", (("cp_ketamine_ng_ml", "ketamine"), ("cp_norketamine_ng_ml", "norketamine"),
                        ("cp_midazolam_ng_ml", "midazolam"))),
    ("NMDA block (fraction)", (("nmda_block_interneuron", "interneurons"), ("nmda_block_pyramidal", "pyramidal"))),
    ("Glutamate (rel.)", (("glutamate", "glutamate"),)),
    ("AMPA activation (rel.)", (("ampa", "AMPA"),)),
    ("BDNF / TrkB (rel.)", (("bdnf", "BDNF"), ("trkb", "TrkB"))),
    ("mTORC1 (rel.)", (("mtorc1", "mTORC1"),)),
    ("Synapses (rel.)", (("synaptic_proteins", "synaptic proteins"), ("spine_density", "spine density"))),
    ("Symptom score", (("score", "score"),)),
    ("Dissociation (CADSS)", (("cadss", "CADSS"),)),
    ("Blood pressure (mmHg)", (("sbp_change_mmhg", "SBP change"), ("dbp_change_mmhg", "DBP change"))),
)


from .population import SCALE_NAMES  # noqa: E402,F401  (display names, defined once; importable here as before)
LINE_STYLES = ("-", "--", ":")


def _repeated(typical) -> bool:
    """Are doses repeated over days (the score/levels then read better on a linear time axis)?"""
    if "cp_ketamine_ng_ml" not in typical:
        return False
    t = typical["time_h"].to_numpy()
    c = typical["cp_ketamine_ng_ml"].to_numpy()
    return bool(np.any((t > 36.0) & (c > 0.05 * max(float(np.nanmax(c)), 1e-12))))


#: the symlog time axis's ticks (h) and labels: it printed 0, 10^0, 10^1, 10^2, 10^3 (hours as powers of ten)
CLOCK_TICKS = ((0, "0"), (1, "1 h"), (2, "2 h"), (6, "6 h"), (24, "1 d"), (72, "3 d"), (168, "7 d"), (336, "14 d"),
               (672, "28 d"), (2016, "12 w"), (4368, "26 w"), (8760, "1 y"))


def _clock_ticks(ax, t_max: float) -> None:
    """Clinic-clock ticks on a symlog time axis (hours): '1 h', '6 h', '1 d', '7 d', '28 d' up to the last time."""
    from matplotlib.ticker import NullFormatter, NullLocator

    shown = [(t, s) for t, s in CLOCK_TICKS if t <= t_max * 1.05] or [(0, "0")]
    ax.set_xticks([t for t, _ in shown])
    ax.set_xticklabels([s for _, s in shown])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_cascade(typical, population=None, path=None, *, title: str | None = None, notice: str = "",
                 scale: str | None = None):
    """Draw the cascade. ``typical``: trajectories (DataFrame) of a typical patient per arm;
    ``population``: optional trajectories of many patients (5–95% band per arm). ``scale``: the rating scale
    (named on the symptom panel). One colour per arm in every panel; line styles tell a panel's series apart;
    the legend sits above the panels. Time is linear in days when doses repeat over days (every peak visible,
    with a zoom on the first 4 h in the plasma panel), else linear to 2 h and logarithmic after. Returns the
    Figure."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    # a SimulationResult is taken as its trajectories ('SimulationResult' object is not subscriptable)
    typical = typical.trajectories() if hasattr(typical, "trajectories") else typical
    prov = getattr(typical, "attrs", {}).get("provenance")      # trajectories() carry the run's provenance
    population = population.trajectories() if hasattr(population, "trajectories") else population
    arms = list(dict.fromkeys(typical["arm"]))
    repeated = _repeated(typical)
    # a Figure of its own, not pyplot's: matplotlib.use("Agg") here switched a Jupyter notebook's backend, so the
    # user's own plots stopped showing after one ketasim figure (savefig needs no backend)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(12, 15))
    FigureCanvasAgg(fig)        # its own Agg canvas (draw, get_renderer), whatever the session's backend
    axes = fig.subplots(5, 2, sharex=True)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    arm_color = {arm: colors[i % len(colors)] for i, arm in enumerate(arms)}
    x_of = (lambda t: np.asarray(t) / 24.0) if repeated else (lambda t: np.asarray(t))
    for ax, (label, series) in zip(axes.flat, PANELS):
        if label == "Symptom score":
            label = f"Symptom score ({SCALE_NAMES.get(scale or '', scale or 'points')})"
        shown = []
        for arm in arms:
            t = typical[typical["arm"] == arm]
            for s_i, (col, name) in enumerate(series):
                if col not in t or not np.any(t[col].to_numpy() != 0):
                    continue
                color = arm_color[arm]
                ax.plot(x_of(t["time_h"]), t[col], color=color, lw=1.4, ls=LINE_STYLES[s_i % len(LINE_STYLES)])
                if name not in shown:
                    shown.append(name)
                if population is not None and col in population:
                    p = population[population["arm"] == arm]
                    g = p.groupby("time_h")[col]
                    lo, hi = g.quantile(0.05), g.quantile(0.95)
                    ax.fill_between(x_of(lo.index), lo.to_numpy(), hi.to_numpy(), color=color, alpha=0.15, lw=0)
        if label.startswith("Symptom score") and "episode" in typical:
            # population.recurrence (issue 7): where the typical patient's new episode begins (once its time in
            # response has passed its recurrence time, the population median), so that the rise of the line there is not read as an effect of the doses
            from .summary import episode_starts

            starts = episode_starts(typical)
            for arm, t_episode in starts.items():
                ax.axvline(float(x_of(t_episode)), color=arm_color[arm], ls=":", lw=1.0)
            if starts:
                label += " — dotted: typical patient's new episode (recurrence)"
        if len(series) > 1 and shown:     # which line style is which series (in the title: no legend on the data)
            styles = {"-": "solid", "--": "dashed", ":": "dotted"}
            label += " — " + ", ".join(f"{n} {styles[LINE_STYLES[i % 3]]}" for i, (c, n) in enumerate(series) if n in shown)
        ax.set_title(label, fontsize=9)
        if not repeated:
            ax.set_xscale("symlog", linthresh=2.0)
            _clock_ticks(ax, float(typical["time_h"].max()) if len(typical) else 24.0)
        elif label.startswith("Plasma") and ax.lines:
            # zoom on the first session (hours) in a corner where a repeated course has spent its peaks
            t_all = typical["time_h"].to_numpy()
            c_all = typical["cp_ketamine_ng_ml"].to_numpy() if "cp_ketamine_ng_ml" in typical else np.zeros(1)
            last = float(t_all[c_all > 0.05 * max(float(np.nanmax(c_all)), 1e-12)].max()) if np.any(c_all > 0) else 0.0
            if last <= 0.62 * float(t_all.max()):     # the doses are over before the right third: zoom there
                ins = ax.inset_axes([0.66, 0.4, 0.33, 0.55])
            else:                                     # else make head room above the peaks
                lo, hi = ax.get_ylim()
                ax.set_ylim(lo, lo + 2.1 * (hi - lo))
                ins = ax.inset_axes([0.55, 0.56, 0.43, 0.38])
            for arm in arms:
                t = typical[(typical["arm"] == arm) & (typical["time_h"] <= 4.0)]
                for s_i, (col, _) in enumerate(series):
                    if col in t and np.any(t[col].to_numpy() != 0):
                        ins.plot(t["time_h"], t[col], color=arm_color[arm], lw=1.1, ls=LINE_STYLES[s_i % 3])
            ins.set_title("first 4 h (h)", fontsize=7)
            ins.tick_params(labelsize=6)
            ins.grid(alpha=0.3)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time after first dose (days)" if repeated else
                      "time after first dose (linear to 2 h, then logarithmic)")
    handles = [Line2D([], [], color=arm_color[a], lw=2) for a in arms]
    fig.legend(handles, arms, loc="upper center", ncol=min(len(arms), 4), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.965), title="colour = arm" if len(arms) > 1 else None, title_fontsize=8)
    fig.suptitle(title or "ketamine cascade", fontsize=12, y=0.995)
    from .io import figure_provenance_line

    footer = "\n".join(x for x in (figure_provenance_line(prov), notice) if x)
    if footer:
        fig.text(0.5, 0.005, footer, ha="center", fontsize=8, color="0.4")
    fig.tight_layout(rect=(0, 0.015 * (1 + footer.count("\n")), 1, 0.94))
    if path is not None:
        from .io import atomic_path, figure_format, save_figure

        fmt = figure_format(path)           # the temporary file's name ends in .tmp<ext>: state the format
        with atomic_path(path) as tmp:
            save_figure(fig, tmp, fmt, 110, prov)
    return fig
