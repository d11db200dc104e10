"""A new user's pass (tenth session): what a clinician, researcher or teacher meets from a fresh clone. Every bad input
is one line naming the option, field or file, checked before anything runs; nothing is half-written, and nothing
outside the named file is replaced."""

from __future__ import annotations

import os

import pytest

from ketasim.cli import main
from ketasim.errors import OutputPathError

QUICK = ["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5mg/kg"]


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# ---- output paths that are not files ------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX named pipes")
@pytest.mark.parametrize("option", ["--csv", "--parquet", "--plot", "--report"])
def test_an_output_that_is_a_pipe_or_a_link_to_one_is_refused_before_running(capsys, tmp_path, option):
    """Outputs are written beside the target and renamed over it; over a pipe or a device (`--csv /dev/null`,
    `--csv /dev/stdout`) that replaced the pipe or device itself (as root: /dev/null became a CSV file), or failed
    only after the run. Now one line before anything runs, and the pipe is still a pipe."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link_to_pipe"
    link.symlink_to(fifo)
    for target in (fifo, link):
        code, out, err = run(capsys, *QUICK, option, target)
        assert code == 2
        assert "not a regular file" in one_error_line(err) and str(target) in err
        assert fifo.is_fifo() and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link_to_pipe", "pipe"]   # no temporary file left


@pytest.mark.skipif(os.name != "posix", reason="POSIX device paths")
@pytest.mark.parametrize("path", ["/dev/null", "/dev/stdout", "/dev/full", "/proc/x.csv"])
def test_device_paths_are_not_output_files(path):
    from ketasim.io import check_target

    with pytest.raises(OutputPathError, match="/dev and /proc|not a regular file"):
        check_target(path)


@pytest.mark.parametrize("chunk", [None, "1"])
def test_an_output_given_as_a_link_writes_the_linked_file_and_keeps_the_link(capsys, tmp_path, chunk):
    """Renaming over a symbolic link replaced the link by a new file and left the file it points to unchanged."""
    real = tmp_path / "results" / "traj_v3.csv"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "traj.csv"
    link.symlink_to(real)
    code, out, err = run(capsys, *QUICK, "--csv", link, *(["--chunk", chunk] if chunk else []))
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.read_text().startswith("arm,subject,time_h")
    assert (tmp_path / "traj.csv.provenance.json").is_file()      # beside the name given


# ---- figure file names --------------------------------------------------------------------------------------------
def test_a_plot_without_an_extension_is_a_png(capsys, tmp_path):
    """`--plot cascade` ended in a matplotlib traceback after the run (the temporary file's name gave no format)."""
    code, out, err = run(capsys, *QUICK, "--plot", tmp_path / "cascade")
    assert code == 0, err
    assert (tmp_path / "cascade").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cascade"]


def test_a_plot_extension_in_capitals_is_read(capsys, tmp_path):
    code, out, err = run(capsys, *QUICK, "--plot", tmp_path / "cascade.JPG")
    assert code == 0, err
    assert (tmp_path / "cascade.JPG").read_bytes()[:2] == b"\xff\xd8"           # JPEG


@pytest.mark.parametrize("command", ["simulate", "sensitivity"])
def test_a_plot_extension_matplotlib_cannot_write_is_refused_before_running(capsys, tmp_path, monkeypatch, command):
    import ketasim.engine
    import ketasim.sensitivity

    def refuse(*a, **k):
        raise AssertionError("ran before the --plot name was checked")

    monkeypatch.setattr(ketasim.engine, "simulate", refuse)
    monkeypatch.setattr(ketasim.sensitivity, "run_sensitivity", refuse)
    argv = (QUICK if command == "simulate" else
            ["sensitivity", "examples/design_example.yaml", "--endpoint", "response_rate@24h"])
    code, out, err = run(capsys, *argv, "--plot", tmp_path / "fig.jpgg")
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("error: --plot: cannot write a figure as '.jpgg'") and ".png" in line
    assert not list(tmp_path.iterdir())


def test_the_tornado_chart_is_written_completely_or_not_at_all(tmp_path, monkeypatch):
    """write_tornado wrote straight to the target (every other output goes through a temporary file)."""
    import matplotlib.figure

    from ketasim import sensitivity

    class Fake:
        pass

    def boom(self, *a, **k):
        with open(a[0], "wb") as fh:
            fh.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(sensitivity, "tornado_figure", lambda res, top: matplotlib.figure.Figure())
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", boom)
    with pytest.raises(KeyboardInterrupt):
        sensitivity.write_tornado(Fake(), tmp_path / "t.png")
    assert not list(tmp_path.iterdir())
