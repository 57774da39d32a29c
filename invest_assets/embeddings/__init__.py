"""The six per-dimension thesis embeddings of every investor."""

from dagster import Definitions

from invest_assets.embeddings.assets import embedding_assets
from invest_assets.embeddings.checks import embedding_checks

defs = Definitions(assets=embedding_assets, asset_checks=embedding_checks)
