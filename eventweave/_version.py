"""The version of eventweave, read from the installed distribution's metadata."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

__all__ = ["DISTRIBUTION", "__version__"]

DISTRIBUTION = "eventweave-aop"
"""The name eventweave is published under (``pip install eventweave-aop``); the
name ``eventweave`` on the package index belongs to an unrelated project."""


def _source_tree_version() -> str:
    # A checkout that was never installed: the version pyproject.toml declares,
    # marked as a local build so it never passes for a release.
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return "0+unknown"
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return f"{found.group(1)}+source" if found else "0+unknown"


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return _source_tree_version()


__version__ = _version()
"""The version string, e.g. ``"0.1.0"``."""
