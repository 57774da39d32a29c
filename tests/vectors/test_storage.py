"""halfvec storage: the CLI converts every embedding column and rebuilds the ANN index with the halfvec
operator class; find_investors gives the same top results as with float4 vectors (within the recall
target), embedding runs keep writing (a bulk run through a halfvec stage too), the vectors' check reads
them, and the conversion goes back."""

import os
import subprocess
import sys
from pathlib import Path

from invest_assets.embeddings.checks import vector_problems
from invest_assets.embeddings.incremental import embed_dimension
from invest_assets.search.find_investors import EXACT, WALK, search
from tests.search.test_find_investors import CASES, LOCAL, investors  # noqa: F401 (a fixture)

CLI = Path(sys.executable).parent / "invest-assets"


def convert(database_url: str, storage: str) -> str:
    env = dict(os.environ, ALLOYDB_URL=database_url, INVEST_EMBEDDER="local")
    done = subprocess.run([CLI, "vector-storage", storage], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def pages(conn) -> list[list[tuple[int, float]]]:
    return [
        [
            (r["id"], r["final_score"])
            for r in search(conn, LOCAL, texts, filters, variant, limit=20, scan=scan).investors
        ]
        for texts, filters, variant in CASES
        for scan in (EXACT, WALK)
    ]


def ann_index_definition(conn) -> str:
    return conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'investor_sector_vectors_ann'").fetchone()[0]


def report_model_id(conn) -> int:
    return conn.execute("SELECT DISTINCT sector_model_id FROM investors WHERE sector_model_id IS NOT NULL").fetchone()[
        0
    ]


def stage_type(conn) -> str:
    return conn.execute(
        "SELECT atttypid::regtype::text FROM pg_attribute"
        " WHERE attrelid = 'embedding_stage'::regclass AND attname = 'embedding'"
    ).fetchone()[0]


def test_halfvec_storage_keeps_the_answers_and_the_writes(investors, database_url, monkeypatch):  # noqa: F811
    with investors.connection() as conn:
        float4 = pages(conn)
        conn.commit()
    printed = convert(database_url, "halfvec")
    assert "sector: halfvec(1536)" in printed and "company_description: halfvec(1536)" in printed
    with investors.connection() as conn:
        assert "halfvec_cosine_ops" in ann_index_definition(conn)
        half = pages(conn)
        for before, after in zip(float4, half, strict=True):
            same = len({i for i, _ in before} & {i for i, _ in after}) / max(len(before), 1)
            assert same >= 0.95 and len(after) == len(before)
            by_id = dict(after)
            assert all(abs(score - by_id[i]) < 2e-3 for i, score in before if i in by_id)
        conn.execute("UPDATE investors SET sector_text = 'climate batteries grid' WHERE source_id = 'i1'")
        conn.commit()
        assert embed_dimension(conn, LOCAL, "sector").embedded == 1
        assert conn.execute(
            "SELECT pg_typeof(sector_embedding)::text, sector_embedded_hash = sector_text_hash FROM investors"
            " WHERE source_id = 'i1'"
        ).fetchone() == ("halfvec", True)
        # A bulk run (every sector text new) stages halfvec vectors and writes them all.
        conn.execute("UPDATE investors SET sector_text = sector_text || ' and robotics'")
        conn.commit()
        live = "deleted_at IS NULL AND sector_text IS NOT NULL"
        rows = conn.execute(f"SELECT count(*) FROM investors WHERE {live}").fetchone()[0]
        assert stage_type(conn) == "halfvec"
        monkeypatch.setenv("INVEST_EMBED_BULK_MIN_ROWS", "10")
        report = embed_dimension(conn, LOCAL, "sector")
        assert report.embedded == rows and report.ann_index.startswith(f"bulk write: {rows} staged vectors")
        problems = vector_problems(conn, "sector", report_model_id(conn), 1536)  # the asset check's statement
        assert problems == dict.fromkeys(("missing", "other_model_or_size", "not_unit_length", "older_than_text"), 0)
        assert conn.execute(
            "SELECT count(*) FILTER (WHERE sector_embedded_hash = sector_text_hash), count(*) FROM investors"
            f" WHERE {live}"
        ).fetchone() == (rows, rows)
    printed = convert(database_url, "vector")
    assert "sector: vector(1536)" in printed
    with investors.connection() as conn:
        assert "vector_cosine_ops" in ann_index_definition(conn) and stage_type(conn) == "vector"
