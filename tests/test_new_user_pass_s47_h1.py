"""Session 47 new-user pass, helper H1 (IV, intranasal, suicidal ideation, older patients, anxiety, PTSD,
maintenance, PK by route with interactions, external qualification)."""

from __future__ import annotations

import pytest

from ketasim.errors import InputError


def _scenario(population: dict, arms: dict | None = None) -> dict:
    return {"name": "s47-h1", "population": population,
            "arms": arms or {"a": [{"drug": "ketamine", "route": "oral", "dose": "0.5 mg/kg"}]}}


def test_one_comedication_named_twice_in_the_population_names_the_population():
    # 'population: {comedications: [rifampicin, rifampin]}' said "arms.a.comedications (with
    # population.comedications): rifampicin is given more than once", naming an arm that has no comedications
    from ketasim.scenario import scenario_from_dict

    with pytest.raises(InputError, match=r"^population\.comedications: rifampicin is given more than once"):
        scenario_from_dict(_scenario({"comedications": ["rifampicin", "rifampin"]}))
