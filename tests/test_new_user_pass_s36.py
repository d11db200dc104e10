"""Session 36 new-user pass (plan, sensitivity, export, qualify --external, pk, dashboard API, tutorials)."""

from __future__ import annotations

import pytest

from ketasim.errors import InputError


def test_sensitivity_endpoint_at_a_negative_time_names_the_endpoint():
    # 'mean_change@-1h' stopped after loading with 'output: times must be ... >= 0' (a field the user never wrote)
    from ketasim.sensitivity import parse_endpoint

    with pytest.raises(InputError, match=r"^--endpoint: the time must be >= 0"):
        parse_endpoint("mean_change@-1h")
    assert parse_endpoint("mean_change@0h").time_h == 0.0
    assert parse_endpoint("response_rate@7 d").time_h == 168.0
