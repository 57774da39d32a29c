"""The candidate index over each investor dimension's distinct vectors (migration 0052 says why).

``investor_<dim>_vectors`` holds one row per (model, text hash) that a live investor's vector has; the
ANN index is built on it, and a query walks it in distance order, joining the investors whose vector it
is through ``investors_<dim>_by_vector``. Only a dimension with an ANN index keeps its table filled and in
step (``indexes.has_ann_index``); the others' stay empty.

It is kept in step with the investors table two ways:

* **with each write** (``track_written``): a batch's new vectors are added to it and the vectors its
  rows replaced are removed once no live investor has them, in the batch's transaction, so it costs
  what the batch wrote;
* **rebuilt and swapped** (``fill_next`` then ``swap_in``) after a write of most rows, a model switch or
  a storage change: the next table is filled from investors and indexed beside the serving one, then
  renamed into its place in one short transaction, so readers always have an index. A killed rebuild
  leaves only ``<table>_next``, which the next rebuild drops first.

Deleted investors' vectors are left until the next rebuild: the join skips them, so they cost only a
slot in the walk.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from invest_assets.vectors.targets import target


def has_distinct_table(key: str) -> bool:
    """Whether ``key``'s candidate index is over distinct vectors: the investor dimensions (a company's
    description is its own)."""
    return target(key).table == "investors"


def vectors_table(key: str, suffix: str = "") -> str:
    return f"investor_{target(key).prefix}_vectors{suffix}"


def ann_location(key: str) -> tuple[str, str]:
    """The table and column that ``key``'s ANN index is built on."""
    if has_distinct_table(key):
        return vectors_table(key), "embedding"
    return target(key).table, target(key).column_name("embedding")


def ann_index_name(key: str, suffix: str = "") -> str:
    """``key``'s ANN index (``suffix``: the one built beside it, on the twin table of its distinct vectors)."""
    table, _ = ann_location(key)
    return f"{table}{suffix}_ann" if has_distinct_table(key) else f"{table}_{target(key).prefix}{suffix}_ann"


def by_vector_index(key: str) -> str:
    """The btree by which the walk finds the investors of a distinct vector."""
    return f"investors_{target(key).prefix}_by_vector"


def walk(key: str, model: sql.Composable, query: sql.Composable, where: sql.Composable) -> sql.Composed:
    """Investors (``investors``, columns ``id`` and ``distance``) in ``key``'s distance order from ``query``,
    under ``where`` (on investors), by the walk of the distinct vectors of ``model``; no LIMIT."""
    columns = target(key).columns()
    return sql.SQL(
        "SELECT investors.id, d.embedding <=> {query} AS distance FROM {table} d"
        " JOIN investors ON investors.{hash} = d.text_hash AND investors.{model_id} = d.model_id"
        " WHERE d.model_id = {model} AND {where} ORDER BY d.embedding <=> {query}"
    ).format(
        query=query,
        table=sql.Identifier(vectors_table(key)),
        hash=columns["embedded_hash"],
        model_id=columns["model_id"],
        model=model,
        where=where,
    )


def track_written(conn: psycopg.Connection | psycopg.Cursor, key: str, model_id: int, update: sql.Composable):
    """Run ``update`` (writing the temp table ``embedded``'s vectors into investors) with the distinct
    vectors kept in step; returns its row count."""
    columns, table = target(key).columns(), sql.Identifier(vectors_table(key))
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE replaced ON COMMIT DROP AS"
            " SELECT DISTINCT i.{hash} AS text_hash, i.{model_id} AS model_id"
            " FROM investors i JOIN embedded e ON e.id = i.id WHERE i.{hash} IS NOT NULL"
        ).format(hash=columns["embedded_hash"], model_id=columns["model_id"])
    )
    written = conn.execute(update, {"model_id": model_id}).rowcount
    conn.execute(
        sql.SQL(
            "INSERT INTO {table} (model_id, text_hash, embedding)"
            " SELECT DISTINCT ON (e.text_hash) i.{model_id}, e.text_hash, e.embedding FROM embedded e"
            " JOIN investors i ON i.id = e.id AND i.{hash} = e.text_hash AND i.{model_id} = %s"
            " ORDER BY e.text_hash ON CONFLICT DO NOTHING"
        ).format(table=table, hash=columns["embedded_hash"], model_id=columns["model_id"]),
        (model_id,),
    )  # only what landed: a row whose text changed meanwhile kept its old vector
    conn.execute(
        sql.SQL(
            "DELETE FROM {table} d USING replaced r WHERE d.model_id = r.model_id AND d.text_hash = r.text_hash"
            " AND NOT EXISTS (SELECT 1 FROM investors i WHERE i.{hash} = d.text_hash AND i.{model_id} = d.model_id"
            " AND i.deleted_at IS NULL)"
        ).format(table=table, hash=columns["embedded_hash"], model_id=columns["model_id"])
    )
    return written


def fill_next(conn: psycopg.Connection, key: str) -> int:
    """``<table>_next``, dropping a killed rebuild's leftover: the table's layout, its vector column of the
    investors column's type (a storage change or a model of another size retypes it), and one row per
    distinct vector of a live investor; returns how many."""
    columns, current, following = target(key).columns(), vectors_table(key), vectors_table(key, "_next")
    column_type = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 'investors'::regclass AND attname = %s",
        (target(key).column_name("embedding"),),
    ).fetchone()[0]
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(following)))
    conn.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
            sql.Identifier(following), sql.Identifier(current)
        )
    )
    conn.execute(
        sql.SQL("ALTER TABLE {} ALTER COLUMN embedding TYPE {}").format(sql.Identifier(following), sql.SQL(column_type))
    )
    rows = conn.execute(
        sql.SQL(
            "INSERT INTO {following} (model_id, text_hash, embedding) SELECT DISTINCT ON ({model_id}, {hash})"
            " {model_id}, {hash}, {embedding} FROM investors WHERE {embedding} IS NOT NULL AND deleted_at IS NULL"
            " ORDER BY {model_id}, {hash}"
        ).format(
            following=sql.Identifier(following),
            model_id=columns["model_id"],
            hash=columns["embedded_hash"],
            embedding=columns["embedding"],
        )
    ).rowcount
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (model_id, text_hash)").format(
            sql.Identifier(following), sql.Identifier(f"{following}_pkey")
        )
    )
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON investors ({}, {})").format(
            sql.Identifier(by_vector_index(key)), columns["embedded_hash"], columns["model_id"]
        )
    )
    return rows


def swap_in(conn: psycopg.Connection, key: str) -> None:
    """Put ``<table>_next`` (and its ANN index, if built) in the serving table's place, in the caller's
    transaction: the drop waits for queries reading the old table, and holds new ones only until commit."""
    current, following = vectors_table(key), vectors_table(key, "_next")
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(current)))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(following), sql.Identifier(current)))
    conn.execute(
        sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            sql.Identifier(current), sql.Identifier(f"{following}_pkey"), sql.Identifier(f"{current}_pkey")
        )
    )
    conn.execute(
        sql.SQL("ALTER INDEX IF EXISTS {} RENAME TO {}").format(
            sql.Identifier(ann_index_name(key, "_next")), sql.Identifier(ann_index_name(key))
        )
    )


def empty(conn: psycopg.Connection, key: str) -> None:
    """Drop ``key``'s ANN index and its distinct vectors (no longer a candidate dimension)."""
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(ann_index_name(key))))
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(vectors_table(key))))
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(by_vector_index(key))))
