"""BigQuerySource through the real google-cloud-bigquery client (built by dagster-gcp's
BigQueryResource, authenticating with a real service-account token exchange) against
the loopback BigQuery fake, and end to end: the same rows as local files and as
BigQuery tables load into identical AlloyDB tables."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from dagster import materialize
from dagster_gcp import BigQueryResource
from google.cloud import bigquery
from psycopg import sql

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.resources.bigquery_source import BigQuerySource, parse_table_names, table_ddl
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.sources.schema import TABLES
from tests.core.test_core_assets import COMPANIES, INVESTMENTS, INVESTORS, ROUNDS
from tests.fakes.bigquery_server import FakeBigQuery, service_account_credentials
from tests.source_files import write_source

PROJECT, DATASET = "acme-data", "vc_source"

# Bad rows that BigQuery's column types can still hold: each must be quarantined the same way by both sources.
MESSY = {
    "companies": [{"source_id": "c9", "name": "Zombie Co", "status": "zombie", "sectors": "[]"}],
    "investors": [
        {"source_id": "f9", "name": "Nowhere Fund", "kind": "firm", "geographies": '["XX"]'},
        {"source_id": "f8", "name": "", "kind": "firm"},
    ],
    "funding_rounds": [
        {"source_id": "r8", "company_source_id": "c404", "round_type": "seed"},
        {"source_id": "r9", "company_source_id": "c1", "amount_usd": "1.5"},
    ],
    "investments": [{"funding_round_source_id": "r1", "investor_source_id": "f404", "is_lead": "false"}],
    "investor_documents": [{"investor_source_id": "f1", "kind": "podcast", "url": "https://f1.fm/1", "text": "Hi."}],
}
DOCUMENTS = [{"investor_source_id": "f1", "kind": "web", "url": "https://f1.vc", "text": "We back fintech at seed."}]


def with_explicit_lists(table: str, rows: list[dict]) -> list[dict]:
    """BigQuery has no NULL arrays (it returns them as []), so the shared rows spell out empty lists."""
    lists = [c.name for c in TABLES[table].columns if c.kind == "list"]
    return [{**{name: "[]" for name in lists}, **{k: v for k, v in row.items() if v != ""}} for row in rows]


ROWS = {
    table: with_explicit_lists(table, rows + MESSY[table])
    for table, rows in (
        ("companies", COMPANIES),
        ("investors", INVESTORS),
        ("funding_rounds", ROUNDS),
        ("investments", INVESTMENTS),
        ("investor_documents", DOCUMENTS),
    )
}

# How a local-format CSV cell becomes the BigQuery column value (DuckDB SQL on the fake's tables).
CSV_TO_BIGQUERY = {
    "text": "NULLIF({c}, '')",
    "int": "CAST(NULLIF({c}, '') AS BIGINT)",
    "usd": "CAST(NULLIF({c}, '') AS DECIMAL(38, 9))",
    "date": "CAST(NULLIF({c}, '') AS DATE)",
    "timestamp": "CAST(NULLIF({c}, '') AS TIMESTAMPTZ)",
    "bool": "CAST(NULLIF({c}, '') AS BOOLEAN)",
    "list": "CAST(CAST(NULLIF({c}, '') AS JSON) AS VARCHAR[])",
}


def copy_local_source_into(fake: FakeBigQuery, directory) -> None:
    """Create the expected BigQuery tables (the README's DDL) and fill them from local-format CSVs."""
    fake.execute(f"CREATE SCHEMA {DATASET}")
    for spec in TABLES.values():
        fake.execute(table_ddl(DATASET, spec))
        columns = ", ".join(CSV_TO_BIGQUERY[c.kind].format(c=f'"{c.name}"') for c in spec.columns)
        fake.duckdb.execute(
            f"INSERT INTO {DATASET}.{spec.name} SELECT {columns} FROM read_csv(?, all_varchar = true, header = true)",
            [str(directory / f"{spec.name}.csv")],
        )


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with FakeBigQuery() as server:
        # dagster-gcp builds the client itself; the client's documented emulator switch points it here.
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", server.url)
        yield server


@pytest.fixture
def local_dir(tmp_path):
    return write_source(tmp_path / "local", **ROWS)


def bigquery_source(fake: FakeBigQuery, **kw) -> BigQuerySource:
    credentials = service_account_credentials(f"{fake.url}/token", PROJECT)
    resource = BigQueryResource(project=PROJECT, gcp_credentials=credentials)
    return BigQuerySource(bigquery=resource, dataset=DATASET, **kw)


def test_pages_are_streamed_as_typed_chunks(fake, local_dir):
    copy_local_source_into(fake, local_dir)
    chunks = list(bigquery_source(fake, page_rows=2).read("funding_rounds"))

    assert [len(c) for c in chunks] == [2, 2]
    assert all(list(c.columns) == list(TABLES["funding_rounds"].column_names) for c in chunks)
    rows = pd.concat(chunks).set_index("source_id")
    assert rows.loc["r1", "amount_usd"] == 3_000_000 and rows.loc["r1", "announced_at"] == date(2019, 5, 31)
    assert rows.loc["r9", "amount_usd"] == "1.500000000"  # a fractional NUMERIC stays text for validation
    page_requests = [p for m, p in fake.requests if m == "GET" and "/queries/" in p]
    assert len(page_requests) >= 2
    assert ("POST", "/token") in fake.requests  # a real OAuth token exchange happened


def test_types_of_lists_timestamps_and_null_arrays(fake, local_dir):
    copy_local_source_into(fake, local_dir)
    rows = pd.concat(bigquery_source(fake).read("companies")).set_index("source_id")

    assert list(rows.loc["c1", "sectors"]) == ["fintech", "payments"]
    assert rows.loc["c1", "updated_at"] == pd.Timestamp("2024-01-02T03:04:05Z")
    assert rows.loc["c1", "founded_year"] == 2015 and rows.loc["c2", "founded_year"] is None
    assert list(rows.loc["c2", "sectors"]) == []


def test_delta_read_binds_the_watermark_as_a_parameter(fake, local_dir):
    copy_local_source_into(fake, local_dir)
    since = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rows = pd.concat(bigquery_source(fake).read("companies", since=since))

    # c1 changed after the watermark; rows with no updated_at are kept, as the local source keeps them.
    assert sorted(rows["source_id"]) == ["c1", "c2", "c9"]
    query, parameters = fake.queries[-1]
    assert "@since" in query and "2024" not in query
    assert parameters == {"since": since}
    later = pd.concat(bigquery_source(fake).read("companies", since=datetime(2025, 1, 1, tzinfo=timezone.utc)))
    assert sorted(later["source_id"]) == ["c2", "c9"]


def test_table_names_are_configurable_and_checked(fake, local_dir):
    copy_local_source_into(fake, local_dir)
    fake.execute(f"CREATE TABLE `{DATASET}.orgs` AS SELECT * FROM `{DATASET}.companies` LIMIT 1")
    renamed = pd.concat(bigquery_source(fake, table_names={"companies": "orgs"}).read("companies"))
    assert len(renamed) == 1

    with pytest.raises(ValueError, match="not a valid BigQuery identifier"):
        next(bigquery_source(fake, table_names={"companies": "orgs` WHERE 1=1 --"}).read("companies"))


def test_missing_table_is_a_clear_error(fake):
    fake.execute(f"CREATE SCHEMA {DATASET}")
    with pytest.raises(Exception, match="companies"):
        next(bigquery_source(fake).read("companies"))


LOAD_COLUMNS = ["id", "uuid", "created_at", "updated_at", "deleted_at"]  # made by each load, not by the source


def table_contents(url: str, table: str) -> dict[str, dict]:
    """Rows keyed by source_id, surrogate ids replaced by the referenced source_ids."""
    spec = TABLES[table]
    references = sql.SQL("").join(
        sql.SQL(" || jsonb_build_object({}, (SELECT r.source_id FROM {} r WHERE r.id = t.{}))").format(
            sql.Literal(ref.target_column), sql.Identifier(ref.table), sql.Identifier(ref.target_column)
        )
        for ref in spec.references
    )
    query = sql.SQL("SELECT t.source_id, (to_jsonb(t) - %s::text[]){} FROM {} t").format(
        references, sql.Identifier(table)
    )
    with psycopg.connect(url) as conn:
        return dict(conn.execute(query, (LOAD_COLUMNS,)).fetchall())


def quarantine_codes(url: str) -> Counter:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT table_name, source_id, split_part(reason, ':', 1) FROM quarantine").fetchall()
    return Counter(rows)


def load(url: str, source) -> None:
    result = materialize(
        core_assets, resources={"database": AlloyDBResource(url=url), "source": source}, tags=all_months_tags()
    )
    assert result.success


def test_bigquery_and_local_sources_load_identical_tables(fake, local_dir, new_database_url):
    copy_local_source_into(fake, local_dir)
    local_url, bigquery_url = new_database_url(), new_database_url()

    load(local_url, LocalFileSource(directory=str(local_dir)))
    load(bigquery_url, bigquery_source(fake, page_rows=2))

    for table in TABLES:
        local_rows = table_contents(local_url, table)
        assert local_rows, table
        bigquery_rows = table_contents(bigquery_url, table)
        assert bigquery_rows == local_rows, table
    codes = quarantine_codes(local_url)
    assert quarantine_codes(bigquery_url) == codes
    assert {code for _, _, code in codes} >= {"invalid_choice", "invalid_country", "missing_value", "not_integer"}


def test_a_dataset_without_the_optional_documents_table_loads(fake, local_dir, new_database_url):
    copy_local_source_into(fake, local_dir)
    fake.execute(f"DROP TABLE {DATASET}.investor_documents")
    source = bigquery_source(fake)
    assert source.fingerprints(TABLES)["investor_documents"] == "absent"
    url = new_database_url()
    load(url, source)
    assert table_contents(url, "investor_documents") == {} and table_contents(url, "investors")


def test_invest_source_bigquery_selects_the_bigquery_source(fake, local_dir, monkeypatch, new_database_url):
    from invest_assets.resources.factories import source_resource

    copy_local_source_into(fake, local_dir)
    fake.execute(f"CREATE TABLE `{DATASET}.orgs` AS SELECT * FROM `{DATASET}.companies` WHERE source_id = 'c1'")
    monkeypatch.setenv("INVEST_BIGQUERY_TABLES", "companies=orgs")
    monkeypatch.setenv("INVEST_SOURCE", "bigquery")
    monkeypatch.setenv("INVEST_BIGQUERY_PROJECT", PROJECT)
    monkeypatch.setenv("INVEST_BIGQUERY_DATASET", DATASET)
    monkeypatch.setenv("INVEST_BIGQUERY_CREDENTIALS", service_account_credentials(f"{fake.url}/token", PROJECT))
    source = source_resource()

    assert isinstance(source, BigQuerySource)
    url = new_database_url()
    load(url, source)
    assert set(table_contents(url, "companies")) == {"c1"}


def test_table_names_from_the_environment_are_checked():
    assert parse_table_names(" companies=orgs, investors = vc_investors ") == {
        "companies": "orgs",
        "investors": "vc_investors",
    }
    with pytest.raises(ValueError, match="INVEST_BIGQUERY_TABLES"):
        parse_table_names("organisations=orgs")


def test_the_docs_show_the_expected_table_ddl():
    readme = (Path(__file__).resolve().parents[2] / "docs" / "bigquery.md").read_text()
    for spec in TABLES.values():
        assert table_ddl(DATASET, spec) + ";" in readme, spec.name


@pytest.mark.slow
def test_dagster_cli_materializes_the_core_assets_from_bigquery(fake, local_dir, new_database_url, tmp_path):
    copy_local_source_into(fake, local_dir)
    local_url, bigquery_url = new_database_url(), new_database_url()
    load(local_url, LocalFileSource(directory=str(local_dir)))
    (tmp_path / "dagster_home").mkdir()
    env = dict(
        os.environ,  # carries BIGQUERY_EMULATOR_HOST, set by the fake fixture
        ALLOYDB_URL=bigquery_url,
        INVEST_SOURCE="bigquery",
        INVEST_BIGQUERY_PROJECT=PROJECT,
        INVEST_BIGQUERY_DATASET=DATASET,
        INVEST_BIGQUERY_CREDENTIALS=service_account_credentials(f"{fake.url}/token", PROJECT),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        INVEST_ASSETS_HOME=str(tmp_path / "home"),
    )
    done = subprocess.run(
        [
            Path(sys.executable).parent / "dagster",
            "asset",
            "materialize",
            "-m",
            "invest_assets.definitions",
            "--select",
            "group:core",
            "--partition-range",
            "{dagster/asset_partition_range_start}...{dagster/asset_partition_range_end}".format(**all_months_tags()),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for table in TABLES:
        assert table_contents(bigquery_url, table) == table_contents(local_url, table), table


def test_the_fake_answers_query_and_wait_through_jobs_query(fake):
    """client.query_and_wait takes the other REST path (jobs.query, jobs.get, then paged getQueryResults)."""
    fake.execute(f"CREATE SCHEMA {DATASET}")
    fake.execute(f"CREATE TABLE `{DATASET}.numbers` (n INT64)")
    fake.execute(f"INSERT INTO `{DATASET}.numbers` SELECT range FROM range(5)")
    parameter = bigquery.ScalarQueryParameter("low", "INT64", 1)
    rows = (
        bigquery_source(fake)
        .client()
        .query_and_wait(
            f"SELECT n FROM `{PROJECT}.{DATASET}.numbers` WHERE n >= @low ORDER BY n",
            job_config=bigquery.QueryJobConfig(query_parameters=[parameter]),
            page_size=2,
        )
    )
    assert [row.n for row in rows] == [1, 2, 3, 4]
    assert ("POST", f"/bigquery/v2/projects/{PROJECT}/queries") in fake.requests
