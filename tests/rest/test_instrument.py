"""Tests for `eventweave.rest._instrument`: events around view actions, without Pyramid."""

from __future__ import annotations

import asyncio
import copy
import importlib
import inspect
import logging
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import eventweave
from eventweave import WeaveError, mark, muted, silent, trigger_instead
from eventweave._weaving import slots
from eventweave.rest import (
    AFTER_EVENTS,
    BEFORE_EVENTS,
    AfterCreate,
    AfterEvent,
    AfterIndex,
    AfterShow,
    AfterUpdate,
    BeforeCreate,
    BeforeEvent,
    BeforeIndex,
    BeforeShow,
    BeforeUpdate,
    EventRegistry,
    NefertariAdapter,
    RequestEvent,
    _instrument,
    add_field_processors,
    instrument_view,
    registry,
)


class User:
    pass


class Admin(User):
    pass


class Story:
    pass


class View:
    """A view shaped like Nefertari's: Model, _json_params, context, request."""

    Model: type = User

    def __init__(self, data: dict[str, Any] | None = None, context: Any = None) -> None:
        self._json_params = {} if data is None else data
        self.context = context
        self.request = None


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    registry.clear()
    eventweave.unweave_all()
    assert not eventweave.woven()


@pytest.fixture
def seen() -> list[RequestEvent]:
    received: list[RequestEvent] = []
    registry.subscribe(received.append, RequestEvent)
    return received


def kinds(events: list[RequestEvent]) -> list[type]:
    return [type(event) for event in events]


# -- the decorator ------------------------------------------------------------


def test_decorator_returns_the_class() -> None:
    class UsersView(View):
        def index(self) -> list[Any]:
            return []

    assert instrument_view(UsersView) is UsersView


def test_called_decorator_takes_options(seen: list[RequestEvent]) -> None:
    own = EventRegistry()
    received: list[RequestEvent] = []
    own.subscribe(received.append, RequestEvent)

    @instrument_view(registry=own)
    class UsersView(View):
        def index(self) -> list[Any]:
            return []

    UsersView().index()

    assert kinds(received) == [BeforeIndex, AfterIndex]
    assert seen == []


def test_before_fires_before_the_method_and_after_after_it() -> None:
    order: list[str] = []
    registry.subscribe(lambda e: order.append(type(e).__name__), RequestEvent)

    @instrument_view
    class UsersView(View):
        def create(self) -> dict[str, Any]:
            order.append("create")
            return {}

    UsersView().create()

    assert order == ["BeforeCreate", "create", "AfterCreate"]


@pytest.mark.parametrize("action", list(BEFORE_EVENTS))
def test_each_action_method_fires_its_own_events(action: str, seen: list[RequestEvent]) -> None:
    view_class = type("ActionView", (View,), {action: lambda self: "done"})
    instrument_view(view_class)

    result = getattr(view_class(), action)()

    assert result == "done"
    assert kinds(seen) == [BEFORE_EVENTS[action], AFTER_EVENTS[action]]


def test_methods_that_are_no_actions_are_not_woven(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        def index(self) -> list[Any]:
            return self.load()

        def load(self) -> list[Any]:
            return []

    UsersView().load()

    assert seen == []
    assert [w.target.rpartition(".")[2] for w in eventweave.woven()] == ["index"]


def test_class_without_actions_is_an_error() -> None:
    class Helpers(View):
        def load(self) -> None:
            pass

    with pytest.raises(WeaveError, match="defines none of the view actions"):
        instrument_view(Helpers)


def test_something_other_than_a_class_or_target_is_rejected() -> None:
    with pytest.raises(TypeError, match="takes a view class or a target string"):
        instrument_view(42)  # type: ignore[call-overload]


# -- before events ------------------------------------------------------------


def test_before_event_carries_model_view_fields_and_instance(seen: list[RequestEvent]) -> None:
    item = User()

    @instrument_view
    class UsersView(View):
        def update(self) -> dict[str, Any]:
            return {}

    view = UsersView({"name": "Ann"}, context=item)
    view.update()

    before = seen[0]
    assert isinstance(before, BeforeUpdate)
    assert before.model is User
    assert before.view is view
    assert before.instance is item
    assert {n: f.new_value for n, f in before.fields.items()} == {"name": "Ann"}
    assert before.response is None


def test_before_event_data_is_the_dict_the_view_reads(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        def create(self) -> dict[str, Any]:
            return {}

    view = UsersView({"name": "Ann"})
    view.create()

    assert seen[0].data is view._json_params


def test_before_set_field_value_changes_what_the_method_reads() -> None:
    registry.subscribe(lambda e: e.set_field_value("name", "Bob"), BeforeCreate)

    @instrument_view
    class UsersView(View):
        def create(self) -> dict[str, Any]:
            return dict(self._json_params)

    assert UsersView({"name": "Ann"}).create() == {"name": "Bob"}


def test_before_subscriber_that_raises_vetoes_the_method() -> None:
    ran: list[str] = []

    def reject(event: BeforeCreate) -> None:
        raise ValueError("name: required")

    registry.subscribe(reject, BeforeCreate)

    @instrument_view
    class UsersView(View):
        def create(self) -> None:
            ran.append("create")

    with pytest.raises(ValueError, match="name: required"):
        UsersView().create()
    assert ran == []


def test_context_that_is_no_item_of_the_model_is_no_instance(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        def show(self) -> None:
            pass

    UsersView(context=object()).show()

    assert seen[0].instance is None


def test_context_with_nefertari_pk_field_is_the_instance(seen: list[RequestEvent]) -> None:
    class Document:
        pk_field = "id"

    @instrument_view
    class UsersView(View):
        def show(self) -> None:
            pass

    document = Document()
    UsersView(context=document).show()

    assert seen[0].instance is document


def test_model_predicate_selects_views_of_that_model_and_its_subclasses() -> None:
    models: list[Any] = []
    registry.subscribe(lambda e: models.append(e.model), BeforeIndex, model=User)

    @instrument_view
    class UsersView(View):
        def index(self) -> None:
            pass

    class AdminsView(UsersView):
        Model = Admin

    class StoriesView(UsersView):
        Model = Story

    UsersView().index()
    AdminsView().index()
    StoriesView().index()

    assert models == [User, Admin]


# -- after events -------------------------------------------------------------


def test_after_event_response_is_the_methods_result(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        def show(self) -> dict[str, Any]:
            return {"id": 1}

    UsersView().show()

    assert seen[1].response == {"id": 1}


def test_after_subscriber_replacing_the_response_changes_the_return_value() -> None:
    def replace(event: AfterShow) -> None:
        event.response = {"replaced": True}

    registry.subscribe(replace, AfterShow)

    @instrument_view
    class UsersView(View):
        def show(self) -> dict[str, Any]:
            return {"id": 1}

    assert UsersView().show() == {"replaced": True}


def test_after_set_field_value_edits_every_item_of_a_data_list() -> None:
    registry.subscribe(lambda e: e.set_field_value("password", None), AfterIndex)

    @instrument_view
    class UsersView(View):
        def index(self) -> dict[str, Any]:
            return {"data": [{"password": "a"}, {"password": "b"}], "count": 2}

    assert UsersView().index() == {"data": [{"password": None}, {"password": None}], "count": 2}


@pytest.mark.parametrize("result", [3, [{"id": 1}], None], ids=["count", "list", "none"])
def test_after_set_field_value_on_a_result_that_is_no_dict_is_left_alone(result: Any) -> None:
    registry.subscribe(lambda e: e.set_field_value("password", None), AfterIndex)

    expected = copy.deepcopy(result)  # the view returns result itself: compare to a copy

    @instrument_view
    class UsersView(View):
        def index(self) -> Any:
            return result

    assert UsersView().index() == expected


def test_after_fields_include_before_edits_and_processors(seen: list[RequestEvent]) -> None:
    registry.subscribe(lambda e: e.set_field_value("source", "api"), BeforeCreate)
    add_field_processors(registry, [lambda new_value, **kw: new_value.lower()], User, "email")

    @instrument_view
    class UsersView(View):
        def create(self) -> None:
            pass

    UsersView({"email": "ANN@X.ORG"}).create()

    after = seen[-1]
    assert isinstance(after, AfterCreate)
    assert {n: f.new_value for n, f in after.fields.items()} == {
        "email": "ann@x.org",
        "source": "api",
    }


def test_after_fields_follow_direct_edits_of_the_views_data(seen: list[RequestEvent]) -> None:
    def edit_directly(event: BeforeCreate) -> None:
        # Nefertari documents changing view._json_params itself.
        event.view._json_params["name"] = "Bob"
        del event.view._json_params["draft"]

    registry.subscribe(edit_directly, BeforeCreate)

    @instrument_view
    class UsersView(View):
        def create(self) -> None:
            pass

    UsersView({"name": "Ann", "draft": True}).create()

    assert {n: f.new_value for n, f in seen[-1].fields.items()} == {"name": "Bob"}


def test_after_subscriber_error_propagates() -> None:
    def broken(event: AfterCreate) -> None:
        raise RuntimeError("mailer down")

    registry.subscribe(broken, AfterCreate)

    @instrument_view
    class UsersView(View):
        def create(self) -> dict[str, Any]:
            return {"id": 1}

    with pytest.raises(RuntimeError, match="mailer down"):
        UsersView().create()


def test_robust_view_logs_an_after_subscriber_error_and_returns_the_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: AfterCreate) -> None:
        raise RuntimeError("mailer down")

    registry.subscribe(broken, AfterCreate)

    @instrument_view(robust=True)
    class UsersView(View):
        def create(self) -> dict[str, Any]:
            return {"id": 1}

    with caplog.at_level(logging.ERROR, logger="eventweave"):
        assert UsersView().create() == {"id": 1}
    (record,) = caplog.records
    assert "AfterCreate" in record.getMessage()
    assert record.exc_info is not None and "mailer down" in str(record.exc_info[1])


def test_robust_view_still_lets_before_subscribers_veto() -> None:
    def reject(event: BeforeCreate) -> None:
        raise ValueError("invalid")

    registry.subscribe(reject, BeforeCreate)

    @instrument_view(robust=True)
    class UsersView(View):
        def create(self) -> None:
            pass

    with pytest.raises(ValueError, match="invalid"):
        UsersView().create()


# -- silent, muted, trigger_instead -------------------------------------------


def test_silent_class_fires_nothing_and_returns_its_result(seen: list[RequestEvent]) -> None:
    @silent
    @instrument_view
    class HealthView(View):
        def index(self) -> dict[str, str]:
            return {"status": "ok"}

    assert HealthView().index() == {"status": "ok"}
    assert seen == []


def test_subclass_of_a_silent_class_is_silent(seen: list[RequestEvent]) -> None:
    @silent
    class QuietView(View):
        def index(self) -> str:
            return "quiet"

    @instrument_view
    class SubView(QuietView):
        pass

    assert SubView().index() == "quiet"
    assert seen == []


def test_silent_method_fires_nothing_and_returns_its_result(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        @silent
        def index(self) -> list[str]:
            return ["ann"]

        def show(self) -> str:
            return "ann"

    assert UsersView().index() == ["ann"]
    assert seen == []
    UsersView().show()
    assert kinds(seen) == [BeforeShow, AfterShow]


def test_mark_silent_after_instrumenting_is_honoured(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        def index(self) -> str:
            return "all"

    mark((UsersView, "index"), silent=True)

    assert UsersView().index() == "all"
    assert seen == []


def test_muted_fires_nothing(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        def index(self) -> str:
            return "all"

    with muted():
        assert UsersView().index() == "all"
    assert seen == []


def test_trigger_instead_fires_the_other_actions_events(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        @trigger_instead("update")
        def index(self) -> str:
            return "updated"

    assert UsersView().index() == "updated"
    assert kinds(seen) == [BeforeUpdate, AfterUpdate]


def test_method_that_is_no_action_but_marked_trigger_instead_fires(
    seen: list[RequestEvent],
) -> None:
    @instrument_view
    class UsersView(View):
        @trigger_instead("update")
        def activate(self) -> str:
            return "active"

    assert UsersView().activate() == "active"
    assert kinds(seen) == [BeforeUpdate, AfterUpdate]


def test_mark_trigger_instead_after_instrumenting_is_honoured(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        def index(self) -> str:
            return "all"

    mark((UsersView, "index"), trigger_instead="update")
    UsersView().index()
    mark((UsersView, "index"), trigger_instead=False)
    UsersView().index()

    assert kinds(seen) == [BeforeUpdate, AfterUpdate, BeforeIndex, AfterIndex]


def test_trigger_instead_of_an_unknown_action_names_the_valid_ones() -> None:
    class UsersView(View):
        @trigger_instead("updte")
        def index(self) -> None:
            pass

    expected = r"trigger_instead\('updte'\).*expected one of .*, update, update_many"
    with pytest.raises(ValueError, match=expected):
        instrument_view(UsersView)
    assert not eventweave.woven()


def test_unknown_action_marked_after_instrumenting_fails_the_call_clearly(
    seen: list[RequestEvent],
) -> None:
    @instrument_view
    class UsersView(View):
        def index(self) -> None:
            pass

    mark((UsersView, "index"), trigger_instead="updte")

    with pytest.raises(ValueError, match="names no REST action; expected one of"):
        UsersView().index()


# -- async --------------------------------------------------------------------


async def test_async_method_fires_after_once_the_result_is_awaited() -> None:
    order: list[str] = []
    registry.subscribe(lambda e: order.append(type(e).__name__), RequestEvent)

    @instrument_view
    class UsersView(View):
        async def show(self) -> dict[str, Any]:
            order.append("started")
            await asyncio.sleep(0)
            order.append("finished")
            return {"id": 1}

    pending = UsersView().show()
    assert order == []  # creating the coroutine fires nothing
    assert await pending == {"id": 1}
    assert order == ["BeforeShow", "started", "finished", "AfterShow"]


async def test_async_after_subscriber_can_replace_the_awaited_response() -> None:
    def replace(event: AfterShow) -> None:
        event.response = {"id": event.response["id"], "extra": True}

    registry.subscribe(replace, AfterShow)

    @instrument_view
    class UsersView(View):
        async def show(self) -> dict[str, Any]:
            await asyncio.sleep(0)
            return {"id": 1}

    assert await UsersView().show() == {"id": 1, "extra": True}


# -- one event pair per action call -------------------------------------------


def test_instrumenting_twice_fires_once(seen: list[RequestEvent]) -> None:
    class UsersView(View):
        def index(self) -> None:
            pass

    instrument_view(UsersView)
    instrument_view(UsersView)
    UsersView().index()

    assert kinds(seen) == [BeforeIndex, AfterIndex]


def test_instrumenting_with_and_without_an_adapter_fires_once(seen: list[RequestEvent]) -> None:
    class UsersView(View):
        def index(self) -> None:
            pass

    instrument_view(UsersView)
    instrument_view(UsersView, adapter=NefertariAdapter())
    instrument_view(UsersView, robust=True)
    UsersView().index()

    assert kinds(seen) == [BeforeIndex, AfterIndex]


@pytest.fixture
def other() -> tuple[EventRegistry, list[RequestEvent]]:
    """A registry of its own, and what its subscriber received."""
    own = EventRegistry()
    received: list[RequestEvent] = []
    own.subscribe(received.append, RequestEvent)
    return own, received


def test_instrumenting_for_two_registries_fires_one_pair_in_each_on_every_call(
    seen: list[RequestEvent], other: tuple[EventRegistry, list[RequestEvent]]
) -> None:
    # The weavings leave in weave order; none may leave the view marked as
    # still inside its action, or its next call would be taken for a nested one.
    own, received = other

    class UsersView(View):
        def index(self) -> None:
            pass

    instrument_view(UsersView)
    instrument_view(UsersView, registry=own)
    instrument_view(UsersView, registry=registry)  # the default registry, named
    view = UsersView()
    view.index()
    view.index()

    assert kinds(seen) == [BeforeIndex, AfterIndex] * 2
    assert kinds(received) == [BeforeIndex, AfterIndex] * 2


def test_a_view_instrumented_for_two_registries_fires_again_after_a_failure(
    seen: list[RequestEvent], other: tuple[EventRegistry, list[RequestEvent]]
) -> None:
    own, received = other

    class UsersView(View):
        def index(self) -> None:
            raise LookupError("no users")

    instrument_view(UsersView)
    instrument_view(UsersView, registry=own)
    view = UsersView()
    for _ in range(2):
        with pytest.raises(LookupError):
            view.index()

    assert kinds(seen) == [BeforeIndex] * 2
    assert kinds(received) == [BeforeIndex] * 2


def test_super_call_to_an_instrumented_method_fires_once(seen: list[RequestEvent]) -> None:
    @instrument_view
    class BaseUsersView(View):
        def index(self) -> list[str]:
            return ["ann"]

    @instrument_view
    class UsersView(BaseUsersView):
        def index(self) -> list[str]:
            return [*super().index(), "bob"]

    assert UsersView().index() == ["ann", "bob"]
    assert kinds(seen) == [BeforeIndex, AfterIndex]


def test_action_delegating_to_another_action_fires_only_its_own(
    seen: list[RequestEvent],
) -> None:
    @instrument_view
    class UsersView(View):
        def update(self) -> str:
            return "updated"

        def replace(self) -> str:
            return self.update()

    assert UsersView().replace() == "updated"
    assert [type(e).__name__ for e in seen] == ["BeforeReplace", "AfterReplace"]


def test_inherited_action_fires_with_the_subclass_model(seen: list[RequestEvent]) -> None:
    class BaseUsersView(View):
        def index(self) -> str:
            return "all"

    @instrument_view
    class AdminsView(BaseUsersView):
        Model = Admin

    assert AdminsView().index() == "all"
    BaseUsersView().index()

    assert [(type(e), e.model) for e in seen] == [(BeforeIndex, Admin), (AfterIndex, Admin)]


def test_view_is_usable_again_after_an_action_failed(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        def update(self) -> str:
            raise LookupError("gone")

        def replace(self) -> str:
            return "replaced"

    view = UsersView()
    with pytest.raises(LookupError):
        view.update()
    view.replace()

    assert kinds(seen)[-2:] == [BEFORE_EVENTS["replace"], AFTER_EVENTS["replace"]]


def test_woven_actions_keep_name_signature_docstring_and_coroutine_ness() -> None:
    class UsersView(View):
        def update(self, id: int, *, force: bool = False) -> dict[str, Any]:
            """Change one user."""
            return {}

        async def show(self, id: int) -> dict[str, Any]:
            """One user."""
            return {}

    # Taken before weaving: woven in place, the method is the same function.
    originals = {
        name: (
            function.__code__,
            function.__doc__,
            inspect.signature(function),
            inspect.iscoroutinefunction(function),
        )
        for name, function in ((name, vars(UsersView)[name]) for name in ("update", "show"))
    }
    instrument_view(UsersView)
    registry.subscribe(lambda event: None, RequestEvent)  # the listening form is installed

    for name, (code, doc, signature, coroutine) in originals.items():
        woven = vars(UsersView)[name]
        assert woven.__code__ is not code
        assert woven.__name__ == name
        assert woven.__doc__ == doc
        assert inspect.signature(woven) == signature
        assert inspect.iscoroutinefunction(woven) is coroutine


def test_unweave_all_restores_the_original_methods() -> None:
    class UsersView(View):
        def index(self) -> None:
            pass

    original = vars(UsersView)["index"]
    code = original.__code__
    instrument_view(UsersView)
    registry.subscribe(lambda event: None, RequestEvent)  # the listening form is installed
    assert any(owner is UsersView for owner, _, _ in slots())
    assert vars(UsersView)["index"].__code__ is not code

    eventweave.unweave_all()

    assert vars(UsersView)["index"] is original
    assert original.__code__ is code
    assert not any(owner is UsersView for owner, _, _ in slots())


# -- registries and adapters --------------------------------------------------


class CountingAdapter(NefertariAdapter):
    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0

    def model(self, view: Any) -> Any:
        self.calls += 1
        return super().model(view)


def test_explicit_registry_with_nobody_subscribed_builds_no_event() -> None:
    adapter = CountingAdapter()
    own = EventRegistry()

    @instrument_view(registry=own, adapter=adapter)
    class UsersView(View):
        def index(self) -> str:
            return "all"

    assert UsersView().index() == "all"
    assert adapter.calls == 0
    own.subscribe(lambda e: None, BeforeIndex)
    UsersView().index()
    assert adapter.calls == 1


def test_default_registry_with_nobody_subscribed_builds_no_event() -> None:
    adapter = CountingAdapter()

    @instrument_view(adapter=adapter)
    class UsersView(View):
        def index(self) -> str:
            return "all"

    UsersView().index()

    assert adapter.calls == 0


def test_custom_adapter_supplies_model_data_and_instance(seen: list[RequestEvent]) -> None:
    item = Story()

    class StoryAdapter(NefertariAdapter):
        def model(self, view: Any) -> Any:
            return Story

        def data(self, view: Any) -> dict[str, Any]:
            return view.payload  # type: ignore[no-any-return]

        def instance(self, view: Any) -> Any:
            return view.story

    @instrument_view(adapter=StoryAdapter())
    class StoryView:
        def __init__(self) -> None:
            self.payload = {"title": "Once"}
            self.story = item

        def update(self) -> dict[str, Any]:
            return dict(self.payload)

    registry.subscribe(lambda e: e.set_field_value("title", "Twice"), BeforeUpdate)

    assert StoryView().update() == {"title": "Twice"}
    before = seen[0]
    assert (before.model, before.instance) == (Story, item)


def test_adapter_lacking_methods_is_rejected_with_what_it_lacks() -> None:
    class Partial:
        def model(self, view: Any) -> Any:
            return None

    with pytest.raises(TypeError, match="lacks data, instance, request"):
        instrument_view(View, adapter=Partial())  # type: ignore[arg-type]


def test_registry_that_cannot_notify_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"registry: expected an eventweave\.rest\.EventRegistry"):
        instrument_view(View, registry=object())


class FakeRequest:
    """What the default adapter reads from a request: ``body`` and ``json_body``."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body
        self.body = b"{...}"

    @property
    def json_body(self) -> dict[str, Any]:
        return dict(self._body)  # a fresh copy each time, as WebOb decodes anew


def test_view_without_json_params_gets_fields_from_the_request_body(
    seen: list[RequestEvent],
) -> None:
    @instrument_view
    class PlainView:
        Model = User

        def __init__(self, request: FakeRequest) -> None:
            self.request = request

        def create(self) -> None:
            pass

    PlainView(FakeRequest({"name": "Ann"})).create()

    assert {n: f.new_value for n, f in seen[0].fields.items()} == {"name": "Ann"}


def test_editing_a_request_body_the_view_rereads_is_refused_not_lost() -> None:
    def edit(event: BeforeEvent) -> None:
        event.set_field_value("name", "Bob")

    registry.subscribe(edit, BeforeCreate)

    @instrument_view
    class PlainView:
        def __init__(self, request: FakeRequest) -> None:
            self.request = request

        def create(self) -> None:
            pass

    with pytest.raises(TypeError, match="no request data to change"):
        PlainView(FakeRequest({"name": "Ann"})).create()


def test_view_without_any_request_data_has_no_fields(seen: list[RequestEvent]) -> None:
    @instrument_view
    class BareView:
        def index(self) -> str:
            return "ok"

    assert BareView().index() == "ok"
    assert seen[0].fields == {} and seen[0].model is None


# -- legacy views by target string --------------------------------------------


LEGACY_SOURCE = """
class UsersView:
    Model = None

    def __init__(self):
        self._json_params = {}

    def index(self):
        return ["ann"]

    def show(self):
        return {"id": 1}

    def helper(self):
        return None
"""


@pytest.fixture
def legacy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"legacy_views_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(LEGACY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_target_string_instruments_the_view_when_its_module_is_imported(
    legacy_module: str, seen: list[RequestEvent]
) -> None:
    weavings = instrument_view(f"{legacy_module}:UsersView")
    assert weavings.pending and list(weavings) == []

    module = importlib.import_module(legacy_module)

    assert not weavings.pending
    assert sorted(w.target.rpartition(".")[2] for w in weavings) == ["index", "show"]
    assert module.UsersView().index() == ["ann"]
    assert kinds(seen) == [BeforeIndex, AfterIndex]


def test_target_string_for_an_imported_module_instruments_at_once(
    legacy_module: str, seen: list[RequestEvent]
) -> None:
    module = importlib.import_module(legacy_module)

    weavings = instrument_view(f"{legacy_module}:UsersView")

    assert len(weavings) == 2
    module.UsersView().show()
    assert kinds(seen) == [BeforeShow, AfterShow]


def test_target_string_naming_a_missing_class_suggests_the_nearest(legacy_module: str) -> None:
    importlib.import_module(legacy_module)

    with pytest.raises(WeaveError, match="did you mean 'UsersView'"):
        instrument_view(f"{legacy_module}:UserView")


def test_target_string_failing_at_import_is_logged_and_kept(
    legacy_module: str, caplog: pytest.LogCaptureFixture
) -> None:
    weavings = instrument_view(f"{legacy_module}:UserView")

    with caplog.at_level(logging.ERROR, logger="eventweave"):
        importlib.import_module(legacy_module)

    assert isinstance(weavings.error, WeaveError)
    assert not weavings.pending
    assert "did you mean 'UsersView'" in caplog.text


def test_unweaving_a_pending_target_keeps_it_from_being_instrumented(
    legacy_module: str, seen: list[RequestEvent]
) -> None:
    weavings = instrument_view(f"{legacy_module}:UsersView")
    weavings.unweave()

    module = importlib.import_module(legacy_module)
    module.UsersView().index()

    assert list(weavings) == [] and seen == []


def test_unweaving_target_weavings_restores_the_methods(legacy_module: str) -> None:
    module = importlib.import_module(legacy_module)
    original = vars(module.UsersView)["index"]
    weavings = instrument_view(f"{legacy_module}:UsersView")

    weavings.unweave()

    assert vars(module.UsersView)["index"] is original


def test_after_event_is_an_after_event_of_the_same_view(seen: list[RequestEvent]) -> None:
    @instrument_view
    class UsersView(View):
        def index(self) -> None:
            pass

    view = UsersView()
    view.index()

    before, after = seen
    assert isinstance(before, BeforeEvent) and isinstance(after, AfterEvent)
    assert after.view is view


def test_default_registry_views_skip_building_events_while_nobody_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eventweave.rest import _instrument

    built: list[object] = []

    class CountingAdapter(_instrument.NefertariAdapter):
        def model(self, view: Any) -> Any:
            built.append(view)
            return super().model(view)

    class QuietView:
        Model = None
        _json_params: dict[str, Any] = {}

        def index(self) -> list[int]:
            return [1]

    monkeypatch.setattr(_instrument.pyramid_apps, "receivers", ())
    instrument_view(QuietView, adapter=CountingAdapter())
    assert QuietView().index() == [1]
    assert built == []
    seen: list[Any] = []
    _instrument.default_registry.subscribe(seen.append, BeforeIndex)
    try:
        assert QuietView().index() == [1]
    finally:
        _instrument.default_registry.unsubscribe(seen.append)
    assert len(built) == 1
    assert [type(e) for e in seen] == [BeforeIndex]


def test_target_string_view_is_listed_once_by_woven_pending_then_applied(
    legacy_module: str,
) -> None:
    weavings = instrument_view(f"{legacy_module}:UsersView")
    (listed,) = [w for w in eventweave.woven() if w.target == f"{legacy_module}:UsersView"]
    assert listed is weavings.weaving and listed.pending
    importlib.import_module(legacy_module)
    assert listed.applied
    assert [w.target for w in eventweave.woven()].count(f"{legacy_module}:UsersView") == 1
    assert all(not part.target.endswith("UsersView") for part in listed.parts)


def test_unweave_all_before_the_import_means_the_view_is_never_woven(
    legacy_module: str, seen: list[RequestEvent]
) -> None:
    weavings = instrument_view(f"{legacy_module}:UsersView")
    eventweave.unweave_all()
    module = importlib.import_module(legacy_module)
    assert module.UsersView().index() == ["ann"]
    assert seen == []
    assert not weavings.pending and len(weavings) == 0
    assert vars(module.UsersView)["index"].__code__.co_filename == module.__file__


def test_target_string_naming_a_function_is_refused(legacy_module: str, tmp_path: Path) -> None:
    (tmp_path / f"{legacy_module}_fn.py").write_text("def index():\n    return []\n")
    importlib.import_module(f"{legacy_module}_fn")
    try:
        with pytest.raises(WeaveError, match="it is a function"):
            instrument_view(f"{legacy_module}_fn:index")
    finally:
        sys.modules.pop(f"{legacy_module}_fn", None)


def test_view_woven_in_place_runs_its_own_code_until_someone_subscribes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eventweave._weaving._codegen import INPLACE_ENV

    monkeypatch.delenv(INPLACE_ENV, raising=False)
    monkeypatch.setattr(_instrument.pyramid_apps, "receivers", ())

    class Plain:
        Model = None
        _json_params: dict[str, Any] = {}

        def index(self) -> list[int]:
            return [1]

    code = vars(Plain)["index"].__code__
    instrument_view(Plain)
    assert vars(Plain)["index"].__code__ is code  # nothing to pay while nobody subscribes
    seen: list[Any] = []
    _instrument.default_registry.subscribe(seen.append, BeforeIndex)
    try:
        assert vars(Plain)["index"].__code__ is not code
        assert Plain().index() == [1]
    finally:
        _instrument.default_registry.unsubscribe(seen.append)
    assert vars(Plain)["index"].__code__ is code
    assert [type(e) for e in seen] == [BeforeIndex]
