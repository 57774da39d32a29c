"""The embedding assets: the six investor dimensions (sector, stage, check, geography,
signal, founder) and the company description (``vectors.targets``), each incremental by
content (``incremental``), and per investor dimension its re-embed backfill (``reembed``),
which runs only when the embedding model changes.
"""

import time

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from psycopg import sql

from invest_assets import settings
from invest_assets.embeddings.incremental import EmbedReport, embed_dimensions
from invest_assets.embeddings.partitions import SHARD_COUNT, SHARDS
from invest_assets.embeddings.reembed import embed_shard, shards_left, switch_if_complete
from invest_assets.metadata import PREVIEW_ROWS, preview
from invest_assets.policies import DATABASE_RETRY, SINGLE_RUN
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.usage import BudgetExceeded
from invest_assets.vectors.indexes import ann_targets, ensure_ann_index, has_vectors
from invest_assets.vectors.models import register_model, serving_model_id
from invest_assets.vectors.targets import COMPANY_DESCRIPTION, INVESTOR_TARGETS, EmbeddingTarget, target

EMBEDDING_POOL = "embeddings"
# What every embedding and re-embedding asset shares: kinds for the UI and owner; its step's pool and retries.
EMBEDDING_SPEC = dict(kinds={"postgres", settings.embedder_kind()}, owners=["team:data-platform"])
EMBEDDING_STEP = dict(pool=EMBEDDING_POOL, retry_policy=DATABASE_RETRY)
DESCRIPTIONS = {
    "sector": "what they invest in",
    "stage": "where in the company lifecycle",
    "check": "check size and structure",
    "geography": "where geographically",
    "signal": "what excites them (vibe, mission)",
    "founder": "what founder profile they back",
}


def embedded_rows(conn: psycopg.Connection, dimension: str, ids: list[int]):
    """A few of the rows this run embedded, with the text their vector now stands for."""
    embedded = target(dimension)
    return preview(
        conn,
        sql.SQL(
            "SELECT source_id AS {entity}, name, left({text}, 80) AS text, {embedded_at} AS embedded_at"
            " FROM {table} WHERE id = ANY(%s) ORDER BY id"
        ).format(entity=sql.Identifier(embedded.entity), table=embedded.table_id, **embedded.columns()),
        (ids,),
    )


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
        "stale_index": MetadataValue.text(report.stale_index),
    }


def _ann_outcomes(conn: psycopg.Connection, reports: dict[str, EmbedReport]) -> dict[str, str]:
    """Each embedded target's ANN index outcome, plus any index of its table that a killed bulk write left
    missing: a target with vectors and no index. (A target without vectors gets its index from its own
    first run.)"""
    own = {key: report.ann_index or ensure_ann_index(conn, key) for key, report in reports.items()}
    repaired = [
        f"{other}: {outcome}"
        for table in sorted({target(key).table for key in reports})
        for other in ann_targets(table)
        if other not in reports
        and has_vectors(conn, other)
        and (outcome := ensure_ann_index(conn, other)).startswith("built")
    ]
    return {key: "; ".join([outcome, *repaired]) for key, outcome in own.items()}


def _description(embedded: EmbeddingTarget) -> str:
    if embedded is COMPANY_DESCRIPTION:
        return (
            "companies.description_embedding: the company's description vector, embedded from "
            "companies.description_text (the description, else name and sectors), only for rows whose "
            "text or model changed. similar-companies searches it."
        )
    d = embedded.key
    return (
        f"investors.{embedded.column_name('embedding')}: the {d} thesis vector ({DESCRIPTIONS[d]}), "
        f"embedded from investors.{embedded.column_name('text')}, only for rows whose text or model changed."
    )


def _embed(context: AssetExecutionContext, database: AlloyDBResource, embedder: EmbedderResource, keys: list[str]):
    """Embed what is stale of ``keys`` in one pass; one materialization per key."""
    with database.connection() as conn:
        try:
            reports = embed_dimensions(conn, embedder, keys)
        except BudgetExceeded as over:  # deterministic: a retry would refuse again
            raise Failure(str(over), allow_retries=False) from None
        for key, ann_index in _ann_outcomes(conn, reports).items():
            report = reports[key]
            context.log.info(f"{key}: embedded {report.embedded} of {report.considered} rows; ANN index {ann_index}")
            yield MaterializeResult(
                asset_key=target(key).asset_name,
                metadata={
                    **report_metadata(report),
                    "ann_index": MetadataValue.text(ann_index),
                    "embedded_rows": embedded_rows(conn, key, report.embedded_ids[:PREVIEW_ROWS]),
                },
            )


def _spec(embedded: EmbeddingTarget, deps: list[str]) -> AssetSpec:
    return AssetSpec(
        embedded.asset_name,
        deps=deps,
        group_name="embeddings",
        description=_description(embedded),
        **EMBEDDING_SPEC,
        skippable=True,
    )


@multi_asset(
    name="investor_embeddings",
    specs=[_spec(t, ["investors", "investor_profiles", "investor_theses"]) for t in INVESTOR_TARGETS.values()],
    can_subset=True,
    backfill_policy=SINGLE_RUN,
    **EMBEDDING_STEP,
)
def investor_embeddings(context: AssetExecutionContext, database: AlloyDBResource, embedder: EmbedderResource):
    """The six investor dimensions in one step, whichever of them are selected: a bulk write of several
    builds the sector ANN index once (``incremental``)."""
    selected = context.selected_asset_keys
    keys = [t.key for t in INVESTOR_TARGETS.values() if AssetKey(t.asset_name) in selected]
    yield from _embed(context, database, embedder, keys)


@multi_asset(
    name="embed_company_descriptions",
    specs=[_spec(COMPANY_DESCRIPTION, ["companies"])],
    backfill_policy=SINGLE_RUN,
    **EMBEDDING_STEP,
)
def company_description_embedding(
    context: AssetExecutionContext, database: AlloyDBResource, embedder: EmbedderResource
):
    yield from _embed(context, database, embedder, [COMPANY_DESCRIPTION.key])


embedding_assets = [investor_embeddings]


def reembed_asset(embedded: EmbeddingTarget) -> AssetsDefinition:
    dimension = embedded.key

    @asset(
        name=embedded.reembedding_asset_name,
        deps=[embedded.asset_name],
        partitions_def=SHARDS,
        group_name="reembedding",
        **EMBEDDING_SPEC,
        **EMBEDDING_STEP,
        description=f"Only when the embedding model changes: `dagster job backfill -j {embedded.reembed_job_name} "
        f"--all`. Re-embeds every {dimension} text with the configured model into a shadow table, one of "
        f"{SHARD_COUNT} shards per run, and switches investors.{embedded.column_name('embedding')} to it when all "
        "are done. Never built by the main job, so its shards stay unmaterialized until a model change: that is "
        "not a missing build.",
    )
    def _reembed(context: AssetExecutionContext, database: AlloyDBResource, embedder: EmbedderResource):
        started = time.perf_counter()
        with database.connection() as conn:
            serving = serving_model_id(conn, embedder, dimension)
            target = register_model(conn, embedder.identity)
            conn.commit()
            embedded = 0
            if target != serving:
                embedded = embed_shard(conn, embedder, dimension, int(context.partition_key), target)
            switched = target != serving and switch_if_complete(conn, dimension, target, embedder.dimensions)
            left = shards_left(conn, dimension, target) if target != serving and not switched else []
        ident = embedder.identity
        context.log.info(f"{dimension} shard {context.partition_key}: embedded {embedded}, switched {switched}")
        return MaterializeResult(
            metadata={
                "target_model": f"{ident.provider}/{ident.model} ({ident.dimensions} dims)",
                "already_serving": target == serving and not switched,
                "rows_embedded": embedded,
                "shards_left": len(left),
                "switched": switched,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )

    return _reembed


reembed_assets = [reembed_asset(t) for t in INVESTOR_TARGETS.values()]
