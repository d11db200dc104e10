"""Small helpers shared by the engine tests (not a test module).

Everything here builds scenarios through the public API (``scenario_from_dict``) so that the tests exercise
the same validation path as users do.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

import ketasim
from ketasim.population import typical_patient

REPO = Path(__file__).resolve().parents[1]
#: Shared reference data, by its documented path relative to the repository root.
REFERENCE_PK_CSV = REPO.parent / "shared" / "reference" / "pk_parameters.csv"


@lru_cache(maxsize=1)
def params():
    return ketasim.load_parameters()


def typical_nonspecific_trait(p) -> float:
    """The typical patient's (eta 0) non-specific trait, in closed form: 1 x the latent class's ratio at its smoothed
    membership there, Phi(-z / softness), z the class threshold (model.definition._nonspecific_trait at eta 0)."""
    from scipy.stats import norm

    z = norm.ppf(1.0 - p.free_value("nonspecific_fraction"))
    return 1.0 + (p.free_value("nonspecific_ratio") - 1.0) * norm.cdf(-z / p.get("pd.latent_class.softness"))


def scenario(lines, *, female=False, weight_kg=70.0, age_years=40.0, comedications=(), name="test", **population):
    """A one-arm scenario with a fully specified typical patient.

    Defaults: a 70 kg, 40-year-old man (below 60 years, so no age effect on hepatic blood flow), no
    comedication. ``lines`` is the arm's list of dose mappings (scenario YAML syntax).
    """
    pop = {"size": 1, "female_fraction": 1.0 if female else 0.0,
           "weight_kg": {"mean": float(weight_kg), "sd": 0.0}, "age_years": {"mean": float(age_years), "sd": 0.0},
           "comedications": list(comedications)}
    pop.update(population)
    return ketasim.scenario_from_dict({"name": name, "population": pop, "arms": {"arm": list(lines)}})


def line(drug, route, dose=None, **kw):
    d = {"drug": drug, "route": route}
    if dose is not None:
        d["dose"] = dose
    d.update(kw)
    return d


def typical_run(lines, times, *, experiment=None, parameter_set=None, **pop):
    """Simulate the typical patient; returns the SimulationResult."""
    sc = scenario(lines, **pop)
    return ketasim.simulate(sc, parameter_set, typical=True, output_times_h=np.asarray(times, float),
                            experiment=experiment)


def typical_traj(lines, times, **kw):
    """Trajectories of the typical patient indexed by time_h."""
    return typical_run(lines, times, **kw).trajectories().set_index("time_h")


def typical_prepared(lines, times=(0.0, 1.0), **pop):
    """The engine's prepared inputs (PKModel, model constants, events) for the typical patient of a one-arm
    scenario: what the kernel and the reference solver integrate."""
    from ketasim.engine import prepare_arm

    sc = scenario(lines, **pop)
    pts = typical_patient(sc.population, params())
    return prepare_arm(sc.arms[0], sc.population, pts, np.asarray(times, float), params=params())


def typical_pk(lines, **pop):
    """The PKModel the engine builds for the typical patient of a one-arm scenario (same drug set)."""
    return typical_prepared(lines, **pop).model


def model_constant(lines, name, **pop):
    """A model constant (ketasim.solver.kernel.MC_NAMES) as the engine prepares it for this regimen."""
    from ketasim.solver import kernel as K

    return float(typical_prepared(lines, **pop).mc[K.MC_NAMES.index(name)])


def value_at(traj, column, t_h):
    """Value of ``column`` at the output time closest to ``t_h`` (which must be an output time to 1e-6 h)."""
    idx = np.asarray(traj.index, float)
    i = int(np.argmin(np.abs(idx - t_h)))
    assert abs(idx[i] - t_h) < 1e-6, f"{t_h} h is not an output time"
    return float(traj[column].iloc[i])


def auc(t, c):
    """Trapezoid AUC."""
    return float(np.trapezoid(np.asarray(c, float), np.asarray(t, float)))


def normalised_error(got, ref, atol, rtol):
    """max |got - ref| / (atol + rtol |ref|): <= 1 means within tolerance everywhere."""
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    return float(np.max(np.abs(got - ref) / (atol + rtol * np.abs(ref))))


def fine_times(until_h, fine_until_h=12.0, fine_step_h=1 / 60, coarse_step_h=0.25):
    """Output times: a fine grid early (peaks, infusions), coarser later; always includes 40 min and 2 h."""
    t = np.concatenate([np.arange(0.0, fine_until_h, fine_step_h), np.arange(fine_until_h, until_h + 1e-9, coarse_step_h),
                        [40 / 60, 2.0]])
    return np.unique(np.round(t, 9))


def reference_rows():
    """Rows of shared/reference/pk_parameters.csv (list of dicts); None if the shared folder is absent."""
    if not REFERENCE_PK_CSV.exists():
        return None
    with open(REFERENCE_PK_CSV, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def model_with_session_renewal(expression: str, name: str):
    """The default model with the session event that renews ``expectancy`` replaced by ``expression`` (a model of an
    earlier session rule, for bit-for-bit before/after comparisons of one structural change)."""
    import dataclasses

    from ketasim.model import DEFAULT_MODEL
    from ketasim.model.core import Event

    events = tuple(Event("session", "expectancy", "=", expression)
                   if (e.on, e.target) == ("session", "expectancy") else e for e in DEFAULT_MODEL.events)
    return dataclasses.replace(DEFAULT_MODEL, events=events).renamed(name)


def relative_error(var: str, got, ref) -> float:
    """max |got - ref| / max |ref| of one output, as the accuracy checks measure it, with one exception:
    ``response_time_h`` (time in response, the recurrence clock) integrates the severity's own solver error through
    the steep in-response indicator (slope up to 1 / pd.recurrence.response_smoothing x 1.875 per unit of severity),
    so it is judged to 10x the target, and for a patient who only touches the response band (a few hours in
    response) to 0.1 h absolute: its error is returned scaled accordingly (<= 1 means within that allowance x the
    target), i.e. divided by 10 and by max(scale, 100 h)/scale."""
    import numpy as np

    got, ref = np.asarray(got, float), np.asarray(ref, float)
    scale = float(np.max(np.abs(ref)))
    err = float(np.max(np.abs(got - ref))) / scale
    if var == "response_time_h":
        err = err / 10.0 * scale / max(scale, 100.0)
    return err


#: the unblinding and withdrawal tests' population and sessions (one definition, shared by three test files)
UNBLINDING_POP = {"condition": "depression", "treatment_resistant": True, "scale": "madrs",
                  "baseline": {"mean": 37, "sd": 5}}
ESK_84 = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg"}
PLACEBO_IN = {"drug": "placebo", "route": "intranasal"}
KETAMINE_IV = {"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg", "duration": "40 min"}
SALINE_IV = {"drug": "placebo", "route": "iv-infusion", "duration": "40 min"}
MIDAZOLAM_IV = {"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg", "duration": "40 min"}
#: open-label esketamine 84 mg twice weekly for 4 weeks
ESK_INDUCTION = dict(ESK_84, every="3.5 d", count=8)


def withdrawal_dict(weeks=6, size=1, pop=None, **design) -> dict:
    """A randomized-withdrawal scenario (as a dict): :data:`UNBLINDING_POP`, the :data:`ESK_INDUCTION`, then
    ``weeks`` weekly sessions of esketamine (arm continue) or placebo (arm withdraw) among stable remitters (relapse
    at MADRS >= 22); ``pop`` and ``design`` override those sections."""
    weekly = {"at": "28 d", "every": "7 d", "count": weeks}
    return {"name": "w", "seed": 5, "population": {**UNBLINDING_POP, "size": size, **(pop or {})},
            "arms": {"continue": [ESK_INDUCTION, dict(ESK_84, **weekly)],
                     "withdraw": [ESK_INDUCTION, dict(PLACEBO_IN, **weekly)]},
            "design": {"type": "randomized_withdrawal", "induction_until": "28 d", "criterion": "stable_remission",
                       "relapse_score": 22, "continue": "continue", "withdraw": "withdraw", **design}}


def run_unblinding_arm(sc, times, model=None, typical=False, arm=0, p=None):
    """Engine run of one arm of ``sc`` (the unblinding and renewal tests): its typical patient, or 3 sampled
    patients; ``p`` the parameter set (default: the shipped one)."""
    from ketasim.engine import run_arm
    from ketasim.population import sample_patients

    p = p or params()
    pts = typical_patient(sc.population, p) if typical else sample_patients(sc.population, p, 3)
    return run_arm(sc.arms[arm], sc.population, pts, times, params=p, model=model)


def run_cli(capsys, *argv):
    """Run the ketasim CLI in-process: (exit code, stdout, stderr); never a traceback on stderr."""
    from ketasim.cli import main

    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def one_error_line(err: str) -> str:
    """The single 'error: ...' line a bad input must give (nothing else on stderr)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def benchmark_module(name: str):
    """The script benchmarks/NAME.py imported as a module (its functions are tested; its main() is not run)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def calibration_scenarios_with(folder: Path, switch: str, value: bool, files=None) -> Path:
    """A copy of the packaged calibration scenarios in ``folder``/calibration with ``population.<switch>`` set to
    ``value`` in ``files`` (names; default: every scenario). Returns the copy's folder."""
    import shutil

    from ketasim import calibration as cal

    copy = Path(folder) / "calibration"
    shutil.copytree(cal.SCENARIOS, copy)
    for f in [copy / name for name in files] if files else sorted(copy.glob("*.yaml")):
        text = f.read_text()
        assert "\npopulation:\n" in text, f.name
        f.write_text(text.replace("\npopulation:\n", f"\npopulation:\n  {switch}: {str(value).lower()}\n", 1))
    return copy


def switched_calibration_scenarios(tmp_path, monkeypatch, file: str, switch: str) -> Path:
    """A copy of the packaged calibration scenarios (under ``tmp_path``) with the hypothesis ``population.<switch>``
    set true in ``file`` only, installed as ``calibration.SCENARIOS`` for the test (``monkeypatch`` undoes it).
    Returns the copy's folder."""
    from ketasim import calibration as cal

    copy = calibration_scenarios_with(tmp_path, switch, True, [file])
    monkeypatch.setattr(cal, "SCENARIOS", copy)
    return copy


def scenarios_without_pool() -> Path:
    """A copy of the packaged calibration scenarios (in a new temporary folder: the caller removes the returned path's
    parent) with population.bdnf_release_pool false in each: the model before the twenty-ninth session, which the golden
    parameter set (tests/data/free_parameters_golden.json, no pool size) was fitted for."""
    import tempfile

    return calibration_scenarios_with(tempfile.mkdtemp(prefix="ketasim-no-pool-"), "bdnf_release_pool", False)


#: two 0.9 mg/kg IV pushes 10 min apart: neither alone is in the anesthetic range, together they are (the leftovers
#: tests of the forty-second and forty-third sessions)
PUSHES = {"name": "two-pushes", "seed": 1, "population": {"size": 4},
          "arms": {"pushes": [{"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.9 mg/kg", "at": "0 h"},
                              {"drug": "racemic-ketamine", "route": "iv-bolus", "dose": "0.9 mg/kg",
                               "at": "10 min"}],
                   "infusion": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                 "duration": "40 min"}]}}
#: the cumulative anesthetic warning's start for PUSHES
ADDS_UP = "arms.pushes: together its doses are in the anesthetic range"


def dose_warnings(fn):
    """(fn's result, the DoseWarnings it raised)."""
    import warnings

    from ketasim.errors import DoseWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [w for w in caught if issubclass(w.category, DoseWarning)]


def big_doc(size):
    """A two-arm IV ketamine vs midazolam scenario mapping of ``size`` patients (the time-budget tests' big file)."""
    return {"name": "big", "seed": 1,
            "population": {"size": size, "treatment_resistant": True, "baseline": {"mean": 33, "sd": 5}},
            "arms": {"ketamine": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                   "duration": "40 min"}],
                     "midazolam": [{"drug": "midazolam", "route": "iv-infusion", "dose": "0.045 mg/kg",
                                    "duration": "40 min"}]},
            "endpoints": {"times": ["24 h"], "measures": ["mean_change"]}}


RECORD_HEAD = "ID,TIME,EVID,AMT,AMTU,DUR,DRUG,ROUTE,DV,DVID,WT,AGE,SEX\n"


def read_record_quietly(path):
    """A patient record read with its warnings silenced (the tests judge the warnings of a later step)."""
    import warnings

    from ketasim.record import read_record

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_record(path)


def dose_warning_messages(fn, *args, **kwargs):
    """(fn's result, the messages of the DoseWarnings it gave); :func:`dose_warnings` gives the warnings."""
    import warnings

    from ketasim.errors import DoseWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught if issubclass(w.category, DoseWarning)]


#: a `ketasim` command run in a child whose engine first calls a ctypes callback in which the signal named by the
#: environment's SIGNAL arrives (as llvmlite calls back into Python while numba compiles), then rests AFTER_S seconds
SWALLOWED_SIGNAL_SCRIPT = r"""
import ctypes, os, signal, sys, time
from ketasim import cli, engine

callback = ctypes.CFUNCTYPE(None)


def inside():
    # as llvmlite calls back into Python while numba compiles: the signal arrives and its handler runs in here
    os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL"]))
    t = time.monotonic()
    while time.monotonic() - t < 0.2:
        pass
    print("signalled", file=sys.stderr, flush=True)


cb = callback(inside)
real = engine.simulate


def simulate(*a, **kw):
    cb()
    time.sleep(float(os.environ["AFTER_S"]))     # the rest of the run (Python instructions: the handler can run)
    return real(*a, **kw)


engine.simulate = simulate
sys.exit(cli.main(sys.argv[1:]))
"""


#: a `ketasim` command run in a child: a Ctrl-C dropped inside a ctypes callback, then the signal named by the
#: environment's SECOND 0.3 s later (which propagates), and a cleanup outlasting the resend's delay: it prints
#: 'cleanup complete' or 'cleanup CUT SHORT by ...'
SECOND_SIGNAL_SCRIPT = r"""
import ctypes, os, signal, sys, threading, time
from ketasim import cli, engine

cb = ctypes.CFUNCTYPE(None)(lambda: os.kill(os.getpid(), signal.SIGINT))    # Ctrl-C 1, dropped by ctypes


def simulate(*a, **kw):
    cb()
    threading.Timer(0.3, lambda: os.kill(os.getpid(), getattr(signal, os.environ["SECOND"]))).start()   # propagates
    try:
        time.sleep(60)
    finally:        # a cleanup (partial files removed, a cluster closed) outlasting the resend's delay
        t = time.monotonic()
        try:
            while time.monotonic() - t < 3 * cli.TERM_RETRY_S:
                pass
            print("cleanup complete", file=sys.stderr)
        except BaseException as e:
            print(f"cleanup CUT SHORT by {type(e).__name__}", file=sys.stderr)
            raise


engine.simulate = simulate
sys.exit(cli.main(sys.argv[1:]))
"""


def run_second_signal(tmp_path, second: str):
    """Run SECOND_SIGNAL_SCRIPT's `simulate` with SECOND=``second`` ('SIGINT' or 'SIGTERM'; SIGINT at its default
    disposition): (return code, non-empty stderr lines, whether its --csv file exists)."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "second.py"
    script.write_text(SECOND_SIGNAL_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "NUMBA_NUM_THREADS": "1",
           "SECOND": second}
    proc = subprocess.run([sys.executable, str(script), "simulate", "--drug", "esketamine", "--route", "intranasal",
                           "--dose", "56 mg", "--size", "3", "--csv", str(tmp_path / "out.csv")],
                          capture_output=True, text=True, env=env, timeout=200, cwd=tmp_path,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return proc.returncode, [ln for ln in proc.stderr.splitlines() if ln.strip()], (tmp_path / "out.csv").exists()


def post_json(url: str, data, timeout: float = 120) -> tuple[int, dict]:
    """POST ``data`` as JSON to the dashboard's server; (HTTP status, decoded JSON body), an error status included."""
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(data).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def write_rows_csv(path: Path, rows: list[dict]) -> Path:
    """Write dicts as a CSV (columns in first-seen order; a row's missing cells empty), e.g. an observed file."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path
