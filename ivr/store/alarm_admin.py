"""Sites and devices of the silent alarms, as admins keep them (each change audited).

A site is the business; a device is what signals for it. Keys go in once and never come
back out: no read here returns them. A CSV import is all or nothing: every line is
checked first and every refusal named by its line; then all of it is written in one
transaction, which a device already known rolls back whole.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite

from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso

KINDS = ("dc09", "webhook", "contact_id")
CSV_COLUMNS = ("name", "address", "zone", "lat", "lon", "contact_name", "contact_phone", "kind",
               "account", "key", "poll_s", "time_zone", "tolerance_s")
MAX_IMPORT_LINES = 2000
_HEX = re.compile(r"[0-9A-Fa-f]+")
_PHONE = re.compile(r"\+?[0-9]{6,15}")
_ZONE = re.compile(r"[0-9A-Za-z-]{1,8}")
AUDITED = ("alarms.site_added", "alarms.device_added", "alarms.device_deactivated",
           "alarms.imported")


class AlarmAdminError(ValueError):
    """A site or device refused, with a message fit to show."""


class NoSuchSite(AlarmAdminError):
    """The site named is not one of this municipality's (whether or not it exists)."""


class AlarmImportError(AlarmAdminError):
    """A CSV refused whole, with every line's reason (``line N: ...``)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class SiteFields:
    name: str
    address: str = ""
    zone: str | None = None
    lat: float | None = None
    lon: float | None = None
    contacts: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeviceFields:
    kind: str
    account: str
    keys: list[str] = field(default_factory=list)
    time_zone: str = "UTC"
    tolerance_s: int = 60
    poll_s: int | None = None


def site_fields(name: str, *, address: str = "", zone: str | None = None,
                lat: float | None = None, lon: float | None = None,
                contacts: list[dict[str, str]] | None = None) -> SiteFields:
    name = " ".join(name.split())[:120]
    if not name:
        raise AlarmAdminError("a site needs the business's name")
    if (lat is None) != (lon is None) or (lat is not None and not (
            -90 <= lat <= 90 and -180 <= (lon or 0) <= 180)):
        raise AlarmAdminError("a position is a latitude and a longitude")
    zone = (zone or "").strip() or None
    if zone is not None and not _ZONE.fullmatch(zone):
        raise AlarmAdminError("a zone is its code (letters and digits)")
    return SiteFields(name, address.strip()[:200], zone, lat, lon, list(contacts or []))


def device_fields(kind: str, account: str, *, keys: list[str] | None = None,
                  time_zone: str = "UTC", tolerance_s: int = 60,
                  poll_s: int | None = None) -> DeviceFields:
    if kind not in KINDS:
        raise AlarmAdminError("a device is dc09, webhook or contact_id")
    account = account.strip().upper() if kind == "dc09" else account.strip()
    if not account or len(account) > 64:
        raise AlarmAdminError("a device needs its account or id")
    if not 5 <= tolerance_s <= 86400 or (poll_s is not None and not 10 <= poll_s <= 86400):
        raise AlarmAdminError("tolerance 5 s to 24 h; polls every 10 s to 24 h")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AlarmAdminError("unknown time zone (e.g. America/Lima)") from exc
    return DeviceFields(kind, account, list(keys or []), time_zone, tolerance_s, poll_s)


def check_key(kind: str, key: str) -> list[str]:
    """The keys a new device is given from what an admin typed (nothing: none)."""
    key = key.strip()
    if not key:
        return []
    if kind == "contact_id":
        raise AlarmAdminError("a Contact ID dialler has no key")
    if kind == "dc09":
        if len(key) not in (32, 48, 64) or not _HEX.fullmatch(key):
            raise AlarmAdminError("a DC-09 key is 32, 48 or 64 hexadecimal digits (AES)")
        return [key.upper()]
    if key.startswith("whsec_"):
        try:
            secret = base64.b64decode(key[6:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AlarmAdminError("a whsec_ secret is base64 after the prefix") from exc
        if len(secret) < 16:
            raise AlarmAdminError("a webhook secret has at least 16 bytes")
    elif len(key) < 16:
        raise AlarmAdminError("a webhook secret has at least 16 bytes")
    return [key]


def contact(name: str, phone: str) -> list[dict[str, str]]:
    name, phone = " ".join(name.split())[:80], phone.strip().replace(" ", "")
    if phone and not _PHONE.fullmatch(phone):
        raise AlarmAdminError("a contact's phone is 6 to 15 digits")
    return [{"name": name, "phone": phone}] if name or phone else []


async def _insert_site(conn: aiosqlite.Connection, municipality: int, site: SiteFields,
                       actor: str, at: str) -> int:
    cur = await conn.execute(
        "INSERT INTO alarm_sites (municipality_id, name, address, zone, lat, lon,"
        " contacts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (municipality, site.name, site.address, site.zone, site.lat, site.lon,
         json.dumps(site.contacts), at, at))
    site_id = cur.lastrowid
    assert site_id is not None
    await events.append(conn, None, "alarms.site_added", at, actor=actor,
                        data={"site": site_id, "name": site.name}, municipality=municipality)
    return site_id


async def _insert_device(conn: aiosqlite.Connection, municipality: int, site: int,
                         device: DeviceFields, actor: str, at: str) -> int:
    row = await (await conn.execute(
        "SELECT 1 FROM alarm_sites WHERE id = ? AND municipality_id = ?",
        (site, municipality))).fetchone()
    if row is None:
        raise NoSuchSite("no such site here")
    taken = await (await conn.execute(
        "SELECT 1 FROM alarm_devices WHERE kind = ? AND account = ?",
        (device.kind, device.account))).fetchone()
    if taken is not None:
        raise AlarmAdminError(f"a {device.kind} device {device.account} exists already")
    cur = await conn.execute(
        "INSERT INTO alarm_devices (site_id, municipality_id, kind, account, keys,"
        " time_zone, tolerance_s, poll_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (site, municipality, device.kind, device.account, json.dumps(device.keys),
         device.time_zone, device.tolerance_s, device.poll_s, at))
    device_id = cur.lastrowid
    assert device_id is not None
    await events.append(conn, None, "alarms.device_added", at, actor=actor,
                        data={"device": device_id, "site": site, "kind": device.kind,
                              "account": device.account}, municipality=municipality)
    return device_id


@dataclass(frozen=True, slots=True)
class ImportLine:
    line: int
    site: SiteFields
    device: DeviceFields | None  # a line may name a site only


def number(raw: str, name: str, kind: type[int] | type[float]) -> Any:
    """A number typed in a form or a CSV field (None when blank)."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        if not raw.isascii() or len(raw) > 24:
            raise ValueError(raw)
        return kind(raw)
    except ValueError as exc:
        raise AlarmAdminError(f"{name} is not a number") from exc


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def parse_csv(text: str) -> list[ImportLine]:
    """Sites and devices from CSV (the header names ``CSV_COLUMNS``, in any order):
    every line checked; AlarmImportError names every refused line."""
    try:
        return _parse_csv(text)
    except csv.Error as exc:
        raise AlarmImportError([f"not a CSV file ({exc})"]) from exc


def _parse_csv(text: str) -> list[ImportLine]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise AlarmImportError([f"line 1: missing columns {', '.join(missing)}"])
    reader.fieldnames = header
    lines: list[ImportLine] = []
    problems: list[str] = []
    for row in reader:
        line_no = reader.line_num
        if len(lines) + len(problems) >= MAX_IMPORT_LINES:
            raise AlarmImportError([f"at most {MAX_IMPORT_LINES} lines at once"])
        if None in row:
            problems.append(f"line {line_no}: more fields than columns")
            continue
        value = {k: (v or "").strip() for k, v in row.items() if k}
        if not any(value.values()):
            continue
        try:
            site = site_fields(
                value["name"], address=value["address"], zone=value["zone"],
                lat=number(value["lat"], "lat", float), lon=number(value["lon"], "lon", float),
                contacts=contact(value["contact_name"], value["contact_phone"]))
            device = None
            if value["kind"] or value["account"]:
                kind = value["kind"].lower()
                device = device_fields(
                    kind, value["account"], keys=check_key(kind, value["key"]) if
                    kind in KINDS else [], time_zone=value["time_zone"] or "UTC",
                    tolerance_s=_default(number(value["tolerance_s"], "tolerance_s", int), 60),
                    poll_s=number(value["poll_s"], "poll_s", int))
        except AlarmAdminError as exc:
            problems.append(f"line {line_no}: {exc}")
            continue
        lines.append(ImportLine(line_no, site, device))
    seen: dict[tuple[str, str], int] = {}
    for item in lines:
        if item.device is not None:
            key = (item.device.kind, item.device.account)
            if key in seen:
                problems.append(f"line {item.line}: the same device as line {seen[key]}")
            seen.setdefault(key, item.line)
    if problems:
        raise AlarmImportError(problems)
    if not lines:
        raise AlarmImportError(["line 2: no sites in the file"])
    return lines


class AlarmAdmin:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_site(self, municipality: int, name: str, *, address: str = "",
                       zone: str | None = None, lat: float | None = None,
                       lon: float | None = None, contacts: list[dict[str, str]] | None = None,
                       actor: str, now: datetime) -> int:
        site = site_fields(name, address=address, zone=zone, lat=lat, lon=lon,
                           contacts=contacts)
        at = iso(now)
        return await self.db.write(lambda conn: _insert_site(conn, municipality, site, actor,
                                                             at))

    async def add_device(self, municipality: int, site: int, kind: str, account: str, *,
                         keys: list[str] | None = None, time_zone: str = "UTC",
                         tolerance_s: int = 60, poll_s: int | None = None, actor: str,
                         now: datetime) -> int:
        device = device_fields(kind, account, keys=keys, time_zone=time_zone,
                               tolerance_s=tolerance_s, poll_s=poll_s)
        at = iso(now)
        return await self.db.write(lambda conn: _insert_device(conn, municipality, site, device,
                                                               actor, at))

    async def deactivate(self, municipality: int, device: int, *, actor: str,
                         now: datetime) -> None:
        """An active device of ``municipality`` stops being heard (and supervised);
        LookupError for any other id, whether or not it exists elsewhere."""
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> None:
            row = await (await conn.execute(
                "SELECT site_id, account, active FROM alarm_devices"
                " WHERE id = ? AND municipality_id = ?", (device, municipality))).fetchone()
            if row is None:
                raise LookupError("no such device")
            if not row[2]:
                return
            await conn.execute("UPDATE alarm_devices SET active = 0 WHERE id = ?", (device,))
            await events.append(conn, None, "alarms.device_deactivated", at, actor=actor,
                                data={"device": device, "site": row[0], "account": row[1]},
                                municipality=municipality)

        await self.db.write(op)

    async def import_lines(self, municipality: int, lines: Sequence[ImportLine], *,
                           actor: str, now: datetime) -> tuple[int, int]:
        """Write what ``parse_csv`` read, all or nothing: (sites added, devices added).
        Lines naming the same site (name and address) share it; a site already here by
        that name and address gets the new devices."""
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> tuple[int, int]:
            known = {(r[1], r[2]): r[0] for r in await (await conn.execute(
                "SELECT id, name, address FROM alarm_sites WHERE municipality_id = ?",
                (municipality,))).fetchall()}
            added_sites = added_devices = 0
            problems: list[str] = []
            for item in lines:
                key = (item.site.name, item.site.address)
                if key not in known:
                    known[key] = await _insert_site(conn, municipality, item.site, actor, at)
                    added_sites += 1
                if item.device is None:
                    continue
                try:
                    await _insert_device(conn, municipality, known[key], item.device, actor, at)
                    added_devices += 1
                except AlarmAdminError as exc:
                    problems.append(f"line {item.line}: {exc}")
            if problems:
                raise AlarmImportError(problems)  # the savepoint rolls every line back
            await events.append(conn, None, "alarms.imported", at, actor=actor,
                                data={"sites": added_sites, "devices": added_devices,
                                      "lines": len(lines)}, municipality=municipality)
            return added_sites, added_devices

        return await self.db.write(op)

    async def devices(self, municipality: int) -> list[dict[str, Any]]:
        """Every device of ``municipality`` with its site; never its keys."""
        rows = await self.db.fetchall(
            "SELECT d.id, d.kind, d.account, d.poll_s, d.link, d.last_seen_at, d.link_lost_at,"
            " d.last_test_at, d.time_zone, d.tolerance_s, d.created_at, d.active,"
            " d.keys != '[]' AS has_key, s.id AS site_id, s.name AS site, s.address, s.zone"
            " FROM alarm_devices d JOIN alarm_sites s ON s.id = d.site_id"
            " WHERE d.municipality_id = ? ORDER BY s.name, d.id", (municipality,))
        return [dict(r) for r in rows]

    async def sites(self, municipality: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT id, name, address, zone, lat, lon, contacts, created_at FROM alarm_sites"
            " WHERE municipality_id = ? ORDER BY name, id", (municipality,))
        return [{**dict(r), "contacts": json.loads(r["contacts"] or "[]")} for r in rows]

    async def changes(self, municipality: int, limit: int = 30) -> list[dict[str, Any]]:
        """The latest changes to sites and devices (the audit)."""
        rows = await self.db.fetchall(
            "SELECT id, at, actor, kind, data FROM events WHERE municipality_id = ?"
            " AND report_id IS NULL AND kind IN (?, ?, ?, ?) ORDER BY id DESC LIMIT ?",
            (municipality, *AUDITED, limit))
        return [{**dict(r), "data": json.loads(r["data"] or "{}")} for r in rows]
