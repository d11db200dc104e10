"""Plotly figure specifications (plain JSON-able dicts) shared by the dashboard and the HTML reports.

Only formatting lives here: which columns go in which panel, colours, axes, time ticks. The numbers come
from the engine's tables (typical-patient trajectories and population bands). No Python plotly is needed:
the browser draws the dicts with plotly.js (served from the installed ``plotly`` wheel, or inlined in a report).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..units import fmt_hours

#: One colour per arm, in order (regimen A, B, C, then further arms such as a placebo arm).
ARM_COLORS = ("#2563eb", "#ea580c", "#059669", "#6b7280", "#9333ea", "#db2777", "#0891b2", "#ca8a04")
DASHES = ("solid", "dash", "dot")

#: Side-effect panel (the monitoring a session needs).
SIDE_PANELS = (
    ("Dissociation (CADSS)", (("cadss", "CADSS"),)),
    ("Blood pressure change (mmHg)", (("sbp_change_mmhg", "systolic"), ("dbp_change_mmhg", "diastolic"))),
    ("Heart rate change (beats/min)", (("hr_change_bpm", "heart rate"),)),
    ("Sedation (index 0-1)", (("sedation", "sedation"),)),
    ("Nausea (probability)", (("nausea_probability", "nausea"),)),
    ("Plasma ketamine (ng/mL)", (("cp_ketamine_ng_ml", "ketamine"), ("cp_midazolam_ng_ml", "midazolam"))),
)

def score_panel_title(title: str, scale: str | None) -> str:
    """The score panel's title with the rating scale and its unit: 'Symptom score (MADRS, points)'."""
    if not scale:
        return title
    from ..population import scale_name

    return f"{title} ({scale_name(scale)}, points)"


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the ``plotly`` wheel (served and inlined locally; never a CDN)."""
    try:
        import plotly
    except ImportError:
        raise ImportError("ketasim's dashboard and HTML reports need the 'web' extra (plotly): "
                          "pip install 'ketasim[web]'") from None
    p = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not p.exists():  # pragma: no cover - a broken plotly installation
        raise ImportError(f"plotly.min.js is missing from the installed plotly package ({p})")
    return p


_TICK_STEPS_H = (1 / 12, 0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 84, 168, 336, 672, 1344, 2016)


def cascade_panels():
    """The panel layout of the PNG cascade figure (``ketasim.plotting.PANELS``)."""
    from ..plotting import PANELS

    return PANELS


#: an endpoint's time as the trial's text table and HTML report label it ('40 min', '6 h', '7 d'; no weeks): the
#: dashboard's table and the endpoint figure read the same labels
fmt_time_h = fmt_hours


def _tick_label(h: float) -> str:
    """A compact label for a time axis tick: '0', '40 min', '6 h', '3.5 d', '2 w' (an axis, not a stated time)."""
    if h == 0:
        return "0"
    if h < 0.999:
        return f"{h * 60:.0f} min"
    if h < 48:
        return f"{h:g} h"
    if h >= 168 and abs(h / 168 - round(h / 168)) < 1e-9:
        return f"{h / 168:g} w"
    return f"{h / 24:g} d"


def time_ticks(lo: float, hi: float, log: bool = False) -> tuple[list, list]:
    """Tick positions and labels (h) for a time axis from ``lo`` to ``hi`` hours."""
    if log:
        cand = [5 / 60, 0.25, 1, 6, 24, 72, 168, 336, 672, 1344, 2016, 4032, 8760]
        vals = [v for v in cand if lo * 0.999 <= v <= hi * 1.001]
    else:
        span = max(hi - lo, 1e-9)
        step = next((s for s in _TICK_STEPS_H if span / s <= 8), _TICK_STEPS_H[-1])
        start = math.ceil(lo / step - 1e-9) * step
        vals = [round(start + i * step, 9) for i in range(int((hi - start) / step + 1e-9) + 1)]
    return vals, [_tick_label(v) for v in vals]


def time_views(horizon_h: float) -> list[dict]:
    """Named x-axis views: log time over the whole course (minutes to weeks at once) and linear zooms."""
    views = [{"label": "log time (all scales)", "type": "log", "range": [5 / 60, horizon_h]},
             {"label": "first 4 h", "type": "linear", "range": [0.0, 4.0]},
             {"label": "first 2 days", "type": "linear", "range": [0.0, min(48.0, horizon_h)]},
             {"label": "whole course", "type": "linear", "range": [0.0, horizon_h]}]
    return views


def _axis_settings(view: dict, n_axes: int) -> dict:
    """Relayout arguments that put every x axis of a figure into ``view``."""
    log = view["type"] == "log"
    lo, hi = view["range"]
    vals, text = time_ticks(lo, hi, log)
    rng = [math.log10(lo), math.log10(hi)] if log else [lo, hi]
    out = {}
    for k in range(1, n_axes + 1):
        ax = "xaxis" if k == 1 else f"xaxis{k}"
        out.update({f"{ax}.type": view["type"], f"{ax}.range": rng, f"{ax}.tickmode": "array",
                    f"{ax}.tickvals": vals, f"{ax}.ticktext": text, f"{ax}.autorange": False})
    return out


def compact(values, sig: int = 5) -> list:
    """A float array as a JSON-friendly list, rounded to ``sig`` significant digits of its largest value
    (plenty for drawing; keeps payloads small). NaN/inf become None."""
    a = np.asarray(values, dtype=float)
    finite = np.isfinite(a)
    if a.size == 0:
        return []
    top = float(np.max(np.abs(a[finite]))) if finite.any() else 0.0
    dec = sig - 1 - int(math.floor(math.log10(top))) if top > 0 else 0
    r = np.round(a, max(min(dec, 12), -6))
    out = r.tolist()
    if not finite.all():
        out = [v if ok else None for v, ok in zip(out, finite.tolist())]
    return out


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _nonzero(y) -> bool:
    y = np.asarray(y, float)
    return bool(np.any(np.abs(y[np.isfinite(y)]) > 1e-12))


def cascade_figure(typical=None, bands=None, *, panels=None, arms=None, arm_colors=None, view: str | int = 0,
                   horizon_h: float | None = None, buttons: bool = True, columns: int = 2,
                   title: str | None = None, row_height: int = 190, shared_x: str | None = None,
                   compact_menu: bool = False, scale: str | None = None) -> dict:
    """A multi-panel time-course figure as a plotly.js spec ``{"data": [...], "layout": {...}}``.

    ``typical``: trajectories table (columns arm, time_h and variables) drawn as lines, one per arm;
    ``bands``: population summary (arm, time_h, variable, p05, median, p95) drawn as 5-95% bands (and as the
    median line when there is no typical line for that arm). ``panels``: ((title, ((column, label), ...)), ...),
    default the cascade panels. Panels without any non-zero series are left out. ``compact_menu``: the time
    views as a drop-down (narrow screens) instead of a row of buttons. ``shared_x``: when every
    typical line has the same times (the dashboard), their ``x`` is left out and the trace names this key of
    the response instead (``"x_ref"``), which the page fills in — it keeps the payload small. ``scale``: the
    population's rating scale (``population.scale``, e.g. 'madrs'), named with its unit in the score panel's title
    ('Symptom score (MADRS, points)'; it named no scale).
    """
    panels = cascade_panels() if panels is None else panels
    if arms is None:
        names = []
        for df in (typical, bands):
            if df is not None and len(df):
                names += [a for a in dict.fromkeys(df["arm"]) if a not in names]
        arms = names
    colors = dict(arm_colors or {})
    for i, a in enumerate(arms):
        colors.setdefault(a, ARM_COLORS[i % len(ARM_COLORS)])

    typ = {a: g.sort_values("time_h") for a, g in typical.groupby("arm", sort=False)} if typical is not None and len(typical) else {}
    bnd = {}
    if bands is not None and len(bands):
        for (a, v), g in bands.groupby(["arm", "variable"], sort=False):
            bnd[(a, v)] = g.sort_values("time_h")

    def has(col, arm):
        if arm in typ and col in typ[arm] and _nonzero(typ[arm][col]):
            return True
        b = bnd.get((arm, col))
        return b is not None and (_nonzero(b["p95"]) or _nonzero(b["p05"]))

    shown = [(title_, [(c, l) for c, l in series if any(has(c, a) for a in arms)]) for title_, series in panels]
    shown = [(t, s) for t, s in shown if s]
    if horizon_h is None:
        ends = [float(g["time_h"].max()) for g in typ.values()] + [float(g["time_h"].max()) for g in bnd.values()]
        horizon_h = max(ends) if ends else 672.0
    n = len(shown)
    rows = max(1, math.ceil(n / columns))
    gap_y, gap_x = 62.0 / (rows * row_height + 110), 0.08
    h_cell = (1.0 - gap_y * (rows - 1)) / rows
    w_cell = (1.0 - gap_x * (columns - 1)) / columns
    data, layout = [], {}
    annotations, shapes = [], []
    legend_done = set()
    for i, (ptitle, series) in enumerate(shown):
        r, c = divmod(i, columns)
        k = i + 1
        xa, ya = ("x", "y") if k == 1 else (f"x{k}", f"y{k}")
        x0 = c * (w_cell + gap_x)
        y1 = 1.0 - r * (h_cell + gap_y)
        xkey = "xaxis" if k == 1 else f"xaxis{k}"
        ykey = "yaxis" if k == 1 else f"yaxis{k}"
        layout[xkey] = {"domain": [x0, x0 + w_cell], "anchor": ya, "showgrid": True, "gridcolor": "#e5e7eb",
                        "zeroline": False, "tickfont": {"size": 10}, "linecolor": "#9ca3af", "showline": True}
        if k > 1:
            layout[xkey]["matches"] = "x"
        layout[ykey] = {"domain": [y1 - h_cell, y1], "anchor": xa, "showgrid": True, "gridcolor": "#e5e7eb",
                        "zeroline": False, "tickfont": {"size": 10}, "linecolor": "#9ca3af", "showline": True,
                        "automargin": True}
        if r == rows - 1 or i + columns >= n:
            layout[xkey]["title"] = {"text": "time after first dose", "font": {"size": 11}}
        styles = " · ".join(f"{'—' if s == 0 else ('- -' if s == 1 else '···')} {lab}"
                            for s, (_, lab) in enumerate(series)) if len(series) > 1 else ""
        if any(c == "score" for c, _ in series):
            ptitle = score_panel_title(ptitle, scale)
            # population.recurrence (issue 7): a dotted vertical line where the typical patient's new episode begins
            # (once its time in response has passed the population median T), as ``ketasim simulate --plot`` marks it
            from ..summary import episode_starts

            starts = episode_starts(typ)
            for a, t_ep in starts.items():
                shapes.append({"type": "line", "xref": xa, "yref": f"{ya} domain", "x0": t_ep, "x1": t_ep,
                               "y0": 0, "y1": 1, "line": {"color": colors.get(a, "#6b7280"), "width": 1.2,
                                                          "dash": "dot"}, "layer": "below",
                               "name": f"new episode: {a}"})
            if starts:
                note = "dotted: typical patient's new episode (recurrence)"
                styles = f"{styles} · {note}" if styles else note
        annotations.append({"text": f"<b>{ptitle}</b>" + (f"  <span style='color:#6b7280'>{styles}</span>" if styles else ""),
                            "x": x0, "y": y1, "xref": "paper", "yref": "paper", "xanchor": "left", "yanchor": "bottom",
                            "showarrow": False, "font": {"size": 12}})
        for a in arms:
            col = colors[a]
            for s, (colname, lab) in enumerate(series):
                if not has(colname, a):
                    continue
                b = bnd.get((a, colname))
                if b is not None:
                    t = compact(b["time_h"].to_numpy(), 9)
                    data.append({"type": "scatter", "mode": "lines", "x": t, "y": compact(b["p95"].to_numpy()),
                                 "xaxis": xa, "yaxis": ya, "line": {"width": 0, "color": col}, "hoverinfo": "skip",
                                 "showlegend": False, "legendgroup": a, "name": f"{a}: {lab} 95th percentile"})
                    data.append({"type": "scatter", "mode": "lines", "x": t, "y": compact(b["p05"].to_numpy()),
                                 "xaxis": xa, "yaxis": ya, "line": {"width": 0, "color": col}, "fill": "tonexty",
                                 "fillcolor": _rgba(col, 0.16), "hoverinfo": "skip", "showlegend": False,
                                 "legendgroup": a, "name": f"{a}: {lab} 5-95% band", "meta": {"band": True}})
                if a in typ and colname in typ[a]:
                    g = typ[a]
                    x, y, kind = g["time_h"].to_numpy(), g[colname].to_numpy(), "typical patient"
                elif b is not None:
                    x, y, kind = b["time_h"].to_numpy(), b["median"].to_numpy(), "median"
                else:
                    continue
                first = a not in legend_done
                legend_done.add(a)
                xs = {"x_ref": shared_x} if shared_x and a in typ else {"x": compact(x, 9)}
                data.append({"type": "scatter", "mode": "lines", **xs, "y": compact(y, 4),
                             "xaxis": xa, "yaxis": ya, "name": a, "legendgroup": a, "showlegend": first,
                             "line": {"color": col, "width": 2, "dash": DASHES[s % len(DASHES)]},
                             "hovertemplate": f"{a}<br>{lab} ({kind}): %{{y:.3~g}}<extra></extra>",
                             "meta": {"arm": a, "column": colname}})
    views = time_views(horizon_h)
    if isinstance(view, str):
        view = next((i for i, v in enumerate(views) if v["label"] == view), 0)
    if not (isinstance(view, int) and 0 <= view < len(views)):
        view = 0
    for key, val in _axis_settings(views[view], n).items():
        ax, prop = key.split(".")
        layout[ax][prop] = val
    legend_h = 30 * len(arms) if compact_menu else 0        # a narrow legend puts one arm per line
    top = (96 if buttons else 60) + (26 if title else 0) + (legend_h + 12 if compact_menu and buttons else 0)
    height = int(rows * row_height + top + 50)
    ph = height - top - 50                      # plot-area height in px: legend and buttons sit above it
    layout.update({
        "height": height, "margin": {"l": 60, "r": 20, "t": top, "b": 50},
        "annotations": annotations, "shapes": shapes, "showlegend": True, "hovermode": "closest",
        "legend": {"orientation": "h", "x": 0, "y": 1.0 + 24 / ph, "yanchor": "bottom", "xanchor": "left",
                   "font": {"size": 12}},
        "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff", "font": {"family": "system-ui, sans-serif"},
    })
    if title:
        layout["title"] = {"text": title, "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "top", "yref": "container",
                           "pad": {"t": 8}, "font": {"size": 14}}
    if buttons:
        layout["updatemenus"] = [{
            # on a narrow screen: a drop-down on its own row above the legend (it would cover the legend)
            "type": "dropdown" if compact_menu else "buttons", "direction": "down" if compact_menu else "right",
            "x": 0.0 if compact_menu else 1.0, "xanchor": "left" if compact_menu else "right",
            "y": 1.0 + (24 + legend_h + 12 if compact_menu else 58) / ph,
            "yanchor": "bottom", "showactive": True, "active": view, "pad": {"r": 0, "t": 0},
            "font": {"size": 11}, "bgcolor": "#f3f4f6", "bordercolor": "#d1d5db",
            "buttons": [{"label": v["label"], "method": "relayout", "args": [_axis_settings(v, n)]} for v in views],
        }]
    return {"data": data, "layout": layout, "config": {"displaylogo": False, "responsive": True}}


def add_observed(fig: dict, time_h, values, column: str, label: str) -> None:
    """Overlay observed points (markers) on the panel that draws ``column``; raises KeyError-free: a
    ValueError naming the panel when the figure has none."""
    axes = next(((tr["xaxis"], tr["yaxis"]) for tr in fig["data"] if (tr.get("meta") or {}).get("column") == column),
                None)
    if axes is None:
        from ..errors import InputError

        raise InputError(f"observed: the figure has no {label} panel for these regimens")
    fig["data"].append({"type": "scatter", "mode": "markers", "x": compact(time_h, 9), "y": compact(values, 5),
                        "xaxis": axes[0], "yaxis": axes[1], "name": f"observed {label}",
                        "marker": {"color": "#111827", "size": 7, "symbol": "x"},
                        "hovertemplate": f"observed {label}: %{{y:.3~g}} at %{{x:.3~g}} h<extra></extra>",
                        "meta": {"observed": True, "column": column}})


def bands_from_population(traj, variables) -> "object":
    """5/50/95% bands per arm and output time from a population trajectory table."""
    import pandas as pd

    frames = []
    for arm, g in traj.groupby("arm", sort=False):
        n = int(g["subject"].nunique())
        g = g.sort_values(["subject", "time_h"])
        t = g["time_h"].to_numpy()[: len(g) // n]
        for v in variables:
            if v not in g:
                continue
            m = g[v].to_numpy(dtype=float).reshape(n, t.size)
            q = np.nanpercentile(m, [5, 50, 95], axis=0)
            frames.append(pd.DataFrame({"arm": arm, "time_h": t, "variable": v, "p05": q[0], "median": q[1],
                                        "p95": q[2]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["arm", "time_h", "variable", "p05", "median", "p95"])


def _name_score_points(titles: dict, table) -> None:
    """'Mean change from baseline (MADRS points)': the unit of the score panels when the rows name one scale (a
    trial's ``scale`` column, or an observed file's)."""
    from ..errors import InputError
    from ..population import canonical_scale, scale_name

    if "scale" not in table:
        return
    names = set()
    for v in table.loc[table["measure"].isin(["mean", "mean_change"]), "scale"]:
        try:
            names.add(scale_name(canonical_scale(v)))
        except InputError:
            continue
    if len(names) == 1:
        (name,) = names
        for m in ("mean", "mean_change"):
            titles[m] += f" ({name} points)"


def _pk_titles() -> dict:
    """Panel titles of PK rows: 'Cmax (ng/mL)', 'AUC0-inf ratio (vs the control arm)'."""
    from ..nca import LABELS, RATIO_MEASURES, UNITS

    return {**{m: f"{LABELS[m]} ({UNITS[m]})" for m in LABELS},
            **{f"{m}_ratio": f"{LABELS[m]} ratio (vs the control arm)" for m in RATIO_MEASURES}}


def _pk_tick(analyte: str, statistic) -> str:
    """A PK row's tick after its arm: 'S-ketamine GM', 'S-ketamine mean', 'S-ketamine GMR' (as the printed table),
    so that a Cmax geometric mean and a Cmax mean of one arm and analyte are told apart (review s50 L-8: both read
    'alone, s-ketamine')."""
    from ..observed import STATISTIC_LABELS, analyte_label

    st = STATISTIC_LABELS.get(statistic, statistic) if isinstance(statistic, str) else ""
    return f"{analyte_label(analyte)} {st}".strip()


def _distinct_ticks(labels: list, g) -> list:
    """``labels`` with any that still repeat within a panel (two rows of one arm, measure and time from different
    ``trial_id``s) told apart by their trial_id, else their row number."""
    from collections import Counter

    seen = Counter(labels)
    if all(k == 1 for k in seen.values()):
        return labels
    ids = g["trial_id"] if "trial_id" in g.columns else [""] * len(g)
    rows = g["row"] if "row" in g.columns else range(1, len(g) + 1)
    return [f"{lab} ({tid})" if seen[lab] > 1 and isinstance(tid, str) and tid else
            f"{lab} (row {row})" if seen[lab] > 1 else lab for lab, tid, row in zip(labels, ids, rows)]


def observed_figure(table, *, arms=None, arm_colors=None, columns: int = 2) -> dict:
    """A published trial beside the prediction (``ketasim.observed.compare_observed``'s table): one panel per
    measure, one position per arm and time; the predicted value with its 95 % prediction interval (arm colour,
    error bars) and, just right of it, the observed value (black diamond) with its own 95 % CI where it has one."""
    if table is None or not len(table):
        return {"data": [], "layout": {}}
    measures = list(dict.fromkeys(table["measure"]))
    arms = arms or list(dict.fromkeys(table["arm"]))
    colors = dict(arm_colors or {})
    for i, a in enumerate(arms):
        colors.setdefault(a, ARM_COLORS[i % len(ARM_COLORS)])
    titles = {"mean": "Mean score", "mean_change": "Mean change from baseline", "response_rate": "Response rate (%)",
              "remission_rate": "Remission rate (%)", "relapse_rate": "Relapse rate (%)",
              "final_dose_rate": "Patients on each final dose (%)",
              "time_to_relapse": "Median time to relapse (days; none drawn when not reached)",
              "relapse_hazard_ratio": "Hazard ratio of relapse (Cox)",
              "randomized_fraction": "Randomized (% of those who entered induction)",
              "followed_fraction": "Followed in the open-label follow-up (% of the arm)",
              **_pk_titles()}
    _name_score_points(titles, table)
    data, layout, ann = [], {}, []
    n = len(measures)
    columns = min(columns, 2) if n > 1 else 1
    rows = math.ceil(n / columns)
    gap_x, gap_y = 0.1, 100.0 / (rows * 260 + 90)
    w = (1 - gap_x * (columns - 1)) / columns
    h = (1 - gap_y * (rows - 1)) / rows
    shown = set()
    for i, m in enumerate(measures):
        r, c = divmod(i, columns)
        k = i + 1
        xa, ya = ("x", "y") if k == 1 else (f"x{k}", f"y{k}")
        x0, y1 = c * (w + gap_x), 1 - r * (h + gap_y)
        g = table[table["measure"] == m].reset_index(drop=True)
        levels = g["dose_level"] if "dose_level" in g.columns else [""] * len(g)
        analytes = g["analyte"] if "analyte" in g.columns else [""] * len(g)
        stats = g["statistic"] if "statistic" in g.columns else [""] * len(g)
        labels = [f"{a}, {lv}" if isinstance(lv, str) and lv else f"{a}, {fmt_time_h(float(t))}" if t == t else
                  f"{a}, {_pk_tick(an, st)}" if isinstance(an, str) and an else a   # a PK row: analyte, statistic
                  for a, t, lv, an, st in zip(g["arm"], g["time_h"], levels, analytes, stats)]
        labels = _distinct_ticks(labels, g)
        layout["xaxis" if k == 1 else f"xaxis{k}"] = {"domain": [x0, x0 + w], "anchor": ya, "range": [-0.6, len(g) - 0.4],
                                                       "tickvals": list(range(len(g))), "ticktext": labels, "zeroline": False,
                                                       "tickfont": {"size": 10}}
        layout["yaxis" if k == 1 else f"yaxis{k}"] = {"domain": [y1 - h, y1], "anchor": xa, "gridcolor": "#e5e7eb",
                                                       "automargin": True}
        ann.append({"text": f"<b>{titles.get(m, m)}</b>", "x": x0, "y": y1, "xref": "paper", "yref": "paper",
                    "xanchor": "left", "yanchor": "bottom", "showarrow": False})
        for a in arms:
            idx = [j for j in range(len(g)) if g.loc[j, "arm"] == a]
            if not idx:
                continue
            s = g.loc[idx]
            v = s["predicted"].to_numpy(float)
            data.append({"type": "scatter", "mode": "markers", "name": f"{a} (predicted, 95% PI)", "legendgroup": a,
                         "showlegend": a not in shown, "x": [j - 0.08 for j in idx], "y": compact(v),
                         "xaxis": xa, "yaxis": ya, "marker": {"color": colors[a], "size": 9},
                         "error_y": {"type": "data", "symmetric": False, "array": compact(s["pi_high"].to_numpy(float) - v),
                                     "arrayminus": compact(v - s["pi_low"].to_numpy(float)), "color": colors[a],
                                     "thickness": 2, "width": 6},
                         "hovertemplate": f"{a} predicted: %{{y:.3~g}}<extra></extra>"})
            shown.add(a)
        o = g["observed"].to_numpy(float)
        data.append({"type": "scatter", "mode": "markers", "name": "observed (95% CI)", "legendgroup": "observed",
                     "showlegend": i == 0, "x": [j + 0.08 for j in range(len(g))], "y": compact(o),
                     "xaxis": xa, "yaxis": ya, "marker": {"color": "#111827", "size": 9, "symbol": "diamond"},
                     "error_y": {"type": "data", "symmetric": False,
                                 # a median's upper bound 'not reached' (+inf): no bar, not one of 1.8e308
                                 "array": compact(np.nan_to_num(g["observed_ci_high"].to_numpy(float) - o,
                                                                posinf=0.0)),
                                 "arrayminus": compact(np.nan_to_num(o - g["observed_ci_low"].to_numpy(float),
                                                                     neginf=0.0)),
                                 "color": "#111827", "thickness": 1.2, "width": 4},
                     "hovertemplate": "observed: %{y:.3~g}<extra></extra>"})
    layout.update({"height": int(rows * 260 + 90), "annotations": ann, "margin": {"l": 60, "r": 20, "t": 60, "b": 60},
                   "legend": {"orientation": "h", "x": 0, "y": 1.0 + 40 / (rows * 260 + 90), "yanchor": "bottom"},
                   "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff", "font": {"family": "system-ui, sans-serif"}})
    return {"data": data, "layout": layout, "config": {"displaylogo": False, "responsive": True}}


def endpoint_figure(table, *, arms=None, arm_colors=None, measures=("mean", "mean_change", "response_rate",
                                                                     "remission_rate"), columns: int = 2) -> dict:
    """Endpoints over time with 95% intervals (error bars), one panel per measure, one colour per arm."""
    if table is None or not len(table):
        return {"data": [], "layout": {}}
    t = table[table["time_h"].notna()]
    measures = [m for m in measures if m in set(t["measure"])]
    arms = arms or list(dict.fromkeys(t["arm"]))
    colors = dict(arm_colors or {})
    for i, a in enumerate(arms):
        colors.setdefault(a, ARM_COLORS[i % len(ARM_COLORS)])
    titles = {"mean": "Mean score", "mean_change": "Mean change from baseline", "response_rate": "Response rate (%)",
              "remission_rate": "Remission rate (%)"}
    _name_score_points(titles, t)        # the unit of the score panels, as the endpoint table states it
    data, layout, ann = [], {}, []
    n = len(measures)
    columns = min(columns, 2) if n > 1 else 1
    rows = math.ceil(n / columns) if n else 1
    gap_x, gap_y = 0.1, 100.0 / (rows * 260 + 90)      # room for the axis title and the next panel's title
    w = (1 - gap_x * (columns - 1)) / columns
    h = (1 - gap_y * (rows - 1)) / rows
    all_t = sorted(set(float(x) for x in t["time_h"]))
    cat = [fmt_time_h(x) for x in all_t]
    for i, m in enumerate(measures):
        r, c = divmod(i, columns)
        k = i + 1
        xa, ya = ("x", "y") if k == 1 else (f"x{k}", f"y{k}")
        x0, y1 = c * (w + gap_x), 1 - r * (h + gap_y)
        layout["xaxis" if k == 1 else f"xaxis{k}"] = {"domain": [x0, x0 + w], "anchor": ya, "type": "category",
                                                       "categoryorder": "array", "categoryarray": cat,
                                                       "title": {"text": "time after first dose", "font": {"size": 11}}}
        layout["yaxis" if k == 1 else f"yaxis{k}"] = {"domain": [y1 - h, y1], "anchor": xa, "gridcolor": "#e5e7eb",
                                                       "automargin": True}
        ann.append({"text": f"<b>{titles.get(m, m)}</b>", "x": x0, "y": y1, "xref": "paper", "yref": "paper",
                    "xanchor": "left", "yanchor": "bottom", "showarrow": False})
        for j, a in enumerate(arms):
            g = t[(t["arm"] == a) & (t["measure"] == m)].sort_values("time_h")
            if not len(g):
                continue
            v = g["value"].to_numpy(float)
            data.append({"type": "scatter", "mode": "lines+markers", "name": a, "legendgroup": a, "showlegend": i == 0,
                         "x": [fmt_time_h(float(x)) for x in g["time_h"]], "y": compact(v),
                         "xaxis": xa, "yaxis": ya, "marker": {"color": colors[a], "size": 7},
                         "line": {"color": colors[a], "width": 1.5},
                         "error_y": {"type": "data", "symmetric": False, "array": compact(g["ci_high"].to_numpy(float) - v),
                                     "arrayminus": compact(v - g["ci_low"].to_numpy(float)), "color": colors[a],
                                     "thickness": 1.2, "width": 4},
                         "hovertemplate": f"{a}<br>%{{x}}: %{{y:.3~g}}<extra></extra>"})
    layout.update({"height": int(rows * 260 + 90), "annotations": ann, "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
                   "legend": {"orientation": "h", "x": 0, "y": 1.0 + 40 / (rows * 260 + 90), "yanchor": "bottom"},
                   "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff", "font": {"family": "system-ui, sans-serif"}})
    return {"data": data, "layout": layout, "config": {"displaylogo": False, "responsive": True}}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def forest_figure(rows, endpoints, *, analyte: str | None = None) -> dict:
    """Covariate effects (``ketasim.covariates`` rows as dicts) as a Plotly forest plot: one panel per endpoint,
    one row per contrast; PK ratios on a log axis with the 0.80-1.25 no-effect band, other endpoints as differences
    around 0. ``analyte``: the PK panels' analyte."""
    from ..covariates import NO_EFFECT_BOUNDS, PK_ENDPOINTS, column_title, interval_keys

    contrasts = list(dict.fromkeys(r["contrast"] for r in rows))
    draws = any(_finite(r.get("param90_low")) for r in rows)       # computed with posterior draws
    eps = [e for e in endpoints if e not in PK_ENDPOINTS or analyte]
    n = max(1, len(eps))
    gap = 0.04
    width = (1 - gap * (n - 1)) / n
    data, layout = [], {"margin": {"l": 150, "r": 10, "t": 40, "b": 40}, "showlegend": False,
                        "height": 120 + 26 * len(contrasts), "shapes": [], "annotations": []}
    for i, e in enumerate(eps):
        ax = "" if i == 0 else str(i + 1)
        want = analyte if e in PK_ENDPOINTS else ""
        by = {r["contrast"]: r for r in rows if r["endpoint"] == e and r["analyte"] == want}
        x = [by[c]["value"] if c in by else None for c in contrasts]
        keys = interval_keys(draws)         # as the printed table (none: the typical patient)
        lo_err = [by[c]["value"] - by[c][keys[0]] if c in by and _finite(by[c].get(keys[0])) and _finite(by[c]["value"])
                  else 0.0 for c in contrasts]
        hi_err = [by[c][keys[1]] - by[c]["value"] if c in by and _finite(by[c].get(keys[1])) and _finite(by[c]["value"])
                  else 0.0 for c in contrasts]
        trace = {"type": "scatter", "mode": "markers", "x": x, "y": contrasts, "xaxis": f"x{ax}", "yaxis": "y",
                 "marker": {"color": ARM_COLORS[0], "size": 8},
                 "hovertemplate": "%{y}: %{x:.3g}<extra>" + column_title(e, analyte or "") + "</extra>"}
        if any(v < 0 for v in lo_err + hi_err):
            # a value outside its posterior draws' 5th-95th percentiles (a steep effect, few draws): bars anchored at
            # the value, clipped at 0, drew the interval from the value to one end; an unseen marker at the
            # interval's centre carries it instead
            ends = [(by[c][keys[0]], by[c][keys[1]]) if c in by and _finite(by[c].get(keys[0]))
                    and _finite(by[c].get(keys[1])) else (None, None) for c in contrasts]
            data.append({"type": "scatter", "mode": "markers", "y": contrasts, "xaxis": f"x{ax}", "yaxis": "y",
                         "x": [None if a is None else (a + b) / 2 for a, b in ends], "marker": {"opacity": 0},
                         "hoverinfo": "skip", "error_x": {"type": "data", "symmetric": True, "thickness": 1.2,
                                                          "width": 3, "color": ARM_COLORS[0],
                                                          "array": [0.0 if a is None else (b - a) / 2
                                                                    for a, b in ends]}})
        elif any(lo_err) or any(hi_err):
            trace["error_x"] = {"type": "data", "symmetric": False, "array": [max(0.0, v) for v in hi_err],
                                "arrayminus": [max(0.0, v) for v in lo_err], "thickness": 1.2, "width": 3}
        data.append(trace)
        lo, hi = i * (width + gap), i * (width + gap) + width
        axis = {"domain": [lo, hi], "zeroline": False, "title": {"text": column_title(e, analyte or ""),
                                                                  "font": {"size": 11}}}
        if e in PK_ENDPOINTS:
            vals = [v for v in x if v is not None and v > 0]
            a, b = min(vals + [NO_EFFECT_BOUNDS[0]]), max(vals + [NO_EFFECT_BOUNDS[1]])
            axis.update(type="log", range=[float(np.log10(a / 1.1)), float(np.log10(b * 1.1))])
            layout["shapes"].append({"type": "rect", "xref": f"x{ax}", "yref": "paper", "x0": NO_EFFECT_BOUNDS[0],
                                     "x1": NO_EFFECT_BOUNDS[1], "y0": 0, "y1": 1, "fillcolor": "#e5e7eb",
                                     "line": {"width": 0}, "layer": "below"})
            ref = 1.0
        else:
            ref = 0.0
        layout["shapes"].append({"type": "line", "xref": f"x{ax}", "yref": "paper", "x0": ref, "x1": ref, "y0": 0,
                                 "y1": 1, "line": {"color": "#6b7280", "width": 1}})
        layout[f"xaxis{ax}"] = axis
    layout["yaxis"] = {"autorange": "reversed", "automargin": True}
    return {"data": data, "layout": layout, "config": {"displaylogo": False, "responsive": True}}


def power_figure(rows, *, target: float, draws: bool = False, allocation: str = "1:1",
                 design: str = "parallel") -> dict:
    """Power curves (``ketasim.power`` rows as dicts) as a Plotly figure: power (with posterior ``draws``: the
    assurance) against patients per arm (at an unequal ``allocation`` such as '2:1': the tested arm's), one curve per
    comparison x endpoint with its band (95 % Monte Carlo interval; with draws the 5th-95th percentiles of the draws'
    power), the ``target`` as a dashed line."""
    from ..power import curve_label, size_axis_label

    axis = size_axis_label(allocation, design)

    key, low, high = ("assurance", "power_p05", "power_p95") if draws else ("power", "power_ci95_low",
                                                                            "power_ci95_high")
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["arm"], r["versus"], r["time_h"], r["measure"]), []).append(r)
    data = []
    # one colour per comparison x time, one dash per measure: colours repeated after eight curves (the design
    # example's 18 default endpoints drew 'change 24 h' and 'remission 40 min' alike)
    colours: dict = {}
    dashes = {"mean_change": DASHES[0], "response_rate": DASHES[1], "remission_rate": DASHES[2]}
    for g in groups.values():
        g = sorted(g, key=lambda r: r["n_per_arm"])
        ck = len(colours) if len(groups) <= len(ARM_COLORS) else (g[0]["arm"], g[0]["versus"], g[0]["time_h"])
        color = colours.setdefault(ck, ARM_COLORS[len(colours) % len(ARM_COLORS)])
        n = [r["n_per_arm"] for r in g]
        name = curve_label(g[0])
        lo = [r[low] if _finite(r.get(low)) else None for r in g]
        hi = [r[high] if _finite(r.get(high)) else None for r in g]
        data.append({"type": "scatter", "mode": "lines", "x": n + n[::-1], "y": hi + lo[::-1], "fill": "toself",
                     "fillcolor": _rgba(color, 0.15), "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False,
                     "legendgroup": name})
        data.append({"type": "scatter", "mode": "lines+markers", "x": n, "y": [r[key] for r in g], "name": name,
                     "legendgroup": name, "line": {"color": color, "width": 2,
                                                   "dash": dashes.get(g[0]["measure"], DASHES[0])},
                     "marker": {"size": 6},
                     "hovertemplate": ("n %{x} per arm" if axis == "patients per arm" else
                                       "n %{x} patients" if design == "crossover" else "n %{x} in the tested arm")
                     + ": %{y:.2f}<extra>" + name + "</extra>"})
    layout = {"height": 420, "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
              "xaxis": {"title": {"text": axis}, "zeroline": False},
              "yaxis": {"title": {"text": "assurance" if draws else "power"}, "range": [0, 1.02]},
              "shapes": [{"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": target, "y1": target,
                          "line": {"color": "#6b7280", "width": 1, "dash": "dash"}}],
              "legend": {"orientation": "h", "x": 0, "y": -0.2}, "plot_bgcolor": "#ffffff",
              "paper_bgcolor": "#ffffff", "font": {"family": "system-ui, sans-serif"}}
    return {"data": data, "layout": layout, "config": {"displaylogo": False, "responsive": True}}
