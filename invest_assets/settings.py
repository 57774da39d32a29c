"""Where the platform keeps its local state, and the environment variables it reads."""

from __future__ import annotations

import os
from pathlib import Path

ALLOYDB_URL_ENV = "ALLOYDB_URL"
HOME_ENV = "INVEST_ASSETS_HOME"
SOURCE_DIR_ENV = "INVEST_SOURCE_DIR"
MIGRATIONS_DIR_ENV = "INVEST_MIGRATIONS_DIR"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DATABASE = "invest_assets"


def home_dir() -> Path:
    """The platform's local state: embedded database, generated sample data."""
    return Path(os.environ.get(HOME_ENV, ".invest_assets")).expanduser().resolve()


def migrations_dir() -> Path:
    return Path(os.environ.get(MIGRATIONS_DIR_ENV, PROJECT_ROOT / "migrations")).resolve()


def source_kind() -> str:
    """The UI's kind badge for where the core tables come from (INVEST_SOURCE)."""
    return "bigquery" if os.environ.get("INVEST_SOURCE", "local") == "bigquery" else "csv"


def embedder_kind() -> str:
    """The UI's kind badge for what makes the vectors (INVEST_EMBEDDER)."""
    return "openai" if os.environ.get("INVEST_EMBEDDER", "local") == "openai" else "numpy"
