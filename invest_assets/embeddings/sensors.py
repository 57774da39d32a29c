"""The sensor that re-embeds only the dimensions whose source text changed.

A dimension here is one embedding target: an investor dimension or the company
description. Each tick runs one set-based statement (``stale_counts``: stale live rows
per target, read from each target's index of stale rows) and asks for one run per table,
selecting only the assets of its stale dimensions (the ``invest/dimension`` tag lists
them, ``invest/stale_rows`` their counts in the same order); each asset embeds only the
stale rows. A dimension that an active run already targets is skipped, and a failed run
leaves its rows stale, so the next tick asks again.

Why a sensor and not declarative automation: which dimension needs work is a fact of
the data (text hashes against embedded hashes, and each dimension's serving model), not
of Dagster's materialization events.
An ``AutomationCondition`` on the embedding assets would see only that ``investors``
was materialized and run all six.
"""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetSelection,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from invest_assets.embeddings.staleness import stale_counts
from invest_assets.in_flight import SENSOR_DEFAULTS, assets_in_flight
from invest_assets.resources.database import AlloyDBResource
from invest_assets.vectors.models import serving_model_ids
from invest_assets.vectors.targets import TARGETS

DIMENSION_TAG = "invest/dimension"
STALE_ROWS_TAG = "invest/stale_rows"
EMBEDDING_KEYS = {key: AssetKey(t.asset_name) for key, t in TARGETS.items()}


def embedding_requests(counts: dict[str, int], busy: set[AssetKey]) -> tuple[list[RunRequest], list[str]]:
    """One run request per table for its stale, idle dimensions, and a line per stale dimension saying what
    happened. One run, because one step embeds a table's dimensions together: a bulk rewrite of several
    (a new profile template) then builds the table's ANN index once, not once per dimension."""
    stale_by_table: dict[str, dict[str, int]] = {}
    lines = []
    for dimension, stale in counts.items():
        if not stale:
            continue
        if EMBEDDING_KEYS[dimension] in busy:
            lines.append(f"{dimension}: {stale} stale rows, a run for it is already queued or in progress")
            continue
        lines.append(f"{dimension}: {stale} stale rows")
        stale_by_table.setdefault(TARGETS[dimension].table, {})[dimension] = stale
    requests = [
        RunRequest(
            asset_selection=[EMBEDDING_KEYS[dimension] for dimension in stale],
            tags={DIMENSION_TAG: ",".join(stale), STALE_ROWS_TAG: ",".join(str(n) for n in stale.values())},
        )
        for stale in stale_by_table.values()
    ]
    return requests, lines


@sensor(
    name="stale_embeddings_sensor",
    target=AssetSelection.assets(*EMBEDDING_KEYS.values()),
    **SENSOR_DEFAULTS,
    description="Re-embeds only the dimensions whose investor text (or company description) changed, or whose "
    "model changed: one run for the stale investor dimensions, one for the company descriptions, never two for the "
    "same dimension at once.",
)
def stale_embeddings_sensor(context: SensorEvaluationContext, database: AlloyDBResource) -> SensorResult | SkipReason:
    with database.connection() as conn:
        counts = stale_counts(conn, serving_model_ids(conn))
    busy = assets_in_flight(context.instance, set(EMBEDDING_KEYS.values())) if any(counts.values()) else set()
    requests, lines = embedding_requests(counts, busy)
    for line in lines:
        context.log.info(line)
    if not requests:
        return SkipReason("; ".join(lines) or "no stale rows")
    return SensorResult(run_requests=requests)
