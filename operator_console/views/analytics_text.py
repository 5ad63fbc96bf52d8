"""Words of the analytics pages (Spanish first, English second), and their charts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ivr.analytics import charts
from ivr.analytics.dashboard import Dashboard

TEXT: dict[str, tuple[str, str]] = {
    "dashboard": ("Tablero", "Dashboard"),
    "hotspots": ("Puntos críticos", "Hot spots"),
    "committee": ("Comité semanal", "Weekly committee"),
    "filters": ("Filtros", "Filters"),
    "since": ("Desde", "From"),
    "until": ("Hasta", "To"),
    "types": ("Tipos", "Types"),
    "zones": ("Zonas", "Zones"),
    "zone": ("Zona", "Zone"),
    "no_zone": ("sin zona", "no zone"),
    "channels": ("Canales", "Channels"),
    "apply": ("Aplicar", "Apply"),
    "all_time": ("Todo", "All"),
    "last_7": ("7 días", "7 days"),
    "last_30": ("30 días", "30 days"),
    "last_12m": ("12 meses", "12 months"),
    "reports": ("Reportes", "Reports"),
    "total": ("Total", "Total"),
    "year": ("Año", "Year"),
    "type": ("Tipo", "Type"),
    "change": ("Cambio", "Change"),
    "change_first_last": ("Cambio primer → último año", "Change first → last year"),
    "confirmed": ("Confirmados como reales", "Confirmed as real"),
    "confirmed_note": ("resueltos ÷ (resueltos + falsos)", "resolved ÷ (resolved + false)"),
    "callbacks_on_time": ("Devoluciones a tiempo", "Callbacks on time"),
    "callbacks_note": ("a tiempo ÷ (hechas + pendientes vencidas)",
                       "on time ÷ (made + owed and overdue)"),
    "first_action": ("Primera acción (mediana)", "First action (median)"),
    "first_action_mean": ("media", "mean"),
    "within_15": ("atendidos en 15 min", "acted on within 15 min"),
    "overdue_open": ("pendientes vencidas", "owed and overdue"),
    "table": ("Ver tabla", "Show table"),
    "chart_type_year": ("Reportes por tipo y año", "Reports by type and year"),
    "chart_month": ("Reportes por mes", "Reports by month"),
    "chart_weekday": ("Por día de la semana", "By day of the week"),
    "chart_hour": ("Por hora del día", "By hour of the day"),
    "chart_weekday_hour": ("Día de la semana × hora", "Day of the week × hour"),
    "chart_zone": ("Reportes por zona", "Reports by zone"),
    "chart_channel": ("Por canal", "By channel"),
    "chart_yoy": ("Comparado con el año anterior", "Against the year before"),
    "chart_choropleth": ("Reportes por zona", "Reports by zone"),
    "chart_density": ("Densidad de reportes ubicados", "Density of located reports"),
    "chart_zone_hour": ("Zona × hora del día", "Zone × hour of the day"),
    "chart_weeks": ("Últimas semanas", "Recent weeks"),
    "yoy_window": ("Periodo", "Period"),
    "a_year_before": ("un año antes", "a year before"),
    "participation": ("Participación por zona", "Participation by zone"),
    "citizen_reports": ("hechos por vecinos", "made by citizens"),
    "share": ("Parte", "Share"),
    "channel": ("Canal", "Channel"),
    "hour": ("Hora", "Hour"),
    "hot_top": ("Puntos críticos: zona y hora", "Hot spots: zone and hour"),
    "located": ("reportes ubicados en el mapa", "reports located on the map"),
    "cells": ("celdas de ~220 m", "cells of ~220 m"),
    "exports": ("Exportar", "Export"),
    "export_note": ("con los filtros actuales; sin números de teléfono ni notas",
                    "with the current filters; no phone numbers, no notes"),
    "clock_stale": ("La zona horaria configurada cambió: ejecute `alerta stats rebuild`.",
                    "The configured time zone changed: run `alerta stats rebuild`."),
    "local_time": ("hora local", "local time"),
    "week": ("Semana", "Week"),
    "this_week": ("Esta semana", "This week"),
    "previous_weeks": ("Semanas anteriores", "Previous weeks"),
    "average_4": ("Promedio 4 semanas", "4-week average"),
    "same_week_last_year": ("Misma semana, año anterior", "Same week last year"),
    "vs_average": ("vs. promedio", "vs. average"),
    "kpis": ("Indicadores de respuesta", "Response indicators"),
    "top_zones": ("Zonas con más reportes", "Zones with most reports"),
    "print": ("Imprimir", "Print"),
    "pdf": ("PDF", "PDF"),
    "earlier_week": ("← semana anterior", "← previous week"),
    "later_week": ("semana siguiente →", "next week →"),
    "committee_title": ("Informe semanal al Comité de Seguridad Ciudadana",
                        "Weekly report to the Citizen Security Committee"),
    "no_data": ("Sin datos en este periodo.", "No data in this period."),
    "map_note": ("Mapa dibujado sin servicios externos; zonas de muestra aproximadas si no se "
                 "importaron las oficiales.",
                 "Map drawn without any outside service; approximate sample zones unless "
                 "official ones were imported."),
    "panel_times": ("tiempo de cada panel (ms)", "time per panel (ms)"),
    "metro_note": ("Cada municipalidad en su hora local: este mes hasta hoy y el mes "
                   "anterior completo.",
                   "Each municipality on its own clock: this month so far and the whole "
                   "month before."),
    "this_month": ("Este mes", "This month"),
    "month_before": ("Mes anterior", "Month before"),
    "first_action_p90": ("Primera acción, 90 % en", "First action, 90 % within"),
    "by_type_month": ("Por tipo, este mes", "By type, this month"),
    "by_type_before": ("Por tipo, mes anterior", "By type, month before"),
}


def translator(language: str) -> Callable[[str], str]:
    def tx(key: str) -> str:
        pair = TEXT.get(key)
        if pair is None:
            return key
        return pair[1] if language == "en" else pair[0]

    return tx


def dashboard_charts(board: Dashboard, ctx: dict[str, Any]) -> dict[str, str]:
    tx, labels = ctx["tx"], ctx["labels"]
    types = [t for t in labels if t in board.type_year] + sorted(
        set(board.type_year) - set(labels))
    years = board.years
    months = sorted(board.by_month)
    month_types = [t for t in labels if any(t in row for row in board.by_month.values())]
    weekdays = ctx["weekdays"]
    zone_codes = [z for z in ctx["zone_codes"] if z in board.by_zone]
    if "" in board.by_zone:
        zone_codes.append("")
    yoy_types = [t for t in labels if t in board.year_on_year]
    now_f, before_f = board.comparison
    window = f"{now_f.since:%Y-%m-%d} … {now_f.until:%Y-%m-%d}"
    return {
        "type_year": charts.grouped_bars(
            "type-year", tx("chart_type_year"), years,
            [(labels.get(t, t), [board.type_year[t].get(y, 0) for y in years]) for t in types]),
        "by_month": charts.lines(
            "by-month", tx("chart_month"), months,
            [(labels.get(t, t), [board.by_month[m].get(t, 0) for m in months])
             for t in month_types], width=900),
        "by_weekday": charts.bars("by-weekday", tx("chart_weekday"),
                                  list(zip(weekdays, board.by_weekday, strict=True)),
                                  width=420),
        "by_hour": charts.bars("by-hour", tx("chart_hour"),
                               [(f"{h:02d}", n) for h, n in enumerate(board.by_hour)],
                               width=640),
        "weekday_hour": charts.heatmap("weekday-hour", tx("chart_weekday_hour"), list(weekdays),
                                       [f"{h:02d}" for h in range(24)], board.weekday_hour,
                                       width=900),
        "by_zone": charts.bars("by-zone", tx("chart_zone"),
                               [(z or tx("no_zone"), board.by_zone[z]) for z in zone_codes],
                               width=640),
        "by_channel": charts.bars(
            "by-channel", tx("chart_channel"),
            [(ctx["channel_label"](c), n) for c, n in sorted(board.by_channel.items(),
                                                             key=lambda kv: -kv[1])],
            width=640),
        "year_on_year": charts.grouped_bars(
            "year-on-year", f"{tx('chart_yoy')} ({window})",
            [labels.get(t, t) for t in yoy_types],
            [(tx("a_year_before"), [board.year_on_year[t][1] for t in yoy_types]),
             (f"{now_f.since:%Y-%m-%d} …", [board.year_on_year[t][0] for t in yoy_types])],
            width=760) if before_f else "",
    }
