"""Applies the plan named by ``EVENTWEAVE_PLAN`` when imported, at interpreter start-up.

Imported by the ``eventweave.pth`` start-up hook (only when the variable is
set) and by the ``sitecustomize`` that ``eventweave run`` puts first on
``PYTHONPATH``; being a module, it applies the plan once per process however
many of them import it. It never raises: a failure is printed to stderr and
the application starts uninstrumented rather than not at all.

Two more variables, which ``eventweave run --log`` and ``--trace`` set:

- ``EVENTWEAVE_LOG=INFO`` (or DEBUG, WARNING, ERROR) prints the ``eventweave``
  logger's records at that level to stderr, from the start (an application
  usually configures logging later than the plan is applied);
- ``EVENTWEAVE_TRACE=-`` writes a JSON line per event to stderr,
  ``EVENTWEAVE_TRACE=/path/trace.jsonl`` appends them to that file.
"""

from __future__ import annotations

import logging
import os
import sys

from ._environment import LEVELS, LOG_VARIABLE, PLAN_VARIABLE, TRACE_VARIABLE

__all__ = ["LOG_VARIABLE", "PLAN_VARIABLE", "TRACE_VARIABLE", "apply_from_environment"]


def _say(message: str) -> None:
    try:
        sys.stderr.write(f"eventweave: {message}\n")
        sys.stderr.flush()
    except Exception:
        pass  # a closed or broken stderr must not stop the application starting


def _log_from_environment() -> None:
    level = os.environ.get(LOG_VARIABLE, "").strip().upper()
    if not level:
        return
    if level not in LEVELS:
        _say(f"{LOG_VARIABLE}={level!r} is not one of {', '.join(LEVELS)}; not logging")
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("eventweave: %(levelname)s %(message)s"))
    logger = logging.getLogger("eventweave")
    logger.addHandler(handler)
    logger.setLevel(level)


def apply_from_environment() -> int:
    """Apply the plan at ``$EVENTWEAVE_PLAN``, if set; return how many weavings it made."""
    path = os.environ.get(PLAN_VARIABLE)
    if not path:
        return 0
    try:
        _log_from_environment()
        from .plan import PlanError, load

        try:
            plan = load(path)
            made = len(plan.apply())
        except PlanError as exc:
            _say(f"{exc} ({PLAN_VARIABLE}: the plan is not applied, or only in part)")
            return 0
        destination = os.environ.get(TRACE_VARIABLE)
        if destination:
            from .plan._trace import start

            try:
                start(plan, destination)
            except OSError as exc:
                _say(f"cannot write the event trace to {destination}: {exc.strerror or exc}")
        return made
    except Exception as exc:
        _say(
            f"applying the plan {path!r} ({PLAN_VARIABLE}) failed: {type(exc).__name__}: {exc}; "
            "the application runs without it"
        )
    return 0


apply_from_environment()
