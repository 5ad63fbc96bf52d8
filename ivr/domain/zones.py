"""Zones as shapes: read and check a GeoJSON file, and the little geometry maps need.

A municipality draws its own zones; ``alerta zones import FILE.geojson`` checks the
file here (polygons or multipolygons only, a ``code`` on every feature, size
limits) and stores them in the ``zones`` table. Until then the sample zoning of
Miraflores that ships with the package is used. No I/O but for reading the
packaged sample: the store module below is the only one that writes.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ZONES = 500
MAX_VERTICES_PER_ZONE = 20_000
MAX_VERTICES = 200_000
SAMPLE = "miraflores-zones.geojson"

Ring = tuple[tuple[float, float], ...]  # (lon, lat) positions, closed
Polygon = tuple[Ring, ...]  # outer ring first, then holes


class ZoneImportError(ValueError):
    """A zones file that cannot be used, with the reason in words."""


@dataclass(frozen=True, slots=True)
class ZoneShape:
    code: str
    name: str
    polygons: tuple[Polygon, ...]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of the outer rings."""
        xs = [x for poly in self.polygons for x, _ in poly[0]]
        ys = [y for poly in self.polygons for _, y in poly[0]]
        return min(xs), min(ys), max(xs), max(ys)

    def contains(self, lon: float, lat: float) -> bool:
        for poly in self.polygons:
            if _in_ring(poly[0], lon, lat) and not any(_in_ring(h, lon, lat) for h in poly[1:]):
                return True
        return False

    @property
    def centroid(self) -> tuple[float, float]:
        """Area-weighted centroid (lon, lat) of the zone; its generalised location."""
        total = cx = cy = 0.0
        for poly in self.polygons:
            for n, ring in enumerate(poly):
                a, x, y = _ring_moments(ring)
                sign = -1.0 if n else 1.0  # holes take their area away
                total += sign * abs(a)
                cx += sign * abs(a) * x
                cy += sign * abs(a) * y
        if total <= 0:
            x0, y0, x1, y1 = self.bbox
            return (x0 + x1) / 2, (y0 + y1) / 2
        return cx / total, cy / total

    def geometry(self) -> dict[str, Any]:
        coords = [[[list(p) for p in ring] for ring in poly] for poly in self.polygons]
        if len(coords) == 1:
            return {"type": "Polygon", "coordinates": coords[0]}
        return {"type": "MultiPolygon", "coordinates": coords}


def _in_ring(ring: Ring, x: float, y: float) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def _ring_moments(ring: Ring) -> tuple[float, float, float]:
    """Signed area and centroid of one ring (shoelace)."""
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(ring):
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    a /= 2
    if a == 0:
        return 0.0, ring[0][0], ring[0][1]
    return a, cx / (6 * a), cy / (6 * a)


def _position(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) < 2:
        raise ZoneImportError(f"{where}: a position must be [lon, lat]")
    lon, lat = value[0], value[1]
    for v in (lon, lat):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ZoneImportError(f"{where}: coordinates must be numbers")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ZoneImportError(f"{where}: [{lon}, {lat}] is not a longitude, latitude pair")
    return float(lon), float(lat)


def _ring(value: Any, where: str) -> Ring:
    if not isinstance(value, list) or len(value) < 4:
        raise ZoneImportError(f"{where}: a ring needs at least 4 positions")
    ring = tuple(_position(p, where) for p in value)
    if ring[0] != ring[-1]:
        raise ZoneImportError(f"{where}: a ring must end where it starts")
    if abs(_ring_moments(ring)[0]) == 0:
        raise ZoneImportError(f"{where}: a ring encloses no area")
    return ring


def _polygon(value: Any, where: str) -> Polygon:
    if not isinstance(value, list) or not value:
        raise ZoneImportError(f"{where}: a polygon is a list of rings")
    return tuple(_ring(r, f"{where}, ring {n}") for n, r in enumerate(value, 1))


def _geometry(geometry: Any, where: str) -> tuple[Polygon, ...]:
    if not isinstance(geometry, dict):
        raise ZoneImportError(f"{where}: no geometry")
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        return (_polygon(coords, where),)
    if kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise ZoneImportError(f"{where}: an empty multipolygon")
        return tuple(_polygon(p, f"{where}, part {n}") for n, p in enumerate(coords, 1))
    raise ZoneImportError(f"{where}: geometry {kind!r} is not a Polygon or MultiPolygon")


def _code(properties: dict[str, Any], where: str) -> str:
    raw = properties.get("code")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ZoneImportError(f"{where}: properties.code is missing")
    code = str(raw).strip()
    if not (code.isascii() and code.isdigit() and 1 <= len(code) <= 4):
        raise ZoneImportError(f"{where}: code {code!r} must be 1 to 4 digits (a keypad zone)")
    return code


def parse(text: str | bytes) -> list[ZoneShape]:
    """A GeoJSON FeatureCollection (or one Feature) → zones, or ZoneImportError."""
    if len(text) > MAX_FILE_BYTES:
        raise ZoneImportError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ZoneImportError(f"not JSON: {exc}") from exc
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc]}
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ZoneImportError("expected a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise ZoneImportError("the collection has no features")
    if len(features) > MAX_ZONES:
        raise ZoneImportError(f"more than {MAX_ZONES} zones")
    zones: list[ZoneShape] = []
    seen: set[str] = set()
    vertices = 0
    for n, feature in enumerate(features, 1):
        where = f"feature {n}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise ZoneImportError(f"{where}: not a Feature")
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise ZoneImportError(f"{where}: properties must be an object")
        code = _code(properties, where)
        where = f"zone {code}"
        if code in seen:
            raise ZoneImportError(f"{where} appears twice")
        seen.add(code)
        polygons = _geometry(feature.get("geometry"), where)
        count = sum(len(r) for p in polygons for r in p)
        if count > MAX_VERTICES_PER_ZONE:
            raise ZoneImportError(f"{where}: more than {MAX_VERTICES_PER_ZONE} vertices")
        vertices += count
        if vertices > MAX_VERTICES:
            raise ZoneImportError(f"more than {MAX_VERTICES} vertices in all")
        name = properties.get("name")
        name = str(name).strip()[:80] if isinstance(name, str | int) and str(name).strip() else (
            f"Zona {code}"
        )
        zones.append(ZoneShape(code, name, polygons))
    return zones


def sample() -> list[ZoneShape]:
    """The approximate sample zoning of Miraflores shipped with the package."""
    return list(_sample())


@functools.cache
def _sample() -> tuple[ZoneShape, ...]:
    text = (resources.files("ivr") / "data" / SAMPLE).read_text(encoding="utf-8")
    return tuple(parse(text))


def zone_of(zones: Iterable[ZoneShape], lon: float, lat: float) -> str | None:
    return next((z.code for z in zones if z.contains(lon, lat)), None)


class Locator:
    """``zone_of`` for many points: each zone's box is checked before its rings."""

    def __init__(self, zones: Iterable[ZoneShape]) -> None:
        self._zones = [(z.bbox, z) for z in zones]

    def zone_of(self, lon: float, lat: float) -> str | None:
        for (x0, y0, x1, y1), z in self._zones:
            if x0 <= lon <= x1 and y0 <= lat <= y1 and z.contains(lon, lat):
                return z.code
        return None


def bounds(zones: Sequence[ZoneShape]) -> tuple[float, float, float, float]:
    boxes = [z.bbox for z in zones]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def to_feature_collection(zones: Sequence[ZoneShape]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": z.code, "name": z.name},
             "geometry": z.geometry()}
            for z in zones
        ],
    }
