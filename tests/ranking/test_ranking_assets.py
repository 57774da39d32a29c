"""ranking_model and ranking_quality materialized as Dagster assets: the backtest's table and its
numbers in the metadata, the fitted model stored and served to find_investors."""

import json

import pytest
from dagster import materialize

from invest_assets.ranking.assets import ranking_backtest
from invest_assets.resources.database import stop_embedded_server
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.search.find_investors import Filters, find_investors
from invest_assets.search.graph_rank import RankingModel, served_model, shipped_model
from tests.ranking.test_evaluate import COMPANIES, CUT, INVESTMENTS, INVESTORS, ROUNDS, UNTIL
from tests.search.test_find_investors import LOCAL
from tests.source_files import write_source


@pytest.mark.slow
def test_the_backtest_assets_store_and_serve_the_model_and_show_the_table(db, tmp_path, monkeypatch):
    monkeypatch.setenv("INVEST_ASSETS_HOME", str(tmp_path / "home"))
    source = write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    config = {"cut": str(CUT), "until": str(UNTIL), "train_months": 9, "max_rounds": None}
    with db.connection() as conn:
        assert served_model(conn) == shipped_model()  # nothing fitted here yet
    try:
        result = materialize(
            [ranking_backtest],
            resources={"database": db, "source": LocalFileSource(directory=str(source))},
            run_config={"ops": {"ranking_backtest": {"config": config}}},
        )
    finally:
        for build in ("train", "test"):
            stop_embedded_server(str(tmp_path / "home" / "backtest" / build / "home"))
    assert result.success
    metadata = {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    quality, model_metadata = metadata["ranking_quality"], metadata["ranking_model"]
    assert "| find_investors graph (learned) | 1.000" in quality["table"].value
    assert quality["recall@25 all: find_investors graph (learned)"].value == 1.0
    baselines = [v.value for k, v in quality.items() if k.startswith("recall@25 all:") and "find_investors" not in k]
    assert quality["recall@25 lead over the best baseline: all"].value == pytest.approx(1.0 - max(baselines), abs=1e-4)
    assert quality["test rounds"].value == 3 and quality["cut"].value == str(CUT)
    assert "| existing_investor |" in model_metadata["coefficients"].value
    assert model_metadata["trained on rounds"].value.startswith("2020-04-01 to 2021-01-01 (3 rounds")

    with db.connection() as conn:
        [(version, stored)] = conn.execute("SELECT version, model FROM ranking_models WHERE serving").fetchall()
        assert version == model_metadata["version"].value != shipped_model().version
        assert served_model(conn) == RankingModel.from_json(json.dumps(stored))
        answer = find_investors(conn, LOCAL, {"sector": "fintech"}, Filters(recency_months=None), variant="graph")
    assert answer.weights == {"model": version}
