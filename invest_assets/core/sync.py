"""Sync one source table into its core table: a full reconcile or a delta since the watermark.

- **full**: everything the source has (within the run's months) is loaded and live rows
  the source no longer has are soft-deleted. It finds deletions and changes whose
  ``updated_at`` did not move.
- **delta**: only source rows with ``updated_at`` after the watermark (minus a small
  overlap for rows committed late with an older timestamp; re-reading a row is a no-op)
  are loaded; nothing is soft-deleted.

The watermark (``source_sync_state``) is the latest ``updated_at`` among rows synced
(loaded or quarantined). It is written in the load's own transaction, so it never moves
past rows that did not commit, and only by runs that own every month: a backfill of a
few months must not make the next delta skip changes in the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import psycopg
from psycopg import sql

from invest_assets import settings
from invest_assets.core.loader import LoadReport, load_table
from invest_assets.core.partitions import MonthWindow
from invest_assets.resources.local_source import TableSource
from invest_assets.sources.schema import SourceTable

MODES = ("full", "delta")


@dataclass
class SyncReport:
    load: LoadReport
    mode: str
    window: MonthWindow
    watermark_before: datetime | None
    watermark_after: datetime | None


class WatermarkTracker:
    """Passes raw chunks through and remembers the latest ``updated_at`` among them."""

    def __init__(self, chunks: Iterable[pd.DataFrame]):
        self.chunks = chunks
        self.latest: datetime | None = None

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for chunk in self.chunks:
            stamps = pd.to_datetime(chunk["updated_at"], errors="coerce", utc=True, format="ISO8601")
            if stamps.notna().any():
                newest = stamps.max().to_pydatetime()
                self.latest = newest if self.latest is None else max(self.latest, newest)
            yield chunk


def delta_overlap() -> timedelta:
    return timedelta(seconds=settings.DELTA_OVERLAP_SECONDS.value())


def read_watermark(conn: psycopg.Connection, table: str) -> datetime | None:
    row = conn.execute("SELECT watermark FROM source_sync_state WHERE table_name = %s", (table,)).fetchone()
    return row[0] if row else None


def synced_fingerprints(conn: psycopg.Connection) -> dict[str, str | None]:
    return dict(conn.execute("SELECT table_name, fingerprint FROM source_sync_state").fetchall())


def _record_sync(conn: psycopg.Connection, table: str, state: dict) -> None:
    conn.execute(
        """
        INSERT INTO source_sync_state (table_name, watermark, fingerprint, last_mode, last_run_id)
        VALUES (%(table)s, %(watermark)s, %(fingerprint)s, %(mode)s, %(run_id)s)
        ON CONFLICT (table_name) DO UPDATE SET
          watermark = GREATEST(source_sync_state.watermark, EXCLUDED.watermark),
          fingerprint = EXCLUDED.fingerprint,
          last_mode = EXCLUDED.last_mode, last_run_id = EXCLUDED.last_run_id, synced_at = now()
        """,
        {"table": table, **state},
    )


def _round_ids(conn: psycopg.Connection, window: MonthWindow, *, inside: bool) -> set[str]:
    condition = window.condition(sql.Identifier("announced_at"))
    query = sql.SQL("SELECT source_id FROM funding_rounds WHERE {}").format(
        condition if inside else sql.SQL("NOT {}").format(condition)
    )
    return {row[0] for row in conn.execute(query)}


RowFilter = Callable[[pd.DataFrame], pd.DataFrame]


def window_filter(conn: psycopg.Connection, spec: SourceTable, window: MonthWindow) -> RowFilter:
    """Keeps the raw rows the run's months own (see ``partitions``)."""
    if window.is_everything:
        return lambda chunk: chunk
    if spec.name == "funding_rounds":
        return lambda chunk: chunk[window.contains(chunk["announced_at"])]
    # investments go by their stored round's month; an unknown round's are undated.
    if window.holds_undated:
        outside = _round_ids(conn, window, inside=False)
        return lambda chunk: chunk[~chunk["funding_round_source_id"].isin(outside)]
    inside = _round_ids(conn, window, inside=True)
    return lambda chunk: chunk[chunk["funding_round_source_id"].isin(inside)]


def stored_scope(spec: SourceTable, window: MonthWindow) -> sql.Composable | None:
    """The stored rows a full sync of ``window`` reconciles (aliased ``t``)."""
    if window.is_everything:
        return None
    if spec.name == "funding_rounds":
        return window.condition(sql.SQL("t.announced_at"))
    return sql.SQL("EXISTS (SELECT 1 FROM funding_rounds r WHERE r.id = t.funding_round_id AND {})").format(
        window.condition(sql.SQL("r.announced_at"))
    )


def sync_table(
    conn: psycopg.Connection,
    spec: SourceTable,
    source: TableSource,
    run_id: str,
    *,
    mode: str = "full",
    window: MonthWindow | None = None,
) -> SyncReport:
    """Load ``spec`` from ``source`` in ``mode`` for ``window`` (default: every month)."""
    if mode not in MODES:
        raise ValueError(f"sync mode {mode!r}: expected one of {MODES}")
    window = window or MonthWindow.everything()
    before = read_watermark(conn, spec.name)
    owned = window_filter(conn, spec, window)
    conn.commit()
    since = before - delta_overlap() if mode == "delta" and before is not None else None
    mode = "delta" if since else "full"
    # Taken before reading: a change made while the sync reads is seen again next time.
    fingerprint = source.fingerprints([spec.name])[spec.name]
    tracker = WatermarkTracker(source.read(spec.name, since=since))
    with conn.transaction():
        report = load_table(
            conn,
            spec,
            (owned(chunk) for chunk in tracker),
            run_id,
            full_snapshot=since is None,
            scope=stored_scope(spec, window),
        )
        if window.is_everything:
            state = {"watermark": tracker.latest, "fingerprint": fingerprint, "mode": mode, "run_id": run_id}
            _record_sync(conn, spec.name, state)
    after = read_watermark(conn, spec.name)
    conn.commit()
    return SyncReport(report, mode, window, before, after)
