"""Zones in the database: the municipality's own, or the packaged sample until then."""

from __future__ import annotations

import json
from collections.abc import Sequence

import aiosqlite

from ivr.domain import zones as geo
from ivr.domain.zones import ZoneShape
from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso, utc_now


async def load(db: Database, municipality: int = 1) -> list[ZoneShape]:
    """A municipality's imported zones, or the sample zoning of Miraflores when none were."""
    rows = await db.fetchall("SELECT code, name, geometry FROM zones WHERE municipality_id = ?"
                             " ORDER BY length(code), code", (municipality,))
    if not rows:
        return geo.sample()
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": r["code"], "name": r["name"]},
         "geometry": json.loads(r["geometry"])} for r in rows]}
    return geo.parse(json.dumps(doc))


async def imported(db: Database, municipality: int = 1) -> bool:
    return await db.fetchone("SELECT 1 FROM zones WHERE municipality_id = ? LIMIT 1",
                             (municipality,)) is not None


async def replace_all(db: Database, shapes: Sequence[ZoneShape], actor: str,
                      municipality: int = 1) -> None:
    """Store ``shapes`` as the zones, in place of any before, with an audit event."""
    now = iso(utc_now())

    async def op(conn: aiosqlite.Connection) -> None:
        await conn.execute("DELETE FROM zones WHERE municipality_id = ?", (municipality,))
        for z in shapes:
            lon, lat = z.centroid
            await conn.execute(
                "INSERT INTO zones (municipality_id, code, name, geometry, centroid_lon,"
                " centroid_lat, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (municipality, z.code, z.name, json.dumps(z.geometry(), separators=(",", ":")),
                 lon, lat, now))
        await events.append(conn, None, "zones.imported", now, actor=actor,
                            data={"zones": [z.code for z in shapes]}, municipality=municipality)

    await db.write(op)
