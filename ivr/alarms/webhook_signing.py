"""Standard Webhooks signatures (https://www.standardwebhooks.com, spec 1.0.0), pure.

A sender signs ``<webhook-id>.<webhook-timestamp>.<raw body>`` with HMAC-SHA256 and
sends ``webhook-signature: v1,<base64>``; while it rotates its secret it sends one
signature per secret, separated by spaces. A secret in the ``whsec_<base64>`` form is
used base64-decoded, as the reference libraries do; any other secret is used as its
UTF-8 bytes. Signatures of other schemes (``v1a``: ed25519) are skipped, not refused.

The spec leaves the timestamp tolerance to the receiver; its reference libraries use
5 minutes either way, and so do we (``TOLERANCE_S``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

TOLERANCE_S = 300
SECRET_PREFIX = "whsec_"
MAX_SIGNATURES = 8  # a rotation needs two or three; more is someone fishing
# No '.': the signed content is split on it (the spec asks ids to be free of it).
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class MalformedHeaders(ValueError):
    """The webhook-id or webhook-timestamp header is missing or not of its form."""


@dataclass(frozen=True, slots=True)
class WebhookHeaders:
    message_id: str
    timestamp: str  # as received: it is part of what was signed
    signatures: str

    @property
    def sent_at(self) -> int:
        return int(self.timestamp)


def read_headers(message_id: str | None, timestamp: str | None,
                 signatures: str | None) -> WebhookHeaders:
    """The three headers, checked for form (whether they are genuine is ``verified``)."""
    if message_id is None or not _ID.fullmatch(message_id):
        raise MalformedHeaders("webhook-id must be 1 to 128 letters, digits, '_' or '-'")
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise MalformedHeaders("webhook-timestamp must be whole Unix seconds")
    return WebhookHeaders(message_id, timestamp, signatures or "")


def secret_key(secret: str) -> bytes | None:
    """The HMAC key of a device's secret, or None when a ``whsec_`` secret is not base64."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode("utf-8") or None
    text = secret[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def signed_content(message_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{message_id}.{timestamp}.".encode("ascii") + body


def sign(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The ``v1,<base64>`` signature a sender holding ``secret`` puts in its header."""
    key = secret_key(secret)
    if key is None:
        raise ValueError("not a usable webhook secret")
    mac = hmac.new(key, signed_content(message_id, timestamp, body), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def _offered(signatures: str) -> list[bytes]:
    """The v1 signatures of the header, decoded; malformed entries are dropped."""
    found = []
    for entry in signatures.split(" ")[:MAX_SIGNATURES]:
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verified(headers: WebhookHeaders, body: bytes, secrets: Iterable[str]) -> bool:
    """Whether one offered signature is the HMAC of the message under one secret.

    Every pair is compared, in constant time, so the time taken says nothing of which
    secret or which signature came close."""
    content = signed_content(headers.message_id, headers.timestamp, body)
    expected = [hmac.new(key, content, hashlib.sha256).digest()
                for key in (secret_key(s) for s in secrets) if key is not None]
    offered = _offered(headers.signatures)
    match = False
    for mine in expected:
        for theirs in offered:
            match |= hmac.compare_digest(mine, theirs)
    return match


def fresh(headers: WebhookHeaders, now: datetime, tolerance_s: int = TOLERANCE_S) -> bool:
    """Whether the attempt's timestamp is within ``tolerance_s`` of ours, either way (an
    older one may be a replay; the sender re-signs every retry with a new timestamp)."""
    return abs(now.timestamp() - headers.sent_at) <= tolerance_s
