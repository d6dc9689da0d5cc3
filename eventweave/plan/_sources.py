"""Sources of events a plan names: signals by import path, REST events by class name.

``[relay] forward`` and ``[otel] signals`` take both, in one list::

    forward = ["eventweave.portal.signals:portal_post_login", "AfterCreate"]

A REST event name (``"AfterCreate"``, as ``[[connect]] events`` takes it) stands
for ``eventweave.rest:AfterCreate``, whose events are notified on
``eventweave.rest.registry``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._weaving._targets import nearest
from ._errors import shown
from ._values import ImportPath, Table, import_path

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = [
    "REST_MODULE",
    "by_module",
    "check_registry",
    "event_classes",
    "read_sources",
    "resolve_source",
]

REST_MODULE = "eventweave.rest"
"""Where a REST event named by its class alone is imported from."""


def event_classes() -> dict[str, type]:
    """The REST event classes by name: ``BeforeIndex`` ... ``AfterRegister``."""
    from ..rest import AFTER_EVENTS, BEFORE_EVENTS

    return {cls.__name__: cls for cls in (*BEFORE_EVENTS.values(), *AFTER_EVENTS.values())}


def read_sources(table: Table, key: str) -> list[ImportPath]:
    """The signals and REST events of ``key``: import paths, each once, in the plan's order.

    :raises PlanError: for a path of the wrong shape, or a bare name that is
        no REST event (suggesting the nearest).
    """
    found: dict[str, ImportPath] = {}
    what = "an import path 'package.module:signal' or a REST event name such as 'AfterCreate'"
    for text in table.strings(key, what):
        where = table.where_item(key, text)
        if text.isidentifier():
            known = event_classes()
            if text not in known:
                msg = (
                    f"{shown(text)} is no REST event, and a signal is named by its import "
                    f"path 'package.module:{text}'; REST events are {', '.join(known)}"
                )
                raise where.error(msg + nearest(text, known))
            path = ImportPath(f"{REST_MODULE}:{text}", REST_MODULE, (text,), where)
        else:
            path = import_path(text, where)
        found.setdefault(path.text, path)
    if not found:
        raise table.error(f"names nothing; give {what}", key)
    return list(found.values())


def resolve_source(path: ImportPath) -> Any:
    """Import what ``path`` names and check that it is a signal or a REST event class.

    :raises PlanError: at the path's place in the plan.
    """
    from .._listen import is_source

    found = path.resolve()
    if not is_source(found):
        raise path.where.error(
            f"{path.text} is {type(found).__name__}, not a signal (an object with "
            "connect()) or a REST event class"
        )
    return found


def by_module(paths: list[ImportPath]) -> dict[str, list[ImportPath]]:
    """The paths grouped by module, modules in the order first named."""
    groups: dict[str, list[ImportPath]] = {}
    for path in paths:
        groups.setdefault(path.module, []).append(path)
    return groups


def check_registry(plan: Plan, path: ImportPath, section: str) -> None:
    """Refuse a REST event when the plan's ``[rest]`` notifies a registry of its own.

    The relay and OpenTelemetry take REST events from ``eventweave.rest.registry``;
    views woven with another registry would never reach them.
    """
    if path.module != REST_MODULE:
        return
    for rest in plan.sections("rest"):
        registry = getattr(rest, "registry", None)
        if registry is not None:
            raise path.where.error(
                f"{path.name} events are taken from eventweave.rest.registry, but [rest] "
                f"notifies {registry.text}: {section} would never see them; leave "
                "[rest] registry out, or drop the REST events from this list"
            )
