"""Open311 GeoReport v2 ``POST requests``: the municipality's website or app files a
complaint, suggestion or query with its API key.

A key is made by an admin, shown once and kept only as its SHA-256; the municipality a
request is filed in is always the key's. A service is one kind of case for one area of a
published participation line (``complaint.cleaning``). Each key may file ``per_minute``
requests a minute and read ``reads_per_minute`` (in this process: several consoles each
allow as much). The transport (operator_console.views.open311) turns refusals into the
spec's errors: ``Open311Error.status`` and its description.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ivr.core.case_rules import CaseRefused
from ivr.core.ports import CaseReceipt
from ivr.domain.lines import LineConfig

KEY_PREFIX = "a311_"
MAX_DESCRIPTION = 4000
MAX_NAME = 80
_KEY = re.compile(r"a311_[A-Za-z0-9_-]{20,100}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,24}")
_CODE = re.compile(r"([a-z][a-z0-9_]{0,47})\.([a-z][a-z0-9_]{0,47})")


class Open311Error(Exception):
    """A refusal as GeoReport v2 answers it: ``status`` (400, 403, 404, 429) and text."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    municipality: int
    name: str

    @property
    def actor(self) -> str:
        return f"open311:{self.id}"


class KeyStore(Protocol):
    """The keys' table (``ivr.store.open311.Open311Store``)."""

    async def add_key(self, municipality: int, name: str, key_hash: str, *, actor: str,
                      now: datetime) -> int: ...

    async def revoke_key(self, municipality: int, key_id: int, *, actor: str,
                         now: datetime) -> bool: ...

    async def keys(self, municipality: int) -> list[dict[str, Any]]: ...

    async def key_by_hash(self, key_hash: str) -> dict[str, Any] | None: ...

    async def touch(self, key_id: int, now: datetime) -> None: ...


class CaseEntry(Protocol):
    """What files a case (``ivr.core.participation.Participation.enter``)."""

    async def enter(self, *, municipality: int, kind: str, area: str, intake: str,
                    subject: str, caller: str | None, contact_name: str | None,
                    contact_email: str | None, actor: str, api_key_id: int | None = None,
                    language: str = "es") -> CaseReceipt: ...


Lines = Callable[[int], Awaitable[list[LineConfig]]]  # a municipality's live participation lines


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# --- services: one per kind of case and area ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Service:
    code: str  # "<kind>.<area>"
    kind: str
    area: str
    name: str
    group: str  # the area's label
    days: int | None  # business days to answer


def services(lines: Sequence[LineConfig], language: str = "es") -> list[Service]:
    """Every kind × area of the lines, the first line's where two share one."""
    found: dict[str, Service] = {}
    for line in lines:
        for area in line.areas:
            group = area.label(language, line.languages[0] if line.languages else "es")
            for kind in line.types:
                code = f"{kind.id}.{area.id}"
                label = kind.label(language, line.languages[0] if line.languages else "es")
                found.setdefault(code, Service(code, kind.id, area.id, f"{label} · {group}",
                                               group, line.answer_days(kind.id, area.id)))
    return list(found.values())


def service_list(found: Sequence[Service], language: str = "es") -> list[dict[str, Any]]:
    """GeoReport v2 ``GET services``: realtime services without attributes."""
    out = []
    for s in found:
        description = s.name
        if s.days:
            description += (f" (answered within {s.days} business days)" if language == "en"
                            else f" (respuesta en {s.days} días hábiles)")
        out.append({"service_code": s.code, "service_name": s.name,
                    "description": description, "metadata": False, "type": "realtime",
                    "keywords": s.kind, "group": s.group})
    return out


# --- the request's fields ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseRequest:
    service: Service
    subject: str
    caller: str | None
    contact_name: str | None
    contact_email: str | None


def _text(fields: Mapping[str, str], name: str, limit: int) -> str:
    value = fields.get(name, "").strip()
    if len(value) > limit:
        raise Open311Error(400, f"{name} is longer than {limit} characters")
    if any(not (c.isprintable() or c in "\n\r\t") for c in value):
        raise Open311Error(400, f"{name} holds control characters")
    return value


def _coordinate(fields: Mapping[str, str], name: str, top: float) -> float | None:
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw[:40])
    except ValueError:
        raise Open311Error(400, f"{name} is not a number") from None
    if not math.isfinite(value) or not -top <= value <= top:
        raise Open311Error(400, f"{name} is out of range")
    return value


def read_request(fields: Mapping[str, str], found: Sequence[Service]) -> CaseRequest:
    """The fields of a ``POST requests``, checked; what the officer reads is the
    description, then the place and the picture's address when they were given."""
    code = fields.get("service_code", "").strip()
    service = next((s for s in found if s.code == code), None)
    if not code:
        raise Open311Error(400, "service_code is required")
    if service is None or not _CODE.fullmatch(code):
        raise Open311Error(400, "unknown service_code (see services.json)")
    description = _text(fields, "description", MAX_DESCRIPTION)
    if not description:
        raise Open311Error(400, "description is required")
    lat, lon = _coordinate(fields, "lat", 90.0), _coordinate(fields, "long", 180.0)
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long go together")
    address = _text(fields, "address_string", 200)
    media = _text(fields, "media_url", 500)
    if media and not media.lower().startswith(("https://", "http://")):
        raise Open311Error(400, "media_url is an http or https address")
    email = _text(fields, "email", 254)
    if email and not _EMAIL.fullmatch(email):
        raise Open311Error(400, "email is not an e-mail address")
    phone = re.sub(r"[\s().+-]", "", _text(fields, "phone", 40))
    if phone and not (phone.isascii() and phone.isdigit() and 6 <= len(phone) <= 15):
        raise Open311Error(400, "phone is 6 to 15 digits")
    name = " ".join(p for p in (_text(fields, "first_name", MAX_NAME),
                                _text(fields, "last_name", MAX_NAME)) if p)
    extra = [f"Dirección: {address}" if address else "",
             f"Ubicación: {lat:.6f}, {lon:.6f}" if lat is not None and lon is not None else "",
             f"Imagen: {media}" if media else ""]
    subject = "\n".join([description, *(e for e in extra if e)])
    return CaseRequest(service, subject, phone or None, name or None, email or None)


# --- keys and limits -----------------------------------------------------------------


class RateLimit:
    """At most ``limit`` events per key in any ``window_s`` seconds (a sliding window)."""

    def __init__(self, limit: int, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[int, deque[float]] = {}

    def allow(self, key: int) -> bool:
        now = self.clock()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        return True

    def retry_after(self, key: int) -> int:
        seen = self._seen.get(key)
        if not seen:
            return 0
        return max(1, math.ceil(seen[0] + self.window_s - self.clock()))


class Open311Desk:
    """Keys (made, revoked, checked) and requests filed with them."""

    def __init__(self, keys: KeyStore, lines: Lines, clock: Callable[[], datetime], *,
                 per_minute: int = 60, reads_per_minute: int = 600,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.keys = keys
        self.lines = lines
        self.clock = clock
        self.cases: CaseEntry | None = None  # set by the wiring
        self.filing = RateLimit(per_minute, clock=monotonic)
        self.reading = RateLimit(reads_per_minute, clock=monotonic)

    async def make_key(self, municipality: int, name: str, *, actor: str) -> tuple[int, str]:
        """A new key for the website or app ``name``: its id, and the key itself, which
        is never stored nor shown again."""
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise ValueError("a key needs the name of the site or app (up to 80 characters)")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = await self.keys.add_key(municipality, name, key_hash(key), actor=actor,
                                         now=self.clock())
        return key_id, key

    async def revoke(self, municipality: int, key_id: int, *, actor: str) -> bool:
        return await self.keys.revoke_key(municipality, key_id, actor=actor, now=self.clock())

    async def authenticate(self, given: str | None) -> ApiKey:
        """The live key ``given`` is, or a 403 that says no more than that."""
        refused = Open311Error(403, "invalid api_key")
        if not given or not _KEY.fullmatch(given):
            raise refused
        digest = key_hash(given)
        row = await self.keys.key_by_hash(digest)
        if row is None or not hmac.compare_digest(str(row["key_hash"]), digest) \
                or row["revoked_at"] is not None:
            raise refused
        return ApiKey(int(row["id"]), int(row["municipality_id"]), str(row["name"]))

    def may_read(self, key: ApiKey) -> None:
        if not self.reading.allow(key.id):
            raise Open311Error(429, "too many requests with this api_key; try again in "
                                    f"{self.reading.retry_after(key.id)} s")

    async def services(self, municipality: int, language: str = "es") -> list[Service]:
        return services(await self.lines(municipality), language)

    async def service_list(self, municipality: int, language: str = "es") -> list[dict[str, Any]]:
        return service_list(await self.services(municipality, language), language)

    async def file(self, key: ApiKey, fields: Mapping[str, str]) -> CaseReceipt:
        """File the case the request describes, in the key's municipality."""
        if not self.filing.allow(key.id):
            raise Open311Error(429, "too many requests with this api_key; try again in "
                                    f"{self.filing.retry_after(key.id)} s")
        request = read_request(fields, await self.services(key.municipality))
        if self.cases is None:
            raise Open311Error(503, "cases cannot be filed here yet")
        try:
            receipt = await self.cases.enter(
                municipality=key.municipality, kind=request.service.kind,
                area=request.service.area, intake="open311", subject=request.subject,
                caller=request.caller, contact_name=request.contact_name,
                contact_email=request.contact_email, actor=key.actor, api_key_id=key.id)
        except CaseRefused as exc:
            raise Open311Error(400, str(exc)) from None
        await self.keys.touch(key.id, self.clock())
        return receipt

    async def used(self, key: ApiKey) -> None:
        await self.keys.touch(key.id, self.clock())
