"""One re-embed job per investor dimension: `dagster job backfill -j reembed_<dim> --all`, one run per shard."""

from dagster import define_asset_job

from invest_assets.embeddings.partitions import SHARDS
from invest_assets.vectors.targets import INVESTOR_TARGETS

reembed_jobs = [
    define_asset_job(
        t.reembed_job_name,
        selection=[t.reembedding_asset_name],
        partitions_def=SHARDS,
        description=f"Re-embed {t.key} with the configured model, one run per shard.",
    )
    for t in INVESTOR_TARGETS.values()
]
