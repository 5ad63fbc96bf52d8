"""The fake Asterisk itself, against a tiny scripted FastAGI server written here.

The server sends fixed command lines and keeps every byte it receives, so the
fake's wire output is checked byte for byte against ASTERISK.md, independently
of the project's own FastAGI server.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ivr.testing import CallResult, CallScript, load_voice, make_tone_wav, place_call
from ivr.testing.agi_wire import split_agi_args
from ivr.testing.wav import LOW_NOISE_PCM

DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
USAGE_HEAD = "520-Invalid command syntax.  Proper usage follows:"
USAGE_TAIL = "520 End of proper usage."


@dataclass
class Session:
    """What the scripted server saw: the env block, then every line after it."""

    env: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # one per command; 520 lines joined by \n
    lines: list[str] = field(default_factory=list)  # every line after the env, HANGUP included
    raw: bytearray = field(default_factory=bytearray)  # every byte received, env included


async def _read_line(reader: asyncio.StreamReader, session: Session) -> str:
    raw = await reader.readline()
    session.raw += raw
    assert raw.endswith(b"\n"), f"the fake sent a partial line {raw!r}"
    return raw.decode()[:-1]


async def _read_reply(reader: asyncio.StreamReader, session: Session) -> str:
    while (line := await _read_line(reader, session)) == "HANGUP":
        session.lines.append(line)
    session.lines.append(line)
    reply = [line]
    if line.startswith("520-"):  # multi-line usage: read to "520 End of proper usage."
        while not line.startswith("520 "):
            line = await _read_line(reader, session)
            session.lines.append(line)
            reply.append(line)
    return "\n".join(reply)


ServerBody = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Session], Awaitable[None]]


def send_commands(*commands: str) -> ServerBody:
    """A server that sends each command, waits for its reply, then half-closes and reads on."""

    async def body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Session) -> None:
        for command in commands:
            writer.write(f"{command}\n".encode())
            s.replies.append(await _read_reply(reader, s))
        writer.write_eof()  # the script ends; the fake may still say goodbye
        rest = await reader.read()
        s.raw += rest
        s.lines.extend(rest.decode().splitlines())

    return body


Serve = Callable[[CallScript, ServerBody], Awaitable[tuple[CallResult, Session]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def call(script: CallScript, body: ServerBody) -> tuple[CallResult, Session]:
        session = Session()
        finished = asyncio.Event()
        server_failures: list[Exception] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while line := await _read_line(reader, session):
                    session.env.append(line)
                await body(reader, writer, session)
            except Exception as exc:  # surfaced in the test, not lost in asyncio's log
                server_failures.append(exc)
            finally:
                writer.close()
                finished.set()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        async with asyncio.timeout(10):
            result = await place_call("127.0.0.1", port, script)
            await finished.wait()
        if server_failures:
            raise server_failures[0]
        return result, session

    yield call
    for server in servers:
        server.close()
        await server.wait_closed()


async def replies(serve: Serve, script: CallScript, *commands: str) -> list[str]:
    result, session = await serve(script, send_commands(*commands))
    assert result.error is None
    return session.replies


# -- the environment block -------------------------------------------------------------


async def test_environment_block_is_asterisks_in_asterisks_order(serve: Serve) -> None:
    result, session = await serve(
        CallScript(script="report?lang=es", uniqueid="1795584686.7"), send_commands()
    )
    port = re.search(r":(\d+)/", session.env[2])
    assert port is not None
    assert session.env[:3] == [
        "agi_network: yes",
        "agi_network_script: report?lang=es",
        f"agi_request: agi://127.0.0.1:{port[1]}/report?lang=es",
    ]
    assert re.fullmatch(r"agi_channel: PJSIP/trunk-[0-9a-f]{8}", session.env[3])
    assert session.env[4:21] == [
        "agi_language: en",
        "agi_type: PJSIP",
        "agi_uniqueid: 1795584686.7",
        "agi_version: 22.10.1",
        "agi_callerid: 5551234",
        "agi_calleridname: Juan Perez",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        "agi_dnid: 1234",
        "agi_rdnis: unknown",
        "agi_context: alerta-in",
        "agi_extension: 1234",
        "agi_priority: 5",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
    ]
    assert re.fullmatch(r"agi_threadid: \d+", session.env[21])
    assert len(session.env) == 22
    # Lines end in a bare LF and the block ends with an empty line.
    assert session.raw.startswith(b"agi_network: yes\nagi_network_script: report?lang=es\n")
    assert session.raw.endswith(b"\n\n")
    assert result.transcript[0] == ("->", "agi_network: yes")
    assert result.transcript[22] == ("->", "")


async def test_withheld_caller_looks_anonymous(serve: Serve) -> None:
    _, session = await serve(
        CallScript(caller_id=None),
        send_commands("GET VARIABLE CALLERID(num)", "GET VARIABLE CALLERID(name)"),
    )
    assert "agi_callerid: unknown" in session.env
    assert "agi_calleridname: Anonymous" in session.env
    assert "agi_callingpres: 32" in session.env
    # Reading an empty function value still succeeds in Asterisk: result=1 with "()".
    assert session.replies == ["200 result=1 ()", "200 result=1 (Anonymous)"]


async def test_extra_env_overrides_in_place_and_appends_arguments(serve: Serve) -> None:
    _, session = await serve(
        CallScript(extra_env={"agi_dnid": "911", "arg_1": "es"}, uniqueid="u.1"), send_commands()
    )
    assert session.env[14] == "agi_dnid: 911"
    assert session.env[-1] == "agi_arg_1: es"
    assert len(session.env) == 23


# -- replies, byte for byte --------------------------------------------------------------


async def test_a_plain_session_byte_for_byte(serve: Serve) -> None:
    result, session = await serve(
        CallScript(),
        send_commands(
            "ANSWER",
            'STREAM FILE es/welcome ""',
            'SAY DIGITS 1234 ""',
            "CHANNEL STATUS",
            'VERBOSE "hello there" 1',
            "EXEC Goto alerta-done,s,1",
        ),
    )
    after_env = session.raw[session.raw.index(b"\n\n") + 2 :]
    assert bytes(after_env) == (
        b"200 result=0\n"
        b"200 result=0 endpos=8000\n"
        b"200 result=0\n"
        b"200 result=6\n"
        b"200 result=1\n"
        b"200 result=0\n"
    )
    assert result.closed_by_server and not result.hung_up and result.error is None
    assert result.goto == "alerta-done,s,1"
    assert result.played == ["es/welcome"]
    assert len(result.command_latencies) == len(result.commands) == 6
    assert result.transcript[23:25] == [("<-", "ANSWER"), ("->", "200 result=0")]


@pytest.mark.parametrize(
    ("keys", "command", "reply"),
    [
        ([""], "GET DATA menu 5000 1", "200 result= (timeout)"),
        ([], "GET DATA menu 5000 1", "200 result= (timeout)"),  # no keys left: silence
        (["#"], "GET DATA number 5000 15", "200 result="),
        (["5551234#"], "GET DATA number 5000 15", "200 result=5551234"),
        (["12"], "GET DATA zone 5000 4", "200 result=12 (timeout)"),
        (["1234"], "GET DATA zone 5000 4", "200 result=1234"),
        (["123456"], "GET DATA zone 5000 4", "200 result=1234"),
        (["7"], "GET DATA menu", "200 result=7 (timeout)"),
        ([""], "WAIT FOR DIGIT 5000", "200 result=0"),
        (["5"], "WAIT FOR DIGIT -1", "200 result=53"),
        (["*"], "WAIT FOR DIGIT 3000", "200 result=42"),
    ],
)
async def test_caller_input_replies(
    serve: Serve, keys: list[str], command: str, reply: str
) -> None:
    assert await replies(serve, CallScript(keys=keys), command) == [reply]


async def test_keys_past_the_limit_wait_for_the_next_read(serve: Serve) -> None:
    """As Asterisk: GET DATA stops at its limit, and what was pressed after it (the
    closing # too) is read first by the next command: here it ends the next read at
    once with nothing, as a caller's # after a full-length number does."""
    got = await replies(serve, CallScript(keys=["1234#", "77#"]),
                        "GET DATA zone 5000 4", "GET DATA code 5000 8",
                        "GET DATA code 5000 8")
    assert got == ["200 result=1234", "200 result=", "200 result=77"]


async def test_barge_in_interrupts_only_with_an_allowed_key(serve: Serve) -> None:
    script = CallScript(keys=["^2", "^9", "1"])
    got = await replies(
        serve,
        script,
        'STREAM FILE menu "12"',  # '2' is allowed: consumed, result is its ASCII code
        'STREAM FILE menu "12"',  # '9' is not: the prompt plays out, the key stays
        "SAY DIGITS 42 9",  # a later prompt that allows '9' takes it
        "GET DATA menu 3000 1",
    )
    assert got == [
        "200 result=50 endpos=1600",
        "200 result=0 endpos=8000",
        "200 result=57",
        "200 result=1",
    ]


async def test_variables_known_set_and_unset(serve: Serve) -> None:
    result, session = await serve(
        CallScript(language="es"),
        send_commands(
            "GET VARIABLE CALLERID(num)",
            "GET VARIABLE CALLERID(name)",
            "GET VARIABLE CHANNEL(language)",
            "GET VARIABLE QUEUESTATUS",
            'SET VARIABLE ALERTA_REPORT "42"',
            'SET VARIABLE NOTE "say \\"hi\\" \\\\ bye"',
            "GET VARIABLE ALERTA_REPORT",
            "EXEC Queue operators,,,,30",
            "GET VARIABLE QUEUESTATUS",
        ),
    )
    assert session.replies == [
        "200 result=1 (5551234)",
        "200 result=1 (Juan Perez)",
        "200 result=1 (es)",
        "200 result=0",
        "200 result=1",
        "200 result=1",
        "200 result=1 (42)",
        "200 result=0",
        "200 result=1 (TIMEOUT)",
    ]
    assert result.variables == {"ALERTA_REPORT": "42", "NOTE": 'say "hi" \\ bye'}


async def test_an_answered_queue_leaves_queuestatus_unset(serve: Serve) -> None:
    got = await replies(
        serve, CallScript(queue_status=None), "EXEC Queue operators", "GET VARIABLE QUEUESTATUS"
    )
    assert got == ["200 result=0", "200 result=0"]


async def test_unknown_command_and_bad_arguments(serve: Serve) -> None:
    got = await replies(
        serve,
        CallScript(),
        "MAKE COFFEE",
        "GET DATA menu soon 1",
        "RECORD FILE /tmp/x wav #",
        "WAIT FOR DIGIT",
        "STREAM FILE beep",
        "ANSWER",  # the channel is still fine after all that
    )
    assert got[0] == "510 Invalid or unknown command"
    for usage in got[1:5]:
        lines = usage.split("\n")
        assert lines[0] == USAGE_HEAD
        assert lines[-1] == USAGE_TAIL
        assert len(lines) >= 3
    assert "GET DATA" in got[1] and "RECORD FILE" in got[2]
    assert got[5] == "200 result=0"


# -- recording --------------------------------------------------------------------------


def _frames(path: Path) -> tuple[tuple[int, int, int], bytes]:
    with wave.open(str(path), "rb") as clip:
        shape = (clip.getnchannels(), clip.getsampwidth(), clip.getframerate())
        return shape, clip.readframes(clip.getnframes())


async def test_record_file_writes_the_voice_and_ends_by_key(serve: Serve, tmp_path: Path) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 2.0)
    result, session = await serve(
        CallScript(voice=voice), send_commands(f'RECORD FILE {tmp_path}/clip wav "#" 120000 s=5')
    )
    assert session.replies == ["200 result=35 (dtmf) endpos=16000"]
    assert result.recordings == [tmp_path / "clip.wav"]
    shape, frames = _frames(tmp_path / "clip.wav")
    assert shape == (1, 2, 8000)
    assert frames == load_voice(voice)


async def test_the_reply_to_record_file_comes_once_the_file_is_whole(
    serve: Serve, tmp_path: Path
) -> None:
    # The file is written off the fake's event loop; the reply still waits for it,
    # and a command sent meanwhile (the server should not, but may) is answered after.
    voice = make_tone_wav(tmp_path / "voice.wav", 2.0)
    clip = tmp_path / "clip.wav"

    async def eager(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Session) -> None:
        writer.write(
            f'RECORD FILE {tmp_path}/clip wav "#" 120000 s=5\nGET VARIABLE CALLERID(num)\n'.encode()
        )
        s.replies.append(await _read_reply(reader, s))
        s.replies.append(f"{clip.stat().st_size} bytes on disk")
        s.replies.append(await _read_reply(reader, s))

    result, session = await serve(CallScript(voice=voice), eager)
    assert session.replies == [
        "200 result=35 (dtmf) endpos=16000",
        f"{44 + 32000} bytes on disk",
        "200 result=1 (5551234)",
    ]
    assert result.commands == [
        f'RECORD FILE {tmp_path}/clip wav "#" 120000 s=5',
        "GET VARIABLE CALLERID(num)",
    ]


async def test_record_file_by_timeout_is_cut_to_the_limit(serve: Serve, tmp_path: Path) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 2.0)
    got = await replies(
        serve,
        CallScript(voice=voice.read_bytes(), record_end="timeout"),
        f"RECORD FILE {tmp_path}/clip wav # 500 BEEP",
    )
    assert got == ["200 result=0 (timeout) endpos=4000"]
    _, frames = _frames(tmp_path / "clip.wav")
    assert len(frames) == 8000


async def test_record_without_a_voice_writes_a_second_of_quiet_noise(
    serve: Serve, tmp_path: Path
) -> None:
    got = await replies(serve, CallScript(), f'RECORD FILE {tmp_path}/clip wav "#" -1')
    assert got == ["200 result=35 (dtmf) endpos=8000"]
    _, frames = _frames(tmp_path / "clip.wav")
    assert frames == LOW_NOISE_PCM and any(frames)


async def test_record_into_a_missing_folder_fails_like_asterisk(
    serve: Serve, tmp_path: Path
) -> None:
    result, session = await serve(
        CallScript(), send_commands(f'RECORD FILE {tmp_path}/nope/clip wav "#" 1000', "ANSWER")
    )
    assert session.replies == ["200 result=-1 (writefile)", "200 result=0"]
    assert not (tmp_path / "nope").exists()
    assert result.recordings == []


# -- the caller hangs up ----------------------------------------------------------------


async def test_hangup_at_a_step_then_hangup_line_right_after_the_reply(serve: Serve) -> None:
    result, session = await serve(
        CallScript(keys=["3"], hangup_at="zone"),
        send_commands(
            'SET VARIABLE ALERTA_STEP "menu"',
            "GET DATA menu 5000 1",  # not armed yet: an ordinary answer
            'SET VARIABLE ALERTA_STEP "zone"',
            'STREAM FILE zone ""',  # armed, but STREAM FILE is not in hangup_on
            "GET DATA zone 5000 4",  # the caller hangs up here
            "ANSWER",
            "HANGUP",
            'SET VARIABLE ALERTA_OUTCOME "lost"',
            "GET VARIABLE ALERTA_STEP",
            'VERBOSE "caller gone" 1',
        ),
    )
    assert session.lines == [
        "200 result=1",
        "200 result=3",
        "200 result=1",
        "200 result=0 endpos=8000",
        "200 result=-1",
        "HANGUP",
        DEAD,
        DEAD,
        DEAD,
        "200 result=1 (zone)",
        "200 result=1",
        "HANGUP",  # the goodbye when the script closes the socket
    ]
    assert result.hung_up and result.closed_by_server and result.error is None
    assert result.steps == ["menu", "zone"]
    assert "ALERTA_OUTCOME" not in result.variables


async def test_hangup_line_may_land_before_the_next_reply(serve: Serve) -> None:
    _, session = await serve(
        CallScript(hangup_at="menu", hangup_line="before_next_reply"),
        send_commands('SET VARIABLE ALERTA_STEP "menu"', "WAIT FOR DIGIT 5000", "ANSWER"),
    )
    assert session.lines == ["200 result=1", "200 result=-1", "HANGUP", DEAD, "HANGUP"]
    assert session.replies == ["200 result=1", "200 result=-1", DEAD]


async def test_hangup_during_a_prompt_reports_where_it_stopped(serve: Serve) -> None:
    got = await replies(
        serve,
        CallScript(hangup_at="start", hangup_on=("STREAM FILE",)),
        "GET VARIABLE CHANNEL(language)",  # bookkeeping never counts as the moment
        'STREAM FILE welcome ""',
    )
    assert got == ["200 result=1 (en)", "200 result=-1 endpos=1600"]


async def test_hangup_at_start_fails_the_first_channel_command(serve: Serve) -> None:
    result, session = await serve(
        CallScript(hangup_at="start"), send_commands("ANSWER", 'STREAM FILE x ""')
    )
    assert session.lines == ["200 result=-1", "HANGUP", DEAD, "HANGUP"]
    assert result.hung_up


async def test_hangup_while_recording_keeps_half_the_voice(serve: Serve, tmp_path: Path) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 2.0)
    result, session = await serve(
        CallScript(voice=voice, hangup_at="record"),
        send_commands(
            'SET VARIABLE ALERTA_STEP "record"',
            f'RECORD FILE {tmp_path}/clip wav "#" 120000 s=5',
        ),
    )
    assert session.replies == ["200 result=1", "200 result=-1 (hangup) endpos=8000"]
    shape, frames = _frames(tmp_path / "clip.wav")
    assert shape == (1, 2, 8000)
    assert frames == load_voice(voice)[:16000]
    assert result.recordings == [tmp_path / "clip.wav"] and result.hung_up


async def test_server_hangup_kills_the_channel_but_is_not_the_caller(serve: Serve) -> None:
    result, session = await serve(
        CallScript(), send_commands("HANGUP", "ANSWER", "GET VARIABLE CALLERID(num)")
    )
    assert session.lines == ["200 result=1", "HANGUP", DEAD, "200 result=1 (5551234)", "HANGUP"]
    assert not result.hung_up


# -- robustness -------------------------------------------------------------------------


async def test_a_silent_server_hits_the_safety_timeout(serve: Serve) -> None:
    async def silent(reader: asyncio.StreamReader, _w: asyncio.StreamWriter, _s: Session) -> None:
        try:
            await reader.read()  # never says a word; returns when the fake gives up
        except ConnectionResetError:
            pass  # the fake drops the socket without a goodbye

    result, _ = await serve(CallScript(timeout_s=0.2), silent)
    assert result.error is not None and "safety timeout" in result.error
    assert not result.closed_by_server


async def test_a_refused_connection_is_an_error_not_an_exception(unused_tcp_port: int) -> None:
    result = await place_call("127.0.0.1", unused_tcp_port, CallScript(timeout_s=2))
    assert result.error is not None and "cannot connect" in result.error


async def test_a_server_closing_mid_line_is_reported(serve: Serve) -> None:
    async def sloppy(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _s: Session) -> None:
        writer.write(b"ANSW")
        await writer.drain()

    result, _ = await serve(CallScript(), sloppy)
    assert result.closed_by_server
    assert result.error is not None and "middle of a line" in result.error


async def test_many_calls_at_once_do_not_mix(serve: Serve) -> None:
    async def echo_caller(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Session) -> None:
        w.write(b"GET VARIABLE CALLERID(num)\n")
        s.replies.append(await _read_reply(r, s))

    results = await asyncio.gather(
        *(serve(CallScript(caller_id=f"555{n:04d}"), echo_caller) for n in range(100))
    )
    for n, (result, session) in enumerate(results):
        assert session.replies == [f"200 result=1 (555{n:04d})"]
        assert result.error is None and result.closed_by_server


# -- pure parts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('STREAM FILE beep ""', ["STREAM", "FILE", "beep", ""]),
        ('SET VARIABLE X "a \\"b\\" c\\\\d"', ["SET", "VARIABLE", "X", 'a "b" c\\d']),
        ('VERBOSE "two  spaces" 1', ["VERBOSE", "two  spaces", "1"]),
        ('a"b c"d   e', ["ab cd", "e"]),
        ("x\\ y", ["x y"]),
        ("WAIT FOR  DIGIT\t5000 ", ["WAIT", "FOR", "DIGIT", "5000"]),
        ("", []),
    ],
)
def test_split_agi_args_unquotes_like_res_agi(line: str, words: list[str]) -> None:
    assert split_agi_args(line) == words


def test_make_tone_wav_is_telephone_audio(tmp_path: Path) -> None:
    path = make_tone_wav(tmp_path / "tone.wav", 0.5, freq=1000.0)
    shape, frames = _frames(path)
    assert shape == (1, 2, 8000) and len(frames) == 8000
    assert load_voice(path.read_bytes()) == frames == load_voice(path)


async def test_voice_in_another_format_is_refused_before_dialling(tmp_path: Path) -> None:
    path = tmp_path / "wide.wav"
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(16000)
        clip.writeframes(b"\0\0" * 160)
    with pytest.raises(ValueError, match="8 kHz"):
        await place_call("127.0.0.1", 9, CallScript(voice=path))
    with pytest.raises(ValueError, match="even"):
        load_voice(b"\1\2\3")


def test_bad_script_options_are_refused() -> None:
    with pytest.raises(ValueError, match="record_end"):
        CallScript(record_end="silence")
    with pytest.raises(ValueError, match="hangup_line"):
        CallScript(hangup_line="whenever")
    with pytest.raises(TypeError, match="sequence"):
        CallScript(keys="12#")


async def test_a_server_that_slams_the_socket_after_a_hangup_is_a_normal_close(
    serve: Serve,
) -> None:
    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Session) -> None:
        writer.write(b"WAIT FOR DIGIT 5000\n")
        s.replies.append(await _read_reply(reader, s))
        # returning closes the socket at once, unread HANGUP line and all

    result, session = await serve(CallScript(hangup_at="start"), slam)
    assert session.replies == ["200 result=-1"]
    assert result.hung_up and result.closed_by_server and result.error is None


async def test_an_endless_command_line_is_a_protocol_error(serve: Serve) -> None:
    async def flood(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _s: Session) -> None:
        writer.write(b"VERBOSE " + b"x" * 100_000)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    result, _ = await serve(CallScript(), flood)
    assert result.error is not None and "longer than" in result.error
