"""The relay over a Redis Cluster (``redis+cluster://``): a stream per event family, per shard."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from relay_fixtures import Shop, order_paid, order_refunded

from eventweave.relay import Consumer, Relay
from eventweave.relay._server import RedisServer, free_cluster_port

SLOTS = 16384


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[RedisServer]]:
    """Three primaries on loopback, each holding a third of the slots."""
    nodes = [
        RedisServer(
            free_cluster_port(),
            options=["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"],
        )
        for _ in range(3)
    ]
    try:
        for node in nodes:
            node.start()
        clients = [redis.Redis(port=node.port) for node in nodes]
        bounds = [0, SLOTS // 3, 2 * SLOTS // 3, SLOTS]
        for index, client in enumerate(clients):
            client.execute_command("CLUSTER ADDSLOTS", *range(bounds[index], bounds[index + 1]))
        for node in nodes[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        deadline = time.monotonic() + 30
        while not all(
            client.execute_command("CLUSTER INFO")["cluster_state"] == "ok"
            and len(client.execute_command("CLUSTER NODES")) == 3
            for client in clients
        ):
            assert time.monotonic() < deadline, "the cluster did not form in time"
            time.sleep(0.05)
        for client in clients:
            client.close()
        yield nodes
    finally:
        for node in nodes:
            node.close()


def _owner(nodes: list[RedisServer], key: str) -> RedisServer:
    with redis.Redis(port=nodes[0].port) as client:
        slot = int(client.execute_command("CLUSTER KEYSLOT", key))
    return nodes[slot * 3 // SLOTS]


def _families(nodes: list[RedisServer]) -> tuple[str, str]:
    """Two stream names of the docs' kind ("{family}") that live on different shards."""
    names = [f"{{{name}}}" for name in ("portal", "vidispine", "rest", "audit", "billing")]
    first = names[0]
    second = next(name for name in names[1:] if _owner(nodes, name) is not _owner(nodes, first))
    return first, second


def test_each_family_stream_lives_on_its_own_shard_and_is_consumed(
    cluster: list[RedisServer],
) -> None:
    url = f"redis+cluster://127.0.0.1:{cluster[0].port}"
    portal, vidispine = _families(cluster)
    with Relay(url, stream=portal) as one, Relay(url, stream=vidispine) as two:
        one.forward(order_paid)
        two.forward(order_refunded)
        for n in range(300):
            order_paid.send(Shop, n=n)
            order_refunded.send(Shop, n=n)
    for stream in (portal, vidispine):
        with redis.Redis(port=_owner(cluster, stream).port) as shard:
            assert shard.xlen(stream) == 300

    got: dict[str, list[int]] = {portal: [], vidispine: []}
    for stream in (portal, vidispine):
        with Consumer(url, stream=stream, group="audit") as consumer:
            consumer.connect(lambda stream=stream, **event: got[stream].append(event["n"]))
            while consumer.run_once(block_ms=0):
                pass
    assert got == {portal: list(range(300)), vidispine: list(range(300))}


def test_dead_letters_stay_on_the_shard_of_their_stream(cluster: list[RedisServer]) -> None:
    url = f"redis+cluster://127.0.0.1:{cluster[0].port}"
    stream = "{dead-letters}"
    with Relay(url, stream=stream) as relay:
        relay.forward(order_paid)
        order_paid.send(Shop, n=1)

    def broken(**event: Any) -> None:
        raise RuntimeError("always")

    with Consumer(url, stream=stream, group="audit", max_deliveries=1) as consumer:
        consumer.connect(broken)
        consumer.run_once(block_ms=0)
        assert consumer.stats()["dead"] == 1
    with redis.Redis(port=_owner(cluster, stream).port) as shard:
        assert shard.xlen(f"{stream}:dead") == 1


def test_a_cluster_relay_is_created_while_the_cluster_is_unreachable() -> None:
    server = RedisServer()  # never started: nothing listens there
    relay = Relay(f"redis+cluster://127.0.0.1:{server.port}").forward(order_paid)
    order_paid.send(Shop, n=1)
    deadline = time.monotonic() + 10
    while not relay.stats()["errors"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert relay.stats()["buffered"] == 1
    relay.close(timeout=0)
    server.close()
