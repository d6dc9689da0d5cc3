"""Django's and blinker's ``send``, as a woven call's listening form runs it.

Both libraries find the receivers to call anew on every ``send``. Django
takes a lock, prunes dead receivers, filters its list by sender and follows
each weak reference; blinker copies a set in a generator and asks
:func:`inspect.iscoroutinefunction` of every receiver. Hand-written code
calling their ``send`` pays for that each time.

A listening form instead keeps a :class:`View` of each foreign signal: the
receivers ``send`` would call, found once per change of the signal's
receivers and checked on every call by one comparison done in C. While the
view holds, the form follows the weak references itself and calls the
receivers in ``send``'s own order with ``send``'s own arguments: Django's
``signal=``/``sender=`` keywords, blinker's positional sender. Django looks
every receiver up before calling the first; blinker looks each up when its
turn comes: so does the form. Anything
``send`` decides per call takes ``send`` itself, and so does a signal
whose ``send`` is patched on the object (a test's
``mock.patch.object(signal, "send")``):

- Django: a receiver for particular senders, an async receiver, a dead weak
  receiver (``send`` prunes it), or a ``Signal`` subclass overriding ``send``
  or ``_live_receivers``;
- blinker: a receiver for particular senders, a coroutine function, a muted
  signal (``send`` returns at once), a dead weak receiver, or a subclass
  overriding ``send`` or ``receivers_for``.

Neither library announces a change of its receivers, so the check compares
the signal's state with the one the view was made from: Django's
``receivers`` list with a copy of it (``connect``/``disconnect`` change it in
place, ``mute_signals`` replaces it); for blinker, the identity of each
entry of its ``receivers`` dict, in order (``connect`` always stores a new
entry). A blinker receiver connected for particular senders as well as for
all changes nothing ``send`` calls; one connected only for particular
senders takes ``send``.
Between a change and the next call through the form, the view still holds
what the signal held before: a receiver connected with ``weak=False`` and
then disconnected is released at that call.
"""

from __future__ import annotations

import operator
import sys
import threading
import weakref
from collections.abc import Callable
from itertools import repeat
from typing import Any

# What the views' getters are called with: a weak reference gives its
# referent, a strong receiver's ``repeat(receiver).__next__`` the receiver.
_call: Callable[[Any], Any] = getattr(operator, "call", None) or operator.methodcaller("__call__")

_Getters = tuple[Callable[[], Any], ...]


def _getter(receiver: Any) -> Callable[[], Any]:
    if isinstance(receiver, weakref.ReferenceType):
        return receiver  # WeakMethod too: calling it gives the bound method
    return repeat(receiver).__next__


class View:
    """The receivers a foreign signal's ``send`` would call, while its receivers stay as seen.

    ``state`` is replaced whole, never changed: a form reads it once per call.
    Its first item is what the check compares; its last, the getters of the
    receivers in call order, or None when ``send`` itself must run.
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

    def lines(self, view: str, signal: str, sender: str, arguments: str) -> list[str]:
        """Source lines sending ``arguments`` (literal keywords) on ``signal`` from ``sender``.

        ``view`` and ``signal`` name this view and its signal in the generated
        code, which binds the names of :data:`NAMES` too. ``send`` is looked
        up on the signal when called, so that a patched ``send`` (a test's
        mock) is the one called.
        """
        raise NotImplementedError


class DjangoView(View):
    """A ``django.dispatch.Signal``: its ``receivers`` list, and a copy to compare it with."""

    __slots__ = ("none_id",)

    def __init__(self, signal: Any, none_id: int) -> None:
        self.none_id = none_id
        super().__init__(signal)

    def made(self) -> tuple[Any, ...]:
        signal = self.signal
        entries = list(signal.receivers)
        if signal._dead_receivers:
            return (entries, None)
        getters: list[Callable[[], Any]] = []
        for entry in entries:
            # Django 4.2: ((key, sender key), receiver); 5: ..., is_async).
            if not isinstance(entry, tuple) or len(entry) not in (2, 3):
                return (entries, None)
            if len(entry) == 3 and entry[2]:
                return (entries, None)  # async: send() gathers them after the others
            key = entry[0]
            if not isinstance(key, tuple) or len(key) != 2 or key[1] != self.none_id:
                return (entries, None)  # for particular senders
            getters.append(_getter(entry[1]))
        return (entries, tuple(getters))

    def lines(self, view: str, signal: str, sender: str, arguments: str) -> list[str]:
        keywords = f", {arguments}" if arguments else ""
        return [
            f"_ew_s = {view}.state",
            f"if {signal}.receivers != _ew_s[0] or {signal}._dead_receivers:",
            f"    _ew_s = {view}.refresh()",
            # Every receiver is looked up before any is called, as send()
            # does: one receiver dropping another's last reference does not
            # skip it.
            "_ew_f = _ew_s[1]",
            "if _ew_f is not None:",
            f"    if 'send' in {signal}.__dict__:",  # patched on the signal: called
            "        _ew_f = None",
            "    else:",
            "        _ew_f = _ew_tuple(_ew_map(_ew_call, _ew_f))",
            "        if None in _ew_f:",  # died since the check: send() prunes it
            "            _ew_f = None",
            "if _ew_f is None:",
            f"    {signal}.send({sender}{keywords})",
            "else:",
            "    for _ew_c in _ew_f:",
            f"        _ew_c(signal={signal}, sender={sender}{keywords})",
        ]


class BlinkerView(View):
    """A ``blinker.Signal``: the identities of its ``receivers`` entries, and its sender buckets."""

    __slots__ = ()

    def made(self) -> tuple[Any, ...]:
        signal = self.signal
        held = signal.receivers
        # The entries themselves are kept too: their ids cannot be reused
        # while the view compares them.
        values = tuple(held.values())
        seen = tuple(map(id, values))
        everyone = signal._by_sender.get(_blinker_any_id())
        if not held or everyone is None:
            return (seen, None if held else (), values)
        for receiver_id in held:
            if receiver_id not in everyone:
                return (seen, None, values)  # for particular senders only
        # Every receiver hears every sender: send() calls them in the order
        # of a copy of that bucket, whatever the sender (a union with another
        # bucket adds nothing to it).
        ids = everyone.copy()
        getters: list[Callable[[], Any]] = []
        for receiver_id in ids:
            receiver = held.get(receiver_id)
            if receiver is None:
                continue
            getter = _getter(receiver)
            alive = getter()
            if alive is None or _blinker_async(alive):
                return (seen, None, values)
            getters.append(getter)
        return (seen, tuple(getters), values)

    def lines(self, view: str, signal: str, sender: str, arguments: str) -> list[str]:
        keywords = f", {arguments}" if arguments else ""
        return [
            f"_ew_s = {view}.state",
            f"if _ew_s[0] != _ew_tuple(_ew_map(_ew_id, {signal}.receivers.values())):",
            f"    _ew_s = {view}.refresh()",
            "_ew_f = _ew_s[1]",
            f"if _ew_f is None or {signal}.is_muted or 'send' in {signal}.__dict__:",
            f"    {signal}.send({sender}{keywords})",
            "else:",
            # Each receiver is looked up when its turn comes, as send()'s
            # generator does: one that died meanwhile was disconnected by its
            # weak reference's callback, and is skipped.
            "    for _ew_g in _ew_f:",
            "        _ew_c = _ew_g()",
            "        if _ew_c is not None:",
            f"            _ew_c({sender}{keywords})",
        ]


def _blinker_any_id() -> Any:
    return sys.modules["blinker.base"].ANY_ID


def _blinker_async(receiver: Any) -> bool:
    return bool(sys.modules["blinker.base"].iscoroutinefunction(receiver))


NAMES: dict[str, Any] = {
    "_ew_tuple": tuple,
    "_ew_map": map,
    "_ew_call": _call,
    "_ew_id": id,
}
"""What the lines of :meth:`View.lines` read besides the view and the signal."""


def view_of(signal: Any) -> View | None:
    """A view of ``signal`` if it is Django's or blinker's, sent as that library sends; else None.

    Neither library is imported here: a signal of one is an instance of a
    class from a module already loaded.
    """
    dispatcher = sys.modules.get("django.dispatch.dispatcher")
    if dispatcher is not None and isinstance(signal, dispatcher.Signal):
        kind = type(signal)
        base = dispatcher.Signal
        none_id = getattr(dispatcher, "NONE_ID", None)
        if (
            none_id is None
            or kind.send is not base.send
            or kind._live_receivers is not base._live_receivers
            or not isinstance(getattr(signal, "receivers", None), list)
            or not hasattr(signal, "_dead_receivers")
            or not hasattr(signal, "__dict__")
        ):
            return None
        return DjangoView(signal, none_id)
    base_module = sys.modules.get("blinker.base")
    if base_module is not None and isinstance(signal, base_module.Signal):
        kind = type(signal)
        base = base_module.Signal
        if (
            kind.send is not base.send
            or kind.receivers_for is not base.receivers_for
            or not isinstance(getattr(signal, "receivers", None), dict)
            or not isinstance(getattr(signal, "_by_sender", None), dict)
            or not isinstance(getattr(signal, "is_muted", None), bool)
            or not hasattr(signal, "__dict__")
            or not hasattr(base_module, "ANY_ID")
            or not hasattr(base_module, "iscoroutinefunction")
        ):
            return None
        return BlinkerView(signal)
    return None
