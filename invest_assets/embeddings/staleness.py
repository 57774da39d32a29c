"""Which stored vectors no longer match their text or the configured model, set-based.

A row's vector for dimension ``d`` is stale when the hash of its current text differs
from the hash of the text the vector was made from (text changed, added or blanked),
or when it has text and its vector came from another model.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from invest_assets.sources.schema import DIMENSIONS


def stale_condition(dimension: str, model_param: str = "model_id") -> sql.Composable:
    """SQL condition (on ``investors``) for a stale ``dimension``; takes %(<model_param>)s,
    the dimension's serving model id."""
    return sql.SQL(
        "({text_hash} IS DISTINCT FROM {embedded_hash}"
        " OR ({text_hash} IS NOT NULL AND {model_id} IS DISTINCT FROM {param}))"
    ).format(
        text_hash=sql.Identifier(f"{dimension}_text_hash"),
        embedded_hash=sql.Identifier(f"{dimension}_embedded_hash"),
        model_id=sql.Identifier(f"{dimension}_model_id"),
        param=sql.Placeholder(model_param),
    )


def stale_counts(conn: psycopg.Connection, model_ids: dict[str, int]) -> dict[str, int]:
    """Stale live rows per dimension against each one's serving model (absent: none yet,
    so every row with text is stale), in one scan of investors."""
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE {})").format(stale_condition(d, f"model_{d}")) for d in DIMENSIONS
    )
    params = {f"model_{d}": model_ids.get(d) for d in DIMENSIONS}
    row = conn.execute(sql.SQL("SELECT {} FROM investors WHERE deleted_at IS NULL").format(counts), params).fetchone()
    return dict(zip(DIMENSIONS, row, strict=True))
