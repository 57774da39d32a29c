"""The candidate index over distinct vectors (``vectors/distinct.py``): investors sharing one text are all
found through it (an HNSW graph over their identical vectors found none on the 2013 build), and every way
vectors are written keeps it holding exactly the live investors' distinct vectors."""

from invest_assets.embeddings.incremental import embed_dimension
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.search.checks import recall_at_k
from invest_assets.search.find_investors import WALK, Filters, search

LOCAL = EmbedderResource()
SHARED = "Invests in software, fintech."


def add_investors(conn, texts: list[str], start: int = 0) -> None:
    with conn.cursor().copy("COPY investors (source_id, name, kind, sector_text) FROM STDIN") as copy:
        for i, text in enumerate(texts, start=start):
            copy.write_row((f"i{i}", f"Investor {i}", "firm", text))
    conn.commit()


def in_step(conn) -> bool:
    """Whether the distinct table holds exactly the (model, hash, vector) of the live investors' vectors."""
    return conn.execute(
        "SELECT NOT EXISTS ((SELECT DISTINCT sector_model_id, sector_embedded_hash, sector_embedding::text"
        " FROM investors WHERE sector_embedding IS NOT NULL AND deleted_at IS NULL)"
        " EXCEPT ALL SELECT model_id, text_hash, embedding::text FROM investor_sector_vectors)"
        " AND NOT EXISTS (SELECT model_id, text_hash FROM investor_sector_vectors"
        " EXCEPT SELECT sector_model_id, sector_embedded_hash FROM investors"
        " WHERE sector_embedding IS NOT NULL AND deleted_at IS NULL)"
    ).fetchone()[0]


def distinct_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM investor_sector_vectors").fetchone()[0]


def test_investors_sharing_a_text_are_all_found_through_the_index(db):
    with db.connection() as conn:
        add_investors(conn, [SHARED] * 300 + [f"Invests in robotics {n}." for n in range(100)])
        embed_dimension(conn, LOCAL, "sector")
        assert distinct_count(conn) == 101 and in_step(conn)
        page = search(conn, LOCAL, {"sector": SHARED}, Filters(recency_months=None), "single", limit=25, scan=WALK)
        assert page.scan == "hnsw-iterative" and len(page.investors) == 25
        assert all(r["final_score"] < 1e-6 for r in page.investors)  # 25 of the 300 exact matches
        queries = [SHARED, "Invests in robotics 7.", "Invests in fintech."]
        assert recall_at_k(conn, LOCAL, queries) == (1.0, 0)


def test_writes_keep_the_distinct_vectors_in_step(db, monkeypatch):
    with db.connection() as conn:
        add_investors(conn, [SHARED] * 20 + [f"Invests in robotics {n}." for n in range(20)])
        embed_dimension(conn, LOCAL, "sector")
        assert distinct_count(conn) == 21
        # one of the sharers and one unique text change: the shared vector stays, the unique one is replaced
        conn.execute("UPDATE investors SET sector_text = 'Invests in climate.' WHERE source_id IN ('i0', 'i25')")
        conn.commit()
        embed_dimension(conn, LOCAL, "sector")
        assert distinct_count(conn) == 21 and in_step(conn)
        monkeypatch.setenv("INVEST_EMBED_BULK_MIN_ROWS", "10")  # every text new: a bulk write and a rebuild
        conn.execute("UPDATE investors SET sector_text = sector_text || ' And software.'")
        conn.execute("UPDATE investors SET deleted_at = now() WHERE source_id = 'i30'")
        conn.commit()
        report = embed_dimension(conn, LOCAL, "sector")
        assert report.ann_index.endswith("sector: built hnsw over 20 distinct vectors") and in_step(conn)
