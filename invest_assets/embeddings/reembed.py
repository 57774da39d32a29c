"""Re-embedding a whole dimension with a new model or ``dimensions``, as a resumable backfill.

``<dim>_reembedding`` is partitioned into ``SHARD_COUNT`` fixed shards of the investors (a
stable hash of the id), so a failed shard is retried alone and shards run in parallel.
A shard embeds its live investors' text with the *configured* embedder into
``embedding_shadow``, skipping rows already there for the same text and model, so a
rerun continues where it stopped. Meanwhile the ``investors`` columns keep serving the
current model, and ``find_investors``, the sensor and the incremental asset go on using
it (``models``).

When a shard finds every shard done, it switches, in one transaction under the
dimension's embedding lock: the shadow vectors replace the served ones (if the size
changed, the column is retyped and its ANN index rebuilt), the serving model becomes
the new one, and the shadow rows go. Readers see the old model or the new one, never
both. A row whose text changed during the backfill has no current shadow vector, so the
switch waits for its shard to be run again.
"""

import psycopg
from pgvector import Vector
from psycopg import sql

from invest_assets.embeddings.batches import BatchTarget, embed_by_batches
from invest_assets.embeddings.incremental import BATCH_ROWS
from invest_assets.embeddings.partitions import SHARD_COUNT
from invest_assets.embeddings.staleness import ensure_stale_index
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.usage import record_embedding
from invest_assets.vectors.indexes import refresh_ann_index
from invest_assets.vectors.targets import INVESTOR_TARGETS, embedding_lock_key

# hashint8 is PostgreSQL's own stable hash of a bigint; shifted to be non-negative.
SHARD_OF_ID = sql.SQL("mod(hashint8(i.id)::bigint + 2147483648, {})").format(sql.Literal(SHARD_COUNT))


def _missing_from_shadow(dimension: str, target_id: int) -> sql.Composable:
    """Live investors (aliased ``i``) with text but no shadow vector of their current text."""
    text_hash = INVESTOR_TARGETS[dimension].column("text_hash")
    return sql.SQL(
        "i.deleted_at IS NULL AND i.{h} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM embedding_shadow s"
        " WHERE s.dimension = {d} AND s.investor_id = i.id AND s.model_id = {m} AND s.text_hash = i.{h})"
    ).format(h=text_hash, d=sql.Literal(dimension), m=sql.Literal(target_id))


def _write_shadow(conn: psycopg.Connection, dimension: str, target_id: int, ids, hashes, vectors) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE shadow_batch (investor_id bigint, text_hash bytea, embedding vector) ON COMMIT DROP"
        )
        with cur.copy("COPY shadow_batch FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "bytea", "vector"])
            for row in zip(ids, hashes, (Vector(v) for v in vectors), strict=True):
                copy.write_row(row)
        cur.execute(
            """
            INSERT INTO embedding_shadow (dimension, investor_id, model_id, text_hash, embedding, embedded_at)
            SELECT %(d)s, investor_id, %(m)s, text_hash, embedding, clock_timestamp() FROM shadow_batch
            ON CONFLICT (dimension, investor_id) DO UPDATE SET model_id = EXCLUDED.model_id,
              text_hash = EXCLUDED.text_hash, embedding = EXCLUDED.embedding, embedded_at = EXCLUDED.embedded_at
            """,
            {"d": dimension, "m": target_id},
        )


def embed_shard(
    conn, embedder: EmbedderResource, dimension: str, shard: int, target_id: int, batch_rows: int = BATCH_ROWS
) -> int:
    """Fill the shadow for one shard (through the Batch API when it is large and the model is OpenAI's);
    returns how many texts were embedded."""
    text, text_hash = INVESTOR_TARGETS[dimension].column("text"), INVESTOR_TARGETS[dimension].column("text_hash")
    missing = sql.SQL("FROM investors i WHERE {shard} = %(shard)s AND {missing}").format(
        shard=SHARD_OF_ID, missing=_missing_from_shadow(dimension, target_id)
    )
    query = sql.SQL("SELECT i.id, i.{t}, i.{h} {missing} AND i.id > %(after)s ORDER BY i.id LIMIT %(limit)s").format(
        t=text, h=text_hash, missing=missing
    )

    def read(after: int, limit: int) -> list:
        return conn.execute(query, {"shard": shard, "after": after, "limit": limit}).fetchall()

    def write(ids, hashes, vectors) -> int:
        _write_shadow(conn, dimension, target_id, ids, hashes, vectors)
        return len(ids)

    def waiting() -> int:
        return conn.execute(sql.SQL("SELECT count(*) {}").format(missing), {"shard": shard}).fetchone()[0]

    shard_target = BatchTarget(f"{dimension}/shadow {target_id}/shard {shard}", waiting, read, write)
    embedded, after = embed_by_batches(conn, embedder, shard_target, batch_rows).embedded, 0
    while rows := read(after, batch_rows):
        conn.commit()  # no transaction held open while the embedding service works
        ids, texts, hashes = zip(*rows, strict=True)
        batch = embedder.embed(list(texts))
        with conn.transaction():  # the vectors and what they cost, together
            embedded += write(ids, hashes, batch.vectors)
            record_embedding(conn, embedder, batch, "embedding")
        after = ids[-1]
    return embedded


def shards_left(conn: psycopg.Connection, dimension: str, target_id: int) -> list[int]:
    return [
        row[0]
        for row in conn.execute(
            sql.SQL("SELECT DISTINCT {} FROM investors i WHERE {} ORDER BY 1").format(
                SHARD_OF_ID, _missing_from_shadow(dimension, target_id)
            )
        )
    ]


def _column_size(conn: psycopg.Connection, dimension: str) -> int:
    return conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'investors'::regclass AND attname = %s",
        (INVESTOR_TARGETS[dimension].column_name("embedding"),),
    ).fetchone()[0]


def _retype_column(conn: psycopg.Connection, dimension: str, size: int) -> list[str]:
    """Empty the column, drop its ANN indexes and retype it; returns the dropped indexes' DDL."""
    columns = INVESTOR_TARGETS[dimension].columns()
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'investors' AND indexdef LIKE %s",
        (f"%({INVESTOR_TARGETS[dimension].column_name('embedding')} %",),
    ).fetchall()
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    conn.execute(
        sql.SQL(
            "UPDATE investors SET {embedding} = NULL, {embedded_hash} = NULL, {model_id} = NULL,"
            " {embedded_at} = NULL WHERE {embedding} IS NOT NULL"
        ).format(**columns)
    )
    conn.execute(
        sql.SQL("ALTER TABLE investors ALTER COLUMN {} TYPE vector({})").format(columns["embedding"], sql.Literal(size))
    )
    return [definition for _, definition in indexes]


def switch_if_complete(conn: psycopg.Connection, dimension: str, target_id: int, size: int) -> bool:
    """Serve the shadow's model for ``dimension`` if every live row with text has its vector."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (embedding_lock_key(dimension),))
        if shards_left(conn, dimension, target_id):
            return False
        rebuild = _retype_column(conn, dimension, size) if _column_size(conn, dimension) != size else []
        conn.execute(
            sql.SQL(
                "UPDATE investors i SET {embedding} = s.embedding, {embedded_hash} = s.text_hash,"
                " {model_id} = s.model_id, {embedded_at} = s.embedded_at FROM embedding_shadow s"
                " WHERE s.dimension = %(d)s AND s.investor_id = i.id AND s.model_id = %(m)s"
                " AND s.text_hash = i.{text_hash}"
            ).format(**INVESTOR_TARGETS[dimension].columns()),
            {"d": dimension, "m": target_id},
        )
        for definition in rebuild:
            conn.execute(definition)
        refresh_ann_index(conn, dimension, commit=False)  # the distinct vectors of the new model
        conn.execute(
            "UPDATE serving_embedding_models SET model_id = %s, since = now() WHERE dimension = %s",
            (target_id, dimension),
        )
        ensure_stale_index(conn, dimension, target_id)
        conn.execute("DELETE FROM embedding_shadow WHERE dimension = %s", (dimension,))
    return True
