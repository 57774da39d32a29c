"""Bad input at the CLI's doors: one clear line and the usage exit code (2), never a traceback;
and values that used to be accepted wrongly are refused."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from invest_assets.cli import cli
from invest_assets.search.find_investors import Filters, find_investors
from tests.search.test_find_investors import LOCAL, investors  # noqa: F401 (fixture)

BIN = Path(sys.executable).parent
QUERY = ["find-investors", "--sector-text", "fintech payments"]


@pytest.fixture
def built(db, investors, monkeypatch):  # noqa: F811 (the find_investors tests' investors fixture)
    monkeypatch.setenv("ALLOYDB_URL", db.url)
    with db.connection() as conn:
        run = find_investors(conn, LOCAL, {"sector": "fintech payments"}, Filters(recency_months=None), limit=3)
    return run


@pytest.mark.parametrize(
    "args, message",
    [
        ([*QUERY, "--weights", "{not json"], "not JSON"),
        ([*QUERY, "--weights", "[1, 2]"], "expected an object"),
        ([*QUERY, "--weights", '{"signal": 1}'], "no weight for ['sector']"),
        ([*QUERY, "--weights", '{"sector": "high"}'], "is not a finite number"),
        ([*QUERY, "--weights", '{"sector": NaN}'], "is not a finite number"),
        ([*QUERY, "--weights", '{"sector": -1}'], "is not a finite number"),
        ([*QUERY, "--weights", '{"sectr": 1}'], "unknown dimensions"),
        (["find-investors"], "give at least one query text"),
        ([*QUERY, "--limit", "-1"], "--limit"),
        ([*QUERY, "--limit", "0"], "--limit"),
        ([*QUERY, "--limit", "1e11"], "--limit"),
        ([*QUERY, "--recency-months", "-5"], "--recency-months"),
        ([*QUERY, "--recency-months", str(2**31)], "--recency-months"),
        ([*QUERY, "--user", "u" * 3000], "--user"),
        (["feedback", str(2**63), "i1", "pass"], "RUN_ID"),
        (["feedback", "999999", "i1", "pass"], "no run 999999"),
        (["feedback", "RUN", "nobody", "pass"], "no investor 'nobody'"),
        (["warm-paths", "i1", "--limit", "-1"], "--limit"),
        (["warm-paths", "i1", "--limit", "0"], "--limit"),
        (["warm-paths", "nobody"], "no investor 'nobody'"),
    ],
)
def test_bad_input_gets_one_line_and_exit_code_2(built, args, message):
    args = [str(built.run_id) if a == "RUN" else a for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_feedback_outside_the_run_results_is_refused_and_inside_recorded(built, db):
    shown = built.investors[0]["source_id"]
    with db.connection() as conn:
        unseen = conn.execute(
            "SELECT source_id FROM investors WHERE NOT (id = ANY(%s)) LIMIT 1", ([i["id"] for i in built.investors],)
        ).fetchone()[0]
    refused = CliRunner().invoke(cli, ["feedback", str(built.run_id), unseen, "thumbs_up"])
    assert refused.exit_code == 2 and f"is not among the results of run {built.run_id}" in refused.output
    recorded = CliRunner().invoke(cli, ["feedback", str(built.run_id), shown, "thumbs_up"])
    assert recorded.exit_code == 0 and "recorded" in recorded.output


def test_warm_paths_tells_an_investor_without_co_investors_from_an_unknown_one(built):
    result = CliRunner().invoke(cli, ["warm-paths", "i1"])
    assert result.exit_code == 0 and "has no co-investors" in result.output


@pytest.mark.slow
def test_an_unknown_embedder_setting_is_one_line_before_any_step(tmp_path, database_url):
    env = dict(os.environ, ALLOYDB_URL=database_url, INVEST_EMBEDDER="bogus", DAGSTER_HOME=str(tmp_path))
    done = subprocess.run([BIN / "invest-assets", "build"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "error: INVEST_EMBEDDER='bogus': expected one of local, openai"
    assert "Traceback" not in done.stderr and "STEP_START" not in done.stdout + done.stderr


def test_the_text_output_labels_its_distances_and_hints_at_unknown_filter_values(built):
    result = CliRunner().invoke(cli, [*QUERY, "--recency-months", "0", "--limit", "3"])
    assert result.exit_code == 0
    assert "lower is better" in result.output
    assert "  1. distance " in result.output and "[sector " in result.output
    empty = CliRunner().invoke(cli, [*QUERY, "--recency-months", "0", "--stage", "seedd"])
    assert "hint: no investor lists stage 'seedd'; known: seed, series_a" in empty.output


def test_an_empty_database_says_build_first(db, monkeypatch):
    monkeypatch.setenv("ALLOYDB_URL", db.url)
    result = CliRunner().invoke(cli, QUERY)
    assert result.exit_code == 0 and "build first" in result.output
