"""``INVEST_ANN_METHOD=ivfflat``: the candidate index is pgvector's IVFFlat over the distinct vectors, trained
once there are enough of them, and the index path walks it with ``INVEST_IVFFLAT_PROBES`` probes."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from pgvector import Vector
from psycopg import sql

from invest_assets.embeddings.incremental import embed_dimension
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.search.checks import recall_at_k
from invest_assets.search.find_investors import WALK, Filters, candidate_query, filter_sql, search, set_index_scan
from invest_assets.tools.sample_data import SECTORS
from invest_assets.vectors.indexes import TRAINING_MIN_ROWS, ensure_ann_index, has_ann_index
from tests.vectors.test_distinct import add_investors, in_step

LOCAL = EmbedderResource()


def clustered_texts(count: int, seed: int) -> list[str]:
    """Sector texts whose sectors share no words: clusters of nearly orthogonal vectors."""
    rng = np.random.default_rng(seed)
    sectors = sorted(SECTORS)
    picks = rng.integers(0, len(sectors), size=count)
    return [f"{sectors[p]} " + " ".join(rng.choice(SECTORS[sectors[p]].split(), 4)) for p in picks]


def index_definition(conn, name: str = "investor_sector_vectors_ann") -> str | None:
    row = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (name,)).fetchone()
    return row and row[0]


def index_with(database_url: str, method: str) -> str:
    """``INVEST_ANN_METHOD=<method> invest-assets index``, as docs/find_investors.md says; its output."""
    env = dict(os.environ, ALLOYDB_URL=database_url, INVEST_ANN_METHOD=method)
    cli = Path(sys.executable).parent / "invest-assets"
    done = subprocess.run([cli, "index"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_switching_builds_again_and_too_few_vectors_defer_the_index(db, database_url, monkeypatch):
    with db.connection() as conn:
        add_investors(conn, [f"Invests in robotics {n}." for n in range(TRAINING_MIN_ROWS // 10)])
        embed_dimension(conn, LOCAL, "sector")
        assert "USING hnsw" in index_definition(conn)
    assert f"deferred until they have {TRAINING_MIN_ROWS} vectors: ['sector']" in index_with(database_url, "ivfflat")
    monkeypatch.setenv("INVEST_ANN_METHOD", "ivfflat")
    with db.connection() as conn:
        assert index_definition(conn) is None and not has_ann_index(conn, "sector") and in_step(conn)
        page = search(conn, LOCAL, {"sector": "robotics"}, Filters(recency_months=None), "single", limit=5)
        assert page.scan == "exact" and len(page.investors) == 5


def test_an_ivfflat_index_over_clustered_vectors_is_walked_with_its_probes(db, monkeypatch):
    monkeypatch.setenv("INVEST_ANN_METHOD", "ivfflat")
    with db.connection() as conn:
        add_investors(conn, clustered_texts(1_500, seed=3))
        embed_dimension(conn, LOCAL, "sector")
        definition = index_definition(conn)
        distinct = conn.execute("SELECT count(*) FROM investor_sector_vectors").fetchone()[0]
        assert "USING ivfflat (embedding vector_cosine_ops)" in definition and distinct >= TRAINING_MIN_ROWS
        assert f"lists='{round(distinct**0.5)}'" in definition
        assert has_ann_index(conn, "sector") and in_step(conn)

        model_id = conn.execute("SELECT max(sector_model_id) FROM investors").fetchone()[0]
        where, params = filter_sql(Filters(recency_months=None), "sector", model_id)
        with conn.transaction():
            set_index_scan(conn, (40, "strict_order"), 25)
            assert conn.execute("SELECT current_setting('ivfflat.probes')").fetchone()[0] == "10"
            plan = conn.execute(
                sql.SQL("EXPLAIN ") + candidate_query(where, "sector", WALK),
                {**params, "q": Vector(LOCAL.embed(["fintech lending"]).vectors[0]), "limit": 25},
            ).fetchall()
        assert any("Index Scan using investor_sector_vectors_ann" in line for (line,) in plan)
        page = search(conn, LOCAL, {"sector": "fintech lending"}, Filters(recency_months=None), "single", scan=WALK)
        assert page.scan == "ivfflat-iterative" and len(page.investors) == 50
        recall, short_pages = recall_at_k(conn, LOCAL, clustered_texts(20, seed=4))
        assert recall >= 0.97 and short_pages == 0


def test_switching_builds_the_company_description_index_again(db, database_url):
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO companies (source_id, name, description)"
            " SELECT 'c' || n, 'Company ' || n, 'warehouse robotics, plant ' || n FROM generate_series(1, %s) n",
            (TRAINING_MIN_ROWS + 100,),
        )
        embed_dimension(conn, LOCAL, "company_description")
        assert "USING hnsw" in index_definition(conn, "companies_description_ann")
    for method in ("ivfflat", "hnsw"):
        assert "'company_description'" in index_with(database_url, method)
        with db.connection() as conn:
            assert f"USING {method}" in index_definition(conn, "companies_description_ann")
            assert has_ann_index(conn, "company_description")
            names = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'companies'").fetchall()
            assert ("companies_description_next_ann",) not in names


def test_an_ivfflat_index_is_trained_again_once_its_vectors_have_doubled(db, monkeypatch):
    monkeypatch.setenv("INVEST_ANN_METHOD", "ivfflat")
    texts = [f"{text} {n}" for n, text in enumerate(clustered_texts(2_300, seed=5))]  # all distinct
    with db.connection() as conn:
        add_investors(conn, texts[:1_100])
        embed_dimension(conn, LOCAL, "sector")  # a first build: bulk, trained on 1,100 vectors
        assert "lists='33'" in index_definition(conn)
        for start, end, lists in ((1_100, 1_700, 33), (1_700, 2_300, 48)):  # batches below the bulk minimum
            add_investors(conn, texts[start:end], start=start)
            embed_dimension(conn, LOCAL, "sector")
            outcome = ensure_ann_index(conn, "sector")  # as each embedding asset does after its run
            assert outcome == (
                "present" if lists == 33 else "built ivfflat over 2300 distinct vectors: trained on about 1089 rows"
            )
            assert f"lists='{lists}'" in index_definition(conn) and in_step(conn)
