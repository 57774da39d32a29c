"""Graph-derived assets: ranking_signals, co_investor_pairs, authority_score, investment_events.

The seed's first principle: find_investors reads only investors, and joins live in
pre-aggregation jobs. These are those jobs, downstream of the core tables.
"""

import time

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, asset

from invest_assets.graph import sql
from invest_assets.graph.authority import FORMULA, HALF_LIFE_YEARS, authority_scores
from invest_assets.metadata import PREVIEW_ROWS, preview
from invest_assets.policies import DATABASE_RETRY, REFRESH_AFTER_INPUTS_CHANGE, SINGLE_RUN
from invest_assets.resources.database import AlloyDBResource

GRAPH = dict(
    group_name="graph",
    kinds={"postgres"},
    owners=["team:data-platform"],
    retry_policy=DATABASE_RETRY,
    backfill_policy=SINGLE_RUN,
    automation_condition=REFRESH_AFTER_INPUTS_CHANGE,
)


@asset(
    deps=["investments", "funding_rounds", "investors"],
    **GRAPH,
    description="investors.total_investments, total_leads, last_invested_at and is_lead_capable (stated, "
    "else total_leads > 0; is_lead_capable_source says which) from live investments and rounds.",
)
def ranking_signals(database: AlloyDBResource) -> MaterializeResult:
    started = time.perf_counter()
    with database.connection() as conn:
        changed = conn.execute(sql.UPDATE_RANKING_SIGNALS).rowcount
        live, derived, invested = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_lead_capable_source = 'derived'),"
            " count(*) FILTER (WHERE total_investments > 0) FROM investors WHERE deleted_at IS NULL"
        ).fetchone()
        most_active = preview(conn, sql.TOP_INVESTORS_BY_ACTIVITY, (PREVIEW_ROWS,))
    return MaterializeResult(
        metadata={
            "dagster/row_count": live,
            "rows_changed": changed,
            "lead_capable_derived": derived,
            "investors_with_investments": invested,
            "seconds": round(time.perf_counter() - started, 3),
            "most_active": most_active,
        }
    )


@asset(
    deps=["investments", "funding_rounds", "investors"],
    **GRAPH,
    description="One row per unordered investor pair that shared a live round: shared rounds and companies, "
    "first/last shared date and how often each led. Refreshed by applying only the difference.",
)
def co_investor_pairs(database: AlloyDBResource) -> MaterializeResult:
    started = time.perf_counter()
    with database.connection() as conn, conn.transaction():
        conn.execute(sql.WORK_MEM)
        conn.execute(sql.CREATE_FRESH_PAIRS)
        counts = {name: conn.execute(statement).rowcount for name, statement in sql.APPLY_PAIRS}
        pairs, largest = conn.execute(
            "SELECT (SELECT count(*) FROM co_investor_pairs), coalesce(max(n), 0) FROM ("
            " SELECT count(*) AS n FROM investments WHERE deleted_at IS NULL GROUP BY funding_round_id) r"
        ).fetchone()
        top_pairs = preview(conn, sql.TOP_PAIRS, (PREVIEW_ROWS,))
        conn.execute("DROP TABLE fresh_pairs")
    return MaterializeResult(
        metadata={
            "dagster/row_count": pairs,
            "pairs": pairs,
            **counts,
            "largest_round_investors": largest,
            "seconds": round(time.perf_counter() - started, 3),
            "top_pairs": top_pairs,
        }
    )


@asset(
    deps=["investments", "funding_rounds", "investors"],
    **GRAPH,
    description=f"investors.authority_score in [0, 1]: PageRank over follower -> lead edges with recency decay, "
    f"plus volume ({FORMULA}; see docs/graph.md).",
)
def authority_score(context: AssetExecutionContext, database: AlloyDBResource) -> MaterializeResult:
    started = time.perf_counter()
    params = {"half_life": HALF_LIFE_YEARS}
    with database.connection() as conn, conn.transaction():
        edges = [(a, b, float(w)) for a, b, w in conn.execute(sql.AUTHORITY_EDGES, params)]
        volume = conn.execute(sql.AUTHORITY_VOLUME, params).fetchall()
        ids = np.array([row[0] for row in volume], dtype=np.int64)
        scores = authority_scores(ids, np.array([float(row[1]) for row in volume]), edges)
        conn.execute("CREATE TEMP TABLE scores (id bigint PRIMARY KEY, score real) ON COMMIT DROP")
        with conn.cursor().copy("COPY scores (id, score) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "float4"])
            for row in zip(ids.tolist(), scores.tolist(), strict=True):
                copy.write_row(row)
        changed = conn.execute(
            """
            UPDATE investors v SET authority_score = s.score, authority_computed_at = now(),
                   authority_formula = %(formula)s, updated_at = now()
            FROM (SELECT v2.id, s.score FROM investors v2 LEFT JOIN scores s USING (id)) s
            WHERE v.id = s.id AND (v.authority_score IS DISTINCT FROM s.score
                                   OR (s.score IS NOT NULL AND v.authority_formula IS DISTINCT FROM %(formula)s))
            """,
            {"formula": FORMULA},
        ).rowcount
        conn.execute("DROP TABLE scores")
        top_scores = preview(conn, sql.TOP_AUTHORITY, (PREVIEW_ROWS,))
    context.log.info(f"authority: {len(ids)} investors scored over {len(edges)} follower->lead edges")
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(ids),
            "top_scores": top_scores,
            "investors_scored": len(ids),
            "edges": len(edges),
            "rows_changed": changed,
            "formula": FORMULA,
            "max_score": float(scores.max()) if len(scores) else 0.0,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


@asset(
    deps=["investments", "funding_rounds", "companies"],
    **GRAPH,
    description="One row per live investment in a live round, with its date and the company's sectors and "
    "place: the join the graph ranking's candidate pools read (a materialized view, refreshed concurrently).",
)
def investment_events(database: AlloyDBResource) -> MaterializeResult:
    started = time.perf_counter()
    with database.connection() as conn:
        # CONCURRENTLY: find_investors keeps reading the previous version while the new one is computed,
        # and only the rows that differ are written.
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY investment_events")
        conn.commit()
        # The pools read its indexes index-only once a vacuum has set the visibility map, which a refresh
        # leaves unset: a 2013 company query took 30.8 ms p50 before, 27.9 after (docs/benchmarks.md).
        conn.autocommit = True
        try:
            conn.execute("VACUUM (ANALYZE) investment_events")
        finally:
            conn.autocommit = False
        rows, investors, companies, dated = conn.execute(
            "SELECT count(*), count(DISTINCT investor_id), count(DISTINCT company_id) FILTER (WHERE company_live),"
            " count(*) FILTER (WHERE announced_at IS NOT NULL) FROM investment_events"
        ).fetchone()
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "investors": investors,
            "live_companies": companies,
            "dated_rows": dated,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
