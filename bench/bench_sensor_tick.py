"""Benchmark: the cost of one sensor tick, with nothing changed and with 1% of texts changed.

For each N, N investors with all six texts are inserted server-side and marked embedded
(text hash = embedded hash, current model). Vectors are left out: the tick never reads
them, and 6 x 1,536 floats per row would make 1M rows a 37 GB table; the bench database
drops the provenance CHECKs that otherwise require a vector next to an embedded hash.
Each tick is the real sensor function evaluated with build_sensor_context against a real
instance and the embedded database; the source sensor looks at real files of N investors.

    .venv/bin/python -m bench.bench_sensor_tick --investors 100000 1000000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from dagster import DagsterInstance, build_sensor_context

from invest_assets.core.sensors import source_changes_sensor
from invest_assets.core.sync import sync_table
from invest_assets.embeddings.sensors import stale_embeddings_sensor
from invest_assets.embeddings.staleness import ensure_stale_index
from invest_assets.resources.database import (
    AlloyDBResource,
    apply_migrations,
    close_pools,
    embedded_server_url,
    stop_embedded_server,
)
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.sources.schema import DIMENSIONS, TABLES, dimension_column
from invest_assets.tools.sample_data import write_many_investors
from invest_assets.vectors.models import serving_model_id

REPEATS = 5


def mark_embedded(conn: psycopg.Connection, n: int, embedder: EmbedderResource) -> None:
    model_ids = {d: serving_model_id(conn, embedder, d) for d in DIMENSIONS}
    for d in DIMENSIONS:
        conn.execute(f"ALTER TABLE investors DROP CONSTRAINT investors_{d}_provenance")
    texts = ", ".join(f"'{d} thesis words ' || i" for d in DIMENSIONS)
    conn.execute(
        f"INSERT INTO investors (source_id, name, kind, {', '.join(dimension_column(d, 'text') for d in DIMENSIONS)})"
        f" SELECT 'inv' || i, 'Investor ' || i, 'firm', {texts} FROM generate_series(0, %s - 1) i",
        (n,),
    )
    column = dimension_column
    conn.execute(
        "UPDATE investors SET "
        + ", ".join(
            f"{column(d, 'embedded_hash')} = {column(d, 'text_hash')}, {column(d, 'model_id')} = {model_ids[d]}, "
            f"{column(d, 'embedded_at')} = now()"
            for d in DIMENSIONS
        )
    )
    for d in DIMENSIONS:  # as the first embedding run of each dimension does
        ensure_stale_index(conn, d, model_ids[d])
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE investors")
    conn.autocommit = False


def median_ms(sensor, instance, resources) -> tuple[float, str]:
    timings, outcome = [], ""
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = sensor(build_sensor_context(instance=instance, resources=resources))
        timings.append((time.perf_counter() - started) * 1000)
        outcome = getattr(result, "skip_message", None) or f"{len(getattr(result, 'run_requests', [result]))} run(s)"
    return statistics.median(timings), outcome


def bench(n: int, root: Path) -> dict:
    url = embedded_server_url(str(root / "home"), database=f"bench_{n}")
    apply_migrations(url)
    database, embedder = AlloyDBResource(url=url), EmbedderResource()
    source = LocalFileSource(directory=str(write_many_investors(root / f"src_{n}", n)))
    with database.connection() as conn:
        mark_embedded(conn, n, embedder)
        for table in TABLES:  # record what a complete sync of these files would have recorded
            if table != "investors":
                sync_table(conn, TABLES[table], source, "bench")
        conn.execute(
            "INSERT INTO source_sync_state (table_name, fingerprint, last_mode, last_run_id)"
            " VALUES ('investors', %s, 'full', 'bench')",
            (source.fingerprints(["investors"])["investors"],),
        )
        size = conn.execute("SELECT pg_size_pretty(pg_table_size('investors'))").fetchone()[0]
    resources = {"database": database, "source": source, "embedder": embedder}
    row = {"n": n, "size": size}
    with DagsterInstance.ephemeral() as instance:
        row["source_idle"] = median_ms(source_changes_sensor, instance, resources)
        row["stale_idle"] = median_ms(stale_embeddings_sensor, instance, resources)
        with database.connection() as conn:
            conn.execute("UPDATE investors SET signal_text = signal_text || ' changed' WHERE id % 100 = 0")
        row["stale_1pct"] = median_ms(stale_embeddings_sensor, instance, resources)
    close_pools()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            rows = [bench(n, root) for n in args.investors]
        finally:
            stop_embedded_server(str(root / "home"))
    print(
        "| investors | table size | source tick, nothing changed | stale tick, nothing changed "
        "| stale tick, 1% of signal texts changed |"
    )
    print("|---|---|---|---|---|")
    for row in rows:
        cells = [f"{row[k][0]:.1f} ms ({row[k][1]})" for k in ("source_idle", "stale_idle", "stale_1pct")]
        print(f"| {row['n']:,} | {row['size']} | " + " | ".join(cells) + " |")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = last["n"] / first["n"]
        for key in ("source_idle", "stale_idle", "stale_1pct"):
            print(f"{key}: x{last[key][0] / first[key][0]:.1f} for x{growth:.0f} investors")


if __name__ == "__main__":
    main()
