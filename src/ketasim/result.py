"""Results: tidy, labelled tables with units and provenance.

``SimulationResult.trajectories()`` has one row per arm x subject x output time (columns with units in
their names, DESIGN.md contract). ``sessions()`` has one row per arm x subject x session (peaks of the side
effects and the time until discharge criteria are met). ``provenance`` travels with every file written.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .solver import kernel as K

NOTICE = "ketasim is a research and teaching tool, not medical advice."

#: cp_* are venous plasma concentrations (what studies sample); ca_* arterial (what drives the effect site)
UNITS = {
    "time_h": "h", "cp_s_ketamine_ng_ml": "ng/mL", "cp_r_ketamine_ng_ml": "ng/mL", "cp_ketamine_ng_ml": "ng/mL",
    "cp_norketamine_ng_ml": "ng/mL", "cp_hnk_ng_ml": "ng/mL", "cp_midazolam_ng_ml": "ng/mL",
    "ce_ketamine_ng_ml": "ng/mL (effect site, plasma-equivalent total)",
    "nmda_block_interneuron": "fraction", "nmda_block_pyramidal": "fraction",
    "glutamate": "relative to drug-free baseline", "ampa": "relative to baseline", "bdnf": "relative to baseline",
    "trkb": "relative to baseline", "mtorc1": "relative to baseline", "synaptic_proteins": "relative to baseline",
    "spine_density": "relative to pre-treatment (stressed) baseline", "il6": "relative to baseline",
    "expectancy": "arbitrary units (0 = none)", "antidepressant_onset": "fraction of full onset",
    "severity": "fraction of baseline score", "score": "points on the population's scale", "cadss": "CADSS points",
    "sbp_change_mmhg": "mmHg", "dbp_change_mmhg": "mmHg", "hr_change_bpm": "beats/min", "sedation": "index 0-1",
    "nausea_probability": "probability", "anesthesia": "flag (venous plasma ketamine >= 5 µM)",
    "ca_s_ketamine_ng_ml": "ng/mL (arterial)", "ca_r_ketamine_ng_ml": "ng/mL (arterial)",
    "ca_ketamine_ng_ml": "ng/mL (arterial)",
}


def ketasim_version() -> str:
    from . import __version__

    return __version__


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    scenario: object
    params: object
    seed: int
    runs: tuple
    typical: bool = False

    @property
    def provenance(self) -> dict:
        return {"scenario": self.scenario.name, "ketasim_version": ketasim_version(),
                "parameter_set": self.params.version, "calibration_run": self.params.calibration_run,
                "seed": int(self.seed), "typical_patient": self.typical,
                "scale": self.scenario.population.scale, "notice": NOTICE}

    def arm_names(self) -> list[str]:
        return [r.arm.name for r in self.runs]

    def run(self, arm: str):
        for r in self.runs:
            if r.arm.name == arm:
                return r
        raise KeyError(arm)

    def trajectories(self, arms=None) -> pd.DataFrame:
        frames = []
        for r in self.runs:
            if arms is not None and r.arm.name not in arms:
                continue
            n, t = r.out.shape[0], r.output_times_h.size
            data = {"arm": np.repeat(np.array([r.arm.name], dtype=object), n * t),
                    "subject": np.repeat(np.arange(n), t), "time_h": np.tile(r.output_times_h, n)}
            flat = r.out.reshape(n * t, K.N_OUT)
            for j, name in enumerate(K.OUT_NAMES):
                data[name] = flat[:, j]
            data["score"] = flat[:, K.OUT_NAMES.index("severity")] * np.repeat(r.patients.baseline, t)
            frames.append(pd.DataFrame(data))
        df = pd.concat(frames, ignore_index=True)
        df.attrs["units"] = UNITS
        df.attrs["provenance"] = self.provenance
        return df

    def sessions(self) -> pd.DataFrame:
        frames = []
        for r in self.runs:
            n, s = r.sessions.shape[:2]
            if r.session_times_h.size == 0:
                continue
            s = min(s, r.session_times_h.size)
            data = {"arm": np.repeat(np.array([r.arm.name], dtype=object), n * s), "subject": np.repeat(np.arange(n), s),
                    "session": np.tile(np.arange(s), n), "start_h": np.tile(r.session_times_h[:s], n)}
            flat = r.sessions[:, :s].reshape(n * s, K.N_SUM)
            for j, name in enumerate(K.SUM_NAMES):
                data[name] = flat[:, j]
            frames.append(pd.DataFrame(data))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def patients(self) -> pd.DataFrame:
        frames = []
        for r in self.runs:
            p = r.patients
            frames.append(pd.DataFrame({"arm": r.arm.name, "subject": np.arange(p.n), "weight_kg": p.weight_kg,
                                        "age_years": p.age_years, "female": p.female,
                                        "bdnf_genotype_factor": p.genotype_factor, "crp_mg_l": p.crp_mg_l,
                                        "baseline_score": p.baseline}))
        return pd.concat(frames, ignore_index=True)

    # -- files ------------------------------------------------------------------------------------------
    def to_csv(self, path) -> Path:
        """Write trajectories as CSV; provenance and units go to ``<path>.provenance.json`` beside it."""
        path = Path(path)
        self.trajectories().to_csv(path, index=False, float_format="%.6g")
        meta = {**self.provenance, "units": UNITS}
        Path(str(path) + ".provenance.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return path

    def to_parquet(self, path) -> Path:
        """Write trajectories as Parquet with provenance and units in the file's metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        table = pa.Table.from_pandas(self.trajectories(), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"ketasim"] = json.dumps({**self.provenance, "units": UNITS}).encode()
        pq.write_table(table.replace_schema_metadata(meta), path)
        return path
