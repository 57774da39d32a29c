"""Every environment variable the platform reads, declared once: name, type, default, meaning.

Modules ask a ``Setting`` for its value instead of reading ``os.environ``; an empty variable counts as
unset. ``docs/settings.md`` is generated from ``SETTINGS`` (``invest-assets config --markdown``) and
``invest-assets config`` prints the effective values with where each came from, secrets masked.
Dagster resources take secrets as ``EnvVar(setting.name)`` so they stay out of the UI and run config.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import EnvVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DATABASE = "invest_assets"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    meaning: str
    group: str
    parse: Callable[[str], Any] = str
    mask: Callable[[str], str] | None = None  # secrets: how to show them

    def raw(self) -> str | None:
        """The text in effect: the environment's when set and not empty, else the default."""
        return os.environ.get(self.name) or self.default

    def value(self) -> Any:
        raw = self.raw()
        if raw is None:
            return None
        try:
            return self.parse(raw)
        except ValueError as err:
            raise ValueError(f"{self.name}={raw!r}: {err}") from None

    def is_set(self) -> bool:
        return bool(os.environ.get(self.name))

    def env_var(self) -> EnvVar | None:
        """For a Dagster resource: read at run time, kept out of the UI and run config; None when unset."""
        return EnvVar(self.name) if self.is_set() else None

    def shown(self) -> str:
        """The value for people: unset, or masked when secret."""
        raw = self.raw()
        if raw is None:
            return "(unset)"
        return self.mask(raw) if self.mask else raw


def masked_url(url: str) -> str:
    """``url`` with any password (``user:password@``, or a ``password=`` parameter) replaced by ***,
    for messages and logs."""
    url = re.sub(r"(?<=:)[^:@]*(?=@)", "***", url)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", url)


def masked(_: str) -> str:
    return "***"


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    parse.choices = choices
    return parse


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("expected a number of 0 or more")
    return value


SETTINGS: list[Setting] = []


def _setting(name: str, default: str | None, meaning: str, group: str, parse=str, mask=None) -> Setting:
    setting = Setting(name, default, meaning, group, parse, mask)
    SETTINGS.append(setting)
    return setting


# Database and local state
ALLOYDB_URL = _setting(
    "ALLOYDB_URL",
    None,
    "PostgreSQL URL of the data (an AlloyDB instance in production). "
    "Unset: the embedded PostgreSQL under INVEST_ASSETS_HOME.",
    "database",
    mask=masked_url,
)
ASSETS_HOME = _setting(
    "INVEST_ASSETS_HOME",
    ".invest_assets",
    "Local state: the embedded database, the generated sample, the default Dagster instance.",
    "database",
)
MIGRATIONS_DIR = _setting(
    "INVEST_MIGRATIONS_DIR",
    None,
    "Directory of the SQL migrations (default: the repository's `migrations/`).",
    "database",
)
DAGSTER_HOME = _setting(
    "DAGSTER_HOME",
    None,
    "The Dagster instance. Unset: `invest-assets build` and `dev` use "
    "INVEST_ASSETS_HOME/dagster and write it to `.env` for Dagster's CLIs.",
    "database",
)
DAGSTER_POSTGRES_URL = _setting(
    "DAGSTER_POSTGRES_URL",
    None,
    "SQLAlchemy URL of the Dagster instance's storage "
    "(`postgresql+psycopg2://...`). Unset: a `dagster` database beside the data.",
    "database",
    mask=masked_url,
)

EMBEDDED_SHARED_BUFFERS = _setting(
    "INVEST_EMBEDDED_SHARED_BUFFERS",
    "0.25",
    "Share of this machine's memory the embedded server takes as `shared_buffers` (at least 128 MB); "
    "read when the server starts (`invest-assets db stop` to apply a change).",
    "database",
    _non_negative_float,
)

# Sources
SOURCE = _setting("INVEST_SOURCE", "local", "Where the core tables come from.", "sources", _choice("local", "bigquery"))
SOURCE_DIR = _setting(
    "INVEST_SOURCE_DIR",
    None,
    "Directory of the local source files. Unset: the generated sample under INVEST_ASSETS_HOME.",
    "sources",
)
BIGQUERY_PROJECT = _setting(
    "INVEST_BIGQUERY_PROJECT", None, "Project that runs (and pays for) the BigQuery query jobs.", "sources"
)
BIGQUERY_DATASET = _setting("INVEST_BIGQUERY_DATASET", None, "Dataset that holds the four source tables.", "sources")
BIGQUERY_LOCATION = _setting("INVEST_BIGQUERY_LOCATION", None, "The dataset's location (optional).", "sources")
BIGQUERY_CREDENTIALS = _setting(
    "INVEST_BIGQUERY_CREDENTIALS",
    None,
    "Base64 service-account key. Unset: Application Default Credentials.",
    "sources",
    mask=masked,
)
BIGQUERY_TABLES = _setting(
    "INVEST_BIGQUERY_TABLES",
    None,
    "Tables not named as in the contract, e.g. `companies=organizations,investors=vc_investors`.",
    "sources",
)

# Loading
PARTITIONS_START = _setting(
    "INVEST_PARTITIONS_START",
    "2013-01",
    "First monthly partition of rounds and investments; earlier and undated rounds belong to it.",
    "loading",
)
DELTA_OVERLAP_SECONDS = _setting(
    "INVEST_DELTA_OVERLAP_SECONDS",
    "300",
    "A delta sync re-reads rows this many seconds older than the watermark (rows committed late).",
    "loading",
    float,
)
MAX_SOFT_DELETE_SHARE = _setting(
    "INVEST_MAX_SOFT_DELETE_SHARE",
    "0.10",
    "A full snapshot that would soft-delete more than this share of the live rows is refused.",
    "loading",
    float,
)

# Embeddings
EMBEDDER = _setting(
    "INVEST_EMBEDDER",
    "local",
    "What makes the vectors: the offline hashing embedder or OpenAI.",
    "embeddings",
    _choice("local", "openai"),
)
EMBEDDING_MODEL = _setting(
    "INVEST_EMBEDDING_MODEL", "text-embedding-3-small", "The OpenAI embedding model.", "embeddings"
)
OPENAI_API_KEY = _setting("OPENAI_API_KEY", None, "The OpenAI key (never logged or shown).", "embeddings", mask=masked)
OPENAI_BASE_URL = _setting("OPENAI_BASE_URL", None, "Any OpenAI-compatible server.", "embeddings")
OPENAI_MAX_USD_PER_RUN = _setting(
    "INVEST_OPENAI_MAX_USD_PER_RUN",
    None,
    "Refuse, before sending anything, an embedding or extraction run whose estimated OpenAI cost (counted "
    "tokens times the model's price) is over this many USD; unset: no limit.",
    "embeddings",
    _non_negative_float,
)
EXTRACTOR = _setting(
    "INVEST_EXTRACTOR",
    "none",
    "What extracts investors' theses from their documents: nothing (the documents load, graph-derived "
    "profiles serve) or OpenAI.",
    "theses",
    _choice("none", "openai"),
)
EXTRACTION_MODEL = _setting(
    "INVEST_EXTRACTION_MODEL", "gpt-4o-mini", "The OpenAI chat model that extracts theses.", "theses"
)
OPENAI_BATCH = _setting(
    "INVEST_OPENAI_BATCH",
    "auto",
    "Whether a thesis extraction or an OpenAI embedding run goes through OpenAI's Batch API (half price, "
    "answered within 24 hours): always, never, or auto (when at least INVEST_OPENAI_BATCH_MIN_REQUESTS wait).",
    "theses",
    _choice("auto", "always", "never"),
)
OPENAI_BATCH_MIN_REQUESTS = _setting(
    "INVEST_OPENAI_BATCH_MIN_REQUESTS",
    "1000",
    "With INVEST_OPENAI_BATCH=auto, the fewest waiting investors to extract, or stale texts to embed, that go "
    "as a batch; fewer go synchronously (the sensors' small runs).",
    "theses",
    int,
)
OPENAI_BATCH_POLL_SECONDS = _setting(
    "INVEST_OPENAI_BATCH_POLL_SECONDS",
    "60",
    "How often a run waiting for its batch asks OpenAI whether it is done.",
    "theses",
    _non_negative_float,
)
EMBED_BULK_SHARE = _setting(
    "INVEST_EMBED_BULK_SHARE",
    "0.5",
    "A run that will write more than this share of a target's rows with text (and at least "
    "INVEST_EMBED_BULK_MIN_ROWS) stages its vectors, writes them together at its end and then rebuilds the "
    "candidate index once.",
    "embeddings",
    float,
)
EMBED_BULK_MIN_ROWS = _setting(
    "INVEST_EMBED_BULK_MIN_ROWS",
    "1000",
    "Smaller runs always write batch by batch, through the candidate index.",
    "embeddings",
    int,
)
INDEX_BUILD_MEMORY = _setting(
    "INVEST_INDEX_BUILD_MEMORY",
    "1GB",
    "`maintenance_work_mem` for building an ANN index: an HNSW graph that fits builds far faster.",
    "embeddings",
)
EMBED_BATCH_ROWS = _setting(
    "INVEST_EMBED_BATCH_ROWS", "2048", "Stale rows embedded and committed per batch.", "embeddings", int
)

# Automation
SENSOR_INTERVAL_SECONDS = _setting(
    "INVEST_SENSOR_INTERVAL_SECONDS", "30", "How often the sensors tick.", "automation", int
)
SCHEDULE_TIMEZONE = _setting("INVEST_SCHEDULE_TIMEZONE", "UTC", "Time zone of every schedule's cron.", "automation")
DELTA_SYNC_CRON = _setting("INVEST_DELTA_SYNC_CRON", "*/15 * * * *", "`delta_sync_schedule`'s cron.", "automation")
RECONCILE_CRON = _setting("INVEST_RECONCILE_CRON", "0 3 * * *", "`full_reconcile_schedule`'s cron.", "automation")
RETENTION_CRON = _setting("INVEST_RETENTION_CRON", "30 4 * * *", "`runs_retention_schedule`'s cron.", "automation")

# The read path
ANN_DIMENSIONS = _setting(
    "INVEST_ANN_DIMENSIONS",
    "sector",
    "Candidate dimensions, comma separated: the ones that get an ANN index.",
    "search",
)
ANN_METHOD = _setting(
    "INVEST_ANN_METHOD",
    "auto",
    "The ANN index built: `auto` (ScaNN where `alloydb_scann` exists, HNSW otherwise), `hnsw`, or `ivfflat`"
    " (pgvector's IVFFlat, built once the vectors are there; it never strands a query in another cluster,"
    " docs/benchmarks.md#the-candidate-index-on-clustered-vectors).",
    "search",
    _choice("auto", "hnsw", "ivfflat"),
)
IVFFLAT_PROBES = _setting(
    "INVEST_IVFFLAT_PROBES", "10", "`ivfflat.probes` of the index path (an `ivfflat` index).", "search", int
)
HNSW_EF_SEARCH = _setting("INVEST_HNSW_EF_SEARCH", "100", "`hnsw.ef_search` of the index path.", "search", int)
HNSW_ITERATIVE_SCAN = _setting(
    "INVEST_HNSW_ITERATIVE_SCAN",
    "strict_order",
    "`hnsw.iterative_scan` of the index path.",
    "search",
    _choice("strict_order", "relaxed_order", "off"),
)
QUERY_TIMEOUT_MS = _setting(
    "INVEST_QUERY_TIMEOUT_MS",
    "5000",
    "Every statement of a find_investors call is cancelled after this.",
    "search",
    int,
)
RECALL_THRESHOLD = _setting(
    "INVEST_RECALL_THRESHOLD", "0.95", "`candidate_recall` fails below this mean recall@25.", "search", float
)
RUNS_RETENTION_DAYS = _setting(
    "INVEST_RUNS_RETENTION_DAYS",
    "90",
    "`runs_retention` deletes query runs older than this (runs with feedback are kept).",
    "search",
    int,
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


def home_dir() -> Path:
    """The platform's local state: embedded database, generated sample data."""
    return Path(ASSETS_HOME.value()).expanduser().resolve()


def migrations_dir() -> Path:
    return Path(MIGRATIONS_DIR.value() or PROJECT_ROOT / "migrations").resolve()


def source_kind() -> str:
    """The UI's kind badge for where the core tables come from."""
    return "bigquery" if SOURCE.raw() == "bigquery" else "csv"


def embedder_kind() -> str:
    """The UI's kind badge for what makes the vectors."""
    return "openai" if EMBEDDER.raw() == "openai" else "numpy"


def effective() -> list[tuple[Setting, str, str]]:
    """Each setting with the value in effect (secrets masked) and where it came from."""
    return [(s, s.shown(), "environment" if s.is_set() else "default") for s in SETTINGS]


def markdown_table() -> str:
    """The settings table of ``docs/settings.md``."""
    lines = []
    for group in dict.fromkeys(s.group for s in SETTINGS):
        lines += ["", f"## {group}", "", "| variable | default | meaning |", "|---|---|---|"]
        for s in (s for s in SETTINGS if s.group == group):
            default = f"`{s.default}`" if s.default is not None else "unset"
            choices = getattr(s.parse, "choices", ())
            meaning = s.meaning + (f" One of {', '.join(f'`{c}`' for c in choices)}." if choices else "")
            lines.append(f"| `{s.name}` | {default} | {meaning}{' Secret: shown masked.' if s.mask else ''} |")
    return "\n".join(lines).strip() + "\n"
