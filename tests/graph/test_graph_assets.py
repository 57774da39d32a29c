"""Graph-derived assets on a small hand-built graph whose answers are worked out below.

Investors A, B, C, D live; E soft-deleted. Companies X, Y.
  r1  X  2020-01-01  lead A   investments A(lead) B C
  r2  Y  2021-06-30  lead B   investments B(lead) C E          (E is soft-deleted: ignored)
  r3  X  2022-01-01  (round soft-deleted)  investments A B     (ignored)
  r4  Y  2019-03-03  lead A   investments A(lead) D            (D's investment soft-deleted)
Live participation: r1 A* B C, r2 B* C, r4 A*.
  ranking: A 2 investments 2 leads last 2020-01-01; B 2/1/2021-06-30; C 2/0/2021-06-30; D 0/0/NULL,
           D states is_lead_capable = true (kept, 'stated'); C derived false; A, B derived true.
  pairs:   (A,B) 1 round X 2020-01-01 A led 1; (A,C) 1 round X, A led 1;
           (B,C) 2 rounds, companies X and Y, 2020-01-01..2021-06-30, B led 1, C led 0.
  authority edges follower -> lead: B->A, C->A (r1), C->B (r2). Newest live round 2021-06-30, so
           volume A = 0.5^(1.5/3) + 0.5^(2.33/3), B = C = 0.5^(1.5/3) + 1; A has the top PageRank, so
           A = 0.7 + 0.3 * log1p(vol A) / log1p(vol B); B ranks above C (C only gives); D none.
"""

from datetime import date

import numpy as np
import pytest
from dagster import AssetKey, materialize

from invest_assets.core.partitions import all_months_tags
from invest_assets.graph.assets import authority_score, co_investor_pairs, ranking_signals
from invest_assets.graph.checks import pairs_consistent, scores_valid
from invest_assets.graph.warm_paths import warm_paths

GRAPH = [ranking_signals, co_investor_pairs, authority_score, pairs_consistent, scores_valid]


@pytest.fixture
def graph(db):
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO investors (source_id, name, kind, is_lead_capable_stated, deleted_at) VALUES"
            " ('A','Alpha','firm',NULL,NULL), ('B','Beta','firm',NULL,NULL), ('C','Gamma','person',NULL,NULL),"
            " ('D','Delta','firm',true,NULL), ('E','Epsilon','firm',NULL,now())"
        )
        conn.execute("INSERT INTO companies (source_id, name) VALUES ('X','Xco'), ('Y','Yco')")
        conn.execute(
            """
            INSERT INTO funding_rounds (source_id, company_id, announced_at, lead_investor_id, deleted_at)
            SELECT r, (SELECT id FROM companies WHERE source_id = c), d::date,
                   (SELECT id FROM investors WHERE source_id = l), CASE WHEN del THEN now() END
            FROM (VALUES ('r1','X','2020-01-01','A',false), ('r2','Y','2021-06-30','B',false),
                         ('r3','X','2022-01-01',NULL,true), ('r4','Y','2019-03-03','A',false)) v(r, c, d, l, del)
            """
        )
        conn.execute(
            """
            INSERT INTO investments (source_id, funding_round_id, investor_id, is_lead, deleted_at)
            SELECT r || '|' || i, (SELECT id FROM funding_rounds WHERE source_id = r),
                   (SELECT id FROM investors WHERE source_id = i), lead, CASE WHEN del THEN now() END
            FROM (VALUES ('r1','A',true,false), ('r1','B',false,false), ('r1','C',false,false),
                         ('r2','B',true,false), ('r2','C',false,false), ('r2','E',false,false),
                         ('r3','A',false,false), ('r3','B',false,false),
                         ('r4','A',true,false), ('r4','D',false,true)) v(r, i, lead, del)
            """
        )
    return db


def run(db, selection=None):
    result = materialize(GRAPH, selection=selection, resources={"database": db}, tags=all_months_tags())
    assert result.success
    return result


def test_ranking_signals(graph):
    run(graph, ["ranking_signals"])
    with graph.connection() as conn:
        rows = conn.execute(
            "SELECT source_id, total_investments, total_leads, last_invested_at, is_lead_capable,"
            " is_lead_capable_source FROM investors WHERE deleted_at IS NULL ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("A", 2, 2, date(2020, 1, 1), True, "derived"),
        ("B", 2, 1, date(2021, 6, 30), True, "derived"),
        ("C", 2, 0, date(2021, 6, 30), False, "derived"),
        ("D", 0, 0, None, True, "stated"),
    ]
    again = run(graph, ["ranking_signals"])
    metadata = again.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["rows_changed"].value == 0 and metadata["dagster/row_count"].value == 4
    assert preview_rows(metadata["most_active"])[:2] == [
        ["A", "Alpha", "2", "2", "2020-01-01", "True", "derived"],
        ["B", "Beta", "2", "1", "2021-06-30", "True", "derived"],
    ]


def preview_rows(markdown) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in markdown.value.splitlines()[2:]]


def test_co_investor_pairs(graph):
    metadata = run(graph, ["co_investor_pairs"]).get_asset_materialization_events()[0].materialization.metadata
    assert preview_rows(metadata["top_pairs"])[0] == ["Beta", "Gamma", "2", "2021-06-30"]
    with graph.connection() as conn:
        rows = conn.execute(
            "SELECT a.source_id, b.source_id, shared_rounds, shared_companies, first_shared_at, last_shared_at,"
            " a_led, b_led FROM co_investor_pairs p JOIN investors a ON a.id = p.investor_a_id"
            " JOIN investors b ON b.id = p.investor_b_id ORDER BY 1, 2"
        ).fetchall()
        assert rows == [
            ("A", "B", 1, 1, date(2020, 1, 1), date(2020, 1, 1), 1, 0),
            ("A", "C", 1, 1, date(2020, 1, 1), date(2020, 1, 1), 1, 0),
            ("B", "C", 2, 2, date(2020, 1, 1), date(2021, 6, 30), 1, 0),
        ]
        paths = warm_paths(conn, "C")
    assert [(p["source_id"], p["shared_rounds"], p["companies"]) for p in paths] == [
        ("B", 2, ["Xco", "Yco"]),
        ("A", 1, ["Xco"]),
    ]
    assert paths[0]["they_led_with_me"] == 1 and paths[0]["i_led_with_them"] == 0


def test_pairs_follow_deletions_and_checks_catch_drift(graph):
    run(graph, ["co_investor_pairs"])
    with graph.connection() as conn:
        conn.execute("UPDATE funding_rounds SET deleted_at = now() WHERE source_id = 'r1'")
    result = run(graph, ["co_investor_pairs"])
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert (metadata["removed"].value, metadata["updated"].value, metadata["pairs"].value) == (2, 1, 1)
    assert pairs_consistent(database=graph).passed
    with graph.connection() as conn:
        conn.execute("UPDATE co_investor_pairs SET shared_rounds = 5")
    drifted = pairs_consistent(database=graph)
    assert not drifted.passed and drifted.metadata["mismatched_pairs"].value == 1


def test_authority_score(graph):
    metadata = run(graph, ["authority_score"]).get_asset_materialization_events()[0].materialization.metadata
    assert [row[0] for row in preview_rows(metadata["top_scores"])] == ["A", "B", "C"]  # D has no score
    with graph.connection() as conn:
        scores = dict(
            conn.execute("SELECT source_id, authority_score FROM investors WHERE deleted_at IS NULL").fetchall()
        )
        formula = conn.execute(
            "SELECT DISTINCT authority_formula FROM investors WHERE authority_score IS NOT NULL"
        ).fetchall()
    volume_a = 0.5 ** ((date(2021, 6, 30) - date(2020, 1, 1)).days / 365.25 / 3) + 0.5 ** (
        (date(2021, 6, 30) - date(2019, 3, 3)).days / 365.25 / 3
    )
    volume_b = 0.5 ** ((date(2021, 6, 30) - date(2020, 1, 1)).days / 365.25 / 3) + 1.0
    assert scores["A"] == pytest.approx(0.7 + 0.3 * np.log1p(volume_a) / np.log1p(volume_b), abs=1e-6)
    assert scores["A"] > scores["B"] > scores["C"] > 0 and scores["D"] is None
    assert formula == [("pagerank-follow-lead-v1",)]
    checks = run(graph, ["authority_score"]).get_asset_check_evaluations()
    assert checks and all(e.passed for e in checks)
    with graph.connection() as conn:  # A out of range; B invested but unscored; D's one investment is deleted
        conn.execute(
            "UPDATE investors SET authority_score = CASE source_id WHEN 'A' THEN 1.5 WHEN 'D' THEN 0.5 END"
            " WHERE source_id IN ('A', 'B', 'D')"
        )
    broken = scores_valid(database=graph)
    counts = [broken.metadata[k].value for k in ("out_of_range", "missing", "unexpected")]
    assert not broken.passed and counts == [1, 1, 1]


def test_graph_family_is_downstream_of_the_core_tables():
    from invest_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in ("ranking_signals", "co_investor_pairs", "authority_score"):
        upstream = {k.to_user_string() for k in graph.get(AssetKey(key)).parent_keys}
        assert {"investments", "funding_rounds", "investors"} <= upstream


def test_warm_paths_cli(graph, database_url):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    run(graph, ["co_investor_pairs"])
    done = subprocess.run(
        [Path(sys.executable).parent / "invest-assets", "warm-paths", "C", "--json"],
        env=dict(os.environ, ALLOYDB_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [p["source_id"] for p in json.loads(done.stdout)] == ["B", "A"]
