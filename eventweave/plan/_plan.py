"""A loaded plan: applying it, checking it by rehearsal, and listing what it weaves."""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import importlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .._advice import _record_made
from .._weaving import WeaveError, Weaving, parse_target, when_imported
from .._weaving._targets import imported
from ._connect import Connect
from ._errors import PlanError, Scrubber, label
from ._portal import Portal
from ._relay import RelaySection
from ._rest import Rest
from ._section import Context, Emitted, Item, Row, Section, record_done, undo_in_turn
from ._text import Document, parse
from ._values import Table, kind, resolve_target, try_import
from ._vidispine import Vidispine
from ._weave import Weave

__all__ = ["SECTIONS", "Entry", "Finding", "Plan", "Report", "load", "loads"]

logger = logging.getLogger("eventweave")

SECTIONS: dict[str, type[Section] | str] = {
    "portal": Portal,
    "vidispine": Vidispine,
    "rest": Rest,
    "weave": Weave,
    "connect": Connect,
    "relay": RelaySection,
    "otel": "eventweave.contrib.otel:PlanSection",
}
"""Every section a plan may have, by table name, in the order they are applied.

A value is the :class:`Section` subclass, or its import path
``"package.module:Class"``, imported only when a plan has that section (so a
section may live in a layer below this one, such as ``eventweave.contrib``).
"""


def _section_class(name: str) -> type[Section] | None:
    found = SECTIONS.get(name)
    if isinstance(found, str):
        module, _, qualname = found.partition(":")
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        found = SECTIONS[name] = obj
    return found


def _heading(name: str) -> str:
    found = SECTIONS[name]
    return f"[[{name}]]" if isinstance(found, type) and found.array else f"[{name}]"


# -- what check and show report -------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One row of a plan as ``eventweave show`` prints it: a target and what it emits.

    :ivar section: the section's name: ``"portal"``, ``"weave"``...
    :ivar line: the plan line it comes from.
    :ivar key: the TOML key it comes from (``"rest.views"``, ``"weave[2].target"``).
    :ivar target: the target string (``"requests to URL"`` for HTTP, the
        receiver for ``[[connect]]``).
    :ivar events: what it emits, as a person reads it.
    :ivar status: ``"ok"``; ``"pending: ..."`` (its module is not installed
        here, so it would be woven if and when it is); ``"absent: ..."`` (the
        default helper table names a method the code lacks: left out, with a
        warning); or ``"missing: ..."``.
    """

    section: str
    line: int | None
    key: str
    target: str
    events: str
    status: str = "ok"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def pending(self) -> bool:
        return self.status.startswith("pending")

    def as_dict(self) -> dict[str, Any]:
        """The entry as ``eventweave show --json`` prints it."""
        return {
            "section": self.section,
            "line": self.line,
            "key": self.key,
            "target": self.target,
            "events": self.events,
            "status": self.status.partition(":")[0],
            "detail": self.status.partition(": ")[2] or None,
        }


@dataclass(frozen=True)
class Finding:
    """Something ``check`` reports, at a place in the plan.

    :ivar level: ``"error"`` (applying the plan would refuse it), ``"warning"``
        (applying it would log this and go on) or ``"pending"`` (its module is
        not installed here; it would be applied if and when it is imported).
    """

    level: str
    file: str
    line: int | None
    key: str
    message: str

    @classmethod
    def of(cls, error: PlanError, level: str = "error") -> Finding:
        return cls(level, error.file, error.line, error.key or "", error.reason)

    def __str__(self) -> str:
        location = f"{self.file}:{self.line}" if self.line else self.file
        return f"{location}: {label(self.key)}: {self.level}: {self.message}"


@dataclass
class Report:
    """What :meth:`Plan.check` found: every entry, and the errors, warnings and pending parts.

    :ivar ok: True when nothing is an error or pending (warnings may remain).
    """

    path: str
    entries: list[Entry]
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    pending: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.pending


# -- the plan -------------------------------------------------------------------


class Plan:
    """A validated plan, ready to :meth:`apply`, :meth:`check` or list (:meth:`entries`).

    :ivar path: the file it was read from, as given.
    """

    def __init__(self, path: str, sections: list[Section], scrub: Scrubber) -> None:
        self.path = path
        self._sections = sections
        self._scrub = scrub
        self._items: list[Item] | None = None

    def __repr__(self) -> str:
        names: dict[str, int] = {}
        for section in self._sections:
            names[section.name] = names.get(section.name, 0) + 1
        parts = [
            f"{count} {_heading(name)}" if _is_array(name) else name
            for name, count in names.items()
        ]
        return f"<Plan {self.path!r}: {', '.join(parts) or 'empty'}>"

    def sections(self, name: str) -> list[Section]:
        """The plan's sections of that name (``"connect"``: one per ``[[connect]]`` table)."""
        return [section for section in self._sections if section.name == name]

    def items(self) -> list[Item]:
        """What applying the plan does, section by section, in order."""
        if self._items is None:
            with _collection_paused():
                self._items = [item for section in self._sections for item in section.items(self)]
        return self._items

    def emitted(self) -> list[Emitted]:
        """The signals and registries the plan's weavings emit on (what a trace listens to)."""
        return [emitted for item in self.items() for emitted in item.emits]

    def scrub(self, text: str) -> str:
        """``text`` with the plan's secrets (passwords in its URLs...) masked."""
        return self._scrub(text)

    # -- applying ---------------------------------------------------------------

    def apply(self) -> list[Weaving]:
        """Weave everything the plan names; return the weavings made.

        Targets whose module is not imported yet are woven when it is
        (``Weaving.pending`` until then). Markers (``silent``,
        ``trigger_instead``) are set before the views they mark are woven.
        Applying the same plan twice changes nothing. Logs one INFO line on
        the ``eventweave`` logger, and one each time a module the plan waits
        for is imported.

        :raises PlanError: something named by the plan exists in an imported
            module but cannot be woven (a misspelled method, a signal that
            does not import). Problems found later, when a module is imported,
            are logged on the ``eventweave`` logger instead, never raised into
            the application's import.
        """
        context = Context(self)
        applying = _Applying(self)
        weavings: list[Weaving] = []
        with _collection_paused():
            for item in self.items():
                weavings += self._run(item, context, applying)
        applying.done(weavings)
        return weavings

    def _run(self, item: Item, context: Context, applying: _Applying | None) -> list[Weaving]:
        if item.wait and item.modules and imported(item.modules[0]) is None:
            module = item.modules[0]
            if applying is None:
                return []  # a rehearsal does not wait
            applying.wait(module)
            when_imported(module, lambda loaded: self._later(item, context, applying, loaded))
            return []
        try:
            return item.run(context)
        except (WeaveError, TypeError, ValueError) as exc:
            # the domains' documented answers to a wrong option or target
            raise item.where.error(str(exc)) from None

    def _later(self, item: Item, context: Context, applying: _Applying, module: ModuleType) -> None:
        # Runs inside the application's import: log, never raise into it.
        try:
            made = item.run(context)
        except PlanError as exc:
            logger.error("%s (not applied)", exc)
        except (WeaveError, TypeError, ValueError) as exc:
            logger.error("%s: %s (not applied)", item.where, self.scrub(str(exc)))
        except Exception:
            logger.exception("%s: applying it failed when %s was imported", item.where, module)
        else:
            applying.late(module.__name__, made)

    # -- listing and checking ---------------------------------------------------

    def entries(self) -> list[Entry]:
        """Every target of the plan with what it emits and whether it resolves here.

        Imports the modules of the targets (not their signals) to tell; weaves nothing.
        """
        return [self._entry(row) for item in self.items() for row in item.rows]

    def _entry(self, row: Row) -> Entry:
        section = row.where.key.split(".")[0].split("[")[0]
        status, obj = "ok", None
        if row.resolvable:
            for target in (row.target, *row.requires):
                found, problem = resolve_target(target)
                if problem is not None:
                    status = problem
                    if row.optional and problem.startswith("missing"):
                        status = "absent" + problem.removeprefix("missing")
                    break
                if target == row.target:
                    obj = found
        events = row.events(obj) if callable(row.events) else row.events
        target = self.scrub(row.target)
        return Entry(section, row.where.line, row.where.key, target, events, self.scrub(status))

    def check(self) -> Report:
        """Find what applying the plan would refuse, without leaving anything applied.

        ``check`` imports every module the plan names, then applies the plan
        for real, part by part, and undoes it: every weaving it made is
        unwoven, every marker and receiver taken back. So it refuses exactly
        what :meth:`apply` refuses, with the same messages, and warns about
        what ``apply`` would only log (a method of the default helper table
        that the code lacks).

        :returns: a :class:`Report`: the entries, and the errors, warnings and
            pending parts (modules not installed here).
        """
        report = Report(self.path, self.entries())
        self._rehearse(self.items(), report)
        return report

    def rehearse_static(self) -> Report:
        """:meth:`check` for the parts that import nothing of the application (HTTP).

        ``eventweave run`` calls this before starting the command: a plan that
        cannot be applied is refused before the program starts uninstrumented.
        """
        report = Report(self.path, [])
        self._rehearse([item for item in self.items() if not item.modules], report)
        return report

    def _rehearse(self, items: list[Item], report: Report) -> None:
        undo_made = _record_made()
        undo_done = record_done()
        context = Context(self, rehearsal=True)  # after record_done(): its once() are recorded
        try:
            with _captured_logs() as records:
                for item in items:
                    if not self._importable(item, report):
                        continue
                    del records[:]
                    try:
                        self._run(item, context, None)
                    except PlanError as exc:
                        report.errors.append(Finding.of(exc))
                    for record in records:
                        level = "warning" if record.levelno < logging.ERROR else "error"
                        message = self.scrub(record.getMessage())
                        found = Finding(level, self.path, item.where.line, item.where.key, message)
                        (report.warnings if level == "warning" else report.errors).append(found)
        finally:
            undo_in_turn(undo_made, undo_done, context.undo)

    def _importable(self, item: Item, report: Report) -> bool:
        """Import the item's modules; record it pending or in error if one does not import."""
        for module in item.modules:
            found, problem = try_import(module)
            if found is not None or problem is None:
                continue
            level, _, reason = problem.partition(": ")
            if level == "pending":
                text = reason  # "no module named 'portal'"
            else:
                level, text = "error", f"cannot import {module}: {reason}"
            text = self.scrub(text)
            finding = Finding(level, self.path, item.where.line, item.where.key, text)
            (report.pending if level == "pending" else report.errors).append(finding)
            return False
        return True


def _is_array(name: str) -> bool:
    found = SECTIONS.get(name)
    return isinstance(found, type) and found.array


@contextlib.contextmanager
def _captured_logs() -> Iterator[list[logging.LogRecord]]:
    """The records logged on ``eventweave`` (and below) at WARNING and up, while inside."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.WARNING)
    level = logger.level
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _count(count: int, what: str) -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


@dataclass
class _Awaited:
    """What one apply() left waiting for one module."""

    weavings: list[Weaving] = field(default_factory=list)  # pending, or made on import
    parts: int = 0  # items that run only once the module is imported
    done: int = 0  # of those, how many ran without error


class _Applying:
    """Counts what one ``apply()`` made, and logs it: once now, once per module awaited.

    A *part* is an item that waits for a module before it runs at all (a
    receiver to connect once its signal's module is imported, a section
    whose signals live in the application).
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.waiting: dict[str, _Awaited] = {}
        self.parts = 0

    def wait(self, module: str) -> None:
        self.parts += 1
        self.waiting.setdefault(module, _Awaited()).parts += 1

    def late(self, module: str, made: list[Weaving]) -> None:
        awaited = self.waiting.setdefault(module, _Awaited())
        awaited.weavings += made
        awaited.done += 1

    def done(self, weavings: list[Weaving]) -> None:
        pending = 0
        for weaving in weavings:
            if weaving.pending:
                pending += 1
                module = parse_target(weaving.target)[0]
                self.waiting.setdefault(module, _Awaited()).weavings.append(weaving)
        summary = (
            f"{_count(len(weavings), 'weaving')}, {pending} pending until their module is imported"
        )
        if self.parts:
            summary += f"; {_count(self.parts, 'part')} waiting for a module"
        logger.info("plan %s applied: %s", self.plan.path, summary)
        if logger.isEnabledFor(logging.DEBUG):
            for weaving in weavings:
                state = "pending" if weaving.pending else "applied"
                logger.debug(
                    "plan %s: %s %s", self.plan.path, state, self.plan.scrub(weaving.target)
                )
        for module, awaited in self.waiting.items():
            when_imported(module, functools.partial(self.imported, awaited))

    def imported(self, awaited: _Awaited, module: ModuleType) -> None:
        applied = sum(1 for weaving in awaited.weavings if weaving.applied)
        failed = sum(1 for weaving in awaited.weavings if weaving.error is not None)
        failed += awaited.parts - awaited.done
        said = []
        if applied or not awaited.parts:
            said.append(f"{_count(applied, 'weaving')} applied")
        if awaited.done:
            said.append(f"{_count(awaited.done, 'part')} applied")
        if failed:
            said.append(f"{failed} failed (logged above)")
        logger.info(
            "plan %s: on import of %s, %s", self.plan.path, module.__name__, ", ".join(said)
        )


# -- loading --------------------------------------------------------------------


def load(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Plan:
    """Read and validate the plan at ``path``.

    :param path: a TOML file (see :mod:`eventweave.plan` for its sections).
    :param environ: where ``${NAME}`` is read from (default: ``os.environ``).
    :returns: the :class:`Plan`, not applied yet.
    :raises PlanError: the file cannot be read, is not valid TOML, or has an
        unknown section or key, a value of the wrong type, a malformed target
        or import path, an unknown action name, or an unset variable; the
        message gives the file, line and key.
    """
    file = os.fspath(path)
    try:
        with open(file, encoding="utf-8-sig") as handle:
            text = handle.read()
    except OSError as exc:
        raise PlanError(f"cannot read the plan: {exc.strerror or exc}", file=file) from None
    except UnicodeDecodeError as exc:
        raise PlanError(f"the plan is not UTF-8 text: {exc}", file=file) from None
    return loads(text, file, environ=environ)


def loads(text: str, file: str = "<plan>", *, environ: Mapping[str, str] | None = None) -> Plan:
    """Validate the plan in ``text``; ``file`` is the name used in error messages."""
    with _collection_paused():
        document = parse(text, file, environ)
        order = {name: position for position, name in enumerate(SECTIONS)}
        sections: list[Section] = []
        for name, value in document.data.items():
            if name not in SECTIONS:
                raise _unknown_section(document, name)
            try:
                cls = _section_class(name)
            except ImportError as exc:  # a section of an extra that is not installed
                raise document.where((name,)).error(str(exc)) from None
            assert cls is not None
            sections += _read(document, cls, name, value)
        sections.sort(key=lambda section: order[section.name])  # stable: file order within
        return Plan(file, sections, document.scrub)


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a plan makes its many objects.

    None of them is garbage yet, but each full collection walks them all, and
    a growing heap triggers more of them: with 10,000 entries, loading took
    1.2 s instead of 0.5 s and applying 3.1 s instead of 1.5 s, growing faster
    than the plan (benchmarks/test_plan_growth.py).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _unknown_section(document: Document, name: str) -> PlanError:
    known = [_heading(n) for n in SECTIONS]
    close = difflib.get_close_matches(name, list(SECTIONS), n=1)
    hint = f"; did you mean {_heading(close[0])}?" if close else ""
    where = document.where((name,))
    return where.error(f"unknown section; expected {', '.join(known)}{hint}")


def _read(document: Document, cls: type[Section], name: str, value: Any) -> list[Section]:
    where = document.where((name,))
    if cls.array:
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise where.error(f"must be written [[{name}]] (an array of tables)")
        return [cls(Table(document, (name, i), table)) for i, table in enumerate(value)]
    if not isinstance(value, dict):
        raise where.error(f"must be a table [{name}], got {kind(value)}")
    return [cls(Table(document, (name,), value))]
