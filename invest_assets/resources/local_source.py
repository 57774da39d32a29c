"""Source resources: where the four core tables' raw rows come from.

Every source yields raw ``pandas.DataFrame`` chunks with exactly the contract's
columns (``invest_assets.sources.schema``); validation and loading are shared.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import fasteners
import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from invest_assets import settings
from invest_assets.sources.local_files import read_local_table, table_file
from invest_assets.sources.schema import UPDATED_AT
from invest_assets.sources.validation import CellError, is_empty, parse_cell


class TableSource(ConfigurableResource):
    """The interface the core assets read through."""

    # How the source-change sensor syncs a changed table: "full" where reading the table
    # costs the same either way (it also catches deletions and edits that kept updated_at),
    # "delta" where reading only the changed rows is cheaper.
    change_sync_mode: ClassVar[str] = "full"

    def fingerprints(self, tables: Iterable[str]) -> dict[str, str]:
        """A cheap marker per table that changes whenever the table's rows may have changed."""
        raise NotImplementedError(f"{type(self).__name__} does not implement fingerprints()")

    def read(self, table: str, since: datetime | None = None) -> Iterator[pd.DataFrame]:
        """Raw rows of ``table``; with ``since``, only rows whose updated_at is later."""
        raise NotImplementedError(f"{type(self).__name__} does not implement read()")

    def describe(self) -> str:
        return type(self).__name__


def default_sample_dir(home: Path | None = None) -> Path:
    """The default dataset, generated once under the platform home and reused."""
    from invest_assets.tools.sample_data import generate_sample

    root = home or settings.home_dir()
    target = root / "sample"
    root.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(root / ".sample.lock")):
        if not target.exists():
            staging = Path(tempfile.mkdtemp(dir=root, prefix=".sample-"))
            try:
                generate_sample(staging)
                staging.rename(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return target


def rows_updated_after(chunk: pd.DataFrame, since: datetime) -> pd.DataFrame:
    """Rows changed after ``since``; rows whose updated_at does not parse are kept,
    so that validation quarantines them instead of a delta silently skipping them."""

    def keep(value) -> bool:
        if is_empty(value):
            return True
        try:
            return parse_cell(UPDATED_AT, value) > since
        except CellError:
            return True

    return chunk[[keep(v) for v in chunk["updated_at"]]]


class LocalFileSource(TableSource):
    """A directory of companies/funding_rounds/investments/investors (and, optionally,
    investor_documents) ``.csv`` or ``.parquet`` files (``INVEST_SOURCE_DIR``); unset, a generated
    sample dataset under the home."""

    directory: str | None = Field(default=None, description="Directory of the source files.")

    def source_dir(self) -> Path:
        return Path(self.directory).expanduser().resolve() if self.directory else default_sample_dir()

    def read(self, table: str, since: datetime | None = None) -> Iterator[pd.DataFrame]:
        for chunk in read_local_table(self.source_dir(), table):
            yield chunk if since is None else rows_updated_after(chunk, since)

    def fingerprints(self, tables: Iterable[str]) -> dict[str, str]:
        """File name, size and modification time: one stat per table, no reading."""
        directory = self.source_dir()
        marks = {}
        for table in tables:
            path = table_file(directory, table)
            if path is None:
                marks[table] = "absent"
                continue
            stat = path.stat()
            marks[table] = f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"
        return marks

    def describe(self) -> str:
        return f"local files in {self.source_dir()}"
