"""Load one source table into AlloyDB: validate, COPY into staging, set-based upsert.

Everything for one table happens in one transaction, so a killed run leaves the table
as it was and a rerun gives the same result:

1. validated rows go by binary COPY into a temporary stage table, rejected rows into
   a temporary rejects table;
2. set-based checks move duplicate keys and unknown references from stage to rejects;
3. changed rows are updated (``updated_at`` moves only when a value changed), new rows
   inserted, and, for a full snapshot, live rows missing from the source soft-deleted
   (a soft-deleted row that reappears is revived);
4. rejects land in ``quarantine`` with their reason and raw row.

A per-table advisory lock serializes concurrent loads of the same table.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from invest_assets import settings
from invest_assets.sources.schema import Column, Reference, SourceTable, target_column
from invest_assets.sources.validation import stage_columns, validate_chunk

# A full snapshot may soft-delete at most this share of the live rows it reconciles
# (INVEST_MAX_SOFT_DELETE_SHARE), beyond a small allowance that keeps tiny tables editable;
# an empty snapshot of a whole table with live rows is always refused.
SOFT_DELETE_ALLOWANCE = 10


class SnapshotRefused(RuntimeError):
    """A full snapshot would soft-delete too much of a table; nothing was written."""

    def __init__(self, table: str, source_rows: int, live: int, missing: int, max_share: float):
        self.table, self.source_rows, self.live, self.missing = table, source_rows, live, missing
        self.max_share = max_share
        what = "is empty" if source_rows == 0 else f"has {source_rows} rows"
        super().__init__(
            f"refused the {table} snapshot: it {what} and would soft-delete {missing} of {live} live {table} rows "
            f"({missing / live:.0%}; at most {max_share:.0%} allowed). Nothing was written. Check the source "
            f"(a truncated or stale file?); for an intended mass removal set {settings.MAX_SOFT_DELETE_SHARE.name}=1 "
            f"for that run."
        )


def max_soft_delete_share() -> float:
    return settings.MAX_SOFT_DELETE_SHARE.value()


@dataclass
class LoadReport:
    table: str
    source_rows: int = 0
    inserted: int = 0
    updated: int = 0
    revived: int = 0
    unchanged: int = 0
    soft_deleted: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    live_rows: int = 0
    seconds: float = 0.0


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _lock_key(table: str) -> str:
    return f"invest_assets.load.{table}"


def _staged_type(column: Column) -> str:
    """A list column is staged as its array literal's text (``array_literals``) and typed after the COPY."""
    return "text" if column.kind == "list" else column.pg_type


def array_literals(lists: Sequence[list[str] | None]) -> list[str | None]:
    """PostgreSQL array literals (``{"a","b \\"c\\""}``) of lists of strings, built by Arrow's compute
    functions: dumping each list as a binary array took a fifth of a 100,000-investor load."""
    array = pa.array(lists, type=pa.list_(pa.string()))
    items = pc.replace_substring(pc.replace_substring(pc.list_flatten(array), "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', items, '"', "")
    joined = pc.binary_join(pa.ListArray.from_arrays(array.offsets, quoted, mask=array.is_null()), ",")
    return pc.binary_join_element_wise("{", joined, "}", "").to_pylist()


def _create_temp_tables(cur: psycopg.Cursor, spec: SourceTable) -> None:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(_ident(c.name), sql.SQL(_staged_type(c))) for c in stage_columns(spec)
    )
    cur.execute(sql.SQL("CREATE TEMP TABLE stage (_ord bigint, source_id text, {}) ON COMMIT DROP").format(columns))
    cur.execute("CREATE TEMP TABLE rejects (source_id text, reason text NOT NULL, raw json NOT NULL) ON COMMIT DROP")


def _copy_chunks(cur: psycopg.Cursor, spec: SourceTable, chunks: Iterable[pd.DataFrame]) -> int:
    columns = stage_columns(spec)
    names = sql.SQL(", ").join(_ident(c.name) for c in columns)
    source_rows = 0
    lists = [position for position, c in enumerate(columns, start=1) if c.kind == "list"]
    for chunk in chunks:
        validated = validate_chunk(spec, chunk)
        cells = list(zip(*validated.rows, strict=True)) or [()] * (len(columns) + 1)  # by column
        for position in lists:
            cells[position] = array_literals(cells[position])
        with cur.copy(sql.SQL("COPY stage (_ord, source_id, {}) FROM STDIN (FORMAT BINARY)").format(names)) as copy:
            copy.set_types(["int8", "text", *(_staged_type(c) for c in columns)])
            for row in zip(range(source_rows, source_rows + len(validated.rows)), *cells, strict=True):
                copy.write_row(row)
        with cur.copy("COPY rejects (source_id, reason, raw) FROM STDIN") as copy:
            for reject in validated.rejects:
                copy.write_row(reject)
        source_rows += len(chunk)
    if lists:
        typed = [
            sql.SQL("ALTER COLUMN {0} TYPE text[] USING {0}::text[]").format(_ident(columns[p - 1].name)) for p in lists
        ]
        cur.execute(sql.SQL("ALTER TABLE stage {}").format(sql.SQL(", ").join(typed)))
    cur.execute("ANALYZE stage")
    return source_rows


def _reject_duplicates(cur: psycopg.Cursor) -> None:
    """A key seen in a rejected row, or twice with different values, is ambiguous:
    every copy is rejected. Exact repeats keep their first copy."""
    cur.execute(
        """
        WITH dropped AS (
          DELETE FROM stage s
          WHERE EXISTS (SELECT 1 FROM rejects r WHERE r.source_id = s.source_id)
          RETURNING s.*
        )
        INSERT INTO rejects (source_id, reason, raw)
        SELECT source_id, 'duplicate_key: source_id also appears in a rejected row',
               (to_jsonb(dropped) - '_ord')::json
        FROM dropped
        """
    )
    cur.execute(
        """
        WITH repeated AS (
          SELECT source_id FROM stage GROUP BY source_id HAVING count(*) > 1
        ), groups AS (
          SELECT source_id, min(_ord) AS keep, count(DISTINCT to_jsonb(s) - '_ord') AS variants
          FROM stage s JOIN repeated USING (source_id) GROUP BY source_id
        ), dropped AS (
          DELETE FROM stage s USING groups g
          WHERE s.source_id = g.source_id AND (g.variants > 1 OR s._ord <> g.keep)
          RETURNING s.*, g.variants
        )
        INSERT INTO rejects (source_id, reason, raw)
        SELECT source_id,
               CASE WHEN variants > 1 THEN 'duplicate_key: source_id appears with conflicting values'
                    ELSE 'duplicate_row: repeats an earlier row exactly' END,
               (to_jsonb(dropped) - '_ord' - 'variants')::json
        FROM dropped
        """
    )


def _reject_unknown_references(cur: psycopg.Cursor, spec: SourceTable) -> None:
    """Reject rows naming a row that is not live in the target table (nor, for a
    self-reference, in this load); repeated until stable so chains resolve."""
    for ref in spec.references:
        same_load = (
            sql.SQL("AND NOT EXISTS (SELECT 1 FROM stage o WHERE o.source_id = s.{col})").format(
                col=_ident(ref.source_column)
            )
            if ref.table == spec.name
            else sql.SQL("")
        )
        statement = sql.SQL(
            """
            WITH dropped AS (
              DELETE FROM stage s
              WHERE s.{col} IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.source_id = s.{col} AND t.deleted_at IS NULL)
                {same_load}
              RETURNING s.*
            )
            INSERT INTO rejects (source_id, reason, raw)
            SELECT source_id, format('unknown_reference: %s %L is not a live %s row', {col_name}, {col}, {table_name}),
                   (to_jsonb(dropped) - '_ord')::json
            FROM dropped
            """
        ).format(
            col=_ident(ref.source_column),
            target=_ident(ref.table),
            same_load=same_load,
            col_name=sql.Literal(ref.source_column),
            table_name=sql.Literal(ref.table),
        )
        while cur.execute(statement).rowcount and ref.table == spec.name:
            pass


def _external_references(spec: SourceTable) -> list[Reference]:
    return [r for r in spec.references if r.table != spec.name]


def _create_resolved(cur: psycopg.Cursor, spec: SourceTable) -> list[str]:
    """Stage rows with references turned into ids, under the table's column names."""
    selects = [sql.SQL("s.source_id")]
    targets = ["source_id"]
    joins = []
    for column in spec.stored_columns:
        selects.append(sql.SQL("s.{}").format(_ident(column.name)))
        targets.append(target_column(spec.name, column.name))
    for n, ref in enumerate(_external_references(spec)):
        alias = _ident(f"ref{n}")
        joins.append(
            sql.SQL("LEFT JOIN {table} {alias} ON {alias}.source_id = s.{col} AND {alias}.deleted_at IS NULL").format(
                table=_ident(ref.table), alias=alias, col=_ident(ref.source_column)
            )
        )
        selects.append(sql.SQL("{}.id").format(alias))
        targets.append(ref.target_column)
    selects.append(sql.SQL("s.updated_at"))
    targets.append("source_updated_at")
    cur.execute(
        sql.SQL("CREATE TEMP TABLE resolved ({cols}) ON COMMIT DROP AS SELECT {selects} FROM stage s {joins}").format(
            cols=sql.SQL(", ").join(map(_ident, targets)),
            selects=sql.SQL(", ").join(selects),
            joins=sql.SQL(" ").join(joins),
        )
    )
    cur.execute("ANALYZE resolved")
    return targets[1:]


def _upsert(cur: psycopg.Cursor, spec: SourceTable, columns: list[str], report: LoadReport) -> None:
    table = _ident(spec.name)
    cols = sql.SQL(", ").join(map(_ident, columns))
    t_cols = sql.SQL(", ").join(sql.SQL("t.{}").format(_ident(c)) for c in columns)
    r_cols = sql.SQL(", ").join(sql.SQL("r.{}").format(_ident(c)) for c in columns)
    report.revived = cur.execute(
        sql.SQL(
            "SELECT count(*) FROM {table} t JOIN resolved r USING (source_id) WHERE t.deleted_at IS NOT NULL"
        ).format(table=table)
    ).fetchone()[0]
    report.updated = cur.execute(
        sql.SQL(
            """
            UPDATE {table} t SET ({cols}) = ROW({r_cols}), updated_at = now(), deleted_at = NULL
            FROM resolved r
            WHERE t.source_id = r.source_id
              AND (ROW({t_cols}) IS DISTINCT FROM ROW({r_cols}) OR t.deleted_at IS NOT NULL)
            """
        ).format(table=table, cols=cols, r_cols=r_cols, t_cols=t_cols)
    ).rowcount
    report.inserted = cur.execute(
        sql.SQL(
            """
            INSERT INTO {table} (source_id, {cols})
            SELECT r.source_id, {r_cols} FROM resolved r
            WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.source_id = r.source_id)
            """
        ).format(table=table, cols=cols, r_cols=r_cols)
    ).rowcount


def _link_self_references(cur: psycopg.Cursor, spec: SourceTable) -> None:
    """Self-references (a person's firm) resolve once every row of the load exists."""
    for ref in spec.references:
        if ref.table != spec.name:
            continue
        cur.execute(
            sql.SQL(
                """
                UPDATE {table} t SET {target} = f.id, updated_at = now()
                FROM stage s LEFT JOIN {table} f ON f.source_id = s.{col}
                WHERE t.source_id = s.source_id AND t.{target} IS DISTINCT FROM f.id
                """
            ).format(table=_ident(spec.name), target=_ident(ref.target_column), col=_ident(ref.source_column))
        )


def _missing_condition(scope: sql.Composable | None) -> sql.Composable:
    """Live rows (within ``scope``) whose key the source no longer has. Keys of rejected rows
    count as present: a bad row never deletes a good one."""
    condition = sql.SQL("AND ({})").format(scope) if scope is not None else sql.SQL("")
    return sql.SQL(
        """t.deleted_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM stage s WHERE s.source_id = t.source_id)
              AND NOT EXISTS (SELECT 1 FROM rejects r WHERE r.source_id = t.source_id)
              {condition}"""
    ).format(condition=condition)


def _guard_mass_soft_delete(
    cur: psycopg.Cursor, spec: SourceTable, scope: sql.Composable | None, source_rows: int, max_share: float
) -> None:
    """Refuse, before anything is written, a snapshot that would soft-delete too much."""
    in_scope = sql.SQL("AND ({})").format(scope) if scope is not None else sql.SQL("")
    # Two scalar subqueries: NOT EXISTS in a WHERE plans as an anti-join, inside FILTER as a per-row subplan.
    live, missing = cur.execute(
        sql.SQL(
            "SELECT (SELECT count(*) FROM {table} t WHERE t.deleted_at IS NULL {scope}),"
            " (SELECT count(*) FROM {table} t WHERE {missing})"
        ).format(missing=_missing_condition(scope), table=_ident(spec.name), scope=in_scope)
    ).fetchone()
    empty_table = scope is None and source_rows == 0 and live > 0
    if empty_table or (missing > SOFT_DELETE_ALLOWANCE and missing > max_share * live):
        raise SnapshotRefused(spec.name, source_rows, live, missing, max_share)


def _soft_delete_missing(cur: psycopg.Cursor, spec: SourceTable, scope: sql.Composable | None) -> int:
    """Soft-delete the live rows (within ``scope``) that the snapshot no longer has."""
    return cur.execute(
        sql.SQL("UPDATE {table} t SET deleted_at = now(), updated_at = now() WHERE {missing}").format(
            table=_ident(spec.name), missing=_missing_condition(scope)
        )
    ).rowcount


def _quarantine(cur: psycopg.Cursor, spec: SourceTable, run_id: str, report: LoadReport) -> None:
    cur.execute(
        """
        INSERT INTO quarantine (table_name, source_id, reason, raw, run_id)
        SELECT %s, source_id, reason, raw, %s FROM rejects
        """,
        (spec.name, run_id),
    )
    report.quarantined = cur.rowcount
    rows = cur.execute("SELECT split_part(reason, ':', 1), count(*) FROM rejects GROUP BY 1 ORDER BY 1").fetchall()
    report.quarantined_by_reason = dict(rows)


def load_table(
    conn: psycopg.Connection,
    spec: SourceTable,
    chunks: Iterable[pd.DataFrame],
    run_id: str,
    *,
    full_snapshot: bool = True,
    scope: sql.Composable | None = None,
    max_delete_share: float | None = None,
) -> LoadReport:
    """Load ``chunks`` of raw source rows into ``spec``'s table in one transaction.

    ``full_snapshot``: the chunks are everything the source has (within ``scope``, a SQL
    condition on the table aliased ``t``), so live rows missing from them are soft-deleted,
    unless that is more than ``max_delete_share`` (default: the setting) of them: then
    ``SnapshotRefused`` is raised and the transaction leaves everything as it was.
    """
    started = time.perf_counter()
    report = LoadReport(spec.name)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_lock_key(spec.name),))
        _create_temp_tables(cur, spec)
        report.source_rows = _copy_chunks(cur, spec, chunks)
        _reject_duplicates(cur)
        _reject_unknown_references(cur, spec)
        if full_snapshot:
            share = max_soft_delete_share() if max_delete_share is None else max_delete_share
            _guard_mass_soft_delete(cur, spec, scope, report.source_rows, share)
        columns = _create_resolved(cur, spec)
        _upsert(cur, spec, columns, report)
        _link_self_references(cur, spec)
        if full_snapshot:
            report.soft_deleted = _soft_delete_missing(cur, spec, scope)
        _quarantine(cur, spec, run_id, report)
        staged = cur.execute("SELECT count(*) FROM stage").fetchone()[0]
        report.unchanged = staged - report.inserted - report.updated
        report.live_rows = cur.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE deleted_at IS NULL").format(_ident(spec.name))
        ).fetchone()[0]
        for temp in ("stage", "rejects", "resolved"):
            cur.execute(sql.SQL("DROP TABLE {}").format(_ident(temp)))
        # Fresh statistics for the assets that read this table next in the same run
        # (autovacuum's analyze comes later): without them the graph joins plan badly.
        cur.execute(sql.SQL("ANALYZE {}").format(_ident(spec.name)))
    report.seconds = round(time.perf_counter() - started, 3)
    return report
