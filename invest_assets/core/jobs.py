"""The history, one run per month: `dagster job backfill -j load_history --from 2013-01 --to 2013-12`
(runs go through the daemon's queue), or the same months in one run with
`dagster asset materialize --select funding_rounds,investments --partition-range ...`."""

from dagster import define_asset_job

from invest_assets.core.partitions import MONTHLY

load_history = define_asset_job(
    "load_history",
    selection=["funding_rounds", "investments"],
    partitions_def=MONTHLY,
    description="Reconcile funding_rounds and investments one month at a time (full sync of the month).",
)
