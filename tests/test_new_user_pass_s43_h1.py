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


@pytest.mark.parametrize("scale", [None, "foo", "madrs-x"])
def test_parse_target_of_an_unknown_scale_is_one_line(scale):
    # parse_target('score<=15', None) stopped with KeyError: None
    from ketasim.personal import parse_target

    with pytest.raises(InputError, match=r"^scale: unknown scale "):
        parse_target("score<=15", scale)


def test_parse_target_reads_a_scale_as_users_write_it():
    from ketasim.personal import parse_target

    assert parse_target(None, "QIDS-SR16").threshold == parse_target(None, "qids_sr16").threshold == 5
    assert parse_target(None, "HAM-D24").threshold == 10
