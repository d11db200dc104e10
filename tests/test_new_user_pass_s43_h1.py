"""Session 43 new-user pass, helper H1 (power, plan scales, records, covariates, the Python API, bad input)."""

from __future__ import annotations

import pytest

from ketasim.errors import InputError


@pytest.mark.parametrize("path", [None, 5, 2.5])
def test_read_record_of_something_not_a_path_is_one_line(path):
    # read_record(None) stopped with TypeError: expected str, bytes or os.PathLike object, not NoneType
    from ketasim.record import RecordError, read_record

    with pytest.raises(RecordError, match=r"^path: expected the record file's path .*got "):
        read_record(path)


@pytest.mark.parametrize("obj", [[{"ID": 1, "TIME": 0, "EVID": 0}], {"ID": 1}, "patient_101.csv"])
def test_record_from_frame_of_something_not_a_frame_is_one_line(obj):
    # record_from_frame([...]) stopped with AttributeError: 'list' object has no attribute 'to_dict'
    from ketasim.record import RecordError, record_from_frame

    with pytest.raises(RecordError, match=r"expected a pandas DataFrame .*got (list|dict|str)"):
        record_from_frame(obj)
