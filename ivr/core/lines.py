"""Use cases on lines: edit a draft, check it, publish, restore a version, export, import.

And the catalogue calls read: the live version of the line a dialled number reaches,
read once at the start of a call, so a publish changes only the calls after it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from collections.abc import Callable, Hashable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ivr.core.ports import PublishedLine
from ivr.core.records import LineConflict, LineRow, StoreError, VersionRow
from ivr.core.repositories import LineRepository
from ivr.domain.line_check import problems as line_problems
from ivr.domain.lines import IncidentType, LineConfig, LineError, PromptText, document_sha
from ivr.promptaudio.library import PromptAudioRefused, PromptLibrary, canonical_seconds

logger = logging.getLogger(__name__)

CACHE_VERSIONS = 64
K = TypeVar("K", bound=Hashable)
MAX_IMPORT_AUDIO = 4000


class LineNotFound(LookupError):
    pass


class LineProblems(ValueError):
    """Publishing refused: ``problems`` says everything that is missing or wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def audio_map(config: LineConfig) -> dict[tuple[str, str], str]:
    """(prompt id, language) → audio sha, for the languages the line speaks."""
    return {
        (pid, lang): p.audio
        for pid, by_lang in config.prompts.items()
        for lang, p in by_lang.items()
        if p.audio and lang in config.languages
    }


class PublishedLines:
    """``ivr.core.ports.LineCatalogue`` on the store and the prompt library."""

    def __init__(self, store: LineRepository, library: PromptLibrary) -> None:
        self.store = store
        self.library = library
        self._versions: dict[tuple[int, int], PublishedLine] = {}
        self._last_live: dict[int, PublishedLine] = {}  # line id → the version last served
        self._last_default: dict[str, PublishedLine] = {}

    async def for_call(self, dialled: str | None, flow: str | None) -> PublishedLine | None:
        try:
            found = await self.store.live_for_call(dialled, flow)
            if found is None:
                return None
            line_id, version, matched, municipality = found
            line = replace(await self._load(line_id, version), municipality=municipality)
        except StoreError as exc:
            seen = self._last_seen(dialled, flow)
            logger.warning("lines: the store is away (%s); call to %s runs on %s", exc,
                           dialled or "no number",
                           f"line {seen.line_id} v{seen.version}" if seen else "no line")
            return seen
        if not matched:
            self._last_default[flow or "*"] = line
        self._last_live[line_id] = line
        return line if matched else replace(line, matched=False)

    async def incident_types(self, municipality: int | None = None) -> list[IncidentType]:
        """Every incident type the live lines offer, the default report line's first, in
        its order; a type two lines share is listed once (the first line's labels). The
        kinds of citizens' cases (participation lines) are no incident types."""
        found: dict[str, IncidentType] = {}
        rows = sorted(await self.store.all(municipality), key=lambda r: (not r.is_default, r.id))
        for row in rows:
            if row.live_version is None or row.flow == "participation":
                continue
            for t in (await self._load(row.id, row.live_version)).config.types:
                found.setdefault(t.id, t)
        return list(found.values())

    async def live_configs(self, municipality: int, flow: str) -> list[LineConfig]:
        """The live version of each of the municipality's lines of ``flow``, oldest first."""
        rows = await self.store.all(municipality)
        return [(await self._load(r.id, r.live_version)).config
                for r in sorted(rows, key=lambda r: r.id)
                if r.flow == flow and r.live_version is not None]

    async def type_keys(self, municipality: int | None = None) -> dict[str, str]:
        """The default report line's first-menu keys and the incident types they pick
        (a citizen's text may start with one: "2 robaron ..."); a submenu's are left out."""
        rows = sorted(await self.store.all(municipality), key=lambda r: (not r.is_default, r.id))
        for row in rows:
            if row.live_version is None:
                continue
            config = (await self._load(row.id, row.live_version)).config
            menu = config.menu(config.start_menu)
            if menu is not None:
                return {o.key: o.target for o in menu.options
                        if o.action.value == "type" and o.target}
        return {}

    async def alert_words(self, type_id: str | None, language: str | None,
                          municipality: int | None = None) -> tuple[str, ...]:
        """The alert words admins gave incident type ``type_id`` in ``language``, across the
        live lines (a transcript of a report of that type is searched for them)."""
        words: list[str] = []
        try:
            rows = await self.store.all(municipality)
            for row in rows:
                if row.live_version is None:
                    continue
                config = (await self._load(row.id, row.live_version)).config
                found = config.type(type_id)
                for word in found.alert_words.get(language or "", ()) if found else ():
                    if word not in words:
                        words.append(word)
        except StoreError as exc:
            logger.warning("lines: alert words of %s unavailable (%s)", type_id, exc)
        return tuple(words)

    def _last_seen(self, dialled: str | None, flow: str | None) -> PublishedLine | None:
        for line in self._last_live.values():
            if dialled and dialled in line.config.numbers and flow in (None, line.config.flow):
                return line
        return self._last_default.get(flow or "*")

    async def _load(self, line_id: int, version: int) -> PublishedLine:
        cached = self._versions.get((line_id, version))
        if cached is not None:
            return cached
        row = await self.store.version(line_id, version)
        if row is None:
            raise StoreError(f"line {line_id} version {version} is missing")
        config = LineConfig.from_dict(row.document)
        folder = await asyncio.to_thread(
            self.library.materialise, line_id, row.document_sha, audio_map(config))
        line = PublishedLine(line_id, version, config, folder)
        if len(self._versions) >= CACHE_VERSIONS:
            self._versions.pop(next(iter(self._versions)))
        self._versions[(line_id, version)] = line
        return line


class LineAdmin:
    """What an admin does to lines, from the console or the command line; all audited."""

    def __init__(self, store: LineRepository, library: PromptLibrary) -> None:
        self.store = store
        self.library = library
        self._edit = asyncio.Lock()  # read-modify-write of a draft, one at a time

    async def lines(self, municipality: int | None = None) -> list[LineRow]:
        return await self.store.all(municipality)

    async def line(self, line_id: int) -> LineRow:
        row = await self.store.get(line_id)
        if row is None:
            raise LineNotFound(f"no line {line_id}")
        return row

    async def draft(self, line_id: int) -> LineConfig:
        doc = await self.store.draft_document(line_id)
        if doc is None:
            raise LineNotFound(f"no line {line_id}")
        return LineConfig.from_dict(doc)

    async def create(self, config: LineConfig, *, actor: str, default: bool = False,
                     municipality: int = 1) -> int:
        return await self.store.create(config, actor=actor, default=default,
                                       municipality=municipality)

    async def uses_audio(self, municipality: int, sha: str) -> bool:
        """Whether a line of ``municipality`` (draft or any version) plays this audio."""
        return await self.store.uses_audio(municipality, sha)

    async def save_draft(self, line_id: int, config: LineConfig, *, actor: str,
                         what: str = "") -> None:
        # A round trip through the document catches what the dataclasses alone let through.
        checked = LineConfig.from_dict(config.to_dict())
        await self.store.save_draft(line_id, checked, actor=actor, what=what)

    async def change_draft(self, line_id: int, change: Callable[[LineConfig], LineConfig], *,
                           actor: str, what: str) -> LineConfig:
        async with self._edit:
            config = change(await self.draft(line_id))
            await self.save_draft(line_id, config, actor=actor, what=what)
            return config

    async def set_prompt_text(self, line_id: int, prompt_id: str, language: str, text: str, *,
                              actor: str) -> LineConfig:
        def change(config: LineConfig) -> LineConfig:
            old = config.prompts.get(prompt_id, {}).get(language, PromptText())
            return config.with_prompt(prompt_id, language, replace(old, text=text.strip()))

        return await self.change_draft(line_id, change, actor=actor,
                                       what=f"text of {prompt_id} ({language})")

    async def add_audio(self, wav: bytes, *, source: str, actor: str) -> str:
        """Keep canonical audio in the library (and its row); returns its sha256."""
        seconds = canonical_seconds(wav)
        sha = await asyncio.to_thread(self.library.add, wav)
        await self.store.add_audio(sha, seconds, source=source, actor=actor)
        return sha

    async def add_shipped(self, files: Mapping[K, Path], *, actor: str) -> dict[K, str]:
        """Many files at once (the shipped prompts): one thread hop, one transaction."""

        def read_all() -> tuple[dict[K, str], dict[str, float]]:
            shas: dict[K, str] = {}
            seconds: dict[str, float] = {}
            for key, path in files.items():
                wav = path.read_bytes()
                shas[key] = sha = self.library.add(wav)
                seconds[sha] = canonical_seconds(wav)
            return shas, seconds

        shas, seconds = await asyncio.to_thread(read_all)
        await self.store.add_audio_many(seconds, source="shipped", actor=actor)
        return shas

    async def set_prompt_audio(self, line_id: int, prompt_id: str, language: str, sha: str, *,
                               source: str, actor: str) -> LineConfig:
        if not self.library.has(sha):
            raise PromptAudioRefused("that audio is not in the prompt library")

        def change(config: LineConfig) -> LineConfig:
            old = config.prompts.get(prompt_id, {}).get(language, PromptText())
            return config.with_prompt(prompt_id, language, replace(old, audio=sha))

        return await self.change_draft(line_id, change, actor=actor,
                                       what=f"audio of {prompt_id} ({language}) from {source}")

    async def problems(self, line_id: int) -> list[str]:
        config = await self.draft(line_id)
        return self._problems(config)

    def _problems(self, config: LineConfig) -> list[str]:
        found = line_problems(config)
        for (pid, lang), sha in sorted(audio_map(config).items()):
            if not self.library.has(sha):
                found.append(f"prompt {pid} ({lang}): its audio file is missing from the library")
        return found

    async def publish(self, line_id: int, *, actor: str, note: str = "") -> int:
        """Make the draft live for the next call; refused with every problem when incomplete."""
        async with self._edit:
            config = await self.draft(line_id)
            found = self._problems(config)
            if found:
                raise LineProblems(found)
            return await self._go_live(line_id, config, actor=actor, note=note)

    async def restore(self, line_id: int, version: int, *, actor: str) -> int:
        """Publish an earlier version again, as a new version (the history stays whole)."""
        async with self._edit:
            old = await self.store.version(line_id, version)
            if old is None:
                raise LineNotFound(f"line {line_id} has no version {version}")
            config = LineConfig.from_dict(old.document)
            return await self._go_live(line_id, config, actor=actor,
                                       note=f"restored version {version}", restored=version)

    async def _go_live(self, line_id: int, config: LineConfig, *, actor: str, note: str,
                       restored: int | None = None) -> int:
        # The folder calls will play from exists before any call can be sent to it.
        try:
            await asyncio.to_thread(self.library.materialise, line_id, document_sha(config),
                                    audio_map(config))
        except (OSError, PromptAudioRefused) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise LineProblems([f"the prompts of this version could not be laid out for "
                                f"Asterisk ({detail}); nothing was published"]) from exc
        return await self.store.publish(line_id, config, actor=actor, note=note,
                                        restored_from=restored)

    async def discard_draft(self, line_id: int, *, actor: str) -> None:
        await self.store.discard_draft(line_id, actor=actor)

    async def versions(self, line_id: int) -> list[VersionRow]:
        return await self.store.versions(line_id)

    # --- export and import -----------------------------------------------------------

    async def export(self, line_id: int, *, version: int | None = None, actor: str,
                     draft: bool = False) -> dict[str, Any]:
        """The line's whole configuration with its audio, for version control or another
        deployment. The live version unless ``version`` or ``draft`` says otherwise."""
        row = await self.line(line_id)
        if draft:
            config = await self.draft(line_id)
        else:
            wanted = version or row.live_version
            found = await self.store.version(line_id, wanted) if wanted else None
            if found is None:
                raise LineNotFound(f"line {line_id} has no published version {wanted}")
            config = LineConfig.from_dict(found.document)
        audio = {sha: base64.b64encode(self.library.path(sha).read_bytes()).decode()
                 for sha in sorted(set(audio_map(config).values()))}
        await self.store.audit("line.exported", actor=actor,
                               data={"line": line_id, "version": version, "draft": draft})
        return {"line": config.to_dict(), "default": row.is_default, "audio": audio}

    async def import_document(self, doc: Any, *, actor: str,
                              municipality: int = 1) -> tuple[int, bool]:
        """Read an export into a draft: of ``municipality``'s line with the same slug, or a
        new line of it. Returns (line id, created). Every audio file is checked against
        its name. A slug another municipality's line has is refused, without naming it."""
        if not isinstance(doc, dict) or not isinstance(doc.get("line"), dict):
            raise LineError("an export holds a 'line' object")
        config = LineConfig.from_dict(doc["line"])
        audio = doc.get("audio", {})
        if not isinstance(audio, dict) or len(audio) > MAX_IMPORT_AUDIO:
            raise LineError("'audio' must map sha256 to base64 WAV data")
        for sha, data in audio.items():
            try:
                wav = base64.b64decode(str(data), validate=True)
            except (binascii.Error, ValueError):
                raise LineError(f"audio {str(sha)[:12]}: not base64") from None
            if hashlib.sha256(wav).hexdigest() != sha:
                raise LineError(f"audio {str(sha)[:12]}: the data does not match its name")
            await self.add_audio(wav, source="import", actor=actor)
        existing = await self.store.by_slug(config.slug)
        if existing is not None and existing.municipality != municipality:
            raise LineConflict(f"the name {config.slug!r} is taken; give the line another")
        if existing is not None:
            await self.save_draft(existing.id, config, actor=actor, what="imported")
            return existing.id, False
        line_id = await self.create(config, actor=actor, default=bool(doc.get("default")),
                                    municipality=municipality)
        return line_id, True


__all__ = ["LineAdmin", "LineConflict", "LineNotFound", "LineProblems", "PublishedLines",
           "audio_map"]
