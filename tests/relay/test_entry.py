"""Tests for ``eventweave.relay._entry``: what an entry holds, and the paths that name things."""

from __future__ import annotations

import json
import math
import os
import random
import re
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest
import relay_fixtures

import eventweave
from eventweave import rest
from eventweave.relay._entry import (
    FIELDS,
    DecodeError,
    decode,
    encode,
    resolve,
    sender_path,
    signal_path,
    snapshot,
)
from eventweave.vidispine import signals as vidispine_signals


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class Request:
    def __str__(self) -> str:
        return "<Request POST /login/>"


def test_json_values_are_kept_as_they_are() -> None:
    named = {"a": 1, "b": 2.5, "c": "x", "d": True, "e": None}
    assert snapshot(named) == named


def test_keys_seen_before_let_no_secret_or_container_through_uncopied() -> None:
    for _ in range(2):  # the keys are known after the first event
        assert snapshot({"user": "ann", "data": 1}) == {"user": "ann", "data": 1}

    data = [1, 2]
    copied = snapshot({"user": "ann", "data": data})
    data.append(3)
    assert copied == {"user": "ann", "data": [1, 2]}
    assert snapshot({"user": "ann", "password": "hunter2"}) == {
        "user": "ann",
        "password": eventweave.MASK,
    }
    assert snapshot({"user": Request(), "data": 1}) == {
        "user": "<Request POST /login/>",
        "data": 1,
    }


def test_a_woven_call_s_args_and_kwargs_are_captured_as_they_were() -> None:
    snapshot({"args": (), "kwargs": {}, "nested": (), "amount": 0})  # the keys are now known
    for _ in range(2):
        kwargs: dict[str, Any] = {}
        items = [1]
        args = (2, "EUR")
        named = {"args": args, "kwargs": kwargs, "nested": (1, items), "amount": 2}
        copied = snapshot(named)
        kwargs["late"] = True
        items.append(2)
        assert json.loads(json.dumps(copied)) == {
            "args": [2, "EUR"],
            "kwargs": {},
            "nested": [1, [1]],
            "amount": 2,
        }
        # a tuple of plain values cannot change: kept as it is, not copied
        assert copied["args"] is args
    secret = snapshot({"args": ("ann",), "kwargs": {"password": "hunter2"}})
    masked = {"args": ["ann"], "kwargs": {"password": eventweave.MASK}}
    assert json.loads(json.dumps(secret)) == masked


def test_secret_names_are_masked_at_any_depth() -> None:
    named = {
        "password": "hunter2",
        "kwargs": {"api_key": "k", "user": "ann"},
        "args": [{"token": 1}],
    }
    assert snapshot(named) == {
        "password": eventweave.MASK,
        "kwargs": {"api_key": eventweave.MASK, "user": "ann"},
        "args": [{"token": eventweave.MASK}],
    }


def test_classes_become_import_paths() -> None:
    assert snapshot({"model": relay_fixtures.Shop}) == {"model": "relay_fixtures:Shop"}


def test_values_json_cannot_hold_become_their_str() -> None:
    assert snapshot({"request": Request(), "raw": b"\x00"}) == {
        "request": "<Request POST /login/>",
        "raw": "b'\\x00'",
    }


def test_a_str_that_raises_becomes_a_placeholder() -> None:
    assert snapshot({"user": Unprintable()}) == {"user": "<unprintable Unprintable>"}


def test_containers_are_copied_so_later_changes_do_not_show() -> None:
    data = {"items": [1, 2]}
    copied = snapshot({"data": data})
    data["items"].append(3)
    assert copied == {"data": {"items": [1, 2]}}


def test_a_list_that_contains_itself_does_not_recurse_forever() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert json.dumps(snapshot({"loop": loop}))


def test_non_string_keys_become_strings() -> None:
    assert snapshot({"by_id": {1: "a", (2, 3): "b"}}) == {"by_id": {"1": "a", "(2, 3)": "b"}}


def test_an_entry_has_every_field_and_a_json_payload() -> None:
    fields = encode(("m:s", relay_fixtures.Shop, 0.0, {"amount": 3}), 42)
    assert tuple(fields) == FIELDS
    assert fields["sender"] == "relay_fixtures:Shop"
    assert fields["time"] == "1970-01-01T00:00:00.000000+00:00"
    assert fields["pid"] == "42"
    assert json.loads(fields["payload"]) == {"amount": 3}


def test_every_entry_gets_its_own_id() -> None:
    item = ("m:s", None, 0.0, {})
    assert encode(item, 1)["id"] != encode(item, 1)["id"]


def test_ids_are_32_hex_digits_and_never_repeat() -> None:
    item = ("m:s", None, 0.0, {})
    ids = [encode(item, 1)["id"] for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch("[0-9a-f]{32}", each) for each in ids)


def test_a_child_forked_without_python_s_fork_hooks_draws_its_own_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A server forking its workers from C (uWSGI by default) runs no
    # os.register_at_fork hook: the child must notice by its pid.
    item = ("m:s", None, 0.0, {})
    parent = encode(item, 1)["id"]
    monkeypatch.setattr(os, "getpid", lambda: -12345)
    child = [encode(item, 1)["id"] for _ in range(3)]
    assert child[0][:16] != parent[:16]
    assert child[0][16:] == "0" * 16  # a new prefix starts its own count
    assert len({each[:16] for each in child}) == 1


def test_a_thread_drawing_while_the_child_draws_its_prefix_never_gets_the_parent_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two publishers in a worker forked from C: while one draws the new
    # prefix (os.urandom may let another thread run), the other must not
    # take the parent's prefix and counter, whose ids the parent also writes.
    item = ("m:s", None, 0.0, {})
    parent = encode(item, 1)["id"][:16]
    real = os.urandom
    drawing = threading.Event()

    def slow(n: int) -> bytes:
        drawing.set()
        time.sleep(0.05)
        return real(n)

    monkeypatch.setattr(os, "getpid", lambda: -23456)
    monkeypatch.setattr(os, "urandom", slow)
    ids: list[str] = []
    other = threading.Thread(target=lambda: ids.append(encode(item, 1)["id"]))
    other.start()
    assert drawing.wait(5)
    ids += [encode(item, 1)["id"] for _ in range(3)]
    other.join(5)
    assert len(ids) == 4
    assert all(each[:16] != parent for each in ids)


def test_the_time_is_written_as_datetime_writes_it() -> None:
    def expected(when: float) -> str:
        return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="microseconds")

    picked = random.Random(7)
    moments = [1_764_633_600 + picked.uniform(0, 3 * 86_400) for _ in range(20_000)]
    moments += [picked.uniform(0, 2**31) for _ in range(20_000)]
    # whole seconds, microseconds that round up into the next second, halves
    moments += [0.0, 1.0, 59.9999996, 1_764_633_599.9999995, 1_764_633_600.0000005, -1.25]
    for when in moments:
        assert encode(("m:s", None, when, {}), 1)["time"] == expected(when)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"amount": 3, "price": 2.5, "ok": True, "none": None},
        {"title": "Café ☕ \u2028", "quote": 'say "hi"\n', "tab": "\t\x00"},
        {"nested": {"a": [1, [2, {"b": "c"}]], "e": {}}, "list": []},
        {"big": 10**30, "small": 1e-300, "inf": math.inf, "nan": math.nan, "neg": -0.0},
    ],
)
def test_the_payload_is_what_json_dumps_writes(payload: dict[str, Any]) -> None:
    fields = encode(("m:s", None, 0.0, payload), 1)
    assert fields["payload"] == json.dumps(payload)


@pytest.mark.parametrize(
    ("sender", "path"),
    [
        (None, ""),
        ("billing", "billing"),
        (relay_fixtures.Shop, "relay_fixtures:Shop"),
        (relay_fixtures.Shop(), "relay_fixtures:Shop"),
        (relay_fixtures.record, "relay_fixtures:record"),
    ],
)
def test_sender_path_names_the_sender(sender: object, path: str) -> None:
    assert sender_path(sender) == path


def test_eventweave_signals_are_named_by_the_module_that_holds_them() -> None:
    assert (
        signal_path(vidispine_signals.vidispine_post_modify)
        == "eventweave.vidispine.signals:vidispine_post_modify"
    )


def test_rest_event_classes_are_named_by_their_public_package() -> None:
    assert signal_path(rest.AfterCreate) == "eventweave.rest:AfterCreate"


def test_a_signal_imported_elsewhere_keeps_the_name_of_its_signals_module() -> None:
    import eventweave.portal.signals as portal_signals

    relay_fixtures.portal_post_login = portal_signals.portal_post_login  # type: ignore[attr-defined]
    try:
        assert (
            signal_path(portal_signals.portal_post_login)
            == "eventweave.portal.signals:portal_post_login"
        )
    finally:
        del relay_fixtures.portal_post_login  # type: ignore[attr-defined]


def test_a_signal_no_module_holds_cannot_be_named() -> None:
    with pytest.raises(ValueError, match="define the signal at module level"):
        signal_path(eventweave.Signal())


def test_resolve_suggests_the_nearest_name() -> None:
    with pytest.raises(ValueError, match="did you mean 'order_paid'"):
        resolve("relay_fixtures:order_payd")


def test_resolve_wants_a_colon() -> None:
    with pytest.raises(ValueError, match=r"expected an import path 'package\.module:name'"):
        resolve("relay_fixtures.order_paid")


def _fields(**text: str) -> dict[bytes, bytes]:
    return {key.encode(): value.encode() for key, value in text.items()}


def test_decode_reads_what_encode_wrote() -> None:
    fields = encode(("m:s", relay_fixtures.Shop, 0.0, {"amount": 3}), 1)
    event = decode(_fields(**fields))
    assert (event.event_id, event.signal, event.sender, event.payload) == (
        fields["id"],
        "m:s",
        "relay_fixtures:Shop",
        {"amount": 3},
    )


def test_decode_gives_none_for_an_empty_sender() -> None:
    assert decode(_fields(id="1", signal="m:s", sender="", payload="{}")).sender is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"signal": "m:s", "payload": "{}"}, r"lacks the field\(s\) id"),
        ({"id": "1", "signal": "m:s", "payload": "{nope"}, "not JSON"),
        ({"id": "1", "signal": "m:s", "payload": "[1]"}, "a JSON list, not an object"),
        ({"id": "1", "signal": "m:s", "payload": '{"event_id": 2}'}, "names event_id"),
    ],
)
def test_decode_names_what_is_wrong(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(_fields(**fields))


def test_decode_refuses_text_that_is_not_utf8() -> None:
    with pytest.raises(DecodeError, match="not UTF-8"):
        decode({b"id": b"\xff", b"signal": b"m:s", b"payload": b"{}"})


def test_naming_an_instance_sender_does_not_keep_it_alive() -> None:
    import gc
    import weakref

    shop = relay_fixtures.Shop()
    alive = weakref.ref(shop)
    assert sender_path(shop) == "relay_fixtures:Shop"
    del shop
    gc.collect()
    assert alive() is None
