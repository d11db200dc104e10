"""Layers in order (model -> engine -> trial/calibration -> reporting -> web/CLI): every import inside the package,
including imports inside functions, points downward, and there is no import cycle."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import ketasim

PKG = Path(ketasim.__file__).resolve().parent

#: Layer of each module (a module may import only its own layer or lower ones). Unlisted modules are checked
#: for cycles only.
LAYER = {
    "vocabulary": 0, "errors": 0, "units": 0, "model.expr": 1, "model.core": 1, "model.definition": 1, "model": 1,
    "model.codegen": 1, "solver.generated_kernel": 1, "solver.expint": 1, "solver.kernel": 2, "solver.reference": 2,
    "parameters": 1, "regimen": 1, "population": 1, "pk": 1, "solver.grid": 1, "engine": 2, "result": 2,
    "scenario": 3, "scale": 3, "export": 3, "nca": 3, "trial": 4, "calibration": 4, "covariates": 4, "power": 4, "sensitivity": 4, "personal": 4, "record": 3, "plan_report": 5, "observed": 4, "external": 4, "display": 5, "summary": 5, "plotting": 5, "report": 5,
    "app": 6, "web.figures": 5, "web.api": 6, "web.server": 7, "cli": 8,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """ketasim modules imported by a file (relative and absolute), anywhere in it."""
    me = _module_name(path).split(".") if _module_name(path) else []
    pkg = me if path.name == "__init__.py" else me[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                mod = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("ketasim"):
                mod = node.module[len("ketasim."):] if node.module != "ketasim" else ""
            else:
                continue
            names = [a.name for a in node.names]
            for n in names:           # "from . import figures" imports a module
                cand = f"{mod}.{n}" if mod else n
                if (PKG / Path(*cand.split("."))).with_suffix(".py").exists():
                    out.add(cand)
                    break
            else:
                out.add(mod)
    return {m for m in out if m}


def _graph():
    g = {}
    for p in PKG.rglob("*.py"):
        if "__pycache__" in p.parts:
            continue
        g[_module_name(p)] = _imports(p)
    return g


def test_no_import_cycles():
    g = _graph()
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in g.get(n, ()):
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if m in g and not state.get(m):
                visit(m)
        stack.pop()
        state[n] = 2

    for n in list(g):
        if not state.get(n):
            visit(n)


def test_imports_point_down_the_layers():
    bad = []
    for mod, deps in _graph().items():
        if mod not in LAYER:
            continue
        for d in deps:
            if d in LAYER and LAYER[d] > LAYER[mod]:
                bad.append(f"{mod} (layer {LAYER[mod]}) imports {d} (layer {LAYER[d]})")
    assert not bad, "; ".join(bad)


def test_no_cli_code_in_trial_or_calibration():
    for mod in ("trial", "calibration"):
        text = (PKG / f"{mod}.py").read_text(encoding="utf-8")
        assert "_cli(" not in text and "print(" not in text and "sys.stderr" not in text, mod


def test_switches_and_measures_are_defined_once():
    from ketasim.engine import EXPERIMENT_SWITCHES, VirtualExperiment
    from ketasim.scenario import DEFAULT_MEASURES, KNOWN_MEASURES
    from ketasim import trial, vocabulary

    assert EXPERIMENT_SWITCHES == tuple(f.name for f in dataclasses.fields(VirtualExperiment))
    from ketasim.scenario import _Experiments     # the YAML schema lists the same switches (pydantic needs fields)

    assert tuple(_Experiments.model_fields) == EXPERIMENT_SWITCHES
    assert KNOWN_MEASURES is vocabulary.KNOWN_MEASURES and DEFAULT_MEASURES is vocabulary.DEFAULT_MEASURES
    assert trial.BAND_VARIABLES == vocabulary.TRIAL_BAND_VARIABLES
    assert ketasim.NOTICE is vocabulary.NOTICE
