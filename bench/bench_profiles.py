"""Benchmark: deriving every investor's profile (investor_profiles) at scale.

A graph of N investors is inserted server-side with generate_series: N/2 companies (sectors,
country, region, city, founding year, status, a short description), 2N rounds (types, dates,
amounts) and 6N investments (2-4 investors a round, some leads). Then, in one run:

1. the first derivation (every profile new),
2. a rerun with nothing changed (every text computed again, none written),
3. a rerun after 1% of the investors got one new investment each (only their changed texts written),

with the time of each and their ratio to the first, and the rows each wrote.

    .venv/bin/python -m bench.bench_profiles --investors 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time

import psycopg

from invest_assets.profiles.derive import derive_profiles
from invest_assets.resources.database import apply_migrations, embedded_server_url, stop_embedded_server

GRAPH = """
INSERT INTO investors (source_id, name, kind)
SELECT 'inv-' || g, 'Investor ' || g, CASE WHEN g % 3 = 0 THEN 'person' ELSE 'firm' END
FROM generate_series(1, {n}) g;
INSERT INTO companies (source_id, name, hq_country, hq_region, hq_city, founded_year, sectors, status, description)
SELECT 'co-' || g, 'Company ' || g, (ARRAY['US', 'US', 'GB', 'DE', 'IN'])[1 + g % 5],
       (ARRAY['CA', 'NY', 'MA', 'TX'])[1 + g % 4], (ARRAY['San Francisco', 'New York', 'Boston', 'Austin'])[1 + g % 4],
       2000 + g % 20, ARRAY[(ARRAY['fintech', 'climate', 'biotech', 'saas', 'consumer'])[1 + g % 5],
                            (ARRAY['payments', 'energy', 'health', 'devtools', 'retail'])[1 + g % 7 % 5]],
       (ARRAY['active', 'active', 'acquired', 'ipo', 'shutdown'])[1 + g % 5],
       (ARRAY['ledger for banks', 'grid batteries', 'antibody trials', 'developer analytics',
              'retail marketplace'])[1 + g % 5] || ' platform number ' || g % 97
FROM generate_series(1, {n} / 2) g;
INSERT INTO funding_rounds (source_id, company_id, round_type, announced_at, amount_usd)
SELECT 'r-' || g, 1 + g % ({n} / 2), (ARRAY['seed', 'series_a', 'series_b', 'series_c_plus', 'angel'])[1 + g % 5],
       date '2010-01-01' + (g::bigint * 7919 % 5000)::int, 500000 + (g::bigint * 104729 % 50) * 1000000
FROM generate_series(1, 2 * {n}) g;
INSERT INTO investments (source_id, funding_round_id, investor_id, is_lead)
SELECT 'r-' || r || '|' || k, r, 1 + (r * 31 + k * 7919) % {n}, k = 0
FROM generate_series(1, 2 * {n}) r, generate_series(0, 2 + r % 2) k
ON CONFLICT DO NOTHING;
ANALYZE;
"""
NEW_INVESTMENTS = """
INSERT INTO funding_rounds (source_id, company_id, round_type, announced_at, amount_usd)
SELECT 'new-' || g, 1 + g, 'seed', date '2024-01-01', 2000000 FROM generate_series(1, {k}) g;
INSERT INTO investments (source_id, funding_round_id, investor_id)
SELECT 'new-' || g, r.id, g * 97 FROM generate_series(1, {k}) g JOIN funding_rounds r ON r.source_id = 'new-' || g;
"""


def timed(url: str) -> tuple[float, int]:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        report = derive_profiles(conn)
        return time.perf_counter() - started, report.rows_changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=100_000)
    args = parser.parse_args()
    n = args.investors
    home = tempfile.mkdtemp(prefix="bench_profiles_")
    url = embedded_server_url(home)
    try:
        apply_migrations(url)
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            conn.execute(GRAPH.format(n=n))  # integers only: no parameters needed
            conn.commit()
            investments = conn.execute("SELECT count(*) FROM investments").fetchone()[0]
        print(
            f"graph: {n} investors, {n // 2} companies, {2 * n} rounds, {investments} investments "
            f"({time.perf_counter() - started:.1f} s to insert)"
        )
        first, written = timed(url)
        print(f"first derivation:          {first:7.2f} s, {written} investors written")
        again, written = timed(url)
        print(f"rerun, nothing changed:    {again:7.2f} s, {written} written ({again / first:.2f}x the first)")
        with psycopg.connect(url) as conn:
            conn.execute(NEW_INVESTMENTS.format(k=n // 100))
            conn.commit()
        changed, written = timed(url)
        print(f"rerun, 1% new investments: {changed:7.2f} s, {written} written ({changed / first:.2f}x the first)")
    finally:
        stop_embedded_server(home)


if __name__ == "__main__":
    main()
