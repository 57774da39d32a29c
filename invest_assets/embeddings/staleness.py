"""Which stored vectors no longer match their text or the configured model, set-based.

A row's vector for a target (an investor dimension, or the company description) is stale
when the hash of its current text differs from the hash of the text the vector was made
from (text changed, added or blanked), or when it has text and its vector came from
another model.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from invest_assets.vectors.targets import COMPANY_DESCRIPTION, INVESTOR_TARGETS, TARGETS, target


def stale_condition(key: str, model_param: str = "model_id") -> sql.Composable:
    """SQL condition (on the target's table) for a stale vector of ``key``; takes
    %(<model_param>)s, the target's serving model id."""
    cols = target(key).columns()
    return sql.SQL(
        "({text_hash} IS DISTINCT FROM {embedded_hash}"
        " OR ({text_hash} IS NOT NULL AND {model_id} IS DISTINCT FROM {param}))"
    ).format(param=sql.Placeholder(model_param), **cols)


def _count(key: str) -> sql.Composable:
    return sql.SQL("count(*) FILTER (WHERE {})").format(stale_condition(key, f"model_{key}"))


def stale_counts(conn: psycopg.Connection, model_ids: dict[str, int]) -> dict[str, int]:
    """Stale live rows per target against each one's serving model (absent: none yet, so
    every row with text is stale): one statement, one scan of each table."""
    statement = sql.SQL(
        "SELECT {investor_counts}, (SELECT {company_count} FROM companies WHERE deleted_at IS NULL)"
        " FROM investors WHERE deleted_at IS NULL"
    ).format(
        investor_counts=sql.SQL(", ").join(_count(k) for k in INVESTOR_TARGETS),
        company_count=_count(COMPANY_DESCRIPTION.key),
    )
    row = conn.execute(statement, {f"model_{k}": model_ids.get(k) for k in TARGETS}).fetchone()
    return dict(zip([*INVESTOR_TARGETS, COMPANY_DESCRIPTION.key], row, strict=True))
