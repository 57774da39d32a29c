"""The stale-embeddings count costs what is stale: a partial index per target holds exactly its stale live rows
against the serving model, and the count reads it, counting exactly what one full scan counts."""

import json

from dagster import materialize
from psycopg import sql

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.embeddings.assets import company_description_embedding, embedding_assets
from invest_assets.embeddings.staleness import ensure_stale_index, live_and_stale, stale_condition, stale_counts
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.vectors.models import register_model, serving_model_ids
from invest_assets.vectors.targets import TARGETS
from tests.source_files import write_source

N = 40


def source(directory, changed=(), blanked=(), dropped=()):
    investors = [
        {
            "source_id": f"i{i:03d}",
            "name": f"Investor {i}",
            "kind": "firm",
            "sector_text": "" if i in blanked else f"fintech payments {i % 5}",
            "stage_text": "seed",
            "signal_text": f"climate moonshots {i}" if i in changed else f"mission driven {i % 3}",
            "founder_text": f"technical founders {i}",
        }
        for i in range(N)
        if i not in dropped
    ]
    companies = [
        {"source_id": f"c{i}", "name": f"Company {i}", "description": f"payments for shops {i}"} for i in range(8)
    ]
    return write_source(directory, investors=investors, companies=companies)


def build(db, directory):
    resources = {"database": db, "source": LocalFileSource(directory=str(directory)), "embedder": EmbedderResource()}
    assets = [*core_assets, *embedding_assets, company_description_embedding]
    assert materialize(assets, resources=resources, tags=all_months_tags()).success


def full_scan_counts(conn, model_ids):
    """What the sensor counted before the stale indexes: one scan of each table."""
    counts = {}
    for key, embedded in TARGETS.items():
        counts[key] = conn.execute(
            sql.SQL("SELECT count(*) FILTER (WHERE {}) FROM {} WHERE deleted_at IS NULL").format(
                stale_condition(key), embedded.table_id
            ),
            {"model_id": model_ids.get(key)},
        ).fetchone()[0]
    return counts


def stale_indexes(conn):
    return sorted(r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%_stale_m%%'"))


def test_the_indexed_count_equals_the_full_scan_in_every_state(db, tmp_path):
    build(db, source(tmp_path / "a"))
    # a source that changes texts, blanks one, drops an investor; loaded, not yet embedded
    materialize(
        core_assets,
        resources={
            "database": db,
            "source": LocalFileSource(directory=str(source(tmp_path / "b", changed={3, 7}, blanked={4}, dropped={9}))),
            "embedder": EmbedderResource(),
        },
        tags=all_months_tags(),
    )
    with db.connection() as conn:
        serving = serving_model_ids(conn)
        other = register_model(conn, EmbedderResource(provider="openai", model="text-embedding-3-large").identity)
        conn.execute(
            "UPDATE investors SET founder_model_id = %s WHERE id %% 4 = 0", (other,)
        )  # vectors of another model
        conn.execute("UPDATE companies SET description = 'a new pitch' WHERE source_id = 'c1'")
        conn.commit()
        states = [serving, {**serving, "stage": other}, {}]
        for model_ids in states:
            assert stale_counts(conn, model_ids) == full_scan_counts(conn, model_ids)
        counts = stale_counts(conn, serving)
    assert counts["signal"] == 2 and counts["sector"] == 1 and counts["founder"] == N // 4
    assert counts["stage"] == 0


def test_the_count_and_the_next_batch_can_read_the_stale_index_alone(db, tmp_path):
    build(db, source(tmp_path / "a"))
    with db.connection() as conn:
        serving = serving_model_ids(conn)
        assert stale_indexes(conn) == sorted(
            f"{t.table}_{t.prefix}_stale_m{serving[key]}" for key, t in TARGETS.items()
        )
        conn.execute("SET enable_seqscan = off")  # a 40-row table is cheaper to scan; the index must still match
        stale = live_and_stale("signal", serving["signal"])
        for query in (
            sql.SQL("SELECT count(*) FROM investors WHERE {}").format(stale),
            sql.SQL(
                "SELECT id FROM investors WHERE {} AND signal_text_hash IS NOT NULL AND id > 0 ORDER BY id LIMIT 5"
            ).format(stale),
        ):
            plan = json.dumps(conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) {}").format(query)).fetchone()[0])
            assert f"investors_signal_stale_m{serving['signal']}" in plan and "Seq Scan" not in plan, plan


def test_a_new_serving_model_moves_the_stale_index(db, tmp_path):
    build(db, source(tmp_path / "a"))
    with db.connection() as conn:
        before = serving_model_ids(conn)["sector"]
        other = register_model(conn, EmbedderResource(provider="openai", model="text-embedding-3-large").identity)
        assert ensure_stale_index(conn, "sector", before) == "present"
        assert ensure_stale_index(conn, "sector", other) == "built"
        conn.commit()
        names = [n for n in stale_indexes(conn) if n.startswith("investors_sector_")]
        assert names == [f"investors_sector_stale_m{other}"]
        assert stale_counts(conn, {**serving_model_ids(conn), "sector": other})["sector"] == N
