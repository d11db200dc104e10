"""Review findings of the fortieth session (H3, /work/coord/s40/H3_review.md) fixed by the lead."""

from __future__ import annotations

import dataclasses

import pytest

from ketasim.errors import InputError
from ketasim.nca import DEFAULT_SCHEDULE_H, PKSampling


def test_pk_sampling_without_times_is_one_line_and_replaced_times_are_sampled_as_given():
    """R2-3: PKSampling(times_h=None) raised a TypeError traceback (the default-schedule test ran before the
    validation), and dataclasses.replace(PKSampling(), times_h=...) kept the default schedule's resolved
    infusion_end=True, adding the infusion's end to times the API user gave."""
    with pytest.raises(InputError, match=r"^pk_sampling\.times: an NCA needs at least 2 sampling times"):
        PKSampling(times_h=None)
    default = PKSampling()
    assert default.adds_infusion_end and 40 / 60 in default.times_for(40 / 60)
    given = dataclasses.replace(default, times_h=(0.5, 1.0, 4.0))
    assert not given.adds_infusion_end and given.times_for(40 / 60) == (0.5, 1.0, 4.0)
    assert dataclasses.replace(given, times_h=DEFAULT_SCHEDULE_H).adds_infusion_end
    assert dataclasses.replace(given, infusion_end=True).times_for(40 / 60) == (0.5, 40 / 60, 1.0, 4.0)
