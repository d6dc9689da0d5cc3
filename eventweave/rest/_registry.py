"""Subscribing to REST view events: the registry, its predicates, and Nefertari's helpers.

:class:`EventRegistry` dispatches events without Pyramid. The helpers
:func:`subscribe_to_events` and :func:`add_field_processors` take either an
``EventRegistry`` or a Pyramid ``Configurator``; the predicates
:class:`ModelClassIs` and :class:`FieldIsChanged` serve both.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol, TypeVar

from eventweave._signals import _describe

from ._events import (
    BeforeCreate,
    BeforeEvent,
    BeforeRegister,
    BeforeReplace,
    BeforeUpdate,
    BeforeUpdateMany,
    RequestEvent,
)

__all__ = [
    "FIELD_PROCESSOR_EVENTS",
    "EventRegistry",
    "FieldIsChanged",
    "ModelClassIs",
    "Subscription",
    "add_field_processors",
    "subscribe_to_events",
]

SubscriberT = TypeVar("SubscriberT", bound=Callable[..., Any])

FIELD_PROCESSOR_EVENTS: tuple[type[BeforeEvent], ...] = (
    BeforeCreate,
    BeforeUpdate,
    BeforeReplace,
    BeforeUpdateMany,
    BeforeRegister,
)
"""The events that change fields, on which :func:`add_field_processors` subscribes."""


class ModelClassIs:
    """Predicate: the event's model is this class or a subclass of it.

    An event whose ``model`` is None or not a class never matches. The same
    object works as a Pyramid subscriber predicate (``model=`` in
    ``config.add_subscriber``) and inside :class:`EventRegistry`.

    :param model: the model class to match.
    :param config: the Pyramid Configurator, when Pyramid creates the
        predicate; unused.
    """

    __slots__ = ("model",)

    def __init__(self, model: type, config: Any = None) -> None:
        if not isinstance(model, type):
            msg = f"model: expected a model class, got {model!r}; pass the class, e.g. model=User"
            raise TypeError(msg)
        self.model = model

    def text(self) -> str:
        """Describe the predicate (Pyramid shows this in introspection and conflicts)."""
        return f"model = {_describe(self.model)}"

    phash = text

    def __call__(self, event: Any) -> bool:
        """Tell whether ``event.model`` is the model class or a subclass of it.

        :param event: the event being dispatched.
        """
        model = getattr(event, "model", None)
        return isinstance(model, type) and issubclass(model, self.model)


class FieldIsChanged:
    """Predicate: the request changes this field; sets ``event.field`` when it does.

    Matches when the field's name is in ``event.fields``, and then puts its
    :class:`~eventweave.rest.FieldData` in ``event.field`` so the subscriber
    called next reads it there. Works as a Pyramid subscriber predicate
    (``field=``) and inside :class:`EventRegistry`.

    :param field: the field name to match.
    :param config: the Pyramid Configurator, when Pyramid creates the
        predicate; unused.
    """

    __slots__ = ("field",)

    def __init__(self, field: str, config: Any = None) -> None:
        if not isinstance(field, str):
            msg = f"field: expected a field name (str), got {field!r}"
            raise TypeError(msg)
        self.field = field

    def text(self) -> str:
        """Describe the predicate (Pyramid shows this in introspection and conflicts)."""
        return f"field = {self.field}"

    phash = text

    def __call__(self, event: Any) -> bool:
        """Tell whether the request changes the field, and if so set ``event.field``.

        :param event: the event being dispatched.
        """
        fields = getattr(event, "fields", None)
        if not fields:
            return False
        field_data = fields.get(self.field)
        if field_data is None:
            return False
        event.field = field_data
        return True


class Subscription(NamedTuple):
    """One ``subscribe`` call, as :attr:`EventRegistry.receivers` lists it."""

    subscriber: Callable[[Any], object]
    events: tuple[type[RequestEvent], ...]
    model: type | None
    field: str | None


_Predicate = Callable[[Any], bool]
_Entry = tuple[Callable[[Any], object], tuple[_Predicate, ...]]


def _entries_for(
    event_class: type, subscriptions: tuple[tuple[Subscription, tuple[_Predicate, ...]], ...]
) -> tuple[_Entry, ...]:
    return tuple(
        (subscription.subscriber, predicates)
        for subscription, predicates in subscriptions
        if issubclass(event_class, subscription.events)
    )


def _known_event_classes() -> list[type]:
    found: list[type] = []
    pending: list[type] = [RequestEvent]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


class _DispatchTable(dict[type, tuple[_Entry, ...]]):
    """Event class -> (subscriber, predicates) pairs, in subscription order.

    Built whole for the event classes that exist when it is made; an event
    class defined later is looked up once, on its first notify, and kept.
    """

    __slots__ = ("_subscriptions",)

    def __init__(self, subscriptions: tuple[tuple[Subscription, tuple[_Predicate, ...]], ...]):
        super().__init__()
        self._subscriptions = subscriptions
        if subscriptions:
            for event_class in _known_event_classes():
                self[event_class] = _entries_for(event_class, subscriptions)

    def __missing__(self, event_class: type) -> tuple[_Entry, ...]:
        # Runs without the registry lock: racing threads compute the same tuple
        # from the same immutable snapshot, and a dict store is atomic.
        entries = _entries_for(event_class, self._subscriptions)
        self[event_class] = entries
        return entries


def _predicates_for(subscription: Subscription) -> tuple[_Predicate, ...]:
    # Model first, so event.field is only set for subscribers that will be called.
    predicates: list[_Predicate] = []
    if subscription.model is not None:
        predicates.append(ModelClassIs(subscription.model))
    if subscription.field is not None:
        predicates.append(FieldIsChanged(subscription.field))
    return tuple(predicates)


def _event_classes(events: object) -> tuple[type[RequestEvent], ...]:
    if isinstance(events, type):
        candidates: tuple[object, ...] = (events,)
    elif isinstance(events, (str, bytes)) or not isinstance(events, Iterable):
        msg = (
            "events: expected a RequestEvent subclass or an iterable of them "
            f"(e.g. [BeforeCreate, AfterCreate]), got {events!r}"
        )
        raise TypeError(msg)
    else:
        candidates = tuple(events)
    if not candidates:
        msg = "events: empty; name at least one event class, e.g. [BeforeCreate]"
        raise ValueError(msg)
    for candidate in candidates:
        if not (isinstance(candidate, type) and issubclass(candidate, RequestEvent)):
            msg = (
                f"events: {candidate!r} is not a RequestEvent subclass; subscribe to the "
                "classes of eventweave.rest (BeforeCreate, AfterEvent, ...) or subclasses of them"
            )
            raise TypeError(msg)
    # dict.fromkeys: drop repeats, keep the order given.
    return tuple(dict.fromkeys(candidates))  # type: ignore[arg-type]


def _check_model(model: object) -> None:
    if model is not None and not isinstance(model, type):
        msg = f"model: expected a model class or None, got {model!r}; pass the class itself"
        raise TypeError(msg)


def _checked_here(config: object) -> bool:
    """Whether the arguments for ``config.add_subscriber`` are checked before it is called.

    For Pyramid's Configurator they are, so that a mistake is named at the
    line that makes it. Any other object with ``add_subscriber`` (Nefertari's
    tests pass a mock) gets them as given, as Nefertari passes them on.
    """
    pyramid_config = sys.modules.get("pyramid.config")
    return pyramid_config is not None and isinstance(config, pyramid_config.Configurator)


_tokens = itertools.count()


class EventRegistry:
    """Dispatches REST view events to subscribers, without Pyramid.

    Subscribers are called with the event, in the order they were subscribed,
    when the event is an instance of one of the classes they subscribed to
    (so subscribing to :class:`~eventweave.rest.BeforeEvent` gets every
    before event, to :class:`~eventweave.rest.RequestEvent` every event) and
    their predicates hold. A subscriber's exception propagates to the code
    that notified: a before-subscriber that raises stops the view action.

    ``subscribe``, ``unsubscribe`` and ``clear`` are thread-safe; ``notify``
    takes no lock.
    """

    receivers: tuple[Subscription, ...]
    """Every subscription, in order. The structure is not part of the public
    API, but its truth value is: empty (``()``) exactly when nobody is
    subscribed, so instrumented code skips building events. Replaced as a
    whole on every change, never mutated."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: tuple[tuple[Subscription, tuple[_Predicate, ...]], ...] = ()
        self._table = _DispatchTable(())
        self._watchers: dict[int, Callable[[], None]] = {}
        self.receivers = ()

    def __repr__(self) -> str:
        return f"<EventRegistry with {len(self.receivers)} subscriptions>"

    def subscribe(
        self,
        subscriber: SubscriberT,
        events: type[RequestEvent] | Iterable[type[RequestEvent]],
        model: type | None = None,
        field: str | None = None,
    ) -> SubscriberT:
        """Call ``subscriber(event)`` for every notified event of the given classes.

        Subscribing the same subscriber again adds a second subscription: it
        is then called once per subscription.

        :param subscriber: a callable taking the event.
        :param events: an event class, or an iterable of them; subclasses of
            each match too.
        :param model: only events whose ``model`` is this class or a subclass
            of it; None for any model.
        :param field: only events whose ``fields`` contain this name;
            ``event.field`` is set to its FieldData before the call.
        :returns: ``subscriber``, unchanged.
        :raises TypeError: for a subscriber that is not callable, an event that
            is not a RequestEvent subclass, a model that is not a class, or a
            field that is not a string.
        """
        if not callable(subscriber):
            msg = f"subscriber: expected a callable taking the event, got {subscriber!r}"
            raise TypeError(msg)
        _check_model(model)
        if field is not None and not isinstance(field, str):
            msg = f"field: expected a field name (str) or None, got {field!r}"
            raise TypeError(msg)
        subscription = Subscription(subscriber, _event_classes(events), model, field)
        with self._lock:
            self._publish((*self._subscriptions, (subscription, _predicates_for(subscription))))
        return subscriber

    def unsubscribe(
        self,
        subscriber: Callable[..., Any],
        events: type[RequestEvent] | Iterable[type[RequestEvent]] | None = None,
    ) -> bool:
        """Remove a subscriber's subscriptions, to every event or to the ones given.

        :param subscriber: the callable that was subscribed (compared with
            ``==``, so a bound method given again matches).
        :param events: None to remove every subscription of ``subscriber``;
            otherwise only these event classes are removed from them (exact
            classes, as they were subscribed).
        :returns: whether anything was removed.
        """
        removing = None if events is None else set(_event_classes(events))
        with self._lock:
            kept: list[tuple[Subscription, tuple[_Predicate, ...]]] = []
            removed = False
            for subscription, predicates in self._subscriptions:
                if subscription.subscriber != subscriber:
                    kept.append((subscription, predicates))
                    continue
                if removing is None:
                    removed = True
                    continue
                remaining = tuple(e for e in subscription.events if e not in removing)
                if len(remaining) != len(subscription.events):
                    removed = True
                if remaining:
                    kept.append((subscription._replace(events=remaining), predicates))
            if removed:
                self._publish(tuple(kept))
            return removed

    def clear(self) -> None:
        """Remove every subscription."""
        with self._lock:
            self._publish(())

    def _publish(
        self, subscriptions: tuple[tuple[Subscription, tuple[_Predicate, ...]], ...]
    ) -> None:
        # Caller holds self._lock. The table goes first: whoever sees receivers
        # non-empty must find the subscribers in the table. Watchers (woven
        # views' code switches) only read receivers and take no lock of ours.
        was_listening = bool(self.receivers)
        self._subscriptions = subscriptions
        self._table = _DispatchTable(subscriptions)
        self.receivers = tuple(subscription for subscription, _ in subscriptions)
        if was_listening != bool(self.receivers):
            for watcher in list(self._watchers.values()):
                watcher()

    def __eventweave_watch__(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` whenever the registry turns from no subscription to some, or back.

        Instrumented views then run their own code, untouched, while nobody
        is subscribed. Returns the function that stops the watching.
        """
        token = next(_tokens)
        with self._lock:
            self._watchers[token] = callback

        def unwatch() -> None:
            with self._lock:
                self._watchers.pop(token, None)

        return unwatch

    def notify(self, event: RequestEvent) -> None:
        """Call the subscribers of ``event``, in the order they subscribed.

        Subscribers with a ``field`` predicate are checked when their turn
        comes, so they see fields added by ``set_field_value`` in subscribers
        called before them.

        :param event: the event; objects that are not RequestEvents reach no
            subscriber.
        """
        for subscriber, predicates in self._table[type(event)]:
            for predicate in predicates:
                if not predicate(event):
                    break
            else:
                subscriber(event)


class _Configurator(Protocol):
    def add_subscriber(self, subscriber: Any, iface: Any = ..., **predicates: Any) -> Any: ...


def _as_configurator(registry: object) -> _Configurator | None:
    if isinstance(registry, EventRegistry):
        return None
    if callable(getattr(registry, "add_subscriber", None)):
        return registry  # type: ignore[return-value]
    msg = (
        "registry: expected an eventweave.rest.EventRegistry or a Pyramid Configurator, "
        f"got {registry!r}"
    )
    raise TypeError(msg)


def subscribe_to_events(
    registry: EventRegistry | Any,
    subscriber: Callable[..., Any],
    events: type[RequestEvent] | Iterable[type[RequestEvent]],
    model: type | None = None,
) -> None:
    """Subscribe one subscriber to several events at once (Nefertari's helper).

    With a Pyramid ``Configurator`` this calls ``config.add_subscriber`` once
    per event class, with the ``model`` predicate when ``model`` is given
    (include ``eventweave.contrib.pyramid`` first, which also makes this
    available as ``config.subscribe_to_events``).

    :param registry: an :class:`EventRegistry` or a Pyramid Configurator.
    :param subscriber: a callable taking the event.
    :param events: an event class or an iterable of them.
    :param model: only events about this model class or its subclasses;
        None for any model.
    """
    config = _as_configurator(registry)
    if config is None:
        registry.subscribe(subscriber, events, model=model)
        return
    predicates = {} if model is None else {"model": model}
    if _checked_here(config):
        _check_model(model)
        classes: Iterable[Any] = _event_classes(events)
    else:
        classes = events if isinstance(events, Iterable) else (events,)
    for event_class in classes:
        config.add_subscriber(subscriber, event_class, **predicates)


def add_field_processors(
    registry: EventRegistry | Any,
    processors: Iterable[Callable[..., Any]],
    model: type | None,
    field: str,
) -> Callable[[BeforeEvent], None]:
    """Run processors on a field whenever a request changes it (Nefertari's field processors).

    One subscriber is made and subscribed, with ``model`` and ``field``
    predicates, to the events that change fields: BeforeCreate,
    BeforeUpdate, BeforeReplace, BeforeUpdateMany and BeforeRegister. It
    calls the processors in the order given, each with the keyword arguments

    - ``new_value``: the field's value, as returned by the previous processor;
    - ``instance``: the object the request changes (None on create and bulk
      update);
    - ``field``: the field's :class:`~eventweave.rest.FieldData`;
    - ``request``: ``event.view.request``, or None when the view has none;
    - ``model``: the event's model class;
    - ``event``: the event, to change other fields with
      ``event.set_field_value(name, value)``;

    and each returns the value passed on to the next. The last value is
    stored in ``field.new_value`` and, through ``event.set_field_value``, in
    the request data the view will use.

    :param registry: an :class:`EventRegistry` or a Pyramid Configurator
        (which needs ``eventweave.contrib.pyramid`` included).
    :param processors: the processor callables, in calling order.
    :param model: the model class whose field is processed (subclasses too);
        None for any model.
    :param field: the field name.
    :returns: the subscriber made, to pass to ``EventRegistry.unsubscribe``.
    """
    if callable(processors) and not isinstance(processors, Iterable):
        msg = (
            f"processors: expected a sequence of callables, got the callable "
            f"{_describe(processors)}; pass a list: [{getattr(processors, '__name__', 'func')}]"
        )
        raise TypeError(msg)
    if isinstance(processors, (str, bytes)) or not isinstance(processors, Iterable):
        msg = f"processors: expected a sequence of callables, got {processors!r}"
        raise TypeError(msg)
    chain = tuple(processors)
    for processor in chain:
        if not callable(processor):
            msg = f"processors: {processor!r} is not callable; each processor is a function"
            raise TypeError(msg)
    if not isinstance(field, str):
        msg = f"field: expected a field name (str), got {field!r}"
        raise TypeError(msg)
    config = _as_configurator(registry)
    if config is None or _checked_here(config):
        _check_model(model)

    def process_field(event: BeforeEvent) -> None:
        # The field predicate has just put the field in event.field (as in
        # Nefertari); called some other way, the subscriber looks it up. A
        # field object without a str name (a test's Mock event) is used as
        # given, as Nefertari's own processors do.
        field_data = getattr(event, "field", None)
        name = getattr(field_data, "name", field)
        if field_data is None or (isinstance(name, str) and name != field):
            field_data = event.fields.get(field)
        if field_data is None:
            return
        arguments = {
            "new_value": field_data.new_value,
            "instance": event.instance,
            "field": field_data,
            "request": getattr(event.view, "request", None),
            "model": event.model,
            "event": event,
        }
        for processor in chain:
            arguments["new_value"] = processor(**arguments)
        value = arguments["new_value"]
        field_data.new_value = value
        event.set_field_value(field, value)

    if config is None:
        registry.subscribe(process_field, FIELD_PROCESSOR_EVENTS, model=model, field=field)
        return process_field
    predicates: dict[str, Any] = {"field": field}
    if model is not None:
        predicates["model"] = model
    for event_class in FIELD_PROCESSOR_EVENTS:
        config.add_subscriber(process_field, event_class, **predicates)
    return process_field
