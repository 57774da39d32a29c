"""End-to-end runs of the real CLIs in subprocesses against a fresh embedded database."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from invest_assets.core.partitions import MONTHLY
from tests.core.test_core_assets import COMPANIES, INVESTMENTS, INVESTORS, ROUNDS
from tests.source_files import write_source

BIN = Path(sys.executable).parent


@pytest.fixture
def cli_env(tmp_path, database_url):
    source = write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    (tmp_path / "dagster_home").mkdir()
    return dict(
        os.environ,
        ALLOYDB_URL=database_url,
        INVEST_SOURCE_DIR=str(source),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        INVEST_ASSETS_HOME=str(tmp_path / "home"),
    )


def live_counts(url):
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t} WHERE deleted_at IS NULL").fetchone()[0]
            for t in ("companies", "investors", "funding_rounds", "investments")
        }


@pytest.mark.slow
def test_dagster_asset_materialize_everything(cli_env, database_url):
    done = subprocess.run(
        [
            BIN / "dagster",
            "asset",
            "materialize",
            "-m",
            "invest_assets.definitions",
            "--select",
            "not group:reembedding and not group:ranking",  # as build_everything
            "--partition-range",
            f"{MONTHLY.get_first_partition_key()}...{MONTHLY.get_last_partition_key()}",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert live_counts(database_url) == {"companies": 2, "investors": 2, "funding_rounds": 2, "investments": 3}


@pytest.mark.slow
def test_invest_assets_build_prints_a_summary(cli_env, database_url):
    done = subprocess.run([BIN / "invest-assets", "build"], env=cli_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "investments" in done.stdout and ": success" in done.stdout
    steps = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert steps and steps[-1].startswith(f"[{len(steps)}/{len(steps)}] ") and all(" done  (" in s for s in steps)
    assert "DEBUG" not in done.stdout + done.stderr  # Dagster's event log stays in the instance (--verbose)
    assert "UserWarning" not in done.stderr and "resolve_job_def" not in done.stderr
    assert live_counts(database_url)["investments"] == 3
