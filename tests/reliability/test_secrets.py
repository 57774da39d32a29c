"""The OpenAI key never shows up in Dagster's event log, metadata, error messages or runs."""

from contextlib import nullcontext

import pytest
from dagster import DagsterInstance, materialize

from invest_assets.core.assets import core_assets
from invest_assets.embeddings.assets import embedding_assets
from invest_assets.resources.embedders import EmbedderResource, EmbeddingError
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.search.find_investors import Filters, find_investors
from tests.fakes.openai_server import FakeOpenAI
from tests.source_files import write_source

SECRET = "sk-live-DO-NOT-LEAK-4242"


def run_text(instance, result) -> str:
    records = instance.all_logs(result.run_id)
    return "\n".join(repr(record) for record in records)


@pytest.mark.parametrize("fail", [False, True])
def test_the_api_key_stays_out_of_logs_metadata_and_errors(db, tmp_path, fail):
    directory = write_source(
        tmp_path / "s",
        investors=[
            {"source_id": f"i{i}", "name": f"I{i}", "kind": "firm", "signal_text": f"mission {i}"} for i in range(5)
        ],
    )
    with FakeOpenAI() as fake, DagsterInstance.ephemeral() as instance:
        if fail:
            fake.faults.extend([("500",)] * 10)
        embedder = EmbedderResource(provider="openai", base_url=fake.base_url, api_key=SECRET, max_retries=1)
        result = materialize(
            [*core_assets, *embedding_assets],
            selection=["investors", "signal_embedding"],
            resources={"database": db, "source": LocalFileSource(directory=str(directory)), "embedder": embedder},
            instance=instance,
            raise_on_error=False,
        )
        assert result.success is not fail
        assert SECRET not in run_text(instance, result)
        assert fake.authorization and all(a == f"Bearer {SECRET}" for a in fake.authorization)  # it was used
        with db.connection() as conn, pytest.raises(EmbeddingError) if fail else nullcontext():
            find_investors(conn, embedder, {"signal": "mission"}, Filters(recency_months=None))
        with db.connection() as conn:
            stored = conn.execute("SELECT coalesce(string_agg(r::text, ' '), '') FROM runs r").fetchone()[0]
        assert stored and SECRET not in stored
