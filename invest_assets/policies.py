"""Retry policies shared by the assets."""

from dagster import Backoff, Jitter, RetryPolicy

# Database hiccups (a restart, a dropped connection) are retried with backoff; each
# load is one transaction, so a retry starts from a clean state.
DATABASE_RETRY = RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
