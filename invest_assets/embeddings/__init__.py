"""The six per-dimension thesis embeddings of every investor."""

from dagster import Definitions

from invest_assets.embeddings.assets import embedding_assets
from invest_assets.embeddings.checks import embedding_checks
from invest_assets.embeddings.sensors import stale_embeddings_sensor

defs = Definitions(assets=embedding_assets, asset_checks=embedding_checks, sensors=[stale_embeddings_sensor])
