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


def plot_cascade(typical, population=None, path=None, *, title: str | None = None, notice: str = ""):
    """Draw the cascade. ``typical``: trajectories (DataFrame) of a typical patient per arm;
    ``population``: optional trajectories of many patients (5–95% band per arm). Returns the Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(dict.fromkeys(typical["arm"]))
    fig, axes = plt.subplots(5, 2, figsize=(12, 14), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (label, series) in zip(axes.flat, PANELS):
        for a_i, arm in enumerate(arms):
            t = typical[typical["arm"] == arm]
            for s_i, (col, name) in enumerate(series):
                if col not in t or not np.any(t[col].to_numpy() != 0):
                    continue
                color = colors[(a_i * len(series) + s_i) % len(colors)]
                lab = name if len(arms) == 1 else f"{arm}: {name}"
                ax.plot(t["time_h"], t[col], color=color, lw=1.6, label=lab)
                if population is not None and col in population:
                    p = population[population["arm"] == arm]
                    g = p.groupby("time_h")[col]
                    lo, hi = g.quantile(0.05), g.quantile(0.95)
                    ax.fill_between(lo.index, lo.to_numpy(), hi.to_numpy(), color=color, alpha=0.15, lw=0)
        ax.set_title(label, fontsize=10)
        ax.set_xscale("symlog", linthresh=2.0)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7, loc="best")
    for ax in axes[-1]:
        ax.set_xlabel("time after first dose (h; linear to 2 h, then logarithmic)")
    fig.suptitle(title or "ketamine cascade", fontsize=12)
    if notice:
        fig.text(0.5, 0.005, notice, ha="center", fontsize=8, color="0.4")
    fig.tight_layout(rect=(0, 0.015, 1, 0.98))
    if path is not None:
        from .io import atomic_path

        try:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=110)
        finally:
            plt.close(fig)
    return fig
