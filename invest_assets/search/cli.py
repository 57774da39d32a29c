"""``invest-assets find-investors``, ``feedback``, ``similar-companies`` and ``index``."""

from __future__ import annotations

import json
import math

import click

from invest_assets.resources.factories import database_resource, embedder_resource, resolved
from invest_assets.search.find_investors import (
    FEEDBACK_SIGNALS,
    VARIANTS,
    Filters,
    InvalidRequest,
    company_query,
    empty_result_hints,
    find_investors,
    record_feedback,
)
from invest_assets.sources.schema import DIMENSIONS, dimension_column
from invest_assets.vectors.storage import STORAGE_TYPES

MAX_BIGINT = 2**63 - 1
MAX_USER_CHARS = 500  # users.workos_user_id is indexed


class WeightsParam(click.ParamType):
    """--weights: a JSON object of dimension -> finite, non-negative number."""

    name = "JSON"

    def convert(self, value, param, ctx):
        if isinstance(value, dict):
            return value
        try:
            weights = json.loads(value)
        except json.JSONDecodeError as err:
            self.fail(f"not JSON ({err.msg}): {value[:80]!r}", param, ctx)
        if not isinstance(weights, dict):
            self.fail(f'expected an object like {{"sector": 0.5}}, got {type(weights).__name__}', param, ctx)
        unknown = set(weights) - set(DIMENSIONS)
        if unknown:
            self.fail(f"unknown dimensions {sorted(unknown)}; choose from {', '.join(DIMENSIONS)}", param, ctx)
        for dimension, weight in weights.items():
            if (
                isinstance(weight, bool)
                or not isinstance(weight, (int, float))
                or not math.isfinite(weight)
                or weight < 0
            ):
                self.fail(f"{dimension}: {weight!r} is not a finite number >= 0", param, ctx)
        return {d: float(w) for d, w in weights.items()}


class UserParam(click.ParamType):
    name = "TEXT"

    def convert(self, value, param, ctx):
        if not value.strip() or len(value) > MAX_USER_CHARS or "\x00" in value:
            self.fail(f"expected 1 to {MAX_USER_CHARS} characters without NUL bytes", param, ctx)
        return value


def _connection():
    return resolved(database_resource()).connection()


def _embedder():
    return resolved(embedder_resource())


def _dimension_options(command):
    for dimension in reversed(DIMENSIONS):
        command = click.option(
            f"--{dimension}-text", dimension_column(dimension, "text"), help=f"What the founder wants on {dimension}."
        )(command)
    return command


@click.command("find-investors")
@_dimension_options
@click.option(
    "--check-size",
    type=click.IntRange(0, MAX_BIGINT),
    help="Target check size in USD: a filter, and with the graph variant how far it lies from each range.",
)
@click.option("--sector", help="Required focus sector, e.g. fintech.")
@click.option("--stage", help="Required stage, e.g. seed.")
@click.option("--geo", "geographies", multiple=True, help="Allowed geography (ISO-3166 alpha-2); repeatable.")
@click.option(
    "--recency-months",
    type=click.IntRange(0, 1200),
    default=24,
    show_default=True,
    help="0 disables the recency filter.",
)
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The date the recency filter counts back from (default: today), to query historical data honestly.",
)
@click.option(
    "--variant",
    type=click.Choice(VARIANTS),
    help="rerank (default without --company): weighted text "
    "distance; single: one dimension; graph (default with --company): the learned graph-aware model.",
)
@click.option(
    "--company",
    help="The founder's company (source_id): its sectors and country become the query "
    "texts unless given, and its investors so far feed the graph variant.",
)
@click.option("--weights", type=WeightsParam(), help='JSON weights per dimension, e.g. {"sector": 0.5, "signal": 0.5}.')
@click.option("--limit", type=click.IntRange(1, 1000), help="Results (default 25 for rerank, 50 for single).")
@click.option("--user", type=UserParam(), default="cli", show_default=True, help="workos_user_id recorded in runs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--queries",
    type=click.File("r"),
    help="Batch: a JSON-lines file ('-': stdin), one query object per "
    'line with the flags as keys (e.g. {"company": "c1", "as_of": "2013-01-01", "geo": ["US"]}); '
    "prints one JSON result per line, in order, over one connection.",
)
def find_investors_command(queries, as_json, **params):
    """Rank investors for a founder: hard filters plus per-dimension thesis texts."""
    if queries:
        _answer_batch(queries, params["user"])
        return
    with _connection() as conn:
        try:
            result, hints = _answer(conn, _embedder(), **params)
        except InvalidRequest as err:
            raise click.UsageError(str(err)) from None
    if as_json:
        click.echo(json.dumps(_as_json(result, hints), default=str, indent=2))
    else:
        _print(result, hints)


def _answer(
    conn,
    embedder,
    *,
    check_size,
    sector,
    stage,
    geographies,
    recency_months,
    as_of,
    variant,
    company,
    weights,
    limit,
    user,
    **texts,
):
    """One query, as the flags give it: the result and, for an empty one, hints."""
    filters = Filters(
        check_size, sector, stage, list(geographies) or None, recency_months or None, as_of.date() if as_of else None
    )
    texts = {d: text for d in DIMENSIONS if (text := texts[dimension_column(d, "text")]) and text.strip()}
    graph = None
    if company:
        company_texts, graph = company_query(conn, company, filters.as_of, check_size, stage)
        texts = {**company_texts, **texts}  # explicit flags override
    variant = variant or ("graph" if company else "rerank")
    if not texts and not (company and variant == "graph"):  # a company's graph ranks without text
        raise InvalidRequest(f"give at least one query text: {', '.join(f'--{d}-text' for d in DIMENSIONS)}")
    if weights and variant == "rerank" and not set(texts) <= set(weights):
        raise InvalidRequest(f"--weights: no weight for {sorted(set(texts) - set(weights))}")
    result = find_investors(
        conn, embedder, texts, filters, user=user, variant=variant, weights=weights, limit=limit, graph=graph
    )
    hints = [] if result.investors or not texts else empty_result_hints(conn, filters, result.candidate_dimension)
    return result, hints


def _query_params(line: str, user: str) -> dict:
    """A JSON-lines query as the command's parameters, parsed and validated by the command's own options."""
    query = json.loads(line)
    if not isinstance(query, dict):
        raise InvalidRequest(f"expected a JSON object, got {type(query).__name__}")
    args = ["--user", user]
    for key, value in query.items():
        flag = "--" + key.replace("_", "-")
        if key in ("queries", "json") or flag not in _FLAGS:
            raise InvalidRequest(f"unknown key {key!r}; use the flags' names, e.g. sector_text, check_size, geo")
        values = value if isinstance(value, list) else [value]
        args += [a for v in values for a in (flag, json.dumps(v) if isinstance(v, dict) else str(v))]
    try:
        return find_investors_command.make_context("find-investors", args).params
    except click.ClickException as err:
        raise InvalidRequest(err.format_message()) from None


def _answer_batch(queries, user: str) -> None:
    """One JSON result per input line, in order; a bad line gets an error object and the rest go on."""
    embedder = _embedder()
    with _connection() as conn:
        for number, line in enumerate(queries, 1):
            if not line.strip():
                continue
            try:
                params = _query_params(line, user)
                params.pop("queries"), params.pop("as_json")
                answer = {"line": number, **_as_json(*_answer(conn, embedder, **params))}
            except (InvalidRequest, json.JSONDecodeError) as err:
                conn.rollback()
                answer = {"line": number, "error": str(err)}
            click.echo(json.dumps(answer, default=str))


def _as_json(result, hints) -> dict:
    return {
        "run_id": result.run_id,
        "variant": result.variant,
        "scan": result.scan,
        "estimated_rows": result.estimated_rows,
        "weights": result.weights,
        "investors": result.investors,
        "hints": hints,
    }


def _print(result, hints) -> None:
    click.echo(
        f"run {result.run_id}: {len(result.investors)} investors ({result.variant}, {result.scan} scan over "
        f"~{result.estimated_rows} filtered rows, {result.latency_ms} ms)"
    )
    for hint in hints:
        click.echo(f"hint: {hint}")
    graph_scores = result.variant == "graph"
    if result.investors and graph_scores:
        click.echo(f"score = the learned graph model's score ({result.weights['model']}); higher is better")
    elif result.investors:
        weights_used = ", ".join(f"{d} {w:.2f}" for d, w in result.weights.items())
        click.echo(f"distance = weighted cosine distance ({weights_used}); lower is better, 0 = same direction")
    for rank, investor in enumerate(result.investors, 1):
        per_dimension = "  ".join(
            f"{d} {v:.3f}" if v is not None else f"{d} -" for d, v in investor["distances"].items()
        )
        why = f"  ({'; '.join(investor['explanation'])})" if investor.get("explanation") else ""
        click.echo(
            f"{rank:3d}. {'score' if graph_scores else 'distance'} {investor['final_score']:.4f}  "
            f"{investor['name']} ({investor['source_id']})  {f'[{per_dimension}]  ' if per_dimension else ''}"
            f"{', '.join(investor['focus_sectors'] or [])}{why}"
        )


_FLAGS = {opt for param in find_investors_command.params for opt in getattr(param, "opts", [])}


@click.command("feedback")
@click.argument("run_id", type=click.IntRange(1, MAX_BIGINT))
@click.argument("investor")
@click.argument("signal", type=click.Choice(FEEDBACK_SIGNALS))
@click.option("--note")
@click.option("--user", type=UserParam(), default="cli", show_default=True)
def feedback_command(run_id, investor, signal, note, user):
    """Record SIGNAL for INVESTOR (source_id or id), one of the results of run RUN_ID."""
    with _connection() as conn:
        try:
            feedback_id = record_feedback(conn, run_id, investor, signal, user=user, note=note)
        except InvalidRequest as err:
            raise click.UsageError(str(err)) from None
    click.echo(f"feedback {feedback_id} recorded")


@click.command("similar-companies")
@click.argument("source_id")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def similar_companies_command(source_id, limit, as_json):
    """The live companies whose descriptions are nearest SOURCE_ID's (cosine over description_embedding)."""
    from invest_assets.search.similar_companies import similar_companies

    with _connection() as conn:
        try:
            answer = similar_companies(conn, source_id, limit)
        except InvalidRequest as err:
            raise click.UsageError(str(err)) from None
    if as_json:
        click.echo(json.dumps(answer, default=str, indent=2))
        return
    click.echo(f"{answer['company']['name']} ({source_id}): {answer['company']['text']}")
    click.echo("distance = cosine distance of the description vectors; lower is nearer")
    for rank, company in enumerate(answer["similar"], 1):
        click.echo(
            f"{rank:3d}. {company['distance']:.4f}  {company['name']} ({company['source_id']})  "
            f"{company['primary_sector'] or '-'}, {company['hq_country'] or '-'}: {company['description']}"
        )


@click.command("index")
@click.option("--dimensions", help="Comma-separated candidate dimensions (default: INVEST_ANN_DIMENSIONS or sector).")
def index_command(dimensions):
    """Make the ANN indexes match the candidate dimensions (ScaNN on AlloyDB, HNSW elsewhere, or
    INVEST_ANN_METHOD's), building again those of another method."""
    from invest_assets.vectors.indexes import TRAINING_MIN_ROWS, configured_dimensions, sync_ann_indexes

    with _connection() as conn:
        changes = sync_ann_indexes(conn, configured_dimensions(dimensions))
    deferred = changes["deferred"] and f"; deferred until they have {TRAINING_MIN_ROWS} vectors: {changes['deferred']}"
    click.echo(
        f"{changes['method'][0]} indexes: created {changes['created'] or 'none'}, "
        f"dropped {changes['dropped'] or 'none'}{deferred or ''}"
    )


@click.command("vector-storage")
@click.argument("storage", required=False, type=click.Choice(STORAGE_TYPES))
def vector_storage_command(storage):
    """Print how the embedding columns are stored, or convert them all to STORAGE (vector: 4-byte floats;
    halfvec: 2-byte, half the size) and rebuild their ANN indexes, in one transaction."""
    from invest_assets.vectors.storage import set_storage, storage_types

    with _connection() as conn:
        if storage:
            rebuilt = set_storage(conn, storage)
            click.echo(f"converted to {storage}; ANN indexes: {rebuilt or 'unchanged'}")
        for key, column_type in storage_types(conn).items():
            click.echo(f"{key}: {column_type}")
