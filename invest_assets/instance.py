"""The local platform as a service: the Dagster instance on PostgreSQL, and `invest-assets dev`.

The instance (``dagster.yaml`` at the repository root) keeps runs, event logs, schedule and
sensor state in PostgreSQL through dagster-postgres. Unless DAGSTER_HOME is set, the platform
uses ``$INVEST_ASSETS_HOME/dagster`` with that file; unless DAGSTER_POSTGRES_URL is set, the
storage is a ``dagster`` database on the server the data uses: the embedded one, or the
server of ``ALLOYDB_URL``. So stopping and starting keeps run history, schedule state and
sensor cursors, and a fresh clone needs nothing but the command.

When it chose those defaults, it also writes them to ``.env`` in the directory it runs from
(the repository root): Dagster's own CLIs (``dagster``, ``dagster-daemon``, ``dagster dev``)
load that file from their working directory, so every documented ``dagster`` command uses the
same instance and database as ``invest-assets dev`` and ``invest-assets build`` with nothing
exported by hand. Other lines of an existing ``.env`` are kept.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from urllib.parse import urlencode

from psycopg.conninfo import conninfo_to_dict

from invest_assets import settings
from invest_assets.resources.database import embedded_server_url, ensure_database, validated_url

STORAGE_DATABASE = "dagster"
INSTANCE_CONFIG = settings.PROJECT_ROOT / "dagster.yaml"


def storage_url() -> str:
    """DAGSTER_POSTGRES_URL, else a `dagster` database beside the data (created if missing)."""
    if settings.DAGSTER_POSTGRES_URL.is_set():
        return settings.DAGSTER_POSTGRES_URL.value()
    data_url = settings.ALLOYDB_URL.value()
    if data_url:
        ensure_database(validated_url(data_url), STORAGE_DATABASE)
    else:
        data_url = embedded_server_url(database=STORAGE_DATABASE)
    params = conninfo_to_dict(data_url)
    params["dbname"] = STORAGE_DATABASE
    return sqlalchemy_url(params)


def sqlalchemy_url(params: dict) -> str:
    """dagster-postgres takes a SQLAlchemy URL. The driver is named: SQLAlchemy 2.1 otherwise
    picks psycopg 3, whose server-side parameters break some of Dagster's storage queries.
    libpq keywords as query parameters carry every connection option."""
    return "postgresql+psycopg2:///?" + urlencode(params)


def prepare_instance(env_file_dir: Path | None = None) -> Path:
    """Make DAGSTER_HOME and DAGSTER_POSTGRES_URL ready for this platform; returns DAGSTER_HOME.

    Defaults chosen here are written to ``.env`` in ``env_file_dir`` (default: the working
    directory) for Dagster's CLIs; values the caller set are theirs and are not written."""
    chosen = {}
    # Dagster reads both from the process environment: the instance, its run workers and `dagster dev`.
    if not settings.DAGSTER_POSTGRES_URL.is_set():
        chosen[settings.DAGSTER_POSTGRES_URL.name] = os.environ[settings.DAGSTER_POSTGRES_URL.name] = storage_url()
    if not settings.DAGSTER_HOME.is_set():
        home = settings.home_dir() / "dagster"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
        chosen[settings.DAGSTER_HOME.name] = os.environ[settings.DAGSTER_HOME.name] = str(home)
    if settings.DAGSTER_HOME.name in chosen:  # a caller's own instance is not the platform's to advertise
        write_env_file((env_file_dir or Path.cwd()) / ".env", chosen)
    return Path(settings.DAGSTER_HOME.value()).resolve()


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """Set ``values`` in the dotenv file at ``path``, keeping its other lines."""
    kept = []
    if path.exists():
        kept = [
            line
            for line in path.read_text().splitlines()
            if line.split("=", 1)[0].strip().removeprefix("export ").strip() not in values
        ]
    lines = [*kept, *(f"{key}={shlex.quote(value)}" for key, value in values.items())]
    path.write_text("\n".join(lines) + "\n")
