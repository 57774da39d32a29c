"""The backtest on real rounds in CI: the committed Washington-state slice of the 2013 Crunchbase
data (tests/data/realvc_wa_2013), built as of 2012-07-01 and ranked for the rounds after it."""

from datetime import date
from pathlib import Path

import pytest

from invest_assets.ranking.evaluate import evaluate
from invest_assets.resources.database import stop_embedded_server

SLICE = Path(__file__).parent.parent / "data" / "realvc_wa_2013"


@pytest.mark.slow
def test_on_real_rounds_the_learned_ranking_beats_popularity(tmp_path):
    try:
        result = evaluate(SLICE, date(2012, 7, 1), date(2014, 1, 1), tmp_path / "work", train_months=12)
    finally:
        for build in ("train", "test"):
            stop_embedded_server(str(tmp_path / "work" / build / "home"))
    print(result.markdown())  # the table, in the test log
    recall = {name: splits["all"]["recall@25"] for name, splits in result.rankings.items()}
    learned, popular = recall["find_investors graph (learned)"], recall["global popularity"]
    assert result.rounds > 100
    assert learned["low"] > recall["random"]["high"]
    # Measured 2026-12-02: learned 0.624, popularity 0.474, the company's syndicate 0.655. In a slice of
    # 833 investors popularity is a strong prior and the model is fitted on one region's rounds; on the
    # full data (README) the learned ranking leads. The floor below keeps a regression visible.
    assert learned["mean"] > popular["mean"] + 0.05
