"""Application layer: what the commands do (run, print, write files), between the library and the CLI.

``ketasim.cli`` parses arguments and calls these; the library modules (``trial``, ``calibration``) hold no
printing or file-writing glue. Progress bars and printed tables live here.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

from .display import json_safe


class _Bar:
    """A text progress bar on stderr (only for an interactive terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = bool(enabled) and sys.stderr.isatty()
        self.last = -1

    def __call__(self, frac: float):
        if not self.enabled:
            return
        pct = int(frac * 100)
        if pct != self.last:
            self.last = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\rsimulating [{bar:<25s}] {pct:3d}%")
            if pct >= 100:
                sys.stderr.write("\n")
            sys.stderr.flush()


def run_trial_cli(path, *, json_out=None, report=None, size=None, seed=None, progress=True, dask=None,
                  chunk=10000, observed=None, parameters=None, patients_csv=None, worker_timeout=None, **uncertainty):
    """``uncertainty``: ``uncertainty=N, between_trial=bool`` for prediction intervals (``run_trial``'s).
    ``observed``: a published trial's CSV (``ketasim.observed``), validated before the trial runs (a file that names
    another scenario in its ``scenario`` column is refused; one that names none warns once); its comparison is
    printed after the endpoint table, added to the JSON as ``observed_comparison`` and to the report.
    ``parameters``: a parameter set file (``--parameters``; None: the installed set). ``patients_csv``: write each
    patient's ratings at the endpoint times (``TrialResult.patient_ratings``). ``worker_timeout``: with ``dask``,
    seconds the cluster may have no worker before the run stops in one line (nothing is written: the outputs are
    written after the run)."""
    from .scenario import load_scenario
    from .trial import check_trial_size, run_trial

    params = _parameters_option(parameters)      # a bad file: one line before anything runs
    sc = load_scenario(path)
    check_trial_size(sc, size, "--size" if size else None)     # before reading --observed or running
    if patients_csv is not None:
        from .errors import InputError
        from .trial import reports_pk_only
        from .vocabulary import DEFAULT_MEASURES

        if reports_pk_only(sc):
            # it wrote the rating model's MADRS of PK volunteers at the last sampling time, marked endpoint = 1, in a
            # trial whose table has no rating at all (s50 H3)
            measures = (sc.endpoints.measures if sc.endpoints else None) or DEFAULT_MEASURES
            raise InputError(f"--patients-csv: this trial reports only PK endpoints (endpoints.measures: "
                             f"{', '.join(measures)}), so it has no ratings to write; each patient's NCA values: "
                             "TrialResult.pk in Python, or `ketasim simulate SCENARIO --pk-json FILE`")
    obs = None
    if observed is not None:
        from .observed import read_observed

        obs = read_observed(observed, sc)          # a bad file stops here: nothing run, nothing written
        if not (obs["scenario"] != "").any():      # another trial's file whose arms and times match reads too
            import warnings

            from .errors import ObservedWarning
            from .observed import untied_warning

            warnings.warn(untied_warning(f"--observed {Path(str(observed)).name}", sc), ObservedWarning, stacklevel=2)
    warn_cumulative_anesthetic(sc, params)          # here, before --observed's note; run_trial's own check is off
    total = (size or sc.population.size) * len(sc.arms)
    if uncertainty:
        uncertainty["log"] = _stderr
    if dask:
        from .distributed import TextProgress, dask_run

        with dask_run(dask, worker_timeout) as ex:
            tr = run_trial(sc, params, n=size, seed=seed, progress=TextProgress("trial (dask)", progress),
                           chunk=chunk, executor=ex, anesthetic_check=False, **uncertainty)
    else:
        bar = _Bar(progress and total >= 2000)
        tr = run_trial(sc, params, n=size, seed=seed, progress=bar, chunk=chunk, anesthetic_check=False,
                       **uncertainty)
    comparison = None
    if obs is not None:
        from .observed import compare_observed

        comparison = compare_observed(tr, obs)
    # the table, a published trial's comparison, the files' lines, then the notice (as simulate, plan, sensitivity):
    # the comparison and the files came after the notice
    print(tr.format_table(notice=False))
    if comparison is not None:
        from .observed import format_observed

        print(format_observed(comparison, Path(str(observed)).name))
    if json_out:
        from .io import atomic_write_text

        doc = tr.to_dict()
        if comparison is not None:
            from .observed import observed_block

            doc["observed_comparison"] = observed_block(comparison, Path(str(observed)).name)
        atomic_write_text(json_out, json.dumps(json_safe(doc), indent=1, allow_nan=False))
        print(f"wrote {json_out}")
    if patients_csv:
        tr.patient_ratings_to_csv(patients_csv)
        print(f"wrote {patients_csv}")
    if report:
        from .report import trial_report

        trial_report(tr, report, observed=comparison)
        print(f"wrote {report}")
    from .vocabulary import NOTICE

    print(NOTICE)
    return tr


def warn_cumulative_anesthetic(sc, params=None, *, experiment=None, record_source: str | None = None,
                               record_weight_kg: float | None = None, field: str | None = None) -> None:
    """Doses of an arm that add up to the anesthetic range (none alone in it) warn (DoseWarning) as one anesthetic
    dose warns when the scenario is read: ``summary.cumulative_anesthetic_arms``, which simulates each arm's typical
    patient on its own grid around the doses (not the output grid: a daily grid missed every peak). One function for
    ``simulate`` and ``trial`` (R4-2). ``record_source``: the scenario is a record's (``simulate --events``), whose
    warning names the file, not the 'arms.record' it became, and whose doses alone in the anesthetic range (warned
    when it was read) are left out rather than silencing the others (``summary.without_anesthetic_doses``);
    ``record_weight_kg``: that record's WT (kg), at which its doses in mg are judged, as its rows were when it was
    read (its scenario's dose lines alone are judged at the 70-kg reference weight). ``field``: what the message names instead of the arm ('--dose' for the quick form, whose
    warning named 'arms.racemic-ketamine', a YAML path the user never wrote)."""
    import warnings

    from .errors import DoseWarning
    from .summary import cumulative_anesthetic_arms, record_message, without_anesthetic_doses

    if record_source is not None:       # a record's dose alone in the range does not silence its others (s45 T4)
        sc = without_anesthetic_doses(sc, record_weight_kg)
        if sc is None:
            return
    for arm, msg in cumulative_anesthetic_arms(sc, params, experiment=experiment, record_weight_kg=record_weight_kg):
        if record_source is not None:
            msg = record_message(msg, Path(record_source).name)
        elif field is not None and msg.startswith(f"arms.{arm}: "):
            msg = f"{field}: " + msg[len(f"arms.{arm}: "):].replace("together its doses", "together the doses", 1)
        warnings.warn(msg, DoseWarning, stacklevel=2)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def between_trial_cli(path=None, *, size=200, seed=20261121):
    """Estimate the between-trial SDs under the set at ``path`` (default: the package's) and store them in it."""
    from .calibration import store_between_trial

    dest, block = store_between_trial(path, size=size, seed=seed, log=_stderr)
    print("between-trial SDs (transform scale): " + ", ".join(f"{e} {v:.3f}" for e, v in block["tau"].items()))
    print(f"stored in {dest} (between_trial; for calibration run {block['calibration_run']!r})")
    return block


def calibrate_cli(*, out=None, size=300, seed=20261121, max_evaluations=400, start="current", dask=None,
                  names=None, directions=True, row_weights="random-effects", restarts=0, worker_timeout=None):
    """Fit and write the parameter set to ``out`` (never over the package's default set: installing a new default
    is the explicit step ``ketasim install-parameters FILE``). ``names`` (comma-separated free parameters): a partial
    refit of those parameters and the adverse-event stage, the others held at the default set's values; the
    written set is the default set with the refitted values, the run recorded in ``provenance.refits``.
    ``worker_timeout``: with ``dask``, seconds the cluster may have no worker before the fit stops in one line
    (``out`` is written only when the fit ends)."""
    from .calibration import (DEFAULT_CALIBRATION_OUT, FITTED, MAX_RESTARTS, MIDAZOLAM_SUSTAINED_MAX,
                              MIN_CALIBRATION_SIZE, PLATEAU_RATIO_MAX, ROW_WEIGHTS, SCALE_FIXED, SERIES_PERSISTENCE_MIN_D, calibrate,
                              default_free_parameters_path, write_parameter_set, write_refit)
    from .distributed import dask_run
    from .errors import InputError

    path = Path(out or DEFAULT_CALIBRATION_OUT)
    if path.resolve() == Path(str(default_free_parameters_path())).resolve():
        raise InputError("--out: this is the shipped default parameter set; write elsewhere, then install it with "
                         "`ketasim install-parameters FILE`")
    from .io import check_output
    from .limits import check_choice, check_int, check_seed

    check_int(restarts, "--restarts", lo=0, hi=MAX_RESTARTS)
    if str(start).strip().lower() == "none":
        if not restarts:
            raise InputError("--start none: only with --restarts N (the N starts drawn from the prior alone)")
        kinds = ["none"]
    else:
        items = [k.strip() for k in str(start).split(",") if k.strip()]
        if any(k.lower() == "none" for k in items):
            raise InputError(f"--start: {start!r}: 'none' stands alone (--start none --restarts N: the prior draws "
                             "alone)")
        kinds = [check_choice(k, "--start", ("current", "prior"), quote=True) for k in items]
    if not kinds:
        raise InputError("--start: give 'current', 'prior' or both, e.g. prior,current")
    if len(set(kinds)) != len(kinds):
        raise InputError(f"--start: {start!r} names a start twice")
    start = ",".join(kinds)
    check_int(size, "--size", lo=MIN_CALIBRATION_SIZE, hi=100_000)
    check_seed(seed, "--seed")
    check_int(max_evaluations, "--max-evaluations", lo=1, hi=100_000)
    chosen = None
    if names:
        chosen = [n.strip() for n in str(names).split(",") if n.strip()]
        bad = [n for n in chosen if n not in FITTED or n in SCALE_FIXED]
        if bad or not chosen:
            allowed = ", ".join(n for n in FITTED if n not in SCALE_FIXED)
            raise InputError(f"--names: {', '.join(bad) or 'empty'} is not a fitted free parameter (one of: {allowed})")
    row_weights = check_choice(row_weights, "--row-weights", ROW_WEIGHTS)
    if ("prior" in kinds or "none" in kinds) and chosen:
        raise InputError(f"--names: a partial refit starts from the current set (--start current, not {start}; "
                         "--restarts may add starts drawn from the prior)")
    check_output(path, DEFAULT_CALIBRATION_OUT, "--out")     # before minutes of fitting
    with dask_run(dask, worker_timeout, lost="the fit is lost",
                  written=f"nothing was written ({path} is written when the fit ends)") as ex:
        new, report = calibrate(size=size, seed=seed, max_evaluations=max_evaluations, start=start, executor=ex,
                                names=chosen, laplace=not chosen, directions=directions, row_weights=row_weights,
                                restarts=restarts)
    if chosen:
        command = (f"ketasim calibrate --names {','.join(chosen)} --size {size} --seed {seed} "
                   f"--max-evaluations {max_evaluations}" + (f" --restarts {restarts}" if restarts else "")
                   + ("" if directions else " --no-directions")
                   + (f" --row-weights {row_weights}" if row_weights != "random-effects" else "") + f" --out {path}")
        write_refit(default_free_parameters_path(), new, report, path, command)
    else:
        write_parameter_set(new, report, path)
    print(f"objective {report['objective_start']:.1f} -> {report['objective']:.1f} in {report['evaluations']} "
          f"evaluations ({report['seconds']:.0f} s); wrote {path}")
    print(f"calibration run: {report['calibration_run']}")
    if len(report["starts"]) > 1:
        print("starts (the optimiser's end before the adverse-event stage: J, minimised objective): " + "; ".join(
            f"{r['start']} {r['objective']:.1f}, {r['objective_minimised']:.1f}" if "error" not in r
            else f"{r['start']} failed ({r['error']})" for r in report["starts"]) + f"; kept: {report['start']}")
    elif report["starts"][0]["start"].startswith("prior draw"):
        print(f"start: {report['start']}, minimised objective {report['starts'][0]['objective_minimised']:.1f} "
              "(compare it with the other parts of a split run)")
    if report.get("directions"):
        print("literature directions at the fit: " + ", ".join(f"{k} {v:.2f}" for k, v in report["directions"].items())
              + f" (limits: < {MIDAZOLAM_SUSTAINED_MAX:g} points, > {SERIES_PERSISTENCE_MIN_D:g} days"
              + (f", <= {PLATEAU_RATIO_MAX:g}x" if "dose_plateau_ratio" in report["directions"] else "") + ")")
    print(f"check it: ketasim qualify --parameters {path}; store its between-trial SDs and posterior draws: ketasim "
          f"between-trial {path}; ketasim posterior-draws {path}; make it the default: ketasim install-parameters "
          f"{path}")


def _parameters_option(path, option: str = "--parameters"):
    """``--parameters FILE`` (None: the installed set): one line naming the option for a file that is missing or is
    not a parameter set written by ``ketasim calibrate`` (was 'free_path: ...' or a JSON traceback). ``option``
    names the option in the message (``sensitivity --parameter-set``: its ``--parameters`` selects names)."""
    from .errors import InputError, KetasimError, ParameterSetError
    from .parameters import load_parameters

    if path is None:
        return load_parameters()
    if not Path(str(path)).is_file():
        what = "is a directory, not a file" if Path(str(path)).is_dir() else "no such file"     # said 'no such file'
        raise InputError(f"{option}: {path}: {what} (a parameter set written by `ketasim calibrate`)")
    try:
        from .calibration import check_parameter_domains

        params = load_parameters(str(path))
        check_parameter_domains(params, path)
        return params
    except ParameterSetError as e:          # names the file and what it is instead
        raise InputError(f"{option}: {e}") from None
    except (KetasimError, OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InputError(f"{option}: {path} is not a parameter set written by `ketasim calibrate` "
                         f"({type(e).__name__}: {str(e)[:120]})") from None


def qualify_cli(*, cross_validate_=False, cv_json=None, **options):
    """``ketasim qualify`` (without --external). With --cross-validate the run holds ``CV_JSON.lock`` from its start
    (before the in-sample qualification's minutes) to its end: a second run writing the same --cv-json and its
    checkpoint stops at once with one line, instead of the two rewriting each other's fits."""
    import contextlib

    from .io import exclusive_lock

    with exclusive_lock(cv_json, "--cv-json") if cross_validate_ and cv_json else contextlib.nullcontext():
        return _qualify_cli(cross_validate_=cross_validate_, cv_json=cv_json, **options)


def _qualify_cli(*, html=None, size=2000, seed=11, parameters=None, cross_validate_=False, cv_json=None,
                 cv_evaluations=150, cv_size=200, parameter_draws=0, cv_method="refit", between_trial=True,
                 row_weights="random-effects", jobs=0, dask=None, worker_timeout=None):
    from .calibration import (between_trial_tau, cross_validate_newton, format_summary, interval_description,
                              qualification_html, qualification_run, qualification_summary, qualify)

    params = _parameters_option(parameters)
    tau = between_trial_tau(params, size=min(size, 300), seed=seed) if between_trial and parameter_draws > 0 else None
    # --no-between-trial without --uncertainty acts on the cross-validation only (its folds draw parameters)
    rows, skipped = qualify(params, size=size, seed=seed, parameter_draws=parameter_draws,
                            between_trial=between_trial or not parameter_draws, trial_tau=tau and tau["tau"])
    s = qualification_summary(rows)
    print(f"parameter set {params.version} ({params.calibration_run})")
    print(qualification_run(size, seed, parameter_draws))
    print(interval_description(parameter_draws, tau and tau["tau"]))
    # each row's unit, as the HTML table has it (rates, score means, SDs and mmHg stood side by side without one);
    # a rate's value is a percentage, its error percentage points
    units = {"percentage points": "%", "points": "points", "SD points": "SD points", "mmHg": "mmHg"}
    print(f"{'row':>4s}  {'observed':>9s} {'predicted':>9s}  {'95% interval':>19s}  in  {'unit':9s}  label")
    for r in rows:
        print(f"{r['row']:4d}  {r['observed']:9.2f} {r['predicted']:9.2f}  [{r['lo']:7.2f}, {r['hi']:7.2f}]  "
              f"{'y' if r['inside'] else 'n'}   {units.get(r['unit'], r['unit']):9s}  {r['label']}")
    print(f"\n{s['rows']} rows modelled, {len(skipped)} not modelled. In sample (this parameter set): {format_summary(s)}.")
    cv = None
    if cross_validate_:
        print("leave-one-trial-out cross-validation (each trial predicted by a fit that did not see it):")
        if cv_method == "refit":
            cv = _refit_cv(params, cv_json=cv_json, jobs=jobs, dask=dask, worker_timeout=worker_timeout,
                           size=cv_size, max_evaluations=cv_evaluations, qual_size=min(size, 1000), qual_seed=seed,
                           parameter_draws=max(parameter_draws, 10), between_trial=between_trial,
                           row_weights=row_weights)
        else:
            print(f"  --cv-method {cv_method}: a quick approximation of the refit (at the shipped set it lands far from "
                  "the refit's figures; docs/validation.md): quote --cv-method refit")
            cv = cross_validate_newton(params, size=cv_size, qual_size=min(size, 1000), qual_seed=seed,
                                       parameter_draws=max(parameter_draws, 10),
                                       damped_evaluations=8 if cv_method == "damped" else 0,
                                       between_trial=between_trial, row_weights=row_weights)
        cv["summary_in_sample"] = qualification_summary(cv["in_sample"])
        cv["summary_out_of_sample"] = qualification_summary(cv["out_of_sample"])
        print(f"  in sample (same procedure):  {format_summary(cv['summary_in_sample'])}")
        print(f"  out of sample:               {format_summary(cv['summary_out_of_sample'])}")
        if cv_json:
            from .io import atomic_write_text

            Path(cv_json).parent.mkdir(parents=True, exist_ok=True)
            # strict JSON: a summary without rows of a kind (e.g. mae_mmhg of a run without mmHg rows) is null, not NaN
            checkpoint = cv.pop("checkpoint", None)
            atomic_write_text(cv_json, json.dumps(json_safe(cv), indent=1, allow_nan=False))
            print(f"wrote {cv_json}")
            if checkpoint:                  # the finished fits are in cv_json now
                Path(checkpoint).unlink(missing_ok=True)
    if html:
        Path(html).parent.mkdir(parents=True, exist_ok=True)
        qualification_html(rows, skipped, s, params, html, cv=cv,
                           interval=interval_description(parameter_draws, tau and tau["tau"]),
                           run=qualification_run(size, seed, parameter_draws))
        print(f"wrote {html}")
    from .vocabulary import NOTICE

    print(NOTICE)           # last, as every command that prints results (qualify printed none)
    return rows, skipped, s


def _refit_cv(params, *, cv_json, jobs, dask, worker_timeout=None, **options):
    """``qualify --cross-validate --cv-method refit``: the 13 fits on ``jobs`` local worker processes (0: one per
    core, at most one per fit; 1: in this process) or on the ``dask`` cluster, checkpointed next to ``cv_json``
    (a rerun continues an interrupted one). Ctrl-C or SIGTERM says where the finished fits are kept, and so does
    the one line when the cluster has had no worker for ``worker_timeout`` seconds (default
    ``distributed.NO_WORKER_TIMEOUT_S``)."""
    from .calibration import cross_validate, scenario_groups
    from .distributed import NO_WORKER_TIMEOUT_S, DaskExecutor, NoWorkersError, available_cores, check_dask_address
    from .errors import Terminated

    fits = len(scenario_groups()) + 1
    workers = min(jobs or available_cores(), fits)
    executor = None
    dask = check_dask_address(dask) if dask else None
    wait = {"no_worker_timeout": worker_timeout or NO_WORKER_TIMEOUT_S}
    if dask and dask != "local":
        executor = DaskExecutor(dask, **wait)
    elif workers > 1:
        executor = DaskExecutor("local", n_workers=workers, **wait)
    print(f"  {fits} fits (each fold's and the in-sample one, from the prior)" +
          ("" if executor else ", one after another in this process") +
          f"; finished fits are checkpointed beside {cv_json}", flush=True)
    if executor is None and worker_timeout not in (None, NO_WORKER_TIMEOUT_S):
        # --jobs 1 is refused with it (cli.qualify); --jobs 0 on a one-core machine falls here: a note, not an error
        # (the same command runs on workers elsewhere)
        _stderr("note: --worker-timeout is not used: one available core, so the fits run one after another in this "
                "process (it applies to fits on workers: --jobs 2 or more, --dask)")
    try:
        return cross_validate(params, executor=executor, checkpoint=cv_json,
                              log=lambda *a: print(*a, flush=True), **options)
    except (KeyboardInterrupt, Terminated) as stop:    # Ctrl-C, or SIGTERM (kill, timeout, a batch system's stop)
        said = "interrupted" if isinstance(stop, KeyboardInterrupt) else "terminated"
        print(f"{said}: the finished fits are kept beside {cv_json} (*.partial); the same command continues "
              "from them", flush=True)
        raise
    except NoWorkersError as e:
        raise NoWorkersError(f"{'--dask' if dask else '--jobs'}: {e}; the finished fits are kept beside {cv_json} "
                             "(*.partial) and the same command continues from them") from None
    finally:
        if executor is not None:
            executor.close()


#: where ``qualify --external`` writes when no --json / --html is given
EXTERNAL_JSON = Path("out/external_qualification.json")
EXTERNAL_HTML = Path("out/external_qualification.html")


def qualify_external_cli(folder, *, json_out=None, html=None, size=2000, seed=11, parameters=None, uncertainty=0,
                         between_trial=True):
    """``ketasim qualify --external DIR``: run and compare every trial of DIR (``ketasim.external``), one line per
    trial as it finishes, then the table; write the JSON and the HTML report (each complete or absent). A trial
    that failed is one line naming its file; the others still run, and the command ends with an InputError (exit
    2) naming the failed trials after the outputs are written."""
    from .errors import InputError
    from .external import external_document, find_trials, format_external, qualify_external, trial_line
    from .io import atomic_write_text, check_output
    from .report import external_report

    json_path, html_path = (check_output(given if given is not None else default, default, option)   # before running
                            for given, default, option in ((json_out, EXTERNAL_JSON, "--json"),
                                                           (html, EXTERNAL_HTML, "--html")))
    find_trials(folder)                 # not a folder, or no trials in it: one line, before the header
    params = _parameters_option(parameters)
    print(f"qualify --external {folder}: parameter set {params.version} ({params.calibration_run}); "
          f"{size} virtual patients per arm, seed {seed}"
          + (f", {uncertainty} posterior draws" + (" x between-trial effects" if between_trial else "")
             if uncertainty else ""), flush=True)
    q = qualify_external(folder, params, size=size, seed=seed, uncertainty=uncertainty, between_trial=between_trial,
                         on_trial=lambda i, n, t: print(trial_line(i, n, t), flush=True), log=_stderr,
                         on_invalid=lambda t: print(f"invalid, will not run: {t.name}: {t.problem}", flush=True))
    print(format_external(q))
    atomic_write_text(json_path, json.dumps(json_safe(external_document(q)), indent=1, allow_nan=False))
    print(f"wrote {json_path}")
    external_report(q, html_path)
    print(f"wrote {html_path}")
    from .vocabulary import NOTICE

    print(NOTICE)           # last, as every command that prints results (qualify --external printed none)
    if q.failed:
        names = ", ".join(t.name for t in q.failed)
        raise InputError(f"qualify --external: {len(q.failed)} of {len(q.trials)} trial(s) failed ({names}; reasons "
                         f"above); the outputs cover the {len(q.trials) - len(q.failed)} that ran")
    return q
