"""Retry policies shared by the assets."""

import warnings

from dagster import AutomationCondition, BackfillPolicy, Backoff, BetaWarning, Jitter, RetryPolicy

# Database hiccups (a restart, a dropped connection) are retried with backoff; each
# load is one transaction, so a retry starts from a clean state.
DATABASE_RETRY = RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

# Every asset runs once per backfill, whatever months it covers: the monthly assets load
# a whole range in one transaction, and the unmonthly ones have nothing to split. This is
# also what `dagster asset materialize --partition-range` requires of every selected asset.
SINGLE_RUN = BackfillPolicy.single_run()
# Dagster marks the parameter beta; we depend on it on purpose, so one warning per
# asset on every code load is noise for the CLI and the UI's logs.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)

# Refresh when (and only when) a table it reads was materialized, for any month, once
# nothing it reads is still being written. Not `eager()`: that also waits until no
# upstream partition is missing, and months with no rounds are never materialized.
# Not a cron: a refresh nobody needs costs a full pass over investments.
REFRESH_AFTER_INPUTS_CHANGE = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("after its inputs change")
