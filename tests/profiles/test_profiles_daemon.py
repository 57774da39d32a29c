"""The profiles path driven by a real ``dagster-daemon``: one new investment in the source
becomes a sync, a profile refresh, and exactly two embedding runs (f2's stage and signal),
each embedding one vector, with nobody clicking anything."""

import psycopg
import pytest
from dagster import DagsterRunStatus, RunsFilter

from invest_assets.embeddings.sensors import DIMENSION_TAG, STALE_ROWS_TAG
from invest_assets.in_flight import ACTIVE_STATUSES
from invest_assets.sources.schema import DIMENSIONS
from invest_assets.vectors.targets import INVESTOR_TARGETS
from tests.daemon import daemon_on_source, wait_until
from tests.profiles.test_investor_profiles import COMPANIES, INVESTMENTS, INVESTORS, ROUNDS
from tests.source_files import write_source

VECTORS = ", ".join(f"{d}_embedding::text" for d in DIMENSIONS)
ANY_STALE = " OR ".join(f"{d}_text_hash IS DISTINCT FROM {d}_embedded_hash" for d in INVESTOR_TARGETS)


def settled(url, instance) -> bool:
    """Profiles derived, every vector current, no run queued or in progress."""
    with psycopg.connect(url) as conn:
        busy = conn.execute(
            f"SELECT count(*) FILTER (WHERE profile_derived_at IS NULL), count(*) FILTER (WHERE"
            f" {ANY_STALE}) FROM investors WHERE source_id = 'f2'"
        ).fetchone()
    return busy == (0, 0) and not instance.get_run_records(RunsFilter(statuses=ACTIVE_STATUSES))


def vectors(url) -> dict:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT source_id, {VECTORS} FROM investors ORDER BY source_id").fetchall()
    return {row[0]: dict(zip(DIMENSIONS, row[1:], strict=True)) for row in rows}


@pytest.fixture
def daemon(tmp_path, database_url, monkeypatch):
    source = write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    with daemon_on_source(tmp_path, database_url, source, monkeypatch) as running:
        yield running


@pytest.mark.slow
def test_one_new_investment_re_embeds_only_f2s_stage_and_signal_through_the_daemon(daemon):
    instance, url, log = daemon["instance"], daemon["url"], daemon["log"]
    wait_until(lambda: instance.get_run_records() and settled(url, instance), "the first build", log)
    before_runs = {r.dagster_run.run_id for r in instance.get_run_records()}
    before = vectors(url)
    assert all(before["f2"].values())

    rounds = [
        *ROUNDS,
        {"source_id": "r4", "company_source_id": "c4", "round_type": "seed", "announced_at": "2021-07-01"},
    ]
    write_source(
        daemon["source"],
        companies=COMPANIES,
        investors=INVESTORS,
        funding_rounds=rounds,
        investments=[*INVESTMENTS, {"funding_round_source_id": "r4", "investor_source_id": "f2"}],
    )

    def new_runs():
        return [r.dagster_run for r in instance.get_run_records() if r.dagster_run.run_id not in before_runs]

    def both_embedded():
        dimensions = {run.tags.get(DIMENSION_TAG) for run in new_runs()}
        return "stage,signal" in dimensions and settled(url, instance)

    wait_until(both_embedded, "the stage and signal embedding runs", log)
    runs = new_runs()
    assert all(run.status == DagsterRunStatus.SUCCESS for run in runs)
    assert [(run.tags[DIMENSION_TAG], run.tags[STALE_ROWS_TAG]) for run in runs if DIMENSION_TAG in run.tags] == [
        ("stage,signal", "1,1")
    ]
    after = vectors(url)
    changed = {(investor, d) for investor in after for d in DIMENSIONS if after[investor][d] != before[investor][d]}
    assert changed == {("f2", "stage"), ("f2", "signal")}
