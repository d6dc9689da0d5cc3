"""What a stream entry holds, and the import paths that name signals and senders.

One event is one entry of string fields: ``id``, ``signal``, ``sender``,
``time``, ``host``, ``pid`` and ``payload`` (the named arguments as a JSON
object). The work is split so that the emitting call does only what must
happen there: :func:`snapshot` copies the arguments into JSON-ready values
in the emitting thread (``str()`` of a request or a lazy user object must
run where it is valid, and before the caller changes it), and
:func:`encode` builds the fields in the publishing thread.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import socket
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from .._advice import MASK, SECRET_NAMES, is_secret
from .._signals import _describe as path_of
from .._weaving._targets import nearest

__all__ = [
    "FIELDS",
    "DecodeError",
    "Event",
    "decode",
    "encode",
    "path_of",
    "sender_path",
    "signal_path",
    "snapshot",
]

FIELDS = ("id", "signal", "sender", "time", "host", "pid", "payload")
"""The fields of an entry, in the order they are written."""

HOST = socket.gethostname()

_SCALARS = (str, int, float, bool, type(None))
_MAX_DEPTH = 16  # deeper than any real payload; stops a self-containing list

Snapshot = tuple[str, object, float, dict[str, Any]]
"""(signal path, sender, time.time(), JSON-ready payload): what an emitting call buffers."""


# -- naming -------------------------------------------------------------------


_SENDER_PATHS: dict[object, str] = {}


def sender_path(sender: object) -> str:
    """The ``sender`` field: a class's or function's import path, a string as is, "" for None.

    Any other object is named by its class. Cached per class or function
    (what senders nearly always are); instances are never kept alive by it.
    """
    if sender is None:
        return ""
    if isinstance(sender, str):
        return sender
    named = sender if isinstance(getattr(sender, "__qualname__", None), str) else type(sender)
    try:
        return _SENDER_PATHS[named]
    except KeyError:
        pass
    except TypeError:  # an unhashable callable
        return path_of(named)
    path = path_of(named)
    if len(_SENDER_PATHS) < 10_000:
        _SENDER_PATHS[named] = path
    return path


def _is_private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


def signal_path(signal: object) -> str:
    """The import path ``module:name`` under which consumers know ``signal``.

    A class or function is named where it is defined, or, when that module
    is private (``eventweave.rest._events``), by the nearest package that
    re-exports it (``eventweave.rest:AfterCreate``). A signal object has no
    name of its own: it is the module attribute that holds it, found among
    the imported modules; when several do, public modules win, then a module
    named ``signals`` (where Django and eventweave define theirs), then the
    most specific module (the defining one over a package re-exporting it).

    :raises ValueError: when no imported module holds ``signal``.
    """
    if isinstance(signal, type):
        module, qualname = getattr(signal, "__module__", None), signal.__qualname__
        if isinstance(module, str) and "." not in qualname:
            parts = module.split(".")
            for depth in range(len(parts), 0, -1):
                package = ".".join(parts[:depth])
                if _is_private(package):
                    continue
                holder = sys.modules.get(package)
                if holder is not None and getattr(holder, qualname, None) is signal:
                    return f"{package}:{qualname}"
        if isinstance(module, str):
            return f"{module}:{qualname}"
    found: list[tuple[str, str]] = []
    for name, module_obj in list(sys.modules.items()):
        try:  # a module replaced by a lazy or odd object may refuse to be read
            items = list(vars(module_obj).items())
        except Exception:
            continue
        for attribute, value in items:
            if value is signal and not attribute.startswith("__"):
                found.append((name, attribute))
    if not found:
        msg = (
            f"cannot name {signal!r}: no imported module holds it, and consumers select "
            "events by the signal's import path; define the signal at module level, or "
            "forward it by its path ('package.module:name')"
        )
        raise ValueError(msg)

    def preference(candidate: tuple[str, str]) -> tuple[bool, bool, int, str]:
        module, attribute = candidate
        last = module.rpartition(".")[2]
        return (_is_private(module), last != "signals", -module.count("."), module + attribute)

    module, attribute = min(found, key=preference)
    return f"{module}:{attribute}"


def resolve(path: str) -> Any:
    """The object an import path ``module:qualname`` names.

    :raises ValueError: for a path without ``:`` or that does not resolve,
        naming it and, when one is close, the nearest existing name.
    """
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        msg = f"{path!r}: expected an import path 'package.module:name'"
        raise ValueError(msg)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"{path!r}: cannot import {module_name!r} ({exc})"
        raise ValueError(msg) from None
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            hint = nearest(part, [n for n in dir(obj) if n[:1] != "_"])
            msg = f"{path!r}: {module_name} has no attribute {part!r}{hint}"
            raise ValueError(msg) from None
    return obj


# -- the emitting side --------------------------------------------------------


def _unprintable(value: object) -> str:
    return f"<unprintable {type(value).__qualname__}>"


_PLAIN = frozenset(_SCALARS)  # exact types: one set lookup instead of isinstance
_SECRET_KEYS: dict[str, bool] = {}
# Keys seen and found not secret: an event whose keys are all here, and whose
# values are all plain, is tested in two C calls and needs no copy.
_OPEN_KEYS: set[str] = set()


def _is_secret_key(key: str) -> bool:
    # A dict lookup costs a third of is_secret's lru_cache, and this runs per key.
    try:
        return _SECRET_KEYS[key]
    except KeyError:
        secret = is_secret(key, SECRET_NAMES)
        if len(_SECRET_KEYS) < 4096:
            _SECRET_KEYS[key] = secret
            if not secret:
                _OPEN_KEYS.add(key)
        return secret


def _jsonable(value: Any, depth: int) -> Any:
    """``value`` as JSON can hold it: containers copied (secret keys masked), the rest str()."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if depth < _MAX_DEPTH:
        # exact types first: the ABC checks below cost a microsecond each
        if kind is tuple or kind is list:
            return [item if type(item) in _PLAIN else _jsonable(item, depth + 1) for item in value]
        if kind is dict:
            return _jsonable_mapping(value, depth + 1) if value else {}
        if isinstance(value, Mapping):
            return _jsonable_mapping(value, depth + 1)
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_jsonable(item, depth + 1) for item in value]
    if isinstance(value, type):
        return path_of(value)
    if isinstance(value, _SCALARS):  # subclasses (an IntEnum, a SafeString): JSON takes them
        return value
    try:
        return str(value)
    except Exception:
        return _unprintable(value)


def _jsonable_mapping(mapping: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    copied: dict[str, Any] = {}
    for key, value in mapping.items():
        if type(key) is not str:
            try:
                key = str(key)
            except Exception:
                key = _unprintable(key)
        if _is_secret_key(key):
            copied[key] = MASK
        elif type(value) in _PLAIN:
            copied[key] = value
        else:
            copied[key] = _jsonable(value, depth)
    return copied


def snapshot(named: dict[str, Any]) -> dict[str, Any]:
    """The named arguments of one event, as values JSON can hold.

    Secrets (parameters named like :data:`~eventweave.SECRET_NAMES`, at any
    depth) become :data:`~eventweave.MASK`; classes become their import
    paths; mappings, lists and tuples are copied; anything else becomes its
    ``str()`` (``<unprintable T>`` when that raises). Runs in the emitting
    thread, where ``str()`` of a request or a lazy user object is valid and
    sees the state of the call; never raises for any value.

    ``named`` itself is returned, each value that needs masking or copying
    replaced in it: the caller passes a dict of its own, such as a
    receiver's ``**named``. Plain values (str, int, float, bool, None) and
    tuples of them stay as they are: the caller cannot change them before
    the publisher encodes them.
    """
    plain = _PLAIN
    # The emitting call pays for this: the common event has keys known not to
    # be secret, and only plain values or tuples of them, and is one pass of
    # type tests over its values.
    if _OPEN_KEYS.issuperset(named):
        for key, value in named.items():
            kind = type(value)
            if kind in plain or (kind is tuple and plain.issuperset(map(type, value))):
                continue
            # Replacing the value of a key already there: safe while iterating.
            named[key] = {} if kind is dict and not value else _jsonable(value, 1)
        return named
    secret_keys = _SECRET_KEYS
    for key, value in named.items():  # keys of **named are always str
        secret = secret_keys.get(key)
        if secret is None:
            secret = _is_secret_key(key)
        if secret:
            named[key] = MASK
        elif type(value) not in plain:
            named[key] = _jsonable(value, 1)
    return named


# -- the publishing side ------------------------------------------------------


class _Ids:
    """Event ids: 16 random hex digits drawn once per process, then a 16-digit counter.

    As unique as a random UUID across processes and hosts (64 random bits
    per process), at a tenth of the cost of drawing one per event. A forked
    child draws its own prefix: at once where Python's fork hooks run, and
    on its first :meth:`next` where they do not (a server that forks its
    workers from C, as uWSGI does by default).
    """

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        # The pid, the prefix and its counter in one tuple, replaced whole: a
        # thread drawing an id meanwhile pairs a prefix with its own counter,
        # and never takes the parent's prefix for this process's.
        self.state = (os.getpid(), os.urandom(8).hex(), itertools.count())

    def next(self) -> str:
        """A new id; first a new prefix if this is not the process that drew the last one."""
        pid, prefix, counter = self.state
        if pid != os.getpid():  # a system call: less than a tenth of encoding an entry
            self.renew()
            pid, prefix, counter = self.state
        return f"{prefix}{next(counter):016x}"


_IDS = _Ids()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_IDS.renew)

# (whole second, its text) of the last timestamp formatted: events come in
# bursts within one second, and only their microseconds differ. One tuple,
# read and replaced whole, so that publishers in several threads share it.
_last_second: tuple[int, str] = (-1, "")


def _iso(timestamp: float) -> str:
    """``timestamp`` as ISO 8601 in UTC with microseconds, as ``datetime.isoformat`` writes it."""
    whole = int(timestamp)
    # rounded as datetime.fromtimestamp rounds: half to even, carried into the second
    micro = round((timestamp - whole) * 1e6)
    if micro >= 1_000_000 or micro < 0 or timestamp < 0:
        moment = datetime.fromtimestamp(timestamp, timezone.utc)
        return moment.isoformat(timespec="microseconds")
    global _last_second
    cached, text = _last_second
    if cached != whole:
        text = datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (whole, text)
    return f"{text}.{micro:06d}+00:00"


def _encoder_built_once() -> Callable[[Any], str]:
    # json.dumps builds its C encoder again on every call, which costs as much
    # as encoding a small payload; this one is built once. Payloads are
    # JSON-ready and acyclic (snapshot() copies them, depth-bounded), so the
    # encoder needs no circular-reference bookkeeping.
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator on this interpreter
        return json.dumps

    def unencodable(value: object) -> object:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    chunks = make(
        None, unencodable, encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    join = "".join

    def dumps(payload: Any) -> str:
        return join(chunks(payload, 0))

    return dumps


_dumps = _encoder_built_once()


def encode(item: Snapshot, pid: int, dumps: Callable[[Any], str] = _dumps) -> dict[str, str]:
    """The fields of the stream entry for one buffered event (a new ``id`` each call).

    Runs in the publishing thread, never in the emitting call. The id is 32
    hex digits, unique across processes, forks and hosts: a prefix drawn
    from ``os.urandom`` once per process, and a counter.
    """
    path, sender, when, payload = item
    try:
        sender_field = sender_path(sender)
    except Exception:
        sender_field = _unprintable(sender)
    return {
        "id": _IDS.next(),
        "signal": path,
        "sender": sender_field,
        "time": _iso(when),
        "host": HOST,
        "pid": str(pid),
        "payload": dumps(payload),
    }


# -- the consuming side -------------------------------------------------------


class DecodeError(ValueError):
    """A stream entry that is not an event eventweave can deliver (missing or bad fields)."""


class Event:
    """One event read from the stream, as receivers get it."""

    __slots__ = ("event_id", "payload", "sender", "signal")

    def __init__(self, event_id: str, signal: str, sender: str | None, payload: dict[str, Any]):
        self.event_id = event_id
        self.signal = signal
        self.sender = sender
        self.payload = payload


_RESERVED = frozenset({"signal", "sender", "event_id"})


def decode(fields: Mapping[bytes, bytes]) -> Event:
    """The event a stream entry holds.

    :raises DecodeError: naming what is wrong: a missing ``id``, ``signal``
        or ``payload`` field, text that is not UTF-8, a payload that is not a
        JSON object, or a payload naming ``signal``, ``sender`` or
        ``event_id`` (receivers get those from the entry itself).
    """
    try:
        event_id = fields[b"id"].decode()
        signal = fields[b"signal"].decode()
        payload = json.loads(fields[b"payload"])
        sender = fields.get(b"sender", b"").decode() or None
    except KeyError:
        missing = [name for name in ("id", "signal", "payload") if name.encode() not in fields]
        raise DecodeError(f"the entry lacks the field(s) {', '.join(missing)}") from None
    except UnicodeDecodeError:
        raise DecodeError("the entry's fields are not UTF-8 text") from None
    except ValueError as exc:
        raise DecodeError(f"the payload is not JSON ({exc})") from None
    if not event_id or not signal:
        raise DecodeError("the entry's id or signal field is empty")
    if type(payload) is not dict:
        raise DecodeError(f"the payload is a JSON {type(payload).__name__}, not an object")
    if "event_id" in payload or "signal" in payload or "sender" in payload:
        clash = sorted(_RESERVED & payload.keys())
        raise DecodeError(f"the payload names {', '.join(clash)}, which receivers get anyway")
    return Event(event_id, signal, sender, payload)
