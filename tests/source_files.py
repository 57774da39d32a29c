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


def write_many_investors(directory: Path, n: int, *, version: int = 1) -> Path:
    """A large, valid source directory (only investors) for fault and concurrency tests.

    ``version`` changes every name and drops every tenth investor, so a load of version 2
    over version 1 updates, soft-deletes and keeps rows.
    """
    import numpy as np
    import pandas as pd

    ids = np.arange(n)
    if version > 1:
        ids = ids[ids % 10 != 0]
    frame = pd.DataFrame({
        "source_id": [f"inv{i}" for i in ids],
        "name": [f"Investor {i} v{version}" for i in ids],
        "kind": np.where(ids % 3 == 0, "person", "firm"),
        "check_size_min_usd": (ids % 50 + 1) * 100_000,
        "check_size_max_usd": (ids % 50 + 1) * 1_000_000,
        "preferred_stages": '["seed","series_a"]',
        "focus_sectors": '["fintech"]',
        "geographies": '["US","GB"]',
        "signal_text": [f"mission driven founders number {i} in fintech" for i in ids],
        "updated_at": "2024-01-01T00:00:00+00:00",
    }).reindex(columns=list(TABLES["investors"].column_names))
    write_source(directory)
    frame.to_csv(directory / "investors.csv", index=False)
    return directory
