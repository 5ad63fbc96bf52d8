"""The console shows what the clip workers made: transcript (doubtful words marked),
waveform, playback copy; supervisors hold and release clips; a purged clip is gone."""

from __future__ import annotations

import re
from pathlib import Path

from ivr.app import services
from ivr.config import Settings
from tests.clips_support import FIXTURES, report_with_clip, settled, with_model
from tests.console_util import console_site


async def test_transcript_waveform_and_playback_on_the_report_page(settings: Settings,
                                                                   tmp_path: Path) -> None:
    settings = with_model(settings, tmp_path, transcript_low_confidence=1.01)
    async with services(settings, clip_jobs=True) as svc, \
            console_site(settings, db=svc.db) as site, site.browser() as b:
        await b.login("ana")
        report = await report_with_clip(svc, FIXTURES / "ko_fire_danger.wav")
        await settled(svc, report)
        page = await (await b.get(f"/reports/{report}")).text()
        # Every word is "doubtful" at a threshold above 1, so each is marked.
        words = re.findall(r'<span class="low" title="[0-9.]+">([^<]+)</span>', page)
        assert words == ["화재", "위험"]
        assert "⚑ 화재" in page  # the keyword alert
        assert '<svg class="wave"' in page and page.count('<rect class="bar"') >= 5
        clip_id = int(re.findall(r'data-clip="(\d+)"', page)[0])
        played = await b.get(f"/reports/{report}/clips/{clip_id}/playback")
        body = await played.read()
        original = await b.get(f"/reports/{report}/clips/{clip_id}")
        assert played.status == 200 and body[:4] == b"RIFF"
        assert body != await original.read()  # the trimmed, normalised copy
        queue = (await (await b.get("/api/queue")).json())["reports"]
        assert [r["flagged"] for r in queue if r["id"] == report] == [1]


async def test_transcription_off_is_said_and_nothing_fails(settings: Settings) -> None:
    async with services(settings, clip_jobs=True) as svc, \
            console_site(settings, db=svc.db) as site, site.browser() as b:
        await b.login("ana")
        report = await report_with_clip(svc, FIXTURES / "ko_fire_danger.wav")
        await settled(svc, report, kinds=("audio",))
        page = await (await b.get(f"/reports/{report}")).text()
        assert "Transcripción desactivada" in page
        assert '<svg class="wave"' in page


async def test_supervisors_hold_and_release_clips(settings: Settings, tmp_path: Path) -> None:
    async with services(settings) as svc, console_site(settings, db=svc.db) as site, \
            site.browser() as ana, site.browser() as sofia:
        await ana.login("ana")
        await sofia.login("sofia")
        report = await report_with_clip(svc, FIXTURES / "ko_fire_danger.wav")
        assert (await ana.post(f"/reports/{report}/hold", {"on": "1", "reason": "x"})).status \
            == 403
        assert (await sofia.post(f"/reports/{report}/hold", {"on": "1"})).status == 400
        ok = await sofia.post(f"/reports/{report}/hold", {"on": "1", "reason": "oficio 12-2026"})
        assert ok.status == 303
        assert (await sofia.post(f"/reports/{report}/release-clips")).status == 303
        history = await site.console.queries.history(report)
        held = [e for e in history if e["kind"] == "report.legal_hold"]
        assert held and held[0]["actor"] == "user:sofia" and held[0]["data"]["on"] is True
        assert any(e["kind"] == "report.clips_released" for e in history)
        # A clip removed under retention answers 410 Gone, not a file.
        async def purge(conn):  # type: ignore[no-untyped-def]
            await conn.execute("UPDATE clips SET purged_at = '2026-01-01' WHERE report_id = ?",
                               (report,))
        await svc.db.write(purge)
        assert (await ana.get(f"/reports/{report}/clip")).status == 410
