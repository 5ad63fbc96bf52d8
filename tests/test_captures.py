"""Real Asterisk 22.10.1 captures (tests/fixtures/captures/) replayed through our parsers,
our callback outcome rules and our fakes.

The captures were taken with the project's own asterisk_conf/ and dialplans/
(see the README there). They are the reference: where a fake differs, the
fake is wrong.
"""

from __future__ import annotations

import re

from ivr.config import Settings
from tests.test_console_callbacks import callback_desk, click, final_state

# -- the Originate the console sends -----------------------------------------------------------


async def test_the_operator_leg_carries_the_callback_prefix_once(settings: Settings) -> None:
    """The capture showed ``Uniqueid: alerta-cb-alerta-cb-<hex>``: the console's action id
    already starts with ``alerta-cb-`` and ChannelId added it again."""
    async with callback_desk(settings) as (site, fake, b, report):
        status, body = await click(b, report)
        assert status == 200, body
        await final_state(site, report)
        (originate,) = fake.actions("Originate")
        action_id = originate.get("ActionID") or ""
        assert re.fullmatch(r"alerta-cb-[0-9a-f]{16}", action_id), action_id
        assert originate.raw == (
            b"Action: Originate\r\n"
            b"ActionID: " + action_id.encode() + b"\r\n"
            b"Channel: PJSIP/1001\r\n"
            b"ChannelId: " + action_id.encode() + b"\r\n"
            b"Context: alerta-callback\r\n"
            b"Exten: 987654321\r\n"
            b"Priority: 1\r\n"
            b'CallerID: "Alerta"\r\n'
            b"Timeout: 30000\r\n"
            b"Async: true\r\n"
            b"Variable: ALERTA_REPORT=" + str(report).encode() + b"\r\n"
            b"Variable: ALERTA_RING_S=30\r\n"
            b"\r\n"
        )
