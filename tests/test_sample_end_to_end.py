"""Every asset and check of the code location on a generated sample dataset."""

import pytest
from dagster import AssetSelection, materialize

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.definitions import defs
from invest_assets.embeddings import embedding_assets, embedding_checks
from invest_assets.embeddings.assets import company_description_embedding
from invest_assets.embeddings.checks import company_description_check
from invest_assets.graph import defs as graph_defs
from invest_assets.profiles import investor_profiles
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.extractors import ExtractorResource
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.search import defs as search_defs
from invest_assets.sources.schema import DIMENSIONS
from invest_assets.theses import investor_theses
from invest_assets.tools.sample_data import generate_sample

EXPECTED_ASSETS = {
    "companies",
    "funding_rounds",
    "investments",
    "investors",
    "investor_documents",
    "investor_profiles",
    "investor_theses",
    "sector_embedding",
    "stage_embedding",
    "check_embedding",
    "geography_embedding",
    "signal_embedding",
    "founder_embedding",
    "company_description_embedding",
    "ranking_signals",
    "co_investor_pairs",
    "authority_score",
    "investment_events",
}
REEMBED_ASSETS = {f"{d}_reembedding" for d in DIMENSIONS}  # the shard backfill, run on its own (test_reembed)
BACKTEST_ASSETS = {"ranking_model", "ranking_quality"}  # on demand, run on their own (tests/ranking)


@pytest.mark.slow
def test_every_asset_and_check_on_the_sample(db, tmp_path):
    generate_sample(tmp_path / "src", investors=300, companies=400, rounds=900, seed=2)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS | REEMBED_ASSETS | BACKTEST_ASSETS
    families = [
        *core_assets,
        investor_profiles,
        investor_theses,
        *embedding_assets,
        company_description_embedding,
        *embedding_checks,
        company_description_check,
        *graph_defs.assets,
        *graph_defs.asset_checks,
        *search_defs.asset_checks,
    ]
    result = materialize(
        families,
        selection=AssetSelection.all(),
        resources={
            "database": db,
            "source": LocalFileSource(directory=str(tmp_path / "src")),
            "embedder": EmbedderResource(),
            "extractor": ExtractorResource(),
        },
        tags=all_months_tags(),
    )
    assert result.success
    materialized = {e.materialization.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == EXPECTED_ASSETS
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) >= 4 + 6 + 2 + 1
    assert [e.check_name for e in evaluations if not e.passed] == []
    with db.connection() as conn:
        pairs, scored = conn.execute(
            "SELECT (SELECT count(*) FROM co_investor_pairs),"
            " (SELECT count(*) FROM investors WHERE authority_score IS NOT NULL)"
        ).fetchone()
    assert pairs > 1000 and scored > 200
