"""Graph-derived assets: ranking signals, co-investor pairs, authority score, investment events."""

from dagster import Definitions

from invest_assets.graph.assets import authority_score, co_investor_pairs, investment_events, ranking_signals
from invest_assets.graph.checks import pairs_consistent, scores_valid
from invest_assets.graph.sensors import graph_refresh_sensor

defs = Definitions(
    assets=[ranking_signals, co_investor_pairs, authority_score, investment_events],
    asset_checks=[pairs_consistent, scores_valid],
    sensors=[graph_refresh_sensor],
)
