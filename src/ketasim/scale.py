"""Populations of any size: patients in chunks, trajectories streamed to files, refusals up front.

A run of ``n`` patients per arm is cut into chunks of patients (:func:`plan_chunks`). Each chunk is a
picklable :class:`ChunkTask` that samples its own patients from the arm's per-patient random streams
(``population.sample_patients(..., start=)``), so the result is identical whatever the chunk size or the
number of workers, and :func:`run_chunk` can run in this process or on a Dask worker
(``ketasim.distributed``). Trajectories are written chunk by chunk (:class:`TrajectoryWriter`: Parquet row
groups with pyarrow, or CSV) into a temporary file beside the target that replaces it only when complete.
What cannot be done is refused before any work with one line saying why and what to do
(:func:`check_feasible`), from the real grid's output size.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .errors import InputError, argument
from .limits import fmt_bytes
from .solver import kernel as K
from .solver.grid import GridOptions

#: Bytes of working memory one chunk may use for its output arrays and their table (default budget).
CHUNK_BUDGET_BYTES = 200e6
#: Patients per chunk at most (bounded memory per chunk; parallelism inside a chunk comes from numba).
MAX_CHUNK = 20_000
#: Columns of a trajectory row besides the model outputs: arm, subject, time_h, score.
EXTRA_COLUMNS = 4
#: Bytes per trajectory row: in memory (float64 columns, pandas copies while building the table ~3x).
ROW_BYTES_MEMORY = (K.N_OUT + EXTRA_COLUMNS) * 8 * 3
#: Bytes per row on disk (upper estimates: CSV ~12 characters per value; Parquet ~8 bytes per value).
ROW_BYTES_FILE = {"csv": (K.N_OUT + EXTRA_COLUMNS) * 12, "parquet": (K.N_OUT + EXTRA_COLUMNS) * 8}


def available_memory_bytes() -> float:
    """MemAvailable from /proc/meminfo (Linux), else 4 GB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return 4e9


def plan_chunks(n: int, chunk: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] covering 0..n in pieces of at most ``chunk`` patients."""
    if chunk < 1:
        raise InputError(f"chunk: must be >= 1 patient, got {chunk}")
    return [(a, min(n, a + chunk)) for a in range(0, n, chunk)]


def chunk_size_for(n_output_times: int, budget_bytes: float = CHUNK_BUDGET_BYTES) -> int:
    """Patients per chunk so that one chunk's trajectories stay within ``budget_bytes``."""
    per_patient = max(1, n_output_times) * ROW_BYTES_MEMORY
    return int(max(1, min(MAX_CHUNK, budget_bytes // per_patient)))


def arm_stream(seed, arm_index: int, same_patients: bool = False) -> np.random.SeedSequence:
    """The random stream of an arm's patients, as ``engine.simulate`` derives it (root.spawn(n_arms)[k])."""
    root = np.random.SeedSequence(seed)
    if same_patients:
        return root
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, arm_index))


@dataclasses.dataclass(frozen=True)
class ChunkTask:
    """One chunk of patients of one arm: everything a worker needs (picklable)."""

    arm: object               # regimen.Arm
    spec: object              # population.PopulationSpec
    params: object
    arm_index: int
    start: int
    stop: int
    stream: np.random.SeedSequence
    output_times_h: np.ndarray
    experiment: object = None
    grid_options: GridOptions = GridOptions()
    on_failure: str = "raise"
    model: object = None      # a variant model definition (None: the package's model)
    occasion: int | None = None   # the crossover period whose inter-occasion effects the patients carry (None: none)


def run_chunk(task: ChunkTask):
    """Sample the chunk's patients from their own streams and simulate them: an ``engine.ArmRun``."""
    from .engine import decision_draws, run_arm
    from .population import fluctuation_scale, sample_patients

    patients = sample_patients(task.spec, task.params, task.stream, task.stop - task.start, start=task.start,
                               occasion=task.occasion)
    kw = {} if task.experiment is None else {"experiment": task.experiment}
    if task.model is not None:
        kw["model"] = task.model
    kw.update(decision_draws(task.arm, task.stream, task.start, task.stop - task.start, task.params,
                             task.spec.scale_max, fluctuation_scale(task.spec, task.params, patients.baseline)))
    return run_arm(task.arm, task.spec, patients, task.output_times_h, params=task.params,
                   grid_options=task.grid_options, on_failure=task.on_failure, **kw)


def map_ordered(fn: Callable, tasks: Iterable, executor=None, progress: Callable[[float], None] | None = None
                ) -> Iterator:
    """``fn(task)`` for every task, results in task order. ``executor``: None (this process) or an object with
    ``map_ordered(fn, tasks, progress)`` (``ketasim.distributed.DaskExecutor``)."""
    tasks = list(tasks)
    if executor is not None:
        yield from executor.map_ordered(fn, tasks, progress)
        return
    for i, t in enumerate(tasks):
        yield fn(t)
        if progress is not None:
            progress((i + 1) / len(tasks))


def chunk_tasks(scenario, params, *, n: int, seed, output_times_h, experiment=None, chunk: int | None = None,
                same_patients: bool = False, grid_options: GridOptions = GridOptions(),
                on_failure: str = "raise") -> list[ChunkTask]:
    times = np.asarray(output_times_h, float)
    chunk = chunk or chunk_size_for(times.size)
    experiment = experiment or scenario.experiment
    from .population import arm_spec

    return [ChunkTask(arm, arm_spec(scenario.population, arm), params, k, a, b, arm_stream(seed, k, same_patients), times,
                      experiment, grid_options, on_failure)
            for k, arm in enumerate(scenario.arms) for a, b in plan_chunks(n, chunk)]


# ---- sizes and refusals ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SizeEstimate:
    rows: int                 # trajectory rows (arms x patients x output times)
    memory_bytes: float       # to hold every trajectory in memory as a table
    file_bytes: dict          # format -> bytes on disk (upper estimate)


def estimate(n_arms: int, n: int, n_output_times: int) -> SizeEstimate:
    rows = int(n_arms) * int(n) * int(n_output_times)
    return SizeEstimate(rows, rows * ROW_BYTES_MEMORY, {k: rows * v for k, v in ROW_BYTES_FILE.items()})


def needs_streaming(est: SizeEstimate, memory_budget: float | None = None) -> bool:
    """True when the trajectories would not fit comfortably in memory (half of what is available)."""
    budget = memory_budget if memory_budget is not None else 0.5 * available_memory_bytes()
    return est.memory_bytes > budget


def check_feasible(est: SizeEstimate, *, outputs: dict, memory_budget: float | None = None) -> None:
    """Refuse up front (InputError, one line) what cannot be done with these outputs.

    ``outputs``: {"csv": path or None, "parquet": path or None, "report": path or None, "plot": path or None,
    "patients_csv": path or None} (a streamed run may write only the per-patient table).
    The files are checked against the free disk space, with a warning above :data:`LARGE_OUTPUT_BYTES`
    (:func:`check_output_files`), named as the command line's ``--csv`` / ``--parquet``.
    """
    files = {k: v for k, v in outputs.items() if k in ("csv", "parquet") and v}
    if needs_streaming(est, memory_budget):
        if outputs.get("report"):
            raise InputError(f"--report: {est.rows:,} trajectory rows (~{fmt_bytes(est.memory_bytes)} in memory) do "
                             "not fit in memory for a report; use a smaller --size, fewer output times, or 'ketasim "
                             "trial' for endpoints")
        if not files and not outputs.get("patients_csv"):
            raise InputError(f"simulate: {est.rows:,} trajectory rows (~{fmt_bytes(est.memory_bytes)} in memory) do "
                             "not fit in memory and no file was asked for; give --parquet (streamed, bounded memory) "
                             "or use 'ketasim trial' for endpoints only")
    check_output_files(est, files, option="--")


#: A trajectory output estimated above this many bytes warns (:class:`~ketasim.errors.OutputSizeWarning`) with its
#: size and how to make it smaller, before anything runs (2 GB: a 1-min grid of 2,000 patients over weeks streamed
#: ~19 GB without a word).
LARGE_OUTPUT_BYTES = 2e9
#: Left free on an output's disk: this share of its free space, and at least :data:`DISK_MARGIN_MIN_BYTES`.
DISK_MARGIN_SHARE = 0.1
DISK_MARGIN_MIN_BYTES = 100e6
_SMALLER = ("output less often or at fewer times (the scenario's output: every, or a list of times), fewer "
            "patients, or 'ketasim trial' for endpoints only")


def check_output_files(est: SizeEstimate, files: dict, *, option: str = "") -> None:
    """Before a trajectory file is written: the estimated bytes (upper estimates, :data:`ROW_BYTES_FILE`) of the
    files ``files`` ({"csv": path, "parquet": path}; None skipped) that share a disk must fit in its free space
    (``shutil.disk_usage`` of the file's folder) less a margin (:data:`DISK_MARGIN_SHARE` of it, at least
    :data:`DISK_MARGIN_MIN_BYTES`), else an InputError (one line naming the option, the size and the free space);
    above :data:`LARGE_OUTPUT_BYTES` in all, one :class:`~ketasim.errors.OutputSizeWarning` naming the size and
    how to make it smaller. ``option``: the prefix of the names in the lines ("--" for the command line's
    ``--csv``; "" for the ``csv=`` argument)."""
    import warnings

    from .errors import OutputSizeWarning

    files = {k: Path(str(v)) for k, v in files.items() if k in ROW_BYTES_FILE and v}
    if not files:
        return
    disks: dict = {}
    for fmt, path in files.items():
        folder = path.resolve().parent
        if not folder.is_dir():
            raise InputError(f"{option}{fmt}: folder {folder} does not exist")
        try:
            key = os.stat(folder).st_dev
        except OSError:
            key = folder
        disks.setdefault(key, (folder, []))[1].append(fmt)
    for folder, fmts in disks.values():
        names = " and ".join(option + f for f in fmts)
        free = float(shutil.disk_usage(folder).free)
        need = float(sum(est.file_bytes[f] for f in fmts))
        keep = max(DISK_MARGIN_SHARE * free, DISK_MARGIN_MIN_BYTES)
        if need > free - keep:
            raise InputError(f"{names}: {est.rows:,} trajectory rows need up to ~{fmt_bytes(need)} but {folder} has "
                             f"{fmt_bytes(free)} free (~{fmt_bytes(keep)} of it kept free); {_SMALLER}")
    total = float(sum(est.file_bytes[f] for f in files))
    if total > LARGE_OUTPUT_BYTES:
        names = " and ".join(option + f for f in files)
        warnings.warn(f"{names}: {est.rows:,} trajectory rows make up to ~{fmt_bytes(total)} of files; to make "
                      f"{'it' if len(files) == 1 else 'them'} smaller, {_SMALLER}", OutputSizeWarning, stacklevel=3)


# ---- streamed files -----------------------------------------------------------------------------------------------
def chunk_table(result_like, run, start: int):
    """Tidy trajectory table of one chunk (subjects numbered from ``start``), as SimulationResult.trajectories."""
    from .result import SimulationResult

    df = SimulationResult(scenario=result_like.scenario, params=result_like.params, seed=result_like.seed,
                          runs=(run,), typical=False).trajectories()
    df["subject"] += start
    return df


class TrajectoryWriter:
    """Write trajectory tables chunk by chunk; the target appears only when complete (temporary file beside
    it, then ``os.replace``). Parquet: one row group per chunk, provenance and units in the file metadata;
    CSV: one header, provenance beside it as ``<file>.provenance.json``. ``units``: the columns' units (default the
    trajectory columns', ``result.UNITS``; the per-patient table's for ``--patients-csv``)."""

    def __init__(self, path, fmt: str, provenance: dict, units: dict | None = None, field: str | None = None):
        if fmt not in ("csv", "parquet"):
            raise InputError(f"format: use csv or parquet, got {fmt!r}")
        from .io import check_target, final_path

        # a folder, a missing folder, a device: one line naming ``field`` (the option or argument) and the path
        self.given = check_target(path, field)
        self.field = field
        self.path = check_target(final_path(self.given), field)     # a link's target (the link stays a link)
        self.fmt = fmt
        self.provenance = provenance
        self.units = units
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._writer = None
        self._fh = None
        self.rows = 0

    def __enter__(self):
        return self

    def write(self, df) -> None:
        try:
            self._write(df)
        except OSError as e:        # a full disk: one line naming the option and the file (not the hidden temporary)
            raise self._write_error(e) from None

    def _write_error(self, e: OSError):
        """'--csv: out.csv: cannot write (No space left on device)': the option (the argument from Python) and the
        file given, not the hidden temporary file the OS error named (:func:`ketasim.io.write_error`)."""
        from .io import write_error

        return write_error(self.given, e, field=self.field)

    def _write(self, df) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if self._writer is None:
                meta = dict(table.schema.metadata or {})
                meta[b"ketasim"] = json.dumps({**self.provenance, "units": self._units()}).encode()
                self._schema = table.schema.with_metadata(meta)
                self._writer = pq.ParquetWriter(self.tmp, self._schema)
            self._writer.write_table(table.cast(self._schema))
        else:
            if self._fh is None:
                self._fh = open(self.tmp, "w", encoding="utf-8", newline="")
                df.to_csv(self._fh, index=False, float_format="%.6g")
            else:
                df.to_csv(self._fh, index=False, header=False, float_format="%.6g")
        self.rows += len(df)

    def _units(self) -> dict:
        from .result import UNITS

        return UNITS if self.units is None else self.units

    def close(self) -> Path:
        try:
            return self._close()
        except OSError as e:
            raise self._write_error(e) from None

    def _close(self) -> Path:
        if self._writer is not None:
            self._writer.close()
        if self._fh is not None:
            self._fh.close()
        if self._writer is None and self._fh is None:
            raise InputError(f"{self.path}: nothing to write")
        os.replace(self.tmp, self.path)
        if self.fmt == "csv":
            side = Path(str(self.given) + ".provenance.json")   # beside the name given, as SimulationResult.to_csv
            tmp = side.with_name(f".{side.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({**self.provenance, "units": self._units()}, indent=2), encoding="utf-8")
            os.replace(tmp, side)
        return self.path

    def abort(self) -> None:
        for h in (self._writer, self._fh):
            try:
                if h is not None:
                    h.close()
            except Exception:  # noqa: BLE001 - cleaning up after another error; that one is reported
                pass
        self.tmp.unlink(missing_ok=True)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


#: trajectory columns whose per-patient peak a population run's monitoring lines summarise (``summary.MONITORED``
#: labels them): dissociation (CADSS points) and systolic BP rise (mmHg)
MONITORED_COLUMNS = ("cadss", "sbp_change_mmhg")


def monitored_peaks(run) -> dict:
    """``{column: each patient's highest value at the output times}`` (arrays over patients, CADSS points or mmHg)
    of the :data:`MONITORED_COLUMNS` of one arm's run (an ``engine.ArmRun``): what
    ``summary.monitoring_summary_from_peaks`` summarises. A streamed run keeps these (n floats a column), not its
    trajectories. Here, below the reporting layer, because the streamed run (used by trial and nca) keeps them."""
    names = list(run.definition.output_names)
    return {col: run.out[:, :, names.index(col)].max(axis=1) for col in MONITORED_COLUMNS if col in names}


@dataclasses.dataclass
class StreamSummary:
    """What a streamed run kept in memory: the first patients of each arm (for plots) and counts."""

    rows: int
    patients: int
    failed: int
    sample: object            # SimulationResult of the first <= ``keep`` patients per arm
    #: {arm name: {column: each patient's peak at the output times}} of the monitored columns
    #: (:data:`MONITORED_COLUMNS`: CADSS, SBP rise), every patient in order: n floats a column, not the trajectories
    peaks: dict = dataclasses.field(default_factory=dict)
    #: {arm name: each patient's final dose level} (index into the arm's titration levels; n int8) of the arms with a
    #: titration rule: the in-memory run's "final dose (titration)" line
    final_dose_levels: dict = dataclasses.field(default_factory=dict)


def simulate_streamed(scenario, params=None, *, n: int | None = None, seed=None, output_times_h=None,
                      experiment=None, chunk: int | None = None, csv=None, parquet=None, executor=None,
                      progress: Callable[[float], None] | None = None, keep: int = 2000,
                      on_failure: str = "raise", check_disk: bool = True, patients_csv=None,
                      anesthetic_check: bool = True) -> StreamSummary:
    """Simulate every arm in chunks and stream trajectories to ``csv`` and/or ``parquet`` (bounded memory).

    The files equal ``simulate(...).to_csv/to_parquet`` of the same scenario, seed and size (same patients,
    same rows in the same order). Keeps the first ``keep`` patients per arm in memory for figures.

    ``check_disk``: before anything runs, the files' estimated size is checked against the free disk space
    (refused in one line when it does not fit with a margin) and warns above :data:`LARGE_OUTPUT_BYTES`
    (:func:`check_output_files`); False when the caller has checked it (``ketasim simulate`` does, naming its
    options).

    ``patients_csv``: also write the per-patient covariate table (``SimulationResult.patients`` of the same run)
    chunk by chunk, provenance and units beside it; like the trajectory files it appears only when complete.

    ``anesthetic_check``: an arm whose doses add up to the anesthetic range (none alone in it) warns once after the
    run (``DoseWarning``), as ``simulate`` warns; False leaves it out (``ketasim simulate`` warns itself, naming a
    record's file).
    """
    from .engine import ArmRun
    from .parameters import load_parameters
    from .population import Patients
    from .result import SimulationResult
    from .limits import (MAX_PATIENTS, check_bool, check_int, check_scenario_arg, check_scenario_run, check_seed,
                         check_size)

    # the arguments as simulate() checks them (n=-5 ran "-15 patients", n="10" was a TypeError, chunk=0 the default)
    check_scenario_arg(scenario)
    n = None if n is None else check_size(n, "n")
    if getattr(scenario, "patient", None) is None:
        from .population import check_population_age

        check_population_age(scenario.population, n)      # a scenario of size 1 run with n > 1
    seed = None if seed is None else check_seed(seed, "seed")
    chunk = None if chunk is None else check_int(chunk, "chunk", lo=1, hi=MAX_PATIENTS)
    keep = check_int(keep, "keep", lo=0, hi=MAX_PATIENTS)
    if not isinstance(on_failure, str) or on_failure not in ("raise", "flag"):
        raise InputError(f"on_failure: use 'raise' or 'flag', got {on_failure!r}")
    if not isinstance(check_disk, bool):
        raise InputError(f"check_disk: expected True or False, got {type(check_disk).__name__}")
    anesthetic_check = check_bool(anesthetic_check, "anesthetic_check")
    if getattr(scenario, "patient", None) is not None:
        # the chunks sample their patients: one stated patient would run with random effects, not the typical
        # ones simulate() gives it
        raise InputError(f"scenario: {scenario.name!r} states one patient (patient:): simulate(scenario) runs it; "
                         "simulate_streamed streams populations (write population: instead)")
    params = params or load_parameters()
    seed = scenario.seed if seed is None else seed
    size_field = argument("n", "--size") if n is not None else "population.size"
    n = scenario.population.size if n is None else n
    times = np.asarray(output_times_h if output_times_h is not None else scenario.output_times_h(n), float)
    # the run's time (and one chunk's memory), before any writer or file exists: the scenario's load checks one
    # patient only (a 2,000,000-patient file streamed on past KETASIM_MAX_SECONDS; review R6-1)
    check_scenario_run(scenario, n, times, field=size_field, chunk_patients=chunk or chunk_size_for(times.size),
                       tables=False)
    head = SimulationResult(scenario=scenario, params=params, seed=seed, runs=(), typical=False,
                            experiment=experiment or scenario.experiment, n_patients=n)
    tasks = chunk_tasks(scenario, params, n=n, seed=seed, output_times_h=times, experiment=experiment, chunk=chunk,
                        on_failure=on_failure)
    writers = []
    if csv:
        writers.append(TrajectoryWriter(csv, "csv", head.provenance, field=argument("csv", "--csv")))
    if parquet:
        writers.append(TrajectoryWriter(parquet, "parquet", head.provenance, field=argument("parquet", "--parquet")))
    if check_disk and writers:        # before any chunk runs or any byte is written
        check_output_files(estimate(len(scenario.arms), n, times.size), {w.fmt: w.path for w in writers})
    patient_writer = None
    if patients_csv:                  # one row per patient: small beside the trajectories, not estimated
        from .result import patient_units, patients_table

        patient_writer = TrajectoryWriter(patients_csv, "csv", head.provenance,
                                          units=patient_units(scenario.population.scale),
                                          field=argument("patients_csv", "--patients-csv"))
    every_writer = writers + ([patient_writer] if patient_writer is not None else [])
    kept: dict[int, list] = {}
    peaks: dict[int, dict] = {}
    finals: dict[int, list] = {}
    rows = failed = 0
    try:
        for task, run in zip(tasks, map_ordered(run_chunk, tasks, executor, progress)):
            failed += int(run.failed.sum())
            if writers:
                df = chunk_table(head, run, task.start)
                for w in writers:
                    w.write(df)
                rows += len(df)
            if patient_writer is not None:
                patient_writer.write(patients_table(run, task.start))
            for col, p in monitored_peaks(run).items():
                peaks.setdefault(task.arm_index, {}).setdefault(col, []).append(p)
            if getattr(run, "dose_levels", None) is not None and run.dose_levels.size:
                finals.setdefault(task.arm_index, []).append(run.dose_levels[:, -1].copy())
            have = sum(r.patients.n for r in kept.get(task.arm_index, []))
            if have < keep:
                kept.setdefault(task.arm_index, []).append(_take_run(run, slice(0, keep - have)))
            del run               # before the next chunk is computed
        for w in every_writer:
            w.close()
    except BaseException:
        for w in every_writer:
            w.abort()
        raise
    runs = []
    for k in sorted(kept):
        parts = kept[k]
        pats = Patients(**{f.name: np.concatenate([getattr(r.patients, f.name) for r in parts])
                           for f in dataclasses.fields(Patients)})
        r0 = parts[0]
        runs.append(ArmRun(r0.arm, pats, r0.output_times_h, np.concatenate([r.out for r in parts]),
                           np.concatenate([r.sessions for r in parts]), r0.session_times_h,
                           np.concatenate([r.failed for r in parts])))
    sample = SimulationResult(scenario=scenario, params=params, seed=seed, runs=tuple(runs), typical=False,
                              experiment=head.experiment)
    if anesthetic_check:            # after the run, as simulate() warns
        from .engine import warn_cumulative_anesthetic

        warn_cumulative_anesthetic(scenario, params, experiment=head.experiment)
    return StreamSummary(rows, n * len(scenario.arms), failed, sample,
                         {scenario.arms[k].name: {c: np.concatenate(v) for c, v in peaks[k].items()}
                          for k in sorted(peaks)},
                         {scenario.arms[k].name: np.concatenate(finals[k]) for k in sorted(finals)})


def _take_run(run, sl):
    return dataclasses.replace(run, patients=run.patients.take(sl), out=run.out[sl], sessions=run.sessions[sl],
                               failed=run.failed[sl])
