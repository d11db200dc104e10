"""Generate the compiled kernel of a :class:`~ketasim.model.core.Model` (straight-line scalar numba code).

The PK machinery (modal blocks, depots, dosing events, effect sites, the event-aligned grid, per-session
windows and discharge interpolation) is fixed solver infrastructure written in ``_TEMPLATE`` below; every
equation of the chain (functions, algebraics, states, event effects, outputs, summaries) is generated from the
model definition. Each state is a scalar local (``x_<name>``) and its values at the start, middle and end of a
step are scalars too (``x_<name>_0/_m/_1``): no arrays or views per state and step (a numpy view per state
and step cost more than the arithmetic: ~30 %).

Why generated code on disk: numba's ``cache=True`` needs a source file, and a committed file can be read and
diffed. ``solver/generated_kernel.py`` is the default model's kernel (``python -m ketasim.model.codegen``
rewrites it; a test checks that regenerating changes nothing). Variant models get their kernel written to a
cache directory named by the hash of their source (``kernel_module``).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

from . import expr as E
from .core import PK_OUTPUT_SOURCE, Model

GENERATED_PATH = Path(__file__).resolve().parents[1] / "solver" / "generated_kernel.py"
NODES = ("0", "m", "1")
_CE_SLOT = {"ce_s": 0, "ce_r": 1, "ce_snk": 2, "ce_rnk": 3, "ce_hnk": 4, "ce_mdz": 5}
EVENT_CODES = {"bolus": 0, "depot": 1, "rate": 2, "session": 3, "antidepressant_start": 4, "general_anesthesia": 5}


class _Namer:
    """Python names of model symbols at one evaluation point (a step node, or an output/grid point)."""

    hoister = None     # a _Hoister while generate() runs

    def __init__(self, m: Model, node: int | None):
        self.node = node                       # 0, 1, 2 = start, middle, end of a step; None = grid point
        self.kind = {}
        for k in ("constants", "patient", "rates", "inputs", "algebraics", "states"):
            for n in m.names(k):
                self.kind[n] = k
        self.rate_state = {r: m.states[j].name for r, j in m.rate_owner().items()}

    def __call__(self, name: str) -> str:
        k = self.kind.get(name)
        sfx = "" if self.node is None else "_" + NODES[self.node]
        if k == "constants":
            return f"mc_{name}"
        if k == "patient":
            return f"pp_{name}"
        if k == "rates":     # a rate constant is read from the row of the first state that uses it
            return f"rate_{self.rate_state[name]}"
        if k == "inputs":
            return f"in_{name}"
        if k == "algebraics":
            return f"a_{name}{sfx}"
        if k == "states":
            return f"x_{name}" if self.node in (None, 0) else f"x_{name}{sfx}"
        if name in _CE_SLOT:
            return f"ce[{_CE_SLOT[name]}]" if self.node is None else f"cen[{_CE_SLOT[name]}, {self.node}]"
        if name in PK_OUTPUT_SOURCE:     # plasma, ng/mL: venous (sampled) or arterial (central)
            b, site = PK_OUTPUT_SOURCE[name]
            if self.node is None:
                return f"c[{b}]" if site == "venous" else f"ca[{b}]"
            if site == "arterial":
                return f"(cn[{b}, {self.node}] * 1000.0)"
            return f"(_venous_node(kappa_venous, zn, nmodes, i, {b}, {self.node}) * 1000.0)"
        if name.startswith(("o_", "inv_")):
            return name
        raise KeyError(name)


class _FastMath(ast.NodeTransformer):
    """``a ** b``, ``tanh`` and ``exp`` of the step code as calls of the kernel's ``f__pow``, ``f__tanh``, ``f__exp``
    (see the template): libm's pow and tanh cost about twice an exp; in the kernel's step loop they were ~15 % of its
    time. Per-patient invariants (``_inv_k``) keep Python's ``**``."""

    def visit_BinOp(self, n):
        self.generic_visit(n)
        if isinstance(n.op, ast.Pow) and not isinstance(n.right, ast.Constant):   # x ** 2.0: LLVM multiplies
            return ast.copy_location(ast.Call(func=ast.Name(id="_pow", ctx=ast.Load()), args=[n.left, n.right],
                                              keywords=[]), n)
        return n

    def visit_Call(self, n):
        self.generic_visit(n)
        if isinstance(n.func, ast.Name) and n.func.id in ("tanh", "exp"):
            n.func = ast.Name(id="_" + n.func.id, ctx=ast.Load())
        return n


def _fast(text: str) -> str:
    """Expression text with pow/tanh/exp routed to the kernel's fast versions (``_FastMath``)."""
    return ast.unparse(_FastMath().visit(copy.deepcopy(E.parse(text))))


def _py(text, namer, out_names=None):
    hoister = getattr(namer, "hoister", None)
    if hoister is not None:
        text = hoister(text)
    text = _fast(text)
    if out_names:
        base = namer

        def namer(n, base=base):   # noqa: E731 - outputs referenced by summaries
            return f"o_{n}{'' if base.node is None else '_' + NODES[base.node]}" if n in out_names else base(n)
    return E.to_python(text, namer, func_prefix="f_")


def _algebraic_deps(m: Model):
    deps = {a.name: E.names(a.expr) for a in m.algebraics}
    return deps


def _needed_algebraics(m: Model, texts, done: set) -> list:
    """Algebraics (in declaration order) that ``texts`` need, transitively, minus ``done``."""
    deps = _algebraic_deps(m)
    need, todo = set(), [n for t in texts for n in E.names(t)]
    while todo:
        n = todo.pop()
        if n in deps and n not in need and n not in done:
            need.add(n)
            todo += deps[n]
    return [a for a in m.algebraics if a.name in need]


class _Hoister:
    """Per-patient invariants out of the step loop: in a call ``f(args)`` of a model function whose arguments
    are constants, per-patient parameters or numbers, a pow or call of the body that reads only those arguments
    (e.g. ``ec50 ** hill`` of an Emax model) is computed once per patient (``inv_k``) and the call goes to a
    variant of ``f`` taking it as an argument. Same operations on the same values: bitwise the same results.
    (numba cannot hoist it itself: with Python's error model ``**`` may raise, so it is not a pure function.)

    Divisions by a per-patient invariant (``ce / ki``, ``x / spine_set_point``, ``cadss / monitor_cadss``), in the
    step code or in a function body whose divisor reads only invariant arguments, become multiplications by its
    reciprocal computed once per patient (within 1 ulp of the quotient; ~30 divisions per step were a good part of
    the step's time: a division costs 3-5 multiplications of throughput and ~13 cycles of latency)."""

    def __init__(self, m: Model):
        self.m = m
        self.funcs = {f.name: f for f in m.functions}
        kinds = {}
        for k in ("constants", "patient", "rates"):
            for n in m.names(k):
                kinds[n] = k
        self.kinds = kinds
        self.invariants = {}      # text (model names) -> inv_k
        self.variants = {}        # (function, hoisted dumps) -> (name, args, body text)

    def _invariant(self, node) -> bool:
        return all(isinstance(n, ast.Constant) or isinstance(n, ast.Name) and n.id in self.kinds
                   or isinstance(n, (ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Load, ast.expr_context))
                   for n in ast.walk(node))

    def __call__(self, text: str) -> str:
        tree = copy.deepcopy(E.parse(text))
        tree = self._visit(tree)
        return ast.unparse(tree)

    def _register(self, text: str) -> str:
        text = ast.unparse(ast.parse(text, mode="eval").body)      # one spelling: one invariant
        if text not in self.invariants:
            self.invariants[text] = f"inv_{len(self.invariants)}"
        return self.invariants[text]

    @staticmethod
    def _recip_div(node, invariant) -> bool:
        """``a / b`` with a non-literal divisor that ``invariant`` accepts (a literal: LLVM handles it)."""
        return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and \
            not isinstance(node.right, ast.Constant) and invariant(node.right)

    def _visit(self, node):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                setattr(node, field, [self._visit(v) if isinstance(v, ast.AST) else v for v in value])
            elif isinstance(value, ast.AST):
                setattr(node, field, self._visit(value))
        if isinstance(node, ast.Call) and node.func.id in self.funcs:
            return self._specialise(node)
        if self._recip_div(node, self._invariant):
            inv = self._register(f"1.0 / ({ast.unparse(node.right)})")
            return ast.copy_location(ast.BinOp(left=node.left, op=ast.Mult(), right=ast.Name(id=inv, ctx=ast.Load())),
                                     node)
        return node

    def _specialise(self, call):
        f = self.funcs[call.func.id]
        bound = {a: arg for a, arg in zip(f.args, call.args) if self._invariant(arg)}
        if not bound:
            return call
        body = copy.deepcopy(E.parse(f.expr))
        found = []

        def bound_only(n):
            names = {x.id for x in ast.walk(n) if isinstance(x, ast.Name)}
            return bool(names) and names <= set(bound) and not any(isinstance(x, ast.Call) for x in ast.walk(n))

        class _Recip(ast.NodeTransformer):      # a / b, b of bound arguments only -> a * (1.0 / b), hoisted below
            def visit_BinOp(self, n):
                self.generic_visit(n)
                if _Hoister._recip_div(n, bound_only):
                    one = ast.BinOp(left=ast.Constant(1.0), op=ast.Div(), right=n.right)
                    return ast.copy_location(ast.BinOp(left=n.left, op=ast.Mult(), right=one), n)
                return n

        body = _Recip().visit(body)

        def walk(n):
            worth = isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Pow, ast.Div)) or \
                isinstance(n, ast.Call) and n.func.id in ("exp", "log", "sqrt", "tanh")
            names = {x.id for x in ast.walk(n) if isinstance(x, ast.Name)}
            calls = any(isinstance(x, ast.Call) and x.func.id not in ("exp", "log", "sqrt", "tanh", "min", "max", "abs")
                        for x in ast.walk(n))
            if worth and names and names <= set(bound) and not calls:
                found.append(n)
                return
            for c in ast.iter_child_nodes(n):
                walk(c)

        walk(body)
        if not found:
            return call
        dumps = tuple(dict.fromkeys(ast.dump(n) for n in found))
        key = (f.name, dumps)
        if key not in self.variants:
            params = [f"_h{j}" for j in range(len(dumps))]

            class _Sub(ast.NodeTransformer):
                def visit(self, n):
                    if isinstance(n, ast.expr) and ast.dump(n) in dumps:
                        return ast.copy_location(ast.Name(id=params[dumps.index(ast.dump(n))], ctx=ast.Load()), n)
                    return self.generic_visit(n)

            self.variants[key] = (f"{f.name}__{len(self.variants)}", tuple(f.args) + tuple(params),
                                  ast.unparse(_Sub().visit(copy.deepcopy(body))))
        name, _, _ = self.variants[key]
        extra = []
        for d in dumps:
            sub = next(n for n in found if ast.dump(n) == d)

            class _Bind(ast.NodeTransformer):
                def visit_Name(self, n):
                    return copy.deepcopy(bound[n.id]) if n.id in bound else n

            text = ast.unparse(_Bind().visit(copy.deepcopy(sub)))
            extra.append(ast.Name(id=self._register(text), ctx=ast.Load()))
        return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(call.args) + extra, keywords=[])


def _pure_calls(node) -> list:
    """Pow and math/model-function calls that ``node`` always evaluates (not inside a piecewise or after the
    first operand of and/or, which are evaluated lazily)."""
    out = []

    def walk(n):
        if isinstance(n, ast.Call) and n.func.id == "piecewise":
            return
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) or \
                isinstance(n, ast.Call) and n.func.id not in ("min", "max", "abs"):
            out.append(n)
        if isinstance(n, ast.BoolOp):
            walk(n.values[0])
            return
        for c in ast.iter_child_nodes(n):
            walk(c)

    walk(node)
    return out


def _function_body(text: str, depth: int = 1) -> list:
    """Statements of a model function: a piecewise in tail position becomes if/else (so a fast path skips the
    other branch), and a pow or call evaluated twice in a branch is evaluated once into a local (numba does not
    merge repeated ``**``: with Python's error model it may raise, so it is not a pure function to LLVM).
    The same operations on the same values: results are bitwise those of the one-line expression."""
    ind = "    " * depth
    tree = copy.deepcopy(E.parse(text))
    if isinstance(tree, ast.Call) and tree.func.id == "piecewise":
        value, cond, other = (ast.unparse(a) for a in tree.args)
        return ([f"{ind}if {E.to_python(_fast(cond), lambda s: s, func_prefix='f_')}:"] + _function_body(value, depth + 1)
                + [f"{ind}else:"] + _function_body(other, depth + 1))
    seen, lines = {}, []
    for n in _pure_calls(tree):
        seen.setdefault(ast.dump(n), []).append(n)
    temps = {}
    for key, nodes in seen.items():
        if len(nodes) > 1:
            temps[key] = f"_t{depth}_{len(temps)}"
            lines.append(f"{ind}{temps[key]} = {E.to_python(_fast(ast.unparse(nodes[0])), lambda s: s, func_prefix='f_')}")

    class _Sub(ast.NodeTransformer):
        def visit(self, n):
            if isinstance(n, ast.expr) and ast.dump(n) in temps:
                return ast.copy_location(ast.Name(id=temps[ast.dump(n)], ctx=ast.Load()), n)
            return self.generic_visit(n)

    if temps:
        tree = _Sub().visit(tree)
    lines.append(f"{ind}return {E.to_python(_fast(ast.unparse(tree)), lambda s: s, func_prefix='f_')}")
    return lines


def generate(m: Model) -> str:
    """Source of the kernel module for model ``m``."""
    m.validate()
    hoister = _Hoister(m)
    _Namer.hoister = hoister
    try:
        return _generate(m, hoister)
    finally:
        _Namer.hoister = None


def _generate(m: Model, hoister: _Hoister) -> str:
    L = []   # function definitions
    for f in m.functions:
        body = "\n".join(_function_body(f.expr))
        L.append(f"@njit(cache=True, fastmath=FMA)\ndef f_{f.name}({', '.join(f.args)}):\n{body}\n")
    functions = "\n\n".join(L)

    ind = " " * 4
    loads = []
    for j, c in enumerate(m.constants):
        loads.append(f"mc_{c.name} = mc[{j}]")
    for j, p in enumerate(m.patient):
        loads.append(f"pp_{p.name} = pp_i[{j}]")
    for j, s in enumerate(m.states):
        loads.append(f"rate_{s.name} = rates[{10 + j}]")
    loads.append("@INV@")
    pt = _Namer(m, None)
    for i in m.inputs:
        loads.append(f"in_{i.name} = {float(i.init)!r}")
    for s in m.states:
        loads.append(f"x_{s.name} = {_py(s.init, pt)}")
    loads_src = "\n".join(ind + x for x in loads)

    # events acting on the model
    ev_src = {}
    for kind in ("session", "antidepressant_start", "general_anesthesia"):
        lines = []
        for e in m.events:
            if e.on == kind:
                tgt = pt(e.target)
                val = _py(e.expr, pt)
                lines.append(f"{tgt} = {tgt} + {val}" if e.op == "+" else f"{tgt} = {val}")
        ev_src[kind] = "\n".join(" " * 16 + x for x in lines) or " " * 16 + "pass"

    # one step of the chain. The start-of-step (node 0) values of every algebraic and forcing equal the previous
    # step's end (node 1) values unless an event happened at the grid point in between, so node 0 is computed
    # only then (``fresh``) and otherwise carried over: the same numbers, a third fewer evaluations.
    step0, step = [], []
    done = {0: set(), 1: set(), 2: set()}      # algebraics already computed at each node in this step
    for j, s in enumerate(m.states):
        mult, f = s.forcing_terms()
        for k in range(3):
            nm = _Namer(m, k)
            for a in _needed_algebraics(m, [f], done[k]):
                (step0 if k == 0 else step).append(f"a_{a.name}_{NODES[k]} = {_py(a.expr, nm)}")
                done[k].add(a.name)
        g = f"rate_{s.name}" if s.target is not None else _py(mult, pt)
        fs = [_py(f, _Namer(m, k)) for k in range(3)]
        # a gain-form state (dx/dt = gain * drive - k x) whose gain is a per-patient constant that may be 0 (a
        # hypothesis switched off, e.g. the anesthetic state): its drive (pows) is not evaluated then. Exact for a
        # finite drive: 0 * drive is 0 either way.
        gated = s.target is None and bool(E.names(mult)) and \
            all(n in m.names("constants") or n in m.names("patient") for n in E.names(mult)) and \
            any(isinstance(x, ast.Call) and x.func.id not in ("min", "max", "abs") for x in ast.walk(E.parse(f)))
        step.append(f"# {s.name}: " + (f"dx/dt = piecewise({s.rate_rising}, target > x, {s.rate}) * ({s.target} - x)"
                                        if s.rate_rising is not None
                                        else f"dx/dt = {s.rate} * ({s.target} - x)" if s.target is not None
                                        else f"dx/dt = {s.gain} * ({s.drive}) - {s.rate} * x"))
        if s.rate_rising is not None:
            # rises at rate_rising, falls at rate: the rate (and its weights' row) chosen at the step's start; the
            # start forcing is recomputed with it (the carried one may hold the other rate)
            j_up = m.rate_owner()[s.rate_rising]
            step.append(f"t0 = {fs[0]}")
            step.append(f"if t0 > x_{s.name}:")
            step.append(f"    g = rate_{m.states[j_up].name}")
            step.append(f"    r = {10 + j_up}")
            step.append("else:")
            step.append(f"    g = rate_{s.name}")
            step.append(f"    r = {10 + j}")
            step.append(f"F_{s.name}_0 = g * t0")
            step0.append(f"F_{s.name}_0 = 0.0")
            step.append(f"F_{s.name}_1 = g * {fs[2]}")
            step.append(f"x_{s.name}_m, x_{s.name}_1 = _adv(x_{s.name}, F_{s.name}_0, g * {fs[1]}, F_{s.name}_1, "
                        "w_shared, r, u)")
            continue
        step.append(f"g = {g}")
        if gated:
            step0.append(f"F_{s.name}_0 = ({g} * {fs[0]}) if {g} != 0.0 else 0.0")
            step.append("if g != 0.0:")
            step.append(f"    F_{s.name}_1 = g * {fs[2]}")
            step.append(f"    x_{s.name}_m, x_{s.name}_1 = _adv(x_{s.name}, F_{s.name}_0, g * {fs[1]}, F_{s.name}_1, "
                        f"w_shared, {10 + j}, u)")
            step.append("else:")
            step.append(f"    F_{s.name}_1 = 0.0")
            step.append(f"    x_{s.name}_m, x_{s.name}_1 = _adv(x_{s.name}, F_{s.name}_0, 0.0, 0.0, w_shared, {10 + j}, u)")
        else:
            step0.append(f"F_{s.name}_0 = {g} * {fs[0]}")
            step.append(f"F_{s.name}_1 = g * {fs[2]}")
            step.append(f"x_{s.name}_m, x_{s.name}_1 = _adv(x_{s.name}, F_{s.name}_0, g * {fs[1]}, F_{s.name}_1, "
                        f"w_shared, {10 + j}, u)")
    step_src = "\n".join(" " * 8 + x for x in step)
    step0_src = "\n".join(" " * 12 + x for x in step0) or " " * 12 + "pass"
    chain_alg = [a.name for a in m.algebraics if a.name in done[2]]
    carried = [f"a_{a}" for a in chain_alg] + [f"F_{s.name}" for s in m.states]
    init0_src = "\n".join(ind + f"{v}_0 = 0.0" for v in carried)
    commit_src = "\n".join(" " * 8 + f"x_{s.name} = x_{s.name}_1" for s in m.states)
    commit_src += "\n" + "\n".join(" " * 8 + f"{v}_0 = {v}_1" for v in carried)

    # outputs at a grid point: the chain's algebraics there are its node-0 values of the step that starts there
    # (computed or carried just before), so only the others are evaluated
    class _AtPoint(_Namer):
        def __call__(self, name):
            return f"a_{name}_0" if name in done[0] else super().__call__(name)

    at = _AtPoint(m, None)
    out_lines = []
    out_exprs = [o.expr for o in m.outputs]
    for a in _needed_algebraics(m, out_exprs, set(done[0])):
        out_lines.append(f"a_{a.name} = {_py(a.expr, at)}")
    for j, o in enumerate(m.outputs):
        out_lines.append(f"out[i, o, {j}] = {_py(o.expr, at)}")
    outputs_src = "\n".join(" " * 12 + x for x in out_lines)

    # per-session peaks and discharge margin at the three nodes (node 0 carried over like the chain's)
    out_names = set(m.output_names)
    summ0, summ = [], []
    need_out = {s.of for s in m.summaries} | (E.names(m.discharge_margin) & out_names)
    outs = [o for o in m.outputs if o.name in need_out]
    for k in range(3):
        nm = _Namer(m, k)
        tgt = summ0 if k == 0 else summ
        for a in _needed_algebraics(m, [o.expr for o in outs], done[k]):
            tgt.append(f"a_{a.name}_{NODES[k]} = {_py(a.expr, nm)}")
            done[k].add(a.name)
        for o in outs:
            tgt.append(f"o_{o.name}_{NODES[k]} = {_py(o.expr, nm)}")
        tgt.append(f"margin{k} = {_py(m.discharge_margin, nm, out_names)}")
        if k > 0:
            for j, s in enumerate(m.summaries):
                summ.append(f"summ[i, sess, {j}] = max(summ[i, sess, {j}], o_{s.of}_{NODES[k]})")
    # a peak inside a step: the vertex of the parabola through the step's three nodes (the nodes alone missed the
    # peak by up to 3.5e-4 of its range for CADSS with the default grid); the end values carry to the next step
    peak_of = list(dict.fromkeys(s.of for s in m.summaries))
    for j, s in enumerate(m.summaries):
        summ.append(f"summ[i, sess, {j}] = max(summ[i, sess, {j}], _peak3(o_{s.of}_0, o_{s.of}_m, o_{s.of}_1))")
    summ += [f"o_{o}_0 = o_{o}_1" for o in peak_of]
    summ_src = "\n".join(" " * 12 + x for x in summ)
    init0_src += "\n" + "\n".join(ind + f"o_{o}_0 = 0.0" for o in peak_of)
    summ0_src = "\n".join(" " * 16 + x for x in summ0) or " " * 16 + "pass"

    # the hoisted invariants (computed once per patient) and the function variants that receive them
    plain = _Namer(m, None)
    inv_loads = []
    for (_, _), (name, args, body) in hoister.variants.items():
        functions += (f"\n\n@njit(cache=True, fastmath=FMA)\ndef f_{name}({', '.join(args)}):\n"
                      + "\n".join(_function_body(body)) + "\n")
    for text, inv in hoister.invariants.items():
        used = sorted(E.names(text))
        functions += (f"\n\n@njit(cache=True, error_model='numpy')   # inf/nan, never an exception, if unused\n"
                      f"def _{inv}({', '.join(used)}):\n    return {E.to_python(text, lambda s: s, func_prefix='f_')}\n")
        inv_loads.append(f"{ind}{inv} = _{inv}({', '.join(plain(u) for u in used)})")
    loads_src = loads_src.replace(ind + "@INV@", "\n".join(inv_loads) or ind + "pass")

    consts = {
        "MODEL_NAME": repr(m.name), "DIGEST": repr(m.digest()), "SOLVER_DIGEST": repr(_solver_digest()),
        "MC_NAMES": repr(m.names("constants")), "PP_NAMES": repr(m.names("patient")),
        "STATE_NAMES": repr(m.names("states")), "OUT_NAMES": repr(m.output_names),
        "SUM_NAMES": repr(m.summary_names), "N_DISCHARGE": str(len(m.summaries)),
    }
    from ..pk import FIXED_F_DEPOTS

    # IM and SC depots (no random effect on F): a range test when they are consecutive (as in pk.DEPOTS)
    lo, hi = min(FIXED_F_DEPOTS), max(FIXED_F_DEPOTS)
    consts["FIXED_F_TEST"] = (f"{lo} <= tg <= {hi}" if sorted(FIXED_F_DEPOTS) == list(range(lo, hi + 1))
                              else " or ".join(f"tg == {d}" for d in FIXED_F_DEPOTS))
    src = _TEMPLATE
    for key, val in consts.items():
        src = src.replace(f"@{key}@", val)
    return (src.replace("@FUNCTIONS@", functions).replace("@LOADS@", loads_src)
            .replace("@EV_SESSION@", ev_src["session"]).replace("@EV_AD_START@", ev_src["antidepressant_start"])
            .replace("@EV_GA@", ev_src["general_anesthesia"]).replace("@OUTPUTS@", outputs_src)
            .replace("@STEP@", step_src).replace("@SUMMARIES@", summ_src).replace("@COMMIT@", commit_src)
            .replace("@STEP0@", step0_src).replace("@SUMMARIES0@", summ0_src).replace("@INIT0@", init0_src))


def _solver_digest() -> str:
    """Hash of the compiled solver code the kernel calls (``solver/expint.py``). numba's on-disk cache of the kernel
    is keyed on the kernel file only and would keep stale copies of these functions; writing their hash into the
    kernel makes any change to them change the kernel file (and the freshness test asks for a regeneration)."""
    src = (Path(__file__).resolve().parents[1] / "solver" / "expint.py").read_bytes()
    return hashlib.sha256(src).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
_LOADED = {}


def _cache_dir() -> Path:
    d = Path(os.environ.get("KETASIM_CACHE_DIR") or Path(tempfile.gettempdir()) / f"ketasim-kernels-{os.getuid()}")
    d.mkdir(parents=True, exist_ok=True)
    return d


def kernel_module(m: Model):
    """The compiled kernel module of model ``m`` (the committed one for the default model)."""
    digest = m.digest()
    if digest in _LOADED:
        return _LOADED[digest]
    from ..solver import generated_kernel as default

    if default.DIGEST == digest:
        _LOADED[digest] = default
        return default
    src = generate(m)
    # named by the source's own hash: two package versions (different templates) never share a file
    key = hashlib.sha256(src.encode()).hexdigest()[:16]
    path = _cache_dir() / f"kernel_{key}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != src:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(src, encoding="utf-8")
        os.replace(tmp, path)   # atomic: never a half-written module
    name = f"ketasim_kernel_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    _LOADED[digest] = mod
    return mod


def write_default() -> bool:
    """(Re)write solver/generated_kernel.py from the default model; True if it changed."""
    from .definition import MODEL

    src = generate(MODEL)
    old = GENERATED_PATH.read_text(encoding="utf-8") if GENERATED_PATH.exists() else None
    if old == src:
        return False
    GENERATED_PATH.write_text(src, encoding="utf-8")
    return True


_TEMPLATE = '''"""GENERATED by ketasim.model.codegen from the model definition (ketasim/model/definition.py): do not edit.

Regenerate with ``python -m ketasim.model.codegen``. Model @MODEL_NAME@, digest @DIGEST@.
The PK machinery is the fixed template of ``ketasim.model.codegen``; the chain's equations are generated.
"""

import math

import numpy as np
from numba import njit, prange

from ketasim.pk import MAX_MODES as NM
from ketasim.solver.expint import step_weights_at, step_weights_const_at

MODEL_NAME = @MODEL_NAME@
DIGEST = @DIGEST@
SOLVER_DIGEST = @SOLVER_DIGEST@   # solver/expint.py, whose compiled code numba caches inside this kernel
MC_NAMES = @MC_NAMES@
PP_NAMES = @PP_NAMES@
STATE_NAMES = @STATE_NAMES@
OUT_NAMES = @OUT_NAMES@
SUM_NAMES = @SUM_NAMES@
N_OUT = len(OUT_NAMES)
N_SUM = len(SUM_NAMES)
N_RATES = 10 + len(STATE_NAMES)
EV_BOLUS, EV_DEPOT, EV_RATE, EV_SESSION, EV_AD_START, EV_GENERAL_ANESTHESIA = range(6)
RATE_SLOT = (0, 1, -1, -1, -1, 2)      # block -> infusion slot (S, R, midazolam)
# LLVM may fuse a * b + c into one fused multiply-add (one rounding instead of two: as accurate or more; results
# move by ~1e-14 of a variable's range). Nothing else of fastmath (no reassociation, NaN/inf assumptions).
FMA = {"contract"}


@njit(cache=True, inline='always', fastmath=FMA)
def f__pow(x, y):
    """``x ** y`` of the model's expressions: exp(y log x) for finite x > 0 (within ~1e-15 relative; libm's pow
    cost as much as an exp and a log twice over), Python's ``**`` otherwise."""
    if x > 0.0 and x < math.inf:
        return math.exp(y * math.log(x))
    return x ** y


@njit(cache=True, inline='always', fastmath=FMA)
def f__tanh(x):
    """tanh: odd Taylor polynomial to x^9 for |x| < 0.02 (remainder < 1e-19 relative), else (1 - e)/(1 + e) with
    e = exp(-2|x|) (within 3e-15 relative): one exp instead of libm's tanh (an expm1 and more, ~3x an exp)."""
    a = abs(x)
    if a < 0.02:
        x2 = x * x
        return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))))
    e = math.exp(-2.0 * a)
    t = (1.0 - e) / (1.0 + e)
    return t if x >= 0.0 else -t


@njit(cache=True, inline='always', fastmath=FMA)
def f__exp(x):
    """exp, skipping the call for an argument of exactly 0 (e.g. exp(-anesthetic_state) with the state off)."""
    if x == 0.0:
        return 1.0
    return math.exp(x)


@FUNCTIONS@

@njit(cache=True, inline='always', fastmath=FMA)
def _adv(x0, f0, fm, f1, w, r, u):
    """(x at mid-step, x at end of step) for forcing values f0, fm, f1 and the weights w[r, u, 0:8]."""
    return (w[r, u, 1] * x0 + w[r, u, 5] * f0 + w[r, u, 6] * fm + w[r, u, 7] * f1,
            w[r, u, 0] * x0 + w[r, u, 2] * f0 + w[r, u, 3] * fm + w[r, u, 4] * f1)


@njit(cache=True, inline='always', fastmath=FMA)
def _peak3(f0, fm, f1):
    """Largest value over a step of the parabola through its start, middle and end values f0, fm, f1 when the middle
    one is the largest (then the vertex lies in the step's middle half): fm + (f1 - f0)^2 / (8 c), c = 2 fm - f0 - f1
    > 0; otherwise fm (the end values are the nodes' own maxima)."""
    c = 2.0 * fm - f0 - f1
    if fm >= f0 and fm >= f1 and c > 0.0:
        return fm + (f1 - f0) * (f1 - f0) / (8.0 * c)
    return fm


@njit(cache=True, inline='always', fastmath=FMA)
def _venous_node(kappa_venous, zn, nmodes, i, b, k):
    """Sampled (venous) concentration (mg/L) of PK block ``b`` at step node ``k`` (a modal sum, clipped at 0)."""
    s = 0.0
    for m in range(nmodes[b]):
        s += kappa_venous[i, b, m] * zn[b, m, k]
    return max(s, 0.0)


@njit(cache=True, fastmath=FMA)
def simulate_patient(i, times, step_uid, unique_steps, w_shared, rates, lam, kappa, kappa_venous, nmodes, active,
                     active_dep, ka, pp, mc, ev_step, ev_kind, ev_target, ev_mg, ev_mgkg, ev_frac, out_idx, out, summ):
    """Integrate patient ``i``; write trajectories to ``out[i]`` and per-session peaks to ``summ[i]``.

    ``kappa`` (n, 6, NM): each mode's input gain and its weight in the central (arterial) concentration;
    ``kappa_venous``: its weight in the sampled (venous) concentration (equal to ``kappa`` without a venous
    compartment). Elimination, metabolite formation and effect sites follow the arterial concentration."""
    n_u = unique_steps.shape[0]
    pp_i = pp[i]
@LOADS@
    # per-patient weights: PK modes and effect-site equilibration
    # A block fed only by infusion rates (midazolam; parent ketamine without depots) has a forcing constant over
    # every step: 4 weights (one exp, one expm1) instead of the quadratic-forcing 8.
    any_dep = False
    for d in range(10):
        any_dep = any_dep or active_dep[d]
    wpk = np.empty((6 * NM, n_u, 8))      # row b*NM + m: mode m of PK block b
    for b in range(6):
        if active[b]:
            const_b = b == 5 or (b <= 1 and not any_dep)
            for m in range(nmodes[b]):
                for u in range(n_u):
                    if const_b:
                        step_weights_const_at(lam[i, b, m], unique_steps[u], wpk, b * NM + m, u)
                    else:
                        step_weights_at(lam[i, b, m], unique_steps[u], wpk, b * NM + m, u)
    wke = np.empty((1, n_u, 8))
    for u in range(n_u):
        step_weights_at(-pp_ke0, unique_steps[u], wke, 0, u)
    # the patient's own depot absorption rates (1/h; between-patient variability on the nasal and gut depots,
    # ketasim.pk): exact decay factors over a full and a half step of each distinct step size
    ka_i = ka[i]
    wdep = np.ones((10, n_u, 2))
    if any_dep:
        for d in range(10):
            if active_dep[d]:
                for u in range(n_u):
                    wdep[d, u, 1] = math.exp(-0.5 * ka_i[d] * unique_steps[u])
                    wdep[d, u, 0] = wdep[d, u, 1] * wdep[d, u, 1]

    z = np.zeros((6, NM))
    zn = np.zeros((6, NM, 3))
    dep = np.zeros(10)
    depn = np.zeros((10, 3))
    ce = np.zeros(6)
    cen = np.zeros((6, 3))
    cn = np.zeros((6, 3))
    c = np.zeros(6)
    ca = np.zeros(6)
    rate = np.zeros(3)
    f_in = np.zeros((6, 3))
    extracted = np.zeros((2, 3))
    fh_s, fh_r = pp_fh_s, pp_fh_r
    wt = pp_weight_kg
    fm_nk, fm_hnk = pp_fm_nk, mc_fm_hnk
    conv_k = 1000.0 / mc_mw_ketamine
    conv_nk = 1000.0 / mc_mw_norketamine
    conv_hnk = 1000.0 / mc_mw_hnk
    conv_mdz = 1000.0 / mc_mw_midazolam
    ke0 = pp_ke0
    fu, fu_m = mc_fu, mc_fu_midazolam
    kconv = np.empty(6)      # effect-site input per arterial mg/L: ke0 x (unbound µM per mg/L)
    for j in range(6):
        if j == 0 or j == 1:
            conv = conv_k * fu
        elif j == 2 or j == 3:
            conv = conv_nk * fu
        elif j == 4:
            conv = conv_hnk * fu
        else:
            conv = conv_mdz * fu_m
        kconv[j] = ke0 * conv
    n_steps = times.shape[0] - 1
    n_ev = ev_step.shape[0]
    n_out = out_idx.shape[0]
    n_sess = summ.shape[1]
    e = 0
    o = 0
    sess = -1
    sess_t0 = 0.0
    fresh = True          # node-0 values of the chain must be computed (first step, or after an event)
    summ_ok = False       # margin0 holds the previous step's end-of-step margin
    margin0 = 0.0
@INIT0@
    for n in range(n_steps + 1):
        # ---- events at this grid point (exact) -------------------------------------------------------
        while e < n_ev and ev_step[e] == n:
            fresh = True
            summ_ok = False
            kind = ev_kind[e]
            tg = ev_target[e]
            amount = ev_mg[e] + ev_mgkg[e] * wt
            if kind == EV_BOLUS:
                for m in range(nmodes[tg]):
                    z[tg, m] += kappa[i, tg, m] * amount
            elif kind == EV_DEPOT:
                # a swallowed dose's random effect on F acts on its first pass (in fh_s, fh_r: ketasim.pk), not
                # on the gut depot, where the cap at 1 censored it above eta_f ~ +0.2
                if tg == 2:
                    f = ev_frac[e] * pp_fgut_s
                elif tg == 3:
                    f = ev_frac[e] * pp_fgut_r
                elif @FIXED_F_TEST@:
                    # IM and SC (F ~0.9): no random effect (oral F's SD is not theirs, and its cap at 1 took
                    # the population mean to ~0.81 and the typical patient's to 0.86 of route.im.f 0.93)
                    f = ev_frac[e]
                else:
                    f = ev_frac[e] * pp_f_iiv
                dep[tg] += amount * min(f, 1.0)
            elif kind == EV_RATE:
                rate[RATE_SLOT[tg]] += amount
                if abs(rate[RATE_SLOT[tg]]) < 1e-12:   # an infusion's stop cancels its start exactly
                    rate[RATE_SLOT[tg]] = 0.0
            elif kind == EV_SESSION:
@EV_SESSION@
                sess += 1
                sess_t0 = times[n]
            elif kind == EV_AD_START:
@EV_AD_START@
            elif kind == EV_GENERAL_ANESTHESIA:
@EV_GA@
            e += 1
        if fresh:
            # the PK at this point as node 0 of the next step, then the chain's node 0 (after an event)
            for b in range(6):
                s0 = 0.0
                if active[b]:
                    for m in range(nmodes[b]):
                        zn[b, m, 0] = z[b, m]
                        s0 += kappa[i, b, m] * z[b, m]
                cn[b, 0] = s0
            for j in range(6):
                cen[j, 0] = ce[j] if active[j] else 0.0
@STEP0@
            fresh = False
        while o < n_out and out_idx[o] == n:
            for b in range(6):
                c[b] = 0.0
                ca[b] = 0.0
                if active[b]:
                    s = 0.0
                    sa = 0.0
                    for m in range(nmodes[b]):
                        s += kappa_venous[i, b, m] * z[b, m]
                        sa += kappa[i, b, m] * z[b, m]
                    c[b] = max(s, 0.0) * 1000.0    # venous, mg/L -> ng/mL (a modal sum: clip rounding below 0)
                    ca[b] = sa * 1000.0            # arterial
@OUTPUTS@
            o += 1
        if n == n_steps:
            break
        u = step_uid[n]
        h = times[n + 1] - times[n]

        # ---- depots: exact exponential decay -------------------------------------------------------------
        if any_dep:
            for d in range(10):
                if active_dep[d]:
                    depn[d, 0] = dep[d]
                    depn[d, 1] = dep[d] * wdep[d, u, 1]
                    depn[d, 2] = dep[d] * wdep[d, u, 0]
        # ---- parent ketamine blocks: input into central (mg/h) ---------------------------------------------
        for k in range(3):
            if any_dep:
                f_in[0, k] = (rate[0] + ka_i[0] * depn[0, k] + ka_i[4] * depn[4, k] + ka_i[6] * depn[6, k]
                              + ka_i[8] * depn[8, k] + ka_i[2] * depn[2, k] * fh_s)
                f_in[1, k] = (rate[1] + ka_i[1] * depn[1, k] + ka_i[5] * depn[5, k] + ka_i[7] * depn[7, k]
                              + ka_i[9] * depn[9, k] + ka_i[3] * depn[3, k] * fh_r)
                extracted[0, k] = ka_i[2] * depn[2, k] * (1.0 - fh_s)     # first pass forms norketamine
                extracted[1, k] = ka_i[3] * depn[3, k] * (1.0 - fh_r)
            else:               # infusions and boluses only (extracted stays 0)
                f_in[0, k] = rate[0]
                f_in[1, k] = rate[1]
            f_in[5, k] = rate[2]
        for b in (0, 1, 2, 3, 4, 5):
            if not active[b]:
                continue
            if b == 2 or b == 3:
                p = b - 2
                clp = pp_cl_s if p == 0 else pp_cl_r
                for k in range(3):
                    f_in[b, k] = fm_nk * (clp * cn[p, k] + extracted[p, k])
            elif b == 4:
                for k in range(3):
                    f_in[4, k] = fm_hnk * (pp_cl_snk * cn[2, k] + pp_cl_rnk * cn[3, k])
            const_b = b == 5 or (b <= 1 and not any_dep)
            fb0 = f_in[b, 0]
            fbm = f_in[b, 1]
            fb1 = f_in[b, 2]
            # the modal sums in locals: accumulating into cn[b, k] in memory made every mode wait for the previous
            # mode's store (~30 % of the kernel's time); the same additions in the same order
            s0 = 0.0
            sm_ = 0.0
            s1 = 0.0
            for m in range(nmodes[b]):
                kap = kappa[i, b, m]
                r = b * NM + m
                z0 = z[b, m]
                if const_b:     # constant forcing (f_in[b, 0] = f_in[b, 1] = f_in[b, 2]): exact
                    kf = kap * fb0
                    zm = wpk[r, u, 1] * z0 + wpk[r, u, 3] * kf
                    z1 = wpk[r, u, 0] * z0 + wpk[r, u, 2] * kf
                else:
                    zm, z1 = _adv(z0, kap * fb0, kap * fbm, kap * fb1, wpk, r, u)
                zn[b, m, 0] = z0
                zn[b, m, 1] = zm
                zn[b, m, 2] = z1
                s0 += kap * z0
                sm_ += kap * zm
                s1 += kap * z1
            cn[b, 0] = s0
            cn[b, 1] = sm_
            cn[b, 2] = s1
        # ---- effect sites (unbound, µM) ------------------------------------------------------------------
        for j in range(6):
            if active[j]:
                kc = kconv[j]
                cm, c1 = _adv(ce[j], kc * cn[j, 0], kc * cn[j, 1], kc * cn[j, 2], wke, 0, u)
                cen[j, 0] = ce[j]
                cen[j, 1] = cm
                cen[j, 2] = c1
            else:
                cen[j, 0] = 0.0
                cen[j, 1] = 0.0
                cen[j, 2] = 0.0
        # ---- the chain (generated) -----------------------------------------------------------------------
@STEP@

        # ---- per-session peaks and discharge readiness, within the monitoring window after a session -------
        if sess >= 0 and sess < n_sess and times[n] - sess_t0 < mc_monitor_window_h:
            if not summ_ok:
@SUMMARIES0@
@SUMMARIES@
            # the last time the criteria were unmet: linear interpolation of the margin between nodes
            if margin0 > 0.0 and margin1 <= 0.0:
                summ[i, sess, @N_DISCHARGE@] = max(summ[i, sess, @N_DISCHARGE@], times[n] + 0.5 * h * margin0 / (margin0 - margin1) - sess_t0)
            elif margin0 > 0.0:
                summ[i, sess, @N_DISCHARGE@] = max(summ[i, sess, @N_DISCHARGE@], times[n] - sess_t0)
            if margin1 > 0.0 and margin2 <= 0.0:
                summ[i, sess, @N_DISCHARGE@] = max(summ[i, sess, @N_DISCHARGE@], times[n] + 0.5 * h + 0.5 * h * margin1 / (margin1 - margin2) - sess_t0)
            elif margin1 > 0.0:
                summ[i, sess, @N_DISCHARGE@] = max(summ[i, sess, @N_DISCHARGE@], times[n] + 0.5 * h - sess_t0)
            if margin2 > 0.0:
                summ[i, sess, @N_DISCHARGE@] = max(summ[i, sess, @N_DISCHARGE@], times[n] + h - sess_t0)
            margin0 = margin2
            summ_ok = True
        else:
            summ_ok = False

        # ---- commit the end-of-step state ----------------------------------------------------------------
        for b in range(6):
            if active[b]:
                for m in range(nmodes[b]):
                    z[b, m] = zn[b, m, 2]
        for d in range(10):
            dep[d] = depn[d, 2]
        for j in range(6):
            ce[j] = cen[j, 2]
@COMMIT@


# nogil: other Python threads (the dashboard server) run during a long kernel call (engine.KERNEL_LOCK)
@njit(cache=True, parallel=True, fastmath=FMA, nogil=True)
def run_arm(times, step_uid, unique_steps, w_shared, rates, lam, kappa, kappa_venous, nmodes, active, active_dep, ka,
            pp, mc, ev_step, ev_kind, ev_target, ev_mg, ev_mgkg, ev_frac, out_idx, out, summ):
    """All patients of an arm, in parallel. Results land in ``out`` and ``summ``."""
    for i in prange(pp.shape[0]):
        simulate_patient(i, times, step_uid, unique_steps, w_shared, rates, lam, kappa, kappa_venous, nmodes, active,
                         active_dep, ka, pp, mc, ev_step, ev_kind, ev_target, ev_mg, ev_mgkg, ev_frac, out_idx, out,
                         summ)
'''


if __name__ == "__main__":
    changed = write_default()
    print(f"{GENERATED_PATH}: {'rewritten' if changed else 'unchanged'}")
