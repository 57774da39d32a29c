"""The embedders: the offline one, token counting, and the real openai client against a
loopback OpenAI-compatible server with injected faults."""

import numpy as np
import pytest

from invest_assets.resources.embedders import EmbedderResource, EmbeddingError, cl100k
from tests.fakes.openai_server import FakeOpenAI


def test_local_vectors_are_unit_deterministic_and_meaningful():
    embedder = EmbedderResource(provider="local", dimensions=256)
    texts = ["fintech payments lending", "payments lending for fintech banks", "robots in warehouses", "!!!"]
    a, b = embedder.embed(texts).vectors, EmbedderResource(provider="local", dimensions=256).embed(texts).vectors
    assert a.shape == (4, 256) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-6)
    assert np.array_equal(a, b)
    assert a[0] @ a[1] > 0.4 and abs(a[0] @ a[2]) < 0.2


def test_local_v2_grades_texts_without_a_shared_word_and_v1_stays_reproducible():
    """v2's trigrams give texts with no word in common a graded similarity (v1 scored them all
    exactly 0, which stalls HNSW search); a database still serving v1 gets v1 vectors."""
    texts = ["insurtech insurance claims", "insurers and claim handling", "robotics warehouse automation"]
    v2 = EmbedderResource(provider="local").embed(texts).vectors
    v1_embedder = EmbedderResource(provider="local", model="local-hashing-v1")
    v1 = v1_embedder.embed(texts).vectors
    assert EmbedderResource(provider="local").identity.model == "local-hashing-v2"
    assert v1_embedder.identity.model == "local-hashing-v1"
    assert abs(v1[0] @ v1[1]) < 1e-6 < v2[0] @ v2[1]  # "insur", "claim": no shared word, shared trigrams
    assert v2[0] @ v2[1] > v2[0] @ v2[2]
    assert np.array_equal(v1, EmbedderResource(provider="local", model="local-hashing-v1").embed(texts).vectors)


def test_token_counts_use_the_real_cl100k_encoding():
    assert cl100k().encode("hello world") == [15339, 1917]
    assert cl100k().encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]


def test_requests_respect_input_and_token_budgets_and_truncate_long_inputs():
    embedder = EmbedderResource(
        provider="openai", max_inputs_per_request=3, max_tokens_per_request=10, max_input_tokens=8
    )
    texts = ["one two", "three four", "five six", "seven", "word " * 20]
    requests, tokens, truncated = embedder.pack_requests(texts)
    assert [len(r) for r in requests] == [3, 2]  # 3 inputs max; the long one fits after truncation
    assert truncated == 1 and len(cl100k().encode(requests[-1][-1])) == 8
    assert tokens == sum(min(len(cl100k().encode(t)), 8) for t in texts)


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def openai_embedder(fake, **overrides):
    settings = dict(
        provider="openai",
        base_url=fake.base_url,
        api_key="sk-test-secret",
        dimensions=64,
        max_inputs_per_request=10,
        max_retries=3,
        timeout_seconds=2.0,
    )
    return EmbedderResource(**{**settings, **overrides})


def test_openai_batches_every_input_once_in_order(fake):
    texts = [f"investor thesis number {i}" for i in range(25)]
    batch = openai_embedder(fake).embed(texts)
    assert sorted(len(r) for r in fake.requests) == [5, 10, 10]
    assert sorted(fake.inputs) == sorted(texts)
    expected = EmbedderResource(provider="local", dimensions=64).embed(texts).vectors
    assert np.allclose(batch.vectors, expected, atol=1e-6) and batch.requests == 3
    assert batch.tokens == sum(len(t.split()) for t in texts) and batch.cost_usd > 0
    assert set(fake.authorization) == {"Bearer sk-test-secret"}


def test_openai_retries_429_with_retry_after_500_and_timeouts(fake):
    fake.faults.extend([("429", 1), ("500",), ("timeout", 3)])
    texts = [f"text {i}" for i in range(5)]
    batch = openai_embedder(fake).embed(texts)
    assert fake.attempts == 4 and len(fake.requests) == 1
    assert sorted(fake.inputs) == sorted(texts)  # nothing embedded twice
    assert batch.vectors.shape == (5, 64)


def test_openai_gives_up_with_a_clear_error_that_hides_the_key(fake):
    fake.faults.extend([("500",)] * 3)
    with pytest.raises(EmbeddingError, match="embedding request of 2 inputs failed") as failure:
        openai_embedder(fake, max_retries=2).embed(["a", "b"])
    assert "sk-test-secret" not in str(failure.value)
    assert fake.attempts == 3


def test_malformed_response_is_refused(fake):
    fake.faults.append(("malformed",))
    with pytest.raises(EmbeddingError, match="malformed embedding response"):
        openai_embedder(fake).embed(["a", "b", "c"])
