"""The embedded default source: a directory of companies/funding_rounds/investments/investors
files, each ``.csv`` or ``.parquet``.

CSV cells are read as the exact strings in the file (no NA guessing, no type inference), by
Arrow's CSV reader: typing is validation's job, so a bad cell is quarantined with a reason
instead of silently becoming NaN, and a NUL byte stays in its cell for validation to refuse
(pandas' C parser cut the value at it). Bytes that are not UTF-8 are kept (surrogate escapes)
so validation can refuse them by name rather than the read failing.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from invest_assets.sources.schema import TABLES

CHUNK_ROWS = 50_000
CSV_BLOCK_BYTES = 8 << 20


class SourceError(ValueError):
    """The source itself is unreadable as given (missing, ambiguous or malformed file):
    deterministic, so retrying cannot help."""


def table_file(directory: Path, table: str) -> Path | None:
    """The one file holding ``table`` (None for an optional table left out); two (a stale copy beside
    the real one?) is an error."""
    found = [path for path in (directory / f"{table}.csv", directory / f"{table}.parquet") if path.exists()]
    if not found:
        if TABLES[table].optional:
            return None
        raise SourceError(f"no {table}.csv or {table}.parquet in {directory}")
    if len(found) > 1:
        raise SourceError(
            f"two files for the {table} table: {found[0]} and {found[1]}; keep one (the other may be "
            "a stale copy) and run again"
        )
    return found[0]


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        return next(csv.reader(handle), [])


def _csv_chunks(path: Path) -> Iterator[pd.DataFrame]:
    header = _csv_header(path)
    utf8 = _is_utf8(path)
    cell_type = pa.string() if utf8 else pa.binary()
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=CSV_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, cell_type), strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as err:
            raise SourceError(
                f"{path}: not a CSV file of the {path.stem} table as written: {err}. A row with more "
                "or fewer cells than the header usually means an unquoted comma or a wrong "
                "delimiter."
            ) from None
        if utf8:
            yield batch.to_pandas()
        else:
            yield pd.DataFrame(
                {
                    name: [cell.decode("utf-8", "surrogateescape") for cell in column.to_pylist()]
                    for name, column in zip(header, batch.columns, strict=True)
                }
            )


def read_local_table(directory: Path, table: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the raw rows of ``table`` in chunks, with exactly the contract's columns (at least one chunk,
    empty for a header-only file or an optional table left out)."""
    spec = TABLES[table]
    path = table_file(directory, table)
    empty = pd.DataFrame(columns=list(spec.column_names), dtype=object)
    if path is None:
        yield empty
        return
    if path.suffix == ".parquet":
        columns = pq.ParquetFile(path).schema_arrow.names
        chunks = (batch.to_pandas() for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
    else:
        columns = _csv_header(path)
        chunks = _csv_chunks(path)
    missing = [c for c in spec.column_names if c not in columns and c != "updated_at"]
    if missing:
        raise SourceError(f"{path}: missing columns {missing}")
    read_any = False
    for chunk in chunks:
        read_any = True
        yield chunk.reindex(columns=list(spec.column_names))
    if not read_any:
        yield empty
