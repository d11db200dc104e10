"""Model qualification on a folder of published trials: ``ketasim qualify --external DIR``. Nothing is fitted.

A folder holds, per trial, a scenario and the published trial's results (:func:`find_trials`):

- ``NAME.yaml`` (or ``NAME.yml``): the trial's design as a ketasim scenario (arms, population, endpoints);
- ``NAME.csv`` (or ``NAME_observed.csv``, the name ``trial --observed`` examples use): its results in the long
  format of ``ketasim.observed`` (arm, timepoint_h, measure, value; optional n, spread, spread_kind, provenance
  and ``domain``).

Both names for one trial's results, both ``.yaml`` and ``.yml``, a CSV without a scenario and a scenario without a
CSV are each one failed trial (one line naming the file), found before anything runs. Each valid trial runs as
``ketasim trial SCENARIO --size N --seed S [--uncertainty K]`` would (:func:`ketasim.trial.run_trial`), and its rows
are compared with ``ketasim.observed.compare_observed`` (95 % prediction intervals for a trial of each row's
``n``; a row without ``n`` takes the SCENARIO's arm size, the published trial's design, not the virtual trial's
size). A trial whose files are invalid, or whose run stops on an input error, is recorded with its reason and
the others still run.

The summary (:func:`external_summary`) is ``observed_summary`` (MAE in points over score rows, in percentage
points over rate rows, share inside) plus the floors that ``ketasim qualify`` reports
(:func:`ketasim.observed.observed_floors`), overall, per trial and per domain (:func:`trial_domain`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from .errors import InputError, KetasimError, argument

SCENARIO_SUFFIXES = (".yaml", ".yml")
OBSERVED_SUFFIX = "_observed"
CONVENTION = ("a trial is NAME.yaml (or .yml) with NAME.csv (or NAME_observed.csv) in the same folder")
#: default virtual patients per arm and seed (those of ``ketasim qualify``); every trial runs with the same seed
DEFAULT_SIZE = 2000
DEFAULT_SEED = 11
#: names of the domains derived from a scenario's ``population.condition`` (:func:`trial_domain`)
CONDITION_DOMAINS = {"anxiety": "anxiety", "ptsd": "PTSD", "suicidal_ideation": "suicidal ideation"}
KETAMINE_DRUGS = ("racemic-ketamine", "esketamine", "arketamine")
DOMAIN_RULE = ("domain: the observed file's `domain` column when it has one (one value per file); else from the "
               "scenario: its condition (anxiety, PTSD, suicidal ideation); for depression the route of the "
               "ketamine doses: 'depression IV' (iv-infusion/iv-bolus), 'intranasal esketamine' (esketamine, "
               "intranasal only), else 'depression ' + the routes (e.g. 'depression oral'); 'depression, no "
               "ketamine' when no arm gives ketamine; a PK study (only PK measures) 'PK ' + its routes (e.g. 'PK "
               "oral')")


@dataclasses.dataclass
class ExternalTrial:
    """One trial of the folder: its name (the files' stem), files, and after :func:`qualify_external` its
    outcome. ``problem`` (one line naming the file) marks a trial that did not run."""

    name: str
    scenario_file: Path | None = None
    observed_file: Path | None = None
    problem: str | None = None
    domain: str = ""
    scenario_name: str = ""
    arms: tuple = ()
    virtual_n: dict = dataclasses.field(default_factory=dict)
    scenario_n: int | None = None
    seed: int | None = None
    #: {file name: SHA-256} of the trial's files, taken when they were read
    sha256: dict = dataclasses.field(default_factory=dict)
    comparison: pd.DataFrame | None = None
    seconds: float = float("nan")
    #: why its results are calibration rows (:func:`calibration_match`), '' when they are not
    in_calibration: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None and self.comparison is not None


def find_trials(folder) -> list[ExternalTrial]:
    """The trials of ``folder`` (not its subfolders; hidden files and other extensions ignored), sorted by name,
    with a one-line ``problem`` for each pair that does not follow the convention (:data:`CONVENTION`). An
    InputError (one line; naming ``folder``, on the command line ``--external``) when ``folder`` is not a folder or
    holds no scenario and no CSV."""
    d = Path(str(folder))
    where = f"{argument('folder', '--external')} {folder}"
    if not d.is_dir():
        raise InputError(f"{where}: not a folder ({CONVENTION})")
    files = sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
    scenarios: dict[str, list[Path]] = {}
    csvs: dict[str, Path] = {}
    for p in files:
        if p.suffix.lower() in SCENARIO_SUFFIXES:
            scenarios.setdefault(p.stem, []).append(p)
        elif p.suffix.lower() == ".csv":
            csvs[p.stem] = p
    if not scenarios and not csvs:
        raise InputError(f"{where}: no trials in this folder ({CONVENTION})")
    trials: dict[str, ExternalTrial] = {}
    for name, paths in scenarios.items():
        t = trials[name] = ExternalTrial(name, scenario_file=paths[0])
        if len(paths) > 1:
            t.problem = (f"{' and '.join(p.name for p in paths)}: two scenarios for trial {name}; keep one")
    claimed = set()
    for name, t in trials.items():
        found = [csvs[s] for s in (name, name + OBSERVED_SUFFIX) if s in csvs
                 and not (s != name and s in scenarios)]      # X_observed.csv is X_observed.yaml's own file if that exists
        claimed.update(p.stem for p in found)
        if len(found) > 1 and t.problem is None:
            t.problem = (f"{found[0].name} and {found[1].name}: two observed files for trial {name}; keep one "
                         f"({CONVENTION})")
        elif not found and t.problem is None:
            t.problem = f"{t.scenario_file.name}: no observed file {name}.csv (or {name}{OBSERVED_SUFFIX}.csv) beside it"
        if found:
            t.observed_file = found[0]
    for stem, p in csvs.items():
        if stem not in claimed:
            base = stem.removesuffix(OBSERVED_SUFFIX) if stem.endswith(OBSERVED_SUFFIX) else stem
            trials[stem] = ExternalTrial(stem, observed_file=p,
                                         problem=f"{p.name}: no scenario {base}.yaml beside it ({CONVENTION})")
    return [trials[k] for k in sorted(trials)]


def trial_domain(scenario, observed: pd.DataFrame | None = None) -> str:
    """The trial's domain for the per-domain summary (:data:`DOMAIN_RULE`): the observed table's ``domain`` when
    given (one value), else derived from the scenario's condition and the routes of its ketamine doses."""
    if observed is not None and "domain" in observed.columns:
        given = [d for d in dict.fromkeys(observed["domain"]) if d]
        if given:
            return given[0]
    from .trial import reports_pk_only

    if reports_pk_only(scenario):       # a PK study: its rows are PK statistics whatever the condition
        routes = sorted({"IV" if d.route.value.startswith("iv-") else d.route.value for a in scenario.arms
                         for d in a.doses if d.drug.value != "placebo"})
        return "PK " + " + ".join(routes) if routes else "PK"
    cond = scenario.population.condition
    if cond in CONDITION_DOMAINS:
        return CONDITION_DOMAINS[cond]
    doses = [d for a in scenario.arms for d in a.doses if d.drug.value in KETAMINE_DRUGS]
    if not doses:
        return f"{cond}, no ketamine"
    routes = sorted({"IV" if d.route.value.startswith("iv-") else d.route.value for d in doses})
    if routes == ["intranasal"] and all(d.drug.value == "esketamine" for d in doses):
        return "intranasal esketamine"
    return f"{cond} {' + '.join(routes)}"


#: a DOI (as in 'doi:10.1176/...' or 'https://doi.org/10.1176/...') and a PubMed id in a citation or URL
DOI_PATTERN = re.compile(r"10\.\d{4,9}/[^\s,;\"'<>]+")
PMID_PATTERN = re.compile(r"PMID:?\s*(\d+)", re.IGNORECASE)
#: a PubMed address ('ncbi.nlm.nih.gov/pubmed/19897389', 'pubmed.ncbi.nlm.nih.gov/19897389'): its PMID
PUBMED_URL_PATTERN = re.compile(r"pubmed(?:\.ncbi\.nlm\.nih\.gov)?/(\d+)", re.IGNORECASE)
#: a PubMed Central id (PMC3339151), as text or in a pmc.ncbi.nlm.nih.gov address
PMC_PATTERN = re.compile(r"\bPMC\s?(\d{4,9})\b", re.IGNORECASE)
#: a web address in a parameter's source (a publisher's page)
URL_PATTERN = re.compile(r"https?://[^\s,;\"'<>)]+", re.IGNORECASE)
IN_SAMPLE = "in sample, not an external check"


def _text(x) -> str:
    return x.strip() if isinstance(x, str) else ""


def source_keys(row) -> list[tuple[str, str]]:
    """What identifies the trial a row comes from, most specific first: its ``trial_id``, the DOIs and PMIDs in its
    ``citation`` and ``source_url``, and the URL itself (lower case; pairs ``(kind, value)``)."""
    keys = []
    if _text(row.get("trial_id")):
        keys.append(("trial_id", _text(row.get("trial_id")).lower()))
    text = f"{_text(row.get('citation'))} {_text(row.get('source_url'))}"
    keys += [("DOI", d.rstrip(".)").lower()) for d in DOI_PATTERN.findall(text)]
    keys += [("PMID", m) for m in PMID_PATTERN.findall(text) + PUBMED_URL_PATTERN.findall(text)]
    keys += [("PMC", m) for m in PMC_PATTERN.findall(text)]
    if _text(row.get("source_url")):
        keys.append(("source_url", _text(row.get("source_url")).lower().rstrip("/")))
    return list(dict.fromkeys(keys))


def calibration_sources(rows=None) -> dict:
    """{(kind, value) of :func:`source_keys`: [calibration trial_id, ...]} over the rows of the calibration reference
    file (default the installed ``reference/clinical_calibration.csv``, the rows the free parameters were fitted to)."""
    from .calibration import read_rows

    out: dict = {}
    for r in (read_rows() if rows is None else rows):
        for key in source_keys(r):
            ids = out.setdefault(key, [])
            if r.get("trial_id") and r["trial_id"] not in ids:
                ids.append(r["trial_id"])
    return out


def parameter_sources(params) -> dict:
    """{(kind, value): [parameter name, ...]} of the DOIs, PMIDs (also PubMed addresses), PMC ids and web addresses
    in the sources of the model's literature parameters (``data/parameters.csv``; ``params`` a ParameterSet): a published study the model's
    parameters were set from (e.g. a PK interaction study) is in sample as a calibration trial is."""
    out: dict = {}
    for name, par in params.literature.items():
        text = str(getattr(par, "source", "") or "")
        # PMC ids and web addresses too (review s50 M-2: Noppers 2011, the rifampicin study, is cited by its PMC id
        # only); a source named by its authors alone cannot be matched, so the flag can miss such a study
        keys = ([("DOI", d.rstrip(".)").lower()) for d in DOI_PATTERN.findall(text)]
                + [("PMID", m) for m in PMID_PATTERN.findall(text) + PUBMED_URL_PATTERN.findall(text)]
                + [("PMC", m) for m in PMC_PATTERN.findall(text)]
                + [("source_url", u.rstrip("./").lower()) for u in URL_PATTERN.findall(text)])
        for key in dict.fromkeys(keys):
            out.setdefault(key, []).append(name)
    return out


def calibration_match(observed: pd.DataFrame, sources: dict | None = None, parameters: dict | None = None) -> str:
    """'' when no row of a trial's observed table names a calibration trial; else one line saying which of its
    identifiers (trial_id, DOI, PMID, source_url; :func:`source_keys`) belongs to which calibration trial: those
    rows were fitted, so comparing with them is in sample."""
    sources = calibration_sources() if sources is None else sources
    for r in observed.to_dict("records"):
        for kind, value in source_keys(r):
            if (kind, value) in sources:
                return (f"{kind} {value} is calibration trial {', '.join(sources[kind, value])} in "
                        f"clinical_calibration.csv (its rows were fitted): {IN_SAMPLE}")
    for r in observed.to_dict("records") if parameters else ():
        for kind, value in source_keys(r):
            if kind in ("DOI", "PMID", "PMC", "source_url") and (kind, value) in parameters:
                names = parameters[kind, value]
                return (f"{kind} {value} is the source of model parameter(s) {', '.join(names[:3])}"
                        + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                        + f" in data/parameters.csv (the model was built on it): {IN_SAMPLE}")
    return ""


def sha256(path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclasses.dataclass
class ExternalQualification:
    """The result of :func:`qualify_external`: every trial (run or failed), the tidy rows of all run trials, and
    what the run used (provenance)."""

    folder: Path
    trials: list[ExternalTrial]
    rows: pd.DataFrame
    size: int | None
    seed: int
    uncertainty: int
    between_trial: bool
    params: object
    interval: str

    @property
    def failed(self) -> list[ExternalTrial]:
        return [t for t in self.trials if not t.ok]

    def summary(self) -> dict:
        """{"overall": ..., "by_domain": {domain: ...}, "by_trial": {name: ...}} of :func:`external_summary`."""
        ok = [t for t in self.trials if t.ok]
        return {"overall": external_summary(self.rows, trials=len(ok)),
                "by_domain": {d: external_summary(self.rows[self.rows["domain"] == d],
                                                  trials=sum(t.domain == d for t in ok))
                              for d in dict.fromkeys(t.domain for t in ok)},
                "by_trial": {t.name: external_summary(t.comparison, trials=1) for t in ok}}


def external_summary(df: pd.DataFrame, trials: int | None = None) -> dict:
    """``observed_summary`` (rows, inside, share_inside, mae_points, score_rows, mae_percentage_points,
    rate_rows, mae_other; share_rows and mae_share_percentage_points when there are share rows) + the floors of ``observed_floors`` (sampling_floor_points, ..._percentage_points,
    heterogeneity_floor_points, ..._percentage_points) over the rows of ``df``; ``trials``: how many trials.
    ``score_by_scale``: {scale: {mae_points, score_rows, sampling_floor_points, heterogeneity_floor_points}} of the
    score rows (mean, mean_change) per rating scale (the rows' ``rating_scale`` column, the trial scenario's). Points of different scales are
    not one unit (a MADRS point is not a CAPS-5 point): when the score rows span several scales, ``mae_points``
    and the points floors are null (NaN) and only ``score_by_scale`` gives them."""
    from .observed import observed_floors, observed_summary

    if df is None or not len(df):
        s = {"rows": 0, "inside": 0, "share_inside": None, "mae_points": None, "score_rows": 0,
             "mae_percentage_points": None, "rate_rows": 0, "mae_other": {},
             **{f"{a}_floor_{b}": float("nan") for a in ("sampling", "heterogeneity")
                for b in ("points", "percentage_points")}, "score_by_scale": {}}
    else:
        s = {**observed_summary(df), **observed_floors(df)}
        score = df[df["measure"].isin(("mean", "mean_change"))]
        scales = list(dict.fromkeys(score["rating_scale"])) if "rating_scale" in df else []
        by_scale = {}
        for sc in scales:
            part = score[score["rating_scale"] == sc]
            one, floors = observed_summary(part), observed_floors(part)
            by_scale[sc] = {"mae_points": one["mae_points"], "score_rows": one["score_rows"],
                            "sampling_floor_points": floors["sampling_floor_points"],
                            "heterogeneity_floor_points": floors["heterogeneity_floor_points"]}
        s["score_by_scale"] = by_scale
        if len(by_scale) > 1:       # averaged together they were a number in no unit
            s["mae_points"] = None
            s["sampling_floor_points"] = s["heterogeneity_floor_points"] = float("nan")
    return ({"trials": trials} if trials is not None else {}) | s


def validate_trial(t: ExternalTrial):
    """(scenario, observed table) of a trial, or an InputError naming the file (one line)."""
    from .observed import read_observed
    from .scenario import load_scenario

    if t.problem:
        raise InputError(t.problem)
    try:
        sc = load_scenario(t.scenario_file)
    except KetasimError as e:
        msg = str(e)
        raise InputError(msg if t.scenario_file.name in msg else f"{t.scenario_file.name}: {msg}") from None
    except OSError as e:
        raise InputError(f"{t.scenario_file.name}: cannot read it ({e.strerror or e})") from None
    # read_observed checks the file's one domain and one scenario (one value for the whole file)
    return sc, read_observed(t.observed_file, sc, label=t.observed_file.name)


def qualify_external(folder, params=None, *, size: int | None = DEFAULT_SIZE, seed: int | None = DEFAULT_SEED,
                     uncertainty: int = 0, between_trial: bool = True, draw_seed: int = 0,
                     on_trial: Callable[[int, int, ExternalTrial], None] | None = None,
                     log: Callable[[str], None] | None = None,
                     on_invalid: Callable[[ExternalTrial], None] | None = None) -> ExternalQualification:
    """Run every trial of ``folder`` (:func:`find_trials`) with ``size`` virtual patients per arm (None: each
    scenario's own size) and ``seed`` (None: each scenario's own seed), and compare it with its published rows
    (``ketasim.observed.compare_observed``; a row without ``n`` uses the scenario's arm size). ``uncertainty`` = K
    >= 2 posterior parameter draws (x between-trial effects when ``between_trial``) widen the intervals as
    ``trial --uncertainty K`` does. Every file is validated before the first trial runs; a trial that fails
    (invalid files, or an input error while it runs) keeps its one-line ``problem`` and the others still run.
    ``on_trial(i, total, trial)`` is called after each trial (1-based ``i``; also for a failed one), in name
    order. ``on_invalid(trial)`` is called for each trial whose files are invalid once all are checked, before the
    first trial runs. Nothing is fitted."""
    from .limits import check_seed, check_size
    from .observed import compare_observed
    from .parameters import load_parameters
    from .trial import check_uncertainty_draws, check_uncertainty_options, reports_pk_only, run_trial

    from .parameters import ParameterSet

    if uncertainty:
        check_uncertainty_draws(uncertainty)
    # as run_trial's: between_trial True or False, and False (or a draw_seed) only with uncertainty
    between_trial, draw_seed = check_uncertainty_options(uncertainty, between_trial, draw_seed)
    if size is not None:
        check_size(size, argument("size", "--size"))
    if seed is not None:
        check_seed(seed, argument("seed", "--seed"))
    # from Python: known before the first trial runs (a wrong params failed every trial in turn, a callback that is
    # no function after the first trial's minutes)
    if params is not None and not isinstance(params, ParameterSet):
        raise InputError(f"params: expected a ParameterSet (ketasim.load_parameters()), got {type(params).__name__}")
    for name, fn in (("on_trial", on_trial), ("log", log), ("on_invalid", on_invalid)):
        if fn is not None and not callable(fn):
            raise InputError(f"{name}: expected a function, got {type(fn).__name__}")
    params = params or load_parameters()
    trials = find_trials(folder)
    checked = {}
    sources = calibration_sources()
    built_on = parameter_sources(params)
    for t in trials:                      # all files first: a broken one is known before minutes of running
        t.sha256 = {p.name: sha256(p) for p in (t.scenario_file, t.observed_file) if p is not None and p.is_file()}
        try:
            checked[t.name] = validate_trial(t)
        except InputError as e:
            t.problem = str(e)
        else:
            t.in_calibration = calibration_match(checked[t.name][1], sources, built_on)
    if on_invalid is not None:
        for t in trials:
            if t.problem is not None:
                on_invalid(t)
    frames, interval = [], ""
    for i, t in enumerate(trials, start=1):
        if t.problem is None:
            sc, obs = checked[t.name]
            t.scenario_name, t.arms, t.scenario_n = sc.name, tuple(a.name for a in sc.arms), sc.population.size
            t.domain = trial_domain(sc, obs)
            start = time.perf_counter()
            try:
                # a PK-only trial has no row a prediction interval could widen (run_trial refuses the option)
                pk_only = reports_pk_only(sc)
                kw = {"uncertainty": uncertainty, "between_trial": between_trial, "draw_seed": draw_seed,
                      "log": log} if uncertainty and not pk_only else {}
                tr = run_trial(sc, params, n=size, seed=seed, **kw)
                comp = compare_observed(tr, obs, default_n=sc.population.size)
            except KetasimError as e:            # an input the run itself refuses (or a solver failure)
                t.problem = f"{t.scenario_file.name}: {e}"
            else:
                t.virtual_n = {a: int(o.n) for a, o in tr.outcomes.items()}
                t.seed = int(tr.seed)
                interval = _merge_interval(interval, comp.attrs["interval"])   # compare_observed's scope
                # the scenario's rating scale, the unit of its score rows' points (the observed file's optional
                # 'scale' column holds what the paper wrote)
                comp.insert(0, "rating_scale", sc.population.scale)
                comp.insert(0, "domain", t.domain)
                comp.insert(0, "trial", t.name)
                t.comparison = comp
                frames.append(comp)
            t.seconds = time.perf_counter() - start
        if on_trial is not None:
            on_trial(i, len(trials), t)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["trial", "domain", "rating_scale", "row", "arm", "measure", "time_h", "unit", "observed", "predicted", "error",
                 "pi_low", "pi_high", "inside", "n", "n_from", "sampling_sd"])
    return ExternalQualification(Path(str(folder)), trials, rows, size, seed, uncertainty, between_trial, params,
                                 interval)


def _merge_interval(interval: str, scope: str) -> str:
    """The folder's interval scope: the first trial's (``compare_observed``'s ``attrs["interval"]``), with the PK
    rows' note (``observed.PK_INTERVAL_NOTE``) once when a trial has PK rows; a PK-only trial's scope (the note
    alone) is kept until a trial with score or rate rows gives the general one."""
    from .observed import PK_INTERVAL_NOTE, RELAPSE_INTERVAL_NOTE

    if RELAPSE_INTERVAL_NOTE in scope and interval and RELAPSE_INTERVAL_NOTE not in interval:
        # a trial with time_to_relapse / hazard ratio rows after one without: its rows' note once, at the end
        return _merge_interval(interval, scope.replace(" " + RELAPSE_INTERVAL_NOTE, "")) + " " + RELAPSE_INTERVAL_NOTE
    pk_only = scope.startswith(PK_INTERVAL_NOTE)
    if not interval:
        return scope
    if interval.startswith(PK_INTERVAL_NOTE) and not pk_only:       # the general scope first, then the PK note
        return scope if PK_INTERVAL_NOTE in scope else scope + " " + PK_INTERVAL_NOTE
    if PK_INTERVAL_NOTE in scope and PK_INTERVAL_NOTE not in interval:
        return interval + " " + PK_INTERVAL_NOTE
    return interval


def trial_line(i: int, total: int, t: ExternalTrial) -> str:
    """The progress line of one trial (``qualify --external`` streams one per trial)."""
    from .observed import format_summary

    head = f"[{i}/{total}] {t.name}"
    if not t.ok:
        return f"{head}: FAILED: {t.problem}"
    s = external_summary(t.comparison)
    return (f"{head} ({t.domain}; {t.seconds:.1f} s): {format_summary(s)}"
            + (f" [IN SAMPLE: {in_sample_kind(t)}]" if t.in_calibration else ""))


def in_sample_kind(t: ExternalTrial) -> str:
    """'a calibration trial' (its rows are in clinical_calibration.csv), or 'a source of the model's parameters'
    (a study data/parameters.csv cites, :func:`parameter_sources`)."""
    return "a calibration trial" if "calibration trial" in t.in_calibration else "a source of the model's parameters"


def format_external(q: ExternalQualification) -> str:
    """The printed table: one line per trial, per domain and overall, then the floors and what the intervals hold."""
    from .observed import format_by_scale, format_floors, format_hazard_ratio_summary, format_pk_summary

    s = q.summary()

    def line(label, x):
        def num(v, fmt):
            return format(v, fmt) if v is not None and v == v else "-"
        share = f"{100 * x['share_inside']:.0f} %" if x["share_inside"] is not None else "-"
        return (f"  {label[:34]:34s} {x['rows']:5d} {num(x['mae_points'], '8.2f'):>8s} {x['score_rows']:5d} "
                f"{num(x['mae_percentage_points'], '8.1f'):>8s} {x['rate_rows']:5d} {x['inside']:3d}/{x['rows']:<3d} "
                f"{share:>6s}  {num(x['sampling_floor_points'], '.2f')} / {num(x['sampling_floor_percentage_points'], '.1f')}"
                f"  {num(x['heterogeneity_floor_points'], '.2f')} / {num(x['heterogeneity_floor_percentage_points'], '.1f')}")

    head = (f"  {'':34s} {'rows':>5s} {'MAE pts':>8s} {'score':>5s} {'MAE pp':>8s} {'rate':>5s} {'inside':>7s} {'share':>6s}"
            f"  floor: sampling  +heterogeneity (pts / pp)")
    out = [f"\nexternal qualification of {q.folder} (nothing fitted): parameter set {q.params.version} "
           f"({q.params.calibration_run})"]
    out += in_sample_lines(q)
    out += [head, "  per trial"]
    out += [line(t.name, s["by_trial"][t.name]) for t in q.trials if t.ok]
    out += ["  per domain"] + [line(d, x) for d, x in s["by_domain"].items()]
    out += ["  all trials", line(f"{s['overall']['trials']} trial(s)", s["overall"])]
    out.append("  (score, rate: how many of the rows are score means or changes and how many are rates: the rows each "
               "MAE is over, in score points and percentage points; inside: rows within their 95% interval)")
    mixed = [(label, format_by_scale(x)) for label, x in [("all trials", s["overall"]), *s["by_domain"].items()]]
    mixed = [(label, text) for label, text in mixed if text]
    if mixed:
        out.append("  MAE pts per rating scale where the score rows use several (their points are not averaged "
                   "together):")
        out += [f"    {label}: {text}" for label, text in mixed]
    pk = [(label, format_pk_summary(x)) for label, x in [("all trials", s["overall"]), *s["by_domain"].items(),
                                                            *s["by_trial"].items()] if x.get("pk_rows")]
    if pk:
        out.append("  PK rows (not in the MAE columns: their units differ by analyte and measure) by fold error "
                   "predicted / observed; AAFE = 10^mean|log10 fold|:")
        out += [f"    {label}: {text.removeprefix('PK: ')}" for label, text in pk]
    hr = [(label, format_hazard_ratio_summary(x)) for label, x in
          [("all trials", s["overall"]), *s["by_domain"].items(), *s["by_trial"].items()] if x.get("hazard_ratio_rows")]
    if hr:
        out.append("  relapse hazard ratios (not in the MAE columns) by fold error predicted / observed:")
        out += [f"    {label}: {text.removeprefix('hazard ratios: ')}" for label, text in hr]
    shares = [(label, x) for label, x in [("all trials", s["overall"]), *s["by_domain"].items(),
                                           *s["by_trial"].items()] if x.get("share_rows")]
    if shares:          # randomized_fraction, followed_fraction: who went on to a later phase, not outcomes
        out.append("  share rows (randomized_fraction, followed_fraction; not in the rate columns or the floors):")
        out += [f"    {label}: MAE {x['mae_share_percentage_points']:.1f} pp over {x['share_rows']} row(s)"
                for label, x in shares]
    floors = format_floors(s["overall"])
    if floors:
        out.append(f"  On these rows {floors}.")
    if q.interval:
        out.append("  " + q.interval)
    for t in q.failed:
        out.append(f"  FAILED {t.name}: {t.problem}")
    return "\n".join(out)


def in_sample_lines(q: ExternalQualification) -> list[str]:
    """One line per trial of the folder whose results are calibration rows, after a line counting them (none
    when no trial is)."""
    inside = [t for t in q.trials if t.in_calibration]
    if not inside:
        return []
    what = ("calibration trials" if all(in_sample_kind(t) == "a calibration trial" for t in inside)
            else "calibration trials or sources of the model's parameters")
    return ([f"  IN SAMPLE: {len(inside)} of {len(q.trials)} trial(s) are {what}; their rows count in "
             "the figures below but test nothing the fit has not seen"]
            + [f"  IN SAMPLE {t.name}: {t.in_calibration}" for t in inside])


def external_document(q: ExternalQualification) -> dict:
    """The JSON document (docs/contracts.md, "External qualification"): provenance, summary, trials, tidy rows.
    NaN stays NaN here; the writer (``ketasim.display.json_safe``) makes it null."""
    from .observed import drop_empty_dose_level
    from .result import ketasim_version
    from .vocabulary import NOTICE

    def files(t):
        return {key: {"file": p.name, "sha256": t.sha256.get(p.name)}
                for key, p in (("scenario", t.scenario_file), ("observed", t.observed_file)) if p is not None}

    trials = []
    for t in q.trials:
        rec = {"name": t.name, "status": "ok" if t.ok else "failed", "files": files(t),
               "in_calibration": t.in_calibration or None}
        if t.ok:
            rec.update(scenario=t.scenario_name, domain=t.domain, seed=t.seed,
                       virtual_n=t.virtual_n, scenario_n=t.scenario_n, seconds=round(t.seconds, 2),
                       interval=t.comparison.attrs.get("interval", ""))
        else:
            rec["reason"] = t.problem
        trials.append(rec)
    rows = []
    for r in q.rows.to_dict("records"):
        r = dict(r)
        r["time_h"] = None if r["time_h"] is None or not math.isfinite(r["time_h"]) else r["time_h"]
        drop_empty_dose_level(r)
        r["pi95"] = [r.pop("pi_low"), r.pop("pi_high")]
        if "observed_ci_low" in r:
            r["observed_ci95"] = [r.pop("observed_ci_low"), r.pop("observed_ci_high")]
        rows.append(r)
    from .model import model_id

    return {"kind": "ketasim external qualification", "fitted": False,
            "provenance": {"folder": str(q.folder), "ketasim_version": ketasim_version(), "model": model_id(),
                           "parameter_set": q.params.version, "calibration_run": q.params.calibration_run,
                           "size": q.size, "seed": q.seed, "uncertainty": q.uncertainty,
                           "between_trial": bool(q.between_trial and q.uncertainty),
                           "convention": CONVENTION, "domain_rule": DOMAIN_RULE},
            "interval": q.interval, "summary": q.summary(), "trials": trials,
            "failed": [{"name": t.name, "reason": t.problem} for t in q.failed], "rows": rows, "notice": NOTICE}


__all__ = ["find_trials", "qualify_external", "calibration_match", "trial_domain", "external_summary", "external_document",
           "format_external", "ExternalQualification", "ExternalTrial"]
