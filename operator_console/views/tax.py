"""The tax line's audit, for supervisors (and admins): every lookup (who called, which ID,
the result; never the bill's code, which is not stored), filtered and paged, and the
latest blocks with a button to lift one (audited as ``tax.block_lifted``).

Every read and change is of the session's municipality. Officers, operators and
analysts get 403: an ID beside a calling number is personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.core import tax as tax_core
from ivr.core.ports import TAX_RESULTS
from ivr.core.tax import WITHHELD
from ivr.domain.roles import Role
from ivr.store.municipalities import Municipalities
from ivr.store.tax import TaxStore
from operator_console.render import language_of, page
from operator_console.security import ascii_digits, municipality_id, parse_id, requires, session_of
from operator_console.state import console_of

PAGE = 50

TEXT: dict[str, tuple[str, str]] = {
    "title": ("Consultas de tributos", "Tax lookups"),
    "intro": ("Cada consulta hecha en la línea de tributos: el número que llamó, el DNI o RUC"
              " marcado y el resultado. El código del recibo no se guarda.",
              "Every lookup made on the tax line: the calling number, the DNI or RUC typed and"
              " the result. The bill's code is never stored."),
    "number": ("Número", "Number"), "tax_id": ("DNI / RUC", "DNI / RUC"),
    "result": ("Resultado", "Result"), "from": ("Desde", "From"), "to": ("Hasta", "To"),
    "any": ("todos", "any"), "filter": ("Filtrar", "Filter"), "when": ("Cuándo", "When"),
    "line": ("Línea", "Line"), "call": ("Llamada", "Call"), "older": ("Más antiguas", "Older"),
    "none": ("Ninguna consulta.", "No lookup."), "withheld": ("oculto", "withheld"),
    "blocks": ("Bloqueos recientes", "Latest blocks"),
    "no_blocks": ("Ningún bloqueo.", "No block."),
    "until": ("Hasta", "Until"), "reason": ("Motivo", "Reason"), "kind": ("Qué", "What"),
    "lift": ("Levantar", "Lift"), "ended": ("terminado", "ended"),
    "kind.caller": ("número", "number"), "kind.tax_id": ("DNI / RUC", "DNI / RUC"),
    "reason.failures_per_hour": ("intentos fallidos en una hora", "failed tries in an hour"),
    "reason.ids_per_day": ("muchos DNI/RUC en un día", "many IDs in a day"),
    "reason.callers_per_day": ("muchos números en un día", "many numbers in a day"),
    "res.found": ("deuda informada", "amount told"),
    "res.nothing_owed": ("sin deuda", "nothing owed"),
    "res.no_match": ("no coincide", "no match"),
    "res.invalid_id": ("DNI/RUC inválido", "invalid ID"),
    "res.blocked": ("bloqueado", "blocked"),
    "res.unavailable": ("sistema caído", "service down"),
}


def translator(language: str) -> Callable[[str], str]:
    def tx(key: str) -> str:
        pair = TEXT.get(key)
        return key if pair is None else pair[1] if language == "en" else pair[0]

    return tx


def _day(raw: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """The start of a local day (or of the next, for ``end``) in UTC; None when empty."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError("dates are YYYY-MM-DD") from None
    start = datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
    return start.astimezone(UTC)


def _filters(query: Any) -> dict[str, str]:
    wanted = {k: str(query.get(k, "")).strip() for k in ("caller", "tax_id", "result",
                                                          "from", "to")}
    if wanted["caller"] and not ascii_digits(wanted["caller"], 20):
        raise ValueError("number: up to 20 digits")
    if wanted["tax_id"] and not (ascii_digits(wanted["tax_id"], 11)
                                 and len(wanted["tax_id"]) in (8, 11)):
        raise ValueError("DNI or RUC: 8 or 11 digits")
    if wanted["result"] and wanted["result"] not in TAX_RESULTS:
        raise ValueError(f"result: one of {', '.join(TAX_RESULTS)}")
    return wanted


@requires(Role.SUPERVISOR)
async def lookups_page(request: web.Request) -> web.Response:
    console = console_of(request)
    here = municipality_id(request)
    wanted = _filters(request.query)
    before = parse_id(request.query.get("before")) if request.query.get("before") else None
    town = await Municipalities(console.db).get(here)
    zone = ZoneInfo(town.timezone if town else "America/Lima")
    store = TaxStore(console.db)
    rows = await store.lookups(
        here, caller=wanted["caller"] or None, tax_id=wanted["tax_id"] or None,
        result=wanted["result"] or None, since=_day(wanted["from"], zone, end=False),
        until=_day(wanted["to"], zone, end=True), before=before, limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    older = {**{k: v for k, v in wanted.items() if v}, "before": str(rows[-1]["id"])} if (
        more) else None
    return page(request, "tax_lookups.html", tx=translator(language_of(request)),
                rows=rows, wanted=wanted, results=TAX_RESULTS, older=older,
                blocks=await store.blocks(here, datetime.now(UTC)), withheld=WITHHELD)


@requires(Role.SUPERVISOR)
async def lift_block(request: web.Request) -> web.StreamResponse:
    """End a block in force; the counts of that number or ID start again from now."""
    console = console_of(request)
    here = municipality_id(request)
    form = await request.post()
    if not await tax_core.lift_block(TaxStore(console.db), here, str(form.get("kind", "")),
                            str(form.get("value", "")), actor=session_of(request).user.actor,
                            now=datetime.now(UTC)):
        raise web.HTTPNotFound(text="no block in force on that number or ID here")
    raise web.HTTPSeeOther("/tax/lookups")
