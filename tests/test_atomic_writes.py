"""Issue 11: every output is complete or absent. Interrupted, killed and failed writes leave the previous complete
file (or none), never a truncated one; Ctrl-C exits 130 with one line; OS errors are one line naming the path."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ketasim import errors as E
from ketasim.cli import main
from ketasim.io import atomic_path, atomic_paths, atomic_write_text

SCENARIO = """name: interrupt
seed: 1
population: {size: 60, weight_kg: {mean: 80, sd: 10}}
arms:
  k: [{drug: ketamine, route: iv, dose: 0.5 mg/kg, duration: 40 min}]
output: {every: 10 min, until: 28 d}
"""


def temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


# ---- the helper ---------------------------------------------------------------------------------------------------------
def test_exception_inside_the_block_keeps_the_previous_file(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_text(p, "previous")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("boom")
    assert p.read_text(encoding="utf-8") == "previous" and temps(tmp_path) == []


def test_keyboard_interrupt_inside_the_block_keeps_the_previous_files(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "a.csv.provenance.json"
    atomic_write_text(a, "old csv")
    atomic_write_text(b, "old meta")
    with pytest.raises(KeyboardInterrupt):
        with atomic_paths(a, b) as (ta, tb):
            ta.write_text("new csv", encoding="utf-8")
            tb.write_text("new meta", encoding="utf-8")
            raise KeyboardInterrupt
    assert (a.read_text(), b.read_text()) == ("old csv", "old meta") and temps(tmp_path) == []
    with atomic_paths(a, b) as (ta, tb):
        ta.write_text("new csv", encoding="utf-8")
        tb.write_text("new meta", encoding="utf-8")
    assert (a.read_text(), b.read_text()) == ("new csv", "new meta") and temps(tmp_path) == []


def test_files_get_ordinary_permissions(tmp_path):
    p = atomic_write_text(tmp_path / "x.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask


def test_full_disk_keeps_the_previous_file_and_names_the_path(tmp_path, monkeypatch, capsys):
    import pandas as pd

    scen = tmp_path / "s.yaml"
    scen.write_text(SCENARIO.replace("size: 60", "size: 2"), encoding="utf-8")
    out = tmp_path / "out.csv"
    out.write_text("previous\n", encoding="utf-8")
    real = pd.DataFrame.to_csv

    def full_disk(self, path, *a, **kw):
        Path(path).write_text("arm,subject\nk,0\nk,", encoding="utf-8")    # a partial write, then ENOSPC
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    code = main(["simulate", str(scen), "--csv", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    monkeypatch.setattr(pd.DataFrame, "to_csv", real)
    assert code == 1 and len(err) == 1 and err[0] == f"error: --csv: {out}: cannot write (No space left on device)", err
    assert out.read_text(encoding="utf-8") == "previous\n" and temps(tmp_path) == []
    assert not Path(str(out) + ".provenance.json").exists()


@pytest.mark.parametrize("option", ["--csv", "--parquet", "--plot", "--report"])
def test_unwritable_output_path_is_one_line(tmp_path, capsys, option):
    scen = tmp_path / "s.yaml"
    scen.write_text(SCENARIO.replace("size: 60", "size: 1"), encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    for target, fragment in [(blocker / "out.x", "does not exist"), (tmp_path, "is a directory")]:
        code = main(["simulate", str(scen), option, str(target)])
        err = capsys.readouterr().err.strip().splitlines()
        # a path that cannot be a file is bad input, found before anything runs: exit 2 like other input errors
        # s42: the option first, then the path (README: errors name the option)
        assert code == 2 and len(err) == 1 and err[0].startswith(f"error: {option}: {target}"), err
        assert fragment in err[0], err


def test_trial_json_to_missing_folder_is_one_line(tmp_path, capsys):
    scen = tmp_path / "t.yaml"
    scen.write_text("name: t\npopulation: {size: 5}\nendpoints: {times: [24 h]}\narms:\n"
                    "  k: [{drug: ketamine, route: iv, dose: 0.5 mg/kg, duration: 40 min}]\n", encoding="utf-8")
    code = main(["trial", str(scen), "--json", str(tmp_path / "no" / "t.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith(f"error: --json: {tmp_path / 'no' / 't.json'}")
    assert "does not exist" in err[-1]
    assert not (tmp_path / "no").exists() and list(tmp_path.iterdir()) == [scen]       # nothing half-written


# ---- real processes: SIGINT and SIGKILL in the middle of a write --------------------------------------------------
def _start(tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "out.csv"
    meta = Path(str(out) + ".provenance.json")
    out.write_text("previous complete file\n", encoding="utf-8")
    meta.write_text('{"previous": true}', encoding="utf-8")
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # the child starts with SIGINT at its default disposition: a test run launched as a background job of a
    # non-interactive shell (`pytest &`, nohup) inherits SIGINT ignored, and a Python started so never turns Ctrl-C
    # into KeyboardInterrupt (the write then completed and the test failed, seen twice this session)
    proc = subprocess.Popen([sys.executable, "-c", "from ketasim.cli import entry; entry()", "simulate", str(scen),
                             "--csv", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:         # wait until the CSV is being written (its temporary file grows)
        tmp = [p for p in temps(tmp_path) if p.name.endswith(".tmp.csv")]
        if tmp and tmp[0].exists() and tmp[0].stat().st_size > 0:
            return proc, out, meta
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"the write never started: {proc.communicate()}")


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted:"), (signal.SIGTERM, 143, "terminated:")])
def test_sigint_or_sigterm_mid_write_exits_and_keeps_the_previous_files(tmp_path, sig, code, word):
    proc, out, meta = _start(tmp_path)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, (stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(word), stderr
    assert out.read_text(encoding="utf-8") == "previous complete file\n"
    assert json.loads(meta.read_text(encoding="utf-8")) == {"previous": True}
    assert temps(tmp_path) == [], "the temporary files are removed"
    assert "wrote" not in stdout


def test_sigkill_mid_write_never_leaves_a_truncated_file(tmp_path):
    proc, out, meta = _start(tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_text(encoding="utf-8") == "previous complete file\n"
    assert json.loads(meta.read_text(encoding="utf-8")) == {"previous": True}
    # what SIGKILL can leave: hidden temporary files beside it, never the target itself
    assert all(p.name.startswith(".out.csv") for p in temps(tmp_path))


def test_a_completed_run_replaces_both_files(tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text(SCENARIO.replace("size: 60", "size: 2"), encoding="utf-8")
    out = tmp_path / "out.csv"
    out.write_text("previous\n", encoding="utf-8")
    assert main(["simulate", str(scen), "--csv", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("arm,subject,time_h")
    assert json.loads(Path(str(out) + ".provenance.json").read_text())["scenario"] == "interrupt"
    assert temps(tmp_path) == []


def test_ctrl_c_inside_the_cli_exits_130(monkeypatch, capsys, tmp_path):
    import ketasim.engine as engine

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "simulate", interrupted)
    scen = tmp_path / "s.yaml"
    scen.write_text(SCENARIO, encoding="utf-8")
    assert main(["simulate", str(scen)]) == 130
    assert capsys.readouterr().err.strip().startswith("interrupted:")
