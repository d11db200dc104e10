"""Review findings of the thirty-ninth session (H3, /work/coord/s39/H3_review.md), each with a test."""

from pathlib import Path

import pytest

from ketasim.errors import InputError
from ketasim.nca import PKSampling


def test_no_sampling_time_gets_the_same_rule_as_one():
    """R2-3: an empty list said 'at least one sampling time' while one time is refused ('at least 2')."""
    with pytest.raises(InputError, match=r"^pk_sampling.times: an NCA needs at least 2 sampling times.*got none"):
        PKSampling(times_h=())
    with pytest.raises(InputError, match=r"^pk_sampling.times: an NCA needs at least 2 sampling times.*got one"):
        PKSampling(times_h=(1.0,))


def test_the_flat_laplace_note_no_longer_cites_the_removed_im_cap(capsys):
    """R2-2: the note shown for eta_sedation in most plans explained itself with an IM absorbed-fraction cap that the
    thirty-eighth session removed (IM and SC carry no random effect on F)."""
    from ketasim import personal
    from ketasim.cli import main

    for text in (personal.ONE_SIDED, personal.__doc__, personal.PatientFit.one_sided.__doc__):
        assert "absorbed fraction" not in text
    assert main(["plan", "examples/patient/patient_101.csv"]) == 0
    note = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  note: the predictions depend on ")]
    assert len(note) == 1 and "eta_sedation" in note[0] and "absorbed fraction" not in note[0]


@pytest.mark.parametrize("column, factor", [("timepoint_d", "x 24"), ("timepoint_min", "/ 60"), ("time_h", None)])
def test_an_observed_time_column_in_other_units_is_told_to_convert(tmp_path, column, factor):
    """R8-1: 'found timepoint_d: name it timepoint_h (hours)' had a user rename the column, reading day 1 as 1 h."""
    from ketasim.observed import read_observed
    from ketasim.scenario import load_scenario

    sc = load_scenario(Path(__file__).resolve().parents[1] / "examples" / "crossover_one_week_apart.yaml")
    f = tmp_path / "obs.csv"
    f.write_text(f"arm,{column},measure,value\nketamine,1,mean_change,-16.5\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_observed(f, sc)
    msg = str(e.value)
    assert "\n" not in msg and f"found '{column}'" in msg
    if factor:
        assert f"convert the times ({factor}) and name the column 'timepoint_h'" in msg
    else:
        assert "name it 'timepoint_h' (in hours)" in msg


@pytest.mark.parametrize("column, factor", [("TIME_D", "x 24"), ("DUR_MIN", "/ 60"), ("TIME (days)", "x 24")])
def test_a_record_time_column_in_other_units_is_told_to_convert(column, factor):
    """R8-1, the record's analogue: 'column TIME_D: unknown column; use TIME (hours from the first row)'."""
    from ketasim.record import _unknown_column

    msg = str(_unknown_column("record", column))
    assert f"convert the values to hours ({factor})" in msg and "\n" not in msg
    assert "convert" not in str(_unknown_column("record", "TIME_H"))      # already hours: a rename is enough
