"""Legacy Nefertari code, instrumented from outside: its own markers are honoured.

Nefertari's ``events.silent`` sets ``_silent = True`` and its
``events.trigger_instead(action)`` sets ``_event_action``; code already marked
that way keeps its meaning under eventweave, and eventweave's own markers set
the same attributes, so code that reads them keeps working. The views are
served by a real Pyramid application, driven through WebTest.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

import eventweave
from eventweave import mark, silent, trigger_instead
from eventweave.plan import loads
from eventweave.rest import (
    AfterIndex,
    AfterRegister,
    BeforeIndex,
    BeforeRegister,
    EventRegistry,
    RequestEvent,
    instrument_view,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # WebOb imports cgi
    import webtest  # type: ignore[import-untyped]  # WebTest ships no type information
    from pyramid.config import Configurator

from tests.fixtures import PACKAGE, forget

LEGACY = f"{PACKAGE}.legacy_nefertari_api"


@pytest.fixture
def legacy() -> Iterator[Callable[[], ModuleType]]:
    """Import the legacy API module afresh (call it after instrumenting, or before)."""
    forget("legacy_nefertari_api")

    def load() -> ModuleType:
        __import__(LEGACY)
        return sys.modules[LEGACY]

    yield load
    eventweave.unweave_all()
    forget("legacy_nefertari_api")


def serve(module: ModuleType, seen: list[RequestEvent]) -> webtest.TestApp:
    def configure(config: Configurator) -> None:
        config.subscribe_to_events(seen.append, [RequestEvent])

    module.Account.registered.clear()
    return webtest.TestApp(module.make_app(configure))


VIEWS = ["AccountsView", "TokensView", "HealthView", "DeepHealthView"]


# -- eventweave's markers set Nefertari's attributes ---------------------------


def test_silent_sets_nefertaris_attribute_on_a_function_and_a_class() -> None:
    @silent
    def claim() -> None:
        pass

    @silent
    class Quiet:
        pass

    assert claim._silent is True  # type: ignore[attr-defined]
    assert Quiet._silent is True  # type: ignore[attr-defined]


def test_trigger_instead_sets_nefertaris_attribute() -> None:
    @trigger_instead("register")
    def create() -> None:
        pass

    assert create._event_action == "register"  # type: ignore[attr-defined]


def test_mark_sets_and_removes_nefertaris_attributes_on_legacy_code(
    legacy: Callable[[], ModuleType],
) -> None:
    module = legacy()
    mark(f"{LEGACY}:TokensView.index", silent=True, trigger_instead="logout")
    assert module.TokensView.index._silent is True
    assert module.TokensView.index._event_action == "logout"

    mark(f"{LEGACY}:TokensView.index", silent=False, trigger_instead=False)
    assert not hasattr(module.TokensView.index, "_silent")
    assert not hasattr(module.TokensView.index, "_event_action")


# -- Nefertari's markers, honoured: by target string, before and after import --


@pytest.mark.parametrize("imported_first", [False, True], ids=["pending", "imported"])
def test_trigger_instead_register_fires_the_register_events(
    legacy: Callable[[], ModuleType], imported_first: bool
) -> None:
    if imported_first:
        legacy()
    instrument_view(f"{LEGACY}:AccountsView")
    seen: list[RequestEvent] = []
    app = serve(legacy(), seen)

    answer = app.post_json("/accounts", {"username": "ann", "email": "ann@example.com"})

    assert answer.json == {"username": "ann", "email": "ann@example.com"}
    assert [type(e) for e in seen] == [BeforeRegister, AfterRegister]
    assert seen[0].fields["username"].new_value == "ann"
    assert seen[1].response == answer.json


def test_silent_action_answers_and_fires_nothing(legacy: Callable[[], ModuleType]) -> None:
    instrument_view(f"{LEGACY}:TokensView")
    seen: list[RequestEvent] = []
    app = serve(legacy(), seen)

    answer = app.post_json("/tokens", {"username": "ann", "password": "s3cret"})
    app.get("/tokens")  # the unmarked action of the same view still fires

    assert answer.json == {"token": "t-ann"}
    assert [type(e) for e in seen] == [BeforeIndex, AfterIndex]


@pytest.mark.parametrize(
    ("path", "view"), [("/health", "HealthView"), ("/health/deep", "DeepHealthView")]
)
def test_class_marked_silent_by_nefertari_fires_nothing_nor_do_its_subclasses(
    legacy: Callable[[], ModuleType], path: str, view: str
) -> None:
    instrument_view(f"{LEGACY}:{view}")
    seen: list[RequestEvent] = []
    app = serve(legacy(), seen)

    assert app.get(path).json["status"] == "ok"
    assert seen == []


def test_unmarking_a_nefertari_silent_class_makes_it_fire(
    legacy: Callable[[], ModuleType],
) -> None:
    instrument_view(f"{LEGACY}:HealthView")
    mark(f"{LEGACY}:HealthView", silent=False)
    seen: list[RequestEvent] = []
    app = serve(legacy(), seen)

    app.get("/health")

    assert [type(e) for e in seen] == [BeforeIndex, AfterIndex]


def test_plan_rest_views_honour_nefertaris_markers(legacy: Callable[[], ModuleType]) -> None:
    plan = loads("[rest]\nviews = [" + ", ".join(f'"{LEGACY}:{v}"' for v in VIEWS) + "]\n")
    weavings = plan.apply()  # before the module is imported, as `eventweave run` does
    assert weavings and all(w.pending for w in weavings)
    seen: list[RequestEvent] = []
    app = serve(legacy(), seen)

    app.post_json("/accounts", {"username": "bob"})
    app.post_json("/tokens", {"username": "bob", "password": "pw"})
    app.get("/health")
    app.get("/health/deep")
    app.get("/accounts")

    assert [type(e) for e in seen] == [BeforeRegister, AfterRegister, BeforeIndex, AfterIndex]
    assert all(w.applied for w in weavings)


def test_nefertari_markers_are_honoured_with_an_event_registry_too(
    legacy: Callable[[], ModuleType],
) -> None:
    registry = EventRegistry()
    seen: list[Any] = []
    registry.subscribe(seen.append, RequestEvent)
    module = legacy()
    for view in VIEWS:
        instrument_view(f"{LEGACY}:{view}", registry=registry)
    module.Account.registered.clear()
    app = webtest.TestApp(module.make_app())

    app.post_json("/accounts", {"username": "cy"})
    app.post_json("/tokens", {"username": "cy"})
    app.get("/health")

    assert [type(e) for e in seen] == [BeforeRegister, AfterRegister]


# -- Nefertari's helpers with a configurator that is not Pyramid's -------------------


class RecordingConfig:
    """Any object with ``add_subscriber``: the helpers pass it what Nefertari would."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, dict[str, Any]]] = []

    def add_subscriber(self, subscriber: Any, iface: Any = None, **predicates: Any) -> None:
        self.calls.append((subscriber, iface, predicates))


def test_subscribe_to_events_hands_another_configurator_its_arguments_as_given() -> None:
    from eventweave.rest import subscribe_to_events

    config = RecordingConfig()
    subscribe_to_events(config, "audit.on_event", ["BeforeCreate", "AfterCreate"], model="User")

    assert config.calls == [
        ("audit.on_event", "BeforeCreate", {"model": "User"}),
        ("audit.on_event", "AfterCreate", {"model": "User"}),
    ]


def test_a_pyramid_configurator_still_gets_the_mistake_named_at_once() -> None:
    from eventweave.rest import subscribe_to_events

    with Configurator() as config, pytest.raises(TypeError, match="model: expected a model"):
        subscribe_to_events(config, print, [BeforeIndex], model="User")


def test_field_processors_read_the_field_the_predicate_found() -> None:
    from eventweave.rest import BeforeCreate, FieldData, add_field_processors

    config = RecordingConfig()
    seen: list[dict[str, Any]] = []

    def processor(**arguments: Any) -> Any:
        seen.append(arguments)
        return arguments["new_value"].upper()

    add_field_processors(config, [processor], model="User", field="name")
    assert len(config.calls) == 5  # every event that changes fields
    assert {predicates["field"] for _, _, predicates in config.calls} == {"name"}
    process_field = config.calls[0][0]

    data = {"name": "ann"}
    event = BeforeCreate(
        model=None, view=None, fields={"name": FieldData("name", "ann")}, data=data
    )
    event.field = FieldData("name", "ann")  # what the field predicate puts there, as in Nefertari
    process_field(event)

    assert seen[0]["field"] is event.field
    assert seen[0]["new_value"] == "ann"
    assert event.field.new_value == "ANN"
    assert data == {"name": "ANN"}  # set_field_value: what the view will use
