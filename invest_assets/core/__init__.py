"""Core tables: companies, investors, funding_rounds, investments."""

from dagster import Definitions, define_asset_job

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import MONTHLY
from invest_assets.core.schedules import schedules
from invest_assets.core.sensors import source_changes_sensor

# The history, one run per month: `dagster job backfill -j load_history --from 2013-01 --to 2013-12`
# (runs go through the daemon's queue), or the same months in one run with
# `dagster asset materialize --select funding_rounds,investments --partition-range ...`.
load_history = define_asset_job(
    "load_history",
    selection=["funding_rounds", "investments"],
    partitions_def=MONTHLY,
    description="Reconcile funding_rounds and investments one month at a time (full sync of the month).",
)

defs = Definitions(assets=core_assets, jobs=[load_history], sensors=[source_changes_sensor], schedules=schedules)
