"""What goes wrong in a plan, and where: :class:`PlanError`, places in a file, secrets kept out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .._advice import MASK

__all__ = ["PlanError", "Scrubber", "Where", "key_of", "label", "shown"]


class PlanError(Exception):
    """A plan cannot be read, or names something that does not exist.

    The message reads ``FILE:LINE: [section] key: what is wrong``.

    :ivar file: the plan's path, as it was given.
    :ivar line: the line the error is about (1-based), or None when unknown.
    :ivar key: the TOML key at fault (``"rest.trigger_instead"``,
        ``"weave[2].pre"``), or None for the file as a whole.
    :ivar reason: the message without its location.
    """

    def __init__(
        self, reason: str, *, file: str, line: int | None = None, key: str | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.reason = reason
        location = f"{file}:{line}" if line else file
        where = f" {label(key)}:" if key else ""
        super().__init__(f"{location}:{where} {reason}")


def label(key: str) -> str:
    """How a key reads in the file: ``"rest.trigger_instead"`` -> ``"[rest] trigger_instead"``,
    ``"weave[2].pre"`` -> ``"[[weave]] pre"``."""
    head, _, rest = key.partition(".")
    name, bracket, _ = head.partition("[")
    table = f"[[{name}]]" if bracket else f"[{name}]"
    return f"{table} {rest}" if rest else table


def key_of(path: Iterable[str | int]) -> str:
    """The dotted key of a path through the data: ``("weave", 1, "pre")`` -> ``"weave[2].pre"``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        else:
            text += f".{part}" if text else part
    return text


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message never echoes a whole megabyte."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 4]}...{text[-1]}"


class Scrubber:
    """The secrets a plan holds (passwords in URLs, secret-named values), kept out of messages.

    Masking replaces the very strings the plan holds, wherever a message or a
    table would print them; it never guesses at text.
    """

    SHORTEST = 4
    """Shorter secrets are masked in their URL (``user:pw@``) only: replacing
    every ``pw`` in a message would garble it and point at the secret anyway."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}

    def add(self, secret: str, replacement: str = MASK) -> None:
        if secret and secret != MASK and (replacement != MASK or len(secret) >= self.SHORTEST):
            self.secrets.setdefault(secret, replacement)

    def __call__(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, self.secrets[secret])
        return text

    def __bool__(self) -> bool:
        return bool(self.secrets)


@dataclass(frozen=True)
class Where:
    """A place in a plan: file, line and key, to build errors and report lines from."""

    file: str
    line: int | None
    key: str
    scrub: Scrubber = field(default_factory=Scrubber, compare=False, repr=False)

    def error(self, reason: str) -> PlanError:
        return PlanError(self.scrub(reason), file=self.file, line=self.line, key=self.key)

    def __str__(self) -> str:
        location = f"{self.file}:{self.line}" if self.line else self.file
        return f"{location}: {label(self.key)}"
