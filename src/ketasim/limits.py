"""Resource limits and argument checks at the public boundary (one place for the CLI, the API and the server).

Every run is estimated *before* anything large is allocated: :func:`estimate_run` counts the solver steps of
the real grid (event-aligned, see ``solver/grid.py``) and the bytes of the arrays and tables the run builds, and
:func:`check_run` refuses with one :class:`~ketasim.errors.InputError` line saying why and what to do.
Streaming writers (population chunks) call the same function with ``chunk_patients`` so that only one
chunk's tables count.

Budgets: memory ``KETASIM_MAX_MEMORY`` (bytes, or e.g. ``8GiB``, ``8GB`` = 8 * 10**9; default half the physical
memory), time ``KETASIM_MAX_SECONDS`` (default 3600 s of estimated compute on this machine's measured throughput).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re

from .errors import YAML_BOOLEANS, InputError, argument

#: Longest horizon (and any time in a scenario): 10 years in hours.
MAX_TIME_H = 10 * 365.25 * 24.0
#: Most virtual patients per arm.
MAX_PATIENTS = 2_000_000
#: Most model evaluations of one sensitivity analysis (Morris: samples x (parameters + 1), Sobol: samples x
#: (parameters + 2), plus 2 per parameter for the elasticities): each is a virtual trial arm, so 200,000 are hours
#: of computing, and the sample matrix (evaluations x parameters floats) stays below ~200 MB.
MAX_SENSITIVITY_EVALUATIONS = 200_000
#: Seeds are non-negative integers below 2**63 (numpy SeedSequence; JSON-safe as int64).
MAX_SEED = 2**63 - 1
#: Scenario files: bytes read at most, nesting depth, nodes after YAML alias expansion.
MAX_SCENARIO_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NODES = 200_000
#: Quantity text ('0.5 mg/kg'): characters at most; magnitudes beyond this are refused as absurd.
MAX_QUANTITY_CHARS = 64
MAX_MAGNITUDE = 1e12

# cost model of the kernel, measured by benchmarks/bench_engine.py (100,000 patients x 28 days, ~400 steps,
# 7.1 s on 2 cores): ~5.6e6 patient-steps per second; taken conservatively.
_PATIENT_STEPS_PER_S = 4.0e6
# the fixed cost of one arm's run, whatever its patients: sampling them, the PK set-up, the kernel's look-up and the
# step-weights table (solver/expint.weights_table). Measured (2 loaded cores, NUMBA_NUM_THREADS=1): one patient's
# arm takes 7-15 ms (design_example, 143-1235 steps) and 12-25 ms (sustain1_like_withdrawal, 7643 steps). Uncounted,
# a sensitivity run of 5 patients per evaluation was estimated ~40x too fast (0.18 ms against 7 ms an evaluation).
_RUN_OVERHEAD_S = 0.01
_STEP_OVERHEAD_S = 1.5e-6       # per grid step of the arm (the grid, its events and weights), also per run
_N_OUT = 28          # solver outputs per row (solver/kernel.py OUT_NAMES)
_N_SUM = 7
# bytes per output row while the tidy table is built: the kernel array, the DataFrame columns (outputs,
# arm, subject, time, score) and one copy while arms are concatenated.
_TABLE_ROW_BYTES = 8 * (_N_OUT + 2 * (_N_OUT + 4))
_GRID_STEP_BYTES = 8 * 4          # times, step ids, weights index, event lookup
_H0, _GROWTH, _HMAX = 1.0 / 120.0, 1.2, 2.0


@dataclasses.dataclass(frozen=True)
class RunEstimate:
    """What a run will cost: output rows, solver steps per patient, peak bytes, compute seconds."""

    rows: int
    steps: int
    bytes: int
    seconds: float

    def describe(self) -> str:
        return f"{self.rows:,} output rows, ~{fmt_bytes(self.bytes)}, ~{fmt_seconds(self.seconds)}"


def fmt_bytes(b: float) -> str:
    """Bytes as every message writes them (the run budgets, the disk check, the trajectory-size warning): decimal
    units as disks report free space and the docs quote sizes (1 kB = 1000 bytes, 1 GB = 10**9), 3 significant
    digits: '68.8 kB', '1.05 MB', '37.7 GB', '30 GB'; below 1 kB '512 B'."""
    for unit, k in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= k:
            v = b / k
            return f"{v:,.0f} {unit}" if v >= 999.5 else f"{v:.3g} {unit}"     # not '1e+03 GB'
    return f"{int(b)} B"


def fmt_seconds(s: float) -> str:
    """A duration in seconds, for the run-budget messages and the progress lines alike: '0.03 s', '12.5 s' below
    2 min, then the outputs' rule for a reading on a grid ('14 min' below 2 h, '3.2 h' below 48 h, '30.5 d'; a
    progress line said '~2637199 s left' for a month); '?' when not known (NaN, inf).
    :func:`ketasim.units.fmt_hours` ``exact=False`` delegates here (units imports limits, not the reverse)."""
    if s is None or not math.isfinite(s):
        return "?"
    if s < 120:
        return f"{s:.3g} s"
    h = s / 3600.0
    if h < 2:
        return f"{h * 60:.0f} min"
    if h < 48:
        return f"{h:.1f} h"
    return f"{h / 24:.1f} d"


def _parse_bytes(text: str) -> int | None:
    """'8GiB', '8g' (binary: 8 * 2**30), '8GB' (decimal, as :func:`fmt_bytes` writes it: 8 * 10**9), '1000000',
    '512B'."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(|k|m|g|t)(ib|b)?\s*", text.lower())
    if not m or (m.group(3) == "ib" and not m.group(2)):
        return None
    power = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}[m.group(2)]
    return int(float(m.group(1)) * (1000 ** power if m.group(3) == "b" else 1024 ** power))


def memory_budget() -> int:
    """Bytes one run may use: ``KETASIM_MAX_MEMORY`` or half of the physical memory."""
    env = os.environ.get("KETASIM_MAX_MEMORY")
    if env:
        b = _parse_bytes(env)
        if b:
            return b
    try:
        phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        phys = 8 << 30
    return int(phys // 2)


def time_budget() -> float:
    """Estimated compute seconds one run may take: ``KETASIM_MAX_SECONDS`` or 3600."""
    try:
        v = float(os.environ.get("KETASIM_MAX_SECONDS", "3600"))
    except ValueError:
        v = 3600.0
    return v if v > 0 and math.isfinite(v) else 3600.0


def grid_steps(horizon_h: float, n_resets: int, n_output_times: int) -> int:
    """Upper estimate of the solver steps of one arm: small steps after each reset (growing x1.2 from 30 s to
    2 h: ~31 steps, ~12 h), 2-h steps elsewhere, plus one split per output time."""
    ramp = math.ceil(math.log(_HMAX / _H0) / math.log(_GROWTH)) + 1
    return int(horizon_h / _HMAX) + ramp * (n_resets + 1) + n_output_times + 1


def estimate_run(n_patients: int, n_output_times: int, horizon_h: float, *, n_arms: int = 1, n_resets: int = 0,
                 n_sessions: int = 0, chunk_patients: int | None = None, tables: bool = True) -> RunEstimate:
    """Estimate a run before allocating: rows, solver steps per patient, peak bytes, seconds.

    ``n_patients`` per arm; ``n_output_times`` output times per patient; ``horizon_h`` (h) the last simulated
    time; ``n_resets`` dose-related events per arm (each restarts small steps). ``chunk_patients``: patients
    held in memory at once by a streaming writer (None: all). ``tables``: whether tidy tables are built.
    The seconds count the patients' solver steps and a fixed cost per arm (:func:`run_overhead_seconds`), which
    dominates a run of a few patients (a sensitivity evaluation).
    """
    n_patients, n_output_times = int(n_patients), int(n_output_times)
    rows = n_patients * n_output_times * n_arms
    steps = grid_steps(horizon_h, n_resets, n_output_times)
    held = n_patients if chunk_patients is None else min(n_patients, int(chunk_patients))
    per_row = _TABLE_ROW_BYTES if tables else 8 * _N_OUT
    arms_held = n_arms if chunk_patients is None else 1
    b = held * arms_held * n_output_times * per_row + held * arms_held * max(n_sessions, 1) * 8 * _N_SUM
    b += n_arms * steps * _GRID_STEP_BYTES + n_patients * n_arms * 8 * 40   # grid + patient parameters
    # per arm, not per streamed chunk: chunk_patients is a memory bound (scenario loading passes 1), and a real
    # chunk (10,000 patients) makes the fixed cost negligible
    seconds = n_patients * n_arms * steps / _PATIENT_STEPS_PER_S + n_arms * run_overhead_seconds(steps)
    return RunEstimate(rows, steps, int(b), seconds)


def run_overhead_seconds(steps: int) -> float:
    """The cost of one arm's run beyond its patients' solver steps (sampling the patients, the PK set-up, the
    step-weights table), for a grid of ``steps`` steps: a run of 5 patients costs about as much as one of 100."""
    return _RUN_OVERHEAD_S + _STEP_OVERHEAD_S * int(steps)


def check_run(n_patients: int, n_output_times: int, horizon_h: float, *, field: str = "run", **kw) -> RunEstimate:
    """:func:`estimate_run`, refusing (one InputError line) what would not fit in memory or time."""
    if not math.isfinite(horizon_h) or horizon_h > MAX_TIME_H * 1.5:
        raise InputError(f"{field}: a horizon of {horizon_h:g} h is beyond the {MAX_TIME_H:g} h (10 years) supported")
    est = estimate_run(n_patients, n_output_times, horizon_h, **kw)
    mem = memory_budget()
    what = (f"{n_patients:,} patients x {n_output_times:,} output times x {kw.get('n_arms', 1)} arm(s) over "
            f"{horizon_h:g} h")
    if est.bytes > mem:
        raise InputError(f"{field}: {what} needs ~{fmt_bytes(est.bytes)}, more than the {fmt_bytes(mem)} allowed "
                         "(KETASIM_MAX_MEMORY); output less often (output.every), fewer times or fewer patients, "
                         "or stream the population in chunks")
    secs = time_budget()
    if est.seconds > secs:
        raise InputError(f"{field}: {what} would compute for ~{fmt_seconds(est.seconds)}, more than the "
                         f"{fmt_seconds(secs)} allowed (KETASIM_MAX_SECONDS); use fewer patients or a shorter horizon")
    return est


def _scenario_run_size(scenario, n: int | None, output_times_h, arms=None) -> tuple[int, int, float, dict]:
    """(patients per arm, output times, horizon h, the other :func:`estimate_run` counts) of a validated scenario's
    run with optional overrides: the horizon reaches 24 h past the last dose. ``arms``: the arms run (default: all;
    a sensitivity evaluation runs one)."""
    n_patients = scenario.population.size if n is None else n
    arms = scenario.arms if arms is None else list(arms)
    if output_times_h is None:
        n_out = scenario.n_output_times(n)
        last = scenario.horizon_h
    else:
        n_out = len(output_times_h)
        last = float(max(output_times_h)) if n_out else 0.0
    adm = [len(a.administrations()) for a in arms]
    last_dose = max((a.last_time_h for a in arms), default=0.0)
    return (n_patients, n_out, max(last, last_dose + 24.0),
            {"n_arms": len(arms), "n_resets": 3 * max(adm, default=0), "n_sessions": max(adm, default=1)})


def estimate_scenario_run(scenario, n: int | None = None, output_times_h=None, *, tables: bool = True,
                          arms=None) -> RunEstimate:
    """:func:`estimate_run` for a validated scenario (its arms' events and horizon) and optional overrides;
    ``arms``: the arms run (default: all)."""
    n_patients, n_out, horizon, kw = _scenario_run_size(scenario, n, output_times_h, arms)
    return estimate_run(n_patients, n_out, horizon, tables=tables, **kw)


def check_repeated(est: RunEstimate, runs: int, field: str, *, what: str, fewer: str, per_run: str | None = None,
                   fewer_per_run: str = "fewer patients") -> None:
    """Refuse in one line ``runs`` runs of one estimated run ``est`` (sensitivity evaluations, --uncertainty draws)
    that would not fit: one run above the memory budget (checked when ``per_run`` names what one run holds), or all
    of them above the time budget. ``what``: the runs ('1,355 evaluations of 200 patients'); ``fewer``: what to
    reduce."""
    mem = memory_budget()
    if per_run is not None and est.bytes > mem:
        raise InputError(f"{field}: {per_run} need ~{fmt_bytes(est.bytes)}, more than the {fmt_bytes(mem)} allowed "
                         f"(KETASIM_MAX_MEMORY); use {fewer_per_run}")
    secs = time_budget()
    if est.seconds * runs > secs:
        raise InputError(f"{field}: {what} would compute for ~{fmt_seconds(est.seconds * runs)}, more than the "
                         f"{fmt_seconds(secs)} allowed (KETASIM_MAX_SECONDS); use {fewer}")


def check_scenario_run(scenario, n: int | None = None, output_times_h=None, *, field: str = "run",
                       chunk_patients: int | None = None, tables: bool = True, extra_times: int = 0) -> RunEstimate:
    """:func:`check_run` for a validated scenario (its arms' events and horizon) and optional overrides."""
    n_patients, n_out, horizon, kw = _scenario_run_size(scenario, n, output_times_h)
    return check_run(n_patients, n_out + extra_times, horizon, field=field, chunk_patients=chunk_patients,
                     tables=tables, **kw)


# ---- argument checks (public API, CLI options, request bodies) ----------------------------------------------
def check_int(value, field: str, *, lo: int, hi: int) -> int:
    """A whole number in [lo, hi]; accepts integral floats (1e3) but not bools, text or fractions."""
    if isinstance(value, bool):           # seed: yes in a YAML file, n=True: the one wording of the scenario's
        raise InputError(f"{field}: must be a whole number, not true/false{YAML_BOOLEANS}")
    if not isinstance(value, numbers.Real):
        raise InputError(f"{field}: expected a whole number, got {type(value).__name__} {_short(value)}")
    if isinstance(value, numbers.Integral):
        v = int(value)
    else:
        f = float(value)
        if not math.isfinite(f) or not f.is_integer():
            raise InputError(f"{field}: expected a whole number, got {_short(value)}")
        v = int(f)
    if not lo <= v <= hi:
        raise InputError(f"{field}: must lie in {lo:,}-{hi:,}, got {v:,}")
    return v


def check_seed(seed, field: str = "seed") -> int:
    return check_int(seed, field, lo=0, hi=MAX_SEED)


def check_size(n, field: str = "size") -> int:
    return check_int(n, field, lo=1, hi=MAX_PATIENTS)


#: most posterior parameter draws of a prediction interval (``trial --uncertainty``, ``qualify --uncertainty``)
MAX_UNCERTAINTY = 1000


def check_uncertainty_draws(k, field: str | None = None, none: str = "no prediction intervals") -> int:
    """``--uncertainty``'s number of posterior parameter draws as an int (2 to :data:`MAX_UNCERTAINTY`), else a
    one-line InputError naming ``field`` (default ``uncertainty``, ``--uncertainty`` on the command line; 0, "no
    prediction intervals" by default, ``none`` says what 0 means, is the caller's to handle). One rule for ``run_trial``, ``qualify_external`` and
    ``calibration.qualify`` (whose ``parameter_draws=1`` ran while the command refused ``--uncertainty 1``)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 2 <= int(k) <= MAX_UNCERTAINTY:
        raise InputError(f"{field or argument('uncertainty', '--uncertainty')}: parameter draws must be a whole number "
                         f"from 2 to {MAX_UNCERTAINTY} (0: {none}), got {k!r}")
    return int(k)


def check_real(value, field: str, *, lo: float = -math.inf, hi: float = math.inf, unit: str = "") -> float:
    """A finite number in [lo, hi] (``unit`` named in the message: '--weight: must lie in [20, 250], got 7' said not
    which unit the bounds are in)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{field}: expected a number, got {type(value).__name__} {_short(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{field}: must be a finite number, got {v}")
    if not lo <= v <= hi:
        raise InputError(f"{field}: must lie in [{lo:g}, {hi:g}]{' ' + unit if unit else ''}, got {v:g}")
    return v


def check_output_times(times, field: str = "output_times_h"):
    """A non-empty, bounded, non-decreasing list of finite times in [0, 10 years] (h); returns a float array."""
    import numpy as np

    if isinstance(times, (str, bytes, dict)) or not hasattr(times, "__len__"):
        raise InputError(f"{field}: expected a list of times in hours, got {type(times).__name__}")
    if len(times) == 0:
        raise InputError(f"{field}: at least one time is required")
    if len(times) > 50_000_000:
        raise InputError(f"{field}: {len(times):,} output times is more than the 50,000,000 supported")
    try:
        arr = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{field}: every time must be a number of hours") from None
    if arr.ndim != 1:
        raise InputError(f"{field}: expected a flat list of times in hours")
    if not np.isfinite(arr).all():
        raise InputError(f"{field}: every time must be finite")
    if arr.min() < 0 or arr.max() > MAX_TIME_H:
        raise InputError(f"{field}: times must lie in 0-{MAX_TIME_H:g} h (10 years)")
    if arr.size > 1 and np.any(np.diff(arr) < 0):
        raise InputError(f"{field}: times must be in increasing order")
    return arr


def check_depth(obj, field: str = "scenario", max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Refuse mappings/lists nested deeper than ``max_depth`` or holding more than ``max_nodes`` items
    (iterative: no recursion, so no RecursionError on hostile input)."""
    stack = [(obj, 1)]
    seen = 0
    while stack:
        x, d = stack.pop()
        if d > max_depth:
            raise InputError(f"{field}: nested more than {max_depth} levels deep")
        if isinstance(x, dict):
            items = list(x.values())
        elif isinstance(x, (list, tuple)):
            items = list(x)
        else:
            continue
        seen += len(items)
        if seen > max_nodes:
            raise InputError(f"{field}: more than {max_nodes:,} values")
        stack.extend((v, d + 1) for v in items)


def _short(value) -> str:
    r = repr(value)
    return r if len(r) <= 40 else r[:37] + "..."


__all__ = ["RunEstimate", "estimate_run", "check_run", "check_scenario_run", "check_int", "check_seed",
           "check_size", "check_real", "check_output_times", "check_depth", "memory_budget", "time_budget",
           "MAX_TIME_H", "MAX_PATIENTS", "MAX_SEED", "MAX_SCENARIO_BYTES", "MAX_DEPTH", "MAX_QUANTITY_CHARS"]


# ---- the public API's arguments (engine.simulate, trial.run_trial) ---------------------------------------------
def _is(obj, module: str, name: str) -> bool:
    """isinstance by qualified name: this module sits below the ones that define these classes (units imports it),
    so it must not import them."""
    return any(c.__name__ == name and c.__module__ == f"ketasim.{module}" for c in type(obj).__mro__)


def check_scenario_arg(scenario, field: str = "scenario"):
    if not _is(scenario, "scenario", "Scenario"):
        hint = f" (read a file with ketasim.load_scenario({scenario!r}))" if isinstance(scenario, (str, os.PathLike)) \
            else " (build one with ketasim.scenario_from_dict(mapping))" if isinstance(scenario, dict) else ""
        raise InputError(f"{field}: expected a Scenario, got {type(scenario).__name__}{hint}"[:300])
    return scenario


def check_choice(value, field: str, choices, *, quote: bool = False) -> str:
    """One of ``choices`` (lower-case words), read case-insensitively and without surrounding spaces, as
    ``power --test`` reads its ('--method Sobol' was refused with the choices as 'sobol'); else one line naming
    ``field``: 'use a, b or c, got X' (``quote``: the choices in quotes)."""
    choices = tuple(choices)
    word = value.strip().lower() if isinstance(value, str) else value
    if word not in choices:
        shown = [repr(c) if quote else c for c in choices]
        listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
        raise InputError(f"{field}: use {listed}, got {value!r}")
    return word


def check_bool(value, field: str) -> bool:
    if not isinstance(value, (bool,)) and not (hasattr(value, "dtype") and value.dtype == bool and value.ndim == 0):
        raise InputError(f"{field}: expected True or False, got {type(value).__name__} {_short(value)}")
    return bool(value)


def check_simulate_args(scenario, params=None, *, n=None, seed=None, output_times_h=None, experiment=None,
                        grid_options=None, typical=False, same_patients=False, on_failure="raise"):
    """Validate the arguments of :func:`ketasim.engine.simulate` (one InputError naming the argument) and
    estimate the run before it allocates. Returns ``(n, seed, output_times_or_None)`` normalised."""
    check_scenario_arg(scenario)
    if params is not None and not _is(params, "parameters", "ParameterSet"):
        raise InputError(f"params: expected a ParameterSet (ketasim.load_parameters()), got {type(params).__name__}")
    n = None if n is None else check_size(n, "n")
    seed = None if seed is None else check_seed(seed, "seed")
    if experiment is not None and not _is(experiment, "engine", "VirtualExperiment"):
        # the command line's --experiment mtor_block=1 and a scenario's experiments: mapping are this object
        hint = (f" (ketasim.VirtualExperiment(**{_short(experiment)}))" if isinstance(experiment, dict) else "")
        raise InputError(f"experiment: expected a VirtualExperiment, got {type(experiment).__name__}{hint}")
    if grid_options is not None and not _is(grid_options, "solver.grid", "GridOptions"):
        raise InputError(f"grid_options: expected a GridOptions, got {type(grid_options).__name__}")
    typical = check_bool(typical, "typical")
    check_bool(same_patients, "same_patients")
    if not isinstance(on_failure, str) or on_failure not in ("raise", "flag"):
        raise InputError(f"on_failure: use 'raise' or 'flag', got {_short(on_failure)}")
    check_stated_patient(scenario, n)
    check_typical_size(typical, n)
    if not typical and getattr(scenario, "patient", None) is None:
        check_population_age(scenario.population, n)      # a scenario of size 1 run with n > 1
    times = None if output_times_h is None else check_output_times(output_times_h)
    # the population's own size when no n is given (the scenario's load no longer checks its whole run's time)
    check_scenario_run(scenario, 1 if typical else n, times,
                       field=argument("n", "--size") if n is not None else "population.size")
    return n, seed, times


def _count_text(n) -> str:
    """A patient count in a message: '1,000' for a whole number >= 1 (every caller checks n with check_size first),
    else its repr cut to 40 characters (format() raised on '5' or 2.5)."""
    return f"{n:,}" if isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 else repr(n)[:40]


def check_typical_size(typical: bool, n, field: str = "n", flag: str = "typical=True") -> None:
    """``typical`` simulates one typical patient per arm: an ``n`` other than 1 beside it is an InputError naming
    both (``simulate(sc, n=5, typical=True)`` returned one patient per arm without a word)."""
    if typical and n is not None and n != 1:
        shown = _count_text(n)
        raise InputError(f"{field}: {flag} simulates one typical patient per arm, not {shown}; leave out {field} "
                         f"(or give 1), or leave out {flag} for {shown} sampled patients")


def stated_patient_size_error(where: str, size, field: str = "--size") -> str:
    """The one-line refusal of a patient count beside a scenario with ``patient:`` (``simulate``'s wording), naming
    ``field`` (the command's ``--size``; ``run_sensitivity``'s ``n_patients`` from Python)."""
    return (f"{field}: {where} states one patient (patient:), simulated with typical random effects; for "
            f"{size:,} patients like it write population: (size, weight_kg, ...) instead")


def check_stated_patient(scenario, n, field: str = "n") -> None:
    """A scenario with ``patient:`` states one patient, simulated with typical random effects: ``n`` > 1 is an
    InputError naming ``field`` (``simulate(sc, n=100)`` returned that one patient without a word; the CLI's
    ``--size`` is refused the same way)."""
    if getattr(scenario, "patient", None) is not None and n is not None and n != 1:
        shown = _count_text(n)
        raise InputError(f"{field}: the scenario {getattr(scenario, 'name', '')!r} states one patient (patient:), "
                         f"simulated with typical random effects; for {shown} patients like it write population: "
                         f"(size, weight_kg, ...) instead, or leave out {field}")


def check_trial_args(scenario, params=None, *, n=None, seed=None, progress=None, chunk=20000):
    """Validate the arguments of :func:`ketasim.trial.run_trial`; returns ``(n, seed, chunk)``."""
    check_scenario_arg(scenario)
    if params is not None and not _is(params, "parameters", "ParameterSet"):
        raise InputError(f"params: expected a ParameterSet (ketasim.load_parameters()), got {type(params).__name__}")
    n = None if n is None else check_size(n, "n")
    seed = None if seed is None else check_seed(seed, "seed")
    if progress is not None and not callable(progress):
        raise InputError(f"progress: expected a function of the completed fraction, got {type(progress).__name__}")
    chunk = check_int(chunk, "chunk", lo=1, hi=MAX_PATIENTS)
    return n, seed, chunk


#: Ages the model samples (years): every sampled age lies here, an inclusion range must lie within it.
AGE_RANGE = (18.0, 90.0)


def check_population_age(spec, n: int | None, field: str = "population.age_years") -> None:
    """A population of ``n`` > 1 patients is drawn within :data:`AGE_RANGE`, so its stated mean age must lie there
    (a population of mean 16 came out with mean 28, one of mean 95 with mean 83, while its typical patient kept the
    stated age); one patient may be 12-100 years. Also for a scenario of size 1 run with ``n``/``--size``. Here, not
    in population.py (which imports it), so that limits imports nothing above it (test_layers: no import cycles)."""
    lo, hi = AGE_RANGE
    mean = spec.age_years.mean
    if n is not None and n > 1 and not (lo <= mean <= hi):
        raise InputError(f"{field}: a population's ages are drawn within {lo:g}-{hi:g} years, so its mean cannot be "
                         f"{mean:g}; one patient (size 1) may be 12-100 years")


#: Fewest posterior draws whose variance gives prediction intervals (a parallel or crossover trial's, a
#: qualification's) without a note that the spread between draws is itself poorly known (the SD of 20 draws is within
#: about +-16 % of its value; the how-tos use 50)
MIN_PER_ROW_DRAWS = 20
