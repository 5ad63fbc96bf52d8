"""What the console reads of the silent alarms: the board (open alarm reports with their
site and the codes heard), the banner's alarms nobody has taken, and the figures of the
responsible-use report (false alarms by device and business, link losses).

Every read is of one municipality. The tallies are pure functions over those reads, on
the municipality's own calendar (a month is its local month).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ivr.domain.reports import OPEN_STATES_SQL
from ivr.store.db import Database
from ivr.store.reports import iso

BOARD_LIMIT = 200
SIGNALS_PER_ALARM = 12
SCAN_LIMIT = 50_000
LINK_KINDS = ("alarm.link_lost", "alarm.link_restored")

_ALARM = (
    "SELECT r.id, r.type, r.state, r.created_at, r.zone, r.lat, r.lon, r.caller,"
    " d.id AS device_id, d.kind AS device_kind, d.account, d.link, s.id AS site_id,"
    " s.name AS site, s.address, s.contacts"
    " FROM reports r JOIN alarm_devices d ON d.id = r.alarm_device_id"
    " JOIN alarm_sites s ON s.id = d.site_id"
)


def _alarm(row: Any) -> dict[str, Any]:
    item = dict(row)
    item["contacts"] = json.loads(item.get("contacts") or "[]")
    return item


class AlarmViews:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open_alarms(self, municipality: int, limit: int = BOARD_LIMIT
                          ) -> list[dict[str, Any]]:
        """Open alarm reports, newest first, each with its site and the signals heard."""
        rows = await self.db.fetchall(
            _ALARM + f" WHERE r.municipality_id = ? AND r.state IN {OPEN_STATES_SQL}"
            " AND r.alarm_device_id IS NOT NULL ORDER BY r.created_at DESC, r.id DESC LIMIT ?",
            (municipality, limit))
        alarms = [_alarm(r) for r in rows]
        await self._attach_signals(alarms)
        return alarms

    async def pending(self, municipality: int, limit: int = 20) -> list[dict[str, Any]]:
        """Alarm reports nobody has taken yet (still ``received``), newest first."""
        rows = await self.db.fetchall(
            _ALARM + " WHERE r.municipality_id = ? AND r.state = 'received'"
            " AND r.alarm_device_id IS NOT NULL ORDER BY r.created_at DESC, r.id DESC LIMIT ?",
            (municipality, limit))
        alarms = [_alarm(r) for r in rows]
        await self._attach_signals(alarms)
        return alarms

    async def alarm(self, report: int, municipality: int) -> dict[str, Any] | None:
        """The alarm report ``report`` of ``municipality``, or None (not one, or not here)."""
        row = await self.db.fetchone(
            _ALARM + " WHERE r.id = ? AND r.municipality_id = ?", (report, municipality))
        return _alarm(row) if row is not None else None

    async def _attach_signals(self, alarms: list[dict[str, Any]]) -> None:
        """Each alarm's signals: the one that opened it, and whatever its device said
        after (a restore, a trouble, a test), not another alarm's."""
        for alarm in alarms:
            alarm["signals"] = []
        if not alarms:
            return
        devices = sorted({a["device_id"] for a in alarms})
        since = min(a["created_at"] for a in alarms)
        rows = await self.db.fetchall(
            "SELECT device_id, kind, code, zone, received_at, report_id FROM alarm_signals"
            f" WHERE device_id IN ({','.join('?' * len(devices))}) AND received_at >= ?"
            " ORDER BY received_at, id LIMIT ?", (*devices, since, SCAN_LIMIT))
        for alarm in alarms:
            mine = [dict(r) for r in rows if r["device_id"] == alarm["device_id"] and (
                r["report_id"] == alarm["id"] or (r["report_id"] is None and r["kind"] != "poll"
                                                  and r["received_at"] >= alarm["created_at"]))]
            alarm["signals"] = mine[:SIGNALS_PER_ALARM]

    # --- responsible use -----------------------------------------------------------

    async def alarm_reports_since(self, municipality: int, since: datetime
                                  ) -> list[dict[str, Any]]:
        """Every alarm report since ``since``: when, its state, its device and site."""
        rows = await self.db.fetchall(
            "SELECT r.id, r.created_at, r.state, r.alarm_device_id AS device_id,"
            " d.site_id FROM reports r JOIN alarm_devices d ON d.id = r.alarm_device_id"
            " WHERE r.municipality_id = ? AND r.alarm_device_id IS NOT NULL"
            " AND r.created_at >= ? ORDER BY r.created_at LIMIT ?",
            (municipality, iso(since), SCAN_LIMIT))
        return [dict(r) for r in rows]

    async def devices(self, municipality: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT d.id, d.kind, d.account, d.active, d.link, d.link_lost_at, s.id AS site_id,"
            " s.name AS site, s.address FROM alarm_devices d"
            " JOIN alarm_sites s ON s.id = d.site_id WHERE d.municipality_id = ?"
            " ORDER BY s.name, d.id", (municipality,))
        return [dict(r) for r in rows]

    async def link_events(self, municipality: int, since: datetime) -> list[dict[str, Any]]:
        """The municipality's link lost/restored events since ``since``, oldest first."""
        rows = await self.db.fetchall(
            "SELECT id, kind, at, data FROM events WHERE report_id IS NULL"
            " AND municipality_id = ? AND kind IN (?, ?) AND at >= ? ORDER BY id LIMIT ?",
            (municipality, *LINK_KINDS, iso(since), SCAN_LIMIT))
        return [{**dict(r), "data": json.loads(r["data"] or "{}")} for r in rows]


def month_start(moment: datetime, zone: ZoneInfo, back: int = 0) -> datetime:
    """The start of the local month ``back`` months before the one ``moment`` is in."""
    local = moment.astimezone(zone)
    index = local.year * 12 + local.month - 1 - back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=zone)


def month_of(stamp: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m")


@dataclass
class DeviceUse:
    device: dict[str, Any]
    alarms: Counter[str] = field(default_factory=Counter)  # by month
    false: Counter[str] = field(default_factory=Counter)


@dataclass
class LinkLoss:
    device: dict[str, Any]
    lost_at: str
    restored_at: str | None  # None: still lost
    seconds: float


def tally(devices: Sequence[dict[str, Any]], reports: Iterable[dict[str, Any]],
          zone: ZoneInfo) -> dict[int, DeviceUse]:
    """Alarms and false alarms (``false_report``) of each device, by local month."""
    uses = {d["id"]: DeviceUse(d) for d in devices}
    for report in reports:
        use = uses.get(report["device_id"])
        if use is None:
            continue
        month = month_of(report["created_at"], zone)
        use.alarms[month] += 1
        if report["state"] == "false_report":
            use.false[month] += 1
    return uses


def by_business(uses: dict[int, DeviceUse], months: Sequence[str]
                ) -> list[dict[str, Any]]:
    """Each business's false alarms and alarms per month (its devices together)."""
    sites: dict[int, dict[str, Any]] = {}
    for use in uses.values():
        site = sites.setdefault(use.device["site_id"], {
            "site_id": use.device["site_id"], "site": use.device["site"],
            "address": use.device["address"], "false": defaultdict(int),
            "alarms": defaultdict(int)})
        for month in months:
            site["false"][month] += use.false[month]
            site["alarms"][month] += use.alarms[month]
    out = [s for s in sites.values() if any(s["alarms"].values())]
    return sorted(out, key=lambda s: (-sum(s["false"].values()), s["site"]))


def link_losses(devices: Sequence[dict[str, Any]], link_events: Iterable[dict[str, Any]],
                now: datetime) -> list[LinkLoss]:
    """Every loss of a device's link from the events (a loss still open counts to now;
    a device lost before the events read counts from its ``link_lost_at``), longest
    first."""
    known = {d["id"]: d for d in devices}
    open_since: dict[int, str] = {}
    losses: list[LinkLoss] = []
    for event in link_events:
        device = event["data"].get("device")
        if device not in known:
            continue
        if event["kind"] == "alarm.link_lost":
            open_since.setdefault(device, event["at"])
        elif device in open_since:
            lost = open_since.pop(device)
            losses.append(LinkLoss(known[device], lost, event["at"], _seconds(lost, event["at"])))
    for device in devices:
        if device["link"] == "lost" and device["active"]:
            lost = open_since.pop(device["id"], "") or device["link_lost_at"]
            if lost:
                losses.append(LinkLoss(device, lost, None, _seconds(lost, now)))
    return sorted(losses, key=lambda loss: -loss.seconds)


def _seconds(start: str, end: str | datetime) -> float:
    finish = end if isinstance(end, datetime) else datetime.fromisoformat(end)
    return max(0.0, (finish - datetime.fromisoformat(start)).total_seconds())


def months_back(now: datetime, zone: ZoneInfo, count: int) -> list[str]:
    """The last ``count`` local months, oldest first, this one last (``YYYY-MM``)."""
    return [month_start(now, zone, back).strftime("%Y-%m") for back in range(count - 1, -1, -1)]
