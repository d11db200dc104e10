"""One stated patient: covariates you know, and the typical (zero) random effects for everything else.

``Patient(weight_kg=70, age_years=30, sex="male", baseline=30)`` in Python, or a ``patient:`` section in a
scenario (instead of ``population:``) with the same keys, simulates exactly that patient: the covariates as
given and every between-patient random effect at 0 (the population's typical values). A ``population:`` of
size 1 is different: it is one *random* draw from the population (random effects sampled with the seed).

The typical patient of a population (``simulate(..., typical=True)``, ``ketasim simulate --typical``) has the
population's mean covariates, BDNF Val/Val unless the genotype is fixed, the population median CRP unless it is
fixed, and the majority sex: female when ``female_fraction >= 0.5`` (a 50/50 population gives a female
typical patient; sex enters the model through ketamine's clearance only, x``pk.female_clearance_factor`` in
women, and labels subgroups).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .errors import InputError

SEXES = ("female", "male")
#: How a sex may be written (compared without case or surrounding spaces): as clinicians and NONMEM records write it.
SEX_SPELLINGS = {"female": "female", "f": "female", "male": "male", "m": "male"}


def parse_sex(value, field: str = "patient.sex") -> str:
    """'female' or 'male' from 'female', 'Female', 'F', 'f', 'male', 'M' ...; one InputError line naming ``field``
    for anything else."""
    sex = SEX_SPELLINGS.get(str(value).strip().lower()) if isinstance(value, str) else None
    if sex is None:
        raise InputError(f"{field}: use female or male (or F / M), got {value!r}")
    return sex


@dataclasses.dataclass(frozen=True)
class Patient:
    """One patient. Units: weight kg, age years, baseline points on ``scale``, CRP mg/L.

    ``baseline`` defaults to the scale's usual trial baseline (MADRS 33); ``crp_mg_l`` to the population
    median (``pop.crp_median``); ``scale`` to the condition's default scale; ``condition`` to the one the
    scale reads, else depression (a scale that cannot rate the stated condition is refused).
    """

    weight_kg: float = 80.0
    age_years: float = 45.0
    sex: str = "female"
    baseline: float | None = None
    condition: str | None = None         # default: the condition the scale reads (as a population), else depression
    scale: str | None = None
    treatment_resistant: bool | None = None   # default: true for depression, false for the other conditions
    crp_mg_l: float | None = None
    genotype: str = "val/val"
    comedications: tuple[str, ...] = ()
    care_setting: str = "outpatient"     # outpatient | inpatient | perioperative (non-specific care component)
    recurrence: bool = True              # a new episode can break through continued treatment (population.recurrence)
    re_response: bool = False            # a hypothesis, off by default: a new episode is relieved again in part by
                                         # active sessions after its onset (population.re_response)

    def __post_init__(self):
        object.__setattr__(self, "sex", parse_sex(self.sex, "patient.sex"))
        from .population import canonical_condition

        object.__setattr__(self, "condition", canonical_condition(self.condition))     # 'PTSD' -> ptsd
        if self.condition is None:      # a scale names the condition it reads (caps5: PTSD), as in a population
            from .population import SCALES, canonical_scale

            object.__setattr__(self, "condition", SCALES[canonical_scale(self.scale, "patient.scale")][2]
                               if isinstance(self.scale, str) and self.scale.strip() else "depression")
        if self.treatment_resistant is None:
            from .population import default_treatment_resistant

            object.__setattr__(self, "treatment_resistant", default_treatment_resistant(self.condition))
        if isinstance(self.comedications, str):
            object.__setattr__(self, "comedications", (self.comedications,))
        else:
            object.__setattr__(self, "comedications", tuple(self.comedications))
        self.population_spec()          # validates every field (one line naming it)

    def population_mapping(self) -> dict[str, Any]:
        """The equivalent ``population:`` mapping (size 1, every SD 0, female_fraction 1 or 0)."""
        pop: dict[str, Any] = {
            "size": 1, "condition": self.condition, "treatment_resistant": bool(self.treatment_resistant),
            "weight_kg": {"mean": float(self.weight_kg), "sd": 0.0},
            "age_years": {"mean": float(self.age_years), "sd": 0.0},
            "female_fraction": 1.0 if self.sex == "female" else 0.0,
            "genotype": self.genotype, "comedications": list(self.comedications),
        }
        if self.care_setting != "outpatient":
            pop["care_setting"] = self.care_setting
        if self.recurrence is not True:      # stated only when off (as the quick form), validated by the population
            pop["recurrence"] = self.recurrence
        if self.re_response is not False:    # stated only when on (off by default), validated by the population
            pop["re_response"] = self.re_response
        if self.scale is not None:
            pop["scale"] = self.scale
        if self.baseline is not None:
            pop["baseline"] = {"mean": float(self.baseline), "sd": 0.0}
        if self.crp_mg_l is not None:
            pop["crp_mg_l"] = float(self.crp_mg_l)
        return pop

    def population_spec(self):
        """The validated :class:`ketasim.population.PopulationSpec` of this patient (size 1, every SD 0)."""
        import math

        from .population import CONDITIONS, DEFAULT_SCALE, Distribution, PopulationSpec

        for name in ("weight_kg", "age_years", "baseline", "crp_mg_l"):
            v = getattr(self, name)
            if v is None and name in ("baseline", "crp_mg_l"):
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(f"patient.{name}: expected a finite number, got {v!r}")
        if self.condition not in CONDITIONS:
            from .population import unknown_condition

            raise InputError(unknown_condition("patient.condition", self.condition))
        from .population import (AGE_MEAN_RANGE, SCALES, WEIGHT_MEAN_RANGE, canonical_scale, check_scale_reads,
                                 default_baseline)

        scale = canonical_scale(self.scale, "patient.scale") if self.scale else DEFAULT_SCALE[self.condition]
        check_scale_reads(scale, self.condition, "patient")
        base = float(self.baseline) if self.baseline is not None else default_baseline(scale, "patient.baseline")[0]
        # one patient has a value, not a mean and an SD: checked against the population's ranges for a mean
        for name, value, (lo, hi), unit in (("weight_kg", self.weight_kg, WEIGHT_MEAN_RANGE, " kg"),
                                            ("age_years", self.age_years, AGE_MEAN_RANGE, " years")):
            if not lo <= value <= hi:
                raise InputError(f"patient.{name}: must lie in {lo:g}-{hi:g}{unit}, got {value:g}")
        smax = SCALES[scale][0]
        if not 0 < base <= smax:
            raise InputError(f"patient.baseline: must lie in (0, {smax:g}] points on {scale}, got {base:g}")
        try:
            return PopulationSpec(size=1, condition=self.condition, treatment_resistant=bool(self.treatment_resistant),
                                  scale=scale, baseline=Distribution(base, 0.0),
                                  weight_kg=Distribution(float(self.weight_kg), 0.0),
                                  age_years=Distribution(float(self.age_years), 0.0),
                                  female_fraction=1.0 if self.sex == "female" else 0.0,
                                  comedications=tuple(self.comedications), genotype=self.genotype,
                                  crp_mg_l=None if self.crp_mg_l is None else float(self.crp_mg_l),
                                  care_setting=self.care_setting, recurrence=self.recurrence,
                                  re_response=self.re_response)
        except InputError as e:    # same checks as a population; name the patient's field
            raise InputError(str(e).replace("population.", "patient.", 1)) from None


__all__ = ["Patient", "SEXES", "parse_sex"]
