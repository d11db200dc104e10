"""The first run in a new clone compiled the numba kernel for ~100 s without a word (Known limits 76; fifty-first
session): the command line now prints one line on stderr just before a cold kernel compiles, never on a warm run
and never in library use (a ``logging`` channel at INFO that only the CLI listens to by default).

The detection (``solver.kernel.kernel_cache_cold``) is tested on a tiny cached function and on the real kernel in a
subprocess whose ``NUMBA_CACHE_DIR`` is an empty folder (a check, not a compile: seconds). The whole cold run (the
compile itself, ~100-200 s on a shared core) was run by hand: see CHANGELOG (fifty-first session, HC)."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ketasim.solver import COMPILE_LOGGER
from ketasim.solver import kernel as K

from _support import run_cli

QUICK = ["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose", "0.5 mg/kg"]
SRC = str(Path(K.__file__).resolve().parents[2])


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_detection_follows_numbas_cache_on_a_tiny_function(tmp_path):
    path = tmp_path / "tiny_kernel_s51.py"
    path.write_text("from numba import njit\n\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n")
    first = _load(path, "tiny_kernel_s51_a")
    assert K.kernel_cache_cold(first.f)                 # nothing on disk yet
    assert first.f(1) == 2
    assert not K.kernel_cache_cold(first.f)             # compiled in this process
    again = _load(path, "tiny_kernel_s51_b")            # a new process's dispatcher, the cache on disk
    assert not again.f.overloads and not K.kernel_cache_cold(again.f)
    path.write_text(path.read_text() + "# edited: another size, so a stale index\n")
    edited = _load(path, "tiny_kernel_s51_c")
    assert K.kernel_cache_cold(edited.f)


def test_anything_else_is_not_cold():
    """Not a caching dispatcher (a plain function: NUMBA_DISABLE_JIT) or numba internals that moved: say nothing."""
    assert not K.kernel_cache_cold(len)

    class Moved:
        overloads = {}
        _cache = object()

    assert not K.kernel_cache_cold(Moved())


def _cold_in_a_subprocess(env: dict) -> str:
    code = "from ketasim.solver.kernel import kernel_cache_cold, run_arm; print(kernel_cache_cold(run_arm))"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": SRC, **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_real_kernel_is_cold_in_an_empty_cache_and_warm_after_a_run(tmp_path, capsys):
    assert run_cli(capsys, *QUICK)[0] == 0          # compiled or loaded here, so on disk for this source
    assert not K.kernel_cache_cold(K.run_arm)
    assert _cold_in_a_subprocess({}) == "False"
    assert _cold_in_a_subprocess({"NUMBA_CACHE_DIR": str(tmp_path)}) == "True"
    assert not list(tmp_path.rglob("*.nb[ic]"))     # looked (numba made its folder), compiled nothing


@pytest.fixture
def fresh(monkeypatch):
    """As in a new process: no kernel looked at yet."""
    monkeypatch.setattr(K, "_looked", set())


def test_the_command_line_says_it_once_before_a_cold_compile(fresh, monkeypatch, capsys):
    monkeypatch.setattr(K, "kernel_cache_cold", lambda kernel: True)
    code, out, err = run_cli(capsys, *QUICK)
    assert code == 0
    assert err.splitlines() == [K.COMPILE_MESSAGE]
    assert K.COMPILE_MESSAGE == "compiling the model kernel once (~1-2 min); later runs start in seconds"
    code, out, err = run_cli(capsys, *QUICK)        # the same process: compiled now
    assert code == 0 and err == ""


def test_a_warm_run_says_nothing(monkeypatch, capsys):
    run_cli(capsys, *QUICK)                 # compiled or loaded (a cold clone running this file alone says it here)
    monkeypatch.setattr(K, "_looked", set())
    code, out, err = run_cli(capsys, *QUICK)
    assert code == 0 and err == ""


def test_library_use_says_nothing_unless_logging_listens(fresh, monkeypatch, capsys, caplog):
    import ketasim

    monkeypatch.setattr(K, "kernel_cache_cold", lambda kernel: True)
    sc = ketasim.quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg")
    ketasim.simulate(sc, typical=True)
    assert capsys.readouterr().err == ""
    assert K._looked == set()                       # nobody listened: the cache was not even looked at
    with caplog.at_level(logging.INFO, logger=COMPILE_LOGGER):
        ketasim.simulate(sc, typical=True)
    assert [r.getMessage() for r in caplog.records if r.name == COMPILE_LOGGER] == [K.COMPILE_MESSAGE]
    assert capsys.readouterr().err == ""


def test_the_command_line_leaves_the_channel_as_it_was(capsys):
    log = logging.getLogger(COMPILE_LOGGER)
    before = (list(log.handlers), log.level, log.propagate)
    run_cli(capsys, "--version")
    assert (list(log.handlers), log.level, log.propagate) == before
