"""The model the DRF test project serves."""

from __future__ import annotations

from django.db import models


class Asset(models.Model):
    """A media asset, as a portal's REST API lists and edits them."""

    title = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, default="video")
    tags = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        app_label = "drf"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class Video(Asset):
    """A proxy of Asset: a subclass, for the ``model`` predicate."""

    class Meta:
        proxy = True
        app_label = "drf"
