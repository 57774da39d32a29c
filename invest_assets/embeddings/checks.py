"""Per-dimension checks of the stored vectors: present, right model and size, unit length, fresh."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetChecksDefinition, asset_check
from psycopg import sql

from invest_assets.embeddings.models import serving_embedders
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.sources.schema import DIMENSIONS

NORM_TOLERANCE = 1e-3


def vector_problems(conn, dimension: str, model_id: int, dimensions: int) -> dict[str, int]:
    cols = {n: sql.Identifier(f"{dimension}_{n}") for n in ("text_hash", "embedding", "embedded_hash", "model_id")}
    row = conn.execute(
        sql.SQL(
            """
            SELECT
              count(*) FILTER (WHERE {text_hash} IS NOT NULL AND {embedding} IS NULL),
              count(*) FILTER (WHERE {embedding} IS NOT NULL
                               AND ({model_id} <> %(model_id)s OR vector_dims({embedding}) <> %(dims)s)),
              count(*) FILTER (WHERE {embedding} IS NOT NULL
                               AND abs(vector_norm({embedding}) - 1) > %(tolerance)s),
              count(*) FILTER (WHERE {embedding} IS NOT NULL AND {embedded_hash} IS DISTINCT FROM {text_hash})
            FROM investors WHERE deleted_at IS NULL AND active
            """
        ).format(**cols),
        {"model_id": model_id, "dims": dimensions, "tolerance": NORM_TOLERANCE},
    ).fetchone()
    return dict(zip(("missing", "other_model_or_size", "not_unit_length", "older_than_text"), row, strict=True))


def vectors_check(dimension: str) -> AssetChecksDefinition:
    @asset_check(
        asset=f"{dimension}_embedding",
        name="vectors_current",
        description="Every active investor with text has a unit-length vector of the right size from the "
        "dimension's serving model, made from its current text.",
    )
    def _check(context: AssetCheckExecutionContext, database: AlloyDBResource, embedder: EmbedderResource):
        with database.connection() as conn:
            model_id, serving = serving_embedders(conn, embedder, [dimension])[dimension]
            problems = vector_problems(conn, dimension, model_id, serving.dimensions)
        return AssetCheckResult(passed=not any(problems.values()), metadata=problems)

    return _check


embedding_checks = [vectors_check(d) for d in DIMENSIONS]
