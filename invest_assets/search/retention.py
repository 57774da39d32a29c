"""Retention of the read path's audit rows: ``runs`` older than INVEST_RUNS_RETENTION_DAYS
(default 90) are deleted, in batches, by a daily scheduled job. Runs with feedback stay: they
are the revealed preferences a ranking learns from."""

import psycopg

from invest_assets import settings

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
