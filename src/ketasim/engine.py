"""The engine: ``simulate(scenario)`` — regimen + population -> the whole chain -> a tidy result.

For each arm: sample virtual patients (seeded), build their PK (``ketasim.pk``), turn the regimen into exact
dosing events on a shared time grid, and integrate every patient together in the compiled kernel.
"""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np

from . import pk as pkmod
from .errors import InputError, SolverError
from .parameters import ParameterSet, load_parameters
from .population import (Patients, PopulationSpec, arm_comedications, arm_spec, fluctuation_scale, sample_patients,
                         typical_patient)
from .regimen import Administration, Arm, Drug, Route
from .model import DEFAULT_MODEL, Model
from .model.definition import CONDITION_FREE_PARAMETER  # noqa: F401  (re-exported)
from .solver import kernel as K
from .solver.expint import weights_table
from .solver.grid import Grid, GridOptions, build_grid
from .units import fmt_hours


@dataclasses.dataclass(frozen=True)
class VirtualExperiment:
    """Switches of the mechanism (0 = intact, 1 = fully blocked).

    ``ampa_block`` (NBQX), ``mtor_block`` (rapamycin), ``spine_block`` (no new spines),
    ``hnk_weight`` (> 0 lets hydroxynorketamine drive AMPA directly; None keeps the parameter set's value),
    ``psychotherapy`` (0-1: the hypothesis that therapy during the plasticity window slows the loss of new
    spines, not their formation: state ``spines_held``),
    ``anesthetic_state`` (the hypothesis that anesthetic exposure blocks plasticity for hours; off by default
    because meta-analyses of esketamine given during surgery report antidepressant effects).
    """

    ampa_block: float = 0.0
    mtor_block: float = 0.0
    spine_block: float = 0.0
    hnk_weight: float | None = None
    psychotherapy: float = 0.0
    anesthetic_state: bool = False

    def __post_init__(self):
        from .limits import check_real

        for f in ("ampa_block", "mtor_block", "spine_block", "psychotherapy", "hnk_weight"):
            if getattr(self, f) is not None:
                check_real(getattr(self, f), f"experiments.{f}")
        if not isinstance(self.anesthetic_state, (bool, np.bool_)):
            raise InputError("experiments.anesthetic_state: must be true or false")
        for f in ("ampa_block", "mtor_block", "spine_block", "psychotherapy"):
            v = getattr(self, f)
            if not (0.0 <= v <= 1.0):
                raise InputError(f"experiments.{f}: must lie in [0, 1], got {v}")
        if self.hnk_weight is not None and not (0 <= self.hnk_weight <= 5):
            raise InputError("experiments.hnk_weight: must lie in [0, 5]")

    def changed(self) -> dict:
        """{switch: value} of the switches not at their default (intact mechanism: {}), as provenance records them."""
        return {f.name: (bool(v) if isinstance(v, (bool, np.bool_)) else float(v))
                for f in dataclasses.fields(self) if (v := getattr(self, f.name)) != f.default}


#: The switches of a virtual experiment (scenario ``experiments:``, CLI ``--experiment``), defined by the fields above.
EXPERIMENT_SWITCHES = tuple(f.name for f in dataclasses.fields(VirtualExperiment))
#: The on/off blockers among them (the dashboard's check boxes).
BLOCKING_SWITCHES = ("ampa_block", "mtor_block", "spine_block")


@dataclasses.dataclass(frozen=True)
class ArmRun:
    """Raw arrays of one arm (the tidy tables are built from these by ``ketasim.result``)."""

    arm: Arm
    patients: Patients
    output_times_h: np.ndarray
    out: np.ndarray             # (n, n_out, N_OUT)
    sessions: np.ndarray        # (n, n_sessions, N_SUM)
    session_times_h: np.ndarray
    failed: np.ndarray          # (n,) bool
    definition: Model = DEFAULT_MODEL   # the model whose outputs ``out`` holds (names, units, slots)
    #: (n, decisions) int8: the dose level (index into ``arm.titration.levels``) each patient takes at each decision
    #: session of the arm's titration rule; None for an arm without one
    dose_levels: np.ndarray | None = None

    def output(self, name: str) -> np.ndarray:
        """(n, n_times) values of the trajectory column ``name``."""
        return self.out[:, :, self.definition.output_slot(name)]

    def session_values(self, name: str) -> np.ndarray:
        """(n, n_sessions) values of the per-session summary ``name``."""
        return self.sessions[:, :, self.definition.summary_slot(name)]


# ---------------------------------------------------------------------------------------------------------
# Model constants: how each is derived is declared in the model definition (ketasim.model.definition).
@dataclasses.dataclass(frozen=True)
class ConstantContext:
    """What a constant's derivation may read: the parameter set, experiment switches, scenario facts."""

    params: ParameterSet
    experiment: VirtualExperiment
    expectancy: float = 1.0
    perception: float = 1.0
    p_active: float = 1.0
    # a randomized withdrawal's design probability of active drug after re-randomization (None: p_active
    # throughout) and the time of the re-randomization (h from trial entry; 0 otherwise)
    p_blinded: float | None = None
    blinded_from_h: float = 0.0


@dataclasses.dataclass(frozen=True)
class PatientContext:
    """What a per-patient parameter's derivation may read."""

    params: ParameterSet
    spec: PopulationSpec
    patients: Patients
    pk: pkmod.PKModel


def model_constants(params: ParameterSet, experiment: VirtualExperiment, expectancy: float,
                    perception: float = 1.0, *, p_active: float = 1.0, p_blinded: float | None = None,
                    blinded_from_h: float = 0.0,
                    model: Model = DEFAULT_MODEL) -> np.ndarray:
    """The ``mc`` vector of ``model`` (order of ``model.constants``)."""
    ctx = ConstantContext(params, experiment, expectancy, perception, p_active, p_blinded, blinded_from_h)
    return np.array([float(c.derive(ctx)) for c in model.constants], dtype=np.float64)


def shared_rates(params: ParameterSet, experiment: VirtualExperiment = VirtualExperiment(),
                 *, model: Model = DEFAULT_MODEL) -> np.ndarray:
    """The 10 depots' typical absorption rates, then the rate constant (1/h) of each state of ``model``, in order.

    The kernel absorbs each patient's depots at the patient's own rates (``PKModel.ka``); the typical ones only
    hold the layout (row 10 + j is state j's)."""
    ctx = ConstantContext(params, experiment)
    by_name = {r.name: r for r in model.rates}
    return np.concatenate([pkmod.typical_ka(params), [float(by_name[s.rate].derive(ctx)) for s in model.states]])


def patient_parameters(params: ParameterSet, spec: PopulationSpec, patients: Patients, model: pkmod.PKModel,
                       *, definition: Model = DEFAULT_MODEL) -> np.ndarray:
    """The ``pp`` array (n, len(definition.patient)) of the patients."""
    ctx = PatientContext(params, spec, patients, model)
    pp = np.zeros((patients.n, len(definition.patient)))
    for j, q in enumerate(definition.patient):
        pp[:, j] = q.derive(ctx)
    return pp


# ---------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Events:
    step: np.ndarray
    kind: np.ndarray
    target: np.ndarray
    mg: np.ndarray
    mgkg: np.ndarray
    frac: np.ndarray
    reset_times: tuple
    session_times: np.ndarray


#: parts of the zero-order swallowed input of a nasal dose (midpoint rule over route.intranasal.swallow_duration):
#: 3 parts put esketamine Cmax and CADSS within 0.2 % and 0.8 % of 12 parts; each part restarts the grid's small
#: steps (hitting them without a restart missed the 1e-4 accuracy target), so more parts cost run time
N_SWALLOW = 3


def _route_inputs(params: ParameterSet, adm: Administration):
    """(kind, target offset, fraction, delay_h) records of one ketamine administration per enantiomer.

    target offset: block for bolus/rate; for depots the S-depot index (R is +1).
    """
    p = params
    esk = adm.drug is Drug.ESKETAMINE
    r = adm.route
    if r is Route.IV_INFUSION:
        return [("rate", None, 1.0, 0.0)]
    if r is Route.IV_BOLUS:
        return [("bolus", None, 1.0, 0.0)]
    if r is Route.IM:
        return [("depot", 4, p.get("route.im.f"), 0.0)]
    if r is Route.SC:
        return [("depot", 6, p.get("route.sc.f"), 0.0)]
    if r is Route.ORAL:
        return [("depot", 2, 1.0, 0.0)]
    if r is Route.INTRANASAL:
        # the swallowed rest of a nasal dose is an oral dose (gut wall and liver, same molecule) that reaches the
        # gut at a constant rate over Dsw (Perez-Ruixo 2021: sequential zero-/first-order absorption): N_SWALLOW
        # equal parts at the midpoints of Dsw
        dsw = p.get("route.intranasal.swallow_duration", "h")
        swallow = [((k + 0.5) * dsw / N_SWALLOW, 1.0 / N_SWALLOW) for k in range(N_SWALLOW)]
        if esk:
            # one 28-mg device every 5 min (label); later devices absorb less nasally (Perez-Ruixo)
            dev = p.get("route.intranasal.device_mg", "mg")
            gap = p.get("route.intranasal.device_interval", "h")
            nominal = adm.amount * (70.0 if adm.per_kg else 1.0)
            n_dev = max(1, int(math.ceil(nominal / dev - 1e-9)))
            f1 = p.get("route.intranasal.f_nasal_esketamine")
            later = f1 * p.get("route.intranasal.later_device_factor")
            out = []
            for j in range(n_dev):
                share = min(dev, nominal - j * dev) / nominal     # fraction of the dose in device j
                fn = f1 if j == 0 else later
                out += [("depot", 0, share * fn, j * gap)]
                out += [("depot", 2, share * (1 - fn) * w, j * gap + t) for t, w in swallow]
            return out
        # racemic: route.intranasal.f_nasal_racemic is a total F (AUC nasal / AUC IV, Yanagihara 2003), so the mucosal
        # fraction fm is what leaves it with the swallowed rest: fm + (1 - fm) F_oral = F_nasal, with S's oral F as
        # for sublingual doses (the R depot gets the same split; its own oral F makes its total slightly higher).
        # Until the forty-ninth session 0.45 was taken as the mucosal part, the swallowed rest on top (total ~0.545)
        fnt, foral = p.get("route.intranasal.f_nasal_racemic"), p.get("route.oral.f_s")
        fn = (fnt - foral) / (1 - foral)
        return [("depot", 0, fn, 0.0)] + [("depot", 2, (1 - fn) * w, t) for t, w in swallow]
    if r is Route.SUBLINGUAL:
        # mucosal fraction fm so that fm + (1 - fm) F_oral = F_sublingual, with S's oral F (the R depot gets
        # the same split; its own oral F makes its total slightly higher, as published)
        fsl, foral = p.get("route.sublingual.f"), p.get("route.oral.f_s")
        fm = (fsl - foral) / (1 - foral)
        return [("depot", 8, fm, 0.0), ("depot", 2, 1 - fm, 0.0)]
    raise InputError(f"route {r.value} not supported")  # pragma: no cover


def _arm_events(params: ParameterSet, arm: Arm, general_anesthesia: bool = False):
    """Raw events (time, kind, target, mg, mg/kg, fraction) and grid reset times of an arm."""
    rows = []
    resets = []
    stops = []          # infusion stops: the grid restarts less small there (GridOptions.stop_skip)
    sessions = []
    for adm in arm.administrations():
        t0 = adm.start_h
        mg, mgkg = (0.0, adm.amount) if adm.per_kg else (adm.amount, 0.0)
        if adm.drug is Drug.ORAL_ANTIDEPRESSANT:
            rows.append((t0, K.EV_AD_START, 0, 0.0, 0.0, 0.0))
            continue
        rows.append((t0, K.EV_SESSION, 0, 0.0, 0.0, 0.0))
        if general_anesthesia:
            rows.append((t0, K.EV_GENERAL_ANESTHESIA, 0, 0.0, 0.0, 0.0))
        sessions.append(t0)
        resets.append(t0)
        if adm.drug is Drug.PLACEBO or adm.amount == 0:
            continue
        if adm.drug is Drug.MIDAZOLAM:
            if adm.route is Route.IV_INFUSION:
                d = adm.duration_h
                rows += [(t0, K.EV_RATE, pkmod.MDZ, mg / d, mgkg / d, 1.0), (t0 + d, K.EV_RATE, pkmod.MDZ, -mg / d, -mgkg / d, 1.0)]
                stops.append(t0 + d)
            else:
                rows.append((t0, K.EV_BOLUS, pkmod.MDZ, mg, mgkg, 1.0))
            continue
        s = adm.drug.s_fraction
        for ena, share in ((0, s), (1, 1.0 - s)):
            if share <= 0:
                continue
            for kind, off, frac, delay in _route_inputs(params, adm):
                a_mg, a_kg = mg * share, mgkg * share
                if kind == "rate":
                    d = adm.duration_h
                    rows += [(t0, K.EV_RATE, ena, a_mg / d, a_kg / d, 1.0),
                             (t0 + d, K.EV_RATE, ena, -a_mg / d, -a_kg / d, 1.0)]
                    stops.append(t0 + d)
                elif kind == "bolus":
                    rows.append((t0, K.EV_BOLUS, ena, a_mg, a_kg, 1.0))
                elif frac > 0:
                    rows.append((t0 + delay, K.EV_DEPOT, off + ena, a_mg, a_kg, frac))
                    resets.append(t0 + delay)
    return rows, resets, np.array(sorted(sessions)), stops


def _active_sets(arm: Arm):
    drugs = {a.drug for a in arm.administrations()}
    s = any(d.s_fraction > 0 for d in drugs)
    r = any(d.is_ketamine and d.s_fraction < 1 for d in drugs)
    active = np.array([s, r, s, r, s or r, Drug.MIDAZOLAM in drugs])
    return drugs, active


def default_horizon_h(arms) -> float:
    last = max((a.last_time_h for a in arms), default=0.0)
    return max(28 * 24.0, last + 14 * 24.0)


@dataclasses.dataclass(frozen=True)
class PreparedArm:
    """Everything the kernel (or the reference solver) needs for one arm, in internal units."""

    arm: Arm
    patients: Patients
    model: pkmod.PKModel
    grid: Grid
    output_times_h: np.ndarray
    out_idx: np.ndarray
    ev_time: np.ndarray
    ev_step: np.ndarray
    ev_kind: np.ndarray
    ev_target: np.ndarray
    ev_mg: np.ndarray
    ev_mgkg: np.ndarray
    ev_frac: np.ndarray
    session_times_h: np.ndarray
    active: np.ndarray
    active_dep: np.ndarray
    rates: np.ndarray
    mc: np.ndarray
    pp: np.ndarray
    definition: Model = DEFAULT_MODEL


#: One compiled kernel at a time in this process: it already uses every core (numba prange). The kernel releases
#: the GIL (nogil), so other threads (the dashboard server's) keep running during a long call.
KERNEL_LOCK = threading.Lock()


def _check_disposition(params: ParameterSet) -> None:
    """A parameter set whose ``pk.ketamine.vss`` is not above the other compartments' volumes (the deep volume is
    what Vss leaves, :func:`ketasim.pk.parent_disposition`) is refused in one line naming the parameters; it failed
    deep in the solver ('Eigenvalues did not converge') when a sensitivity range or a dashboard edit lowered Vss."""
    v, _ = pkmod.parent_disposition(params)
    if not v[-1] > 0:
        vss = params.get("pk.ketamine.vss", "L")
        raise InputError(f"pk.ketamine.vss: {vss:.4g} L is not above pk.ketamine.v1 + v_venous + v2 + v3 = "
                         f"{vss - v[-1]:.4g} L (the deep compartment's volume is what Vss leaves): raise "
                         "pk.ketamine.vss or lower the others")


def prepare_arm(arm: Arm, spec: PopulationSpec, patients: Patients, output_times_h, *, params: ParameterSet,
                experiment: VirtualExperiment = VirtualExperiment(),
                grid_options: GridOptions = GridOptions(), model: Model | None = None) -> PreparedArm:
    model_def = model or DEFAULT_MODEL
    if getattr(arm, "titration", None) is not None:
        raise InputError(f"arms.{arm.name}.titration: this needs one dose regimen for every patient (SBML export, "
                         "reference solve); patients of a titrated arm differ: use a fixed dose line")
    output_times_h = np.asarray(output_times_h, float)
    if output_times_h.ndim != 1 or output_times_h.size == 0 or np.any(np.diff(output_times_h) < 0) or output_times_h[0] < 0:
        raise InputError("output: times must be a non-empty, increasing list of times >= 0")
    drugs, active = _active_sets(arm)
    # the population's comedications and the arm's own (an interaction study's 'with inhibitor' arm)
    comeds = arm_comedications(spec.comedications, getattr(arm, "comedications", ()), arm.name)
    _check_disposition(params)
    model = pkmod.build_pk(params, patients, drugs, comeds)
    rows, resets, session_times, stops = _arm_events(params, arm, spec.general_anesthesia)
    rows.sort(key=lambda r: r[0])
    # every session is followed for its monitoring window, whatever the requested output times
    window = params.get("monitoring.window_h", "h") if len(session_times) else 0.0
    t_end = float(max(output_times_h[-1], max((r[0] for r in rows), default=0.0) + window))
    grid = build_grid(resets, output_times_h, t_end, grid_options, stop_times=stops)
    cols = [np.array([r[j] for r in rows], dtype=float) if rows else np.zeros(0) for j in range(6)]
    ev_time = cols[0]
    ev_step = grid.index_of(ev_time).astype(np.int64)
    ev_kind, ev_target = cols[1].astype(np.int64), cols[2].astype(np.int64)
    active_dep = np.zeros(10, bool)
    active_dep[ev_target[ev_kind == K.EV_DEPOT]] = True
    mc = model_constants(params, experiment, spec.expectancy, spec.perception, p_active=spec.p_active,
                         p_blinded=spec.p_active_blinded, blinded_from_h=spec.blinded_from_h,
                         model=model_def)
    return PreparedArm(arm, patients, model, grid, output_times_h, grid.index_of(output_times_h).astype(np.int64),
                       ev_time, ev_step, ev_kind, ev_target, cols[3], cols[4], cols[5], session_times, active,
                       active_dep, shared_rates(params, experiment, model=model_def), mc,
                       patient_parameters(params, spec, patients, model, definition=model_def), model_def)


def run_arm(arm: Arm, spec: PopulationSpec, patients: Patients, output_times_h: np.ndarray, *,
            params: ParameterSet, experiment: VirtualExperiment = VirtualExperiment(),
            grid_options: GridOptions = GridOptions(), on_failure: str = "raise", model: Model | None = None,
            decision_rating_z: np.ndarray | None = None, decision_fluctuation: np.ndarray | None = None) -> ArmRun:
    """Simulate one arm for the given patients; output at ``output_times_h`` (h, sorted, >= 0).

    ``on_failure``: ``"raise"`` (default) raises SolverError for any non-finite patient; ``"flag"`` keeps
    the others and marks the failed ones (``ArmRun.failed``, their rows NaN).
    An arm with a titration rule (``arm.titration``) gives every patient its own dose path
    (:func:`run_titrated_arm`; ``decision_rating_z``: its rater-noise draws, :func:`decision_rating_draws`;
    ``decision_fluctuation``: the patients' fluctuation of true severity at the decision ratings).
    """
    if on_failure not in ("raise", "flag"):
        raise InputError("on_failure: use 'raise' or 'flag'")
    if getattr(arm, "titration", None) is not None:
        return run_titrated_arm(arm, spec, patients, output_times_h, params=params, experiment=experiment,
                                grid_options=grid_options, on_failure=on_failure, model=model,
                                decision_rating_z=decision_rating_z, decision_fluctuation=decision_fluctuation)
    return _run_fixed(arm, spec, patients, output_times_h, params=params, experiment=experiment,
                      grid_options=grid_options, on_failure=on_failure, model=model)


def _take_run(run: ArmRun, idx) -> ArmRun:
    return dataclasses.replace(run, out=run.out[idx], sessions=run.sessions[idx], failed=run.failed[idx],
                               patients=run.patients.take(idx))


def _criterion_values(run: ArmRun, name: str, k_eval: int, t_decision: float, rated=None) -> np.ndarray:
    """A titration criterion's quantity per patient at one decision: the score at the pre-session rating (output
    column ``k_eval``) or a peak of the last session before the decision (the one given at the current dose).
    ``rated``: (rating, baseline rating) per patient when the rule decides on the recorded rating
    (``decide_on: rating``), else None (the noise-free model score and true baseline)."""
    if name in ("score", "score_reduction"):
        if rated is not None:
            rating, base = rated
            return rating if name == "score" else 1.0 - rating / base
        score = run.output("score")[:, k_eval]
        return score if name == "score" else 1.0 - score / run.patients.baseline
    j = int(np.searchsorted(run.session_times_h, t_decision - 1e-9)) - 1
    return run.session_values(name)[:, j]


def _decide(tit, run: ArmRun, level: int, k_eval: int, t_decision: float, session: int, rated=None) -> np.ndarray:
    """New level per patient of a group at ``level`` at decision session ``session``: one up when every increase
    criterion holds (if the dose may go up at this session), one down when any decrease criterion holds (if it may
    go down here; a decrease wins); NaN values (a failed patient) satisfy no criterion. ``rated``: see
    :func:`_criterion_values`."""
    n = run.out.shape[0]

    def holds(c):
        name, op, value = c
        v = _criterion_values(run, name, k_eval, t_decision, rated)
        with np.errstate(invalid="ignore"):
            return v < value if op == "below" else v > value

    up = np.ones(n, bool) if tit.increases_at(session) else np.zeros(n, bool)
    if tit.increases_at(session):
        for c in tit.increase:
            up &= holds(c)
    down = np.zeros(n, bool)
    if tit.decreases_at(session):
        for c in tit.decrease:
            down |= holds(c)
    new = np.full(n, level, np.int64)
    if level + 1 < len(tit.levels):
        new[up] = level + 1
    if level > 0:
        new[down] = level - 1
    return new


#: per-patient stream field of a titration's decision ratings (keyed by arm name and session number)
DECISION_RATING_FIELD = "titration_rating@{arm}@{session}"


def decision_rating_draws(arm: Arm, stream, start: int, n: int) -> np.ndarray | None:
    """Standard-normal rater-noise draws (n x decision sessions) of patients ``start .. start+n-1`` for an arm whose
    titration decides on the recorded rating (``decide_on: rating``); None otherwise. Each draw comes from the
    patient's own stream, keyed by the arm's name and the session number (``population.patient_draws``): the same
    whatever the chunking, and independent of the patient's covariates and of the endpoint ratings' noise (drawn
    by the trial from its own generator)."""
    from .population import as_seed_sequence, patient_draws

    tit = getattr(arm, "titration", None)
    if tit is None or tit.decide_on != "rating":
        return None
    ss = as_seed_sequence(stream)
    cols = [patient_draws(ss, DECISION_RATING_FIELD.format(arm=arm.name, session=s), "normal", start, n)
            for s in tit.sessions]
    return np.stack(cols, axis=1) if cols else np.zeros((n, 0))


#: per-patient stream field of the fluctuation of true severity at a titration's decision ratings (keyed by arm name
#: and column: the value at entry, then one per decision)
DECISION_FLUCTUATION_FIELD = "titration_fluctuation@{arm}@{column}"


@dataclasses.dataclass(frozen=True)
class DecidedFluctuation:
    """Patients' fluctuation of true severity (change since entry, scale points) at the ratings a titration
    decides on."""

    times_h: np.ndarray           # (decisions,) h since entry (>= 0)
    values: np.ndarray            # (patients, decisions)


def decision_fluctuation_draws(arm: Arm, stream, start: int, n: int, params: ParameterSet,
                               scale_max: float, scale=1.0) -> DecidedFluctuation | None:
    """The fluctuation of true severity (``population.fluctuation_paths``) of patients ``start .. start+n-1`` at the
    ratings of an arm whose titration decides on the recorded rating with the rater's noise; None otherwise, or when
    the parameter set has no fluctuation. Drawn from each patient's own stream (keyed by the arm's name; the same
    whatever the chunking, like :func:`decision_rating_draws`), so a trial can continue the same path at its
    endpoint ratings (``trial._simulate_outcome``: the exact Gaussian conditional). ``scale``: 1.0 or each
    patient's multiplier of the fluctuation's SD (``population.fluctuation_scale``)."""
    from .population import as_seed_sequence, fluctuation_parameters, fluctuation_paths, patient_draws

    tit = getattr(arm, "titration", None)
    if tit is None or tit.decide_on != "rating" or not tit.rater_noise \
            or fluctuation_parameters(params, scale_max)[0] == 0.0:
        return None
    t = np.maximum(tit.rating_times_h(arm), 0.0)
    ss = as_seed_sequence(stream)
    z = np.stack([patient_draws(ss, DECISION_FLUCTUATION_FIELD.format(arm=arm.name, column=k), "normal", start, n)
                  for k in range(t.size + 1)], axis=1)
    return DecidedFluctuation(t, fluctuation_paths(params, scale_max, t, z, scale))


def decision_draws(arm: Arm, stream, start: int, n: int, params: ParameterSet, scale_max: float,
                   scale=1.0) -> dict:
    """:func:`run_arm`'s keyword arguments for patients ``start .. start+n-1`` of ``stream`` on an arm whose
    titration decides on the recorded rating: their rater-noise draws (:func:`decision_rating_draws`) and their
    fluctuation of true severity at those ratings (:func:`decision_fluctuation_draws`); None for each the arm does
    not need. ``simulate``, ``scale.run_chunk`` and sensitivity draw them here; a trial draws the whole arm's
    fluctuation once more (:func:`decision_fluctuation_draws`) to continue it at its endpoint ratings. ``scale``:
    1.0 or each patient's multiplier of the fluctuation's SD (``population.fluctuation_scale``)."""
    fl = decision_fluctuation_draws(arm, stream, start, n, params, scale_max, scale)
    return {"decision_rating_z": decision_rating_draws(arm, stream, start, n),
            "decision_fluctuation": None if fl is None else fl.values}


def run_titrated_arm(arm: Arm, spec: PopulationSpec, patients: Patients, output_times_h: np.ndarray, *,
                     params: ParameterSet, experiment: VirtualExperiment = VirtualExperiment(),
                     grid_options: GridOptions = GridOptions(), on_failure: str = "raise",
                     model: Model | None = None, decision_rating_z: np.ndarray | None = None,
                     decision_fluctuation: np.ndarray | None = None) -> ArmRun:
    """An arm whose dose follows a response-guided rule (``arm.titration``), each patient on its own path.

    The kernel gives every patient of a call the same doses, and a patient's solution depends on its own doses
    only (the grid on the dose times, which a titration does not move). So the patients are run in groups that
    share a dose path: all start on the start dose; at each decision session every group's patients are
    judged on their own simulated state (the score at the rating just before the session, the peaks of the
    previous session), those who change level form a new group that is simulated (from time 0) with the new dose
    from that session on, and those who keep it keep their run. The result holds every patient's own path
    (``ArmRun.dose_levels``); the cost is one run of the arm plus one run of the patients who change at each
    decision. Score criteria read the noise-free model score, or with ``decide_on: rating`` the recorded rating:
    the model score plus rater noise (``rating_noise_sd`` x the scale maximum, the trial's endpoint-rating model;
    zero with ``endpoints.rating_noise: false``) times the patient's own draw ``decision_rating_z[:, d]``
    (:func:`decision_rating_draws`), plus the patient's fluctuation of true severity at that rating
    (``decision_fluctuation[:, d]``, scale points; the trial draws it on the same path as the endpoint ratings,
    so a decision and a rating at the same time see the same fluctuation; None: none), rounded and bounded by the
    scale; the reduction is from the baseline rating (the rounded baseline, as the trial's day-0 rating)."""
    tit = arm.titration
    req = np.asarray(output_times_h, float)
    t_dec = np.asarray(tit.session_times_h(arm), float)
    t_eval = tit.rating_times_h(arm)
    times = np.unique(np.concatenate([req, t_eval]))
    k_req = np.searchsorted(times, req)
    k_eval = np.searchsorted(times, t_eval)
    n, n_dec = patients.n, len(tit.sessions)
    levels = np.full((n, n_dec), tit.start, np.int8)
    rated = tit.decide_on == "rating"
    if rated:
        z = decision_rating_z
        if z is None or np.shape(z) != (n, n_dec):
            raise InputError(f"arms.{arm.name}.titration.decide_on: rating decisions need each patient's rater-noise "
                             f"draws ({n} x {n_dec}, engine.decision_rating_draws); got "
                             f"{'none' if z is None else np.shape(z)}")
        smax = float(spec.scale_max)
        noise_sd = params.free_value("rating_noise_sd") * smax if tit.rater_noise else 0.0
        base_rating = np.rint(patients.baseline_rating if tit.rater_noise else patients.baseline)
        fluct = np.zeros((n, n_dec)) if decision_fluctuation is None else np.asarray(decision_fluctuation, float)
        if fluct.shape != (n, n_dec):
            raise InputError(f"arms.{arm.name}.titration.decide_on: the decision ratings' fluctuation must be "
                             f"{n} x {n_dec}, got {fluct.shape}")

    def ratings(run, idx, d):
        """(rating, baseline rating) of the group's patients at decision ``d`` (None: decide on the model score)."""
        if not rated:
            return None
        score = run.output("score")[:, int(k_eval[d])]
        return np.clip(np.rint(score + fluct[idx, d] + noise_sd * z[idx, d]), 0.0, smax), base_rating[idx]

    def simulate(path, idx):
        return _run_fixed(tit.path_arm(arm, path), spec, patients.take(idx), times, params=params,
                          experiment=experiment, grid_options=grid_options, on_failure=on_failure, model=model)

    # groups: full path (a level per decision, constant after the last decision taken so far) -> (patients, run)
    groups: dict[tuple, tuple[np.ndarray, ArmRun | None]] = {(tit.start,) * n_dec: (np.arange(n), None)}
    for d in range(n_dec):
        nxt = {}
        for path, (idx, run) in groups.items():
            if run is None:
                run = simulate(path, idx)
            level = path[d]
            new = _decide(tit, run, level, int(k_eval[d]), float(t_dec[d]), tit.sessions[d], ratings(run, idx, d))
            for k in np.unique(new):
                sel = new == k
                p2 = path[:d] + (int(k),) * (n_dec - d)
                nxt[p2] = (idx[sel], _take_run(run, sel) if k == level else None)
        groups = nxt
    out = sessions = failed = None
    st = None
    definition = None
    for path, (idx, run) in groups.items():
        if run is None:
            run = simulate(path, idx)
        if out is None:
            out = np.empty((n, k_req.size, run.out.shape[2]))
            sessions = np.empty((n, *run.sessions.shape[1:]))
            failed = np.zeros(n, bool)
            st, definition = run.session_times_h, run.definition
        out[idx] = run.out[:, k_req]
        sessions[idx] = run.sessions
        failed[idx] = run.failed
        levels[idx] = np.asarray(path, np.int8)
    if out is None:         # no patients
        run = simulate((tit.start,) * n_dec, np.arange(0))
        out, sessions, failed = run.out[:, k_req], run.sessions, run.failed
        st, definition = run.session_times_h, run.definition
    return ArmRun(arm, patients, req, out, sessions, st, failed, definition, levels)


def _run_fixed(arm: Arm, spec: PopulationSpec, patients: Patients, output_times_h: np.ndarray, *,
               params: ParameterSet, experiment: VirtualExperiment = VirtualExperiment(),
               grid_options: GridOptions = GridOptions(), on_failure: str = "raise", model: Model | None = None
               ) -> ArmRun:
    a = prepare_arm(arm, spec, patients, output_times_h, params=params, experiment=experiment,
                    grid_options=grid_options, model=model)
    kern = K.kernel_for(a.definition)
    w_shared = weights_table(-a.rates, a.grid.unique_steps)
    n = patients.n
    out = np.zeros((n, a.out_idx.size, kern.N_OUT))
    summ = np.zeros((n, max(len(a.session_times_h), 1), kern.N_SUM))
    m = a.model
    with KERNEL_LOCK:
        kern.run_arm(a.grid.times, a.grid.step_uid, a.grid.unique_steps, w_shared, a.rates, m.lam, m.kappa,
                     m.kappa_venous, m.nmodes, a.active, a.active_dep, m.ka, a.pp, a.mc, a.ev_step, a.ev_kind,
                     a.ev_target, a.ev_mg, a.ev_mgkg, a.ev_frac, a.out_idx, out, summ)
    failed = ~np.isfinite(out).all(axis=(1, 2)) | ~np.isfinite(summ).all(axis=(1, 2))
    if failed.any():
        if on_failure == "raise":
            i = int(np.flatnonzero(failed)[0])
            raise SolverError(f"arm {arm.name}: the solution of virtual patient {i} is not finite")
        out[failed] = np.nan
    return ArmRun(arm, patients, a.output_times_h, out, summ, a.session_times_h, failed, a.definition)


def simulate(scenario, params: ParameterSet | None = None, *, n: int | None = None, seed=None,
             output_times_h=None, experiment: VirtualExperiment | None = None,
             grid_options: GridOptions = GridOptions(), typical: bool = False, same_patients: bool = False,
             on_failure: str = "raise", model: Model | None = None, anesthetic_check: bool = True):
    """Simulate every arm of ``scenario`` and return a :class:`ketasim.result.SimulationResult`.

    ``n`` overrides the population size, ``seed`` the scenario's seed; ``typical=True`` simulates one
    typical patient per arm (the population's mean covariates and median traits, no random effects): ``n`` other
    than 1 beside it is an InputError (n identical patients would add nothing; leave out one of the two). A scenario with ``patient:`` is that one patient with typical random effects: ``n``
    other than 1 is an InputError (write ``population:`` for many patients like it). Each arm gets its own patients (a parallel-group design) unless
    ``same_patients`` (every arm sees the same virtual patients). ``model`` simulates a variant model
    definition (``ketasim.model``; default: the package's model).

    ``anesthetic_check``: an arm whose doses add up to the anesthetic range (none alone in it) warns
    (``DoseWarning``), as ``ketasim simulate`` warns: :func:`cumulative_anesthetic_arms`, two typical runs on a 1-min
    grid around the doses (the arms' typical patient and a 1 mg/kg push for the level; ~50 ms, about twice a typical
    run's own time). False leaves it out (a caller that checks once for many runs: the command line, the dashboard,
    the check itself, a loop of runs of one scenario).
    """
    from . import limits
    from .result import SimulationResult

    n, seed, output_times_h = limits.check_simulate_args(
        scenario, params, n=n, seed=seed, output_times_h=output_times_h, experiment=experiment,
        grid_options=grid_options, typical=typical, same_patients=same_patients, on_failure=on_failure)
    params = params or load_parameters()
    experiment = experiment or scenario.experiment
    anesthetic_check = limits.check_bool(anesthetic_check, "anesthetic_check")
    seed = scenario.seed if seed is None else seed
    # the default grid is sized to the patients simulated (n when given): simulate(sc, n=N) is simulate(sc) of the
    # scenario saying size N (it was sized to population.size: 92 output times for n=3 where size 3 gave 1085)
    times = np.asarray(output_times_h if output_times_h is not None else scenario.output_times_h(n), float)
    root = np.random.SeedSequence(seed)
    runs = []
    shared = None
    children = root.spawn(len(scenario.arms))
    typical = typical or getattr(scenario, "patient", None) is not None     # a stated patient: typical effects
    for k, arm in enumerate(scenario.arms):
        spec = arm_spec(scenario.population, arm)       # an arm may state its own baseline score
        if typical:
            patients = typical_patient(spec, params)
            stream = None
        elif same_patients:
            if shared is None:
                shared = sample_patients(scenario.population, params, np.random.default_rng(root), n)
            # the same patients (same per-patient draws) with this arm's baseline score, if it states one
            patients = shared if arm.baseline is None else sample_patients(spec, params, np.random.default_rng(root), n)
            stream = root
        else:
            stream = children[k]
            patients = sample_patients(spec, params, np.random.default_rng(stream), n)
        # a rule deciding on the recorded rating: each patient's rater-noise draws and fluctuation of true severity
        # there (the typical patient: neither)
        drawn = decision_draws(arm, stream if stream is not None else 0, 0, patients.n, params, spec.scale_max,
                               fluctuation_scale(spec, params, patients.baseline))
        if typical:
            drawn["decision_fluctuation"] = None
            if drawn["decision_rating_z"] is not None:
                drawn["decision_rating_z"] = np.zeros_like(drawn["decision_rating_z"])
        runs.append(run_arm(arm, spec, patients, times, params=params, experiment=experiment,
                            grid_options=grid_options, on_failure=on_failure, model=model, **drawn))
    if anesthetic_check:            # after the run, as `ketasim simulate` warns (a run refused said nothing more)
        warn_cumulative_anesthetic(scenario, params, experiment=experiment)
    return SimulationResult(scenario=scenario, params=params, seed=seed, runs=tuple(runs), typical=typical,
                            experiment=experiment)


# ---- doses that add up to the anesthetic range ---------------------------------------------------------------
def _fmt_reading(h: float) -> str:
    """A reading's time on a grid ('35 min', '15.7 h'), as ``summary.fmt_time``."""
    return fmt_hours(h, exact=False)


def anesthetic_effect_site_level(scenario, params=None, *, experiment=None) -> float:
    """The level (ng/mL) from which an arm's typical patient is in the anesthetic range: the racemate-equivalent
    effect-site ketamine peak (:func:`_racemate_equivalent_effect_site`, as the arm's is read) that the typical patient
    of ``scenario``'s population, without comedications, reaches after 1 mg/kg racemic ketamine pushed IV over 60 s
    (the Ketalar label's lowest induction dose, ``regimen.ANESTHETIC_MG_PER_KG``, over ``regimen.ANESTHETIC_PUSH_H``),
    read on the same 1-min grid from the dose (:func:`anesthetic_check_times`): the level the dose rule
    (``regimen.infusion_in_anesthetic_range``) judges every IV dose by, for this patient (a 70-kg man's push peaks ~4 %
    above a woman's)."""
    import dataclasses
    import warnings

    from .errors import DoseWarning
    from .regimen import ANESTHETIC_MG_PER_KG, ANESTHETIC_PUSH_H, arm_from_list

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseWarning)          # the reference dose is on the threshold by design
        push = arm_from_list("anesthetic_reference", [{
            "drug": "racemic-ketamine", "route": "iv-infusion", "dose": f"{ANESTHETIC_MG_PER_KG:g} mg/kg",
            "duration": f"{ANESTHETIC_PUSH_H * 60:g} min"}])
    # without interacting drugs (the population's or a stated patient's): an inhibitor's extra exposure counts against
    # the level, wherever it is written (an arm's comedications are not in the reference either)
    patient = scenario.patient
    if patient is not None and getattr(patient, "comedications", ()):
        patient = dataclasses.replace(patient, comedications=())
    ref = dataclasses.replace(scenario, arms=(push,), endpoints=None, design=(), output_every_h=None,
                              output_until_h=None, output_list_h=None, patient=patient,
                              population=dataclasses.replace(scenario.population, comedications=()))
    run = simulate(ref, params, typical=True, experiment=experiment, output_times_h=anesthetic_check_times(ref),
                   anesthetic_check=False)
    return float(_racemate_equivalent_effect_site(run.trajectories(), run.params).max())


def _racemate_equivalent_effect_site(t, params) -> np.ndarray:
    """The effect-site ketamine (ng/mL) of trajectory rows ``t`` counted as racemate (``regimen.anesthetic_potency``:
    R weighted by Ki_S / Ki_R, scaled so that the racemate reads as S + R; esketamine 1.65 x, arketamine 0.35 x).
    The effect site's S:R ratio is read from venous plasma (S and R share their distribution): exact for an arm of
    one drug."""
    w = params.get("pd.ki.s_ketamine", "uM") / params.get("pd.ki.r_ketamine", "uM")
    s, r = t["cp_s_ketamine_ng_ml"].to_numpy(float), t["cp_r_ketamine_ng_ml"].to_numpy(float)
    total = s + r
    factor = np.divide(2.0 * (s + w * r) / (1.0 + w), total, out=np.ones_like(total), where=total > 0)
    return t["ce_ketamine_ng_ml"].to_numpy(float) * factor


#: The cumulative anesthetic check reads each ketamine dose's typical effect-site level every minute from its start
#: to 1 h after its end (a push peaks within ~5 min, an absorbed dose within ~30 min) and at 1.5 and 2 h
_CHECK_STEP_H = 1.0 / 60.0
_CHECK_TAIL_H = (1.5, 2.0)


def anesthetic_check_times(scenario) -> np.ndarray:
    """Output times (h) on which :func:`cumulative_anesthetic_arms` reads an arm's typical patient: every minute from
    each ketamine dose's start to 1 h after its end, then 1.5 and 2 h after it, whatever the scenario's output grid
    (on a daily grid every peak fell between two rows). At most ~62 + the infusion's minutes per dose, and doses are
    at most ``regimen.MAX_ADMINISTRATIONS`` per arm: bounded."""
    parts = [np.zeros(1)]
    for arm in scenario.arms:
        for a in arm.administrations():
            if not a.drug.is_ketamine or a.amount <= 0:
                continue
            end = a.start_h + a.duration_h
            parts.append(np.arange(a.start_h, end + 1.0 + 1e-9, _CHECK_STEP_H))
            parts.append(end + np.asarray(_CHECK_TAIL_H))
    return np.unique(np.round(np.concatenate(parts), 9))


def cumulative_anesthetic_arms(scenario, params=None, *, experiment=None,
                               record_weight_kg: float | None = None) -> list[tuple[str, str]]:
    """One warning per arm whose typical patient (simulated here under ``params`` and ``experiment`` on
    :func:`anesthetic_check_times`; None: the installed set, the default experiment) reaches the anesthetic range
    although none of its doses alone is in it: its racemate-equivalent effect-site ketamine reaches
    the peak of 1 mg/kg pushed over 60 s (:func:`anesthetic_effect_site_level`), the dose rule's level. Two 0.9
    mg/kg IV pushes 10 min apart add up to it, each push alone below. Arms with a dose that already warned are left
    out (one warning is enough). First, IV doses given back to back (each starting at most 5 min after the previous
    one's end: ``regimen.back_to_back_iv_runs``) are judged as one infusion by the dose rule
    (``regimen.infusion_in_anesthetic_range``), so that a split line warns as the single line does and is named as
    such. ``record_weight_kg``: the scenario is a record's (``PatientRecord.to_scenario_dict``), whose doses in mg
    are judged at this WT (kg), alone and back to back, as its rows were (its dose lines would be judged at the
    70-kg reference weight: a heavy patient's two pushes, each anesthetic at 70 kg and not at its WT, warned of
    nothing). Otherwise one stated patient's weight (a scenario's ``patient:`` weight, the quick form's --weight at
    one patient, the dashboard's patient: ``Scenario.dose_weight_kg``), "mg doses at the patient's weight of 120 kg".
    Returns (arm name, warning) pairs."""
    from .regimen import ANESTHETIC_MG_PER_KG, REFERENCE_WEIGHT_KG, Drug, back_to_back_iv_runs, \
        infusion_in_anesthetic_range

    out = []
    level = traj = typical = None
    if record_weight_kg is not None:
        weight_kg, whose = record_weight_kg, "the record's WT"
    else:
        weight_kg = getattr(scenario, "dose_weight_kg", None)
        whose = "the patient's weight"
    for arm in scenario.arms:
        if any(d.in_anesthetic_range(weight_kg) for d in arm.doses):
            continue
        run = next((r for r in back_to_back_iv_runs(arm.administrations(), weight_kg)
                    if infusion_in_anesthetic_range(r[2], r[1])), None)
        equiv = "" if all(d.drug is Drug.RACEMIC_KETAMINE for d in arm.doses if d.drug.is_ketamine) else \
            " racemate-equivalent"
        if run is not None:
            start, dur, per_kg, n, in_mg = run
            if not in_mg:
                ref = ""
            elif weight_kg is None:
                ref = f", mg doses at the {REFERENCE_WEIGHT_KG:g}-kg reference weight"
            else:                           # as the record's rows (the stated patient's doses) say it
                ref = f", mg doses at {whose} of {weight_kg:g} kg"
            out.append((arm.name, f"arms.{arm.name}: together its doses are in the anesthetic range: {n} IV doses "
                                  f"back to back from {_fmt_reading(start)} give {per_kg:.3g} mg/kg{equiv} over "
                                  f"{fmt_hours(dur)}{ref}, as one infusion in the anesthetic range (expect sedation; "
                                  "that it blocks the antidepressant plasticity is a hypothesis, off by default: "
                                  "experiments.anesthetic_state)"))
            continue
        if not any(d.drug.is_ketamine and d.amount > 0 for d in arm.doses):
            continue
        if traj is None:                           # one typical run for every arm, only when an arm needs it
            typical = simulate(scenario, params, typical=True, experiment=experiment, anesthetic_check=False,
                               output_times_h=anesthetic_check_times(scenario))
            traj = typical.trajectories()
        t = traj[traj["arm"] == arm.name]
        ce = _racemate_equivalent_effect_site(t, typical.params)
        if not ce.size or ce.max() <= 0:
            continue
        if level is None:
            level = anesthetic_effect_site_level(scenario, typical.params, experiment=experiment)
        on = np.flatnonzero(ce >= level * (1 - 1e-9))
        if not on.size:
            continue
        what = "together its doses are" if len(arm.administrations()) > 1 else "its dose is"
        # when: after the latest dose started by then ('10.0 d' alone hid the minutes that matter here)
        t_on = float(t["time_h"].to_numpy()[on[0]])
        dose_at = max((a.start_h for a in arm.administrations() if a.drug.is_ketamine and a.start_h <= t_on + 1e-9),
                      default=0.0)
        out.append((arm.name, f"arms.{arm.name}: {what} in the anesthetic range: the typical patient's{equiv} "
                              f"effect-site ketamine reaches the peak of a {ANESTHETIC_MG_PER_KG:g} mg/kg push ({level:.0f} "
                              f"ng/mL) {fmt_hours(t_on - dose_at)} after the dose at {_fmt_reading(dose_at)} (peak "
                              f"{ce.max():.0f} ng/mL; expect sedation; that it blocks the antidepressant plasticity is "
                              "a hypothesis, off by default: experiments.anesthetic_state)"))
    return out


def warn_cumulative_anesthetic(scenario, params=None, *, experiment=None, stacklevel: int = 3,
                               arms=None) -> None:
    """Warn (``DoseWarning``) of each arm of :func:`cumulative_anesthetic_arms`, from Python's ``simulate``,
    ``run_trial``, ``run_power``, ``run_sensitivity``, ``run_covariates`` and ``simulate_streamed`` (the
    command line's simulate and trial warn themselves: ``app.warn_cumulative_anesthetic`` names a record's file).
    ``arms``: the names of the arms to warn of (None: every arm; sensitivity and covariates analyse one).
    ``stacklevel`` 3: the warning points at the line that called the entry point calling this."""
    import warnings

    from .errors import DoseWarning

    for name, msg in cumulative_anesthetic_arms(scenario, params, experiment=experiment):
        if arms is None or name in arms:
            warnings.warn(msg, DoseWarning, stacklevel=stacklevel)
