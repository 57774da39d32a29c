"""The README's backfill commands, run verbatim in subprocesses against the embedded database:
a partition range in one run, and one run per month through a real daemon."""

import os
import re
import shlex
import subprocess
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from tests.core.test_partitions_and_sync import COMPANIES, INVESTMENTS, INVESTORS, ROUND_DAYS, ROUNDS
from tests.daemon import BIN, dagster_home, running_daemon, wait_until
from tests.source_files import write_source

README = (Path(__file__).parents[2] / "README.md").read_text()
BACKFILLS = README.split("### Backfills from the CLI", 1)[1].split("\n#", 1)[0]


def readme_command(prefix: str) -> list[str]:
    [line] = [line for line in re.findall(r"^(dagster .+)$", BACKFILLS, flags=re.M) if line.startswith(prefix)]
    return shlex.split(line)


def rounds_of(months):
    return {key for key, (_, month) in ROUND_DAYS.items() if month in months}


@pytest.fixture
def env(tmp_path, database_url):
    source = write_source(tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS,
                          investments=INVESTMENTS)
    environment = dict(os.environ, ALLOYDB_URL=database_url, INVEST_SOURCE_DIR=str(source),
                       DAGSTER_HOME=str(dagster_home(tmp_path / "dagster_home")),
                       INVEST_ASSETS_HOME=str(tmp_path / "home"))
    run(["dagster", "asset", "materialize", "-m", "invest_assets.definitions", "--select", "companies,investors"],
        environment)
    return environment


def run(command, env):
    done = subprocess.run([str(BIN / command[0]), *command[1:]], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def live(url, table):
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute(f"SELECT source_id FROM {table} WHERE deleted_at IS NULL")}


@pytest.mark.slow
def test_asset_materialize_partition_range_loads_those_months_in_one_run(env, database_url):
    command = readme_command("dagster asset materialize")
    assert "--partition-range" in command and "2013-01...2013-12" in command
    run(command, env)
    expected = rounds_of({f"2013-{m:02d}" for m in range(1, 13)})
    assert live(database_url, "funding_rounds") == expected  # r_later waits for the last month
    assert live(database_url, "investments") == {f"{r}|{i}" for r in expected for i in ("f1", "f2")}


@pytest.mark.slow
def test_job_backfill_makes_one_run_per_month_through_the_daemon(env, database_url, tmp_path, monkeypatch):
    command = readme_command("dagster job backfill")
    assert command[command.index("--from") + 1: command.index("--from") + 4:2] == ["2013-01", "2013-12"]
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    log = tmp_path / "daemon.log"
    # Only the backfill should write rounds here; the source sensor would sync every month.
    run(["dagster", "sensor", "stop", "-m", "invest_assets.definitions", "source_changes_sensor"], env)
    with running_daemon(env, log), DagsterInstance.get() as instance:
        run(command, env)

        def backfill_runs():
            return [r for r in instance.get_runs() if "dagster/backfill" in r.tags]

        def all_done():
            runs = backfill_runs()
            return len(runs) == 12 and all(r.status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)
                                           for r in runs)

        wait_until(all_done, "twelve monthly runs", log)
        runs = backfill_runs()
        assert sorted(r.tags["dagster/partition"] for r in runs) == [f"2013-{m:02d}" for m in range(1, 13)]
        assert all(r.status == DagsterRunStatus.SUCCESS for r in runs)
    assert live(database_url, "funding_rounds") == rounds_of({f"2013-{m:02d}" for m in range(1, 13)})
