"""The find_investors read path: the seed's hybrid query over investors.

Hard filters (check size, sector, stage, geographies, recency) plus cosine distance on
the per-dimension thesis vectors, in two variants from the seed:

* ``single``: filters + cosine on one dimension, ``LIMIT 50``;
* ``rerank``: ~50 candidates from the candidate dimension's ANN index, then a weighted
  score over every dimension that has query text (weights renormalized over those).

Each query chooses its scan: when the filters leave few rows for the table's size
(``exact_scan_is_cheaper``) or the candidate dimension has no ANN index, an exact scan over the filtered rows; otherwise
the walk of the ANN index, iterative under pgvector (``hnsw.iterative_scan``, ``ivfflat.iterative_scan``), so
selective filters still fill the page; the result names the index's method (``walk_label``). Query texts are
embedded by the same embedder that made the stored vectors, and only vectors of that model are ever compared.
Every call writes a ``runs`` row.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql

from invest_assets import settings
from invest_assets.resources.database import database_key, get_or_create_id
from invest_assets.resources.embedders import EmbedderResource, EmbeddingBatch
from invest_assets.resources.usage import record_embedding
from invest_assets.search.graph_rank import (
    FEATURES,
    GraphQuery,
    RankingModel,
    candidate_features,
    explain,
    query_inputs,
    served_model,
)
from invest_assets.sources.schema import DIMENSIONS
from invest_assets.vectors.distinct import ann_location, walk
from invest_assets.vectors.indexes import ANN_INDEX_METHOD, set_walk
from invest_assets.vectors.models import serving_embedders
from invest_assets.vectors.targets import INVESTOR_TARGETS

DEFAULT_WEIGHTS = {"sector": 0.30, "stage": 0.15, "check": 0.15, "geography": 0.10, "signal": 0.20, "founder": 0.10}
CANDIDATES = 50
VARIANTS = ("rerank", "single", "graph")
# What each scan costs a call, from bench_find_investors at 100,000 investors (2026-12-02, float4,
# ef_search 100, docs/benchmarks.md): exact scoring ~7 us a filtered row (reading its vectors from
# TOAST); the iterative HNSW scan ~4 ms, plus ~0.08 ms for each unit of table rows / filtered rows, as
# it walks past the rows the filters reject. They cross at ~1,500 filtered rows of 100,000, ~800 of
# 20,000 and ~3,700 of 1,000,000.
EXACT_MS_PER_ROW, INDEX_MS, INDEX_MS_PER_SPARSITY = 0.007, 4.0, 0.08
# The HNSW candidate list per query (pgvector's default is 40); docs/benchmarks.md has the
# recall and latency measured with it.
HNSW_EF_SEARCH = settings.HNSW_EF_SEARCH.value()
# strict_order: the iterative scan hands rows over in true distance order, so the LIMIT keeps
# the nearest; relaxed_order hands over each batch unsorted, and the LIMIT then keeps an
# arbitrary part of it.
HNSW_ITERATIVE_SCAN = settings.HNSW_ITERATIVE_SCAN.value()
HNSW_MAX_SCAN_TUPLES = 50_000
# The scans a caller can force: every filtered row scored, or the walk of whichever ANN index serves.
EXACT, WALK = "exact", "index"
EXACTLY_COMPLETED = "+exact"  # appended to the walk's label when its page came back short
FEEDBACK_SIGNALS = ("thumbs_up", "thumbs_down", "meeting_booked", "check_received", "pass")
RESULT_FIELDS = (
    "id",
    "source_id",
    "name",
    "kind",
    "firm_id",
    "linkedin_url",
    "domain",
    "thesis_summary",
    "check_size_min_usd",
    "check_size_max_usd",
    "preferred_stages",
    "focus_sectors",
    "geographies",
    "last_invested_at",
    "authority_score",
)


class InvalidRequest(ValueError):
    """A request the caller can correct (unknown run or investor, feedback outside a run's results)."""


class StoredModelMismatch(RuntimeError):
    """The stored vectors were made by another model than the query embedder's."""


@dataclass
class Filters:
    check_size_usd: int | None = None
    sector: str | None = None
    stage: str | None = None
    geographies: list[str] | None = None
    recency_months: int | None = 24
    as_of: date | None = None  # "now" for the recency filter (None: today), to query history honestly


@dataclass
class SearchResult:
    investors: list[dict]
    variant: str
    scan: str  # "exact", the walk (``walk_label``), or the walk + EXACTLY_COMPLETED when its page came back short
    candidate_dimension: str
    estimated_rows: int  # the planner's estimate of the rows the filters keep (the graph variant: candidates)
    run_id: int | None = None
    latency_ms: int = 0
    weights: dict[str, float] = field(default_factory=dict)
    cost_usd: float = 0.0  # of embedding the query texts (OpenAI's price; the local embedder costs nothing)


def filter_sql(filters: Filters, dimension: str, model_id: int | None) -> tuple[sql.Composable, dict]:
    """The WHERE clause for the hard filters, with its bound parameters; with ``model_id``, only
    investors with a ``dimension`` vector of that model."""
    clauses = [sql.SQL("deleted_at IS NULL AND active")]
    params: dict = {}
    if model_id is not None:
        clauses.append(sql.SQL("{} = %(model_id)s").format(INVESTOR_TARGETS[dimension].column("model_id")))
        params["model_id"] = model_id
    if filters.check_size_usd is not None:
        clauses.append(
            sql.SQL(
                "check_size_min_usd <= %(check)s AND (check_size_max_usd IS NULL OR check_size_max_usd >= %(check)s)"
            )
        )
        params["check"] = filters.check_size_usd
    if filters.sector:
        # The seed's `= ANY(...)`, written as containment so the GIN indexes on the arrays apply.
        clauses.append(sql.SQL("focus_sectors @> ARRAY[%(sector)s]::text[]"))
        params["sector"] = filters.sector
    if filters.stage:
        clauses.append(sql.SQL("preferred_stages @> ARRAY[%(stage)s]::text[]"))
        params["stage"] = filters.stage
    if filters.geographies:
        clauses.append(sql.SQL("geographies && %(geos)s::text[]"))
        params["geos"] = list(filters.geographies)
    if filters.recency_months:
        clauses.append(
            sql.SQL(
                "(last_invested_at IS NULL OR last_invested_at >"
                " COALESCE(%(as_of)s::date, now()) - make_interval(months => %(months)s))"
            )
        )
        params["months"] = filters.recency_months
        params["as_of"] = filters.as_of
    return sql.SQL(" AND ").join(clauses), params


_models_with_vectors: set[tuple[tuple, tuple]] = set()


def ensure_same_model(conn: psycopg.Connection, model_ids: dict[str, int]) -> None:
    """Refuse when a dimension's stored vectors all come from other models, before the query text
    is embedded (and paid for). Checked once per process for each set of serving models: vectors of
    a serving model are only replaced by a re-embed, which serves the new model."""
    key = (database_key(conn), tuple(sorted(model_ids.items())))
    if not model_ids or key in _models_with_vectors:
        return
    _check_vectors_of(conn, model_ids)
    _models_with_vectors.add(key)


def _check_vectors_of(conn: psycopg.Connection, model_ids: dict[str, int]) -> None:
    """One statement, whose EXISTS probes stop at the first vector of the query's model."""
    probes = sql.SQL(", ").join(
        sql.SQL("EXISTS (SELECT 1 FROM investors WHERE {} = {})").format(
            INVESTOR_TARGETS[d].column("model_id"), sql.Placeholder(d)
        )
        for d in model_ids
    )
    served = conn.execute(sql.SQL("SELECT {}").format(probes), model_ids).fetchone()
    for (dimension, model_id), present in zip(model_ids.items(), served, strict=True):
        column = INVESTOR_TARGETS[dimension].column("model_id")
        if (
            present
            or conn.execute(
                sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM investors WHERE {} <> %s)").format(column), (model_id,)
            ).fetchone()[0]
        ):
            continue
        names = conn.execute(
            sql.SQL(
                "SELECT DISTINCT m.provider || '/' || m.model || ' (' || m.dimensions || ')'"
                " FROM investors i JOIN embedding_models m ON m.id = i.{}"
            ).format(column)
        ).fetchall()
        raise StoredModelMismatch(
            f"{INVESTOR_TARGETS[dimension].column_name('embedding')} vectors were made by "
            f"{', '.join(n for (n,) in names)}, not by the query embedder (model id {model_id}); re-embed, or query "
            "with the embedder that made them"
        )


def candidate_query(where: sql.Composable, dimension: str, scan: str) -> sql.Composed:
    """The candidate statement for ``scan``; parameters ``q`` (query vector) and ``limit`` plus the filters'."""
    distance = sql.SQL("{} <=> %(q)b").format(INVESTOR_TARGETS[dimension].column("embedding"))
    if scan == EXACT:
        # MATERIALIZED keeps the planner from walking the ANN index: every filtered row is scored.
        return sql.SQL(
            "WITH f AS MATERIALIZED (SELECT id, {d} AS distance FROM investors WHERE {w})"
            " SELECT id, distance FROM f ORDER BY distance, id LIMIT %(limit)s"
        ).format(d=distance, w=where)
    # The walk of the distinct vectors' ANN index, joined to their investors: no sort of its own, so under
    # ``set_index_scan`` the index is the only plan that needs no Sort node. Ties are broken by id
    # afterwards, in Python.
    walked = walk(dimension, sql.Placeholder("model_id"), sql.Placeholder("q", sql.PyFormat.BINARY), where)
    return sql.SQL("{} LIMIT %(limit)s").format(walked)


def set_index_scan(conn: psycopg.Connection, hnsw: tuple[int, str], limit: int) -> None:
    """pgvector's iterative scan settings, for the current transaction."""
    ef_search, iterative_scan = hnsw
    # The scan was chosen per query, so the plan must walk the ANN index: every other plan
    # (a btree or GIN scan of the filters, a sequential scan) has to sort by distance. The exact
    # scan sorts either way: with no other plan, enable_sort only prices it.
    set_walk(
        conn,
        max(ef_search, limit),
        iterative_scan,
        ("hnsw.max_scan_tuples", str(HNSW_MAX_SCAN_TUPLES)),
        ("enable_sort", "off"),
    )


def set_statement_timeout(conn: psycopg.Connection, timeout_ms: int | None = None) -> None:
    """Every statement of the call, until its commit, is cancelled past ``timeout_ms`` (0: never; by default
    INVEST_QUERY_TIMEOUT_MS)."""
    timeout_ms = settings.QUERY_TIMEOUT_MS.value() if timeout_ms is None else timeout_ms
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))


def page_query(candidates: sql.Composable, dimensions: list[str]) -> sql.Composed:
    """The candidates (``candidate_query``) with each other queried dimension's distance and the result
    fields, in one statement: a NULL distance where the investor has no vector of the serving model."""
    columns = [sql.SQL("c.distance")]
    columns += [
        sql.SQL("CASE WHEN v.{m} = {model} THEN v.{e} <=> {query} END").format(
            m=INVESTOR_TARGETS[d].column("model_id"),
            e=INVESTOR_TARGETS[d].column("embedding"),
            model=sql.Placeholder(f"model_{d}"),
            query=sql.Placeholder(f"q_{d}", sql.PyFormat.BINARY),
        )
        for d in dimensions[1:]
    ]
    columns += [sql.SQL("v.{}").format(sql.Identifier(name)) for name in RESULT_FIELDS]
    return sql.SQL("WITH c AS MATERIALIZED ({}) SELECT {} FROM c JOIN investors v ON v.id = c.id").format(
        candidates, sql.SQL(", ").join(columns)
    )


def _page(conn, where, params, dimensions, vectors, model_ids, wanted, scan):
    """Rows of (per-dimension distances, result fields) for the ``wanted`` nearest on the candidate dimension."""
    statement = page_query(candidate_query(where, dimensions[0], scan), dimensions)
    bound = {
        **params,
        "q": Vector(vectors[dimensions[0]]),
        "limit": wanted,
        **{f"q_{d}": Vector(vectors[d]) for d in dimensions[1:]},
        **{f"model_{d}": model_ids[d] for d in dimensions[1:]},
    }
    rows = conn.execute(statement, bound).fetchall()
    found = []
    for row in rows:
        distances = dict(zip(dimensions, row[: len(dimensions)], strict=True))
        found.append((distances, dict(zip(RESULT_FIELDS, row[len(dimensions) :], strict=True))))
    return sorted(found, key=lambda item: (item[0][dimensions[0]], item[1]["id"]))


def _filtered_up_to(conn, where: sql.Composable, params: dict, bound: int) -> int:
    """How many rows the filters keep, counted no further than ``bound``."""
    statement = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM investors WHERE {} LIMIT %(bound)s) kept").format(where)
    return conn.execute(statement, {**params, "bound": bound}).fetchone()[0]


def _investor_rows(conn, ids: list[int]) -> dict[int, dict]:
    columns = sql.SQL(", ").join(map(sql.Identifier, RESULT_FIELDS))
    rows = conn.execute(sql.SQL("SELECT {} FROM investors WHERE id = ANY(%s)").format(columns), (ids,)).fetchall()
    return {row[0]: dict(zip(RESULT_FIELDS, row, strict=True)) for row in rows}


def query_vectors(
    texts: dict[str, str], served: dict[str, tuple[int, EmbedderResource]]
) -> tuple[dict[str, np.ndarray], list[tuple[EmbedderResource, EmbeddingBatch]]]:
    """Each dimension's query text embedded by its serving model, one call per model; and the calls."""
    by_model: dict[int, list[str]] = {}
    for dimension, (model_id, _) in served.items():
        by_model.setdefault(model_id, []).append(dimension)
    vectors, calls = {}, []
    for dims in by_model.values():
        embedder = served[dims[0]][1]
        batch = embedder.embed([texts[d] for d in dims])
        vectors.update(zip(dims, batch.vectors, strict=True))
        calls.append((embedder, batch))
    return vectors, calls


def normalized_weights(dimensions: list[str], weights: dict[str, float] | None) -> dict[str, float]:
    chosen = {d: (weights or DEFAULT_WEIGHTS)[d] for d in dimensions}
    total = sum(chosen.values())
    if total <= 0:
        raise ValueError("weights of the dimensions with query text must add up to more than 0")
    return {d: w / total for d, w in chosen.items()}


def exact_scan_is_cheaper(filtered_rows: int, table_rows: int) -> bool:
    """Whether scoring the filtered rows exactly is expected to be faster than the iterative index scan."""
    filtered = max(filtered_rows, 1)
    return EXACT_MS_PER_ROW * filtered <= INDEX_MS + INDEX_MS_PER_SPARSITY * table_rows / filtered


def walk_label(method: str | None) -> str:
    """How a walk of a ``method`` index is reported: pgvector's iterative scans by their method, ScaNN's by its
    name; ``index`` where the index went missing since the call chose its scan."""
    if method in ("hnsw", "ivfflat"):
        return f"{method}-iterative"
    return method or WALK


def search(
    conn: psycopg.Connection,
    embedder: EmbedderResource,
    texts: dict[str, str],
    filters: Filters,
    variant: str = "rerank",
    weights: dict[str, float] | None = None,
    limit: int | None = None,
    scan: str | None = None,
    hnsw: tuple[int, str] = (HNSW_EF_SEARCH, HNSW_ITERATIVE_SCAN),
    graph: GraphQuery | None = None,
    model: RankingModel | None = None,
    timeout_ms: int | None = None,
) -> SearchResult:
    """Rank investors for the query texts (any subset of the six dimensions) under ``filters``, each statement
    cancelled past ``timeout_ms`` (``set_statement_timeout``).

    Three round trips for the seed variants: the settings, serving models, the filters' row estimate
    and the candidate index's presence, pipelined; then one statement for the page with every distance
    and result field; the caller's ``runs`` row."""
    texts = {d: t for d, t in texts.items() if t and t.strip()}
    unknown = set(texts) - set(DIMENSIONS)
    by_company = variant == "graph" and graph is not None and graph.company_id is not None
    if unknown or not (texts or by_company):  # a company's graph can rank without text
        raise ValueError(f"query texts must be for some of {DIMENSIONS}; got {sorted(texts) or 'none'}")
    if variant not in VARIANTS:
        raise ValueError(f"variant is one of {', '.join(VARIANTS)}")
    if scan not in (None, EXACT, WALK):
        raise ValueError(f"scan is {EXACT!r} or {WALK!r} (or None, chosen per query); got {scan!r}")
    dimensions = [d for d in DIMENSIONS if d in texts]
    candidate = dimensions[0] if dimensions else None  # sector when it has text, as in the seed
    page = limit or (CANDIDATES if variant == "single" else 25)
    wanted = page if variant == "single" else CANDIDATES
    with conn.pipeline():
        set_statement_timeout(conn, timeout_ms)
        if variant != "graph":  # the graph variant chooses no scan
            set_index_scan(conn, hnsw, wanted)
            estimate_where, estimate_params = filter_sql(filters, candidate, None)
            estimate = conn.execute(
                sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM investors WHERE {}").format(estimate_where),
                estimate_params,
            )
            indexed = conn.execute(ANN_INDEX_METHOD, ann_location(candidate))
            table_rows = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'investors'::regclass")
        served = serving_embedders(conn, embedder, dimensions)
    model_ids = {d: model_id for d, (model_id, _) in served.items()}
    ensure_same_model(conn, model_ids)
    vectors, calls = query_vectors(texts, served)
    for called, batch in calls:  # committed with the call's runs row
        record_embedding(conn, called, batch, "query")
    cost_usd = sum(batch.cost_usd for _, batch in calls)
    if variant == "graph":
        result = _graph_search(conn, vectors, model_ids, candidate, filters, page, graph, model)
        result.cost_usd = cost_usd
        return result
    # The planner's estimate decides the scan (a count(*) took 34 ms at 50% of 100,000 rows); a wrong
    # guess costs time, never rows: a short index page is completed exactly below.
    estimated = int(estimate.fetchone()[0][0]["Plan"]["Plan Rows"])
    method = indexed.fetchone()[0]
    if scan is None:
        # reltuples is -1 before the table's first VACUUM or ANALYZE
        cheaper = exact_scan_is_cheaper(estimated, max(int(table_rows.fetchone()[0]), estimated))
        scan = EXACT if cheaper or method is None else WALK
    where, params = filter_sql(filters, candidate, model_ids[candidate])
    found = _page(conn, where, params, dimensions, vectors, model_ids, wanted, scan)
    label = EXACT if scan == EXACT else walk_label(method)
    if scan == WALK and len(found) < wanted and len(found) < _filtered_up_to(conn, where, params, wanted):
        # An iterative scan ends at hnsw.max_scan_tuples or its memory limit, short of a page
        # the filters hold: score the filtered rows exactly instead.
        found = _page(conn, where, params, dimensions, vectors, model_ids, wanted, EXACT)
        label += EXACTLY_COMPLETED
    chosen_weights = normalized_weights(dimensions, weights) if variant == "rerank" else {candidate: 1.0}
    ranked = sorted(
        (
            sum(w * (1.0 if distances[d] is None else distances[d]) for d, w in chosen_weights.items()),
            fields["id"],
            distances,
            fields,
        )
        for distances, fields in found
    )[:page]
    investors = [{**fields, "distances": distances, "final_score": score} for score, _, distances, fields in ranked]
    return SearchResult(investors, variant, label, candidate, estimated, weights=chosen_weights, cost_usd=cost_usd)


def graph_candidates(
    conn: psycopg.Connection, embedder: EmbedderResource, texts: dict[str, str], filters: Filters, graph: GraphQuery
) -> tuple[list[int], np.ndarray]:
    """The graph variant's candidates and their features, as ``search`` computes them (for fitting)."""
    dimensions = [d for d in DIMENSIONS if texts.get(d, "").strip()]
    served = serving_embedders(conn, embedder, dimensions)
    model_ids = {d: model_id for d, (model_id, _) in served.items()}
    vectors, _ = query_vectors({d: texts[d] for d in dimensions}, served)
    return _graph_features(conn, vectors, model_ids, dimensions[0] if dimensions else None, filters, graph)


def _graph_features(conn, vectors, model_ids, candidate, filters, graph: GraphQuery):
    where, params = filter_sql(filters, candidate, None)  # an existing investor may have no text vector
    return candidate_features(conn, graph, vectors, model_ids, candidate, where, params)


def _graph_search(
    conn, vectors, model_ids, candidate, filters, page, graph: GraphQuery | None, model: RankingModel | None
) -> SearchResult:
    """The graph-aware variant: graph and text candidates scored by the learned model (higher is better)."""
    graph = graph or GraphQuery(as_of=filters.as_of)
    model = model or served_model(conn)
    ids, features = _graph_features(conn, vectors, model_ids, candidate, filters, graph)
    inputs = query_inputs(features)
    scores = model.linear(inputs)
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))[:page]
    details = _investor_rows(conn, [ids[i] for i in order])
    investors = [
        {
            **details[ids[i]],
            "final_score": float(scores[i]),
            "distances": {d: float(features[i, DIMENSIONS.index(d)]) for d in vectors},
            "features": {name: float(value) for name, value in zip(FEATURES, features[i], strict=True)},
            "explanation": explain(model, inputs[i]),
        }
        for i in order
    ]
    return SearchResult(investors, "graph", "graph", candidate, len(ids), weights={"model": model.version})


_user_ids: dict[tuple[tuple, str], int] = {}


def _user_id(conn: psycopg.Connection, user: str) -> int:
    """The user's id, looked up (or created) once per process and database: users are never deleted."""
    key = (database_key(conn), user)
    if key not in _user_ids:
        _user_ids[key] = get_or_create_id(conn, "users", {"workos_user_id": user})
        conn.commit()
    return _user_ids[key]


def find_investors(
    conn: psycopg.Connection,
    embedder: EmbedderResource,
    texts: dict[str, str],
    filters: Filters,
    *,
    user: str = "cli",
    variant: str = "rerank",
    weights: dict[str, float] | None = None,
    limit: int | None = None,
    graph: GraphQuery | None = None,
    model: RankingModel | None = None,
) -> SearchResult:
    """``search`` plus its audit row in ``runs`` (success, no_results or error)."""
    started = time.perf_counter()
    tool_input = {
        "thesis": texts,
        "filters": asdict(filters),
        "variant": variant,
        "weights": weights,
        "company_id": graph.company_id if graph else None,
        "company_sectors": graph.sectors if graph else None,
        "company_check_usd": graph.check_usd if graph else None,
        "company_stage": graph.stage if graph else None,
    }
    user_id = _user_id(conn, user)
    try:
        result = search(
            conn, embedder, texts, filters, variant=variant, weights=weights, limit=limit, graph=graph, model=model
        )
    except Exception as err:
        conn.rollback()
        _record_run(conn, user_id, texts, tool_input, [], started, "error", f"{type(err).__name__}: {err}")
        raise
    result.latency_ms = int((time.perf_counter() - started) * 1000)
    tool_input["scan"] = result.scan
    ids = [r["id"] for r in result.investors]
    status = "success" if ids else "no_results"
    result.run_id = _record_run(conn, user_id, texts, tool_input, ids, started, status, cost_usd=result.cost_usd)
    return result


def _record_run(conn, user_id, texts, tool_input, ids, started, status, error=None, cost_usd=None) -> int:
    run_id = conn.execute(
        """
        INSERT INTO runs (user_id, user_query, class, tool_input, result_count, result_ids, total_latency_ms,
                          status, error_message, cost_usd)
        VALUES (%s, %s, 'find_investors', %s, %s, %s, %s, %s, %s, %s) RETURNING id
        """,
        (
            user_id,
            " | ".join(f"{d}: {t}" for d, t in texts.items()),
            json.dumps(tool_input, default=str),
            len(ids),
            ids,
            int((time.perf_counter() - started) * 1000),
            status,
            error,
            cost_usd,
        ),
    ).fetchone()[0]
    conn.commit()
    return run_id


def record_feedback(
    conn: psycopg.Connection, run_id: int, investor: str, signal: str, *, user: str = "cli", note: str | None = None
) -> int:
    """The seed's per-result feedback; ``investor`` is a source_id or id."""
    if signal not in FEEDBACK_SIGNALS:
        raise InvalidRequest(f"signal must be one of {FEEDBACK_SIGNALS}")
    # Two index lookups: `source_id = x OR id::text = x` can use neither index and reads the table.
    row = conn.execute("SELECT id FROM investors WHERE source_id = %s", (investor,)).fetchone()
    if row is None and investor.isdigit() and int(investor) < 2**63:
        row = conn.execute("SELECT id FROM investors WHERE id = %s", (int(investor),)).fetchone()
    if row is None:
        raise InvalidRequest(f"no investor {investor!r}")
    run = conn.execute("SELECT result_ids FROM runs WHERE id = %s", (run_id,)).fetchone() if run_id < 2**63 else None
    if run is None:
        raise InvalidRequest(f"no run {run_id}")
    # Feedback is about a result the user saw: an investor outside the run's results is refused.
    if row[0] not in (run[0] or []):
        raise InvalidRequest(f"investor {investor!r} is not among the results of run {run_id}")
    feedback_id = conn.execute(
        "INSERT INTO feedback (run_id, investor_id, signal, note, user_id) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (run_id, row[0], signal, note, _user_id(conn, user)),
    ).fetchone()[0]
    conn.commit()
    return feedback_id


def empty_result_hints(conn: psycopg.Connection, filters: Filters, candidate: str) -> list[str]:
    """Why a query found nobody, when the data can say: nothing built yet, or a filter value no
    investor has (with the values that exist). Only run for an empty answer."""
    column = INVESTOR_TARGETS[candidate].column("embedding")
    if not conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM investors WHERE {} IS NOT NULL)").format(column)
    ).fetchone()[0]:
        return [f"no investor has a {candidate} vector yet: build first (`make run` or `invest-assets build`)"]
    hints = []
    for name, column_name, values in (
        ("sector", "focus_sectors", [filters.sector]),
        ("stage", "preferred_stages", [filters.stage]),
        ("geography", "geographies", filters.geographies or []),
    ):
        listed = sql.Identifier(column_name)
        for value in filter(None, values):
            if conn.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM investors WHERE {} @> ARRAY[%s]::text[])").format(listed),
                (value,),
            ).fetchone()[0]:
                continue
            known = conn.execute(
                sql.SQL(
                    "SELECT v FROM investors, unnest({}) AS v WHERE deleted_at IS NULL"
                    " GROUP BY v ORDER BY count(*) DESC, v LIMIT 20"
                ).format(listed)
            ).fetchall()
            hints.append(f"no investor lists {name} {value!r}; known: {', '.join(v for (v,) in known) or 'none'}")
    return hints


def company_query(
    conn: psycopg.Connection, source_id: str, as_of: date | None, check_usd: int | None = None, stage: str | None = None
) -> tuple[dict[str, str], GraphQuery]:
    """The founder's company as a query: its sectors and country as texts in the profiles' words, and
    what the graph knows of it (its id and sectors; its investors before ``as_of`` come from the rounds),
    with the check the founder asks of each investor: ``check_usd`` when given, else its latest round's
    amount per investor (in the backtest that kept follow-ons' recall, 0.585 against 0.588 with the
    round's own check and 0.583 with none), and the stage it raises (``stage``, a round type) when given."""
    row = conn.execute(
        "SELECT id, coalesce(nullif(sectors, '{}'), array_remove(ARRAY[primary_sector], NULL)), hq_country"
        " FROM companies WHERE source_id = %s AND deleted_at IS NULL",
        (source_id,),
    ).fetchone()
    if row is None:
        raise InvalidRequest(f"no company {source_id!r}")
    company_id, sectors, country = row
    texts = {}
    if sectors:
        texts["sector"] = "Invests in " + ", ".join(s.replace("_", " ") for s in sectors) + "."
    if country:
        texts["geography"] = f"Backs companies in {country_name(country)}."
    return texts, GraphQuery(
        company_id, list(sectors or []), as_of, check_usd or _latest_check(conn, company_id, as_of), stage
    )


def _latest_check(conn: psycopg.Connection, company_id: int, as_of: date | None) -> float | None:
    """The company's latest round with an amount and investors, before ``as_of``: its amount per investor."""
    row = conn.execute(
        "SELECT r.amount_usd::float8 / count(*) FROM funding_rounds r"
        " JOIN investments i ON i.funding_round_id = r.id AND i.deleted_at IS NULL"
        " WHERE r.company_id = %s AND r.deleted_at IS NULL AND r.amount_usd > 0"
        " AND (%s::date IS NULL OR r.announced_at < %s::date)"
        " GROUP BY r.id ORDER BY max(r.announced_at) DESC NULLS LAST, r.id DESC LIMIT 1",
        (company_id, as_of, as_of),
    ).fetchone()
    return row[0] if row else None


def country_name(code: str) -> str:
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    return country.name if country else code
