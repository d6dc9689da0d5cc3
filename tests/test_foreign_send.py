"""A woven call on Django's and blinker's signals calls what their own ``send`` would.

The listening form runs those signals' ``send`` itself while it can (see
``eventweave/_foreign.py``). Each test here changes a signal's receivers the
way a user or a test helper does, then compares the calls the woven method
made with those the library's own ``send`` makes for the same values, and
whether the form still went through ``send``.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import blinker
import django.dispatch
import pytest

from eventweave import Emit, weave

Calls = list[tuple[str, Any, dict[str, Any]]]


class Invoice:
    rate = 3

    def pay(self, amount: int, currency: str = "EUR") -> int:
        return amount * self.rate


class Refund(Invoice):
    pass


class Recorder:
    """Receivers that append ``(name, sender, keywords)`` to one list."""

    def __init__(self) -> None:
        self.calls: Calls = []
        self.kept: list[Any] = []

    def make(self, name: str, *, blinker_style: bool = False) -> Callable[..., None]:
        calls = self.calls
        if blinker_style:

            def receive_blinker(sender: Any, **named: Any) -> None:
                calls.append((name, sender, named))

            return receive_blinker

        def receive(*, signal: Any, sender: Any, **named: Any) -> None:
            calls.append((name, sender, {"signal": signal, **named}))

        return receive

    def take(self) -> Calls:
        calls, self.calls[:] = list(self.calls), []
        return calls


PAYLOAD = {"method": "pay", "args": (2, "EUR"), "kwargs": {}, "amount": 2, "currency": "EUR"}


def by_hand(pre: Any, post: Any, sender: type = Invoice) -> None:
    """What the woven ``pay(2)`` sends, through each signal's own ``send``."""
    pre.send(sender, instance=2, **PAYLOAD)
    post.send(sender, instance=2, **PAYLOAD, result=6)


@pytest.fixture(params=["django", "blinker"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_signal(kind: str) -> Any:
    return django.dispatch.Signal() if kind == "django" else blinker.Signal()


def counting_lookup(signal: Any) -> list[int]:
    """Count the per-call receiver lookups of the library's own ``send`` on ``signal``."""
    count = [0]
    name = "_live_receivers" if isinstance(signal, django.dispatch.Signal) else "receivers_for"
    own = getattr(signal, name)

    def lookup(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return own(*args, **kwargs)

    setattr(signal, name, lookup)
    return count


@pytest.fixture
def woven(kind: str) -> Iterator[tuple[Any, Any, Recorder]]:
    pre, post = new_signal(kind), new_signal(kind)
    weave((Invoice, "pay"), Emit(pre, post))
    yield pre, post, Recorder()


def same_as_send(pre: Any, post: Any, recorder: Recorder) -> Calls:
    """Call the woven method, then ``send`` by hand; both must have made the same calls."""
    assert Invoice().pay(2) == 6
    woven_calls = recorder.take()
    by_hand(pre, post)
    assert woven_calls == recorder.take()
    return woven_calls


def names(calls: Calls) -> list[str]:
    return [name for name, _, _ in calls]


def test_receivers_get_what_send_gives_them_and_send_does_not_look_them_up(
    kind: str, woven: tuple[Any, Any, Recorder]
) -> None:
    pre, post, recorder = woven
    style = kind == "blinker"
    for name in ("a", "b", "c"):
        receiver = recorder.make(name, blinker_style=style)
        recorder.kept.append(receiver)
        pre.connect(receiver)
    strong = recorder.make("strong", blinker_style=style)
    post.connect(strong, weak=False)
    del strong
    lookups = counting_lookup(pre), counting_lookup(post)
    calls = same_as_send(pre, post, recorder)
    assert sorted(names(calls)) == ["a", "b", "c", "strong"]
    assert names(calls)[-1] == "strong"
    sender_and_payload = {(sender, tuple(sorted(named))) for _, sender, named in calls[:3]}
    expected_keys = tuple(sorted({"instance", *PAYLOAD} | ({"signal"} if not style else set())))
    assert sender_and_payload == {(Invoice, expected_keys)}
    # The woven call made no lookup; the send by hand made one per signal.
    assert [count[0] for count in lookups] == [1, 1]


def test_a_receiver_connected_or_disconnected_between_calls_is_seen(
    kind: str, woven: tuple[Any, Any, Recorder]
) -> None:
    pre, post, recorder = woven
    style = kind == "blinker"
    first, second, third = (recorder.make(n, blinker_style=style) for n in ("1", "2", "3"))
    pre.connect(first)
    assert names(same_as_send(pre, post, recorder)) == ["1"]
    pre.connect(second)
    assert sorted(names(same_as_send(pre, post, recorder))) == ["1", "2"]
    # Same count of receivers, another one: an in-place change of equal length.
    pre.disconnect(second)
    pre.connect(third)
    assert sorted(names(same_as_send(pre, post, recorder))) == ["1", "3"]
    # A receiver disconnected and connected again: the order is send()'s.
    pre.disconnect(first)
    pre.connect(first)
    same_as_send(pre, post, recorder)
    pre.disconnect(first)
    pre.disconnect(third)
    post.connect(second)
    assert names(same_as_send(pre, post, recorder)) == ["2"]


def test_mute_signals_style_assignment_is_seen_at_once() -> None:
    signal = django.dispatch.Signal()
    recorder = Recorder()
    receiver = recorder.make("r")
    signal.connect(receiver)
    weave((Invoice, "pay"), Emit(signal))
    Invoice().pay(2)
    assert names(recorder.take()) == ["r"]
    saved, signal.receivers = signal.receivers, []
    Invoice().pay(2)
    assert recorder.take() == []
    signal.receivers = saved
    Invoice().pay(2)
    assert names(recorder.take()) == ["r"]


def test_a_dead_weak_receiver_is_skipped_and_pruned_as_send_does(
    kind: str, woven: tuple[Any, Any, Recorder]
) -> None:
    pre, post, recorder = woven
    style = kind == "blinker"
    kept = recorder.make("kept", blinker_style=style)
    dying = recorder.make("dying", blinker_style=style)
    pre.connect(kept)
    pre.connect(dying)
    assert sorted(names(same_as_send(pre, post, recorder))) == ["dying", "kept"]
    del dying
    gc.collect()
    assert names(same_as_send(pre, post, recorder)) == ["kept"]
    assert len(pre.receivers) == 1


def pair_dropping_each_other(signal: Any, recorder: Recorder) -> None:
    """Connect two weak receivers, each holding the only reference to the other.

    Whichever is called first drops the other's last reference.
    """
    held: dict[str, Any] = {}

    def make(name: str, other: str) -> Callable[..., None]:
        def receive(*args: Any, **named: Any) -> None:
            recorder.calls.append((name, None, {}))
            held.pop(other, None)
            gc.collect()

        return receive

    held["x"], held["y"] = make("x", "y"), make("y", "x")
    signal.connect(held["x"])
    signal.connect(held["y"])


def test_a_receiver_dropping_anothers_last_reference_is_handled_as_send_does(kind: str) -> None:
    # Django's send() looks up every receiver before calling any: both are
    # called. blinker's looks each up when its turn comes: the second is gone.
    expected = 2 if kind == "django" else 1
    signal = new_signal(kind)
    weave((Invoice, "pay"), Emit(signal))
    recorder = Recorder()
    pair_dropping_each_other(signal, recorder)
    Invoice().pay(2)
    assert len(recorder.take()) == expected
    # The same with the library's own send(), on a fresh pair.
    by_hand_signal = new_signal(kind)
    pair_dropping_each_other(by_hand_signal, recorder)
    by_hand_signal.send(Invoice, instance=2, **PAYLOAD)
    assert len(recorder.take()) == expected


def test_receivers_for_one_sender_hear_only_that_sender(
    kind: str, woven: tuple[Any, Any, Recorder]
) -> None:
    pre, post, recorder = woven
    style = kind == "blinker"
    everyone = recorder.make("everyone", blinker_style=style)
    refunds = recorder.make("refunds", blinker_style=style)
    pre.connect(everyone)
    pre.connect(refunds, sender=Refund)
    assert names(same_as_send(pre, post, recorder)) == ["everyone"]
    assert Refund().pay(2) == 6
    woven_calls = recorder.take()
    by_hand(pre, post, sender=Refund)
    assert sorted(names(woven_calls)) == ["everyone", "refunds"]
    assert woven_calls == recorder.take()
    # Connected for all senders too: it hears Invoice again.
    pre.connect(refunds)
    assert sorted(names(same_as_send(pre, post, recorder))) == ["everyone", "refunds"]
    # And for one sender as well as for all: nothing changes for the others.
    pre.connect(everyone, sender=Refund)
    pre.disconnect(everyone, sender=Refund)
    assert sorted(names(same_as_send(pre, post, recorder))) == ["everyone", "refunds"]


def test_a_raising_receiver_stops_the_call_as_send_does(
    kind: str, woven: tuple[Any, Any, Recorder]
) -> None:
    pre, post, recorder = woven
    style = kind == "blinker"

    def broken(*args: Any, **named: Any) -> None:
        raise LookupError("receiver bug")

    after = recorder.make("after", blinker_style=style)
    body = recorder.make("post", blinker_style=style)
    pre.connect(broken)
    pre.connect(after)
    post.connect(body)
    with pytest.raises(LookupError, match="receiver bug"):
        Invoice().pay(2)
    woven_calls = recorder.take()
    with pytest.raises(LookupError, match="receiver bug"):
        pre.send(Invoice, instance=2, **PAYLOAD)
    assert woven_calls == recorder.take()
    assert "post" not in names(woven_calls)


def test_django_async_receivers_are_gathered_by_send() -> None:
    signal = django.dispatch.Signal()
    recorder = Recorder()
    sync_receiver = recorder.make("sync")

    async def async_receiver(*, signal: Any, sender: Any, **named: Any) -> None:
        recorder.calls.append(("async", sender, {"signal": signal, **named}))

    signal.connect(async_receiver)
    signal.connect(sync_receiver)
    weave((Invoice, "pay"), Emit(signal))
    assert Invoice().pay(2) == 6
    woven_calls = recorder.take()
    signal.send(Invoice, instance=2, **PAYLOAD)
    assert names(woven_calls) == ["sync", "async"]
    assert woven_calls == recorder.take()


def test_blinker_coroutine_receivers_fail_as_send_fails() -> None:
    signal = blinker.Signal()

    async def receiver(sender: Any, **named: Any) -> None:
        pass

    signal.connect(receiver)
    weave((Invoice, "pay"), Emit(signal))
    with pytest.raises(RuntimeError, match="Cannot send to a coroutine function"):
        Invoice().pay(2)


def test_a_muted_blinker_signal_calls_nobody() -> None:
    signal = blinker.Signal()
    recorder = Recorder()
    receiver = recorder.make("r", blinker_style=True)
    signal.connect(receiver)
    weave((Invoice, "pay"), Emit(signal))
    with signal.muted():
        Invoice().pay(2)
    assert recorder.take() == []
    Invoice().pay(2)
    assert names(recorder.take()) == ["r"]


def test_a_signal_class_overriding_send_gets_its_send_called(kind: str) -> None:
    sent: list[Any] = []
    base: Any = django.dispatch.Signal if kind == "django" else blinker.Signal

    class Counting(base):  # type: ignore[misc,valid-type]
        def send(self, sender: Any, /, **named: Any) -> Any:
            sent.append(sender)
            return super().send(sender, **named)

    signal = Counting()
    recorder = Recorder()
    receiver = recorder.make("r", blinker_style=kind == "blinker")
    signal.connect(receiver)
    weave((Invoice, "pay"), Emit(signal))
    Invoice().pay(2)
    assert sent == [Invoice]
    assert names(recorder.take()) == ["r"]


def test_a_strong_receiver_disconnected_is_released_by_the_next_call(
    kind: str, woven: tuple[Any, Any, Recorder]
) -> None:
    pre, _post, recorder = woven
    kept = recorder.make("kept", blinker_style=kind == "blinker")
    pre.connect(kept)
    strong = recorder.make("strong", blinker_style=kind == "blinker")
    pre.connect(strong, weak=False)
    Invoice().pay(2)
    pre.disconnect(strong)
    ref = weakref.ref(strong)
    del strong
    Invoice().pay(2)
    gc.collect()
    assert ref() is None
    calls = names(recorder.take())
    assert sorted(calls[:2]) == ["kept", "strong"]
    assert calls[2:] == ["kept"]


def test_a_send_patched_on_the_signal_is_called(
    kind: str, woven: tuple[Any, Any, Recorder]
) -> None:
    # A test mocking the signal's send sees the woven call's events, as it
    # would see the same send() written by hand.
    pre, post, recorder = woven
    receiver = recorder.make("r", blinker_style=kind == "blinker")
    pre.connect(receiver)
    post.connect(receiver)
    Invoice().pay(2)  # the listening form is built and its views made
    assert len(recorder.take()) == 2
    with mock.patch.object(pre, "send") as send:
        assert Invoice().pay(2) == 6
    send.assert_called_once_with(Invoice, instance=2, **PAYLOAD)
    assert names(recorder.take()) == ["r"]  # the post signal's, not patched
    Invoice().pay(2)
    assert names(recorder.take()) == ["r", "r"]
