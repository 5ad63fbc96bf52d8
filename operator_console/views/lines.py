"""Admins' pages for lines: the list, the draft editor, publish, history and restore.

Every edit works on the line's document (``LineConfig.to_dict``) and is read back
through ``LineConfig.from_dict``: the checks a file import gets are the checks a form
gets, and a refusal says where and why. Every change goes through ``LineAdmin``,
which audits it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.core.lines import LineAdmin, LineConflict, LineNotFound, LineProblems
from ivr.domain.line_check import required_prompts
from ivr.domain.lines import DAYS, LineConfig, LineError
from ivr.domain.roles import Role
from operator_console.render import page
from operator_console.security import municipality_id, parse_id, requires, session_of
from operator_console.state import console_of

Doc = dict[str, Any]
_OPTION = re.compile(r"^\s*(\S)\s+(type|status|operator|menu|repeat)(?:\s+(\S+))?(?:\s+(\S+))?\s*$")
_HOURS = re.compile(r"^\s*([a-z,\s-]+?)\s+(\d\d:\d\d)\s*-\s*(\d\d:\d\d)\s*$")


def admin_of(request: web.Request) -> LineAdmin:
    admin = console_of(request).lines
    if admin is None:
        raise web.HTTPServiceUnavailable(text="lines are not available in this console")
    return admin


async def line_id_of(request: web.Request, raw: str | None = None) -> int:
    """The line of the URL (or ``raw``), if it is the session's municipality's; else 404."""
    line_id = parse_id(request.match_info.get("line") if raw is None else raw)
    if line_id is None:
        raise web.HTTPNotFound(text="no such line")
    try:
        row = await admin_of(request).line(line_id)
    except LineNotFound:
        raise web.HTTPNotFound(text="no such line") from None
    if row.municipality != municipality_id(request):
        raise web.HTTPNotFound(text="no such line")
    return line_id


def actor(request: web.Request) -> str:
    return session_of(request).user.actor


def back(line_id: int, anchor: str = "", **query: str) -> web.HTTPSeeOther:
    q = urlencode({k: v[:900] for k, v in query.items() if v})
    return web.HTTPSeeOther(f"/admin/lines/{line_id}{'?' + q if q else ''}"
                            f"{'#' + anchor if anchor else ''}")


@requires(Role.ADMIN)
async def lines_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    rows = []
    for row in await admin.lines(municipality_id(request)):
        config = await admin.draft(row.id)
        rows.append({"row": row, "config": config})
    return page(request, "lines.html", lines=rows, error=request.query.get("error", "")[:300])


@requires(Role.ADMIN)
async def create_line(request: web.Request) -> web.StreamResponse:
    """A new line as a copy of an existing one: a new slug, name and numbers."""
    admin = admin_of(request)
    form = await request.post()
    if not form.get("copy_of"):
        raise web.HTTPBadRequest(text="pick the line to copy")
    source = await line_id_of(request, str(form.get("copy_of", "")))
    doc = (await admin.draft(source)).to_dict()
    doc.update(slug=str(form.get("slug", "")).strip(), name=str(form.get("name", "")).strip(),
               numbers=_words(str(form.get("numbers", ""))))
    try:
        config = LineConfig.from_dict(doc)
        line_id = await admin.create(config, actor=actor(request),
                                     municipality=municipality_id(request))
    except (LineError, ValueError) as exc:
        raise web.HTTPSeeOther("/admin/lines?" + urlencode({"error": str(exc)[:300]})) from None
    raise web.HTTPSeeOther(f"/admin/lines/{line_id}")


@requires(Role.ADMIN)
async def line_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    line_id = await line_id_of(request)
    try:
        row = await admin.line(line_id)
    except LineNotFound:
        raise web.HTTPNotFound(text="no such line") from None
    config = await admin.draft(line_id)
    need = required_prompts(config)
    return page(
        request, "line.html", row=row, config=config, doc=config.to_dict(),
        problems=await admin.problems(line_id), need=need,
        prompt_groups=_prompt_groups(config, need),
        versions=await admin.versions(line_id), days=DAYS,
        options_text={m["id"]: _options_text(m) for m in config.to_dict()["menus"]},
        hours_text="\n".join(_hours_line(h) for h in config.to_dict()["hours"]),
        error=request.query.get("error", "")[:500], done=request.query.get("done", "")[:200],
        recording="".join(c for c in request.query.get("recording", "") if c.isdigit())[:12],
    )


PROMPT_GROUPS = (  # (key, prefixes): how the prompts table is cut up for the admin
    ("menus", ("menu_", "type_", "option_", "language_option", "greeting", "closed")),
    ("numbers", ("digit_", "number_", "unit_")),
    ("flow", ("",)),
)


def _prompt_groups(config: LineConfig, need: dict[str, str]) -> list[dict[str, Any]]:
    """Prompts in groups; a group opens by itself when one of its prompts lacks audio."""
    groups: dict[str, list[str]] = {key: [] for key, _ in PROMPT_GROUPS}
    for pid in sorted(set(need) | set(config.prompts)):
        key = next(k for k, prefixes in PROMPT_GROUPS if pid.startswith(prefixes))
        groups[key].append(pid)
    return [{"key": key, "ids": ids,
             "missing": sum(1 for pid in ids for lang in config.languages
                            if pid in need and not config.audio(pid, lang))}
            for key, ids in groups.items() if ids]


def _options_text(menu_doc: Doc) -> str:
    return "\n".join(" ".join(filter(None, (o["key"], o["action"], o.get("target"),
                                            o.get("prompt"))))
                     for o in menu_doc["options"])


def _hours_line(h: Doc) -> str:
    return f"{','.join(h['days'])} {h['from']}-{h['to']}"


def _days(text: str) -> list[str]:
    """``mon,tue`` or ``mon-fri`` (a range, Monday to Friday) or both: the days named."""
    days: list[str] = []
    for part in _words(text):
        first, _, last = part.partition("-")
        if last and first in DAYS and last in DAYS:
            i, j = DAYS.index(first), DAYS.index(last)
            days += [DAYS[k % 7] for k in range(i, j + 1 if j >= i else j + 8)]
        else:
            days.append(part)
    return days


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,;]+", text) if w]


async def _edit(request: web.Request, what: str, anchor: str,
                change: Callable[[Doc, Any], None]) -> web.StreamResponse:
    """Read the form, change the draft's document, check it, save it; back to the page."""
    admin, line_id = admin_of(request), await line_id_of(request)
    form = await request.post()

    def apply(config: LineConfig) -> LineConfig:
        doc = config.to_dict()
        change(doc, form)
        return LineConfig.from_dict(doc)

    try:
        await admin.change_draft(line_id, apply, actor=actor(request), what=what)
    except LineNotFound:
        raise web.HTTPNotFound(text="no such line") from None
    except (LineError, ValueError) as exc:
        raise back(line_id, anchor, error=str(exc)) from None
    raise back(line_id, anchor, done=what)


@requires(Role.ADMIN)
async def save_settings(request: web.Request) -> web.StreamResponse:
    def change(doc: Doc, form: Any) -> None:
        doc["name"] = str(form.get("name", "")).strip()
        doc["numbers"] = _words(str(form.get("numbers", "")))
        doc["languages"] = _words(str(form.get("languages", "")).lower())
        doc["timezone"] = str(form.get("timezone", "")).strip() or "America/Lima"
        doc["operator_queue"] = str(form.get("operator_queue", "")).strip() or None
        hours = []
        for raw in str(form.get("hours", "")).splitlines():
            if not raw.strip():
                continue
            m = _HOURS.match(raw.lower())
            if not m:
                raise LineError(f"hours: {raw.strip()[:40]!r} should read like "
                                "'mon,tue 08:00-20:00'")
            hours.append({"days": _days(m[1]), "from": m[2], "to": m[3]})
        doc["hours"] = hours

    return await _edit(request, "line settings", "settings", change)


@requires(Role.ADMIN)
async def save_menu(request: web.Request) -> web.StreamResponse:
    """One menu (or a new one): its prompts, tries, timeout, and options as lines such as
    ``1 type emergency``, ``9 status``, ``0 operator``, ``8 menu more``, ``* repeat``."""
    def change(doc: Doc, form: Any) -> None:
        menu_id = str(form.get("id", "")).strip()
        if form.get("delete") == "1":
            doc["menus"] = [m for m in doc["menus"] if m["id"] != menu_id]
            return
        options = []
        for raw in str(form.get("options", "")).splitlines():
            if not raw.strip():
                continue
            m = _OPTION.match(raw)
            if not m:
                raise LineError(f"menu {menu_id}: {raw.strip()[:40]!r} should read like "
                                "'2 type robbery', '9 status', '0 operator', '8 menu more'")
            option: Doc = {"key": m[1], "action": m[2]}
            if m[3]:
                option["target" if m[2] in ("type", "menu") else "prompt"] = m[3]
            if m[4]:
                option["prompt"] = m[4]
            options.append(option)
        menu = {"id": menu_id, "intro": str(form.get("intro", "")).strip() or "menu_intro",
                "tries": _int(form.get("tries"), 3), "timeout_s": _float(form.get("timeout_s"), 6),
                "invalid_prompt": str(form.get("invalid_prompt", "")).strip() or "invalid",
                "no_input_prompt": str(form.get("no_input_prompt", "")).strip() or "no_input",
                "on_fail": str(form.get("on_fail", "operator")), "options": options}
        doc["menus"] = [menu if m["id"] == menu_id else m for m in doc["menus"]]
        if all(m["id"] != menu_id for m in doc["menus"]):
            doc["menus"].append(menu)

    return await _edit(request, "menu", "menus", change)


@requires(Role.ADMIN)
async def save_type(request: web.Request) -> web.StreamResponse:
    def change(doc: Doc, form: Any) -> None:
        type_id = str(form.get("id", "")).strip()
        if form.get("delete") == "1":
            doc["types"] = [t for t in doc["types"] if t["id"] != type_id]
            return
        labels = {lang: str(form.get(f"label_{lang}", "")).strip() for lang in doc["languages"]}
        words = {lang: _words(str(form.get(f"words_{lang}", "")).replace(",", " , "))
                 for lang in doc["languages"]}
        entry = {"id": type_id, "priority": _int(form.get("priority"), 5),
                 "emergency": form.get("emergency") == "1",
                 "callback_minutes": _int(form.get("callback_minutes"), 1440),
                 "labels": {k: v for k, v in labels.items() if v},
                 "alert_words": {k: [w for w in v if w != ","] for k, v in words.items() if v}}
        doc["types"] = [entry if t["id"] == type_id else t for t in doc["types"]]
        if all(t["id"] != type_id for t in doc["types"]):
            doc["types"].append(entry)

    return await _edit(request, "incident type", "types", change)


@requires(Role.ADMIN)
async def save_prompt_text(request: web.Request) -> web.StreamResponse:
    def change(doc: Doc, form: Any) -> None:
        prompt_id, language = str(form.get("prompt", "")), str(form.get("language", ""))
        if language not in doc["languages"]:
            raise LineError(f"the line does not speak {language[:10]!r}")
        entry = doc["prompts"].setdefault(prompt_id, {}).setdefault(language, {"text": ""})
        entry["text"] = str(form.get("text", "")).strip()

    return await _edit(request, "prompt text", "prompts", change)


@requires(Role.ADMIN)
async def publish(request: web.Request) -> web.StreamResponse:
    admin, line_id = admin_of(request), await line_id_of(request)
    form = await request.post()
    try:
        version = await admin.publish(line_id, actor=actor(request),
                                      note=str(form.get("note", "")).strip())
    except LineProblems as exc:
        raise back(line_id, "problems", error="not published: " + "; ".join(exc.problems)
                   ) from None
    except LineConflict as exc:  # a number another line has
        raise back(line_id, "settings", error=f"not published: {exc}") from None
    raise back(line_id, "history", done=f"version {version} is live")


@requires(Role.ADMIN)
async def restore(request: web.Request) -> web.StreamResponse:
    admin, line_id = admin_of(request), await line_id_of(request)
    form = await request.post()
    version = parse_id(str(form.get("version", "")))
    if version is None:
        raise web.HTTPBadRequest(text="which version?")
    try:
        new = await admin.restore(line_id, version, actor=actor(request))
    except LineNotFound:
        raise web.HTTPNotFound(text="no such version") from None
    raise back(line_id, "history", done=f"version {version} is live again as version {new}")


@requires(Role.ADMIN)
async def discard(request: web.Request) -> web.StreamResponse:
    admin, line_id = admin_of(request), await line_id_of(request)
    await admin.discard_draft(line_id, actor=actor(request))
    raise back(line_id, done="draft discarded")


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip()) if str(value or "").strip() else default
    except ValueError:
        raise LineError(f"{str(value)[:12]!r} is not a whole number") from None


def _float(value: Any, default: float) -> float:
    try:
        return float(str(value).strip()) if str(value or "").strip() else default
    except ValueError:
        raise LineError(f"{str(value)[:12]!r} is not a number") from None
