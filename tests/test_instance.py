"""The platform's Dagster instance: PostgreSQL storage beside the data, surviving restarts."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType

from invest_assets.instance import prepare_instance

DAGSTER = Path(sys.executable).parent / "dagster"


def dagster(*args):
    done = subprocess.run(
        [DAGSTER, *args, "-m", "invest_assets.definitions"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_runs_schedule_state_and_sensor_cursors_survive_a_restart_in_postgres(tmp_path, database_url, monkeypatch):
    monkeypatch.chdir(tmp_path)  # prepare_instance writes .env here, where Dagster's CLIs would pick it up
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)
    monkeypatch.setenv("INVEST_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ALLOYDB_URL", database_url)
    home = prepare_instance()  # what `invest-assets dev` and `invest-assets build` do first
    assert home == tmp_path / "home" / "dagster" and (home / "dagster.yaml").exists()

    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.run_retries_enabled and instance.get_concurrency_config().pool_config.default_pool_limit == 2
        instance.add_run(DagsterRun(job_name="build_everything", run_id="r-1", status=DagsterRunStatus.SUCCESS))
    dagster("schedule", "start", "delta_sync_schedule")
    dagster("sensor", "cursor", "source_changes_sensor", "--set", "cursor-7")

    with DagsterInstance.get() as restarted:  # as a new webserver or daemon process would see it
        assert [r.run_id for r in restarted.get_runs()] == ["r-1"]
        states = {s.name: s for s in restarted.all_instigator_state()}
        assert states["delta_sync_schedule"].status == InstigatorStatus.RUNNING
        assert states["delta_sync_schedule"].instigator_type == InstigatorType.SCHEDULE
        assert states["source_changes_sensor"].instigator_data.cursor == "cursor-7"
    with psycopg.connect(database_url) as conn:  # the storage is a `dagster` database on the data's server
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'dagster'").fetchone()
