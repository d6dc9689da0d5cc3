"""Tests for the plan section ``[relay]`` (``eventweave.plan._relay``), on a real Redis server.

Applying a plan forwards its signals to the stream; ``check`` refuses what
applying refuses and leaves nothing behind; ``eventweave consume --plan`` (in
``test_command.py``) and :func:`~eventweave.plan._relay.worker` read a worker's
plan.
"""

from __future__ import annotations

import json
import logging
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import relay_fixtures
from relay_fixtures import Box, Item, Shop, entries, order_paid, order_refunded

from eventweave import rest
from eventweave.plan import Plan, PlanError, loads
from eventweave.plan import _relay as plan_relay
from eventweave.plan._relay import worker
from eventweave.relay import Consumer, Relay
from eventweave.relay._server import free_port


@pytest.fixture(autouse=True)
def _relays_closed() -> Iterator[None]:
    """Close the relays the test's plans made (which disconnects their receivers)."""
    yield
    for relay in plan_relay._relays.values():
        relay.close()
    plan_relay._relays.clear()


def plan(text: str, **values: str) -> Plan:
    return loads(textwrap.dedent(text).format(**values), "weave.toml")


def applied_relay(url: str, stream: str = "eventweave") -> Relay:
    return plan_relay._relays[url, stream]


def relay_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("eventweave relay")}


FORWARD = """
    [relay]
    url = "{url}"
    stream = "portal"
    forward = ["relay_fixtures:order_paid", "AfterCreate"]
"""


# -- reading ------------------------------------------------------------------------


def test_relay_section_is_read_with_its_url_stream_and_sources() -> None:
    (section,) = plan(FORWARD, url="redis://127.0.0.1:6379/0").sections("relay")
    assert (section.url, section.stream) == ("redis://127.0.0.1:6379/0", "portal")  # type: ignore[attr-defined]
    paths = [path.text for path in section.forward]  # type: ignore[attr-defined]
    assert paths == ["relay_fixtures:order_paid", "eventweave.rest:AfterCreate"]


def test_url_may_come_from_the_environment_and_stream_defaults() -> None:
    text = '[relay]\nurl = "${REDIS_URL}"\nforward = ["relay_fixtures:order_paid"]\n'
    (section,) = loads(text, environ={"REDIS_URL": "redis://cache:6379/2"}).sections("relay")
    assert (section.url, section.stream) == ("redis://cache:6379/2", "eventweave")  # type: ignore[attr-defined]


URL = 'url = "redis://h:6379/0"\n'


@pytest.mark.parametrize(
    ("table", "line", "key", "reason"),
    [
        ('forward = ["a.b:c"]\n', 1, "relay", "needs url = 'redis://host:6379/0'"),
        ('url = "localhost:6379"\n', 2, "relay.url", "must be a Redis URL"),
        (URL + 'stream = ""\n', 3, "relay.stream", "must be a stream key"),
        (URL + 'forward = ["AfterCreat"]\n', 3, "relay.forward", "did you mean 'AfterCreate'?"),
        (URL + 'forward = ["a.b.c"]\n', 3, "relay.forward", "(did you mean 'a.b:c'?)"),
        (URL + "forward = []\n", 3, "relay.forward", "names nothing"),
        (URL + 'forwards = ["a:b"]\n', 3, "relay.forwards", "did you mean 'forward'?"),
    ],
)
def test_relay_table_is_checked_on_loading(table: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(PlanError) as info:
        loads("[relay]\n" + table, "weave.toml")
    assert (info.value.file, info.value.line, info.value.key) == ("weave.toml", line, key)
    assert reason in info.value.reason


# -- applying ------------------------------------------------------------------------


def test_applying_forwards_the_signals_and_rest_events_to_the_stream(
    redis_url: str, client: Any
) -> None:
    assert plan(FORWARD, url=redis_url).apply() == []  # forwarding weaves nothing
    order_paid.send(Shop, n=1)
    order_refunded.send(Shop, n=2)  # not forwarded
    rest.registry.notify(rest.AfterCreate(Item, None, response={"id": 7}))
    assert applied_relay(redis_url, "portal").flush()
    found = [(entry["signal"], entry["sender"]) for entry in entries(client, "portal")]
    assert found == [
        ("relay_fixtures:order_paid", "relay_fixtures:Shop"),
        ("eventweave.rest:AfterCreate", "relay_fixtures:Item"),
    ]


def test_applying_a_plan_twice_forwards_each_event_once_through_one_relay(
    redis_url: str, client: Any
) -> None:
    before = relay_threads()
    plan(FORWARD, url=redis_url).apply()
    plan(FORWARD, url=redis_url).apply()
    order_paid.send(Shop, n=1)
    assert applied_relay(redis_url, "portal").flush()
    assert len(entries(client, "portal")) == 1
    assert len(relay_threads() - before) == 1


def test_a_signal_is_forwarded_once_its_module_is_imported(
    redis_url: str, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "late_signals.py").write_text("from eventweave import Signal\nshipped = Signal()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "late_signals", raising=False)
    text = '[relay]\nurl = "{url}"\nforward = ["late_signals:shipped"]\n'
    plan(text, url=redis_url).apply()
    assert "late_signals" not in sys.modules  # applying imported nothing
    import late_signals

    late_signals.shipped.send(Shop, parcel=3)
    assert applied_relay(redis_url).flush()
    assert [entry["signal"] for entry in entries(client)] == ["late_signals:shipped"]
    applied_relay(redis_url).close()
    assert not late_signals.shipped.receivers


def test_unreachable_redis_is_no_error_events_wait_in_the_buffer() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    text = '[relay]\nurl = "{url}"\nforward = ["relay_fixtures:order_paid"]\n'
    assert plan(text, url=url).check().ok
    plan(text, url=url).apply()
    order_paid.send(Shop, n=1)
    assert applied_relay(url).stats()["buffered"] == 1
    applied_relay(url).close(timeout=0)


def test_rest_events_of_a_registry_the_relay_does_not_read_are_refused(redis_url: str) -> None:
    text = FORWARD + '\n[rest]\nviews = ["relay_fixtures:Shop"]\nregistry = "a.b:registry"\n'
    with pytest.raises(PlanError) as info:
        plan(text, url=redis_url).apply()
    assert (info.value.line, info.value.key) == (5, "relay.forward")
    assert "[rest] notifies a.b:registry: the relay would never see them" in info.value.reason


# -- check refuses what apply refuses -------------------------------------------------

REFUSED = {
    "a malformed URL": (
        '[relay]\nurl = "redis://127.0.0.1:port/0"\nforward = ["relay_fixtures:order_paid"]\n',
        (2, "relay.url"),
        "Port could not be cast to integer value",
    ),
    "a URL of another scheme": (
        '[relay]\nurl = "http://127.0.0.1:6379/0"\nforward = ["relay_fixtures:order_paid"]\n',
        (2, "relay.url"),
        "a Redis URL looks like 'redis://[:password@]host:6379/0'",
    ),
    "a misspelled signal": (
        '[relay]\nurl = "redis://127.0.0.1:1/0"\nforward = ["relay_fixtures:order_payd"]\n',
        (3, "relay.forward"),
        "relay_fixtures has no attribute 'order_payd'; did you mean 'order_paid'?",
    ),
    "an object that is no signal": (
        '[relay]\nurl = "redis://127.0.0.1:1/0"\nforward = ["relay_fixtures:Shop"]\n',
        (3, "relay.forward"),
        "relay_fixtures:Shop is type, not a signal (an object with connect()) or a REST event",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_check_refuses_what_apply_refuses_with_the_same_message(case: str) -> None:
    text, place, fragment = REFUSED[case]
    (error,) = loads(text, "weave.toml").check().errors
    assert fragment in error.message
    assert (error.line, error.key) == place
    with pytest.raises(PlanError) as info:
        loads(text, "weave.toml").apply()
    assert (info.value.reason, info.value.line, info.value.key) == (error.message, *place)


def test_check_leaves_no_relay_and_no_receiver_behind(redis_url: str) -> None:
    before = relay_threads()
    report = plan(FORWARD, url=redis_url).check()
    assert report.ok, report.errors
    assert not order_paid.receivers
    assert not rest.registry.receivers
    assert relay_threads() <= before
    assert not plan_relay._relays


def test_check_reports_a_module_not_installed_here_as_pending(redis_url: str) -> None:
    text = '[relay]\nurl = "{url}"\nforward = ["nowhere_xyz.signals:paid"]\n'
    report = plan(text, url=redis_url).check()
    (pending,) = report.pending
    assert (pending.line, pending.key, pending.message) == (
        3,
        "relay.forward",
        "no module named 'nowhere_xyz'",
    )


def test_show_lists_what_is_forwarded_and_where_with_the_password_masked() -> None:
    text = FORWARD.replace("{url}", "redis://:s3cr3t-pw@cache:6379/0")
    entries_shown = [entry.as_dict() for entry in plan(text).entries()]
    assert [(e["target"], e["status"]) for e in entries_shown] == [
        ("relay_fixtures:order_paid", "ok"),
        ("eventweave.rest:AfterCreate", "ok"),
    ]
    assert {e["events"] for e in entries_shown} == {
        "forwarded to stream 'portal' on redis://:********@cache:6379/0"
    }
    assert "s3cr3t" not in json.dumps(entries_shown)


def test_a_failure_to_forward_found_on_import_is_logged_not_raised(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "late_more.py").write_text("shipped = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = '[relay]\nurl = "{url}"\nforward = ["late_more:shipped"]\n'
    plan(text, url=redis_url).apply()
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        __import__("late_more")
    assert "late_more:shipped is int, not a signal" in caplog.text
    monkeypatch.delitem(sys.modules, "late_more")


# -- a worker's plan ----------------------------------------------------------------

WORKER = """
    [relay]
    url = "{url}"
    stream = "portal"

    [[connect]]
    receiver = "relay_fixtures:collect"
    signals = ["relay_fixtures:order_paid"]
    sender = "relay_fixtures:Shop"

    [[connect]]
    receiver = "relay_fixtures:collect_async"
    events = ["AfterCreate"]
    model = "relay_fixtures:Item"
    field = "title"
"""


@pytest.fixture
def collected() -> Iterator[list[dict[str, Any]]]:
    relay_fixtures.collected.clear()
    yield relay_fixtures.collected
    relay_fixtures.collected.clear()


def deliver(planned: Any, url: str, stream: str) -> None:
    consumer = Consumer(url, stream=stream, group="worker")
    for receiver, signal, sender in planned.receivers:
        consumer.connect(receiver, signal, sender=sender)
    while consumer.run_once(block_ms=100):
        pass
    consumer.close()


def test_a_workers_receivers_get_the_relayed_events_of_their_signals_sender_model_and_field(
    redis_url: str, collected: list[dict[str, Any]]
) -> None:
    planned = worker(plan(WORKER, url=redis_url))
    assert (planned.url, planned.stream, planned.ignored) == (redis_url, "portal", [])
    fields = rest._events.build_fields
    with Relay(redis_url, stream="portal") as relay:
        relay.forward(order_paid, order_refunded, rest.AfterCreate)
        order_paid.send(Shop, n=1)
        order_paid.send("another sender", n=2)
        order_refunded.send(Shop, n=3)
        rest.registry.notify(rest.AfterCreate(Item, None, fields=fields({"title": "Dune"})))
        rest.registry.notify(rest.AfterCreate(Item, None, fields=fields({"pages": 3})))
        rest.registry.notify(rest.AfterCreate(Shop, None, fields=fields({"title": "x"})))
        # A relayed sender is its import path: the worker need not import it, and
        # a subclass of the model is not taken for it.
        rest.registry.notify(rest.AfterCreate(Box, None, fields=fields({"title": "y"})))
    deliver(planned, redis_url, "portal")
    assert [(e.get("async", False), e["signal"], e["sender"]) for e in collected] == [
        (False, "relay_fixtures:order_paid", "relay_fixtures:Shop"),
        (True, "eventweave.rest:AfterCreate", "relay_fixtures:Item"),
    ]
    assert collected[1]["fields"] == {"title": "Dune"}


@pytest.mark.parametrize(
    ("receiver", "reason"),
    [
        ("relay_fixtures:colect", "has no attribute 'colect'; did you mean 'collect'?"),
        ("relay_fixtures:not_a_receiver", "must accept **kwargs"),
    ],
)
def test_a_workers_receiver_that_cannot_be_called_is_a_plan_error_at_its_line(
    redis_url: str, receiver: str, reason: str
) -> None:
    text = WORKER.replace("relay_fixtures:collect_async", receiver)
    with pytest.raises(PlanError) as info:
        worker(plan(text, url=redis_url))
    assert (info.value.line, info.value.key) == (12, "connect[2].receiver")
    assert reason in info.value.reason


def test_a_workers_plan_says_which_sections_consume_does_not_apply(redis_url: str) -> None:
    text = WORKER + '\n[[weave]]\ntarget = "a.b:C.d"\npost = "a.b:done"\n'
    assert worker(plan(text, url=redis_url)).ignored == ["[[weave]]"]


def test_a_relay_without_forward_is_checked_but_makes_no_relay(redis_url: str) -> None:
    text = '[relay]\nurl = "{url}"\n'
    before = relay_threads()
    assert plan(text, url=redis_url).check().ok
    assert plan(text, url=redis_url).apply() == []
    assert relay_threads() <= before
    assert not plan_relay._relays
    (error,) = plan(text, url="redis://h:port/0").check().errors
    assert (error.key, error.line) == ("relay.url", 2)
