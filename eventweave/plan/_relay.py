"""``[relay]``: events forwarded to a Redis Stream, for receivers in other processes.

::

    [relay]
    url = "${REDIS_URL}"                    # required
    stream = "portal"                        # default: "eventweave"
    forward = ["eventweave.portal.signals:portal_post_login", "AfterCreate"]

Applying the plan creates a :class:`~eventweave.relay.Relay` (one per URL and
stream in a process: applying again, or another plan naming the same, reuses
it) and forwards each signal once its module is imported; REST event names
stand for ``eventweave.rest:AfterCreate`` and so on. The relay is closed at
interpreter exit, which publishes what it still holds. Redis being unreachable
is never an error: a Relay never fails for that, and events wait in its buffer.
``check`` creates a relay of its own, forwards every signal to it, and closes
it: a malformed URL, or a signal path that does not resolve, is an error there
as in ``apply``.

The other side, ``eventweave consume --plan worker.toml``, reads the
``[relay]`` of the worker's plan (its URL and stream) and connects its
``[[connect]]`` receivers to the relayed events (:func:`worker`).
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._weaving import Weaving
from ..relay._connect import DEFAULT_STREAM
from ._connect import Connect
from ._section import Context, Item, Row, Section
from ._sources import REST_MODULE, check_registry, read_sources, resolve_source
from ._values import ImportPath, Table

if TYPE_CHECKING:
    from ..relay import Relay
    from ..relay._command import Planned
    from ._plan import Plan

__all__ = ["RelaySection", "worker"]

_WORKER = ("relay", "connect")  # the sections a worker's plan is read for

# (url, stream) -> the Relay plans applied in this process forward to.
_relays: dict[tuple[str, str], Relay] = {}
_lock = threading.Lock()


class RelaySection(Section):
    """``[relay]``: :meth:`eventweave.relay.Relay.forward` from a plan."""

    name = "relay"
    keys = ("url", "stream", "forward")

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        if "url" not in table:
            raise self.where.error(
                "needs url = 'redis://host:6379/0' (or '${REDIS_URL}', read from the environment)"
            )
        self.url = table.string("url", "a Redis URL such as 'redis://host:6379/0'")
        self.url_where = table.where("url")
        if "://" not in self.url:
            raise self.url_where.error(
                "must be a Redis URL such as 'redis://host:6379/0', 'rediss://' (TLS), "
                "'unix:///path/redis.sock' or 'redis+cluster://host:6379'"
            )
        self.stream = table.string("stream", "a stream key", DEFAULT_STREAM)
        self.forward = read_sources(table, "forward") if "forward" in table else []
        # What a rehearsal made (None: the relay could not be made; the URL says why).
        self._rehearsed: weakref.WeakKeyDictionary[Context, Relay | None] = (
            weakref.WeakKeyDictionary()
        )

    def items(self, plan: Plan) -> list[Item]:
        for path in self.forward:
            check_registry(plan, path, "the relay")
        where = plan.scrub(self.url)
        rows_say = f"forwarded to stream {self.stream!r} on {where}"

        def open_relay(context: Context) -> list[Weaving]:
            self._relay(context)
            return []

        items = [Item(self.url_where, open_relay)]
        for path in self.forward:
            row = Row(path.where, path.text, rows_say)
            run = self._forwarding(path)
            items.append(Item(path.where, run, (path.module,), wait=True, rows=(row,)))
        return items

    def _forwarding(self, path: ImportPath) -> Callable[[Context], list[Weaving]]:
        def forward(context: Context) -> list[Weaving]:
            resolve_source(path)
            relay = self._relay(context)
            if relay is not None:
                relay.forward(path.text)  # the entries' signal field: the plan's path
            return []

        return forward

    def _relay(self, context: Context) -> Relay | None:
        """The relay this section forwards to; a rehearsal's own, closed when it ends."""
        if not self.forward:
            _check_url(self.url, self.url_where)  # a worker's plan: nothing to forward here
            return None
        if context.rehearsal:
            if context in self._rehearsed:
                return self._rehearsed[context]
            self._rehearsed[context] = None
            relay = self._make()
            self._rehearsed[context] = relay
            context.on_undo(relay.close)
            return relay
        key = (self.url, self.stream)
        with _lock:
            found = _relays.get(key)
            if found is None:
                found = _relays[key] = self._make()
        return found

    def _make(self) -> Relay:
        from ..relay import Relay

        try:
            return Relay(self.url, stream=self.stream)
        except (ImportError, TypeError, ValueError) as exc:  # redis-py missing, a bad URL
            raise self.url_where.error(str(exc)) from None


def _check_url(url: str, where: Any) -> None:
    from ..relay._connect import Connection

    try:
        Connection(url, role="Relay").close()
    except (ImportError, TypeError, ValueError) as exc:
        raise where.error(str(exc)) from None


# -- eventweave consume --plan ----------------------------------------------------


def worker(plan: Plan) -> Planned:
    """What ``eventweave consume --plan`` runs: the plan's ``[relay]`` URL and stream, and
    each ``[[connect]]`` receiver, connected to the relayed events of its signals.

    A receiver of ``signals`` gets the events relayed under each signal's
    import path (only those of ``sender``, compared by import path, when
    given); a receiver of REST ``events`` those relayed as
    ``eventweave.rest:AfterCreate`` ... (only those of ``model``, and with
    ``field`` only those whose request set that field). Receivers are called
    as every consumer's are: ``receiver(signal=PATH, sender=PATH,
    event_id=ID, **payload)``.

    :raises PlanError: for a receiver that does not import or lacks
        ``**kwargs``, or a ``[relay]`` URL redis-py refuses; at its place in the plan.
    """
    from ..relay._command import Planned
    from ..relay._consume import _check_receiver

    url = stream = None
    for section in plan.sections("relay"):
        assert isinstance(section, RelaySection)
        _check_url(section.url, section.url_where)
        url, stream = section.url, section.stream
    receivers: list[tuple[Callable[..., Any], str, str | None]] = []
    for section in plan.sections("connect"):
        assert isinstance(section, Connect)
        receiver = section.receiver.resolve()
        try:
            _check_receiver(receiver)
        except TypeError as exc:
            raise section.receiver.where.error(str(exc)) from None
        if section.signals:
            sender = section.sender.text if section.sender is not None else None
            receivers += [(receiver, path.text, sender) for path in section.signals]
        else:
            model = section.model.text if section.model is not None else None
            if section.field is not None:
                receiver = _with_field(receiver, section.field)
            receivers += [(receiver, f"{REST_MODULE}:{name}", model) for name in section.events]
    from ._plan import SECTIONS, _heading

    ignored = [_heading(name) for name in SECTIONS if name not in _WORKER and plan.sections(name)]
    return Planned(plan.path, url, stream, receivers, ignored)


def _with_field(receiver: Callable[..., Any], field: str) -> Callable[..., Any]:
    """``receiver``, called only for relayed REST events whose request set ``field``."""
    if inspect.iscoroutinefunction(receiver):

        @functools.wraps(receiver)
        async def when_set_async(**event: Any) -> Any:
            fields = event.get("fields")
            if isinstance(fields, dict) and field in fields:
                return await receiver(**event)
            return None

        return when_set_async

    @functools.wraps(receiver)
    def when_set(**event: Any) -> Any:
        fields = event.get("fields")
        if isinstance(fields, dict) and field in fields:
            return receiver(**event)
        return None

    return when_set
