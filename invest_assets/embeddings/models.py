"""Which embedding model each dimension serves (``serving_embedding_models``).

The configured embedder (``INVEST_EMBEDDER``, ``INVEST_EMBEDDING_MODEL``) is the model a
dimension *should* serve; the database records the one it *does*. A dimension's first
embedding makes the configured model its serving model. After that, the incremental
embedding assets, the sensor, the checks and ``find_investors`` all use the serving
model, so vectors are never compared across models, and a new configured model reaches
a dimension only through the re-embed backfill (``reembed``), which switches everyone
over in one transaction.
"""

from __future__ import annotations

import psycopg

from invest_assets.resources.embedders import EmbedderResource, ModelIdentity
from invest_assets.sources.schema import DIMENSIONS


def serving_model_ids(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT dimension, model_id FROM serving_embedding_models").fetchall())


def serving_model_id(conn: psycopg.Connection, embedder: EmbedderResource, dimension: str) -> int:
    """The dimension's serving model; on first use, the configured one becomes it."""
    configured = embedder.register_model(conn)
    conn.execute(
        "INSERT INTO serving_embedding_models (dimension, model_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (dimension, configured),
    )
    return serving_model_ids(conn)[dimension]


def embedder_for(conn: psycopg.Connection, embedder: EmbedderResource, model_id: int) -> EmbedderResource:
    """``embedder`` (its endpoint, key and limits) set to produce ``model_id``'s vectors."""
    provider, model, dimensions = conn.execute(
        "SELECT provider, model, dimensions FROM embedding_models WHERE id = %s", (model_id,)
    ).fetchone()
    if ModelIdentity(provider, model, dimensions) == embedder.identity:
        return embedder
    return embedder.model_copy(update={"provider": provider, "model": model, "dimensions": dimensions})


def serving_embedders(conn: psycopg.Connection, embedder: EmbedderResource, dimensions=DIMENSIONS):
    """(model id, embedder) per dimension, as served."""
    return {d: (model_id, embedder_for(conn, embedder, model_id))
            for d in dimensions for model_id in [serving_model_id(conn, embedder, d)]}
