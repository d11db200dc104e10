"""Personalised plans: fit one patient's record, forecast, and search regimens (model-informed precision dosing).

Research and teaching tool, not medical advice.

* **Fit** (:func:`fit_patient`): the patient's random effects -- every ``eta_*`` field of
  :class:`ketasim.population.Patients`, read generically (but ``NOT_FITTED``: eta_recurrence is held at the median recurrence time after the
  record's last observation),
  plus the true baseline score -- by maximum a
  posteriori with the population model as prior (the baseline's prior: the population's mean on the record's scale,
  its SD at least ``BASELINE_PRIOR_SD_FLOOR_RATINGS`` = 2 rater's SDs, so that a pre-dose rating moves it at least
  80 % of the way from that mean: a trial's SD at entry is narrowed by its entry criteria). The prior's mean and SD
  of each random effect are read from the population sampler itself (a large seeded draw), so a random effect added
  to the sampler later is fitted with no change here. Observation model: ratings with the rater's noise
  (``rating_noise_sd`` x scale maximum), plasma levels with a proportional (log-normal) error, SBP change with a
  clinic reading's SD (scaled by the patient's age, :func:`record_sbp_reading_sd`), CADSS with an
  assumed SD (``observation.*`` in parameters.csv). MAP by ``scipy.optimize.least_squares`` on the stacked
  weighted residuals; the Jacobian comes from one engine call in which every finite-difference step is a
  virtual patient of the same batch. Uncertainty: Laplace (Gauss-Newton) covariance at the MAP, then
  sampling-importance-resampling from a multivariate-t proposal centred there (one engine call for all draws),
  judged by its effective sample size and Pareto k-hat (PSIS; Vehtari et al. 2024); when poor, adaptive rounds
  add proposals from a t matched to the weighted moments (population Monte Carlo), pooled as a deterministic
  mixture, until ESS >= 10 % of the proposals and k-hat <= 0.7 (``fit.sampling`` reports before -> after).
  Shrinkage per parameter: ``1 - sqrt(1 - var_post/var_prior)`` with the Laplace variance (the expected
  eta-shrinkage of patients with this design, exact for a linear-Gaussian model); a parameter whose posterior SD
  stays above 90 % of its prior SD is reported as barely informed, one the record's predictions do not depend on
  (e.g. an absorption rate for IV infusions only) as not informed at all (``uninformative``; it keeps the
  population's distribution). Such parameters are found before the fit (moving one alone by +-2 prior
  SDs leaves every prediction bit for bit unchanged; checked again at the MAP) and are not fitted: the MAP,
  curvature and importance weights are computed for the others (exact: a fixed parameter's prior term is 0 at its
  mean) and the fixed ones are drawn from their prior (``fit.sampling["fixed_at_prior"]``). A fitted parameter
  whose Laplace SD is nevertheless the prior's (no slope at the MAP, e.g. the sedation EC50's small effect on a
  rating) is named in ``fit.one_sided`` with a warning: the importance-sampled interval says what the data say.
* **Forecast** (:func:`forecast`): posterior samples x rater's noise -> median, 50 % and 90 % prediction
  intervals of future ratings (and of the modelled value of any trajectory variable), under the recorded
  regimen or an alternative. Each draw also gets its own recurrence time (a new depressive episode on continued
  treatment, issue 7): eta_recurrence is not fitted, so it comes from its prior, standard normal per draw from a
  seeded stream (:func:`recurrence_etas`), given that no new episode began before the last observation. On the
  clocks of time in response and from recovery T is Weibull (not memoryless), so each draw's T is drawn from T
  given T > R, R that draw's own clock at the last observation (time in response accumulated, or time since
  recovery, 0 before recovery) (inverse CDF of the conditional law: H(T) = H(R) + Exp(1)); from entry R = t_last.
  Without this every draw had the median recurrence time and a long forecast showed one
  sharp episode.
* **Plan** (:func:`plan`): candidate regimens built from the safety limits (:class:`Limits`), each simulated for
  all posterior samples in one engine call (with their recurrence times, as the forecast); ranked by the
  probability of meeting the target, then fewest sessions, then least drug.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import re
import time

import numpy as np
import scipy.linalg

from .engine import run_arm
from .errors import InputError, KetasimError, argument, check_cancelled
from .model import model_id
from .parameters import ParameterSet, load_parameters
from .population import (Patients, fluctuation_change_cov, fluctuation_conditional, fluctuation_conditional_mean,
                         fluctuation_parameters, fluctuation_paths, genotype_factors, patients_from_covariates,
                         sample_patients)
from .record import DVIDS, PatientRecord, as_record, dose_line
from .regimen import Arm, Dose, Drug, Route, group_sessions, parse_drug, parse_route
from .solver import kernel as K

NOTICE = "ketasim is a research and teaching tool, not medical advice."
PRIOR_DRAWS = 20_000          # size of the seeded population draw that defines the prior's moments
PRIOR_SEED = 20261130
#: random effects a personal fit does not fit: eta_recurrence (the time to a new episode on continued treatment,
#: issue 7) is not informed by past ratings of the current episode, and fitting it would change the sampler of every
#: personal fit; the fit holds it at the median time after the last observation (PatientModel.fit_eta_recurrence)
NOT_FITTED = ("eta_recurrence",)
#: key of the seeded stream of the forecast draws' eta_recurrence (``np.random.default_rng([seed, key])``):
#: apart from the rater-noise stream of the same seed, so the noise of every draw is as it was without it
RECURRENCE_STREAM = 7
#: key of the seeded stream of the within-patient fluctuation's draws (forecast, plan; a synthetic patient's true
#: path): apart from the other streams of the same seed, so their draws are as they were without it
FLUCTUATION_STREAM = 11
#: key of the seeded stream of the prior draws of the parameters a record's observations do not depend on (not
#: fitted: :func:`_observation_free`), apart from the fit's own stream
PRIOR_STREAM = 13
#: floor on the SD of the personal fit's prior of the patient's true baseline, in rater's noise SDs
#: (``rating_noise_sd`` x scale maximum): the population's baseline SD is a trial's spread at entry, narrowed by its
#: entry criteria (MADRS-SI 4.2 +- 0.4 from a trial that required item 10 >= 4), not what one patient could have; with
#: the floor a single pre-dose rating (rater's noise alone) moves the fitted baseline at least 80 % of the way from the
#: population's mean (1 / (1 + 1/2**2)). An assumption, not sourced; the same rule on every scale (PatientModel)
BASELINE_PRIOR_SD_FLOOR_RATINGS = 2.0


# ---- the patient's model --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FittedParameter:
    name: str
    prior_mean: float
    prior_sd: float


def record_sbp_reading_sd(spec, params, age_years: float) -> float:
    """The SD (mmHg) of one of a record's ``sbp_change_mmhg`` readings in the personal fit: the clinic reading's
    ``monitoring.sbp_reading_sd`` times the patient's :func:`ketasim.population.bp_reading_sd_factor` when
    ``spec.bp_reading_sd_scales`` (the default; else the flat SD, as before), at the record's age (years) and the
    model's pre-dose SBP at that age (mmHg; ``pop.sbp_mean_at_45`` + ``pop.sbp_age_slope`` x (age - 45), the mean
    of :func:`ketasim.population.baseline_bp`'s draw: a record states no pre-dose pressure, and the factor is linear
    in it, so this is the factor's mean over the patient's possible pressures). Trials' readings and calibration's
    outlier rows use the same factor; the fit used the flat SD for every age (review R6-2)."""
    from .population import bp_reading_sd_factor

    sd = params.get("monitoring.sbp_reading_sd", "mmHg")
    sbp0 = params.get("pop.sbp_mean_at_45", "mmHg") + params.get("pop.sbp_age_slope", "mmHg") * (age_years - 45.0)
    factor = bp_reading_sd_factor(spec, params, [age_years], [sbp0])
    return sd if factor is None else float(sd * factor[0, 0])


class PatientModel:
    """One patient's covariates + the population prior; simulates batches of parameter vectors. The prior of the
    patient's true baseline is the population's on the record's scale, its SD floored at
    :data:`BASELINE_PRIOR_SD_FLOOR_RATINGS` rater's SDs only when the record has a rating on its scale before the
    first dose (``baseline_floored``): the case the floor is for (one pre-dose rating moves the fitted baseline at
    least 80 %). A record without one -- no ratings at all, or ratings only after a dose -- keeps the population's SD
    (intended: it is assumed one of that population, and its forecast without ratings is the population's)."""

    def __init__(self, record, params: ParameterSet | None = None):
        self.record: PatientRecord = as_record(record)
        if params is not None and not isinstance(params, ParameterSet):      # an AttributeError deep in sampling
            raise InputError(f"params: expected a ParameterSet (ketasim.load_parameters(FILE)), got "
                             f"{type(params).__name__}")
        self.params = params or load_parameters()
        #: a synthetic patient's own eta_recurrence (synthetic_record; None for a real record): the truth in validate
        self.true_eta_recurrence = None
        r = self.record
        from .population import DEFAULT_BASELINE, scale_name

        if r.scale not in DEFAULT_BASELINE:
            # it said 'DV (iesr): a score before the first dose: ... state the population's baseline score' to a
            # record that had one: a record cannot state a population, and the fit's prior needs it
            fits = ", ".join(DEFAULT_BASELINE)
            raise InputError(f"{r.source}: a personal fit needs a prior for the patient's true baseline, the "
                             f"population's baseline on the record's scale, and {scale_name(r.scale)} ({r.scale}) "
                             f"has none with a published source; plans fit records rated on {fits} (`ketasim simulate "
                             "--events` runs this record as it is)")
        self.spec = r.population_spec()
        draw = sample_patients(self.spec, self.params, np.random.default_rng(PRIOR_SEED), PRIOR_DRAWS)
        names = [f.name for f in dataclasses.fields(Patients) if f.name.startswith("eta_")
                 and f.name not in NOT_FITTED] + ["baseline"]
        self.smax = self.spec.scale_max
        self.rating_sd = self.params.free_value("rating_noise_sd") * self.smax
        if not self.rating_sd > 0:
            # a set may carry rating_noise_sd 0 (a trial's what-if: an exact rater), but the fit weighs every rating
            # by the rater's noise: with none its covariance is singular (was a LinAlgError traceback in `plan`)
            raise InputError(f"parameters.rating_noise_sd: the personal fit needs a rater's noise > 0 (parameter set "
                             f"{self.params.version}), got {self.params.free_value('rating_noise_sd'):g}")
        #: the population's baseline SD on the record's scale (points, the draw's) before the floor
        #: BASELINE_PRIOR_SD_FLOOR_RATINGS x the rater's SD widens it for the fit
        self.population_baseline_sd = None
        # the floor only where its rationale holds: a rating on the record's scale before the first dose, which it
        # lets move the fitted baseline. A record without one (no ratings: the "population's (prior) forecast";
        # ratings only after a dose, which inform baseline and drug effect together) keeps the population's SD: it
        # is assumed one of that trial population, and a wider prior would only confound the baseline with the drug
        # effect and widen the forecast beyond the population's (review s45 S5)
        first_dose = min((d.at_h for d in r.doses), default=math.inf)
        #: whether the baseline prior's SD is floored (a rating on the record's scale before the first dose)
        self.baseline_floored = any(o.dvid == r.scale and o.value is not None and o.time_h <= first_dose
                                    for o in r.observations)
        fp = []
        for n in names:
            v = np.asarray(getattr(draw, n), float)
            if v.std() > 0:
                # etas are declared standard normal by the sampler: keep exact 0/1 where the draw agrees
                m, s = float(v.mean()), float(v.std())
                if n.startswith("eta_") and abs(m) < 4 / math.sqrt(PRIOR_DRAWS) and abs(s - 1) < 0.03:
                    m, s = 0.0, 1.0
                if n == "baseline":
                    # a trial's spread at entry is not one patient's prior: floored so the record's own pre-dose
                    # rating informs it (a MADRS-SI record at 2 was fitted to 3.0 against 4.2 +- 0.4)
                    self.population_baseline_sd = s
                    if self.baseline_floored:
                        s = max(s, BASELINE_PRIOR_SD_FLOOR_RATINGS * self.rating_sd)
                fp.append(FittedParameter(n, m, s))
        self.parameters = tuple(fp)
        self.names = tuple(p.name for p in fp)
        self.prior_mean = np.array([p.prior_mean for p in fp])
        self.prior_sd = np.array([p.prior_sd for p in fp])
        #: (stationary SD in scale points, correlation time in h) of the within-patient fluctuation of true severity
        #: (population.fluctuation_change_sd): the record's ratings see it, so the fit weighs them with its
        #: covariance and forecasts continue it from what the ratings say of it; SD 0 for a set without it
        self.fluctuation = fluctuation_parameters(self.params, self.smax)
        #: a synthetic patient's own fluctuation (synthetic_record; None for a real record): (times h, change since
        #: entry) at its rating times, the truth that validate continues
        self.true_fluctuation = None
        gf = genotype_factors(self.params)
        self._cov = dict(weight_kg=r.weight_kg, age_years=r.age_years, female=r.female,
                         genotype_factor=gf[r.genotype or "val/val"],
                         crp_mg_l=r.crp_mg_l if r.crp_mg_l is not None else self.params.get("pop.crp_median", "mg/L"))
        self.obs_sd = {"score": self.rating_sd,
                       "sbp_change_mmhg": record_sbp_reading_sd(self.spec, self.params, r.age_years),
                       "cadss": self.params.get("observation.cadss_sd"),
                       "cp": self.params.get("observation.cp_log_sd")}

    @property
    def dim(self) -> int:
        return len(self.names)

    def patients(self, theta: np.ndarray, eta_recurrence=None) -> Patients:
        """The patients of the rows of ``theta`` (fitted random effects); ``eta_recurrence`` (one per row) sets
        the recurrence time, else the fit's value (:attr:`fit_eta_recurrence`: the median time after the last
        observation, so no episode falls inside the observed window however long the record)."""
        theta = np.atleast_2d(theta)
        kw = {n: theta[:, j] for j, n in enumerate(self.names)}
        kw["eta_recurrence"] = (np.full(theta.shape[0], self.fit_eta_recurrence) if eta_recurrence is None
                                else np.asarray(eta_recurrence, float))
        base = np.clip(kw.pop("baseline", self.spec.baseline.mean), 1.0, self.smax)
        return patients_from_covariates(theta.shape[0], baseline=base, **self._cov, **kw)

    @functools.cached_property
    def recurrence_law(self):
        """The law of this patient's recurrence time T (:class:`ketasim.model.definition.RecurrenceLaw`: Weibull on
        the clock of time in response, or constant hazard from entry; p12 0 when off); computed once (the spec and
        parameters are fixed)."""
        from types import SimpleNamespace

        from .model.definition import recurrence_law

        return recurrence_law(SimpleNamespace(spec=self.spec, params=self.params))

    @property
    def recurrence_hazard_per_h(self) -> float:
        """The constant hazard (1/h) with the population's 12-month probability (0 when off)."""
        return self.recurrence_law.hazard_per_h

    @property
    def counts_time_in_response(self) -> bool:
        """True when T counts time spent in response (population.recurrence_clock: response; the default is entry)."""
        return self.spec.recurrence_clock == "response"

    @property
    def recurrence_clock_column(self) -> str | None:
        """The engine output that holds the recurrence clock (``response_time_h`` on the clock of time in response,
        ``recovery_time_h`` on the clock from recovery: 0 before recovery), or None on the clock from entry (the
        clock is the time itself)."""
        return {"response": "response_time_h", "recovery": "recovery_time_h"}.get(self.spec.recurrence_clock)

    @property
    def fit_eta_recurrence(self) -> float:
        """eta_recurrence of the fit (not fitted: ``NOT_FITTED``): the ratings were explained without a new episode,
        so the fit places T at its median given T > t_last, the record's last observation (time in response up to
        then is at most t_last, so no episode falls inside the observed window whatever the draw; eta 0 would put
        it at the median from trial entry, inside a record longer than that). Only matters for long records."""
        law = self.recurrence_law
        if not law.on:
            return 0.0
        return float(law.eta_given_beyond(0.0, max(float(self.record.last_observation_h), 0.0)))

    def recurrence_clock_at_last(self, theta) -> np.ndarray:
        """Each row's recurrence clock at the record's last observation (h): the time in response accumulated by
        then, or on the clock from recovery the time since recovery (0 for a row not yet recovered: its T is then
        drawn from the prior, as no new episode can have begun; a row whose remission was broken before recovery
        has restarted its count, which the engine run carries on into the forecast), each from an engine run of
        the past doses with the fit's recurrence time, so without an episode; or t_last itself on the clock from
        entry; zeros when recurrence is off or the record ends at t = 0."""
        theta = np.atleast_2d(theta)
        t_last = max(float(self.record.last_observation_h), 0.0)
        if not self.recurrence_law.on or t_last <= 0.0:
            return np.zeros(theta.shape[0])
        column = self.recurrence_clock_column
        if column is None:
            return np.full(theta.shape[0], t_last)
        out, _, _, _ = self.run(theta, self.record.past_doses, np.array([t_last]))
        return out[:, 0, K.OUT_NAMES.index(column)].copy()

    def recurrence_etas(self, n: int, seed: int, theta=None, *, clock_at_last=None) -> np.ndarray:
        """``n`` values of eta_recurrence for forecast draws: standard normal z from the seeded stream
        ``[seed, RECURRENCE_STREAM]``, conditioned on no new episode before the record's last observation (the fit
        explained the observations without one). T is Weibull on the time in response, which is not memoryless:
        each draw gets T given T > R, R its own recurrence clock at the last observation
        (:meth:`recurrence_clock_at_last` of ``theta``, ``n`` rows), by the inverse CDF of the conditional law
        H(T) = H(R) - ln(1 - Phi(z)) (:meth:`~ketasim.model.definition.RecurrenceLaw.eta_given_beyond`). Without
        ``theta``: R = t_last for every draw (exact on the clock from entry, where it is T = t_last + Exp(h)).
        ``clock_at_last``: R given directly (one per draw), e.g. from an earlier :meth:`recurrence_clock_at_last`."""
        z = np.random.default_rng([int(seed), RECURRENCE_STREAM]).standard_normal(int(n))
        law = self.recurrence_law
        if not law.on:
            return z
        if clock_at_last is not None:
            r = np.asarray(clock_at_last, float)
        elif theta is None:
            r = np.full(z.shape, max(float(self.record.last_observation_h), 0.0))
        else:
            r = self.recurrence_clock_at_last(theta)
            if r.shape != z.shape:
                raise ValueError(f"recurrence_etas: theta has {r.size} rows for {z.size} draws")
        return law.eta_given_beyond(z, r)

    def recurrence_times_h(self, eta_recurrence) -> np.ndarray:
        """The recurrence times T (h on the recurrence clock: from the record's time 0 with
        population.recurrence_clock: entry, time in response, or time since recovery) these eta_recurrence values
        give (inf when recurrence is off)."""
        law = self.recurrence_law
        eta = np.asarray(eta_recurrence, float)
        return np.full(eta.shape, np.inf) if not law.on else law.time_h(eta)

    def arm(self, doses) -> Arm:
        return Arm("patient", tuple(doses))

    def run(self, theta, doses, times_h, eta_recurrence=None):
        """Engine run of every row of ``theta`` under ``doses``: (out (m, T, N_OUT), sessions, session times).
        ``eta_recurrence``: one per row (forecast draws), else the fit's (:attr:`fit_eta_recurrence`)."""
        check_cancelled()       # a caller that gave up (the dashboard's request timed out) stops here, between runs
        theta = np.atleast_2d(theta)
        times = np.asarray(times_h, float)
        pats = self.patients(theta, eta_recurrence)
        run = run_arm(self.arm(doses), self.spec, pats, times, params=self.params, on_failure="flag")
        out = run.out
        sev = K.OUT_NAMES.index("severity")
        score = out[:, :, sev] * pats.baseline[:, None]
        return out, score, run.sessions, run.session_times_h

    def values(self, out, score, variable: str) -> np.ndarray:
        if variable == "score":
            return score
        return out[:, :, K.OUT_NAMES.index(variable)]


# ---- observations -> residuals --------------------------------------------------------------------------------
class _ObservationModel:
    def __init__(self, pm: PatientModel):
        self.pm = pm
        obs = [o for o in pm.record.observations if o.dvid == pm.record.scale or DVIDS[o.dvid][0] != "score"]
        self.obs = obs
        self.times = np.unique([o.time_h for o in obs]) if obs else np.zeros(0)
        self.t_idx = np.searchsorted(self.times, [o.time_h for o in obs]).astype(int)
        self.var = [o.variable for o in obs]
        self.y = np.array([o.value for o in obs], float)
        self.sd = np.array([pm.obs_sd["cp" if v.startswith("cp_") else v] for v in self.var], float)
        self.log = np.array([v.startswith("cp_") for v in self.var])
        self.doses = pm.record.past_doses
        # ratings share the fluctuation of true severity, so they are correlated: their residuals are whitened by
        # the Cholesky factor of their covariance (rater's noise + population.fluctuation_change_cov), which makes
        # 0.5 * sum(r^2) the exact Gaussian -log likelihood (the covariance does not depend on the parameters)
        self.score_idx = np.flatnonzero([v == "score" for v in self.var])
        self.score_times = np.array([obs[k].time_h for k in self.score_idx], float)
        s, tau = pm.fluctuation
        self.score_chol = None
        if s > 0 and self.score_idx.size:
            cov = fluctuation_change_cov(s, tau, self.score_times, self.score_times)
            self.sd[self.score_idx] = np.sqrt(pm.rating_sd ** 2 + np.diag(cov))    # a rating's SD about the model
            self.score_chol = np.linalg.cholesky(cov + pm.rating_sd ** 2 * np.eye(self.score_idx.size))

    def predictions(self, theta) -> np.ndarray:
        theta = np.atleast_2d(theta)
        if not self.obs:
            return np.zeros((theta.shape[0], 0))
        out, score, _, _ = self.pm.run(theta, self.doses, self.times)
        pred = np.empty((theta.shape[0], len(self.obs)))
        for k, v in enumerate(self.var):
            pred[:, k] = self.pm.values(out, score, v)[:, self.t_idx[k]]
        return pred

    def deviations(self, pred) -> np.ndarray:
        """(rows of ``pred``, n_obs): each observation's deviation from ``pred`` in its own SDs, before the ratings'
        correlation is whitened; plasma levels on the log scale (log-normal error), everything else additive."""
        ylog = np.log(np.where(self.log, self.y, 0.0) + 1.0)
        plog = np.log(np.where(self.log, np.maximum(pred, 0.0), 0.0) + 1.0)
        return np.where(self.log, ylog - plog, self.y - pred) / self.sd

    def residuals(self, theta, pred=None) -> np.ndarray:
        """Stacked weighted residuals (data then prior): (m, n_obs + dim); -log posterior = 0.5 * sum(r^2)."""
        theta = np.atleast_2d(theta)
        pred = self.predictions(theta) if pred is None else pred
        d = self.deviations(pred)
        if self.score_chol is not None:
            e = (self.y - pred)[:, self.score_idx]
            d[:, self.score_idx] = scipy.linalg.solve_triangular(self.score_chol, e.T, lower=True).T
        prior = (theta - self.pm.prior_mean) / self.pm.prior_sd
        r = np.concatenate([d, prior], axis=1)
        return np.where(np.isfinite(r), r, 1e3)

    def fluctuation(self, theta, times_h, rng, *, condition: bool = True, predicted=None) -> np.ndarray:
        """(rows of ``theta``, times) draws of the fluctuation of true severity since entry at ``times_h`` (scale
        points): given each row's residuals of the record's ratings (``condition``; the rater's noise separates
        them from the fluctuation), else from the population law. Zeros when the set has no fluctuation.
        ``predicted``: the rows' model scores at :attr:`score_times` when the caller has them (else one engine run)."""
        theta = np.atleast_2d(theta)
        s, tau = self.pm.fluctuation
        times_h = np.asarray(times_h, float)
        if s == 0:
            return np.zeros((theta.shape[0], times_h.size))
        if not condition or not self.score_idx.size:
            return fluctuation_conditional(s, tau, times_h, [], np.zeros((theta.shape[0], 0)), 0.0, rng)
        pred = self.predictions(theta)[:, self.score_idx] if predicted is None else predicted
        resid = self.y[self.score_idx] - pred
        return fluctuation_conditional(s, tau, times_h, self.score_times, resid, self.pm.rating_sd, rng)


# ---- fit -----------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class PatientFit:
    model: PatientModel
    map: np.ndarray
    cov: np.ndarray                 # Laplace covariance at the MAP
    samples: np.ndarray             # posterior samples (importance-resampled), (S, dim)
    ess: float                      # effective sample size of the importance weights
    n_proposals: int
    objective: float                # -log posterior at the MAP (up to a constant)
    residuals: list                 # [{time_h, dvid, observed, predicted, sd}]
    warnings: list[str]
    seconds: float
    prior: bool = False             # no observations: the posterior is the prior
    proposals: np.ndarray | None = None   # importance-sampling proposals (P, dim) and their normalised weights (P,):
    weights: np.ndarray | None = None     # the reported intervals use them directly (no resampling noise)
    pareto_k: float | None = None         # PSIS k-hat of the importance weights (Vehtari et al. 2024)
    sampling: dict | None = None          # importance-sampling diagnostics and what refinement did (plan JSON)
    @property
    def record(self) -> PatientRecord:
        return self.model.record

    @property
    def fixed_at_prior(self) -> tuple[str, ...] | None:
        """Parameters the record's predictions do not depend on (not fitted: drawn from the prior); None for a
        prior-only fit (no observations), which has no such test."""
        return None if not self.sampling else tuple(self.sampling["fixed_at_prior"])

    @property
    def one_sided(self) -> tuple[str, ...]:
        """Fitted parameters whose Laplace SD is nevertheless the prior's (no slope at the MAP: a small effect, e.g. the
        sedation EC50's on a rating, or the MAP sits where the model caps an effect) although the predictions depend
        on them."""
        fixed = self.fixed_at_prior
        if fixed is None:
            return ()
        ratio = np.sqrt(np.maximum(np.diag(self.cov), 0.0)) / self.model.prior_sd
        return tuple(n for n, r in zip(self.model.names, ratio) if n not in fixed and r >= NO_INFORMATION_RATIO)

    def posterior_quantiles(self, qs) -> np.ndarray:
        """(len(qs), dim) posterior quantiles: weighted quantiles of the importance-sampling proposals (midpoint
        rule on the cumulative weights), else quantiles of the samples."""
        qs = np.asarray(qs, float)
        if self.weights is None or self.proposals is None:
            return np.quantile(self.samples, qs, axis=0)
        out = np.empty((qs.size, self.proposals.shape[1]))
        for j in range(self.proposals.shape[1]):
            order = np.argsort(self.proposals[:, j])
            x, w = self.proposals[order, j], self.weights[order]
            keep = w > 0
            x, w = x[keep], w[keep]
            c = (np.cumsum(w) - 0.5 * w) / w.sum()
            out[:, j] = np.interp(qs, c, x)
        return out

    def posterior_sd(self) -> np.ndarray:
        if self.weights is None or self.proposals is None:
            return self.samples.std(axis=0)
        m = self.weights @ self.proposals
        return np.sqrt(np.maximum(self.weights @ (self.proposals - m) ** 2, 0.0))

    def parameter_table(self) -> list[dict]:
        """[{name, estimate, interval90, sd, laplace_sd, prior_mean, prior_sd, shrinkage, informed}]"""
        pm = self.model
        rows = []
        q = self.posterior_quantiles([0.05, 0.5, 0.95])
        sds = self.posterior_sd()
        fixed, flat = self.fixed_at_prior, self.one_sided
        for j, p in enumerate(pm.parameters):
            post_sd = float(sds[j])
            lap_sd = float(math.sqrt(max(self.cov[j, j], 0.0)))
            # information from the Laplace SD (deterministic; the sampled SD carries Monte-Carlo noise)
            ratio = min(lap_sd / p.prior_sd, 1.0)
            # not informed at all: the record's predictions do not depend on it (fixed at the prior in the fit; a
            # Laplace SD equal to the prior's alone can be a slope of 0 at a cap, see one_sided); a prior-only fit
            # (no observations) has no such test: its SDs are the prior's
            blind = p.name in fixed if fixed is not None else ratio >= NO_INFORMATION_RATIO
            rows.append({"name": p.name, "estimate": float(self.map[j]), "median": float(q[1, j]),
                         "interval90": [float(q[0, j]), float(q[2, j])], "sd": post_sd,
                         "laplace_sd": lap_sd,
                         "prior_mean": p.prior_mean, "prior_sd": p.prior_sd,
                         "shrinkage": float(1.0 - math.sqrt(max(0.0, 1.0 - ratio ** 2))),
                         "informed": bool(ratio < 0.9), "uninformative": bool(blind),
                         "flat_laplace": p.name in flat})
        return rows


def _fd_jacobian(om: _ObservationModel, x: np.ndarray, h: np.ndarray):
    """Residuals and forward-difference Jacobian from ONE engine call (x and x + h_j e_j are a batch)."""
    p = x.size
    batch = np.repeat(x[None, :], p + 1, axis=0)
    batch[1:] += np.diag(h)
    r = om.residuals(batch)
    return r[0], ((r[1:] - r[0]) / h[:, None]).T


def _mvt_sample(rng, mean, cov, df, n):
    chol = np.linalg.cholesky(cov)
    z = rng.standard_normal((n, mean.size)) @ chol.T
    g = rng.chisquare(df, n) / df
    return mean + z / np.sqrt(g)[:, None], chol


def _mvt_logpdf(x, mean, chol, df):
    d = mean.size
    sol = np.linalg.solve(chol, (x - mean).T)
    maha = np.sum(sol ** 2, axis=0)
    return -0.5 * (df + d) * np.log1p(maha / df) - np.sum(np.log(np.diag(chol)))


def _axis_steps(x: np.ndarray, axes: np.ndarray, steps, sd, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """One engine batch that moves ``x`` along each of ``axes`` alone by each of ``steps`` x ``sd`` (clipped to
    [lo, hi]): (points (len(axes) x len(steps), dim), the axis of each point)."""
    st = np.asarray(steps, float)
    axis = np.repeat(np.asarray(axes, int), st.size)
    pts = np.repeat(x[None, :], axis.size, axis=0)
    pts[np.arange(axis.size), axis] = np.clip(x[axis] + np.tile(st, len(axes)) * sd[axis], lo[axis], hi[axis])
    return pts, axis


def _laplace_widening(om: _ObservationModel, x_map, cov, r_map, prior_sd, lo, hi, steps=(-2.0, -1.0, 1.0, 2.0)):
    """Per-parameter factor (>= 1) by which the posterior is wider than its Laplace approximation along that axis.

    Along each axis j the -log posterior is evaluated at the MAP + s x prior SD (all axes and steps in ONE engine
    batch) and compared with the Laplace quadratic: the secant SD ``|step| / sqrt(2 * rise)`` equals the conditional
    Laplace SD for a Gaussian posterior and exceeds it on a flat shoulder (e.g. a drug effect that saturates: the
    Gauss-Newton curvature at the MAP sees the steep side only). Capped at 10."""
    d = x_map.size
    st = np.asarray(steps, float)
    pts, axis = _axis_steps(x_map, np.arange(d), st, prior_sd, lo, hi)
    delta = np.abs(pts[np.arange(pts.shape[0]), axis] - x_map[axis])
    rise = 0.5 * np.sum(om.residuals(pts) ** 2, axis=1) - 0.5 * np.sum(r_map ** 2)
    try:
        cond_sd = 1.0 / np.sqrt(np.diag(np.linalg.inv(cov)))
    except np.linalg.LinAlgError:
        return np.ones(d)
    secant = np.where(delta > 0, delta / np.sqrt(2.0 * np.maximum(rise, 1e-12)), 0.0)
    ratio = (secant / cond_sd[axis]).reshape(d, st.size).max(axis=1)
    return np.clip(ratio, 1.0, 10.0)


# ---- importance sampling: pooled rounds, diagnostics, adaptive refinement -------------------------------------
#: Proposal: multivariate t with 5 degrees of freedom, scale 1.2 x the Laplace covariance (heavier tails than the
#: Laplace normal so that the weights stay bounded where the posterior is wider than its curvature says).
PROPOSAL_DF = 5.0
PROPOSAL_SCALE = 1.2
#: The importance sampling counts as good when its effective sample size reaches 10 % of the proposals (250 of the
#: default 2500: a 90 % interval's tail probability then carries a Monte Carlo SE of sqrt(0.05 x 0.95 / 250) =
#: 0.014, i.e. the interval's coverage is known to +-3 points, inside the 85-95 % bench target) AND the Pareto-
#: smoothed k-hat of the weights is at most 0.7 (Vehtari, Simpson, Gelman, Yao & Gabry 2024, JMLR 25:72, "Pareto
#: smoothed importance sampling": above min(1 - 1/log10(S), 0.7) = 0.7 for S = 2500 the estimate is unreliable
#: whatever the ESS says).
ESS_TARGET_FRACTION = 0.10
PARETO_K_MAX = 0.7
#: At most this many refinement rounds (each: one engine batch of n_proposals). Was 3: with the ninth session's
#: candidate parameter set (not adopted) the posterior of eta_placebo is a skewed ridge, and 2 of 18 test fits ended
#: poor after 3 rounds (ESS 353 -> 37); 6 rounds made all 18 good. Rounds run only while a fit is still poor.
MAX_REFINEMENT_ROUNDS = 6


def _sampling_good(ess: float, k_hat: float, ess_target: float) -> bool:
    """Whether importance weights are usable: ESS >= ``ess_target`` and Pareto k-hat <= :data:`PARETO_K_MAX`."""
    return ess >= ess_target and k_hat <= PARETO_K_MAX


def pareto_k_hat(weights: np.ndarray) -> float:
    """PSIS k-hat of normalised importance weights (arviz-stats; Vehtari et al. 2024): <= 0.5 good, <= 0.7
    usable, above unreliable. NaN with fewer than 5 positive weights' worth of tail."""
    from arviz_stats.base import array_stats

    w = np.asarray(weights, float)
    lw = np.log(w[w > 0])
    if lw.size < 25 or np.ptp(lw) <= 0:
        return float("nan") if lw.size < 25 else 0.0
    # arviz-stats' psislw takes the log-likelihood of leave-one-out (the log weights are its negative)
    return float(array_stats.psislw(-lw)[1])


class _PooledImportanceSampler:
    """Proposals from several rounds, each a mixture of multivariate t; the weights of ALL proposals use the pooled
    (deterministic-mixture) density sum_r n_r/N q_r(x) (Owen & Zhou 2000, JASA 95:135; the 'balance heuristic' of
    adaptive multiple importance sampling, Cornuet et al. 2012, Scand J Stat 39:798), so a later round never
    invalidates an earlier one and an earlier defensive round keeps covering the tails. Proposals outside the
    support [lo, hi] get weight 0 (not clipped)."""

    def __init__(self, om: _ObservationModel, lo, hi, rng):
        self.om, self.lo, self.hi, self.rng = om, lo, hi, rng
        self.rounds: list[tuple[list, int]] = []     # ([(mean, chol)], size)
        self.proposals = np.zeros((0, lo.size))
        self.logp = np.zeros(0)
        self._weights = None                          # normalised weights of all proposals (reset by add_round)

    @property
    def size(self) -> int:
        return self.proposals.shape[0]

    def add_round(self, components, n: int):
        """Draw ``n`` proposals from an equal-weight mixture of t(PROPOSAL_DF) ``components`` [(mean, cov)]."""
        sizes = [n // len(components)] * len(components)
        sizes[0] += n - sum(sizes)
        parts, comps = [], []
        for (mean, c), m in zip(components, sizes):
            x, ch = _mvt_sample(self.rng, mean, c, PROPOSAL_DF, m)
            parts.append(x)
            comps.append((mean, ch))
        prop = np.concatenate(parts)
        inside = np.all((prop >= self.lo) & (prop <= self.hi), axis=1)
        r = self.om.residuals(np.clip(prop, self.lo, self.hi))
        logp = np.where(inside, -0.5 * np.sum(r ** 2, axis=1), -np.inf)
        self.rounds.append((comps, n))
        self.proposals = np.concatenate([self.proposals, prop])
        self.logp = np.concatenate([self.logp, logp])
        self._weights = None

    def _round_logq(self, comps, x):
        return np.logaddexp.reduce([_mvt_logpdf(x, m, ch, PROPOSAL_DF) for m, ch in comps], axis=0) - math.log(len(comps))

    def weights(self) -> np.ndarray:
        """Normalised weights of all proposals under the pooled density (computed once per round)."""
        if self._weights is not None:
            return self._weights
        x = self.proposals
        if len(self.rounds) == 1:
            logq = self._round_logq(self.rounds[0][0], x)
        else:
            n = sum(m for _, m in self.rounds)
            logq = np.logaddexp.reduce([math.log(m / n) + self._round_logq(c, x) for c, m in self.rounds], axis=0)
        logw = self.logp - logq
        logw -= logw.max()
        w = np.exp(logw)
        self._weights = w / w.sum()
        return self._weights

    def ess(self) -> float:
        return float(1.0 / np.sum(self.weights() ** 2))

    def pareto_k(self) -> float:
        return pareto_k_hat(self.weights())


def _laplace(om: _ObservationModel, x, h, prior_sd):
    """Residuals and Gauss-Newton (Laplace) covariance at ``x``; the prior's spread if the curvature is singular."""
    r, J = _fd_jacobian(om, x, h)
    try:
        cov = np.linalg.inv(J.T @ J + 1e-9 * np.eye(x.size))
        cov = 0.5 * (cov + cov.T)
        np.linalg.cholesky(cov)
        return r, cov, True
    except np.linalg.LinAlgError:
        return r, np.diag(prior_sd ** 2), False


def _local_map(om: _ObservationModel, x0, h, lo, hi, prior_sd, max_nfev=60):
    """MAP search by scipy least_squares (trf, bounds) from ``x0``; Jacobian as one engine batch per step."""
    from scipy.optimize import least_squares

    cache = {}

    def fun(x):
        r, J = _fd_jacobian(om, x, h)
        cache[x.tobytes()] = J
        return r

    def jac(x):
        J = cache.get(x.tobytes())
        if J is None:
            _, J = _fd_jacobian(om, x, h)
        return J

    sol = least_squares(fun, np.clip(x0, lo + 1e-9, hi - 1e-9), jac=jac, bounds=(lo, hi), x_scale=prior_sd,
                        method="trf", max_nfev=max_nfev, xtol=1e-6, ftol=1e-8)
    return sol.x


def _refine(sampler: _PooledImportanceSampler, first_round, cov, n_proposals, ess_target, history) -> list[str]:
    """Adaptive refinement when the first round's weights are poor (ESS below target or Pareto k above 0.7).

    Each round adds n_proposals from an equal mixture of the first round's components (the Laplace t and its
    widened twin, kept as a defensive part) and a t matched to the weighted mean and covariance of all proposals
    so far (adaptive importance sampling: population Monte Carlo, Cappe, Guillin, Marin & Robert 2004, J Comput
    Graph Stat 13:907); the moment-matched covariance is regularised by 0.1 x the Laplace covariance so that a
    handful of heavy weights cannot make it singular. Weights are pooled over rounds (deterministic mixture).
    Stops when the target is met or after MAX_REFINEMENT_ROUNDS. Returns what was done, for the report.

    Measured (benchmarks/bench_plan.py patients, seed 2026, and examples/patient/patient_101.csv): local MAP searches
    restarted from the heaviest proposals far from the MAP never found a second mode (150 patients: every restart
    returned to the MAP), so the poor weights come from a skewed posterior (latent-class shoulders of eta_emax and
    eta_placebo), which moment matching covers; restarts are not done."""
    for rnd in range(1, MAX_REFINEMENT_ROUNDS + 1):
        w = sampler.weights()
        prop = sampler.proposals
        mean_w = w @ prop
        cov_w = (prop - mean_w).T @ ((prop - mean_w) * w[:, None]) + 0.1 * cov
        comps = [*first_round, (mean_w, cov_w * PROPOSAL_SCALE ** 2)]
        sampler.add_round(comps, n_proposals)
        ess, k = sampler.ess(), sampler.pareto_k()
        history.append({"round": rnd, "proposals": sampler.size, "effective_sample_size": ess, "pareto_k": k,
                        "components": len(comps)})
        if _sampling_good(ess, k, ess_target):
            break
    n = len(history) - 1
    return [f"{n} adaptive importance-sampling round{'s' if n > 1 else ''}"]

#: the phrase of a fit's warning for a parameter its data barely inform (``ketasim plan`` groups these warnings)
BARELY_INFORMED = "the data barely inform this parameter"
#: ... for one the Laplace approximation calls informed while the importance-sampled posterior is much wider (at least
#: WIDER_THAN_LAPLACE_RATIO x its SD): a skewed or two-peaked posterior (the latent responder classes), whose MAP can
#: sit near an end of the 90 % interval (patient_101: eta_placebo MAP 0.76, median 0.18, 90 % [-1.31, 0.96])
WIDER_THAN_LAPLACE = "the importance-sampled posterior is much wider than the Laplace approximation at the MAP"
WIDER_THAN_LAPLACE_RATIO = 2.0
#: ... and for one they cannot inform at all: the record's predictions do not depend on it (e.g. an absorption rate
#: for a record of IV infusions only); its Laplace SD is the prior's
NOT_INFORMED = "the record's observations do not depend on this parameter"
#: Laplace SD / prior SD at or above which the curvature at the MAP shows no information (a zero sensitivity gives
#: 1); "not informed at all" is decided by the exact test of :func:`_observation_free` (``fixed_at_prior``)
NO_INFORMATION_RATIO = 0.999
#: ... the warning for a fitted parameter whose Laplace SD is the prior's although the predictions depend on it
ONE_SIDED = ("the predictions depend on it, but its Laplace SD is the prior's (almost no slope at the MAP: a "
             "small effect, such as the sedation EC50's on a rating, or the MAP sits where the model caps the "
             "effect); the importance-sampled 90% interval shows what the data say")

class _Subspace:
    """The observation model seen through the fitted parameters only: the others (the record's observations do not
    depend on them, :func:`_observation_free`) sit at their prior mean, which adds 0 to the -log posterior, so the
    MAP, the Laplace curvature and the importance weights of the fitted ones are exact without them; their posterior
    is their prior, drawn independently afterwards."""

    def __init__(self, om: _ObservationModel, keep: np.ndarray):
        self.om, self.keep = om, keep
        self.pm = om.pm

    def full(self, theta_sub) -> np.ndarray:
        theta_sub = np.atleast_2d(theta_sub)
        out = np.repeat(self.pm.prior_mean[None, :], theta_sub.shape[0], axis=0)
        out[:, self.keep] = theta_sub
        return out

    def residuals(self, theta_sub) -> np.ndarray:
        # the fixed parameters' prior residuals are exactly 0 at their mean: drop them (no zero columns in J)
        r = self.om.residuals(self.full(theta_sub))
        n_obs = r.shape[1] - self.pm.dim
        return np.concatenate([r[:, :n_obs], r[:, n_obs:][:, self.keep]], axis=1)


#: steps (prior SDs) at which :func:`_observation_free` looks for any dependence of the record's predictions
INDEPENDENCE_STEPS = (-2.0, 2.0)


def _observation_free(om: _ObservationModel, x: np.ndarray, lo, hi, candidates=None) -> np.ndarray:
    """Mask of the parameters the record's predictions do not depend on at ``x``: moving one alone by each of
    :data:`INDEPENDENCE_STEPS` prior SDs leaves every prediction bit for bit unchanged (one engine batch; e.g. the
    absorption rates of a record of IV infusions only: no drug ever enters a depot). ``baseline`` always counts."""
    pm = om.pm
    cand = np.arange(pm.dim) if candidates is None else np.flatnonzero(candidates)
    cand = np.array([j for j in cand if pm.names[j] != "baseline"], int)
    free = np.zeros(pm.dim, bool)
    if cand.size == 0:
        return free
    moved, _ = _axis_steps(x, cand, INDEPENDENCE_STEPS, pm.prior_sd, lo, hi)
    pred = om.predictions(np.concatenate([x[None, :], moved]))
    same = np.all((pred[1:] == pred[0]) | (np.isnan(pred[1:]) & np.isnan(pred[0])), axis=1)
    free[cand] = same.reshape(cand.size, len(INDEPENDENCE_STEPS)).all(axis=1)
    return free


#: Fewest posterior samples (and proposals) a fit, forecast or plan takes: its 5 % and 95 % quantiles need a few
#: samples beyond them.
MIN_SAMPLES = 20


#: The MAP search of a random effect stays within this many population (prior) SDs of the prior mean; a fit that
#: ends within 0.1 SD of it warns (:func:`_at_search_edge`)
SEARCH_BOUND_SD = 6.0


def fit_patient(record, params: ParameterSet | None = None, *, n_samples: int = 400, n_proposals: int = 2500,
                seed: int = 0, refine: bool = True) -> PatientFit:
    """MAP + Laplace + importance resampling of one patient's random effects (see the module docstring).

    ``refine`` (default): when the first round's importance weights are poor (effective sample size below
    ESS_TARGET_FRACTION x n_proposals or Pareto k-hat above PARETO_K_MAX), add adaptive importance-sampling rounds
    (:func:`_refine`); ``fit.sampling`` says what was done. A good first round is returned unchanged."""
    from .limits import check_int, check_seed

    # one line naming the argument (n_samples=0 was an IndexError, '50' a TypeError, seed=-1 a bare ValueError)
    n_samples = check_int(n_samples, "n_samples", lo=MIN_SAMPLES, hi=100_000)
    n_proposals = check_int(n_proposals, "n_proposals", lo=MIN_SAMPLES, hi=1_000_000)
    seed = check_seed(seed, "seed")
    t0 = time.perf_counter()
    pm = record if isinstance(record, PatientModel) else PatientModel(record, params)
    om = _ObservationModel(pm)
    rng = np.random.default_rng(seed)
    d = pm.dim
    msgs: list[str] = []
    if not om.obs:
        samples = pm.prior_mean + pm.prior_sd * rng.standard_normal((n_samples, d))
        cov = np.diag(pm.prior_sd ** 2)
        return PatientFit(pm, pm.prior_mean.copy(), cov, samples, float(n_samples), 0, 0.0, [],
                          ["no observed values: the forecast is the population's (prior) forecast for this patient"],
                          time.perf_counter() - t0, prior=True)
    x0 = pm.prior_mean.copy()
    base = pm.record.baseline_guess()
    if base is not None and "baseline" in pm.names:
        x0[pm.names.index("baseline")] = base
    h = 1e-4 * pm.prior_sd
    lo = pm.prior_mean - SEARCH_BOUND_SD * pm.prior_sd
    hi = pm.prior_mean + SEARCH_BOUND_SD * pm.prior_sd
    if "baseline" in pm.names:
        j = pm.names.index("baseline")
        lo[j], hi[j] = 1.0, pm.smax
    # parameters the record's observations do not depend on (e.g. absorption rates of an IV-only record) are not
    # fitted: their posterior is their prior exactly, drawn after the fit; the independence found at the prior mean
    # is checked again at the MAP (else everything is fitted)
    fixed = _observation_free(om, x0, lo, hi)
    while True:
        keep = ~fixed
        sub = _Subspace(om, keep)
        xs_map = _local_map(sub, x0[keep], h[keep], lo[keep], hi[keep], pm.prior_sd[keep])
        if not fixed.any() or _observation_free(om, sub.full(xs_map)[0], lo, hi, candidates=fixed)[fixed].all():
            break
        fixed = np.zeros(d, bool)
    x_map = sub.full(xs_map)[0]
    sd_k, lo_k, hi_k = pm.prior_sd[keep], lo[keep], hi[keep]
    r_map, cov_k, regular = _laplace(sub, xs_map, h[keep], sd_k)
    if not regular:
        msgs.append("the Laplace covariance is singular; the proposal uses the prior's spread")
    # sampling-importance-resampling from a multivariate t (df 5, scale 1.2 x Laplace) around the MAP; where the
    # posterior is flatter than the Laplace curvature says (a saturating effect: a shoulder), half the proposals
    # come from a second t widened in those coordinates (defensive mixture; weights use the mixture density)
    widen = _laplace_widening(sub, xs_map, cov_k, r_map, sd_k, lo_k, hi_k)
    comps = [(xs_map, cov_k * PROPOSAL_SCALE ** 2)]
    if widen.max() > 1.5:
        comps.append((xs_map, cov_k * np.outer(widen, widen) * PROPOSAL_SCALE ** 2))
    sampler = _PooledImportanceSampler(sub, lo_k, hi_k, rng)
    sampler.add_round(comps, n_proposals)
    ess0, k0 = sampler.ess(), sampler.pareto_k()
    history = [{"round": 0, "proposals": sampler.size, "effective_sample_size": ess0, "pareto_k": k0,
                "components": len(comps)}]
    actions: list[str] = []
    ess_target = ESS_TARGET_FRACTION * n_proposals
    if refine and not _sampling_good(ess0, k0, ess_target):
        actions = _refine(sampler, comps, cov_k, n_proposals, ess_target, history)
    w = sampler.weights()
    ess, k_hat = sampler.ess(), sampler.pareto_k()
    # the full proposals: the fixed parameters from their prior, on a stream of their own
    prop = sub.full(sampler.proposals)
    cov = np.diag(pm.prior_sd ** 2)
    cov[np.ix_(keep, keep)] = cov_k
    if fixed.any():
        z = np.random.default_rng([int(seed), PRIOR_STREAM]).standard_normal((prop.shape[0], int(fixed.sum())))
        prop[:, fixed] = pm.prior_mean[fixed] + pm.prior_sd[fixed] * z
    status = "good" if _sampling_good(ess, k_hat, ess_target) else "poor"
    if status == "poor":
        msgs.append(f"importance sampling is poor (effective sample size {ess:.0f} of {sampler.size}, Pareto k "
                    f"{k_hat:.2f}{' after ' + ', '.join(actions) if actions else ''}); intervals may be too narrow")
    if actions:
        summary = (f"ESS {ess0:.0f} -> {ess:.0f}, Pareto k {k0:.2f} -> {k_hat:.2f} after {', '.join(actions)} "
                   f"({sampler.size} proposals)")
    else:
        summary = f"ESS {ess:.0f} of {sampler.size}, Pareto k {k_hat:.2f}"
    summary += f": {status} (target ESS >= {ess_target:.0f}, k <= {PARETO_K_MAX:g})"
    sampling = {"summary": summary, "effective_sample_size_initial": ess0, "pareto_k_initial": k0, "effective_sample_size": ess,
                "pareto_k": k_hat, "proposals": sampler.size, "rounds": len(history) - 1, "actions": actions,
                "status": status, "ess_target": ess_target, "pareto_k_max": PARETO_K_MAX, "history": history,
                "fixed_at_prior": [n for n, f in zip(pm.names, fixed) if f]}
    # systematic resampling
    u = (rng.random() + np.arange(n_samples)) / n_samples
    idx = np.minimum(np.searchsorted(np.cumsum(w), u), prop.shape[0] - 1)
    samples = prop[idx]
    pred = om.predictions(x_map[None, :])[0]
    resid = [{"time_h": o.time_h, "dvid": o.dvid, "observed": o.value, "predicted": float(pred[k]),
              "sd": float(om.sd[k]) if not om.log[k] else None} for k, o in enumerate(om.obs)]
    edge = _at_search_edge(pm, om, x_map, x0, fixed)
    if edge:
        msgs.append(edge)
    fit = PatientFit(pm, x_map, cov, samples, ess, int(prop.shape[0]), float(0.5 * np.sum(r_map ** 2)), resid, msgs,
                     0.0, proposals=prop, weights=w, pareto_k=k_hat, sampling=sampling)
    for row in fit.parameter_table():
        if row["uninformative"]:
            # kept at the population's distribution: a forecast on another route still carries its spread
            msgs.append(f"{row['name']}: {NOT_INFORMED}; it keeps the population's distribution")
        elif row["flat_laplace"]:
            msgs.append(f"{row['name']}: {ONE_SIDED}")
        elif not row["informed"]:
            # the flag and the shrinkage come from the Laplace SD (deterministic); the 90 % interval printed beside
            # them from the importance-sampled posterior, which can be narrower: say which is which
            msgs.append(f"{row['name']}: by the Laplace approximation at the MAP {BARELY_INFORMED} "
                        f"(its SD {100 * row['laplace_sd'] / row['prior_sd']:.0f} % of the prior's; the "
                        f"importance-sampled SD behind the 90% interval: {100 * row['sd'] / row['prior_sd']:.0f} %); "
                        "its MAP stays near the population's")
        elif row["sd"] >= WIDER_THAN_LAPLACE_RATIO * row["laplace_sd"]:
            msgs.append(f"{row['name']}: {WIDER_THAN_LAPLACE} (SD {100 * row['sd'] / row['prior_sd']:.0f} % of the "
                        f"prior's against {100 * row['laplace_sd'] / row['prior_sd']:.0f} %; median "
                        f"{row['median']:.2f}, MAP {row['estimate']:.2f}): a skewed or two-peaked posterior; the 90% "
                        "interval and the median say what the data say, the Laplace shrinkage overstates it")
    conflict = _baseline_conflict(pm, om, x_map)
    if conflict:
        msgs.append(conflict)
    fit.seconds = time.perf_counter() - t0
    return fit


#: A rating before the first dose this many SDs (the prior's and the rater's together) from the population's
#: baseline is named: the prior then pulls the fitted baseline far from what was rated
BASELINE_CONFLICT_SD = 3.0


def _baseline_conflict(pm: PatientModel, om: _ObservationModel, x_map) -> str | None:
    """A warning when the record's rating before the first dose lies far from the population's baseline on its scale
    (the population's mean and SD at trial entry, with the rater's noise): a MADRS of 12 against 33 +- 5 was fitted
    to a baseline of 20 without a word, and every forecast and plan treats the patient as one of that population.
    Judged against the population's SD, not the fit's prior (floored at BASELINE_PRIOR_SD_FLOOR_RATINGS rater's SDs):
    the question is whether the patient is one of the trial population."""
    from .population import scale_name

    if "baseline" not in pm.names:
        return None
    first_dose = min((d.at_h for d in pm.record.doses), default=math.inf)
    before = [o for o in om.obs if o.variable == "score" and o.time_h <= first_dose]
    if not before:
        return None
    o = before[0]
    p = pm.parameters[pm.names.index("baseline")]
    pop_sd = pm.population_baseline_sd if pm.population_baseline_sd is not None else p.prior_sd
    z = (o.value - p.prior_mean) / math.hypot(pop_sd, pm.rating_sd)
    if abs(z) < BASELINE_CONFLICT_SD:
        return None
    fitted = float(x_map[pm.names.index("baseline")])
    widened = (f", SD widened to {p.prior_sd:.2g} ({BASELINE_PRIOR_SD_FLOOR_RATINGS:g} rater's SDs) for one patient"
               if p.prior_sd > pop_sd else "")
    return (f"baseline: the rating before the first dose ({o.value:g} {scale_name(pm.record.scale)} points at "
            f"{o.time_h:g} h) lies {abs(z):.1f} SD {'below' if z < 0 else 'above'} the population's baseline on this "
            f"scale ({p.prior_mean:.1f} +- {pop_sd:.1f} points at trial entry, population.DEFAULT_BASELINE), so the "
            f"fit's prior (that mean{widened}) pulls the fitted baseline towards it ({fitted:.1f}): the forecasts and "
            "plans treat this patient as one of that trial population")


def _check_fit(fit) -> None:
    """One line when ``fit`` is not a :class:`PatientFit` (forecast('x') / plan('x') stopped with an AttributeError)."""
    if not isinstance(fit, PatientFit):
        raise InputError(f"fit: expected a PatientFit (fit_patient(record)), got {type(fit).__name__} "
                         f"{str(fit)[:40]!r}")


def _at_search_edge(pm: PatientModel, om: _ObservationModel, x_map, x0, fixed) -> str | None:
    """A warning when a fitted random effect ended at the edge of the search (within 0.1 of SEARCH_BOUND_SD
    population SDs): no patient of the population explains the record, most often an observation in the wrong unit or
    at the wrong time (a plasma level of 0.2 'ng/mL' written in mg/L gave eta_v = 6.000 and a plan without a word).
    Names the observation the typical patient (the fit's start) misses most, in its own SDs; None when nothing is at
    the edge."""
    z = (x_map - pm.prior_mean) / pm.prior_sd
    edge = [n for n, zz, f in zip(pm.names, z, fixed)
            if not f and n != "baseline" and abs(zz) >= SEARCH_BOUND_SD - 0.1]
    if not edge:
        return None
    pred = om.predictions(x0[None, :])
    dev = om.deviations(pred)[0]
    pred = pred[0]
    k = int(np.argmax(np.abs(np.where(np.isfinite(dev), dev, 0.0))))
    o = om.obs[k]
    return (f"{', '.join(edge)} ended at the edge of the search ({SEARCH_BOUND_SD:g} population SDs from the "
            f"typical patient): no patient of the population explains the record; check the units and times of its "
            f"observations (farthest from the typical patient: {o.dvid} {o.value:g} at {o.time_h:g} h, where the "
            f"typical patient has {pred[k]:.3g})")


def _sub_seed(seed: int, k: int) -> int:
    """The seed of a derived stream (``seed + k``), wrapped into 0..MAX_SEED: a seed near the top of the range passed
    the up-front check, then failed inside with a number the user never typed."""
    from .limits import MAX_SEED

    return (seed + k) % (MAX_SEED + 1)


# ---- forecast ------------------------------------------------------------------------------------------------
def _future_doses(record: PatientRecord, regimen, label: str = "regimen") -> tuple[Dose, ...]:
    """``regimen`` (a list of scenario dose lines or Dose) as Doses, each after the record's last observation.
    ``label`` names the list in errors (``alternative`` for the plan's alternative, from the page, Python and
    ``--alternative``): ``alternative[1].at: a dose at 20 h is not after the last observation (336 h)``. Doses in
    mg are judged (anesthetic range, refusal) at the record's WT (kg), as its rows are (they were judged at the 70-kg
    reference weight: 80 mg warned at a WT of 120 kg)."""
    future = [line if isinstance(line, Dose) else Dose.from_mapping(line, f"{label}[{i}]",
                                                                      weight_kg=record.weight_kg)
              for i, line in enumerate(regimen)]
    t = record.last_observation_h
    for i, d in enumerate(future):
        if d.at_h <= t and (record.observations or d.at_h < 0):
            # it said 'regimen: a dose at 20 h ...' without the line, and 'regimen' for the page's 'alternative'
            line = regimen[i]
            if isinstance(line, dict) and line.get("at") is None:
                # a line without 'at' starts at 0 h, the record's start: 'a dose at 0 h' named a time never typed
                raise InputError(f"{label}[{i}].at: missing; give the time on the record's clock, after the last "
                                 f"observation ({t:g} h), e.g. '{t + 24:g} h'")
            raise InputError(f"{label}[{i}].at: a dose at {d.at_h:g} h is not after the last observation "
                             f"({t:g} h)")
    return tuple(future)


def _regimen_doses(record: PatientRecord, regimen) -> tuple[Dose, ...]:
    """Past doses + ``regimen`` (None: the record's planned doses; else as ``_future_doses``)."""
    if regimen is None:
        return record.doses
    return tuple(record.past_doses) + _future_doses(record, regimen)


def default_forecast_points(record: PatientRecord, weeks: int = 4) -> np.ndarray:
    if record.forecast_points:
        return np.array(sorted({o.time_h for o in record.forecast_points if o.dvid == record.scale}) or
                        sorted({o.time_h for o in record.forecast_points}))
    t = record.last_observation_h
    return t + 168.0 * np.arange(1, weeks + 1)


def json_quantile(x: float) -> float:
    """A forecast quantile as the plan JSON states it: 6 significant digits, and numerical noise (|x| < 1e-9, far
    below anything these units measure) as 0. The JSON carried 22.049999999999983 for a quantile of whole-point
    ratings and 1.6e-16 for a washed-out level; the text and report round further for display
    (``plan_report._forecast_value``), and the JSON keeps the precision a machine reader needs (an SBP of 12.345, a
    smooth band on the 12-h grid)."""
    x = float(x)
    return 0.0 if abs(x) < 1e-9 else float(f"{x:.6g}")


def _summaries(values: np.ndarray):
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    return q


@dataclasses.dataclass
class Forecast:
    times_h: np.ndarray
    points_h: np.ndarray
    grid_h: np.ndarray
    variables: tuple[str, ...]
    quantiles: dict               # variable -> (5, T) quantiles 5/25/50/75/95 %
    ratings: np.ndarray           # (S, T) simulated ratings with rater noise
    regimen: tuple[Dose, ...]
    #: (S,) each draw's recurrence time T (h on the recurrence clock: from entry by default, time in response, or
    #: time since recovery; inf when recurrence is off): a new episode begins when the clock passes it (:meth:`PatientModel.recurrence_etas`)
    recurrence_h: np.ndarray | None = None
    #: (S,) each draw's recurrence clock at the record's last observation (h): T was drawn given T > this
    recurrence_clock_at_last_h: np.ndarray | None = None

    def entries(self, times=None) -> list[dict]:
        """[{time_h, variable, median, pi50, pi90}] at ``times`` (default: the forecast points)."""
        times = self.points_h if times is None else times
        idx = np.searchsorted(self.times_h, times)
        out = []
        for k, t in zip(idx, times):
            for v in self.variables:
                q = [json_quantile(x) for x in self.quantiles[v][:, k]]
                out.append({"time_h": float(t), "variable": v, "median": q[2], "pi50": [q[1], q[3]],
                            "pi90": [q[0], q[4]]})
        return out


def _grid(record: PatientRecord, end_h: float) -> np.ndarray:
    step = 12.0
    return np.arange(0.0, end_h + 1e-9, step)


def forecast(fit: PatientFit, regimen=None, *, times_h=None, variables=("score",), grid=True, seed: int = 1,
             samples: np.ndarray | None = None) -> Forecast:
    """Forecast under the recorded regimen (``regimen=None``) or an alternative future regimen.

    ``score`` intervals are of a future *rating* (posterior x the fluctuation of true severity x rater's noise,
    integer, within the scale); other variables' intervals are of the modelled value. Each draw's fluctuation is
    continued from what the record's ratings say of it given that draw (:meth:`_ObservationModel.fluctuation`).
    ``samples`` overrides the posterior (e.g. the prior); its fluctuation is then the population's (not
    conditioned on the record).
    Each draw's eta_recurrence comes from its prior given no episode before the last observation
    (:meth:`PatientModel.recurrence_etas`, seeded by ``seed``); ``forecast.recurrence_h`` holds the times T and
    ``forecast.recurrence_clock_at_last_h`` the clock each was conditioned on.
    """
    _check_fit(fit)
    pm = fit.model
    rec = pm.record
    if isinstance(variables, str):      # variables='cadss' was read letter by letter ("unknown variable 'c'")
        variables = (variables,)
    variables = tuple(_variable_name(v) for v in variables)     # any case ('CADSS'), as the choice options
    for v in variables:
        if v != "score" and v not in K.OUT_NAMES:
            raise InputError(f"variables: unknown trajectory variable {v!r}")
    from .limits import check_output_times, check_seed

    seed = check_seed(seed, "seed")          # seed=-1 / times_h='a' were bare ValueErrors
    points = (np.asarray(default_forecast_points(rec), float) if times_h is None
              else check_output_times([times_h] if isinstance(times_h, (int, float)) else times_h, "times_h"))
    doses = _regimen_doses(rec, regimen)
    end = max(float(points.max()) if points.size else 0.0, rec.last_observation_h + 28 * 24.0)
    g = _grid(rec, end) if grid else np.zeros(0)
    times = np.unique(np.concatenate([points, g]))
    th = np.atleast_2d(fit.samples if samples is None else samples)
    clock_last = pm.recurrence_clock_at_last(th)
    eta_rec = pm.recurrence_etas(th.shape[0], seed, clock_at_last=clock_last)
    # the same run gives the draws' model scores at the record's ratings (the future doses come after them and no
    # draw's new episode begins before the last observation), which condition each draw's fluctuation
    om = _ObservationModel(pm)
    run_times = np.unique(np.concatenate([times, om.score_times]))
    out, score, _, _ = pm.run(th, doses, run_times, eta_recurrence=eta_rec)
    at_ratings = score[:, np.searchsorted(run_times, om.score_times)]
    keep = np.searchsorted(run_times, times)
    out, score = out[:, keep], score[:, keep]
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, pm.rating_sd, score.shape)
    fluct = om.fluctuation(th, times, np.random.default_rng([seed, FLUCTUATION_STREAM]), condition=samples is None,
                           predicted=at_ratings)
    ratings = np.clip(np.rint(score + fluct + noise), 0, pm.smax)
    quant = {}
    for v in variables:
        vals = ratings if v == "score" else pm.values(out, score, v)
        quant[v] = _summaries(vals)
    return Forecast(times, points, g, tuple(variables), quant, ratings, doses, pm.recurrence_times_h(eta_rec),
                    clock_last)


# ---- plans ---------------------------------------------------------------------------------------------------
def _limit_ceilings() -> dict:
    """``{limit: (highest value, unit, why)}``: a limit above these is a typo, not a limit (the dose limits at the
    doses refused outright in any regimen, the safety limits at the readings' ranges)."""
    from .regimen import ABSURD_MG, ABSURD_MG_PER_KG, SESSION_GAP_H

    dose = "the dose refused outright in any regimen"
    return {"sbp_rise_mmhg": (DVIDS["sbp_change_mmhg"][2], "mmHg", "the highest SBP change a record may hold"),
            "cadss": (DVIDS["cadss"][2], "points", "the top of the CADSS scale"),
            "ketamine_mg_per_kg_session": (ABSURD_MG_PER_KG["ketamine"], "mg/kg", dose),
            "esketamine_mg_session": (ABSURD_MG["ketamine"], "mg", dose),
            "ketamine_mg_per_kg_week": (7 * ABSURD_MG_PER_KG["ketamine"], "mg/kg", f"{dose}, every day"),
            "esketamine_mg_week": (7 * ABSURD_MG["ketamine"], "mg", f"{dose}, every day"),
            "sessions_per_week": (168.0 / SESSION_GAP_H, "", f"the most sessions that fit in 7 days (doses less than "
                                                            f"{SESSION_GAP_H:g} h apart are one session)")}


@dataclasses.dataclass(frozen=True)
class Limits:
    """Safety limits of a plan search (defaults stated in every plan output).

    ``sbp_rise_mmhg``: the 90th percentile (over the posterior) of every future session's peak SBP rise must stay
    at or below it (40 mmHg: the Spravato label's outlier threshold, reported in 8-17 % of patients).
    ``cadss``: same for the session's CADSS peak (assumption: clinics pause above ~30 points).
    ``ketamine_mg_per_kg_session`` 1.0 / ``esketamine_mg_session`` 84 (label maximum);
    ``ketamine_mg_per_kg_week`` 2.0 / ``esketamine_mg_week`` 168 (label induction: 84 mg twice weekly);
    ``sessions_per_week`` 2 (label induction; clinics' usual IV schedule).
    ``quantile_without_reading`` 0.75: the quantile of a session's peak at which ``sbp_rise_mmhg`` (``cadss``) is
    judged when the record has no SBP (CADSS) reading during a session. The posterior of the patient's sensitivity
    is then the population's, whose 90th percentile of the CADSS peak is far above the default 30 for every labelled
    regimen (an oral record without readings: esketamine 56 mg ~37-44, 0.5 mg/kg IV ~50, medians 11-13): judged
    there, a patient who has never been observed could be offered no session at all, while clinics give the
    labelled regimen to every new patient and watch the session. At the median the limit excluded nothing within
    the dose limits (review, thirty-fourth session); at the 75th percentile it excluded the highest IV doses (0.75
    and 1 mg/kg) for one such record (80 kg, eight daily infusions) and kept 0.5 mg/kg IV and esketamine 56/84 mg,
    but for another (48 kg, 72 y, one esketamine session) it left 0.75 and 1 mg/kg IV at the margin: what it
    excludes depends on the record; 0.9 holds it to the population's 90th percentile. With a reading the 90th percentile of this patient's posterior is used.
    """

    sbp_rise_mmhg: float = 40.0
    cadss: float = 30.0
    ketamine_mg_per_kg_session: float = 1.0
    esketamine_mg_session: float = 84.0
    ketamine_mg_per_kg_week: float = 2.0
    esketamine_mg_week: float = 168.0
    sessions_per_week: float = 2.0
    drugs: tuple[str, ...] = ("racemic-ketamine", "esketamine")
    routes: tuple[str, ...] = ("iv-infusion", "intranasal")
    quantile_without_reading: float = 0.75

    def __post_init__(self):
        # checked here, not only in parse_limits: Limits(cadss="30") from Python failed deep in the search with
        # "'<=' not supported between instances of 'float' and 'str'"
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("drugs", "routes"):
                parse = parse_drug if f.name == "drugs" else parse_route
                items = (v,) if isinstance(v, (str, Drug, Route)) else v
                if not isinstance(items, (tuple, list)) or not items:
                    # as --limits writes it (the Python tuple "('racemic-ketamine', 'esketamine')" read oddly there)
                    default = getattr(Limits, f.name)
                    raise InputError(f"{_opt('limits')} {f.name}: a list of names joined with '+', e.g. {f.name}="
                                     f"{'+'.join(default)} (from Python: {default!r}), got {v!r}")
                # the package's own Drug / Route members are names too
                field = f"{_opt('limits')} {f.name}"
                object.__setattr__(self, f.name, tuple(
                    parse(x.value if isinstance(x, (Drug, Route)) else x, field).value for x in items))
            elif f.name == "quantile_without_reading":
                if not (isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 < v < 1):
                    raise InputError(f"{_opt('limits')} quantile_without_reading: a quantile between 0 and 1 (0.75 the "
                                     f"default, 0.9 the 90th percentile), got {v!r}")
                object.__setattr__(self, f.name, float(v))
            elif not (isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0 and math.isfinite(v)):
                raise InputError(f"{_opt('limits')} {f.name}: must be a positive number, got {v!r}")
            elif f.name == "sessions_per_week" and v < 1:
                # counted in any 7 days, so every session counts 1 in its own week: below 1 nothing could be
                # offered (review, thirty-fifth session: 0.5 for "every 2 weeks" left "no further sessions" silently)
                raise InputError(f"{_opt('limits')} sessions_per_week: at most this many sessions in any 7 days, so at "
                                 f"least 1 (1 allows one a week and anything sparser, e.g. every 2 weeks), got {v!r}")
            else:
                ceiling = _limit_ceilings().get(f.name)
                if ceiling and v > ceiling[0]:
                    # ketamine_mg_per_kg_session=20 (a typo for 2.0) or cadss=500 were accepted without a word
                    bound, unit, why = ceiling
                    u = f" {unit}" if unit else ""
                    raise InputError(f"{_opt('limits')} {f.name}: {v:g}{u} is above {bound:g}{u}, {why}")
                object.__setattr__(self, f.name, float(v))      # numpy scalars too: plain numbers in the plan JSON

    def describe(self) -> dict:
        return dataclasses.asdict(self) | {"note": "sbp_rise_mmhg and cadss apply to the 90th percentile of each "
                                                   "future session's peak over the posterior; without an SBP (CADSS) "
                                                   "reading during a session in the record, to the "
                                                   "quantile_without_reading"}


def _variable_name(v):
    """A trajectory variable named in any case ('CP_KETAMINE_NG_ML'): the column's own lower-case name."""
    return v.strip().lower() if isinstance(v, str) else v


def _opt(name: str) -> str:
    """How a message names the plan's argument ``name`` ('limits'): ``--limits`` on the command line (``ketasim
    plan``), the argument of :func:`personal_plan` / :func:`parse_limits` from Python and on the dashboard's plan
    page (whose fields share the names)."""
    return argument(name, "--" + name)


def _check_text(value, name: str, example: str) -> None:
    """One line naming the plan's argument ``name`` for a value that is not text (the reader's own line otherwise)."""
    if not isinstance(value, str):
        raise InputError(f"{_opt(name)}: expected text such as {example}, got {type(value).__name__} "
                         f"{str(value)[:40]!r}")


def parse_limits(text: str | None) -> Limits:
    """``'sbp_rise_mmhg=30, cadss=25, drugs=esketamine+racemic-ketamine, routes=intranasal'``."""
    if isinstance(text, Limits):
        return text
    if not text:
        return Limits()
    _check_text(text, "limits", "'name=value, ...' (e.g. 'cadss=25') or a Limits")
    kw = {}
    fields = {f.name: f for f in dataclasses.fields(Limits)}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            # 'drugs=esketamine,racemic-ketamine' split at the comma: say how several are joined
            hint = ""
            for parse in (parse_drug, parse_route):
                try:
                    parse(part.strip(), _opt('limits'))
                    hint = " (several drugs or routes are joined with '+', e.g. drugs=esketamine+racemic-ketamine)"
                except KetasimError:
                    pass
            raise InputError(f"{_opt('limits')}: {part.strip()!r} is not name=value{hint}")
        k, _, v = part.partition("=")
        k = k.strip().lower().replace("-", "_")      # any case ('CADSS=25'), as the choice options
        if k not in fields:
            raise InputError(f"{_opt('limits')}: unknown limit {k!r}; known: {', '.join(fields)}")
        if k == "drugs":
            kw[k] = tuple(parse_drug(x.strip(), f"{_opt('limits')} drugs").value for x in v.split("+") if x.strip())
        elif k == "routes":
            kw[k] = tuple(parse_route(x.strip(), f"{_opt('limits')} routes").value for x in v.split("+") if x.strip())
        else:
            try:
                x = float(v)
            except ValueError:
                # '84mg', '30 mmHg': the unit is in the limit's name; the bare number only when the unit typed is
                # the name's ('ketamine_mg_per_kg_session=70mg' was told to write =70, i.e. 70 mg/kg)
                m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z/%]+)\s*", v)
                unit = (_limit_ceilings().get(k) or (0, "", ""))[1]
                if not m:
                    hint = ""
                elif k == "quantile_without_reading":
                    hint = " (a quantile between 0 and 1 without a unit: 0.75 for 75 %)"
                elif unit and m.group(2).lower() == unit.lower():
                    hint = f" (the unit is in the limit's name: write {k}={m.group(1)})"
                else:
                    hint = (f" (this limit is in {unit}, its name's unit: convert {m.group(1)} {m.group(2)} to {unit})"
                            if unit else " (a plain number, without a unit)")
                raise InputError(f"{_opt('limits')} {k}: {v.strip()!r} is not a number{hint}") from None
            if not (x > 0 and math.isfinite(x)):
                raise InputError(f"{_opt('limits')} {k}: must be a positive number")
            kw[k] = x
    return Limits(**kw)


#: The record's reading that informs each safety limit (DVID): with it the limit is judged at the 90th percentile
#: of the patient's posterior, without it at ``Limits.quantile_without_reading``.
SAFETY_READINGS = {"sbp_rise_mmhg": "sbp_change_mmhg", "cadss": "cadss"}


def safety_readings(record: PatientRecord, window_h: float = 6.0) -> dict:
    """``{limit name: bool}``: whether the record has a reading of each safety limit's variable
    (:data:`SAFETY_READINGS`) taken within ``window_h`` hours after the start of a ketamine dose (the session's
    monitoring window, ``monitoring.window_h``; a reading before any dose or days later says nothing of the
    patient's peak)."""
    starts = np.array(sorted(a.start_h for d in record.past_doses for a in d.administrations() if a.drug.is_ketamine))

    def in_session(t):
        k = np.searchsorted(starts, t, side="left") - 1        # the last dose that started before t (a reading at
        return bool(k >= 0 and t - starts[k] <= window_h)      # a dose's own time is its pre-dose value)

    read = {o.dvid for o in record.observations if in_session(o.time_h)}
    return {k: dv in read for k, dv in SAFETY_READINGS.items()}


def safety_quantiles(record: PatientRecord, limits: Limits, window_h: float = 6.0) -> dict:
    """``{limit name: quantile}``: the quantile of a future session's peak (over the posterior samples) at which
    each safety limit is judged, 0.9 when the record has a reading of it during a session (:func:`safety_readings`),
    else ``limits.quantile_without_reading``."""
    return judged_quantiles(safety_readings(record, window_h), limits)


def judged_quantiles(has_reading: dict, limits: Limits) -> dict:
    """``{limit name: quantile}`` from :func:`safety_readings`' ``{limit name: bool}``: 0.9 with a reading, else
    ``limits.quantile_without_reading`` (a plan derives both JSON fields from one reading of the record)."""
    return {k: 0.9 if has else limits.quantile_without_reading for k, has in has_reading.items()}


@dataclasses.dataclass(frozen=True)
class Target:
    """Every rating at the weekly visits from ``start`` to ``end`` (h after the last observation) <= threshold."""

    threshold: float
    start_h: float = 168.0
    end_h: float = 672.0
    probability: float = 0.8

    def visits_h(self) -> np.ndarray:
        """The visits (h after the last observation) the target is judged at: weekly from ``start_h`` to ``end_h``
        (one at ``end_h`` for a window that holds none)."""
        visits = np.arange(self.start_h, self.end_h + 1e-9, 168.0)
        return visits if visits.size else np.array([self.end_h])

    def text(self, scale: str) -> str:
        """The target in words, naming the scale as tables and figures do ('MADRS <= 10 at every weekly visit ...';
        the scale's key 'madrs' was printed lower case), from the visits it is judged at (:meth:`visits_h`): a window
        shorter than a week holds one visit ('1 d:3 d' said 'at every weekly visit from day 1 to day 3', judged on
        day 1 only), and the last visit of '1 week:4.5 week' is on day 28."""
        from .population import scale_name

        def when(h):        # 'day 0.0416667' for a window of '1 h:1 h'; days from a day on, as before
            from .units import fmt_hours

            return f"day {h / 24:g}" if h >= 24 else fmt_hours(h)

        visits = self.visits_h()
        head = f"{scale_name(scale)} <= {self.threshold:g}"
        if visits.size == 1:
            one = float(visits[0])
            text = f"{head} at the visit {'on ' if one >= 24 else ''}{when(one)} after the last observation"
            if self.end_h > self.start_h:     # the window's end was not a second visit
                text += f" (the only weekly visit in the window from {when(self.start_h)} to {when(self.end_h)})"
            return text
        return (f"{head} at every weekly visit from {when(float(visits[0]))} to {when(float(visits[-1]))} after the "
                "last observation")


def parse_target(text: str | None, scale: str, *, probability: float = 0.8, window: str | None = None) -> Target:
    """``'score<=10'`` / ``'madrs<=15'`` / ``'<=12'`` (default: remission on the record's scale)."""
    from .population import SCALES, canonical_scale, scale_lookup
    from .units import parse_time_h

    # from Python: probability='0.9', target=10 or window=4 stopped with a TypeError or AttributeError
    if isinstance(probability, bool) or not isinstance(probability, numbers.Real):
        raise InputError(f"{_opt('probability')}: expected a number between 0 and 1, got "
                         f"{type(probability).__name__} {str(probability)[:40]!r}")
    if text:
        _check_text(text, "target", "'score<=10'")
    if window:
        _check_text(window, "window", "'1 week:4 week'")
    if not (0 < probability < 1):
        hint = (f" (a fraction: {probability:g} % is {probability / 100:g})"
                if isinstance(probability, (int, float)) and 1 < probability < 100 else
                " (0 and 1 excluded: a forecast is never certain; e.g. 0.95)" if probability in (0, 1) else "")
        raise InputError(f"{_opt('probability')}: must lie between 0 and 1, got {probability:g}{hint}")
    scale = canonical_scale(scale, "scale")     # an unknown or None scale stopped with KeyError
    thr = SCALES[scale][1]
    if thr is None and not text:
        raise InputError(f"{_opt('target')}: {scale} has no published remission threshold; give one, e.g. 'score<=N' "
                         f"(0-{SCALES[scale][0]:g})")
    if text:
        # the scale's name as the output prints it ('QIDS-SR16<=5', 'HAM-D21<=7') is read too
        m = re.fullmatch(r"\s*([a-z0-9_-]*)\s*<=\s*([0-9.]+)\s*", text.lower())
        if not m:
            # 'score<10', 'score>=20', 'score<=-3' got only the generic line; say what is wrong with them
            op = re.fullmatch(r"\s*([a-z0-9_-]*)\s*(<=|=<|>=|=>|==|<|>|=)\s*(-?[0-9.]+)\s*", text.lower())
            why = ""
            if op is not None:
                name, sign, num = op.group(1) or "score", op.group(2), op.group(3)
                if num.startswith("-"):
                    why = f": {num} is outside the {scale} scale (0-{SCALES[scale][0]:g})"
                elif sign == "=<":
                    why = ": write '<=', not '=<'"
                elif sign == "<" and re.fullmatch(r"[0-9]+", num) and int(num) > 0:
                    why = f": write '<=' (ratings are whole points: below {num} is '{name}<={int(num) - 1}')"
                else:
                    why = (f": the target is a rating at or below a threshold, written '<=' (e.g. '{name}<={num}'), "
                           f"not {sign!r}")
            raise InputError(f"{_opt('target')}: write e.g. 'score<=10' or '{scale}<=15', got {text!r}{why}")
        if m.group(1) not in ("", "score", scale) and scale_lookup(m.group(1))[0] != scale:
            raise InputError(f"{_opt('target')}: the record's scale is {scale}, not {m.group(1)}")
        thr = float(m.group(2))
        if not (0 <= thr <= SCALES[scale][0]):
            raise InputError(f"{_opt('target')}: {thr:g} is outside the {scale} scale (0-{SCALES[scale][0]:g})")
    start, end = 168.0, 672.0
    if window:
        a, sep, b = window.partition(":")
        if not sep:
            raise InputError(f"{_opt('window')}: write FROM:TO after the last observation, e.g. '1 week:4 week'")
        start, end = (parse_time_h(a, _opt('window'), examples=("week", "d")),
                      parse_time_h(b, _opt('window'), examples=("week", "d")))
        if not (0 < start <= end <= 24 * 365):
            # it did not say what was read ('0 d:1 week' starts at the last observation itself)
            raise InputError(f"{_opt('window')}: need 0 < FROM <= TO <= 1 year after the last observation, got "
                             f"{window.strip()!r} ({start / 24:g} d to {end / 24:g} d)")
    return Target(thr, start, end, probability)


#: Candidate session doses per (drug, route) — the usual clinical steps.
DOSE_OPTIONS = {
    ("racemic-ketamine", "iv-infusion"): [(0.5, True), (0.75, True), (1.0, True)],
    ("racemic-ketamine", "im"): [(0.5, True), (0.75, True), (1.0, True)],
    ("racemic-ketamine", "sc"): [(0.5, True), (1.0, True)],
    ("esketamine", "intranasal"): [(56.0, False), (84.0, False)],
}
#: Intranasal esketamine for a patient aged 65 or more also at 28 mg: the label's start dose and lowest step in older
#: adults (SPRAVATO US prescribing information, 2.2: 28 mg on day 1, then 28, 56 or 84 mg; TRANSFORM-3). Without it
#: an older patient whose 56 and 84 mg broke the safety limits was offered no esketamine session at all.
OLDER_ADULT_AGE = 65.0
OLDER_ADULT_ESKETAMINE_OPTIONS = [(28.0, False)]
#: Products searched only when named in ``--limits drugs=...`` and ``routes=...`` explicitly (compounded
#: racemic nasal sprays are not a labelled product).
EXPLICIT_DOSE_OPTIONS = {("racemic-ketamine", "intranasal"): [(50.0, False), (100.0, False)]}
#: Schedules: (label, [(interval h, number of sessions or None = to the end of the window), ...]).
SCHEDULES = [
    ("twice weekly", [(84.0, None)]),
    ("weekly", [(168.0, None)]),
    ("every 2 weeks", [(336.0, None)]),
    ("twice weekly x2, then weekly", [(84.0, 2), (168.0, None)]),
    ("weekly x2, then every 2 weeks", [(168.0, 2), (336.0, None)]),
]


def _sessions(start: float, end: float, parts) -> list[float]:
    t, out = start, []
    for interval, n in parts:
        k = 0
        while t <= end + 1e-9 and (n is None or k < n):
            out.append(t)
            t += interval
            k += 1
    return out


def searched_dose_options(limits: Limits) -> dict:
    """``{(drug, route): [(amount, per_kg), ...]}``: the dose options the plan search tries within ``limits``'
    drugs and routes (:data:`DOSE_OPTIONS`, plus :data:`EXPLICIT_DOSE_OPTIONS` when drugs or routes are named).
    None is one line naming ``--limits`` (a search of no product offered only "no further sessions" without a word)."""
    options_all = dict(DOSE_OPTIONS)
    if limits.routes != Limits().routes or limits.drugs != Limits().drugs:
        options_all |= EXPLICIT_DOSE_OPTIONS
    out = {k: v for k, v in options_all.items() if k[0] in limits.drugs and k[1] in limits.routes}
    if not out:
        known = "; ".join(f"{d} {r}" for d, r in options_all)
        raise InputError(f"{_opt('limits')} drugs/routes: the plan search has no dose option for "
                         f"drugs={'+'.join(limits.drugs)} with routes={'+'.join(limits.routes)}; it searches: {known}")
    return out


def candidate_regimens(record: PatientRecord, limits: Limits, window_end_h: float) -> list[dict]:
    """Candidate future regimens within the limits: [{label, doses (Dose), sessions, mg_total, ...}]."""
    last_obs = record.last_observation_h
    past = record.past_doses
    out = [{"label": "no further sessions", "doses": (), "times": []}]
    # a schedule whose sessions in the window are another's (e.g. 'twice weekly' and 'twice weekly x2, then weekly'
    # in a one-week window) is the same regimen: it was ranked twice under two labels
    seen = set()
    for (drug, route), options in searched_dose_options(limits).items():
        if (drug, route) == ("esketamine", "intranasal") and record.age_years >= OLDER_ADULT_AGE:
            options = OLDER_ADULT_ESKETAMINE_OPTIONS + list(options)
        for amount, per_kg in options:
            mg_kg = amount if per_kg else amount / record.weight_kg
            if drug == "esketamine" and (amount if not per_kg else amount * record.weight_kg) > limits.esketamine_mg_session + 1e-9:
                continue
            if drug != "esketamine" and mg_kg > limits.ketamine_mg_per_kg_session + 1e-9:
                continue
            for label, parts in SCHEDULES:
                max_per_week = max(168.0 / iv for iv, _ in parts)
                if max_per_week > limits.sessions_per_week + 1e-9:
                    continue
                week_amount = max_per_week * (amount if not per_kg else amount * record.weight_kg)
                if drug == "esketamine" and week_amount > limits.esketamine_mg_week + 1e-9:
                    continue
                if drug != "esketamine" and max_per_week * mg_kg > limits.ketamine_mg_per_kg_week + 1e-9:
                    continue
                # continue the rhythm: the first session one interval after the last dose, not before the
                # last observation (+30 min: ratings are taken before a session)
                first_iv = parts[0][0]
                last_dose = max((d.at_h for d in past), default=-math.inf)
                start = max(last_obs + 0.5, last_dose + first_iv)
                dur = 40 / 60 if route == "iv-infusion" else 0.0

                def regimen(start):
                    return tuple(Dose(Drug(drug), Route(route), amount, per_kg, dur, t, 0.0, 1, "plan")
                                 for t in _sessions(start, last_obs + window_end_h, parts))

                # the week limits count the record's past sessions too (schedule_breaks, the rule the recorded plan
                # is held to): after a dense past the first session waits until the 7-day windows allow it
                doses = regimen(start)
                while doses and schedule_breaks(record, doses, limits):
                    start += CANDIDATE_DELAY_STEP_H
                    doses = regimen(start)
                if not doses:
                    continue
                times = [d.at_h for d in doses]
                # keyed by the doses themselves (drug, route, amount, duration, time of every session), not by the
                # schedule's parameters: two schedules are one regimen only when every dose is the same
                if doses in seen:
                    continue
                seen.add(doses)
                out.append({"label": f"{drug} {route} {amount:g} {'mg/kg' if per_kg else 'mg'}, {label}",
                            "doses": doses, "times": times, "product": f"{drug} {route}"})
    return out


#: Slack (h) of the week limits for clinic times: sessions a week apart to the hour (Monday 10:00, Thursday 09:00,
#: Monday 09:30: 167.5 h) are not three in 7 days; the window is [session, session + 168 h - this)
WEEK_SLACK_H = 6.0
#: A candidate whose first session would break a week limit together with the record's past sessions starts this
#: much later (h), until it does not
CANDIDATE_DELAY_STEP_H = 12.0


def count_sessions(administrations) -> int:
    """Sessions among ketamine administrations, as :func:`schedule_breaks` counts them (:func:`group_sessions`)."""
    return len(group_sessions(administrations))


def schedule_breaks(record: PatientRecord, doses, limits: Limits) -> dict:
    """The dose and schedule limits that the future ``doses`` (e.g. the record's planned doses) break:
    ``{limit name: the regimen's worst value}``, in :class:`Limits` field order, empty when within them all.

    The limits are the ones :func:`candidate_regimens` builds the candidates within: a session's dose
    (``ketamine_mg_per_kg_session`` mg/kg of racemic or arketamine, ``esketamine_mg_session`` mg), the amount and
    the number of sessions in any 7 days (``*_week``, ``sessions_per_week``: counted over every window of 168 h, less
    :data:`WEEK_SLACK_H` for clinic times, that starts at a session and holds a future one, so the record's past
    doses in the same week count; :func:`candidate_regimens` holds its candidates to the same rule), and the searched
    ``drugs`` / ``routes`` (value: the list of those outside). Only ketamine doses count (placebo, midazolam and
    oral antidepressants are neither sessions nor amounts); ketamine doses less than :data:`regimen.SESSION_GAP_H`
    apart are one session. The safety limits (SBP, CADSS) need the posterior and are judged in :func:`plan`.
    """
    def admins(ds):
        return [a for d in ds for a in d.administrations() if a.drug.is_ketamine]

    future = admins(doses)
    if not future:
        return {}
    first_future = min(a.start_h for a in future)
    sessions = group_sessions(admins(record.past_doses) + future)
    w = record.weight_kg
    starts = np.array([g[0].start_h for g in sessions])
    esk = np.array([sum(a.amount_mg(w) for a in g if a.drug == Drug.ESKETAMINE) for g in sessions])    # mg
    ket = np.array([sum(a.amount_mg(w) / w for a in g if a.drug != Drug.ESKETAMINE) for g in sessions])  # mg/kg
    fut = np.array([any(a.start_h >= first_future for a in g) for g in sessions])
    worst = {"ketamine_mg_per_kg_session": float(ket[fut].max()), "esketamine_mg_session": float(esk[fut].max())}
    end = np.searchsorted(starts, starts + 168.0 - WEEK_SLACK_H)        # window [start, start + 168 h - slack)
    n_week = esk_week = ket_week = 0.0
    for i, j in enumerate(end):
        if fut[i:j].any():
            n_week = max(n_week, float(j - i))
            esk_week = max(esk_week, float(esk[i:j].sum()))
            ket_week = max(ket_week, float(ket[i:j].sum()))
    worst |= {"ketamine_mg_per_kg_week": ket_week, "esketamine_mg_week": esk_week, "sessions_per_week": n_week}
    out = {}
    for f in dataclasses.fields(Limits):
        if f.name in worst and worst[f.name] > getattr(limits, f.name) + 1e-9:
            out[f.name] = round(worst[f.name], 3)
        elif f.name in ("drugs", "routes"):
            outside = sorted({getattr(a, f.name[:-1]).value for a in future} - set(getattr(limits, f.name)))
            if outside:
                out[f.name] = outside
    return out


def planned_background(record: PatientRecord) -> tuple[Dose, ...]:
    """The record's planned oral-antidepressant start(s), which every candidate and an ``--alternative`` that states
    none keep (the search chooses ketamine sessions, not the background treatment)."""
    return tuple(d for d in record.planned_doses if d.drug == Drug.ORAL_ANTIDEPRESSANT)


def _recorded_breaks(result: dict, schedule: dict) -> dict:
    """``schedule`` (:func:`schedule_breaks`) with the safety limits the evaluated regimen ``result`` breaks (its
    SBP rise and CADSS peak at the judged quantile, ``safety.judged_at``), in :class:`Limits` field order."""
    s = result["safety"]
    safety = {k: v for k, v, m in (("sbp_rise_mmhg", s["sbp_rise_judged_mmhg"], s["sbp_margin_mmhg"]),
                                   ("cadss", s["cadss_peak_judged"], s["cadss_margin"])) if m < 0}
    both = safety | schedule
    return {f.name: both[f.name] for f in dataclasses.fields(Limits) if f.name in both}


def _compress(doses: tuple[Dose, ...]) -> list[dict]:
    """Dose lines in the scenario YAML form, merging equally spaced identical sessions into every/count."""
    lines = []
    i = 0
    while i < len(doses):
        d = doses[i]
        j = i + 1
        every = doses[j].at_h - d.at_h if j < len(doses) else 0.0
        while (j < len(doses) and doses[j].drug == d.drug and doses[j].route == d.route and doses[j].amount == d.amount
               and abs(doses[j].at_h - doses[j - 1].at_h - every) < 1e-6):
            j += 1
        lines.append(dose_line(d, every_h=every, count=j - i))
        i = j
    return lines


#: how the plan's target definition names the recurrence clock (population.recurrence_clock); it said "on the clock of
#: time in response" whatever the clock, where the default counts time from entry
_CLOCK_WORDS = {"entry": "on the clock from trial entry (a constant hazard)",
                "response": "on the clock of time in response",
                "recovery": "on the clock from recovery (none before a sustained remission)"}


def plan(fit: PatientFit, *, target: Target | None = None, limits: Limits | None = None, top: int = 5,
         n_samples: int = 200, seed: int = 2, minimise: str = "sessions", alternative=None) -> dict:
    """Search candidate regimens; return {target, limits, plans (ranked), candidates_evaluated, recorded}.

    ``alternative``: future doses of a regimen of the user's own (background included), scored on the same samples
    as the recorded plan (``alternative`` in the result: p_target, safety margins; not ranked).

    Every candidate is screened with ``n_samples // 2`` posterior samples; the leading ``top + 2`` are re-scored
    with ``n_samples`` other samples and fresh rater noise, and those values are reported and ranked.

    Ranking: plans that meet the target with the required probability first, by fewest sessions then least drug
    (``minimise="sessions"``) or least drug then fewest sessions (``"exposure"``); then the others by probability.
    """
    from .limits import check_choice, check_int, check_seed

    minimise = check_choice(minimise, _opt("minimise"), ("sessions", "exposure"))     # any case ('Sessions')

    top = check_int(top, "top", lo=1, hi=100)        # top=0 returned no plans without a word
    n_samples = check_int(n_samples, "n_samples", lo=MIN_SAMPLES, hi=100_000)
    seed = check_seed(seed, "seed")
    _check_fit(fit)
    pm = fit.model
    rec = pm.record
    # text as the command line takes it (target='score<=10', limits='cadss=25' stopped with an AttributeError)
    target = parse_target(target, rec.scale) if isinstance(target, str) else target or parse_target(None, rec.scale)
    if not isinstance(target, Target):
        raise InputError(f"target: expected text such as 'score<=10' or a Target (parse_target), got "
                         f"{type(target).__name__} {str(target)[:40]!r}")
    limits = parse_limits(limits) if isinstance(limits, str) else limits or Limits()
    if not isinstance(limits, Limits):
        raise InputError(f"limits: expected text such as 'cadss=25' or a Limits (parse_limits), got "
                         f"{type(limits).__name__} {str(limits)[:40]!r}")
    t0 = time.perf_counter()
    last = rec.last_observation_h
    visits = last + target.visits_h()          # the visits its text names
    cands = candidate_regimens(rec, limits, target.end_h)
    # a searched product none of whose dose options fits the limits (esketamine_mg_week=50 below two 28-mg sessions
    # a week) dropped out of the search without a word (review, thirty-fifth session)
    offered = {c.get("product") for c in cands}
    without = [f"{d} {r}" for d, r in searched_dose_options(limits) if f"{d} {r}" not in offered]
    has_reading = safety_readings(rec, pm.params.get("monitoring.window_h", "h"))
    judged = judged_quantiles(has_reading, limits)         # from the same reading: the two JSON fields agree
    background = planned_background(rec)
    if rec.planned_doses:
        cands.append({"label": "recorded plan", "doses": rec.planned_doses, "times": [d.at_h for d in rec.planned_doses],
                      "recorded": True})
    rng = np.random.default_rng(seed)
    total = fit.samples.shape[0]
    S2 = min(n_samples, total)
    S = max(min(S2 // 2, total), 1)          # screening uses half as many samples
    order = rng.permutation(total)
    th = fit.samples[order[:S]]
    # a second, independent set (other posterior samples where there are enough, fresh rater noise) re-scores
    # the leading candidates, so that the stated probability is not biased upwards by picking the best
    th2 = fit.samples[order[S:S + S2]] if total >= S + S2 else fit.samples[rng.choice(total, S2)]
    noise = rng.normal(0.0, pm.rating_sd, (S, visits.size))      # common random numbers for every candidate
    noise2 = rng.normal(0.0, pm.rating_sd, (th2.shape[0], visits.size))
    # each draw's recurrence time from its prior (given none before the last observation), its own seeded stream
    # (the draws and noise above are as they were without it); common to every candidate like the noise
    eta_rec = pm.recurrence_etas(S + th2.shape[0], seed, np.vstack([th, th2]))
    eta1, eta2 = eta_rec[:S], eta_rec[S:]
    # each draw's fluctuation of true severity at the visits, given the record's ratings (its own seeded stream):
    # it does not depend on the regimen, so it is common to every candidate and added to the rater's noise
    om, rng_f = _ObservationModel(pm), np.random.default_rng([seed, FLUCTUATION_STREAM])
    # both sets' model scores at the record's ratings in one engine run (what conditioning needs)
    pred = om.predictions(np.vstack([th, th2]))[:, om.score_idx] \
        if pm.fluctuation[0] != 0 and om.score_idx.size else np.empty((S + th2.shape[0], 0))
    noise = noise + om.fluctuation(th, visits, rng_f, predicted=pred[:S])
    noise2 = noise2 + om.fluctuation(th2, visits, rng_f, predicted=pred[S:])

    def evaluate(c, th, noise, eta):
        # every candidate keeps the record's planned oral-antidepressant start (the search chooses ketamine
        # sessions, not the background treatment; the candidates dropped it while the recorded plan kept it)
        doses = tuple(rec.past_doses) + (() if c.get("recorded") or c.get("own") else background) + tuple(c["doses"])
        out, score, summ, st = pm.run(th, doses, visits, eta_recurrence=eta)
        ratings = np.clip(np.rint(score + noise), 0, pm.smax)
        ok = np.all(ratings <= target.threshold, axis=1)
        future = np.flatnonzero(st > last) if st.size else np.zeros(0, int)
        if future.size and c["doses"]:
            sbp = summ[:, future, K.SUM_NAMES.index("sbp_change_peak")].max(axis=1)
            cad = summ[:, future, K.SUM_NAMES.index("cadss_peak")].max(axis=1)
            sbp90, cad90 = float(np.quantile(sbp, 0.9)), float(np.quantile(cad, 0.9))
            sbpq, cadq = float(np.quantile(sbp, judged["sbp_rise_mmhg"])), float(np.quantile(cad, judged["cadss"]))
        else:
            sbp90 = cad90 = sbpq = cadq = 0.0
        # sessions and drug amount: ketamine sessions (an oral-antidepressant start is neither)
        given = [a for d in c["doses"] for a in d.administrations() if a.drug.is_ketamine]
        mg = sum(a.amount_mg(rec.weight_kg) for a in given)
        qs = np.quantile(ratings, [0.05, 0.5, 0.95], axis=0)
        # judged on the margins as reported (0.01 rounding), so `safe` and the breaks listed from them agree
        safe = round(limits.sbp_rise_mmhg - sbpq, 2) >= 0 and round(limits.cadss - cadq, 2) >= 0
        return {
            "label": c["label"], "regimen": _compress(c["doses"]), "p_target": float(ok.mean()),
            "meets_probability": bool(ok.mean() >= target.probability), "safe": bool(safe),
            "sessions": count_sessions(given), "total_dose_mg": round(float(mg), 2),
            "predicted": [{"time_h": float(t), "median": json_quantile(qs[1, k]),
                           "pi90": [json_quantile(qs[0, k]), json_quantile(qs[2, k])]}
                          for k, t in enumerate(visits)],
            "safety": {"sbp_rise_p90_mmhg": round(sbp90, 2), "sbp_margin_mmhg": round(limits.sbp_rise_mmhg - sbpq, 2),
                       "cadss_peak_p90": round(cad90, 2), "cadss_margin": round(limits.cadss - cadq, 2),
                       # the margins are to the judged quantile: the 90th percentile with a reading, else
                       # limits.quantile_without_reading (the population's 90th percentile excluded every regimen)
                       "judged_at": dict(judged), "sbp_rise_judged_mmhg": round(sbpq, 2),
                       "cadss_peak_judged": round(cadq, 2)},
            "recorded": bool(c.get("recorded", False)),
        }

    def key(r):
        cost = (r["sessions"], r["total_dose_mg"]) if minimise == "sessions" else (r["total_dose_mg"], r["sessions"])
        # plans no sample meets (p_target 0) tie on probability: they are ranked by how close their predicted ratings
        # come to the target (mean of the medians at the visits), not by cost, which put "no further sessions" first
        near = float(np.mean([v["median"] for v in r["predicted"]])) if r["p_target"] == 0 and r["predicted"] else 0.0
        return (not r["meets_probability"],
                (*cost, -r["p_target"]) if r["meets_probability"] else (-r["p_target"], near, *cost))

    results = [evaluate(c, th, noise, eta1) for c in cands]
    leading = sorted([(r, c) for r, c in zip(results, cands) if r["safe"] and not r["recorded"]],
                     key=lambda rc: key(rc[0]))[:top + 2]
    rescored = []
    for r, c in leading:
        r2 = evaluate(c, th2, noise2, eta2)
        r2["p_target_search"] = r["p_target"]
        if r2["safe"]:
            rescored.append(r2)
    ranked = sorted(rescored, key=key)
    for k, r in enumerate(ranked[:top], start=1):
        r["rank"] = k
    searched = [r for r in results if not r["recorded"]]
    rec_cand = next((c for c in cands if c.get("recorded")), None)
    recorded = evaluate(rec_cand, th2, noise2, eta2) if rec_cand is not None else None
    if recorded is not None:
        # the candidates are built within every limit; the record's own plan was never checked (a record planning
        # daily infusions printed "recorded plan: p=0.61" without a word of sessions_per_week=2)
        recorded["breaks_limits"] = _recorded_breaks(recorded, schedule_breaks(rec, rec.planned_doses, limits))
        recorded["safe"] = not (set(recorded["breaks_limits"]) - {"drugs", "routes"})
    alt = None
    if alternative:
        # a regimen of the user's own: scored like the recorded plan (it was forecast only, so a clinician could not
        # set it beside the ranked plans' probabilities and margins)
        alt = evaluate({"label": "alternative", "doses": tuple(alternative), "own": True}, th2, noise2, eta2)
        alt["breaks_limits"] = _recorded_breaks(alt, schedule_breaks(rec, tuple(alternative), limits))
        alt["safe"] = not (set(alt["breaks_limits"]) - {"drugs", "routes"})
    return {"target": {"text": target.text(rec.scale), "threshold": target.threshold, "scale": rec.scale,
                       "visits_h": [float(v) for v in visits], "probability": target.probability,
                       "definition": "fraction of posterior samples whose rating (with the fluctuation of true "
                                     "severity, continued from the record's ratings, and the rater's noise) is at or "
                                     "below the threshold at every visit; the leading candidates are re-scored on an "
                                     "independent set of samples and noise (p_target; p_target_search is the "
                                     "search's own estimate); each sample has its own time to a new depressive "
                                     "episode (the population's recurrence risk given none before the last "
                                     f"observation, {_CLOCK_WORDS[pm.spec.recurrence_clock]})"},
            "limits": limits.describe(), "plans": ranked[:top], "recorded_plan": recorded, "alternative": alt,
            "minimise": minimise,
            # the candidates only: the recorded plan (its own breaks_limits) was counted too ('6 of 27 candidate
            # regimens' for 26 candidates)
            "candidates_evaluated": len(searched),
            "unsafe_candidates": sum(1 for r in searched if not r["safe"]),
            # the search's, not the shown top plans': "no candidate with a session is within the limits" is said on it
            "safe_candidates_with_sessions": sum(1 for r in searched if r["safe"] and r["sessions"]),
            "products_without_candidates": without,
            # which limit: a record without SBP or CADSS readings carries the population's spread of them, which can
            # exclude every regimen (the text said only "relax the target, the window or the limits")
            "unsafe_by_limit": {"sbp_rise_mmhg": sum(1 for r in searched if r["safety"]["sbp_margin_mmhg"] < 0),
                                "cadss": sum(1 for r in searched if r["safety"]["cadss_margin"] < 0)},
            "background": [dose_line(d) for d in background],
            "judged_at": dict(judged), "has_reading": {k: bool(v) for k, v in has_reading.items()},
            "seconds": time.perf_counter() - t0, "notice": NOTICE}


# ---- the whole job -------------------------------------------------------------------------------------------
#: The keys of :func:`plan`'s result that the plan JSON's ``search`` carries (and ``seconds``, rounded)
SEARCH_KEYS = ("candidates_evaluated", "unsafe_candidates", "safe_candidates_with_sessions",
               "products_without_candidates", "unsafe_by_limit", "background", "judged_at", "has_reading", "minimise")


def personal_plan(record, *, target: str | None = None, limits: str | Limits | None = None, window: str | None = None,
                  probability: float = 0.8, alternative=None, variables=("score",), params: ParameterSet | None = None,
                  seed: int = 0, n_samples: int = 400, top: int = 5, minimise: str = "sessions",
                  anesthetic_check: bool = True) -> dict:
    """Fit, forecast and plan for one record; returns the plan JSON contract (see docs in ``ketasim plan``).

    ``anesthetic_check``: an ``alternative`` whose doses add up to the anesthetic range (none alone in it), alone or
    with the record's past doses within reach, warns (``DoseWarning``) before the fit, as ``ketasim plan
    --alternative`` warns (``record.alternative_anesthetic_warnings``; from Python it said nothing: review s46).
    False leaves it out (a caller that checks and shows the warnings itself: the dashboard's plan page). The
    record's own doses adding up to the anesthetic range are not checked here (``ketasim plan`` and the plan page
    warn of them; from Python: ``record.record_anesthetic_warnings(record)``)."""
    import ketasim

    from .limits import check_bool, check_choice, check_int, check_seed

    rec = as_record(record)
    anesthetic_check = check_bool(anesthetic_check, "anesthetic_check")
    minimise = check_choice(minimise, _opt("minimise"), ("sessions", "exposure"))     # any case ('Sessions')
    # checked before the fit (seconds), naming the argument
    n_samples = check_int(n_samples, "n_samples", lo=MIN_SAMPLES, hi=100_000)
    top = check_int(top, "top", lo=1, hi=100)
    seed = check_seed(seed, "seed")
    if isinstance(variables, str):      # 'cadss' was read letter by letter ("unknown trajectory variable 'c'")
        variables = tuple(v.strip() for v in variables.split(",") if v.strip())
    variables = tuple(_variable_name(v) for v in variables)     # any case ('CADSS'), as the choice options
    for v in variables:                 # before the fit (seconds), not after it
        if v != "score" and v not in K.OUT_NAMES:
            raise InputError(f"variables: unknown trajectory variable {v!r}")
    if isinstance(alternative, str):    # its characters were read as dose lines ('alternative[0]: expected a mapping')
        raise InputError(f"alternative: expected a list of dose lines ({{drug, route, dose, at, ...}}), got text "
                         f"{alternative[:40]!r} (a YAML file: yaml.safe_load(open(FILE)))")
    if isinstance(alternative, dict):   # one dose line alone is a regimen of that line (as patient_scenario reads it)
        alternative = [alternative]
    pm = PatientModel(rec, params)
    lim = limits if isinstance(limits, Limits) else parse_limits(limits)
    searched_dose_options(lim)          # before the fit: a search of no product is one line
    tgt = parse_target(target, rec.scale, probability=probability, window=window)
    if alternative:         # checked before the fit (seconds to minutes), naming the line
        alternative = _future_doses(rec, alternative, "alternative")
        if anesthetic_check:    # with the record's past doses, as the record's own rows are checked
            import warnings

            from .errors import DoseWarning
            from .record import alternative_anesthetic_warnings

            for msg in alternative_anesthetic_warnings(rec, alternative, pm.params):
                warnings.warn(msg, DoseWarning, stacklevel=2)
    fit = fit_patient(pm, n_samples=n_samples, seed=seed)
    fc = forecast(fit, variables=tuple(dict.fromkeys(("score", *variables))))
    prior_fc = forecast(fit, samples=pm.prior_mean + pm.prior_sd * np.random.default_rng(
        _sub_seed(seed, 7)).standard_normal(
        (n_samples, pm.dim)), grid=True)
    alt = None
    if alternative:
        # the record's planned oral-antidepressant start stays unless the alternative states its own (as every
        # candidate keeps it): an alternative of ketamine sessions alone is not one without the antidepressant
        background = planned_background(rec)
        if any(d.drug == Drug.ORAL_ANTIDEPRESSANT for d in alternative):
            background = ()
        afc = forecast(fit, regimen=alternative + background)
        future = afc.regimen[len(rec.past_doses):]
        alt = {"regimen": [dose_line(d) for d in future], "forecast": afc.entries(),
               "grid": afc.entries(afc.grid_h), "background": [dose_line(d) for d in background],
               # the dose and schedule limits it breaks (with the SBP and CADSS limits once plan() has scored it)
               "breaks_limits": schedule_breaks(rec, future, lim)}
    pl = plan(fit, target=tgt, limits=lim, top=top, seed=_sub_seed(seed, 2), minimise=minimise,
              alternative=None if alt is None else future)
    if alt is not None:     # its probability of the target and safety margins, as the recorded plan's
        scored = pl["alternative"]
        alt.update({k: scored[k] for k in ("p_target", "meets_probability", "safe", "sessions", "total_dose_mg",
                                           "predicted", "safety", "breaks_limits")})
    obs = [{"time_h": o.time_h, "dvid": o.dvid, "value": o.value} for o in rec.observations]
    return {
        "notice": NOTICE,
        "patient": {"id": rec.id, "weight_kg": rec.weight_kg, "age_years": rec.age_years,
                    "sex": "F" if rec.female else "M", "crp_mg_l": rec.crp_mg_l, "genotype": rec.genotype,
                    "comedications": list(rec.comedications),
                    "comedications_as_written": list(rec.comedications_as_written), "scale": rec.scale,
                    "source": rec.source,
                    "last_observation_h": rec.last_observation_h},
        "observations": obs,
        "doses": [dose_line(d) for d in rec.doses],
        "fit": {"method": "MAP (scipy least_squares) + Laplace covariance + importance resampling (multivariate t"
                          + (", adaptive rounds" if fit.sampling and fit.sampling["rounds"] else "") + ")",
                "parameters": fit.parameter_table(), "objective": fit.objective,
                "effective_sample_size": fit.ess, "pareto_k": fit.pareto_k, "sampling": fit.sampling,
                "proposals": fit.n_proposals, "samples": int(fit.samples.shape[0]),
                "residuals": fit.residuals, "warnings": fit.warnings, "prior_only": fit.prior,
                "seconds": round(fit.seconds, 3)},
        "forecast": fc.entries(),
        "forecast_grid": fc.entries(fc.grid_h),
        "prior_forecast_grid": prior_fc.entries(prior_fc.grid_h),
        "recorded_regimen": [dose_line(d) for d in rec.planned_doses],
        "alternative": alt,
        "plans": pl["plans"], "recorded_plan": pl["recorded_plan"], "target": pl["target"], "limits": pl["limits"],
        "search": {**{k: pl[k] for k in SEARCH_KEYS}, "seconds": round(pl["seconds"], 3)},
        # package_version (the plan contract's name) and ketasim_version, model as every other output names them
        "provenance": {"package_version": ketasim.__version__, "ketasim_version": ketasim.__version__,
                       "model": model_id(), "parameter_set": pm.params.version,
                       "calibration_run": pm.params.calibration_run, "seed": seed},
    }


# ---- simulation-based validation (used by tests and benchmarks/bench_plan.py) -------------------------------
def synthetic_record(n: int = 1, *, seed: int = 0, params: ParameterSet | None = None, weeks_observed: int = 2,
                     forecast_weeks=(3, 4, 5, 6)):
    """``n`` synthetic patients drawn from the population model: (records, true theta (n, dim), PatientModels).

    Each gets 0.5 mg/kg IV ketamine twice weekly while observed (ratings with its own fluctuation of true severity
    (``models[i].true_fluctuation``: rating times, change since entry, SD, correlation time) and the rater's noise
    before every session, 24 h after it, and at baseline; one SBP reading 40 min into the first session), then weekly
    sessions; the record's forecast points are the weekly visits in ``forecast_weeks``. Each synthetic patient keeps
    its own eta_recurrence from the population draw (a new episode can start while observed or later, as in the
    population); the fit does not see it (``NOT_FITTED``): ``models[i].true_eta_recurrence`` holds it for
    :func:`validate`'s true-patient runs.
    """
    from .population import Distribution, PopulationSpec
    from .record import record_from_rows
    from .scenario import DEFAULT_BASELINE

    params = params or load_parameters()
    rng = np.random.default_rng(seed)
    rng_fluct = np.random.default_rng([seed, FLUCTUATION_STREAM])
    spec = PopulationSpec(size=n, baseline=Distribution(*DEFAULT_BASELINE["madrs"]))
    pop = sample_patients(spec, params, rng, n)
    recs, truths, models = [], [], []
    obs_end = 168.0 * weeks_observed
    sessions_obs = list(np.arange(0.5, obs_end, 84.0))
    sessions_future = list(np.arange(obs_end + 0.5, 168.0 * max(forecast_weeks), 168.0))
    for i in range(n):
        cov = {"WT": round(float(pop.weight_kg[i]), 1), "AGE": round(float(pop.age_years[i])), "SEX": "F" if pop.female[i] else "M"}
        rows = []
        for t in sessions_obs + sessions_future:
            rows.append({"TIME": float(t), "EVID": 1, "AMT": 0.5, "AMTU": "mg/kg", "DUR": 40 / 60,
                         "DRUG": "racemic-ketamine", "ROUTE": "iv-infusion"})
        obs_t = sorted({0.0, *[t - 0.5 for t in sessions_obs[1:]], *[t + 24 for t in sessions_obs], obs_end})
        for t in obs_t:
            rows.append({"TIME": float(t), "EVID": 0, "DVID": "madrs", "DV": 0})
        rows.append({"TIME": 1.1667, "EVID": 0, "DVID": "sbp_change_mmhg", "DV": 0})
        for w in forecast_weeks:
            rows.append({"TIME": 168.0 * w, "EVID": 0, "DVID": "madrs"})
        rows.sort(key=lambda r: (r["TIME"], r["EVID"]))
        rows[0].update(cov)
        rec = record_from_rows(rows, source=f"synthetic {i}")
        pm = PatientModel(rec, params)
        theta = np.array([getattr(pop, nm)[i] for nm in pm.names], float)
        pm.true_eta_recurrence = np.array([pop.eta_recurrence[i]], float)
        times = np.array(sorted({o.time_h for o in rec.observations}))
        out, score, _, _ = pm.run(theta, rec.past_doses, times, eta_recurrence=pm.true_eta_recurrence)
        # the patient's own fluctuation of true severity at its rating times (population.fluctuation_paths)
        t_rated = np.array(sorted({o.time_h for o in rec.observations if o.dvid == "madrs"}))
        path = fluctuation_paths(params, pm.smax, t_rated, rng_fluct.standard_normal((1, t_rated.size + 1)))[0]
        pm.true_fluctuation = (t_rated, path, *pm.fluctuation)
        values = []
        for o in rec.observations:
            k = int(np.searchsorted(times, o.time_h))
            if o.dvid == "madrs":
                x = path[int(np.searchsorted(t_rated, o.time_h))]
                values.append(float(np.clip(np.rint(score[0, k] + x + rng.normal(0, pm.rating_sd)), 0, pm.smax)))
            else:
                v = out[0, k, K.OUT_NAMES.index("sbp_change_mmhg")] + rng.normal(0, pm.obs_sd["sbp_change_mmhg"])
                values.append(float(np.round(v)))
        obs = tuple(dataclasses.replace(o, value=v) for o, v in zip(rec.observations, values))
        rec = rec.replace(observations=obs)
        pm.record = rec
        recs.append(rec)
        truths.append(theta)
        models.append(pm)
    return recs, np.array(truths), models


def _true_fluctuation(pm: PatientModel, times_h, rng, n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic patient's own fluctuation at ``times_h`` continued from its path at its rating times
    (``pm.true_fluctuation``; exact: the Gaussian conditional with no rater's noise): (``n`` draws; their mean, the
    truth's expected fluctuation given its past), scale points."""
    t_rated, path, s, tau = pm.true_fluctuation
    draws = fluctuation_conditional(s, tau, times_h, t_rated, np.broadcast_to(path, (n, path.size)), 0.0, rng)
    return draws, fluctuation_conditional_mean(s, tau, times_h, t_rated, path, 0.0)[0]


def validate(n_patients: int = 20, *, seed: int = 0, plan_samples: int = 100, with_plans: bool = True,
             target: str = "score<=15", n_samples: int = 400, n_proposals: int = 2500,
             forecast_fluctuation: bool = True) -> dict:
    """Simulation-based validation: fit 2 weeks of noisy ratings of synthetic patients, forecast weeks 3-6.

    Returns coverage of the 90 % (and 50 %) prediction intervals of the true future ratings, the individual vs
    population forecast errors, the 90 % parameter-interval coverage, timings, and (``with_plans``) the top
    plan's stated probability against its realised success in the true patient.

    The true patients' ratings carry their own fluctuation of true severity (:func:`synthetic_record`), continued
    into the forecast window; forecast errors are against the truth's expected severity there (its model score
    plus the expected fluctuation given its own past). ``forecast_fluctuation=False`` fits and forecasts as if
    there were no fluctuation (a diagnostic: what ignoring it costs).
    """
    recs, truths, models = synthetic_record(n_patients, seed=seed)
    if not forecast_fluctuation:
        for pm in models:
            pm.fluctuation = (0.0, pm.fluctuation[1])
    rng = np.random.default_rng(_sub_seed(seed, 1))
    rng_truth = np.random.default_rng([seed, FLUCTUATION_STREAM])
    cov90, cov50, err_ind, err_pop, par_cover, fit_s, fc_s, plan_s, stated, realised = [], [], [], [], [], [], [], [], [], []
    err_anch, pit, bias_ind, bias_plan, realised_p, sampling = [], [], [], [], [], []
    rng_exp = np.random.default_rng(_sub_seed(seed, 5))
    rng_pit = np.random.default_rng(_sub_seed(seed, 3))
    for i, (rec, theta, pm) in enumerate(zip(recs, truths, models)):
        t0 = time.perf_counter()
        fit = fit_patient(pm, seed=_sub_seed(seed, i), n_samples=n_samples, n_proposals=n_proposals)
        fit_s.append(time.perf_counter() - t0)
        sampling.append(fit.sampling)
        t0 = time.perf_counter()
        fc = forecast(fit, grid=False, seed=_sub_seed(seed, 100 + i))
        fc_s.append(time.perf_counter() - t0)
        prior = pm.prior_mean + pm.prior_sd * rng.standard_normal((n_samples, pm.dim))
        pfc = forecast(fit, grid=False, samples=prior, seed=_sub_seed(seed, 200 + i))
        # the population forecast anchored on the observed baseline rating (how much of the gain is the baseline?)
        anchored = prior.copy()
        if "baseline" in pm.names and rec.baseline_guess() is not None:
            anchored[:, pm.names.index("baseline")] = rec.baseline_guess()
        afc = forecast(fit, grid=False, samples=anchored, seed=_sub_seed(seed, 250 + i))
        pts = fc.points_h
        _, true_score, _, _ = pm.run(theta, rec.doses, pts, eta_recurrence=pm.true_eta_recurrence)
        x_true, x_mean = _true_fluctuation(pm, pts, rng_truth)
        true_rating = np.clip(np.rint(true_score[0] + x_true[0] + rng.normal(0, pm.rating_sd, pts.size)), 0, pm.smax)
        true_score = true_score + x_mean          # the truth's expected severity given its own past
        k = np.searchsorted(fc.times_h, pts)
        q = fc.quantiles["score"][:, k]
        cov90.extend((true_rating >= q[0]) & (true_rating <= q[4]))
        cov50.extend((true_rating >= q[1]) & (true_rating <= q[3]))
        err_ind.extend(np.abs(q[2] - true_score[0]))
        bias_ind.extend(q[2] - true_score[0])          # signed: > 0 = the forecast is more pessimistic than the truth
        err_pop.extend(np.abs(pfc.quantiles["score"][2, k] - true_score[0]))
        err_anch.extend(np.abs(afc.quantiles["score"][2, k] - true_score[0]))
        lo, hi = fit.posterior_quantiles([0.05, 0.95])         # the intervals the fit reports
        par_cover.append((theta >= lo) & (theta <= hi))
        # randomised PIT of the integer rating (Czado, Gneiting & Held 2009): uniform for a calibrated forecast,
        # so the coverage of its central 90 % / 50 % is free of the ties that integer ratings give the quantiles
        sims = fc.ratings[:, k]
        below, at = np.mean(sims < true_rating, axis=0), np.mean(sims <= true_rating, axis=0)
        pit.extend(below + rng_pit.random(pts.size) * (at - below))
        if with_plans:
            t0 = time.perf_counter()
            tg = parse_target(target, rec.scale)
            res = plan(fit, target=tg, limits=Limits(drugs=("racemic-ketamine",), routes=("iv-infusion",)),
                       n_samples=plan_samples, seed=_sub_seed(seed, 300 + i), top=1)
            plan_s.append(time.perf_counter() - t0)
            if res["plans"]:
                top = res["plans"][0]
                doses = tuple(rec.past_doses) + tuple(
                    a for j, line in enumerate(top["regimen"])
                    for a in _expand(Dose.from_mapping(line, f"plan[{j}]")))
                visits = np.array(res["target"]["visits_h"])
                _, s, _, _ = pm.run(theta, doses, visits, eta_recurrence=pm.true_eta_recurrence)
                x_true, x_mean = _true_fluctuation(pm, visits, rng_truth, 201)
                r = np.clip(np.rint(s[0] + x_true[0] + rng.normal(0, pm.rating_sd, visits.size)), 0, pm.smax)
                stated.append(top["p_target"])
                # the true patient's success probability over its fluctuation's future and the rater's noise (no
                # Bernoulli noise of one rating series): what a calibrated stated probability should match on average
                reps = np.clip(np.rint(s[0] + x_true[1:] + rng_exp.normal(0, pm.rating_sd, (200, visits.size))),
                               0, pm.smax)
                realised_p.append(float(np.mean(np.all(reps <= tg.threshold, axis=1))))
                # the planned regimen's forecast median at the target visits vs the true score there (signed)
                fc_plan = forecast(fit, regimen=top["regimen"], times_h=visits, grid=False,
                                   seed=_sub_seed(seed, 400 + i))
                kk = np.searchsorted(fc_plan.times_h, visits)
                bias_plan.extend(fc_plan.quantiles["score"][2, kk] - (s[0] + x_mean))
                realised.append(bool(np.all(r <= tg.threshold)))
    par_cover = np.array(par_cover)
    pit = np.asarray(pit)
    out = {
        "patients": n_patients, "forecast_points": len(cov90),
        "pi90_coverage": float(np.mean(cov90)), "pi50_coverage": float(np.mean(cov50)),
        "pit_coverage90": float(np.mean((pit >= 0.05) & (pit <= 0.95))),
        "pit_coverage50": float(np.mean((pit >= 0.25) & (pit <= 0.75))),
        "mae_individual": float(np.mean(err_ind)), "mae_population": float(np.mean(err_pop)),
        "mae_population_baseline_anchored": float(np.mean(err_anch)),
        "bias_individual": float(np.mean(bias_ind)),
        "parameter_coverage90": {nm: float(par_cover[:, j].mean()) for j, nm in enumerate(models[0].names)},
        "parameter_coverage90_mean": float(par_cover.mean()),
        "fit_seconds_median": float(np.median(fit_s)), "forecast_seconds_median": float(np.median(fc_s)),
        "observations_per_patient": len(recs[0].observations),
        # importance sampling over the patients: ESS of the first round and after any refinement, refined share,
        # and how many stay poor (ESS below target or Pareto k above 0.7)
        "sampling": {"ess_initial_median": float(np.median([s["effective_sample_size_initial"] for s in sampling])),
                     "ess_median": float(np.median([s["effective_sample_size"] for s in sampling])),
                     "ess_min": float(min(s["effective_sample_size"] for s in sampling)),
                     "pareto_k_max": float(max(s["pareto_k"] for s in sampling)),
                     "refined": sum(1 for s in sampling if s["rounds"]),
                     "poor_initial": sum(1 for s in sampling if not _sampling_good(
                         s["effective_sample_size_initial"], s["pareto_k_initial"], s["ess_target"])),
                     "poor": sum(1 for s in sampling if s["status"] == "poor")},
    }
    if with_plans:
        st, re_ = np.array(stated), np.array(realised, float)
        out |= {"plan_seconds_median": float(np.median(plan_s)) if plan_s else None,
                "top_plan_stated_mean": float(st.mean()) if st.size else None,
                "top_plan_realised_rate": float(re_.mean()) if re_.size else None,
                # the same over its fluctuation's future and the rater's noise (200 series per true patient): less
                # noisy than one series
                "top_plan_realised_probability": float(np.mean(realised_p)) if realised_p else None,
                "top_plan_brier": float(np.mean((st - re_) ** 2)) if st.size else None,
                # signed forecast error of the top plan's median at its target visits (> 0: pessimistic)
                "top_plan_forecast_bias": float(np.mean(bias_plan)) if bias_plan else None,
                # realised minus stated successes in SDs of their sum under the stated probabilities (Bernoulli)
                "top_plan_z": float((re_.sum() - st.sum()) / math.sqrt(max(np.sum(st * (1 - st)), 1e-9)))
                if st.size else None,
                "top_plans": int(st.size), "plan_target": target,
                "plan_calibration": [
                    {"stated_from": lo, "stated_to": hi, "patients": int(m.sum()),
                     "stated_mean": float(st[m].mean()) if m.any() else None,
                     "realised_rate": float(re_[m].mean()) if m.any() else None}
                    for lo, hi in ((0.0, 0.2), (0.2, 0.5), (0.5, 0.8), (0.8, 1.01))
                    for m in [(st >= lo) & (st < hi)]]}
    return out


def _expand(d: Dose) -> list[Dose]:
    return [dataclasses.replace(d, at_h=a.start_h, every_h=0.0, count=1) for a in d.administrations()]


__all__ = ["PatientModel", "PatientFit", "fit_patient", "forecast", "Forecast", "plan", "Limits", "Target",
           "parse_limits", "parse_target", "personal_plan", "candidate_regimens", "synthetic_record",
           "validate", "NOTICE"]
