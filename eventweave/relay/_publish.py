"""The publishing side: :class:`Relay` forwards events to a Redis Stream from a background thread.

The emitting call only copies its arguments (:func:`~._entry.snapshot`) and
appends them to a deque; a publisher thread turns them into entries and
writes them in batches of ``BATCH``, each one call of a server-side script
running ``XADD ... MAXLEN ~`` per entry (pipelined ``XADD`` commands where
the server refuses scripts). Two deques make the buffer:

- ``incoming``: snapshots appended by emitting threads, taken by the publisher;
- ``outgoing``: entries with their ``id`` assigned, touched by the publisher
  only, and removed once Redis has them. An entry keeps its ``id`` across
  retries, so one written twice (a connection lost after the batch ran) is
  recognisably the same event.

Their total length is the bound ``buffer``. Appending and popping at the ends
of a deque are atomic, so the emitting side takes no lock.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._connect import DEFAULT_STREAM, DEFAULT_URL, Connection, safe_url
from ._entry import Snapshot, encode, resolve, signal_path, snapshot

if TYPE_CHECKING:
    from ..rest import RequestEvent

__all__ = ["Relay"]

logger = logging.getLogger("eventweave")

BATCH = 500
"""Entries per batch: large enough to amortise a round trip, small enough to bound a retry."""

# One command per batch: the server appends every entry, in order, in one
# step no other client's command interleaves with, and answers once. Far
# cheaper for the publisher than a pipeline of XADDs, whose commands are each
# built, framed and answered one by one. A connection lost meanwhile does not
# stop the script; a command failing inside it (memory full) keeps what was
# written before it, and the retried batch writes those entries again with
# the same ids. ``redis.replicate_commands()`` is needed before Redis 7 where
# ``lua-replicate-commands`` is off, which refuses a write after ``XADD *``
# (not deterministic): there it lets every XADD of the batch run; Redis 7
# always replicates commands, and later versions may drop the function.
# ARGV: MAXLEN ('' for none), the host and pid every entry of a relay
# shares, then each entry's id, signal, sender, time and payload; the fields
# are written in FIELDS order.
_XADD_ALL = """
if redis.replicate_commands then redis.replicate_commands() end
local maxlen, host, pid = ARGV[1], ARGV[2], ARGV[3]
local count = 0
for i = 4, #ARGV, 5 do
  local fields = {'id', ARGV[i], 'signal', ARGV[i + 1], 'sender', ARGV[i + 2],
                  'time', ARGV[i + 3], 'host', host, 'pid', pid, 'payload', ARGV[i + 4]}
  if maxlen == '' then
    redis.call('XADD', KEYS[1], '*', unpack(fields))
  else
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(fields))
  end
  count = count + 1
end
return count
"""


def _refuses_scripts(exc: Exception) -> bool:
    """Whether Redis answered a script call with "not allowed" (ACLs) or "no such command"."""
    from redis.exceptions import NoPermissionError, ResponseError

    if isinstance(exc, NoPermissionError):
        return True
    return isinstance(exc, ResponseError) and "unknown command" in str(exc).lower()


_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 2.0
_IDLE_WAIT = 1.0  # the publisher re-checks its buffer at least this often, whatever happens


class Relay:
    """Forward events of chosen signals (or REST event classes) to a Redis Stream.

    Each event becomes one stream entry (fields ``id``, ``signal``,
    ``sender``, ``time``, ``host``, ``pid``, ``payload``). The emitting call
    never waits for Redis and never sees an error from it: it copies the
    event's arguments into an in-memory buffer and returns; a background
    thread publishes the buffer in order, a batch per round trip. While Redis
    is unreachable, events wait in the buffer and the thread reconnects with
    backoff; once the buffer holds ``buffer`` events, the newest event is
    dropped and counted (or, with ``on_full="block"``, the emitting call
    waits for room). Creating a Relay never fails because Redis is down.

    Use it as a context manager, or call :meth:`close`, which publishes what
    is buffered (waiting up to ``timeout`` seconds). A Relay still open at
    interpreter exit is closed then.

    :param url: the Redis URL (``redis://[:password@]host:port/db``,
        ``rediss://`` for TLS, ``unix://`` for a socket, ``redis+cluster://``
        for a Redis Cluster).
    :param stream: the stream key events are appended to.
    :param maxlen: trim the stream to about this many entries (``MAXLEN ~``);
        None keeps every entry.
    :param buffer: how many events may wait in memory for Redis.
    :param on_full: ``"drop"`` (the newest event is dropped and counted) or
        ``"block"`` (the emitting call waits until there is room).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        stream: str = DEFAULT_STREAM,
        maxlen: int | None = 1_000_000,
        buffer: int = 100_000,
        on_full: str = "drop",
    ) -> None:
        if not isinstance(stream, str) or not stream:
            msg = f"Relay(stream=...): expected a non-empty stream key, got {stream!r}"
            raise ValueError(msg)
        if maxlen is not None and (type(maxlen) is not int or maxlen < 1):
            msg = f"Relay(maxlen=...): expected a positive int or None (keep all), got {maxlen!r}"
            raise ValueError(msg)
        if type(buffer) is not int or buffer < 1:
            msg = f"Relay(buffer=...): expected a positive int (events held), got {buffer!r}"
            raise ValueError(msg)
        if on_full not in ("drop", "block"):
            msg = f"Relay(on_full=...): expected 'drop' or 'block', got {on_full!r}"
            raise ValueError(msg)
        self.url = safe_url(url)
        """The Redis URL, its password masked."""
        self.stream = stream
        self.maxlen = maxlen
        self.buffer = buffer
        self.on_full = on_full
        self._redis = Connection(url, role="Relay")
        # The batch-writing script, registered on first use; False once the
        # server refused scripts, and batches go as pipelined XADDs.
        self._script: Any = None
        self._incoming: deque[Snapshot] = deque()
        self._outgoing: deque[dict[str, str]] = deque()
        # (id(signal), id(sender)) -> (undo, signal, sender): the objects are
        # kept so that their ids stay theirs for as long as the entry exists
        self._forwarded: dict[tuple[int, int], tuple[Callable[[], object], object, object]] = {}
        self._published = 0
        self._dropped = 0
        self._errors = 0
        self._last_error: str | None = None
        self._pid = os.getpid()
        self._start_thread()
        _RELAYS.add(self)
        atexit.register(self._close_at_exit)

    def _start_thread(self) -> None:
        self._lock = threading.Lock()  # counters written by several threads
        self._wake = threading.Event()
        self._idle = False  # the publisher sleeps until woken: emitters must wake it
        # Notified by the publisher whenever the buffer shrank or it went idle:
        # what a blocked emitter and flush() wait for. They never wake the
        # publisher otherwise, so its backoff holds while Redis is down.
        self._drained = threading.Condition(threading.Lock())
        self._closing = False
        self._abandon = False
        self._thread = threading.Thread(
            target=self._publish_forever, name=f"eventweave relay {self.stream}", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"<Relay {self.url} stream={self.stream!r} forwarding {len(self._forwarded)}>"

    # -- forwarding ---------------------------------------------------------

    def forward(self, *signals: object, sender: object = None) -> Relay:
        """Forward every event of these signals (or REST event classes) to the stream.

        Forwarding the same signal (and sender) again changes nothing.

        :param signals: signal objects (eventweave's, Django's, blinker's,
            anything with Django's ``connect``), REST event classes (``AfterCreate``...;
            events notified on ``eventweave.rest.registry``), or import paths
            of either (``"eventweave.vidispine.signals:vidispine_post_modify"``).
            The entry's ``signal`` field is that import path (for objects,
            see :func:`signal_path`).
        :param sender: forward only events of this sender (for REST events:
            of this model class or a subclass); None forwards all.
        :returns: the relay itself.
        :raises TypeError: for something that is neither a signal nor a REST
            event class.
        :raises ValueError: for a path that does not resolve, or a signal no
            module holds (so it has no path).
        """
        if self._closing:
            msg = f"{self!r} is closed; create a new Relay to forward events"
            raise RuntimeError(msg)
        for signal in signals:
            if isinstance(signal, str):
                path, target = signal, resolve(signal)
            else:
                path, target = "", signal
            key = (id(target), id(sender))
            if key in self._forwarded:
                continue
            self._forwarded[key] = (self._attach(target, path, sender), target, sender)
        return self

    def _attach(self, target: object, path: str, sender: object) -> Callable[[], object]:
        from .._listen import connect_receiver, is_event_class, is_source, subscribe

        if is_event_class(target):
            if sender is not None and not isinstance(sender, type):
                msg = f"forward({target.__qualname__}, sender=...): expected a model class"
                msg += f", got {sender!r}"
                raise TypeError(msg)
            forward_event = self._forwarder(path or signal_path(target))

            def forward_rest(event: RequestEvent) -> None:
                forward_event(
                    sender=event.model,
                    view=event.view,
                    fields={name: data.new_value for name, data in event.fields.items()},
                    field=None if event.field is None else event.field.name,
                    instance=event.instance,
                    response=event.response,
                )

            return subscribe(target, forward_rest, model=sender)
        if not is_source(target) or not callable(getattr(target, "disconnect", None)):
            msg = (
                f"forward({target!r}): expected a signal (with connect/disconnect, as "
                "eventweave's, Django's and blinker's have), a REST event class, or the import "
                "path of one"
            )
            raise TypeError(msg)
        return connect_receiver(target, self._forwarder(path or signal_path(target)), sender=sender)

    def _forwarder(self, path: str) -> Callable[..., None]:
        """The receiver connected for one signal: the whole emitting-side cost of the relay."""
        incoming = self._incoming
        outgoing = self._outgoing
        append = incoming.append
        limit = self.buffer
        now = time.time
        relay = self

        def forward_event(signal: object = None, sender: object = None, **named: Any) -> None:
            try:
                # ``outgoing`` first: an event the publisher moves from
                # ``incoming`` meanwhile is counted once or not at all, never
                # twice (a buffer with room would look full).
                if len(outgoing) + len(incoming) >= limit and not relay._make_room():
                    return
                append((path, sender, now(), snapshot(named)))
                if relay._idle:
                    # Once: the publisher takes a while to be scheduled, and
                    # every call until then would take the event's lock again.
                    relay._idle = False
                    relay._wake.set()
            except Exception as exc:  # never into the emitting call
                relay._count_error(exc)

        forward_event.__qualname__ = f"Relay.forward<{path}>"
        return forward_event

    def _make_room(self) -> bool:
        # Called by emitting threads when the buffer is full (counted as in
        # forward_event: ``outgoing`` first).
        if self.on_full == "block":
            drained = self._drained
            with drained:
                while not self._closing:
                    if len(self._outgoing) + len(self._incoming) < self.buffer:
                        return True
                    if self._idle:
                        self._wake.set()
                    # The length is checked with the condition's lock held and
                    # the publisher notifies holding it: no wake-up is missed.
                    # The timeout only bounds a wait on a publisher that died.
                    drained.wait(_IDLE_WAIT)
        with self._lock:
            self._dropped += 1
        return False

    def _count_error(self, exc: BaseException) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"

    # -- publishing ---------------------------------------------------------

    def _publish_forever(self) -> None:
        backoff = 0.0
        down_since: float | None = None
        while not self._abandon:
            self._encode_incoming()
            if self._outgoing:
                failure = self._publish_batch()
                if failure is None:
                    if down_since is not None:
                        logger.info(
                            "relay to %s: Redis reachable again after %.1fs; publishing %d events",
                            self.url,
                            time.monotonic() - down_since,
                            len(self._outgoing) + len(self._incoming),
                        )
                        down_since = None
                    backoff = 0.0
                    continue
                if down_since is None:
                    down_since = time.monotonic()
                    logger.warning(
                        "relay to %s: cannot publish (%s); events wait in the buffer (%d of %d)",
                        self.url,
                        failure,
                        len(self._outgoing) + len(self._incoming),
                        self.buffer,
                    )
                backoff = min(_BACKOFF_MAX, max(_BACKOFF_FIRST, backoff * 2))
                self._wake.clear()
                self._wake.wait(backoff * random.uniform(0.5, 1.0))
                continue
            if self._closing:
                if self._incoming:
                    # Appended after this pass took the buffer's events and
                    # before close() set the flag: published before stopping.
                    continue
                self._notify_drained()
                return
            self._wake.clear()
            self._idle = True
            self._notify_drained()
            # Re-checked after raising the flag: an event appended before it
            # was raised is seen here, one appended after it wakes us.
            if not self._incoming and not self._closing:
                self._wake.wait(_IDLE_WAIT)
            self._idle = False

    def _encode_incoming(self) -> None:
        incoming, outgoing, pid = self._incoming, self._outgoing, self._pid
        room = BATCH - len(outgoing)
        while incoming and room > 0:
            # Taken off ``incoming`` only once it is in ``outgoing``: an event
            # is always in one of them until published, or flush() could
            # return while it is being encoded.
            item = incoming[0]
            room -= 1
            try:
                outgoing.append(encode(item, pid))
            except Exception as exc:
                self._count_error(exc)
            if incoming and incoming[0] is item:  # close() may have emptied it meanwhile
                incoming.popleft()

    def _publish_batch(self) -> str | None:
        """Write the first ``BATCH`` outgoing entries; None on success, else the failure."""
        batch = list(itertools.islice(self._outgoing, BATCH))
        try:
            if self._script is False:
                self._write_pipelined(batch)
            else:
                try:
                    self._write_by_script(batch)
                except Exception as exc:
                    if not _refuses_scripts(exc):
                        raise
                    logger.warning(
                        "relay to %s: the server refuses scripts (%s); writing each batch as "
                        "pipelined XADDs from now on",
                        self.url,
                        exc,
                    )
                    self._script = False
                    self._write_pipelined(batch)
        except Exception as exc:  # connection refused or lost, timeout, OOM, WRONGTYPE...
            self._count_error(exc)
            return f"{type(exc).__name__}: {exc}"
        # Counted before they leave the buffer: flush() returns once it is
        # empty, and the count must already show them then.
        with self._lock:
            self._published += len(batch)
        popleft = self._outgoing.popleft
        try:
            for _ in batch:
                popleft()
        except IndexError:  # close() gave up on us meanwhile and emptied the buffer
            pass
        self._notify_drained()
        return None

    def _write_by_script(self, batch: list[dict[str, str]]) -> None:
        first = batch[0]  # every entry of one relay has the same host and pid
        args = ["" if self.maxlen is None else str(self.maxlen), first["host"], first["pid"]]
        append = args.append
        for fields in batch:
            append(fields["id"])
            append(fields["signal"])
            append(fields["sender"])
            append(fields["time"])
            append(fields["payload"])
        if self._script is None:
            self._script = self._redis.get().register_script(_XADD_ALL)
        self._script(keys=[self.stream], args=args)

    def _write_pipelined(self, batch: list[dict[str, str]]) -> None:
        # For servers whose ACLs or configuration refuse EVALSHA: the same
        # entries, one XADD each, in one MULTI/EXEC.
        stream, maxlen = self.stream, self.maxlen
        pipe = self._redis.get().pipeline()
        try:
            for fields in batch:
                pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)
            pipe.execute()
        finally:
            pipe.reset()

    def _notify_drained(self) -> None:
        with self._drained:
            self._drained.notify_all()

    # -- state --------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters since the relay was created.

        - ``published``: events Redis has acknowledged;
        - ``buffered``: events waiting in memory;
        - ``dropped``: events lost: the buffer was full, or still held
          events when :meth:`close` gave up;
        - ``errors``: failed attempts to publish (each retry counts) and
          events that could not be encoded;
        - ``last_error``: the last of those failures, as text, or None.
        """
        with self._lock:
            return {
                "published": self._published,
                "buffered": len(self._incoming) + len(self._outgoing),
                "dropped": self._dropped,
                "errors": self._errors,
                "last_error": self._last_error,
            }

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every buffered event is published; whether that happened in time.

        :param timeout: seconds to wait at most.
        """
        deadline = time.monotonic() + timeout
        drained = self._drained
        with drained:
            while self._incoming or self._outgoing:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                if self._idle:
                    self._wake.set()
                # Woken when the publisher drained a batch or went idle; the
                # timeout only bounds a wait on a publisher that died.
                drained.wait(min(left, _IDLE_WAIT))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop forwarding, publish what is buffered, and stop the publisher.

        Events still buffered after ``timeout`` seconds (Redis unreachable)
        are counted as dropped and logged. Closing twice does nothing.

        :param timeout: seconds to wait for the buffer to drain.
        """
        if self._closing:
            return
        atexit.unregister(self._close_at_exit)
        for undo, _, _ in self._forwarded.values():
            undo()
        self._forwarded.clear()
        self._closing = True
        self._wake.set()
        self._notify_drained()  # blocked emitters stop waiting and drop their event
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon = True
            self._wake.set()
            self._thread.join(_BACKOFF_MAX + 1.0)
        lost = len(self._incoming) + len(self._outgoing)
        if lost:
            with self._lock:
                self._dropped += lost
            self._incoming.clear()
            self._outgoing.clear()
            logger.warning(
                "relay to %s closed with %d events unpublished (last error: %s)",
                self.url,
                lost,
                self._last_error,
            )
        self._redis.close()

    def _close_at_exit(self) -> None:
        self.close()

    def _after_fork_in_child(self) -> None:
        # The parent publishes what it buffered; the child starts empty, with
        # its own thread (threads do not survive fork) and its own lock.
        self._incoming.clear()
        self._outgoing.clear()
        self._pid = os.getpid()
        self._published = self._dropped = self._errors = 0
        self._last_error = None
        if not self._closing:
            self._start_thread()

    def __enter__(self) -> Relay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_RELAYS: weakref.WeakSet[Relay] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for relay in list(_RELAYS):
        relay._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
