"""Monthly partitions of funding_rounds and investments, by month of ``announced_at``.

Every round belongs to exactly one partition, so a partitioned reload never misses or
double-owns a row:

- a round dated inside the partitioned history goes to its month;
- a round with no date, or dated before the first month, goes to the **first**
  partition, the catch-all for history the calendar cannot place (it is stable: such
  a row never moves when time passes);
- a round dated after the last month (the current one) goes to the **last** partition.

An investment belongs to its round's partition (the round as loaded in the database);
an investment of an unknown round has no date either, so the first partition owns it
(and quarantines it). The same rules exist twice, for raw source rows (pandas) and for
stored rows (SQL), and the tests hold them equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from dagster import AssetExecutionContext, MonthlyPartitionsDefinition, TimeWindow
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from psycopg import sql

from invest_assets import settings
from invest_assets.sources.schema import TABLES
from invest_assets.sources.validation import CellError, parse_cell

MONTH_FORMAT = "%Y-%m"
# The first month of the generated sample; set INVEST_PARTITIONS_START to your source's
# earliest month (rounds before it are kept in the first partition, never lost).
ANNOUNCED_AT = TABLES["funding_rounds"].column("announced_at")

MONTHLY = MonthlyPartitionsDefinition(
    start_date=settings.PARTITIONS_START.value(),
    fmt=MONTH_FORMAT,
    end_offset=1,  # the current, unfinished month is a partition too: new rounds land now
)


def all_months_tags(partitions: MonthlyPartitionsDefinition = MONTHLY) -> dict[str, str]:
    """Run tags for one run over every month (the assets' single-run backfill policy)."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: partitions.get_first_partition_key(),
        ASSET_PARTITION_RANGE_END_TAG: partitions.get_last_partition_key(),
    }


def _day(moment: datetime) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


@dataclass(frozen=True)
class MonthWindow:
    """The rounds a run owns: announced in [start, end), plus the catch-alls at the edges."""

    start: date
    end: date
    holds_undated: bool  # the window includes the first partition
    holds_later: bool  # the window includes the last partition

    @classmethod
    def everything(cls) -> MonthWindow:
        return cls(date.min, date.max, holds_undated=True, holds_later=True)

    @classmethod
    def for_run(cls, context: AssetExecutionContext, partitions: MonthlyPartitionsDefinition = MONTHLY) -> MonthWindow:
        """The run's months; a run with no partition owns every month."""
        if not (context.has_partition_key or context.has_partition_key_range):
            return cls.everything()
        return cls.for_time_window(context.partition_time_window, partitions)

    @classmethod
    def for_keys(cls, first: str, last: str, partitions: MonthlyPartitionsDefinition = MONTHLY) -> MonthWindow:
        start = partitions.time_window_for_partition_key(first).start
        end = partitions.time_window_for_partition_key(last).end
        return cls.for_time_window(TimeWindow(start, end), partitions)

    @classmethod
    def for_time_window(cls, window: TimeWindow, partitions: MonthlyPartitionsDefinition) -> MonthWindow:
        first = partitions.time_window_for_partition_key(partitions.get_first_partition_key())
        last = partitions.time_window_for_partition_key(partitions.get_last_partition_key())
        return cls(
            _day(window.start),
            _day(window.end),
            holds_undated=window.start <= first.start,
            holds_later=window.end >= last.end,
        )

    @property
    def is_everything(self) -> bool:
        return self.holds_undated and self.holds_later

    def __str__(self) -> str:
        if self.is_everything:
            return "all months"
        return f"{self.start:%Y-%m}...{date.fromordinal(self.end.toordinal() - 1):%Y-%m}"

    def owns(self, day: date | None) -> bool:
        if day is None:
            return self.holds_undated
        return (
            self.start <= day < self.end
            or (self.holds_undated and day < self.start)
            or (self.holds_later and day >= self.end)
        )

    def contains(self, raw_days: pd.Series) -> pd.Series:
        """Which raw source dates are owned, read exactly as the loader reads them (a date
        the loader cannot read is undated); parsed once per distinct value."""
        distinct = pd.Series(raw_days.unique())
        owned = dict(zip(distinct, distinct.map(lambda raw: self.owns(_announced_day(raw))), strict=True))
        return raw_days.map(owned).astype(bool)

    def condition(self, column: sql.Composable) -> sql.Composable:
        """The same rule in SQL, on a stored ``date`` column."""
        if self.is_everything:
            return sql.SQL("true")
        parts = ["({c} >= {s} AND {c} < {e})"]
        if self.holds_undated:
            parts.append("{c} IS NULL OR {c} < {s}")
        if self.holds_later:
            parts.append("{c} >= {e}")
        bounds = {"s": sql.Literal(self.start), "e": sql.Literal(self.end)}
        return sql.SQL("(" + " OR ".join(parts) + ")").format(c=column, **bounds)


def _announced_day(raw) -> date | None:
    try:
        return parse_cell(ANNOUNCED_AT, raw)
    except CellError:
        return None
