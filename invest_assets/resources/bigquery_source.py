"""The production source: the four source tables in a BigQuery dataset, read through
``dagster_gcp.BigQueryResource`` and the real ``google-cloud-bigquery`` client.

Queries are parameterized (the delta watermark is a ``@since`` TIMESTAMP parameter;
table paths are checked identifiers, never values), and results are streamed page by
page as Arrow record batches, so a large table is never held in memory at once. Each
page becomes a DataFrame with the contract's columns and native Python values
(ARRAY<STRING> -> list, NUMERIC -> int, DATE -> date, TIMESTAMP -> Timestamp) that
validation types like any other source's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

import pandas as pd
import pyarrow as pa
from dagster import EnvVar
from dagster_gcp import BigQueryResource
from google.api_core.exceptions import NotFound
from google.cloud import bigquery
from pydantic import Field

from invest_assets import settings
from invest_assets.resources.local_source import TableSource
from invest_assets.sources.schema import TABLES, SourceTable

# The BigQuery column type each contract kind is read from (the expected table DDL uses them).
BIGQUERY_TYPES = {
    "text": "STRING",
    "int": "INT64",
    "usd": "NUMERIC",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOL",
    "list": "ARRAY<STRING>",
}
PAGE_ROWS = 50_000
_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")


def checked_identifier(name: str, what: str) -> str:
    """Project, dataset and table names go into the SQL text, so only plain identifiers pass."""
    if not _IDENTIFIER.fullmatch(name or ""):
        raise ValueError(f"{what} {name!r} is not a valid BigQuery identifier")
    return name


def table_ddl(dataset: str, spec: SourceTable) -> str:
    """The BigQuery table a source table is read from."""
    columns = ",\n".join(
        f"  {c.name} {BIGQUERY_TYPES[c.kind]}{' NOT NULL' if c.name in spec.key_columns else ''}" for c in spec.columns
    )
    return f"CREATE TABLE `{dataset}.{spec.name}` (\n{columns}\n)"


def select_statement(table_path: str, spec: SourceTable, delta: bool) -> str:
    columns = ", ".join(f"`{name}`" for name in spec.column_names)
    # Rows without updated_at stay in a delta, like the local source, so they are never skipped silently.
    where = " WHERE `updated_at` > @since OR `updated_at` IS NULL" if delta else ""
    return f"SELECT {columns} FROM `{table_path}`{where}"


def _decimal_cell(value: Decimal | None):
    """Whole amounts become ints; a fractional one stays text so validation quarantines it by name."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else format(value, "f")


def typed_frame(batch: pa.RecordBatch, spec: SourceTable) -> pd.DataFrame:
    """One page of results as a contract DataFrame of native values."""
    frame = batch.to_pandas(integer_object_nulls=True, date_as_object=True)
    for field in batch.schema:
        if pa.types.is_decimal(field.type):
            frame[field.name] = frame[field.name].map(_decimal_cell).astype(object)
    return frame.reindex(columns=list(spec.column_names))


class BigQuerySource(TableSource):
    """Source tables in one BigQuery dataset (``INVEST_SOURCE=bigquery``)."""

    bigquery: BigQueryResource = Field(description="Project, location and credentials (dagster-gcp).")
    dataset: str = Field(description="Dataset holding the source tables.")
    table_names: dict[str, str] = Field(
        default_factory=dict, description="BigQuery table name per source table, when it differs from the contract's."
    )
    page_rows: int = Field(default=PAGE_ROWS, description="Rows per result page (one DataFrame chunk each).")

    def client(self) -> bigquery.Client:
        # Credentials are read when the client is built; the temporary credentials file
        # dagster-gcp writes is not needed afterwards, so the context closes at once.
        with self.bigquery.get_client() as client:
            return client

    def table_path(self, client: bigquery.Client, table: str) -> str:
        name = self.table_names.get(table, table)
        return ".".join(
            (
                checked_identifier(client.project, "project"),
                checked_identifier(self.dataset, "dataset"),
                checked_identifier(name, "table"),
            )
        )

    def read(self, table: str, since: datetime | None = None) -> Iterator[pd.DataFrame]:
        spec = TABLES[table]
        client = self.client()
        try:
            query = select_statement(self.table_path(client, table), spec, delta=since is not None)
            parameters = [] if since is None else [bigquery.ScalarQueryParameter("since", "TIMESTAMP", since)]
            try:
                job = client.query(query, job_config=bigquery.QueryJobConfig(query_parameters=parameters))
                rows = job.result(page_size=self.page_rows)
            except NotFound:
                if not spec.optional:
                    raise
                yield pd.DataFrame(columns=list(spec.column_names), dtype=object)  # a table the dataset leaves out
                return
            for batch in rows.to_arrow_iterable(bqstorage_client=None):
                yield typed_frame(batch, spec)
        finally:
            client.close()

    change_sync_mode: ClassVar[str] = "delta"

    def fingerprints(self, tables: Iterable[str]) -> dict[str, str]:
        """Row count and latest updated_at per table: the required tables in one query, each optional
        one in its own (a dataset may leave it out: "absent")."""
        tables = list(tables)
        required = [t for t in tables if not TABLES[t].optional]
        client = self.client()
        try:
            marks = self._fingerprints(client, required) if required else {}
            for table in (t for t in tables if TABLES[t].optional):
                try:
                    marks.update(self._fingerprints(client, [table]))
                except NotFound:
                    marks[table] = "absent"
            return marks
        finally:
            client.close()

    def _fingerprints(self, client: bigquery.Client, tables: list[str]) -> dict[str, str]:
        query = " UNION ALL ".join(
            f"SELECT '{table}' AS source_table, COUNT(*) AS row_count, MAX(updated_at) AS latest"
            f" FROM `{self.table_path(client, table)}`"
            for table in tables
        )
        return {row["source_table"]: f"{row['row_count']}:{row['latest']}" for row in client.query(query).result()}

    def describe(self) -> str:
        return f"BigQuery dataset {self.bigquery.project or '(default project)'}.{self.dataset}"


def parse_table_names(text: str) -> dict[str, str]:
    """``source=bigquery_table`` pairs, comma separated, for tables not named as in the contract."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    unknown = [pair for pair in pairs if len(pair) != 2 or pair[0].strip() not in TABLES]
    if unknown:
        raise ValueError(
            f"{settings.BIGQUERY_TABLES.name}: expected table=bigquery_table pairs for {sorted(TABLES)}, got {unknown}"
        )
    return {source.strip(): name.strip() for source, name in pairs}


def bigquery_source_from_env() -> BigQuerySource:
    """The ``INVEST_SOURCE=bigquery`` source; EnvVar keeps the project and key out of the UI and run config."""
    return BigQuerySource(
        bigquery=BigQueryResource(
            project=EnvVar(settings.BIGQUERY_PROJECT.name),
            location=settings.BIGQUERY_LOCATION.env_var(),
            gcp_credentials=settings.BIGQUERY_CREDENTIALS.env_var(),
        ),
        dataset=EnvVar(settings.BIGQUERY_DATASET.name),
        table_names=parse_table_names(settings.BIGQUERY_TABLES.raw() or ""),
    )
