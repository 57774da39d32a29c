"""Reading a target's stale rows and writing their vectors: what the synchronous embedding runs
(``incremental``) and the Batch API runs (``batches``) share."""

import psycopg
from pgvector import Vector
from psycopg import sql

from invest_assets.embeddings.bulk import unstaged
from invest_assets.embeddings.staleness import live_and_stale
from invest_assets.vectors.distinct import has_distinct_table, track_written
from invest_assets.vectors.indexes import has_ann_index
from invest_assets.vectors.targets import target


def next_stale_batch(
    conn: psycopg.Connection, dimension: str, model_id: int, after_id: int, limit: int, unstaged_only: bool = False
):
    """The next stale rows with text, in id order: a range scan of the stale index; with ``unstaged_only``,
    those a bulk run has not staged yet (``bulk``)."""
    return conn.execute(
        sql.SQL(
            "SELECT id, {text}, {text_hash} FROM {table}"
            " WHERE {live_and_stale} AND {text_hash} IS NOT NULL AND id > %(after)s AND {unstaged}"
            " ORDER BY id LIMIT %(limit)s"
        ).format(
            live_and_stale=live_and_stale(dimension, model_id),
            unstaged=unstaged(dimension, model_id) if unstaged_only else sql.SQL("TRUE"),
            table=target(dimension).table_id,
            **target(dimension).columns(),
        ),
        {"after": after_id, "limit": limit},
    ).fetchall()


def write_vectors(conn: psycopg.Connection, dimension: str, model_id: int, ids, hashes, vectors) -> int:
    """One batch: binary COPY into staging, one UPDATE; vector, hash and provenance together."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE embedded (id bigint, text_hash bytea, embedding vector) ON COMMIT DROP")
        with cur.copy("COPY embedded (id, text_hash, embedding) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "bytea", "vector"])
            for row in zip(ids, hashes, (Vector(v) for v in vectors), strict=True):
                copy.write_row(row)
        update = sql.SQL(
            "UPDATE {table} i SET {embedding} = e.embedding, {embedded_hash} = e.text_hash,"
            " {model_id} = %(model_id)s, {embedded_at} = clock_timestamp()"
            " FROM embedded e WHERE i.id = e.id AND i.{text_hash} = e.text_hash"
        ).format(table=target(dimension).table_id, **target(dimension).columns())
        if has_distinct_table(dimension) and has_ann_index(cur, dimension):
            return track_written(cur, dimension, model_id, update)
        return cur.execute(update, {"model_id": model_id}).rowcount
