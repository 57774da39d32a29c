"""Per-target checks of the stored vectors: present, right model and size, unit length, fresh."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetChecksDefinition, asset_check
from psycopg import sql

from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.vectors.models import serving_embedders
from invest_assets.vectors.targets import COMPANY_DESCRIPTION, INVESTOR_TARGETS, EmbeddingTarget, target

NORM_TOLERANCE = 1e-3


def vector_problems(conn, key: str, model_id: int, dimensions: int) -> dict[str, int]:
    # vector_norm takes only `vector`: a halfvec column (vector-storage) is cast for it
    checked = target(key)
    row = conn.execute(
        sql.SQL(
            """
            SELECT
              count(*) FILTER (WHERE {text_hash} IS NOT NULL AND {embedding} IS NULL),
              count(*) FILTER (WHERE {embedding} IS NOT NULL
                               AND ({model_id} <> %(model_id)s OR vector_dims({embedding}) <> %(dims)s)),
              count(*) FILTER (WHERE {embedding} IS NOT NULL
                               AND abs(vector_norm({embedding}::vector) - 1) > %(tolerance)s),
              count(*) FILTER (WHERE {embedding} IS NOT NULL AND {embedded_hash} IS DISTINCT FROM {text_hash})
            FROM {table} WHERE {checked_rows}
            """
        ).format(table=checked.table_id, checked_rows=sql.SQL(checked.checked_rows), **checked.columns()),
        {"model_id": model_id, "dims": dimensions, "tolerance": NORM_TOLERANCE},
    ).fetchone()
    return dict(zip(("missing", "other_model_or_size", "not_unit_length", "older_than_text"), row, strict=True))


def vectors_check(checked: EmbeddingTarget) -> AssetChecksDefinition:
    dimension = checked.key

    @asset_check(
        asset=checked.asset_name,
        name="vectors_current",
        description=f"Every {'active ' if checked.entity == 'investor' else ''}{checked.entity} with text has a "
        "unit-length vector of the right size from the serving model, made from its current text.",
    )
    def _check(context: AssetCheckExecutionContext, database: AlloyDBResource, embedder: EmbedderResource):
        with database.connection() as conn:
            model_id, serving = serving_embedders(conn, embedder, [dimension])[dimension]
            problems = vector_problems(conn, dimension, model_id, serving.dimensions)
        return AssetCheckResult(passed=not any(problems.values()), metadata=problems)

    return _check


embedding_checks = [vectors_check(t) for t in INVESTOR_TARGETS.values()]
company_description_check = vectors_check(COMPANY_DESCRIPTION)
