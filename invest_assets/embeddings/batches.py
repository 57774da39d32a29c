"""Large embedding runs through OpenAI's Batch API (half price, answered within 24 hours).

When a dimension has many stale texts (``openai_client.use_batch``: INVEST_OPENAI_BATCH and
INVEST_OPENAI_BATCH_MIN_REQUESTS) and the serving embedder is OpenAI's, its stale rows are sent as
JSONL files of embedding requests (up to 2,048 texts each). Each file is recorded in
``openai_batches``, and each request's rows and text hashes in ``openai_batch_requests``, before the
batch starts; so a run killed while waiting is resumed by the next without paying twice. The
answers are written as the synchronous path writes them (``write_vectors``: only where the text is
still the one embedded), with their cost at the batch price; what a batch did not answer is left
stale, and the synchronous path that follows embeds it.
"""

import json
from collections.abc import Iterator

import psycopg
from psycopg import sql

from invest_assets.embeddings.rows import next_stale_batch, write_vectors
from invest_assets.embeddings.staleness import live_and_stale
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
from invest_assets.vectors.targets import target


def stale_rows(conn: psycopg.Connection, dimension: str, model_id: int) -> int:
    return conn.execute(
        sql.SQL("SELECT count(*) FROM {table} WHERE {live_and_stale} AND {text_hash} IS NOT NULL").format(
            table=target(dimension).table_id,
            live_and_stale=live_and_stale(dimension, model_id),
            text_hash=target(dimension).columns()["text_hash"],
        )
    ).fetchone()[0]


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


def submit(conn: psycopg.Connection, embedder: EmbedderResource, dimension: str, model_id: int, batch_rows: int):
    """Upload every stale text of ``dimension`` as embedding requests and record them."""

    def requests():
        after = 0
        while rows := next_stale_batch(conn, dimension, model_id, after, batch_rows):
            ids, texts, hashes = zip(*rows, strict=True)
            yield list(ids), list(hashes), embedder.request_body(list(texts))
            after = ids[-1]

    for part in list(_files(requests())):
        lines = [{"custom_id": f"{ids[0]}-{ids[-1]}", "body": body} for ids, _, body in part]
        row_id = record_batch_file(conn, "embedding", embedder.model, embedder.upload_batch(lines), len(part),
                                   target=dimension)  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO openai_batch_requests (batch_row_id, custom_id, ids, hashes) VALUES (%s, %s, %s, %s)",
                [(row_id, line["custom_id"], ids, hashes) for line, (ids, hashes, _) in zip(lines, part, strict=True)],
            )
        conn.commit()


def embed_by_batches(conn: psycopg.Connection, embedder: EmbedderResource, dimension: str, model_id: int,
                     batch_rows: int, report) -> None:  # fmt: skip
    """Send a large run as batches (or finish one a killed run left), and write their answers."""
    if embedder.identity.provider != "openai":
        return
    if not batches_in_flight(conn, "embedding", dimension) and use_batch(stale_rows(conn, dimension, model_id)):
        submit(conn, embedder, dimension, model_id, batch_rows)
    for row_id, input_file_id, batch_id, model, _ in batches_in_flight(conn, "embedding", dimension):
        requests = {
            custom_id: (ids, hashes)
            for custom_id, ids, hashes in conn.execute(
                "SELECT custom_id, ids, hashes FROM openai_batch_requests WHERE batch_row_id = %s", (row_id,)
            )
        }
        _, state = finished_batch(conn, embedder, row_id, input_file_id, batch_id)
        current = model == embedder.model  # vectors of another model would be written as the serving one's
        for line in embedder.batch_lines(state.output_file_id) if current else ():
            response = line.get("response") or {}
            if response.get("status_code") != 200:
                continue
            ids, hashes = requests[line["custom_id"]]
            vectors = unit_vectors(embedder.vectors_of(response["body"], len(ids)))
            tokens = (response["body"].get("usage") or {}).get("total_tokens", 0)
            cost = embedder.cost_usd(tokens, batch=True)
            with conn.transaction():  # one request's vectors and what they cost, together
                report.embedded += write_vectors(conn, dimension, model_id, ids, hashes, vectors)
                record_usage(conn, embedder.model, "embedding", requests=1, input_tokens=tokens, cost_usd=cost)
            report.tokens += tokens
            report.requests += 1
            report.cost_usd += cost
        with conn.transaction():
            mark_applied(conn, row_id, state.status)
        report.openai_batches += 1
