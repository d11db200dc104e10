"""The engine: ``simulate(scenario)`` — regimen + population -> the whole chain -> a tidy result.

For each arm: sample virtual patients (seeded), build their PK (``ketasim.pk``), turn the regimen into exact
dosing events on a shared time grid, and integrate every patient together in the compiled kernel.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import pk as pkmod
from .errors import InputError, SolverError
from .parameters import ParameterSet, load_parameters
from .population import Patients, PopulationSpec, sample_patients, typical_patient
from .regimen import Administration, Arm, Drug, Route
from .solver import kernel as K
from .solver.expint import weights_table
from .solver.grid import Grid, GridOptions, build_grid

CONDITION_FREE_PARAMETER = {"anxiety": "condition_anxiety", "ptsd": "condition_ptsd",
                            "suicidal_ideation": "condition_suicidal_ideation"}


@dataclasses.dataclass(frozen=True)
class VirtualExperiment:
    """Switches of the mechanism (0 = intact, 1 = fully blocked).

    ``ampa_block`` (NBQX), ``mtor_block`` (rapamycin), ``spine_block`` (no new spines),
    ``hnk_weight`` (> 0 lets hydroxynorketamine drive AMPA directly; None keeps the parameter set's value),
    ``psychotherapy`` (0-1: the hypothesis that therapy during the plasticity window slows spine turnover).
    """

    ampa_block: float = 0.0
    mtor_block: float = 0.0
    spine_block: float = 0.0
    hnk_weight: float | None = None
    psychotherapy: float = 0.0

    def __post_init__(self):
        for f in ("ampa_block", "mtor_block", "spine_block", "psychotherapy"):
            v = getattr(self, f)
            if not (0.0 <= v <= 1.0):
                raise InputError(f"experiments.{f}: must lie in [0, 1], got {v}")
        if self.hnk_weight is not None and not (0 <= self.hnk_weight <= 5):
            raise InputError("experiments.hnk_weight: must lie in [0, 5]")


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


# ---------------------------------------------------------------------------------------------------------
def _logit(p):
    return math.log(p / (1 - p))


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def model_constants(params: ParameterSet, experiment: VirtualExperiment, expectancy: float,
                    perception: float = 1.0) -> np.ndarray:
    p = params
    mw = p.get("mw.ketamine", "g/mol")
    fu = p.get("pk.fu")
    ki_s, ki_r = p.get("pd.ki.s_ketamine", "uM"), p.get("pd.ki.r_ketamine", "uM")

    def racemic_total_to_s_eq(c_um):
        # a racemic total plasma-equivalent concentration -> unbound S-equivalent (µM)
        return c_um * fu * (0.5 + 0.5 * ki_s / ki_r)

    v = {
        "ki_s": ki_s, "ki_r": ki_r, "ki_snk": p.get("pd.ki.s_norketamine", "uM"),
        "ki_rnk": p.get("pd.ki.r_norketamine", "uM"),
        "m_interneuron": p.get("pd.nmda.m_interneuron"), "m_pyramidal": p.get("pd.nmda.m_pyramidal"),
        "nmda_hill": p.get("pd.nmda.hill"), "g_dis": p.get("pd.glutamate.g_dis"),
        "w_hnk": p.get("pd.hnk.weight") if experiment.hnk_weight is None else experiment.hnk_weight,
        "ec50_hnk": p.get("pd.hnk.ec50", "uM"), "bdnf_gain": p.free_value("bdnf_gain"),
        "eef2_gain": p.get("pd.bdnf.eef2_gain"), "trkb_k": p.get("pd.trkb.k"), "trkb_hill": p.get("pd.trkb.hill"),
        "protein_gain": p.free_value("protein_gain"), "spine_gain": p.free_value("spine_gain"),
        "il6_effect": p.get("pd.il6.repeat_effect"), "w_protein": p.free_value("weight_protein"),
        "w_spine": p.free_value("weight_spine"), "cadss_max": p.free_value("cadss_max"),
        "cadss_ec50": racemic_total_to_s_eq(p.get("pd.cadss.ec50_racemic_total", "uM")),
        "cadss_hill": p.free_value("cadss_hill"), "tolerance_gain": p.free_value("tolerance_gain", "1/h"),
        "sbp_emax": p.get("pd.sbp.emax", "mmHg"),
        "sbp_ec50": racemic_total_to_s_eq(p.get("pd.sbp.ec50_racemic_total", "uM")),
        "dbp_emax": p.get("pd.dbp.emax", "mmHg"), "hr_emax": p.get("pd.hr.emax", "1/min"),
        "sedation_ec50": racemic_total_to_s_eq(p.get("pd.sedation.ec50_racemic_total", "ng/mL") / mw),
        "midazolam_ec50": p.get("pd.midazolam.ec50_sedation", "uM"),
        "nausea_pmax": p.free_value("nausea_pmax"), "nausea_ec50": p.free_value("nausea_ec50", "uM"),
        "fu": fu, "fu_midazolam": p.get("pk.midazolam.fu"), "mw_ketamine": mw,
        "mw_norketamine": p.get("mw.norketamine", "g/mol"), "mw_hnk": p.get("mw.hnk", "g/mol"),
        "mw_midazolam": p.get("mw.midazolam", "g/mol"), "fm_nk": p.get("pk.fm_nk"), "fm_hnk": p.get("pk.fm_hnk"),
        "perception_gain": p.free_value("perception_gain", "1/h") * perception,
        "antidepressant_emax": p.free_value("antidepressant_emax"),
        "anesthesia_umol": p.get("pd.anesthesia.threshold", "uM"),
        "ampa_block": experiment.ampa_block, "mtor_block": experiment.mtor_block,
        "spine_block": experiment.spine_block, "session_expectancy": expectancy,
        "monitor_cadss": p.get("monitoring.cadss_max"), "monitor_sedation": p.get("monitoring.sedation_max"),
        "monitor_sbp": p.get("monitoring.sbp_rise_max", "mmHg"), "w_mtorc1": p.free_value("weight_mtorc1"),
        "anes_block50": p.get("pd.anesthesia.block50"), "anes_hill": p.get("pd.anesthesia.hill"),
        "ampa_eps": p.get("pd.ampa.smoothing"), "anes_onset": p.get("pd.anesthesia.onset_gain", "1/h"),
        "general_anesthesia_depth": p.get("pd.anesthesia.general_depth"),
        "monitor_window_h": p.get("monitoring.window_h", "h"),
    }
    return np.array([v[name] for name in K.MC_NAMES], dtype=np.float64)


def shared_rates(params: ParameterSet, ka: np.ndarray, experiment: VirtualExperiment = VirtualExperiment()) -> np.ndarray:
    p = params
    ln2 = math.log(2)
    r = np.zeros(K.N_RATES)
    r[:10] = ka
    r[K.R_GLUT] = 1.0 / p.get("pd.glutamate.tau", "h")
    r[K.R_BDNF] = ln2 / p.get("pd.bdnf.t_half", "h")
    r[K.R_MTOR] = ln2 / p.get("pd.mtorc1.t_half", "h")
    r[K.R_PROT] = ln2 / p.get("pd.synaptic.t_half", "h")
    r[K.R_SPINE] = ln2 / p.get("pd.spine.t_half", "h") * (1 - p.get("pd.spine.psychotherapy_slowing") * experiment.psychotherapy)
    r[K.R_IL6] = ln2 / p.get("pd.il6.t_half", "h")
    r[K.R_EXPECT] = ln2 / p.free_value("expectancy_t_half", "h")
    r[K.R_AD] = ln2 / p.free_value("antidepressant_t_half", "h")
    r[K.R_SYMPTOM] = ln2 / p.free_value("symptom_t_half", "h")
    r[K.R_TOL] = ln2 / p.get("pd.cadss.tolerance_t_half", "h")
    r[K.R_NAUSEA] = ln2 / p.get("pd.nausea.t_half", "h")
    r[K.R_ANES] = ln2 / p.get("pd.anesthesia.recovery_t_half", "h")
    return r


def patient_parameters(params: ParameterSet, spec: PopulationSpec, patients: Patients, model: pkmod.PKModel) -> np.ndarray:
    p = params
    n = patients.n
    pp = np.zeros((n, len(K.PP_NAMES)))
    pp[:, K.PP_WT] = patients.weight_kg
    # the gut depot holds the whole absorbed dose; of what leaves it, Fgut x Fh reaches the blood and the rest
    # (gut wall and liver first pass) forms norketamine (fm_nk): presystemic formation in both, as in Fanta 2015
    pp[:, K.PP_FH_S], pp[:, K.PP_FH_R] = model.fgut[:, 0] * model.fh[:, 0], model.fgut[:, 1] * model.fh[:, 1]
    pp[:, K.PP_FGUT_S], pp[:, K.PP_FGUT_R] = 1.0, 1.0
    pp[:, K.PP_FIIV] = model.f_iiv
    pp[:, K.PP_CL_S], pp[:, K.PP_CL_R] = model.cl[:, pkmod.S_KET], model.cl[:, pkmod.R_KET]
    pp[:, K.PP_CL_SNK], pp[:, K.PP_CL_RNK] = model.cl[:, pkmod.S_NK], model.cl[:, pkmod.R_NK]
    pp[:, K.PP_KE0] = model.ke0
    crp_ratio = patients.crp_mg_l / p.get("pd.crp.threshold", "mg/L")
    crp_mod = 1.0 / (1.0 + p.get("pd.crp.moderation") * crp_ratio ** p.get("pd.crp.hill"))
    pp[:, K.PP_BDNF_MULT] = patients.genotype_factor * crp_mod
    cond = p.free_value(CONDITION_FREE_PARAMETER[spec.condition]) if spec.condition in CONDITION_FREE_PARAMETER else 1.0
    emax = _expit(_logit(p.free_value("emax_drug")) + p.free_value("omega_emax_drug") * patients.eta_emax)
    pp[:, K.PP_EMAX] = np.minimum(emax * cond, 0.98)
    pp[:, K.PP_EMAX_PL] = _expit(_logit(p.free_value("placebo_emax")) + p.free_value("omega_placebo") * patients.eta_placebo)
    stress = 1.0 if spec.treatment_resistant else p.get("pd.spine.stress_non_trd")
    pp[:, K.PP_S0] = 1.0 / (1.0 + p.get("pd.spine.stress_loss") * stress)
    w_bp, w_d = p.free_value("omega_bp"), p.free_value("omega_dissociation")
    pp[:, K.PP_BP_SENS] = np.exp(w_bp * patients.eta_bp - 0.5 * w_bp ** 2)
    pp[:, K.PP_DISS_SENS] = np.exp(w_d * patients.eta_dissociation - 0.5 * w_d ** 2)
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
        # the swallowed rest of a nasal dose is an oral dose (gut wall and liver, same molecule)
        lag = p.get("route.intranasal.swallow_lag", "h")
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
                out += [("depot", 0, share * fn, j * gap), ("depot", 2, share * (1 - fn), j * gap + lag)]
            return out
        fn = p.get("route.intranasal.f_nasal_racemic")
        return [("depot", 0, fn, 0.0), ("depot", 2, 1 - fn, lag)]
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
                resets.append(t0 + d)
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
                    resets.append(t0 + d)
                elif kind == "bolus":
                    rows.append((t0, K.EV_BOLUS, ena, a_mg, a_kg, 1.0))
                elif frac > 0:
                    rows.append((t0 + delay, K.EV_DEPOT, off + ena, a_mg, a_kg, frac))
                    resets.append(t0 + delay)
    return rows, resets, np.array(sorted(sessions))


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


def prepare_arm(arm: Arm, spec: PopulationSpec, patients: Patients, output_times_h, *, params: ParameterSet,
                experiment: VirtualExperiment = VirtualExperiment(),
                grid_options: GridOptions = GridOptions()) -> PreparedArm:
    output_times_h = np.asarray(output_times_h, float)
    if output_times_h.ndim != 1 or output_times_h.size == 0 or np.any(np.diff(output_times_h) < 0) or output_times_h[0] < 0:
        raise InputError("output: times must be a non-empty, increasing list of times >= 0")
    drugs, active = _active_sets(arm)
    model = pkmod.build_pk(params, patients, drugs, spec.comedications)
    rows, resets, session_times = _arm_events(params, arm, spec.general_anesthesia)
    rows.sort(key=lambda r: r[0])
    # every session is followed for its monitoring window, whatever the requested output times
    window = params.get("monitoring.window_h", "h") if len(session_times) else 0.0
    t_end = float(max(output_times_h[-1], max((r[0] for r in rows), default=0.0) + window))
    grid = build_grid(resets, output_times_h, t_end, grid_options)
    cols = [np.array([r[j] for r in rows], dtype=float) if rows else np.zeros(0) for j in range(6)]
    ev_time = cols[0]
    ev_step = grid.index_of(ev_time).astype(np.int64)
    ev_kind, ev_target = cols[1].astype(np.int64), cols[2].astype(np.int64)
    active_dep = np.zeros(10, bool)
    active_dep[ev_target[ev_kind == K.EV_DEPOT]] = True
    mc = model_constants(params, experiment, spec.expectancy, spec.perception)
    return PreparedArm(arm, patients, model, grid, output_times_h, grid.index_of(output_times_h).astype(np.int64),
                       ev_time, ev_step, ev_kind, ev_target, cols[3], cols[4], cols[5], session_times, active,
                       active_dep, shared_rates(params, model.ka, experiment), mc,
                       patient_parameters(params, spec, patients, model))


def run_arm(arm: Arm, spec: PopulationSpec, patients: Patients, output_times_h: np.ndarray, *,
            params: ParameterSet, experiment: VirtualExperiment = VirtualExperiment(),
            grid_options: GridOptions = GridOptions(), on_failure: str = "raise") -> ArmRun:
    """Simulate one arm for the given patients; output at ``output_times_h`` (h, sorted, >= 0).

    ``on_failure``: ``"raise"`` (default) raises SolverError for any non-finite patient; ``"flag"`` keeps
    the others and marks the failed ones (``ArmRun.failed``, their rows NaN).
    """
    if on_failure not in ("raise", "flag"):
        raise InputError("on_failure: use 'raise' or 'flag'")
    a = prepare_arm(arm, spec, patients, output_times_h, params=params, experiment=experiment,
                    grid_options=grid_options)
    w_shared = weights_table(-a.rates, a.grid.unique_steps)
    n = patients.n
    out = np.zeros((n, a.out_idx.size, K.N_OUT))
    summ = np.zeros((n, max(len(a.session_times_h), 1), K.N_SUM))
    m = a.model
    K.run_arm(a.grid.times, a.grid.step_uid, a.grid.unique_steps, w_shared, a.rates, m.lam, m.kappa,
              m.kappa_venous, m.nmodes, a.active, a.active_dep, m.ka, a.pp, a.mc, a.ev_step, a.ev_kind, a.ev_target, a.ev_mg, a.ev_mgkg,
              a.ev_frac, a.out_idx, out, summ)
    failed = ~np.isfinite(out).all(axis=(1, 2)) | ~np.isfinite(summ).all(axis=(1, 2))
    if failed.any():
        if on_failure == "raise":
            i = int(np.flatnonzero(failed)[0])
            raise SolverError(f"arm {arm.name}: the solution of virtual patient {i} is not finite")
        out[failed] = np.nan
    return ArmRun(arm, patients, a.output_times_h, out, summ, a.session_times_h, failed)


def simulate(scenario, params: ParameterSet | None = None, *, n: int | None = None, seed=None,
             output_times_h=None, experiment: VirtualExperiment | None = None,
             grid_options: GridOptions = GridOptions(), typical: bool = False, same_patients: bool = False,
             on_failure: str = "raise"):
    """Simulate every arm of ``scenario`` and return a :class:`ketasim.result.SimulationResult`.

    ``n`` overrides the population size, ``seed`` the scenario's seed; ``typical=True`` simulates one
    typical patient per arm. Each arm gets its own patients (a parallel-group design) unless
    ``same_patients`` (every arm sees the same virtual patients).
    """
    from .result import SimulationResult

    params = params or load_parameters()
    experiment = experiment or scenario.experiment
    seed = scenario.seed if seed is None else seed
    times = np.asarray(output_times_h if output_times_h is not None else scenario.output_times_h(), float)
    root = np.random.SeedSequence(seed)
    runs = []
    shared = None
    children = root.spawn(len(scenario.arms))
    for k, arm in enumerate(scenario.arms):
        if typical:
            patients = typical_patient(scenario.population, params)
        elif same_patients:
            if shared is None:
                shared = sample_patients(scenario.population, params, np.random.default_rng(root), n)
            patients = shared
        else:
            rng = np.random.default_rng(children[k])
            patients = sample_patients(scenario.population, params, rng, n)
        runs.append(run_arm(arm, scenario.population, patients, times, params=params, experiment=experiment,
                            grid_options=grid_options, on_failure=on_failure))
    return SimulationResult(scenario=scenario, params=params, seed=seed, runs=tuple(runs), typical=typical)
