"""``alerta asterisk config``: ``asterisk_conf/`` and ``dialplans/`` made concrete.

The repository's Asterisk files name loopback defaults (SIP 127.0.0.1:5060, AMI
5038, FastAGI 4573, lines 1234 and 1235, prompts in /var/lib/alerta/prompts).
A deployment needs its own values, which live in the controller's settings; this
module rewrites exactly those lines and writes the AMI secret (from the settings,
that is ``ALERTA_AMI_SECRET``, never from the repository) into the file
``manager.conf`` includes. Deployers run it (docs/deploy-asterisk.md) and so does
the test harness (``ivr.testing.asterisk``), so both get the same files.

Every rewrite must find its line: when the repository's files change shape, the
renderer fails with the file and the line it looked for instead of writing a
configuration that silently keeps a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ivr.config import Settings

SOURCE = Path(__file__).resolve().parent.parent  # the checkout: asterisk_conf/, dialplans/
SECRET_FILE = "alerta/ami_secret.conf"  # manager.conf: #include alerta/ami_secret.conf
_SECRET_OK = re.compile(r"[A-Za-z0-9_\-.~+/=]{16,256}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_BIND = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[0-9.]+):(?P<port>[0-9]{1,5})")
_HOST = re.compile(r"[0-9.]+|[0-9A-Fa-f:]+")


class AsteriskConfigError(Exception):
    """The settings cannot be written into the files, or a file lost a line we rewrite."""


@dataclass(frozen=True)
class _Rewrite:
    pattern: str  # a regular expression, MULTILINE; must match at least once
    replace: Callable[[re.Match[str]], str]
    what: str  # says what the line is, for the error when it is gone


def _fixed(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _m: text


def _check(settings: Settings) -> None:
    bind = _BIND.fullmatch(settings.sip_bind)
    if bind is None or not 0 < int(bind["port"]) < 65536:
        raise AsteriskConfigError(f"sip_bind {settings.sip_bind!r} is not ADDRESS:PORT")
    if not (1024 <= settings.rtp_start < settings.rtp_end <= 65535):
        raise AsteriskConfigError("rtp_start..rtp_end must be a range within 1024..65535")
    for name in ("report_line", "status_line", "contact_id_line"):
        if not _DIGITS.fullmatch(getattr(settings, name)):
            raise AsteriskConfigError(f"{name} must be 1 to 20 digits")
    if len({settings.report_line, settings.status_line, settings.contact_id_line}) < 3:
        raise AsteriskConfigError("report_line, status_line and contact_id_line must differ")
    _check_spool(settings.contact_id_spool)
    if settings.public_number and not _DIGITS.fullmatch(settings.public_number):
        raise AsteriskConfigError("public_number must be digits (or empty)")
    if not _SECRET_OK.fullmatch(settings.ami_secret):
        raise AsteriskConfigError(
            "set the AMI secret first: ALERTA_AMI_SECRET (16 to 256 characters of "
            "A-Z a-z 0-9 _-.~+/=), e.g. python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(36))'"
        )
    for name in ("ami_host", "agi_host"):
        if not _HOST.fullmatch(getattr(settings, name)):
            raise AsteriskConfigError(f"{name} must be an IP address")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", settings.ami_username):
        raise AsteriskConfigError("ami_username must be letters, digits, - or _")
    for name in ("fallback_context", "callback_context"):
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,79}", getattr(settings, name)):
            raise AsteriskConfigError(f"{name} must be letters, digits, - or _")
    if settings.operator_queue and not re.fullmatch(r"[A-Za-z0-9_-]{1,79}",
                                                    settings.operator_queue):
        raise AsteriskConfigError("operator_queue must be letters, digits, - or _")
    if any(c in str(settings.prompts) for c in ",;\n\r|()$[]{}\"'"):
        raise AsteriskConfigError("the prompts folder's path must not hold , ; | ( ) $ [ ] { } "
                                  "or quotes (the dialplan splits on them)")


def _check_spool(spool: Path) -> None:
    # AlarmReceiver keeps eventspooldir in 128 bytes and cuts a longer path silently:
    # its files would land in another folder than the one the controller watches.
    path = str(spool.resolve())
    if len(path.encode()) > 110 or any(c in path for c in ";\n\r"):
        raise AsteriskConfigError("contact_id_spool must be a path of at most 110 bytes "
                                  "without ; or line breaks (AlarmReceiver's limit)")


def _agi_host(settings: Settings) -> str:
    """The address Asterisk connects to: a wildcard listener is reached on loopback."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
        settings.agi_host, settings.agi_host)


def _rewrites(settings: Settings) -> dict[str, list[_Rewrite]]:
    prompts = str(settings.prompts.resolve())
    agi = _agi_host(settings)
    agi = f"[{agi}]" if ":" in agi else agi
    report, status = settings.report_line, settings.status_line
    out: dict[str, list[_Rewrite]] = {
        "pjsip.conf": [
            _Rewrite(r"^(bind=).*$", lambda m: m[1] + settings.sip_bind, "bind= of transport-udp"),
            _Rewrite(r"^(contact_user=)1234\b", lambda m: m[1] + report,
                     "contact_user=1234 (the report line) of provider-registration"),
        ],
        "rtp.conf": [
            _Rewrite(r"^(rtpstart=)\d+", lambda m: f"{m[1]}{settings.rtp_start}", "rtpstart="),
            _Rewrite(r"^(rtpend=)\d+", lambda m: f"{m[1]}{settings.rtp_end}", "rtpend="),
        ],
        "manager.conf": [
            _Rewrite(r"^(port=)\d+", lambda m: f"{m[1]}{settings.ami_port}", "port= of [general]"),
            _Rewrite(r"^(bindaddr=).*$", lambda m: m[1] + settings.ami_host, "bindaddr="),
            _Rewrite(r"^\[alerta\]", _fixed(f"[{settings.ami_username}]"), "the [alerta] user"),
        ],
        "extensions.conf": [
            _Rewrite(r"agi://127\.0\.0\.1:4573/", _fixed(f"agi://{agi}:{settings.agi_port}/"),
                     "AGI(agi://127.0.0.1:4573/...)"),
            _Rewrite(r"^(ALERTA_PROMPTS=).*$", lambda m: m[1] + prompts, "ALERTA_PROMPTS="),
            _Rewrite(r"^(ALERTA_CALLER_ID=).*$", lambda m: m[1] + settings.public_number,
                     "ALERTA_CALLER_ID="),
            _Rewrite(r"^(exten => )1234,", lambda m: f"{m[1]}{report},", "exten => 1234,"),
            _Rewrite(r"Goto\(1234,1\)", _fixed(f"Goto({report},1)"), "Goto(1234,1)"),
            _Rewrite(r"^(exten => )1235,", lambda m: f"{m[1]}{status},", "exten => 1235,"),
            _Rewrite(r"\balerta-fallback\b", _fixed(settings.fallback_context),
                     "the alerta-fallback context"),
            _Rewrite(r"\balerta-callback\b", _fixed(settings.callback_context),
                     "the alerta-callback context"),
            # Last, and only the line that goes to the alarms: the lines above may have
            # written 1236 as another line's number.
            _Rewrite(r"^(exten => )1236(,1,Goto\(alerta-alarms,)",
                     lambda m: f"{m[1]}{settings.contact_id_line}{m[2]}",
                     "exten => 1236,1,Goto(alerta-alarms,s,1) (the alarm panels' number)"),
        ],
        "alarmreceiver.conf": [
            _Rewrite(r"^(eventspooldir = ).*$",
                     lambda m: m[1] + str(settings.contact_id_spool.resolve()),
                     "eventspooldir = (the contact_id_spool)"),
        ],
    }
    if settings.operator_queue and settings.operator_queue != "operators":
        queue = settings.operator_queue
        out["extensions.conf"].append(
            _Rewrite(r"\b(Queue|AddQueueMember|RemoveQueueMember)\(operators,",
                     lambda m: f"{m[1]}({queue},", "Queue(operators,...)"))
        out["queues.conf"] = [_Rewrite(r"^\[operators\]", _fixed(f"[{queue}]"), "[operators]")]
    return out


def sources(source: Path = SOURCE) -> dict[str, Path]:
    """The files a deployment installs: asterisk_conf/*.conf and dialplans/*.conf."""
    found = {p.name: p for p in sorted((source / "asterisk_conf").glob("*.conf"))}
    found.update({p.name: p for p in sorted((source / "dialplans").glob("*.conf"))})
    if "extensions.conf" not in found or "pjsip.conf" not in found:
        raise AsteriskConfigError(f"{source} holds no asterisk_conf/ and dialplans/")
    return found


def render(settings: Settings, source: Path = SOURCE) -> dict[str, str]:
    """File name → contents, this deployment's values in place; the secret file included."""
    _check(settings)
    rewrites = _rewrites(settings)
    out: dict[str, str] = {}
    for name, path in sources(source).items():
        text = path.read_text(encoding="utf-8")
        for rw in rewrites.get(name, []):
            text, count = re.subn(rw.pattern, rw.replace, text, flags=re.MULTILINE)
            if count == 0:
                raise AsteriskConfigError(f"{path}: no line for {rw.what}; update "
                                          f"ivr/asterisk_config.py with the file")
        out[name] = text
    missing = set(rewrites) - set(out)
    if missing:
        raise AsteriskConfigError(f"{source}: missing {', '.join(sorted(missing))}")
    out[SECRET_FILE] = (
        "; written by `alerta asterisk config` from the controller's ami_secret; keep it\n"
        "; root:asterisk 0640 and out of git.\n"
        f"secret = {settings.ami_secret}\n"
    )
    return out


def write(settings: Settings, into: Path, source: Path = SOURCE) -> list[Path]:
    """Write the rendered files into a folder (created); files 0640, folders 0750."""
    files = render(settings, source)
    into.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        target = into / name
        target.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o640)
        os.replace(temporary, target)
        written.append(target)
    return written
