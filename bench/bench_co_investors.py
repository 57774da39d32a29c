"""Benchmark: the co_investor_pairs refresh as round sizes grow (quadratic pairs per round).

Two cases, each on a fresh database of the embedded server: the default sample dataset,
and a generated heavy-tail case (Pareto round sizes with rounds of several hundred
investors). Reports investor-pair rows the self-join produces before aggregation
(sum of k(k-1)/2), distinct pairs, refresh time, and the bytes PostgreSQL spilled to
temporary files (memory stays bounded by work_mem; the rest goes to disk).

    .venv/bin/python -m bench.bench_co_investors
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from dagster import materialize

from invest_assets.core.loader import load_table
from invest_assets.graph.assets import co_investor_pairs
from invest_assets.resources.database import (
    AlloyDBResource,
    apply_migrations,
    close_pools,
    embedded_server_url,
    stop_embedded_server,
)
from invest_assets.sources.local_files import read_local_table
from invest_assets.sources.schema import TABLES
from invest_assets.tools.sample_data import generate_sample


def load_sample(url: str, directory: Path) -> None:
    generate_sample(directory)
    with psycopg.connect(url) as conn:
        for table, spec in TABLES.items():
            load_table(conn, spec, read_local_table(directory, table), "bench")


def load_heavy_tail(url: str, investors: int = 20_000, rounds: int = 5_000, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    sizes = np.minimum(np.ceil(rng.pareto(1.1, size=rounds) * 2).astype(int) + 1, 800)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO investors (source_id, name, kind) SELECT 'i' || g, 'I' || g, 'firm'"
            " FROM generate_series(1, %s) g",
            (investors,),
        )
        conn.execute("INSERT INTO companies (source_id, name) VALUES ('c', 'C')")
        conn.execute(
            "INSERT INTO funding_rounds (source_id, company_id, announced_at)"
            " SELECT 'r' || g, (SELECT id FROM companies), date '2015-01-01' + (g %% 3000)"
            " FROM generate_series(1, %s) g",
            (rounds,),
        )
        with conn.cursor().copy(
            "COPY investments (source_id, funding_round_id, investor_id, is_lead) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "int8", "int8", "bool"])
            for round_id, size in enumerate(sizes, start=1):
                for position, investor in enumerate(rng.choice(investors, size=size, replace=False) + 1):
                    copy.write_row((f"{round_id}|{investor}", round_id, int(investor), position == 0))
        conn.execute("ANALYZE")  # as the loader does after every load


def measure(url: str) -> dict:
    with psycopg.connect(url) as conn:
        sizes = [r[0] for r in conn.execute("SELECT count(*) FROM investments GROUP BY funding_round_id")]
        spilled_before = conn.execute(
            "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]
    started = time.perf_counter()
    assert materialize([co_investor_pairs], resources={"database": AlloyDBResource(url=url)}).success
    seconds = time.perf_counter() - started
    close_pools()
    time.sleep(0.6)  # statistics are flushed asynchronously
    with psycopg.connect(url) as conn:
        pairs = conn.execute("SELECT count(*) FROM co_investor_pairs").fetchone()[0]
        spilled = conn.execute("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()").fetchone()[
            0
        ]
    return {
        "investments": sum(sizes),
        "largest_round": max(sizes),
        "pair_rows_before_aggregation": sum(k * (k - 1) // 2 for k in sizes),
        "distinct_pairs": pairs,
        "seconds": round(seconds, 2),
        "spilled_mb": round((spilled - spilled_before) / 2**20, 1),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        try:
            sample_url = embedded_server_url(str(home), database="bench_sample")
            heavy_url = embedded_server_url(str(home), database="bench_heavy")
            for url in (sample_url, heavy_url):
                apply_migrations(url)
            load_sample(sample_url, Path(tmp) / "sample")
            load_heavy_tail(heavy_url)
            for name, url in (("sample dataset", sample_url), ("heavy tail", heavy_url)):
                print(f"{name:15s}", measure(url))
        finally:
            close_pools()
            stop_embedded_server(str(home))


if __name__ == "__main__":
    main()
