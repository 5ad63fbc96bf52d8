"""Prompt audio in the admin pages: preview, upload, speak from text; export and import.

Uploads come as the request body itself (the page's script sends the file with the
CSRF token in a header), read in pieces up to a cap, so a 20 MB recording does not
need the console's small form limit raised for every route. Audio is served by its
content id only, from the prompt library; a client never names a path.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from aiohttp import web

from ivr.core.lines import LineNotFound
from ivr.core.prompt_audio import MAX_UPLOAD_BYTES, PromptAudio, PromptAudioRefused
from ivr.domain.lines import LineError
from ivr.domain.roles import Role
from operator_console.security import municipality_id, requires, session_of
from operator_console.state import console_of
from operator_console.views.lines import actor, admin_of, back, line_id_of

MAX_IMPORT_BYTES = 64 * 1024 * 1024
_SHA = re.compile(r"^[0-9a-f]{64}$")
_PROMPT = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


@requires(Role.ADMIN)
async def audio(request: web.Request) -> web.StreamResponse:
    sha = request.match_info.get("sha", "")
    admin = admin_of(request)
    if not _SHA.match(sha) or not admin.library.has(sha) \
            or not await admin.uses_audio(municipality_id(request), sha):
        raise web.HTTPNotFound(text="no such audio")
    return web.FileResponse(admin.library.path(sha), headers={
        "Content-Type": "audio/wav", "Cache-Control": "private, max-age=31536000, immutable"})


async def _prompt_slot(request: web.Request) -> tuple[int, str, str]:
    line_id = await line_id_of(request)
    prompt, language = request.match_info.get("prompt", ""), request.match_info.get("lang", "")
    if not _PROMPT.match(prompt):
        raise web.HTTPNotFound(text="no such prompt")
    try:
        config = await admin_of(request).draft(line_id)
    except LineNotFound:
        raise web.HTTPNotFound(text="no such line") from None
    if language not in config.languages:
        raise web.HTTPNotFound(text="the line does not speak that language")
    return line_id, prompt, language


async def _body(request: web.Request, cap: int) -> bytes:
    if request.content_length is not None and request.content_length > cap:
        raise web.HTTPRequestEntityTooLarge(max_size=cap, actual_size=request.content_length)
    chunks, size = [], 0
    while chunk := await request.content.read(256 * 1024):
        size += len(chunk)
        if size > cap:
            raise web.HTTPRequestEntityTooLarge(max_size=cap, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


@requires(Role.ADMIN)
async def upload(request: web.Request) -> web.Response:
    """The file as the body; ``X-Filename`` names it in messages. JSON either way."""
    line_id, prompt, language = await _prompt_slot(request)
    data = await _body(request, MAX_UPLOAD_BYTES)
    name = unquote(request.headers.get("X-Filename", ""))[:80] or "the file"
    try:
        sha, seconds = await PromptAudio(admin_of(request)).upload(
            line_id, prompt, language, data, name, actor=actor(request))
    except PromptAudioRefused as exc:
        return web.json_response({"error": str(exc)}, status=422)
    return web.json_response({"audio": sha, "seconds": seconds,
                              "done": f"{prompt} ({language}): {name}, {seconds:.1f} s"})


@requires(Role.ADMIN)
async def spoken(request: web.Request) -> web.StreamResponse:
    """Speak the prompt's text (or the text sent with the form) and use it as its audio."""
    line_id, prompt, language = await _prompt_slot(request)
    form = await request.post()
    try:
        await PromptAudio(admin_of(request)).speak(
            line_id, prompt, language, text=str(form.get("text", "")).strip(),
            actor=actor(request))
    except PromptAudioRefused as exc:
        raise back(line_id, f"p-{prompt}", error=f"{prompt} ({language}): {exc}") from None
    raise back(line_id, f"p-{prompt}", done=f"{prompt} ({language}) spoken from its text")


@requires(Role.ADMIN)
async def by_phone(request: web.Request) -> web.StreamResponse:
    """Ring the admin's own phone to record this prompt (their account's extension)."""
    line_id, prompt, language = await _prompt_slot(request)
    console = console_of(request)
    user = session_of(request).user
    if console.recorder is None:
        raise web.HTTPServiceUnavailable(text="recording by phone is not available")
    if not user.extension:
        raise back(line_id, f"p-{prompt}", error="your account has no phone extension; "
                   "an administrator sets it under Users")
    endpoint = console.settings.operator_channel.format(extension=user.extension)
    try:
        rec = await console.recorder.start(line_id, prompt, language, endpoint=endpoint,
                                           actor=actor(request))
    except PromptAudioRefused as exc:
        raise back(line_id, f"p-{prompt}", error=f"{prompt} ({language}): {exc}") from None
    if rec.state == "failed":
        raise back(line_id, f"p-{prompt}", error=f"{prompt} ({language}): {rec.detail}")
    raise back(line_id, f"p-{prompt}", recording=rec.token,
               done=f"{prompt} ({language}): ringing {user.extension}")


@requires(Role.ADMIN)
async def recording_status(request: web.Request) -> web.Response:
    console = console_of(request)
    token = request.match_info.get("token", "")
    rec = await console.recorder.status(token) if console.recorder and token.isdigit() else None
    if rec is None:
        raise web.HTTPNotFound(text="no such recording")
    await line_id_of(request, str(rec.line_id))  # another municipality's: the same 404
    return web.json_response({"state": rec.state, "detail": rec.detail, "takes": rec.takes,
                              "prompt": rec.prompt_id, "language": rec.language,
                              "line": rec.line_id})


@requires(Role.ADMIN)
async def speak_missing(request: web.Request) -> web.StreamResponse:
    """Speak every prompt of a language that has text but no audio (``PromptAudio``)."""
    line_id = await line_id_of(request)
    form = await request.post()
    language = str(form.get("language", ""))
    try:
        result = await PromptAudio(admin_of(request)).speak_missing(line_id, language,
                                                                     actor=actor(request))
    except PromptAudioRefused as exc:
        raise back(line_id, "prompts", error=str(exc)) from None
    raise back(line_id, "prompts", done=f"{len(result.done)} prompt(s) spoken in {language}",
               error="; ".join(result.failed))


@requires(Role.ADMIN)
async def export(request: web.Request) -> web.Response:
    admin, line_id = admin_of(request), await line_id_of(request)
    draft = request.query.get("draft") == "1"
    try:
        row = await admin.line(line_id)
        doc = await admin.export(line_id, draft=draft, actor=actor(request))
    except LineNotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    name = f"line-{row.slug}-{'draft' if draft else f'v{row.live_version}'}.json"
    return web.Response(
        body=json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True).encode(),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@requires(Role.ADMIN)
async def import_line(request: web.Request) -> web.Response:
    """An export as the body; it becomes a draft (of the line with its slug, or a new one)."""
    data = await _body(request, MAX_IMPORT_BYTES)
    try:
        doc = json.loads(data)
        line_id, created = await admin_of(request).import_document(
            doc, actor=actor(request), municipality=municipality_id(request))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return web.json_response({"error": f"not an export: {exc}"}, status=422)
    except (LineError, PromptAudioRefused, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=422)
    return web.json_response({"line": line_id, "created": created})
