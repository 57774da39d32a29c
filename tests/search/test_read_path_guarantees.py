"""Operating guarantees of the read path: a statement timeout, and a read-only role that can
only insert its audit rows is enough to serve queries."""

import threading

import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from invest_assets import settings
from invest_assets.search.find_investors import Filters, find_investors
from tests.search.test_find_investors import LOCAL, investors  # noqa: F401 (fixture)


def test_a_query_stuck_behind_a_lock_is_cancelled_by_the_timeout_and_recorded(db, investors, monkeypatch):  # noqa: F811
    monkeypatch.setenv(settings.QUERY_TIMEOUT_MS.name, "200")
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with psycopg.connect(db.url) as other:
            other.execute("LOCK TABLE investors IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        locked.wait(10)
        with db.connection() as conn, pytest.raises(psycopg.errors.QueryCanceled):
            find_investors(conn, LOCAL, {"sector": "fintech"}, Filters(recency_months=None))
    finally:
        release.set()
        holder.join()
    with db.connection() as conn:
        status, error = conn.execute("SELECT status, error_message FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    assert status == "error" and "statement timeout" in error


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
