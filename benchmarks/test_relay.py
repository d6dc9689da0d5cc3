"""Benchmarks of the relay against hand-written redis-py code, on a real Redis server.

Three figures, each printed by ``make bench`` as a ratio to its baseline from
the same run (the table comes from a reporter this module registers):

- the emitting call: a woven method whose post signal is forwarded, against
  the same woven method with nobody listening — at most 3 µs more per call;
- publishing 50,000 events, from the emitting calls until Redis has them all,
  against a hand-written pipeline of ``XADD`` in batches of 500 writing
  entries built beforehand — at most 2x;
- a consumer with a no-op receiver, against a hand-written ``XREADGROUP`` /
  ``XACK`` loop — at least 20,000 events/s.

With ``--benchmark-disable`` (``make test``) each runs once, on fewer events.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import eventweave
from eventweave import Emit, Signal
from eventweave.relay import Consumer, Relay
from eventweave.relay._server import RedisServer, free_port

REPEAT = 10  # woven calls per round, unrolled, as in test_cost.py
EMIT_ROUNDS = 2000  # 20,000 events per run: the buffer (100,000) never fills
PUBLISH_EVENTS = 50_000
CONSUME_EVENTS = 20_000
SMALL = 1_000  # events per run when timing is disabled

# module-level, so the relay can name it: "test_relay:paid"
paid = Signal()


class Invoice:
    def pay(self, amount: int, currency: str = "EUR") -> int:
        return amount * 3


def _noop(**event: Any) -> None:
    return None


def _unrolled(call: Any) -> Any:
    body = "\n".join(["    call()"] * REPEAT)
    namespace: dict[str, Any] = {"call": call}
    exec(f"def run():\n{body}\n", namespace)
    return namespace["run"]


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


@pytest.fixture
def client(server: RedisServer) -> Iterator[Any]:
    connection = redis.Redis.from_url(server.url)
    connection.flushall()
    yield connection
    connection.close()


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    eventweave.unweave_all()


def _events(benchmark: Any, full: int) -> int:
    return SMALL if benchmark.disabled else full


# -- the emitting call --------------------------------------------------------


def _woven_invoice() -> Invoice:
    cls = type("Invoice", (Invoice,), {"pay": Invoice.__dict__["pay"]})
    eventweave.weave((cls, "pay"), Emit(post=paid))
    return cls()


def test_relay_emit_nobody_listening(benchmark: Any) -> None:
    invoice = _woven_invoice()
    benchmark.pedantic(_unrolled(lambda: invoice.pay(2)), rounds=EMIT_ROUNDS, warmup_rounds=20)


def test_relay_emit_noop_receiver(benchmark: Any) -> None:
    invoice = _woven_invoice()

    def receiver(**named: Any) -> None:
        return None

    with paid.connected_to(receiver):
        benchmark.pedantic(_unrolled(lambda: invoice.pay(2)), rounds=EMIT_ROUNDS, warmup_rounds=20)


def test_relay_emit_forwarded(benchmark: Any, server: RedisServer, client: Any) -> None:
    invoice = _woven_invoice()
    with Relay(server.url) as relay:
        relay.forward(paid)
        benchmark.pedantic(_unrolled(lambda: invoice.pay(2)), rounds=EMIT_ROUNDS, warmup_rounds=20)
        assert relay.flush(timeout=60)
        assert relay.stats()["dropped"] == 0  # every call took the path measured
    assert client.xlen("eventweave") > 0


def test_relay_emit_forwarded_redis_down(benchmark: Any) -> None:
    invoice = _woven_invoice()
    with Relay(f"redis://127.0.0.1:{free_port()}/0") as relay:
        relay.forward(paid)
        benchmark.pedantic(_unrolled(lambda: invoice.pay(2)), rounds=EMIT_ROUNDS, warmup_rounds=20)
        assert relay.stats()["dropped"] == 0
        relay.close(timeout=0)


# -- publishing ---------------------------------------------------------------


def _payload(n: int) -> dict[str, Any]:
    return {"instance": f"VX-{n}", "method": "setItemMetadata", "amount": n, "currency": "EUR"}


def test_relay_publish(benchmark: Any, server: RedisServer, client: Any) -> None:
    count = _events(benchmark, PUBLISH_EVENTS)
    payloads = [_payload(n) for n in range(count)]
    relay = Relay(server.url).forward(paid)
    send = paid.send

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        client.delete("eventweave")
        return (), {}

    def publish() -> None:
        for payload in payloads:
            send(Invoice, **payload)
        assert relay.flush(timeout=120)

    benchmark.pedantic(publish, setup=setup, rounds=5)
    relay.close()
    assert relay.stats()["dropped"] == 0
    assert client.xlen("eventweave") == count


def test_hand_written_xadd_pipeline(benchmark: Any, server: RedisServer, client: Any) -> None:
    count = _events(benchmark, PUBLISH_EVENTS)
    host, pid = socket.gethostname(), str(os.getpid())
    entries = [
        {
            "id": uuid.uuid4().hex,
            "signal": "test_relay:paid",
            "sender": "test_relay:Invoice",
            "time": "2024-01-01T00:00:00.000000+00:00",
            "host": host,
            "pid": pid,
            "payload": json.dumps(_payload(n)),
        }
        for n in range(count)
    ]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        client.delete("eventweave")
        return (), {}

    def publish() -> None:
        pipe = client.pipeline()
        for start in range(0, count, 500):
            for fields in entries[start : start + 500]:
                pipe.xadd("eventweave", fields, maxlen=1_000_000, approximate=True)
            pipe.execute()

    benchmark.pedantic(publish, setup=setup, rounds=5)
    assert client.xlen("eventweave") == count


# -- consuming ----------------------------------------------------------------


def _fill(url: str, count: int) -> None:
    with Relay(url, buffer=count + 1) as relay:
        relay.forward(paid)
        for n in range(count):
            paid.send(Invoice, **_payload(n))


def test_relay_consume(benchmark: Any, server: RedisServer, client: Any) -> None:
    count = _events(benchmark, CONSUME_EVENTS)
    _fill(server.url, count)
    groups = iter(range(1_000))

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        consumer = Consumer(server.url, group=f"bench-{next(groups)}")
        consumer.connect(_noop)
        return (consumer,), {}

    def consume(consumer: Consumer) -> None:
        handled = 0
        while handled < count:
            handled += consumer.run_once(block_ms=0)
        consumer.close()

    benchmark.pedantic(consume, setup=setup, rounds=5)


def test_hand_written_xreadgroup_loop(benchmark: Any, server: RedisServer, client: Any) -> None:
    count = _events(benchmark, CONSUME_EVENTS)
    _fill(server.url, count)
    groups = iter(range(1_000))

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        group = f"bench-{next(groups)}"
        client.xgroup_create("eventweave", group, id="0")
        return (group,), {}

    def consume(group: str) -> None:
        handled = 0
        while handled < count:
            [[_, rows]] = client.xreadgroup(group, "me", {"eventweave": ">"}, count=200)
            for _, fields in rows:
                _noop(
                    signal=fields[b"signal"].decode(),
                    sender=fields[b"sender"].decode(),
                    event_id=fields[b"id"].decode(),
                    **json.loads(fields[b"payload"]),
                )
            client.xack("eventweave", group, *[entry_id for entry_id, _ in rows])
            handled += len(rows)

    benchmark.pedantic(consume, setup=setup, rounds=5)


# -- the report ---------------------------------------------------------------


def _per_call(stats: Any, baseline: Any) -> str:
    return (
        f"+{(stats.min - baseline.min) / REPEAT * 1e6:.2f} / "
        f"+{(stats.median - baseline.median) / REPEAT * 1e6:.2f} µs"
    )


def _ratio(stats: Any, baseline: Any) -> str:
    return f"{stats.min / baseline.min:.2f} / {stats.median / baseline.median:.2f}x"


class _RelayReport:
    """Prints the relay's figures after the run (``make bench``): min / median of one run."""

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        session = getattr(config, "_benchmarksession", None)
        done = {
            bench.name.removeprefix("test_"): bench.stats
            for bench in getattr(session, "benchmarks", None) or []
            if bench.stats
        }
        if not done:
            return
        write = terminalreporter.write_line
        terminalreporter.section("eventweave relay (figures from one run: min / median)")
        idle = done.get("relay_emit_nobody_listening")
        noop = done.get("relay_emit_noop_receiver")
        if idle:
            for name, label in (
                ("relay_emit_forwarded", "emitting call, forwarded (publisher live)"),
                ("relay_emit_forwarded_redis_down", "emitting call, forwarded (Redis down)"),
                ("relay_emit_noop_receiver", "emitting call, one no-op receiver"),
            ):
                if name in done:
                    extra = (done[name].median - idle.median) / REPEAT * 1e6
                    verdict = "" if "noop" in name else f"  limit +3 µs: {_ok(extra <= 3)}"
                    write(f"{label:44} vs nobody listening {_per_call(done[name], idle)}{verdict}")
            if noop and "relay_emit_forwarded" in done:
                share = _per_call(done["relay_emit_forwarded"], noop)
                write(f"{'  of which the relay (vs a no-op receiver)':44} {share}")
        ours, hand = done.get("relay_publish"), done.get("hand_written_xadd_pipeline")
        if ours and hand:
            write(
                f"{f'publishing {PUBLISH_EVENTS:,} events':44} vs hand-written XADD pipeline "
                f"{_ratio(ours, hand)}  limit 2x: {_ok(ours.median <= 2 * hand.median)}"
            )
        ours, hand = done.get("relay_consume"), done.get("hand_written_xreadgroup_loop")
        if ours and hand:
            rate, hand_rate = CONSUME_EVENTS / ours.median, CONSUME_EVENTS / hand.median
            write(
                f"{'consumer, no-op receiver':44} {CONSUME_EVENTS / ours.min:,.0f} / {rate:,.0f} "
                f"events/s  limit 20,000/s: {_ok(rate >= 20_000)}"
            )
            write(
                f"{'':44} vs hand-written XREADGROUP/XACK loop ({hand_rate:,.0f}/s): "
                f"time {_ratio(ours, hand)}"
            )


def _ok(passed: bool) -> str:
    return "ok" if passed else "NOT MET"


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> None:
    manager = request.config.pluginmanager
    if not manager.has_plugin("eventweave-relay-report"):
        manager.register(_RelayReport(), "eventweave-relay-report")
