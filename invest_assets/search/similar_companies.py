"""``similar-companies``: the live companies whose description vectors are nearest a company's.

Only vectors from the same model as the company's are compared. The order is the ANN
index's (HNSW with an iterative scan, so the live-row filter still fills the page;
ScaNN on AlloyDB), by cosine distance.
"""

from __future__ import annotations

import psycopg

from invest_assets.search.find_investors import InvalidRequest
from invest_assets.vectors.indexes import set_walk

SIMILAR_SQL = """
SELECT c.source_id, c.name, c.primary_sector, c.hq_country, c.founded_year, c.status,
       left(c.description_text, 160) AS description,
       round((c.description_embedding <=> q.embedding)::numeric, 4)::float AS distance
FROM companies c, (SELECT description_embedding AS embedding, description_model_id AS model_id
                   FROM companies WHERE id = %(id)s) q
WHERE c.deleted_at IS NULL AND c.id <> %(id)s AND c.description_model_id = q.model_id
ORDER BY c.description_embedding <=> (SELECT description_embedding FROM companies WHERE id = %(id)s)
LIMIT %(limit)s
"""


def similar_companies(conn: psycopg.Connection, source_id: str, limit: int = 10) -> dict:
    """The company (as its vector was made) and its ``limit`` nearest live companies."""
    company = conn.execute(
        "SELECT id, source_id, name, description_text, description_embedding IS NOT NULL FROM companies"
        " WHERE source_id = %s AND deleted_at IS NULL",
        (source_id,),
    ).fetchone()
    if company is None:
        raise InvalidRequest(f"no live company with source_id {source_id!r}")
    company_id, _, name, text, embedded = company
    if not embedded:
        why = (
            "it has neither a description nor sectors"
            if text is None
            else "materialize company_description_embedding (or let stale_embeddings_sensor do it)"
        )
        raise InvalidRequest(f"{name} ({source_id}) has no description vector yet: {why}")
    with conn.transaction():
        set_walk(conn, max(40, limit), "strict_order")
        cur = conn.execute(SIMILAR_SQL, {"id": company_id, "limit": limit})
        columns = [c.name for c in cur.description]
        similar = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    return {"company": {"source_id": source_id, "name": name, "text": text}, "similar": similar}
