"""find_investors against a brute-force numpy computation over the same rows and filters."""

from datetime import date, timedelta

import numpy as np
import psycopg
import pytest
from pgvector import Vector
from pgvector.psycopg import register_vector
from psycopg import sql

from invest_assets.embeddings.incremental import embed_dimension
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.search.find_investors import (
    DEFAULT_WEIGHTS,
    EXACT,
    EXACTLY_COMPLETED,
    HNSW_EF_SEARCH,
    HNSW_ITERATIVE_SCAN,
    WALK,
    Filters,
    StoredModelMismatch,
    candidate_query,
    exact_scan_is_cheaper,
    filter_sql,
    find_investors,
    record_feedback,
    search,
    set_index_scan,
)
from invest_assets.sources.schema import DIMENSIONS
from invest_assets.vectors.models import register_model

SECTORS = ["fintech", "climate", "biotech"]
WORDS = {
    "fintech": "payments lending ledger cards",
    "climate": "carbon grid batteries solar",
    "biotech": "molecules trials antibodies genomics",
}
N = 400
LOCAL = EmbedderResource(provider="local")


@pytest.fixture
def investors(db):
    rng = np.random.default_rng(5)
    rows = []
    for i in range(N):
        sector = SECTORS[i % 3]
        rows.append(
            (
                f"i{i}",
                f"Investor {i}",
                "firm",
                bool(i % 11),
                int(rng.integers(1, 20)) * 100_000,
                None if i % 4 == 0 else int(rng.integers(20, 200)) * 100_000,
                ["seed", "series_a"] if i % 2 else ["seed"],
                [sector],
                [] if i % 13 == 0 else (["US"] if i % 5 else ["GB", "DE"]),
                date(2026, 11, 1) - timedelta(days=int(rng.integers(0, 1500))),
                f"{sector} {' '.join(rng.choice(WORDS[sector].split(), 3))} {i % 17}",
                None if i % 7 == 0 else f"stage words {rng.choice(['seed', 'growth'])}",
                f"signal {rng.choice(['mission', 'moats', 'community'])} {sector}",
            )
        )
    with db.connection() as conn:
        with conn.cursor().copy(
            "COPY investors (source_id, name, kind, active, check_size_min_usd, check_size_max_usd, preferred_stages,"
            " focus_sectors, geographies, last_invested_at, sector_text, stage_text, signal_text) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute("UPDATE investors SET deleted_at = now() WHERE source_id IN ('i3', 'i6', 'i9', 'i30')")
        conn.commit()
        for dimension in DIMENSIONS:
            embed_dimension(conn, LOCAL, dimension)
    return db


def brute_force(conn, texts, filters: Filters, variant, limit):
    vectors = dict(zip(texts, LOCAL.embed(list(texts.values())).vectors, strict=True))
    rows = conn.execute(
        "SELECT id, active, deleted_at, check_size_min_usd, check_size_max_usd, focus_sectors, preferred_stages,"
        " geographies, last_invested_at, sector_embedding, stage_embedding, signal_embedding FROM investors"
    ).fetchall()
    recent = date.today() - timedelta(days=int(30.44 * filters.recency_months))
    scored = []
    for i, active, deleted, low, high, sectors, stages, geos, last, *embeddings in rows:
        stored = dict(zip(("sector", "stage", "signal"), embeddings, strict=True))
        if deleted or not active or stored["sector"] is None:
            continue
        if filters.check_size_usd is not None and not (
            low is not None and low <= filters.check_size_usd and (high is None or high >= filters.check_size_usd)
        ):
            continue
        if filters.sector and filters.sector not in sectors:
            continue
        if filters.stage and filters.stage not in stages:
            continue
        if filters.geographies and not set(filters.geographies) & set(geos or []):
            continue
        if last is not None and last <= recent:
            continue
        distance = {d: (1.0 if stored[d] is None else 1 - float(stored[d].to_numpy() @ vectors[d])) for d in texts}
        scored.append((i, distance))
    if variant == "single":
        scored.sort(key=lambda item: (item[1]["sector"], item[0]))
        return [(i, dist["sector"]) for i, dist in scored[:limit]]
    candidates = sorted(scored, key=lambda item: (item[1]["sector"], item[0]))[:50]
    total = sum(DEFAULT_WEIGHTS[d] for d in texts)
    final = [(sum(DEFAULT_WEIGHTS[d] / total * dist[d] for d in texts), i) for i, dist in candidates]
    return [(i, score) for score, i in sorted(final)[:limit]]


def same_ranking(got, expected, tolerance=1e-5):
    """Equal scores position by position, and equal ids wherever the scores are not tied."""
    assert [score for _, score in got] == pytest.approx([score for _, score in expected], abs=tolerance)
    for k, ((got_id, score), (expected_id, _)) in enumerate(zip(got, expected, strict=True)):
        neighbours = [s for _, s in expected[max(k - 1, 0) : k + 2]]
        tied = sum(abs(s - score) < tolerance for s in neighbours) > 1
        assert tied or got_id == expected_id


CASES = [
    ({"sector": "payments lending"}, Filters(check_size_usd=1_500_000, geographies=["US"]), "single"),
    ({"sector": "carbon batteries"}, Filters(sector="climate", stage="series_a", recency_months=24), "single"),
    (
        {"sector": "molecules", "stage": "growth stage", "signal": "mission"},
        Filters(geographies=["GB", "FR"]),
        "rerank",
    ),
    ({"sector": "payments", "signal": "community"}, Filters(check_size_usd=300_000), "rerank"),
]


@pytest.mark.parametrize("texts,filters,variant", CASES)
@pytest.mark.parametrize("scan", [EXACT, WALK])
def test_matches_brute_force(investors, texts, filters, variant, scan):
    with investors.connection() as conn:
        result = search(conn, LOCAL, texts, filters, variant=variant, limit=20, scan=scan)
        expected = brute_force(conn, texts, filters, variant, 20)
    got = [(r["id"], r["final_score"]) for r in result.investors]
    if scan == EXACT:
        same_ranking(got, expected)
    else:  # approximate: nearly the same page
        assert len({i for i, _ in got} & {i for i, _ in expected}) >= 0.9 * len(expected)
    assert result.scan == {EXACT: "exact", WALK: "hnsw-iterative"}[scan] and len(got) == min(20, len(expected))
    if variant == "rerank":
        assert sum(result.weights.values()) == pytest.approx(1.0)
        assert all(set(r["distances"]) == set(texts) for r in result.investors)


def test_a_scan_it_does_not_know_is_refused(investors):
    with investors.connection() as conn, pytest.raises(ValueError, match="scan is 'exact' or 'index'"):
        search(conn, LOCAL, {"sector": "payments"}, Filters(), scan="hnsw-iterative")


def candidate_statement(
    conn,
    text: str,
    filters: Filters,
    scan: str,
    limit: int,
    hnsw: tuple[int, str] = (HNSW_EF_SEARCH, HNSW_ITERATIVE_SCAN),
    explain: bool = False,
):
    """Runs the candidate statement search runs for ``scan``, under the same settings (or EXPLAINs it)."""
    model_id = conn.execute("SELECT max(sector_model_id) FROM investors").fetchone()[0]
    where, params = filter_sql(filters, "sector", model_id)
    statement = candidate_query(where, "sector", scan)
    with conn.transaction():
        if scan != "exact":
            set_index_scan(conn, hnsw, limit)
        return conn.execute(
            sql.SQL("EXPLAIN ") + statement if explain else statement,
            {**params, "q": Vector(LOCAL.embed([text]).vectors[0]), "limit": limit},
        ).fetchall()


@pytest.mark.parametrize("filters", [filters for _, filters, _ in CASES])
def test_the_reported_scan_is_the_plan_that_runs(investors, filters):
    """'hnsw-iterative' walks the ANN index (not a GIN bitmap or a sort); 'exact' scores every
    filtered row without it."""
    with investors.connection() as conn:
        for scan, walks_index in ((EXACT, False), (WALK, True)):
            plan = "\n".join(
                line for (line,) in candidate_statement(conn, "payments lending", filters, scan, 20, explain=True)
            )
            assert ("Index Scan using investor_sector_vectors_ann" in plan) == walks_index, plan
            assert "Bitmap" not in plan or scan == "exact", plan


def test_a_short_index_page_is_completed_by_the_exact_scan(investors, monkeypatch):
    """pgvector's iterative scan ends at hnsw.max_scan_tuples (or its memory limit) with whatever it
    found; the filters hold more rows than that, so the page is scored exactly, and says so. The filters
    keep rows far from the query (fintech for a climate thesis), so the cut index page is short for any
    HNSW build (with climate rows it came back full in 3 of 10 builds)."""
    texts, filters = {"sector": "carbon batteries"}, Filters(sector="fintech", stage="series_a")
    small_candidate_list = (20, HNSW_ITERATIVE_SCAN)
    monkeypatch.setattr("invest_assets.search.find_investors.HNSW_MAX_SCAN_TUPLES", 5)
    with investors.connection() as conn:
        expected = brute_force(conn, texts, filters, "single", 20)
        index_page = candidate_statement(conn, texts["sector"], filters, WALK, 20, small_candidate_list)
        assert len(index_page) < len(expected) == 20
        result = search(conn, LOCAL, texts, filters, "single", limit=20, scan=WALK, hnsw=small_candidate_list)
    assert result.scan == "hnsw-iterative" + EXACTLY_COMPLETED
    same_ranking([(r["id"], r["final_score"]) for r in result.investors], expected)


def test_the_exact_scan_serves_filters_that_keep_few_rows_for_the_tables_size():
    assert exact_scan_is_cheaper(1_000, 100_000) and not exact_scan_is_cheaper(2_000, 100_000)
    assert exact_scan_is_cheaper(3_000, 1_000_000) and not exact_scan_is_cheaper(5_000, 1_000_000)
    assert exact_scan_is_cheaper(400, 400)  # a small table is scored whole


def test_small_filtered_sets_choose_the_exact_scan(investors):
    with investors.connection() as conn:
        result = search(conn, LOCAL, {"sector": "payments"}, Filters(sector="fintech"), variant="single")
    assert result.scan == "exact" and result.estimated_rows < 200


def test_runs_and_feedback_are_recorded(investors):
    with investors.connection() as conn:
        result = find_investors(conn, LOCAL, {"sector": "payments"}, Filters(), user="founder-1")
        run = conn.execute(
            "SELECT status, result_count, result_ids, tool_input->'filters'->>'recency_months',"
            " user_query FROM runs WHERE id = %s",
            (result.run_id,),
        ).fetchone()
        assert run[0] == "success" and run[1] == len(result.investors) == 25
        assert run[2] == [r["id"] for r in result.investors] and run[3] == "24"
        empty = find_investors(conn, LOCAL, {"sector": "payments"}, Filters(sector="no-such-sector"))
        assert conn.execute("SELECT status FROM runs WHERE id = %s", (empty.run_id,)).fetchone()[0] == "no_results"
        record_feedback(conn, result.run_id, result.investors[0]["source_id"], "meeting_booked", user="founder-1")
        record_feedback(conn, result.run_id, str(result.investors[1]["id"]), "pass", user="founder-1")
        assert conn.execute("SELECT investor_id, signal FROM feedback ORDER BY id").fetchall() == [
            (result.investors[0]["id"], "meeting_booked"),
            (result.investors[1]["id"], "pass"),
        ]
        with pytest.raises(ValueError, match="no investor"):
            record_feedback(conn, result.run_id, "no-such-investor", "pass")
        with pytest.raises(ValueError):
            record_feedback(conn, result.run_id, "i1", "love_it")


def test_a_query_takes_no_row_lock_that_another_query_waits_for(investors, database_url):
    """Concurrent queries share the serving-model, model and user rows: reading them must not lock them."""
    texts = {"sector": "payments", "stage": "seed", "signal": "mission"}
    with psycopg.connect(database_url) as first, psycopg.connect(database_url, options="-c lock_timeout=1s") as second:
        for conn in (first, second):
            register_vector(conn)
        find_investors(first, LOCAL, texts, Filters(), user="founder-1")  # the rows exist from here on
        search(first, LOCAL, texts, Filters())  # and this query's transaction stays open
        result = find_investors(second, LOCAL, texts, Filters(), user="founder-1")
    assert len(result.investors) == 25


def test_queries_embed_with_the_serving_model_and_refuse_vectors_of_another(investors):
    other = EmbedderResource(provider="openai", base_url="http://127.0.0.1:9", api_key="sk-none")
    with investors.connection() as conn:
        # configured for another model, the query still embeds with the one the vectors serve (no network used)
        served = find_investors(conn, other, {"sector": "payments"}, Filters())
        assert served.investors == find_investors(conn, LOCAL, {"sector": "payments"}, Filters()).investors
        conn.execute(
            "UPDATE serving_embedding_models SET model_id = %s WHERE dimension = 'sector'",
            (register_model(conn, other.identity),),
        )
        conn.commit()
        with pytest.raises(StoredModelMismatch, match="local/local-hashing-v2"):
            find_investors(conn, other, {"sector": "payments"}, Filters())
        status, error = conn.execute("SELECT status, error_message FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    assert status == "error" and "StoredModelMismatch" in error


def test_cli_find_investors_json_and_feedback(investors, database_url):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    cli = Path(sys.executable).parent / "invest-assets"
    env = dict(os.environ, ALLOYDB_URL=database_url, INVEST_EMBEDDER="local")
    done = subprocess.run(
        [
            cli,
            "find-investors",
            "--sector-text",
            "payments lending",
            "--signal-text",
            "mission",
            "--sector",
            "fintech",
            "--geo",
            "US",
            "--limit",
            "5",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    output = json.loads(done.stdout)
    assert output["variant"] == "rerank" and len(output["investors"]) == 5
    assert all("fintech" in i["focus_sectors"] and "US" in i["geographies"] for i in output["investors"])
    assert set(output["weights"]) == {"sector", "signal"}
    feedback = subprocess.run(
        [cli, "feedback", str(output["run_id"]), output["investors"][0]["source_id"], "pass"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert feedback.returncode == 0, feedback.stderr[-2000:]


def test_recall_check_compares_the_index_with_an_exact_scan(investors, monkeypatch):
    from invest_assets.search.checks import candidate_recall, recall_at_k, sample_queries

    with investors.connection() as conn:
        queries = sample_queries(conn)
        assert len(queries) == 20
        recall, short_pages = recall_at_k(conn, LOCAL, queries)
        assert recall >= 0.95 and short_pages == 0
    assert candidate_recall(database=investors, embedder=LOCAL).passed
    monkeypatch.setenv("INVEST_RECALL_THRESHOLD", "1.01")  # an impossible bar fails the check
    assert not candidate_recall(database=investors, embedder=LOCAL).passed


def test_ann_indexes_follow_the_configured_dimensions(investors, database_url, monkeypatch):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from invest_assets.vectors.indexes import indexed_dimensions

    def build_options(conn, index):
        return conn.execute("SELECT reloptions FROM pg_class WHERE relname = %s", (index,)).fetchone()[0]

    with investors.connection() as conn:  # the migrations' index, built at 64 and raised by 0032
        assert build_options(conn, "investor_sector_vectors_ann") == ["m=16", "ef_construction=128"]
    cli = Path(sys.executable).parent / "invest-assets"
    env = dict(os.environ, ALLOYDB_URL=database_url)
    done = subprocess.run(
        [cli, "index", "--dimensions", "signal"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "created ['signal']" in done.stdout and "dropped ['sector']" in done.stdout
    monkeypatch.setattr(
        "invest_assets.search.find_investors.exact_scan_is_cheaper", lambda *_: False
    )  # the index decides
    with investors.connection() as conn:
        assert indexed_dimensions(conn) == {"signal"}
        assert build_options(conn, "investor_signal_vectors_ann") == ["m=16", "ef_construction=128"]
        no_index = search(conn, LOCAL, {"sector": "payments"}, Filters(recency_months=None), variant="single")
        indexed = search(conn, LOCAL, {"signal": "mission"}, Filters(recency_months=None), variant="single")
    assert (no_index.scan, indexed.scan) == ("exact", "hnsw-iterative")
    again = subprocess.run(
        [cli, "index", "--dimensions", "signal"], env=env, capture_output=True, text=True, timeout=120
    )
    assert "created none, dropped none" in again.stdout
