"""The sensor that evaluates the graph-derived assets' and investor_profiles' automation condition."""

from dagster import AssetSelection, AutomationConditionSensorDefinition

from invest_assets.in_flight import SENSOR_DEFAULTS

graph_refresh_sensor = AutomationConditionSensorDefinition(
    "graph_refresh_sensor",
    target=AssetSelection.groups("graph", "profiles"),
    **SENSOR_DEFAULTS,
    description="Evaluates the automation condition of the graph-derived assets and investor_profiles: refresh "
    "after the core tables change.",
)
