"""FastAGI: ``protocol`` (pure wire format), ``channel`` and ``server``.

Our own server rather than panoramisk's: its FastAGI loop spins on an early EOF
and a ``HANGUP`` line shifts every later reply by one.
"""

from ivr.agi.call_control import AgiCallControl
from ivr.agi.server import AgiServer, Flow

__all__ = ["AgiCallControl", "AgiServer", "Flow"]
