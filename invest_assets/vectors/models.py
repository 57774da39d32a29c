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

from dataclasses import asdict

import psycopg

from invest_assets.resources.database import get_or_create_id
from invest_assets.resources.embedders import EmbedderResource, ModelIdentity
from invest_assets.sources.schema import DIMENSIONS


def register_model(conn: psycopg.Connection, model: ModelIdentity) -> int:
    """The model's ``embedding_models`` id, the catalog every vector's provenance names (created on first use)."""
    return get_or_create_id(conn, "embedding_models", asdict(model))


def serving_model_ids(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT dimension, model_id FROM serving_embedding_models").fetchall())


def serving_model_id(conn: psycopg.Connection, embedder: EmbedderResource, dimension: str) -> int:
    """The dimension's serving model; on first use, the configured one becomes it."""
    return serving_embedders(conn, embedder, [dimension])[dimension][0]


def _producing(embedder: EmbedderResource, model: ModelIdentity) -> EmbedderResource:
    if model == embedder.identity:
        return embedder
    return embedder.model_copy(update=asdict(model))


def serving_embedders(conn: psycopg.Connection, embedder: EmbedderResource, dimensions=DIMENSIONS):
    """(model id, embedder) per dimension, as served. One read when every dimension has its
    serving model (the read path's case), so concurrent queries neither write nor lock; a
    dimension's first use makes the configured model its serving model."""
    served = _serving_models(conn, dimensions)
    if missing := [d for d in dimensions if d not in served]:
        conn.execute(
            "INSERT INTO serving_embedding_models (dimension, model_id) SELECT unnest(%s::text[]), %s"
            " ON CONFLICT DO NOTHING",
            (missing, register_model(conn, embedder.identity)),
        )
        served = _serving_models(conn, dimensions)
    return {d: (served[d][0], _producing(embedder, served[d][1])) for d in dimensions}


def _serving_models(conn: psycopg.Connection, dimensions) -> dict[str, tuple[int, ModelIdentity]]:
    rows = conn.execute(
        "SELECT s.dimension, m.id, m.provider, m.model, m.dimensions FROM serving_embedding_models s"
        " JOIN embedding_models m ON m.id = s.model_id WHERE s.dimension = ANY(%s)",
        (list(dimensions),),
    ).fetchall()
    return {dimension: (model_id, ModelIdentity(*model)) for dimension, model_id, *model in rows}
