"""Routine syncs of the core tables: a frequent delta sync and a nightly full reconcile.

Both target the four core assets over every month in one run. Cron strings and the
time zone come from the environment; both schedules start stopped and are turned on in
the UI (Automation) or with ``dagster schedule start``. The graph-derived assets follow
on their own (an ``AutomationCondition``, see ``invest_assets.graph.assets``).
"""

from __future__ import annotations

from dagster import AssetSelection, RunRequest, ScheduleDefinition, ScheduleEvaluationContext, schedule

from invest_assets import settings
from invest_assets.core.partitions import all_months_tags
from invest_assets.core.sensors import CORE_KEYS, TRIGGER_TAG, sync_run_config
from invest_assets.sources.schema import TABLES

TIMEZONE = settings.SCHEDULE_TIMEZONE.value()
DELTA_CRON = settings.DELTA_SYNC_CRON.value()
RECONCILE_CRON = settings.RECONCILE_CRON.value()
CORE = AssetSelection.assets(*CORE_KEYS.values())


def sync_schedule(name: str, mode: str, cron: str, description: str) -> ScheduleDefinition:
    @schedule(name=name, cron_schedule=cron, execution_timezone=TIMEZONE, target=CORE, description=description)
    def _sync(context: ScheduleEvaluationContext) -> RunRequest:
        return RunRequest(
            run_key=f"{mode}:{context.scheduled_execution_time:%Y-%m-%dT%H:%M}",
            run_config=sync_run_config(list(TABLES), mode),
            tags={**all_months_tags(), TRIGGER_TAG: f"{mode}_sync_schedule"},
        )

    return _sync


delta_sync_schedule = sync_schedule(
    "delta_sync_schedule",
    "delta",
    DELTA_CRON,
    "Loads source rows updated after the last synced watermark into the four core tables "
    "(INVEST_DELTA_SYNC_CRON, default every 15 minutes).",
)
full_reconcile_schedule = sync_schedule(
    "full_reconcile_schedule",
    "full",
    RECONCILE_CRON,
    "Reconciles the four core tables with everything the source has, soft-deleting what it dropped "
    "(INVEST_RECONCILE_CRON, default 03:00 daily).",
)
schedules = [delta_sync_schedule, full_reconcile_schedule]
