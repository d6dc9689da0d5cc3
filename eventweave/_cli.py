"""The ``eventweave`` command: ``run``, ``check``, ``show``, ``demo`` and ``consume``.

Exit status: 0 on success; 1 when ``check`` finds targets that do not
resolve; 2 for a plan that cannot be read or is wrong, or a usage error.
``run`` replaces itself with the command, whose status is then the status.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from typing import TextIO

__all__ = ["main"]

DEFAULT_PLAN = "weave.toml"
BOOT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")
"""The directory ``run`` puts first on ``PYTHONPATH``: it holds only ``sitecustomize.py``."""

_EXAMPLES = """\
examples:
  eventweave run --plan weave.toml -- python manage.py runserver
  eventweave run -- gunicorn myportal.wsgi        (plan: ./weave.toml)
  eventweave check weave.toml
  eventweave show weave.toml
  eventweave demo

Servers whose command line you do not control (gunicorn under systemd,
uwsgi): set EVENTWEAVE_PLAN=/path/to/weave.toml in their environment
instead; every Python process started where eventweave is installed then
applies the plan at start-up.

exit status: 0 success, 1 check found targets that do not resolve,
2 the plan is wrong (the message gives file, line and key) or bad usage.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Wraps prose paragraphs to the terminal; keeps indented examples as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if any(line.startswith(" ") for line in paragraph.splitlines()):
                paragraphs.append(textwrap.indent(paragraph, indent))
            else:
                words = " ".join(paragraph.split())
                paragraphs.append(
                    textwrap.fill(words, width, initial_indent=indent, subsequent_indent=indent)
                )
        return "\n\n".join(paragraphs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventweave",
        description=(
            "Weave events into Python code you do not own: apply a plan (a TOML file naming "
            "what to instrument) to a program without changing a line of it."
        ),
        epilog=_EXAMPLES,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    run = commands.add_parser(
        "run",
        help="start a command with a plan applied before any of its code runs",
        description=(
            "Start COMMAND with the plan applied before the application's first import, "
            "whatever it imports first. COMMAND runs in place of eventweave (same process "
            "id, same exit status); Python processes it starts are instrumented too. "
            "Works for any Python program: python, gunicorn, celery, pytest, manage.py."
        ),
        epilog=(
            "example:\n"
            "  eventweave run --plan weave.toml -- python manage.py runserver\n\n"
            "How: the plan is checked, EVENTWEAVE_PLAN is set to its absolute path, and a\n"
            "directory holding a sitecustomize.py is put first on PYTHONPATH; that file\n"
            "runs any sitecustomize of yours, then applies the plan. Interpreters started\n"
            "with -I or -E ignore PYTHONPATH: set EVENTWEAVE_PLAN alone for those."
        ),
        formatter_class=_Formatter,
    )
    run.add_argument(
        "--plan",
        default=DEFAULT_PLAN,
        metavar="PLAN",
        help=f"the plan to apply (default: {DEFAULT_PLAN} in the current directory)",
    )
    run.add_argument(
        "argv",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND ...",
        help="the command to start, with its arguments, after --",
    )

    check = commands.add_parser(
        "check",
        help="import every target of a plan and report those missing or misspelled",
        description=(
            "Import every target the plan names, and its signals. Each target that does not "
            "exist is listed with the nearest existing name (a method renamed by a vendor "
            "upgrade is caught before deploying); a target whose module cannot be imported "
            "here is listed as pending. Exit status 1 if any target does not resolve, 0 when "
            "all do, 2 when the plan itself is wrong. The current directory is importable, "
            "as with python -m; run it where the application runs."
        ),
        epilog="example:\n  eventweave check weave.toml",
        formatter_class=_Formatter,
    )
    check.add_argument("plan", nargs="?", default=DEFAULT_PLAN, help="default: %(default)s")

    show = commands.add_parser(
        "show",
        help="print what a plan weaves: each target and the signals or events it emits",
        description=(
            "Print the plan as a table: each target, by section, with the signals or REST "
            "events it emits, and whether it resolves here (targets of modules that cannot "
            "be imported here are shown as pending). Imports the targets' modules, not their "
            "signals; nothing is woven."
        ),
        epilog="example:\n  eventweave show weave.toml",
        formatter_class=_Formatter,
    )
    show.add_argument("plan", nargs="?", default=DEFAULT_PLAN, help="default: %(default)s")

    commands.add_parser(
        "demo",
        help="run a bundled legacy portal, instrumented only by a plan, and print its events",
        description=(
            "Run a small legacy portal bundled with eventweave (Django-shaped login views, "
            "Vidispine helpers, REST views), instrumented only through its plan, through a "
            "scripted session against a fake Vidispine server on 127.0.0.1. Prints each event "
            "as it is emitted, then a summary: events per signal, and what the "
            "instrumentation cost. Needs no network and finishes by itself in seconds."
        ),
        epilog="example:\n  eventweave demo\n  eventweave show $(python -c "
        "'import eventweave._demo as d; print(d.PLAN)')",
        formatter_class=_Formatter,
    )
    from .relay._command import add_consume_parser

    add_consume_parser(commands, _Formatter)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("eventweave")
    except Exception:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``eventweave`` command line; return its exit status.

    :param argv: the arguments after the program name (default: ``sys.argv[1:]``).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from .plan import PlanError

    try:
        if args.command == "run":
            return _run(parser, args.plan, list(args.argv))
        if args.command == "check":
            return _check(args.plan, sys.stdout)
        if args.command == "show":
            return _show(args.plan, sys.stdout)
        if args.command == "consume":
            from .relay._command import consume

            return consume(args)
        from ._demo import run_demo

        return run_demo(sys.stdout)
    except PlanError as exc:
        print(f"eventweave {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`eventweave demo | head`): stop quietly, and keep
        # the interpreter from failing again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


# -- run ----------------------------------------------------------------------


def _run(parser: argparse.ArgumentParser, plan_path: str, argv: list[str]) -> int:
    from .plan import load

    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        parser.error("run needs a command: eventweave run [--plan weave.toml] -- COMMAND ...")
    load(plan_path)  # a wrong plan stops here, with its file, line and key
    env = dict(os.environ)
    env["EVENTWEAVE_PLAN"] = os.path.abspath(plan_path)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = BOOT_DIR + (os.pathsep + existing if existing else "")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if os.name == "nt":  # no exec that keeps the process there
            return subprocess.call(argv, env=env)
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        print(f"eventweave run: command not found: {argv[0]}", file=sys.stderr)
        return 127
    except OSError as exc:
        print(f"eventweave run: cannot run {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 126
    return 0  # not reached: exec does not return


# -- check and show -----------------------------------------------------------


def _importable_here() -> None:
    # The console script's sys.path starts with its bin directory, not the
    # current one; python -m would put the current directory first.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def _targets(count: int) -> str:
    return f"{count} target" if count == 1 else f"{count} targets"


def _check(plan_path: str, out: TextIO) -> int:
    from .plan import _label, load

    plan = load(plan_path)
    _importable_here()
    entries = plan.entries()
    problems = plan.check()
    if not problems:
        verdict = (
            "its target resolves" if len(entries) == 1 else f"all {len(entries)} targets resolve"
        )
        print(f"{plan_path}: {verdict}", file=out)
        return 0
    pending = sum(1 for entry in problems if entry.status.startswith("pending"))
    detail = f" ({pending} pending: their module cannot be imported here)" if pending else ""
    print(
        f"{plan_path}: {len(problems)} of {_targets(len(entries))} "
        f"{'does' if len(problems) == 1 else 'do'} not resolve{detail}",
        file=out,
    )
    for entry in problems:
        location = f"{plan_path}:{entry.line}" if entry.line else plan_path
        print(f"{location}: {_label(entry.key)}: {entry.target}: {entry.status}", file=out)
    return 1


def _show(plan_path: str, out: TextIO) -> int:
    from .plan import Entry, load

    plan = load(plan_path)
    _importable_here()
    entries = plan.entries()
    pending = sum(1 for e in entries if e.status.startswith("pending"))
    missing = sum(1 for e in entries if not e.ok) - pending
    counts = f"{len(entries) - pending - missing} resolve here"
    if pending:
        counts += f", {pending} pending"
    if missing:
        counts += f", {missing} missing"
    print(f"{plan_path}: {_targets(len(entries))} ({counts})", file=out)

    groups: list[tuple[str, list[tuple[str, Entry]]]] = []
    for entry in entries:
        section = f"[[{entry.section}]]" if entry.section == "weave" else f"[{entry.section}]"
        # "requests to http://host/API" is no target string
        module, sep, name = ("", "", "") if " " in entry.target else entry.target.partition(":")
        heading = f"{section} {module}" if sep else f"{section} http"
        if not groups or groups[-1][0] != heading:
            groups.append((heading, []))
        groups[-1][1].append((name if sep else entry.target, entry))
    width = min(max((len(name) for _, rows in groups for name, _ in rows), default=0), 44)
    for heading, rows in groups:
        print(f"\n{heading}", file=out)
        statuses = {entry.status for _, entry in rows}
        shared = statuses.pop() if len(statuses) == 1 else None
        for name, entry in rows:
            line = str(entry.line) if entry.line else ""
            print(f"{line:>5}  {name:<{width}}  {entry.events}", file=out)
            if not entry.ok and shared is None:
                print(f"{'':>5}  {'':<{width}}  ^ {entry.status}", file=out)
        if shared is not None and shared != "ok":
            print(f"{'':>5}  {shared}", file=out)
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m eventweave` goes through __main__
    sys.exit(main())
