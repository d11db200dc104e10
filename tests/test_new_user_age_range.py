"""Age inclusion range, as a new user types it: a reversed range says which bound is which (it said '--age-range:
must be below max (90 is not below 65)'), and the quick form takes the en dash papers print ('65\u201386')."""

from __future__ import annotations

import pytest

from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.scenario import quick_scenario, scenario_from_dict

QUICK = ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "28mg", "--size", "5"]


def test_reversed_range_names_the_bounds(capsys):
    with pytest.raises(InputError, match=r"^population\.age_years\.min: the youngest age included must be below the "
                                         r"oldest \(86 is not below 65 years\)"):
        scenario_from_dict({"name": "a", "population": {"age_years": {"mean": 70, "sd": 5, "min": 86, "max": 65}},
                            "arms": {"k": [{"drug": "esketamine", "route": "intranasal", "dose": "28 mg"}]}})
    code = main(QUICK + ["--age-range", "90-65"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: --age-range: the youngest age included")


@pytest.mark.parametrize("text", ["65\u201386", "65 \u2014 86", "65-86"])
def test_quick_form_takes_the_en_dash(text):
    age = quick_scenario("esketamine", "intranasal", "28 mg", size=5, age_range=text).population.age_years
    assert (age.min, age.max) == (65.0, 86.0)
