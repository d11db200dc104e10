"""Forty-fourth session, H10: fixes of the review's findings (/work/coord/s44/H3_review.md)."""

from __future__ import annotations

import warnings
from pathlib import Path

from _support import run_cli

ROOT = Path(__file__).resolve().parents[1]

RECORD_HEAD = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"


def _record(tmp_path, name, wt, doses):
    """A record of WT ``wt`` kg with racemic ketamine doses ``doses``: (time h, mg, route, duration h or '')."""
    path = tmp_path / f"{name}.csv"
    rows = [f"1,0,0,,,,,,30,madrs,{wt},41,F"]
    rows += [f"1,{t:.10g},1,{mg:g},mg,{dur},racemic-ketamine,{route},,,,," for t, mg, route, dur in doses]
    rows.append("1,24,0,,,,,,20,madrs,,,")
    path.write_text(RECORD_HEAD + "\n".join(rows) + "\n")
    return path


def _record_warnings(path):
    """(the warnings reading the record gave, record_anesthetic_warnings: what `plan` and the plan page say)."""
    from ketasim.errors import DoseWarning
    from ketasim.record import read_record
    from ketasim.summary import record_anesthetic_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = read_record(path)
    return [str(w.message) for w in caught if issubclass(w.category, DoseWarning)], record_anesthetic_warnings(rec)


# ---- R1-1: a heavy patient's two pushes, each anesthetic at 70 kg only, warned of nothing ---------------------------
def test_a_heavy_records_two_pushes_adding_up_warn_once(capsys, tmp_path):
    """WT 120, two 90 mg IV pushes 10 min apart: 0.75 mg/kg each at the record's WT (no row warns), 1.5 mg/kg
    together (the typical peak passes a 1 mg/kg push's). The cumulative check judged each push at 70 kg (1.29
    mg/kg: 'alone in the range'), skipped the record and nothing warned (review R1-1)."""
    path = _record(tmp_path, "heavy", 120, [(0.5, 90, "iv-bolus", ""), (0.5 + 10 / 60, 90, "iv-bolus", "")])
    rows, plan = _record_warnings(path)
    assert rows == []
    assert len(plan) == 1 and plan[0].startswith("heavy.csv: together the record's doses are in the anesthetic range")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, "simulate", "--events", str(path))
    lines = [ln for ln in err.splitlines() if "anesthetic range" in ln]
    assert code == 0 and len(lines) == 1 and "heavy.csv: together the record's doses" in lines[0], err


# ---- R1-2: back-to-back IV doses in mg were judged as one infusion at 70 kg -----------------------------------------
def test_a_records_back_to_back_mg_doses_are_judged_at_its_weight(tmp_path):
    """Two 30-min infusions back to back. WT 40, 2 x 60 mg: 1.5 mg/kg each (neither alone), 3 mg/kg over 60 min
    together, which the infusion rule puts in the anesthetic range; at 70 kg it was 1.71 mg/kg (not). WT 120,
    2 x 105 mg: 1.75 mg/kg over 60 min at its WT (not), 3 mg/kg at 70 kg (warned 'at the 70-kg reference weight')
    (review R1-2)."""
    from ketasim.regimen import REFERENCE_WEIGHT_KG, Drug, Route, back_to_back_iv_runs
    from ketasim.regimen import Administration as A

    light = _record(tmp_path, "light", 40, [(0.5, 60, "iv-infusion", 0.5), (1.0, 60, "iv-infusion", 0.5)])
    rows, plan = _record_warnings(light)
    assert rows == [] and len(plan) == 1, plan
    assert ("2 IV doses back to back from 30 min give 3 mg/kg over 60 min, mg doses at the record's WT of 40 kg, as "
            "one infusion in the anesthetic range") in plan[0], plan
    assert "reference weight" not in plan[0]
    heavy = _record(tmp_path, "heavy", 120, [(0.5, 105, "iv-infusion", 0.5), (1.0, 105, "iv-infusion", 0.5)])
    rows, plan = _record_warnings(heavy)
    assert rows == [] and not any("back to back" in m or "reference weight" in m for m in plan), plan
    # the function itself: a dose in mg per kg at the given weight, the reference weight without one
    adm = [A(Drug.RACEMIC_KETAMINE, Route.IV_INFUSION, 60.0, False, t, 0.5) for t in (0.5, 1.0)]
    assert back_to_back_iv_runs(adm)[0][2] == 120 / REFERENCE_WEIGHT_KG
    assert back_to_back_iv_runs(adm, 40.0) == [(0.5, 1.0, 3.0, 2, True)]


# ---- H4's open item: Ctrl-C (SIGINT) inside a ctypes callback was lost as SIGTERM was --------------------------------
from _support import SWALLOWED_SIGNAL_SCRIPT as _SWALLOWED_SIGNAL  # noqa: E402


def _run_swallowing(tmp_path, sig: str, *, ignore_sigint: bool = False, after_s: float = 120.0,
                    timeout: float = 100.0):
    """Run `simulate` in a child whose engine first calls a ctypes callback in which ``sig`` arrives, then rests
    ``after_s`` seconds: (return code, stderr lines other than 'signalled', stdout), or None when the child
    had to be killed after ``timeout`` s (the signal was lost). SIGINT starts at its default disposition (a test run
    as a background job inherits it ignored), or ignored with ``ignore_sigint``."""
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "swallow.py"
    script.write_text(_SWALLOWED_SIGNAL, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NUMBA_NUM_THREADS": "1",
           "AFTER_S": str(after_s), "SIGNAL": sig}
    disposition = signal.SIG_IGN if ignore_sigint else signal.SIG_DFL
    try:
        proc = subprocess.run([sys.executable, str(script), "simulate", "--drug", "esketamine", "--route",
                               "intranasal", "--dose", "56 mg", "--size", "3", "--csv", str(tmp_path / "out.csv")],
                              capture_output=True, text=True, env=env, timeout=timeout, cwd=tmp_path,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, disposition))
    except subprocess.TimeoutExpired:
        return None
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and ln != "signalled"]
    return proc.returncode, lines, proc.stdout


def test_ctrl_c_inside_a_ctypes_callback_still_interrupts(tmp_path):
    """A KeyboardInterrupt raised inside a numba/llvmlite ctypes callback was dropped ('Exception ignored on calling
    ctypes callback function') and the run went on, as SIGTERM's was before the forty-fourth session's fix: Ctrl-C
    is now sent again until main() has caught it: one line, exit 130, no output file. Bounded: the child rests 120 s
    after the signal and is killed after 100 s (the signal lost)."""
    got = _run_swallowing(tmp_path, "SIGINT")
    assert got is not None, "the Ctrl-C was lost: the run went on"
    code, lines, stdout = got
    assert code == 130, lines
    assert len(lines) == 1 and lines[0].startswith("interrupted: stopped before completing"), lines
    assert not (tmp_path / "out.csv").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    # a lost signal is the 100 s timeout (None above), timing nothing (review s45 R7)
    assert "wrote" not in stdout


def test_ctrl_c_stays_ignored_where_the_shell_ignores_it(tmp_path):
    """A background job of a non-interactive shell (`ketasim ... &` in a script, nohup) starts with SIGINT ignored:
    main() leaves it so (a Ctrl-C meant for the foreground job does not stop it); the run completes."""
    got = _run_swallowing(tmp_path, "SIGINT", ignore_sigint=True, after_s=0.5)
    assert got is not None
    code, lines, stdout = got
    assert code == 0 and not any("interrupted" in ln for ln in lines), lines
    assert (tmp_path / "out.csv").exists() and "wrote" in stdout


# ---- R2-1: --endpoint's time was lower-cased with its measure -------------------------------------------------------
def test_an_endpoints_time_is_read_as_every_time_its_measure_in_any_case():
    """`--endpoint Mean_Change@24H` was accepted (the whole text lower-cased) while '24H' is refused everywhere else
    (scenario times, --every, --at), and '@1 Ms' (megaseconds, 278 h) became 1 ms (review R2-1)."""
    import pytest

    from ketasim.errors import InputError
    from ketasim.sensitivity import parse_endpoint
    from ketasim.units import parse_time_h

    assert parse_endpoint("Mean_Change@24h") == parse_endpoint("mean_change@24 h")
    assert parse_endpoint("CADSS_PEAK").measure == "cadss_peak"
    with pytest.raises(InputError) as e:
        parse_time_h("24H", "x")
    with pytest.raises(InputError) as ep:
        parse_endpoint("Mean_Change@24H")
    assert "'H'" in str(ep.value) and "'H'" in str(e.value)
    assert parse_endpoint("mean_change@1 Ms").time_h == pytest.approx(1e6 / 3600)
