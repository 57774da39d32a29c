"""What OpenAI calls cost, through the real client against the loopback fake: embedding runs and query
embeddings add their requests, tokens and USD (the fake's own token counts at the model's price) to
openai_usage, find_investors fills runs.cost_usd, and a run estimated over INVEST_OPENAI_MAX_USD_PER_RUN
is refused before anything is sent."""

from decimal import Decimal

import pytest
from dagster import materialize

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.embeddings.assets import embedding_assets
from invest_assets.embeddings.incremental import embed_dimension
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.resources.usage import BudgetExceeded
from invest_assets.search.find_investors import Filters, find_investors
from tests.embeddings.test_embedding_assets import investor, openai
from tests.fakes.openai_server import FakeOpenAI
from tests.source_files import write_source

PRICE = Decimal("0.02")  # USD per million tokens of text-embedding-3-small


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def loaded(db, tmp_path):
    source = write_source(tmp_path / "src", investors=[investor(i) for i in range(40)])
    resources = {"database": db, "source": LocalFileSource(directory=str(source))}
    assert materialize(core_assets, resources=resources, tags=all_months_tags()).success
    return db, source


def usage(db) -> list[tuple]:
    with db.connection() as conn:
        return conn.execute(
            "SELECT model, purpose, requests, input_tokens, output_tokens, cost_usd FROM openai_usage ORDER BY purpose"
        ).fetchall()


def test_an_embedding_run_over_budget_sends_nothing(loaded, fake, monkeypatch):
    db, source = loaded
    monkeypatch.setenv("INVEST_OPENAI_MAX_USD_PER_RUN", "0.000001")
    with db.connection() as conn, pytest.raises(BudgetExceeded) as refused:
        embed_dimension(conn, openai(fake), "sector")
    assert fake.attempts == 0 and usage(db) == []
    # 40 texts of 4 words: 160 counted tokens at $0.02 per million
    assert "embedding sector: estimated $0.0000 is over INVEST_OPENAI_MAX_USD_PER_RUN=$1e-06" in str(refused.value)
    result = materialize(
        embedding_assets,
        selection=["sector_embedding"],
        resources={"database": db, "source": LocalFileSource(directory=str(source)), "embedder": openai(fake)},
        raise_on_error=False,
    )
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "INVEST_OPENAI_MAX_USD_PER_RUN" in failure and fake.attempts == 0
    assert len(result.get_step_failure_events()) == 1  # refused once, not retried


def test_embedding_runs_and_queries_account_for_what_they_cost(loaded, fake, monkeypatch):
    db, _ = loaded
    monkeypatch.setenv("INVEST_OPENAI_MAX_USD_PER_RUN", "1")
    with db.connection() as conn:
        report = embed_dimension(conn, openai(fake), "sector")
        tokens = sum(len(text.split()) for text in fake.inputs)  # the fake's own count
        assert report.tokens == tokens and report.embedded == 40
        result = find_investors(conn, openai(fake), {"sector": "fintech payments"}, Filters(recency_months=None))
        cost = conn.execute("SELECT cost_usd FROM runs WHERE id = %s", (result.run_id,)).fetchone()[0]
    assert cost == Decimal(2) * PRICE / 1_000_000 and result.cost_usd == float(cost)
    assert usage(db) == [
        ("text-embedding-3-small", "embedding", report.requests, tokens, 0, tokens * PRICE / 1_000_000),
        ("text-embedding-3-small", "query", 1, 2, 0, 2 * PRICE / 1_000_000),
    ]
