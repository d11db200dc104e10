"""The personal plan's outputs: figure specifications (shared by the HTML report and the dashboard), the
self-contained HTML report, a text summary and the command-line glue of ``ketasim plan``.

The plan JSON contract (``ketasim plan DATA --json OUT.json``; keys beyond these may be added, never removed):

* ``notice``: the research-use notice (once).
* ``patient``: ``{id, weight_kg, age_years, sex, crp_mg_l, genotype, comedications, scale, source,
  last_observation_h}`` (``comedications`` in ketasim's words, 'rifampicin for 5 d'; extension:
  ``comedications_as_written``, the record's COMED entries as typed, 'Rifampin for 5 days'); ``observations``: ``[{time_h, dvid, value}]``; ``doses``: the record's dose lines.
* ``fit``: ``{method, parameters: [{name, estimate (MAP), median, interval90: [lo, hi], sd, laplace_sd, prior_mean,
  prior_sd, shrinkage, informed, uninformative, flat_laplace}], objective, effective_sample_size, proposals, samples, residuals, warnings,
  prior_only, seconds}``; extension: ``pareto_k`` (PSIS k-hat of the importance weights) and ``sampling``:
  ``{summary, effective_sample_size_initial, pareto_k_initial, effective_sample_size, pareto_k, proposals, rounds,
  actions, status ("good" | "poor"), ess_target, pareto_k_max, history: [{round, proposals, effective_sample_size,
  pareto_k, components}], fixed_at_prior: [names of the parameters the record's observations do not depend on: not
  fitted, drawn from their prior]}`` (null for a record without observations).
* ``forecast``: ``[{time_h, variable, median, pi50: [lo, hi], pi90: [lo, hi]}]``, one ``score`` entry per
  forecast point (record rows with an empty DV; else weekly for 4 weeks after the last observation) plus any
  requested trajectory variable; ``score`` intervals are of a future rating (with the fluctuation of true
  severity, continued from the record's ratings, and the rater's noise); ``forecast_grid`` the same every 12 h;
  ``prior_forecast_grid`` the population's forecast for this patient. Quantiles to 6 significant digits, numerical
  noise (below 1e-9) as 0 (``personal.json_quantile``; so are ``plans[].predicted``); the text rounds them further.
* ``recorded_regimen``: the record's planned doses (after its last observed value) as scenario dose lines, the
  regimen ``forecast`` and ``recorded_plan`` are computed for (``[]`` when the record plans none).
* ``alternative``: ``{regimen, forecast, grid}`` under an alternative future regimen, or null; extension:
  ``breaks_limits`` (the dose and schedule limits it breaks, as the recorded plan's), ``background`` (the record's
  planned oral-antidepressant start kept in it, dose lines; empty when the alternative states its own), and,
  scored on the same samples as ``recorded_plan``: ``p_target``, ``meets_probability``, ``safe``, ``sessions``,
  ``total_dose_mg``, ``predicted``, ``safety`` (then ``breaks_limits`` includes the SBP and CADSS limits).
* ``plans``: ranked ``[{rank, label, regimen (scenario YAML dose lines, ``at`` on the record's clock), p_target,
  meets_probability, safe, sessions, total_dose_mg, predicted: [{time_h, median, pi90}], safety:
  {sbp_rise_p90_mmhg, sbp_margin_mmhg, cadss_peak_p90, cadss_margin}}]`` (extension: ``safety.judged_at``
  ``{sbp_rise_mmhg, cadss}``: the quantile of a session's peak each limit is judged at, 0.9 when the record has a
  reading of it, else ``limits.quantile_without_reading``; ``sbp_rise_judged_mmhg``, ``cadss_peak_judged``: the
  values there; the margins are the limits minus those); ``recorded_plan`` the same for the
  record's planned doses, plus ``breaks_limits``: ``{limit name: the plan's value}`` for each limit it breaks (the
  names of ``limits``; the SBP and CADSS values at the judged quantile, the week limits over any 7 days with the
  record's past doses, ``drugs``/``routes`` the ones not searched), ``{}`` within all (its ``safe`` is false when it
  breaks any but ``drugs``/``routes``); ``target``, ``limits`` (stated), ``search`` (``candidates_evaluated``,
  ``unsafe_candidates`` (the searched candidates, not the recorded plan), ``judged_at`` / ``has_reading``
  (``{sbp_rise_mmhg, cadss}``: the quantile each safety limit is judged at; whether the record has a reading of it
  within a session's monitoring window), ``unsafe_by_limit: {sbp_rise_mmhg, cadss}``: how many exceed each, ``background``
  (added: the record's planned oral-antidepressant start(s), dose lines, which every candidate keeps), ``minimise``,
  ``seconds``), ``provenance`` (``package_version``, the same as ``ketasim_version``; ``model``, ``parameter_set``,
  ``calibration_run``, ``seed``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

PLAN_COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2"]


def _series(entries, variable="score"):
    rows = [e for e in entries if e["variable"] == variable]
    t = [e["time_h"] / 24 for e in rows]
    return (t, [e["median"] for e in rows], [e["pi50"][0] for e in rows], [e["pi50"][1] for e in rows],
            [e["pi90"][0] for e in rows], [e["pi90"][1] for e in rows])


def score_figure(res: dict) -> dict:
    """Observed ratings, the individual forecast (median, 50 % and 90 % bands) and the population's forecast."""
    from .population import scale_name

    scale = scale_name(res["patient"]["scale"])      # 'HAM-D17', as tables and figures name it ('HAMD17' here)
    t, med, l50, h50, l90, h90 = _series(res["forecast_grid"])
    data = [
        {"x": t + t[::-1], "y": h90 + l90[::-1], "fill": "toself", "fillcolor": "rgba(37,99,235,0.12)",
         "line": {"width": 0}, "name": "90 % prediction interval", "hoverinfo": "skip", "type": "scatter"},
        {"x": t + t[::-1], "y": h50 + l50[::-1], "fill": "toself", "fillcolor": "rgba(37,99,235,0.25)",
         "line": {"width": 0}, "name": "50 % prediction interval", "hoverinfo": "skip", "type": "scatter"},
        {"x": t, "y": med, "mode": "lines", "line": {"color": "#2563eb", "width": 2}, "name": "individual forecast (median)",
         "type": "scatter"},
    ]
    pt, pmed, *_ = _series(res["prior_forecast_grid"])
    data.append({"x": pt, "y": pmed, "mode": "lines", "line": {"color": "#6b7280", "dash": "dash"},
                 "name": "population forecast (median)", "type": "scatter"})
    obs = [o for o in res["observations"] if o["dvid"] == res["patient"]["scale"]]
    data.append({"x": [o["time_h"] / 24 for o in obs], "y": [o["value"] for o in obs], "mode": "markers",
                 "marker": {"color": "#111827", "size": 8}, "name": "observed ratings", "type": "scatter"})
    ft, fmed, _, _, fl, fh = _series(res["forecast"])
    data.append({"x": ft, "y": fmed, "mode": "markers", "marker": {"symbol": "diamond-open", "size": 10, "color": "#2563eb"},
                 "error_y": {"type": "data", "symmetric": False, "array": [h - m for h, m in zip(fh, fmed)],
                             "arrayminus": [m - lo for m, lo in zip(fmed, fl)]},
                 "name": "forecast points (90 %)", "type": "scatter"})
    doses = [float(str(d["at"]).split()[0]) / 24 for d in res["doses"]]
    last = res["patient"]["last_observation_h"] / 24
    shapes = [{"type": "line", "x0": d, "x1": d, "yref": "paper", "y0": 0, "y1": 0.05, "line": {"color": "#9333ea"}}
              for d in doses]
    shapes.append({"type": "line", "x0": last, "x1": last, "yref": "paper", "y0": 0, "y1": 1,
                   "line": {"color": "#9ca3af", "dash": "dot"}})
    thr = res["target"]["threshold"]
    shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": thr, "y1": thr,
                   "line": {"color": "#059669", "dash": "dot"}})
    return {"data": data, "layout": {"height": 380, "margin": {"l": 55, "r": 10, "t": 30, "b": 45},
                                     "xaxis": {"title": {"text": "days on the record's clock"}},
                                     "yaxis": {"title": {"text": f"{scale} rating"}, "rangemode": "tozero"},
                                     "shapes": shapes, "legend": {"orientation": "h", "y": -0.2},
                                     "title": {"text": "Fit and forecast (purple ticks: doses; dotted: last observation, target)",
                                               "font": {"size": 13}}}}


def plans_figure(res: dict) -> dict:
    """Predicted ratings at the target's visits under each ranked plan (median and 90 % interval)."""
    from .population import scale_name

    data = []
    plans = list(res["plans"])
    if res.get("recorded_plan"):
        plans.append({**res["recorded_plan"], "rank": "rec."})
    if (res.get("alternative") or {}).get("predicted"):        # scored like the recorded plan (--alternative)
        plans.append({**res["alternative"], "label": "alternative", "rank": "alt."})
    for k, p in enumerate(plans):
        pr = p["predicted"]
        med = [x["median"] for x in pr]
        data.append({"x": [x["time_h"] / 24 + 0.25 * (k - len(plans) / 2) for x in pr], "y": med, "type": "scatter",
                     "mode": "lines+markers", "name": f"#{p['rank']} {p['label']} (p={p['p_target']:.2f})",
                     "line": {"color": PLAN_COLORS[k % len(PLAN_COLORS)]},
                     "error_y": {"type": "data", "symmetric": False, "array": [x["pi90"][1] - m for x, m in zip(pr, med)],
                                 "arrayminus": [m - x["pi90"][0] for x, m in zip(pr, med)]}})
    thr = res["target"]["threshold"]
    return {"data": data, "layout": {"height": 360, "margin": {"l": 55, "r": 10, "t": 30, "b": 45},
                                     "xaxis": {"title": {"text": "visit (days on the record's clock)"}},
                                     "yaxis": {"title": {"text": f"{scale_name(res['patient']['scale'])} rating"}},
                                     "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": thr, "y1": thr,
                                                 "line": {"color": "#059669", "dash": "dot"}}],
                                     "legend": {"orientation": "h", "y": -0.25},
                                     "title": {"text": "Plans compared at the target's visits", "font": {"size": 13}}}}


def plan_table(res: dict) -> pd.DataFrame:
    rows = []
    rec = res.get("recorded_plan")
    alt = res.get("alternative") if (res.get("alternative") or {}).get("safety") else None
    for p in res["plans"] + ([rec] if rec else []) + ([{**alt, "label": "alternative", "rank": "alternative"}]
                                                        if alt else []):
        s = p["safety"]

        def where(k):       # a margin to another quantile (no reading of it in the record) says which
            q = _judged_elsewhere(p, k)
            return "" if q is None else f" at the {quantile_name(q)}"

        row = {"rank": p.get("rank", "recorded"), "plan": p["label"], "p_target": p["p_target"],
               "sessions": p["sessions"], "drug (mg)": p["total_dose_mg"],
               "SBP rise p90 (margin)": f"{s['sbp_rise_p90_mmhg']:.0f} ({s['sbp_margin_mmhg']:+.0f}"
                                        f"{where('sbp_rise_mmhg')}) mmHg",
               "CADSS p90 (margin)": f"{s['cadss_peak_p90']:.0f} ({s['cadss_margin']:+.0f}{where('cadss')})"}
        if any(r and r.get("breaks_limits") is not None for r in (rec, alt)):  # the candidates are within every limit
            row["outside the limits"] = breaks_text(p.get("breaks_limits") or {}, res["limits"]) or "–"
        rows.append(row)
    return pd.DataFrame(rows)


def parameter_frame(res: dict) -> pd.DataFrame:
    """The fitted parameters: the median and 5-95 % interval from the importance-sampled posterior, the shrinkage and the
    'informed' flag from the Laplace SD at the MAP (the column names say which)."""
    # the median (sampled) beside the MAP: for a two-peaked posterior they differ (patient_101's eta_placebo: MAP
    # 0.76, median 0.20), and the note under the table names both
    return pd.DataFrame([{"parameter": p["name"], "MAP": p["estimate"], "median (sampled)": p.get("median"),
                          "5 % (sampled)": p["interval90"][0], "95 % (sampled)": p["interval90"][1], "prior mean": p["prior_mean"], "prior SD": p["prior_sd"],
                          "shrinkage (Laplace)": p["shrinkage"],
                          "informed (Laplace)": "yes" if p["informed"] else "no"}
                         for p in res["fit"]["parameters"]])


def limits_text(lim: dict) -> str:
    """The limits as ``--limits`` takes them (``drugs=racemic-ketamine+esketamine``, numbers without '.0'), so the
    printed line can be edited and given back."""
    def value(v):
        if isinstance(v, (list, tuple)):
            return "+".join(map(str, v))
        return f"{v:g}" if isinstance(v, (int, float)) else str(v)

    return ",".join(f"{k}={value(v)}" for k, v in lim.items() if k != "note")


def _judged_elsewhere(plan: dict, limit: str) -> float | None:
    """The quantile a plan's ``limit`` (sbp_rise_mmhg, cadss) is judged at when it is not the 90th percentile (the
    record has no reading of it: ``safety.judged_at``) and the plan has sessions; None otherwise (nothing to say)."""
    q = (plan["safety"].get("judged_at") or {}).get(limit, 0.9)
    return None if q == 0.9 or not plan["sessions"] else q


def quantile_name(q: float) -> str:
    """0.5 -> 'median', 0.9 -> '90th percentile' (the quantile a safety limit is judged at)."""
    if q == 0.5:
        return "median"
    v = f"{100 * q:g}"
    last = int(v[-1]) if v[-1].isdigit() else 0
    suffix = "th" if v.endswith(("11", "12", "13")) or last not in (1, 2, 3) else {1: "st", 2: "nd", 3: "rd"}[last]
    return f"{v}{suffix} percentile"


def breaks_text(breaks: dict, lim: dict, judged: dict | None = None) -> str:
    """``{limit name: value}`` (a recorded plan's ``breaks_limits``) as ``'sessions_per_week=2 (7 sessions in 7
    days), cadss=30 (90th percentile 42), routes=intranasal (uses iv-infusion)'``: each limit as ``--limits`` takes it, then the regimen's value;
    ``judged``: the safety limits' quantiles (``safety.judged_at``; default 0.9)."""
    def what(k, v):
        if k in ("drugs", "routes"):
            return f"uses {' and '.join(v)}"
        if k == "sessions_per_week":
            return f"{v:g} sessions in 7 days"
        if k in ("sbp_rise_mmhg", "cadss"):
            q = (judged or {}).get(k, 0.9)
            return f"{quantile_name(q)} {v:.0f}{' mmHg' if k == 'sbp_rise_mmhg' else ''}"
        unit = "mg/kg" if k.startswith("ketamine_mg_per_kg") else "mg"
        return f"{v:.3g} {unit} in {'a session' if k.endswith('_session') else '7 days'}"

    return ", ".join(f"{limits_text({k: lim[k]}) if k in lim else k} ({what(k, v)})" for k, v in breaks.items())


def _forecast_value(x: float, score: bool, *, median: bool = False) -> str:
    """One forecast number as the text and the report print it: a rating to whole points (its median to 0.1),
    anything else to 3 significant digits with what is ~0 printed as 0 (a CADSS forecast days after a session printed
    '1.59e-16'). The JSON keeps 6 significant digits (``personal.json_quantile``)."""
    if score:
        return f"{x:.1f}" if median else f"{x:.0f}"
    return "0" if abs(x) < 5e-4 else f"{x:.3g}"


def _zero_forecast_note(entries, variable: str) -> str | None:
    """Why ``variable`` is 0 at every forecast point, or None: '--variable cadss' printed 0 [0, 0] at every point
    and no word why (the forecast points are visits between sessions, when a session's effect has gone)."""
    ent = [e for e in entries if e["variable"] == variable]
    if variable == "score" or not ent or any(_forecast_value(x, False) != "0" for e in ent
                                             for x in (e["median"], *e["pi50"], *e["pi90"])):
        return None
    peaks = ("; a session's SBP and CADSS peaks are in the plans' margins"
             if variable in ("cadss", "sbp_change_mmhg") else "")
    return (f"{variable} is 0 at every forecast point: they are visits between sessions, after the drug has gone"
            f"{peaks}; a session's course is in `ketasim simulate --events RECORD`")


def _forecast_lines(entries, variable: str) -> list[str]:
    """One line per forecast point of ``variable`` (numbers by :func:`_forecast_value`)."""
    score = variable == "score"

    def v(x, median=False):
        return _forecast_value(x, score, median=median)

    width = 5 if score else 0           # a rating's median in a column
    return [f"  {e['time_h']:8.1f} h  median {v(e['median'], True).rjust(width)}  "
            f"50% [{v(e['pi50'][0])}, {v(e['pi50'][1])}]  90% [{v(e['pi90'][0])}, {v(e['pi90'][1])}]"
            for e in entries if e["variable"] == variable]


def forecast_frame(res: dict) -> pd.DataFrame:
    """The forecast at the forecast points as the text prints it (:func:`_forecast_value`): one row per point and
    variable (the report drew only the rating's figure, so the numbers the text prints and --variable's forecasts
    were not in it)."""
    from .population import scale_name
    from .units import fmt_hours

    rows = []
    for e in res["forecast"]:
        score = e["variable"] == "score"

        def v(x, median=False):
            return _forecast_value(x, score, median=median)

        rows.append({"time (record's clock)": f"{e['time_h']:g} h ({fmt_hours(e['time_h'])})",
                     # 'rating (MADRS points)', as the text and the figure's axis name it (was 'rating (madrs)')
                     "variable": (f"rating ({scale_name(res['patient']['scale'])} "
                                  "points)") if score else e["variable"] + _unit_note(e["variable"]),
                     "median": v(e["median"], True),
                     "50% interval": f"[{v(e['pi50'][0])}, {v(e['pi50'][1])}]",
                     "90% interval": f"[{v(e['pi90'][0])}, {v(e['pi90'][1])}]"})
    return pd.DataFrame(rows)


def _unit_note(variable: str) -> str:
    """' (ng/mL)' after a --variable's name: the unit of its trajectory column (only CADSS said its unit)."""
    from .result import UNITS

    unit = UNITS.get(variable)
    return f" ({unit})" if unit else ""


def patient_text(pat: dict) -> str:
    """The record's covariates as the plan states them: 'F, 72 y, 64 kg, comedication: clarithromycin, genotype
    val/met, CRP 3 mg/L' (a comedication changes the exposure every forecast and plan is computed with; it was not
    shown)."""
    parts = [f"{pat['sex']}, {pat['age_years']:g} y, {pat['weight_kg']:g} kg"]
    if pat.get("comedications"):
        parts.append("comedication: " + " + ".join(pat["comedications"]))       # 'on X stopped 3 d ago' read oddly
    if pat.get("genotype"):
        parts.append(f"genotype {pat['genotype']}")
    if pat.get("crp_mg_l") is not None:
        parts.append(f"CRP {pat['crp_mg_l']:g} mg/L")
    return ", ".join(parts)


def _check_plan_result(res) -> None:
    """One line for what is not a plan result (``plan_report({}, path)`` stopped with KeyError: 'patient')."""
    from .errors import InputError

    need = ("patient", "fit", "plans", "target", "forecast", "forecast_grid", "prior_forecast_grid", "observations")
    missing = [k for k in need if k not in res] if isinstance(res, dict) else list(need)
    if missing:
        raise InputError(f"res: expected the result of ketasim.personal.personal_plan (the plan JSON), got "
                         f"{type(res).__name__}" + (f" without {', '.join(missing)}" if isinstance(res, dict) else ""))


def text_summary(res: dict) -> str:
    _check_plan_result(res)
    from .personal import BARELY_INFORMED, NOT_INFORMED, ONE_SIDED, WIDER_THAN_LAPLACE
    from .population import scale_name

    pat = res["patient"]
    n_obs = len(res["observations"])
    # a record without observations said 'last observation at 0 h' (there is none)
    lines = [f"patient {pat['id']} ({patient_text(pat)}): "
             + (f"{n_obs} observed value{'' if n_obs == 1 else 's'}, scale {scale_name(pat['scale'])}, last "
                f"observation at {pat['last_observation_h']:g} h" if n_obs else
                f"no observed values, scale {scale_name(pat['scale'])}; the forecast and the plan's window count from "
                f"{pat['last_observation_h']:g} h, the record's start")]
    f = res["fit"]
    lines.append(f"fit ({f['seconds']:.2f} s, effective sample size {f['effective_sample_size']:.0f}):")
    if f.get("sampling"):
        lines.append(f"  importance sampling: {f['sampling']['summary']}")
    scale = scale_name(pat["scale"])
    lines.append(f"  {'parameter':18s} {'MAP':>8s}  90% (importance-sampled)  shrinkage (Laplace)")
    for p in f["parameters"]:
        lines.append(f"  {p['name']:18s} {p['estimate']:8.3f}  90% [{p['interval90'][0]:.3f}, {p['interval90'][1]:.3f}]"
                     f"  Laplace shrinkage {p['shrinkage']:.2f}")
    lines.append(f"  (eta_*: this patient's random effect in population SDs, 0 = the typical patient; baseline in {scale} "
                 "points; shrinkage: the Laplace approximation at the MAP)")
    # one line for the parameters the data barely inform (the JSON keeps a warning per parameter)
    weak = [p for p in f["parameters"] if p.get("informed") is False and p.get("prior_sd")
            and not p.get("uninformative") and not p.get("flat_laplace")]
    blind = [p for p in f["parameters"] if p.get("uninformative")]
    flat = [p for p in f["parameters"] if p.get("flat_laplace")]
    if blind:
        # "(a forecast on another route carries their spread)" was printed for eta_bp or eta_ke0 as well: a record
        # of nasal doses without SBP readings is blind to them for other reasons than the route
        lines.append(f"  note: the record's observations do not depend on {', '.join(p['name'] for p in blind)}: "
                     "they are not fitted and keep the population's distribution (forecasts and plans carry their full spread)")
    if flat:
        lines.append(f"  note: the predictions depend on {', '.join(p['name'] for p in flat)}, but their Laplace SD is "
                     "the prior's (almost no slope at the MAP: a small effect, such as the sedation EC50's on a rating, "
                     "or a cap on the effect): fitted; their 90% intervals (importance-sampled) "
                     "say what the data say")
    if weak:
        lap = [100 * p["laplace_sd"] / p["prior_sd"] for p in weak]
        imp = [100 * p["sd"] / p["prior_sd"] for p in weak]
        lines.append(f"  warning: the data barely inform {', '.join(p['name'] for p in weak)} (SD {min(lap):.0f}-"
                     f"{max(lap):.0f} % of the prior's by the Laplace approximation at the MAP, {min(imp):.0f}-"
                     f"{max(imp):.0f} % importance-sampled): their MAPs stay near the population's")
    # one line for the informed parameters whose sampled posterior is much wider than the Laplace one: the table's MAP
    # and Laplace shrinkage read as precise (eta_placebo MAP 0.76, shrinkage 0.02, beside a 90% interval of 2.6 SDs)
    wide = [w.split(":", 1)[0] for w in f["warnings"] if WIDER_THAN_LAPLACE in w]
    by_name = {p["name"]: p for p in f["parameters"]}
    wide = [by_name[n] for n in wide if n in by_name]
    if wide:
        lines.append(f"  note: for {', '.join(p['name'] for p in wide)} {WIDER_THAN_LAPLACE} (SD "
                     + ", ".join(f"{100 * p['sd'] / p['prior_sd']:.0f} % against {100 * p['laplace_sd'] / p['prior_sd']:.0f} %"
                                 for p in wide)
                     + " of the prior's; median " + ", ".join(f"{p['median']:.2f} (MAP {p['estimate']:.2f})" for p in wide)
                     + "): a skewed or two-peaked posterior; read the 90% interval and the median, not the MAP and the "
                       "Laplace shrinkage")
    names = {p["name"] for p in weak}
    blind_names = {p["name"] for p in blind}
    flat_names = {p["name"] for p in flat}
    wide_names = {p["name"] for p in wide}
    for w in f["warnings"]:
        if w.split(":", 1)[0] in wide_names and WIDER_THAN_LAPLACE in w:
            continue
        if w.split(":", 1)[0] in blind_names and NOT_INFORMED in w:
            continue
        if w.split(":", 1)[0] in flat_names and ONE_SIDED in w:
            continue
        if not (w.split(":", 1)[0] in names and BARELY_INFORMED in w):
            lines.append(f"  warning: {w}")
    lines.append(f"forecast of the rating ({scale} points at the forecast points, h on the record's clock; recorded "
                 "regimen):")
    lines += _forecast_lines(res["forecast"], "score")
    for v in dict.fromkeys(e["variable"] for e in res["forecast"] if e["variable"] != "score"):   # --variable
        lines.append(f"forecast of {v}{_unit_note(v)} (recorded regimen):")
        lines += _forecast_lines(res["forecast"], v)
        note = _zero_forecast_note(res["forecast"], v)
        if note:
            lines.append(f"  ({note})")
    alt = res.get("alternative")
    if alt:     # `plan --alternative ALT.yaml` printed nothing of it (only the JSON and the report had it)
        lines.append("alternative regimen (--alternative; at on the record's clock):")
        for d in alt.get("regimen") or []:
            lines.append("    - {" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}")
        if alt.get("background"):
            lines.append("  (the record's planned oral-antidepressant start is kept, as in every candidate; list an "
                         "oral-antidepressant line in the alternative to change it)")
        if alt.get("breaks_limits"):
            lines.append(f"  the alternative is outside the limits: "
                         f"{breaks_text(alt['breaks_limits'], res['limits'], (alt.get('safety') or {}).get('judged_at'))}")
        for v in dict.fromkeys(e["variable"] for e in alt["forecast"]):
            what = f"the rating ({scale} points)" if v == "score" else v + _unit_note(v)
            lines.append(f"forecast of {what} (alternative regimen):")
            lines += _forecast_lines(alt["forecast"], v)
    lines.append(f"target: {res['target']['text']} with probability >= {res['target']['probability']:g}")
    lim = res["limits"]
    lines.append("limits: " + limits_text(lim))
    bg = (res.get("search") or {}).get("background")
    if bg:      # the candidates dropped the record's planned oral antidepressant before (s34)
        lines.append("  every candidate keeps the record's planned oral-antidepressant start ("
                     + "; ".join(f"at {d['at']}" for d in bg) + "), as the recorded plan does")
    def margins(p):
        """'SBP margin +25 mmHg, CADSS margin +17 (median; p90 peak 44)': a margin judged at another quantile than
        the 90th percentile (no reading of it in the record) says so and shows the 90th percentile of the reading
        itself ('p90 14' after 'SBP margin +32 mmHg' read as a margin of 14, not a rise of 14 mmHg)."""
        s = p["safety"]

        def other(k, p90, what):
            q = _judged_elsewhere(p, k)
            unit = " mmHg" if k == "sbp_rise_mmhg" else ""
            return "" if q is None else f" ({quantile_name(q)}; p90 {what} {p90:.0f}{unit})"

        return (f"SBP margin {s['sbp_margin_mmhg']:+.0f} mmHg{other('sbp_rise_mmhg', s['sbp_rise_p90_mmhg'], 'rise')}, "
                f"CADSS margin {s['cadss_margin']:+.0f}{other('cadss', s['cadss_peak_p90'], 'peak')}")

    for p in res["plans"]:
        plural = "" if p["sessions"] == 1 else "s"
        lines.append(f"  #{p['rank']} p={p['p_target']:.2f} {p['label']} ({p['sessions']} session{plural}, "
                     f"{p['total_dose_mg']:g} mg; {margins(p)})")
    if res["plans"] and res["plans"][0]["regimen"]:      # "no further sessions" has none: no empty heading
        lines.append("  dose lines of #1 (scenario YAML, at on the record's clock):")
        for d in res["plans"][0]["regimen"]:
            lines.append("    - {" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}")
    if res.get("recorded_plan"):
        r = res["recorded_plan"]
        plural = "" if r["sessions"] == 1 else "s"
        lines.append(f"  recorded plan: p={r['p_target']:.2f} ({r['sessions']} session{plural}, "
                     f"{r['total_dose_mg']:g} mg; {margins(r)})")
        if r.get("breaks_limits"):
            # on the search's count (a --top 1 whose #1 is "no further sessions" still had others within them)
            n_within = (res.get("search") or {}).get("safe_candidates_with_sessions")
            if n_within is None:
                n_within = sum(1 for p in res["plans"] if p["sessions"])
            within = ("the candidates are within every limit" if n_within else
                      "no candidate with a session is within them")
            lines.append(f"  the recorded plan is outside the limits: "
                         f"{breaks_text(r['breaks_limits'], lim, r['safety'].get('judged_at'))} ({within}; "
                         "--limits sets the limits)")
    if alt and "p_target" in alt:       # scored as the recorded plan is (it was forecast only)
        plural = "" if alt["sessions"] == 1 else "s"
        lines.append(f"  alternative (--alternative): p={alt['p_target']:.2f} ({alt['sessions']} session{plural}, "
                     f"{alt['total_dose_mg']:g} mg; {margins(alt)})")
    search = res.get("search") or {}
    judged = search.get("judged_at") or {}
    # a reading within a session's monitoring window (search.has_reading); before it: any reading of the DVID
    from .personal import SAFETY_READINGS

    has = search.get("has_reading") or {k: dv in {o.get("dvid") for o in res.get("observations", [])}
                                        for k, dv in SAFETY_READINGS.items()}
    unread = [(k, w) for k, w in (("sbp_rise_mmhg", "SBP"), ("cadss", "CADSS")) if not has.get(k)]
    if search.get("products_without_candidates"):
        lines.append(f"  no dose option of {', '.join(search['products_without_candidates'])} fits the limits (dose a "
                     "session, dose a week or sessions a week), so the search has none of its regimens; --limits sets "
                     "the limits")
    if search.get("unsafe_candidates"):
        by = search.get("unsafe_by_limit") or {}
        why = ", ".join(f"{n} above {k}={limits_text({k: lim[k]}).split('=', 1)[1]} at the "
                        f"{quantile_name(judged.get(k, 0.9))}" for k, n in by.items() if n and k in lim)
        over = [w for k, w in unread if by.get(k)]
        lines.append(f"  {search['unsafe_candidates']} of {search['candidates_evaluated']} candidate regimens exceed "
                     f"the safety limits at a session's peak ({why})"
                     + (f"; the record has no {' or '.join(over)} reading during a session, so the population's spread applies"
                        if over else "") + "; --limits sets the limits")
    q = lim.get("quantile_without_reading")
    if unread and q is not None:
        # the limit was judged at the population's 90th percentile before: with no reading every labelled regimen
        # exceeded cadss=30 there, and the plan offered no session at all without saying it was the population's
        one, what = len(unread) == 1, " or ".join(w for _, w in unread)
        keys = f"{' and '.join(k for k, _ in unread)} {'is' if one else 'are'}"
        they = "it" if one else "them"
        lines.append(f"  note: the record has no {what} reading during a session (the patient's response is the "
                     "population's spread): "
                     + (f"{keys} judged at the {quantile_name(q)} of a session's peak (quantile_without_reading="
                        f"{q:g}; with a reading, at the 90th percentile of this patient's posterior); --limits "
                        f"quantile_without_reading=0.9 judges {they} at the population's 90th percentile"
                        if q != 0.9 else
                        f"{keys} judged at the 90th percentile of the population's spread (quantile_without_reading"
                        f"=0.9); --limits quantile_without_reading=0.75 (the default) judges {they} at the 75th "
                        "percentile"))
    if not res["plans"]:
        lines.append("  no candidate regimen is within the safety limits")
    elif not any(p["meets_probability"] for p in res["plans"]):
        zero = all(p["p_target"] == 0 for p in res["plans"])
        lines.append(f"  none of the candidates meets the target with probability >= {res['target']['probability']:g}: "
                     + ("no sample of any of them meets it, so they are ranked by their predicted median rating at "
                        "the visits" if zero else "they are ranked by probability")
                     + " (relax the target, the window or the limits to see others)")
    return "\n".join(lines)


def plan_report(res: dict, path) -> Path:
    """Self-contained HTML report of a plan result (the research-use notice appears once, at the end)."""
    import yaml

    from .report import _page, _section, _plot_div, _table

    _check_plan_result(res)
    path = Path(path)
    figs = {"fit-forecast": score_figure(res), "plans": plans_figure(res)}
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in res["fit"]["warnings"])
    plans_yaml = "\n".join(f"# #{p['rank']} {p['label']}: p_target {p['p_target']:.2f}\n"
                           + yaml.safe_dump(p["regimen"], sort_keys=False) for p in res["plans"])
    lim = res["limits"]
    sections = [
        _section("Fit and forecast", _plot_div("fit-forecast", "Dots: observed ratings. Line and bands: the "
                                               "individual forecast (median, 50 % and 90 % prediction intervals of a "
                                               "rating) under the recorded regimen; dashed: the population's forecast "
                                               "for this patient's covariates.")
                 + "<h3 style=\"font-size:14px\">At the forecast points (recorded regimen)</h3>"
                 + _table(forecast_frame(res), left=("time (record's clock)", "variable"))
                 + "".join(f"<p class=\"hint\">{html.escape(n)}.</p>" for n in (
                     _zero_forecast_note(res["forecast"], v) for v in dict.fromkeys(e["variable"]
                                                                                    for e in res["forecast"])) if n),
                 "forecast"),
        _section("Plans", f"<p>Target: {html.escape(res['target']['text'])}, with probability at least "
                          f"{res['target']['probability']:g}.</p>"
                 + ("" if not res["plans"] or any(p["meets_probability"] for p in res["plans"]) else
                    "<p class=\"hint\">None of the candidates meets the target with that probability; "
                    + ("no sample of any of them meets it, so they are ranked by their predicted median rating at the "
                       "visits.</p>" if all(p["p_target"] == 0 for p in res["plans"]) else
                       "they are ranked by probability.</p>"))
                 + _table(plan_table(res), left=("plan",))
                 + _plot_div("plans") + f"<h3 style=\"font-size:14px\">Dose lines (scenario YAML, at on the "
                 f"record's clock)</h3><pre id=\"plan-yaml\">{html.escape(plans_yaml)}</pre>"
                 + "<p class=\"hint\">Limits: " + html.escape(limits_text(lim).replace(",", ", ").replace("+", " or ")
                                                              + (f" ({lim['note']})" if lim.get("note") else ""))
                 + "</p>",
                 "plans-section"),
        _section("Fitted parameters", _table(parameter_frame(res), left=("parameter", "informed (Laplace)"))
                 + (f"<ul class=\"hint\">{warn}</ul>" if warn else "")
                 + f"<p class=\"hint\">{html.escape(res['fit']['method'])}; effective sample size "
                   f"{res['fit']['effective_sample_size']:.0f} of {res['fit']['proposals']}"
                 + (f" (importance sampling: {html.escape(res['fit']['sampling']['summary'])})"
                    if res["fit"].get("sampling") else "") + ".</p>", "parameters"),
        _section("Provenance", "<pre>" + html.escape(json.dumps(res["provenance"], indent=1)) + "</pre>", "provenance"),
    ]
    pat = res["patient"]
    title = f"ketasim personal plan: patient {pat['id']}"
    from .population import scale_name

    sub = (f"{patient_text(pat)}; {len(res['observations'])} observed values "
           f"({scale_name(pat['scale'])}); source {pat['source']}")
    from .io import atomic_write_text

    atomic_write_text(path, _page(title, sub, sections, figs))      # never a half-written report
    return path


def plan_cli(data, *, json_out=None, report=None, target=None, limits=None, window=None, probability=0.8,
             alternative=None, variables=(), patient_id=None, seed=0, minimise="sessions", params=None) -> dict:
    """``ketasim plan``: fit, forecast and plan one record and write/print the result. ``params``: the parameter set
    (None: the installed one)."""
    import typer
    import yaml

    from .errors import InputError
    from .io import atomic_write_text, check_target
    from .personal import NOTICE, personal_plan
    from .record import read_record
    from .display import json_safe

    import warnings

    for option, out in (("--json", json_out), ("--report", report)):      # fail before the fit, not after it
        if out:
            check_target(out, option)
    with warnings.catch_warnings(record=True) as read:      # a dose in the anesthetic range warns
        warnings.simplefilter("always")
        rec = read_record(data, patient_id=patient_id)
    for w in read:                          # on stderr as before
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    # and, as the dashboard's plan page does, in the JSON and the report with the fit's own warnings (the command's
    # files had none of them)
    record_warnings = [str(w.message) for w in read]
    from .summary import record_anesthetic_warnings
    from .errors import DoseWarning

    for msg in record_anesthetic_warnings(rec, params):     # doses that add up to the anesthetic range
        warnings.warn(msg, DoseWarning, stacklevel=2)
        record_warnings.append(msg)
    alt = None
    if alternative is not None:
        from .io import decode_text
        from .limits import MAX_SCENARIO_BYTES      # (not `limits`: this function's argument)

        p = Path(alternative)
        if not p.exists():
            raise InputError(f"--alternative: {alternative}: no such file")
        if not p.is_file():     # a folder said "Is a directory" without the option; a PNG ended in a traceback
            what = "is a directory, not a file" if p.is_dir() else "not a regular file"
            raise InputError(f"--alternative: {alternative}: {what}; give the YAML list of dose lines")
        with open(p, "rb") as fh:
            raw = fh.read(MAX_SCENARIO_BYTES + 1)
        if len(raw) > MAX_SCENARIO_BYTES:
            raise InputError(f"--alternative: {alternative}: larger than the {MAX_SCENARIO_BYTES:,} bytes a "
                             "YAML file of dose lines may have")
        text = decode_text(raw, f"--alternative: {alternative}")
        try:
            alt = yaml.safe_load(text)
        except yaml.YAMLError as e:
            from .io import yaml_error_text

            raise InputError(f"--alternative: {alternative}: not valid YAML{yaml_error_text(e, text)}") from None
        if not isinstance(alt, list) or not alt:
            raise InputError("--alternative: expected a YAML list of dose lines ({drug, route, dose, at, ...})")
    from .personal import _future_doses
    from .solver import kernel as K

    variables = tuple(v.strip().lower() if isinstance(v, str) else v for v in variables or ())     # any case
    for v in variables:                # checked before the fit (seconds), naming the option
        if v != "score" and v not in K.OUT_NAMES:
            raise InputError(f"--variable: unknown trajectory variable {v!r}; e.g. cp_ketamine_ng_ml, cadss, "
                             "sbp_change_mmhg (the trajectory columns)")
    where = f"--alternative {Path(alternative).name}: " if alt is not None else ""
    with warnings.catch_warnings(record=True) as caught:     # shown once, naming the option (below)
        warnings.simplefilter("always")
        if alt is not None:
            try:
                # checked once here (its warnings name the file); the plan gets the doses, not the lines again
                # the same label as from Python and the plan page: one name for one field
                alt = list(_future_doses(rec, alt, "alternative"))
            except InputError as e:
                raise InputError(f"{where}{e}") from None
        # personal_plan warns of an alternative whose doses add up to the anesthetic range (with the record's past
        # doses), before its fit: caught here with the rest, named by the option (one check, as from Python)
        res = personal_plan(rec, target=target, limits=limits, window=window, probability=probability,
                            alternative=alt, variables=variables, seed=seed, minimise=minimise,
                            params=params)
    shown = set()
    for w in caught:
        text = (where if str(w.message).startswith(("alternative[", "alternative:")) else "") + str(w.message)
        if text not in shown:
            shown.add(text)
            warnings.warn_explicit(text, w.category, w.filename, w.lineno)
            record_warnings.append(text)
    safe = json_safe(res)
    typer.echo(text_summary(safe))      # the summary, then 'wrote FILE' lines, then the notice: as trial, simulate
    if record_warnings:                 # after the summary: stderr said them already
        safe = {**safe, "fit": {**safe["fit"], "warnings": [*record_warnings, *safe["fit"]["warnings"]]}}
    if json_out:
        atomic_write_text(json_out, json.dumps(safe, indent=1, allow_nan=False))
        typer.echo(f"wrote {json_out}")
    if report:
        plan_report(safe, report)
        typer.echo(f"wrote {report}")
    typer.echo(NOTICE)
    return safe
