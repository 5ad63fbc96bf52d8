"""AMI for operator callbacks: checked values, one supervised link, outcomes from events.

- ``values``: every AMI value checked before it is sent (``UnsafeValue``), and
  the wire encoding.
- ``originate``: the callback request, its updates, the exact Originate headers.
- ``outcome``: what became of a callback, from AMI events (pure).
- ``session``: one connection through panoramisk's ``Manager``, with its
  automatic reconnect and re-sending turned off.
- ``link``: ``AmiLink``, the supervised connection the console uses.
"""

from ivr.ami.link import AmiError, AmiLink, AmiUnavailable, DuplicateActionId, LinkState
from ivr.ami.originate import CallbackResult, CallbackUpdate, OriginateRequest
from ivr.ami.values import UnsafeValue

__all__ = [
    "AmiError",
    "AmiLink",
    "AmiUnavailable",
    "CallbackResult",
    "CallbackUpdate",
    "DuplicateActionId",
    "LinkState",
    "OriginateRequest",
    "UnsafeValue",
]
