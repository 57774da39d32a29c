"""What can be embedded: a text column of a table and its vector, content hash and provenance.

The six investor dimensions (``investors.<dim>_text`` → ``<dim>_embedding``) and the
company description (``companies.description_text`` → ``description_embedding``) share one
column layout, ``<prefix>_{text, text_hash, embedding, embedded_hash, model_id,
embedded_at}``, so the incremental embedding, the staleness query, the checks and the ANN
index policy are written once. ``key`` names the target in ``serving_embedding_models``,
in locks and in run tags; its asset is ``<key>_embedding``.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from invest_assets.sources.schema import DIMENSIONS, dimension_column


@dataclass(frozen=True)
class EmbeddingTarget:
    key: str
    table: str
    prefix: str
    entity: str  # what a row is, for messages and metadata
    checked_rows: str  # the rows the vectors check expects a vector for

    @property
    def asset_name(self) -> str:
        return dimension_column(self.key, "embedding")

    @property
    def reembedding_asset_name(self) -> str:
        return dimension_column(self.key, "reembedding")

    @property
    def reembed_job_name(self) -> str:
        return f"reembed_{self.key}"

    @property
    def table_id(self) -> sql.Identifier:
        return sql.Identifier(self.table)

    def column_name(self, suffix: str) -> str:
        return dimension_column(self.prefix, suffix)

    def column(self, suffix: str) -> sql.Identifier:
        return sql.Identifier(self.column_name(suffix))

    def columns(self) -> dict[str, sql.Identifier]:
        """The layout's columns, by suffix, for ``sql.SQL.format(**...)``."""
        suffixes = ("text", "text_hash", "embedding", "embedded_hash", "model_id", "embedded_at")
        return {suffix: self.column(suffix) for suffix in suffixes}


INVESTOR_TARGETS = {
    d: EmbeddingTarget(d, "investors", d, "investor", "deleted_at IS NULL AND active") for d in DIMENSIONS
}
COMPANY_DESCRIPTION = EmbeddingTarget(
    "company_description", "companies", "description", "company", "deleted_at IS NULL"
)
TARGETS = {**INVESTOR_TARGETS, COMPANY_DESCRIPTION.key: COMPANY_DESCRIPTION}


def embedding_lock_key(key: str) -> str:
    """The advisory lock that serializes everything writing ``key``'s vectors."""
    return f"invest_assets.embed.{key}"


def target(key: str) -> EmbeddingTarget:
    try:
        return TARGETS[key]
    except KeyError:
        raise ValueError(f"unknown embedding target {key!r}; choose from {sorted(TARGETS)}") from None
