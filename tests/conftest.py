"""Shared fixtures: one embedded PostgreSQL + pgvector server per test session, and a
fresh database per test cloned from a migrated template (fast, and fully isolated)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from invest_assets.resources.database import (
    AlloyDBResource,
    apply_migrations,
    close_pools,
    embedded_server_url,
    stop_embedded_server,
)

TEMPLATE_DB = "invest_template"


def _with_database(url: str, database: str) -> str:
    before, _, after = url.partition("?")
    return f"{before.rsplit('/', 1)[0]}/{database}" + (f"?{after}" if after else "")


@pytest.fixture(scope="session", autouse=True)
def clean_working_directory(tmp_path_factory) -> Iterator[Path]:
    """Tests and their subprocesses run in an empty directory: Dagster's CLIs load `.env` from their
    working directory over the environment, so a developer's `.env` at the repository root (written by
    `invest-assets build`) would point every `dagster` subprocess at the developer's own instance."""
    previous = Path.cwd()
    cwd = tmp_path_factory.mktemp("cwd")
    os.chdir(cwd)
    yield cwd
    os.chdir(previous)


@pytest.fixture(scope="session")
def pg_home(tmp_path_factory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("invest_home")
    os.environ.pop("ALLOYDB_URL", None)
    template_url = embedded_server_url(str(home), database=TEMPLATE_DB)
    apply_migrations(template_url)
    yield home
    close_pools()
    stop_embedded_server(str(home))


@pytest.fixture(scope="session")
def maintenance_url(pg_home) -> str:
    return _with_database(embedded_server_url(str(pg_home), database=TEMPLATE_DB), "postgres")


@pytest.fixture
def new_database_url(maintenance_url) -> Iterator[Callable[[], str]]:
    """Makes URLs of new, migrated, empty databases, all dropped after the test."""
    names: list[str] = []

    def create() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(maintenance_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(TEMPLATE_DB))
            )
        names.append(name)
        return _with_database(maintenance_url, name)

    yield create
    close_pools()
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(new_database_url) -> str:
    """A URL of a new, migrated, empty database, dropped after the test."""
    return new_database_url()


@pytest.fixture
def db(database_url) -> AlloyDBResource:
    return AlloyDBResource(url=database_url)
