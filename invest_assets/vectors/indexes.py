"""Which vector columns carry an ANN index: only the ones used for candidate generation.

find_investors takes candidates from one dimension and computes the other distances on
~50 rows, so an index on a rerank-only dimension costs writes and buys nothing.
``INVEST_ANN_DIMENSIONS`` (default ``sector``) lists the candidate dimensions;
``invest-assets index`` makes the database match: ScaNN where ``alloydb_scann`` exists
(AlloyDB), pgvector HNSW (cosine) otherwise, or what ``INVEST_ANN_METHOD`` names (``hnsw``,
``ivfflat``), and drops ANN indexes of other dimensions.
An investor dimension's index is built over its distinct vectors, in a table of their own
(``distinct``); the company description's on ``companies`` itself.

A ScaNN index is a k-means tree trained on the rows present when it is built, so AlloyDB
refuses to build one on an empty column: it is built in manual mode with ``num_leaves`` =
sqrt(rows) and the SQ8 quantizer (AlloyDB's production recommendation; the auto-tuned mode
is a preview feature), and deferred while a dimension has fewer than ``TRAINING_MIN_ROWS``
vectors. An IVFFlat index is trained the same way (``lists`` = sqrt(rows)) and deferred alike.
Until then find_investors scans that dimension exactly. Each embedding asset calls
``ensure_ann_index`` after its run, so a candidate dimension's index appears once it has
vectors, with no manual step, and a trained index is built again once its rows have doubled.
"""

from __future__ import annotations

import math

import psycopg
from psycopg import sql

from invest_assets import settings
from invest_assets.sources.schema import DIMENSIONS
from invest_assets.vectors import distinct
from invest_assets.vectors.distinct import ann_index_name, ann_location, has_distinct_table
from invest_assets.vectors.targets import TARGETS, embedding_lock_key, target

TRAINING_MIN_ROWS = 1_000  # before a ScaNN or IVFFlat index is built: both cluster the rows present
# A ScaNN or IVFFlat index is built again once its rows have grown to this multiple of those it was trained on.
RETRAIN_GROWTH = 2.0
# pgvector's HNSW build parameters (migration 0032 says why ef_construction is 128).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128


# The access method of a column's valid ANN index (NULL: none): the read path's probe, on the catalogs themselves
# (pg_indexes renders every index definition of the table).
ANN_INDEX_METHOD = """
SELECT (
  SELECT am.amname FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am am ON am.oid = x.relam
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
  WHERE i.indrelid = %s::regclass AND i.indisvalid AND am.amname IN ('hnsw', 'ivfflat', 'scann') AND a.attname = %s
  LIMIT 1)
"""


def ann_method(conn: psycopg.Connection | psycopg.Cursor, key: str) -> str | None:
    """The access method of ``key``'s valid ANN index (``hnsw``, ``ivfflat``, ``scann``), or None."""
    return conn.execute(ANN_INDEX_METHOD, ann_location(key)).fetchone()[0]


def has_ann_index(conn: psycopg.Connection | psycopg.Cursor, key: str) -> bool:
    """Whether ``key`` has a valid ANN index. For an investor dimension it also says whether its distinct
    vectors are kept in step with the investors' (``distinct``): the database, not a process's settings,
    decides, so every writer and reader agrees."""
    return ann_method(conn, key) is not None


def set_walk(conn: psycopg.Connection, ef_search: int, iterative_scan: str, *more: tuple[str, str]) -> None:
    """The walk's settings (and ``more``), for the current transaction, whichever index serves: HNSW's beam
    and iterative scan, IVFFlat's probes (its iterative scan has no strict order)."""
    walk = [
        ("hnsw.iterative_scan", iterative_scan),
        ("hnsw.ef_search", str(ef_search)),
        ("ivfflat.iterative_scan", "off" if iterative_scan == "off" else "relaxed_order"),
        ("ivfflat.probes", str(settings.IVFFLAT_PROBES.value())),
        *more,
    ]
    conn.execute(
        "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(walk)), [part for pair in walk for part in pair]
    )


def _ann_indexes(conn: psycopg.Connection, method: str = "hnsw|ivfflat|scann") -> dict[str, str]:
    """Each target's serving ANN index (of ``method``), by target, wherever it is built (``ann_location``)."""
    locations = {key: ann_location(key) for key in TARGETS}
    rows = conn.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef ~ %s",
        (sorted({table for table, _ in locations.values()}), f" USING ({method}) "),
    ).fetchall()
    return {
        key: name
        for table, name, definition in rows
        for key, (on, column) in locations.items()
        if on == table and f"({column} " in definition
    }


def indexed_dimensions(conn: psycopg.Connection, method: str = "hnsw|ivfflat|scann") -> set[str]:
    """Dimensions whose vector column has an ANN index (of ``method``)."""
    return {key for key in _ann_indexes(conn, method) if key in DIMENSIONS}


def configured_dimensions(setting: str | None = None) -> list[str]:
    """The candidate dimensions: ``setting`` (comma-separated), else INVEST_ANN_DIMENSIONS, else sector."""
    setting = setting or settings.ANN_DIMENSIONS.value()
    names = [d.strip() for d in setting.split(",") if d.strip()]
    unknown = set(names) - set(DIMENSIONS)
    if unknown:
        raise ValueError(
            f"{settings.ANN_DIMENSIONS.name}: unknown dimensions {sorted(unknown)}; choose from {DIMENSIONS}"
        )
    return names


def _index_method(conn: psycopg.Connection) -> str:
    """The method ``INVEST_ANN_METHOD`` names; for ``auto`` ScaNN where alloydb_scann exists (installing
    it), HNSW otherwise."""
    if settings.ANN_METHOD.value() != "auto":
        return settings.ANN_METHOD.value()
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'alloydb_scann'").fetchone() is None:
        return "hnsw"
    conn.execute("CREATE EXTENSION IF NOT EXISTS alloydb_scann")
    return "scann"


def _create_statement(conn: psycopg.Connection, method: str, key: str, suffix: str = "") -> sql.Composed | None:
    """The CREATE INDEX for target ``key`` (on its ``ann_location``, or its distinct vectors' ``suffix`` twin;
    ``suffix`` names the index); None while a ScaNN or IVFFlat index has too few rows to train on."""
    table_name, column_name = ann_location(key)
    if has_distinct_table(key):
        table_name += suffix
    table, column = sql.Identifier(table_name), sql.Identifier(column_name)
    name = sql.Identifier(ann_index_name(key, suffix))
    operator_class = sql.SQL(f"{_column_type(conn, table_name, column_name)}_cosine_ops")
    if method == "hnsw":
        return sql.SQL("CREATE INDEX {} ON {} USING hnsw ({} {}) WITH (m = {}, ef_construction = {})").format(
            name,
            table,
            column,
            operator_class,
            sql.Literal(HNSW_M),
            sql.Literal(HNSW_EF_CONSTRUCTION),
        )
    rows = _rows(conn, key, table_name)
    if rows < TRAINING_MIN_ROWS:
        return None
    if method == "ivfflat":
        return sql.SQL("CREATE INDEX {} ON {} USING ivfflat ({} {}) WITH (lists = {})").format(
            name, table, column, operator_class, sql.Literal(round(math.sqrt(rows)))
        )
    return sql.SQL("CREATE INDEX {} ON {} USING scann ({} cosine) WITH (num_leaves = {}, quantizer = 'SQ8')").format(
        name, table, column, sql.Literal(max(1, round(math.sqrt(rows))))
    )


def _rows(conn: psycopg.Connection, key: str, table: str | None = None) -> int:
    """The vectors an index of ``key`` is built over (on ``table``, by default its ``ann_location``)."""
    location, column = ann_location(key)
    return conn.execute(
        sql.SQL("SELECT count({}) FROM {}").format(sql.Identifier(column), sql.Identifier(table or location))
    ).fetchone()[0]


def _column_type(conn: psycopg.Connection, table: str, column: str) -> str:
    """``vector`` or ``halfvec`` (``vectors/storage.py``): the HNSW and IVFFlat operator classes follow it."""
    return conn.execute(
        "SELECT atttypid::regtype::text FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
        (table, column),
    ).fetchone()[0]


def _build_settings(conn: psycopg.Connection) -> None:
    """For the index builds of this transaction: memory for the whole graph (one build over all rows is far
    cheaper than inserting row by row), and the server's parallel maintenance workers whatever the table's
    size. The vectors live in TOAST, so the heap alone looks too small to split a build across workers;
    with two workers an HNSW build of 14,000 vectors took 4.5 s instead of 7.7 s."""
    conn.execute(
        "SELECT set_config('maintenance_work_mem', %s, true), set_config('min_parallel_table_scan_size', '0', true)",
        (settings.INDEX_BUILD_MEMORY.value(),),
    )


def searched_by_ann(dimension: str) -> bool:
    """Whether ``dimension`` (an embedding target) keeps an ANN index: of the investor dimensions only
    the candidate dimensions; the company description always."""
    return target(dimension).table != "investors" or dimension in configured_dimensions()


def ensure_ann_index(conn: psycopg.Connection, dimension: str, commit: bool = True) -> str:
    """Build the ANN index of ``dimension`` if it is searched by nearest neighbour and has none, or build it
    again when it was trained on fewer than 1 / RETRAIN_GROWTH of its rows; returns what happened (for the
    embedding asset's metadata)."""
    if not searched_by_ann(dimension):
        return "none: not a candidate dimension"
    serving = _ann_indexes(conn).get(dimension)
    if serving is None:
        return _build(conn, dimension, commit)
    trained = _trained_rows(conn, serving)
    if trained is None or _rows(conn, dimension) < RETRAIN_GROWTH * trained:
        return "present"
    if has_distinct_table(dimension):
        outcome = _build(conn, dimension, False)
    else:
        outcome = _build_beside(conn, _index_method(conn), dimension, serving)
    if commit:
        conn.commit()
    return f"{outcome}: trained on about {trained} rows"


def _trained_rows(conn: psycopg.Connection, index: str) -> int | None:
    """About how many rows a ScaNN or IVFFlat index was trained on (its sqrt(rows) lists or leaves, squared);
    None for an HNSW index, which is not trained."""
    row = conn.execute(
        "SELECT split_part(option, '=', 2)::int FROM pg_class, unnest(reloptions) option"
        " WHERE relname = %s AND option ~ '^(lists|num_leaves)='",
        (index,),
    ).fetchone()
    return row and row[0] ** 2


def refresh_ann_index(conn: psycopg.Connection, dimension: str, commit: bool = True) -> str:
    """After a write of most of ``dimension``'s vectors (or their retyping): its distinct vectors rebuilt,
    indexed and swapped in, or, for a company description, the index built if missing."""
    if has_distinct_table(dimension) and (searched_by_ann(dimension) or has_ann_index(conn, dimension)):
        return _build(conn, dimension, commit)
    return ensure_ann_index(conn, dimension, commit)


def _build(conn: psycopg.Connection, dimension: str, commit: bool) -> str:
    method = _index_method(conn)
    if has_distinct_table(dimension):
        return _build_over_distinct(conn, method, dimension, commit)
    statement = _create_statement(conn, method, dimension)
    if statement is None:
        return _deferred(method)
    _build_settings(conn)
    conn.execute(statement)
    if commit:
        conn.commit()
    return f"built {method}"


def _build_over_distinct(conn: psycopg.Connection, method: str, dimension: str, commit: bool) -> str:
    """The dimension's distinct vectors copied, indexed and swapped in, in one transaction under its
    embedding lock: no write lands in the serving table unseen between the copy and the swap, and a
    killed build leaves nothing behind."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (embedding_lock_key(dimension),))
        rows = distinct.fill_next(conn, dimension)
        statement = _create_statement(conn, method, dimension, "_next")
        if statement is not None:
            _build_settings(conn)
            conn.execute(statement)
        distinct.swap_in(conn, dimension)
    if commit:
        conn.commit()
    if statement is None:
        return f"{_deferred(method)} ({rows} distinct)"
    return f"built {method} over {rows} distinct vectors"


def ann_targets(table: str) -> list[str]:
    """The embedding targets of ``table`` that keep an ANN index."""
    return [key for key, embedded in TARGETS.items() if embedded.table == table and searched_by_ann(key)]


def has_vectors(conn: psycopg.Connection, dimension: str) -> bool:
    embedded = target(dimension)
    return conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} IS NOT NULL)").format(
            embedded.table_id, embedded.column("embedding")
        )
    ).fetchone()[0]


def drop_ann_indexes(conn: psycopg.Connection, table: str) -> set[str]:
    """Drop every ANN index built on ``table`` itself (before a bulk write; the investor dimensions' are
    on their distinct vectors, which a write of investors does not touch); returns the targets they indexed."""
    dropped = {key: name for key, name in _ann_indexes(conn).items() if ann_location(key)[0] == table}
    for name in dropped.values():
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return set(dropped)


def sync_ann_indexes(conn: psycopg.Connection, dimensions: list[str]) -> dict[str, list[str]]:
    """Create the missing ANN indexes for ``dimensions`` (building again those of another method than the
    configured one, and the company description's) and drop the others' (with their distinct vectors);
    returns what changed (``deferred``: ScaNN or IVFFlat indexes waiting for rows)."""
    present = indexed_dimensions(conn)
    method = _index_method(conn)
    created, deferred = [], []
    for dimension in sorted(set(dimensions) - indexed_dimensions(conn, method)):
        outcome = _build(conn, dimension, commit=False)
        (deferred if outcome.startswith("deferred") else created).append(dimension)
    for key, outcome in _switch_own_indexes(conn, method).items():
        (deferred if outcome.startswith("deferred") else created).append(key)
    for dimension in DIMENSIONS:
        if dimension not in dimensions:
            distinct.empty(conn, dimension)
    conn.commit()
    dropped = sorted(present - set(dimensions))
    return {"created": created, "dropped": dropped, "deferred": deferred, "method": [method]}


def _switch_own_indexes(conn: psycopg.Connection, method: str) -> dict[str, str]:
    """The indexes built on their targets' own tables (the company description's) that are of another
    method than ``method``, each built again beside the serving one and renamed into its place, so
    readers keep an index; one too small to train is left serving (``deferred``). Returns the outcomes."""
    serving, of_method = _ann_indexes(conn), _ann_indexes(conn, method)
    return {
        key: _build_beside(conn, method, key, name)
        for key, name in sorted(serving.items())
        if key not in of_method and not has_distinct_table(key)
    }


def _deferred(method: str) -> str:
    return f"deferred: a {method} index needs {TRAINING_MIN_ROWS} vectors"


def _build_beside(conn: psycopg.Connection, method: str, key: str, serving: str) -> str:
    """``key``'s index on its own table built again by ``method`` beside the ``serving`` one, which it then
    replaces (renamed into its place), so readers keep an index; one too small to train is left serving."""
    statement = _create_statement(conn, method, key, "_next")
    if statement is None:
        return _deferred(method)
    _build_settings(conn)
    conn.execute(statement)
    conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(serving)))
    conn.execute(
        sql.SQL("ALTER INDEX {} RENAME TO {}").format(
            sql.Identifier(ann_index_name(key, "_next")), sql.Identifier(ann_index_name(key))
        )
    )
    return f"built {method}"
