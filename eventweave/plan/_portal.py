"""``[portal]``: Cantemo's portal authentication signals around a Django-shaped views module.

::

    [portal]
    views = "portal.authentication.views"   # the default
    signals = "portal.authentication.signals"  # emit on the portal's own signals
    silent = ["portal.authentication.views:KioskLoginView"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._weaving import Weaving
from ._marks import MARK_KEYS, read_marks
from ._section import Context, Emitted, Item, Row, Section, pair
from ._values import Table, kind

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["Portal"]

_NAMES = {
    "login_view": "LoginView",
    "logout_view": "LogoutView",
    "authenticate": "authenticate",
    "login": "login",
    "logout": "logout",
}
_STEPS = (("authenticate", "login_view"), ("login", "login_view"), ("logout", "logout_view"))


class Portal(Section):
    """``[portal]``: :func:`eventweave.portal.instrument_auth` from a plan."""

    name = "portal"
    keys = ("views", *_NAMES, "signals", "robust", *MARK_KEYS)

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        self.views = table.module("views", default="portal.authentication.views")
        self.names: dict[str, str] = {}
        for key, default in _NAMES.items():
            value = table.data.get(key, default)
            if not isinstance(value, str) or not value.isidentifier():
                msg = f"must be a Python name such as {default!r}, got {kind(value)}"
                raise table.error(msg, key)
            self.names[key] = value
        self.signals = table.optional_path("signals", module_ok=True)
        self.robust = table.boolean("robust")
        self.marks = read_marks(table, (), lambda action: f"{action} events")

    def items(self, plan: Plan) -> list[Item]:
        return [*self.marks, self._instrument()]

    def _instrument(self) -> Item:
        from ..portal import instrument_auth
        from ..portal._auth import SIGNAL_NAMES

        views, names, signals = self.views, self.names, self.signals

        def run(context: Context) -> list[Weaving]:
            resolved = signals.resolve() if signals is not None else None
            try:
                return instrument_auth(views, signals=resolved, robust=self.robust, **names)
            except TypeError as exc:  # what instrument_auth says of signals= lacking one
                if signals is None:
                    raise
                raise signals.where.error(str(exc)) from None

        rows = []
        for step, view_key in _STEPS:
            view = names[view_key]
            rows.append(
                Row(
                    self.where,
                    f"{views}:{names[step]}",
                    f"{pair(f'portal_pre_{step}', f'portal_post_{step}')} (called from {view})",
                    requires=(f"{views}:{view}",),
                )
            )
        holder: Any = signals if signals is not None else "eventweave.portal.signals"
        emits = tuple(Emitted.member(holder, name) for name in SIGNAL_NAMES)
        # With signals of the portal's own, they are imported with the views, not before.
        return Item(
            self.where, run, (views,), wait=signals is not None, rows=tuple(rows), emits=emits
        )
