"""Which assets runs already queued or in progress will materialize (for the sensors)."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, DefaultSensorStatus, RunsFilter

from invest_assets import settings

# How often the sensors tick (each tick is one cheap query, see their modules); on by default.
SENSOR_INTERVAL_SECONDS = settings.SENSOR_INTERVAL_SECONDS.value()
SENSOR_DEFAULTS = {"minimum_interval_seconds": SENSOR_INTERVAL_SECONDS, "default_status": DefaultSensorStatus.RUNNING}

ACTIVE_STATUSES = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def assets_in_flight(instance: DagsterInstance, candidates: set[AssetKey]) -> set[AssetKey]:
    """The ``candidates`` some active run targets. One query to the run storage; a run
    whose asset selection is unknown (a whole-job run) counts as targeting them all."""
    busy: set[AssetKey] = set()
    for record in instance.get_run_records(RunsFilter(statuses=ACTIVE_STATUSES)):
        selection = record.dagster_run.asset_selection
        busy |= candidates if selection is None else candidates & set(selection)
    return busy
