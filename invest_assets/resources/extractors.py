"""The thesis extractor: an OpenAI chat model answering in a JSON schema (structured outputs).

``INVEST_EXTRACTOR=none`` (the default) extracts nothing; ``openai`` sends each request through the
official ``openai`` client, which retries 429, 5xx and timeouts with backoff (honouring
``Retry-After``). What the prompt asks and how an answer is checked live with the asset
(``invest_assets.theses``); this resource only asks and reports what came back and what it cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

from dagster import ConfigurableResource
from pydantic import Field

from invest_assets.resources.openai_client import BATCH_DISCOUNT, BatchAPI, openai_client, without_secret

CHAT_ENDPOINT = "/v1/chat/completions"
# USD per million tokens (input, output), standard synchronous pricing.
USD_PER_MILLION_TOKENS = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
}


class ExtractionError(RuntimeError):
    """The extraction service gave no answer at all (after the client's retries)."""


@dataclass(frozen=True)
class ChatAnswer:
    content: str | None  # the JSON text the model wrote; None with a refusal
    refusal: str | None
    prompt_tokens: int
    output_tokens: int

    @classmethod
    def of(cls, completion: dict) -> ChatAnswer:
        """From a chat completion's JSON (a synchronous answer, or a line of a batch's output)."""
        message = completion["choices"][0]["message"]
        usage = completion.get("usage") or {}
        return cls(
            content=message.get("content"),
            refusal=message.get("refusal"),
            prompt_tokens=usage.get("prompt_tokens", 0),
            output_tokens=usage.get("completion_tokens", 0),
        )


class ExtractorResource(BatchAPI, ConfigurableResource):
    """Asks a chat model for one JSON answer per request, one by one or as a batch."""

    batch_endpoint: ClassVar[str] = CHAT_ENDPOINT

    provider: str = Field(default="none", description="none | openai (INVEST_EXTRACTOR).")
    model: str = Field(default="gpt-4o-mini", description="The chat model (INVEST_EXTRACTION_MODEL).")
    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint; empty: api.openai.com.")
    api_key: str | None = Field(default=None, description="OPENAI_API_KEY (set through EnvVar; never logged).")
    max_concurrent_requests: int = Field(default=4)
    max_retries: int = Field(default=6, description="Retries of 429, 5xx and timeouts by the openai client.")
    timeout_seconds: float = Field(default=120.0)

    @property
    def enabled(self) -> bool:
        if self.provider not in ("none", "openai"):
            raise ValueError(f"INVEST_EXTRACTOR={self.provider!r}: expected 'none' or 'openai'")
        return self.provider == "openai"

    def cost_usd(self, prompt_tokens: int, output_tokens: int, batch: bool = False) -> float:
        input_price, output_price = USD_PER_MILLION_TOKENS.get(self.model, (0.0, 0.0))
        usd = (prompt_tokens * input_price + output_tokens * output_price) / 1e6
        return round(usd * (BATCH_DISCOUNT if batch else 1.0), 10)

    def answer_all(
        self,
        requests: Iterable[list[dict]],
        schema: dict,
        on_answer: Callable[[int, ChatAnswer | ExtractionError], None],
    ) -> None:
        """Send each request's messages (a few at a time) and hand every answer, or the error that
        ended its retries, with the request's position to ``on_answer`` in order: one request that
        fails costs none of the others."""
        with self._client() as client, ThreadPoolExecutor(self.max_concurrent_requests) as pool:
            futures = [pool.submit(self._ask, client, messages, schema) for messages in requests]
            for position, future in enumerate(futures):
                on_answer(position, future.result())

    # --- The Batch API: the same requests as one JSONL file, answered within 24 hours at half price ---

    def _client(self):
        return openai_client(self.api_key, self.base_url, self.max_retries, self.timeout_seconds)

    def request_body(self, messages: list[dict], schema: dict) -> dict:
        return {
            "model": self.model,
            "messages": messages,
            "response_format": {"type": "json_schema", "json_schema": schema},
            "temperature": 0,
        }

    def _ask(self, client, messages: list[dict], schema: dict) -> ChatAnswer | ExtractionError:
        from openai import OpenAIError

        try:
            response = client.chat.completions.create(**self.request_body(messages, schema))
        except OpenAIError as err:
            message = without_secret(str(err), self.api_key)
            return ExtractionError(f"extraction request failed: {type(err).__name__}: {message}")
        return ChatAnswer.of(response.model_dump())
