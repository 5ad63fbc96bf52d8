"""Jinja2 pages, escaped by default, in the viewer's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from ivr.domain.municipalities import number_of
from operator_console.i18n import translate
from operator_console.security import SESSION_KEY

TEMPLATES = Path(__file__).resolve().parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(("html",), default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _clock(value: str | None) -> str:
    """An ISO timestamp as local wall-clock text for the page (the browser refines it)."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    whole = round(value)
    return f"{whole // 60}:{whole % 60:02d}"


_env.filters["clock"] = _clock
_env.filters["mmss"] = _seconds
_env.filters["number"] = number_of  # a report id as its municipality's people know it


def language_of(request: web.Request) -> str:
    session = request.get(SESSION_KEY)
    if session is not None:
        return str(session.user.language)
    lang = request.cookies.get("lang", "es")
    return lang if lang in ("es", "en") else "es"


JOURNAL_PENDING: web.AppKey[Callable[[], int]] = web.AppKey("journal_pending")
# The municipalities the signed-in account works for (for the header's switch).
PLACES_KEY: web.RequestKey[list[dict[str, Any]]] = web.RequestKey("places", list)


def _journal_waiting(request: web.Request) -> int:
    pending = request.app.get(JOURNAL_PENDING)
    return pending() if pending is not None else 0


def page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    language = language_of(request)
    session = request.get(SESSION_KEY)
    places = request.get(PLACES_KEY) or []
    html = _env.get_template(template).render(
        t=lambda key: translate(key, language),
        lang=language,
        session=session,
        user=session.user if session else None,
        csrf=session.csrf if session else "",
        now=datetime.now(UTC).isoformat(timespec="seconds"),
        path=request.path,
        journal_waiting=_journal_waiting(request) if session else 0,
        places=places,
        here=next((p for p in places if session and p["id"] == session.user.municipality), None),
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
