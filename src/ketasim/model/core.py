"""Building blocks of a model definition and the public API to change one.

A :class:`Model` is data: named functions, constants (each says how it is derived from the parameter set),
per-patient parameters, rate constants, algebraic intermediates, states in target/rate form, event effects,
outputs with units and per-session summaries. Code generators (``ketasim.model.codegen``: numba kernel,
``ketasim.solver.reference``: scipy right-hand side, ``ketasim.model.sbml``: SBML) read it; nothing else
restates the equations.

Change a model without editing the package::

    from ketasim.model import DEFAULT_MODEL, State, Output
    m = DEFAULT_MODEL.add(State("craving", init="0", rate="k_craving", target="1 - glutamate", unit="a.u."))
    m = m.replace("glutamate", target="...")        # change an equation
    ketasim.simulate(scenario, model=m)

States are feed-forward: a state's target/drive may use states declared *before* it (and the PK inputs),
never itself or later ones (the exponential integrator advances the chain link by link).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from functools import cache
from pathlib import Path
from typing import Callable

from ..errors import InputError
from . import expr as E

#: Quantities the hand-written PK infrastructure provides to the equations (at every solver node).
PK_INPUTS = {
    "ce_s": "uM", "ce_r": "uM", "ce_snk": "uM", "ce_rnk": "uM", "ce_hnk": "uM", "ce_mdz": "uM",
}
#: Plasma concentrations (total, ng/mL) the PK infrastructure provides to outputs and summaries: ``cp_*`` the
#: sampled (venous) plasma of each block, ``ca_*`` the parent's arterial (central) plasma, which drives elimination
#: and the effect sites (issue 7; blocks without a venous compartment read their central one as cp).
PK_OUTPUTS = {"cp_s": "ng/mL", "cp_r": "ng/mL", "cp_snk": "ng/mL", "cp_rnk": "ng/mL", "cp_hnk": "ng/mL",
              "cp_mdz": "ng/mL", "ca_s": "ng/mL", "ca_r": "ng/mL"}
#: Where each PK output is read: (PK block 0-5 = S, R, S-norketamine, R-norketamine, HNK, midazolam;
#: "venous" = the block's sampled compartment, "arterial" = its central compartment).
PK_OUTPUT_SOURCE = {"cp_s": (0, "venous"), "cp_r": (1, "venous"), "cp_snk": (2, "venous"), "cp_rnk": (3, "venous"),
                    "cp_hnk": (4, "venous"), "cp_mdz": (5, "venous"), "ca_s": (0, "arterial"),
                    "ca_r": (1, "arterial")}
#: Constants the PK infrastructure reads by name (must be declared).
PK_CONSTANTS = ("fu", "fu_midazolam", "mw_ketamine", "mw_norketamine", "mw_hnk", "mw_midazolam", "fm_hnk",
                "monitor_window_h")
PK_PATIENT = ("weight_kg", "fh_s", "fh_r", "fgut_s", "fgut_r", "f_iiv", "cl_s", "cl_r", "cl_snk", "cl_rnk", "ke0", "fm_nk")
#: Events of the dosing machinery that a model may act on (``Event.on``).
EVENT_KINDS = ("session", "antidepressant_start", "general_anesthesia")


@dataclasses.dataclass(frozen=True)
class Function:
    """A named function of its arguments (an SBML FunctionDefinition): ``name(args) = expr``."""

    name: str
    args: tuple
    expr: str
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class Constant:
    """A model constant shared by all patients of an arm.

    ``derive(ctx) -> float`` computes it (in ``unit``) from ``ctx.params`` (a ParameterSet), ``ctx.experiment``
    (VirtualExperiment switches), ``ctx.expectancy``, ``ctx.perception``, ``ctx.p_active``, ``ctx.p_blinded`` and
    ``ctx.blinded_from_h``.
    ``source`` names the parameters it comes from (sources with DOI/PMID are in data/parameters.csv).
    """

    name: str
    unit: str
    derive: Callable
    source: str = ""
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class PatientParameter:
    """A per-patient parameter: ``derive(ctx) -> array (n,)`` from ``ctx.params, ctx.spec, ctx.patients, ctx.pk``."""

    name: str
    unit: str
    derive: Callable
    source: str = ""
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class Input:
    """A piecewise-constant signal switched by events (e.g. a background antidepressant started)."""

    name: str
    init: float
    unit: str
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class Algebraic:
    """A named intermediate ``name = expr`` (an SBML assignment rule)."""

    name: str
    expr: str
    unit: str
    doc: str = ""


#: Source whose code turns parameters, patients and doses into the kernel's inputs around the declared equations:
#: codegen's kernel template (depots, first pass, random effects on F), pk.py's per-patient set-up (disposition,
#: hepatic extraction, oral fractions, interaction factors), the definition's derivations of constants and patient
#: parameters (``Model.digest`` hashes their names only) and, of engine.py, the functions that fill the kernel's
#: constants, rates and patient table and route each dose to its depot (a file, or a file's named top-level
#: functions). A change to any of them changes results as much as an equation does (review R5-1, R7-1, s39 R1-1).
_PK_SOURCES = (("model/codegen.py", None), ("pk.py", None), ("model/definition.py", None),
               ("engine.py", ("model_constants", "shared_rates", "patient_parameters", "_route_inputs",
                              "_arm_events")))


def _normalised_source(text: str) -> str:
    """Source text without what cannot change results: line-ending style (CRLF), trailing blanks, blank lines and
    whole-line comments (review R7-2: a comment edit or a Windows checkout must keep the model id and so the stored
    posterior draws' signature). Code and docstrings count; a comment after code on the same line counts too (telling
    it from a '#' inside a string needs a tokenizer, whose output differs between Python versions); a line of a
    multi-line string that starts with '#' is dropped as well (in the kernel template those are the generated code's
    comments)."""
    lines = (ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(ln for ln in lines if ln and not ln.lstrip().startswith("#"))


def _functions_source(text: str, names: tuple[str, ...]) -> str:
    """The source of the named top-level functions of a module's ``text``, in the order named, then of the module's
    top-level assignments they read (e.g. engine.N_SWALLOW, the parts of a nasal dose's swallowed input: review s39
    R4-1), in file order. Read with ``ast``: nothing is imported, so the model layer does not depend on the engine."""
    import ast

    text = text.replace("\r\n", "\n").replace("\r", "\n")
    body = ast.parse(text).body
    found = {n.name: n for n in body if isinstance(n, ast.FunctionDef) and n.name in names}
    missing = [n for n in names if n not in found]
    if missing:      # a renamed function must be renamed here too, or the id would silently stop covering it
        raise RuntimeError(f"model id: function(s) {', '.join(missing)} not found")
    read = {x.id for n in found.values() for x in ast.walk(n)
            if isinstance(x, ast.Name) and isinstance(x.ctx, ast.Load)}

    def targets(node) -> set:
        ts = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {x.id for t in ts for x in ast.walk(t) if isinstance(x, ast.Name)}

    constants = [n for n in body if isinstance(n, (ast.Assign, ast.AnnAssign)) and targets(n) & read]
    return "\n".join([ast.get_source_segment(text, found[n]) for n in names]
                      + [ast.get_source_segment(text, n) for n in constants])


def pk_sources_digest(root: Path) -> str:
    """Hash of the normalised source of the PK machinery (``_PK_SOURCES``) of the package at ``root``."""
    h = hashlib.sha256()
    for rel, functions in _PK_SOURCES:
        text = (root / rel).read_text(encoding="utf-8")
        if functions is not None:
            text = _functions_source(text, functions)
        h.update(rel.encode() + b"\0" + _normalised_source(text).encode() + b"\0")
    return h.hexdigest()


@cache
def _codegen_template_digest() -> str:
    """:func:`pk_sources_digest` of this package (read once per process)."""
    return pk_sources_digest(Path(__file__).resolve().parents[1])


@dataclasses.dataclass(frozen=True)
class State:
    """A state: ``dx/dt = rate * (target - x)`` (target form) or ``dx/dt = gain * drive - rate * x`` (drive form).

    ``rate`` names a rate constant (1/h, in ``Model.rates``); ``init`` is an expression of constants and
    patient parameters. ``rate_rising`` (target form only): the rate while the target is above ``x``, ``rate``
    while it is not, i.e. ``dx/dt = piecewise(rate_rising, target > x, rate) * (target - x)`` (a state that rises
    and falls at different rates). It must be the ``rate`` of an earlier state; the kernel chooses the rate at the
    start of each step.
    """

    name: str
    init: str
    rate: str
    unit: str
    target: str | None = None
    drive: str | None = None
    gain: str | None = None
    doc: str = ""
    rate_rising: str | None = None

    def forcing_terms(self) -> tuple[str, str]:
        """(multiplier, expression): the forcing is ``multiplier * expression`` (1/h x unit)."""
        if self.target is not None:
            return self.rate, self.target
        return self.gain, self.drive


@dataclasses.dataclass(frozen=True)
class Event:
    """What a dosing-machinery event does to the model: ``target op= expr`` with op ``+`` or ``=``."""

    on: str
    target: str
    op: str
    expr: str


@dataclasses.dataclass(frozen=True)
class Output:
    """A trajectory column ``name`` (with ``unit``) computed from the model's variables."""

    name: str
    expr: str
    unit: str
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class Summary:
    """A per-session peak of an output within the monitoring window after each session."""

    name: str
    of: str
    unit: str


@dataclasses.dataclass(frozen=True)
class Model:
    """A complete model definition (see module docstring). Immutable; ``add``/``replace``/``remove`` copy."""

    name: str
    functions: tuple
    constants: tuple
    patient: tuple
    rates: tuple
    inputs: tuple
    algebraics: tuple
    states: tuple
    events: tuple
    outputs: tuple
    summaries: tuple
    discharge_margin: str          # > 0 while any discharge criterion is unmet (names: outputs)
    discharge_unit: str = "h"
    doc: str = ""

    # ---- lookup ---------------------------------------------------------------------------------------
    _KINDS = {Function: "functions", Constant: "constants", PatientParameter: "patient", Input: "inputs",
              Algebraic: "algebraics", State: "states", Event: "events", Output: "outputs", Summary: "summaries"}

    def names(self, kind: str) -> tuple:
        return tuple(x.name for x in getattr(self, kind))

    def rate_owner(self) -> dict[str, int]:
        """Index of the first state that uses each rate constant: a rate is stored once, in that state's row of the
        kernel's (and the reference solver's) per-patient rate table, and read from there by every other use."""
        owner: dict[str, int] = {}
        for j, s in enumerate(self.states):
            owner.setdefault(s.rate, j)
        return owner

    def find(self, name: str):
        for kind in ("functions", "constants", "patient", "rates", "inputs", "algebraics", "states", "outputs",
                     "summaries"):
            for x in getattr(self, kind):
                if x.name == name:
                    return kind, x
        raise InputError(f"model {self.name}: no item named {name!r}")

    # ---- public API to change a model -------------------------------------------------------------------
    def add(self, item, after: str | None = None, rate: bool = False) -> "Model":
        """A copy with ``item`` added (at the end of its kind, or after the item named ``after``).
        A :class:`Constant` is a rate constant (1/h) when ``rate=True``."""
        kind = "rates" if rate else self._KINDS.get(type(item))
        if kind is None:
            raise InputError(f"model: cannot add {type(item).__name__}")
        items = list(getattr(self, kind))
        if after is None:
            items.append(item)
        else:
            idx = [x.name for x in items].index(after) if after in [x.name for x in items] else None
            if idx is None:
                raise InputError(f"model {self.name}: no {kind[:-1]} named {after!r}")
            items.insert(idx + 1, item)
        m = dataclasses.replace(self, **{kind: tuple(items)})
        m.validate()
        return m

    def replace(self, name: str, **changes) -> "Model":
        """A copy where the item called ``name`` has the given fields changed (e.g. ``target=...``)."""
        kind, old = self.find(name)
        new = dataclasses.replace(old, **changes)
        m = dataclasses.replace(self, **{kind: tuple(new if x is old else x for x in getattr(self, kind))})
        m.validate()
        return m

    def remove(self, name: str) -> "Model":
        kind, old = self.find(name)
        m = dataclasses.replace(self, **{kind: tuple(x for x in getattr(self, kind) if x is not old)})
        m.validate()
        return m

    def renamed(self, name: str) -> "Model":
        return dataclasses.replace(self, name=name)

    # ---- derived views ----------------------------------------------------------------------------------
    @property
    def output_names(self) -> tuple:
        return self.names("outputs")

    @property
    def summary_names(self) -> tuple:
        return self.names("summaries") + ("discharge_ready_h",)

    def output_slot(self, name: str) -> int:
        """Index of an output in the kernel's ``out`` array (last axis)."""
        try:
            return self.output_names.index(name)
        except ValueError:
            raise InputError(f"model {self.name}: no output named {name!r}") from None

    def summary_slot(self, name: str) -> int:
        """Index of a per-session summary in the kernel's ``summ`` array (last axis)."""
        try:
            return self.summary_names.index(name)
        except ValueError:
            raise InputError(f"model {self.name}: no session summary named {name!r}") from None

    def units(self) -> dict:
        """Units of every trajectory column (``time_h`` first)."""
        return {"time_h": "h", **{o.name: o.unit for o in self.outputs}}

    def summary_units(self) -> dict:
        """Units of every per-session summary (:attr:`summary_names`, in order; ``discharge_ready_h`` is hours
        after the session's start)."""
        return {**{s.name: s.unit for s in self.summaries}, "discharge_ready_h": "h"}

    def digest(self) -> str:
        """Hash of everything the generated code depends on (equations, names, order; not derivations)."""
        parts = [repr((f.name, tuple(f.args), f.expr)) for f in self.functions]
        parts += [repr(("c", c.name)) for c in self.constants] + [repr(("p", p.name)) for p in self.patient]
        parts += [repr(("r", r.name)) for r in self.rates] + [repr(("i", i.name, i.init)) for i in self.inputs]
        parts += [repr(("a", a.name, a.expr)) for a in self.algebraics]
        parts += [repr(("s", s.name, s.init, s.rate, s.target, s.drive, s.gain)
                       + ((s.rate_rising,) if s.rate_rising else ())) for s in self.states]
        parts += [repr(dataclasses.astuple(e)) for e in self.events]
        parts += [repr(("o", o.name, o.expr)) for o in self.outputs]
        parts += [repr(("m", s.name, s.of)) for s in self.summaries] + [self.discharge_margin]
        # the fixed PK machinery and the derivations (_PK_SOURCES) change results as much as an equation does, so they
        # are part of the model's identity (review R5-1: IM/SC F changed every IM result under the same digest)
        parts.append(_codegen_template_digest())
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    # ---- checks -----------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise InputError (naming the item) unless the model is complete, unambiguous and feed-forward."""
        where = {}
        for kind in ("functions", "constants", "patient", "rates", "inputs", "algebraics", "states"):
            for x in getattr(self, kind):
                if not x.name.isidentifier() or x.name in where or x.name in PK_INPUTS or x.name in PK_OUTPUTS:
                    raise InputError(f"model {self.name}: {kind[:-1]} name {x.name!r} is invalid or used twice")
                where[x.name] = kind
        for need, kind in ((PK_CONSTANTS, "constants"), (PK_PATIENT, "patient")):
            for n in need:
                if where.get(n) != kind:
                    raise InputError(f"model {self.name}: the PK machinery needs {kind[:-1]} {n!r}")
        funcs = {f.name: f for f in self.functions}
        for f in self.functions:
            extra = E.names(f.expr) - set(f.args)
            if extra:
                raise InputError(f"model {self.name}: function {f.name} uses undeclared {sorted(extra)}")
        fixed = set(self.names("constants")) | set(self.names("patient")) | set(self.names("rates"))

        def check(text, allowed, what):
            E.parse(text)
            for c in E.calls(text):
                if c not in funcs:
                    raise InputError(f"model {self.name}: {what} calls unknown function {c!r}")
            bad = E.names(text) - allowed
            if bad:
                raise InputError(f"model {self.name}: {what} uses {sorted(bad)}, not available there")

        inputs = set(self.names("inputs"))
        avail = fixed | inputs | set(PK_INPUTS)
        alg_done = set()
        for a in self.algebraics:     # algebraics may use earlier algebraics and any state
            check(a.expr, avail | alg_done | set(self.names("states")), f"algebraic {a.name}")
            alg_done.add(a.name)
        deps = {a.name: E.names(a.expr) for a in self.algebraics}

        def state_deps(text):
            seen, todo, out = set(), list(E.names(text)), set()
            while todo:
                n = todo.pop()
                if n in seen:
                    continue
                seen.add(n)
                if n in deps:
                    todo += deps[n]
                elif where.get(n) == "states":
                    out.add(n)
            return out

        earlier = set()
        for s in self.states:
            if s.rate not in self.names("rates"):
                raise InputError(f"model {self.name}: state {s.name}: rate {s.rate!r} is not a rate constant")
            if (s.target is None) == (s.drive is None) or (s.drive is not None and s.gain is None):
                raise InputError(f"model {self.name}: state {s.name}: give either target, or drive and gain")
            if s.rate_rising is not None and (s.target is None or s.rate_rising not in
                                              {e.rate for e in self.states if e.name in earlier}):
                raise InputError(f"model {self.name}: state {s.name}: rate_rising {s.rate_rising!r} must be the rate "
                                 "of an earlier state, on a target-form state")
            check(s.init, fixed, f"state {s.name} init")
            mult, f = s.forcing_terms()
            check(mult, fixed, f"state {s.name} gain")
            check(f, avail | alg_done | set(self.names("states")), f"state {s.name}")
            late = state_deps(f) - earlier
            if late:
                raise InputError(f"model {self.name}: state {s.name} depends on {sorted(late)}, which are not "
                                 "declared before it (the chain must be feed-forward)")
            earlier.add(s.name)
        for e in self.events:
            if e.on not in EVENT_KINDS or e.op not in ("+", "=") or where.get(e.target) not in ("states", "inputs"):
                raise InputError(f"model {self.name}: event {e.on} -> {e.target} is invalid")
            check(e.expr, fixed | inputs | set(self.names("states")), f"event {e.on}")   # values just before it
        seen_out = set()
        everything = avail | alg_done | set(self.names("states")) | set(PK_OUTPUTS)
        for o in self.outputs:
            if o.name in seen_out or (o.name in where and o.expr.strip() != o.name):
                raise InputError(f"model {self.name}: output {o.name!r} is used twice or clashes with a model name")
            check(o.expr, everything, f"output {o.name}")
            seen_out.add(o.name)
        for s in self.summaries:
            if s.of not in seen_out:
                raise InputError(f"model {self.name}: summary {s.name} of unknown output {s.of!r}")
        check(self.discharge_margin, seen_out | fixed, "discharge margin")


def ln2_over(t_half_h: float) -> float:
    return math.log(2) / t_half_h
