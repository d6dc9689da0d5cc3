"""Testing helpers: record emitted events, undo what a test wove; a pytest plugin with fixtures."""

__all__ = ["CapturedEvent", "capture", "isolated"]

from ._capture import CapturedEvent, capture
from ._isolated import isolated
