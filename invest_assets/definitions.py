"""The code location: every asset family merged, plus the resources they share.

Resources are chosen by environment: ``ALLOYDB_URL`` (unset: embedded PostgreSQL),
``INVEST_SOURCE`` (local files by default), ``INVEST_EMBEDDER`` (local by default).
"""

from __future__ import annotations

import os
import warnings

from dagster import AssetSelection, BetaWarning, Definitions, EnvVar, define_asset_job, with_source_code_references

from invest_assets import core, embeddings, graph, search, settings
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.sources import LocalFileSource


def _env(name: str) -> EnvVar | None:
    """EnvVar keeps secrets out of the UI and run config; None when unset."""
    return EnvVar(name) if os.environ.get(name) else None


def database_resource() -> AlloyDBResource:
    return AlloyDBResource(url=_env(settings.ALLOYDB_URL_ENV))


def source_resource():
    kind = os.environ.get("INVEST_SOURCE", "local")
    if kind == "local":
        return LocalFileSource(directory=_env(settings.SOURCE_DIR_ENV))
    if kind == "bigquery":
        from invest_assets.resources.bigquery_source import bigquery_source_from_env

        return bigquery_source_from_env()
    raise ValueError(f"INVEST_SOURCE={kind!r}: expected 'local' or 'bigquery'")


def embedder_resource() -> EmbedderResource:
    provider = os.environ.get("INVEST_EMBEDDER", "local")
    if provider == "openai":
        return EmbedderResource(
            provider="openai",
            model=os.environ.get("INVEST_EMBEDDING_MODEL", "text-embedding-3-small"),
            base_url=_env("OPENAI_BASE_URL"),
            api_key=EnvVar("OPENAI_API_KEY"),
        )
    return EmbedderResource(provider=provider)


build_everything = define_asset_job(
    "build_everything",
    selection=AssetSelection.all() - AssetSelection.groups("reembedding"),
    description="Materialize every asset: core tables, embeddings and graph-derived assets "
    "(not the re-embed backfill, which runs by shard).",
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
        resources={"database": database_resource(), "source": source_resource(), "embedder": embedder_resource()},
    )


defs = _with_code_references(Definitions.merge(core.defs, embeddings.defs, graph.defs, search.defs))
