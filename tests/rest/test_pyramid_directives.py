"""Tests for `eventweave.contrib.pyramid`: directives and predicates on a real Configurator."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from eventweave.rest._events import (
    AfterCreate,
    AfterShow,
    BeforeCreate,
    BeforeEvent,
    BeforeShow,
    BeforeUpdate,
    FieldData,
    RequestEvent,
    build_fields,
)

with warnings.catch_warnings():
    # WebOb 1.8 (under Pyramid and WebTest) imports the stdlib cgi module, deprecated
    # since Python 3.11; warnings are errors here, and that one is not ours to fix.
    warnings.simplefilter("ignore", DeprecationWarning)
    import webtest  # type: ignore[import-untyped]  # WebTest ships no type information
    from pyramid.config import Configurator
    from pyramid.exceptions import ConfigurationError
    from pyramid.request import Request

    from eventweave.contrib.pyramid import notify


class User:
    pass


class Admin(User):
    pass


class Story:
    pass


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
def config() -> Any:
    config = Configurator()
    config.include("eventweave.contrib.pyramid")
    return config


def test_include_adds_both_directives(config: Any) -> None:
    assert callable(config.subscribe_to_events)
    assert callable(config.add_field_processors)


def test_subscribe_to_events_directive_reaches_subscribers(config: Any) -> None:
    received: list[RequestEvent] = []
    config.subscribe_to_events(received.append, [BeforeCreate, AfterCreate])
    config.commit()
    config.registry.notify(before())
    config.registry.notify(AfterCreate(User, View()))
    config.registry.notify(AfterShow(User, View()))
    assert [type(event) for event in received] == [BeforeCreate, AfterCreate]


def test_subscribers_of_one_event_run_in_the_order_added(config: Any) -> None:
    calls: list[str] = []
    config.subscribe_to_events(lambda event: calls.append("first"), [BeforeCreate])
    config.subscribe_to_events(lambda event: calls.append("second"), [BeforeCreate])
    config.commit()
    config.registry.notify(before())
    assert calls == ["first", "second"]


def test_subscriber_to_base_class_gets_concrete_events(config: Any) -> None:
    received: list[RequestEvent] = []
    config.subscribe_to_events(received.append, [BeforeEvent])
    config.commit()
    config.registry.notify(before(BeforeShow))
    config.registry.notify(AfterShow(User, View()))
    assert [type(event) for event in received] == [BeforeShow]


def test_subscribe_to_events_directive_honours_the_model(config: Any) -> None:
    received: list[RequestEvent] = []
    config.subscribe_to_events(received.append, [BeforeCreate], model=User)
    config.commit()
    config.registry.notify(before(model=Story))
    config.registry.notify(before(model=Admin))
    config.registry.notify(before(model=None))
    assert [event.model for event in received] == [Admin]


@pytest.mark.parametrize("model", ["User", 3], ids=["name", "number"])
def test_directives_refuse_a_model_that_is_no_class_when_configuring(
    config: Any, model: Any
) -> None:
    # Nefertari registers any object and the subscriber then never matches (or
    # fails on the first event); here the mistake is named at configuration time.
    received: list[RequestEvent] = []
    with pytest.raises(TypeError, match=r"model: expected a model class or None, got"):
        config.subscribe_to_events(received.append, [BeforeCreate], model=model)
    with pytest.raises(TypeError, match=r"model: expected a model class or None, got"):
        config.add_field_processors([str.upper], model=model, field="name")
    config.commit()
    event = before(name="ann")
    config.registry.notify(event)
    assert received == []
    assert event.fields["name"].new_value == "ann"  # no processor was registered


def test_model_predicate_works_with_add_subscriber(config: Any) -> None:
    received: list[RequestEvent] = []
    config.add_subscriber(received.append, BeforeCreate, model=Admin)
    config.commit()
    config.registry.notify(before(model=User))
    config.registry.notify(before(model=Admin))
    assert [event.model for event in received] == [Admin]


def test_field_predicate_sets_event_field(config: Any) -> None:
    seen: list[FieldData | None] = []
    config.add_subscriber(lambda event: seen.append(event.field), BeforeUpdate, field="name")
    config.commit()
    config.registry.notify(before(BeforeUpdate, age=3))
    event = before(BeforeUpdate, name="Ann")
    config.registry.notify(event)
    assert seen == [FieldData("name", "Ann")]
    assert seen[0] is event.fields["name"]


def test_add_field_processors_directive_chains_and_writes_back(config: Any) -> None:
    config.add_field_processors(
        [lambda new_value, **kw: new_value.strip(), lambda new_value, **kw: new_value.title()],
        model=User,
        field="name",
    )
    config.commit()
    event = before(model=Admin, name="  ann lee ")
    config.registry.notify(event)
    assert event.data == {"name": "Ann Lee"}
    assert event.fields["name"].new_value == "Ann Lee"


def test_field_processors_get_the_pyramid_request(config: Any) -> None:
    requests: list[object] = []

    def record(request: object, new_value: Any, **kw: Any) -> Any:
        requests.append(request)
        return new_value

    config.add_field_processors([record], model=User, field="name")
    config.commit()
    request = Request.blank("/users")
    config.registry.notify(before(view=View(request), name="Ann"))
    assert requests == [request]


def test_field_processors_skip_other_models_and_events(config: Any) -> None:
    config.add_field_processors([lambda new_value, **kw: new_value * 2], model=Admin, field="n")
    config.commit()
    other_model = before(model=User, n=2)
    other_event = before(BeforeShow, model=Admin, n=2)
    config.registry.notify(other_model)
    config.registry.notify(other_event)
    assert other_model.data == {"n": 2}
    assert other_event.data == {"n": 2}


def test_model_predicate_without_include_is_a_configuration_error() -> None:
    config = Configurator()
    config.add_subscriber(print, BeforeCreate, model=User)
    with pytest.raises(ConfigurationError):
        config.commit()


def test_notify_sends_through_the_request_registry(config: Any) -> None:
    received: list[RequestEvent] = []
    config.subscribe_to_events(received.append, [BeforeCreate])
    config.commit()
    request = Request.blank("/users")
    request.registry = config.registry
    event = before()
    notify(request, event)
    assert received == [event]


def test_events_notified_from_a_view_change_its_data_in_a_real_app(config: Any) -> None:
    def create_user(request: Any) -> dict[str, Any]:
        data = dict(request.json_body)
        event = BeforeCreate(User, View(request), build_fields(data), data=data)
        notify(request, event)
        return data

    config.add_field_processors([lambda new_value, **kw: new_value.lower()], User, "email")
    config.add_route("users", "/users")
    config.add_view(create_user, route_name="users", request_method="POST", renderer="json")
    app = webtest.TestApp(config.make_wsgi_app())
    response = app.post_json("/users", {"email": "Ann@Example.ORG", "name": "Ann"})
    assert response.json == {"email": "ann@example.org", "name": "Ann"}
