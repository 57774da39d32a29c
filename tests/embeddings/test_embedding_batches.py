"""Large embedding runs through OpenAI's Batch API, with the real client against the loopback fake: the
same vectors as the synchronous path at half the price, failed lines embedded one by one, a run
killed while waiting finished by the next with the same single batch, and a re-embed backfill whose
shards each go as a batch."""

import numpy as np
import pytest
from dagster import materialize

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.embeddings.incremental import embed_dimension
from invest_assets.embeddings.partitions import SHARDS
from invest_assets.embeddings.reembed import SHARD_OF_ID
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.local_source import LocalFileSource
from tests.embeddings.test_embedding_assets import build, investor, openai
from tests.embeddings.test_reembed import reembed_shard, served
from tests.fakes.openai_server import FakeOpenAI, kill_while_polling
from tests.source_files import write_source

N = 40


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("INVEST_OPENAI_BATCH", "always")
    monkeypatch.setenv("INVEST_OPENAI_BATCH_POLL_SECONDS", "0.01")
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def loaded(db, tmp_path):
    source = write_source(tmp_path / "src", investors=[investor(i) for i in range(N)])
    resources = {"database": db, "source": LocalFileSource(directory=str(source))}
    assert materialize(core_assets, resources=resources, tags=all_months_tags()).success
    return db, source


def sector_vectors(db) -> dict:
    """source_id: (sector text, its vector)"""
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT source_id, sector_text, sector_embedding FROM investors WHERE sector_embedding IS NOT NULL"
        )
        return {source_id: (text, np.asarray(vector.to_list())) for source_id, text, vector in rows}


def test_a_batch_writes_the_synchronous_vectors_at_half_the_price(loaded, fake):
    db, _ = loaded
    with db.connection() as conn:
        report = embed_dimension(conn, openai(fake), "sector", batch_rows=16)
        again = embed_dimension(conn, openai(fake), "sector", batch_rows=16)
        usage = conn.execute("SELECT requests, input_tokens, cost_usd::float FROM openai_usage").fetchone()
    assert (report.openai_batches, report.embedded, len(fake.batches), fake.requests) == (1, N, 1, [])
    assert again.embedded == 0 and len(fake.batches) == 1  # nothing stale: no second batch
    texts, vectors = zip(*sector_vectors(db).values(), strict=True)
    local = EmbedderResource(provider="local", dimensions=1536)
    expected = local.embed(list(texts)).vectors  # the fake answers with the local embedder's vectors
    assert len(texts) == N and np.allclose(np.vstack(vectors), expected, atol=1e-6)
    tokens = sum(len(text.split()) for text in texts)
    assert usage == (3, tokens, pytest.approx(tokens * 0.02 / 2 / 1e6))  # 40 rows in requests of 16


def test_a_failed_line_is_embedded_one_by_one(loaded, fake):
    db, _ = loaded
    fake.batch_line_faults = {'"input": ["fintech payments lending 0"'}  # the first request (rows 0 to 15)
    with db.connection() as conn:
        report = embed_dimension(conn, openai(fake), "sector", batch_rows=16)
    assert report.embedded == N and len(sector_vectors(db)) == N
    assert len(fake.requests) == 1 and len(fake.requests[0]) == 16  # the failed line's 16 texts, synchronously


def test_a_run_killed_while_waiting_for_its_batch_is_finished_by_the_next(loaded, fake, tmp_path):
    db, source = loaded
    kill_while_polling(
        fake,
        "sector_embedding",
        ALLOYDB_URL=db.url,
        DAGSTER_HOME=str(tmp_path),
        INVEST_SOURCE_DIR=str(source),
        INVEST_EMBEDDER="openai",
    )
    assert sector_vectors(db) == {} and len(fake.batches) == 1
    with db.connection() as conn:
        report = embed_dimension(conn, openai(fake), "sector")
    assert (report.openai_batches, report.embedded, len(fake.batches), fake.requests) == (1, N, 1, [])


def test_a_model_change_backfills_each_shard_through_a_batch(db, tmp_path, fake):
    rows = [investor(i) for i in range(N)]
    build(db, write_source(tmp_path / "s", investors=rows), EmbedderResource())
    for shard in SHARDS.get_partition_keys():
        metadata = reembed_shard(db, openai(fake), "signal", shard)
    assert metadata["switched"].value is True and fake.requests == []  # every vector came from a batch
    with db.connection() as conn:
        shards_with_text = conn.execute(
            f"SELECT count(DISTINCT {SHARD_OF_ID.as_string(conn)}) FROM investors i WHERE signal_text IS NOT NULL"
        ).fetchone()[0]
        applied = conn.execute("SELECT count(*) FROM openai_batches WHERE applied_at IS NOT NULL").fetchone()[0]
    assert len(fake.batches) == applied == shards_with_text
    assert served(db, "signal") == ("openai/text-embedding-3-small/1536", 1)
