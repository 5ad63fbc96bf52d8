"""A prompt recorded by phone through a real Asterisk: the console of ``alerta serve``
rings the admin's extension (a SIPp UAS built from asterisk_conf/pjsip.conf's
operator-phone template) with an AMI Originate; the admin answers, hears the text,
speaks after the tone, ends with #, keeps the take with 1; the draft has it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar

from ivr.app import services
from ivr.promptaudio.tts import speak
from tests.console_util import Browser
from tests.e2e_asterisk import SIPP_DIR, SippCall, Stack, _env, free_media_port, running_stack
from tests.e2e_dialogue import Step, dialogue
from tests.test_e2e_asterisk_operator import EXTENSION, Phones, operators_conf, udp_bound

PASSWORD = "admin e2e " + os.urandom(6).hex()
MESSAGE_S = 4.8  # tests/sipp/audio/message.wav


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e-prompt-record")
    phones = Phones()
    extra = {"pjsip_operators.conf": operators_conf(phones.operator_port)}
    with running_stack(root, extra_files=extra, callback_ring_timeout_s=20) as s:
        s.root.joinpath("phone_port").write_text(str(phones.operator_port))
        yield s
        assert s.wait_idle() == 0, s.pbx.rx("core show channels")


def admin_phone(stack: Stack, steps: list[Step]) -> SippCall:
    """The admin's phone: answers, then presses and speaks what ``steps`` say."""
    scenario = dialogue(stack.root / "dialogues", "admin_phone", steps, listen_s=15.0,
                        frame=SIPP_DIR / "answering_dialogue.xml")
    port = int(stack.root.joinpath("phone_port").read_text())
    logs = stack.root / "sipp"
    logs.mkdir(exist_ok=True)
    cmd = [str(stack.tool.sipp), "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
           "-mi", "127.0.0.1", "-mp", str(free_media_port()), "-m", "1", "-nostdin",
           "-timeout", "120s", "-timeout_error", "-trace_msg", "-message_file",
           str(logs / "admin_phone.messages.log"), "-trace_err", "-error_file",
           str(logs / "admin_phone.errors.log")]
    with open(logs / "admin_phone.stdout.log", "wb") as out:
        process = subprocess.Popen(cmd, cwd=SIPP_DIR, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the admin's phone exited early"
        if udp_bound(port):
            return SippCall("admin_phone", process, logs)
        time.sleep(0.05)
    raise AssertionError("the admin's phone never bound its port")


async def ring_me(stack: Stack) -> str:
    origin = f"http://127.0.0.1:{stack.settings.console_port}"
    async with ClientSession(base_url=origin, cookie_jar=CookieJar(unsafe=True)) as client:
        browser = Browser(client, origin)
        assert (await browser.login("lucia", PASSWORD)).status == 302
        lines = await (await browser.get("/admin/lines")).text()
        line_id = re.search(r'href="/admin/lines/(\d+)">Línea de alerta', lines)
        assert line_id, lines[:2000]
        r = await browser.post(f"/admin/lines/{line_id.group(1)}/prompts/greeting/es/phone")
        assert r.status == 303 and "recording=" in r.headers["Location"], r.headers
        token = re.search(r"recording=(\d+)", r.headers["Location"])
        assert token
        return token.group(1)


async def greeting_now(stack: Stack) -> dict[str, Any]:
    async with services(stack.settings, reconcile_clips=False) as svc:
        assert svc.lines is not None and svc.deps.recordings is not None
        (row,) = [r for r in await svc.lines.lines() if r.slug == "report"]
        draft = await svc.lines.draft(row.id)
        sha = draft.audio("greeting", "es")
        recording = await svc.deps.recordings.answered("000000000000")  # unknown: None
        assert recording is None
        rows = await svc.db.fetchall("SELECT state, takes, kept_audio FROM prompt_recordings")
        path = svc.lines.library.path(sha) if sha else None
        seconds = 0.0
        if path is not None:
            with wave.open(str(path), "rb") as w:
                seconds = w.getnframes() / w.getframerate()
        return {"sha": sha, "recordings": [dict(r) for r in rows], "seconds": seconds}


def test_an_admin_records_a_prompt_on_their_phone(stack: Stack) -> None:
    added = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "users", "add", "lucia", "--role", "admin",
         "--extension", EXTENSION, "--password-stdin"],
        input=PASSWORD + "\n", text=True, capture_output=True, env=_env(stack.settings),
        cwd=stack.root, timeout=60)
    assert added.returncode == 0, added.stderr
    before = asyncio.run(greeting_now(stack))
    cue_s = speak("Alerta Miraflores. Línea de seguridad ciudadana.", "es").seconds
    phone = admin_phone(stack, [
        # intro, the text spoken, the tone: then the admin speaks the prompt
        Step(("phone_record_intro", "beep"), speak=True, wait_s=cue_s),
        Step((), "#"),
        # the take plays back; a key during it is the choice
        Step((), "1", wait_s=1.0),
    ])
    token = asyncio.run(ring_me(stack))
    assert phone.wait() == 0, phone.diagnostics()
    after = asyncio.run(greeting_now(stack))
    assert after["sha"] != before["sha"]
    (rec,) = after["recordings"]
    assert rec["state"] == "kept" and rec["takes"] == 1 and rec["kept_audio"] == after["sha"]
    assert MESSAGE_S - 1.5 <= after["seconds"] <= MESSAGE_S + 1.5, after["seconds"]
    assert re.search(rf"INVITE sip:{EXTENSION}@", phone.messages())
    assert token and stack.tracebacks() == [] and stack.our_errors() == []
    # The spoken text (the cue) played from the prompt library: no file Asterisk could not open.
    assert [line for line in stack.pbx.log_lines("WARNING") if "Unable to open" in line] == []
