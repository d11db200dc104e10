"""`--dask` runs other than the refit cross-validation stop when the cluster has lost every worker (fifty-first session,
Known limits 75): `DaskExecutor.map_ordered` (simulate, trial, sensitivity, calibrate) shares the wait of the CV's
`map_as_completed` (`--worker-timeout`, default 300 s; it waited forever), and each command says in one line what
finished, what is lost and that no output was half-written. As tests/test_refit_cv_parallel_s49.py tests the CV's
wait: a real local cluster whose workers are stopped stands for a tcp:// cluster that lost them."""

from __future__ import annotations

import time

import pytest
import yaml

from _support import one_error_line, run_cli
from test_scale import TWO_ARMS

from ketasim.distributed import DaskExecutor


def _stop_workers(ex) -> None:
    ex.cluster.scale(0)
    t0 = time.monotonic()
    while ex.live_workers() and time.monotonic() - t0 < 60:
        time.sleep(0.1)
    assert ex.live_workers() == 0


def test_map_ordered_stops_the_wait_after_the_timeout_and_counts_what_finished():
    from ketasim.distributed import NoWorkersError

    with DaskExecutor("local", n_workers=1, no_worker_timeout=1.0, worker_check=0.2) as ex:
        assert list(ex.map_ordered(abs, [-1, -2])) == [1, 2]
        assert ex.finished == 2
        _stop_workers(ex)
        t0 = time.monotonic()
        with pytest.raises(NoWorkersError) as e:
            list(ex.map_ordered(abs, [-3, -4, -5]))
        waited = time.monotonic() - t0
    assert 1.0 < waited < 30, waited
    assert e.value.finished == 2
    assert str(e.value).startswith("the local cluster has had no worker for ")
    assert str(e.value).endswith(" with 3 task(s) waiting (start workers: 'dask worker ADDRESS')")


def test_map_ordered_waits_for_a_task_longer_than_the_timeout_on_a_live_worker():
    with DaskExecutor("local", n_workers=1, no_worker_timeout=0.3, worker_check=0.1) as ex:
        assert list(ex.map_ordered(time.sleep, [1.0, 0.0])) == [None, None]


def test_one_wait_serves_both_maps():
    """Shared code, not a copy: both maps wait through `_first_done`."""
    import inspect

    for name in ("map_ordered", "map_as_completed"):
        src = inspect.getsource(getattr(DaskExecutor, name))
        assert "self._first_done(" in src and "NoWorkersError(" not in src, name


class _LosesItsWorkers:
    """A real one-worker local cluster (1 s timeout) that loses its worker once the first chunk is back."""
    made: list = []

    def __new__(cls, address, no_worker_timeout=None, **kw):
        cls.made.append((address, no_worker_timeout))
        ex = DaskExecutor("local", n_workers=1, no_worker_timeout=1.0, worker_check=0.2)
        real = ex.map_ordered

        def map_ordered(fn, tasks, progress=None):
            for k, res in enumerate(real(fn, tasks, progress)):
                if k == 0:
                    _stop_workers(ex)
                yield res

        ex.map_ordered = map_ordered
        return ex


@pytest.fixture
def losing(monkeypatch):
    from ketasim import distributed

    _LosesItsWorkers.made = []
    monkeypatch.setattr(distributed, "DaskExecutor", _LosesItsWorkers)
    return _LosesItsWorkers.made


def _scenario(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(TWO_ARMS))
    return path


def test_simulate_says_what_finished_and_leaves_the_files_as_they_were(losing, tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("old\n")
    code, stdout, err = run_cli(capsys, "simulate", _scenario(tmp_path), "--size", "20", "--chunk", "5", "--dask",
                                "tcp://10.0.0.1:8786", "--worker-timeout", "7", "--csv", csv,
                                "--parquet", tmp_path / "t.parquet")
    assert code == 1
    assert losing == [("tcp://10.0.0.1:8786", 7.0)]
    line = one_error_line("\n".join(ln for ln in err.splitlines() if "% done" not in ln))     # the progress lines
    assert line.startswith("error: --dask: the local cluster has had no worker for ")
    assert " task(s) waiting (start workers: 'dask worker ADDRESS'); the run is lost after 1 finished task(s): no " \
           "file was written or changed (each is streamed to a temporary file renamed when complete); rerun the " \
           "command when the cluster is back" in line
    assert csv.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "two.yaml"]     # no temporary file left


def test_trial_says_nothing_was_written(losing, tmp_path, capsys):
    out = tmp_path / "t.json"
    code, stdout, err = run_cli(capsys, "trial", _scenario(tmp_path), "--size", "20", "--chunk", "5", "--dask",
                                "local", "--json", out, "--no-progress")
    assert code == 1 and not out.exists()
    assert losing == [("local", 300.0)]
    assert one_error_line(err).endswith("; the run is lost after 1 finished task(s): nothing was written (outputs "
                                        "are written only when a run completes); rerun the command when the "
                                        "cluster is back")


def test_calibrate_says_the_fit_is_lost(monkeypatch, tmp_path, capsys):
    """calibrate's evaluations map on the executor; a fake one that lost its workers at the first map."""
    from ketasim import distributed

    class NoWorkers:
        def __init__(self, address, no_worker_timeout=None):
            self.n_workers = 1

        def map_ordered(self, fn, tasks, progress=None):
            raise distributed.NoWorkersError("the cluster at tcp://h:1 has had no worker for 5.0 min with 9 task(s) "
                                             "waiting (start workers: 'dask worker ADDRESS')", finished=0)
            yield

        def close(self):
            pass

    monkeypatch.setattr(distributed, "DaskExecutor", NoWorkers)
    out = tmp_path / "fit.json"
    code, stdout, err = run_cli(capsys, "calibrate", "--dask", "tcp://h:1", "--size", "40", "--max-evaluations", "1",
                                "--out", out)
    assert code == 1 and not out.exists()
    assert one_error_line(err) == (
        "error: --dask: the cluster at tcp://h:1 has had no worker for 5.0 min with 9 task(s) waiting (start workers: "
        f"'dask worker ADDRESS'); the fit is lost after 0 finished task(s): nothing was written ({out} is written "
        "when the fit ends); rerun the command when the cluster is back")


@pytest.mark.parametrize("command", ["simulate", "trial", "sensitivity", "calibrate"])
def test_the_option_is_documented_with_the_cv_default(command):
    from typer.testing import CliRunner

    from ketasim.cli import app

    helped = " ".join(CliRunner().invoke(app, [command, "--help"], terminal_width=200).output.split())
    assert "--worker-timeout" in helped and "default: 300.0" in helped
    assert "With --dask: seconds the cluster may have no worker at all before the run stops" in helped


@pytest.mark.parametrize("command", [["simulate", "--drug", "racemic-ketamine", "--route", "iv-infusion", "--dose",
                                      "0.5 mg/kg"],
                                     ["trial", "examples/design_example.yaml"],
                                     ["sensitivity", "examples/design_example.yaml", "--endpoint", "cadss_peak"],
                                     ["calibrate"]])
@pytest.mark.parametrize("extra,says", [
    (["--worker-timeout", "60"], "error: --worker-timeout: only with --dask (without it the run is in this process, "
                                 "with no worker to wait for)"),
    (["--dask", "local", "--worker-timeout", "0"], "error: --worker-timeout: must be more than 0 seconds, got 0"),
    (["--dask", "local", "--worker-timeout", "nan"], "error: --worker-timeout: must be more than 0 seconds, got nan"),
])
def test_a_worker_timeout_that_would_do_nothing_is_refused_before_any_work(command, extra, says, capsys, monkeypatch):
    from ketasim import distributed

    monkeypatch.setattr(distributed, "DaskExecutor", lambda *a, **k: pytest.fail("a cluster was started"))
    code, stdout, err = run_cli(capsys, *command, *extra)
    assert code == 2 and one_error_line(err) == says


# ---- review L-6: qualify's --worker-timeout with --jobs 1 was ignored without a word ---------------------------------
@pytest.fixture
def quick_cv(monkeypatch):
    from ketasim import calibration as cal

    seen = {}

    def cross_validate(params, **kw):
        seen.update(kw)
        return {"in_sample": [], "out_of_sample": [], "folds": [], "in_sample_fit": None, "settings": {},
                "checkpoint": None}

    monkeypatch.setattr(cal, "qualify", lambda *a, **k: ([], []))
    monkeypatch.setattr(cal, "qualification_html", lambda *a, **k: None)
    monkeypatch.setattr(cal, "cross_validate", cross_validate)
    return seen


@pytest.mark.parametrize("dask", [[], ["--dask", "local"]])
def test_qualify_refuses_a_worker_timeout_with_jobs_1(quick_cv, dask, capsys, tmp_path):
    code, stdout, err = run_cli(capsys, "qualify", "--cross-validate", "--jobs", "1", *dask, "--worker-timeout", "60",
                                "--cv-json", tmp_path / "cv.json", "--size", "50", "--html", tmp_path / "q.html")
    assert code == 2 and stdout == "" and list(tmp_path.iterdir()) == [] and not quick_cv
    assert one_error_line(err) == ("error: --worker-timeout: not with --jobs 1 (the fits run one after another in "
                                   "this process, with no worker to wait for)")


def test_qualify_jobs_1_without_the_option_runs_and_a_remote_cluster_takes_it(quick_cv, monkeypatch, capsys,
                                                                              tmp_path):
    from ketasim import distributed

    code, stdout, err = run_cli(capsys, "qualify", "--cross-validate", "--jobs", "1", "--cv-json",
                                tmp_path / "cv.json", "--size", "50", "--html", tmp_path / "q.html")
    assert code == 0 and err == "" and quick_cv["executor"] is None

    made = []

    class FakeExecutor:
        def __init__(self, address, n_workers=None, **options):
            made.append((address, options))
            self.n_workers = 3

        def close(self):
            pass

    monkeypatch.setattr(distributed, "DaskExecutor", FakeExecutor)
    code, stdout, err = run_cli(capsys, "qualify", "--cross-validate", "--dask", "tcp://h:1", "--worker-timeout",
                                "60", "--cv-json", tmp_path / "cv2.json", "--size", "50", "--html",
                                tmp_path / "q2.html")
    assert code == 0 and err == "" and made == [("tcp://h:1", {"no_worker_timeout": 60.0})]


def test_qualify_on_one_core_says_the_option_is_not_used(quick_cv, monkeypatch, capsys, tmp_path):
    """--jobs 0 (the default) on a one-core machine runs in this process: a note, not a refusal (the same command
    uses workers elsewhere)."""
    from ketasim import distributed

    monkeypatch.setattr(distributed, "available_cores", lambda: 1)
    monkeypatch.setattr(distributed, "DaskExecutor", lambda *a, **k: pytest.fail("a cluster was started"))
    code, stdout, err = run_cli(capsys, "qualify", "--cross-validate", "--worker-timeout", "60", "--cv-json",
                                tmp_path / "cv.json", "--size", "50", "--html", tmp_path / "q.html")
    assert code == 0 and quick_cv["executor"] is None
    assert err == ("note: --worker-timeout is not used: one available core, so the fits run one after another in "
                   "this process (it applies to fits on workers: --jobs 2 or more, --dask)\n")
    code, stdout, err = run_cli(capsys, "qualify", "--cross-validate", "--cv-json", tmp_path / "cv.json",
                                "--size", "50", "--html", tmp_path / "q.html")
    assert code == 0 and err == ""          # the default said nothing


def test_a_lost_scheduler_ends_in_one_line_not_a_cancelled_future_traceback():
    """The s50 review's L-5, verified in the fifty-first session: a `tcp://` scheduler killed mid-run made Dask cancel
    every pending task ('scheduler-connection-lost') and `ketasim trial --dask` ended in a FuturesCancelledError
    traceback. Now `ClusterLostError` (a `NoWorkersError`, so `dask_run` and the CV say it in their one line)."""
    from dask.distributed import LocalCluster

    from ketasim.distributed import ClusterLostError, NoWorkersError

    # worker processes and a tcp:// scheduler, as a user's (an inproc:// address is refused: review s51 L8)
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"})
    try:
        ex = DaskExecutor(cluster.scheduler_address, no_worker_timeout=600.0, worker_check=0.2)
        assert list(ex.map_ordered(abs, [-1])) == [1]
        results = ex.map_ordered(time.sleep, [0.5] * 6)
        next(results)
        cluster.close()                       # the scheduler goes; the client gives up after its 20-s reconnect
        t0 = time.monotonic()
        with pytest.raises(ClusterLostError) as e:
            list(results)
        assert time.monotonic() - t0 < 120
    finally:
        cluster.close()
        ex.close()
    assert isinstance(e.value, NoWorkersError) and e.value.finished == 2
    msg = str(e.value)
    assert msg.startswith(f"lost the connection to the scheduler at {cluster.scheduler_address} ") and "\n" not in msg


def test_the_lost_scheduler_filter_drops_only_its_lines_and_goes_with_the_executor():
    """Review s51 L3: the client's logger was set to CRITICAL (hiding every Dask error) and not restored when the
    executor failed to start. Now a filter drops only the reconnect line and CancelledError tracebacks, and is removed
    on close and on a failed start."""
    import asyncio
    import logging

    from ketasim.distributed import _LostSchedulerFilter
    from ketasim.errors import InputError

    f = _LostSchedulerFilter()

    def record(msg, exc=None):
        return logging.LogRecord("distributed.client", logging.ERROR, __file__, 1, msg, None,
                                 (type(exc), exc, None) if exc else None)

    assert not f.filter(record("Failed to reconnect to scheduler after 20.00 seconds, closing client"))
    assert not f.filter(record("", asyncio.CancelledError()))
    assert f.filter(record("Scheduler exception"))
    assert f.filter(record("Couldn't gather keys", ValueError("x")))
    client_log = logging.getLogger("distributed.client")
    before = list(client_log.filters)
    with pytest.raises(InputError, match="cannot reach the scheduler"):
        DaskExecutor("tcp://127.0.0.1:1")
    assert client_log.filters == before and client_log.level == logging.NOTSET or client_log.filters == before
    with DaskExecutor("local", n_workers=1) as ex:
        assert any(isinstance(x, _LostSchedulerFilter) for x in client_log.filters)
        assert list(ex.map_ordered(abs, [-1])) == [1]
    assert client_log.filters == before
