"""A private, real Asterisk for tests and testers, running this project's configuration.

    with PrivateAsterisk.start(tmp_dir, settings) as pbx:
        pbx.settings          # the settings it was made for (SIP, RTP and AMI ports, secret)
        pbx.rx("core show channels")
        pbx.channels()        # active channels
        pbx.log_path          # Asterisk's own log (notice, warning, error)

The configuration is what a deployer gets from ``alerta asterisk config`` (the same
function, ``ivr.asterisk_config.write``) on free ports: SIP UDP, an RTP range and
AMI, all on 127.0.0.1, so runs never collide. Only ``asterisk.conf`` (its
``[directories]`` point into the temporary folder) and ``logger.conf`` are the
harness's own. ``stop()`` (also on leaving the ``with`` block, and at interpreter
exit) asks for ``core stop now``, waits for the process and kills it if it lingers:
no Asterisk outlives a test run, even a failed one.

When Asterisk or SIPp is missing, ``tools()`` raises ``AsteriskMissing`` saying how
to get them (the distribution's package, or the bundle ``scripts/test`` installs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ivr.asterisk_config import write as write_asterisk_config
from ivr.config import Settings

MODULE_DIRS = (
    Path("/usr/lib/asterisk/modules"),
    Path("/usr/lib/x86_64-linux-gnu/asterisk/modules"),
    Path("/usr/lib/aarch64-linux-gnu/asterisk/modules"),
    Path("/usr/local/lib/asterisk/modules"),
    Path("/usr/lib64/asterisk/modules"),
)
DATA_DIRS = (Path("/var/lib/asterisk"), Path("/usr/share/asterisk"))
HOW_TO_GET = (
    "install Asterisk 22 (chan_pjsip) and SIPp 3.7: run scripts/test as root (it uses the "
    "distribution's 'asterisk' package where there is one, else the bundle named by "
    "ALERTA_ASTERISK_BUNDLE, e.g. ALERTA_ASTERISK_BUNDLE=../shared/asterisk), or put "
    "'asterisk' and 'sipp' on PATH"
)
RTP_SPAN = 400  # ports; two a call, so 200 calls at once
BOOT_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


class AsteriskMissing(RuntimeError):
    """Asterisk or SIPp cannot be found on this machine."""


class AsteriskFailed(RuntimeError):
    """The private Asterisk did not start, or stopped answering."""


@dataclass(frozen=True)
class Tools:
    asterisk: Path
    sipp: Path
    modules: Path
    data: Path


def tools() -> Tools:
    """Where Asterisk, its modules, its sounds and SIPp are; AsteriskMissing says how to get
    them when one is missing."""
    asterisk = shutil.which("asterisk") or next(
        (p for p in ("/usr/sbin/asterisk", "/sbin/asterisk") if os.access(p, os.X_OK)), None)
    sipp = shutil.which("sipp")
    # a build under its own prefix (/opt/asterisk/sbin/asterisk) keeps its modules beside it
    prefix = Path(asterisk).resolve().parent.parent if asterisk else Path("/nonexistent")
    module_dirs = (prefix / "lib" / "asterisk" / "modules", *MODULE_DIRS)
    modules = next((d for d in module_dirs if (d / "chan_pjsip.so").is_file()), None)
    data_dirs = (prefix / "var" / "lib" / "asterisk", *DATA_DIRS)
    # where the stock sounds and the music on hold (musiconhold.conf: astdatadir/moh) are
    data = next((d for d in data_dirs if (d / "moh").is_dir() and any((d / "moh").iterdir())),
                next((d for d in data_dirs if (d / "sounds").is_dir()), DATA_DIRS[0]))
    missing = [name for name, found in (("asterisk", asterisk), ("sipp", sipp),
                                        ("chan_pjsip.so", modules)) if not found]
    if missing:
        raise AsteriskMissing(f"{' and '.join(missing)} not found: {HOW_TO_GET}")
    assert asterisk and sipp and modules
    return Tools(Path(asterisk), Path(sipp), modules, data)


def sipp_version(sipp: Path) -> str:
    """'3.7.7', from ``sipp -v`` (which exits 99)."""
    out = subprocess.run([str(sipp), "-v"], capture_output=True, text=True, timeout=10)
    found = re.search(r"SIPp v?(\d+\.\d+(?:\.\d+)?)", out.stdout + out.stderr)
    return found.group(1) if found else "unknown"


# --- free ports on loopback ---------------------------------------------------------------


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_udp_range(span: int, low: int = 20000, high: int = 32000) -> int:
    """A base port with base..base+span-1 free on UDP, below the kernel's ephemeral range
    (where SIPp's own ports come from), so a test's SIPp never takes Asterisk's media port."""
    for _ in range(100):
        base = random.randrange(low, high - span) & ~1
        try:
            for port in range(base, base + span, 7):  # a sample is enough: Asterisk skips busy ones
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AsteriskFailed("no free UDP range for RTP")


# --- the private Asterisk ----------------------------------------------------------------


def _asterisk_conf(root: Path, tool: Tools) -> str:
    # [directories], not [directories](!): a template section is ignored and Asterisk
    # silently falls back to /etc/asterisk.
    return (
        "[directories]\n"
        f"astetcdir => {root}/etc\n"
        f"astmoddir => {tool.modules}\n"
        f"astvarlibdir => {root}/lib\n"
        f"astdbdir => {root}/lib\n"
        f"astkeydir => {root}/lib\n"
        f"astdatadir => {tool.data}\n"
        f"astagidir => {root}/agi-bin\n"
        f"astspooldir => {root}/spool\n"
        f"astrundir => {root}/run\n"
        f"astlogdir => {root}/log\n"
        f"astsbindir => {tool.asterisk.parent}\n"
        "\n[options]\n"
        "nocolor = yes\n"
        "verbose = 0\n"
        "maxcalls = 500\n"
    )


LOGGER_CONF = (
    "[general]\n"
    "dateformat = %F %T.%3q\n"
    "[logfiles]\n"
    "messages.log => notice,warning,error\n"
)


@dataclass
class PrivateAsterisk:
    root: Path
    settings: Settings
    tool: Tools
    process: subprocess.Popen[bytes]
    sip_port: int

    @classmethod
    def start(
        cls,
        root: Path,
        settings: Settings,
        *,
        extra_files: Mapping[str, str] | None = None,
        boot_timeout_s: float = BOOT_TIMEOUT_S,
        playback_log: bool = False,
    ) -> PrivateAsterisk:
        """Render the configuration for ``settings`` on free ports into ``root`` and start.

        ``settings`` gives the controller's side (FastAGI port, prompts folder); the SIP,
        RTP and AMI ports and the AMI secret are chosen here (see ``.settings``).
        ``extra_files`` adds files to the configuration folder, e.g. the deployment's own
        ``pjsip_provider.conf`` and ``pjsip_operators.conf``.
        """
        tool = tools()
        root = root.resolve()
        for sub in ("etc", "lib", "lib/keys", "agi-bin", "spool", "run", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        sip_port = free_port()
        settings = dataclasses.replace(
            settings,
            sip_bind=f"127.0.0.1:{sip_port}",
            rtp_start=(base := free_udp_range(RTP_SPAN)),
            rtp_end=base + RTP_SPAN - 1,
            ami_host="127.0.0.1",
            ami_port=free_port(socket.SOCK_STREAM),
            ami_secret=settings.ami_secret or os.urandom(24).hex(),
        )
        write_asterisk_config(settings, root / "etc")
        for name, text in (extra_files or {}).items():
            (root / "etc" / name).write_text(text, encoding="utf-8")
        # playback.log: Asterisk's verbose level 3, where each file it plays is named
        # ("<channel> Playing 'file.slin' (language 'es')"): what callers heard.
        logger_conf = LOGGER_CONF + ("playback.log => verbose(3)\n" if playback_log else "")
        (root / "etc" / "logger.conf").write_text(logger_conf, encoding="utf-8")
        conf = root / "asterisk.conf"
        conf.write_text(_asterisk_conf(root, tool), encoding="utf-8")
        with open(root / "log" / "stdout.log", "wb") as out:
            process = subprocess.Popen(
                [str(tool.asterisk), "-C", str(conf), "-f", "-n"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pbx = cls(root, settings, tool, process, sip_port)
        weakref.finalize(pbx, _kill_group, process)
        try:
            pbx._wait_booted(boot_timeout_s)
        except BaseException:
            pbx.stop()
            raise
        return pbx

    # --- talking to it

    @property
    def conf(self) -> Path:
        return self.root / "asterisk.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "log" / "messages.log"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    def rx(self, command: str, timeout_s: float = 30.0) -> str:
        """Run one CLI command (``asterisk -rx``) and return what it printed."""
        done = subprocess.run(
            [str(self.tool.asterisk), "-C", str(self.conf), "-rx", command],
            capture_output=True, text=True, timeout=timeout_s,
        )
        if done.returncode != 0:
            raise AsteriskFailed(f"asterisk -rx {command!r} exited {done.returncode}: "
                                 f"{done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def channels(self) -> int:
        """Active channels, from ``core show channels count``."""
        out = self.rx("core show channels count")
        found = re.search(r"(\d+) active channels?", out)
        if not found:
            raise AsteriskFailed(f"cannot read the channel count from {out!r}")
        return int(found.group(1))

    def log_lines(self, level: str = "ERROR") -> list[str]:
        """Lines of Asterisk's own log at this level (``[date] ERROR[pid] file: text``)."""
        if not self.log_path.exists():
            return []
        marker = re.compile(rf"^\[[^\]]+\] {level}\[")
        return [line for line in self.log_path.read_text(errors="replace").splitlines()
                if marker.match(line)]

    def played(self) -> list[str]:
        """The files Asterisk played (needs ``playback_log``), in order: channel, path."""
        path = self.root / "log" / "playback.log"
        if not path.exists():
            return []
        found = re.findall(r"<([^>]+)> Playing '([^']+)'", path.read_text(errors="replace"))
        return [f"{channel} {file}" for channel, file in found]

    def log_tail(self, lines: int = 60) -> str:
        text = []
        for path in (self.log_path, self.root / "log" / "stdout.log"):
            if path.exists():
                text.append(f"== {path}\n" + "\n".join(
                    path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(text)

    def _wait_booted(self, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                why = ""
                if self.process.returncode == -signal.SIGILL:
                    why = (" (SIGILL: this Asterisk build uses CPU instructions this machine "
                           "lacks, e.g. AVX-512; build it for this CPU)")
                raise AsteriskFailed(f"Asterisk exited with {self.process.returncode} while "
                                     f"starting{why}\n{self.log_tail()}")
            try:
                last = self.rx("core waitfullybooted", timeout_s=max(1.0, deadline -
                                                                     time.monotonic()))
            except (AsteriskFailed, subprocess.TimeoutExpired) as exc:
                last = str(exc)
                time.sleep(0.1)  # the control socket is not there yet
                continue
            if "fully booted" in last.lower():
                return
        raise AsteriskFailed(f"Asterisk did not boot within {limit_s:.0f} s ({last})\n"
                             f"{self.log_tail()}")

    # --- stopping it

    def stop(self) -> None:
        """``core stop now``, wait for the process; kill its process group if it lingers."""
        if self.process.poll() is None:
            with contextlib.suppress(AsteriskFailed, subprocess.TimeoutExpired, OSError):
                self.rx("core stop now", timeout_s=10.0)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _kill_group(self.process)
        _kill_group(self.process)

    def __enter__(self) -> PrivateAsterisk:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Make sure the process (and anything it started) is gone."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """``python -m ivr.testing.asterisk``: a private Asterisk for a tester, until Ctrl-C."""
    import argparse
    import tempfile

    from ivr.config import load

    parser = argparse.ArgumentParser(
        prog="python -m ivr.testing.asterisk",
        description="Start a private Asterisk with this project's configuration on free ports "
        "(the controller's settings give the FastAGI port and the prompts folder; run "
        "`alerta serve` with the AMI port and secret printed here).")
    parser.add_argument("--config", type=Path, help="the controller's TOML settings")
    parser.add_argument("--dir", type=Path, help="folder for its files (default: temporary)")
    parser.add_argument("--check", action="store_true",
                        help="start it, print its version and SIPp's, stop it (a smoke test)")
    args = parser.parse_args(argv)
    settings = load(args.config)
    settings = dataclasses.replace(settings, prompts=settings.prompts.resolve())
    root = args.dir or Path(tempfile.mkdtemp(prefix="alerta-asterisk-"))
    try:
        pbx = PrivateAsterisk.start(root, settings)
    except (AsteriskMissing, AsteriskFailed) as exc:
        print(f"alerta: {exc}", file=sys.stderr)
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
        return 1
    if args.check:
        with pbx:
            version = pbx.rx("core show version").strip()
        print(f"alerta: {version} boots here; SIPp {sipp_version(pbx.tool.sipp)} at "
              f"{pbx.tool.sipp}")
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
        return 0
    with pbx:
        print(f"Asterisk is up: {pbx.settings.sip_bind} (scripts/sipp-call --target "
              f"{pbx.settings.sip_bind}), AMI port {pbx.settings.ami_port}, FastAGI "
              f"expected on {settings.agi_port}; log {pbx.log_path}")
        print(f"for the controller: ALERTA_AMI_PORT={pbx.settings.ami_port} "
              f"ALERTA_AMI_SECRET={pbx.settings.ami_secret}")
        print(f"CLI: asterisk -C {pbx.conf} -r    (Ctrl-C here stops it)")
        # Ctrl-C or SIGTERM ends the wait and the with block stops Asterisk (a shell's
        # background job starts with SIGINT ignored: put the default back).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            pbx.process.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
