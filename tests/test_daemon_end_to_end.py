"""The sensors driving real runs through a real ``dagster-daemon`` in a subprocess: 37
changed signal texts in the source become one investors sync and one signal_embedding
run that embeds exactly 37 texts, with nobody clicking anything."""

import psycopg
import pytest
from dagster import DagsterRunStatus, RunsFilter

from invest_assets.embeddings.sensors import DIMENSION_TAG, STALE_ROWS_TAG
from invest_assets.in_flight import ACTIVE_STATUSES
from tests.daemon import daemon_on_source, wait_until
from tests.source_files import write_source, write_table
from tests.test_sensors import investor

N = 300
CHANGED = set(range(5, 300, 8))  # 37 investors


def stale_and_active(url, instance):
    with psycopg.connect(url) as conn:
        stale = conn.execute(
            "SELECT count(*) FROM investors WHERE signal_text_hash IS DISTINCT FROM signal_embedded_hash"
        ).fetchone()[0]
    return stale, len(instance.get_run_records(RunsFilter(statuses=ACTIVE_STATUSES)))


@pytest.fixture
def daemon(tmp_path, database_url, monkeypatch):
    source = write_source(tmp_path / "src", investors=[investor(i) for i in range(N)])
    with daemon_on_source(tmp_path, database_url, source, monkeypatch) as running:
        yield running


@pytest.mark.slow
def test_37_changed_signal_texts_become_one_signal_run_of_37_without_anyone_clicking(daemon):
    instance, url, log = daemon["instance"], daemon["url"], daemon["log"]
    # First the sensors bring the whole new source in and embed it.
    wait_until(lambda: stale_and_active(url, instance) == (0, 0) and instance.get_run_records(), "the first build", log)
    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in instance.get_run_records())
    before = {r.dagster_run.run_id for r in instance.get_run_records()}

    write_table(
        daemon["source"],
        "investors",
        [
            investor(i, "climate hardware moonshots", "2024-03-01T00:00:00+00:00") if i in CHANGED else investor(i)
            for i in range(N)
        ],
    )

    def signal_run_done():
        runs = [r.dagster_run for r in instance.get_run_records() if r.dagster_run.run_id not in before]
        return any(r.tags.get(DIMENSION_TAG) == "signal" for r in runs) and stale_and_active(url, instance) == (0, 0)

    wait_until(signal_run_done, "the signal_embedding run", log)
    new_runs = [r.dagster_run for r in instance.get_run_records() if r.dagster_run.run_id not in before]
    assert all(run.status == DagsterRunStatus.SUCCESS for run in new_runs)
    embedding_runs = [run for run in new_runs if DIMENSION_TAG in run.tags]
    assert [(run.tags[DIMENSION_TAG], run.tags[STALE_ROWS_TAG]) for run in embedding_runs] == [("signal", "37")]
    [sync] = [run for run in new_runs if run.tags.get("invest/trigger") == "source_changes"]
    assert sync.tags["invest/changed_tables"] == "investors"
    event = instance.get_latest_materialization_event(next(iter(embedding_runs[0].asset_selection)))
    assert event.asset_materialization.metadata["rows_embedded"].value == len(CHANGED)
