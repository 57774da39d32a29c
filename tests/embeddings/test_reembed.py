"""The re-embed backfill: shards fill a shadow while find_investors keeps serving the old
model, a failed shard is retried alone, and the switch happens once, atomically."""

import pytest
from dagster import materialize

from invest_assets.embeddings.assets import reembed_assets
from invest_assets.embeddings.partitions import SHARD_COUNT, SHARDS
from invest_assets.embeddings.reembed import SHARD_OF_ID
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.search.find_investors import Filters, find_investors
from invest_assets.vectors.indexes import indexed_dimensions
from invest_assets.vectors.models import serving_model_ids
from tests.embeddings.test_embedding_assets import N, build, investor
from tests.fakes.openai_server import FakeOpenAI
from tests.source_files import write_source

LOCAL = EmbedderResource()


@pytest.fixture
def built(db, tmp_path):
    build(db, write_source(tmp_path / "s", investors=[investor(i) for i in range(N)]), LOCAL)
    return db


def reembed_shard(db, embedder, dimension, shard, expect_success=True):
    result = materialize(
        reembed_assets,
        selection=[f"{dimension}_reembedding"],
        partition_key=shard,
        resources={"database": db, "embedder": embedder},
        raise_on_error=False,
    )
    assert result.success is expect_success
    return result.asset_materializations_for_node(f"{dimension}_reembedding")[0].metadata if expect_success else None


def served(db, dimension):
    with db.connection() as conn:
        model = conn.execute(
            "SELECT m.provider || '/' || m.model || '/' || m.dimensions FROM embedding_models m WHERE id = %s",
            (serving_model_ids(conn)[dimension],),
        ).fetchone()[0]
        stored = conn.execute(
            f"SELECT DISTINCT {dimension}_model_id FROM investors WHERE {dimension}_model_id IS NOT NULL"
        ).fetchall()
    return model, len(stored)


def shard_of(db, source_id):
    with db.connection() as conn:
        return conn.execute(
            f"SELECT {SHARD_OF_ID.as_string(conn)} FROM investors i WHERE source_id = %s", (source_id,)
        ).fetchone()[0]


def test_a_model_change_backfills_by_shard_retries_a_failed_shard_alone_and_switches_once(built):
    with FakeOpenAI() as fake:
        target = EmbedderResource(provider="openai", base_url=fake.base_url, api_key="sk-x", max_retries=0)
        with built.connection() as conn:
            before = find_investors(conn, target, {"signal": "mission driven"}, Filters()).investors
        failing = f"{shard_of(built, 'i000'):02d}"
        for shard in SHARDS.get_partition_keys():
            if shard == failing:
                fake.faults.extend([("500",)] * 4)
                reembed_shard(built, target, "signal", shard, expect_success=False)
                continue
            metadata = reembed_shard(built, target, "signal", shard)
            assert metadata["switched"].value is False  # the failed shard is still missing
            # find_investors keeps answering from the old model, with the same results
            with built.connection() as conn:
                assert find_investors(conn, target, {"signal": "mission driven"}, Filters()).investors == before
            assert served(built, "signal") == ("local/local-hashing-v2/1536", 1)
        assert metadata["shards_left"].value == 1

        sent_before_retry = len(fake.inputs)
        retried = reembed_shard(built, target, "signal", failing)
        assert retried["switched"].value is True
        assert len(fake.inputs) - sent_before_retry == retried["rows_embedded"].value  # only the failed shard's
        assert sorted(fake.inputs) == sorted(investor(i)["signal_text"] for i in range(N) if i != 5)  # each once
        assert served(built, "signal") == ("openai/text-embedding-3-small/1536", 1)
        with built.connection() as conn:
            assert conn.execute("SELECT count(*) FROM embedding_shadow").fetchone()[0] == 0
            assert served(built, "stage")[0] == "local/local-hashing-v2/1536"  # other dimensions untouched
        again = reembed_shard(built, target, "signal", "00")
        assert again["already_serving"].value is True and again["rows_embedded"].value == 0


def test_a_size_change_retypes_the_column_keeps_its_index_and_waits_for_changed_text(built):
    smaller = EmbedderResource(dimensions=256)
    keys = SHARDS.get_partition_keys()
    for shard in keys[:-1]:
        reembed_shard(built, smaller, "sector", shard)
    changed = next(f"i{i:03d}" for i in range(N) if shard_of(built, f"i{i:03d}") == 0)
    with built.connection() as conn:  # text changes in a finished shard while the backfill runs
        conn.execute("UPDATE investors SET sector_text = 'robotics' WHERE source_id = %s", (changed,))
    last = reembed_shard(built, smaller, "sector", keys[-1])
    assert last["switched"].value is False and last["shards_left"].value == 1
    assert reembed_shard(built, smaller, "sector", keys[0])["switched"].value is True

    assert served(built, "sector") == ("local/local-hashing-v2/256", 1)
    with built.connection() as conn:
        assert conn.execute(
            "SELECT DISTINCT vector_dims(sector_embedding) FROM investors WHERE sector_embedding IS NOT NULL"
        ).fetchall() == [(256,)]
        assert "sector" in indexed_dimensions(conn)
        result = find_investors(conn, LOCAL, {"sector": "robotics"}, Filters())
        assert result.investors[0]["source_id"] == changed  # queries now embed at 256 dimensions
    assert SHARD_COUNT == len(keys)
