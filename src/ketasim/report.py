"""Self-contained HTML reports: one file, plots embedded (plotly.js inlined, gzip-packed), no network needed to open it.

``simulation_report(result, typical_result, path)`` — what ``ketasim simulate ... --report`` writes;
``trial_report(trial_result, path)`` — what ``ketasim trial ... --report`` writes. Each holds the scenario
(YAML), the time courses per arm with population bands, the side-effect panel, the endpoint table (trials),
provenance (version, parameter set, seed) and the research-use notice, once.

Plots need the ``plotly`` package (the ``web`` extra) for its bundled plotly.min.js; the figures themselves
are the same specifications the dashboard draws (:mod:`ketasim.web.figures`).
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import gzip
import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .display import display_times, json_safe, trial_panels
from .vocabulary import BAND_VARIABLES, MEASURE_LABELS, NOTICE, SCORE_MEASURES
from .io import as_path, atomic_write_text
from .population import scale_name
from .units import unit_suffix

_MEASURE_LABELS = MEASURE_LABELS


def _packed(data: bytes) -> str:
    """``data`` gzip-compressed (level 9, no timestamp: the same input gives the same file) and base64-encoded:
    what the page's loader unpacks with the browser's own ``DecompressionStream``."""
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


@functools.lru_cache(maxsize=2)
def _packed_plotly_js(path: str, mtime_ns: int) -> tuple[str, str]:
    """(version line, packed plotly.min.js); cached per file version (compressing 4.8 MB takes ~0.3 s)."""
    raw = Path(path).read_bytes()
    m = re.search(rb"plotly\.js v[0-9][0-9A-Za-z.+-]*", raw[:500])
    return (m.group(0).decode("ascii") if m else "plotly.js"), _packed(raw)


def _plotly_js() -> tuple[str, str]:
    from .web.figures import plotly_js_path

    p = plotly_js_path()
    return _packed_plotly_js(str(p), p.stat().st_mtime_ns)


def _json(obj) -> str:
    return json.dumps(json_safe(obj), allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#111827;margin:0;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:18px}
header{background:#0f172a;color:#e5e7eb;padding:14px 18px}
header h1{margin:0;font-size:20px;color:#fff} header p{margin:4px 0 0;color:#cbd5e1;font-size:13px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 14px;margin:0 0 14px}
h2{font-size:16px;margin:0 0 8px}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.l,th.l{text-align:left} thead th{background:#f9fafb}
pre{background:#f9fafb;border:1px solid #e5e7eb;padding:8px;font-size:12px;overflow-x:auto}
.hint{color:#6b7280;font-size:12.5px} .plot{width:100%}
.notice{color:#6b7280;font-size:12.5px}
.wrap{overflow-x:auto;max-width:100%}
section{overflow-x:auto;max-width:100%}
table.kv td{white-space:normal;overflow-wrap:anywhere}
.plot{max-width:100%;overflow:hidden}
@media (max-width:700px){main{padding:8px} section{padding:8px} header{padding:10px}
 table{font-size:12px} th,td{padding:3px 6px}}
"""


#: On a narrow screen (phone) a report restacks every multi-panel figure into one column (the figures are
#: built for a desktop's two or three columns), with the time views as a drop-down above the legend.
NARROW_JS = """function ketasimNarrow(layout, nArms) {
  if (window.innerWidth >= 700) return layout;
  const xs = Object.keys(layout).filter((k) => /^xaxis\\d*$/.test(k))
    .sort((a, b) => (Number(a.slice(5)) || 1) - (Number(b.slice(5)) || 1));
  const n = xs.length;
  const cols = new Set(xs.map((k) => JSON.stringify(layout[k].domain))).size;
  if (n < 2 || cols < 2) return layout;
  const nLeg = Math.max(1, nArms || 2);
  const top = 60 + 30 * nLeg + (layout.updatemenus ? 44 : 0), rowH = 190, gap = 66;
  const H = n * rowH + (n - 1) * gap + top + 50, ph = H - top - 50, gy = gap / ph, h = (1 - gy * (n - 1)) / n;
  xs.forEach((xk, i) => {
    const yk = "y" + xk.slice(1), y1 = 1 - i * (h + gy);
    layout[xk].domain = [0, 1];
    layout[yk].domain = [y1 - h, y1];
    if (layout.annotations && layout.annotations[i]) { layout.annotations[i].x = 0; layout.annotations[i].y = y1; }
  });
  layout.height = H;
  layout.margin = Object.assign({}, layout.margin, { t: top, l: 50, r: 10 });
  if (layout.legend) layout.legend.y = 1 + 24 / ph;
  if (layout.updatemenus) Object.assign(layout.updatemenus[0], { type: "dropdown", direction: "down", x: 0,
    xanchor: "left", y: 1 + (24 + 30 * nLeg + 12) / ph });
  return layout;
}
function ketasimRestack() {
  if (window.innerWidth < 700) document.querySelectorAll(".js-plotly-plot").forEach((gd) => {
    const arms = gd.data.filter((t) => t.showlegend !== false).length;
    Plotly.react(gd, gd.data, ketasimNarrow(gd.layout, arms), gd._context);
  });
}"""


#: The page's loader: plotly.js and the figures are embedded gzip-compressed and base64-encoded (a third of the
#: plain size: plotly.min.js 4.8 MB -> 2.0 MB); the browser unpacks them with its own DecompressionStream (Chrome
#: and Edge 80+, Firefox 113+, Safari 16.4+), offline, then draws every figure. body[data-plots] says "drawn" or
#: "failed" (the plot boxes then say why).
LOADER_JS = """(async () => {
  const unpack = async (id) => {
    const bin = atob(document.getElementById(id).textContent.trim());
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  };
  try {
    if (typeof DecompressionStream === "undefined") throw new Error("this browser cannot unpack the plots " +
      "(it needs DecompressionStream: Chrome/Edge 80+, Firefox 113+, Safari 16.4+)");
    const code = document.createElement("script");
    code.textContent = await unpack("ketasim-plotly-js");
    document.head.appendChild(code);
    const figures = JSON.parse(await unpack("ketasim-figures"));
    await Promise.all(Object.entries(figures).map(([id, f]) => Plotly.newPlot(id, f.data, f.layout, f.config)));
    ketasimRestack();
    document.body.dataset.plots = "drawn";
  } catch (e) {
    document.querySelectorAll(".plot").forEach((d) => { d.textContent = "The plots could not be drawn: " + e.message; });
    document.body.dataset.plots = "failed";
  }
})();"""


def embedded_figures(page: str) -> dict:
    """The plotly figures a report embeds, ``{div id: {"data", "layout", "config"}}`` (to check or reuse them)."""
    m = re.search(r'<script type="application/gzip\+base64" id="ketasim-figures">([^<]*)</script>', page)
    if m is None:
        raise ValueError("this page embeds no ketasim figures")
    return json.loads(gzip.decompress(base64.b64decode(m.group(1))).decode("utf-8"))


def _page(title: str, subtitle: str, sections: list[str], figures: dict) -> str:
    """One self-contained page: the sections, then plotly.js and the figures (packed, see LOADER_JS)."""
    version, plotly_packed = _plotly_js()
    specs = {fid: {"data": fig["data"], "layout": fig["layout"],
                   "config": fig.get("config", {"displaylogo": False, "responsive": True})}
             for fid, fig in figures.items()}
    figures_packed = _packed(_json(specs).encode("utf-8"))
    scripts = (f"<script type=\"application/gzip+base64\" id=\"ketasim-plotly-js\">{plotly_packed}</script>\n"
               f"<script type=\"application/gzip+base64\" id=\"ketasim-figures\">{figures_packed}</script>\n"
               f"<script>{NARROW_JS}</script>\n<script>{LOADER_JS}</script>")
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<!-- {version} (MIT licence) and the figures are at the end of the page, gzip + base64: the browser "
            f"unpacks and draws them offline -->"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>"
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><main>\n"
            + "\n".join(sections)
            + f"\n<p class=\"notice\" id=\"notice\">{html.escape(NOTICE)}</p></main>\n{scripts}\n</body></html>\n")


def _section(title: str, body: str, sid: str = "") -> str:
    return f"<section{f' id={chr(34)}{sid}{chr(34)}' if sid else ''}><h2>{html.escape(title)}</h2>{body}</section>"


def _plot_div(fid: str, caption: str = "") -> str:
    cap = f"<p class=\"hint\">{html.escape(caption)}</p>" if caption else ""
    return f"<div class=\"plot\" id=\"{fid}\" data-figure=\"{fid}\"></div>{cap}"


def _table(df: pd.DataFrame, left: tuple = ()) -> str:
    head = "".join(f"<th class=\"{'l' if c in left else ''}\">{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, rec):
            cls = ' class="l"' if c in left else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class=\"wrap\"><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def _fmt_p(p) -> str:
    from .trial import format_p

    return format_p(p).removeprefix("p=").removeprefix("p").replace("n/a", "–")    # the column is headed p


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "–"
        a = abs(float(v))
        if a and (a < 0.01 or a >= 1e5):
            return f"{v:.2g}"
        return f"{v:.2f}" if a < 10 else f"{v:.1f}"
    return str(v)


def _provenance_table(prov: dict, stated_patient: bool = False, record_source: str | None = None,
                      record_scale: str | None = None) -> str:
    """The provenance rows; ``stated_patient``: the scenario states one patient (``patient:``), which the engine
    simulates with typical effects (its provenance says typical_patient: true without --typical or --size 1)."""
    keys = [("scenario", "scenario"), ("ketasim_version", "ketasim version"), ("parameter_set", "parameter set"),
            ("calibration_run", "calibration"), ("parameter_edits", "parameter edits (dashboard)"), ("seed", "seed"),
            ("patients_per_arm", "patients per arm"), ("design", "design"), ("model", "model"),
            ("experiments", "virtual experiment"), ("scale", "scale"),
            ("typical_patient", "typical patient only"), ("recurrence", "recurrence on continued treatment"),
            ("re_response", "re-response after a new episode"),
            ("antidepressant_spread", "antidepressant relief spread"),
            ("antidepressant_trd", "antidepressant relief in treatment resistance"),
            ("visit_contact", "contact per visit"), ("natural_course_spread", "natural course per patient"),
            ("baseline_rating_noise", "rater's noise in the baseline rating"),
            ("fluctuation_scales_with_severity", "fluctuation of true severity"),
            ("fluctuation_scales_with_trial_severity", "fluctuation of true severity by trial"),
            ("bdnf_release_pool", "BDNF release"),
            ("bp_reading_sd_scales", "blood-pressure reading variability")]
    switch = {"typical_patient": ("yes (the population's typical patient: mean covariates, no between-patient "
                                  "variability; --typical or --size 1)", "no (a virtual population)"),
              "recurrence": ("on (population.recurrence: a new episode can break through continued treatment)",
                             "off (population.recurrence: false)"),
              "re_response": ("on (population.re_response: true; a hypothesis: active sessions after a new episode's "
                              "onset relieve it again in part)", "off (the default; population.re_response)"),
              "antidepressant_spread": ("on (population.antidepressant_spread: true; a hypothesis: a newly started "
                                        "antidepressant's relief spread by the non-specific trait)",
                                        "off (the default; population.antidepressant_spread)"),
              "antidepressant_trd": ("on (population.antidepressant_trd: true; a hypothesis: a new antidepressant "
                                     "relieves a treatment-resistant population pd.antidepressant.trd_ratio x as much "
                                     "as a first one)", "off (the default; population.antidepressant_trd)"),
              "visit_contact": ("on (population.visit_contact: true; a hypothesis: each session adds a cumulative "
                                "non-specific benefit, free: visit_relief)", "off (the default; population.visit_contact)"),
              "natural_course_spread": ("on (population.natural_course_spread: true; a hypothesis: each patient's "
                                        "natural course is its own, free: omega_natural; some patients worsen)",
                                        "off (the default; population.natural_course_spread)"),
              "baseline_rating_noise": ("on (population.baseline_rating_noise: true; a hypothesis: the baseline "
                                        "rating carries the rater's noise, so changes carry two ratings' noise)",
                                        "off (the default; population.baseline_rating_noise)"),
              "fluctuation_scales_with_severity": (
                  "partly a share of entry severity (population.fluctuation_scales_with_severity: true; a "
                  "hypothesis: share pd.fluctuation.entry_share)",
                  "the same size for everyone (the default; population.fluctuation_scales_with_severity)"),
              "fluctuation_scales_with_trial_severity": (
                  "partly a share of the arm's mean baseline (population.fluctuation_scales_with_trial_severity: "
                  "true; a hypothesis: share pd.fluctuation.trial_entry_share)",
                  "not sized by the arm's baseline (the default; population.fluctuation_scales_with_trial_severity)"),
              "bdnf_release_pool": (
                  "spends a releasable pool (the default; population.bdnf_release_pool: free "
                  "bdnf_pool_capacity, refill pd.bdnf.pool_refill_t_half)",
                  "follows the AMPA drive without a pool limit (population.bdnf_release_pool: false; the model "
                  "before the twenty-ninth session)"),
              "bp_reading_sd_scales": (
                  "grows with age and pre-dose SBP (the default; population.bp_reading_sd_scales: Schutte 2012, "
                  "monitoring.reading_sd_per_decade, monitoring.reading_sd_per_10mmhg)",
                  "one SD for everyone (population.bp_reading_sd_scales: false; the model before the forty-third "
                  "session)")}
    def value(k):
        if k == "parameter_edits":      # {name: {value, installed, unit}} of a dashboard download
            return "; ".join(f"{n}: {e['value']:g}{unit_suffix(e['unit'])} (installed: {e['installed']:g})"
                             for n, e in prov[k].items()) or "none (the installed values)"
        if k == "experiments":          # {switch: value} not at the default
            return ", ".join(f"experiments.{n}: {str(v).lower() if isinstance(v, bool) else format(v, 'g')}"
                             for n, v in prov[k].items()) or "none (the intact mechanism)"
        if k == "typical_patient" and prov[k] and record_source:
            # `simulate --events R.csv --report`: it said 'the population's typical patient: mean covariates ...'
            from .population import DEFAULT_BASELINE, scale_name

            # `plan` refuses a record on a scale without a sourced default baseline (pcl5, iesr, mssi)
            plan = ("`ketasim plan` fits them" if record_scale is None or record_scale in DEFAULT_BASELINE else
                    f"`ketasim plan` cannot fit them: {scale_name(record_scale)} has no published baseline for its "
                    "prior")
            return (f"yes (the patient of the record {record_source}: its own covariates and doses, typical random "
                    f"effects; its observed values are not fitted, {plan})")
        if k == "typical_patient" and prov[k] and stated_patient:
            # it said "the population's typical patient: mean covariates ...; --typical or --size 1"
            return "yes (the stated patient: its own covariates, no between-patient variability)"
        return switch[k][0 if prov[k] else 1] if k in switch else prov[k]

    if prov.get("design") == "randomized_withdrawal":
        # one group until randomization: 'patients per arm 200' beside arms of n=50 and 51
        keys = [(k, "patients in the open-label induction" if k == "patients_per_arm" else lab) for k, lab in keys]
    rows = [(lab, value(k)) for k, lab in keys if k in prov]
    rows.append(("written", _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")))
    return "<table class=\"kv\">" + "".join(f"<tr><td class=\"l\">{html.escape(k)}</td><td class=\"l\">{html.escape(str(v))}</td></tr>"
                                           for k, v in rows) + "</table>"


def _size_note(run, scenario, typical: bool = False) -> str:
    """A comment line above a report's scenario when ``--size`` (or ``--typical``) overrode its ``population.size``
    (a trial report's YAML said 300 patients beside a header of n=100, and nothing said which was run)."""
    size = scenario.population.size
    if typical and size != 1:
        return f"# run for the typical patient only (--typical or --size 1); the file's population.size is {size:,}\n"
    if run is None or run == size:
        return ""
    return (f"# run with {run:,} virtual patient{'s' if run != 1 else ''} per arm (--size); the file's "
            f"population.size is {size:,}\n")


def _scenario_yaml(scenario) -> str:
    from .scenario import scenario_to_yaml

    try:
        return scenario_to_yaml(scenario)
    except Exception:  # built in Python without a source mapping, or changed by Scenario.replace
        return f"# this scenario was built or changed in Python and has no YAML source\n# {scenario!r}\n"


def _colors(arms):
    from .web.figures import ARM_COLORS

    return {a: ARM_COLORS[i % len(ARM_COLORS)] for i, a in enumerate(arms)}


MAX_PLOT_TIMES = 2000


def _thin(traj: pd.DataFrame, scenario) -> pd.DataFrame:
    """Long outputs (e.g. every 5 min for 4 weeks) keep only the times nearest to the dashboard's drawing
    grid (dense for hours after each dose, sparse elsewhere): the plots look the same, the file is smaller."""
    t = np.unique(traj["time_h"].to_numpy())
    if t.size <= MAX_PLOT_TIMES:
        return traj
    want = display_times(scenario)
    idx = np.clip(np.searchsorted(t, want), 0, t.size - 1)
    keep = np.unique(np.concatenate([t[idx], t[[0, -1]]]))
    return traj[traj["time_h"].isin(keep)]


def _population_bands(result) -> pd.DataFrame | None:
    from .web.figures import bands_from_population

    frames = []
    for arm in result.arm_names():
        if result.run(arm).patients.n < 2:
            continue
        traj = result.trajectories(arms=[arm])
        traj.attrs = {}
        traj = _thin(traj, result.scenario)
        frames.append(bands_from_population(traj, [v for v in BAND_VARIABLES if v in traj]))
    return pd.concat(frames, ignore_index=True) if frames else None


def _session_table(result, typical: bool) -> pd.DataFrame:
    s = result.sessions()
    if s is None or not len(s):
        return pd.DataFrame()
    cols = [("cadss_peak", "CADSS peak"), ("sbp_change_peak", "SBP rise (mmHg)"), ("dbp_change_peak", "DBP rise (mmHg)"),
            ("hr_change_peak", "HR rise (beats/min)"), ("sedation_peak", "sedation peak"),
            ("nausea_probability", "nausea probability"), ("discharge_ready_h", "discharge after (h)")]
    out = []
    for arm, g in s.groupby("arm", sort=False):
        per = g.groupby("subject")[[c for c, _ in cols]].max()
        row = {"arm": arm, "sessions": int(g["session"].nunique()), "patients": int(per.shape[0])}
        for c, lab in cols:
            x = per[c].to_numpy(float)
            if c == "discharge_ready_h" and np.all(x == 0):
                row[lab] = "criteria met throughout"          # not "after 0 h", which reads as "at once"
            elif typical or x.size == 1:
                row[lab] = float(x[0])
            else:
                q = np.nanpercentile(x, [50, 5, 95])
                row[lab] = f"{q[0]:.3g} ({q[1]:.3g}–{q[2]:.3g})"
        out.append(row)
    return pd.DataFrame(out)


def _discharge_note(params) -> str:
    """What 'discharge after (h)' counts: the criteria with this parameter set's thresholds (the table gave hours,
    some of them 0, without saying until what)."""
    g = params.get
    return (f"discharge after: hours from the start of the session until CADSS <= {g('monitoring.cadss_max'):g}, "
            f"sedation <= {g('monitoring.sedation_max'):g} and SBP within {g('monitoring.sbp_rise_max', 'mmHg'):g} "
            "mmHg of pre-dose; 0 when they are met throughout the session.")


def simulation_report(result, typical_result, path, *, parameter_edits: dict | None = None,
                      record_source: str | None = None) -> Path:
    """Write the HTML report of a simulation: ``result`` (a population or one patient per arm) and
    ``typical_result`` (the typical patient per arm, drawn as lines; may be ``result`` itself). ``parameter_edits``:
    ``{name: {value, installed, unit}}`` named in the provenance (the dashboard's edits; None: no such row).
    ``record_source``: the scenario is a patient record's (``simulate --events FILE``)."""
    from .summary import cascade_summary
    from .web import figures as F

    path = as_path(path)
    sc = result.scenario
    typ = typical_result.trajectories()
    typ.attrs = {}
    summary = cascade_summary(typ, typical_result.sessions(), sc.population.scale)
    typ = _thin(typ, sc)
    arms = list(dict.fromkeys(typ["arm"]))
    colors = _colors(arms)
    bands = _population_bands(result)
    n = max(result.run(a).patients.n for a in result.arm_names())
    horizon = float(typ["time_h"].max())
    figs = {
        "cascade": F.cascade_figure(typ, bands, arms=arms, arm_colors=colors, horizon_h=horizon, view=0,
                                    scale=sc.population.scale),
        "side-effects": F.cascade_figure(typ, bands, panels=F.SIDE_PANELS, arms=arms, arm_colors=colors,
                                         horizon_h=horizon, view=1, columns=3, row_height=200),
    }
    band_note = (f"Lines: the typical patient of each arm; shaded: 5–95% of {n} virtual patients."
                 if bands is not None else "Lines: the typical patient of each arm.")
    sections = [
        _section("Provenance", _provenance_table(result.provenance if parameter_edits is None else
                                                 {**result.provenance, "parameter_edits": parameter_edits},
                                                 stated_patient=getattr(sc, "patient", None) is not None,
                                                 record_source=record_source, record_scale=sc.population.scale),
                 "provenance"),
        _section("Time courses: every link of the chain",
                 _plot_div("cascade", band_note + " Buttons switch between log time (minutes to weeks at once) "
                                                  "and linear zooms."), "time-courses"),
        _section("Side effects (first session)",
                 _plot_div("side-effects", "Dissociation, blood pressure, heart rate, sedation and nausea over the "
                                           "first hours; the buttons show later sessions.")
                 + "<h3 style=\"font-size:14px\">Per session (worst session per patient"
                 + (", median (5–95%)" if n > 1 else "") + ")</h3>"
                 + _table(_session_table(result, n == 1), left=("arm",))
                 + f"<p class=\"hint\">{html.escape(_discharge_note(result.params))}</p>", "side-effects-section"),
        _section("Summary (typical patient)", f"<pre>{html.escape(summary)}</pre>", "summary"),
        _section("Scenario (YAML)", "<pre id=\"scenario-yaml\">"
                 + html.escape(_size_note(n, sc, bool(result.provenance.get("typical_patient"))) + _scenario_yaml(sc))
                 + "</pre>", "scenario"),
    ]
    from .summary import scenario_title

    title = f"ketasim simulation report: {scenario_title(sc)}"
    sub = f"{len(arms)} arm(s), {n} virtual patient(s) per arm, scale {scale_name(sc.population.scale)}"
    atomic_write_text(path, _page(title, sub, sections, figs))
    return path


def _endpoint_table(tr) -> pd.DataFrame:
    from .trial import endpoint_time_label, measure_unit, undefined_value_arms

    t = tr.table()
    if not len(t):
        return pd.DataFrame()

    arms = list(dict.fromkeys(t["arm"]))
    stratified, unfollowed = undefined_value_arms(tr.endpoints)
    rows, order = {}, []
    for r in t.to_dict("records"):
        th = r["time_h"]
        when = ("all sessions" if th is None or (isinstance(th, float) and math.isnan(th))
                else endpoint_time_label(th))
        if r["measure"] == "time_to_relapse":                 # a Kaplan-Meier median, not a peak over the sessions
            when = "Kaplan-Meier median"
        analyte = r.get("analyte")
        analyte = analyte if isinstance(analyte, str) else ""      # PK endpoints: one row per analyte
        if analyte:
            when = f"{r.get('pk_dose') or 'first'} dose"
        level = r.get("dose_level")
        level = level if isinstance(level, str) else ""          # titrated arms: one row per final dose level
        if level:
            when = f"from {when}"
        key = (r["measure"], when, analyte or level)
        if key not in rows:
            label = _MEASURE_LABELS.get(r["measure"], r["measure"])
            unit = measure_unit(r["measure"], r.get("scale"))
            if unit and "(" not in label and not analyte:          # e.g. 'mean score (MADRS points)'
                label = f"{label} ({unit})"
            if level:
                label = f"patients on {level} at the end (%)"
            rows[key] = {"endpoint": f"{label}, {analyte}" if analyte else label, "time": when}
            order.append(key)
        cell = _endpoint_cell(r, r["arm"] in stratified, r["arm"] in unfollowed)
        if isinstance(r.get("pi_low"), float) and math.isfinite(r["pi_low"]):     # trial --uncertainty
            hi = "not reached" if r["pi_high"] == math.inf else _fmt(r["pi_high"])   # a KM median beyond follow-up
            cell += f" PI [{_fmt(r['pi_low'])}, {hi}]"
        elif r.get("pi_low") == math.inf:                  # every draw's KM median beyond the follow-up
            cell += " PI [not reached]"
        rows[key][f"{r['arm']} (n={int(r['n'])})"] = cell
    del arms
    return pd.DataFrame([rows[k] for k in order])


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v)


def _endpoint_cell(r: dict, stratified: bool, unfollowed: bool = False) -> str:
    """'value [95% CI]' of one endpoint row, with undefined numbers in words as the printed table has them: no
    patients in an arm or stratum, a Kaplan-Meier median or upper bound beyond the follow-up ('not reached'), no CI
    for fewer than two patients."""
    from .trial import NOT_REACHED, no_value_text
    from .vocabulary import RELAPSE_MEASURES

    n, km = int(r["n"]), r["measure"] == "time_to_relapse"
    unfollowed = unfollowed and r["measure"] in RELAPSE_MEASURES
    if not _finite(r["value"]):
        return (no_value_text(n, stratified, unfollowed) if n == 0 or unfollowed
                else f"{NOT_REACHED} (fewer than half relapsed)" if km else "n/a")
    lo, hi = r["ci_low"], r["ci_high"]
    if not km and not _finite(lo) and not _finite(hi):
        return f"{_fmt(r['value'])} [no CI: too few patients]"
    return (f"{_fmt(r['value'])} [{_fmt(lo) if _finite(lo) else 'n/a'}, "
            f"{_fmt(hi) if _finite(hi) else NOT_REACHED if km else 'n/a'}]")


def _comparison_table(tr) -> pd.DataFrame:
    from .trial import RELAPSE_COMPARISONS, measure_unit, profile_bound_text
    from .units import fmt_hours          # as the trial's text table labels times ('7 d'; the report said '1 w')

    c = list(getattr(tr, "comparisons", []) or [])
    if not c:
        return pd.DataFrame()
    # a PK geometric mean ratio is stated with its 90 % CI (as DDI and bioequivalence studies, and the trial's text
    # table, state it); the report showed its 95 % CI under 'difference [95% CI]', another interval than the text's
    n_ratio = sum("ci90" in r for r in c)
    col = ("geometric mean ratio [90% CI]" if n_ratio == len(c) else "difference [95% CI]" if n_ratio == 0 else
           "difference [95% CI] or PK ratio [90% CI]")
    if any(r.get("measure") == "relapse_hazard_ratio" for r in c):     # a withdrawal's or follow-up's Cox ratio
        col = "difference or hazard ratio [95% CI]"
    out = []
    for r in c:
        th = r.get("time_h")
        ci = r["ci90"] if "ci90" in r else r["ci95"]
        unit = "" if r.get("analyte") else measure_unit(r["measure"], r.get("scale"))
        out.append({"arm": r.get("arm"), "versus": r.get("versus"),
                    "measure": r.get("measure") + (f", {r['analyte']}" if r.get("analyte") else "")
                    + (f" ({unit})" if unit else ""),
                    "time": (f"{r.get('dose') or 'first'} dose" if r.get("analyte") else
                             "follow-up" if r.get("measure") in RELAPSE_COMPARISONS else "all sessions")
                    if th is None else fmt_hours(float(th)),
                    col: (f"n/a ({r.get('note', 'undefined')}{profile_bound_text(r)})"
                          if r.get("measure") == "relapse_hazard_ratio"
                          and not _finite(r.get("value")) else f"{_fmt(r.get('value'))} [{_fmt(ci[0])}, {_fmt(ci[1])}]")
                    + (" (90% CI)" if "ci90" in r and 0 < n_ratio < len(c) else "")
                    + (f" PI [{_fmt(r['pi95'][0])}, {_fmt(r['pi95'][1])}]"     # withdrawal / follow-up --uncertainty
                       if "pi95" in r and isinstance(r["pi95"][0], float) and math.isfinite(r["pi95"][0]) else ""),
                    "p": ("log-rank " if r.get("measure") == "relapse_rate_difference" else
                          "Wald " if r.get("measure") == "relapse_hazard_ratio" else "")
                    + _fmt_p(r.get("p_value"))})
    return pd.DataFrame(out)


def _observed_table(df: pd.DataFrame, scale: str | None = None) -> pd.DataFrame:
    """The observed-vs-predicted rows as the report shows them; ``scale`` (e.g. 'MADRS', else each row's own) names
    the points of the score rows (their unit said 'points' beside the endpoint table's 'MADRS points')."""
    from .observed import SURVIVAL_MEASURES, _has_n_versus, _survival_number, is_pk_row, pk_measure_label
    from .units import fmt_hours          # as the trial's text table labels times ('7 d'; the report said '1 w')

    out = []
    for r in df.to_dict("records"):
        name = scale or (r.get("scale") if isinstance(r.get("scale"), str) else "")
        unit = f"{name} points" if r["unit"] == "points" and name else r["unit"]
        t = r["time_h"]
        level = r.get("dose_level")
        level = level if isinstance(level, str) else ""        # final_dose_rate: the share on one dose level
        when = "–" if t is None or not math.isfinite(t) else fmt_hours(float(t))
        pk = is_pk_row(r)
        surv = r["measure"] in SURVIVAL_MEASURES
        if pk or r["measure"] == "relapse_hazard_ratio":
            # 'Cmax S-ketamine (geometric mean)', 'Cmax ratio S-ketamine vs alone (geometric mean ratio)'; a hazard
            # ratio names the arm it is versus
            unit = (r["unit"] + (f" vs {r['versus']}" if not pk and r.get("versus") else "")
                    + (f", fold {r['fold_error']:.2f}" if math.isfinite(r["fold_error"]) else ""))
        out.append({"row": r["row"], "arm": r["arm"],
                    "measure": pk_measure_label(r) if pk else
                    f"patients on {level} at the end (%)" if level else
                    _MEASURE_LABELS.get(r["measure"], r["measure"]),
                    "time": f"from {when}" if level else when,
                    "n": f"{r['n']}" + ("" if r["n_from"] == "observed file" else " (arm size)")
                    # a parallel PK ratio: the control arm's n too (its n_versus, else the row's n)
                    + (f"; {r['versus']} {int(r['n_versus'])}" if _has_n_versus(r) else ""),
                    # a median 'not reached', an undefined ratio 'n/a' (a dash said neither)
                    "observed": _survival_number(r["observed"], r["measure"]) if surv else r["observed"],
                    "predicted": _survival_number(r["predicted"], r["measure"]) if surv else r["predicted"],
                    "error": r["error"],
                    "95% prediction interval": (f"[{_survival_number(r['pi_low'], r['measure'])}, "
                                                f"{_survival_number(r['pi_high'], r['measure'])}]" if surv else
                                                f"[{_fmt(r['pi_low'])}, {_fmt(r['pi_high'])}]"),
                    "inside": "yes" if r["inside"] else "no",
                    # survival rows: what is not reached or undefined; any withdrawal row: its draws (draws_note)
                    "unit": unit + (f" ({r['note']})" if isinstance(r.get("note"), str) and r["note"] else ""),
                    "source": r.get("trial_id") or r.get("citation", "")[:60]})
    return pd.DataFrame(out)


def _observed_section(df: pd.DataFrame, scale: str | None = None) -> str:
    from .observed import format_summary, observed_summary

    return _section("Observed vs predicted (a published trial; nothing fitted)",
                    _table(_observed_table(df, scale), left=("arm", "measure", "time", "inside", "unit", "source"))
                    + f"<p class=\"hint\">{html.escape(format_summary(observed_summary(df)))}. "
                    f"{html.escape(df.attrs.get('interval', ''))}</p>"
                    + _plot_div("observed", "Coloured: the predicted value with its 95% prediction interval for a "
                                            "trial of the row's n; black diamonds: the published value with its own "
                                            "95% CI (from its SD or SE, or Wilson for a rate; none when the source "
                                            "gives no spread)."), "observed-section")


#: dose paths listed per titrated arm in the report (the most frequent first; the JSON has them all)
REPORT_DOSE_PATHS = 8


def _criteria_text(crit: dict) -> str:
    return ", ".join(f"{k.replace('_below', ' < ').replace('_above', ' > ')}{v:g}" for k, v in crit.items()) or "–"


def _titration_section(d: dict) -> str:
    """The rule of each titrated arm and its most frequent dose paths (the trial JSON's ``titration`` blocks); ''
    when no arm is titrated."""
    parts = []
    for arm, a in d["arms"].items():
        t = a.get("titration")
        if not t:
            continue
        inc = t.get("increase_sessions", t["sessions"])
        dec = t.get("decrease_sessions", t["sessions"])
        rule = (f"Levels {' / '.join(t['doses'])}, start {t['start']}. Up one level at sessions "
                f"{', '.join(map(str, inc)) if t.get('increase_if') else '–'} when all of: "
                f"{_criteria_text(t.get('increase_if', {}))}; down one level at sessions "
                f"{', '.join(map(str, dec)) if t.get('decrease_if') else '–'} when any of: "
                f"{_criteria_text(t.get('decrease_if', {}))}. Decided on {t.get('decided_on', '')}.")
        paths = pd.DataFrame([{"dose path (start, then sessions " + ", ".join(map(str, t["sessions"])) + ")":
                               " → ".join(p["doses"]), "patients": p["n"], "%": p["percent"]}
                              for p in t.get("paths", [])[:REPORT_DOSE_PATHS]])
        more = len(t.get("paths", [])) - REPORT_DOSE_PATHS
        parts.append(f"<h3>{html.escape(arm)}</h3><p>{html.escape(rule)}</p>"
                     + (_table(paths, left=(paths.columns[0],)) if len(paths) else "")
                     + (f'<p class="hint">{more} rarer path(s): see the trial JSON.</p>' if more > 0 else ""))
    return _section("Dose titration", "".join(parts), "titration") if parts else ""


def trial_report(trial_result, path, observed: pd.DataFrame | None = None, *,
                 parameter_edits: dict | None = None) -> Path:
    """Write the HTML report of a virtual trial (a ``ketasim.trial.TrialResult``); ``observed``: the table of
    ``ketasim.observed.compare_observed`` (a published trial beside the prediction), shown after the endpoints.
    ``parameter_edits``: ``{name: {value, installed, unit}}`` named in the provenance (the dashboard's edits)."""
    from .web import figures as F

    tr = trial_result
    path = as_path(path)
    d = tr.to_dict()
    if parameter_edits is not None:
        d["parameter_edits"] = parameter_edits
    arms = list(d["arms"])
    colors = _colors(arms)
    bands = tr.trajectory_summary()
    table = tr.table()
    figs = {
        "endpoints": F.endpoint_figure(table, arms=arms, arm_colors=colors),
        "cascade": F.cascade_figure(None, bands, arms=arms, arm_colors=colors, panels=trial_panels(), view=0,
                                    scale=tr.scenario.population.scale),
        "side-effects": F.cascade_figure(None, bands, arms=arms, arm_colors=colors, view=1, columns=3, row_height=200,
                                         panels=(("Dissociation (CADSS)", (("cadss", "CADSS"),)),
                                                 ("Systolic BP change (mmHg)", (("sbp_change_mmhg", "SBP change"),)),
                                                 ("Sedation (index)", (("sedation", "sedation"),)))),
    }
    if observed is not None and len(observed):
        figs["observed"] = F.observed_figure(observed, arms=arms, arm_colors=colors)
    figs = {k: v for k, v in figs.items() if v.get("data")}
    ep = _endpoint_table(tr)
    comp = _comparison_table(tr)
    side = table[table["time_h"].isna() & (table["analyte"].isna() if "analyte" in table else True)] \
        if len(table) else table           # PK endpoints (with an analyte) are not side effects
    sections = [
        _section("Provenance", _provenance_table(d), "provenance"),
        _section("Endpoints", _table(ep, left=("endpoint", "time")) + "<p class=\"hint\">value [95% interval]."
                 # a PK study has neither ratings nor rates: the note said both
                 + (" Ratings include rater noise and a week-to-week fluctuation of severity."
                    if any(r["measure"] in SCORE_MEASURES for r in tr.endpoints) else "")
                 + (" Rates are percentages." if any(r["measure"].endswith(("_rate", "_fraction"))
                                                    for r in tr.endpoints) else "")
                 + (f" {html.escape(tr.definitions())}" if tr.definitions() else "")
                 + (" Time to relapse: \u2018not reached\u2019 when fewer than half relapsed by the end of "
                    "follow-up, or, as the upper bound, when the interval runs beyond it."
                    if len(table) and (table["measure"] == "time_to_relapse").any() else "") + "</p>"
                 + (f"<p class=\"hint\">PI: {html.escape(tr.uncertainty['contains'])}</p>"
                    if getattr(tr, "uncertainty", None) else "")
                 + (_plot_div("endpoints") if "endpoints" in figs else ""), "endpoints-section"),
    ]
    if observed is not None and len(observed):
        sections.append(_observed_section(observed, scale_name(tr.scenario.population.scale)))
    titration = _titration_section(d)
    if titration:
        sections.append(titration)
    if len(comp):
        from .trial import RELAPSE_COMPARISON_NOTE, RELAPSE_HAZARD_RATIO_NOTE

        relapse = any(r.get("measure") == "relapse_rate_difference" for r in tr.comparisons)
        hazard = any(r.get("measure") == "relapse_hazard_ratio" for r in tr.comparisons)
        methods = tr.comparison_methods()
        sections.append(_section("Between arms", _table(comp, left=("arm", "versus", "measure", "time"))
                                 + (f"<p class=\"hint\">Tests: {html.escape(methods)}.</p>" if methods else "")
                                 + (f"<p class=\"hint\">{html.escape(RELAPSE_COMPARISON_NOTE)}.</p>" if relapse else "")
                                 + (f"<p class=\"hint\">{html.escape(RELAPSE_HAZARD_RATIO_NOTE)}.</p>" if hazard
                                    else ""),
                                 "comparisons"))
    sections += [
        _section("Time courses per arm (median and 5–95% of the virtual patients)", _plot_div("cascade"), "time-courses"),
        _section("Side effects", (_plot_div("side-effects", "The first hours of the first session; the buttons "
                                                            "show later sessions.") if "side-effects" in figs else "")
                 + ("<p class=\"hint\">Side-effect endpoints are in the endpoint table (all sessions).</p>"
                    if len(side) else ""), "side-effects-section"),
        _section("Scenario (YAML)", "<pre id=\"scenario-yaml\">"
                 + html.escape(_size_note(getattr(tr, "patients_per_arm", None), tr.scenario) + _scenario_yaml(tr.scenario))
                 + "</pre>", "scenario"),
    ]
    n = {a: v["n"] for a, v in d["arms"].items()}
    title = f"ketasim trial report: {d['scenario']}"
    sub = f"{d.get('design', 'parallel')} design; " + ", ".join(f"{a}: n={k}" for a, k in n.items())
    note = tr.design_note() if hasattr(tr, "design_note") else ""
    if note:        # the header said 'crossover design' alike with and without carry-over (the text table says which)
        sub += f" ({note})"
    atomic_write_text(path, _page(title, sub, sections, figs))
    return path


def _summary_cells(level: str, label: str, x: dict) -> dict:
    from .observed import format_by_scale

    def num(v):
        return float("nan") if v is None else v
    return {"level": level, "": label, "trials": x.get("trials", ""), "rows": x["rows"],
            "MAE pts": num(x["mae_points"]), "score rows": x["score_rows"], "MAE pp": num(x["mae_percentage_points"]),
            "rate rows": x["rate_rows"], "MAE pts per scale": format_by_scale(x),
            "inside": f"{x['inside']} of {x['rows']}",
            "share": "–" if x["share_inside"] is None else f"{100 * x['share_inside']:.0f} %",
            "floor: sampling": f"{_fmt(x['sampling_floor_points'])} / {_fmt(x['sampling_floor_percentage_points'])}",
            "+ heterogeneity": f"{_fmt(x['heterogeneity_floor_points'])} / "
                               f"{_fmt(x['heterogeneity_floor_percentage_points'])}"}


def external_report(q, path) -> Path:
    """Write the HTML report of ``ketasim qualify --external`` (a ``ketasim.external.ExternalQualification``):
    provenance, the summary overall / per domain / per trial with the floors, failed trials, and per trial the
    observed-vs-predicted figure (``web.figures.observed_figure``) and rows."""
    from .external import DOMAIN_RULE, in_sample_kind
    from .observed import format_floors
    from .result import ketasim_version
    from .web import figures as F

    path = as_path(path)
    s = q.summary()
    from .model import model_id

    prov = {"folder": str(q.folder), "ketasim version": ketasim_version(), "model": model_id(),
            "parameter set": q.params.version, "calibration": q.params.calibration_run,
            "virtual patients per arm": q.size if q.size is not None else "each scenario's size",
            "seed": q.seed if q.seed is not None else "each scenario's seed",
            "posterior draws (--uncertainty)": q.uncertainty or "none",
            "written": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}
    kv = "<table class=\"kv\">" + "".join(f"<tr><td class=\"l\">{html.escape(k)}</td><td class=\"l\">"
                                          f"{html.escape(str(v))}</td></tr>" for k, v in prov.items()) + "</table>"
    files = pd.DataFrame([{"trial": t.name, "file": name, "SHA-256": digest}
                          for t in q.trials for name, digest in t.sha256.items()])
    ok = [t for t in q.trials if t.ok]
    summary = pd.DataFrame([_summary_cells("all", "all trials", s["overall"])]
                           + [_summary_cells("domain", d, x) for d, x in s["by_domain"].items()]
                           + [_summary_cells("trial", n, x) for n, x in s["by_trial"].items()])
    pk_note = ""
    if s["overall"].get("pk_rows"):      # PK columns only when there are PK rows (other reports as before)
        parts = [s["overall"], *s["by_domain"].values(), *s["by_trial"].values()]
        summary["PK rows"] = [x.get("pk_rows", 0) for x in parts]
        summary["PK AAFE"] = [float("nan") if x.get("pk_aafe") is None else x["pk_aafe"] for x in parts]
        summary["PK within 2-fold"] = [x.get("pk_within_2fold", 0) for x in parts]
        pk_note = (" PK rows are not in the MAE columns (their units differ by analyte and measure): AAFE, the "
                   "absolute average fold error 10^mean|log10(predicted / observed)|, and the rows within 2-fold.")
    if s["overall"].get("hazard_ratio_rows"):   # relapse hazard ratios, by fold error as the PK rows
        parts = [s["overall"], *s["by_domain"].values(), *s["by_trial"].values()]
        summary["HR rows"] = [x.get("hazard_ratio_rows", 0) for x in parts]
        summary["HR AAFE"] = [float("nan") if x.get("hazard_ratio_aafe") is None else x["hazard_ratio_aafe"]
                              for x in parts]
        pk_note += (" Relapse hazard ratios (HR) are not in the MAE columns either: their AAFE as the PK rows'; "
                    "median times to relapse are in days (the trial's rows).")
    if s["overall"].get("share_rows"):   # randomized_fraction, followed_fraction: who went on, not outcomes
        parts = [s["overall"], *s["by_domain"].values(), *s["by_trial"].values()]
        summary["share rows"] = [x.get("share_rows", 0) for x in parts]
        summary["share MAE pp"] = [float("nan") if x.get("mae_share_percentage_points") is None
                                   else x["mae_share_percentage_points"] for x in parts]
        pk_note += (" Share rows (randomized_fraction, followed_fraction: the share who went on to a trial's later "
                    "phase) are not outcomes: not in the rate columns or the floors, their MAE apart.")
    floors = format_floors(s["overall"])
    inside = [t for t in q.trials if t.in_calibration]
    sections = [_section("In sample: calibration trials", "<p><strong>" + html.escape(
        f"{len(inside)} of {len(q.trials)} trial(s) of this folder are "
        + ("calibration trials: their rows were fitted, " if all(in_sample_kind(t) == "a calibration trial"
                                                                  for t in inside)
           else "calibration trials (their rows were fitted) or sources of the model's parameters, ")
        + "so they count in the figures below but test nothing the fit has not seen.") + "</strong></p><ul>" + "".join(
        f"<li>{html.escape(t.name)}: {html.escape(t.in_calibration)}</li>" for t in inside) + "</ul>",
        "in-sample")] if inside else []
    sections += [
        _section("Provenance", kv + (_table(files, left=("trial", "file", "SHA-256")) if len(files) else ""),
                 "provenance"),
        _section("Summary (nothing fitted)", _table(summary, left=("level", ""))
                 + "<p class=\"hint\">MAE: mean absolute error of predicted − observed, in score points (pts) over "
                   "the mean and mean-change rows and in percentage points (pp) over the rate rows; inside: rows "
                   "inside their 95% prediction interval. Floors (pts / pp): the MAE an exact "
                   "model would still have on these rows, from the published trials' sampling alone, and with the "
                   "published between-trial heterogeneity of placebo response as well (as `ketasim qualify` "
                   f"reports them). {html.escape(floors[:1].upper() + floors[1:] + '.' if floors else '')}"
                   f"{html.escape(pk_note)}</p>"
                 + f"<p class=\"hint\">{html.escape(q.interval)}</p>"
                 + f"<p class=\"hint\">{html.escape(DOMAIN_RULE)}.</p>", "summary")]
    if q.failed:
        sections.append(_section("Trials that did not run", "<ul>" + "".join(
            f"<li>{html.escape(t.name)}: {html.escape(t.problem or '')}</li>" for t in q.failed) + "</ul>", "failed"))
    figs = {}
    for k, t in enumerate(ok):
        fid = f"trial-{k}"
        fig = F.observed_figure(t.comparison, arms=list(t.arms), arm_colors=_colors(list(t.arms)))
        if fig.get("data"):
            figs[fid] = fig
        sections.append(_section(f"{t.name} ({t.domain}): scenario {t.scenario_name}"
                                 + (f" (IN SAMPLE: {in_sample_kind(t)})" if t.in_calibration else ""),
                                 _table(_observed_table(t.comparison),
                                        left=("arm", "measure", "time", "inside", "unit", "source"))
                                 + (_plot_div(fid, "Coloured: the predicted value with its 95% prediction interval "
                                                   "for a trial of the row's n; black diamonds: the published value "
                                                   "with its own 95% CI where the source gives a spread (Wilson for "
                                                   "a rate).") if fid in figs else ""), f"trial-{k}-section"))
    title = "ketasim external qualification"
    sub = f"{len(ok)} trial(s) run, {len(q.failed)} failed; {len(q.rows)} observed rows; parameter set {q.params.version}"
    atomic_write_text(path, _page(title, sub, sections, figs))
    return path


__all__ = ["embedded_figures", "external_report", "simulation_report", "trial_report"]


def power_report(result, path) -> Path:
    """A self-contained page of a power analysis (``ketasim power --report``): the power curves (the dashboard's
    figure, interactive), the printed table with the sample sizes, every row (the CSV's columns) and the
    provenance."""
    from .power import size_axis_label
    from .web.figures import power_figure

    p = result.provenance
    rows = json_safe(result.table().to_dict("records"))
    draws = bool(p.get("uncertainty"))
    axis = size_axis_label(p.get("allocation", "1:1"), p.get("design", "parallel"))
    fig = power_figure(rows, target=p["target_power"], draws=draws, allocation=p.get("allocation", "1:1"),
                       design=p.get("design", "parallel"))
    prov = "".join(f"<tr><th class=\"l\">{html.escape(str(k))}</th><td class=\"l\">"
                   f"{html.escape(json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v))}</td></tr>"
                   for k, v in p.items() if k != "notice")
    band = ("5th-95th percentile of the power over the posterior draws" if draws else
            "95 % Monte Carlo (Wilson) interval of the replicates")
    sections = [
        _section("Power curves", _plot_div("power", f"{'Assurance' if draws else 'Power'} by {axis}; band: "
                                                    f"{band}; dashed: the target {p['target_power']:g}.")),
        _section("Table", f"<pre>{html.escape(result.format_table())}</pre>", "table"),
        _section("Every row", _table(result.table(), left=("arm", "versus", "measure", "test", "unit", "hypothesis",
                                                           "multiplicity")), "rows"),
        _section("Provenance", f"<div class=\"wrap\"><table><tbody>{prov}</tbody></table></div>", "provenance"),
    ]
    from .power import level_words

    page = _page(f"Power: {p['scenario']}", f"{p['replicates']:,} replicate virtual trials per size, "
                 f"{level_words(p)}", sections, {"power": fig})
    return atomic_write_text(as_path(path), page)


def covariates_report(result, path) -> Path:
    """A self-contained page of a covariate analysis (``ketasim covariates --report``): the forest plot (the
    dashboard's figure, interactive), the printed table, every row (the CSV's columns) and the provenance."""
    from .web.figures import forest_figure

    p = result.provenance
    rows = json_safe(result.table().to_dict("records"))
    analyte = p["analytes"][0] if p["analytes"] else None
    fig = forest_figure(rows, p["endpoints"], analyte=analyte)
    prov = "".join(f"<tr><th class=\"l\">{html.escape(str(k))}</th><td class=\"l\">"
                   f"{html.escape(json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v))}</td></tr>"
                   for k, v in p.items() if k != "notice")
    sections = [
        _section("Forest plot", _plot_div("forest", "PK: ratio test/reference on a log axis, grey band 0.80-1.25 "
                                                    "(no effect by the usual drug-interaction bounds); others: "
                                                    "difference test - reference.")),
        _section("Table", f"<pre>{html.escape(result.format_table())}</pre>", "table"),
        _section("Every row", _table(result.table(), left=("contrast", "covariate", "test", "reference", "endpoint",
                                                           "analyte", "unit", "statistic")), "rows"),
        _section("Provenance", f"<div class=\"wrap\"><table><tbody>{prov}</tbody></table></div>", "provenance"),
    ]
    who = "the typical patient" if p["typical"] else f"the same {p['n']:,} virtual patients at each level"
    page = _page(f"Covariate effects: {p['scenario']} ({p['arm']})", f"One covariate changed at a time, {who}",
                 sections, {"forest": fig})
    return atomic_write_text(as_path(path), page)
