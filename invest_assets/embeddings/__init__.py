"""The six per-dimension thesis embeddings of every investor."""

from dagster import Definitions

from invest_assets.embeddings.assets import embedding_assets
from invest_assets.embeddings.checks import embedding_checks
from invest_assets.embeddings.reembed import reembed_assets, reembed_jobs
from invest_assets.embeddings.sensors import stale_embeddings_sensor

defs = Definitions(assets=[*embedding_assets, *reembed_assets], asset_checks=embedding_checks,
                   jobs=reembed_jobs, sensors=[stale_embeddings_sensor])
