"""Core tables: companies, investors, funding_rounds, investments."""

from dagster import Definitions

from invest_assets.core.assets import core_assets
from invest_assets.core.jobs import load_history
from invest_assets.core.schedules import schedules
from invest_assets.core.sensors import source_changes_sensor

defs = Definitions(assets=core_assets, jobs=[load_history], sensors=[source_changes_sensor], schedules=schedules)
