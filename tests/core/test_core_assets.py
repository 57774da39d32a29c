"""The four core assets against the embedded database: typing, idempotency, soft delete,
revival and quarantine, driven through Dagster's materialize()."""

from datetime import date

import pytest
from dagster import materialize

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.resources.local_source import LocalFileSource
from tests.source_files import write_source

COMPANIES = [
    {
        "source_id": "c1",
        "name": "Acme Pay",
        "sectors": '["fintech","payments"]',
        "founded_year": "2015",
        "status": "active",
        "hq_country": "US",
        "updated_at": "2024-01-02T03:04:05+00:00",
    },
    {"source_id": "c2", "name": "Medi", "sectors": "[]", "status": "ipo"},
]
INVESTORS = [
    {
        "source_id": "f1",
        "name": "Fund One",
        "kind": "firm",
        "check_size_min_usd": "500000",
        "check_size_max_usd": "",
        "preferred_stages": '["seed","series_a"]',
        "focus_sectors": '["fintech"]',
        "geographies": '["US","CA"]',
        "is_lead_capable": "true",
        "signal_text": "mission driven fintech",
    },
    {"source_id": "p1", "name": "Pat Partner", "kind": "person", "firm_source_id": "f1", "active": "false"},
]
ROUNDS = [
    {
        "source_id": "r1",
        "company_source_id": "c1",
        "round_type": "seed",
        "announced_at": "2019-05-31",
        "amount_usd": "3000000",
        "lead_investor_source_id": "f1",
    },
    {"source_id": "r2", "company_source_id": "c2", "round_type": "series_a", "announced_at": "2020-01-01"},
]
INVESTMENTS = [
    {"funding_round_source_id": "r1", "investor_source_id": "f1", "is_lead": "true", "amount_usd": "2000000"},
    {"funding_round_source_id": "r1", "investor_source_id": "p1", "is_lead": "false"},
    {"funding_round_source_id": "r2", "investor_source_id": "f1"},
]


def run(db, directory):
    result = materialize(
        core_assets,
        resources={"database": db, "source": LocalFileSource(directory=str(directory))},
        tags=all_months_tags(),
    )
    assert result.success
    return {
        e.materialization.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def snapshot(db, table):
    with db.connection() as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY source_id").fetchall()


@pytest.fixture
def source(tmp_path):
    return write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )


def test_values_are_typed_and_references_resolved(db, source):
    run(db, source)
    with db.connection() as conn:
        company = conn.execute(
            "SELECT sectors, founded_year, status, source_updated_at::text FROM companies WHERE source_id='c1'"
        ).fetchone()
        assert company == (["fintech", "payments"], 2015, "active", "2024-01-02 03:04:05+00")
        assert conn.execute("SELECT sectors FROM companies WHERE source_id='c2'").fetchone()[0] == []
        investor = conn.execute(
            "SELECT check_size_min_usd, check_size_max_usd, preferred_stages, geographies, is_lead_capable_stated,"
            " active FROM investors WHERE source_id='f1'"
        ).fetchone()
        assert investor == (500000, None, ["seed", "series_a"], ["US", "CA"], True, True)
        person = conn.execute(
            "SELECT p.active, f.source_id FROM investors p JOIN investors f ON f.id = p.firm_id WHERE p.source_id='p1'"
        ).fetchone()
        assert person == (False, "f1")
        round_ = conn.execute(
            "SELECT r.announced_at, r.amount_usd, c.source_id, i.source_id FROM funding_rounds r"
            " JOIN companies c ON c.id = r.company_id JOIN investors i ON i.id = r.lead_investor_id"
            " WHERE r.source_id='r1'"
        ).fetchone()
        assert round_ == (date(2019, 5, 31), 3_000_000, "c1", "f1")
        investments = conn.execute(
            "SELECT source_id, is_lead, amount_usd FROM investments ORDER BY source_id"
        ).fetchall()
        assert investments == [("r1|f1", True, 2_000_000), ("r1|p1", False, None), ("r2|f1", False, None)]


def test_second_materialization_changes_nothing(db, source):
    run(db, source)
    before = {t: snapshot(db, t) for t in ("companies", "investors", "funding_rounds", "investments")}
    metadata = run(db, source)
    after = {t: snapshot(db, t) for t in before}
    assert after == before  # same ids, same updated_at
    for table, meta in metadata.items():
        assert meta["inserted"].value == 0 and meta["updated"].value == 0, table
        assert meta["unchanged"].value == meta["source_rows"].value


def test_missing_rows_are_soft_deleted_and_revived(db, tmp_path):
    full = dict(companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS)
    run(db, write_source(tmp_path / "a", **full))
    shrunk = dict(full, funding_rounds=ROUNDS[:1], investments=INVESTMENTS[:2])
    metadata = run(db, write_source(tmp_path / "b", **shrunk))
    assert metadata["funding_rounds"]["soft_deleted"].value == 1
    assert metadata["investments"]["soft_deleted"].value == 1
    with db.connection() as conn:
        deleted = conn.execute("SELECT source_id FROM funding_rounds WHERE deleted_at IS NOT NULL").fetchall()
        assert deleted == [("r2",)]
        ids_before = conn.execute("SELECT source_id, id FROM funding_rounds ORDER BY 1").fetchall()
    metadata = run(db, write_source(tmp_path / "c", **full))
    assert metadata["funding_rounds"]["revived"].value == 1
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM funding_rounds WHERE deleted_at IS NOT NULL").fetchone()[0] == 0
        assert conn.execute("SELECT source_id, id FROM funding_rounds ORDER BY 1").fetchall() == ids_before


def test_bad_rows_are_quarantined_with_reasons_and_the_rest_loads(db, tmp_path):
    investors = INVESTORS + [
        {"source_id": "bad_geo", "name": "X", "kind": "firm", "geographies": '["USA"]'},
        {"source_id": "bad_check", "name": "Y", "kind": "firm", "check_size_min_usd": "9", "check_size_max_usd": "1"},
        {"source_id": "bad_type", "name": "Z", "kind": "firm", "check_size_min_usd": "lots"},
        {"source_id": "dup", "name": "First", "kind": "firm"},
        {"source_id": "dup", "name": "Second", "kind": "firm"},
    ]
    rounds = ROUNDS + [{"source_id": "r_orphan", "company_source_id": "nope", "announced_at": "2020-02-02"}]
    directory = write_source(
        tmp_path / "s", companies=COMPANIES, investors=investors, funding_rounds=rounds, investments=INVESTMENTS
    )
    result = materialize(
        core_assets,
        resources={"database": db, "source": LocalFileSource(directory=str(directory))},
        tags=all_months_tags(),
    )
    assert result.success
    with db.connection() as conn:
        reasons = dict(
            conn.execute("SELECT source_id || '@' || table_name, split_part(reason, ':', 1) FROM quarantine").fetchall()
        )
        assert conn.execute("SELECT count(DISTINCT run_id) FROM quarantine").fetchone()[0] == 1
        live = {r[0] for r in conn.execute("SELECT source_id FROM investors")}
    assert reasons == {
        "bad_geo@investors": "invalid_country",
        "bad_check@investors": "impossible_value",
        "bad_type@investors": "not_integer",
        "dup@investors": "duplicate_key",
        "r_orphan@funding_rounds": "unknown_reference",
    }
    assert live == {"f1", "p1"}
    by_asset = {
        e.asset_key.path[-1]: e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == "no_quarantined_rows"
    }
    assert by_asset == {
        "companies": True,
        "investors": False,
        "funding_rounds": False,
        "investments": True,
        "investor_documents": True,
    }
