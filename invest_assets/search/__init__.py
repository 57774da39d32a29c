"""The find_investors read path."""

from dagster import Definitions

from invest_assets.search.checks import candidate_recall

defs = Definitions(asset_checks=[candidate_recall])
