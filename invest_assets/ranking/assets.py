"""``ranking_model`` and ``ranking_quality``: the backtest as assets.

One run of the backtest (``evaluate``) fits the graph model on rounds before the cut and measures
it against the baselines on the rounds after it, so both assets come from one multi-asset step.
``ranking_model`` records the fitted model in ``ranking_models`` (its coefficients, training range
and backtest metrics in the metadata) and, with ``serve``, makes it the model ``find_investors``
uses; ``ranking_quality`` shows the table, and its numeric metadata (recall@25 per ranking and
split) is what the Dagster UI plots across materializations, so a model change shows its effect
on the asset's page. Both are on demand (group ``ranking``, outside ``build_everything``): a
backtest builds the source twice, as of the training start and as of the cut.
"""

from datetime import date
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetSpec, Config, MaterializeResult, MetadataValue, multi_asset
from pydantic import Field

from invest_assets import settings
from invest_assets.ranking.evaluate import (
    Evaluation,
    FeedbackExamples,
    evaluate,
    feedback_examples,
    newest_round_date,
)
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.local_source import LocalFileSource, TableSource
from invest_assets.search.graph_rank import INPUTS, store_model

GROUP = "ranking"


class BacktestConfig(Config):
    source_dir: str | None = Field(
        None,
        description="A source in the local contract (default: the local source; "
        "required with the BigQuery source: export it first).",
    )
    cut: str | None = Field(None, description="YYYY-MM-DD; default: 12 months before the newest round.")
    until: str | None = Field(None, description="YYYY-MM-DD; default: the day after the newest round.")
    max_rounds: int | None = Field(1500, description="Test (and training) rounds sampled; null: all.")
    train_months: int = Field(12, description="The months before the cut the model is fitted on.")
    serve: bool = Field(True, description="Make the fitted model the one find_investors serves.")
    use_feedback: bool = Field(
        True,
        description="Learn from the feedback users gave on find_investors results "
        "(thumbs_up, meeting_booked, check_received positive; pass, thumbs_down negative).",
    )


def _source_dir(config: BacktestConfig, source: TableSource) -> Path:
    if config.source_dir:
        return Path(config.source_dir).expanduser().resolve()
    if isinstance(source, LocalFileSource):
        return source.source_dir()
    raise ValueError("the backtest reads a source in the local contract: set source_dir (e.g. a BigQuery export)")


def _window(config: BacktestConfig, source_dir: Path) -> tuple[date, date]:
    newest = newest_round_date(source_dir)
    until = date.fromisoformat(config.until) if config.until else newest + pd.Timedelta(days=1)
    cut = date.fromisoformat(config.cut) if config.cut else (pd.Timestamp(newest) - pd.DateOffset(months=12)).date()
    return cut, until


def _recalls(evaluation: Evaluation) -> dict[str, float]:
    """recall@25 per ranking and split, as plain numbers: the UI plots them across materializations."""
    return {
        f"recall@25 {split.replace('_', '-')}: {name}": round(splits[split]["recall@25"]["mean"], 4)
        for name, splits in evaluation.rankings.items()
        for split in ("all", "first", "follow_on")
    }


def _leads(evaluation: Evaluation) -> dict[str, float]:
    """The learned ranking's recall@25 lead over the best baseline of each split (its paired interval is in
    the table), plotted beside the recalls."""
    return {
        f"recall@25 lead over the best baseline: {split.replace('_', '-')}": round(lead["mean"], 4)
        for split, lead in evaluation.margins.items()
    }


def _coefficients(evaluation: Evaluation) -> str:
    model = evaluation.model
    rows = sorted(zip(INPUTS, model.weights, strict=True), key=lambda item: -abs(item[1]))
    return "\n".join(
        ["| feature | weight (standardized) |", "|---|---|", *(f"| {name} | {weight:+.3f} |" for name, weight in rows)]
    )


@multi_asset(
    specs=[
        AssetSpec(
            "ranking_model",
            group_name=GROUP,
            deps=["funding_rounds", "investments"],
            kinds={"scikitlearn"},
            owners=["team:data-platform"],
            description="The graph ranking model fitted on the rounds before the backtest's cut (features "
            "as of the start of its training months); served by find_investors --variant graph.",
        ),
        AssetSpec(
            "ranking_quality",
            group_name=GROUP,
            deps=["ranking_model"],
            owners=["team:data-platform"],
            description="recall@25, hit@25, nDCG@25 and MRR of find_investors and the baselines on rounds "
            "after the cut, with bootstrap intervals; the Plots tab shows recall@25 over time.",
        ),
    ],
)
def ranking_backtest(
    context: AssetExecutionContext, config: BacktestConfig, database: AlloyDBResource, source: TableSource
):
    source_dir = _source_dir(config, source)
    cut, until = _window(config, source_dir)
    context.log.info(f"backtest of {source_dir}: cut {cut}, test rounds to {until}")
    with database.connection() as conn:
        feedback = feedback_examples(conn) if config.use_feedback else FeedbackExamples.none()
    evaluation = evaluate(
        source_dir,
        cut,
        until,
        settings.home_dir() / "backtest",
        config.max_rounds,
        train_months=config.train_months,
        feedback=feedback,
    )
    recalls = _recalls(evaluation)
    with database.connection() as conn:
        model_id = store_model(conn, evaluation.model, recalls, config.serve)
    trained = evaluation.model.trained
    yield MaterializeResult(
        asset_key="ranking_model",
        metadata={
            "version": evaluation.model.version,
            "ranking_models.id": model_id,
            "serving": config.serve,
            "coefficients": MetadataValue.md(_coefficients(evaluation)),
            "trained on rounds": MetadataValue.text(
                f"{trained['labels_from']} to {trained['labels_until']} "
                f"({trained['rounds']} rounds, {trained['positives']} positives)"
            ),
            "features as of": MetadataValue.text(trained["features_as_of"]),
            "feedback examples": f"{trained['feedback']} ({trained['feedback_positives']} positive)",
            "recall@25 (test)": recalls["recall@25 all: find_investors graph (learned)"],
        },
    )
    yield MaterializeResult(
        asset_key="ranking_quality",
        metadata={
            "table": MetadataValue.md(evaluation.markdown()),
            "cut": str(cut),
            "until": str(until),
            "test rounds": evaluation.rounds,
            "source": MetadataValue.path(str(source_dir)),
            **recalls,
            **_leads(evaluation),
        },
    )
