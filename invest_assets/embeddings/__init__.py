"""The six per-dimension thesis embeddings of every investor, and the company description's."""

from dagster import Definitions

from invest_assets.embeddings.assets import company_description_embedding, embedding_assets, reembed_assets
from invest_assets.embeddings.checks import company_description_check, embedding_checks
from invest_assets.embeddings.jobs import reembed_jobs
from invest_assets.embeddings.sensors import stale_embeddings_sensor

defs = Definitions(
    assets=[*embedding_assets, company_description_embedding, *reembed_assets],
    asset_checks=[*embedding_checks, company_description_check],
    jobs=reembed_jobs,
    sensors=[stale_embeddings_sensor],
)
