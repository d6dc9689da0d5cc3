"""Django's and blinker's ``send``, as a woven call's listening form runs it.

Both libraries find the receivers to call anew on every ``send``. Django
takes a lock, prunes dead receivers, filters its list by sender and follows
each weak reference; blinker copies a set in a generator and asks whether
every receiver is a coroutine function. Hand-written code calling their
``send`` pays for that each time.

A listening form instead keeps a :class:`View` of each foreign signal: what
``send`` would go through, found once per change of the signal's receivers
and checked on every call by one comparison done in C. While the view
holds, the form calls the receivers itself, in ``send``'s own order, with
``send``'s own arguments (Django's ``signal=``/``sender=`` keywords,
blinker's positional sender), looking each up as ``send`` does:

- Django resolves every receiver before calling the first, skipping the
  dead ones (and the next call lets ``send`` prune them);
- blinker looks each up in its ``receivers`` dict when its turn comes, so a
  receiver disconnected or collected meanwhile is skipped.

Anything ``send`` decides per call takes ``send`` itself, looked up on the
signal at the call (so a ``send`` patched on the object, a test's
``mock.patch.object(signal, "send")``, is the one called):

- Django: a receiver for particular senders, an async receiver, a dead weak
  receiver, a signal with ``use_caching=True`` (its per-sender cache is
  ``send``'s), or a ``Signal`` subclass overriding ``send`` or
  ``_live_receivers``;
- blinker: a receiver connected only for particular senders, a sender with
  receivers of its own (``send`` joins their bucket), a coroutine function,
  a muted signal, a woven parameter named ``_async_wrapper`` (``send``'s own
  keyword), or a subclass overriding ``send`` or ``receivers_for``.

Neither library announces a change of its receivers, so the check compares
the signal's entries, in order, with those the view was made from: the
identities of Django's ``receivers`` list entries (``connect``/``disconnect``
change it in place, ``mute_signals`` replaces it; the view keeps the
entries, so their identities cannot be reused), and the keys of blinker's
``receivers`` dict (the ids it makes of receivers). Until the next call
through the form after a change, the view still holds what Django's list
held: a receiver connected with ``weak=False`` and then disconnected is
released at that call.
"""

from __future__ import annotations

import operator
import re
import sys
import threading
import weakref
from collections.abc import Callable
from itertools import repeat
from typing import Any

# What Django's view's getters are called with: a weak reference gives its
# referent, a strong receiver's ``repeat(receiver).__next__`` the receiver.
_call: Callable[[Any], Any] = getattr(operator, "call", None) or operator.methodcaller("__call__")


class View:
    """What a foreign signal's ``send`` would go through, while its receivers stay as seen.

    ``state`` is replaced whole, never changed: a form reads it once per call.
    Its first item is what the check compares (the identities of the
    signal's entries); its second, what the form calls, or None when
    ``send`` itself must run; its third, the entries themselves.
    """

    __slots__ = ("_lock", "signal", "state")

    def __init__(self, signal: Any) -> None:
        self.signal = signal
        self._lock = threading.Lock()
        self.state: tuple[Any, ...] = self.made()

    def refresh(self) -> tuple[Any, ...]:
        with self._lock:
            self.state = state = self.made()
        return state

    def made(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def lines(self, view: str, signal: str, sender: str, arguments: str) -> list[str] | None:
        """Source lines sending ``arguments`` (literal keywords) on ``signal`` from ``sender``.

        ``view`` and ``signal`` name this view and its signal in the generated
        code, which binds the names of :data:`NAMES` too; None when every
        call must take ``send``. The lines leave no receiver in a local
        variable: the woven body runs after them.
        """
        raise NotImplementedError


class DjangoView(View):
    """A ``django.dispatch.Signal``: getters of its receivers, in its list's order."""

    __slots__ = ("none_id",)

    def __init__(self, signal: Any, none_id: int) -> None:
        self.none_id = none_id
        super().__init__(signal)

    def made(self) -> tuple[Any, ...]:
        signal = self.signal
        entries = tuple(signal.receivers)  # copied at once: safe from other threads
        seen = tuple(map(id, entries))
        if signal._dead_receivers:
            return (seen, None, entries)  # send() prunes them
        getters: list[Callable[[], Any]] = []
        for entry in entries:
            # Django 4.2: ((key, sender key), receiver); 5: ..., is_async);
            # 6: ..., sender_ref, is_async), sender_ref None for any sender.
            if not isinstance(entry, tuple) or len(entry) not in (2, 3, 4):
                return (seen, None, entries)
            if len(entry) >= 3 and entry[-1]:
                return (seen, None, entries)  # async: send() gathers them after the others
            if len(entry) == 4 and entry[2] is not None:
                return (seen, None, entries)  # for particular senders
            key = entry[0]
            if not isinstance(key, tuple) or len(key) != 2 or key[1] != self.none_id:
                return (seen, None, entries)  # for particular senders
            receiver = entry[1]
            if isinstance(receiver, weakref.ReferenceType):
                getters.append(receiver)  # WeakMethod too: calling it gives the bound method
            else:
                getters.append(repeat(receiver).__next__)
        return (seen, tuple(getters), entries)

    def lines(self, view: str, signal: str, sender: str, arguments: str) -> list[str] | None:
        keywords = f", {arguments}" if arguments else ""
        return [
            f"_ew_s = {view}.state",
            f"if _ew_s[0] != _ew_tuple(_ew_map(_ew_id, {signal}.receivers))"
            f" or {signal}._dead_receivers:",
            f"    _ew_s = {view}.refresh()",
            "_ew_f = _ew_s[1]",
            f"if _ew_f is None or 'send' in {signal}.__dict__:",
            f"    {signal}.send({sender}{keywords})",
            "else:",
            "    for _ew_c in _ew_tuple(_ew_map(_ew_call, _ew_f)):",
            "        if _ew_c is not None:",
            f"            _ew_c(signal={signal}, sender={sender}{keywords})",
            "    _ew_c = None",
        ]


class BlinkerView(View):
    """A ``blinker.Signal``: the ids of its receivers, in the order ``send`` calls them.

    Checked against the keys of its ``receivers`` dict, in order: the ids
    blinker makes of receivers. An entry replaced under the same key (a
    receiver connected again) is what the form looks up when its turn
    comes, as ``send`` does.
    """

    __slots__ = ("async_test", "key", "weak")

    def __init__(self, signal: Any, weak: Any, key: Any, async_test: Any) -> None:
        self.weak = weak  # what blinker follows as a weak reference
        self.key = key  # blinker's id of a sender
        self.async_test = async_test
        super().__init__(signal)

    def made(self) -> tuple[Any, ...]:
        signal = self.signal
        # A copy first: dict.copy() runs no Python code (a weakref callback
        # or finalizer run by a collection) while it reads, which could let
        # another thread connect meanwhile; walking the items could.
        held = signal.receivers.copy()
        seen = tuple(held)
        if not held:
            return (seen, (), None)
        everyone = signal._by_sender.get(_blinker_any_id())
        if everyone is None:
            return (seen, None, None)
        ids = tuple(everyone.copy())  # send()'s own order: a copy of that bucket, iterated
        for receiver_id, receiver in held.items():
            if receiver_id not in everyone:
                return (seen, None, None)  # connected only for particular senders
            if isinstance(receiver, self.weak):
                receiver = receiver()
            if receiver is None or self.async_test(receiver):
                return (seen, None, None)
        return (seen, ids, None)

    def lines(self, view: str, signal: str, sender: str, arguments: str) -> list[str] | None:
        if _ASYNC_WRAPPER.search(arguments):
            return None  # send() takes it as its own keyword
        keywords = f", {arguments}" if arguments else ""
        return [
            f"_ew_s = {view}.state",
            # The keys, read in one call: a dict iterator made by one call
            # and read by another fails if a thread connects in between.
            f"if _ew_s[0] != _ew_tuple({signal}.receivers):",
            f"    _ew_s = {view}.refresh()",
            "_ew_f = _ew_s[1]",
            "if (",
            "    _ew_f is None",
            f"    or {signal}.is_muted",
            f"    or 'send' in {signal}.__dict__",
            f"    or (_ew_len({signal}._by_sender) > 1"
            f" and {view}.key({sender}) in {signal}._by_sender)",
            "):",
            f"    {signal}.send({sender}{keywords})",
            "else:",
            "    for _ew_c in _ew_f:",
            f"        _ew_c = {signal}.receivers.get(_ew_c)",
            f"        if _ew_isinstance(_ew_c, {view}.weak):",
            "            _ew_c = _ew_c()",
            "        if _ew_c is not None:",
            f"            _ew_c({sender}{keywords})",
            "    _ew_c = None",
        ]


_ASYNC_WRAPPER = re.compile(r"(?:^|, )_async_wrapper=")


def _blinker_any_id() -> Any:
    return sys.modules["blinker.base"].ANY_ID


NAMES: dict[str, Any] = {
    "_ew_tuple": tuple,
    "_ew_map": map,
    "_ew_call": _call,
    "_ew_id": id,
    "_ew_len": len,
}
"""What the lines of :meth:`View.lines` read besides the view, the signal and
the builtins every generated form has (``_ew_isinstance``)."""


def view_of(signal: Any) -> View | None:
    """A view of ``signal`` if it is Django's or blinker's and can be sent as it sends; else None.

    Neither library is imported here: a signal of one is an instance of a
    class from a module already loaded.
    """
    if not hasattr(signal, "__dict__"):
        return None
    dispatcher = sys.modules.get("django.dispatch.dispatcher")
    if dispatcher is not None and isinstance(signal, dispatcher.Signal):
        kind = type(signal)
        base = dispatcher.Signal
        none_id = getattr(dispatcher, "NONE_ID", None)
        if (
            none_id is None
            or kind.send is not base.send
            or kind._live_receivers is not base._live_receivers
            or getattr(signal, "use_caching", True)
            or not isinstance(getattr(signal, "receivers", None), list)
            or not hasattr(signal, "_dead_receivers")
        ):
            return None
        return DjangoView(signal, none_id)
    module = sys.modules.get("blinker.base")
    if module is not None and isinstance(signal, module.Signal):
        kind = type(signal)
        base = module.Signal
        utilities = sys.modules.get("blinker._utilities")
        # blinker 1.8+: make_id, weakref.ref, inspect's iscoroutinefunction;
        # 1.6-1.7: hashable_identity, WeakTypes (with their own bound-method
        # reference); 1.6: is_coroutine_function.
        key = getattr(module, "make_id", None) or getattr(module, "hashable_identity", None)
        weak = getattr(module, "WeakTypes", weakref.ref)
        async_test = getattr(module, "iscoroutinefunction", None) or getattr(
            utilities, "is_coroutine_function", None
        )
        if (
            key is None
            or async_test is None
            or kind.send is not base.send
            or kind.receivers_for is not base.receivers_for
            or not isinstance(getattr(signal, "receivers", None), dict)
            or not isinstance(getattr(signal, "_by_sender", None), dict)
            or not isinstance(getattr(signal, "is_muted", None), bool)
            or not hasattr(module, "ANY_ID")
        ):
            return None
        return BlinkerView(signal, weak, key, async_test)
    return None
