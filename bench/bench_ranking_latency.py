"""Benchmark: the learned graph variant's latency beside the seed rerank, on a built database.

For N companies with rounds (a fixed pseudo-random pick), each company becomes a query as
``find-investors --company`` makes it (its sectors and country as texts, its investors before
``--as-of``) and runs, whole call including its ``runs`` row, through the graph variant and through
the seed's rerank with the same texts and filters, interleaved, in one run; p50/p95 of each and
their ratio.

    INVEST_ASSETS_HOME=/tmp/real2013/home .venv/bin/python -m bench.bench_ranking_latency \\
        --companies 200 --as-of 2013-06-01
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np

from invest_assets.resources.factories import database_resource, embedder_resource, resolved
from invest_assets.search.find_investors import Filters, company_query, find_investors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.today())
    args = parser.parse_args()
    embedder = resolved(embedder_resource())
    latencies = {"graph": [], "rerank": []}
    with resolved(database_resource()).connection() as conn:
        companies = [
            row[0]
            for row in conn.execute(
                "SELECT source_id FROM companies c WHERE deleted_at IS NULL AND cardinality(sectors) > 0"
                " AND EXISTS (SELECT 1 FROM funding_rounds r WHERE r.company_id = c.id)"
                " ORDER BY md5(source_id) LIMIT %s",
                (args.companies,),
            )
        ]
        filters = Filters(as_of=args.as_of)
        for source_id in companies:
            texts, graph = company_query(conn, source_id, args.as_of)
            for variant in latencies:
                started = time.perf_counter()
                find_investors(
                    conn,
                    embedder,
                    texts,
                    filters,
                    user="bench",
                    variant=variant,
                    graph=graph if variant == "graph" else None,
                )
                latencies[variant].append((time.perf_counter() - started) * 1000)
    print(f"{len(companies)} company queries as of {args.as_of}, whole find_investors call:")
    print("| variant | p50 ms | p95 ms |\n|---|---|---|")
    for variant, values in latencies.items():
        print(f"| {variant} | {np.percentile(values, 50):.1f} | {np.percentile(values, 95):.1f} |")
    ratio = np.percentile(latencies["graph"], 50) / np.percentile(latencies["rerank"], 50)
    print(f"graph / rerank at p50: {ratio:.2f}x")


if __name__ == "__main__":
    main()
