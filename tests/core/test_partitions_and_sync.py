"""Monthly partitions of rounds and investments, and delta vs full syncs, against the
embedded database through Dagster's materialize()."""

from datetime import date

import pandas as pd
import pytest
from dagster import materialize
from psycopg import sql

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import MONTHLY, MonthWindow, all_months_tags
from invest_assets.resources.local_source import LocalFileSource
from tests.source_files import write_source

LAST_MONTH = MONTHLY.get_last_partition_key()
COMPANIES = [{"source_id": "c1", "name": "Acme"}]
INVESTORS = [
    {
        "source_id": "f1",
        "name": "Fund One",
        "kind": "firm",
        "signal_text": "fintech missions",
        "updated_at": "2024-01-01T00:00:00+00:00",
    },
    {
        "source_id": "f2",
        "name": "Fund Two",
        "kind": "firm",
        "signal_text": "climate missions",
        "updated_at": "2024-01-01T00:00:00+00:00",
    },
]
# announced_at -> the partition that owns it, and why
ROUND_DAYS = {
    "r_jan_first": ("2013-01-01", "2013-01"),  # first day of the first month
    "r_mar_first": ("2013-03-01", "2013-03"),  # first day of a month: that month
    "r_mar_last": ("2013-03-31", "2013-03"),  # last day of a month: still that month
    "r_apr_first": ("2013-04-01", "2013-04"),
    "r_undated": ("", "2013-01"),  # no date: the first partition, the catch-all
    "r_before": ("2009-06-15", "2013-01"),  # before the first month: the first partition
    "r_later": ("2099-01-01", LAST_MONTH),  # after the current month: the last partition
}
ROUNDS = [
    {"source_id": key, "company_source_id": "c1", "announced_at": day, "amount_usd": "1000000"}
    for key, (day, _) in ROUND_DAYS.items()
]
INVESTMENTS = [
    {"funding_round_source_id": key, "investor_source_id": investor} for key in ROUND_DAYS for investor in ("f1", "f2")
]


def load(db, directory, *, selection=None, partition_key=None, mode="full"):
    config = {
        "ops": {
            name: {"config": {"mode": mode}} for name in ("companies", "investors", "funding_rounds", "investments")
        }
    }
    selected = selection or ["companies", "investors", "funding_rounds", "investments"]
    config["ops"] = {k: v for k, v in config["ops"].items() if k in selected}
    result = materialize(
        core_assets,
        selection=selected,
        run_config=config,
        partition_key=partition_key,
        tags=None if partition_key else all_months_tags(),
        resources={"database": db, "source": LocalFileSource(directory=str(directory))},
    )
    assert result.success
    return {
        e.materialization.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def snapshot(db, table):
    """Every stored column of every row, as text, by source_id."""
    with db.connection() as conn:
        return {
            row[0]: row[1]
            for row in conn.execute(
                sql.SQL("SELECT source_id, t::text FROM {} t ORDER BY source_id").format(sql.Identifier(table))
            )
        }


@pytest.fixture
def source(tmp_path):
    return write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )


def test_every_round_belongs_to_exactly_one_month_in_source_and_database_alike(db, source):
    load(db, source)
    raw_days = pd.Series([day for day, _ in ROUND_DAYS.values()], index=list(ROUND_DAYS))
    owners = {key: [] for key in ROUND_DAYS}
    with db.connection() as conn:
        for month in MONTHLY.get_partition_keys():
            window = MonthWindow.for_keys(month, month)
            in_source = set(raw_days.index[window.contains(raw_days)])
            in_database = {
                row[0]
                for row in conn.execute(
                    sql.SQL("SELECT source_id FROM funding_rounds WHERE {}").format(
                        window.condition(sql.Identifier("announced_at"))
                    )
                )
            }
            assert in_source == in_database, month
            for key in in_source:
                owners[key].append(month)
    assert owners == {key: [month] for key, (_, month) in ROUND_DAYS.items()}


def test_reloading_one_month_touches_only_that_month(db, source):
    load(db, source)
    rounds_before, investments_before = snapshot(db, "funding_rounds"), snapshot(db, "investments")
    changed = [
        dict(r, amount_usd="2500000") if r["source_id"] == "r_mar_first" else r
        for r in ROUNDS
        if r["source_id"] not in ("r_mar_last", "r_apr_first")
    ]  # one March and one April round vanish
    kept = {r["source_id"] for r in changed}
    write_source(
        source,
        companies=COMPANIES,
        investors=INVESTORS,
        funding_rounds=changed,
        investments=[i for i in INVESTMENTS if i["funding_round_source_id"] in kept],
    )

    metadata = load(db, source, selection=["funding_rounds", "investments"], partition_key="2013-03")

    assert metadata["funding_rounds"]["months"].value == "2013-03...2013-03"
    assert (metadata["funding_rounds"]["updated"].value, metadata["funding_rounds"]["soft_deleted"].value) == (1, 1)
    assert metadata["investments"]["soft_deleted"].value == 2  # r_mar_last's two
    rounds_after, investments_after = snapshot(db, "funding_rounds"), snapshot(db, "investments")
    march = {"r_mar_first", "r_mar_last"}
    assert {k: v for k, v in rounds_after.items() if k not in march} == {
        k: v for k, v in rounds_before.items() if k not in march
    }  # r_apr_first stays live until April reloads
    assert {k: v for k, v in investments_after.items() if k.split("|")[0] not in march} == {
        k: v for k, v in investments_before.items() if k.split("|")[0] not in march
    }
    with db.connection() as conn:
        live = dict(conn.execute("SELECT source_id, deleted_at IS NULL FROM funding_rounds").fetchall())
    assert live["r_mar_last"] is False and live["r_apr_first"] is True


def test_the_first_month_reconciles_undated_rounds_and_investments_of_unknown_rounds(db, source):
    load(db, source)
    orphan = {"funding_round_source_id": "r_nowhere", "investor_source_id": "f1"}
    write_source(
        source,
        companies=COMPANIES,
        investors=INVESTORS,
        funding_rounds=[r for r in ROUNDS if r["source_id"] != "r_undated"],
        investments=[i for i in INVESTMENTS if i["funding_round_source_id"] != "r_undated"] + [orphan],
    )

    april = load(db, source, selection=["funding_rounds", "investments"], partition_key="2013-04")
    assert april["funding_rounds"]["soft_deleted"].value == 0 and april["investments"]["quarantined"].value == 0
    january = load(db, source, selection=["funding_rounds", "investments"], partition_key="2013-01")
    assert january["funding_rounds"]["soft_deleted"].value == 1
    assert january["investments"]["soft_deleted"].value == 2
    assert january["investments"]["quarantined"].value == 1  # the unknown round's, owned by the first month


def test_delta_sync_loads_exactly_the_rows_updated_after_the_watermark(db, source, monkeypatch):
    monkeypatch.setenv("INVEST_DELTA_OVERLAP_SECONDS", "0")
    first = load(db, source, selection=["investors"], mode="delta")  # no watermark yet: a full sync
    assert first["investors"]["mode"].value == "full"
    assert first["investors"]["watermark_after"].value == "2024-01-01 00:00:00+00:00"

    edited = [
        dict(INVESTORS[0], signal_text="deep tech missions", updated_at="2024-02-01T00:00:00+00:00"),
        dict(INVESTORS[1], name="Fund Two (renamed without a new updated_at)"),
    ]
    write_source(source, companies=COMPANIES, investors=edited, funding_rounds=ROUNDS, investments=INVESTMENTS)
    delta = load(db, source, selection=["investors"], mode="delta")["investors"]
    assert delta["mode"].value == "delta"
    assert (delta["source_rows"].value, delta["updated"].value) == (1, 1)
    assert delta["watermark_before"].value == "2024-01-01 00:00:00+00:00"
    assert delta["watermark_after"].value == "2024-02-01 00:00:00+00:00"
    with db.connection() as conn:
        names = dict(conn.execute("SELECT source_id, name FROM investors").fetchall())
    assert names["f2"] == "Fund Two"  # a delta trusts updated_at; the full reconcile catches the rest

    write_source(source, companies=COMPANIES, investors=edited[:1], funding_rounds=ROUNDS, investments=[])
    assert load(db, source, selection=["investors"], mode="delta")["investors"]["soft_deleted"].value == 0
    full = load(db, source, selection=["investors"], mode="full")["investors"]
    assert (full["updated"].value, full["soft_deleted"].value) == (0, 1)  # f2 vanished; found only by a full sync


def test_only_runs_over_every_month_move_the_watermark(db, source):
    load(db, source, selection=["companies", "investors"])
    load(db, source, selection=["funding_rounds"], partition_key="2013-03")
    with db.connection() as conn:
        tables = {row[0] for row in conn.execute("SELECT table_name FROM source_sync_state")}
    assert tables == {"companies", "investors"}
    load(db, source, selection=["funding_rounds", "investments"])
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM source_sync_state").fetchone()[0] == 4


def test_a_window_of_all_months_is_everything():
    assert MonthWindow.for_keys(MONTHLY.get_first_partition_key(), LAST_MONTH).is_everything
    middle = MonthWindow.for_keys("2013-02", "2013-03")
    assert (middle.start, middle.end, middle.holds_undated, middle.holds_later) == (
        date(2013, 2, 1),
        date(2013, 4, 1),
        False,
        False,
    )
