"""authority_score: a PageRank over "follower invested alongside lead" edges, with recency and volume.

    authority = 0.7 * pagerank / max(pagerank) + 0.3 * log(1 + volume) / max(log(1 + volume))

PageRank (damping 0.85, uniform teleport, dangling mass spread uniformly) runs on the
graph whose edge follower -> lead carries the summed recency weight 0.5^(age / 3 years) of
the rounds the follower joined under that lead; volume is the investor's summed recency
weight over all its live investments. Both terms are in [0, 1], so the score is too.
Deterministic: no randomness, and age is measured from the newest live round, not the clock.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

FORMULA = "pagerank-follow-lead-v1"
HALF_LIFE_YEARS = 3.0
DAMPING = 0.85
PAGERANK_WEIGHT = 0.7


def pagerank(
    n: int,
    sources: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    damping: float = DAMPING,
    tolerance: float = 1e-12,
    max_iterations: int = 500,
) -> np.ndarray:
    matrix = sparse.csr_matrix((weights, (sources, targets)), shape=(n, n))
    out = np.asarray(matrix.sum(axis=1)).ravel()
    transition = sparse.diags(np.divide(1.0, out, out=np.zeros(n), where=out > 0)) @ matrix
    dangling = out == 0
    rank = np.full(n, 1.0 / n)
    for _ in range(max_iterations):
        spread = damping * rank[dangling].sum() / n + (1 - damping) / n
        updated = damping * (transition.T @ rank) + spread
        if np.abs(updated - rank).sum() < tolerance:
            return updated
        rank = updated
    return rank


def authority_scores(investor_ids: np.ndarray, volumes: np.ndarray, edges: list[tuple[int, int, float]]) -> np.ndarray:
    """Scores in [0, 1] for ``investor_ids`` (every investor with a live investment)."""
    if len(investor_ids) == 0:
        return np.zeros(0)
    position = {investor: i for i, investor in enumerate(investor_ids.tolist())}
    if edges:
        followers, leads, weights = (np.array(column) for column in zip(*edges, strict=True))
        ranks = pagerank(
            len(investor_ids),
            np.vectorize(position.get)(followers),
            np.vectorize(position.get)(leads),
            weights.astype(float),
        )
    else:
        ranks = np.full(len(investor_ids), 1.0 / len(investor_ids))
    log_volume = np.log1p(volumes)
    volume_term = log_volume / log_volume.max() if log_volume.max() > 0 else np.zeros_like(log_volume)
    return np.clip(PAGERANK_WEIGHT * ranks / ranks.max() + (1 - PAGERANK_WEIGHT) * volume_term, 0.0, 1.0)
