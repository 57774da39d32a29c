"""The runs retention job: deletes find_investors runs past their retention, keeping runs with feedback."""

from dagster import OpExecutionContext, job, op

from invest_assets.resources.database import AlloyDBResource
from invest_assets.search.retention import prune_runs, retention_days


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
