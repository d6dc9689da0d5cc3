"""Opening Redis clients for the relay: redis-py imported on first use, URLs without secrets."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DEFAULT_STREAM", "DEFAULT_URL", "Connection", "safe_url", "unreachable"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
"""Where a Relay publishes and ``eventweave consume`` reads when no URL is given."""

DEFAULT_STREAM = "eventweave"
"""The stream key of a Relay, a Consumer, a plan's ``[relay]`` and ``eventweave consume``."""

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


_HELP = (
    "a Redis URL looks like 'redis://[:password@]host:6379/0', 'rediss://...' (TLS), "
    "'unix:///path/redis.sock', or 'redis+cluster://host:6379' for a Redis Cluster"
)


class Connection:
    """The Redis client of a Relay or Consumer, opened on first use.

    The URL is checked at once; nothing connects until :meth:`get`, so a Relay
    or Consumer can be created while Redis is down. The client fails fast:
    no retries of its own and bounded socket waits, because the relay retries
    by itself, with its own backoff, and redis-py's retries would only delay
    the moment a failure is counted and reported. ``redis+cluster://`` and
    ``rediss+cluster://`` URLs open redis-py's cluster client, which routes
    each stream key to the shard that holds it.

    :param role: ``"Relay"`` or ``"Consumer"``, for error messages.
    :raises ValueError: for a URL redis-py cannot use, naming it (password masked).
    :raises ImportError: when redis-py is not installed, saying what to install.
    """

    def __init__(self, url: str, *, role: str) -> None:
        if not isinstance(url, str):
            msg = f"{role}(url=...): expected a Redis URL such as 'redis://host:6379/0'"
            raise TypeError(f"{msg}, got {url!r}")
        redis = _redis()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        scheme, sep, rest = url.partition("://")
        self.cluster = scheme in ("redis+cluster", "rediss+cluster")
        plain = f"{scheme.removesuffix('+cluster')}{sep}{rest}"
        options: dict[str, Any] = {
            "socket_timeout": SOCKET_TIMEOUT,
            "socket_connect_timeout": 2.0,
            "retry": Retry(NoBackoff(), 0),
        }
        try:
            client = redis.Redis.from_url(plain, **options)  # connects on first command
        except ValueError as exc:
            raise ValueError(f"{role}(url={safe_url(url)!r}): {exc}; {_HELP}") from None
        if self.cluster:
            from redis.cluster import RedisCluster

            self._open: Any = lambda: RedisCluster.from_url(plain, **options)
        else:
            self._open = lambda: client
        self._client: Any = None

    # Typed Any: redis-py annotates each reply as the union of every shape a
    # server could send, while each caller here knows the one it gets.
    def get(self) -> Any:
        """The client; a cluster client connects here, and may raise doing so."""
        if self._client is None:
            self._client = self._open()
        return self._client

    def close(self) -> None:
        """Close the client's connections (it reconnects if used again)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


def unreachable() -> tuple[type[Exception], ...]:
    """The exceptions that mean "Redis cannot be reached right now": retry later."""
    import redis
    from redis.exceptions import RedisClusterException

    return (redis.ConnectionError, redis.TimeoutError, RedisClusterException)
