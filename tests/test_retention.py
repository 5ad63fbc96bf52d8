"""Retention: the purge removes only what the rules allow, says so in the history,
and never touches a report on legal hold."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.app import Services, services
from ivr.cli import main
from ivr.clips import audio
from ivr.clips.retention import purge
from ivr.config import Settings, load
from ivr.domain.incidents import ConfigError
from ivr.domain.reports import ReportState
from ivr.domain.retention import CLOSED_STATES, RetentionRule, parse_rules, purge_allowed
from ivr.domain.transcripts import Transcript, Word
from ivr.store import clip_views as views
from ivr.store import retention as store
from ivr.store import transcripts as queue
from ivr.store.casework import Casework
from ivr.store.municipalities import Municipalities
from tests.clips_support import FIXTURES, clip_file, kinds_of_events, report_with_clip

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

SPEECH = FIXTURES / "ko_cat_tree.wav"
NOW = datetime.now(UTC)
LATER = NOW + timedelta(days=200)
RULES = parse_rules(
    [
        {"name": "noise", "types": ["noise"], "keep_days": 180},
        {"name": "crimes", "types": ["robbery"], "until_released": True, "keep_days": 30,
         "states": ["received", "resolved"]},
    ],
    known_types={"noise", "robbery", "emergency"},
)


# --- pure rules ----------------------------------------------------------------------


def test_rules_without_states_apply_to_closed_reports_only() -> None:
    noise = RULES[0]
    assert noise.states == CLOSED_STATES
    assert noise.matches("noise", "resolved") and not noise.matches("noise", "received")
    assert not noise.matches("robbery", "resolved")


def test_the_first_matching_rule_decides_and_no_rule_means_keep() -> None:
    kwargs = {"recorded_at": NOW, "now": LATER, "released_at": None}
    assert purge_allowed(RULES, report_type="noise", state="resolved", legal_hold=False,
                         **kwargs) == RULES[0]
    assert purge_allowed(RULES, report_type="other", state="resolved", legal_hold=False,
                         **kwargs) is None
    assert purge_allowed(RULES, report_type="noise", state="resolved", legal_hold=True,
                         **kwargs) is None
    young = {"recorded_at": NOW, "now": NOW + timedelta(days=179), "released_at": None}
    assert purge_allowed(RULES, report_type="noise", state="resolved", legal_hold=False,
                         **young) is None


def test_until_released_counts_its_days_from_the_release() -> None:
    crimes = RULES[1]
    assert not crimes.allows_purge(recorded_at=NOW, now=LATER, released_at=None)
    assert not crimes.allows_purge(recorded_at=NOW, now=LATER,
                                   released_at=LATER - timedelta(days=29))
    assert crimes.allows_purge(recorded_at=NOW, now=LATER, released_at=LATER - timedelta(days=30))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"types": ["noise"]}, "give keep_days, until_released"),
        ({"keep_days": 3, "colour": "red"}, "unknown fields"),
        ({"keep_days": 3, "types": ["nosie"]}, "unknown incident types"),
        ({"keep_days": 3, "states": ["closed"]}, "unknown report states"),
        ({"keep_days": -1}, "whole number of days"),
        ({"keep_days": True}, "whole number of days"),
        ({"until_released": "yes"}, "until_released must be"),
    ],
)
def test_a_wrong_rule_is_refused_at_start_up(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rules([raw], known_types={"noise"})


def test_rules_come_from_the_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "alerta.toml"
    path.write_text('[[retention]]\nname = "noise"\ntypes = ["noise"]\nkeep_days = 180\n'
                    '[[retention]]\ntypes = ["robbery"]\nuntil_released = true\n')
    rules = load(path, env={}).retention
    assert [r.name for r in rules] == ["noise", "retention rule 2"]
    assert rules[1] == RetentionRule("retention rule 2", frozenset({"robbery"}),
                                     until_released=True)
    path.write_text('[[retention]]\ntypes = ["burglary"]\nkeep_days = 1\n')
    with pytest.raises(ConfigError, match="unknown incident types"):
        load(path, env={})


# --- the purge against the store and the disk --------------------------------------------------


async def resolve(svc: Services, report: int) -> None:
    case = Casework(svc.db)
    await case.change_state(report, ReportState.ACKNOWLEDGED, "user:ana")
    await case.change_state(report, ReportState.RESOLVED, "user:ana")


async def with_playback(svc: Services, report: int) -> Path:
    """Make the clip's derivative and record it, as the audio job does."""
    (job,) = await queue.claim(svc.db, kinds=(queue.AUDIO,), owner="t", now=NOW, lease_s=60,
                               max_tries=3, limit=1)
    assert job.report_id == report
    facts = audio.make_playback(svc.vault.root, job.clip_path)
    await queue.finish_audio(svc.db, job, facts, NOW)
    return svc.vault.root / facts.playback_path


async def test_the_purge_removes_only_what_the_rules_allow(svc: Services) -> None:
    old_noise = await report_with_clip(svc, SPEECH, type_id="noise", priority=5)
    open_noise = await report_with_clip(svc, SPEECH, type_id="noise", priority=5)
    held_noise = await report_with_clip(svc, SPEECH, type_id="noise", priority=5)
    robbery = await report_with_clip(svc, SPEECH)
    released = await report_with_clip(svc, SPEECH)
    for report in (old_noise, held_noise, released):
        await resolve(svc, report)
    await store.set_legal_hold(svc.db, held_noise, True, actor="user:sup", reason="court order",
                               now=NOW)
    await store.release_clips(svc.db, released, actor="user:sup", now=NOW)
    playback = await with_playback(svc, old_noise)
    files = {r: await clip_file(svc, r) for r in (old_noise, open_noise, held_noise, robbery,
                                                   released)}

    result = await purge(svc.db, svc.vault.root, RULES, LATER)

    assert sorted((e["report"], e["rule"]) for e in result.purged) == [
        (old_noise, "noise"), (released, "crimes")
    ]
    assert not files[old_noise].exists() and not playback.exists()
    assert not files[released].exists()
    for kept in (open_noise, held_noise, robbery):
        assert files[kept].exists()
    history = await svc.reports.history(old_noise)
    (event,) = [e for e in history if e["kind"] == "clip.purged"]
    assert json.loads(event["data"])["rule"] == "noise" and event["actor"] == "system"
    (facts,) = await views.audio_of(svc.db, old_noise)
    assert facts["playback_path"] is None and facts["waveform"] == []
    assert facts["purged_at"] is not None and facts["duration_s"] == 3.648
    assert "clip.purged" not in await kinds_of_events(svc, held_noise)
    assert (await purge(svc.db, svc.vault.root, RULES, LATER)).purged == []  # nothing twice


async def test_a_dry_run_removes_nothing(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH, type_id="noise", priority=5)
    await resolve(svc, report)
    result = await purge(svc.db, svc.vault.root, RULES, LATER, dry_run=True)
    assert [e["report"] for e in result.purged] == [report]
    assert (await clip_file(svc, report)).exists()
    assert "clip.purged" not in await kinds_of_events(svc, report)


async def test_a_hold_placed_after_the_look_still_protects_the_clip(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH, type_id="noise", priority=5)
    await resolve(svc, report)
    (candidate,) = await store.purge_candidates(svc.db)
    await store.set_legal_hold(svc.db, report, True, actor="user:sup", reason="", now=NOW)
    assert not await store.mark_purged(svc.db, candidate, "noise", drop_transcript=False, now=NOW)
    assert (await clip_file(svc, report)).exists()
    assert await store.purge_candidates(svc.db) == []


async def test_files_left_by_a_crash_after_marking_are_removed_next_time(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH, type_id="noise", priority=5)
    await resolve(svc, report)
    (candidate,) = await store.purge_candidates(svc.db)
    assert await store.mark_purged(svc.db, candidate, "noise", drop_transcript=False, now=NOW)
    path = await clip_file(svc, report)
    assert path.exists()  # the crash came here, before the files went
    result = await purge(svc.db, svc.vault.root, RULES, NOW)
    assert result.purged == [] and result.files_removed == 1 and not path.exists()


async def test_a_rule_may_remove_the_transcript_with_the_audio(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH, type_id="noise", priority=5)
    await resolve(svc, report)
    jobs = await queue.claim(svc.db, kinds=(queue.TRANSCRIBE,), owner="t", now=NOW, lease_s=60,
                             max_tries=3, limit=1)
    text = Transcript("고양이 나무", (Word("고양이", 1.0, 0.6, 1.1), Word("나무", 1.0, 1.4, 2.0)),
                      "m", 3.2, 0.1, 8000)
    await queue.finish_transcript(svc.db, jobs[0], text, NOW)
    rules = (dataclasses.replace(RULES[0], purge_transcript=True),)
    await purge(svc.db, svc.vault.root, rules, LATER)
    assert await views.transcripts_of(svc.db, report, low_below=0.6) == []
    assert await svc.db.fetchall(
        "SELECT 1 FROM report_text WHERE report_text MATCH ?", ("나무",)) == []


async def test_hold_and_release_are_in_the_history(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH)
    await store.set_legal_hold(svc.db, report, True, actor="user:sup", reason="case 7/2025",
                               now=NOW)
    await store.release_clips(svc.db, report, actor="user:sup", now=NOW)
    history = await svc.reports.history(report)
    assert [(e["kind"], e["actor"]) for e in history[-2:]] == [
        ("report.legal_hold", "user:sup"), ("report.clips_released", "user:sup")
    ]
    with pytest.raises(LookupError):
        await store.release_clips(svc.db, 999, actor="user:sup", now=NOW)


def test_alerta_purge_dry_run_lists_what_would_go(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def a_resolved_noise_report() -> int:
        async with services(settings) as svc:
            report = await report_with_clip(svc, SPEECH, type_id="noise", priority=5)
            await resolve(svc, report)
            return report

    report = asyncio.run(a_resolved_noise_report())
    config = tmp_path / "alerta.toml"
    config.write_text(
        f'database = "{settings.database}"\nvoiceclips = "{settings.voiceclips}"\n'
        '[[retention]]\nname = "all-noise"\ntypes = ["noise"]\nkeep_days = 0\n'
    )
    assert main(["--config", str(config), "purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would remove report {report} clip" in out and "(rule all-noise)" in out
    assert len(list(settings.voiceclips.glob("????/??/??/*.wav"))) == 1
    assert main(["--config", str(config), "purge", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files_removed"] == 1
    assert list(settings.voiceclips.glob("????/??/??/*.wav")) == []


async def test_candidates_come_a_page_at_a_time(svc: Services) -> None:
    first_report = await report_with_clip(svc, SPEECH)
    second_report = await report_with_clip(svc, SPEECH)
    (first,) = await store.purge_candidates(svc.db, limit=1)
    (second,) = await store.purge_candidates(svc.db, after=first.clip_id, limit=1)
    assert (first.report_id, second.report_id) == (first_report, second_report)
    assert await store.purge_candidates(svc.db, after=second.clip_id) == []


async def test_a_municipality_may_keep_its_clips_longer_than_the_rules(svc: Services) -> None:
    """Each municipality's own minimum (its law or contract) holds over the shared rules."""
    towns = Municipalities(svc.db)
    await towns.add("san-isidro", "San Isidro", "America/Lima", actor="test")
    await towns.update(2, actor="test", retention_days=3650)
    ours = await report_with_clip(svc, SPEECH, type_id="noise", priority=5)
    theirs = await report_with_clip(svc, SPEECH, type_id="noise", priority=5, municipality=2)
    for report in (ours, theirs):
        await resolve(svc, report)
    result = await purge(svc.db, svc.vault.root, RULES, LATER)
    assert [e["report"] for e in result.purged] == [ours]
    assert (await clip_file(svc, theirs)).exists()
    await towns.update(2, actor="test", retention_days=0)  # no minimum of its own
    assert [e["report"] for e in (await purge(svc.db, svc.vault.root, RULES, LATER)).purged] \
        == [theirs]
