"""A line: the number citizens dial, its flow, languages, menus, incident types and prompts.

This is what admins edit. One ``LineConfig`` is one version of a line, kept whole:
a draft, a published version and an exported file are the same document
(``to_dict``/``from_dict``). Reading a document checks its shape and says what is
wrong with it; whether a line is complete enough to publish is ``ivr.domain.line_check``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.domain.areas import Area, AreaError, read_areas

FORMAT = 1  # the document format; bumped only with a reader for the old one
KEYS = "0123456789*#"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")  # es, en, qu, es-PE
_NUMBER = re.compile(r"^[0-9+*#]{1,20}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
MAX_TEXT = 500  # characters of a prompt's text
MAX_MENUS = 50
MAX_TYPES = 60
MAX_PROMPTS = 2000


class LineError(ValueError):
    """A line document that cannot be read; the message says where and why."""


class Flow(StrEnum):
    REPORT = "report"  # pick an incident type, leave a message
    STATUS = "status"  # type a report number, hear where it stands
    PARTICIPATION = "participation"  # complaint, suggestion or query for a municipal area
    TAX = "tax"  # type a DNI or RUC and the bill's code, hear what is owed


class Action(StrEnum):
    TYPE = "type"  # open a report of incident type ``target``
    STATUS = "status"  # hear a report's state
    OPERATOR = "operator"  # speak with an operator
    MENU = "menu"  # go to menu ``target``
    REPEAT = "repeat"  # hear this menu again


class OnFail(StrEnum):
    OPERATOR = "operator"  # after the last try: an operator, or the report without a type
    GOODBYE = "goodbye"  # after the last try: a polite goodbye


@dataclass(frozen=True, slots=True)
class IncidentType:
    id: str  # stable; reports keep it
    priority: int  # 1 = most urgent .. 9
    emergency: bool = False  # straight to the operator queue first
    callback_minutes: int = 24 * 60  # deadline to call the citizen back
    labels: Mapping[str, str] = field(default_factory=dict)  # language → label
    alert_words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    answer_days: int | None = None  # participation lines: business days to answer

    def label(self, language: str, fallback: str = "") -> str:
        """In ``language``, else ``fallback``, else the first label given, else the id."""
        return (self.labels.get(language) or self.labels.get(fallback)
                or next(iter(self.labels.values()), "") or self.id)


@dataclass(frozen=True, slots=True)
class Option:
    key: str
    action: Action
    target: str | None = None  # a type id (TYPE) or a menu id (MENU)
    prompt: str | None = None  # what announces it; None: the default below

    @property
    def announce(self) -> str:
        if self.prompt:
            return self.prompt
        if self.action is Action.TYPE:
            return f"type_{self.target}"
        if self.action is Action.MENU:
            return f"menu_{self.target}"
        return f"option_{self.action.value}"


@dataclass(frozen=True, slots=True)
class Menu:
    id: str
    intro: str  # prompt played first
    options: tuple[Option, ...]
    tries: int = 3
    timeout_s: float = 6.0
    invalid_prompt: str = "invalid"
    no_input_prompt: str = "no_input"
    on_fail: OnFail = OnFail.OPERATOR

    def option(self, key: str | None) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    @property
    def keys(self) -> str:
        return "".join(o.key for o in self.options)


@dataclass(frozen=True, slots=True)
class Hours:
    """Opening hours of the operators (the line itself answers at any hour)."""

    days: tuple[int, ...]  # 0 = Monday
    start: str  # HH:MM
    end: str  # HH:MM, 24:00 for midnight


@dataclass(frozen=True, slots=True)
class PromptText:
    text: str = ""
    audio: str | None = None  # sha256 of the audio in the prompt library


@dataclass(frozen=True, slots=True)
class LineConfig:
    slug: str
    name: str
    flow: Flow
    numbers: tuple[str, ...]  # dialled numbers (DIDs) that reach this line
    languages: tuple[str, ...]  # in menu order; the first is the default and the fallback
    timezone: str = "America/Lima"
    hours: tuple[Hours, ...] = ()  # empty: operators always on duty
    operator_queue: str | None = "operators"
    start_menu: str | None = "main"  # None for flows without a menu
    menus: tuple[Menu, ...] = ()
    types: tuple[IncidentType, ...] = ()
    # prompt id → language → text and audio
    prompts: Mapping[str, Mapping[str, PromptText]] = field(default_factory=dict)
    areas: tuple[Area, ...] = ()  # participation lines: the municipal areas a case is for

    def menu(self, menu_id: str | None) -> Menu | None:
        return next((m for m in self.menus if m.id == menu_id), None)

    def type(self, type_id: str | None) -> IncidentType | None:
        return next((t for t in self.types if t.id == type_id), None)

    def area(self, area_id: str | None) -> Area | None:
        return next((a for a in self.areas if a.id == area_id), None)

    def answer_days(self, type_id: str, area_id: str) -> int | None:
        """Business days to answer a case of this type for this area: the area's own
        deadline for the type, else the type's; None when neither sets one."""
        area, kind = self.area(area_id), self.type(type_id)
        if area is not None and type_id in area.days:
            return area.days[type_id]
        return kind.answer_days if kind is not None else None

    def audio(self, prompt_id: str, language: str) -> str | None:
        entry = self.prompts.get(prompt_id, {}).get(language)
        return entry.audio if entry else None

    def on_duty(self, moment: datetime) -> bool:
        """Are operators on duty at ``moment`` (aware) by the line's hours and time zone?"""
        if not self.hours:
            return True
        local = moment.astimezone(ZoneInfo(self.timezone))
        hhmm = local.strftime("%H:%M")
        return any(local.weekday() in h.days and h.start <= hhmm < h.end for h in self.hours)

    def with_prompt(self, prompt_id: str, language: str, prompt: PromptText) -> LineConfig:
        prompts = {k: dict(v) for k, v in self.prompts.items()}
        prompts.setdefault(prompt_id, {})[language] = prompt
        return replace(self, prompts=prompts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "slug": self.slug,
            "name": self.name,
            "flow": self.flow.value,
            "numbers": list(self.numbers),
            "languages": list(self.languages),
            "timezone": self.timezone,
            "hours": [
                {"days": [DAYS[d] for d in h.days], "from": h.start, "to": h.end}
                for h in self.hours
            ],
            "operator_queue": self.operator_queue,
            "start_menu": self.start_menu,
            "menus": [_menu_dict(m) for m in self.menus],
            "types": [_type_dict(t) for t in self.types],
            **({"areas": [a.to_dict() for a in self.areas]} if self.areas else {}),
            "prompts": {
                pid: {
                    lang: {"text": p.text, **({"audio": p.audio} if p.audio else {})}
                    for lang, p in sorted(by_lang.items())
                }
                for pid, by_lang in sorted(self.prompts.items())
            },
        }

    @staticmethod
    def from_dict(doc: Any) -> LineConfig:
        return _read_line(doc)


def document_text(config: LineConfig) -> str:
    """The document as stored and exported: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def document_sha(config: LineConfig) -> str:
    """Names a version's prompt folder: the same document, the same folder."""
    return hashlib.sha256(document_text(config).encode()).hexdigest()


def _menu_dict(m: Menu) -> dict[str, Any]:
    return {
        "id": m.id, "intro": m.intro, "tries": m.tries, "timeout_s": m.timeout_s,
        "invalid_prompt": m.invalid_prompt, "no_input_prompt": m.no_input_prompt,
        "on_fail": m.on_fail.value,
        "options": [
            {"key": o.key, "action": o.action.value,
             **({"target": o.target} if o.target else {}),
             **({"prompt": o.prompt} if o.prompt else {})}
            for o in m.options
        ],
    }


def _type_dict(t: IncidentType) -> dict[str, Any]:
    return {
        "id": t.id, "priority": t.priority, "emergency": t.emergency,
        "callback_minutes": t.callback_minutes, "labels": dict(sorted(t.labels.items())),
        "alert_words": {k: list(v) for k, v in sorted(t.alert_words.items())},
        **({"answer_days": t.answer_days} if t.answer_days is not None else {}),
    }


# --- reading a document: every value checked, every error says where ---------------


def _get(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = ...) -> Any:
    if key not in doc or doc[key] is None:
        if default is ...:
            raise LineError(f"{where}: '{key}' is missing")
        return default
    value = doc[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise LineError(f"{where}: '{key}' has the wrong type")
    return value


def _ident(value: str, where: str) -> str:
    if not _ID.match(value):
        raise LineError(f"{where}: {value[:60]!r} must be lower-case letters, digits and _")
    return value


def _read_line(doc: Any) -> LineConfig:
    if not isinstance(doc, Mapping):
        raise LineError("a line must be an object")
    if doc.get("format", FORMAT) != FORMAT:
        raise LineError(f"format {doc.get('format')!r} is not known (expected {FORMAT})")
    slug = _ident(_get(doc, "slug", str, "line"), "line slug")
    where = f"line {slug}"
    try:
        flow = Flow(_get(doc, "flow", str, where))
    except ValueError:
        raise LineError(f"{where}: flow must be one of {', '.join(Flow)}") from None
    numbers = tuple(_get(doc, "numbers", list, where, []))
    for n in numbers:
        if not isinstance(n, str) or not _NUMBER.match(n):
            raise LineError(f"{where}: number {str(n)[:30]!r} must be 1 to 20 digits")
    languages = tuple(_get(doc, "languages", list, where))
    if not languages or len(languages) > 9 or len(set(languages)) != len(languages):
        raise LineError(f"{where}: 1 to 9 different languages are needed")
    for lang in languages:
        if not isinstance(lang, str) or not _LANG.match(lang):
            raise LineError(f"{where}: {str(lang)[:20]!r} is not a language code (es, en, qu)")
    menus = tuple(_read_menu(m, where) for m in _get(doc, "menus", list, where, []))
    types = tuple(_read_type(t, where) for t in _get(doc, "types", list, where, []))
    if len(menus) > MAX_MENUS or len(types) > MAX_TYPES:
        raise LineError(f"{where}: at most {MAX_MENUS} menus and {MAX_TYPES} incident types")
    _unique([m.id for m in menus], f"{where}: menu")
    _unique([t.id for t in types], f"{where}: incident type")
    queue = _get(doc, "operator_queue", str, where, None)
    if queue is not None and not re.match(r"^[A-Za-z0-9_-]{1,40}$", queue):
        raise LineError(f"{where}: operator_queue must be letters, digits, - and _")
    name = _get(doc, "name", str, where, slug)
    if not name.strip() or len(name) > 120 or not name.isprintable():
        raise LineError(f"{where}: a name of 1 to 120 printable characters is needed")
    start = _get(doc, "start_menu", str, where,
                 "main" if flow in (Flow.REPORT, Flow.PARTICIPATION) else None)
    try:
        areas = read_areas(_get(doc, "areas", list, where, []), where)
    except AreaError as exc:
        raise LineError(str(exc)) from None
    return LineConfig(
        slug=slug, name=name.strip(), flow=flow, numbers=numbers, languages=languages,
        timezone=_zone(_get(doc, "timezone", str, where, "America/Lima"), where),
        hours=tuple(_read_hours(h, where) for h in _get(doc, "hours", list, where, [])),
        operator_queue=queue or None, start_menu=start, menus=menus, types=types,
        prompts=_read_prompts(_get(doc, "prompts", dict, where, {}), where), areas=areas,
    )


def _zone(name: str, where: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LineError(f"{where}: {name[:40]!r} is not a time zone (America/Lima)") from None
    return name


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise LineError(f"{what} {i!r} is defined twice")
        seen.add(i)


def _read_menu(doc: Any, line: str) -> Menu:
    if not isinstance(doc, Mapping):
        raise LineError(f"{line}: a menu must be an object")
    mid = _ident(_get(doc, "id", str, f"{line} menu"), f"{line} menu id")
    where = f"{line} menu {mid}"
    options = []
    for o in _get(doc, "options", list, where):
        if not isinstance(o, Mapping):
            raise LineError(f"{where}: an option must be an object")
        key = _get(o, "key", str, where)
        if len(key) != 1 or key not in KEYS:
            raise LineError(f"{where}: key {key[:5]!r} must be one of {KEYS}")
        try:
            action = Action(_get(o, "action", str, f"{where} key {key}"))
        except ValueError:
            raise LineError(f"{where} key {key}: action must be one of "
                            f"{', '.join(Action)}") from None
        target = _get(o, "target", str, f"{where} key {key}", None)
        if target is not None:
            _ident(target, f"{where} key {key} target")
        prompt = _get(o, "prompt", str, f"{where} key {key}", None)
        options.append(Option(key, action, target,
                              _ident(prompt, f"{where} key {key} prompt") if prompt else None))
    _unique([o.key for o in options], f"{where}: key")
    tries = _get(doc, "tries", int, where, 3)
    timeout = _get(doc, "timeout_s", float, where, 6.0)
    if not (1 <= tries <= 9) or not (1.0 <= timeout <= 30.0):
        raise LineError(f"{where}: tries must be 1..9 and timeout_s 1..30 seconds")
    try:
        on_fail = OnFail(_get(doc, "on_fail", str, where, "operator"))
    except ValueError:
        raise LineError(f"{where}: on_fail must be operator or goodbye") from None
    return Menu(
        id=mid, intro=_ident(_get(doc, "intro", str, where), f"{where} intro"),
        options=tuple(options), tries=tries, timeout_s=timeout,
        invalid_prompt=_ident(_get(doc, "invalid_prompt", str, where, "invalid"), where),
        no_input_prompt=_ident(_get(doc, "no_input_prompt", str, where, "no_input"), where),
        on_fail=on_fail,
    )


def _read_type(doc: Any, line: str) -> IncidentType:
    if not isinstance(doc, Mapping):
        raise LineError(f"{line}: an incident type must be an object")
    tid = _ident(_get(doc, "id", str, f"{line} type"), f"{line} type id")
    where = f"{line} type {tid}"
    priority = _get(doc, "priority", int, where)
    minutes = _get(doc, "callback_minutes", int, where, 24 * 60)
    if not (1 <= priority <= 9) or not (1 <= minutes <= 60 * 24 * 60):
        raise LineError(f"{where}: priority must be 1..9 and callback_minutes 1..86400")
    labels = _get(doc, "labels", dict, where, {})
    for lang, label in labels.items():
        if not isinstance(label, str) or len(label) > 80 or not label.isprintable():
            raise LineError(f"{where}: the {lang} label must be up to 80 printable characters")
    words = {}
    for lang, ws in _get(doc, "alert_words", dict, where, {}).items():
        if not isinstance(ws, list) or not all(isinstance(w, str) and 0 < len(w) <= 40
                                               for w in ws) or len(ws) > 100:
            raise LineError(f"{where}: alert words in {lang} must be up to 100 short words")
        words[lang] = tuple(w.strip().lower() for w in ws)
    answer_days = _get(doc, "answer_days", int, where, None)
    if answer_days is not None and not 1 <= answer_days <= 365:
        raise LineError(f"{where}: answer_days must be 1..365 business days")
    return IncidentType(tid, priority, bool(_get(doc, "emergency", bool, where, False)),
                        minutes, dict(labels), words, answer_days)


def _read_hours(doc: Any, line: str) -> Hours:
    where = f"{line} hours"
    if not isinstance(doc, Mapping):
        raise LineError(f"{where}: each entry must be an object")
    days = []
    for d in _get(doc, "days", list, where):
        if d not in DAYS:
            raise LineError(f"{where}: {str(d)[:10]!r} is not one of {', '.join(DAYS)}")
        days.append(DAYS.index(d))
    start, end = _get(doc, "from", str, where), _get(doc, "to", str, where)
    if not _HHMM.match(start) or not _HHMM.match(end) or start >= end:
        raise LineError(f"{where}: from and to must be HH:MM with from before to")
    return Hours(tuple(sorted(set(days))), start, end)


def _read_prompts(doc: Mapping[str, Any], line: str) -> dict[str, dict[str, PromptText]]:
    if len(doc) > MAX_PROMPTS:
        raise LineError(f"{line}: at most {MAX_PROMPTS} prompts")
    out: dict[str, dict[str, PromptText]] = {}
    for pid, by_lang in doc.items():
        where = f"{line} prompt {_ident(pid, f'{line} prompt')}"
        if not isinstance(by_lang, Mapping):
            raise LineError(f"{where}: languages must be an object")
        out[pid] = {}
        for lang, entry in by_lang.items():
            if not isinstance(entry, Mapping):
                raise LineError(f"{where} ({lang}): must be an object")
            text = _get(entry, "text", str, f"{where} ({lang})", "")
            audio = _get(entry, "audio", str, f"{where} ({lang})", None)
            if len(text) > MAX_TEXT:
                raise LineError(f"{where} ({lang}): the text is longer than {MAX_TEXT}")
            if audio is not None and not _SHA.match(audio):
                raise LineError(f"{where} ({lang}): audio must be a sha256 (64 hex digits)")
            out[pid][lang] = PromptText(text, audio)
    return out
