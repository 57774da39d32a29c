"""The graph-derived assets' checks: co-investor pairs recounted from investments, authority scores in range."""

from dagster import AssetCheckResult, asset_check

from invest_assets.graph import sql
from invest_assets.resources.database import AlloyDBResource


@asset_check(
    asset="co_investor_pairs",
    description="No self-pairs, no pair without a shared live round, and "
    "shared_rounds equal to a recount from investments.",
)
def pairs_consistent(database: AlloyDBResource) -> AssetCheckResult:
    with database.connection() as conn:
        conn.execute(sql.CREATE_FRESH_PAIRS)
        mismatched = conn.execute(
            """
            SELECT count(*) FROM co_investor_pairs p FULL JOIN fresh_pairs f
              ON f.investor_a_id = p.investor_a_id AND f.investor_b_id = p.investor_b_id
            WHERE p.shared_rounds IS DISTINCT FROM f.shared_rounds
            """
        ).fetchone()[0]
        self_pairs = conn.execute(
            "SELECT count(*) FROM co_investor_pairs WHERE investor_a_id >= investor_b_id"
        ).fetchone()[0]
        conn.rollback()
    return AssetCheckResult(
        passed=mismatched == 0 and self_pairs == 0,
        metadata={"mismatched_pairs": mismatched, "self_or_unordered_pairs": self_pairs},
    )


@asset_check(
    asset="authority_score",
    description="Scores within [0, 1]; every live investor with a live investment has one, nobody else does.",
)
def scores_valid(database: AlloyDBResource) -> AssetCheckResult:
    # A join, not `id NOT IN (subquery)`: once the participations outgrow work_mem that subquery is
    # rescanned for every investor (at 100,000 investors it ran for more than 7 minutes).
    with database.connection() as conn, conn.transaction():
        conn.execute(sql.WORK_MEM)
        out_of_range, missing, unexpected = conn.execute(
            f"""
            WITH live AS ({sql.LIVE_PARTICIPATION}),
                 participating AS (SELECT DISTINCT investor_id FROM live)
            SELECT count(*) FILTER (WHERE v.authority_score < 0 OR v.authority_score > 1),
                   count(*) FILTER (WHERE v.authority_score IS NULL AND p.investor_id IS NOT NULL),
                   count(*) FILTER (WHERE v.authority_score IS NOT NULL AND p.investor_id IS NULL)
            FROM investors v LEFT JOIN participating p ON p.investor_id = v.id
            WHERE v.deleted_at IS NULL
            """
        ).fetchone()
    return AssetCheckResult(
        passed=not (out_of_range or missing or unexpected),
        metadata={"out_of_range": out_of_range, "missing": missing, "unexpected": unexpected},
    )
