"""The source contract: the columns of the four source tables and how each is typed.

Every source (local CSV/Parquet files, BigQuery, Crunchbase exports converted to the
local layout) yields rows with these columns; validation types them with these specs
and the loader writes them with them. The column tables of docs/sources.md are this module
(tests/test_readme.py keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass

# Value kinds a source column can have, and the PostgreSQL type each is staged as.
PG_TYPES = {
    "text": "text",
    "int": "int4",
    "usd": "int8",
    "date": "date",
    "timestamp": "timestamptz",
    "bool": "bool",
    "list": "text[]",
}

# A btree or GIN index entry must fit a third of a page (about 2,700 bytes); 500 characters of
# up to 4 UTF-8 bytes each always do. Longer values are quarantined as out_of_range.
INDEXED_MAX_CHARS = 500

DIMENSIONS = ("sector", "stage", "check", "geography", "signal", "founder")


def dimension_column(dimension: str, suffix: str) -> str:
    """The one place a per-dimension column name is made: ``<dimension>_<suffix>`` (``sector_text``,
    ``signal_embedding``, ...). ``vectors.targets`` builds every embedding column, asset and job name on it."""
    return f"{dimension}_{suffix}"


COMPANY_STATUSES = frozenset({"active", "acquired", "shutdown", "ipo"})
INVESTOR_KINDS = frozenset({"person", "firm"})
DOCUMENT_KINDS = frozenset({"web", "deck", "manual", "news"})


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    description: str
    required: bool = False
    choices: frozenset[str] | None = None
    iso_countries: bool = False  # list of ISO-3166 alpha-2 codes
    indexed: bool = False  # stored in a btree or GIN index: each value (list item) at most INDEXED_MAX_CHARS
    default: bool | None = None  # stored when the cell is empty (the table column is NOT NULL)

    @property
    def pg_type(self) -> str:
        return PG_TYPES[self.kind]


@dataclass(frozen=True)
class Reference:
    """A source column naming another table's source_id, stored as that row's id."""

    source_column: str
    table: str
    target_column: str
    required: bool


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[Column, ...]
    # The source columns whose values, joined by "|", make the row's source_id.
    key_columns: tuple[str, ...] = ("source_id",)
    references: tuple[Reference, ...] = ()
    # A source may leave an optional table out (no file, no BigQuery table): it reads as empty.
    optional: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def reference_columns(self) -> frozenset[str]:
        return frozenset(r.source_column for r in self.references)

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """Columns copied as they are into the table (not source_id, references, or updated_at)."""
        skip = self.reference_columns | {"source_id", "updated_at"}
        return tuple(c for c in self.columns if c.name not in skip)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, kind: str, description: str, **kw) -> Column:
    return Column(name, kind, description, **kw)


UPDATED_AT = _c("updated_at", "timestamp", "When the source last changed the row (delta-sync watermark).")

COMPANIES = SourceTable(
    name="companies",
    columns=(
        _c("source_id", "text", "Stable external key.", required=True, indexed=True),
        _c("name", "text", "Company name.", required=True),
        _c("domain", "text", "Website domain."),
        _c("hq_country", "text", "Headquarters country.", indexed=True),
        _c("hq_region", "text", "Headquarters region or state."),
        _c("hq_city", "text", "Headquarters city."),
        _c("founded_year", "int", "Year founded."),
        _c("primary_sector", "text", "Main sector."),
        _c("sectors", "list", "All sectors, JSON array.", indexed=True),
        _c("status", "text", "active, acquired, shutdown or ipo.", choices=COMPANY_STATUSES),
        _c("description", "text", "Free-text description."),
        UPDATED_AT,
    ),
)

FUNDING_ROUNDS = SourceTable(
    name="funding_rounds",
    columns=(
        _c("source_id", "text", "Stable external key.", required=True, indexed=True),
        _c("company_source_id", "text", "The company's source_id.", required=True, indexed=True),
        _c("round_type", "text", "pre_seed, seed, series_a, ..."),
        _c("announced_at", "date", "Announcement date (partitions by its month)."),
        _c("amount_usd", "usd", "Round size in USD."),
        _c("lead_investor_source_id", "text", "The lead investor's source_id.", indexed=True),
        UPDATED_AT,
    ),
    references=(
        Reference("company_source_id", "companies", "company_id", required=True),
        Reference("lead_investor_source_id", "investors", "lead_investor_id", required=False),
    ),
)

INVESTMENTS = SourceTable(
    name="investments",
    columns=(
        _c("funding_round_source_id", "text", "The round's source_id.", required=True, indexed=True),
        _c("investor_source_id", "text", "The investor's source_id.", required=True, indexed=True),
        _c("is_lead", "bool", "Whether this investor led the round (empty means false).", default=False),
        _c("amount_usd", "usd", "This investor's part of the round in USD."),
        UPDATED_AT,
    ),
    key_columns=("funding_round_source_id", "investor_source_id"),
    references=(
        Reference("funding_round_source_id", "funding_rounds", "funding_round_id", required=True),
        Reference("investor_source_id", "investors", "investor_id", required=True),
    ),
)

INVESTORS = SourceTable(
    name="investors",
    columns=(
        _c("source_id", "text", "Stable external key.", required=True, indexed=True),
        _c("name", "text", "Person or firm name.", required=True),
        _c("kind", "text", "person or firm.", required=True, choices=INVESTOR_KINDS),
        _c("firm_source_id", "text", "For a person, their firm's source_id.", indexed=True),
        _c("linkedin_url", "text", "LinkedIn URL."),
        _c("twitter_handle", "text", "Twitter handle."),
        _c("domain", "text", "Firm website domain."),
        _c("active", "bool", "Still investing (empty means true).", default=True),
        _c("check_size_min_usd", "usd", "Smallest check in USD."),
        _c("check_size_max_usd", "usd", "Largest check in USD."),
        _c("preferred_stages", "list", "Stages, JSON array.", indexed=True),
        _c("focus_sectors", "list", "Sectors, JSON array.", indexed=True),
        _c("geographies", "list", "ISO-3166 alpha-2 codes, JSON array.", iso_countries=True, indexed=True),
        _c("is_lead_capable", "bool", "Stated lead capability (empty: derived from leads)."),
        _c("thesis_summary", "text", "Human-readable thesis shown in the UI."),
        _c("thesis_summary_long", "text", "Raw text the thesis was extracted from."),
        _c("thesis_source", "text", "web, deck or manual."),
        _c("thesis_model", "text", "Model that extracted the thesis."),
        *(
            _c(
                dimension_column(d, "text"),
                "text",
                f"Source text of the {d} dimension (embedded into {dimension_column(d, 'embedding')}).",
            )
            for d in DIMENSIONS
        ),
        UPDATED_AT,
    ),
    references=(Reference("firm_source_id", "investors", "firm_id", required=False),),
)

INVESTOR_DOCUMENTS = SourceTable(
    name="investor_documents",
    columns=(
        _c("investor_source_id", "text", "The investor's source_id.", required=True, indexed=True),
        _c("kind", "text", "web, deck, manual or news.", required=True, choices=DOCUMENT_KINDS),
        _c("url", "text", "Where the text was read (with kind, the document's key).", required=True, indexed=True),
        _c(
            "text",
            "text",
            "What the investor publishes there, as plain text (the thesis is extracted from it).",
            required=True,
        ),
        UPDATED_AT,
    ),
    key_columns=("investor_source_id", "kind", "url"),
    references=(Reference("investor_source_id", "investors", "investor_id", required=True),),
    optional=True,
)

# Load order follows the foreign keys.
TABLES: dict[str, SourceTable] = {
    t.name: t for t in (COMPANIES, INVESTORS, FUNDING_ROUNDS, INVESTMENTS, INVESTOR_DOCUMENTS)
}

# What the source says about an investor's profile: stored as ``<column>_stated`` beside the
# extracted ``<column>_extracted`` and the graph-derived ``<column>_derived``; the table's
# ``<column>`` serves the stated value when there is one, else the extracted, else the derived
# (migrations 0040 and 0044).
PROFILE_COLUMNS = (
    *(dimension_column(d, "text") for d in DIMENSIONS),
    "focus_sectors",
    "preferred_stages",
    "geographies",
    "check_size_min_usd",
    "check_size_max_usd",
)

# Source columns that land in a differently named table column.
RENAMED_COLUMNS = {
    **{("investors", column): f"{column}_stated" for column in PROFILE_COLUMNS},
    ("investors", "is_lead_capable"): "is_lead_capable_stated",
    ("companies", "updated_at"): "source_updated_at",
    ("funding_rounds", "updated_at"): "source_updated_at",
    ("investments", "updated_at"): "source_updated_at",
    ("investors", "updated_at"): "source_updated_at",
    ("investor_documents", "updated_at"): "source_updated_at",
}


def target_column(table: str, column: str) -> str:
    return RENAMED_COLUMNS.get((table, column), column)
