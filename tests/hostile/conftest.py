"""Fixtures for the hostile tests: Django, a loopback WSGI server, a closed port, and a
search through what receivers get for a text that must not be there."""

from __future__ import annotations

import socket
import types
from collections.abc import Mapping
from http.cookiejar import CookieJar
from typing import Any

import hypothesis
import requests
from requests.structures import CaseInsensitiveDict
from vidispine.conftest import serve as serve  # serve(wsgi_app) on loopback: the same fixture
from vidispine.conftest import stub as stub  # a loopback HTTP server with set replies

import tests.contrib.django_setup  # noqa: F401  (configures Django on import)

# Each property test fixes its seed (derandomize=True) and its number of
# examples; none keeps a database of examples between runs.
hypothesis.settings.register_profile("hostile", database=None)
hypothesis.settings.load_profile("hostile")


def reachable_text(*roots: Any) -> str:
    """Every text reachable from ``roots`` the way a receiver could reach it.

    Walks containers, exceptions (message, repr, arguments, attributes, causes,
    notes), ``requests`` responses (url, headers, request, history, cookies,
    next) and prepared requests, the objects of bound methods (a request's
    hooks), cookie jars, and the attributes of
    ``requests``/``urllib3`` objects. Bytes are read as Latin-1, so an ASCII
    character shows whatever the encoding (UTF-8, Latin-1, UTF-16). A
    response's body is left out: it is what the server answered, not masked.
    """
    out: list[str] = []
    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if obj is None or isinstance(obj, (bool, int, float)):
            return
        if isinstance(obj, str):
            out.append(obj)
            return
        if isinstance(obj, (bytes, bytearray)):
            out.append(bytes(obj).decode("latin-1"))
            return
        if depth > 16 or id(obj) in seen:
            return
        if isinstance(obj, (types.MethodType, types.BuiltinMethodType)):
            # A bound method holds its object: requests' auth handlers are
            # hooks bound to an auth object that keeps the password.
            seen.add(id(obj))
            if not isinstance(obj.__self__, types.ModuleType):
                visit(obj.__self__, depth + 1)
            return
        if isinstance(obj, (type, types.FunctionType)):
            return  # code, not values (an auth object with __call__ is walked)
        seen.add(id(obj))
        try:
            visit_inside(obj, depth)
        except Exception:  # a container that refuses iteration (urllib3's pools)
            out.append(repr(obj))

    def visit_inside(obj: Any, depth: int) -> None:
        if isinstance(obj, (Mapping, CaseInsensitiveDict)):
            for key, value in obj.items():
                visit(key, depth + 1)
                visit(value, depth + 1)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for item in obj:
                visit(item, depth + 1)
        elif isinstance(obj, CookieJar):
            for cookie in obj:
                visit(cookie.name, depth + 1)
                visit(cookie.value, depth + 1)
        elif isinstance(obj, BaseException):
            out.extend((str(obj), repr(obj)))
            visit(obj.args, depth + 1)
            visit(getattr(obj, "__notes__", None), depth + 1)
            visit({k: v for k, v in vars(obj).items()}, depth + 1)
            visit(obj.__cause__, depth + 1)
            visit(obj.__context__, depth + 1)
        elif isinstance(obj, requests.Response):
            for name in ("url", "headers", "request", "history", "cookies", "next", "reason"):
                visit(getattr(obj, name, None), depth + 1)
            visit({k: v for k, v in vars(obj).items() if k != "_content"}, depth + 1)
        elif type(obj).__module__.split(".")[0] in ("requests", "urllib3", "eventweave"):
            out.append(repr(obj))
            visit(getattr(obj, "__dict__", {}), depth + 1)
        else:
            out.append(repr(obj))

    for root in roots:
        visit(root, 0)
    return "\n".join(out)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
