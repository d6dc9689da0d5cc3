"""The ``eventweave`` command: ``run``, ``check``, ``show``, ``demo`` and ``consume``.

Exit status: 0 on success (for ``consume``: a clean stop); 1 when ``check``
finds what applying the plan would refuse, or parts it cannot import here; 2
for a plan that cannot be read or is wrong, or a usage error. ``run``
replaces itself with the command, whose status is then the status.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from ._environment import LEVELS, LOG_VARIABLE, PLAN_VARIABLE, TRACE_VARIABLE

if TYPE_CHECKING:
    from .plan import Finding, Report

__all__ = ["main"]

DEFAULT_PLAN = "weave.toml"
BOOT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")
"""The directory ``run`` puts first on ``PYTHONPATH``: it holds only ``sitecustomize.py``."""

_EXAMPLES = """\
examples:
  eventweave run --plan weave.toml -- python manage.py runserver
  eventweave run -- gunicorn myportal.wsgi        (plan: ./weave.toml)
  eventweave run --trace -- pytest -W error
  eventweave check --settings myportal.settings weave.toml
  eventweave show --json weave.toml
  eventweave consume --plan worker.toml --group audit
  eventweave demo

Servers whose command line you do not control (gunicorn under systemd,
uwsgi): set EVENTWEAVE_PLAN=/path/to/weave.toml in their environment
instead; every Python process started where eventweave is installed then
applies the plan at start-up.

exit status: 0 success, 1 check found errors (what applying the plan would
refuse) or parts pending here, 2 the plan is wrong (the message gives file,
line and key) or bad usage.
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
            "How: the plan is read and validated (what applying it would refuse without\n"
            "importing the application, such as a malformed URL, stops it here too);\n"
            "EVENTWEAVE_PLAN is set to its absolute path (and EVENTWEAVE_TRACE,\n"
            "EVENTWEAVE_LOG for --trace, --log), and a directory holding a\n"
            "sitecustomize.py is put first on PYTHONPATH; that file runs any\n"
            "sitecustomize of yours, then applies the plan. Interpreters started with\n"
            "-I or -E ignore PYTHONPATH: set EVENTWEAVE_PLAN alone for those."
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
        "--trace",
        action="store_true",
        help="write every event the plan's weavings emit as a JSON line, to stderr",
    )
    run.add_argument(
        "--trace-file",
        metavar="PATH",
        help="append the JSON lines to PATH instead (implies --trace)",
    )
    run.add_argument(
        "--log",
        metavar="LEVEL",
        type=str.upper,
        choices=LEVELS,
        help="print the eventweave logger's records at LEVEL to stderr "
        f"({', '.join(LEVELS)}): INFO says when the plan is applied",
    )
    run.add_argument(
        "argv",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND ...",
        help="the command to start, with its arguments, after --",
    )

    check = commands.add_parser(
        "check",
        help="find what applying a plan would refuse: missing targets, bad signals, ...",
        description=(
            "Import every module the plan names, then apply the plan and undo it, so that "
            "everything applying it would refuse is reported: a target that does not exist "
            "(with the nearest existing name, so a method renamed by a vendor upgrade is "
            "caught before deploying), a signal that does not import, a REST view that is no "
            "class, a malformed URL. What applying it would only log (a method of the default "
            "helper table the code lacks) is a warning. A part whose module is not installed "
            "here is pending. Exit status 1 for errors or pending parts, 0 otherwise (warnings "
            "are printed), 2 when the plan itself is wrong. The current directory is "
            "importable, as with python -m; run it where the application runs."
        ),
        epilog=(
            "example:\n  eventweave check weave.toml\n"
            "  eventweave check --settings myportal.settings weave.toml"
        ),
        formatter_class=_Formatter,
    )
    check.add_argument("plan", nargs="?", default=DEFAULT_PLAN, help="default: %(default)s")
    _settings_option(check)

    show = commands.add_parser(
        "show",
        help="print what a plan weaves: each target and the signals or events it emits",
        description=(
            "Print the plan as a table: each target, by section, with the signals or REST "
            "events it emits, and whether it resolves here (targets of modules that cannot "
            "be imported here are shown as pending). Imports the targets' modules, not their "
            "signals; nothing is woven. Passwords in the plan's URLs are masked."
        ),
        epilog="example:\n  eventweave show weave.toml\n  eventweave show --json weave.toml",
        formatter_class=_Formatter,
    )
    show.add_argument("plan", nargs="?", default=DEFAULT_PLAN, help="default: %(default)s")
    show.add_argument("--json", action="store_true", help="print the table as JSON")
    _settings_option(show)

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


def _settings_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--settings",
        metavar="MODULE",
        help="Django settings module: Django is set up before the targets are imported "
        "(the default is $DJANGO_SETTINGS_MODULE, if set)",
    )


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
            trace = args.trace_file or ("-" if args.trace else None)
            return _run(parser, args.plan, list(args.argv), trace=trace, log=args.log)
        if args.command in ("check", "show"):
            _importable_here()
            _setup_django(args.settings)
            if args.command == "check":
                return _check(args.plan, sys.stdout)
            return _show(args.plan, sys.stdout, as_json=args.json)
        if args.command == "consume":
            return _consume(args)
        from ._demo import run_demo

        return run_demo(sys.stdout)
    except (PlanError, _Refused) as exc:
        print(f"eventweave {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`eventweave demo | head`): stop quietly, and keep
        # the interpreter from failing again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


class _Refused(Exception):
    """The command cannot go on; the message says why (exit status 2)."""


# -- run ----------------------------------------------------------------------


def _run(
    parser: argparse.ArgumentParser,
    plan_path: str,
    argv: list[str],
    *,
    trace: str | None = None,
    log: str | None = None,
) -> int:
    from .plan import load

    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        parser.error("run needs a command: eventweave run [--plan weave.toml] -- COMMAND ...")
    plan = load(plan_path)  # a wrong plan stops here, with its file, line and key
    # What applying would refuse without importing the application (a malformed
    # URL) stops it too, rather than the program starting uninstrumented.
    report = plan.rehearse_static()
    for finding in (*report.errors, *report.warnings):
        print(f"eventweave run: {finding}", file=sys.stderr)
    if report.errors:
        return 2
    env = dict(os.environ)
    env[PLAN_VARIABLE] = os.path.abspath(plan_path)
    if trace is not None:
        env[TRACE_VARIABLE] = trace if trace == "-" else os.path.abspath(trace)
    if log is not None:
        env[LOG_VARIABLE] = log
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


# -- consume ------------------------------------------------------------------


def _consume(args: argparse.Namespace) -> int:
    """``consume``; with ``--plan``, its ``[relay]`` and ``[[connect]]`` receivers."""
    from .relay._command import consume

    _importable_here()
    _setup_django(args.settings)
    planned = None
    if args.plan is not None:
        from .plan import load
        from .plan._relay import worker

        planned = worker(load(args.plan))  # a wrong plan stops here, with its file, line and key
    return consume(args, planned)


# -- check and show -----------------------------------------------------------


def _importable_here() -> None:
    # The console script's sys.path starts with its bin directory, not the
    # current one; python -m would put the current directory first.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def _setup_django(settings: str | None) -> None:
    """``django.setup()`` before targets are imported, when there are Django settings.

    Django is imported only then: with ``--settings``, or ``DJANGO_SETTINGS_MODULE``
    set, and Django installed.
    """
    if settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings
    name = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not name:
        return
    if importlib.util.find_spec("django") is None:
        if settings:
            raise _Refused(f"--settings {settings}: Django is not installed here")
        return
    import django

    try:
        django.setup()
    except Exception as exc:
        msg = f"setting Django up with DJANGO_SETTINGS_MODULE={name} failed: "
        raise _Refused(f"{msg}{type(exc).__name__}: {exc}") from None


def _check(plan_path: str, out: TextIO) -> int:
    from .plan import load
    from .plan._plan import _count

    report: Report = load(plan_path).check()
    total = len(report.entries)
    if report.ok:
        verdict = "its target resolves" if total == 1 else f"all {total} targets resolve"
        absent = sum(1 for entry in report.entries if entry.status.startswith("absent"))
        if absent:
            verdict = f"{total - absent} of {total} targets resolve, {absent} absent"
        if report.warnings:
            verdict += f" ({_count(len(report.warnings), 'warning')})"
        print(f"{plan_path}: {verdict}", file=out)
        _findings(report.warnings, out)
        return 0
    counts = [_count(len(report.errors), "error")] if report.errors else []
    if report.pending:
        counts.append(f"{len(report.pending)} pending (their module is not installed here)")
    if report.warnings:
        counts.append(_count(len(report.warnings), "warning"))
    print(f"{plan_path}: {', '.join(counts)} ({_count(total, 'target')} in the plan)", file=out)
    _findings([*report.errors, *report.pending, *report.warnings], out)
    return 1


def _findings(findings: Sequence[Finding], out: TextIO) -> None:
    for finding in findings:
        print(finding, file=out)


def _show(plan_path: str, out: TextIO, *, as_json: bool = False) -> int:
    from .plan import Entry, load
    from .plan._plan import _count, _heading

    plan = load(plan_path)
    entries = plan.entries()
    pending = sum(1 for e in entries if e.pending)
    absent = sum(1 for e in entries if e.status.startswith("absent"))
    missing = sum(1 for e in entries if not e.ok) - pending - absent
    if as_json:
        document = {
            "plan": plan_path,
            "targets": len(entries),
            "resolve": len(entries) - pending - absent - missing,
            "pending": pending,
            "absent": absent,
            "missing": missing,
            "entries": [entry.as_dict() for entry in entries],
        }
        json.dump(document, out, indent=2)
        out.write("\n")
        return 0
    counts = f"{len(entries) - pending - absent - missing} resolve here"
    for count, what in ((pending, "pending"), (absent, "absent"), (missing, "missing")):
        if count:
            counts += f", {count} {what}"
    print(f"{plan_path}: {_count(len(entries), 'target')} ({counts})", file=out)

    groups: list[tuple[str, list[tuple[str, Entry]]]] = []
    for entry in entries:
        section = _heading(entry.section)
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
