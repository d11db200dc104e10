"""The model's expression language: a small, SBML-expressible subset of Python syntax.

Every equation of the model definition is a string such as ``"u / (1 + u)"`` or
``"piecewise(0, c <= 0, emax * c ** n / (c ** n + ec50 ** n))"``. One parser (Python's ``ast``) and three
renderers turn it into numba-compilable Python (the kernel), plain Python (the reference solver) and an SBML
Level 3 infix formula (``libsbml.parseL3Formula``), so the three can never disagree on the equation.

Allowed: numbers, names, ``+ - * / **``, unary minus, comparisons (one operator), ``and``/``or``/``not``,
calls of ``exp sqrt tanh log min max abs piecewise`` and of the model's named functions.
``piecewise(value_if, condition, value_else)`` is the only conditional (SBML's piecewise with one piece);
it is evaluated lazily in the kernel, so a branch may skip an expensive ``pow`` (fast paths).
"""

from __future__ import annotations

import ast
import functools

from ..errors import InputError

BUILTINS = {"exp": 1, "sqrt": 1, "tanh": 1, "log": 1, "abs": 1, "min": 2, "max": 2, "piecewise": 3}
_BIN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> ast.expr:
    """Parse and check one expression; raises InputError naming the problem."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise InputError(f"model expression {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        ok = isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Call, ast.Name, ast.Constant,
                               ast.Load, ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or, *_BIN, *_CMP))
        if not ok:
            raise InputError(f"model expression {text!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)) or \
                isinstance(node, ast.Constant) and isinstance(node.value, bool):
            raise InputError(f"model expression {text!r}: only numeric constants are allowed")
        if isinstance(node, ast.Compare) and len(node.ops) != 1:
            raise InputError(f"model expression {text!r}: chain comparisons one at a time")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.keywords:
                raise InputError(f"model expression {text!r}: call named functions with positional arguments")
            n = BUILTINS.get(node.func.id)
            if n is not None and len(node.args) != n:
                raise InputError(f"model expression {text!r}: {node.func.id} takes {n} arguments")
    return tree


def names(text: str) -> set[str]:
    """Variable names used by an expression (function names excluded)."""
    tree = parse(text)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def calls(text: str) -> set[str]:
    """Names of the functions an expression calls (builtins excluded)."""
    return {n.func.id for n in ast.walk(parse(text)) if isinstance(n, ast.Call) and n.func.id not in BUILTINS}


def _num(v) -> str:
    return repr(float(v))


def to_python(text: str, name_map=None, func_prefix: str = "", math_prefix: str = "math.") -> str:
    """Python source (numba-compatible). ``name_map(name) -> source`` renames variables."""
    name_map = name_map or (lambda s: s)

    def r(n) -> str:
        if isinstance(n, ast.Constant):
            return _num(n.value)
        if isinstance(n, ast.Name):
            return name_map(n.id)
        if isinstance(n, ast.BinOp):
            return f"({r(n.left)} {_BIN[type(n.op)]} {r(n.right)})"
        if isinstance(n, ast.UnaryOp):
            op = "not " if isinstance(n.op, ast.Not) else ("-" if isinstance(n.op, ast.USub) else "+")
            return f"({op}{r(n.operand)})"
        if isinstance(n, ast.Compare):
            return f"({r(n.left)} {_CMP[type(n.ops[0])]} {r(n.comparators[0])})"
        if isinstance(n, ast.BoolOp):
            op = " and " if isinstance(n.op, ast.And) else " or "
            return "(" + op.join(r(v) for v in n.values) + ")"
        f, args = n.func.id, [r(a) for a in n.args]
        if f == "piecewise":
            return f"({args[0]} if {args[1]} else {args[2]})"
        if f in ("min", "max", "abs"):
            return f"{f}({', '.join(args)})"
        if f in BUILTINS:
            return f"{math_prefix}{f}({args[0]})"
        return f"{func_prefix}{f}({', '.join(args)})"

    return r(parse(text))


def to_sbml(text: str, name_map=None, native_minmax: bool = False) -> str:
    """An SBML Level 3 infix formula (``libsbml.parseL3Formula``); min/max become piecewise, or with
    ``native_minmax`` stay SBML L3V2's min/max (no condition to switch: ``ketasim.export.SBML_FORMS``)."""
    name_map = name_map or (lambda s: s)

    def r(n) -> str:
        if isinstance(n, ast.Constant):
            return _num(n.value)
        if isinstance(n, ast.Name):
            return name_map(n.id)
        if isinstance(n, ast.BinOp):
            op = "^" if isinstance(n.op, ast.Pow) else _BIN[type(n.op)]
            return f"({r(n.left)} {op} {r(n.right)})"
        if isinstance(n, ast.UnaryOp):
            op = "!" if isinstance(n.op, ast.Not) else ("-" if isinstance(n.op, ast.USub) else "+")
            return f"({op}{r(n.operand)})"
        if isinstance(n, ast.Compare):
            return f"({r(n.left)} {_CMP[type(n.ops[0])]} {r(n.comparators[0])})"
        if isinstance(n, ast.BoolOp):
            op = " && " if isinstance(n.op, ast.And) else " || "
            return "(" + op.join(r(v) for v in n.values) + ")"
        f, args = n.func.id, [r(a) for a in n.args]
        if f == "piecewise":
            return f"piecewise({args[0]}, {args[1]}, {args[2]})"
        if f in ("min", "max") and native_minmax:
            return f"{f}({args[0]}, {args[1]})"
        if f == "min":
            return f"piecewise({args[0]}, {args[0]} <= {args[1]}, {args[1]})"
        if f == "max":
            return f"piecewise({args[0]}, {args[0]} >= {args[1]}, {args[1]})"
        if f == "log":
            return f"ln({args[0]})"
        return f"{f}({', '.join(args)})"

    return r(parse(text))
