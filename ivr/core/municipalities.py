"""Opening a municipality on the deployment: the municipality, then its own lines.

Its report and status lines start as copies of the deployment's default lines (menus,
incident types, deadlines, alert words, prompts), with the numbers its citizens dial
and a greeting that names the district, spoken in each language the speech engine
has; its admins change everything else in the console afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ivr.core.lines import LineAdmin, LineProblems
from ivr.core.prompt_audio import PromptAudio
from ivr.domain.lines import LineConfig
from ivr.domain.municipalities import Municipality
from ivr.promptaudio.library import PromptAudioRefused

logger = logging.getLogger(__name__)

# The greeting of a new municipality's lines, in the languages we have words for.
GREETINGS = {
    "es": "Alerta {name}. Línea de seguridad ciudadana.",
    "en": "Alerta {name}, the citizen safety line.",
}


class MunicipalityRegistry(Protocol):
    async def add(self, code: str, name: str, timezone: str, *, actor: str,
                  jurisdiction_id: str = "") -> Municipality: ...
    async def by_code(self, code: str) -> Municipality | None: ...
    async def make_neighbours(self, a: int, b: int, *, actor: str) -> None: ...


@dataclass
class Opened:
    municipality: Municipality
    lines: dict[str, int] = field(default_factory=dict)  # flow -> line id
    published: dict[str, int] = field(default_factory=dict)  # flow -> version
    warnings: list[str] = field(default_factory=list)


class MunicipalityDesk:
    def __init__(self, registry: MunicipalityRegistry, lines: LineAdmin,
                 voice: PromptAudio) -> None:
        self.registry = registry
        self.lines = lines
        self.voice = voice

    async def open(self, code: str, name: str, timezone: str, *, actor: str,
                   numbers: dict[str, Sequence[str]], jurisdiction_id: str = "",
                   neighbours: Sequence[str] = ()) -> Opened:
        """Add the municipality and a line per flow in ``numbers`` (``report``, ``status``)."""
        near = []
        for other in neighbours:
            found = await self.registry.by_code(other)
            if found is None:
                raise ValueError(f"no municipality {other!r} to be a neighbour of")
            near.append(found)
        town = await self.registry.add(code, name, timezone, actor=actor,
                                       jurisdiction_id=jurisdiction_id)
        opened = Opened(town)
        for other_town in near:
            await self.registry.make_neighbours(town.id, other_town.id, actor=actor)
        for flow, dialled in numbers.items():
            await self._line(opened, flow, list(dialled), actor=actor)
        return opened

    async def _line(self, opened: Opened, flow: str, numbers: list[str], *, actor: str) -> None:
        town = opened.municipality
        template = next((r for r in await self.lines.lines()
                         if r.is_default and r.flow == flow and r.live_version), None)
        if template is None:
            opened.warnings.append(f"no live default {flow} line to copy: no {flow} line made")
            return
        doc = (await self.lines.draft(template.id)).to_dict()
        doc.update(slug=f"{town.code.replace('-', '_')}_{flow}", name=f"{town.name} ({flow})",
                   numbers=numbers, timezone=town.timezone)
        config = LineConfig.from_dict(doc)
        line_id = await self.lines.create(config, actor=actor, municipality=town.id)
        opened.lines[flow] = line_id
        if "greeting" in config.prompts or flow == "report":
            for language in config.languages:
                words = GREETINGS.get(language)
                if words is None:
                    opened.warnings.append(
                        f"{flow}: the greeting in {language} still names the line it was"
                        " copied from: record it in the console")
                    continue
                try:
                    await self.voice.speak(line_id, "greeting", language,
                                           text=words.format(name=town.name), actor=actor)
                except PromptAudioRefused as exc:
                    opened.warnings.append(
                        f"{flow}: the greeting in {language} was not spoken ({exc}); it still"
                        " names the line it was copied from: record it in the console")
        try:
            opened.published[flow] = await self.lines.publish(
                line_id, actor=actor, note=f"opened for {town.name}")
        except LineProblems as exc:
            opened.warnings.append(f"{flow}: not published: {'; '.join(exc.problems[:3])}")
