"""Signals and receivers the relay tests name by import path (``relay_fixtures:...``).

Also imported by the consumer processes the tests start, with this
directory on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from eventweave import Signal

order_paid = Signal()
order_refunded = Signal()


class Shop:
    """A sender class."""


def record(**event: Any) -> None:
    """Append the event as a JSON line to the file ``$RELAY_RECORD`` (one process writes it)."""
    event["pid"] = os.getpid()
    with open(os.environ["RELAY_RECORD"], "a", encoding="utf-8") as out:
        out.write(json.dumps(event) + "\n")


def record_slowly(**event: Any) -> None:
    """Like :func:`record`, after writing a ``started`` line and sleeping ``$RELAY_SLEEP`` s."""
    with open(os.environ["RELAY_RECORD"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"started": event["event_id"], "pid": os.getpid()}) + "\n")
    time.sleep(float(os.environ.get("RELAY_SLEEP", "60")))
    record(**event)


def not_a_receiver(event: Any) -> None:
    """Takes no **kwargs: the consumer must refuse it."""


class Item:
    """A model class, for REST events forwarded with their model as sender."""


class Box(Item):
    """A model subclass."""


collected: list[dict[str, Any]] = []
"""What :func:`collect` and :func:`collect_async` received, in this process."""


def collect(**event: Any) -> None:
    collected.append(event)


async def collect_async(**event: Any) -> None:
    collected.append({"async": True, **event})


def entries(client: Any, stream: str = "eventweave") -> list[dict[str, str]]:
    """The entries of ``stream``, their fields decoded."""
    return [
        {key.decode(): value.decode() for key, value in fields.items()}
        for _, fields in client.xrange(stream)
    ]


def payloads(client: Any, stream: str = "eventweave") -> list[dict[str, Any]]:
    """The payloads of the entries of ``stream``, decoded."""
    return [json.loads(entry["payload"]) for entry in entries(client, stream)]
