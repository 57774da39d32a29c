"""The account of what OpenAI calls cost, and the guard that refuses a run before it costs too much.

``record_usage`` adds a call's requests, tokens and USD to the day's row of ``openai_usage`` (per
model and purpose); the caller commits it with what the call paid for. ``check_budget`` compares a
run's estimate (counted tokens times the model's price) with ``INVEST_OPENAI_MAX_USD_PER_RUN`` before
anything is sent.
"""

from __future__ import annotations

import psycopg

from invest_assets import settings
from invest_assets.resources.embedders import USD_PER_MILLION_TOKENS, EmbedderResource, EmbeddingBatch


class BudgetExceeded(RuntimeError):
    """A run's estimated cost is over INVEST_OPENAI_MAX_USD_PER_RUN; nothing was sent."""


def check_budget(estimate_usd: float, what: str) -> None:
    limit = settings.OPENAI_MAX_USD_PER_RUN.value()
    if limit is not None and estimate_usd > limit:
        raise BudgetExceeded(
            f"{what}: estimated ${estimate_usd:.4f} is over {settings.OPENAI_MAX_USD_PER_RUN.name}=${limit:g}; "
            "nothing was sent (raise the limit, or embed or extract in smaller runs)"
        )


def record_usage(
    conn: psycopg.Connection,
    model: str,
    purpose: str,
    *,
    requests: int,
    input_tokens: int,
    output_tokens: int = 0,
    cost_usd: float,
) -> None:
    conn.execute(
        """
        INSERT INTO openai_usage AS u (day, model, purpose, requests, input_tokens, output_tokens, cost_usd)
        VALUES (current_date, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (day, model, purpose) DO UPDATE SET
          requests = u.requests + EXCLUDED.requests, input_tokens = u.input_tokens + EXCLUDED.input_tokens,
          output_tokens = u.output_tokens + EXCLUDED.output_tokens, cost_usd = u.cost_usd + EXCLUDED.cost_usd
        """,
        (model, purpose, requests, input_tokens, output_tokens, cost_usd),
    )


def embedding_estimate_usd(embedder: EmbedderResource, texts: list[str]) -> float:
    """What embedding ``texts`` would cost, from their counted tokens (0 for the local embedder)."""
    if embedder.identity.provider != "openai":
        return 0.0
    return embedder.pack_requests(texts)[1] * USD_PER_MILLION_TOKENS.get(embedder.model, 0.0) / 1e6


def record_embedding(conn: psycopg.Connection, embedder: EmbedderResource, batch: EmbeddingBatch, purpose: str) -> None:
    """Account for an OpenAI embedding call (the local embedder costs nothing and is not recorded)."""
    if embedder.identity.provider == "openai" and batch.requests:
        record_usage(
            conn, embedder.model, purpose, requests=batch.requests, input_tokens=batch.tokens, cost_usd=batch.cost_usd
        )
