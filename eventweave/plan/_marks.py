"""``silent`` and ``trigger_instead`` keys: markers set on code from a plan.

``[portal]``, ``[vidispine]`` and ``[rest]`` take them alike; each section
says which actions ``trigger_instead`` accepts and how ``show`` names the
events. Markers are items of their own, set before the section weaves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .._advice import mark
from .._weaving import WeaveError, Weaving
from ._errors import Where
from ._section import Context, Item, Row
from ._values import Table, action, check_target, kind

__all__ = ["MARK_KEYS", "read_marks"]

MARK_KEYS = ("silent", "trigger_instead")


def read_marks(table: Table, actions: Sequence[str], events_of: Callable[[str], str]) -> list[Item]:
    """The marker items of ``table``: ``silent`` targets, then ``trigger_instead`` ones.

    :param actions: what ``trigger_instead`` may name.
    :param events_of: how ``show`` writes the events of an action.
    """
    items: list[Item] = []
    if "silent" in table:
        for target, where in table.targets("silent"):
            row = Row(where, target, "nothing (silent)")
            items.append(_item(where, target, row, silent=True))
    if "trigger_instead" in table:
        mapping = table.data["trigger_instead"]
        if not isinstance(mapping, dict):
            msg = "must be a table of target = action, e.g. { 'pkg.mod:View.index' = 'update' }"
            raise table.error(f"{msg}, got {kind(mapping)}", "trigger_instead")
        for target, name in mapping.items():
            where = table.where("trigger_instead", target)
            check_target(target, where)
            chosen = action(name, where, actions)
            text = f"{events_of(chosen)} instead of its own (trigger_instead)"
            items.append(_item(where, target, Row(where, target, text), instead=chosen))
    return items


def _item(
    where: Where, target: str, row: Row, *, silent: bool = False, instead: str | None = None
) -> Item:
    def run(context: Context) -> list[Weaving]:
        try:
            if silent:
                mark(target, silent=True)
            else:
                mark(target, trigger_instead=instead)
        except WeaveError as exc:
            raise where.error(str(exc).replace("cannot weave ", "cannot mark ", 1)) from None
        return []

    module = target.partition(":")[0]
    return Item(where, run, modules=(module,), rows=(row,))
