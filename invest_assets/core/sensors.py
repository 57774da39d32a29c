"""The sensor that brings source changes into the core tables without anyone clicking.

A tick costs the source's cheap fingerprints (local files: one ``stat`` per table;
BigQuery: one query of row counts and latest ``updated_at``) and one small query of
``source_sync_state``, where every sync that owned all months recorded the fingerprint
it started from. Tables whose fingerprint differs are synced by one run, in the
source's ``change_sync_mode``. Because the comparison is against what the database
committed, not against a cursor, a failed run is simply asked for again next tick;
while a sync run is queued or in progress the sensor waits.
"""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetSelection,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from invest_assets.core.partitions import all_months_tags
from invest_assets.core.sync import synced_fingerprints
from invest_assets.in_flight import SENSOR_DEFAULTS, assets_in_flight
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.local_source import TableSource
from invest_assets.sources.schema import TABLES

TRIGGER_TAG = "invest/trigger"
CHANGED_TABLES_TAG = "invest/changed_tables"
CORE_KEYS = {table: AssetKey(table) for table in TABLES}


def sync_run_config(tables: list[str], mode: str) -> dict:
    return {"ops": {table: {"config": {"mode": mode}} for table in tables}}


@sensor(
    name="source_changes_sensor",
    target=AssetSelection.assets(*CORE_KEYS.values()),
    **SENSOR_DEFAULTS,
    description="Syncs the core tables whose source changed since their last complete sync "
    "(cheap fingerprints: file stat, or one BigQuery query), one run at a time.",
)
def source_changes_sensor(
    context: SensorEvaluationContext, database: AlloyDBResource, source: TableSource
) -> RunRequest | SkipReason:
    current = source.fingerprints(TABLES)
    with database.connection() as conn:
        synced = synced_fingerprints(conn)
    changed = [table for table in TABLES if current[table] != synced.get(table)]
    if not changed:
        return SkipReason("no source changes since the last sync")
    if assets_in_flight(context.instance, set(CORE_KEYS.values())):
        return SkipReason(f"changed: {', '.join(changed)}; waiting for the core-table run in progress")
    context.log.info(f"changed since the last sync: {', '.join(changed)}")
    return RunRequest(
        asset_selection=[CORE_KEYS[table] for table in changed],
        run_config=sync_run_config(changed, source.change_sync_mode),
        tags={**all_months_tags(), TRIGGER_TAG: "source_changes", CHANGED_TABLES_TAG: ",".join(changed)},
    )
