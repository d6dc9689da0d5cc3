"""Opening Redis clients for the relay: redis-py imported on first use, URLs without secrets."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["client_for", "safe_url"]

SOCKET_TIMEOUT = 5.0
"""Seconds a command may wait for Redis before it counts as a failure."""


def safe_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for logs and error messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{user}:***@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<unparsable URL>"


def _redis() -> Any:
    try:
        import redis
    except ImportError:
        msg = (
            "eventweave.relay needs redis-py, which is not installed: "
            "pip install 'redis>=5' (the [relay] extra)"
        )
        raise ImportError(msg) from None
    return redis


# Typed Any: redis-py annotates each reply as the union of every shape a
# server could send, while each caller here knows the one it gets.
def client_for(url: str, *, role: str) -> Any:
    """A client for ``url`` that fails fast: no retries of its own, bounded socket waits.

    The relay retries by itself, with its own backoff, so redis-py's
    retries would only delay the moment a failure is counted and reported.
    Nothing connects here: a Relay or Consumer can be created while Redis is down.

    :param role: ``"Relay"`` or ``"Consumer"``, for the error message.
    :raises ValueError: for a URL redis-py cannot use, naming it (password masked).
    """
    if not isinstance(url, str):
        msg = f"{role}(url=...): expected a Redis URL such as 'redis://host:6379/0', got {url!r}"
        raise TypeError(msg)
    redis = _redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        msg = (
            f"{role}(url={safe_url(url)!r}): {exc}; a Redis URL looks like "
            "'redis://[:password@]host:6379/0', 'rediss://...' (TLS) or 'unix:///path/redis.sock'"
        )
        raise ValueError(msg) from None
