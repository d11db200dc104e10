"""Sphinx extension: generate the documentation pages that must not drift from the code.

At ``builder-inited`` it writes ``docs/_generated/``:

* ``model.md`` — every link of the chain: the equations from the link module's docstring (the code's own
  statement of what it computes) and the table of its parameters, read from the installed parameter set
  (``src/ketasim/data/parameters.csv`` and ``free_parameters.json`` through :func:`ketasim.load_parameters`)
  with value, unit, source and confidence. A parameter that belongs to no link stops the build.
* ``figures/*.png`` — figures drawn from small, fast model runs (typical patients; a small population band).
* ``validation.md`` — predicted vs observed for every calibration row, from a small qualification run whose
  own numbers are printed on the page (the reference run is ``ketasim qualify``, 2000 patients per arm).

Sizes are small so that the build takes seconds; ``KETASIM_DOCS_N`` sets the population size (default 100).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

# Link sections of the model page: (title, module whose docstring states the equations, parameter-name rules).
# Rules are matched in order across all links; the first match wins. Literature names match by prefix,
# free (calibrated) parameters by exact name.
LINKS = [
    ("1. Regimen and routes", "ketasim.regimen",
     ("route.",), ()),
    ("2. Pharmacokinetics and interactions", "ketasim.pk",
     ("mw.", "pk.racemic.", "pk.r_to_s", "pk.esketamine.", "pk.nk_", "pk.fm_", "pk.hnk.", "pk.hepatic", "pk.age_",
      "pk.female", "pk.midazolam.", "ddi.", "iiv.clearance", "iiv.volume", "iiv.bioavailability", "iov."), ()),
    ("3. Brain effect site", "ketasim.links.effect_site",
     ("pk.fu", "pk.t_half_ke0", "iiv.ke0"), ()),
    ("4. NMDA receptor block", "ketasim.links.receptor",
     ("pd.ki.", "pd.nmda.", "pd.norketamine."), ()),
    ("5-6. Glutamate surge and AMPA drive", "ketasim.links.circuit",
     ("pd.glutamate.", "pd.hnk.", "pd.ampa."), ()),
    ("7. BDNF, TrkB, mTORC1 and eEF2; the anesthetic state", "ketasim.links.signalling",
     ("pd.bdnf.", "pd.trkb.", "pd.mtorc1.", "pd.anesthesia."), ("bdnf_gain",)),
    ("8-9. Synaptic proteins, spines and inflammation", "ketasim.links.plasticity",
     ("pd.synaptic.", "pd.spine.", "pd.il6.", "pd.crp.", "pop.crp"), ("protein_gain", "spine_gain", "consolidation_gain")),
    ("10. Symptoms, expectancy and background therapy", "ketasim.links.symptoms",
     ("pop.met_allele", "pd.natural_course.", "pd.age.", "pd.expectancy.", "pd.placebo.", "pd.latent_class.",
      "pd.fluctuation."),
     ("weight_mtorc1", "weight_protein", "weight_spine", "emax_drug", "responder_fraction", "nonresponder_emax_ratio",
      "nonspecific_fraction", "nonspecific_ratio", "symptom_t_half",
      "placebo_gain", "omega_placebo", "expectancy_t_half", "perception_gain", "antidepressant_emax",
      "antidepressant_t_half", "condition_anxiety", "condition_ptsd", "condition_suicidal_ideation",
      "rating_noise_sd", "fluctuation_sd", "omega_response", "placebo_gain", "natural_course_max", "omega_natural",
      "design_expectancy_gain",
      "sedation_perception_weight", "expectancy_feedback")),
    ("11. Side effects and monitoring", "ketasim.links.side_effects",
     ("pd.cadss.", "pd.sbp.", "pd.dbp.", "pd.hr.", "pd.sedation.", "pd.nausea.", "pd.midazolam.", "monitoring.",
      "pop.sbp", "pop.dbp"),
     ("cadss_max", "cadss_hill", "tolerance_gain", "tolerance_t_half", "nausea_pmax", "nausea_ec50", "omega_bp", "omega_dissociation")),
]


# Fallbacks for names no rule above claims (checked after all of them): whole families of parameters.
FALLBACK = (("route.", 0), ("pk.", 1), ("ddi.", 1), ("mw.", 1), ("iiv.", 1), ("ae.", 8), ("ae_", 8),
            ("monitoring.", 8), ("pop.", 7))
OTHER = len(LINKS)          # "Other parameters": listed, but not yet placed on a link (e.g. observation models)


def link_of(name: str, free: bool) -> int:
    """Index in LINKS of the link a parameter belongs to, or OTHER; every parameter is listed somewhere."""
    for i, (_, _, prefixes, exact) in enumerate(LINKS):
        if (free and name in exact) or (not free and name.startswith(prefixes)):
            return i
    for prefix, i in FALLBACK:
        if name.startswith(prefix):
            return i
    return OTHER


def _cell(text) -> str:
    """A Markdown table cell: links made clickable, pipes escaped."""
    s = str(text).replace("|", "\\|").replace("\n", " ")
    return re.sub(r"(https?://[^\s()]+[^\s().,;])", r"<\1>", s)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _docstring(module: str) -> str:
    """The module's docstring without its title line, or "" if the module does not exist (any more)."""
    import importlib

    try:
        doc = importlib.import_module(module).__doc__ or ""
    except ImportError:
        return ""
    lines = doc.strip().splitlines()
    return "\n".join(lines[1:]).strip()          # the first line is the section title


def _declared_model():
    """The declared model (``ketasim.model.DEFAULT_MODEL``) where this version has one, else None."""
    try:
        from ketasim.model import DEFAULT_MODEL
    except ImportError:
        return None
    return DEFAULT_MODEL


def _link_numbers(title: str) -> set[int]:
    head = title.split(".")[0]
    a, _, b = head.partition("-")
    return set(range(int(a), int(b or a) + 1))


def _declared_functions(model, numbers: set[int]) -> list[str]:
    """``name(args) = expr`` of the declared model's functions whose doc names one of these links."""
    out = []
    for f in getattr(model, "functions", ()):
        m = re.match(r"\s*Links? ([0-9]+)", f.doc or "")
        if m and int(m.group(1)) in numbers:
            out.append(f"* `{f.name}({', '.join(f.args)}) = {f.expr}` — {f.doc}")
    return out


def _declared_model_section(model) -> list[str]:
    """Every state, intermediate and constant of the declared model, written out from its definition."""
    md = ["## The model as declared (`ketasim.model`)", "",
          "Written out from the model definition that the kernel, the reference solve and the SBML export are "
          "generated from. States follow `dx/dt = rate (target - x)` or `dx/dt = gain drive - rate x`.", "",
          "### States", ""]
    for st in getattr(model, "states", ()):
        if getattr(st, "target", None):
            eq = f"d{st.name}/dt = {st.rate} * ({st.target} - {st.name})"
        else:
            eq = f"d{st.name}/dt = {st.gain} * {st.drive} - {st.rate} * {st.name}"
        doc = getattr(st, "doc", "")
        md.append(f"* `{eq}`; initial `{st.init}`; {_cell(st.unit)}" + (f" — {_cell(doc)}" if doc else ""))
    md += ["", "### Intermediates", ""]
    for a in getattr(model, "algebraics", ()):
        md.append(f"* `{a.name} = {a.expr}` ({_cell(a.unit)})" + (f" — {_cell(a.doc)}" if a.doc else ""))
    md += ["", "### Constants and rates (from the parameter set)", "", "| name | unit | from |", "|---|---|---|"]
    for c in (*getattr(model, "constants", ()), *getattr(model, "rates", ())):
        md.append(f"| `{c.name}` | {_cell(c.unit)} | `{_cell(c.source)}` |")
    md.append("")
    return md


def write_model_page(out: Path) -> list[str]:
    """Write ``model.md``; returns the names of all parameters listed (for tests)."""
    from ketasim import load_parameters
    from ketasim.calibration import FITTED

    ps = load_parameters()
    groups: list[list] = [[] for _ in range(len(LINKS) + 1)]
    for p in ps.literature.values():
        groups[link_of(p.name, free=False)].append(("literature", p))
    for p in ps.free.values():
        groups[link_of(p.name, free=True)].append(("fitted" if p.name in FITTED else "free, fixed", p))
    listed = []
    md = ["Generated at build time from the code (each link module's docstring states its equations) and the",
          "parameter set (`src/ketasim/data/parameters.csv`, `free_parameters.json`): it cannot drift from them.",
          f"Parameter set **{ps.version}**; calibration run: `{ps.calibration_run}`.", "",
          "Every state follows `dx/dt = k (target(upstream) - x)` or is a linear PK block; the chain is",
          "feed-forward (see {doc}`/teachers` for a plain-language walk). *Literature* parameters are fixed;",
          "*fitted* ones were calibrated to `clinical_calibration.csv` only (bounds and transform in the table),",
          "see {doc}`/validation`.", ""]
    model = _declared_model()
    sections = [*LINKS, ("Other parameters", None, (), ())]
    for (title, module, _, _), rows in zip(sections, groups):
        if module is None:
            if not rows:
                continue
            md += [f"## {title}", "", "Parameters not tied to one link of the chain (e.g. observation models).", ""]
        else:
            doc = _docstring(module)
            md += [f"## {title}", ""]
            if doc:
                md += [f"Module `{module}`.", "", "```{eval-rst}", doc, "```", ""]
            declared = _declared_functions(model, _link_numbers(title)) if model is not None else []
            if declared:
                md += ["Equations of the declared model:", "", *declared, ""]
        if not rows:
            md += ["No parameters of its own.", ""]
            continue
        md += ["| parameter | value | unit | kind | source | confidence | note |",
               "|---|---|---|---|---|---|---|"]
        for kind, p in rows:
            src = p.source if kind == "literature" else "calibration run (see above)"
            if p.name in FITTED:
                tr, lo, hi = FITTED[p.name][:3]          # (transform, lower, upper[, prior scale])
                kind = f"fitted in [{_fmt(lo)}, {_fmt(hi)}] ({tr})"
            md.append(f"| `{p.name}` | {_fmt(p.value)} | {_cell(p.unit)} | {kind} | {_cell(src)} | "
                      f"{_cell(p.confidence)} | {_cell(p.note)} |")
            listed.append(p.name)
        md.append("")
    if model is not None:
        md += _declared_model_section(model)
    out.write_text("\n".join(md), encoding="utf-8")
    return listed


def _scale_cell(key, spec, names) -> str:
    smax, thr, cond = spec
    rem = f"remission <= {thr:g}" if thr is not None else "no default remission threshold"
    return f"`{key}` ({names[key]}, 0-{smax:g}, {rem}, reads {cond.replace('_', ' ')})"


def write_contract_values(out: Path) -> None:
    """Write ``contract_values.md``: every value the scenario reader accepts, read from the code."""
    from ketasim import result as R
    from ketasim import scenario as S
    from ketasim.engine import VirtualExperiment
    from ketasim.population import (CONDITIONS, DEFAULT_SCALE, GENOTYPES, KNOWN_COMEDICATIONS, SCALE_ALIASES,
                                    SCALE_NAMES, SCALES)
    from ketasim.regimen import DRUG_ALIASES, ROUTE_ALIASES, Drug, Route
    from ketasim.solver import kernel as K

    def codes(xs) -> str:
        return ", ".join(f"`{x}`" for x in xs)

    md = ["| field | accepted values |", "|---|---|",
          f"| `drug` | {codes(d.value for d in Drug)}; aliases "
          f"{', '.join(f'`{a}` = `{b}`' for a, b in DRUG_ALIASES.items())} |",
          f"| `route` | {codes(r.value for r in Route)}; aliases "
          f"{', '.join(f'`{a}` = `{b}`' for a, b in ROUTE_ALIASES.items())} |",
          f"| `population.condition` | {codes(CONDITIONS)} (default scale: "
          f"{', '.join(f'{c} `{s}`' for c, s in DEFAULT_SCALE.items())}) |",
          f"| `population.scale` | {', '.join(_scale_cell(k, v, SCALE_NAMES) for k, v in SCALES.items())}; also "
          f"written with capitals, '-' or '_' ({'`HAM-D24`'}, {'`IES-R`'}, {'`MADRS-SI`'}); aliases "
          f"{', '.join(f'`{a}` = `{b}`' for a, b in SCALE_ALIASES.items())} |",
          f"| default `population.baseline` | {', '.join(f'`{k}` {m:g} ± {sd:g}' for k, (m, sd) in S.DEFAULT_BASELINE.items())}; "
          f"none (state it) for {', '.join(f'`{k}`' for k in SCALES if k not in S.DEFAULT_BASELINE)} |",
          f"| `population.comedications` | {codes(KNOWN_COMEDICATIONS)} |",
          f"| `population.genotype` | {codes(GENOTYPES)} (BDNF Val66Met; sampled when absent) |",
          f"| `endpoints.measures` | {codes(S.KNOWN_MEASURES)} (default {codes(S.DEFAULT_MEASURES)}) |",
          f"| `experiments` | {codes(f.name for f in __import__('dataclasses').fields(VirtualExperiment))} |",
          "", "Trajectory columns (`ketasim simulate --csv/--parquet`, `SimulationResult.trajectories()`), "
          "beyond `arm`, `subject`:", "", "| column | unit |", "|---|---|"]
    cols = list(dict.fromkeys(["time_h", *K.OUT_NAMES, "score"]))   # score is an output too: listed once
    md += [f"| `{c}` | {_cell(R.UNITS.get(c, ''))} |" for c in cols]
    md += ["", "Session columns (`SimulationResult.sessions()`, one row per arm × subject × session, beyond "
           "`arm`, `subject`, `session`, `start_h`): " + codes(K.SUM_NAMES) + ".", ""]
    out.write_text("\n".join(md), encoding="utf-8")


# ---- figures -----------------------------------------------------------------------------------------------------
def _typical(drug, route, dose, times, experiment=None, **kw):
    from ketasim import quick_scenario, simulate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # anesthetic-range doses warn by design
        sc = quick_scenario(drug, route, dose, **kw)
    return simulate(sc, typical=True, output_times_h=times, experiment=experiment).trajectories()


def fig_cascade(path: Path, n: int):
    from ketasim import quick_scenario, simulate
    from ketasim.plotting import plot_cascade
    from ketasim.result import NOTICE

    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg")
    times = np.unique(np.concatenate([np.linspace(0, 2, 49), np.geomspace(2, 28 * 24, 80)]))
    typ = simulate(sc, typical=True, output_times_h=times).trajectories()
    pop = simulate(sc, n=n, seed=1, output_times_h=times).trajectories()
    plot_cascade(typ, pop, path, title=f"0.5 mg/kg racemic ketamine over 40 min: typical patient and 5-95% band "
                                       f"of {n} virtual patients", notice=NOTICE)


def fig_dose_response(path: Path):
    import matplotlib.pyplot as plt

    from ketasim import VirtualExperiment

    doses = [0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.5, 6.0, 8.0]
    times = np.linspace(0, 48, 1153)
    rows = []
    for d in doses:
        df = _typical("racemic-ketamine", "iv-infusion", f"{d} mg/kg", times)
        hyp = _typical("racemic-ketamine", "iv-infusion", f"{d} mg/kg", times,
                       experiment=VirtualExperiment(anesthetic_state=True))
        rows.append((d, df.glutamate.max(), df.glutamate.min(), df.mtorc1.max(), df.nmda_block_pyramidal.max(),
                     df.cadss.max(), hyp.mtorc1.max()))
    a = np.array(rows)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    axes[0].plot(a[:, 0], a[:, 1], "o-", label="highest glutamate")
    axes[0].plot(a[:, 0], a[:, 2], "s--", label="lowest glutamate")
    axes[0].axhline(1.0, color="0.6", lw=0.8)
    axes[0].set_ylabel("glutamate (1 = drug-free)")
    axes[1].plot(a[:, 0], a[:, 3], "o-", color="C2", label="default model")
    axes[1].plot(a[:, 0], a[:, 6], "s--", color="C2", alpha=0.7, label="anesthetic-state hypothesis (off by default)")
    axes[1].legend(fontsize=7)
    axes[1].axhline(1.0, color="0.6", lw=0.8)
    axes[1].set_ylabel("peak mTORC1 (1 = drug-free)")
    axes[2].plot(a[:, 0], a[:, 5], "o-", color="C3", label="peak CADSS")
    ax2 = axes[2].twinx()
    ax2.plot(a[:, 0], a[:, 4], "^:", color="C4", label="peak pyramidal NMDA block")
    axes[2].set_ylabel("peak CADSS (points)")
    ax2.set_ylabel("peak pyramidal block (fraction)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("racemic ketamine, mg/kg over 40 min")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[2].legend(fontsize=8, loc="upper left")
    ax2.legend(fontsize=8, loc="lower right")
    # the title said anesthetic doses switch the surge and mTORC1 off: only the hypothesis, off by default, does
    fig.suptitle("Dose matters: the glutamate surge and mTORC1 signal rise to ~1 mg/kg; anesthetic doses switch "
                 "mTORC1 off only under the anesthetic-state hypothesis (typical patient)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_hours_vs_weeks(path: Path):
    import matplotlib.pyplot as plt

    times = np.unique(np.concatenate([np.linspace(0, 48, 97), np.linspace(48, 42 * 24, 200)]))
    ket = _typical("racemic-ketamine", "iv-infusion", "0.5 mg/kg", times)
    ad = _typical("oral-antidepressant", "oral", None, times)
    pl = _typical("placebo", "iv-infusion", None, times)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for df, lab in ((ket, "one ketamine infusion (0.5 mg/kg over 40 min)"),
                    (ad, "a newly started oral antidepressant (daily)"), (pl, "one saline infusion (placebo)")):
        ax.plot(df.time_h / 24.0, df.score, lw=1.8, label=lab)
    ax.set_xlabel("days after the start")
    ax.set_ylabel("MADRS score (typical patient)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Hours versus weeks: the model's typical patient", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_experiments(path: Path):
    import matplotlib.pyplot as plt
    from ketasim import VirtualExperiment, quick_scenario, simulate

    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg")
    times = np.unique(np.concatenate([np.linspace(0, 24, 97), np.linspace(24, 14 * 24, 80)]))
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for exp, lab, ls in ((VirtualExperiment(), "ketamine alone", "-"),
                         (VirtualExperiment(ampa_block=1.0), "with an AMPA blocker (NBQX)", "-"),
                         (VirtualExperiment(mtor_block=1.0), "with the mTOR blocker rapamycin", "--"),
                         (VirtualExperiment(spine_block=1.0), "with new spines blocked", "-")):
        df = simulate(sc, typical=True, output_times_h=times, experiment=exp).trajectories()
        ax.plot(df.time_h / 24.0, df.score, lw=1.8, ls=ls, label=lab)
    ax.set_xlabel("days after one 0.5 mg/kg infusion")
    ax.set_ylabel("MADRS score (typical patient)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Virtual experiments: block one link and the response changes", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_monitoring(path: Path, n: int):
    import matplotlib.pyplot as plt
    from ketasim import load_parameters, quick_scenario, simulate

    ps = load_parameters()
    times = np.linspace(0, 4, 241)
    regimens = (("racemic-ketamine", "iv-infusion", "0.5 mg/kg", "0.5 mg/kg IV over 40 min"),
                ("esketamine", "intranasal", "56 mg", "56 mg intranasal esketamine"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for k, (drug, route, dose, lab) in enumerate(regimens):
        df = _typical(drug, route, dose, times)
        pop = simulate(quick_scenario(drug, route, dose, size=n, seed=3), output_times_h=times).trajectories()
        for ax, col in zip(axes, ("cadss", "sbp_change_mmhg")):
            ax.plot(df.time_h * 60, df[col], color=f"C{k}", label=f"{lab} (typical)")
            g = pop.groupby("time_h")[col]
            ax.fill_between(times * 60, g.quantile(0.05).to_numpy(), g.quantile(0.95).to_numpy(), color=f"C{k}",
                            alpha=0.15, lw=0, label=f"5-95% of {n} patients")
    axes[0].axhline(ps.get("monitoring.cadss_max"), color="0.4", ls="--", lw=0.8, label="discharge: CADSS <= 4")
    axes[1].axhline(ps.get("monitoring.sbp_rise_max", "mmHg"), color="0.4", ls="--", lw=0.8,
                    label="discharge: rise <= 10 mmHg")
    axes[0].set_ylabel("dissociation (CADSS points)")
    axes[1].set_ylabel("systolic pressure change (mmHg)")
    for ax in axes:
        ax.set_xlabel("minutes after the start of the session")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Why patients are watched for about two hours", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_validation(out_md: Path, fig_path: Path, n: int) -> dict:
    import matplotlib.pyplot as plt
    from ketasim.calibration import qualification_summary, qualify

    rows, skipped = qualify(size=n, seed=11)
    s = qualification_summary(rows)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, unit, title in zip(axes, ("points", "percentage points", "mmHg"),
                               ("means and changes (score points)", "rates (%)", "blood pressure (mmHg)")):
        rr = [r for r in rows if r["unit"] == unit]
        if not rr:
            ax.set_visible(False)
            continue
        obs = np.array([r["observed"] for r in rr])
        pred = np.array([r["predicted"] for r in rr])
        inside = np.array([r["inside"] for r in rr])
        ax.scatter(obs[inside], pred[inside], s=12, label="observed inside the model's 95% interval")
        ax.scatter(obs[~inside], pred[~inside], s=12, marker="x", color="C3", label="outside")
        lo, hi = float(min(obs.min(), pred.min())), float(max(obs.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8)
        ax.set_xlabel("observed")
        ax.set_ylabel("predicted")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Calibration rows: predicted vs observed ({n} virtual patients per arm; docs build)", fontsize=10)
    fig.tight_layout()
    fig.savefig(fig_path, dpi=100)
    plt.close(fig)
    md = ["This part is generated by the documentation build from a small qualification run "
          f"(**{n} virtual patients per arm**, seed 11) so that it takes seconds; the reference run is "
          "`ketasim qualify` (2000 per arm). Numbers of this small run:", "",
          f"* {s['rows']} calibration rows modelled, {len(skipped)} not modelled (each with its reason in "
          "`ketasim qualify`'s output);",
          f"* mean absolute error {s['mae_points']:.2f} score points for means and mean changes, "
          f"{s['mae_percentage_points']:.1f} percentage points for rates, {s['mae_mmhg']:.1f} mmHg for blood pressure;",
          f"* {100 * s['inside_interval']:.0f} % of observations inside the model's 95 % interval for a trial of "
          "that size.", "",
          "```{figure} /_generated/figures/qualification.png", ":alt: predicted versus observed for every calibration row", "",
          "Each point is one row of `clinical_calibration.csv` that the model represents. Crosses lie outside the "
          "model's 95 % interval for a trial of the row's size.", "```", ""]
    out_md.write_text("\n".join(md), encoding="utf-8")
    return s


def generate(srcdir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    gen = srcdir / "_generated"
    figs = gen / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    n = int(os.environ.get("KETASIM_DOCS_N", "100"))
    write_model_page(gen / "model.md")
    write_contract_values(gen / "contract_values.md")
    fig_cascade(figs / "cascade.png", n)
    fig_dose_response(figs / "dose_response.png")
    fig_hours_vs_weeks(figs / "hours_vs_weeks.png")
    fig_experiments(figs / "experiments.png")
    fig_monitoring(figs / "monitoring.png", n)
    write_validation(gen / "validation.md", figs / "qualification.png", max(n, 50))


def _on_builder_inited(app) -> None:
    generate(Path(app.srcdir))


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
