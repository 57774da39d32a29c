"""The sync schedules: what they ask for, that it runs, and that cron and time zone come from the environment."""

import os
import subprocess
import sys
from datetime import datetime, timezone

from dagster import DagsterInstance, build_schedule_context, materialize

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.core.schedules import delta_sync_schedule, full_reconcile_schedule
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.sources.schema import TABLES
from tests.core.test_partitions_and_sync import COMPANIES, INVESTMENTS, INVESTORS, ROUNDS
from tests.source_files import write_source

WHEN = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)


def request_of(schedule):
    with DagsterInstance.ephemeral() as instance:
        return schedule.evaluate_tick(
            build_schedule_context(instance=instance, scheduled_execution_time=WHEN)
        ).run_requests[0]


def test_schedules_sync_every_core_table_over_every_month_in_their_mode(db, tmp_path):
    source = write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    resources = {"database": db, "source": LocalFileSource(directory=str(source))}
    for schedule, mode in ((full_reconcile_schedule, "full"), (delta_sync_schedule, "delta")):
        request = request_of(schedule)
        assert {op: c["config"]["mode"] for op, c in request.run_config["ops"].items()} == dict.fromkeys(TABLES, mode)
        assert all_months_tags().items() <= request.tags.items()
        assert request.run_key == f"{mode}:2026-11-22T03:00"  # one run per tick, even if evaluated twice
        result = materialize(core_assets, run_config=request.run_config, tags=request.tags, resources=resources)
        modes = {
            e.asset_key.path[-1]: e.materialization.metadata["mode"].value
            for e in result.get_asset_materialization_events()
        }
        # Only the investors rows carry updated_at: the other tables have no watermark, so their delta is full.
        assert modes == {**dict.fromkeys(TABLES, "full"), "investors": mode}


def test_cron_strings_and_time_zone_come_from_the_environment():
    env = dict(
        os.environ,
        INVEST_DELTA_SYNC_CRON="*/5 * * * *",
        INVEST_RECONCILE_CRON="30 1 * * 0",
        INVEST_SCHEDULE_TIMEZONE="Europe/Berlin",
    )
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from invest_assets.core.schedules import schedules\n"
            "for s in schedules: print(s.name, s.cron_schedule, s.execution_timezone, s.default_status.value)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert shown == [
        "delta_sync_schedule */5 * * * * Europe/Berlin STOPPED",
        "full_reconcile_schedule 30 1 * * 0 Europe/Berlin STOPPED",
    ]
