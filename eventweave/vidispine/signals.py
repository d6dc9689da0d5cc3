"""The Vidispine signals, named and shaped as in Cantemo's Vidispine interface.

Every signal is an :class:`eventweave.Signal` (Django's dispatch API), so
``vidispine_post_create.connect(receiver)`` works as with Django, and every
receiver is called as ``receiver(signal=..., sender=..., **named)``.

Helper and HTTP operations (``instrument_helpers``, ``instrument_http``):

=============================  ==========================================================
Signal                         Sent with
=============================  ==========================================================
``vidispine_pre_create``       before a create. ``sender``: the helper class (the runtime
``vidispine_pre_modify``       class of ``self``); ``instance``: the identifier the call is
``vidispine_pre_delete``       about (user name, group name, item id), or None when only
``vidispine_pre_get``          known afterwards; ``method``: the helper method name;
                               ``args``, ``kwargs``: the call's arguments as passed; and
                               each bound parameter by name (secrets masked).
``vidispine_post_create``      after the call returned: the same arguments plus
``vidispine_post_modify``      ``result``. For a create whose id is only known
``vidispine_post_delete``      afterwards (``createPlaceholder``), ``instance`` is the
``vidispine_post_get``         new id.
``vidispine_failed``           instead of the post signal when the call raised: the same
                               arguments as the pre signal plus ``exception``. The
                               exception is then re-raised unchanged.
``vidispine_get_item_ntfcn``   after each ``ItemHelper.getItem`` call that returned,
                               following ``vidispine_post_get``, with the same
                               arguments: ``instance`` is the item id, ``result`` what
                               ``getItem`` returned. Cantemo's plugin template records
                               the items users visit with it.
``vidispine_pre_ingest``       around an ingest into a placeholder, the family Cantemo's
``vidispine_post_ingest``      ``IngestHelper.importFileToPlaceholder`` sends (``sender``
                               the helper class, ``instance`` the item id, ``method``,
                               ``query`` in the pre signal). eventweave sends them
                               around a method given the ``ingest`` family
                               (``instrument_helpers(methods={"IngestHelper":
                               {"importFileToPlaceholder": "ingest"}})``); plugin code
                               that sends them itself (``vidispine_pre_ingest.send(...)``)
                               runs unchanged on them.
=============================  ==========================================================

Notifications received from Vidispine (``NotificationReceiver``,
``eventweave.contrib.django.vidispine_notification_view``):

=================================  ======================================================
Signal                             Sent with
=================================  ======================================================
``vidispine_auto_import_ntfcn``    a job notification whose ``type`` is ``AUTO_IMPORT``.
                                   ``sender``: the receiver class
                                   (``NotificationReceiver`` or a subclass);
                                   ``instance``: the ``itemId`` field (None when
                                   absent); ``fields``: every field of the notification,
                                   ``{key: value}``, a key that repeats mapping to a list;
                                   and each field whose key is a Python identifier by
                                   name (``jobId=``, ``status=``, ``type=`` ...), except
                                   keys clashing with ``signal``, ``sender``,
                                   ``instance`` or ``fields``, which are only in
                                   ``fields``.
``vidispine_notification``         any other notification, so none is dropped: the same
                                   arguments.
=================================  ======================================================

Receivers of the notification signals are called with ``send_robust``: one that
raises is logged and the notification is still acknowledged, so Vidispine does not
retry it.
"""

from __future__ import annotations

from eventweave._signals import Signal

__all__ = [
    "vidispine_auto_import_ntfcn",
    "vidispine_failed",
    "vidispine_get_item_ntfcn",
    "vidispine_notification",
    "vidispine_post_create",
    "vidispine_post_delete",
    "vidispine_post_get",
    "vidispine_post_ingest",
    "vidispine_post_modify",
    "vidispine_pre_create",
    "vidispine_pre_delete",
    "vidispine_pre_get",
    "vidispine_pre_ingest",
    "vidispine_pre_modify",
]

vidispine_pre_create = Signal()
"""Before a Vidispine create (createUser, createGroup, createPlaceholder ...)."""
vidispine_post_create = Signal()
"""After a Vidispine create returned; carries ``result``."""
vidispine_pre_modify = Signal()
"""Before a Vidispine modification (setItemMetadata, addUserToGroup ...)."""
vidispine_post_modify = Signal()
"""After a Vidispine modification returned; carries ``result``."""
vidispine_pre_delete = Signal()
"""Before a Vidispine delete (deleteUser, removeGroup, removeItem ...)."""
vidispine_post_delete = Signal()
"""After a Vidispine delete returned; carries ``result``."""
vidispine_pre_get = Signal()
"""Before a Vidispine read (getItem, getItemMetadata, getUser, getGroup ...)."""
vidispine_post_get = Signal()
"""After a Vidispine read returned; carries ``result``."""
vidispine_pre_ingest = Signal()
"""Before a file is ingested into a placeholder (importFileToPlaceholder)."""
vidispine_post_ingest = Signal()
"""After an ingest into a placeholder was started; carries ``result``."""
vidispine_failed = Signal()
"""A Vidispine operation raised; carries ``exception``, sent instead of the post signal."""
vidispine_get_item_ntfcn = Signal()
"""An item was fetched (each ``getItem`` call that returned); ``instance`` is the item id."""
vidispine_auto_import_ntfcn = Signal()
"""Vidispine notified an auto-import job; ``instance`` is the imported item's id."""
vidispine_notification = Signal()
"""Vidispine sent any notification that is not an auto-import one."""
