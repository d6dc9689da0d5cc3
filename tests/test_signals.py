"""Tests for `eventweave._signals`: the sync side of Signal, receiver and connected_to."""

from __future__ import annotations

import gc
import logging
import sys
import threading
import types
import weakref
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import django.dispatch
import pytest

from eventweave._signals import Signal, connected_to, receiver
from tests.threads import run_threads


def answer(val: object = None, **kwargs: Any) -> object:
    return val


class Listener:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return "called"

    def method(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return "method"


class Sender:
    pass


@pytest.fixture
def sig() -> Iterator[Signal]:
    signal = Signal()
    yield signal
    assert not signal.receivers, "a test left receivers connected"


# -- receivers, the public "anyone listening?" test ------------------------------


def test_receivers_reads_as_an_empty_list_when_nobody_is_connected() -> None:
    sig = Signal()
    assert sig.receivers == []
    assert isinstance(sig.receivers, list)
    assert not sig.receivers


def test_receivers_lists_djangos_entries_once_someone_is_connected(sig: Signal) -> None:
    listener = Listener()
    sig.connect(answer)
    sig.connect(listener, sender=Sender, weak=False)
    entries = sig.receivers
    assert len(entries) == 2
    (key, ref, is_async), (key2, strong, is_async2) = entries
    assert key == (id(answer), id(None)) and key2 == (id(listener), id(Sender))
    assert isinstance(ref, weakref.ReferenceType) and ref() is answer
    assert strong is listener  # weak=False keeps the receiver itself, as Django does
    assert is_async is False and is_async2 is False
    sig.disconnect(answer)
    sig.disconnect(listener, sender=Sender)
    assert sig.receivers == []


def test_receivers_assigned_empty_mutes_send_at_once_and_restores(sig: Signal) -> None:
    listener = Listener()
    sig.connect(listener, weak=False)
    saved = sig.receivers
    sig.receivers = []
    assert sig.send(None) == []
    assert not sig.has_listeners()
    sig.receivers = saved
    assert sig.send(None) == [(listener, "called")]
    assert sig.has_listeners()
    sig.disconnect(listener)


def test_receivers_restored_with_plus_equals_keeps_those_connected_meanwhile(sig: Signal) -> None:
    # factory_boy's mute_signals: saved = sig.receivers; sig.receivers = [];
    # ...; sig.receivers += saved; sig.sender_receivers_cache.clear()
    first, second = Listener(), Listener()
    sig.connect(first, weak=False)
    saved = sig.receivers
    sig.receivers = []
    sig.connect(second, weak=False)
    sig.receivers += saved
    with sig.lock:
        sig.sender_receivers_cache.clear()
    assert [r for r, _ in sig.send(None)] == [second, first]
    sig.disconnect(first)
    sig.disconnect(second)


def test_receivers_changed_in_place_is_written_back(sig: Signal) -> None:
    listener = Listener()
    sig.connect(listener, weak=False)
    entries = sig.receivers
    entries.clear()
    assert sig.send(None) == []
    entries.append(saved_entry(listener))
    assert sig.send(None) == [(listener, "called")]
    del sig.receivers[0]
    assert sig.receivers == []


def saved_entry(listener: Listener) -> Any:
    probe = Signal()
    probe.connect(listener, weak=False)
    return probe.receivers[0]


def test_receivers_accepts_djangos_own_entry_shape(sig: Signal) -> None:
    def handler(**kwargs: Any) -> str:
        return "handled"

    sig.receivers = [((id(handler), id(None)), weakref.ref(handler), False)]
    assert sig.send(None) == [(handler, "handled")]
    sig.receivers = []


def test_receivers_refuses_an_entry_of_another_shape(sig: Signal) -> None:
    with pytest.raises(TypeError, match=r"\(lookup_key, receiver, is_async\) entries"):
        sig.receivers = [answer]
    assert sig.receivers == []


def test_receivers_assignment_is_seen_by_woven_code(sig: Signal) -> None:
    from eventweave import Emit, unweave_all, weave

    class Local:
        def run(self) -> str:
            return "ran"

    listener = Listener()
    sig.connect(listener, weak=False)
    weave((Local, "run"), Emit(pre=sig))
    try:
        saved = sig.receivers
        sig.receivers = []
        Local().run()
        assert listener.calls == []
        sig.receivers = saved
        Local().run()
        assert len(listener.calls) == 1
    finally:
        unweave_all()
        sig.disconnect(listener)


def test_live_receivers_and_clear_dead_receivers_behave_as_djangos(sig: Signal) -> None:
    listener: Listener | None = Listener()
    assert listener is not None
    sig.connect(listener.method)
    sig.connect(answer, sender=Sender)
    sync, async_ = sig._live_receivers(Sender)
    assert [getattr(r, "__func__", r) for r in sync] == [Listener.method, answer]
    assert async_ == []
    del sync
    with sig.lock:
        listener = None
        gc.collect()
        sig._clear_dead_receivers()  # the caller holds the lock, as in Django
        assert len(sig.receivers) == 1
    sig.disconnect(answer, sender=Sender)


def test_connect_and_disconnect_rebuild_nothing_per_receiver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # O(1) per connect: no change copies the receivers; the first send after
    # the changes builds what it needs, once.
    from eventweave import _signals

    built: list[int] = []
    original = _signals._filled

    def counting(entries: Any) -> Any:
        entries = tuple(entries)
        built.append(len(entries))
        return original(entries)

    monkeypatch.setattr(_signals, "_filled", counting)
    sig = Signal()
    listeners = [Listener() for _ in range(2000)]
    for each in listeners:
        sig.connect(each, weak=False)
    assert built == []
    assert len(sig.send(None)) == 2000
    assert len(sig.send(None)) == 2000
    assert built == [2000]
    for each in listeners:
        assert sig.disconnect(each)
    assert built == [2000]
    assert sig.receivers == []


def test_send_takes_no_lock(sig: Signal) -> None:
    sig.connect(answer)
    results: list[object] = []
    with sig.lock:
        worker = threading.Thread(target=lambda: results.append(sig.send(None, val=1)))
        worker.start()
        worker.join(timeout=5)
        assert not worker.is_alive(), "send blocked on the signal's lock"
    assert results == [[(answer, 1)]]
    sig.disconnect(answer)


# -- send -------------------------------------------------------------------------


def test_send_without_receivers_returns_empty_list(sig: Signal) -> None:
    assert sig.send(sender=Sender, val="test") == []


def test_receiver_gets_signal_sender_and_named_arguments(sig: Signal) -> None:
    listener = Listener()
    sig.connect(listener)
    sig.send(Sender, val=1, other="x")
    assert listener.calls == [{"signal": sig, "sender": Sender, "val": 1, "other": "x"}]
    sig.disconnect(listener)


def test_receivers_are_called_in_connection_order(sig: Signal) -> None:
    order: list[str] = []

    def first(**kwargs: Any) -> None:
        order.append("first")

    def second(**kwargs: Any) -> None:
        order.append("second")

    def third(**kwargs: Any) -> None:
        order.append("third")

    for each in (second, first, third):
        sig.connect(each)
    result = sig.send(None)
    assert order == ["second", "first", "third"]
    assert [r for r, _ in result] == [second, first, third]
    for each in (second, first, third):
        sig.disconnect(each)


def test_send_returns_each_receiver_with_its_response(sig: Signal) -> None:
    listener = Listener()
    sig.connect(answer)
    sig.connect(listener.method)
    assert sig.send(None, val="v") == [(answer, "v"), (listener.method, "method")]
    sig.disconnect(answer)
    sig.disconnect(listener.method)


def test_receiver_connected_to_a_sender_ignores_other_senders(sig: Signal) -> None:
    sig.connect(answer, sender=Sender)
    assert sig.send(object, val="test") == []
    assert sig.send(None, val="test") == []
    assert sig.send(Sender, val="test") == [(answer, "test")]
    sig.disconnect(answer, sender=Sender)


def test_receiver_connected_without_sender_hears_every_sender(sig: Signal) -> None:
    sig.connect(answer)
    assert sig.send(Sender, val=1) == [(answer, 1)]
    assert sig.send(None, val=2) == [(answer, 2)]
    assert sig.send("anything", val=3) == [(answer, 3)]
    sig.disconnect(answer)


def test_sender_specific_and_any_sender_receivers_keep_connection_order(sig: Signal) -> None:
    def one(**kwargs: Any) -> int:
        return 1

    def two(**kwargs: Any) -> int:
        return 2

    def three(**kwargs: Any) -> int:
        return 3

    sig.connect(one)
    sig.connect(two, sender=Sender)
    sig.connect(three)
    assert [r for r, _ in sig.send(Sender)] == [one, two, three]
    assert [r for r, _ in sig.send(object)] == [one, three]
    sig.disconnect(one)
    sig.disconnect(two, sender=Sender)
    sig.disconnect(three)


def test_bound_method_sender_is_matched_by_instance_and_function(sig: Signal) -> None:
    owner = Listener()
    # Every attribute access makes a new bound method object.
    sig.connect(answer, sender=owner.method)
    assert sig.send(owner.method, val=1) == [(answer, 1)]
    assert sig.send(Listener().method, val=2) == []
    sig.disconnect(answer, sender=owner.method)


def test_send_propagates_a_receiver_exception_and_stops(sig: Signal) -> None:
    called: list[str] = []

    def fails(**kwargs: Any) -> None:
        raise ValueError("boom")

    def after(**kwargs: Any) -> None:
        called.append("after")

    sig.connect(fails)
    sig.connect(after)
    with pytest.raises(ValueError, match="boom"):
        sig.send(None)
    assert called == []
    sig.disconnect(fails)
    sig.disconnect(after)


def test_receiver_disconnecting_itself_mid_send_lets_that_send_finish(sig: Signal) -> None:
    calls: list[str] = []

    def once(**kwargs: Any) -> None:
        calls.append("once")
        sig.disconnect(once)

    def later(**kwargs: Any) -> None:
        calls.append("later")

    sig.connect(once)
    sig.connect(later)
    sig.send(None)
    assert calls == ["once", "later"]
    sig.send(None)
    assert calls == ["once", "later", "later"]
    sig.disconnect(later)


def test_receiver_connected_mid_send_is_called_from_the_next_send(sig: Signal) -> None:
    calls: list[str] = []

    def late(**kwargs: Any) -> None:
        calls.append("late")

    def connects(**kwargs: Any) -> None:
        calls.append("connects")
        sig.connect(late)

    sig.connect(connects)
    sig.send(None)
    assert calls == ["connects"]
    sig.send(None)
    assert calls == ["connects", "connects", "late"]
    sig.disconnect(connects)
    sig.disconnect(late)


# -- connect and disconnect ----------------------------------------------------


def test_connecting_the_same_receiver_twice_is_a_no_op(sig: Signal) -> None:
    listener = Listener()
    for _ in range(5):
        sig.connect(listener)
    assert len(sig.receivers) == 1
    assert len(sig.send(None)) == 1
    sig.disconnect(listener)


def test_connecting_the_same_bound_method_twice_is_a_no_op(sig: Signal) -> None:
    listener = Listener()
    sig.connect(listener.method)
    sig.connect(listener.method)
    assert len(sig.send(None)) == 1
    assert sig.disconnect(listener.method)


def test_same_receiver_for_two_senders_is_two_connections(sig: Signal) -> None:
    sig.connect(answer, sender=Sender)
    sig.connect(answer, sender=object)
    assert len(sig.receivers) == 2
    assert sig.send(Sender, val=1) == [(answer, 1)]
    assert sig.disconnect(answer, sender=Sender)
    assert sig.disconnect(answer, sender=object)


def test_dispatch_uid_keeps_only_the_first_receiver(sig: Signal) -> None:
    def first(**kwargs: Any) -> str:
        return "first"

    def second(**kwargs: Any) -> str:
        return "second"

    sig.connect(first, dispatch_uid="uid")
    sig.connect(second, dispatch_uid="uid")
    assert len(sig.receivers) == 1
    assert sig.send(None) == [(first, "first")]
    sig.disconnect(dispatch_uid="uid")


def test_disconnect_by_dispatch_uid_needs_no_receiver(sig: Signal) -> None:
    sig.connect(answer, dispatch_uid="uid", sender=Sender)
    assert not sig.disconnect(dispatch_uid="uid")  # wrong sender
    assert sig.disconnect(dispatch_uid="uid", sender=Sender)


def test_disconnect_returns_true_for_a_connected_receiver(sig: Signal) -> None:
    sig.connect(answer)
    assert sig.disconnect(answer) is True


def test_disconnect_returns_false_for_an_unknown_receiver(sig: Signal) -> None:
    sig.connect(answer)
    assert sig.disconnect(Listener()) is False
    assert sig.disconnect(answer, sender=Sender) is False
    assert sig.disconnect(answer) is True
    assert sig.disconnect(answer) is False


def test_receiver_without_kwargs_is_rejected_with_djangos_error_and_its_name(sig: Signal) -> None:
    def no_kwargs(sender: object) -> None:
        pass

    with pytest.raises(ValueError) as excinfo:
        sig.connect(no_kwargs)
    message = str(excinfo.value)
    assert message.startswith("Signal receivers must accept keyword arguments (**kwargs).")
    assert f"{__name__}:test_receiver_without_kwargs" in message
    assert sig.receivers == []


def test_bound_method_without_kwargs_is_rejected_with_its_name(sig: Signal) -> None:
    class Handler:
        def on_event(self, sender: object) -> None:
            pass

    with pytest.raises(ValueError, match=r"\(\*\*kwargs\)\. [\w.]+:.*Handler\.on_event does not"):
        sig.connect(Handler().on_event)


def test_callable_object_without_kwargs_is_rejected_with_its_class(sig: Signal) -> None:
    class Strict:
        def __call__(self, sender: object) -> None:
            pass

    with pytest.raises(ValueError, match=r"[\w.]+:.*Strict does not accept|Strict does not"):
        sig.connect(Strict(), weak=False)


def test_decorated_receiver_is_judged_by_the_signature_it_shows(sig: Signal) -> None:
    import functools

    def strict(sender: object) -> None:
        pass

    @functools.wraps(strict)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        pass

    with pytest.raises(ValueError, match="must accept keyword arguments"):
        sig.connect(wrapper)  # inspect.signature shows strict's parameters, as Django checks


def test_non_callable_receiver_is_rejected_with_djangos_error(sig: Signal) -> None:
    with pytest.raises(TypeError, match=r"^Signal receivers must be callable\. Got <object"):
        sig.connect(object())  # type: ignore[arg-type]


def test_receiver_that_cannot_be_weakly_referenced_is_told_to_use_weak_false(
    sig: Signal,
) -> None:
    class Slotted:
        __slots__ = ()

        def __call__(self, **kwargs: Any) -> str:
            return "slotted"

    slotted = Slotted()
    with pytest.raises(TypeError, match=r"cannot be weakly referenced; connect it with weak=False"):
        sig.connect(slotted)
    sig.connect(slotted, weak=False)
    assert sig.send(None) == [(slotted, "slotted")]
    sig.disconnect(slotted)


# -- weak references ---------------------------------------------------------------


def test_collected_function_receiver_is_pruned(sig: Signal) -> None:
    def make() -> Any:
        def temporary(**kwargs: Any) -> None:
            pass

        return temporary

    temporary = make()
    sig.connect(temporary)
    assert sig.receivers
    del temporary
    gc.collect()
    assert not sig.receivers
    assert sig.send(None) == []


def test_collected_bound_method_receiver_is_pruned(sig: Signal) -> None:
    listener = Listener()
    sig.connect(listener.method, sender=Sender)
    del listener
    gc.collect()
    assert sig.send(Sender) == []
    assert not sig.has_listeners(Sender)
    assert not sig.receivers


def test_bound_method_does_not_keep_its_instance_alive(sig: Signal) -> None:
    listener = Listener()
    sig.connect(listener.method)
    ref = weakref.ref(listener)
    del listener  # no gc.collect(): a strong reference or a cycle would keep it
    assert ref() is None
    assert not sig.receivers


def test_a_module_function_rebound_in_its_module_is_dropped_as_in_django(sig: Signal) -> None:
    # Reloading a module, or monkeypatching its receiver, leaves the connected
    # function with no other reference: it is collected and no longer called.
    module = types.ModuleType("eventweave_test_rebound")
    exec("calls = []\ndef on_event(**kwargs):\n    calls.append('old')\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        calls = module.calls
        sig.connect(module.on_event)
        sig.send(None)  # the first send fills the generation: the old function is called
        module.on_event = lambda **kwargs: calls.append("new")  # never connected
        gc.collect()
        sig.send(None)
        assert calls == ["old"]
        assert sig.receivers == []
    finally:
        del sys.modules[module.__name__]


def test_weak_false_keeps_a_receiver_alive(sig: Signal) -> None:
    sig.connect(lambda **kwargs: "kept", weak=False)
    gc.collect()
    ((kept, response),) = sig.send(None)
    assert response == "kept"
    assert sig.disconnect(kept)


def test_weak_lambda_is_gone_at_once(sig: Signal) -> None:
    sig.connect(lambda **kwargs: "lost")
    gc.collect()
    assert sig.send(None) == []
    assert not sig.receivers


def test_receiver_dying_while_the_lock_is_held_does_not_block(sig: Signal) -> None:
    listener: Listener | None = Listener()
    assert listener is not None
    sig.connect(listener.method)
    seen: list[object] = []

    def die_under_the_lock() -> None:
        nonlocal listener
        with sig.lock:
            listener = None
            gc.collect()  # the weakref callback runs here, in the lock-holding thread
            seen.append(bool(sig.receivers))
            seen.append(sig.send(None))  # send skips the dead receiver meanwhile

    worker = threading.Thread(target=die_under_the_lock, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "the weakref callback blocked on the lock"
    # The lock is re-entrant: the callback prunes at once in the thread holding it.
    assert seen == [False, []]
    assert not sig.has_listeners()
    assert not sig.receivers


def test_receiver_dying_while_another_thread_holds_the_lock_is_skipped(sig: Signal) -> None:
    listener: Listener | None = Listener()
    assert listener is not None
    sig.connect(listener.method)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sig.lock:
            holding.set()
            release.wait(5)

    worker = threading.Thread(target=hold, daemon=True)
    worker.start()
    assert holding.wait(5)
    listener = None
    gc.collect()  # the callback cannot take the lock: it only flags
    assert len(sig.receivers) == 1
    assert sig.send(None) == []  # send skips the dead receiver meanwhile
    release.set()
    worker.join(5)
    assert not sig.has_listeners()
    assert sig.receivers == []


def test_dead_receiver_flagged_while_pruning_is_impossible_is_pruned_by_the_next_connect(
    sig: Signal,
) -> None:
    listener = Listener()
    sig.connect(listener)
    sig._changing += 1  # as inside a change this thread is making
    try:
        del listener
        gc.collect()
    finally:
        sig._changing -= 1
    assert len(sig.receivers) == 1
    sig.connect(answer)
    assert [r for r, _ in sig.send(None)] == [answer]
    assert len(sig.receivers) == 1
    sig.disconnect(answer)


# -- send_robust ---------------------------------------------------------------------


def test_send_robust_returns_the_exception_as_the_response(sig: Signal) -> None:
    def fails(val: object, **kwargs: Any) -> None:
        raise ValueError("this")

    sig.connect(fails)
    ((who, err),) = sig.send_robust(Sender, val="test")
    assert who is fails
    assert isinstance(err, ValueError)
    assert err.args == ("this",)
    assert isinstance(err.__traceback__, TracebackType)
    sig.disconnect(fails)


def test_send_robust_calls_the_receivers_after_a_failing_one(sig: Signal) -> None:
    def fails(**kwargs: Any) -> None:
        raise RuntimeError("first fails")

    sig.connect(fails)
    sig.connect(answer)
    result = sig.send_robust(None, val="still called")
    assert result[1] == (answer, "still called")
    sig.disconnect(fails)
    sig.disconnect(answer)


def test_send_robust_logs_the_failure_with_the_receiver_qualname(
    sig: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    def fails(**kwargs: Any) -> None:
        raise ValueError("broken receiver")

    sig.connect(fails)
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        sig.send_robust(None)
    (record,) = caplog.records
    assert record.name == "eventweave"
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"Error calling {fails.__qualname__} in Signal.send_robust() (broken receiver)"
    )
    assert record.exc_info is not None
    assert record.exc_info[1] is not None
    assert record.exc_info[1].args == ("broken receiver",)
    sig.disconnect(fails)


def test_send_robust_names_a_callable_object_by_its_class(
    sig: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def __call__(self, **kwargs: Any) -> None:
            raise KeyError("k")

    broken = Broken()
    sig.connect(broken)
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        ((_, err),) = sig.send_robust(None)
    assert isinstance(err, KeyError)
    assert f"Error calling {Broken.__qualname__} in" in caplog.records[0].getMessage()
    sig.disconnect(broken)


def test_send_robust_lets_base_exceptions_through(sig: Signal) -> None:
    class Stop(BaseException):
        pass

    def stops(**kwargs: Any) -> None:
        raise Stop

    sig.connect(stops)
    with pytest.raises(Stop):
        sig.send_robust(None)
    sig.disconnect(stops)


def test_send_robust_without_receivers_returns_empty_list(sig: Signal) -> None:
    assert sig.send_robust(Sender, val="test") == []


# -- has_listeners ------------------------------------------------------------------


def test_has_listeners_is_false_without_receivers(sig: Signal) -> None:
    assert not sig.has_listeners()
    assert not sig.has_listeners(sender=object())


def test_has_listeners_counts_any_sender_receivers_for_every_sender(sig: Signal) -> None:
    listener = Listener()
    sig.connect(listener)
    assert sig.has_listeners()
    assert sig.has_listeners(sender=object())
    sig.disconnect(listener)
    assert not sig.has_listeners()


def test_has_listeners_counts_sender_receivers_for_that_sender_only(sig: Signal) -> None:
    sig.connect(answer, sender=Sender)
    assert sig.has_listeners(Sender)
    assert not sig.has_listeners(object)
    assert not sig.has_listeners()  # as in Django: no sender means "any sender" receivers
    sig.disconnect(answer, sender=Sender)


# -- use_caching ------------------------------------------------------------------------


def test_cached_signal_lets_the_sender_be_collected() -> None:
    sig = Signal(use_caching=True)

    class Transient:
        pass

    ref = weakref.ref(Transient)
    sig.connect(answer)
    sig.connect(answer, sender=Transient)
    sig.send(Transient, val="garbage")
    sig.disconnect(answer, sender=Transient)
    del Transient
    gc.collect()
    assert ref() is None
    sig.disconnect(answer)
    assert not sig.receivers


def test_cached_signal_sees_receivers_connected_after_a_send() -> None:
    sig = Signal(use_caching=True)
    sig.connect(answer, sender=Sender)
    assert sig.send(Sender, val=1) == [(answer, 1)]
    listener = Listener()
    sig.connect(listener, sender=Sender)
    assert [r for r, _ in sig.send(Sender)] == [answer, listener]
    sig.disconnect(answer, sender=Sender)
    assert [r for r, _ in sig.send(Sender)] == [listener]
    sig.disconnect(listener, sender=Sender)
    assert sig.send(Sender) == []
    assert not sig.receivers


def test_cached_signal_accepts_senders_that_cannot_be_weakly_referenced() -> None:
    sig = Signal(use_caching=True)
    sig.connect(answer)
    assert sig.send(object(), val=1) == [(answer, 1)]
    assert sig.send(None, val=2) == [(answer, 2)]
    sig.disconnect(answer)
    assert not sig.receivers


# -- connected_to ----------------------------------------------------------------------


def test_connected_to_connects_inside_the_block_only(sig: Signal) -> None:
    with sig.connected_to(lambda **kwargs: "inside"):
        assert [response for _, response in sig.send(None)] == ["inside"]
    assert sig.send(None) == []
    assert not sig.receivers


def test_connected_to_disconnects_when_the_block_raises(sig: Signal) -> None:
    with pytest.raises(ZeroDivisionError), sig.connected_to(answer):
        assert sig.receivers
        _ = 1 / 0
    assert not sig.receivers


def test_connected_to_honours_the_sender(sig: Signal) -> None:
    with sig.connected_to(answer, sender=Sender):
        assert sig.send(object, val=1) == []
        assert sig.send(Sender, val=2) == [(answer, 2)]
    assert not sig.receivers


def test_connected_to_leaves_an_already_connected_receiver_connected(sig: Signal) -> None:
    sig.connect(answer)
    with sig.connected_to(answer):
        pass
    assert sig.send(None, val=1) == [(answer, 1)]
    sig.disconnect(answer)


def test_connected_to_function_handles_a_list_of_signals() -> None:
    first, second = Signal(), Signal()
    with connected_to([first, second], answer, sender=Sender):
        assert first.send(Sender, val=1) == [(answer, 1)]
        assert second.send(Sender, val=2) == [(answer, 2)]
    assert not first.receivers
    assert not second.receivers


def test_connected_to_function_works_with_a_django_signal() -> None:
    django_signal = django.dispatch.Signal()
    with connected_to(django_signal, answer):
        assert django_signal.send(None, val=1) == [(answer, 1)]
    assert not django_signal.has_listeners()


# -- receiver decorator -------------------------------------------------------------


def test_receiver_decorator_returns_the_function_unchanged(sig: Signal) -> None:
    def handler(**kwargs: Any) -> str:
        return "handled"

    assert receiver(sig)(handler) is handler
    assert sig.send(None) == [(handler, "handled")]
    sig.disconnect(handler)


def test_receiver_decorator_connects_to_a_list_of_signals() -> None:
    signals = [Signal(), Signal(), Signal()]
    seen: list[str] = []

    @receiver(signals)
    def handler(val: str, **kwargs: Any) -> None:
        seen.append(val)

    signals[0].send(None, val="a")
    signals[2].send(None, val="c")
    signals[1].send(None, val="b")
    assert seen == ["a", "c", "b"]
    for each in signals:
        assert each.disconnect(handler)
        assert not each.receivers


def test_receiver_decorator_passes_sender_on(sig: Signal) -> None:
    @receiver(sig, sender=Sender)
    def handler(**kwargs: Any) -> str:
        return "handled"

    assert sig.send(object) == []
    assert sig.send(Sender) == [(handler, "handled")]
    assert sig.disconnect(handler, sender=Sender)


def test_receiver_decorator_passes_dispatch_uid_on(sig: Signal) -> None:
    @receiver((sig,), dispatch_uid="audit")
    def handler(**kwargs: Any) -> str:
        return "first"

    @receiver((sig,), dispatch_uid="audit")
    def duplicate(**kwargs: Any) -> str:
        return "second"

    assert sig.send(None) == [(handler, "first")]
    assert sig.disconnect(dispatch_uid="audit")


def test_receiver_decorator_connects_to_a_django_signal() -> None:
    django_signal = django.dispatch.Signal()

    @receiver(django_signal)
    def handler(**kwargs: Any) -> str:
        return "handled"

    assert django_signal.send(None) == [(handler, "handled")]
    assert django_signal.disconnect(handler)


# -- threads -------------------------------------------------------------------------


@pytest.fixture
def fast_switching() -> Iterator[None]:
    # Switch threads every few bytecodes so races get a chance to happen.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def _make_receivers(count: int) -> list[Listener]:
    return [Listener() for _ in range(count)]


def test_concurrent_connects_lose_no_receiver(sig: Signal, fast_switching: None) -> None:
    groups = [_make_receivers(50) for _ in range(8)]

    def connect_all(group: list[Listener]) -> Any:
        def run() -> None:
            for each in group:
                sig.connect(each, weak=False)

        return run

    run_threads([connect_all(group) for group in groups])
    assert len(sig.receivers) == 8 * 50
    assert len(sig.send(None)) == 8 * 50
    for group in groups:
        for each in group:
            assert sig.disconnect(each)


def test_concurrent_disconnects_remove_every_receiver(sig: Signal, fast_switching: None) -> None:
    groups = [_make_receivers(50) for _ in range(8)]
    for group in groups:
        for each in group:
            sig.connect(each, weak=False)
    results: list[bool] = []

    def disconnect_all(group: list[Listener]) -> Any:
        return lambda: results.extend(sig.disconnect(each) for each in group)

    run_threads([disconnect_all(group) for group in groups])
    assert results == [True] * (8 * 50)
    assert not sig.receivers


def test_send_during_concurrent_connect_and_disconnect_never_fails(
    sig: Signal, fast_switching: None
) -> None:
    stable = Listener()
    sig.connect(stable, sender=Sender)
    churn = [_make_receivers(30) for _ in range(4)]
    done = threading.Event()
    sends: list[int] = []

    def churn_group(group: list[Listener]) -> Any:
        def run() -> None:
            for _ in range(10):
                for each in group:
                    sig.connect(each, sender=Sender)
                for each in group:
                    sig.disconnect(each, sender=Sender)

        return run

    def send_until_done() -> None:
        while not done.is_set():
            responses = sig.send(Sender)
            assert responses[0] == (stable, "called")
            sends.append(len(responses))

    def churn_then_stop() -> None:
        try:
            run_threads([churn_group(group) for group in churn])
        finally:
            done.set()

    run_threads([send_until_done, send_until_done, churn_then_stop])
    assert sends, "no send ran"
    assert len(sig.receivers) == 1
    assert sig.disconnect(stable, sender=Sender)


# -- the watch protocol woven wrappers gate on ------------------------------------


def test_watchers_hear_each_change_of_emptiness_only() -> None:
    sig = Signal()
    heard: list[bool] = []
    unwatch = sig.__eventweave_watch__(lambda: heard.append(bool(sig.receivers)))

    def first(**kwargs: object) -> None: ...

    def second(**kwargs: object) -> None: ...

    sig.connect(first)
    sig.connect(second)
    sig.disconnect(first)
    sig.disconnect(second)
    assert heard == [True, False]
    unwatch()
    sig.connect(first, weak=False)
    assert heard == [True, False]
    sig.disconnect(first)
    assert not sig.receivers


def test_watchers_hear_a_collected_receiver_pruned() -> None:
    sig = Signal()
    heard: list[bool] = []
    sig.__eventweave_watch__(lambda: heard.append(bool(sig.receivers)))

    def transient(**kwargs: object) -> None: ...

    sig.connect(transient)
    del transient
    gc.collect()
    assert heard == [True, False]
    assert not sig.receivers


def test_a_receiver_whose_eq_cannot_take_none_is_sent_to() -> None:
    # Receivers are only ever compared by identity.
    calls: list[str] = []

    class Handler:
        def __init__(self, name: str) -> None:
            self.name = name

        def __eq__(self, other: object) -> bool:
            if other is None:
                raise TypeError("a handler is compared with handlers only")
            return self is other

        __hash__ = object.__hash__

        def __call__(self, **named: Any) -> None:
            calls.append(self.name)

    signal = Signal()
    handler = Handler("audit")
    signal.connect(handler, weak=False)
    signal.send(object)
    signal.send(object)
    assert calls == ["audit", "audit"]


def test_every_change_of_receivers_moves_the_epoch(sig: Signal) -> None:
    # What is worked out from several signals' receivers is kept with the
    # epoch it was worked out in (the HTTP instrumentation's names read): a
    # change that left the epoch where it was would leave it stale.
    from eventweave._signals import epoch

    def listener(sender: Any, **named: Any) -> None:
        pass

    def other(sender: Any, **named: Any) -> None:
        pass

    seen = [epoch.now]

    def moved() -> bool:
        seen.append(epoch.now)
        return seen[-1] is not seen[-2]

    sig.connect(listener)
    assert moved()
    sig.connect(other, weak=False)
    assert moved()
    sig.disconnect(other)
    assert moved()
    saved = sig.receivers
    sig.receivers = []
    assert moved()
    sig.receivers = saved
    assert moved()
    Signal().connect(other, weak=False)  # any signal's change moves it
    assert moved()
    del listener
    gc.collect()
    assert moved()
    sig.send(None)
    assert not moved()  # sending changes nothing
