"""Large embedding runs through OpenAI's Batch API (half price, answered within 24 hours).

When a run has many texts to embed (``openai_client.use_batch``: INVEST_OPENAI_BATCH and
INVEST_OPENAI_BATCH_MIN_REQUESTS) and the embedder is OpenAI's, they are sent as JSONL files of
embedding requests (up to 2,048 texts each). Each file is recorded in ``openai_batches`` (for its
``BatchTarget``: a dimension, or one shard of a re-embed), and each request's rows and text hashes in
``openai_batch_requests``, before the batch starts; so a run killed while waiting is resumed by the
next without paying twice. The answers are written as the synchronous path writes them (only where
the text is still the one embedded), with their cost at the batch price; what a batch did not answer
is left waiting, and the synchronous path that follows embeds it.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import psycopg

from invest_assets.resources.embedders import EmbedderResource, unit_vectors
from invest_assets.resources.openai_client import (
    BATCH_MAX_BYTES,
    BATCH_MAX_REQUESTS,
    batches_in_flight,
    finished_batch,
    mark_applied,
    record_batch_file,
    use_batch,
)
from invest_assets.resources.usage import record_usage


@dataclass(frozen=True)
class BatchTarget:
    """What a batch embeds: rows (id, text, text hash) read in id order after an id, and how their
    vectors are written (returning how many landed)."""

    key: str  # openai_batches.target: the dimension, or "<dimension>/shadow <model id>/shard <n>"
    waiting: Callable[[], int]  # how many texts wait; counted only when a batch is possible
    read: Callable[[int, int], list]  # (after id, limit) -> rows
    write: Callable[[list, list, np.ndarray], int]  # (ids, hashes, vectors) -> rows written


@dataclass
class BatchReport:
    embedded: int = 0
    tokens: int = 0
    requests: int = 0
    cost_usd: float = 0.0
    batches: int = 0


def _files(requests: Iterator[tuple[list, list, dict]]) -> Iterator[list[tuple[list, list, dict]]]:
    """Requests grouped into input files within the Batch API's limits."""
    part, size = [], 0
    for request in requests:
        line_bytes = len(json.dumps(request[2]))
        if part and (len(part) >= BATCH_MAX_REQUESTS or size + line_bytes > BATCH_MAX_BYTES):
            yield part
            part, size = [], 0
        part.append(request)
        size += line_bytes
    if part:
        yield part


def submit(conn: psycopg.Connection, embedder: EmbedderResource, target: BatchTarget, batch_rows: int) -> None:
    """Upload every waiting text of ``target`` as embedding requests and record them."""

    def requests():
        after = 0
        while rows := target.read(after, batch_rows):
            ids, texts, hashes = zip(*rows, strict=True)
            yield list(ids), list(hashes), embedder.request_body(list(texts))
            after = ids[-1]

    for part in list(_files(requests())):
        lines = [{"custom_id": f"{ids[0]}-{ids[-1]}", "body": body} for ids, _, body in part]
        file_id = embedder.upload_batch(lines)
        row_id = record_batch_file(conn, "embedding", embedder.model, file_id, len(part), target=target.key)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO openai_batch_requests (batch_row_id, custom_id, ids, hashes) VALUES (%s, %s, %s, %s)",
                [(row_id, line["custom_id"], ids, hashes) for line, (ids, hashes, _) in zip(lines, part, strict=True)],
            )
        conn.commit()


def embed_by_batches(
    conn: psycopg.Connection, embedder: EmbedderResource, target: BatchTarget, batch_rows: int
) -> BatchReport:
    """Send a large run as batches (or finish one a killed run left), and write their answers."""
    report = BatchReport()
    if embedder.identity.provider != "openai":
        return report
    if not batches_in_flight(conn, "embedding", target.key) and use_batch(target.waiting()):
        submit(conn, embedder, target, batch_rows)
    for row_id, input_file_id, batch_id, model, _ in batches_in_flight(conn, "embedding", target.key):
        requests = {
            custom_id: (ids, hashes)
            for custom_id, ids, hashes in conn.execute(
                "SELECT custom_id, ids, hashes FROM openai_batch_requests WHERE batch_row_id = %s", (row_id,)
            )
        }
        _, state = finished_batch(conn, embedder, row_id, input_file_id, batch_id)
        current = model == embedder.model  # vectors of another model would be written as this one's
        for line in embedder.batch_lines(state.output_file_id) if current else ():
            response = line.get("response") or {}
            if response.get("status_code") != 200:
                continue
            ids, hashes = requests[line["custom_id"]]
            vectors = unit_vectors(embedder.vectors_of(response["body"], len(ids)))
            tokens = (response["body"].get("usage") or {}).get("total_tokens", 0)
            cost = embedder.cost_usd(tokens, batch=True)
            with conn.transaction():  # one request's vectors and what they cost, together
                report.embedded += target.write(ids, hashes, vectors)
                record_usage(conn, embedder.model, "embedding", requests=1, input_tokens=tokens, cost_usd=cost)
            report.tokens += tokens
            report.requests += 1
            report.cost_usd += cost
        with conn.transaction():
            mark_applied(conn, row_id, state.status)
        report.batches += 1
    return report
