"""Scale-out with Dask: chunks of patients, calibration evaluations or sensitivity samples on workers.

``--dask local`` starts a LocalCluster of processes (one per core, one numba thread each);
``--dask tcp://HOST:PORT`` connects to a running scheduler (``dask scheduler`` on one machine,
``dask worker tcp://HOST:8786 --nthreads 1`` on each machine, same ketasim version installed). Work items are
pure functions of picklable tasks (``scale.ChunkTask``: patients are sampled on the worker from per-patient
streams), so results are identical to a single-process run whatever the number of workers, and a worker that
dies is survived: the scheduler reruns its tasks elsewhere. Results come back in task order with a bounded
number of tasks in flight (bounded memory on the client). A cluster that has had no worker at all for
``no_worker_timeout`` seconds (``--worker-timeout``) while tasks are pending stops the wait with
:class:`NoWorkersError` (a ``tcp://`` scheduler keeps the tasks and waits for new workers forever).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Callable

from .errors import InputError, RunLostError
from .limits import fmt_seconds

#: Seconds a cluster may have no worker at all while tasks are pending before :meth:`DaskExecutor.map_as_completed`
#: and :meth:`DaskExecutor.map_ordered` give up (a ``tcp://`` scheduler whose workers all died or were stopped keeps
#: the tasks and waits for new workers forever). Long enough for a worker to be restarted by hand or by a batch
#: system; ``--worker-timeout`` of ``qualify``, ``simulate``, ``trial``, ``sensitivity`` and ``calibrate``.
NO_WORKER_TIMEOUT_S = 300.0
#: Seconds between two looks at the cluster's workers while waiting for a task.
WORKER_CHECK_S = 5.0


class NoWorkersError(RunLostError):
    """The cluster has had no worker for longer than the executor's ``no_worker_timeout`` while tasks were pending.
    ``finished``: the tasks the executor had finished before (all its maps; None when not known)."""

    def __init__(self, *args, finished: int | None = None):
        super().__init__(*args)
        self.finished = finished


class ClusterLostError(NoWorkersError):
    """The client lost its scheduler (stopped, killed, or the network failed): Dask cancels every pending task
    ("scheduler-connection-lost"), which ended a run in a ``FutureCancelledError`` traceback (fiftieth session's
    review L-5, verified in the fifty-first). A :class:`NoWorkersError` so that every handler of a lost cluster
    (``dask_run``, the cross-validation's checkpoint message) says the same one line."""


class _LostSchedulerFilter:
    """A ``logging`` filter for ``distributed.client`` while an executor is open: drops the lines a client writes when
    its scheduler goes ('Failed to reconnect to scheduler ...', and the CancelledError tracebacks of closing), which
    the run's :class:`ClusterLostError` says in one line; every other record passes."""

    def filter(self, record) -> bool:
        import asyncio
        from concurrent.futures import CancelledError

        if record.getMessage().startswith(("Failed to reconnect", "Tried to reconnect")):
            return False
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, (asyncio.CancelledError, CancelledError))


def _quiet_worker_logs() -> None:
    """Run in each worker process of a quiet local cluster: Dask's messages at ERROR only. At the workers' default
    level a cross-validation stopped with Ctrl-C printed 'Async instruction ... ended with CancelledError' for every
    cancelled fit (fiftieth session); the client process's own level is set by ``DaskExecutor(quiet=True)``."""
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)


#: how long (s) a starting executor waits for its workers to say whether their kernel cache is cold (a notice only)
WORKER_QUERY_S = 10.0


def _worker_kernel_cold() -> bool:
    """Run in a worker: whether its first task compiles the default model's kernel (numba's cache holds none)."""
    from .solver.kernel import kernel_cache_cold, run_arm

    return kernel_cache_cold(run_arm)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform says, else the machine's count): the
    default number of local workers."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:          # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def check_dask_address(address: str) -> str:
    """'local' (any case) or a scheduler address; else one line naming --dask (before a command's minutes of work)."""
    if address.strip().lower() == "local":
        return "local"
    if address.startswith(("tcp://", "tls://", "ucx://")) or (":" in address and "://" not in address):
        return address
    # another scheme (inproc://, ws://, http://) passed the check and ended in Dask's ValueError traceback
    raise InputError(f"--dask: use 'local' or a scheduler address such as tcp://HOST:8786 (tcp://, tls:// or "
                     f"ucx://), got {address!r}")


class DaskExecutor:
    """Map functions over tasks on a Dask cluster, results in order (see :func:`ketasim.scale.map_ordered`)."""

    def __init__(self, address: str = "local", *, n_workers: int | None = None, quiet: bool = True,
                 no_worker_timeout: float = NO_WORKER_TIMEOUT_S, worker_check: float = WORKER_CHECK_S):
        """``no_worker_timeout`` (s): how long :meth:`map_as_completed` waits while the cluster has no worker;
        ``worker_check`` (s): how often it looks."""
        self.no_worker_timeout = float(no_worker_timeout)
        self.worker_check = float(worker_check)
        self.finished = 0           # tasks whose result came back, over every map (a stopped run's message says it)
        self.cluster = None
        self.address = address = check_dask_address(address)
        self._lost_filter = None
        if quiet:
            # the client's own lines when its scheduler goes ('Failed to reconnect ...' and two CancelledError
            # tracebacks from closing): the run says it in one line (ClusterLostError). A filter on those records only
            # (Dask's other errors still show), removed on close or when the executor fails to start
            import logging

            self._lost_filter = _LostSchedulerFilter()
            logging.getLogger("distributed.client").addFilter(self._lost_filter)
        self.client = None
        try:
            self._connect(address, n_workers, quiet)
            self._say_if_workers_compile()
        except BaseException:           # a failed start (or Ctrl-C in it) leaves no filter, client or cluster behind
            try:
                if self.client is not None:
                    self.client.close()
                if self.cluster is not None:
                    self.cluster.close()
            finally:
                self._remove_filter()
            raise

    def _say_if_workers_compile(self) -> None:
        """Say once, as the command line's compile notice (``solver.COMPILE_LOGGER`` at INFO), how many workers are
        about to compile the model kernel: a worker with a cold numba cache spent its first task's ~1-2 min compiling
        without a word (Known limits 76; the client process runs no kernel, so its own notice never fired). Asks
        each worker (``solver.kernel.kernel_cache_cold`` there: a remote worker's cache is its own); silent when no
        one listens or a worker cannot tell."""
        import logging

        from .solver import COMPILE_LOGGER

        log = logging.getLogger(COMPILE_LOGGER)
        if not log.isEnabledFor(logging.INFO):
            return
        try:
            # bounded: a frozen worker never answers, and the start waited for it without a word (s52 review M1)
            cold = self.client.run(_worker_kernel_cold, on_error="return", callback_timeout=WORKER_QUERY_S)
        except Exception:  # noqa: BLE001 - a notice: never fail (or hold) a run over it; a timeout cannot tell
            return
        n_cold = sum(v is True for v in cold.values())
        if n_cold:
            log.info(f"--dask: {n_cold} of {len(cold)} worker(s) compile the model kernel on their first task "
                     "(~1-2 min, once for each machine's cache); later runs start in seconds")

    def _connect(self, address: str, n_workers: int | None, quiet: bool) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - dask is a dependency
            raise InputError("--dask: dask[distributed] is not installed (pip install 'dask[distributed]')") from None

        if address == "local":      # any case ('LOCAL' was refused), as the other choice options
            import logging

            if quiet:
                logging.getLogger("distributed").setLevel(logging.ERROR)
            self.cluster = LocalCluster(n_workers=n_workers or available_cores(), threads_per_worker=1,
                                        processes=True, dashboard_address=None,
                                        # the scheduler's HTTP server (health, metrics) on a free port: on 8787 a
                                        # second local cluster on the machine (another command, a test) warned
                                        scheduler_kwargs={"dashboard_address": ":0"},
                                        env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
            self.client = Client(self.cluster)
            if quiet:       # also in the worker processes (a worker started later, a killed one's successor, is not)
                self.client.run(_quiet_worker_logs)
        else:
            try:
                self.client = Client(address, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise InputError(f"--dask: cannot reach the scheduler at {address} ({e}); start it with "
                                 "'dask scheduler' and workers with 'dask worker ADDRESS'") from None

    @property
    def n_workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def map_ordered(self, fn: Callable, tasks, progress: Callable[[float], None] | None = None,
                    window: int | None = None):
        """Yield ``fn(task)`` in task order; at most ``window`` tasks in flight (default 2 per worker). A cluster
        with no worker for more than ``no_worker_timeout`` seconds raises :class:`NoWorkersError`, as
        :meth:`map_as_completed` (it waited forever: fiftieth session's Known limits 75)."""
        tasks = list(tasks)
        total = len(tasks)
        window = window or 2 * self.n_workers + 1
        futures = {}
        nxt = 0
        done = 0
        for i in range(total):
            while nxt < total and nxt - i < window:
                # pure=False: identical tasks must still run (results are cached per key otherwise)
                futures[nxt] = self.client.submit(fn, tasks[nxt], pure=False, retries=2)
                nxt += 1
            fut = futures.pop(i)
            self._first_done([fut], waiting=total - i)
            res = self._result(fut, waiting=total - i)
            fut.release()
            self.finished += 1
            done += 1
            if progress is not None:
                progress(done / total)
            yield res

    def live_workers(self) -> int:
        """The scheduler's workers now (asked, not the client's cached view); 0 if the scheduler cannot be asked."""
        try:
            return len(self.client.nthreads())
        except (OSError, TimeoutError):
            return 0

    def _result(self, fut, waiting: int):
        """``fut.result()``; a task cancelled by Dask raises :class:`ClusterLostError` (:meth:`_lost`). A task's own
        exception propagates unchanged."""
        from concurrent.futures import CancelledError

        try:
            return fut.result()
        except CancelledError:
            raise self._lost(waiting) from None

    def _lost(self, waiting: int) -> ClusterLostError:
        """The one line for tasks Dask cancelled: it does so to every pending task when the client loses its scheduler
        ('scheduler-connection-lost'); the ``FutureCancelledError`` / ``FuturesCancelledError`` it raises ended a run
        in a traceback."""
        where = "the local cluster" if self.address == "local" else f"the scheduler at {self.address}"
        return ClusterLostError(f"lost the connection to {where} (stopped, or the network failed) with {waiting} "
                                "task(s) waiting (restart it: 'dask scheduler' and 'dask worker ADDRESS')",
                                finished=self.finished)

    def _first_done(self, futures, waiting: int) -> set:
        """Wait until one of ``futures`` is done (finished, failed or cancelled) and return the done ones; raise
        :class:`NoWorkersError` when the cluster has had no worker for more than ``no_worker_timeout`` seconds
        meanwhile (``waiting``: the tasks not finished, which the message counts). A task running long on a live
        worker is waited for however long it takes. Shared by :meth:`map_ordered` and :meth:`map_as_completed`."""
        from concurrent.futures import CancelledError

        from dask.distributed import wait

        seen_workers = time.monotonic()         # the last time a worker was there
        while True:
            try:
                done = wait(list(futures), timeout=self.worker_check, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            except CancelledError:          # the scheduler's connection lost: Dask cancelled every pending task
                raise self._lost(waiting) from None
            if done:
                return done
            now = time.monotonic()
            if self.live_workers():
                seen_workers = now
            elif now - seen_workers > self.no_worker_timeout:
                where = "the local cluster" if self.address == "local" else f"the cluster at {self.address}"
                raise NoWorkersError(f"{where} has had no worker for {fmt_seconds(now - seen_workers)} with "
                                     f"{waiting} task(s) waiting (start workers: 'dask worker ADDRESS')",
                                     finished=self.finished)

    def map_as_completed(self, fn: Callable, tasks):
        """Yield ``(index, fn(task))`` as each task finishes, all submitted at once: for a few long tasks (the
        cross-validation's fits, ~10-25 min each), where waiting in task order would hold a finished fit back from
        the checkpoint. A task that raises raises here (the others are cancelled when the executor closes). A
        cluster with no worker for more than ``no_worker_timeout`` seconds raises :class:`NoWorkersError` (a long
        task on a live worker is waited for however long it takes)."""
        tasks = list(tasks)
        # no retries: a fit that raises raises again (a worker that dies is rescheduled by Dask regardless)
        futures = {self.client.submit(fn, t, pure=False): i for i, t in enumerate(tasks)}
        while futures:
            done = self._first_done(list(futures), waiting=len(futures))
            for fut in [f for f in futures if f in done]:       # in submission order
                res = self._result(fut, waiting=len(futures))
                i = futures.pop(fut)
                fut.release()
                self.finished += 1
                yield i, res

    def map(self, fn: Callable, tasks, progress: Callable[[float], None] | None = None) -> list:
        return list(self.map_ordered(fn, tasks, progress))

    def _remove_filter(self) -> None:
        if self._lost_filter is not None:
            import logging

            logging.getLogger("distributed.client").removeFilter(self._lost_filter)
            self._lost_filter = None

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            try:
                if self.cluster is not None:
                    self.cluster.close()
            finally:
                self._remove_filter()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def executor_from_option(address: str | None, worker_timeout: float | None = None):
    """None for no ``--dask``; else a :class:`DaskExecutor` (close it when done) that waits ``worker_timeout``
    seconds (default :data:`NO_WORKER_TIMEOUT_S`) for a worker when the cluster has none."""
    if not address:
        return None
    return DaskExecutor(address, no_worker_timeout=worker_timeout or NO_WORKER_TIMEOUT_S)


def check_worker_timeout(seconds: float, option: str = "--worker-timeout") -> float:
    """``--worker-timeout``: more than 0 seconds (NaN refused too), else one line naming the option."""
    if not seconds > 0:
        raise InputError(f"{option}: must be more than 0 seconds, got {seconds:g}")
    return float(seconds)


@contextlib.contextmanager
def dask_run(address: str | None, worker_timeout: float | None = None, *, lost: str = "the run is lost",
             written: str = "nothing was written (outputs are written only when a run completes)"):
    """``--dask`` of ``simulate``, ``trial``, ``sensitivity`` and ``calibrate``: yield the executor (None without
    ``address``), close it at the end, and turn a :class:`NoWorkersError` into the command's one line: the cluster's
    state, how many tasks had finished, what is lost (``lost``) and that no output was half-written (``written``:
    every output is written after the run, or streamed to a temporary file renamed when complete)."""
    ex = executor_from_option(address, worker_timeout)
    try:
        yield ex
    except NoWorkersError as e:
        done = "" if e.finished is None else f" after {e.finished} finished task(s)"
        raise NoWorkersError(f"--dask: {e}; {lost}{done}: {written}; rerun the command when the cluster is back",
                             finished=e.finished) from None
    finally:
        if ex is not None:
            ex.close()


#: a duration for a progress line ('12.5 s', '14 min', '3.2 h', '30.5 d'; '?' not known yet): the run-budget
#: messages' formatter
duration_text = fmt_seconds


class TextProgress:
    """Progress of a distributed run on stderr: a line every ~2 s (a bar on a terminal).

    The time left is the pace since the first report (the first task done) applied to the work left: the time
    before it holds one-time costs (reading and checking the input, the first evaluation's compilation and caches),
    so a rate from the start said '~45.5 s left' at 5 % of a sensitivity run done 0.3 s later. The first line has
    no estimate yet; 'elapsed' counts from the start."""

    def __init__(self, label: str, enabled: bool = True):
        self.label = label
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last = -1.0
        self.first: tuple[float, float] | None = None     # (time, fraction) of the first report

    def __call__(self, frac: float):
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.first is not None and frac < 1.0 and now - self.last < 2.0:
            return
        self.last = now
        el = now - self.t0
        if self.first is None and frac < 1.0:
            self.first = (now, frac)
            left = "estimating the time left"
        else:
            t1, f1 = self.first if self.first is not None else (self.t0, 0.0)
            eta = (now - t1) * (1 - frac) / (frac - f1) if frac > f1 else float("nan")
            left = f"~{duration_text(eta)} left"
        end = "\n" if (frac >= 1.0 or not sys.stderr.isatty()) else ""
        sys.stderr.write(f"\r{self.label}: {100 * frac:5.1f}% done, {duration_text(el)} elapsed, {left}{end}")
        sys.stderr.flush()
