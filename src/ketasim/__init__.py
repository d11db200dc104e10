"""ketasim — a mechanistic simulator of ketamine therapy, from the dose to the mood score.

Research and teaching tool, not medical advice.

Public API (imported lazily, so that ``ketasim --help`` starts fast)::

    from ketasim import load_scenario, simulate
    result = simulate(load_scenario("examples/design_example.yaml"))
    result.trajectories()      # tidy table: arm, subject, time_h, cp_..., nmda_..., score, cadss, ...
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version as _version
from typing import TYPE_CHECKING

try:
    __version__ = _version("ketasim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

_EXPORTS = {
    "simulate": "engine", "VirtualExperiment": "engine", "KetasimError": "errors", "load_parameters": "parameters",
    "NOTICE": "vocabulary", "SimulationResult": "result", "Scenario": "scenario", "load_scenario": "scenario",
    "quick_scenario": "scenario", "scenario_from_dict": "scenario", "run_trial": "trial",
    "Patient": "patient", "patient_scenario": "scenario", "compare_observed": "observed",
}
__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:  # static type checkers see the real, typed objects; at run time they are imported lazily
    from .engine import VirtualExperiment, simulate
    from .errors import KetasimError
    from .observed import compare_observed
    from .parameters import load_parameters
    from .patient import Patient
    from .result import SimulationResult
    from .scenario import Scenario, load_scenario, patient_scenario, quick_scenario, scenario_from_dict
    from .trial import run_trial
    from .vocabulary import NOTICE


def __dir__() -> list[str]:
    """The lazily imported public names too, so that tab completion (``ketasim.<TAB>``) offers ``simulate``."""
    return sorted({*globals(), *__all__})


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'ketasim' has no attribute {name!r}")
