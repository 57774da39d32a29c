"""Retention of the read path's audit rows: ``runs`` older than INVEST_RUNS_RETENTION_DAYS
(default 90) are deleted, in batches, by a daily scheduled job. Runs with feedback stay: they
are the revealed preferences a ranking learns from."""


import psycopg
from dagster import OpExecutionContext, ScheduleDefinition, job, op

from invest_assets import settings
from invest_assets.resources.database import AlloyDBResource

BATCH = 10_000

PRUNE = """
DELETE FROM runs WHERE id IN (
  SELECT r.id FROM runs r
  WHERE r.created_at < now() - make_interval(days => %(days)s)
    AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.run_id = r.id)
  LIMIT %(batch)s)
"""


def retention_days() -> int:
    return settings.RUNS_RETENTION_DAYS.value()


def prune_runs(conn: psycopg.Connection, days: int) -> int:
    """Delete expired runs without feedback, one committed batch at a time; returns how many."""
    deleted = 0
    while True:
        batch = conn.execute(PRUNE, {"days": days, "batch": BATCH}).rowcount
        conn.commit()
        deleted += batch
        if batch < BATCH:
            return deleted


@op(description="Deletes find_investors runs older than INVEST_RUNS_RETENTION_DAYS that have no feedback.")
def prune_expired_runs(context: OpExecutionContext, database: AlloyDBResource) -> int:
    days = retention_days()
    with database.connection() as conn:
        deleted = prune_runs(conn, days)
    context.log.info(f"deleted {deleted} runs older than {days} days (runs with feedback kept)")
    return deleted


@job(description="Apply the runs retention policy (INVEST_RUNS_RETENTION_DAYS, default 90).")
def runs_retention():
    prune_expired_runs()


runs_retention_schedule = ScheduleDefinition(
    name="runs_retention_schedule", job=runs_retention, cron_schedule=settings.RETENTION_CRON.value(),
    execution_timezone=settings.SCHEDULE_TIMEZONE.value(),
    description="Daily: delete find_investors runs past INVEST_RUNS_RETENTION_DAYS (runs with feedback stay).",
)
