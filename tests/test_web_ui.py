"""The Dagster web UI driven in headless Chromium as a person uses it: the catalog shows every
asset of the lineage graph and their checks, a materialization launched from an asset's page
succeeds and its metadata (row count, a preview table) shows on that page, and the automation
page lists every sensor and schedule. Screenshots go to test-artifacts/ui/."""

import os
import re
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from invest_assets.instance import INSTANCE_CONFIG, sqlalchemy_url
from tests.core.test_core_assets import COMPANIES, INVESTMENTS, INVESTORS, ROUNDS
from tests.daemon import BIN, free_port, running_webserver, wait_until
from tests.source_files import write_source

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "ui"
CHECKS = {
    **{
        table: ["no_quarantined_rows", "snapshot_keeps_live_rows"]
        for table in ("companies", "investors", "funding_rounds", "investments")
    },
    **{
        f"{d}_embedding": ["vectors_current"]
        for d in ("stage", "check", "geography", "signal", "founder", "company_description")
    },
    "sector_embedding": ["candidate_recall", "vectors_current"],
    "co_investor_pairs": ["pairs_consistent"],
    "authority_score": ["scores_valid"],
}
GROUPS = {
    "core": ["companies", "investors", "funding_rounds", "investments", "investor_documents"],
    "profiles": ["investor_profiles", "investor_theses"],
    "embeddings": [
        f"{d}_embedding" for d in ("sector", "stage", "check", "geography", "signal", "founder", "company_description")
    ],
    "graph": ["ranking_signals", "co_investor_pairs", "authority_score", "investment_events"],
    "ranking": ["ranking_model", "ranking_quality"],
}
ASSETS = [asset for assets in GROUPS.values() for asset in assets]
AUTOMATIONS = [
    "source_changes_sensor",
    "stale_embeddings_sensor",
    "graph_refresh_sensor",
    "delta_sync_schedule",
    "full_reconcile_schedule",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium installed (CI installs Debian's chromium)"),
]


@pytest.fixture
def platform(tmp_path, database_url, maintenance_url):
    """`dagster dev` (webserver and daemon) on a fresh PostgreSQL-backed instance of the repo's dagster.yaml."""
    storage = f"ui_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(storage)))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    source = write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    storage_url = sqlalchemy_url({**conninfo_to_dict(maintenance_url), "dbname": storage})
    env = dict(
        os.environ,
        ALLOYDB_URL=database_url,
        INVEST_SOURCE_DIR=str(source),
        DAGSTER_HOME=str(home),
        DAGSTER_POSTGRES_URL=storage_url,
    )
    port = free_port()
    log = tmp_path / "dagster_dev.log"
    command = [BIN / "dagster", "dev", "-m", "invest_assets.definitions", "-h", "127.0.0.1", "-p", str(port)]
    try:
        with running_webserver(command, port, env, log) as base:
            yield {"base": base, "home": home, "storage_url": storage_url, "log": log}
    finally:
        with psycopg.connect(maintenance_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(storage)))


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        # Tall enough for the whole asset catalog: the UI renders only the rows in view.
        tab = browser.new_page(viewport={"width": 1600, "height": 2400})
        tab.set_default_timeout(60_000)
        yield tab
        browser.close()


def visit(page, base, path, shot):
    page.goto(base + path)
    skip = page.get_by_role("button", name="Skip")  # the UI's one-time newsletter prompt
    page.wait_for_load_state("networkidle")
    if skip.count():
        skip.first.click()
    return lambda: page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)


def test_the_web_ui_shows_assets_checks_and_automations_and_materializes_from_an_asset_page(platform, page):
    base = platform["base"]
    shot = visit(page, base, "/assets", "catalog")
    for asset in ASSETS:
        page.get_by_text(asset, exact=True).first.wait_for()
    shot()

    for asset, checks in CHECKS.items():
        shot = visit(page, base, f"/assets/{asset}?view=checks", f"checks_{asset}")
        page.get_by_text(f"Checks ({len(checks)})").wait_for()
        for check in checks:
            page.get_by_text(check, exact=True).first.wait_for()
    shot()

    visit(page, base, "/asset-groups", "lineage")()
    for group, assets in GROUPS.items():  # each group's lineage graph, its assets as nodes
        shot = visit(
            page, base, f"/locations/invest_assets.definitions/asset-groups/{group}/lineage", f"lineage_{group}"
        )
        for asset in assets:
            page.get_by_text(asset, exact=True).first.wait_for()
        shot()

    # The re-embed shards are never built by the main job: their page says when they run.
    shot = visit(page, base, "/assets/signal_reembedding", "reembedding")
    page.get_by_text(re.compile("Only when the embedding model changes")).first.wait_for()
    shot()

    shot = visit(page, base, "/assets/companies", "materialize")
    page.locator("button", has_text="Materialize").first.click()
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}")).first
    toast.wait_for()
    prefix = re.search(r"[0-9a-f]{8}", toast.inner_text()).group(0)
    shot()
    os.environ["DAGSTER_POSTGRES_URL"], previous = platform["storage_url"], os.environ.get("DAGSTER_POSTGRES_URL")
    try:
        with DagsterInstance.from_config(str(platform["home"])) as instance:

            def launched_run():
                return next((r for r in instance.get_runs() if r.run_id.startswith(prefix)), None)

            wait_until(lambda: launched_run() and launched_run().is_finished, "the launched run", platform["log"])
            run = launched_run()
    finally:
        os.environ.pop("DAGSTER_POSTGRES_URL")
        if previous is not None:
            os.environ["DAGSTER_POSTGRES_URL"] = previous
    assert run.status == DagsterRunStatus.SUCCESS and "dagster/sensor_name" not in run.tags
    assert run.asset_selection == {AssetKey("companies")}
    shot = visit(page, base, f"/runs/{run.run_id}", "run")
    page.get_by_text("Success").first.wait_for()
    shot()

    # The materialization's metadata on the asset's page: its row count, and the preview
    # rendered as a table (a header cell per column), not as Markdown source.
    shot = visit(page, base, "/assets/companies", "materialization")
    page.get_by_text("Row count", exact=True).wait_for()
    page.get_by_text("preview", exact=True).first.scroll_into_view_if_needed()
    page.locator("th", has_text="primary_sector").wait_for()
    for company in COMPANIES:
        page.locator("td", has_text=company["name"]).last.wait_for()
    assert page.get_by_text("| source_id |").count() == 0
    shot()

    shot = visit(page, base, "/automation", "automation")
    for name in AUTOMATIONS:
        page.get_by_text(name, exact=True).first.wait_for()
    shot()
