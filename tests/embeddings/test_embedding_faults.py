"""Faults injected for real into embedding runs, each a `dagster asset materialize` subprocess:
SIGKILL mid-run (writing batch by batch, and staging a bulk run), two runs of the same dimension at
once, and the database restarting."""

import os
import signal
import subprocess
import time

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance

from invest_assets.embeddings.incremental import embed_dimension
from invest_assets.resources.database import (
    AlloyDBResource,
    apply_migrations,
    embedded_server_url,
    stop_embedded_server,
)
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.tools.sample_data import write_many_investors
from tests.core.test_faults import DAGSTER, failure_summary, load_in_process, restart_server_and_expect_a_retry

pytestmark = pytest.mark.slow

N = 12_000
BATCH = 300  # 40 committed batches: a kill lands between the first and the last
VECTORS = (
    "SELECT source_id, md5(signal_embedding::text), signal_embedded_hash = signal_text_hash, signal_embedded_at"
    " FROM investors ORDER BY source_id"
)


def start_embedding(url, tmp_path, name, **env):
    home = tmp_path / f"{name}_dagster_home"
    home.mkdir()
    env = dict(os.environ, ALLOYDB_URL=url, DAGSTER_HOME=str(home), INVEST_EMBED_BATCH_ROWS=str(BATCH), **env)
    with open(tmp_path / f"{name}.log", "w") as log:
        return subprocess.Popen(
            [DAGSTER, "asset", "materialize", "-m", "invest_assets.definitions", "--select", "signal_embedding"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def embedded_or_staged_rows(url) -> int:
    """Signal vectors written, or staged by a bulk run (a first build is one)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(signal_embedding) FROM investors)"
            " + (SELECT count(*) FROM embedding_stage WHERE target = 'signal')"
        ).fetchone()[0]


def wait_until_some_batches_committed(url, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if embedded_or_staged_rows(url) >= 2 * BATCH:
            return
        time.sleep(0.05)
    raise AssertionError("no batch was committed")


def run_metadata(tmp_path, name) -> dict:
    with DagsterInstance.from_config(str(tmp_path / f"{name}_dagster_home")) as instance:
        event = instance.get_latest_materialization_event(AssetKey("signal_embedding"))
        return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def rows_embedded_by(tmp_path, name) -> int:
    return run_metadata(tmp_path, name)["rows_embedded"]


def vectors(url):
    with psycopg.connect(url) as conn:
        return conn.execute(VECTORS).fetchall()


def reference_vectors(url, source):
    load_in_process(url, source)
    with AlloyDBResource(url=url).connection() as conn:
        embed_dimension(conn, EmbedderResource(), "signal")
    return [row[:3] for row in vectors(url)]


@pytest.fixture
def loaded(tmp_path, new_database_url):
    source = write_many_investors(tmp_path / "src", N)
    url = new_database_url()
    load_in_process(url, source)
    return url, source


def test_sigkill_mid_embedding_leaves_whole_rows_and_the_rerun_embeds_only_the_rest(loaded, tmp_path, new_database_url):
    """Below the bulk threshold each batch is written to the table as it is embedded."""
    url, source = loaded
    by_batch = {"INVEST_EMBED_BULK_MIN_ROWS": str(N + 1)}
    killed = start_embedding(url, tmp_path, "killed", **by_batch)
    wait_until_some_batches_committed(url)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    after_kill = vectors(url)
    done = [row for row in after_kill if row[1] is not None]
    assert 0 < len(done) < N, "the kill did not land mid-run"
    assert all(row[2] for row in done)  # every vector belongs to its row's current text
    # (vector, hash, model and time are all set or all NULL: the table's CHECK constraint)

    rerun = start_embedding(url, tmp_path, "rerun", **by_batch)
    assert rerun.wait(timeout=300) == 0, failure_summary(tmp_path / "rerun.log")
    assert rows_embedded_by(tmp_path, "rerun") == N - len(done)  # nothing committed was embedded again
    final = vectors(url)
    assert {row[0]: row[3] for row in final if row[0] in {d[0] for d in done}} == {d[0]: d[3] for d in done}
    assert [row[:3] for row in final] == reference_vectors(new_database_url(), source)


def test_sigkill_mid_bulk_embedding_leaves_the_table_as_it_was_and_the_rerun_embeds_only_what_was_not_staged(
    loaded, tmp_path, new_database_url
):
    """A first build is a bulk run: its vectors are staged, then written together (embeddings/bulk.py)."""
    url, source = loaded
    killed = start_embedding(url, tmp_path, "killed")
    wait_until_some_batches_committed(url)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(signal_embedding) FROM investors").fetchone()[0] == 0
        staged, current = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE s.text_hash = i.signal_text_hash)"
            " FROM embedding_stage s JOIN investors i ON i.id = s.id WHERE s.target = 'signal'"
        ).fetchone()
    assert 0 < staged < N and current == staged, "the kill did not land mid-run"

    rerun = start_embedding(url, tmp_path, "rerun")
    assert rerun.wait(timeout=300) == 0, failure_summary(tmp_path / "rerun.log")
    metadata = run_metadata(tmp_path, "rerun")
    assert metadata["batches"] == -(-(N - staged) // BATCH)  # the staged rows were not embedded again
    assert metadata["rows_embedded"] == N
    assert [row[:3] for row in vectors(url)] == reference_vectors(new_database_url(), source)


def test_two_embedding_runs_at_once_embed_each_text_once(loaded, tmp_path, new_database_url):
    url, source = loaded
    runs = [start_embedding(url, tmp_path, f"run{i}") for i in range(2)]
    for i, run in enumerate(runs):
        assert run.wait(timeout=300) == 0, failure_summary(tmp_path / f"run{i}.log")
    # the per-dimension advisory lock makes the second wait, then find nothing stale
    assert sorted(rows_embedded_by(tmp_path, f"run{i}") for i in range(2)) == [0, N]
    assert [row[:3] for row in vectors(url)] == reference_vectors(new_database_url(), source)


def test_database_restart_mid_embedding_is_retried_and_loses_nothing(tmp_path, new_database_url):
    home = tmp_path / "own_server"
    url = embedded_server_url(str(home))
    apply_migrations(url)
    try:
        source = write_many_investors(tmp_path / "src", N)
        load_in_process(url, source)
        proc = start_embedding(url, tmp_path, "restarted")
        wait_until_some_batches_committed(url)
        restart_server_and_expect_a_retry(home, proc, tmp_path / "restarted.log")
        assert [row[:3] for row in vectors(url)] == reference_vectors(new_database_url(), source)
    finally:
        stop_embedded_server(str(home))
