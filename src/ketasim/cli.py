"""Command-line interface. It only parses and delegates; model logic lives in the package.

Heavy modules (numba, matplotlib, pandas) are imported inside the commands so ``ketasim --help`` is fast.
User errors print one line (``error: ...``) and exit with status 2; a traceback means a bug.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import typer
import typer.core


class _HelpGroup(typer.core.TyperGroup):
    """Plain (click) help, not typer's rich panels: in an 80-column terminal the panels left ~20 columns for the help
    text and cut option names and defaults with '…' ('--no-between-tri…', 'out/external_qualificatio…'). The command
    list shows each command's whole first sentence, wrapped (click cuts it to one line with '...')."""

    def format_commands(self, ctx, formatter):
        rows = [(name, cmd.get_short_help_str(limit=10_000)) for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(cls=_HelpGroup, add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  rich_markup_mode=None,
                  help="ketasim: ketamine therapy from the dose to the mood score. "
                       "Research and teaching tool, not medical advice.")

from .vocabulary import NOTICE  # noqa: E402  (light: no numpy)
from .errors import Terminated  # noqa: E402  (light: the base of _Terminated)
from .distributed import NO_WORKER_TIMEOUT_S as _NO_WORKER_TIMEOUT_S  # noqa: E402  (light: no dask at import)
# full lists for --help (regimen.py and population.py are light: no numba/pandas at import)
from .population import CONDITIONS as _CONDITIONS, KNOWN_COMEDICATIONS as _COMEDS, SCALES as _SCALES  # noqa: E402
from .population import SCALE_NAMES as _SCALE_NAMES  # noqa: E402
from .regimen import Drug as _Drug, Route as _Route  # noqa: E402

_DRUGS = ", ".join(d.value for d in _Drug)
_ROUTES = ", ".join(r.value for r in _Route)
_EXPERIMENTS = ("ampa_block=1 (AMPA antagonist, e.g. NBQX), mtor_block=1 (rapamycin), spine_block=1, "
                "hnk_weight=W (HNK contribution to AMPA drive), psychotherapy=1, anesthetic_state=true (the "
                "hypothesis that an anesthetic dose blocks plasticity for hours; off by default); repeat the option "
                "for several, or separate them by commas; a scenario's own experiments: stay unless a switch is set here (mtor_block=0 turns "
                "one off)")
OUTPUT_HELP = ("Default output times: every dose event, a peak window after each dose (every 5 min until the end "
               "of an infusion or for the first hour of absorption, then up to 4 h), the endpoint times, and a "
               "background step of 1 h that coarsens to 6/12/24 h as the population grows (about 300,000 rows "
               "in all); population and --typical use the same times. The quick form with one patient writes every 5 "
               "min. Change it in the scenario with "
               "'output: {every: 15 min, until: 7 d}' or 'output: [0 h, 40 min, 24 h]'.")


#: ``--worker-timeout`` of the commands whose --dask runs chunks, samples or evaluations (qualify's is the refit
#: cross-validation's): as qualify's, the same default (``distributed.NO_WORKER_TIMEOUT_S``)
_WORKER_TIMEOUT_HELP = ("With --dask: seconds the cluster may have no worker at all before the run stops (a --dask "
                        "cluster that lost every worker waited forever; nothing is written then).")


def _worker_timeout_option():
    return typer.Option(_NO_WORKER_TIMEOUT_S, "--worker-timeout", help=_WORKER_TIMEOUT_HELP)


def _check_worker_timeout(worker_timeout: float, dask) -> None:
    """``--worker-timeout`` of simulate/trial/sensitivity/calibrate: more than 0 s, and only with --dask (without it
    the run is in this process and the option would be ignored without a word, review L-6)."""
    from .distributed import check_worker_timeout
    from .errors import InputError

    check_worker_timeout(worker_timeout)
    if not dask and worker_timeout != _NO_WORKER_TIMEOUT_S:
        raise InputError("--worker-timeout: only with --dask (without it the run is in this process, with no worker "
                         "to wait for)")


def _version_callback(value: bool):
    if value:
        from . import __version__

        typer.echo(f"ketasim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                       help="Print the version and exit.")):
    """ketasim: ketamine therapy from the dose to the mood score. Research and teaching tool, not medical advice."""


_QUANTITY_OPTIONS = ("--dose", "--duration", "--every")
_UNIT_WORD = re.compile(r"^[A-Za-zµμ%][A-Za-zµμ%/.]{0,15}$")


def rejoin_quantities(args: list[str]) -> list[str]:
    """``--dose 0.5 mg/kg`` typed without quotes arrives as two words; join a number and a following unit
    word (``mg/kg``, ``min``, ``d``) after --dose/--duration/--every, unless that word is an existing file."""
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        out.append(a)
        opt, eq, inline = a.partition("=")
        if opt in _QUANTITY_OPTIONS and i + (1 if eq else 2) < len(args):
            value, unit = (inline, args[i + 1]) if eq else (args[i + 1], args[i + 2])
            if (re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value) and _UNIT_WORD.match(unit)
                    and not unit.lower().endswith((".yaml", ".yml")) and not Path(unit).exists()):
                out[-1] = f"{opt}={value} {unit}" if eq else a
                if not eq:
                    out.append(f"{value} {unit}")
                i += 2 if eq else 3
                continue
        i += 1
    return out


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


class _ClosedPipeSafe:
    """Standard output that a reader may close early (``ketasim trial X --json out.json | head``): the first write
    to the closed pipe made the CLI framework stop with exit status 1 and no message, before the files asked for
    were written (the table is printed first). The rest of the text is dropped instead and the command completes."""

    def __init__(self, stream):
        self._stream = stream
        self.closed_pipe = False

    def _closed(self):
        import os

        self.closed_pipe = True
        try:        # the interpreter's last flush of the real stream would fail again ('Exception ignored ...')
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text):
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._closed()
        return len(text)

    def flush(self):
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._closed()

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _warnings_renamed(rename):
    """Warnings raised inside are shown after it with ``rename(message)`` (e.g. the option the user typed instead of
    the YAML path it became)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        warnings.warn_explicit(rename(str(w.message)), w.category, w.filename, w.lineno)


#: The words an on/off switch of --experiment accepts (a bool field of VirtualExperiment, e.g. anesthetic_state).
_BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _quick_form(drug, route, dose, **kw):
    """``quick_scenario`` for a command's quick form: its errors and dose warnings name the option the user typed
    (--dose), not the YAML path it became."""
    from .errors import InputError
    from .scenario import quick_flag_message, quick_scenario

    try:
        with _warnings_renamed(quick_flag_message):
            return quick_scenario(drug, route, dose, **kw)
    except InputError as e:
        raise type(e)(quick_flag_message(str(e))) from None


def _write_each(*outputs) -> None:
    """Each (path, write) whose path was given: ``write(path)``, then 'wrote PATH' (after the printed summary, before
    the notice: the order of every command)."""
    for path, write in outputs:
        if path:
            write(path)
            typer.echo(f"wrote {path}")


def _comma_list(values) -> tuple:
    """A repeated option's values, each of which may hold several separated by commas ('clarithromycin, itraconazole'
    was refused as one unknown comedication)."""
    return tuple(part.strip() for v in values or () for part in str(v).split(",") if part.strip())


def _experiment(values: Optional[List[str]], base=None):
    """The --experiment switches; ``base`` (the scenario's ``experiments:``) keeps the switches not typed: a scenario
    with mtor_block 1 run with --experiment spine_block=1 lost its mTOR block without a word."""
    from .engine import EXPERIMENT_SWITCHES, VirtualExperiment
    from .errors import InputError

    if not values:
        return None
    on_off = {f.name for f in dataclasses.fields(VirtualExperiment) if f.type in (bool, "bool")}
    kw = {}
    # 'ampa_block=1,mtor_block=1' (as --limits and --pk-times take lists) said "'1,mtor_block=1' is not a number"
    values = list(_comma_list(values))
    for v in values:
        if "=" not in v:
            v = f"{v}=1"
        k, _, x = v.partition("=")
        k = k.strip().lower().replace("-", "_")      # any case, as the other choice options
        if k not in EXPERIMENT_SWITCHES:
            raise InputError(f"--experiment: unknown switch {k!r}; use {', '.join(EXPERIMENT_SWITCHES[:-1])} "
                             f"or {EXPERIMENT_SWITCHES[-1]}")
        if k in on_off:                   # an on/off hypothesis (anesthetic_state): float() made it 1.0, refused
            word = x.strip().lower()
            if word not in _BOOLEAN_WORDS:
                raise InputError(f"--experiment {k}: use true or false (or 1 / 0), got {x!r}")
            kw[k] = _BOOLEAN_WORDS[word]
            continue
        if k.endswith("_block") and x.strip().lower() in _BOOLEAN_WORDS:
            # a block is a fraction (0-1): 'mtor_block=yes' (as anesthetic_state=yes is taken) said "'yes' is not a
            # number"; on/yes/true are a full block, off/no/false none
            kw[k] = 1.0 if _BOOLEAN_WORDS[x.strip().lower()] else 0.0
            continue
        try:
            kw[k] = float(x)
        except ValueError:
            raise InputError(f"--experiment {k}: {x!r} is not a number") from None
    try:
        return VirtualExperiment(**({**dataclasses.asdict(base), **kw} if base is not None else kw))
    except InputError as e:
        raise type(e)(re.sub(r"^experiments\.(\w+):", r"--experiment \1:", str(e))) from None


@app.command(help="Simulate a scenario (or a quick one-line regimen) and write trajectories, a figure or a "
                  "report.\n\n" + OUTPUT_HELP)
def simulate(
    scenario: Optional[Path] = typer.Argument(None, help="Scenario YAML file (or use --drug/--route/--dose)."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write trajectories (one row per arm x subject x time)."),
    parquet: Optional[Path] = typer.Option(None, "--parquet", help="Write trajectories as Parquet."),
    patients_csv: Optional[Path] = typer.Option(None, "--patients-csv", help="Write each patient's covariates as CSV "
                                                "(one row per arm x subject, joined to the trajectories on arm and "
                                                "subject: weight_kg, age_years, female, bdnf_genotype_factor, "
                                                "crp_mg_l, baseline_score, baseline_rating in scale points); "
                                                "provenance and units beside it as FILE.provenance.json."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the cascade figure (PNG)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report."),
    drug: Optional[str] = typer.Option(None, help=f"Quick form: drug, one of {_DRUGS}."),
    route: Optional[str] = typer.Option(None, help=f"Quick form: route, one of {_ROUTES}."),
    dose: Optional[str] = typer.Option(None, help="Quick form: dose with unit, e.g. '56mg' or '0.5 mg/kg', or an "
                                                  "infusion rate with --duration, e.g. '0.5 mg/kg/h' (dose = rate "
                                                  "x duration)."),
    duration: Optional[str] = typer.Option(None, help="Quick form: infusion duration, e.g. '40 min' (default 40 min "
                                                     "for a dose; required with a rate)."),
    every: Optional[str] = typer.Option(None, help="Quick form: dosing interval, e.g. '3.5 d'."),
    count: Optional[int] = typer.Option(None, help="Quick form: number of doses (default 1; needed with --every)."),
    weight: Optional[float] = typer.Option(None, help="Quick form: body weight (kg; default 80)."),
    age: Optional[float] = typer.Option(None, help="Quick form: age (years; default 45; 12-100, a population's mean "
                                                   "with --size: 18-90)."),
    age_range: Optional[str] = typer.Option(None, "--age-range", help="Quick form: age inclusion range in years, e.g. "
                                                                      "65-86 (ages sampled from the normal truncated "
                                                                      "to it; mean --age, else the range's middle)."),
    sex: Optional[str] = typer.Option(None, help="Quick form: female or male (or F / M; default female)."),
    comedication: Optional[List[str]] = typer.Option(
        None, help=f"Quick form: a comedication, one of {', '.join(_COMEDS)}; repeat for several (or separate them by "
                   "commas). An inducer "
                   "may state its pretreatment, e.g. 'rifampicin for 5 d' (without one: steady state), and when it "
                   "was stopped: 'rifampicin for 14 d stopped 3 d ago'; an inhibitor likewise: 'clarithromycin for 2 d' "
                   "(builds up as it destroys the enzyme; without one: steady state), 'clarithromycin stopped 2 d ago'."),
    baseline: Optional[float] = typer.Option(None, help="Quick form: baseline score on the scale (default: the "
                                                        "scale's usual trial baseline, MADRS 33)."),
    scale: Optional[str] = typer.Option(None, help="Quick form: rating scale, one of "
                                                   + ", ".join(f"{k} ({_SCALE_NAMES[k]})" for k in _SCALES)
                                                   + "; also written as HAM-D24, IES-R, MADRS-SI, BSSI, PCL-5, GAD-7, HADS-A, PHQ-9. Without "
                                                     "--condition, the condition the scale rates."),
    condition: Optional[str] = typer.Option(None, help=f"Quick form: condition, one of {', '.join(_CONDITIONS)} "
                                                       "(default: what --scale rates, else depression; its default "
                                                       "scale when --scale is not given)."),
    no_recurrence: bool = typer.Option(False, "--no-recurrence", help="Quick form (and --events): no new depressive "
                                       "episode on continued treatment (population.recurrence: false). By default "
                                       "each patient has a recurrence time (12-month probability 0.4645 in "
                                       "treatment-resistant depression, STAR*D; the typical patient's is the "
                                       "median, 405 d), after which the score returns towards baseline within "
                                       "weeks despite the doses (trajectory column episode)."),
    re_response: bool = typer.Option(False, "--re-response", help="Quick form (and --events): a hypothesis, off by "
                                     "default: active sessions after a new episode's onset relieve it again in part, "
                                     "at the pace consolidation built the effect before (population.re_response: "
                                     "true; needs recurrence). Off by default because it was slightly worse out of "
                                     "sample in the refit cross-validation and the calibration trials have no "
                                     "maintenance phase to test it."),
    size: Optional[int] = typer.Option(None, help="Number of virtual patients (overrides the scenario); one "
                                                   "patient (1, the quick form's default) is the typical patient."),
    seed: Optional[int] = typer.Option(None, help="Random seed (overrides the scenario)."),
    typical: bool = typer.Option(False, help="Simulate only the typical patient of each arm."),
    experiment: Optional[List[str]] = typer.Option(None, help=f"Virtual experiment: {_EXPERIMENTS}."),
    events: Optional[Path] = typer.Option(None, "--events", help="A patient record (NONMEM-style CSV or YAML): "
                                                                  "simulate its doses for its patient."),
    patient_id: Optional[str] = typer.Option(None, "--id", help="With --events: the patient to use when the record "
                                                                 "holds several IDs."),
    dask: Optional[str] = typer.Option(None, "--dask", help="Run chunks on Dask: 'local' or tcp://HOST:PORT."),
    worker_timeout: float = _worker_timeout_option(),
    chunk: Optional[int] = typer.Option(None, "--chunk", min=1, help="Patients per chunk; streams the files (bounded memory)."),
    pk: bool = typer.Option(False, "--pk", help="Also print the non-compartmental PK of the simulated patients (typical "
                                                "patient or population), per arm and analyte: Cmax, Tmax, AUC0-t "
                                                "(linear-up/log-down), AUC0-inf, t1/2 (lambda_z by log-linear "
                                                "regression, adjusted R^2 rule) on the scenario's endpoints.pk_sampling "
                                                "schedule, default 5, 10, 15, 30, 45 min, 1, 1.5, 2, 3, 4, 6, 8, 12, "
                                                "24 h and the end of an infusion after the first dose, venous plasma; "
                                                "geometric mean and CV %, "
                                                "Tmax median and range."),
    pk_json: Optional[Path] = typer.Option(None, "--pk-json", help="Write the PK summary and every patient's NCA "
                                                                   "values as JSON (implies --pk)."),
    pk_dose: Optional[str] = typer.Option(None, "--pk-dose", help="Which dose the PK describes: first (default), last "
                                                                  "(of a series) or both."),
    pk_sample: Optional[str] = typer.Option(None, "--pk-sample", help="venous (default, as most studies sample) or "
                                                                      "arterial plasma."),
    pk_times: Optional[str] = typer.Option(None, "--pk-times", help="Sampling times after the dose, comma-separated "
                                                                    "(e.g. '10 min,30 min,1 h,2 h,4 h,8 h,24 h'); "
                                                                    "default the scenario's endpoints.pk_sampling, "
                                                                    "else the schedule above."),
    pk_exact: bool = typer.Option(False, "--pk-exact", help="Also NCA of the same patients on a 1-minute grid (to 14 "
                                                            "days after a last dose): what the schedule misses."),
    parameters: Optional[Path] = typer.Option(None, "--parameters", help="A parameter set file written by `ketasim "
                                              "calibrate` (default: the installed set)."),
):
    """Simulate a scenario (or a quick one-line regimen) and write trajectories, a figure or a report.

    Large populations are simulated in chunks and streamed to --parquet/--csv (bounded memory); what cannot be
    done (no file for trajectories that do not fit in memory, not enough disk) is refused before any work."""
    import numpy as np

    from .engine import simulate as run
    from .plotting import plot_cascade
    from .scenario import load_scenario

    _check_options(size, seed, {"--csv": csv, "--parquet": parquet, "--patients-csv": patients_csv, "--plot": plot,
                                "--report": report, "--pk-json": pk_json},
                   inputs=(("the scenario", scenario), ("--events", events), ("--parameters", parameters)))
    _check_worker_timeout(worker_timeout, dask)
    _check_kinds({"--csv": csv, "--parquet": parquet, "--patients-csv": patients_csv, "--report": report,
                  "--pk-json": pk_json})
    if plot is not None:
        from .io import figure_format

        figure_format(plot, "--plot")
    if patient_id is not None and events is None:
        from .errors import InputError

        raise InputError("--id: chooses a patient of an --events record; give --events FILE")
    if events is not None:
        from .errors import InputError
        from .record import read_record

        if scenario is not None or drug or route or dose:
            raise InputError("simulate: use either --events, a SCENARIO file or --drug/--route/--dose")
        if not Path(events).exists():       # said '/x.csv: no such file', naming no option
            raise InputError(f"--events: {events}: no such file (a patient record: NONMEM-style CSV or YAML)")
        if Path(events).is_dir():
            raise InputError(f"--events: {events}: is a directory, not a patient record")
        # the record's error for two IDs says 'choose one with --id': simulate had no --id
        record = read_record(events, patient_id=patient_id)
        data = record.to_scenario_dict(size=size or 1)
        if record.observations or (size or 1) > 1:
            # the output reads like this patient's forecast ("MADRS from 40.0: ... 24.0 h 18.1" beside an observed
            # 13): say that the observations did not inform it; with --size N it printed 'typical patient (the
            # population's mean covariates ...)' and a population without saying whose covariates they are
            who = ("with the population's typical random effects" if (size or 1) == 1 else
                   f"for {size} virtual patients (the population's spread of random effects)")
            from .population import DEFAULT_BASELINE, scale_name

            # `plan` refuses a record on a scale without a sourced default baseline (pcl5, iesr, mssi): the hint
            # sent a PCL-5 record's user to a command that stops with "has none with a published source"
            plan = (f"`ketasim plan {events}` fits them and forecasts this patient" if record.scale in DEFAULT_BASELINE
                    else f"`ketasim plan` cannot fit them: {scale_name(record.scale)} has no published baseline for "
                         "its prior")
            fitted = (f"; its {len(record.observations)} observed values are not fitted ({plan})"
                      if record.observations else "")
            typer.echo(f"patient {record.id}: the record's doses and covariates {who}{fitted}")
        if no_recurrence:
            data["population"]["recurrence"] = False
        if re_response:
            data["population"]["re_response"] = True
        try:
            sc = record.to_scenario(data)       # at its WT; the record's doses warned when read (row and column)
        except InputError as e:         # name the option, not the YAML path it became
            raise type(e)(str(e).replace("population.re_response", "--re-response", 1)) from None
    elif scenario is None:
        if not (drug and route):
            from .errors import InputError

            raise InputError("simulate: give a SCENARIO file or --drug and --route (and --dose)")
        sc = _quick_form(drug, route, dose, duration=duration, every=every, count=count,
                         weight_kg=weight,          # None: 80 kg (one patient: mg doses judged at 80 kg)
                         size=size or 1, age_years=age, sex=sex, comedications=_comma_list(comedication),
                         age_range=age_range, recurrence=not no_recurrence, re_response=re_response,
                         baseline=baseline, scale=scale, condition=condition,
                         output_every="5 min" if (size or 1) == 1 else None)   # one patient: every 5 min
    else:
        for flag, given, yaml_line in (("--no-recurrence", no_recurrence, "recurrence: false"),
                                       ("--re-response", re_response, "re_response: true")):
            if given:
                from .errors import InputError

                raise InputError(f"{flag}: a quick-form option; with a scenario file write '{yaml_line}' "
                                 f"under 'population:' in {scenario}")
        quick = [n for n, v in (("--drug", drug), ("--route", route), ("--dose", dose), ("--age", age),
                                ("--sex", sex), ("--comedication", comedication), ("--baseline", baseline),
                                ("--scale", scale), ("--condition", condition), ("--duration", duration),
                                ("--every", every), ("--count", count), ("--weight", weight),
                                ("--age-range", age_range))
                 if v is not None and v != []]
        if quick:
            from .errors import InputError

            if (dose and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", dose.strip())
                    and not scenario.exists() and not str(scenario).lower().endswith((".yaml", ".yml"))):
                raise InputError(f"--dose: write the dose with its unit as one word or in quotes, e.g. "
                                 f"--dose '{dose} {scenario}' (got {dose!r} and {str(scenario)!r})")
            if (not scenario.exists() and _UNIT_WORD.match(str(scenario))
                    and not str(scenario).lower().endswith((".yaml", ".yml"))):
                raise InputError(f"{scenario}: no such scenario file; it looks like a unit: write a quantity as "
                                 "one word or in quotes (e.g. --dose '0.5 mg/kg'); --weight, --age and --baseline "
                                 "take plain numbers (kg, years, points)")
            if (age is not None and not scenario.exists()
                    and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)", str(scenario).strip())):
                # `--age 30 40`: the second number became SCENARIO
                raise InputError(f"--age: one age in years (got {age:g} and {str(scenario)!r}); for a range of ages "
                                 f"write --age-range '{age:g}-{scenario}'")
            raise InputError(f"simulate: use either a SCENARIO file or the quick form ({', '.join(quick)}), not both")
        sc = load_scenario(scenario)
        if getattr(sc, "patient", None) is not None and size not in (None, 1):   # was ignored: one patient ran
            from .errors import InputError
            from .limits import stated_patient_size_error

            raise InputError(stated_patient_size_error(str(scenario), size))
    # the quick form's cumulative warning names --dose, not the arm its line became ('arms.racemic-ketamine')
    quick_field = "--dose" if scenario is None and events is None else None
    exp = _experiment(experiment, getattr(sc, "experiment", None))
    # PK options are checked before anything is simulated
    pk_plan = _pk_plan(sc, pk_dose, pk_sample, pk_exact, pk_times) if (pk or pk_json or pk_dose or pk_sample or pk_exact
                                                                     or pk_times is not None) else None
    from .app import _parameters_option, warn_cumulative_anesthetic

    params = _parameters_option(parameters)      # the installed set without --parameters
    if typical and size not in (None, 1):       # --typical ran one patient per arm and --size 100 went unused
        from .limits import check_typical_size

        check_typical_size(typical, size, field="--size", flag="--typical")
    typical = typical or (size or sc.population.size) == 1      # one patient means the typical patient
    # one output grid for the population and its typical patient (see OUTPUT_HELP)
    times = sc.output_times_h(size or sc.population.size)
    if not typical:
        from .limits import check_scenario_run
        from .scale import check_feasible, estimate, needs_streaming

        # the run's time before its files' size: a population past KETASIM_MAX_SECONDS was refused for the disk or
        # warned of a 38 GB file before its refusal (streamed or not, the run checks it again with its chunks)
        check_scenario_run(sc, size or sc.population.size, times, field="--size" if size else "population.size",
                           chunk_patients=1, tables=False)
        est = estimate(len(sc.arms), size or sc.population.size, times.size)
        check_feasible(est, outputs={"csv": csv, "parquet": parquet, "report": report, "plot": plot,
                                     "patients_csv": patients_csv})
        if dask or chunk or needs_streaming(est):
            if report and (dask or chunk):      # the streamed run wrote no report and said nothing
                from .errors import InputError

                opt = "--dask" if dask else "--chunk"
                raise InputError(f"--report: not with {opt} (a streamed population is not kept in memory for a "
                                 f"report); leave out {opt} (a population that fits in memory is reported without "
                                 "it) or use `ketasim trial` for endpoints")
            wrote = _simulate_streamed(sc, params, size, seed, exp, chunk, csv, parquet, plot, dask, times,
                                       patients_csv, record_source=str(events) if events is not None else None,
                                       record_weight_kg=record.weight_kg if events is not None else None,
                                       field=quick_field, worker_timeout=worker_timeout)
            if pk_plan:
                wrote += _print_pk(sc, params, size, seed, False, exp, pk_json, pk_plan)
            for line in wrote:              # the summary first, then what was written, then the notice
                typer.echo(line)
            typer.echo(NOTICE)
            return
    # anesthetic_check=False: warn_cumulative_anesthetic below warns once for the three runs (naming a record's file)
    result = run(sc, params, n=size, seed=seed, experiment=exp, typical=typical, output_times_h=times,
                 anesthetic_check=False)
    n = result.runs[0].patients.n
    typ = result if typical else run(sc, params, typical=True, experiment=exp, output_times_h=times,
                                     anesthetic_check=False)
    # the figure, report and summary read the typical patient on a fine grid (cheap: one patient)
    fine_times = np.union1d(times, _fine_times(float(times[-1])))
    typ_fine = run(sc, params, typical=True, experiment=exp, output_times_h=fine_times, anesthetic_check=False)
    warn_cumulative_anesthetic(sc, params, experiment=exp, record_source=str(events) if events is not None else None,
                               record_weight_kg=record.weight_kg if events is not None else None, field=quick_field)
    from .scale import monitored_peaks

    # the summary first, then 'wrote FILE' lines, then the notice: as trial, plan, sensitivity and qualify (the
    # files' lines came first here and the PK after them)
    _print_run_lines(sc, exp, typ_fine, {r.arm.name: monitored_peaks(r) for r in result.runs} if n > 1 else None,
                     {r.arm.name: r.dose_levels[:, -1] for r in result.runs
                      if r.dose_levels is not None and r.dose_levels.size})
    pk_docs = _pk_summary(sc, params, size, seed, typical, exp, pk_plan) if pk_plan else None
    if csv:
        result.to_csv(csv)
        typer.echo(f"wrote {csv}")
    if parquet:
        result.to_parquet(parquet)
        typer.echo(f"wrote {parquet}")
    if patients_csv:
        result.patients_to_csv(patients_csv)
        typer.echo(f"wrote {patients_csv}")
    if plot:
        from .summary import scenario_title

        pop = result.trajectories() if n > 1 else None
        plot_cascade(typ_fine.trajectories(), pop, plot,
                     title=f"{scenario_title(sc)}: typical patient" + (" and 5-95% band" if pop is not None else ""),
                     notice=NOTICE, scale=sc.population.scale)
        typer.echo(f"wrote {plot}")
    if report:
        from .report import simulation_report

        simulation_report(result, typ_fine, report,
                          record_source=Path(str(events)).name if events is not None else None)
        typer.echo(f"wrote {report}")
    if pk_json:
        typer.echo(_write_pk_json(pk_json, pk_docs))
    typer.echo(NOTICE)
    del typ


def _print_run_lines(sc, exp, typ, peaks, final_levels) -> None:
    """The lines both ``simulate`` paths (in memory, streamed) print before their files' lines: the design and virtual
    experiment notes, the typical patient's cascade (``typ``: on the fine grid), the population's monitoring lines
    (``peaks``: {arm: {column: each patient's peak}}; None for one patient) and each titrated arm's final dose
    shares (``final_levels``: {arm: each patient's final level index})."""
    from .summary import cascade_summary, monitoring_summary_from_peaks

    for note in (_design_note(sc), _experiment_note(sc, exp)):
        if note:
            typer.echo(note)
    if peaks is not None:       # a population run: say whose numbers the cascade lines are, then its own peaks
        typer.echo("typical patient (the population's mean covariates and median traits):")
    typer.echo(cascade_summary(typ.trajectories(), typ.sessions(), sc.population.scale))
    monitored = monitoring_summary_from_peaks(peaks) if peaks is not None else ""
    if monitored:
        typer.echo("population (each patient's highest value at the output times; trials and labels report the "
                   "mean):\n" + monitored)
    for arm in sc.arms:         # arms with a titration rule: the share of patients at each final dose
        if getattr(arm, "titration", None) is not None and arm.name in final_levels:
            typer.echo(_titration_line(arm, final_levels[arm.name]))


def _experiment_note(sc, exp) -> str | None:
    """'virtual experiment: mtor_block=1': the printout of a blocked run looked like an intact one's."""
    changed = (exp if exp is not None else sc.experiment).changed()
    if not changed:
        return None
    return "virtual experiment: " + ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else format(v, 'g')}"
                                              for k, v in changed.items())


def _design_note(sc) -> str | None:
    """``simulate`` of a scenario whose design only ``ketasim trial`` runs (a crossover's sequences, a randomized
    withdrawal's re-randomization, an open-label follow-up of responders): one line saying so. The arms ran as
    parallel groups from time 0 without a word, so a crossover's carry-over seemed to be simulated."""
    d = dict(getattr(sc, "design", ()) or ())
    kind = d.get("type") or "parallel"
    what = {"crossover": "a crossover (each patient every arm in sequence, period by period"
                         + (", with carry-over)" if d.get("period_interval") else ")"),
            "randomized_withdrawal": "a randomized withdrawal (responders re-randomized at the end of the induction)"
            }.get(kind)
    if what is None and d.get("follow_up_from") is not None:
        what = "an open-label follow-up of responders (relapse)"
    if what is None:
        return None
    return (f"note: the scenario's design is {what}: `ketasim trial` runs it; simulate runs every arm as its own "
            "group of patients from time 0")


def _titration_line(arm, final) -> str:
    """'ARM: final dose (titration) 56 mg 31.0 %, 84 mg 69.0 % of 100 patient(s)': the share of the arm's patients
    at each final dose level (``final``: each patient's level index), for the in-memory and the streamed run."""
    t = arm.titration
    shares = ", ".join(f"{t.level_text(k)} {100.0 * float((final == k).mean()):.1f} %" for k in range(len(t.levels)))
    return f"{arm.name}: final dose (titration) {shares} of {final.size} patient(s)"


def _pk_plan(sc, pk_dose, pk_sample, pk_exact, pk_times):
    """The PK sampling(s) ``simulate --pk`` analyses: the scenario's ``endpoints`` PK settings (else the defaults)
    with the command-line overrides; one line naming the option when one is wrong."""
    import dataclasses

    from .errors import InputError
    from .limits import check_choice
    from .nca import PKSampling

    base = sc.endpoints.pk if sc.endpoints is not None and sc.endpoints.pk is not None else PKSampling()
    if pk_dose is not None:             # any case ('Last' was refused), as the other choice options
        pk_dose = check_choice(pk_dose, "--pk-dose", ("first", "last", "both"))
    if pk_sample is not None:
        pk_sample = check_choice(pk_sample, "--pk-sample", ("venous", "arterial"))
    if pk_times is not None:
        from .units import parse_time_h

        try:
            if not pk_times.strip():
                raise InputError("--pk-times: give sampling times after the dose, e.g. '10 min,30 min,1 h,4 h,24 h'")
            times = tuple(parse_time_h(t.strip(), "--pk-times") for t in pk_times.split(","))
            base = dataclasses.replace(base, times_h=times, infusion_end=False)     # as given
        except InputError as e:
            raise InputError("--pk-times: " + str(e).split(": ", 1)[-1]) from None
    doses = ("first", "last") if pk_dose == "both" else ((pk_dose or base.dose),)
    return [dataclasses.replace(base, dose=d, sample=pk_sample or base.sample, exact=pk_exact or base.exact)
            for d in doses]


def _print_pk(sc, params, size, seed, typical, exp, pk_json, plan) -> list[str]:
    """``simulate --pk``: the NCA of the simulated patients (ketasim.nca), printed and written to ``pk_json``
    (when given); returns the 'wrote FILE' line to print after the summary ([] without ``pk_json``)."""
    docs = _pk_summary(sc, params, size, seed, typical, exp, plan)
    return [_write_pk_json(pk_json, docs)] if pk_json else []


def _write_pk_json(pk_json, docs) -> str:
    """Write ``simulate --pk-json`` (one document per analysed dose); its 'wrote FILE' line."""
    import json

    from .display import json_safe
    from .io import atomic_write_text

    atomic_write_text(pk_json, json.dumps(json_safe(docs[0] if len(docs) == 1 else {"doses": docs}), indent=1,
                                          allow_nan=False))
    return f"wrote {pk_json}"


def _pk_summary(sc, params, size, seed, typical, exp, plan) -> list:
    """Print the NCA of each analysed dose (``simulate --pk``); its JSON documents."""
    from .nca import format_summary, pk_document, scenario_pk

    docs = []
    for sampling in plan:
        df = scenario_pk(sc, params, sampling, n=size, seed=seed, typical=typical, experiment=exp)
        typer.echo("\n" + format_summary(df, title=f"PK ({sampling.dose} dose; non-compartmental analysis of the "
                                                    f"simulated {'typical patient' if typical else 'patients'})"))
        note = _infusion_end_note(sc, sampling)
        if note:
            typer.echo(note)
        docs.append(pk_document(sc, params, sampling, df, seed=seed, typical=typical))
    return docs


def _infusion_end_note(sc, sampling) -> str | None:
    """A line when the analysed dose is an infusion and no sample falls at its end, where the level peaks: times
    given without it (the default schedule adds it: ``PKSampling.infusion_end``) read a 40-min infusion's Cmax 12 %
    low with Tmax 0.5 h, without a word."""
    from .nca import END_TOLERANCE_H, dose_window
    from .units import fmt_hours

    if sampling.exact:                  # the 1-minute grid's rows are printed beside the schedule's
        return None
    ends = []
    for arm in sc.arms:
        if getattr(arm, "titration", None) is not None:
            continue
        win = dose_window(arm, sampling.dose)
        d = win[0].duration_h if win else 0.0
        if d > 0 and not any(abs(t - d) <= END_TOLERANCE_H for t in sampling.times_for(d)):
            ends.append((arm.name, d))
    if not ends:
        return None
    d = ends[0][1]
    return (f"note: no sample at the end of the infusion ({', '.join(f'{a}: {fmt_hours(x)}' for a, x in ends)}), "
            f"where the level peaks: Cmax and Tmax are the schedule's; add the end to --pk-times (e.g. "
            f"'{fmt_hours(d)}') or use --pk-exact")


def _check_options(size=None, seed=None, outputs=None, inputs=(), *, min_size: int = 1, size_hint: str = "") -> None:
    """Command-line overrides, checked with the API's own rules but named as options; output paths (``outputs``:
    {option: path}) are checked before anything is computed, and refused when one is an input file (``inputs``:
    (option, path)) or another output: writing it would replace the input or the other output. Every refusal names
    the option and the path ('--json: /tmp/dir: is a directory; give a file name'). ``min_size``: the command's
    smallest --size (a virtual trial's 2: `trial --size 0` said "must lie in 1-2,000,000" and then refused 1);
    ``size_hint``: what the refusal of a too small size adds (`trial`: where one patient is simulated)."""
    from .io import check_distinct, check_target
    from .errors import InputError
    from .limits import MAX_PATIENTS, check_int, check_seed

    outputs = dict(outputs or {})
    for option, p in outputs.items():
        if p is not None:
            check_target(p, option)
    check_distinct(inputs, tuple(outputs.items()))
    if size is not None:
        if min_size > 1 and isinstance(size, int) and not isinstance(size, bool) and 0 <= size < min_size:
            raise InputError(f"--size: a virtual trial needs at least {min_size} patients per arm, got {size}"
                             f"{size_hint}")
        check_int(size, "--size", lo=min_size, hi=MAX_PATIENTS)
    if seed is not None:
        check_seed(seed, "--seed")


#: The file kind each output option writes, and name endings that say another kind (a likely mix-up).
_KIND_OF_OPTION = {"--csv": ("CSV", ".csv", "--parquet", (".parquet", ".pq")),
                   "--parquet": ("Parquet", ".parquet", "--csv", (".csv", ".txt")),
                   "--patients-csv": ("CSV", ".csv", None, (".parquet", ".pq")),
                   "--json": ("JSON", ".json", "--report", (".html", ".htm")),
                   "--pk-json": ("JSON", ".json", "--report", (".html", ".htm")),
                   "--report": ("HTML", ".html", "--json", (".json",)),
                   "--html": ("HTML", ".html", "--json", (".json",)),
                   "--html/--report": ("HTML", ".html", "--json", (".json",)),
                   "--cv-json": ("JSON", ".json", "--html", (".html", ".htm")),
                   "--sbml": ("SBML (XML)", ".xml", None, (".json", ".html", ".htm", ".csv", ".yaml", ".yml"))}


#: endings that name one kind of file ketasim reads or writes: an output named with another kind's ending is refused
#: too (`simulate --report x.csv` wrote HTML into a .csv file: only the pairs above were checked)
_KNOWN_ENDINGS = {"CSV": (".csv",), "Parquet": (".parquet", ".pq"), "JSON": (".json",), "HTML": (".html", ".htm"),
                  "SBML (XML)": (".xml", ".sbml"), "YAML": (".yaml", ".yml"),
                  "a figure": (".png", ".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")}


def _check_kinds(outputs: dict, other: dict | None = None) -> None:
    """Refuse (one line, before running) an output whose name says another kind of file than its option writes:
    `--parquet traj.csv` wrote Parquet bytes into a .csv file, `--report out.json` HTML into a .json file."""
    from .errors import OutputPathError

    for option, path in outputs.items():
        if path is None:
            continue
        kind, ext, alt, endings = _KIND_OF_OPTION[option]
        alt = (other or {}).get(option, alt)          # the command's own option for that kind (qualify: --html)
        suffix = Path(path).suffix.lower()
        if suffix in endings:
            raise OutputPathError(f"{option}: {path} ends in '{suffix}', but {option} writes {kind}: name it "
                                  f"'{Path(path).with_suffix(ext).name}'" + (f", or use {alt}" if alt else ""))
        own = _KNOWN_ENDINGS.get(kind, ())
        if suffix not in own and any(suffix in e for e in _KNOWN_ENDINGS.values()):
            raise OutputPathError(f"{option}: {path} ends in '{suffix}', but {option} writes {kind}: name it "
                                  f"'{Path(path).with_suffix(ext).name}'")


def _simulate_streamed(sc, params, size, seed, exp, chunk, csv, parquet, plot, dask, times,
                       patients_csv=None, record_source: str | None = None,
                       record_weight_kg: float | None = None, field: str | None = None,
                       worker_timeout: float | None = None) -> list[str]:
    """Population run in chunks, trajectories streamed to the files (``ketasim.scale``), optionally on Dask;
    ``times``: the output times (h) the in-memory run would use (sized to --size), so both write the same rows and
    print the same population lines. Prints the summary; returns the 'wrote FILE' lines (the caller prints them after
    any PK summary, then the notice). ``record_source``: ``--events FILE``, which the cumulative anesthetic warning
    names (as the in-memory path's; it said 'arms.record'), and ``record_weight_kg`` its WT (kg: its mg doses are
    judged at it). ``field``: what the cumulative warning names instead of the arm (the quick form's '--dose').
    ``worker_timeout``: ``--worker-timeout`` (s) with --dask (a cluster without workers stops the run in one line;
    the files are streamed to temporary files renamed when complete, so none is half-written)."""
    import numpy as np

    from .app import warn_cumulative_anesthetic
    from .distributed import TextProgress, dask_run
    from .engine import simulate as run
    from .plotting import plot_cascade
    from .scale import simulate_streamed

    with dask_run(dask, worker_timeout, written="no file was written or changed (each is streamed to a temporary "
                                                "file renamed when complete)") as ex:
        # the output times as the in-memory path's (the scenario's own grid is sized to its population, not --size)
        # check_disk=False: simulate() checked the files' size against the disk (check_feasible), naming --csv
        s = simulate_streamed(sc, params, n=size, seed=seed, experiment=exp, chunk=chunk, csv=csv, parquet=parquet,
                              output_times_h=times, executor=ex, check_disk=False, patients_csv=patients_csv,
                              anesthetic_check=False,      # warned below, naming a record's file
                              progress=TextProgress("simulate" + (" (dask)" if dask else ""),
                                                    sys.stderr.isatty() or bool(dask)))
    wrote = [f"wrote {f} ({s.rows:,} rows, {s.patients:,} patients)" for f in (csv, parquet) if f]
    if patients_csv:
        wrote.append(f"wrote {patients_csv} ({s.patients:,} patients)")
    # the typical patient on the in-memory run's fine grid (with the output times: every session's peak window); on
    # the 5-min-then-hourly grid alone a later session's plasma peak read 76 instead of 86 ng/mL
    typ = run(sc, params, typical=True, experiment=exp,
              output_times_h=np.union1d(times, _fine_times(float(times[-1]))), anesthetic_check=False)
    warn_cumulative_anesthetic(sc, params, experiment=exp, record_source=record_source,      # as the in-memory path
                               record_weight_kg=record_weight_kg, field=field)
    if plot:
        plot_cascade(typ.trajectories(), s.sample.trajectories(), plot,
                     title=f"{sc.name}: typical patient and 5-95% band (first {s.sample.runs[0].patients.n:,} patients)",
                     notice=NOTICE, scale=sc.population.scale)
        wrote.append(f"wrote {plot}")
    _print_run_lines(sc, exp, typ, s.peaks, s.final_dose_levels)    # as the in-memory path
    return wrote


def _fine_times(horizon_h: float):
    import numpy as np

    return np.unique(np.concatenate([np.arange(0, min(horizon_h, 12.0) + 1e-9, 5 / 60),
                                     np.arange(12.0, horizon_h + 1e-9, 1.0)]))


@app.command()
def demo(
    out: Path = typer.Option(Path("out"), help="Folder for the figure and tables."),
    size: int = typer.Option(200, help="Virtual patients for the population band."),
):
    """Main job: a standard 0.5 mg/kg 40-min infusion in a typical treatment-resistant patient."""
    import numpy as np

    from .engine import simulate as run
    from .errors import OutputPathError
    from .parameters import load_parameters
    from .plotting import plot_cascade
    from .scenario import scenario_from_dict
    from .summary import cascade_summary

    _check_options(size, None)            # before the folder is made: a bad --size leaves nothing behind
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"--out: {out} is a file; give a folder (it is created if missing)")
    out.mkdir(parents=True, exist_ok=True)
    sc = scenario_from_dict({
        "name": "demo-single-infusion-trd", "seed": 7,
        "population": {"size": size, "condition": "depression", "treatment_resistant": True, "scale": "madrs",
                       "baseline": {"mean": 33, "sd": 5}, "weight_kg": {"mean": 80, "sd": 15}},
        "arms": {"ketamine 0.5 mg/kg IV": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                             "duration": "40 min", "at": "0 h"}]},
    })
    params = load_parameters()
    times = _fine_times(sc.horizon_h)
    typ = run(sc, params, typical=True, output_times_h=times, anesthetic_check=False)     # 0.5 mg/kg: below it
    # every third fine time (15 min) missed the end of the infusion: the band peaked at 30 min, the line at 40; the
    # scenario's default grid adds every dose's peak window (every 5 min to the infusion's end)
    pop = run(sc, params, output_times_h=np.union1d(times[::3], sc.output_times_h(size)), anesthetic_check=False)
    fig_path = out / "cascade.png"
    plot_cascade(typ.trajectories(), pop.trajectories(), fig_path,
                 title="0.5 mg/kg racemic ketamine over 40 min, typical treatment-resistant patient (line) "
                       f"and {size} virtual patients (5-95%)", notice=NOTICE, scale="madrs")
    typ.to_csv(out / "typical_patient.csv")
    typer.echo(cascade_summary(typ.trajectories(), typ.sessions(), "madrs"))
    typer.echo(f"parameter set {params.version}; calibration: {params.calibration_run}")
    typer.echo(f"wrote {fig_path} and {out / 'typical_patient.csv'}")
    typer.echo(NOTICE)


@app.command()
def trial(
    scenario: Path = typer.Argument(..., help="Scenario YAML file with arms and endpoints."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the trial JSON (contract: docs/contracts.md, "
                                                                 "'Trial output')."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report."),
    patients_csv: Optional[Path] = typer.Option(None, "--patients-csv", help="Write each patient's ratings (baseline, "
                                                "endpoint times and a follow-up's visits: rating, change, response, "
                                                "remission; one row per arm x patient x time) as CSV, with provenance "
                                                "and units in FILE.provenance.json."),
    size: Optional[int] = typer.Option(None, help="Patients per arm (overrides the scenario)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (overrides the scenario)."),
    progress: bool = typer.Option(True, help="Show a progress bar on stderr."),
    dask: Optional[str] = typer.Option(None, "--dask", help="Run chunks on Dask: 'local' or tcp://HOST:PORT."),
    worker_timeout: float = _worker_timeout_option(),
    chunk: int = typer.Option(10000, "--chunk", min=1, help="Patients per chunk (memory; the result does not depend on it)."),
    uncertainty: int = typer.Option(0, "--uncertainty", help="Posterior parameter draws for 95% PREDICTION intervals of "
                                    "a new trial of this design and size (2-1000; 0: none, only sampling CIs). Randomized "
                                    "withdrawal / open-label follow-up: each draw runs the whole trial (~N x the "
                                    "time; use >= 40)."),
    between_trial: bool = typer.Option(True, "--between-trial/--no-between-trial",
                                       help="Prediction intervals also carry between-trial heterogeneity (a trial "
                                            "effect shared by all arms; with --uncertainty)."),
    observed: Optional[Path] = typer.Option(None, "--observed", help="A published trial's results (CSV, the long "
                                            "format of clinical_calibration.csv: arm, timepoint_h, measure, value; "
                                            "optional n, spread, spread_kind, provenance, analyte and "
                                            "statistic for PK rows (cmax, auc_0_inf_ratio, ...), scenario: the "
                                            "scenario's name:, another is refused): print, --json and "
                                            "--report them beside the prediction with 95% prediction intervals "
                                            "for the row's n. Nothing is fitted."),
    parameters: Optional[Path] = typer.Option(None, "--parameters", help="A parameter set file written by `ketasim "
                                              "calibrate` (default: the installed set), e.g. to compare a new fit "
                                              "before installing it."),
):
    """Run a virtual clinical trial and print its endpoint table."""
    from .app import run_trial_cli

    _check_options(size, seed, {"--json": json_out, "--report": report, "--patients-csv": patients_csv},
                   inputs=(("the scenario", scenario), ("--observed", observed), ("--parameters", parameters)),
                   min_size=2, size_hint="; one patient: ketasim simulate")
    _check_kinds({"--json": json_out, "--report": report, "--patients-csv": patients_csv})
    _check_worker_timeout(worker_timeout, dask)
    if not between_trial and not uncertainty:       # was accepted and ignored without a word
        from .errors import InputError

        raise InputError("--no-between-trial: only with --uncertainty (without it the intervals carry no between-trial "
                         "heterogeneity anyway)")
    run_trial_cli(scenario, json_out=json_out, report=report, size=size, seed=seed, progress=progress, dask=dask,
                  chunk=chunk, observed=observed, parameters=parameters, patients_csv=patients_csv,
                  worker_timeout=worker_timeout,
                  **({"uncertainty": uncertainty, "between_trial": between_trial} if uncertainty else {}))


@app.command()
def sensitivity(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    endpoint: str = typer.Option(..., "--endpoint", help="e.g. 'response_rate@24h', 'mean_change@7d', 'cadss_peak'."),
    method: str = typer.Option("morris", "--method", help="morris (screening) or sobol (variance shares)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the ranked indices as JSON."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a tornado chart (PNG)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML page with the tornado chart and table."),
    parameters: Optional[str] = typer.Option(None, "--parameters",
                                             help="Which parameters to vary: comma-separated name patterns (fnmatch; "
                                                  "'@free' = calibrated). Default: 'pd.*,@free'. Not a file: see "
                                                  "--parameter-set."),
    parameter_set: Optional[Path] = typer.Option(None, "--parameter-set",
                                                 help="A parameter set file written by `ketasim calibrate` to vary "
                                                      "around (default: the installed set); what `trial`, `plan`, "
                                                      "`simulate`, `qualify` and `export` take as --parameters."),
    arm: Optional[str] = typer.Option(None, "--arm", help="Arm whose endpoint is analysed (default: the first)."),
    samples: Optional[int] = typer.Option(None, "--samples", help="Morris trajectories (default 10) or Sobol base samples (power of 2, default 64)."),
    size: Optional[int] = typer.Option(None, "--size", min=1,
                                       help="Virtual patients per evaluation (common random numbers; default 200). "
                                            "A scenario with patient: is that one patient (typical random effects)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (overrides the scenario)."),
    experiment: Optional[List[str]] = typer.Option(None, help="Virtual experiment, e.g. mtor_block=1."),
    dask: Optional[str] = typer.Option(None, "--dask", help="Run the samples on Dask: 'local' or tcp://HOST:PORT."),
    worker_timeout: float = _worker_timeout_option(),
    progress: bool = typer.Option(True, help="Show progress on stderr."),
):
    """Which parameters drive an endpoint: SALib Morris or Sobol indices and local elasticities."""
    import json

    from .distributed import TextProgress, dask_run
    from .scenario import load_scenario
    from .sensitivity import DEFAULT_PATTERNS, run_sensitivity, write_html, write_tornado
    from .display import json_safe
    from .io import atomic_write_text

    from .app import _parameters_option

    _check_options(None, seed, {"--json": json_out, "--plot": plot, "--report": report},
                   inputs=(("the scenario", scenario), ("--parameter-set", parameter_set)))   # before sampling
    _check_kinds({"--json": json_out, "--report": report})
    _check_worker_timeout(worker_timeout, dask)
    if plot is not None:
        from .io import figure_format

        figure_format(plot, "--plot")
    # the other commands' --parameters FILE (here --parameters selects names): same loader, same one-line errors
    params = _parameters_option(parameter_set, "--parameter-set")
    sc = load_scenario(scenario)
    if getattr(sc, "patient", None) is not None and size not in (None, 1):   # as simulate: one stated patient
        from .errors import InputError
        from .limits import stated_patient_size_error

        raise InputError(stated_patient_size_error(str(scenario), size))
    pats = tuple(p.strip() for p in parameters.split(",") if p.strip()) if parameters else DEFAULT_PATTERNS
    with dask_run(dask, worker_timeout) as ex:
        res = run_sensitivity(sc, endpoint=endpoint, method=method, params=params, patterns=pats, arm=arm,
                              samples=samples if samples is not None else (10 if method == "morris" else 64), n_patients=size, seed=seed,
                              experiment=_experiment(experiment, sc.experiment), executor=ex,
                              progress=TextProgress("sensitivity" + (" (dask)" if dask else ""), progress))
    typer.echo(res.format_table())
    _write_each((json_out, lambda path: atomic_write_text(path, json.dumps(json_safe(res.to_dict()), indent=1,
                                                                           allow_nan=False))),
                (plot, lambda path: write_tornado(res, path)), (report, lambda path: write_html(res, path)))
    typer.echo(NOTICE)


@app.command()
def covariates(
    scenario: Optional[Path] = typer.Argument(None, help="Scenario YAML file (or use the quick form: --drug, "
                                                         "--route, --dose)."),
    drug: Optional[str] = typer.Option(None, help="Quick form: drug, e.g. racemic-ketamine, esketamine."),
    route: Optional[str] = typer.Option(None, help="Quick form: route, e.g. iv-infusion, intranasal, oral, im."),
    dose: Optional[str] = typer.Option(None, help="Quick form: dose with its unit, e.g. '0.5 mg/kg', '56 mg'."),
    duration: Optional[str] = typer.Option(None, help="Quick form: infusion duration, e.g. '40 min'."),
    every: Optional[str] = typer.Option(None, help="Quick form: repeat the dose every, e.g. '3.5 d' (with --count)."),
    count: Optional[int] = typer.Option(None, help="Quick form: number of doses (with --every)."),
    covariate: Optional[List[str]] = typer.Option(
        None, "--covariate", help="A contrast COVARIATE=TEST[:REFERENCE] (repeat or comma-separate): sex=female:male, "
                                  "age=70:45, weight=55:80, genotype=met/met:val/val (BDNF), crp=10:1 (mg/L), "
                                  "comedication=rifampicin (or 'rifampicin for 5 d'; the reference is without it), "
                                  "care=inpatient:outpatient, resistant=no:yes (treatment-resistant). "
                                  "Without a reference: the population's mean (age, weight), median CRP, Val/Val, "
                                  "the other sex. Levels after a comma take the covariate before them "
                                  "(weight=50,70,100: a sweep). Default: sex, age 70, weight 55 and 110, Met/Met, "
                                  "CRP 10 and every known inhibitor and inducer."),
    endpoint: Optional[List[str]] = typer.Option(
        None, "--endpoint", help="What to compare (repeat or comma-separate): cmax, auc_0_t, auc_0_inf, t_half (PK, "
                                 "per analyte), cadss_peak, sbp_change_peak, dbp_change_peak, hr_change_peak, "
                                 "sedation_peak, or a score measure at a time (response_rate@24h, "
                                 "mean_change@7d, ...). Default: cmax, auc_0_inf, cadss_peak, sbp_change_peak, "
                                 "response_rate@24h."),
    analyte: Optional[List[str]] = typer.Option(None, "--analyte", help="PK analytes (default: S- and R-ketamine, "
                                                "norketamine, midazolam, those the arm produces); the printed table "
                                                "and figure show the first."),
    arm: Optional[str] = typer.Option(None, "--arm", help="Arm analysed (default: the first)."),
    size: Optional[int] = typer.Option(None, "--size", help="Virtual patients, the same at every level (default "
                                                             "500)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (overrides the scenario)."),
    typical: bool = typer.Option(False, help="The typical patient only (no random effects; no intervals)."),
    uncertainty: int = typer.Option(0, "--uncertainty", help="Posterior draws of the calibrated parameters: every "
                                    "effect is recomputed under each on the same patients and its 5th-95th "
                                    "percentile shown in braces (e.g. 20; 0: none). PK parameters are literature "
                                    "values: their ratios do not move."),
    experiment: Optional[List[str]] = typer.Option(None, help=f"Virtual experiment: {_EXPERIMENTS}."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write every row (contrast x endpoint x analyte) as CSV, "
                                                           "with FILE.provenance.json beside it."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a forest plot (PNG, SVG or PDF)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML page: the forest plot, the table, "
                                                                 "every row and the provenance."),
    parameters: Optional[Path] = typer.Option(None, "--parameters", help="A parameter set file written by `ketasim "
                                              "calibrate` (default: the installed set)."),
):
    """Covariate effects (a forest plot): what sex, age, weight, genotype, CRP or a comedication does to exposure,
    side effects and relief, on the same virtual patients with one covariate changed."""
    from .app import _parameters_option
    from .covariates import DEFAULT_SIZE, run_covariates, write_forest
    from .distributed import TextProgress
    from .report import covariates_report
    from .errors import InputError
    from .scenario import load_scenario

    _check_options(size, seed, {"--csv": csv, "--plot": plot, "--report": report},
                   inputs=(("the scenario", scenario), ("--parameters", parameters)))
    _check_kinds({"--csv": csv, "--report": report})
    if plot is not None:
        from .io import figure_format

        figure_format(plot, "--plot")
    quick = [n for n, v in (("--drug", drug), ("--route", route), ("--dose", dose), ("--duration", duration),
                            ("--every", every), ("--count", count)) if v is not None]
    if scenario is not None and quick:
        raise InputError(f"covariates: use either a SCENARIO file or the quick form ({', '.join(quick)}), not both")
    if scenario is None:
        if not (drug and route):
            raise InputError("covariates: give a SCENARIO file or --drug and --route (and --dose)")
        sc = _quick_form(drug, route, dose, duration=duration, every=every, count=count,
                         size=1 if typical else (size or DEFAULT_SIZE))
    else:
        sc = load_scenario(scenario)
        if getattr(sc, "patient", None) is not None and size not in (None, 1):     # simulate's line, naming the file
            from .limits import stated_patient_size_error

            raise InputError(stated_patient_size_error(str(scenario), size))
    params = _parameters_option(parameters)
    res = run_covariates(sc, contrasts=_comma_list(covariate) or None, endpoints=_comma_list(endpoint) or None,
                         analytes=_comma_list(analyte) or None, arm=arm, n=size, seed=seed, typical=typical,
                         params=params, experiment=_experiment(experiment, sc.experiment), uncertainty=uncertainty,
                         # the draws take minutes without a word otherwise (20 draws of the default panel: ~40 s)
                         progress=TextProgress("covariates", enabled=bool(uncertainty)))
    typer.echo(res.format_table())
    _write_each((csv, res.to_csv), (plot, lambda path: write_forest(res, path)),
                (report, lambda path: covariates_report(res, path)))
    typer.echo(NOTICE)


@app.command()
def power(
    scenario: Path = typer.Argument(..., help="Scenario YAML file of a parallel or crossover trial."),
    sizes: Optional[List[str]] = typer.Option(
        None, "--sizes", help="Patients per arm of the replicate trials (comma-separate or repeat), e.g. 20,40,60,80. "
                              "Default: 10,20,30,40,60,80,100,150,200. 'auto': search the smallest size reaching "
                              "--target per comparison and endpoint (up to --max-size; the rows are the sizes "
                              "evaluated)."),
    max_size: Optional[int] = typer.Option(None, "--max-size", help="With --sizes auto: the largest patients per "
                                                                    "arm the search evaluates (default 500)."),
    multiplicity: Optional[str] = typer.Option(None, "--multiplicity", help="'bonferroni' or 'holm': test every "
                                               "comparison x endpoint of the run as one family per replicate "
                                               "(family-wise --alpha); adds each endpoint's adjusted power and the "
                                               "power that all / any are significant."),
    margin: Optional[List[str]] = typer.Option(
        None, "--margin", help="Margin M in the endpoint's unit (scale points for a change, percentage points for a "
                               "rate; or per endpoint: mean_change@24h=2,response_rate@24h=10): power of the one-sided "
                               "test at alpha/2 of H0: d <= -M, d the difference in the arm's favour (versus - arm for "
                               "a change, arm - versus for a rate or incidence). M > 0: non-inferiority; M < 0: "
                               "superiority by |M| (write --margin=-2); 0: the plain test."),
    endpoint: Optional[List[str]] = typer.Option(
        None, "--endpoint", help="The comparison tested (repeat or comma-separate): mean_change@24h, response_rate@7d, "
                                 "remission_rate@28d; an incidence (power to detect harm: more patients with the "
                                 "event in the arm): dissociation_rate, dizziness_rate, nausea_rate, vomiting_rate, "
                                 "sedation_rate, blood_pressure_increased_rate, hypertension_rate. Default: every "
                                 "score measure of the scenario at its endpoint times."),
    arm: Optional[str] = typer.Option(None, "--arm", help="Arm tested (default: every arm but the control)."),
    versus: Optional[str] = typer.Option(None, "--versus", help="Arm compared with (default: the trial's control "
                                                               "arm)."),
    test: str = typer.Option("welch", "--test", help="Analysis of the change from baseline in parallel arms: 'welch' "
                                                     "(Welch t-test, as the trial's comparison rows) or 'ancova' "
                                                     "(baseline rating as covariate). Rates: two-proportion z-test; "
                                                     "a crossover: paired t and exact McNemar."),
    replicates: int = typer.Option(1000, "--replicates", help="Replicate trials per size (100-100000; Monte Carlo "
                                                              "SE of a power of 0.8: 0.4/sqrt(replicates))."),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level."),
    target: float = typer.Option(0.80, "--target", help="Power the sample size is read at (e.g. 0.8, 0.9)."),
    dropout: float = typer.Option(0.0, "--dropout", help="Share of patients missing from the analysis at random "
                                                         "(0-0.9; completers analysed)."),
    allocation: str = typer.Option("1:1", "--allocation", help="Patients in the tested arm to the compared-with arm, "
                                                               "e.g. 2:1 (--sizes are the tested arm's)."),
    pool: Optional[int] = typer.Option(None, "--pool", help="Virtual patients simulated per arm, from which each "
                                                            "replicate draws (default max(2000, 10x the largest "
                                                            "arm of a replicate trial: with --allocation 1:3 the "
                                                            "compared-with arm's))."),
    seed: Optional[int] = typer.Option(None, help="Random seed (overrides the scenario)."),
    uncertainty: int = typer.Option(0, "--uncertainty", help="Posterior draws of the calibrated parameters: also "
                                    "the assurance (the mean power over the draws; each draw simulates its own pool, "
                                    "~N x the time; e.g. 20; 0: none)."),
    between_trial: bool = typer.Option(True, "--between-trial/--no-between-trial",
                                       help="With --uncertainty: each draw also carries a between-trial effect."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write every row (comparison x endpoint x size) as CSV, "
                                                           "with FILE.provenance.json beside it."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the power curves (PNG, SVG or PDF)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML page: the power curves, the table, "
                                                                 "every row and the provenance."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
    parameters: Optional[Path] = typer.Option(None, "--parameters", help="A parameter set file written by `ketasim "
                                              "calibrate` (default: the installed set)."),
):
    """Power and sample size: the share of replicate virtual trials whose comparison is significant, by patients
    per arm (and the assurance under parameter uncertainty)."""
    from .app import _parameters_option
    from .distributed import TextProgress
    from .errors import InputError
    from .power import run_power, write_power_curves
    from .report import power_report
    from .scenario import load_scenario

    _check_options(None, seed, {"--csv": csv, "--plot": plot, "--report": report}, inputs=(("the scenario", scenario), ("--parameters", parameters)))
    _check_kinds({"--csv": csv, "--report": report})
    if plot is not None:
        from .io import figure_format

        figure_format(plot, "--plot")
    size_list = None
    if sizes and [s.strip().lower() for s in _comma_list(sizes)] == ["auto"]:
        size_list = "auto"
    elif sizes:
        try:
            size_list = [float(s) for s in _comma_list(sizes)]
        except ValueError:
            raise InputError(f"--sizes: expected patients per arm, e.g. 20,40,60, or auto, got "
                             f"{', '.join(sizes)!r}") from None
    margin_arg = None
    if margin:
        items = _comma_list(margin)
        margin_arg = items if any("=" in x for x in items) else (items[0] if len(items) == 1 else items)
    sc = load_scenario(scenario)
    params = _parameters_option(parameters)
    res = run_power(sc, sizes=size_list, endpoints=_comma_list(endpoint) or None, arm=arm, versus=versus,
                    test=test, replicates=replicates, alpha=alpha, target=target, pool=pool, dropout=dropout,
                    allocation=allocation, seed=seed, uncertainty=uncertainty, between_trial=between_trial, params=params,
                    margin=margin_arg, max_size=max_size, multiplicity=multiplicity,
                    progress=TextProgress("power", progress and sys.stderr.isatty()),
                    log=lambda line: typer.echo(line, err=True))
    typer.echo(res.format_table())
    _write_each((csv, res.to_csv), (plot, lambda path: write_power_curves(res, path)),
                (report, lambda path: power_report(res, path)))
    typer.echo(NOTICE)


@app.command()
def calibrate(
    out: Path = typer.Option(Path("out/calibration/free_parameters.json"),
                             help="Where to write the fitted parameter set (never the shipped default; install it "
                                  "with `ketasim install-parameters FILE`)."),
    size: int = typer.Option(400, help="Virtual patients per arm during fitting."),
    seed: int = typer.Option(20261121, help="Random seed (the fit is deterministic for a given seed)."),
    max_evaluations: int = typer.Option(400, help="Maximum objective evaluations of the optimiser (the Laplace "
                                                     "posterior then adds one per fitted parameter)."),
    dask: Optional[str] = typer.Option(None, "--dask", help="Simulate each evaluation's scenarios on Dask: 'local' or tcp://HOST:PORT."),
    worker_timeout: float = _worker_timeout_option(),
    start: str = typer.Option("current", help="Start from the 'current' default set or from the data-independent 'prior' centres, or from both ('prior,current'; the lowest end point is kept); 'none' with --restarts: the prior draws alone."),
    restarts: int = typer.Option(0, "--restarts", help="Add this many starts drawn from the prior, seeded by --seed "
                                 "(multi-start; each gets the full --max-evaluations budget; the end point with the "
                                 "lowest minimised objective, rows + prior + directions, is kept and every start's end "
                                 "is recorded in the set's provenance: starts, or refits[-1].starts with --names)."),
    names: Optional[str] = typer.Option(None, "--names", help="Refit only these free parameters (comma-separated, "
                                        "e.g. omega_bp) and the adverse-event stage; the others keep the default "
                                        "set's values and the run is recorded in the set's provenance.refits."),
    directions: bool = typer.Option(True, "--directions/--no-directions",
                                    help="Constrain the fit by the literature directions the rows barely inform (a "
                                         "series outlasts one infusion; midazolam leaves no lasting effect over "
                                         "saline); --no-directions fits the rows and the prior alone."),
    row_weights: str = typer.Option("random-effects", "--row-weights",
                                    help="Weigh each calibration row, as a random-effects meta-analysis weighs "
                                         "trials, by its SE widened by the between-trial heterogeneity of its kind "
                                         "('random-effects', the default) or by its sampling SE alone ('sampling')."),
):
    """Fit the free parameters to reference/clinical_calibration.csv (writes a new parameter set with its Laplace posterior)."""
    from .app import calibrate_cli

    _check_worker_timeout(worker_timeout, dask)
    calibrate_cli(out=out, size=size, seed=seed, max_evaluations=max_evaluations, start=start, dask=dask, names=names,
                  directions=directions, row_weights=row_weights, restarts=restarts, worker_timeout=worker_timeout)


@app.command("install-parameters")
def install_parameters(
    path: Path = typer.Argument(..., help="A parameter set written by `ketasim calibrate`."),
):
    """Make a calibrated parameter set the package's default (the explicit step after `ketasim calibrate`)."""
    from .calibration import install_parameter_set

    dest = install_parameter_set(path)
    typer.echo(f"installed {path} as the default parameter set ({dest})")
    from .parameters import load_parameters

    p = load_parameters()
    if not (p.between_trial or {}).get("calibration_run") == p.calibration_run:
        typer.echo("it stores no between-trial SDs for its calibration run: `ketasim between-trial FILE` stores them "
                   "in a set before it is installed (else `ketasim trial --uncertainty N` estimates them each run)")
    from .calibration import stored_posterior_draws

    if p.posterior and stored_posterior_draws(p) is None:
        typer.echo("it stores no posterior draws for its values: `ketasim posterior-draws FILE` stores them in a set "
                   "before it is installed (else `--uncertainty N` checks the literature directions for each draw)")


@app.command("between-trial")
def between_trial_cmd(
    path: Path = typer.Argument(..., help="Parameter set JSON to update, e.g. the output of `ketasim calibrate` "
                                          "(never the shipped set by default: install the updated file with "
                                          "`ketasim install-parameters FILE`)."),
    size: int = typer.Option(200, help="Virtual patients per arm for each trial's shift."),
    seed: int = typer.Option(20261121, help="Random seed."),
):
    """Estimate the between-trial SDs (tau) under a parameter set and store them in it (used by `trial --uncertainty`)."""
    from .app import between_trial_cli
    from .calibration import MIN_BETWEEN_TRIAL_SIZE
    from .limits import check_int

    check_int(size, "--size", lo=MIN_BETWEEN_TRIAL_SIZE, hi=100_000)
    _check_options(size, seed)
    between_trial_cli(path, size=size, seed=seed)


@app.command("posterior-draws")
def posterior_draws_cmd(
    path: Path = typer.Argument(..., help="Parameter set JSON to update, e.g. the output of `ketasim calibrate` "
                                          "(then install it with `ketasim install-parameters FILE`)."),
    count: int = typer.Option(200, help="Accepted draws to store (~0.5 s each: one check of the literature "
                                        "directions per proposal)."),
    seed: int = typer.Option(20261205, help="Random seed."),
):
    """Draw the set's posterior once, accepted by the literature directions, and store the draws in it: `trial
    --uncertainty N` and `qualify --uncertainty N` then pick N of them instead of checking directions per draw."""
    from .calibration import store_posterior_draws
    from .limits import check_int

    check_int(count, "--count", lo=1, hi=5000)
    _check_options(None, seed)
    dest, block = store_posterior_draws(path, count=count, seed=seed)
    typer.echo(f"stored {block['count']} posterior draws ({block['proposals']} proposals, "
               f"{block['filled_least_violating']} filled from the least violating; {block['seconds']:.0f} s) in "
               f"{dest} (for calibration run {block['calibration_run']!r})")


#: where ``qualify`` writes when no --html / --cv-json is given (their folder is created; a folder the user names
#: must exist)
_QUALIFY_HTML = Path("out/qualification.html")
_CV_JSON = Path("out/cross_validation.json")


@app.command()
def qualify(
    external: Optional[Path] = typer.Option(None, "--external", help="A folder of published trials NOT in the "
                                            "calibration set: per trial NAME.yaml (scenario) + NAME.csv or "
                                            "NAME_observed.csv (its results, the format of `trial --observed`). "
                                            "Each runs and is compared with 95% prediction intervals; nothing is "
                                            "fitted. Writes --json and --html (default out/external_qualification.*)."),
    html: Optional[Path] = typer.Option(None, "--html", "--report",
                                        help="HTML report with plots (default out/qualification.html; with "
                                             "--external out/external_qualification.html); --report as in the other "
                                             "commands."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="With --external: the JSON (tidy rows, summary, "
                                            "provenance; default out/external_qualification.json)."),
    size: int = typer.Option(2000, help="Virtual patients per arm."),
    seed: int = typer.Option(11, help="Random seed (with --external: every trial's)."),
    parameters: Optional[Path] = typer.Option(None, help="A parameter set file (default: the installed one)."),
    cross_validate: bool = typer.Option(False, "--cross-validate",
                                        help="Also leave each trial out in turn, refit, and predict it (13 fits: "
                                             "~1.5-3 h on two cores, less with more; rerun to continue)."),
    cv_json: Optional[Path] = typer.Option(_CV_JSON, help="Where to write the cross-validation rows (finished "
                                           "fits are checkpointed beside it; one run at a time per file: a second "
                                           "stops at once while CV_JSON.lock is held)."),
    cv_method: Optional[str] = typer.Option(None, show_default=False, help="'refit' (the reference): a full calibration per fold from the "
                                                "prior, as the shipped set was fitted (13 fits, ~10-25 min each; "
                                                "they run at once on --jobs processes); 'newton': one Gauss-Newton "
                                                "step per fold from the calibrated optimum, 'damped': up to 8 checked "
                                                "Levenberg-Marquardt steps (minutes; quick approximations, far from "
                                                "the refit's figures: docs/validation.md). Default: refit."),
    jobs: int = typer.Option(0, "--jobs", help="With --cv-method refit: how many fits run at once, in worker "
                                               "processes on this machine (0: one per available core; 1: one after "
                                               "another in this process). Same result whatever the number."),
    dask: Optional[str] = typer.Option(None, "--dask", help="With --cv-method refit: run the fits on a Dask "
                                                            "cluster (tcp://HOST:PORT; 'local': --jobs processes)."),
    worker_timeout: float = typer.Option(_NO_WORKER_TIMEOUT_S, "--worker-timeout",
                                         help="With --cv-method refit on workers (--jobs other than 1, --dask): "
                                              "seconds the "
                                              "cluster may have no worker at all before the run stops (a --dask "
                                              "cluster that lost every worker waited forever; the finished fits "
                                              "stay checkpointed)."),
    cv_evaluations: int = typer.Option(150, help="Objective evaluations per fold with --cv-method refit."),
    cv_size: int = typer.Option(200, help="Virtual patients per arm in cross-validation fits."),
    uncertainty: int = typer.Option(0, help="Draws from the parameter posterior added to each interval (0: none)."),
    between_trial: bool = typer.Option(True, "--between-trial/--no-between-trial",
                                       help="Draws also carry between-trial heterogeneity (trial-level random effects "
                                            "on non-specific and drug response, SDs estimated from the calibration "
                                            "trials; with --uncertainty or --cross-validate)."),
    row_weights: str = typer.Option("random-effects", "--row-weights",
                                    help="With --cross-validate: how each fold's fit weighs the rows (see "
                                         "`ketasim calibrate --row-weights`; newton and damped should use the "
                                         "weights the installed set was fitted with)."),
):
    """Predicted vs observed for every row of the calibration file (in sample, and out of sample with
    --cross-validate), or for a folder of published trials (--external DIR).

    The cross-validation checkpoints every finished fit next to --cv-json: run the same command again after an
    interruption and it continues where it stopped."""
    from .app import qualify_cli

    _check_options(size, seed)
    # qualify's page is --html or --report (an alias): a message names both (review R8-2)
    _check_kinds({"--html/--report": html, "--json": json_out, "--cv-json": cv_json if cross_validate else None},
                 {"--json": "--html/--report", "--html/--report": "--json" if external is not None else "--cv-json",
                  "--cv-json": "--html/--report"})
    if cross_validate:                  # before the in-sample run (minutes): 'foo' ran as 'newton' after it
        from .errors import InputError
        from .limits import check_size

        from .limits import check_choice

        cv_method = check_choice("refit" if cv_method is None else cv_method, "--cv-method",
                                 ("refit", "newton", "damped"))
        check_size(cv_size, "--cv-size")
        if jobs < 0:
            raise InputError(f"--jobs: must be 0 (one per core) or more, got {jobs}")
        if cv_method != "refit" and (jobs != 0 or dask or worker_timeout != _NO_WORKER_TIMEOUT_S):
            given = "--jobs" if jobs != 0 else "--dask" if dask else "--worker-timeout"
            raise InputError(f"{given}: only with --cv-method refit (the {cv_method} approximation runs in this "
                             "process)")
        if dask is not None:
            from .distributed import check_dask_address

            dask = check_dask_address(dask)
        if jobs != 0 and dask and dask != "local":
            raise InputError("--jobs: only for local processes (a --dask cluster runs as many fits as it has workers)")
        if cv_evaluations < 1:
            raise InputError(f"--cv-evaluations: must be at least 1, got {cv_evaluations}")
        from .distributed import check_worker_timeout

        check_worker_timeout(worker_timeout)            # more than 0 (NaN refused too)
        if jobs == 1 and dask in (None, "local") and worker_timeout != _NO_WORKER_TIMEOUT_S:    # was ignored (L-6)
            raise InputError("--worker-timeout: not with --jobs 1 (the fits run one after another in this process, "
                             "with no worker to wait for)")
        from .calibration import ROW_WEIGHTS

        row_weights = check_choice(row_weights, "--row-weights", ROW_WEIGHTS)
    if row_weights != "random-effects" and not cross_validate:
        from .errors import InputError

        raise InputError("--row-weights: only with --cross-validate (a qualification fits nothing)")
    for option, given, default in (("--cv-method", cv_method, None), ("--cv-size", cv_size, 200),
                                   ("--cv-evaluations", cv_evaluations, 150), ("--cv-json", cv_json, _CV_JSON),
                                   ("--jobs", jobs, 0), ("--dask", dask, None),
                                   ("--worker-timeout", worker_timeout, _NO_WORKER_TIMEOUT_S)):
        if given != default and not cross_validate:     # were ignored without a word, as --row-weights was not
            from .errors import InputError

            raise InputError(f"{option}: only with --cross-validate (without it nothing is cross-validated)")
    if not between_trial and not (uncertainty or cross_validate):     # was accepted and ignored without a word
        from .errors import InputError

        raise InputError("--no-between-trial: only with --uncertainty or --cross-validate (without them the intervals "
                         "carry no between-trial heterogeneity anyway)")
    if uncertainty != 0:                # as `trial --uncertainty`: 2-1000 draws (10**8 was a 145 GiB traceback)
        from .trial import check_uncertainty_draws

        check_uncertainty_draws(uncertainty)
    if external is not None:
        from .app import qualify_external_cli
        from .errors import InputError

        if cross_validate:
            raise InputError("--external: cross-validation refits on the calibration file; run it without --external")
        if size < 2:                    # every trial would fail with the same line
            raise InputError(f"--size: a virtual trial needs at least 2 patients per arm, got {size}")
        qualify_external_cli(external, json_out=json_out, html=html, size=size, seed=seed, parameters=parameters,
                             uncertainty=uncertainty, between_trial=between_trial)
        return
    if json_out is not None:
        from .errors import InputError

        raise InputError("--json: only with --external (the calibration qualification writes --html and --cv-json)")
    from .io import check_distinct, check_output

    check_output(html or _QUALIFY_HTML, _QUALIFY_HTML, "--html")         # before minutes of running
    if cross_validate and cv_json is not None:
        check_output(cv_json, _CV_JSON, "--cv-json")

    check_distinct((), (("--html", html or _QUALIFY_HTML), ("--cv-json", cv_json if cross_validate else None)))
    qualify_cli(html=html or _QUALIFY_HTML, size=size, seed=seed, parameters=parameters, cross_validate_=cross_validate,
                cv_json=cv_json, cv_evaluations=cv_evaluations, cv_size=cv_size, parameter_draws=uncertainty,
                cv_method=cv_method or "refit", between_trial=between_trial, row_weights=row_weights, jobs=jobs, dask=dask,
                worker_timeout=worker_timeout)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (local only by default)."),
    port: int = typer.Option(8050, help="Port."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Confirm serving a non-loopback --host "
                                                                    "(other machines can reach it; no login)."),
):
    """Start the local dashboard (works offline)."""
    from .web.server import serve as run_server

    run_server(host=host, port=port, allow_remote=allow_remote)


@app.command()
def plan(
    data: Path = typer.Argument(..., help="Patient record: NONMEM-style CSV (ID, TIME, EVID, AMT, AMTU, DUR, DRUG, "
                                          "ROUTE, DV, DVID, WT, AGE, SEX, ...) or YAML."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the plan JSON (contract: ketasim/plan_report.py)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report."),
    target: Optional[str] = typer.Option(None, help="e.g. 'score<=10' (default: remission on the record's scale)."),
    window: Optional[str] = typer.Option(None, help="Visits FROM:TO after the last observation (default '1 week:4 week')."),
    probability: float = typer.Option(0.8, help="Required probability of meeting the target."),
    limits: Optional[str] = typer.Option(None, help="e.g. 'sbp_rise_mmhg=30,cadss=25,sessions_per_week=1,"
                                                    "drugs=esketamine,routes=intranasal' (defaults stated in the output; "
                                                    "SBP and CADSS at the 90th percentile of a session's peak, or, "
                                                    "when the record has no reading of them, at "
                                                    "quantile_without_reading=0.75)."),
    alternative: Optional[Path] = typer.Option(None, help="YAML list of future dose lines to forecast as an alternative."),
    variable: Optional[List[str]] = typer.Option(None, help="Also forecast this trajectory variable (e.g. cp_ketamine_ng_ml)."),
    patient_id: Optional[str] = typer.Option(None, "--id", help="The patient to use when the file holds several IDs."),
    seed: int = typer.Option(0, help="Random seed of the posterior sampling."),
    minimise: str = typer.Option("sessions", help="Among plans that meet the target: fewest 'sessions' or least "
                                                  "'exposure' (total drug) first."),
    parameters: Optional[Path] = typer.Option(None, "--parameters", help="A parameter set file written by `ketasim "
                                              "calibrate` (default: the installed set): its population model is the "
                                              "fit's prior."),
):
    """Fit a patient's record, forecast the rating, and rank regimens that meet a target within safety limits."""
    from .app import _parameters_option
    from .plan_report import plan_cli

    _check_options(seed=seed, outputs={"--json": json_out, "--report": report},
                   inputs=(("the record", data), ("--alternative", alternative), ("--parameters", parameters)))
    _check_kinds({"--json": json_out, "--report": report})
    plan_cli(data, json_out=json_out, report=report, target=target, limits=limits, window=window,
             probability=probability, alternative=alternative, variables=variable, patient_id=patient_id, seed=seed,
             minimise=minimise, params=_parameters_option(parameters))


@app.command()
def params(
    search: Optional[str] = typer.Argument(None, help="Only parameters whose name contains this text (any letter "
                                                      "case); @free: the calibrated ones; a pattern with * or ? "
                                                      "(comma-separated, as `sensitivity --parameters` takes them: "
                                                      "'pd.nmda.*,@free')."),
    parameters: Optional[Path] = typer.Option(None, "--parameters", help="A parameter set file written by `ketasim "
                                              "calibrate` (default: the installed set)."),
):
    """List the parameter set: value, unit, source."""
    from .app import _parameters_option

    # the other commands take --parameters; a set written by `calibrate` could not be listed before installing it
    p = _parameters_option(parameters)
    every = [*p.literature.values(), *p.free.values()]
    if search is not None and search.strip().lower() == "@free":     # as sensitivity --parameters names them
        shown = list(p.free.values())
    elif search is not None and any(ch in search for ch in "*?[") or "," in (search or ""):
        # sensitivity's patterns ('pk.*', 'pd.nmda.*,@free'), which the how-to sends here, read as sensitivity reads
        # them (one matcher: a name without a wildcard is that name): 'no parameter name contains 'pk.*''
        from .sensitivity import parameter_matches

        pats = [q.strip() for q in search.split(",") if q.strip()]
        shown = [prm for prm in every if parameter_matches(prm.name, pats, p.free)]
    else:
        shown = [prm for prm in every if not search or search.lower() in prm.name.lower()]
    if not shown:                       # a typo printed the header and nothing else, with exit status 0
        from .errors import InputError

        groups = sorted({prm.name.split(".")[0] for prm in every if "." in prm.name})
        hint = ("; esketamine's PK parameters are those of S-ketamine: try 's_ketamine' or 'pk.ketamine'"
                if "esketamine" in search.lower() or "arketamine" in search.lower() else "")
        raise InputError(f"params: no parameter name {'matches' if any(ch in search for ch in '*?[,') else 'contains'} "
                         f"{search!r}{hint}; names start with "
                         f"{', '.join(g + '.' for g in groups)}, and the calibrated ones have no prefix (`ketasim "
                         "params @free` lists them)")
    typer.echo(f"parameter set {p.version}; calibration run: {p.calibration_run}")
    for prm in shown:
        typer.echo(f"{prm.name:42s} {prm.value:>10.4g} {prm.unit:14s} [{prm.confidence}] {prm.source}")


@app.command()
def export(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    sbml: Path = typer.Option(..., "--sbml", help="Write SBML Level 3 Version 2 of the arm's typical patient."),
    arm: Optional[str] = typer.Option(None, "--arm", help="Arm to export (default: the first arm)."),
    parameters: Optional[Path] = typer.Option(None, "--parameters", help="A parameter set file written by `ketasim "
                                              "calibrate` (default: the installed set): its values go in the file."),
):
    """Export the model with an arm's regimen as SBML (for libRoadRunner, COPASI, Tellurium, ...)."""
    from .app import _parameters_option
    from .export import export_sbml
    from .scenario import load_scenario

    # trial, plan, simulate and qualify take --parameters; a calibrated set could not be exported without installing it
    _check_options(outputs={"--sbml": sbml}, inputs=(("the scenario", scenario), ("--parameters", parameters)))
    _check_kinds({"--sbml": sbml})
    params = _parameters_option(parameters)
    sc = load_scenario(scenario)
    path = export_sbml(sc, sbml, arm=arm, params=params)
    typer.echo(f"wrote {path}")
    typer.echo(NOTICE)


class _Terminated(Terminated):
    """SIGTERM, raised in the main thread so that partial output files are removed like on Ctrl-C (an
    :class:`ketasim.errors.Terminated`, which the lower layers can catch)."""


class _Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) as main()'s handler raises it: a KeyboardInterrupt (every cleanup and typer's exit code 130
    treat it as one) that the unraisable hook tells from any other."""


#: A stopping signal's state in this process, by signal number (SIGTERM, SIGINT): None or absent (none yet),
#: "pending" (its exception is raised but main() has not caught it) or "done" (main() caught it, or returned).
_stop_state: dict = {}
#: How many times _on_sigterm has raised for each signal (by number) in this run of main(): a dropped exception's
#: signal is sent again only if no later stopping exception -- of either signal -- was raised (_resend_sigterm)
_raised: dict = {}
#: Seconds after which a SIGTERM or SIGINT whose exception was dropped (see _on_sigterm) is delivered again.
TERM_RETRY_S = 1.0


def _on_sigterm(signum, frame):
    """Raise _Terminated (SIGTERM) or _Interrupted (SIGINT, Ctrl-C) in the main thread. A handler that runs inside a
    ctypes callback (numba's compiler calls back into Python through llvmlite) raises into ctypes, which prints
    'Exception ignored on calling ctypes callback function' and drops it: the run went on for minutes and wrote its
    files. Such a dropped exception reaches ``sys.unraisablehook`` (_quiet_terminated): it is not printed, and the
    signal is sent again TERM_RETRY_S later (from a timer thread; the handler then runs in the main thread at its next
    Python instruction, outside the callback). One that propagates is not repeated (a repeat could cut short the
    removal of partial files), nor is a dropped one after which a stopping signal was raised again (a second Ctrl-C,
    or a SIGTERM, within the second: its exception is the one that stops the run)."""
    import signal

    if _stop_state.get(signum) == "done":   # main() is already stopping (a repeat that crossed the catch): nothing
        return
    _stop_state[signum] = "pending"
    _raised[signum] = _raised.get(signum, 0) + 1
    raise _Interrupted() if signum == signal.SIGINT else _Terminated()


def _quiet_terminated(previous):
    """A ``sys.unraisablehook`` that drops a _Terminated or _Interrupted (raised where it cannot propagate: a ctypes
    callback) and sends its signal again (_resend_sigterm), and hands anything else to ``previous``."""
    import signal

    def hook(unraisable):
        exc = unraisable.exc_value
        signum = signal.SIGTERM if isinstance(exc, _Terminated) else \
            signal.SIGINT if isinstance(exc, _Interrupted) else None
        if signum is None:
            previous(unraisable)
        elif _stop_state.get(signum) == "pending":
            _resend_sigterm(signum, sum(_raised.values()))
    return hook


def _resend_sigterm(signum, raised: int | None = None) -> None:
    """``signum`` (SIGTERM, SIGINT) to this process TERM_RETRY_S from now, unless main() has caught it by then or
    (``raised``: the number of stopping exceptions of both signals raised when the dropped one was, ``_raised``) a
    later one of either signal was raised: a second Ctrl-C that propagated started the command's cleanup (partial
    files removed, a Dask cluster closed), and the re-sent first one interrupted it (review s45 R3); likewise a SIGTERM
    after a dropped Ctrl-C (`timeout`, a closed terminal, `docker stop`), whose exit was then 130, not 143 (S4)."""
    import os
    import threading

    def again():
        if _stop_state.get(signum) == "pending" and (raised is None or sum(_raised.values()) == raised):
            os.kill(os.getpid(), signum)

    timer = threading.Timer(TERM_RETRY_S, again)
    timer.daemon = True
    timer.start()


#: Units of the numeric options, for the message when a unit is typed with the number ('--weight 70kg').
_OPTION_UNITS = {"--weight": "kg", "--age": "years", "--baseline": "points on the scale"}
#: Options that take a fraction (0-1), for the hint when a percentage is typed ('--dropout 10%').
_FRACTION_OPTIONS = {"--alpha", "--target", "--dropout", "--probability"}


def _bad_number_message(e) -> str | None:
    """'--weight: expected a number (in kg; write the number only), got '176lb'' for the framework's "Invalid value
    for '--weight': Input should be a valid number, unable to parse string as a number" (no value, no unit)."""
    errors = getattr(getattr(e, "__cause__", None), "errors", None)
    opts = [o for o in getattr(getattr(e, "param", None), "opts", None) or [] if str(o).startswith("--")]
    if not callable(errors) or not opts:
        return None
    try:
        err = errors()[0]
    except Exception:  # noqa: BLE001 - not the validation error expected: keep the framework's message
        return None
    kind = {"float_parsing": "a number", "float_type": "a number", "int_parsing": "a whole number",
            "int_from_float": "a whole number", "int_type": "a whole number"}.get(err.get("type"))
    bound = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most"),
             "greater_than": ("gt", "more than"), "less_than": ("lt", "less than")}.get(err.get("type"))
    if kind is None and bound is not None and bound[0] in (err.get("ctx") or {}):
        # `--chunk 0` said "Invalid value for '--chunk': Input should be greater than or equal to 1"
        return f"{opts[0]}: must be {bound[1]} {err['ctx'][bound[0]]}, got {str(err.get('input'))[:40]}"
    if kind is None:
        return None
    unit = _OPTION_UNITS.get(opts[0])
    got = str(err.get("input"))[:40]
    pct = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*%\s*", got) if opts[0] in _FRACTION_OPTIONS else None
    # '--dropout 10%' said only "expected a number, got '10%'"
    hint = f" (a fraction: {float(pct.group(1)):g} % is {float(pct.group(1)) / 100:g})" if pct else ""
    return (f"{opts[0]}: expected {kind}" + (f" (in {unit}; write the number only)" if unit else "")
            + f", got {got!r}{hint}")


def _command_of(argv) -> str:
    """'ketasim simulate' for argv ['simulate', ...] (the sub-command named first), else 'ketasim'."""
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands if c.callback}
    first = next((a for a in argv if not str(a).startswith("-")), None)
    return f"ketasim {first}" if first in names else "ketasim"


def _usage_message(e, argv) -> str:
    """One line for a usage error of the CLI framework (typer's click exceptions, read through their documented
    attributes: ``option_name``, ``possibilities``, ``param``), naming the option or argument first like every other
    error, and pointing to the sub-command's own help; anything else keeps the framework's wording."""
    cmd = _command_of(argv)
    see = f"see '{cmd} --help'"
    kind, text = type(e).__name__, e.format_message()
    opt = getattr(e, "option_name", None)
    if kind == "NoSuchOption" and opt:
        near = list(dict.fromkeys(getattr(e, "possibilities", None) or []))[:3]
        guess = (f"; did you mean {', '.join(near[:-1])} or {near[-1]}?" if len(near) > 1
                 else f"; did you mean {near[0]}?" if near else "")
        name = opt.removeprefix("--").replace("-", "_")
        if cmd == "ketasim covariates" and name in ("weight", "age", "sex", "comedication", "crp", "genotype",
                                                     "care", "resistant"):
            from .covariates import _example

            # simulate's quick-form options: '--age 70' said "did you mean --arm?"
            guess = (f"; compare levels with --covariate {name}={_example(name)}, and give the patients' own "
                     "characteristics in a scenario file (population: or patient:)")
        return f"{opt}: '{cmd}' has no such option{guess} ({see})"
    if kind == "BadOptionUsage" and opt and "requires an argument" in text:
        return f"{opt}: the value is missing (write {opt} VALUE; {see})"
    if kind == "BadOptionUsage" and opt and "does not take a value" in text:
        return f"{opt}: takes no value (write {opt} alone; {see})"
    param = getattr(e, "param", None)
    if kind == "MissingParameter" and param is not None:
        opts = [o for o in getattr(param, "opts", None) or [] if str(o).startswith("--")]
        if opts:
            return f"{opts[0]}: required ({see})"
        name = str(getattr(param, "name", "") or "argument").upper()
        return f"{name}: missing (write '{cmd} {name} ...'; {see})"
    extra = re.search(r"unexpected extra argument(?:\(s\)|s)? \((.*)\)", text)
    params = getattr(getattr(getattr(e, "ctx", None), "command", None), "params", None) or []
    if extra:
        # `simulate x.yaml --dask --size 10`: --dask took '--size' as its value and '10' was an extra argument
        takes_value = {o for q in params if not getattr(q, "is_flag", False) and not getattr(q, "count", False)
                       for o in getattr(q, "opts", None) or [] if str(o).startswith("--")}
        known = {o for q in params for o in getattr(q, "opts", None) or []}
        for j in range(1, len(argv) - 1):
            if str(argv[j]) in takes_value and str(argv[j + 1]) in known:
                return (f"{argv[j]}: the value is missing ('{argv[j + 1]}' is an option; write {argv[j]} VALUE; "
                        f"{see})")
    if extra and extra.group(1).split():
        # `plan --window 1 week:6 week` (no quotes): 'Got unexpected extra argument(s) (week:6 week)' named nothing
        words = extra.group(1).split()
        k = next((j for j in range(2, len(argv)) if argv[j] == words[0]), None)
        # the option before the extra words: its first word right before them, or (the quick form's
        # `--comedication rifampicin for 5 d`) two words before, the middle one taken as the SCENARIO argument
        j = next((j for j in (k - 2, k - 3) if k is not None and j >= 0 and str(argv[j]).startswith("--")
                  and not any(str(a).startswith("-") for a in argv[j + 1:k])), None)
        between = argv[j + 2:k] if j is not None else []
        if j is not None and not any(Path(str(a)).suffix or Path(str(a)).exists() for a in between):
            opt, value = argv[j], " ".join(map(str, [*argv[j + 1:k], *words]))
            # only an option that takes text (not `--size 30 other.yaml`: a number) and words that are not a file
            # name (`--target 'madrs<=10' second.csv` is a second file, not the target's continuation)
            p = next((q for q in params if opt in (getattr(q, "opts", None) or [])), None)
            # click names its types (p.type.name: 'integer', 'text'); this typer has no p.type, only bare_type()
            # ('int', 'list[str]'): without reading it every option counted as text ('--size 30 x 5' was told to
            # quote '30 x 5')
            kind = getattr(getattr(p, "type", None), "name", None)
            if kind is None and callable(getattr(p, "bare_type", None)):
                kind = getattr(p.bare_type(), "__name__", None) or str(p.bare_type())
            text_option = p is None or not re.search(r"int|float|bool", str(kind or "text"), re.I)
            a_file = any(re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{0,7}", Path(str(w)).suffix) for w in words)
            if text_option and not a_file and re.search(r"[A-Za-z<>=:]", value):   # a text value, not '--seed 1 2'
                return f"{opt}: a value with spaces goes in quotes, e.g. {opt} '{value}' ({see})"
    return f"{text} ({see})"


def _say_compiling():
    """Print the kernel's one-line compile notice (``solver.kernel.COMPILE_MESSAGE``, logged on
    ``solver.COMPILE_LOGGER`` at INFO just before a cold kernel compiles) on stderr while a command runs: the first
    run in a new clone compiled for ~100 s without a word (Known limits 76). Returns the function that undoes it (a
    library caller's logging is left as it was)."""
    import logging

    from .solver import COMPILE_LOGGER

    log = logging.getLogger(COMPILE_LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    before = (log.level, log.propagate)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False           # once, even where the root logger has a handler

    def restore():
        log.removeHandler(handler)
        log.setLevel(before[0])
        log.propagate = before[1]
    return restore


def main(argv=None) -> int:
    """Entry point: run the app, turning user errors into one-line messages. Exit status: 0 done, 1 an output
    file could not be written (disk full, no permission: found while writing), 2 bad input (including an output path
    whose folder does not exist or that is a folder: found before anything runs), 130 interrupted (Ctrl-C),
    143 terminated (SIGTERM)."""
    import signal
    import threading

    from .errors import InputError, KetasimError, RunLostError, command_line

    previous_showwarning = warnings.showwarning
    warnings.showwarning = _show_warning
    previous_stdout = sys.stdout
    sys.stdout = _ClosedPipeSafe(sys.stdout)
    previous_sigterm = previous_sigint = None
    previous_unraisable = sys.unraisablehook
    if threading.current_thread() is threading.main_thread():
        _stop_state.clear()
        _raised.clear()
        previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        # Ctrl-C likewise (a KeyboardInterrupt raised in a ctypes callback was dropped as SIGTERM's was), where it is
        # Python's own handler: not where SIGINT is ignored (a background job of a non-interactive shell, nohup) or
        # where an embedding program handles it
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous_sigint = signal.signal(signal.SIGINT, _on_sigterm)
        sys.unraisablehook = _quiet_terminated(previous_unraisable)
    argv = sys.argv[1:] if argv is None else list(argv)
    restore_compile_log = _say_compiling()
    try:
        from .io import output_fields

        # messages name this command's options ('--size'), not Python arguments ('n'); so do errors while writing
        with command_line(), output_fields():
            rv = app(args=rejoin_quantities(argv), standalone_mode=False)
        if rv == 130:       # typer turns Ctrl-C into exit code 130 (returned, not raised)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        _stop_state[signal.SIGINT] = "done"
        print("ketasim dashboard stopped" if _command_of(argv) == "ketasim serve" else
              "interrupted: stopped before completing; no output file was changed by the interrupted write",
              file=sys.stderr)
        return 130
    except _Terminated:
        _stop_state[signal.SIGTERM] = "done"
        print("ketasim dashboard stopped (terminated)" if _command_of(argv) == "ketasim serve" else
              "terminated: stopped before completing; no output file was changed by the interrupted write",
              file=sys.stderr)
        return 143
    except KetasimError as e:
        print(f"error: {e}", file=sys.stderr)
        # 1: an output not written (OSError) or a lost --dask cluster (RunLostError); 2: bad input, all else
        return 1 if isinstance(e, RunLostError) or (isinstance(e, OSError) and not isinstance(e, InputError)) else 2
    except OSError as e:     # unwritable folders etc. outside ketasim's own writers: still one line
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except Exception as e:
        # usage errors of the CLI framework (typer vendors its own click): show the usage message, no traceback
        number = _bad_number_message(e)
        if number is not None:
            print(f"error: {number}", file=sys.stderr)
            return 2
        if type(e).__name__ == "NoArgsIsHelpError":      # `ketasim` alone: the help, as --help gives it
            print(e.format_message())
            return 0
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            print(f"error: {_usage_message(e, argv)}", file=sys.stderr)
            return 2
        raise
    finally:
        restore_compile_log()
        warnings.showwarning = previous_showwarning
        sys.stdout = previous_stdout
        if previous_sigterm is not None:
            _stop_state.update({signal.SIGTERM: "done", signal.SIGINT: "done"})     # no more repeats (returning)
            signal.signal(signal.SIGTERM, previous_sigterm)
            if previous_sigint is not None:
                signal.signal(signal.SIGINT, previous_sigint)
            sys.unraisablehook = previous_unraisable
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
