"""One typed settings object: safe defaults, an optional TOML file, ``ALERTA_*`` env.

Precedence: environment over file over defaults. Every path and port is a
setting; every listener defaults to 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ivr.domain.incidents import (
    DEFAULT_INCIDENT_TYPES,
    OPERATOR_TYPE_ID,
    ConfigError,
    IncidentType,
    Keypad,
)
from ivr.domain.retention import RetentionRule, parse_rules
from ivr.messaging.settings import MessagingConfigError, MessagingSection
from ivr.messaging.settings import parse as parse_messaging
from ivr.settings_sections import AgiSection, HealthSection

ENV_PREFIX = "ALERTA_"

# Words a transcript is searched for; a trailing * matches any ending.
DEFAULT_ALERT_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("es", ("arma", "pistola", "cuchillo", "disparo*", "balazo*", "herid*", "sangre",
            "fuego", "incendio")),
    ("en", ("gun", "knife", "shot*", "shoot*", "wounded", "bleeding", "fire")),
)

EVENT_LOOPS = ("auto", "uvloop", "asyncio")

# Settings that are plain scalars: name → (type, default, one-line documentation).
# The README's settings table is checked against this (tests/test_docs.py).
SCALARS: dict[str, tuple[type, Any, str]] = {
    "database": (Path, Path("var/alerta.sqlite3"),
                 "SQLite database file, or postgresql://user@host:port/name for the shared store"),
    "voiceclips": (Path, Path("voiceclips"), "where finished clips live (YYYY/MM/DD/)"),
    "recordings_tmp": (
        Path,
        Path(""),
        "where Asterisk records; must be on the voiceclips filesystem "
        "(default: <voiceclips>/.incoming)",
    ),
    "journal_dir": (
        Path,
        Path(""),
        "where reports wait when the database cannot take them in time; keep it off the "
        "database's disk (default: <voiceclips>/.journal)",
    ),
    "journal_after_s": (
        float, 2.0, "how long a call waits for the database before its report goes to the journal"
    ),
    "report_number_block": (int, 200, "report numbers a controller reserves ahead"),
    "prompts": (Path, Path("prompts"), "shipped prompts as Asterisk sees them (<lang>/<id>.wav)"),
    "prompt_library": (
        Path,
        Path(""),
        "where the lines' prompt audio lives, readable by Asterisk "
        "(default: <database folder>/prompt-library)",
    ),
    "controller_name": (
        str, "", "this controller's name in the store (default: <host>:<agi_port>)"),
    "controller_lease_s": (
        float, 30.0,
        "a controller not heard from for this long is gone: another closes the calls it left open"),
    "agi_host": (str, "127.0.0.1", "FastAGI listen address"),
    "agi_port": (int, 4573, "FastAGI listen port"),
    "agi_backlog": (int, 512, "listen backlog of the FastAGI socket"),
    "agi_env_max_bytes": (int, 16384, "largest AGI environment block accepted"),
    "agi_env_timeout_s": (
        float, 3.0, "handshake deadline: a new connection's environment block must arrive within"
    ),
    "agi_max_handshakes": (
        int, 256, "connections still waiting for their environment; past it the oldest is closed"
    ),
    "agi_command_timeout_s": (float, 30.0, "reply time limit per command (plus its own length)"),
    "agi_max_calls": (int, 2000, "calls served at once; more are sent to the fallback"),
    "agi_line_max_bytes": (int, 8192, "longest reply line accepted from Asterisk"),
    "shutdown_grace_s": (float, 30.0, "on shutdown, how long calls in progress may go on"),
    "fallback_context": (str, "alerta-fallback", "dialplan context for calls the flow lost"),
    "operator_queue": (str, "operators", "Asterisk queue of operators; empty: none"),
    "operator_timeout_s": (int, 30, "how long a caller waits for an operator"),
    "default_language": (str, "es", "language when the caller picks none"),
    "second_language": (str, "en", "language of the second choice; empty: none"),
    "menu_timeout_s": (float, 6.0, "how long a menu waits for a key"),
    "menu_tries": (int, 3, "failures before the caller goes to an operator"),
    "callback_min_digits": (int, 6, "shortest callback number accepted"),
    "callback_max_digits": (int, 15, "longest callback number accepted (E.164)"),
    "record_max_s": (int, 120, "longest message"),
    "record_silence_s": (int, 5, "silence that ends a message"),
    "record_min_ms": (int, 300, "a take shorter than this counts as empty"),
    "log_level": (str, "INFO", "logging level"),
    "log_format": (str, "text", "log lines as text, or json: one JSON object per line"),
    "metrics_port": (int, 9464, "Prometheus /metrics port on 127.0.0.1; 0 turns it off"),
    "alarm_dc09_port": (int, 0, "SIA DC-09 receiver for alarm panels, TCP and UDP on"
                        " alarm_host (docs/alarms.md); 0 turns it off"),
    "alarm_host": (str, "127.0.0.1", "listen address of the DC-09 receiver"),
    "alarm_webhook_port": (int, 0, "silent-alarm webhook for POS software on 127.0.0.1,"
                           " behind the TLS proxy (docs/alarms.md); 0 turns it off"),
    "health_db_wait_s": (float, 2.0, "how long /healthz waits for a test write to the database"),
    "event_loop": (
        str,
        "auto",
        "event loop of serve and console: auto (uvloop when installed), uvloop or asyncio",
    ),
    # --- operator console -------------------------------------------------------
    "console_host": (str, "127.0.0.1", "operator console listen address"),
    "console_port": (int, 8080, "operator console listen port"),
    "session_max_age_s": (int, 43200, "a console session ends this long after login"),
    "session_idle_s": (int, 7200, "a console session ends after this long unused"),
    "login_max_failures": (int, 5, "failed logins in a row before an account is locked"),
    "login_lockout_s": (int, 900, "how long a locked account stays locked"),
    "cookie_secure": (bool, False, "send the session cookie over HTTPS only (behind TLS)"),
    "operator_callback_minutes": (int, 15, "callback deadline of a report opened by key 0"),
    "callback_release_minutes": (int, 10, "an overdue reserved callback becomes anyone's after"),
    # --- AMI (operator callbacks) ---------------------------------------------
    "ami_host": (str, "127.0.0.1", "Asterisk manager interface address"),
    "ami_port": (int, 5038, "Asterisk manager interface port"),
    "ami_username": (str, "alerta", "AMI user (see asterisk_conf/manager.conf)"),
    "ami_secret": (str, "", "AMI secret; empty turns callbacks off (set ALERTA_AMI_SECRET)"),
    "ami_action_timeout_s": (float, 10.0, "time limit for an AMI action's response"),
    "ami_down_alert_s": (float, 60.0, "an AMI link down this long raises alert.ami_down"),
    "journal_alert_s": (float, 60.0, "reports waiting in the journal this long raise"
                        " alert.journal_waiting"),
    "callback_context": (str, "alerta-callback", "dialplan context that dials the citizen"),
    "operator_channel": (str, "PJSIP/{extension}", "how an operator's own phone is dialled"),
    "callback_ring_timeout_s": (int, 30, "how long a callback rings before it gives up"),
    "callback_caller_id": (str, "Alerta", "caller ID name shown on callbacks"),
    # --- the Asterisk side, for `alerta asterisk config` ------------------------
    "sip_bind": (str, "127.0.0.1:5060", "Asterisk's SIP (UDP) address and port"),
    "rtp_start": (int, 10000, "first UDP port of Asterisk's media range"),
    "rtp_end": (int, 20000, "last UDP port of Asterisk's media range"),
    "report_line": (str, "1234", "number the provider delivers for the report line"),
    "status_line": (str, "1235", "number the provider delivers for the status line"),
    "public_number": (str, "", "public number shown on callbacks, digits; empty: AMI's"),
    "contact_id_line": (str, "1236", "number the provider delivers for alarm panels that dial"
                        " in with Contact ID (AlarmReceiver, docs/alarms.md)"),
    "contact_id_spool": (Path, Path("/var/spool/alerta/alarms"),
                         "where AlarmReceiver writes Contact ID events (alarmreceiver.conf) and"
                         " the controller reads them"),
    # --- voice clips: transcription, audio, disk --------------------------------
    "vosk_model": (Path, Path(""), "Vosk model folder; empty turns transcription off"),
    "vosk_grammar": (
        Path,
        Path(""),
        "file of phrases (one a line) the recogniser is limited to; empty: open vocabulary",
    ),
    "transcribe_workers": (int, 1, "worker processes for transcription and audio derivatives"),
    "transcribe_timeout_s": (float, 300.0, "time limit per clip job; a worker past it is killed"),
    "transcribe_max_tries": (int, 3, "attempts per clip job before it is marked failed"),
    "transcript_low_confidence": (float, 0.6, "words scored below this are marked as doubtful"),
    "keyword_priority": (int, 1, "priority a report is raised to when an alert word is heard"),
    "min_free_mb": (int, 500, "free space needed on the voiceclips disk to record a message"),
    "clip_retry_s": (
        float,
        60.0,
        "how often start-up clip work the disk refused (a full disk) is tried again",
    ),
    # --- analytics and the public transparency page -----------------------------
    "analytics_timezone": (
        str,
        "America/Lima",
        "time zone whose days and hours the dashboard counts in (its standard offset; "
        "after a change run `alerta stats rebuild`)",
    ),
    "public_pages": (bool, True, "serve /public and the Open311 read API without login"),
    "public_delay_hours": (int, 24, "a report appears in the public API this long after it"),
    # --- the tax line (docs/tax.md) ----------------------------------------------
    "tax_line": (str, "1238", "number the provider delivers for the tax line"),
    "tax_backend": (str, "file", "where tax accounts come from: file (alerta tax import)"
                    " or http (the municipality's service)"),
    "tax_key_file": (Path, Path(""), "key the bills' codes are hashed under, made 0600 by the"
                     " first import; ALERTA_TAX_KEY overrides (default: <database folder>/"
                     "tax.key; PostgreSQL: <voiceclips>/.tax.key)"),
    "tax_http_url": (str, "", "the tax service's lookup address (https, or http on loopback)"),
    "tax_http_token_file": (Path, Path(""), "file holding the tax service's bearer token;"
                            " ALERTA_TAX_HTTP_TOKEN overrides"),
    "tax_http_timeout_s": (float, 2.0, "how long a lookup waits for the tax service"),
    "tax_breaker_failures": (int, 5, "tax service failures in a row that open the breaker"),
    "tax_breaker_open_s": (float, 30.0, "how long an open breaker answers unavailable before"
                           " one probe"),
    "tax_failures_per_caller_hour": (int, 6, "failed tax lookups from one number in an hour"
                                     " that block it"),
    "tax_ids_per_caller_day": (int, 10, "distinct IDs looked up from one number in a day that"
                               " block it"),
    "tax_failures_per_id_hour": (int, 6, "failed lookups of one ID in an hour (any numbers)"
                                 " that block the ID"),
    "tax_callers_per_id_day": (int, 5, "distinct numbers looking up one ID in a day that block"
                               " the ID"),
    "tax_withheld_failures_hour": (int, 10, "failed lookups in an hour from all withheld"
                                   " numbers together that block them"),
    "tax_withheld_ids_day": (int, 20, "distinct IDs in a day from all withheld numbers"
                             " together that block them"),
    "tax_block_minutes": (int, 60, "how long an hour limit blocks (a day limit: a day)"),
    # --- the participation line (docs/participation.md) ---------------------------
    "participation_line": (str, "1237", "number the provider delivers for the participation"
                           " line (complaints, suggestions, queries)"),
    "participation_complaint_days": (int, 30, "business days to answer a complaint when its"
                                     " line sets none"),
    "participation_suggestion_days": (int, 30, "business days to answer a suggestion when its"
                                      " line sets none"),
    "participation_query_days": (int, 10, "business days to answer a query when its line sets"
                                 " none"),
    "participation_near_days": (int, 3, "business days before its due date a case is warned"
                                " of"),
    "holidays_country": (str, "PE", "country whose public holidays are not business days"
                         " (ISO code, holidays package)"),
    "holidays_subdivision": (str, "", "its subdivision whose holidays count too (empty: the"
                             " national ones only)"),
}


@dataclass(frozen=True)
class Zone:
    code: str
    name: str


@dataclass(frozen=True)
class Settings:
    database: Path | str = Path("var/alerta.sqlite3")  # a str only for postgresql://…
    voiceclips: Path = Path("voiceclips")
    recordings_tmp: Path = Path("")
    journal_dir: Path = Path("")
    journal_after_s: float = 2.0
    report_number_block: int = 200
    prompts: Path = Path("prompts")
    prompt_library: Path = Path("")
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    controller_name: str = ""
    controller_lease_s: float = 30.0
    agi_backlog: int = 512
    agi_env_max_bytes: int = 16384
    agi_env_timeout_s: float = 3.0
    agi_max_handshakes: int = 256
    agi_command_timeout_s: float = 30.0
    agi_max_calls: int = 2000
    agi_line_max_bytes: int = 8192
    shutdown_grace_s: float = 30.0
    fallback_context: str = "alerta-fallback"
    operator_queue: str = "operators"
    operator_timeout_s: int = 30
    default_language: str = "es"
    second_language: str = "en"
    menu_timeout_s: float = 6.0
    menu_tries: int = 3
    callback_min_digits: int = 6
    callback_max_digits: int = 15
    record_max_s: int = 120
    record_silence_s: int = 5
    record_min_ms: int = 300
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_port: int = 9464
    alarm_dc09_port: int = 0
    alarm_host: str = "127.0.0.1"
    alarm_webhook_port: int = 0
    health_db_wait_s: float = 2.0
    event_loop: str = "auto"
    console_host: str = "127.0.0.1"
    console_port: int = 8080
    session_max_age_s: int = 43200
    session_idle_s: int = 7200
    login_max_failures: int = 5
    login_lockout_s: int = 900
    cookie_secure: bool = False
    operator_callback_minutes: int = 15
    callback_release_minutes: int = 10
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "alerta"
    ami_secret: str = ""
    ami_action_timeout_s: float = 10.0
    ami_down_alert_s: float = 60.0
    journal_alert_s: float = 60.0
    callback_context: str = "alerta-callback"
    operator_channel: str = "PJSIP/{extension}"
    callback_ring_timeout_s: int = 30
    callback_caller_id: str = "Alerta"
    sip_bind: str = "127.0.0.1:5060"
    rtp_start: int = 10000
    rtp_end: int = 20000
    report_line: str = "1234"
    status_line: str = "1235"
    public_number: str = ""
    contact_id_line: str = "1236"
    contact_id_spool: Path = Path("/var/spool/alerta/alarms")
    vosk_model: Path = Path("")
    vosk_grammar: Path = Path("")
    transcribe_workers: int = 1
    transcribe_timeout_s: float = 300.0
    transcribe_max_tries: int = 3
    transcript_low_confidence: float = 0.6
    keyword_priority: int = 1
    min_free_mb: int = 500
    clip_retry_s: float = 60.0
    analytics_timezone: str = "America/Lima"
    public_pages: bool = True
    public_delay_hours: int = 24
    tax_line: str = "1238"
    tax_backend: str = "file"
    tax_key_file: Path = Path("")
    tax_http_url: str = ""
    tax_http_token_file: Path = Path("")
    tax_http_timeout_s: float = 2.0
    tax_breaker_failures: int = 5
    tax_breaker_open_s: float = 30.0
    tax_failures_per_caller_hour: int = 6
    tax_ids_per_caller_day: int = 10
    tax_failures_per_id_hour: int = 6
    tax_callers_per_id_day: int = 5
    tax_withheld_failures_hour: int = 10
    tax_withheld_ids_day: int = 20
    tax_block_minutes: int = 60
    participation_line: str = "1237"
    participation_complaint_days: int = 30
    participation_suggestion_days: int = 30
    participation_query_days: int = 10
    participation_near_days: int = 3
    holidays_country: str = "PE"
    holidays_subdivision: str = ""
    keypad: Keypad = field(default_factory=lambda: Keypad(DEFAULT_INCIDENT_TYPES))
    zones: tuple[Zone, ...] = field(
        default_factory=lambda: tuple(Zone(str(n), f"Zona {n}") for n in range(1, 15))
    )
    # [alert_keywords]: language → words that raise a report's priority when heard.
    alert_keywords: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_ALERT_KEYWORDS
    # [[retention]]: which clips a purge may remove (none without rules).
    retention: tuple[RetentionRule, ...] = ()
    messaging: MessagingSection = field(default_factory=MessagingSection)  # [sms], [mail]

    @property
    def agi(self) -> AgiSection:
        return AgiSection(
            host=self.agi_host, port=self.agi_port, backlog=self.agi_backlog,
            env_max_bytes=self.agi_env_max_bytes, env_timeout_s=self.agi_env_timeout_s,
            max_handshakes=self.agi_max_handshakes, command_timeout_s=self.agi_command_timeout_s,
            max_calls=self.agi_max_calls, line_max_bytes=self.agi_line_max_bytes,
            shutdown_grace_s=self.shutdown_grace_s, fallback_context=self.fallback_context,
            play_max_s=float(self.record_max_s),
        )

    @property
    def health(self) -> HealthSection:
        return HealthSection(self.voiceclips, self.database, self.health_db_wait_s,
                             self.min_free_mb)

    @property
    def incoming_dir(self) -> Path:
        if str(self.recordings_tmp) not in ("", "."):
            return self.recordings_tmp
        if isinstance(self.database, str):  # several controllers share the clips' folder:
            # each records into its own, so one's start-up never takes another's takes
            return self.voiceclips / f".incoming-{re.sub(r'[^A-Za-z0-9_.-]', '_', self.controller)}"
        return self.voiceclips / ".incoming"

    @property
    def journal_folder(self) -> Path:
        return self.journal_dir if str(self.journal_dir) not in ("", ".") else (
            self.voiceclips / ".journal"
        )

    @property
    def prompt_library_folder(self) -> Path:
        return self.prompt_library if str(self.prompt_library) not in ("", ".") else (
            self.database.parent / "prompt-library" if isinstance(self.database, Path)
            else self.voiceclips / ".prompt-library"  # shared by every controller, like clips
        )

    @property
    def controller(self) -> str:
        """The name this controller's calls carry in the store (stable across restarts)."""
        if self.controller_name:
            return self.controller_name
        host = socket.gethostname()
        return f"{host}:{self.agi_port}" if self.agi_port else f"{host}:pid{os.getpid()}"

    @property
    def tax_key_path(self) -> Path:
        if str(self.tax_key_file) not in ("", "."):
            return self.tax_key_file
        return (self.database.parent / "tax.key" if isinstance(self.database, Path)
                else self.voiceclips / ".tax.key")  # shared by every controller

    @property
    def quarantine_dir(self) -> Path:
        return self.voiceclips / ".quarantine"

    @property
    def languages(self) -> tuple[str, ...]:
        langs = [self.default_language]
        if self.second_language and self.second_language != self.default_language:
            langs.append(self.second_language)
        return tuple(langs)

    def callback_deadlines(self) -> dict[str, int]:
        """Minutes to call the citizen back, per incident type id."""
        out = {t.id: t.callback_minutes for t in self.keypad.types}
        out.setdefault(OPERATOR_TYPE_ID, self.operator_callback_minutes)
        return out

    def keyword_lists(self) -> dict[str, tuple[str, ...]]:
        return dict(self.alert_keywords)

    def _check_clips(self) -> None:
        if not (1 <= self.transcribe_workers <= 64):
            raise ConfigError("transcribe_workers must be within 1..64")
        if self.transcribe_timeout_s <= 0 or self.transcribe_max_tries < 1:
            raise ConfigError("transcribe_timeout_s must be positive, transcribe_max_tries >= 1")
        if not (0 <= self.transcript_low_confidence <= 1):
            raise ConfigError("transcript_low_confidence must be within 0..1")
        if not (1 <= self.keyword_priority <= 9):
            raise ConfigError("keyword_priority must be within 1..9")
        if self.min_free_mb < 0:
            raise ConfigError("min_free_mb must be 0 or more")
        if self.clip_retry_s <= 0:
            raise ConfigError("clip_retry_s must be positive")

    def _check_ops(self) -> None:
        if self.log_format not in ("text", "json"):
            raise ConfigError("log_format must be text or json")
        if not (0 <= self.metrics_port < 65536):
            raise ConfigError("metrics_port must be a port (0 turns /metrics off)")
        if self.metrics_port and self.metrics_port == self.console_port:
            raise ConfigError("metrics_port and console_port must differ")
        if not (0 <= self.alarm_dc09_port < 65536) or (self.alarm_dc09_port and (
                self.alarm_dc09_port in (self.console_port, self.metrics_port,
                                         self.agi_port, self.alarm_webhook_port))):
            raise ConfigError("alarm_dc09_port must be a free port (0 turns it off)")
        if self.alarm_dc09_port and not self.alarm_host.strip():
            raise ConfigError("alarm_host must be an address to listen on")
        if not (0 <= self.alarm_webhook_port < 65536) or (self.alarm_webhook_port and (
                self.alarm_webhook_port in (self.console_port, self.metrics_port,
                                            self.agi_port))):
            raise ConfigError("alarm_webhook_port must be a free port (0 turns it off)")
        if not (0 < self.journal_after_s <= 60):
            raise ConfigError("journal_after_s must be within 0..60 seconds")
        if not (2 <= self.report_number_block <= 100_000):
            raise ConfigError("report_number_block must be within 2..100000")
        if not (0 < self.health_db_wait_s <= 60):
            raise ConfigError("health_db_wait_s must be within 0..60 seconds")

    def zone(self, code: str) -> Zone | None:
        return next((z for z in self.zones if z.code == code), None)

    def check(self) -> Settings:
        if not (0 < self.agi_port < 65536):
            raise ConfigError(f"agi_port {self.agi_port} is not a port")
        if not (1 <= self.callback_min_digits <= self.callback_max_digits <= 20):
            raise ConfigError("callback_min_digits..callback_max_digits must be within 1..20")
        if self.menu_tries < 1:
            raise ConfigError("menu_tries must be at least 1")
        if not (1 <= self.record_max_s <= 3600):
            raise ConfigError("record_max_s must be within 1..3600")
        for z in self.zones:
            if not z.code.isdigit() or len(z.code) > 4:
                raise ConfigError(f"zone code {z.code!r} must be 1 to 4 digits")
        if not (0 <= self.console_port < 65536) or not (0 <= self.ami_port < 65536):
            raise ConfigError("console_port and ami_port must be ports")
        if "{extension}" not in self.operator_channel:
            raise ConfigError("operator_channel must contain {extension}")
        self._check_ops()
        if self.event_loop not in EVENT_LOOPS:
            raise ConfigError(f"event_loop must be one of {', '.join(EVENT_LOOPS)}")
        if self.agi_env_max_bytes < 1024:
            raise ConfigError("agi_env_max_bytes must be at least 1024")
        if self.agi_max_handshakes < 1 or self.agi_env_timeout_s <= 0:
            raise ConfigError("agi_max_handshakes must be at least 1, agi_env_timeout_s above 0")
        self._check_clips()
        if not all(1 <= d <= 365 for d in (
                self.participation_complaint_days, self.participation_suggestion_days,
                self.participation_query_days)) or not 0 <= self.participation_near_days <= 30:
            raise ConfigError("participation_*_days must be 1..365 business days and"
                              " participation_near_days 0..30")
        if self.tax_backend not in ("file", "http") or (
                self.tax_backend == "http" and not self.tax_http_url):
            raise ConfigError("tax_backend must be file, or http with tax_http_url set")
        return self


def _coerce(name: str, kind: type, raw: Any) -> Any:
    try:
        if kind is Path:
            if name.lower().removeprefix("alerta_") == "database" and str(raw).startswith(
                    ("postgresql://", "postgres://")):
                return str(raw)  # a PostgreSQL address is not a file
            return Path(str(raw))
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind is int and not isinstance(raw, bool):
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is str:
            return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: {raw!r} is not a {kind.__name__}") from exc
    raise ConfigError(f"setting {name}: {raw!r} is not a {kind.__name__}")


def _incident_types(raw: Any) -> tuple[IncidentType, ...]:
    if not isinstance(raw, list):
        raise ConfigError("incident_types must be a list of tables")
    known = {f.name for f in fields(IncidentType)}
    out = []
    for item in raw:
        if not isinstance(item, dict) or not {"id", "key", "priority"} <= item.keys():
            raise ConfigError("each incident type needs id, key and priority")
        unknown = set(item) - known
        if unknown:
            raise ConfigError(f"incident type {item.get('id')!r}: unknown fields {sorted(unknown)}")
        out.append(IncidentType(**{**item, "key": str(item["key"])}))
    return tuple(out)


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from defaults, then the TOML file, then the environment."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    data: dict[str, Any] = {}
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = Path(env[ENV_PREFIX + "CONFIG"])
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    for key in set(data) - set(SCALARS) - {"incident_types", "menu", "zones", *TABLES}:
        raise ConfigError(f"unknown setting {key!r} in {path}")
    for name, (kind, _default, _doc) in SCALARS.items():
        if name in data:
            values[name] = _coerce(name, kind, data[name])
        env_name = ENV_PREFIX + name.upper()
        if env_name in env:
            values[name] = _coerce(env_name, kind, env[env_name])
    settings = replace(Settings(), **values)
    if "incident_types" in data or "menu" in data:
        menu = data.get("menu", {})
        types = (
            _incident_types(data["incident_types"])
            if "incident_types" in data
            else DEFAULT_INCIDENT_TYPES
        )
        settings = replace(
            settings,
            keypad=Keypad(
                types,
                status_key=str(menu.get("status_key", "9")) or None,
                operator_key=str(menu.get("operator_key", "0")) or None,
            ),
        )
    if "zones" in data:
        zones = data["zones"]
        if not isinstance(zones, list) or not all(
            isinstance(z, dict) and "code" in z for z in zones
        ):
            raise ConfigError("zones must be a list of tables with code and name")
        settings = replace(
            settings, zones=tuple(Zone(str(z["code"]), str(z.get("name", ""))) for z in zones)
        )
    settings = _clip_tables(settings, data)
    try:
        settings = replace(settings, messaging=parse_messaging(data, env))
    except MessagingConfigError as exc:
        raise ConfigError(str(exc)) from exc
    return settings.check()


# Clip settings that are tables in the TOML file (not scalars, so not in the env).
TABLES = ("alert_keywords", "retention", "messaging", "sms", "mail")


def _clip_tables(settings: Settings, data: Mapping[str, Any]) -> Settings:
    if "alert_keywords" in data:
        raw = data["alert_keywords"]
        if not isinstance(raw, dict) or not all(
            isinstance(words, list) and all(isinstance(w, str) and w.strip() for w in words)
            for words in raw.values()
        ):
            raise ConfigError("alert_keywords must be a table of language = [words]")
        settings = replace(
            settings,
            alert_keywords=tuple((str(lang), tuple(words)) for lang, words in raw.items()),
        )
    if "retention" in data:
        known = {t.id for t in settings.keypad.types} | {OPERATOR_TYPE_ID}
        settings = replace(settings, retention=parse_rules(data["retention"], known))
    return settings
