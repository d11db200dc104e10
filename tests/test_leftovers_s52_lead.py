"""Fifty-second session, lead: leftovers of the fifty-first session's new-user pass (HN)."""

import math

from test_withdrawal_hr_s51_hb import HEADER, _observed_rows, withdrawal_trial  # noqa: F401  (a module fixture)


def test_a_median_not_reached_keeps_the_observed_tables_columns_under_their_headers(withdrawal_trial):  # noqa: F811
    """'not reached' (11 characters) pushed its row 2 characters right of the 9-wide headers (s51 HN)."""
    from ketasim.observed import compare_observed, format_observed, read_observed

    rows = [dict(zip(HEADER.strip().split(","), ln.split(","))) for ln in _observed_rows("s51-hb-rw").splitlines()[1:]]
    df = compare_observed(withdrawal_trial, read_observed(rows, withdrawal_trial.scenario))
    lines = format_observed(df).splitlines()
    header = next(ln for ln in lines if "predicted" in ln and "measure" in ln)
    end_observed, end_predicted = header.index("observed") + 8, header.index("predicted") + 9
    body = [ln for ln in lines if ln.startswith("  esk ") or ln.startswith("  pbo ")]
    assert len(body) == 4 and any("not reached" in ln for ln in body)
    for ln in body:
        # every row's observed and predicted values end where their headers end
        assert ln[end_observed - 1] != " " and ln[end_observed] == " ", ln
        assert ln[end_predicted - 1] != " " and ln[end_predicted] == " ", ln
    # the interval column's header still spans the two bounds: 'inside' sits over every row's yes / no
    at = header.index("inside")
    assert all(ln[at:at + 3] in ("yes", "no ") for ln in body), body
    assert not math.isnan(df["predicted"].iloc[0])


def _cluster(**env):
    from dask.distributed import LocalCluster

    return LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                        scheduler_kwargs={"dashboard_address": ":0"}, env={"NUMBA_NUM_THREADS": "1", **env})


def test_dask_workers_with_a_cold_kernel_cache_say_they_compile(tmp_path, caplog):
    """Known limits 76: the CLI said it compiled only when its own process compiled, but with --dask the workers
    compile (~1-2 min each on a cold cache) without a word. Each worker is asked about its own cache."""
    import logging

    from ketasim.distributed import DaskExecutor
    from ketasim.solver import COMPILE_LOGGER
    from ketasim.solver.kernel import kernel_cache_cold, run_arm

    cold = _cluster(NUMBA_CACHE_DIR=str(tmp_path / "empty-numba-cache"))
    try:
        with caplog.at_level(logging.INFO, logger=COMPILE_LOGGER):
            DaskExecutor(cold.scheduler_address).close()
        said = [r.getMessage() for r in caplog.records if r.name == COMPILE_LOGGER]
        assert said == ["--dask: 1 of 1 worker(s) compile the model kernel on their first task (~1-2 min, once for "
                        "each machine's cache); later runs start in seconds"]
        caplog.clear()
        DaskExecutor(cold.scheduler_address).close()            # nobody listens (library use): silent
        assert not [r for r in caplog.records if r.name == COMPILE_LOGGER]
    finally:
        cold.close()
    # a worker sharing this process's cache says what this process would
    shared = _cluster()
    try:
        with caplog.at_level(logging.INFO, logger=COMPILE_LOGGER):
            DaskExecutor(shared.scheduler_address).close()
        said = [r for r in caplog.records if r.name == COMPILE_LOGGER]
        assert bool(said) == (kernel_cache_cold(run_arm) and not run_arm.overloads)
    finally:
        shared.close()


def test_a_frozen_worker_does_not_hold_the_executors_start(monkeypatch, caplog):
    """Review s52 M1: the workers' cache query had no time limit, so a worker that never answers (stopped, SIGSTOP)
    held `--dask` before its first task without a word, beyond --worker-timeout. Now it gives up after
    WORKER_QUERY_S and says nothing (it cannot tell)."""
    import logging
    import os
    import signal
    import time

    from ketasim import distributed
    from ketasim.solver import COMPILE_LOGGER

    monkeypatch.setattr(distributed, "WORKER_QUERY_S", 2.0)
    cluster = _cluster()
    pid = None
    try:
        from dask.distributed import Client

        with Client(cluster) as c:
            pid = next(iter(c.run(os.getpid).values()))
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with caplog.at_level(logging.INFO, logger=COMPILE_LOGGER):
            ex = distributed.DaskExecutor(cluster.scheduler_address)
        took = time.monotonic() - t0
        os.kill(pid, signal.SIGCONT)
        pid = None
        ex.close()
        assert took < 30, took
        assert not [r for r in caplog.records if r.name == COMPILE_LOGGER]
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        cluster.close()


def test_text_in_the_plan_pages_observation_value_is_named_not_added_as_a_forecast_point():
    """Review s52 L1: text ('1e', '12,5') in the observation's value box reads as '' in the browser; the page added a
    row with an empty rating (a forecast point) without a word."""
    from test_new_user_pass_s52_hn import plan_page

    with plan_page() as page:
        before = page.input_value("#record")
        page.fill("#obs-time", "48")
        page.locator("#obs-value").press_sequentially("1e")   # as HN s52: Chromium drops a comma
        page.click("#obs-add")
        page.wait_for_function("() => document.querySelector('#errors').textContent !== ''", timeout=10_000)
        assert page.inner_text("#errors").startswith("add an observation: value: not a number")
        assert page.input_value("#record") == before           # no row added
        page.fill("#obs-value", "12.5")
        page.click("#obs-add")
        assert page.input_value("#record") != before and ",48," in page.input_value("#record")
