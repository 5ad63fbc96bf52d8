"""Charts as SVG text, drawn here: no script, no font and no map tile from anywhere.

Every chart carries a <title> and a <desc> (read by screen readers), exact
numbers in a <title> on each bar or cell (the browser's tooltip) and on the
bars themselves where they fit. Colours are presentation attributes, which the
console's Content-Security-Policy allows (a style attribute it would block).
The same SVG goes into the committee report's PDF (fpdf2 draws it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from ivr.domain.zones import ZoneShape, bounds
from ivr.store.analytics_schema import CELL_ROW, CELLS_PER_DEGREE


@dataclass(frozen=True)
class Theme:
    background: str
    text: str
    muted: str
    grid: str
    outline: str
    palette: tuple[str, ...]
    font: str


DARK = Theme("#18202a", "#e8edf3", "#93a1b3", "#2a3543", "#c8d3df",
             ("#4fa3ff", "#f5b14c", "#3ecf8e", "#ff7a7a", "#b48cff", "#5ad1d1", "#e7e07a"),
             "DejaVu Sans, Verdana, sans-serif")
LIGHT = Theme("#ffffff", "#111111", "#555555", "#dddddd", "#333333",
              ("#1f6fd1", "#d9822b", "#1c9e63", "#d64545", "#7b52c7", "#1a9a9a", "#9a8a00"),
              "Helvetica")
# A sequential scale (dark violet → teal → yellow) that reads on both backgrounds.
SCALE = ("#3b1f6b", "#2c5f9e", "#1f9a8a", "#5cc863", "#fde725")


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def number(value: float) -> str:
    """1234567 → 1,234,567 (no decimals for counts)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i:i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))


def shade(value: float, top: float) -> str:
    """The scale's colour for ``value`` out of ``top`` (square-root: small counts still show)."""
    if top <= 0 or value <= 0:
        return SCALE[0]
    t = min(1.0, math.sqrt(value / top)) * (len(SCALE) - 1)
    i = min(int(t), len(SCALE) - 2)
    return _mix(SCALE[i], SCALE[i + 1], t - i)


class Svg:
    def __init__(self, key: str, width: int, height: int, title: str, desc: str,
                 theme: Theme) -> None:
        self.key, self.width, self.height, self.theme = key, width, height, theme
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-{key}"'
            f' width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
            f' aria-labelledby="chart-{key}-t chart-{key}-d" font-family={quoteattr(theme.font)}>',
            f'<title id="chart-{key}-t">{escape(title)}</title>',
            f'<desc id="chart-{key}-d">{escape(desc)}</desc>',
            f'<rect width="{width}" height="{height}" fill="{theme.background}"/>',
        ]

    def text(self, x: float, y: float, value: str, *, size: int = 11, anchor: str = "start",
             fill: str | None = None, weight: str = "normal") -> None:
        self.parts.append(
            f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}" text-anchor="{anchor}"'
            f' font-weight="{weight}" fill="{fill or self.theme.text}">{escape(value)}</text>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str = "",
             extra: str = "") -> None:
        tip_el = f"<title>{escape(tip)}</title>" if tip else ""
        self.parts.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0))}"'
                          f' height="{_n(max(h, 0))}" fill="{fill}"{extra}>{tip_el}</rect>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str,
             width: float = 1) -> None:
        self.parts.append(f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}"'
                          f' stroke="{stroke}" stroke-width="{_n(width)}"/>')

    def legend(self, names: Sequence[str], x: float, y: float) -> None:
        for i, name in enumerate(names):
            colour = self.theme.palette[i % len(self.theme.palette)]
            self.rect(x, y + i * 16 - 9, 10, 10, colour)
            self.text(x + 15, y + i * 16, name, size=11)

    def done(self) -> str:
        return "\n".join([*self.parts, "</svg>"])


def _nice_top(value: float) -> float:
    """The axis top: four ticks of a round, whole size (counts have no halves)."""
    raw = max(value / 4, 1.0)
    power = float(10 ** math.floor(math.log10(raw)))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        tick = step * power
        if tick >= raw and tick == int(tick):
            return 4 * tick
    return 40 * power


def _axis(svg: Svg, left: float, top: float, right: float, bottom: float, peak: float) -> None:
    for i in range(5):
        value = peak * i / 4
        y = bottom - (bottom - top) * i / 4
        svg.line(left, y, right, y, svg.theme.grid)
        svg.text(left - 6, y + 4, number(value), size=10, anchor="end", fill=svg.theme.muted)


def _wrap(label: str, room: float) -> list[str]:
    """A label in at most two lines that fit ``room`` pixels (about 6 px a character)."""
    fits = max(3, int(room / 6))
    if len(label) <= fits:
        return [label]
    words, first = label.split(), ""
    while words and len(f"{first} {words[0]}".strip()) <= fits:
        first = f"{first} {words.pop(0)}".strip()
    rest = " ".join(words) if first else label[fits:]
    first = first or label[:fits]
    return [first, rest if len(rest) <= fits else rest[: fits - 1] + "…"]


def bars(key: str, title: str, items: Sequence[tuple[str, float]], *, theme: Theme = DARK,
         width: int = 640, height: int = 240, unit: str = "") -> str:
    """One series of vertical bars, its value over each bar."""
    desc = "; ".join(f"{label}: {number(v)}{unit}" for label, v in items) or "no data"
    svg = Svg(key, width, height, title, desc, theme)
    svg.text(8, 16, title, size=13, weight="bold")
    left, top, right, bottom = 56.0, 34.0, width - 10.0, height - 34.0
    peak = _nice_top(max((v for _, v in items), default=0))
    _axis(svg, left, top, right, bottom, peak)
    slot = (right - left) / max(len(items), 1)
    label_every = max(1, math.ceil(len(items) * 28 / (right - left)))
    for i, (label, value) in enumerate(items):
        h = (bottom - top) * value / peak
        x = left + i * slot + slot * 0.12
        svg.rect(x, bottom - h, slot * 0.76, h, theme.palette[0], f"{label}: {number(value)}{unit}")
        if slot >= 26 and value:
            svg.text(x + slot * 0.38, bottom - h - 3, number(value), size=9, anchor="middle",
                     fill=theme.muted)
        if i % label_every == 0:
            svg.text(x + slot * 0.38, bottom + 14, label, size=10, anchor="middle",
                     fill=theme.muted)
    return svg.done()


def grouped_bars(key: str, title: str, groups: Sequence[str],
                 series: Sequence[tuple[str, Sequence[float]]], *, theme: Theme = DARK,
                 width: int = 640, height: int = 260) -> str:
    """Bars side by side: one group per category (a year), one bar per series (a type)."""
    desc = "; ".join(f"{name} {g}: {number(v)}" for name, values in series
                     for g, v in zip(groups, values, strict=True)) or "no data"
    svg = Svg(key, width, height, title, desc, theme)
    svg.text(8, 16, title, size=13, weight="bold")
    legend_w = 190
    left, top, right, bottom = 56.0, 34.0, width - legend_w - 10.0, height - 36.0
    peak = _nice_top(max((v for _, vs in series for v in vs), default=0))
    _axis(svg, left, top, right, bottom, peak)
    slot = (right - left) / max(len(groups), 1)
    bar = slot * 0.8 / max(len(series), 1)
    for gi, group in enumerate(groups):
        for si, (name, values) in enumerate(series):
            h = (bottom - top) * values[gi] / peak
            x = left + gi * slot + slot * 0.1 + si * bar
            svg.rect(x, bottom - h, bar * 0.92, h, theme.palette[si % len(theme.palette)],
                     f"{name}, {group}: {number(values[gi])}")
        for n, part in enumerate(_wrap(group, slot)):
            svg.text(left + gi * slot + slot / 2, bottom + 13 + 12 * n, part, size=10,
                     anchor="middle", fill=theme.muted)
    svg.legend([name for name, _ in series], right + 16, top + 8)
    return svg.done()


def lines(key: str, title: str, xs: Sequence[str], series: Sequence[tuple[str, Sequence[float]]],
          *, theme: Theme = DARK, width: int = 640, height: int = 260) -> str:
    """One line per series over ``xs`` (months or weeks), a dot with its value at each point."""
    desc = "; ".join(f"{name}: " + ", ".join(f"{x} {number(v)}" for x, v in
                                             zip(xs, values, strict=True))
                     for name, values in series) or "no data"
    svg = Svg(key, width, height, title, desc, theme)
    svg.text(8, 16, title, size=13, weight="bold")
    legend_w = 190
    left, top, right, bottom = 56.0, 34.0, width - legend_w - 10.0, height - 30.0
    peak = _nice_top(max((v for _, vs in series for v in vs), default=0))
    _axis(svg, left, top, right, bottom, peak)
    step = (right - left) / max(len(xs) - 1, 1)
    label_every = max(1, math.ceil(len(xs) * 52 / (right - left)))
    for i, x in enumerate(xs):
        if i % label_every == 0:
            svg.text(left + i * step, bottom + 15, x, size=10, anchor="middle", fill=theme.muted)
    for si, (name, values) in enumerate(series):
        colour = theme.palette[si % len(theme.palette)]
        points = [(left + i * step, bottom - (bottom - top) * v / peak)
                  for i, v in enumerate(values)]
        path = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        svg.parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}"'
                         f' stroke-width="2"/>')
        if len(points) <= 60:
            for (px, py), x, v in zip(points, xs, values, strict=True):
                svg.parts.append(f'<circle cx="{_n(px)}" cy="{_n(py)}" r="2.5" fill="{colour}">'
                                 f"<title>{escape(f'{name}, {x}: {number(v)}')}</title></circle>")
    svg.legend([name for name, _ in series], right + 16, top + 8)
    return svg.done()


def heatmap(key: str, title: str, rows: Sequence[str], columns: Sequence[str],
            grid: Sequence[Sequence[float]], *, theme: Theme = DARK, width: int = 640,
            cell_h: int = 20) -> str:
    """Rows × columns of shaded cells (weekday × hour, zone × hour), exact counts in tips."""
    top_value = max((v for row in grid for v in row), default=0)
    hottest = sorted(((v, r, c) for r, row in zip(rows, grid, strict=True)
                      for c, v in zip(columns, row, strict=True)), reverse=True)[:3]
    desc = "highest: " + "; ".join(f"{r} {c}: {number(v)}" for v, r, c in hottest if v)
    left, top = 92.0, 30.0
    height = int(top + cell_h * len(rows) + 26)
    svg = Svg(key, width, height, title, desc, theme)
    svg.text(8, 16, title, size=13, weight="bold")
    cell_w = (width - left - 10) / max(len(columns), 1)
    for ri, (row_name, row) in enumerate(zip(rows, grid, strict=True)):
        y = top + ri * cell_h
        svg.text(left - 6, y + cell_h * 0.7, row_name, size=10, anchor="end", fill=theme.muted)
        for ci, (col_name, value) in enumerate(zip(columns, row, strict=True)):
            svg.rect(left + ci * cell_w, y, cell_w - 1, cell_h - 1, shade(value, top_value),
                     f"{row_name}, {col_name}: {number(value)}")
    for ci, col_name in enumerate(columns):
        if len(columns) <= 24 or ci % 2 == 0:
            svg.text(left + ci * cell_w + cell_w / 2, top + len(rows) * cell_h + 14, col_name,
                     size=9, anchor="middle", fill=theme.muted)
    return svg.done()


class Projection:
    """lon/lat → SVG x/y in a box, keeping shapes true at the zones' latitude."""

    def __init__(self, zones: Sequence[ZoneShape], width: float, height: float,
                 pad: float = 12) -> None:
        x0, y0, x1, y1 = bounds(zones)
        self.k_lon = math.cos(math.radians((y0 + y1) / 2))
        span_x, span_y = max((x1 - x0) * self.k_lon, 1e-9), max(y1 - y0, 1e-9)
        self.scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
        self.x0, self.y1 = x0, y1
        self.dx = pad + ((width - 2 * pad) - span_x * self.scale) / 2
        self.dy = pad + ((height - 2 * pad) - span_y * self.scale) / 2

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return (self.dx + (lon - self.x0) * self.k_lon * self.scale,
                self.dy + (self.y1 - lat) * self.scale)

    def path(self, zone: ZoneShape) -> str:
        out = []
        for poly in zone.polygons:
            for ring in poly:
                pts = [self(lon, lat) for lon, lat in ring]
                out.append("M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in pts) + " Z")
        return " ".join(out)


def _zone_label(svg: Svg, proj: Projection, zone: ZoneShape, text: str) -> None:
    x, y = proj(*zone.centroid)
    svg.text(x, y + 4, text, size=11, anchor="middle", weight="bold", fill=svg.theme.text)


def choropleth(key: str, title: str, zones: Sequence[ZoneShape], values: Mapping[str, float], *,
               theme: Theme = DARK, width: int = 520, height: int = 460) -> str:
    """Each zone shaded by its count; its code on it; the count in its tooltip."""
    ranked = sorted(((values.get(z.code, 0), z.code) for z in zones), reverse=True)
    desc = "; ".join(f"zone {code}: {number(v)}" for v, code in ranked)
    svg = Svg(key, width, height, title, desc, theme)
    svg.text(8, 16, title, size=13, weight="bold")
    proj = Projection(zones, width, height - 40, 14)
    svg.parts.append('<g transform="translate(0 28)">')
    top = max(values.values(), default=0)
    for z in zones:
        value = values.get(z.code, 0)
        svg.parts.append(f'<path d="{proj.path(z)}" fill="{shade(value, top)}" fill-rule="evenodd"'
                         f' stroke="{theme.outline}" stroke-width="1">'
                         f"<title>{escape(f'{z.name}: {number(value)}')}</title></path>")
    for z in zones:
        _zone_label(svg, proj, z, z.code)
    svg.parts.append("</g>")
    _scale_legend(svg, top, width - 150, height - 16)
    return svg.done()


def density(key: str, title: str, zones: Sequence[ZoneShape], cells: Mapping[int, float], *,
            theme: Theme = DARK, width: int = 520, height: int = 460) -> str:
    """Located reports binned in map cells, drawn over the zones' outlines."""
    top = max(cells.values(), default=0)
    hottest = sorted(cells.items(), key=lambda kv: -kv[1])[:3]
    desc = (f"{len(cells)} cells with reports; busiest: "
            + "; ".join(f"{_cell_name(c)}: {number(v)}" for c, v in hottest))
    svg = Svg(key, width, height, title, desc, theme)
    svg.text(8, 16, title, size=13, weight="bold")
    proj = Projection(zones, width, height - 40, 14)
    outline = " ".join(proj.path(z) for z in zones)
    svg.parts.append(f'<defs><clipPath id="chart-{key}-clip"><path d="{outline}"/></clipPath>'
                     "</defs>")
    svg.parts.append('<g transform="translate(0 28)">')
    svg.parts.append(f'<g clip-path="url(#chart-{key}-clip)">')
    size = 1 / CELLS_PER_DEGREE
    for cell, value in sorted(cells.items(), key=lambda kv: kv[1]):
        lat0, lon0 = _cell_corner(cell)
        x0, y0 = proj(lon0, lat0 + size)
        x1, y1 = proj(lon0 + size, lat0)
        svg.rect(x0, y0, x1 - x0 + 0.5, y1 - y0 + 0.5, shade(value, top),
                 f"{_cell_name(cell)}: {number(value)}", ' fill-opacity="0.9"')
    svg.parts.append("</g>")
    for z in zones:
        svg.parts.append(f'<path d="{proj.path(z)}" fill="none" stroke="{theme.outline}"'
                         f' stroke-width="1.2"/>')
        _zone_label(svg, proj, z, z.code)
    svg.parts.append("</g>")
    _scale_legend(svg, top, width - 150, height - 16)
    return svg.done()


def for_pdf(svg: str) -> bytes:
    """The SVG without what fpdf2 cannot draw (titles and descriptions are for screens)."""
    return re.sub(r"<(title|desc)\b[^>]*>.*?</\1>", "", svg, flags=re.S).encode()


def _cell_corner(cell: int) -> tuple[float, float]:
    row, col = divmod(int(cell), CELL_ROW)
    return row / CELLS_PER_DEGREE - 90, col / CELLS_PER_DEGREE - 180


def _cell_name(cell: int) -> str:
    lat, lon = _cell_corner(cell)
    half = 0.5 / CELLS_PER_DEGREE
    return f"{lat + half:.4f}, {lon + half:.4f}"


def _scale_legend(svg: Svg, top: float, x: float, y: float) -> None:
    for i in range(5):
        svg.rect(x + i * 22, y - 10, 22, 10, shade(top * (i / 4) ** 2, top))
    svg.text(x - 4, y, "0", size=10, anchor="end", fill=svg.theme.muted)
    svg.text(x + 114, y, number(top), size=10, fill=svg.theme.muted)
