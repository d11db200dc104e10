"""New-user pass of the thirty-eighth session (helper H4): one regression test per fix."""

from __future__ import annotations

import pytest


def _quick():
    from ketasim import quick_scenario

    return quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", output_every="1 h")


def test_simulate_typical_refuses_a_size_it_would_ignore():
    """`simulate(scenario, n=5, typical=True)` returned one typical patient per arm and dropped n without a word.
    Now it is refused in one line naming both arguments; n=1 (or no n) with typical=True still runs."""
    from ketasim import simulate
    from ketasim.errors import InputError

    sc = _quick()
    with pytest.raises(InputError) as e:
        simulate(sc, n=5, typical=True)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("n: typical=True simulates one typical patient per arm, not 5")
    assert simulate(sc, n=1, typical=True, output_times_h=[0.0, 1.0]).trajectories()["subject"].nunique() == 1


def test_scenario_pk_typical_refuses_a_size_it_would_ignore():
    from ketasim.errors import InputError
    from ketasim.nca import scenario_pk

    with pytest.raises(InputError, match=r"^n: typical=True simulates one typical patient per arm, not 3"):
        scenario_pk(_quick(), n=3, typical=True)


def test_cli_typical_with_size_names_both_options(capsys):
    from ketasim.cli import main

    assert main(["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5mg/kg",
                 "--typical", "--size", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --size: --typical simulates one typical patient per arm, not 5") and "\n" not in err
