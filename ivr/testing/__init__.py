"""Wire-level fakes shipped with the package, for tests, soak runs, benchmarks and ``alerta call``.

``place_call`` dials a FastAGI server the way Asterisk 22 does and plays the
caller described by a ``CallScript``; the ``CallResult`` says what the server did.
"""

from ivr.testing.agi_wire import split_agi_args
from ivr.testing.fake_ami import FakeAmi
from ivr.testing.fake_asterisk import CallResult, CallScript, place_call
from ivr.testing.wav import load_voice, make_tone_wav

__all__ = [
    "CallResult",
    "CallScript",
    "FakeAmi",
    "load_voice",
    "make_tone_wav",
    "place_call",
    "split_agi_args",
]
