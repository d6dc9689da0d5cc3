"""The consuming side: :class:`Consumer` delivers a stream's events to receivers, at least once.

One round (:meth:`Consumer.run_once`) is the sequence Redis Streams offers,
each step a method below:

1. reclaim (``XPENDING ... IDLE`` then ``XCLAIM``): take over entries another
   consumer of the group (or this one) held for longer than ``idle_ms``
   without acknowledging them — it crashed, or a receiver raised;
2. deliver (``XREADGROUP``): read new entries, call the receivers;
3. acknowledge (``XACK``, one per round): the entries whose receivers all
   returned; an entry whose receiver raised stays pending, to be reclaimed;
4. dead-letter (``XADD <stream>:dead``, then ``XACK``): entries that cannot be
   decoded, and entries delivered ``max_deliveries`` times without success.

A crash anywhere between delivering and acknowledging leaves the entry
pending, so it is delivered again: receivers see every event at least once
and must tolerate seeing one twice (``event_id`` tells them apart).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from ._connect import DEFAULT_STREAM, SOCKET_TIMEOUT, Connection, safe_url, unreachable
from ._entry import HOST, DecodeError, Event, decode, path_of, sender_path, signal_path

__all__ = ["Consumer"]

logger = logging.getLogger("eventweave")

_R = TypeVar("_R", bound=Callable[..., Any])

BATCH = 200
"""Entries read (or reclaimed) per round; one XACK covers them all."""

# A blocking read must end before the socket timeout does.
_MAX_BLOCK_MS = int(SOCKET_TIMEOUT * 1000) - 1000
_RUN_BLOCK_MS = 1000  # run() notices `stop` at least this often
_BACKOFF_MAX = 2.0

# (entry id, fields, how many times it has been delivered, this time included)
_Entry = tuple[bytes, dict[bytes, bytes], int]


def _group_gone(exc: Exception) -> bool:
    """Whether Redis refused a command because the group is gone.

    The stream was deleted (the group with it), or Redis restarted empty;
    the next round creates the group again. ``NOGROUP`` is the usual reply;
    since Redis 7 a read blocked on a stream that is deleted ends with
    ``UNBLOCKED the stream key no longer exists``.
    """
    text = str(exc)
    return "NOGROUP" in text or "no longer exists" in text


def _check_receiver(receiver: object) -> None:
    if not callable(receiver):
        msg = f"Consumer.connect: receiver must be callable, got {receiver!r}"
        raise TypeError(msg)
    try:
        parameters = inspect.signature(receiver).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: let it be
        return
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        msg = (
            f"receiver {path_of(receiver)} must accept **kwargs (the consumer calls it as "
            "receiver(signal=PATH, sender=PATH, event_id=ID, **payload))"
        )
        raise TypeError(msg)


class Consumer:
    """Deliver the events of a Redis Stream to receivers in this process, at least once.

    Consumers sharing a ``group`` share its events: each event goes to one
    of them (to another if that one fails); every group sees every event.
    Receivers are called as ``receiver(signal=PATH, sender=PATH,
    event_id=ID, **payload)``; ``PATH`` is ``module:qualname`` (``sender``
    is None for events sent without one); ``event_id`` is the same on every
    delivery of an event, so an idempotent receiver can skip a repeat.

    An event is acknowledged once every receiver returned. If one raises,
    the others are still called, the event stays pending, and it is
    delivered again (to every receiver) once it has been pending for
    ``idle_ms``, by whichever consumer of the group claims it; after
    ``max_deliveries`` deliveries it moves to the stream ``<stream>:dead``
    and is acknowledged. An entry that is not an event eventweave wrote
    goes there at once. The group is created on first use, from the start
    of the stream.

    :param url: the Redis URL, as for :class:`~eventweave.relay.Relay`.
    :param stream: the stream key to read.
    :param group: the consumer group (one per service that needs the events).
    :param name: this consumer's name within the group; default
        ``HOST-PID``. Two live consumers must not share a name.
    :param max_deliveries: deliveries of one event before it is dead-lettered.
    :param idle_ms: how long an unacknowledged event waits before it is
        delivered again; longer than the slowest receiver may take.
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str = DEFAULT_STREAM,
        group: str,
        name: str | None = None,
        max_deliveries: int = 5,
        idle_ms: int = 30_000,
    ) -> None:
        for label, value in (("stream", stream), ("group", group)):
            if not isinstance(value, str) or not value:
                msg = f"Consumer({label}=...): expected a non-empty string, got {value!r}"
                raise ValueError(msg)
        if name is not None and (not isinstance(name, str) or not name):
            msg = f"Consumer(name=...): expected a non-empty string or None, got {name!r}"
            raise ValueError(msg)
        if type(max_deliveries) is not int or max_deliveries < 1:
            msg = f"Consumer(max_deliveries=...): expected an int >= 1, got {max_deliveries!r}"
            raise ValueError(msg)
        if type(idle_ms) is not int or idle_ms < 1:
            msg = f"Consumer(idle_ms=...): expected milliseconds, an int >= 1, got {idle_ms!r}"
            raise ValueError(msg)
        self.url = safe_url(url)
        """The Redis URL, its password masked."""
        self.stream = stream
        self.dead_stream = f"{stream}:dead"
        """Where entries that cannot be delivered go: ``<stream>:dead``."""
        self.group = group
        self.name = name or f"{HOST}-{os.getpid()}"
        self.max_deliveries = max_deliveries
        self.idle_ms = idle_ms
        self._redis = Connection(url, role="Consumer")
        # (signal path or None, sender path or None, receiver, is_async), in connection order
        self._receivers: list[tuple[str | None, str | None, Callable[..., Any], bool]] = []
        self._by_signal: dict[
            tuple[str, str | None], tuple[tuple[Callable[..., Any], bool], ...]
        ] = {}
        self._group_ready = False
        self._next_reclaim = 0.0
        self._reclaim_every = min(max(idle_ms / 2000, 0.01), 5.0)
        self._counts = {"handled": 0, "failed": 0, "dead": 0, "reclaimed": 0}

    def __repr__(self) -> str:
        return f"<Consumer {self.name!r} of group {self.group!r} on {self.url} {self.stream!r}>"

    # -- receivers ----------------------------------------------------------

    def connect(self, receiver: _R, signal: object = None, *, sender: object = None) -> _R:
        """Call ``receiver`` for every event of ``signal`` (None: every event).

        :param receiver: a callable accepting ``**kwargs``; an ``async def``
            one is run to completion for each event.
        :param signal: the import path of a signal or REST event class
            (``"eventweave.portal.signals:portal_post_login"``), or the object
            itself when it is importable here.
        :param sender: only events of this sender: its import path as the
            relay writes it (``"myportal.views:LoginView"``; for REST events
            the model's), or the class itself; None: any sender.
        :returns: ``receiver``, so this works as a decorator's body.
        :raises TypeError: for a receiver that is not callable or lacks ``**kwargs``.
        :raises ValueError: for a signal path that is not ``module:name``.
        """
        _check_receiver(receiver)
        path: str | None
        if signal is None or isinstance(signal, str):
            path = signal
            if path is not None and (path.count(":") != 1 or path.startswith(":")):
                msg = (
                    f"Consumer.connect(signal={path!r}): expected the import path of a signal, "
                    "'package.module:name' (as the relay writes it)"
                )
                raise ValueError(msg)
        else:
            path = signal_path(signal)
        from_ = None if sender is None else sender_path(sender)
        self._receivers.append((path, from_, receiver, inspect.iscoroutinefunction(receiver)))
        self._by_signal.clear()
        return receiver

    def disconnect(self, receiver: Callable[..., Any]) -> bool:
        """Stop calling ``receiver`` (for every signal it was connected to); whether it was."""
        kept = [entry for entry in self._receivers if entry[2] != receiver]
        removed = len(kept) != len(self._receivers)
        self._receivers = kept
        self._by_signal.clear()
        return removed

    def _receivers_for(
        self, signal: str, sender: str | None
    ) -> tuple[tuple[Callable[..., Any], bool], ...]:
        try:
            return self._by_signal[signal, sender]
        except KeyError:
            found = tuple(
                (receiver, is_async)
                for path, from_, receiver, is_async in self._receivers
                if (path is None or path == signal) and (from_ is None or from_ == sender)
            )
            if len(self._by_signal) < 10_000:
                self._by_signal[signal, sender] = found
            return found

    # -- one round ----------------------------------------------------------

    def run_once(self, block_ms: int = 1000) -> int:
        """Reclaim, read, deliver, acknowledge, dead-letter: one round; how many events it handled.

        An event is handled when every receiver returned (or none wants it) and
        it was acknowledged.

        :param block_ms: how long to wait for new entries when there are none
            (0: do not wait); at most a few seconds.
        :raises redis.exceptions.ConnectionError: when Redis cannot be reached
            (:meth:`run` retries; a direct caller decides).
        """
        self._ensure_group()
        entries: list[_Entry] = []
        gone: list[bytes] = []
        if time.monotonic() >= self._next_reclaim:
            entries, gone = self.reclaim()
            self._next_reclaim = time.monotonic() + self._reclaim_every
        if not entries:
            entries = self.read(0 if gone else block_ms)
        acks: list[bytes] = list(gone)
        dead: list[tuple[bytes, dict[bytes, bytes], int, str]] = []
        handled = 0
        for entry_id, fields, deliveries in entries:
            if deliveries > self.max_deliveries:  # its last consumer died handling it
                reason = f"delivered {deliveries - 1} times without being acknowledged"
                dead.append((entry_id, fields, deliveries - 1, reason))
                continue
            try:
                event = decode(fields)
            except DecodeError as exc:
                dead.append((entry_id, fields, deliveries, f"malformed entry: {exc}"))
                continue
            failure = self.deliver(event, entry_id, deliveries)
            if failure is None:
                acks.append(entry_id)
                handled += 1
            elif deliveries >= self.max_deliveries:
                dead.append((entry_id, fields, deliveries, failure))
            else:
                self._counts["failed"] += 1
        self.acknowledge(acks, dead)
        self._counts["handled"] += handled
        return handled

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        import redis

        try:
            self._redis.get().xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                msg = f"cannot create consumer group {self.group!r} on {self.stream!r}: {exc}"
                raise RuntimeError(msg) from exc
        self._group_ready = True

    def reclaim(self) -> tuple[list[_Entry], list[bytes]]:
        """Take over entries pending longer than ``idle_ms``; (entries, ids of trimmed ones).

        Each claim sets the entry's delivery count to one more than Redis
        counted, so a consumer that dies on an event still counts towards
        ``max_deliveries``. Entries trimmed from the stream while pending
        come back as ids to acknowledge: there is nothing left to deliver.
        """
        import redis

        try:
            return self._reclaim()
        except redis.ResponseError as exc:
            if _group_gone(exc):
                self._group_ready = False
                return [], []
            raise

    def _reclaim(self) -> tuple[list[_Entry], list[bytes]]:
        pending = self._redis.get().xpending_range(
            self.stream, self.group, min="-", max="+", count=BATCH, idle=self.idle_ms
        )
        if not pending:
            return [], []
        pipe = self._redis.get().pipeline(transaction=False)
        for row in pending:
            entry_id = row["message_id"]
            pipe.xclaim(
                self.stream,
                self.group,
                self.name,
                self.idle_ms,
                [entry_id],
                justid=True,
                retrycount=row["times_delivered"] + 1,
            )
            pipe.xrange(self.stream, entry_id, entry_id)
        replies = pipe.execute()
        entries: list[_Entry] = []
        gone: list[bytes] = []
        for row, claimed, found in zip(pending, replies[::2], replies[1::2], strict=True):
            if not claimed:  # another consumer took it first
                continue
            if not found:
                gone.append(row["message_id"])
                continue
            entries.append((row["message_id"], found[0][1], row["times_delivered"] + 1))
        if entries or gone:
            self._counts["reclaimed"] += len(entries)
            logger.info(
                "relay consumer %s: reclaimed %d events idle for over %d ms%s",
                self.name,
                len(entries),
                self.idle_ms,
                f" ({len(gone)} trimmed from the stream meanwhile)" if gone else "",
            )
        return entries, gone

    def read(self, block_ms: int) -> list[_Entry]:
        """New entries for this consumer (``XREADGROUP >``), waiting up to ``block_ms``."""
        import redis

        block = min(block_ms, _MAX_BLOCK_MS)
        try:
            reply = self._redis.get().xreadgroup(
                self.group,
                self.name,
                {self.stream: ">"},
                count=BATCH,
                block=block if block > 0 else None,
            )
        except redis.ResponseError as exc:
            if _group_gone(exc):
                self._group_ready = False
                return []
            raise
        if not reply:
            return []
        rows = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
        return [(entry_id, fields, 1) for entry_id, fields in rows]

    def deliver(self, event: Event, entry_id: bytes, deliveries: int) -> str | None:
        """Call every receiver of ``event``; None when all returned, else what failed."""
        failures: list[str] = []
        for receiver, is_async in self._receivers_for(event.signal, event.sender):
            try:
                if is_async:
                    asyncio.run(
                        receiver(
                            signal=event.signal,
                            sender=event.sender,
                            event_id=event.event_id,
                            **event.payload,
                        )
                    )
                else:
                    receiver(
                        signal=event.signal,
                        sender=event.sender,
                        event_id=event.event_id,
                        **event.payload,
                    )
            except Exception as exc:
                name = path_of(receiver)
                failures.append(f"{name} raised {type(exc).__name__}: {exc}")
                again = (
                    "it goes to the dead-letter stream"
                    if deliveries >= self.max_deliveries
                    else f"it will be delivered again after {self.idle_ms} ms"
                )
                logger.exception(
                    "relay consumer %s: receiver %s failed on event %s (%s, entry %s), "
                    "delivery %d of %d; %s",
                    self.name,
                    name,
                    event.event_id,
                    event.signal,
                    entry_id.decode(),
                    deliveries,
                    self.max_deliveries,
                    again,
                )
        return "; ".join(failures) if failures else None

    def acknowledge(
        self, acks: list[bytes], dead: list[tuple[bytes, dict[bytes, bytes], int, str]]
    ) -> None:
        """Acknowledge delivered entries and move dead ones to ``<stream>:dead``, in one round trip.

        A dead entry is written to the dead-letter stream before it is
        acknowledged: a crash in between leaves it pending, never lost.
        """
        if not acks and not dead:
            return
        pipe = self._redis.get().pipeline(transaction=False)
        for entry_id, fields, deliveries, reason in dead:
            letter: dict[bytes, bytes | str] = {
                **fields,
                b"dead_reason": reason,
                b"dead_entry": entry_id,
                b"dead_group": self.group,
                b"dead_consumer": self.name,
                b"dead_deliveries": str(deliveries),
            }
            pipe.xadd(self.dead_stream, letter)
            logger.warning(
                "relay consumer %s: entry %s of %s moved to %s: %s",
                self.name,
                entry_id.decode(),
                self.stream,
                self.dead_stream,
                reason,
            )
        ids = acks + [entry_id for entry_id, _, _, _ in dead]
        pipe.xack(self.stream, self.group, *ids)
        pipe.execute()
        self._counts["dead"] += len(dead)

    # -- running ------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Handle events until ``stop`` is set; return within about a second of that.

        Redis being unreachable is logged and retried with backoff; a
        receiver's exception is logged and handled as described above. A
        ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``)
        ends the run; the events of that round stay pending.

        :param stop: an event to set (from a signal handler, another thread)
            when the consumer should stop; None runs until interrupted.
        """
        stop = stop or threading.Event()
        retry = unreachable()
        backoff = 0.0
        while not stop.is_set():
            try:
                self.run_once(block_ms=_RUN_BLOCK_MS)
            except retry as exc:
                if not backoff:
                    logger.warning(
                        "relay consumer %s: Redis unreachable at %s (%s); retrying",
                        self.name,
                        self.url,
                        exc,
                    )
                self._group_ready = False  # a restarted Redis may have lost the group
                backoff = min(_BACKOFF_MAX, max(0.05, backoff * 2))
                stop.wait(backoff)
                continue
            if backoff:
                logger.info("relay consumer %s: Redis reachable again", self.name)
                backoff = 0.0

    def stats(self) -> dict[str, int]:
        """Counters of this consumer: ``handled``, ``failed`` (deliveries a receiver
        failed, to be retried), ``dead`` (dead-lettered), ``reclaimed``."""
        return dict(self._counts)

    def close(self) -> None:
        """Close the connections to Redis."""
        self._redis.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
