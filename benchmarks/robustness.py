"""Fuzz the scenario boundary: >= 10,000 mutated scenarios; count tracebacks, hangs, silent exits and nonsense.

Every case starts from a real scenario (examples/*.yaml, examples/calibration/*.yaml) and applies one to three
seeded mutations: a field replaced by a hostile value (NaN, 1e400 as text, 1e18 h, unit arithmetic, 100,000
characters, deep nesting, wrong types ...), a key deleted or invented, a list emptied or repeated, a number
scaled by 1e6 or negated; or, for a share of the cases, the YAML *text* is mutated (duplicate keys, alias bombs,
deep brackets, truncation, byte flips) and read through ``load_scenario`` from a file.

Each case runs in a worker process with a wall-clock limit (a hang cannot block the run: the worker is killed
and restarted). Outcomes:

* ``valid``     a Scenario came back and its invariants hold (finite times within 10 years, sizes and seeds in
                range, the run fits the limits); every ``--simulate-every``-th valid case is also simulated (typical
                patient, two output times) and must give finite numbers;
* ``refused``   one KetasimError line (single line, < 600 characters, ``field: message``);
* ``traceback`` any other exception;  ``hang`` no answer within ``--timeout`` s;
* ``silent``    the worker died or exited without an answer, or the CLI exited 0 without its output file or
                non-zero without an ``error:`` line;  ``nonsense`` a valid result breaking an invariant, or a
                malformed refusal.

A share of the dict cases (``--cli-every``), valid or not, also goes through ``ketasim simulate FILE --typical
--csv OUT`` in the worker (``cli.main``): exit 0 must come with the CSV, any other exit with exactly one
``error:`` line.

    NUMBA_NUM_THREADS=1 python benchmarks/robustness.py [--cases 10000] [--seed 11] [--timeout 20]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOSTILE = [
    None, True, False, 0, -1, -5, 1e308, -1e308, 2**70, 1.5, float("nan"), float("inf"), float("-inf"),
    "", " ", "nan", "1e400 h", "1e18 h", "-1 h", "0 h", "1000 year", "11 year", "56 mg * 10**10**10",
    "56 mg*10**10", "(1 mg)", "1 h" + "h" * 100_000, "x" * 100_000, "0.5 mg/kg", "56 mg", "40 min", "3.5 d",
    "1 s", "0 min", "1e-300 h", "1e12 mg", "-0.5 mg/kg", "20 mg/kg", "2 g", "500 µg/kg", "1 week", "5 zorks",
    "ketamine", "iv", "esketamine", "intranasal", "placebo", "randomized_withdrawal", "crossover", "madrs",
    [], [1, 2], ["24 h", "1e400 h"], {}, {"a": 1}, {"mean": float("nan")}, {"mean": 80, "sd": -1},
    "\x00", "\u202e", "💊", "../../etc/passwd", "${jndi:ldap://x}", "!!python/object/apply:os.system ['id']",
]


def deep(n: int):
    x: object = 1
    for _ in range(n):
        x = [x]
    return x


DEEP = "__deep_nesting__"


def materialise(obj):
    """Replace {DEEP: n} markers by n nested lists."""
    if isinstance(obj, dict):
        if set(obj) == {DEEP} and type(obj[DEEP]) is int:
            return deep(obj[DEEP])
        return {k: materialise(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [materialise(v) for v in obj]
    return obj


def load_bases() -> list[dict]:
    import yaml

    paths = [ROOT / "examples" / "design_example.yaml", *sorted((ROOT / "examples" / "calibration").glob("*.yaml"))]
    bases = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in paths]
    bases.append({"name": "quick", "arms": {"k": [{"drug": "racemic-ketamine", "route": "iv-infusion",
                                                    "dose": "0.5 mg/kg", "duration": "40 min"}]}})
    bases.append({"name": "withdrawal", "population": {"size": 50},
                  "arms": {"continue": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg",
                                         "every": "7 d", "count": 12}],
                           "withdraw": [{"drug": "esketamine", "route": "intranasal", "dose": "56 mg",
                                         "every": "7 d", "count": 4}]},
                  "endpoints": {"times": ["28 d", "12 week"]},
                  "design": {"type": "randomized_withdrawal", "continue": "continue", "withdraw": "withdraw",
                             "induction_until": "28 d", "relapse_score": 22}})
    return bases


def paths_of(obj, prefix=()):
    """Every (container, key) pair inside obj."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((obj, k))
            out += paths_of(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((obj, i))
            out += paths_of(v, prefix + (i,))
    return out


def mutate(data: dict, rng: random.Random) -> dict:
    d = copy.deepcopy(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        spots = paths_of(d)
        if not spots:
            break
        obj, key = rng.choice(spots)
        if rng.random() < 0.25:           # a plausible edit: numbers (also inside quantity text) x0.5-2
            v = obj[key]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                obj[key] = type(v)(v * rng.uniform(0.5, 2)) if isinstance(v, float) else max(1, int(v * rng.uniform(0.5, 2)))
            elif isinstance(v, str) and v[:1].isdigit():
                num, _, unit = v.partition(" ")
                try:
                    obj[key] = f"{float(num) * rng.uniform(0.5, 2):.3g} {unit}"
                except ValueError:
                    pass
            continue
        op = rng.random()
        if op < 0.45:
            obj[key] = copy.deepcopy(rng.choice(HOSTILE))
        elif op < 0.55 and isinstance(obj, dict):
            del obj[key]
        elif op < 0.62 and isinstance(obj, dict):
            obj[rng.choice(["unknown", "Seed", "dose ", "rate", "populaton", "1"])] = rng.choice(HOSTILE[:20])
        elif op < 0.72:
            v = obj[key]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                obj[key] = v * rng.choice([1e6, -1, 0, 1e-9, 2**40])
            elif isinstance(v, str):
                obj[key] = rng.choice([v * 3, v.upper(), v.replace(" ", ""), v + " * 10**10", "-" + v,
                                       v.replace("mg", "g"), "1e9" + v.lstrip("0123456789."), v[: len(v) // 2]])
            elif isinstance(v, list):
                obj[key] = rng.choice([[], v * rng.choice([2, 50, 3000]), v[:1]])
            elif isinstance(v, dict):
                obj[key] = rng.choice([{}, list(v.values()), str(v)])
        elif op < 0.78:
            obj[key] = {DEEP: rng.choice([5, 40, 600, 5000])}     # built in the worker (pickle would recurse)
        elif op < 0.84 and isinstance(obj, dict) and isinstance(obj[key], dict):
            obj[key] = {str(k) + "x": v for k, v in obj[key].items()}
        elif op < 0.9:
            obj[key] = rng.choice([rng.uniform(-1e6, 1e6), rng.randint(-10**6, 10**7), str(rng.uniform(-10, 1e5))])
        else:
            obj[key] = copy.deepcopy(obj[key]) if not isinstance(obj[key], (dict, list)) else [obj[key]]
    return d


def mutate_text(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    op = rng.random()
    if op < 0.2 and lines:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])                          # duplicate key
    elif op < 0.35:
        bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
            f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, rng.randint(3, 9))]
        lines = bomb + lines
    elif op < 0.5:
        n = rng.choice([50, 600, 5000])
        lines.append("design: " + "[" * n + "]" * n)
    elif op < 0.65:
        return text[: rng.randrange(max(len(text), 1))]    # truncated file
    elif op < 0.8:
        b = bytearray(text.encode())
        for _ in range(rng.randint(1, 5)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        return b.decode("utf-8", errors="replace")
    elif op < 0.9 and lines:
        i = rng.randrange(len(lines))
        lines[i] = lines[i] + " &x"                         # a stray anchor
    else:
        lines.append("population: {size: 10}")
    return "\n".join(lines) + "\n"


# ---- the worker ----------------------------------------------------------------------------------------------------
def check_valid(sc) -> str | None:
    from ketasim import limits

    try:
        if not (0 < sc.horizon_h <= limits.MAX_TIME_H + 24 * 15):
            return f"horizon {sc.horizon_h}"
        if sc.n_output_times() < 1:
            return "no output times"
        if not (0 <= sc.seed <= limits.MAX_SEED) or not (1 <= sc.population.size <= limits.MAX_PATIENTS):
            return "seed/size out of range"
        for arm in sc.arms:
            for a in arm.administrations():
                if not (math.isfinite(a.amount) and a.amount >= 0 and 0 <= a.start_h <= limits.MAX_TIME_H):
                    return f"administration {a}"
        if sc.endpoints is not None:
            if not all(0 <= t <= limits.MAX_TIME_H for t in sc.endpoints.times_h):
                return "endpoint times"
            rt = sc.endpoints.remission_threshold
            if rt is not None and not math.isfinite(rt):
                return "remission threshold"
        limits.check_scenario_run(sc)
    except Exception as e:  # noqa: BLE001 - a valid scenario must not fail its own checks
        return f"invariant check raised {type(e).__name__}: {e}"
    return None


def run_case(case: dict, tmp: Path) -> tuple[str, str]:
    """The API outcome of a case; cases marked ``cli`` also go through the CLI (valid or not), whose outcome
    wins when it is a problem."""
    out = api_case(case, tmp)
    if case.get("cli") and case["kind"] == "dict":
        cli_out = run_cli(case, tmp)
        if cli_out[0] not in ("valid", "refused"):
            return cli_out
    return out


def api_case(case: dict, tmp: Path) -> tuple[str, str]:
    import warnings

    import numpy as np

    import ketasim
    from ketasim.errors import KetasimError

    warnings.simplefilter("ignore")
    try:
        if case["kind"] == "text":
            p = tmp / "case.yaml"
            p.write_text(case["text"], encoding="utf-8", errors="replace")
            sc = ketasim.load_scenario(p)
        else:
            sc = ketasim.scenario_from_dict(materialise(case["data"]))
    except KetasimError as e:
        msg = str(e)
        if "\n" in msg or len(msg) >= 600 or ": " not in msg:
            return "nonsense", f"malformed refusal: {msg[:200]!r}"
        return "refused", type(e).__name__
    except BaseException as e:  # noqa: BLE001 - what the fuzz run counts
        return "traceback", "".join(traceback.format_exception_only(type(e), e)).strip()[:300]
    bad = check_valid(sc)
    if bad:
        return "nonsense", bad
    if case.get("simulate"):
        try:
            res = ketasim.simulate(sc, typical=True, output_times_h=[0.0, 24.0])
            if not all(np.isfinite(r.out).all() for r in res.runs):
                return "nonsense", "non-finite simulation output"
        except KetasimError as e:
            if "\n" in str(e):
                return "nonsense", "malformed refusal at simulate"
        except BaseException as e:  # noqa: BLE001
            return "traceback", "simulate: " + "".join(traceback.format_exception_only(type(e), e)).strip()[:300]
        return "valid", "simulated"
    return "valid", ""


def run_cli(case: dict, tmp: Path) -> tuple[str, str]:
    import contextlib
    import io

    import yaml

    from ketasim import cli

    p = tmp / "cli.yaml"
    try:
        text = yaml.safe_dump(materialise(case["data"]), allow_unicode=True)
    except RecursionError:
        return "valid", "not representable as YAML"
    p.write_text(text, encoding="utf-8")
    out = tmp / "cli.csv"
    if out.exists():
        out.unlink()
    err, so = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(so):
        try:
            code = cli.main(["simulate", str(p), "--typical", "--csv", str(out)])
        except SystemExit as e:
            return "silent", f"SystemExit {e.code}"
        except BaseException as e:  # noqa: BLE001
            return "traceback", "cli: " + "".join(traceback.format_exception_only(type(e), e)).strip()[:300]
    lines = [x for x in err.getvalue().splitlines() if not x.startswith("warning:")]
    if code == 0 and not out.exists():
        return "silent", "exit 0 without the CSV"
    if code != 0 and not (lines and lines[-1].startswith("error: ")):
        return "silent", f"exit {code} without an error line"
    if code != 0 and (len(lines) != 1 or code not in (1, 2)):
        return "nonsense", f"exit {code} with {len(lines)} error lines"
    return ("valid", "cli exit 0") if code == 0 else ("refused", "cli exit 2")


def worker(conn) -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        while True:
            case = conn.recv()
            if case is None:
                return
            conn.send(run_case(case, tmp))


class Pool:
    def __init__(self):
        self.ctx = mp.get_context("spawn")
        self.start()

    def start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=worker, args=(child,), daemon=True)
        self.proc.start()

    def run(self, case, timeout: float) -> tuple[str, str, float]:
        t0 = time.perf_counter()
        try:
            self.conn.send(case)
        except (BrokenPipeError, OSError):
            self.restart()
            return "silent", "worker gone before the case", 0.0
        if self.conn.poll(timeout):
            try:
                out, detail = self.conn.recv()
                return out, detail, time.perf_counter() - t0
            except EOFError:
                self.restart()
                return "silent", f"worker died (exit {self.proc.exitcode})", time.perf_counter() - t0
        self.proc.kill()
        self.restart()
        return "hang", f"no answer in {timeout:g} s", time.perf_counter() - t0

    def restart(self):
        try:
            self.proc.kill()
            self.proc.join(5)
        except Exception:  # noqa: BLE001
            pass
        self.start()

    def close(self):
        try:
            self.conn.send(None)
            self.proc.join(10)
        except Exception:  # noqa: BLE001
            self.proc.kill()


FINDINGS = [   # the inputs of issue 11 that froze, exhausted or tracebacked: (label, dose-line change or top-level change)
    ("dose '56 mg * 10**10**10'", {"line": {"dose": "56 mg * 10**10**10"}}),
    ("100,000-character unit", {"line": {"dose": "56 " + "m" * 100_000}}),
    ("at: 1000 year", {"line": {"at": "1000 year"}}),
    ("every 1000 d x 2000", {"line": {"every": "1000 d", "count": 2000}}),
    ("output every 1 s for 10 years", {"top": {"output": {"every": "1 s", "until": "10 year"}}}),
    ("output times [0 h, 1e400 h]", {"top": {"output": {"times": ["0 h", "1e400 h"]}}}),
    ("at: 1e18 h", {"line": {"at": "1e18 h"}}),
    ("seed: -1", {"top": {"seed": -1}}),
    ("remission_threshold NaN", {"top": {"endpoints": {"times": ["24 h"], "remission_threshold": float("nan")}}}),
    ("remission_threshold 1e308", {"top": {"endpoints": {"times": ["24 h"], "remission_threshold": 1e308}}}),
    ("design.relapse_score text", {"top": {"design": {"type": "randomized_withdrawal", "continue": "k",
                                                       "withdraw": "k", "relapse_score": "many"}}}),
    ("nesting 600 levels deep", {"top": {"design": {DEEP: 600}}}),
]


def findings() -> list[dict]:
    """Time to refusal of each input of the issue (in-process, after warm-up)."""
    import ketasim
    from ketasim.errors import KetasimError

    base = {"name": "f", "arms": {"k": [{"drug": "racemic-ketamine", "route": "iv-infusion", "dose": "0.5 mg/kg",
                                          "duration": "40 min"}]}}
    ketasim.scenario_from_dict(base)
    rows = []
    for label, ch in FINDINGS:
        d = copy.deepcopy(base)
        d["arms"]["k"][0].update(ch.get("line", {}))
        d.update(ch.get("top", {}))
        d = materialise(d)
        t0 = time.perf_counter()
        try:
            ketasim.scenario_from_dict(d)
            out = "ACCEPTED"
        except KetasimError as e:
            out = str(e)[:110]
        rows.append({"input": label, "ms": round((time.perf_counter() - t0) * 1000, 3), "answer": out})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--text-share", type=float, default=0.2, help="share of cases mutated as YAML text")
    ap.add_argument("--simulate-every", type=int, default=3, help="simulate every n-th case (if valid)")
    ap.add_argument("--cli-every", type=int, default=20, help="run every n-th dict case through the CLI too")
    ap.add_argument("--json", type=Path, default=None, help="write the counts as JSON")
    ap.add_argument("--findings-only", action="store_true", help="only time the refusal of the issue's inputs")
    a = ap.parse_args(argv)
    import yaml

    rows = findings()
    for r in rows:
        print(f"{r['input']:34s} {r['ms']:8.3f} ms  {r['answer']}")
    if a.findings_only:
        return 0 if all(r["answer"] != "ACCEPTED" for r in rows) else 1

    rng = random.Random(a.seed)
    bases = load_bases()
    pool = Pool()
    pool.run({"kind": "dict", "data": bases[-2], "simulate": True}, 300)   # warm: imports + compiled kernel
    counts = {k: 0 for k in ("valid", "refused", "traceback", "hang", "silent", "nonsense")}
    examples: dict[str, list] = {k: [] for k in counts}
    t_start = time.perf_counter()
    slowest = 0.0
    extra = {"simulated": 0, "through_cli": 0, "yaml_text_cases": 0}
    for i in range(a.cases):
        base = rng.choice(bases)
        if rng.random() < a.text_share:
            case = {"kind": "text", "text": mutate_text(yaml.safe_dump(base, sort_keys=False), rng)}
            extra["yaml_text_cases"] += 1
        else:
            case = {"kind": "dict", "data": mutate(base, rng), "simulate": i % a.simulate_every == 0,
                    "cli": i % a.cli_every == 0}
        out, detail, dt = pool.run(case, a.timeout)
        slowest = max(slowest, dt)
        counts[out] += 1
        if detail == "simulated":
            extra["simulated"] += 1
        if case.get("cli"):
            extra["through_cli"] += 1
        if out not in ("valid", "refused") and len(examples[out]) < 5:
            examples[out].append({"case": i, "detail": detail,
                                  "input": repr(case.get("data", case.get("text")))[:400]})
        if (i + 1) % 1000 == 0:
            print(f"{i + 1:6d} cases  {json.dumps(counts)}  {time.perf_counter() - t_start:.0f} s", flush=True)
    pool.close()
    elapsed = time.perf_counter() - t_start
    summary = {"findings": rows, "cases": a.cases, "seed": a.seed, "timeout_s": a.timeout, "counts": counts,
               **extra,
               "slowest_case_s": round(slowest, 3), "elapsed_s": round(elapsed, 1),
               "problems": {k: v for k, v in examples.items() if v}}
    print(json.dumps(summary, indent=1))
    if a.json:
        a.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    bad = sum(counts[k] for k in ("traceback", "hang", "silent", "nonsense"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
