"""``[vidispine]``: Vidispine signals around a portal's helper classes, and around HTTP calls.

::

    [vidispine]
    helpers = "portal.vidispine.interface"       # one module for every class, or
    # helpers = { ItemHelper = "portal.vidispine.iitem", UserHelper = "portal.vidispine.iuser" }
    http = { base_url = "http://localhost:8080/API" }
    methods = { ItemHelper = { getItemMetadata = "get", removeShapeTag = false } }
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._weaving import Weaving
from .._weaving._targets import nearest
from ._errors import shown
from ._marks import MARK_KEYS, read_marks
from ._section import Context, Emitted, Item, Row, Section, pair
from ._values import ImportPath, Table, action, check_module, kind

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["Vidispine"]

Methods = dict[str, dict[str, str | None] | None]

_OURS = "eventweave.vidispine.signals"
_SHAPE = "a table { HelperClass = { methodName = 'modify' } }"
_HTTP_KEYS = ("base_url",)


def _families() -> tuple[str, ...]:
    from ..vidispine._helpers import FAMILIES

    return FAMILIES


def _locate(helpers: dict[str, str], methods: Any) -> Any:
    from ..vidispine._helpers import _locate

    return _locate(helpers, methods)


def _plan(methods: Methods | None) -> Any:
    from ..vidispine._helpers import _plan

    return _plan(methods)


def _default_table() -> Mapping[str, Mapping[str, str]]:
    from ..vidispine import HELPER_METHODS

    return HELPER_METHODS


class Vidispine(Section):
    """``[vidispine]``: :func:`~eventweave.vidispine.instrument_helpers` and
    :func:`~eventweave.vidispine.instrument_http` from a plan."""

    name = "vidispine"
    keys = ("helpers", "methods", "signals", "robust", "http", *MARK_KEYS)

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        if "helpers" not in table and "http" not in table:
            raise self.where.error(
                "names nothing to instrument: add helpers = 'your.vidispine.module' "
                "and/or http = { base_url = 'http://host:8080/API' }"
            )
        self.methods = self._read_methods(table)
        self.helpers = self._read_helpers(table) if "helpers" in table else None
        self.signals = table.optional_path("signals", module_ok=True)
        self.robust = table.boolean("robust")
        self.base_url = self._read_http(table) if "http" in table else None
        families = _families()
        self.marks = read_marks(
            table,
            families,
            lambda family: pair(f"vidispine_pre_{family}", f"vidispine_post_{family}"),
        )

    # -- reading ----------------------------------------------------------------

    def _read_methods(self, table: Table) -> Methods | None:
        if "methods" not in table:
            return None
        if "helpers" not in table:
            raise table.error(
                "methods applies to helpers; add helpers = 'your.vidispine.module'", "methods"
            )
        data = table.data["methods"]
        if not isinstance(data, dict):
            raise table.error(f"must be {_SHAPE}, got {kind(data)}", "methods")
        families = _families()
        methods: Methods = {}
        for cls, row in data.items():
            where = table.where("methods", cls)
            if not cls.isidentifier():
                raise where.error(f"{shown(cls)} is not a class name; {_SHAPE}")
            if row is False:
                methods[cls] = None  # the whole class is left alone
                continue
            if not isinstance(row, dict):
                msg = f"must be {_SHAPE}, or false to leave the class alone"
                raise where.error(f"{msg}; got {kind(row)}")
            overrides: dict[str, str | None] = {}
            for method, family in row.items():
                spot = table.where("methods", cls, method)
                if not method.isidentifier():
                    raise spot.error(f"{shown(method)} is not a method name")
                overrides[method] = None if family is False else action(family, spot, families)
            methods[cls] = overrides
        return methods

    def _read_helpers(self, table: Table) -> str | dict[str, str]:
        value = table.data["helpers"]
        if not isinstance(value, dict):
            return table.module("helpers")
        known = [*_default_table(), *(self.methods or {})]
        helpers: dict[str, str] = {}
        for cls, module in value.items():
            where = table.where("helpers", cls)
            if cls not in known:
                msg = (
                    f"{shown(cls)} is no helper class of the table or of methods; "
                    f"expected one of {', '.join(sorted(set(known)))}"
                )
                raise where.error(msg + nearest(cls, known))
            if not isinstance(module, str):
                raise where.error(
                    f"must be a module name such as 'portal.vidispine.iitem', got {kind(module)}"
                )
            helpers[cls] = check_module(module, where)
        if not helpers:
            raise table.error(
                "names no helper class: { ItemHelper = 'portal.vidispine.iitem' }", "helpers"
            )
        try:  # instrument_helpers' own rule: each class methods names has a module
            _locate(helpers, _plan(self.methods))
        except (TypeError, ValueError) as exc:
            message = str(exc).replace("methods=", "methods").replace("module=", "helpers")
            raise table.error(message, "methods" if self.methods else "helpers") from None
        return helpers

    def _read_http(self, table: Table) -> str:
        value = table.data["http"]
        if isinstance(value, str):
            value = {"base_url": value}
        where = table.where("http")
        if not isinstance(value, dict):
            raise where.error(f"must be a table {{ base_url = '...' }}, got {kind(value)}")
        for key in value:
            if key not in _HTTP_KEYS:
                raise table.error(f"unknown key {shown(key)}; expected base_url", "http", key)
        if "base_url" not in value:
            raise where.error("needs base_url, e.g. { base_url = 'http://localhost:8080/API' }")
        base_url = value["base_url"]
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise table.error(
                f"base_url must be an http:// or https:// URL, got {kind(base_url)}",
                "http",
                "base_url",
            )
        return base_url

    # -- what applying it does --------------------------------------------------

    def items(self, plan: Plan) -> list[Item]:
        items = list(self.marks)
        if self.helpers is not None:
            items.append(self._helpers_item(self.helpers, self.methods))
        if self.base_url is not None:
            items.append(self._http_item(self.base_url))
        return items

    def _helpers_item(self, helpers: str | dict[str, str], methods: Methods | None) -> Item:
        from ..vidispine import instrument_helpers

        where = self.table.where("helpers")
        signals, robust = self.signals, self.robust

        def run(context: Context) -> list[Weaving]:
            resolved = signals.resolve() if signals is not None else None
            try:
                return instrument_helpers(helpers, methods=methods, signals=resolved, robust=robust)
            except TypeError as exc:  # helpers= and methods= were checked on loading
                if signals is None:
                    raise
                raise signals.where.error(str(exc)) from None

        rows = []
        for cls, row in _table(methods).items():
            module = helpers if isinstance(helpers, str) else helpers.get(cls)
            if module is None:
                continue  # a class the mapping does not place is left alone
            for method, (family, explicit) in row.items():
                text = pair(
                    f"vidispine_pre_{family}", f"vidispine_post_{family}", "vidispine_failed"
                )
                rows.append(Row(where, f"{module}:{cls}.{method}", text, optional=not explicit))
        modules = (helpers,) if isinstance(helpers, str) else tuple(dict.fromkeys(helpers.values()))
        emits = _emitted(signals if signals is not None else _OURS)
        return Item(where, run, modules, wait=signals is not None, rows=tuple(rows), emits=emits)

    def _http_item(self, base_url: str) -> Item:
        from ..vidispine import instrument_http

        where = self.table.where("http")

        def run(context: Context) -> list[Weaving]:
            return [instrument_http(base_url)]

        row = Row(
            where,
            f"requests to {base_url}",
            "vidispine_pre_* -> vidispine_post_*, by route",
            resolvable=False,
        )
        return Item(where, run, rows=(row,), emits=_emitted(_OURS))


def _emitted(holder: ImportPath | str) -> tuple[Emitted, ...]:
    """Every Vidispine signal of ``holder`` (the plan's signals= or ours), for the trace."""
    names = [f"vidispine_{step}_{family}" for family in _families() for step in ("pre", "post")]
    return tuple(Emitted.member(holder, name) for name in (*names, "vidispine_failed"))


def _table(methods: Methods | None) -> dict[str, dict[str, tuple[str, bool]]]:
    """HELPER_METHODS with a plan's ``methods`` laid over it: class -> method -> (family,
    named in ``methods``). A class or method set to false is left out."""
    table = {
        cls: {method: (family, False) for method, family in row.items()}
        for cls, row in _default_table().items()
    }
    for cls, overrides in (methods or {}).items():
        if overrides is None:
            table.pop(cls, None)
            continue
        row = table.setdefault(cls, {})
        for method, family in overrides.items():
            if family is None:
                row.pop(method, None)
            else:
                row[method] = (family, True)
    return {cls: row for cls, row in table.items() if row}
