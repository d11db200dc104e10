"""A new user's pass over the commands the validity issue relies on (README and docs only): every bad input is
one line naming the option or field, checked before anything runs, and nothing is half-written."""

from __future__ import annotations

import pytest

import ketasim.calibration
from ketasim.cli import main


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def no_fitting(monkeypatch):
    """Calibration and qualification fail the test if they start: the input must be refused before."""
    def refuse(*a, **k):
        raise AssertionError("ran before the input was checked")

    monkeypatch.setattr(ketasim.calibration, "calibrate", refuse)
    monkeypatch.setattr(ketasim.calibration, "qualify", refuse)


@pytest.mark.parametrize("argv, names", [
    (["calibrate", "--out", "{missing}/cal.json"], "does not exist"),
    (["calibrate", "--out", "{tmp}"], "is a directory"),
    (["calibrate", "--start", "middle"], "--start: use 'current' or 'prior', got 'middle'"),
    (["calibrate", "--size", "0"], "--size: must lie in"),
    (["calibrate", "--max-evaluations", "0"], "--max-evaluations: must lie in"),
    (["qualify", "--html", "{missing}/q.html"], "does not exist"),
    (["qualify", "--cross-validate", "--cv-json", "{missing}/cv.json"], "does not exist"),
])
def test_calibrate_and_qualify_refuse_bad_options_before_running(capsys, tmp_path, monkeypatch, no_fitting,
                                                                  argv, names):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no_such_folder"
    argv = [a.format(missing=missing, tmp=tmp_path) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert names in one_error_line(err)
    assert not missing.exists()                 # the named folder was not created


def test_default_output_folders_are_still_created(capsys, tmp_path, monkeypatch):
    """Only a folder the user names must exist; the command's own default (out/calibration) is created."""
    monkeypatch.chdir(tmp_path)

    class Stop(Exception):
        pass

    def stop(*a, **k):
        raise Stop

    monkeypatch.setattr(ketasim.calibration, "calibrate", stop)
    with pytest.raises(Stop):
        main(["calibrate", "--size", "10", "--max-evaluations", "1"])
    assert (tmp_path / "out" / "calibration").is_dir()
