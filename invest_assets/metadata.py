"""Materialization metadata shared by every asset family: a few rows as a Markdown table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg
from dagster import MetadataValue
from psycopg import sql

PREVIEW_ROWS = 5


def _cell(value: object) -> str:
    # A pipe or a line break inside a value would end the cell or the row.
    return "" if value is None else str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def preview(conn: psycopg.Connection, query: sql.Composable | str, params: Sequence | dict | None = None):
    """The rows of a small query (its column aliases as headers), for the UI's metadata panel."""
    cursor = conn.execute(query, params)
    return MetadataValue.md(markdown_table([c.name for c in cursor.description], cursor.fetchall()))
