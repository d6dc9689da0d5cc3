"""Signals: Django's ``Signal`` API, dispatched without a lock.

:class:`Signal` is a drop-in for ``django.dispatch.Signal`` (Django 5 API and
behaviour, sync and async receivers alike), including the parts of its
inside that tools reach into: ``receivers`` reads as Django's list of
``(lookup_key, receiver, is_async)`` entries and can be assigned (factory_boy's
``mute_signals`` saves it, assigns ``[]`` and restores it), and
``sender_receivers_cache``, ``_live_receivers`` and
``_clear_dead_receivers`` behave as Django 5's.

What differs is how sending finds the receivers:

- The connected receivers live in a dict keyed by lookup key, changed only
  under ``lock``: connect and disconnect cost O(1), whatever the count.
- Every change publishes a fresh, empty *generation* (one attribute
  assignment). ``send`` reads the current generation once, and the first send
  after a change fills it from a snapshot of the receivers: the list for
  senders without receivers of their own, and, when every receiver hears
  every sender and is sync, a flat tuple of receiver getters that woven code
  loops over inline (and, when every one of them was connected with
  ``weak=False``, the tuple of the receivers themselves). A generation is
  never filled from receivers older than itself, so a send can never miss a
  receiver connected before it started, and ``send`` takes no lock.
- Each receiver is classified once, at connect time (weak or strong, sync or
  async, which senders it hears).
- A weak receiver that is garbage collected raises a flag and publishes a
  fresh generation from the weakref callback (the collector may run while
  this very thread holds ``lock``); it is pruned at once if the lock is free,
  else by the next connect, disconnect or ``has_listeners``. ``send`` skips
  it meanwhile.

Async bridging uses ``asgiref`` (``async_to_sync``/``sync_to_async``, as
Django does) when it can be imported. Without it, eventweave falls back to
its own bridge: ``send`` runs async receivers in a fresh event loop in the
calling thread, or, when that thread already runs a loop, in a worker thread
with a copy of the caller's context; ``asend`` runs sync receivers in the
running loop's default executor with a copy of the caller's context. Either
way, context variables set by receivers are copied back to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import itertools
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine, Hashable, Iterable, Iterator, Sequence
from itertools import repeat
from types import FunctionType, MethodType
from typing import Any, ParamSpec, Protocol, TypeVar

from ._reads import names_read

try:
    import asgiref.sync
except ImportError:  # asgiref comes with Django; eventweave itself does not need it
    HAVE_ASGIREF = False
else:
    HAVE_ASGIREF = True

__all__ = ["Signal", "connected_to", "receiver"]

logger = logging.getLogger("eventweave")

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")
_P = ParamSpec("_P")

_Response = tuple[Callable[..., Any], Any]
# A receiver as send() finds it: ``get()`` returns the receiver (for a weak
# bound method: its instance) or None once collected; ``get_func`` is set for
# weak bound methods only and returns their function.
_Slot = tuple[Callable[[], Any], Callable[[], Any] | None]
# (sync slots, async slots), each in connection order.
_Plan = tuple[tuple[_Slot, ...], tuple[_Slot, ...]]

_CO_VARKEYWORDS = inspect.CO_VARKEYWORDS


def _make_id(target: object) -> Hashable:
    # A bound method is a new object on every attribute access, so it is
    # identified by its instance and function, as Django does.
    if type(target) is MethodType:
        return (id(target.__self__), id(target.__func__))
    return id(target)


_tokens = itertools.count()
"""Identifies a watcher among a signal's watchers (``__eventweave_watch__``)."""

_ANY = _make_id(None)
"""Sender key of receivers connected with ``sender=None``: they hear every sender."""


class _Receiver(tuple):  # type: ignore[type-arg]
    """One connected receiver, shaped as Django 5 stores it: ``(lookup_key, receiver, is_async)``.

    ``receiver`` is a weak reference (``weakref.ref``, or ``WeakMethod`` for a
    bound method) or, for ``weak=False``, the receiver itself, as in Django.
    Besides the tuple, each carries how ``send`` reaches the receiver fast
    (``get``/``get_func``, see ``_Slot``), the key of the sender it hears, and
    whether ``get`` alone returns the receiver (``direct``: it can be called
    from woven code's inline loop).
    """

    get: Callable[[], Any]
    get_func: Callable[[], Any] | None
    sender_key: Hashable
    direct: bool

    def alive(self) -> bool:
        return self.get() is not None and (self.get_func is None or self.get_func() is not None)


def _adopt(item: Any) -> _Receiver:
    """An entry assigned to ``receivers`` from outside, made usable by ``send``.

    Entries ``Signal.receivers`` gave out are taken back as they are; others
    must have Django's shape, ``((receiver_key, sender_key), receiver, is_async)``
    (Django 4's two-item form is accepted too).
    """
    if isinstance(item, _Receiver):
        return item
    if not isinstance(item, tuple) or len(item) not in (2, 3):
        msg = (
            f"Signal.receivers holds (lookup_key, receiver, is_async) entries as connect() makes "
            f"them, got {item!r}; connect receivers with Signal.connect()"
        )
        raise TypeError(msg)
    key, ref = item[0], item[1]
    if not isinstance(key, tuple) or len(key) != 2:
        msg = f"Signal.receivers entry {item!r} has no (receiver_key, sender_key) lookup key"
        raise TypeError(msg)
    if isinstance(ref, weakref.ReferenceType):
        target = ref()
        get: Callable[[], Any] = ref
    else:
        target = ref
        get = repeat(ref).__next__
    is_async = bool(item[2]) if len(item) == 3 else _iscoroutinefunction(target)
    entry = _Receiver((key, ref, is_async))
    entry.get, entry.get_func, entry.sender_key = get, None, key[1]
    entry.direct = type(ref) is weakref.ref or not isinstance(ref, weakref.ReferenceType)
    return entry


_NOT_KNOWN = object()


class _Generation:
    """What ``send`` needs to know about one state of a signal's receivers.

    Published empty on every change; the first send fills it in (see the
    module docstring). ``default`` is None until then.
    """

    __slots__ = ("default", "flat", "held", "plans", "reads")

    def __init__(self) -> None:
        self.default: _Plan | None = None
        # The keyword arguments some receiver can read (see Signal._names_read).
        self.reads: frozenset[str] | object | None = _NOT_KNOWN
        # Getters of every receiver, when all are sync and hear every sender
        # and each getter returns the receiver itself, and ``held`` is None;
        # else None.
        self.flat: tuple[Callable[[], Any], ...] | None = None
        # The receivers themselves, when ``flat`` would do and each of them was
        # connected with weak=False (its entry holds it): no reference to
        # follow per call. ``flat`` is None then.
        self.held: tuple[Callable[..., Any], ...] | None = None
        # Plans of senders that have receivers of their own (None until
        # built); None when no receiver is connected for a particular sender.
        self.plans: dict[Hashable, _Plan | None] | None = None


def _filled(entries: Iterable[_Receiver]) -> _Generation:
    generation = _Generation()
    sync: list[_Slot] = []
    async_: list[_Slot] = []
    specific: list[Hashable] = []
    direct = True
    anyway: list[bool] = []
    for entry in entries:
        if not entry.alive():
            continue
        if entry.sender_key != _ANY:
            specific.append(entry.sender_key)
            continue
        (async_ if entry[2] else sync).append((entry.get, entry.get_func))
        direct = direct and entry.direct
        if not entry[2]:
            # entry[1] is the receiver itself when connected with weak=False
            anyway.append(entry[1] is entry.get())
    generation.plans = dict.fromkeys(specific) if specific else None
    if direct and not async_ and not specific:
        generation.flat = tuple(get for get, _ in sync)
        if all(anyway):
            held = tuple(get() for get in generation.flat)
            # None died meanwhile (tested by identity: a receiver's __eq__ is its own).
            if not any(receiver is None for receiver in held):
                generation.held = held
                generation.flat = None  # one or the other: generated code tests flat first
    generation.default = (tuple(sync), tuple(async_))
    return generation


def _union_read(entries: Iterable[_Receiver]) -> frozenset[str] | None:
    union: set[str] = set()
    for entry in entries:
        receiver = entry.get()
        if receiver is None:
            continue
        if entry.get_func is not None:
            function = entry.get_func()
            if function is None:
                continue
            receiver = MethodType(function, receiver)
        names = names_read(receiver)
        if names is None:
            return None
        union |= names
    return frozenset(union)


_EMPTY = _filled(())
_EMPTY.reads = frozenset()  # shared by every signal without receivers: never worked out
"""The generation of a signal nobody listens to (shared: nothing to fill in)."""


class _Epoch:
    """``now`` is a new object whenever any signal publishes a new generation.

    What is worked out from several signals' receivers (the names the
    receivers of an HTTP family can read) is kept with the epoch it was
    worked out in: one identity test then tells it still holds, instead of
    one per signal. Read ``now`` before reading the generations: a change is
    published (its generation set) before the epoch moves.
    """

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = object()

    def moved(self) -> None:
        self.now = object()  # never an int: two threads adding one could write the same


epoch = _Epoch()


def _plan_for(entries: Iterable[_Receiver], sender_key: Hashable) -> _Plan:
    sync: list[_Slot] = []
    async_: list[_Slot] = []
    for entry in entries:
        if entry.sender_key == _ANY or entry.sender_key == sender_key:
            (async_ if entry[2] else sync).append((entry.get, entry.get_func))
    return tuple(sync), tuple(async_)


def _resolve(slots: tuple[_Slot, ...]) -> list[Callable[..., Any]]:
    """The live receivers of ``slots``, strongly referenced, in order."""
    live: list[Callable[..., Any]] = []
    for get, get_func in slots:
        receiver = get()
        if receiver is None:
            continue
        if get_func is not None:
            function = get_func()
            if function is None:
                continue
            receiver = MethodType(function, receiver)
        live.append(receiver)
    return live


class _ReceiverList(list):  # type: ignore[type-arg]
    """``Signal.receivers``: Django's list of entries, written back on every change.

    Reading gives a list (``== []`` when nobody listens); changing it in
    place (``append``, ``+=``, ``del``, ``clear()``…) or assigning
    ``signal.receivers`` replaces the signal's receivers at once, for
    ``send``, ``has_listeners`` and woven code alike.
    """

    def __init__(self, signal: Signal, entries: Iterable[_Receiver]) -> None:
        super().__init__(entries)
        self._signal = signal

    def _changed(self) -> None:
        self._signal.receivers = self


def _writing_back(name: str) -> Any:
    method = getattr(list, name)

    @functools.wraps(method)
    def change(self: _ReceiverList, *args: Any) -> Any:
        result = method(self, *args)
        self._changed()
        return result

    return change


for _name in (
    "__delitem__",
    "__iadd__",
    "__imul__",
    "__setitem__",
    "append",
    "clear",
    "extend",
    "insert",
    "pop",
    "remove",
    "reverse",
    "sort",
):
    setattr(_ReceiverList, _name, _writing_back(_name))
del _name


class Signal:
    """A signal receivers connect to and senders send; Django's API and behaviour.

    Receivers are called as ``receiver(signal=self, sender=sender, **named)``,
    in the order they were connected (by ``send``, sync receivers first, then
    the async ones concurrently, as Django does). Connecting and disconnecting
    are thread-safe; sending takes no lock and may run concurrently with both.

    :param use_caching: accepted for compatibility with Django. It changes
        nothing: every signal keeps, with its current receivers, the list of
        receivers for each sender that has receivers of its own (built on
        first send, dropped on the next connect or disconnect), and a sender
        with none of its own costs no lookup at all. Nothing references a
        sender, so senders can be garbage collected.
    """

    def __init__(self, use_caching: bool = False) -> None:
        self.use_caching = use_caching
        self.lock = threading.RLock()
        """Serialises connect, disconnect and pruning; never taken by ``send``.

        Re-entrant, unlike Django's, so that code written against Django's
        internals may change ``receivers`` while holding it."""
        self.sender_receivers_cache: Any = weakref.WeakKeyDictionary() if use_caching else {}
        """Django's per-sender cache, kept for code that clears it; eventweave
        keeps its own, invalidated on every change, and never fills this one."""
        self._dead_receivers = False
        self._changing = 0  # > 0 while this signal's own code changes _entries under lock
        self._entries: dict[Hashable, _Receiver] = {}
        self._generation: _Generation = _EMPTY
        self._watchers: dict[int, Callable[[], None]] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} at {id(self):#x} with {len(self._entries)} receivers>"

    # -- Django's receivers list ---------------------------------------------

    @property
    def receivers(self) -> list[Any]:
        """The connected receivers, as Django 5 lists them: ``(lookup_key, receiver, is_async)``.

        It reads as a list — ``[]`` when nobody listens — and can be changed
        in place or assigned (``saved = sig.receivers; sig.receivers = []``
        … ``sig.receivers = saved``): the change takes effect at once. A weak
        receiver that was garbage collected is listed until it is pruned,
        which happens at once unless ``lock`` is busy.
        """
        return _ReceiverList(self, self._entries.values())

    @receivers.setter
    def receivers(self, entries: Iterable[Any]) -> None:
        adopted = {}
        for item in entries:
            entry = _adopt(item)
            adopted[entry[0]] = entry
        with self.lock:
            self._replace(adopted)

    # -- connecting ---------------------------------------------------------

    def connect(
        self,
        receiver: Callable[..., Any],
        sender: object = None,
        weak: bool = True,
        dispatch_uid: Hashable | None = None,
    ) -> None:
        """Connect ``receiver`` to this signal.

        Connecting a receiver that is already connected (same receiver and
        sender, or same ``dispatch_uid`` and sender) does nothing. Receivers
        may be ``async`` functions; whether they are is decided here, once.

        :param receiver: a callable accepting keyword arguments (``**kwargs``):
            it is called with ``signal=``, ``sender=`` and whatever the sender
            sends. A function, a bound method or a callable object.
        :param sender: the only sender to hear; ``None`` hears every sender.
            Senders are told apart by identity.
        :param weak: hold ``receiver`` by a weak reference (a bound method by
            weak references to its instance and function), so that it is
            disconnected when garbage collected. Use ``weak=False`` for
            lambdas and other callables nothing else keeps alive.
        :param dispatch_uid: a hashable identifying the receiver instead of its
            identity, so that connecting another receiver with the same uid
            (e.g. a module imported twice) does nothing.
        :raises TypeError: ``"Signal receivers must be callable."``, or the
            receiver cannot be weakly referenced while ``weak`` is true.
        :raises ValueError: ``"Signal receivers must accept keyword arguments
            (**kwargs)."``, as Django's.
        """
        self._connect(receiver, sender, weak, dispatch_uid)

    def _connect(
        self,
        receiver: Callable[..., Any],
        sender: object,
        weak: bool,
        dispatch_uid: Hashable | None,
    ) -> bool:
        _check_receiver(receiver)
        sender_key = _make_id(sender)
        key = (dispatch_uid if dispatch_uid else _make_id(receiver), sender_key)
        is_async = _iscoroutinefunction(receiver)
        get_func: Callable[[], Any] | None = None
        get: Callable[[], Any]
        reference: Any
        if not weak:
            # No weak reference at all for a strong receiver (Django's own
            # tests check that none is made); a C call still gives it back.
            reference = receiver
            get = repeat(receiver).__next__
        elif type(receiver) is MethodType:
            reference = _weak(receiver, self._remove_receiver, receiver, weakref.WeakMethod)
            # Two plain weakrefs besides Django's WeakMethod: send()
            # dereferences them in C rather than through WeakMethod.__call__.
            get = weakref.ref(receiver.__self__)
            get_func = weakref.ref(receiver.__func__)
        else:
            reference = get = _weak(receiver, self._remove_receiver, receiver, weakref.ref)
        entry = _Receiver((key, reference, is_async))
        entry.get, entry.get_func, entry.sender_key = get, get_func, sender_key
        entry.direct = get_func is None
        with self.lock:
            self._clear_dead_receivers()
            existing = self._entries.get(key)
            added = existing is None or not existing.alive()
            if added:

                def add(entries: dict[Hashable, _Receiver]) -> None:
                    entries.pop(key, None)  # a dead one whose id was reused goes last
                    entries[key] = entry

                self._changed(add)
        self._prune_if_dead()
        return added

    def disconnect(
        self,
        receiver: Callable[..., Any] | None = None,
        sender: object = None,
        dispatch_uid: Hashable | None = None,
    ) -> bool:
        """Disconnect a receiver from this signal.

        Weak receivers need not be disconnected: they go when collected.

        :param receiver: the receiver to disconnect; may be None when
            ``dispatch_uid`` is given.
        :param sender: the sender it was connected for (None: any sender).
        :param dispatch_uid: the uid it was connected with, if any.
        :returns: whether a receiver was disconnected.
        """
        key = (dispatch_uid if dispatch_uid else _make_id(receiver), _make_id(sender))
        with self.lock:
            self._clear_dead_receivers()
            disconnected = key in self._entries
            if disconnected:
                self._changed(lambda entries: entries.__delitem__(key))
        self._prune_if_dead()
        return disconnected

    @contextlib.contextmanager
    def connected_to(self, receiver: Callable[..., Any], sender: object = None) -> Iterator[None]:
        """Keep ``receiver`` connected for the duration of a ``with`` block.

        The receiver is held strongly inside the block (a lambda works) and
        disconnected on the way out, whether the block raises or not. A
        receiver that was already connected before the block stays connected.

        :param receiver: the receiver, as for :meth:`connect`.
        :param sender: the only sender to hear; ``None`` hears every sender.
        """
        added = self._connect(receiver, sender, False, None)
        try:
            yield
        finally:
            if added:
                self.disconnect(receiver, sender)

    def has_listeners(self, sender: object = None) -> bool:
        """Whether sending from ``sender`` would call any live receiver.

        :param sender: the sender to ask about; ``None`` asks about receivers
            that hear every sender only, as in Django.
        """
        self._prune_if_dead()
        sync, async_ = self._plan(sender)
        return bool(_resolve(sync) or _resolve(async_))

    def _live_receivers(self, sender: object) -> tuple[list[Any], list[Any]]:
        """``(sync receivers, async receivers)`` that sending from ``sender`` calls, as Django 5."""
        sync, async_ = self._plan(sender)
        return _resolve(sync), _resolve(async_)

    # -- publishing -----------------------------------------------------------

    def _changed(self, change: Callable[[dict[Hashable, _Receiver]], object]) -> None:
        # Caller holds self.lock. The entries change in place (O(1)), then a
        # fresh generation is published; watchers (woven code's gates) hear
        # each change of emptiness after it is visible to send(). They only
        # read, and take no lock of ours, so calling them here is safe.
        entries = self._entries
        was_listening = bool(entries)
        self._changing += 1
        try:
            change(entries)
        finally:
            self._changing -= 1
        self._generation = _Generation() if entries else _EMPTY
        epoch.moved()
        if was_listening != bool(entries):
            for watcher in list(self._watchers.values()):
                watcher()

    def _replace(self, entries: dict[Hashable, _Receiver]) -> None:
        # caller holds self.lock
        def swap(current: dict[Hashable, _Receiver]) -> None:
            current.clear()
            current.update(entries)

        self._changed(swap)

    def _plan(self, sender: object) -> _Plan:
        generation = self._generation
        default = generation.default
        if default is None:
            default = self._fill(generation).default
            assert default is not None
        plans = generation.plans
        if plans is None:
            return default
        key = (
            (id(sender.__self__), id(sender.__func__)) if type(sender) is MethodType else id(sender)
        )
        # Keys are seeded with None for the senders that have receivers of
        # their own; any other sender gets the "any sender" plan, so the
        # table stays as small as the set of connected senders.
        plan = plans.get(key, default)
        if plan is None:
            plan = plans[key] = _plan_for(self._snapshot(), key)
        return plan

    def _names_read(self) -> frozenset[str] | None:
        """The keyword arguments any receiver of this signal can read; None: any.

        Worked out once per state of the receivers (see :mod:`eventweave._reads`),
        for every receiver, whichever sender it hears.
        """
        generation = self._generation
        reads = generation.reads
        if reads is _NOT_KNOWN:
            reads = _union_read(self._snapshot())
            # Kept only if no change published a newer generation meanwhile:
            # the snapshot may hold receivers newer than this generation.
            if self._generation is generation:
                generation.reads = reads
        return reads  # type: ignore[return-value]

    def _snapshot(self) -> tuple[_Receiver, ...]:
        # Taken without the lock: a change made meanwhile has published a
        # newer generation, so what is built from an older snapshot is only
        # ever stored in a generation that is already superseded.
        while True:
            try:
                return tuple(self._entries.values())
            except RuntimeError:  # changed during the copy (a collector callback)
                continue

    def _fill(self, generation: _Generation) -> _Generation:
        filled = _filled(self._snapshot())
        generation.plans = filled.plans
        generation.flat = filled.flat
        generation.held = filled.held
        generation.default = filled.default  # last: marks the generation as filled
        return generation

    def __eventweave_watch__(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` whenever the signal turns from nobody listening to someone, or back.

        This lets woven code switch between its idle and its listening form
        instead of testing the receivers on every call. Returns the function
        that stops the watching. O(1) either way.
        """
        token = watch_token()
        self._watch_as(token, callback)
        return functools.partial(self._unwatch, token)

    def _unwatch(self, token: int) -> None:
        with self.lock:
            self._watchers.pop(token, None)

    def _watch_as(self, token: int, callback: Callable[[], None]) -> None:
        """:meth:`__eventweave_watch__` under a token from :func:`watch_token`, undone by
        ``_unwatch(token)``: what woven code uses to watch several signals with one token
        and no unwatch function per signal."""
        with self.lock:
            self._watchers[token] = callback

    # -- pruning ------------------------------------------------------------

    def _remove_receiver(self, receiver: object = None) -> None:
        # Weakref callback (Django's name for it), run by the garbage
        # collector, possibly while this very thread holds self.lock (a
        # collection can start anywhere inside connect or disconnect): flag,
        # publish a fresh generation so that no send keeps using the dead
        # receiver's getter, and prune only if the lock is free.
        self._dead_receivers = True
        if self._entries:
            self._generation = _Generation()
            epoch.moved()
        self._prune_if_dead()

    def _prune_if_dead(self) -> None:
        if self._dead_receivers and self.lock.acquire(blocking=False):
            try:
                # Not in the middle of a change this very thread is making
                # (the lock is re-entrant): that change's end prunes instead.
                if not self._changing:
                    self._clear_dead_receivers()
            finally:
                self.lock.release()

    def _clear_dead_receivers(self) -> None:
        """Drop receivers that were garbage collected; the caller holds ``lock``, as in Django."""
        # The flag is cleared before the scan, so a receiver dying during the
        # scan raises it again.
        if self._dead_receivers:
            self._dead_receivers = False
            dead = [key for key, entry in list(self._entries.items()) if not entry.alive()]
            if dead:

                def drop(entries: dict[Hashable, _Receiver]) -> None:
                    for key in dead:
                        entries.pop(key, None)

                self._changed(drop)

    # -- sending ------------------------------------------------------------

    def send(self, sender: object, **named: Any) -> list[_Response]:
        """Call every receiver of ``sender``; a receiver's exception propagates.

        Sync receivers are called first, in connection order; then the async
        ones, concurrently, sharing one copy of the caller's context (changes
        they make to context variables are visible to the caller afterwards).
        As in Django, async receivers need this thread to run no event loop
        when asgiref does the bridging.

        :param sender: who sends; receivers connected for another sender are
            not called.
        :param named: keyword arguments passed on to every receiver.
        :returns: ``[(receiver, response), ...]``.
        """
        if not self._entries:
            return []
        generation = self._generation
        held = generation.held
        if held is not None:
            if len(held) == 1:  # the common case, spelled as a person would
                receiver = held[0]
                return [(receiver, receiver(signal=self, sender=sender, **named))]
            if "signal" in named:
                raise _signal_argument("send")
            # One keyword dict for every receiver, instead of one merge per call.
            named["signal"] = self
            named["sender"] = sender
            responses = []
            for receiver in held:
                responses.append((receiver, receiver(**named)))
            return responses
        flat = generation.flat
        if flat is not None:
            if len(flat) == 1:
                receiver = flat[0]()
                if receiver is None:
                    return []
                return [(receiver, receiver(signal=self, sender=sender, **named))]
            if "signal" in named:
                raise _signal_argument("send")
            named["signal"] = self
            named["sender"] = sender
            responses = []
            for get in flat:
                receiver = get()
                if receiver is not None:
                    responses.append((receiver, receiver(**named)))
            return responses
        return self._send(sender, named)

    def _send(self, sender: object, named: dict[str, Any]) -> list[_Response]:
        sync, async_ = self._plan(sender)
        if not sync and not async_:
            return []
        if "signal" in named:
            raise _signal_argument("send")
        responses: list[_Response] = []
        if sync:
            named["signal"] = self
            named["sender"] = sender
            for get, get_func in sync:
                receiver = get()
                if receiver is None:
                    continue
                if get_func is not None:
                    function = get_func()
                    if function is None:
                        continue
                    receiver = MethodType(function, receiver)
                responses.append((receiver, receiver(**named)))
            del named["signal"], named["sender"]
        if async_:
            live = _resolve(async_)
            if live:
                responses += _block_on(self._gather, live, sender, named, False, "send")
        return responses

    def send_robust(self, sender: object, **named: Any) -> list[_Response]:
        """Like :meth:`send`, but a receiver's ``Exception`` becomes its response.

        Each such exception is logged (logger ``"eventweave"``, level ERROR,
        with its traceback, naming the receiver by ``__qualname__``) and the
        remaining receivers are still called. A ``BaseException`` that is not
        an ``Exception`` (``KeyboardInterrupt``...) still propagates.

        :param sender: who sends.
        :param named: keyword arguments passed on to every receiver.
        :returns: ``[(receiver, response or exception), ...]``.
        """
        if self._generation is _EMPTY:
            return []
        sync, async_ = self._plan(sender)
        # Only send() spells its loop out (it is the measured path); this one
        # shares the robust loop of the async forms.
        responses = self._call_sync(_resolve(sync), sender, named, True, "send_robust")
        if async_:
            live = _resolve(async_)
            if live:
                responses += _block_on(self._gather, live, sender, named, True, "send_robust")
        return responses

    async def asend(self, sender: object, **named: Any) -> list[_Response]:
        """Call every receiver of ``sender`` from async code; exceptions propagate.

        Sync receivers are called first, in connection order, in a worker
        thread (``sync_to_async``); then the async receivers, concurrently.
        The responses list the sync receivers first, then the async ones, each
        in connection order, as Django (6) does. Receivers share one copy of
        the caller's context, whose changes are copied back to the caller: the
        async receivers see what the sync ones set.

        :param sender: who sends.
        :param named: keyword arguments passed on to every receiver.
        :returns: ``[(receiver, response), ...]``.
        """
        if self._generation is _EMPTY:
            return []
        return await self._asend(self._plan(sender), sender, named, False, "asend")

    async def asend_robust(self, sender: object, **named: Any) -> list[_Response]:
        """Like :meth:`asend`, but a receiver's ``Exception`` becomes its response.

        Failures are logged as by :meth:`send_robust`.

        :param sender: who sends.
        :param named: keyword arguments passed on to every receiver.
        :returns: ``[(receiver, response or exception), ...]``.
        """
        if self._generation is _EMPTY:
            return []
        return await self._asend(self._plan(sender), sender, named, True, "asend_robust")

    async def _asend(
        self, plan: _Plan, sender: object, named: dict[str, Any], robust: bool, method: str
    ) -> list[_Response]:
        # As Django 6 does: the sync receivers first, in a worker thread, then
        # the async ones concurrently, so that the async receivers see what
        # the sync ones set in context variables.
        sync = _resolve(plan[0])
        async_ = _resolve(plan[1])
        responses: list[_Response] = []
        if sync:
            responses = await _in_thread(self._call_sync, sync, sender, named, robust, method)
        if async_:
            calls = [self._call_async(r, sender, named, robust, method) for r in async_]
            responses += zip(async_, await _run_parallel(calls), strict=True)
        return responses

    def _call_sync(
        self,
        receivers: list[Callable[..., Any]],
        sender: object,
        named: dict[str, Any],
        robust: bool,
        method: str,
    ) -> list[_Response]:
        responses: list[_Response] = []
        for receiver in receivers:
            try:
                response = receiver(signal=self, sender=sender, **named)
            except Exception as err:
                if not robust:
                    raise
                self._log_failure(receiver, err, method)
                response = err
            responses.append((receiver, response))
        return responses

    async def _call_async(
        self,
        receiver: Callable[..., Any],
        sender: object,
        named: dict[str, Any],
        robust: bool,
        method: str,
    ) -> Any:
        try:
            return await receiver(signal=self, sender=sender, **named)
        except Exception as err:
            if not robust:
                raise
            self._log_failure(receiver, err, method)
            return err

    async def _gather(
        self,
        receivers: list[Callable[..., Any]],
        sender: object,
        named: dict[str, Any],
        robust: bool,
        method: str,
    ) -> list[_Response]:
        calls = [
            self._call_async(receiver, sender, named, robust, method) for receiver in receivers
        ]
        return list(zip(receivers, await _run_parallel(calls), strict=True))

    def _log_failure(self, receiver: Callable[..., Any], err: Exception, method: str) -> None:
        logger.error(
            "Error calling %s in Signal.%s() (%s)",
            _qualname(receiver),
            method,
            err,
            exc_info=err,
        )


def _signal_argument(method: str) -> TypeError:
    return TypeError(
        f"Signal.{method}() got a named argument 'signal'; receivers are called with signal= "
        "the signal itself, so send that value under another name"
    )


def receiver(
    signal: _Connectable | Sequence[_Connectable], **connect_kwargs: Any
) -> Callable[[_F], _F]:
    """Decorator: connect the decorated function to a signal or signals.

    The function is returned unchanged. Any object with a ``connect`` method
    taking these arguments will do (a ``django.dispatch.Signal`` too)::

        @receiver(post_login, sender=LoginView)
        def audit(sender, instance, **kwargs): ...

        @receiver([pre_create, pre_modify], dispatch_uid="audit")
        def audit_changes(sender, **kwargs): ...

    :param signal: a signal, or a list or tuple of signals.
    :param connect_kwargs: passed on to ``connect``: ``sender``, ``weak``,
        ``dispatch_uid``.
    """
    signals: Sequence[_Connectable] = signal if isinstance(signal, (list, tuple)) else (signal,)

    def decorator(func: _F) -> _F:
        for each in signals:
            each.connect(func, **connect_kwargs)
        return func

    return decorator


@contextlib.contextmanager
def connected_to(
    signal: _Connectable | Sequence[_Connectable],
    receiver: Callable[..., Any],
    sender: object = None,
) -> Iterator[None]:
    """Keep ``receiver`` connected to a signal or signals for a ``with`` block.

    The function form of :meth:`Signal.connected_to`, for a list of signals
    or for any object with ``connect``/``disconnect`` (a Django signal too)::

        with connected_to([pre_login, post_login], audit):
            client.post("/login/", credentials)

    :param signal: a signal, or a list or tuple of signals.
    :param receiver: the receiver, held strongly inside the block.
    :param sender: the only sender to hear; ``None`` hears every sender.
    """
    signals = signal if isinstance(signal, (list, tuple)) else (signal,)
    with contextlib.ExitStack() as stack:
        for each in signals:
            if isinstance(each, Signal):
                stack.enter_context(each.connected_to(receiver, sender))
            else:
                each.connect(receiver, sender=sender, weak=False)
                stack.callback(each.disconnect, receiver, sender=sender)
        yield


class _Connectable(Protocol):
    def connect(self, *args: Any, **kwargs: Any) -> Any: ...

    def disconnect(self, *args: Any, **kwargs: Any) -> Any: ...


# -- receivers ----------------------------------------------------------------


def _weak(
    target: Any, on_death: Callable[[Any], None], receiver: object, kind: Any
) -> weakref.ref[Any]:
    try:
        return kind(target, on_death)  # type: ignore[no-any-return]
    except TypeError:
        msg = (
            f"receiver {_describe(receiver)} cannot be weakly referenced;"
            " connect it with weak=False"
        )
        raise TypeError(msg) from None


def _check_receiver(receiver: Any) -> None:
    # Django's messages, checked always (Django only with DEBUG), then the culprit.
    if not callable(receiver):
        msg = f"Signal receivers must be callable. Got {receiver!r}."
        raise TypeError(msg)
    if not _accepts_kwargs(receiver):
        msg = (
            "Signal receivers must accept keyword arguments (**kwargs). "
            f"{_describe(receiver)} does not; eventweave sends signal=, sender=, ..."
        )
        raise ValueError(msg)


def _accepts_kwargs(receiver: Callable[..., Any]) -> bool:
    function = receiver.__func__ if type(receiver) is MethodType else receiver
    if type(function) is FunctionType and "__wrapped__" not in function.__dict__:
        # What inspect.signature would find, read from the code object: a
        # hundred times cheaper, and connect is meant to cost O(1).
        return bool(function.__code__.co_flags & _CO_VARKEYWORDS)
    try:
        parameters = inspect.signature(receiver).parameters.values()
    except (TypeError, ValueError):
        return True  # some C callables have no signature: nothing to check against
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _describe(obj: object) -> str:
    """``module:qualname`` of a function, method or callable object."""
    target = obj
    while isinstance(target, functools.partial):
        target = target.func
    if isinstance(target, MethodType):
        target = target.__func__
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(qualname, str):
        target = type(target)
        qualname = target.__qualname__
    module = getattr(target, "__module__", None)
    return f"{module}:{qualname}" if module else qualname


def _qualname(receiver: object) -> str:
    qualname = getattr(receiver, "__qualname__", None)
    # Callable objects have no __qualname__ of their own (Django's
    # send_robust fails on them); their class's is the next best name.
    return qualname if isinstance(qualname, str) else type(receiver).__qualname__


# -- async bridging -------------------------------------------------------------


async def _run_parallel(calls: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Await ``calls`` concurrently and return their results in order.

    All of them run in one copy of the caller's context, so a context
    variable one of them sets is seen by the others from then on, and by
    the caller once they are done (Python 3.10 cannot give tasks a context:
    there each call gets its own copy, copied back in order). The first
    exception propagates and the calls still running are cancelled.
    """
    if len(calls) == 1:
        return [await calls[0]]
    loop = asyncio.get_running_loop()
    contexts: list[contextvars.Context] = []
    if sys.version_info >= (3, 11):
        shared = contextvars.copy_context()
        contexts.append(shared)
        tasks = [loop.create_task(call, context=shared) for call in calls]
    else:
        tasks = [loop.create_task(_keeping_context(call, contexts)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        raise
    finally:
        for context in contexts:
            _restore_context(context)


async def _keeping_context(
    call: Coroutine[Any, Any, _T], contexts: list[contextvars.Context]
) -> _T:
    try:
        return await call
    finally:
        contexts.append(contextvars.copy_context())


def _restore_context(context: contextvars.Context) -> None:
    """Set, in the current context, every variable ``context`` holds another value for."""
    for variable, value in context.items():
        try:
            if variable.get() is value:
                continue
        except LookupError:
            pass
        variable.set(value)


def _asgiref_block_on(
    fn: Callable[_P, Coroutine[Any, Any, _T]], /, *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    return asgiref.sync.async_to_sync(fn)(*args, **kwargs)


async def _asgiref_in_thread(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    return await asgiref.sync.sync_to_async(fn)(*args, **kwargs)


def _asgiref_iscoroutinefunction(func: object) -> bool:
    return asgiref.sync.iscoroutinefunction(func)


def _own_block_on(
    fn: Callable[_P, Coroutine[Any, Any, _T]], /, *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    """Run ``fn(*args, **kwargs)`` to completion from sync code, without asgiref."""
    final: list[contextvars.Context] = []

    async def main() -> _T:
        try:
            return await fn(*args, **kwargs)
        finally:
            final.append(contextvars.copy_context())

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    try:
        if running:
            # asyncio cannot nest loops. The caller's loop stays blocked until
            # the receivers are done, as it would for any sync call.
            return _in_worker_thread(_run_in_new_loop, main)
        return _run_in_new_loop(main)
    finally:
        if final:
            _restore_context(final[0])


def _run_in_new_loop(main: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    # Not asyncio.run(): that would also reset the thread's current loop.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _in_worker_thread(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    context = contextvars.copy_context()
    results: list[_T] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(context.run(fn, *args, **kwargs))
        except BaseException as exc:  # handed over to the calling thread
            errors.append(exc)

    thread = threading.Thread(target=work, name="eventweave-send", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


async def _own_in_thread(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run sync ``fn`` in the loop's default executor, without asgiref."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    try:
        return await asyncio.get_running_loop().run_in_executor(None, call)
    finally:
        _restore_context(context)


def _own_iscoroutinefunction(func: object) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    # The marker asgiref's markcoroutinefunction() sets before Python 3.12.
    marker = getattr(asyncio.coroutines, "_is_coroutine", None)
    return marker is not None and getattr(func, "_is_coroutine", None) is marker


# Chosen once; tests swap them to cover both.
if HAVE_ASGIREF:
    _block_on = _asgiref_block_on
    _in_thread = _asgiref_in_thread
    _iscoroutinefunction = _asgiref_iscoroutinefunction
else:
    _block_on = _own_block_on
    _in_thread = _own_in_thread
    _iscoroutinefunction = _own_iscoroutinefunction


def watch_token() -> int:
    """A token for :meth:`Signal._watch_as`, unique among every signal's watchers."""
    return next(_tokens)


def send_lines(signal: str, sender: str, arguments: str, *, last: bool = False) -> list[str]:
    """Source lines sending on a signal as a person would write it, for generated code.

    ``signal`` and ``sender`` are expressions (a local name or a compiled-in
    constant), ``arguments`` the literal keywords (``"method=method,
    url=url"``, or ``""``). While every receiver is sync and hears every
    sender, the lines loop over the tuple the signal publishes (see the
    module docstring) and call each receiver with ``signal=``, ``sender=``
    and those keywords: no ``send()`` frame, no keyword dict. Otherwise they
    call ``send``. Nothing else reads a generation's tuples: this is where
    generated code learns how. The lines use the local names ``_ew_f``,
    ``_ew_g`` and ``_ew_c``. ``last``: nothing but a return follows them, so
    the frame holds no receiver for long (see below).
    """
    keywords = f", {arguments}" if arguments else ""
    call = f"_ew_c(signal={signal}, sender={sender}{keywords})"
    return [
        f"_ew_f = {signal}._generation.flat",
        "if _ew_f is not None:",
        "    for _ew_g in _ew_f:",
        "        _ew_c = _ew_g()",
        "        if _ew_c is not None:",
        f"            {call}",
        # A weak receiver is not kept alive by the frame while the rest of
        # the woven call runs: the body may drop it, and send() would not
        # call it afterwards.
        *([] if last else ["    _ew_c = None"]),
        "else:",
        f"    _ew_f = {signal}._generation.held",
        "    if _ew_f is None:",
        f"        {signal}.send({sender}{keywords})",
        "    else:",
        "        for _ew_c in _ew_f:",
        f"            {call}",
    ]
