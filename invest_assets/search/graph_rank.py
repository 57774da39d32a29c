"""The graph-aware ranking: candidates from the investment graph as well as from text, scored by a
learned linear model over per-candidate features.

Candidates (a few hundred): the company's existing investors, their strongest co-investors
(``co_investor_pairs``), the most active investors in the company's sectors, the nearest by
sector text, the most active overall and lately, and the most active in the company's city and
region (local angels and funds lead many first rounds). The activity pools read
``investment_events`` (the graph asset that keeps investments joined to their rounds and companies),
so they are as fresh as its last refresh. Features (``FEATURES``): the cosine
distance on each dimension with query text (1 where the investor has no vector, or the query no
text), activity, authority, years since its last investment as of the query date, co-investment
strength with the company's investors, whether it already backed the company (in how many of
its rounds, and in its latest), its investments in the company's sectors, city and region and at the
stage it raises, and how far the asked check lies from the middle of its check range (``check_gap``).

The weights are not hand-set: ``RankingModel`` is fitted (scikit-learn's logistic regression)
on rounds the database did not see, by ``invest-assets evaluate`` (see ``ranking.evaluate``),
and the fitted model ships as ``ranking_model.json``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql

from invest_assets.resources.database import database_key
from invest_assets.sources.schema import DIMENSIONS
from invest_assets.vectors.distinct import ann_location, walk
from invest_assets.vectors.indexes import ANN_INDEX_METHOD, set_walk
from invest_assets.vectors.targets import INVESTOR_TARGETS

logger = logging.getLogger(__name__)

TEXT_FEATURES = tuple(f"{d}_distance" for d in DIMENSIONS)
GRAPH_FEATURES = (
    "log_investments",
    "authority",
    "years_since_last",
    "log_syndicate",
    "existing_investor",
    "log_sector_investments",
    "log_recent_investments",
    "log_recent_sector_investments",
    "log_city_investments",
    "log_region_investments",
    "log_company_rounds",
    "in_latest_round",
    "check_gap",
    "log_stage_investments",
)
FEATURES = TEXT_FEATURES + GRAPH_FEATURES
PER_SOURCE = 150
MODEL_FILE = Path(__file__).with_name("ranking_model.json")


RELATIVE_SUFFIXES = ("_z_in_query", "_from_query_max")
# Each pair of features' z-scores in the query, multiplied: a linear score can then weigh a conjunction
# (active in the company's region *and* co-invested with its investors) apart from either alone.
PAIRS = tuple(zip(*np.triu_indices(len(FEATURES), 1), strict=True))  # the order query_inputs computes
PAIR_SEPARATOR = " x "
INPUTS = (
    FEATURES
    + tuple(f"{name}{suffix}" for suffix in RELATIVE_SUFFIXES for name in FEATURES)
    + tuple(f"{FEATURES[a]}{PAIR_SEPARATOR}{FEATURES[b]}" for a, b in PAIRS)
)


def query_inputs(features: np.ndarray) -> np.ndarray:
    """One query's candidates' ``FEATURES`` rows, widened to the model's ``INPUTS``: each feature also as
    a z-score among the query's candidates and as its distance below their best, and each pair of z-scores
    multiplied. A linear score then compares a candidate with the others in its own query (a quiet investor
    is a strong candidate where every candidate is quiet), which lifted the backtest's recall@25 from 0.334
    to 0.360; the pairs lifted it from 0.349 to 0.355 on the whole 2013 test set (docs/ranking.md)."""
    if not len(features):
        return np.zeros((0, len(INPUTS)))
    spread = features.std(axis=0)
    z = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    first, second = np.triu_indices(features.shape[1], 1)
    return np.hstack([features, z, features - features.max(axis=0), z[:, first] * z[:, second]])


@dataclass(frozen=True)
class RankingModel:
    """A linear score over ``INPUTS`` (higher is better), standardized as when it was fitted."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    version: str
    trained: dict = field(default_factory=dict, compare=False)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores of one query's candidates, given their ``FEATURES`` rows."""
        return self.linear(query_inputs(features))

    def linear(self, inputs: np.ndarray) -> np.ndarray:
        return ((inputs - np.asarray(self.means)) / np.asarray(self.scales)) @ np.asarray(self.weights)

    def contributions(self, inputs: np.ndarray) -> np.ndarray:
        """Each input's part of the score of one candidate (its ``INPUTS`` row)."""
        return (inputs - np.asarray(self.means)) / np.asarray(self.scales) * np.asarray(self.weights)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "inputs": list(INPUTS),
                "weights": list(self.weights),
                "means": list(self.means),
                "scales": list(self.scales),
                "trained": self.trained,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> RankingModel:
        data = json.loads(text)
        if data.get("inputs") != list(INPUTS):
            raise ValueError(
                f"ranking model {data['version']} was fitted on {len(data.get('inputs') or [])} inputs other than"
                f" the {len(INPUTS)} this version computes"
            )
        return cls(
            tuple(data["weights"]),
            tuple(data["means"]),
            tuple(data["scales"]),
            data["version"],
            data.get("trained", {}),
        )


@cache
def shipped_model() -> RankingModel:
    """The model fitted by the documented backtest, loaded once per process."""
    return RankingModel.from_json(MODEL_FILE.read_text())


_served: dict[tuple, RankingModel] = {}


def served_model(conn: psycopg.Connection) -> RankingModel:
    """The database's serving model (the last ``ranking_model`` materialization that promoted one), else
    the shipped one; read once per process and database."""
    key = database_key(conn)
    if key not in _served:
        row = conn.execute("SELECT model FROM ranking_models WHERE serving").fetchone()
        try:
            _served[key] = RankingModel.from_json(json.dumps(row[0])) if row else shipped_model()
        except ValueError as err:  # fitted by a version that computed other inputs
            logger.warning("%s; serving the shipped model until ranking_model is materialized again", err)
            _served[key] = shipped_model()
    return _served[key]


def store_model(conn: psycopg.Connection, model: RankingModel, metrics: dict, serve: bool) -> int:
    """Record a fitted model and its backtest metrics; with ``serve``, make it the one find_investors uses."""
    with conn.transaction():
        if serve:
            conn.execute("UPDATE ranking_models SET serving = false WHERE serving")
        model_id = conn.execute(
            "INSERT INTO ranking_models (version, model, metrics, serving) VALUES (%s, %s, %s, %s) RETURNING id",
            (model.version, model.to_json(), json.dumps(metrics), serve),
        ).fetchone()[0]
    _served.pop(database_key(conn), None)
    return model_id


@dataclass
class GraphQuery:
    """What the graph knows about the founder's company (empty for a query without one)."""

    company_id: int | None = None
    sectors: list[str] = field(default_factory=list)
    as_of: date | None = None
    check_usd: float | None = None  # the check asked of each investor, when the founder knows it
    stage: str | None = None  # the round the company raises (a round type), when known


CANDIDATES = """
WITH company_rounds AS (
  SELECT r.id, r.announced_at, max(r.announced_at) OVER () AS latest
  FROM funding_rounds r
  WHERE r.company_id = %(company)s AND r.deleted_at IS NULL
    AND (%(as_of)s::date IS NULL OR r.announced_at < %(as_of)s::date)
), existing AS (
  SELECT i.investor_id, count(DISTINCT r.id) AS rounds, bool_or(r.announced_at = r.latest) AS in_latest
  FROM company_rounds r JOIN investments i ON i.funding_round_id = r.id AND i.deleted_at IS NULL
  GROUP BY i.investor_id
), syndicate AS (
  SELECT other AS investor_id, sum(shared) AS strength FROM (
    SELECT p.investor_b_id AS other, p.shared_rounds AS shared
    FROM co_investor_pairs p JOIN existing e ON p.investor_a_id = e.investor_id
    UNION ALL
    SELECT p.investor_a_id, p.shared_rounds FROM co_investor_pairs p JOIN existing e ON p.investor_b_id = e.investor_id
  ) pairs GROUP BY other ORDER BY strength DESC, other LIMIT %(per_source)s
), in_sector AS (
  SELECT investor_id, count(*) AS n,
         count(*) FILTER (WHERE announced_at >= COALESCE(%(as_of)s::date, current_date) - 730) AS recent
  FROM investment_events
  WHERE sectors && %(sectors)s::text[] AND company_live
    AND (%(as_of)s::date IS NULL OR announced_at < %(as_of)s::date)
  GROUP BY investor_id ORDER BY n DESC, investor_id LIMIT %(per_source)s
), recently_active AS (
  SELECT investor_id, count(*) AS n
  FROM investment_events
  WHERE announced_at >= COALESCE(%(as_of)s::date, current_date) - 365
    AND announced_at < COALESCE(%(as_of)s::date, current_date + 1)
  GROUP BY investor_id
), local_backing AS (
  SELECT e.investor_id, count(*) FILTER (WHERE e.hq_city = q.hq_city) AS in_city, count(*) AS in_region
  FROM companies q JOIN investment_events e ON e.hq_country = q.hq_country AND e.hq_region = q.hq_region
    AND e.company_live
  WHERE q.id = %(company)s AND (%(as_of)s::date IS NULL OR e.announced_at < %(as_of)s::date)
  GROUP BY e.investor_id
), nearest AS (
  {nearest}
), popular AS (
  SELECT id AS investor_id FROM investors WHERE deleted_at IS NULL AND total_investments > 0
  ORDER BY total_investments DESC, id LIMIT %(per_source)s
), candidates AS (
  SELECT investor_id FROM existing UNION SELECT investor_id FROM syndicate UNION SELECT investor_id FROM in_sector
  UNION SELECT investor_id FROM nearest UNION SELECT investor_id FROM popular
  UNION (SELECT investor_id FROM recently_active ORDER BY n DESC, investor_id LIMIT %(per_source)s)
  UNION (SELECT investor_id FROM local_backing WHERE in_city > 0 ORDER BY in_city DESC, investor_id
         LIMIT %(per_source)s)
  UNION (SELECT investor_id FROM local_backing ORDER BY in_region DESC, investor_id LIMIT %(per_source)s)
), at_stage AS (
  SELECT e.investor_id, count(*) AS n
  FROM candidates c JOIN investment_events e ON e.investor_id = c.investor_id AND e.round_type = %(stage)s
  WHERE %(as_of)s::date IS NULL OR e.announced_at < %(as_of)s::date
  GROUP BY e.investor_id
)
SELECT v.id{distances}, v.total_investments, coalesce(v.authority_score, 0),
       (COALESCE(%(as_of)s::date, current_date) - v.last_invested_at) / 365.25,
       coalesce(s.strength, 0), e.investor_id IS NOT NULL, coalesce(n.n, 0), coalesce(a.n, 0),
       coalesce(n.recent, 0), coalesce(l.in_city, 0), coalesce(l.in_region, 0), coalesce(e.rounds, 0),
       coalesce(e.in_latest, false), v.check_size_min_usd, v.check_size_max_usd, coalesce(st.n, 0)
FROM candidates c
JOIN investors v ON v.id = c.investor_id AND v.deleted_at IS NULL AND v.active AND {filters}
LEFT JOIN syndicate s ON s.investor_id = c.investor_id
LEFT JOIN existing e ON e.investor_id = c.investor_id
LEFT JOIN in_sector n ON n.investor_id = c.investor_id
LEFT JOIN recently_active a ON a.investor_id = c.investor_id
LEFT JOIN local_backing l ON l.investor_id = c.investor_id
LEFT JOIN at_stage st ON st.investor_id = c.investor_id
"""


def candidate_features(
    conn: psycopg.Connection,
    query: GraphQuery,
    vectors: dict[str, np.ndarray],
    model_ids: dict[str, int],
    candidate: str,
    where: sql.Composable,
    where_params: dict,
) -> tuple[list[int], np.ndarray]:
    """Candidate ids and their FEATURES rows for one query (filters as ``where`` on investors ``v``)."""
    distances = sql.SQL("").join(
        sql.SQL(", CASE WHEN v.{m} = {model} THEN v.{e} <=> {query} END").format(
            m=INVESTOR_TARGETS[d].column("model_id"),
            e=INVESTOR_TARGETS[d].column("embedding"),
            model=sql.Placeholder(f"model_{d}"),
            query=sql.Placeholder(f"q_{d}"),
        )
        for d in vectors
    )
    statement = sql.SQL(CANDIDATES).format(distances=distances, filters=where, nearest=_nearest(conn, candidate))
    params = {
        **where_params,
        "company": query.company_id,
        "as_of": query.as_of,
        "sectors": query.sectors,
        "per_source": PER_SOURCE,
        "stage": query.stage,
        **{f"q_{d}": Vector(v) for d, v in vectors.items()},
        **{f"model_{d}": model_ids[d] for d in vectors},
    }
    rows = conn.execute(statement, params).fetchall()
    ids = [row[0] for row in rows]
    features = np.ones((len(rows), len(FEATURES)))
    dims = [DIMENSIONS.index(d) for d in vectors]
    for i, row in enumerate(rows):
        for j, value in zip(dims, row[1 : 1 + len(vectors)], strict=True):
            features[i, j] = 1.0 if value is None else value
        (
            investments,
            authority,
            years,
            strength,
            existing,
            in_sector,
            recent,
            recent_in_sector,
            in_city,
            in_region,
            company_rounds,
            in_latest,
            check_min,
            check_max,
            at_stage,
        ) = row[1 + len(vectors) :]
        recency = 10.0 if years is None else min(max(float(years), 0.0), 10.0)
        features[i, len(TEXT_FEATURES) :] = (
            math.log1p(investments),
            authority,
            recency,
            math.log1p(strength),
            float(existing),
            math.log1p(in_sector),
            math.log1p(recent),
            math.log1p(recent_in_sector),
            math.log1p(in_city),
            math.log1p(in_region),
            math.log1p(company_rounds),
            float(in_latest),
            check_gap(query.check_usd, check_min, check_max),
            math.log1p(at_stage),
        )
    return ids, features


NEAREST_EF_SEARCH = 40  # pgvector's default hnsw.ef_search, which the pool has always walked with


def _nearest(conn: psycopg.Connection, candidate: str | None) -> sql.Composable:
    """The pool of the nearest by the candidate dimension's text: the walk of its distinct vectors' index
    where it has one, else the investors' own vectors; none for a query without text."""
    if candidate is None:
        return sql.SQL("SELECT NULL::bigint AS investor_id WHERE false")
    model, query = sql.Placeholder(f"model_{candidate}"), sql.Placeholder(f"q_{candidate}")
    with conn.pipeline():  # one round trip: the settings are harmless where there is no index
        set_walk(conn, NEAREST_EF_SEARCH, "off")
        indexed = conn.execute(ANN_INDEX_METHOD, ann_location(candidate))
    if indexed.fetchone()[0] is not None:
        walked = walk(candidate, model, query, sql.SQL("investors.deleted_at IS NULL"))
        return sql.SQL("SELECT id AS investor_id FROM ({} LIMIT %(per_source)s) walked").format(walked)
    return sql.SQL(
        "SELECT id AS investor_id FROM investors WHERE deleted_at IS NULL AND {model} = {model_id}"
        " ORDER BY {embedding} <=> {query} LIMIT %(per_source)s"
    ).format(
        model=INVESTOR_TARGETS[candidate].column("model_id"),
        model_id=model,
        embedding=INVESTOR_TARGETS[candidate].column("embedding"),
        query=query,
    )


UNKNOWN_CHECK_GAP = 1.5  # about a factor of 4.5: neither a fit nor a misfit


def check_gap(check_usd: float | None, check_min: int | None, check_max: int | None) -> float:
    """How far (natural log) the asked check lies from the middle of the investor's check range."""
    if not check_usd or not check_min or not check_max:
        return UNKNOWN_CHECK_GAP
    return min(abs(math.log(check_usd) - (math.log(check_min) + math.log(check_max)) / 2), 5.0)


def explain(model: RankingModel, inputs: np.ndarray) -> list[str]:
    """The features that did most to put a result (its ``INPUTS`` row) where it is, in words."""
    words = {
        "log_syndicate": "co-invested with the company's investors",
        "existing_investor": "already backs it",
        "log_sector_investments": "active in its sectors",
        "log_investments": "very active",
        "authority": "leads others follow",
        "years_since_last": "invested recently",
        "log_recent_investments": "active this year",
        "log_recent_sector_investments": "active in its sectors lately",
        "log_city_investments": "backs companies in its city",
        "log_region_investments": "backs companies in its region",
        "log_company_rounds": "joined several of its rounds",
        "in_latest_round": "joined its latest round",
        "check_gap": "writes checks of the size asked",
        "log_stage_investments": "often backs this stage",
    }
    by_feature = model.contributions(inputs) @ FEATURE_SHARES
    top = sorted(zip(FEATURES, by_feature, strict=True), key=lambda item: -item[1])[:3]
    return [
        words.get(name, f"close on {name.removesuffix('_distance')}")
        for name, value in top
        if value > 0 and not _uninformative(name, inputs[FEATURES.index(name)])
    ]


def _uninformative(feature: str, value: float) -> bool:
    """A feature at its no-information value explains nothing, whatever its part of the score: a distance
    of 1 (no text, or no vector, to be close to), or the check gap where the check or the range is unknown."""
    if feature in TEXT_FEATURES:
        return value >= 1.0
    return feature == "check_gap" and value == UNKNOWN_CHECK_GAP


def _feature_shares() -> np.ndarray:
    """An (input, feature) matrix of which features each input is made of: one, or a pair's two, which
    share its part of the score equally."""
    shares = np.zeros((len(INPUTS), len(FEATURES)))
    for row, name in enumerate(INPUTS):
        bases = name.split(PAIR_SEPARATOR)
        for base in bases:
            for suffix in RELATIVE_SUFFIXES:
                base = base.removesuffix(suffix)
            shares[row, FEATURES.index(base)] += 1 / len(bases)
    return shares


FEATURE_SHARES = _feature_shares()
