"""companies.description_embedding: embedded from the description (else name and sectors),
incrementally by content, re-embedded by the sensor when a description changes, and
searched by ``invest-assets similar-companies``."""

import json

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance, build_sensor_context, materialize

from invest_assets.cli import cli
from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.embeddings.assets import company_description_embedding
from invest_assets.embeddings.checks import company_description_check
from invest_assets.embeddings.sensors import stale_embeddings_sensor
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.local_source import LocalFileSource
from tests.fakes.openai_server import FakeOpenAI
from tests.source_files import write_source

DESCRIPTIONS = {
    "k1": "payments and lending software for banks",
    "k2": "lending and payments api for banks and card issuers",
    "k3": "synthetic biology for crop yields",
}


def companies(**changed):
    rows = [
        {"source_id": k, "name": f"Company {k}", "sectors": '["fintech"]', "description": text}
        for k, text in {**DESCRIPTIONS, **changed}.items()
    ]
    rows.append({"source_id": "k4", "name": "Nameonly", "sectors": '["climate","clean_energy"]', "description": ""})
    rows.append({"source_id": "k5", "name": "Nothing", "sectors": "[]", "description": " "})
    return rows


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def build(db, tmp_path, fake, version="v1", **changed):
    source = LocalFileSource(directory=str(write_source(tmp_path / version, companies=companies(**changed))))
    embedder = EmbedderResource(provider="openai", base_url=fake.base_url, api_key="sk-x", dimensions=1536)
    result = materialize(
        [*core_assets, company_description_embedding, company_description_check],
        selection=["companies", "company_description_embedding"],
        resources={"database": db, "source": source, "embedder": embedder},
        tags=all_months_tags(),
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "company_description_embedding"
    ]
    return event.materialization.metadata


def stored(db):
    with db.connection() as conn:
        return {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT source_id, description_text, description_embedding::text, description_embedded_at"
                " FROM companies"
            )
        }


def test_descriptions_are_embedded_once_and_a_changed_one_alone_again(db, tmp_path, fake):
    metadata = build(db, tmp_path, fake)
    assert sorted(fake.inputs) == sorted([*DESCRIPTIONS.values(), "Nameonly: climate, clean energy"])
    assert metadata["rows_embedded"].value == 4 and metadata["dagster/row_count"].value == 4
    assert metadata["ann_index"].value == "built hnsw"
    before = stored(db)
    assert before["k5"] == (None, None, None)  # neither description nor sectors: no vector

    fake.requests.clear()
    assert build(db, tmp_path, fake)["rows_embedded"].value == 0
    assert fake.inputs == []

    metadata = build(db, tmp_path, fake, "v2", k3="gene editing for wheat and crop yields")
    assert fake.inputs == ["gene editing for wheat and crop yields"]
    after = stored(db)
    assert after["k3"][1] != before["k3"][1]
    assert {k: v for k, v in after.items() if k != "k3"} == {k: v for k, v in before.items() if k != "k3"}


def test_the_sensor_asks_for_the_company_asset_alone_when_a_description_changes(db, tmp_path, fake):
    build(db, tmp_path, fake)
    source = LocalFileSource(directory=str(write_source(tmp_path / "v2", companies=companies(k1="robotics"))))
    materialize(
        core_assets, selection=["companies"], resources={"database": db, "source": source}, tags=all_months_tags()
    )
    with DagsterInstance.ephemeral() as instance:
        result = stale_embeddings_sensor(build_sensor_context(instance=instance, resources={"database": db}))
    [request] = result.run_requests
    assert [k.path[-1] for k in request.asset_selection] == ["company_description_embedding"]
    assert request.tags["invest/stale_rows"] == "1"


def test_similar_companies_from_the_cli(db, tmp_path, fake, monkeypatch):
    build(db, tmp_path, fake)
    monkeypatch.setenv("ALLOYDB_URL", db.url)
    monkeypatch.setenv("INVEST_EMBEDDER", "local")
    answer = CliRunner().invoke(cli, ["similar-companies", "k1", "--limit", "2", "--json"])
    assert answer.exit_code == 0, answer.output
    similar = json.loads(answer.output)["similar"]
    assert [c["source_id"] for c in similar][0] == "k2"  # shares payments, lending, banks
    assert len(similar) == 2 and similar[0]["distance"] <= similar[1]["distance"]

    text = CliRunner().invoke(cli, ["similar-companies", "k1", "--limit", "1"])
    assert "1. " in text.output and "Company k2 (k2)" in text.output

    for company, message in [("nope", "no live company"), ("k5", "neither a description nor sectors")]:
        refused = CliRunner().invoke(cli, ["similar-companies", company])
        assert refused.exit_code == 2 and message in refused.output
