"""Core tables: companies, investors, funding_rounds, investments."""

from dagster import Definitions

from invest_assets.core.assets import core_assets

defs = Definitions(assets=core_assets)
