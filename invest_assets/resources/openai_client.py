"""What the embedders and the thesis extractor share of OpenAI: the client, the secret mask, and the
Batch API (requests as one JSONL file, answered within 24 hours at half price)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import psycopg

from invest_assets import settings

BATCH_MAX_REQUESTS = 50_000  # the Batch API's limits per input file: requests, and bytes (200 MB)
BATCH_MAX_BYTES = 150_000_000
BATCH_DISCOUNT = 0.5  # a batch costs half the synchronous price


def openai_client(api_key: str | None, base_url: str | None, max_retries: int, timeout_seconds: float):
    """The official client, retrying 429, 5xx and timeouts with backoff (honouring Retry-After)."""
    from openai import OpenAI

    return OpenAI(api_key=api_key or "missing-key", base_url=base_url, max_retries=max_retries, timeout=timeout_seconds)


def without_secret(message: str, secret: str | None) -> str:
    """``message`` with ``secret`` masked, for errors that quote a request."""
    return message.replace(secret, "***") if secret else message


@dataclass(frozen=True)
class BatchState:
    status: str  # validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled
    output_file_id: str | None
    error_file_id: str | None

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed", "expired", "cancelled")


class BatchAPI:
    """The Batch API for a resource with ``_client()``, sending requests to ``batch_endpoint``."""

    batch_endpoint: ClassVar[str]

    def upload_batch(self, lines: list[dict]) -> str:
        """Upload ``lines`` ({"custom_id", "body"} each) as a batch input file; returns its id."""
        jsonl = "".join(
            json.dumps({"custom_id": line["custom_id"], "method": "POST", "url": self.batch_endpoint,
                        "body": line["body"]}) + "\n"
            for line in lines
        )  # fmt: skip
        with self._client() as client:
            return client.files.create(file=("requests.jsonl", jsonl.encode()), purpose="batch").id

    def start_batch(self, input_file_id: str) -> str:
        """The batch of ``input_file_id``: the one already started for it (a run killed between starting it
        and recording it), else a new one; so a rerun never pays twice."""
        with self._client() as client:
            for batch in client.batches.list(limit=100):
                if batch.input_file_id == input_file_id:
                    return batch.id
            return client.batches.create(
                input_file_id=input_file_id, endpoint=self.batch_endpoint, completion_window="24h"
            ).id

    def batch_state(self, batch_id: str) -> BatchState:
        with self._client() as client:
            batch = client.batches.retrieve(batch_id)
        return BatchState(batch.status, batch.output_file_id, batch.error_file_id)

    def batch_lines(self, file_id: str | None) -> Iterator[dict]:
        """The JSONL lines of a batch's output or error file (none without one), streamed: a re-embed's
        output is gigabytes of vectors."""
        if not file_id:
            return
        with self._client() as client, client.files.with_streaming_response.content(file_id) as response:
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)


def use_batch(waiting: int) -> bool:
    """Whether ``waiting`` requests (investors to extract, texts to embed) go as a batch."""
    mode = settings.OPENAI_BATCH.value()
    return mode == "always" or (mode == "auto" and waiting >= settings.OPENAI_BATCH_MIN_REQUESTS.value())


def batches_in_flight(conn: psycopg.Connection, purpose: str, target: str | None = None) -> list[tuple]:
    """(row id, input file, batch id or None, model, prompt version) of the batches not yet applied."""
    return conn.execute(
        "SELECT id, input_file_id, batch_id, model, prompt_version FROM openai_batches"
        " WHERE purpose = %s AND target IS NOT DISTINCT FROM %s AND applied_at IS NULL ORDER BY id",
        (purpose, target),
    ).fetchall()


def record_batch_file(conn: psycopg.Connection, purpose: str, model: str, input_file_id: str, requests: int,
                      prompt_version: str | None = None, target: str | None = None) -> int:  # fmt: skip
    """Record an uploaded input file before its batch is started (the caller commits)."""
    return conn.execute(
        "INSERT INTO openai_batches (purpose, model, prompt_version, target, input_file_id, requests)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (purpose, model, prompt_version, target, input_file_id, requests),
    ).fetchone()[0]


def finished_batch(conn: psycopg.Connection, api: BatchAPI, row_id: int, input_file_id: str, batch_id: str | None):
    """Start the batch of a recorded file (or find the one a killed run started), record it, and wait,
    polling every INVEST_OPENAI_BATCH_POLL_SECONDS, until it is done; no transaction stays open."""
    if batch_id is None:
        batch_id = api.start_batch(input_file_id)
        conn.execute("UPDATE openai_batches SET batch_id = %s, status = 'started' WHERE id = %s", (batch_id, row_id))
    conn.commit()
    state = api.batch_state(batch_id)
    while not state.done:
        time.sleep(settings.OPENAI_BATCH_POLL_SECONDS.value())
        state = api.batch_state(batch_id)
    return batch_id, state


def mark_applied(conn: psycopg.Connection, row_id: int, status: str) -> None:
    conn.execute("UPDATE openai_batches SET status = %s, applied_at = now() WHERE id = %s", (status, row_id))
