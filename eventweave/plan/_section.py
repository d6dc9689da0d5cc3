"""The unit of a plan: a :class:`Section` reads its table and turns it into :class:`Item` s.

An item is one thing applying the plan does (weave a view, connect a
receiver, mark a method), with everything the rest of the package asks of
it: where the plan says it (for errors), which application modules it is
about (``check`` imports them first; applying waits for them), the rows
``eventweave show`` prints, and the signals a trace listens to. ``apply``,
``check``, ``show`` and the trace all go through the same items, so they
cannot drift apart.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .._weaving import Weaving
from ._errors import Where
from ._values import ImportPath, Table

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["Context", "Emitted", "Item", "Row", "Section", "once", "pair", "record_done"]


# Made per entry of a plan: slots, and not frozen (a frozen dataclass's
# __init__ sets each field through object.__setattr__, three times slower).
@dataclass(slots=True)
class Row:
    """One target as ``eventweave show`` lists it.

    :ivar events: what it emits, as a person reads it; or a function of the
        resolved target returning that (a REST view lists its own actions).
    :ivar requires: other targets that must resolve too (the view a step runs in).
    :ivar resolvable: False for what is no target (``requests to URL``).
    :ivar optional: left out, with a warning, when the code lacks it (the
        default table's helper methods), rather than an error.
    """

    where: Where
    target: str
    events: str | Callable[[Any], str]
    requires: tuple[str, ...] = ()
    resolvable: bool = True
    optional: bool = False


@dataclass(slots=True)
class Emitted:
    """A signal (or a REST event registry) a plan's weavings emit on, for the trace.

    :ivar name: the event name the trace prints (the signal's name in the plan);
        empty for a registry, whose events are named by their class.
    :ivar module: imported before :attr:`find` is called (the trace waits for it).
    :ivar find: returns the signal or registry.
    """

    name: str
    module: str
    find: Callable[[], Any]
    registry: bool = False

    @classmethod
    def signal(cls, path: ImportPath) -> Emitted:
        return cls(path.name, path.module, path.resolve)

    @classmethod
    def member(cls, holder: ImportPath | str, name: str) -> Emitted:
        """Signal ``name`` of a module (by name), or of the module, object or mapping
        an import path names."""
        if isinstance(holder, str):
            module = holder

            def find() -> Any:
                return getattr(importlib.import_module(module), name)

            return cls(name, module, find)
        path = holder

        def find_in() -> Any:
            found = path.resolve()
            return found[name] if isinstance(found, Mapping) else getattr(found, name)

        return cls(name, path.module, find_in)


class _DoneJournal:
    """The keys once() took while a :func:`record_done` journal was open, and on what."""

    __slots__ = ("closed", "made")

    def __init__(self) -> None:
        self.made: list[tuple[Hashable, object]] = []
        self.closed = False


_done_journals: list[_DoneJournal] = []


class Context:
    """What an item's ``run`` is told while a plan is applied or rehearsed.

    :ivar plan: the plan being applied.
    :ivar rehearsal: True while ``check`` applies the plan to find what
        ``apply`` would refuse; everything done then is undone afterwards.
    """

    def __init__(self, plan: Plan, *, rehearsal: bool = False) -> None:
        self.plan = plan
        self.rehearsal = rehearsal
        self._undo: list[Callable[[], None]] = []
        # record_done() journals open when applying began: what a part waiting
        # for its module makes later is theirs, not a journal's opened since.
        self.journals = tuple(_done_journals)

    def on_undo(self, undo: Callable[[], None]) -> None:
        """Register how to take back an effect that is no weaving, marker or once() (a relay)."""
        if self.rehearsal:
            self._undo.append(undo)

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


# key -> the undo of an effect made once per process (once()). The undo holds
# the objects the key names by id, so that those ids stay theirs meanwhile.
_done: dict[Hashable, Callable[[], object]] = {}
_done_lock = threading.Lock()


def undo_in_turn(*undos: Callable[[], object]) -> None:
    """Call each of ``undos`` in order, every one even if an earlier one raised;
    the first error is raised once they all ran."""
    first: BaseException | None = None
    for undo in undos:
        try:
            undo()
        except BaseException as exc:
            first = first or exc
    if first is not None:
        raise first


def record_done() -> Callable[..., None]:
    """Record the effects :func:`once` makes from now on; the function returned takes them back.

    It undoes them newest first and forgets their keys, so applying the plan
    again makes them again (``eventweave.testing.isolated`` and the rehearsal of
    ``check`` undo through it). Called with ``on=obj``, it takes back only the
    effects made on ``obj`` (a registry whose subscriptions are restored anyway)
    and leaves the rest in force. Either way it stops recording.
    """
    journal = _DoneJournal()
    with _done_lock:
        _done_journals.append(journal)

    def undo(*, on: object = None) -> None:
        with _done_lock:
            if journal.closed:
                return
            journal.closed = True
            _done_journals.remove(journal)
        for key, target in reversed(journal.made):
            if on is not None and target is not on:
                continue
            with _done_lock:
                take_back = _done.pop(key, None)
            if take_back is not None:
                take_back()

    return undo


def once(
    context: Context,
    key: Hashable,
    do: Callable[[], Callable[[], object]],
    *,
    on: object = None,
) -> None:
    """Make an effect that is no weaving (a receiver connected, a tracer) once per process.

    Applying a plan again, or another plan naming the same thing, finds ``key``
    and does nothing; so does a rehearsal of what is applied already.

    :param key: what the effect is, by value and by the ids of the objects it touches.
    :param do: makes the effect; returns the function that takes it back, which
        :func:`record_done` calls (``check`` after its rehearsal, ``isolated()``).
    :param on: the object the effect is made on (a signal, a registry), for
        :func:`record_done`.
    """
    with _done_lock:
        if key in _done:
            return
        _done[key] = _nothing  # taken: another thread applying the same finds it
        for journal in context.journals:
            if not journal.closed:
                journal.made.append((key, on))
    try:
        undo = do()
    except BaseException:
        with _done_lock:
            _done.pop(key, None)
        raise
    with _done_lock:
        _done[key] = undo


def _nothing() -> None:
    return None


@dataclass(slots=True)
class Item:
    """One thing a section does when its plan is applied.

    :ivar where: where the plan says it; its errors name this place.
    :ivar run: does it; returns the weavings made. May raise ``PlanError``, or
        the domains' ``WeaveError``, ``TypeError`` and ``ValueError``, which
        are reported at ``where``.
    :ivar modules: the application modules it is about. ``check`` imports
        them before running it (an item whose module is not installed is
        pending); with ``wait``, applying runs it only once ``modules[0]``
        has been imported, because ``run`` needs objects from there.
    :ivar rows: what ``eventweave show`` lists for it.
    :ivar emits: the signals and registries its weavings emit on.
    """

    where: Where
    run: Callable[[Context], list[Weaving]]
    modules: tuple[str, ...] = ()
    wait: bool = False
    rows: tuple[Row, ...] = ()
    emits: tuple[Emitted, ...] = ()


class Section:
    """A plan section: reads its table, checks it, and says what applying it does.

    Subclasses set :attr:`name`, :attr:`keys` and, for ``[[name]]`` tables,
    :attr:`array`; their ``__init__`` reads the table (raising ``PlanError``
    for anything wrong in it, without importing anything), and
    :meth:`items` returns what applying it does, in order.
    """

    name: ClassVar[str]
    """The table name as the plan writes it."""
    keys: ClassVar[tuple[str, ...]]
    """The keys the table may have."""
    array: ClassVar[bool] = False
    """True for an array of tables, ``[[name]]``: one section object per table."""

    def __init__(self, table: Table) -> None:
        table.check_keys(self.keys)
        self.table = table
        self.where = table.where()

    def items(self, plan: Plan) -> list[Item]:
        """What applying this section does, in order (markers before what they mark)."""
        raise NotImplementedError


def pair(pre: str, post: str, error: str | None = None) -> str:
    """``pre -> post (or error)``: how ``show`` writes a pair of events."""
    text = f"{pre} -> {post}"
    return f"{text} (or {error})" if error else text
