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

from dagster import ConfigurableResource
from pydantic import Field

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


class ExtractorResource(ConfigurableResource):
    """Asks a chat model for one JSON answer per request."""

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

    def cost_usd(self, prompt_tokens: int, output_tokens: int) -> float:
        input_price, output_price = USD_PER_MILLION_TOKENS.get(self.model, (0.0, 0.0))
        return round((prompt_tokens * input_price + output_tokens * output_price) / 1e6, 10)

    def answer_all(
        self,
        requests: Iterable[list[dict]],
        schema: dict,
        on_answer: Callable[[int, ChatAnswer | ExtractionError], None],
    ) -> None:
        """Send each request's messages (a few at a time) and hand every answer, or the error that
        ended its retries, with the request's position to ``on_answer`` in order: one request that
        fails costs none of the others."""
        from openai import OpenAI

        client = OpenAI(
            api_key=self.api_key or "missing-key",
            base_url=self.base_url,
            max_retries=self.max_retries,
            timeout=self.timeout_seconds,
        )
        with client, ThreadPoolExecutor(self.max_concurrent_requests) as pool:
            futures = [pool.submit(self._ask, client, messages, schema) for messages in requests]
            for position, future in enumerate(futures):
                on_answer(position, future.result())

    def _ask(self, client, messages: list[dict], schema: dict) -> ChatAnswer | ExtractionError:
        from openai import OpenAIError

        try:
            response = client.chat.completions.create(
                model=self.model,
                messages=messages,
                response_format={"type": "json_schema", "json_schema": schema},
                temperature=0,
            )
        except OpenAIError as err:
            message = str(err).replace(self.api_key, "***") if self.api_key else str(err)
            return ExtractionError(f"extraction request failed: {type(err).__name__}: {message}")
        choice = response.choices[0].message
        usage = response.usage
        return ChatAnswer(
            content=choice.content,
            refusal=getattr(choice, "refusal", None),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )
