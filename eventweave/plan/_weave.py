"""``[[weave]]``: any method, your own signals (an :class:`eventweave.Emit` from a plan).

::

    [[weave]]
    target = "billing.invoices:Invoice.pay"
    pre = "billing.signals:pre_pay"
    post = "billing.signals:post_pay"
    instance = "amount"
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .._advice import SECRET_NAMES, Emit
from .._weaving import Hook, Later, Site, WeaveError, Weaving, weave
from .._weaving._importhook import initializing
from ._errors import PlanError, shown
from ._section import Context, Emitted, Item, Row, Section, pair
from ._values import ImportPath, Table, check_target, kind

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["Weave"]

_ROLES = ("pre", "post", "error")


class Weave(Section):
    """One ``[[weave]]`` table."""

    name = "weave"
    array = True
    keys = ("target", *_ROLES, "sender", "instance", "within", "robust", "redact")

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        if "target" not in table:
            raise self.where.error("needs target = 'package.module:Qual.name'")
        self.target_where = table.where("target")
        self.target = check_target(table.string("target", "a target string"), self.target_where)
        self.signals = {role: table.path(role) for role in _ROLES if role in table}
        if not self.signals:
            raise self.target_where.error(
                f"{shown(self.target)} gets no signal: "
                "add pre, post and/or error = 'package.module:signal'"
            )
        self.sender = table.optional_path("sender")
        self.instance: str | None = None
        self.instance_path: ImportPath | None = None
        if "instance" in table:
            text = table.string("instance", "a parameter name, 'self', 'result' or a path")
            if ":" in text:
                self.instance_path = table.path("instance")
            elif text.isidentifier():
                self.instance = text
            else:
                raise table.error(
                    f"{shown(text)} is not a parameter name, 'self', 'result' or "
                    "'package.module:function'",
                    "instance",
                )
        self.within = tuple(t for t, _ in table.targets("within")) if "within" in table else ()
        self.robust = table.boolean("robust")
        self.redact: tuple[str, ...] | None = None
        if "redact" in table:
            value = table.data["redact"]
            if value == []:
                self.redact = ()
            elif isinstance(value, (str, list)):
                self.redact = tuple(table.strings("redact", "a parameter name"))
            else:
                raise table.error(f"must be an array of names, got {kind(value)}", "redact")

    def identity(self) -> tuple[Any, ...]:
        paths = (*(self.signals.get(r) for r in _ROLES), self.sender, self.instance_path)
        texts = tuple(p.text if p is not None else None for p in paths)
        return (self.target, *texts, self.instance, self.within, self.robust, self.redact)

    def items(self, plan: Plan) -> list[Item]:
        def run(context: Context) -> list[Weaving]:
            try:
                return [weave(self.target, PlannedEmit(self))]
            except _PlanWeaveError as exc:
                raise exc.plan_error from None
            except WeaveError as exc:
                raise self.target_where.error(str(exc)) from None

        module = self.target.partition(":")[0]
        modules: tuple[str, ...] = (module,)
        if self.within:
            modules = tuple(dict.fromkeys([module, *(t.partition(":")[0] for t in self.within)]))
        row = Row(self.target_where, self.target, self._events, requires=self.within)
        emits = tuple(Emitted.signal(path) for path in self.signals.values())
        return [Item(self.target_where, run, modules, rows=(row,), emits=emits)]

    def _events(self, target: object) -> str:
        """What ``show`` says the target emits: its signals' names."""
        names = {role: path.name for role, path in self.signals.items()}
        if "pre" in names and "post" in names:
            text = pair(names["pre"], names["post"], names.get("error"))
        else:
            text = ", ".join(f"{role} {name}" for role, name in names.items())
        if self.within:
            text += " (within " + ", ".join(t.split(":", 1)[1] for t in self.within) + ")"
        return text


class _PlanWeaveError(WeaveError):
    """A [[weave]] entry's signals could not be imported when its target was woven."""

    def __init__(self, target: str, error: PlanError) -> None:
        self.plan_error = error
        super().__init__(target, str(error))


class PlannedEmit(Emit):
    """:class:`eventweave.Emit` whose signals, sender and instance are import paths.

    They are imported when the target is woven (once its module is imported),
    not when the plan is applied.
    """

    def __init__(self, entry: Weave) -> None:
        super().__init__(
            instance=entry.instance,
            within=list(entry.within) or None,
            robust=entry.robust,
            redact=SECRET_NAMES if entry.redact is None else entry.redact,
        )
        self.entry = entry
        self._resolved = False
        # Equal for the same entry of the same plan read twice: weaving it again is a no-op.
        self._identity = (type(self), entry.identity())

    def _key(self) -> tuple[Any, ...]:
        return self._identity

    def __repr__(self) -> str:
        roles = ", ".join(f"{role}={path.text}" for role, path in self.entry.signals.items())
        return f"PlannedEmit({roles})"

    def resolve(self) -> None:
        """Import the signals, sender and instance the plan names; PlanError if one fails.

        A module of theirs that is being imported right now (by another
        thread, or further up this thread's imports) is not imported from
        here: the weaving waits for that import to end (:class:`Later`), so
        two threads importing targets whose signals live in each other's
        modules never wait on each other.
        """
        if self._resolved:
            return
        entry = self.entry
        paths = [*entry.signals.values(), entry.sender, entry.instance_path]
        for path in paths:
            if path is not None:
                module = sys.modules.get(path.module)
                if module is not None and initializing(module):
                    raise Later(path.module)
        for role, path in entry.signals.items():
            signal = path.resolve()
            if not callable(getattr(signal, "send", None)):
                raise path.where.error(
                    f"{path.text} is {kind(signal)}, not a signal (an object with "
                    ".send(sender, **named))"
                )
            setattr(self, role, signal)
        if entry.sender is not None:
            self.sender = entry.sender.resolve()
        if entry.instance_path is not None:
            function = entry.instance_path.resolve()
            if not callable(function):
                msg = f"{entry.instance_path.text} must be a function taking an eventweave.Call"
                raise entry.instance_path.where.error(msg)
            self.instance = function
        self._resolved = True

    def bind(self, site: Site) -> Hook:
        try:
            self.resolve()
        except PlanError as exc:
            raise _PlanWeaveError(site.target, exc) from None
        return super().bind(site)
