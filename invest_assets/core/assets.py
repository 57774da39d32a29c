"""The four core tables as assets: companies, investors, funding_rounds, investments.

Each reads its source table through the ``source`` resource and loads it with the
bulk loader (one transaction: COPY, set-based upsert, soft delete, quarantine). Their
``deps`` are the real foreign keys, so Dagster loads parents before children.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)
from psycopg import sql

from invest_assets.core.loader import LoadReport, load_table
from invest_assets.policies import DATABASE_RETRY
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.sources import TableSource
from invest_assets.sources.schema import TABLES, SourceTable

OWNER = "team:data-platform"
QUARANTINE_CHECK = "no_quarantined_rows"

DESCRIPTIONS = {
    "companies": "Investee companies, upserted by source_id from the source's companies table.",
    "investors": "Investors (people and firms): identity, typed hard filters, thesis and the six per-dimension "
    "source texts. The hot table find_investors reads.",
    "funding_rounds": "Funding rounds, the graph hop between companies and investors.",
    "investments": "Which investor took part in which round (the co-investor junction).",
}


def _parents(spec: SourceTable) -> list[str]:
    return sorted({ref.table for ref in spec.references if ref.table != spec.name})


PREVIEW_COLUMNS = {
    "companies": ["source_id", "name", "primary_sector", "hq_country", "status"],
    "investors": ["source_id", "name", "kind", "focus_sectors", "preferred_stages", "geographies"],
    "funding_rounds": ["source_id", "round_type", "announced_at", "amount_usd"],
    "investments": ["source_id", "is_lead", "amount_usd"],
}


def preview_markdown(conn, table: str, limit: int = 5) -> str:
    """A few recently changed live rows, as a Markdown table for the UI."""
    columns = PREVIEW_COLUMNS[table]
    rows = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE deleted_at IS NULL ORDER BY updated_at DESC, id LIMIT %s").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table)
        ),
        (limit,),
    ).fetchall()
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    body = "\n".join("| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows)
    return f"{header}\n{body}"


def load_metadata(report: LoadReport, source: str, preview: str) -> dict:
    return {
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
        "preview": MetadataValue.md(preview),
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


def core_table_asset(spec: SourceTable) -> AssetsDefinition:
    @asset(
        name=spec.name,
        deps=_parents(spec),
        group_name="core",
        kinds={"postgres"},
        owners=[OWNER],
        description=DESCRIPTIONS[spec.name],
        retry_policy=DATABASE_RETRY,
        check_specs=[
            AssetCheckSpec(
                QUARANTINE_CHECK,
                asset=spec.name,
                description="Warns when the load quarantined rows (bad types, unknown references, duplicates).",
            )
        ],
    )
    def _load(context: AssetExecutionContext, database: AlloyDBResource, source: TableSource) -> MaterializeResult:
        with database.connection() as conn:
            report = load_table(conn, spec, source.read(spec.name), context.run_id)
            preview = preview_markdown(conn, spec.name)
        context.log.info(f"{spec.name}: {report}")
        return MaterializeResult(
            metadata=load_metadata(report, source.describe(), preview),
            check_results=[quarantine_check(spec, report, context.run_id)],
        )

    return _load


core_assets = [core_table_asset(spec) for spec in TABLES.values()]
