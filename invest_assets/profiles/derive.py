"""Derive every investor's profile from the live investment graph and write what changed.

One transaction: the history and the profiles are built set-based into temporary tables
(``templates``), then one UPDATE writes the derived columns of the investors whose derived
values differ (or whose template version is older). The served columns follow through the
trigger of migration 0040, so an unchanged text keeps its hash and its vector.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

import psycopg
from psycopg import sql

from invest_assets.profiles.templates import DERIVED_FIELDS, HISTORY, PROFILES, TEMPLATE_VERSION, parameters


@dataclass
class ProfileReport:
    investors_with_history: int = 0
    rows_changed: int = 0
    changed_by_field: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _derived(column: str) -> sql.Identifier:
    return sql.Identifier(f"{column}_derived")


def _changed_counts(conn: psycopg.Connection) -> dict[str, int]:
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE v.{} IS DISTINCT FROM p.{})").format(_derived(f), sql.Identifier(f))
        for f in DERIVED_FIELDS
    )
    row = conn.execute(
        sql.SQL(
            "SELECT {} FROM investors v LEFT JOIN derived_profiles p ON p.investor_id = v.id WHERE v.deleted_at IS NULL"
        ).format(counts)
    ).fetchone()
    return dict(zip(DERIVED_FIELDS, row, strict=True))


WRITE = sql.SQL("""
UPDATE investors v SET ({targets}) = ROW({values}),
       profile_version = d.version, profile_derived_at = now()
FROM (SELECT x.id, p.*, CASE WHEN p.investor_id IS NOT NULL THEN %(version)s END AS version
      FROM investors x LEFT JOIN derived_profiles p ON p.investor_id = x.id
      WHERE x.deleted_at IS NULL) d
WHERE v.id = d.id
  AND (ROW({targets_v}) IS DISTINCT FROM ROW({values}) OR v.profile_version IS DISTINCT FROM d.version)
""").format(
    targets=sql.SQL(", ").join(_derived(f) for f in DERIVED_FIELDS),
    targets_v=sql.SQL(", ").join(sql.SQL("v.{}").format(_derived(f)) for f in DERIVED_FIELDS),
    values=sql.SQL(", ").join(sql.SQL("d.{}").format(sql.Identifier(f)) for f in DERIVED_FIELDS),
)


def derive_profiles(conn: psycopg.Connection, as_of: date | None = None) -> ProfileReport:
    """Re-derive every live investor's profile from rounds before ``as_of`` (None: all)."""
    started = time.perf_counter()
    report = ProfileReport()
    params = parameters(as_of)
    with conn.transaction():
        conn.execute(HISTORY, params)
        conn.execute("ANALYZE profile_history")
        conn.execute(PROFILES, params)
        report.investors_with_history = conn.execute("SELECT count(*) FROM derived_profiles").fetchone()[0]
        report.changed_by_field = _changed_counts(conn)
        report.rows_changed = conn.execute(WRITE, {"version": TEMPLATE_VERSION}).rowcount
        conn.execute("DROP TABLE profile_history, derived_profiles")
    report.seconds = round(time.perf_counter() - started, 3)
    return report
