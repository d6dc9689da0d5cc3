"""Tests for ``eventweave.relay._consume``: the Consumer, against a real Redis server."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from relay_fixtures import Shop, order_paid, order_refunded

from eventweave.relay import Consumer, Relay
from eventweave.relay._server import RedisServer

PAID = "relay_fixtures:order_paid"


def publish(url: str, *events: tuple[Any, dict[str, Any]], stream: str = "eventweave") -> None:
    """Send each (signal, named) through a Relay and wait until Redis has them all."""
    with Relay(url, stream=stream) as relay:
        relay.forward(order_paid, order_refunded)
        for signal, named in events:
            signal.send(Shop, **named)


class Recorder:
    """A receiver remembering each call's keyword arguments."""

    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_times = fail_times

    def __call__(self, **event: Any) -> None:
        self.calls.append(event)
        if len(self.calls) <= self.fail_times:
            raise RuntimeError(f"flaky receiver, call {len(self.calls)}")


def run_until(consumer: Consumer, done: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not met in time"
        consumer.run_once(block_ms=20)


def dead_letters(client: Any, stream: str = "eventweave:dead") -> list[dict[str, str]]:
    return [
        {key.decode(): value.decode() for key, value in fields.items()}
        for _, fields in client.xrange(stream)
    ]


def pending(client: Any, group: str) -> int:
    return int(client.xpending("eventweave", group)["pending"])


# -- delivering ---------------------------------------------------------------


def test_receivers_get_signal_sender_event_id_and_the_payload(redis_url: str, client: Any) -> None:
    publish(redis_url, (order_paid, {"amount": 3, "password": "x"}))
    [(_, fields)] = client.xrange("eventweave")
    receiver = Recorder()
    with Consumer(redis_url, group="audit") as consumer:
        consumer.connect(receiver)
        assert consumer.run_once(block_ms=0) == 1
    assert receiver.calls == [
        {
            "signal": PAID,
            "sender": "relay_fixtures:Shop",
            "event_id": fields[b"id"].decode(),
            "amount": 3,
            "password": "********",
        }
    ]


def test_an_event_is_acknowledged_once_its_receivers_returned(redis_url: str, client: Any) -> None:
    publish(redis_url, (order_paid, {"n": 1}), (order_paid, {"n": 2}))
    with Consumer(redis_url, group="audit") as consumer:
        consumer.connect(Recorder())
        consumer.run_once(block_ms=0)
    assert pending(client, "audit") == 0


def test_a_receiver_connected_to_a_signal_gets_only_its_events(redis_url: str) -> None:
    publish(redis_url, (order_paid, {"n": 1}), (order_refunded, {"n": 2}))
    paid, refunded, everything = Recorder(), Recorder(), Recorder()
    with Consumer(redis_url, group="audit") as consumer:
        consumer.connect(paid, signal=PAID)
        consumer.connect(refunded, signal=order_refunded)  # the object, named by its path
        consumer.connect(everything)
        assert consumer.run_once(block_ms=0) == 2
    assert [call["n"] for call in paid.calls] == [1]
    assert [call["n"] for call in refunded.calls] == [2]
    assert [call["n"] for call in everything.calls] == [1, 2]


def test_a_receiver_connected_for_a_sender_gets_only_its_events(redis_url: str) -> None:
    with Relay(redis_url) as relay:
        relay.forward(order_paid)
        order_paid.send(Shop, n=1)
        order_paid.send("elsewhere", n=2)
    by_class, by_path = Recorder(), Recorder()
    with Consumer(redis_url, group="audit") as consumer:
        consumer.connect(by_class, signal=PAID, sender=Shop)
        consumer.connect(by_path, sender="elsewhere")
        consumer.run_once(block_ms=0)
    assert [call["n"] for call in by_class.calls] == [1]
    assert [call["n"] for call in by_path.calls] == [2]


def test_an_event_nobody_wants_is_acknowledged(redis_url: str, client: Any) -> None:
    publish(redis_url, (order_refunded, {"n": 1}))
    with Consumer(redis_url, group="audit") as consumer:
        consumer.connect(Recorder(), signal=PAID)
        assert consumer.run_once(block_ms=0) == 1
    assert pending(client, "audit") == 0


def test_an_async_receiver_is_run_to_completion(redis_url: str) -> None:
    done: list[int] = []

    async def receiver(**event: Any) -> None:
        await asyncio.sleep(0)
        done.append(event["n"])

    publish(redis_url, (order_paid, {"n": 1}))
    with Consumer(redis_url, group="audit") as consumer:
        consumer.connect(receiver)
        consumer.run_once(block_ms=0)
    assert done == [1]


def test_the_group_starts_at_the_beginning_of_the_stream(redis_url: str) -> None:
    publish(redis_url, (order_paid, {"n": 1}))  # before the group exists
    receiver = Recorder()
    with Consumer(redis_url, group="late") as consumer:
        consumer.connect(receiver)
        consumer.run_once(block_ms=0)
    assert [call["n"] for call in receiver.calls] == [1]


# -- groups -------------------------------------------------------------------


def test_every_group_sees_every_event(redis_url: str) -> None:
    publish(redis_url, *[(order_paid, {"n": n}) for n in range(50)])
    audit, search = Recorder(), Recorder()
    with Consumer(redis_url, group="audit") as one, Consumer(redis_url, group="search") as two:
        one.connect(audit)
        two.connect(search)
        run_until(one, lambda: len(audit.calls) == 50)
        run_until(two, lambda: len(search.calls) == 50)
    assert [c["n"] for c in audit.calls] == [c["n"] for c in search.calls] == list(range(50))


def test_consumers_of_one_group_share_the_events_without_overlap(redis_url: str) -> None:
    publish(redis_url, *[(order_paid, {"n": n}) for n in range(1000)])
    first, second = Recorder(), Recorder()
    one = Consumer(redis_url, group="workers", name="one")
    two = Consumer(redis_url, group="workers", name="two")
    one.connect(first)
    two.connect(second)
    while one.run_once(block_ms=0) + two.run_once(block_ms=0):
        pass
    one.close()
    two.close()
    got_first = {call["n"] for call in first.calls}
    got_second = {call["n"] for call in second.calls}
    assert got_first and got_second
    assert not got_first & got_second
    assert got_first | got_second == set(range(1000))


# -- failures -----------------------------------------------------------------


def test_a_failed_event_is_delivered_again_with_the_same_id(
    redis_url: str, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    publish(redis_url, (order_paid, {"n": 1}))
    flaky, steady = Recorder(fail_times=1), Recorder()
    with Consumer(redis_url, group="audit", idle_ms=50) as consumer:
        consumer.connect(flaky)
        consumer.connect(steady)
        with caplog.at_level(logging.ERROR, logger="eventweave"):
            assert consumer.run_once(block_ms=0) == 0
        assert pending(client, "audit") == 1
        assert "Recorder failed on event" in caplog.text
        assert "delivered again after 50 ms" in caplog.text
        run_until(consumer, lambda: pending(client, "audit") == 0)
        assert consumer.stats()["failed"] == 1
    assert len(flaky.calls) == len(steady.calls) == 2  # every receiver, each delivery
    assert flaky.calls[0]["event_id"] == flaky.calls[1]["event_id"]


def test_an_event_failing_max_deliveries_times_goes_to_the_dead_letter_stream(
    redis_url: str, client: Any
) -> None:
    publish(redis_url, (order_paid, {"n": 1}))
    [(entry_id, fields)] = client.xrange("eventweave")
    broken = Recorder(fail_times=100)
    with Consumer(redis_url, group="audit", idle_ms=20, max_deliveries=3) as consumer:
        consumer.connect(broken)
        run_until(consumer, lambda: bool(client.xlen("eventweave:dead")))
        for _ in range(5):  # nothing more is delivered
            consumer.run_once(block_ms=20)
        assert consumer.stats()["dead"] == 1
    assert len(broken.calls) == 3
    assert pending(client, "audit") == 0
    [letter] = dead_letters(client)
    assert {key: letter[key] for key in ("id", "signal", "payload")} == {
        key: fields[key.encode()].decode() for key in ("id", "signal", "payload")
    }
    assert letter["dead_entry"] == entry_id.decode()
    assert letter["dead_group"] == "audit"
    assert letter["dead_deliveries"] == "3"
    assert "Recorder raised RuntimeError: flaky receiver, call 3" in letter["dead_reason"]


def test_malformed_entries_are_dead_lettered_and_the_rest_delivered(
    redis_url: str, client: Any
) -> None:
    client.xadd("eventweave", {"hello": "world"})
    client.xadd("eventweave", {"id": "x", "signal": PAID, "payload": "not json"})
    publish(redis_url, (order_paid, {"n": 1}))
    receiver = Recorder()
    with Consumer(redis_url, group="audit") as consumer:
        consumer.connect(receiver)
        assert consumer.run_once(block_ms=0) == 1
        assert consumer.stats()["dead"] == 2
    assert [call["n"] for call in receiver.calls] == [1]
    reasons = [letter["dead_reason"] for letter in dead_letters(client)]
    assert reasons[0].startswith("malformed entry: the entry lacks the field(s) id, signal")
    assert reasons[1].startswith("malformed entry: the payload is not JSON")
    assert dead_letters(client)[0]["hello"] == "world"
    assert pending(client, "audit") == 0


def test_events_a_dead_consumer_held_go_to_another_consumer(redis_url: str, client: Any) -> None:
    publish(redis_url, (order_paid, {"n": 1}))
    crashed = Consumer(redis_url, group="workers", name="crashed", idle_ms=50)
    crashed._ensure_group()
    assert len(crashed.read(0)) == 1  # read, then "crashes" before acknowledging
    crashed.close()
    receiver = Recorder()
    with Consumer(redis_url, group="workers", name="alive", idle_ms=50) as alive:
        alive.connect(receiver)
        run_until(alive, lambda: bool(receiver.calls))
        assert alive.stats()["reclaimed"] == 1
    assert [call["n"] for call in receiver.calls] == [1]
    assert pending(client, "workers") == 0


def test_an_event_whose_consumer_died_on_its_last_delivery_is_dead_lettered(
    redis_url: str, client: Any
) -> None:
    publish(redis_url, (order_paid, {"n": 1}))
    crashed = Consumer(redis_url, group="workers", name="crashed", idle_ms=20, max_deliveries=2)
    crashed._ensure_group()
    crashed.read(0)  # delivery 1, then a crash
    time.sleep(0.05)
    assert len(crashed.reclaim()[0]) == 1  # delivery 2, and a crash again
    crashed.close()
    receiver = Recorder()
    with Consumer(redis_url, group="workers", idle_ms=20, max_deliveries=2) as alive:
        alive.connect(receiver)
        run_until(alive, lambda: bool(client.xlen("eventweave:dead")))
    assert receiver.calls == []
    assert "delivered 2 times without being acknowledged" in dead_letters(client)[0]["dead_reason"]
    assert pending(client, "workers") == 0


def test_a_pending_event_trimmed_from_the_stream_is_acknowledged(
    redis_url: str, client: Any
) -> None:
    publish(redis_url, (order_paid, {"n": 1}))
    crashed = Consumer(redis_url, group="workers", name="crashed", idle_ms=20)
    crashed._ensure_group()
    [(entry_id, _, _)] = crashed.read(0)
    crashed.close()
    client.xdel("eventweave", entry_id)
    receiver = Recorder()
    with Consumer(redis_url, group="workers", idle_ms=20) as alive:
        alive.connect(receiver)
        run_until(alive, lambda: pending(client, "workers") == 0)
    assert receiver.calls == []


# -- running ------------------------------------------------------------------


def test_run_returns_soon_after_stop_is_set(redis_url: str) -> None:
    stop = threading.Event()
    with Consumer(redis_url, group="audit") as consumer:
        runner = threading.Thread(target=consumer.run, args=(stop,))
        runner.start()
        time.sleep(0.1)
        stop.set()
        runner.join(timeout=5)
        assert not runner.is_alive()


def test_run_delivers_across_a_redis_restart(own_redis: RedisServer) -> None:
    receiver = Recorder()
    stop = threading.Event()
    consumer = Consumer(own_redis.url, group="audit")
    consumer.connect(receiver)
    runner = threading.Thread(target=consumer.run, args=(stop,))
    runner.start()
    try:
        publish(own_redis.url, (order_paid, {"n": 1}))
        deadline = time.monotonic() + 10
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        own_redis.kill()
        time.sleep(0.2)
        own_redis.start()  # empty: the stream and the group are gone
        publish(own_redis.url, (order_paid, {"n": 2}))
        deadline = time.monotonic() + 15
        while len(receiver.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        runner.join(timeout=10)
        consumer.close()
    assert [call["n"] for call in receiver.calls] == [1, 2]


def test_run_goes_on_when_the_stream_is_deleted(redis_url: str, client: Any) -> None:
    # The receiver deletes the stream (and so the group) while the event is
    # handled: the next round reclaims (due every 10 ms with idle_ms=20) from
    # a group that is gone, then reads from it; both recreate the group.
    calls: list[int] = []
    stop = threading.Event()
    consumer = Consumer(redis_url, group="audit", idle_ms=20)

    def delete_on_first(**event: Any) -> None:
        calls.append(event["n"])
        if event["n"] == 1:
            client.delete("eventweave")
            time.sleep(0.02)  # a reclaim is due by the next round

    consumer.connect(delete_on_first)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run(stop)
        except BaseException as exc:
            failures.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    try:
        publish(redis_url, (order_paid, {"n": 1}))
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert runner.is_alive(), failures
        publish(redis_url, (order_paid, {"n": 2}))
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        runner.join(timeout=10)
        consumer.close()
    assert not failures
    assert calls == [1, 2]


# -- errors -------------------------------------------------------------------


def test_a_receiver_without_kwargs_is_refused_by_name(redis_url: str) -> None:
    from relay_fixtures import not_a_receiver

    consumer = Consumer(redis_url, group="audit")
    with pytest.raises(TypeError, match=r"relay_fixtures:not_a_receiver must accept \*\*kwargs"):
        consumer.connect(not_a_receiver)
    with pytest.raises(TypeError, match="must be callable"):
        consumer.connect("relay_fixtures:record")  # type: ignore[arg-type]
    consumer.close()


def test_a_signal_that_is_no_import_path_is_refused(redis_url: str) -> None:
    consumer = Consumer(redis_url, group="audit")
    with pytest.raises(ValueError, match="expected the import path of a signal"):
        consumer.connect(Recorder(), signal="order_paid")
    consumer.close()


def test_disconnect_stops_the_calls(redis_url: str) -> None:
    publish(redis_url, (order_paid, {"n": 1}))
    receiver = Recorder()
    with Consumer(redis_url, group="audit") as consumer:
        consumer.connect(receiver)
        assert consumer.disconnect(receiver)
        consumer.run_once(block_ms=0)
    assert receiver.calls == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"group": ""}, "group=...): expected a non-empty string"),
        ({"group": "g", "stream": ""}, "stream=...): expected a non-empty string"),
        ({"group": "g", "max_deliveries": 0}, "max_deliveries=...): expected an int >= 1"),
        ({"group": "g", "idle_ms": 0.5}, "idle_ms=...): expected milliseconds"),
    ],
)
def test_bad_settings_are_refused_with_what_to_use(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Consumer("redis://127.0.0.1:6379/0", **kwargs)
    assert message in str(caught.value)


def test_run_once_raises_when_redis_is_unreachable() -> None:
    server = RedisServer()  # never started
    consumer = Consumer(server.url, group="audit")
    with pytest.raises(redis.ConnectionError):
        consumer.run_once(block_ms=0)
    consumer.close()
    server.close()
