"""Django integration: views and instrumentation for Django projects.

Importing this package imports Django; the rest of eventweave never does.
"""

try:
    import django  # noqa: F401  (fail here, with the fix, not deep in a view)
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    msg = (
        "eventweave.contrib.django needs Django; install it with "
        "'pip install eventweave-aop[django]'"
    )
    raise ImportError(msg) from exc

from ._auth import instrument_auth
from ._notifications import vidispine_notification_view

__all__ = ["instrument_auth", "vidispine_notification_view"]
