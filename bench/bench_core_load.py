"""Benchmark: loading investors through the core loader vs a plain binary COPY (the ceiling).

Builds a source of N investors, then measures in one run, each on a fresh database of
the embedded server:
  * full load through load_table (validation, COPY to staging, set-based upsert, quarantine);
  * the same typed rows written by one plain binary COPY into a bare copy of the table;
  * the same rows by one plain binary COPY into ``investors`` itself (its indexes and trigger), and again
    with its profile trigger disabled, and again without its secondary indexes (then built once): what the
    table's own parts cost, which no loader can avoid;
  * a reload of the unchanged source (the idempotent no-op path);
  * a reload with 1% of the rows changed.

    .venv/bin/python -m bench.bench_core_load --investors 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import psycopg

from invest_assets.core.loader import load_table
from invest_assets.resources.database import apply_migrations, embedded_server_url, stop_embedded_server
from invest_assets.sources.local_files import read_local_table
from invest_assets.sources.schema import INVESTORS, target_column
from invest_assets.sources.validation import stage_columns, validate_chunk
from invest_assets.tools.sample_data import write_many_investors


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def typed_rows(directory: Path) -> list[tuple]:
    return [row for chunk in read_local_table(directory, "investors") for row in validate_chunk(INVESTORS, chunk).rows]


def copy_seconds(conn: psycopg.Connection, table: str, names: list[str], types: list[str], rows) -> float:
    def copy():
        columns = ", ".join(f'"{name}"' for name in names)
        with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(types)
            for row in rows:
                cp.write_row(row)
        conn.commit()

    seconds, _ = timed(copy)
    return seconds


def plain_copy_seconds(url: str, rows: list[tuple]) -> float:
    """The same rows, already typed, by one binary COPY into a bare table: the ceiling."""
    columns = stage_columns(INVESTORS)
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE bare (source_id text, " + ", ".join(f'"{c.name}" {c.pg_type}' for c in columns) + ")"
        )
        names = ["source_id", *(c.name for c in columns)]
        return copy_seconds(conn, "bare", names, ["text", *(c.pg_type for c in columns)], rows)


def table_copy_seconds(url: str, rows: list[tuple], before: str | None = None) -> float:
    """The same rows by one binary COPY into ``investors`` itself, with its indexes, generated hashes and
    profile trigger (less what the statement ``before`` takes away): what any load into this table pays,
    whatever the loader does."""
    columns = stage_columns(INVESTORS)
    stored = [i for i, c in enumerate(columns) if c in INVESTORS.stored_columns]
    names = ["source_id", *(target_column("investors", columns[i].name) for i in stored)]
    types = ["text", *(columns[i].pg_type for i in stored)]
    with psycopg.connect(url) as conn:
        if before:
            conn.execute(before)
            conn.commit()
        return copy_seconds(conn, "investors", names, types, ([row[0], *(row[1 + i] for i in stored)] for row in rows))


def secondary_indexes(url: str) -> list[tuple[str, str]]:
    """The names and definitions of ``investors``' indexes that enforce nothing (all but its keys)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = 'investors'::regclass AND NOT indisunique"
        ).fetchall()


def without_indexes_seconds(url: str, rows: list[tuple]) -> tuple[float, float]:
    """The COPY into ``investors`` with its secondary indexes dropped first, and the time to build them after."""
    indexes = secondary_indexes(url)
    copied = table_copy_seconds(url, rows, "DROP INDEX " + ", ".join(name for name, _ in indexes))

    def build_them():
        with psycopg.connect(url) as conn:
            for _, definition in indexes:
                conn.execute(definition)

    built, _ = timed(build_them)
    return copied, built


def change_one_percent(directory: Path) -> None:
    path = directory / "investors.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[frame.index % 100 == 0, "name"] += " (renamed)"
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        source = write_many_investors(Path(tmp) / "src", args.investors)
        loader_url = embedded_server_url(str(home), database="bench_loader")
        ceiling_url = embedded_server_url(str(home), database="bench_ceiling")
        table_url = embedded_server_url(str(home), database="bench_table")
        no_trigger_url = embedded_server_url(str(home), database="bench_table_no_trigger")
        no_indexes_url = embedded_server_url(str(home), database="bench_table_no_indexes")
        for url in (loader_url, table_url, no_trigger_url, no_indexes_url):
            apply_migrations(url)
        try:
            with psycopg.connect(loader_url) as conn:
                full, report = timed(lambda: load_table(conn, INVESTORS, read_local_table(source, "investors"), "b1"))
                assert report.inserted == args.investors, report
                noop, report = timed(lambda: load_table(conn, INVESTORS, read_local_table(source, "investors"), "b2"))
                assert report.updated == report.inserted == 0, report
                change_one_percent(source)
                delta, report = timed(lambda: load_table(conn, INVESTORS, read_local_table(source, "investors"), "b3"))
                changed = report.updated
            rows = typed_rows(source)
            ceiling = plain_copy_seconds(ceiling_url, rows)
            into_table = table_copy_seconds(table_url, rows)
            no_trigger = table_copy_seconds(no_trigger_url, rows, "ALTER TABLE investors DISABLE TRIGGER USER")
            no_indexes, indexes_built = without_indexes_seconds(no_indexes_url, rows)
        finally:
            stop_embedded_server(str(home))

    n = args.investors
    print(f"investors: {n}")
    print(f"full load through the loader : {full:7.2f} s  ({n / full:10,.0f} rows/s)")
    print(f"plain binary COPY (ceiling)  : {ceiling:7.2f} s  ({n / ceiling:10,.0f} rows/s)")
    print(f"loader / ceiling             : {full / ceiling:7.2f} x")
    print(f"plain binary COPY into investors itself: {into_table:7.2f} s  ({into_table / ceiling:.2f} x the ceiling)")
    print(f"  the same, trigger disabled : {no_trigger:7.2f} s  ({no_trigger / ceiling:.2f} x the ceiling)")
    print(
        f"  the same, no secondary indexes: {no_indexes:7.2f} s  ({no_indexes / ceiling:.2f} x the ceiling),"
        f" building them after {indexes_built:.2f} s"
    )
    print(f"loader / COPY into investors : {full / into_table:7.2f} x")
    print(f"reload, nothing changed      : {noop:7.2f} s  ({noop / full:.0%} of the full load)")
    print(f"reload, 1% changed ({changed} rows): {delta:7.2f} s  ({delta / full:.0%} of the full load)")


if __name__ == "__main__":
    main()
