"""A throwaway Kannel for tests: Debian's bearerbox and smsbox, with Kannel's own
``fakesmsc`` as the SMS centre, on free loopback ports, in a temporary folder.

    with ThrowawayKannel.start(callback_port=8123) as kannel:
        gateway = KannelGateway(kannel.section())     # sendsms URL, user, password, token
        ...send...
        [sms] = kannel.wait_received(1)               # (sender, to, text) as fakesmsc got it
        kannel.send_mo("51987654321", "1000", "Robo en la esquina")  # a citizen's text
        kannel.stop_gateway(); ...; kannel.start_gateway()           # an outage

The configuration is ``render_kannel_conf``'s, as in production, with a ``fake`` smsc
group instead of SMPP; Kannel calls ``http://127.0.0.1:<callback_port>/kannel/...``.

How fakesmsc works (Kannel 1.4.5): it connects to bearerbox's fake SMSC port. Started
without messages on its command line it is interactive: each line on its stdin is a
text from a phone (``sender receiver text <words>`` or ``... ucs2 <url-encoded
UTF-16BE>``), read 255 bytes at most; what bearerbox sends it is logged (at debug
level, ``-v 0``) as ``Got message N: <sender receiver type data>``, the type being
``text`` (raw UTF-8), ``ucs-2`` (url-encoded UTF-16BE), ``data`` (url-encoded bytes) or
``udh <header> data <bytes>`` for each part of a long text. ``received`` decodes all
of these and joins parts back into whole texts. A GSM-7 text with a line break comes
on two lines (its protocol has no escape for it) and is joined back here too.

Queued messages and pending delivery reports are kept in spool folders, so they
survive ``stop_gateway`` / ``start_gateway``. Readiness is read from bearerbox's
status page (smsbox connected, the SMSC online), never waited for by the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import quote_plus, unquote_to_bytes

from ivr.domain.sms import is_gsm7
from ivr.messaging.kannel import KannelSection, render_kannel_conf

HOST = "127.0.0.1"
BEARERBOX, SMSBOX = Path("/usr/sbin/bearerbox"), Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
BOOT_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
POLL_S = 0.05
LINE_MAX = 255  # what fakesmsc reads of one stdin line, its newline included
GOT = re.compile(rb"Got message \d+: <(.*)>$")
SENT = re.compile(rb"fakesmsc: sent message (\d+)")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SHAPE = re.compile(rb"(\S+) (\S+) (text|data|ucs-2|udh) (.*)", re.S)


class KannelMissing(RuntimeError):
    """No Kannel here (Debian: apt-get install kannel kannel-extras)."""


class FakeSms(NamedTuple):
    sender: str
    to: str
    text: str


def binaries() -> tuple[Path, Path, Path]:
    """bearerbox, smsbox and fakesmsc, or ``KannelMissing`` saying what to install."""
    found = []
    for path, package in ((BEARERBOX, "kannel"), (SMSBOX, "kannel"),
                          (FAKESMSC, "kannel-extras")):
        on_path = shutil.which(path.name)
        if path.is_file():
            found.append(path)
        elif on_path:
            found.append(Path(on_path))
        else:
            raise KannelMissing(f"{path.name} is not installed (apt-get install {package})")
    return found[0], found[1], found[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((HOST, port)) == 0


def _url_bytes(data: bytes) -> bytes:
    return unquote_to_bytes(data.replace(b"+", b" "))


def _text_of(data: bytes, *, ucs2: bool) -> str:
    """Parts carry no coding: UTF-16BE has NUL bytes (or is not UTF-8), UTF-8 has none."""
    if not ucs2 and b"\x00" not in data:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data.decode("utf-16-be", "replace")


def _concat_header(udh: bytes) -> tuple[int, int, int] | None:
    """(reference, parts, this part) from a UDH's concatenation element, if it has one."""
    pos = 1
    while pos + 1 < len(udh):
        kind, size = udh[pos], udh[pos + 1]
        data = udh[pos + 2:pos + 2 + size]
        if kind == 0x00 and size == 3:
            return data[0], data[1], data[2]
        if kind == 0x08 and size == 4:
            return data[0] << 8 | data[1], data[2], data[3]
        pos += 2 + size
    return None


def parse_fakesmsc_log(log: bytes) -> list[FakeSms]:
    """Every text fakesmsc got, whole, in the order it was complete."""
    out: list[FakeSms] = []
    parts: dict[tuple[str, str, int, int], dict[int, bytes]] = {}
    last_was_text = False
    for line in log.splitlines():
        got = GOT.search(line)
        if got is None:
            continue
        shape = SHAPE.fullmatch(got.group(1))
        if shape is None:  # the rest of a text line cut at a line break
            if last_was_text and out:
                previous = out[-1]
                out[-1] = previous._replace(
                    text=previous.text + "\n" + got.group(1).decode("utf-8", "replace"))
            continue
        sender, to = shape.group(1).decode(), shape.group(2).decode()
        kind, rest = shape.group(3), shape.group(4)
        last_was_text = kind == b"text"
        if kind == b"text":
            out.append(FakeSms(sender, to, rest.decode("utf-8", "replace")))
        elif kind in (b"ucs-2", b"data"):
            out.append(FakeSms(sender, to, _text_of(_url_bytes(rest), ucs2=kind == b"ucs-2")))
        else:  # udh <header> data <payload>
            header, _, payload = rest.partition(b" data ")
            concat = _concat_header(_url_bytes(header))
            if concat is None:
                out.append(FakeSms(sender, to, _text_of(_url_bytes(payload), ucs2=False)))
                continue
            ref, total, number = concat
            pieces = parts.setdefault((sender, to, ref, total), {})
            pieces[number] = _url_bytes(payload)
            if len(pieces) == total:
                del parts[(sender, to, ref, total)]
                whole = b"".join(pieces[n] for n in sorted(pieces))
                out.append(FakeSms(sender, to, _text_of(whole, ucs2=False)))
    return out


@dataclass
class ThrowawayKannel:
    root: Path
    callback_port: int
    username: str = "alerta"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12), repr=False)
    callback_token: str = field(default_factory=lambda: secrets.token_urlsafe(24),
                                repr=False)
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12),
                                repr=False)
    admin_port: int = field(default_factory=_free_port)
    smsbox_port: int = field(default_factory=_free_port)
    sendsms_port: int = field(default_factory=_free_port)
    smsc_port: int = field(default_factory=_free_port)
    _boxes: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False,
                                                  repr=False)
    _fakesmsc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _runs: int = field(default=0, init=False)  # fakesmsc runs: each logs to its own file
    _files: list[IO[bytes]] = field(default_factory=list, init=False, repr=False)

    @classmethod
    @contextlib.contextmanager
    def start(cls, *, callback_port: int | None = None) -> Iterator[ThrowawayKannel]:
        binaries()
        root = Path(tempfile.mkdtemp(prefix="alerta-kannel-"))
        kannel = cls(root, callback_port or _free_port())
        try:
            kannel._write_conf()
            kannel.start_gateway()
            yield kannel
        finally:
            kannel.stop_gateway()
            shutil.rmtree(root, ignore_errors=True)

    # -- what a client needs -------------------------------------------------------

    @property
    def sendsms_url(self) -> str:
        return f"http://{HOST}:{self.sendsms_port}/cgi-bin/sendsms"

    @property
    def credentials(self) -> tuple[str, str]:
        return self.username, self.password

    @property
    def callback_base(self) -> str:
        return f"http://{HOST}:{self.callback_port}"

    def section(self, **changes: Any) -> KannelSection:
        """The controller's ``[sms]`` settings for this Kannel (``changes`` on top)."""
        return replace(KannelSection(
            sendsms_url=self.sendsms_url, username=self.username, password=self.password,
            timeout_s=10.0, callback_base=self.callback_base,
            callback_token=self.callback_token, default_sender="1000"), **changes)

    def _write_conf(self) -> None:
        for sub in ("store", "dlr", "logs"):
            (self.root / sub).mkdir(exist_ok=True)
        smsc = "\n".join(["group = smsc", "smsc = fake", "smsc-id = fake",
                          f"port = {self.smsc_port}", f'our-host = "{HOST}"',
                          f'connect-allow-ip = "{HOST}"'])
        conf = render_kannel_conf(
            self.section(), admin_password=self.admin_password, smsc=smsc,
            store_dir=str(self.root / "store"), dlr_dir=str(self.root / "dlr"),
            admin_port=self.admin_port, smsbox_port=self.smsbox_port,
            log_dir=str(self.root / "logs"), log_level=0,
            http_request_retry=30, http_queue_delay_s=1)
        self.conf.write_text(conf, encoding="utf-8")
        self.conf.chmod(0o600)

    @property
    def conf(self) -> Path:
        return self.root / "kannel.conf"

    # -- running ---------------------------------------------------------------------

    def _spawn(self, name: str, cmd: list[str], **extra: Any) -> subprocess.Popen[bytes]:
        out = (self.root / "logs" / f"{name}.out").open("ab")
        self._files.append(out)
        return subprocess.Popen(cmd, cwd=self.root, stdout=out, stderr=subprocess.STDOUT,
                                **extra)

    def start_gateway(self) -> None:
        """Start bearerbox, smsbox and fakesmsc; return once all three are connected."""
        if self._boxes:
            return
        bearerbox, smsbox, _ = binaries()
        self._boxes.append(self._spawn("bearerbox", [str(bearerbox), "-v", "1",
                                                     str(self.conf)]))
        self._wait(lambda: "Status: running" in self.status(), "bearerbox's status page")
        self._boxes.append(self._spawn("smsbox", [str(smsbox), "-v", "1", str(self.conf)]))
        self._wait(lambda: "smsbox:" in self.status() and _accepts(self.sendsms_port),
                   "smsbox connected and its sendsms port open")
        self.start_smsc()

    def stop_gateway(self) -> None:
        """Stop fakesmsc, smsbox and bearerbox (queued messages stay in the spool)."""
        self.stop_smsc()
        boxes, self._boxes = self._boxes, []
        for process in reversed(boxes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in boxes:
            _reap(process)
        for file in self._files:
            file.close()
        self._files.clear()

    def start_smsc(self) -> None:
        """Connect a fakesmsc (interactive: texts from phones come on its stdin)."""
        if self._fakesmsc is not None:
            return
        _, _, fakesmsc = binaries()
        connected = self.log("bearerbox.log").count("Fakesmsc client connected")
        self._runs += 1
        self._fakesmsc = self._spawn(
            f"fakesmsc-{self._runs}",
            [str(fakesmsc), "-H", HOST, "-r", str(self.smsc_port), "-i", "0.01", "-v", "0"],
            stdin=subprocess.PIPE)
        self._wait(lambda: self.log("bearerbox.log").count("Fakesmsc client connected")
                   > connected and "(online" in self.status(), "fakesmsc connected")

    def stop_smsc(self) -> None:
        """Disconnect the SMS centre: bearerbox keeps what it gets until one is back."""
        process, self._fakesmsc = self._fakesmsc, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # its own end-of-input path crashes in 1.4.5: no stdin EOF
        _reap(process)
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()

    def _wait(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not ready():
            for process in [*self._boxes, self._fakesmsc]:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"Kannel: {_name(process)} exited"
                                       f" ({process.returncode}) waiting for {what}:\n"
                                       f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kannel: no {what} after {BOOT_TIMEOUT_S:g} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(POLL_S)

    def status(self) -> str:
        """bearerbox's status page as text ('' while it does not answer)."""
        url = (f"http://{HOST}:{self.admin_port}/status.txt?password="
               f"{quote_plus(self.admin_password)}")
        try:
            with NO_PROXY.open(url, timeout=2.0) as reply:
                return str(reply.read().decode("utf-8", "replace"))
        except OSError:
            return ""

    # -- the phones' side ------------------------------------------------------------

    def received(self) -> list[FakeSms]:
        """Every text the SMS centre was handed, over all fakesmsc runs, in order."""
        out: list[FakeSms] = []
        for run in range(1, self._runs + 1):
            path = self.root / "logs" / f"fakesmsc-{run}.out"
            if path.exists():
                out += parse_fakesmsc_log(path.read_bytes())
        return out

    def wait_received(self, count: int, timeout: float = 30.0) -> list[FakeSms]:
        """Every text so far, once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while len(got := self.received()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fakesmsc got {len(got)} text(s), expected {count}:"
                                     f" {got}")
            time.sleep(POLL_S)
        return got

    async def wait_received_async(self, count: int, timeout_s: float = 30.0
                                  ) -> list[FakeSms]:
        """``wait_received`` without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout_s
        while len(got := self.received()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fakesmsc got {len(got)} text(s), expected {count}:"
                                     f" {got}")
            await asyncio.sleep(POLL_S)
        return got

    def send_mo(self, sender: str, to: str, text: str, timeout: float = 30.0) -> None:
        """A phone ``sender`` texts ``text`` to ``to``: fakesmsc hands it to bearerbox.
        Returns once fakesmsc has written it (Kannel then calls the sms-service)."""
        if self._fakesmsc is None or self._fakesmsc.stdin is None:
            raise RuntimeError("no fakesmsc connected (start_smsc)")
        for number in (sender, to):
            if not number or any(ch.isspace() for ch in number):
                raise ValueError(f"not a number fakesmsc can carry: {number!r}")
        plain = is_gsm7(text) and "\n" not in text and "\r" not in text
        body = (f"text {text}".encode() if plain
                else b"ucs2 " + quote_plus(text.encode("utf-16-be")).encode())
        line = f"{sender} {to} ".encode() + body + b"\n"
        if len(line) > LINE_MAX:
            raise ValueError(f"fakesmsc reads {LINE_MAX} bytes of a line; this one is"
                             f" {len(line)}: send a shorter text")
        log = self.root / "logs" / f"fakesmsc-{self._runs}.out"
        before = _sent_count(log)
        # one line at a time: fakesmsc reads its stdin with stdio, and a second line
        # already buffered there would wait for the next write
        self._fakesmsc.stdin.write(line)
        self._fakesmsc.stdin.flush()
        deadline = time.monotonic() + timeout
        while _sent_count(log) <= before:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fakesmsc did not send the text:\n{self.log_tail()}")
            time.sleep(POLL_S)

    # -- logs ------------------------------------------------------------------------

    def log(self, name: str) -> str:
        """One log of ``logs/``: bearerbox.log, smsbox.log, fakesmsc-1.out, ..."""
        path = self.root / "logs" / name
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def log_tail(self, lines: int = 15) -> str:
        names = ["bearerbox.out", "smsbox.out", f"fakesmsc-{self._runs}.out"]
        return "\n".join(f"--- {name}\n" + "\n".join(self.log(name).splitlines()[-lines:])
                         for name in names)


def _name(process: subprocess.Popen[bytes]) -> str:
    args = process.args
    return Path(str(args[0] if isinstance(args, list) else args)).name


def _sent_count(log: Path) -> int:
    found = SENT.findall(log.read_bytes()) if log.exists() else []
    return max((int(n) for n in found), default=0)


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)
