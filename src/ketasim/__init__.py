"""ketasim — a mechanistic simulator of ketamine therapy, from the dose to the mood score.

Research and teaching tool, not medical advice.

Public API::

    from ketasim import load_scenario, simulate
    result = simulate(load_scenario("examples/single_infusion.yaml"))
    result.trajectories()      # tidy table: arm, subject, time_h, cp_..., nmda_..., score, cadss, ...
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("ketasim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from .engine import VirtualExperiment, simulate  # noqa: E402
from .errors import KetasimError  # noqa: E402
from .parameters import load_parameters  # noqa: E402
from .result import NOTICE, SimulationResult  # noqa: E402
from .scenario import Scenario, load_scenario, quick_scenario, scenario_from_dict  # noqa: E402

__all__ = ["simulate", "load_scenario", "scenario_from_dict", "quick_scenario", "Scenario", "SimulationResult",
           "VirtualExperiment", "load_parameters", "KetasimError", "NOTICE", "__version__"]
