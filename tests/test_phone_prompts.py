"""A prompt recorded by phone: the console rings the admin through AMI (the fake AMI
server), the answered call reaches the real FastAGI server (the fake Asterisk), and
the kept take becomes the draft's audio. Console and controller share one database.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.config import Settings
from ivr.testing import CallResult, make_tone_wav
from ivr.testing.ami_events import CallbackScript
from ivr.testing.fake_ami import FakeAmi
from tests.console_util import Browser, Site, console_site
from tests.e2e import Line, running_line

SAFETY_S = 5.0


@dataclass
class Desk:
    line: Line
    site: Site
    ami: FakeAmi
    admin: Browser
    line_id: int

    async def ring(self, prompt: str = "greeting", language: str = "es") -> str:
        self.ami.script_next_originate(CallbackScript(events=False))
        r = await self.admin.post(f"/admin/lines/{self.line_id}/prompts/{prompt}/{language}/phone")
        assert r.status == 303, await r.text()
        found = re.search(r"recording=(\d{12})", r.headers["Location"])
        assert found, r.headers["Location"]
        return found.group(1)

    async def answer(self, token: str, keys: list[str], voice: Path | None,
                     **script: Any) -> CallResult:
        """The admin's phone answers: Asterisk runs the recording context at the token."""
        return await self.line.call(script="prompt_record", keys=keys, voice=voice,
                                    extra_env={"agi_extension": token,
                                               "agi_context": "alerta-prompt-record"}, **script)

    async def status(self, token: str) -> dict[str, Any]:
        r = await self.admin.get(f"/admin/lines/recordings/{token}")
        assert r.status == 200
        answer: dict[str, Any] = await r.json()
        return answer

    async def greeting_audio(self, language: str = "es") -> str | None:
        assert self.site.console.lines is not None
        draft = await self.site.console.lines.draft(self.line_id)
        return draft.audio("greeting", language)


@asynccontextmanager
async def desk(settings: Settings, extension: str | None = "1003") -> AsyncIterator[Desk]:
    async with FakeAmi() as fake, running_line(settings) as line, console_site(
        settings, db=line.svc.db, ami_secret=fake.secret, ami_username=fake.username,
        ami_port=fake.port,
    ) as site, site.browser() as b:
        for _ in range(int(SAFETY_S / 0.01)):
            if site.console.ami is not None and site.console.ami.state.value == "up":
                break
            await asyncio.sleep(0.01)
        root = await site.console.users.by_name("root")
        assert root is not None
        if extension:
            await site.console.users.update(root.id, actor="system", extension=extension)
        assert (await b.login("root")).status == 302
        assert site.console.lines is not None
        (row,) = [r for r in await site.console.lines.lines() if r.slug == "report"]
        yield Desk(line, site, fake, b, row.id)


async def test_the_admin_is_rung_hears_the_text_records_and_keeps_it(
    settings: Settings, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 2.0, 500)
    async with desk(settings) as d:
        before = await d.greeting_audio()
        token = await d.ring()
        (originate,) = d.ami.actions("Originate")
        assert originate.get("Channel") == "PJSIP/1003"
        assert originate.get("Context") == "alerta-prompt-record"
        assert originate.get("Exten") == token
        assert originate.get("ActionID") == f"alerta-rec-{token}"
        assert (await d.status(token))["state"] == "ringing"

        result = await d.answer(token, keys=["1"], voice=voice)
        assert result.error is None and result.commands[-1] == "HANGUP"
        ids = [p.rsplit("/", 1)[-1] for p in result.played]
        assert ids[0] == "phone_record_intro" and ids[2] == "beep"
        recorder = d.site.console.recorder
        assert recorder is not None
        rec = await recorder.store.get(token)
        assert rec is not None and result.played[1] == recorder.cue_path(rec)  # the text, spoken
        assert ids[-1] == "phone_record_kept"

        status = await d.status(token)
        assert status["state"] == "kept" and status["takes"] == 1
        after = await d.greeting_audio()
        assert after is not None and after != before
        lines = d.site.console.lines
        assert lines is not None
        kept = lines.library.path(after).read_bytes()
        assert 1.9 <= (len(kept) - 44) / 16000 <= 2.6  # the 2 s take, 8 kHz 16-bit
        kinds = [r["kind"] for r in await d.site.console.db.fetchall(
            "SELECT kind FROM events WHERE report_id IS NULL AND kind LIKE 'prompt.%'"
            " ORDER BY id")]
        assert kinds.index("prompt.phone_requested") < kinds.index("prompt.phone_kept")


async def test_record_again_then_keep_the_second_take(settings: Settings, tmp_path: Path) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.5, 450)
    async with desk(settings) as d:
        token = await d.ring()
        result = await d.answer(token, keys=["3", "2", "1"], voice=voice)
        assert sum(1 for c in result.commands if c.startswith("RECORD FILE")) == 2
        status = await d.status(token)
        assert status["state"] == "kept" and status["takes"] == 2


async def test_hanging_up_before_keeping_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.5)
    async with desk(settings) as d:
        before = await d.greeting_audio()
        token = await d.ring()
        await d.answer(token, keys=["1"], voice=voice, hangup_at="record",
                       hangup_on=("RECORD FILE",))
        status = await d.status(token)
        assert status["state"] == "abandoned" and "hung up" in status["detail"]
        assert await d.greeting_audio() == before
        # The same token cannot be used again once it is over.
        again = await d.answer(token, keys=["1"], voice=voice)
        assert not any("RECORD FILE" in c for c in again.commands)


async def test_refusals_are_said_clearly(settings: Settings) -> None:
    async with desk(settings, extension=None) as d:
        r = await d.admin.post(f"/admin/lines/{d.line_id}/prompts/greeting/es/phone")
        assert "no+phone+extension" in r.headers["Location"]
        assert d.ami.actions("Originate") == []
    async with desk(settings) as d:
        d.ami.script_next_originate(CallbackScript(error="Extension does not exist."))
        r = await d.admin.post(f"/admin/lines/{d.line_id}/prompts/greeting/es/phone")
        assert "Asterisk+refused+the+call" in r.headers["Location"]
        assert (await d.admin.get("/admin/lines/recordings/123456789012")).status == 404
