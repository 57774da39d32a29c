"""How the vectors are stored: pgvector's ``vector`` (4-byte floats, the seed's type) or ``halfvec``
(2-byte floats: half the table and index size, 1M investors x 6 x 1536 dims 18.5 GB instead of 36.9 GB).

The database's column types are the setting: ``invest-assets vector-storage halfvec`` converts every
embedding column of both tables (one table rewrite each, in one transaction) and rebuilds their ANN
indexes with the matching operator class (the investor dimensions' distinct vectors rebuilt in the new
type), and converts the bulk runs' stage (``embedding_stage``) to match. Nothing else changes: vectors
are written as ``vector`` and cast implicitly on assignment, and a query vector is cast implicitly to the
column's type, so the same statements serve both.
``docs/benchmarks.md`` has the two side by side.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from invest_assets.vectors.indexes import drop_ann_indexes, refresh_ann_index
from invest_assets.vectors.targets import TARGETS

STORAGE_TYPES = ("vector", "halfvec")


def storage_types(conn: psycopg.Connection) -> dict[str, str]:
    """Each embedding target's column type, e.g. ``{"sector": "vector(1536)", ...}``."""
    rows = conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid WHERE c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped",
        (sorted({t.table for t in TARGETS.values()}),),
    ).fetchall()
    types = {(table, column): kind for table, column, kind in rows}
    return {key: types[(t.table, t.column_name("embedding"))] for key, t in TARGETS.items()}


def set_storage(conn: psycopg.Connection, storage: str) -> dict[str, str]:
    """Store every embedding column as ``storage``; returns what each ANN index rebuild did. The indexes
    are dropped first (a type change rebuilds them anyway, with the old operator class) and built again
    after, in the same transaction, so a reader sees the old storage and its indexes until the commit."""
    if storage not in STORAGE_TYPES:
        raise ValueError(f"vector storage is one of {', '.join(STORAGE_TYPES)}; got {storage!r}")
    current = storage_types(conn)
    by_table: dict[str, list[str]] = {}
    for key, embedded in TARGETS.items():
        by_table.setdefault(embedded.table, []).append(key)
    rebuilt = {}
    with conn.transaction():
        for table, keys in by_table.items():
            changes = [key for key in keys if current[key].split("(")[0] != storage]
            if not changes:
                continue
            drop_ann_indexes(conn, table)
            alters = sql.SQL(", ").join(
                sql.SQL("ALTER COLUMN {c} TYPE {t} USING {c}::{t}").format(
                    c=TARGETS[key].column("embedding"), t=sql.SQL(storage + _dimensions(current[key]))
                )
                for key in changes
            )
            conn.execute(sql.SQL("ALTER TABLE {} {}").format(sql.Identifier(table), alters))
            rebuilt.update({key: refresh_ann_index(conn, key, commit=False) for key in keys})
        # A bulk embedding run's stage (embeddings/bulk.py) holds vectors of either table, in the same type.
        conn.execute(
            sql.SQL("ALTER TABLE embedding_stage ALTER COLUMN embedding TYPE {t} USING embedding::{t}").format(
                t=sql.SQL(storage)
            )
        )
    return rebuilt


def _dimensions(column_type: str) -> str:
    """``"(1536)"`` of ``"vector(1536)"``; empty for an unsized column."""
    return column_type[column_type.index("(") :] if "(" in column_type else ""
