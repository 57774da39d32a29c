"""Investor profiles derived from the investment graph (the six texts and typed preferences)."""

from dagster import Definitions

from invest_assets.profiles.assets import investor_profiles

defs = Definitions(assets=[investor_profiles])
