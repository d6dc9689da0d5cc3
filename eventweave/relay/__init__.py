"""Events out of the process: forward them to a Redis Stream, consume them elsewhere.

A :class:`Relay` forwards the events of chosen signals (and REST event
classes) to a Redis Stream without blocking or breaking the emitting call; a
:class:`Consumer`, in any process on any host, delivers them to receivers at
least once, with consumer groups, redelivery and a dead-letter stream.
redis-py (the ``[relay]`` extra) is imported when a Relay or Consumer is
created, not before.
"""

__all__ = ["Consumer", "Relay"]

from ._consume import Consumer
from ._publish import Relay
