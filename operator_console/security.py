"""Who is asking, and may they: sessions, roles on every route, CSRF.

The headers every answer carries are in ``security_http``.

Deny by default: a handler must say who may call it (``requires(role)`` or
``public``); one that says nothing is refused, so a forgotten decorator
fails closed. Unsafe methods need the session's CSRF token (form field
``_csrf`` or header ``X-CSRF-Token``) and, when the browser sends one, an
``Origin`` equal to our own.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from ivr.core.cases import Person
from ivr.domain.municipalities import municipality_of
from ivr.domain.roles import Role
from ivr.store.sessions import Session

logger = logging.getLogger(__name__)

COOKIE = "alerta_session"
LOGIN_CSRF_COOKIE = "alerta_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

SESSION_KEY: web.RequestKey[Session] = web.RequestKey("session", Session)


def requires(role: Role) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        handler._alerta_role = role  # type: ignore[attr-defined]
        return handler

    return mark


SIGNED_IN = "signed_in"


def signed_in(handler: H) -> H:
    """Any account with a role, whatever it is (an analyst too): one's own account,
    the language, logging out, switching municipality."""
    handler._alerta_signed_in = True  # type: ignore[attr-defined]
    return handler


def public(handler: H) -> H:
    handler._alerta_public = True  # type: ignore[attr-defined]
    return handler


def policy(handler: Any) -> Role | str | None:
    """The role a handler needs, "public", "signed_in", or None when it declares nothing."""
    if getattr(handler, "_alerta_public", False):
        return "public"
    if getattr(handler, "_alerta_signed_in", False):
        return SIGNED_IN
    role = getattr(handler, "_alerta_role", None)
    return role if isinstance(role, Role) else None


def person_of(request: web.Request) -> Person:
    """Who is acting, as the use cases want it."""
    user = session_of(request).user
    return Person(user.actor, user.name, user.role.allows(Role.SUPERVISOR))


def municipality_id(request: web.Request) -> int:
    """The municipality the session works in: every read and change is of its data."""
    return session_of(request).user.municipality


def report_in_scope(request: web.Request, name: str = "report") -> int:
    """The report id in the URL, when it is a report of the session's municipality;
    anything else is a 404 whether or not such a report exists elsewhere."""
    report = parse_id(request.match_info.get(name))
    if report is None or municipality_of(report) != municipality_id(request):
        raise web.HTTPNotFound(text="no such report")
    return report


def session_of(request: web.Request) -> Session:
    session: Session | None = request.get(SESSION_KEY)
    if session is None:  # only reachable from a route wrongly marked public
        raise web.HTTPUnauthorized(text="log in first")
    return session


def wants_html(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


async def submitted_token(request: web.Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get("_csrf")
        return value if isinstance(value, str) else ""
    return ""


def same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser, or a same-origin request from an old one
        return True
    return origin == f"{request.scheme}://{request.host}"


def tokens_match(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


_ID = re.compile(r"[0-9]{1,16}")


def parse_id(raw: str | None) -> int | None:
    """An id from a URL or form: 1-16 ASCII digits, nothing else (no '１', no '+1')."""
    if raw is None or not _ID.fullmatch(raw):
        return None
    return int(raw)


def ascii_digits(raw: str, max_len: int) -> bool:
    return bool(raw) and len(raw) <= max_len and raw.isascii() and raw.isdigit()
