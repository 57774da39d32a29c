"""Bulk embedding runs: vectors staged first, then written together, then the ANN index built once.

A run that will rewrite most of a table's vectors (``incremental``) does not write them batch by batch:
each batch goes to ``embedding_stage`` (migration 0050), and the table is written once at the end. So,
while the run embeds (through OpenAI's rate limits or its Batch API at a million investors), the
table's columns and its ANN index keep serving the vectors it had; every row is rewritten once for all
the run's dimensions instead of once per dimension; and a killed run's staged vectors are picked up by
the next, which embeds only the rest. At the end the staged vectors whose text is still the row's land
(one UPDATE per range of ids, each committed), the emptied stage is truncated and the table vacuumed, and
the candidate indexes are rebuilt once over the new distinct vectors and swapped in (``vectors/distinct``),
so readers keep an index throughout.
"""

import psycopg
from pgvector import HalfVector, Vector
from psycopg import sql

from invest_assets.vectors.targets import target

STAGE = sql.Identifier("embedding_stage")
STAGE_LOCK_WAIT = "10s"  # longer than deadlock_timeout (1 s), after which an autovacuum in the way is cancelled
# Table ids per UPDATE of the final write: each range is committed, so a kill loses at most one range's work
# and a run at a million investors is not one transaction of tens of gigabytes.
APPLY_IDS = 50_000
# The stage stores vectors as the tables do (``invest-assets vector-storage`` converts it with them), so
# a halfvec database stages half the bytes: at a million investors, 18 GB instead of 37.
STAGED_AS = {"vector": Vector, "halfvec": HalfVector}


def unstaged(dimension: str, model_id: int) -> sql.Composable:
    """Rows of ``dimension``'s table (unaliased) without a staged vector of their current text and model."""
    embedded = target(dimension)
    return sql.SQL(
        "NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.target = {key} AND s.id = {table}.id"
        " AND s.model_id = {model_id} AND s.text_hash = {table}.{text_hash})"
    ).format(
        stage=STAGE,
        key=sql.Literal(dimension),
        table=embedded.table_id,
        model_id=sql.Literal(model_id),
        text_hash=embedded.column("text_hash"),
    )


def stage_storage(conn: psycopg.Connection | psycopg.Cursor) -> str:
    """The stage's vector type, ``vector`` or ``halfvec``: the type its binary COPY must write."""
    return conn.execute(
        "SELECT atttypid::regtype::text FROM pg_attribute"
        " WHERE attrelid = 'embedding_stage'::regclass AND attname = 'embedding'"
    ).fetchone()[0]


def stage_vectors(conn: psycopg.Connection, dimension: str, model_id: int, ids, hashes, vectors) -> int:
    """One batch into the stage (binary COPY, so in the stage's own vector type), replacing what an earlier
    run staged for the same rows; returns how many rows were staged."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM embedding_stage WHERE target = %s AND id = ANY(%s)", (dimension, list(ids)))
        storage = stage_storage(cur)
        with cur.copy(
            "COPY embedding_stage (target, id, model_id, text_hash, embedding) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "int8", "int4", "bytea", storage])
            value = STAGED_AS[storage]
            for row_id, text_hash, vector in zip(ids, hashes, vectors, strict=True):
                copy.write_row((dimension, row_id, model_id, text_hash, value(vector)))
    return len(ids)


def _apply_statement(dimensions: list[str]) -> sql.Composed:
    """One UPDATE of the table's rows with staged vectors in an id range (``lo``, ``hi``): each dimension's
    staged vector lands where its text is still the row's; returns one count per dimension of what landed."""
    joins, sets, landed = [], [], []
    for n, dimension in enumerate(dimensions):
        columns = target(dimension).columns()
        staged = sql.Identifier(f"s{n}")
        matches = sql.SQL("{}.text_hash = i.{}").format(staged, columns["text_hash"])
        joins.append(
            sql.SQL("LEFT JOIN {stage} {s} ON {s}.target = {key} AND {s}.id = staged.id").format(
                stage=STAGE, s=staged, key=sql.Literal(dimension)
            )
        )
        new = {"embedding": "embedding", "embedded_hash": "text_hash", "model_id": "model_id"}
        sets += [
            sql.SQL("{column} = CASE WHEN {matches} THEN {s}.{value} ELSE i.{column} END").format(
                column=columns[name], matches=matches, s=staged, value=sql.Identifier(value)
            )
            for name, value in new.items()
        ]
        sets.append(
            sql.SQL("{column} = CASE WHEN {matches} THEN clock_timestamp() ELSE i.{column} END").format(
                column=columns["embedded_at"], matches=matches
            )
        )
        landed.append(sql.SQL("{} AS {}").format(matches, sql.Identifier(f"landed{n}")))
    return sql.SQL(
        "WITH written AS (UPDATE {table} i SET {sets}"
        " FROM (SELECT DISTINCT id FROM {stage} WHERE target = ANY(%(dimensions)s)"
        " AND id BETWEEN %(lo)s AND %(hi)s) staged {joins}"
        " WHERE i.id = staged.id RETURNING {landed})"
        " SELECT {counts} FROM written"
    ).format(
        table=target(dimensions[0]).table_id,
        sets=sql.SQL(", ").join(sets),
        stage=STAGE,
        joins=sql.SQL(" ").join(joins),
        landed=sql.SQL(", ").join(landed),
        counts=sql.SQL(", ").join(
            sql.SQL("count(*) FILTER (WHERE {})").format(sql.Identifier(f"landed{n}")) for n in range(len(dimensions))
        ),
    )


def has_staged(conn: psycopg.Connection, dimensions: list[str]) -> bool:
    """Whether a killed bulk run left staged vectors of ``dimensions``: the next run stages and writes too."""
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM embedding_stage WHERE target = ANY(%s))", (dimensions,)
    ).fetchone()[0]


def apply_staged(conn: psycopg.Connection, dimensions: list[str]) -> dict[str, int]:
    """Write the staged vectors of ``dimensions`` (targets of one table) whose text is still the row's, one
    committed id range at a time, emptying the stage as it goes (a killed run's successor applies the
    rest); returns how many landed per dimension."""
    statement = _apply_statement(dimensions)
    landed = dict.fromkeys(dimensions, 0)
    first, last = conn.execute(
        "SELECT min(id), max(id) FROM embedding_stage WHERE target = ANY(%s)", (dimensions,)
    ).fetchone()
    conn.commit()  # so that each range below is its own transaction
    for lo in range(first or 0, (last or -1) + 1, APPLY_IDS):
        ids = {"dimensions": dimensions, "lo": lo, "hi": lo + APPLY_IDS - 1}
        with conn.transaction():
            counts = conn.execute(statement, ids).fetchone()
            conn.execute(
                "DELETE FROM embedding_stage WHERE target = ANY(%(dimensions)s) AND id BETWEEN %(lo)s AND %(hi)s", ids
            )
            landed = {d: landed[d] + count for d, count in zip(dimensions, counts, strict=True)}
    return landed


def vacuum_written(conn: psycopg.Connection, dimensions: list[str]) -> None:
    """VACUUM the table a bulk write rewrote, and ANALYZE the columns it wrote, before any ANN index of its
    own is built again (so only btrees are vacuumed). The write left a dead version of every row: until a vacuum marks
    the pages all-visible, counting a stale index means a heap visit per row, so the planner scans the table
    for the sensor's count instead (104 ms a tick at 20,000 investors just after a build, 1.8 ms after a
    1.6 s vacuum). Its TOAST, the old vectors of a re-embed, is left to autovacuum."""
    columns = [sql.Identifier("deleted_at")] + [
        target(d).column(name) for d in dimensions for name in ("text_hash", "embedded_hash", "model_id")
    ]
    conn.commit()
    conn.autocommit = True  # VACUUM runs outside a transaction; the run's locks are the session's
    try:
        conn.execute(
            sql.SQL("VACUUM (ANALYZE, PROCESS_TOAST FALSE) {} ({})").format(
                target(dimensions[0]).table_id, sql.SQL(", ").join(columns)
            )
        )
    finally:
        conn.autocommit = False


def release_stage(conn: psycopg.Connection) -> bool:
    """Truncate the stage once no run has rows in it: the vectors it deleted keep their disk (in its TOAST
    table) until a vacuum, 4 GB at 100,000 investors and 22 GB at 1,000,000. Returns whether it was
    truncated. The lock is waited for, up to STAGE_LOCK_WAIT: an autovacuum of the stage, which its deletes
    set off, gives way to a lock waiting past deadlock_timeout (under NOWAIT the 1,000,000-investor build
    kept its 22 GB); another run's staging transaction ends, and its committed rows then keep the stage."""
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (STAGE_LOCK_WAIT,))
            conn.execute("LOCK TABLE embedding_stage IN ACCESS EXCLUSIVE MODE")
            if conn.execute("SELECT EXISTS (SELECT 1 FROM embedding_stage)").fetchone()[0]:
                return False
            conn.execute("TRUNCATE embedding_stage")
    except psycopg.errors.LockNotAvailable:
        return False
    return True
