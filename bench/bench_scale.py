"""Benchmark: the whole build at scale (the 1M-investor run), through the real assets, as a user runs it.

The sample generator writes N investors, N/2 companies and 2N rounds (about 3 investments a round)
as local files; ``invest-assets build`` then runs every asset of ``build_everything`` (load,
profiles, the six embeddings and company descriptions with the local embedder, the graph assets,
their indexes) in a subprocess, on a fresh embedded database under a throwaway home. While it runs,
the build process's memory (RSS) and the database server's (PSS summed over its processes, so
shared buffers count once) are sampled; each step gets its wall time and both peaks. Then: the disk
used, ``find_investors`` p50 / p95 on the built database (single vector and six-vector rerank, with
and without a sector filter), the stale-embeddings sensor tick with nothing stale, and what the same
build would send OpenAI, from the counted tokens of the texts it embedded.

    .venv/bin/python -m bench.bench_scale --investors 1000000 [--storage halfvec] [--setting INVEST_NAME=VALUE]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import psycopg
from dagster import DagsterEventType, DagsterInstance

from bench.bench_openai_cost import counted
from bench.bench_sensor_tick import median_ms
from invest_assets.embeddings.sensors import stale_embeddings_sensor
from invest_assets.instance import prepare_instance
from invest_assets.resources.database import AlloyDBResource, close_pools, embedded_server_url, stop_embedded_server
from invest_assets.resources.embedders import OPENAI_MAX_INPUTS, EmbedderResource
from invest_assets.search.find_investors import Filters, find_investors
from invest_assets.tools.sample_data import SECTORS, generate_sample
from invest_assets.vectors.storage import STORAGE_TYPES

STEP_EVENTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
SAMPLE_SECONDS = 2.0  # one PSS sample of the server walks its page tables: ~90 ms for 11 processes
QUERIES = 20
# The limits OpenAI published for text-embedding-3-small at usage tier 5 (the highest) when this was
# written: tokens and requests a minute. Not checkable offline; an account's own are on its limits page.
OPENAI_TOKENS_PER_MINUTE = 10_000_000
OPENAI_REQUESTS_PER_MINUTE = 10_000


class MemorySampler(threading.Thread):
    """Samples (unix time, build process RSS, database server PSS) until stopped."""

    def __init__(self, build: psutil.Process, pgdata: Path) -> None:
        super().__init__(daemon=True)
        self.build, self.pgdata = build, pgdata
        self.samples: list[tuple[float, int, int]] = []
        self.stopped = threading.Event()

    def _server_pss(self) -> int:
        """The postmaster's and its children's PSS (the postmaster's pid is the first line of postmaster.pid)."""
        try:
            postmaster = psutil.Process(int((self.pgdata / "postmaster.pid").read_text().split()[0]))
            processes = [postmaster, *postmaster.children()]
        except (OSError, ValueError, IndexError, psutil.Error):
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_full_info().pss
            except psutil.Error:  # a backend that exited meanwhile
                continue
        return total

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_SECONDS):
            try:
                build = self.build.memory_info().rss
            except psutil.NoSuchProcess:
                build = 0
            self.samples.append((time.time(), build, self._server_pss()))

    def peaks(self, start: float, end: float) -> tuple[int, int] | None:
        """The highest build and server memory sampled in [start, end]; None when no sample fell in it."""
        inside = [sample for sample in self.samples if start <= sample[0] <= end]
        return (max(s[1] for s in inside), max(s[2] for s in inside)) if inside else None


def build(root: Path, storage: str) -> list[tuple[str, float, tuple[int, int] | None]]:
    """Run ``invest-assets build`` (after ``invest-assets vector-storage STORAGE`` unless it is the default);
    returns (step, seconds, peak build and server memory) per step, from the run's own event log, after a
    first row for what came before the first step (database start, migrations, the instance)."""
    cli = Path(sys.executable).parent / "invest-assets"
    if storage != STORAGE_TYPES[0]:
        subprocess.run([str(cli), "vector-storage", storage], cwd=root, check=True)
    started = time.time()
    process = subprocess.Popen(
        [str(cli), "build"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    sampler = MemorySampler(psutil.Process(process.pid), root / "home" / "pgdata")
    sampler.start()
    output = []
    for line in process.stdout:
        output.append(line)
        print(line, end="", flush=True)
    ended = time.time()
    sampler.stopped.set()
    runs = [line.split()[1].rstrip(":") for line in output if line.startswith("run ")]
    if process.wait():
        if not runs:
            raise SystemExit(f"the build failed before its run began:\n{''.join(output[-40:])}")
        # What it built is still measured: the 1,000,000-investor run's timings and peaks were lost to one check.
        print("\nTHE BUILD FAILED (a step or check above); reporting what it ran\n", flush=True)
    run_id = runs[0]
    spans = step_spans(root, run_id)
    first = min(start for start, _ in spans.values())
    rows = [("start-up (database, migrations, instance)", first - started, sampler.peaks(started, first))]
    rows += [(step, end - start, sampler.peaks(start, end)) for step, (start, end) in spans.items()]
    rows.append(("the rest (between and after steps)", (ended - started) - sum(r[1] for r in rows), None))
    return rows


def step_spans(root: Path, run_id: str) -> dict[str, tuple[float, float]]:
    """Each step's start and end (unix time) in execution order, from the run's events in its instance."""
    prepare_instance(env_file_dir=root)
    spans: dict[str, list[float]] = {}
    with DagsterInstance.get() as instance:
        for record in instance.all_logs(run_id, of_type=STEP_EVENTS):
            spans.setdefault(record.step_key, []).append(record.timestamp)
    return {step: (min(times), max(times)) for step, times in sorted(spans.items(), key=lambda kv: min(kv[1]))}


def latencies(conn: psycopg.Connection, embedder: EmbedderResource) -> list[tuple[str, float, float]]:
    """(case, p50 ms, p95 ms) of whole ``find_investors`` calls, each query run once untimed first."""
    sectors = list(SECTORS)
    cases = {
        "single, no filter": ("single", None),
        "single, sector filter": ("single", "sector"),
        "six-vector rerank, no filter": ("rerank", None),
        "six-vector rerank, sector filter": ("rerank", "sector"),
    }
    rows = []
    for case, (variant, filtered) in cases.items():
        timings = []
        for timed in (False, True):
            for k in range(QUERIES):
                sector = sectors[k % len(sectors)]
                texts = {"sector": SECTORS[sector]}
                if variant == "rerank":
                    texts |= {"stage": "seed early traction", "signal": "network effects"}
                filters = Filters(sector=sector if filtered else None)
                started = time.perf_counter()
                find_investors(conn, embedder, texts, filters, variant=variant)
                if timed:
                    timings.append((time.perf_counter() - started) * 1000)
        rows.append((case, float(np.percentile(timings, 50)), float(np.percentile(timings, 95))))
    return rows


def disk(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def openai_estimate(conn: psycopg.Connection) -> str:
    """What the six investor embeddings of this build would take on OpenAI: requests, tokens, and the
    minutes at the rate limits above (the binding one of the two)."""
    _, texts, tokens = counted(conn)
    requests = math.ceil(texts / OPENAI_MAX_INPUTS)
    minutes = max(tokens / OPENAI_TOKENS_PER_MINUTE, requests / OPENAI_REQUESTS_PER_MINUTE)
    return (
        f"{texts:,} texts, {tokens / 1e6:.1f} M tokens, {requests:,} requests: at least {minutes:.1f} min at "
        f"{OPENAI_TOKENS_PER_MINUTE / 1e6:.0f} M tokens / {OPENAI_REQUESTS_PER_MINUTE:,} requests a minute"
    )


def report(n: int, storage: str, steps, generated: float, sizes: dict[str, int], reads, tick, estimate: str) -> None:
    gib = 2**30
    print(f"\n{n:,} investors, vectors stored as {storage}; generating the files took {generated:.1f} s\n")
    print("| step | wall time | build process peak RSS | database server peak PSS |")
    print("|---|---|---|---|")
    for step, seconds, peaks in steps:
        memory = [f"{peak / gib:.2f} GiB" for peak in peaks] if peaks else ["-", "-"]
        print(f"| {step} | {seconds:.1f} s | {memory[0]} | {memory[1]} |")
    total = sum(s[1] for s in steps)
    slowest = max(steps[1:-1], key=lambda s: s[1])
    print(f"| **whole build** | **{total:.1f} s** | | |\n")
    print(f"slowest step: {slowest[0]} ({slowest[1]:.1f} s, {slowest[1] / total:.0%} of the build)")
    print("disk: " + ", ".join(f"{name} {size / gib:.2f} GiB" for name, size in sizes.items()))
    print("\n| find_investors, whole call | p50 ms | p95 ms |\n|---|---|---|")
    for case, p50, p95 in reads:
        print(f"| {case} | {p50:.1f} | {p95:.1f} |")
    print(f"\nstale-embeddings sensor tick, nothing stale: {tick[0]:.1f} ms ({tick[1]})")
    print(f"OpenAI, the six investor embeddings of this build: {estimate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--investors", type=int, default=1_000_000)
    parser.add_argument(
        "--storage", choices=STORAGE_TYPES, default=STORAGE_TYPES[0], help="how vectors are stored (vector-storage)"
    )
    parser.add_argument("--keep", type=Path, help="build under this directory and keep it (default: a temporary one)")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="INVEST_NAME=VALUE",
        help="a setting for the build (docs/settings.md), e.g. INVEST_INDEX_BUILD_MEMORY=4GB",
    )
    args = parser.parse_args()
    n = args.investors
    root = (args.keep or Path(tempfile.mkdtemp(prefix="bench_scale_"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    # This process and the build use the throwaway home's embedded server and instance, whatever is exported.
    for name in [k for k in os.environ if k.startswith(("ALLOYDB_", "DAGSTER_", "INVEST_"))]:
        del os.environ[name]
    os.environ.update(INVEST_ASSETS_HOME=str(home), INVEST_SOURCE_DIR=str(root / "src"))
    os.environ.update(setting.split("=", 1) for setting in args.setting)
    try:
        started = time.perf_counter()
        generate_sample(root / "src", investors=n, companies=n // 2, rounds=2 * n)
        generated = time.perf_counter() - started
        steps = build(root, args.storage)
        url = embedded_server_url(str(home))
        resources = {"database": AlloyDBResource(url=url), "embedder": EmbedderResource()}
        with resources["database"].connection() as conn:
            reads = latencies(conn, resources["embedder"])
            estimate = openai_estimate(conn)
            database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        with DagsterInstance.ephemeral() as instance:
            tick = median_ms(stale_embeddings_sensor, instance, resources)
        close_pools()
        sizes = {"source files": disk(root / "src"), "data database": database, "whole home": disk(home)}
        report(n, args.storage, steps, generated, sizes, reads, tick, estimate)
    finally:
        stop_embedded_server(str(home))
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
