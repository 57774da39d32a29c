"""End to end on the real Crunchbase data: convert, load the four core assets, count co-investors.

Converts the 2013 open data (companies + rounds, with the 80,245-row investor links, and
again with the June 2013 links of 102 VC firms) and the current bulk-export sample to the
local layout, materializes the core assets from each
into its own database of a throwaway embedded server (a temp INVEST_ASSETS_HOME), and
reports rows loaded, rows quarantined by reason, co-investor pairs and the top pairs
(from the graph assets' ``co_investor_pairs`` table when that family exists, otherwise
counted with SQL). Skips, saying so, when the data directory is absent.

    .venv/bin/python -m bench.bench_realvc [/work/shared/data/realvc]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from dagster import DagsterInstance, materialize

from invest_assets.core.assets import core_assets
from invest_assets.resources.database import (
    AlloyDBResource,
    apply_migrations,
    embedded_server_url,
    stop_embedded_server,
)
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.sources.schema import TABLES
from invest_assets.tools.crunchbase import (
    convert_bulk_export,
    convert_open_data_2013,
    name_and_date_links,
    techcrunch_links,
)

DEFAULT_DATA = Path("/work/shared/data/realvc")

SQL_PAIRS = """
WITH links AS (
  SELECT DISTINCT funding_round_id, investor_id FROM investments WHERE deleted_at IS NULL
)
SELECT a.investor_id, b.investor_id, count(*) AS shared_rounds
FROM links a JOIN links b ON a.funding_round_id = b.funding_round_id AND a.investor_id < b.investor_id
GROUP BY 1, 2
"""


def graph_assets() -> list:
    """The graph family's assets when another helper has added them; none otherwise."""
    try:
        from invest_assets import graph
    except ImportError:
        return []
    definitions = getattr(graph, "defs", None)
    return list(definitions.assets or []) if definitions is not None else []


def load(url: str, directory: Path) -> tuple[float, bool]:
    extra = graph_assets()
    started = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [*core_assets, *extra],
            instance=instance,
            resources={"database": AlloyDBResource(url=url), "source": LocalFileSource(directory=str(directory))},
            raise_on_error=False,
        )
    if not result.success:
        sys.exit(f"load of {directory} failed")
    return time.perf_counter() - started, bool(extra)


def pair_counts(conn) -> tuple[int, list[tuple[str, str, int]], str]:
    has_table = conn.execute("SELECT to_regclass('co_investor_pairs') IS NOT NULL").fetchone()[0]
    if has_table:
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'co_investor_pairs'"
            )
        }
        if {"investor_a_id", "investor_b_id", "shared_rounds"} <= columns:
            query, origin = (
                "SELECT investor_a_id, investor_b_id, shared_rounds FROM co_investor_pairs",
                "co_investor_pairs",
            )
        else:
            query, origin = SQL_PAIRS, f"SQL (co_investor_pairs has columns {sorted(columns)})"
    else:
        query, origin = SQL_PAIRS, "SQL over investments (no co_investor_pairs table)"
    total = conn.execute(f"SELECT count(*) FROM ({query}) p").fetchone()[0]
    top = conn.execute(
        f"SELECT a.name, b.name, p.shared_rounds FROM ({query}) p(a_id, b_id, shared_rounds)"
        " JOIN investors a ON a.id = p.a_id JOIN investors b ON b.id = p.b_id"
        " ORDER BY p.shared_rounds DESC, a.name, b.name LIMIT 10"
    ).fetchall()
    return total, top, origin


def report_database(url: str) -> None:
    with psycopg.connect(url) as conn:
        for table in TABLES:
            live = conn.execute(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL").fetchone()[0]
            print(f"  loaded {table:<15} {live:>8,}")
        rows = conn.execute(
            "SELECT table_name, split_part(reason, ':', 1) AS code, count(*) FROM quarantine"
            " GROUP BY 1, 2 ORDER BY 1, 3 DESC"
        ).fetchall()
        print(f"  quarantined {sum(r[2] for r in rows):,} rows:")
        for table, code, count in rows:
            print(f"    {table:<15} {code:<28} {count:>7,}")
        total, top, origin = pair_counts(conn)
        print(f"  co-investor pairs: {total:,}  (from {origin})")
        for a, b, shared in top:
            print(f"    {shared:>4}  {a} + {b}")


def run(label: str, convert, url: str, out: Path) -> None:
    started = time.perf_counter()
    conversion = convert(out)
    converted = time.perf_counter() - started
    apply_migrations(url)
    loaded, with_graph = load(url, out)
    print(f"\n== {label}")
    print(f"  converted in {converted:.2f} s: {conversion.summary()}")
    print(f"  loaded in {loaded:.2f} s (core assets{' + graph assets' if with_graph else ''})")
    report_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    data: Path = args.data
    if not (data / "crunchbase-october-2013").is_dir():
        print(f"no real data at {data}; nothing to do")
        return

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["INVEST_ASSETS_HOME"] = str(home)
        october = data / "crunchbase-october-2013"
        try:
            run(
                "2013 open data (companies, rounds, 80k investor links)",
                lambda out: convert_open_data_2013(
                    october / "crunchbase-companies.csv",
                    october / "crunchbase-rounds.csv",
                    name_and_date_links(data / "holmesjoli-crunchbase-2013" / "investments.csv"),
                    out,
                ),
                embedded_server_url(str(home), database="realvc_2013"),
                Path(tmp) / "open_data_2013",
            )
            techcrunch = data / "hernamesbarbara-techcrunch-2013"
            run(
                "2013 open data with the June 2013 links of 102 VC firms (TechCrunch API files)",
                lambda out: convert_open_data_2013(
                    october / "crunchbase-companies.csv",
                    october / "crunchbase-rounds.csv",
                    techcrunch_links(techcrunch / "investments.csv", techcrunch / "investors.csv"),
                    out,
                ),
                embedded_server_url(str(home), database="realvc_techcrunch"),
                Path(tmp) / "techcrunch_2013",
            )
            run(
                "bulk-export sample (2017 layout)",
                lambda out: convert_bulk_export(data / "crunchbase-2017-sample", out),
                embedded_server_url(str(home), database="realvc_bulk"),
                Path(tmp) / "bulk_sample",
            )
        finally:
            stop_embedded_server(str(home))


if __name__ == "__main__":
    main()
