"""Benchmark: find_investors latency and recall@25 at several filter selectivities.

N investors (default 100,000) with local-embedder vectors on every dimension are COPYed
in bulk and the HNSW candidate index is built once. For filters leaving about 1%, 10%
and 50% of the rows, each query runs as a user's call does (``find_investors``: its own
choice of scan, the query embedding and the ``runs`` row included), then through the HNSW
index (iterative scan) and as an exact scan, in the same run, for the single-vector and the
six-vector variants; recall@25 compares the index's page with the exact page. With ``--storage vector
halfvec`` the same rows are then converted to halfvec (``invest-assets vector-storage``) and measured again,
the whole calls' recall taken against the float4 exact pages. With ``--ann-method hnsw ivfflat`` the
candidate index is then built again as IVFFlat (``INVEST_ANN_METHOD``, ``refresh_ann_index``) and measured
again (the forced walks' ef_search and iterative scan columns are HNSW's; IVFFlat walks with
``INVEST_IVFFLAT_PROBES`` probes, relaxed order).

    .venv/bin/python -m bench.bench_find_investors --investors 100000 --queries 30 --storage vector halfvec
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector

from invest_assets import settings
from invest_assets.resources.database import apply_migrations, embedded_server_url, stop_embedded_server
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.search.checks import page_recall
from invest_assets.search.find_investors import (
    EXACT,
    EXACTLY_COMPLETED,
    HNSW_EF_SEARCH,
    HNSW_ITERATIVE_SCAN,
    WALK,
    Filters,
    find_investors,
    search,
)
from invest_assets.sources.schema import DIMENSIONS, dimension_column
from invest_assets.tools.sample_data import SECTORS
from invest_assets.vectors import distinct
from invest_assets.vectors.indexes import HNSW_EF_CONSTRUCTION, HNSW_M, ensure_ann_index, refresh_ann_index
from invest_assets.vectors.models import register_model
from invest_assets.vectors.storage import STORAGE_TYPES, set_storage, storage_types

SELECTIVITY_TAGS = {"1%": ("tag1", 0.01), "3%": ("tag3", 0.03), "10%": ("tag10", 0.10), "50%": ("tag50", 0.50)}


def texts_for(rng: np.random.Generator, n: int) -> dict[str, list[str]]:
    sectors = list(SECTORS)
    picks = rng.integers(0, len(sectors), size=n)
    words = {s: v.split() for s, v in SECTORS.items()}
    sector = [f"{sectors[p]} " + " ".join(rng.choice(words[sectors[p]], 4)) for p in picks]
    return {d: [f"{d} {t}" for t in sector] if d != "sector" else sector for d in DIMENSIONS}


def load(url: str, n: int, embedder: EmbedderResource, m: int, ef_construction: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    texts = texts_for(rng, n)
    tags = [[tag for tag, share in SELECTIVITY_TAGS.values() if draw < share] + ["any"] for draw in rng.random(n)]
    with psycopg.connect(url) as conn:
        register_vector(conn)
        model_id = register_model(conn, embedder.identity)
        conn.execute("DROP INDEX IF EXISTS investor_sector_vectors_ann")  # the load then writes no HNSW graph
        suffixes = ("text", "embedding", "embedded_hash", "model_id", "embedded_at")
        columns = [dimension_column(d, c) for d in DIMENSIONS for c in suffixes]
        vectors = {d: embedder.embed(texts[d]).vectors for d in DIMENSIONS}
        with conn.cursor().copy(
            f"COPY investors (source_id, name, kind, focus_sectors, {', '.join(columns)}) FROM STDIN"
        ) as copy:
            for i in range(n):
                row = [f"b{i}", f"Bench {i}", "firm", tags[i]]
                for d in DIMENSIONS:
                    row += [texts[d][i], Vector(vectors[d][i]), b"-", model_id, "2026-01-01"]
                copy.write_row(row)
        conn.execute(
            "UPDATE investors SET "
            + ", ".join(
                f"{dimension_column(d, 'embedded_hash')} = {dimension_column(d, 'text_hash')}" for d in DIMENSIONS
            )
        )
        distinct_vectors = distinct.fill_next(conn, "sector")
        conn.commit()
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute(
            "CREATE INDEX investor_sector_vectors_next_ann ON investor_sector_vectors_next"
            f" USING hnsw (embedding vector_cosine_ops) WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
        )
        distinct.swap_in(conn, "sector")
        conn.commit()
        print(
            f"HNSW build (m={m}, ef_construction={ef_construction}) over the {distinct_vectors} distinct of {n}"
            f" vectors: {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    # A serving table is vacuumed (autovacuum): the hash UPDATE above left a dead version of every row,
    # which the exact scan's heap reads would otherwise step over and set hint bits on.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE investors")


@contextmanager
def loaded(
    investors: int, embedder: EmbedderResource, m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION
) -> Iterator[str]:
    """The URL of a database of a temporary embedded server, holding ``load``'s investors."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        url = embedded_server_url(str(home), database="bench")
        apply_migrations(url)
        try:
            load(url, investors, embedder, m, ef_construction)
            yield url
        finally:
            stop_embedded_server(str(home))


def query_texts(text: str, variant: str) -> dict[str, str]:
    if variant == "single":
        return {"sector": text}
    return {d: f"{d} {text}" if d != "sector" else text for d in ("sector", "stage", "signal")}


def whole_calls(conn, embedder, queries, tag, variant, truth) -> tuple[float, float, set[str], float]:
    """p50 and p95 ms of ``find_investors`` as a user calls it, the scans it chose, and recall@25 by id
    against ``truth`` (the float4 exact pages); each query runs once untimed first, so the figures are a
    warm server's (the steady state of a serving database)."""
    latencies, scans, recalls = [], set(), []
    for timed in (False, True):
        for text in queries:
            started = time.perf_counter()
            result = find_investors(
                conn, embedder, query_texts(text, variant), Filters(sector=tag, recency_months=None), variant=variant
            )
            if timed:
                latencies.append((time.perf_counter() - started) * 1000)
                scans.add(result.scan)
                expected = truth[(variant, tag, text)]
                recalls.append(len({r["id"] for r in result.investors} & expected) / max(len(expected), 1))
    return np.percentile(latencies, 50), np.percentile(latencies, 95), scans, float(np.mean(recalls))


def exact_pages(conn, embedder, queries) -> dict[tuple[str, str, str], set[int]]:
    """Every query's exact page of 25, by id: the truth the other storage is measured against."""
    return {
        (variant, tag, text): {
            r["id"]
            for r in search(
                conn,
                embedder,
                query_texts(text, variant),
                Filters(sector=tag, recency_months=None),
                variant,
                limit=25,
                scan="exact",
            ).investors
        }
        for variant in ("single", "rerank")
        for tag, _ in SELECTIVITY_TAGS.values()
        for text in queries
    }


def sizes(conn) -> str:
    table, vectors, index = conn.execute(
        "SELECT pg_total_relation_size('investors'), pg_table_size('investor_sector_vectors'),"
        " pg_relation_size('investor_sector_vectors_ann')"
    ).fetchone()
    return (
        f"investors with its TOAST and indexes {table / 2**30:.2f} GiB, the distinct sector vectors"
        f" {vectors / 2**20:.0f} MiB, their ANN index {index / 2**20:.0f} MiB"
    )


def measure(conn, embedder, queries, tag, variant, hnsw):
    latencies = {WALK: [], EXACT: []}
    recalls, tie_recalls, completed_exactly = [], [], 0
    for text in queries:
        pages, results = {}, {}
        texts = query_texts(text, variant)
        for scan in latencies:
            started = time.perf_counter()
            result = search(
                conn, embedder, texts, Filters(sector=tag, recency_months=None), variant, limit=25, scan=scan, hnsw=hnsw
            )
            latencies[scan].append((time.perf_counter() - started) * 1000)
            pages[scan] = {r["id"] for r in result.investors}
            results[scan] = result.investors
            completed_exactly += result.scan.endswith(EXACTLY_COMPLETED)
        recalls.append(len(pages[WALK] & pages[EXACT]) / max(len(pages[EXACT]), 1))
        tie_recalls.append(page_recall(results[EXACT], results[WALK]))
    percentiles = {scan: (np.percentile(v, 50), np.percentile(v, 95)) for scan, v in latencies.items()}
    return percentiles, np.mean(recalls), np.mean(tie_recalls), completed_exactly


def use_method(conn, method: str) -> None:
    """The candidate index built again by ``method``, as ``invest-assets index`` would with INVEST_ANN_METHOD."""
    conn.commit()  # ends the last search's transaction, and with it its statement timeout
    os.environ[settings.ANN_METHOD.name] = method
    started = time.perf_counter()
    outcome = refresh_ann_index(conn, "sector")
    print(f"\n{outcome}: {time.perf_counter() - started:.1f} s", flush=True)


def report(conn, embedder, queries, storage, method, truth, args) -> None:
    """One storage's and index's tables: its conversion (after the first), sizes, whole calls, both scans
    forced."""
    conn.commit()  # ends the transaction of the last search, and with it the statement timeout it set
    if storage != storage_types(conn)["sector"].split("(")[0]:
        started = time.perf_counter()
        set_storage(conn, storage)  # a table rewrite: no dead rows left
        converted = time.perf_counter() - started
        conn.execute("DROP INDEX investor_sector_vectors_ann")  # built again alone, to time the rebuild by itself
        started = time.perf_counter()
        ensure_ann_index(conn, "sector")
        built = time.perf_counter() - started
        conn.execute("ANALYZE investors")
        conn.commit()
        print(
            f"\nconverted to {storage} (table rewrite, distinct vectors rebuilt): {converted:.1f} s;"
            f" the rebuild alone: {built:.1f} s"
        )
    print(f"\n{storage}, {method}: {sizes(conn)}\n")
    print("| storage | variant | filter keeps | whole call p50 / p95 ms | scan chosen | recall@25 vs float4 exact |")
    print("|---|---|---|---|---|---|")
    for variant in ("single", "rerank"):
        for label, (tag, _) in SELECTIVITY_TAGS.items():
            p50, p95, scans, recall = whole_calls(conn, embedder, queries, tag, variant, truth)
            print(
                f"| {storage} {method} | {variant} | {label} | {p50:.1f} / {p95:.1f} | {', '.join(sorted(scans))} "
                f"| {recall:.3f} |",
                flush=True,
            )
    print(
        "\n| variant | filter keeps | iterative scan | ef_search | index walk p50 / p95 ms | exact p50 / p95 ms "
        "| recall@25 by id | recall@25, ties count | index pages completed exactly |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for variant in ("single", "rerank"):
        for label, (tag, _) in SELECTIVITY_TAGS.items():
            for mode, ef_search in itertools.product(args.iterative_scan, args.ef_search):
                latency, recall, tie_recall, completed = measure(
                    conn, embedder, queries, tag, variant, (ef_search, mode)
                )
                (h50, h95), (e50, e95) = latency[WALK], latency[EXACT]
                print(
                    f"| {variant} | {label} | {mode} | {ef_search} | {h50:.1f} / {h95:.1f} "
                    f"| {e50:.1f} / {e95:.1f} | {recall:.3f} | {tie_recall:.3f} | {completed}/{len(queries)} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument(
        "--ef-search",
        type=int,
        nargs="+",
        default=[HNSW_EF_SEARCH],
        help="hnsw.ef_search values to measure, each against the same exact scans",
    )
    parser.add_argument(
        "--iterative-scan",
        nargs="+",
        default=[HNSW_ITERATIVE_SCAN],
        choices=["strict_order", "relaxed_order"],
        help="hnsw.iterative_scan modes to measure",
    )
    parser.add_argument("--m", type=int, default=HNSW_M, help="HNSW build parameter m")
    parser.add_argument(
        "--ef-construction", type=int, default=HNSW_EF_CONSTRUCTION, help="HNSW build parameter ef_construction"
    )
    parser.add_argument(
        "--storage",
        nargs="+",
        default=["vector"],
        choices=list(STORAGE_TYPES),
        help="vector storages to measure in turn, converting the same rows (vectors/storage.py)",
    )
    parser.add_argument(
        "--ann-method",
        nargs="+",
        default=["hnsw"],
        choices=["hnsw", "ivfflat"],
        help="candidate indexes to measure in turn, the first built by the bench (m, ef_construction)",
    )
    args = parser.parse_args()
    embedder = EmbedderResource(provider="local")
    rng = np.random.default_rng(7)
    queries = texts_for(rng, args.queries)["sector"]
    with loaded(args.investors, embedder, args.m, args.ef_construction) as url, psycopg.connect(url) as conn:
        register_vector(conn)
        truth = exact_pages(conn, embedder, queries)
        conn.commit()
        for method in args.ann_method:
            if method != "hnsw":
                use_method(conn, method)
            for storage in args.storage:
                report(conn, embedder, queries, storage, method, truth, args)


if __name__ == "__main__":
    main()
