"""Tests for `eventweave._signals`: async receivers, asend and the async bridges.

Most tests run twice: with asgiref doing the bridging (as when Django is
installed) and with eventweave's own bridge (as when asgiref is missing).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import markcoroutinefunction

from eventweave import _signals
from eventweave._signals import Signal

# asyncio tasks take a shared context= from Python 3.11 only: on 3.10 each
# async receiver runs in its own copy of the caller's context, and the copies
# are written back to the caller in order, so concurrent receivers do not see
# each other's changes and the caller sees the last one's.
TASKS_SHARE_CONTEXT = sys.version_info >= (3, 11)


def _expected_counts(kind: type) -> tuple[list[int], int]:
    """The values two counting receivers record, and what the caller sees afterwards."""
    if kind is CountingAsync and not TASKS_SHARE_CONTEXT:
        return [2, 2], 2
    return [2, 3], 3


@pytest.fixture(params=["asgiref", "own"])
def bridge(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "own":
        monkeypatch.setattr(_signals, "_block_on", _signals._own_block_on)
        monkeypatch.setattr(_signals, "_in_thread", _signals._own_in_thread)
        monkeypatch.setattr(_signals, "_iscoroutinefunction", _signals._own_iscoroutinefunction)
    return str(request.param)


@pytest.fixture
def sig(bridge: str) -> Iterator[Signal]:
    signal = Signal()
    yield signal
    assert not signal.receivers, "a test left receivers connected"


async def async_answer(val: object = None, **kwargs: Any) -> object:
    await asyncio.sleep(0)
    return val


def sync_answer(val: object = None, **kwargs: Any) -> object:
    return val


def disconnect_all(sig: Signal, *receivers: Any) -> None:
    for each in receivers:
        assert sig.disconnect(each)


# -- send() with async receivers ---------------------------------------------------------


def test_send_awaits_async_receivers(sig: Signal) -> None:
    sig.connect(async_answer)
    assert sig.send(None, val="x") == [(async_answer, "x")]
    disconnect_all(sig, async_answer)


def test_send_calls_sync_receivers_before_async_ones(sig: Signal) -> None:
    calls: list[str] = []

    async def async_first(**kwargs: Any) -> str:
        calls.append("async_first")
        return "async_first"

    def sync_second(**kwargs: Any) -> str:
        calls.append("sync_second")
        return "sync_second"

    async def async_third(**kwargs: Any) -> str:
        calls.append("async_third")
        return "async_third"

    def sync_fourth(**kwargs: Any) -> str:
        calls.append("sync_fourth")
        return "sync_fourth"

    receivers = (async_first, sync_second, async_third, sync_fourth)
    for each in receivers:
        sig.connect(each)
    result = sig.send(None)
    expected = ["sync_second", "sync_fourth", "async_first", "async_third"]
    assert [response for _, response in result] == expected
    assert calls[:2] == ["sync_second", "sync_fourth"]
    assert sorted(calls[2:]) == ["async_first", "async_third"]
    disconnect_all(sig, *receivers)


def test_send_runs_async_receivers_concurrently(sig: Signal) -> None:
    # Each waits for the other: run one after the other, they would time out.
    events: dict[str, asyncio.Event] = {}

    async def ping(**kwargs: Any) -> str:
        events.setdefault("ping", asyncio.Event()).set()
        await asyncio.wait_for(events.setdefault("pong", asyncio.Event()).wait(), 5)
        return "ping"

    async def pong(**kwargs: Any) -> str:
        events.setdefault("pong", asyncio.Event()).set()
        await asyncio.wait_for(events.setdefault("ping", asyncio.Event()).wait(), 5)
        return "pong"

    sig.connect(ping)
    sig.connect(pong)
    assert sig.send(None) == [(ping, "ping"), (pong, "pong")]
    disconnect_all(sig, ping, pong)


def test_send_propagates_an_async_receiver_exception(sig: Signal) -> None:
    async def fails(**kwargs: Any) -> None:
        raise ValueError("async boom")

    sig.connect(fails)
    with pytest.raises(ValueError, match="async boom"):
        sig.send(None)
    disconnect_all(sig, fails)


def test_send_robust_returns_an_async_receiver_exception(
    sig: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    async def fails(**kwargs: Any) -> None:
        raise ValueError("async boom")

    sig.connect(fails)
    sig.connect(async_answer)
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        ((who, err), second) = sig.send_robust(None, val=2)
    assert who is fails
    assert isinstance(err, ValueError)
    assert second == (async_answer, 2)
    (record,) = caplog.records
    assert record.getMessage() == (
        f"Error calling {fails.__qualname__} in Signal.send_robust() (async boom)"
    )
    disconnect_all(sig, fails, async_answer)


def test_async_bound_method_receiver_is_awaited(sig: Signal) -> None:
    class Handler:
        async def on_event(self, **kwargs: Any) -> str:
            return "method"

    handler = Handler()
    sig.connect(handler.on_event)
    assert sig.send(None) == [(handler.on_event, "method")]
    disconnect_all(sig, handler.on_event)


def test_callable_marked_as_coroutine_function_is_awaited(sig: Signal) -> None:
    class Handler:
        def __init__(self) -> None:
            markcoroutinefunction(self)

        async def __call__(self, **kwargs: Any) -> str:
            return "marked"

    handler = Handler()
    sig.connect(handler)
    assert sig.send(None) == [(handler, "marked")]
    disconnect_all(sig, handler)


async def test_send_from_a_running_loop_fails_with_asgiref_as_in_django() -> None:
    sig = Signal()
    sig.connect(async_answer)
    with pytest.raises(RuntimeError, match="cannot use AsyncToSync in the same thread"):
        sig.send(None, val=1)
    disconnect_all(sig, async_answer)


async def test_own_bridge_sends_from_a_running_loop_through_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_signals, "_block_on", _signals._own_block_on)
    sig = Signal()
    threads: list[int] = []

    async def where(**kwargs: Any) -> str:
        threads.append(threading.get_ident())
        return "done"

    sig.connect(where)
    assert sig.send(None) == [(where, "done")]
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()
    disconnect_all(sig, where)
    assert not sig.receivers


# -- asend -----------------------------------------------------------------------


async def test_asend_without_receivers_returns_empty_list(sig: Signal) -> None:
    assert await sig.asend(None) == []
    assert await sig.asend_robust(None) == []


async def test_asend_lists_sync_responses_first_then_async_ones(sig: Signal) -> None:
    async def async_first(**kwargs: Any) -> str:
        return "async_first"

    def sync_second(**kwargs: Any) -> str:
        return "sync_second"

    async def async_third(**kwargs: Any) -> str:
        return "async_third"

    def sync_fourth(**kwargs: Any) -> str:
        return "sync_fourth"

    receivers = (async_first, sync_second, async_third, sync_fourth)
    for each in receivers:
        sig.connect(each)
    result = await sig.asend(None)
    assert result == [
        (sync_second, "sync_second"),
        (sync_fourth, "sync_fourth"),
        (async_first, "async_first"),
        (async_third, "async_third"),
    ]
    disconnect_all(sig, *receivers)


async def test_asend_only_async_receivers(sig: Signal) -> None:
    sig.connect(async_answer)
    assert await sig.asend(None, val=1) == [(async_answer, 1)]
    disconnect_all(sig, async_answer)


async def test_asend_only_sync_receivers(sig: Signal) -> None:
    sig.connect(sync_answer)
    assert await sig.asend(None, val=1) == [(sync_answer, 1)]
    disconnect_all(sig, sync_answer)


async def test_asend_runs_sync_receivers_off_the_event_loop_thread(sig: Signal) -> None:
    threads: list[int] = []

    def where(**kwargs: Any) -> None:
        threads.append(threading.get_ident())

    sig.connect(where)
    await sig.asend(None)
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()
    disconnect_all(sig, where)


async def test_asend_filters_by_sender(sig: Signal) -> None:
    class Sender:
        pass

    sig.connect(async_answer, sender=Sender)
    sig.connect(sync_answer, sender=Sender)
    assert await sig.asend(object, val=1) == []
    assert await sig.asend(Sender, val=2) == [(sync_answer, 2), (async_answer, 2)]
    assert sig.disconnect(async_answer, sender=Sender)
    assert sig.disconnect(sync_answer, sender=Sender)


async def test_asend_propagates_a_sync_receiver_exception(sig: Signal) -> None:
    def fails(**kwargs: Any) -> None:
        raise ValueError("sync boom")

    sig.connect(fails)
    with pytest.raises(ValueError, match="sync boom"):
        await sig.asend(None)
    disconnect_all(sig, fails)


async def test_asend_failure_cancels_the_receivers_still_running(sig: Signal) -> None:
    outcome: list[str] = []

    async def slow(**kwargs: Any) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async def fails(**kwargs: Any) -> None:
        raise ValueError("fast failure")

    sig.connect(slow)
    sig.connect(fails)
    with pytest.raises(ValueError, match="fast failure"):
        await asyncio.wait_for(sig.asend(None), 5)
    assert outcome == ["cancelled"]
    disconnect_all(sig, slow, fails)


async def test_asend_robust_returns_and_logs_exceptions(
    sig: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    def sync_fails(**kwargs: Any) -> None:
        raise KeyError("sync")

    async def async_fails(**kwargs: Any) -> None:
        raise LookupError("async")

    sig.connect(async_fails)
    sig.connect(sync_fails)
    sig.connect(async_answer)
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        result = await sig.asend_robust(None, val="ok")
    assert [who for who, _ in result] == [sync_fails, async_fails, async_answer]
    assert isinstance(result[0][1], KeyError)
    assert isinstance(result[1][1], LookupError)
    assert result[2][1] == "ok"
    messages = sorted(record.getMessage() for record in caplog.records)
    assert messages == [
        f"Error calling {async_fails.__qualname__} in Signal.asend_robust() (async)",
        f"Error calling {sync_fails.__qualname__} in Signal.asend_robust() ('sync')",
    ]
    disconnect_all(sig, async_fails, sync_fails, async_answer)


async def test_asend_skips_collected_receivers(sig: Signal) -> None:
    class Handler:
        async def on_event(self, **kwargs: Any) -> str:
            return "gone"

    handler = Handler()
    sig.connect(handler.on_event)
    sig.connect(async_answer)
    del handler
    assert await sig.asend(None, val=1) == [(async_answer, 1)]
    disconnect_all(sig, async_answer)


# -- context variables ------------------------------------------------------------------
# As Django's test_*_correct_contextvars_sharing_*: each receiver adds one to
# a variable the caller set to 1; receivers see each other's changes, and the
# caller sees the last one.


class CountingSync:
    def __init__(self, var: contextvars.ContextVar[int]) -> None:
        self.var = var
        self.values: list[int] = []

    def __call__(self, **kwargs: Any) -> int:
        self.var.set(self.var.get() + 1)
        self.values.append(self.var.get())
        return self.var.get()


class CountingAsync:
    def __init__(self, var: contextvars.ContextVar[int]) -> None:
        self.var = var
        self.values: list[int] = []
        markcoroutinefunction(self)

    async def __call__(self, **kwargs: Any) -> int:
        self.var.set(self.var.get() + 1)
        self.values.append(self.var.get())
        return self.var.get()


def _counting_pair(
    sig: Signal, kind: type[CountingSync | CountingAsync]
) -> tuple[contextvars.ContextVar[int], Any, Any]:
    var: contextvars.ContextVar[int] = contextvars.ContextVar("counter", default=0)
    first, second = kind(var), kind(var)
    sig.connect(first)
    sig.connect(second)
    return var, first, second


@pytest.mark.parametrize("method", ["send", "send_robust"])
@pytest.mark.parametrize(
    "kind",
    [
        CountingSync,
        CountingAsync,
    ],
)
def test_send_receivers_share_context_with_each_other_and_the_caller(
    sig: Signal, method: str, kind: type[CountingSync | CountingAsync]
) -> None:
    var, first, second = _counting_pair(sig, kind)

    values, last = _expected_counts(kind)

    def in_fresh_context() -> None:
        var.set(1)
        getattr(sig, method)(None)
        assert sorted([*first.values, *second.values]) == values
        assert var.get() == last

    contextvars.copy_context().run(in_fresh_context)
    disconnect_all(sig, first, second)


@pytest.mark.parametrize("method", ["asend", "asend_robust"])
@pytest.mark.parametrize(
    "kind",
    [
        CountingSync,
        CountingAsync,
    ],
)
async def test_asend_receivers_share_context_with_each_other_and_the_caller(
    sig: Signal, method: str, kind: type[CountingSync | CountingAsync]
) -> None:
    var, first, second = _counting_pair(sig, kind)
    values, last = _expected_counts(kind)
    var.set(1)
    await getattr(sig, method)(None)
    assert sorted([*first.values, *second.values]) == values
    assert var.get() == last
    disconnect_all(sig, first, second)


@pytest.mark.parametrize("method", ["asend", "asend_robust"])
async def test_asend_runs_sync_receivers_first_and_async_ones_see_what_they_set(
    sig: Signal, method: str
) -> None:
    # Django 6's order: the sync group, then the async receivers.
    var: contextvars.ContextVar[int] = contextvars.ContextVar("counter", default=0)
    sync, async_ = CountingSync(var), CountingAsync(var)
    sig.connect(async_)  # connected first, still called after the sync receiver
    sig.connect(sync)
    var.set(1)
    responses = await getattr(sig, method)(None)
    assert [receiver for receiver, _ in responses] == [sync, async_]
    assert sync.values == [2]
    assert async_.values == [3]
    assert var.get() == 3
    disconnect_all(sig, sync, async_)


def test_async_receivers_see_the_callers_context(sig: Signal) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[str] = []

    async def reads(**kwargs: Any) -> None:
        seen.append(var.get())

    sig.connect(reads)

    def in_fresh_context() -> None:
        var.set("req-42")
        sig.send(None)

    contextvars.copy_context().run(in_fresh_context)
    assert seen == ["req-42"]
    disconnect_all(sig, reads)


async def test_sync_receivers_in_asend_see_the_callers_context(sig: Signal) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[str] = []

    def reads(**kwargs: Any) -> None:
        seen.append(var.get())

    sig.connect(reads)
    var.set("req-7")
    await sig.asend(None)
    assert seen == ["req-7"]
    disconnect_all(sig, reads)


# -- the bridges themselves ---------------------------------------------------------


def test_own_block_on_leaves_the_threads_event_loop_alone() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:

        async def two() -> int:
            return 2

        assert _signals._own_block_on(two) == 2
        assert asyncio.get_event_loop() is loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def test_own_block_on_reraises_from_the_worker_thread() -> None:
    async def fails() -> None:
        raise ArithmeticError("from the worker")

    with pytest.raises(ArithmeticError, match="from the worker"):
        _signals._own_block_on(fails)


def test_own_iscoroutinefunction_recognises_async_callables() -> None:
    async def native(**kwargs: Any) -> None:
        pass

    class Marked:
        def __init__(self) -> None:
            markcoroutinefunction(self)

        async def __call__(self, **kwargs: Any) -> None:
            pass

    assert _signals._own_iscoroutinefunction(native)
    assert _signals._own_iscoroutinefunction(Marked())
    assert not _signals._own_iscoroutinefunction(sync_answer)


def test_without_asgiref_the_own_bridge_is_chosen_and_works() -> None:
    script = """
import asyncio, sys
sys.modules["asgiref"] = None  # as if asgiref were not installed
from eventweave import _signals

async def answer(**kwargs):
    return "async"

def sync(**kwargs):
    return "sync"

sig = _signals.Signal()
sig.connect(answer)
sig.connect(sync)
assert not _signals.HAVE_ASGIREF
assert _signals._block_on is _signals._own_block_on
assert sig.send(None) == [(sync, "sync"), (answer, "async")]
assert asyncio.run(sig.asend(None)) == [(sync, "sync"), (answer, "async")]
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stderr == ""
    assert done.stdout == "ok\n"
