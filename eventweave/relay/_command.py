"""``eventweave consume``: run a :class:`~eventweave.relay.Consumer` until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._connect import DEFAULT_STREAM, DEFAULT_URL

__all__ = ["DEFAULT_STREAM", "DEFAULT_URL", "Planned", "add_consume_parser", "consume"]

_EXAMPLES = """\
examples:
  eventweave consume --plan worker.toml --group audit
  eventweave consume --group audit --connect myapp.audit:record_event
  eventweave consume --url redis://redis.internal:6379/0 --stream portal \\
      --group search-index --connect search.relay:index_item --connect search.relay:log

With --plan, the plan's [relay] gives the URL and stream, and each of its
[[connect]] receivers gets the events of its signals (or REST events), as
relayed. A receiver given with --connect gets every event of the stream and
filters by signal itself. Receivers are called as receiver(signal=PATH,
sender=PATH, event_id=ID, **payload). An event is acknowledged once every
receiver returned; one whose receiver raised is delivered again after
--idle-ms, and moved to <stream>:dead after --max-deliveries deliveries.
Start as many consumers of a group as there is work, on any host; each group
sees every event.

exit status: 0 after a clean stop (SIGTERM, SIGINT) or a --check that found
the receivers ready, 2 for bad arguments or a plan that is wrong (the message
gives file, line and key).
"""


@dataclass
class Planned:
    """What a worker's plan gives ``eventweave consume --plan``.

    :ivar path: the plan's file, as given.
    :ivar url: its ``[relay]`` URL, or None without a ``[relay]``.
    :ivar stream: its ``[relay]`` stream, or None.
    :ivar receivers: ``(receiver, signal path, sender path or None)`` for each
        signal (or REST event) of each ``[[connect]]``.
    :ivar ignored: the plan's other sections, as headings: consume applies none of them.
    """

    path: str
    url: str | None
    stream: str | None
    receivers: list[tuple[Callable[..., Any], str, str | None]]
    ignored: list[str] = field(default_factory=list)


def add_consume_parser(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Add the ``consume`` sub-command to the ``eventweave`` parser's sub-parsers."""
    parser = commands.add_parser(
        "consume",
        help="deliver events a Relay put on a Redis Stream to receivers in this process",
        description=(
            "Read the events that eventweave.relay.Relay forwards to a Redis Stream, as one "
            "consumer of a consumer group, and call the receivers of a worker's plan (--plan) "
            "or given with --connect, until SIGTERM or SIGINT; then finish the event at hand "
            "and stop. The current directory is importable, as with python -m."
        ),
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    parser.add_argument(
        "--plan",
        metavar="PLAN",
        help="a worker's plan: its [relay] says where to read, its [[connect]] receivers get "
        "the events of their signals",
    )
    parser.add_argument(
        "--url",
        default=None,
        help=f"the Redis URL (default: the plan's, else $REDIS_URL, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--stream", default=None, help=f"default: the plan's, else {DEFAULT_STREAM}"
    )
    parser.add_argument("--group", required=True, help="the consumer group (one per service)")
    parser.add_argument("--name", default=None, help="this consumer's name (default: HOST-PID)")
    parser.add_argument(
        "--connect",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="a receiver to call for every event; repeat for several (with or without --plan)",
    )
    parser.add_argument(
        "--max-deliveries",
        type=int,
        default=5,
        metavar="N",
        help="deliveries before an event goes to <stream>:dead (default: %(default)s)",
    )
    parser.add_argument(
        "--idle-ms",
        type=int,
        default=30_000,
        metavar="MS",
        help="how long an unacknowledged event waits before it is delivered again "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="import and check the receivers (and the plan), say where they would read, and "
        "exit without reading: 0 when they are ready",
    )
    parser.add_argument(
        "--settings",
        metavar="MODULE",
        help="Django settings module: Django is set up before the receivers are imported "
        "(the default is $DJANGO_SETTINGS_MODULE, if set)",
    )


def consume(args: argparse.Namespace, planned: Planned | None = None) -> int:
    """Run the consumer the parsed ``args`` (and a worker's plan) describe; return the exit
    status."""
    from ._consume import Consumer
    from ._entry import resolve

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    receivers: list[tuple[Callable[..., Any], str | None, str | None]] = []
    if planned is not None:
        receivers += planned.receivers
    for path in args.connect:
        try:
            receivers.append((resolve(path), None, None))
        except ValueError as exc:
            return _usage(f"--connect {exc}")
    if not receivers:
        if planned is not None:
            return _usage(
                f"{planned.path} has no [[connect]] receivers; add one, or give --connect "
                "MODULE:FUNCTION"
            )
        return _usage("give receivers: --plan PLAN (its [[connect]] tables) or --connect")
    from_plan = planned if planned is not None else Planned("", None, None, [])
    url = args.url or from_plan.url or os.environ.get("REDIS_URL") or DEFAULT_URL
    stream = args.stream or from_plan.stream or DEFAULT_STREAM
    try:
        consumer = Consumer(
            url,
            stream=stream,
            group=args.group,
            name=args.name,
            max_deliveries=args.max_deliveries,
            idle_ms=args.idle_ms,
        )
        for receiver, signal_path, sender in receivers:
            consumer.connect(receiver, signal_path, sender=sender)
    except (ValueError, TypeError, ImportError) as exc:
        return _usage(str(exc))
    how_many = len({id(receiver) for receiver, _, _ in receivers})
    source = f" from {planned.path}" if planned is not None else ""
    if args.check:
        consumer.close()
        print(
            f"eventweave consume: {how_many} receiver(s){source} ready for group "
            f"{consumer.group!r} on {consumer.stream!r} at {consumer.url}"
        )
        return 0

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(
        f"eventweave consume: {consumer.name} in group {consumer.group!r} reading "
        f"{consumer.stream!r} on {consumer.url}; {how_many} receiver(s){source}; "
        "stop with SIGTERM or Ctrl-C",
        file=sys.stderr,
        flush=True,
    )
    if planned is not None and planned.ignored:
        print(
            f"eventweave consume: {planned.path}: {', '.join(planned.ignored)} not applied "
            "here: consume reads [relay] and connects the [[connect]] receivers only",
            file=sys.stderr,
            flush=True,
        )
    try:
        consumer.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        consumer.close()
    counts = ", ".join(f"{name} {count}" for name, count in consumer.stats().items())
    print(f"eventweave consume: stopped ({counts})", file=sys.stderr, flush=True)
    return 0


def _usage(message: str) -> int:
    print(f"eventweave consume: {message}", file=sys.stderr)
    return 2
