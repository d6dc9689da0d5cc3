"""The optional members of a view adapter (DRFAdapter is built on them), on a plain view."""

from __future__ import annotations

from typing import Any

from eventweave.rest import (
    AfterEvent,
    BeforeDelete,
    EventRegistry,
    NefertariAdapter,
    RequestEvent,
    instrument_view,
)
from eventweave.rest._adapter import DEFAULT_ADAPTER, adapter_for


class Catalogue:
    """A view whose methods are named after nothing eventweave knows."""

    detail = False

    def fetch(self) -> dict[str, Any]:
        return {"items": [{"id": 1}]}

    def drop(self) -> None:
        return None


class CatalogueAdapter(NefertariAdapter):
    def actions(self, cls: type) -> dict[str, Any]:
        return {"fetch": lambda view: "show" if view.detail else "index", "drop": "delete"}

    def response_of(self, result: Any) -> Any:
        return None if result is None else result["items"]

    def return_value(self, result: Any, response: Any) -> Any:
        return None if result is None else {"items": response}


def recorder(registry: EventRegistry) -> list[RequestEvent]:
    got: list[RequestEvent] = []
    registry.subscribe(got.append, RequestEvent)
    return got


def test_adapter_actions_choose_the_methods_and_their_action_per_call() -> None:
    registry = EventRegistry()
    got = recorder(registry)
    instrument_view(Catalogue, registry=registry, adapter=CatalogueAdapter())
    view = Catalogue()

    view.fetch()
    view.detail = True
    view.fetch()
    view.drop()

    assert [type(event).__name__ for event in got] == [
        "BeforeIndex",
        "AfterIndex",
        "BeforeShow",
        "AfterShow",
        "BeforeDelete",
        "AfterDelete",
    ]
    assert isinstance(got[4], BeforeDelete)


def test_adapter_reads_and_rebuilds_the_response_after_subscribers() -> None:
    registry = EventRegistry()

    def add(event: AfterEvent) -> None:
        event.response.append({"id": 2})

    registry.subscribe(add, AfterEvent)
    instrument_view(Catalogue, registry=registry, adapter=CatalogueAdapter())

    assert Catalogue().fetch() == {"items": [{"id": 1}, {"id": 2}]}


def test_views_of_no_framework_get_nefertaris_adapter() -> None:
    assert adapter_for(Catalogue) is DEFAULT_ADAPTER
