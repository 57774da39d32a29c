"""The one way this package makes an ``openai`` client (embedders and the thesis extractor share it)."""

from __future__ import annotations


def openai_client(api_key: str | None, base_url: str | None, max_retries: int, timeout_seconds: float):
    """The official client, retrying 429, 5xx and timeouts with backoff (honouring Retry-After)."""
    from openai import OpenAI

    return OpenAI(api_key=api_key or "missing-key", base_url=base_url, max_retries=max_retries, timeout=timeout_seconds)


def without_secret(message: str, secret: str | None) -> str:
    """``message`` with ``secret`` masked, for errors that quote a request."""
    return message.replace(secret, "***") if secret else message
