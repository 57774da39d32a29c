"""The `dagster` commands of the README and docs, taken from their text and run as written, as a new user runs them.

A fresh repository root (this checkout's files, its `.venv`), nothing exported: the main job
(`invest-assets build`, what `make run` runs) on the embedded default, then `invest-assets dev` in
the background, then every `.venv/bin/dagster` command of the README's and the docs' code blocks in a
shell, and the README's `find-investors` queries.
Every run they started, the backfills' runs through dev's daemon included, must succeed on the
instance that `invest-assets dev` and `invest-assets build` use. Then a schedule, turned on with
the README's command and given a one-minute cron through its documented setting, fires through
the same daemon and its run succeeds.
"""

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus
from dotenv import dotenv_values

from invest_assets.resources.database import stop_embedded_server
from tests.daemon import free_port, running_webserver, wait_until

ROOT = Path(__file__).parent.parent
REPO_FILES = ("README.md", "pyproject.toml", "workspace.yaml", "dagster.yaml", "Makefile")
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
pytestmark = pytest.mark.slow


PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))


def documented_commands(prefix: str, pages=PAGES) -> list[str]:
    """Every line of the pages' bash blocks that starts with ``prefix``, once each, in the order they appear."""
    blocks = [block for page in pages for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S)]
    lines = [line for block in blocks for line in block.splitlines() if line.startswith(prefix)]
    return list(dict.fromkeys(lines))


def test_the_readme_documents_the_backfills_and_a_schedule():
    commands = documented_commands(".venv/bin/dagster ", pages=(ROOT / "README.md",))
    assert any("--partition-range" in c for c in commands)
    assert any(c.startswith(".venv/bin/dagster job backfill -j load_history") for c in commands)
    assert any(c.startswith(".venv/bin/dagster schedule start") for c in commands)


@pytest.fixture
def fresh_root(tmp_path) -> Iterator[Path]:
    root = tmp_path / "invest_assets"
    root.mkdir()
    for name in REPO_FILES:
        shutil.copyfile(ROOT / name, root / name)
    (root / ".venv").symlink_to(ROOT / ".venv")  # the package is installed editable from this checkout
    yield root
    stop_embedded_server(str(root / ".invest_assets"))  # the server `invest-assets build` started there


def user_env(**settings) -> dict:
    """The environment of a user who has exported nothing of this platform's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INVEST_", "DAGSTER_", "ALLOYDB_", "OPENAI_", "GOOGLE_"))
    }
    return {**env, **settings}


def shell(command: str, root: Path, env: dict, timeout: float = 900) -> str:
    done = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@contextmanager
def invest_assets_dev(root: Path, env: dict) -> Iterator[Path]:
    port, log = free_port(), root / "dev.log"
    with running_webserver([".venv/bin/invest-assets", "dev", "--port", str(port)], port, env, log, cwd=root):
        yield log


@contextmanager
def platform_instance(root: Path) -> Iterator[DagsterInstance]:
    """The instance the platform wrote to `.env`: what every `dagster` command there uses."""
    written = dotenv_values(root / ".env")
    saved = {key: os.environ.get(key) for key in written}
    os.environ.update(written)
    try:
        with DagsterInstance.get() as instance:
            yield instance
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def settled(instance: DagsterInstance) -> bool:
    """No run queued or in progress and no backfill still launching, twice in a row."""
    for attempt in range(2):
        if attempt:
            time.sleep(3)
        if any(r.status not in FINISHED for r in instance.get_runs()):
            return False
        if any(b.status == BulkActionStatus.REQUESTED for b in instance.get_backfills()):
            return False
    return True


def failed_runs(instance: DagsterInstance) -> list[str]:
    return [
        f"{r.run_id} {r.job_name} {r.tags.get('dagster/partition', '')}: {r.status}"
        for r in instance.get_runs()
        if r.status != DagsterRunStatus.SUCCESS
    ]


def test_the_readme_dagster_commands_run_as_written_beside_invest_assets_dev(fresh_root):
    env = user_env(INVEST_DELTA_SYNC_CRON="* * * * *")  # the schedule's documented setting, so it fires soon
    shell(".venv/bin/invest-assets build", fresh_root, env)
    assert (fresh_root / ".env").exists()
    for query in documented_commands(".venv/bin/invest-assets find-investors ", pages=(ROOT / "README.md",)):
        answer = shell(query, fresh_root, env)
        assert "  1. " in answer or '"source_id"' in answer, query  # at least one investor, as text or JSON
    commands = documented_commands(".venv/bin/dagster ")
    [start_schedule] = [c for c in commands if c.startswith(".venv/bin/dagster schedule start")]
    with invest_assets_dev(fresh_root, env) as log, platform_instance(fresh_root) as instance:
        built = len(instance.get_runs())
        for command in commands:
            shell(command, fresh_root, env)
            if command != start_schedule:
                wait_until(lambda: settled(instance), f"the runs of {command!r}", log, timeout=600)
        backfills = instance.get_backfills()
        # A job backfill ends COMPLETED whatever its runs did: the runs are the truth, checked below.
        assert {b.status for b in backfills} <= {BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS}
        [history] = [b.backfill_id for b in backfills if b.job_name == "load_history"]
        monthly = instance.get_runs(RunsFilter(tags={"dagster/backfill": history}))
        assert sorted(r.tags["dagster/partition"] for r in monthly) == [f"2013-{m:02d}" for m in range(1, 13)]
        assert len(instance.get_runs()) > built + 12
        assert not failed_runs(instance)

        schedule = start_schedule.split()[-1]
        scheduled = RunsFilter(tags={"dagster/schedule_name": schedule})
        wait_until(
            lambda: any(r.status in FINISHED for r in instance.get_runs(scheduled)),
            f"a run of {schedule}",
            log,
            timeout=240,
        )
        shell(f".venv/bin/dagster schedule stop {schedule}", fresh_root, env)  # one tick a minute is enough
        wait_until(lambda: settled(instance), "the runs after the schedule's", log, timeout=300)
        assert not failed_runs(instance)
