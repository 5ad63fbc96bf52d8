"""What every flow shares: the call's line and language, steps, prompts and the menu helper."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from ivr.core.call_control import ALL_KEYS, CallControl
from ivr.core.ports import Deps, PublishedLine
from ivr.flows.prompts import prompt_path

logger = logging.getLogger(__name__)


class Step(StrEnum):
    """Where a caller can be; set as ALERTA_STEP so Asterisk, logs and tests see it."""

    LANGUAGE = "language"
    MENU = "menu"
    AREA = "area"  # a participation call: the municipal area its case is for
    OPERATOR = "operator"
    CALLBACK = "callback"
    ZONE = "zone"
    RECORD = "record"
    REVIEW = "review"
    READBACK = "readback"
    STATUS = "status"


class Outcome(StrEnum):
    COMPLETED = "completed"  # the report has everything the flow asks for
    OPERATOR = "operator"  # an operator took the call
    HUNG_UP = "hung_up"  # the caller left before the end
    STATUS_GIVEN = "status_given"
    GAVE_UP = "gave_up"  # the caller could not get through a menu
    ERROR = "error"  # our fault; the server sent the call to the fallback context
    INTERRUPTED = "interrupted"  # the controller shut down under the call


class NoLine(RuntimeError):
    """No published line takes this call: the server sends it to the fallback context."""


def dialled_number(channel: CallControl) -> str | None:
    """The number the caller dialled: ``?line=`` on the AGI address, else the extension
    (``s`` means the provider sent none: then the DNID)."""
    for value in (channel.args.get("line"), channel.info.get("extension"),
                  channel.info.get("dnid")):
        if value and value not in ("s", "unknown") and len(value) <= 20 and all(
                c in "0123456789+*#" for c in value):
            return value
    return None


async def line_for(channel: CallControl, deps: Deps, flow: str | None) -> PublishedLine:
    dialled = dialled_number(channel)
    line = await deps.lines.for_call(dialled, flow)
    if line is None:
        raise NoLine(f"no published {flow or 'report'} line for number {dialled}")
    if not line.matched:
        logger.info("call %s: number %s is no line's; the default %s line %s takes it",
                    channel.info.get("uniqueid", "?"), dialled or "(none)",
                    line.config.flow.value, line.config.slug)
    return line


@dataclass
class Call:
    """One call as the flow goes through it."""

    channel: CallControl
    deps: Deps
    line: PublishedLine  # the version this call runs on, start to end
    language: str = ""
    step: Step | None = None
    report: int | None = None
    complete: bool = False
    closed: bool = False
    played: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.language:
            self.language = self.line.config.languages[0]

    @property
    def call_id(self) -> str:
        return self.channel.info.get("uniqueid", "") or "call"

    def prompt(self, prompt_id: str, language: str | None = None) -> str:
        """What Asterisk plays for ``prompt_id`` in the call's language, or its fallback."""
        return prompt_path(self.line, self.deps.config.prompts, language or self.language,
                           prompt_id)

    def prompts(self, *prompt_ids: str) -> list[str]:
        return [self.prompt(p) for p in prompt_ids]

    async def enter(self, step: Step) -> None:
        self.step = step
        await self.channel.mark_step(step.value)

    async def say(self, *prompt_ids: str, keys: str = "") -> str | None:
        return await self.channel.play(self.prompts(*prompt_ids), keys=keys)

    async def say_digits(self, digits: str) -> None:
        names = {"*": "digit_star", "#": "digit_hash"}
        await self.say(*(names.get(d, f"digit_{d}") for d in digits))

    async def menu(
        self,
        prompt_ids: list[str],
        valid: str,
        *,
        tries: int | None = None,
        timeout_s: float | None = None,
        invalid: str = "invalid",
        no_input: str = "no_input",
    ) -> str | None:
        """Ask for one key out of ``valid``.

        Any key interrupts the prompt. A timeout or a wrong key replays the menu
        after a short hint; after ``tries`` failures it returns None.
        """
        config = self.deps.config
        tries = config.menu_tries if tries is None else tries
        timeout_s = config.menu_timeout_s if timeout_s is None else timeout_s
        *lead, last = prompt_ids
        for attempt in range(tries):
            key = await self.say(*lead, keys=ALL_KEYS) if lead else None
            if key is None:
                digits, _timed_out = await self.channel.read_digits(
                    self.prompt(last), max_digits=1, timeout_s=timeout_s
                )
                key = digits[:1] or None
            if key is not None and key in valid:
                return key
            if attempt + 1 < tries:
                await self.say(invalid if key else no_input, "hint_one_key")
        return None

    async def ask_number(
        self, prompt_id: str, *, max_digits: int, timeout_s: float | None = None
    ) -> tuple[str, bool]:
        """Collect digits ended by # (or by a pause). Returns (digits, timed_out).

        Up to one digit more than ``max_digits`` is read, for the caller to validate: GET
        DATA stops at its limit, and a # pressed after a full-length answer (as the
        prompts ask) would wait in the channel and end the next read (a zone, a code) at
        once with nothing, or stop the next recording."""
        timeout = self.deps.config.menu_timeout_s if timeout_s is None else timeout_s
        return await self.channel.read_digits(
            self.prompt(prompt_id), max_digits=max_digits + 1, timeout_s=timeout
        )
