"""Results: tidy, labelled tables with units and provenance.

``SimulationResult.trajectories()`` has one row per arm x subject x output time (columns with units in
their names; docs/contracts.md). ``sessions()`` has one row per arm x subject x session (peaks of the side
effects and the time until discharge criteria are met). ``provenance`` travels with every file written.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .model import DEFAULT_MODEL
from .population import switch_provenance

from .vocabulary import NOTICE  # noqa: E402,F401  (re-exported)

#: Units of every trajectory column, from the model definition (``ketasim.model.definition.OUTPUTS``).
UNITS = DEFAULT_MODEL.units()


def patient_units(scale: str) -> dict:
    """Units of the per-patient covariate table (:meth:`SimulationResult.patients`, ``simulate --patients-csv``)."""
    from .population import scale_name

    points = f"{scale_name(scale)} points"
    return {"weight_kg": "kg", "age_years": "years", "female": "true for a female patient",
            "bdnf_genotype_factor": "dimensionless (1 = Val/Val; BDNF release relative to it)", "crp_mg_l": "mg/L",
            "baseline_score": f"{points}: true severity at entry (the model's score is scaled by it)",
            "baseline_rating": f"{points}: the rated baseline (with the rater's noise when the population has it)"}


def patients_table(run, start: int = 0) -> pd.DataFrame:
    """One arm run's covariate table (subjects numbered from ``start``): the rows of
    :meth:`SimulationResult.patients`, also written chunk by chunk by a streamed run (``ketasim.scale``)."""
    p = run.patients
    return pd.DataFrame({"arm": np.repeat(np.array([run.arm.name], dtype=object), p.n),
                         "subject": np.arange(start, start + p.n), "weight_kg": p.weight_kg,
                         "age_years": p.age_years, "female": p.female, "bdnf_genotype_factor": p.genotype_factor,
                         "crp_mg_l": p.crp_mg_l, "baseline_score": p.baseline, "baseline_rating": p.baseline_rating})


def _csv_with_provenance(path, table, meta: dict) -> Path:
    """Write ``table()`` (a DataFrame) as CSV and ``meta`` as ``<path>.provenance.json`` beside it: both files
    complete or neither replaced (the CSV is renamed last)."""
    from .io import as_path, atomic_paths

    path = as_path(path)
    with atomic_paths(path, str(path) + ".provenance.json") as (tmp_csv, tmp_meta):
        table().to_csv(tmp_csv, index=False, float_format="%.6g")
        tmp_meta.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return path


def ketasim_version() -> str:
    from . import __version__

    return __version__


def scenario_definition(source):
    """The scenario's source mapping as strict JSON (None when it was built without one)."""
    if source is None:
        return None
    from .units import json_safe

    return json.loads(json.dumps(json_safe(source), default=str))


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    scenario: object
    params: object
    seed: int
    runs: tuple
    typical: bool = False
    #: the virtual experiment the runs used (``simulate(experiment=...)``, ``--experiment``); None: the scenario's
    experiment: object = None
    #: patients per arm (a streamed run's head has no runs to count them from); None: counted from the runs
    n_patients: int | None = None

    @property
    def patients_per_arm(self) -> int | None:
        """Patients simulated per arm (1 for a typical-patient run); None for a result without runs or a size."""
        if self.n_patients is not None:
            return int(self.n_patients)
        return int(self.runs[0].patients.n) if self.runs else None

    @property
    def provenance(self) -> dict:
        """Where the result comes from, as every file written carries it: scenario name, ketasim version, parameter
        set and calibration run, seed, ``typical_patient``, ``patients_per_arm``, model id, scale, the virtual
        experiment's changed switches, the scenario as read (``definition``), every hypothesis switch, the notice."""
        exp = self.experiment if self.experiment is not None else getattr(self.scenario, "experiment", None)
        return {"scenario": self.scenario.name, "ketasim_version": ketasim_version(),
                "parameter_set": self.params.version, "calibration_run": self.params.calibration_run,
                "seed": int(self.seed), "typical_patient": self.typical,
                # a --size (simulate(n=...)) override differs from definition.population.size: say what ran
                "patients_per_arm": self.patients_per_arm, "model": self.model_id,
                "scale": self.scenario.population.scale,
                # the virtual experiment's switches not at their default ({}: the intact mechanism): a file of
                # '--experiment mtor_block=1' did not say that mTORC1 was blocked
                "experiments": exp.changed() if exp is not None else {},
                # what was simulated: the scenario as read (its YAML mapping; for the quick form the mapping built from
                # the options): a quick-form file said only 'scenario: quick', whatever the drug, dose or comedication
                "definition": scenario_definition(getattr(self.scenario, "source", None)),
                # the recurrence model and every hypothesis switch (population.<name>; population.SWITCH_PROVENANCE)
                **switch_provenance(self.scenario.population),
                "notice": NOTICE}

    @property
    def model_id(self) -> str:
        """Name and digest of the model definition the runs used (``ketasim.model``)."""
        from .model import model_id

        return model_id(self.runs[0].definition if self.runs else None)

    @property
    def units(self) -> dict:
        """Units of the trajectory columns (from the model definition the runs used)."""
        return self.runs[0].definition.units() if self.runs else UNITS

    @property
    def session_units(self) -> dict:
        """Units of the :meth:`sessions` columns (``start_h`` and the summaries of the model definition the runs
        used: 'CADSS points', 'mmHg', 'beats/min', 'index 0-1', 'probability', 'h')."""
        model = self.runs[0].definition if self.runs else DEFAULT_MODEL
        return {"start_h": "h", **model.summary_units()}

    def arm_names(self) -> list[str]:
        """The arms' names, in the scenario's order."""
        return [r.arm.name for r in self.runs]

    # -- short displays (terminal and Jupyter); the default dataclass repr printed every array (~100 KB) ----
    def _summary(self) -> dict:
        times = [r.output_times_h for r in self.runs if r.output_times_h.size]
        lo = min((float(t[0]) for t in times), default=float("nan"))
        hi = max((float(t[-1]) for t in times), default=float("nan"))
        return {"name": self.scenario.name, "arms": [(r.arm.name, int(r.out.shape[0])) for r in self.runs],
                "n_times": max((t.size for t in times), default=0), "t_range_h": (lo, hi),
                "columns": self._columns(), "typical": self.typical,
                "scale": self.scenario.population.scale, "seed": int(self.seed), "parameter_set": self.params.version}

    def _columns(self) -> list[str]:
        """Trajectory column names, without building the table."""
        d = getattr(self.runs[0], "definition", None) if self.runs else None
        if d is not None and hasattr(d, "output_names"):       # a declared model names its own outputs
            names = list(d.output_names)
        else:
            from .solver import kernel

            names = list(kernel.OUT_NAMES)
        return ["arm", "subject", "time_h", *names, *([] if "score" in names else ["score"])]

    def __repr__(self) -> str:
        s = self._summary()
        arms = ", ".join(f"{a} (n={n})" for a, n in s["arms"])
        cols = s["columns"]
        return (f"<SimulationResult {s['name']!r}: {len(s['arms'])} arm(s): {arms}{'; typical patient' if s['typical'] else ''}; "
                f"{s['n_times']} output times {s['t_range_h'][0]:g}-{s['t_range_h'][1]:g} h; "
                f"{len(cols)} columns ({', '.join(cols[:4])}, ..., {'score, ' if 'score' in cols[4:-1] else ''}{cols[-1]}); "
                f"scale {s['scale']}; seed {s['seed']}; "
                f"parameter set {s['parameter_set']}>")

    def _repr_html_(self) -> str:
        import html

        s = self._summary()
        e = html.escape
        arms = "".join(f"<tr><td>{e(a)}</td><td>{n}</td></tr>" for a, n in s["arms"])
        return (f"<div><b>SimulationResult</b> {e(s['name'])}{' (typical patient)' if s['typical'] else ''}"
                f"<table><tr><th>arm</th><th>patients</th></tr>{arms}</table>"
                f"<p>{s['n_times']} output times, {s['t_range_h'][0]:g}-{s['t_range_h'][1]:g} h; scale {e(s['scale'])}; "
                f"seed {s['seed']}; parameter set {e(s['parameter_set'])}</p>"
                f"<p><code>trajectories()</code> columns: {e(', '.join(s['columns']))}</p>"
                f"<p><small>{e(NOTICE)}</small></p></div>")

    def run(self, arm: str):
        """The raw run of one arm (its patients, output times and arrays); KeyError for an unknown arm."""
        for r in self.runs:
            if r.arm.name == arm:
                return r
        raise KeyError(arm)

    def trajectories(self, arms=None) -> pd.DataFrame:
        """One row per arm x subject x output time: ``arm``, ``subject`` (0-based within the arm, the row of
        :meth:`patients`), ``time_h`` (hours on the scenario's clock, 0 = its start), then every model output
        (units in the name or in ``df.attrs["units"]``, as :attr:`units`; the score in points on the population's
        scale). ``df.attrs["provenance"]`` is :attr:`provenance`. ``arms``: only these arms (default all)."""
        frames = []
        for r in self.runs:
            if arms is not None and r.arm.name not in arms:
                continue
            n, t = r.out.shape[0], r.output_times_h.size
            data = {"arm": np.repeat(np.array([r.arm.name], dtype=object), n * t),
                    "subject": np.repeat(np.arange(n), t), "time_h": np.tile(r.output_times_h, n)}
            names = r.definition.output_names
            flat = r.out.reshape(n * t, len(names))
            for j, name in enumerate(names):
                data[name] = flat[:, j]
            frames.append(pd.DataFrame(data))
        df = pd.concat(frames, ignore_index=True)
        df.attrs["units"] = self.units
        df.attrs["provenance"] = self.provenance
        return df

    def sessions(self) -> pd.DataFrame:
        """One row per arm x subject x session (a session: ketamine doses given together): ``arm``, ``subject``,
        ``session`` (0-based), ``start_h``, then the session's peaks on the solver's own steps within its monitoring
        window: ``cadss_peak`` (CADSS points), ``sbp_change_peak``, ``dbp_change_peak`` (mmHg), ``hr_change_peak``
        (beats/min), ``sedation_peak`` (index 0-1), ``nausea_probability``, and ``discharge_ready_h`` (hours after the
        session's start until the discharge criteria are met). Empty without sessions. As :meth:`trajectories`:
        ``df.attrs["units"]`` is :attr:`session_units` (the names carried none), ``df.attrs["provenance"]`` is
        :attr:`provenance`."""
        frames = []
        for r in self.runs:
            n, s = r.sessions.shape[:2]
            if r.session_times_h.size == 0:
                continue
            s = min(s, r.session_times_h.size)
            data = {"arm": np.repeat(np.array([r.arm.name], dtype=object), n * s), "subject": np.repeat(np.arange(n), s),
                    "session": np.tile(np.arange(s), n), "start_h": np.tile(r.session_times_h[:s], n)}
            names = r.definition.summary_names
            flat = r.sessions[:, :s].reshape(n * s, len(names))
            for j, name in enumerate(names):
                data[name] = flat[:, j]
            frames.append(pd.DataFrame(data))
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        df.attrs["units"] = self.session_units
        df.attrs["provenance"] = self.provenance
        return df

    def dose_paths(self) -> pd.DataFrame:
        """One row per patient x decision session of every arm with a titration rule (``arms.NAME.titration``):
        ``arm, subject, session`` (1-based number of the titrated line's dose), ``start_h``, ``dose`` (the level
        given from that session on, e.g. "84 mg"); the first row of a patient is its start dose (session 1). Empty
        without titrated arms."""
        frames = []
        for r in self.runs:
            tit = getattr(r.arm, "titration", None)
            if tit is None or r.dose_levels is None:
                continue
            n, d = r.dose_levels.shape
            sess = np.array([1, *tit.sessions])
            starts = np.array([r.arm.doses[tit.line].at_h, *tit.session_times_h(r.arm)])
            levels = np.concatenate([np.full((n, 1), tit.start), r.dose_levels.astype(int)], axis=1)
            text = np.array([tit.level_text(k) for k in range(len(tit.levels))], dtype=object)
            frames.append(pd.DataFrame({"arm": r.arm.name, "subject": np.repeat(np.arange(n), d + 1),
                                        "session": np.tile(sess, n), "start_h": np.tile(starts, n),
                                        "dose": text[levels.ravel()]}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["arm", "subject", "session", "start_h", "dose"])

    def patients(self) -> pd.DataFrame:
        """One row per arm x subject, the covariates each patient was simulated with (join on ``arm``, ``subject``
        with :meth:`trajectories` and :meth:`sessions`): ``weight_kg``, ``age_years``, ``female`` (bool),
        ``bdnf_genotype_factor`` (1 for Val/Val), ``crp_mg_l``, ``baseline_score`` (true severity at entry, scale
        points; the model's score is scaled by it) and ``baseline_rating`` (the rated baseline: with the rater's
        noise when the population has it). ``df.attrs["units"]`` is :attr:`patient_units`, ``df.attrs["provenance"]``
        :attr:`provenance`; :meth:`patients_to_csv` (``simulate --patients-csv``) writes it."""
        df = pd.concat([patients_table(r) for r in self.runs], ignore_index=True)
        df.attrs["units"] = self.patient_units
        df.attrs["provenance"] = self.provenance
        return df

    @property
    def patient_units(self) -> dict:
        """Units of the :meth:`patients` columns (the baseline's in points of the population's scale)."""
        return patient_units(self.scenario.population.scale)

    # -- files ------------------------------------------------------------------------------------------
    def file_metadata(self) -> dict:
        """Provenance and units, as the CSV's ``.provenance.json`` sidecar and the Parquet file's metadata carry them."""
        return {**self.provenance, "units": self.units}

    def to_csv(self, path) -> Path:
        """Write trajectories as CSV; provenance and units go to ``<path>.provenance.json`` beside it."""
        return _csv_with_provenance(path, self.trajectories, self.file_metadata())

    def patients_to_csv(self, path) -> Path:
        """Write :meth:`patients` (one row per arm x subject: the covariates each patient was simulated with) as
        CSV; provenance and the columns' units go to ``<path>.provenance.json`` beside it, as :meth:`to_csv`.
        Both files complete or neither replaced."""
        return _csv_with_provenance(path, self.patients, {**self.provenance, "units": self.patient_units})

    def to_parquet(self, path) -> Path:
        """Write trajectories as Parquet with provenance and units in the file's metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .io import as_path

        path = as_path(path)
        table = pa.Table.from_pandas(self.trajectories(), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"ketasim"] = json.dumps(self.file_metadata()).encode()
        from .io import atomic_path

        with atomic_path(path) as tmp:
            pq.write_table(table.replace_schema_metadata(meta), tmp)
        return path
