"""The model, declared once (``definition``), the API to change it (``core``) and what is generated from it
(``codegen``: the numba kernel; ``ketasim.solver.reference``: the scipy right-hand side; ``sbml``: SBML export)."""

from .core import (Algebraic, Constant, Event, Function, Input, Model, Output, PatientParameter, State,  # noqa: F401
                   Summary)
from .definition import MODEL as DEFAULT_MODEL  # noqa: F401


def model_id(model=None) -> str:
    """'NAME DIGEST' of a model definition (default: the package's), as every output's provenance names the model
    (trajectory files, trial, PK and plan JSON)."""
    m = DEFAULT_MODEL if model is None else model
    return f"{m.name} {m.digest()}"
