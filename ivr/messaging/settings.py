"""The messaging settings: three tables of the settings file.

    [messaging]
    port = 8090                # the controller's listener for the gateway's callbacks
    window_s = 60              # a burst of one alert to one person goes as one message
    mobile_pattern = '9\\d{8}'  # numbers a text can reach (the receipt after a call)
    country_code = "51"        # taken off senders' numbers, as callers are stored
    reports_per_hour = 5       # reports one number may open by text in an hour

    [sms]                      # Kannel's sendsms interface; no table: no texts
    sendsms_url = "http://127.0.0.1:13013/cgi-bin/sendsms"
    username = "alerta"
    callback_base = "http://127.0.0.1:8090"  # how Kannel reaches the listener above

    [mail]                     # SMTP; no table: no e-mail
    host = "smtp.example.org"
    port = 587
    security = "starttls"      # none | starttls | tls
    username = "alertas"
    sender = "alertas@example.org"

Secrets are never in the file: ``ALERTA_SMS_PASSWORD``, ``ALERTA_SMS_CALLBACK_TOKEN`` and
``ALERTA_MAIL_PASSWORD`` in the environment, or ``password_file`` /
``callback_token_file`` naming a file only the service can read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the transports are imported when a table names them
    from ivr.messaging.kannel import KannelSection
    from ivr.messaging.smtp import SmtpSection


class MessagingConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MessagingSection:
    port: int = 8090
    window_s: int = 60
    mobile_pattern: str = r"9\d{8}"
    country_code: str = "51"
    reports_per_hour: int = 5
    sms: KannelSection | None = None
    mail: SmtpSection | None = None

    @property
    def enabled(self) -> bool:
        return self.sms is not None or self.mail is not None


def _secret(table: Mapping[str, Any], key: str, env: Mapping[str, str], env_name: str
            ) -> str | None:
    if env.get(env_name):
        return env[env_name]
    if key in table:
        raise MessagingConfigError(f"{key} is not kept in the settings file: set {env_name}"
                                   f" or {key}_file")
    if f"{key}_file" in table:
        try:
            return Path(str(table[f"{key}_file"])).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise MessagingConfigError(f"cannot read {key}_file: {exc}") from exc
    return None


def _only(table: Mapping[str, Any], name: str, known: set[str]) -> None:
    if not isinstance(table, dict):
        raise MessagingConfigError(f"[{name}] must be a table")
    for key in set(table) - known:
        raise MessagingConfigError(f"unknown setting {key!r} in [{name}]")


def parse(data: Mapping[str, Any], env: Mapping[str, str]) -> MessagingSection:
    raw = data.get("messaging", {})
    _only(raw, "messaging", {"port", "window_s", "mobile_pattern", "country_code",
                             "reports_per_hour"})
    try:
        port = int(raw.get("port", 8090))
        window = int(raw.get("window_s", 60))
        per_hour = int(raw.get("reports_per_hour", 5))
    except (TypeError, ValueError) as exc:
        raise MessagingConfigError(f"[messaging]: {exc}") from exc
    if not 0 <= port <= 65535 or not 0 <= window <= 3600 or not 0 <= per_hour <= 1000:
        raise MessagingConfigError("[messaging]: port 0-65535, window_s 0-3600,"
                                   " reports_per_hour 0-1000")
    pattern = str(raw.get("mobile_pattern", r"9\d{8}"))
    try:
        re.compile(pattern)
    except re.error as exc:
        raise MessagingConfigError(f"[messaging] mobile_pattern: {exc}") from exc
    country = str(raw.get("country_code", "51"))
    if country and not country.isdigit():
        raise MessagingConfigError("[messaging] country_code is digits")
    sms = mail = None
    if "sms" in data:
        from ivr.messaging.kannel import KannelSection

        table = data["sms"]
        _only(table, "sms", {"sendsms_url", "username", "password", "password_file", "smsc_id",
                             "timeout_s", "callback_base", "callback_token",
                             "callback_token_file", "default_sender"})
        password = _secret(table, "password", env, "ALERTA_SMS_PASSWORD") or ""
        token = _secret(table, "callback_token", env, "ALERTA_SMS_CALLBACK_TOKEN")
        if not token or len(token) < 16:
            raise MessagingConfigError("[sms] needs a callback token of 16 characters or more"
                                       " (ALERTA_SMS_CALLBACK_TOKEN or callback_token_file)")
        try:
            sms = KannelSection(
                sendsms_url=str(table.get("sendsms_url", "http://127.0.0.1:13013/cgi-bin/sendsms")),
                username=str(table.get("username", "alerta")),
                password=password,
                smsc_id=table.get("smsc_id"), timeout_s=float(table.get("timeout_s", 10.0)),
                callback_base=str(table.get("callback_base", f"http://127.0.0.1:{port}")),
                callback_token=token, default_sender=table.get("default_sender"))
        except (TypeError, ValueError) as exc:
            raise MessagingConfigError(f"[sms]: {exc}") from exc
    if "mail" in data:
        from ivr.messaging.smtp import SmtpSection

        table = data["mail"]
        _only(table, "mail", {"host", "port", "security", "username", "password",
                              "password_file", "sender", "timeout_s", "cafile", "verify",
                              "helo"})
        if not table.get("sender"):
            raise MessagingConfigError("[mail] needs sender, the From address")
        try:
            mail = SmtpSection(
                host=str(table.get("host", "127.0.0.1")), port=int(table.get("port", 25)),
                security=table.get("security", "none"), username=table.get("username"),
                password=_secret(table, "password", env, "ALERTA_MAIL_PASSWORD"),
                sender=str(table["sender"]), timeout_s=float(table.get("timeout_s", 15.0)),
                cafile=table.get("cafile"), verify=bool(table.get("verify", True)),
                helo=table.get("helo"))
        except ValueError as exc:
            raise MessagingConfigError(f"[mail]: {exc}") from exc
    return MessagingSection(port, window, pattern, country, per_hour, sms, mail)
