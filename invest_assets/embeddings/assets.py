"""The embedding assets: the six investor dimensions (sector, stage, check, geography,
signal, founder) and the company description (``targets``).

Each writes only its own vector column and embeds only what is stale (see
``staleness``): changed, new, or other-model rows. Blank text clears the vector. Stale
rows are read in id order in batches; each batch is embedded, COPYed (binary) into a
staging table and written by one UPDATE that sets vector, hash, model and time
together, and committed, so a failure keeps the batches already done and a rerun
continues where it stopped. The UPDATE only lands where the text is still the one
embedded. A per-target advisory lock keeps two runs from embedding the same
column at once: the second waits, then finds nothing stale.
"""

import time
from dataclasses import dataclass, field

import psycopg
from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset
from pgvector import Vector
from psycopg import sql

from invest_assets import settings
from invest_assets.embeddings.models import serving_embedders
from invest_assets.embeddings.staleness import stale_condition
from invest_assets.embeddings.targets import COMPANY_DESCRIPTION, INVESTOR_TARGETS, EmbeddingTarget, target
from invest_assets.metadata import PREVIEW_ROWS, preview
from invest_assets.policies import DATABASE_RETRY, SINGLE_RUN
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.search.indexes import ensure_ann_index

# Rows per committed batch (INVEST_EMBED_BATCH_ROWS): what a failure can cost, and the
# unit of resumption. 2,048 is also the OpenAI API's inputs-per-request limit.
BATCH_ROWS = settings.EMBED_BATCH_ROWS.value()
EMBEDDING_POOL = "embeddings"
DESCRIPTIONS = {
    "sector": "what they invest in",
    "stage": "where in the company lifecycle",
    "check": "check size and structure",
    "geography": "where geographically",
    "signal": "what excites them (vibe, mission)",
    "founder": "what founder profile they back",
}


@dataclass
class EmbedReport:
    considered: int = 0
    embedded: int = 0
    current: int = 0  # live rows whose vector is their text's, from the serving model
    cleared: int = 0
    batches: int = 0
    tokens: int = 0
    truncated: int = 0
    requests: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    model: str = ""
    embedded_ids: list[int] = field(default_factory=list)


def embedding_lock_key(dimension: str) -> str:
    """The advisory lock that serializes everything writing ``dimension``'s vectors."""
    return f"invest_assets.embed.{dimension}"


def clear_blank_vectors(conn: psycopg.Connection, dimension: str) -> int:
    """NULL or blank text means no vector: clear vectors whose text went blank."""
    with conn.transaction():
        return conn.execute(
            sql.SQL(
                "UPDATE {table} SET {embedding} = NULL, {embedded_hash} = NULL, {model_id} = NULL,"
                " {embedded_at} = NULL WHERE {text_hash} IS NULL AND {embedding} IS NOT NULL"
            ).format(table=target(dimension).table_id, **target(dimension).columns())
        ).rowcount


def next_stale_batch(conn: psycopg.Connection, dimension: str, model_id: int, after_id: int, limit: int):
    return conn.execute(
        sql.SQL(
            "SELECT id, {text}, {text_hash} FROM {table}"
            " WHERE deleted_at IS NULL AND {text_hash} IS NOT NULL AND id > %(after)s AND {stale}"
            " ORDER BY id LIMIT %(limit)s"
        ).format(stale=stale_condition(dimension), table=target(dimension).table_id, **target(dimension).columns()),
        {"model_id": model_id, "after": after_id, "limit": limit},
    ).fetchall()


def write_vectors(conn: psycopg.Connection, dimension: str, model_id: int, ids, hashes, vectors) -> int:
    """One batch: binary COPY into staging, one UPDATE; vector, hash and provenance together."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE embedded (id bigint, text_hash bytea, embedding vector) ON COMMIT DROP")
        with cur.copy("COPY embedded (id, text_hash, embedding) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "bytea", "vector"])
            for row in zip(ids, hashes, (Vector(v) for v in vectors), strict=True):
                copy.write_row(row)
        return cur.execute(
            sql.SQL(
                "UPDATE {table} i SET {embedding} = e.embedding, {embedded_hash} = e.text_hash,"
                " {model_id} = %(model_id)s, {embedded_at} = clock_timestamp()"
                " FROM embedded e WHERE i.id = e.id AND i.{text_hash} = e.text_hash"
            ).format(table=target(dimension).table_id, **target(dimension).columns()),
            {"model_id": model_id},
        ).rowcount


def embed_dimension(
    conn: psycopg.Connection, embedder: EmbedderResource, dimension: str, batch_rows: int = BATCH_ROWS
) -> EmbedReport:
    """Bring ``dimension`` up to date; returns what was done."""
    started = time.perf_counter()
    report = EmbedReport()
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (embedding_lock_key(dimension),))
    try:
        model_id, serving = serving_embedders(conn, embedder, [dimension])[dimension]
        conn.commit()
        ident = serving.identity
        report.model = f"{ident.provider}/{ident.model} ({ident.dimensions} dims)"
        report.cleared = clear_blank_vectors(conn, dimension)
        after = 0
        while rows := next_stale_batch(conn, dimension, model_id, after, batch_rows):
            conn.commit()  # no transaction held open while the embedding service works
            ids, texts, hashes = zip(*rows, strict=True)
            batch = serving.embed(list(texts))
            report.embedded += write_vectors(conn, dimension, model_id, ids, hashes, batch.vectors)
            report.embedded_ids.extend(ids)
            report.batches += 1
            report.tokens += batch.tokens
            report.truncated += batch.truncated
            report.requests += batch.requests
            report.cost_usd += batch.cost_usd
            after = ids[-1]
        report.considered, report.current = conn.execute(
            sql.SQL(
                "SELECT count(*), count(*) FILTER (WHERE {embedding} IS NOT NULL AND {model_id} = %(model_id)s"
                " AND {embedded_hash} = {text_hash})"
                " FROM {table} WHERE deleted_at IS NULL AND {text_hash} IS NOT NULL"
            ).format(table=target(dimension).table_id, **target(dimension).columns()),
            {"model_id": model_id},
        ).fetchone()
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (embedding_lock_key(dimension),))
        conn.commit()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def embedded_rows(conn: psycopg.Connection, dimension: str, ids: list[int]):
    """A few of the rows this run embedded, with the text their vector now stands for."""
    embedded = target(dimension)
    return preview(conn, sql.SQL(
        "SELECT source_id AS {entity}, name, left({text}, 80) AS text, {embedded_at} AS embedded_at"
        " FROM {table} WHERE id = ANY(%s) ORDER BY id").format(
        entity=sql.Identifier(embedded.entity), table=embedded.table_id, **embedded.columns()), (ids,))


def report_metadata(report: EmbedReport) -> dict:
    return {
        "dagster/row_count": report.current,
        "rows_considered": report.considered,
        "rows_embedded": report.embedded,
        "rows_skipped_unchanged": report.considered - report.embedded,
        "rows_cleared": report.cleared,
        "batches": report.batches,
        "requests": report.requests,
        "tokens": report.tokens,
        "inputs_truncated": report.truncated,
        "cost_usd": report.cost_usd,
        "seconds": report.seconds,
        "vectors_per_second": round(report.embedded / report.seconds, 1) if report.seconds else 0.0,
        "model": MetadataValue.text(report.model),
    }


def _description(embedded: EmbeddingTarget) -> str:
    if embedded is COMPANY_DESCRIPTION:
        return ("companies.description_embedding: the company's description vector, embedded from "
                "companies.description_text (the description, else name and sectors), only for rows whose "
                "text or model changed. similar-companies searches it.")
    d = embedded.key
    return (f"investors.{d}_embedding: the {d} thesis vector ({DESCRIPTIONS[d]}), "
            f"embedded from investors.{d}_text, only for rows whose text or model changed.")


def embedding_asset(embedded: EmbeddingTarget, deps: list[str]) -> AssetsDefinition:
    key = embedded.key

    @asset(
        name=embedded.asset_name,
        deps=deps,
        group_name="embeddings",
        kinds={"postgres", settings.embedder_kind()},
        owners=["team:data-platform"],
        pool=EMBEDDING_POOL,
        retry_policy=DATABASE_RETRY,
        backfill_policy=SINGLE_RUN,
        description=_description(embedded),
    )
    def _embed(context: AssetExecutionContext, database: AlloyDBResource, embedder: EmbedderResource):
        with database.connection() as conn:
            report = embed_dimension(conn, embedder, key)
            ann_index = ensure_ann_index(conn, key)
            embedded_preview = embedded_rows(conn, key, report.embedded_ids[:PREVIEW_ROWS])
        context.log.info(f"{key}: embedded {report.embedded} of {report.considered} rows; ANN index {ann_index}")
        return MaterializeResult(metadata={**report_metadata(report), "ann_index": MetadataValue.text(ann_index),
                                           "embedded_rows": embedded_preview})

    return _embed


embedding_assets = [embedding_asset(t, ["investors", "investor_profiles"]) for t in INVESTOR_TARGETS.values()]
company_description_embedding = embedding_asset(COMPANY_DESCRIPTION, ["companies"])
