"""Write source directories in the local format for tests."""

from __future__ import annotations

import csv
from pathlib import Path

from invest_assets.sources.schema import TABLES


def write_table(directory: Path, table: str, rows: list[dict]) -> Path:
    """Write ``rows`` as ``table``.csv with the contract's columns (missing cells empty)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{table}.csv"
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLES[table].column_names)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def write_source(directory: Path, **tables: list[dict]) -> Path:
    for table in TABLES:
        write_table(directory, table, tables.get(table, []))
    return directory
