"""The sensor that evaluates the automation condition of the graph-derived assets and of the profiles
group (investor_profiles, investor_theses)."""

from dagster import AssetSelection, AutomationConditionSensorDefinition

from invest_assets.in_flight import SENSOR_DEFAULTS

graph_refresh_sensor = AutomationConditionSensorDefinition(
    "graph_refresh_sensor",
    target=AssetSelection.groups("graph", "profiles"),
    **SENSOR_DEFAULTS,
    description="Evaluates the automation condition of the graph-derived assets, investor_profiles and "
    "investor_theses: refresh after the core tables (or the investor documents) change.",
)
