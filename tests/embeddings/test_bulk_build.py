"""A run that writes most of a target's rows stages its vectors, writes them in one UPDATE and builds the
ANN index once (once for all six dimensions when they run together): the same vectors and the same answers
as writing through the index. A run killed while embedding leaves the old vectors and index serving, and
the next run embeds only what was not staged, and frees the stage's disk when it is done. The index is
over the distinct vectors (``vectors/distinct.py``), rebuilt beside the serving one and swapped in: a
rebuild killed before its swap leaves the serving index answering."""

import re
import threading

import pytest
from dagster import materialize

import invest_assets.embeddings.bulk
import invest_assets.vectors.distinct
from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.embeddings.assets import embedding_assets
from invest_assets.embeddings.bulk import release_stage
from invest_assets.embeddings.incremental import embed_dimension
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import EmbedderResource, EmbeddingError
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.search.find_investors import EXACT, WALK, Filters, search
from invest_assets.vectors.indexes import indexed_dimensions, refresh_ann_index
from tests.fakes.openai_server import FakeOpenAI
from tests.source_files import write_source

N = 300
WORDS = ["fintech", "payments", "climate", "hardware", "biotech", "lending", "robotics", "insurance", "energy"]
QUERIES = ["fintech payments lending", "climate hardware energy", "biotech robotics"]
DISTINCT_SECTOR_TEXTS = 99  # of N: investors share texts, as derived profiles do


def investors():
    return [
        {
            "source_id": f"i{i:03d}",
            "name": f"Investor {i}",
            "kind": "firm",
            "sector_text": " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 2, 5)) + f" {i % 11}",
            "signal_text": f"mission driven {i % 4}",
        }
        for i in range(N)
    ]


def build(db, directory, embedder=None, selection=None):
    resources = {"database": db, "source": LocalFileSource(directory=str(directory)), "embedder": embedder}
    result = materialize(
        [*core_assets, *embedding_assets],
        selection=selection,
        resources={**resources, "embedder": embedder or EmbedderResource()},
        tags=all_months_tags(),
    )
    assert result.success
    return {
        e.materialization.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def state(db):
    with db.connection() as conn:
        vectors = dict(conn.execute("SELECT source_id, sector_embedding::text FROM investors").fetchall())
        answers = {
            (q, scan): [
                r["source_id"] for r in search(conn, EmbedderResource(), {"sector": q}, Filters(), scan=scan).investors
            ]
            for q in QUERIES
            for scan in (WALK, EXACT)
        }
        return vectors, answers, indexed_dimensions(conn)


def test_a_bulk_build_gives_what_writing_through_the_index_gives(tmp_path, new_database_url, monkeypatch):
    directory = write_source(tmp_path / "s", investors=investors())
    through_index = AlloyDBResource(url=new_database_url())
    metadata = build(through_index, directory)
    assert metadata["sector_embedding"]["ann_index"].value == "present"  # written row by row through the index

    monkeypatch.setenv("INVEST_EMBED_BULK_MIN_ROWS", "10")
    monkeypatch.setattr(invest_assets.embeddings.bulk, "APPLY_IDS", 64)  # the final write in five id ranges
    bulk = AlloyDBResource(url=new_database_url())
    metadata = build(bulk, directory)
    # every dimension rewrote most rows: the one step wrote them together, then rebuilt the sector's distinct
    # vectors and their index once (the write itself touches no ANN index)
    outcomes = {
        asset: metadata[asset]["ann_index"].value.split("; ") for asset in ("sector_embedding", "signal_embedding")
    }
    sector_built = f"sector: built hnsw over {DISTINCT_SECTOR_TEXTS} distinct vectors"
    assert outcomes["sector_embedding"][1:] == [sector_built]
    assert outcomes["signal_embedding"][1:] == ["signal: none: not a candidate dimension"]
    assert outcomes["sector_embedding"][0] == outcomes["signal_embedding"][0]  # the same build, reported by both
    assert re.fullmatch(
        rf"bulk write: {2 * N} staged vectors written in [0-9.]+ s, indexes built in [0-9.]+ s",
        outcomes["sector_embedding"][0],
    )

    vectors, answers, indexed = state(bulk)
    assert (vectors, answers, indexed) == state(through_index)
    assert indexed == {"sector"}
    for q in QUERIES:
        assert answers[(q, WALK)] == answers[(q, EXACT)]

    # once built, a small change writes through the index again
    rows = investors()
    rows[7]["sector_text"] = "deep tech quantum"
    metadata = build(bulk, write_source(tmp_path / "s2", investors=rows))
    assert metadata["sector_embedding"]["ann_index"].value == "present"


def sector_vectors(conn):
    return conn.execute("SELECT id, sector_embedding::text, sector_model_id FROM investors ORDER BY id").fetchall()


def test_a_killed_bulk_run_leaves_the_old_vectors_and_index_serving_and_the_next_finishes_it(db, tmp_path, monkeypatch):
    monkeypatch.setenv("INVEST_EMBED_BULK_MIN_ROWS", "10")
    with FakeOpenAI() as fake, db.connection() as conn:
        openai = EmbedderResource(provider="openai", base_url=fake.base_url, api_key="sk-x", max_retries=0)
        build(db, write_source(tmp_path / "s", investors=investors()), openai)
        before = sector_vectors(conn)
        conn.execute("UPDATE investors SET sector_text = sector_text || ' and software'")  # every row stale
        conn.commit()
        fake.faults.extend([None, ("500",)])  # the first batch is staged, then the service fails
        with pytest.raises(EmbeddingError):
            embed_dimension(conn, openai, "sector", batch_rows=100)
        # the table still holds the old vectors, and the index over them answers
        assert sector_vectors(conn) == before and "sector" in indexed_dimensions(conn)
        answer = search(conn, openai, {"sector": "fintech payments"}, Filters(), scan=WALK)
        assert len(answer.investors) == 25
        assert conn.execute("SELECT count(*) FROM embedding_stage WHERE target = 'sector'").fetchone()[0] == 100
        assert not release_stage(conn)  # a stage that holds a run's vectors is kept

        fake.requests.clear()
        monkeypatch.setenv("INVEST_EMBED_BULK_MIN_ROWS", "1000")  # no longer a bulk run by size: the stage decides
        report = embed_dimension(conn, openai, "sector", batch_rows=100)
        assert len(fake.inputs) == N - 100  # the staged batch is not embedded again
        assert report.embedded == N
        assert report.ann_index.endswith(f" s; sector: built hnsw over {DISTINCT_SECTOR_TEXTS} distinct vectors")
        assert report.current == N and "sector" in indexed_dimensions(conn)
        # the emptied stage truncated, so its deleted vectors' disk is back; the rewritten table vacuumed
        stage_bytes, analyzed = conn.execute(
            "SELECT pg_total_relation_size('embedding_stage'), (SELECT last_vacuum IS NOT NULL"
            " AND last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'investors')"
        ).fetchone()
        assert stage_bytes < 64 * 1024 and analyzed  # empty files and index metapages, not 1.8 MB of vectors


def test_a_rebuild_killed_before_its_swap_leaves_the_serving_index_and_the_next_one_replaces_it(
    db, tmp_path, monkeypatch
):
    build(db, write_source(tmp_path / "s", investors=investors()), EmbedderResource())
    before = state(db)

    def killed(*_):
        raise KeyboardInterrupt("killed between the new index's build and the swap")

    with db.connection() as conn:
        monkeypatch.setattr(invest_assets.vectors.distinct, "swap_in", killed)
        with pytest.raises(KeyboardInterrupt):
            refresh_ann_index(conn, "sector")
        conn.rollback()
        assert state(db) == before  # the serving distinct vectors and their index answer as before
        leftover = conn.execute("SELECT to_regclass('investor_sector_vectors_next')").fetchone()[0]
        assert leftover is None  # the build was one transaction: nothing of it is left
        monkeypatch.undo()
        conn.execute("CREATE TABLE investor_sector_vectors_next (junk int)")  # as if a build had been cut short
        conn.commit()
        assert refresh_ann_index(conn, "sector") == f"built hnsw over {DISTINCT_SECTOR_TEXTS} distinct vectors"
    assert state(db) == before


def test_the_stage_is_truncated_once_a_lock_in_its_way_is_let_go(db, monkeypatch):
    """An autovacuum of the stage (set off by the deletes of the final write) holds a lock NOWAIT gave up on;
    the truncation waits for it instead, up to STAGE_LOCK_WAIT."""
    with db.connection() as vacuum, db.connection() as conn:
        vacuum.execute("LOCK TABLE embedding_stage IN SHARE UPDATE EXCLUSIVE MODE")  # what a vacuum holds
        threading.Timer(1.0, vacuum.commit).start()
        assert release_stage(conn)
        monkeypatch.setattr(invest_assets.embeddings.bulk, "STAGE_LOCK_WAIT", "300ms")
        vacuum.execute("LOCK TABLE embedding_stage IN SHARE UPDATE EXCLUSIVE MODE")
        assert not release_stage(conn)  # held past the wait: left to the next run
        vacuum.commit()
