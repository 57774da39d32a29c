"""The embedded default source: a directory of companies/funding_rounds/investments/investors
files, each ``.csv`` or ``.parquet``.

CSV cells are read as the exact strings in the file (no NA guessing, no type
inference): typing is validation's job, so a bad cell is quarantined with a reason
instead of silently becoming NaN. Bytes that are not UTF-8 are kept (surrogate
escapes) so validation can refuse them by name rather than the read failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from invest_assets.sources.schema import TABLES

CHUNK_ROWS = 50_000


def table_file(directory: Path, table: str) -> Path:
    for suffix in (".parquet", ".csv"):
        path = directory / f"{table}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"no {table}.csv or {table}.parquet in {directory}")


def read_local_table(directory: Path, table: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the raw rows of ``table`` in chunks, with exactly the contract's columns."""
    spec = TABLES[table]
    path = table_file(directory, table)
    if path.suffix == ".parquet":
        chunks = (batch.to_pandas() for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
    else:
        chunks = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8",
            encoding_errors="surrogateescape",
            chunksize=chunk_rows,
        )
    for chunk in chunks:
        missing = [c for c in spec.column_names if c not in chunk.columns and c != "updated_at"]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        yield chunk.reindex(columns=list(spec.column_names))

