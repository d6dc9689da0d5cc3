"""Cantemo's Vidispine signals: around helper methods, and from Vidispine's notifications.

``instrument_helpers()`` weaves the ``vidispine_pre_*`` / ``vidispine_post_*``
signals around the methods of a portal's ``UserHelper``, ``GroupHelper`` and
``ItemHelper``, kept in one module or, as in Cantemo Portal, in a module each;
:class:`NotificationReceiver` turns Vidispine's notifications into
``vidispine_auto_import_ntfcn`` and ``vidispine_notification``; ``instrument_http()``
sends the same signals for requests made with ``requests``. The signals are in
:mod:`eventweave.vidispine.signals`; a reference helper layer on ``requests`` is
:mod:`eventweave.vidispine.client`, and a fake Vidispine server for tests is
:mod:`eventweave.vidispine.fake`.
"""

__all__ = [
    "HELPER_METHODS",
    "NotificationReceiver",
    "instrument_helpers",
    "instrument_http",
    "parse_notification",
    "register_notification",
    "signals",
    "unregister_notification",
]

from . import signals
from ._helpers import HELPER_METHODS, instrument_helpers
from ._http import instrument_http
from ._notifications import (
    NotificationReceiver,
    parse_notification,
    register_notification,
    unregister_notification,
)
