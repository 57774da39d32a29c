"""Real Dagster processes for end-to-end tests (a daemon, a webserver), each in its own process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def dagster_home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return path


@contextmanager
def daemon_on_source(tmp_path: Path, database_url: str, source: Path, monkeypatch) -> Iterator[dict]:
    """A daemon of the code location over ``source`` (sensors every 3 s) and its instance, in this process too."""
    from dagster import DagsterInstance

    home = dagster_home(tmp_path / "dagster_home")
    env = dict(
        os.environ,
        ALLOYDB_URL=database_url,
        INVEST_SOURCE_DIR=str(source),
        DAGSTER_HOME=str(home),
        INVEST_ASSETS_HOME=str(tmp_path / "home"),
        INVEST_SENSOR_INTERVAL_SECONDS="3",
    )
    log = tmp_path / "daemon.log"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # The instance's storage made before the daemon starts: the daemon and its code server would otherwise
    # each make it, and two stamps of its schema break it (dagster#27390; seen once on a loaded machine).
    with DagsterInstance.get() as instance, running_daemon(env, log):
        yield {"instance": instance, "source": source, "log": log, "url": database_url}


@contextmanager
def running_daemon(env: dict, log: Path) -> Iterator[subprocess.Popen]:
    with log.open("w") as out:
        # In the test's own directory: Dagster's CLIs load .env from their working directory.
        process = subprocess.Popen(
            [BIN / "dagster-daemon", "run", "-m", "invest_assets.definitions"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=log.parent,
        )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def wait_until(condition, what: str, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what}; daemon log tail:\n{log.read_text()[-3000:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_webserver(command: list, port: int, env: dict, log: Path, cwd: Path | None = None) -> Iterator[str]:
    """Start ``command`` (a webserver on ``port``), wait until it serves, yield its base URL, stop it."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=cwd or log.parent, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"

    def serving():
        try:
            return urllib.request.urlopen(f"{base}/server_info", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_until(serving, f"the webserver of {command[0]}", log, timeout=180)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
