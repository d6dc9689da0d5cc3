"""What goes wrong in a plan, and where: :class:`PlanError`, places in a file, secrets kept out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .._advice import MASK, SHORTEST_SCRUBBED

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

    SHORTEST = SHORTEST_SCRUBBED
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


class Where:
    """A place in a plan: file, line and key, to build errors and report lines from.

    The line may be given, or found when first asked for (``locate``): loading a
    valid plan then never has to work out a line number.
    """

    __slots__ = ("_key", "_line", "_locate", "file", "scrub")

    def __init__(
        self,
        file: str,
        line: int | None,
        key: str | tuple[str | int, ...],
        scrub: Scrubber | None = None,
        *,
        locate: Callable[[], int | None] | None = None,
    ) -> None:
        self.file = file
        self.scrub = scrub if scrub is not None else Scrubber()
        self._key = key  # a path until asked for: most places never are
        self._line = line
        self._locate = locate

    @property
    def key(self) -> str:
        """The TOML key, as :class:`PlanError` gives it (``"weave[2].pre"``)."""
        if not isinstance(self._key, str):
            self._key = key_of(self._key)
        return self._key

    @property
    def line(self) -> int | None:
        if self._locate is not None:
            self._line, self._locate = self._locate(), None
        return self._line

    def error(self, reason: str) -> PlanError:
        return PlanError(self.scrub(reason), file=self.file, line=self.line, key=self.key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Where):
            return NotImplemented
        return (self.file, self.line, self.key) == (other.file, other.line, other.key)

    def __hash__(self) -> int:
        return hash((self.file, self.key))

    def __repr__(self) -> str:
        return f"Where({self.file!r}, {self.line!r}, {self.key!r})"

    def __str__(self) -> str:
        location = f"{self.file}:{self.line}" if self.line else self.file
        return f"{location}: {label(self.key)}"
