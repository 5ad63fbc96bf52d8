"""``create_app(settings)``: the operator console as an aiohttp application."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from ivr.ami.prompt_originate import PromptCaller
from ivr.clips.service import transcription_off_reason
from ivr.config import Settings
from ivr.core.cases import CaseDesk
from ivr.core.intake import ReportIntake
from ivr.core.line_seed import seed_lines
from ivr.core.lines import LineAdmin, PublishedLines
from ivr.core.open311 import Open311Desk
from ivr.core.outage_watch import OutageWatch
from ivr.core.phone_prompts import PhoneRecorder
from ivr.domain.roles import Role
from ivr.health import WorkerStatus
from ivr.metrics import Metrics, process_metrics
from ivr.participation_setup import participation_wiring
from ivr.promptaudio.library import PromptLibrary
from ivr.store import engine as store_engine
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.alarm_views import AlarmViews
from ivr.store.alert_admin import AlertAdmin
from ivr.store.alert_feed import raise_once
from ivr.store.case_records import CaseRecords
from ivr.store.casework import CaseError, Casework
from ivr.store.db import Database, StoreError
from ivr.store.journal import pending_reports
from ivr.store.lines import LineStore
from ivr.store.municipalities import Municipalities
from ivr.store.open311 import Open311Store
from ivr.store.outbox import Outbox
from ivr.store.prompt_recordings import RecordingStore
from ivr.store.queries import ConsoleQueries
from ivr.store.reports import utc_now
from ivr.store.sessions import Sessions
from ivr.store.texts import TextStore
from ivr.store.users import Users
from operator_console import security, security_http
from operator_console.feed import EventFeed
from operator_console.render import JOURNAL_PENDING, PLACES_KEY, page
from operator_console.routes import setup_routes
from operator_console.security import COOKIE, SAFE_METHODS, SESSION_KEY, Handler
from operator_console.settings import ConsoleSection
from operator_console.state import CONSOLE, Console, ConsoleRef, console_of, municipalities_of
from operator_console.views import health
from operator_console.views.callbacks import callback_desk, start_ami
from operator_console.views.queue import incident_types

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


@web.middleware
async def timing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Server-Timing: app;dur=…`` on every answer: what the console itself spent."""
    began = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - began) * 1000:.2f}"
        raise
    if not response.prepared:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - began) * 1000:.2f}"
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad requests get a 4xx with a message; nothing leaks a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status == 413:
            raise
        return _message(request, exc.status, exc.text or exc.reason)
    except (HttpProcessingError, RequestPayloadError) as exc:  # a body that does not parse
        logger.warning("console: malformed request body on %s %s: %s", request.method,
                       request.path, security_http.short_reason(exc))
        refusal = _message(request, 400, "malformed request")
        refusal.force_close()  # the rest of that body cannot be trusted to frame a next one
        return refusal
    except OverflowError as exc:  # a date or number from the request beyond what Python holds
        logger.warning("console: value out of range on %s %s: %s", request.method,
                       request.path, security_http.short_reason(exc))
        return _message(request, 400, "a date or number in the request is out of range")
    except (CaseError, ValueError) as exc:
        return _message(request, 400, str(exc))
    except LookupError as exc:  # NotFound and the store's own LookupErrors
        if type(exc) is LookupError and str(exc).startswith("unknown encoding"):
            # codecs' answer to a form sent in a charset it does not know: bad input
            return _message(request, 400, "unknown charset")
        return _message(request, 404, "not found")
    except StoreError as exc:
        logger.error("console: store unavailable: %s", exc)
        return _message(request, 503, "the database is unavailable; try again")
    except Exception:
        logger.exception("console: unexpected error on %s %s", request.method, request.path)
        return _message(request, 500, "internal error; it has been logged")


def _message(request: web.Request, status: int, text: str) -> web.Response:
    """An error as a page for a person, as JSON for the console's scripts and tools."""
    if "text/html" in request.headers.get("Accept", "") and request.get(SESSION_KEY):
        return page(request, "message.html", status=status, message=text)
    return web.json_response({"error": text}, status=status)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = console_of(request)
    token = request.cookies.get(COOKIE, "")
    session = await console.sessions.lookup(token, idle_s=console.settings.session_idle_s)
    if session is not None:
        request[SESSION_KEY] = session
    route_handler: Any = request.match_info.handler
    rule = security.policy(route_handler)
    resource = request.match_info.route.resource
    if isinstance(resource, web.StaticResource):
        rule = "public"
    if getattr(request.match_info, "http_exception", None) is not None:
        rule = "public"  # 404/405 from the router: nothing to protect, let it answer
    if rule is None:
        logger.error("console: route %s declares no role; refused", request.path)
        raise web.HTTPForbidden(text="forbidden")
    if isinstance(rule, Role) or rule == security.SIGNED_IN:
        if session is None:
            if security.wants_html(request):
                raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='/?=&')}")
            raise web.HTTPUnauthorized(text="log in first")
        if isinstance(rule, Role) and not session.user.role.allows(rule):
            raise web.HTTPForbidden(text="your role may not do this")
        if security.wants_html(request):  # the header's municipality switch
            request[PLACES_KEY] = await municipalities_of(request).memberships(session.user.id)
        if request.method not in SAFE_METHODS:
            if not security.same_origin(request):
                raise web.HTTPForbidden(text="cross-origin request refused")
            given = await security.submitted_token(request)
            if not security.tokens_match(given, session.csrf):
                raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the page")
    return await handler(request)


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    clip_jobs: WorkerStatus | None = None,
    metrics: Metrics | None = None,
    journal_pending: Callable[[], int] | None = None,
) -> web.Application:
    """The console. Opens its own store unless one is given (to share with the controller).

    ``clip_jobs`` (where this process runs the clip workers) adds them to ``/healthz``;
    ``metrics`` defaults to the process's.
    """
    app = web.Application(
        middlewares=[
            timing_middleware, errors_middleware, auth_middleware,
        ],
        client_max_size=256 * 1024,
    )
    app.on_response_prepare.append(security_http.on_prepare)
    ref = ConsoleRef()
    app[CONSOLE] = ref
    # Reports waiting in the controller's journal: asked of it in the same process,
    # else read from the journal folder (a console of its own).
    app[JOURNAL_PENDING] = journal_pending or functools.partial(
        pending_reports, settings.journal_folder)
    setup_routes(app, STATIC)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        own = db is None
        store = db if db is not None else await store_engine.database(settings.database).open()
        queries = ConsoleQueries(store)
        feed = EventFeed(store, queries)
        console = Console(
            settings=ConsoleSection.of(settings),
            transcription_off=transcription_off_reason(settings),
            db=store,
            users=Users(store),
            sessions=Sessions(store),
            casework=Casework(store, deadlines=settings.callback_deadlines()),
            queries=queries,
            feed=feed,
            metrics=process_metrics() if metrics is None else metrics,
            municipalities=Municipalities(store),
            alerts=AlertAdmin(store),
            outbox=Outbox(store),
            texts=TextStore(store, settings.callback_deadlines()),
            alarms=AlarmViews(store),
            alarm_admin=AlarmAdmin(store),
        )
        console.desk = CaseDesk(CaseRecords(store, console.casework, queries),
                                release_minutes=settings.callback_release_minutes)
        console.lines = LineAdmin(LineStore(store), PromptLibrary(
            settings.prompt_library_folder).prepare())
        await seed_lines(console.lines, settings)  # a console started before any controller
        console.catalogue = PublishedLines(console.lines.store, console.lines.library)
        catalogue = console.catalogue
        console.open311 = Open311Desk(
            Open311Store(store), lambda m: catalogue.live_configs(m, "participation"), utc_now)
        console.participation = participation_wiring(settings, store, catalogue)
        console.open311.cases = console.participation
        health.attach(console, settings, clip_jobs)
        await feed.start()
        ami_watch = OutageWatch(
            lambda kind, data: raise_once(store, kind, None, utc_now(), data), "alert.ami_down",
            grace_s=settings.ami_down_alert_s)
        console.ami = await start_ami(console, settings, ami_watch)
        console.callbacks = callback_desk(console, settings)
        console.intake = ReportIntake(console.casework, lambda m: incident_types(console, m),
                                      lambda zone: settings.zone(zone) is not None)
        console.recorder = PhoneRecorder(
            console.lines, RecordingStore(store), incoming=settings.incoming_dir / "prompts",
            ringer=PromptCaller(console.ami.send_action, ring_s=settings.callback_ring_timeout_s)
            if console.ami is not None else None,
            ring_s=settings.callback_ring_timeout_s)
        ref.value = console
        try:
            yield
        finally:
            ref.value = None
            health.detach(console)
            if console.ami is not None:
                await console.ami.stop()
            await ami_watch.close()
            await feed.stop()
            if own:
                await store.close()

    app.cleanup_ctx.append(lifecycle)
    return app
