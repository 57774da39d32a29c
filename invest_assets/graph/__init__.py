"""Graph-derived assets: ranking signals, co-investor pairs, authority score."""

from dagster import Definitions

from invest_assets.graph.assets import (
                   authority_score,
                   co_investor_pairs,
                   pairs_consistent,
                   ranking_signals,
                   scores_valid,
)

defs = Definitions(assets=[ranking_signals, co_investor_pairs, authority_score],
                   asset_checks=[pairs_consistent, scores_valid])
