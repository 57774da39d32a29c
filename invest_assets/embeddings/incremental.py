"""Embedding what is stale, incrementally: the logic the embedding assets run.

Each run writes only its target's vector column and embeds only what is stale (see
``staleness``): changed, new, or other-model rows. Blank text clears the vector. Stale
rows are read in id order in batches; each batch is embedded, COPYed (binary) into a
staging table and written by one UPDATE that sets vector, hash, model and time
together, and committed, so a failure keeps the batches already done and a rerun
continues where it stopped. The UPDATE only lands where the text is still the one
embedded. A per-target advisory lock keeps two runs from embedding the same
column at once: the second waits, then finds nothing stale.

A run in which any target will write most of its rows (a first build, a new template
version) stages its vectors instead and writes them at its end in one UPDATE, then rebuilds
the candidate index once (``bulk``): inserting a vector into an HNSW graph costs
milliseconds, so one build over all of them is far cheaper. The six investor dimensions run
as one step (``embed_dimensions``), so a first build of all six rewrites each row once.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from invest_assets import settings
from invest_assets.embeddings.batches import BatchReport, BatchTarget, embed_by_batches
from invest_assets.embeddings.bulk import apply_staged, has_staged, release_stage, stage_vectors, vacuum_written
from invest_assets.embeddings.rows import next_stale_batch, write_vectors
from invest_assets.embeddings.staleness import ensure_stale_index, live_and_stale
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.usage import check_budget, embedding_estimate_usd, record_embedding
from invest_assets.vectors.indexes import drop_ann_indexes, refresh_ann_index
from invest_assets.vectors.models import serving_embedders
from invest_assets.vectors.targets import embedding_lock_key, target

# Rows per committed batch (INVEST_EMBED_BATCH_ROWS): what a failure can cost, and the
# unit of resumption. 2,048 is also the OpenAI API's inputs-per-request limit.
BATCH_ROWS = settings.EMBED_BATCH_ROWS.value()


@dataclass
class EmbedReport:
    considered: int = 0
    embedded: int = 0
    current: int = 0  # live rows whose vector is their text's, from the serving model
    cleared: int = 0
    batches: int = 0
    tokens: int = 0
    truncated: int = 0
    requests: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    model: str = ""
    ann_index: str = ""  # set when a bulk write rebuilt the ANN index
    stale_index: str = ""  # whether this run built the stale rows' index (a new serving model)
    openai_batches: int = 0  # Batch API batches whose answers this run wrote
    embedded_ids: list[int] = field(default_factory=list)

    def add(self, batches: BatchReport) -> None:
        self.embedded += batches.embedded
        self.tokens += batches.tokens
        self.requests += batches.requests
        self.cost_usd += batches.cost_usd
        self.openai_batches += batches.batches


def stale_target(conn: psycopg.Connection, dimension: str, model_id: int, staged: bool) -> BatchTarget:
    """``dimension``'s stale rows, as a batch embeds them: written into the table, or, ``staged``, into the
    stage (``bulk``), skipping what an earlier run staged."""

    def waiting() -> int:
        return conn.execute(
            sql.SQL("SELECT count(*) FROM {table} WHERE {live_and_stale} AND {text_hash} IS NOT NULL").format(
                table=target(dimension).table_id,
                live_and_stale=live_and_stale(dimension, model_id),
                text_hash=target(dimension).columns()["text_hash"],
            )
        ).fetchone()[0]

    return BatchTarget(
        dimension,
        waiting,
        lambda after, limit: next_stale_batch(conn, dimension, model_id, after, limit, unstaged_only=staged),
        lambda ids, hashes, vectors: (stage_vectors if staged else write_vectors)(
            conn, dimension, model_id, ids, hashes, vectors
        ),
    )


def clear_blank_vectors(conn: psycopg.Connection, dimension: str) -> int:
    """NULL or blank text means no vector: clear vectors whose text went blank."""
    with conn.transaction():
        return conn.execute(
            sql.SQL(
                "UPDATE {table} SET {embedding} = NULL, {embedded_hash} = NULL, {model_id} = NULL,"
                " {embedded_at} = NULL WHERE {text_hash} IS NULL AND {embedding} IS NOT NULL"
            ).format(table=target(dimension).table_id, **target(dimension).columns())
        ).rowcount


def stale_cost_usd(
    conn: psycopg.Connection, embedder: EmbedderResource, dimension: str, model_id: int, batch_rows: int
):
    """What embedding every stale text of ``dimension`` would cost, from counted tokens."""
    total, after = 0.0, 0
    while rows := next_stale_batch(conn, dimension, model_id, after, batch_rows):
        total += embedding_estimate_usd(embedder, [text for _, text, _ in rows])
        after = rows[-1][0]
    return total


def _writes_most_rows(conn: psycopg.Connection, dimension: str, model_id: int) -> bool:
    """Whether this run will write more than the bulk share of the target's rows with text. The stale
    rows are counted from their index; the table is counted only when there are enough of them."""
    embedded = target(dimension)
    columns = {**embedded.columns(), "table": embedded.table_id}
    stale = conn.execute(
        sql.SQL("SELECT count(*) FROM {table} WHERE {live_and_stale} AND {text_hash} IS NOT NULL").format(
            live_and_stale=live_and_stale(dimension, model_id), **columns
        )
    ).fetchone()[0]
    if stale < settings.EMBED_BULK_MIN_ROWS.value():
        return False
    with_text = conn.execute(
        sql.SQL("SELECT count(*) FROM {table} WHERE deleted_at IS NULL AND {text_hash} IS NOT NULL").format(**columns)
    ).fetchone()[0]
    return stale > settings.EMBED_BULK_SHARE.value() * with_text


def _lock(conn: psycopg.Connection, dimensions: list[str], function: str) -> None:
    for dimension in sorted(dimensions):  # one order for every run, so that two runs never deadlock
        conn.execute(
            sql.SQL("SELECT {}(hashtext(%s))").format(sql.Identifier(function)), (embedding_lock_key(dimension),)
        )


@contextmanager
def _timed(report: EmbedReport):
    """Adds the block's wall time to ``report.seconds``."""
    began = time.perf_counter()
    try:
        yield
    finally:
        report.seconds += time.perf_counter() - began


def _start(conn, embedder: EmbedderResource, dimension: str, report: EmbedReport, batch_rows: int):
    """``dimension``'s serving model id and embedder, after its stale index and the budget check."""
    model_id, serving = serving_embedders(conn, embedder, [dimension])[dimension]
    report.stale_index = ensure_stale_index(conn, dimension, model_id)
    if settings.OPENAI_MAX_USD_PER_RUN.is_set():  # before anything is sent
        check_budget(stale_cost_usd(conn, serving, dimension, model_id, batch_rows), f"embedding {dimension}")
    ident = serving.identity
    report.model = f"{ident.provider}/{ident.model} ({ident.dimensions} dims)"
    return model_id, serving


def _embed_stale(
    conn, serving: EmbedderResource, dimension: str, model_id: int, report: EmbedReport, rows: int, staged: bool
):
    """Embed every stale text of ``dimension`` and write it (``stale_target``): a large OpenAI run through
    the Batch API at half price first, then synchronously what it left, one committed batch at a time."""
    stale = stale_target(conn, dimension, model_id, staged)
    report.add(embed_by_batches(conn, serving, stale, rows))
    report.cleared = clear_blank_vectors(conn, dimension)
    after = 0
    while batch_rows := stale.read(after, rows):
        conn.commit()  # no transaction held open while the embedding service works
        ids, texts, hashes = zip(*batch_rows, strict=True)
        batch = serving.embed(list(texts))
        with conn.transaction():  # the vectors and what they cost, together
            report.embedded += stale.write(ids, hashes, batch.vectors)
            record_embedding(conn, serving, batch, "embedding")
        report.embedded_ids.extend(ids)
        report.batches += 1
        report.tokens += batch.tokens
        report.truncated += batch.truncated
        report.requests += batch.requests
        report.cost_usd += batch.cost_usd
        after = ids[-1]


def _count_current(conn: psycopg.Connection, dimension: str, model_id: int, report: EmbedReport) -> None:
    report.considered, report.current = conn.execute(
        sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE {embedding} IS NOT NULL AND {model_id} = %(model_id)s"
            " AND {embedded_hash} = {text_hash})"
            " FROM {table} WHERE deleted_at IS NULL AND {text_hash} IS NOT NULL"
        ).format(table=target(dimension).table_id, **target(dimension).columns()),
        {"model_id": model_id},
    ).fetchone()


def embed_dimensions(
    conn: psycopg.Connection, embedder: EmbedderResource, dimensions: list[str], batch_rows: int = BATCH_ROWS
) -> dict[str, EmbedReport]:
    """Bring each of ``dimensions`` (targets of one table) up to date, in order; returns what was done, by
    dimension. When any of them will write most of its rows, or a killed run staged vectors of theirs, all
    of them stage their vectors, which are then written together, and their ANN indexes rebuilt once
    (``bulk``)."""
    dimensions = list(dimensions)
    (table,) = {target(d).table for d in dimensions}
    reports = {dimension: EmbedReport() for dimension in dimensions}
    _lock(conn, dimensions, "pg_advisory_lock")
    try:
        models = {}
        for dimension, report in reports.items():
            with _timed(report):
                models[dimension] = _start(conn, embedder, dimension, report, batch_rows)
        staged = has_staged(conn, dimensions) or any(_writes_most_rows(conn, d, models[d][0]) for d in dimensions)
        conn.commit()
        for dimension, report in reports.items():
            with _timed(report):
                _embed_stale(conn, models[dimension][1], dimension, models[dimension][0], report, batch_rows, staged)
        if staged:
            _write_staged(conn, table, reports)
        for dimension, report in reports.items():
            with _timed(report):
                _count_current(conn, dimension, models[dimension][0], report)
            report.seconds = round(report.seconds, 3)
    finally:
        if conn.info.transaction_status == TransactionStatus.INERROR:
            conn.rollback()  # session locks outlive it; unlocking in the failed transaction would hide the error
        _lock(conn, dimensions, "pg_advisory_unlock")
        conn.commit()
    return reports


def _write_staged(conn: psycopg.Connection, table: str, reports: dict[str, EmbedReport]) -> None:
    """Write the staged vectors and rebuild the ANN indexes once, each step its own transaction (an index on
    the table itself, the company description's, is dropped first: the write would insert every row into
    it); each report says what landed, what was built and how long each took."""
    began = time.perf_counter()
    dropped = drop_ann_indexes(conn, table)
    conn.commit()
    landed = apply_staged(conn, list(reports))
    release_stage(conn)
    vacuum_written(conn, list(reports))
    written = time.perf_counter()
    rebuilt = {key: refresh_ann_index(conn, key) for key in sorted(dropped | set(reports))}
    took = (
        f"bulk write: {sum(landed.values())} staged vectors written in {written - began:.1f} s,"
        f" indexes built in {time.perf_counter() - written:.1f} s; "
    )
    for dimension, report in reports.items():
        report.embedded = landed[dimension]  # what this run and a killed one staged, and still matches its text
        report.ann_index = took + "; ".join(
            f"{key}: {outcome}" for key, outcome in rebuilt.items() if key == dimension or key in dropped
        )


def embed_dimension(
    conn: psycopg.Connection, embedder: EmbedderResource, dimension: str, batch_rows: int = BATCH_ROWS
) -> EmbedReport:
    """Bring ``dimension`` up to date; returns what was done."""
    return embed_dimensions(conn, embedder, [dimension], batch_rows)[dimension]
