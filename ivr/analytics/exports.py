"""Reports out, as the dashboard's filters select them: CSV, XLSX and GeoJSON.

The rows come from ``ivr.store.export_rows`` (a read-only connection of its own to
the database the setting names, SQLite file or PostgreSQL, in chunks).
CSV and GeoJSON stream as they are read; XLSX is written by xlsxwriter in
constant-memory mode to a temporary file in a worker thread, then sent. What
leaves is for analysis: no caller numbers, no notes, no summaries, no clips.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]

from ivr.domain.municipalities import number_of
from ivr.store import export_rows
from ivr.store.export_rows import COLUMNS
from ivr.store.panels import Filters
from ivr.store.rollup import Clock

HEADER = ("report", "created_utc", "created_local", *COLUMNS[2:])
XLSX_MAX_ROWS = 1_048_575  # Excel's limit, less the header; more rows go on another sheet
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading quote (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _local(clock: Clock, created: str) -> str:
    try:
        return clock.local(datetime.fromisoformat(created)).isoformat(timespec="seconds")
    except ValueError:
        return ""


def row_values(row: Sequence[Any], clock: Clock) -> list[Any]:
    """A row as the municipality knows it: report numbers are its own (``number_of``)."""
    values = list(row)
    if values[-1] is not None:  # duplicate_of
        values[-1] = number_of(values[-1])
    return [number_of(values[0]), values[1], _local(clock, values[1]), *values[2:]]


async def csv_chunks(location: Path | str, f: Filters, clock: Clock) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # so a spreadsheet reads the accents as UTF-8
    writer.writerow(HEADER)
    async for chunk in export_rows.chunks(location, f, clock):
        for row in chunk:
            writer.writerow([safe_cell(v) for v in row_values(row, clock)])
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def feature(row: Sequence[Any], clock: Clock,
            centroids: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    values = row_values(row, clock)
    props = dict(zip(HEADER, values, strict=True))
    lat, lon = props.pop("lat"), props.pop("lon")
    if lat is not None and lon is not None:
        geometry: dict[str, Any] | None = {"type": "Point", "coordinates": [lon, lat]}
        props["location"] = "exact"
    elif props["zone"] in centroids:
        zlon, zlat = centroids[props["zone"]]
        geometry = {"type": "Point", "coordinates": [round(zlon, 6), round(zlat, 6)]}
        props["location"] = "zone"
    else:
        geometry, props["location"] = None, "none"
    return {"type": "Feature", "id": props["report"], "geometry": geometry, "properties": props}


async def geojson_chunks(location: Path | str, f: Filters, clock: Clock,
                         centroids: Mapping[str, tuple[float, float]]) -> AsyncIterator[bytes]:
    yield b'{"type": "FeatureCollection", "features": [\n'
    first = True
    async for chunk in export_rows.chunks(location, f, clock):
        parts = [json.dumps(feature(row, clock, centroids), ensure_ascii=False,
                            separators=(",", ":")) for row in chunk]
        text = ",\n".join(parts)
        yield (text if first else ",\n" + text).encode("utf-8")
        first = False
    yield b"\n]}\n"


def write_xlsx(location: Path | str, f: Filters, clock: Clock, target: Path) -> int:
    """Write the XLSX file (call it in a worker thread); return the rows written."""
    workbook = xlsxwriter.Workbook(str(target), {"constant_memory": True,
                                                 "strings_to_formulas": False,
                                                 "strings_to_urls": False})
    try:
        bold = workbook.add_format({"bold": True})
        rows = 0
        sheet = None
        line = 0
        for row in export_rows.rows(location, f, clock):
            if sheet is None or line > XLSX_MAX_ROWS:
                sheet = workbook.add_worksheet(f"reports {rows // XLSX_MAX_ROWS + 1}")
                sheet.write_row(0, 0, HEADER, bold)
                sheet.freeze_panes(1, 0)
                line = 1
            sheet.write_row(line, 0, row_values(row, clock))  # text stays text: no formulas
            line += 1
            rows += 1
        if sheet is None:
            workbook.add_worksheet("reports").write_row(0, 0, HEADER, bold)
    finally:
        workbook.close()
    return rows
