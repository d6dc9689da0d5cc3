"""What a receiver can read: decided from its code, erring towards "everything"."""

from __future__ import annotations

import functools
import sys
from typing import Any
from unittest import mock

import pytest

from eventweave import Signal
from eventweave._reads import names_read


def names_only(sender: Any, method: str, url: str, **named: Any) -> None:
    print(method, url)


def reads_named(sender: Any, **named: Any) -> None:
    print(named.get("json"))


def without_kwargs(sender: Any, instance: Any = None) -> None:
    pass


def instance_only(sender: Any, instance: Any = None, **named: Any) -> None:
    pass


def rebinds_named(sender: Any, **named: Any) -> None:
    named = {}  # noqa: F841 - never read afterwards


def uses_locals(sender: Any, **named: Any) -> None:
    print(locals())


def uses_vars(sender: Any, **named: Any) -> None:
    print(vars())


def uses_frame(sender: Any, **named: Any) -> None:
    print(sys._getframe().f_locals)


def closes_over(sender: Any, **named: Any) -> Any:
    return lambda: named


def in_comprehension(sender: Any, **named: Any) -> Any:
    return [key for key in named]


async def async_names_only(sender: Any, instance: Any, **named: Any) -> None:
    pass


class Audit:
    def on_event(self, sender: Any, url: str, **named: Any) -> None:
        self.url = url

    def __call__(self, sender: Any, instance: Any, **named: Any) -> None:
        self.instance = instance


class ReadsAll:
    def __call__(self, sender: Any, **named: Any) -> None:
        self.named = named


@pytest.mark.parametrize(
    ("receiver", "expected"),
    [
        (names_only, {"sender", "method", "url"}),
        (without_kwargs, {"sender", "instance"}),
        (rebinds_named, {"sender"}),
        (async_names_only, {"sender", "instance"}),
        (Audit().on_event, {"sender", "url"}),
        (Audit(), {"sender", "instance"}),
        (lambda sender, **named: None, {"sender"}),
    ],
    ids=["names", "no-kwargs", "rebinds", "async", "bound-method", "callable-object", "lambda"],
)
def test_a_receiver_that_never_uses_its_kwargs_reads_the_names_it_declares(
    receiver: Any, expected: set[str]
) -> None:
    assert names_read(receiver) == frozenset(expected)


@pytest.mark.parametrize(
    "receiver",
    [
        reads_named,
        uses_locals,
        uses_vars,
        uses_frame,
        closes_over,
        in_comprehension,
        ReadsAll(),
        functools.partial(names_only, url="u"),
        mock.Mock(),
        functools.wraps(names_only)(lambda *args, **kwargs: names_only(*args, **kwargs)),
        print,
        dict,
    ],
    ids=[
        "reads",
        "locals",
        "vars",
        "frame",
        "closure",
        "comprehension",
        "callable-reading",
        "partial",
        "mock",
        "decorated",
        "builtin",
        "class",
    ],
)
def test_anything_else_reads_everything(receiver: Any) -> None:
    assert names_read(receiver) is None


def test_a_signal_knows_what_its_receivers_read_and_forgets_it_on_every_change() -> None:
    signal = Signal()
    assert signal._names_read() == frozenset()
    signal.connect(names_only)
    assert signal._names_read() == {"sender", "method", "url"}
    audit = Audit()
    signal.connect(audit.on_event)
    assert signal._names_read() == {"sender", "method", "url"}
    signal.connect(instance_only, sender=Audit)  # heard from one sender only: still counted
    assert signal._names_read() == {"sender", "method", "url", "instance"}
    signal.connect(reads_named)
    assert signal._names_read() is None
    signal.disconnect(reads_named)
    assert signal._names_read() == {"sender", "method", "url", "instance"}
    signal.receivers = []  # as factory_boy's mute_signals does
    assert signal._names_read() == frozenset()


def test_what_a_receiver_connected_meanwhile_reads_stays_with_its_own_signal() -> None:
    # Every signal without receivers shares one state: working out what its
    # receivers read while one connects must not give the others that answer.
    busy, other = Signal(), Signal()

    def reads_token(sender: Any, token: Any, **unread: Any) -> None:
        pass

    snapshot = busy._snapshot

    def connecting_meanwhile() -> Any:
        busy.connect(reads_token, weak=False)
        return snapshot()

    with mock.patch.object(busy, "_snapshot", connecting_meanwhile):
        busy._names_read()
    busy.connect(reads_token, weak=False)

    assert other._names_read() == frozenset()
    assert busy._names_read() == {"sender", "token"}
