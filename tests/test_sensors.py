"""The source-change and stale-embedding sensors, ticked with build_sensor_context against a
real Dagster instance and the embedded database; their run requests are then executed."""

import uuid

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_sensor_context,
    materialize,
)

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.core.sensors import source_changes_sensor
from invest_assets.embeddings.assets import embedding_assets
from invest_assets.embeddings.sensors import DIMENSION_TAG, STALE_ROWS_TAG, stale_embeddings_sensor
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.sources.schema import DIMENSIONS, TABLES
from tests.source_files import write_source, write_table

N = 60


def investor(i, signal="mission driven fintech founders", stamp="2024-01-01T00:00:00+00:00"):
    return {
        "source_id": f"i{i:03d}",
        "name": f"Investor {i}",
        "kind": "firm",
        "updated_at": stamp,
        **{f"{d}_text": f"{d} thesis of investor {i}" for d in DIMENSIONS},
        "signal_text": f"{signal} {i}",
    }


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def setup(db, tmp_path):
    directory = write_source(tmp_path / "src", investors=[investor(i) for i in range(N)])
    return {"database": db, "source": LocalFileSource(directory=str(directory)), "embedder": EmbedderResource()}


def tick(sensor, instance, resources):
    result = sensor(build_sensor_context(instance=instance, resources=resources))
    if isinstance(result, SkipReason):
        return result
    return getattr(result, "run_requests", None) or [result]


def execute(request: RunRequest, resources, instance):
    result = materialize(
        [*core_assets, *embedding_assets],
        selection=request.asset_selection,
        run_config=request.run_config,
        tags=request.tags,
        resources=resources,
        instance=instance,
    )
    assert result.success
    return {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}


def sync_and_embed_everything(instance, resources):
    [request] = tick(source_changes_sensor, instance, resources)
    execute(request, resources, instance)
    for request in tick(stale_embeddings_sensor, instance, resources):
        execute(request, resources, instance)


def add_active_run(instance, keys):
    instance.add_run(
        DagsterRun(
            job_name="__ASSET_JOB",
            run_id=str(uuid.uuid4()),
            status=DagsterRunStatus.STARTED,
            asset_selection=frozenset(keys),
        )
    )


def test_a_new_source_asks_for_every_core_table_then_nothing(instance, setup):
    [request] = tick(source_changes_sensor, instance, setup)
    assert set(request.asset_selection) == {AssetKey(t) for t in TABLES}
    assert request.run_config["ops"]["investors"]["config"]["mode"] == "full"  # local files: full is as cheap
    assert (
        request.tags["dagster/asset_partition_range_start"] == all_months_tags()["dagster/asset_partition_range_start"]
    )
    execute(request, setup, instance)
    skip = tick(source_changes_sensor, instance, setup)
    assert isinstance(skip, SkipReason) and skip.skip_message == "no source changes since the last sync"


def test_nothing_stale_skips_with_a_reason(instance, setup):
    sync_and_embed_everything(instance, setup)
    skip = tick(stale_embeddings_sensor, instance, setup)
    assert isinstance(skip, SkipReason) and skip.skip_message == "no stale rows"


def test_k_changed_signal_texts_ask_for_one_signal_run_that_embeds_exactly_k(instance, setup, tmp_path):
    sync_and_embed_everything(instance, setup)
    changed = {4, 9, 33}
    write_table(
        tmp_path / "src",
        "investors",
        [
            investor(i, "climate hardware", "2024-02-01T00:00:00+00:00") if i in changed else investor(i)
            for i in range(N)
        ],
    )

    [sync] = tick(source_changes_sensor, instance, setup)
    assert sync.asset_selection == [AssetKey("investors")]  # only the table whose file changed
    assert execute(sync, setup, instance)["investors"]["updated"].value == len(changed)

    [request] = tick(stale_embeddings_sensor, instance, setup)
    assert request.asset_selection == [AssetKey("signal_embedding")]
    assert request.tags[DIMENSION_TAG] == "signal" and request.tags[STALE_ROWS_TAG] == str(len(changed))
    metadata = execute(request, setup, instance)
    assert list(metadata) == ["signal_embedding"]
    assert metadata["signal_embedding"]["rows_embedded"].value == len(changed)
    assert isinstance(tick(stale_embeddings_sensor, instance, setup), SkipReason)  # caught up


def test_two_dimensions_changed_in_different_rows_ask_for_one_run_of_exactly_those_two(instance, setup, db):
    sync_and_embed_everything(instance, setup)
    with db.connection() as conn:
        conn.execute("UPDATE investors SET stage_text = 'growth only' WHERE source_id IN ('i001', 'i002')")
        conn.execute("UPDATE investors SET founder_text = 'repeat founders' WHERE source_id = 'i050'")
    [request] = tick(stale_embeddings_sensor, instance, setup)
    assert request.asset_selection == [AssetKey("stage_embedding"), AssetKey("founder_embedding")]
    assert (request.tags[DIMENSION_TAG], request.tags[STALE_ROWS_TAG]) == ("stage,founder", "2,1")
    metadata = execute(request, setup, instance)
    assert {asset: m["rows_embedded"].value for asset, m in metadata.items()} == {
        "stage_embedding": 2,
        "founder_embedding": 1,
    }


def test_a_dimension_with_a_run_in_flight_gets_no_second_run(instance, setup, db):
    sync_and_embed_everything(instance, setup)
    with db.connection() as conn:
        conn.execute("UPDATE investors SET signal_text = 'changed', sector_text = 'changed' WHERE source_id = 'i007'")
    add_active_run(instance, [AssetKey("signal_embedding")])
    requests = tick(stale_embeddings_sensor, instance, setup)
    assert [r.asset_selection for r in requests] == [[AssetKey("sector_embedding")]]


def test_a_failed_run_is_asked_for_again_next_tick(instance, setup, db):
    sync_and_embed_everything(instance, setup)
    with db.connection() as conn:
        conn.execute("UPDATE investors SET check_text = 'tiny checks' WHERE source_id = 'i010'")
    [first] = tick(stale_embeddings_sensor, instance, setup)
    instance.add_run(
        DagsterRun(
            job_name="__ASSET_JOB",
            run_id=str(uuid.uuid4()),
            status=DagsterRunStatus.FAILURE,
            asset_selection=frozenset(first.asset_selection),
        )
    )
    [again] = tick(stale_embeddings_sensor, instance, setup)
    assert again.asset_selection == first.asset_selection


def test_source_changes_wait_for_a_core_run_in_flight_and_are_not_lost(instance, setup):
    add_active_run(instance, [AssetKey("investors")])
    skip = tick(source_changes_sensor, instance, setup)
    assert isinstance(skip, SkipReason) and "waiting for the core-table run in progress" in skip.skip_message
    for run in instance.get_runs():
        instance.report_run_canceled(run)
    [request] = tick(source_changes_sensor, instance, setup)
    assert set(request.asset_selection) == {AssetKey(t) for t in TABLES}
