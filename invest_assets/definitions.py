"""The code location: every asset family merged, plus the resources they share.

Resources are chosen by environment (``resources.factories``).
"""

from __future__ import annotations

import warnings

from dagster import AssetSelection, BetaWarning, Definitions, define_asset_job, with_source_code_references

from invest_assets import core, embeddings, graph, profiles, ranking, search, theses
from invest_assets.resources.factories import (
    database_resource,
    embedder_resource,
    extractor_resource,
    source_resource,
)

build_everything = define_asset_job(
    "build_everything",
    selection=AssetSelection.all() - AssetSelection.groups("reembedding", "ranking"),
    description="Materialize every asset: core tables, embeddings and graph-derived assets "
    "(not the re-embed backfill, which runs by shard, nor the ranking backtest, which is on demand).",
)


def _with_code_references(families: Definitions) -> Definitions:
    """The families merged, every asset linked to the function that builds it, plus resources."""
    with warnings.catch_warnings():  # code references are beta in Dagster; one warning per asset is noise
        warnings.simplefilter("ignore", BetaWarning)
        assets = with_source_code_references(list(families.assets))
    return Definitions(
        assets=assets,
        asset_checks=families.asset_checks,
        jobs=[*families.jobs, build_everything],
        sensors=families.sensors,
        schedules=families.schedules,
        resources={
            "database": database_resource(),
            "source": source_resource(),
            "embedder": embedder_resource(),
            "extractor": extractor_resource(),
        },
    )


defs = _with_code_references(
    Definitions.merge(core.defs, profiles.defs, theses.defs, embeddings.defs, graph.defs, search.defs, ranking.defs)
)
