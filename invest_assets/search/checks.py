"""Recall of the candidate index: a fixed sample of queries through the ANN index and exactly."""

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from invest_assets import settings
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.search.find_investors import EXACT, EXACTLY_COMPLETED, WALK, Filters, search

SAMPLE_QUERIES = 20
K = 25


def sample_queries(conn, count: int = SAMPLE_QUERIES) -> list[str]:
    """Deterministic: the sector texts of evenly spaced live investors."""
    rows = conn.execute(
        "SELECT sector_text FROM (SELECT sector_text, row_number() OVER (ORDER BY id) AS n, count(*) OVER () AS total"
        " FROM investors WHERE deleted_at IS NULL AND sector_text_hash IS NOT NULL) s"
        " WHERE n %% greatest(total / %s, 1) = 0 ORDER BY n LIMIT %s",
        (count, count),
    ).fetchall()
    return [text for (text,) in rows]


TIE_TOLERANCE = 1e-6


def page_recall(exact: list[dict], approximate: list[dict]) -> float:
    """Share of the exact page the approximate page matches, counting ties as matches: an
    investor scoring as well as the exact page's last one is as right as any other, and
    which of several equal scores an index returns is arbitrary (short texts tie often)."""
    if not exact:
        return 1.0
    cutoff = exact[-1]["final_score"] + TIE_TOLERANCE
    return min(sum(r["final_score"] <= cutoff for r in approximate), len(exact)) / len(exact)


def recall_at_k(conn, embedder: EmbedderResource, queries: list[str], k: int = K) -> tuple[float, int]:
    """Mean recall@k of the index path against the exact scan, and how many of its pages came
    back short and were completed by the exact scan."""
    recalls, short_pages = [], 0
    no_filters = Filters(recency_months=None)
    for text in queries:
        # The exact reference scores every investor: past the read path's timeout at 1,000,000 of them.
        exact, indexed = (
            search(conn, embedder, {"sector": text}, no_filters, "single", limit=k, scan=scan, timeout_ms=timeout)
            for scan, timeout in ((EXACT, 0), (WALK, None))
        )
        recalls.append(page_recall(exact.investors, indexed.investors))
        short_pages += indexed.scan.endswith(EXACTLY_COMPLETED)
    return (sum(recalls) / len(recalls) if recalls else 1.0), short_pages


@asset_check(
    asset="sector_embedding",
    name="candidate_recall",
    description=f"recall@{K} (ties counted as matches) of the ANN candidate index against an exact scan over "
    f"{SAMPLE_QUERIES} fixed queries; fails below {settings.RECALL_THRESHOLD.name} "
    f"(default {settings.RECALL_THRESHOLD.default}).",
)
def candidate_recall(database: AlloyDBResource, embedder: EmbedderResource) -> AssetCheckResult:
    threshold = settings.RECALL_THRESHOLD.value()
    with database.connection() as conn:
        queries = sample_queries(conn)
        recall, short_pages = recall_at_k(conn, embedder, queries)
    return AssetCheckResult(
        passed=recall >= threshold,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "recall_at_25": round(recall, 4),
            "threshold": threshold,
            "queries": len(queries),
            "index_pages_completed_exactly": short_pages,
        },
    )
