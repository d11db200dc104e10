"""One error hierarchy for ketasim.

Every error a user can cause derives from :class:`KetasimError` *and* from the matching builtin, so
``except ValueError`` still works. Messages are one line and name the offending field. Errors pickle
(they only carry their message), so they cross process pools. The CLI prints ``error: <message>`` for
these; any other exception is a bug and shows a traceback.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar


#: Longest message: a hostile value quoted in a message (100,000 characters) is cut in the middle.
MAX_MESSAGE = 400

#: said after 'not true/false' when a number field got a boolean: YAML reads these words as booleans, so the user
#: may have written neither (count: yes)
YAML_BOOLEANS = " (YAML reads yes/no and on/off as true/false too)"


#: whether ketasim runs as the command line (:func:`command_line`, set by ``ketasim.cli.main``): its messages name
#: the command's options ('--uncertainty: ...'); from Python (and in the dashboard) they name the function's argument
#: ('uncertainty: ...'). A context variable: the dashboard's request handlers and worker threads start without it.
_COMMAND_LINE: ContextVar[bool] = ContextVar("ketasim_command_line", default=False)


def on_command_line() -> bool:
    """Whether messages name the command line's options (:func:`command_line`)."""
    return _COMMAND_LINE.get()


def argument(python: str, option: str) -> str:
    """How a message names an input: the command line's ``option`` ('--uncertainty', '--size') under
    :func:`command_line`, else the Python argument ``python`` ('uncertainty', 'n') of the function the user called
    (``run_trial(sc, uncertainty=1)`` said '--uncertainty: ...', an option no Python call has)."""
    return option if _COMMAND_LINE.get() else python


@contextmanager
def command_line(on: bool = True):
    """Messages raised inside name the command line's options (``on``) or the Python arguments (``on=False``: the
    dashboard served by ``ketasim serve``)."""
    token = _COMMAND_LINE.set(bool(on))
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


class KetasimError(Exception):
    """Base class of all errors raised on purpose by ketasim. The message is kept to one line of at most
    ``MAX_MESSAGE`` characters whatever values it quotes (the field name comes first and is kept)."""

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], str):
            msg = " ".join(args[0].splitlines())
            if len(msg) > MAX_MESSAGE:
                msg = msg[: MAX_MESSAGE - 60] + " ... " + msg[-55:]
            args = (msg,)
        super().__init__(*args)


class InputError(KetasimError, ValueError):
    """A user input (scenario, option, argument) is invalid."""


class UnitError(InputError):
    """A quantity has a missing, malformed or incompatible unit."""


class InvalidRegimenError(InputError):
    """A dose, route, drug or schedule is invalid."""


class ScenarioFileError(InputError):
    """A scenario file cannot be read or does not follow the schema."""


class OutputError(KetasimError, OSError):
    """An output file cannot be written (unwritable folder, full disk ...); the message names the path."""


class OutputPathError(OutputError, InputError):
    """An output path that cannot be a file, known before anything is computed (its folder does not exist, it is a
    folder): bad input (the CLI exits 2, like any other input error), still an OutputError/OSError for callers."""


class RunLostError(KetasimError, RuntimeError):
    """A run that could not complete for a reason outside its input: its ``--dask`` cluster lost every worker or its
    scheduler. Not bad input: the command line exits 1 (as for an output it could not write), not 2."""


class ParameterSetError(KetasimError, ValueError):
    """A parameter set is inconsistent (missing parameter, bad unit, missing source)."""


class SolverError(KetasimError, RuntimeError):
    """The numerical solution failed (non-finite values); never returned silently."""


class Cancelled(KetasimError):
    """Work stopped on purpose (client gone, cancelled, timed out)."""


#: Set by a caller for one stretch of work (the dashboard's server: per request, copied into the worker thread) to a
#: ``threading.Event`` set when the work is no longer wanted; long computations call :func:`check_cancelled` between
#: their engine runs (a personal plan's fit, forecast and search: a plan the page had given up on kept the engine for
#: minutes, and every later request timed out behind it).
CANCEL: ContextVar = ContextVar("ketasim_cancel", default=None)


def check_cancelled() -> None:
    """Raise :class:`Cancelled` when the current context's :data:`CANCEL` event is set (nothing when none is)."""
    ev = CANCEL.get()
    if ev is not None and ev.is_set():
        raise Cancelled("request: cancelled (the client went away or the request timed out)")


class Terminated(BaseException):
    """SIGTERM (``kill``, ``timeout``, ``docker stop``), raised in the main thread by the command line's handler
    (``ketasim.cli``). A BaseException like KeyboardInterrupt, so that no ``except Exception`` swallows it; a command
    that keeps work between runs (the refit CV's checkpoint) catches it to say where the work is."""


class DoseWarning(UserWarning):
    """A dose is in the anesthetic range (or far below any studied dose): allowed, but flagged."""


class ArmNameWarning(UserWarning):
    """Two arms of a scenario have names that differ only in letter case (``ketamine-flex`` and ``Ketamine-Flex``):
    valid, two distinct arms, but easily taken for one (in an observed file, a report, a command line)."""


class ObservedWarning(UserWarning):
    """An observed (published) value is accepted but looks like a slip (a single rate written as a fraction), or the
    observed file names no scenario it belongs to: the file is still compared, as written."""


class OutputSizeWarning(UserWarning):
    """A trajectory file will be large (above ``ketasim.scale.LARGE_OUTPUT_BYTES``): written, but the size and how to
    make it smaller are said before anything runs."""


class RecordWarning(UserWarning):
    """A patient record is read as written but looks like a slip (ketamine sessions hours apart: TIME in days)."""


class BaselineWarning(UserWarning):
    """A baseline score distribution (mean, SD) that no normal truncated to the scale's range can hold (an SD too wide
    for a mean so near a bound): sampled with the stated mean and the widest SD such a distribution reaches."""
