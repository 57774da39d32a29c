"""Daily retention of the read path's audit rows (off until turned on, like every schedule)."""

from dagster import ScheduleDefinition

from invest_assets import settings
from invest_assets.search.jobs import runs_retention

runs_retention_schedule = ScheduleDefinition(
    name="runs_retention_schedule",
    job=runs_retention,
    cron_schedule=settings.RETENTION_CRON.value(),
    execution_timezone=settings.SCHEDULE_TIMEZONE.value(),
    description="Daily: delete find_investors runs past INVEST_RUNS_RETENTION_DAYS (runs with feedback stay).",
)
