"""``investor_profiles``: the six dimension texts and the typed preferences of every investor
with history, derived from what it did (see ``templates``), between the core tables and the
six embeddings in the lineage graph.

A value the source states always serves; derived values fill only what the source leaves empty
(migration 0040 keeps the served columns in step). Only texts that come out different are
written, so the stale-embeddings sensor re-embeds only those dimensions of those investors.
"""

from datetime import date

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from invest_assets.metadata import PREVIEW_ROWS, preview
from invest_assets.policies import DATABASE_RETRY, REFRESH_AFTER_INPUTS_CHANGE, SINGLE_RUN
from invest_assets.profiles.derive import ProfileReport, derive_profiles
from invest_assets.profiles.templates import TEMPLATE_VERSION
from invest_assets.resources.database import AlloyDBResource

COVERAGE = """
SELECT count(*) FILTER (WHERE profile_version IS NOT NULL) AS with_history,
       count(*) FILTER (WHERE profile_version IS NULL) AS without_history,
       count(*) FILTER (WHERE profile_version IS NOT NULL AND sector_text IS NOT NULL AND stage_text IS NOT NULL
                        AND geography_text IS NOT NULL AND signal_text IS NOT NULL) AS with_core_texts,
       count(*) FILTER (WHERE provenance ? 'sector_text' AND provenance->>'sector_text' = 'source') AS stated_sector
FROM investors WHERE deleted_at IS NULL
"""
PROFILE_PREVIEW = """
SELECT source_id AS investor, name, left(sector_text, 90) AS sector, left(stage_text, 60) AS stage,
       left(check_text, 60) AS "check", provenance::text AS provenance
FROM investors WHERE deleted_at IS NULL AND profile_version IS NOT NULL
ORDER BY total_investments DESC, id LIMIT %s
"""


class ProfileConfig(Config):
    as_of: str | None = Field(
        default=None,
        description="ISO date: derive from rounds before it only (a backtest as of a cut date); empty: everything.",
    )


def profile_metadata(report: ProfileReport, coverage: dict, rows_preview) -> dict:
    return {
        "dagster/row_count": report.investors_with_history,
        "template_version": TEMPLATE_VERSION,
        "rows_changed": report.rows_changed,
        "changed_by_field": MetadataValue.json(report.changed_by_field),
        **coverage,
        "seconds": report.seconds,
        "profiles": rows_preview,
    }


@asset(
    deps=["companies", "funding_rounds", "investments", "investors"],
    group_name="profiles",
    kinds={"postgres"},
    owners=["team:data-platform"],
    retry_policy=DATABASE_RETRY,
    backfill_policy=SINGLE_RUN,
    automation_condition=REFRESH_AFTER_INPUTS_CHANGE,
    description="investors.<dim>_text_derived for the six dimensions and focus_sectors, preferred_stages, "
    "geographies and the check size range (_derived), from each investor's live rounds: what serves is the "
    "source's value where it states one, else the derived (investors.provenance says which).",
)
def investor_profiles(
    context: AssetExecutionContext, config: ProfileConfig, database: AlloyDBResource
) -> MaterializeResult:
    as_of = date.fromisoformat(config.as_of) if config.as_of else None
    with database.connection() as conn:
        report = derive_profiles(conn, as_of)
        cursor = conn.execute(COVERAGE)
        coverage = dict(zip([c.name for c in cursor.description], cursor.fetchone(), strict=True))
        rows_preview = preview(conn, PROFILE_PREVIEW, (PREVIEW_ROWS,))
    context.log.info(f"profiles ({TEMPLATE_VERSION}, as of {as_of or 'now'}): {report}")
    return MaterializeResult(metadata=profile_metadata(report, coverage, rows_preview))
