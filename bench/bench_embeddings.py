"""Benchmark: building the six embedding columns with the local embedder.

Reports, measured in one run on the embedded database: vectors per second for the full
build of N investors (the six dimensions in one pass, as the ``investor_embeddings`` step
runs them), the time the embedder alone takes for the same texts, the same vectors written
by one plain binary COPY into a bare table (the ceiling), their ratios, and an incremental
run after changing 1% of one dimension's texts as a fraction of the full build.

    .venv/bin/python -m bench.bench_embeddings --investors 20000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector

from invest_assets.core.loader import load_table
from invest_assets.embeddings.incremental import BATCH_ROWS, embed_dimensions
from invest_assets.resources.database import apply_migrations, embedded_server_url, stop_embedded_server
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.sources.local_files import read_local_table
from invest_assets.sources.schema import DIMENSIONS, INVESTORS
from invest_assets.tools.sample_data import generate_sample


def plain_copy_seconds(url: str, vectors: np.ndarray) -> float:
    with psycopg.connect(url) as conn:
        register_vector(conn)
        conn.execute("CREATE TABLE bare (id bigint, embedding vector(1536))")
        conn.commit()
        conn.execute("CHECKPOINT")  # what the build left dirty is not written during this COPY
        started = time.perf_counter()
        with conn.cursor().copy("COPY bare (id, embedding) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "vector"])
            for i, vector in enumerate(vectors):
                copy.write_row((i, Vector(vector)))
        conn.commit()
        return time.perf_counter() - started


def embedder_seconds(conn: psycopg.Connection, embedder: EmbedderResource) -> float:
    """The embedder's own time for every text the build embeds, in the build's batch size."""
    texts = [
        text
        for d in DIMENSIONS
        for (text,) in conn.execute(f"SELECT {d}_text FROM investors WHERE {d}_text_hash IS NOT NULL ORDER BY id")
    ]
    started = time.perf_counter()
    for i in range(0, len(texts), BATCH_ROWS):
        embedder.embed(texts[i : i + BATCH_ROWS])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=20_000)
    args = parser.parse_args()
    embedder = EmbedderResource(provider="local")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        generate_sample(Path(tmp) / "src", investors=args.investors, companies=0, rounds=0)
        url = embedded_server_url(str(home), database="bench")
        apply_migrations(url)
        try:
            with psycopg.connect(url) as conn:
                register_vector(conn)
                load_table(conn, INVESTORS, read_local_table(Path(tmp) / "src", "investors"), "bench")
                embedder_alone = embedder_seconds(conn, embedder)
                conn.execute("CHECKPOINT")  # the load's dirty pages are not written during the build
                started = time.perf_counter()
                embedded = sum(r.embedded for r in embed_dimensions(conn, embedder, DIMENSIONS).values())
                full = time.perf_counter() - started
                changed = conn.execute(
                    "UPDATE investors SET signal_text = signal_text || ' and durable moats'"
                    " WHERE id % 100 = 0 AND signal_text IS NOT NULL"
                ).rowcount
                conn.commit()
                started = time.perf_counter()
                incremental = sum(r.embedded for r in embed_dimensions(conn, embedder, DIMENSIONS).values())
                delta = time.perf_counter() - started
                sample = conn.execute("SELECT sector_embedding FROM investors WHERE sector_embedding IS NOT NULL")
                vectors = np.array([row[0].to_numpy() for row in sample])
            vectors = np.resize(vectors, (embedded, vectors.shape[1]))
            ceiling = plain_copy_seconds(url, vectors)
        finally:
            stop_embedded_server(str(home))
    print(f"investors: {args.investors}, vectors embedded (6 dimensions): {embedded}")
    print(f"full build            : {full:7.2f} s  ({embedded / full:9,.0f} vectors/s)")
    print(f"plain binary COPY     : {ceiling:7.2f} s  ({embedded / ceiling:9,.0f} vectors/s)  (ceiling)")
    print(f"build / ceiling       : {full / ceiling:7.2f} x")
    print(f"embedder alone        : {embedder_alone:7.2f} s  ({embedder_alone / full:.0%} of the build)")
    print(
        f"build without embedder: {full - embedder_alone:7.2f} s  ="
        f" {(full - embedder_alone) / ceiling:.2f} x the ceiling"
    )
    print(
        f"incremental, 1% of signal changed ({changed} rows, {incremental} embedded): "
        f"{delta:.2f} s = {delta / full:.1%} of the full build"
    )


if __name__ == "__main__":
    main()
