"""Fixtures for the relay: a real Redis server on loopback, started once per session.

Each test gets the server emptied (``FLUSHALL``). Tests that kill or restart
Redis start their own server with :func:`own_redis`, so they never disturb the
shared one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import relay_fixtures

from eventweave.relay._server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    connection = redis.Redis.from_url(redis_url, socket_timeout=10)
    yield connection
    connection.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of the test's own, to kill and restart at will."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _no_receiver_left_behind() -> Iterator[None]:
    yield
    assert not relay_fixtures.order_paid.receivers
    assert not relay_fixtures.order_refunded.receivers
