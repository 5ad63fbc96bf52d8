"""The caller directory: a known number's address, zone and coordinates."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import aiosqlite

from ivr.core.ports import Location
from ivr.domain.numbers import usable_caller_id
from ivr.store.db import Database
from ivr.store.reports import iso, utc_now

CSV_COLUMNS = ("number", "address", "zone", "lat", "lon")


class DirectoryImportError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ImportResult:
    imported: int
    rejected: list[str]  # "line N: why"


class CallerDirectory:
    """Implements ``ivr.core.ports.Directory``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def lookup(self, number: str, municipality: int = 1) -> Location | None:
        row = await self.db.fetchone(
            "SELECT address, zone, lat, lon FROM directory WHERE municipality_id = ?"
            " AND number = ?", (municipality, number)
        )
        if row is None:
            return None
        return Location(
            zone=row["zone"], address=row["address"] or None, lat=row["lat"], lon=row["lon"],
            source="directory",
        )

    async def zones(self, municipality: int) -> frozenset[str]:
        rows = await self.db.fetchall("SELECT code FROM zones WHERE municipality_id = ?",
                                      (municipality,))
        return frozenset(str(r[0]) for r in rows)

    async def import_csv(self, text: str, municipality: int = 1) -> ImportResult:
        """Load ``number,address,zone,lat,lon`` rows (header required); bad rows are listed."""
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or "number" not in reader.fieldnames:
            raise DirectoryImportError("the CSV needs a header with at least a 'number' column")
        unknown = set(reader.fieldnames) - set(CSV_COLUMNS)
        if unknown:
            raise DirectoryImportError(f"unknown columns: {', '.join(sorted(unknown))}")
        rows: list[tuple[int, str, str, str | None, float | None, float | None, str]] = []
        rejected: list[str] = []
        now = iso(utc_now())
        for line_no, item in enumerate(reader, start=2):
            number = usable_caller_id((item.get("number") or "").strip())
            if number is None:
                rejected.append(f"line {line_no}: {item.get('number')!r} is not a phone number")
                continue
            try:
                lat = float(item["lat"]) if item.get("lat") else None
                lon = float(item["lon"]) if item.get("lon") else None
            except ValueError:
                rejected.append(f"line {line_no}: lat/lon must be numbers")
                continue
            if (lat is not None and not -90 <= lat <= 90) or (
                lon is not None and not -180 <= lon <= 180
            ):
                rejected.append(f"line {line_no}: lat/lon out of range")
                continue
            zone = (item.get("zone") or "").strip() or None
            rows.append((municipality, number, (item.get("address") or "").strip(), zone, lat,
                         lon, now))

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "INSERT INTO directory (municipality_id, number, address, zone, lat, lon,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (municipality_id, number) DO UPDATE SET"
                " address = excluded.address, zone = excluded.zone, lat = excluded.lat,"
                " lon = excluded.lon, updated_at = excluded.updated_at",
                rows,
            )

        await self.db.write(op)
        return ImportResult(len(rows), rejected)
