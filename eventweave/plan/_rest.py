"""``[rest]``: Nefertari's Before/After events around REST views' actions (DRF views too).

::

    [rest]
    views = ["myapi.views:UsersView", "myapi.views:ItemsView"]
    silent = ["myapi.views:HealthView"]
    trigger_instead = { "myapi.views:UsersView.reindex" = "update" }
    registry = "myapi.events:registry"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._weaving import Weaving
from ._marks import MARK_KEYS, read_marks
from ._section import Context, Emitted, Item, Row, Section, pair
from ._values import ImportPath, Table

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["DEFAULT_REGISTRY", "Rest", "registry_emitted"]

DEFAULT_REGISTRY = "eventweave.rest:registry"


def _actions() -> dict[str, Any]:
    from ..rest import BEFORE_EVENTS

    return dict(BEFORE_EVENTS)


def _events_of(action: str) -> str:
    from ..rest import AFTER_EVENTS, BEFORE_EVENTS

    return pair(BEFORE_EVENTS[action].__name__, AFTER_EVENTS[action].__name__)


def _view_events(view: Any) -> str:
    """What ``show`` says a view fires: the actions its framework's adapter finds on it."""
    from ..rest._adapter import actions_of, adapter_for

    if view is None:
        return "Before/After events of each action method"
    if not isinstance(view, type):
        return f"nothing: it is {type(view).__name__}, not a view class"
    adapter = adapter_for(view)
    events = getattr(adapter, "before_events", None) or _actions()
    found = actions_of(adapter, view)
    if not found:
        return "nothing: it has no action method (" + ", ".join(_actions()) + ")"
    names = []
    for method, action in found.items():
        if isinstance(action, str) and action in events:
            names.append(events[action].__name__.removeprefix("Before"))
        else:
            names.append(f"{method} (by route)")  # chosen per request: Show or Index...
    return "Before/After " + ", ".join(dict.fromkeys(names))


def registry_emitted(path: ImportPath | None) -> Emitted:
    """The REST registry events are notified on: the plan's, or eventweave's."""
    if path is not None:
        return Emitted("", path.module, path.resolve, registry=True)

    def default() -> Any:
        from ..rest import registry

        return registry

    return Emitted("", "eventweave.rest", default, registry=True)


class Rest(Section):
    """``[rest]``: :func:`eventweave.rest.instrument_view` from a plan."""

    name = "rest"
    keys = ("views", "registry", "adapter", "robust", *MARK_KEYS)

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        self.views = table.targets("views") if "views" in table else []
        self.registry = table.optional_path("registry")
        self.adapter = table.optional_path("adapter")
        self.robust = table.boolean("robust")
        self.marks = read_marks(table, tuple(_actions()), _events_of)

    def items(self, plan: Plan) -> list[Item]:
        return [*self.marks, *(self._view(target, where) for target, where in self.views)]

    def _view(self, target: str, where: Any) -> Item:
        from ..rest import instrument_view

        registry, adapter, robust = self.registry, self.adapter, self.robust

        def run(context: Context) -> list[Weaving]:
            views = instrument_view(
                target,
                registry=registry.resolve() if registry is not None else None,
                adapter=adapter.resolve() if adapter is not None else None,
                robust=robust,
            )
            # One weaving for the view, as woven() lists it: its methods are its parts.
            return [views.weaving]

        module = target.partition(":")[0]
        return Item(
            where,
            run,
            (module,),
            wait=registry is not None or adapter is not None,
            rows=(Row(where, target, _view_events),),
            emits=(registry_emitted(registry),),
        )
