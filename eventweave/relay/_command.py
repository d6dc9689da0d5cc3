"""``eventweave consume``: run a :class:`~eventweave.relay.Consumer` until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["add_consume_parser", "consume"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"

_EXAMPLES = """\
examples:
  eventweave consume --group audit --connect myapp.audit:record_event
  eventweave consume --url redis://redis.internal:6379/0 --stream portal \\
      --group search-index --connect search.relay:index_item --connect search.relay:log

Each receiver is called as receiver(signal=PATH, sender=PATH, event_id=ID,
**payload) for every event of the stream; it filters by signal itself. An
event is acknowledged once every receiver returned; one whose receiver
raised is delivered again after --idle-ms, and moved to <stream>:dead after
--max-deliveries deliveries. Start as many consumers of a group as there is
work, on any host; each group sees every event.

exit status: 0 after a clean stop (SIGTERM, SIGINT), 2 for bad arguments.
"""


def add_consume_parser(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Add the ``consume`` sub-command to the ``eventweave`` parser's sub-parsers."""
    parser = commands.add_parser(
        "consume",
        help="deliver events a Relay put on a Redis Stream to receivers in this process",
        description=(
            "Read the events that eventweave.relay.Relay forwards to a Redis Stream, as one "
            "consumer of a consumer group, and call the receivers given with --connect, until "
            "SIGTERM or SIGINT; then finish the event at hand and stop. The current directory "
            "is importable, as with python -m."
        ),
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    parser.add_argument(
        "--url",
        default=None,
        help=f"the Redis URL (default: $REDIS_URL, else {DEFAULT_URL})",
    )
    parser.add_argument("--stream", default="eventweave", help="default: %(default)s")
    parser.add_argument("--group", required=True, help="the consumer group (one per service)")
    parser.add_argument("--name", default=None, help="this consumer's name (default: HOST-PID)")
    parser.add_argument(
        "--connect",
        action="append",
        required=True,
        metavar="MODULE:FUNCTION",
        help="a receiver to call for each event; repeat for several",
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


def consume(args: argparse.Namespace) -> int:
    """Run the consumer the parsed ``args`` describe; return the exit status."""
    from ._consume import Consumer
    from ._entry import resolve

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    receivers: list[Callable[..., Any]] = []
    for path in args.connect:
        try:
            receivers.append(resolve(path))
        except ValueError as exc:
            return _usage(f"--connect {exc}")
    url = args.url or os.environ.get("REDIS_URL") or DEFAULT_URL
    try:
        consumer = Consumer(
            url,
            stream=args.stream,
            group=args.group,
            name=args.name,
            max_deliveries=args.max_deliveries,
            idle_ms=args.idle_ms,
        )
        for receiver in receivers:
            consumer.connect(receiver)
    except (ValueError, TypeError, ImportError) as exc:
        return _usage(str(exc))

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
        f"{consumer.stream!r} on {consumer.url}; {len(receivers)} receiver(s); "
        "stop with SIGTERM or Ctrl-C",
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
