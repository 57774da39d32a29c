"""The four core tables as assets: companies, investors, funding_rounds, investments.

Each reads its source table through the ``source`` resource and loads it with the
bulk loader (one transaction: COPY, set-based upsert, soft delete, quarantine). Their
``deps`` are the real foreign keys, so Dagster loads parents before children.
"""

from typing import Literal

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from psycopg import sql
from pydantic import Field

from invest_assets import settings
from invest_assets.core import loader
from invest_assets.core.loader import LoadReport
from invest_assets.core.partitions import MONTHLY, MonthWindow
from invest_assets.core.sync import SyncReport, sync_table
from invest_assets.metadata import PREVIEW_ROWS, preview
from invest_assets.policies import DATABASE_RETRY, SINGLE_RUN
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.local_source import TableSource
from invest_assets.sources.local_files import SourceError
from invest_assets.sources.schema import TABLES, SourceTable

OWNER = "team:data-platform"
# Rounds and their investments load month by month; companies and investors are small
# enough, and not time-shaped, to load whole.
PARTITIONED = frozenset({"funding_rounds", "investments"})
QUARANTINE_CHECK = "no_quarantined_rows"
SNAPSHOT_CHECK = "snapshot_keeps_live_rows"

DESCRIPTIONS = {
    "companies": "Investee companies, upserted by source_id from the source's companies table.",
    "investors": "Investors (people and firms): identity, typed hard filters, thesis and the six per-dimension "
    "source texts. The hot table find_investors reads.",
    "funding_rounds": "Funding rounds, the graph hop between companies and investors.",
    "investments": "Which investor took part in which round (the co-investor junction).",
    "investor_documents": "What investors publish (web pages, decks, manual notes, news) as plain text, from the "
    "source's optional investor_documents table; investor_theses extracts their theses from it.",
}


def _parents(spec: SourceTable) -> list[str]:
    return sorted({ref.table for ref in spec.references if ref.table != spec.name})


PREVIEW_COLUMNS = {
    "companies": ["source_id", "name", "primary_sector", "hq_country", "status"],
    "investors": ["source_id", "name", "kind", "focus_sectors", "preferred_stages", "geographies"],
    "funding_rounds": ["source_id", "round_type", "announced_at", "amount_usd"],
    "investments": ["source_id", "is_lead", "amount_usd"],
    "investor_documents": ["source_id", "kind", "url"],
}


def recent_rows(conn, table: str):
    """A few recently changed live rows, as a Markdown table for the UI."""
    query = sql.SQL("SELECT {} FROM {} WHERE deleted_at IS NULL ORDER BY updated_at DESC, id LIMIT %s").format(
        sql.SQL(", ").join(map(sql.Identifier, PREVIEW_COLUMNS[table])), sql.Identifier(table)
    )
    return preview(conn, query, (PREVIEW_ROWS,))


class SyncConfig(Config):
    mode: Literal["full", "delta"] = Field(
        default="full",
        description="full: reconcile with everything the source has (finds deletions); "
        "delta: only source rows updated after the last synced watermark.",
    )


def load_metadata(sync: SyncReport, source: str, rows_preview: MetadataValue) -> dict:
    report = sync.load
    return {
        "mode": sync.mode,
        "months": str(sync.window),
        "watermark_before": MetadataValue.text(str(sync.watermark_before)),
        "watermark_after": MetadataValue.text(str(sync.watermark_after)),
        "dagster/row_count": report.live_rows,
        "source": source,
        "source_rows": report.source_rows,
        "inserted": report.inserted,
        "updated": report.updated,
        "revived": report.revived,
        "unchanged": report.unchanged,
        "soft_deleted": report.soft_deleted,
        "quarantined": report.quarantined,
        "quarantined_by_reason": MetadataValue.json(report.quarantined_by_reason),
        "seconds": report.seconds,
        "preview": rows_preview,
    }


def quarantine_check(spec: SourceTable, report: LoadReport, run_id: str) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=report.quarantined == 0,
        severity=AssetCheckSeverity.WARN,
        description=f"{report.quarantined} {spec.name} rows quarantined in run {run_id}; "
        f"see: SELECT * FROM quarantine WHERE table_name = '{spec.name}' AND run_id = '{run_id}'",
        metadata={"quarantined": report.quarantined, "by_reason": MetadataValue.json(report.quarantined_by_reason)},
    )


def refusal_metadata(refused: loader.SnapshotRefused) -> dict:
    return {
        "source_rows": refused.source_rows,
        "live_rows": refused.live,
        "would_soft_delete": refused.missing,
        "max_share": refused.max_share,
        "setting": settings.MAX_SOFT_DELETE_SHARE.name,
    }


def snapshot_check(refused: loader.SnapshotRefused) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=SNAPSHOT_CHECK,
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        description=str(refused),
        metadata=refusal_metadata(refused),
    )


def core_table_asset(spec: SourceTable) -> AssetsDefinition:
    @asset(
        name=spec.name,
        deps=_parents(spec),
        group_name="core",
        kinds={"postgres", settings.source_kind()},
        owners=[OWNER],
        description=DESCRIPTIONS[spec.name],
        retry_policy=DATABASE_RETRY,
        partitions_def=MONTHLY if spec.name in PARTITIONED else None,
        backfill_policy=SINGLE_RUN,
        check_specs=[
            AssetCheckSpec(
                QUARANTINE_CHECK,
                asset=spec.name,
                description="Warns when the load quarantined rows (bad types, unknown references, duplicates).",
            ),
            AssetCheckSpec(
                SNAPSHOT_CHECK,
                asset=spec.name,
                blocking=True,
                description="Fails, and stops everything downstream, when a full snapshot would soft-delete more "
                f"than {settings.MAX_SOFT_DELETE_SHARE.name} of the live rows (a truncated or stale source); "
                "the load is refused and nothing is written.",
            ),
        ],
    )
    def _load(context: AssetExecutionContext, config: SyncConfig, database: AlloyDBResource, source: TableSource):
        window = MonthWindow.for_run(context) if spec.name in PARTITIONED else MonthWindow.everything()
        with database.connection() as conn:
            try:
                sync = sync_table(conn, spec, source, context.run_id, mode=config.mode, window=window)
            except loader.SnapshotRefused as refused:
                yield snapshot_check(refused)
                raise Failure(str(refused), metadata=refusal_metadata(refused), allow_retries=False) from None
            except SourceError as unreadable:  # a retry would read the same file
                raise Failure(str(unreadable), allow_retries=False) from None
            rows_preview = recent_rows(conn, spec.name)
        context.log.info(f"{spec.name} ({sync.mode}, {window}): {sync.load}")
        yield MaterializeResult(
            metadata=load_metadata(sync, source.describe(), rows_preview),
            check_results=[
                quarantine_check(spec, sync.load, context.run_id),
                AssetCheckResult(
                    check_name=SNAPSHOT_CHECK, passed=True, metadata={"soft_deleted": sync.load.soft_deleted}
                ),
            ],
        )

    return _load


core_assets = [core_table_asset(spec) for spec in TABLES.values()]
