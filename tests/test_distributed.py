"""Dask scale-out (issue 10) with a real LocalCluster of two worker processes: identical results to the
single-process run, also when a worker process is killed in the middle of the run."""

from __future__ import annotations

import os
import signal

import pytest

import ketasim
from ketasim.distributed import DaskExecutor
from ketasim.trial import run_trial

from _support import params
from test_scale import TWO_ARMS


@pytest.fixture(scope="module")
def cluster():
    ex = DaskExecutor("local", n_workers=2)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def single_process():
    sc = ketasim.scenario_from_dict(TWO_ARMS)
    return sc, run_trial(sc, params(), chunk=60).to_dict()


def test_trial_on_dask_equals_the_single_process_run(cluster, single_process):
    sc, ref = single_process
    seen = []
    got = run_trial(sc, params(), chunk=9, executor=cluster, progress=seen.append).to_dict()
    assert got == ref
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)        # progress is reported


def test_a_worker_killed_mid_run_is_survived_with_an_identical_result(cluster, single_process):
    sc, ref = single_process
    pids = cluster.client.run(os.getpid)             # worker address -> process id
    assert len(pids) == 2
    victim = sorted(pids.values())[0]
    killed = []

    def kill_once(frac):
        if not killed and 0 < frac < 1:
            os.kill(victim, signal.SIGKILL)           # the nanny restarts it; the scheduler reruns its tasks
            killed.append(frac)

    got = run_trial(sc, params(), chunk=5, executor=cluster, progress=kill_once).to_dict()
    assert killed, "the worker was not killed during the run"
    assert got == ref


def test_sensitivity_on_dask_equals_the_single_process_run(cluster):
    from test_sensitivity import SCENARIO

    from ketasim.sensitivity import run_sensitivity

    sc = ketasim.scenario_from_dict(SCENARIO)
    kw = dict(endpoint="mean_change@24h", params=params(), patterns=("protein_gain", "placebo_gain"), n_patients=10,
              samples=2)
    assert run_sensitivity(sc, executor=cluster, **kw).to_dict() == run_sensitivity(sc, **kw).to_dict()


def test_calibration_predictions_on_dask_equal_the_single_process_run(cluster):
    import numpy as np

    from ketasim.calibration import build_targets, predictions

    targets = build_targets()[0]
    np.testing.assert_array_equal(predictions(params(), targets, size=150, seed=3, executor=cluster),
                                  predictions(params(), targets, size=150, seed=3))


def test_streamed_simulation_on_dask_writes_the_same_file(cluster, tmp_path):
    import pandas as pd

    from ketasim.scale import simulate_streamed

    sc = ketasim.scenario_from_dict(TWO_ARMS)
    simulate_streamed(sc, params(), chunk=13, parquet=tmp_path / "a.parquet", executor=cluster)
    simulate_streamed(sc, params(), chunk=60, parquet=tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"),
                                  check_exact=True)


def _distributed_log_level() -> int:
    import logging

    return logging.getLogger("distributed").getEffectiveLevel()


def test_quiet_local_workers_log_errors_only():
    """A quiet local cluster's worker processes log at ERROR: at their default level a cross-validation stopped with
    Ctrl-C printed Dask's 'Async instruction ... ended with CancelledError' for every cancelled fit (fiftieth
    session). A cluster of its own: the module's cluster has a worker restarted by the kill test above."""
    import logging

    ex = DaskExecutor("local", n_workers=2)
    try:
        levels = ex.client.run(_distributed_log_level)
    finally:
        ex.close()
    assert len(levels) == 2 and all(level == logging.ERROR for level in levels.values()), levels
