"""Zones from GeoJSON: the sample, the checks on an imported file, ``alerta zones import``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ivr.cli import main
from ivr.config import Settings
from ivr.domain import zones
from ivr.domain.zones import ZoneImportError
from ivr.store import engine as store_engine
from ivr.store import zonestore

pytestmark = pytest.mark.store

SQUARE = [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]
HOLE = [[0.5, 0.5], [0.5, 1.5], [1.5, 1.5], [1.5, 0.5], [0.5, 0.5]]


def collection(*features: dict[str, Any]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def feature(code: Any, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code, **props}, "geometry": geometry}


def test_the_sample_is_fourteen_zones_of_miraflores_and_says_it_is_not_official() -> None:
    sample = zones.sample()
    assert [z.code for z in sample] == [str(n) for n in range(1, 15)]
    assert [z.code for z in sample] == [z.code for z in Settings().zones]
    x0, y0, x1, y1 = zones.bounds(sample)
    assert -77.06 < x0 < x1 < -77.0 and -12.14 < y0 < y1 < -12.09
    for z in sample:
        lon, lat = z.centroid
        assert z.contains(lon, lat), z.code  # every sample zone holds its own centre
    text = (Path(zones.__file__).parent.parent / "data" / zones.SAMPLE).read_text()
    assert "NOT an official map" in text
    # No point lies in two zones.
    locator = zones.Locator(sample)
    for z in sample:
        lon, lat = z.centroid
        assert locator.zone_of(lon, lat) == z.code
        assert sum(other.contains(lon, lat) for other in sample) == 1


def test_polygons_with_holes_and_multipolygons() -> None:
    [with_hole] = zones.parse(collection(feature(
        "1", {"type": "Polygon", "coordinates": [SQUARE[0], HOLE]})))
    assert with_hole.contains(0.25, 0.25) and not with_hole.contains(1.0, 1.0)
    assert not with_hole.contains(3, 3)
    [two] = zones.parse(collection(feature(
        7, {"type": "MultiPolygon", "coordinates": [SQUARE, [[[5, 5], [6, 5], [6, 6], [5, 5]]]]},
        name="Dos partes")))
    assert two.code == "7" and two.name == "Dos partes" and two.contains(5.7, 5.2)
    assert two.geometry()["type"] == "MultiPolygon"


@pytest.mark.parametrize("doc, reason", [
    ("[]", "FeatureCollection"),
    ("{not json", "not JSON"),
    (collection(), "no features"),
    (collection(feature(None, {"type": "Polygon", "coordinates": SQUARE})), "code is missing"),
    (collection(feature("A1", {"type": "Polygon", "coordinates": SQUARE})), "1 to 4 digits"),
    (collection(feature("12345", {"type": "Polygon", "coordinates": SQUARE})), "1 to 4 digits"),
    (collection(feature("1", {"type": "Point", "coordinates": [0, 0]})), "not a Polygon"),
    (collection(feature("1", {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]})),
     "at least 4"),
    (collection(feature("1", {"type": "Polygon",
                              "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]})), "end where"),
    (collection(feature("1", {"type": "Polygon",
                              "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]})),
     "longitude"),
    (collection(feature("1", {"type": "Polygon",
                              "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]})), "no area"),
    (collection(feature("1", {"type": "Polygon", "coordinates": SQUARE}),
                feature("1", {"type": "Polygon", "coordinates": SQUARE})), "twice"),
    (collection(*[feature(str(n), {"type": "Polygon", "coordinates": SQUARE})
                  for n in range(1, 502)]), "more than 500"),
])
def test_a_bad_file_is_refused_with_its_reason(doc: str, reason: str) -> None:
    with pytest.raises(ZoneImportError, match=reason):
        zones.parse(doc)


def test_size_limits() -> None:
    with pytest.raises(ZoneImportError, match="larger than"):
        zones.parse(" " * (zones.MAX_FILE_BYTES + 1))
    ring = [[i * 1e-4, 0] for i in range(20_001)] + [[1, 1], [0, 0]]
    with pytest.raises(ZoneImportError, match="vertices"):
        zones.parse(collection(feature("1", {"type": "Polygon", "coordinates": [ring]})))


async def test_import_replaces_the_zones_and_is_audited(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    use_database(settings, tmp_path, monkeypatch)
    good = tmp_path / "zonas.geojson"
    good.write_text(collection(
        feature("1", {"type": "Polygon", "coordinates": SQUARE}, name="Centro"),
        feature("99", {"type": "Polygon", "coordinates": [[[3, 3], [4, 3], [4, 4], [3, 3]]]})))
    bad = tmp_path / "mal.geojson"
    bad.write_text(collection(feature("x", {"type": "Polygon", "coordinates": SQUARE})))
    assert await _run(["zones", "import", str(bad)]) == 2
    assert "1 to 4 digits" in capsys.readouterr().err
    assert await _run(["zones", "import", str(good)]) == 0
    out = capsys.readouterr()
    assert "imported 2 zones" in out.out
    assert "zones 99 are not in the settings' zones" in out.err  # not a keypad zone
    assert "zones 2, 3, 4" in out.err  # keypad zones without a shape
    async with store_engine.database(settings.database) as db:
        loaded = await zonestore.load(db)
        assert [(z.code, z.name) for z in loaded] == [("1", "Centro"), ("99", "Zona 99")]
        events = await db.fetchall("SELECT actor, data FROM events WHERE kind = 'zones.imported'")
        assert [(e["actor"], json.loads(e["data"])["zones"]) for e in events] == [
            ("cli", ["1", "99"])]


def use_database(settings: Settings, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line on this test's store: a SQLite file or a PostgreSQL address.

    Named in a settings file: a ``postgresql://`` address in ALERTA_DATABASE is taken
    for a file name for now (ivr/config.py coerces it as a path)."""
    config = folder / "alerta.toml"
    config.write_text(f"database = {json.dumps(str(settings.database))}\n", encoding="utf-8")
    monkeypatch.setenv("ALERTA_CONFIG", str(config))
    monkeypatch.delenv("ALERTA_DATABASE", raising=False)
    monkeypatch.setenv("ALERTA_LOG_LEVEL", "WARNING")


async def _run(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)


async def test_without_an_import_the_sample_is_used(settings: Settings) -> None:
    async with store_engine.database(settings.database) as db:
        assert not await zonestore.imported(db)
        assert len(await zonestore.load(db)) == 14
