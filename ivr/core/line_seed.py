"""Version 1 of the lines, from today's configuration file and the shipped prompts.

On the first start of a database with no lines, the TOML keypad (incident types,
status and operator keys), languages, menu tries and operator queue become the
default report line, and the shipped prompt folder becomes its audio; a status
line is made the same way. From then on admins change lines in the console and
the TOML's keypad is no longer read for calls (the log says so at start-up).
"""

from __future__ import annotations

import functools
import logging
import tomllib
from pathlib import Path
from typing import Any

from ivr.config import Settings
from ivr.core.lines import LineAdmin, LineConflict, LineProblems
from ivr.domain.line_check import (
    CLOSED_PROMPT,
    DIGIT_PROMPTS,
    LANGUAGE_PROMPT,
    OPERATOR_PROMPTS,
    PARTICIPATION_PROMPTS,
    REPORT_PROMPTS,
    STATUS_PROMPTS,
    TAX_OPERATOR_PROMPTS,
    TAX_PROMPTS,
    day_prompts,
    required_prompts,
    tax_spoken_prompts,
)
from ivr.domain.lines import (
    Action,
    Flow,
    IncidentType,
    LineConfig,
    Menu,
    OnFail,
    Option,
    PromptText,
)

logger = logging.getLogger(__name__)

ACTOR = "system"


def catalogue_texts(shipped: Path) -> dict[str, dict[str, str]]:
    """prompt id → language → text, from the catalogue the shipped prompts were made from."""
    path = shipped / "catalogue.toml"
    if not path.is_file():
        return {}
    stat = path.stat()
    return _catalogue(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _catalogue(path: str, _mtime_ns: int, _size: int) -> dict[str, dict[str, str]]:
    """Read once per version of the file (each start seeds several lines from it)."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    out: dict[str, dict[str, str]] = {}
    for pid, entry in data.get("prompt", {}).items():
        texts = {k: v for k, v in entry.items() if isinstance(v, str)}
        if "segments" in entry:
            joined = " ".join(s.get("text", "") for s in entry["segments"])
            texts = {lang: joined for lang in data.get("voices", {})}
        out[pid] = texts
    return out


def report_line(settings: Settings) -> LineConfig:
    keypad = settings.keypad
    options = [Option(t.key, Action.TYPE, t.id) for t in keypad.types]
    if keypad.status_key:
        options.append(Option(keypad.status_key, Action.STATUS))
    if keypad.operator_key and settings.operator_queue:
        options.append(Option(keypad.operator_key, Action.OPERATOR))
    main = Menu("main", "menu_intro", tuple(options), tries=settings.menu_tries,
                timeout_s=min(30.0, max(1.0, settings.menu_timeout_s)),
                on_fail=OnFail.OPERATOR)
    types = tuple(
        IncidentType(t.id, t.priority, t.emergency, t.callback_minutes,
                     {k: v for k, v in (("es", t.label_es), ("en", t.label_en)) if v})
        for t in keypad.types)
    return LineConfig(
        slug="report", name="Línea de alerta", flow=Flow.REPORT, numbers=(settings.report_line,),
        languages=settings.languages, operator_queue=settings.operator_queue or None,
        start_menu="main", menus=(main,), types=types)


def status_line(settings: Settings) -> LineConfig:
    return LineConfig(slug="status", name="Estado de un reporte", flow=Flow.STATUS,
                      numbers=(settings.status_line,), languages=settings.languages,
                      operator_queue=None, start_menu=None)


def tax_line(settings: Settings) -> LineConfig:
    """The tax line (docs/tax.md): its number, the settings' languages and operators."""
    return LineConfig(slug="tax", name="Consulta de tributos", flow=Flow.TAX,
                      numbers=(settings.tax_line,), languages=settings.languages,
                      operator_queue=settings.operator_queue or None, start_menu=None)


# The participation line's kinds (business days to answer) and municipal areas (key).
CASE_KINDS = (("complaint", 30, "Queja", "Complaint"), ("suggestion", 30, "Sugerencia",
              "Suggestion"), ("query", 10, "Consulta", "Query"))
CASE_AREAS = (("cleaning", "1", "Limpieza pública", "Public cleaning"),
              ("parks", "2", "Parques y jardines", "Parks and gardens"),
              ("transit", "3", "Tránsito", "Traffic"),
              ("licences", "4", "Licencias", "Licences"),
              ("works", "5", "Obras", "Public works"),
              ("other", "9", "Otras áreas", "Other areas"))


def participation_line(settings: Settings) -> LineConfig:
    """Complaints, suggestions and queries (docs/participation.md): the kind menu, then
    the area by its key; the deadlines are the settings' business days."""
    days = {"complaint": settings.participation_complaint_days,
            "suggestion": settings.participation_suggestion_days,
            "query": settings.participation_query_days}
    kinds = [{"id": kid, "priority": 5, "answer_days": days.get(kid, default),
              "callback_minutes": 7 * 24 * 60, "labels": {"es": es, "en": en}}
             for kid, default, es, en in CASE_KINDS]
    return LineConfig.from_dict({
        "slug": "participation", "name": "Quejas, sugerencias y consultas",
        "flow": "participation", "numbers": [settings.participation_line],
        "languages": list(settings.languages), "start_menu": "main",
        "menus": [{"id": "main", "intro": "part_kind_intro",
                   "options": [{"key": str(n), "action": "type", "target": k["id"]}
                               for n, k in enumerate(kinds, 1)],
                   "tries": settings.menu_tries,
                   "timeout_s": min(30.0, max(1.0, settings.menu_timeout_s)),
                   "on_fail": "goodbye"}],
        "types": kinds,
        "areas": [{"id": aid, "key": key, "labels": {"es": es, "en": en}}
                  for aid, key, es, en in CASE_AREAS],
    })


async def with_shipped_prompts(admin: LineAdmin, config: LineConfig, shipped: Path) -> LineConfig:
    """Every prompt the line needs, with the shipped audio and the catalogue's text; a
    report or status line also gets every other shipped prompt of its languages (for
    admins to offer in menus) except the tax and participation lines' own."""
    texts = catalogue_texts(shipped)
    wanted = set(required_prompts(config))
    if config.flow in (Flow.REPORT, Flow.STATUS):
        wanted |= {p.stem for lang in config.languages for p in (shipped / lang).glob("*.wav")
                   if p.stem not in _services_only()}
    files = {(pid, lang): shipped / lang / f"{pid}.wav"
             for pid in sorted(wanted) for lang in config.languages}
    audio = await admin.add_shipped({k: f for k, f in files.items() if f.is_file()},
                                    actor=ACTOR)
    prompts: dict[str, dict[str, PromptText]] = {}
    for (pid, lang) in files:
        sha = audio.get((pid, lang))
        text = texts.get(pid, {}).get(lang, "")
        if sha or text:
            prompts.setdefault(pid, {})[lang] = PromptText(text[:500], sha)
    return LineConfig.from_dict({**config.to_dict(), "prompts": _as_doc(prompts)})


@functools.cache
def _services_only() -> frozenset[str]:
    """The prompts only the tax and participation lines say (their phrases, amounts, dates
    and areas): not carried by every report line."""
    theirs = {*TAX_PROMPTS, *TAX_OPERATOR_PROMPTS, *tax_spoken_prompts(),
              *PARTICIPATION_PROMPTS, *day_prompts(), "part_kind_intro",
              *(f"type_{k[0]}" for k in CASE_KINDS), *(f"area_{a[0]}" for a in CASE_AREAS),
              "case_status_open", "case_status_answered", "case_answer_follows",
              "case_answer_by_phone", "case_status_closed", "case_overdue"}
    report = {*REPORT_PROMPTS, *STATUS_PROMPTS, *DIGIT_PROMPTS, *OPERATOR_PROMPTS,
              LANGUAGE_PROMPT, CLOSED_PROMPT}
    return frozenset(theirs - report)


def _as_doc(prompts: dict[str, dict[str, PromptText]]) -> dict[str, Any]:
    return {pid: {lang: {"text": p.text, **({"audio": p.audio} if p.audio else {})}
                  for lang, p in by_lang.items()} for pid, by_lang in prompts.items()}


async def seed_lines(admin: LineAdmin, settings: Settings) -> bool:
    """Make version 1 of the default lines when the store has none. True when it did.

    A default line the first start could not publish (prompts missing where ``prompts``
    points) and nobody has edited since is made again and published on each start, so
    copying the prompts and restarting is enough."""
    shipped = settings.prompts.resolve()
    rows = await admin.lines()
    if rows:
        pending = [r for r in rows if r.is_default and r.live_version is None
                   and r.draft_by == ACTOR
                   and r.flow in ("report", "status", "tax", "participation")]
        if not pending:
            logger.info("lines come from the store; the configuration file's keypad and "
                        "languages were read only on the first start")
        for row in pending:
            config = await with_shipped_prompts(admin, _made(row.flow, settings), shipped)
            await admin.save_draft(row.id, config, actor=ACTOR,
                                   what="made again from the configuration file")
            await _publish(admin, row.id, config.slug, shipped)
        # A database made before tax lines existed gets its default one.
        made = [] if any(r.flow == "tax" for r in rows) else await _create(
            [tax_line(settings)], admin, shipped)
        # ... and its participation line.
        made += [] if any(r.flow == "participation" for r in rows) else await _create(
            [participation_line(settings)], admin, shipped)
        return bool(pending or made)
    made = await _create([report_line(settings), status_line(settings), tax_line(settings),
                          participation_line(settings)], admin, shipped)
    return bool(made)


async def _create(configs: list[LineConfig], admin: LineAdmin, shipped: Path) -> list[int]:
    """Create and publish these default lines; the ids made."""
    made: list[int] = []
    for config in configs:
        config = await with_shipped_prompts(admin, config, shipped)
        try:
            line_id = await admin.create(config, actor=ACTOR, default=True)
        except LineConflict:  # another process (the console, the controller) seeded first
            break
        await _publish(admin, line_id, config.slug, shipped)
        made.append(line_id)
    return made


def _made(flow: str, settings: Settings) -> LineConfig:
    return {"report": report_line, "status": status_line, "tax": tax_line,
            "participation": participation_line}[flow](settings)


async def _publish(admin: LineAdmin, line_id: int, slug: str, shipped: Path) -> None:
    try:
        version = await admin.publish(line_id, actor=ACTOR, note="from the configuration file")
    except LineProblems as exc:
        # No prompts where the setting points: the line stays a draft, calls go to the
        # fallback context; copying the prompts and restarting publishes it.
        logger.error("line %s is not published: %d problem(s), the first: %s "
                     "(is `prompts` = %s right? `alerta lines problems %s` lists them all)",
                     slug, len(exc.problems), exc.problems[0], shipped, slug)
        return
    logger.info("line %s: version %d made from the configuration file", slug, version)
