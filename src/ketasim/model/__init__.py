"""The model, declared once (``definition``), the API to change it (``core``) and what is generated from it
(``codegen``: the numba kernel; ``ketasim.solver.reference``: the scipy right-hand side; ``sbml``: SBML export)."""

from .core import (Algebraic, Constant, Event, Function, Input, Model, Output, PatientParameter, State,  # noqa: F401
                   Summary)
from .definition import MODEL as DEFAULT_MODEL  # noqa: F401
