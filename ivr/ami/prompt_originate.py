"""Ring an admin's own phone to record a prompt: one AMI Originate into the recording context.

    Action: Originate / ActionID: alerta-rec-<hex> / Channel: PJSIP/1003
    ChannelId: alerta-rec-<hex> / Context: alerta-prompt-record / Exten: <token>
    Priority: 1 / CallerID: "Alerta grabacion" / Timeout: 30000 / Async: true

Once the admin answers, their channel runs the recording context at the token (random
digits naming the recording), which hands the call to the controller's ``prompt_record``
flow (dialplans/extensions.conf). What happens next is told by the recording's row, not
by AMI events: the flow writes it as the admin goes through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ivr.ami.link import AmiError, AmiUnavailable
from ivr.ami.values import (
    check_action_id,
    check_bounded_int,
    check_caller_name,
    check_context,
    check_endpoint,
    check_number,
)

ACTION_PREFIX = "alerta-rec-"
TOKEN_DIGITS = 12
SendAction = Callable[[list[tuple[str, str]]], Awaitable[dict[str, str]]]


def prompt_call_fields(action_id: str, endpoint: str, token: str, *, context: str,
                       ring_s: int = 30, caller_name: str = "Alerta grabacion"
                       ) -> list[tuple[str, str]]:
    """The Originate's headers, every value checked (``UnsafeValue`` if not)."""
    action_id = check_action_id("action_id", action_id)
    return [
        ("Action", "Originate"),
        ("ActionID", action_id),
        ("Channel", check_endpoint("endpoint", endpoint)),
        ("ChannelId", action_id),
        ("Context", check_context("context", context)),
        ("Exten", check_number("token", token, min_digits=TOKEN_DIGITS, max_digits=TOKEN_DIGITS)),
        ("Priority", "1"),
        ("CallerID", f'"{check_caller_name("caller_name", caller_name)}"'),
        ("Timeout", str(check_bounded_int("ring_s", ring_s, 5, 120) * 1000)),
        ("Async", "true"),
    ]


class PromptCaller:
    """``ivr.core.ports.PhoneRinger`` on the AMI link (``AmiLink.send_action``)."""

    def __init__(self, send: SendAction, *, context: str = "alerta-prompt-record",
                 ring_s: int = 30) -> None:
        self.send = send
        self.context = context
        self.ring_s = ring_s

    async def ring(self, endpoint: str, token: str) -> str | None:
        fields = prompt_call_fields(f"{ACTION_PREFIX}{token}", endpoint, token,
                                    context=self.context, ring_s=self.ring_s)  # UnsafeValue
        try:
            response = await self.send(fields)
        except AmiUnavailable:
            raise
        except AmiError as exc:
            return f"not sent: {exc}"
        if response.get("response") != "Success":
            message = response.get("message") or response.get("response") or "no message"
            return f"Asterisk refused the call: {message}"
        return None
