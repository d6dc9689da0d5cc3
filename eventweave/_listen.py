"""Listening to any source of events: a signal of any kind, or a REST event class.

The parts of eventweave that observe events without emitting any take their
sources here: ``eventweave.testing.capture``, ``eventweave.contrib.otel.trace``,
the trace of ``eventweave run --trace`` and ``Relay.forward``. So eventweave,
Django and blinker signals and the REST view events of :mod:`eventweave.rest`
reach each of them the same way: through :func:`listen` as
``callback(source, sender, named)``, or, where every call counts (the relay's
emitting side), through :func:`connect_receiver` and :func:`subscribe`, which
add no frame of their own for eventweave's and Django's signals.

What they show of an event goes through the same few functions too
(:func:`scalar`, :func:`shown`, :func:`exception_message`): the values of
secret-named arguments are :data:`eventweave.MASK`, and text is scrubbed of the
passwords and secret parameters of the URLs in it.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any, Final, NamedTuple, TypeGuard

from ._advice import MASK, SECRET_NAMES, is_secret
from ._signals import _describe
from .rest import RequestEvent
from .rest import registry as default_registry

__all__ = [
    "SKIP",
    "Listener",
    "SourceName",
    "connect_receiver",
    "exception_message",
    "exception_stacktrace",
    "is_event_class",
    "is_source",
    "listen",
    "masked_text",
    "name_sources",
    "scalar",
    "shown",
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


def listen(
    source: Any, callback: Listener, *, registry: Any = None, caller: str | None = None
) -> Callable[[], object]:
    """Call ``callback`` for every event ``source`` emits; return the function that stops it.

    :param source: an eventweave, Django or blinker signal (anything with
        ``connect``), or a REST event class, which is subscribed to on
        ``registry``.
    :param callback: called as ``callback(source, sender, named)``; see
        :data:`Listener`. It is held strongly until the returned function is called.
    :param registry: where REST events are notified; ``eventweave.rest.registry``
        by default.
    :param caller: the public function listening (``"capture()"``), named in the
        error message.
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
        raise TypeError(f"{caller}: {msg}" if caller else msg)

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


# -- what a listener shows of an event -----------------------------------------------

SKIP: Final = object()
"""What :func:`scalar` returns for a value that is no scalar: leave it out."""

_SCALARS = (str, bool, int, float)
# An absolute URL inside a longer text (an exception's message, a note): up to
# the first blank, quote or bracket that cannot be part of it.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{}`]+")


def masked_text(text: str) -> str:
    """``text`` with its secrets masked: read whole as JSON, XML, a URL or a form, and
    each URL inside it (``could not reach http://user:pw@host/...``) as a URL."""
    from .vidispine._masking import mask_text  # parses URLs, forms, JSON, XML

    masked = mask_text(text)
    if not isinstance(masked, str):  # pragma: no cover - str in, str out
        return MASK
    return _mask_urls_in(masked)


def _mask_urls_in(text: str) -> str:
    """``text`` with each absolute URL in it masked, the rest left as it is."""
    if "://" not in text:
        return text
    from .vidispine._masking import mask_url

    return _URL_IN_TEXT.sub(lambda found: mask_url(found.group()), text)


def scalar(name: str, value: Any) -> Any:
    """The argument ``name=value`` as a listener shows it, or :data:`SKIP` when it is
    no scalar (``None``, a string, a boolean or a number).

    The value of a secret-named argument is :data:`eventweave.MASK`; a string is
    scrubbed by :func:`masked_text`.
    """
    if value is not None and not isinstance(value, _SCALARS):
        return SKIP
    if value is not None and name and is_secret(name, SECRET_NAMES):
        return MASK
    return masked_text(value) if isinstance(value, str) else value


def shown(value: Any) -> Any:
    """A sender or instance as a listener shows it: a scalar as :func:`scalar` does, a
    class or function by its ``module:qualname``, anything else as its ``str()``,
    masked (``<Type>`` when that fails)."""
    found = scalar("", value)
    if found is not SKIP:
        return found
    if isinstance(value, type) or callable(value):
        return _describe(value)
    try:
        return masked_text(str(value))
    except Exception:  # a __str__ that fails must not break the call being observed
        return f"<{type(value).__qualname__}>"


def exception_message(exception: BaseException) -> str:
    """``str(exception)``, masked (a URL in it loses its password and secret parameters)."""
    try:
        return masked_text(str(exception))
    except Exception:
        return f"<{type(exception).__qualname__}>"


def exception_stacktrace(exception: BaseException) -> str:
    """The traceback of ``exception`` as Python prints it, with the message of each
    exception in its chain masked as :func:`exception_message` does."""
    try:
        text = "".join(traceback.format_exception(exception))
    except Exception:
        return f"{type(exception).__qualname__}: {exception_message(exception)}"
    seen: set[int] = set()
    pending = [exception]
    while pending:
        chain = pending.pop()
        if id(chain) in seen:
            continue
        seen.add(id(chain))
        try:
            raw = str(chain)
        except Exception:
            raw = ""
        masked = exception_message(chain)
        if raw and masked != raw:
            text = text.replace(raw, masked)
        pending += [e for e in (chain.__cause__, chain.__context__) if e is not None]
    return _mask_urls_in(text)
