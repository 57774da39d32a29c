"""The find_investors read path: its recall check and the retention of its audit rows."""

from dagster import Definitions

from invest_assets.search.checks import candidate_recall
from invest_assets.search.jobs import runs_retention
from invest_assets.search.schedules import runs_retention_schedule

defs = Definitions(asset_checks=[candidate_recall], jobs=[runs_retention], schedules=[runs_retention_schedule])
