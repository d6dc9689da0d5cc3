"""A woven call on Django's and blinker's signals calls what their own ``send`` would.

The listening form runs those signals' ``send`` itself while it can (see
``eventweave/_foreign.py``). Each test here changes a signal's receivers the
way a user or a test helper does, then compares the calls the woven method
made with those the library's own ``send`` makes for the same values, and
whether the form still went through ``send``.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
import threading
import warnings
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


def woven_with_one_receiver(signal: Any) -> Recorder:
    """``Invoice.pay`` woven on ``signal``, which has one receiver, ``"r"``."""
    recorder = Recorder()
    receiver = recorder.make("r", blinker_style=isinstance(signal, blinker.Signal))
    recorder.kept.append(receiver)
    signal.connect(receiver)
    weave((Invoice, "pay"), Emit(signal))
    return recorder


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
    recorder = woven_with_one_receiver(signal)
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


def pair_dropping_each_other(signal: Any, recorder: Recorder) -> dict[str, Any]:
    """Connect two weak receivers, each holding the only reference to the other.

    Whichever is called first drops the other's last reference. The caller
    keeps what is returned until the send: the two are a cycle, which any
    collection meanwhile (compiling a listening form, say) would take.
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
    return held


def test_a_receiver_dropping_anothers_last_reference_is_handled_as_send_does(kind: str) -> None:
    # Django's send() looks up every receiver before calling any: both are
    # called. blinker's looks each up when its turn comes: the second is gone.
    expected = 2 if kind == "django" else 1
    signal = new_signal(kind)
    weave((Invoice, "pay"), Emit(signal))
    recorder = Recorder()
    pair = pair_dropping_each_other(signal, recorder)
    Invoice().pay(2)
    del pair
    assert len(recorder.take()) == expected
    # The same with the library's own send(), on a fresh pair.
    by_hand_signal = new_signal(kind)
    pair = pair_dropping_each_other(by_hand_signal, recorder)
    by_hand_signal.send(Invoice, instance=2, **PAYLOAD)
    del pair
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
    with warnings.catch_warnings():
        # Django 4.2's send calls them as it calls the others, and drops
        # the coroutine: so does the woven call.
        warnings.simplefilter("ignore", RuntimeWarning)
        assert Invoice().pay(2) == 6
        woven_calls = recorder.take()
        signal.send(Invoice, instance=2, **PAYLOAD)
    assert woven_calls == recorder.take()
    if django.VERSION >= (5,):
        assert names(woven_calls) == ["sync", "async"]


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
    recorder = woven_with_one_receiver(signal)
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
    recorder = woven_with_one_receiver(signal)
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


def test_a_receiver_comparing_unequal_to_none_is_called_as_send_calls_it() -> None:
    # Receivers are never compared with anything but themselves.
    calls: list[str] = []

    class Handler:
        def __init__(self, name: str) -> None:
            self.name = name

        def __eq__(self, other: object) -> bool:
            return self.name == other.name  # type: ignore[attr-defined]

        __hash__ = object.__hash__

        def __call__(self, *args: Any, **named: Any) -> None:
            calls.append(self.name)

    signal = django.dispatch.Signal()
    handler = Handler("audit")
    signal.connect(handler)
    weave((Invoice, "pay"), Emit(signal))
    Invoice().pay(2)
    assert calls == ["audit"]


def test_a_receiver_swapped_under_one_dispatch_uid_for_an_equal_one_is_the_one_called() -> None:
    called: list[str] = []

    @dataclasses.dataclass
    class Notifier:  # equal by value, as model instances with one pk are
        pk: int
        label: str = dataclasses.field(compare=False)

        def on_pay(self, **named: Any) -> None:
            called.append(self.label)

    signal = django.dispatch.Signal()
    weave((Invoice, "pay"), Emit(signal))
    old, new = Notifier(1, "old"), Notifier(1, "new")
    signal.connect(old.on_pay, dispatch_uid="notify")
    Invoice().pay(2)
    signal.disconnect(dispatch_uid="notify")
    signal.connect(new.on_pay, dispatch_uid="notify")
    Invoice().pay(2)
    assert called == ["old", "new"]


def test_a_caching_django_signal_is_sent_by_its_own_send() -> None:
    # Model signals cache receivers per sender: that cache is send()'s.
    signal = django.dispatch.Signal(use_caching=True)
    recorder = woven_with_one_receiver(signal)
    Invoice().pay(2)
    assert names(recorder.take()) == ["r"]
    assert Invoice in signal.sender_receivers_cache
    weave((Invoice, "pay"), Emit(signal, sender="billing"))
    with pytest.raises(TypeError, match="weak reference"):
        Invoice().pay(2)  # as send("billing") raises on a caching signal


def test_blinker_receivers_changing_in_another_thread_never_fail_a_woven_call() -> None:
    signal = blinker.Signal()
    kept = [lambda sender, **named: None for _ in range(300)]
    for receiver in kept:
        signal.connect(receiver)
    weave((Invoice, "pay"), Emit(signal))
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            extra = lambda sender, **named: None  # noqa: E731
            signal.connect(extra)
            signal.disconnect(extra)

    errors: list[BaseException] = []
    thread = threading.Thread(target=churn)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns between any two bytecodes
    thread.start()
    try:
        for _ in range(600):
            try:
                Invoice().pay(2)
            except Exception as exc:  # any failure is the finding
                errors.append(exc)
    finally:
        stop.set()
        thread.join(10)
        sys.setswitchinterval(interval)
    assert errors == []


def test_a_blinker_receiver_disconnected_by_another_during_the_send_is_skipped() -> None:
    signal = blinker.Signal()
    called: list[str] = []

    def first(sender: Any, **named: Any) -> None:
        called.append("first")
        signal.disconnect(second)

    def second(sender: Any, **named: Any) -> None:
        called.append("second")
        signal.disconnect(first)

    signal.connect(first)
    signal.connect(second)
    weave((Invoice, "pay"), Emit(signal))
    Invoice().pay(2)
    woven = list(called)
    called.clear()
    signal.connect(first)
    signal.connect(second)
    signal.send(Invoice)
    assert len(woven) == 1
    assert len(called) == 1


def test_blinker_receivers_for_all_and_for_the_sender_are_called_in_sends_order() -> None:
    order: list[int] = []
    receivers = []
    for index in range(12):

        def receive(sender: Any, *, index: int = index, **named: Any) -> None:
            order.append(index)

        receivers.append(receive)
    signal = blinker.Signal()
    for receiver in receivers:
        signal.connect(receiver)
        signal.connect(receiver, sender=Invoice)
    weave((Invoice, "pay"), Emit(signal))
    Invoice().pay(2)
    woven = list(order)
    order.clear()
    signal.send(Invoice, instance=2, **PAYLOAD)
    assert woven == order
    assert sorted(woven) == list(range(12))


class Holder:
    """A method whose body drops the last reference to a receiver."""

    held: dict[str, Any] = {}

    def drop(self) -> int:
        self.held.clear()
        gc.collect()
        return 1


@pytest.mark.parametrize("kind", ["django", "blinker", "eventweave"])
def test_a_weak_receiver_the_body_drops_is_not_called_after_it(kind: str) -> None:
    # send() after the body would skip it; the woven call's frame must not
    # have kept it alive through the body.
    from eventweave import Signal

    calls: list[str] = []
    pre: Any
    post: Any
    if kind == "eventweave":
        pre, post = Signal(), Signal()
    else:
        pre, post = new_signal(kind), new_signal(kind)

    def receive(*args: Any, **named: Any) -> None:
        calls.append("post" if "result" in named else "pre")

    pre.connect(receive)
    post.connect(receive)
    weave((Holder, "drop"), Emit(pre, post))
    assert Holder().drop() == 1  # the signals' state is made: the next call is the usual one
    assert calls == ["pre", "post"]
    calls.clear()
    Holder.held["receiver"] = receive
    ref = weakref.ref(receive)
    del receive
    assert Holder().drop() == 1
    assert ref() is None
    assert calls == ["pre"]


def test_a_parameter_named_like_blinkers_own_keyword_is_kept_from_receivers() -> None:
    # blinker's send takes _async_wrapper= itself: receivers never get it.
    got: list[set[str]] = []

    class Jobs:
        def run(self, n: int, _async_wrapper: Any = None) -> int:
            return n

    signal = blinker.Signal()

    def receiver(sender: Any, **named: Any) -> None:
        got.append(set(named))

    signal.connect(receiver)
    weave((Jobs, "run"), Emit(signal))
    assert Jobs().run(1) == 1
    signal.send(Jobs, n=1, _async_wrapper=None)
    assert "_async_wrapper" not in got[0]
    assert got[0] - {"args", "kwargs", "instance", "method"} == got[1]


def test_a_send_patched_on_a_signal_sent_through_its_send_is_called() -> None:
    # A caching Django signal is always sent through its send(): the one on
    # the object at the call, as code written by hand would find it.
    signal = django.dispatch.Signal(use_caching=True)
    recorder = woven_with_one_receiver(signal)
    Invoice().pay(2)
    assert names(recorder.take()) == ["r"]
    with mock.patch.object(signal, "send") as send:
        Invoice().pay(2)
    send.assert_called_once_with(Invoice, instance=2, **PAYLOAD)
    assert recorder.take() == []
