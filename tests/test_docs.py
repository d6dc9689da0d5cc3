"""The documentation's Python blocks run as shown: each page's blocks, in order, in one process.

Every ```` ```python ```` block of ``README.md`` and ``docs/*.md`` runs, in page order,
in one namespace per page, in a fresh interpreter working in an empty temporary
directory, whose ``sys.path`` holds that directory, the repository and the legacy
portal of ``tests/fixtures``. A fake Vidispine (``admin``/``admin``) answers at
``http://vidispine:8080/API``: that name is resolved to its loopback port. A page
that reads ``REDIS_URL`` finds a Redis server of its own there. A block that
defines ``test_*`` functions also runs as a pytest file of its own (with the installed
plugin's fixtures), and its tests must pass.

Two HTML comments, which the rendered pages do not show, adjust this:

- ``<!-- no-run: why -->`` just before a block leaves it out (rarely: say why);
- ``<!-- setup: what it stands for`` ... ``-->`` holds Python code run at that point,
  standing for what the reader's project already has (their own classes, their
  package), so the blocks after it run as shown.

A comment ``# prints: TEXT`` in a block is checked: the block must print TEXT.

Run one page by hand with ``python tests/test_docs.py docs/testing.md``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
# The legacy portal's parts: `portal` is a namespace package spread over both.
PORTAL_PATHS = (FIXTURES / "legacy_portal", FIXTURES / "portal_vidispine")

PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
NO_RUN = re.compile(r"^\s*<!--\s*no-run(?P<reason>:[^>]*)?-->\s*$")
SETUP = re.compile(r"^\s*<!--\s*setup\b(?P<reason>.*)$")
# "# prints: TEXT" in a block: TEXT must be in what the block printed.
PRINTS = re.compile(r"#\s*prints:\s*(.+?)\s*$", re.MULTILINE)
DEFINES_TESTS = re.compile(r"^(async\s+)?def test_", re.MULTILINE)
PYTHON = {"python", "py", "python3"}


class Block(NamedTuple):
    """A Python block of a page: the line it starts on, its code, and how it runs."""

    line: int
    code: str
    kind: str  # "run", "no-run" (left out) or "setup" (hidden, run)
    reason: str


def blocks(path: Path) -> list[Block]:
    """The Python blocks and setup comments of a Markdown page, in order."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    previous = ""  # the last non-blank line before the current one
    while index < len(lines):
        setup = SETUP.match(lines[index])
        if setup is not None:
            start = index
            index += 1
            body = []
            while index < len(lines) and lines[index].strip() != "-->":
                body.append(lines[index])
                index += 1
            reason = setup["reason"].lstrip(":").strip()
            found.append(Block(start + 2, textwrap.dedent("\n".join(body)), "setup", reason))
            previous = ""
            index += 1
            continue
        opening = FENCE.match(lines[index])
        if opening is None:
            if lines[index].strip():
                previous = lines[index]
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = opening["info"].lower().lstrip("{").lstrip(".")
        body = []
        start = index
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        index += 1  # the closing fence
        if language in PYTHON:
            marker = NO_RUN.match(previous)
            reason = (marker["reason"] or "").lstrip(":").strip() if marker else ""
            kind = "no-run" if marker else "run"
            found.append(Block(start + 2, "\n".join(body), kind, reason))
        previous = lines[start]
    return found


def relative(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def run_tests_of(name: str, test_blocks: list[Block]) -> bool:
    """Run the blocks that define tests, each as a pytest file of its own, in one session."""
    files = {}
    for block in test_blocks:
        test_file = Path(f"test_docs_line_{block.line}.py")
        test_file.write_text("\n" * (block.line - 1) + block.code + "\n", encoding="utf-8")
        files[str(test_file)] = f"{name} (the block at line {block.line})"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode == 0:
        return True
    report = done.stdout + done.stderr
    for test_file, where in files.items():
        report = report.replace(test_file, where)
    print(f"{name}: the tests its blocks define failed:\n{report}", file=sys.stderr)
    return False


def run_page(path: Path) -> int:
    """Run the blocks of one page in order; report the first failure with its file and line.

    Then run, in one pytest session, the tests the blocks define.
    """
    namespace: dict[str, object] = {"__name__": "__main__"}
    name = relative(path)
    test_blocks = []
    for block in blocks(path):
        if block.kind == "no-run":
            continue
        # Blank lines first, so tracebacks give the line in the page itself.
        source = "\n" * (block.line - 1) + block.code + "\n"
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):
                exec(compile(source, name, "exec"), namespace)
        except BaseException:
            what = "setup comment" if block.kind == "setup" else "Python block"
            print(f"{name}:{block.line}: this {what} failed:", file=sys.stderr)
            traceback.print_exc()
            return 1
        finally:
            sys.stdout.write(output.getvalue())
        missing = [text for text in PRINTS.findall(block.code) if text not in output.getvalue()]
        if missing:
            print(
                f"{name}:{block.line}: this Python block did not print {missing}; "
                f"it printed {output.getvalue()!r}",
                file=sys.stderr,
            )
            return 1
        if block.kind == "run" and DEFINES_TESTS.search(block.code):
            test_blocks.append(block)
    if test_blocks and not run_tests_of(name, test_blocks):
        return 1
    return 0


class FakeVidispineHost:
    """Serve a FakeVidispine and make ``vidispine:8080`` reach it, in this process only.

    The pages name Vidispine ``http://vidispine:8080/API``; the fake listens on a free
    loopback port instead (tests share the machine), and the name is resolved to it.
    """

    def __enter__(self) -> FakeVidispineHost:
        from eventweave.vidispine.fake import FakeVidispine

        self.fake = FakeVidispine().start()
        resolve = self.resolve = socket.getaddrinfo
        port_of_fake = self.fake.port

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host == "vidispine" and str(port) == "8080":
                host, port = "127.0.0.1", port_of_fake
            return resolve(host, port, *args, **kwargs)

        socket.getaddrinfo = getaddrinfo
        return self

    def __exit__(self, *exc_info: object) -> None:
        socket.getaddrinfo = self.resolve
        self.fake.stop()


@contextlib.contextmanager
def redis_if_named(pages: list[Path]) -> Iterator[None]:
    """Serve Redis on a free loopback port, as ``$REDIS_URL``, for pages that read it."""
    if not any("REDIS_URL" in page.read_text(encoding="utf-8") for page in pages):
        yield
        return
    from eventweave.relay._server import RedisServer

    with RedisServer() as server:
        os.environ["REDIS_URL"] = server.url
        try:
            yield
        finally:
            del os.environ["REDIS_URL"]


# -- the tests --------------------------------------------------------------------------------


def run_in_child(page: Path) -> subprocess.CompletedProcess[str]:
    """Run a page's blocks in a fresh interpreter (which works in a temporary directory)."""
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTWEAVE_PLAN", "PYTHONPATH")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (REPO, *PORTAL_PATHS))
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(page)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_every_python_block_of_the_page_runs_in_order(page: Path) -> None:
    done = run_in_child(page)
    if done.returncode != 0:
        pytest.fail(done.stderr + done.stdout, pytrace=False)


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_blocks_left_out_say_why(page: Path) -> None:
    unexplained = [b.line for b in blocks(page) if b.kind != "run" and not b.reason]
    assert not unexplained, (
        f"{relative(page)}: say why in the no-run or setup comments at lines "
        f"{unexplained}: <!-- no-run: why it cannot run --> or <!-- setup: what it stands for"
    )


def test_blocks_are_found_with_their_lines_and_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n"
        "```python\nx = 1\n```\n"
        "<!-- no-run: needs a server -->\n\n"
        "```python\nserve()\n```\n"
        "```console\n$ make\n```\n"
        "- item:\n\n  ```python\n  if x:\n      y = 2\n  ```\n"
        "<!-- setup: the reader's z\nz = 3\n-->\n",
        encoding="utf-8",
    )
    assert blocks(page) == [
        Block(3, "x = 1", "run", ""),
        Block(8, "serve()", "no-run", "needs a server"),
        Block(16, "if x:\n    y = 2", "run", ""),
        Block(20, "z = 3", "setup", "the reader's z"),
    ]


def test_a_failing_block_is_reported_with_its_page_and_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Text\n\n```python\nvalue = 1\n```\n\n```python\nvalue / 0\n```\n")
    done = run_in_child(page)
    assert done.returncode == 1
    assert f"{page}:8: this Python block failed" in done.stderr
    assert f'File "{page}", line 8' in done.stderr
    assert "ZeroDivisionError" in done.stderr


def test_a_block_must_print_what_its_comments_say(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nprint('a')   # prints: a\nprint('b')   # prints: c\n```\n")
    done = run_in_child(page)
    assert done.returncode == 1
    assert f"{page}:2: this Python block did not print ['c']; it printed 'a\\nb\\n'" in done.stderr


def test_failing_tests_of_a_block_are_reported_with_the_page_and_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\ndef test_passes():\n    pass\n```\n\n"
        "```python\ndef test_fails():\n    assert 1 == 2\n```\n"
    )
    done = run_in_child(page)
    assert done.returncode == 1
    assert f"{page}: the tests its blocks define failed" in done.stderr
    assert f"{page} (the block at line 7):8: AssertionError" in done.stderr
    assert "1 failed, 1 passed" in done.stderr


if __name__ == "__main__":
    pages = [Path(arg).resolve() for arg in sys.argv[1:]]
    with tempfile.TemporaryDirectory(prefix="docs-") as workdir:
        # As for a reader's own script: its directory (an empty one) first, not
        # tests/, whose packages would shadow names the pages use.
        os.chdir(workdir)
        sys.path[0:1] = [workdir, *(str(p) for p in PORTAL_PATHS)]
        with FakeVidispineHost(), redis_if_named(pages):
            status = max((run_page(page) for page in pages), default=0)
    sys.exit(status)
