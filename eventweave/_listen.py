"""Listening to any source of events: a signal of any kind, or a REST event class.

The parts of eventweave that observe events without emitting any take their
sources here: ``eventweave.testing.capture``, ``eventweave.contrib.otel.trace``,
the trace of ``eventweave run --trace`` and ``Relay.forward``. So eventweave,
Django and blinker signals and the REST view events of :mod:`eventweave.rest`
reach each of them the same way: through :func:`listen` as
``callback(source, sender, named)``, or, where every call counts (the relay's
emitting side), through :func:`connect_receiver` and :func:`subscribe`, which
add no frame of their own for eventweave's and Django's signals.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeGuard

from .rest import RequestEvent
from .rest import registry as default_registry

__all__ = [
    "Listener",
    "SourceName",
    "connect_receiver",
    "is_event_class",
    "is_source",
    "listen",
    "name_sources",
    "subscribe",
]

Listener = Callable[[Any, Any, dict[str, Any]], None]
"""``callback(source, sender, named)``: what :func:`listen` calls per event.

For a signal: the signal, the sender, and every other named argument. For a REST
event class: the class of the event notified (a subclass of the one listened to,
possibly), the class of the view that fired it, and ``{"event": event}``."""


def is_event_class(source: object) -> TypeGuard[type[RequestEvent]]:
    """Whether ``source`` is a REST event class (``RequestEvent`` or a subclass)."""
    return isinstance(source, type) and issubclass(source, RequestEvent)


def is_source(obj: object) -> bool:
    """Whether :func:`listen` takes ``obj``: a REST event class, or anything with ``connect``."""
    return is_event_class(obj) or callable(getattr(obj, "connect", None))


def _is_blinker(signal: object) -> bool:
    return type(signal).__module__.split(".")[0] == "blinker"


def connect_receiver(
    signal: Any, receiver: Callable[..., Any], *, sender: Any = None
) -> Callable[[], object]:
    """Connect ``receiver`` to ``signal``, strongly; return the function that disconnects it.

    ``receiver`` is written as Django's and eventweave's signals call theirs,
    ``receiver(signal=signal, sender=sender, **named)``, and is connected as it
    is to those (no frame in between); a blinker signal, which passes the
    sender positionally and no ``signal``, calls it through an adapter.

    :param signal: an eventweave, Django or blinker signal (anything with
        Django's ``connect(receiver, sender=None, weak=True)``).
    :param sender: only events of this sender; None: any sender.
    """
    by_sender: dict[str, Any] = {} if sender is None else {"sender": sender}
    if _is_blinker(signal):

        def blinker_receiver(sender: Any, /, **named: Any) -> None:
            receiver(signal=signal, sender=sender, **named)

        signal.connect(blinker_receiver, weak=False, **by_sender)
        # From every sender: blinker keeps a receiver disconnected from one sender
        # listed (the adapter is this connection's own, so nothing else goes).
        return lambda: signal.disconnect(blinker_receiver)
    signal.connect(receiver, weak=False, **by_sender)
    return lambda: signal.disconnect(receiver, **by_sender)


def subscribe(
    event_class: type[RequestEvent],
    subscriber: Callable[[Any], Any],
    *,
    model: type | None = None,
    registry: Any = None,
) -> Callable[[], object]:
    """Subscribe ``subscriber(event)`` to a REST event class; return what unsubscribes it.

    :param model: only events of this model class or a subclass; None: any.
    :param registry: the registry notified (``eventweave.rest.registry`` by default).
    """
    found = default_registry if registry is None else registry
    if model is None:
        found.subscribe(subscriber, event_class)
    else:
        found.subscribe(subscriber, event_class, model=model)
    return lambda: found.unsubscribe(subscriber, event_class)


def listen(source: Any, callback: Listener, *, registry: Any = None) -> Callable[[], object]:
    """Call ``callback`` for every event ``source`` emits; return the function that stops it.

    :param source: an eventweave, Django or blinker signal (anything with
        ``connect``), or a REST event class, which is subscribed to on
        ``registry``.
    :param callback: called as ``callback(source, sender, named)``; see
        :data:`Listener`. It is held strongly until the returned function is called.
    :param registry: where REST events are notified; ``eventweave.rest.registry``
        by default.
    :raises TypeError: when ``source`` is neither.
    """
    if is_event_class(source):

        def subscriber(event: RequestEvent) -> None:
            view = event.view
            callback(type(event), None if view is None else type(view), {"event": event})

        return subscribe(source, subscriber, registry=registry)
    if not is_source(source):
        msg = (
            f"expected a signal (an object with .connect) or a REST event class such as "
            f"eventweave.rest.AfterCreate, got {source!r}"
        )
        raise TypeError(msg)

    def receiver(signal: Any = None, sender: Any = None, **named: Any) -> None:
        callback(source, sender, named)

    return connect_receiver(source, receiver)


class SourceName(NamedTuple):
    """Where a source of events is defined: ``module`` and ``name`` (its attribute there)."""

    module: str
    name: str


def name_sources(sources: Iterable[Any]) -> list[SourceName]:
    """Name each source: a class by its own name, a signal by the attribute holding it.

    A signal carrying a ``name`` string (blinker's named signals) is called that.
    Any other is found, by identity, among the attributes of the imported modules
    (one pass for all of them); a name listed in the module's ``__all__`` and a
    public name come first. A signal no module holds is named after its type and
    identity, e.g. ``Signal@0x7f...``.
    """
    sources = list(sources)
    found: dict[int, tuple[tuple[bool, bool, str], SourceName]] = {}
    wanted: set[int] = set()
    for source in sources:
        if isinstance(source, type):
            found[id(source)] = ((False, False, ""), SourceName(source.__module__, source.__name__))
        elif isinstance(getattr(source, "name", None), str):
            found[id(source)] = ((False, False, ""), SourceName("", source.name))
        else:
            wanted.add(id(source))
    if wanted:
        for module_name, module in list(sys.modules.items()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue  # a stand-in placed in sys.modules, not a module
            exported = namespace.get("__all__", ())
            if not isinstance(exported, (list, tuple)):
                exported = ()
            for attribute, value in list(namespace.items()):
                if id(value) not in wanted:
                    continue
                rank = (attribute not in exported, attribute.startswith("_"), module_name)
                best = found.get(id(value))
                if best is None or rank < best[0]:
                    found[id(value)] = (rank, SourceName(module_name, attribute))
    return [
        found[id(source)][1]
        if id(source) in found
        else SourceName("", f"{type(source).__name__}@{id(source):#x}")
        for source in sources
    ]
