"""eventweave: weave events into existing Python code, at no cost when nobody listens.

PYTEST_DONT_REWRITE: a plan applied at start-up (``eventweave run -- pytest``) imports
this package before pytest can rewrite its asserts (it has none); the marker keeps
pytest from warning about it, which ``-W error`` would turn into a failure.
"""

__all__ = [
    "MASK",
    "SECRET_NAMES",
    "Call",
    "Emit",
    "Signal",
    "WeaveError",
    "Weaving",
    "emits",
    "mark",
    "muted",
    "receiver",
    "silent",
    "trigger_instead",
    "unweave_all",
    "weave",
    "woven",
]

from ._advice import MASK, SECRET_NAMES, Call, Emit, emits, mark, muted, silent, trigger_instead
from ._signals import Signal, receiver
from ._version import __version__ as __version__
from ._weaving import WeaveError, Weaving, unweave_all, weave, woven
