"""Tests for `eventweave.rest._registry`."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from eventweave.rest._events import (
    AFTER_EVENTS,
    BEFORE_EVENTS,
    AfterCreate,
    AfterEvent,
    AfterShow,
    BeforeCreate,
    BeforeDelete,
    BeforeEvent,
    BeforeRegister,
    BeforeReplace,
    BeforeShow,
    BeforeUpdate,
    BeforeUpdateMany,
    FieldData,
    RequestEvent,
    build_fields,
)
from eventweave.rest._registry import (
    FIELD_PROCESSOR_EVENTS,
    EventRegistry,
    FieldIsChanged,
    ModelClassIs,
    add_field_processors,
    subscribe_to_events,
)


class User:
    pass


class Admin(User):
    pass


class Story:
    pass


class Request:
    """Stands for the framework request a view holds."""


class View:
    def __init__(self, request: object = None) -> None:
        self.request = request


def before(
    event_class: type[BeforeEvent] = BeforeCreate,
    model: Any = User,
    view: object = None,
    **data: Any,
) -> BeforeEvent:
    return event_class(model, view or View(), build_fields(data), data=data)


@pytest.fixture
def registry() -> EventRegistry:
    return EventRegistry()


# receivers


def test_new_registry_has_empty_receivers(registry: EventRegistry) -> None:
    assert registry.receivers == ()
    assert not registry.receivers


def test_subscribe_makes_receivers_truthy(registry: EventRegistry) -> None:
    registry.subscribe(print, BeforeCreate)
    assert registry.receivers
    assert isinstance(registry.receivers, tuple)


def test_receivers_are_replaced_not_mutated(registry: EventRegistry) -> None:
    registry.subscribe(print, BeforeCreate)
    first = registry.receivers
    registry.subscribe(repr, BeforeCreate)
    assert registry.receivers is not first
    assert len(first) == 1
    assert len(registry.receivers) == 2


def test_receivers_list_each_subscription(registry: EventRegistry) -> None:
    registry.subscribe(print, [BeforeCreate, AfterCreate], model=User, field="name")
    (subscription,) = registry.receivers
    assert subscription.subscriber is print
    assert subscription.events == (BeforeCreate, AfterCreate)
    assert subscription.model is User
    assert subscription.field == "name"


# dispatch


def test_subscribers_run_in_the_order_subscribed(registry: EventRegistry) -> None:
    calls: list[str] = []
    registry.subscribe(lambda event: calls.append("first"), RequestEvent)
    registry.subscribe(lambda event: calls.append("second"), BeforeCreate)
    registry.subscribe(lambda event: calls.append("third"), BeforeEvent)
    registry.notify(before())
    assert calls == ["first", "second", "third"]


def test_subscriber_receives_the_event(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate)
    event = before()
    registry.notify(event)
    assert received == [event]
    assert received[0] is event


def test_subscriber_to_one_class_ignores_other_classes(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate)
    registry.notify(before(BeforeUpdate))
    registry.notify(AfterCreate(User, View()))
    assert received == []


@pytest.mark.parametrize("event_class", BEFORE_EVENTS.values(), ids=lambda cls: cls.__name__)
def test_subscriber_to_before_event_gets_every_before_event(
    registry: EventRegistry, event_class: type[BeforeEvent]
) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeEvent)
    registry.notify(event_class(User, View()))
    assert len(received) == 1


@pytest.mark.parametrize("event_class", AFTER_EVENTS.values(), ids=lambda cls: cls.__name__)
def test_subscriber_to_before_event_ignores_after_events(
    registry: EventRegistry, event_class: type[AfterEvent]
) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeEvent)
    registry.notify(event_class(User, View()))
    assert received == []


def test_subscriber_to_request_event_gets_every_event(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, RequestEvent)
    for event_class in [*BEFORE_EVENTS.values(), *AFTER_EVENTS.values()]:
        registry.notify(event_class(User, View()))
    assert [type(event) for event in received] == [
        *BEFORE_EVENTS.values(),
        *AFTER_EVENTS.values(),
    ]


def test_subscribing_to_several_classes_calls_once_per_event(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, [BeforeCreate, BeforeEvent, RequestEvent])
    registry.notify(before())
    assert len(received) == 1


def test_subscribing_twice_calls_twice(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate)
    registry.subscribe(received.append, BeforeCreate)
    registry.notify(before())
    assert len(received) == 2


def test_event_class_defined_after_subscribing_is_dispatched(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeEvent)

    class BeforeArchive(BeforeEvent):
        __slots__ = ()

    registry.notify(BeforeArchive(User, View()))
    assert len(received) == 1


def test_subscribe_returns_the_subscriber_for_decorator_use(registry: EventRegistry) -> None:
    def on_create(event: RequestEvent) -> None:
        pass

    assert registry.subscribe(on_create, BeforeCreate) is on_create


def test_subscriber_exception_reaches_the_notifier(registry: EventRegistry) -> None:
    def reject(event: RequestEvent) -> None:
        raise ValueError("name is taken")

    registry.subscribe(reject, BeforeCreate)
    with pytest.raises(ValueError, match="name is taken"):
        registry.notify(before())


def test_notify_with_nobody_subscribed_does_nothing(registry: EventRegistry) -> None:
    event = before(name="Ann")
    registry.notify(event)
    assert event.data == {"name": "Ann"}


def test_notify_of_non_event_reaches_nobody(registry: EventRegistry) -> None:
    received: list[object] = []
    registry.subscribe(received.append, RequestEvent)
    registry.notify(object())  # type: ignore[arg-type]
    assert received == []


# model predicate


def test_model_predicate_matches_the_model(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate, model=User)
    registry.notify(before(model=User))
    assert len(received) == 1


def test_model_predicate_matches_subclasses(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate, model=User)
    registry.notify(before(model=Admin))
    assert len(received) == 1


def test_model_predicate_skips_other_models(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate, model=Admin)
    registry.notify(before(model=User))
    registry.notify(before(model=Story))
    assert received == []


@pytest.mark.parametrize("model", [None, "User", User()], ids=["none", "string", "instance"])
def test_model_predicate_never_matches_a_non_class_model(
    registry: EventRegistry, model: object
) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate, model=object)
    registry.notify(before(model=model))
    assert received == []


# field predicate


def test_field_predicate_sets_event_field_before_the_call(registry: EventRegistry) -> None:
    seen: list[FieldData | None] = []
    registry.subscribe(lambda event: seen.append(event.field), BeforeCreate, field="name")
    event = before(name="Ann", age=3)
    registry.notify(event)
    assert seen == [FieldData("name", "Ann")]
    assert seen[0] is event.fields["name"]


def test_field_predicate_skips_events_without_the_field(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate, field="name")
    event = before(age=3)
    registry.notify(event)
    assert received == []
    assert event.field is None


def test_field_predicate_sets_the_field_of_each_subscriber(registry: EventRegistry) -> None:
    seen: list[str] = []
    registry.subscribe(lambda event: seen.append(event.field.name), BeforeCreate, field="name")
    registry.subscribe(lambda event: seen.append(event.field.name), BeforeCreate, field="age")
    registry.notify(before(name="Ann", age=3))
    assert seen == ["name", "age"]


def test_field_predicate_sees_field_set_by_earlier_subscriber(registry: EventRegistry) -> None:
    seen: list[object] = []
    registry.subscribe(lambda event: event.set_field_value("slug", "ann"), BeforeCreate)
    registry.subscribe(lambda event: seen.append(event.field.new_value), BeforeCreate, field="slug")
    registry.notify(before(name="Ann"))
    assert seen == ["ann"]


def test_model_and_field_predicates_both_must_hold(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate, model=User, field="name")
    registry.notify(before(model=Story, name="Ann"))
    registry.notify(before(model=User, age=3))
    registry.notify(before(model=Admin, name="Ann"))
    assert len(received) == 1


def test_field_not_set_when_model_predicate_fails(registry: EventRegistry) -> None:
    registry.subscribe(print, BeforeCreate, model=User, field="name")
    event = before(model=Story, name="Ann")
    registry.notify(event)
    assert event.field is None


# bad input


def test_subscribing_a_non_callable_is_a_type_error(registry: EventRegistry) -> None:
    with pytest.raises(TypeError, match="subscriber: expected a callable"):
        registry.subscribe("on_create", BeforeCreate)  # type: ignore[type-var]
    assert not registry.receivers


@pytest.mark.parametrize("events", [object, [BeforeCreate, dict], int], ids=repr)
def test_subscribing_to_a_non_event_class_is_a_type_error(
    registry: EventRegistry, events: Any
) -> None:
    with pytest.raises(TypeError, match=r"events: .* is not a RequestEvent subclass"):
        registry.subscribe(print, events)
    assert not registry.receivers


@pytest.mark.parametrize("events", ["BeforeCreate", 3, None], ids=repr)
def test_subscribing_to_a_non_class_non_iterable_is_a_type_error(
    registry: EventRegistry, events: Any
) -> None:
    with pytest.raises(TypeError, match="events: expected a RequestEvent subclass or an iterable"):
        registry.subscribe(print, events)


def test_subscribing_to_no_events_is_a_value_error(registry: EventRegistry) -> None:
    with pytest.raises(ValueError, match="events: empty"):
        registry.subscribe(print, [])


@pytest.mark.parametrize("model", ["User", User()], ids=["string", "instance"])
def test_subscribing_with_a_non_class_model_is_a_type_error(
    registry: EventRegistry, model: Any
) -> None:
    with pytest.raises(TypeError, match="model: expected a model class"):
        registry.subscribe(print, BeforeCreate, model=model)
    assert not registry.receivers


def test_subscribing_with_a_non_string_field_is_a_type_error(registry: EventRegistry) -> None:
    with pytest.raises(TypeError, match="field: expected a field name"):
        registry.subscribe(print, BeforeCreate, field=3)  # type: ignore[arg-type]


# unsubscribe and clear


def test_unsubscribe_removes_every_subscription_of_the_subscriber(
    registry: EventRegistry,
) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, BeforeCreate)
    registry.subscribe(received.append, AfterCreate)
    assert registry.unsubscribe(received.append) is True
    registry.notify(before())
    registry.notify(AfterCreate(User, View()))
    assert received == []
    assert registry.receivers == ()


def test_unsubscribe_keeps_other_subscribers(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(print, BeforeCreate)
    registry.subscribe(received.append, BeforeCreate)
    registry.unsubscribe(print)
    registry.notify(before())
    assert len(received) == 1


def test_unsubscribe_of_unknown_subscriber_returns_false(registry: EventRegistry) -> None:
    registry.subscribe(print, BeforeCreate)
    assert registry.unsubscribe(repr) is False
    assert len(registry.receivers) == 1


def test_unsubscribe_from_some_events_keeps_the_others(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, [BeforeCreate, BeforeShow])
    assert registry.unsubscribe(received.append, BeforeCreate) is True
    registry.notify(before(BeforeCreate))
    registry.notify(before(BeforeShow))
    assert [type(event) for event in received] == [BeforeShow]


def test_unsubscribe_from_all_its_events_drops_the_subscription(
    registry: EventRegistry,
) -> None:
    registry.subscribe(print, [BeforeCreate, BeforeShow])
    registry.unsubscribe(print, [BeforeShow, BeforeCreate])
    assert registry.receivers == ()


def test_unsubscribe_matches_an_equal_bound_method(registry: EventRegistry) -> None:
    class Listener:
        def on_event(self, event: RequestEvent) -> None:
            pass

    listener = Listener()
    registry.subscribe(listener.on_event, BeforeCreate)
    assert registry.unsubscribe(listener.on_event) is True
    assert registry.receivers == ()


def test_clear_leaves_nothing(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, RequestEvent)
    registry.subscribe(received.append, BeforeCreate, model=User, field="name")
    registry.clear()
    registry.notify(before(name="Ann"))
    assert received == []
    assert registry.receivers == ()


def test_concurrent_subscribes_are_all_kept(registry: EventRegistry) -> None:
    subscribers = [lambda event, n=n: n for n in range(400)]
    start = threading.Barrier(8)

    def subscribe_share(share: list[Any]) -> None:
        start.wait(timeout=10)
        for subscriber in share:
            registry.subscribe(subscriber, BeforeCreate)

    threads = [
        threading.Thread(target=subscribe_share, args=(subscribers[n::8],)) for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert {s.subscriber for s in registry.receivers} == set(subscribers)


# predicates


def test_model_class_is_matches_class_and_subclass() -> None:
    predicate = ModelClassIs(User)
    assert predicate(before(model=User))
    assert predicate(before(model=Admin))
    assert not predicate(before(model=Story))
    assert not predicate(before(model=None))


def test_model_class_is_describes_itself_for_pyramid() -> None:
    predicate = ModelClassIs(User, config=object())
    assert predicate.text() == f"model = {__name__}:User"
    assert predicate.phash() == predicate.text()
    assert ModelClassIs(Admin).phash() != predicate.phash()


def test_model_class_is_rejects_a_non_class() -> None:
    with pytest.raises(TypeError, match="model: expected a model class, got 'User'"):
        ModelClassIs("User")  # type: ignore[arg-type]


def test_field_is_changed_sets_event_field_when_present() -> None:
    event = before(name="Ann")
    assert FieldIsChanged("name")(event)
    assert event.field is event.fields["name"]


def test_field_is_changed_is_false_when_absent() -> None:
    event = before(age=3)
    assert not FieldIsChanged("name")(event)
    assert event.field is None


def test_field_is_changed_describes_itself_for_pyramid() -> None:
    predicate = FieldIsChanged("name", config=object())
    assert predicate.text() == "field = name"
    assert predicate.phash() == "field = name"


def test_field_is_changed_rejects_a_non_string() -> None:
    with pytest.raises(TypeError, match="field: expected a field name"):
        FieldIsChanged(3)  # type: ignore[arg-type]


# subscribe_to_events


def test_subscribe_to_events_subscribes_to_every_event_given(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    subscribe_to_events(registry, received.append, [BeforeCreate, AfterCreate])
    registry.notify(before())
    registry.notify(AfterCreate(User, View()))
    registry.notify(AfterShow(User, View()))
    assert [type(event) for event in received] == [BeforeCreate, AfterCreate]


def test_subscribe_to_events_honours_the_model(registry: EventRegistry) -> None:
    received: list[RequestEvent] = []
    subscribe_to_events(registry, received.append, [BeforeCreate], model=User)
    registry.notify(before(model=Story))
    registry.notify(before(model=Admin))
    assert [event.model for event in received] == [Admin]


def test_subscribe_to_events_rejects_an_unknown_registry() -> None:
    with pytest.raises(TypeError, match=r"registry: expected an eventweave\.rest\.EventRegistry"):
        subscribe_to_events(object(), print, [BeforeCreate])


def test_subscribe_to_events_rejects_a_non_class_model(registry: EventRegistry) -> None:
    with pytest.raises(TypeError, match="model: expected a model class"):
        subscribe_to_events(registry, print, [BeforeCreate], model="User")  # type: ignore[arg-type]


# add_field_processors


def test_field_processor_events_are_nefertaris_before_change_events() -> None:
    nefertari_before_change_events = (
        BeforeCreate,
        BeforeUpdate,
        BeforeReplace,
        BeforeUpdateMany,
        BeforeRegister,
    )
    assert nefertari_before_change_events == FIELD_PROCESSOR_EVENTS


def test_field_processors_chain_in_the_order_given(registry: EventRegistry) -> None:
    add_field_processors(
        registry,
        [lambda new_value, **kw: new_value.strip(), lambda new_value, **kw: new_value + "!"],
        model=User,
        field="name",
    )
    event = before(name="  Ann ")
    registry.notify(event)
    assert event.fields["name"].new_value == "Ann!"


def test_field_processor_result_is_written_to_the_request_data(registry: EventRegistry) -> None:
    add_field_processors(registry, [lambda new_value, **kw: new_value.lower()], User, "name")
    event = before(name="ANN", age=3)
    registry.notify(event)
    assert event.data == {"name": "ann", "age": 3}


def test_field_processor_receives_nefertaris_keyword_arguments(registry: EventRegistry) -> None:
    calls: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return kwargs["new_value"]

    add_field_processors(registry, [record], User, "name")
    request = Request()
    event = BeforeUpdate(Admin, View(request), build_fields({"name": "Ann"}), instance="the user")
    event.data = {"name": "Ann"}
    registry.notify(event)
    (kwargs,) = calls
    assert kwargs == {
        "new_value": "Ann",
        "instance": "the user",
        "field": event.fields["name"],
        "request": request,
        "model": Admin,
        "event": event,
    }


def test_field_processor_request_is_none_when_the_view_has_none(
    registry: EventRegistry,
) -> None:
    requests: list[object] = []

    def record(request: object, new_value: Any, **kw: Any) -> Any:
        requests.append(request)
        return new_value

    add_field_processors(registry, [record], User, "name")
    registry.notify(before(view=object(), name="Ann"))
    assert requests == [None]


@pytest.mark.parametrize("event_class", FIELD_PROCESSOR_EVENTS, ids=lambda cls: cls.__name__)
def test_field_processors_run_on_before_change_events(
    registry: EventRegistry, event_class: type[BeforeEvent]
) -> None:
    add_field_processors(registry, [lambda new_value, **kw: new_value * 2], User, "n")
    event = before(event_class, n=2)
    registry.notify(event)
    assert event.data == {"n": 4}


@pytest.mark.parametrize("event_class", [BeforeShow, BeforeDelete], ids=lambda cls: cls.__name__)
def test_field_processors_skip_events_that_change_nothing(
    registry: EventRegistry, event_class: type[BeforeEvent]
) -> None:
    add_field_processors(registry, [lambda new_value, **kw: new_value * 2], User, "n")
    event = before(event_class, n=2)
    registry.notify(event)
    assert event.data == {"n": 2}


def test_field_processors_skip_after_events(registry: EventRegistry) -> None:
    add_field_processors(registry, [lambda new_value, **kw: new_value * 2], User, "n")
    event = AfterCreate(User, View(), build_fields({"n": 2}), response={"n": 2})
    registry.notify(event)
    assert event.response == {"n": 2}


def test_field_processors_skip_other_models(registry: EventRegistry) -> None:
    add_field_processors(registry, [lambda new_value, **kw: new_value * 2], Admin, "n")
    event = before(model=User, n=2)
    registry.notify(event)
    assert event.data == {"n": 2}


def test_field_processors_skip_requests_without_the_field(registry: EventRegistry) -> None:
    calls: list[object] = []
    add_field_processors(registry, [calls.append], User, "name")
    event = before(age=3)
    registry.notify(event)
    assert calls == []
    assert event.data == {"age": 3}


def test_field_set_by_a_processor_triggers_later_processors(registry: EventRegistry) -> None:
    def derive_slug(new_value: str, event: BeforeEvent, **kw: Any) -> str:
        event.set_field_value("slug", new_value)
        return new_value

    add_field_processors(registry, [derive_slug], User, "name")
    add_field_processors(registry, [lambda new_value, **kw: new_value.lower()], User, "slug")
    event = before(name="Ann Lee")
    registry.notify(event)
    assert event.data == {"name": "Ann Lee", "slug": "ann lee"}


def test_add_field_processors_returns_a_subscriber_to_unsubscribe(
    registry: EventRegistry,
) -> None:
    subscriber = add_field_processors(registry, [lambda new_value, **kw: 0], User, "n")
    assert registry.unsubscribe(subscriber) is True
    assert registry.receivers == ()


def test_add_field_processors_rejects_a_lone_callable(registry: EventRegistry) -> None:
    def lower(new_value: str, **kw: Any) -> str:
        return new_value.lower()

    with pytest.raises(TypeError, match=r"pass a list: \[lower\]"):
        add_field_processors(registry, lower, User, "name")  # type: ignore[arg-type]


def test_add_field_processors_rejects_a_non_callable_processor(registry: EventRegistry) -> None:
    with pytest.raises(TypeError, match="processors: 'lower' is not callable"):
        add_field_processors(registry, ["lower"], User, "name")  # type: ignore[list-item]
    assert not registry.receivers


def test_add_field_processors_rejects_a_non_string_field(registry: EventRegistry) -> None:
    with pytest.raises(TypeError, match="field: expected a field name"):
        add_field_processors(registry, [print], User, 3)  # type: ignore[arg-type]


def test_add_field_processors_rejects_an_unknown_registry() -> None:
    with pytest.raises(TypeError, match="registry: expected"):
        add_field_processors({}, [print], User, "name")


def test_watchers_hear_each_change_of_emptiness_only() -> None:
    registry = EventRegistry()
    heard: list[bool] = []
    unwatch = registry.__eventweave_watch__(lambda: heard.append(bool(registry.receivers)))

    def first(event: Any) -> None: ...

    def second(event: Any) -> None: ...

    registry.subscribe(first, RequestEvent)
    registry.subscribe(second, RequestEvent)
    registry.unsubscribe(first)
    registry.unsubscribe(second)
    assert heard == [True, False]
    unwatch()
    registry.subscribe(first, RequestEvent)
    assert heard == [True, False]
