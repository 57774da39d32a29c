"""Benchmark: find_investors throughput as concurrent clients are added, and statements per query.

N investors (default 20,000) with local-embedder vectors on every dimension and the HNSW
candidate index, as in bench_find_investors. Each client has its own connection and runs
the same six-vector queries through ``find_investors`` (the whole read path, runs row
included) for one user. Queries that serialize on a shared row lock gain nothing from a
second client; queries that share nothing scale with the server's cores.

    .venv/bin/python -m bench.bench_concurrent_queries --investors 20000 --queries 40 --clients 1 2 4
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.bench_find_investors import SELECTIVITY_TAGS, loaded, texts_for
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.search.find_investors import Filters, find_investors

EMBEDDER = EmbedderResource(provider="local")
# Half the rows pass: far more than an exact scan is cheaper for, so queries take the HNSW path.
FILTERS = Filters(sector=SELECTIVITY_TAGS["50%"][0], recency_months=None)


class CountingCursor(psycopg.Cursor):
    """Counts the statements a connection sends through cursors (BEGIN and COMMIT are not among them)."""

    executed = 0

    def execute(self, *args, **kwargs):
        CountingCursor.executed += 1
        return super().execute(*args, **kwargs)


def thesis(text: str) -> dict[str, str]:
    return {d: text if d == "sector" else f"{d} {text}" for d in ("sector", "stage", "signal")}


def client(url: str, queries: list[str]) -> None:
    with psycopg.connect(url) as conn:
        register_vector(conn)
        for text in queries:
            find_investors(conn, EMBEDDER, thesis(text), FILTERS, user="bench")


def queries_per_second(url: str, queries: list[str], clients: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, [url] * clients, [queries] * clients))
    return clients * len(queries) / (time.perf_counter() - started)


def statements_per_query(url: str, text: str) -> int:
    with psycopg.connect(url, cursor_factory=CountingCursor) as conn:
        register_vector(conn)
        find_investors(conn, EMBEDDER, thesis(text), FILTERS, user="bench")  # first use creates the user row
        CountingCursor.executed = 0
        find_investors(conn, EMBEDDER, thesis(text), FILTERS, user="bench")
        return CountingCursor.executed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=40, help="queries per client")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    queries = texts_for(np.random.default_rng(7), args.queries)["sector"]
    with loaded(args.investors, EMBEDDER) as url:
        print(f"statements per find_investors call (rerank, 3 dimensions): {statements_per_query(url, queries[0])}")
        print("| clients | queries/s | vs 1 client |")
        print("|---|---|---|")
        baseline = None
        for clients in args.clients:
            rate = queries_per_second(url, queries, clients)
            baseline = baseline or rate
            print(f"| {clients} | {rate:.1f} | {rate / baseline:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
