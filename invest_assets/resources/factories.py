"""The resources the environment configures, built once for Dagster and once for the CLIs.

``ALLOYDB_URL`` (unset: embedded PostgreSQL), ``INVEST_SOURCE`` (local files by default) and
``INVEST_EMBEDDER`` (local by default) choose them. For Dagster, settings are ``EnvVar``s, so
secrets stay out of the UI and the run config; a CLI outside Dagster takes ``resolved(...)``,
the same resource with those values read from the environment.
"""

from __future__ import annotations

from typing import TypeVar

from dagster import ConfigurableResource, EnvVar

from invest_assets import settings
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.extractors import ExtractorResource
from invest_assets.resources.local_source import LocalFileSource

Resource = TypeVar("Resource", bound=ConfigurableResource)


class ConfigurationError(ValueError):
    """A setting names something that does not exist; reported before any step runs."""


EMBEDDERS = ("local", "openai")
SOURCES = ("local", "bigquery")


def database_resource() -> AlloyDBResource:
    return AlloyDBResource(url=settings.ALLOYDB_URL.env_var())


def source_resource():
    kind = settings.SOURCE.raw()
    if kind == "local":
        return LocalFileSource(directory=settings.SOURCE_DIR.env_var())
    if kind == "bigquery":
        from invest_assets.resources.bigquery_source import bigquery_source_from_env

        return bigquery_source_from_env()
    raise ConfigurationError(f"INVEST_SOURCE={kind!r}: expected one of {', '.join(SOURCES)}")


def embedder_resource() -> EmbedderResource:
    provider = settings.EMBEDDER.raw()
    if provider == "openai":
        return EmbedderResource(
            provider="openai",
            model=settings.EMBEDDING_MODEL.value(),
            base_url=settings.OPENAI_BASE_URL.env_var(),
            api_key=EnvVar(settings.OPENAI_API_KEY.name),
        )
    if provider != "local":
        raise ConfigurationError(f"INVEST_EMBEDDER={provider!r}: expected one of {', '.join(EMBEDDERS)}")
    return EmbedderResource(provider=provider)


def extractor_resource() -> ExtractorResource:
    provider = settings.EXTRACTOR.value()
    if provider == "none":
        return ExtractorResource(provider="none", model=settings.EXTRACTION_MODEL.value())
    return ExtractorResource(
        provider=provider,
        model=settings.EXTRACTION_MODEL.value(),
        base_url=settings.OPENAI_BASE_URL.env_var(),
        api_key=EnvVar(settings.OPENAI_API_KEY.name),
    )


def resolved(resource: Resource) -> Resource:
    """``resource`` with its ``EnvVar`` settings read, for use outside a Dagster run."""
    return resource.process_config_and_initialize()
