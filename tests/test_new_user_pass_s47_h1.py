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


def _withdrawal(induction_until: str) -> dict:
    line = {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "duration": "40 min"}
    return {"name": "s47-h1-withdrawal", "population": {"size": 20},
            "design": {"type": "randomized_withdrawal", "induction_until": induction_until, "criterion": "response",
                       "continue": "ketamine", "withdraw": "saline"},
            "arms": {"ketamine": [{**line, "every": "3.5 d", "count": 6},
                                  {**line, "at": "3 week", "every": "7 d", "count": 4}],
                     "saline": [{**line, "every": "3.5 d", "count": 6},
                                {"drug": "saline", "route": "iv", "duration": "40 min", "at": "3 week",
                                 "every": "7 d", "count": 4}]},
            "endpoints": {"times": ["3 week", "7 week"], "measures": ["relapse_rate"]}}


@pytest.mark.parametrize("when", ["-1 week", "0 week", "0 h"])
def test_a_withdrawal_randomized_at_or_before_the_start_is_refused_naming_induction_until(when):
    # '-1 week' was refused as "population.blinded_from_h: must lie in [0, 1e6] h, got -168.0" (no such field in a
    # file); '0 week' ran and randomized nobody (every row 'n/a (no patients in this arm)')
    from ketasim.scenario import scenario_from_dict

    with pytest.raises(InputError, match=r"^design\.induction_until: must be after the start \(> 0 h\)"):
        scenario_from_dict(_withdrawal(when))
    scenario_from_dict(_withdrawal("3 week"))          # the ordinary design still reads


def test_every_key_of_a_pk_endpoint_row_is_named_in_the_contract():
    # the trial JSON's (and `simulate --pk-json`'s) PK endpoint rows carry `dose_time_h`, which neither
    # docs/contracts.md nor docs/howto/pk-endpoints.md named
    import re

    import pandas as pd
    from _support import REPO

    from ketasim.nca import COLUMNS, summary_rows

    df = pd.DataFrame({"arm": "a", "subject": [0, 1, 2], "analyte": "s-ketamine", "sample": "venous",
                       "dose": "last", "dose_time_h": 144.0,
                       **{col: [1.0, 2.0, 3.0] for col in COLUMNS.values()}})
    rows = summary_rows(df)
    assert rows and rows[0]["dose_time_h"] == 144.0
    keys = set().union(*rows) - {"arm", "time_h", "scale", "measure", "value", "ci95"}
    for doc in ("docs/contracts.md", "docs/howto/pk-endpoints.md"):
        text = (REPO / doc).read_text(encoding="utf-8")
        i = text.index("`cmax`, `tmax`, `auc_0_t`, `auc_0_inf`, `t_half`)")     # the PK row's description
        named = set(re.findall(r"`(\w+)`", text[i:i + 800]))
        assert keys <= named, (doc, sorted(keys - named))
