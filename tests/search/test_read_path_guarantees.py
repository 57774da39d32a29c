"""Operating guarantees of the read path: a statement timeout, and a read-only role that can
only insert its audit rows is enough to serve queries."""

import threading
from contextlib import contextmanager

import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from invest_assets import settings
from invest_assets.search.checks import recall_at_k
from invest_assets.search.find_investors import Filters, find_investors
from tests.search.test_find_investors import LOCAL, investors  # noqa: F401 (fixture)


@contextmanager
def investors_locked(db, release: threading.Event):
    """``investors`` locked by another session until ``release`` is set (or the block ends)."""
    locked = threading.Event()

    def hold_lock():
        with psycopg.connect(db.url) as other:
            other.execute("LOCK TABLE investors IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        locked.wait(10)
        yield
    finally:
        release.set()
        holder.join()


def test_a_query_stuck_behind_a_lock_is_cancelled_by_the_timeout_and_recorded(db, investors, monkeypatch):  # noqa: F811
    monkeypatch.setenv(settings.QUERY_TIMEOUT_MS.name, "200")
    with investors_locked(db, threading.Event()), db.connection() as conn, pytest.raises(psycopg.errors.QueryCanceled):
        find_investors(conn, LOCAL, {"sector": "fintech"}, Filters(recency_months=None))
    with db.connection() as conn:
        status, error = conn.execute("SELECT status, error_message FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    assert status == "error" and "statement timeout" in error


def test_the_recall_checks_exact_reference_is_not_cut_by_the_read_paths_timeout(db, investors, monkeypatch):  # noqa: F811
    """At 1,000,000 investors an exact scan takes longer than a find_investors call may: the recall check's
    reference scan has no timeout (here it waits 1 s for a lock, past the 200 ms the read path allows)."""
    monkeypatch.setenv(settings.QUERY_TIMEOUT_MS.name, "200")
    release = threading.Event()
    threading.Timer(1.0, release.set).start()
    with investors_locked(db, release), db.connection() as conn:
        recall, short_pages = recall_at_k(conn, LOCAL, ["fintech payments"])
    assert recall >= 0.95 and short_pages == 0


def test_a_role_that_may_only_read_and_insert_audit_rows_serves_queries(db, investors):  # noqa: F811
    role = f"reader_{db.url.rsplit('/', 1)[1].split('?')[0]}"
    with db.connection() as conn:  # the first query registers the serving models (a write, once)
        find_investors(conn, LOCAL, {"sector": "fintech", "signal": "mission"}, Filters(recency_months=None))
    with psycopg.connect(db.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT INSERT ON runs, users, feedback TO {}").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL("GRANT USAGE ON SEQUENCE runs_id_seq, users_id_seq, feedback_id_seq TO {}").format(
                sql.Identifier(role)
            )
        )
    try:
        reader_url = db.url.replace("postgresql://postgres:@", f"postgresql://{role}:@")
        with psycopg.connect(reader_url) as conn:
            register_vector(conn)
            result = find_investors(
                conn,
                LOCAL,
                {"sector": "fintech", "signal": "mission"},
                Filters(recency_months=None),
                user="read-only-user",
            )
            assert result.investors and result.run_id
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the role really is read-only elsewhere
                conn.execute("UPDATE investors SET name = name WHERE false")
    finally:
        with psycopg.connect(db.url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_retention_job_deletes_expired_runs_without_feedback(db, investors, monkeypatch):  # noqa: F811
    from invest_assets.search.jobs import runs_retention

    with db.connection() as conn:
        runs = [find_investors(conn, LOCAL, {"sector": "fintech"}, Filters(recency_months=None)) for _ in range(3)]
        conn.execute(
            "UPDATE runs SET created_at = now() - interval '40 days' WHERE id = ANY(%s)",
            ([r.run_id for r in runs[:2]],),
        )
        conn.execute(
            "INSERT INTO feedback (run_id, investor_id, signal, user_id)"
            " SELECT %s, %s, 'meeting_booked', user_id FROM runs WHERE id = %s",
            (runs[1].run_id, runs[1].investors[0]["id"], runs[1].run_id),
        )
        conn.commit()
    monkeypatch.setenv(settings.RUNS_RETENTION_DAYS.name, "30")
    result = runs_retention.execute_in_process(resources={"database": db})
    assert result.success and result.output_for_node("prune_expired_runs") == 1
    with db.connection() as conn:
        kept = {row[0] for row in conn.execute("SELECT id FROM runs")}
    assert kept == {runs[1].run_id, runs[2].run_id}  # the old one with feedback, and the recent one
