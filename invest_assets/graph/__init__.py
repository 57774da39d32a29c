"""Graph-derived assets: ranking signals, co-investor pairs, authority score."""

from dagster import AssetSelection, AutomationConditionSensorDefinition, Definitions

from invest_assets.graph.assets import (
                   authority_score,
                   co_investor_pairs,
                   pairs_consistent,
                   ranking_signals,
                   scores_valid,
)
from invest_assets.in_flight import SENSOR_DEFAULTS

graph_refresh_sensor = AutomationConditionSensorDefinition(
    "graph_refresh_sensor",
    target=AssetSelection.groups("graph", "profiles"),
    **SENSOR_DEFAULTS,
    description="Evaluates the automation condition of the graph-derived assets and investor_profiles: refresh "
    "after the core tables change.",
)

defs = Definitions(assets=[ranking_signals, co_investor_pairs, authority_score],
                   asset_checks=[pairs_consistent, scores_valid], sensors=[graph_refresh_sensor])
