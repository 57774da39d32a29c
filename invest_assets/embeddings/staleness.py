"""Which stored vectors no longer match their text or the serving model, set-based.

A row's vector for a target (an investor dimension, or the company description) is stale
when the hash of its current text differs from the hash of the text the vector was made
from (text changed, added or blanked), or when it has text and its vector came from
another model.

The sensor counts stale rows every tick, so the count must cost what is stale, not the
table: each target has a partial index holding exactly its stale live rows against its
serving model (``ensure_stale_index``; the model id is a literal in the index predicate,
so the index is rebuilt when the serving model changes). The count states the same
predicate with the same literal, so the planner reads only that index.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from invest_assets.vectors.targets import TARGETS, target


def _stale(key: str, model: sql.Composable) -> sql.Composable:
    return sql.SQL(
        "({text_hash} IS DISTINCT FROM {embedded_hash}"
        " OR ({text_hash} IS NOT NULL AND {model_id} IS DISTINCT FROM {model}))"
    ).format(model=model, **target(key).columns())


def stale_condition(key: str, model_param: str = "model_id") -> sql.Composable:
    """SQL condition (on the target's table) for a stale vector of ``key``; takes
    %(<model_param>)s, the target's serving model id."""
    return _stale(key, sql.Placeholder(model_param))


def live_and_stale(key: str, model_id: int | None) -> sql.Composable:
    """The stale index's predicate, and the count's condition: the same text, so the planner matches them."""
    return sql.SQL("deleted_at IS NULL AND {}").format(_stale(key, sql.Literal(model_id)))


def _stale_index_prefix(key: str) -> str:
    return f"{target(key).table}_{target(key).prefix}_stale_m"


def ensure_stale_index(conn: psycopg.Connection, key: str, model_id: int) -> str:
    """Make ``key``'s stale index the one for serving model ``model_id`` (dropping one for another
    model); returns what happened. Runs in the caller's transaction."""
    embedded, prefix = target(key), _stale_index_prefix(key)
    existing = [
        name
        for (name,) in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND starts_with(indexname, %s)",
            (embedded.table, prefix),
        )
    ]
    wanted = f"{prefix}{model_id}"
    for name in existing:
        if name != wanted:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    if wanted in existing:
        return "present"
    conn.execute(
        sql.SQL("CREATE INDEX {} ON {} (id) WHERE {}").format(
            sql.Identifier(wanted), embedded.table_id, live_and_stale(key, model_id)
        )
    )
    return "built"


def stale_counts(conn: psycopg.Connection, model_ids: dict[str, int]) -> dict[str, int]:
    """Stale live rows per target against each one's serving model (absent: none yet, so
    every row with text is stale), in one statement: one count per target, each over its
    stale index when the serving model has one, so the cost follows what is stale."""
    counts = sql.SQL(", ").join(
        sql.SQL("(SELECT count(*) FROM {} WHERE {})").format(embedded.table_id, live_and_stale(key, model_ids.get(key)))
        for key, embedded in TARGETS.items()
    )
    row = conn.execute(sql.SQL("SELECT {}").format(counts)).fetchone()
    return dict(zip(TARGETS, row, strict=True))
