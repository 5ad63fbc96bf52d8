"""Charts are well-formed, accessible SVG the console's CSP allows; the committee PDF renders."""

from __future__ import annotations

import re
from datetime import date
from xml.etree import ElementTree

import pytest

from ivr.analytics import charts, committee
from ivr.domain import zones
from ivr.store.panels import Kpis

SVG = "{http://www.w3.org/2000/svg}"
NASTY = '<script>alert("x")</script> & "quotes"'


def all_charts() -> dict[str, str]:
    sample = zones.sample()
    return {
        "bars": charts.bars("b", "Por hora", [(f"{h:02d}", h * 3) for h in range(24)]),
        "grouped": charts.grouped_bars("g", "Tipo × año", ["2003", "2004"],
                                       [("Robo o asalto", [2019, 5857]), (NASTY, [1, 2])]),
        "lines": charts.lines("l", "Mes", ["2024-01", "2024-02", "2024-03"],
                              [("Ruido", [5, 9, 4]), ("Otro", [0, 1, 2])]),
        "heatmap": charts.heatmap("h", "Día × hora", ["lun", "mar"], ["00", "01"],
                                  [[1, 2], [3, 40]]),
        "choropleth": charts.choropleth("c", "Zonas", sample, {"1": 10, "10": 300}),
        "density": charts.density("d", "Densidad", sample,
                                  {51_061_484_398: 12, 51_061_484_399: 3}),
        "empty": charts.bars("e", "Nada", []),
    }


@pytest.mark.parametrize("name", list(all_charts()))
def test_a_chart_is_accessible_self_contained_svg(name: str) -> None:
    svg = all_charts()[name]
    root = ElementTree.fromstring(svg)  # well-formed, labels escaped
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    assert root.get("aria-labelledby") == f"chart-{name[0]}-t chart-{name[0]}-d"
    assert "style=" not in svg  # blocked by the console's CSP (style-src 'self')
    assert "<script" not in svg
    assert re.findall(r"https?://[^\"']+", svg) == ["http://www.w3.org/2000/svg"]
    assert "url(" not in svg.replace(f"url(#chart-{name[0]}-clip)", "")


def test_numbers_are_on_the_bars_and_in_their_tooltips() -> None:
    svg = all_charts()["grouped"]
    assert "<title>Robo o asalto, 2004: 5,857</title>" in svg
    bars = charts.bars("x", "t", [("lun", 16829)])
    assert ">16,829</text>" in bars and "<title>lun: 16,829</title>" in bars
    heat = all_charts()["heatmap"]
    assert "<title>mar, 01: 40</title>" in heat


def test_a_long_label_is_wrapped_not_overlapping() -> None:
    svg = charts.grouped_bars("w", "t", ["Ruido o molestia vecinal", "Actividad sospechosa"],
                              [("a", [1, 2])], width=420)
    texts = [t.text or "" for t in ElementTree.fromstring(svg).iter(f"{SVG}text")]
    assert "Ruido o" in texts and "Actividad" in texts and "sospechosa" in texts
    assert "Ruido o molestia vecinal" not in texts


def test_the_density_layer_is_clipped_to_the_zones() -> None:
    svg = all_charts()["density"]
    assert '<clipPath id="chart-d-clip">' in svg and 'clip-path="url(#chart-d-clip)"' in svg


def test_the_pdf_gets_the_charts_without_screen_only_parts() -> None:
    stripped = charts.for_pdf(all_charts()["choropleth"]).decode()
    assert "<title" not in stripped and "<desc" not in stripped and "<path" in stripped


def test_the_committee_pdf_renders_with_spanish_text() -> None:
    week = committee.Week(
        monday=date(2006, 6, 5), by_type={"robbery": 40, "noise": 210},
        baseline={"robbery": 52.5, "noise": 200.0}, last_year={"robbery": 101},
        trend={"2006-05-29": {"robbery": 50}, "2006-06-05": {"robbery": 40, "noise": 210}},
        by_zone={"10": 60, "3": 20}, zone_hour={"10": [0] * 22 + [9, 4]},
        kpis=Kpis(reports=250, states={"resolved": 245, "false_report": 5}),
        baseline_kpis=Kpis())
    labels = {"robbery": "Robo o asalto", "noise": "Ruido o molestia vecinal"}
    text: dict[str, str] = {"committee_title": "Informe semanal al Comité"}
    data = committee.pdf(week, labels, ["robbery", "noise"], zones.sample(),
                         lambda key: text.get(key, key))
    assert data.startswith(b"%PDF-") and len(data) > 3000
    assert committee.parse_week("2006-W23") == date(2006, 6, 5)
    assert committee.parse_week("2006-06-11") == date(2006, 6, 5)
    with pytest.raises(ValueError):
        committee.parse_week("next week")
