"""Review findings of the thirty-ninth session (H3, /work/coord/s39/H3_review.md), each with a test."""

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
