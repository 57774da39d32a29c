"""A truncated or shadowed snapshot never wipes served data: the load is refused before anything
is written, a blocking check fails, and nothing downstream runs."""

import pandas as pd
import pytest
from dagster import AssetKey, materialize

from invest_assets.core.assets import SNAPSHOT_CHECK, core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.graph.assets import authority_score, co_investor_pairs, ranking_signals
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.settings import MAX_SOFT_DELETE_SHARE
from tests.source_files import write_source, write_table

INVESTORS = [{"source_id": f"i{n}", "name": f"Fund {n}", "kind": "firm"} for n in range(40)]
COMPANIES = [{"source_id": "c1", "name": "Acme"}]
ROUNDS = [{"source_id": "r1", "company_source_id": "c1", "round_type": "seed", "announced_at": "2019-05-01"}]
INVESTMENTS = [{"funding_round_source_id": "r1", "investor_source_id": f"i{n}"} for n in range(3)]


def build(db, directory, selection=None):
    assets = [*core_assets, ranking_signals, co_investor_pairs, authority_score]
    resources = {"database": db, "source": LocalFileSource(directory=str(directory))}
    return materialize(assets, selection=selection, tags=all_months_tags(), resources=resources, raise_on_error=False)


def live(db, table):
    with db.connection() as conn:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL").fetchone()[0]


@pytest.fixture
def loaded(db, tmp_path):
    directory = write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    assert build(db, directory).success
    with db.connection() as conn:
        pairs = conn.execute("SELECT count(*) FROM co_investor_pairs").fetchone()[0]
    assert live(db, "investors") == 40 and pairs == 3
    return directory


def check_evaluation(result, asset):
    [evaluation] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == AssetKey(asset) and e.check_name == SNAPSHOT_CHECK
    ]
    return evaluation


@pytest.mark.parametrize("rows", [0, 25], ids=["header-only", "truncated"])
def test_a_snapshot_that_would_wipe_investors_is_refused_and_stops_downstream(db, loaded, rows):
    write_table(loaded, "investors", INVESTORS[:rows])
    result = build(db, loaded)
    assert not result.success
    evaluation = check_evaluation(result, "investors")
    assert not evaluation.passed and evaluation.blocking
    assert f"would soft-delete {40 - rows} of 40 live investors rows" in evaluation.description
    assert MAX_SOFT_DELETE_SHARE.name in evaluation.description
    failure = next(e for e in result.all_events if e.is_step_failure and e.step_key == "investors")
    assert MAX_SOFT_DELETE_SHARE.name in failure.step_failure_data.error.message
    ran = {e.step_key for e in result.all_events if e.is_step_success}
    assert "investors" not in ran and not ran & {
        "funding_rounds",
        "investments",
        "co_investor_pairs",
        "authority_score",
    }
    assert live(db, "investors") == 40  # nothing written
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM co_investor_pairs").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


def test_an_intended_mass_removal_goes_through_with_the_setting(db, loaded, monkeypatch):
    write_table(loaded, "investors", INVESTORS[:5])
    monkeypatch.setenv(MAX_SOFT_DELETE_SHARE.name, "1")
    result = build(db, loaded, selection=["investors"])
    assert result.success and check_evaluation(result, "investors").passed
    assert live(db, "investors") == 5


def test_a_few_removals_stay_ordinary(db, loaded):
    write_table(loaded, "investors", INVESTORS[:36])  # 4 of 40 missing: within the allowance
    assert build(db, loaded, selection=["investors"]).success
    assert live(db, "investors") == 36


def test_two_files_for_one_table_is_an_error_naming_both(db, loaded):
    pd.DataFrame(INVESTORS[:10]).astype(str).to_parquet(loaded / "investors.parquet")
    result = build(db, loaded, selection=["investors"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "investors.csv" in message and "investors.parquet" in message
    assert live(db, "investors") == 40


def test_an_oversized_value_for_an_indexed_column_is_quarantined_and_the_rest_loads(db, tmp_path):
    companies = [*COMPANIES, {"source_id": "c2", "name": "Huge", "hq_country": "X" * 10_000_000}]
    directory = write_source(
        tmp_path / "big", companies=companies, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    assert build(db, directory, selection=["companies"]).success
    assert live(db, "companies") == 1
    with db.connection() as conn:
        [(source_id, reason)] = conn.execute("SELECT source_id, reason FROM quarantine").fetchall()
    assert source_id == "c2" and reason.startswith("out_of_range: hq_country: a value of 10000000 characters")
