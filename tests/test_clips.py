"""The clip vault: validate, fsync, rename into place; quarantine, never delete."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from ivr.app import Services, services
from ivr.clips import vault as vault_module
from ivr.clips.vault import ClipVault, inspect_wav
from ivr.config import Settings
from ivr.core.ports import NewReport
from ivr.domain.clips import ClipInvalid


def write_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x10\x00" * int(rate * seconds))
    return path


@pytest.fixture
def vault(tmp_path: Path) -> ClipVault:
    v = ClipVault(tmp_path / "voiceclips", tmp_path / "voiceclips" / ".incoming")
    v.prepare()
    return v


async def test_keep_moves_a_valid_take_into_a_dated_folder(vault: ClipVault) -> None:
    target = vault.incoming_path("1795584686.7", 42, 1)
    write_wav(target.with_name(target.name + ".wav"), 2.0)
    clip = await vault.keep(target, partial=False)
    assert clip is not None
    assert clip.seconds == 2.0 and clip.bytes == 44 + 32000 and len(clip.sha256) == 64
    assert (vault.root / clip.path).is_file()
    assert clip.path.count("/") == 3 and clip.path.endswith("1795584686.7-r42-t1.wav")
    assert not list(vault.incoming.iterdir())
    assert vault.playback_path(clip) == (vault.root / clip.path).with_suffix("")


async def test_nothing_recorded_is_not_an_error(vault: ClipVault) -> None:
    assert await vault.keep(vault.incoming_path("c", 1, 1), partial=True) is None


async def test_a_corrupt_take_is_quarantined_with_its_reason(vault: ClipVault) -> None:
    target = vault.incoming_path("c", 1, 1)
    bad = target.with_name(target.name + ".wav")
    bad.write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(ClipInvalid):
        await vault.keep(target, partial=False)
    kept = vault.quarantine / bad.name
    assert kept.read_bytes() == b"RIFF\x00\x00garbage"
    assert "WAV" in kept.with_name(kept.name + ".why").read_text()


async def test_a_header_promising_more_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "cut.wav", 1.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut off mid-write
    with pytest.raises(ClipInvalid):
        inspect_wav(path)


async def test_path_of_refuses_escapes(vault: ClipVault) -> None:
    with pytest.raises(ValueError):
        vault.path_of("../../etc/passwd")


async def test_reconciler_attaches_leftovers_and_quarantines_strangers(settings: Settings) -> None:
    async with services(settings) as svc:
        number = await svc.reports.open_report(
            NewReport("noise", 5, False, "es", "c1", None, None)
        )
        left = svc.vault.incoming_path("c1", number, 1)
    write_wav(left.with_name(left.name + ".wav"), 1.5)
    stranger = left.parent / "something-else.wav"
    write_wav(stranger, 1.0)
    orphan = left.parent / f"c9-r{number + 50}-t1.wav"  # no such report
    write_wav(orphan, 1.0)

    async with services(settings) as svc2:
        _assert_reconciled(svc2, number)
        (row,) = await svc2.reports.listing()
        assert row["clip_seconds"] == 1.5 and row["clip_partial"] is True
    quarantined = {p.name for p in svc2.vault.quarantine.iterdir()}
    assert {"something-else.wav", orphan.name} <= quarantined


def _assert_reconciled(svc: Services, number: int) -> None:
    assert not list(svc.vault.incoming.iterdir())


async def test_takes_kept_together_share_folder_fsyncs_and_none_returns_before_its_own(
    vault: ClipVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[tuple[str, str]] = []
    real_rename, real_fsync_dir = vault_module.os.rename, vault_module._fsync_dir

    def rename(source: Path, target: Path) -> None:
        real_rename(source, target)
        log.append(("renamed", Path(source).name))

    def fsync_dir(folder: Path) -> None:
        real_fsync_dir(folder)
        log.append(("fsynced", str(folder)))

    monkeypatch.setattr(vault_module.os, "rename", rename)
    monkeypatch.setattr(vault_module, "_fsync_dir", fsync_dir)
    takes = [vault.incoming_path("c", 1, n) for n in range(1, 13)]
    for take in takes:
        write_wav(take.with_name(take.name + ".wav"), 0.5)

    async def keep(take: Path) -> None:
        clip = await vault.keep(take, partial=False)
        assert clip is not None
        log.append(("returned", take.name + ".wav"))

    await asyncio.gather(*(keep(take) for take in takes))

    day = str(vault.root / vault_module.datetime.now().strftime("%Y/%m/%d"))
    fsyncs = [folder for event, folder in log if event == "fsynced"]
    assert len(fsyncs) < 2 * len(takes)  # shared, not two per take
    for take in takes:
        name = take.name + ".wav"
        renamed = log.index(("renamed", name))
        returned = log.index(("returned", name))
        between = {folder for event, folder in log[renamed:returned] if event == "fsynced"}
        assert {day, str(vault.incoming)} <= between, name  # both folders, after the move
    assert not list(vault.incoming.iterdir())
