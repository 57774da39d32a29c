"""Benchmark: how often the candidate index's walk misses a query's neighbours entirely, build after build.

The bench's investors (``bench_find_investors.load``) are loaded once. Their sector texts come from a
dozen sectors that share no words, so the local embedder's sector clusters are nearly orthogonal: the
case where a graph walk can settle in the wrong cluster. Then the sector dimension's candidate index is
rebuilt ``--builds`` times as the project builds it (``refresh_ann_index``: the distinct vectors copied,
then indexed), by each ``INVEST_ANN_METHOD``: HNSW (vectors/indexes.py's m and ef_construction) and
IVFFlat (sqrt(rows) lists, whose probes are chosen by exact distances to their centroids). After
each build ``--queries`` query texts walk it unfiltered for their 25 nearest distinct vectors, against
the exact 25 (numpy over the same vectors): mean recall@25, the queries below 0.5 and at 0, ms per walk.

    .venv/bin/python -m bench.bench_ann_robustness --investors 100000 --builds 3
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector

from bench.bench_find_investors import loaded, texts_for
from invest_assets import settings
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.search.find_investors import HNSW_EF_SEARCH
from invest_assets.vectors import distinct
from invest_assets.vectors.indexes import refresh_ann_index

K = 25
TABLE = distinct.vectors_table("sector")


def exact_neighbours(conn: psycopg.Connection, queries: np.ndarray) -> list[set[bytes]]:
    rows = conn.execute(f"SELECT text_hash, embedding FROM {TABLE}").fetchall()
    hashes = [bytes(text_hash) for text_hash, _ in rows]
    vectors = np.array([embedding.to_numpy() for _, embedding in rows], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [{hashes[i] for i in np.argsort(-similarities)[:K]} for similarities in queries @ vectors.T]


def walk_recalls(conn: psycopg.Connection, queries: np.ndarray, truth: list[set[bytes]]) -> tuple[np.ndarray, float]:
    """Each query's recall@25 through the index, and the mean ms of a walk."""
    recalls, started = [], time.perf_counter()
    for query, expected in zip(queries, truth, strict=True):
        found = conn.execute(
            f"SELECT text_hash FROM {TABLE} ORDER BY embedding <=> %s LIMIT {K}", (Vector(query),)
        ).fetchall()
        recalls.append(len({bytes(h) for (h,) in found} & expected) / K)
    return np.array(recalls), (time.perf_counter() - started) * 1000 / len(queries)


# INVEST_ANN_METHOD, the setting that widens its walk and the values measured, the walk's mode
METHODS = {
    "hnsw": ("hnsw.ef_search", sorted({40, HNSW_EF_SEARCH}), "SET hnsw.iterative_scan = strict_order"),
    "ivfflat": (
        "ivfflat.probes",
        sorted({5, settings.IVFFLAT_PROBES.value()}),
        "SET ivfflat.iterative_scan = relaxed_order",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--builds", type=int, default=3, help="builds of each index")
    args = parser.parse_args()
    embedder = EmbedderResource(provider="local")
    queries = np.array(embedder.embed(texts_for(np.random.default_rng(11), args.queries)["sector"]).vectors)
    with loaded(args.investors, embedder) as url, psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        truth = exact_neighbours(conn, queries)
        print(f"\n{len(queries)} queries, {conn.execute(f'SELECT count(*) FROM {TABLE}').fetchone()[0]} vectors\n")
        print("| index | build | built in s | walk setting | mean recall@25 | < 0.5 | at 0 | ms a walk |")
        print("|---|---|---|---|---|---|---|---|")
        for method, (setting, values, mode) in METHODS.items():
            os.environ[settings.ANN_METHOD.name] = method
            for number in range(args.builds):
                started = time.perf_counter()
                refresh_ann_index(conn, "sector")
                built = time.perf_counter() - started
                conn.execute(mode)
                for value in values:
                    conn.execute(f"SET {setting} = {int(value)}")
                    recalls, ms = walk_recalls(conn, queries, truth)
                    print(
                        f"| {method} | {number + 1} | {built:.1f} | {setting} {value} | {recalls.mean():.3f} "
                        f"| {(recalls < 0.5).sum()} | {(recalls == 0).sum()} | {ms:.1f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
