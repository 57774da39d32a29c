"""Warm paths: an investor's strongest co-investors, with evidence, from co_investor_pairs."""

from __future__ import annotations

import psycopg

# Each side is one range scan of its (investor, shared_rounds DESC, last_shared_at DESC) index.
WARM_PATHS = """
WITH me AS (SELECT id FROM investors WHERE source_id = %(investor)s OR id::text = %(investor)s LIMIT 1),
pairs AS (
  (SELECT p.investor_b_id AS other, p.shared_rounds, p.shared_companies, p.last_shared_at, p.a_led AS i_led,
          p.b_led AS they_led
   FROM co_investor_pairs p, me WHERE p.investor_a_id = me.id
   ORDER BY p.shared_rounds DESC, p.last_shared_at DESC LIMIT %(limit)s)
  UNION ALL
  (SELECT p.investor_a_id, p.shared_rounds, p.shared_companies, p.last_shared_at, p.b_led, p.a_led
   FROM co_investor_pairs p, me WHERE p.investor_b_id = me.id
   ORDER BY p.shared_rounds DESC, p.last_shared_at DESC LIMIT %(limit)s)
)
SELECT v.source_id, v.name, pairs.shared_rounds, pairs.shared_companies, pairs.last_shared_at, pairs.i_led,
       pairs.they_led,
       (SELECT array_agg(DISTINCT c.name ORDER BY c.name) FROM investments a
          JOIN investments b ON b.funding_round_id = a.funding_round_id AND b.investor_id = pairs.other
          JOIN funding_rounds r ON r.id = a.funding_round_id AND r.deleted_at IS NULL
          JOIN companies c ON c.id = r.company_id
        WHERE a.investor_id = (SELECT id FROM me) AND a.deleted_at IS NULL AND b.deleted_at IS NULL) AS companies
FROM pairs JOIN investors v ON v.id = pairs.other AND v.deleted_at IS NULL
ORDER BY pairs.shared_rounds DESC, pairs.last_shared_at DESC NULLS LAST, v.name
LIMIT %(limit)s
"""

COLUMNS = (
    "source_id",
    "name",
    "shared_rounds",
    "shared_companies",
    "last_shared_at",
    "they_led_with_me",
    "i_led_with_them",
    "companies",
)


def warm_paths(conn: psycopg.Connection, investor: str, limit: int = 10) -> list[dict]:
    """Strongest co-investors of ``investor`` (a source_id or id), strongest first."""
    rows = conn.execute(WARM_PATHS, {"investor": investor, "limit": limit}).fetchall()
    return [
        dict(zip(COLUMNS, (s, n, r, c, d, they, me, companies), strict=True))
        for s, n, r, c, d, me, they, companies in rows
    ]


def investor_exists(conn: psycopg.Connection, investor: str) -> bool:
    """Whether ``investor`` (a source_id or id) names a live investor; two index lookups."""
    if conn.execute("SELECT 1 FROM investors WHERE source_id = %s AND deleted_at IS NULL", (investor,)).fetchone():
        return True
    return (
        investor.isdigit()
        and int(investor) < 2**63
        and conn.execute("SELECT 1 FROM investors WHERE id = %s AND deleted_at IS NULL", (int(investor),)).fetchone()
        is not None
    )
