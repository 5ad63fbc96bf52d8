"""Operators through SIP and a real Asterisk: an emergency call answered by an operator's
phone in the queue (a SIPp UAS), and an operator's callback placed from the console
through AMI, which rings the operator's phone first and then the citizen through the
provider trunk (another SIPp UAS). The phone and the trunk are built from the
templates of asterisk_conf/pjsip.conf, in the two files a deployment adds."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar

from ivr.testing.asterisk import free_port
from tests.console_util import Browser
from tests.e2e_asterisk import (
    SIPP_DIR,
    SippCall,
    Stack,
    _env,
    callers_csv,
    free_media_port,
    place,
    running_stack,
)

EXTENSION = "1001"
PASSWORD = "operator e2e " + os.urandom(6).hex()
CITIZEN = "970000001"


def operators_conf(port: int) -> str:
    return (
        f"[{EXTENSION}](operator-phone)\nauth={EXTENSION}\naors={EXTENSION}\n"
        f"[{EXTENSION}](operator-auth)\nusername={EXTENSION}\npassword={os.urandom(12).hex()}\n"
        f"[{EXTENSION}](operator-aor)\ncontact=sip:{EXTENSION}@127.0.0.1:{port}\n"
        # a SIPp UAS takes calls, not OPTIONS: no qualify for this test phone
        "qualify_frequency=0\n"
    )


def provider_conf(port: int) -> str:
    # as docs/deploy-asterisk.md shows, minus the registration (the test trunk needs none);
    # the provider is matched on 127.0.0.2 so that SIPp's own calls (127.0.0.1) stay `sipp`
    return (
        "[provider](provider-auth)\nusername=alerta\npassword=" + os.urandom(12).hex() + "\n"
        f"[provider](provider-aor)\ncontact=sip:127.0.0.1:{port}\nqualify_frequency=0\n"
        "[provider](provider-endpoint)\n"
        "[provider](provider-identify)\nmatch=127.0.0.2\n"
    )


class Phones:
    def __init__(self) -> None:
        self.operator_port = free_port()
        self.trunk_port = free_port()


def udp_bound(port: int) -> bool:
    """Is some socket bound to this UDP port? (Read, not probed: a probe could take it.)"""
    table = Path("/proc/net/udp").read_text()
    return re.search(rf"^\s*\d+: [0-9A-F]{{8}}:{port:04X} ", table, re.M) is not None


def answer(stack: Stack, port: int, name: str) -> SippCall:
    """A SIPp UAS on ``port`` that takes one call (tests/sipp/answering_phone.xml)."""
    logs = stack.root / "sipp"
    logs.mkdir(exist_ok=True)
    cmd = [str(stack.tool.sipp), "-sf", str(SIPP_DIR / "answering_phone.xml"),
           "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1", "-mp", str(free_media_port()),
           "-m", "1", "-nostdin", "-timeout", "120s", "-timeout_error",
           "-trace_msg", "-message_file", str(logs / f"{name}.messages.log"),
           "-trace_err", "-error_file", str(logs / f"{name}.errors.log")]
    with open(logs / f"{name}.stdout.log", "wb") as out:
        process = subprocess.Popen(cmd, cwd=SIPP_DIR, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until SIPp holds its port, so Asterisk reaches it
        assert process.poll() is None, f"the {name} phone exited early"
        if udp_bound(port):
            return SippCall(name, process, logs)
        time.sleep(0.05)
    raise AssertionError(f"the {name} phone never bound 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e-operator")
    phones = Phones()
    extra = {"pjsip_operators.conf": operators_conf(phones.operator_port),
             "pjsip_provider.conf": provider_conf(phones.trunk_port)}
    with running_stack(root, extra_files=extra, callback_ring_timeout_s=20) as s:
        s.root.joinpath("ports.json").write_text(json.dumps(vars(phones)))
        yield s
        assert s.wait_idle() == 0, s.pbx.rx("core show channels")


def ports(stack: Stack) -> dict[str, int]:
    loaded: dict[str, int] = json.loads(stack.root.joinpath("ports.json").read_text())
    return loaded


def test_an_operator_in_the_queue_takes_the_emergency_call(stack: Stack) -> None:
    stack.pbx.rx(f"queue add member Local/{EXTENSION}@operators/n to operators penalty 0 "
                 f"as Operador{EXTENSION} state_interface PJSIP/{EXTENSION}")
    phone = answer(stack, ports(stack)["operator_port"], "operator_queue")
    csv = callers_csv(stack.root / "emergency.csv", [(CITIZEN, "Citizen", CITIZEN, "none")])
    call = place(stack, "emergency_to_operator", csv, name="emergency_operator")
    assert call.wait() == 0, call.diagnostics()
    assert phone.wait() == 0, phone.diagnostics()
    stack.pbx.rx(f"queue remove member Local/{EXTENSION}@operators/n from operators")
    row = stack.report_of(CITIZEN)
    assert (row["type"], row["emergency"]) == ("emergency", True)
    assert (row["complete"], row["call_outcome"]) == (True, "operator")
    assert "INVITE sip:" + EXTENSION in phone.messages()


def test_an_operator_calls_the_citizen_back_from_the_console(stack: Stack) -> None:
    report = stack.report_of(CITIZEN)["number"]
    added = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "users", "add", "ana", "--role", "operator",
         "--extension", EXTENSION, "--password-stdin"],
        input=PASSWORD + "\n", text=True, capture_output=True, env=_env(stack.settings),
        cwd=stack.root, timeout=60)
    assert added.returncode == 0, added.stderr
    phone = answer(stack, ports(stack)["operator_port"], "operator_callback")
    trunk = answer(stack, ports(stack)["trunk_port"], "trunk_callback")
    answer_json = asyncio.run(click_call_back(stack, report))
    assert answer_json["state"] in ("ringing", "answered"), answer_json
    assert phone.wait() == 0, phone.diagnostics()
    assert trunk.wait() == 0, trunk.diagnostics()
    # the operator's phone rang first, then the trunk carried the citizen's number
    assert re.search(rf"INVITE sip:{EXTENSION}@", phone.messages())
    assert re.search(rf"INVITE sip:{CITIZEN}@", trunk.messages()), trunk.messages()[:2000]
    states = wait_for_states(stack, report, "answered")
    assert "answered" in states, states


async def click_call_back(stack: Stack, report: int) -> dict[str, Any]:
    origin = f"http://127.0.0.1:{stack.settings.console_port}"
    async with ClientSession(base_url=origin, cookie_jar=CookieJar(unsafe=True)) as client:
        browser = Browser(client, origin)
        login = await browser.login("ana", PASSWORD)
        assert login.status == 302, await login.text()
        response = await browser.post(
            f"/reports/{report}/callback",
            {"request_key": os.urandom(12).hex(), "number": CITIZEN},
            headers={"X-Requested-With": "fetch"})
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


def wait_for_states(stack: Stack, report: int, wanted: str, limit_s: float = 30) -> list[str]:
    deadline = time.monotonic() + limit_s
    states: list[str] = []
    while time.monotonic() < deadline:
        states = [json.loads(e["data"])["state"] for e in stack.history(report)
                  if e["kind"] == "callback.updated"]
        if wanted in states:
            break
        time.sleep(0.5)
    return states


def test_no_error_from_our_files_and_no_traceback(stack: Stack) -> None:
    assert stack.our_errors() == []
    assert stack.tracebacks() == []

