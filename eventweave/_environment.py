"""The environment variables ``eventweave run`` sets and the start-up hook reads.

Importing this module does nothing else, unlike importing ``_bootstrap``,
which applies the plan.
"""

from __future__ import annotations

__all__ = ["LEVELS", "LOG_VARIABLE", "PLAN_VARIABLE", "TRACE_VARIABLE"]

PLAN_VARIABLE = "EVENTWEAVE_PLAN"
TRACE_VARIABLE = "EVENTWEAVE_TRACE"
LOG_VARIABLE = "EVENTWEAVE_LOG"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
"""What ``EVENTWEAVE_LOG`` (and ``eventweave run --log``) may be."""
