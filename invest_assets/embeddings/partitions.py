"""The re-embed backfill's partitions: fixed shards of the investors, so a failed shard is retried alone."""

from dagster import StaticPartitionsDefinition

SHARD_COUNT = 16
SHARDS = StaticPartitionsDefinition([f"{i:02d}" for i in range(SHARD_COUNT)])
