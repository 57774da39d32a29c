"""Embedders: OpenAI (or any OpenAI-compatible server) in production, an offline one by default.

``INVEST_EMBEDDER=openai`` uses the official ``openai`` client with
``text-embedding-3-small`` at 1536 dimensions. Inputs are packed into as few requests as
the API allows (at most 2,048 inputs and 300,000 tokens per request, counted with the
model's real cl100k_base encoding from ``bpe-openai``, which ships it offline); inputs
over the model's 8,191-token limit are truncated and counted; requests run a few at a
time; the client retries 429, 5xx and timeouts with exponential backoff and jitter,
honouring ``Retry-After``.

``INVEST_EMBEDDER=local`` (the default) is a deterministic feature-hashing embedder:
word unigrams and bigrams, plus (from ``local-hashing-v2``) down-weighted character
trigrams of each word, hashed with signs into the configured dimension, sublinear term
weights, unit length. Texts that share vocabulary score closer than texts that share none.
The trigrams matter for ANN search: with words alone, texts with no word in common are
exactly orthogonal, the HNSW graph has flat regions where every neighbour is at distance 1,
and the greedy search stalls there (recall@25 0.66 at 100,000 rows, whatever ef_search);
shared trigrams give every pair a graded distance, as real embeddings do. It needs no
network and no model download.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

import numpy as np
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from invest_assets.resources.openai_client import BATCH_DISCOUNT, BatchAPI, openai_client, without_secret

# Local model versions and the weight of their character-trigram features (v1 had none). A
# database whose vectors came from v1 keeps serving v1 until the re-embed backfill switches it.
LOCAL_MODELS = {"local-hashing-v1": 0.0, "local-hashing-v2": 0.35}
LOCAL_MODEL = "local-hashing-v2"
OPENAI_MODEL = "text-embedding-3-small"
OPENAI_MAX_INPUTS = 2048
OPENAI_MAX_REQUEST_TOKENS = 300_000
OPENAI_MAX_INPUT_TOKENS = 8191
USD_PER_MILLION_TOKENS = {"text-embedding-3-small": 0.02, "text-embedding-3-large": 0.13}
_WORD = re.compile(r"[\w']+")


class EmbeddingError(RuntimeError):
    """The embedding service gave no usable answer (after the client's retries)."""


@dataclass(frozen=True)
class ModelIdentity:
    provider: str
    model: str
    dimensions: int


@dataclass
class EmbeddingBatch:
    vectors: np.ndarray  # float32 (n, dimensions), unit length
    tokens: int = 0
    truncated: int = 0
    requests: int = 0
    cost_usd: float = 0.0


@cache
def cl100k():
    import bpe_openai

    return bpe_openai.get_encoding("cl100k_base")


def unit_vectors(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)


def _trigrams(word: str) -> list[str]:
    padded = f"<{word}>"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


class _HashingEmbedder:
    def __init__(self, dimensions: int, trigram_weight: float):
        self.dimensions = dimensions
        self.trigram_weight = trigram_weight
        self._features: dict[str, tuple[int, float]] = {}

    def _feature(self, token: str) -> tuple[int, float]:
        feature = self._features.get(token)
        if feature is None:
            digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
            feature = (digest % self.dimensions, 1.0 if (digest >> 63) & 1 else -1.0)
            self._features[token] = feature
        return feature

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float64)
        tokens = 0
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            tokens += len(words)
            counts: dict[str, int] = {}
            for term in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
                counts[term] = counts.get(term, 0) + 1
            for term, count in counts.items():
                index, sign = self._feature(term)
                vectors[row, index] += sign * (1.0 + math.log(count))
            if self.trigram_weight:
                self._add_trigrams(vectors[row], words)
        # A text with no words still gets a unit vector (its own hash), never a zero one.
        for row in np.flatnonzero(~vectors.any(axis=1)):
            index, sign = self._feature(texts[row])
            vectors[row, index] = sign
        return EmbeddingBatch(unit_vectors(vectors), tokens=tokens)

    def _add_trigrams(self, vector: np.ndarray, words: list[str]) -> None:
        counts: dict[str, int] = {}
        for word in words:
            for gram in _trigrams(word):
                counts[gram] = counts.get(gram, 0) + 1
        for gram, count in counts.items():
            # "#" keeps trigram features apart from one-letter words' features.
            index, sign = self._feature("#" + gram)
            vector[index] += sign * self.trigram_weight * (1.0 + math.log(count))


class EmbedderResource(BatchAPI, ConfigurableResource):
    """Turns texts into unit vectors; every vector is tagged with ``identity``."""

    provider: str = Field(default="local", description="local | openai (INVEST_EMBEDDER).")
    model: str = Field(
        default=OPENAI_MODEL,
        description="OpenAI embedding model; with provider local, a version of"
        " LOCAL_MODELS (the newest when this names none).",
    )
    dimensions: int = Field(default=1536, description="Output dimension (must match the vector columns).")
    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint; empty: api.openai.com.")
    api_key: str | None = Field(default=None, description="OPENAI_API_KEY (set through EnvVar; never logged).")
    max_inputs_per_request: int = Field(default=OPENAI_MAX_INPUTS)
    max_tokens_per_request: int = Field(default=OPENAI_MAX_REQUEST_TOKENS)
    max_input_tokens: int = Field(default=OPENAI_MAX_INPUT_TOKENS)
    max_concurrent_requests: int = Field(default=4)
    max_retries: int = Field(default=6, description="Retries of 429, 5xx and timeouts by the openai client.")
    timeout_seconds: float = Field(default=60.0)

    _local: _HashingEmbedder | None = PrivateAttr(default=None)
    batch_endpoint: ClassVar[str] = "/v1/embeddings"

    @property
    def identity(self) -> ModelIdentity:
        if self.provider == "local":
            return ModelIdentity("local", self.model if self.model in LOCAL_MODELS else LOCAL_MODEL, self.dimensions)
        if self.provider == "openai":
            return ModelIdentity("openai", self.model, self.dimensions)
        raise ValueError(f"INVEST_EMBEDDER={self.provider!r}: expected 'local' or 'openai'")

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        if not texts:
            return EmbeddingBatch(np.zeros((0, self.dimensions), dtype=np.float32))
        if self.identity.provider == "local":
            if self._local is None:
                self._local = _HashingEmbedder(self.dimensions, LOCAL_MODELS[self.identity.model])
            return self._local.embed(texts)
        return self._embed_openai(list(texts))

    # --- OpenAI ---------------------------------------------------------------------------

    def _client(self):
        return openai_client(self.api_key, self.base_url, self.max_retries, self.timeout_seconds)

    def pack_requests(self, texts: list[str]) -> tuple[list[list[str]], int, int]:
        """Split into requests within the input-count and token budgets.

        Returns the requests (texts, truncated where over the per-input limit), the
        token total and how many inputs were truncated.
        """
        encoding = cl100k()
        requests: list[list[str]] = [[]]
        budget = tokens_total = truncated = 0
        for text, ids in zip(texts, encoding.encode_ordinary_batch(texts), strict=True):
            if len(ids) > self.max_input_tokens:
                ids = ids[: self.max_input_tokens]
                text = encoding.decode(ids)
                truncated += 1
            count = max(len(ids), 1)
            if requests[-1] and (
                len(requests[-1]) >= self.max_inputs_per_request or budget + count > self.max_tokens_per_request
            ):
                requests.append([])
                budget = 0
            requests[-1].append(text)
            budget += count
            tokens_total += count
        return requests, tokens_total, truncated

    def request_body(self, inputs: list[str]) -> dict:
        return {"model": self.model, "input": inputs, "dimensions": self.dimensions, "encoding_format": "float"}

    def vectors_of(self, response: dict, inputs: int) -> np.ndarray:
        """The vectors of an embeddings response's JSON (an answer, or a batch line's body), in input order."""
        data = sorted(response.get("data") or [], key=lambda item: item["index"])
        if len(data) != inputs or any(len(item["embedding"]) != self.dimensions for item in data):
            raise EmbeddingError(
                f"malformed embedding response: expected {inputs} vectors of {self.dimensions} dimensions"
            )
        return np.asarray([item["embedding"] for item in data], dtype=np.float32)

    def cost_usd(self, tokens: int, batch: bool = False) -> float:
        price = USD_PER_MILLION_TOKENS.get(self.model, 0.0) * (BATCH_DISCOUNT if batch else 1.0)
        return round(tokens * price / 1e6, 10)

    def _embed_request(self, client, inputs: list[str]) -> tuple[np.ndarray, int]:
        from openai import OpenAIError

        try:
            response = client.embeddings.create(**self.request_body(inputs))
        except OpenAIError as err:
            raise EmbeddingError(
                f"embedding request of {len(inputs)} inputs failed: {type(err).__name__}: "
                f"{without_secret(str(err), self.api_key)}"
            ) from None
        usage = response.usage.total_tokens if response.usage else 0
        return self.vectors_of(response.model_dump(), len(inputs)), usage

    def _embed_openai(self, texts: list[str]) -> EmbeddingBatch:
        requests, counted_tokens, truncated = self.pack_requests(texts)
        with self._client() as client, ThreadPoolExecutor(self.max_concurrent_requests) as pool:
            results = list(pool.map(lambda inputs: self._embed_request(client, inputs), requests))
        vectors = np.concatenate([v for v, _ in results])
        tokens = sum(t for _, t in results) or counted_tokens
        return EmbeddingBatch(
            unit_vectors(vectors),
            tokens=tokens,
            truncated=truncated,
            requests=len(requests),
            cost_usd=self.cost_usd(tokens),
        )
